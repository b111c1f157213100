// SPDX-License-Identifier: MIT
// Event and PRI queues (SMMUv3 §7.2, §7.4, §8): wrap, overflow and its
// acknowledgement, interrupts (wired and MSI), disabled queues, abort on a
// queue write; PRI records from endpoint page requests, PRI overflow with
// automatic responses, CMD_PRI_RESP; GERROR MSIs.
#include "smmuv3_test_util.h"

using namespace smmuv3_test;

namespace {

dma_args sid_args(uint32_t sid) {
  dma_args a;
  a.sid = sid;
  return a;
}

TEST(smmuv3_queue, event_queue_wraps) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.evtq_log2 = 2;  // four records
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(1);
    uint64_t va = 0x1000;
    for (int round = 0; round < 4; round++) {
      for (int i = 0; i < 3; i++) tb.dma(va + 0x1000 * i, sid_args(1));
      const auto ev = tb.events();
      ASSERT_EQ(ev.size(), 3u) << "round " << round;
      for (int i = 0; i < 3; i++) EXPECT_EQ(ev[i].dw[2], va + 0x1000 * i);
      va += 0x10000;
    }
    EXPECT_EQ(tb.reg(reg::EVTQ_PROD) & 0x7, (12u & 7u)) << "index and wrap bit";
    EXPECT_EQ(tb.reg(reg::EVTQ_PROD) & reg::Q_OVFLG, 0u);
  });
}

TEST(smmuv3_queue, event_queue_overflow_and_ack) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.evtq_log2 = 2;
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(1);
    for (int i = 0; i < 7; i++) tb.dma(0x1000 * (i + 1), sid_args(1));
    wait(sc_time(1, sc_core::SC_US));
    const uint32_t prod = static_cast<uint32_t>(tb.reg(reg::EVTQ_PROD));
    EXPECT_EQ(prod & reg::Q_OVFLG, reg::Q_OVFLG) << "OVFLG toggled once";
    EXPECT_EQ(prod & 0x7, 4u) << "four records, queue full";
    EXPECT_EQ(tb.counter("events", "overflow"), 1u);
    EXPECT_EQ(tb.counter("events", "overflow_discarded"), 3u);
    // Software consumes and acknowledges (CONS.OVACKFLG = PROD.OVFLG).
    const auto ev = tb.events(SC_ZERO_TIME);
    ASSERT_EQ(ev.size(), 4u);
    EXPECT_EQ(ev[3].dw[2], 0x4000u);
    EXPECT_EQ(tb.reg(reg::EVTQ_CONS) & reg::Q_OVFLG, reg::Q_OVFLG);
    // New records are written again; no further overflow.
    tb.dma(0x9000, sid_args(1));
    const auto ev2 = tb.events();
    ASSERT_EQ(ev2.size(), 1u);
    EXPECT_EQ(ev2[0].dw[2], 0x9000u);
    EXPECT_EQ(tb.counter("events", "overflow"), 1u);
  });
}

TEST(smmuv3_queue, event_interrupt_wired_then_msi) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(1);
    tb.dma(0x1000, sid_args(1));
    tb.events();
    ASSERT_GE(tb.irqs.size(), 1u);
    EXPECT_EQ(tb.irqs[0], std::make_pair(0u, true));
    const uint64_t doorbell = tb.alloc.alloc(64, 64);
    tb.set_reg(reg::EVTQ_IRQ_CFG0, doorbell, 8);
    tb.set_reg(reg::EVTQ_IRQ_CFG1, 0x5151);
    const size_t wired = tb.irqs.size();
    tb.dma(0x2000, sid_args(1));
    tb.events();
    EXPECT_EQ(tb.mem.read32(doorbell), 0x5151u);
    EXPECT_EQ(tb.irqs.size(), wired) << "an MSI replaces the wired interrupt";
    EXPECT_GE(tb.counter("", "msi_writes"), 1u);
  });
}

TEST(smmuv3_queue, disabled_event_queue_discards) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(1);
    tb.set_reg(reg::CR0, reg::CR0_SMMUEN | reg::CR0_CMDQEN);
    EXPECT_EQ(tb.dma(0x1000, sid_args(1)).ext.fault_type, evt::F_TRANSLATION);
    EXPECT_TRUE(tb.events().empty());
    EXPECT_EQ(tb.counter("events", "discarded_disabled"), 1u);
    EXPECT_EQ(tb.counter("events", "overflow"), 0u);
  });
}

TEST(smmuv3_queue, event_write_abort_is_a_global_error) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.make_s1_stream(1);
    tb.mem.fail_range(tb.evtq, tb.evtq + (32u << tb.evtq_log2));
    const uint64_t doorbell = tb.alloc.alloc(64, 64);
    tb.set_reg(reg::GERROR_IRQ_CFG0, doorbell, 8);
    tb.set_reg(reg::GERROR_IRQ_CFG1, 0x6e6e);
    tb.dma(0x1000, sid_args(1));
    wait(sc_time(1, sc_core::SC_US));
    EXPECT_EQ((tb.reg(reg::GERROR) ^ tb.reg(reg::GERRORN)) & reg::GERROR_EVTQ_ABT_ERR,
              reg::GERROR_EVTQ_ABT_ERR);
    EXPECT_EQ(tb.mem.read32(doorbell), 0x6e6eu) << "GERROR MSI";
  });
}

TEST(smmuv3_queue, pri_queue_records_and_pri_resp) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.smmu.bind_endpoint(0x21, &tb.ep);
    page_request req;
    req.stream_id = 0x21;
    req.ssid_valid = true;
    req.ssid = 0x33;
    req.addr = 0x7654'3000;
    req.write = true;
    req.read = true;
    req.priv = true;
    req.grpid = 0x1a5;
    req.last = true;
    sc_time d = SC_ZERO_TIME;
    tb.smmu.messages->page_request(req, d);
    const auto recs = tb.pri_records();
    ASSERT_EQ(recs.size(), 1u);
    // dw0: SID [31:0], SSID [51:32], PRIV 58, EXEC 59, READ 60, WRITE 61, LAST 62, SSV 63.
    EXPECT_EQ(recs[0].dw[0], 0x21ull | (0x33ull << 32) | (1ull << 58) | (1ull << 60) |
                                 (1ull << 61) | (1ull << 62) | (1ull << 63));
    // dw1: PRG index [8:0], address [63:12].
    EXPECT_EQ(recs[0].dw[1], 0x1a5ull | 0x7654'3000ull);
    bool priq_irq = false;
    for (auto &[line, a] : tb.irqs) priq_irq |= line == 1;
    EXPECT_TRUE(priq_irq);
    // The driver answers with CMD_PRI_RESP: each code reaches the endpoint.
    ASSERT_TRUE(tb.run_cmds({cmd::pri_resp(0x21, 0x1a5, pri_resp::SUCCESS, true, 0x33),
                             cmd::pri_resp(0x21, 0x1a6, pri_resp::DENY),
                             cmd::pri_resp(0x21, 0x1a7, pri_resp::FAIL)}));
    ASSERT_EQ(tb.ep.responses.size(), 3u);
    EXPECT_EQ(tb.ep.responses[0].grpid, 0x1a5);
    EXPECT_TRUE(tb.ep.responses[0].ssid_valid);
    EXPECT_EQ(tb.ep.responses[0].ssid, 0x33u);
    EXPECT_EQ(tb.ep.responses[0].code, prg_response_code::success);
    EXPECT_EQ(tb.ep.responses[1].code, prg_response_code::invalid_request);
    EXPECT_EQ(tb.ep.responses[2].code, prg_response_code::response_failure);
  });
}

TEST(smmuv3_queue, pri_queue_overflow_auto_responds) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.priq_log2 = 1;  // two records
  tb.run([&] {
    tb.setup();
    tb.smmu.bind_endpoint(4, &tb.ep);
    for (uint16_t g = 0; g < 4; g++) {
      page_request req;
      req.stream_id = 4;
      req.ssid_valid = g == 3;
      req.ssid = 9;
      req.addr = 0x1000u * g;
      req.grpid = g;
      req.last = g != 2;
      sc_time d = SC_ZERO_TIME;
      tb.smmu.messages->page_request(req, d);
    }
    wait(sc_time(1, sc_core::SC_US));
    EXPECT_EQ(tb.reg(reg::PRIQ_PROD) & reg::Q_OVFLG, reg::Q_OVFLG);
    // Requests 2 (not last: silently dropped) and 3 (last) were discarded;
    // request 3 gets an automatic Success response with its PASID (IDR3.PPS).
    ASSERT_EQ(tb.ep.responses.size(), 1u);
    EXPECT_EQ(tb.ep.responses[0].grpid, 3);
    EXPECT_EQ(tb.ep.responses[0].code, prg_response_code::success);
    EXPECT_TRUE(tb.ep.responses[0].ssid_valid);
    EXPECT_EQ(tb.pri_records(SC_ZERO_TIME).size(), 2u);
  });
}

TEST(smmuv3_queue, pri_disabled_answers_response_failure) {
  harness tb("tb", test_config(), timing_mode::cycle);
  tb.run([&] {
    tb.setup();
    tb.set_reg(reg::CR0, reg::CR0_SMMUEN | reg::CR0_CMDQEN | reg::CR0_EVENTQEN);
    tb.smmu.bind_endpoint(4, &tb.ep);
    page_request req;
    req.stream_id = 4;
    req.ssid_valid = true;
    req.last = false;
    sc_time d = SC_ZERO_TIME;
    tb.smmu.messages->page_request(req, d);
    wait(sc_time(200, SC_NS));
    ASSERT_EQ(tb.ep.responses.size(), 1u);
    EXPECT_EQ(tb.ep.responses[0].code, prg_response_code::response_failure);
    EXPECT_FALSE(tb.ep.responses[0].ssid_valid) << "§8.2: no PASID on a PRIQEN == 0 response";
  });
}

}  // namespace
