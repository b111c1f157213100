// SPDX-License-Identifier: MIT
#include "models/common/cache_counters.h"

namespace iommusim::models {

void cache_counters::bind(const std::string &name) {
  group.set_name(name);
  lookup_ = &group.counter("lookup");
  hit_ = &group.counter("hit");
  miss_ = &group.counter("miss");
  fill_ = &group.counter("fill");
  eviction_ = &group.counter("eviction");
  invalidation_ = &group.counter("invalidation");
  sweep_ = &group.counter("invalidate_sweep");
  stats_registry::get().add(&group);
}

void cache_counters::publish(const cache_stats &s) {
  *lookup_ = s.lookups;
  *hit_ = s.hits;
  *miss_ = s.misses;
  *fill_ = s.fills;
  *eviction_ = s.evictions;
  *invalidation_ = s.invalidations;
  *sweep_ = s.invalidate_sweeps;
}

}  // namespace iommusim::models
