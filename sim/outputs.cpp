// SPDX-License-Identifier: MIT
// Statistics (table and JSON), waveforms (VCD, FST) and the transaction log
// at the end of a run or on request.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <systemc>

#include "models/smmuv3/smmuv3.h"
#include "models/vtd/vtd.h"
#include "iommufd_api/drivers/smmuv3/smmuv3_driver.h"
#include "iommufd_api/drivers/vtd/vtd_driver.h"
#include "sim/dma_tap.h"
#include "sim/host_cpu.h"
#include "sim/irq_controller.h"
#include "sim/platform.h"
#include "sim/sim_thread.h"

extern char **environ;

namespace iommusim::sim {

namespace {

using models::stats_group;

// A driver's counters as a stats group, so reports treat them like the rest.
stats_group driver_group(const std::string &name, const iommufd::smmuv3::driver_stats &s) {
  stats_group g(name + ".driver");
  const std::pair<const char *, uint64_t> c[] = {
      {"commands", s.commands},           {"syncs", s.syncs},
      {"sync_timeouts", s.sync_timeouts}, {"cmdq_errors", s.cmdq_errors},
      {"cmdq_illegal", s.cmdq_illegal},   {"cmdq_abort", s.cmdq_abort},
      {"cmdq_atc_timeout", s.cmdq_atc_timeout}, {"gerrors", s.gerrors},
      {"sfm", s.sfm},                     {"events", s.events},
      {"evtq_overflows", s.evtq_overflows}, {"stall_faults", s.stall_faults},
      {"pri_requests", s.pri_requests},   {"priq_overflows", s.priq_overflows},
      {"pri_responses", s.pri_responses}, {"resumes", s.resumes},
      {"tlbi", s.tlbi},                   {"atc_inv", s.atc_inv},
      {"cfgi", s.cfgi},                   {"ste_writes", s.ste_writes},
      {"cd_writes", s.cd_writes},         {"pgtable_pages", s.pgtable_pages}};
  for (const auto &[k, v] : c) g.counter(k) = v;
  return g;
}

stats_group driver_group(const std::string &name, const iommufd::vtd::driver_stats &s) {
  stats_group g(name + ".driver");
  const std::pair<const char *, uint64_t> c[] = {
      {"descriptors", s.descriptors},   {"waits", s.waits},
      {"wait_timeouts", s.wait_timeouts}, {"iqe", s.iqe},
      {"ite", s.ite},                   {"ice", s.ice},
      {"iotlb_inv", s.iotlb_inv},       {"piotlb_inv", s.piotlb_inv},
      {"devtlb_inv", s.devtlb_inv},     {"cc_inv", s.cc_inv},
      {"pc_inv", s.pc_inv},             {"faults", s.faults},
      {"fault_overflows", s.fault_overflows}, {"prq_requests", s.prq_requests},
      {"prq_overflows", s.prq_overflows}, {"prq_responses", s.prq_responses},
      {"pgtable_pages", s.pgtable_pages}};
  for (const auto &[k, v] : c) g.counter(k) = v;
  return g;
}

nlohmann::json histogram_json(const models::latency_histogram &h) {
  return {{"count", h.count()}, {"mean", h.mean()},          {"min", h.min()},
          {"p50", h.percentile(0.5)}, {"p90", h.percentile(0.9)}, {"p99", h.percentile(0.99)},
          {"max", h.max()}};
}

std::string pad(const std::string &s, size_t w) { return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' '); }

bool run_vcd2fst(const std::string &vcd, const std::string &fst, std::string *error) {
  std::vector<std::string> args = {"vcd2fst", vcd, fst};
  std::vector<char *> argv;
  for (std::string &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  const int rc = posix_spawnp(&pid, "vcd2fst", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    *error = rc == ENOENT ? "vcd2fst (from GTKWave) is not on PATH; install gtkwave, or use output.vcd"
                          : std::string("cannot run vcd2fst: ") + std::strerror(rc);
    return false;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = "vcd2fst failed to convert " + vcd;
    return false;
  }
  return true;
}

}  // namespace

void platform::snapshot_stats(std::string *json, std::string *table) {
  auto take = [&] {
    irqs_->sync_stats();
    // Tokens forfeited by host agents (docs/platform.md, "Determinism").
    cpu_->stats().counter("agent_lapses") = sim_thread::get().lapses();
    // Every registered group, plus model groups that did not register, plus
    // the drivers' counters.
    std::vector<stats_group> groups;
    std::set<const stats_group *> seen;
    models::stats_registry::get().for_each([&](const stats_group &g) {
      seen.insert(&g);
      groups.push_back(g);
    });
    for (iommu &io : iommus_) {
      for (const stats_group *g : io.model ? io.model->all_stats() : io.vtd_model->all_stats())
        if (g && !seen.count(g)) {
          seen.insert(g);
          groups.push_back(*g);
        }
      if (io.driver) groups.push_back(driver_group(io.desc->name, io.driver->stats()));
      if (io.vtd_driver) groups.push_back(driver_group(io.desc->name, io.vtd_driver->stats()));
    }
    std::stable_sort(groups.begin(), groups.end(),
                     [](const stats_group &a, const stats_group &b) { return a.name() < b.name(); });
    const uint64_t t = static_cast<uint64_t>(sc_core::sc_time_stamp() / sc_core::sc_time(1, sc_core::SC_PS));
    if (json) {
      nlohmann::json j;
      j["sim_time_ps"] = t;
      j["timing"] = cfg_.timing == models::timing_mode::fast ? "fast" : "cycle";
      j["config"] = cfg_.source;
      nlohmann::json &gs = j["groups"];
      gs = nlohmann::json::object();
      for (const stats_group &g : groups) {
        nlohmann::json &o = gs[g.name()];
        o["counters"] = nlohmann::json::object();
        for (const auto &[k, v] : g.counters()) o["counters"][k] = v;
        o["histograms"] = nlohmann::json::object();
        for (const auto &[k, h] : g.histograms()) o["histograms"][k] = histogram_json(h);
      }
      *json = j.dump(2) + "\n";
    }
    if (table) {
      std::string s;
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%" PRIu64, t);
      s += std::string("iommusim statistics at ") + buf + " ps (" +
           (cfg_.timing == models::timing_mode::fast ? "fast" : "cycle") + " timing)\n";
      s += pad("group", 36) + pad("counter", 32) + "value\n";
      for (const stats_group &g : groups) {
        for (const auto &[k, v] : g.counters()) s += pad(g.name(), 36) + pad(k, 32) + std::to_string(v) + "\n";
        for (const auto &[k, h] : g.histograms()) {
          std::snprintf(buf, sizeof(buf), "%.1f", h.mean());
          s += pad(g.name(), 36) + pad(k, 32) + "count " + std::to_string(h.count()) + " mean " + buf +
               " p50 " + std::to_string(h.percentile(0.5)) + " p99 " + std::to_string(h.percentile(0.99)) +
               " max " + std::to_string(h.max()) + "\n";
        }
      }
      *table = s;
    }
  };
  // Statistics belong to the simulation thread: read them there while it
  // runs, directly once it has stopped.
  sim_thread &sim = sim_thread::get();
  if (sim.running() && !sim.on_sim_thread()) {
    if (sim.run_in_process(take)) return;
  }
  take();
}

std::string platform::stats_json() {
  std::string j;
  snapshot_stats(&j, nullptr);
  return j;
}

std::string platform::stats_table() {
  std::string t;
  snapshot_stats(nullptr, &t);
  return t;
}

bool platform::write_stats_json(const std::string &path, std::string *error) {
  const std::string j = stats_json();
  std::ofstream out(path, std::ios::trunc);
  if (out) out << j;
  if (!out) {
    if (error) *error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

void platform::write_outputs() {
  const output_config &o = cfg_.output;
  std::string err;
  if (!o.stats_json.empty() && !write_stats_json(o.stats_json, &err))
    std::fprintf(stderr, "iommusim: output.stats_json: %s\n", err.c_str());
  if (!o.stats_table.empty()) {
    const std::string t = stats_table();
    if (o.stats_table == "-") {
      std::fputs(t.c_str(), stderr);
    } else {
      std::ofstream out(o.stats_table, std::ios::trunc);
      if (out) out << t;
      if (!out) std::fprintf(stderr, "iommusim: output.stats_table: cannot write %s\n", o.stats_table.c_str());
    }
  }
  if (log_) log_->flush();
  // Waveforms: the VCD was closed on the simulation thread.
  if (!vcd_path_.empty()) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!o.vcd.empty() && vcd_path_ != o.vcd) fs::rename(vcd_path_, o.vcd, ec);
    if (!o.fst.empty()) {
      const std::string vcd = o.vcd.empty() ? vcd_path_ : o.vcd;
      if (!run_vcd2fst(vcd, o.fst, &err)) std::fprintf(stderr, "iommusim: output.fst: %s\n", err.c_str());
      if (o.vcd.empty()) fs::remove(vcd_path_, ec);
    }
  }
}

}  // namespace iommusim::sim
