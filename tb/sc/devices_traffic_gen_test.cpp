// SPDX-License-Identifier: MIT
// traffic_gen: exact latencies and bandwidth for one slot, gaps, several
// slots sharing the memory port, deterministic plans, strided read/write mixes
// whose writes land in memory, duration limits, config errors.
// Path timing: device_bench.h (a 64 B read: 5 + 1 + 100 + 2 = 108 cycles).
#include <gtest/gtest.h>

#include "device_bench.h"
#include "models/devices/traffic_gen.h"

using namespace iommusim::models;
using iommusim::testing::kUser;
using iommusim::testing::ns;
using iommusim::testing::path_bench;
using sc_core::sc_start;
using sc_core::sc_time;

namespace {

traffic_config base_cfg() {
  traffic_config c;
  c.stream_id = 0x21;
  c.base = 0x1000;
  c.size = 0x4000;
  c.transfer_size = 64;
  c.count = 8;
  return c;
}

void sequential_test(timing_mode mode) {
  path_bench b(mode);
  traffic_gen g("tg", base_cfg(), mode);
  b.attach(g);
  unsigned dones = 0;
  g.on_done = [&] { dones++; };
  sc_start();
  ASSERT_TRUE(g.finished());
  EXPECT_EQ(dones, 1u);
  EXPECT_EQ(g.stats().get("transactions"), 8u);
  EXPECT_EQ(g.stats().get("reads"), 8u);
  EXPECT_EQ(g.stats().get("bytes"), 512u);
  const auto &h = g.stats().histogram("latency_cycles");
  EXPECT_EQ(h.min(), 108u);
  EXPECT_EQ(h.max(), 108u);
  EXPECT_EQ(g.elapsed_cycles(), 8u * 108);
  EXPECT_DOUBLE_EQ(g.achieved_bytes_per_cycle(), 512.0 / 864.0);
  EXPECT_EQ(sc_core::sc_time_stamp(), ns(864));
  ASSERT_EQ(b.iommu.log.size(), 8u);
  for (unsigned i = 0; i < 8; i++) {
    EXPECT_EQ(b.iommu.log[i].addr, 0x1000u + 64 * i);
    EXPECT_EQ(b.iommu.log[i].stream_id, 0x21u);
    EXPECT_EQ(b.iommu.log[i].at_time, ns(108.0 * i));
  }
}

TEST(TrafficGen, SequentialReadsExactLatencyCycleMode) { sequential_test(timing_mode::cycle); }
TEST(TrafficGen, SequentialReadsExactLatencyFastMode) { sequential_test(timing_mode::fast); }

TEST(TrafficGen, GapSpacesIssuesAndIssueCyclesDelaySends) {
  path_bench b(timing_mode::cycle);
  auto c = base_cfg();
  c.count = 3;
  c.gap_cycles = 200;
  c.issue_cycles = 3;
  traffic_gen g("tg", c, timing_mode::cycle);
  b.attach(g);
  sc_start();
  ASSERT_EQ(b.iommu.log.size(), 3u);
  EXPECT_EQ(b.iommu.log[0].at_time, ns(3));
  EXPECT_EQ(b.iommu.log[1].at_time, ns(203));
  EXPECT_EQ(b.iommu.log[2].at_time, ns(403));
  EXPECT_EQ(g.stats().histogram("latency_cycles").min(), 111u);  // issue 3 + 108
  EXPECT_EQ(g.elapsed_cycles(), 400u + 111);
}

// Four slots of 256 B reads (T = 8) share one memory port: the first four
// complete at 114, 122, 130, 138; each slot's second read then arrives after
// the port is free again: 228, 236, 244, 252.
TEST(TrafficGen, OutstandingSlotsShareTheMemoryPort) {
  path_bench b(timing_mode::cycle);
  auto c = base_cfg();
  c.transfer_size = 256;
  c.outstanding = 4;
  traffic_gen g("tg", c, timing_mode::cycle);
  b.attach(g);
  sc_start();
  ASSERT_TRUE(g.finished());
  EXPECT_EQ(g.stats().get("transactions"), 8u);
  EXPECT_EQ(g.elapsed_cycles(), 252u);
  const auto &h = g.stats().histogram("latency_cycles");
  EXPECT_EQ(h.min(), 114u);
  EXPECT_EQ(h.max(), 138u);
  EXPECT_DOUBLE_EQ(h.mean(), (114.0 + 122 + 130 + 138 + 4 * 114) / 8);
  EXPECT_EQ(b.mem.stats().get("port_wait_cycles"), 8u + 16 + 24);
  // Each index was issued once: the plan's addresses, in some slot order.
  std::vector<uint64_t> seen;
  for (auto &e : b.iommu.log) seen.push_back(e.addr);
  std::sort(seen.begin(), seen.end());
  for (unsigned i = 0; i < 8; i++) EXPECT_EQ(seen[i], 0x1000u + 256 * i);
}

TEST(TrafficGen, OutstandingSlotsFastModeSameCounts) {
  path_bench b(timing_mode::fast);
  auto c = base_cfg();
  c.transfer_size = 256;
  c.outstanding = 4;
  traffic_gen g("tg", c, timing_mode::fast);
  b.attach(g);
  sc_start();
  ASSERT_TRUE(g.finished());
  EXPECT_EQ(g.stats().get("transactions"), 8u);
  EXPECT_EQ(g.stats().get("bytes"), 2048u);
  EXPECT_EQ(b.mem.stats().get("reads"), 8u);
  EXPECT_EQ(g.stats().histogram("latency_cycles").min(), 114u);
}

TEST(TrafficGen, RandomPlanIsDeterministicBySeed) {
  auto c = base_cfg();
  c.pattern = traffic_pattern::random;
  c.read_fraction = 0.3;
  c.seed = 42;
  const auto p1 = traffic_gen::plan(c, 200), p2 = traffic_gen::plan(c, 200);
  c.seed = 43;
  const auto p3 = traffic_gen::plan(c, 200);
  unsigned same = 0, writes = 0;
  for (size_t i = 0; i < p1.size(); i++) {
    EXPECT_EQ(p1[i].addr, p2[i].addr);
    EXPECT_EQ(p1[i].write, p2[i].write);
    EXPECT_GE(p1[i].addr, 0x1000u);
    EXPECT_LT(p1[i].addr, 0x5000u);
    EXPECT_EQ(p1[i].addr % 64, 0u);
    same += p1[i].addr == p3[i].addr;
    writes += p1[i].write;
  }
  EXPECT_LT(same, 20u);  // another seed, another stream
  EXPECT_GT(writes, 100u);  // about 70 % writes
  EXPECT_LT(writes, 180u);
}

TEST(TrafficGen, RandomRunFollowsThePlan) {
  path_bench b(timing_mode::cycle);
  auto c = base_cfg();
  c.pattern = traffic_pattern::random;
  c.read_fraction = 0.5;
  c.count = 20;
  c.seed = 7;
  traffic_gen g("tg", c, timing_mode::cycle);
  b.attach(g);
  sc_start();
  const auto plan = traffic_gen::plan(c, 20);
  ASSERT_EQ(b.iommu.log.size(), 20u);
  for (size_t i = 0; i < 20; i++) {
    EXPECT_EQ(b.iommu.log[i].addr, plan[i].addr);
    EXPECT_EQ(b.iommu.log[i].write, plan[i].write);
  }
}

TEST(TrafficGen, StridedMixWritesLandInMemory) {
  path_bench b(timing_mode::cycle);
  auto c = base_cfg();
  c.pattern = traffic_pattern::strided;
  c.stride = 0x1000;
  c.read_fraction = 0.5;
  c.count = 12;
  traffic_gen g("tg", c, timing_mode::cycle);
  b.attach(g);
  sc_start();
  const auto plan = traffic_gen::plan(c, 12);
  std::map<uint64_t, uint64_t> last_write;  // addr -> index
  unsigned writes = 0;
  for (uint64_t i = 0; i < 12; i++) {
    EXPECT_EQ(plan[i].addr, 0x1000 + (i * 0x1000) % 0x4000);
    if (plan[i].write) {
      last_write[plan[i].addr] = i;
      writes++;
    }
  }
  ASSERT_GT(writes, 0u);
  EXPECT_EQ(g.stats().get("writes"), writes);
  EXPECT_EQ(g.stats().get("reads"), 12u - writes);
  for (auto [addr, i] : last_write)
    for (unsigned k = 0; k < 64; k++)
      ASSERT_EQ(b.user[addr + k], static_cast<uint8_t>(i + k)) << addr << " " << k;
}

TEST(TrafficGen, DurationStopsIssuing) {
  path_bench b(timing_mode::cycle);
  auto c = base_cfg();
  c.count = 0;
  c.duration_cycles = 500;  // issues at 0, 108, 216, 324, 432; 540 is too late
  traffic_gen g("tg", c, timing_mode::cycle);
  b.attach(g);
  sc_start();
  EXPECT_EQ(g.stats().get("transactions"), 5u);
  EXPECT_EQ(g.elapsed_cycles(), 540u);
}

TEST(TrafficGen, FaultsCountAsErrorsAndStartCanWait) {
  path_bench b(timing_mode::cycle);
  b.iommu.pages.clear();
  b.iommu.map(0x1000, 0x2000);  // the upper half of the range is unmapped
  auto c = base_cfg();
  c.pattern = traffic_pattern::strided;
  c.stride = 0x1000;
  c.autostart = false;
  traffic_gen g("tg", c, timing_mode::cycle);
  b.attach(g);
  iommusim::testing::script_initiator kick("kick");
  iommusim::testing::recording_target sink("sink");
  kick.socket.bind(sink.socket);
  kick.body = [&](iommusim::testing::script_initiator &) {
    sc_core::wait(ns(1000));
    g.start();
  };
  sc_start();
  EXPECT_EQ(g.stats().get("transactions"), 8u);
  EXPECT_EQ(g.errors(), 4u);
  EXPECT_EQ(g.stats().get("bytes"), 4u * 64);
  ASSERT_FALSE(b.iommu.log.empty());
  EXPECT_EQ(b.iommu.log[0].at_time, ns(1000));
}

TEST(TrafficGen, ConfigCheckNamesTheProblem) {
  auto c = base_cfg();
  EXPECT_EQ(c.check(), "");
  c.transfer_size = 48;
  EXPECT_NE(c.check().find("power of two"), std::string::npos);
  c = base_cfg();
  c.base = 0x1010;
  EXPECT_NE(c.check().find("aligned"), std::string::npos);
  c = base_cfg();
  c.pattern = traffic_pattern::strided;
  c.stride = 100;
  EXPECT_NE(c.check().find("stride"), std::string::npos);
  c = base_cfg();
  c.count = 0;
  EXPECT_NE(c.check().find("count or a duration"), std::string::npos);
  c = base_cfg();
  c.read_fraction = 1.5;
  EXPECT_NE(c.check().find("read_fraction"), std::string::npos);
  traffic_pattern p;
  EXPECT_TRUE(parse_traffic_pattern("strided", &p));
  EXPECT_EQ(p, traffic_pattern::strided);
  EXPECT_FALSE(parse_traffic_pattern("zigzag", &p));
}

}  // namespace
