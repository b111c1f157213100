// SPDX-License-Identifier: MIT
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <stdexcept>
#include <cstdlib>

#include "traces/generators/generator.h"

namespace iommusim::traces {

const std::vector<generator> &generators() {
  static const std::vector<generator> all = {nic_rx_generator(), nic_tx_generator(), nvme_generator(),
                                             gpu_generator(), pciebench_generator()};
  return all;
}

const generator *find_generator(const std::string &name) {
  for (const generator &g : generators())
    if (g.name == name) return &g;
  return nullptr;
}

bool parse_size(const std::string &text, uint64_t *out) {
  std::string t;
  for (char c : text)
    if (c != '_') t += c;
  uint64_t mult = 1;
  auto strip = [&](const char *suffix, uint64_t m) {
    const std::string s(suffix);
    if (t.size() > s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0) {
      t.resize(t.size() - s.size());
      mult = m;
      return true;
    }
    return false;
  };
  strip("KiB", 1ULL << 10) || strip("MiB", 1ULL << 20) || strip("GiB", 1ULL << 30) ||
      strip("TiB", 1ULL << 40) || strip("K", 1ULL << 10) || strip("M", 1ULL << 20) ||
      strip("G", 1ULL << 30) || strip("T", 1ULL << 40);
  if (t.empty() || t[0] == '-' || t[0] == '+') return false;
  const bool hex = t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
  if (hex && mult != 1) return false;
  char *end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(t.c_str(), &end, hex ? 16 : 10);
  if (errno || *end != '\0' || end == t.c_str() + (hex ? 2 : 0)) return false;
  if (mult != 1 && v > UINT64_MAX / mult) return false;
  *out = v * mult;
  return true;
}

bool resolve_params(const generator &g, const std::map<std::string, std::string> &given, param_values *out,
                    std::string *error) {
  *out = param_values{};
  for (const auto &[k, v] : given) {
    bool known = false;
    for (const param_spec &p : g.params) known |= p.name == k;
    if (!known) {
      std::string names;
      for (const param_spec &p : g.params) names += (names.empty() ? "" : ", ") + p.name;
      *error = k + ": not a parameter of " + g.name + " (parameters: " + names + ")";
      return false;
    }
  }
  for (const param_spec &p : g.params) {
    auto it = given.find(p.name);
    const std::string v = it == given.end() ? p.def : it->second;
    out->text[p.name] = v;
    switch (p.kind) {
      case param_kind::integer: {
        uint64_t x = 0;
        if (!parse_size(v, &x)) {
          *error = p.name + ": '" + v + "' is not an unsigned integer (0x hex, K/M/G suffixes allowed)";
          return false;
        }
        out->ints_[p.name] = x;
        break;
      }
      case param_kind::number: {
        char *end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0' || !std::isfinite(x) || x < 0) {
          *error = p.name + ": '" + v + "' is not a non-negative number";
          return false;
        }
        out->nums_[p.name] = x;
        break;
      }
      case param_kind::choice: {
        bool ok = false;
        std::string list;
        for (const std::string &c : p.choices) {
          ok |= c == v;
          list += (list.empty() ? "" : ", ") + c;
        }
        if (!ok) {
          *error = p.name + ": '" + v + "' is not one of " + list;
          return false;
        }
        out->strs_[p.name] = v;
        break;
      }
    }
  }
  return true;
}

bool generate(const std::string &name, const std::map<std::string, std::string> &given,
              std::vector<models::trace_record> *out, std::string *error) {
  const generator *g = find_generator(name);
  if (!g) {
    std::string names;
    for (const generator &x : generators()) names += (names.empty() ? "" : ", ") + x.name;
    *error = "no generator named '" + name + "' (generators: " + names + ")";
    return false;
  }
  param_values pv;
  if (!resolve_params(*g, given, &pv, error)) return false;
  try {
    *out = g->make(pv);
  } catch (const std::invalid_argument &e) {
    *error = e.what();
    return false;
  }
  return true;
}

namespace detail {
void emit(std::vector<models::trace_record> *out, uint64_t gap, uint32_t sid, uint64_t addr, uint64_t len,
          bool write, uint32_t max_bytes) {
  if (max_bytes == 0 || max_bytes > 4096) max_bytes = 4096;
  while (len > 0) {
    uint64_t n = std::min<uint64_t>({len, 4096 - (addr & 4095), max_bytes});
    models::trace_record r;
    r.gap_cycles = gap;
    r.stream_id = sid;
    r.addr = addr;
    r.size = static_cast<uint32_t>(n);
    r.write = write;
    out->push_back(r);
    gap = 0;
    addr += n;
    len -= n;
  }
}
}  // namespace detail

}  // namespace iommusim::traces
