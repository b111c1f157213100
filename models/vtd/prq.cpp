// SPDX-License-Identifier: MIT
// Page requests (VT-d §7.4-7.6): a PCIe page request from an endpoint whose
// scalable-mode context entry has PRE becomes a 32-byte page request
// descriptor written at PQT of the page request queue (PQA: base and 2^PQS
// 4 KiB pages); PRS.PPR is set and, if it was clear, a page request event
// (PECTL/PEDATA/PEADDR, or wired line irq_page_request) is signalled.
// A full queue (PQT + 32 == PQH) or a pending PRS.PRO drops the request, sets
// PRO and, for the last request of a group, answers the endpoint with a
// Success page group response (the device retries). A request the unit cannot
// take (translation disabled, legacy mode, no PRE) is answered Invalid
// Request and, unless translation is disabled, recorded as a fault (0x32
// legacy mode, 0x47 PRE clear, or its context's own fault). Software answers groups with page group response descriptors
// (qi.cpp), delivered here to the endpoint.
//
// Descriptor: qw0 type 7:0 (1), PP 8, RID 31:16, PASID 51:32, EXE 52, PM 53;
// qw1 RD 0, WR 1, LPIG 2, PRGI 11:3, ADDR 63:12.
#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

void vtd::page_request_in(const page_request &req, sc_core::sc_time &) {
  count("page_requests");
  prq_pending_.push_back(req);
  prq_kick_.notify(sc_core::SC_ZERO_TIME);
}

namespace {

void respond(const std::map<uint32_t, endpoint_message_if *> &eps, const page_request &req,
             prg_response_code code, timing_ctx &t) {
  auto it = eps.find(req.stream_id);
  if (it == eps.end()) return;
  page_response rsp;
  rsp.stream_id = req.stream_id;
  rsp.ssid_valid = req.ssid_valid;
  rsp.ssid = req.ssid;
  rsp.grpid = req.grpid;
  rsp.code = code;
  it->second->page_response(rsp, t.delay());
}

}  // namespace

void vtd::prq_thread() {
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  for (;;) {
    sc_core::wait(prq_kick_);
    while (!prq_pending_.empty()) {
      const page_request req = prq_pending_.front();
      prq_pending_.pop_front();
      timing_ctx t(mode_, d);
      context_info ctx;
      fault_info f;
      bool usable = te() && cfg_.ecap.prs;
      if (usable) {
        // §7.4.1: the request is checked against its context entry; a
        // context that cannot take it is a recorded fault.
        usable = lookup_context(static_cast<uint16_t>(req.stream_id), &ctx, &f, t);
        if (usable && !ctx.scalable) {
          f.reason = RTA_3;
          usable = false;
        } else if (usable && !ctx.pre) {
          f.reason = SCT_8;
          f.record = !ctx.fpd;
          usable = false;
        }
        if (!usable) {
          txn x;
          x.sid = static_cast<uint16_t>(req.stream_id);
          x.pv = req.ssid_valid;
          x.pasid = req.ssid;
          x.addr = req.addr;
          x.exec = req.exec;
          x.priv = req.priv;
          x.page_request = true;
          f.addr = req.addr;
          record_fault(x, f, t);
        }
      }
      if (!usable) {
        count("page_requests_invalid");
        if (req.last) respond(endpoints_, req, prg_response_code::invalid_request, t);
      } else {
        const uint64_t qbytes = uint64_t{4096} << (pqa_ & 7);
        const bool full = ((pqt_ + 32) % qbytes) == pqh_ % qbytes;
        if ((prs_ & reg::PRS_PRO) || full) {
          count("page_request_overflows");
          const bool new_condition = !(prs_ & (reg::PRS_PRO | reg::PRS_PPR));
          prs_ |= reg::PRS_PRO;
          if (req.last) respond(endpoints_, req, prg_response_code::success, t);
          if (new_condition) {
            if (pectl_ & reg::ECTL_IM) pr_ip_ = true;
            else signal(irq_page_request, pedata_, peaddr_, peuaddr_, &t);
          }
        } else {
          t.advance(cfg_.latency.prq_record, clk_);
          uint64_t dsc[4] = {0, 0, 0, 0};
          dsc[0] = 1 | (req.ssid_valid ? 1ull << 8 : 0) | (uint64_t{req.stream_id & 0xffff} << 16) |
                   (uint64_t{req.ssid & 0xfffff} << 32) | (req.exec ? 1ull << 52 : 0) |
                   (req.priv ? 1ull << 53 : 0);
          dsc[1] = (req.read ? 1ull : 0) | (req.write ? 2ull : 0) | (req.last ? 4ull : 0) |
                   (uint64_t{req.grpid & 0x1ffu} << 3) | (req.addr & ~0xfffull);
          mem_write((pqa_ & ~0xfffull) + pqt_ % qbytes, dsc, 32, t);
          pqt_ = (pqt_ + 32) % qbytes;
          count("page_request_records");
          const bool was = prs_ & reg::PRS_PPR;
          prs_ |= reg::PRS_PPR;
          if (!was) {
            if (pectl_ & reg::ECTL_IM) pr_ip_ = true;
            else signal(irq_page_request, pedata_, peaddr_, peuaddr_, &t);
          }
        }
      }
      if (mode_ == timing_mode::fast && d != sc_core::SC_ZERO_TIME) {
        sc_core::wait(d);
        d = sc_core::SC_ZERO_TIME;
      }
    }
  }
}

void vtd::page_group_response(const uint64_t desc[4], timing_ctx &t) {
  // §6.5.2.7: qw0 PP 4, response code 15:12, RID 31:16, PASID 51:32;
  // qw1 LPIG 2, PRGI 11:3.
  page_request req;
  req.stream_id = static_cast<uint16_t>(desc[0] >> 16);
  req.ssid_valid = (desc[0] >> 4) & 1;
  req.ssid = (desc[0] >> 32) & 0xfffff;
  req.grpid = static_cast<uint16_t>((desc[1] >> 3) & 0x1ff);
  const unsigned code = (desc[0] >> 12) & 0xf;
  const prg_response_code c = code == 0   ? prg_response_code::success
                              : code == 1 ? prg_response_code::invalid_request
                                          : prg_response_code::response_failure;
  if (!endpoints_.count(req.stream_id)) count("page_group_responses_no_endpoint");
  respond(endpoints_, req, c, t);
}

}  // namespace iommusim::models::vtd
