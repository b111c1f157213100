// SPDX-License-Identifier: MIT
// Stage-1 and stage-2 walks and their faults (SMMUv3 §3.4, §3.12, §5.5,
// §7.3.12-7.3.16): granules and start levels, blocks and pages, TTB1 and
// TBI, every translation-related fault with its record, the permission
// matrix (read/write, privileged/unprivileged, data/instruction), external
// aborts on walks, CD.R and CD.A.
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

uint64_t hdr(uint8_t id, uint32_t sid) { return uint64_t{id} | (uint64_t{sid} << 32); }
constexpr uint64_t kRnW = 1ull << 35, kInD = 1ull << 34, kPnU = 1ull << 33, kS2 = 1ull << 39;
constexpr uint64_t kClassCD = 0, kClassTT = 1ull << 40, kClassIN = 2ull << 40;

void expect_record(const event_record &r, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3) {
  EXPECT_EQ(r.dw[0], d0) << std::hex << "dw0 " << r.dw[0];
  EXPECT_EQ(r.dw[1], d1) << std::hex << "dw1 " << r.dw[1];
  EXPECT_EQ(r.dw[2], d2) << std::hex << "dw2 " << r.dw[2];
  EXPECT_EQ(r.dw[3], d3) << std::hex << "dw3 " << r.dw[3];
}

TEST(smmuv3_fault, translation_fault_records) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(4);
    const auto r = tb.read(4, 0x12345678);
    EXPECT_EQ(r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(r.ext.status, iommu_status::fault);
    EXPECT_EQ(r.ext.fault_type, evt::F_TRANSLATION);
    EXPECT_EQ(r.ext.fault_cls, fault_class::translation);
    dma_args w;
    w.sid = 4;
    w.write = true;
    w.priv = true;
    tb.dma(0xabc000, w);
    // Out of the 48-bit input range.
    tb.read(4, 0x0001'0000'0000'0000ull);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 3u);
    expect_record(ev[0], hdr(evt::F_TRANSLATION, 4), kRnW | kClassIN, 0x12345678, 0);
    expect_record(ev[1], hdr(evt::F_TRANSLATION, 4), kPnU | kClassIN, 0xabc000, 0);
    expect_record(ev[2], hdr(evt::F_TRANSLATION, 4), kRnW | kClassIN, 0x0001'0000'0000'0000ull, 0);
  });
}

TEST(smmuv3_fault, access_flag_fault_without_ha) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(1);
    st.pt->map(0x5000, kData, d::s1_rw_all & ~d::af);
    const auto r = tb.read(1, 0x5000);
    EXPECT_EQ(r.ext.fault_type, evt::F_ACCESS);
    EXPECT_EQ(r.ext.fault_cls, fault_class::translation);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    expect_record(ev[0], hdr(evt::F_ACCESS, 1), kRnW | kClassIN, 0x5000, 0);
  });
}

TEST(smmuv3_fault, address_size_fault_beyond_ips) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    cd_builder c;
    c.ips = 0;  // 32-bit output
    auto st = tb.make_s1_stream(1, c);
    st.pt->map(0x5000, 0x1'0000'0000ull, d::s1_rw_all);  // a 33-bit output address
    EXPECT_EQ(tb.read(1, 0x5000).ext.fault_type, evt::F_ADDR_SIZE);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    expect_record(ev[0], hdr(evt::F_ADDR_SIZE, 1), kRnW | kClassIN, 0x5000, 0);
  });
}

TEST(smmuv3_fault, permission_matrix) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(1);
    struct page {
      uint64_t va;
      uint64_t attrs;
    };
    const page pages[] = {
        {0x10000, d::s1_rw_all},            // AP 01: EL1 and EL0 read/write
        {0x11000, d::s1_rw_priv},           // AP 00: EL1 read/write only
        {0x12000, d::s1_ro_all},            // AP 11: read-only for both
        {0x13000, d::s1_ro_priv},           // AP 10: EL1 read-only
        {0x14000, d::s1_ro_all | d::uxn},   // unprivileged execute never
        {0x15000, d::s1_ro_all | d::pxn},   // privileged execute never
    };
    for (const auto &p : pages) st.pt->map(p.va, kData + (p.va & 0xff000), p.attrs);
    // Expected: {read user, read priv, write user, write priv, exec user, exec priv}.
    const bool expect[6][6] = {
        {1, 1, 1, 1, 1, 0},  // rw_all: EL1 may not execute EL0-writable memory
        {0, 1, 0, 1, 1, 1},  // rw_priv: EL0 has no data access; UXN = 0 so EL0 may fetch
        {1, 1, 0, 0, 1, 1},
        {0, 1, 0, 0, 1, 1},
        {1, 1, 0, 0, 0, 1},
        {1, 1, 0, 0, 1, 0},
    };
    for (int i = 0; i < 6; i++) {
      for (int k = 0; k < 6; k++) {
        dma_args a;
        a.sid = 1;
        a.write = k == 2 || k == 3;
        a.instr = k == 4 || k == 5;
        a.priv = k % 2 == 1;
        const auto r = tb.dma(pages[i].va, a);
        EXPECT_EQ(r.ok(), expect[i][k]) << "page " << i << " access " << k;
        if (!expect[i][k]) {
          EXPECT_EQ(r.ext.fault_type, evt::F_PERMISSION);
          EXPECT_EQ(r.ext.fault_cls, fault_class::permission);
        }
      }
    }
    // One record checked bit for bit: a privileged instruction fetch of page 5.
    tb.events();
    dma_args a;
    a.sid = 1;
    a.instr = true;
    a.priv = true;
    tb.dma(0x15000, a);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    expect_record(ev[0], hdr(evt::F_PERMISSION, 1), kRnW | kInD | kPnU | kClassIN, 0x15000, 0);
  });
}

TEST(smmuv3_fault, stage2_permission_fault_reports_ipa) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    page_table s2(tb.mem, tb.alloc, 12, 40, 1, 2);
    s2.map(0x3000, kData, d::s2_ro);
    ste_builder s;
    s.config = ste_cfg::s2;
    s.s2ttb = s2.root;
    s.vmid = 7;
    tb.write_ste(2, s);
    EXPECT_TRUE(tb.read(2, 0x3008).ok());
    EXPECT_EQ(tb.write(2, 0x3008, 1).ext.fault_type, evt::F_PERMISSION);
    // S2R == 0: not recorded.
    s.s2r = false;
    tb.write_ste(3, s);
    EXPECT_EQ(tb.write(3, 0x3008, 1).ext.fault_type, evt::F_PERMISSION);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    expect_record(ev[0], hdr(evt::F_PERMISSION, 2), kS2 | kClassIN, 0x3008, 0x3000);
  });
}

TEST(smmuv3_fault, walk_external_abort) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(1);
    st.pt->map(0x40'0000'0000ull, kData, d::s1_rw_all);
    const uint64_t leaf = st.pt->leaf_addr(0x40'0000'0000ull);
    tb.mem.fail_range(leaf & ~0xfffull, (leaf & ~0xfffull) + 0x1000);  // the level-3 table
    EXPECT_EQ(tb.read(1, 0x40'0000'0000ull).ext.fault_type, evt::F_WALK_EABT);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    // §7.3.12: a stage-1 descriptor abort is S2 == 0, CLASS == TT, FetchAddr in dw3.
    expect_record(ev[0], hdr(evt::F_WALK_EABT, 1), kRnW | kClassTT, 0x40'0000'0000ull, leaf);
  });
}

TEST(smmuv3_fault, cd_r_and_cd_a) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    cd_builder quiet;
    quiet.r = false;
    quiet.asid = 2;
    tb.make_s1_stream(2, quiet);
    EXPECT_EQ(tb.read(2, 0x1000).ext.fault_type, evt::F_TRANSLATION);
    EXPECT_EQ(tb.counter("events", "suppressed"), 1u);
    // A == 0: terminated with RAZ/WI (reads return zero, writes are dropped).
    cd_builder raz;
    raz.a = false;
    raz.asid = 3;
    auto st = tb.make_s1_stream(3, raz);
    st.pt->map(0x2000, kData, d::s1_ro_all);
    tb.mem.write64(kData, 0x99);
    uint64_t v = 0x1234;
    const auto r = tb.read(3, 0x9000, &v);
    EXPECT_EQ(r.resp, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.ext.status, iommu_status::fault);
    EXPECT_EQ(v, 0u);
    EXPECT_EQ(tb.write(3, 0x2000, 0x77).resp, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(tb.mem.read64(kData), 0x99u);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 2u);  // R == 1 for stream 3
    EXPECT_EQ(ev[0].id(), evt::F_TRANSLATION);
    EXPECT_EQ(ev[1].id(), evt::F_PERMISSION);
  });
}

// Every granule, every start level a T0SZ gives, blocks and pages.
TEST(smmuv3_fault, granules_start_levels_blocks) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    struct cfg {
      unsigned tg0, granule, t0sz;
      int start;
      int leaf_level;
      unsigned page_shift;
    };
    const cfg cases[] = {
        {0, 12, 16, 0, 3, 12},  // 4K, 48-bit: level 0 .. page
        {0, 12, 16, 0, 2, 21},  // 2M block
        {0, 12, 16, 0, 1, 30},  // 1G block
        {0, 12, 25, 1, 3, 12},  // 39-bit: start at level 1
        {0, 12, 34, 2, 3, 12},  // 30-bit: start at level 2
        {2, 14, 16, 0, 3, 14},  // 16K, 48-bit: level 0 (2 entries)
        {2, 14, 17, 1, 2, 25},  // 16K, 47-bit: start at level 1, 32M block
        {2, 14, 28, 2, 3, 14},  // 16K, 36-bit: start at level 2
        {1, 16, 16, 1, 3, 16},  // 64K, 48-bit: start at level 1
        {1, 16, 22, 2, 2, 29},  // 64K, 42-bit: start at level 2, 512M block
        {1, 16, 36, 3, 3, 16},  // 64K, 28-bit: start at level 3
    };
    uint32_t sid = 1;
    for (const auto &c : cases) {
      page_table pt(tb.mem, tb.alloc, c.granule, 64 - c.t0sz, c.start);
      const uint64_t va = 0x2000'0000ull & mask(64 - c.t0sz - 1);
      const uint64_t oa = kData + (uint64_t{sid} << 30);
      pt.map(va, oa, d::s1_rw_all, c.leaf_level);
      cd_builder cd;
      cd.tg0 = c.tg0;
      cd.t0sz = c.t0sz;
      cd.ttb0 = pt.root;
      cd.asid = static_cast<uint16_t>(sid);
      ste_builder s;
      s.s1ctxptr = tb.write_cd(cd);
      tb.write_ste(sid, s);
      const uint64_t off = 0x1238 & mask(c.page_shift);
      const auto r = tb.read(sid, va + off);
      EXPECT_TRUE(r.ok()) << "case " << sid;
      const uint64_t want = (oa & ~mask(c.page_shift)) | ((va + off) & mask(c.page_shift));
      EXPECT_EQ(r.ext.output_addr, want) << "case " << sid;
      EXPECT_EQ(r.ext.output_page_shift, c.page_shift) << "case " << sid;
      sid++;
    }
    EXPECT_TRUE(tb.events().empty());
  });
}

TEST(smmuv3_fault, ttb1_tbi_and_epd) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    page_table lo(tb.mem, tb.alloc, 12, 48, 0), hi(tb.mem, tb.alloc, 12, 48, 0);
    lo.map(0x7000, kData + 0x1000, d::s1_rw_all);
    hi.map(0xffff'ffff'ffff'7000ull, kData + 0x2000, d::s1_rw_all);
    cd_builder c;
    c.ttb0 = lo.root;
    c.ttb1 = hi.root;
    c.epd1 = false;
    c.tbi = 1;  // TBI0 only
    auto cdaddr = tb.write_cd(c);
    ste_builder s;
    s.s1ctxptr = cdaddr;
    tb.write_ste(1, s);
    EXPECT_EQ(tb.read(1, 0x7008).ext.output_addr, kData + 0x1008);
    EXPECT_EQ(tb.read(1, 0xffff'ffff'ffff'7008ull).ext.output_addr, kData + 0x2008);
    EXPECT_EQ(tb.read(1, 0x5a00'0000'0000'7008ull).ext.output_addr, kData + 0x1008) << "TBI0";
    // TBI1 is 0: a tagged upper address is out of range.
    EXPECT_EQ(tb.read(1, 0x5aff'ffff'ffff'7008ull).ext.fault_type, evt::F_TRANSLATION);
    // EPD0: walks of the lower range are disabled.
    c.epd0 = true;
    c.asid = 9;
    tb.write_cd(c, cdaddr);
    ASSERT_TRUE(tb.run_cmds({cmd::cfgi_cd(1, 0)}));
    EXPECT_EQ(tb.read(1, 0x7008).ext.fault_type, evt::F_TRANSLATION);
    EXPECT_EQ(tb.read(1, 0xffff'ffff'ffff'7008ull).ext.output_addr, kData + 0x2008);
  });
}

TEST(smmuv3_fault, unsupported_transaction_type) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tlm::tlm_generic_payload tr;
    uint64_t v = 0;
    tr.set_command(tlm::TLM_IGNORE_COMMAND);
    tr.set_address(0x4321'0000);
    tr.set_data_ptr(reinterpret_cast<unsigned char *>(&v));
    tr.set_data_length(8);
    tr.set_streaming_width(8);
    iommu_extension ext;
    ext.stream_id = 6;
    ext.privileged = true;
    tr.set_extension(&ext);
    sc_time d = SC_ZERO_TIME;
    tb.dev0->b_transport(tr, d);
    tr.clear_extension(&ext);
    EXPECT_EQ(tr.get_response_status(), tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(ext.fault_type, evt::F_UUT);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    // §7.3.2: StreamID, InputAddr, RnW [99], InD [98], PnU [97] as they came in.
    expect_record(ev[0], hdr(evt::F_UUT, 6), kRnW | kPnU, 0x4321'0000, 0);
  });
}

}  // namespace
