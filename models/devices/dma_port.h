// SPDX-License-Identifier: MIT
// What every DMA master shares: the time of one device thread in both timing
// modes, issuing one DMA with its iommu_extension, the PRI page-request agent,
// and callbacks at a later simulated time (ATS invalidation completions).
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/tlm_quantumkeeper.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <vector>

#include "models/common/iommu_extension.h"
#include "models/common/pcie_messages.h"
#include "models/common/timing.h"

namespace iommusim::models {

// The local time of one device SC_THREAD, in the device's clock.
//  cycle: advance() is wait(); nothing is ever annotated.
//  fast:  advance() adds to a tlm_quantumkeeper; the thread yields at the
//         global quantum (tlm::tlm_global_quantum) and at sync().
class thread_time {
 public:
  explicit thread_time(const clock_domain &clk) : clk_(clk) { qk_.reset(); }
  const clock_domain &clock() const { return clk_; }
  timing_mode mode() const { return clk_.mode(); }
  // Local time: kernel time plus what this thread has run ahead.
  sc_core::sc_time now() const { return qk_.get_current_time(); }
  void advance(uint64_t cycles) { advance(clk_.cycles(cycles)); }
  void advance(const sc_core::sc_time &t);
  // Bring the kernel up to the local time (before waiting for an event, or
  // before making a result visible to other processes).
  void sync();
  // Around a blocking call that takes an annotated delay (b_transport,
  // iommu_message_if): begin_call gives the delay to pass, end_call takes it
  // back and waits (cycle) or keeps it as local time (fast).
  sc_core::sc_time begin_call() const;
  void end_call(const sc_core::sc_time &delay);

 private:
  clock_domain clk_;
  tlm_utils::tlm_quantumkeeper qk_;
};

// How a DMA is tagged on its way to the IOMMU.
struct dma_attrs {
  uint32_t stream_id = 0;
  bool ssid_valid = false;
  uint32_t ssid = 0;
  bool privileged = false;
  bool instruction = false;
  at_kind at = at_kind::untranslated;
  bool no_write = false;  // ATS translation request: read-only access requested
};

struct dma_result {
  tlm::tlm_response_status response = tlm::TLM_INCOMPLETE_RESPONSE;
  iommu_extension ext;   // the IOMMU's response fields
  uint64_t cycles = 0;   // device cycles from issue to completion
  bool ok() const { return response == tlm::TLM_OK_RESPONSE && ext.status == iommu_status::ok; }
  bool iommu_fault() const { return ext.status != iommu_status::ok; }
  // A fault a page request may cure (an unspecified class counts, see fault_class).
  bool translation_fault() const {
    return ext.status == iommu_status::fault && (ext.fault_cls == fault_class::translation ||
                                                 ext.fault_cls == fault_class::unspecified);
  }
  bool permission_fault() const {
    return ext.status == iommu_status::fault && ext.fault_cls == fault_class::permission;
  }
};

// One blocking DMA through `socket`: data/len as in a generic payload (len 0
// with a translation request, whose answer is in result.ext).
dma_result dma_transfer(tlm::tlm_initiator_socket<> &socket, thread_time &t, tlm::tlm_command cmd,
                        uint64_t addr, uint8_t *data, unsigned len, const dma_attrs &attrs);

// An ATS Translation Request (PCIe 6.0 §10.2.2) for the page holding addr:
// a TLM_READ_COMMAND of length 0 with at = translation_request and no_write
// when only read access is wanted; the IOMMU answers in the extension
// (output_addr, output_page_shift, out_read/out_write/out_exec/out_priv).
struct ats_completion {
  dma_result raw;
  bool valid = false;        // the IOMMU returned a translation granting something
  uint64_t in_base = 0;      // the translated range: [in_base, in_base + 2^shift)
  uint64_t out_base = 0;     //   maps to [out_base, ...)
  unsigned shift = 12;
  bool read = false, write = false, exec = false, priv = false;
  bool allows(bool w) const { return valid && (w ? write : read); }
  uint64_t translate(uint64_t addr) const { return out_base + (addr - in_base); }
};
ats_completion ats_translate(tlm::tlm_initiator_socket<> &socket, thread_time &t, uint64_t addr,
                             bool write, dma_attrs attrs);

// A 4 KiB-bounded piece: PCIe requests must not cross a 4 KiB boundary
// (PCIe 6.0 §2.2.7), so DMA engines cut their bursts there.
inline uint64_t bytes_to_4k(uint64_t addr) { return 4096 - (addr & 4095); }

// Cut [addr, addr + len) into 4 KiB-bounded pieces and call
// piece(addr, offset, bytes) for each while it returns true; false if one
// did not.
template <class Piece>
bool for_each_4k_piece(uint64_t addr, uint64_t len, Piece &&piece) {
  for (uint64_t off = 0; off < len;) {
    const unsigned n = static_cast<unsigned>(std::min<uint64_t>(len - off, bytes_to_4k(addr + off)));
    if (!piece(addr + off, off, n)) return false;
    off += n;
  }
  return true;
}

// A device's scripted program: each access after its gap_cycles; a write
// carries bytes (index + k) so a test can tell which access wrote what.
// access(t, a, data) returns the access's result, kept in *results.
template <class Access, class Result, class Fn>
void run_scripted_program(thread_time &t, const std::vector<Access> &program, std::vector<Result> *results,
                          Fn &&access) {
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < program.size(); i++) {
    const Access &a = program[i];
    t.advance(a.gap_cycles);
    buf.assign(a.len, 0);
    if (a.write)
      for (size_t k = 0; k < buf.size(); k++) buf[k] = static_cast<uint8_t>(i + k);
    results->push_back(access(t, a, buf.data()));
  }
}

// The PRI side of an endpoint (PCIe 6.0 §10.4): sends a Page Request Group,
// waits for its PRG Response. The device forwards page_response() here.
class pri_agent {
 public:
  enum class outcome { success, invalid_request, response_failure, timeout, unavailable };
  explicit pri_agent(const char *name) : responses_(name) {}

  // Sends reqs as one group (a fresh PRG index in every request, last=true on
  // the final one) through port, then waits for the response to that group.
  // timeout_cycles 0 waits forever. unavailable: no port bound, or PRI
  // stopped by an earlier Response Failure (PCIe 6.0 §10.4.2.1: the function
  // must stop issuing page requests until software re-enables PRI).
  outcome request(sc_core::sc_port_b<iommu_message_if> &port, thread_time &t,
                  std::vector<page_request> reqs, uint64_t timeout_cycles);
  void on_response(const page_response &rsp, const sc_core::sc_time &delay);

  bool stopped() const { return stopped_; }
  void restart() { stopped_ = false; }  // software re-enabled PRI
  uint64_t requests_sent() const { return sent_; }
  uint64_t responses_received() const { return received_; }
  uint16_t next_grpid() const { return next_grpid_; }

 private:
  struct arrived {
    page_response rsp;
    sc_core::sc_time at;
  };
  sc_core::sc_event_queue responses_;  // one notification per response, never merged
  std::vector<arrived> arrived_;
  uint16_t next_grpid_ = 0;
  bool stopped_ = false;
  uint64_t sent_ = 0, received_ = 0;
};

// Runs callbacks at later simulated times, in time order, then in the order
// they were scheduled. For answers a device gives without blocking its caller
// (an ATS Invalidation Completion after the ATC is swept).
class deferred_calls : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(deferred_calls);
  explicit deferred_calls(sc_core::sc_module_name name);
  void schedule(const sc_core::sc_time &delay, std::function<void()> fn);
  size_t pending() const { return queue_.size(); }

 private:
  struct item {
    sc_core::sc_time at;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const item &o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  void fire();
  sc_core::sc_event_queue wake_;
  std::priority_queue<item, std::vector<item>, std::greater<item>> queue_;
  uint64_t seq_ = 0;
};

}  // namespace iommusim::models
