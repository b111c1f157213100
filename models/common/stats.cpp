// SPDX-License-Identifier: MIT
// Latency histograms and the registry of statistics groups.
#include "models/common/stats.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <mutex>

namespace iommusim::models {

// Buckets: values 0..63 have one bucket each (exact). From 64 on, each octave
// [2^o, 2^(o+1)) is cut into 16 equal sub-buckets, so a bucket is at most
// 1/16 of its lower bound wide (about 6 % relative error on a percentile).
namespace {
constexpr unsigned kExact = 64;      // 2^kExactBits
constexpr unsigned kExactBits = 6;
constexpr unsigned kSubBits = 4;     // 16 sub-buckets per octave
}  // namespace

unsigned latency_histogram::bucket(uint64_t v) {
  if (v < kExact) return static_cast<unsigned>(v);
  const unsigned o = 63u - static_cast<unsigned>(std::countl_zero(v));  // floor(log2 v) >= 6
  const unsigned sub = static_cast<unsigned>(v >> (o - kSubBits)) & ((1u << kSubBits) - 1);
  return kExact + ((o - kExactBits) << kSubBits) + sub;
}

// The largest value a bucket holds: a percentile reported from it is never
// below the true one.
uint64_t latency_histogram::bucket_value(unsigned b) {
  if (b < kExact) return b;
  const unsigned o = ((b - kExact) >> kSubBits) + kExactBits;
  const uint64_t sub = (b - kExact) & ((1u << kSubBits) - 1);
  const uint64_t width = uint64_t{1} << (o - kSubBits);
  const uint64_t lower = ((uint64_t{1} << kSubBits) + sub) << (o - kSubBits);
  return lower + (width - 1);
}

void latency_histogram::add(uint64_t cycles) {
  const unsigned b = bucket(cycles);
  if (b >= buckets_.size()) buckets_.resize(b + 1, 0);
  buckets_[b]++;
  count_++;
  sum_ += cycles;
  min_ = std::min(min_, cycles);
  max_ = std::max(max_, cycles);
}

uint64_t latency_histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  if (!(q > 0.0)) return min_;  // also NaN
  if (q >= 1.0) return max_;
  // The rank of the sample that must be covered: ceil(q * count), at least 1.
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (unsigned b = 0; b < buckets_.size(); b++) {
    seen += buckets_[b];
    if (seen >= rank) return std::clamp(bucket_value(b), min_, max_);
  }
  return max_;
}

namespace {
// The registry is reached from the simulation thread (modules register at
// elaboration) and from program threads (reports), so it has a lock; it is
// recursive so that a for_each callback may itself use the registry.
std::recursive_mutex &registry_lock() {
  static std::recursive_mutex m;
  return m;
}
}  // namespace

stats_registry &stats_registry::get() {
  static stats_registry r;
  return r;
}

void stats_registry::add(stats_group *g) {
  if (!g) return;
  std::lock_guard<std::recursive_mutex> l(registry_lock());
  if (std::find(groups_.begin(), groups_.end(), g) == groups_.end()) groups_.push_back(g);
}

void stats_registry::remove(stats_group *g) {
  std::lock_guard<std::recursive_mutex> l(registry_lock());
  groups_.erase(std::remove(groups_.begin(), groups_.end(), g), groups_.end());
}

// In name order, so reports do not depend on construction order. The lock is
// held throughout so no group is removed while fn looks at it.
void stats_registry::for_each(const std::function<void(const stats_group &)> &fn) const {
  std::lock_guard<std::recursive_mutex> l(registry_lock());
  std::vector<stats_group *> sorted = groups_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const stats_group *a, const stats_group *b) { return a->name() < b->name(); });
  for (const stats_group *g : sorted) fn(*g);
}

}  // namespace iommusim::models
