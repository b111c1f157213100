// SPDX-License-Identifier: MIT
// Stall model (SMMUv3 §3.12.2, §4.7.1 CMD_RESUME, §4.7.2 CMD_STALL_TERM,
// §5.5): a stalled transaction waits; its event has STALL = 1 and a STAG;
// CMD_RESUME retries it or terminates it (abort or RAZ/WI); CMD_STALL_TERM
// and SMMUEN = 0 terminate every stall of a stream.
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

struct pending_dma {
  dma_result r;
  bool done = false;
  uint64_t data = 0;
};

void start_dma(harness &tb, pending_dma &p, uint32_t sid, uint64_t va, bool write = false) {
  sc_core::sc_spawn([&tb, &p, sid, va, write] {
    dma_args a;
    a.sid = sid;
    a.write = write;
    p.data = write ? 0x5a5a : 0x1234;
    p.r = tb.dma(va, a, &p.data);
    p.done = true;
  });
}

cd_builder stall_cd(uint16_t asid = 1) {
  cd_builder c;
  c.s = true;
  c.asid = asid;
  return c;
}

TEST(smmuv3_stall, resume_retry_completes_after_fix) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    auto st = tb.make_s1_stream(6, stall_cd());
    pending_dma p;
    start_dma(tb, p, 6, 0x3000);
    const auto ev = tb.events(sc_time(2, sc_core::SC_US));
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_FALSE(p.done) << "stalled";
    // dw1: STALL [31] | STAG [15:0] | RnW [35] | CLASS IN.
    EXPECT_EQ(ev[0].dw[0], uint64_t{evt::F_TRANSLATION} | (6ull << 32));
    EXPECT_EQ(ev[0].dw[1], (1ull << 31) | ev[0].stag() | (1ull << 35) | (2ull << 40));
    EXPECT_EQ(ev[0].dw[2], 0x3000u);
    // Software maps the page and retries.
    st.pt->map(0x3000, kData, d::s1_rw_all);
    tb.mem.write64(kData, 0xfeedu);
    ASSERT_TRUE(tb.run_cmds({cmd::resume(6, ev[0].stag(), resume_ac::RETRY)}));
    wait(sc_time(1, sc_core::SC_US));
    ASSERT_TRUE(p.done);
    EXPECT_TRUE(p.r.ok());
    EXPECT_EQ(p.data, 0xfeedu);
    EXPECT_EQ(tb.counter("", "stall_retries"), 1u);
  });
}

TEST(smmuv3_stall, resume_terminate_abort_and_raz_wi) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(6, stall_cd());
    pending_dma a, b;
    start_dma(tb, a, 6, 0x3000);
    start_dma(tb, b, 6, 0x4000);
    const auto ev = tb.events(sc_time(2, sc_core::SC_US));
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_NE(ev[0].stag(), ev[1].stag());
    // A RESUME for another StreamID has no effect.
    ASSERT_TRUE(tb.run_cmds({cmd::resume(7, ev[0].stag(), resume_ac::ABORT)}));
    EXPECT_FALSE(a.done);
    EXPECT_EQ(tb.counter("", "resume_no_match"), 1u);
    ASSERT_TRUE(tb.run_cmds({cmd::resume(6, ev[0].stag(), resume_ac::ABORT),
                             cmd::resume(6, ev[1].stag(), resume_ac::TERM)}));
    wait(sc_time(1, sc_core::SC_US));
    ASSERT_TRUE(a.done && b.done);
    EXPECT_EQ(a.r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(a.r.ext.status, iommu_status::stall_terminated);
    EXPECT_EQ(b.r.resp, tlm::TLM_OK_RESPONSE) << "terminate with RAZ/WI";
    EXPECT_EQ(b.r.ext.status, iommu_status::stall_terminated);
    EXPECT_EQ(b.data, 0u);
  });
}

TEST(smmuv3_stall, stall_term_and_smmuen_terminate_all) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(6, stall_cd(1));
    tb.make_s1_stream(7, stall_cd(2));
    pending_dma a, b, c;
    start_dma(tb, a, 6, 0x3000);
    start_dma(tb, b, 6, 0x5000, true);
    start_dma(tb, c, 7, 0x3000);
    EXPECT_EQ(tb.events(sc_time(2, sc_core::SC_US)).size(), 3u);
    ASSERT_TRUE(tb.run_cmds({cmd::stall_term(6)}));
    wait(sc_time(1, sc_core::SC_US));
    EXPECT_TRUE(a.done && b.done);
    EXPECT_FALSE(c.done);
    EXPECT_EQ(a.r.ext.status, iommu_status::stall_terminated);
    EXPECT_EQ(b.r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(tb.counter("", "stall_term_terminated"), 2u);
    tb.set_reg(reg::CR0, tb.reg(reg::CR0) & ~reg::CR0_SMMUEN);
    wait(sc_time(1, sc_core::SC_US));
    EXPECT_TRUE(c.done);
    EXPECT_EQ(c.r.ext.status, iommu_status::stall_terminated);
  });
}

TEST(smmuv3_stall, stage2_stall_with_s2s) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    page_table s2(tb.mem, tb.alloc, 12, 40, 1, 2);
    ste_builder s;
    s.config = ste_cfg::s2;
    s.s2s = true;
    s.vmid = 2;
    s.s2ttb = s2.root;
    tb.write_ste(3, s);
    pending_dma p;
    start_dma(tb, p, 3, 0x8000);
    const auto ev = tb.events(sc_time(2, sc_core::SC_US));
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].dw[1], (1ull << 31) | ev[0].stag() | (1ull << 35) | (1ull << 39) | (2ull << 40));
    EXPECT_EQ(ev[0].dw[3], 0x8000u) << "IPA";
    s2.map(0x8000, kData, d::s2_rw);
    ASSERT_TRUE(tb.run_cmds({cmd::resume(3, ev[0].stag(), resume_ac::RETRY)}));
    wait(sc_time(1, sc_core::SC_US));
    ASSERT_TRUE(p.done);
    EXPECT_TRUE(p.r.ok());
  });
}

TEST(smmuv3_stall, stall_refused_when_event_queue_disabled) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(6, stall_cd());
    tb.set_reg(reg::CR0, reg::CR0_SMMUEN | reg::CR0_CMDQEN);
    const auto r = tb.read(6, 0x3000);
    EXPECT_EQ(r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(tb.counter("", "stalls_refused_evtq_disabled"), 1u);
  });
}

}  // namespace
