// SPDX-License-Identifier: MIT
// Platform configuration: a YAML or JSON file (one schema; yaml-cpp parses
// both) or an in-memory YAML/JSON string, validated completely before anything
// is built. Every key is documented in docs/platform_config.md.
//
// Errors are collected, not thrown at the first one: each names the place it
// was found as FILE:LINE:COL (1-based) and says why, e.g.
//   platform.yaml:14:16: devices[1].iommu: no IOMMU named 'smmu1' (IOMMUs: smmu0)
// Checks: syntax, unknown keys, duplicate keys, types, ranges, cache geometry
// (cache_config::check), memory (memory_config::check), the IOMMU models' own
// checks (smmuv3_config::check, vtd_config::check), overlapping address windows, references to
// unknown IOMMUs, duplicate names, StreamIDs and interrupt lines, and that the
// tools an output needs exist (vcd2fst for output.fst).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "iommufd_api/drivers/smmuv3/smmuv3_driver.h"
#include "iommufd_api/drivers/vtd/vtd_driver.h"
#include "models/common/memory.h"
#include "models/common/timing.h"
#include "models/smmuv3/config.h"
#include "models/vtd/config.h"
#include "sim/config_error.h"
#include "sim/device_config.h"
#include "sim/host_cpu.h"

namespace iommusim::sim {

struct bus_config {
  double clock_mhz = 1000;
  uint32_t hop_cycles = 1;
};

struct interrupt_config {
  unsigned lines = 64;
  uint64_t msi_base = 0x0800'0000;  // doorbell page of line n: msi_base + n * 4 KiB
};

struct iommu_desc {
  std::string name;
  std::string type = "smmuv3";             // "smmuv3" or "vtd"
  uint64_t base = 0;                       // register page 0
  uint64_t size = 0x20000;                 // register window (SMMUv3: pages 0 and 1; VT-d: 4 KiB)
  // type smmuv3: the model and its driver (base and IRQ lines set by the platform)
  models::smmuv3::smmuv3_config smmu;
  iommufd::smmuv3::driver_config driver;
  // type vtd: the remapping unit and its driver (base and IRQ lines set by the platform)
  models::vtd::vtd_config vtd;
  iommufd::vtd::driver_config vtd_driver;
  unsigned irq_vtd_inv = 0;                // the VT-d model's invalidation-completion line
  source_loc loc;                          // the list entry
};

struct output_config {
  std::string stats_json;  // statistics as JSON, written at exit
  std::string stats_table; // statistics as a text table, written at exit ("-" = stderr)
  std::string vcd;         // waveforms
  std::string fst;         // waveforms as FST (VCD, then vcd2fst)
  std::string txn_log;     // one CSV line per DMA at an IOMMU's upstream
  std::string kernel_log;  // the drivers' log lines (dmesg): a path, or "-" for stderr
};

struct platform_config {
  std::string source;      // file name, or the name given to an in-memory string
  std::string base_dir;    // directory of the file (relative inputs such as traces)
  models::timing_mode timing = models::timing_mode::cycle;
  uint64_t quantum_ns = 1000;              // fast mode: the TLM global quantum
  models::memory_config memory;
  uint64_t user_contig = 1ULL << 30;       // host_memory contig_bytes
  host_cpu_config host_cpu;
  bus_config mmio_bus;
  uint64_t bar_base = 0x1000'0000;         // first automatically placed BAR
  bus_config memory_bus;
  interrupt_config interrupts;
  std::vector<iommu_desc> iommus;
  std::vector<device_desc> devices;
  output_config output;

  const iommu_desc *find_iommu(const std::string &name) const;
};

// Parse and validate a file (.yaml, .yml or .json). False with errors on any
// problem; *out is complete only when true.
bool load_config_file(const std::string &path, platform_config *out,
                      std::vector<config_error> *errors);
// The same for text in memory; format is "yaml" or "json" (both parse the
// same way; the format only names what the text is). name stands for FILE.
bool load_config_string(const std::string &text, const std::string &format,
                        platform_config *out, std::vector<config_error> *errors,
                        const std::string &name = "<string>");

}  // namespace iommusim::sim
