// SPDX-License-Identifier: MIT
// A PRI-capable endpoint (PCIe 6.0 §10.4): when its DMA takes a translation
// fault it raises a Page Request Group — the faulting page and, with
// requests_per_group > 1, the pages after it (a device that knows its
// streaming pattern asks for them ahead), last = 1 on the final request —
// waits for the PRG Response and retries the request on Success.
//  Invalid Request: the access fails (the OS would not map the page).
//  Response Failure: the access fails and the function stops issuing page
//    requests (§10.4.2.1) until restart_pri().
//  No response in response_timeout_cycles (if non-zero): the access fails.
// Accesses that cross 4 KiB boundaries go as several requests (§2.2.7).
//
// Timing (device clock): issue_cycles before every request (retries too);
// page requests cost what the IOMMU annotates; the wait for the response is
// simulated time.
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

namespace iommusim::models {

struct pri_access {
  uint64_t gap_cycles = 0;  // program: cycles after the previous access completes
  uint64_t addr = 0;
  uint32_t len = 0;
  bool write = false;
  bool ssid_valid = false;
  uint32_t ssid = 0;
  bool privileged = false;
};

struct pri_device_config {
  double clock_mhz = 1000;
  uint32_t stream_id = 0;
  uint32_t issue_cycles = 1;
  unsigned requests_per_group = 1;
  // PRI capability: Outstanding Page Request Capacity; a group never asks
  // for more (§10.5.2).
  unsigned outstanding_capacity = 32;
  uint32_t max_retries = 4;               // groups for one request before giving up
  uint64_t response_timeout_cycles = 0;   // 0: wait forever
  std::vector<pri_access> program;        // run from time 0 if not empty
  std::string check() const;
};

class pri_device : public sc_core::sc_module, public endpoint_message_if {
 public:
  tlm_utils::simple_initiator_socket<pri_device> dma;
  sc_core::sc_port<iommu_message_if, 1, sc_core::SC_ZERO_OR_MORE_BOUND> iommu_msg;
  sc_core::sc_export<endpoint_message_if> endpoint_msg;
  std::function<void()> on_done;  // the program finished
  sc_core::sc_event done;

  struct result {
    bool ok = false;
    dma_result last;                 // the last request sent
    fault_class fault_cls = fault_class::unspecified;
    pri_agent::outcome pri = pri_agent::outcome::success;  // of the last group, if any
    unsigned groups = 0, page_requests = 0;
    uint64_t cycles = 0;
  };

  SC_HAS_PROCESS(pri_device);
  pri_device(sc_core::sc_module_name name, const pri_device_config &cfg, timing_mode mode);
  ~pri_device() override;

  // One DMA from the calling SC_THREAD (its own thread_time).
  result access(thread_time &t, const pri_access &a, uint8_t *data);

  const std::vector<result> &program_results() const { return results_; }
  bool finished() const { return finished_; }
  bool pri_stopped() const { return pri_.stopped(); }
  void restart_pri() { pri_.restart(); }
  const clock_domain &clock() const { return clk_; }
  stats_group &stats() { return stats_; }

  void page_response(const models::page_response &rsp, sc_core::sc_time &delay) override;
  void atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) override;

 private:
  void run_program();
  bool piece(thread_time &t, const pri_access &a, uint64_t addr, uint8_t *data, unsigned len,
             result *res);

  pri_device_config cfg_;
  clock_domain clk_;
  pri_agent pri_;
  deferred_calls later_;
  std::vector<result> results_;
  bool finished_ = false;
  stats_group stats_;
};

}  // namespace iommusim::models
