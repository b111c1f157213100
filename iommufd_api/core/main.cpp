// SPDX-License-Identifier: MIT
// The iommufd context: object table, ioctl dispatch and close (the kernel's
// main.c). Object rules are stated in iommufd_private.h.
#include <linux/ioctl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "iommufd_private.h"
#include "iommusim/iommufd_test.h"
#include "log.h"

namespace iommusim::iommufd {

namespace {
// IDs are allocated in [1, INT32_MAX] (xa_limit_31b with ALLOC1).
constexpr uint32_t kMaxObjectId = 0x7fffffff;

uint32_t lowest_free_id(iommufd_ctx *ictx) {
  uint32_t id = 1;
  for (auto it = ictx->objects.begin(); it != ictx->objects.end() && it->first == id; ++it) id++;
  return id;
}
}  // namespace

bool iommufd_lock_obj(iommufd_object *obj) {
  if (!refcount_inc_not_zero(obj->users)) return false;
  if (!refcount_inc_not_zero(obj->shortterm_users)) {
    obj->users.fetch_sub(1);
    return false;
  }
  return true;
}

err_or<iommufd_object> iommufd_object_alloc_raw(iommufd_ctx *ictx, iommufd_object *obj) {
  std::lock_guard g(ictx->objects_lock);
  uint32_t id = lowest_free_id(ictx);
  if (id > kMaxObjectId) {
    delete obj;
    return err_or<iommufd_object>::error(-ENOSPC);
  }
  obj->id = id;
  // Reserved but not visible: lookups see nullptr until finalize.
  ictx->objects.emplace(id, nullptr);
  return obj;
}

void iommufd_object_finalize(iommufd_ctx *ictx, iommufd_object *obj) {
  std::lock_guard g(ictx->objects_lock);
  auto it = ictx->objects.find(obj->id);
  if (IOMMUSIM_WARN_ON(it == ictx->objects.end() || it->second)) return;
  it->second = obj;
}

void iommufd_object_abort(iommufd_ctx *ictx, iommufd_object *obj) {
  {
    std::lock_guard g(ictx->objects_lock);
    auto it = ictx->objects.find(obj->id);
    IOMMUSIM_WARN_ON(it == ictx->objects.end() || it->second);
    if (it != ictx->objects.end()) ictx->objects.erase(it);
  }
  delete obj;
}

void iommufd_object_abort_and_destroy(iommufd_ctx *ictx, iommufd_object *obj) {
  // A file created for the object holds a users reference that its release
  // drops; close it now (synchronously) so destroy sees a quiet object.
  if (file *f = obj->owned_file()) f->put();
  obj->abort();
  iommufd_object_abort(ictx, obj);
}

err_or<iommufd_object> iommufd_get_object(iommufd_ctx *ictx, uint32_t id,
                                          iommufd_object_type type) {
  std::lock_guard g(ictx->objects_lock);
  auto it = ictx->objects.find(id);
  if (it == ictx->objects.end() || !it->second) return err_or<iommufd_object>::error(-ENOENT);
  iommufd_object *obj = it->second;
  if ((type != iommufd_object_type::any && obj->type != type) || !iommufd_lock_obj(obj))
    return err_or<iommufd_object>::error(-ENOENT);
  return obj;
}

void iommufd_put_object(iommufd_ctx *ictx, iommufd_object *obj) {
  // users first, then shortterm, so a waiter never sees users != 0 with
  // shortterm == 0.
  obj->users.fetch_sub(1);
  if (refcount_dec_and_test(obj->shortterm_users)) {
    std::lock_guard g(ictx->objects_lock);
    ictx->destroy_wait.notify_all();
  }
}

namespace {
int dec_wait_shortterm(iommufd_ctx *ictx, iommufd_object *obj) {
  if (refcount_dec_and_test(obj->shortterm_users)) return 0;
  std::unique_lock g(ictx->objects_lock);
  if (ictx->destroy_wait.wait_for(g, std::chrono::seconds(60),
                                  [&] { return obj->shortterm_users.load() == 0; }))
    return 0;
  IOMMUSIM_WARN("timed out waiting for iommufd object %u to become free", obj->id);
  obj->shortterm_users.fetch_add(1);
  return -EBUSY;
}
}  // namespace

int iommufd_object_remove(iommufd_ctx *ictx, iommufd_object *to_destroy, uint32_t id,
                          unsigned flags) {
  bool zerod_shortterm = false;
  if (flags & REMOVE_WAIT_SHORTTERM) {
    int rc = dec_wait_shortterm(ictx, to_destroy);
    if (rc) {
      // A bug elsewhere: give back the caller's reference, clean up at close.
      to_destroy->users.fetch_sub(1);
      return rc;
    }
    zerod_shortterm = true;
  }

  iommufd_object *obj = nullptr;
  int rc = 0;
  {
    std::lock_guard g(ictx->objects_lock);
    auto it = ictx->objects.find(id);
    obj = it == ictx->objects.end() ? nullptr : it->second;
    if (to_destroy) {
      // The caller's reference is dropped here, under the lock.
      to_destroy->users.fetch_sub(1);
      if (IOMMUSIM_WARN_ON(obj != to_destroy)) {
        rc = -ENOENT;
        obj = to_destroy;
      }
    } else if (!obj) {
      return -ENOENT;
    }
    if (!rc && !refcount_dec_if_one(obj->users)) rc = -EBUSY;
    if (rc) {
      if (zerod_shortterm) obj->shortterm_users.store(1);  // the table's reference again
      return rc;
    }
    ictx->objects.erase(it);
    if (ictx->vfio_ioas && static_cast<iommufd_object *>(ictx->vfio_ioas) == obj)
      ictx->vfio_ioas = nullptr;
  }

  // users is zero: any short-term holder is racing its put; wait for it.
  if (!zerod_shortterm) {
    rc = dec_wait_shortterm(ictx, obj);
    if (IOMMUSIM_WARN_ON(rc)) return rc;
  }
  obj->destroy();
  delete obj;
  return 0;
}

void iommufd_object_destroy_user(iommufd_ctx *ictx, iommufd_object *obj) {
  int rc = iommufd_object_remove(ictx, obj, obj->id, REMOVE_WAIT_SHORTTERM);
  IOMMUSIM_WARN_ON(rc);
}

void iommufd_object_put_and_try_destroy(iommufd_ctx *ictx, iommufd_object *obj) {
  iommufd_object_remove(ictx, obj, obj->id, 0);
}

int iommufd_ucmd_respond(iommufd_ucmd *ucmd, size_t cmd_len) {
  if (current().mm->copy_to_user(ucmd->ubuffer, ucmd->cmd, std::min<size_t>(ucmd->user_size, cmd_len)))
    return -EFAULT;
  return 0;
}

void iommufd_ctx_get(iommufd_ctx *ictx) { ictx->get(); }
void iommufd_ctx_put(iommufd_ctx *ictx) { ictx->put(); }

iommufd_ctx::iommufd_ctx() = default;

iommufd_ctx *iommufd_ctx_create(bool vfio_container_mode) {
  auto *ictx = new iommufd_ctx();
  // /dev/vfio/vfio provided by iommufd accounts pins as VFIO does.
  if (vfio_container_mode) ictx->account_mode = IOPT_PAGES_ACCOUNT_MM;
  return ictx;
}

void iommufd_ctx::release() {
  // Objects form a graph of users counts; destroy the leaves (users == 1)
  // repeatedly until nothing is left. No progress means a refcount bug.
  for (;;) {
    // IDs, not pointers: destroying one object may destroy others (a device
    // takes its automatic HWPT with it), so a pointer may dangle by its turn.
    std::vector<uint32_t> batch;
    {
      std::lock_guard g(objects_lock);
      if (objects.empty()) break;
      for (auto &[id, obj] : objects)
        if (obj) batch.push_back(id);
    }
    unsigned destroyed = 0;
    for (uint32_t id : batch) {
      iommufd_object *obj;
      {
        std::lock_guard g(objects_lock);
        auto it = objects.find(id);
        if (it == objects.end() || !it->second) continue;  // destroyed meanwhile
        obj = it->second;
        if (!refcount_dec_if_one(obj->users)) continue;
        objects.erase(it);
        if (vfio_ioas == static_cast<void *>(obj)) vfio_ioas = nullptr;
      }
      obj->destroy();
      delete obj;
      destroyed++;
    }
    if (!destroyed) {
      IOMMUSIM_WARN("iommufd close: %zu objects still referenced", objects.size());
      break;
    }
  }
  IOMMUSIM_WARN_ON(!groups.empty());
}

// --- ioctl dispatch ---

namespace {

int iommufd_destroy(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_destroy *>(ucmd->cmd);
  return iommufd_object_remove(ucmd->ictx, nullptr, cmd->id, 0);
}

int iommufd_option(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_option *>(ucmd->cmd);
  if (cmd->__reserved) return -EOPNOTSUPP;
  int rc;
  switch (cmd->option_id) {
    case IOMMU_OPTION_RLIMIT_MODE:
      rc = iommufd_option_rlimit_mode(cmd, ucmd->ictx);
      break;
    case IOMMU_OPTION_HUGE_PAGES:
      rc = iommufd_ioas_option(ucmd);
      break;
    default:
      return -EOPNOTSUPP;
  }
  if (rc) return rc;
  if (current().mm->copy_to_user(ucmd->ubuffer + offsetof(iommu_option, val64), &cmd->val64,
                                 sizeof(cmd->val64)))
    return -EFAULT;
  return 0;
}

union ucmd_buffer {
  iommu_destroy destroy;
  iommu_fault_alloc fault;
  iommu_hw_info info;
  iommu_hwpt_alloc hwpt;
  iommu_hwpt_get_dirty_bitmap get_dirty_bitmap;
  iommu_hwpt_invalidate cache;
  iommu_hwpt_set_dirty_tracking set_dirty_tracking;
  iommu_ioas_alloc alloc;
  iommu_ioas_allow_iovas allow_iovas;
  iommu_ioas_copy ioas_copy;
  iommu_ioas_iova_ranges iova_ranges;
  iommu_ioas_map map;
  iommu_ioas_unmap unmap;
  iommu_option option;
  iommu_vfio_ioas vfio_ioas;
  iommu_test_cmd test;
};

struct ioctl_op {
  unsigned size = 0;
  unsigned min_size = 0;  // offsetofend of the last mandatory field
  unsigned ioctl_num = 0;
  int (*execute)(iommufd_ucmd *) = nullptr;
};

#define IOCTL_OP(_ioctl, _fn, _struct, _last) \
  ops[_IOC_NR(_ioctl) - IOMMUFD_CMD_BASE] =   \
      ioctl_op{sizeof(_struct), IOMMUSIM_OFFSETOFEND(_struct, _last), _ioctl, _fn}

const std::array<ioctl_op, 33> &ioctl_ops() {
  static const std::array<ioctl_op, 33> table = [] {
    std::array<ioctl_op, 33> ops{};
    IOCTL_OP(IOMMU_DESTROY, iommufd_destroy, iommu_destroy, id);
    IOCTL_OP(IOMMU_FAULT_QUEUE_ALLOC, iommufd_fault_alloc, iommu_fault_alloc, out_fault_fd);
    IOCTL_OP(IOMMU_GET_HW_INFO, iommufd_get_hw_info, iommu_hw_info, __reserved);
    IOCTL_OP(IOMMU_HWPT_ALLOC, iommufd_hwpt_alloc, iommu_hwpt_alloc, __reserved);
    IOCTL_OP(IOMMU_HWPT_GET_DIRTY_BITMAP, iommufd_hwpt_get_dirty_bitmap,
             iommu_hwpt_get_dirty_bitmap, data);
    IOCTL_OP(IOMMU_HWPT_INVALIDATE, iommufd_hwpt_invalidate, iommu_hwpt_invalidate, __reserved);
    IOCTL_OP(IOMMU_HWPT_SET_DIRTY_TRACKING, iommufd_hwpt_set_dirty_tracking,
             iommu_hwpt_set_dirty_tracking, __reserved);
    IOCTL_OP(IOMMU_IOAS_ALLOC, iommufd_ioas_alloc_ioctl, iommu_ioas_alloc, out_ioas_id);
    IOCTL_OP(IOMMU_IOAS_ALLOW_IOVAS, iommufd_ioas_allow_iovas, iommu_ioas_allow_iovas,
             allowed_iovas);
    IOCTL_OP(IOMMU_IOAS_COPY, iommufd_ioas_copy, iommu_ioas_copy, src_iova);
    IOCTL_OP(IOMMU_IOAS_IOVA_RANGES, iommufd_ioas_iova_ranges, iommu_ioas_iova_ranges,
             out_iova_alignment);
    IOCTL_OP(IOMMU_IOAS_MAP, iommufd_ioas_map, iommu_ioas_map, iova);
    IOCTL_OP(IOMMU_IOAS_UNMAP, iommufd_ioas_unmap, iommu_ioas_unmap, length);
    IOCTL_OP(IOMMU_OPTION, iommufd_option, iommu_option, val64);
    IOCTL_OP(IOMMU_VFIO_IOAS, iommufd_vfio_ioas, iommu_vfio_ioas, __reserved);
    IOCTL_OP(IOMMU_TEST_CMD, iommufd_test, iommu_test_cmd, last);
    return ops;
  }();
  return table;
}
#undef IOCTL_OP

}  // namespace

long iommufd_ctx::ioctl(unsigned int cmd, unsigned long arg) {
  const auto &ops = ioctl_ops();
  unsigned nr = _IOC_NR(cmd);
  if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= ops.size())
    return iommufd_vfio_ioctl(this, cmd, arg);

  iommufd_ucmd ucmd;
  ucmd.ictx = this;
  ucmd.ubuffer = arg;
  mm_struct &mm = *current().mm;
  if (mm.copy_from_user(&ucmd.user_size, arg, sizeof(ucmd.user_size))) return -EFAULT;

  const ioctl_op &op = ops[nr - IOMMUFD_CMD_BASE];
  if (op.ioctl_num != cmd) return -ENOTTY;  // -ENOIOCTLCMD, as the VFS reports it
  if (ucmd.user_size < op.min_size) return -EINVAL;

  ucmd_buffer buf;
  memset(&buf, 0, sizeof(buf));
  ucmd.cmd = &buf;
  if (int rc = copy_struct_from_user(mm, ucmd.cmd, op.size, arg, ucmd.user_size)) return rc;
  return op.execute(&ucmd);
}

}  // namespace iommusim::iommufd
