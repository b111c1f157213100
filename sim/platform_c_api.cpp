// SPDX-License-Identifier: MIT
// The C API of the platform (iommusim/platform.h).
#include "iommusim/platform.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "sim/platform.h"

using iommusim::sim::config_error;
using iommusim::sim::platform;
using iommusim::sim::platform_error;

namespace {

thread_local std::string t_error;

// errno for a list of config errors: a file that cannot be opened keeps the
// reason open() gave; everything else is EINVAL.
int errno_for(const std::vector<config_error> &errors) {
  for (const config_error &e : errors)
    if (e.sys_errno) return e.sys_errno;
  return EINVAL;
}

template <typename F>
int guarded(F fn) {
  t_error.clear();
  try {
    fn();
    return 0;
  } catch (const platform_error &e) {
    t_error = e.what();
    if (!t_error.empty() && t_error.back() != '\n') t_error += '\n';
    if (!e.errors().empty()) errno = errno_for(e.errors());
    else if (platform::current()) errno = t_error.find("already loaded") != std::string::npos ? EEXIST : EIO;
    else errno = EIO;
    return -1;
  } catch (const std::exception &e) {
    t_error = std::string(e.what()) + "\n";
    errno = EIO;
    return -1;
  }
}

std::once_flag g_autoload_once;
int g_autoload_rc = 0;
int g_autoload_errno = 0;

}  // namespace

extern "C" {

int iommusim_platform_load(const char *config_path) {
  if (!config_path) {
    t_error = "no configuration file given\n";
    errno = EFAULT;
    return -1;
  }
  return guarded([&] { platform::load(config_path); });
}

int iommusim_platform_load_string(const char *text, const char *format) {
  if (!text) {
    t_error = "no configuration text given\n";
    errno = EFAULT;
    return -1;
  }
  return guarded([&] { platform::load_string(text, format ? format : "yaml"); });
}

int iommusim_platform_validate(const char *config_path) {
  if (!config_path) {
    t_error = "no configuration file given\n";
    errno = EFAULT;
    return -1;
  }
  t_error.clear();
  std::vector<config_error> errors;
  iommusim::sim::platform_config cfg;
  if (iommusim::sim::load_config_file(config_path, &cfg, &errors)) return 0;
  t_error = iommusim::sim::format_errors(errors);
  errno = errno_for(errors);
  return -1;
}

const char *iommusim_platform_error(void) { return t_error.c_str(); }

int iommusim_platform_write_stats(const char *json_path) {
  t_error.clear();
  platform *p = platform::current();
  if (!p) {
    t_error = "no platform is loaded\n";
    errno = ENODEV;
    return -1;
  }
  if (!json_path) {
    errno = EFAULT;
    return -1;
  }
  std::string err;
  if (!p->write_stats_json(json_path, &err)) {
    const int e = errno ? errno : EIO;
    t_error = err + "\n";
    errno = e;
    return -1;
  }
  return 0;
}

int iommusim_platform_autoload(void) {
  std::call_once(g_autoload_once, [] {
    const char *path = std::getenv("IOMMUSIM_PLATFORM");
    if (!path || !*path || platform::current()) return;
    if (iommusim_platform_load(path) != 0) {
      g_autoload_errno = errno;
      g_autoload_rc = -1;
      std::fprintf(stderr, "iommusim: cannot load the platform of IOMMUSIM_PLATFORM:\n%s", t_error.c_str());
    }
  });
  if (g_autoload_rc != 0) errno = g_autoload_errno;
  return g_autoload_rc;
}

void iommusim_platform_shutdown(void) {
  if (platform *p = platform::current()) p->shutdown();
}

}  // extern "C"
