// SPDX-License-Identifier: MIT
// Stream table and STE configurations (SMMUv3 §3.3, §5.2): abort, bypass,
// stage 1, stage 2 (nested in smmuv3_nested_test.cpp); linear and 2-level
// tables; S1DSS and substreams; linear and 2-level CD tables; the
// configuration errors and fetch faults with their exact event records.
// Expected records are written out bit by bit from §7.3, not with the
// model's encoder.
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

// dw0 of a record: EventID [7:0], SSV [11], SubstreamID [31:12], StreamID [63:32].
uint64_t hdr(uint8_t id, uint32_t sid, bool ssv = false, uint32_t ssid = 0) {
  return uint64_t{id} | (ssv ? (1ull << 11) | (uint64_t{ssid} << 12) : 0) | (uint64_t{sid} << 32);
}

void expect_record(const event_record &r, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3) {
  EXPECT_EQ(r.dw[0], d0) << std::hex << "dw0 " << r.dw[0];
  EXPECT_EQ(r.dw[1], d1) << std::hex << "dw1 " << r.dw[1];
  EXPECT_EQ(r.dw[2], d2) << std::hex << "dw2 " << r.dw[2];
  EXPECT_EQ(r.dw[3], d3) << std::hex << "dw3 " << r.dw[3];
}

TEST(smmuv3_ste, stage1_linear_translates) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(5);
    st.pt->map(0x4000'1000, kData + 0x3000, d::s1_rw_all);
    tb.mem.write64(kData + 0x3008, 0x1122334455667788ull);
    uint64_t v = 0;
    const auto r = tb.read(5, 0x4000'1008, &v);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(v, 0x1122334455667788ull);
    EXPECT_EQ(r.ext.output_addr, kData + 0x3008);
    // A write lands at the translated address.
    EXPECT_TRUE(tb.write(5, 0x4000'1010, 0xabcdef).ok());
    EXPECT_EQ(tb.mem.read64(kData + 0x3010), 0xabcdefu);
    EXPECT_TRUE(tb.events().empty());
  });
}

TEST(smmuv3_ste, abort_ste_terminates_without_event) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    ste_builder s;
    s.config = ste_cfg::abort;
    tb.write_ste(3, s);
    const auto r = tb.read(3, 0x1000);
    EXPECT_EQ(r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(r.ext.status, iommu_status::config_abort);
    // Config 0b001..0b011 are Reserved and behave as abort.
    s.config = 0b010;
    tb.write_ste(4, s);
    EXPECT_EQ(tb.read(4, 0x1000).ext.status, iommu_status::config_abort);
    EXPECT_TRUE(tb.events().empty());
  });
}

TEST(smmuv3_ste, bypass_ste_passes_the_address) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    ste_builder s;
    s.config = ste_cfg::bypass;
    tb.write_ste(9, s);
    tb.mem.write64(kData + 0x40, 77);
    uint64_t v = 0;
    const auto r = tb.read(9, kData + 0x40, &v);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(v, 77u);
    EXPECT_EQ(r.ext.output_addr, kData + 0x40);
  });
}

TEST(smmuv3_ste, stage2_only_translates_ipa) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    // 40-bit IPA, 4K granule, start level 1 with two concatenated tables.
    page_table s2(tb.mem, tb.alloc, 12, 40, 1, 2);
    s2.map(0x80'0000'2000ull, kData + 0x5000, d::s2_rw);  // IPA bit 39 set: second table
    ste_builder s;
    s.config = ste_cfg::s2;
    s.vmid = 3;
    s.s2ttb = s2.root;
    tb.write_ste(1, s);
    tb.mem.write64(kData + 0x5010, 0x55);
    uint64_t v = 0;
    const auto r = tb.read(1, 0x80'0000'2010ull, &v);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(v, 0x55u);
    // An unmapped IPA: stage-2 F_TRANSLATION, CLASS IN, IPA reported.
    EXPECT_EQ(tb.read(1, 0x1000).ext.fault_type, evt::F_TRANSLATION);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    // RnW [99] = 1, S2 [103], CLASS [105:104] = IN (0b10)
    expect_record(ev[0], hdr(evt::F_TRANSLATION, 1), (1ull << 35) | (1ull << 39) | (2ull << 40),
                  0x1000, 0x1000);
  });
}

TEST(smmuv3_ste, two_level_stream_table) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.strtab_2lvl = true;
  tb.split = 6;
  tb.strtab_log2 = 12;
  tb.run([&] {
    tb.setup();
    const uint32_t sid = 0x1c5;  // L1 index 7, L2 index 5
    auto st = tb.make_s1_stream(sid);
    st.pt->map(0x7000, kData, d::s1_rw_all);
    EXPECT_TRUE(tb.read(sid, 0x7000).ok());
    EXPECT_EQ(tb.ste_addr(sid), tb.l2_tables[7] + 5 * 64);
    // L1 descriptor with Span 0 (L1 index 8): C_BAD_STREAMID.
    EXPECT_EQ(tb.read(0x200, 0x7000).ext.fault_type, evt::C_BAD_STREAMID);
    // Span 3 holds 2^(3-1) = 4 STEs: index 4 is out of range.
    const uint64_t l2 = tb.alloc.alloc(64 * 64, 64 * 64);
    tb.mem.write64(tb.strtab + 9 * 8, l2 | 3);
    EXPECT_EQ(tb.read(9 * 64 + 4, 0x7000).ext.fault_type, evt::C_BAD_STREAMID);
    // Span > SPLIT + 1 is invalid too.
    tb.mem.write64(tb.strtab + 10 * 8, l2 | 8);
    EXPECT_EQ(tb.read(10 * 64, 0x7000).ext.fault_type, evt::C_BAD_STREAMID);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 3u);
    expect_record(ev[0], hdr(evt::C_BAD_STREAMID, 0x200), 0, 0, 0);
    expect_record(ev[1], hdr(evt::C_BAD_STREAMID, 9 * 64 + 4), 0, 0, 0);
    expect_record(ev[2], hdr(evt::C_BAD_STREAMID, 10 * 64), 0, 0, 0);
  });
}

TEST(smmuv3_ste, bad_streamid_beyond_log2size) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    dma_args a;
    a.sid = 1u << tb.strtab_log2;
    a.ssv = true;
    a.ssid = 0x12;
    const auto r = tb.dma(0x1000, a);
    EXPECT_EQ(r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(r.ext.status, iommu_status::fault);
    EXPECT_EQ(r.ext.fault_type, evt::C_BAD_STREAMID);
    auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    expect_record(ev[0], hdr(evt::C_BAD_STREAMID, a.sid, true, 0x12), 0, 0, 0);
    // CR2.RECINVSID == 0: terminated, not recorded.
    tb.set_reg(reg::CR0, tb.reg(reg::CR0) & ~reg::CR0_SMMUEN);
    tb.set_reg(reg::CR2, 0);
    tb.set_reg(reg::CR0, tb.reg(reg::CR0) | reg::CR0_SMMUEN);
    EXPECT_EQ(tb.dma(0x1000, a).ext.fault_type, evt::C_BAD_STREAMID);
    EXPECT_TRUE(tb.events().empty());
  });
}

TEST(smmuv3_ste, bad_ste_invalid_and_illegal) {
  smmuv3_config cfg = test_config();
  cfg.idr.ssid_bits = 4;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    ste_builder s;
    s.valid = false;
    tb.write_ste(2, s);
    EXPECT_EQ(tb.read(2, 0x1000).ext.fault_type, evt::C_BAD_STE);
    // ILLEGAL: S1CDMax (5) > IDR1.SSIDSIZE (4).
    s.valid = true;
    s.s1cdmax = 5;
    s.s1ctxptr = tb.alloc.alloc(64 * 32, 64 * 32);
    tb.write_ste(3, s);
    EXPECT_EQ(tb.read(3, 0x1000).ext.fault_type, evt::C_BAD_STE);
    // ILLEGAL: stage 2 with a reserved S2TG.
    ste_builder s2;
    s2.config = ste_cfg::s2;
    s2.s2tg = 3;
    tb.write_ste(4, s2);
    EXPECT_EQ(tb.read(4, 0x1000).ext.fault_type, evt::C_BAD_STE);
    // ILLEGAL: S2T0SZ that does not suit S2SL0 (a 48-bit IPA starting at level 1).
    s2.s2tg = 0;
    s2.s2t0sz = 16;
    s2.s2sl0 = 1;
    tb.write_ste(5, s2);
    EXPECT_EQ(tb.read(5, 0x1000).ext.fault_type, evt::C_BAD_STE);
    // ILLEGAL: EATS == 0b10 without nesting.
    ste_builder s3;
    s3.config = ste_cfg::s1;
    s3.eats = 2;
    s3.s1ctxptr = tb.write_cd(cd_builder());
    tb.write_ste(6, s3);
    EXPECT_EQ(tb.read(6, 0x1000).ext.fault_type, evt::C_BAD_STE);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 5u);
    expect_record(ev[0], hdr(evt::C_BAD_STE, 2), 0, 0, 0);
    for (uint32_t i = 1; i < 5; i++) expect_record(ev[i], hdr(evt::C_BAD_STE, 2 + i), 0, 0, 0);
    EXPECT_EQ(tb.counter("events", "C_BAD_STE"), 5u);
  });
}

TEST(smmuv3_ste, ste_fetch_abort) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.mem.fail_range(tb.strtab + 7 * 64, tb.strtab + 8 * 64);
    const auto r = tb.read(7, 0x1000);
    EXPECT_EQ(r.ext.fault_type, evt::F_STE_FETCH);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    // FetchAddr[55:3] in dw3.
    expect_record(ev[0], hdr(evt::F_STE_FETCH, 7), 0, 0, tb.strtab + 7 * 64);
  });
}

TEST(smmuv3_ste, substreams_and_s1dss) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    // Four CDs in a linear table (S1CDMax = 2), each its own address space.
    const uint64_t cdtab = tb.alloc.alloc(4 * 64, 4 * 64);
    std::vector<std::unique_ptr<page_table>> pts;
    for (unsigned i = 0; i < 4; i++) {
      pts.push_back(std::make_unique<page_table>(tb.mem, tb.alloc, 12, 48, 0));
      pts[i]->map(0x10000, kData + 0x1000 * (i + 1), d::s1_rw_all);
      cd_builder c;
      c.ttb0 = pts[i]->root;
      c.asid = static_cast<uint16_t>(10 + i);
      tb.write_cd(c, cdtab + 64 * i);
    }
    ste_builder s;
    s.s1ctxptr = cdtab;
    s.s1cdmax = 2;
    s.s1dss = 0;  // terminate traffic without a substream
    tb.write_ste(8, s);
    dma_args a;
    a.sid = 8;
    a.ssv = true;
    for (uint32_t ssid = 0; ssid < 4; ssid++) {
      a.ssid = ssid;
      const auto r = tb.dma(0x10008, a);
      EXPECT_TRUE(r.ok());
      EXPECT_EQ(r.ext.output_addr, kData + 0x1000 * (ssid + 1) + 8);
    }
    a.ssid = 4;  // >= 2^S1CDMax
    EXPECT_EQ(tb.dma(0x10000, a).ext.fault_type, evt::C_BAD_SUBSTREAMID);
    EXPECT_EQ(tb.read(8, 0x10000).ext.fault_type, evt::F_STREAM_DISABLED);
    // S1DSS = 0b01: no substream bypasses stage 1.
    s.s1dss = 1;
    tb.write_ste(8, s);
    ASSERT_TRUE(tb.run_cmds({cmd::cfgi_ste(8)}));
    EXPECT_EQ(tb.read(8, kData + 0x80).ext.output_addr, kData + 0x80);
    // S1DSS = 0b10: no substream uses CD 0; substream 0 is then disabled.
    s.s1dss = 2;
    tb.write_ste(8, s);
    ASSERT_TRUE(tb.run_cmds({cmd::cfgi_ste(8)}));
    EXPECT_EQ(tb.read(8, 0x10000).ext.output_addr, kData + 0x1000);
    a.ssid = 0;
    EXPECT_EQ(tb.dma(0x10000, a).ext.fault_type, evt::F_STREAM_DISABLED);
    // A substream on a stage-1-bypass stream.
    ste_builder b;
    b.config = ste_cfg::bypass;
    tb.write_ste(9, b);
    a.sid = 9;
    a.ssid = 1;
    EXPECT_EQ(tb.dma(0x10000, a).ext.fault_type, evt::C_BAD_SUBSTREAMID);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 4u);
    // C_BAD_SUBSTREAMID: SubstreamID always valid (no SSV bit).
    expect_record(ev[0], uint64_t{evt::C_BAD_SUBSTREAMID} | (4ull << 12) | (8ull << 32), 0, 0, 0);
    expect_record(ev[1], hdr(evt::F_STREAM_DISABLED, 8), 0, 0, 0);
    expect_record(ev[2], hdr(evt::F_STREAM_DISABLED, 8), 0, 0, 0);
    expect_record(ev[3], uint64_t{evt::C_BAD_SUBSTREAMID} | (1ull << 12) | (9ull << 32), 0, 0, 0);
  });
}

TEST(smmuv3_ste, two_level_cd_tables) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    page_table pt(tb.mem, tb.alloc, 12, 48, 0);
    pt.map(0x20000, kData + 0x9000, d::s1_rw_all);
    cd_builder c;
    c.ttb0 = pt.root;
    // S1Fmt 0b01: 4 KiB leaves of 64 CDs; S1CDMax 8 -> L1 of 4 descriptors.
    {
      const uint64_t l1 = tb.alloc.alloc(4 * 8, 64);
      const uint64_t l2 = tb.alloc.alloc(4096, 4096);
      tb.mem.write64(l1 + 1 * 8, l2 | 1);  // L1CD[1], V
      tb.write_cd(c, l2 + 6 * 64);         // SSID 70 = L1 1, L2 6
      ste_builder s;
      s.s1ctxptr = l1;
      s.s1cdmax = 8;
      s.s1fmt = 1;
      tb.write_ste(1, s);
      dma_args a;
      a.sid = 1;
      a.ssv = true;
      a.ssid = 70;
      EXPECT_TRUE(tb.dma(0x20000, a).ok());
      a.ssid = 130;  // L1CD[2] is not valid
      EXPECT_EQ(tb.dma(0x20000, a).ext.fault_type, evt::C_BAD_SUBSTREAMID);
    }
    // S1Fmt 0b10: 64 KiB leaves of 1024 CDs; S1CDMax 12 -> L1 of 4 descriptors.
    {
      const uint64_t l1 = tb.alloc.alloc(4 * 8, 64);
      const uint64_t l2 = tb.alloc.alloc(65536, 65536);
      tb.mem.write64(l1 + 1 * 8, l2 | 1);
      tb.write_cd(c, l2 + 476 * 64);  // SSID 1500 = L1 1, L2 476
      ste_builder s;
      s.s1ctxptr = l1;
      s.s1cdmax = 12;
      s.s1fmt = 2;
      tb.write_ste(2, s);
      dma_args a;
      a.sid = 2;
      a.ssv = true;
      a.ssid = 1500;
      const auto r = tb.dma(0x20000, a);
      EXPECT_TRUE(r.ok());
      EXPECT_EQ(r.ext.output_addr, kData + 0x9000);
    }
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    expect_record(ev[0], uint64_t{evt::C_BAD_SUBSTREAMID} | (130ull << 12) | (1ull << 32), 0, 0, 0);
  });
}

TEST(smmuv3_ste, bad_cd_and_cd_fetch_abort) {
  smmuv3_config cfg = test_config();
  cfg.idr.httu = 1;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    cd_builder c;
    c.valid = false;
    tb.make_s1_stream(1, c);
    EXPECT_EQ(tb.read(1, 0x1000).ext.fault_type, evt::C_BAD_CD);
    cd_builder c2;
    c2.tg0 = 3;  // reserved granule
    tb.make_s1_stream(2, c2);
    EXPECT_EQ(tb.read(2, 0x1000).ext.fault_type, evt::C_BAD_CD);
    cd_builder c3;
    c3.ha = c3.hd = true;  // HD with IDR0.HTTU == 0b01
    tb.make_s1_stream(3, c3);
    EXPECT_EQ(tb.read(3, 0x1000).ext.fault_type, evt::C_BAD_CD);
    cd_builder c4;
    c4.t0sz = 40;  // above 39
    tb.make_s1_stream(4, c4);
    EXPECT_EQ(tb.read(4, 0x1000).ext.fault_type, evt::C_BAD_CD);
    // The CD's memory aborts: F_CD_FETCH with its address.
    auto st = tb.make_s1_stream(5);
    tb.mem.fail_range(st.cd, st.cd + 64);
    EXPECT_EQ(tb.read(5, 0x1000).ext.fault_type, evt::F_CD_FETCH);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 5u);
    for (uint32_t i = 0; i < 4; i++) expect_record(ev[i], hdr(evt::C_BAD_CD, i + 1), 0, 0, 0);
    expect_record(ev[4], hdr(evt::F_CD_FETCH, 5), 0, 0, st.cd);
  });
}

TEST(smmuv3_ste, privcfg_and_instcfg_overrides) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    // Each stream its own ASID: the main TLB is shared by streams of an ASID.
    cd_builder c1, c2, c3;
    c1.asid = 1;
    c2.asid = 2;
    c3.asid = 3;
    ste_builder s;
    s.privcfg = 3;  // force privileged
    auto st = tb.make_s1_stream(1, c1, s);
    st.pt->map(0x1000, kData, d::s1_rw_priv);
    dma_args a;
    a.sid = 1;
    a.priv = false;
    EXPECT_TRUE(tb.dma(0x1000, a).ok()) << "unprivileged access made privileged";
    ste_builder u;
    u.privcfg = 2;  // force unprivileged
    auto st2 = tb.make_s1_stream(2, c2, u);
    st2.pt->map(0x1000, kData, d::s1_rw_priv);
    a.sid = 2;
    a.priv = true;
    EXPECT_EQ(tb.dma(0x1000, a).ext.fault_type, evt::F_PERMISSION);
    ste_builder x;
    x.instcfg = 3;  // force instruction
    auto st3 = tb.make_s1_stream(3, c3, x);
    st3.pt->map(0x1000, kData, d::s1_rw_all | d::uxn | d::pxn);
    a.sid = 3;
    a.priv = false;
    EXPECT_EQ(tb.dma(0x1000, a).ext.fault_type, evt::F_PERMISSION);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 2u);
    // Post-override attributes: PnU [97] = 0 (forced unprivileged), RnW [99] = 1.
    expect_record(ev[0], hdr(evt::F_PERMISSION, 2), (1ull << 35) | (2ull << 40), 0x1000, 0);
    // InD [98] = 1 (forced instruction).
    expect_record(ev[1], hdr(evt::F_PERMISSION, 3), (1ull << 35) | (1ull << 34) | (2ull << 40),
                  0x1000, 0);
  });
}

}  // namespace
