// SPDX-License-Identifier: MIT
// An IOMMU's accesses to memory over its downstream socket: its own (table
// and queue fetches, record and MSI writes, atomic A/D updates, debug peeks)
// and the devices' translated data.
// Both IOMMU models (SMMUv3, VT-d) issue them the same way; what differs is
// only what they fetch.
#pragma once

#include <systemc>
#include <tlm>

#include <cstdint>

#include "models/common/timing.h"

namespace iommusim::models {

class downstream_port {
 public:
  using port_type = sc_core::sc_port_b<tlm::tlm_fw_transport_if<>>;

  downstream_port(port_type &socket, timing_mode mode) : socket_(socket), mode_(mode) {}

  // Timed accesses; the cost lands in t. False on an error response.
  bool read(uint64_t pa, void *dst, unsigned len, timing_ctx &t);
  bool write(uint64_t pa, const void *src, unsigned len, timing_ctx &t);
  // An atomic compare-and-swap of 8 bytes (atomic_extension); *observed gets
  // the value memory held.
  bool cas(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed, timing_ctx &t);
  // A device's own access, translated: its payload tr, retargeted at pa
  // (data, len), goes on with its command and extensions; the caller puts
  // the device's address back.
  void forward(tlm::tlm_generic_payload &tr, uint64_t pa, unsigned char *data, unsigned len,
               timing_ctx &t);
  // Untimed debug read (transport_dbg): true when all len bytes came back.
  bool peek(uint64_t pa, void *dst, unsigned len);

 private:
  bool transport(tlm::tlm_generic_payload &tr, timing_ctx &t);
  port_type &socket_;
  timing_mode mode_;
};

}  // namespace iommusim::models
