// SPDX-License-Identifier: MIT
// VFIO device cdevs under concurrency (built plain, under ASan and under
// TSan): interrupts signalled from another thread while the program rewires
// its eventfds, region accesses from several threads, racing binds, and the
// cdev and the iommufd closed at the same time.
#include <atomic>
#include <thread>

#include "vfio_test_util.h"

namespace iommusim::test {
namespace {

class VfioCdevMt : public VfioCdev {};

TEST_F(VfioCdevMt, SignalIrqWhileSetIrqsRewires) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  int efd[kVectors];
  for (int &e : efd) ASSERT_GE(e = eventfd(0, EFD_NONBLOCK), 0);
  std::atomic<bool> stop{false};
  // The platform's IRQ thread.
  std::thread irq([&] {
    for (unsigned i = 0; !stop.load(); i++) vfio::signal_irq(index_, i % kVectors);
  });
  for (int round = 0; round < 300; round++) {
    ASSERT_EQ(0, set_irq_eventfds(fd, VFIO_PCI_MSIX_IRQ_INDEX, 0, {efd[0], efd[1], efd[2], efd[3]}));
    ASSERT_EQ(0, set_irq_eventfds(fd, VFIO_PCI_MSIX_IRQ_INDEX, static_cast<uint32_t>(round % kVectors),
                                  {-1}));
    ASSERT_EQ(0, set_irqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                          VFIO_PCI_MSIX_IRQ_INDEX, 0, 0));
  }
  // Wired at the end: every vector keeps firing.
  ASSERT_EQ(0, set_irq_eventfds(fd, VFIO_PCI_MSIX_IRQ_INDEX, 0, {efd[0], efd[1], efd[2], efd[3]}));
  for (int e : efd) drain(e);
  for (int e : efd) {
    pollfd p = {e, POLLIN, 0};
    EXPECT_EQ(1, poll(&p, 1, 5000));
  }
  // Closing the device while the IRQ thread still signals it.
  EXPECT_EQ(0, iommusim_close(fd));
  stop = true;
  irq.join();
  for (int e : efd) close(e);
}

TEST_F(VfioCdevMt, RegionAccessFromManyThreads) {
  Iommufd ifd;
  int fd;
  open_bound(ifd, &fd);
  constexpr int kThreads = 8;
  std::vector<std::thread> t;
  std::atomic<int> bad{0};
  for (int i = 0; i < kThreads; i++) {
    t.emplace_back([&, i] {
      const off_t off = 0x100 + 8 * i;
      for (uint64_t n = 0; n < 2000; n++) {
        uint64_t v = (uint64_t(i) << 32) | n, got = 0;
        if (iommusim_pwrite(fd, &v, 8, off) != 8) bad++;
        if (iommusim_pread(fd, &got, 8, off) != 8 || got != v) bad++;
        // Byte writes next to another thread's register: the read-modify-write
        // of the 32-bit word must only touch this thread's bytes.
        uint8_t b = static_cast<uint8_t>(n);
        if (iommusim_pwrite(fd, &b, 1, 0x200 + i) != 1) bad++;
      }
    });
  }
  for (auto &th : t) th.join();
  EXPECT_EQ(0, bad.load());
  for (int i = 0; i < kThreads; i++) {
    uint8_t b;
    ASSERT_EQ(1, iommusim_pread(fd, &b, 1, 0x200 + i));
    // Not asserted: two threads' byte writes to one word race by design (as
    // on hardware without byte enables); only crashes and races in iommusim
    // itself are failures here.
    (void)b;
  }
  EXPECT_EQ(0, iommusim_close(fd));
}

TEST_F(VfioCdevMt, RacingBindsLetOneFileIn) {
  constexpr int kThreads = 6;
  std::vector<std::unique_ptr<Iommufd>> ctx;
  std::vector<int> fds;
  for (int i = 0; i < kThreads; i++) {
    ctx.push_back(std::make_unique<Iommufd>());
    fds.push_back(open_cdev());
    ASSERT_GE(fds.back(), 0);
  }
  std::atomic<int> ok{0}, einval{0}, eperm{0};
  std::vector<std::thread> t;
  for (int i = 0; i < kThreads; i++) {
    t.emplace_back([&, i] {
      int rc = bind(fds[i], ctx[i]->fd);
      if (rc == 0) ok++;
      if (rc == EINVAL) einval++;
      if (rc == EPERM) eperm++;
    });
  }
  for (auto &th : t) th.join();
  EXPECT_EQ(1, ok.load());
  EXPECT_EQ(kThreads - 1, einval.load() + eperm.load());
  for (int fd : fds) EXPECT_EQ(0, iommusim_close(fd));
}

TEST_F(VfioCdevMt, CdevAndIommufdClosedAtOnce) {
  for (int round = 0; round < 50; round++) {
    int ifd = iommusim_open();
    ASSERT_GE(ifd, 0);
    int fd = open_cdev();
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, bind(fd, ifd));
    iommu_ioas_alloc alloc = {};
    alloc.size = sizeof(alloc);
    ASSERT_EQ(0, iommusim_ioctl(ifd, IOMMU_IOAS_ALLOC, &alloc));
    uint32_t pt = alloc.out_ioas_id;
    ASSERT_EQ(0, attach(fd, &pt));
    std::thread a([&] { EXPECT_EQ(0, iommusim_close(fd)); });
    std::thread b([&] { EXPECT_EQ(0, iommusim_close(ifd)); });
    a.join();
    b.join();
    EXPECT_EQ(mdev_->group->default_domain, mdev_->group->domain);
  }
}

}  // namespace
}  // namespace iommusim::test
