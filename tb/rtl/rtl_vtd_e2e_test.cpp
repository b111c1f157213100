// SPDX-License-Identifier: MIT
// End to end: the VT-d platform (sim/configs/vtd_default.yaml, scalable
// mode, cycle mode) with a 64-entry 4-way PLRU IOTLB runs the same DMA
// program twice, once with the IOTLB in the cache template and once on the
// RTL IOTLB (iotlb tlb_impl: rtl; the VT-d entry's tag mapping is
// models/vtd/iotlb.h). Every statistic of the remapping unit (the IOTLB's
// lookups, hits, misses, fills, evictions, invalidations among them), the
// devices and memory, and every DMA's status, bytes and device cycles must be
// identical, and the bytes must land. Each run is its own process (SystemC
// elaborates once); the parent compares. Also: the config errors of
// tlb_impl on a VT-d unit.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "sim/config.h"
#include "tb/rtl/rtl_e2e_util.h"
#include "tb/sc/platform_test_util.h"

using namespace iommusim;
using namespace iommusim::sim;
using namespace iommusim::platform_test;

namespace {

#define SCENARIO_REQUIRE(cond)                                                 \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "scenario: line %d: %s failed\n", __LINE__, #cond); \
      return {};                                                               \
    }                                                                          \
  } while (0)

const char kIotlb[] = "iotlb: {entries: 64, ways: 0, policy: lru, lookup: 2}";

// The VT-d platform with the IOTLB line's keys replaced by `keys`.
std::string with_iotlb(const std::string &keys, models::timing_mode mode = models::timing_mode::cycle) {
  std::string t = config_text(mode, "vtd_default.yaml");
  const size_t at = t.find(kIotlb);
  if (at == std::string::npos) return {};
  t.replace(at, sizeof kIotlb - 1, "iotlb: {" + keys + "}");
  return t;
}

// The program: 2 x 1 MiB mapped (512 pages for a 64-entry IOTLB), copies in
// 4 KiB and 64 B bursts, a fill, an unmap (page-selective invalidations) and
// the DMA that then faults, a remap and a copy again. The platform's
// statistics, the simulated time and each DMA's STATUS, BYTES_DONE and
// CYCLES as one JSON text; "" if something did not work.
std::string scenario(const std::string &config) {
  platform &p = platform::load_string(config);
  const int fd = iommusim_open();
  const uint32_t ioas = ioas_alloc(fd);
  bound_device dev(p, "dma0", fd);
  SCENARIO_REQUIRE(dev.ok());
  uint32_t pt = ioas;
  SCENARIO_REQUIRE(dev.attach(&pt) == 0);
  iommufd::host_bus &bus = p.bus();

  constexpr size_t kLen = 1u << 20, kHead = 256u << 10;
  constexpr uint64_t kSrc = 0x1000'0000, kDst = 0x2000'0000;
  buffer src(kLen), dst(kLen);
  for (size_t i = 0; i < kLen; i += 64) src.p[i] = static_cast<uint8_t>(i >> 6);
  SCENARIO_REQUIRE(ioas_map(fd, ioas, src.p, kLen, kSrc) == 0);
  // dst as two areas, so its head can be unmapped alone.
  SCENARIO_REQUIRE(ioas_map(fd, ioas, dst.p, kHead, kDst) == 0);
  SCENARIO_REQUIRE(ioas_map(fd, ioas, dst.p + kHead, kLen - kHead, kDst + kHead) == 0);

  nlohmann::ordered_json dmas = nlohmann::ordered_json::array();
  auto dma = [&](uint64_t s, uint64_t d, uint64_t len, uint64_t ctrl) {
    start_dma(bus, dev.bar(), s, d, len, ctrl, 0x5a5a'0000'1111'2222ULL);
    // Until the DMA is over, not polling: a poll's count depends on how the
    // program thread and the simulation interleave.
    p.run_until_idle();
    dmas.push_back({{"status", bus.readq(dev.bar() + dma_test::STATUS)},
                    {"cycles", bus.readq(dev.bar() + dma_test::CYCLES)},
                    {"bytes", bus.readq(dev.bar() + dma_test::BYTES_DONE)}});
  };
  const uint64_t b4k = uint64_t{12} << dma_test::CTRL_BURST_SHIFT;
  dma(kSrc, kDst, kLen, b4k);                                   // every page, cold
  dma(kSrc + 3 * 4096, kDst + 7 * 4096, kLen - 8 * 4096, b4k);  // again, shifted
  dma(0, kDst + kHead, kLen - kHead, b4k | dma_test::CTRL_FILL);
  dma(kSrc + 100, kDst + 300, 128 * 1024, 0);                   // 64 B bursts
  SCENARIO_REQUIRE(ioas_unmap(fd, ioas, kDst, kHead) == 0);
  dma(kSrc, kDst + 4096, 8192, b4k);                            // faults: unmapped
  SCENARIO_REQUIRE(ioas_map(fd, ioas, dst.p, kHead, kDst) == 0);
  dma(kSrc, kDst, kLen / 2, b4k);
  p.run_until_idle();
  SCENARIO_REQUIRE(std::memcmp(dst.p, src.p, kLen / 2) == 0);
  for (size_t i = kLen / 2; i < kLen; i++) SCENARIO_REQUIRE(dst.p[i] == (i % 8 < 2 ? 0x22 : i % 8 < 4 ? 0x11 : i % 8 < 6 ? 0x00 : 0x5a));

  nlohmann::ordered_json out;
  out["stats"] = nlohmann::json::parse(p.stats_json());
  out["now_ps"] = p.now_ps();
  out["dma"] = dmas;
  return out.dump(1);
}

TEST(RtlEndToEnd, VtdPlatformSameStatisticsCycleForCycle) {
  const nlohmann::json j = rtl_test::same_run_on_cache_and_rtl(
      "rtl_vtd_e2e", "entries: 64, ways: 4, policy: plru, lookup: 2",
      [](const std::string &keys) { return with_iotlb(keys); }, scenario, 10);
  ASSERT_FALSE(j.is_null());
  // The run exercised the IOTLB: hits, misses, evictions, invalidations; the
  // fault is one DMA's error.
  const auto &tlb = j["stats"]["groups"]["dmar0.iotlb"]["counters"];
  std::printf("VT-d IOTLB: %s; simulated %llu ps\n", tlb.dump().c_str(),
              static_cast<unsigned long long>(j["now_ps"].get<uint64_t>()));
  EXPECT_GT(tlb.value("hit", 0), 1000);
  EXPECT_GT(tlb.value("miss", 0), 512);
  EXPECT_GT(tlb.value("eviction", 0), 0);
  EXPECT_GT(tlb.value("invalidation", 0), 0);
  int errors = 0;
  for (const auto &d : j["dma"]) errors += (d["status"].get<uint64_t>() & dma_test::ST_ERROR) != 0;
  EXPECT_EQ(errors, 1);
}

std::string config_error_of(const std::string &text) {
  platform_config c;
  std::vector<config_error> errors;
  if (load_config_string(text, "yaml", &c, &errors)) return "accepted";
  return format_errors(errors);
}

// "<string>:LINE:" of the IOTLB line.
std::string iotlb_line(const std::string &text) {
  const size_t at = text.find("iotlb: {");
  return "<string>:" + std::to_string(1 + std::count(text.begin(), text.begin() + at, '\n')) + ":";
}

TEST(RtlConfig, VtdIotlbRtlNeedsCycleModeAndAGeometryTheRtlHas) {
  const struct {
    const char *keys;
    models::timing_mode mode;
    const char *why;
  } cases[] = {
      {"entries: 64, ways: 4, policy: plru, tlb_impl: rtl", models::timing_mode::fast,
       ": iommus[0].iotlb.tlb_impl: the RTL IOTLB is clocked cycle by cycle: it needs timing: cycle"},
      {"entries: 64, ways: 0, policy: lru, tlb_impl: rtl", models::timing_mode::cycle,
       ": iommus[0].iotlb.tlb_impl: iotlb: tlb_impl rtl: the RTL IOTLB has 4 ways, not 64"},
      {"entries: 64, ways: 4, policy: lru, tlb_impl: rtl", models::timing_mode::cycle,
       ": iommus[0].iotlb.tlb_impl: iotlb: tlb_impl rtl: policy lru is not in the RTL (plru or round_robin)"},
      {"entries: 64, ways: 4, tlb_trace: w.fst", models::timing_mode::cycle,
       ": iommus[0].iotlb.tlb_trace: waveforms come from the RTL IOTLB: add tlb_impl: rtl"},
  };
  for (const auto &c : cases) {
    const std::string t = with_iotlb(c.keys, c.mode);
    const std::string e = config_error_of(t);
    EXPECT_EQ(e.rfind(iotlb_line(t), 0), 0u) << e;
    EXPECT_NE(e.find(std::string(c.why) + "\n"), std::string::npos) << c.keys << " -> " << e;
  }
  EXPECT_EQ(config_error_of(with_iotlb("entries: 64, ways: 4, policy: plru, tlb_impl: rtl")), "accepted");
  // The other VT-d caches have no RTL.
  std::string t = config_text(models::timing_mode::cycle, "vtd_default.yaml");
  const std::string cc = "context_cache: {entries: 32, ways: 0, policy: lru, lookup: 2}";
  t.replace(t.find(cc), cc.size(), "context_cache: {entries: 32, ways: 4, policy: plru, tlb_impl: rtl}");
  EXPECT_NE(config_error_of(t).find(": iommus[0].context_cache.tlb_impl: unknown key"), std::string::npos)
      << config_error_of(t);
}

}  // namespace
