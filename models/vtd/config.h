// SPDX-License-Identifier: MIT
// Configuration of the Intel VT-d model: what VER/CAP/ECAP advertise, the
// caches and their geometry, the pipeline's cycle costs, diagnostics. The
// defaults are a scalable-mode Xeon-like remapping unit with every optional
// feature this model implements; docs/vtd.md gives the rationale per key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/common/cache.h"

namespace iommusim::models::vtd {

// CAP_REG fields (VT-d §11.4.2). Offsets of the fault-recording and IOTLB
// registers are config keys too (fro/iro), in bytes, 16-byte aligned.
struct cap_config {
  unsigned nd = 6;            // ND: 2^(4 + 2*nd) domain ids (6: 16-bit DIDs)
  bool afl = false;           // AFL: advanced fault logging (not modelled: keep 0)
  bool rwbf = false;          // RWBF: write-buffer flushing required
  bool plmr = false;          // PLMR: protected low-memory region
  bool phmr = false;          // PHMR: protected high-memory region
  bool cm = false;            // CM: caching mode (not-present entries may be cached)
  unsigned sagaw = 0b01110;   // SAGAW: bit1 39-bit/3-level, bit2 48-bit/4-level, bit3 57-bit/5-level
  unsigned mgaw = 57;         // MGAW: maximum guest address width in bits (register holds mgaw-1)
  bool zlr = true;            // ZLR: zero-length reads
  unsigned sllps = 0b11;      // SLLPS: bit0 2 MiB, bit1 1 GiB second-stage superpages
  bool psi = true;            // PSI: page-selective IOTLB invalidation
  unsigned mamv = 18;         // MAMV: largest address mask of a PSI (2^mamv pages)
  unsigned nfr = 8;           // number of fault recording registers (register holds nfr-1)
  bool dwd = true;            // DWD: write draining
  bool drd = true;            // DRD: read draining
  bool fl1gp = true;          // FS1GP: first-stage 1 GiB pages
  bool pi = false;            // PI: posted interrupts (interrupt remapping: not modelled)
  bool fl5lp = true;          // FS5LP: first-stage 5-level paging
  uint32_t fro = 0x600;       // FRO x16: first fault recording register (byte offset)
};

// ECAP_REG fields (VT-d §11.4.3).
struct ecap_config {
  bool c = true;              // C: page-walk coherency (walks snoop caches)
  bool qi = true;             // QI: queued invalidation
  bool dt = true;             // DT: device-TLBs (ATS)
  bool ir = false;            // IR: interrupt remapping (not modelled)
  bool eim = false;           // EIM: x2APIC interrupt mode
  bool pt = true;             // PT: pass-through translation type
  bool sc = true;             // SC: snoop control
  uint32_t iro = 0x500;       // IRO x16: IVA register (IOTLB register at iro + 8), byte offset
  unsigned mhmv = 15;         // MHMV: handle mask of interrupt-entry cache invalidations
  bool nest = true;           // NEST: nested translation
  bool prs = true;            // PRS: page requests
  bool ers = false;           // ERS: execute-requested (exec permission checks on requests)
  bool srs = true;            // SRS: supervisor requests
  bool nwfs = true;           // NWFS: no-write flag in ATS translation requests
  bool eafs = false;          // EAFS: extended accessed flag
  unsigned pss = 19;          // PSS: PASID bits - 1 (19: 20-bit PASIDs)
  bool pasid = true;          // PASID: PASID support
  bool dit = false;           // DIT: device-TLB invalidation throttling
  bool pds = true;            // PDS: page-request drain (wait descriptor PD)
  bool smts = true;           // SMTS: scalable-mode translation
  bool vcs = false;           // VCS: virtual command (not modelled)
  bool ssads = true;          // SSADS (SLADS before Rev 4.0): second-stage accessed/dirty
  bool ssts = true;           // SSTS (SLTS): second-stage translation in scalable mode
  bool fsts = true;           // FSTS (FLTS): first-stage translation
  bool smpwcs = true;         // SMPWCS: scalable-mode page-walk coherency
  bool rps = false;           // RPS: RID_PASID field (not modelled: RID_PASID is 0)
};

// Cycle costs of the pipeline steps that are not a cache lookup or a memory
// access (those come from the cache configs and the memory model), in the
// remapping unit's clock. docs/vtd.md lists where each one is paid.
struct latency_config {
  uint32_t ingress = 1;         // accept a request, decode requester id / PASID / type
  uint32_t context_check = 2;   // root/context entry checks after their fetch
  uint32_t pasid_check = 2;     // PASID directory/table entry checks after their fetch
  uint32_t walk_step = 1;       // per walk level besides the descriptor fetch
  uint32_t nested_combine = 1;  // merge first- and second-stage results into one entry
  uint32_t fault = 2;           // build a fault record, besides its register write
  uint32_t reg_access = 1;      // one register read or write
  uint32_t qi_decode = 1;       // decode a descriptor after its fetch
  uint32_t qi_cc = 2;           // context-cache / PASID-cache invalidation base cost
  uint32_t qi_iotlb = 2;        // IOTLB (and PASID-based IOTLB) invalidation base cost
  uint32_t qi_dev_tlb = 2;      // device-TLB invalidation: build and send the request
  uint32_t qi_iec = 1;          // interrupt-entry cache invalidation
  uint32_t qi_wait = 2;         // invalidation wait, besides its status write / interrupt
  uint32_t qi_prq_resp = 2;     // page group response: build and send
  uint32_t prq_record = 1;      // build a page request descriptor, besides its write
  uint32_t msi = 1;             // build an interrupt message, besides its write
};

struct diagnostics_config {
  bool stale_tlb = true;        // flag DMAs served by an IOTLB entry whose leaf changed in memory
  size_t max_reports = 4096;    // reports kept in diagnostics() (all are counted)
};

struct vtd_config {
  double clock_mhz = 1000;
  uint32_t version = 0x60;      // VER_REG: major 6, minor 0 (Rev 5.0 layout)
  cap_config cap;
  ecap_config ecap;
  latency_config latency;
  diagnostics_config diagnostics;

  unsigned translation_slots = 16;  // requests in translation at once
  unsigned walk_slots = 4;          // page walks (and root/context/PASID fetches) at once

  // Xeon-like structures (docs/vtd.md): IOTLB of 64 entries (published Xeon
  // E5 v4 measurements put the IOTLB reach between 256 KiB and 512 KiB of
  // 4 KiB pages).
  cache_config iotlb = cache_config::make("iotlb", 64, 0, replacement_policy::lru, 2);
  cache_config context_cache = cache_config::make("context_cache", 32, 0, replacement_policy::lru, 2);
  cache_config pasid_cache = cache_config::make("pasid_cache", 32, 0, replacement_policy::lru, 2);
  // Paging-structure caches, per stage, by the level of the entry they hold:
  // index 0 PML5E, 1 PML4E, 2 PDPTE, 3 PDE (the entries that point to a
  // table). entries == 0 disables a level.
  std::vector<cache_config> pwc_fs = {
      cache_config::make("pwc_fs_pml5", 4, 0, replacement_policy::lru, 2),
      cache_config::make("pwc_fs_pml4", 8, 0, replacement_policy::lru, 2),
      cache_config::make("pwc_fs_pdpt", 16, 0, replacement_policy::lru, 2),
      cache_config::make("pwc_fs_pd", 32, 0, replacement_policy::lru, 2)};
  std::vector<cache_config> pwc_ss = {
      cache_config::make("pwc_ss_pml5", 4, 0, replacement_policy::lru, 2),
      cache_config::make("pwc_ss_pml4", 8, 0, replacement_policy::lru, 2),
      cache_config::make("pwc_ss_pdpt", 16, 0, replacement_policy::lru, 2),
      cache_config::make("pwc_ss_pd", 32, 0, replacement_policy::lru, 2)};

  // The interrupt address range (§3.14, §5.1): untranslated writes into it
  // are interrupt requests, not DMA; with interrupt remapping off (it is not
  // modelled) they pass untranslated, in compatibility format. The
  // architectural range is 0xFEE0_0000..0xFEEF_FFFF; a platform whose MSI
  // doorbells are elsewhere sets its window here.
  uint64_t interrupt_range_base = 0xFEE0'0000;
  uint64_t interrupt_range_size = 0x10'0000;

  uint64_t dev_tlb_timeout = 1'000'000;  // cycles a wait descriptor waits for device-TLB completions (ITE)

  // Empty if every value is usable, else the first reason one is not.
  std::string check() const;
};

}  // namespace iommusim::models::vtd
