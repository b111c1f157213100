// `iommusim run`'s numbers: the result document (JSON), its table and its
// plot. Pure functions of what the run collected, so they are tested alone.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace iommusim::run {

struct scenario;

struct replay_line {
  uint64_t issue_cycle, latency_cycles;  // device cycles since the replay started
  uint32_t size;
  bool write, ok;
};

struct replay_stream {
  std::string device;
  uint32_t stream_id = 0;
  double clock_mhz = 1000;
  std::vector<replay_line> lines;
};

struct run_inputs {
  const scenario *sc = nullptr;
  std::string iommu, model;
  double iommu_clock_mhz = 1000;
  uint64_t sim_ps = 0;
  double host_setup_s = 0, host_platform_s = 0, host_replay_s = 0;
  uint64_t mapped_bytes = 0, mappings = 0;
  nlohmann::ordered_json workloads, stats;
  std::vector<std::string> dropped_devices;  // the platform's, for StreamIDs the workload took
  std::vector<replay_stream> streams;
};

// The result document:
//   scenario, description, source, platform, model, iommu, page_size, sets,
//   workloads, dropped_devices,
//   transactions, errors, bytes, read_bytes, write_bytes, sim_time_ns,
//   achieved_gbps, translation {count, mean/p50/p99 in cycles and ns,
//   clock_mhz}, dma_latency_ns {mean, p50, p99, max}, caches [{name, lookups,
//   hits, misses, hit_rate}], walks, walks_per_kib, walk_accesses,
//   walk_accesses_per_kib, faults, mapped_bytes, mappings,
//   host {setup_s, platform_s, replay_s, transactions_per_second}.
nlohmann::ordered_json build_result(const run_inputs &in);

// The human-readable table of a result document.
std::string format_table(const nlohmann::ordered_json &r);

// An SVG: DMA latency against issue time, and hit rate per cache.
bool write_plot_svg(const std::string &path, const nlohmann::ordered_json &r, const run_inputs &in,
                    std::string *error);

// q-quantile (0..1) of sorted values: the smallest v with at least q of them <= v.
double quantile_sorted(const std::vector<double> &sorted, double q);

}  // namespace iommusim::run
