// SPDX-License-Identifier: MIT
// An interposer between a DMA master and its IOMMU's upstream socket: it
// forwards every transaction unchanged and records what the IOMMU did with it
// (the transaction log and per-device statistics), so the IOMMU model needs no
// hooks of its own.
//
// Log record (one CSV line per transaction, written when it completes):
//   time_ps       simulated time the transaction was issued (kernel time plus
//                 the initiator's annotated delay)
//   device        the master's name
//   stream_id     StreamID (hex), ssid (hex, or '-' without a PASID)
//   addr, size    input address (hex) and bytes
//   dir           R, W, or T (ATS translation request)
//   at            untranslated / translated / translation_request
//   status        ok, fault, stall_terminated, config_abort; or the TLM
//                 response when it is not OK and the IOMMU reported ok
//   fault_type    architecture-specific code (hex)
//   translate_cycles  IOMMU-clock cycles spent in translation
//   output_addr   translated address (hex)
//   latency_ps    issue to completion
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "models/common/stats.h"

namespace iommusim::sim {

// The transaction log file (shared by every tap of a platform).
class txn_log {
 public:
  explicit txn_log(const std::string &path);  // throws std::runtime_error
  ~txn_log();
  void write(const std::string &line);
  void flush();

 private:
  std::FILE *f_ = nullptr;
};

class dma_tap : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<dma_tap> upstream;      // from the device
  tlm_utils::simple_initiator_socket<dma_tap> downstream;  // to the IOMMU

  dma_tap(sc_core::sc_module_name name, std::string device, txn_log *log);
  ~dma_tap() override;

  models::stats_group &stats() { return stats_; }
  uint64_t transactions() const { return count_; }
  // Called after each transaction (simulation thread).
  std::function<void()> after;

 private:
  void b_transport(tlm::tlm_generic_payload &trans, sc_core::sc_time &delay);
  unsigned transport_dbg(tlm::tlm_generic_payload &trans);

  std::string device_;
  txn_log *log_;
  uint64_t count_ = 0;
  models::stats_group stats_;
};

}  // namespace iommusim::sim
