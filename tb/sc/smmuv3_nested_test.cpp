// SPDX-License-Identifier: MIT
// Nested translation (SMMUv3 §3.3.2 with STE.Config == 0b111, §5.2, §7.3):
// the CD pointer, the stage-1 table addresses and the stage-1 output are all
// IPAs translated by stage 2; faults report the stage and CLASS (CD, TT, IN)
// with the IPA; the main TLB holds the combined result at the smaller page
// size; split-stage ATS (STE.EATS == 0b10).
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;
constexpr uint64_t kRegionIpa = 0x4000'0000ull;  // where the guest's tables are, as IPAs
constexpr uint64_t kS2 = 1ull << 39, kRnW = 1ull << 35, kTTRnW = 1ull << 44;

// A guest: stage-1 tables and a CD in a 2 MiB region that stage 2 maps page
// by page (IPA kRegionIpa -> PA region_pa).
struct guest {
  harness &tb;
  page_table s2;
  allocator region;
  uint64_t region_pa;
  std::unique_ptr<page_table> s1;
  uint64_t cd_pa = 0;
  ste_builder ste;

  guest(harness &h, uint32_t sid, uint16_t vmid, cd_builder c = cd_builder(),
        ste_builder s = ste_builder(), bool map_region = true)
      : tb(h), s2(h.mem, h.alloc, 12, 40, 1, 2) {
    region_pa = tb.alloc.alloc(2u << 20, 2u << 20);
    if (map_region)
      for (uint64_t off = 0; off < (2u << 20); off += 0x1000)
        s2.map(kRegionIpa + off, region_pa + off, d::s2_rw);
    region.next = region_pa;
    s1 = std::make_unique<page_table>(tb.mem, region, 12, 48, 0, 1,
                                      static_cast<int64_t>(kRegionIpa - region_pa));
    cd_pa = region.alloc(64, 64);
    c.ttb0 = s1->root_ipa();
    tb.write_cd(c, cd_pa);
    ste = s;
    ste.config = ste_cfg::nested;
    ste.s1ctxptr = ipa(cd_pa);
    ste.s2ttb = s2.root;
    ste.vmid = vmid;
    tb.write_ste(sid, ste);
  }
  uint64_t ipa(uint64_t pa) const { return pa - region_pa + kRegionIpa; }
  // VA -> IPA (stage 1) -> PA (stage 2).
  void map(uint64_t va, uint64_t ipa_, uint64_t pa, uint64_t s1_attrs = d::s1_rw_all,
           uint64_t s2_attrs = d::s2_rw, int s1_level = 3, int s2_level = 3) {
    s1->map(va, ipa_, s1_attrs, s1_level);
    s2.map(ipa_, pa, s2_attrs, s2_level);
  }
};

TEST(smmuv3_nested, translates_through_both_stages) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    guest g(tb, 1, 9);
    g.map(0x1234'5000, 0x2000'3000, kData + 0x6000);
    tb.mem.write64(kData + 0x6010, 0xc0ffee);
    uint64_t v = 0;
    const auto r = tb.read(1, 0x1234'5010, &v);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(v, 0xc0ffeeu);
    EXPECT_EQ(r.ext.output_addr, kData + 0x6010);
    const uint64_t walks = tb.counter("", "trans_table_walk_access");
    EXPECT_TRUE(tb.read(1, 0x1234'5018).ok());
    EXPECT_EQ(tb.counter("", "trans_table_walk_access"), walks) << "micro TLB hit";
    EXPECT_TRUE(tb.events().empty());
  });
}

TEST(smmuv3_nested, stage2_fault_classes) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    // CLASS CD: the CD's IPA is not mapped by stage 2.
    {
      ste_builder s;
      guest g(tb, 1, 1, cd_builder(), s, /*map_region=*/false);
      EXPECT_EQ(tb.read(1, 0x1000).ext.fault_type, evt::F_TRANSLATION);
      const auto ev = tb.events();
      ASSERT_EQ(ev.size(), 1u);
      EXPECT_EQ(ev[0].dw[1], kRnW | kS2 | (0ull << 40));
      EXPECT_EQ(ev[0].dw[2], 0x1000u);
      EXPECT_EQ(ev[0].dw[3], g.ipa(g.cd_pa) & ~0xfffull);
    }
    // CLASS TT: a stage-1 table's IPA is not mapped by stage 2.
    {
      guest g(tb, 2, 2);
      g.map(0x7000, 0x2000'0000, kData);
      const uint64_t l3_desc_pa = g.s1->leaf_addr(0x7000);
      const uint64_t l3_table_ipa = g.ipa(l3_desc_pa) & ~0xfffull;
      tb.mem.write64(g.s2.leaf_addr(l3_table_ipa), 0);  // invalid
      EXPECT_EQ(tb.read(2, 0x7000).ext.fault_type, evt::F_TRANSLATION);
      const auto ev = tb.events();
      ASSERT_EQ(ev.size(), 1u);
      EXPECT_EQ(ev[0].dw[1], kRnW | kS2 | (1ull << 40) | kTTRnW);
      EXPECT_EQ(ev[0].dw[3], l3_table_ipa);
    }
    // CLASS IN: the stage-1 output IPA is not mapped; then stage 2 read-only.
    {
      guest g(tb, 3, 3);
      g.s1->map(0x8000, 0x2100'0000, d::s1_rw_all);
      EXPECT_EQ(tb.read(3, 0x8010).ext.fault_type, evt::F_TRANSLATION);
      g.map(0x9000, 0x2200'0000, kData, d::s1_rw_all, d::s2_ro);
      EXPECT_TRUE(tb.read(3, 0x9000).ok());
      EXPECT_EQ(tb.write(3, 0x9008, 1).ext.fault_type, evt::F_PERMISSION);
      // Stage 1 faults are stage 1 (S2 == 0, no IPA).
      EXPECT_EQ(tb.read(3, 0xa000).ext.fault_type, evt::F_TRANSLATION);
      const auto ev = tb.events();
      ASSERT_EQ(ev.size(), 3u);
      EXPECT_EQ(ev[0].dw[1], kRnW | kS2 | (2ull << 40));
      EXPECT_EQ(ev[0].dw[3], 0x2100'0000u);
      EXPECT_EQ(ev[1].id(), evt::F_PERMISSION);
      EXPECT_EQ(ev[1].dw[1], kS2 | (2ull << 40));
      EXPECT_EQ(ev[1].dw[3], 0x2200'0000u);
      EXPECT_EQ(ev[2].dw[1], kRnW | (2ull << 40));
      EXPECT_EQ(ev[2].dw[3], 0u);
    }
  });
}

TEST(smmuv3_nested, combined_entries_use_the_smaller_page) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    guest g(tb, 1, 4);
    // Stage 1 2M block over stage 2 4K pages.
    g.s1->map(0x4000'0000, 0x3000'0000, d::s1_rw_all, 2);
    g.s2.map(0x3000'5000, kData + 0x5000, d::s2_rw);
    // Stage 1 4K page over a stage 2 2M block.
    g.s1->map(0x5000'1000, 0x3020'1000, d::s1_rw_all);
    g.s2.map(0x3020'0000, kData + 0x20'0000, d::s2_rw, 2);
    // Both 2M.
    g.s1->map(0x6000'0000, 0x3040'0000, d::s1_rw_all, 2);
    g.s2.map(0x3040'0000, kData + 0x40'0000, d::s2_rw, 2);
    auto r = tb.read(1, 0x4000'5008);
    EXPECT_EQ(r.ext.output_addr, kData + 0x5008);
    EXPECT_EQ(r.ext.output_page_shift, 12);
    r = tb.read(1, 0x5000'1008);
    EXPECT_EQ(r.ext.output_addr, kData + 0x20'1008);
    EXPECT_EQ(r.ext.output_page_shift, 12);
    r = tb.read(1, 0x6001'2348);
    EXPECT_EQ(r.ext.output_addr, kData + 0x41'2348);
    EXPECT_EQ(r.ext.output_page_shift, 21);
  });
}

TEST(smmuv3_nested, split_stage_ats) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup(true, reg::CR0_ATSCHK);
    ste_builder s;
    s.eats = 2;
    guest g(tb, 1, 5, cd_builder(), s);
    g.map(0x7000, 0x2000'7000, kData + 0x7000);
    dma_args a;
    a.sid = 1;
    a.at = at_kind::translation_request;
    auto r = tb.dma(0x7000, a);
    EXPECT_EQ(r.ext.status, iommu_status::ok);
    EXPECT_EQ(r.ext.output_addr, 0x2000'7000u) << "the response carries the IPA";
    // The device's Translated transaction at that IPA goes through stage 2.
    tb.mem.write64(kData + 0x7020, 0x5eed);
    a.at = at_kind::translated;
    uint64_t v = 0;
    r = tb.dma(0x2000'7020, a, &v);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(v, 0x5eedu);
  });
}

}  // namespace
