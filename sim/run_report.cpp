// SPDX-License-Identifier: MIT
#include "run_report.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "run_scenario.h"

namespace iommusim::run {

using nlohmann::ordered_json;

double quantile_sorted(const std::vector<double> &v, double q) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  if (k == 0) k = 1;
  return v[std::min(k, v.size()) - 1];
}

namespace {

uint64_t counter(const ordered_json &group, const char *name) {
  if (!group.contains("counters")) return 0;
  const ordered_json &c = group["counters"];
  return c.contains(name) ? c[name].get<uint64_t>() : 0;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// Text for an SVG element (a scenario name is the user's).
std::string xml_escape(const std::string &in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

ordered_json build_result(const run_inputs &in) {
  ordered_json r;
  const scenario &sc = *in.sc;
  r["scenario"] = sc.name;
  r["description"] = sc.description;
  r["source"] = sc.source;
  r["platform"] = sc.platform_source;
  r["model"] = in.model;
  r["iommu"] = in.iommu;
  r["page_size"] = sc.page_size;
  r["outstanding"] = sc.outstanding;
  ordered_json sets = ordered_json::object();
  for (const auto &[k, v] : sc.sets) sets[k] = v;
  r["sets"] = sets;
  r["workloads"] = in.workloads;
  r["dropped_devices"] = in.dropped_devices;
  // Per-transaction figures from the replayers (exact).
  uint64_t n = 0, errors = 0, bytes = 0, rb = 0, wb = 0;
  double first_ns = INFINITY, last_ns = 0;
  std::vector<double> lat;
  for (const replay_stream &s : in.streams) {
    const double ns_per_cycle = 1000.0 / s.clock_mhz;
    for (const replay_line &l : s.lines) {
      n++;
      if (!l.ok) {
        errors++;
      } else {
        bytes += l.size;
        (l.write ? wb : rb) += l.size;
      }
      first_ns = std::min(first_ns, l.issue_cycle * ns_per_cycle);
      last_ns = std::max(last_ns, (l.issue_cycle + l.latency_cycles) * ns_per_cycle);
      lat.push_back(l.latency_cycles * ns_per_cycle);
    }
  }
  std::sort(lat.begin(), lat.end());
  double sum = 0;
  for (double x : lat) sum += x;
  r["transactions"] = n;
  r["errors"] = errors;
  r["bytes"] = bytes;
  r["read_bytes"] = rb;
  r["write_bytes"] = wb;
  r["sim_time_ns"] = static_cast<double>(in.sim_ps) / 1000.0;
  const double span = n ? last_ns - first_ns : 0;
  r["achieved_gbps"] = span > 0 ? bytes * 8.0 / span : 0.0;
  r["dma_latency_ns"] = {{"mean", lat.empty() ? 0.0 : sum / lat.size()},
                         {"p50", quantile_sorted(lat, 0.5)},
                         {"p99", quantile_sorted(lat, 0.99)},
                         {"max", lat.empty() ? 0.0 : lat.back()}};
  // The IOMMU's own counters (named after its PMU events).
  const ordered_json &groups = in.stats.contains("groups") ? in.stats["groups"] : ordered_json::object();
  ordered_json tr = {{"count", 0}, {"clock_mhz", in.iommu_clock_mhz}};
  const double ns_per_iommu_cycle = 1000.0 / in.iommu_clock_mhz;
  uint64_t walks = 0, walk_acc = 0, faults = 0;
  if (groups.contains(in.iommu)) {
    const ordered_json &g = groups[in.iommu];
    if (g.contains("histograms") && g["histograms"].contains("translate_cycles")) {
      const ordered_json &h = g["histograms"]["translate_cycles"];
      tr["count"] = h["count"];
      for (const char *k : {"mean", "p50", "p99"}) {
        const double c = h[k].get<double>();
        tr[std::string(k) + "_cycles"] = c;
        tr[std::string(k) + "_ns"] = c * ns_per_iommu_cycle;
      }
    }
    // SMMUv3 PMCG: TLB_MISS starts a walk; TRANS_TABLE_WALK_ACCESS counts its
    // reads. VT-d: an IOTLB miss starts a walk; page_walk_reads counts its reads.
    walks = counter(g, "tlb_miss");
    walk_acc = counter(g, "trans_table_walk_access") + counter(g, "page_walk_reads");
    faults = counter(g, "faults");
  }
  if (in.model != "smmuv3" && groups.contains(in.iommu + "." + iotlb_cache_name(in.model)))
    walks = counter(groups[in.iommu + "." + iotlb_cache_name(in.model)], "miss");
  r["translation"] = tr;
  ordered_json caches = ordered_json::array();
  for (auto it = groups.begin(); it != groups.end(); ++it) {
    const ordered_json &g = it.value();
    if (!g.contains("counters") || !g["counters"].contains("hit") || !g["counters"].contains("miss")) continue;
    const uint64_t h = counter(g, "hit"), m = counter(g, "miss");
    caches.push_back({{"name", it.key()}, {"lookups", h + m}, {"hits", h}, {"misses", m},
                      {"hit_rate", ratio(static_cast<double>(h), static_cast<double>(h + m))}});
  }
  r["caches"] = caches;
  const double kib = (rb + wb) / 1024.0;
  r["walks"] = walks;
  r["walks_per_kib"] = ratio(static_cast<double>(walks), kib);
  r["walk_accesses"] = walk_acc;
  r["walk_accesses_per_kib"] = ratio(static_cast<double>(walk_acc), kib);
  r["faults"] = faults;
  r["mapped_bytes"] = in.mapped_bytes;
  r["mappings"] = in.mappings;
  r["host"] = {{"setup_s", in.host_setup_s},
               {"platform_s", in.host_platform_s},
               {"replay_s", in.host_replay_s},
               {"transactions_per_second", in.host_replay_s > 0 ? n / in.host_replay_s : 0.0}};
  return r;
}

std::string format_table(const ordered_json &r) {
  std::string s;
  auto line = [&](const std::string &k, const std::string &v) { s += fmt::format("  {:<30} {}\n", k, v); };
  s += fmt::format("iommusim run: {}\n", r["scenario"].get<std::string>());
  if (!r["description"].get<std::string>().empty()) s += fmt::format("  {}\n", r["description"].get<std::string>());
  s += "\n";
  line("platform", r["platform"].get<std::string>());
  line("IOMMU", fmt::format("{} ({}, {} MHz)", r["iommu"].get<std::string>(), r["model"].get<std::string>(),
                            r["translation"]["clock_mhz"].get<double>()));
  if (!r["dropped_devices"].empty()) {
    std::string names;
    for (const auto &n : r["dropped_devices"]) names += (names.empty() ? "" : ", ") + n.get<std::string>();
    line("platform devices left out", names + " (their StreamIDs are the workload's)");
  }
  line("page size", fmt::format("{} KiB", r["page_size"].get<uint64_t>() / 1024));
  line("requests in flight", fmt::format("{} per device", r["outstanding"].get<unsigned>()));
  for (auto it = r["sets"].begin(); it != r["sets"].end(); ++it) line("set " + it.key(), it.value().get<std::string>());
  line("transactions", fmt::format("{} ({} errors)", r["transactions"].get<uint64_t>(), r["errors"].get<uint64_t>()));
  line("bytes", fmt::format("{} read, {} written", r["read_bytes"].get<uint64_t>(), r["write_bytes"].get<uint64_t>()));
  line("simulated time", fmt::format("{:.1f} us", r["sim_time_ns"].get<double>() / 1000));
  line("achieved bandwidth", fmt::format("{:.2f} Gb/s", r["achieved_gbps"].get<double>()));
  s += "\n  Cache                          lookups      hits    misses  hit rate\n";
  for (const ordered_json &c : r["caches"])
    s += fmt::format("  {:<28} {:>9} {:>9} {:>9}  {:>7.2f}%\n", c["name"].get<std::string>(), c["lookups"].get<uint64_t>(),
                     c["hits"].get<uint64_t>(), c["misses"].get<uint64_t>(), 100 * c["hit_rate"].get<double>());
  s += "\n";
  line("walks (IOTLB misses)", fmt::format("{} ({:.4f} per KiB)", r["walks"].get<uint64_t>(), r["walks_per_kib"].get<double>()));
  line("walk memory accesses", fmt::format("{} ({:.4f} per KiB)", r["walk_accesses"].get<uint64_t>(),
                                            r["walk_accesses_per_kib"].get<double>()));
  const ordered_json &t = r["translation"];
  if (t["count"].get<uint64_t>() > 0) {
    s += "\n  Translation latency           mean       p50       p99\n";
    s += fmt::format("  {:<28} {:>7.2f} {:>9.2f} {:>9.2f}\n", "cycles", t["mean_cycles"].get<double>(),
                     t["p50_cycles"].get<double>(), t["p99_cycles"].get<double>());
    s += fmt::format("  {:<28} {:>7.2f} {:>9.2f} {:>9.2f}\n", "ns", t["mean_ns"].get<double>(), t["p50_ns"].get<double>(),
                     t["p99_ns"].get<double>());
  }
  const ordered_json &d = r["dma_latency_ns"];
  s += fmt::format("  {:<28} {:>7.2f} {:>9.2f} {:>9.2f}\n", "DMA issue to completion, ns", d["mean"].get<double>(),
                   d["p50"].get<double>(), d["p99"].get<double>());
  s += "\n";
  line("host time (replay)", fmt::format("{:.3f} s, {:.0f} transactions/s", r["host"]["replay_s"].get<double>(),
                                           r["host"]["transactions_per_second"].get<double>()));
  if (r.contains("plot")) line("plot", r["plot"].get<std::string>());
  return s;
}

bool write_plot_svg(const std::string &path, const ordered_json &r, const run_inputs &in, std::string *error) {
  constexpr double W = 1000, H = 420, pw = 560, ph = 320, x0 = 70, y0 = 50, bx0 = 720, bw = 250;
  std::vector<std::pair<double, double>> pts;  // (issue us, latency ns)
  size_t total = 0;
  for (const replay_stream &s : in.streams) total += s.lines.size();
  const size_t step = std::max<size_t>(1, total / 4000);
  size_t k = 0;
  double xmax = 0, ymax = 0;
  for (const replay_stream &s : in.streams) {
    const double ns = 1000.0 / s.clock_mhz;
    for (const replay_line &l : s.lines) {
      if (k++ % step) continue;
      pts.push_back({l.issue_cycle * ns / 1000.0, l.latency_cycles * ns});
      xmax = std::max(xmax, pts.back().first);
      ymax = std::max(ymax, pts.back().second);
    }
  }
  if (xmax <= 0) xmax = 1;
  if (ymax <= 0) ymax = 1;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"24\" font-size=\"15\">iommusim run: {} — p99 translation {:.1f} ns, {:.2f} Gb/s</text>\n",
      W, H, x0, xml_escape(r["scenario"].get<std::string>()),
      r["translation"].contains("p99_ns") ? r["translation"]["p99_ns"].get<double>() : 0.0,
      r["achieved_gbps"].get<double>());
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n", x0, y0, pw, ph);
  for (int i = 0; i <= 4; i++) {
    const double yv = ymax * i / 4, xv = xmax * i / 4;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0f}</text>\n", x0 - 4, y0 + ph - ph * i / 4 + 4, yv);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0f}</text>\n", x0 + pw * i / 4, y0 + ph + 16, xv);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">issue time (us)</text>\n", x0 + pw / 2, y0 + ph + 34);
  svg += fmt::format("<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">DMA latency (ns)</text>\n",
                     y0 + ph / 2);
  svg += "<g fill=\"#1f77b4\" fill-opacity=\"0.5\">\n";
  for (const auto &[x, y] : pts)
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"1.5\"/>\n", x0 + pw * x / xmax, y0 + ph - ph * y / ymax);
  svg += "</g>\n";
  // Hit rates.
  const ordered_json &caches = r["caches"];
  svg += fmt::format("<text x=\"{}\" y=\"{}\">hit rate per cache</text>\n", bx0 - 60, y0 - 6);
  const double bh = caches.empty() ? 0 : std::min(28.0, ph / caches.size());
  double y = y0;
  for (const ordered_json &c : caches) {
    std::string name = c["name"].get<std::string>();
    if (name.rfind(in.iommu + ".", 0) == 0) name = name.substr(in.iommu.size() + 1);
    const double hr = c["hit_rate"].get<double>();
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"10\">{}</text>\n", bx0 - 4,
                       y + bh * 0.65, xml_escape(name));
    svg += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"#ff7f0e\"/>\n", bx0, y + 2,
                       bw * hr, bh - 4);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\">{:.1f}%</text>\n", bx0 + bw * hr + 3,
                       y + bh * 0.65, 100 * hr);
    y += bh;
  }
  svg += "</svg>\n";
  std::ofstream f(path);
  if (!f) {
    *error = path + ": cannot create";
    return false;
  }
  f << svg;
  f.close();
  if (!f) {
    *error = path + ": write error";
    return false;
  }
  return true;
}

}  // namespace iommusim::run
