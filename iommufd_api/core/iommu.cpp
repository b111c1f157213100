// SPDX-License-Identifier: MIT
// The IOMMU subsystem beneath iommufd: see iommu.h. Behaviour follows Linux
// 6.12 drivers/iommu/iommu.c and io-pgfault.c where iommufd can observe it
// (page-size selection, attach/replace rules, DMA ownership errnos, fault
// grouping and responses).
#include "iommu.h"

#include <algorithm>
#include <cstring>

#include "iova_bitmap.h"
#include "log.h"
#include "mm.h"

namespace iommusim::iommufd {

void iommu_iotlb_gather::add_range(uint64_t iova, size_t size) {
  if (!size) return;
  start = std::min(start, iova);
  end = std::max(end, iova + size - 1);
}

void iommu_dirty_bitmap::record(uint64_t iova, uint64_t length) {
  if (bitmap) bitmap->set(iova, length);
  if (gather) gather->add_range(iova, length);
}

// --- default domain operations ---
int iommu_domain::map_pages(uint64_t, uint64_t, size_t, size_t, int, size_t *) { return -ENODEV; }
size_t iommu_domain::unmap_pages(uint64_t, size_t, size_t, iommu_iotlb_gather *) { return 0; }
uint64_t iommu_domain::iova_to_phys(uint64_t) { return 0; }
void iommu_domain::iotlb_sync_map(uint64_t, size_t) {}
void iommu_domain::iotlb_sync(iommu_iotlb_gather &) {}
void iommu_domain::flush_iotlb_all() {}
int iommu_domain::set_dirty_tracking(bool) { return -EOPNOTSUPP; }
int iommu_domain::read_and_clear_dirty(uint64_t, size_t, unsigned long, iommu_dirty_bitmap &) {
  return -EOPNOTSUPP;
}
int iommu_domain::cache_invalidate_user(iommu_user_data_array &) { return -EOPNOTSUPP; }

int iommu_driver::hw_info(const device &, uint32_t *, std::vector<uint8_t> *) { return -EOPNOTSUPP; }
err_or<iommu_domain> iommu_driver::domain_alloc_user(device &, uint32_t, iommu_domain *,
                                                     const iommu_user_data *) {
  return err_or<iommu_domain>::error(-EOPNOTSUPP);
}
void iommu_driver::get_resv_regions(const device &, std::vector<iommu_resv_region> &) const {}
int iommu_driver::dev_enable_iopf(device &) { return -ENODEV; }
void iommu_driver::dev_disable_iopf(device &) {}
void iommu_driver::page_response(device &, const iopf_fault &, const iommu_page_response &) {}

// --- user data ---

int copy_struct_from_user(mm_struct &mm, void *dst, size_t ksize, uint64_t src, size_t usize) {
  size_t size = std::min(ksize, usize);
  if (usize < ksize) {
    memset(static_cast<char *>(dst) + size, 0, ksize - size);
  } else if (usize > ksize) {
    // Bytes the kernel does not know must be zero (check_zeroed_user).
    uint64_t pos = src + size;
    size_t rest = usize - size;
    char buf[256];
    while (rest) {
      size_t n = std::min(rest, sizeof(buf));
      if (mm.copy_from_user(buf, pos, n)) return -EFAULT;
      for (size_t i = 0; i < n; i++)
        if (buf[i]) return -E2BIG;
      pos += n;
      rest -= n;
    }
  }
  if (mm.copy_from_user(dst, src, size)) return -EFAULT;
  return 0;
}

int iommu_copy_struct_from_user(void *dst, size_t dst_len, size_t min_len,
                                const iommu_user_data *src, uint32_t data_type) {
  if (IOMMUSIM_WARN_ON(!dst || !src)) return -EINVAL;
  if (src->type != data_type) return -EINVAL;
  if (src->len < min_len || dst_len < src->len) return -EINVAL;
  mm_struct &mm = src->mm ? *src->mm : *current().mm;
  return copy_struct_from_user(mm, dst, dst_len, src->uptr, src->len);
}

int iommu_copy_struct_from_user_array(void *dst, size_t dst_len, size_t min_len,
                                      const iommu_user_data_array *src, uint32_t data_type,
                                      uint32_t index) {
  if (IOMMUSIM_WARN_ON(!src || index >= src->entry_num)) return -EINVAL;
  if (!src->entry_num) return -EINVAL;
  iommu_user_data one;
  one.uptr = src->uptr + src->entry_len * index;
  one.len = src->entry_len;
  one.type = src->type;
  one.mm = src->mm;
  return iommu_copy_struct_from_user(dst, dst_len, min_len, &one, data_type);
}

// --- devices, groups, ownership ---

namespace {
std::atomic<int> g_next_group_id{0};

// Set every device of the group to new_domain; on failure restore the devices
// already switched (unless nofail, which presses on as the kernel does).
int group_set_domain(iommu_group *group, iommu_domain *new_domain, bool nofail) {
  if (group->domain == new_domain) return 0;
  for (size_t i = 0; i < group->devices.size(); i++) {
    int rc = new_domain->attach_dev(*group->devices[i]);
    if (rc && !nofail) {
      for (size_t j = 0; j < i; j++)
        if (group->domain) group->domain->attach_dev(*group->devices[j]);
      return rc;
    }
    if (rc) IOMMUSIM_WARN("attach of a core domain to %s failed: %d", group->devices[i]->name.c_str(), rc);
  }
  group->domain = new_domain;
  return 0;
}

void group_set_core_domain(iommu_group *group) {
  iommu_domain *d = group->owner ? group->blocking_domain : group->default_domain;
  if (d) group_set_domain(group, d, true);
}
}  // namespace

int iommu_probe_device(device &dev, iommu_driver &driver) {
  dev.iommu = &driver;
  auto *group = new iommu_group(g_next_group_id.fetch_add(1));
  group->devices.push_back(&dev);
  group->default_domain = driver.default_domain(dev);
  group->blocking_domain = driver.blocked_domain(dev);
  dev.group = group;
  if (group->default_domain) {
    int rc = group->default_domain->attach_dev(dev);
    if (rc) {
      dev.group = nullptr;
      dev.iommu = nullptr;
      delete group;
      return rc;
    }
    group->domain = group->default_domain;
  }
  return 0;
}

void iommu_release_device(device &dev) {
  iommu_group *group = dev.group;
  if (!group) return;
  {
    std::lock_guard g(group->mutex);
    IOMMUSIM_WARN_ON(group->owner_cnt != 0);
    auto &devs = group->devices;
    devs.erase(std::remove(devs.begin(), devs.end(), &dev), devs.end());
  }
  dev.group = nullptr;
  if (group->devices.empty()) delete group;
}

bool device_iommu_capable(const device &dev, iommu_cap cap) {
  return dev.iommu && dev.iommu->capable(dev, cap);
}

int iommu_device_claim_dma_owner(device &dev, void *owner) {
  if (IOMMUSIM_WARN_ON(!owner)) return -EINVAL;
  iommu_group *group = dev.group;
  if (!group) return -ENODEV;
  std::lock_guard g(group->mutex);
  if (group->owner_cnt) {
    if (group->owner != owner) return -EPERM;
    group->owner_cnt++;
    return 0;
  }
  if (group->domain && group->domain != group->default_domain &&
      group->domain != group->blocking_domain)
    return -EBUSY;
  if (group->blocking_domain) {
    int rc = group_set_domain(group, group->blocking_domain, false);
    if (rc) return rc;
  }
  group->owner = owner;
  group->owner_cnt = 1;
  return 0;
}

void iommu_device_release_dma_owner(device &dev) {
  iommu_group *group = dev.group;
  if (!group) return;
  std::lock_guard g(group->mutex);
  if (IOMMUSIM_WARN_ON(!group->owner_cnt || !group->pasid_array.empty())) return;
  if (--group->owner_cnt) return;
  group->owner = nullptr;
  if (group->default_domain) group_set_domain(group, group->default_domain, true);
}

err_or<iommu_domain> iommu_paging_domain_alloc(device &dev) {
  if (!dev.iommu) return err_or<iommu_domain>::error(-ENODEV);
  auto d = dev.iommu->domain_alloc_paging(&dev);
  if (d.is_err()) return d;
  if (!d.get()) return err_or<iommu_domain>::error(-ENOMEM);
  d->owner = dev.iommu;
  d->type = iommu_domain_type::paging;
  return d;
}

void iommu_domain_free(iommu_domain *domain) { delete domain; }

int iommu_attach_group_handle(iommu_domain *domain, iommu_group *group,
                              iommu_attach_handle *handle) {
  if (handle) handle->domain = domain;
  std::lock_guard g(group->mutex);
  if (group->pasid_array.count(IOMMU_NO_PASID)) return -EBUSY;
  if (group->domain && group->domain != group->default_domain &&
      group->domain != group->blocking_domain)
    return -EBUSY;
  device *dev = group->devices.empty() ? nullptr : group->devices.front();
  if (!dev || !dev->iommu || dev->iommu != domain->owner) return -EINVAL;
  int rc = group_set_domain(group, domain, false);
  if (rc) return rc;
  group->pasid_array[IOMMU_NO_PASID] = handle;
  return 0;
}

void iommu_detach_group_handle(iommu_domain *, iommu_group *group) {
  std::lock_guard g(group->mutex);
  group_set_core_domain(group);
  group->pasid_array.erase(IOMMU_NO_PASID);
}

int iommu_replace_group_handle(iommu_group *group, iommu_domain *new_domain,
                               iommu_attach_handle *handle) {
  if (!new_domain) return -EINVAL;
  std::lock_guard g(group->mutex);
  if (handle) handle->domain = new_domain;
  device *dev = group->devices.empty() ? nullptr : group->devices.front();
  if (!dev || dev->iommu != new_domain->owner) return -EINVAL;
  int rc = group_set_domain(group, new_domain, false);
  if (rc) return rc;
  if (handle)
    group->pasid_array[IOMMU_NO_PASID] = handle;
  else
    group->pasid_array.erase(IOMMU_NO_PASID);
  return 0;
}

err_or<iommu_attach_handle> iommu_attach_handle_get(iommu_group *group, uint32_t pasid,
                                                    const iommu_domain_type *type_filter) {
  std::lock_guard g(group->mutex);
  auto it = group->pasid_array.find(pasid);
  if (it == group->pasid_array.end() || !it->second)
    return err_or<iommu_attach_handle>::error(-ENOENT);
  if (type_filter && it->second->domain->type != *type_filter)
    return err_or<iommu_attach_handle>::error(-EBUSY);
  return it->second;
}

// --- map / unmap ---

size_t iommu_pgsize(const iommu_domain *domain, uint64_t iova, uint64_t paddr, size_t size,
                    size_t *count) {
  uint64_t addr_merge = paddr | iova;
  // Sizes the hardware supports that fit in size and in the alignment.
  uint64_t pgsizes = domain->pgsize_bitmap & genmask(fls64(size), 0);
  if (addr_merge) pgsizes &= genmask(ffs64(addr_merge), 0);
  if (IOMMUSIM_WARN_ON(!pgsizes)) {
    *count = 0;
    return 0;
  }
  unsigned pgsize_idx = fls64(pgsizes);
  size_t pgsize = 1ULL << pgsize_idx;
  // Stop short of the next larger size's boundary when iova and paddr are
  // equally offset in it, so the next call can use the larger size.
  uint64_t bigger = domain->pgsize_bitmap & ~genmask(pgsize_idx, 0);
  if (bigger) {
    size_t pgsize_next = 1ULL << ffs64(bigger);
    if (!((iova ^ paddr) & (pgsize_next - 1))) {
      size_t offset = pgsize_next - (addr_merge & (pgsize_next - 1));
      if (offset + pgsize_next <= size) size = offset;
    }
  }
  *count = size >> pgsize_idx;
  return pgsize;
}

namespace {
bool domain_is_paging(const iommu_domain *d) {
  return d->type == iommu_domain_type::paging || d->type == iommu_domain_type::identity;
}

size_t unmap_range(iommu_domain *domain, uint64_t iova, size_t size, iommu_iotlb_gather *gather) {
  if (IOMMUSIM_WARN_ON(domain->pgsize_bitmap == 0) || !domain_is_paging(domain)) return 0;
  uint64_t min_pagesz = 1ULL << ffs64(domain->pgsize_bitmap);
  if (!is_aligned(iova | size, min_pagesz)) {
    IOMMUSIM_WARN("unaligned unmap: iova %#llx size %#zx min page %#llx",
                  (unsigned long long)iova, size, (unsigned long long)min_pagesz);
    return 0;
  }
  size_t unmapped = 0;
  while (unmapped < size) {
    size_t count;
    size_t pgsize = iommu_pgsize(domain, iova, iova, size - unmapped, &count);
    if (!pgsize) break;
    size_t n = domain->unmap_pages(iova, pgsize, count, gather);
    if (!n) break;
    iova += n;
    unmapped += n;
  }
  return unmapped;
}
}  // namespace

int iommu_map(iommu_domain *domain, uint64_t iova, uint64_t paddr, size_t size, int prot) {
  if (!domain_is_paging(domain)) return -EINVAL;
  if (IOMMUSIM_WARN_ON(domain->pgsize_bitmap == 0)) return -ENODEV;
  if (size == 0) return 0;
  uint64_t min_pagesz = 1ULL << ffs64(domain->pgsize_bitmap);
  if (!is_aligned(iova | paddr | size, min_pagesz)) return -EINVAL;
  const uint64_t orig_iova = iova;
  const size_t orig_size = size;
  int rc = 0;
  while (size) {
    size_t count, mapped = 0;
    size_t pgsize = iommu_pgsize(domain, iova, paddr, size, &count);
    if (!pgsize) {
      rc = -EINVAL;
      break;
    }
    rc = domain->map_pages(iova, paddr, pgsize, count, prot, &mapped);
    size -= mapped;
    if (rc) break;
    iova += mapped;
    paddr += mapped;
  }
  if (rc) {
    // Undo this call's mappings so a failed map leaves the domain unchanged.
    if (orig_size - size) iommu_unmap(domain, orig_iova, orig_size - size);
    return rc;
  }
  domain->iotlb_sync_map(orig_iova, orig_size);
  return 0;
}

size_t iommu_unmap(iommu_domain *domain, uint64_t iova, size_t size) {
  iommu_iotlb_gather gather;
  size_t n = unmap_range(domain, iova, size, &gather);
  domain->iotlb_sync(gather);
  return n;
}

uint64_t iommu_iova_to_phys(iommu_domain *domain, uint64_t iova) {
  if (domain->type == iommu_domain_type::identity) return iova;
  if (domain->type == iommu_domain_type::blocked) return 0;
  return domain->iova_to_phys(iova);
}

void iommu_get_resv_regions(const device &dev, std::vector<iommu_resv_region> &out) {
  if (dev.iommu) dev.iommu->get_resv_regions(dev, out);
}

// --- I/O page faults ---

int iommu_dev_enable_iopf(device &dev) {
  if (!dev.iommu) return -ENODEV;
  int rc = dev.iommu->dev_enable_iopf(dev);
  if (rc) return rc;
  if (!dev.fault_param) dev.fault_param = std::make_unique<iommu_fault_param>();
  return 0;
}

void iommu_dev_disable_iopf(device &dev) {
  if (dev.iommu) dev.iommu->dev_disable_iopf(dev);
  if (dev.fault_param) {
    std::lock_guard g(dev.fault_param->lock);
    IOMMUSIM_WARN_ON(dev.fault_param->outstanding != 0);
  }
  dev.fault_param.reset();
}

namespace {
// Where a page request of dev goes: the handle at its PASID, or — for a driver
// with a user-managed PASID table — the nested domain attached to the RID.
iommu_attach_handle *find_fault_handler(device &dev, const iopf_fault &evt) {
  iommu_attach_handle *handle = nullptr;
  if (evt.prm.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID) {
    auto h = iommu_attach_handle_get(dev.group, evt.prm.pasid, nullptr);
    if (h.is_err()) {
      if (!dev.iommu->user_pasid_table) return nullptr;
      const iommu_domain_type nested = iommu_domain_type::nested;
      h = iommu_attach_handle_get(dev.group, IOMMU_NO_PASID, &nested);
      if (h.is_err()) return nullptr;
    }
    handle = h.get();
  } else {
    auto h = iommu_attach_handle_get(dev.group, IOMMU_NO_PASID, nullptr);
    if (h.is_err()) return nullptr;
    handle = h.get();
  }
  if (!handle->domain->iopf_handler) return nullptr;
  return handle;
}

void iopf_error_response(device &dev, const iopf_fault &evt) {
  iommu_page_response resp;
  resp.pasid = evt.prm.pasid;
  resp.grpid = evt.prm.grpid;
  resp.code = iommu_page_response_code::invalid;
  dev.iommu->page_response(dev, evt, resp);
}
}  // namespace

void iommu_report_device_fault(device &dev, const iopf_fault &evt) {
  if (!dev.iommu || !dev.group) return;
  iommu_attach_handle *handle = find_fault_handler(dev, evt);
  if (!handle || !dev.fault_param) {
    if (handle) IOMMUSIM_WARN("page request for %s without IOPF enabled", dev.name.c_str());
    iopf_error_response(dev, evt);
    return;
  }
  iommu_fault_param &param = *dev.fault_param;
  auto *group = new iopf_group();
  {
    std::lock_guard g(param.lock);
    if (!(evt.prm.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE)) {
      // Not the last request of its group: nothing to answer yet.
      param.partial.push_back(evt);
      delete group;
      return;
    }
    // The group is every earlier request with this group index, then this one.
    auto &p = param.partial;
    for (auto it = p.begin(); it != p.end();) {
      if (it->prm.grpid == evt.prm.grpid) {
        group->faults.push_back(*it);
        it = p.erase(it);
      } else {
        ++it;
      }
    }
    group->faults.push_back(evt);
    param.outstanding++;
  }
  group->dev = &dev;
  group->attach_handle = handle;
  if (handle->domain->iopf_handler(group)) {
    iopf_group_response(group, iommu_page_response_code::failure);
    iopf_free_group(group);
  }
}

void iopf_group_response(iopf_group *group, iommu_page_response_code code) {
  if (!group || group->responded || !group->dev) return;
  device &dev = *group->dev;
  const iopf_fault &last = group->faults.back();
  iommu_page_response resp;
  resp.pasid = last.prm.pasid;
  resp.grpid = last.prm.grpid;
  resp.code = code;
  group->responded = true;
  dev.iommu->page_response(dev, last, resp);
}

void iopf_free_group(iopf_group *group) {
  if (!group) return;
  if (group->dev && group->dev->fault_param) {
    std::lock_guard g(group->dev->fault_param->lock);
    if (group->dev->fault_param->outstanding) group->dev->fault_param->outstanding--;
  }
  delete group;
}

}  // namespace iommusim::iommufd
