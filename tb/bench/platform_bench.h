// SPDX-License-Identifier: MIT
// What the IOMMU platform benchmarks (smmuv3_bench, vtd_bench) share: a
// platform from a config file with the dma_test device `dma0` attached to
// an IOAS, the translation benchmark (hit path, walk path) and the simulated
// cost of IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP, and the program's main. Each
// bench says which config file, which edits and which counters.
#pragma once

#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/iommufd_private.h"
#include "core/vfs.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "models/devices/dma_test.h"
#include "sim/platform.h"

namespace iommusim::bench {

using models::dma_test;

constexpr uint64_t kHitIova = 0x1000'0000, kHitLen = 64 << 10;      // 16 pages
constexpr uint64_t kWalkIova = 0x4000'0000, kWalkLen = 64ull << 20;  // 16384 pages
constexpr uint64_t kMapIova = 0x8000'0000;

// The model's counters a translation run reports (names in its stats group).
struct xlat_counters {
  const char *translations;  // every translated request
  const char *tlb_miss;      // misses of the last TLB before the walker
  const char *walk_reads;    // descriptor reads of the walker
  const char *utlb_miss = nullptr;  // a TLB in front of it, if any
};

struct platform_env {
  sim::platform *p = nullptr;
  sim::platform::device *dev = nullptr;
  int fd = -1;
  uint32_t ioas = 0;
  uint8_t *hit = nullptr, *walk = nullptr, *spare = nullptr;
  size_t spare_len = 0;
  std::function<uint64_t(const char *)> counter;  // the IOMMU's main stats group
  // Invalidation work the driver asked of the IOMMU so far (commands or
  // descriptors); reported per MAP and per UNMAP.
  std::function<uint64_t()> invalidations;
};
inline platform_env g;

inline uint8_t *anon(size_t len) {
  void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t *>(p);
}

inline int ioas_map(void *va, uint64_t len, uint64_t iova) {
  iommu_ioas_map m{};
  m.size = sizeof(m);
  m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  m.ioas_id = g.ioas;
  m.user_va = reinterpret_cast<uint64_t>(va);
  m.length = len;
  m.iova = iova;
  return iommusim_ioctl(g.fd, IOMMU_IOAS_MAP, &m);
}

inline int ioas_unmap(uint64_t iova, uint64_t len) {
  iommu_ioas_unmap u{};
  u.size = sizeof(u);
  u.ioas_id = g.ioas;
  u.iova = iova;
  u.length = len;
  return iommusim_ioctl(g.fd, IOMMU_IOAS_UNMAP, &u);
}

// One fill DMA of len bytes at iova in bursts of 1 << burst_log2 bytes; the
// device's STATUS is polled by the host CPU in simulated time.
inline bool fill(uint64_t iova, uint64_t len, unsigned burst_log2) {
  iommufd::host_bus &bus = g.p->bus();
  const uint64_t bar = g.dev->bar;
  bus.writeq(bar + dma_test::DST, iova);
  bus.writeq(bar + dma_test::LEN, len);
  bus.writeq(bar + dma_test::CTRL, dma_test::CTRL_FILL | (uint64_t{burst_log2} << 8));
  bus.writeq(bar + dma_test::PATTERN, 0x0123'4567'89ab'cdefULL);
  bus.writeq(bar + dma_test::GO, 1);
  if (!bus.poll32(bar + dma_test::STATUS, dma_test::ST_DONE, dma_test::ST_DONE, 1000, ~0ull >> 8)) return false;
  return !(bus.readq(bar + dma_test::STATUS) & dma_test::ST_ERROR);
}

// Translations through the IOMMU while the device fills [iova, iova + len) in
// bursts; counters: translations per host second, simulated ns per
// translation (incl. the data write), and the share that needed a walk.
// Rates are per second of process CPU time (every thread: the program, the
// simulation, interrupts), which a loaded machine does not distort.
inline void run_translations(benchmark::State &state, uint64_t iova, uint64_t len, unsigned burst_log2,
                             const xlat_counters &c) {
  const uint64_t t0 = g.counter(c.translations), m0 = g.counter(c.tlb_miss), w0 = g.counter(c.walk_reads),
                 u0 = c.utlb_miss ? g.counter(c.utlb_miss) : 0;
  const uint64_t s0 = g.p->now_ps();
  uint64_t off = 0;
  const uint64_t chunk = std::min<uint64_t>(len, dma_test::kMaxLen);
  for (auto _ : state) {
    if (!fill(iova + off, chunk, burst_log2)) {
      state.SkipWithError("DMA failed");
      break;
    }
    off = (off + chunk) % len;
  }
  const double n = static_cast<double>(g.counter(c.translations) - t0);
  state.counters["translations"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["sim_ns_per_xlat"] = static_cast<double>(g.p->now_ps() - s0) / 1000.0 / n;
  if (c.utlb_miss) state.counters["utlb_miss_pct"] = 100.0 * static_cast<double>(g.counter(c.utlb_miss) - u0) / n;
  state.counters["tlb_miss_pct"] = 100.0 * static_cast<double>(g.counter(c.tlb_miss) - m0) / n;
  state.counters["walk_reads_per_xlat"] = static_cast<double>(g.counter(c.walk_reads) - w0) / n;
}

// MAP then UNMAP of state.range(0) bytes; counters are simulated time (the
// driver's work on the host CPU: table writes, invalidation and its wait) per
// call, and the invalidation commands/descriptors per call.
inline void BM_MapUnmap(benchmark::State &state) {
  const uint64_t len = static_cast<uint64_t>(state.range(0));
  uint64_t map_ps = 0, unmap_ps = 0, map_inv = 0, unmap_inv = 0;
  for (auto _ : state) {
    const uint64_t i0 = g.invalidations ? g.invalidations() : 0;
    const uint64_t a = g.p->now_ps();
    if (ioas_map(g.spare, len, kMapIova)) {
      state.SkipWithError("MAP failed");
      break;
    }
    const uint64_t b = g.p->now_ps();
    const uint64_t i1 = g.invalidations ? g.invalidations() : 0;
    if (ioas_unmap(kMapIova, len)) {
      state.SkipWithError("UNMAP failed");
      break;
    }
    map_ps += b - a;
    unmap_ps += g.p->now_ps() - b;
    map_inv += i1 - i0;
    unmap_inv += (g.invalidations ? g.invalidations() : 0) - i1;
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["sim_map_us"] = static_cast<double>(map_ps) / 1e6 / it;
  state.counters["sim_unmap_us"] = static_cast<double>(unmap_ps) / 1e6 / it;
  if (g.invalidations) {
    state.counters["inv_per_map"] = static_cast<double>(map_inv) / it;
    state.counters["inv_per_unmap"] = static_cast<double>(unmap_inv) / it;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(len));
}

// The config file (under the source tree) with timing mode and user_contig set.
inline std::string platform_text(const char *config, const std::string &mode, const std::string &contig) {
  std::ifstream in(std::string(IOMMUSIM_SOURCE_DIR) + "/" + config);
  std::ostringstream s;
  s << in.rdbuf();
  std::string t = s.str();
  if (mode == "fast") t.replace(t.find("timing: cycle"), 13, "timing: fast ");
  t.replace(t.find("  ram_base:"), 0, "  user_contig: " + contig + "\n");
  return t;
}

// The platform from `text`, the program's IOAS with dma0 attached, and the hit
// and walk buffers mapped.
inline bool setup(const std::string &text) {
  g.p = &sim::platform::load_string(text);
  g.dev = g.p->find_device("dma0");
  g.fd = iommusim_open();
  iommu_ioas_alloc a{};
  a.size = sizeof(a);
  if (!g.dev || g.fd < 0 || iommusim_ioctl(g.fd, IOMMU_IOAS_ALLOC, &a)) return false;
  g.ioas = a.out_ioas_id;
  iommufd::file *f = iommufd::fd_table::get().fget(g.fd);
  auto *ictx = dynamic_cast<iommufd::iommufd_ctx *>(f);
  f->put();
  uint32_t dev_id = 0;
  auto idev = iommufd::iommufd_device_bind(ictx, g.dev->dev, &dev_id);
  if (idev.is_err()) return false;
  uint32_t pt = g.ioas;
  if (iommufd::iommufd_device_attach(idev.get(), &pt)) return false;
  g.spare_len = 64 << 20;
  g.hit = anon(kHitLen);
  g.walk = anon(kWalkLen);
  g.spare = anon(g.spare_len);
  return g.hit && g.walk && g.spare && !ioas_map(g.hit, kHitLen, kHitIova) &&
         !ioas_map(g.walk, kWalkLen, kWalkIova);
}

// Registers the translation benchmarks (hit path: 64 B bursts over kHitLen;
// walk path: one 4 KiB burst per page over kWalkLen) and BM_MapUnmap, runs
// them, and writes every counter to $<stats_env> if set.
inline int run_all(const char *prog, const xlat_counters &c, const char *stats_env, int argc, char **argv) {
  static xlat_counters counters;
  counters = c;
  benchmark::RegisterBenchmark("BM_TranslateHit", [](benchmark::State &s) {
    run_translations(s, kHitIova, kHitLen, 6, counters);
  })->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_TranslateWalk", [](benchmark::State &s) {
    run_translations(s, kWalkIova, kWalkLen, 12, counters);
  })->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_MapUnmap", BM_MapUnmap)
      ->Arg(4 << 10)
      ->Arg(64 << 10)
      ->Arg(2 << 20)
      ->Arg(64 << 20)
      ->MeasureProcessCPUTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (const char *path = std::getenv(stats_env)) {  // every counter, for a closer look
    std::string err;
    if (!g.p->write_stats_json(path, &err)) std::fprintf(stderr, "%s: %s\n", prog, err.c_str());
  }
  g.p->shutdown();
  return 0;
}

}  // namespace iommusim::bench
