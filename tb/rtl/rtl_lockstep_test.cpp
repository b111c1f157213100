// SPDX-License-Identifier: MIT
// The RTL IOTLB (rtl/iotlb.sv) against the cache template (models/common/
// cache.h): lock-step on random and adversarial streams (lockstep.h), exact
// cycles of directed operations, the sa_cache backend path, the geometry
// check, and waveforms.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <systemc>

#include "models/vtd/iotlb.h"
#include "rtl/iotlb_backend.h"
#include "tb/rtl/lockstep.h"

namespace iommusim::rtl {
namespace {

using tb::entry;
using tb::key;
using tb::lockstep;
using tb::setup;
using tb::stream;

void expect_lockstep(const setup &s, const stream &st, uint64_t ops, uint64_t seed) {
  lockstep ls(s, seed);
  const std::string err = ls.run(ops, st);
  ASSERT_EQ(err, "");
  const tb::totals &t = ls.counts();
  // The stream must have exercised what it claims to check.
  EXPECT_GT(t.hits, t.lookups / 20);
  EXPECT_GT(t.hits, 0u);
  EXPECT_LT(t.hits, t.lookups);
  EXPECT_GT(t.evictions, 0u);
  EXPECT_GT(t.in_place, 0u);
  if (st.inv_permille) {
    EXPECT_GT(t.invalidations, 10u);
    EXPECT_GT(t.invalidated, 0u);
  }
  std::printf("lock-step: %llu cycles, %llu lookups (%llu hits), %llu fills (%llu evictions, "
              "%llu in place), %llu invalidations (%llu entries)\n",
              (unsigned long long)t.cycles, (unsigned long long)t.lookups,
              (unsigned long long)t.hits, (unsigned long long)t.fills,
              (unsigned long long)t.evictions, (unsigned long long)t.in_place,
              (unsigned long long)t.invalidations, (unsigned long long)t.invalidated);
}

// MMU-600-like main TLB: 512 sets x 4 ways, tree-PLRU, 3-cycle lookup, flash.
TEST(RtlLockstep, MainTlbPlru) {
  stream st;
  st.pages = 1500;  // a working set larger than the 2048 entries
  st.inv_permille = 2;
  expect_lockstep(setup{512, false, 3, 1, true, {}}, st, 150000, 1);
}

TEST(RtlLockstep, SmallPlruLatency1) {
  expect_lockstep(setup{8, false, 1, 1, true, {}}, stream{}, 100000, 2);
}

TEST(RtlLockstep, RoundRobinSweptInvalidateAll) {
  // No flash clear: invalidate-all is a sweep of 16 sets x 2 cycles.
  expect_lockstep(setup{16, true, 2, 2, false, {}}, stream{}, 100000, 3);
}

TEST(RtlLockstep, FullyAssociativeLongPipeline) {
  // One set of 4 ways; the deepest pipeline (8 lookups in flight).
  stream st;
  st.pages = 8;
  expect_lockstep(setup{1, false, 8, 3, true, {}}, st, 60000, 4);
}

TEST(RtlLockstep, AdversarialConflicts) {
  // A lookup and a fill every cycle (the fill sees the same cycle's lookup
  // touch), a handful of pages fighting over two sets, frequent invalidations
  // (each kind; lookups issued in their request cycle), many globals and
  // large pages overlapping small ones, many in-place refills.
  stream st;
  st.lookup_pct = 100;
  st.fill_pct = 100;
  st.inv_permille = 0;
  st.pages = 6;
  st.contexts = 2;
  st.asids = 2;
  st.vmids = 1;
  st.global_pct = 40;
  st.large_pct = 45;
  st.refill_pct = 40;
  expect_lockstep(setup{2, false, 2, 1, true, {}}, st, 30000, 5);
  stream st2 = st;
  st2.fill_pct = 50;
  st2.inv_permille = 60;
  expect_lockstep(setup{2, true, 3, 4, false, {}}, st2, 30000, 6);
}

TEST(RtlLockstep, ManySeedsSmallSets) {
  for (uint64_t seed = 10; seed < 16; seed++) {
    stream st;
    st.pages = 12 + static_cast<unsigned>(seed);
    st.inv_permille = 20;
    expect_lockstep(setup{4, seed % 2 == 1, 1 + static_cast<unsigned>(seed % 4), 1 + static_cast<unsigned>(seed % 3), seed % 3 != 0, {}},
                    st, 20000, seed);
  }
}

// ------------------------------------------------------------ exact cycles

models::hw_tag tag4k(uint64_t vpage, uint32_t asid = 1) { return {7, asid, 2, false, 0, vpage}; }

TEST(RtlTiming, LookupResponseAfterLatencyAndOnePerCycle) {
  iotlb_rtl t(iotlb_params{512, false, 3, 1, true, {}});
  // Three lookups in consecutive cycles: responses in the three cycles after
  // the pipeline's 3, in order.
  for (uint16_t i = 0; i < 3; i++) {
    iotlb_rtl::lookup_req q;
    q.valid = true;
    q.id = static_cast<uint16_t>(100 + i);
    q.key = {7, 1, 2, uint64_t{i} << 12};
    q.nprobes = 1;
    q.sets[0] = i;
    t.drive_lookup(q);
    t.step();
    t.idle();
    t.eval();
    EXPECT_EQ(t.response().valid, t.cycle() == 3) << "cycle " << t.cycle();
  }
  for (uint16_t i = 0; i < 3; i++) {
    EXPECT_EQ(t.cycle(), 3u + i);
    const auto r = t.response();
    EXPECT_TRUE(r.valid);
    EXPECT_EQ(r.id, 100 + i);
    EXPECT_FALSE(r.hit);
    EXPECT_EQ(r.set, i);  // a miss reports the first probe's set and way 0
    EXPECT_EQ(r.way, 0u);
    t.step();
    t.eval();
  }
  EXPECT_FALSE(t.response().valid);
}

TEST(RtlTiming, SweepCostsSetsTimesCyclesPerSetFlashCostsOne) {
  iotlb_backend b(iotlb_params{512, false, 3, 3, true, {}});
  EXPECT_EQ(b.fill(5, tag4k(5), {0x1234, 3, 9}).way, 0u);
  EXPECT_EQ(b.fill(5, tag4k(6), {0x1235, 3, 9}).way, 1u);
  iotlb_rtl::inv_req q;
  q.op = inv_op::asid;
  q.asid_en = true;
  q.asid = 1;
  const auto r = b.invalidate(q);
  EXPECT_EQ(r.cycles, 512u * 3u);
  EXPECT_EQ(r.count, 2u);
  b.fill(9, tag4k(9), {0x1, 1, 0});
  const auto a = b.invalidate_all();
  EXPECT_EQ(a.cycles, 1u);
  EXPECT_EQ(a.count, 1u);
  const uint32_t sets[1] = {9};
  const auto l = b.lookup({7, 1, 2, 9u << 12}, sets, 1);
  EXPECT_FALSE(l.hit);
  EXPECT_EQ(l.cycles, 3u);
}

TEST(RtlTiming, PlruAndRoundRobinVictims) {
  // Fill ways 0..3 of set 0, touch way 0 by a lookup: tree-PLRU then evicts
  // way 2 (root points right after way 0's touch, way 3 filled last points
  // node 3 left); round-robin evicts 0, 1, 2, ... whatever is touched.
  for (bool rr : {false, true}) {
    iotlb_backend b(iotlb_params{4, rr, 1, 1, true, {}});
    for (uint32_t w = 0; w < 4; w++) EXPECT_EQ(b.fill(0, tag4k(w * 4), {w, 1, 0}).way, w);
    const uint32_t sets[1] = {0};
    const auto l = b.lookup({7, 1, 2, 0}, sets, 1);
    ASSERT_TRUE(l.hit);
    EXPECT_EQ(l.way, 0u);
    EXPECT_EQ(l.data.opage, 0u);
    const auto f = b.fill(0, tag4k(100), {9, 1, 0});
    EXPECT_TRUE(f.evicted);
    EXPECT_EQ(f.way, rr ? 0u : 2u);
    const auto g = b.fill(0, tag4k(104), {9, 1, 0});
    EXPECT_EQ(g.way, rr ? 1u : 1u);
    // The same tag again: in place, no eviction, the pointer does not move.
    const auto h = b.fill(0, tag4k(104), {10, 1, 0});
    EXPECT_TRUE(h.in_place);
    EXPECT_FALSE(h.evicted);
    EXPECT_EQ(h.way, g.way);
  }
}

// --------------------------------------------- sa_cache with the RTL backend

TEST(RtlBackend, SaCacheOnRtlMatchesSaCacheInCpp) {
  // The same API calls on two sa_caches, one deciding in C++ and one on the
  // RTL: identical results, victims, costs and statistics.
  setup s{16, false, 3, 2, true, {}};
  models::cache_config c = s.cache();
  models::cache_config hc = c;
  hc.backend = iotlb_backend_factory();
  models::sa_cache<entry> sw(c), hw(hc);
  ASSERT_NE(hw.backend(), nullptr);
  ASSERT_EQ(sw.backend(), nullptr);
  std::mt19937_64 rng(77);
  for (int i = 0; i < 20000; i++) {
    key k{static_cast<uint32_t>(rng() % 2), static_cast<uint32_t>(rng() % 3), 0,
          (rng() % 90) << 12 | (rng() & 0xFFF)};
    if (rng() % 8 == 0) k.va = (rng() % 4) << 21;
    const auto a = sw.lookup(k);
    const auto b = hw.lookup(k);
    ASSERT_EQ(static_cast<bool>(a), static_cast<bool>(b)) << i;
    ASSERT_EQ(a.set, b.set);
    ASSERT_EQ(a.way, b.way);
    ASSERT_EQ(a.cycles, b.cycles);
    ASSERT_EQ(a.probes, b.probes);
    if (a) {
      ASSERT_TRUE(a.entry->same_tag(*b.entry) && a.entry->opage == b.entry->opage);
    }
    if (!a) {
      entry e;
      e.ctx = k.ctx;
      e.asid = k.asid;
      e.global = rng() % 10 == 0;
      e.cls = rng() % 6 == 0 ? 1 : 0;
      e.vpage = k.va >> entry::shifts[e.cls];
      e.opage = rng() & 0xFFFF'FE00;
      const auto fa = sw.fill(e);
      const auto fb = hw.fill(e);
      ASSERT_EQ(fa.set, fb.set);
      ASSERT_EQ(fa.way, fb.way);
      ASSERT_EQ(fa.evicted, fb.evicted);
      ASSERT_EQ(fa.cycles, fb.cycles);
      ASSERT_EQ(fa.victim.has_value(), fb.victim.has_value());
      if (fa.victim) {
        ASSERT_TRUE(fa.victim->same_tag(*fb.victim));
      }
    }
    if (i % 997 == 0) {
      const uint32_t asid = static_cast<uint32_t>(rng() % 3);
      auto pred = [asid](const entry &e) { return e.asid == asid; };
      const auto ia = sw.invalidate_if(pred);
      const auto ib = hw.invalidate_if(pred);
      ASSERT_EQ(ia.count, ib.count);
      ASSERT_EQ(ia.cycles, ib.cycles);
      ASSERT_EQ(ib.cycles, 16u * 2u);
    }
    if (i % 4999 == 0) {
      const auto ia = sw.invalidate_all();
      const auto ib = hw.invalidate_all();
      ASSERT_EQ(ia.count, ib.count);
      ASSERT_EQ(ib.cycles, 1u);
    }
  }
  const auto &x = sw.stats(), &y = hw.stats();
  EXPECT_EQ(x.lookups, y.lookups);
  EXPECT_EQ(x.hits, y.hits);
  EXPECT_EQ(x.misses, y.misses);
  EXPECT_EQ(x.fills, y.fills);
  EXPECT_EQ(x.evictions, y.evictions);
  EXPECT_EQ(x.invalidations, y.invalidations);
  EXPECT_EQ(x.invalidate_sweeps, y.invalidate_sweeps);
  EXPECT_GT(y.evictions, 100u);
  EXPECT_EQ(sw.valid_count(), hw.valid_count());
}

TEST(RtlBackend, VtdIotlbOnRtlMatchesCpp) {
  // The VT-d IOTLB's entry type (models/vtd/iotlb.h) on the RTL: first-stage
  // entries tagged by PASID (global ones answer any PASID), second-stage ones
  // by domain only; 4K/2M/1G pages; invalidation by domain and by PASID.
  using models::vtd::iotlb_entry;
  using models::vtd::iotlb_key;
  using models::vtd::xl_kind;
  models::cache_config c = setup{32, false, 2, 1, true, {}}.cache();
  models::cache_config hc = c;
  hc.backend = iotlb_backend_factory();
  models::sa_cache<iotlb_entry> sw(c), hw(hc);
  std::mt19937_64 rng(5);
  uint64_t hits = 0, evictions = 0;
  for (int i = 0; i < 20000; i++) {
    iotlb_key k;
    k.did = static_cast<uint16_t>(rng() % 3);
    k.kind = rng() % 3 == 0 ? xl_kind::second : xl_kind::first;
    k.pasid = static_cast<uint32_t>(rng() % 4);
    k.ia = (rng() % 200) << 12 | (rng() & 0xFFF);
    const auto a = sw.lookup(k);
    const auto b = hw.lookup(k);
    ASSERT_EQ(static_cast<bool>(a), static_cast<bool>(b)) << i;
    ASSERT_EQ(a.set, b.set);
    ASSERT_EQ(a.way, b.way);
    ASSERT_EQ(a.cycles, b.cycles);
    hits += static_cast<bool>(a);
    if (!a) {
      iotlb_entry e;
      e.did = k.did;
      e.kind = k.kind;
      e.pasid = k.kind == xl_kind::second ? 0 : k.pasid;
      e.global = k.kind == xl_kind::first && rng() % 8 == 0;
      e.page_shift = rng() % 10 == 0 ? 21 : 12;
      e.ia = k.ia >> e.page_shift << e.page_shift;
      e.oa = (rng() & 0xFFFF) << 21;
      const auto fa = sw.fill(e);
      const auto fb = hw.fill(e);
      ASSERT_EQ(fa.way, fb.way) << i;
      ASSERT_EQ(fa.evicted, fb.evicted);
      evictions += fa.evicted;
    }
    if (i % 1499 == 0) {
      const uint16_t did = static_cast<uint16_t>(rng() % 3);
      const uint32_t pasid = static_cast<uint32_t>(rng() % 4);
      std::function<bool(const iotlb_entry &)> pred = [did](const iotlb_entry &e) { return e.did == did; };
      if (i % 2) pred = [did, pasid](const iotlb_entry &e) { return e.did == did && e.pasid == pasid; };
      const auto ia = sw.invalidate_if(pred);
      const auto ib = hw.invalidate_if(pred);
      ASSERT_EQ(ia.count, ib.count);
      ASSERT_EQ(ia.cycles, ib.cycles);
    }
  }
  EXPECT_EQ(sw.stats().hits, hw.stats().hits);
  EXPECT_EQ(sw.stats().evictions, hw.stats().evictions);
  EXPECT_GT(hits, 2000u);
  EXPECT_GT(evictions, 1000u);
}

TEST(RtlBackend, EntryWithoutHardwareMappingRefusesBackend) {
  struct plain {
    using key_type = uint64_t;
    uint64_t k;
    static unsigned probes(const uint64_t &) { return 1; }
    static uint64_t probe_hash(const uint64_t &x, unsigned) { return x; }
    uint64_t hash() const { return k; }
    bool matches(const uint64_t &x) const { return x == k; }
    bool same_tag(const plain &o) const { return o.k == k; }
  };
  models::cache_config c = setup{}.cache();
  c.backend = iotlb_backend_factory();
  try {
    models::sa_cache<plain> p(c);
    FAIL() << "accepted";
  } catch (const std::invalid_argument &e) {
    EXPECT_STREQ(e.what(), "iotlb: this cache's entries have no hardware tag mapping");
  }
}

TEST(RtlBackend, CheckNamesWhatTheRtlCannotBe) {
  models::cache_config c = setup{512, false, 3, 1, true, {}}.cache();
  c.name = "main_tlb";
  EXPECT_EQ(iotlb_check(c), "");
  auto with = [&](auto f) {
    models::cache_config d = c;
    f(d);
    return iotlb_check(d);
  };
  EXPECT_EQ(with([](auto &d) { d.ways = 8; }),
            "main_tlb: tlb_impl rtl: the RTL IOTLB has 4 ways, not 8");
  EXPECT_EQ(with([](auto &d) { d.entries = 4096; }),
            "main_tlb: tlb_impl rtl: 1024 sets exceed the RTL's 512 (at most 2048 entries)");
  EXPECT_EQ(with([](auto &d) { d.policy = models::replacement_policy::lru; }),
            "main_tlb: tlb_impl rtl: policy lru is not in the RTL (plru or round_robin)");
  EXPECT_EQ(with([](auto &d) { d.parallel_probes = false; }),
            "main_tlb: tlb_impl rtl: the RTL probes every page size in parallel");
  EXPECT_EQ(with([](auto &d) { d.lookup_cycles = 9; }),
            "main_tlb: tlb_impl rtl: lookup must be 1..8 cycles, not 9");
  EXPECT_EQ(with([](auto &d) { d.fill_cycles = 2; }),
            "main_tlb: tlb_impl rtl: the RTL writes a fill in its request cycle (fill must be 0)");
  EXPECT_EQ(with([](auto &d) { d.invalidate_cycles_per_set = 0; }),
            "main_tlb: tlb_impl rtl: invalidate_per_set must be 1..255, not 0");
  EXPECT_EQ(with([](auto &d) { d.ways = 3; }),
            "main_tlb: ways 3 does not divide entries 2048");
}

TEST(RtlWaves, FstWaveformOnRequest) {
  const std::string path = ::testing::TempDir() + "iotlb_waves.fst";
  std::remove(path.c_str());
  {
    setup s{8, false, 2, 1, true, path};
    lockstep ls(s, 9);
    ASSERT_EQ(ls.run(500, stream{}), "");
  }
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  ASSERT_TRUE(f.good());
  EXPECT_GT(static_cast<long>(f.tellg()), 1000L);
  // Where GTKWave's tools are installed, the file must read back as FST.
  if (std::ifstream("/usr/bin/fst2vcd").good()) {
    const std::string cmd = "/usr/bin/fst2vcd " + path + " 2>/dev/null | grep -c 'var wire 1 .* lk_valid '";
    FILE *pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buf[32] = {};
    const bool got = std::fgets(buf, sizeof buf, pipe) != nullptr;
    pclose(pipe);
    EXPECT_TRUE(got);
    EXPECT_NE(std::string(buf), "0\n");  // the port, at the top and in the iotlb scope
  }
  // No file unless asked.
  std::remove(path.c_str());
  {
    lockstep ls(setup{8, false, 2, 1, true, {}}, 9);
    ASSERT_EQ(ls.run(100, stream{}), "");
  }
  EXPECT_FALSE(std::ifstream(path).good());
}

}  // namespace
}  // namespace iommusim::rtl

int sc_main(int argc, char **argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
