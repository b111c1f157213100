// SPDX-License-Identifier: MIT
// Page requests (VT-d §7.4-7.6: descriptor bytes, PQT, PRS, the page request
// event, overflow with PRO and the automatic response, page group responses)
// and device-TLBs (§4: ATS translation requests and their completions,
// translated requests, requests the context does not allow).
#include "vtd_test_util.h"

using namespace vtd_test;

namespace {

constexpr uint64_t kData = 0x1'0000'0000ull;

void send(harness &tb, const page_request &req) {
  sc_time d = SC_ZERO_TIME;
  tb.iommu.messages->page_request(req, d);
  wait(sc_time(200, SC_NS));
}

page_request preq(uint16_t sid, uint64_t addr, uint16_t grp, bool last = true) {
  page_request q;
  q.stream_id = sid;
  q.ssid_valid = true;
  q.ssid = 0x1234;
  q.addr = addr;
  q.read = true;
  q.write = true;
  q.priv = true;
  q.grpid = grp;
  q.last = last;
  return q;
}

TEST(vtd_prq, page_request_descriptor_and_event) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    tb.iommu.bind_endpoint(0x0100, &tb.ep);
    tb.sm_context(0x0100, tb.alloc.alloc(4096));
    tb.set_reg(r::PEDATA, 0x61);
    tb.set_reg(r::PEADDR, 0xfee0'4000);
    send(tb, preq(0x0100, 0x7fff'0000'5000ull, 0x1a5));
    // qw0: type 1, PP 8, RID 31:16, PASID 51:32, EXE 52, PM 53;
    // qw1: RD 0, WR 1, LPIG 2, PRGI 11:3, ADDR 63:12.
    EXPECT_EQ(tb.mem.read64(tb.prq), 1ull | (1ull << 8) | (0x0100ull << 16) | (0x1234ull << 32) | (1ull << 53));
    EXPECT_EQ(tb.mem.read64(tb.prq + 8), 0x7fff'0000'5000ull | 1 | 2 | 4 | (0x1a5ull << 3));
    EXPECT_EQ(tb.mem.read64(tb.prq + 16), 0u);
    EXPECT_EQ(tb.reg(r::PQT, 8), 32u);
    EXPECT_EQ(tb.reg(r::PRS), 1u) << "PPR";
    EXPECT_EQ(tb.reg(r::PECTL), 0xc000'0000u) << "masked: pending";
    const size_t n = tb.mem.writes.size();
    tb.set_reg(r::PECTL, 0);
    ASSERT_EQ(tb.mem.writes.size(), n + 1);
    EXPECT_EQ(tb.mem.writes.back().addr, 0xfee0'4000u);
    EXPECT_EQ(tb.mem.writes.back().value, 0x61u);
    // PPR still set: the next request is no new event.
    send(tb, preq(0x0100, 0x6000, 2));
    EXPECT_EQ(tb.mem.writes.size(), n + 2) << "just the descriptor";
    EXPECT_EQ(tb.reg(r::PQT, 8), 64u);
    // Software answers the group: the endpoint gets the response.
    tb.flush({desc::pgrp_resp(0x0100, 0x1a5, 0, true, 0x1234)});
    ASSERT_EQ(tb.ep.responses.size(), 1u);
    const auto &rsp = tb.ep.responses[0];
    EXPECT_EQ(rsp.stream_id, 0x0100u);
    EXPECT_TRUE(rsp.ssid_valid);
    EXPECT_EQ(rsp.ssid, 0x1234u);
    EXPECT_EQ(rsp.grpid, 0x1a5u);
    EXPECT_EQ(rsp.code, prg_response_code::success);
    tb.flush({desc::pgrp_resp(0x0100, 2, 0xf)});
    EXPECT_EQ(tb.ep.responses.back().code, prg_response_code::response_failure);
    EXPECT_FALSE(tb.ep.responses.back().ssid_valid);
  });
}

TEST(vtd_prq, overflow_and_requests_that_cannot_be_taken) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    tb.iommu.bind_endpoint(0x0100, &tb.ep);
    tb.iommu.bind_endpoint(0x0200, &tb.ep);
    tb.sm_context(0x0100, tb.alloc.alloc(4096));
    tb.sm_context(0x0200, tb.alloc.alloc(4096), 0, true, true, false);  // PRE clear
    send(tb, preq(0x0200, 0x1000, 3));
    ASSERT_EQ(tb.ep.responses.size(), 1u);
    EXPECT_EQ(tb.ep.responses[0].code, prg_response_code::invalid_request);
    EXPECT_EQ(tb.reg(r::PQT, 8), 0u);
    // Recorded: SCT.8 (0x47), type page request (T2 = 1, T1 = 0), PASID, PRIV.
    const uint64_t want = 0x0200ull | (1ull << 28) | (1ull << 29) | (1ull << 31) | (0x47ull << 32) |
                          (0x1234ull << 40) | (1ull << 63);
    EXPECT_EQ(tb.frcd(0).first, 0x1000u);
    EXPECT_EQ(tb.frcd(0).second, want);
    tb.set_reg(tb.cfg.cap.fro + 12, 0x8000'0000u);
    // A 4 KiB queue holds 127 descriptors (full when PQT + 32 == PQH).
    for (uint16_t i = 0; i < 127; i++) {
      sc_time d = SC_ZERO_TIME;
      tb.iommu.messages->page_request(preq(0x0100, 0x1000 * i, i), d);
    }
    wait(sc_time(20, sc_core::SC_US));
    EXPECT_EQ(tb.reg(r::PQT, 8), 127u * 32);
    EXPECT_EQ(tb.reg(r::PRS), 1u);
    // The next one overflows: PRO, and its group (last request) is answered Success.
    send(tb, preq(0x0100, 0x9'9000, 200));
    EXPECT_EQ(tb.reg(r::PRS), 3u) << "PPR + PRO";
    ASSERT_EQ(tb.ep.responses.size(), 2u);
    EXPECT_EQ(tb.ep.responses[1].grpid, 200u);
    EXPECT_EQ(tb.ep.responses[1].code, prg_response_code::success);
    EXPECT_EQ(tb.counter("", "page_request_overflows"), 1u);
    // Software drains (PQH = PQT) but PRO still stops recording until cleared.
    tb.set_reg(r::PQH, 127u * 32, 8);
    send(tb, preq(0x0100, 0xa000, 201, false));  // not last: no response
    EXPECT_EQ(tb.ep.responses.size(), 2u);
    EXPECT_EQ(tb.counter("", "page_request_overflows"), 2u);
    tb.set_reg(r::PRS, 3);
    send(tb, preq(0x0100, 0xb000, 202));
    EXPECT_EQ(tb.reg(r::PQT, 8), 0u) << "wrapped";
    EXPECT_EQ(tb.mem.read64(tb.prq + 127 * 32 + 8) >> 12, 0xbu);
  });
}

TEST(vtd_ats, translation_requests_and_translated_requests) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(false);
    page_table pt(tb.mem, tb.alloc, 4, ss::table);
    pt.map(0x1000, kData + 0x3000, ss::R | ss::W);
    pt.map(0x2000, kData + 0x4000, ss::R);
    pt.map(0x20'0000, kData + 0x40'0000, ss::R | ss::W | ss::PS, 2);
    tb.legacy_context(0x0100, 1, 2, pt.root, 1);  // TT 01b: device-TLB allowed
    tb.legacy_context(0x0101, 0, 2, pt.root, 1);  // TT 00b
    dma_args a;
    a.at = at_kind::translation_request;
    auto r = tb.dma(0x1234, a);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.ext.output_addr, kData + 0x3000);
    EXPECT_EQ(r.ext.output_page_shift, 12u);
    EXPECT_TRUE(r.ext.out_read);
    EXPECT_TRUE(r.ext.out_write);
    a.no_write = true;
    r = tb.dma(0x1000, a);
    EXPECT_TRUE(r.ext.out_read);
    EXPECT_FALSE(r.ext.out_write) << "NW";
    a.no_write = false;
    r = tb.dma(0x2000, a);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.ext.out_read);
    EXPECT_FALSE(r.ext.out_write) << "read-only page";
    r = tb.dma(0x20'1000, a);
    EXPECT_EQ(r.ext.output_addr, kData + 0x40'0000);
    EXPECT_EQ(r.ext.output_page_shift, 21u);
    // Not mapped: a successful completion with R = W = 0, nothing recorded.
    r = tb.dma(0x9000, a);
    EXPECT_EQ(r.resp, tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(r.ext.out_read);
    EXPECT_FALSE(r.ext.out_write);
    EXPECT_EQ(tb.reg(r::FSTS), 0u);
    // TT 00b: Unsupported Request, fault 0xd recorded with AT 01b.
    a.sid = 0x0101;
    r = tb.dma(0x1000, a);
    EXPECT_EQ(r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(r.ext.fault_type, 0xd);
    EXPECT_EQ(tb.frcd(0).second, frcd_hi(0x0101, 0xd, true, 1));
    // A translated request passes with its address.
    dma_args t;
    t.at = at_kind::translated;
    t.write = true;
    uint64_t v = 0x5a5a;
    r = tb.dma(kData + 0x7000, t, reinterpret_cast<unsigned char *>(&v));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(tb.mem.read64(kData + 0x7000), 0x5a5au);
    EXPECT_EQ(tb.counter("", "ats_translation_requests"), 6u);
  });
}

TEST(vtd_ats, scalable_dte_and_first_stage_completion) {
  vtd_config cfg;
  harness tb("tb", cfg, timing_mode::cycle);
  tb.run([&] {
    tb.setup(true);
    const uint64_t dir = tb.alloc.alloc(4096);
    tb.sm_context(0x0100, dir);
    tb.sm_context(0x0101, dir, 0, false);  // DTE clear
    page_table s1(tb.mem, tb.alloc, 4, fs::table);
    const uint64_t leaf = s1.map(0x4000, kData + 0x1000, fs::P | fs::RW | fs::US);
    harness::pasid_fields f;
    f.pgtt = 1;
    f.fsptptr = s1.root;
    f.did = 3;
    tb.pasid_entry(dir, 9, f);
    dma_args a;
    a.at = at_kind::translation_request;
    a.pv = true;
    a.pasid = 9;
    auto r = tb.dma(0x4000, a);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.ext.output_addr, kData + 0x1000);
    EXPECT_TRUE(r.ext.out_write);
    // A writable translation handed out: D set (the device may write without asking again).
    EXPECT_EQ(tb.mem.read64(leaf), (kData + 0x1000) | fs::P | fs::RW | fs::US | fs::A | fs::D);
    a.sid = 0x0101;
    r = tb.dma(0x4000, a);
    EXPECT_EQ(r.resp, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(tb.frcd(0).second, frcd_hi(0x0101, 0x44, true, 1, true, 9));
    // A translated request needs DTE only: no PASID entry for RID_PASID exists.
    dma_args t;
    t.at = at_kind::translated;
    EXPECT_TRUE(tb.dma(kData + 0x2000, t).ok());
    t.sid = 0x0101;
    EXPECT_FALSE(tb.dma(kData + 0x2000, t).ok());
  });
}

}  // namespace
