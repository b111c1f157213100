// SPDX-License-Identifier: MIT
// Shared by the VFIO cdev tests (vfio_cdev_test.cpp, vfio_cdev_mt_test.cpp): a
// FakeBus standing in for the device's registers, a fixture that registers a
// mock-IOMMU device as a VFIO cdev, and ioctl helpers returning 0 or errno.
#pragma once

#include "iommusim/vfio.h"  // first: the same guard as the system's older <linux/vfio.h>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/iommufd_private.h"
#include "core/log.h"
#include "drivers/hostbus.h"
#include "drivers/mock/mock_iommu.h"
#include "iommufd_test_util.h"
#include "vfio/vfio_device.h"

namespace iommusim::test {
namespace {

namespace vfio = iommufd::vfio;

constexpr uint64_t kBar0Base = 0x10000000;
constexpr uint64_t kBar0Size = 0x1000;
constexpr uint64_t kBar2Base = 0x20000000;  // read-only, 256 bytes
constexpr uint64_t kBar2Size = 0x100;
constexpr uint64_t kRegion1 = 1ULL << 40;  // VFIO_PCI_INDEX_TO_OFFSET(1)
constexpr unsigned kVectors = 4;

// Device registers as plain little-endian memory, with a log of accesses.
class FakeBus final : public iommufd::host_bus {
 public:
  struct access {
    char op;  // 'r' or 'w'
    unsigned width;
    uint64_t pa;
    uint64_t value;
    bool operator==(const access &o) const {
      return op == o.op && width == o.width && pa == o.pa && value == o.value;
    }
  };

  uint32_t readl(uint64_t pa) override { return static_cast<uint32_t>(rd(pa, 4)); }
  uint64_t readq(uint64_t pa) override { return rd(pa, 8); }
  void writel(uint64_t pa, uint32_t v) override { wr(pa, 4, v); }
  void writeq(uint64_t pa, uint64_t v) override { wr(pa, 8, v); }
  void mem_read(uint64_t, void *dst, size_t len) override { memset(dst, 0, len); }
  void mem_write(uint64_t, const void *, size_t) override {}
  uint64_t dma_alloc(uint64_t, uint64_t) override { return 0; }
  void dma_free(uint64_t, uint64_t) override {}
  bool poll32(uint64_t, uint32_t, uint32_t, uint64_t, uint64_t) override { return false; }
  bool poll_mem32(uint64_t, uint32_t, uint32_t, uint64_t, uint64_t) override { return false; }
  void delay_ns(uint64_t) override {}
  uint64_t now_ps() override { return 0; }
  int request_irq(unsigned, std::function<void()>) override { return -ENOSYS; }
  void free_irq(unsigned) override {}
  uint64_t msi_doorbell(unsigned) override { return 0; }

  uint64_t peek(uint64_t pa, unsigned width) {
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) v |= uint64_t(byte(pa + i)) << (8 * i);
    return v;
  }
  void poke(uint64_t pa, unsigned width, uint64_t v) {
    for (unsigned i = 0; i < width; i++) mem_[pa + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  std::vector<access> take_log() {
    std::lock_guard g(lock_);
    return std::exchange(log_, {});
  }

 private:
  uint8_t byte(uint64_t pa) {
    auto it = mem_.find(pa);
    return it == mem_.end() ? 0 : it->second;
  }
  uint64_t rd(uint64_t pa, unsigned width) {
    std::lock_guard g(lock_);
    EXPECT_EQ(0u, pa % width) << "misaligned MMIO read";
    uint64_t v = peek(pa, width);
    log_.push_back({'r', width, pa, v});
    return v;
  }
  void wr(uint64_t pa, unsigned width, uint64_t v) {
    std::lock_guard g(lock_);
    EXPECT_EQ(0u, pa % width) << "misaligned MMIO write";
    poke(pa, width, v);
    log_.push_back({'w', width, pa, v});
  }
  std::mutex lock_;
  std::map<uint64_t, uint8_t> mem_;
  std::vector<access> log_;
};

inline int fd_errno(long rc) { return rc < 0 ? errno : 0; }

inline bool readable(int fd) {
  pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

inline uint64_t drain(int efd) {
  uint64_t v = 0;
  if (::read(efd, &v, sizeof(v)) != sizeof(v)) return 0;
  return v;
}

class VfioCdev : public ::testing::Test {
 protected:
  void SetUp() override {
    warns_ = iommufd::warn_count();
    violations_ = iommufd::mock_violations();
    auto mdev = iommufd::mock_dev_create(0);
    ASSERT_FALSE(mdev.is_err());
    mdev_ = mdev.get();
    // A VFIO device holds its context (the selftest's mock device does not).
    mdev_->selftest_mock = false;
    index_ = register_dev(true);
    path_ = "/dev/vfio/devices/vfio" + std::to_string(index_);
  }
  void TearDown() override {
    for (unsigned i : registered_) vfio::unregister_device(i);
    iommufd::mock_dev_destroy(mdev_);
    EXPECT_EQ(warns_, iommufd::warn_count());
    EXPECT_EQ(violations_, iommufd::mock_violations());
  }

  unsigned register_dev(bool pci, iommufd::device *dev = nullptr) {
    vfio::device_desc d;
    d.name = "dma0";
    d.dev = dev ? dev : mdev_;
    d.bus = &bus_;
    d.regions.resize(3);
    d.regions[0] = {kBar0Size, kBar0Base, true, true};
    d.regions[2] = {kBar2Size, kBar2Base, true, false};
    d.num_irqs = kVectors;
    d.pci = pci;
    unsigned idx = ~0u;
    EXPECT_EQ(0, vfio::register_device(d, &idx));
    registered_.push_back(idx);
    return idx;
  }
  void unregister(unsigned idx) {
    vfio::unregister_device(idx);
    std::erase(registered_, idx);
  }

  int open_cdev(int flags = O_RDWR) { return iommusim_open_path(path_.c_str(), flags); }

  static int bind(int cdev, int iommufd, uint32_t *devid = nullptr) {
    vfio_device_bind_iommufd b = {};
    b.argsz = sizeof(b);
    b.iommufd = iommufd;
    int rc = fd_errno(iommusim_ioctl(cdev, VFIO_DEVICE_BIND_IOMMUFD, &b));
    if (!rc && devid) *devid = b.out_devid;
    return rc;
  }
  static int attach(int cdev, uint32_t *pt_id) {
    vfio_device_attach_iommufd_pt a = {};
    a.argsz = sizeof(a);
    a.pt_id = *pt_id;
    int rc = fd_errno(iommusim_ioctl(cdev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a));
    if (!rc) *pt_id = a.pt_id;
    return rc;
  }
  static int detach(int cdev) {
    vfio_device_detach_iommufd_pt d = {};
    d.argsz = sizeof(d);
    return fd_errno(iommusim_ioctl(cdev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d));
  }
  static int set_irq_eventfds(int cdev, uint32_t index, uint32_t start,
                              const std::vector<int32_t> &fds) {
    std::vector<uint8_t> buf(sizeof(vfio_irq_set) + fds.size() * sizeof(int32_t));
    auto *s = reinterpret_cast<vfio_irq_set *>(buf.data());
    s->argsz = static_cast<uint32_t>(buf.size());
    s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    s->index = index;
    s->start = start;
    s->count = static_cast<uint32_t>(fds.size());
    memcpy(s->data, fds.data(), fds.size() * sizeof(int32_t));
    return fd_errno(iommusim_ioctl(cdev, VFIO_DEVICE_SET_IRQS, s));
  }
  static int set_irqs(int cdev, uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
                      const void *data = nullptr, size_t data_len = 0, uint32_t argsz = 0) {
    std::vector<uint8_t> buf(sizeof(vfio_irq_set) + data_len);
    auto *s = reinterpret_cast<vfio_irq_set *>(buf.data());
    s->argsz = argsz ? argsz : static_cast<uint32_t>(buf.size());
    s->flags = flags;
    s->index = index;
    s->start = start;
    s->count = count;
    if (data_len) memcpy(s->data, data, data_len);
    return fd_errno(iommusim_ioctl(cdev, VFIO_DEVICE_SET_IRQS, s));
  }
  static int region_info(int cdev, uint32_t index, vfio_region_info *info) {
    *info = {};
    info->argsz = sizeof(*info);
    info->index = index;
    return fd_errno(iommusim_ioctl(cdev, VFIO_DEVICE_GET_REGION_INFO, info));
  }
  static int irq_info(int cdev, uint32_t index, vfio_irq_info *info) {
    *info = {};
    info->argsz = sizeof(*info);
    info->index = index;
    return fd_errno(iommusim_ioctl(cdev, VFIO_DEVICE_GET_IRQ_INFO, info));
  }
  // A cdev bound to a fresh iommufd.
  void open_bound(Iommufd &ifd, int *cdev, uint32_t *devid = nullptr) {
    *cdev = open_cdev();
    ASSERT_GE(*cdev, 0);
    ASSERT_EQ(0, bind(*cdev, ifd.fd, devid));
  }

  FakeBus bus_;
  iommufd::mock_device *mdev_ = nullptr;
  unsigned index_ = 0;
  std::string path_;
  std::vector<unsigned> registered_;
  unsigned long warns_ = 0;
  unsigned long violations_ = 0;
};

}  // namespace
}  // namespace iommusim::test
