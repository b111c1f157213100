// SPDX-License-Identifier: MIT
// End to end: a program's buffer, mapped with IOMMU_IOAS_MAP through the C
// API, is the target of a dma_test device behind the simulated SMMUv3. The
// device is bound to the iommufd context (iommufd_device_bind/attach, as VFIO
// does), programmed through HostBus MMIO, and the exact bytes land in the
// program's memory; an unmapped IOVA faults. A second case does the same as an
// unmodified program would, through /dev/vfio/devices/vfio0. Then what a
// driver engineer checks first: after UNMAP the same DMA is an F_TRANSLATION
// event and changes nothing; dirty tracking (HTTU) reports exactly the pages
// the device wrote; a PRI page request reaches the fault fd and the program's
// response lets the DMA finish. Both timing modes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "drivers/smmuv3/smmuv3_driver.h"
#include "iommusim/vfio.h"
#include "platform_test_util.h"
#include "sim/dma_tap.h"
#include "sim/host_cpu.h"

using namespace iommusim;
using namespace iommusim::sim;
using namespace iommusim::platform_test;

namespace {

iommufd::smmuv3::smmuv3_driver &smmu_driver(platform &p) { return *p.iommus().at(0).driver; }

// The default SMMUv3 platform, an iommufd context with an IOAS, and a device
// bound to it.
struct e2e {
  e2e(models::timing_mode mode, const char *device)
      : p(platform::load_string(config_text(mode))), fd(iommusim_open()), ioas(ioas_alloc(fd)),
        dev(p, device, fd), bus(p.bus()) {}
  ~e2e() { EXPECT_EQ(iommusim_close(fd), 0); }
  platform &p;
  const int fd;
  const uint32_t ioas;
  bound_device dev;
  iommufd::host_bus &bus;
};

class PlatformE2E : public ::testing::TestWithParam<models::timing_mode> {};

std::string mode_name(const ::testing::TestParamInfo<models::timing_mode> &i) {
  return i.param == models::timing_mode::cycle ? "cycle" : "fast";
}

}  // namespace

TEST_P(PlatformE2E, DmaLandsInTheProgramsBuffer) {
  e2e t(GetParam(), "dma0");
  ASSERT_TRUE(t.dev.ok());
  uint32_t pt = t.ioas;
  ASSERT_EQ(t.dev.attach(&pt), 0);
  EXPECT_NE(pt, t.ioas);  // the automatic paging HWPT

  constexpr size_t kLen = 3 * 4096;
  buffer src(kLen), dst(kLen);
  for (size_t i = 0; i < kLen; i++) src.p[i] = static_cast<uint8_t>(i * 31 + 7);
  std::memset(dst.p, 0xee, kLen);
  constexpr uint64_t kSrcIova = 0x10'0000, kDstIova = 0x20'0000;
  ASSERT_EQ(ioas_map(t.fd, t.ioas, src.p, kLen, kSrcIova), 0);
  ASSERT_EQ(ioas_map(t.fd, t.ioas, dst.p, kLen, kDstIova), 0);

  // Copy 3 pages minus a few bytes, starting off a page boundary.
  const uint64_t st = run_dma(t.bus, t.dev.bar(), kSrcIova + 5, kDstIova + 9, kLen - 16, 0);
  EXPECT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  EXPECT_EQ(t.bus.readq(t.dev.bar() + dma_test::BYTES_DONE), kLen - 16);
  EXPECT_EQ(std::memcmp(dst.p + 9, src.p + 5, kLen - 16), 0);
  for (size_t i = 0; i < 9; i++) EXPECT_EQ(dst.p[i], 0xee);
  for (size_t i = kLen - 7; i < kLen; i++) EXPECT_EQ(dst.p[i], 0xee);
  EXPECT_GT(t.bus.readq(t.dev.bar() + dma_test::CYCLES), 0u);

  // Fill: the pattern's bytes, little-endian, from the first byte.
  const uint64_t st2 = run_dma(t.bus, t.dev.bar(), 0, kDstIova, 4096, dma_test::CTRL_FILL, 0x0807'0605'0403'0201ULL);
  EXPECT_EQ(st2 & dma_test::ST_ERROR, 0u);
  for (size_t i = 0; i < 4096; i++) ASSERT_EQ(dst.p[i], static_cast<uint8_t>(1 + i % 8)) << i;

  // An IOVA nothing is mapped at: a translation fault, reported by the device.
  const uint64_t st3 = run_dma(t.bus, t.dev.bar(), 0, 0x90'0000, 64, dma_test::CTRL_FILL, 1);
  EXPECT_NE(st3 & dma_test::ST_ERROR, 0u);
  EXPECT_EQ((st3 >> 16) & 0xffff, uint64_t{dma_test::ERR_TRANSLATION});
  EXPECT_EQ(t.bus.readq(t.dev.bar() + dma_test::FAULT_ADDR), 0x90'0000u);

  t.p.run_until_idle();
  // The taps saw every DMA of the device.
  const std::string stats = t.p.stats_json();
  EXPECT_NE(stats.find("\"upstream.dma0\""), std::string::npos);
  EXPECT_NE(stats.find("\"smmu0.driver\""), std::string::npos);
  EXPECT_GE(t.dev.dev->tap->stats().get("faults"), 1u);
  EXPECT_EQ(t.dev.dev->tap->stats().get("bytes"), 2 * (kLen - 16) + 4096);
}

TEST_P(PlatformE2E, ThroughTheVfioCdevAsAProgramDoes) {
  platform &p = platform::load_string(config_text(GetParam()));
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
  ASSERT_EQ(ioas_map(iommufd, ioas, buf.p, buf.len, 0x4000'0000), 0);
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

// After UNMAP (which invalidates with TLBI + CMD_SYNC) the DMA that worked a
// moment ago is a translation fault: the device stops with no byte written,
// the SMMU writes an F_TRANSLATION record (SMMUv3 §7.3.10) to the event queue,
// the driver's event interrupt reads it, and no byte of the program changes.
TEST_P(PlatformE2E, AfterUnmapTheSameDmaIsFTranslationAndChangesNothing) {
  e2e t(GetParam(), "dma0");
  ASSERT_TRUE(t.dev.ok());
  uint32_t pt = t.ioas;
  ASSERT_EQ(t.dev.attach(&pt), 0);

  constexpr uint64_t kIova = 0x30'0000, kCanaryIova = kIova + 0x2000;
  buffer dst(2 * 4096), canary(4096);
  std::memset(dst.p, 0x11, dst.len);
  std::memset(canary.p, 0x22, canary.len);
  ASSERT_EQ(ioas_map(t.fd, t.ioas, dst.p, dst.len, kIova), 0);
  ASSERT_EQ(ioas_map(t.fd, t.ioas, canary.p, canary.len, kCanaryIova), 0);

  const uint64_t pattern = 0x5a5a'5a5a'5a5a'5a5aULL;
  const uint64_t ok = run_dma(t.bus, t.dev.bar(), 0, kIova, dst.len, dma_test::CTRL_FILL, pattern);
  ASSERT_EQ(ok & dma_test::ST_ERROR, 0u);
  for (size_t i = 0; i < dst.len; i++) ASSERT_EQ(dst.p[i], 0x5a) << i;
  t.p.run_until_idle();
  const size_t events_before = smmu_driver(t.p).recent_events().size();

  ASSERT_EQ(ioas_unmap(t.fd, t.ioas, kIova, dst.len), 0);
  std::memset(dst.p, 0x33, dst.len);  // the program reuses its buffer
  const uint64_t st = run_dma(t.bus, t.dev.bar(), 0, kIova, dst.len, dma_test::CTRL_FILL, pattern);
  EXPECT_NE(st & dma_test::ST_ERROR, 0u);
  EXPECT_EQ((st >> 16) & 0xffff, uint64_t{dma_test::ERR_TRANSLATION});
  EXPECT_EQ(t.bus.readq(t.dev.bar() + dma_test::FAULT_ADDR), kIova);
  EXPECT_EQ(t.bus.readq(t.dev.bar() + dma_test::BYTES_DONE), 0u);
  t.p.run_until_idle();

  for (size_t i = 0; i < dst.len; i++) ASSERT_EQ(dst.p[i], 0x33) << i;
  for (size_t i = 0; i < canary.len; i++) ASSERT_EQ(canary.p[i], 0x22) << i;

  // Exactly one record: the device stops at its first faulting burst.
  const std::vector<iommufd::smmuv3::event_record> ev = smmu_driver(t.p).recent_events();
  ASSERT_EQ(ev.size(), events_before + 1);
  const iommufd::smmuv3::event_record &e = ev.back();
  EXPECT_EQ(e.id, 0x10);  // F_TRANSLATION
  EXPECT_EQ(e.sid, 0x10u);
  EXPECT_FALSE(e.ssv);
  EXPECT_FALSE(e.stall);
  EXPECT_EQ(e.addr, kIova);
  EXPECT_EQ(e.raw[0], 0x10u | (uint64_t{0x10} << 32));  // type, SSV=0, StreamID
  EXPECT_EQ((e.raw[1] >> 35) & 1, 0u);                  // RnW = 0: a write
  EXPECT_EQ(e.raw[2], kIova);                           // InputAddr
}

// Dirty tracking with HTTU (SMMUv3 §3.13): the SMMU sets a writable-clean
// descriptor dirty on the device's first write; GET_DIRTY_BITMAP reports and
// clears exactly the written pages, reads leave pages clean, and re-enabling
// starts from a clean state (iommufd clears on enable).
TEST_P(PlatformE2E, DirtyTrackingReportsExactlyThePagesTheDeviceWrote) {
  e2e t(GetParam(), "dma0");
  ASSERT_TRUE(t.dev.ok());
  const uint32_t hwpt = hwpt_alloc(t.fd, t.dev.dev_id, t.ioas, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  ASSERT_NE(hwpt, 0u);
  uint32_t pt = hwpt;
  ASSERT_EQ(t.dev.attach(&pt), 0);

  constexpr uint64_t kIova = 0x100'0000;
  buffer buf(8 * 4096);
  std::memset(buf.p, 0, buf.len);
  ASSERT_EQ(ioas_map(t.fd, t.ioas, buf.p, buf.len, kIova), 0);
  ASSERT_EQ(set_dirty_tracking(t.fd, hwpt, true), 0);
  EXPECT_EQ(dirty_bitmap(t.fd, hwpt, kIova), 0u);

  const uint64_t bar = t.dev.bar(), pat = 0x0101'0101'0101'0101ULL;
  auto fill = [&](uint64_t iova, uint64_t len) {
    return run_dma(t.bus, bar, 0, iova, len, dma_test::CTRL_FILL, pat) & dma_test::ST_ERROR;
  };
  ASSERT_EQ(fill(kIova + 0x1000, 4096), 0u);
  ASSERT_EQ(fill(kIova + 0x3000 + 100, 64), 0u);
  // A copy reads page 6 (stays clean) and writes page 1 again.
  ASSERT_EQ(run_dma(t.bus, bar, kIova + 0x6000, kIova + 0x1000, 512, 0) & dma_test::ST_ERROR, 0u);
  EXPECT_EQ(dirty_bitmap(t.fd, hwpt, kIova), (1u << 1) | (1u << 3));
  EXPECT_EQ(dirty_bitmap(t.fd, hwpt, kIova), 0u);  // the read cleared them

  // After the clear (and its TLB invalidation) a write dirties again.
  ASSERT_EQ(fill(kIova + 0x5000, 8), 0u);
  EXPECT_EQ(dirty_bitmap(t.fd, hwpt, kIova, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR), 1u << 5);
  EXPECT_EQ(dirty_bitmap(t.fd, hwpt, kIova, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR), 1u << 5);
  EXPECT_EQ(dirty_bitmap(t.fd, hwpt, kIova), 1u << 5);
  EXPECT_EQ(dirty_bitmap(t.fd, hwpt, kIova), 0u);

  // Writes while tracking is off are forgotten when it is turned on again.
  ASSERT_EQ(set_dirty_tracking(t.fd, hwpt, false), 0);
  ASSERT_EQ(fill(kIova + 0x7000, 8), 0u);
  ASSERT_EQ(set_dirty_tracking(t.fd, hwpt, true), 0);
  EXPECT_EQ(dirty_bitmap(t.fd, hwpt, kIova), 0u);
  // The bytes: page 1 filled then its first 512 bytes copied from (zero)
  // page 6, 64 bytes of page 3, 8 of page 5, 8 of page 7.
  for (size_t i = 0; i < buf.len; i++) {
    const bool ones = (i >= 0x1200 && i < 0x2000) || (i >= 0x3000 + 100 && i < 0x3000 + 164) ||
                      (i >= 0x5000 && i < 0x5008) || (i >= 0x7000 && i < 0x7008);
    ASSERT_EQ(buf.p[i], ones ? 1 : 0) << i;
  }
}

// PRI (SMMUv3 §8): the device's write to an IOVA nothing is mapped at fails,
// it sends a page request, the SMMU queues it in the PRI queue, the driver
// forwards it to the HWPT's fault queue, the program reads it from the fault
// fd, maps the page and answers SUCCESS; the device retries and the bytes land.
TEST_P(PlatformE2E, PageRequestReachesTheFaultFdAndItsResponseFinishesTheDma) {
  e2e t(GetParam(), "pri0");
  ASSERT_TRUE(t.dev.ok());
  iommu_fault_alloc fa{};
  fa.size = sizeof(fa);
  ASSERT_EQ(iommusim_ioctl(t.fd, IOMMU_FAULT_QUEUE_ALLOC, &fa), 0) << strerror(errno);
  const int ffd = static_cast<int>(fa.out_fault_fd);
  const uint32_t hwpt = hwpt_alloc(t.fd, t.dev.dev_id, t.ioas, IOMMU_HWPT_FAULT_ID_VALID, fa.out_fault_id);
  ASSERT_NE(hwpt, 0u);
  uint32_t pt = hwpt;
  ASSERT_EQ(t.dev.attach(&pt), 0);

  constexpr uint64_t kIova = 0x7700'0000;
  const uint64_t bar = t.dev.bar();
  buffer buf(4096);
  std::memset(buf.p, 0, buf.len);
  start_dma(t.bus, bar, 0, kIova + 128, 256, dma_test::CTRL_FILL | dma_test::CTRL_PRI, 0xc3c3'c3c3'c3c3'c3c3ULL);

  pollfd pfd{ffd, POLLIN, 0};
  ASSERT_EQ(iommusim_poll(&pfd, 1, 20000), 1) << "no page request reached the fault fd";
  iommu_hwpt_pgfault f{};
  ASSERT_EQ(iommusim_read(ffd, &f, sizeof(f)), static_cast<ssize_t>(sizeof(f)));
  EXPECT_EQ(f.dev_id, t.dev.dev_id);
  EXPECT_EQ(f.addr, kIova);  // the page, as the PRI message carries it
  EXPECT_EQ(f.length, 0u);   // 6.12 reports no length for a PRI page request
  EXPECT_NE(f.perm & IOMMU_PGFAULT_PERM_WRITE, 0u);
  EXPECT_NE(f.flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE, 0u);
  EXPECT_EQ(f.flags & IOMMU_PGFAULT_FLAGS_PASID_VALID, 0u);
  // Still waiting for the response, nothing written.
  EXPECT_EQ(t.bus.readq(bar + dma_test::STATUS) & dma_test::ST_DONE, 0u);
  for (size_t i = 0; i < buf.len; i++) ASSERT_EQ(buf.p[i], 0) << i;

  ASSERT_EQ(ioas_map(t.fd, t.ioas, buf.p, buf.len, kIova), 0);
  iommu_hwpt_page_response r{};
  r.cookie = f.cookie;
  r.code = IOMMUFD_PAGE_RESP_SUCCESS;
  ASSERT_EQ(iommusim_write(ffd, &r, sizeof(r)), static_cast<ssize_t>(sizeof(r)));

  ASSERT_TRUE(t.bus.poll32(bar + dma_test::STATUS, dma_test::ST_DONE, dma_test::ST_DONE, 100, 100'000'000));
  const uint64_t st = t.bus.readq(bar + dma_test::STATUS);
  EXPECT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  EXPECT_EQ(t.bus.readq(bar + dma_test::BYTES_DONE), 256u);
  for (size_t i = 0; i < buf.len; i++) ASSERT_EQ(buf.p[i], (i >= 128 && i < 384) ? 0xc3 : 0) << i;
  t.p.run_until_idle();
  EXPECT_EQ(t.dev.dev->dma_test->stats().get("page_requests"), 1u);
  EXPECT_EQ(iommusim_close(ffd), 0);
}

INSTANTIATE_TEST_SUITE_P(Mode, PlatformE2E,
                         ::testing::Values(models::timing_mode::cycle, models::timing_mode::fast), mode_name);
