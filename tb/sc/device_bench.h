// SPDX-License-Identifier: MIT
// The DMA path the devices_* testbenches put a device on: test IOMMU (5
// cycles, PA = IOVA + kUser, IOVA 0 .. 64 KiB mapped) -> memory router (hop
// 1) -> memory (read 100, write 50, 32 B/cycle, one port); all clocks 1 GHz.
// An untranslated request of n bytes completes 5 + 1 + latency + ceil(n/32)
// cycles after it is sent; a faulting one after 5; a translation request
// after 5; a translated request like an untranslated one.
// In fast mode the global quantum is 1 us, so devices really run ahead.
#pragma once

#include <systemc>
#include <tlm>

#include <vector>

#include "device_test_iommu.h"
#include "models/common/memory.h"
#include "models/common/router.h"
#include "tlm_test_helpers.h"

namespace iommusim::testing {

constexpr uint64_t kUser = 0x1'0000'0000ULL;

struct path_bench {
  std::vector<uint8_t> user = std::vector<uint8_t>(64 * 1024);
  buffer_frames frames;
  models::phys_memory mem;
  models::router mem_bus;
  test_iommu iommu;

  static models::memory_config mem_cfg() {
    models::memory_config c;
    c.read_latency = 100;
    c.write_latency = 50;
    c.bytes_per_cycle = 32;
    return c;
  }
  static models::router_config bus_cfg() {
    models::router_config c;
    c.hop_cycles = 1;
    c.windows = {{0x8000'0000ULL, ~0ULL - 0x8000'0000ULL + 1, 0, "mem", false}};
    return c;
  }
  explicit path_bench(models::timing_mode mode)
      : mem("mem", mem_cfg(), mode, (frames.map(kUser, user.data(), user.size()), &frames)),
        mem_bus("mem_bus", bus_cfg(), mode),
        iommu("iommu", mode) {
    if (mode == models::timing_mode::fast)
      tlm::tlm_global_quantum::instance().set(sc_core::sc_time(1, sc_core::SC_US));
    iommu.offset = kUser;
    iommu.map(0, user.size());
    iommu.downstream.bind(mem_bus.target_socket);
    mem_bus.initiator_socket.bind(mem.socket);
  }
  template <typename Device>
  void attach(Device &dev) {
    dev.dma.bind(iommu.upstream);
    dev.iommu_msg.bind(iommu.msg_in);
    iommu.endpoint.bind(dev.endpoint_msg);
  }
};

}  // namespace iommusim::testing
