// SPDX-License-Identifier: MIT
// The platform's interrupt controller and the IRQ OS thread.
//
// Lines 0 .. lines-1. A model drives a line's level (set_level) or pulses it;
// a rising edge queues the line for the IRQ thread, which runs the handler a
// driver registered with host_bus::request_irq() — threaded-IRQ semantics:
// handlers never run on the simulation thread, may block (their hardware
// accesses go through HostBus), and a line raised again while its handler runs
// is handled once more afterwards (edges coalesce while pending). Lines are
// edge-triggered: a level that stays high does not re-fire.
//
// MSI doorbells: a window of 4 KiB pages (msi_base + line * 4 KiB); a write of
// any value to page `line` pulses that line. The window is mapped on the host
// CPU's MMIO bus and on the IOMMUs' memory bus (IOMMU MSIs are memory writes),
// through the multi-target socket `msi`. Router windows are relative: offsets
// arrive, not absolute addresses.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "models/common/stats.h"
#include "sim/sim_thread.h"

namespace iommusim::sim {

class irq_controller : public sc_core::sc_module {
 public:
  static constexpr uint64_t kDoorbellStride = 4096;
  // How long a pulse (an MSI, a model's pulsed line) stays visible in traces.
  static constexpr double kPulseNs = 1.0;

  tlm_utils::multi_passthrough_target_socket<irq_controller> msi;

  SC_HAS_PROCESS(irq_controller);
  irq_controller(sc_core::sc_module_name name, unsigned lines, uint64_t msi_base);
  ~irq_controller() override;

  unsigned lines() const { return lines_; }
  uint64_t msi_base() const { return msi_base_; }
  uint64_t msi_size() const { return uint64_t{lines_} * kDoorbellStride; }

  // Model side (simulation thread only).
  void set_level(unsigned line, bool level);
  void pulse(unsigned line);

  // OS side (any thread). 0 or -errno: -EINVAL bad line, -EBUSY taken.
  int request_irq(unsigned line, std::function<void()> handler);
  // Waits for a running handler of the line to finish (unless called from it).
  void free_irq(unsigned line);
  uint64_t msi_doorbell(unsigned line) const { return msi_base_ + line * kDoorbellStride; }

  // Start/stop the IRQ thread (start before simulation, stop at shutdown).
  void start_thread();
  void stop_thread();
  // Blocks until no line is pending and no handler runs (tests, run_until_idle).
  void wait_quiet();
  bool quiet();

  void trace(sc_core::sc_trace_file *tf, const std::string &prefix);
  // A name for a line in traces ("smmu0.evtq").
  void name_line(unsigned line, const std::string &name);
  models::stats_group &stats() { return stats_; }
  // Copy the IRQ thread's counters into stats() (simulation thread, before a report).
  void sync_stats();

 private:
  void b_transport(int id, tlm::tlm_generic_payload &trans, sc_core::sc_time &delay);
  unsigned transport_dbg(int id, tlm::tlm_generic_payload &trans);
  void queue_line(unsigned line);  // simulation thread
  void irq_main();

  struct line_state {
    std::shared_ptr<std::function<void()>> handler;
    bool pending = false;
    bool running = false;
    uint64_t raised = 0;   // edges seen (simulation thread)
    uint64_t handled = 0;  // handler runs (IRQ thread)
  };

  const unsigned lines_;
  const uint64_t msi_base_;
  void drop_pulses();
  std::unique_ptr<bool[]> level_;   // as the models drive it (simulation thread)
  std::unique_ptr<bool[]> shown_;   // traced: high for at least kPulse after an edge
  std::vector<sc_core::sc_time> until_;
  sc_core::sc_event drop_ev_;
  std::vector<std::string> line_names_;

  std::mutex m_;                    // leaf lock: never held across wait() or a handler
  std::condition_variable cv_;      // work for the IRQ thread / a handler finished
  std::vector<line_state> state_;
  std::deque<unsigned> queue_;
  bool stopping_ = false;
  bool thread_done_ = false;
  std::thread thread_;
  std::thread::id irq_thread_id_;
  // The IRQ thread as a host agent: an edge queued while it waits for work
  // makes it runnable at that simulated time (docs/platform.md, "Determinism").
  std::shared_ptr<host_agent> irq_agent_;
  bool irq_idle_ = false;

  models::stats_group stats_;
  std::atomic<uint64_t> handled_{0}, unhandled_{0};  // IRQ thread
};

}  // namespace iommusim::sim
