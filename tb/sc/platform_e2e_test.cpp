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

  constexpr uint64_t kIova = 0x30'0000;
  size_t events_before = 0;
  unmap_then_same_dma_scenario(t.p, t.fd, t.ioas, t.bus, t.dev.bar(), kIova,
                               [&] { events_before = smmu_driver(t.p).recent_events().size(); });
  if (HasFatalFailure()) return;

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
// descriptor dirty on the device's first write (dirty_tracking_scenario).
TEST_P(PlatformE2E, DirtyTrackingReportsExactlyThePagesTheDeviceWrote) {
  e2e t(GetParam(), "dma0");
  ASSERT_TRUE(t.dev.ok());
  const uint32_t hwpt = hwpt_alloc(t.fd, t.dev.dev_id, t.ioas, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  ASSERT_NE(hwpt, 0u);
  uint32_t pt = hwpt;
  ASSERT_EQ(t.dev.attach(&pt), 0);
  dirty_tracking_scenario(t.fd, t.ioas, hwpt, t.bus, t.dev.bar(), 0x100'0000);
}

// PRI (SMMUv3 §8): the page request goes through the PRI queue and the
// driver to the HWPT's fault queue; the program's response (a PRI_RESP
// command) lets the device's retry land (page_request_scenario).
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
  page_request_scenario(t.p, t.fd, t.ioas, ffd, t.dev.dev_id, t.bus, t.dev.bar(), 0x7700'0000);
  EXPECT_EQ(t.dev.dev->dma_test->stats().get("page_requests"), 1u);
  EXPECT_EQ(smmu_driver(t.p).stats().pri_responses, 1u);
  EXPECT_EQ(iommusim_close(ffd), 0);
}

INSTANTIATE_TEST_SUITE_P(Mode, PlatformE2E,
                         ::testing::Values(models::timing_mode::cycle, models::timing_mode::fast), mode_name);
