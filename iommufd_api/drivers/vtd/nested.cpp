// SPDX-License-Identifier: MIT
// Nested domains' cache invalidation from user space (Linux's nested.c
// intel_nested_cache_invalidate_user; IOMMU_HWPT_INVALIDATE with
// IOMMU_HWPT_INVALIDATE_DATA_VTD_S1).
//
// A nested domain translates through the user's first-stage table (the
// PASID entry's FLPTR, PGTT = nested, §9.6) over its nest parent's second
// stage. The user changes its first-stage table itself and asks for the
// caches to be invalidated: each request names [addr, addr + npages * 4K)
// (npages = U64_MAX with addr 0: everything) and whether only leaves changed
// (IOMMU_VTD_INV_FLAGS_LEAF, the invalidation hint). Each becomes
// PASID-based IOTLB (and device-TLB) invalidations for the domain's tags.
// Requests are handled in order; the first bad one stops the array, and
// entry_num returns how many were handled:
//  - data type not VTD_S1: -EINVAL before any entry;
//  - an entry that cannot be copied: its copy_struct_from_user errno;
//  - unknown flags or a non-zero __reserved: -EOPNOTSUPP;
//  - addr not 4 KiB aligned, or npages = U64_MAX with addr != 0: -EINVAL.
#include <cerrno>

#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

int dmar_domain::cache_invalidate_user(iommu_user_data_array &array) {
  if (type != iommu_domain_type::nested) return -EOPNOTSUPP;
  uint32_t processed = 0;
  int rc = 0;
  if (array.type != IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) {
    rc = -EINVAL;
  } else {
    for (uint32_t index = 0; index < array.entry_num; index++) {
      iommu_hwpt_vtd_s1_invalidate inv{};
      rc = iommu_copy_struct_from_user_array(&inv, sizeof(inv), sizeof(inv), &array,
                                             IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, index);
      if (rc) break;
      if ((inv.flags & ~uint32_t(IOMMU_VTD_INV_FLAGS_LEAF)) || inv.__reserved) {
        rc = -EOPNOTSUPP;
        break;
      }
      if ((inv.addr & 0xfff) || (inv.npages == ~0ULL && inv.addr)) {
        rc = -EINVAL;
        break;
      }
      cache_tag_flush_range(inv.addr, inv.addr + (inv.npages << 12) - 1,
                            (inv.flags & IOMMU_VTD_INV_FLAGS_LEAF) ? 1 : 0);
      processed++;
    }
  }
  array.entry_num = processed;
  return rc;
}

}  // namespace iommusim::iommufd::vtd
