// SPDX-License-Identifier: MIT
// PCIe ATS (SMMUv3 §3.9.1, §5.2 STE.EATS, §4.5.1 CMD_ATC_INV, §7.3.6,
// §7.3.8): Translation Requests and their R/W completions, refusals (UR with
// F_BAD_ATS_TREQ, CA without an event), Translated transactions with and
// without CR0.ATSCHK, and the ATC invalidation round trip that CMD_SYNC waits
// for (and its timeout, CERROR_ATC_INV_SYNC).
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

dma_result treq(harness &tb, uint32_t sid, uint64_t va, bool no_write = false, bool priv = false) {
  dma_args a;
  a.sid = sid;
  a.at = at_kind::translation_request;
  a.no_write = no_write;
  a.priv = priv;
  return tb.dma(va, a);
}

TEST(smmuv3_ats, translation_requests) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    ste_builder s;
    s.eats = 1;
    auto st = tb.make_s1_stream(1, cd_builder(), s);
    st.pt->map(0x10000, kData + 0x7000, d::s1_rw_all);
    st.pt->map(0x11000, kData + 0x8000, d::s1_ro_all);
    st.pt->map(0x4000'0000, kData + 0x4000'0000, d::s1_rw_all, 2);  // 2M block
    auto r = treq(tb, 1, 0x10123);
    EXPECT_EQ(r.resp, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.ext.status, iommu_status::ok);
    EXPECT_EQ(r.ext.output_addr, kData + 0x7000);
    EXPECT_EQ(r.ext.output_page_shift, 12);
    EXPECT_TRUE(r.ext.out_read);
    EXPECT_TRUE(r.ext.out_write);
    r = treq(tb, 1, 0x10000, /*no_write=*/true);
    EXPECT_TRUE(r.ext.out_read);
    EXPECT_FALSE(r.ext.out_write);
    r = treq(tb, 1, 0x11000);  // read-only page: R = 1, W = 0
    EXPECT_TRUE(r.ext.out_read);
    EXPECT_FALSE(r.ext.out_write);
    r = treq(tb, 1, 0x4012'3000);
    EXPECT_EQ(r.ext.output_addr, kData + 0x4000'0000);
    EXPECT_EQ(r.ext.output_page_shift, 21);
    // Unmapped: Success with R = W = 0, no event (the device may use PRI).
    r = treq(tb, 1, 0x99000);
    EXPECT_EQ(r.resp, tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(r.ext.out_read);
    EXPECT_FALSE(r.ext.out_write);
    EXPECT_TRUE(tb.events().empty());
    EXPECT_EQ(tb.counter("", "pcie_ats_trans_rq"), 5u);
  });
}

TEST(smmuv3_ats, refused_translation_requests) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(1);  // EATS = 0b00
    ste_builder b;
    b.config = ste_cfg::bypass;
    b.eats = 1;  // IGNORED for a bypass STE
    tb.write_ste(2, b);
    ste_builder inv;
    inv.valid = false;
    tb.write_ste(3, inv);
    auto r = treq(tb, 1, 0x1000, false, true);
    EXPECT_EQ(r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(r.ext.fault_type, evt::F_BAD_ATS_TREQ);
    EXPECT_EQ(treq(tb, 2, 0x2000).ext.fault_type, evt::F_BAD_ATS_TREQ);
    r = treq(tb, 3, 0x3000);  // STE.V == 0: CA, no event
    EXPECT_EQ(r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 2u);
    // InputAddr[63:12]; PnU [97] = requested privilege.
    EXPECT_EQ(ev[0].dw[0], uint64_t{evt::F_BAD_ATS_TREQ} | (1ull << 32));
    EXPECT_EQ(ev[0].dw[1], 1ull << 33);
    EXPECT_EQ(ev[0].dw[2], 0x1000u);
    EXPECT_EQ(ev[1].dw[0], uint64_t{evt::F_BAD_ATS_TREQ} | (2ull << 32));
  });
}

TEST(smmuv3_ats, translated_transactions_and_atschk) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    ste_builder ok;
    ok.eats = 1;
    tb.make_s1_stream(1, cd_builder(), ok);
    tb.make_s1_stream(2);  // EATS 0
    tb.mem.write64(kData + 0x10, 0x77);
    dma_args a;
    a.at = at_kind::translated;
    a.sid = 2;
    uint64_t v = 0;
    // ATSCHK == 0: Translated traffic bypasses without any check.
    EXPECT_TRUE(tb.dma(kData + 0x10, a, &v).ok());
    EXPECT_EQ(v, 0x77u);
    tb.set_reg(reg::CR0, tb.reg(reg::CR0) | reg::CR0_ATSCHK);
    a.sid = 1;
    v = 0;
    EXPECT_TRUE(tb.dma(kData + 0x10, a, &v).ok());
    EXPECT_EQ(v, 0x77u);
    a.sid = 2;
    a.write = true;
    const auto r = tb.dma(kData + 0x18, a, &v);
    EXPECT_EQ(r.ext.fault_type, evt::F_TRANSL_FORBIDDEN);
    const auto ev = tb.events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].dw[0], uint64_t{evt::F_TRANSL_FORBIDDEN} | (2ull << 32));
    EXPECT_EQ(ev[0].dw[1], 0u) << "RnW = 0: a write";
    EXPECT_EQ(ev[0].dw[2], kData + 0x18);
    EXPECT_EQ(tb.counter("", "pcie_ats_trans_passed"), 2u);
  });
}

TEST(smmuv3_ats, atc_invalidation_round_trip) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.smmu.bind_endpoint(0x40, &tb.ep);
    tb.ep.atc_delay = sc_time(300, SC_NS);
    tb.mem.write64(tb.sync_word, 0);
    const sc_time start = sc_core::sc_time_stamp();
    tb.submit({cmd::atc_inv(0x40, 0x12345000, 2, true, 7), cmd::sync_msi(tb.sync_word, 1)});
    ASSERT_TRUE(tb.drain());
    ASSERT_EQ(tb.ep.invalidations.size(), 1u);
    const auto &inv = tb.ep.invalidations[0];
    EXPECT_EQ(inv.stream_id, 0x40u);
    EXPECT_TRUE(inv.ssid_valid);
    EXPECT_EQ(inv.ssid, 7u);
    EXPECT_EQ(inv.addr, 0x12344000u) << "aligned to 2^2 pages";
    EXPECT_EQ(inv.size_log2, 14);
    sc_time msi;
    ASSERT_TRUE(tb.mem.last_write_time(tb.sync_word, &msi));
    EXPECT_GE(msi - start, sc_time(300, SC_NS)) << "CMD_SYNC waited for the completion";
    EXPECT_EQ(tb.counter("", "atc_invalidations_completed"), 1u);
  });
}

TEST(smmuv3_ats, atc_invalidation_timeout) {
  smmuv3_config cfg = test_config();
  cfg.atc_inv_timeout = 2000;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.smmu.bind_endpoint(0x40, &tb.ep);
    tb.ep.atc_never = true;
    tb.submit({cmd::atc_inv(0x40, 0, 52), cmd::sync_none()});
    EXPECT_FALSE(tb.drain());
    const uint32_t cons = static_cast<uint32_t>(tb.reg(reg::CMDQ_CONS));
    EXPECT_EQ(cons & 0xff, 1u) << "CONS on the CMD_SYNC";
    EXPECT_EQ((cons >> 24) & 0x7f, cerror::ATC_INV_SYNC);
    EXPECT_EQ(tb.counter("commands", "CERROR_ATC_INV_SYNC"), 1u);
  });
}

}  // namespace
