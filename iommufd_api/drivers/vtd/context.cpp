// SPDX-License-Identifier: MIT
// Root and context tables (VT-d §9.1-9.4), legacy and scalable mode (Linux's
// iommu_context_addr, domain_context_mapping_one, context_setup_pass_through,
// domain_context_clear_one, intel_context_flush_no_pasid, context_flip_pri).
//
// Legacy mode: a root entry per bus points at a context table of 256 128-bit
// entries (TT multi-level or device-TLB, the second-stage table root, AW and
// the domain id). Scalable mode: the root entry's lower and upper halves
// point at context tables for devfn 0-127 and 128-255, of 256-bit entries
// that point at the device's PASID directory (pasid.cpp).
//
// Entries are made present last and torn down present-bit first, with the
// context-cache / IOTLB / device-TLB invalidations of §6.5.3.3 in between.
#include <cerrno>
#include <vector>

#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

namespace {
constexpr uint64_t PAGE_MASK = ~0xfffULL;
}

uint64_t vtd_driver::context_addr(uint8_t bus, uint8_t devfn, bool alloc) {
  uint64_t entry = root_entry_ + bus * 16ULL;  // lo: devfn 0-127 (all in legacy)
  unsigned idx = devfn;
  if (sm_) {
    if (devfn >= 0x80) {
      idx -= 0x80;
      entry += 8;
    }
    idx *= 2;  // 256-bit scalable-mode context entries
  }
  uint64_t v = bus_.mem_read64(entry);
  if (!(v & ctx::PRESENT)) {
    if (!alloc) return 0;
    const uint64_t table = bus_.dma_alloc(4096, 4096);
    if (!table) return 0;
    v = table | ctx::PRESENT;
    bus_.mem_write64(entry, v);
  }
  return (v & PAGE_MASK) + idx * 16ULL;
}

void vtd_driver::free_context_tables() {
  if (!root_entry_) return;
  std::vector<uint64_t> root(512);
  bus_.mem_read(root_entry_, root.data(), 4096);
  for (size_t i = 0; i < root.size(); i++) {
    if (!sm_ && (i & 1)) continue;  // legacy: the upper half is reserved
    if (root[i] & ctx::PRESENT) bus_.dma_free(root[i] & PAGE_MASK, 4096);
  }
}

// A legacy context entry for a paging domain (Linux's
// domain_context_mapping_one).
int vtd_driver::context_mapping_one(dmar_domain &d, device_info &info, uint16_t rid) {
  std::lock_guard g(iommu_lock_);
  const uint64_t ce = context_addr(uint8_t(rid >> 8), uint8_t(rid), true);
  if (!ce) return -ENOMEM;
  if (bus_.mem_read64(ce) & ctx::PRESENT) return 0;
  // Skip top levels for a unit with a smaller AGAW than the domain.
  uint64_t pgd = d.pgd;
  int agaw = d.agaw;
  for (; agaw > agaw_; agaw--) {
    const uint64_t v = bus_.mem_read64(pgd);
    if (!pte::present(v)) return -ENOMEM;
    pgd = v & pte::ADDR_MASK;
  }
  const unsigned tt = info.ats_supported ? ctx::TT_DEV_IOTLB : ctx::TT_MULTI_LEVEL;
  const uint64_t hi = uint64_t(agaw & 7) | (uint64_t(d.did) << 8);
  const uint64_t lo = (pgd & PAGE_MASK) | (uint64_t(tt) << 2) | ctx::PRESENT;
  bus_.mem_write64(ce + 8, hi);
  bus_.mem_write64(ce, lo);  // present last
  // Non-present to present: only caching-mode hardware caches the old
  // (non-present) entry, under domain id 0.
  if (cap::caching_mode(cap_)) {
    flush_context(0, rid, 0, qi::CC_GRAN_DEVICE);
    flush_iotlb(d.did, 0, 0, qi::IOTLB_GRAN_DSI);
  } else {
    flush_write_buffer();
  }
  return 0;
}

// A legacy pass-through context entry: AW is the largest supported AGAW and
// the address root is ignored (§9.3).
int vtd_driver::context_setup_pass_through(device_info &, uint16_t rid) {
  std::lock_guard g(iommu_lock_);
  const uint64_t ce = context_addr(uint8_t(rid >> 8), uint8_t(rid), true);
  if (!ce) return -ENOMEM;
  if (bus_.mem_read64(ce) & ctx::PRESENT) return 0;
  const uint64_t hi = uint64_t(msagaw_ & 7) | (uint64_t(FLPT_DEFAULT_DID) << 8);
  const uint64_t lo = (uint64_t(ctx::TT_PASS_THROUGH) << 2) | ctx::PRESENT;
  bus_.mem_write64(ce + 8, hi);
  bus_.mem_write64(ce, lo);
  if (cap::caching_mode(cap_)) {
    flush_context(0, rid, 0, qi::CC_GRAN_DEVICE);
    flush_iotlb(FLPT_DEFAULT_DID, 0, 0, qi::IOTLB_GRAN_DSI);
  } else {
    flush_write_buffer();
  }
  return 0;
}

void vtd_driver::context_clear_one(device_info &info, uint16_t rid) {
  uint64_t ce;
  uint16_t did;
  {
    std::lock_guard g(iommu_lock_);
    ce = context_addr(uint8_t(rid >> 8), uint8_t(rid), false);
    if (!ce) return;
    did = uint16_t(bus_.mem_read64(ce + 8) >> 8);
    bus_.mem_write64(ce, bus_.mem_read64(ce) & ~ctx::PRESENT);
  }
  context_flush_no_pasid(info, did, rid);
  const uint64_t zero[2] = {0, 0};
  bus_.mem_write(ce, zero, sizeof(zero));
}

void vtd_driver::context_flush_dev_iotlb(device_info &info) {
  if (!info.ats_enabled) return;
  flush_dev_iotlb(info, 0, MAX_AGAW_PFN_WIDTH);
}

// After a context entry changed (§6.5.3.3): the device's context-cache
// entry, then in legacy mode the domain's IOTLB entries, then the device TLB.
void vtd_driver::context_flush_no_pasid(device_info &info, uint16_t did, uint16_t sid) {
  flush_context(did, sid, 0, qi::CC_GRAN_DEVICE);
  if (!sm_) {
    flush_iotlb(did, 0, 0, qi::IOTLB_GRAN_DSI);
    context_flush_dev_iotlb(info);
    return;
  }
  // Scalable mode: the PASID-level caches were flushed with the PASID entries.
  context_flush_dev_iotlb(info);
}

// The PRE bit of the scalable-mode context entry (§9.4): page requests from
// the device are accepted only with it set.
int vtd_driver::context_flip_pri(device_info &info, bool enable) {
  if (!sm_) return -ENODEV;
  for (uint16_t rid : info.rids) {
    uint64_t ce;
    uint16_t did;
    {
      std::lock_guard g(iommu_lock_);
      ce = context_addr(uint8_t(rid >> 8), uint8_t(rid), false);
      if (!ce) return -ENODEV;
      uint64_t lo = bus_.mem_read64(ce);
      if (!(lo & ctx::PRESENT)) return -ENODEV;
      did = uint16_t(bus_.mem_read64(ce + 8) >> 8);
      lo = enable ? lo | ctx::SM_PRE : lo & ~ctx::SM_PRE;
      bus_.mem_write64(ce, lo);
    }
    context_flush_no_pasid(info, did, rid);
  }
  return 0;
}

}  // namespace iommusim::iommufd::vtd
