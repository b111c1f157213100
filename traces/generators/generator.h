// SPDX-License-Identifier: MIT
// Trace generators (traces/FORMAT.md, "Generators"): the DMA patterns the
// literature measures, as trace records. Each generator is a name, a help
// line and typed parameters with defaults; `iommusim trace generate KIND
// --set key=value` and the run scenarios call them. Deterministic: the same
// parameters (seed included) give the same records.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/devices/trace_format.h"

namespace iommusim::traces {

enum class param_kind { integer, number, choice };

struct param_spec {
  std::string name;
  param_kind kind = param_kind::integer;
  std::string def;                   // default, as text
  std::string help;
  std::vector<std::string> choices;  // param_kind::choice
};

// Parameter values after checking: every spec's name is present.
class param_values {
 public:
  uint64_t u(const std::string &name) const { return ints_.at(name); }
  double d(const std::string &name) const { return nums_.at(name); }
  const std::string &s(const std::string &name) const { return strs_.at(name); }
  std::map<std::string, std::string> text;  // every value, as text (for reports)
  std::map<std::string, uint64_t> ints_;
  std::map<std::string, double> nums_;
  std::map<std::string, std::string> strs_;
};

struct generator {
  std::string name;
  std::string help;
  std::vector<param_spec> params;
  std::function<std::vector<models::trace_record>(const param_values &)> make;
};

// Every generator, in a fixed order.
const std::vector<generator> &generators();
const generator *find_generator(const std::string &name);

// Checks `given` (name -> text) against g's specs and fills in defaults.
// Integers take 0x hex, '_' separators and K/M/G/T (binary) suffixes.
// False with *error = "<key>: <reason>" on an unknown key or a bad value.
bool resolve_params(const generator &g, const std::map<std::string, std::string> &given,
                    param_values *out, std::string *error);

// Runs a generator by name; false with *error on a bad name or parameter.
bool generate(const std::string &name, const std::map<std::string, std::string> &given,
              std::vector<models::trace_record> *out, std::string *error);

// One integer in the parameter syntax above.
bool parse_size(const std::string &text, uint64_t *out);

// The generators, one file each.
generator nic_rx_generator();
generator nic_tx_generator();
generator nvme_generator();
generator gpu_generator();
generator pciebench_generator();

// Helpers the generators share.
namespace detail {
// A deterministic PRNG (splitmix64): portable, unlike std:: distributions.
struct rng {
  explicit rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  uint64_t s;
};

// Appends accesses for [addr, addr+len) split at 4 KiB boundaries and at
// max_bytes; the first piece carries gap, the rest gap 0.
void emit(std::vector<models::trace_record> *out, uint64_t gap, uint32_t sid, uint64_t addr, uint64_t len,
          bool write, uint32_t max_bytes = 4096);
}  // namespace detail

}  // namespace iommusim::traces
