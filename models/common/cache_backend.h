// SPDX-License-Identifier: MIT
// A hardware implementation of an sa_cache's tag array and replacement logic
// (the RTL IOTLB of rtl/, Verilated). With a backend, sa_cache (cache.h) asks
// it every decision -- hit or miss and where, the fill's way and victim, what
// a sweep kills -- and every cost in cycles, and keeps only the payloads (the
// full entries) at the (set, way) the hardware names. The models call the
// same sa_cache API either way: swapping in the RTL is a configuration
// choice (cache_config::backend), not a second code path in a model.
//
// An entry type E reaches a backend only if it says how its tag maps onto the
// hardware's fields (the hw_entry concept below); sa_cache computes the set
// index of each probe with E's own hash, so the hardware needs no knowledge
// of the designer's hash.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>

namespace iommusim::models {

// A lookup key in the hardware's fields. ctx: stream id, domain id or a code
// for the translation regime; asid: ASID or PASID; vmid: VMID or domain id.
struct hw_key {
  uint32_t ctx = 0;
  uint32_t asid = 0;
  uint16_t vmid = 0;
  uint64_t va = 0;
};

// An entry's tag: it answers a key with equal ctx and vmid, equal asid (or
// global), and va >> shift(size_class) == vpage.
struct hw_tag {
  uint32_t ctx = 0;
  uint32_t asid = 0;
  uint16_t vmid = 0;
  bool global = false;
  uint8_t size_class = 0;  // index into the hardware's size list (rtl/iotlb.sv SIZE_SHIFTS)
  uint64_t vpage = 0;
  bool operator==(const hw_tag &) const = default;
};

// The data of an entry: output page (PA >> 12), permissions, attributes.
struct hw_data {
  uint64_t opage = 0;
  uint8_t perm = 0;  // bit 0 R, 1 W, 2 X, 3 privileged only
  uint8_t attr = 0;
  bool operator==(const hw_data &) const = default;
};

// An entry type the hardware can hold.
template <typename E>
concept hw_entry = requires(const E &e, const typename E::key_type &k) {
  { E::hw_key_of(k) } -> std::same_as<hw_key>;
  { e.hw_tag_of() } -> std::same_as<hw_tag>;
  { e.hw_data_of() } -> std::same_as<hw_data>;
};

class cache_backend {
 public:
  virtual ~cache_backend() = default;

  struct lookup_reply {
    bool hit = false;
    uint32_t set = 0;
    uint32_t way = 0;
    uint8_t size_class = 0;
    hw_data data;
    uint64_t cycles = 0;
  };
  // probe_sets[p]: the set of probe p, in probe order.
  virtual lookup_reply lookup(const hw_key &key, const uint32_t *probe_sets, unsigned nprobes) = 0;

  struct fill_reply {
    uint32_t way = 0;
    bool evicted = false;   // a valid entry of another tag was replaced
    bool in_place = false;  // the same tag was overwritten
    uint64_t cycles = 0;
  };
  virtual fill_reply fill(uint32_t set, const hw_tag &tag, const hw_data &data) = 0;

  struct invalidate_reply {
    uint64_t count = 0;
    uint64_t cycles = 0;
  };
  // A sweep of every set; kill(set) is called once per set, in set order, and
  // returns the ways of that set to invalidate (bit w: way w).
  virtual invalidate_reply invalidate_sweep(const std::function<uint64_t(uint32_t)> &kill) = 0;
  virtual invalidate_reply invalidate_all() = 0;
};

struct cache_config;
// Builds the backend of a cache (set on cache_config by the platform).
using cache_backend_factory = std::function<std::unique_ptr<cache_backend>(const cache_config &)>;

}  // namespace iommusim::models
