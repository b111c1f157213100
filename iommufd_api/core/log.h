// SPDX-License-Identifier: MIT
// Diagnostics of the iommufd core. IOMMUSIM_WARN is the kernel's WARN: an
// internal invariant broke; it reports once per call site on stderr, counts,
// and carries on, so a test can assert that a run produced no warnings.
#pragma once

#include <atomic>
#include <cstdio>

namespace iommusim::iommufd {
// Number of IOMMUSIM_WARN reports so far in this process.
unsigned long warn_count();
void warn_report(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
}  // namespace iommusim::iommufd

#define IOMMUSIM_WARN(...) ::iommusim::iommufd::warn_report(__FILE__, __LINE__, __VA_ARGS__)
// WARN_ON(cond): evaluates to cond, reporting when it is true.
#define IOMMUSIM_WARN_ON(cond)                                               \
  ([&]() -> bool {                                                           \
    if (__builtin_expect(!!(cond), 0)) {                                     \
      ::iommusim::iommufd::warn_report(__FILE__, __LINE__, "WARN_ON(%s)", #cond); \
      return true;                                                           \
    }                                                                        \
    return false;                                                            \
  }())
