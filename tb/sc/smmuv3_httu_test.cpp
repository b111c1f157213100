// SPDX-License-Identifier: MIT
// Hardware translation table updates (SMMUv3 §3.13, §5.4 CD.HA/HD, §5.2
// STE.S2HA/S2HD, IDR0.HTTU): the access flag and the dirty state (DBM) are
// set in memory by an atomic compare-and-swap through the downstream port.
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

size_t cas_writes_to(const test_memory &m, uint64_t addr) {
  size_t n = 0;
  for (const auto &w : m.writes)
    if (w.addr == addr && w.len == 8) n++;
  return n;
}

TEST(smmuv3_httu, access_flag_set_by_hardware) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    cd_builder c;
    c.ha = true;
    auto st = tb.make_s1_stream(1, c);
    const uint64_t leaf = st.pt->map(0x5000, kData, d::s1_rw_all & ~d::af);
    EXPECT_TRUE(tb.read(1, 0x5000).ok());
    EXPECT_NE(tb.mem.read64(leaf) & d::af, 0u) << "AF set in memory";
    EXPECT_EQ(cas_writes_to(tb.mem, leaf), 1u);
    EXPECT_EQ(tb.counter("", "httu_updates"), 1u);
    // The table descriptors are not updated (no HAFT).
    EXPECT_TRUE(tb.read(1, 0x5008).ok());
    EXPECT_EQ(cas_writes_to(tb.mem, leaf), 1u) << "second access hits the TLB";
  });
}

TEST(smmuv3_httu, dirty_state_with_dbm) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    cd_builder c;
    c.ha = c.hd = true;
    auto st = tb.make_s1_stream(1, c);
    // Writeable-clean: DBM = 1, AP[2] = 1.
    const uint64_t leaf = st.pt->map(0x6000, kData, d::s1_ro_all | d::dbm);
    EXPECT_TRUE(tb.read(1, 0x6000).ok());
    EXPECT_NE(tb.mem.read64(leaf) & d::ap2, 0u) << "a read leaves it clean";
    EXPECT_TRUE(tb.write(1, 0x6000, 0x11).ok()) << "the TLB's clean entry sends the write to the walker";
    EXPECT_EQ(tb.mem.read64(leaf) & d::ap2, 0u) << "dirty: AP[2] cleared";
    EXPECT_EQ(tb.mem.read64(kData), 0x11u);
    EXPECT_EQ(tb.counter("", "httu_rewalks"), 1u);
    const size_t updates = cas_writes_to(tb.mem, leaf);
    EXPECT_TRUE(tb.write(1, 0x6008, 0x22).ok());
    EXPECT_EQ(cas_writes_to(tb.mem, leaf), updates) << "already dirty: no update";
    // Without DBM a read-only page stays read-only.
    st.pt->map(0x7000, kData + 0x1000, d::s1_ro_all);
    EXPECT_EQ(tb.write(1, 0x7000, 1).ext.fault_type, evt::F_PERMISSION);
  });
}

TEST(smmuv3_httu, stage2_access_and_dirty) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    page_table s2(tb.mem, tb.alloc, 12, 40, 1, 2);
    // S2: AF = 0, DBM = 1 with S2AP[1] (write) = 0: writeable-clean.
    const uint64_t leaf = s2.map(0x9000, kData, (d::s2_ro & ~d::af) | d::dbm);
    ste_builder s;
    s.config = ste_cfg::s2;
    s.s2ha = s.s2hd = true;
    s.s2ttb = s2.root;
    tb.write_ste(1, s);
    EXPECT_TRUE(tb.read(1, 0x9000).ok());
    EXPECT_NE(tb.mem.read64(leaf) & d::af, 0u);
    EXPECT_EQ(tb.mem.read64(leaf) & d::ap2, 0u);
    EXPECT_TRUE(tb.write(1, 0x9000, 3).ok());
    EXPECT_NE(tb.mem.read64(leaf) & d::ap2, 0u) << "S2AP[1] set: dirty";
  });
}

TEST(smmuv3_httu, no_httu_means_access_fault) {
  smmuv3_config cfg = test_config();
  cfg.idr.httu = 0;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(1);
    const uint64_t leaf = st.pt->map(0x5000, kData, d::s1_rw_all & ~d::af);
    EXPECT_EQ(tb.read(1, 0x5000).ext.fault_type, evt::F_ACCESS);
    EXPECT_EQ(tb.mem.read64(leaf) & d::af, 0u);
    cd_builder c;
    c.ha = true;  // ILLEGAL without IDR0.HTTU
    c.asid = 2;
    tb.make_s1_stream(2, c);
    EXPECT_EQ(tb.read(2, 0x5000).ext.fault_type, evt::C_BAD_CD);
  });
}

TEST(smmuv3_httu, update_abort_is_walk_eabt) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    cd_builder c;
    c.ha = true;
    auto st = tb.make_s1_stream(1, c);
    st.pt->map(0x5000, kData, d::s1_rw_all & ~d::af);
    const uint64_t leaf = st.pt->leaf_addr(0x5000);
    // Reads of the table work, the atomic update is refused.
    tb.mem.fail_write_range(leaf, leaf + 8);
    EXPECT_EQ(tb.read(1, 0x5000).ext.fault_type, evt::F_WALK_EABT);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].dw[3], leaf) << "FetchAddr: the descriptor whose update aborted";
  });
}

}  // namespace
