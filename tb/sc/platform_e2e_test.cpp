// SPDX-License-Identifier: MIT
// End to end: a program's buffer, mapped with IOMMU_IOAS_MAP through the C
// API, is the target of a dma_test device behind the simulated SMMUv3. The
// device is bound to the iommufd context (iommufd_device_bind/attach, as VFIO
// does), programmed through HostBus MMIO, and the exact bytes land in the
// program's memory; an unmapped IOVA faults. A second case does the same as an
// unmodified program would, through /dev/vfio/devices/vfio0. Both timing modes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/iommufd_private.h"
#include "core/vfs.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "iommusim/vfio.h"
#include "models/devices/dma_test.h"
#include "sim/dma_tap.h"
#include "sim/host_cpu.h"
#include "sim/platform.h"

using namespace iommusim;
using namespace iommusim::sim;
using models::dma_test;

namespace {

std::string platform_text(models::timing_mode mode) {
  std::ifstream in(std::string(IOMMUSIM_SOURCE_DIR) + "/sim/configs/smmuv3_default.yaml");
  std::ostringstream s;
  s << in.rdbuf();
  std::string t = s.str();
  if (mode == models::timing_mode::fast) t.replace(t.find("timing: cycle"), 13, "timing: fast ");
  return t;
}

// Page-aligned memory of the program, released with munmap.
struct buffer {
  explicit buffer(size_t n) : len(n) {
    p = static_cast<uint8_t *>(mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~buffer() { munmap(p, len); }
  uint8_t *p;
  size_t len;
};

uint32_t ioas_alloc(int fd) {
  iommu_ioas_alloc a{};
  a.size = sizeof(a);
  EXPECT_EQ(iommusim_ioctl(fd, IOMMU_IOAS_ALLOC, &a), 0) << strerror(errno);
  return a.out_ioas_id;
}

void ioas_map(int fd, uint32_t ioas, void *va, size_t len, uint64_t iova) {
  iommu_ioas_map m{};
  m.size = sizeof(m);
  m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  m.ioas_id = ioas;
  m.user_va = reinterpret_cast<uint64_t>(va);
  m.length = len;
  m.iova = iova;
  ASSERT_EQ(iommusim_ioctl(fd, IOMMU_IOAS_MAP, &m), 0) << strerror(errno);
}

iommufd::iommufd_ctx *ctx_of(int fd) {
  iommufd::file *f = iommufd::fd_table::get().fget(fd);
  if (!f) return nullptr;
  auto *ictx = dynamic_cast<iommufd::iommufd_ctx *>(f);
  f->put();
  return ictx;
}

// GO, then poll STATUS for DONE; returns STATUS.
uint64_t run_dma(iommufd::host_bus &bus, uint64_t bar, uint64_t src, uint64_t dst, uint64_t len,
                 uint64_t ctrl, uint64_t pattern = 0) {
  bus.writeq(bar + dma_test::SRC, src);
  bus.writeq(bar + dma_test::DST, dst);
  bus.writeq(bar + dma_test::LEN, len);
  bus.writeq(bar + dma_test::CTRL, ctrl);
  bus.writeq(bar + dma_test::PATTERN, pattern);
  bus.writeq(bar + dma_test::GO, 1);
  EXPECT_TRUE(bus.poll32(bar + dma_test::STATUS, dma_test::ST_DONE, dma_test::ST_DONE, 100, 100'000'000));
  return bus.readq(bar + dma_test::STATUS);
}

class PlatformE2E : public ::testing::TestWithParam<models::timing_mode> {};

std::string mode_name(const ::testing::TestParamInfo<models::timing_mode> &i) {
  return i.param == models::timing_mode::cycle ? "cycle" : "fast";
}

}  // namespace

TEST_P(PlatformE2E, DmaLandsInTheProgramsBuffer) {
  platform &p = platform::load_string(platform_text(GetParam()));
  platform::device *dev = p.find_device("dma0");
  ASSERT_NE(dev, nullptr);
  iommufd::host_bus &bus = p.bus();

  const int fd = iommusim_open();
  ASSERT_GE(fd, 0);
  const uint32_t ioas = ioas_alloc(fd);
  uint32_t dev_id = 0;
  auto idev = iommufd::iommufd_device_bind(ctx_of(fd), dev->dev, &dev_id);
  ASSERT_FALSE(idev.is_err()) << idev.err();
  uint32_t pt = ioas;
  ASSERT_EQ(iommufd::iommufd_device_attach(idev.get(), &pt), 0);
  EXPECT_NE(pt, ioas);  // the automatic paging HWPT

  constexpr size_t kLen = 3 * 4096;
  buffer src(kLen), dst(kLen);
  for (size_t i = 0; i < kLen; i++) src.p[i] = static_cast<uint8_t>(i * 31 + 7);
  std::memset(dst.p, 0xee, kLen);
  constexpr uint64_t kSrcIova = 0x10'0000, kDstIova = 0x20'0000;
  ioas_map(fd, ioas, src.p, kLen, kSrcIova);
  ioas_map(fd, ioas, dst.p, kLen, kDstIova);

  // Copy 3 pages minus a few bytes, starting off a page boundary.
  const uint64_t st = run_dma(bus, dev->bar, kSrcIova + 5, kDstIova + 9, kLen - 16, 0);
  EXPECT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  EXPECT_EQ(bus.readq(dev->bar + dma_test::BYTES_DONE), kLen - 16);
  EXPECT_EQ(std::memcmp(dst.p + 9, src.p + 5, kLen - 16), 0);
  for (size_t i = 0; i < 9; i++) EXPECT_EQ(dst.p[i], 0xee);
  for (size_t i = kLen - 7; i < kLen; i++) EXPECT_EQ(dst.p[i], 0xee);
  EXPECT_GT(bus.readq(dev->bar + dma_test::CYCLES), 0u);

  // Fill: the pattern's bytes, little-endian, from the first byte.
  const uint64_t st2 = run_dma(bus, dev->bar, 0, kDstIova, 4096, dma_test::CTRL_FILL, 0x0807'0605'0403'0201ULL);
  EXPECT_EQ(st2 & dma_test::ST_ERROR, 0u);
  for (size_t i = 0; i < 4096; i++) ASSERT_EQ(dst.p[i], static_cast<uint8_t>(1 + i % 8)) << i;

  // An IOVA nothing is mapped at: a translation fault, reported by the device.
  const uint64_t st3 = run_dma(bus, dev->bar, 0, 0x90'0000, 64, dma_test::CTRL_FILL, 1);
  EXPECT_NE(st3 & dma_test::ST_ERROR, 0u);
  EXPECT_EQ((st3 >> 16) & 0xffff, uint64_t{dma_test::ERR_TRANSLATION});
  EXPECT_EQ(bus.readq(dev->bar + dma_test::FAULT_ADDR), 0x90'0000u);

  p.run_until_idle();
  iommufd::iommufd_device_detach(idev.get());
  iommufd::iommufd_device_unbind(idev.get());
  EXPECT_EQ(iommusim_close(fd), 0);
  // The taps saw every DMA of the device.
  const std::string stats = p.stats_json();
  EXPECT_NE(stats.find("\"upstream.dma0\""), std::string::npos);
  EXPECT_NE(stats.find("\"smmu0.driver\""), std::string::npos);
  p.shutdown();
  EXPECT_GE(dev->tap->stats().get("faults"), 1u);
  EXPECT_EQ(dev->tap->stats().get("bytes"), 2 * (kLen - 16) + 4096);
}

TEST_P(PlatformE2E, ThroughTheVfioCdevAsAProgramDoes) {
  platform &p = platform::load_string(platform_text(GetParam()));
  const int iommufd = iommusim_open();
  ASSERT_GE(iommufd, 0);
  const int vfd = iommusim_open_path("/dev/vfio/devices/vfio0", O_RDWR);
  ASSERT_GE(vfd, 0) << strerror(errno);

  vfio_device_bind_iommufd bind{};
  bind.argsz = sizeof(bind);
  bind.iommufd = iommufd;
  ASSERT_EQ(iommusim_ioctl(vfd, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0) << strerror(errno);
  const uint32_t ioas = ioas_alloc(iommufd);
  vfio_device_attach_iommufd_pt at{};
  at.argsz = sizeof(at);
  at.pt_id = ioas;
  ASSERT_EQ(iommusim_ioctl(vfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), 0) << strerror(errno);

  vfio_region_info ri{};
  ri.argsz = sizeof(ri);
  ri.index = VFIO_PCI_BAR0_REGION_INDEX;
  ASSERT_EQ(iommusim_ioctl(vfd, VFIO_DEVICE_GET_REGION_INFO, &ri), 0) << strerror(errno);
  EXPECT_EQ(ri.size, dma_test::kBarSize);

  buffer buf(2 * 4096);
  std::memset(buf.p, 0, buf.len);
  ioas_map(iommufd, ioas, buf.p, buf.len, 0x4000'0000);
  auto wr = [&](uint64_t off, uint64_t v) {
    ASSERT_EQ(iommusim_pwrite(vfd, &v, 8, static_cast<off_t>(ri.offset + off)), 8) << strerror(errno);
  };
  auto rd = [&](uint64_t off) {
    uint64_t v = 0;
    EXPECT_EQ(iommusim_pread(vfd, &v, 8, static_cast<off_t>(ri.offset + off)), 8) << strerror(errno);
    return v;
  };
  EXPECT_EQ(rd(dma_test::ID), dma_test::kId);
  wr(dma_test::DST, 0x4000'0000 + 100);
  wr(dma_test::LEN, 5000);
  wr(dma_test::CTRL, dma_test::CTRL_FILL);
  wr(dma_test::PATTERN, 0xa5a5'a5a5'a5a5'a5a5ULL);
  wr(dma_test::GO, 1);
  uint64_t st = 0;
  for (int i = 0; i < 100000 && !(st & dma_test::ST_DONE); i++) st = rd(dma_test::STATUS);
  ASSERT_NE(st & dma_test::ST_DONE, 0u);
  EXPECT_EQ(st & dma_test::ST_ERROR, 0u);
  for (size_t i = 0; i < buf.len; i++)
    ASSERT_EQ(buf.p[i], (i >= 100 && i < 5100) ? 0xa5 : 0) << i;

  EXPECT_EQ(iommusim_close(vfd), 0);
  EXPECT_EQ(iommusim_close(iommufd), 0);
  p.shutdown();
}

INSTANTIATE_TEST_SUITE_P(Mode, PlatformE2E,
                         ::testing::Values(models::timing_mode::cycle, models::timing_mode::fast), mode_name);
