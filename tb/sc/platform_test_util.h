// SPDX-License-Identifier: MIT
// What platform-level tests and benchmarks do as a program does: load a
// platform config (in either timing mode), allocate IOASes, map the program's
// buffers, bind a platform device to an iommufd context, and drive the DMA
// test device (docs/platform.md) through its BAR on the host bus. Shared by
// tb/sc/platform_*_test.cpp, tb/rtl and tb/bench.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
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

// Memory of the program, 2 MiB aligned, released with munmap. The alignment
// makes runs repeatable: a pinned page's frame follows its virtual address
// within a user_contig chunk (host_memory), so where mmap happens to place a
// buffer (thread stacks, malloc arenas, ASLR) would otherwise decide whether
// the driver can map 2 MiB blocks — and so the page tables, walks and cycles.
struct buffer {
  static constexpr size_t kAlign = size_t{2} << 20;
  explicit buffer(size_t n) : len(n) {
    const size_t span = n + kAlign;
    void *m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      p = nullptr;
      return;
    }
    const uintptr_t base = reinterpret_cast<uintptr_t>(m);
    const uintptr_t at = (base + kAlign - 1) & ~(uintptr_t{kAlign} - 1);
    if (at > base) munmap(m, at - base);
    const uintptr_t end = base + span, used = at + ((n + 4095) & ~size_t{4095});
    if (end > used) munmap(reinterpret_cast<void *>(used), end - used);
    p = reinterpret_cast<uint8_t *>(at);
  }
  ~buffer() {
    if (p) munmap(p, (len + 4095) & ~size_t{4095});
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

// SystemC elaborates once per process: run fn (which loads a platform) in a
// forked child and return the text it produced, or "" if it produced none
// or the child failed. tag names the child's temporary file.
inline std::string in_child_process(const std::string &tag, const std::function<std::string()> &fn) {
  const std::string path = ::testing::TempDir() + "child_" + tag + "_" + std::to_string(getpid()) + ".out";
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string out = fn();
    std::ofstream(path) << out;
    std::fflush(nullptr);
    _exit(out.empty() ? 1 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  std::remove(path.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};
  return s.str();
}

// ---------------------------------------------------------------------------
// The scenarios every IOMMU runs end to end (platform_e2e_test.cpp for the
// SMMUv3, vtd_e2e_test.cpp for the VT-d); what differs per IOMMU, such as the
// fault record it writes, stays with the caller.

// A DMA that worked is refused after IOMMU_IOAS_UNMAP: the device stops with
// no byte written, the reused buffer and a mapped neighbour stay as they
// are. after_first_dma runs once the first DMA is done and the platform idle
// (to count records before the unmap). The attached device's IOAS is ioas.
inline void unmap_then_same_dma_scenario(sim::platform &p, int fd, uint32_t ioas, iommufd::host_bus &bus,
                                         uint64_t bar, uint64_t iova,
                                         const std::function<void()> &after_first_dma) {
  buffer dst(2 * 4096), canary(4096);
  std::memset(dst.p, 0x11, dst.len);
  std::memset(canary.p, 0x22, canary.len);
  ASSERT_EQ(ioas_map(fd, ioas, dst.p, dst.len, iova), 0);
  ASSERT_EQ(ioas_map(fd, ioas, canary.p, canary.len, iova + dst.len), 0);

  const uint64_t pattern = 0x5a5a'5a5a'5a5a'5a5aULL;
  ASSERT_EQ(run_dma(bus, bar, 0, iova, dst.len, dma_test::CTRL_FILL, pattern) & dma_test::ST_ERROR, 0u);
  for (size_t i = 0; i < dst.len; i++) ASSERT_EQ(dst.p[i], 0x5a) << i;
  p.run_until_idle();
  after_first_dma();

  ASSERT_EQ(ioas_unmap(fd, ioas, iova, dst.len), 0);
  std::memset(dst.p, 0x33, dst.len);  // the program reuses its buffer
  const uint64_t st = run_dma(bus, bar, 0, iova, dst.len, dma_test::CTRL_FILL, pattern);
  EXPECT_NE(st & dma_test::ST_ERROR, 0u);
  EXPECT_EQ((st >> 16) & 0xffff, uint64_t{dma_test::ERR_TRANSLATION});
  EXPECT_EQ(bus.readq(bar + dma_test::FAULT_ADDR), iova);
  EXPECT_EQ(bus.readq(bar + dma_test::BYTES_DONE), 0u);
  p.run_until_idle();
  for (size_t i = 0; i < dst.len; i++) ASSERT_EQ(dst.p[i], 0x33) << i;
  for (size_t i = 0; i < canary.len; i++) ASSERT_EQ(canary.p[i], 0x22) << i;
}

// Dirty tracking on hwpt (allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING on
// ioas, the device attached): GET_DIRTY_BITMAP reports and clears exactly the
// pages written, reads leave pages clean, NO_CLEAR leaves the bits, and
// re-enabling starts clean (iommufd clears on enable). Every byte checked.
inline void dirty_tracking_scenario(int fd, uint32_t ioas, uint32_t hwpt, iommufd::host_bus &bus, uint64_t bar,
                                    uint64_t iova) {
  buffer buf(8 * 4096);
  std::memset(buf.p, 0, buf.len);
  ASSERT_EQ(ioas_map(fd, ioas, buf.p, buf.len, iova), 0);
  ASSERT_EQ(set_dirty_tracking(fd, hwpt, true), 0);
  EXPECT_EQ(dirty_bitmap(fd, hwpt, iova), 0u);

  const uint64_t pat = 0x0101'0101'0101'0101ULL;
  auto fill = [&](uint64_t at, uint64_t len) {
    return run_dma(bus, bar, 0, at, len, dma_test::CTRL_FILL, pat) & dma_test::ST_ERROR;
  };
  ASSERT_EQ(fill(iova + 0x1000, 4096), 0u);
  ASSERT_EQ(fill(iova + 0x3000 + 100, 64), 0u);
  // A copy reads page 6 (stays clean) and writes page 1 again.
  ASSERT_EQ(run_dma(bus, bar, iova + 0x6000, iova + 0x1000, 512, 0) & dma_test::ST_ERROR, 0u);
  EXPECT_EQ(dirty_bitmap(fd, hwpt, iova), (1u << 1) | (1u << 3));
  EXPECT_EQ(dirty_bitmap(fd, hwpt, iova), 0u);  // the read cleared them

  // After the clear (and its invalidation) a write dirties again.
  ASSERT_EQ(fill(iova + 0x5000, 8), 0u);
  EXPECT_EQ(dirty_bitmap(fd, hwpt, iova, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR), 1u << 5);
  EXPECT_EQ(dirty_bitmap(fd, hwpt, iova, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR), 1u << 5);
  EXPECT_EQ(dirty_bitmap(fd, hwpt, iova), 1u << 5);
  EXPECT_EQ(dirty_bitmap(fd, hwpt, iova), 0u);

  // Writes while tracking is off are forgotten when it is turned on again.
  ASSERT_EQ(set_dirty_tracking(fd, hwpt, false), 0);
  ASSERT_EQ(fill(iova + 0x7000, 8), 0u);
  ASSERT_EQ(set_dirty_tracking(fd, hwpt, true), 0);
  EXPECT_EQ(dirty_bitmap(fd, hwpt, iova), 0u);
  // The bytes: page 1 filled then its first 512 bytes copied from (zero)
  // page 6, 64 bytes of page 3, 8 of page 5, 8 of page 7.
  for (size_t i = 0; i < buf.len; i++) {
    const bool ones = (i >= 0x1200 && i < 0x2000) || (i >= 0x3000 + 100 && i < 0x3000 + 164) ||
                      (i >= 0x5000 && i < 0x5008) || (i >= 0x7000 && i < 0x7008);
    ASSERT_EQ(buf.p[i], ones ? 1 : 0) << i;
  }
}

// A page request: the device (dev_id, attached to a HWPT whose fault queue is
// ffd) writes 256 bytes at iova + 128 with CTRL.PRI while nothing is mapped
// there. The request reaches the fault fd; nothing is written until the
// program maps the page and answers SUCCESS; then exactly those bytes land.
inline void page_request_scenario(sim::platform &p, int fd, uint32_t ioas, int ffd, uint32_t dev_id,
                                  iommufd::host_bus &bus, uint64_t bar, uint64_t iova) {
  buffer buf(4096);
  std::memset(buf.p, 0, buf.len);
  start_dma(bus, bar, 0, iova + 128, 256, dma_test::CTRL_FILL | dma_test::CTRL_PRI, 0xc3c3'c3c3'c3c3'c3c3ULL);

  pollfd pfd{ffd, POLLIN, 0};
  ASSERT_EQ(iommusim_poll(&pfd, 1, 20000), 1) << "no page request reached the fault fd";
  iommu_hwpt_pgfault f{};
  ASSERT_EQ(iommusim_read(ffd, &f, sizeof(f)), static_cast<ssize_t>(sizeof(f)));
  EXPECT_EQ(f.dev_id, dev_id);
  EXPECT_EQ(f.addr, iova);  // the page, as the PRI message carries it
  EXPECT_EQ(f.length, 0u);  // 6.12 reports no length for a PRI page request
  EXPECT_NE(f.perm & IOMMU_PGFAULT_PERM_WRITE, 0u);
  EXPECT_NE(f.flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE, 0u);
  EXPECT_EQ(f.flags & IOMMU_PGFAULT_FLAGS_PASID_VALID, 0u);
  // Still waiting for the response, nothing written.
  EXPECT_EQ(bus.readq(bar + dma_test::STATUS) & dma_test::ST_DONE, 0u);
  for (size_t i = 0; i < buf.len; i++) ASSERT_EQ(buf.p[i], 0) << i;

  ASSERT_EQ(ioas_map(fd, ioas, buf.p, buf.len, iova), 0);
  iommu_hwpt_page_response r{};
  r.cookie = f.cookie;
  r.code = IOMMUFD_PAGE_RESP_SUCCESS;
  ASSERT_EQ(iommusim_write(ffd, &r, sizeof(r)), static_cast<ssize_t>(sizeof(r)));

  ASSERT_TRUE(bus.poll32(bar + dma_test::STATUS, dma_test::ST_DONE, dma_test::ST_DONE, 100, 100'000'000));
  const uint64_t st = bus.readq(bar + dma_test::STATUS);
  EXPECT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  EXPECT_EQ(bus.readq(bar + dma_test::BYTES_DONE), 256u);
  for (size_t i = 0; i < buf.len; i++) ASSERT_EQ(buf.p[i], (i >= 128 && i < 384) ? 0xc3 : 0) << i;
  p.run_until_idle();
}

}  // namespace iommusim::platform_test
