// SPDX-License-Identifier: MIT
// Exact cycle counts in cycle mode (docs/smmuv3.md "Pipeline and cycle
// costs"), each derived here from the configured latencies, and fast mode's
// equivalence with cycle mode for one initiator.
//
// Memory (test_memory): every read costs R = read_latency, every write
// W = write_latency cycles, whatever its size; the SMMU and the memory both
// run at 1 GHz, so a cycle is 1 ns.
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

uint64_t ns(const sc_time &t) { return static_cast<uint64_t>(t.to_seconds() * 1e9 + 0.5); }

// The walk caches of a stage probed for a walk starting at `start` are
// those of levels start..2; they are probed in parallel.
uint64_t wc_lookup(const std::vector<cache_config> &wcs, int start) {
  uint64_t m = 0;
  for (size_t l = static_cast<size_t>(start); l < wcs.size(); l++)
    if (wcs[l].entries) m = std::max<uint64_t>(m, wcs[l].lookup_cycles);
  return m;
}

TEST(smmuv3_timing, micro_tlb_hit) {
  const smmuv3_config cfg = test_config();
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(1);
    st.pt->map(0x1000, kData, d::s1_rw_all);
    tb.read(1, 0x1000);
    const auto r = tb.read(1, 0x1008);
    const auto &L = cfg.latency;
    // ingress + micro-TLB lookup
    const uint64_t xl = L.tbu_ingress + cfg.micro_tlb.lookup_cycles;
    EXPECT_EQ(r.ext.translate_cycles, xl);
    EXPECT_EQ(ns(r.elapsed), xl + tb.mem.read_latency) << "then the data read";
  });
}

TEST(smmuv3_timing, main_tlb_hit) {
  const smmuv3_config cfg = test_config();
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(1);
    st.pt->map(0x1000, kData, d::s1_rw_all);
    tb.read(1, 0x1000);  // through TBU 0: fills the configuration cache and the main TLB
    dma_args a;
    a.sid = 1;
    a.port = 1;  // TBU 1: its micro TLB misses
    const auto r = tb.dma(0x1008, a);
    const auto &L = cfg.latency;
    // ingress + micro TLB (miss) + to TCU + config cache (hit) + main TLB (hit)
    // + back to TBU + micro-TLB fill
    const uint64_t xl = L.tbu_ingress + cfg.micro_tlb.lookup_cycles + L.tbu_to_tcu +
                        cfg.config_cache.lookup_cycles + cfg.main_tlb.lookup_cycles +
                        L.tcu_to_tbu + cfg.micro_tlb.fill_cycles;
    EXPECT_EQ(r.ext.translate_cycles, xl);
    EXPECT_EQ(ns(r.elapsed), xl + tb.mem.read_latency);
  });
}

TEST(smmuv3_timing, cold_four_level_stage1_walk) {
  const smmuv3_config cfg = test_config();
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(1);
    st.pt->map(0x1000, kData, d::s1_rw_all);
    st.pt->map(0x7f80'0000'0000ull, kData, d::s1_rw_all);  // another level-0 entry
    const auto &L = cfg.latency;
    const uint64_t R = tb.mem.read_latency;
    // Everything cold: configuration fetch, then a 4-level walk.
    const auto r = tb.read(1, 0x1000);
    const uint64_t cfg_fetch = cfg.config_cache.lookup_cycles + R /* STE */ + L.ste_check +
                               R /* CD */ + L.cd_check + cfg.config_cache.fill_cycles;
    const uint64_t walk = wc_lookup(cfg.walk_cache_s1, 0) + 4 * (L.walk_step + R);
    const uint64_t xl = L.tbu_ingress + cfg.micro_tlb.lookup_cycles + L.tbu_to_tcu + cfg_fetch +
                        cfg.main_tlb.lookup_cycles + walk + cfg.main_tlb.fill_cycles +
                        L.tcu_to_tbu + cfg.micro_tlb.fill_cycles;
    EXPECT_EQ(r.ext.translate_cycles, xl) << "fully cold";
    EXPECT_EQ(xl, 145u) << "with the default latencies and R = 20";
    // Configuration cached, walk caches of no use (another level-0 entry).
    const auto r2 = tb.read(1, 0x7f80'0000'0000ull);
    const uint64_t xl2 = L.tbu_ingress + cfg.micro_tlb.lookup_cycles + L.tbu_to_tcu +
                         cfg.config_cache.lookup_cycles + cfg.main_tlb.lookup_cycles + walk +
                         L.tcu_to_tbu;
    EXPECT_EQ(r2.ext.translate_cycles, xl2) << "4-level walk, configuration cached";
    EXPECT_EQ(tb.counter("", "trans_table_walk_access"), 8u);
  });
}

TEST(smmuv3_timing, cold_nested_walk) {
  const smmuv3_config cfg = test_config();
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    // Guest tables and CD in one 2 MiB IPA region (S2 4K pages, 40-bit IPA,
    // start level 1); data IPA in another 1 GiB region.
    const uint64_t region_ipa = 0x4000'0000;
    page_table s2(tb.mem, tb.alloc, 12, 40, 1, 2);
    const uint64_t region_pa = tb.alloc.alloc(2u << 20, 2u << 20);
    for (uint64_t off = 0; off < (2u << 20); off += 0x1000)
      s2.map(region_ipa + off, region_pa + off, d::s2_rw);
    allocator region;
    region.next = region_pa;
    page_table s1(tb.mem, region, 12, 48, 0, 1, static_cast<int64_t>(region_ipa - region_pa));
    const uint64_t cd_pa = region.alloc(64, 64);
    cd_builder c;
    c.ttb0 = s1.root_ipa();
    tb.write_cd(c, cd_pa);
    s1.map(0x1234'5000, 0x2000'3000, d::s1_rw_all);
    s2.map(0x2000'3000, kData, d::s2_rw);
    ste_builder s;
    s.config = ste_cfg::nested;
    s.s1ctxptr = cd_pa - region_pa + region_ipa;
    s.s2ttb = s2.root;
    tb.write_ste(1, s);

    const auto r = tb.read(1, 0x1234'5000);
    ASSERT_TRUE(r.ok());
    const auto &L = cfg.latency;
    const uint64_t R = tb.mem.read_latency;
    const uint64_t step = L.walk_step;
    const uint64_t tlb = cfg.main_tlb.lookup_cycles;
    const uint64_t wc2 = wc_lookup(cfg.walk_cache_s2, 1);  // stage 2 starts at level 1
    const uint64_t wc1 = wc_lookup(cfg.walk_cache_s1, 0);
    // Stage 2 of the CD's IPA: main TLB miss, cold 3-level walk (levels 1-3).
    const uint64_t s2_cold = tlb + wc2 + 3 * (step + R);
    // Stage 2 of each stage-1 table's IPA: another page of the region, so a
    // main-TLB miss, but the walk caches hold the region's level-3 table:
    // one fetch.
    const uint64_t s2_warm = tlb + wc2 + 1 * (step + R);
    const uint64_t cfg_fetch = cfg.config_cache.lookup_cycles + R /* STE */ + L.ste_check +
                               s2_cold + R /* CD */ + L.cd_check;
    // Stage 1: per level, the step, stage 2 of the descriptor's IPA, the fetch.
    const uint64_t s1_walk = wc1 + 4 * (step + s2_warm + R);
    // Stage 2 of the output IPA: another 1 GiB region, a cold 3-level walk.
    const uint64_t s2_out = tlb + wc2 + 3 * (step + R);
    const uint64_t xl = L.tbu_ingress + cfg.micro_tlb.lookup_cycles + L.tbu_to_tcu + cfg_fetch +
                        tlb /* nested entry: miss */ + s1_walk + s2_out + L.nested_combine +
                        L.tcu_to_tbu;
    EXPECT_EQ(r.ext.translate_cycles, xl);
    EXPECT_EQ(xl, 386u) << "with the default latencies and R = 20";
    // 1 STE + 1 CD reads; 3 + 4 * 1 + 3 stage-2 and 4 stage-1 descriptor reads.
    EXPECT_EQ(tb.counter("", "trans_table_walk_access"), 14u);
  });
}

TEST(smmuv3_timing, cmd_sync_after_tlbi) {
  const smmuv3_config cfg = test_config();
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    const uint64_t flag = tb.alloc.alloc(64, 64);
    const command cmds[] = {cmd::tlbi_nh_va(1, 0, 0x1000), cmd::sync_msi(flag, 1)};
    for (int i = 0; i < 2; i++) tb.mem.write(tb.cmdq + 16 * i, cmds[i].raw, 16);
    const sc_time t0 = sc_core::sc_time_stamp();
    tb.set_reg(reg::CMDQ_PROD, 2);
    while (tb.mem.read32(flag) != 1) wait(tb.mem.written);
    sc_time msi;
    ASSERT_TRUE(tb.mem.last_write_time(flag, &msi));
    const auto &L = cfg.latency;
    const uint64_t R = tb.mem.read_latency, W = tb.mem.write_latency;
    // TLBI_NH_VA (Leaf = 1): the main TLB and every micro TLB sweep in parallel,
    // each sets * invalidate_cycles_per_set; walk caches are not swept.
    const uint64_t sweep = std::max<uint64_t>(
        cfg.main_tlb.sets() * cfg.main_tlb.invalidate_cycles_per_set,
        cfg.micro_tlb.sets() * cfg.micro_tlb.invalidate_cycles_per_set);
    const uint64_t tlbi = R /* fetch */ + L.cmd_decode + L.cmd_tlbi + sweep;
    const uint64_t sync = R /* fetch */ + L.cmd_decode + L.cmd_sync + L.msi + W /* MSI write */;
    // The PROD write costs reg_access; the queue starts when it lands.
    EXPECT_EQ(ns(msi - t0), L.reg_access + tlbi + sync);
    EXPECT_EQ(L.reg_access + tlbi + sync, 570u) << "with the default latencies, R = 20, W = 10";
  });
}

// ------------------------------------------------------------------ fast mode

struct observed {
  std::vector<std::tuple<int, int, int, uint64_t, uint64_t, uint64_t>> dmas;
  std::vector<std::array<uint64_t, 4>> events;
  std::map<std::string, uint64_t> counts;
  bool done = false;
};

// A fixed single-initiator sequence: cold and warm accesses, blocks, both
// TBUs, a write, faults, an invalidation.
void sequence(harness &tb, observed &o) {
  tb.setup();
  auto st = tb.make_s1_stream(1);
  for (uint64_t va = 0x1000; va < 0x9000; va += 0x1000) st.pt->map(va, kData + va, d::s1_rw_all);
  st.pt->map(0x4000'0000, kData + 0x4000'0000, d::s1_ro_all, 2);
  page_table s2(tb.mem, tb.alloc, 12, 40, 1, 2);
  s2.map(0x3000, kData + 0x3000, d::s2_rw);
  ste_builder s;
  s.config = ste_cfg::s2;
  s.vmid = 2;
  s.s2ttb = s2.root;
  tb.write_ste(2, s);
  auto record = [&](const dma_result &r) {
    o.dmas.emplace_back(static_cast<int>(r.resp), static_cast<int>(r.ext.status),
                        r.ext.fault_type, r.ext.output_addr, r.ext.output_page_shift,
                        r.ext.translate_cycles);
  };
  for (int pass = 0; pass < 2; pass++) {
    for (uint64_t va = 0x1000; va < 0x9000; va += 0x2000) record(tb.read(1, va + 8));
    dma_args a;
    a.sid = 1;
    a.port = 1;
    record(tb.dma(0x3010, a));
    record(tb.read(1, 0x4012'3000));
    record(tb.write(1, 0x4012'3000, 5));  // read-only block
    record(tb.read(1, 0x9'0000));         // unmapped
    record(tb.read(2, 0x3000));
    record(tb.read(2, 0x4000));           // stage-2 fault
  }
  tb.run_cmds({cmd::tlbi_nh_all(0), cmd::tlbi_s12_vmall(2)});
  record(tb.read(1, 0x1000));
  record(tb.read(2, 0x3000));
  for (const auto &e : tb.events()) o.events.push_back({e.dw[0], e.dw[1], e.dw[2], e.dw[3]});
  const size_t prefix = std::string(tb.smmu.name()).size();
  for (const stats_group *g : tb.smmu.all_stats())
    for (const auto &[k, v] : g->counters()) o.counts[g->name().substr(prefix) + "." + k] = v;
  o.done = true;
}

TEST(smmuv3_timing, fast_mode_matches_cycle_mode) {
  harness tc("tc", test_config(), timing_mode::cycle);
  harness tf("tf", test_config(), timing_mode::fast);
  observed oc, of;
  sc_core::sc_spawn([&] { sequence(tc, oc); });
  sc_core::sc_spawn([&] { sequence(tf, of); });
  sc_core::sc_start(sc_time(10, sc_core::SC_MS));
  ASSERT_TRUE(oc.done && of.done);
  ASSERT_EQ(oc.dmas.size(), of.dmas.size());
  for (size_t i = 0; i < oc.dmas.size(); i++) EXPECT_EQ(oc.dmas[i], of.dmas[i]) << "dma " << i;
  EXPECT_EQ(oc.events, of.events);
  EXPECT_FALSE(oc.events.empty());
  // Hit and miss counts of every cache, and every other counter.
  for (const char *k : {".tbu0.utlb.hit", ".tbu0.utlb.miss", ".tbu1.utlb.miss",
                        ".tcu.main_tlb.hit", ".tcu.main_tlb.miss", ".tcu.cfg_cache.miss",
                        ".tcu.wc_s1_l2.hit", ".tcu.wc_s2_l1.hit"})
    EXPECT_GT(oc.counts[k], 0u) << k << " exercised";
  for (const auto &[k, v] : oc.counts) EXPECT_EQ(v, of.counts[k]) << k;
  EXPECT_EQ(oc.counts.size(), of.counts.size());
}

}  // namespace
