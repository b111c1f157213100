// SPDX-License-Identifier: MIT
// What platform-level tests and benchmarks do as a program does: load a
// platform config (in either timing mode), allocate IOASes, map the program's
// buffers, bind a platform device to an iommufd context, and drive the DMA
// test device (docs/platform.md) through its BAR on the host bus. Shared by
// tb/sc/platform_*_test.cpp, tb/rtl and tb/bench.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "core/iommufd_private.h"
#include "core/vfs.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "models/common/timing.h"
#include "models/devices/dma_test.h"
#include "sim/platform.h"

namespace iommusim::platform_test {

using models::dma_test;

// The text of sim/configs/<name>, switched to fast mode if asked.
inline std::string config_text(models::timing_mode mode, const std::string &name = "smmuv3_default.yaml") {
  std::ifstream in(std::string(IOMMUSIM_SOURCE_DIR) + "/sim/configs/" + name);
  std::ostringstream s;
  s << in.rdbuf();
  std::string t = s.str();
  if (mode == models::timing_mode::fast) {
    const size_t at = t.find("timing: cycle");
    if (at != std::string::npos) t.replace(at, 13, "timing: fast ");
  }
  return t;
}

// Page-aligned memory of the program, released with munmap.
struct buffer {
  explicit buffer(size_t n) : len(n) {
    void *m = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p = m == MAP_FAILED ? nullptr : static_cast<uint8_t *>(m);
  }
  ~buffer() {
    if (p) munmap(p, len);
  }
  buffer(const buffer &) = delete;
  buffer &operator=(const buffer &) = delete;
  uint8_t *p;
  size_t len;
};

inline uint32_t ioas_alloc(int fd) {
  iommu_ioas_alloc a{};
  a.size = sizeof(a);
  EXPECT_EQ(iommusim_ioctl(fd, IOMMU_IOAS_ALLOC, &a), 0) << strerror(errno);
  return a.out_ioas_id;
}

// IOMMU_IOAS_MAP at a fixed IOVA, readable and writeable; 0 or errno.
inline int ioas_map(int fd, uint32_t ioas, void *va, size_t len, uint64_t iova) {
  iommu_ioas_map m{};
  m.size = sizeof(m);
  m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  m.ioas_id = ioas;
  m.user_va = reinterpret_cast<uint64_t>(va);
  m.length = len;
  m.iova = iova;
  return iommusim_ioctl(fd, IOMMU_IOAS_MAP, &m) ? errno : 0;
}

// IOMMU_IOAS_UNMAP; 0 or errno (the whole range must come out).
inline int ioas_unmap(int fd, uint32_t ioas, uint64_t iova, uint64_t len) {
  iommu_ioas_unmap u{};
  u.size = sizeof(u);
  u.ioas_id = ioas;
  u.iova = iova;
  u.length = len;
  if (iommusim_ioctl(fd, IOMMU_IOAS_UNMAP, &u)) return errno;
  return u.length == len ? 0 : ERANGE;
}

inline uint32_t hwpt_alloc(int fd, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t fault_id = 0) {
  iommu_hwpt_alloc a{};
  a.size = sizeof(a);
  a.flags = flags;
  a.dev_id = dev_id;
  a.pt_id = pt_id;
  a.fault_id = fault_id;
  EXPECT_EQ(iommusim_ioctl(fd, IOMMU_HWPT_ALLOC, &a), 0) << strerror(errno);
  return a.out_hwpt_id;
}

// IOMMU_HWPT_GET_DIRTY_BITMAP over [iova, iova + 64 pages): bit n = page n.
inline uint64_t dirty_bitmap(int fd, uint32_t hwpt, uint64_t iova, uint32_t flags = 0) {
  uint64_t bits = 0;
  iommu_hwpt_get_dirty_bitmap g{};
  g.size = sizeof(g);
  g.hwpt_id = hwpt;
  g.flags = flags;
  g.iova = iova;
  g.length = 64 * 4096;
  g.page_size = 4096;
  g.data = reinterpret_cast<uint64_t>(&bits);
  EXPECT_EQ(iommusim_ioctl(fd, IOMMU_HWPT_GET_DIRTY_BITMAP, &g), 0) << strerror(errno);
  return bits;
}

inline int set_dirty_tracking(int fd, uint32_t hwpt, bool on) {
  iommu_hwpt_set_dirty_tracking d{};
  d.size = sizeof(d);
  d.flags = on ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0;
  d.hwpt_id = hwpt;
  return iommusim_ioctl(fd, IOMMU_HWPT_SET_DIRTY_TRACKING, &d) ? errno : 0;
}

inline iommufd::iommufd_ctx *ctx_of(int fd) {
  iommufd::file *f = iommufd::fd_table::get().fget(fd);
  if (!f) return nullptr;
  auto *ictx = dynamic_cast<iommufd::iommufd_ctx *>(f);
  f->put();
  return ictx;
}

// A platform device bound to an iommufd context as VFIO binds it
// (iommufd_device_bind), detached and unbound when it goes.
class bound_device {
 public:
  bound_device(sim::platform &p, const char *name, int fd) : dev(p.find_device(name)) {
    if (!dev) return;
    auto r = iommufd::iommufd_device_bind(ctx_of(fd), dev->dev, &dev_id);
    if (!r.is_err()) idev = r.get();
  }
  ~bound_device() {
    if (!idev) return;
    if (attached) iommufd::iommufd_device_detach(idev);
    iommufd::iommufd_device_unbind(idev);
  }
  bound_device(const bound_device &) = delete;
  bound_device &operator=(const bound_device &) = delete;
  bool ok() const { return idev != nullptr; }
  // Attach to an IOAS or HWPT; *pt becomes the HWPT used. 0 or -errno.
  int attach(uint32_t *pt) {
    const int rc = iommufd::iommufd_device_attach(idev, pt);
    attached = attached || rc == 0;
    return rc;
  }
  uint64_t bar() const { return dev->bar; }

  sim::platform::device *dev;
  iommufd::iommufd_device *idev = nullptr;
  uint32_t dev_id = 0;
  bool attached = false;
};

// Program the DMA test device and start it (GO).
inline void start_dma(iommufd::host_bus &bus, uint64_t bar, uint64_t src, uint64_t dst, uint64_t len,
                      uint64_t ctrl, uint64_t pattern = 0) {
  bus.writeq(bar + dma_test::SRC, src);
  bus.writeq(bar + dma_test::DST, dst);
  bus.writeq(bar + dma_test::LEN, len);
  bus.writeq(bar + dma_test::CTRL, ctrl);
  bus.writeq(bar + dma_test::PATTERN, pattern);
  bus.writeq(bar + dma_test::GO, 1);
}

// start_dma, then poll STATUS for DONE (100 ms of simulated time at most);
// returns STATUS.
inline uint64_t run_dma(iommufd::host_bus &bus, uint64_t bar, uint64_t src, uint64_t dst, uint64_t len,
                        uint64_t ctrl, uint64_t pattern = 0) {
  start_dma(bus, bar, src, dst, len, ctrl, pattern);
  EXPECT_TRUE(bus.poll32(bar + dma_test::STATUS, dma_test::ST_DONE, dma_test::ST_DONE, 100, 100'000'000));
  return bus.readq(bar + dma_test::STATUS);
}

}  // namespace iommusim::platform_test
