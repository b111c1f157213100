// SPDX-License-Identifier: MIT
#include "models/common/downstream_port.h"

#include "models/common/iommu_extension.h"

namespace iommusim::models {

namespace {

void prepare(tlm::tlm_generic_payload &tr, tlm::tlm_command cmd, uint64_t pa, void *data,
             unsigned len) {
  tr.set_command(cmd);
  tr.set_address(pa);
  tr.set_data_ptr(static_cast<unsigned char *>(data));
  tr.set_data_length(len);
  tr.set_streaming_width(len);
  tr.set_byte_enable_ptr(nullptr);
  tr.set_byte_enable_length(0);
  tr.set_dmi_allowed(false);
  tr.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}

}  // namespace

bool downstream_port::transport(tlm::tlm_generic_payload &tr, timing_ctx &t) {
  socket_->b_transport(tr, t.delay());
  // A memory that annotates instead of waiting, seen in cycle mode: consume
  // the delay so the next step starts at the right time.
  if (mode_ == timing_mode::cycle && t.delay() != sc_core::SC_ZERO_TIME) {
    sc_core::wait(t.delay());
    t.delay() = sc_core::SC_ZERO_TIME;
  }
  return tr.is_response_ok();
}

bool downstream_port::read(uint64_t pa, void *dst, unsigned len, timing_ctx &t) {
  tlm::tlm_generic_payload tr;
  prepare(tr, tlm::TLM_READ_COMMAND, pa, dst, len);
  return transport(tr, t);
}

bool downstream_port::write(uint64_t pa, const void *src, unsigned len, timing_ctx &t) {
  tlm::tlm_generic_payload tr;
  prepare(tr, tlm::TLM_WRITE_COMMAND, pa, const_cast<void *>(src), len);
  return transport(tr, t);
}

bool downstream_port::cas(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed,
                          timing_ctx &t) {
  tlm::tlm_generic_payload tr;
  uint64_t data = desired;
  prepare(tr, tlm::TLM_WRITE_COMMAND, pa, &data, 8);
  atomic_extension ext;
  ext.expected = expected;
  tr.set_extension(&ext);
  const bool ok = transport(tr, t);
  tr.clear_extension(&ext);
  *observed = ext.observed;
  return ok;
}

void downstream_port::forward(tlm::tlm_generic_payload &tr, uint64_t pa, unsigned char *data,
                              unsigned len, timing_ctx &t) {
  tr.set_address(pa);
  tr.set_data_ptr(data);
  tr.set_data_length(len);
  tr.set_streaming_width(len);
  tr.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  transport(tr, t);
}

bool downstream_port::peek(uint64_t pa, void *dst, unsigned len) {
  tlm::tlm_generic_payload tr;
  prepare(tr, tlm::TLM_READ_COMMAND, pa, dst, len);
  return socket_->transport_dbg(tr) == len;
}

}  // namespace iommusim::models
