// SPDX-License-Identifier: MIT
// Driver-bug diagnostics (docs/smmuv3.md "Diagnostics"): a DMA served by a
// TLB entry whose leaf changed in memory without invalidation; a page reused
// (by a TLB fill, a table walk or a DMA) after the TLBI that unmapped it but
// before the CMD_SYNC that completes the unmap.
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

constexpr uint64_t kOld = 0x1'0000'0000ull, kNew = 0x2'0000'0000ull;

TEST(smmuv3_diag, stale_tlb_entry_reported) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(3);
    const uint64_t leaf = st.pt->map(0x1000, kOld, d::s1_rw_all);
    const uint64_t old_desc = tb.mem.read64(leaf);
    EXPECT_EQ(tb.read(3, 0x1008).ext.output_addr, kOld + 8);
    EXPECT_TRUE(tb.smmu.diagnostics().empty());
    // The driver remaps the IOVA without invalidating the TLB.
    st.pt->map(0x1000, kNew, d::s1_rw_all);
    const uint64_t new_desc = tb.mem.read64(leaf);
    const sc_time before = sc_core::sc_time_stamp();
    EXPECT_EQ(tb.read(3, 0x1010).ext.output_addr, kOld + 0x10) << "served by the stale entry";
    ASSERT_EQ(tb.smmu.diagnostics().size(), 1u);
    const diag_report &r = tb.smmu.diagnostics()[0];
    EXPECT_EQ(r.what, diag_report::kind::stale_tlb);
    EXPECT_EQ(r.stream_id, 3u);
    EXPECT_FALSE(r.ssid_valid);
    EXPECT_EQ(r.iova, 0x1010u);
    EXPECT_EQ(r.pa, leaf);
    EXPECT_EQ(r.old_desc, old_desc);
    EXPECT_EQ(r.new_desc, new_desc);
    EXPECT_GE(r.time, before);
    EXPECT_LT(r.time, sc_core::sc_time_stamp()) << "when the DMA was translated";
    EXPECT_NE(r.message.find("stale TLB entry"), std::string::npos);
    // Every such DMA is counted (printed once).
    tb.read(3, 0x1018);
    EXPECT_EQ(tb.smmu.diagnostics().size(), 2u);
    EXPECT_EQ(tb.counter("diagnostics", "stale_tlb"), 2u);
    // Invalidation makes it fresh: no more reports.
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_nh_va(1, 0, 0x1000)}));
    EXPECT_EQ(tb.read(3, 0x1020).ext.output_addr, kNew + 0x20);
    EXPECT_EQ(tb.smmu.diagnostics().size(), 2u);
  });
}

TEST(smmuv3_diag, access_flag_and_dirty_changes_are_not_stale) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    cd_builder c;
    c.ha = c.hd = true;
    auto st = tb.make_s1_stream(1, c);
    const uint64_t leaf = st.pt->map(0x2000, kOld, d::s1_ro_all | d::dbm);
    EXPECT_TRUE(tb.write(1, 0x2000, 1).ok());  // hardware makes it dirty
    // Software cleans it (dirty-state change) and clears AF: not stale.
    tb.mem.write64(leaf, tb.mem.read64(leaf) | d::ap2);
    EXPECT_TRUE(tb.read(1, 0x2000).ok());
    tb.mem.write64(leaf, tb.mem.read64(leaf) & ~d::af);
    EXPECT_TRUE(tb.read(1, 0x2000).ok());
    EXPECT_TRUE(tb.smmu.diagnostics().empty());
    // A permission change is: UXN set.
    tb.mem.write64(leaf, tb.mem.read64(leaf) | d::uxn);
    EXPECT_TRUE(tb.read(1, 0x2000).ok());
    EXPECT_EQ(tb.smmu.diagnostics().size(), 1u);
    // And validity: the descriptor removed.
    tb.mem.write64(leaf, 0);
    EXPECT_TRUE(tb.read(1, 0x2000).ok());
    EXPECT_EQ(tb.smmu.diagnostics().size(), 2u);
  });
}

TEST(smmuv3_diag, unsynced_unmap_reused_by_fill) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(2);
    const uint64_t leaf_a = st.pt->map(0x1000, kOld, d::s1_rw_all);
    const uint64_t desc_a = tb.mem.read64(leaf_a);
    EXPECT_TRUE(tb.read(2, 0x1000).ok());
    // Unmap IOVA A: clear the PTE, TLBI... but no CMD_SYNC yet.
    tb.mem.write64(leaf_a, 0);
    tb.submit({cmd::tlbi_nh_va(1, 0, 0x1000)});
    ASSERT_TRUE(tb.drain());
    // The page is handed out again for IOVA B and used.
    st.pt->map(0x5000, kOld, d::s1_rw_all);
    EXPECT_TRUE(tb.read(2, 0x5000).ok());
    ASSERT_EQ(tb.smmu.diagnostics().size(), 1u);
    const diag_report &r = tb.smmu.diagnostics()[0];
    EXPECT_EQ(r.what, diag_report::kind::unsynced_reuse);
    EXPECT_STREQ(r.used_by, "fill");
    EXPECT_EQ(r.pa, kOld);
    EXPECT_EQ(r.iova, 0x5000u);
    EXPECT_EQ(r.old_desc, desc_a);
    EXPECT_EQ(tb.counter("diagnostics", "unsynced_reuse"), 1u);
    // Reported once per unmap.
    EXPECT_TRUE(tb.read(2, 0x5008).ok());
    EXPECT_EQ(tb.smmu.diagnostics().size(), 1u);
    // Done right (TLBI then CMD_SYNC), reuse is silent.
    tb.mem.write64(st.pt->leaf_addr(0x5000), 0);
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_nh_va(1, 0, 0x5000)}));
    st.pt->map(0x9000, kOld, d::s1_rw_all);
    EXPECT_TRUE(tb.read(2, 0x9000).ok());
    EXPECT_EQ(tb.smmu.diagnostics().size(), 1u);
  });
}

TEST(smmuv3_diag, unsynced_unmap_reused_as_table_and_by_dma) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(2);
    const uint64_t page = tb.alloc.alloc(0x1000, 0x1000);  // a data page in kernel RAM
    st.pt->map(0x1000, page, d::s1_rw_all);
    EXPECT_TRUE(tb.read(2, 0x1000).ok());
    tb.mem.write64(st.pt->leaf_addr(0x1000), 0);
    tb.submit({cmd::tlbi_nh_va(1, 0, 0x1000)});
    ASSERT_TRUE(tb.drain());
    // The freed page becomes a level-3 table for IOVA 0x4000'0000.
    const uint64_t l2_slot = st.pt->slot(0x4000'0000, 2);
    tb.mem.write64(l2_slot, page | d::valid | d::page);
    tb.mem.write64(page, kNew | d::s1_rw_all | d::valid | d::page);
    EXPECT_TRUE(tb.read(2, 0x4000'0000).ok());
    ASSERT_EQ(tb.smmu.diagnostics().size(), 1u);
    EXPECT_STREQ(tb.smmu.diagnostics()[0].used_by, "walk");
    EXPECT_EQ(tb.smmu.diagnostics()[0].pa, page);
    // A second unsynced unmap, and a bypass stream's DMA into that page.
    st.pt->map(0x2000, kOld, d::s1_rw_all);
    EXPECT_TRUE(tb.read(2, 0x2000).ok());
    tb.mem.write64(st.pt->leaf_addr(0x2000), 0);
    tb.submit({cmd::tlbi_nh_va(1, 0, 0x2000)});
    ASSERT_TRUE(tb.drain());
    ste_builder b;
    b.config = ste_cfg::bypass;
    tb.write_ste(9, b);
    EXPECT_TRUE(tb.write(9, kOld + 0x10, 7).ok());
    ASSERT_EQ(tb.smmu.diagnostics().size(), 2u);
    EXPECT_STREQ(tb.smmu.diagnostics()[1].used_by, "dma");
    EXPECT_EQ(tb.smmu.diagnostics()[1].stream_id, 9u);
  });
}

TEST(smmuv3_diag, diagnostics_can_be_disabled) {
  smmuv3_config cfg = test_config();
  cfg.diagnostics.stale_tlb = false;
  cfg.diagnostics.unsynced_unmap = false;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(3);
    st.pt->map(0x1000, kOld, d::s1_rw_all);
    tb.read(3, 0x1000);
    st.pt->map(0x1000, kNew, d::s1_rw_all);
    tb.read(3, 0x1000);
    EXPECT_TRUE(tb.smmu.diagnostics().empty());
  });
}

}  // namespace
