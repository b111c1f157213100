// SPDX-License-Identifier: MIT
// PASID directories, PASID tables and scalable-mode context entries (VT-d
// §9.4-9.6; Linux's pasid.c).
//
// Each device has a PASID directory (8-byte entries, one per 64 PASIDs)
// sized for the PASIDs it may use (one page when it has none), pointed at by
// its scalable-mode context entries; PASID table pages (64 entries of 512
// bits) are allocated on first use. A PASID entry selects the translation
// (PGTT): second-stage only for paging domains, nested (the user's
// first-stage over a nest parent's second stage), or pass-through.
//
// Programming a non-present entry needs no invalidation unless the unit is
// in caching mode (then PASID cache and PASID-based IOTLB, else a write
// buffer flush); tearing one down clears P, then invalidates the PASID
// cache, the IOTLB (domain-selective, or PASID-based for FL/PT) and the
// device TLB, then clears the entry (§6.5.3.3).
#include <algorithm>
#include <cerrno>

#include "core/log.h"
#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

namespace {
constexpr uint64_t PAGE_MASK = ~0xfffULL;
unsigned get_order(uint64_t size) {
  unsigned order = 0;
  while ((4096ULL << order) < size) order++;
  return order;
}
}  // namespace

int vtd_driver::pasid_alloc_table(device_info &info) {
  if (IOMMUSIM_WARN_ON(info.pasid_table.dir)) return -EEXIST;
  uint32_t max_pasid = 0;
  if (info.pasid_supported) max_pasid = std::min(info.dev->max_pasids, pasid_max_id_);
  const uint64_t size = max_pasid >> (pasid::PDE_SHIFT - 3);
  const unsigned order = size ? get_order(size) : 0;
  const uint64_t bytes = 4096ULL << order;
  const uint64_t dir = bus_.dma_alloc(bytes, bytes);
  if (!dir) return -ENOMEM;
  info.pasid_table.dir = dir;
  info.pasid_table.order = order;
  info.pasid_table.max_pasid = 1u << (order + 12 + 3);
  try {
    info.pasid_table.tables.assign(info.pasid_table.max_pasid >> pasid::PDE_SHIFT, 0);
  } catch (const std::bad_alloc &) {
    bus_.dma_free(dir, bytes);
    info.pasid_table.dir = 0;
    return -ENOMEM;
  }
  return 0;
}

void vtd_driver::pasid_free_table(device_info &info) {
  if (!info.pasid_table.dir) return;
  for (uint64_t t : info.pasid_table.tables)
    if (t) bus_.dma_free(t, 4096);
  bus_.dma_free(info.pasid_table.dir, 4096ULL << info.pasid_table.order);
  info.pasid_table.dir = 0;
  info.pasid_table.tables.clear();
}

// The PASID entry's address, allocating its table page (iommu_lock_ held).
uint64_t vtd_driver::pasid_get_entry(device_info &info, uint32_t pasid_v) {
  auto &pt = info.pasid_table;
  if (IOMMUSIM_WARN_ON(!pt.dir || pasid_v >= pt.max_pasid)) return 0;
  const uint32_t dir_index = pasid_v >> pasid::PDE_SHIFT;
  uint64_t &table = pt.tables[dir_index];
  if (!table) {
    table = bus_.dma_alloc(4096, 4096);
    if (!table) return 0;
    bus_.mem_write64(pt.dir + dir_index * 8ULL, table | pasid::PRESENT);
  }
  return table + (pasid_v & pasid::PTE_MASK) * 64ULL;
}

void vtd_driver::write_pasid_entry(uint64_t pe, const uint64_t val[8]) {
  bus_.mem_write(pe + 8, &val[1], 56);
  bus_.mem_write64(pe, val[0]);  // present last
}

// --- scalable-mode context entries ---

namespace {
// The context entry's PDTS: the directory has 2^(pds + 7) entries (§9.4).
unsigned context_get_sm_pds(uint32_t max_pasid) {
  const uint32_t max_pde = max_pasid >> pasid::PDE_SHIFT;
  const unsigned pds = unsigned(__builtin_ctz(max_pde));
  return pds < 7 ? 0 : pds - 7;
}
}  // namespace

int vtd_driver::pasid_setup_sm_context(device_info &info) {
  for (uint16_t rid : info.rids) {
    {
      std::lock_guard g(iommu_lock_);
      const uint64_t ce = context_addr(uint8_t(rid >> 8), uint8_t(rid), true);
      if (!ce) return -ENOMEM;
      if (bus_.mem_read64(ce) & ctx::PRESENT) continue;
      uint64_t e[4] = {0, 0, 0, 0};
      e[0] = info.pasid_table.dir | ctx::pdts(context_get_sm_pds(info.pasid_table.max_pasid));
      // RID_PASID (hi bits 19:0) = 0: requests without PASID use PASID entry 0.
      if (info.ats_supported) e[0] |= ctx::SM_DTE;
      if (info.pasid_supported) e[0] |= ctx::SM_PASIDE;
      e[0] |= ctx::PRESENT;  // FPD (bit 1) clear: faults are reported
      bus_.mem_write(ce + 8, &e[1], 24);
      bus_.mem_write64(ce, e[0]);
    }
    if (cap::caching_mode(cap_)) {
      flush_context(0, rid, 0, qi::CC_GRAN_DEVICE);
      flush_iotlb(0, 0, 0, qi::IOTLB_GRAN_DSI);
    }
  }
  return 0;
}

void vtd_driver::pasid_teardown_sm_context(device_info &info) {
  for (uint16_t rid : info.rids) {
    uint64_t ce;
    uint16_t did;
    {
      std::lock_guard g(iommu_lock_);
      ce = context_addr(uint8_t(rid >> 8), uint8_t(rid), false);
      if (!ce) continue;
      const uint64_t lo = bus_.mem_read64(ce);
      if (!(lo & ctx::PRESENT)) continue;
      did = uint16_t(bus_.mem_read64(ce + 8) >> 8);
      bus_.mem_write64(ce, lo & ~ctx::PRESENT);
    }
    context_flush_no_pasid(info, did, rid);
    const uint64_t zero[4] = {0, 0, 0, 0};
    bus_.mem_write(ce, zero, sizeof(zero));
  }
}

// --- PASID entries ---

void vtd_driver::pasid_flush_caches(uint16_t did, uint32_t pasid_v) {
  if (cap::caching_mode(cap_)) {
    flush_pasid_cache(did, qi::PC_PASID_SEL, pasid_v);
    flush_piotlb(did, pasid_v, 0, NPAGES_ALL, false);
  } else {
    flush_write_buffer();
  }
}

void vtd_driver::devtlb_invalidation_with_pasid(device_info &info, uint32_t) {
  if (!info.ats_enabled) return;
  // Only requests without PASID are attached here, so the whole device TLB
  // goes (Linux's qi_flush_dev_iotlb of the full range).
  flush_dev_iotlb(info, 0, 64 - 12);
}

int vtd_driver::pasid_setup_second_level(dmar_domain &d, device_info &info, uint32_t pasid_v) {
  if (!ecap::slts(ecap_)) {
    log("No second level translation support");
    return -EINVAL;
  }
  const int agaw = std::min(d.agaw, agaw_);
  uint64_t pe;
  {
    std::lock_guard g(iommu_lock_);
    pe = pasid_get_entry(info, pasid_v);
    if (!pe) return -ENODEV;
    if (bus_.mem_read64(pe) & pasid::PRESENT) return -EBUSY;
    uint64_t v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    v[0] = (d.pgd & PAGE_MASK) | (uint64_t(agaw & 7) << 2) |
           (uint64_t(pasid::PGTT_SL_ONLY) << 6) | pasid::PRESENT;
    if (d.dirty_tracking) v[0] |= pasid::SSADE;
    v[1] = d.did;
    if (ecap::smpwc(ecap_)) v[1] |= pasid::PWSNP;
    write_pasid_entry(pe, v);
  }
  pasid_flush_caches(d.did, pasid_v);
  return 0;
}

int vtd_driver::pasid_setup_nested(dmar_domain &d, device_info &info, uint32_t pasid_v) {
  const iommu_hwpt_vtd_s1 &s1 = d.s1_cfg;
  dmar_domain &s2 = *d.s2_domain;
  switch (s1.addr_width) {
    case 48:
      break;
    case 57:
      if (!cap::fl5lp(cap_)) {
        log("%s: 5-level paging not supported", info.dev->name.c_str());
        return -EINVAL;
      }
      break;
    default:
      log("%s: Invalid stage-1 address width %u", info.dev->name.c_str(), s1.addr_width);
      return -EINVAL;
  }
  if ((s1.flags & IOMMU_VTD_S1_SRE) && !ecap::srs(ecap_)) {
    log("No supervisor request support");
    return -EINVAL;
  }
  if ((s1.flags & IOMMU_VTD_S1_EAFE) && !ecap::eafs(ecap_)) {
    log("No extended access flag support");
    return -EINVAL;
  }
  {
    std::lock_guard g(iommu_lock_);
    const uint64_t pe = pasid_get_entry(info, pasid_v);
    if (!pe) return -ENODEV;
    if (bus_.mem_read64(pe) & pasid::PRESENT) return -EBUSY;
    uint64_t v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    v[2] = s1.pgtbl_addr & PAGE_MASK;
    if (s1.addr_width == 57) v[2] |= 1ULL << 2;  // FLPM: 5-level
    if (s1.flags & IOMMU_VTD_S1_SRE) {
      v[2] |= pasid::SRE;
      if (s1.flags & IOMMU_VTD_S1_WPE) v[2] |= pasid::WPE;
    }
    if (s1.flags & IOMMU_VTD_S1_EAFE) v[2] |= pasid::EAFE;
    if (s2.force_snooping) v[1] |= pasid::PGSNP;
    v[0] = (s2.pgd & PAGE_MASK) | (uint64_t(s2.agaw & 7) << 2) |
           (uint64_t(pasid::PGTT_NESTED) << 6) | pasid::PRESENT;
    if (s2.dirty_tracking) v[0] |= pasid::SSADE;
    v[1] |= d.did;
    if (ecap::smpwc(ecap_)) v[1] |= pasid::PWSNP;
    write_pasid_entry(pe, v);
  }
  pasid_flush_caches(d.did, pasid_v);
  return 0;
}

int vtd_driver::pasid_setup_pass_through(device_info &info, uint32_t pasid_v) {
  {
    std::lock_guard g(iommu_lock_);
    const uint64_t pe = pasid_get_entry(info, pasid_v);
    if (!pe) return -ENODEV;
    if (bus_.mem_read64(pe) & pasid::PRESENT) return -EBUSY;
    uint64_t v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    v[0] = (uint64_t(agaw_ & 7) << 2) | (uint64_t(pasid::PGTT_PT) << 6) | pasid::PRESENT;
    v[1] = FLPT_DEFAULT_DID;
    if (ecap::smpwc(ecap_)) v[1] |= pasid::PWSNP;
    write_pasid_entry(pe, v);
  }
  pasid_flush_caches(FLPT_DEFAULT_DID, pasid_v);
  return 0;
}

int vtd_driver::pasid_setup_dirty_tracking(device_info &info, uint32_t pasid_v, bool enabled) {
  uint16_t did;
  {
    std::lock_guard g(iommu_lock_);
    const uint64_t pe = pasid_get_entry(info, pasid_v);
    if (!pe) {
      log("%s: Failed to get pasid entry of PASID %u", info.dev->name.c_str(), pasid_v);
      return -ENODEV;
    }
    uint64_t q0 = bus_.mem_read64(pe);
    did = pasid::did(bus_.mem_read64(pe + 8));
    const unsigned pgtt = pasid::pgtt(q0);
    if (pgtt != pasid::PGTT_SL_ONLY && pgtt != pasid::PGTT_NESTED) {
      log("%s: Dirty tracking not supported on translation type %u", info.dev->name.c_str(),
          pgtt);
      return -EOPNOTSUPP;
    }
    if (bool(q0 & pasid::SSADE) == enabled) return 0;
    q0 = enabled ? q0 | pasid::SSADE : q0 & ~pasid::SSADE;
    bus_.mem_write64(pe, q0);
  }
  // The IOTLB may hold translations whose dirty state the hardware did not
  // (or must not) record: PASID cache, then the domain's IOTLB, then the
  // device TLB (§6.5.3.3).
  flush_pasid_cache(did, qi::PC_PASID_SEL, pasid_v);
  flush_iotlb(did, 0, 0, qi::IOTLB_GRAN_DSI);
  devtlb_invalidation_with_pasid(info, pasid_v);
  return 0;
}

void vtd_driver::pasid_setup_page_snoop_control(device_info &info, uint32_t pasid_v) {
  uint16_t did;
  {
    std::lock_guard g(iommu_lock_);
    const uint64_t pe = pasid_get_entry(info, pasid_v);
    if (!pe || !(bus_.mem_read64(pe) & pasid::PRESENT)) return;
    const uint64_t q1 = bus_.mem_read64(pe + 8) | pasid::PGSNP;
    bus_.mem_write64(pe + 8, q1);
    did = pasid::did(q1);
  }
  flush_pasid_cache(did, qi::PC_PASID_SEL, pasid_v);
  flush_piotlb(did, pasid_v, 0, NPAGES_ALL, false);
  devtlb_invalidation_with_pasid(info, pasid_v);
}

void vtd_driver::pasid_tear_down_entry(device_info &info, uint32_t pasid_v, bool fault_ignore) {
  const uint64_t zero[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  uint64_t pe;
  uint16_t did;
  unsigned pgtt;
  {
    std::lock_guard g(iommu_lock_);
    pe = pasid_get_entry(info, pasid_v);
    if (!pe) return;
    const uint64_t q0 = bus_.mem_read64(pe);
    if (!(q0 & pasid::PRESENT)) {
      if (!(q0 & pasid::FPD)) return;
      // A blocked entry with faults suppressed: clear it, nothing is cached.
      bus_.mem_write(pe, zero, sizeof(zero));
      did = 0;
      pgtt = 0;
    } else {
      did = pasid::did(bus_.mem_read64(pe + 8));
      pgtt = pasid::pgtt(q0);
      bus_.mem_write64(pe, q0 & ~pasid::PRESENT);
    }
  }
  if (pgtt) {
    flush_pasid_cache(did, qi::PC_PASID_SEL, pasid_v);
    if (pgtt == pasid::PGTT_PT || pgtt == pasid::PGTT_FL_ONLY)
      flush_piotlb(did, pasid_v, 0, NPAGES_ALL, false);
    else
      flush_iotlb(did, 0, 0, qi::IOTLB_GRAN_DSI);
    devtlb_invalidation_with_pasid(info, pasid_v);
    // Linux re-reads the entry: P is clear now, so it is cleared entirely.
    std::lock_guard g(iommu_lock_);
    bus_.mem_write(pe, zero, sizeof(zero));
  }
  if (!pgtt || !fault_ignore) prq_drain_pasid(info, pasid_v);
}

}  // namespace iommusim::iommufd::vtd
