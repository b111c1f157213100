// SPDX-License-Identifier: MIT
// Platform configuration: parsing (yaml-cpp, for YAML and JSON alike) and
// validation with FILE:LINE:COL errors. The schema is docs/platform_config.md.
#include "sim/config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "rtl/iotlb_backend.h"

namespace iommusim::sim {

std::string source_loc::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

std::string format_errors(const std::vector<config_error> &errors) {
  std::string s;
  for (const config_error &e : errors) s += e.str() + "\n";
  return s;
}

const iommu_desc *platform_config::find_iommu(const std::string &n) const {
  for (const iommu_desc &i : iommus)
    if (i.name == n) return &i;
  return nullptr;
}

namespace {

using models::cache_config;
using models::replacement_policy;

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof(b), "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// Edit distance, for "did you mean" hints on unknown keys.
size_t distance(const std::string &a, const std::string &b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) prev[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); j++)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// ---------------------------------------------------------------------------
// The reader: errors with positions, typed scalars, maps that know which keys
// they were asked about.

class reader {
 public:
  reader(std::string file, std::vector<config_error> &errs) : file_(std::move(file)), errs_(errs) {}

  source_loc loc(const YAML::Node &n) const {
    source_loc l;
    l.file = file_;
    const YAML::Mark m = n.Mark();
    if (!m.is_null()) {
      l.line = m.line + 1;
      l.col = m.column + 1;
    }
    return l;
  }
  source_loc loc(const YAML::Mark &m) const {
    source_loc l;
    l.file = file_;
    if (!m.is_null()) {
      l.line = m.line + 1;
      l.col = m.column + 1;
    }
    return l;
  }
  void error(const source_loc &where, const std::string &path, const std::string &why) {
    errs_.push_back(config_error{where, path.empty() ? why : path + ": " + why});
  }
  void error(const YAML::Node &n, const std::string &path, const std::string &why) {
    error(loc(n), path, why);
  }
  size_t error_count() const { return errs_.size(); }

 private:
  std::string file_;
  std::vector<config_error> &errs_;
};

// What a scalar is, for messages.
std::string describe(const YAML::Node &n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing (null)";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    default: return "nothing";
  }
}

// Integers: decimal, 0x hex, 0o octal, 0b binary, '_' between digits, and an
// optional binary size suffix (K, M, G, T, or KiB, MiB, GiB, TiB).
std::optional<uint64_t> parse_uint(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  uint64_t mult = 1;
  static const std::pair<const char *, uint64_t> suffixes[] = {
      {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30}, {"TiB", 1ULL << 40},
      {"K", 1ULL << 10},   {"M", 1ULL << 20},   {"G", 1ULL << 30},   {"T", 1ULL << 40}};
  for (const auto &[suf, m] : suffixes) {
    const size_t n = std::strlen(suf);
    if (s.size() > n && s.compare(s.size() - n, n, suf) == 0 &&
        !(s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
      s.resize(s.size() - n);
      mult = m;
      break;
    }
  }
  int base = 10;
  size_t start = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, start = 2;
  else if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) base = 8, start = 2;
  else if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) base = 2, start = 2;
  if (start >= s.size()) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = start; i < s.size(); i++) {
    const char c = s[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    if (d >= base) return std::nullopt;
    if (v > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base))
      return std::nullopt;
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  if (mult != 1 && v > std::numeric_limits<uint64_t>::max() / mult) return std::nullopt;
  return v * mult;
}

class map_reader {
 public:
  // n must be a mapping (or null/absent: every key takes its default).
  map_reader(reader &r, const YAML::Node &n, std::string path)
      : r_(r), node_(n), path_(std::move(path)) {
    if (!n.IsDefined() || n.IsNull()) return;
    if (!n.IsMap()) {
      r_.error(n, path_, "expected a mapping of keys to values, found " + describe(n));
      bad_ = true;
      return;
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node &k = it->first;
      if (!k.IsScalar()) {
        r_.error(k, path_, "keys must be names, found " + describe(k));
        continue;
      }
      const std::string key = k.Scalar();
      auto found = entries_.find(key);
      if (found != entries_.end()) {
        const source_loc first = r_.loc(found->second.key);
        r_.error(k, join(key), "duplicate key (first given at line " + std::to_string(first.line) +
                                   ", column " + std::to_string(first.col) + ")");
        continue;
      }
      entries_.emplace(key, entry{k, it->second});
      order_.push_back(key);
    }
  }
  bool ok() const { return !bad_; }
  const YAML::Node &node() const { return node_; }
  const std::string &path() const { return path_; }
  std::string join(const std::string &key) const { return path_.empty() ? key : path_ + "." + key; }

  // The value of key (marks the key as known); an undefined node if absent.
  YAML::Node get(const std::string &key) {
    known_.insert(key);
    auto it = entries_.find(key);
    return it == entries_.end() ? YAML::Node(YAML::NodeType::Undefined) : it->second.value;
  }
  bool has(const std::string &key) {
    known_.insert(key);
    return entries_.count(key) != 0;
  }
  source_loc key_loc(const std::string &key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? r_.loc(node_) : r_.loc(it->second.key);
  }
  source_loc value_loc(const std::string &key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? r_.loc(node_) : r_.loc(it->second.value);
  }
  // Declare keys that exist but are read elsewhere.
  void known(std::initializer_list<const char *> keys) {
    for (const char *k : keys) known_.insert(k);
  }
  void known(const std::initializer_list<const char *> *keys) { known(*keys); }

  // Unknown keys are errors; call after every get().
  void finish() {
    for (const std::string &key : order_) {
      if (known_.count(key)) continue;
      std::string hint;
      size_t best = 3;
      for (const std::string &k : known_) {
        const size_t d = distance(key, k);
        if (d < best) best = d, hint = k;
      }
      std::string list;
      for (const std::string &k : known_) list += (list.empty() ? "" : ", ") + k;
      r_.error(entries_.at(key).key, join(key),
               "unknown key" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                   "; known keys here: " + list);
    }
  }

  // ---- typed values: absent keys leave *out alone; bad values are errors ----
  bool u64(const std::string &key, uint64_t *out, uint64_t lo = 0,
           uint64_t hi = std::numeric_limits<uint64_t>::max()) {
    YAML::Node v = get(key);
    if (!v.IsDefined()) return false;
    if (!v.IsScalar()) {
      r_.error(v, join(key), "expected an integer, found " + describe(v));
      return false;
    }
    auto n = parse_uint(v.Scalar());
    if (!n) {
      r_.error(v, join(key), "expected a non-negative integer (decimal, 0x hex, 0b, 0o; K/M/G "
                             "suffixes), found " + describe(v));
      return false;
    }
    if (*n < lo || *n > hi) {
      r_.error(v, join(key), "must be in [" + range_str(lo) + ", " + range_str(hi) + "], found " +
                                 v.Scalar());
      return false;
    }
    *out = *n;
    return true;
  }
  template <typename T>
  bool uint(const std::string &key, T *out, uint64_t lo = 0,
            uint64_t hi = std::numeric_limits<T>::max()) {
    uint64_t v = 0;
    if (!u64(key, &v, lo, std::min<uint64_t>(hi, std::numeric_limits<T>::max()))) return false;
    *out = static_cast<T>(v);
    return true;
  }
  bool real(const std::string &key, double *out, double lo_exclusive = 0.0,
            double hi = std::numeric_limits<double>::max()) {
    YAML::Node v = get(key);
    if (!v.IsDefined()) return false;
    double d = 0;
    bool okv = v.IsScalar();
    if (okv) {
      const std::string &s = v.Scalar();
      char *end = nullptr;
      errno = 0;
      d = std::strtod(s.c_str(), &end);
      okv = !s.empty() && end && *end == '\0' && errno == 0 && std::isfinite(d);
    }
    if (!okv) {
      r_.error(v, join(key), "expected a number, found " + describe(v));
      return false;
    }
    if (!(d > lo_exclusive) || d > hi) {
      std::ostringstream o;
      o << "must be greater than " << lo_exclusive;
      if (hi < std::numeric_limits<double>::max()) o << " and at most " << hi;
      o << ", found " << v.Scalar();
      r_.error(v, join(key), o.str());
      return false;
    }
    *out = d;
    return true;
  }
  bool boolean(const std::string &key, bool *out) {
    YAML::Node v = get(key);
    if (!v.IsDefined()) return false;
    if (v.IsScalar() && v.Tag() != "!") {
      if (v.Scalar() == "true") return *out = true, true;
      if (v.Scalar() == "false") return *out = false, true;
    }
    r_.error(v, join(key), "expected true or false, found " + describe(v));
    return false;
  }
  bool str(const std::string &key, std::string *out, bool allow_empty = false) {
    YAML::Node v = get(key);
    if (!v.IsDefined()) return false;
    if (!v.IsScalar() || (v.Scalar().empty() && !allow_empty)) {
      r_.error(v, join(key), "expected a non-empty string, found " + describe(v));
      return false;
    }
    *out = v.Scalar();
    return true;
  }
  bool choice(const std::string &key, std::string *out, const std::vector<std::string> &allowed) {
    std::string s;
    if (!str(key, &s)) return false;
    if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
      std::string list;
      for (const std::string &a : allowed) list += (list.empty() ? "" : ", ") + a;
      r_.error(get(key), join(key), "must be one of " + list + ", found '" + s + "'");
      return false;
    }
    *out = s;
    return true;
  }

  reader &r() { return r_; }

 private:
  static std::string range_str(uint64_t v) {
    return v >= 0x10000 ? hex(v) : std::to_string(v);
  }
  struct entry {
    YAML::Node key;
    YAML::Node value;
  };
  reader &r_;
  YAML::Node node_;
  std::string path_;
  bool bad_ = false;
  std::map<std::string, entry> entries_;
  std::vector<std::string> order_;
  std::set<std::string> known_;
};

// A list (absent or null: empty). Each element handed to fn with its path.
void for_each_item(reader &r, const YAML::Node &n, const std::string &path,
                   const std::function<void(const YAML::Node &, const std::string &)> &fn) {
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsSequence()) {
    r.error(n, path, "expected a list, found " + describe(n));
    return;
  }
  for (size_t i = 0; i < n.size(); i++) fn(n[i], path + "[" + std::to_string(i) + "]");
}

// Where a model's own check() message points: the value of the key it names
// earliest (nested mappings followed, "idr.pri" -> idr: {pri: ...}), else
// fallback. Model checks name their keys as this schema does.
source_loc locate(reader &r, const YAML::Node &map, const std::string &msg, const source_loc &fallback) {
  if (!map.IsDefined() || !map.IsMap()) return fallback;
  auto word_at = [&](const std::string &k) -> size_t {
    for (size_t pos = msg.find(k); pos != std::string::npos; pos = msg.find(k, pos + 1)) {
      const bool left = pos == 0 || !(std::isalnum(static_cast<unsigned char>(msg[pos - 1])) || msg[pos - 1] == '_');
      const size_t e = pos + k.size();
      const bool right = e >= msg.size() || !(std::isalnum(static_cast<unsigned char>(msg[e])) || msg[e] == '_');
      if (left && right) return pos;
    }
    return std::string::npos;
  };
  size_t best = std::string::npos;
  source_loc where = fallback;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const size_t pos = word_at(it->first.Scalar());
    if (pos == std::string::npos || (best != std::string::npos && pos >= best)) continue;
    best = pos;
    where = it->second.IsMap() ? locate(r, it->second, msg.substr(pos + it->first.Scalar().size()), r.loc(it->second))
                               : r.loc(it->second);
  }
  return where;
}

// ---------------------------------------------------------------------------
// Sections

const std::initializer_list<const char *> kCacheKeys = {
    "entries", "ways", "policy", "lookup", "parallel_probes", "fill", "invalidate_per_set",
    "flash_invalidate", "random_seed"};

// The keys of a cache on m; then its geometry (cache_config::check) when every
// key was well-typed. entries 0 is allowed where a cache can be disabled.
void read_cache_keys(reader &r, map_reader &m, cache_config *c, bool allow_disabled) {
  const size_t before = r.error_count();
  m.uint("entries", &c->entries, allow_disabled ? 0 : 1, 1u << 20);
  m.uint("ways", &c->ways, 0, 1u << 20);
  std::string pol;
  if (m.choice("policy", &pol, {"lru", "plru", "round_robin", "rr", "random"}))
    models::parse_replacement_policy(pol, &c->policy);
  m.uint("lookup", &c->lookup_cycles, 0, 1u << 20);
  m.boolean("parallel_probes", &c->parallel_probes);
  m.uint("fill", &c->fill_cycles, 0, 1u << 20);
  m.uint("invalidate_per_set", &c->invalidate_cycles_per_set, 0, 1u << 20);
  m.boolean("flash_invalidate", &c->flash_invalidate);
  m.uint("random_seed", &c->random_seed, 1, 0xffff);
  m.finish();
  if (r.error_count() != before) return;
  if (allow_disabled && c->entries == 0) return;
  if (std::string why = c->check(); !why.empty()) {
    // Point at the key most likely at fault: ways, else entries, else the map.
    const char *key = m.has("ways") ? "ways" : m.has("entries") ? "entries" : nullptr;
    r.error(key ? m.value_loc(key) : r.loc(m.node()), m.path(), why);
  }
}

void read_cache(reader &r, const YAML::Node &n, const std::string &path, cache_config *c) {
  map_reader m(r, n, path);
  if (m.ok()) read_cache_keys(r, m, c, false);
}

// main_tlb: the cache keys, and what decides (tlb_impl: systemc, the cache
// template; rtl, the Verilated IOTLB of rtl/, cycle mode and the geometries
// it was built for only) with its FST waveform file (tlb_trace).
void read_main_tlb(reader &r, const YAML::Node &n, const std::string &path, cache_config *c,
                   models::timing_mode timing) {
  map_reader m(r, n, path);
  if (!m.ok()) return;
  std::string impl = "systemc", trace;
  m.choice("tlb_impl", &impl, {"systemc", "rtl"});
  const bool has_trace = m.str("tlb_trace", &trace);
  const size_t before = r.error_count();
  read_cache_keys(r, m, c, false);
  if (r.error_count() != before) return;
  if (has_trace && impl != "rtl")
    return r.error(m.value_loc("tlb_trace"), path + ".tlb_trace",
                   "waveforms come from the RTL IOTLB: add tlb_impl: rtl");
  if (impl != "rtl") return;
  if (timing == models::timing_mode::fast)
    return r.error(m.value_loc("tlb_impl"), path + ".tlb_impl",
                   "the RTL IOTLB is clocked cycle by cycle: it needs timing: cycle");
  if (std::string why = rtl::iotlb_check(*c); !why.empty())
    return r.error(m.value_loc("tlb_impl"), path + ".tlb_impl", why);
  c->backend = rtl::iotlb_backend_factory(trace);
}

// walk_cache.s1 / s2: a list of {level: L, <cache keys>}; levels not listed
// keep their defaults.
void read_walk_caches(reader &r, const YAML::Node &n, const std::string &path,
                      std::vector<cache_config> *levels) {
  std::map<uint64_t, source_loc> seen;
  for_each_item(r, n, path, [&](const YAML::Node &item, const std::string &ipath) {
    map_reader m(r, item, ipath);
    if (!m.ok()) return;
    uint64_t level = 0;
    if (!m.has("level")) {
      r.error(item, ipath, "missing key 'level' (0 to " + std::to_string(levels->size() - 1) +
                               ": the level of the table descriptors cached)");
      m.known(&kCacheKeys);
      m.finish();
      return;
    }
    if (!m.u64("level", &level, 0, levels->size() - 1)) {
      m.known(&kCacheKeys);
      m.finish();
      return;
    }
    if (auto it = seen.find(level); it != seen.end()) {
      r.error(m.value_loc("level"), ipath + ".level",
              "level " + std::to_string(level) + " is configured twice (first at line " +
                  std::to_string(it->second.line) + ")");
    }
    seen[level] = m.value_loc("level");
    read_cache_keys(r, m, &(*levels)[level], true);
  });
}

void read_bus(reader &r, const YAML::Node &n, const std::string &path, bus_config *b,
              uint64_t *bar_base = nullptr) {
  map_reader m(r, n, path);
  if (!m.ok()) return;
  m.real("clock_mhz", &b->clock_mhz, 0.0, 1e6);
  m.uint("hop_cycles", &b->hop_cycles, 0, 1u << 20);
  if (bar_base) m.u64("bar_base", bar_base);
  m.finish();
}

void read_memory(reader &r, const YAML::Node &n, const source_loc &where, platform_config *c) {
  map_reader m(r, n, "memory");
  if (!m.ok()) return;
  models::memory_config &mc = c->memory;
  const size_t before = r.error_count();
  m.real("clock_mhz", &mc.clock_mhz, 0.0, 1e6);
  m.u64("ram_base", &mc.ram_base);
  m.u64("ram_size", &mc.ram_size, 4096);
  m.u64("user_base", &mc.user_base);
  m.u64("user_contig", &c->user_contig, 4096, 1ULL << 40);
  m.uint("read_latency", &mc.read_latency, 0, 1u << 24);
  m.uint("write_latency", &mc.write_latency, 0, 1u << 24);
  m.uint("bytes_per_cycle", &mc.bytes_per_cycle, 1, 4096);
  m.uint("ports", &mc.ports, 1, 1024);
  m.finish();
  if (r.error_count() != before) return;
  if (std::string why = mc.check(); !why.empty()) r.error(locate(r, n, why, where), "memory", why);
  if ((c->user_contig & (c->user_contig - 1)) != 0)
    r.error(m.value_loc("user_contig"), "memory.user_contig", "must be a power of two, found " + hex(c->user_contig));
  else if (mc.user_base % c->user_contig != 0)
    r.error(m.value_loc("user_base"), "memory.user_base",
            hex(mc.user_base) + " must be aligned to memory.user_contig (" + hex(c->user_contig) + ")");
}

void read_host_cpu(reader &r, const YAML::Node &n, host_cpu_config *h) {
  map_reader m(r, n, "host_cpu");
  if (!m.ok()) return;
  m.real("clock_mhz", &h->clock_mhz, 0.0, 1e6);
  m.uint("mmio_read", &h->mmio_read, 0, 1u << 24);
  m.uint("mmio_write", &h->mmio_write, 0, 1u << 24);
  m.uint("mem_read_line", &h->mem_read_line, 0, 1u << 24);
  m.uint("mem_write_line", &h->mem_write_line, 0, 1u << 24);
  m.uint("cores", &h->cores, 1, 64);
  m.finish();
}

void read_interrupts(reader &r, const YAML::Node &n, interrupt_config *ic) {
  map_reader m(r, n, "interrupts");
  if (!m.ok()) return;
  m.uint("lines", &ic->lines, 1, 4096);
  if (m.u64("msi_base", &ic->msi_base) && ic->msi_base % 4096 != 0)
    r.error(m.value_loc("msi_base"), "interrupts.msi_base", "must be 4 KiB aligned, found " + hex(ic->msi_base));
  m.finish();
}

bool vcd2fst_available() {
  const char *path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (dir.empty()) dir = ".";
    if (access((dir + "/vcd2fst").c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

void read_output(reader &r, const YAML::Node &n, output_config *o) {
  map_reader m(r, n, "output");
  if (!m.ok()) return;
  m.str("stats_json", &o->stats_json);
  m.str("stats_table", &o->stats_table);
  m.str("vcd", &o->vcd);
  if (m.str("fst", &o->fst) && !vcd2fst_available())
    r.error(m.value_loc("fst"), "output.fst",
            "vcd2fst (from GTKWave) is not on PATH, so FST cannot be written; install gtkwave "
            "(apt-get install gtkwave) or ask for output.vcd instead");
  m.str("txn_log", &o->txn_log);
  m.str("kernel_log", &o->kernel_log);
  m.finish();
}

// IRQ line keys of an IOMMU: explicit lines are remembered with their place.
struct irq_req {
  size_t iommu;  // index in platform_config::iommus
  int which;     // SMMUv3: 0 eventq, 1 priq, 2 gerror, 3 cmd_sync; VT-d: 0 fault, 1 page_request, 2 inv_complete
  bool is_auto = true;
  source_loc where;
  std::string owner;  // "smmu0.eventq"
};

unsigned *irq_line(iommu_desc &d, int which) {
  if (d.type == "vtd") {
    switch (which) {
      case 0: return &d.vtd_driver.irq_fault;
      case 1: return &d.vtd_driver.irq_prq;
      default: return &d.irq_vtd_inv;
    }
  }
  switch (which) {
    case 0: return &d.driver.irq_eventq;
    case 1: return &d.driver.irq_priq;
    case 2: return &d.driver.irq_gerror;
    default: return &d.driver.irq_cmd_sync;
  }
}

// The interrupt keys of an IOMMU (irq.<key>), in irq_line order.
void read_irq_lines(reader &r, map_reader &m, size_t index, const std::vector<const char *> &keys,
                    iommu_desc *d, std::vector<irq_req> *irqs) {
  map_reader qm(r, m.get("irq"), m.join("irq"));
  for (int k = 0; k < static_cast<int>(keys.size()); k++) {
    irq_req q{index, k, true, {}, "iommus[" + std::to_string(index) + "].irq." + keys[k]};
    if (qm.ok() && qm.has(keys[k]) && qm.uint(keys[k], irq_line(*d, k), 0, 4095)) {
      q.is_auto = false;
      q.where = qm.value_loc(keys[k]);
    }
    irqs->push_back(q);
  }
  if (qm.ok()) qm.finish();
}

void read_smmuv3(reader &r, map_reader &m, iommu_desc *d, size_t index, std::vector<irq_req> *irqs,
                 models::timing_mode timing) {
  models::smmuv3::smmuv3_config &s = d->smmu;
  const std::string &p = m.path();
  m.real("clock_mhz", &s.clock_mhz, 0.0, 1e6);

  {  // ID registers
    map_reader im(r, m.get("idr"), m.join("idr"));
    if (im.ok()) {
      auto &i = s.idr;
      im.uint("oas", &i.oas, 32, 52);
      im.uint("sid_bits", &i.sid_bits, 0, 32);
      im.uint("ssid_bits", &i.ssid_bits, 0, 20);
      im.boolean("s1p", &i.s1p);
      im.boolean("s2p", &i.s2p);
      im.boolean("cohacc", &i.cohacc);
      im.uint("httu", &i.httu, 0, 2);
      im.boolean("ats", &i.ats);
      im.boolean("pri", &i.pri);
      im.uint("stall_model", &i.stall_model, 0, 2);
      im.boolean("term_model", &i.term_model);
      im.boolean("msi", &i.msi);
      im.boolean("sev", &i.sev);
      im.boolean("hyp", &i.hyp);
      im.boolean("st_2lvl", &i.st_2lvl);
      im.boolean("cd_2lvl", &i.cd_2lvl);
      im.boolean("vmid16", &i.vmid16);
      im.boolean("asid16", &i.asid16);
      im.boolean("gran_4k", &i.gran_4k);
      im.boolean("gran_16k", &i.gran_16k);
      im.boolean("gran_64k", &i.gran_64k);
      im.uint("cmdq_log2", &i.cmdq_log2, 0, 19);
      im.uint("evtq_log2", &i.evtq_log2, 0, 19);
      im.uint("priq_log2", &i.priq_log2, 0, 19);
      im.boolean("ril", &i.ril);
      im.uint("stall_max", &i.stall_max, 0, 0xffff);
      im.uint("iidr", &i.iidr);
      im.uint("aidr", &i.aidr);
      im.finish();
    }
  }
  {  // pipeline latencies
    map_reader lm(r, m.get("latency"), m.join("latency"));
    if (lm.ok()) {
      auto &l = s.latency;
      const std::pair<const char *, uint32_t *> keys[] = {
          {"tbu_ingress", &l.tbu_ingress},   {"tbu_to_tcu", &l.tbu_to_tcu},
          {"tcu_to_tbu", &l.tcu_to_tbu},     {"ste_check", &l.ste_check},
          {"cd_check", &l.cd_check},         {"walk_step", &l.walk_step},
          {"nested_combine", &l.nested_combine}, {"fault", &l.fault},
          {"reg_access", &l.reg_access},     {"cmd_decode", &l.cmd_decode},
          {"cmd_prefetch", &l.cmd_prefetch}, {"cmd_cfgi", &l.cmd_cfgi},
          {"cmd_tlbi", &l.cmd_tlbi},         {"cmd_atc_inv", &l.cmd_atc_inv},
          {"cmd_pri_resp", &l.cmd_pri_resp}, {"cmd_resume", &l.cmd_resume},
          {"cmd_sync", &l.cmd_sync},         {"queue_record", &l.queue_record},
          {"msi", &l.msi}};
      for (const auto &[k, v] : keys) lm.uint(k, v, 0, 1u << 24);
      lm.finish();
    }
  }
  {
    map_reader dm(r, m.get("diagnostics"), m.join("diagnostics"));
    if (dm.ok()) {
      dm.boolean("stale_tlb", &s.diagnostics.stale_tlb);
      dm.boolean("unsynced_unmap", &s.diagnostics.unsynced_unmap);
      dm.uint("max_reports", &s.diagnostics.max_reports, 0, 1u << 30);
      dm.uint("max_open_records", &s.diagnostics.max_open_records, 0, 1u << 30);
      dm.finish();
    }
  }
  m.uint("tbus", &s.tbus, 1, 64);
  for_each_item(r, m.get("port_tbu"), m.join("port_tbu"), [&](const YAML::Node &v, const std::string &ip) {
    std::optional<uint64_t> n;
    if (v.IsScalar()) n = parse_uint(v.Scalar());
    if (!n) return r.error(v, ip, "expected a TBU index, found " + describe(v));
    if (*n >= s.tbus) return r.error(v, ip, "TBU " + std::to_string(*n) + " does not exist (tbus: " + std::to_string(s.tbus) + ")");
    s.port_tbu.push_back(static_cast<unsigned>(*n));
  });
  {
    map_reader sm(r, m.get("slots"), m.join("slots"));
    if (sm.ok()) {
      sm.uint("translation", &s.translation_slots, 1, 4096);
      sm.uint("walk", &s.walk_slots, 1, 4096);
      sm.finish();
    }
  }
  read_cache(r, m.get("micro_tlb"), m.join("micro_tlb"), &s.micro_tlb);
  read_main_tlb(r, m.get("main_tlb"), m.join("main_tlb"), &s.main_tlb, timing);
  read_cache(r, m.get("config_cache"), m.join("config_cache"), &s.config_cache);
  {
    map_reader wm(r, m.get("walk_cache"), m.join("walk_cache"));
    if (wm.ok()) {
      read_walk_caches(r, wm.get("s1"), wm.join("s1"), &s.walk_cache_s1);
      read_walk_caches(r, wm.get("s2"), wm.join("s2"), &s.walk_cache_s2);
      wm.finish();
    }
  }
  m.boolean("gbpa_abort_at_reset", &s.gbpa_abort_at_reset);
  m.u64("atc_inv_timeout", &s.atc_inv_timeout, 1);

  // interrupt lines on the platform's controller
  read_irq_lines(r, m, index, {"eventq", "priq", "gerror", "cmd_sync"}, d, irqs);
  {  // the driver
    map_reader dm(r, m.get("driver"), m.join("driver"));
    if (dm.ok()) {
      dm.boolean("use_msi", &d->driver.use_msi);
      dm.uint("cmdq_log2", &d->driver.cmdq_log2, 1, 19);
      dm.uint("evtq_log2", &d->driver.evtq_log2, 1, 19);
      dm.uint("priq_log2", &d->driver.priq_log2, 1, 19);
      dm.finish();
    }
  }
  (void)p;
}


// An Intel VT-d remapping unit (models/vtd/config.h; docs/platform_config.md).
void read_vtd(reader &r, map_reader &m, iommu_desc *d, size_t index, std::vector<irq_req> *irqs,
              const interrupt_config &ints, models::timing_mode timing) {
  models::vtd::vtd_config &v = d->vtd;
  v.interrupt_range_base = ints.msi_base;
  v.interrupt_range_size = uint64_t{ints.lines} * 0x1000;
  m.real("clock_mhz", &v.clock_mhz, 0.0, 1e6);
  m.uint("version", &v.version, 0, 0xff);
  {  // CAP_REG (VT-d §11.4.2)
    map_reader cm(r, m.get("cap"), m.join("cap"));
    if (cm.ok()) {
      auto &c = v.cap;
      cm.uint("nd", &c.nd, 0, 6);
      cm.boolean("rwbf", &c.rwbf);
      cm.boolean("plmr", &c.plmr);
      cm.boolean("phmr", &c.phmr);
      cm.boolean("cm", &c.cm);
      cm.uint("sagaw", &c.sagaw, 0, 0x1f);
      cm.uint("mgaw", &c.mgaw, 1, 64);
      cm.boolean("zlr", &c.zlr);
      cm.uint("sllps", &c.sllps, 0, 3);
      cm.boolean("psi", &c.psi);
      cm.uint("mamv", &c.mamv, 0, 63);
      cm.uint("nfr", &c.nfr, 1, 256);
      cm.boolean("dwd", &c.dwd);
      cm.boolean("drd", &c.drd);
      cm.boolean("fl1gp", &c.fl1gp);
      cm.boolean("fl5lp", &c.fl5lp);
      cm.uint("fro", &c.fro, 0, 0xfff0);
      cm.finish();
    }
  }
  {  // ECAP_REG (VT-d §11.4.3)
    map_reader em(r, m.get("ecap"), m.join("ecap"));
    if (em.ok()) {
      auto &e = v.ecap;
      const std::pair<const char *, bool *> flags[] = {
          {"c", &e.c},       {"qi", &e.qi},       {"dt", &e.dt},       {"pt", &e.pt},
          {"sc", &e.sc},     {"nest", &e.nest},   {"prs", &e.prs},     {"ers", &e.ers},
          {"srs", &e.srs},   {"nwfs", &e.nwfs},   {"eafs", &e.eafs},   {"pasid", &e.pasid},
          {"dit", &e.dit},   {"pds", &e.pds},     {"smts", &e.smts},   {"ssads", &e.ssads},
          {"ssts", &e.ssts}, {"fsts", &e.fsts},   {"smpwcs", &e.smpwcs}, {"ir", &e.ir},
          {"eim", &e.eim},   {"vcs", &e.vcs},     {"rps", &e.rps}};
      for (const auto &[k, b] : flags) em.boolean(k, b);
      em.uint("iro", &e.iro, 0, 0xfff0);
      em.uint("mhmv", &e.mhmv, 0, 15);
      em.uint("pss", &e.pss, 0, 19);
      em.finish();
    }
  }
  {  // pipeline latencies
    map_reader lm(r, m.get("latency"), m.join("latency"));
    if (lm.ok()) {
      auto &l = v.latency;
      const std::pair<const char *, uint32_t *> keys[] = {
          {"ingress", &l.ingress},       {"context_check", &l.context_check},
          {"pasid_check", &l.pasid_check}, {"walk_step", &l.walk_step},
          {"nested_combine", &l.nested_combine}, {"fault", &l.fault},
          {"reg_access", &l.reg_access}, {"qi_decode", &l.qi_decode},
          {"qi_cc", &l.qi_cc},           {"qi_iotlb", &l.qi_iotlb},
          {"qi_dev_tlb", &l.qi_dev_tlb}, {"qi_iec", &l.qi_iec},
          {"qi_wait", &l.qi_wait},       {"qi_prq_resp", &l.qi_prq_resp},
          {"prq_record", &l.prq_record}, {"msi", &l.msi}};
      for (const auto &[k, p] : keys) lm.uint(k, p, 0, 1u << 24);
      lm.finish();
    }
  }
  {
    map_reader dm(r, m.get("diagnostics"), m.join("diagnostics"));
    if (dm.ok()) {
      dm.boolean("stale_tlb", &v.diagnostics.stale_tlb);
      dm.uint("max_reports", &v.diagnostics.max_reports, 0, 1u << 30);
      dm.finish();
    }
  }
  {
    map_reader sm(r, m.get("slots"), m.join("slots"));
    if (sm.ok()) {
      sm.uint("translation", &v.translation_slots, 1, 4096);
      sm.uint("walk", &v.walk_slots, 1, 4096);
      sm.finish();
    }
  }
  // The IOTLB may run on the Verilated RTL IOTLB (tlb_impl: rtl), as the
  // SMMUv3's main TLB does: same tag mapping (models/vtd/iotlb.h).
  read_main_tlb(r, m.get("iotlb"), m.join("iotlb"), &v.iotlb, timing);
  read_cache(r, m.get("context_cache"), m.join("context_cache"), &v.context_cache);
  read_cache(r, m.get("pasid_cache"), m.join("pasid_cache"), &v.pasid_cache);
  {  // paging-structure caches by level: 0 PML5E, 1 PML4E, 2 PDPTE, 3 PDE
    map_reader pm(r, m.get("pwc"), m.join("pwc"));
    if (pm.ok()) {
      read_walk_caches(r, pm.get("fs"), pm.join("fs"), &v.pwc_fs);
      read_walk_caches(r, pm.get("ss"), pm.join("ss"), &v.pwc_ss);
      pm.finish();
    }
  }
  m.u64("dev_tlb_timeout", &v.dev_tlb_timeout, 1);
  // Interrupt requests (MSI writes) pass untranslated (interrupt remapping
  // off, VT-d §5.1): by default the platform's doorbell window.
  m.u64("interrupt_range_base", &v.interrupt_range_base);
  m.u64("interrupt_range_size", &v.interrupt_range_size, 1);
  read_irq_lines(r, m, index, {"fault", "page_request", "inv_complete"}, d, irqs);
  {  // the driver
    map_reader dm(r, m.get("driver"), m.join("driver"));
    if (dm.ok()) {
      dm.boolean("force_legacy", &d->vtd_driver.force_legacy);
      dm.finish();
    }
  }
}
}  // namespace

// ---------------------------------------------------------------------------

namespace {

struct window {
  uint64_t base, size;
  std::string what;
  source_loc where;
};

// [a, a+as) and [b, b+bs) intersect (sizes > 0, no wrap assumed checked).
bool overlaps(uint64_t a, uint64_t as, uint64_t b, uint64_t bs) {
  return a <= b + (bs - 1) && b <= a + (as - 1);
}

void parse_root(reader &r, const YAML::Node &root, const std::string &base_dir, platform_config *c) {
  if (!root.IsDefined() || root.IsNull()) return;  // an empty file: every default
  map_reader m(r, root, "");
  if (!m.ok()) return;

  std::string timing;
  if (m.choice("timing", &timing, {"cycle", "fast"}))
    c->timing = timing == "fast" ? models::timing_mode::fast : models::timing_mode::cycle;
  m.u64("quantum_ns", &c->quantum_ns, 1, 1'000'000'000);
  read_memory(r, m.get("memory"), m.key_loc("memory"), c);
  read_host_cpu(r, m.get("host_cpu"), &c->host_cpu);
  read_bus(r, m.get("mmio_bus"), "mmio_bus", &c->mmio_bus, &c->bar_base);
  read_bus(r, m.get("memory_bus"), "memory_bus", &c->memory_bus);
  read_interrupts(r, m.get("interrupts"), &c->interrupts);
  read_output(r, m.get("output"), &c->output);

  // ---- IOMMUs ----
  std::vector<irq_req> irqs;
  std::vector<window> mmio;  // every window on the host MMIO bus
  std::map<std::string, source_loc> names;
  auto claim_name = [&](const std::string &name, const source_loc &where, const std::string &path) {
    // Names become SystemC module names, statistics groups and waveform scopes.
    static const std::set<std::string> reserved = {"memory", "memory_bus", "mmio_bus", "mmio", "irq",
                                                   "host_cpu", "upstream", "iommusim_kernel"};
    bool ident = !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_');
    for (char ch : name) ident = ident && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_');
    if (!ident) {
      r.error(where, path, "'" + name + "' is not a valid name (letters, digits and '_', not starting with a digit)");
      return;
    }
    if (reserved.count(name)) {
      r.error(where, path, "'" + name + "' is the name of a platform component; choose another");
      return;
    }
    auto it = names.find(name);
    if (it != names.end()) {
      r.error(where, path, "name '" + name + "' is already used (at line " +
                               std::to_string(it->second.line) + ")");
      return;
    }
    names[name] = where;
  };

  for_each_item(r, m.get("iommus"), "iommus", [&](const YAML::Node &item, const std::string &ip) {
    map_reader im(r, item, ip);
    if (!im.ok()) return;
    iommu_desc d;
    d.loc = r.loc(item);
    d.name = "smmu" + std::to_string(c->iommus.size());
    if (im.str("name", &d.name)) claim_name(d.name, im.value_loc("name"), ip + ".name");
    else claim_name(d.name, d.loc, ip);
    im.choice("type", &d.type, {"smmuv3", "vtd"});
    d.base = 0x0900'0000 + 0x0010'0000 * c->iommus.size();
    source_loc base_loc = d.loc;
    if (im.u64("base", &d.base)) base_loc = im.value_loc("base");
    if (d.type == "smmuv3") {
      if (d.base % 0x10000 != 0)
        r.error(base_loc, ip + ".base", "an SMMUv3's registers must be 64 KiB aligned, found " + hex(d.base));
      const size_t before = r.error_count();
      read_smmuv3(r, im, &d, c->iommus.size(), &irqs, c->timing);
      if (r.error_count() == before)
        if (std::string why = d.smmu.check(); !why.empty()) r.error(locate(r, item, why, d.loc), ip, why);
    } else {
      d.size = 0x1000;  // one register page (VT-d §10.1: a 4 KiB-aligned register set per unit)
      if (d.base % 0x1000 != 0)
        r.error(base_loc, ip + ".base", "a VT-d unit's registers must be 4 KiB aligned, found " + hex(d.base));
      const size_t before = r.error_count();
      read_vtd(r, im, &d, c->iommus.size(), &irqs, c->interrupts, c->timing);
      if (r.error_count() == before)
        if (std::string why = d.vtd.check(); !why.empty()) r.error(locate(r, item, why, d.loc), ip, why);
    }
    im.finish();
    d.driver.base = d.base;
    d.vtd_driver.base = d.base;
    mmio.push_back(window{d.base, d.size, "IOMMU '" + d.name + "' registers", base_loc});
    c->iommus.push_back(std::move(d));
  });
  // ---- devices ----
  for_each_item(r, m.get("devices"), "devices", [&](const YAML::Node &item, const std::string &dp) {
    map_reader dm(r, item, dp);
    if (!dm.ok()) return;
    device_desc d;
    d.loc = r.loc(item);
    d.name = "dev" + std::to_string(c->devices.size());
    d.name_loc = d.loc;
    if (dm.str("name", &d.name)) d.name_loc = dm.value_loc("name");
    claim_name(d.name, d.name_loc, dp + (dm.has("name") ? ".name" : ""));
    const std::vector<std::string> types = {"dma_test", "traffic_gen", "trace_replayer", "ats_endpoint", "pri_device"};
    if (!dm.has("type"))
      r.error(d.loc, dp, "missing key 'type' (dma_test, traffic_gen, trace_replayer, ats_endpoint or pri_device)");
    else dm.choice("type", &d.type, types);
    d.iommu_loc = d.loc;
    if (dm.str("iommu", &d.iommu)) d.iommu_loc = dm.value_loc("iommu");
    d.stream_id_loc = d.loc;
    const bool sid_given = dm.has("stream_id");
    if (!sid_given && d.type != "trace_replayer")
      r.error(d.loc, dp, "missing key 'stream_id' (the device's StreamID / RequesterID)");
    else if (sid_given && dm.uint("stream_id", &d.stream_id)) d.stream_id_loc = dm.value_loc("stream_id");
    dm.uint("ssid_bits", &d.ssid_bits, 0, 20);
    d.bar_loc = d.loc;
    if (dm.u64("bar", &d.bar)) {
      d.bar_auto = false;
      d.bar_loc = dm.value_loc("bar");
    }
    d.irq_loc = d.loc;
    if (dm.uint("irq", &d.irq, 0, 4095)) {
      d.irq_auto = false;
      d.irq_loc = dm.value_loc("irq");
    }
    dm.boolean("vfio", &d.vfio);
    dm.real("clock_mhz", &d.clock_mhz, 0.0, 1e6);
    // Capabilities: what each type can have.
    auto capability = [&](const char *key, bool *out, bool allowed, bool implied, const char *why) {
      *out = implied;
      if (!dm.has(key)) return;
      bool v = false;
      if (!dm.boolean(key, &v)) return;
      if (v && !allowed) r.error(dm.value_loc(key), dp + "." + key, why);
      else if (!v && implied) r.error(dm.value_loc(key), dp + "." + key, std::string("a ") + d.type + " always has it");
      else *out = v;
    };
    const size_t before = r.error_count();
    if (d.type == "dma_test") {
      d.bar_size = models::dma_test::kBarSize;
      capability("pri", &d.pri, true, false, "");
      // ATS advertised with an empty ATC (PCIe PRI needs ATS): it sends no
      // translation requests, and invalidations complete at once.
      capability("ats", &d.ats, true, false, "");
      auto &t = d.dma_test;
      t.ats = d.ats;
      dm.uint("setup_cycles", &t.setup_cycles, 0, 1u << 24);
      dm.uint("issue_cycles", &t.issue_cycles, 0, 1u << 24);
      dm.uint("pri_max_retries", &t.pri_max_retries, 0, 1u << 16);
      dm.u64("pri_timeout_cycles", &t.pri_timeout_cycles);
      t.clock_mhz = d.clock_mhz;
      t.stream_id = d.stream_id;
      if (r.error_count() == before)
        if (std::string why = t.check(); !why.empty()) r.error(locate(r, item, why, d.loc), dp, why);
    } else if (d.type == "traffic_gen") {
      capability("pri", &d.pri, false, false, "a traffic_gen sends no page requests");
      capability("ats", &d.ats, false, false, "a traffic_gen has no ATC (use type ats_endpoint)");
      auto &t = d.traffic_gen;
      t.autostart = false;  // the platform starts it (platform::start_device)
      if (dm.has("ssid")) t.ssid_valid = dm.uint("ssid", &t.ssid, 0, (1u << 20) - 1);
      dm.boolean("privileged", &t.privileged);
      dm.u64("base", &t.base);
      dm.u64("size", &t.size, 1);
      std::string pat;
      if (dm.choice("pattern", &pat, {"sequential", "random", "strided"})) models::parse_traffic_pattern(pat, &t.pattern);
      dm.u64("stride", &t.stride);
      if (dm.has("read_fraction")) {
        double f = 0;
        YAML::Node v = dm.get("read_fraction");
        char *end = nullptr;
        if (v.IsScalar()) f = std::strtod(v.Scalar().c_str(), &end);
        if (!v.IsScalar() || !end || *end || !(f >= 0.0 && f <= 1.0))
          r.error(v, dp + ".read_fraction", "expected a number in [0, 1], found " + describe(v));
        else
          t.read_fraction = f;
      }
      dm.uint("transfer_size", &t.transfer_size, 1, 4096);
      dm.uint("gap_cycles", &t.gap_cycles, 0, 1u << 30);
      dm.uint("issue_cycles", &t.issue_cycles, 0, 1u << 30);
      dm.uint("outstanding", &t.outstanding, 1, 1024);
      dm.u64("count", &t.count);
      dm.u64("duration_cycles", &t.duration_cycles);
      dm.u64("seed", &t.seed);
      dm.boolean("autostart", &t.autostart);
      t.clock_mhz = d.clock_mhz;
      t.stream_id = d.stream_id;
      if (r.error_count() == before)
        if (std::string why = t.check(); !why.empty()) r.error(locate(r, item, why, d.loc), dp, why);
    } else if (d.type == "trace_replayer") {
      capability("pri", &d.pri, true, false, "");
      capability("ats", &d.ats, true, false, "");
      auto &t = d.trace_replayer;
      t.autostart = false;
      dm.uint("issue_cycles", &t.issue_cycles, 0, 1u << 30);
      dm.uint("outstanding", &t.outstanding, 1, 1024);
      dm.uint("pri_max_retries", &t.pri_max_retries, 0, 1u << 16);
      dm.u64("pri_timeout_cycles", &t.pri_timeout_cycles);
      dm.boolean("autostart", &t.autostart);
      dm.boolean("stop_on_error", &t.stop_on_error);
      t.clock_mhz = d.clock_mhz;
      if (!dm.has("trace")) {
        r.error(d.loc, dp, "missing key 'trace' (the trace file to replay)");
      } else if (dm.str("trace", &d.trace)) {
        const source_loc tl = dm.value_loc("trace");
        namespace fs = std::filesystem;
        if (fs::path(d.trace).is_relative() && !base_dir.empty()) d.trace = (fs::path(base_dir) / d.trace).string();
        std::string why;
        if (!models::load_text_trace(d.trace, &d.records, &why)) {
          r.error(tl, dp + ".trace", why);
        } else {
          bool mixed = false;
          for (const models::trace_record &rec : d.records) {
            if (!sid_given && &rec == &d.records.front()) {
              d.stream_id = rec.stream_id;
              d.stream_id_loc = tl;
            }
            if (rec.stream_id != d.stream_id && !mixed) {
              mixed = true;
              r.error(tl, dp + ".trace",
                      d.trace + ":" + std::to_string(rec.line) + ": StreamID " + hex(rec.stream_id) +
                          " is not the device's (" + hex(d.stream_id) + "); a device has one StreamID");
            }
            if (rec.ats && !d.ats && !mixed) {
              mixed = true;
              r.error(tl, dp + ".trace", d.trace + ":" + std::to_string(rec.line) +
                                            ": an 'ats' line needs the device's 'ats: true'");
            }
            if (rec.pri && !d.pri && !mixed) {
              mixed = true;
              r.error(tl, dp + ".trace", d.trace + ":" + std::to_string(rec.line) +
                                            ": a 'pri' line needs the device's 'pri: true'");
            }
            if (rec.ssid_valid && d.ssid_bits == 0 && !mixed) {
              mixed = true;
              r.error(tl, dp + ".trace", d.trace + ":" + std::to_string(rec.line) +
                                            ": a PASID line needs the device's 'ssid_bits'");
            }
          }
          if (!sid_given && d.records.empty())
            r.error(d.loc, dp, "missing key 'stream_id' (the trace is empty, so it cannot say)");
        }
      }
      if (r.error_count() == before)
        if (std::string why = t.check(); !why.empty()) r.error(locate(r, item, why, d.loc), dp, why);
    } else if (d.type == "ats_endpoint") {
      capability("ats", &d.ats, true, true, "");
      capability("pri", &d.pri, false, false, "an ats_endpoint sends no page requests");
      auto &t = d.ats_endpoint;
      {
        map_reader am(r, dm.get("atc"), dm.join("atc"));
        if (am.ok()) read_cache_keys(r, am, &t.atc, false);
      }
      dm.uint("issue_cycles", &t.issue_cycles, 0, 1u << 30);
      dm.uint("invalidate_cycles", &t.invalidate_cycles, 0, 1u << 30);
      t.clock_mhz = d.clock_mhz;
      t.stream_id = d.stream_id;
      if (r.error_count() == before)
        if (std::string why = t.check(); !why.empty()) r.error(locate(r, item, why, d.loc), dp, why);
    } else if (d.type == "pri_device") {
      capability("pri", &d.pri, true, true, "");
      capability("ats", &d.ats, false, false, "a pri_device has no ATC (use type ats_endpoint)");
      auto &t = d.pri_device;
      dm.uint("issue_cycles", &t.issue_cycles, 0, 1u << 30);
      dm.uint("requests_per_group", &t.requests_per_group, 1, 1u << 16);
      dm.uint("outstanding_capacity", &t.outstanding_capacity, 1, 1u << 16);
      dm.uint("max_retries", &t.max_retries, 0, 1u << 16);
      dm.u64("response_timeout_cycles", &t.response_timeout_cycles);
      t.clock_mhz = d.clock_mhz;
      t.stream_id = d.stream_id;
      if (r.error_count() == before)
        if (std::string why = t.check(); !why.empty()) r.error(locate(r, item, why, d.loc), dp, why);
    }
    dm.finish();
    c->devices.push_back(std::move(d));
  });

  m.finish();

  // ---- cross-checks ----
  // Devices reference an IOMMU; a missing reference picks the only one.
  std::map<std::string, std::map<uint32_t, const device_desc *>> sids;
  for (size_t di = 0; di < c->devices.size(); di++) {
    device_desc &d = c->devices[di];
    const std::string dp = "devices[" + std::to_string(di) + "]";
    if (d.iommu.empty()) {
      if (c->iommus.size() == 1) {
        d.iommu = c->iommus[0].name;
      } else {
        r.error(d.loc, dp,
                c->iommus.empty() ? "no IOMMU is configured for the device to sit behind (add one under 'iommus')"
                                  : "missing key 'iommu' (more than one IOMMU is configured)");
        continue;
      }
    }
    const iommu_desc *io = c->find_iommu(d.iommu);
    if (!io) {
      std::string list;
      for (const iommu_desc &i : c->iommus) list += (list.empty() ? "" : ", ") + i.name;
      r.error(d.iommu_loc, dp + ".iommu",
              "no IOMMU named '" + d.iommu + "'" + (list.empty() ? " (none is configured)" : " (IOMMUs: " + list + ")"));
      continue;
    }
    auto &by_sid = sids[d.iommu];
    if (auto it = by_sid.find(d.stream_id); it != by_sid.end()) {
      r.error(d.stream_id_loc, dp + ".stream_id",
              "StreamID " + hex(d.stream_id) + " behind '" + d.iommu + "' is already used by device '" +
                  it->second->name + "' (line " + std::to_string(it->second->stream_id_loc.line) + ")");
    } else {
      by_sid[d.stream_id] = &d;
    }
    if (io->type == "smmuv3") {
      const unsigned sb = io->smmu.idr.sid_bits;
      if (sb < 32 && d.stream_id >> sb)
        r.error(d.stream_id_loc, dp + ".stream_id",
                "StreamID " + hex(d.stream_id) + " does not fit the " + std::to_string(sb) +
                    " StreamID bits of '" + io->name + "' (idr.sid_bits)");
      if (d.pri && !io->smmu.idr.pri)
        r.error(d.loc, dp + ".pri", "'" + io->name + "' has no PRI (idr.pri: false)");
      if (d.ats && !io->smmu.idr.ats)
        r.error(d.loc, dp + ".ats", "'" + io->name + "' has no ATS (idr.ats: false)");
      if (d.ssid_bits > io->smmu.idr.ssid_bits)
        r.error(d.loc, dp + ".ssid_bits",
                std::to_string(d.ssid_bits) + " PASID bits exceed the " + std::to_string(io->smmu.idr.ssid_bits) +
                    " SubstreamID bits of '" + io->name + "'");
    } else if (io->type == "vtd") {
      // A requester ID: bus << 8 | device << 3 | function (the PCIe Requester ID, which VT-d calls the source-id).
      if (d.stream_id > 0xffff)
        r.error(d.stream_id_loc, dp + ".stream_id",
                "requester ID " + hex(d.stream_id) + " behind the VT-d unit '" + io->name +
                    "' does not fit 16 bits (bus << 8 | devfn)");
      const auto &e = io->vtd.ecap;
      if (d.pri && !e.prs) r.error(d.loc, dp + ".pri", "'" + io->name + "' has no page requests (ecap.prs: false)");
      if (d.ats && !e.dt) r.error(d.loc, dp + ".ats", "'" + io->name + "' has no device-TLBs (ecap.dt: false)");
      const unsigned pasid_bits = e.pasid ? e.pss + 1 : 0;
      if (d.ssid_bits > pasid_bits)
        r.error(d.loc, dp + ".ssid_bits",
                std::to_string(d.ssid_bits) + " PASID bits exceed the " + std::to_string(pasid_bits) +
                    " PASID bits of '" + io->name + "' (ecap.pasid, ecap.pss)");
    }
  }

  // Interrupt lines: explicit ones must be unique and exist; the others are
  // handed out from 0 upward, skipping the explicit ones.
  const unsigned nlines = c->interrupts.lines;
  std::map<unsigned, std::pair<std::string, source_loc>> used;
  auto take = [&](unsigned line, const std::string &owner, const source_loc &where, const std::string &path) {
    if (line >= nlines) {
      r.error(where, path, "interrupt line " + std::to_string(line) + " does not exist (interrupts.lines: " +
                               std::to_string(nlines) + ")");
      return;
    }
    if (auto it = used.find(line); it != used.end()) {
      r.error(where, path, "interrupt line " + std::to_string(line) + " is already taken by " + it->second.first +
                               (it->second.second.line ? " (line " + std::to_string(it->second.second.line) + ")" : ""));
      return;
    }
    used[line] = {owner, where};
  };
  for (irq_req &q : irqs)
    if (!q.is_auto) take(*irq_line(c->iommus[q.iommu], q.which), q.owner, q.where, q.owner);
  for (size_t di = 0; di < c->devices.size(); di++)
    if (!c->devices[di].irq_auto)
      take(c->devices[di].irq, "device '" + c->devices[di].name + "'", c->devices[di].irq_loc,
           "devices[" + std::to_string(di) + "].irq");
  unsigned next = 0;
  auto next_free = [&]() -> std::optional<unsigned> {
    while (next < nlines && used.count(next)) next++;
    if (next >= nlines) return std::nullopt;
    return next;
  };
  bool exhausted = false;
  for (irq_req &q : irqs) {
    if (!q.is_auto) continue;
    auto l = next_free();
    if (!l) { exhausted = true; break; }
    *irq_line(c->iommus[q.iommu], q.which) = *l;
    used[*l] = {q.owner, {}};
  }
  for (device_desc &d : c->devices) {
    if (!d.irq_auto || exhausted) continue;
    auto l = next_free();
    if (!l) { exhausted = true; break; }
    d.irq = *l;
    used[*l] = {d.name, {}};
  }
  if (exhausted)
    r.error(r.loc(root), "interrupts.lines",
            std::to_string(nlines) + " interrupt lines are too few for the IOMMUs and devices configured");

  // Address windows on the host MMIO bus: IOMMU registers, BARs, MSI doorbells.
  // Automatic BARs follow bar_base, each aligned to its size.
  uint64_t next_bar = c->bar_base;
  for (size_t di = 0; di < c->devices.size(); di++) {
    device_desc &d = c->devices[di];
    if (d.bar_size == 0) continue;
    if (d.bar_auto) {
      next_bar = (next_bar + d.bar_size - 1) & ~(d.bar_size - 1);
      // Skip windows already placed explicitly.
      for (bool moved = true; moved;) {
        moved = false;
        for (const window &w : mmio)
          if (overlaps(next_bar, d.bar_size, w.base, w.size)) {
            next_bar = (w.base + w.size + d.bar_size - 1) & ~(d.bar_size - 1);
            moved = true;
          }
        for (const device_desc &o : c->devices)
          if (&o != &d && !o.bar_auto && o.bar_size && overlaps(next_bar, d.bar_size, o.bar, o.bar_size)) {
            next_bar = (o.bar + o.bar_size + d.bar_size - 1) & ~(d.bar_size - 1);
            moved = true;
          }
      }
      d.bar = next_bar;
      next_bar += d.bar_size;
    } else if (d.bar % d.bar_size != 0) {
      r.error(d.bar_loc, "devices[" + std::to_string(di) + "].bar", "a BAR must be aligned to its size (" + hex(d.bar_size) +
                                                            "), found " + hex(d.bar));
    }
    mmio.push_back(window{d.bar, d.bar_size, "device '" + d.name + "' BAR0", d.bar_loc});
  }
  mmio.push_back(window{c->interrupts.msi_base, uint64_t{nlines} * 4096, "the MSI doorbells (interrupts.msi_base)",
                        source_loc{}});
  // Memory the CPU does not reach through the MMIO bus.
  const auto &mc = c->memory;
  std::vector<window> ram = {{mc.ram_base, mc.ram_size, "kernel RAM (memory.ram_base, ram_size)", {}},
                             {mc.user_base, ~uint64_t{0} - mc.user_base + 1, "user frames (memory.user_base and up)", {}}};
  for (size_t i = 0; i < mmio.size(); i++) {
    window &w = mmio[i];
    if (w.where.line == 0) w.where = r.loc(root);
    if (w.base + w.size < w.base && w.base + w.size != 0) {
      r.error(w.where, "", w.what + " at " + hex(w.base) + " wraps past the top of the address space");
      continue;
    }
    for (size_t j = 0; j < i; j++) {
      const window &o = mmio[j];
      if (overlaps(w.base, w.size, o.base, o.size))
        r.error(w.where, "", w.what + " [" + hex(w.base) + ", " + hex(w.base + w.size) + ") overlaps " + o.what +
                                 " [" + hex(o.base) + ", " + hex(o.base + o.size) + ")" +
                                 (o.where.line ? " (line " + std::to_string(o.where.line) + ")" : ""));
    }
    for (const window &o : ram)
      if (o.size && overlaps(w.base, w.size, o.base, o.size))
        r.error(w.where, "", w.what + " [" + hex(w.base) + ", " + hex(w.base + w.size) + ") overlaps " + o.what);
  }
}

bool finish_errors(std::vector<config_error> *errors, size_t before) {
  // File order; the reader found them section by section.
  std::stable_sort(errors->begin() + static_cast<std::ptrdiff_t>(before), errors->end(),
                   [](const config_error &a, const config_error &b) {
                     return std::tie(a.where.line, a.where.col) < std::tie(b.where.line, b.where.col);
                   });
  return errors->size() == before;
}

bool load_node(const std::string &text, const std::string &name, const std::string &base_dir,
               platform_config *out, std::vector<config_error> *errors) {
  std::vector<config_error> local;
  std::vector<config_error> &errs = errors ? *errors : local;
  const size_t before = errs.size();
  reader r(name, errs);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException &e) {
    std::string msg = e.msg;
    if (!msg.empty()) msg[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(msg[0])));
    r.error(r.loc(e.mark), "", "syntax error: " + msg);
    return false;
  } catch (const YAML::Exception &e) {
    r.error(r.loc(e.mark), "", e.msg);
    return false;
  }
  platform_config c;
  c.source = name;
  parse_root(r, root, base_dir, &c);
  if (!finish_errors(&errs, before)) return false;
  c.source = name;
  *out = std::move(c);
  return true;
}

}  // namespace

bool load_config_file(const std::string &path, platform_config *out, std::vector<config_error> *errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    if (errors) errors->push_back(config_error{source_loc{path, 0, 0}, std::string("cannot open: ") + std::strerror(e), e});
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::filesystem::path p(path);
  const std::string ext = p.extension().string();
  if (ext != ".yaml" && ext != ".yml" && ext != ".json") {
    if (errors)
      errors->push_back(config_error{source_loc{path, 0, 0}, "a platform file must end in .yaml, .yml or .json"});
    return false;
  }
  platform_config c;
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  if (!load_node(ss.str(), path, dir, &c, errors)) return false;
  c.base_dir = dir;
  *out = std::move(c);
  return true;
}

bool load_config_string(const std::string &text, const std::string &format, platform_config *out,
                        std::vector<config_error> *errors, const std::string &name) {
  if (format != "yaml" && format != "json") {
    if (errors) errors->push_back(config_error{source_loc{name, 0, 0}, "format must be 'yaml' or 'json', not '" + format + "'"});
    return false;
  }
  platform_config c;
  if (!load_node(text, name, ".", &c, errors)) return false;
  c.base_dir = ".";
  *out = std::move(c);
  return true;
}

}  // namespace iommusim::sim
