// SPDX-License-Identifier: MIT
// Time in the models, the same code for both timing modes.
//
//  cycle: every step is its own wait(): the calling SystemC thread sleeps for
//         the step, so other processes interleave cycle by cycle. The reference.
//  fast:  loosely timed: a step adds to the transaction's annotated delay; the
//         initiator synchronises with the kernel at the quantum (tlm_quantumkeeper).
//
// A component owns a clock_domain (its period) and, per activity, a
// timing_ctx bound to the activity's annotated delay.
#pragma once

#include <systemc>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace iommusim::models {

enum class timing_mode { cycle, fast };

class clock_domain {
 public:
  clock_domain() = default;
  clock_domain(double mhz, timing_mode mode)
      : period_(1.0e6 / mhz, sc_core::SC_PS), mode_(mode) {}
  const sc_core::sc_time &period() const { return period_; }
  timing_mode mode() const { return mode_; }
  sc_core::sc_time cycles(uint64_t n) const { return period_ * static_cast<double>(n); }
  // Whole cycles in t, rounded up (a partial cycle is a cycle).
  uint64_t to_cycles(const sc_core::sc_time &t) const {
    const double c = t / period_;
    const auto whole = static_cast<uint64_t>(c);
    return (c - static_cast<double>(whole)) > 1e-9 ? whole + 1 : whole;
  }

 private:
  sc_core::sc_time period_{1, sc_core::SC_NS};
  timing_mode mode_ = timing_mode::cycle;
};

// Time for one activity (one b_transport, one command, one walk).
class timing_ctx {
 public:
  // delay: the annotated delay of the transaction being served. In cycle mode
  // any delay handed in is consumed first, so sc_time_stamp() is exact.
  timing_ctx(timing_mode mode, sc_core::sc_time &delay) : mode_(mode), delay_(delay) {
    if (mode_ == timing_mode::cycle && delay_ != sc_core::SC_ZERO_TIME) {
      sc_core::wait(delay_);
      delay_ = sc_core::SC_ZERO_TIME;
    }
  }
  timing_mode mode() const { return mode_; }
  void advance(const sc_core::sc_time &t) {
    if (t == sc_core::SC_ZERO_TIME) return;
    if (mode_ == timing_mode::cycle)
      sc_core::wait(t);
    else
      delay_ += t;
  }
  void advance(uint64_t n, const clock_domain &clk) { advance(clk.cycles(n)); }
  // The activity's local time (kernel time plus what is annotated).
  sc_core::sc_time now() const { return sc_core::sc_time_stamp() + delay_; }
  // Advance to absolute local time t if it is in the future.
  void advance_to(const sc_core::sc_time &t) {
    const sc_core::sc_time n = now();
    if (t > n) advance(t - n);
  }
  sc_core::sc_time &delay() { return delay_; }

 private:
  timing_mode mode_;
  sc_core::sc_time &delay_;
};

// N identical units of a resource (translation slots, walk slots, a memory
// port): an activity holds one from acquire() to release(). Units are granted
// in request order, lowest free unit first, in both modes. In fast mode an
// activity runs to completion without yielding, so a unit's occupancy is the
// [start, end) interval it was held for and later requests start after it.
class timed_resource {
 public:
  explicit timed_resource(unsigned units = 1) { resize(units); }
  void resize(unsigned units) {
    busy_until_.assign(std::max(1u, units), sc_core::SC_ZERO_TIME);
    held_.assign(busy_until_.size(), false);
  }
  unsigned units() const { return static_cast<unsigned>(busy_until_.size()); }

  // Wait for a unit; returns its index. Counts the time waited.
  unsigned acquire(timing_ctx &t) {
    for (;;) {
      const sc_core::sc_time now = t.now();
      unsigned best = 0;
      bool found = false;
      for (unsigned u = 0; u < units(); u++) {
        if (held_[u]) continue;
        if (!found || busy_until_[u] < busy_until_[best]) {
          best = u;
          found = true;
        }
        if (busy_until_[u] <= now) {
          best = u;
          break;
        }
      }
      if (found) {
        if (busy_until_[best] > now) {
          waited_ += busy_until_[best] - now;
          t.advance_to(busy_until_[best]);
          if (held_[best]) continue;  // cycle mode: someone took it while we waited
        }
        held_[best] = true;
        acquisitions_++;
        return best;
      }
      // Every unit is held (cycle mode only): wait for a release.
      const sc_core::sc_time before = sc_core::sc_time_stamp();
      sc_core::wait(released_);
      waited_ += sc_core::sc_time_stamp() - before;
    }
  }
  void release(unsigned unit, timing_ctx &t) {
    busy_until_[unit] = t.now();
    held_[unit] = false;
    released_.notify(sc_core::SC_ZERO_TIME);
  }
  uint64_t acquisitions() const { return acquisitions_; }
  const sc_core::sc_time &time_waited() const { return waited_; }

 private:
  std::vector<sc_core::sc_time> busy_until_;
  std::vector<bool> held_;
  sc_core::sc_event released_;
  uint64_t acquisitions_ = 0;
  sc_core::sc_time waited_;
};

}  // namespace iommusim::models
