// SPDX-License-Identifier: MIT
// The Verilated IOTLB (rtl/iotlb.sv) behind a cycle-level C++ interface: set
// the ports for this cycle, eval() to settle the combinational outputs (the
// fill's way, the sweep's set), step() to clock one cycle. The Verilated
// class stays inside iotlb_rtl.cpp, so users need no Verilator headers.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "models/common/cache_backend.h"

namespace iommusim::rtl {

// The parameters the model is Verilated with (rtl/CMakeLists.txt).
inline constexpr unsigned iotlb_ways = 4;
inline constexpr unsigned iotlb_max_sets = 512;
inline constexpr unsigned iotlb_max_latency = 8;
inline constexpr unsigned iotlb_probes = 8;
// Size classes in the order of iotlb.sv's SIZE_SHIFTS (4K 16K 64K 2M 32M 512M 1G 4T).
inline constexpr std::array<unsigned, iotlb_probes> iotlb_size_shifts = {12, 14, 16, 21,
                                                                         25, 29, 30, 42};
// The class of a page shift, or -1 if the hardware has none.
int iotlb_size_class(unsigned page_shift);

// Straps (iotlb.sv cfg_* ports).
struct iotlb_params {
  uint32_t sets = 512;          // a power of two, 1..iotlb_max_sets
  bool round_robin = false;     // else tree-PLRU
  unsigned lookup_latency = 3;  // 1..iotlb_max_latency
  unsigned inv_cycles_per_set = 1;  // 1..255
  bool flash = true;
  std::string trace_path;       // FST waveform file; empty: none
};

enum class inv_op : uint8_t { all = 0, asid = 1, vmid = 2, range = 3, ext = 4 };

class iotlb_rtl {
 public:
  explicit iotlb_rtl(const iotlb_params &p);  // and holds reset for 2 cycles
  ~iotlb_rtl();
  iotlb_rtl(const iotlb_rtl &) = delete;
  iotlb_rtl &operator=(const iotlb_rtl &) = delete;

  struct lookup_req {
    bool valid = false;
    uint16_t id = 0;
    models::hw_key key;
    unsigned nprobes = 1;
    std::array<uint32_t, iotlb_probes> sets{};
  };
  struct fill_req {
    bool valid = false;
    uint32_t set = 0;
    models::hw_tag tag;
    models::hw_data data;
  };
  struct inv_req {
    bool valid = false;
    inv_op op = inv_op::all;
    bool ctx_en = false, asid_en = false, global = false, vmid_en = false;
    uint32_t ctx = 0, asid = 0;
    uint16_t vmid = 0;
    uint64_t lo = 0, hi = 0;
  };
  struct lookup_rsp {
    bool valid = false;
    uint16_t id = 0;
    bool hit = false;
    uint32_t set = 0, way = 0;
    unsigned probe = 0;
    uint8_t size_class = 0;
    models::hw_data data;
  };
  struct fill_rsp {
    uint32_t way = 0;
    bool evicted = false, in_place = false;
  };

  // Inputs for the current cycle (they stay until changed).
  void drive_lookup(const lookup_req &r);
  void drive_fill(const fill_req &r);
  void drive_invalidate(const inv_req &r);
  void drive_ext_kill(uint64_t mask);
  void idle();  // drop every valid
  void eval();

  // Outputs of the current cycle (after eval()).
  bool ready() const;  // lookup and fill ports accept (no sweep running)
  bool inv_ready() const;
  bool inv_busy() const;
  bool inv_done() const;
  uint32_t inv_count() const;
  uint32_t sweep_set() const;
  fill_rsp fill_result() const;
  lookup_rsp response() const;

  // One clock cycle: the rising edge samples the inputs driven now; then the
  // valids of the lookup, fill and invalidation ports drop (a request lasts
  // one cycle; drive again for the next).
  void step();
  uint64_t cycle() const { return cycle_; }
  const iotlb_params &params() const { return p_; }

 private:
  struct impl;
  std::unique_ptr<impl> m_;
  iotlb_params p_;
  uint64_t cycle_ = 0;
};

}  // namespace iommusim::rtl
