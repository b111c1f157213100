// SPDX-License-Identifier: MIT
// End to end: the default SMMUv3 platform (sim/configs/smmuv3_default.yaml)
// runs the same DMA program twice, once with the main TLB in the cache
// template and once on the RTL IOTLB (main_tlb tlb_impl: rtl). Every
// statistic of the IOMMU, devices, buses and memory, and the device's cycle
// count of each DMA, must be identical. Each run is its own process (SystemC elaborates
// once per process); the parent compares. Also: the config errors of
// tlb_impl, with file, line and reason.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/iommufd_private.h"
#include "core/vfs.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "models/devices/dma_test.h"
#include "sim/config.h"
#include "sim/platform.h"
#include "tb/rtl/rtl_e2e_util.h"
#include "tb/sc/platform_test_util.h"

using namespace iommusim;
using namespace iommusim::sim;
using models::dma_test;

namespace {

// A step of the scenario that must work; else the child says which and fails.
#define SCENARIO_REQUIRE(cond)                                                        \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "scenario: line %d: %s failed\n", __LINE__, #cond);        \
      return {};                                                                      \
    }                                                                                 \
  } while (0)

const char kMainTlb[] = "main_tlb: {entries: 2048, ways: 4, policy: plru, lookup: 3}";

std::string default_text() {
  std::ifstream in(std::string(IOMMUSIM_SOURCE_DIR) + "/sim/configs/smmuv3_default.yaml");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The default platform with the main TLB line's keys replaced by `keys`.
std::string with_main_tlb(const std::string &keys, const std::string &timing = "cycle") {
  std::string t = default_text();
  const size_t at = t.find(kMainTlb);
  if (at == std::string::npos) return {};
  t.replace(at, sizeof kMainTlb - 1, "main_tlb: {" + keys + "}");
  t.replace(t.find("timing: cycle"), 13, "timing: " + timing);
  // Fragmented user memory: every page its own frame, so the driver maps
  // 4 KiB pages and the copies below stream through the main TLB.
  t.replace(t.find("  ram_base:"), 0, "  user_contig: 4KiB\n");
  return t;
}

using platform_test::buffer;  // 2 MiB aligned: the same page tables every run

iommufd::iommufd_ctx *ctx_of(int fd) {
  iommufd::file *f = iommufd::fd_table::get().fget(fd);
  if (!f) return nullptr;
  auto *ictx = dynamic_cast<iommufd::iommufd_ctx *>(f);
  f->put();
  return ictx;
}

bool ioas_map(int fd, uint32_t ioas, void *va, size_t len, uint64_t iova) {
  iommu_ioas_map m{};
  m.size = sizeof(m);
  m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  m.ioas_id = ioas;
  m.user_va = reinterpret_cast<uint64_t>(va);
  m.length = len;
  m.iova = iova;
  return iommusim_ioctl(fd, IOMMU_IOAS_MAP, &m) == 0;
}

bool ioas_unmap(int fd, uint32_t ioas, uint64_t iova, uint64_t len) {
  iommu_ioas_unmap u{};
  u.size = sizeof(u);
  u.ioas_id = ioas;
  u.iova = iova;
  u.length = len;
  return iommusim_ioctl(fd, IOMMU_IOAS_UNMAP, &u) == 0;
}

// The program: 2 x 5 MiB mapped (2560 pages for a 2048-entry TLB), copies in
// 4 KiB and 64 B bursts, a fill, an unmap (TLBIs) and the DMA that then
// faults, a remap and a copy again. Returns the platform's statistics, the
// simulated time and the device's CYCLES of each DMA, as one JSON text; ""
// if something did not work.
std::string scenario(const std::string &config) {
  platform &p = platform::load_string(config);
  platform::device *dev = p.find_device("dma0");
  SCENARIO_REQUIRE(dev != nullptr);
  iommufd::host_bus &bus = p.bus();
  const int fd = iommusim_open();
  iommu_ioas_alloc a{};
  a.size = sizeof(a);
  SCENARIO_REQUIRE(iommusim_ioctl(fd, IOMMU_IOAS_ALLOC, &a) == 0);
  uint32_t dev_id = 0;
  auto idev = iommufd::iommufd_device_bind(ctx_of(fd), dev->dev, &dev_id);
  SCENARIO_REQUIRE(!idev.is_err());
  uint32_t pt = a.out_ioas_id;
  SCENARIO_REQUIRE(iommufd::iommufd_device_attach(idev.get(), &pt) == 0);

  constexpr size_t kLen = 5u << 20;
  constexpr uint64_t kSrc = 0x1000'0000, kDst = 0x2000'0000;
  buffer src(kLen), dst(kLen);
  for (size_t i = 0; i < kLen; i += 64) src.p[i] = static_cast<uint8_t>(i >> 6);
  SCENARIO_REQUIRE(ioas_map(fd, a.out_ioas_id, src.p, kLen, kSrc));
  // dst as two areas, so the first MiB can be unmapped alone.
  SCENARIO_REQUIRE(ioas_map(fd, a.out_ioas_id, dst.p, 1u << 20, kDst));
  SCENARIO_REQUIRE(ioas_map(fd, a.out_ioas_id, dst.p + (1u << 20), kLen - (1u << 20), kDst + (1u << 20)));

  nlohmann::ordered_json cycles = nlohmann::ordered_json::array();
  auto dma = [&](uint64_t s, uint64_t d, uint64_t len, uint64_t ctrl) {
    bus.writeq(dev->bar + dma_test::SRC, s);
    bus.writeq(dev->bar + dma_test::DST, d);
    bus.writeq(dev->bar + dma_test::LEN, len);
    bus.writeq(dev->bar + dma_test::CTRL, ctrl);
    bus.writeq(dev->bar + dma_test::PATTERN, 0x5a5a'0000'1111'2222ULL);
    bus.writeq(dev->bar + dma_test::GO, 1);
    // Run the simulation until the DMA is over rather than polling: a poll's
    // count depends on how the program thread and the simulation interleave.
    p.run_until_idle();
    cycles.push_back({{"status", bus.readq(dev->bar + dma_test::STATUS)},
                      {"cycles", bus.readq(dev->bar + dma_test::CYCLES)},
                      {"bytes", bus.readq(dev->bar + dma_test::BYTES_DONE)}});
  };
  const uint64_t b4k = uint64_t{12} << dma_test::CTRL_BURST_SHIFT;
  dma(kSrc, kDst, kLen, b4k);                                   // every page, cold
  dma(kSrc + 3 * 4096, kDst + 7 * 4096, kLen - 8 * 4096, b4k);  // again, shifted
  dma(0, kDst + (1u << 20), 1u << 20, b4k | dma_test::CTRL_FILL);
  dma(kSrc + 100, kDst + 300, 256 * 1024, 0);                   // 64 B bursts
  SCENARIO_REQUIRE(ioas_unmap(fd, a.out_ioas_id, kDst, 1u << 20));
  dma(kSrc, kDst + 4096, 8192, b4k);                            // faults: unmapped
  SCENARIO_REQUIRE(ioas_map(fd, a.out_ioas_id, dst.p, 1u << 20, kDst));
  dma(kSrc, kDst, 2u << 20, b4k);
  p.run_until_idle();
  SCENARIO_REQUIRE(std::memcmp(dst.p, src.p, 2u << 20) == 0);

  nlohmann::ordered_json out;
  out["stats"] = nlohmann::json::parse(p.stats_json());
  out["now_ps"] = p.now_ps();
  out["dma"] = cycles;
  return out.dump(1);
}

TEST(RtlEndToEnd, DefaultPlatformSameStatisticsCycleForCycle) {
  const nlohmann::json j = rtl_test::same_run_on_cache_and_rtl(
      "rtl_e2e", "entries: 2048, ways: 4, policy: plru, lookup: 3",
      [](const std::string &keys) { return with_main_tlb(keys); }, scenario, 20);
  ASSERT_FALSE(j.is_null());
  // The run exercised the TLB: hits, misses, evictions, invalidations.
  const auto &tlb = j["stats"]["groups"]["smmu0.tcu.main_tlb"]["counters"];
  std::printf("main TLB: %s; simulated %llu ps\n", tlb.dump().c_str(),
              static_cast<unsigned long long>(j["now_ps"].get<uint64_t>()));
  EXPECT_GT(tlb.value("hit", 0), 1000);
  EXPECT_GT(tlb.value("miss", 0), 2560);
  EXPECT_GT(tlb.value("eviction", 0), 0);
  EXPECT_GT(tlb.value("invalidation", 0), 0);
}

// ------------------------------------------------------------ config errors

std::string config_error_of(const std::string &text) {
  platform_config c;
  std::vector<config_error> errors;
  if (load_config_string(text, "yaml", &c, &errors)) return "accepted";
  return format_errors(errors);
}

// "<string>:LINE:" of the main TLB line.
std::string main_tlb_line(const std::string &text) {
  const size_t at = text.find("main_tlb: {");
  return "<string>:" + std::to_string(1 + std::count(text.begin(), text.begin() + at, '\n')) + ":";
}

TEST(RtlConfig, RtlNeedsCycleMode) {
  const std::string t = with_main_tlb("entries: 2048, ways: 4, tlb_impl: rtl", "fast");
  const std::string e = config_error_of(t);
  EXPECT_EQ(e.rfind(main_tlb_line(t), 0), 0u) << e;
  EXPECT_NE(e.find(": iommus[0].main_tlb.tlb_impl: the RTL IOTLB is clocked cycle by cycle: it "
                   "needs timing: cycle\n"),
            std::string::npos)
      << e;
}

TEST(RtlConfig, RtlRefusesGeometriesItWasNotBuiltFor) {
  const struct {
    const char *keys;
    const char *why;
  } cases[] = {
      {"entries: 2048, ways: 8, tlb_impl: rtl", "main_tlb: tlb_impl rtl: the RTL IOTLB has 4 ways, not 8"},
      {"entries: 4096, ways: 4, tlb_impl: rtl",
       "main_tlb: tlb_impl rtl: 1024 sets exceed the RTL's 512 (at most 2048 entries)"},
      {"entries: 1024, ways: 4, policy: lru, tlb_impl: rtl",
       "main_tlb: tlb_impl rtl: policy lru is not in the RTL (plru or round_robin)"},
      {"entries: 1024, ways: 4, fill: 1, tlb_impl: rtl",
       "main_tlb: tlb_impl rtl: the RTL writes a fill in its request cycle (fill must be 0)"},
      {"entries: 1024, ways: 4, lookup: 12, tlb_impl: rtl",
       "main_tlb: tlb_impl rtl: lookup must be 1..8 cycles, not 12"},
      {"entries: 1024, ways: 4, tlb_trace: w.fst", "waveforms come from the RTL IOTLB: add tlb_impl: rtl"},
      {"entries: 1024, ways: 4, tlb_impl: verilog", "must be one of systemc, rtl, found 'verilog'"},
  };
  for (const auto &c : cases) {
    const std::string t = with_main_tlb(c.keys);
    const std::string e = config_error_of(t);
    EXPECT_EQ(e.rfind(main_tlb_line(t), 0), 0u) << e;
    EXPECT_NE(e.find(std::string(c.why) + "\n"), std::string::npos) << c.keys << " -> " << e;
  }
  // Accepted: the default geometry, and a 16-set round-robin one.
  EXPECT_EQ(config_error_of(with_main_tlb("entries: 2048, ways: 4, tlb_impl: rtl")), "accepted");
  EXPECT_EQ(config_error_of(with_main_tlb(
                "entries: 64, ways: 4, policy: rr, lookup: 1, invalidate_per_set: 2, tlb_impl: rtl, "
                "tlb_trace: w.fst")),
            "accepted");
}

}  // namespace
