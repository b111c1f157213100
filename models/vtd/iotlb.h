// SPDX-License-Identifier: MIT
// Entry types of the remapping unit's caches, all held by the one sa_cache
// template (VT-d §6.2 "Translation caches"):
//  - IOTLB: tagged by domain id, translation kind (first-stage, second-stage,
//    nested), PASID (first-stage and nested entries; a first-stage global
//    page answers every PASID of its domain) and the input page at the leaf's
//    size (4 KiB, 2 MiB, 1 GiB);
//  - context cache: by source id (§6.2.1);
//  - PASID cache: by source id and PASID, carrying the domain id so
//    invalidations by domain find it (§6.2.2);
//  - paging-structure caches: one per stage and entry level (PML5E, PML4E,
//    PDPTE, PDE), the next table by domain, PASID (first stage) and
//    input-address prefix (§6.2.4).
#pragma once

#include <array>
#include <cstdint>

#include "models/common/cache_backend.h"
#include "models/common/walk.h"
#include "models/vtd/context.h"

namespace iommusim::models::vtd {

// One stage's leaf as cached.
struct stage_leaf {
  bool present = false;
  int level = 0;               // walk-engine level (x86_paging.h)
  uint64_t in_page = 0;
  translation x;
  uint64_t desc = 0;           // leaf descriptor as used (after any A/D update)
  uint64_t desc_pa = 0;
};

enum class xl_kind : uint8_t { first = 1, second = 2, nested = 3 };

constexpr std::array<unsigned, 3> tlb_size_classes = {12, 21, 30};

struct iotlb_key {
  uint16_t did = 0;
  xl_kind kind = xl_kind::second;
  uint32_t pasid = 0;
  uint64_t ia = 0;
};

struct iotlb_entry {
  using key_type = iotlb_key;
  uint16_t did = 0;
  xl_kind kind = xl_kind::second;
  uint32_t pasid = 0;
  bool global = false;         // first-stage G: any PASID of the domain
  uint64_t ia = 0;             // aligned to page_shift
  unsigned page_shift = 12;
  uint64_t oa = 0;
  bool read = false, write = false, exec = false, user = true;
  bool dirty_needed = false;   // a write must walk to set D (A/D tracking)
  stage_leaf fs, ss;           // the stages that apply

  bool covers(uint64_t a) const { return (a >> page_shift) == (ia >> page_shift); }
  uint64_t out_addr(uint64_t a) const { return oa | (a & ((uint64_t{1} << page_shift) - 1)); }

  static unsigned probes(const key_type &) { return tlb_size_classes.size(); }
  static uint64_t probe_hash(const key_type &k, unsigned p) {
    return hash_of(k.ia, tlb_size_classes[p], k.did);
  }
  uint64_t hash() const { return hash_of(ia, page_shift, did); }
  bool matches(const key_type &k) const {
    return k.did == did && k.kind == kind && (kind == xl_kind::second || global || k.pasid == pasid) &&
           covers(k.ia);
  }
  bool same_tag(const iotlb_entry &o) const {
    return o.did == did && o.kind == kind && o.pasid == pasid && o.global == global &&
           o.page_shift == page_shift && o.ia == ia;
  }
  static uint64_t hash_of(uint64_t ia, unsigned shift, uint16_t did) {
    const uint64_t page = ia >> shift;
    return page ^ (page >> 13) ^ (uint64_t{did} * 0x9e5u) ^ shift;
  }

  // The RTL IOTLB's fields (models/common/cache_backend.h, docs/rtl.md): the
  // kind as the context, the domain id as the VMID, the PASID as the ASID; a
  // second-stage entry answers any PASID, so it is global to the hardware.
  // Size classes 4K/2M/1G are the RTL's classes 0, 3 and 6.
  static hw_key hw_key_of(const key_type &k) {
    return {static_cast<uint32_t>(k.kind), k.pasid, k.did, k.ia};
  }
  hw_tag hw_tag_of() const {
    const uint8_t cls = page_shift == 30 ? 6 : page_shift == 21 ? 3 : 0;
    return {static_cast<uint32_t>(kind), pasid, did, global || kind == xl_kind::second, cls,
            ia >> page_shift};
  }
  hw_data hw_data_of() const {
    return {oa >> 12, static_cast<uint8_t>(read | write << 1 | exec << 2 | !user << 3), 0};
  }
};

struct context_cache_key {
  uint16_t sid = 0;
};
struct context_cache_entry {
  using key_type = context_cache_key;
  uint16_t sid = 0;
  context_info ctx;
  static unsigned probes(const key_type &) { return 1; }
  static uint64_t probe_hash(const key_type &k, unsigned) { return k.sid; }
  uint64_t hash() const { return sid; }
  bool matches(const key_type &k) const { return k.sid == sid; }
  bool same_tag(const context_cache_entry &o) const { return o.sid == sid; }
};

struct pasid_cache_key {
  uint16_t sid = 0;
  uint32_t pasid = 0;
};
struct pasid_cache_entry {
  using key_type = pasid_cache_key;
  uint16_t sid = 0;
  uint32_t pasid = 0;
  pasid_info pe;
  static unsigned probes(const key_type &) { return 1; }
  static uint64_t probe_hash(const key_type &k, unsigned) { return hash_of(k); }
  uint64_t hash() const { return hash_of({sid, pasid}); }
  bool matches(const key_type &k) const { return k.sid == sid && k.pasid == pasid; }
  bool same_tag(const pasid_cache_entry &o) const { return o.sid == sid && o.pasid == pasid; }
  static uint64_t hash_of(const key_type &k) { return uint64_t{k.sid} ^ (uint64_t{k.pasid} * 0x61u); }
};

struct pwc_key {
  uint8_t stage = 2;           // 1 first stage, 2 second stage
  uint16_t did = 0;
  uint32_t pasid = 0;          // first stage only
  uint64_t prefix = 0;         // input address >> the entry level's shift
  bool operator==(const pwc_key &) const = default;
};
struct pwc_entry {
  using key_type = pwc_key;
  pwc_key tag;
  uint64_t table = 0;          // next table (a GPA when a nested first stage)
  uint8_t shift = 0;
  static unsigned probes(const key_type &) { return 1; }
  static uint64_t probe_hash(const key_type &k, unsigned) { return hash_of(k); }
  uint64_t hash() const { return hash_of(tag); }
  bool matches(const key_type &k) const { return k == tag; }
  bool same_tag(const pwc_entry &o) const { return o.tag == tag; }
  static uint64_t hash_of(const key_type &k) {
    return k.prefix ^ (k.prefix >> 9) ^ (uint64_t{k.did} * 0x9e5u) ^ (uint64_t{k.pasid} * 0x3bu);
  }
};

}  // namespace iommusim::models::vtd
