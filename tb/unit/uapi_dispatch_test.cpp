// SPDX-License-Identifier: MIT
// The ioctl entry and the object table, through the C API: size-extension
// rules, unknown commands, bad pointers, fds the library does not own, object
// IDs, EBUSY on referenced objects, close destroying everything.
#include <fcntl.h>
#include <linux/vfio.h>
#include <poll.h>

#include "core/iommufd_private.h"
#include "core/log.h"
#include "iommufd_test_util.h"

using namespace iommusim::test;

namespace {

// Every iommufd ioctl, its struct size and the end of its last mandatory field.
struct ioctl_case {
  const char *name;
  unsigned long request;
  size_t size;
  size_t min_size;
};
#define CASE(req, st, last) {#req, req, sizeof(st), IOMMUSIM_OFFSETOFEND(st, last)}
const ioctl_case kIoctls[] = {
    CASE(IOMMU_DESTROY, iommu_destroy, id),
    CASE(IOMMU_IOAS_ALLOC, iommu_ioas_alloc, out_ioas_id),
    CASE(IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, allowed_iovas),
    CASE(IOMMU_IOAS_COPY, iommu_ioas_copy, src_iova),
    CASE(IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, out_iova_alignment),
    CASE(IOMMU_IOAS_MAP, iommu_ioas_map, iova),
    CASE(IOMMU_IOAS_UNMAP, iommu_ioas_unmap, length),
    CASE(IOMMU_OPTION, iommu_option, val64),
    CASE(IOMMU_VFIO_IOAS, iommu_vfio_ioas, __reserved),
    CASE(IOMMU_HWPT_ALLOC, iommu_hwpt_alloc, __reserved),
    CASE(IOMMU_GET_HW_INFO, iommu_hw_info, __reserved),
    CASE(IOMMU_HWPT_SET_DIRTY_TRACKING, iommu_hwpt_set_dirty_tracking, __reserved),
    CASE(IOMMU_HWPT_GET_DIRTY_BITMAP, iommu_hwpt_get_dirty_bitmap, data),
    CASE(IOMMU_HWPT_INVALIDATE, iommu_hwpt_invalidate, __reserved),
    CASE(IOMMU_FAULT_QUEUE_ALLOC, iommu_fault_alloc, out_fault_fd),
    CASE(IOMMU_TEST_CMD, iommu_test_cmd, last),
};
#undef CASE

// A fault queue's fd holds the context; close the ones the sweep creates.
void close_created_fd(unsigned long request, int rc, const uint8_t *buf) {
  if (request == IOMMU_FAULT_QUEUE_ALLOC && rc == 0) {
    EXPECT_EQ(0, iommusim_close(reinterpret_cast<const iommu_fault_alloc *>(buf)->out_fault_fd));
  }
}

TEST(UapiDispatch, SizeExtensionRules) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  for (const auto &c : kIoctls) {
    SCOPED_TRACE(c.name);
    alignas(8) uint8_t buf[512] = {};
    ASSERT_LT(c.size + 8, sizeof(buf));
    auto set_size = [&](uint32_t s) { memcpy(buf, &s, sizeof(s)); };
    // One byte short of the mandatory part: EINVAL before anything else.
    set_size(static_cast<uint32_t>(c.min_size - 1));
    EXPECT_EQ(EINVAL, fd.ioctl(c.request, buf));
    // A longer struct whose unknown tail is not zero: E2BIG.
    set_size(static_cast<uint32_t>(c.size + 1));
    buf[c.size] = 0xff;
    EXPECT_EQ(E2BIG, fd.ioctl(c.request, buf));
    // The same longer struct with a zero tail behaves as the exact size.
    buf[c.size] = 0;
    set_size(static_cast<uint32_t>(c.size));
    int exact = fd.ioctl(c.request, buf);
    close_created_fd(c.request, exact, buf);
    memset(buf + 4, 0, sizeof(buf) - 4);
    set_size(static_cast<uint32_t>(c.size + 1));
    int extended = fd.ioctl(c.request, buf);
    close_created_fd(c.request, extended, buf);
    EXPECT_EQ(exact, extended);
  }
}

TEST(UapiDispatch, UnknownCommandsAndBadPointers) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  iommu_destroy cmd = {sizeof(cmd), 0};
  EXPECT_EQ(ENOENT, fd.ioctl(IOMMU_DESTROY, &cmd));
  EXPECT_EQ(EFAULT, fd.ioctl(IOMMU_DESTROY, nullptr));
  EXPECT_EQ(EFAULT, fd.ioctl(IOMMU_IOAS_ALLOC, reinterpret_cast<void *>(0x10)));
  // Below the iommufd range: the VFIO compat path, which does not know it.
  EXPECT_EQ(ENOTTY, fd.ioctl(_IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE - 1), &cmd));
  // Inside the range but not a command.
  EXPECT_EQ(ENOTTY, fd.ioctl(_IO(IOMMUFD_TYPE, 0x8f), &cmd));
  // Right number, wrong type or direction bits.
  EXPECT_EQ(ENOTTY, fd.ioctl(_IOW(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY, int), &cmd));
  // Reserved and flag fields are checked: EOPNOTSUPP.
  iommu_ioas_alloc alloc = {sizeof(alloc), 1, 0};
  EXPECT_EQ(EOPNOTSUPP, fd.ioctl(IOMMU_IOAS_ALLOC, &alloc));
}

TEST(UapiDispatch, ForeignFdsAreEbadfAndUntouched) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  int p[2];
  ASSERT_EQ(0, pipe(p));
  iommu_ioas_alloc alloc = {sizeof(alloc), 0, 0};
  EXPECT_EQ(-1, iommusim_ioctl(p[0], IOMMU_IOAS_ALLOC, &alloc));
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ(-1, iommusim_close(p[1]));
  EXPECT_EQ(EBADF, errno);
  char c = 'x';
  EXPECT_EQ(-1, iommusim_read(p[0], &c, 1));
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ(0, iommusim_owns_fd(p[0]));
  // The pipe still works: nothing was closed or consumed.
  ASSERT_EQ(1, write(p[1], "y", 1));
  ASSERT_EQ(1, read(p[0], &c, 1));
  EXPECT_EQ('y', c);
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(-1, iommusim_close(12345));
  EXPECT_EQ(EBADF, errno);
}

TEST(UapiDispatch, DescriptorsAreRealAndDistinct) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd a, b;
  ASSERT_GE(a.fd, 0);
  ASSERT_GE(b.fd, 0);
  EXPECT_NE(a.fd, b.fd);
  // A real kernel fd, close-on-exec, that poll() accepts.
  EXPECT_EQ(FD_CLOEXEC, fcntl(a.fd, F_GETFD) & FD_CLOEXEC);
  struct pollfd pfd = {a.fd, POLLOUT, 0};
  EXPECT_EQ(1, iommusim_poll(&pfd, 1, 0));
  EXPECT_TRUE(pfd.revents & POLLOUT);
  EXPECT_EQ(1, iommusim_owns_fd(a.fd));
  int num = a.fd;
  EXPECT_EQ(0, a.close());
  EXPECT_EQ(0, iommusim_owns_fd(num));
  EXPECT_EQ(-1, iommusim_close(num));
  EXPECT_EQ(EBADF, errno);
}

TEST(UapiDispatch, IdsStartAtOneAndTheLowestFreeIsReused) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  EXPECT_EQ(1u, fd.ioas());
  EXPECT_EQ(2u, fd.ioas());
  EXPECT_EQ(3u, fd.ioas());
  EXPECT_EQ(0, fd.destroy(2));
  EXPECT_EQ(ENOENT, fd.destroy(2));
  EXPECT_EQ(2u, fd.ioas());
  EXPECT_EQ(0, fd.destroy(1));
  EXPECT_EQ(0, fd.destroy(3));
  EXPECT_EQ(1u, fd.ioas());
  EXPECT_EQ(3u, fd.ioas());
  // IDs are per context.
  Iommufd other;
  EXPECT_EQ(1u, other.ioas());
}

TEST(UapiDispatch, ReferencedObjectsAreBusy) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice dev;
  ASSERT_EQ(0, fd.mock_domain(ioas, &dev));
  // The selftest object, then the device binding, then the automatic HWPT.
  EXPECT_EQ(2u, dev.stdev_id);
  EXPECT_EQ(3u, dev.idev_id);
  EXPECT_EQ(4u, dev.hwpt_id);
  // The IOAS backs the device's HWPT; the HWPT backs the device.
  EXPECT_EQ(EBUSY, fd.destroy(ioas));
  EXPECT_EQ(EBUSY, fd.destroy(dev.hwpt_id));
  // The device object is owned by its driver (the selftest object).
  EXPECT_EQ(EBUSY, fd.destroy(dev.idev_id));
  EXPECT_EQ(0, fd.destroy(dev.stdev_id));
  // The automatic HWPT went with its last device.
  EXPECT_EQ(ENOENT, fd.destroy(dev.hwpt_id));
  EXPECT_EQ(0, fd.destroy(ioas));
}

TEST(UapiDispatch, CloseDestroysEverythingAndUnpins) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Buffer buf(16 * kPage);
  ASSERT_NE(nullptr, buf.get());
  {
    Iommufd fd;
    uint32_t ioas = fd.ioas();
    MockDevice dev;
    ASSERT_EQ(0, fd.mock_domain(ioas, &dev));
    uint64_t iova = 0;
    ASSERT_EQ(0, fd.map(ioas, buf.get(), buf.size(), &iova));
    EXPECT_EQ(0, fd.check_refs(buf.get(), buf.size(), 1));
    uint32_t ioas2 = fd.ioas();
    ASSERT_EQ(0, fd.copy(ioas2, iova, ioas, iova, buf.size()));
    EXPECT_EQ(0, fd.close());
  }
  Iommufd check;
  EXPECT_EQ(0, check.check_refs(buf.get(), buf.size(), 0));
  EXPECT_EQ(warns_before, iommusim::iommufd::warn_count());
}

TEST(UapiDispatch, ObjectsAreInvisibleUntilFinalized) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  using namespace iommusim::iommufd;
  iommufd_ctx *ictx = iommufd_ctx_create(false);
  auto ioas = iommufd_ioas_alloc(ictx);
  ASSERT_FALSE(ioas.is_err());
  EXPECT_EQ(1u, ioas->id);
  // Reserved: lookups fail and the ID is not handed out twice.
  EXPECT_EQ(-ENOENT, iommufd_get_object(ictx, 1, iommufd_object_type::any).err());
  auto second = iommufd_ioas_alloc(ictx);
  ASSERT_FALSE(second.is_err());
  EXPECT_EQ(2u, second->id);
  iommufd_object_finalize(ictx, ioas.get());
  auto got = iommufd_get_object(ictx, 1, iommufd_object_type::ioas);
  ASSERT_FALSE(got.is_err());
  EXPECT_EQ(-ENOENT, iommufd_get_object(ictx, 1, iommufd_object_type::device).err());
  iommufd_put_object(ictx, got.get());
  iommufd_object_abort_and_destroy(ictx, second.get());
  // The aborted ID is free again.
  auto third = iommufd_ioas_alloc(ictx);
  EXPECT_EQ(2u, third->id);
  iommufd_object_abort_and_destroy(ictx, third.get());
  ictx->put();
  EXPECT_EQ(warns_before, warn_count());
}

TEST(UapiDispatch, Options) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  iommu_option cmd = {};
  cmd.size = sizeof(cmd);
  cmd.option_id = IOMMU_OPTION_RLIMIT_MODE;
  cmd.op = IOMMU_OPTION_OP_GET;
  cmd.val64 = 7;
  ASSERT_EQ(0, fd.ioctl(IOMMU_OPTION, &cmd));
  EXPECT_EQ(0u, cmd.val64);
  cmd.op = IOMMU_OPTION_OP_SET;
  cmd.val64 = 1;
  if (geteuid() == 0) {
    ASSERT_EQ(0, fd.ioctl(IOMMU_OPTION, &cmd));
    cmd.val64 = 2;
    EXPECT_EQ(EINVAL, fd.ioctl(IOMMU_OPTION, &cmd));
    cmd.op = IOMMU_OPTION_OP_GET;
    ASSERT_EQ(0, fd.ioctl(IOMMU_OPTION, &cmd));
    EXPECT_EQ(1u, cmd.val64);
    // Only while the context holds no objects.
    fd.ioas();
    cmd.op = IOMMU_OPTION_OP_SET;
    cmd.val64 = 0;
    EXPECT_EQ(EBUSY, fd.ioctl(IOMMU_OPTION, &cmd));
  }
  cmd.object_id = 1;
  EXPECT_EQ(EOPNOTSUPP, fd.ioctl(IOMMU_OPTION, &cmd));  // the rlimit mode is global
  cmd.option_id = 77;
  EXPECT_EQ(EOPNOTSUPP, fd.ioctl(IOMMU_OPTION, &cmd));
  cmd.option_id = IOMMU_OPTION_HUGE_PAGES;
  cmd.object_id = 0;
  cmd.op = IOMMU_OPTION_OP_GET;
  EXPECT_EQ(ENOENT, fd.ioctl(IOMMU_OPTION, &cmd));
  cmd.__reserved = 1;
  EXPECT_EQ(EOPNOTSUPP, fd.ioctl(IOMMU_OPTION, &cmd));
}

}  // namespace
