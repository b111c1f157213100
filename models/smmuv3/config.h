// SPDX-License-Identifier: MIT
// Configuration of the SMMUv3 model: what the ID registers advertise, the
// caches and their geometry, the pipeline's cycle costs, diagnostics. Every
// default is MMU-600-like; docs/smmuv3.md gives the rationale per key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/common/cache.h"

namespace iommusim::models::smmuv3 {

// What the ID registers advertise (SMMUv3 §6.3.1-6.3.6). Defaults: an Arm
// CoreLink MMU-600 r2p1 with every optional feature this model implements.
struct idr_config {
  unsigned oas = 48;          // IDR5.OAS in bits: 32, 36, 40, 42, 44, 48, 52
  unsigned sid_bits = 16;     // IDR1.SIDSIZE (0..32)
  unsigned ssid_bits = 20;    // IDR1.SSIDSIZE (0..20)
  bool s1p = true;            // IDR0.S1P
  bool s2p = true;            // IDR0.S2P
  bool cohacc = true;         // IDR0.COHACC
  unsigned httu = 2;          // IDR0.HTTU: 0 none, 1 access flag, 2 access flag + dirty state
  bool ats = true;            // IDR0.ATS
  bool pri = true;            // IDR0.PRI
  unsigned stall_model = 0;   // IDR0.STALL_MODEL: 0 stall and terminate, 1 terminate only, 2 stall forced
  bool term_model = false;    // IDR0.TERM_MODEL: true = terminated transactions always abort (no RAZ/WI)
  bool msi = true;            // IDR0.MSI
  bool sev = true;            // IDR0.SEV
  bool hyp = true;            // IDR0.HYP: EL2 StreamWorld and CMD_TLBI_EL2_*
  bool st_2lvl = true;        // IDR0.ST_LVL == 0b01: 2-level stream tables
  bool cd_2lvl = true;        // IDR0.CD2L: 2-level CD tables
  bool vmid16 = true;         // IDR0.VMID16
  bool asid16 = true;         // IDR0.ASID16
  bool gran_4k = true;        // IDR5.GRAN4K
  bool gran_16k = true;       // IDR5.GRAN16K
  bool gran_64k = true;       // IDR5.GRAN64K
  unsigned cmdq_log2 = 19;    // IDR1.CMDQS: largest command queue, log2 entries
  unsigned evtq_log2 = 19;    // IDR1.EVENTQS
  unsigned priq_log2 = 19;    // IDR1.PRIQS
  bool ril = true;            // IDR3.RIL: range invalidation and level hint
  unsigned stall_max = 128;   // IDR5.STALL_MAX: stalled transactions at once
  uint32_t iidr = 0x4832'143BU;  // IIDR: ProductID 0x483 (MMU-600), r2p1, Implementer 0x43B (Arm)
  uint32_t aidr = 0x01;       // AIDR: SMMUv3.1
};

// Cycle costs of the pipeline steps that are not a cache lookup or a memory
// access (those come from the cache configs and the memory model). In the
// SMMU's clock. docs/smmuv3.md lists where each one is paid.
struct latency_config {
  uint32_t tbu_ingress = 1;     // TBU accepts a transaction and decodes its attributes
  uint32_t tbu_to_tcu = 4;      // a micro-TLB miss travels to the TCU (DTI request)
  uint32_t tcu_to_tbu = 4;      // the TCU's answer travels back
  uint32_t ste_check = 2;       // STE validity checks after its fetch
  uint32_t cd_check = 2;        // CD validity checks after its fetch
  uint32_t walk_step = 1;       // per walk level besides the descriptor fetch
  uint32_t nested_combine = 1;  // merge stage-1 and stage-2 results into one entry
  uint32_t fault = 2;           // build a fault's event record
  uint32_t reg_access = 1;      // one register read or write
  uint32_t cmd_decode = 1;      // decode a command after its fetch
  uint32_t cmd_prefetch = 1;    // CMD_PREFETCH_* issue (the prefetch walk is extra)
  uint32_t cmd_cfgi = 2;        // CMD_CFGI_* base cost, besides the cache sweeps
  uint32_t cmd_tlbi = 2;        // CMD_TLBI_* base cost, besides the cache sweeps
  uint32_t cmd_atc_inv = 2;     // CMD_ATC_INV: build and send the invalidation request
  uint32_t cmd_pri_resp = 2;    // CMD_PRI_RESP: build and send the PRG response
  uint32_t cmd_resume = 2;      // CMD_RESUME / CMD_STALL_TERM
  uint32_t cmd_sync = 2;        // CMD_SYNC, besides waiting and its MSI write
  uint32_t queue_record = 1;    // build an event or PRI record, besides its memory write
  uint32_t msi = 1;             // build an MSI, besides its memory write
};

struct diagnostics_config {
  bool stale_tlb = true;        // flag DMAs served by a TLB entry whose leaf changed in memory
  bool unsynced_unmap = true;   // flag reuse of pages unmapped by a TLBI not yet followed by CMD_SYNC
  size_t max_reports = 4096;    // reports kept in diagnostics() (all are counted)
  size_t max_open_records = 65536;  // unsynced-unmap records tracked at once (oldest dropped)
};

struct smmuv3_config {
  double clock_mhz = 1000;
  idr_config idr;
  latency_config latency;
  diagnostics_config diagnostics;

  // TBUs: `tbus` of them; upstream port p feeds TBU port_tbu[p] (ports
  // beyond the vector: p % tbus).
  unsigned tbus = 1;
  std::vector<unsigned> port_tbu;
  unsigned translation_slots = 16;  // per TBU: transactions in translation at once
  unsigned walk_slots = 4;          // TCU: table walks (and STE/CD fetches) at once

  // MMU-600-like structures (see docs/smmuv3.md for the rationale).
  cache_config micro_tlb = cache_config::make("utlb", 32, 0, replacement_policy::lru, 1);
  cache_config main_tlb = cache_config::make("main_tlb", 2048, 4, replacement_policy::plru, 3);
  cache_config config_cache = cache_config::make("cfg_cache", 64, 0, replacement_policy::lru, 2);
  // Walk caches by the level of the table descriptor they hold (0, 1, 2):
  // entry i of wc_s1 caches stage-1 level-i table descriptors. entries == 0
  // disables a level.
  std::vector<cache_config> walk_cache_s1 = {
      cache_config::make("wc_s1_l0", 16, 0, replacement_policy::lru, 2),
      cache_config::make("wc_s1_l1", 32, 0, replacement_policy::lru, 2),
      cache_config::make("wc_s1_l2", 128, 4, replacement_policy::plru, 2)};
  std::vector<cache_config> walk_cache_s2 = {
      cache_config::make("wc_s2_l0", 16, 0, replacement_policy::lru, 2),
      cache_config::make("wc_s2_l1", 32, 0, replacement_policy::lru, 2),
      cache_config::make("wc_s2_l2", 128, 4, replacement_policy::plru, 2)};

  bool gbpa_abort_at_reset = false;    // GBPA.ABORT after reset (IMPLEMENTATION DEFINED)
  uint64_t atc_inv_timeout = 1'000'000;  // cycles a CMD_SYNC waits for ATC invalidation completions

  // Empty if every value is usable, else the first reason one is not.
  std::string check() const;
};

}  // namespace iommusim::models::smmuv3
