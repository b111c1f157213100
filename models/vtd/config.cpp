// SPDX-License-Identifier: MIT
// vtd_config::check(): every value the model cannot honour is a config error.
#include "models/vtd/config.h"

namespace iommusim::models::vtd {

std::string vtd_config::check() const {
  if (clock_mhz <= 0) return "clock_mhz must be positive";
  if (cap.nd > 6) return "cap.nd must be 0..6";
  if ((cap.sagaw & ~0b01110u) != 0 || cap.sagaw == 0)
    return "cap.sagaw must select 3-, 4- and/or 5-level tables (bits 1..3)";
  if (cap.mgaw < 39 || cap.mgaw > 57) return "cap.mgaw must be 39..57";
  if (cap.sllps > 3) return "cap.sllps must be 0..3 (2 MiB, 1 GiB)";
  if (cap.mamv > 63) return "cap.mamv must be 0..63";
  if (cap.nfr < 1 || cap.nfr > 256) return "cap.nfr must be 1..256";
  if (cap.fro % 16 || ecap.iro % 16) return "cap.fro and ecap.iro must be 16-byte aligned";
  if (cap.fro < 0x100 || cap.fro + 16 * cap.nfr > 0x1000)
    return "fault recording registers must lie in 0x100..0xfff";
  if (ecap.iro < 0x100 || ecap.iro + 16 > 0x1000) return "ecap.iro must lie in 0x100..0xff0";
  if (ecap.iro + 16 > cap.fro && cap.fro + 16 * cap.nfr > ecap.iro)
    return "IOTLB registers overlap the fault recording registers";
  if (ecap.mhmv > 15) return "ecap.mhmv must be 0..15";
  if (ecap.pss > 19) return "ecap.pss must be 0..19";
  if (translation_slots == 0 || walk_slots == 0) return "slots must be at least 1";
  if (interrupt_range_size && interrupt_range_base + interrupt_range_size < interrupt_range_base)
    return "interrupt_range_base + interrupt_range_size overflows";
  for (const cache_config *c : {&iotlb, &context_cache, &pasid_cache})
    if (std::string e = c->check(); !e.empty()) return c->name + ": " + e;
  for (const auto *v : {&pwc_fs, &pwc_ss}) {
    if (v->size() != 4) return "pwc_fs/pwc_ss must list 4 levels (PML5E, PML4E, PDPTE, PDE)";
    for (const auto &c : *v)
      if (c.entries)
        if (std::string e = c.check(); !e.empty()) return c.name + ": " + e;
  }
  return "";
}

}  // namespace iommusim::models::vtd
