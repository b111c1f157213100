// SPDX-License-Identifier: MIT
// Statistics named after the hardware counters silicon exposes (SMMUv3 PMCG
// events, Intel IIO IOTLB/PWC events), so a simulated figure can be set beside
// a measured one. A stats_group belongs to a component and holds counters and
// latency histograms by name; the platform walks all groups to print tables
// or JSON.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace iommusim::models {

// Latency distribution in cycles: exact mean, percentiles from a log-linear
// histogram (1/16 octave resolution, exact below 64 cycles).
class latency_histogram {
 public:
  void add(uint64_t cycles);
  uint64_t count() const { return count_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  // Smallest recorded bucket value v with at least q of the samples <= v.
  uint64_t percentile(double q) const;

 private:
  static unsigned bucket(uint64_t v);
  static uint64_t bucket_value(unsigned b);
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0;
};

class stats_group {
 public:
  explicit stats_group(std::string name = "") : name_(std::move(name)) {}
  const std::string &name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  uint64_t &counter(const std::string &n) { return counters_[n]; }
  uint64_t get(const std::string &n) const {
    auto it = counters_.find(n);
    return it == counters_.end() ? 0 : it->second;
  }
  latency_histogram &histogram(const std::string &n) { return hists_[n]; }
  const std::map<std::string, uint64_t> &counters() const { return counters_; }
  const std::map<std::string, latency_histogram> &histograms() const { return hists_; }
  void reset() {
    for (auto &[k, v] : counters_) v = 0;
    hists_.clear();
  }

 private:
  std::string name_;
  std::map<std::string, uint64_t> counters_;
  std::map<std::string, latency_histogram> hists_;
};

// Every group of a platform, by hierarchical name ("smmu0.tbu0.utlb").
class stats_registry {
 public:
  static stats_registry &get();
  void add(stats_group *g);
  void remove(stats_group *g);
  void for_each(const std::function<void(const stats_group &)> &fn) const;

 private:
  std::vector<stats_group *> groups_;
};

}  // namespace iommusim::models
