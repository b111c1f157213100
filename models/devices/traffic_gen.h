// SPDX-License-Identifier: MIT
// A synthetic DMA stream: addresses from a range (sequential, random or
// strided), a read/write mix, a fixed transfer size, a gap between issues,
// up to `outstanding` transactions in flight, for a count or a duration.
//
// Determinism: transaction i's address and direction depend only on the
// config and i (plan()), whichever slot issues it; slots take indices in
// issue order. With one slot both timing modes give identical latencies;
// with several, fast mode may interleave them differently inside a quantum.
//
// Timing (device clock): transaction i issues at
//   max(when a slot is free, issue time of i-1 + gap_cycles),
// then issue_cycles pass before it is sent; its latency is from that issue
// time to its completion. Achieved bandwidth = bytes / (last completion -
// first issue).
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "models/common/pcie_messages.h"
#include "models/common/stats.h"
#include "models/common/timing.h"
#include "models/devices/dma_port.h"

namespace iommusim::models {

enum class traffic_pattern { sequential, random, strided };
bool parse_traffic_pattern(const std::string &s, traffic_pattern *out);

struct traffic_config {
  double clock_mhz = 1000;
  uint32_t stream_id = 0;
  bool ssid_valid = false;
  uint32_t ssid = 0;
  bool privileged = false;
  uint64_t base = 0;          // address range [base, base + size) (IOVAs)
  uint64_t size = 1 << 20;
  traffic_pattern pattern = traffic_pattern::sequential;
  uint64_t stride = 4096;     // strided: distance between consecutive transactions
  double read_fraction = 1.0; // probability of a read
  uint32_t transfer_size = 64;  // a power of two, at most 4096: never crosses 4 KiB
  uint32_t gap_cycles = 0;    // at least this many cycles between two issues
  uint32_t issue_cycles = 0;  // per transaction, between issue and send
  unsigned outstanding = 1;   // concurrent transactions (slots)
  uint64_t count = 0;         // transactions to issue (0: until duration)
  uint64_t duration_cycles = 0;  // stop issuing after this long (0: until count)
  uint64_t seed = 1;
  bool autostart = true;      // start at time 0; else start()
  std::string check() const;  // empty if usable, else why not
};

class traffic_gen : public sc_core::sc_module, public endpoint_message_if {
 public:
  tlm_utils::simple_initiator_socket<traffic_gen> dma;
  sc_core::sc_port<iommu_message_if, 1, sc_core::SC_ZERO_OR_MORE_BOUND> iommu_msg;
  sc_core::sc_export<endpoint_message_if> endpoint_msg;
  std::function<void()> on_done;
  sc_core::sc_event done;  // every slot finished

  SC_HAS_PROCESS(traffic_gen);
  traffic_gen(sc_core::sc_module_name name, const traffic_config &cfg, timing_mode mode);
  ~traffic_gen() override;

  struct planned {
    uint64_t addr;
    bool write;
  };
  // Transactions 0 .. n-1 of cfg's stream, as the generator will issue them.
  static std::vector<planned> plan(const traffic_config &cfg, uint64_t n);

  void start();  // from a SystemC process, when autostart is off
  bool finished() const { return finished_; }
  uint64_t issued() const { return issued_; }
  uint64_t errors() const { return stats_.get("errors"); }
  // Bytes per device cycle from the first issue to the last completion.
  double achieved_bytes_per_cycle() const;
  uint64_t elapsed_cycles() const;
  const traffic_config &config() const { return cfg_; }
  stats_group &stats() { return stats_; }

  void page_response(const models::page_response &rsp, sc_core::sc_time &delay) override;
  void atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) override;

 private:
  // The sequence generator: one draw order for every run of a config.
  struct sequencer {
    explicit sequencer(const traffic_config &c) : cfg(c), rng(c.seed) {}
    planned next(uint64_t i);
    const traffic_config &cfg;
    std::mt19937_64 rng;
  };
  void slot(unsigned id);
  bool take(thread_time &t, uint64_t *index, planned *p, sc_core::sc_time *issue_at);

  traffic_config cfg_;
  clock_domain clk_;
  sequencer seq_;
  sc_core::sc_event start_ev_;
  bool started_ = false, finished_ = false;
  uint64_t issued_ = 0;
  unsigned running_ = 0;
  sc_core::sc_time next_issue_, first_issue_, last_done_;
  bool any_issued_ = false;
  deferred_calls later_;
  stats_group stats_;
};

}  // namespace iommusim::models
