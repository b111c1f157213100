// SPDX-License-Identifier: MIT
// An interposer on the MMIO bus in front of a register window (an IOMMU's
// registers, a device's BAR). It forwards every access unchanged and keeps a
// copy of chosen registers for waveforms: after each access through it, and
// whenever the platform calls sample() (a DMA completed at the IOMMU, an
// interrupt), it re-reads them with transport_dbg; a target without debug
// access is still followed through the values real accesses carry.
// Values live in plain variables traced with sc_trace (simulation thread).
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

namespace iommusim::sim {

class reg_probe : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<reg_probe> in;    // from the MMIO router
  tlm_utils::simple_initiator_socket<reg_probe> out;  // to the target's register socket

  explicit reg_probe(sc_core::sc_module_name name);

  // Follow a 32-bit register at offset (relative to the window).
  void watch(const std::string &name, uint64_t offset);
  // A derived one-bit signal (e.g. BUSY = STATUS bit 0) of a watched register.
  void watch_bit(const std::string &name, uint64_t offset, unsigned bit);
  // Called after each write through the probe (e.g. GO of a device).
  void on_write(std::function<void(uint64_t offset, uint64_t value)> fn) { on_write_ = std::move(fn); }

  // Re-read the watched registers (a no-op unless traced).
  void sample();
  void trace(sc_core::sc_trace_file *tf, const std::string &prefix);

 private:
  void b_transport(tlm::tlm_generic_payload &trans, sc_core::sc_time &delay);
  unsigned transport_dbg(tlm::tlm_generic_payload &trans);
  void snoop(uint64_t offset, const unsigned char *data, unsigned len);
  void derive();

  struct reg {
    std::string name;
    uint64_t offset;
    uint32_t value = 0;
  };
  struct bit {
    std::string name;
    size_t reg;
    unsigned bit;
    bool value = false;
  };
  std::deque<reg> regs_;  // deque: traced by reference, so elements never move
  std::deque<bit> bits_;
  std::function<void(uint64_t, uint64_t)> on_write_;
  bool traced_ = false;  // trace() was called: keep the copies current
};

}  // namespace iommusim::sim
