// SPDX-License-Identifier: MIT
// Context descriptors and CD tables (SMMUv3 §3.3.2 CD lookup, §5.3 level-1
// CD table descriptor, §5.4 CD, §5.4.2 validity of CD).
#pragma once

#include <cstdint>

namespace iommusim::models::smmuv3 {

struct idr_config;
struct ste_info;

// One of the two translation table bases of a CD (TTB0 for the lower VA
// range, TTB1 for the upper).
struct cd_ttb {
  bool epd = false;           // EPDx: walks through this base disabled
  unsigned tsz = 0;           // TxSZ
  unsigned tg = 0;            // in the TG0 encoding (TG1 converted): 0 4K, 1 64K, 2 16K, 3 reserved
  uint64_t ttb = 0;           // TTBx[51:4]
  bool had = false;           // HADx
};

struct cd_info {
  uint64_t raw[8] = {};
  uint64_t addr = 0;          // where it was fetched from (PA)
  bool valid = false;         // V
  cd_ttb t0, t1;
  bool endi = false;
  unsigned ips = 0;           // encoded like IDR5.OAS
  bool affd = false, wxn = false, uwxn = false;
  unsigned tbi = 0;           // TBI[1:0]: top byte ignored for TTB0 / TTB1
  bool pan = false, aa64 = false;
  bool hd = false, ha = false;
  bool s = false;             // stall fault model
  bool r = false;             // record faults
  bool a = false;             // abort (else RAZ/WI) on terminate
  bool aset = false;
  uint16_t asid = 0;
  uint64_t mair = 0;
};

// Level-1 CD table descriptor (§5.3).
struct l1cd {
  bool valid = false;
  uint64_t l2ptr = 0;         // [51:12]
};

cd_info decode_cd(const uint64_t raw[8]);
l1cd decode_l1cd(uint64_t raw);

// §5.4.2: nullptr if the CD is usable, else why it is ILLEGAL (C_BAD_CD).
const char *cd_illegal_reason(const cd_info &cd, const ste_info &ste, const idr_config &idr);

// CD.TG1 in the TG0 encoding (0 4K, 1 64K, 2 16K); 3 if reserved.
unsigned tg1_as_tg0(unsigned tg1);

}  // namespace iommusim::models::smmuv3
