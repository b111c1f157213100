// SPDX-License-Identifier: MIT
// smmuv3_config::check(): a config is usable or the first reason it is not.
#include "models/smmuv3/config.h"

#include "models/smmuv3/regs.h"

namespace iommusim::models::smmuv3 {

namespace {

std::string check_cache(const cache_config &c, const char *what) {
  const std::string e = c.check();
  return e.empty() ? e : std::string(what) + ": " + e;
}

}  // namespace

std::string smmuv3_config::check() const {
  if (!(clock_mhz > 0)) return "clock_mhz must be positive";
  if (reg::oas_field_from_bits(idr.oas) < 0)
    return "idr.oas " + std::to_string(idr.oas) + " is not one of 32, 36, 40, 42, 44, 48, 52";
  if (idr.sid_bits > 32) return "idr.sid_bits must be 0..32";
  if (idr.ssid_bits > 20) return "idr.ssid_bits must be 0..20";
  if (!idr.s1p && !idr.s2p) return "at least one of idr.s1p and idr.s2p must be set";
  if (idr.httu > 2) return "idr.httu must be 0 (none), 1 (access flag) or 2 (access flag and dirty)";
  if (idr.stall_model > 2) return "idr.stall_model must be 0, 1 or 2";
  if (!idr.gran_4k && !idr.gran_16k && !idr.gran_64k) return "at least one granule must be supported";
  if (idr.cmdq_log2 > 19 || idr.evtq_log2 > 19 || idr.priq_log2 > 19)
    return "queue size limits (idr.cmdq_log2, evtq_log2, priq_log2) must be at most 19";
  if (idr.stall_max == 0 || idr.stall_max > 0xffff) return "idr.stall_max must be 1..65535";
  if (idr.pri && !idr.ats) return "idr.pri needs idr.ats (PRI is a PCIe ATS feature)";
  if (tbus == 0) return "tbus must be at least 1";
  for (unsigned t : port_tbu)
    if (t >= tbus) return "port_tbu names TBU " + std::to_string(t) + " of " + std::to_string(tbus);
  if (translation_slots == 0) return "translation_slots must be at least 1";
  if (walk_slots == 0) return "walk_slots must be at least 1";
  if (auto e = check_cache(micro_tlb, "micro_tlb"); !e.empty()) return e;
  if (auto e = check_cache(main_tlb, "main_tlb"); !e.empty()) return e;
  if (auto e = check_cache(config_cache, "config_cache"); !e.empty()) return e;
  if (walk_cache_s1.size() > 3 || walk_cache_s2.size() > 3)
    return "walk caches are per level 0..2 (at most 3 per stage)";
  for (const auto &c : walk_cache_s1)
    if (c.entries)
      if (auto e = check_cache(c, "walk_cache_s1"); !e.empty()) return e;
  for (const auto &c : walk_cache_s2)
    if (c.entries)
      if (auto e = check_cache(c, "walk_cache_s2"); !e.empty()) return e;
  if (diagnostics.max_open_records == 0) return "diagnostics.max_open_records must be at least 1";
  return {};
}

}  // namespace iommusim::models::smmuv3
