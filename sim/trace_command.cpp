// `iommusim trace`: generate, convert, inspect and summarize DMA traces
// (traces/FORMAT.md). Files are read in any form (text, binary, zstd); the
// form written follows the output name (.trace/.txt text, .itrc/.bin binary,
// a further .zst compresses) unless --format/--zstd say otherwise. A bad
// file or parameter prints "FILE:LINE: reason" (or "--set KEY: reason") and
// exits 2.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "models/devices/trace_format.h"
#include "subcommands.h"
#include "traces/generators/generator.h"

namespace iommusim::cli {
namespace {

using models::trace_encoding;
using models::trace_record;
using nlohmann::ordered_json;

constexpr int kBadInput = 2;

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The form an output name asks for; false if it names none and --format is unset.
bool output_form(const std::string &path, const std::string &format, int zstd_flag, trace_encoding *enc,
                 bool *zstd, std::string *error) {
  std::string base = path;
  *zstd = false;
  if (ends_with(base, ".zst")) {
    *zstd = true;
    base.resize(base.size() - 4);
  }
  if (zstd_flag >= 0) *zstd = zstd_flag == 1;
  if (format == "text") *enc = trace_encoding::text;
  else if (format == "binary") *enc = trace_encoding::binary;
  else if (ends_with(base, ".trace") || ends_with(base, ".txt")) *enc = trace_encoding::text;
  else if (ends_with(base, ".itrc") || ends_with(base, ".bin")) *enc = trace_encoding::binary;
  else {
    *error = path + ": cannot tell the form from the name (use .trace, .itrc, optionally .zst, or --format)";
    return false;
  }
  return true;
}

ordered_json record_json(const trace_record &r) {
  ordered_json j;
  j["gap_cycles"] = r.gap_cycles;
  j["stream_id"] = r.stream_id;
  j["pasid"] = r.ssid_valid ? ordered_json(r.ssid) : ordered_json(nullptr);
  j["addr"] = r.addr;
  j["size"] = r.size;
  j["dir"] = r.write ? "W" : "R";
  j["ats"] = r.ats;
  j["pri"] = r.pri;
  return j;
}

const char *encoding_name(trace_encoding e) { return e == trace_encoding::text ? "text" : "binary"; }

ordered_json file_json(const std::string &path, const models::trace_file_info &fi, size_t records) {
  return {{"path", path},        {"form", encoding_name(fi.encoding)}, {"zstd", fi.zstd},
          {"version", fi.version}, {"file_bytes", fi.file_bytes},      {"raw_bytes", fi.raw_bytes},
          {"records", records}};
}

ordered_json summarize(const std::vector<trace_record> &rs) {
  uint64_t rd = 0, wr = 0, rb = 0, wb = 0, ats = 0, pri = 0, pasid = 0, cycles = 0;
  uint64_t lo = UINT64_MAX, hi = 0;
  std::set<uint32_t> streams;
  std::set<std::pair<uint32_t, uint32_t>> pasids;
  std::set<uint64_t> pages4k, pages64k, pages2m;
  std::map<uint32_t, uint64_t> sizes;
  for (const trace_record &r : rs) {
    (r.write ? wr : rd)++;
    (r.write ? wb : rb) += r.size;
    ats += r.ats;
    pri += r.pri;
    cycles += r.gap_cycles;
    streams.insert(r.stream_id);
    if (r.ssid_valid) {
      pasid++;
      pasids.insert({r.stream_id, r.ssid});
    }
    lo = std::min(lo, r.addr);
    hi = std::max(hi, r.addr + r.size);
    pages4k.insert(r.addr >> 12);
    pages64k.insert(r.addr >> 16);
    pages2m.insert(r.addr >> 21);
    sizes[r.size]++;
  }
  ordered_json j;
  j["records"] = rs.size();
  j["reads"] = rd;
  j["writes"] = wr;
  j["read_bytes"] = rb;
  j["write_bytes"] = wb;
  j["ats"] = ats;
  j["pri"] = pri;
  j["with_pasid"] = pasid;
  j["stream_ids"] = ordered_json(std::vector<uint32_t>(streams.begin(), streams.end()));
  j["pasids"] = pasids.size();
  j["addr_min"] = rs.empty() ? 0 : lo;
  j["addr_end"] = hi;
  j["pages_4k"] = pages4k.size();
  j["pages_64k"] = pages64k.size();
  j["pages_2m"] = pages2m.size();
  j["footprint_bytes"] = pages4k.size() * 4096;
  j["gap_cycles_total"] = cycles;
  ordered_json hist = ordered_json::object();
  for (const auto &[s, n] : sizes) hist[std::to_string(s)] = n;
  j["sizes"] = hist;
  return j;
}

struct TraceState {
  std::string kind, output, input, format;
  std::vector<std::string> sets;
  bool zstd = false, no_zstd = false, json = false, list = false;
  unsigned head = 10;
};

bool parse_sets(const std::vector<std::string> &sets, std::map<std::string, std::string> *out,
                std::string *error) {
  for (const std::string &s : sets) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "--set " + s + ": expected KEY=VALUE";
      return false;
    }
    (*out)[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return true;
}

bool g_json = false;  // --json: errors are also a JSON document on stdout

int fail(const std::string &msg) {
  std::cerr << "iommusim trace: " << msg << "\n";
  if (g_json) std::cout << ordered_json{{"error", msg}, {"exit_status", kBadInput}}.dump(2) << "\n";
  return kBadInput;
}

int run_list(const TraceState &st) {
  ordered_json all = ordered_json::array();
  for (const traces::generator &g : traces::generators()) {
    ordered_json ps = ordered_json::array();
    for (const traces::param_spec &p : g.params) ps.push_back({{"name", p.name}, {"default", p.def}, {"help", p.help}});
    all.push_back({{"name", g.name}, {"help", g.help}, {"params", ps}});
    if (!st.json) {
      fmt::print("{}: {}\n", g.name, g.help);
      for (const traces::param_spec &p : g.params) fmt::print("    {:<18} {:<14} {}\n", p.name, p.def, p.help);
    }
  }
  if (st.json) std::cout << all.dump(2) << "\n";
  return 0;
}

// "a,b,c" -> {a, b, c}.
std::vector<std::string> split_list(const std::string &v) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = v.find(',', start);
    out.push_back(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// The output name of one combination: every {key} replaced by its value.
std::string expand_name(std::string name, const std::map<std::string, std::string> &values) {
  for (const auto &[k, v] : values) {
    const std::string pat = "{" + k + "}";
    for (size_t at = name.find(pat); at != std::string::npos; at = name.find(pat, at + v.size()))
      name.replace(at, pat.size(), v);
  }
  return name;
}

int run_generate(const TraceState &st) {
  if (st.list) return run_list(st);
  if (st.kind.empty()) return fail("generate: name a generator (iommusim trace generate --list)");
  if (st.output.empty()) return fail("generate: -o OUTPUT is required");
  std::map<std::string, std::string> given;
  std::string err;
  if (!parse_sets(st.sets, &given, &err)) return fail(err);
  // KEY=V1,V2,... makes one trace per combination (e.g. the pcie-bench window
  // sweep); the output name must then hold {KEY} for each listed key.
  std::vector<std::map<std::string, std::string>> combos{{}};
  for (const auto &[k, v] : given) {
    const std::vector<std::string> vals = split_list(v);
    if (vals.size() > 1 && st.output.find("{" + k + "}") == std::string::npos)
      return fail("--set " + k + "=" + v + ": several values need {" + k + "} in the output name");
    std::vector<std::map<std::string, std::string>> next;
    for (const auto &c : combos)
      for (const std::string &x : vals) {
        auto d = c;
        d[k] = x;
        next.push_back(d);
      }
    combos.swap(next);
  }
  ordered_json files = ordered_json::array();
  for (const auto &c : combos) {
    const std::string out = expand_name(st.output, c);
    trace_encoding enc;
    bool z;
    if (!output_form(out, st.format, st.zstd ? 1 : st.no_zstd ? 0 : -1, &enc, &z, &err)) return fail(err);
    std::vector<trace_record> rs;
    if (!traces::generate(st.kind, c, &rs, &err)) return fail(st.kind + ": " + err);
    if (!models::write_trace(out, rs, enc, z, &err)) return fail(err);
    files.push_back({{"output", out}, {"form", encoding_name(enc)}, {"zstd", z}, {"records", rs.size()}});
    if (!st.json) fmt::print("{}: {} records ({}{})\n", out, rs.size(), encoding_name(enc), z ? ", zstd" : "");
  }
  if (st.json) {
    ordered_json j = files.size() == 1 ? files[0] : ordered_json{{"files", files}};
    j["generator"] = st.kind;
    std::cout << j.dump(2) << "\n";
  }
  return 0;
}

int run_convert(const TraceState &st) {
  std::vector<trace_record> rs;
  std::string err;
  models::trace_file_info fi;
  trace_encoding enc;
  bool z;
  if (!output_form(st.output, st.format, st.zstd ? 1 : st.no_zstd ? 0 : -1, &enc, &z, &err)) return fail(err);
  if (!models::load_trace(st.input, &rs, &err, &fi)) return fail(err);
  if (!models::write_trace(st.output, rs, enc, z, &err)) return fail(err);
  if (st.json) {
    ordered_json j = {{"input", file_json(st.input, fi, rs.size())}, {"output", st.output},
                      {"form", encoding_name(enc)}, {"zstd", z}};
    std::cout << j.dump(2) << "\n";
  } else {
    fmt::print("{} ({}{}) -> {} ({}{}): {} records\n", st.input, encoding_name(fi.encoding), fi.zstd ? ", zstd" : "",
               st.output, encoding_name(enc), z ? ", zstd" : "", rs.size());
  }
  return 0;
}

int run_inspect(const TraceState &st) {
  std::vector<trace_record> rs;
  std::string err;
  models::trace_file_info fi;
  if (!models::load_trace(st.input, &rs, &err, &fi)) return fail(err);
  const size_t n = std::min<size_t>(st.head, rs.size());
  if (st.json) {
    ordered_json j = file_json(st.input, fi, rs.size());
    ordered_json list = ordered_json::array();
    for (size_t i = 0; i < n; i++) list.push_back(record_json(rs[i]));
    j["head"] = list;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{}: {} v{}{}, {} records, {} bytes on disk ({} raw)\n", st.input, encoding_name(fi.encoding),
             fi.version, fi.zstd ? " zstd" : "", rs.size(), fi.file_bytes, fi.raw_bytes);
  for (size_t i = 0; i < n; i++) fmt::print("{:>8}  {}\n", i + 1, models::format_trace_record(rs[i]));
  if (n < rs.size()) fmt::print("     ...  ({} more)\n", rs.size() - n);
  return 0;
}

int run_summarize(const TraceState &st) {
  std::vector<trace_record> rs;
  std::string err;
  models::trace_file_info fi;
  if (!models::load_trace(st.input, &rs, &err, &fi)) return fail(err);
  ordered_json s = summarize(rs);
  if (st.json) {
    ordered_json j = file_json(st.input, fi, rs.size());
    j["summary"] = s;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{} ({}{})\n", st.input, encoding_name(fi.encoding), fi.zstd ? ", zstd" : "");
  fmt::print("  records        {} ({} reads, {} writes)\n", rs.size(), s["reads"].get<uint64_t>(),
             s["writes"].get<uint64_t>());
  fmt::print("  bytes          {} read, {} written\n", s["read_bytes"].get<uint64_t>(), s["write_bytes"].get<uint64_t>());
  std::string sids;
  for (const auto &v : s["stream_ids"]) sids += fmt::format("{}{:#x}", sids.empty() ? "" : " ", v.get<uint32_t>());
  fmt::print("  stream IDs     {}\n", sids.empty() ? "-" : sids);
  fmt::print("  PASIDs         {} ({} records)\n", s["pasids"].get<uint64_t>(), s["with_pasid"].get<uint64_t>());
  fmt::print("  ATS / PRI      {} / {} records\n", s["ats"].get<uint64_t>(), s["pri"].get<uint64_t>());
  fmt::print("  address span   [{:#x}, {:#x})\n", s["addr_min"].get<uint64_t>(), s["addr_end"].get<uint64_t>());
  fmt::print("  footprint      {} 4 KiB pages, {} 64 KiB, {} 2 MiB regions\n", s["pages_4k"].get<uint64_t>(),
             s["pages_64k"].get<uint64_t>(), s["pages_2m"].get<uint64_t>());
  fmt::print("  gaps           {} device cycles in all\n", s["gap_cycles_total"].get<uint64_t>());
  return 0;
}

}  // namespace

Subcommand add_trace_command(CLI::App &root) {
  auto st = std::make_shared<TraceState>();
  CLI::App *app = root.add_subcommand("trace", "Generate, convert, inspect and summarize DMA traces (traces/FORMAT.md)");
  app->require_subcommand(1);
  auto add_form = [&](CLI::App *a) {
    a->add_option("--format", st->format, "Output form, overriding the name: text or binary")
        ->check(CLI::IsMember({"text", "binary"}));
    a->add_flag("--zstd", st->zstd, "Compress the output with zstd (default: when the name ends in .zst)");
    a->add_flag("--no-zstd", st->no_zstd, "Do not compress, whatever the name");
  };
  CLI::App *gen = app->add_subcommand("generate", "Write a trace from a generator");
  gen->add_option("kind", st->kind, "Generator: nic_rx, nic_tx, nvme, gpu, pciebench");
  gen->add_option("-o,--output", st->output, "Output file (.trace text, .itrc binary, + .zst)");
  gen->add_option("-s,--set", st->sets,
                  "Generator parameter KEY=VALUE (repeatable; see --list). KEY=V1,V2,... writes one trace per "
                  "value, named by {KEY} in the output name");
  gen->add_flag("--list", st->list, "List the generators and their parameters");
  add_form(gen);
  gen->add_flag("--json", st->json, "Print the result as JSON");
  CLI::App *conv = app->add_subcommand("convert", "Rewrite a trace in another form (lossless)");
  conv->add_option("input", st->input, "Input trace (any form)")->required();
  conv->add_option("output", st->output, "Output file (.trace text, .itrc binary, + .zst)")->required();
  add_form(conv);
  conv->add_flag("--json", st->json, "Print the result as JSON");
  CLI::App *insp = app->add_subcommand("inspect", "Show a trace's header and first records");
  insp->add_option("input", st->input, "Trace (any form)")->required();
  insp->add_option("-n,--head", st->head, "Records to show (default 10)");
  insp->add_flag("--json", st->json, "Print as JSON");
  CLI::App *sum = app->add_subcommand("summarize", "Count a trace's records, bytes, streams and footprint");
  sum->add_option("input", st->input, "Trace (any form)")->required();
  sum->add_flag("--json", st->json, "Print as JSON");
  app->footer("Exit status: 0 on success, 2 for a bad file, parameter or command line.");
  Subcommand sub;
  sub.app = app;
  sub.run = [st, gen, conv, insp, sum] {
    g_json = st->json;
    if (gen->parsed()) return run_generate(*st);
    if (conv->parsed()) return run_convert(*st);
    if (insp->parsed()) return run_inspect(*st);
    if (sum->parsed()) return run_summarize(*st);
    return kBadInput;
  };
  return sub;
}

}  // namespace iommusim::cli
