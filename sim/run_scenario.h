// `iommusim run`'s engine: a scenario (a platform, the workloads — traces or
// generators — and how to map their IOVAs) run to completion in this process,
// and the numbers an architect reads off it.
//
// How a scenario runs: each workload's records are split by StreamID, and
// each stream becomes a trace_replayer device (vfio: true, `outstanding`
// requests in flight) behind the scenario's IOMMU. The program side then does what a VFIO user would: opens
// /dev/iommu, allocates an IOAS, maps every page_size-aligned chunk the
// traces touch (IOAS_MAP with FIXED_IOVA over anonymous memory aligned to
// page_size, with memory.user_contig = page_size so the driver can use blocks
// of exactly that size), binds and attaches each replayer's VFIO cdev, starts
// the replayers and waits until the platform is idle.
//
// One scenario per process (SystemC elaborates once); `iommusim sweep` runs
// one process per point.
#pragma once

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/devices/trace_format.h"

namespace iommusim::run {

struct workload {
  std::string trace;                          // a trace file (any form), or
  std::string generator;                      // a generator's name
  std::map<std::string, std::string> params;  // and its parameters
  std::string where;                          // "FILE:LINE" of its entry, for errors
};

struct scenario {
  std::string name = "default";
  std::string source = "<built-in>";   // file it came from
  std::string description;
  YAML::Node platform;                 // the platform config (a mapping)
  std::string platform_source = "<built-in smmuv3 (MMU-600-like)>";
  std::string iommu;                   // the IOMMU the replayers sit behind ("" = the first)
  std::vector<workload> workloads;
  uint64_t page_size = 4096;           // mapping granule: 4K, 16K, 64K, 2M, 32M, 512M or 1G
  // Requests each replayer keeps in flight (1 .. 1024): a DMA engine's
  // posted writes and read tags; 16 matches the SMMU's translation slots.
  // 1 replays strictly one request at a time.
  unsigned outstanding = 16;
  std::vector<std::pair<std::string, std::string>> sets;  // KEY=VALUE platform overrides
};

// The built-in default: a 100 Gb/s-class NIC receive path (nic_rx generator)
// through one SMMUv3 with MMU-600-like caches.
scenario default_scenario();
// The built-in platform's YAML text.
const char *default_platform_yaml();
// Built-in platforms by IOMMU model: smmuv3 (MMU-600-like, the default) and
// vtd (Xeon-like). False for another name.
bool builtin_platform(const std::string &model, YAML::Node *out, std::string *source);
std::vector<std::string> builtin_models();
// The cache key of a model's IOTLB (the one sweeps size by default):
// smmuv3 main_tlb, vtd iotlb.
const char *iotlb_cache_name(const std::string &model);

// A scenario file (YAML). False with *error = "FILE:LINE:COL: reason".
bool load_scenario(const std::string &path, scenario *out, std::string *error);

// Applies one override "a.b[2].c=value" (also "a.b.2.c") to a platform node;
// the value is parsed as YAML. False with *error on a bad path.
bool apply_set(YAML::Node root, const std::string &key, const std::string &value, std::string *error);

// Page sizes accepted for page_size ("4K", "2M", "4096", ...).
bool parse_page_size(const std::string &text, uint64_t *out);

struct options {
  std::string plot;        // write an SVG plot here ("" = none)
  std::string keep_dir;    // write the split traces here instead of a temp dir
};

// Runs the scenario. Returns the result document (see run_report.h), or
// false with *error and *exit_code (2: bad input; 1: the simulation failed).
bool run_scenario(const scenario &sc, const options &opt, nlohmann::ordered_json *result, std::string *error,
                  int *exit_code);

}  // namespace iommusim::run
