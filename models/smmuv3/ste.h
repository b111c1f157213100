// SPDX-License-Identifier: MIT
// Stream table and Stream Table Entries (SMMUv3 §3.3.2 stream table lookup,
// §5.1 level-1 stream table descriptor, §5.2 STE, §5.2.2 validity of STE).
#pragma once

#include <cstdint>

namespace iommusim::models::smmuv3 {

struct idr_config;

namespace ste_cfg {
constexpr unsigned abort = 0b000;
constexpr unsigned bypass = 0b100;
constexpr unsigned s1 = 0b101;
constexpr unsigned s2 = 0b110;
constexpr unsigned nested = 0b111;
}  // namespace ste_cfg

// The STE fields the model uses, decoded from the 64-byte structure.
struct ste_info {
  uint64_t raw[8] = {};
  uint64_t addr = 0;          // where it was fetched from (PA)
  bool valid = false;         // V
  unsigned config = 0;        // Config[2:0]
  bool s1 = false, s2 = false;
  // Stage 1 (§5.2: S1Fmt, S1ContextPtr, S1CDMax, S1DSS, S1STALLD)
  unsigned s1fmt = 0;         // 0 linear, 1 2-level 4 KiB leaves, 2 2-level 64 KiB leaves
  uint64_t s1ctxptr = 0;
  unsigned s1cdmax = 0;
  unsigned s1dss = 0;         // 0 terminate, 1 bypass, 2 substream 0
  bool s1stalld = false;
  unsigned eats = 0;          // 0 abort, 1 full ATS, 2 split-stage ATS
  unsigned strw = 0;          // 0 NS-EL1, 2 EL2
  bool mev = false;
  unsigned privcfg = 0;       // 0 incoming, 2 unprivileged, 3 privileged
  unsigned instcfg = 0;       // 0 incoming, 2 data, 3 instruction
  bool ppar = false;
  // Stage 2 (VTCR fields, S2TTB and controls)
  uint16_t vmid = 0;          // S2VMID (also tags stage-1-only entries when S2P)
  unsigned s2t0sz = 0;
  unsigned s2sl0 = 0;
  unsigned s2tg = 0;          // encoded: 0 4K, 1 64K, 2 16K
  unsigned s2ps = 0;          // encoded like IDR5.OAS
  bool s2aa64 = false, s2endi = false, s2affd = false, s2ptw = false;
  bool s2hd = false, s2ha = false, s2s = false, s2r = false;
  uint64_t s2ttb = 0;
};

// Level-1 stream table descriptor (§5.1).
struct l1std {
  unsigned span = 0;          // L2 table holds 2^(span-1) STEs; 0 = invalid
  uint64_t l2ptr = 0;
};

// Decode an STE's fields (no checks).
ste_info decode_ste(const uint64_t raw[8]);
l1std decode_l1std(uint64_t raw);

// §5.2.2: empty if the STE is usable, else why it is ILLEGAL (C_BAD_STE).
// oas: the implemented OAS in bits.
const char *ste_illegal_reason(const ste_info &s, const idr_config &idr);

}  // namespace iommusim::models::smmuv3
