// SPDX-License-Identifier: MIT
// ats_endpoint: ATC miss -> translation request -> fill -> translated access,
// hits, permission upgrade, large translations, no-translation faults, and
// ATS invalidation by range and PASID with a tagged, timed completion.
// Path timing: device_bench.h (translation request 5; a translated access like
// an untranslated one); ATC lookup 1 cycle, fill 0.
#include <gtest/gtest.h>

#include "device_bench.h"
#include "models/devices/ats_endpoint.h"

using namespace iommusim::models;
using iommusim::testing::kUser;
using iommusim::testing::ns;
using iommusim::testing::path_bench;
using iommusim::testing::script_thread;
using sc_core::sc_start;

namespace {

ats_endpoint_config ep_cfg() {
  ats_endpoint_config c;
  c.stream_id = 0x30;
  return c;
}

void program_test(timing_mode mode) {
  path_bench b(mode);
  auto c = ep_cfg();
  c.program = {{0, 0x1000, 64, false, false, 0},   // miss: TR (read-only), fill R
               {0, 0x1ff0, 16, false, false, 0},   // hit
               {0, 0x1000, 64, true, false, 0},    // hit without W: TR again, refill R/W
               {0, 0x1008, 8, true, false, 0}};    // hit
  ats_endpoint ep("ep", c, mode);
  b.attach(ep);
  unsigned dones = 0;
  ep.on_done = [&] { dones++; };
  sc_start();
  ASSERT_TRUE(ep.finished());
  EXPECT_EQ(dones, 1u);
  const auto &r = ep.program_results();
  ASSERT_EQ(r.size(), 4u);
  for (const auto &x : r) EXPECT_TRUE(x.ok);
  EXPECT_EQ(r[0].cycles, 1u + 5 + (5 + 1 + 100 + 2));
  EXPECT_EQ(r[1].cycles, 1u + (5 + 1 + 100 + 1));
  EXPECT_EQ(r[2].cycles, 1u + 5 + (5 + 1 + 50 + 2));
  EXPECT_EQ(r[3].cycles, 1u + (5 + 1 + 50 + 1));
  EXPECT_EQ(r[0].translated_addr, kUser + 0x1000);
  EXPECT_EQ(r[1].translated_addr, kUser + 0x1ff0);
  EXPECT_EQ(r[0].atc_misses, 1u);
  EXPECT_EQ(r[1].atc_hits, 1u);
  EXPECT_EQ(r[2].translation_requests, 1u);
  auto &st = ep.stats();
  EXPECT_EQ(st.get("atc_lookups"), 4u);
  EXPECT_EQ(st.get("atc_hits"), 3u);
  EXPECT_EQ(st.get("atc_misses"), 1u);
  EXPECT_EQ(st.get("translation_requests"), 2u);
  EXPECT_EQ(st.get("translated_requests"), 4u);
  EXPECT_EQ(ep.atc().valid_count(), 1u);  // refilled in place, no duplicate
  const at_kind want[6] = {at_kind::translation_request, at_kind::translated, at_kind::translated,
                           at_kind::translation_request, at_kind::translated, at_kind::translated};
  ASSERT_EQ(b.iommu.log.size(), 6u);
  for (int i = 0; i < 6; i++) EXPECT_EQ(b.iommu.log[i].at, want[i]) << i;
  EXPECT_TRUE(b.iommu.log[0].no_write);
  EXPECT_FALSE(b.iommu.log[3].no_write);
  EXPECT_EQ(b.iommu.log[1].addr, kUser + 0x1000);
  for (const auto &e : b.iommu.log) EXPECT_EQ(e.stream_id, 0x30u);
  // Program item 3 (index 2) wrote bytes 2 + k, item 4 wrote 3 + k over them.
  EXPECT_EQ(b.user[0x1000], 2);
  EXPECT_EQ(b.user[0x1008], 3);
  EXPECT_EQ(b.user[0x103f], static_cast<uint8_t>(2 + 63));
}

TEST(AtsEndpoint, MissTranslateFillThenHitsCycleMode) { program_test(timing_mode::cycle); }
TEST(AtsEndpoint, MissTranslateFillThenHitsFastMode) { program_test(timing_mode::fast); }

TEST(AtsEndpoint, InvalidationByPasidAndRangeCompletesWithTag) {
  path_bench b(timing_mode::cycle);
  b.iommu.map(0x1000, 0x1000, {true, true}, true, 5);
  b.iommu.map(0x3000, 0x1000, {true, true}, true, 5);
  b.iommu.map(0x1000, 0x1000, {true, true}, true, 7);
  ats_endpoint ep("ep", ep_cfg(), timing_mode::cycle);
  b.attach(ep);
  script_thread drv("drv");
  std::vector<size_t> valid;
  drv.body = [&] {
    thread_time t(ep.clock());
    uint8_t buf[8];
    auto rd = [&](uint64_t a, bool v, uint32_t s) {
      return ep.access(t, {0, a, 8, false, v, s}, buf);
    };
    EXPECT_TRUE(rd(0x1000, false, 0).ok);
    EXPECT_TRUE(rd(0x1000, true, 5).ok);
    EXPECT_TRUE(rd(0x3000, true, 5).ok);
    EXPECT_TRUE(rd(0x1000, true, 7).ok);
    valid.push_back(ep.atc().valid_count());
    // PASID 5, one page at 0x1000: only that entry goes.
    b.iommu.invalidate({0x30, true, 5, 0x1000, 12, false, 9});
    valid.push_back(ep.atc().valid_count());
    EXPECT_EQ(ep.atc().peek({0x1000, true, 5}), nullptr);
    EXPECT_NE(ep.atc().peek({0x3000, true, 5}), nullptr);
    EXPECT_NE(ep.atc().peek({0x1000, true, 7}), nullptr);
    // No PASID, 16 KiB from 0: every PASID's entries in the range go.
    b.iommu.invalidate({0x30, false, 0, 0x0, 14, false, 10});
    valid.push_back(ep.atc().valid_count());
    // Afterwards the same access misses again.
    const auto again = rd(0x1000, true, 7);
    EXPECT_EQ(again.atc_misses, 1u);
    EXPECT_EQ(again.translation_requests, 1u);
  };
  sc_start();
  ASSERT_TRUE(drv.finished);
  ASSERT_EQ(valid.size(), 3u);
  EXPECT_EQ(valid[0], 4u);
  EXPECT_EQ(valid[1], 3u);
  EXPECT_EQ(valid[2], 0u);
  // Completions: the tags, invalidate_cycles 4 + one set swept (1) later.
  ASSERT_EQ(b.iommu.completions.size(), 2u);
  EXPECT_EQ(b.iommu.completions[0].itag, 9u);
  EXPECT_EQ(b.iommu.completions[1].itag, 10u);
  EXPECT_EQ(b.iommu.completions[0].stream_id, 0x30u);
  // Four misses of 1 + 5 + 107 cycles each before the invalidations.
  EXPECT_EQ(b.iommu.completions[0].at_time, ns(4 * 113 + 5));
  EXPECT_EQ(b.iommu.completions[1].at_time, ns(4 * 113 + 5));
  EXPECT_EQ(ep.stats().get("invalidations"), 2u);
  EXPECT_EQ(ep.stats().get("invalidated_entries"), 4u);
}

TEST(AtsEndpoint, LargeTranslationCoversItsRange) {
  path_bench b(timing_mode::cycle);
  b.iommu.ats_page_shift = 21;  // completions report 2 MiB
  auto c = ep_cfg();
  c.program = {{0, 0x1000, 8, true, false, 0},
               {0, 0x5000, 8, true, false, 0},
               {0, 0xf000, 8, true, false, 0}};
  ats_endpoint ep("ep", c, timing_mode::cycle);
  b.attach(ep);
  sc_start();
  const auto &r = ep.program_results();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(ep.stats().get("translation_requests"), 1u);
  EXPECT_EQ(ep.stats().get("atc_hits"), 2u);
  EXPECT_EQ(r[1].translated_addr, kUser + 0x5000);
  EXPECT_EQ(r[2].translated_addr, kUser + 0xf000);
  EXPECT_EQ(b.user[0xf000], 2);
  ASSERT_EQ(ep.atc().valid_count(), 1u);
  const atc_entry *e = ep.atc().peek({0xabcd, false, 0});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shift, 21u);
  EXPECT_EQ(e->va, 0u);
  EXPECT_EQ(e->pa, kUser);
}

TEST(AtsEndpoint, NoTranslationAndReadOnlyPagesFaultWithoutData) {
  path_bench b(timing_mode::cycle);
  b.iommu.pages.clear();
  b.iommu.map(0x2000, 0x1000, {true, false});  // read-only
  auto c = ep_cfg();
  c.program = {{0, 0x5000, 8, false, false, 0},   // unmapped: R = W = 0
               {0, 0x5000, 8, false, false, 0},   // not cached: asks again
               {0, 0x2000, 8, true, false, 0},    // R only: permission
               {0, 0x2000, 8, false, false, 0}};  // the R entry serves a read
  ats_endpoint ep("ep", c, timing_mode::cycle);
  b.attach(ep);
  sc_start();
  const auto &r = ep.program_results();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_EQ(r[0].fault_cls, fault_class::translation);
  EXPECT_EQ(r[0].cycles, 1u + 5);
  EXPECT_EQ(r[1].translation_requests, 1u);
  EXPECT_FALSE(r[2].ok);
  EXPECT_EQ(r[2].fault_cls, fault_class::permission);
  EXPECT_TRUE(r[3].ok);
  EXPECT_EQ(r[3].atc_hits, 1u);
  EXPECT_EQ(ep.stats().get("translated_requests"), 1u);
  EXPECT_EQ(ep.stats().get("faults"), 3u);
  EXPECT_EQ(b.mem.stats().get("writes"), 0u);
}

TEST(AtsEndpoint, AtcEntryProbesAndConfigCheck) {
  atc_entry e;
  e.va = 0x20'0000;
  e.shift = 21;
  e.ssid_valid = true;
  e.ssid = 3;
  EXPECT_TRUE(e.matches({0x3f'ffff, true, 3}));
  EXPECT_FALSE(e.matches({0x40'0000, true, 3}));
  EXPECT_FALSE(e.matches({0x20'0000, true, 4}));
  EXPECT_FALSE(e.matches({0x20'0000, false, 0}));
  EXPECT_EQ(e.hash(), atc_entry::probe_hash({0x2f'0000, true, 3}, 1));  // the 2 MiB probe
  EXPECT_EQ(atc_entry::class_shift(12), 12u);
  EXPECT_EQ(atc_entry::class_shift(16), 12u);
  EXPECT_EQ(atc_entry::class_shift(29), 21u);
  EXPECT_EQ(atc_entry::class_shift(39), 30u);
  auto c = ep_cfg();
  EXPECT_EQ(c.check(), "");
  c.atc.entries = 24;
  c.atc.ways = 8;  // 3 sets: not a power of two
  EXPECT_EQ(c.check().rfind("ats_endpoint atc: ", 0), 0u) << c.check();
  c = ep_cfg();
  c.program = {{0, 0x1000, 0, false, false, 0}};
  EXPECT_NE(c.check().find("program[0] has length 0"), std::string::npos);
}

}  // namespace
