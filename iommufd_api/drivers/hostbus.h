// SPDX-License-Identifier: MIT
// HostBus: everything an IOMMU driver may do to hardware. A driver (SMMUv3,
// VT-d) touches registers, tables, queues and interrupts only through this
// interface — never a model's C++ types — so a driver engineer can bring their
// own driver and an architect can swap a model block without touching drivers.
//
// The platform (sim/) implements it: each call is performed by the simulated
// host CPU in simulated time (see docs/platform.md, "Threads"), and the calling
// thread blocks until it completes. Costs come from the platform config
// (host_cpu: MMIO read/write cycles, memory write cycles per cache line, ...).
// Calls are safe from any thread, including IRQ handlers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace iommusim::iommufd {

class host_bus {
 public:
  virtual ~host_bus() = default;

  // Device registers (MMIO): uncached, in program order.
  virtual uint32_t readl(uint64_t pa) = 0;
  virtual uint64_t readq(uint64_t pa) = 0;
  virtual void writel(uint64_t pa, uint32_t value) = 0;
  virtual void writeq(uint64_t pa, uint64_t value) = 0;

  // Coherent memory (the driver's tables and queues in kernel RAM). Writes are
  // visible to the IOMMU when the call returns (as after a DMA barrier).
  virtual void mem_read(uint64_t pa, void *dst, size_t len) = 0;
  virtual void mem_write(uint64_t pa, const void *src, size_t len) = 0;
  uint64_t mem_read64(uint64_t pa) {
    uint64_t v;
    mem_read(pa, &v, sizeof(v));
    return v;
  }
  void mem_write64(uint64_t pa, uint64_t v) { mem_write(pa, &v, sizeof(v)); }

  // Kernel RAM for tables and queues: zeroed, page granular, aligned to align
  // (a power of two >= 4096). 0 when exhausted.
  virtual uint64_t dma_alloc(uint64_t bytes, uint64_t align) = 0;
  virtual void dma_free(uint64_t pa, uint64_t bytes) = 0;

  // readl_poll_timeout(): read every interval_ns until (value & mask) == want
  // or timeout_ns passed. True if the condition was met.
  virtual bool poll32(uint64_t pa, uint32_t mask, uint32_t want, uint64_t interval_ns,
                      uint64_t timeout_ns) = 0;
  // The same on a word of memory (a completion flag written by the device).
  virtual bool poll_mem32(uint64_t pa, uint32_t mask, uint32_t want, uint64_t interval_ns,
                          uint64_t timeout_ns) = 0;
  virtual void delay_ns(uint64_t ns) = 0;
  // Simulated time, in picoseconds.
  virtual uint64_t now_ps() = 0;

  // Wired interrupt line `line` of the platform's interrupt controller; the
  // handler runs in the IRQ thread. 0 or -errno.
  virtual int request_irq(unsigned line, std::function<void()> handler) = 0;
  virtual void free_irq(unsigned line) = 0;
  // An MSI doorbell: a 32-bit write of any value to the returned address
  // raises `line`.
  virtual uint64_t msi_doorbell(unsigned line) = 0;
};

}  // namespace iommusim::iommufd
