// SPDX-License-Identifier: MIT
// Helpers for the mock IOMMU, IOMMU_TEST_CMD and fault-queue tests: the test
// ops that iommufd_test_util.h does not wrap (0 or errno, as there), and a way
// to look inside the mock objects behind user-visible IDs, which a test needs
// to see what the "hardware" holds.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/iommufd_private.h"
#include "drivers/mock/mock_iommu.h"
#include "iommufd_test_util.h"

namespace iommusim::test {

using iommufd::mock_device;
using iommufd::mock_iommu_domain;
using iommufd::mock_iommu_domain_nested;

// --- test ops ---

inline int test_op(const Iommufd &fd, iommu_test_cmd *cmd) {
  cmd->size = sizeof(*cmd);
  return fd.ioctl(IOMMU_TEST_CMD, cmd);
}

inline int mock_domain_replace(const Iommufd &fd, uint32_t stdev_id, uint32_t pt_id,
                               uint32_t *out_pt = nullptr) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE;
  cmd.id = stdev_id;
  cmd.mock_domain_replace.pt_id = pt_id;
  int rc = test_op(fd, &cmd);
  if (!rc && out_pt) *out_pt = cmd.mock_domain_replace.pt_id;
  return rc;
}

inline int create_access(const Iommufd &fd, uint32_t ioas_id, uint32_t flags, int *access_fd) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_CREATE_ACCESS;
  cmd.id = ioas_id;
  cmd.create_access.flags = flags;
  int rc = test_op(fd, &cmd);
  if (!rc) *access_fd = static_cast<int>(cmd.create_access.out_access_fd);
  return rc;
}

inline int access_pages(const Iommufd &fd, int access_fd, uint64_t iova, uint64_t len,
                        const void *uptr, uint32_t flags, uint32_t *item_id) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_ACCESS_PAGES;
  cmd.id = static_cast<uint32_t>(access_fd);
  cmd.access_pages.flags = flags;
  cmd.access_pages.iova = iova;
  cmd.access_pages.length = len;
  cmd.access_pages.uptr = reinterpret_cast<uint64_t>(uptr);
  int rc = test_op(fd, &cmd);
  if (!rc && item_id) *item_id = cmd.access_pages.out_access_pages_id;
  return rc;
}

inline int destroy_access_pages(const Iommufd &fd, int access_fd, uint32_t item_id) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_DESTROY_ACCESS_PAGES;
  cmd.id = static_cast<uint32_t>(access_fd);
  cmd.destroy_access_pages.access_pages_id = item_id;
  return test_op(fd, &cmd);
}

inline int access_rw(const Iommufd &fd, int access_fd, uint64_t iova, void *buf, uint64_t len,
                     uint32_t flags) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_ACCESS_RW;
  cmd.id = static_cast<uint32_t>(access_fd);
  cmd.access_rw.iova = iova;
  cmd.access_rw.length = len;
  cmd.access_rw.uptr = reinterpret_cast<uint64_t>(buf);
  cmd.access_rw.flags = flags;
  return test_op(fd, &cmd);
}

inline int access_replace_ioas(const Iommufd &fd, int access_fd, uint32_t ioas_id) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_ACCESS_REPLACE_IOAS;
  cmd.id = static_cast<uint32_t>(access_fd);
  cmd.access_replace_ioas.ioas_id = ioas_id;
  return test_op(fd, &cmd);
}

inline int set_temp_memory_limit(const Iommufd &fd, uint32_t limit) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT;
  cmd.memory_limit.limit = limit;
  return test_op(fd, &cmd);
}

inline int check_iotlb(const Iommufd &fd, uint32_t hwpt_id, uint32_t iotlb_id, uint32_t value) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_MD_CHECK_IOTLB;
  cmd.id = hwpt_id;
  cmd.check_iotlb.id = iotlb_id;
  cmd.check_iotlb.iotlb = value;
  return test_op(fd, &cmd);
}

inline int mock_set_dirty(const Iommufd &fd, uint32_t hwpt_id, uint64_t iova, uint64_t len,
                          uint64_t page_size, const void *bitmap, uint64_t *nr_dirty) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_DIRTY;
  cmd.id = hwpt_id;
  cmd.dirty.iova = iova;
  cmd.dirty.length = len;
  cmd.dirty.page_size = page_size;
  cmd.dirty.uptr = reinterpret_cast<uint64_t>(bitmap);
  int rc = test_op(fd, &cmd);
  if (!rc && nr_dirty) *nr_dirty = cmd.dirty.out_nr_dirty;
  return rc;
}

inline int trigger_iopf(const Iommufd &fd, uint32_t dev_id, uint32_t pasid, uint32_t grpid,
                        uint32_t perm, uint64_t addr) {
  iommu_test_cmd cmd = {};
  cmd.op = IOMMU_TEST_OP_TRIGGER_IOPF;
  cmd.trigger_iopf.dev_id = dev_id;
  cmd.trigger_iopf.pasid = pasid;
  cmd.trigger_iopf.grpid = grpid;
  cmd.trigger_iopf.perm = perm;
  cmd.trigger_iopf.addr = addr;
  return test_op(fd, &cmd);
}

inline int hwpt_invalidate(const Iommufd &fd, uint32_t hwpt_id, const void *reqs,
                           uint32_t data_type, uint32_t entry_len, uint32_t *entry_num) {
  iommu_hwpt_invalidate cmd = {};
  cmd.size = sizeof(cmd);
  cmd.hwpt_id = hwpt_id;
  cmd.data_uptr = reinterpret_cast<uint64_t>(reqs);
  cmd.data_type = data_type;
  cmd.entry_len = entry_len;
  cmd.entry_num = *entry_num;
  int rc = fd.ioctl(IOMMU_HWPT_INVALIDATE, &cmd);
  *entry_num = cmd.entry_num;
  return rc;
}

inline int set_dirty_tracking(const Iommufd &fd, uint32_t hwpt_id, bool enable) {
  iommu_hwpt_set_dirty_tracking cmd = {};
  cmd.size = sizeof(cmd);
  cmd.flags = enable ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0;
  cmd.hwpt_id = hwpt_id;
  return fd.ioctl(IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
}

inline int get_dirty_bitmap(const Iommufd &fd, uint32_t hwpt_id, uint64_t iova, uint64_t len,
                            uint64_t page_size, void *bitmap, uint32_t flags) {
  iommu_hwpt_get_dirty_bitmap cmd = {};
  cmd.size = sizeof(cmd);
  cmd.hwpt_id = hwpt_id;
  cmd.flags = flags;
  cmd.iova = iova;
  cmd.length = len;
  cmd.page_size = page_size;
  cmd.data = reinterpret_cast<uint64_t>(bitmap);
  return fd.ioctl(IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

inline int fault_alloc(const Iommufd &fd, uint32_t *fault_id, int *fault_fd, uint32_t flags = 0) {
  iommu_fault_alloc cmd = {};
  cmd.size = sizeof(cmd);
  cmd.flags = flags;
  int rc = fd.ioctl(IOMMU_FAULT_QUEUE_ALLOC, &cmd);
  if (!rc) {
    *fault_id = cmd.out_fault_id;
    *fault_fd = static_cast<int>(cmd.out_fault_fd);
  }
  return rc;
}

// --- looking inside ---

// The context behind an iommufd; valid while the fd stays open.
inline iommufd::iommufd_ctx *ctx_of(const Iommufd &fd) {
  iommufd::file *f = iommufd::fd_table::get().fget(fd.fd);
  if (!f) return nullptr;
  auto *ictx = dynamic_cast<iommufd::iommufd_ctx *>(f);
  f->put();
  return ictx;
}

// The object with id (of type t); valid while the object exists.
template <typename T>
T *object_of(const Iommufd &fd, uint32_t id, iommufd::iommufd_object_type t) {
  iommufd::iommufd_ctx *ictx = ctx_of(fd);
  if (!ictx) return nullptr;
  auto obj = iommufd::iommufd_get_object(ictx, id, t);
  if (obj.is_err()) return nullptr;
  iommufd::iommufd_put_object(ictx, obj.get());
  return static_cast<T *>(obj.get());
}

inline mock_iommu_domain *mock_domain_of(const Iommufd &fd, uint32_t hwpt_id) {
  auto *hwpt = object_of<iommufd::iommufd_hw_pagetable>(fd, hwpt_id,
                                                        iommufd::iommufd_object_type::hwpt_paging);
  return hwpt ? dynamic_cast<mock_iommu_domain *>(hwpt->domain) : nullptr;
}

inline mock_iommu_domain_nested *mock_nested_of(const Iommufd &fd, uint32_t hwpt_id) {
  auto *hwpt = object_of<iommufd::iommufd_hw_pagetable>(fd, hwpt_id,
                                                        iommufd::iommufd_object_type::hwpt_nested);
  return hwpt ? dynamic_cast<mock_iommu_domain_nested *>(hwpt->domain) : nullptr;
}

inline mock_device *mock_dev_of(const Iommufd &fd, uint32_t idev_id) {
  auto *idev =
      object_of<iommufd::iommufd_device>(fd, idev_id, iommufd::iommufd_object_type::device);
  return idev ? iommufd::to_mock_device(idev->dev) : nullptr;
}

// The frame behind a user address of this process, or 0 if none.
inline iommufd::pfn_t frame_of(const void *p) {
  iommufd::pfn_t pfn = 0;
  if (!iommufd::host_memory::get().lookup_pfn(*iommufd::process_task().mm,
                                              reinterpret_cast<uint64_t>(p), &pfn))
    return 0;
  return pfn;
}

// The expected mock table entry PFN field for user address p.
inline uint64_t mock_pfn_of(const void *p) {
  return (frame_of(p) * kPage + reinterpret_cast<uint64_t>(p) % kPage) / kMockPage;
}

}  // namespace iommusim::test
