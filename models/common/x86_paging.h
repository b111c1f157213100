// SPDX-License-Identifier: MIT
// x86 page-table formats for the walk engine (walk.h), as the VT-d remapping
// hardware walks them (Intel VT-d Rev 5.0):
//  - first stage (§3.6, §9.7): IA-32e 4-level and 5-level paging of a PASID
//    entry's FSPTPTR: P, R/W, U/S, A, D, PS, G, XD; 4 KiB pages, 2 MiB pages
//    and (FS1GP) 1 GiB pages;
//  - second stage (§3.7, §9.8): 3-, 4- and 5-level tables of SLPTPTR: R, W,
//    X, EMT/IPAT, PS (2 MiB / 1 GiB superpages per SLLPS), A/D (SSADS).
//
// Levels: the engine's level L runs from 5 - paging levels (0 for 5-level, 1
// for 4-level, 2 for 3-level) to 4, the page-table entry. The spec's level
// number is 5 - L: L=0 PML5E, 1 PML4E, 2 PDPTE, 3 PDE, 4 PTE. A level-L entry
// maps 2^(12 + 9 * (4 - L)) bytes.
//
// Permissions are hierarchical in both formats: R/W and U/S are ANDed and XD
// ORed down the levels (first stage); R and W are ANDed (second stage). The
// walk state carries what a higher level took away (all zero = nothing), so
// the engine caches only table entries that restrict nothing.
//
// What a leaf gives (walk.h `translation`):
//   read        first stage: 1; second stage: R after the upper levels
//   write       first stage: R/W after the upper levels; second stage: W
//   exec        first stage: not XD; second stage: X
//   priv_only   first stage: U/S == 0 somewhere on the path; second stage: 0
//   attrs       xa_* below (dirty state, global, memory type)
// Use fs_check()/ss_check() to decide an access against a cached translation:
// they give the precise reason (privilege, write, execute, read).
//
// Hardware A/D updates, each one compare-and-swap: first stage (always) A in
// every paging-structure entry used, and A, plus D on a write, in the leaf;
// second stage (with ff_ss_ad) A, plus D on a write, in the leaf only (the A
// of non-leaf second-stage entries is not set: docs/vtd.md, fidelity).
#pragma once

#include <cstdint>

#include "walk.h"

namespace iommusim::models::x86 {

// --- walk_params::format_flags ---------------------------------------------
inline constexpr uint64_t ff_fs_1g = 1u << 0;     // first stage: 1 GiB pages (CAP.FS1GP)
inline constexpr uint64_t ff_ss_2m = 1u << 1;     // second stage: 2 MiB superpages (SLLPS bit 0)
inline constexpr uint64_t ff_ss_1g = 1u << 2;     // second stage: 1 GiB superpages (SLLPS bit 1)
inline constexpr uint64_t ff_ss_ad = 1u << 3;     // second stage: A/D tracking (PASID entry SSADE)
inline constexpr uint64_t ff_wpe = 1u << 4;       // first stage: supervisor writes honour R/W (WPE)
inline constexpr uint64_t ff_exec = 1u << 5;      // execute requests are checked (ECAP.ERS)
inline constexpr uint64_t ff_no_ad = 1u << 6;     // first stage: do not update A/D (tests of the raw format)

// --- translation::attrs -----------------------------------------------------
inline constexpr uint64_t xa_dirty = 1u << 0;     // D set in the leaf (as used)
inline constexpr uint64_t xa_global = 1u << 1;    // first stage G
inline constexpr uint64_t xa_snoop = 1u << 2;     // second stage SNP
inline constexpr unsigned xa_emt_shift = 4;       // second stage EMT[2:0] at bits 6:4
inline constexpr uint64_t xa_ipat = 1u << 7;
inline constexpr uint64_t xa_ad_tracked = 1u << 8;  // the format sets D on writes (a clean
                                                    // entry must be re-walked for a write)

// --- descriptor bits ----------------------------------------------------------
// first stage (IA-32e)
inline constexpr uint64_t fs_p = 1ull << 0;
inline constexpr uint64_t fs_rw = 1ull << 1;
inline constexpr uint64_t fs_us = 1ull << 2;
inline constexpr uint64_t fs_pwt = 1ull << 3;
inline constexpr uint64_t fs_pcd = 1ull << 4;
inline constexpr uint64_t fs_a = 1ull << 5;
inline constexpr uint64_t fs_d = 1ull << 6;
inline constexpr uint64_t fs_ps = 1ull << 7;
inline constexpr uint64_t fs_g = 1ull << 8;
inline constexpr uint64_t fs_xd = 1ull << 63;
// second stage
inline constexpr uint64_t ss_r = 1ull << 0;
inline constexpr uint64_t ss_w = 1ull << 1;
inline constexpr uint64_t ss_x = 1ull << 2;
inline constexpr uint64_t ss_ipat = 1ull << 6;
inline constexpr uint64_t ss_ps = 1ull << 7;
inline constexpr uint64_t ss_a = 1ull << 8;
inline constexpr uint64_t ss_d = 1ull << 9;
inline constexpr uint64_t ss_snp = 1ull << 11;
// address bits 51:12 (bits at or above the output width are reserved)
inline constexpr uint64_t addr_mask = 0x000F'FFFF'FFFF'F000ull;

inline constexpr int last_level = 4;
inline unsigned level_shift(int level) { return 12 + 9 * static_cast<unsigned>(4 - level); }
// Engine start level of an n-level table (3, 4 or 5).
inline int start_level(unsigned levels) { return 5 - static_cast<int>(levels); }
// Input bits an n-level table translates: 39, 48, 57.
inline unsigned input_bits(unsigned levels) { return 12 + 9 * levels; }
// The spec's level number (1 = PTE ... 5 = PML5E) of an engine level.
inline int spec_level(int level) { return 5 - level; }

class first_stage_format final : public pt_format {
 public:
  const char *name() const override { return "x86 first stage"; }
  int last_level(const walk_params &) const override { return x86::last_level; }
  unsigned level_shift(int level, const walk_params &) const override { return x86::level_shift(level); }
  uint64_t index(int level, uint64_t ia, const walk_params &) const override {
    return (ia >> x86::level_shift(level)) & 511;
  }
  // Canonical: bits 63:ias-1 all equal (ias = 48 or 57).
  bool input_in_range(uint64_t ia, const walk_params &p) const override;
  pt_step decode(int level, uint64_t desc, walk_state &st, const walk_params &p) const override;
  leaf_check check_leaf(int level, uint64_t desc, const walk_state &st, const access_kind &acc,
                        const walk_params &p) const override;
};

class second_stage_format final : public pt_format {
 public:
  const char *name() const override { return "x86 second stage"; }
  int last_level(const walk_params &) const override { return x86::last_level; }
  unsigned level_shift(int level, const walk_params &) const override { return x86::level_shift(level); }
  uint64_t index(int level, uint64_t ia, const walk_params &) const override {
    return (ia >> x86::level_shift(level)) & 511;
  }
  // ia below 2^ias (the AGAW).
  bool input_in_range(uint64_t ia, const walk_params &p) const override;
  pt_step decode(int level, uint64_t desc, walk_state &st, const walk_params &p) const override;
  leaf_check check_leaf(int level, uint64_t desc, const walk_state &st, const access_kind &acc,
                        const walk_params &p) const override;
};

// Why an access is refused by a cached translation (or none).
enum class deny : uint8_t { none = 0, privilege, write, exec, read };

// First stage: a user request needs U/S everywhere; a write needs R/W (a
// supervisor write too when WPE); an execute request (with ff_exec) needs
// not-XD and, as a supervisor, a supervisor page (SMEP-like). Privilege is
// checked before write and execute.
deny fs_check(const translation &x, const access_kind &acc, uint64_t format_flags);
// Second stage: a write needs W, a read R, an execute request (ff_exec) X.
deny ss_check(const translation &x, const access_kind &acc, uint64_t format_flags);

}  // namespace iommusim::models::x86
