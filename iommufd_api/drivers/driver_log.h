// SPDX-License-Identifier: MIT
// What an IOMMU driver keeps for people to read, the same in every driver:
// its kernel-log lines ("<prefix>: message", like dev_err/pr_err) and a ring
// of the last records its hardware reported (SMMUv3 events, VT-d faults).
// Both are safe from any thread, the IRQ thread included.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace iommusim::iommufd {

// Log lines go to a sink when one is set, else to stderr; stderr is shared,
// so it gets a bounded number of lines, as the kernel rate-limits.
class driver_log {
 public:
  static constexpr unsigned long STDERR_LINES_MAX = 200;

  explicit driver_log(std::string prefix) : prefix_(std::move(prefix)) {}

  void vprint(const char *fmt, va_list ap) __attribute__((format(printf, 2, 0))) {
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    const std::string line = prefix_ + ": " + msg;
    std::function<void(const std::string &)> sink;
    {
      std::lock_guard g(lock_);
      sink = sink_;
      if (!sink) {
        if (stderr_lines_ < STDERR_LINES_MAX)
          fprintf(stderr, "%s\n", line.c_str());
        else if (stderr_lines_ == STDERR_LINES_MAX)
          fprintf(stderr, "%s: further messages suppressed\n", prefix_.c_str());
        stderr_lines_++;
        return;
      }
    }
    sink(line);  // outside the lock: a sink may log again
  }

  void set_sink(std::function<void(const std::string &)> sink) {
    std::lock_guard g(lock_);
    sink_ = std::move(sink);
  }

 private:
  const std::string prefix_;
  std::mutex lock_;
  std::function<void(const std::string &)> sink_;
  unsigned long stderr_lines_ = 0;
};

// The last N records, oldest first.
template <class T, size_t N = 64>
class record_ring {
 public:
  void push(const T &r) {
    std::lock_guard g(lock_);
    if (ring_.size() < N) ring_.push_back(r);
    else ring_[next_] = r;
    next_ = (next_ + 1) % N;
  }
  std::vector<T> snapshot() const {
    std::lock_guard g(lock_);
    if (ring_.size() < N) return ring_;
    std::vector<T> out;
    for (size_t i = 0; i < N; i++) out.push_back(ring_[(next_ + i) % N]);
    return out;
  }

 private:
  mutable std::mutex lock_;
  std::vector<T> ring_;
  size_t next_ = 0;
};

}  // namespace iommusim::iommufd
