// SPDX-License-Identifier: MIT
// Physical memory of the platform, as the IOMMUs' walkers, the DMA masters and
// the host CPU see it.
//
// Address decode: [ram_base, ram_base + ram_size) is simulated RAM, a sparse
// store of 4 KiB pages (zero until written) where drivers keep their tables and
// queues; [user_base, ...) are user frames, served by a frame_backing (the
// iommufd core's host_memory: a pinned page of the program whose bytes are the
// program's buffer). Anything else is TLM_ADDRESS_ERROR_RESPONSE.
//
// Timing (memory clock): an access waits for one of `ports` ports, holds it for
// T = ceil(len / bytes_per_cycle) transfer cycles, and completes read_latency
// (or write_latency) cycles after its transfer ends: T + latency cycles after
// it got the port. The latency is pipelined (the port is busy only for T), so
// ports * bytes_per_cycle is the bandwidth. An atomic_extension on an 8-byte
// write makes it a compare-and-swap (HTTU, A/D bits); it costs a read plus a
// write (2 T + read_latency + write_latency), the swap itself being indivisible.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "stats.h"
#include "timing.h"

namespace iommusim::models {

// Bytes behind user-frame physical addresses.
class frame_backing {
 public:
  virtual ~frame_backing() = default;
  virtual bool read(uint64_t pa, void *dst, size_t len) = 0;
  virtual bool write(uint64_t pa, const void *src, size_t len) = 0;
};

struct memory_config {
  double clock_mhz = 1000;
  uint64_t ram_base = 0x8000'0000ULL;
  uint64_t ram_size = 0x8000'0000ULL;
  uint64_t user_base = 0x1'0000'0000ULL;
  uint32_t read_latency = 100;   // cycles
  uint32_t write_latency = 100;  // cycles
  uint32_t bytes_per_cycle = 32;
  unsigned ports = 1;
  std::string check() const;     // empty if usable, else why not
};

class phys_memory : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<phys_memory> socket;

  phys_memory(sc_core::sc_module_name name, const memory_config &cfg, timing_mode mode,
              frame_backing *user_frames);
  ~phys_memory() override;  // leaves the stats registry

  // Functional (untimed) access, thread-safe: the host CPU's coherent view
  // and tests. False if any byte is unbacked.
  bool read(uint64_t pa, void *dst, size_t len);
  bool write(uint64_t pa, const void *src, size_t len);

  // A page-granular allocator of simulated RAM for drivers (dma_alloc):
  // returns 0 when RAM is exhausted. Thread-safe.
  uint64_t alloc(uint64_t bytes, uint64_t align);
  void free(uint64_t pa, uint64_t bytes);

  const memory_config &config() const { return cfg_; }
  const clock_domain &clock() const { return clk_; }
  stats_group &stats() { return stats_; }
  // Pages of RAM actually materialised (sparse store), for memory reports.
  size_t resident_pages() const;

 private:
  // implementation in memory.cpp
  void b_transport(int id, tlm::tlm_generic_payload &trans, sc_core::sc_time &delay);
  unsigned transport_dbg(int id, tlm::tlm_generic_payload &trans);
  memory_config cfg_;
  clock_domain clk_;
  frame_backing *user_;
  timed_resource ports_;
  mutable std::mutex lock_;
  std::map<uint64_t, std::unique_ptr<uint8_t[]>> pages_;
  std::map<uint64_t, uint64_t> free_;  // allocator: start -> length of free RAM runs
  stats_group stats_;
};

}  // namespace iommusim::models
