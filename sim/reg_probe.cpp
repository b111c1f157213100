// SPDX-License-Identifier: MIT
#include "sim/reg_probe.h"

#include <cstring>

namespace iommusim::sim {

reg_probe::reg_probe(sc_core::sc_module_name name)
    : sc_core::sc_module(name), in("in"), out("out") {
  in.register_b_transport(this, &reg_probe::b_transport);
  in.register_transport_dbg(this, &reg_probe::transport_dbg);
}

void reg_probe::watch(const std::string &name, uint64_t offset) {
  regs_.push_back(reg{name, offset, 0});
}

void reg_probe::watch_bit(const std::string &name, uint64_t offset, unsigned b) {
  size_t idx = regs_.size();
  for (size_t i = 0; i < regs_.size(); i++)
    if (regs_[i].offset == offset) idx = i;
  if (idx == regs_.size()) watch(name + "_reg", offset);
  bits_.push_back(bit{name, idx, b, false});
}

void reg_probe::trace(sc_core::sc_trace_file *tf, const std::string &prefix) {
  traced_ = true;
  for (reg &r : regs_) sc_core::sc_trace(tf, r.value, prefix + r.name);
  for (bit &b : bits_) sc_core::sc_trace(tf, b.value, prefix + b.name);
}

void reg_probe::derive() {
  for (bit &b : bits_) b.value = (regs_[b.reg].value >> b.bit) & 1;
}

void reg_probe::snoop(uint64_t offset, const unsigned char *data, unsigned len) {
  for (reg &r : regs_) {
    if (r.offset < offset || r.offset + 4 > offset + len) continue;
    std::memcpy(&r.value, data + (r.offset - offset), 4);
  }
}

void reg_probe::sample() {
  if (!traced_) return;  // only waveforms read the copies: no cost without them
  for (reg &r : regs_) {
    uint32_t v = 0;
    tlm::tlm_generic_payload p;
    p.set_command(tlm::TLM_READ_COMMAND);
    p.set_address(r.offset);
    p.set_data_ptr(reinterpret_cast<unsigned char *>(&v));
    p.set_data_length(4);
    p.set_streaming_width(4);
    p.set_byte_enable_ptr(nullptr);
    if (out->transport_dbg(p) == 4) r.value = v;
  }
  derive();
}

void reg_probe::b_transport(tlm::tlm_generic_payload &trans, sc_core::sc_time &delay) {
  out->b_transport(trans, delay);
  if (traced_ && trans.get_response_status() == tlm::TLM_OK_RESPONSE && !trans.get_byte_enable_ptr())
    snoop(trans.get_address(), trans.get_data_ptr(), trans.get_data_length());
  if (trans.is_write() && on_write_) {
    uint64_t v = 0;
    std::memcpy(&v, trans.get_data_ptr(), std::min<unsigned>(8, trans.get_data_length()));
    on_write_(trans.get_address(), v);
  }
  sample();
}

unsigned reg_probe::transport_dbg(tlm::tlm_generic_payload &trans) {
  return out->transport_dbg(trans);
}

}  // namespace iommusim::sim
