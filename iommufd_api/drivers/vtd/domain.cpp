// SPDX-License-Identifier: MIT
// Domains: creation, attaching devices (Linux's intel_iommu_attach_device,
// dmar_domain_attach_device, intel_nested_attach_dev, identity and blocking
// attach, device_block_translation), domain ids, and the map/unmap/sync
// operations over the second-stage tables of pgtable.cpp.
//
// As in Linux 6.12 an attach is not hitless: the device is first blocked
// (its context or PASID entry torn down with the invalidations §6.5.3.3
// asks for), then the new entry is written non-present-to-present, which
// needs no invalidation unless the unit caches non-present entries
// (CAP.CM). A domain gets its domain id at the first attach and gives it
// back when the last device leaves, after the teardown flushed the IOTLB
// of that id.
#include <algorithm>
#include <cerrno>
#include <vector>

#include "core/log.h"
#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

dmar_domain::dmar_domain(vtd_driver *drv) : iommu(drv), bus(drv->bus_) {
  owner = drv;
  type = iommu_domain_type::paging;
}

dmar_domain::~dmar_domain() {
  {
    std::lock_guard g(lock);
    IOMMUSIM_WARN_ON(!devices.empty());
  }
  if (s2_domain) {
    std::lock_guard g(s2_domain->s1_lock);
    auto &v = s2_domain->s1_domains;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
  }
  {
    std::lock_guard g(s1_lock);
    IOMMUSIM_WARN_ON(!s1_domains.empty());
  }
  // Linux's domain_exit: no device uses the tables any more and their IOTLB
  // entries went with the last detach, so they are freed at once.
  std::vector<uint64_t> freelist;
  for (auto &[g, list] : pending_free) freelist.insert(freelist.end(), list.begin(), list.end());
  pending_free.clear();
  if (pgd) {
    domain_unmap(0, (1ULL << (gaw - 12)) - 1, freelist);
    freelist.push_back(pgd);
    pgd = 0;
  }
  free_pages(freelist);
}

// Linux's paging_domain_alloc(dev, first_stage = false).
int dmar_domain::init_paging() {
  int addr_width = agaw_to_width(iommu->agaw_);
  addr_width = std::min<int>(addr_width, int(cap::mgaw(iommu->cap_)));
  gaw = addr_width;
  agaw = iommu->agaw_;
  max_addr = gaw >= 64 ? ~0ULL : (1ULL << gaw) - 1;
  pgsize_bitmap = 1ULL << 12;
  // CAP.SLLPS: bit 0 2 MiB, bit 1 1 GiB (§11.4.2); Linux takes fls().
  const unsigned sllps = cap::super_page_val(iommu->cap_);
  iommu_superpage = std::min(sllps ? 32 - __builtin_clz(sllps) : 0, 2);
  if (iommu_superpage >= 1) pgsize_bitmap |= 1ULL << 21;
  if (iommu_superpage >= 2) pgsize_bitmap |= 1ULL << 30;
  geometry.aperture_start = 0;
  geometry.aperture_end = max_addr;
  pgd = alloc_table();
  return pgd ? 0 : -ENOMEM;
}

// --- domain ids (Linux's domain_attach_iommu / domain_detach_iommu) ---

int vtd_driver::domain_attach_iommu(dmar_domain &d) {
  std::lock_guard g(iommu_lock_);
  if (d.did_refcnt) {
    d.did_refcnt++;
    return 0;
  }
  auto it = std::find(domain_ids_.begin(), domain_ids_.end(), false);
  if (it == domain_ids_.end()) {
    log("No free domain ids");
    return -ENOSPC;
  }
  *it = true;
  d.did = uint16_t(it - domain_ids_.begin());
  d.did_refcnt = 1;
  return 0;
}

void vtd_driver::domain_detach_iommu(dmar_domain &d) {
  std::lock_guard g(iommu_lock_);
  if (IOMMUSIM_WARN_ON(!d.did_refcnt)) return;
  if (--d.did_refcnt == 0) {
    domain_ids_[d.did] = false;
    d.did = 0;
  }
}

// ATS is the device's PCIe capability: enabled while a domain is attached
// (Linux's iommu_enable_pci_caps / iommu_disable_pci_caps).
void vtd_driver::enable_pci_caps(device_info &info) {
  if (info.dev->is_pci && info.ats_supported) info.ats_enabled = true;
}
void vtd_driver::disable_pci_caps(device_info &info) {
  if (info.dev->is_pci) info.ats_enabled = false;
}

// Block all DMA without PASID from dev: tear its context or PASID entry down
// and leave its domain (Linux's device_block_translation).
void vtd_driver::device_block_translation(device &dev) {
  device_info *info = dev_to_info(dev);
  if (!info || !info->domain_attached) return;
  if (info->domain) info->domain->cache_tag_unassign_domain(*info, IOMMU_NO_PASID);
  disable_pci_caps(*info);
  if (sm_)
    pasid_tear_down_entry(*info, IOMMU_NO_PASID, false);
  else
    for (uint16_t rid : info->rids) context_clear_one(*info, rid);
  info->domain_attached = false;
  dmar_domain *d = info->domain;
  if (!d) return;
  {
    std::lock_guard g(d->lock);
    auto &v = d->devices;
    v.erase(std::remove(v.begin(), v.end(), info), v.end());
  }
  domain_detach_iommu(*d);
  info->domain = nullptr;
}

// --- attach ---

int dmar_domain::prepare_attach(device_info &info) {
  vtd_driver &u = *info.iommu;
  if (force_snooping && !ecap::sc(u.ecap_)) return -EINVAL;
  if (has_dirty_ops && !u.ssads_supported()) return -EINVAL;
  int addr_width = std::min<int>(agaw_to_width(u.agaw_), int(cap::mgaw(u.cap_)));
  if (addr_width < 64 && max_addr > (1ULL << addr_width)) return -EINVAL;
  if (gaw != addr_width) gaw = addr_width;  // (one unit: never changes)
  // A domain from a unit with a larger AGAW would lose top levels here; this
  // driver has one unit, so the levels always match.
  if (IOMMUSIM_WARN_ON(u.agaw_ < agaw)) return -EINVAL;
  return 0;
}

int dmar_domain::attach_dev(device &dev) {
  return type == iommu_domain_type::nested ? attach_nested(dev) : attach_paging(dev);
}

int dmar_domain::attach_paging(device &dev) {
  device_info *info = dev_to_info(dev);
  if (!info || info->iommu != iommu) return -ENODEV;
  vtd_driver &u = *iommu;
  u.device_block_translation(dev);
  if (int rc = prepare_attach(*info)) return rc;
  if (int rc = u.domain_attach_iommu(*this)) return rc;
  info->domain = this;
  info->domain_attached = true;
  {
    std::lock_guard g(lock);
    devices.push_back(info);
  }
  int rc = 0;
  if (!u.sm_) {
    for (uint16_t rid : info->rids)
      if ((rc = u.context_mapping_one(*this, *info, rid))) break;
  } else {
    rc = u.pasid_setup_second_level(*this, *info, IOMMU_NO_PASID);
  }
  if (!rc) {
    u.enable_pci_caps(*info);
    rc = cache_tag_assign_domain(*info, IOMMU_NO_PASID);
  }
  if (rc) {
    u.device_block_translation(dev);
    return rc;
  }
  // Caching mode (second stage) and write-buffer flushing need a flush
  // after new mappings too (§6.1, §6.8).
  if ((cap::caching_mode(u.cap_) && !use_first_level) || cap::rwbf(u.cap_))
    iotlb_sync_map_needed = true;
  return 0;
}

// Linux's intel_nested_attach_dev.
int dmar_domain::attach_nested(device &dev) {
  device_info *info = dev_to_info(dev);
  if (!info || info->iommu != iommu) return -ENODEV;
  vtd_driver &u = *iommu;
  u.device_block_translation(dev);
  if (u.agaw_ < s2_domain->agaw) {
    u.log("%s: Adjusted guest address width not compatible", dev.name.c_str());
    return -ENODEV;
  }
  if (int rc = s2_domain->prepare_attach(*info)) {
    u.log("%s: s2 domain is not compatible", dev.name.c_str());
    return rc;
  }
  if (int rc = u.domain_attach_iommu(*this)) {
    u.log("%s: Failed to attach domain to iommu", dev.name.c_str());
    return rc;
  }
  int rc = cache_tag_assign_domain(*info, IOMMU_NO_PASID);
  if (!rc) {
    rc = u.pasid_setup_nested(*this, *info, IOMMU_NO_PASID);
    if (rc) cache_tag_unassign_domain(*info, IOMMU_NO_PASID);
  }
  if (rc) {
    u.domain_detach_iommu(*this);
    return rc;
  }
  info->domain = this;
  info->domain_attached = true;
  std::lock_guard g(lock);
  devices.push_back(info);
  return 0;
}

vtd_static_domain::vtd_static_domain(vtd_driver *drv, iommu_domain_type t) : iommu(drv) {
  owner = drv;
  type = t;
}

int vtd_static_domain::attach_dev(device &dev) {
  device_info *info = dev_to_info(dev);
  if (!info || info->iommu != iommu) return -ENODEV;
  iommu->device_block_translation(dev);
  if (type == iommu_domain_type::blocked) return 0;
  // Pass-through (§9.3 TT=10b, §9.6 PGTT=100b) needs ECAP.PT.
  if (!ecap::pass_through(iommu->ecap_)) return -EOPNOTSUPP;
  int rc = 0;
  if (iommu->sm_) {
    rc = iommu->pasid_setup_pass_through(*info, IOMMU_NO_PASID);
    if (!rc) iommu->enable_pci_caps(*info);
  } else {
    for (uint16_t rid : info->rids)
      if ((rc = iommu->context_setup_pass_through(*info, rid))) break;
  }
  if (!rc) info->domain_attached = true;
  return rc;
}

// --- map / unmap (Linux's intel_iommu_map_pages / intel_iommu_unmap) ---

int dmar_domain::map_pages(uint64_t iova, uint64_t paddr, size_t pgsize, size_t pgcount,
                           int iommu_prot, size_t *mapped) {
  if (type != iommu_domain_type::paging || !pgd) return -ENODEV;
  if (pgsize != (1ULL << 12) && pgsize != (1ULL << 21) && pgsize != (1ULL << 30)) return -EINVAL;
  if ((iova | paddr) & (pgsize - 1)) return -EINVAL;
  const uint64_t size = uint64_t(pgsize) * pgcount;
  uint64_t prot = 0;
  if (iommu_prot & IOMMU_READ) prot |= pte::READ;
  if (iommu_prot & IOMMU_WRITE) prot |= pte::WRITE;
  if (set_pte_snp) prot |= pte::SNP;
  const uint64_t end = gaw >= 64 ? ~0ULL : (1ULL << gaw);
  if (iova + size < iova || end < iova + size) {
    iommu->log("iommu width (%d) is not sufficient for the mapped address (%#llx)", gaw,
               (unsigned long long)(iova + size));
    return -EFAULT;
  }
  std::lock_guard g(pgtable_lock);
  uint64_t done = 0;
  const int rc = domain_mapping(iova >> 12, paddr >> 12, size >> 12, prot, &done);
  if (!rc && mapped) *mapped += size;
  if (rc && done) {
    // Take back what this call mapped (Linux leaves it to the caller; the
    // core here counts nothing of a failed call).
    std::vector<uint64_t> freelist;
    domain_unmap(iova >> 12, (iova >> 12) + done - 1, freelist);
    cache_tag_flush_range(iova, iova + (done << 12) - 1, freelist.empty());
    free_pages(freelist);
  }
  return rc;
}

size_t dmar_domain::unmap_pages(uint64_t iova, size_t pgsize, size_t pgcount,
                                iommu_iotlb_gather *gather) {
  if (type != iommu_domain_type::paging || !pgd) return 0;
  uint64_t size = uint64_t(pgsize) * pgcount;
  if (gather && !gather->empty()) {
    // One gather holds one size and one contiguous range (Linux's
    // iommu_iotlb_gather_add_page): flush what it holds first.
    const uint64_t end = iova + size - 1;
    const bool disjoint = iova > gather->end + 1 || end + 1 < gather->start;
    if ((gather->pgsize && gather->pgsize != size) || disjoint) {
      iotlb_sync(*gather);
      *gather = iommu_iotlb_gather{};
    }
  }
  std::vector<uint64_t> freelist;
  {
    std::lock_guard g(pgtable_lock);
    // A superpage is unmapped whole even when asked for less.
    int level = 0;
    if (!pfn_to_dma_pte(iova >> 12, &level, false) && !level) return 0;
    if (level && size < (4096ULL << level_to_offset_bits(level)))
      size = 4096ULL << level_to_offset_bits(level);
    domain_unmap(iova >> 12, (iova + size - 1) >> 12, freelist);
    if (max_addr == iova + size) max_addr = iova;
  }
  if (!gather) {
    cache_tag_flush_range(iova, iova + size - 1, freelist.empty());
    free_pages(freelist);
    return size;
  }
  if (!freelist.empty()) {
    std::lock_guard g(pgtable_lock);
    auto &list = pending_free[gather];
    list.insert(list.end(), freelist.begin(), freelist.end());
  }
  gather->add_range(iova, size);
  gather->pgsize = size;
  return size;
}

uint64_t dmar_domain::iova_to_phys(uint64_t iova) {
  if (type != iommu_domain_type::paging || !pgd) return 0;
  std::lock_guard g(pgtable_lock);
  int level = 0;
  const uint64_t ptep = pfn_to_dma_pte(iova >> 12, &level, false);
  if (!ptep) return 0;
  const uint64_t v = read_pte(ptep);
  if (!pte::present(v)) return 0;
  return (v & pte::ADDR_MASK) + (iova & ((1ULL << (level_to_offset_bits(level) + 12)) - 1));
}

void dmar_domain::iotlb_sync_map(uint64_t iova, size_t size) {
  if (iotlb_sync_map_needed && size) cache_tag_flush_range_np(iova, iova + size - 1);
}

void dmar_domain::iotlb_sync(iommu_iotlb_gather &gather) {
  std::vector<uint64_t> freelist;
  {
    std::lock_guard g(pgtable_lock);
    auto it = pending_free.find(&gather);
    if (it != pending_free.end()) {
      freelist = std::move(it->second);
      pending_free.erase(it);
    }
  }
  // IH (invalidation hint) when no table page went: only leaves changed.
  if (!gather.empty()) cache_tag_flush_range(gather.start, gather.end, freelist.empty());
  free_pages(freelist);
}

void dmar_domain::flush_iotlb_all() { cache_tag_flush_all(); }

// Linux's intel_iommu_enforce_cache_coherency: second-stage PTEs get SNP
// (only possible before anything is mapped); first-stage ones PGSNP.
bool dmar_domain::enforce_cache_coherency() {
  if (force_snooping) return true;
  std::lock_guard g(lock);
  if (!ecap::sc(iommu->ecap_) || (!use_first_level && has_mappings)) return false;
  if (!use_first_level)
    set_pte_snp = true;
  else
    for (device_info *info : devices) iommu->pasid_setup_page_snoop_control(*info, IOMMU_NO_PASID);
  force_snooping = true;
  return true;
}

}  // namespace iommusim::iommufd::vtd
