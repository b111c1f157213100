// SPDX-License-Identifier: MIT
// The iommufd core's two hot data structures at the scale they meet in use:
// an interval tree with one node per mapped area (1M nodes), and the sparse
// PFN array filled one entry per 4 KiB page (1M entries = 4 GiB mapped).
#include "core/interval_tree.h"
#include "core/sparse_array.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace iommusim::iommufd {
namespace {

constexpr size_t N = 1 << 20;

// Node layouts: 0 = areas laid out back to back with a gap after every
// fourth, like an IOVA allocator's output; 1 = random overlapping intervals.
std::vector<interval_tree_node> make_nodes(int layout) {
  std::vector<interval_tree_node> nodes(N);
  std::mt19937_64 rng(1);
  for (size_t i = 0; i < N; i++) {
    if (layout == 0) {
      nodes[i].start = i << 21;
      nodes[i].last = (i << 21) + (i % 4 == 3 ? 0xfffff : 0x1fffff);
    } else {
      nodes[i].start = rng() >> 16;
      nodes[i].last = nodes[i].start + (rng() >> 40);
    }
  }
  return nodes;
}

std::vector<size_t> shuffled(size_t n) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(2));
  return order;
}

void BM_ItreeInsert(benchmark::State &state) {
  auto nodes = make_nodes(int(state.range(0)));
  for (auto _ : state) {
    interval_tree t;
    for (auto &n : nodes)
      t.insert(&n);
    state.PauseTiming();
    for (auto &n : nodes)
      t.remove(&n);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(int64_t(state.iterations() * N));
}
BENCHMARK(BM_ItreeInsert)->ArgName("random")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_ItreeRemove(benchmark::State &state) {
  auto nodes = make_nodes(int(state.range(0)));
  const auto order = shuffled(N);
  for (auto _ : state) {
    interval_tree t;
    state.PauseTiming();
    for (auto &n : nodes)
      t.insert(&n);
    state.ResumeTiming();
    for (size_t i : order)
      t.remove(&nodes[i]);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * N));
}
BENCHMARK(BM_ItreeRemove)->ArgName("random")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// iter_first on random points of a 1M-node tree (the IOVA lookup of every
// map, unmap and access).
void BM_ItreeIterFirst(benchmark::State &state) {
  auto nodes = make_nodes(int(state.range(0)));
  interval_tree t;
  for (auto &n : nodes)
    t.insert(&n);
  std::mt19937_64 rng(3);
  std::vector<uint64_t> points(4096);
  for (auto &p : points)
    p = rng() % (state.range(0) == 0 ? N << 21 : 1ULL << 48);
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t p = points[i++ & 4095];
    benchmark::DoNotOptimize(t.iter_first(p, p));
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  for (auto &n : nodes)
    t.remove(&n);
}
BENCHMARK(BM_ItreeIterFirst)->ArgName("random")->Arg(0)->Arg(1);

// Walk every node with iter_first/iter_next.
void BM_ItreeIterAll(benchmark::State &state) {
  auto nodes = make_nodes(0);
  interval_tree t;
  for (auto &n : nodes)
    t.insert(&n);
  for (auto _ : state) {
    size_t k = 0;
    for (auto *n = t.iter_first(0, UINT64_MAX); n; n = interval_tree::iter_next(n, 0, UINT64_MAX))
      k++;
    benchmark::DoNotOptimize(k);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * N));
  for (auto &n : nodes)
    t.remove(&n);
}
BENCHMARK(BM_ItreeIterAll)->Unit(benchmark::kMillisecond);

// Span walk over the whole space: 1M nodes merge into N/4 used runs.
void BM_ItreeSpanWalk(benchmark::State &state) {
  auto nodes = make_nodes(0);
  interval_tree t;
  for (auto &n : nodes)
    t.insert(&n);
  for (auto _ : state) {
    size_t k = 0;
    interval_tree_span_iter it;
    for (it.first(t, 0, UINT64_MAX); !it.done(); it.next())
      k++;
    benchmark::DoNotOptimize(k);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * N));
  for (auto &n : nodes)
    t.remove(&n);
}
BENCHMARK(BM_ItreeSpanWalk)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------
// sparse_array: base 0, or an IOVA-like index near 2^36 (a deeper tree).

uint64_t sa_base(benchmark::State &state) { return state.range(0) ? (1ULL << 36) + 77 : 0; }

void BM_SparseStoreSeq(benchmark::State &state) {
  const uint64_t base = sa_base(state);
  for (auto _ : state) {
    sparse_array<uint64_t> a;
    for (uint64_t i = 0; i < N; i++)
      a.store(base + i, i + 1);
    state.PauseTiming();
    a.clear();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(int64_t(state.iterations() * N));
}
BENCHMARK(BM_SparseStoreSeq)->ArgName("high")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_SparseLoadSeq(benchmark::State &state) {
  const uint64_t base = sa_base(state);
  sparse_array<uint64_t> a;
  for (uint64_t i = 0; i < N; i++)
    a.store(base + i, i + 1);
  a.store(0, 1); // move the store hint away so loads take the full descent
  for (auto _ : state) {
    uint64_t sum = 0;
    for (uint64_t i = 0; i < N; i++)
      sum += a.load(base + i);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * N));
}
BENCHMARK(BM_SparseLoadSeq)->ArgName("high")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_SparseLoadRandom(benchmark::State &state) {
  const uint64_t base = sa_base(state);
  sparse_array<uint64_t> a;
  for (uint64_t i = 0; i < N; i++)
    a.store(base + i, i + 1);
  std::mt19937_64 rng(4);
  std::vector<uint64_t> idx(1 << 16);
  for (auto &x : idx)
    x = base + rng() % N;
  size_t i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(a.load(idx[i++ & 0xffff]));
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_SparseLoadRandom)->ArgName("high")->Arg(0)->Arg(1);

void BM_SparseEraseSeq(benchmark::State &state) {
  const uint64_t base = sa_base(state);
  for (auto _ : state) {
    sparse_array<uint64_t> a;
    state.PauseTiming();
    for (uint64_t i = 0; i < N; i++)
      a.store(base + i, i + 1);
    state.ResumeTiming();
    for (uint64_t i = 0; i < N; i++)
      a.erase(base + i);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * N));
}
BENCHMARK(BM_SparseEraseSeq)->ArgName("high")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_SparseForEach(benchmark::State &state) {
  const uint64_t base = sa_base(state);
  sparse_array<uint64_t> a;
  for (uint64_t i = 0; i < N; i++)
    a.store(base + i, i + 1);
  for (auto _ : state) {
    uint64_t sum = 0;
    std::as_const(a).for_each(0, UINT64_MAX, [&](uint64_t, const uint64_t &v) {
      sum += v;
      return true;
    });
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * N));
}
BENCHMARK(BM_SparseForEach)->ArgName("high")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

} // namespace
} // namespace iommusim::iommufd

BENCHMARK_MAIN();
