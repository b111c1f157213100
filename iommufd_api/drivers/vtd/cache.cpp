// SPDX-License-Identifier: MIT
// Cache tags and IOTLB / device-TLB flushes (Linux 6.12's cache.c; VT-d
// §6.5.2.3-6.5.2.7).
//
// A domain remembers where its translations may be cached: the IOTLB under
// (domain id, PASID), each ATS device's TLB, and — for a nest parent — the
// IOTLB and device TLBs of every nested domain over it. A flush of
// [start, end] becomes one descriptor per tag, batched 16 at a time before
// the invalidation wait:
//  - second stage: IOTLB page-selective (PSI) with an address mask covering
//    the range aligned to its size, or domain-selective (DSI) when the unit
//    has no PSI, the mask exceeds CAP.MAMV or everything goes;
//  - first stage (nested): PASID-based IOTLB, PSI or non-globals of a PASID;
//  - device TLB: the same aligned range (a nest parent's change flushes the
//    whole device TLB: the device caches nested results).
#include <algorithm>

#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

namespace {
bool tag_match(const cache_tag &t, uint16_t did, const device_info *info, uint32_t pasid_v,
               cache_tag::kind type) {
  if (t.type != type || t.domain_id != did || t.pasid != pasid_v) return false;
  if (type == cache_tag::DEVTLB || type == cache_tag::NESTING_DEVTLB) return t.info == info;
  return true;  // one IOMMU: IOTLB tags match on (did, pasid)
}

void tag_assign(dmar_domain &d, uint16_t did, device_info &info, uint32_t pasid_v,
                cache_tag::kind type) {
  std::lock_guard g(d.cache_lock);
  for (cache_tag &t : d.tags)
    if (tag_match(t, did, &info, pasid_v, type)) {
      t.users++;
      return;
    }
  d.tags.push_back({type, did, pasid_v, &info, 1});
}

void tag_unassign(dmar_domain &d, uint16_t did, device_info &info, uint32_t pasid_v,
                  cache_tag::kind type) {
  std::lock_guard g(d.cache_lock);
  for (auto it = d.tags.begin(); it != d.tags.end(); ++it)
    if (tag_match(*it, did, &info, pasid_v, type)) {
      if (--it->users == 0) d.tags.erase(it);
      return;
    }
}

uint64_t roundup_pow_of_two(uint64_t n) {
  uint64_t p = 1;
  while (p < n && p) p <<= 1;
  return p ? p : 1ULL << 63;
}
unsigned ilog2(uint64_t n) { return 63 - unsigned(__builtin_clzll(n)); }

// The naturally aligned power-of-two range of pages covering [start, end]
// (Linux's calculate_psi_aligned_address): returns its address, *pages and
// *mask (log2 pages).
uint64_t psi_aligned_address(uint64_t start, uint64_t end, uint64_t *pages_out,
                             unsigned *mask_out) {
  const uint64_t off = start & 0xfff;
  uint64_t pages = ((off + (end - start + 1)) + 0xfff) >> 12;
  uint64_t aligned = roundup_pow_of_two(pages);
  uint64_t bitmask = aligned - 1;
  unsigned mask = ilog2(aligned);
  const uint64_t pfn = start >> 12;
  if (bitmask & pfn) {
    // The range straddles an alignment boundary: grow the mask until the
    // first and last page share their upper bits.
    const uint64_t end_pfn = pfn + pages - 1;
    const uint64_t shared = ~(pfn ^ end_pfn) & ~bitmask;
    mask = shared ? unsigned(__builtin_ctzll(shared)) : MAX_AGAW_PFN_WIDTH;
    aligned = 1ULL << mask;
  }
  *pages_out = aligned;
  *mask_out = mask;
  return start & ~((4096ULL << mask) - 1);
}

// Descriptors for one domain flush; submitted (with the wait) 16 at a time.
struct qi_batch {
  vtd_driver &u;
  std::vector<qi_desc> descs;
  void add(const qi_desc &d);
  void flush();
};
}  // namespace

int dmar_domain::cache_tag_assign_domain(device_info &info, uint32_t pasid_v) {
  tag_assign(*this, did, info, pasid_v, cache_tag::IOTLB);
  if (info.ats_enabled) tag_assign(*this, did, info, pasid_v, cache_tag::DEVTLB);
  if (type != iommu_domain_type::nested) return 0;
  tag_assign(*s2_domain, did, info, pasid_v, cache_tag::NESTING_IOTLB);
  if (info.ats_enabled) tag_assign(*s2_domain, did, info, pasid_v, cache_tag::NESTING_DEVTLB);
  return 0;
}

void dmar_domain::cache_tag_unassign_domain(device_info &info, uint32_t pasid_v) {
  tag_unassign(*this, did, info, pasid_v, cache_tag::IOTLB);
  if (info.ats_enabled) tag_unassign(*this, did, info, pasid_v, cache_tag::DEVTLB);
  if (type != iommu_domain_type::nested) return;
  tag_unassign(*s2_domain, did, info, pasid_v, cache_tag::NESTING_IOTLB);
  if (info.ats_enabled) tag_unassign(*s2_domain, did, info, pasid_v, cache_tag::NESTING_DEVTLB);
}

// The vtd_driver side of a batch (friend access to the queue).
struct flush_ops {
  static void submit(vtd_driver &u, std::vector<qi_desc> &descs) {
    if (descs.empty()) return;
    u.qi_submit_sync(descs.data(), unsigned(descs.size()));
    descs.clear();
  }
  static bool te(const vtd_driver &u) { return u.gcmd_ & gcmd::TE; }
  static uint64_t cap(const vtd_driver &u) { return u.cap_; }
  static void write_buffer(vtd_driver &u) { u.flush_write_buffer(); }
  static bool qi(const vtd_driver &u) { return u.use_qi(); }
  static void reg_iotlb(vtd_driver &u, uint16_t did, uint64_t addr, unsigned mask,
                        uint64_t gran) {
    u.reg_flush_iotlb(did, addr, mask, gran);
  }
};

namespace {
void qi_batch::add(const qi_desc &d) {
  descs.push_back(d);
  if (descs.size() == QI_MAX_BATCHED_DESC_COUNT) flush();
}
void qi_batch::flush() { flush_ops::submit(u, descs); }

void flush_iotlb_tag(const dmar_domain &d, qi_batch &b, const cache_tag &t, uint64_t addr,
                     uint64_t pages, unsigned mask, int ih) {
  if (d.use_first_level) {
    if (!pages) return;
    // Beyond CAP.MAMV a page-selective descriptor is invalid (the unit
    // reports IQE and invalidates nothing): take the whole PASID instead, as
    // the second-stage path below falls back to domain-selective. Linux 6.12
    // sends the PSI descriptor anyway (e.g. AM = 52 for an npages = U64_MAX
    // HWPT_INVALIDATE); docs/vtd_driver.md lists this difference.
    const bool too_big = mask > cap::max_amask_val(flush_ops::cap(b.u));
    b.add(vtd_driver::desc_piotlb(t.domain_id, t.pasid, addr, too_big ? vtd_driver::NPAGES_ALL : pages, ih));
    return;
  }
  const uint64_t c = flush_ops::cap(b.u);
  uint64_t gran = qi::IOTLB_GRAN_PSI;
  if (!cap::pgsel_inv(c) || mask > cap::max_amask_val(c) || pages == vtd_driver::NPAGES_ALL) {
    addr = 0;
    mask = 0;
    ih = 0;
    gran = qi::IOTLB_GRAN_DSI;
  }
  if (!flush_ops::qi(b.u)) {
    flush_ops::reg_iotlb(b.u, t.domain_id, addr | uint64_t(ih), mask, gran);
    return;
  }
  b.add(b.u.desc_iotlb(t.domain_id, addr | uint64_t(ih), mask, gran));
}

void flush_devtlb_tag(qi_batch &b, const cache_tag &t, uint64_t addr, unsigned mask) {
  // No device-TLB invalidation while translation is off (§4.3).
  if (!flush_ops::te(b.u)) return;
  const device_info &info = *t.info;
  b.add(vtd_driver::desc_dev_iotlb(info.rid(), info.pfsid, info.ats_qdep, addr, mask));
}
}  // namespace

void dmar_domain::cache_tag_flush_range(uint64_t start, uint64_t end, int ih) {
  uint64_t pages;
  unsigned mask;
  const uint64_t addr = psi_aligned_address(start, end, &pages, &mask);
  qi_batch b{*iommu, {}};
  std::lock_guard g(cache_lock);
  for (const cache_tag &t : tags) {
    switch (t.type) {
      case cache_tag::IOTLB:
      case cache_tag::NESTING_IOTLB:
        flush_iotlb_tag(*this, b, t, addr, pages, mask, ih);
        break;
      case cache_tag::NESTING_DEVTLB:
        // The device caches results of the nested walk: which of them a
        // second-stage change affects is unknown, so all of them go.
        flush_devtlb_tag(b, t, 0, MAX_AGAW_PFN_WIDTH);
        break;
      case cache_tag::DEVTLB:
        flush_devtlb_tag(b, t, addr, mask);
        break;
    }
  }
  b.flush();
}

void dmar_domain::cache_tag_flush_all() {
  qi_batch b{*iommu, {}};
  std::lock_guard g(cache_lock);
  for (const cache_tag &t : tags) {
    switch (t.type) {
      case cache_tag::IOTLB:
      case cache_tag::NESTING_IOTLB:
        flush_iotlb_tag(*this, b, t, 0, vtd_driver::NPAGES_ALL, 0, 0);
        break;
      case cache_tag::DEVTLB:
      case cache_tag::NESTING_DEVTLB:
        flush_devtlb_tag(b, t, 0, MAX_AGAW_PFN_WIDTH);
        break;
    }
  }
  b.flush();
}

// After new mappings: only caching-mode second-stage entries are cached
// while non-present (§6.1); otherwise a write-buffer flush (§6.8).
void dmar_domain::cache_tag_flush_range_np(uint64_t start, uint64_t end) {
  uint64_t pages;
  unsigned mask;
  const uint64_t addr = psi_aligned_address(start, end, &pages, &mask);
  qi_batch b{*iommu, {}};
  std::lock_guard g(cache_lock);
  for (const cache_tag &t : tags) {
    if (!cap::caching_mode(flush_ops::cap(*iommu)) || use_first_level) {
      flush_ops::write_buffer(*iommu);
      continue;
    }
    if (t.type == cache_tag::IOTLB || t.type == cache_tag::NESTING_IOTLB)
      flush_iotlb_tag(*this, b, t, addr, pages, mask, 0);
  }
  b.flush();
}

}  // namespace iommusim::iommufd::vtd
