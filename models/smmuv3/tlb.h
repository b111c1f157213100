// SPDX-License-Identifier: MIT
// Entry types of the SMMU's caches, all held by the one sa_cache template:
//  - micro TLB (per TBU): tagged by StreamID/SubstreamID, because a TBU does
//    not know the context; it also carries ASID/VMID so TLBIs reach it.
//  - main TLB (TCU): tagged by translation regime (stage kind, StreamWorld,
//    VMID, ASID or global) and the input page at the leaf's page size; the
//    spec's StreamID-independent tagging (§3.17 TLB tagging, §5.4 CD.ASID,
//    §5.2 STE.S2VMID). Nested entries hold the combined stage-1+2 result;
//    stage-2 entries serve stage-2-only streams and the stage-2 translation
//    of stage-1 table and CD addresses.
//  - configuration cache (TCU): STE + CD by StreamID/SubstreamID.
//  - walk caches (TCU): one per stage and level, the next-level table of a
//    table descriptor by regime and input-address prefix.
#pragma once

#include <array>
#include <cstdint>

#include "models/common/cache_backend.h"
#include "models/common/walk.h"
#include "models/smmuv3/cd.h"
#include "models/smmuv3/ste.h"

namespace iommusim::models::smmuv3 {

// Translation regimes that tag entries (§3.17; StreamWorld of §5.2 STE.STRW).
enum class xl_kind : uint8_t { s1 = 1, s2 = 2, nested = 3 };
enum class xl_world : uint8_t { nsel1 = 0, el2 = 1, el2e2h = 2 };

// The access kinds a cached translation answers for.
inline access_kind make_access(bool write, bool exec, bool priv) {
  access_kind k;
  k.write = write;
  k.exec = exec && !write;  // an instruction fetch is a read
  k.priv = priv;
  return k;
}

// What a cached leaf says for an access.
enum class perm_verdict : uint8_t {
  ok = 0,
  fault,    // permission fault
  update,   // allowed only after a hardware update of the dirty state: walk again
};

// One stage's leaf, as cached: the format's translation (walk.h; permissions
// as vmsav8.h describes them) and where the descriptor is.
struct stage_leaf {
  bool present = false;
  int level = 0;
  unsigned granule_shift = 12;
  uint64_t in_page = 0;        // input address of the leaf's page/block (aligned)
  translation x;               // out_addr (aligned), page_shift, permissions, attrs
  uint64_t desc = 0;           // the leaf descriptor as used (after any HTTU update)
  uint64_t desc_pa = 0;        // where it is
  perm_verdict verdict(const access_kind &acc) const;
};

// The translation a TLB entry holds.
struct xl_entry {
  xl_kind kind = xl_kind::s1;
  xl_world world = xl_world::nsel1;
  uint16_t vmid = 0;
  uint16_t asid = 0;
  bool global = false;         // stage-1 nG == 0: matches any ASID
  uint64_t ia = 0;             // input page, aligned to page_shift
  unsigned page_shift = 12;
  uint64_t oa = 0;             // output page, aligned to page_shift
  stage_leaf s1, s2;           // the stages that apply (kind)

  // Combined verdict for an access; *stage2 says which stage refused it.
  perm_verdict verdict(const access_kind &acc, bool *stage2) const;
  bool covers(uint64_t addr) const { return (addr >> page_shift) == (ia >> page_shift); }
  uint64_t out_addr(uint64_t addr) const {
    return oa | (addr & ((uint64_t{1} << page_shift) - 1));
  }
  // The stage-1 output (IPA) for addr of a nested entry.
  uint64_t ipa_of(uint64_t addr) const {
    return s1.x.out_addr | (addr & ((uint64_t{1} << s1.x.page_shift) - 1));
  }
};

// Leaf sizes a lookup probes for (4K/16K/64K pages and the blocks of each
// granule: 2M, 32M, 512M, 1G, 4T), smallest first.
constexpr std::array<unsigned, 8> tlb_size_classes = {12, 14, 16, 21, 25, 29, 30, 42};

struct tlb_key {
  xl_kind kind = xl_kind::s1;
  xl_world world = xl_world::nsel1;
  uint16_t vmid = 0;
  uint16_t asid = 0;
  uint64_t ia = 0;
};

struct main_tlb_entry : xl_entry {
  using key_type = tlb_key;
  static unsigned probes(const key_type &) { return tlb_size_classes.size(); }
  static uint64_t probe_hash(const key_type &k, unsigned probe) {
    return hash_of(k.ia, tlb_size_classes[probe], k.vmid);
  }
  uint64_t hash() const { return hash_of(ia, page_shift, vmid); }
  bool matches(const key_type &k) const {
    return k.kind == kind && k.world == world && k.vmid == vmid &&
           (global || k.asid == asid) && covers(k.ia);
  }
  bool same_tag(const main_tlb_entry &o) const {
    return o.kind == kind && o.world == world && o.vmid == vmid && o.asid == asid &&
           o.global == global && o.page_shift == page_shift && o.ia == ia;
  }
  static uint64_t hash_of(uint64_t ia, unsigned shift, uint16_t vmid) {
    const uint64_t page = ia >> shift;
    return page ^ (page >> 13) ^ (uint64_t{vmid} * 0x9e5u) ^ shift;
  }

  // The RTL IOTLB's fields (tlb_impl: rtl; models/common/cache_backend.h):
  // the regime (kind, StreamWorld) as the context, size classes in the order
  // of tlb_size_classes, which is the RTL's size list (rtl/iotlb.sv).
  static uint32_t hw_ctx(xl_kind k, xl_world w) {
    return static_cast<uint32_t>(k) << 4 | static_cast<uint32_t>(w);
  }
  static hw_key hw_key_of(const key_type &k) {
    return {hw_ctx(k.kind, k.world), k.asid, k.vmid, k.ia};
  }
  hw_tag hw_tag_of() const {
    uint8_t cls = 0;
    for (unsigned c = 0; c < tlb_size_classes.size(); c++)
      if (tlb_size_classes[c] == page_shift) cls = static_cast<uint8_t>(c);
    return {hw_ctx(kind, world), asid, vmid, global, cls, ia >> page_shift};
  }
  hw_data hw_data_of() const {
    const translation &t = kind == xl_kind::s2 ? s2.x : s1.x;
    return {oa >> 12,
            static_cast<uint8_t>(t.read | t.write << 1 | t.exec << 2 | t.priv_only << 3),
            static_cast<uint8_t>(t.attrs)};
  }
};

struct utlb_key {
  uint32_t sid = 0;
  bool ssv = false;
  uint32_t ssid = 0;
  uint64_t ia = 0;
};

struct utlb_entry : xl_entry {
  using key_type = utlb_key;
  uint32_t sid = 0;
  bool ssv = false;
  uint32_t ssid = 0;
  uint8_t privcfg = 0, instcfg = 0;  // the stream's STE overrides of PnU / InD
  static unsigned probes(const key_type &) { return tlb_size_classes.size(); }
  static uint64_t probe_hash(const key_type &k, unsigned probe) {
    return hash_of(k.ia, tlb_size_classes[probe], k.sid);
  }
  uint64_t hash() const { return hash_of(ia, page_shift, sid); }
  bool matches(const key_type &k) const {
    return k.sid == sid && k.ssv == ssv && (!ssv || k.ssid == ssid) && covers(k.ia);
  }
  bool same_tag(const utlb_entry &o) const {
    return o.sid == sid && o.ssv == ssv && o.ssid == ssid && o.page_shift == page_shift &&
           o.ia == ia;
  }
  static uint64_t hash_of(uint64_t ia, unsigned shift, uint32_t sid) {
    const uint64_t page = ia >> shift;
    return page ^ (page >> 11) ^ (uint64_t{sid} * 0x2f1u) ^ shift;
  }
};

// A stream's resolved configuration (STE, and the CD if stage 1 applies).
struct stream_ctx {
  ste_info ste;
  bool has_cd = false;
  cd_info cd;
  bool s1 = false;             // stage 1 translates (after S1DSS)
  bool s2 = false;             // stage 2 translates
  bool split = false;          // split-stage ATS: stop at the stage-1 output (an IPA); stage 2
                               // still translates the stage-1 table addresses
  xl_world world = xl_world::nsel1;
  uint16_t vmid = 0;
  uint16_t asid = 0;
  xl_kind kind() const {
    return s1 && s2 && !split ? xl_kind::nested : s1 ? xl_kind::s1 : xl_kind::s2;
  }
};

struct cfg_key {
  uint32_t sid = 0;
  bool ssv = false;
  uint32_t ssid = 0;
};

struct cfg_entry {
  using key_type = cfg_key;
  cfg_key tag;
  stream_ctx ctx;
  static unsigned probes(const key_type &) { return 1; }
  static uint64_t probe_hash(const key_type &k, unsigned) { return hash_of(k); }
  uint64_t hash() const { return hash_of(tag); }
  bool matches(const key_type &k) const {
    return k.sid == tag.sid && k.ssv == tag.ssv && (!k.ssv || k.ssid == tag.ssid);
  }
  bool same_tag(const cfg_entry &o) const { return matches(o.tag); }
  static uint64_t hash_of(const key_type &k) {
    return uint64_t{k.sid} ^ (uint64_t{k.ssv ? k.ssid : 0} * 0x61u);
  }
};

// Walk-cache entries: the table a level-L table descriptor points to.
struct wc_key {
  uint8_t stage = 1;           // 1 or 2
  xl_world world = xl_world::nsel1;
  uint16_t vmid = 0;
  uint16_t asid = 0;
  uint8_t ttbr = 0;            // stage 1: TTB0 or TTB1
  uint8_t granule_shift = 12;
  uint64_t prefix = 0;         // input address >> level_shift(L)
  bool operator==(const wc_key &) const = default;
};

struct wc_entry {
  using key_type = wc_key;
  wc_key tag;
  uint64_t table = 0;          // next-level table, in the walk's input space (an IPA when nested)
  uint64_t ia = 0;             // an input address the entry was filled for
  uint8_t shift = 0;           // input bits below prefix: the entry covers [prefix << shift, +2^shift)
  static unsigned probes(const key_type &) { return 1; }
  static uint64_t probe_hash(const key_type &k, unsigned) { return hash_of(k); }
  uint64_t hash() const { return hash_of(tag); }
  bool matches(const key_type &k) const { return k == tag; }
  bool same_tag(const wc_entry &o) const { return o.tag == tag; }
  static uint64_t hash_of(const key_type &k) {
    return k.prefix ^ (k.prefix >> 9) ^ (uint64_t{k.vmid} * 0x9e5u) ^ (uint64_t{k.asid} * 0x3bu);
  }
};

}  // namespace iommusim::models::smmuv3
