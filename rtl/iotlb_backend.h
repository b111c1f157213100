// SPDX-License-Identifier: MIT
// The RTL IOTLB as an sa_cache backend (models/common/cache_backend.h): each
// operation drives the Verilated iotlb through its ports and clocks it until
// the answer appears; the cycles it took are the operation's cost. A cache
// whose cache_config::backend is iotlb_backend_factory() runs on the RTL.
#pragma once

#include <string>

#include "models/common/cache.h"
#include "rtl/iotlb_rtl.h"

namespace iommusim::rtl {

// Empty if the RTL can be this cache, else why not (for config errors): 4
// ways, a power-of-two number of sets up to 512, tree-PLRU or round-robin,
// parallel probes, lookup 1..8 cycles, fill 0 cycles, 1..255 sweep cycles a set.
std::string iotlb_check(const models::cache_config &cfg);

// The straps for a cache_config (iotlb_check(cfg) must be empty).
iotlb_params iotlb_params_of(const models::cache_config &cfg, const std::string &trace_path);

class iotlb_backend final : public models::cache_backend {
 public:
  explicit iotlb_backend(const iotlb_params &p) : rtl_(p) {}
  lookup_reply lookup(const models::hw_key &key, const uint32_t *probe_sets,
                      unsigned nprobes) override;
  fill_reply fill(uint32_t set, const models::hw_tag &tag, const models::hw_data &data) override;
  invalidate_reply invalidate_sweep(const std::function<uint64_t(uint32_t)> &kill) override;
  invalidate_reply invalidate_all() override;
  // The hardware's own sweeps (by ASID, VMID, range): what a driver of the
  // RTL alone would issue.
  invalidate_reply invalidate(const iotlb_rtl::inv_req &req);
  const iotlb_rtl &rtl() const { return rtl_; }

 private:
  invalidate_reply run_invalidation(iotlb_rtl::inv_req req,
                                    const std::function<uint64_t(uint32_t)> *kill);
  iotlb_rtl rtl_;
  uint16_t next_id_ = 0;
};

// A factory for cache_config::backend; trace_path names an FST waveform file
// (empty: none).
models::cache_backend_factory iotlb_backend_factory(std::string trace_path = {});

}  // namespace iommusim::rtl
