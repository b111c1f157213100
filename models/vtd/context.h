// SPDX-License-Identifier: MIT
// Decoded root/context entries (VT-d §9.1-9.4) and PASID-directory/table
// entries (§9.5, §9.6): what a request's source id and PASID resolve to.
#pragma once

#include <cstdint>

namespace iommusim::models::vtd {

// Legacy context-entry TT (§9.3).
enum class legacy_tt : uint8_t { untranslated = 0, with_dev_tlb = 1, pass_through = 2 };

// Scalable-mode PASID-table entry PGTT (§9.6).
enum class pgtt : uint8_t { none = 0, first = 1, second = 2, nested = 3, pass_through = 4 };

// What a source id's context entry says.
struct context_info {
  bool scalable = false;
  uint16_t did = 0;            // legacy: the domain id
  bool fpd = false;            // fault processing disable
  // legacy (§9.3)
  legacy_tt tt = legacy_tt::untranslated;
  unsigned aw_levels = 4;      // AW: 3, 4 or 5 paging levels
  uint64_t slptptr = 0;
  // scalable (§9.4)
  bool dte = false;            // device-TLB (ATS) enable
  bool paside = false;         // requests with PASID allowed
  bool pre = false;            // page requests allowed
  uint64_t pasid_dir = 0;      // PASIDDIRPTR
  unsigned pdts = 0;           // PASID directory: 2^(pdts + 7) entries
  uint32_t rid_pasid = 0;      // PASID used for requests without PASID
};

// What a scalable-mode PASID-table entry says (§9.6).
struct pasid_info {
  bool fpd = false;
  pgtt type = pgtt::none;
  uint16_t did = 0;
  // second stage
  unsigned ss_levels = 4;      // AW
  uint64_t slptptr = 0;
  bool ssade = false;          // second-stage A/D enable
  // first stage
  uint64_t fsptptr = 0;
  unsigned fs_levels = 4;      // FSPM: 4 or 5
  bool sre = false;            // supervisor requests
  bool wpe = false;            // write protect (supervisor writes honour R/W)
  bool eafe = false;
};

// A request's resolved translation: what the walkers need.
struct translation_ctx {
  context_info ctx;
  bool has_pasid_entry = false;
  pasid_info pe;
  uint32_t pasid = 0;          // the PASID the request was processed with
  pgtt mode = pgtt::second;    // legacy: second or pass_through
  uint16_t did = 0;
  bool fpd = false;
};

}  // namespace iommusim::models::vtd
