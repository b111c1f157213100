// SPDX-License-Identifier: MIT
// VMSAv8-64 translation table formats for the walk engine (walk.h): stage 1
// as an SMMUv3 Context Descriptor programs it (SMMUv3 §5.4: T0SZ, TG0, IPS,
// EPD0, HAD0, HA, HD; AArch64 tables only) and stage 2 as an STE programs it
// (SMMUv3 §5.2: S2T0SZ, S2SL0, S2TG, S2PS, S2HA, S2HD, XNX). Facts from the
// Arm ARM, chapter D8 (The AArch64 Virtual Memory System Architecture).
//
// Scope: 4K, 16K and 64K granules with output addresses of up to 48 bits.
// 52-bit addresses (FEAT_LPA/LPA2, DS), TBI, the TTB1 range's own TG1
// encoding, PAN/WXN and the permission-indirection extensions are not
// modelled: descriptor bits they would give meaning to are ignored.
//
// What a leaf gives the IOMMU (walk.h `translation`):
//   out_addr    the page or block address (aligned to page_shift)
//   read        stage 1: 1 (every valid stage-1 page is readable by some
//               privilege); stage 2: S2AP[0]
//   write       stage 1: AP[2] == 0 after APTable; stage 2: S2AP[1]
//   exec        privileged instruction fetch permitted (stage 1: not PXN,
//               and not writable at EL0; stage 2: XN allows EL1)
//   priv_only   stage 1: AP[1] == 0 after APTable (no unprivileged data
//               access); stage 2: 0
//   attrs       the xa_* fields below; xa_uexec says whether an
//               unprivileged instruction fetch is permitted
// Use permits() to check a transaction against a translation: an
// unprivileged fetch is checked against xa_uexec only (EL0 execute-only
// memory: AP[1] == 0 with UXN == 0 can be executed, not read).
#pragma once

#include <cstdint>
#include <string>

#include "walk.h"

namespace iommusim::models::vmsav8 {

// --- walk_params::format_flags ---------------------------------------------
// Stage 1: this walk translates the TTB1 (upper, all-ones) input range.
inline constexpr uint64_t ff_ttb1 = 1u << 0;
// Stage 1: walks of this range are disabled (CD.EPD0/EPD1): translation fault.
inline constexpr uint64_t ff_epd = 1u << 1;
// Stage 1: hierarchical attributes disabled (CD.HAD0/HAD1, Armv8.1 HPD):
// APTable, UXNTable and PXNTable are ignored.
inline constexpr uint64_t ff_hpd = 1u << 2;
// Stage 2: XN[0] is significant (an SMMU that implements FEAT_XNX for stage
// 2, SMMU_IDR3.XNX): the two-bit XN field separates EL1 and EL0 execute
// permission. Without it only XN[1] counts (1: execute never).
inline constexpr uint64_t ff_xnx = 1u << 3;

// --- translation::attrs -----------------------------------------------------
inline constexpr uint64_t xa_memattr_mask = 0xF;  // s1 AttrIndx[2:0] / s2 MemAttr[3:0]
inline constexpr unsigned xa_sh_shift = 4;        // SH[1:0] at bits [5:4]
inline constexpr uint64_t xa_sh_mask = 0x3ull << xa_sh_shift;
inline constexpr uint64_t xa_ns = 1u << 6;           // s1 NS
inline constexpr uint64_t xa_ng = 1u << 7;           // s1 nG: ASID-tagged (not global)
inline constexpr uint64_t xa_contig = 1u << 8;       // Contiguous hint
inline constexpr uint64_t xa_uexec = 1u << 9;        // unprivileged instruction fetch permitted
// Writeable-clean under hardware dirty management (DBM = 1 with HA and HD, the
// page is read-only now): a write is permitted by re-walking, which makes the
// descriptor writeable-dirty. A TLB holding such an entry must send a write
// to the walker instead of faulting.
inline constexpr uint64_t xa_dbm_clean = 1u << 10;
inline constexpr uint64_t xa_af = 1u << 11;          // AF as used (always 1 on success)

// --- descriptor fields (Arm ARM D8.3) ---------------------------------------
inline constexpr uint64_t d_valid = 1ull << 0;
inline constexpr uint64_t d_table = 1ull << 1;  // at levels 0-2: table (1) / block (0); level 3: page (1)
inline constexpr uint64_t d_ns = 1ull << 5;
inline constexpr uint64_t d_ap1 = 1ull << 6;    // s1 AP[1]: EL0 access / s2 S2AP[0]: read
inline constexpr uint64_t d_ap2 = 1ull << 7;    // s1 AP[2]: read-only / s2 S2AP[1]: write
inline constexpr uint64_t d_af = 1ull << 10;
inline constexpr uint64_t d_ng = 1ull << 11;
inline constexpr uint64_t d_dbm = 1ull << 51;
inline constexpr uint64_t d_contig = 1ull << 52;
inline constexpr uint64_t d_pxn = 1ull << 53;   // s1 PXN / s2 XN[0]
inline constexpr uint64_t d_uxn = 1ull << 54;   // s1 UXN / s2 XN[1]
inline constexpr uint64_t d_pxn_table = 1ull << 59;
inline constexpr uint64_t d_uxn_table = 1ull << 60;
inline constexpr uint64_t d_ap_table0 = 1ull << 61;  // no EL0 access below
inline constexpr uint64_t d_ap_table1 = 1ull << 62;  // no write access below
// Output/next-table address bits [47:12] (lower bits below the granule or
// block size are ignored).
inline constexpr uint64_t d_addr_mask = 0x0000'FFFF'FFFF'F000ull;

// log2 of the bytes one descriptor at level maps: granule_shift + (3 - level)
// * (granule_shift - 3). 4K: 39/30/21/12, 16K: 47/36/25/14, 64K: -/42/29/16.
unsigned level_shift(unsigned granule_shift, int level);
// Whether a block descriptor is allowed at level (without 52-bit addresses):
// 4K: levels 1 (1G) and 2 (2M); 16K: level 2 (32M); 64K: level 2 (512M).
bool block_allowed(unsigned granule_shift, int level);

class stage1_format final : public pt_format {
 public:
  const char *name() const override { return "vmsav8-64 stage 1"; }
  int last_level(const walk_params &) const override { return 3; }
  unsigned level_shift(int level, const walk_params &p) const override;
  uint64_t index(int level, uint64_t ia, const walk_params &p) const override;
  bool input_in_range(uint64_t ia, const walk_params &p) const override;
  pt_step decode(int level, uint64_t desc, walk_state &st, const walk_params &p) const override;
  leaf_check check_leaf(int level, uint64_t desc, const walk_state &st, const access_kind &acc,
                        const walk_params &p) const override;
};

class stage2_format final : public pt_format {
 public:
  const char *name() const override { return "vmsav8-64 stage 2"; }
  int last_level(const walk_params &) const override { return 3; }
  unsigned level_shift(int level, const walk_params &p) const override;
  uint64_t index(int level, uint64_t ia, const walk_params &p) const override;
  bool input_in_range(uint64_t ia, const walk_params &p) const override;
  pt_step decode(int level, uint64_t desc, walk_state &st, const walk_params &p) const override;
  leaf_check check_leaf(int level, uint64_t desc, const walk_state &st, const access_kind &acc,
                        const walk_params &p) const override;
};

// Whether a transaction with attributes acc may use translation x (one
// stage). An IOMMU with two stages checks each.
bool permits(const translation &x, const access_kind &acc);

// --- programming fields to walk_params ---------------------------------------
// Each returns an empty string, or why the fields are not a usable
// configuration (the IOMMU turns that into its own error: C_BAD_CD,
// C_BAD_STE or a translation fault, as its spec says).

// Granule from a TG0/S2TG field (0: 4K, 1: 64K, 2: 16K): log2 bytes, 0 if reserved.
unsigned granule_from_tg0(unsigned tg);
// Address bits from an IPS/PS/OAS field (0..6: 32, 36, 40, 42, 44, 48, 52), 0 if reserved.
unsigned bits_from_ps(unsigned ps);

struct s1_fields {
  uint64_t ttb = 0;
  unsigned t0sz = 16;     // input size = 64 - T0SZ
  unsigned tg = 0;        // TG0 encoding
  unsigned ips = 5;       // IPS encoding
  bool epd = false;       // EPD0
  bool hpd = false;       // HAD0
  bool ha = false, hd = false;
  bool ttb1 = false;      // the fields are those of the TTB1 range
};
// max_oas: the IOMMU's output address size (SMMU_IDR5.OAS); the effective
// output size is min(IPS, max_oas, 48). HD without HA is ignored (HD takes
// effect only with HA). Start level: the lowest level whose table covers the
// input size.
std::string make_s1_params(const s1_fields &f, unsigned max_oas, walk_params *out);

struct s2_fields {
  uint64_t ttb = 0;
  unsigned t0sz = 16;     // S2T0SZ
  unsigned sl0 = 2;       // S2SL0
  unsigned tg = 0;        // S2TG encoding
  unsigned ps = 5;        // S2PS encoding
  bool ha = false, hd = false;
  bool xnx = false;
};
// Start level from SL0 (4K: 0->L2, 1->L1, 2->L0; 16K/64K: 0->L3, 1->L2,
// 2->L1); SL0 = 3 is reserved; starting at level 0 (4K) needs a PA size of at
// least 44 bits, level 1 with 16K at least 42 and with 64K at least 44. The
// input size must suit the start level: with n = 3 - start levels below it,
// n * stride + granule_shift + 1 <= ias <= that + stride - 1 + 4, the "+ 4"
// being up to 16 concatenated tables at the start level.
std::string make_s2_params(const s2_fields &f, unsigned max_oas, walk_params *out);

}  // namespace iommusim::models::vmsav8
