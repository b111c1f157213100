// SPDX-License-Identifier: MIT
// One cache's statistics group: the sa_cache counters under the names both
// IOMMU models publish (lookup, hit, miss, fill, eviction, invalidation,
// invalidate_sweep), so every TLB and cache reads alike in the statistics.
#pragma once

#include <cstdint>
#include <string>

#include "models/common/cache.h"
#include "models/common/stats.h"

namespace iommusim::models {

struct cache_counters {
  stats_group group;
  // Names the group, creates its counters and registers it (stats_registry);
  // the owner removes it from the registry before it goes.
  void bind(const std::string &name);
  // Copies the cache's running totals into the counters.
  void publish(const cache_stats &s);

 private:
  // Counter cells, cached: std::map nodes never move.
  uint64_t *lookup_ = nullptr, *hit_ = nullptr, *miss_ = nullptr, *fill_ = nullptr,
           *eviction_ = nullptr, *invalidation_ = nullptr, *sweep_ = nullptr;
};

}  // namespace iommusim::models
