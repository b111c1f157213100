// `iommusim run [SCENARIO]`: runs one scenario (run_scenario.h) and prints
// its translation statistics — hit rate per cache, walks per KiB, mean/p50/
// p99 translation latency in cycles and ns, achieved bandwidth — and writes
// an SVG plot. Without SCENARIO: the built-in 100 Gb/s NIC receive path
// through an SMMUv3 with MMU-600-like defaults. Exit status 0 on success, 2
// for bad input (scenario, trace, --set; "FILE:LINE:COL: reason"), 1 when the
// simulation itself fails.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "run_report.h"
#include "run_scenario.h"
#include "subcommands.h"

namespace iommusim::cli {
namespace {

struct RunState {
  std::string scenario, platform, model, page_size, plot, keep;
  std::vector<std::string> sets, traces;
  std::string generate;
  std::vector<std::string> params;
  bool no_plot = false, json = false;
  unsigned outstanding = 0;
};

bool split_kv(const std::string &opt, const std::string &s, std::string *k, std::string *v, std::string *error) {
  const size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0) {
    *error = opt + " " + s + ": expected KEY=VALUE";
    return false;
  }
  *k = s.substr(0, eq);
  *v = s.substr(eq + 1);
  return true;
}

int run(const RunState &st) {
  auto fail = [&](const std::string &msg, int code) {
    std::cerr << "iommusim run: " << msg << "\n";
    if (st.json) std::cout << nlohmann::ordered_json{{"error", msg}, {"exit_status", code}}.dump(2) << "\n";
    return code;
  };
  run::scenario sc = run::default_scenario();
  std::string err;
  if (!st.scenario.empty() && !run::load_scenario(st.scenario, &sc, &err)) return fail(err, 2);
  if (!st.model.empty()) {
    if (!st.platform.empty()) return fail("--model and --platform: give one of them", 2);
    if (!run::builtin_platform(st.model, &sc.platform, &sc.platform_source)) {
      std::string names;
      for (const std::string &m : run::builtin_models()) names += (names.empty() ? "" : ", ") + m;
      return fail("--model " + st.model + ": no built-in platform for it (built-in: " + names +
                  "); give a platform file with --platform", 2);
    }
    sc.iommu.clear();
  }
  if (!st.platform.empty()) {
    try {
      sc.platform = YAML::LoadFile(st.platform);
      sc.platform_source = st.platform;
      sc.iommu.clear();
    } catch (const YAML::BadFile &) {
      return fail(st.platform + ": cannot open", 2);
    } catch (const YAML::ParserException &e) {
      return fail(fmt::format("{}:{}:{}: {}", st.platform, e.mark.line + 1, e.mark.column + 1, e.msg), 2);
    }
  }
  if (!st.traces.empty() || !st.generate.empty()) {
    sc.workloads.clear();
    if (st.scenario.empty()) {  // not the built-in NIC scenario any more: name it after its workload
      std::string n = st.generate;
      if (n.empty()) {
        n = std::filesystem::path(st.traces.front()).filename().string();
        n = n.substr(0, n.find('.'));
      }
      sc.name = n.empty() ? "run" : n;
      sc.description.clear();
    }
    for (const std::string &t : st.traces) {
      run::workload w;
      w.trace = t;
      w.where = "--trace " + t;
      sc.workloads.push_back(w);
    }
    if (!st.generate.empty()) {
      run::workload w;
      w.generator = st.generate;
      w.where = "--generate " + st.generate;
      for (const std::string &p : st.params) {
        std::string k, v;
        if (!split_kv("--param", p, &k, &v, &err)) return fail(err, 2);
        w.params[k] = v;
      }
      sc.workloads.push_back(w);
    }
  } else if (!st.params.empty()) {
    // --param alone tunes the scenario's generator workloads.
    for (run::workload &w : sc.workloads) {
      if (w.generator.empty()) continue;
      for (const std::string &p : st.params) {
        std::string k, v;
        if (!split_kv("--param", p, &k, &v, &err)) return fail(err, 2);
        w.params[k] = v;
      }
    }
  }
  if (!st.page_size.empty() && !run::parse_page_size(st.page_size, &sc.page_size))
    return fail("--page-size " + st.page_size + ": not one of 4K, 16K, 64K, 2M, 32M, 512M, 1G", 2);
  if (st.outstanding) sc.outstanding = st.outstanding;
  for (const std::string &s : st.sets) {
    std::string k, v;
    if (!split_kv("--set", s, &k, &v, &err)) return fail(err, 2);
    sc.sets.emplace_back(k, v);
  }
  run::options opt;
  opt.plot = st.no_plot ? "" : st.plot.empty() ? sc.name + ".svg" : st.plot;
  opt.keep_dir = st.keep;
  nlohmann::ordered_json result;
  int code = 0;
  if (!run::run_scenario(sc, opt, &result, &err, &code)) return fail(err, code);
  if (st.json) std::cout << result.dump(2) << "\n";
  else std::cout << run::format_table(result);
  return result["errors"].get<uint64_t>() ? 1 : 0;
}

}  // namespace

Subcommand add_run_command(CLI::App &root) {
  auto st = std::make_shared<RunState>();
  CLI::App *app = root.add_subcommand(
      "run", "Run a scenario (default: a 100 Gb/s NIC receive path through an MMU-600-like SMMUv3) and report "
             "its translation statistics");
  app->add_option("scenario", st->scenario, "Scenario file (YAML; docs/user_guide.md). Omit for the built-in default");
  app->add_option("--platform", st->platform, "Platform config to use instead of the scenario's");
  app->add_option("--model", st->model, "Use the built-in platform of this IOMMU model: smmuv3 (MMU-600-like), vtd");
  app->add_option("-t,--trace", st->traces, "Replay this trace instead of the scenario's workloads (repeatable)");
  app->add_option("-g,--generate", st->generate, "Generate the workload with this generator instead");
  app->add_option("-p,--param", st->params, "Generator parameter KEY=VALUE (repeatable)");
  app->add_option("-s,--set", st->sets,
                  "Platform override KEY=VALUE, e.g. iommus[0].main_tlb.entries=1024 (repeatable)");
  app->add_option("--page-size", st->page_size, "Mapping page size: 4K, 16K, 64K, 2M, 32M, 512M, 1G");
  app->add_option("--outstanding", st->outstanding, "Requests each device keeps in flight (default: the scenario's, "
                                                    "else 16; 1 = one at a time)")
      ->check(CLI::Range(1, 1024));
  app->add_option("--plot", st->plot, "SVG plot to write (default: SCENARIO_NAME.svg)");
  app->add_flag("--no-plot", st->no_plot, "Do not write a plot");
  app->add_option("--keep-traces", st->keep, "Keep the per-device traces in this directory");
  app->add_flag("--json", st->json, "Print the result document as JSON");
  app->footer("Exit status: 0 on success, 1 if the simulation failed or a DMA failed, 2 for bad input.");
  Subcommand sub;
  sub.app = app;
  sub.run = [st] { return run(*st); };
  return sub;
}

}  // namespace iommusim::cli
