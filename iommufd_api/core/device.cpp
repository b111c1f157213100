// SPDX-License-Identifier: MIT
// Devices bound to an iommufd, their attachment to HW page tables, in-kernel
// accesses, and GET_HW_INFO (the kernel's device.c).
#include <algorithm>
#include <cstring>

#include "iommufd_private.h"
#include "log.h"

namespace iommusim::iommufd {

// --- iommufd_group: per-context state of an iommu_group ---

namespace {
void iommufd_put_group(iommufd_group *igroup) {
  if (!refcount_dec_and_test(igroup->ref)) return;
  IOMMUSIM_WARN_ON(igroup->hwpt || !igroup->device_list.empty());
  {
    std::lock_guard g(igroup->ictx->objects_lock);
    auto it = igroup->ictx->groups.find(igroup->group->id);
    if (it != igroup->ictx->groups.end() && it->second == igroup) igroup->ictx->groups.erase(it);
  }
  delete igroup;
}

err_or<iommufd_group> iommufd_get_group(iommufd_ctx *ictx, device *dev) {
  iommu_group *group = dev->group;
  if (!group) return err_or<iommufd_group>::error(-ENODEV);
  std::lock_guard g(ictx->objects_lock);
  auto it = ictx->groups.find(group->id);
  if (it != ictx->groups.end() && refcount_inc_not_zero(it->second->ref)) return it->second;
  auto *igroup = new iommufd_group();
  igroup->ictx = ictx;
  igroup->group = group;
  ictx->groups[group->id] = igroup;
  return igroup;
}
}  // namespace

void iommufd_device::destroy() {
  iommu_device_release_dma_owner(*dev);
  iommufd_put_group(igroup);
  if (!dev->selftest_mock) iommufd_ctx_put(ictx);
}

err_or<iommufd_device> iommufd_device_bind(iommufd_ctx *ictx, device *dev, uint32_t *id) {
  // iommufd always maps with IOMMU_CACHE: the device's DMA must be coherent.
  if (!device_iommu_capable(*dev, iommu_cap::cache_coherency))
    return err_or<iommufd_device>::error(-EINVAL);
  auto igroup = iommufd_get_group(ictx, dev);
  if (igroup.is_err()) return igroup.cast_err<iommufd_device>();
  // Interrupt isolation: simulated platforms always remap MSIs, so every
  // group is isolated (the kernel checks iommu_group_has_isolated_msi()).
  int rc = iommu_device_claim_dma_owner(*dev, ictx);
  if (rc) {
    iommufd_put_group(igroup.get());
    return err_or<iommufd_device>::error(rc);
  }
  auto idev = iommufd_object_alloc<iommufd_device>(ictx);
  if (idev.is_err()) {
    iommu_device_release_dma_owner(*dev);
    iommufd_put_group(igroup.get());
    return idev;
  }
  idev->ictx = ictx;
  if (!dev->selftest_mock) iommufd_ctx_get(ictx);
  idev->dev = dev;
  idev->enforce_cache_coherency =
      device_iommu_capable(*dev, iommu_cap::enforce_cache_coherency);
  idev->users.fetch_add(1);  // the binding driver is a user until unbind
  idev->igroup = igroup.get();
  iommufd_object_finalize(ictx, idev.get());
  *id = idev->id;
  return idev;
}

void iommufd_device_unbind(iommufd_device *idev) {
  iommufd_object_destroy_user(idev->ictx, idev);
}

// --- attach/detach helpers ---

namespace {

int iommufd_group_setup_msi(iommufd_group *igroup, iommufd_hwpt_paging *hwpt_paging) {
  // A SW MSI window needs the MSI cookie in the domain so interrupt pages can
  // be mapped into it; once per domain.
  if (igroup->sw_msi_start != UINT64_MAX && !hwpt_paging->msi_cookie)
    hwpt_paging->msi_cookie = true;
  return 0;
}

int iommufd_device_attach_reserved_iova(iommufd_device *idev, iommufd_hwpt_paging *hwpt_paging) {
  int rc = iopt_table_enforce_dev_resv_regions(&hwpt_paging->ioas->iopt, idev->dev,
                                               &idev->igroup->sw_msi_start);
  if (rc) return rc;
  if (idev->igroup->device_list.empty()) {
    rc = iommufd_group_setup_msi(idev->igroup, hwpt_paging);
    if (rc) {
      iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev);
      return rc;
    }
  }
  return 0;
}

bool iommufd_device_is_attached(iommufd_device *idev) {
  auto &l = idev->igroup->device_list;
  return std::find(l.begin(), l.end(), idev) != l.end();
}

iommufd_attach_handle *iommufd_device_get_attach_handle(iommufd_device *idev, uint32_t pasid) {
  auto h = iommu_attach_handle_get(idev->igroup->group, pasid, nullptr);
  if (h.is_err()) return nullptr;
  return static_cast<iommufd_attach_handle *>(h.get());
}

int iommufd_hwpt_attach_device(iommufd_hw_pagetable *hwpt, iommufd_device *idev, uint32_t pasid) {
  auto *handle = new iommufd_attach_handle();
  if (hwpt->fault) {
    int rc = iommufd_fault_iopf_enable(idev);
    if (rc) {
      delete handle;
      return rc;
    }
  }
  handle->idev = idev;
  IOMMUSIM_WARN_ON(pasid != IOMMU_NO_PASID);
  int rc = iommu_attach_group_handle(hwpt->domain, idev->igroup->group, handle);
  if (rc) {
    if (hwpt->fault) iommufd_fault_iopf_disable(idev);
    delete handle;
  }
  return rc;
}

void iommufd_hwpt_detach_device(iommufd_hw_pagetable *hwpt, iommufd_device *idev, uint32_t pasid) {
  IOMMUSIM_WARN_ON(pasid != IOMMU_NO_PASID);
  iommufd_attach_handle *handle = iommufd_device_get_attach_handle(idev, pasid);
  iommu_detach_group_handle(hwpt->domain, idev->igroup->group);
  if (hwpt->fault) {
    iommufd_auto_response_faults(hwpt, handle);
    iommufd_fault_iopf_disable(idev);
  }
  delete handle;
}

int iommufd_hwpt_replace_device(iommufd_device *idev, uint32_t pasid, iommufd_hw_pagetable *hwpt,
                                iommufd_hw_pagetable *old) {
  IOMMUSIM_WARN_ON(pasid != IOMMU_NO_PASID);
  iommufd_attach_handle *old_handle = iommufd_device_get_attach_handle(idev, pasid);
  auto *handle = new iommufd_attach_handle();
  if (hwpt->fault && !old->fault) {
    int rc = iommufd_fault_iopf_enable(idev);
    if (rc) {
      delete handle;
      return rc;
    }
  }
  handle->idev = idev;
  int rc = iommu_replace_group_handle(idev->igroup->group, hwpt->domain, handle);
  if (rc) {
    if (hwpt->fault && !old->fault) iommufd_fault_iopf_disable(idev);
    delete handle;
    return rc;
  }
  if (old->fault) {
    iommufd_auto_response_faults(old, old_handle);
    if (!hwpt->fault) iommufd_fault_iopf_disable(idev);
  }
  delete old_handle;
  return 0;
}

}  // namespace

int iommufd_hw_pagetable_attach(iommufd_hw_pagetable *hwpt, iommufd_device *idev,
                                uint32_t pasid) {
  iommufd_hwpt_paging *hwpt_paging = find_hwpt_paging(hwpt);
  std::lock_guard g(idev->igroup->lock);
  if (idev->igroup->hwpt && idev->igroup->hwpt != hwpt) return -EINVAL;
  if (hwpt_paging) {
    int rc = iommufd_device_attach_reserved_iova(idev, hwpt_paging);
    if (rc) return rc;
  }
  // The group attaches once, for its first device; the rest follow it. Each
  // device still attaches individually so its reserved regions are applied.
  if (idev->igroup->device_list.empty()) {
    int rc = iommufd_hwpt_attach_device(hwpt, idev, pasid);
    if (rc) {
      if (hwpt_paging) iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev);
      return rc;
    }
    idev->igroup->hwpt = hwpt;
  }
  hwpt->users.fetch_add(1);
  idev->igroup->device_list.push_back(idev);
  return 0;
}

iommufd_hw_pagetable *iommufd_hw_pagetable_detach(iommufd_device *idev, uint32_t pasid) {
  iommufd_hw_pagetable *hwpt = idev->igroup->hwpt;
  iommufd_hwpt_paging *hwpt_paging = find_hwpt_paging(hwpt);
  std::lock_guard g(idev->igroup->lock);
  idev->igroup->device_list.remove(idev);
  if (idev->igroup->device_list.empty()) {
    iommufd_hwpt_detach_device(hwpt, idev, pasid);
    idev->igroup->hwpt = nullptr;
  }
  if (hwpt_paging) iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, idev->dev);
  return hwpt;  // the caller drops the reference
}

namespace {

using attach_fn = iommufd_hw_pagetable *(*)(iommufd_device *, uint32_t, iommufd_hw_pagetable *, int *);

iommufd_hw_pagetable *iommufd_device_do_attach(iommufd_device *idev, uint32_t pasid,
                                               iommufd_hw_pagetable *hwpt, int *err) {
  *err = iommufd_hw_pagetable_attach(hwpt, idev, pasid);
  return nullptr;
}

void iommufd_group_remove_reserved_iova(iommufd_group *igroup, iommufd_hwpt_paging *hwpt_paging) {
  for (iommufd_device *cur : igroup->device_list)
    iopt_remove_reserved_iova(&hwpt_paging->ioas->iopt, cur->dev);
}

int iommufd_group_do_replace_reserved_iova(iommufd_group *igroup,
                                           iommufd_hwpt_paging *hwpt_paging) {
  iommufd_hwpt_paging *old = find_hwpt_paging(igroup->hwpt);
  int rc = 0;
  if (!old || hwpt_paging->ioas != old->ioas) {
    for (iommufd_device *cur : igroup->device_list) {
      rc = iopt_table_enforce_dev_resv_regions(&hwpt_paging->ioas->iopt, cur->dev, nullptr);
      if (rc) break;
    }
  }
  if (!rc) rc = iommufd_group_setup_msi(igroup, hwpt_paging);
  if (rc) iommufd_group_remove_reserved_iova(igroup, hwpt_paging);
  return rc;
}

iommufd_hw_pagetable *iommufd_device_do_replace(iommufd_device *idev, uint32_t pasid,
                                                iommufd_hw_pagetable *hwpt, int *err) {
  iommufd_hwpt_paging *hwpt_paging = find_hwpt_paging(hwpt);
  iommufd_group *igroup = idev->igroup;
  std::lock_guard g(igroup->lock);
  *err = 0;
  if (!igroup->hwpt || !iommufd_device_is_attached(idev)) {
    *err = -EINVAL;
    return nullptr;
  }
  if (hwpt == igroup->hwpt) return nullptr;

  iommufd_hw_pagetable *old_hwpt = igroup->hwpt;
  if (hwpt_paging) {
    *err = iommufd_group_do_replace_reserved_iova(igroup, hwpt_paging);
    if (*err) return nullptr;
  }
  *err = iommufd_hwpt_replace_device(idev, pasid, hwpt, old_hwpt);
  if (*err) {
    if (hwpt_paging) iommufd_group_remove_reserved_iova(igroup, hwpt_paging);
    return nullptr;
  }
  iommufd_hwpt_paging *old_paging = find_hwpt_paging(old_hwpt);
  if (old_paging && (!hwpt_paging || hwpt_paging->ioas != old_paging->ioas))
    iommufd_group_remove_reserved_iova(igroup, old_paging);
  igroup->hwpt = hwpt;

  // The device list's references move to the new HWPT; the caller drops the
  // last one of the old HWPT.
  int num_devices = static_cast<int>(igroup->device_list.size());
  hwpt->users.fetch_add(num_devices);
  if (num_devices > 1) IOMMUSIM_WARN_ON(old_hwpt->users.fetch_sub(num_devices - 1) == num_devices - 1);
  return old_hwpt;
}

// Automatic domain selection: reuse any compatible automatically created
// HWPT of the IOAS, else create one. Never picks a manually created HWPT.
iommufd_hw_pagetable *iommufd_device_auto_get_domain(iommufd_device *idev, uint32_t pasid,
                                                     iommufd_ioas *ioas, uint32_t *pt_id,
                                                     attach_fn do_attach, int *err) {
  // Attach mode can create the domain with the device already attached.
  bool immediate_attach = do_attach == iommufd_device_do_attach;
  std::lock_guard g(ioas->mutex);
  *err = 0;
  for (iommufd_hwpt_paging *hwpt_paging : ioas->hwpt_list) {
    if (!hwpt_paging->auto_domain) continue;
    if (!iommufd_lock_obj(hwpt_paging)) continue;
    iommufd_hw_pagetable *destroy = do_attach(idev, pasid, hwpt_paging, err);
    if (*err) {
      iommufd_put_object(idev->ictx, hwpt_paging);
      // EINVAL: this domain does not suit the device; try the next one.
      if (*err == -EINVAL) {
        *err = 0;
        continue;
      }
      return nullptr;
    }
    *pt_id = hwpt_paging->id;
    iommufd_put_object(idev->ictx, hwpt_paging);
    return destroy;
  }

  auto hwpt_paging = iommufd_hwpt_paging_alloc(idev->ictx, ioas, idev, pasid, 0,
                                               immediate_attach, nullptr);
  if (hwpt_paging.is_err()) {
    *err = hwpt_paging.err();
    return nullptr;
  }
  iommufd_hw_pagetable *destroy = nullptr;
  if (!immediate_attach) {
    destroy = do_attach(idev, pasid, hwpt_paging.get(), err);
    if (*err) {
      iommufd_object_abort_and_destroy(idev->ictx, hwpt_paging.get());
      return nullptr;
    }
  }
  hwpt_paging->auto_domain = true;
  *pt_id = hwpt_paging->id;
  iommufd_object_finalize(idev->ictx, hwpt_paging.get());
  return destroy;
}

int iommufd_device_change_pt(iommufd_device *idev, uint32_t pasid, uint32_t *pt_id,
                             attach_fn do_attach) {
  auto pt_obj = iommufd_get_object(idev->ictx, *pt_id, iommufd_object_type::any);
  if (pt_obj.is_err()) return pt_obj.err();
  iommufd_hw_pagetable *destroy = nullptr;
  int err = 0;
  switch (pt_obj->type) {
    case iommufd_object_type::hwpt_nested:
    case iommufd_object_type::hwpt_paging:
      destroy = do_attach(idev, pasid, static_cast<iommufd_hw_pagetable *>(pt_obj.get()), &err);
      break;
    case iommufd_object_type::ioas:
      destroy = iommufd_device_auto_get_domain(idev, pasid, static_cast<iommufd_ioas *>(pt_obj.get()),
                                               pt_id, do_attach, &err);
      break;
    default:
      err = -EINVAL;
      break;
  }
  iommufd_put_object(idev->ictx, pt_obj.get());
  if (err) return err;
  // Destroying the old HWPT must come after every lock is dropped.
  if (destroy) iommufd_hw_pagetable_put(idev->ictx, destroy);
  return 0;
}

}  // namespace

int iommufd_device_attach(iommufd_device *idev, uint32_t *pt_id) {
  int rc = iommufd_device_change_pt(idev, IOMMU_NO_PASID, pt_id, iommufd_device_do_attach);
  if (rc) return rc;
  idev->users.fetch_add(1);  // pairs with detach: an attached device cannot be destroyed
  return 0;
}

int iommufd_device_replace(iommufd_device *idev, uint32_t *pt_id) {
  return iommufd_device_change_pt(idev, IOMMU_NO_PASID, pt_id, iommufd_device_do_replace);
}

void iommufd_device_detach(iommufd_device *idev) {
  iommufd_hw_pagetable *hwpt = iommufd_hw_pagetable_detach(idev, IOMMU_NO_PASID);
  iommufd_hw_pagetable_put(idev->ictx, hwpt);
  idev->users.fetch_sub(1);
}

// --- accesses ---

namespace {
// Move the access to new_ioas (nullptr: detach). The access's unmap op is
// called for everything it may have pinned in the old IOAS.
int iommufd_access_change_ioas(iommufd_access *access, iommufd_ioas *new_ioas,
                               std::unique_lock<std::mutex> &ioas_lock) {
  uint32_t list_id = access->iopt_access_list_id;
  iommufd_ioas *cur_ioas = access->ioas;
  if (cur_ioas != access->ioas_unpin) return -EBUSY;  // racing a concurrent detach
  if (cur_ioas == new_ioas) return 0;

  // No new pins while we switch; unpins keep using ioas_unpin.
  access->ioas = nullptr;
  if (new_ioas) {
    int rc = iopt_add_access(&new_ioas->iopt, access);
    if (rc) {
      access->ioas = cur_ioas;
      return rc;
    }
    new_ioas->users.fetch_add(1);
  }
  if (cur_ioas) {
    if (access->ops->unmap) {
      ioas_lock.unlock();
      access->ops->unmap(access->data, 0, UINT64_MAX);
      ioas_lock.lock();
    }
    iopt_remove_access(&cur_ioas->iopt, access, list_id);
    cur_ioas->users.fetch_sub(1);
  }
  access->ioas = new_ioas;
  access->ioas_unpin = new_ioas;
  return 0;
}

int iommufd_access_change_ioas_id(iommufd_access *access, uint32_t id,
                                  std::unique_lock<std::mutex> &ioas_lock) {
  auto ioas = iommufd_get_ioas(access->ictx, id);
  if (ioas.is_err()) return ioas.err();
  int rc = iommufd_access_change_ioas(access, ioas.get(), ioas_lock);
  iommufd_put_object(access->ictx, ioas.get());
  return rc;
}
}  // namespace

void iommufd_access::destroy() {
  {
    std::unique_lock g(ioas_lock);
    if (ioas) IOMMUSIM_WARN_ON(iommufd_access_change_ioas(this, nullptr, g));
  }
  iommufd_ctx_put(ictx);
}

err_or<iommufd_access> iommufd_access_create(iommufd_ctx *ictx, const iommufd_access_ops *ops,
                                             void *data, uint32_t *id) {
  auto access = iommufd_object_alloc<iommufd_access>(ictx);
  if (access.is_err()) return access;
  access->data = data;
  access->ops = ops;
  access->iova_alignment = ops->needs_pin_pages ? PAGE_SIZE : 1;
  access->users.fetch_add(1);  // the creating driver is a user until destroy
  access->ictx = ictx;
  iommufd_ctx_get(ictx);
  iommufd_object_finalize(ictx, access.get());
  *id = access->id;
  return access;
}

void iommufd_access_destroy(iommufd_access *access) {
  iommufd_object_destroy_user(access->ictx, access);
}

void iommufd_access_detach(iommufd_access *access) {
  std::unique_lock g(access->ioas_lock);
  if (IOMMUSIM_WARN_ON(!access->ioas)) return;
  IOMMUSIM_WARN_ON(iommufd_access_change_ioas(access, nullptr, g));
}

int iommufd_access_attach(iommufd_access *access, uint32_t ioas_id) {
  std::unique_lock g(access->ioas_lock);
  if (IOMMUSIM_WARN_ON(access->ioas)) return -EINVAL;
  return iommufd_access_change_ioas_id(access, ioas_id, g);
}

int iommufd_access_replace(iommufd_access *access, uint32_t ioas_id) {
  std::unique_lock g(access->ioas_lock);
  if (!access->ioas) return -ENOENT;
  return iommufd_access_change_ioas_id(access, ioas_id, g);
}

void iommufd_access_notify_unmap(io_pagetable *iopt, uint64_t iova, uint64_t length) {
  auto *ioas = IOMMUSIM_CONTAINER_OF(iopt, iommufd_ioas, iopt);
  // Snapshot under the lock, call out without it (the op unpins, which takes
  // the io_pagetable locks).
  std::vector<iommufd_access *> accesses;
  {
    std::shared_lock dg(ioas->iopt.domains_rwsem);
    for (auto &[id, access] : ioas->iopt.access_list)
      if (iommufd_lock_obj(access)) accesses.push_back(access);
  }
  for (iommufd_access *access : accesses) {
    access->ops->unmap(access->data, iova, length);
    iommufd_put_object(access->ictx, access);
  }
}

namespace {
// Release the access pins on [iova, last_iova] area by area (iova_rwsem held);
// false if the range is not covered by contiguous areas.
bool remove_access_range(io_pagetable *iopt, uint64_t iova, uint64_t last_iova) {
  iopt_area_contig_iter iter;
  for (iopt_area *area = iter.init(iopt, iova, last_iova); area; area = iter.next())
    iopt_area_remove_access(area, iopt_area_iova_to_index(area, iter.cur_iova),
                            iopt_area_iova_to_index(area, std::min(last_iova, iopt_area_last_iova(area))));
  return iter.done();
}
}  // namespace

void iommufd_access_unpin_pages(iommufd_access *access, uint64_t iova, uint64_t length) {
  uint64_t last_iova;
  if (IOMMUSIM_WARN_ON(!length) ||
      IOMMUSIM_WARN_ON(check_add_overflow<uint64_t>(iova, length - 1, &last_iova)))
    return;
  std::lock_guard g(access->ioas_lock);
  // Unpinning before attach or after detach is a driver bug.
  if (IOMMUSIM_WARN_ON(!access->ioas_unpin)) return;
  io_pagetable *iopt = &access->ioas_unpin->iopt;
  std::shared_lock ig(iopt->iova_rwsem);
  IOMMUSIM_WARN_ON(!remove_access_range(iopt, iova, last_iova));
}

namespace {
bool iopt_area_contig_is_aligned(iopt_area_contig_iter *iter) {
  if (iopt_area_start_byte(iter->area, iter->cur_iova) % PAGE_SIZE) return false;
  if (!iter->done() &&
      (iopt_area_start_byte(iter->area, iopt_area_last_iova(iter->area)) % PAGE_SIZE) !=
          PAGE_SIZE - 1)
    return false;
  return true;
}

bool check_area_prot(iopt_area *area, unsigned flags) {
  if (flags & IOMMUFD_ACCESS_RW_WRITE) return area->iommu_prot & IOMMU_WRITE;
  return area->iommu_prot & IOMMU_READ;
}
}  // namespace

int iommufd_access_pin_pages(iommufd_access *access, uint64_t iova, uint64_t length,
                             pfn_t *out_pages, unsigned flags) {
  // A driver that pins must declare it (PAGE_SIZE alignment) and handle unmap.
  if (IOMMUSIM_WARN_ON(access->iova_alignment != PAGE_SIZE || !access->ops->unmap))
    return -EINVAL;
  if (!length) return -EINVAL;
  uint64_t last_iova;
  if (check_add_overflow<uint64_t>(iova, length - 1, &last_iova)) return -EOVERFLOW;

  std::lock_guard g(access->ioas_lock);
  if (!access->ioas) return -ENOENT;
  io_pagetable *iopt = &access->ioas->iopt;
  std::shared_lock ig(iopt->iova_rwsem);
  iopt_area_contig_iter iter;
  int rc = 0;
  for (iopt_area *area = iter.init(iopt, iova, last_iova); area; area = iter.next()) {
    uint64_t last = std::min(last_iova, iopt_area_last_iova(area));
    uint64_t last_index = iopt_area_iova_to_index(area, last);
    uint64_t index = iopt_area_iova_to_index(area, iter.cur_iova);
    if (area->prevent_access || !iopt_area_contig_is_aligned(&iter)) {
      rc = -EINVAL;
      break;
    }
    if (!check_area_prot(area, flags)) {
      rc = -EPERM;
      break;
    }
    rc = iopt_area_add_access(area, index, last_index, out_pages, flags);
    if (rc) break;
    out_pages += last_index - index + 1;
  }
  if (!rc && !iter.done()) rc = -ENOENT;
  if (!rc) return 0;

  // Undo the areas already pinned.
  if (iova < iter.cur_iova) remove_access_range(iopt, iova, iter.cur_iova - 1);
  return rc;
}

int iommufd_access_rw(iommufd_access *access, uint64_t iova, void *data, size_t length,
                      unsigned flags) {
  if (!length) return -EINVAL;
  uint64_t last_iova;
  if (check_add_overflow<uint64_t>(iova, length - 1, &last_iova)) return -EOVERFLOW;

  std::lock_guard g(access->ioas_lock);
  if (!access->ioas) return -ENOENT;
  io_pagetable *iopt = &access->ioas->iopt;
  std::shared_lock ig(iopt->iova_rwsem);
  iopt_area_contig_iter iter;
  int rc = -EINVAL;
  auto *p = static_cast<char *>(data);
  for (iopt_area *area = iter.init(iopt, iova, last_iova); area; area = iter.next()) {
    uint64_t last = std::min(last_iova, iopt_area_last_iova(area));
    uint64_t bytes = last - iter.cur_iova + 1;
    if (area->prevent_access) return -EINVAL;
    if (!check_area_prot(area, flags)) return -EPERM;
    rc = iopt_pages_rw_access(area->pages, iopt_area_start_byte(area, iter.cur_iova), p, bytes,
                              flags);
    if (rc) return rc;
    p += bytes;
  }
  if (!iter.done()) rc = -ENOENT;
  return rc;
}

// --- GET_HW_INFO ---

int iommufd_get_hw_info(iommufd_ucmd *ucmd) {
  auto *cmd = static_cast<iommu_hw_info *>(ucmd->cmd);
  if (cmd->flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) return -EOPNOTSUPP;
  if (cmd->__reserved[0] || cmd->__reserved[1] || cmd->__reserved[2]) return -EOPNOTSUPP;
  // Without the flag the field is output only: ignore whatever it held.
  if (!(cmd->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE)) cmd->in_data_type = IOMMU_HW_INFO_TYPE_DEFAULT;

  auto idev = iommufd_get_device(ucmd, cmd->dev_id);
  if (idev.is_err()) return idev.err();
  mm_struct &mm = *current().mm;
  const iommu_driver *ops = idev->dev->iommu;
  std::vector<uint8_t> data;
  int rc = 0;
  if (ops->has_hw_info()) {
    uint32_t type = cmd->in_data_type;
    rc = const_cast<iommu_driver *>(ops)->hw_info(*idev->dev, &type, &data);
    if (!rc && IOMMUSIM_WARN_ON(type == IOMMU_HW_INFO_TYPE_NONE)) rc = -ENODEV;
    cmd->out_data_type = type;
  } else {
    // A driver without info reports NONE whatever type was asked for.
    cmd->out_data_type = IOMMU_HW_INFO_TYPE_NONE;
  }
  if (!rc) {
    uint32_t data_len = static_cast<uint32_t>(data.size());
    uint32_t copy_len = std::min(cmd->data_len, data_len);
    if (copy_len && mm.copy_to_user(cmd->data_uptr, data.data(), copy_len)) rc = -EFAULT;
    // Zero the rest of a larger user buffer.
    if (!rc && copy_len < cmd->data_len &&
        mm.clear_user(cmd->data_uptr + copy_len, cmd->data_len - copy_len))
      rc = -EFAULT;
    if (!rc) {
      // The size the driver has, so user space learns the full capability.
      cmd->data_len = data_len;
      cmd->out_capabilities = 0;
      if (device_iommu_capable(*idev->dev, iommu_cap::dirty_tracking))
        cmd->out_capabilities |= IOMMU_HW_CAP_DIRTY_TRACKING;
      cmd->out_max_pasid_log2 = 0;
      if (idev->dev->max_pasids) {
        cmd->out_max_pasid_log2 = static_cast<uint8_t>(fls64(idev->dev->max_pasids));
        if (idev->dev->is_pci) {
          if (idev->dev->pasid_exec) cmd->out_capabilities |= IOMMU_HW_CAP_PCI_PASID_EXEC;
          if (idev->dev->pasid_priv) cmd->out_capabilities |= IOMMU_HW_CAP_PCI_PASID_PRIV;
        }
      }
      rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
    }
  }
  iommufd_put_object(ucmd->ictx, idev.get());
  return rc;
}

}  // namespace iommusim::iommufd
