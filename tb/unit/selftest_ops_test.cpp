// SPDX-License-Identifier: MIT
// IOMMU_TEST_CMD through the C API, op by op: the errnos and their order,
// the IDs and fds handed out, what the mock "hardware" ends up holding, and
// that every failure unwinds completely. Sequences taken from Linux's
// tools/testing/selftests/iommu where they exist.
#include <dirent.h>
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "core/log.h"
#include "mock_test_util.h"

namespace iommusim::test {
namespace {

using namespace iommusim::iommufd;

constexpr uint64_t kIova = MOCK_APERTURE_START;
constexpr uint32_t kRW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

int open_fd_count() {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

// The number the next mock device would get (lowest free, as an IDA).
int next_mock_dev_id() {
  auto d = mock_dev_create(0);
  if (d.is_err()) return -1;
  int id = d->id;
  mock_dev_destroy(d.get());
  return id;
}

// An address that is certainly not mapped.
void *unmapped_address() {
  void *p = mmap(nullptr, kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(p, kPage);
  return p;
}

TEST(SelftestOps, UnknownOpIsEOPNOTSUPP) {
  Iommufd fd;
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_TRIGGER_IOPF + 1;
  EXPECT_EQ(EOPNOTSUPP, test_op(fd, &cmd));
  cmd.op = 0;
  EXPECT_EQ(EOPNOTSUPP, test_op(fd, &cmd));
}

TEST(SelftestOps, MockDomainIdsAndTeardown) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  ASSERT_EQ(1u, ioas);
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  // The selftest object is reserved first, the device finalized second, the
  // automatic HWPT last.
  EXPECT_EQ(2u, md.stdev_id);
  EXPECT_EQ(3u, md.idev_id);
  EXPECT_EQ(4u, md.hwpt_id);
  mock_device *mdev = mock_dev_of(fd, md.idev_id);
  ASSERT_NE(nullptr, mdev);
  EXPECT_EQ(0u, mdev->flags);
  ASSERT_NE(nullptr, mock_domain_of(fd, md.hwpt_id));
  EXPECT_EQ(mock_domain_of(fd, md.hwpt_id), mdev->group->domain);

  // The device belongs to the selftest object; the HWPT is in use.
  EXPECT_EQ(EBUSY, fd.destroy(md.idev_id));
  EXPECT_EQ(EBUSY, fd.destroy(md.hwpt_id));
  EXPECT_EQ(EBUSY, fd.destroy(ioas));
  const int dev_id = mdev->id;
  EXPECT_EQ(0, fd.destroy(md.stdev_id));
  // Detach destroyed the automatic HWPT; unbind the device; the mock device
  // itself is gone (its number is free again).
  EXPECT_EQ(ENOENT, fd.destroy(md.hwpt_id));
  EXPECT_EQ(ENOENT, fd.destroy(md.idev_id));
  EXPECT_EQ(dev_id, next_mock_dev_id());

  MockDevice again;
  ASSERT_EQ(0, fd.mock_domain(ioas, &again));
  EXPECT_EQ(2u, again.stdev_id);
  EXPECT_EQ(3u, again.idev_id);
  EXPECT_EQ(4u, again.hwpt_id);
}

TEST(SelftestOps, MockDomainFlagsReachTheDevice) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md, MOCK_FLAGS_DEVICE_HUGE_IOVA | MOCK_FLAGS_DEVICE_PASID));
  mock_device *mdev = mock_dev_of(fd, md.idev_id);
  ASSERT_NE(nullptr, mdev);
  EXPECT_EQ(uint32_t(MOCK_FLAGS_DEVICE_HUGE_IOVA | MOCK_FLAGS_DEVICE_PASID), mdev->flags);
  EXPECT_EQ(1u << MOCK_PASID_WIDTH, mdev->max_pasids);
  EXPECT_EQ(MOCK_IO_PAGE_SIZE | MOCK_HUGE_PAGE_SIZE, mock_domain_of(fd, md.hwpt_id)->pgsize_bitmap);
}

TEST(SelftestOps, MockDomainFailuresUnwindEverything) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  const int dev_id = next_mock_dev_id();
  MockDevice md;
  EXPECT_EQ(EINVAL, fd.mock_domain(ioas, &md, 1u << 3));
  EXPECT_EQ(ENOENT, fd.mock_domain(99, &md));
  EXPECT_EQ(dev_id, next_mock_dev_id());

  // A NO_DIRTY device cannot join a dirty-tracking HWPT.
  MockDevice first;
  ASSERT_EQ(0, fd.mock_domain(ioas, &first));
  uint32_t dirty_hwpt = 0;
  ASSERT_EQ(0, fd.hwpt_alloc(first.idev_id, ioas, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &dirty_hwpt));
  const int dev_id2 = next_mock_dev_id();
  EXPECT_EQ(EINVAL, fd.mock_domain(dirty_hwpt, &md, MOCK_FLAGS_DEVICE_NO_DIRTY));
  EXPECT_EQ(dev_id2, next_mock_dev_id());

  // The response cannot be written back: attach, bind and create are undone.
  void *ro = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(MAP_FAILED, ro);
  auto *cmd = static_cast<iommu_test_cmd *>(ro);
  cmd->size = sizeof(*cmd);
  cmd->op = IOMMU_TEST_OP_MOCK_DOMAIN;
  cmd->id = ioas;
  ASSERT_EQ(0, mprotect(ro, kPage, PROT_READ));
  EXPECT_EQ(EFAULT, fd.ioctl(IOMMU_TEST_CMD, cmd));
  munmap(ro, kPage);
  EXPECT_EQ(dev_id2, next_mock_dev_id());

  // Every ID the failures touched is free again, lowest first.
  uint32_t next = fd.ioas();
  EXPECT_EQ(dirty_hwpt + 1, next);
  EXPECT_EQ(0, fd.destroy(next));
  EXPECT_EQ(0, fd.destroy(first.stdev_id));
  EXPECT_EQ(0, fd.destroy(dirty_hwpt));
  EXPECT_EQ(2u, fd.ioas());
}

TEST(SelftestOps, MockDomainReplace) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  uint32_t ioas2 = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  mock_device *mdev = mock_dev_of(fd, md.idev_id);

  // Only a selftest object names a mock device here.
  EXPECT_EQ(ENOENT, mock_domain_replace(fd, md.idev_id, ioas2));
  EXPECT_EQ(ENOENT, mock_domain_replace(fd, 99, ioas2));
  EXPECT_EQ(ENOENT, mock_domain_replace(fd, md.stdev_id, 99));

  uint32_t pt = 0;
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, ioas2, &pt));
  EXPECT_NE(md.hwpt_id, pt);
  EXPECT_EQ(ENOENT, fd.destroy(md.hwpt_id));  // the old automatic HWPT died
  ASSERT_NE(nullptr, mock_domain_of(fd, pt));
  EXPECT_EQ(mock_domain_of(fd, pt), mdev->group->domain);

  uint32_t hwpt = 0;
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, ioas, 0, &hwpt));
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, hwpt, &pt));
  EXPECT_EQ(hwpt, pt);
  EXPECT_EQ(mock_domain_of(fd, hwpt), mdev->group->domain);
  EXPECT_EQ(EBUSY, fd.destroy(hwpt));
  EXPECT_EQ(0, fd.destroy(md.stdev_id));
  EXPECT_EQ(0, fd.destroy(hwpt));
}

TEST(SelftestOps, AddReserved) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  EXPECT_EQ(EINVAL, fd.add_reserved(ioas, kIova, 0));
  EXPECT_EQ(EOVERFLOW, fd.add_reserved(ioas, UINT64_MAX - kPage + 2, kPage));
  EXPECT_EQ(ENOENT, fd.add_reserved(99, kIova, kPage));
  // The whole top of the space is fine: last == UINT64_MAX does not wrap.
  EXPECT_EQ(0, fd.add_reserved(ioas, UINT64_MAX - kPage + 1, kPage));

  EXPECT_EQ(0, fd.add_reserved(ioas, kIova, kPage));
  Buffer buf(4 * kPage);
  EXPECT_EQ(EINVAL, fd.map_fixed(ioas, buf.get(), kPage, kIova));
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), kPage, kIova + kPage));
  // Reserving over a mapping is refused.
  EXPECT_EQ(EADDRINUSE, fd.add_reserved(ioas, kIova + kPage, 1));
  // The allocator steers around reserved IOVA.
  EXPECT_EQ(0, fd.add_reserved(ioas, 0, kIova));
  uint64_t iova = 0;
  ASSERT_EQ(0, fd.map(ioas, buf.get(), kPage, &iova));
  EXPECT_GE(iova, kIova + 2 * kPage);
}

TEST(SelftestOps, CheckMap) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  Buffer buf(8 * kPage);
  buf.fill(3);
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), 4 * kPage, kIova));

  // Alignment and overflow come first, before the HWPT is looked up.
  EXPECT_EQ(EINVAL, fd.check_map(99, kIova + 1, buf.get(), kMockPage));
  EXPECT_EQ(EINVAL, fd.check_map(99, kIova, buf.get(), kMockPage + 1));
  EXPECT_EQ(EINVAL, fd.check_map(99, kIova, buf.get() + 1, kMockPage));
  EXPECT_EQ(EINVAL, fd.check_map(md.hwpt_id, kIova, reinterpret_cast<void *>(-kMockPage),
                                 2 * kMockPage));
  EXPECT_EQ(ENOENT, fd.check_map(99, kIova, buf.get(), kMockPage));
  EXPECT_EQ(ENOENT, fd.check_map(ioas, kIova, buf.get(), kMockPage));

  EXPECT_EQ(0, fd.check_map(md.hwpt_id, kIova, buf.get(), 4 * kPage));
  EXPECT_EQ(0, fd.check_map(md.hwpt_id, kIova + kMockPage, buf.get() + kMockPage, 3 * kMockPage));
  EXPECT_EQ(0, fd.check_map(md.hwpt_id, kIova, buf.get(), 0));
  // Off by one IO page in the buffer, or past the end of the mapping.
  EXPECT_EQ(EINVAL, fd.check_map(md.hwpt_id, kIova, buf.get() + kMockPage, kMockPage));
  EXPECT_EQ(EINVAL, fd.check_map(md.hwpt_id, kIova, buf.get(), 5 * kPage));
  // Present in user space but never pinned: nothing can map it.
  EXPECT_EQ(EINVAL, fd.check_map(md.hwpt_id, kIova, buf.get() + 6 * kPage, kMockPage));
  // Not mapped in user space at all: the user-page lookup fails first.
  EXPECT_EQ(EFAULT, fd.check_map(md.hwpt_id, kIova, unmapped_address(), kMockPage));
}

TEST(SelftestOps, CheckRefsAfterMapUnmapAndCopy) {
  const unsigned long v0 = mock_violations();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  uint32_t ioas2 = fd.ioas();
  MockDevice md, md2;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  ASSERT_EQ(0, fd.mock_domain(ioas2, &md2));
  Buffer buf(16 * kPage);
  buf.fill(5);

  EXPECT_EQ(EINVAL, fd.check_refs(buf.get() + 1, kPage, 0));
  EXPECT_EQ(EINVAL, fd.check_refs(buf.get(), kPage + 1, 0));
  EXPECT_EQ(EINVAL, fd.check_refs(reinterpret_cast<void *>(-kPage), 2 * kPage, 0));
  EXPECT_EQ(EFAULT, fd.check_refs(unmapped_address(), kPage, 0));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 16 * kPage, 0));
  EXPECT_EQ(EIO, fd.check_refs(buf.get(), 16 * kPage, 1));

  // Map 4 pages at a sub-page offset: the partial pages are pinned too.
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get() + kPage + kMockPage, 3 * kPage, kIova + kMockPage));
  EXPECT_EQ(0, fd.check_refs(buf.get(), kPage, 0));
  EXPECT_EQ(0, fd.check_refs(buf.get() + kPage, 4 * kPage, 1));
  EXPECT_EQ(0, fd.check_refs(buf.get() + 5 * kPage, 11 * kPage, 0));
  EXPECT_EQ(EIO, fd.check_refs(buf.get(), 5 * kPage, 1));
  EXPECT_EQ(0, fd.check_map(md.hwpt_id, kIova + kMockPage, buf.get() + kPage + kMockPage,
                            3 * kPage));

  // A copy into another IOAS shares the pages: still one pin each.
  ASSERT_EQ(0, fd.copy(ioas2, kIova + kMockPage, ioas, kIova + kMockPage, 3 * kPage));
  EXPECT_EQ(0, fd.check_refs(buf.get() + kPage, 4 * kPage, 1));
  EXPECT_EQ(0, fd.check_map(md2.hwpt_id, kIova + kMockPage, buf.get() + kPage + kMockPage,
                            3 * kPage));
  ASSERT_EQ(0, fd.unmap(ioas, kIova + kMockPage, 3 * kPage));
  EXPECT_EQ(0, fd.check_refs(buf.get() + kPage, 4 * kPage, 1));
  ASSERT_EQ(0, fd.unmap(ioas2, kIova + kMockPage, 3 * kPage));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 16 * kPage, 0));

  // Mapped twice independently: two pins.
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), 2 * kPage, kIova));
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), 2 * kPage, kIova + 4 * kPage));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 2 * kPage, 2));
  ASSERT_EQ(0, fd.unmap(ioas, 0, UINT64_MAX));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 16 * kPage, 0));
  EXPECT_EQ(v0, mock_violations());
}

// The nested HWPT + HWPT_INVALIDATE sequence of the selftest's
// iommufd_ioas.alloc_hwpt_nested.
TEST(SelftestOps, NestedIotlbAndInvalidate) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  iommu_hwpt_selftest data = {IOMMU_TEST_IOTLB_DEFAULT};
  uint32_t parent = 0, not_parent = 0, nested[2] = {};
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_ALLOC_NEST_PARENT, &parent));
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, ioas, 0, &not_parent));
  EXPECT_EQ(EINVAL, fd.hwpt_alloc(md.idev_id, not_parent, 0, &nested[0], IOMMU_HWPT_DATA_SELFTEST,
                                  &data, sizeof(data)));
  EXPECT_EQ(EOPNOTSUPP, fd.hwpt_alloc(md.idev_id, parent, 0, &nested[0],
                                      IOMMU_HWPT_DATA_SELFTEST + 1, &data, sizeof(data)));
  EXPECT_EQ(EINVAL, fd.hwpt_alloc(md.idev_id, parent, 0, &nested[0], IOMMU_HWPT_DATA_SELFTEST,
                                  &data, sizeof(data) - 1));
  EXPECT_EQ(EFAULT, fd.hwpt_alloc(md.idev_id, parent, 0, &nested[0], IOMMU_HWPT_DATA_SELFTEST,
                                  nullptr, sizeof(data)));
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, parent, 0, &nested[0], IOMMU_HWPT_DATA_SELFTEST, &data,
                             sizeof(data)));
  data.iotlb = 0x5a5a;
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, parent, 0, &nested[1], IOMMU_HWPT_DATA_SELFTEST, &data,
                             sizeof(data)));
  ASSERT_NE(nullptr, mock_nested_of(fd, nested[0]));
  EXPECT_EQ(mock_domain_of(fd, parent), mock_nested_of(fd, nested[0])->parent());

  for (uint32_t i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++) {
    EXPECT_EQ(0, check_iotlb(fd, nested[0], i, IOMMU_TEST_IOTLB_DEFAULT));
    EXPECT_EQ(0, check_iotlb(fd, nested[1], i, 0x5a5a));
    EXPECT_EQ(EINVAL, check_iotlb(fd, nested[1], i, IOMMU_TEST_IOTLB_DEFAULT));
  }
  EXPECT_EQ(EINVAL, check_iotlb(fd, nested[0], MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1,
                                IOMMU_TEST_IOTLB_DEFAULT));
  EXPECT_EQ(ENOENT, check_iotlb(fd, parent, 0, IOMMU_TEST_IOTLB_DEFAULT));
  EXPECT_EQ(ENOENT, check_iotlb(fd, 99, 0, IOMMU_TEST_IOTLB_DEFAULT));
  // A nested HWPT is not a mock paging domain for the paging ops.
  Buffer buf(kPage);
  EXPECT_EQ(ENOENT, fd.check_map(nested[0], kIova, buf.get(), kMockPage));

  iommu_hwpt_invalidate_selftest inv[2] = {};
  uint32_t num = 1;
  EXPECT_EQ(ENOENT, hwpt_invalidate(fd, parent, inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                                    sizeof(inv[0]), &num));
  EXPECT_EQ(0u, num);
  num = 0;
  EXPECT_EQ(0, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                               sizeof(inv[0]), &num));
  EXPECT_EQ(0u, num);
  num = 1;
  EXPECT_EQ(EINVAL, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
                                    sizeof(inv[0]), &num));
  EXPECT_EQ(0u, num);
  num = 1;
  EXPECT_EQ(EINVAL, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                                    sizeof(inv[0]) + 1, &num));
  EXPECT_EQ(0u, num);
  num = 1;
  EXPECT_EQ(EINVAL, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 1,
                                    &num));
  EXPECT_EQ(0u, num);
  num = 1;
  inv[0].flags = 0xffffffff;
  EXPECT_EQ(EOPNOTSUPP, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                                        sizeof(inv[0]), &num));
  EXPECT_EQ(0u, num);
  num = 1;
  inv[0].flags = 0;
  inv[0].iotlb_id = MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1;
  EXPECT_EQ(EINVAL, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                                    sizeof(inv[0]), &num));
  EXPECT_EQ(0u, num);

  // Partial failures: the first request is done and counted.
  num = 2;
  inv[0] = {0, 0};
  inv[1] = {0xffffffff, 1};
  EXPECT_EQ(EOPNOTSUPP, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                                        sizeof(inv[0]), &num));
  EXPECT_EQ(1u, num);
  EXPECT_EQ(0, check_iotlb(fd, nested[0], 0, 0));
  EXPECT_EQ(0, check_iotlb(fd, nested[0], 1, IOMMU_TEST_IOTLB_DEFAULT));
  num = 2;
  inv[1] = {0, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1};
  EXPECT_EQ(EINVAL, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                                    sizeof(inv[0]), &num));
  EXPECT_EQ(1u, num);
  EXPECT_EQ(0, check_iotlb(fd, nested[0], 1, IOMMU_TEST_IOTLB_DEFAULT));

  num = 1;
  inv[0] = {0, 1};
  EXPECT_EQ(0, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                               sizeof(inv[0]), &num));
  EXPECT_EQ(1u, num);
  EXPECT_EQ(0, check_iotlb(fd, nested[0], 1, 0));
  EXPECT_EQ(0, check_iotlb(fd, nested[0], 2, IOMMU_TEST_IOTLB_DEFAULT));
  num = 2;
  inv[0] = {0, 2};
  inv[1] = {0, 3};
  EXPECT_EQ(0, hwpt_invalidate(fd, nested[0], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                               sizeof(inv[0]), &num));
  EXPECT_EQ(2u, num);
  for (uint32_t i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
    EXPECT_EQ(0, check_iotlb(fd, nested[0], i, 0));
  num = 1;
  inv[0] = {IOMMU_TEST_INVALIDATE_FLAG_ALL, 0};
  EXPECT_EQ(0, hwpt_invalidate(fd, nested[1], inv, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
                               sizeof(inv[0]), &num));
  EXPECT_EQ(1u, num);
  for (uint32_t i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
    EXPECT_EQ(0, check_iotlb(fd, nested[1], i, 0));

  // Attached nested HWPTs are busy; the parent is busy while nested exist.
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, nested[0]));
  EXPECT_EQ(mock_nested_of(fd, nested[0]), mock_dev_of(fd, md.idev_id)->group->domain);
  EXPECT_EQ(EBUSY, fd.destroy(nested[0]));
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, nested[1]));
  EXPECT_EQ(0, fd.destroy(nested[0]));
  EXPECT_EQ(EBUSY, fd.destroy(parent));
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, parent));
  EXPECT_EQ(0, fd.destroy(nested[1]));
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, ioas));
  EXPECT_EQ(0, fd.destroy(parent));
  EXPECT_EQ(0, fd.destroy(not_parent));
}

// --- access fds ---

class SelftestAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    ioas = fd.ioas();
    buf.fill(9);
    ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), 8 * kPage, kIova));
  }
  Iommufd fd;
  uint32_t ioas = 0;
  Buffer buf{16 * kPage};
};

TEST_F(SelftestAccess, CreateRulesAndFdLifetime) {
  int afd = -1;
  const int fds = open_fd_count();
  EXPECT_EQ(EOPNOTSUPP, create_access(fd, ioas, 1u << 1, &afd));
  EXPECT_EQ(ENOENT, create_access(fd, 99, 0, &afd));
  EXPECT_EQ(fds, open_fd_count());  // the reserved descriptor went back

  ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
  EXPECT_EQ(1, iommusim_owns_fd(afd));
  EXPECT_EQ(fds + 1, open_fd_count());
  // The access is an object too (its ID is taken), held by its driver until
  // the fd closes; the IOAS is busy while it is attached.
  EXPECT_EQ(EBUSY, fd.destroy(ioas + 1));
  EXPECT_EQ(EBUSY, fd.destroy(ioas));

  // Pinning needs an access created with NEEDS_PIN_PAGES.
  EXPECT_EQ(EOPNOTSUPP, access_pages(fd, afd, kIova, kPage, buf.get(), 0, nullptr));

  // Only access fds are access fds.
  EXPECT_EQ(EBADFD, access_pages(fd, fd.fd, kIova, kPage, buf.get(), 0, nullptr));
  EXPECT_EQ(EBADFD, access_pages(fd, 0, kIova, kPage, buf.get(), 0, nullptr));
  EXPECT_EQ(EBADFD, access_pages(fd, -1, kIova, kPage, buf.get(), 0, nullptr));
  EXPECT_EQ(EBADFD, destroy_access_pages(fd, fd.fd, 0));
  EXPECT_EQ(EBADFD, access_replace_ioas(fd, fd.fd, ioas));
  uint8_t tmp[8];
  EXPECT_EQ(EBADFD, access_rw(fd, fd.fd, kIova, tmp, sizeof(tmp), 0));

  EXPECT_EQ(0, iommusim_close(afd));
  EXPECT_EQ(0, iommusim_owns_fd(afd));
  EXPECT_EQ(fds, open_fd_count());
  EXPECT_EQ(EBADFD, access_rw(fd, afd, kIova, tmp, sizeof(tmp), 0));
  EXPECT_EQ(0, fd.destroy(ioas));
}

TEST_F(SelftestAccess, PinPagesRecordsItemsAndRefs) {
  int afd = -1;
  ASSERT_EQ(0, create_access(fd, ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &afd));
  // No domain: the IOAS holds no pins, the access does.
  EXPECT_EQ(0, fd.check_refs(buf.get(), 16 * kPage, 0));

  EXPECT_EQ(ENOMEM, access_pages(fd, afd, kIova, (16ULL << 20) + 1, buf.get(), 0, nullptr));
  EXPECT_EQ(EOPNOTSUPP, access_pages(fd, afd, kIova, kPage, buf.get(), 1u << 1, nullptr));
  EXPECT_EQ(EINVAL, access_pages(fd, afd, kIova, 0, buf.get(), 0, nullptr));
  EXPECT_EQ(ENOENT, access_pages(fd, afd, kIova + 8 * kPage, kPage, buf.get(), 0, nullptr));

  uint32_t id0 = 99, id1 = 99;
  ASSERT_EQ(0, access_pages(fd, afd, kIova + kPage, 2 * kPage, buf.get() + kPage,
                            MOCK_FLAGS_ACCESS_WRITE, &id0));
  EXPECT_EQ(0u, id0);
  EXPECT_EQ(0, fd.check_refs(buf.get(), kPage, 0));
  EXPECT_EQ(0, fd.check_refs(buf.get() + kPage, 2 * kPage, 1));
  EXPECT_EQ(0, fd.check_refs(buf.get() + 3 * kPage, 13 * kPage, 0));

  // Pins start on a page boundary; a partial last page is pinned whole.
  EXPECT_EQ(EINVAL, access_pages(fd, afd, kIova + 2 * kPage + 100, kPage,
                                 buf.get() + 2 * kPage + 100, 0, nullptr));
  ASSERT_EQ(0, access_pages(fd, afd, kIova + 2 * kPage, kPage + 100, buf.get() + 2 * kPage, 0,
                            &id1));
  EXPECT_EQ(1u, id1);
  // One iopt_pages pins a page once, however many accesses hold it.
  EXPECT_EQ(0, fd.check_refs(buf.get() + kPage, 3 * kPage, 1));
  EXPECT_EQ(0, fd.check_refs(buf.get() + 4 * kPage, kPage, 0));

  // The user pointer must be the memory behind the IOVA.
  EXPECT_EQ(EBADE, access_pages(fd, afd, kIova, kPage, buf.get() + kPage, 0, nullptr));
  EXPECT_EQ(EFAULT, access_pages(fd, afd, kIova, kPage, unmapped_address(), 0, nullptr));
  EXPECT_EQ(0, fd.check_refs(buf.get(), kPage, 0));  // the failed pin was undone

  EXPECT_EQ(ENOENT, destroy_access_pages(fd, afd, 7));
  EXPECT_EQ(0, destroy_access_pages(fd, afd, id0));
  EXPECT_EQ(ENOENT, destroy_access_pages(fd, afd, id0));
  EXPECT_EQ(0, fd.check_refs(buf.get() + kPage, kPage, 0));
  EXPECT_EQ(0, fd.check_refs(buf.get() + 2 * kPage, 2 * kPage, 1));  // still held by id1

  // Item IDs keep counting up.
  uint32_t id2 = 0;
  ASSERT_EQ(0, access_pages(fd, afd, kIova, kPage, buf.get(), 0, &id2));
  EXPECT_EQ(2u, id2);

  // Unmapping the IOVA makes the access drop its pins in the range.
  ASSERT_EQ(0, fd.unmap(ioas, kIova, 8 * kPage));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 16 * kPage, 0));
  EXPECT_EQ(ENOENT, destroy_access_pages(fd, afd, id1));
  EXPECT_EQ(ENOENT, destroy_access_pages(fd, afd, id2));

  // Closing the fd with pins outstanding drops them.
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), 8 * kPage, kIova));
  ASSERT_EQ(0, access_pages(fd, afd, kIova, 8 * kPage, buf.get(), 0, nullptr));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 8 * kPage, 1));
  EXPECT_EQ(0, iommusim_close(afd));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 16 * kPage, 0));
}

TEST_F(SelftestAccess, PinPagesWithAMockDomainMapsTheSameFrames) {
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 8 * kPage, 1));
  int afd = -1;
  ASSERT_EQ(0, create_access(fd, ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &afd));
  uint32_t id = 0;
  ASSERT_EQ(0, access_pages(fd, afd, kIova, 8 * kPage, buf.get(), 0, &id));
  EXPECT_EQ(0, fd.check_map(md.hwpt_id, kIova, buf.get(), 8 * kPage));
  EXPECT_EQ(0, destroy_access_pages(fd, afd, id));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 8 * kPage, 1));
  EXPECT_EQ(0, iommusim_close(afd));
  EXPECT_EQ(0, fd.destroy(md.stdev_id));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 8 * kPage, 0));
}

TEST_F(SelftestAccess, ReadWrite) {
  int afd = -1;
  ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
  std::vector<uint8_t> tmp(3 * kPage);
  EXPECT_EQ(ENOMEM, access_rw(fd, afd, kIova, tmp.data(), (16ULL << 20) + 1, 0));
  EXPECT_EQ(EOPNOTSUPP, access_rw(fd, afd, kIova, tmp.data(), 8, 1u << 1));
  EXPECT_EQ(EINVAL, access_rw(fd, afd, kIova, tmp.data(), 0, 0));
  EXPECT_EQ(ENOENT, access_rw(fd, afd, kIova + 7 * kPage, tmp.data(), 2 * kPage, 0));

  for (uint32_t slow : {0u, uint32_t(MOCK_ACCESS_RW_SLOW_PATH)}) {
    // Read across page boundaries at an odd offset.
    std::fill(tmp.begin(), tmp.end(), 0);
    ASSERT_EQ(0, access_rw(fd, afd, kIova + 77, tmp.data(), 2 * kPage + 5, slow));
    EXPECT_EQ(0, memcmp(tmp.data(), buf.get() + 77, 2 * kPage + 5));
    // Write: the bytes land in the user's buffer.
    for (size_t i = 0; i < tmp.size(); i++) tmp[i] = static_cast<uint8_t>(i * 13 + slow);
    ASSERT_EQ(0, access_rw(fd, afd, kIova + kPage - 3, tmp.data(), kPage + 9,
                           MOCK_ACCESS_RW_WRITE | slow));
    EXPECT_EQ(0, memcmp(buf.get() + kPage - 3, tmp.data(), kPage + 9));
  }
  // The user buffer is read (write) or written (read) only after validation.
  EXPECT_EQ(EFAULT, access_rw(fd, afd, kIova, unmapped_address(), 8, MOCK_ACCESS_RW_WRITE));
  EXPECT_EQ(EFAULT, access_rw(fd, afd, kIova, unmapped_address(), 8, 0));
  EXPECT_EQ(0, iommusim_close(afd));
}

TEST_F(SelftestAccess, ReadOnlyAreaRefusesWrites) {
  Buffer ro(kPage);
  ro.fill(1);
  ASSERT_EQ(0, fd.map_fixed(ioas, ro.get(), kPage, kIova + 16 * kPage, IOMMU_IOAS_MAP_READABLE));
  int afd = -1;
  ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
  uint8_t tmp[16] = {};
  EXPECT_EQ(0, access_rw(fd, afd, kIova + 16 * kPage, tmp, sizeof(tmp), 0));
  EXPECT_EQ(EPERM, access_rw(fd, afd, kIova + 16 * kPage, tmp, sizeof(tmp), MOCK_ACCESS_RW_WRITE));
  EXPECT_EQ(0, iommusim_close(afd));
}

TEST_F(SelftestAccess, ReplaceIoas) {
  uint32_t ioas2 = fd.ioas();
  Buffer other(kPage);
  other.fill(200);
  ASSERT_EQ(0, fd.map_fixed(ioas2, other.get(), kPage, kIova));
  int afd = -1;
  ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
  uint8_t tmp[64];
  ASSERT_EQ(0, access_rw(fd, afd, kIova, tmp, sizeof(tmp), 0));
  EXPECT_EQ(0, memcmp(tmp, buf.get(), sizeof(tmp)));

  EXPECT_EQ(ENOENT, access_replace_ioas(fd, afd, 99));
  ASSERT_EQ(0, access_replace_ioas(fd, afd, ioas2));
  ASSERT_EQ(0, access_rw(fd, afd, kIova, tmp, sizeof(tmp), 0));
  EXPECT_EQ(0, memcmp(tmp, other.get(), sizeof(tmp)));
  EXPECT_EQ(0, fd.destroy(ioas));  // no longer in use
  EXPECT_EQ(EBUSY, fd.destroy(ioas2));
  EXPECT_EQ(0, iommusim_close(afd));
  EXPECT_EQ(0, fd.destroy(ioas2));
}

TEST_F(SelftestAccess, SyzkallerIovaNamesAnAreaAndOffset) {
  Buffer second(kPage);
  second.fill(77);
  ASSERT_EQ(0, fd.map_fixed(ioas, second.get(), kPage, kIova + 32 * kPage));
  int afd = -1;
  ASSERT_EQ(0, create_access(fd, ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &afd));
  uint8_t tmp[16];
  // {nth_area = 1, offset = 8}: the second area, 8 bytes in.
  const uint64_t syz = (8ULL << 32) | 1;
  ASSERT_EQ(0, access_rw(fd, afd, syz, tmp, sizeof(tmp), MOCK_FLAGS_ACCESS_SYZ));
  EXPECT_EQ(0, memcmp(tmp, second.get() + 8, sizeof(tmp)));
  // {nth_area = 0, offset = kPage}: a pin in the first area (uptr 0 skips the check).
  uint32_t id = 0;
  ASSERT_EQ(0, access_pages(fd, afd, (kPage << 32) | 0, kPage, nullptr, MOCK_FLAGS_ACCESS_SYZ, &id));
  EXPECT_EQ(0, fd.check_refs(buf.get() + kPage, kPage, 1));
  EXPECT_EQ(0, fd.check_refs(buf.get(), kPage, 0));
  // An area that does not exist converts to IOVA 0, which is not mapped.
  EXPECT_EQ(ENOENT, access_rw(fd, afd, 5, tmp, sizeof(tmp), MOCK_FLAGS_ACCESS_SYZ));
  EXPECT_EQ(0, iommusim_close(afd));
}

TEST(SelftestOps, SetTempMemoryLimit) {
  Iommufd fd;
  EXPECT_EQ(EINVAL, set_temp_memory_limit(fd, 0));
  EXPECT_EQ(EINVAL, set_temp_memory_limit(fd, 11));
  EXPECT_EQ(0, set_temp_memory_limit(fd, 12));
  EXPECT_EQ(12u, iommufd_test_memory_limit.load());
  // Mapping still works with the smallest batch.
  uint32_t ioas = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  Buffer buf(16 * kPage);
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), 16 * kPage, kIova));
  EXPECT_EQ(0, fd.check_map(md.hwpt_id, kIova, buf.get(), 16 * kPage));
  EXPECT_EQ(0, set_temp_memory_limit(fd, 65536));
  EXPECT_EQ(65536u, iommufd_test_memory_limit.load());
}

// --- dirty tracking ---

class SelftestDirty : public ::testing::Test {
 protected:
  void SetUp() override {
    ioas = fd.ioas();
    ASSERT_EQ(0, fd.mock_domain(ioas, &md));
    ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), kLen, kIova));
    ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &hwpt));
  }
  static constexpr uint64_t kLen = 128 * kPage;
  static constexpr uint64_t kBits = kLen / kMockPage;
  Iommufd fd;
  uint32_t ioas = 0, hwpt = 0;
  MockDevice md;
  Buffer buf{kLen};
};

TEST_F(SelftestDirty, ArgumentRules) {
  uint64_t bits[4] = {~0ULL, ~0ULL, ~0ULL, ~0ULL};
  uint64_t n = 0;
  EXPECT_EQ(EINVAL, mock_set_dirty(fd, hwpt, kIova, kLen, 0, bits, &n));
  EXPECT_EQ(EINVAL, mock_set_dirty(fd, hwpt, kIova, 0, kMockPage, bits, &n));
  EXPECT_EQ(EINVAL, mock_set_dirty(fd, hwpt, kIova + 1, kLen, kMockPage, bits, &n));
  EXPECT_EQ(EINVAL, mock_set_dirty(fd, hwpt, kIova, kLen + 1, kMockPage, bits, &n));
  EXPECT_EQ(EINVAL, mock_set_dirty(fd, hwpt, kIova, kLen, kMockPage, nullptr, &n));
  EXPECT_EQ(EOVERFLOW, mock_set_dirty(fd, hwpt, 0, (16ULL << 20) * 8 + 1, 1, bits, &n));
  EXPECT_EQ(ENOENT, mock_set_dirty(fd, 99, kIova, kLen, kMockPage, bits, &n));
  EXPECT_EQ(ENOENT, mock_set_dirty(fd, ioas, kIova, kLen, kMockPage, bits, &n));
  // Tracking is not on yet.
  EXPECT_EQ(EINVAL, mock_set_dirty(fd, hwpt, kIova, 4 * kMockPage, kMockPage, bits, &n));
  ASSERT_EQ(0, set_dirty_tracking(fd, hwpt, true));
  EXPECT_EQ(EFAULT, mock_set_dirty(fd, hwpt, kIova, 4 * kMockPage, kMockPage, unmapped_address(), &n));
  EXPECT_EQ(0, mock_set_dirty(fd, hwpt, kIova, 4 * kMockPage, kMockPage, bits, &n));
  EXPECT_EQ(4u, n);
  // Only entries that exist are marked and counted.
  bits[0] = 0b1001;
  EXPECT_EQ(0, mock_set_dirty(fd, hwpt, kIova + kLen - 2 * kMockPage, 4 * kMockPage, kMockPage,
                              bits, &n));
  EXPECT_EQ(1u, n);
  mock_iommu_domain *d = mock_domain_of(fd, hwpt);
  ASSERT_NE(nullptr, d);
  EXPECT_TRUE(d->entry(kIova + kLen - 2 * kMockPage) & MOCK_PFN_DIRTY_IOVA);
  EXPECT_FALSE(d->entry(kIova + kLen - kMockPage) & MOCK_PFN_DIRTY_IOVA);
}

// The selftest's _test_mock_dirty_bitmaps at a given user bitmap address:
// every other PTE marked, read back twice (the second read finds nothing
// unless NO_CLEAR).
void mock_dirty_bitmaps(const Iommufd &fd, uint32_t hwpt, uint64_t len, uint8_t *bitmap,
                        uint64_t nbits, uint32_t flags) {
  const uint64_t pteset = 2;
  const uint64_t bytes = (nbits + 7) / 8;
  memset(bitmap, 0, bytes);
  for (uint64_t i = 0; i < nbits; i += pteset) bitmap[i / 8] |= uint8_t(1u << (i % 8));
  uint64_t n = 0;
  ASSERT_EQ(0, mock_set_dirty(fd, hwpt, kIova, len, kMockPage, bitmap, &n));
  ASSERT_EQ(nbits / pteset, n);

  memset(bitmap, 0, bytes);
  ASSERT_EQ(0, get_dirty_bitmap(fd, hwpt, kIova, len, kMockPage, bitmap, flags));
  for (uint64_t i = 0; i < nbits; i++)
    ASSERT_EQ(i % pteset == 0, bool(bitmap[i / 8] & (1u << (i % 8)))) << "bit " << i;

  memset(bitmap, 0, bytes);
  ASSERT_EQ(0, get_dirty_bitmap(fd, hwpt, kIova, len, kMockPage, bitmap, flags));
  const bool kept = flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR;
  for (uint64_t i = 0; i < nbits; i++)
    ASSERT_EQ(kept && i % pteset == 0, bool(bitmap[i / 8] & (1u << (i % 8)))) << "bit " << i;
}

TEST_F(SelftestDirty, BitmapsAtUnalignedUserAddresses) {
  ASSERT_EQ(0, set_dirty_tracking(fd, hwpt, true));
  // Room for the bitmap at every offset tried, with guard bytes after it.
  Buffer bm(2 * kPage + kBits / 8 + kPage);
  for (uint32_t flags : {0u, uint32_t(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)}) {
    for (uint64_t off : {uint64_t(0), uint64_t(1), kMockPage, uint64_t(0xff1)}) {
      SCOPED_TRACE(testing::Message() << "offset " << off << " flags " << flags);
      uint8_t *bitmap = bm.get() + off;
      const uint64_t guard_at = (kBits + 7) / 8;
      memset(bitmap + guard_at, 0xa5, 8);
      mock_dirty_bitmaps(fd, hwpt, kLen, bitmap, kBits, flags);
      for (int g = 0; g < 8; g++) ASSERT_EQ(0xa5, bitmap[guard_at + g]) << "guard byte " << g;
      // Leave the domain clean for the next round.
      ASSERT_EQ(0, get_dirty_bitmap(fd, hwpt, kIova, kLen, kMockPage, bitmap, 0));
    }
  }
}

TEST_F(SelftestDirty, HugePagesAreReportedWhole) {
  const unsigned long v0 = mock_violations();
  Iommufd f2;
  uint32_t ioas2 = f2.ioas();
  MockDevice hd;
  ASSERT_EQ(0, f2.mock_domain(ioas2, &hd, MOCK_FLAGS_DEVICE_HUGE_IOVA));
  // 2 MiB of 2 MiB-aligned user memory, mapped at a 1 MiB-aligned IOVA.
  const uint64_t len = 2ULL << 20;
  Buffer raw(2 * len);
  uint8_t *p = reinterpret_cast<uint8_t *>(align_up(reinterpret_cast<uint64_t>(raw.get()), len));
  memset(p, 1, len);
  ASSERT_EQ(0, f2.map_fixed(ioas2, p, len, kIova));
  uint32_t h = 0;
  ASSERT_EQ(0, f2.hwpt_alloc(hd.idev_id, ioas2, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &h));
  mock_iommu_domain *d = mock_domain_of(f2, h);
  ASSERT_NE(nullptr, d);
  ASSERT_TRUE(d->entry(kIova) & MOCK_PFN_HUGE_IOVA);
  ASSERT_EQ(0, set_dirty_tracking(f2, h, true));

  const uint64_t nbits = len / kMockPage;  // 1024: two huge PTEs of 512
  std::vector<uint8_t> bitmap(nbits / 8, 0);
  bitmap[600 / 8] = uint8_t(1u << (600 % 8));  // one 2 KiB entry of the second PTE
  uint64_t n = 0;
  ASSERT_EQ(0, mock_set_dirty(f2, h, kIova, len, kMockPage, bitmap.data(), &n));
  EXPECT_EQ(1u, n);
  std::fill(bitmap.begin(), bitmap.end(), 0);
  ASSERT_EQ(0, get_dirty_bitmap(f2, h, kIova, len, kMockPage, bitmap.data(), 0));
  for (uint64_t i = 0; i < nbits; i++)
    ASSERT_EQ(i >= 512, bool(bitmap[i / 8] & (1u << (i % 8)))) << "bit " << i;
  EXPECT_EQ(v0, mock_violations());
}

// --- page faults ---

TEST(SelftestOps, TriggerIopfChecks) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  EXPECT_EQ(ENOENT, trigger_iopf(fd, 99, 0, 1, 0, 0x1000));
  EXPECT_EQ(ENOENT, trigger_iopf(fd, md.stdev_id, 0, 1, 0, 0x1000));
  // Attached to a domain without a fault queue: the fault is refused at
  // once with INVALID, and the ioctl still succeeds.
  EXPECT_EQ(0, trigger_iopf(fd, md.idev_id, 0, 3, IOMMU_PGFAULT_PERM_READ, 0x1000));
  auto r = mock_dev_of(fd, md.idev_id)->page_responses();
  ASSERT_EQ(1u, r.size());
  EXPECT_EQ(3u, r[0].msg.grpid);
  EXPECT_EQ(iommu_page_response_code::invalid, r[0].msg.code);
  EXPECT_EQ(0x1000u, r[0].evt.prm.addr);
  EXPECT_EQ(uint32_t(IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE), r[0].evt.prm.flags);
  EXPECT_EQ(0, trigger_iopf(fd, md.idev_id, 5, 4, 0, 0x2000));
  r = mock_dev_of(fd, md.idev_id)->page_responses();
  ASSERT_EQ(2u, r.size());
  EXPECT_EQ(uint32_t(IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE | IOMMU_FAULT_PAGE_REQUEST_PASID_VALID),
            r[1].evt.prm.flags);
  EXPECT_EQ(5u, r[1].msg.pasid);
}

// A device that is not on the mock bus, behind an IOMMU that accepts it.
class plain_driver final : public iommu_driver {
 public:
  class nop_domain final : public iommu_domain {
   public:
    explicit nop_domain(const iommu_driver *d) {
      owner = d;
      type = iommu_domain_type::blocked;
    }
    int attach_dev(device &) override { return 0; }
  };
  plain_driver() : blocking_(this) {}
  const char *name() const override { return "plain"; }
  bool capable(const device &, iommu_cap c) const override {
    return c == iommu_cap::cache_coherency;
  }
  err_or<iommu_domain> domain_alloc_paging(device *) override {
    return err_or<iommu_domain>::error(-EOPNOTSUPP);
  }
  iommu_domain *default_domain(device &) override { return &blocking_; }
  iommu_domain *blocked_domain(device &) override { return &blocking_; }

 private:
  nop_domain blocking_;
};

TEST(SelftestOps, TriggerIopfOnANonMockDeviceIsEINVAL) {
  Iommufd fd;
  plain_driver drv;
  device dev("plain0");
  ASSERT_EQ(0, iommu_probe_device(dev, drv));
  uint32_t id = 0;
  auto idev = iommufd_device_bind(ctx_of(fd), &dev, &id);
  ASSERT_FALSE(idev.is_err()) << idev.err();
  EXPECT_EQ(EINVAL, trigger_iopf(fd, id, 0, 1, 0, 0));
  iommufd_device_unbind(idev.get());
  iommu_release_device(dev);
}

TEST(SelftestOps, ClosingTheIommufdFirstLeavesAccessFdUsable) {
  const int dev_id = next_mock_dev_id();
  auto *fd = new Iommufd;
  uint32_t ioas = fd->ioas();
  MockDevice md;
  ASSERT_EQ(0, fd->mock_domain(ioas, &md));
  Buffer buf(2 * kPage);
  buf.fill(4);
  ASSERT_EQ(0, fd->map_fixed(ioas, buf.get(), 2 * kPage, kIova));
  int afd = -1;
  ASSERT_EQ(0, create_access(*fd, ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &afd));
  ASSERT_EQ(0, access_pages(*fd, afd, kIova, kPage, buf.get(), 0, nullptr));
  // The access holds the context: closing the iommufd releases nothing yet.
  EXPECT_EQ(0, fd->close());
  delete fd;
  EXPECT_NE(dev_id, next_mock_dev_id());
  // The access fd works from any iommufd, and its IOAS is still there.
  Iommufd other;
  uint8_t tmp[16];
  EXPECT_EQ(0, access_rw(other, afd, kIova, tmp, sizeof(tmp), 0));
  EXPECT_EQ(0, memcmp(tmp, buf.get(), sizeof(tmp)));
  // The last reference goes with the access fd: everything is destroyed,
  // the mock device with its selftest object.
  EXPECT_EQ(0, iommusim_close(afd));
  EXPECT_EQ(dev_id, next_mock_dev_id());
  EXPECT_EQ(EBADF, errno_of(iommusim_close(afd)));
  Iommufd check;
  EXPECT_EQ(0, check.check_refs(buf.get(), 2 * kPage, 0));
}

}  // namespace
}  // namespace iommusim::test
