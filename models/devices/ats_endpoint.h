// SPDX-License-Identifier: MIT
// A PCIe endpoint with ATS (PCIe 6.0 §10): an Address Translation Cache on
// the shared sa_cache template. A DMA looks up the ATC; on a miss (or an
// entry that does not allow the access) the device sends an ATS Translation
// Request, fills the ATC from the completion, then issues the DMA as
// translated (AT = translated) with the physical address.
//
// ATC entries: one per translated range, stored in one of the size classes
// 4 KiB, 2 MiB, 1 GiB (the largest not above the completion's range; a
// lookup probes the three classes in that order). Tag: PASID (or none) and the
// untranslated page.
//
// Invalidation (PCIe 6.0 §10.3): an ATS Invalidation Request removes every
// entry overlapping [addr, addr + 2^size_log2) of its PASID; a request
// without a PASID, or with Global set, removes the range for every PASID
// (as Linux's arm-smmu-v3 driver relies on). The Invalidation Completion (same
// itag) goes up invalidate_cycles plus the ATC sweep's cycles later.
//
// Timing (device clock): issue_cycles, the ATC lookup's cycles, on a miss the
// translation request and the fill's cycles, then the translated access.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/common/cache.h"
#include "models/common/pcie_messages.h"
#include "models/common/stats.h"
#include "models/common/timing.h"
#include "models/devices/dma_port.h"

namespace iommusim::models {

struct atc_key {
  uint64_t addr = 0;  // untranslated address
  bool ssid_valid = false;
  uint32_t ssid = 0;
};

struct atc_entry {
  using key_type = atc_key;
  static constexpr unsigned kClasses = 3;
  static constexpr unsigned kShift[kClasses] = {12, 21, 30};

  uint64_t va = 0;        // untranslated base, aligned to 2^shift
  uint64_t pa = 0;        // translated base
  uint8_t shift = 12;     // one of kShift
  bool ssid_valid = false;
  uint32_t ssid = 0;
  bool read = false, write = false, exec = false, priv = false;

  static unsigned probes(const key_type &) { return kClasses; }
  static uint64_t probe_hash(const key_type &k, unsigned p) {
    return mix(k.addr >> kShift[p], k.ssid_valid, k.ssid);
  }
  uint64_t hash() const { return mix(va >> shift, ssid_valid, ssid); }
  bool same_context(bool v, uint32_t s) const { return ssid_valid == v && (!v || ssid == s); }
  bool matches(const key_type &k) const {
    return same_context(k.ssid_valid, k.ssid) && (k.addr >> shift) == (va >> shift);
  }
  bool same_tag(const atc_entry &o) const {
    return same_context(o.ssid_valid, o.ssid) && va == o.va && shift == o.shift;
  }
  bool overlaps(uint64_t base, uint64_t last) const {
    return va <= last && base <= va + ((uint64_t{1} << shift) - 1);
  }
  // The largest size class that fits in a translated range of 2^range_shift.
  static unsigned class_shift(unsigned range_shift) {
    for (unsigned i = kClasses; i-- > 0;)
      if (kShift[i] <= range_shift) return kShift[i];
    return kShift[0];
  }

 private:
  // Page number in the low bits (so consecutive pages spread over sets), the
  // PASID folded in above.
  static uint64_t mix(uint64_t page, bool v, uint32_t s) {
    return page ^ (v ? (uint64_t{s} + 1) * 0x9E37'79B9'7F4A'7C15ULL : 0);
  }
};

// One DMA of the endpoint (also the items of a built-in program).
struct ats_access {
  uint64_t gap_cycles = 0;  // program: cycles after the previous access completes
  uint64_t addr = 0;
  uint32_t len = 0;
  bool write = false;
  bool ssid_valid = false;
  uint32_t ssid = 0;
};

struct ats_endpoint_config {
  double clock_mhz = 1000;
  uint32_t stream_id = 0;
  cache_config atc = default_atc();
  uint32_t issue_cycles = 0;
  uint32_t invalidate_cycles = 4;
  std::vector<ats_access> program;  // run from time 0 if not empty
  std::string check() const;
  static cache_config default_atc() {
    cache_config c;
    c.name = "atc";
    c.entries = 32;
    c.ways = 0;
    c.lookup_cycles = 1;
    return c;
  }
};

class ats_endpoint : public sc_core::sc_module, public endpoint_message_if {
 public:
  tlm_utils::simple_initiator_socket<ats_endpoint> dma;
  sc_core::sc_port<iommu_message_if, 1, sc_core::SC_ZERO_OR_MORE_BOUND> iommu_msg;
  sc_core::sc_export<endpoint_message_if> endpoint_msg;
  std::function<void()> on_done;  // the program finished
  sc_core::sc_event done;

  struct result {
    bool ok = false;
    dma_result last;              // the last request sent
    fault_class fault_cls = fault_class::unspecified;
    unsigned atc_hits = 0, atc_misses = 0, translation_requests = 0;
    uint64_t translated_addr = 0;  // of the first byte
    uint64_t cycles = 0;
  };

  SC_HAS_PROCESS(ats_endpoint);
  ats_endpoint(sc_core::sc_module_name name, const ats_endpoint_config &cfg, timing_mode mode);
  ~ats_endpoint() override;

  // One DMA from the calling SC_THREAD (its own thread_time). An access that
  // crosses 4 KiB boundaries goes as several requests.
  result access(thread_time &t, const ats_access &a, uint8_t *data);

  const std::vector<result> &program_results() const { return results_; }
  bool finished() const { return finished_; }
  const sa_cache<atc_entry> &atc() const { return atc_; }
  const clock_domain &clock() const { return clk_; }
  stats_group &stats() { return stats_; }

  void page_response(const models::page_response &rsp, sc_core::sc_time &delay) override;
  void atc_invalidate(const atc_invalidation &inv, sc_core::sc_time &delay) override;

 private:
  void run_program();
  bool piece(thread_time &t, const ats_access &a, uint64_t addr, uint8_t *data, unsigned len,
             result *res);

  ats_endpoint_config cfg_;
  clock_domain clk_;
  sa_cache<atc_entry> atc_;
  deferred_calls later_;
  std::vector<result> results_;
  bool finished_ = false;
  stats_group stats_;
};

}  // namespace iommusim::models
