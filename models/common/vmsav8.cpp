// SPDX-License-Identifier: MIT
// VMSAv8-64 stage 1 and stage 2 descriptor decoders (see vmsav8.h).
#include "vmsav8.h"

#include <algorithm>

namespace iommusim::models::vmsav8 {

namespace {

// walk_state::a of a stage-1 walk: the table attributes seen so far, OR-ed
// (hierarchical attributes only ever remove permission; Arm ARM D8,
// "Hierarchical permissions").
// Bit positions are those of descriptor bits [62:59] shifted down by 59.
constexpr uint64_t h_pxn = 1u << 0;   // PXNTable
constexpr uint64_t h_uxn = 1u << 1;   // UXNTable
constexpr uint64_t h_noel0 = 1u << 2; // APTable[0]
constexpr uint64_t h_ro = 1u << 3;    // APTable[1]

constexpr unsigned max_oa_bits = 48;  // 52-bit output addresses are not modelled

pt_step fault(walk_fault f) {
  pt_step s;
  s.kind = pt_step::what::fault;
  s.fault = f;
  return s;
}
pt_step leaf() {
  pt_step s;
  s.kind = pt_step::what::leaf;
  s.fault = walk_fault::none;
  return s;
}
pt_step table(uint64_t next) {
  pt_step s;
  s.kind = pt_step::what::table;
  s.fault = walk_fault::none;
  s.next = next;
  return s;
}

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }

// An address beyond the output size is an Address size fault (Arm ARM D8,
// for next-table addresses and output addresses alike).
bool beyond_oas(uint64_t addr, unsigned oas) { return oas < 64 && (addr >> oas) != 0; }

uint64_t index_at(int level, uint64_t ia, const walk_params &p) {
  const unsigned ls = level_shift(p.granule_shift, level);
  // The start level resolves the input bits [ias-1:ls], which may span
  // concatenated tables (stage 2); every other level resolves one stride.
  const unsigned bits = level == p.start_level ? (p.ias > ls ? p.ias - ls : 0) : p.granule_shift - 3;
  return (ia >> ls) & low_mask(bits);
}

// Descriptor decode shared by both stages: validity, table/block/page by
// level (Arm ARM D8, "Translation table descriptor formats": bits[1:0] = 0b01 is a block at levels 0-2 where the
// granule allows one, otherwise invalid; at level 3 only 0b11, a page, is
// valid), and the table address check.
pt_step decode_common(int level, uint64_t desc, const walk_params &p, bool *is_table) {
  *is_table = false;
  if (!(desc & d_valid)) return fault(walk_fault::translation);
  if (level >= 3) return (desc & d_table) ? leaf() : fault(walk_fault::translation);
  if (desc & d_table) {
    const uint64_t next = desc & d_addr_mask & ~low_mask(p.granule_shift);
    if (beyond_oas(next, p.oas)) return fault(walk_fault::address_size);
    *is_table = true;
    return table(next);
  }
  if (!block_allowed(p.granule_shift, level)) return fault(walk_fault::translation);
  return leaf();
}

// The output address of a leaf, and its address-size check (the first check
// on a leaf, before the access flag and permissions, the order of the Arm
// ARM's translation pseudocode).
uint64_t leaf_oa(int level, uint64_t desc, const walk_params &p) {
  return desc & d_addr_mask & ~low_mask(level_shift(p.granule_shift, level));
}

leaf_check fault_check(walk_fault f) {
  leaf_check c;
  c.fault = f;
  return c;
}

}  // namespace

unsigned level_shift(unsigned granule_shift, int level) {
  return granule_shift + static_cast<unsigned>(3 - level) * (granule_shift - 3);
}

bool block_allowed(unsigned granule_shift, int level) {
  if (granule_shift == 12) return level == 1 || level == 2;
  return level == 2;  // 16K: 32M, 64K: 512M (larger blocks need 52-bit addresses)
}

bool permits(const translation &x, const access_kind &acc) {
  // An instruction fetch is checked against the execute permission of its
  // privilege only (PXN for privileged, UXN for unprivileged), as the Arm ARM
  // checks one for the EL1&0 regime; data accesses need AP[1] when
  // unprivileged, and AP[2] == 0 (stage 2: S2AP[1]) for writes.
  if (acc.exec) return acc.priv ? x.exec : (x.attrs & xa_uexec) != 0;
  if (!acc.priv && x.priv_only) return false;
  return acc.write ? x.write : x.read;
}

// --- stage 1 -------------------------------------------------------------------

unsigned stage1_format::level_shift(int level, const walk_params &p) const {
  return vmsav8::level_shift(p.granule_shift, level);
}

uint64_t stage1_format::index(int level, uint64_t ia, const walk_params &p) const {
  return index_at(level, ia, p);
}

bool stage1_format::input_in_range(uint64_t ia, const walk_params &p) const {
  // EPDx: no walk for this range (translation fault). The TTB0 range is the
  // addresses whose bits [63:ias] are all 0, the TTB1 range all 1.
  if (p.format_flags & ff_epd) return false;
  if (p.ias >= 64) return true;
  const uint64_t top = ia >> p.ias;
  return (p.format_flags & ff_ttb1) ? top == (~0ull >> p.ias) : top == 0;
}

pt_step stage1_format::decode(int level, uint64_t desc, walk_state &st, const walk_params &p) const {
  bool is_table;
  pt_step s = decode_common(level, desc, p, &is_table);
  // Table descriptors carry APTable/UXNTable/PXNTable for everything below
  // (Arm ARM D8, "Hierarchical permissions"), unless hierarchical permissions are disabled (HPD).
  // NSTable is not modelled (non-secure only).
  if (is_table && !(p.format_flags & ff_hpd)) st.a |= (desc >> 59) & 0xF;
  return s;
}

leaf_check stage1_format::check_leaf(int level, uint64_t desc, const walk_state &st,
                                     const access_kind &acc, const walk_params &p) const {
  // Order of checks: address size, access flag, permission (Arm ARM fault
  // prioritisation). Hardware updates are computed first and take effect only
  // if the access is then permitted: a faulting access updates nothing.
  const uint64_t oa = leaf_oa(level, desc, p);
  if (beyond_oas(oa, p.oas)) return fault_check(walk_fault::address_size);

  uint64_t nd = desc;
  if (!(desc & d_af)) {
    // AF == 0: Access flag fault, or with HA the walker sets it (Arm ARM D8,
    // "Hardware management of the Access flag").
    if (!p.ha) return fault_check(walk_fault::access_flag);
    nd |= d_af;
  }
  // Dirty state (Arm ARM D8, "Hardware management of dirty state"): with HA and HD, DBM = 1 marks a writeable-clean
  // page (AP[2] = 1); a write makes it writeable-dirty by clearing AP[2].
  const bool hd = p.ha && p.hd;
  if (hd && (desc & d_dbm) && acc.write) nd &= ~d_ap2;

  const uint64_t h = (p.format_flags & ff_hpd) ? 0 : st.a;
  // AP[2:1] (Arm ARM D8, "Data access permissions"): AP[1] = 1 grants EL0 the same data access as EL1;
  // AP[2] = 1 makes the page read-only. APTable[0] removes EL0 access,
  // APTable[1] write access.
  const bool el0 = (nd & d_ap1) && !(h & h_noel0);
  const bool ro = (nd & d_ap2) || (h & h_ro);
  const bool pxn = (nd & d_pxn) || (h & h_pxn);
  const bool uxn = (nd & d_uxn) || (h & h_uxn);

  leaf_check c;
  translation &x = c.xlate;
  x.out_addr = oa;
  x.page_shift = vmsav8::level_shift(p.granule_shift, level);
  x.read = true;
  x.write = !ro;
  // A page writable at EL0 is never executable at EL1 (the EL1&0 regime's
  // implicit PXN, Arm ARM D8, "Instruction access permissions").
  x.exec = !pxn && !(el0 && !ro);
  x.priv_only = !el0;
  x.attrs = ((nd >> 2) & 0x7) | (((nd >> 8) & 0x3) << xa_sh_shift) | ((nd & d_ns) ? xa_ns : 0) |
            ((nd & d_ng) ? xa_ng : 0) | ((nd & d_contig) ? xa_contig : 0) | (uxn ? 0 : xa_uexec) |
            xa_af;
  // Writeable-clean: read-only only because of AP[2], which a write would
  // clear (a write is still refused if APTable[1] makes it read-only).
  if (hd && (nd & d_dbm) && (nd & d_ap2) && !(h & h_ro)) x.attrs |= xa_dbm_clean;

  if (!permits(x, acc)) {
    c.fault = walk_fault::permission;
    return c;
  }
  c.update = nd != desc;
  c.new_desc = nd;
  return c;
}

// --- stage 2 -------------------------------------------------------------------

unsigned stage2_format::level_shift(int level, const walk_params &p) const {
  return vmsav8::level_shift(p.granule_shift, level);
}

uint64_t stage2_format::index(int level, uint64_t ia, const walk_params &p) const {
  return index_at(level, ia, p);
}

bool stage2_format::input_in_range(uint64_t ia, const walk_params &p) const {
  // An IPA at or above 2^ias is a stage-2 Translation fault.
  return p.ias >= 64 || (ia >> p.ias) == 0;
}

pt_step stage2_format::decode(int level, uint64_t desc, walk_state &, const walk_params &p) const {
  // Stage-2 table descriptors have no hierarchical attributes (bits [63:59]
  // are ignored), so the walk state stays empty.
  bool is_table;
  return decode_common(level, desc, p, &is_table);
}

leaf_check stage2_format::check_leaf(int level, uint64_t desc, const walk_state &,
                                     const access_kind &acc, const walk_params &p) const {
  const uint64_t oa = leaf_oa(level, desc, p);
  if (beyond_oas(oa, p.oas)) return fault_check(walk_fault::address_size);

  uint64_t nd = desc;
  if (!(desc & d_af)) {
    if (!p.ha) return fault_check(walk_fault::access_flag);  // S2HA
    nd |= d_af;
  }
  // Stage-2 dirty state: DBM = 1 with S2AP[1] = 0 is writeable-clean; with
  // S2HA and S2HD a write sets S2AP[1].
  const bool hd = p.ha && p.hd;
  if (hd && (desc & d_dbm) && acc.write) nd |= d_ap2;

  leaf_check c;
  translation &x = c.xlate;
  x.out_addr = oa;
  x.page_shift = vmsav8::level_shift(p.granule_shift, level);
  // S2AP[0] read, S2AP[1] write (Arm ARM D8, stage 2 data access permissions).
  x.read = (nd & d_ap1) != 0;
  x.write = (nd & d_ap2) != 0;
  x.priv_only = false;
  // XN[1:0] = bits [54:53]. With FEAT_XNX: 00 both execute, 01 EL0 only, 10
  // neither, 11 EL1 only. Without it only XN[1] counts.
  const unsigned xn = static_cast<unsigned>((nd >> 53) & 3);
  bool pexec, uexec;
  if (p.format_flags & ff_xnx) {
    pexec = xn == 0 || xn == 3;
    uexec = xn == 0 || xn == 1;
  } else {
    pexec = uexec = (xn & 2) == 0;
  }
  x.exec = pexec;
  x.attrs = ((nd >> 2) & 0xF) | (((nd >> 8) & 0x3) << xa_sh_shift) |
            ((nd & d_contig) ? xa_contig : 0) | (uexec ? xa_uexec : 0) | xa_af;
  if (hd && (nd & d_dbm) && !(nd & d_ap2)) x.attrs |= xa_dbm_clean;

  if (!permits(x, acc)) {
    c.fault = walk_fault::permission;
    return c;
  }
  c.update = nd != desc;
  c.new_desc = nd;
  return c;
}

// --- programming fields --------------------------------------------------------

unsigned granule_from_tg0(unsigned tg) {
  switch (tg) {
    case 0:
      return 12;
    case 1:
      return 16;
    case 2:
      return 14;
    default:
      return 0;
  }
}

unsigned bits_from_ps(unsigned ps) {
  static const unsigned bits[] = {32, 36, 40, 42, 44, 48, 52};
  return ps < 7 ? bits[ps] : 0;
}

std::string make_s1_params(const s1_fields &f, unsigned max_oas, walk_params *out) {
  const unsigned gs = granule_from_tg0(f.tg);
  if (gs == 0) return "TG0 " + std::to_string(f.tg) + " is reserved";
  const unsigned ps = bits_from_ps(f.ips);
  if (ps == 0) return "IPS " + std::to_string(f.ips) + " is reserved";
  if (f.t0sz < 16) return "T0SZ " + std::to_string(f.t0sz) + " < 16 (52-bit inputs are not modelled)";
  const unsigned ias = 64 - f.t0sz;
  if (ias < gs + 1)
    return "T0SZ " + std::to_string(f.t0sz) + " leaves no index bits with a " +
           std::to_string(1u << (gs - 10)) + "K granule";
  walk_params p;
  p.ttb = f.ttb;
  p.ias = ias;
  // The effective output size is the smaller of IPS and what the IOMMU
  // implements (SMMUv3 §5.4: CD.IPS above OAS behaves as OAS).
  p.oas = std::min({ps, max_oas, max_oa_bits});
  p.granule_shift = gs;
  // The lowest level whose table covers the input size (Arm ARM D8,
  // "Translation process"): a table resolves granule_shift - 3 bits per level above the page offset.
  p.start_level = 3 - static_cast<int>((ias - gs - 1) / (gs - 3));
  p.concat = 1;
  p.ha = f.ha;
  p.hd = f.ha && f.hd;
  p.format_flags = (f.ttb1 ? ff_ttb1 : 0) | (f.epd ? ff_epd : 0) | (f.hpd ? ff_hpd : 0);
  *out = p;
  return {};
}

std::string make_s2_params(const s2_fields &f, unsigned max_oas, walk_params *out) {
  const unsigned gs = granule_from_tg0(f.tg);
  if (gs == 0) return "S2TG " + std::to_string(f.tg) + " is reserved";
  const unsigned ps = bits_from_ps(f.ps);
  if (ps == 0) return "S2PS " + std::to_string(f.ps) + " is reserved";
  if (f.t0sz < 16) return "S2T0SZ " + std::to_string(f.t0sz) + " < 16 (52-bit IPAs are not modelled)";
  if (f.sl0 > 2) return "S2SL0 " + std::to_string(f.sl0) + " is reserved";
  const unsigned ias = 64 - f.t0sz;
  const unsigned pa = std::min(max_oas, max_oa_bits);
  int start;
  if (gs == 12) {
    start = 2 - static_cast<int>(f.sl0);
    if (start == 0 && pa < 44) return "S2SL0 2 (start at level 0) needs a PA size of 44 bits or more";
  } else {
    start = 3 - static_cast<int>(f.sl0);
    if (start == 1 && pa < (gs == 14 ? 42u : 44u))
      return "S2SL0 2 (start at level 1) needs a PA size of " + std::to_string(gs == 14 ? 42 : 44) +
             " bits or more";
  }
  const unsigned stride = gs - 3;
  const unsigned levels = static_cast<unsigned>(3 - start);
  const unsigned min_ias = levels * stride + gs + 1;
  const unsigned max_ias = min_ias + stride - 1 + 4;  // up to 16 concatenated tables
  if (ias < min_ias || ias > max_ias)
    return "S2T0SZ " + std::to_string(f.t0sz) + " (" + std::to_string(ias) +
           "-bit IPA) does not suit start level " + std::to_string(start) + " (" +
           std::to_string(min_ias) + ".." + std::to_string(max_ias) + " bits)";
  if (ias > pa)
    return "S2T0SZ " + std::to_string(f.t0sz) + " gives a " + std::to_string(ias) +
           "-bit IPA, larger than the " + std::to_string(pa) + "-bit PA size";
  walk_params p;
  p.ttb = f.ttb;
  p.ias = ias;
  p.oas = std::min({ps, max_oas, max_oa_bits});
  p.granule_shift = gs;
  p.start_level = start;
  const unsigned start_bits = ias - level_shift(gs, start);
  p.concat = start_bits > stride ? 1u << (start_bits - stride) : 1u;
  p.ha = f.ha;
  p.hd = f.ha && f.hd;
  p.format_flags = f.xnx ? ff_xnx : 0;
  *out = p;
  return {};
}

}  // namespace iommusim::models::vmsav8
