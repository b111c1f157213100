// SPDX-License-Identifier: MIT
// libiommusim_autoload.so: "load the platform on first use" for programs run
// by `iommusim exec --config PLATFORM`.
//
// exec puts this library first in LD_PRELOAD (before libiommusim_preload.so)
// and IOMMUSIM_PLATFORM in the environment. The shim routes a program's open
// of /dev/iommu to iommusim_open() and of /dev/vfio/devices/* to
// iommusim_open_path(); the dynamic linker resolves those calls here first, so
// the first such open loads the platform (iommusim_platform_autoload(), once
// per process), then goes on to libiommusim's own function. A process that
// never opens a simulated device (a shell that starts the program, a child
// that does not use iommufd) builds no platform.
#include <dlfcn.h>

#include <atomic>
#include <cerrno>

#include "iommusim/iommufd_sim.h"
#include "iommusim/platform.h"

namespace {

template <typename Fn>
Fn next(const char *name, std::atomic<Fn> &cache) {
  Fn fn = cache.load(std::memory_order_acquire);
  if (!fn) {
    fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
    cache.store(fn, std::memory_order_release);
  }
  return fn;
}

std::atomic<int (*)(void)> g_open{nullptr};
std::atomic<int (*)(const char *, int)> g_open_path{nullptr};

}  // namespace

extern "C" {

IOMMUSIM_API int iommusim_open(void) {
  iommusim_platform_autoload();  // prints its own errors; /dev/iommu works without a platform
  auto fn = next("iommusim_open", g_open);
  if (!fn) {
    errno = ENOSYS;
    return -1;
  }
  return fn();
}

IOMMUSIM_API int iommusim_open_path(const char *path, int flags) {
  iommusim_platform_autoload();
  auto fn = next("iommusim_open_path", g_open_path);
  if (!fn) {
    errno = ENOSYS;
    return -1;
  }
  return fn(path, flags);
}

}  // extern "C"
