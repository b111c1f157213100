// SPDX-License-Identifier: MIT
// Lookups per second of the cache template (models/common/cache.h) in the
// shapes the IOMMUs use: a 32-entry fully associative micro TLB, a 2048-entry
// 4-way main TLB, and a 2048-entry fully associative cache (hash-indexed).
// Each lookup stream has a fixed hit rate; misses fill, so eviction and the
// index upkeep are part of the measured cost.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "models/common/cache.h"

namespace {

using namespace iommusim::models;

// A TLB entry: (stream, ASID, page) tag, 4K and 2M page sizes.
struct key {
  uint32_t sid;
  uint16_t asid;
  uint64_t va;
};

struct entry {
  using key_type = key;
  uint32_t sid;
  uint16_t asid;
  uint8_t cls;  // 0: 4K, 1: 2M
  uint64_t page;
  uint64_t pa;

  static unsigned shift(unsigned c) { return c ? 21 : 12; }
  static unsigned probes(const key &) { return 2; }
  static uint64_t probe_hash(const key &k, unsigned p) {
    return (k.va >> shift(p)) ^ (uint64_t(k.asid) << 7) ^ (uint64_t(k.sid) << 11);
  }
  uint64_t hash() const { return page ^ (uint64_t(asid) << 7) ^ (uint64_t(sid) << 11); }
  bool matches(const key &k) const {
    return k.sid == sid && k.asid == asid && (k.va >> shift(cls)) == page;
  }
  bool same_tag(const entry &o) const {
    return sid == o.sid && asid == o.asid && cls == o.cls && page == o.page;
  }
};

// Addresses drawn from 4 streams' working sets that together hold
// `ws_percent`% of the cache's entries in pages (100 or less: after warm-up
// nearly every lookup hits; above: capacity misses that fill and evict).
void run(benchmark::State &state, uint32_t entries, uint32_t ways, replacement_policy policy,
         unsigned ws_percent) {
  cache_config cfg;
  cfg.entries = entries;
  cfg.ways = ways;
  cfg.policy = policy;
  sa_cache<entry> c(cfg);
  const uint64_t pages = std::max<uint64_t>(1, uint64_t(entries) * ws_percent / 400);
  std::mt19937_64 rng(42);
  std::vector<key> keys(1 << 16);
  for (auto &k : keys) {
    k.sid = static_cast<uint32_t>(rng() % 4);
    k.asid = static_cast<uint16_t>(k.sid + 1);
    k.va = (rng() % pages) << 12 | (rng() & 0xFFF);
  }
  size_t i = 0;
  uint64_t sink = 0;
  for (auto _ : state) {
    const key &k = keys[i++ & (keys.size() - 1)];
    auto r = c.lookup(k);
    if (r) {
      sink += r.entry->pa;
    } else {
      entry e{k.sid, k.asid, 0, k.va >> 12, k.va & ~0xFFFull};
      c.fill(e);
    }
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(state.iterations());
  const auto &s = c.stats();
  state.counters["hit_rate"] = s.lookups ? double(s.hits) / double(s.lookups) : 0.0;
}

// Argument: working set as a percentage of the entries.
void BM_MicroTlb_FA32_LRU(benchmark::State &s) { run(s, 32, 0, replacement_policy::lru, unsigned(s.range(0))); }
void BM_MainTlb_2048x4_PLRU(benchmark::State &s) { run(s, 2048, 4, replacement_policy::plru, unsigned(s.range(0))); }
void BM_MainTlb_2048x4_LRU(benchmark::State &s) { run(s, 2048, 4, replacement_policy::lru, unsigned(s.range(0))); }
void BM_Cache_FA2048_LRU(benchmark::State &s) { run(s, 2048, 0, replacement_policy::lru, unsigned(s.range(0))); }
void BM_Cache_FA2048_Random(benchmark::State &s) { run(s, 2048, 0, replacement_policy::random, unsigned(s.range(0))); }

BENCHMARK(BM_MicroTlb_FA32_LRU)->Arg(50)->Arg(125);
BENCHMARK(BM_MainTlb_2048x4_PLRU)->Arg(50)->Arg(125);
BENCHMARK(BM_MainTlb_2048x4_LRU)->Arg(50)->Arg(125);
BENCHMARK(BM_Cache_FA2048_LRU)->Arg(50)->Arg(125);
BENCHMARK(BM_Cache_FA2048_Random)->Arg(50)->Arg(125);

}  // namespace

// models_common links SystemC, whose library owns main() and calls sc_main().
extern "C" int sc_main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
