// SPDX-License-Identifier: MIT
// Exact cycle counts in cycle mode (docs/vtd.md "Pipeline and cycle costs"),
// each derived here from the configured latencies, and fast mode's
// equivalence with cycle mode for one initiator.
//
// Memory (test_memory): every read costs R = read_latency, every write
// W = write_latency cycles, whatever its size; model and memory run at
// 1 GHz, so a cycle is 1 ns. The paging-structure caches of a stage are
// probed in parallel: one lookup costs the slowest enabled level.
#include <algorithm>

#include "vtd_test_util.h"

using namespace vtd_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

uint64_t pwc_lookup(const std::vector<cache_config> &v) {
  uint64_t m = 0;
  for (const auto &c : v)
    if (c.entries) m = std::max<uint64_t>(m, c.lookup_cycles);
  return m;
}

// A legacy-mode device 0x0100 with a 4-level second stage mapping two pages
// of one 2 MiB region.
void legacy_setup(harness &tb) {
  tb.setup(false);
  page_table pt(tb.mem, tb.alloc, 4, ss::table);
  pt.map(0x1000, kData, ss::R | ss::W);
  pt.map(0x2000, kData + 0x1000, ss::R | ss::W);
  tb.legacy_context(0x0100, 0, 2, pt.root, 1);
}

TEST(vtd_timing, cold_second_stage_walk) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    legacy_setup(tb);
    const auto r = tb.read(0x0100, 0x1000);
    ASSERT_TRUE(r.ok());
    const auto &L = cfg.latency;
    const uint64_t R = tb.mem.read_latency;
    // ingress + context cache (miss) + root entry + context entry + checks
    // + IOTLB (miss) + paging-structure caches (miss) + 4 x (step + fetch)
    const uint64_t xl = L.ingress + cfg.context_cache.lookup_cycles + R + R + L.context_check +
                        cfg.iotlb.lookup_cycles + pwc_lookup(cfg.pwc_ss) + 4 * (L.walk_step + R);
    EXPECT_EQ(xl, 133u);  // with the defaults
    EXPECT_EQ(r.ext.translate_cycles, xl);
    EXPECT_EQ(ns(r.elapsed), xl + R) << "then the data read";
  });
}

TEST(vtd_timing, iotlb_hit) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    legacy_setup(tb);
    tb.read(0x0100, 0x1000);
    const auto r = tb.read(0x0100, 0x1008);
    const auto &L = cfg.latency;
    // ingress + context cache (hit) + IOTLB (hit)
    const uint64_t xl = L.ingress + cfg.context_cache.lookup_cycles + cfg.iotlb.lookup_cycles;
    EXPECT_EQ(r.ext.translate_cycles, xl);
    EXPECT_EQ(ns(r.elapsed), xl + tb.mem.read_latency);
    EXPECT_EQ(tb.counter("iotlb", "hit"), 1u);
  });
}

TEST(vtd_timing, walk_hitting_the_paging_structure_cache) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    legacy_setup(tb);
    tb.read(0x0100, 0x1000);
    const auto r = tb.read(0x0100, 0x2000);  // same page table: the PDE cache hits
    const auto &L = cfg.latency;
    const uint64_t xl = L.ingress + cfg.context_cache.lookup_cycles + cfg.iotlb.lookup_cycles +
                        pwc_lookup(cfg.pwc_ss) + 1 * (L.walk_step + tb.mem.read_latency);
    EXPECT_EQ(r.ext.translate_cycles, xl);
    EXPECT_EQ(tb.counter("pwc_ss_pd", "hit"), 1u);
  });
}

TEST(vtd_timing, cold_nested_walk) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    const int64_t delta = 0x10'0000'0000ll;
    page_table s2(tb.mem, tb.alloc, 4, ss::table);
    page_table s1(tb.mem, tb.alloc, 4, fs::table | fs::A, delta);  // A set: no updates
    const uint64_t iova = 0x5555'6000ull, gpa = 0x20'0000'3000ull;
    s1.map(iova, gpa, fs::P | fs::RW | fs::US | fs::A | fs::D);  // nothing to update
    for (unsigned n = 4; n >= 1; n--) {
      const uint64_t table_pa = n == 4 ? s1.root : (s1.slot(iova, n) & ~0xfffull);
      s2.map(table_pa + static_cast<uint64_t>(delta), table_pa, ss::R | ss::W);
    }
    s2.map(gpa, kData, ss::R | ss::W);
    const uint64_t dir = tb.alloc.alloc(4096);
    tb.sm_context(0x0100, dir);
    harness::pasid_fields f;
    f.pgtt = 3;
    f.fsptptr = s1.root_gpa();
    f.slptptr = s2.root;
    f.did = 9;
    tb.pasid_entry(dir, 1, f);
    dma_args a;
    a.pv = true;
    a.pasid = 1;
    const auto r = tb.dma(iova, a);
    ASSERT_TRUE(r.ok());
    const auto &L = cfg.latency;
    const uint64_t R = tb.mem.read_latency;
    const uint64_t step = L.walk_step + R;
    const uint64_t context = cfg.context_cache.lookup_cycles + 2 * R + L.context_check;
    const uint64_t pasid = cfg.pasid_cache.lookup_cycles + 2 * R + L.pasid_check;
    // First stage: its cache probe, then per level a step, the second-stage
    // walk of the table's GPA (probe + 4, 1, 1, 1 levels: see
    // vtd_translate.scalable_nested) and the fetch; then the output GPA's
    // second-stage walk (probe + 3 levels) and the combination.
    const uint64_t ss_tables = 4 * pwc_lookup(cfg.pwc_ss) + (4 + 1 + 1 + 1) * step;
    const uint64_t fs_walk = pwc_lookup(cfg.pwc_fs) + 4 * step + ss_tables;
    const uint64_t out = pwc_lookup(cfg.pwc_ss) + 3 * step;
    const uint64_t xl = L.ingress + context + pasid + cfg.iotlb.lookup_cycles + fs_walk + out +
                        L.nested_combine;
    EXPECT_EQ(xl, 398u);  // with the defaults
    EXPECT_EQ(r.ext.translate_cycles, xl);
    EXPECT_EQ(ns(r.elapsed), xl + R);
  });
}

TEST(vtd_timing, invalidation_wait_round_trip) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    tb.mem.write64(tb.status_word, 0);
    tb.submit({});  // nothing yet
    const size_t before = tb.mem.writes.size();
    const sc_time t0 = sc_core::sc_time_stamp();
    tb.submit({desc::iotlb(2, 1), desc::wait(true, false, 0xabcd, tb.status_word)});
    wait(sc_time(1, sc_core::SC_US));
    ASSERT_EQ(tb.mem.read32(tb.status_word), 0xabcdu);
    ASSERT_GT(tb.mem.writes.size(), before);
    sc_time when;
    for (size_t i = before; i < tb.mem.writes.size(); i++)
      if (tb.mem.writes[i].addr == tb.status_word) when = tb.mem.writes[i].when;
    const auto &L = cfg.latency;
    const uint64_t R = tb.mem.read_latency, W = tb.mem.write_latency;
    // Two descriptor writes by the test bench happen before t0 (untimed
    // memory access); the IQT write costs reg_access, then per descriptor a
    // fetch and the decode; the domain IOTLB invalidation its base cost and
    // the sweeps (IOTLB, then the paging-structure caches in parallel: one
    // set each); the wait its base cost and the status write.
    const uint64_t sweep = cfg.iotlb.sets() * cfg.iotlb.invalidate_cycles_per_set + 1;
    const uint64_t expect = L.reg_access + (R + L.qi_decode + L.qi_iotlb + sweep) +
                            (R + L.qi_decode + L.qi_wait + W);
    EXPECT_EQ(ns(when - t0), expect);
    EXPECT_EQ(expect, 59u);  // with the defaults
    EXPECT_EQ(tb.reg(r::IQH, 8), 64u);
  });
}

TEST(vtd_timing, one_walk_slot_serialises_walks) {
  // Two requests of two devices at once, one walk slot: the context fetches
  // and the walks (which hold the slot) take turns; the rest overlaps.
  vtd_config cfg;
  cfg.walk_slots = 1;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    page_table a(tb.mem, tb.alloc, 4, ss::table), b(tb.mem, tb.alloc, 4, ss::table);
    a.map(0x1000, kData, ss::R | ss::W);
    b.map(0x1000, kData + 0x1000, ss::R | ss::W);
    tb.legacy_context(0x0100, 0, 2, a.root, 1);
    tb.legacy_context(0x0101, 0, 2, b.root, 2);
    dma_result r1, r2;
    sc_core::sc_event done1;
    sc_core::sc_spawn([&] {
      r1 = tb.read(0x0100, 0x1000);
      done1.notify();
    });
    r2 = tb.read(0x0101, 0x1000);
    if (r1.resp == tlm::TLM_INCOMPLETE_RESPONSE) wait(done1);
    ASSERT_TRUE(r1.ok() && r2.ok());
    const auto &L = cfg.latency;
    const uint64_t R = tb.mem.read_latency;
    const uint64_t pre = L.ingress + cfg.context_cache.lookup_cycles;     // before the slot
    const uint64_t fetch = 2 * R + L.context_check;                       // context fetch, in the slot
    const uint64_t walk = pwc_lookup(cfg.pwc_ss) + 4 * (L.walk_step + R);  // walk, in the slot
    // The first to ask (this thread; the spawned one runs after it in the
    // same delta) fetches its context, then the other does, then the first
    // walks (it asked after its IOTLB lookup, while the other held the
    // slot), then the other walks.
    const uint64_t first = pre + fetch + fetch + walk;
    const uint64_t second = pre + fetch + fetch + walk + walk;
    EXPECT_EQ(r2.ext.translate_cycles, first);
    EXPECT_EQ(r1.ext.translate_cycles, second);
    EXPECT_EQ(second, 259u);
    EXPECT_EQ(r1.ext.output_addr, kData);
    EXPECT_EQ(r2.ext.output_addr, kData + 0x1000);
  });
}

// ------------------------------------------------------------------ fast mode

struct observed {
  bool done = false;
  std::vector<std::tuple<int, uint64_t, unsigned, uint8_t>> dmas;  // ok, output, shift, reason
  std::map<std::string, uint64_t> counts;
  std::vector<std::pair<uint64_t, uint64_t>> faults;
};

void sequence(harness &tb, observed &o) {
  tb.setup(true);
  const uint64_t dir = tb.alloc.alloc(4096);
  tb.sm_context(0x0100, dir);
  page_table s2(tb.mem, tb.alloc, 4, ss::table);
  for (uint64_t p = 0; p < 80; p++) s2.map(0x10'0000 + p * 0x1000, kData + p * 0x1000, ss::R | ss::W);
  s2.map(0x4000'0000, kData + 0x4000'0000, ss::R | ss::W | ss::PS, 2);
  harness::pasid_fields f;
  f.pgtt = 2;
  f.slptptr = s2.root;
  f.ssade = true;
  f.did = 4;
  tb.pasid_entry(dir, 0, f);
  page_table s1(tb.mem, tb.alloc, 4, fs::table);
  for (uint64_t p = 0; p < 8; p++) s1.map(0x7000'0000 + p * 0x1000, kData + 0x200000 + p * 0x1000, fs::P | fs::US);
  harness::pasid_fields g;
  g.pgtt = 1;
  g.fsptptr = s1.root;
  g.did = 5;
  tb.pasid_entry(dir, 3, g);
  auto note = [&](const dma_result &r) {
    o.dmas.push_back({r.ok() ? 1 : 0, r.ext.output_addr, r.ext.output_page_shift, r.ext.fault_type});
  };
  // 80 pages through a 64-entry IOTLB, twice: capacity misses.
  for (int pass = 0; pass < 2; pass++)
    for (uint64_t p = 0; p < 80; p++) note(pass ? tb.write(0x0100, 0x10'0000 + p * 0x1000) : tb.read(0x0100, 0x10'0000 + p * 0x1000));
  note(tb.read(0x0100, 0x4012'3456));
  note(tb.read(0x0100, 0x9000'0000));  // not mapped: fault
  dma_args a;
  a.pv = true;
  a.pasid = 3;
  for (uint64_t p = 0; p < 8; p++) note(tb.dma(0x7000'0000 + p * 0x1000, a));
  a.write = true;
  note(tb.dma(0x7000'0000, a));  // read-only: fault
  tb.flush({desc::iotlb(2, 4), desc::piotlb(2, 5, 3)});
  for (uint64_t p = 0; p < 4; p++) note(tb.read(0x0100, 0x10'0000 + p * 0x1000));
  for (unsigned n = 0; n < 2; n++) o.faults.push_back(tb.frcd(n));
  for (const stats_group *g2 : tb.iommu.all_stats())
    for (const auto &[k, v] : g2->counters()) o.counts[g2->name().substr(g2->name().find('.')) + "." + k] = v;
  o.done = true;
}

TEST(vtd_timing, fast_mode_matches_cycle_mode) {
  vtd_config cfg;
  harness tc("tc", cfg, timing_mode::cycle);
  harness tf("tf", cfg, timing_mode::fast);
  observed oc, of;
  sc_core::sc_spawn([&] { sequence(tc, oc); });
  sc_core::sc_spawn([&] { sequence(tf, of); });
  sc_core::sc_start(sc_time(10, sc_core::SC_MS));
  ASSERT_TRUE(oc.done && of.done);
  ASSERT_EQ(oc.dmas.size(), of.dmas.size());
  for (size_t i = 0; i < oc.dmas.size(); i++) EXPECT_EQ(oc.dmas[i], of.dmas[i]) << "dma " << i;
  EXPECT_EQ(oc.faults, of.faults);
  EXPECT_EQ(oc.faults[0].second >> 63, 1u);
  for (const char *k : {".iommu.iotlb.hit", ".iommu.iotlb.miss", ".iommu.iotlb.eviction",
                        ".iommu.pwc_ss_pd.hit", ".iommu.pasid_cache.hit", ".iommu.faults.recorded"})
    EXPECT_GT(oc.counts[k], 0u) << k << " exercised";
  for (const auto &[k, v] : oc.counts) EXPECT_EQ(v, of.counts[k]) << k;
  EXPECT_EQ(oc.counts.size(), of.counts.size());
}

}  // namespace
