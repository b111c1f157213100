// SPDX-License-Identifier: MIT
// Dirty tracking with second-stage access/dirty bits (VT-d §3.6.2, ECAP.SLADS
// with ECAP.SMPWC: Linux's ssads_supported).
//
// The PASID entry's SSADE bit (§9.6) makes the unit set D (bit 9) in a
// second-stage leaf on the first write through it. set_dirty_tracking()
// sets or clears SSADE in the entry of every device of the domain — and of
// every device of the nested domains over a nest parent — followed by the
// PASID-cache, domain IOTLB and device-TLB invalidations (Linux's
// intel_pasid_setup_dirty_tracking). read_and_clear_dirty() walks the leaves
// of the range, reports those with D and clears it unless
// IOMMU_DIRTY_NO_CLEAR; the core then flushes the reported ranges from the
// IOTLB (the gather of iommu_dirty_bitmap), as Linux's
// iommu_dirty_bitmap_record / iommu_iotlb_sync do, so a cached translation
// cannot let a write go unrecorded.
#include <cerrno>

#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

int dmar_domain::set_dirty_tracking(bool enable) {
  if (!has_dirty_ops) return -EINVAL;
  vtd_driver &u = *iommu;
  // Linux's device_set_dirty_tracking over one device list.
  auto set_all = [&u](std::vector<device_info *> &list, bool en) {
    for (device_info *info : list)
      if (int rc = u.pasid_setup_dirty_tracking(*info, IOMMU_NO_PASID, en)) return rc;
    return 0;
  };
  std::lock_guard g(lock);
  if (dirty_tracking == enable) return 0;
  int rc = set_all(devices, enable);
  if (!rc && nested_parent) {
    // The nested domains' PASID entries carry this table's SSADE too.
    std::lock_guard g1(s1_lock);
    for (dmar_domain *s1 : s1_domains) {
      std::lock_guard g2(s1->lock);
      if ((rc = set_all(s1->devices, enable))) break;
    }
    if (rc)
      for (dmar_domain *s1 : s1_domains) {
        std::lock_guard g2(s1->lock);
        set_all(s1->devices, dirty_tracking);
      }
  }
  if (rc) {
    set_all(devices, dirty_tracking);
    return rc;
  }
  dirty_tracking = enable;
  return 0;
}

int dmar_domain::read_and_clear_dirty(uint64_t iova, size_t size, unsigned long flags,
                                      iommu_dirty_bitmap &dirty) {
  if (type != iommu_domain_type::paging || !pgd) return -ENODEV;
  // The core calls with no bitmap to clean D bits left from a previous
  // tracking period; with a bitmap, tracking must be on.
  if (!dirty_tracking && dirty.bitmap) return -EINVAL;
  if (!size) return 0;
  const uint64_t end = iova + size - 1;
  std::lock_guard g(pgtable_lock);
  do {
    int lvl = 0;
    const uint64_t ptep = pfn_to_dma_pte(iova >> 12, &lvl, false);
    const uint64_t pgsize = level_size(lvl) << 12;
    // Continue from the next boundary of the level the walk stopped at
    // (Linux adds pgsize to an unaligned IOVA; the same for aligned input).
    const uint64_t next = (iova & ~(pgsize - 1)) + pgsize;
    if (ptep) {
      const uint64_t v = read_pte(ptep);
      if (pte::present(v) && (v & pte::DIRTY)) {
        if (!(flags & IOMMU_DIRTY_NO_CLEAR)) write_pte(ptep, v & ~pte::DIRTY);
        dirty.record(iova, pgsize);
      }
    }
    if (next <= iova) break;  // wrapped at the top of the address space
    iova = next;
  } while (iova < end);
  return 0;
}

}  // namespace iommusim::iommufd::vtd
