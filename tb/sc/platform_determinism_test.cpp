// SPDX-License-Identifier: MIT
// Cycle mode is deterministic for the whole platform (docs/platform.md,
// "Determinism"): the same program on the same config gives the same
// statistics — host CPU, MMIO bus and IRQ counters included — and the same
// simulated time. The program drives the default SMMUv3 platform through the
// C API as a driver test does: maps, DMAs polled with poll32 while the device
// runs, host-side work between HostBus calls, an UNMAP (TLBI + CMD_SYNC) and
// a DMA that then faults (event queue interrupt, handler on the IRQ thread),
// and a PRI page request the program answers from the fault fd.
// SystemC elaborates once per process, so each run is a child process; the
// parent compares the two JSON documents.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include "platform_test_util.h"

using namespace iommusim;
using namespace iommusim::sim;
using namespace iommusim::platform_test;

namespace {

#define RUN_REQUIRE(cond)                                                       \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "run: line %d: %s failed\n", __LINE__, #cond);       \
      return {};                                                                \
    }                                                                           \
  } while (0)

// Host-side work of the program between two HostBus calls: takes wall-clock
// time that differs from run to run, and must cost no simulated time.
void host_work(unsigned us) { std::this_thread::sleep_for(std::chrono::microseconds(us)); }

// A PRI page request (SMMUv3 §8, VT-d §7.4): the device waits for the
// program, which waits on the fault fd, maps the page and answers.
bool page_request(platform &p, int fd, nlohmann::ordered_json &log) {
  const uint32_t ioas = ioas_alloc(fd);
  bound_device dev(p, "pri0", fd);
  if (!dev.ok()) return false;
  iommu_fault_alloc fa{};
  fa.size = sizeof(fa);
  if (iommusim_ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fa)) return false;
  const int ffd = static_cast<int>(fa.out_fault_fd);
  uint32_t pt = hwpt_alloc(fd, dev.dev_id, ioas, IOMMU_HWPT_FAULT_ID_VALID, fa.out_fault_id);
  if (!pt || dev.attach(&pt)) return false;
  constexpr uint64_t kIova = 0x7700'0000;
  buffer buf(4096);
  start_dma(p.bus(), dev.bar(), 0, kIova + 128, 256, dma_test::CTRL_FILL | dma_test::CTRL_PRI, 0xc3c3'c3c3'c3c3'c3c3ULL);
  pollfd pfd{ffd, POLLIN, 0};
  if (iommusim_poll(&pfd, 1, 20000) != 1) return false;
  // Waking from a fault fd hands over no token (docs/platform.md,
  // "Determinism"): the IRQ thread may still be finishing its PRI queue work
  // while this thread wakes. Wait for the platform to be idle — a point in
  // simulated time that does not depend on the host — before going on.
  p.run_until_idle();
  iommu_hwpt_pgfault f{};
  if (iommusim_read(ffd, &f, sizeof(f)) != static_cast<ssize_t>(sizeof(f))) return false;
  host_work(300);
  if (ioas_map(fd, ioas, buf.p, buf.len, kIova)) return false;
  iommu_hwpt_page_response r{};
  r.cookie = f.cookie;
  r.code = IOMMUFD_PAGE_RESP_SUCCESS;
  if (iommusim_write(ffd, &r, sizeof(r)) != static_cast<ssize_t>(sizeof(r))) return false;
  const bool done = p.bus().poll32(dev.bar() + dma_test::STATUS, dma_test::ST_DONE, dma_test::ST_DONE, 100, 100'000'000);
  log.push_back({{"done", done},
                 {"status", p.bus().readq(dev.bar() + dma_test::STATUS)},
                 {"cycles", p.bus().readq(dev.bar() + dma_test::CYCLES)},
                 {"at_ps", p.bus().now_ps()}});
  p.run_until_idle();
  iommusim_close(ffd);
  return done && buf.p[128] == 0xc3;
}

std::string program(const std::string &config, models::timing_mode mode) {
  platform &p = platform::load_string(config_text(mode, config));
  iommufd::host_bus &bus = p.bus();
  const int fd = iommusim_open();
  const uint32_t ioas = ioas_alloc(fd);
  nlohmann::ordered_json dmas = nlohmann::ordered_json::array();
  {
    bound_device dev(p, "dma0", fd);
    RUN_REQUIRE(dev.ok());
    uint32_t pt = ioas;
    RUN_REQUIRE(dev.attach(&pt) == 0);
    constexpr size_t kLen = 64 * 4096;
    constexpr uint64_t kSrc = 0x100'0000, kDst = 0x200'0000;
    buffer src(kLen), dst(kLen);
    for (size_t i = 0; i < kLen; i++) src.p[i] = static_cast<uint8_t>(i * 7 + 1);
    RUN_REQUIRE(ioas_map(fd, ioas, src.p, kLen, kSrc) == 0);
    RUN_REQUIRE(ioas_map(fd, ioas, dst.p, kLen, kDst) == 0);
    auto dma = [&](uint64_t s, uint64_t d, uint64_t len, uint64_t ctrl, unsigned work_us) {
      start_dma(bus, dev.bar(), s, d, len, ctrl, 0x1122'3344'5566'7788ULL);
      host_work(work_us);  // the device runs meanwhile in simulated time
      const bool done = bus.poll32(dev.bar() + dma_test::STATUS, dma_test::ST_DONE, dma_test::ST_DONE, 100,
                                   100'000'000);
      dmas.push_back({{"done", done},
                      {"status", bus.readq(dev.bar() + dma_test::STATUS)},
                      {"cycles", bus.readq(dev.bar() + dma_test::CYCLES)},
                      {"at_ps", bus.now_ps()}});
    };
    dma(kSrc, kDst, kLen, uint64_t{12} << dma_test::CTRL_BURST_SHIFT, 300);
    dma(kSrc + 100, kDst + 64, 32 * 1024, 0, 50);
    dma(0, kDst + 4096, 8192, dma_test::CTRL_FILL, 1000);
    RUN_REQUIRE(std::memcmp(dst.p + 64, src.p + 100, 4096 - 64) == 0);
    host_work(500);
    RUN_REQUIRE(ioas_unmap(fd, ioas, kDst, kLen) == 0);  // TLBI + CMD_SYNC
    dma(kSrc, kDst, 4096, 0, 200);                       // F_TRANSLATION: event IRQ
    host_work(200);
    RUN_REQUIRE(ioas_map(fd, ioas, dst.p, kLen, kDst) == 0);
    dma(kSrc, kDst, 16 * 4096, uint64_t{12} << dma_test::CTRL_BURST_SHIFT, 0);
    p.run_until_idle();
  }
  RUN_REQUIRE(page_request(p, fd, dmas));
  iommusim_close(fd);
  p.run_until_idle();
  nlohmann::ordered_json out;
  out["dma"] = dmas;
  out["now_ps"] = p.now_ps();
  out["stats"] = nlohmann::ordered_json::parse(p.stats_json());
  return out.dump(1);
}

// The program in a child process: its JSON, or "" if it failed.
std::string run_in_child(const std::string &config, models::timing_mode mode, int n) {
  return platform_test::in_child_process("determinism_" + std::to_string(n), [&] { return program(config, mode); });
}

// The leaves where two documents differ, one a line ("/stats/groups/host_cpu/counters/polls: 12 != 15").
std::string differences(const nlohmann::ordered_json &a, const nlohmann::ordered_json &b) {
  std::string out;
  for (const auto &d : nlohmann::json::diff(nlohmann::json(a), nlohmann::json(b))) {
    const std::string path = d["path"];
    const nlohmann::json pa = nlohmann::json(a).contains(nlohmann::json::json_pointer(path))
                                  ? nlohmann::json(a)[nlohmann::json::json_pointer(path)]
                                  : nlohmann::json();
    out += path + ": " + pa.dump() + " != " + d.value("value", nlohmann::json()).dump() + "\n";
  }
  return out;
}

using param = std::tuple<const char *, models::timing_mode>;
class PlatformDeterminism : public ::testing::TestWithParam<param> {};

// Cycle mode is the reference; fast mode's host side is repeatable the same
// way. Both IOMMUs: the SMMUv3 and the VT-d platform.
TEST_P(PlatformDeterminism, SameProgramSameCountersAndSimulatedTime) {
  const auto [config, mode] = GetParam();
  const std::string a = run_in_child(config, mode, 1);
  const std::string b = run_in_child(config, mode, 2);
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  const auto ja = nlohmann::ordered_json::parse(a), jb = nlohmann::ordered_json::parse(b);
  // The program did what it should: 5 DMAs, the fourth faulted, then a
  // page request.
  ASSERT_EQ(ja["dma"].size(), 6u);
  for (size_t i = 0; i < 6; i++) EXPECT_TRUE(ja["dma"][i]["done"].get<bool>()) << i;
  EXPECT_NE(ja["dma"][3]["status"].get<uint64_t>() & dma_test::ST_ERROR, 0u);
  const auto &cpu = ja["stats"]["groups"]["host_cpu"]["counters"];
  EXPECT_EQ(ja["stats"]["groups"]["pri0"]["counters"].value("page_requests", 0), 1);
  EXPECT_GT(cpu.value("polls", 0), 5);
  EXPECT_GT(ja["stats"]["groups"]["irq"]["counters"].value("irqs_handled", 0), 0);
  EXPECT_EQ(cpu.value("agent_lapses", -1), 0);
  EXPECT_EQ(ja["now_ps"], jb["now_ps"]);
  EXPECT_EQ(ja["stats"].value("sim_time_ps", 0), jb["stats"].value("sim_time_ps", 0));
  // Every counter and histogram, byte for byte.
  EXPECT_TRUE(a == b) << differences(ja, jb);
  std::printf("simulated %llu ps; host_cpu %s\n",
              static_cast<unsigned long long>(ja["now_ps"].get<uint64_t>()), cpu.dump().c_str());
}

INSTANTIATE_TEST_SUITE_P(Platform, PlatformDeterminism,
                         ::testing::Combine(::testing::Values("smmuv3_default.yaml", "vtd_default.yaml"),
                                            ::testing::Values(models::timing_mode::cycle, models::timing_mode::fast)),
                         [](const ::testing::TestParamInfo<param> &i) {
                           const std::string c = std::get<0>(i.param);
                           return c.substr(0, c.find('_')) + "_" +
                                  (std::get<1>(i.param) == models::timing_mode::cycle ? "cycle" : "fast");
                         });

}  // namespace
