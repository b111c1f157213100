// SPDX-License-Identifier: MIT
// Command queue (SMMUv3 §4, §7.1): every command's effect, CMD_SYNC and its
// completion signals, illegal commands (CERROR_ILL with CMDQ_CONS.ERR and
// GERROR.CMDQ_ERR, recovery through GERRORN), fetch aborts (CERROR_ABT),
// queue wrap.
//
// Caching is observed by remapping a page in memory without invalidation:
// a cached translation still answers with the old output address until the
// right command removes it.
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

constexpr uint64_t kOld = 0x1'0000'0000ull, kNew = 0x2'0000'0000ull;

smmuv3_config quiet_config() {
  smmuv3_config c = test_config();
  c.diagnostics.stale_tlb = false;  // these tests leave stale entries on purpose
  c.diagnostics.unsynced_unmap = false;
  return c;
}

uint64_t out(harness &tb, uint32_t sid, uint64_t va, unsigned port = 0) {
  dma_args a;
  a.sid = sid;
  a.port = port;
  return tb.dma(va, a).ext.output_addr;
}

TEST(smmuv3_cmdq, cmd_sync_msi_write_and_consumption) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    const uint64_t flag = tb.alloc.alloc(64, 64);
    tb.mem.write64(flag, 0xffffffff);
    tb.submit({cmd::sync_msi(flag, 0)});  // Linux's "MSI to memory": poll for 0
    ASSERT_TRUE(tb.drain());
    EXPECT_EQ(tb.mem.read32(flag), 0u);
    EXPECT_EQ(tb.reg(reg::CMDQ_CONS) & 0xff, 1u);
    tb.submit({cmd::sync_msi(flag + 8, 0xdeadbeef)});
    ASSERT_TRUE(tb.drain());
    EXPECT_EQ(tb.mem.read32(flag + 8), 0xdeadbeefu);
    EXPECT_EQ(tb.counter("commands", "CMD_SYNC"), 2u);
  });
}

TEST(smmuv3_cmdq, cmd_sync_wired_irq_and_sev) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.submit({cmd::sync_irq(), cmd::sync_sev(), cmd::sync_none()});
    ASSERT_TRUE(tb.drain());
    ASSERT_EQ(tb.irqs.size(), 2u);  // one pulse on the CMD_SYNC line
    EXPECT_EQ(tb.irqs[0], std::make_pair(2u, true));
    EXPECT_EQ(tb.irqs[1], std::make_pair(2u, false));
    EXPECT_EQ(tb.counter("", "sev"), 1u);
  });
}

TEST(smmuv3_cmdq, illegal_command_stops_queue_until_gerrorn) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.submit({cmd::tlbi_nsnh_all(), cmd::make(0xff), cmd::sync_none()});
    EXPECT_FALSE(tb.drain());
    const uint32_t cons = static_cast<uint32_t>(tb.reg(reg::CMDQ_CONS));
    EXPECT_EQ(cons & 0xff, 1u) << "CONS stays on the failing command";
    EXPECT_EQ((cons >> 24) & 0x7f, cerror::ILL);
    const uint32_t gerror = static_cast<uint32_t>(tb.reg(reg::GERROR));
    EXPECT_EQ((gerror ^ tb.reg(reg::GERRORN)) & reg::GERROR_CMDQ_ERR, reg::GERROR_CMDQ_ERR);
    ASSERT_FALSE(tb.irqs.empty());
    EXPECT_EQ(tb.irqs[0].first, 3u) << "GERROR interrupt (wired)";
    EXPECT_EQ(tb.counter("commands", "CERROR_ILL"), 1u);
    // Recovery as Linux does it: replace the command by a CMD_SYNC, acknowledge.
    const command s = cmd::sync_none();
    tb.mem.write(tb.cmdq + 16, s.raw, 16);
    tb.set_reg(reg::GERRORN, gerror);
    EXPECT_TRUE(tb.drain());
    EXPECT_EQ(tb.reg(reg::CMDQ_CONS) & 0xff, 3u);
  });
}

TEST(smmuv3_cmdq, illegal_encodings) {
  smmuv3_config cfg = test_config();
  cfg.idr.hyp = false;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    const command bad[] = {
        cmd::make(op::TLBI_EL3_ALL),                            // Secure only
        cmd::tlbi_el2_all(),                                    // IDR0.HYP == 0
        cmd::make(op::CMD_SYNC | (3ull << 12)),                 // CS reserved
        cmd::pri_resp(1, 0, 3),                                 // response reserved
        cmd::make(0x07),                                        // CFGI_VMS_PIDM: not implemented
        cmd::make(0x47),                                        // unknown
    };
    uint32_t prod_before = tb.cmd_prod;
    for (const auto &c : bad) {
      tb.submit({c});
      EXPECT_FALSE(tb.drain()) << std::hex << c.raw[0];
      const uint32_t cons = static_cast<uint32_t>(tb.reg(reg::CMDQ_CONS));
      EXPECT_EQ(cons & 0x7f, prod_before & 0x7f);
      EXPECT_EQ((cons >> 24) & 0x7f, cerror::ILL) << std::hex << c.raw[0];
      const command s = cmd::sync_none();
      tb.mem.write(tb.cmdq + 16 * (prod_before & 0x3f), s.raw, 16);
      tb.set_reg(reg::GERRORN, tb.reg(reg::GERROR));
      EXPECT_TRUE(tb.drain());
      prod_before = tb.cmd_prod;
    }
    EXPECT_EQ(tb.counter("commands", "CERROR_ILL"), 6u);
  });
}

TEST(smmuv3_cmdq, resume_without_stall_model_is_illegal) {
  smmuv3_config cfg = test_config();
  cfg.idr.stall_model = 1;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.submit({cmd::resume(1, 0, resume_ac::RETRY)});
    EXPECT_FALSE(tb.drain());
    EXPECT_EQ((tb.reg(reg::CMDQ_CONS) >> 24) & 0x7f, cerror::ILL);
  });
}

TEST(smmuv3_cmdq, command_fetch_abort) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.mem.fail_range(tb.cmdq + 16, tb.cmdq + 32);
    tb.submit({cmd::sync_none(), cmd::sync_none()});
    EXPECT_FALSE(tb.drain());
    const uint32_t cons = static_cast<uint32_t>(tb.reg(reg::CMDQ_CONS));
    EXPECT_EQ(cons & 0xff, 1u);
    EXPECT_EQ((cons >> 24) & 0x7f, cerror::ABT);
    EXPECT_EQ(tb.counter("commands", "CERROR_ABT"), 1u);
  });
}

TEST(smmuv3_cmdq, queue_wraps) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.cmdq_log2 = 2;  // four entries
  tb.run([&] {
    tb.setup();
    for (int round = 0; round < 5; round++) {
      tb.submit({cmd::sync_none(), cmd::sync_none(), cmd::sync_none()});
      ASSERT_TRUE(tb.drain());
      EXPECT_EQ(tb.reg(reg::CMDQ_CONS) & 0x7, tb.cmd_prod) << "index and wrap bit";
    }
    EXPECT_EQ(tb.cmd_prod, (15u & 7u)) << "15 commands in a 4-entry queue";
    EXPECT_EQ(tb.counter("commands", "CMD_SYNC"), 15u);
  });
}

TEST(smmuv3_cmdq, cfgi_commands) {
  harness tb("tb", quiet_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    // Streams 1..4, each with its own CD (ASID) mapping VA 0x1000.
    std::vector<harness::s1_stream> st;
    for (uint32_t sid = 1; sid <= 4; sid++) {
      cd_builder c;
      c.asid = static_cast<uint16_t>(sid);
      st.push_back(tb.make_s1_stream(sid, c));
      st.back().pt->map(0x1000, kOld, d::s1_rw_all);
    }
    for (uint32_t sid = 1; sid <= 4; sid++) EXPECT_EQ(out(tb, sid, 0x1000), kOld);
    // Point every STE at a new CD (new ASID, new table) without invalidation.
    std::vector<std::unique_ptr<page_table>> nt;
    for (uint32_t sid = 1; sid <= 4; sid++) {
      nt.push_back(std::make_unique<page_table>(tb.mem, tb.alloc, 12, 48, 0));
      nt.back()->map(0x1000, kNew + sid * 0x1000, d::s1_rw_all);
      cd_builder c;
      c.asid = static_cast<uint16_t>(100 + sid);
      c.ttb0 = nt.back()->root;
      ste_builder s;
      s.s1ctxptr = tb.write_cd(c);
      tb.write_ste(sid, s);
    }
    for (uint32_t sid = 1; sid <= 4; sid++) EXPECT_EQ(out(tb, sid, 0x1000), kOld) << "cached";
    ASSERT_TRUE(tb.run_cmds({cmd::cfgi_ste(1)}));
    EXPECT_EQ(out(tb, 1, 0x1000), kNew + 0x1000);
    EXPECT_EQ(out(tb, 2, 0x1000), kOld);
    ASSERT_TRUE(tb.run_cmds({cmd::cfgi_cd(2, 0)}));
    EXPECT_EQ(out(tb, 2, 0x1000), kNew + 0x2000);
    ASSERT_TRUE(tb.run_cmds({cmd::cfgi_cd_all(3)}));
    EXPECT_EQ(out(tb, 3, 0x1000), kNew + 0x3000);
    EXPECT_EQ(out(tb, 4, 0x1000), kOld);
    ASSERT_TRUE(tb.run_cmds({cmd::cfgi_ste_range(4, 1)}));  // StreamIDs 4..7
    EXPECT_EQ(out(tb, 4, 0x1000), kNew + 0x4000);
    const uint64_t inval = tb.counter("tcu.cfg_cache", "invalidation");
    ASSERT_TRUE(tb.run_cmds({cmd::cfgi_all()}));
    EXPECT_EQ(tb.counter("tcu.cfg_cache", "invalidation") - inval, 4u);
    for (const char *c : {"CMD_CFGI_STE", "CMD_CFGI_CD", "CMD_CFGI_CD_ALL", "CMD_CFGI_STE_RANGE"})
      EXPECT_GE(tb.counter("commands", c), 1u) << c;
  });
}

TEST(smmuv3_cmdq, tlbi_stage1_commands) {
  harness tb("tb", quiet_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    cd_builder ca, cb;
    ca.asid = 1;
    cb.asid = 2;
    auto a = tb.make_s1_stream(1, ca);
    auto b = tb.make_s1_stream(2, cb);
    // ASID 1: 0x1000..0x9000 (0x5000 global); ASID 2: 0x1000.
    for (uint64_t va = 0x1000; va <= 0x9000; va += 0x1000)
      a.pt->map(va, kOld + va, va == 0x5000 ? (d::s1_rw_all & ~d::ng) : d::s1_rw_all);
    b.pt->map(0x1000, kOld + 0x100000, d::s1_rw_all);
    auto warm = [&] {
      for (uint64_t va = 0x1000; va <= 0x9000; va += 0x1000) out(tb, 1, va);
      out(tb, 2, 0x1000);
    };
    auto remap = [&] {
      for (uint64_t va = 0x1000; va <= 0x9000; va += 0x1000)
        a.pt->map(va, kNew + va, va == 0x5000 ? (d::s1_rw_all & ~d::ng) : d::s1_rw_all);
      b.pt->map(0x1000, kNew + 0x100000, d::s1_rw_all);
    };
    auto fresh = [&](uint32_t sid, uint64_t va) { return out(tb, sid, va) >= kNew; };
    warm();
    remap();
    EXPECT_FALSE(fresh(1, 0x1000));
    // NH_VA: ASID 1's entry for 0x2000 only.
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_nh_va(1, 0, 0x2000)}));
    EXPECT_TRUE(fresh(1, 0x2000));
    EXPECT_FALSE(fresh(1, 0x3000));
    EXPECT_FALSE(fresh(2, 0x1000));
    // NH_VAA: every ASID at 0x1000.
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_nh_vaa(0, 0x1000)}));
    EXPECT_TRUE(fresh(1, 0x1000));
    EXPECT_TRUE(fresh(2, 0x1000));
    // Range: 4K granule, NUM 1, SCALE 0: 2 * 2 = 4 pages from 0x6000 (0x6000..0x9000).
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_nh_va_range(1, 0, 0x6000, 1, 0, 1)}));
    for (uint64_t va = 0x6000; va <= 0x9000; va += 0x1000) EXPECT_TRUE(fresh(1, va)) << va;
    EXPECT_FALSE(fresh(1, 0x4000));
    // NH_ASID: ASID 1's non-global entries; the global 0x5000 stays.
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_nh_asid(1, 0)}));
    EXPECT_TRUE(fresh(1, 0x3000));
    EXPECT_TRUE(fresh(1, 0x4000));
    EXPECT_FALSE(fresh(1, 0x5000)) << "global entries survive TLBI_NH_ASID";
    // NH_ALL: everything of VMID 0.
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_nh_all(0)}));
    EXPECT_TRUE(fresh(1, 0x5000));
    for (const char *c : {"CMD_TLBI_NH_VA", "CMD_TLBI_NH_VAA", "CMD_TLBI_NH_ASID", "CMD_TLBI_NH_ALL"})
      EXPECT_GE(tb.counter("commands", c), 1u) << c;
  });
}

TEST(smmuv3_cmdq, tlbi_stage2_and_el2_commands) {
  harness tb("tb", quiet_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    // Stage-2 stream, VMID 5.
    page_table s2(tb.mem, tb.alloc, 12, 40, 1, 2);
    s2.map(0x1000, kOld + 0x1000, d::s2_rw);
    s2.map(0x2000, kOld + 0x2000, d::s2_rw);
    ste_builder s;
    s.config = ste_cfg::s2;
    s.vmid = 5;
    s.s2ttb = s2.root;
    tb.write_ste(1, s);
    // EL2 stream (StreamWorld EL2, no ASID).
    ste_builder e;
    e.strw = 2;
    auto el2 = tb.make_s1_stream(2, cd_builder(), e);
    el2.pt->map(0x1000, kOld + 0x10000, d::s1_rw_all);
    out(tb, 1, 0x1000);
    out(tb, 1, 0x2000);
    out(tb, 2, 0x1000);
    s2.map(0x1000, kNew + 0x1000, d::s2_rw);
    s2.map(0x2000, kNew + 0x2000, d::s2_rw);
    el2.pt->map(0x1000, kNew + 0x10000, d::s1_rw_all);
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_s2_ipa(5, 0x1000)}));
    EXPECT_EQ(out(tb, 1, 0x1000), kNew + 0x1000);
    EXPECT_EQ(out(tb, 1, 0x2000), kOld + 0x2000);
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_nh_all(0)}));  // does not touch EL2 entries
    EXPECT_EQ(out(tb, 2, 0x1000), kOld + 0x10000);
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_el2_va(0, 0x1000)}));
    EXPECT_EQ(out(tb, 2, 0x1000), kNew + 0x10000);
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_s12_vmall(5)}));
    EXPECT_EQ(out(tb, 1, 0x2000), kNew + 0x2000);
    // The rest run and count (their effects are covered above or equal).
    ASSERT_TRUE(tb.run_cmds({cmd::tlbi_el2_all(), cmd::tlbi_el2_asid(1), cmd::tlbi_el2_vaa(0x1000),
                             cmd::tlbi_nsnh_all()}));
    for (const char *c : {"CMD_TLBI_S2_IPA", "CMD_TLBI_S12_VMALL", "CMD_TLBI_EL2_VA",
                          "CMD_TLBI_EL2_ALL", "CMD_TLBI_EL2_ASID", "CMD_TLBI_EL2_VAA",
                          "CMD_TLBI_NSNH_ALL"})
      EXPECT_EQ(tb.counter("commands", c), 1u) << c;
  });
}

TEST(smmuv3_cmdq, prefetch_commands_fill_caches) {
  harness tb("tb", quiet_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(1);
    st.pt->map(0x1000, kOld, d::s1_rw_all);
    ASSERT_TRUE(tb.run_cmds({cmd::prefetch_config(1), cmd::prefetch_addr(1, 0x1000)}));
    const uint64_t cfg_miss = tb.counter("tcu.cfg_cache", "miss");
    const uint64_t tlb_miss = tb.counter("tcu.main_tlb", "miss");
    EXPECT_EQ(out(tb, 1, 0x1000), kOld);
    EXPECT_EQ(tb.counter("tcu.cfg_cache", "miss"), cfg_miss) << "configuration prefetched";
    EXPECT_EQ(tb.counter("tcu.main_tlb", "miss"), tlb_miss) << "translation prefetched";
    EXPECT_EQ(tb.counter("commands", "CMD_PREFETCH_CONFIG"), 1u);
    EXPECT_EQ(tb.counter("commands", "CMD_PREFETCH_ADDR"), 1u);
  });
}

}  // namespace
