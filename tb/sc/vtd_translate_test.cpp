// SPDX-License-Identifier: MIT
// Translation in legacy mode (TT multi-level / pass-through, 3/4/5-level
// second stage, 2 MiB / 1 GiB superpages) and scalable mode (PGTT first
// stage 4/5-level, second stage, nested, pass-through), the bytes landing
// where the tables say, A/D updates in memory (first stage always, second
// stage with SSADE), IOTLB hits and the stale-translation diagnostic.
#include "vtd_test_util.h"

using namespace vtd_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;  // data pages, away from the tables

// Write through the IOMMU, then check the bytes at the physical address.
void write_and_check(harness &tb, const dma_args &base, uint64_t iova, uint64_t pa) {
  dma_args a = base;
  a.write = true;
  a.len = 8;
  uint64_t v = 0x1122'3344'5566'7788ull ^ iova;
  const auto r = tb.dma(iova, a, reinterpret_cast<unsigned char *>(&v));
  ASSERT_TRUE(r.ok()) << std::hex << iova << " fault 0x" << unsigned(r.ext.fault_type);
  EXPECT_EQ(r.ext.output_addr, pa);
  EXPECT_EQ(tb.mem.read64(pa), v);
}

TEST(vtd_translate, legacy_second_stage_levels) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    const uint16_t sids[3] = {0x0100, 0x0108, 0x0110};
    for (unsigned aw = 1; aw <= 3; aw++) {
      page_table pt(tb.mem, tb.alloc, aw + 2, ss::table);
      const uint64_t iova = 0x12'3456'7000ull & ((1ull << (30 + 9 * aw)) - 1);
      pt.map(iova, kData + aw * 0x1000, ss::R | ss::W);
      tb.legacy_context(sids[aw - 1], 0, aw, pt.root, static_cast<uint16_t>(aw));
      dma_args a;
      a.sid = sids[aw - 1];
      write_and_check(tb, a, iova + 0x18, kData + aw * 0x1000 + 0x18);
    }
    EXPECT_EQ(tb.counter("", "second_stage_walks"), 3u);
    EXPECT_EQ(tb.counter("", "page_walk_reads"), 3u + 4u + 5u);
    EXPECT_EQ(tb.counter("faults", "recorded"), 0u);
  });
}

TEST(vtd_translate, legacy_superpages_and_pass_through) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    page_table pt(tb.mem, tb.alloc, 4, ss::table);
    pt.map(0x4000'0000, kData + 0x4000'0000, ss::R | ss::W | ss::PS, 3);  // 1 GiB
    pt.map(0x20'0000, kData + 0x60'0000, ss::R | ss::W | ss::PS, 2);        // 2 MiB
    tb.legacy_context(0x0100, 0, 2, pt.root, 5);
    dma_args a;
    write_and_check(tb, a, 0x4123'4568, kData + 0x4123'4568);
    auto r = tb.read(0x0100, 0x4000'0000);
    EXPECT_EQ(r.ext.output_page_shift, 30u);
    write_and_check(tb, a, 0x2f'fff0, kData + 0x6f'fff0);
    r = tb.read(0x0100, 0x20'0000);
    EXPECT_EQ(r.ext.output_page_shift, 21u);
    EXPECT_EQ(tb.counter("", "second_stage_walks"), 2u);  // later reads hit the IOTLB
    EXPECT_EQ(tb.counter("iotlb", "hit"), 2u);
    // TT = 10b: pass-through.
    tb.legacy_context(0x0200, 2, 2, 0, 6);
    a.sid = 0x0200;
    write_and_check(tb, a, kData + 0x123458, kData + 0x123458);
    // Translation disabled: everything passes.
    tb.set_reg(r::GCMD, (tb.reg(r::GSTS) & (r::QIE | r::TE)) & ~r::TE);
    EXPECT_EQ(tb.reg(r::GSTS) & (r::TE | r::QIE), r::QIE);
    a.sid = 0x0300;  // no context at all
    write_and_check(tb, a, kData + 0x8, kData + 0x8);
  });
}

TEST(vtd_translate, scalable_second_stage_with_accessed_dirty) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    page_table pt(tb.mem, tb.alloc, 4, ss::table);
    const uint64_t leaf = pt.map(0x7000, kData + 0x3000, ss::R | ss::W);
    const uint64_t dir = tb.alloc.alloc(4096);
    tb.sm_context(0x0100, dir);
    harness::pasid_fields f;
    f.pgtt = 2;
    f.slptptr = pt.root;
    f.ssade = true;
    f.did = 7;
    tb.pasid_entry(dir, 0, f);  // RID_PASID 0: requests without PASID
    auto r = tb.read(0x0100, 0x7010);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.ext.output_addr, kData + 0x3010);
    EXPECT_EQ(tb.mem.read64(leaf), kData + 0x3000 + (ss::R | ss::W | ss::A)) << "read: A";
    // A write hits the IOTLB entry, but its leaf is clean: walk again and set D.
    r = tb.write(0x0100, 0x7018);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(tb.mem.read64(leaf), kData + 0x3000 + (ss::R | ss::W | ss::A | ss::D));
    EXPECT_EQ(tb.counter("", "iotlb_dirty_rewalk"), 1u);
    EXPECT_EQ(tb.counter("", "ad_updates"), 2u);
    r = tb.write(0x0100, 0x7020);  // now a plain hit
    EXPECT_EQ(tb.counter("", "ad_updates"), 2u);
    EXPECT_EQ(tb.counter("", "second_stage_walks"), 2u);
    // Without SSADE nothing is written.
    page_table pt2(tb.mem, tb.alloc, 4, ss::table);
    const uint64_t leaf2 = pt2.map(0x7000, kData + 0x5000, ss::R | ss::W);
    f.ssade = false;
    f.slptptr = pt2.root;
    f.did = 8;
    tb.pasid_entry(dir, 5, f);
    dma_args a;
    a.pv = true;
    a.pasid = 5;
    a.write = true;
    r = tb.dma(0x7000, a);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(tb.mem.read64(leaf2), kData + 0x5000 + (ss::R | ss::W));
  });
}

TEST(vtd_translate, scalable_first_stage_4_and_5_level) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    const uint64_t dir = tb.alloc.alloc(4096);
    tb.sm_context(0x0100, dir);
    page_table p4(tb.mem, tb.alloc, 4, fs::table);
    const uint64_t leaf4 = p4.map(0x7fff'1234'5000ull, kData + 0x9000, fs::P | fs::RW | fs::US);
    page_table p5(tb.mem, tb.alloc, 5, fs::table);
    p5.map(0x00f0'1234'5000ull, kData + 0xa000, fs::P | fs::RW | fs::US | fs::G);
    harness::pasid_fields f;
    f.pgtt = 1;
    f.fsptptr = p4.root;
    f.did = 3;
    tb.pasid_entry(dir, 0x42, f);
    f.fsptptr = p5.root;
    f.fspm = 1;
    f.did = 4;
    tb.pasid_entry(dir, 0x1043, f);  // another directory entry
    dma_args a;
    a.pv = true;
    a.pasid = 0x42;
    write_and_check(tb, a, 0x7fff'1234'5ff8ull, kData + 0x9ff8);
    EXPECT_EQ(tb.mem.read64(leaf4), kData + 0x9000 + (fs::P | fs::RW | fs::US | fs::A | fs::D));
    a.pasid = 0x1043;
    write_and_check(tb, a, 0x00f0'1234'5008ull, kData + 0xa008);
    EXPECT_EQ(tb.counter("", "first_stage_walks"), 2u);
    EXPECT_EQ(tb.counter("", "page_walk_reads"), 4u + 5u);
    EXPECT_EQ(tb.counter("", "pasid_entry_reads"), 2u);
  });
}

TEST(vtd_translate, scalable_nested) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    const int64_t delta = 0x10'0000'0000ll;  // GPA = PA + delta for the first-stage tables
    page_table s2(tb.mem, tb.alloc, 4, ss::table);
    page_table s1(tb.mem, tb.alloc, 4, fs::table, delta);
    const uint64_t iova = 0x5555'6000ull, gpa = 0x20'0000'3000ull;
    s1.map(iova, gpa, fs::P | fs::RW | fs::US);
    // Stage 2 maps every first-stage table page and the data page.
    for (unsigned n = 4; n >= 1; n--) {
      const uint64_t table_pa = n == 4 ? s1.root : (s1.slot(iova, n) & ~0xfffull);
      s2.map(table_pa + static_cast<uint64_t>(delta), table_pa, ss::R | ss::W);
    }
    s2.map(gpa, kData + 0x7000, ss::R | ss::W);
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
    write_and_check(tb, a, iova + 0x10, kData + 0x7010);
    EXPECT_EQ(tb.counter("", "nested_walks"), 1u);
    // 4 first-stage fetches, each after a second-stage walk of its table's
    // GPA: 4 fetches cold, then 1 each (the tables share a 2 MiB GPA region,
    // so the second-stage PDE cache hits); then the output GPA's walk: 3
    // fetches (another 1 GiB region: only the PML4E cache hits).
    EXPECT_EQ(tb.counter("", "page_walk_reads"), 4u + (4u + 1u + 1u + 1u) + 3u);
    EXPECT_EQ(tb.counter("pwc_ss_pd", "hit"), 3u);
    EXPECT_EQ(tb.counter("pwc_ss_pml4", "hit"), 4u);
    const auto r = tb.read(0x0100, iova);  // no PASID: RID_PASID 0 has no entry
    EXPECT_FALSE(r.ok());
  });
}

TEST(vtd_translate, scalable_pass_through) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    const uint64_t dir = tb.alloc.alloc(4096);
    tb.sm_context(0x0100, dir);
    harness::pasid_fields f;
    f.pgtt = 4;
    f.did = 2;
    tb.pasid_entry(dir, 0, f);
    dma_args a;
    write_and_check(tb, a, kData + 0x4444, kData + 0x4444);
    EXPECT_EQ(tb.counter("", "page_walk_reads"), 0u);
  });
}

TEST(vtd_translate, stale_translation_diagnostic) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    page_table pt(tb.mem, tb.alloc, 4, ss::table);
    const uint64_t leaf = pt.map(0x1000, kData, ss::R | ss::W);
    tb.legacy_context(0x0100, 0, 2, pt.root, 1);
    ASSERT_TRUE(tb.read(0x0100, 0x1000).ok());
    // A/D-only changes are not stale.
    tb.mem.write64(leaf, kData | ss::R | ss::W | ss::A);
    ASSERT_TRUE(tb.read(0x0100, 0x1008).ok());
    EXPECT_TRUE(tb.iommu.diagnostics().empty());
    // Remap without invalidation: the DMA still uses the old page, reported.
    tb.mem.write64(leaf, (kData + 0x5000) | ss::R | ss::W);
    const auto r = tb.read(0x0100, 0x1010);
    EXPECT_EQ(r.ext.output_addr, kData + 0x10);
    ASSERT_EQ(tb.iommu.diagnostics().size(), 1u);
    const diag_report &d = tb.iommu.diagnostics()[0];
    EXPECT_EQ(d.source_id, 0x0100);
    EXPECT_EQ(d.iova, 0x1010u);
    EXPECT_EQ(d.pa, leaf);
    EXPECT_EQ(d.old_desc, kData | ss::R | ss::W);
    EXPECT_EQ(d.new_desc, (kData + 0x5000) | ss::R | ss::W);
    EXPECT_EQ(tb.counter("diagnostics", "stale_tlb"), 1u);
    // After the page-selective invalidation the new mapping is used, no report.
    tb.flush({desc::iotlb(3, 1, 0x1000, 0)});
    EXPECT_EQ(tb.read(0x0100, 0x1010).ext.output_addr, kData + 0x5010);
    EXPECT_EQ(tb.iommu.diagnostics().size(), 1u);
  });
}

TEST(vtd_translate, iio_iommu_counters) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    page_table pt(tb.mem, tb.alloc, 4, ss::table);
    pt.map(0x1000, kData, ss::R | ss::W);
    pt.map(0x20'0000, kData + 0x20'0000, ss::R | ss::W | ss::PS, 2);
    tb.legacy_context(0x0100, 0, 2, pt.root, 1);
    tb.read(0x0100, 0x1000);     // context miss, IOTLB miss, 4 fetches
    tb.read(0x0100, 0x1008);     // 4K hit
    tb.read(0x0100, 0x20'0000);  // miss; the PDPTE is cached: 1 fetch
    tb.read(0x0100, 0x21'0000);  // 2M hit
    EXPECT_EQ(tb.counter("", "iommu0.first_lookups"), 4u);
    EXPECT_EQ(tb.counter("", "iommu0.4k_hits"), 1u);
    EXPECT_EQ(tb.counter("", "iommu0.2m_hits"), 1u);
    EXPECT_EQ(tb.counter("", "iommu0.1g_hits"), 0u);
    EXPECT_EQ(tb.counter("", "iommu0.misses"), 2u);
    EXPECT_EQ(tb.counter("", "iommu0.ctxt_cache_lookups"), 4u);
    EXPECT_EQ(tb.counter("", "iommu0.ctxt_cache_hits"), 3u);
    EXPECT_EQ(tb.counter("", "iommu0.pwt_cache_lookups"), 2u);
    EXPECT_EQ(tb.counter("", "iommu0.pwt_cache_hits"), 1u);
    EXPECT_EQ(tb.counter("", "iommu1.num_mem_accesses"), 2u + 4u + 1u);
    EXPECT_EQ(tb.counter("iotlb", "fill"), 2u);
    tb.flush({desc::iotlb(1), desc::cc(1), desc::pc(3, 0)});
    EXPECT_EQ(tb.counter("", "iommu3.num_inval_iotlb"), 1u);
    EXPECT_EQ(tb.counter("", "iommu3.num_inval_ctxt_cache"), 1u);
    EXPECT_EQ(tb.counter("", "iommu3.num_inval_pasid_cache"), 1u);
  });
}

TEST(vtd_translate, iotlb_reach_is_64_pages) {
  // A 256 KiB window of 4 KiB pages fits the default 64-entry IOTLB; a
  // 260 KiB one does not: cycling through it with LRU misses every time.
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::fast);
  tb.run([&] {
    tb.setup(false);
    page_table pt(tb.mem, tb.alloc, 4, ss::table);
    for (uint64_t p = 0; p < 65; p++) pt.map(0x100'0000 + p * 0x1000, kData + p * 0x1000, ss::R | ss::W);
    tb.legacy_context(0x0100, 0, 2, pt.root, 1);
    auto sweep = [&](unsigned pages) {
      for (uint64_t p = 0; p < pages; p++) tb.read(0x0100, 0x100'0000 + p * 0x1000);
    };
    sweep(64);
    const uint64_t misses = tb.counter("", "iommu0.misses");
    sweep(64);
    EXPECT_EQ(tb.counter("", "iommu0.misses"), misses) << "64 pages: all hits";
    sweep(65);
    const uint64_t m1 = tb.counter("", "iommu0.misses");
    sweep(65);
    EXPECT_EQ(tb.counter("", "iommu0.misses") - m1, 65u) << "65 pages: LRU thrashes";
  });
}

TEST(vtd_translate, first_stage_global_pages_and_1g) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    const uint64_t dir = tb.alloc.alloc(4096);
    tb.sm_context(0x0100, dir);
    page_table s1(tb.mem, tb.alloc, 4, fs::table);
    s1.map(0x4000'0000, kData, fs::P | fs::RW | fs::US | fs::PS | fs::G, 3);  // 1 GiB, global
    const uint64_t leaf = s1.map(0x1000, kData + 0x8000'0000, fs::P | fs::RW | fs::US);
    harness::pasid_fields f;
    f.pgtt = 1;
    f.fsptptr = s1.root;
    f.did = 3;
    tb.pasid_entry(dir, 1, f);
    tb.pasid_entry(dir, 2, f);  // same tables, same domain
    dma_args a;
    a.pv = true;
    a.pasid = 1;
    auto r = tb.dma(0x4567'8000, a);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.ext.output_addr, kData + 0x0567'8000);
    EXPECT_EQ(r.ext.output_page_shift, 30u);
    tb.dma(0x1000, a);
    // PASID 2 of the domain hits the global entry, not the non-global one.
    a.pasid = 2;
    const uint64_t walks = tb.counter("", "first_stage_walks");
    tb.dma(0x4000'0000, a);
    EXPECT_EQ(tb.counter("", "first_stage_walks"), walks);
    tb.dma(0x1000, a);
    EXPECT_EQ(tb.counter("", "first_stage_walks"), walks + 1);
    // Non-global invalidation of PASID 1 keeps the global entry; the
    // page-selective one (granularity 3) removes it too.
    tb.mem.write64(leaf, (kData + 0x9000'0000) | fs::P | fs::RW | fs::US | fs::A);
    tb.flush({desc::piotlb(2, 3, 1)});
    a.pasid = 1;
    EXPECT_EQ(tb.dma(0x1000, a).ext.output_addr, kData + 0x9000'0000);
    const uint64_t w2 = tb.counter("", "first_stage_walks");
    tb.dma(0x4000'0000, a);
    EXPECT_EQ(tb.counter("", "first_stage_walks"), w2) << "global entry kept";
    tb.flush({desc::piotlb(3, 3, 1, 0x4000'0000, 18)});
    tb.dma(0x4000'0000, a);
    EXPECT_EQ(tb.counter("", "first_stage_walks"), w2 + 1);
  });
}

TEST(vtd_translate, interrupt_range_writes_pass_untranslated) {
  vtd_config cfg;
  cfg.interrupt_range_base = 0x0800'0000;  // a platform's MSI doorbells
  cfg.interrupt_range_size = 0x1'0000;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    tb.legacy_context(0x0100, 0, 2, tb.alloc.alloc(4096), 1);  // empty table
    dma_args a;
    a.write = true;
    a.len = 4;
    uint32_t v = 0x33;
    auto r = tb.dma(0x0800'2000, a, reinterpret_cast<unsigned char *>(&v));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(tb.mem.read32(0x0800'2000), 0x33u);
    EXPECT_EQ(r.ext.translate_cycles, cfg.latency.ingress);
    EXPECT_EQ(tb.counter("", "interrupt_requests"), 1u);
    // A read there, or a write outside, is DMA: translated, and here it faults.
    a.write = false;
    EXPECT_FALSE(tb.dma(0x0800'2000, a).ok());
    a.write = true;
    EXPECT_FALSE(tb.dma(0x0801'0000, a).ok());
    EXPECT_EQ(tb.counter("faults", "recorded"), 2u);
  });
}

}  // namespace
