// SPDX-License-Identifier: MIT
// Fault queues (IOMMU_FAULT_QUEUE_ALLOC and the fault fd): the records read()
// returns, responses written back reaching the device, groups never split,
// cookies, auto-responses when a handle goes away, and readiness of the real
// descriptor for poll(2).
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "core/log.h"
#include "mock_test_util.h"

namespace iommusim::test {
namespace {

using namespace iommusim::iommufd;

constexpr size_t kRec = sizeof(iommu_hwpt_pgfault);
constexpr size_t kResp = sizeof(iommu_hwpt_page_response);
constexpr uint32_t kPermRW = IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE;

// Readiness of a descriptor as the kernel sees it (no library involved).
short real_revents(int fd, short events = POLLIN | POLLOUT) {
  pollfd p = {fd, events, 0};
  if (::poll(&p, 1, 0) < 0) return -1;
  return p.revents;
}

ssize_t read_faults(int ffd, iommu_hwpt_pgfault *out, size_t n) {
  return iommusim_read(ffd, out, n * kRec);
}

int respond(int ffd, uint32_t cookie, uint32_t code) {
  iommu_hwpt_page_response r = {cookie, code};
  return errno_of(iommusim_write(ffd, &r, kResp));
}

// The selftest's alloc_hwpt_nested set-up: a mock device whose RID is
// attached to a nested HWPT that delivers faults to a fault queue.
class Fault : public ::testing::Test {
 protected:
  void SetUp() override {
    ioas = fd.ioas();
    ASSERT_EQ(0, fd.mock_domain(ioas, &md));
    ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_ALLOC_NEST_PARENT, &parent));
    ASSERT_EQ(0, fault_alloc(fd, &fault_id, &ffd));
    iommu_hwpt_selftest data = {IOMMU_TEST_IOTLB_DEFAULT};
    ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, parent, IOMMU_HWPT_FAULT_ID_VALID, &iopf_hwpt,
                               IOMMU_HWPT_DATA_SELFTEST, &data, sizeof(data), fault_id));
    ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, iopf_hwpt));
    mdev = mock_dev_of(fd, md.idev_id);
    ASSERT_NE(nullptr, mdev);
  }
  void TearDown() override {
    if (ffd >= 0) iommusim_close(ffd);
  }
  std::vector<mock_device::page_response_record> responses() const {
    return mdev->page_responses();
  }

  Iommufd fd;
  uint32_t ioas = 0, parent = 0, fault_id = 0, iopf_hwpt = 0;
  int ffd = -1;
  MockDevice md;
  mock_device *mdev = nullptr;
};

TEST(FaultAlloc, RulesIdsAndFd) {
  Iommufd fd;
  uint32_t id = 0;
  int ffd = -1;
  EXPECT_EQ(EOPNOTSUPP, fault_alloc(fd, &id, &ffd, 1));
  ASSERT_EQ(0, fault_alloc(fd, &id, &ffd));
  EXPECT_EQ(1u, id);  // the refused call took no ID
  EXPECT_EQ(1, iommusim_owns_fd(ffd));
  EXPECT_GT(ffd, 2);
  // The open fd holds the object.
  EXPECT_EQ(EBUSY, fd.destroy(id));
  EXPECT_EQ(POLLOUT, real_revents(ffd) & (POLLIN | POLLOUT)) << "writable, nothing to read";

  uint32_t id2 = 0;
  int ffd2 = -1;
  ASSERT_EQ(0, fault_alloc(fd, &id2, &ffd2));
  EXPECT_EQ(2u, id2);
  EXPECT_NE(ffd, ffd2);

  EXPECT_EQ(0, iommusim_close(ffd));
  EXPECT_EQ(0, iommusim_owns_fd(ffd));
  EXPECT_EQ(0, fd.destroy(id));
  EXPECT_EQ(ENOENT, fd.destroy(id));
  // Closing the iommufd first: the fault fd keeps the context alive.
  EXPECT_EQ(0, fd.close());
  iommu_hwpt_pgfault rec;
  EXPECT_EQ(0, read_faults(ffd2, &rec, 1));
  EXPECT_EQ(0, iommusim_close(ffd2));
}

TEST(FaultAlloc, ResponseThatCannotBeWrittenBackUnwinds) {
  Iommufd fd;
  void *ro = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(MAP_FAILED, ro);
  auto *cmd = static_cast<iommu_fault_alloc *>(ro);
  cmd->size = sizeof(*cmd);
  ASSERT_EQ(0, mprotect(ro, kPage, PROT_READ));
  const unsigned long w0 = warn_count();
  EXPECT_EQ(EFAULT, fd.ioctl(IOMMU_FAULT_QUEUE_ALLOC, cmd));
  munmap(ro, kPage);
  EXPECT_EQ(w0, warn_count());
  // The ID is free again and nothing holds the context.
  EXPECT_EQ(1u, fd.ioas());
}

TEST_F(Fault, SizeRules) {
  iommu_hwpt_pgfault rec[2];
  EXPECT_EQ(ESPIPE, errno_of(iommusim_read(ffd, rec, kRec - 1)));
  EXPECT_EQ(ESPIPE, errno_of(iommusim_read(ffd, rec, kRec + 1)));
  EXPECT_EQ(0, read_faults(ffd, rec, 2));  // nothing queued: 0, never blocks
  EXPECT_EQ(0, iommusim_read(ffd, rec, 0));
  iommu_hwpt_page_response r[2] = {};
  EXPECT_EQ(ESPIPE, errno_of(iommusim_write(ffd, r, kResp + 1)));
  EXPECT_EQ(0, iommusim_write(ffd, r, 0));
  EXPECT_EQ(EINVAL, respond(ffd, 1, IOMMUFD_PAGE_RESP_SUCCESS)) << "no such cookie";
  EXPECT_EQ(EINVAL, respond(ffd, 0, 2)) << "bad code, checked first";
  EXPECT_EQ(EFAULT, errno_of(iommusim_write(ffd, nullptr, kResp)));
}

// Our extension of 6.12 (docs/iommufd.md): a paging HWPT may carry a fault
// queue; with NEST_PARENT it may not (6.12's rule), a bad fault_id is
// ENOENT, and a refused call leaves no object behind. Faults then reach the
// queue as for a nested HWPT.
TEST(FaultAlloc, PagingHwptTakesAFaultQueue) {
  Iommufd fd;
  const uint32_t ioas = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  uint32_t fault_id = 0, hwpt = 0;
  int ffd = -1;
  ASSERT_EQ(0, fault_alloc(fd, &fault_id, &ffd));
  EXPECT_EQ(EOPNOTSUPP, fd.hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_NEST_PARENT,
                                      &hwpt, IOMMU_HWPT_DATA_NONE, nullptr, 0, fault_id));
  EXPECT_EQ(ENOENT, fd.hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_FAULT_ID_VALID, &hwpt, IOMMU_HWPT_DATA_NONE,
                                  nullptr, 0, fault_id + 100));
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_FAULT_ID_VALID, &hwpt, IOMMU_HWPT_DATA_NONE, nullptr, 0,
                             fault_id));
  EXPECT_EQ(fault_id + 1, hwpt) << "the refused calls took no ID";
  EXPECT_EQ(EBUSY, fd.destroy(fault_id)) << "the HWPT holds its fault queue";
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, hwpt));
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 0x5, IOMMU_PGFAULT_PERM_READ, 0x3000));
  iommu_hwpt_pgfault rec{};
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd, &rec, 1));
  EXPECT_EQ(md.idev_id, rec.dev_id);
  EXPECT_EQ(0x5u, rec.grpid);
  EXPECT_EQ(0x3000u, rec.addr);
  EXPECT_EQ(0, respond(ffd, rec.cookie, IOMMUFD_PAGE_RESP_SUCCESS));
  iommusim_close(ffd);
}

// The selftest's _test_cmd_trigger_iopf, looked at closely.
TEST_F(Fault, TriggerReadRespond) {
  EXPECT_EQ(0, real_revents(ffd, POLLIN));
  EXPECT_TRUE(mdev->iopf_enabled());
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0x1, 0x2, kPermRW, 0xdeadbeaf));
  EXPECT_TRUE(responses().empty()) << "held until the user answers";

  // The real fd is readable now.
  EXPECT_EQ(POLLIN, real_revents(ffd, POLLIN));
  pollfd p = {ffd, POLLIN | POLLOUT | POLLRDNORM, 0};
  ASSERT_EQ(1, iommusim_poll(&p, 1, 0));
  EXPECT_EQ(POLLIN | POLLOUT | POLLRDNORM, p.revents & (POLLIN | POLLOUT | POLLRDNORM));

  iommu_hwpt_pgfault rec[2];
  memset(rec, 0xcc, sizeof(rec));
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd, rec, 2));
  EXPECT_EQ(uint32_t(IOMMU_PGFAULT_FLAGS_PASID_VALID | IOMMU_PGFAULT_FLAGS_LAST_PAGE), rec[0].flags);
  EXPECT_EQ(md.idev_id, rec[0].dev_id);
  EXPECT_EQ(0x1u, rec[0].pasid);
  EXPECT_EQ(0x2u, rec[0].grpid);
  EXPECT_EQ(kPermRW, rec[0].perm);
  EXPECT_EQ(0u, rec[0].__reserved);
  EXPECT_EQ(0xdeadbeafu, rec[0].addr);
  EXPECT_EQ(0u, rec[0].length);
  EXPECT_EQ(1u, rec[0].cookie);
  EXPECT_EQ(0xcc, reinterpret_cast<uint8_t *>(&rec[1])[0]) << "only one record written";
  EXPECT_EQ(0, real_revents(ffd, POLLIN));
  EXPECT_EQ(0, read_faults(ffd, rec, 1));

  ASSERT_EQ(0, respond(ffd, rec[0].cookie, IOMMUFD_PAGE_RESP_SUCCESS));
  auto r = responses();
  ASSERT_EQ(1u, r.size());
  EXPECT_EQ(iommu_page_response_code::success, r[0].msg.code);
  EXPECT_EQ(0x1u, r[0].msg.pasid);
  EXPECT_EQ(0x2u, r[0].msg.grpid);
  EXPECT_EQ(0xdeadbeafu, r[0].evt.prm.addr);
  // A cookie answers once.
  EXPECT_EQ(EINVAL, respond(ffd, rec[0].cookie, IOMMUFD_PAGE_RESP_SUCCESS));
  EXPECT_EQ(1u, responses().size());

  // The next group reuses the lowest free cookie; INVALID is passed on too.
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 0x3, IOMMU_PGFAULT_PERM_READ, 0x1000));
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd, rec, 1));
  EXPECT_EQ(1u, rec[0].cookie);
  EXPECT_EQ(uint32_t(IOMMU_PGFAULT_FLAGS_LAST_PAGE), rec[0].flags);
  EXPECT_EQ(0u, rec[0].pasid);
  ASSERT_EQ(0, respond(ffd, 1, IOMMUFD_PAGE_RESP_INVALID));
  r = responses();
  ASSERT_EQ(2u, r.size());
  EXPECT_EQ(iommu_page_response_code::invalid, r[1].msg.code);
  EXPECT_EQ(0x3u, r[1].msg.grpid);
}

TEST_F(Fault, GroupsAreReadWholeAndAnsweredAsOne) {
  // Group 7: a request without LAST_PAGE waits for its last one.
  iopf_fault first;
  first.prm.grpid = 7;
  first.prm.addr = 0x7000;
  first.prm.perm = IOMMU_FAULT_PERM_READ;
  iommu_report_device_fault(*mdev, first);
  EXPECT_EQ(0, real_revents(ffd, POLLIN)) << "incomplete group is not delivered";
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 7, IOMMU_PGFAULT_PERM_WRITE, 0x8000));
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 8, IOMMU_PGFAULT_PERM_READ, 0x9000));

  iommu_hwpt_pgfault rec[4];
  // One record of room cannot take the first group (of two): EINVAL, and the
  // queue is untouched.
  EXPECT_EQ(EINVAL, errno_of(read_faults(ffd, rec, 1)));
  EXPECT_EQ(POLLIN, real_revents(ffd, POLLIN));
  // Three records of room: both groups.
  ASSERT_EQ(ssize_t(3 * kRec), read_faults(ffd, rec, 3));
  EXPECT_EQ(0x7000u, rec[0].addr);
  EXPECT_EQ(0u, rec[0].flags);
  EXPECT_EQ(uint32_t(IOMMU_PGFAULT_PERM_READ), rec[0].perm);
  EXPECT_EQ(0x8000u, rec[1].addr);
  EXPECT_EQ(uint32_t(IOMMU_PGFAULT_FLAGS_LAST_PAGE), rec[1].flags);
  EXPECT_EQ(rec[0].cookie, rec[1].cookie);
  EXPECT_EQ(7u, rec[1].grpid);
  EXPECT_EQ(0x9000u, rec[2].addr);
  EXPECT_NE(rec[0].cookie, rec[2].cookie);

  // Room for a group and a half: only the whole group is returned.
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 9, 0, 0xa000));
  iopf_fault f10 = first;
  f10.prm.grpid = 10;
  iommu_report_device_fault(*mdev, f10);
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 10, 0, 0xb000));
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd, rec, 2));
  EXPECT_EQ(0xa000u, rec[0].addr);
  const uint32_t cookie9 = rec[0].cookie;
  EXPECT_EQ(3u, cookie9);
  ASSERT_EQ(ssize_t(2 * kRec), read_faults(ffd, rec, 4));
  EXPECT_EQ(10u, rec[0].grpid);
  EXPECT_EQ(10u, rec[1].grpid);
  EXPECT_EQ(4u, rec[1].cookie);

  // Answer several groups in one write; a bad one stops the batch there.
  iommu_hwpt_page_response r[3] = {{1, IOMMUFD_PAGE_RESP_SUCCESS},
                                   {2, IOMMUFD_PAGE_RESP_SUCCESS},
                                   {99, IOMMUFD_PAGE_RESP_SUCCESS}};
  EXPECT_EQ(ssize_t(2 * kResp), iommusim_write(ffd, r, sizeof(r)));
  auto got = responses();
  ASSERT_EQ(2u, got.size());
  // A group is answered once, with its last request's PASID and group index.
  EXPECT_EQ(7u, got[0].msg.grpid);
  EXPECT_EQ(0x8000u, got[0].evt.prm.addr);
  EXPECT_EQ(8u, got[1].msg.grpid);
  iommu_hwpt_page_response rest[2] = {{3, IOMMUFD_PAGE_RESP_SUCCESS}, {4, IOMMUFD_PAGE_RESP_SUCCESS}};
  EXPECT_EQ(ssize_t(2 * kResp), iommusim_write(ffd, rest, sizeof(rest)));
  EXPECT_EQ(4u, responses().size());
}

TEST_F(Fault, UnwritableBufferLeavesTheGroupQueued) {
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 1, 0, 0x1000));
  void *ro = mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(MAP_FAILED, ro);
  EXPECT_EQ(EFAULT, errno_of(iommusim_read(ffd, ro, kRec)));
  munmap(ro, kPage);
  EXPECT_EQ(POLLIN, real_revents(ffd, POLLIN));
  iommu_hwpt_pgfault rec;
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd, &rec, 1));
  EXPECT_EQ(1u, rec.cookie);  // the failed read's cookie was given back
  EXPECT_EQ(0, respond(ffd, 1, IOMMUFD_PAGE_RESP_SUCCESS));
}

TEST_F(Fault, ReplaceAwayAnswersEverythingPendingWithInvalid) {
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 1, 0, 0x1000));
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 2, 0, 0x2000));
  iommu_hwpt_pgfault rec;
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd, &rec, 1));  // group 1 read, not answered
  EXPECT_TRUE(responses().empty());

  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, parent));
  auto r = responses();
  ASSERT_EQ(2u, r.size());
  // Unread groups first, then read-but-unanswered ones.
  EXPECT_EQ(2u, r[0].msg.grpid);
  EXPECT_EQ(1u, r[1].msg.grpid);
  for (auto &x : r) EXPECT_EQ(iommu_page_response_code::invalid, x.msg.code);
  EXPECT_EQ(0, real_revents(ffd, POLLIN));
  EXPECT_EQ(0, read_faults(ffd, &rec, 1));
  EXPECT_EQ(EINVAL, respond(ffd, rec.cookie, IOMMUFD_PAGE_RESP_SUCCESS));
  EXPECT_FALSE(mdev->iopf_enabled());

  // Faults now go nowhere: refused at once.
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 3, 0, 0x3000));
  EXPECT_EQ(3u, responses().size());
  EXPECT_EQ(0, real_revents(ffd, POLLIN));
}

TEST_F(Fault, ReplaceBetweenFaultHwptsKeepsIopfOnAndAnswersTheOld) {
  iommu_hwpt_selftest data = {IOMMU_TEST_IOTLB_DEFAULT};
  uint32_t fault2 = 0, hwpt2 = 0;
  int ffd2 = -1;
  ASSERT_EQ(0, fault_alloc(fd, &fault2, &ffd2));
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, parent, IOMMU_HWPT_FAULT_ID_VALID, &hwpt2,
                             IOMMU_HWPT_DATA_SELFTEST, &data, sizeof(data), fault2));
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 1, 0, 0x1000));
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, hwpt2));
  EXPECT_TRUE(mdev->iopf_enabled());
  ASSERT_EQ(1u, responses().size());
  EXPECT_EQ(iommu_page_response_code::invalid, responses()[0].msg.code);
  EXPECT_EQ(0, real_revents(ffd, POLLIN));

  // New faults go to the new queue.
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 2, 0, 0x2000));
  EXPECT_EQ(0, real_revents(ffd, POLLIN));
  EXPECT_EQ(POLLIN, real_revents(ffd2, POLLIN));
  iommu_hwpt_pgfault rec;
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd2, &rec, 1));
  EXPECT_EQ(2u, rec.grpid);
  EXPECT_EQ(0, respond(ffd2, rec.cookie, IOMMUFD_PAGE_RESP_SUCCESS));

  // Destroying the selftest object detaches: pending faults are refused.
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 3, 0, 0x3000));
  EXPECT_EQ(POLLIN, real_revents(ffd2, POLLIN));
  ASSERT_EQ(0, fd.destroy(md.stdev_id));
  mdev = nullptr;
  EXPECT_EQ(0, real_revents(ffd2, POLLIN));
  EXPECT_EQ(0, read_faults(ffd2, &rec, 1));
  EXPECT_EQ(0, fd.destroy(hwpt2));
  EXPECT_EQ(EBUSY, fd.destroy(fault2)) << "its fd is still open";
  EXPECT_EQ(0, iommusim_close(ffd2));
  EXPECT_EQ(0, fd.destroy(fault2));
}

TEST_F(Fault, FaultObjectLivesWhileAHwptUsesIt) {
  ASSERT_EQ(0, iommusim_close(ffd));
  ffd = -1;
  EXPECT_EQ(EBUSY, fd.destroy(fault_id));  // iopf_hwpt holds it
  // With the fd gone faults still queue; detach refuses them.
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 1, 0, 0x1000));
  EXPECT_TRUE(responses().empty());
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, parent));
  ASSERT_EQ(1u, responses().size());
  EXPECT_EQ(iommu_page_response_code::invalid, responses()[0].msg.code);
  EXPECT_EQ(0, fd.destroy(iopf_hwpt));
  EXPECT_EQ(0, fd.destroy(fault_id));
}

TEST_F(Fault, EpollSeesReadiness) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = ffd;
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, ffd, &ev));
  epoll_event out[1];
  EXPECT_EQ(0, epoll_wait(ep, out, 1, 0));
  ASSERT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 1, 0, 0x1000));
  ASSERT_EQ(1, epoll_wait(ep, out, 1, 0));
  EXPECT_EQ(ffd, out[0].data.fd);
  iommu_hwpt_pgfault rec;
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd, &rec, 1));
  EXPECT_EQ(0, epoll_wait(ep, out, 1, 0));
  EXPECT_EQ(0, respond(ffd, rec.cookie, IOMMUFD_PAGE_RESP_SUCCESS));
  ::close(ep);
}

TEST_F(Fault, BlockingPollWakesWhenAFaultArrives) {
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 1, 0, 0x1000));
  });
  pollfd p = {ffd, POLLIN, 0};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(1, ::poll(&p, 1, 10000));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  t.join();
  EXPECT_EQ(POLLIN, p.revents);
  // The library's poll blocks the same way.
  iommu_hwpt_pgfault rec;
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd, &rec, 1));
  std::thread t2([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 2, 0, 0x2000));
  });
  p = {ffd, POLLIN, 0};
  EXPECT_EQ(1, iommusim_poll(&p, 1, 10000));
  t2.join();
  EXPECT_TRUE(p.revents & POLLIN);
}

TEST_F(Fault, IopfEnableIsCountedPerDevice) {
  auto *idev = object_of<iommufd_device>(fd, md.idev_id, iommufd_object_type::device);
  ASSERT_NE(nullptr, idev);
  EXPECT_EQ(1u, idev->iopf_enabled);
  EXPECT_EQ(0, iommufd_fault_iopf_enable(idev));
  EXPECT_EQ(2u, idev->iopf_enabled);
  iommufd_fault_iopf_disable(idev);
  EXPECT_EQ(1u, idev->iopf_enabled);
  EXPECT_TRUE(mdev->iopf_enabled());
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, parent));
  EXPECT_EQ(0u, idev->iopf_enabled);
  EXPECT_FALSE(mdev->iopf_enabled());
  // Disabling below zero is a caller bug: warned about, count stays 0.
  const unsigned long w0 = warn_count();
  iommufd_fault_iopf_disable(idev);
  EXPECT_EQ(0u, idev->iopf_enabled);
  EXPECT_EQ(w0 + 1, warn_count());
}

TEST(FaultDestroy, AnswersWhatIsStillPending) {
  auto dev = mock_dev_create(0);
  ASSERT_FALSE(dev.is_err());
  iommufd_attach_handle handle;
  auto make_group = [&](uint32_t grpid) {
    auto *g = new iopf_group();
    iopf_fault f;
    f.prm.grpid = grpid;
    f.prm.flags = IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
    g->faults.push_back(f);
    g->dev = dev.get();
    g->attach_handle = &handle;
    return g;
  };
  auto *fault = new iommufd_fault();
  fault->deliver.push_back(make_group(1));
  iopf_group *read_one = make_group(2);
  read_one->cookie = 5;
  fault->response.emplace(5, read_one);
  fault->destroy();
  delete fault;
  auto r = dev->page_responses();
  ASSERT_EQ(2u, r.size());
  EXPECT_EQ(1u, r[0].msg.grpid);
  EXPECT_EQ(2u, r[1].msg.grpid);
  EXPECT_EQ(iommu_page_response_code::invalid, r[0].msg.code);
  EXPECT_EQ(iommu_page_response_code::invalid, r[1].msg.code);
  mock_dev_destroy(dev.get());
}

TEST(FaultClose, ClosingEverythingWithFaultsPendingFreesThem) {
  // ASan's leak check is the assertion here: nothing pending may be lost.
  const unsigned long w0 = warn_count();
  auto *fd = new Iommufd;
  uint32_t ioas = fd->ioas();
  MockDevice md;
  ASSERT_EQ(0, fd->mock_domain(ioas, &md));
  uint32_t parent = 0, fault_id = 0, hwpt = 0;
  int ffd = -1;
  ASSERT_EQ(0, fd->hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_ALLOC_NEST_PARENT, &parent));
  ASSERT_EQ(0, fault_alloc(*fd, &fault_id, &ffd));
  iommu_hwpt_selftest data = {IOMMU_TEST_IOTLB_DEFAULT};
  ASSERT_EQ(0, fd->hwpt_alloc(md.idev_id, parent, IOMMU_HWPT_FAULT_ID_VALID, &hwpt,
                              IOMMU_HWPT_DATA_SELFTEST, &data, sizeof(data), fault_id));
  ASSERT_EQ(0, mock_domain_replace(*fd, md.stdev_id, hwpt));
  ASSERT_EQ(0, trigger_iopf(*fd, md.idev_id, 0, 1, 0, 0x1000));
  ASSERT_EQ(0, trigger_iopf(*fd, md.idev_id, 0, 2, 0, 0x2000));
  iommu_hwpt_pgfault rec;
  ASSERT_EQ(ssize_t(kRec), read_faults(ffd, &rec, 1));
  EXPECT_EQ(0, fd->close());
  delete fd;
  EXPECT_EQ(POLLIN, real_revents(ffd, POLLIN)) << "the context lives on with the fault fd";
  EXPECT_EQ(0, iommusim_close(ffd));
  EXPECT_EQ(w0, warn_count());
}

}  // namespace
}  // namespace iommusim::test
