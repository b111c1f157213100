// SPDX-License-Identifier: MIT
#include "log.h"

#include <cstdarg>
#include <mutex>
#include <set>
#include <string>

namespace iommusim::iommufd {

namespace {
std::atomic<unsigned long> g_warns{0};
}

unsigned long warn_count() { return g_warns.load(); }

void warn_report(const char *file, int line, const char *fmt, ...) {
  g_warns.fetch_add(1);
  static std::mutex lock;
  static std::set<std::pair<std::string, int>> seen;
  {
    std::lock_guard g(lock);
    if (!seen.emplace(file, line).second) return;  // once per call site
  }
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fprintf(stderr, "iommusim: WARNING at %s:%d: %s\n", file, line, msg);
}

}  // namespace iommusim::iommufd
