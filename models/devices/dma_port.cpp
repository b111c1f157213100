// SPDX-License-Identifier: MIT
#include "models/devices/dma_port.h"

#include <algorithm>

namespace iommusim::models {

// --- thread_time ----------------------------------------------------------------

void thread_time::advance(const sc_core::sc_time &t) {
  if (t == sc_core::SC_ZERO_TIME) return;
  if (mode() == timing_mode::cycle) {
    sc_core::wait(t);
    return;
  }
  qk_.inc(t);
  if (qk_.need_sync()) qk_.sync();
}

void thread_time::sync() {
  if (mode() == timing_mode::fast) qk_.sync();  // waits out the local time, resets it
}

sc_core::sc_time thread_time::begin_call() const { return qk_.get_local_time(); }

void thread_time::end_call(const sc_core::sc_time &delay) {
  if (mode() == timing_mode::cycle) {
    // The callee waited for its own steps; anything it annotated still passes.
    if (delay != sc_core::SC_ZERO_TIME) sc_core::wait(delay);
    return;
  }
  qk_.set(delay);
  if (qk_.need_sync()) qk_.sync();
}

// --- one DMA --------------------------------------------------------------------

dma_result dma_transfer(tlm::tlm_initiator_socket<> &socket, thread_time &t, tlm::tlm_command cmd,
                        uint64_t addr, uint8_t *data, unsigned len, const dma_attrs &attrs) {
  iommu_extension ext;
  ext.stream_id = attrs.stream_id;
  ext.ssid_valid = attrs.ssid_valid;
  ext.ssid = attrs.ssid_valid ? attrs.ssid : 0;
  ext.privileged = attrs.privileged;
  ext.instruction = attrs.instruction;
  ext.at = attrs.at;
  ext.no_write = attrs.no_write;

  uint8_t none = 0;
  tlm::tlm_generic_payload p;
  p.set_command(cmd);
  p.set_address(addr);
  p.set_data_ptr(data ? data : &none);
  p.set_data_length(len);
  p.set_streaming_width(len);
  p.set_byte_enable_ptr(nullptr);
  p.set_dmi_allowed(false);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  p.set_extension(&ext);

  const sc_core::sc_time start = t.now();
  sc_core::sc_time delay = t.begin_call();
  socket->b_transport(p, delay);
  t.end_call(delay);
  // The payload must not free a stack extension when it goes.
  p.clear_extension(&ext);

  dma_result r;
  r.response = p.get_response_status();
  r.ext = ext;
  r.cycles = t.clock().to_cycles(t.now() - start);
  return r;
}

ats_completion ats_translate(tlm::tlm_initiator_socket<> &socket, thread_time &t, uint64_t addr,
                             bool write, dma_attrs attrs) {
  attrs.at = at_kind::translation_request;
  attrs.no_write = !write;
  ats_completion c;
  c.raw = dma_transfer(socket, t, tlm::TLM_READ_COMMAND, addr & ~uint64_t{4095}, nullptr, 0, attrs);
  const iommu_extension &e = c.raw.ext;
  // A completion with R = W = 0 says the page is not accessible (§10.2.3).
  if (!c.raw.ok() || !(e.out_read || e.out_write)) return c;
  c.valid = true;
  c.shift = std::clamp<unsigned>(e.output_page_shift, 12, 63);
  const uint64_t mask = (uint64_t{1} << c.shift) - 1;
  c.in_base = addr & ~mask;
  c.out_base = e.output_addr & ~mask;
  c.read = e.out_read;
  c.write = e.out_write;
  c.exec = e.out_exec;
  c.priv = e.out_priv;
  return c;
}

// --- PRI --------------------------------------------------------------------------

pri_agent::outcome pri_agent::request(sc_core::sc_port_b<iommu_message_if> &port, thread_time &t,
                                      std::vector<page_request> reqs, uint64_t timeout_cycles) {
  if (port.size() == 0 || stopped_ || reqs.empty()) return outcome::unavailable;
  // PRG index: 9 bits (PCIe 6.0 §10.4.1); a new group for every request.
  const uint16_t grp = next_grpid_;
  next_grpid_ = static_cast<uint16_t>((next_grpid_ + 1) & 0x1ff);
  for (size_t i = 0; i < reqs.size(); i++) {
    reqs[i].grpid = grp;
    reqs[i].last = i + 1 == reqs.size();
    reqs[i].addr &= ~uint64_t{4095};
    sc_core::sc_time d = t.begin_call();
    port->page_request(reqs[i], d);
    t.end_call(d);
    sent_++;
  }
  // Waiting for a message needs the kernel at our local time.
  t.sync();
  const uint32_t sid = reqs.front().stream_id;
  const bool bounded = timeout_cycles != 0;
  const sc_core::sc_time deadline =
      sc_core::sc_time_stamp() + (bounded ? t.clock().cycles(timeout_cycles) : sc_core::SC_ZERO_TIME);
  for (;;) {
    const sc_core::sc_time now = sc_core::sc_time_stamp();
    auto it = std::find_if(arrived_.begin(), arrived_.end(), [&](const arrived &a) {
      return a.rsp.stream_id == sid && a.rsp.grpid == grp && a.at <= now;
    });
    if (it != arrived_.end()) {
      const prg_response_code code = it->rsp.code;
      arrived_.erase(it);
      received_++;
      switch (code) {
        case prg_response_code::success:
          return outcome::success;
        case prg_response_code::invalid_request:
          return outcome::invalid_request;
        case prg_response_code::response_failure:
          break;
      }
      stopped_ = true;
      return outcome::response_failure;
    }
    if (bounded && now >= deadline) return outcome::timeout;
    if (bounded)
      sc_core::wait(deadline - now, responses_.default_event());
    else
      sc_core::wait(responses_.default_event());
  }
}

void pri_agent::on_response(const page_response &rsp, const sc_core::sc_time &delay) {
  arrived_.push_back({rsp, sc_core::sc_time_stamp() + delay});
  responses_.notify(delay);
}

// --- deferred calls ----------------------------------------------------------------

deferred_calls::deferred_calls(sc_core::sc_module_name name)
    : sc_core::sc_module(name), wake_("wake") {
  SC_METHOD(fire);
  sensitive << wake_;
  dont_initialize();
}

void deferred_calls::schedule(const sc_core::sc_time &delay, std::function<void()> fn) {
  queue_.push({sc_core::sc_time_stamp() + delay, seq_++, std::move(fn)});
  wake_.notify(delay);
}

void deferred_calls::fire() {
  while (!queue_.empty() && queue_.top().at <= sc_core::sc_time_stamp()) {
    std::function<void()> fn = queue_.top().fn;
    queue_.pop();
    fn();  // may schedule more
  }
}

}  // namespace iommusim::models
