// SPDX-License-Identifier: MIT
// The SMMUv3 platform from a program's point of view (sim/configs/
// smmuv3_default.yaml: MMU-600-like caches, driver on the host CPU):
//  - translations per host second, hit path and walk path, in the mode given
//    by --mode=cycle|fast (SystemC elaborates once per process: run the
//    program once per mode);
//  - the simulated cost of IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP, which includes
//    the driver's page-table writes and its TLBI + CMD_SYNC.
// Results in docs/performance.md.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/iommufd_private.h"
#include "core/vfs.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "models/devices/dma_test.h"
#include "models/smmuv3/smmuv3.h"
#include "sim/platform.h"

using namespace iommusim;
using models::dma_test;

namespace {

constexpr uint64_t kHitIova = 0x1000'0000, kHitLen = 64 << 10;      // 16 pages: micro-TLB reach
constexpr uint64_t kWalkIova = 0x4000'0000, kWalkLen = 64ull << 20;  // 16384 pages: 8x main-TLB reach
constexpr uint64_t kMapIova = 0x8000'0000;

struct env {
  sim::platform *p = nullptr;
  sim::platform::device *dev = nullptr;
  int fd = -1;
  uint32_t ioas = 0;
  uint8_t *hit = nullptr, *walk = nullptr, *spare = nullptr;
  size_t spare_len = 0;
} g;

uint8_t *anon(size_t len) {
  void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t *>(p);
}

int ioas_map(void *va, uint64_t len, uint64_t iova) {
  iommu_ioas_map m{};
  m.size = sizeof(m);
  m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  m.ioas_id = g.ioas;
  m.user_va = reinterpret_cast<uint64_t>(va);
  m.length = len;
  m.iova = iova;
  return iommusim_ioctl(g.fd, IOMMU_IOAS_MAP, &m);
}

int ioas_unmap(uint64_t iova, uint64_t len) {
  iommu_ioas_unmap u{};
  u.size = sizeof(u);
  u.ioas_id = g.ioas;
  u.iova = iova;
  u.length = len;
  return iommusim_ioctl(g.fd, IOMMU_IOAS_UNMAP, &u);
}

// One fill DMA of len bytes at iova in bursts of 1 << burst_log2 bytes; the
// device's STATUS is polled by the host CPU in simulated time.
bool fill(uint64_t iova, uint64_t len, unsigned burst_log2) {
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

uint64_t smmu_counter(const char *name) { return g.p->iommus().at(0).model->stats()->get(name); }

// Translations through the SMMU while the device fills [iova, iova + len) in
// bursts; counters: translations per host second, simulated ns per
// translation (incl. the data write), and the share that needed a walk.
// Rates are per second of process CPU time (every thread: the program, the
// simulation, interrupts), which a loaded machine does not distort.
void run_translations(benchmark::State &state, uint64_t iova, uint64_t len, unsigned burst_log2) {
  const uint64_t t0 = smmu_counter("transaction"), m0 = smmu_counter("tlb_miss"),
                 w0 = smmu_counter("trans_table_walk_access"), u0 = smmu_counter("utlb_miss");
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
  const double n = static_cast<double>(smmu_counter("transaction") - t0);
  state.counters["translations"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["sim_ns_per_xlat"] = static_cast<double>(g.p->now_ps() - s0) / 1000.0 / n;
  state.counters["utlb_miss_pct"] = 100.0 * static_cast<double>(smmu_counter("utlb_miss") - u0) / n;
  state.counters["tlb_miss_pct"] = 100.0 * static_cast<double>(smmu_counter("tlb_miss") - m0) / n;
  state.counters["walk_reads_per_xlat"] =
      static_cast<double>(smmu_counter("trans_table_walk_access") - w0) / n;
}

// Hit path: 64-byte bursts over 16 pages; after the first pass every
// translation hits the micro TLB.
void BM_TranslateHit(benchmark::State &state) { run_translations(state, kHitIova, kHitLen, 6); }

// Walk path: one 4 KiB burst per page over 64 MiB of 4 KiB pages (8x the
// main TLB's reach): every translation misses both TLBs and walks.
void BM_TranslateWalk(benchmark::State &state) { run_translations(state, kWalkIova, kWalkLen, 12); }

// MAP then UNMAP of state.range(0) bytes; counters are simulated time (the
// driver's work on the host CPU: PTE writes, TLBI, CMD_SYNC) per call.
void BM_MapUnmap(benchmark::State &state) {
  const uint64_t len = static_cast<uint64_t>(state.range(0));
  uint64_t map_ps = 0, unmap_ps = 0;
  for (auto _ : state) {
    const uint64_t a = g.p->now_ps();
    if (ioas_map(g.spare, len, kMapIova)) {
      state.SkipWithError("MAP failed");
      break;
    }
    const uint64_t b = g.p->now_ps();
    if (ioas_unmap(kMapIova, len)) {
      state.SkipWithError("UNMAP failed");
      break;
    }
    map_ps += b - a;
    unmap_ps += g.p->now_ps() - b;
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["sim_map_us"] = static_cast<double>(map_ps) / 1e6 / it;
  state.counters["sim_unmap_us"] = static_cast<double>(unmap_ps) / 1e6 / it;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(len));
}

std::string platform_text(const std::string &mode, const std::string &contig) {
  std::ifstream in(std::string(IOMMUSIM_SOURCE_DIR) + "/sim/configs/smmuv3_default.yaml");
  std::ostringstream s;
  s << in.rdbuf();
  std::string t = s.str();
  if (mode == "fast") t.replace(t.find("timing: cycle"), 13, "timing: fast ");
  t.replace(t.find("  ram_base:"), 0, "  user_contig: " + contig + "\n");
  return t;
}

bool setup(const std::string &mode, const std::string &contig) {
  g.p = &sim::platform::load_string(platform_text(mode, contig));
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

}  // namespace

int sc_main(int argc, char **argv) {
  // --user_contig: physical contiguity of the program's pages (memory.
  // user_contig). 4KiB (the default here) makes every page its own frame run,
  // so the driver maps 4 KiB pages; 1GiB lets it use 2 MiB blocks.
  std::string mode = "cycle", contig = "4KiB";
  std::vector<char *> args;
  for (int i = 0; i < argc; i++) {
    if (!std::strncmp(argv[i], "--mode=", 7)) mode = argv[i] + 7;
    else if (!std::strncmp(argv[i], "--user_contig=", 14)) contig = argv[i] + 14;
    else args.push_back(argv[i]);
  }
  if (mode != "cycle" && mode != "fast") {
    std::fprintf(stderr, "smmuv3_bench: --mode must be cycle or fast\n");
    return 2;
  }
  if (!setup(mode, contig)) {
    std::fprintf(stderr, "smmuv3_bench: platform set-up failed\n");
    return 1;
  }
  benchmark::AddCustomContext("timing_mode", mode);
  benchmark::AddCustomContext("user_contig", contig);
  benchmark::RegisterBenchmark("BM_TranslateHit", BM_TranslateHit)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_TranslateWalk", BM_TranslateWalk)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_MapUnmap", BM_MapUnmap)
      ->Arg(4 << 10)
      ->Arg(64 << 10)
      ->Arg(2 << 20)
      ->Arg(64 << 20)
      ->MeasureProcessCPUTime()
      ->Unit(benchmark::kMicrosecond);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (const char *path = std::getenv("SMMUV3_BENCH_STATS")) {  // every counter, for a closer look
    std::string err;
    if (!g.p->write_stats_json(path, &err)) std::fprintf(stderr, "smmuv3_bench: %s\n", err.c_str());
  }
  g.p->shutdown();
  return 0;
}
