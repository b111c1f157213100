// SPDX-License-Identifier: MIT
// iommufd's objects and their invariants. This re-implements the design of
// Linux 6.12 drivers/iommu/iommufd (iommufd_private.h); the behaviour visible
// through the uAPI — validation order, errnos, object IDs, refcount rules — is
// the kernel's, so a program or test written for /dev/iommu sees no difference.
//
// Objects
//  - Every object has an ID from 1 upward in its context; the lowest free ID is
//    reused. An ID is reserved by iommufd_object_alloc() but the object stays
//    invisible (lookups fail with ENOENT) until iommufd_object_finalize().
//    Creation must do every step that can fail before finalize; on failure
//    iommufd_object_abort[_and_destroy]() releases the ID.
//  - users counts long-term references: 1 for the table, +1 for each object
//    that depends on this one (a HWPT on its IOAS, a device attached to a
//    HWPT, ...), +1 for a driver that owns it (device, access). DESTROY
//    succeeds only when users == 1; otherwise EBUSY.
//  - shortterm_users counts in-flight ioctls holding the object (get/put);
//    destroying a driver-owned object waits for them to drain.
//  - Closing the iommufd destroys every object, leaves first.
//
// Lock order (outermost first):
//   ioas::mutex -> igroup::lock -> io_pagetable::domains_rwsem ->
//   io_pagetable::iova_rwsem -> iopt_pages::mutex -> host_memory
// access::ioas_lock is taken before io_pagetable locks; ctx::objects_lock is a
// leaf (never held while calling out).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "io_pagetable.h"
#include "iommu.h"
#include "iommusim/iommufd.h"
#include "mm.h"
#include "util.h"
#include "vfs.h"

namespace iommusim::iommufd {

struct iommufd_ctx;
struct iommufd_ioas;
struct iommufd_device;
struct iommufd_fault;

enum class iommufd_object_type : uint8_t {
  any = 0,
  device,
  hwpt_paging,
  hwpt_nested,
  ioas,
  access,
  fault,
  selftest,
};

// Base of every object that has a user-visible ID.
struct iommufd_object {
  explicit iommufd_object(iommufd_object_type t) : type(t) {}
  virtual ~iommufd_object() = default;
  iommufd_object(const iommufd_object &) = delete;
  iommufd_object &operator=(const iommufd_object &) = delete;

  // Release everything the object holds; called once, when users reached 0.
  virtual void destroy() = 0;
  // Undo a fully initialised but unfinalized object (defaults to destroy()).
  virtual void abort() { destroy(); }
  // A file whose release holds a users reference (the fault fd), closed
  // synchronously when such an object is aborted.
  virtual file *owned_file() { return nullptr; }

  std::atomic<int> shortterm_users{1};
  std::atomic<int> users{1};
  const iommufd_object_type type;
  uint32_t id = 0;
};

// Take a short-term reference on an object the caller can already see.
bool iommufd_lock_obj(iommufd_object *obj);

// One open of /dev/iommu.
struct iommufd_ctx final : public file {
  iommufd_ctx();
  long ioctl(unsigned int cmd, unsigned long arg) override;
  // /dev/iommu is a character device: pread/pwrite reach vfs_read/vfs_write,
  // which fail with EINVAL for want of a read/write op.
  ssize_t pread(uint64_t ubuf, size_t count, int64_t) override { return read(ubuf, count); }
  ssize_t pwrite(uint64_t ubuf, size_t count, int64_t) override { return write(ubuf, count); }
  void release() override;

  std::mutex objects_lock;  // xa_lock(&objects)
  // ID -> object; nullptr while reserved but not finalized.
  std::map<uint32_t, iommufd_object *> objects;
  std::map<int, struct iommufd_group *> groups;  // by iommu_group id
  std::condition_variable destroy_wait;

  uint8_t account_mode = 0;  // IOPT_PAGES_ACCOUNT_NONE until OPTION sets it
  uint8_t no_iommu_mode = 0;
  iommufd_ioas *vfio_ioas = nullptr;  // under objects_lock
};

// iommufd_ctx_get()/put(): references through the context's file.
void iommufd_ctx_get(iommufd_ctx *ictx);
void iommufd_ctx_put(iommufd_ctx *ictx);

// One ioctl in flight: the kernel copy of the user's struct (cmd), where it
// came from, and who called.
struct iommufd_ucmd {
  iommufd_ctx *ictx = nullptr;
  uint64_t ubuffer = 0;
  uint32_t user_size = 0;
  void *cmd = nullptr;
};
// Copy the (updated) command back to the user, truncated to their size.
int iommufd_ucmd_respond(iommufd_ucmd *ucmd, size_t cmd_len);

// --- object table (main.cpp) ---
err_or<iommufd_object> iommufd_object_alloc_raw(iommufd_ctx *ictx, iommufd_object *obj);
template <typename T, typename... Args>
err_or<T> iommufd_object_alloc(iommufd_ctx *ictx, Args &&...args) {
  T *obj = new T(std::forward<Args>(args)...);
  auto r = iommufd_object_alloc_raw(ictx, obj);
  if (r.is_err()) return err_or<T>::error(r.err());
  return obj;
}
void iommufd_object_finalize(iommufd_ctx *ictx, iommufd_object *obj);
void iommufd_object_abort(iommufd_ctx *ictx, iommufd_object *obj);
void iommufd_object_abort_and_destroy(iommufd_ctx *ictx, iommufd_object *obj);
err_or<iommufd_object> iommufd_get_object(iommufd_ctx *ictx, uint32_t id,
                                          iommufd_object_type type);
void iommufd_put_object(iommufd_ctx *ictx, iommufd_object *obj);
enum : unsigned { REMOVE_WAIT_SHORTTERM = 1 };
int iommufd_object_remove(iommufd_ctx *ictx, iommufd_object *to_destroy, uint32_t id,
                          unsigned flags);
// The caller holds a users reference and destroys the object (driver unbind).
void iommufd_object_destroy_user(iommufd_ctx *ictx, iommufd_object *obj);
// Drop a reference on an automatically managed object, destroying it if it
// was the last user besides the table.
void iommufd_object_put_and_try_destroy(iommufd_ctx *ictx, iommufd_object *obj);

template <typename T> err_or<T> iommufd_get(iommufd_ctx *ictx, uint32_t id, iommufd_object_type t) {
  auto r = iommufd_get_object(ictx, id, t);
  if (r.is_err()) return err_or<T>::error(r.err());
  return static_cast<T *>(r.get());
}

// --- IOAS (ioas.cpp) ---
struct iommufd_ioas final : public iommufd_object {
  iommufd_ioas() : iommufd_object(iommufd_object_type::ioas) {}
  void destroy() override;
  io_pagetable iopt;
  std::mutex mutex;  // protects hwpt_list and auto-domain selection
  std::list<struct iommufd_hwpt_paging *> hwpt_list;
};
err_or<iommufd_ioas> iommufd_ioas_alloc(iommufd_ctx *ictx);
inline err_or<iommufd_ioas> iommufd_get_ioas(iommufd_ctx *ictx, uint32_t id) {
  return iommufd_get<iommufd_ioas>(ictx, id, iommufd_object_type::ioas);
}
int iommufd_ioas_alloc_ioctl(iommufd_ucmd *ucmd);
int iommufd_ioas_iova_ranges(iommufd_ucmd *ucmd);
int iommufd_ioas_allow_iovas(iommufd_ucmd *ucmd);
int iommufd_ioas_map(iommufd_ucmd *ucmd);
int iommufd_ioas_copy(iommufd_ucmd *ucmd);
int iommufd_ioas_unmap(iommufd_ucmd *ucmd);
int iommufd_ioas_option(iommufd_ucmd *ucmd);
int iommufd_option_rlimit_mode(struct iommu_option *cmd, iommufd_ctx *ictx);
int iommufd_vfio_ioas(iommufd_ucmd *ucmd);

// --- HW page tables (hw_pagetable.cpp) ---
struct iommufd_hw_pagetable : public iommufd_object {
  using iommufd_object::iommufd_object;
  iommu_domain *domain = nullptr;
  iommufd_fault *fault = nullptr;
};

struct iommufd_hwpt_paging final : public iommufd_hw_pagetable {
  iommufd_hwpt_paging() : iommufd_hw_pagetable(iommufd_object_type::hwpt_paging) {}
  void destroy() override;
  void abort() override;
  iommufd_ioas *ioas = nullptr;
  bool auto_domain = false;
  bool enforce_cache_coherency = false;
  bool msi_cookie = false;
  bool nest_parent = false;
  bool in_hwpt_list = false;  // linked in ioas->hwpt_list
};

struct iommufd_hwpt_nested final : public iommufd_hw_pagetable {
  iommufd_hwpt_nested() : iommufd_hw_pagetable(iommufd_object_type::hwpt_nested) {}
  void destroy() override;
  iommufd_hwpt_paging *parent = nullptr;
};

inline bool hwpt_is_paging(iommufd_hw_pagetable *hwpt) {
  return hwpt->type == iommufd_object_type::hwpt_paging;
}
// The paging HWPT that provides the IOAS of hwpt (itself, or a nested HWPT's
// parent); nullptr for anything else.
iommufd_hwpt_paging *find_hwpt_paging(iommufd_hw_pagetable *hwpt);

err_or<iommufd_hwpt_paging> iommufd_hwpt_paging_alloc(iommufd_ctx *ictx, iommufd_ioas *ioas,
                                                      iommufd_device *idev, uint32_t pasid,
                                                      uint32_t flags, bool immediate_attach,
                                                      const iommu_user_data *user_data);
int iommufd_hw_pagetable_attach(iommufd_hw_pagetable *hwpt, iommufd_device *idev,
                                uint32_t pasid);
iommufd_hw_pagetable *iommufd_hw_pagetable_detach(iommufd_device *idev, uint32_t pasid);
// Drop the reference a device attachment held; auto domains die with it.
void iommufd_hw_pagetable_put(iommufd_ctx *ictx, iommufd_hw_pagetable *hwpt);
int iommufd_hwpt_alloc(iommufd_ucmd *ucmd);
int iommufd_hwpt_invalidate(iommufd_ucmd *ucmd);
int iommufd_hwpt_set_dirty_tracking(iommufd_ucmd *ucmd);
int iommufd_hwpt_get_dirty_bitmap(iommufd_ucmd *ucmd);

// --- devices (device.cpp) ---
// iommufd's per-iommu_group state within one context.
struct iommufd_group {
  std::atomic<int> ref{1};
  std::mutex lock;
  iommufd_ctx *ictx = nullptr;
  iommu_group *group = nullptr;
  iommufd_hw_pagetable *hwpt = nullptr;  // what the group is attached to
  std::list<iommufd_device *> device_list;
  uint64_t sw_msi_start = UINT64_MAX;    // PHYS_ADDR_MAX = none
};

// The binding of a physical device to a context (created by a driver such as
// the VFIO cdev or the selftest, not by an ioctl of its own).
struct iommufd_device final : public iommufd_object {
  iommufd_device() : iommufd_object(iommufd_object_type::device) {}
  void destroy() override;
  iommufd_ctx *ictx = nullptr;
  iommufd_group *igroup = nullptr;
  device *dev = nullptr;
  bool enforce_cache_coherency = false;
  std::mutex iopf_lock;
  unsigned iopf_enabled = 0;
};

// What iommufd attaches to a group: the attach handle remembers the device.
struct iommufd_attach_handle final : public iommu_attach_handle {
  iommufd_device *idev = nullptr;
};

inline err_or<iommufd_device> iommufd_get_device(iommufd_ucmd *ucmd, uint32_t id) {
  return iommufd_get<iommufd_device>(ucmd->ictx, id, iommufd_object_type::device);
}
// The in-kernel driver API (include/linux/iommufd.h).
err_or<iommufd_device> iommufd_device_bind(iommufd_ctx *ictx, device *dev, uint32_t *id);
void iommufd_device_unbind(iommufd_device *idev);
int iommufd_device_attach(iommufd_device *idev, uint32_t *pt_id);
int iommufd_device_replace(iommufd_device *idev, uint32_t *pt_id);
void iommufd_device_detach(iommufd_device *idev);
int iommufd_get_hw_info(iommufd_ucmd *ucmd);

// --- accesses (device.cpp): in-kernel users of an IOAS without an IOMMU ---
enum : unsigned {
  IOMMUFD_ACCESS_RW_READ = 0,
  IOMMUFD_ACCESS_RW_WRITE = 1 << 0,
  IOMMUFD_ACCESS_RW_KTHREAD = 1 << 1,
  IOMMUFD_ACCESS_RW_SLOW_PATH = 1 << 2,  // selftest: force the pfn_reader path
};
struct iommufd_access_ops {
  bool needs_pin_pages = false;
  // Called when [iova, iova + length) is being unmapped: the driver must
  // unpin every pin it holds there before returning.
  void (*unmap)(void *data, uint64_t iova, uint64_t length) = nullptr;
};
struct iommufd_access final : public iommufd_object {
  iommufd_access() : iommufd_object(iommufd_object_type::access) {}
  void destroy() override;
  iommufd_ctx *ictx = nullptr;
  iommufd_ioas *ioas = nullptr;        // nullptr blocks new pins
  iommufd_ioas *ioas_unpin = nullptr;  // where existing pins are released
  std::mutex ioas_lock;
  const iommufd_access_ops *ops = nullptr;
  void *data = nullptr;
  uint64_t iova_alignment = 1;
  uint32_t iopt_access_list_id = 0;
};
err_or<iommufd_access> iommufd_access_create(iommufd_ctx *ictx, const iommufd_access_ops *ops,
                                             void *data, uint32_t *id);
void iommufd_access_destroy(iommufd_access *access);
int iommufd_access_attach(iommufd_access *access, uint32_t ioas_id);
int iommufd_access_replace(iommufd_access *access, uint32_t ioas_id);
void iommufd_access_detach(iommufd_access *access);
int iommufd_access_pin_pages(iommufd_access *access, uint64_t iova, uint64_t length,
                             pfn_t *out_pages, unsigned flags);
void iommufd_access_unpin_pages(iommufd_access *access, uint64_t iova, uint64_t length);
int iommufd_access_rw(iommufd_access *access, uint64_t iova, void *data, size_t length,
                      unsigned flags);
void iommufd_access_notify_unmap(io_pagetable *iopt, uint64_t iova, uint64_t length);
int iopt_add_access(io_pagetable *iopt, iommufd_access *access);
void iopt_remove_access(io_pagetable *iopt, iommufd_access *access, uint32_t list_id);

// --- I/O page fault queues (fault.cpp) ---
struct iommufd_fault final : public iommufd_object {
  iommufd_fault() : iommufd_object(iommufd_object_type::fault) {}
  void destroy() override;
  file *owned_file() override { return filep; }
  iommufd_ctx *ictx = nullptr;
  file *filep = nullptr;
  std::mutex lock;                 // protects deliver
  std::list<iopf_group *> deliver;  // groups not yet read by the user
  std::mutex mutex;                // serialises read/write (response flow)
  std::map<uint32_t, iopf_group *> response;  // cookie -> group read, not answered
  uint32_t next_cookie = 0;
  std::condition_variable wait_queue;
};
inline err_or<iommufd_fault> iommufd_get_fault(iommufd_ucmd *ucmd, uint32_t id) {
  return iommufd_get<iommufd_fault>(ucmd->ictx, id, iommufd_object_type::fault);
}
int iommufd_fault_alloc(iommufd_ucmd *ucmd);
int iommufd_fault_iopf_handler(iopf_group *group);
int iommufd_fault_iopf_enable(iommufd_device *idev);
void iommufd_fault_iopf_disable(iommufd_device *idev);
void iommufd_auto_response_faults(iommufd_hw_pagetable *hwpt, iommufd_attach_handle *handle);

// --- VFIO type1 compatibility (vfio_compat.cpp) ---
long iommufd_vfio_ioctl(iommufd_ctx *ictx, unsigned int cmd, unsigned long arg);
int iommufd_vfio_compat_ioas_get_id(iommufd_ctx *ictx, uint32_t *out_ioas_id);
int iommufd_vfio_compat_ioas_create(iommufd_ctx *ictx);

// --- the selftest device (selftest.cpp, drivers/mock) ---
int iommufd_test(iommufd_ucmd *ucmd);
// Bytes of temporary memory a PFN batch may use (IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT).
extern std::atomic<size_t> iommufd_test_memory_limit;
// IOMMU_IOAS_COPY with MOCK_FLAGS_ACCESS_SYZ in *flags (syzkaller mode): clear
// the flag and return iova read as {u32 nth_area; u32 offset} into ioas_id's
// areas. Returns iova unchanged without the flag or if ioas_id is not an IOAS.
uint64_t iommufd_test_syz_conv_iova_id(iommufd_ucmd *ucmd, uint32_t ioas_id, uint64_t iova,
                                       uint32_t *flags);

// Account mode values (iopt_pages::account_mode, iommufd_ctx::account_mode).
enum : uint8_t {
  IOPT_PAGES_ACCOUNT_NONE = 0,
  IOPT_PAGES_ACCOUNT_USER = 1,
  IOPT_PAGES_ACCOUNT_MM = 2,
};

// Create a context as open("/dev/iommu") does; the caller owns one reference.
iommufd_ctx *iommufd_ctx_create(bool vfio_container_mode);

}  // namespace iommusim::iommufd
