// SPDX-License-Identifier: MIT
// The one set-associative cache template behind every TLB and cache of both
// IOMMUs (micro TLB, main TLB/IOTLB, configuration/context/PASID caches, walk
// caches). Differences between them live in the entry type's tag.
//
// Exact semantics (the RTL IOTLB of rtl/ reproduces them cycle for cycle):
//
// Geometry: entries = sets x ways. ways == 0 or ways == entries means fully
// associative (one set). sets must be a power of two. set(h) = h & (sets - 1).
//
// Entries of different page sizes share the structure. An entry type E says,
// for a lookup key, how many probes the key needs (one per size class) and the
// set hash of each probe; an entry lives in the set of its own hash. A lookup
// probes in probe order. With parallel_probes all probes happen in one lookup
// (lookup_cycles in all); otherwise each probe costs lookup_cycles and the
// lookup stops at the first hit. Within a set, the lowest-numbered matching way
// hits.
//
// Fill: if a valid entry with the same tag (E::same_tag) exists in the target
// set, it is overwritten in place (no duplicates). Otherwise the victim is the
// lowest-numbered invalid way; if none, the replacement policy chooses.
//
// Replacement (state per set, touched on a hit and on a fill):
//  lru          true LRU: the victim is the least recently touched way.
//  plru         tree pseudo-LRU (ways a power of two): one bit per internal node
//               of a binary tree over the ways, node 1 the root, node n's
//               children 2n and 2n+1, leaves = ways in order. A bit of 0 means
//               "the victim is in the left subtree". Touching way w sets every
//               bit on w's path to point away from w. The victim follows the
//               bits from the root.
//  round_robin  a pointer per set, starting at 0: when the policy chooses (no
//               invalid way), the victim is the pointer, which then advances by
//               one (mod ways). Fills into invalid ways and hits leave it alone.
//  random       one 16-bit Galois LFSR per cache (taps 0xB400, seeded with
//               random_seed, never 0), stepped once each time the policy
//               chooses; the victim is lfsr % ways.
//
// Invalidation by predicate sweeps every set: it costs
// sets * invalidate_cycles_per_set cycles (all ways of a set in parallel).
// invalidate_all costs 1 cycle when flash_invalidate, else a sweep. An
// invalidated way becomes invalid; replacement state is left as it was.
//
// Backend: with cache_config::backend set (the RTL IOTLB, cache_backend.h),
// the hardware makes every decision above and reports every cost; sa_cache
// keeps the entries' payloads where the hardware put them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/common/cache_backend.h"

namespace iommusim::models {

enum class replacement_policy { lru, plru, round_robin, random };

const char *to_string(replacement_policy p);
// Parses "lru", "plru", "round_robin" (or "rr"), "random"; false if unknown.
bool parse_replacement_policy(const std::string &s, replacement_policy *out);

struct cache_config {
  std::string name = "cache";
  uint32_t entries = 64;
  uint32_t ways = 0;  // 0: fully associative
  replacement_policy policy = replacement_policy::lru;
  uint32_t lookup_cycles = 1;
  bool parallel_probes = true;
  uint32_t fill_cycles = 0;
  uint32_t invalidate_cycles_per_set = 1;
  bool flash_invalidate = true;
  uint16_t random_seed = 0xACE1;
  // Empty: the C++ implementation. Else builds the hardware that decides
  // (cache_backend.h); only entry types meeting hw_entry accept one.
  cache_backend_factory backend;

  uint32_t sets() const { return ways == 0 || ways >= entries ? 1 : entries / ways; }
  uint32_t assoc() const { return ways == 0 || ways >= entries ? entries : ways; }
  // Empty string if the geometry is usable, else why not (for config errors).
  std::string check() const;

  // The parameters a model's default config names; the rest as above.
  static cache_config make(const char *name, uint32_t entries, uint32_t ways,
                           replacement_policy policy, uint32_t lookup) {
    cache_config c;
    c.name = name;
    c.entries = entries;
    c.ways = ways;
    c.policy = policy;
    c.lookup_cycles = lookup;
    return c;
  }
};

struct cache_stats {
  uint64_t lookups = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t fills = 0;
  uint64_t evictions = 0;        // valid entries replaced by a fill of another tag
  uint64_t invalidations = 0;    // entries invalidated
  uint64_t invalidate_sweeps = 0;
};

// The entry type E of an sa_cache:
//
//   struct my_entry {
//     using key_type = my_key;
//     // number of probes a key needs, and each probe's set hash
//     static unsigned probes(const key_type &k);
//     static uint64_t probe_hash(const key_type &k, unsigned probe);
//     uint64_t hash() const;                 // set hash of this entry
//     bool matches(const key_type &k) const; // this entry answers k
//     bool same_tag(const my_entry &o) const;
//   };
template <typename E>
class sa_cache {
 public:
  using key_type = typename E::key_type;

  explicit sa_cache(const cache_config &cfg);

  struct lookup_result {
    E *entry = nullptr;       // nullptr on a miss
    uint32_t set = 0;
    uint32_t way = 0;
    unsigned probes = 0;      // probes made
    uint32_t cycles = 0;      // cost of this lookup in the cache's clock
    explicit operator bool() const { return entry != nullptr; }
  };
  // A lookup: counts a hit or a miss and touches the replacement state on a hit.
  lookup_result lookup(const key_type &key);
  // The same search without side effects (diagnostics, tests).
  const E *peek(const key_type &key) const;

  struct fill_result {
    uint32_t set = 0;
    uint32_t way = 0;
    bool evicted = false;     // a valid entry of another tag was replaced
    std::optional<E> victim;  // that entry
    uint32_t cycles = 0;
  };
  fill_result fill(const E &entry);

  struct invalidate_result {
    uint64_t count = 0;       // entries invalidated
    uint64_t cycles = 0;
  };
  // Invalidate every valid entry for which pred(entry) is true.
  invalidate_result invalidate_if(const std::function<bool(const E &)> &pred);
  invalidate_result invalidate_all();

  const cache_config &config() const { return cfg_; }
  uint32_t sets() const { return cfg_.sets(); }
  uint32_t ways() const { return cfg_.assoc(); }
  const cache_stats &stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }
  size_t valid_count() const;

  // For lock-step comparison with the RTL and for tests.
  bool valid(uint32_t set, uint32_t way) const;
  const E *at(uint32_t set, uint32_t way) const;
  // The way the policy would evict from set now if no way were invalid.
  // With a backend the hardware holds the replacement state: these two then
  // describe the unused C++ state, not the hardware's.
  uint32_t policy_victim(uint32_t set) const;
  uint16_t lfsr() const;
  // The hardware deciding for this cache, or nullptr.
  const cache_backend *backend() const { return backend_.get(); }

 private:
  // implementation in cache_impl.h
  struct set_state;
  cache_config cfg_;
  cache_stats stats_;
  std::vector<set_state> sets_;
  uint16_t lfsr_ = 0;
  std::unique_ptr<cache_backend> backend_;

  // The backend's paths (instantiated only for hw_entry types).
  lookup_result hw_lookup(const key_type &key);
  fill_result hw_fill(const E &entry);
  invalidate_result hw_invalidate_if(const std::function<bool(const E &)> &pred);
  invalidate_result hw_invalidate_all();
  void hw_place(set_state &s, uint32_t w, const E &entry, uint64_t h);
  void hw_remove(set_state &s, uint32_t w);
};

}  // namespace iommusim::models

#include "cache_impl.h"
