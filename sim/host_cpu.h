// SPDX-License-Identifier: MIT
// The simulated host CPU: it performs HostBus requests (iommufd_api/drivers/
// hostbus.h) posted by any OS thread, in simulated time.
//
//  - MMIO reads/writes are TLM transactions on the MMIO router: cost
//    mmio_read / mmio_write cycles of the CPU clock, plus what the bus and the
//    target add.
//  - Coherent memory accesses are functional on phys_memory (the CPU's cached,
//    coherent view) and cost mem_read_line / mem_write_line CPU cycles per
//    64-byte line touched. A write is visible to the IOMMUs when the call
//    returns.
//  - dma_alloc/free go to phys_memory's allocator (no simulated time).
//  - poll32/poll_mem32/delay_ns run in simulated time: a poll reads, and if
//    the condition does not hold and timeout_ns has not passed since the poll
//    began, waits interval_ns and reads again (readl_poll_timeout()).
//
// Each call from an OS thread becomes a request; `cores` SC_THREADs take
// requests in arrival order (one core: strictly one after another), and the
// calling thread blocks until its request completes. In fast mode a request's
// annotated delay is waited out before it completes, so simulated time is
// consistent whenever a caller looks. Interrupts go to the irq_controller
// (request_irq/free_irq/msi_doorbell).
//
// After the simulation stopped, calls return at once: reads see all-ones (as
// a dead PCI device), polls fail, writes are dropped.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "iommufd_api/drivers/hostbus.h"
#include "models/common/memory.h"
#include "models/common/stats.h"
#include "models/common/timing.h"
#include "sim/irq_controller.h"
#include "sim/sim_thread.h"

namespace iommusim::sim {

struct host_cpu_config {
  double clock_mhz = 2000;
  uint32_t mmio_read = 200;     // CPU cycles per MMIO read, before the bus
  uint32_t mmio_write = 100;    // CPU cycles per MMIO write, before the bus
  uint32_t mem_read_line = 4;   // CPU cycles per 64-byte line read from coherent memory
  uint32_t mem_write_line = 4;  // CPU cycles per 64-byte line written
  unsigned cores = 2;           // requests served concurrently
  std::string check() const;
};

class host_cpu : public sc_core::sc_module, public iommufd::host_bus {
 public:
  tlm_utils::simple_initiator_socket<host_cpu> mmio;

  host_cpu(sc_core::sc_module_name name, const host_cpu_config &cfg, models::timing_mode mode,
           models::phys_memory &mem, irq_controller &irqs, sim_thread &sim);
  ~host_cpu() override;

  // host_bus
  uint32_t readl(uint64_t pa) override;
  uint64_t readq(uint64_t pa) override;
  void writel(uint64_t pa, uint32_t value) override;
  void writeq(uint64_t pa, uint64_t value) override;
  void mem_read(uint64_t pa, void *dst, size_t len) override;
  void mem_write(uint64_t pa, const void *src, size_t len) override;
  uint64_t dma_alloc(uint64_t bytes, uint64_t align) override;
  void dma_free(uint64_t pa, uint64_t bytes) override;
  bool poll32(uint64_t pa, uint32_t mask, uint32_t want, uint64_t interval_ns,
              uint64_t timeout_ns) override;
  bool poll_mem32(uint64_t pa, uint32_t mask, uint32_t want, uint64_t interval_ns,
                  uint64_t timeout_ns) override;
  void delay_ns(uint64_t ns) override;
  uint64_t now_ps() override;
  int request_irq(unsigned line, std::function<void()> handler) override;
  void free_irq(unsigned line) override;
  uint64_t msi_doorbell(unsigned line) override;

  const host_cpu_config &config() const { return cfg_; }
  const models::clock_domain &clock() const { return clk_; }
  models::stats_group &stats() { return stats_; }
  // Requests queued or running (simulation thread).
  size_t busy() const { return queue_.size() + running_; }

 private:
  struct request {
    std::function<void()> op;  // runs in a core's SC_THREAD
    std::shared_ptr<completion> done;
    sc_core::sc_time arrived;
  };
  // Run op in simulated time on a core and wait for it. False if the
  // simulation is not running (op did not run, or was cut short).
  bool call(std::function<void()> op);
  void core_main();
  // In SC_THREAD context:
  bool mmio_access(bool write, uint64_t pa, void *data, unsigned len);
  void mem_access(bool write, uint64_t pa, void *data, size_t len);
  void spend(uint64_t cycles);

  host_cpu_config cfg_;
  models::clock_domain clk_;
  models::phys_memory &mem_;
  irq_controller &irqs_;
  sim_thread &sim_;
  std::deque<request> queue_;  // simulation thread only
  sc_core::sc_event queued_;
  unsigned running_ = 0;
  bool bad_mem_reported_ = false;
  models::stats_group stats_;
};

}  // namespace iommusim::sim
