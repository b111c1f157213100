// SPDX-License-Identifier: MIT
// The RTL IOTLB's speed (docs/performance.md, "RTL IOTLB"):
//  - alone: the Verilated iotlb (2048 entries, 4 ways, tree-PLRU, 3-cycle
//    lookup) with a lookup every cycle and a fill on 30% of cycles;
//  - in lock-step with the cache template (tb/rtl/lockstep.h): a million
//    operations, every answer compared;
//  - inside the default SMMUv3 platform: a 5 MiB DMA copy in 4 KiB bursts
//    (2560 pages through a 2048-entry main TLB) with the main TLB in C++
//    (BM_Platform/systemc) or on the RTL (BM_Platform/rtl).
// SystemC elaborates once per process, so run the two platform benchmarks in
// separate processes:
//   rtl_bench --benchmark_filter='Rtl|Lockstep'
//   rtl_bench --benchmark_filter=BM_Platform/systemc
//   rtl_bench --benchmark_filter=BM_Platform/rtl
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/iommufd_private.h"
#include "core/vfs.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "models/devices/dma_test.h"
#include "rtl/iotlb_rtl.h"
#include "sim/platform.h"
#include "tb/rtl/lockstep.h"

namespace {

using namespace iommusim;
using rtl::iotlb_rtl;

// ------------------------------------------------------------------ alone

void BM_RtlAlone(benchmark::State &state) {
  iotlb_rtl t(rtl::iotlb_params{512, false, 3, 1, true, {}});
  std::mt19937_64 rng(1);
  std::vector<iotlb_rtl::lookup_req> lk(4096);
  std::vector<iotlb_rtl::fill_req> fl(4096);
  for (size_t i = 0; i < lk.size(); i++) {
    const uint64_t page = rng() % 3000;
    lk[i].valid = true;
    lk[i].key = {1, 2, 3, page << 12};
    lk[i].nprobes = 3;
    for (unsigned p = 0; p < 3; p++) lk[i].sets[p] = static_cast<uint32_t>((page >> (9 * p)) & 511);
    fl[i].valid = rng() % 10 < 3;
    fl[i].set = static_cast<uint32_t>(page & 511);
    fl[i].tag = {1, 2, 3, false, 0, page};
    fl[i].data = {page + 0x100000, 3, 0};
  }
  size_t i = 0;
  uint64_t hits = 0;
  for (auto _ : state) {
    const size_t k = i++ & (lk.size() - 1);
    t.drive_lookup(lk[k]);
    t.drive_fill(fl[k]);
    t.step();
    hits += t.response().hit;
  }
  benchmark::DoNotOptimize(hits);
  state.SetItemsProcessed(state.iterations());
  state.counters["rtl_cycles_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RtlAlone);

// -------------------------------------------------------------- lock-step

void BM_Lockstep(benchmark::State &state) {
  uint64_t ops = 0, cycles = 0;
  for (auto _ : state) {
    rtl::tb::stream st;
    st.pages = 1500;
    st.inv_permille = 1;
    rtl::tb::lockstep ls(rtl::tb::setup{512, false, 3, 1, true, {}}, 42);
    const std::string err = ls.run(1'000'000, st);
    if (!err.empty()) {
      state.SkipWithError(err.c_str());
      return;
    }
    const auto &c = ls.counts();
    ops += c.lookups + c.fills + c.invalidations;
    cycles += c.cycles;
  }
  state.counters["ops"] = static_cast<double>(ops);
  state.counters["ops_per_s"] = benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kIsRate);
  state.counters["rtl_cycles_per_s"] =
      benchmark::Counter(static_cast<double>(cycles), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Lockstep)->Iterations(1)->Unit(benchmark::kMillisecond);

// --------------------------------------------------------------- platform

struct program {
  sim::platform *p = nullptr;
  sim::platform::device *dev = nullptr;
  uint8_t *src = nullptr, *dst = nullptr;
  static constexpr size_t len = 5u << 20;
  static constexpr uint64_t src_iova = 0x1000'0000, dst_iova = 0x2000'0000;
  std::string error;
};

iommufd::iommufd_ctx *ctx_of(int fd) {
  iommufd::file *f = iommufd::fd_table::get().fget(fd);
  if (!f) return nullptr;
  auto *ictx = dynamic_cast<iommufd::iommufd_ctx *>(f);
  f->put();
  return ictx;
}

// The platform of this process, with the main TLB on `impl`.
program &platform_for(const std::string &impl) {
  static std::unique_ptr<program> prog;
  static std::string loaded;
  if (prog) {
    if (loaded != impl) prog->error = "one platform per process: run with --benchmark_filter";
    return *prog;
  }
  prog = std::make_unique<program>();
  loaded = impl;
  std::ifstream in(std::string(IOMMUSIM_SOURCE_DIR) + "/sim/configs/smmuv3_default.yaml");
  std::ostringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  const std::string line = "main_tlb: {entries: 2048, ways: 4, policy: plru, lookup: 3";
  const size_t at = text.find(line);
  if (at == std::string::npos) {
    prog->error = "smmuv3_default.yaml has no main_tlb line";
    return *prog;
  }
  text.insert(at + line.size(), ", tlb_impl: " + impl);
  prog->p = &sim::platform::load_string(text);
  prog->dev = prog->p->find_device("dma0");
  const int fd = iommusim_open();
  iommu_ioas_alloc a{};
  a.size = sizeof(a);
  iommusim_ioctl(fd, IOMMU_IOAS_ALLOC, &a);
  uint32_t dev_id = 0;
  auto idev = iommufd::iommufd_device_bind(ctx_of(fd), prog->dev->dev, &dev_id);
  uint32_t pt = a.out_ioas_id;
  if (idev.is_err() || iommufd::iommufd_device_attach(idev.get(), &pt) != 0) {
    prog->error = "bind/attach failed";
    return *prog;
  }
  auto buf = [] {
    return static_cast<uint8_t *>(mmap(nullptr, program::len, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  };
  prog->src = buf();
  prog->dst = buf();
  for (auto [va, iova] : {std::pair{prog->src, program::src_iova}, std::pair{prog->dst, program::dst_iova}}) {
    iommu_ioas_map m{};
    m.size = sizeof(m);
    m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
    m.ioas_id = a.out_ioas_id;
    m.user_va = reinterpret_cast<uint64_t>(va);
    m.length = program::len;
    m.iova = iova;
    if (iommusim_ioctl(fd, IOMMU_IOAS_MAP, &m) != 0) prog->error = "IOAS_MAP failed";
  }
  return *prog;
}

void BM_Platform(benchmark::State &state, const std::string &impl) {
  program &g = platform_for(impl);
  if (!g.error.empty()) {
    state.SkipWithError(g.error.c_str());
    return;
  }
  iommufd::host_bus &bus = g.p->bus();
  const uint64_t bar = g.dev->bar;
  // Main-TLB operations, and the RTL cycles they take: a lookup 3 (the
  // pipeline), a fill 1 (written at the end of its request cycle).
  auto tlb_ops = [&] {
    const auto j = nlohmann::json::parse(g.p->stats_json());
    const auto &c = j["groups"]["smmu0.tcu.main_tlb"]["counters"];
    return c.value("lookup", uint64_t{0}) + c.value("fill", uint64_t{0});
  };
  auto rtl_cycles = [&] {
    const auto j = nlohmann::json::parse(g.p->stats_json());
    const auto &c = j["groups"]["smmu0.tcu.main_tlb"]["counters"];
    return 3 * c.value("lookup", uint64_t{0}) + c.value("fill", uint64_t{0});
  };
  const uint64_t cyc0 = rtl_cycles();
  const uint64_t t0 = g.p->now_ps();
  const uint64_t ops0 = tlb_ops();
  uint64_t bytes = 0;
  for (auto _ : state) {
    bus.writeq(bar + models::dma_test::SRC, program::src_iova);
    bus.writeq(bar + models::dma_test::DST, program::dst_iova);
    bus.writeq(bar + models::dma_test::LEN, program::len);
    bus.writeq(bar + models::dma_test::CTRL, uint64_t{12} << models::dma_test::CTRL_BURST_SHIFT);
    bus.writeq(bar + models::dma_test::GO, 1);
    g.p->run_until_idle();
    if ((bus.readq(bar + models::dma_test::STATUS) & models::dma_test::ST_DONE) == 0) {
      state.SkipWithError("DMA did not finish");
      return;
    }
    bytes += program::len;
  }
  // The SMMU runs at 1000 MHz in this platform: a simulated ns is a cycle.
  const double sim_cycles = static_cast<double>(g.p->now_ps() - t0) / 1000.0;
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["sim_cycles_per_s"] = benchmark::Counter(sim_cycles, benchmark::Counter::kIsRate);
  state.counters["pages_per_s"] =
      benchmark::Counter(static_cast<double>(bytes / 4096 * 2), benchmark::Counter::kIsRate);
  state.counters["main_tlb_ops_per_s"] =
      benchmark::Counter(static_cast<double>(tlb_ops() - ops0), benchmark::Counter::kIsRate);
  if (impl == "rtl")
    state.counters["rtl_cycles_per_s"] =
        benchmark::Counter(static_cast<double>(rtl_cycles() - cyc0), benchmark::Counter::kIsRate);
}
// Real time: the simulation runs on the platform's own thread.
BENCHMARK_CAPTURE(BM_Platform, systemc, std::string("systemc"))
    ->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK_CAPTURE(BM_Platform, rtl, std::string("rtl"))
    ->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

}  // namespace

// models_common links SystemC, whose library owns main() and calls sc_main().
extern "C" int sc_main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
