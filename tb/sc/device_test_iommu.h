// SPDX-License-Identifier: MIT
// A test-only IOMMU stand-in for the devices_* testbenches: translates IOVA
// pages it was told about by a fixed offset, faults the others, answers ATS
// translation requests and page requests, and sends ATS invalidations.
//
// Timing (its own clock, both modes): every upstream request costs
// xlate_cycles; a translated request also costs xlate_cycles (its "is ATS
// allowed" check). Faults and translation requests go no further. Page
// requests cost nothing to send; the PRG response arrives pri_response_cycles
// after the request with last = 1.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <cstdint>
#include <map>
#include <vector>

#include "models/common/iommu_extension.h"
#include "models/common/pcie_messages.h"
#include "models/common/timing.h"

namespace iommusim::testing {

struct test_iommu : sc_core::sc_module, models::iommu_message_if {
  tlm_utils::simple_target_socket<test_iommu> upstream;
  tlm_utils::simple_initiator_socket<test_iommu> downstream;
  sc_core::sc_export<models::iommu_message_if> msg_in;  // endpoints' iommu_msg binds here
  sc_core::sc_port<models::endpoint_message_if, 1, sc_core::SC_ZERO_OR_MORE_BOUND> endpoint;

  struct perms {
    bool read = true, write = true;
  };
  struct seen {
    uint32_t stream_id;
    bool ssid_valid;
    uint32_t ssid;
    bool privileged;
    models::at_kind at;
    bool no_write;
    uint64_t addr;
    unsigned len;
    bool write;
    sc_core::sc_time at_time;  // local time on arrival
  };
  struct pr_seen {
    models::page_request req;
    sc_core::sc_time at_time;
  };
  struct inv_done {
    uint32_t stream_id, itag;
    sc_core::sc_time at_time;
  };

  models::clock_domain clk;
  uint32_t xlate_cycles = 5;
  uint64_t offset = 0;  // PA = IOVA + offset
  std::map<std::pair<uint32_t, uint64_t>, perms> pages;  // (PASID or ~0u, IOVA page) -> perms
  unsigned ats_page_shift = 12;  // the range an ATS completion reports
  // PRI: the response code, whether a success maps the page, and the delay.
  models::prg_response_code pri_code = models::prg_response_code::success;
  bool pri_maps = true;
  uint32_t pri_response_cycles = 20;
  bool pri_respond = true;

  std::vector<seen> log;
  std::vector<pr_seen> page_requests;
  std::vector<inv_done> completions;

  SC_HAS_PROCESS(test_iommu);
  test_iommu(sc_core::sc_module_name n, models::timing_mode mode)
      : sc_core::sc_module(n), upstream("upstream"), downstream("downstream"), msg_in("msg_in"),
        endpoint("endpoint"), clk(1000, mode) {
    upstream.register_b_transport(this, &test_iommu::b_transport);
    msg_in.bind(*this);
  }

  static uint32_t ctx(bool v, uint32_t s) { return v ? s : ~0u; }
  void map(uint64_t iova, uint64_t len) { map(iova, len, perms{true, true}); }
  void map(uint64_t iova, uint64_t len, perms p, bool ssid_valid = false, uint32_t ssid = 0) {
    for (uint64_t a = iova & ~uint64_t{4095}; a < iova + len; a += 4096)
      pages[{ctx(ssid_valid, ssid), a}] = p;
  }
  const perms *find(bool v, uint32_t s, uint64_t addr) const {
    auto it = pages.find({ctx(v, s), addr & ~uint64_t{4095}});
    return it == pages.end() ? nullptr : &it->second;
  }

  void b_transport(tlm::tlm_generic_payload &p, sc_core::sc_time &delay) {
    models::timing_ctx t(clk.mode(), delay);
    auto *ext = p.get_extension<models::iommu_extension>();
    if (!ext) {
      p.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
      return;
    }
    log.push_back({ext->stream_id, ext->ssid_valid, ext->ssid, ext->privileged, ext->at,
                   ext->no_write, p.get_address(), p.get_data_length(), p.is_write(), t.now()});
    ext->reset_response();
    t.advance(xlate_cycles, clk);
    if (ext->at == models::at_kind::translated) {  // already a PA
      downstream->b_transport(p, t.delay());
      return;
    }
    const perms *pp = find(ext->ssid_valid, ext->ssid, p.get_address());
    if (ext->at == models::at_kind::translation_request) {
      p.set_response_status(tlm::TLM_OK_RESPONSE);
      if (!pp) return;  // R = W = 0: no translation
      const uint64_t mask = (uint64_t{1} << ats_page_shift) - 1;
      ext->output_addr = ((p.get_address() & ~mask) + offset);
      ext->output_page_shift = static_cast<uint8_t>(ats_page_shift);
      ext->out_read = pp->read;
      ext->out_write = pp->write && !ext->no_write;
      return;
    }
    if (!pp || (p.is_write() ? !pp->write : !pp->read)) {
      ext->status = models::iommu_status::fault;
      ext->fault_cls = pp ? models::fault_class::permission : models::fault_class::translation;
      ext->fault_type = pp ? 0x13 : 0x10;
      p.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
      return;
    }
    const uint64_t iova = p.get_address();
    p.set_address(iova + offset);
    downstream->b_transport(p, t.delay());
    p.set_address(iova);
  }

  // iommu_message_if
  void page_request(const models::page_request &req, sc_core::sc_time &delay) override {
    page_requests.push_back({req, sc_core::sc_time_stamp() + delay});
    if (!req.last || !pri_respond || endpoint.size() == 0) return;
    // Grant (map) every page of the group on success, then answer.
    if (pri_maps && pri_code == models::prg_response_code::success)
      for (const pr_seen &s : page_requests)
        if (s.req.grpid == req.grpid && s.req.stream_id == req.stream_id)
          map(s.req.addr, 4096, {true, true}, s.req.ssid_valid, s.req.ssid);
    models::page_response rsp;
    rsp.stream_id = req.stream_id;
    rsp.ssid_valid = req.ssid_valid;
    rsp.ssid = req.ssid;
    rsp.grpid = req.grpid;
    rsp.code = pri_code;
    sc_core::sc_time d = delay + clk.cycles(pri_response_cycles);
    endpoint->page_response(rsp, d);
  }
  void atc_invalidation_complete(uint32_t stream_id, uint32_t itag,
                                 sc_core::sc_time &delay) override {
    completions.push_back({stream_id, itag, sc_core::sc_time_stamp() + delay});
  }
  // Send an ATS invalidation to the endpoint now.
  void invalidate(const models::atc_invalidation &inv) {
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    endpoint->atc_invalidate(inv, d);
  }
};

}  // namespace iommusim::testing
