// SPDX-License-Identifier: MIT
// Replays a DMA trace (trace_format.h), one DMA a line, in order, one at a
// time. Each line names its own stream and PASID, so one replayer can stand
// for several functions behind an IOMMU.
//
// Timing (device clock): line k issues at max(issue of line k-1 +
// gap_cycles(k), the time one of `outstanding` slots is free); the first at
// start + gap_cycles(0). With outstanding = 1 (the default) that is the
// completion of line k-1: one request at a time. More slots model a DMA
// engine with several requests in flight (PCIe tags, posted writes); lines
// still issue in order. issue_cycles pass before the request is sent. A
// line's latency runs from its issue to its completion, translation request
// and page requests included.
//
// ats lines: an ATS Translation Request first, then the access as translated
// with the returned address (no ATC: see ats_endpoint for one).
// pri lines: a translation fault (or, with ats, a completion that does not
// allow the access) sends one page request (last = 1) and retries after a
// successful PRG response, up to pri_max_retries times.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/common/pcie_messages.h"
#include "models/common/stats.h"
#include "models/common/timing.h"
#include "models/devices/dma_port.h"
#include "models/devices/trace_format.h"

namespace iommusim::models {

struct trace_replayer_config {
  double clock_mhz = 1000;
  uint32_t issue_cycles = 0;
  uint32_t pri_max_retries = 4;
  uint64_t pri_timeout_cycles = 0;  // 0: wait forever
  bool autostart = true;
  bool stop_on_error = false;       // stop at the first failing line
  unsigned outstanding = 1;         // requests in flight at once, 1 .. 1024
  std::string check() const;
};

class trace_replayer : public sc_core::sc_module, public endpoint_message_if {
 public:
  tlm_utils::simple_initiator_socket<trace_replayer> dma;
  sc_core::sc_port<iommu_message_if, 1, sc_core::SC_ZERO_OR_MORE_BOUND> iommu_msg;
  sc_core::sc_export<endpoint_message_if> endpoint_msg;
  std::function<void()> on_done;
  sc_core::sc_event done;

  // What happened to one line.
  struct line_result {
    unsigned line = 0;
    uint64_t issue_cycle = 0;     // device cycles since the replay started
    uint64_t latency_cycles = 0;
    bool ok = false;
    tlm::tlm_response_status response = tlm::TLM_INCOMPLETE_RESPONSE;
    iommu_status status = iommu_status::ok;
    fault_class fault_cls = fault_class::unspecified;
    unsigned page_requests = 0;
    uint64_t translated_addr = 0;  // ats lines: the address used
  };

  SC_HAS_PROCESS(trace_replayer);
  trace_replayer(sc_core::sc_module_name name, const trace_replayer_config &cfg, timing_mode mode,
                 std::vector<trace_record> records);
  ~trace_replayer() override;

  void start();
  bool finished() const { return finished_; }
  const std::vector<line_result> &results() const { return results_; }
  stats_group &stats() { return stats_; }

  void page_response(const models::page_response &rsp, sc_core::sc_time &delay) override;
  void atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) override;

 private:
  void slot(unsigned id);
  // The next line for a slot free at t.now(): its index and issue time.
  bool take(thread_time &t, size_t *index, sc_core::sc_time *issue_at);
  line_result replay(thread_time &t, const trace_record &r, uint8_t *buf);
  bool try_page_request(thread_time &t, const trace_record &r, line_result *res);

  trace_replayer_config cfg_;
  clock_domain clk_;
  std::vector<trace_record> records_;
  std::vector<line_result> results_;
  pri_agent pri_;
  deferred_calls later_;
  sc_core::sc_event start_ev_;
  bool started_ = false, finished_ = false;
  size_t next_ = 0;               // next line to issue
  bool stopping_ = false;         // stop_on_error: a line failed
  bool any_issued_ = false;
  sc_core::sc_time start_, prev_issue_;
  unsigned running_ = 0;          // slots still replaying
  std::vector<bool> completed_;   // by line index
  stats_group stats_;
};

}  // namespace iommusim::models
