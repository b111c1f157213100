// SPDX-License-Identifier: MIT
// An address-decoding interconnect: any number of initiators on one target
// socket, a list of address windows each leading to one of N targets bound to
// the initiator socket (binding order = target index). The platform uses one
// for the host CPU's MMIO bus (relative windows: a device sees offsets in its
// BAR) and one between the IOMMUs and memory (absolute windows).
//
// Timing (router clock): every transaction pays hop_cycles once, on the
// request, before it is forwarded; decode errors pay it too. Unmapped
// addresses, and accesses that leave their window, get
// TLM_ADDRESS_ERROR_RESPONSE. transport_dbg is decoded the same way, untimed.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/common/stats.h"
#include "models/common/timing.h"

namespace iommusim::models {

struct router_window {
  uint64_t base = 0;
  uint64_t size = 0;
  unsigned target = 0;   // index of the target on initiator_socket (binding order)
  std::string name;
  bool relative = true;  // forward (addr - base); false: forward addr unchanged
};

struct router_config {
  double clock_mhz = 1000;
  uint32_t hop_cycles = 1;
  std::vector<router_window> windows;
  // Empty if usable, else why not (overlaps name both windows).
  std::string check() const;
};

class router : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<router> target_socket;
  tlm_utils::multi_passthrough_initiator_socket<router> initiator_socket;

  // Throws std::invalid_argument if cfg.check() fails.
  router(sc_core::sc_module_name name, const router_config &cfg, timing_mode mode);
  ~router() override;

  // Adds a window (before or during simulation); throws std::invalid_argument
  // with the reason if it is empty, wraps, or overlaps an existing window.
  void add_window(const router_window &w);
  // The window holding [addr, addr + len), or nullptr.
  const router_window *decode(uint64_t addr, uint64_t len = 1) const;
  const std::vector<router_window> &windows() const { return windows_; }
  const clock_domain &clock() const { return clk_; }
  stats_group &stats() { return stats_; }

 private:
  void end_of_elaboration() override;
  void b_transport(int id, tlm::tlm_generic_payload &trans, sc_core::sc_time &delay);
  unsigned transport_dbg(int id, tlm::tlm_generic_payload &trans);

  router_config cfg_;
  clock_domain clk_;
  std::vector<router_window> windows_;
  std::map<uint64_t, size_t> by_base_;  // window base -> index in windows_
  stats_group stats_;
};

}  // namespace iommusim::models
