// SPDX-License-Identifier: MIT
// HW page tables: paging HWPTs (a domain filled from an IOAS) and nested HWPTs
// (a user-managed stage 1 over a NEST_PARENT paging HWPT), and their ioctls
// (the kernel's hw_pagetable.c).
#include "iommufd_private.h"
#include "log.h"

namespace iommusim::iommufd {

iommufd_hwpt_paging *find_hwpt_paging(iommufd_hw_pagetable *hwpt) {
  if (!hwpt) return nullptr;
  switch (hwpt->type) {
    case iommufd_object_type::hwpt_paging:
      return static_cast<iommufd_hwpt_paging *>(hwpt);
    case iommufd_object_type::hwpt_nested:
      return static_cast<iommufd_hwpt_nested *>(hwpt)->parent;
    default:
      return nullptr;
  }
}

namespace {
void hwpt_release(iommufd_hw_pagetable *hwpt) {
  if (hwpt->domain) iommu_domain_free(hwpt->domain);
  hwpt->domain = nullptr;
  if (hwpt->fault) hwpt->fault->users.fetch_sub(1);
}
}  // namespace

void iommufd_hwpt_paging::destroy() {
  if (in_hwpt_list) {
    {
      std::lock_guard g(ioas->mutex);
      ioas->hwpt_list.remove(this);
      in_hwpt_list = false;
    }
    iopt_table_remove_domain(&ioas->iopt, domain);
  }
  hwpt_release(this);
  ioas->users.fetch_sub(1);
}

void iommufd_hwpt_paging::abort() {
  // The creator holds ioas->mutex until finalize or abort.
  if (in_hwpt_list) {
    ioas->hwpt_list.remove(this);
    in_hwpt_list = false;
    iopt_table_remove_domain(&ioas->iopt, domain);
  }
  destroy();
}

void iommufd_hwpt_nested::destroy() {
  hwpt_release(this);
  parent->users.fetch_sub(1);
}

void iommufd_hw_pagetable_put(iommufd_ctx *ictx, iommufd_hw_pagetable *hwpt) {
  if (hwpt->type == iommufd_object_type::hwpt_paging &&
      static_cast<iommufd_hwpt_paging *>(hwpt)->auto_domain) {
    iommufd_object_put_and_try_destroy(ictx, hwpt);
    return;
  }
  hwpt->users.fetch_sub(1);
}

namespace {
int hwpt_paging_enforce_cc(iommufd_hwpt_paging *hwpt_paging) {
  iommu_domain *domain = hwpt_paging->domain;
  if (hwpt_paging->enforce_cache_coherency) return 0;
  if (domain->has_enforce_cache_coherency())
    hwpt_paging->enforce_cache_coherency = domain->enforce_cache_coherency();
  return hwpt_paging->enforce_cache_coherency ? 0 : -EINVAL;
}
}  // namespace

err_or<iommufd_hwpt_paging> iommufd_hwpt_paging_alloc(iommufd_ctx *ictx, iommufd_ioas *ioas,
                                                      iommufd_device *idev, uint32_t pasid,
                                                      uint32_t flags, bool immediate_attach,
                                                      const iommu_user_data *user_data) {
  using result = err_or<iommufd_hwpt_paging>;
  // FAULT_ID_VALID on a paging HWPT is an extension of 6.12 (which takes it
  // only for nested HWPTs): without it a PRI-capable device
  // behind an IOMMU with no nested data type (the 6.12 SMMUv3) could never
  // reach a fault queue. NEST_PARENT with it stays -EOPNOTSUPP, as in 6.12.
  const uint32_t valid_flags =
      IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID;
  iommu_driver *ops = idev->dev->iommu;

  if (((flags & ~IOMMU_HWPT_FAULT_ID_VALID) || user_data) && !ops->has_domain_alloc_user())
    return result::error(-EOPNOTSUPP);
  if (flags & ~valid_flags) return result::error(-EOPNOTSUPP);
  if ((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
      !device_iommu_capable(*idev->dev, iommu_cap::dirty_tracking))
    return result::error(-EOPNOTSUPP);
  if ((flags & IOMMU_HWPT_FAULT_ID_VALID) && (flags & IOMMU_HWPT_ALLOC_NEST_PARENT))
    return result::error(-EOPNOTSUPP);

  auto hwpt = iommufd_object_alloc<iommufd_hwpt_paging>(ictx);
  if (hwpt.is_err()) return hwpt;
  ioas->users.fetch_add(1);  // released in destroy
  hwpt->ioas = ioas;
  hwpt->nest_parent = flags & IOMMU_HWPT_ALLOC_NEST_PARENT;

  int rc = 0;
  if (ops->has_domain_alloc_user()) {
    auto d = ops->domain_alloc_user(*idev->dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, nullptr, user_data);
    if (d.is_err()) rc = d.err();
    else {
      hwpt->domain = d.get();
      hwpt->domain->owner = ops;
    }
  } else {
    auto d = iommu_paging_domain_alloc(*idev->dev);
    if (d.is_err()) rc = d.err();
    else hwpt->domain = d.get();
  }
  if (rc) {
    iommufd_object_abort_and_destroy(ictx, hwpt.get());
    return result::error(rc);
  }

  // Coherency is decided before anything is mapped (some IOMMUs keep it per
  // PTE) and never changes afterwards.
  if (idev->enforce_cache_coherency) {
    rc = hwpt_paging_enforce_cc(hwpt.get());
    if (IOMMUSIM_WARN_ON(rc)) {
      iommufd_object_abort_and_destroy(ictx, hwpt.get());
      return result::error(rc);
    }
  }
  // For drivers that finish a domain only at attach time.
  if (immediate_attach) {
    rc = iommufd_hw_pagetable_attach(hwpt.get(), idev, pasid);
    if (rc) {
      iommufd_object_abort_and_destroy(ictx, hwpt.get());
      return result::error(rc);
    }
  }
  rc = iopt_table_add_domain(&ioas->iopt, hwpt->domain);
  if (rc) {
    if (immediate_attach) iommufd_hw_pagetable_detach(idev, pasid);
    iommufd_object_abort_and_destroy(ictx, hwpt.get());
    return result::error(rc);
  }
  ioas->hwpt_list.push_back(hwpt.get());
  hwpt->in_hwpt_list = true;
  return hwpt;
}

namespace {
err_or<iommufd_hwpt_nested> iommufd_hwpt_nested_alloc(iommufd_ctx *ictx,
                                                       iommufd_hwpt_paging *parent,
                                                       iommufd_device *idev, uint32_t flags,
                                                       const iommu_user_data *user_data) {
  using result = err_or<iommufd_hwpt_nested>;
  iommu_driver *ops = idev->dev->iommu;
  if ((flags & ~IOMMU_HWPT_FAULT_ID_VALID) || !user_data->len || !ops->has_domain_alloc_user())
    return result::error(-EOPNOTSUPP);
  if (parent->auto_domain || !parent->nest_parent || parent->domain->owner != ops)
    return result::error(-EINVAL);

  auto hwpt = iommufd_object_alloc<iommufd_hwpt_nested>(ictx);
  if (hwpt.is_err()) return hwpt;
  parent->users.fetch_add(1);
  hwpt->parent = parent;

  auto d = ops->domain_alloc_user(*idev->dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, parent->domain,
                                  user_data);
  int rc = 0;
  if (d.is_err()) {
    rc = d.err();
  } else {
    hwpt->domain = d.get();
    hwpt->domain->owner = ops;
    if (IOMMUSIM_WARN_ON(hwpt->domain->type != iommu_domain_type::nested ||
                         !hwpt->domain->has_cache_invalidate_user()))
      rc = -EINVAL;
  }
  if (rc) {
    iommufd_object_abort_and_destroy(ictx, hwpt.get());
    return result::error(rc);
  }
  return hwpt;
}
}  // namespace

int iommufd_hwpt_alloc(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_hwpt_alloc *>(ucmd->cmd);
  iommu_user_data user_data;
  user_data.type = cmd->data_type;
  user_data.uptr = cmd->data_uptr;
  user_data.len = cmd->data_len;
  user_data.mm = current().mm.get();

  if (cmd->__reserved) return -EOPNOTSUPP;
  if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
      (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
    return -EINVAL;

  auto idev = iommufd_get_device(ucmd, cmd->dev_id);
  if (idev.is_err()) return idev.err();
  auto pt_obj = iommufd_get_object(ucmd->ictx, cmd->pt_id, iommufd_object_type::any);
  if (pt_obj.is_err()) {
    iommufd_put_object(ucmd->ictx, idev.get());
    return -EINVAL;
  }

  int rc = 0;
  iommufd_hw_pagetable *hwpt = nullptr;
  iommufd_ioas *ioas = nullptr;
  std::unique_lock<std::mutex> ioas_lock;
  if (pt_obj->type == iommufd_object_type::ioas) {
    ioas = static_cast<iommufd_ioas *>(pt_obj.get());
    ioas_lock = std::unique_lock(ioas->mutex);
    auto p = iommufd_hwpt_paging_alloc(ucmd->ictx, ioas, idev.get(), IOMMU_NO_PASID, cmd->flags,
                                       false, user_data.len ? &user_data : nullptr);
    if (p.is_err()) rc = p.err();
    else hwpt = p.get();
  } else if (pt_obj->type == iommufd_object_type::hwpt_paging) {
    auto n = iommufd_hwpt_nested_alloc(ucmd->ictx, static_cast<iommufd_hwpt_paging *>(pt_obj.get()),
                                       idev.get(), cmd->flags, &user_data);
    if (n.is_err()) rc = n.err();
    else hwpt = n.get();
  } else {
    rc = -EINVAL;
  }

  if (!rc && (cmd->flags & IOMMU_HWPT_FAULT_ID_VALID)) {
    auto fault = iommufd_get_fault(ucmd, cmd->fault_id);
    if (fault.is_err()) {
      rc = fault.err();
    } else {
      hwpt->fault = fault.get();
      hwpt->domain->iopf_handler = iommufd_fault_iopf_handler;
      hwpt->domain->fault_data = hwpt;
      fault->users.fetch_add(1);
      iommufd_put_object(ucmd->ictx, fault.get());
    }
  }
  if (!rc) {
    cmd->out_hwpt_id = hwpt->id;
    rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
  }
  if (!rc)
    iommufd_object_finalize(ucmd->ictx, hwpt);
  else if (hwpt)
    iommufd_object_abort_and_destroy(ucmd->ictx, hwpt);

  if (ioas_lock.owns_lock()) ioas_lock.unlock();
  iommufd_put_object(ucmd->ictx, pt_obj.get());
  iommufd_put_object(ucmd->ictx, idev.get());
  return rc;
}

int iommufd_hwpt_set_dirty_tracking(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_hwpt_set_dirty_tracking *>(ucmd->cmd);
  if (cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE) return -EOPNOTSUPP;
  auto hwpt = iommufd_get<iommufd_hwpt_paging>(ucmd->ictx, cmd->hwpt_id,
                                               iommufd_object_type::hwpt_paging);
  if (hwpt.is_err()) return hwpt.err();
  bool enable = cmd->flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
  int rc = iopt_set_dirty_tracking(&hwpt->ioas->iopt, hwpt->domain, enable);
  iommufd_put_object(ucmd->ictx, hwpt.get());
  return rc;
}

int iommufd_hwpt_get_dirty_bitmap(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_hwpt_get_dirty_bitmap *>(ucmd->cmd);
  if ((cmd->flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) || cmd->__reserved)
    return -EOPNOTSUPP;
  auto hwpt = iommufd_get<iommufd_hwpt_paging>(ucmd->ictx, cmd->hwpt_id,
                                               iommufd_object_type::hwpt_paging);
  if (hwpt.is_err()) return hwpt.err();
  // The uAPI flag and the driver flag have the same value (NO_CLEAR = 1).
  int rc = iopt_read_and_clear_dirty_data(&hwpt->ioas->iopt, hwpt->domain, cmd->flags, cmd);
  iommufd_put_object(ucmd->ictx, hwpt.get());
  return rc;
}

// Bounds that keep one call from pinning a CPU; entry_len also bounds the
// trailing-zero scan of each entry.
static constexpr uint32_t kInvalidateEntryNumMax = 1U << 19;

int iommufd_hwpt_invalidate(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_hwpt_invalidate *>(ucmd->cmd);
  iommu_user_data_array data_array;
  data_array.type = cmd->data_type;
  data_array.uptr = cmd->data_uptr;
  data_array.entry_len = cmd->entry_len;
  data_array.entry_num = cmd->entry_num;
  data_array.mm = current().mm.get();
  uint32_t done_num = 0;
  int rc = 0;

  if (cmd->__reserved) {
    rc = -EOPNOTSUPP;
  } else if (cmd->entry_num && (!cmd->data_uptr || !cmd->entry_len ||
                                cmd->entry_len > PAGE_SIZE ||
                                cmd->entry_num > kInvalidateEntryNumMax)) {
    rc = -EINVAL;
  } else {
    auto hwpt = iommufd_get<iommufd_hw_pagetable>(ucmd->ictx, cmd->hwpt_id,
                                                  iommufd_object_type::hwpt_nested);
    if (hwpt.is_err()) {
      rc = hwpt.err();
    } else {
      rc = hwpt->domain->cache_invalidate_user(data_array);
      done_num = data_array.entry_num;
      iommufd_put_object(ucmd->ictx, hwpt.get());
    }
  }
  cmd->entry_num = done_num;
  if (iommufd_ucmd_respond(ucmd, sizeof(*cmd))) return -EFAULT;
  return rc;
}

}  // namespace iommusim::iommufd
