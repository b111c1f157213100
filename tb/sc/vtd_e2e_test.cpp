// SPDX-License-Identifier: MIT
// End to end on the VT-d platform (sim/configs/vtd_default.yaml), in legacy
// and scalable mode, both timing modes: a program's buffer mapped with
// IOMMU_IOAS_MAP through the C API is where the DMA test device's bytes land;
// after UNMAP the same DMA is a primary fault record and changes nothing;
// dirty tracking (second-stage A/D, SSADS) reports exactly the pages written;
// a page request reaches the fault fd and the response lets the DMA finish;
// and a nested first-stage table that the test builds in the program's
// memory translates the DMA and is invalidated through HWPT_INVALIDATE.
#include <gtest/gtest.h>
#include <poll.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "iommufd_api/drivers/vtd/vtd_driver.h"
#include "models/vtd/regs.h"
#include "models/vtd/vtd.h"
#include "platform_test_util.h"

using namespace iommusim;
using namespace iommusim::sim;
using namespace iommusim::platform_test;
namespace fr = iommusim::models::vtd;

namespace {

enum class tables { scalable, legacy };
using param = std::tuple<models::timing_mode, tables>;

std::string vtd_config(const param &p) {
  std::string t = config_text(std::get<0>(p), "vtd_default.yaml");
  if (std::get<1>(p) == tables::legacy) {
    const size_t at = t.find("force_legacy: false");
    t.replace(at, 19, "force_legacy: true ");
  }
  return t;
}

// The VT-d platform, an iommufd context with an IOAS, and a device bound to it.
struct e2e {
  e2e(const param &prm, const char *device)
      : p(platform::load_string(vtd_config(prm))), fd(iommusim_open()), ioas(ioas_alloc(fd)),
        dev(p, device, fd), bus(p.bus()), drv(*p.iommus().at(0).vtd_driver) {}
  ~e2e() { EXPECT_EQ(iommusim_close(fd), 0); }
  platform &p;
  const int fd;
  const uint32_t ioas;
  bound_device dev;
  iommufd::host_bus &bus;
  iommufd::vtd::vtd_driver &drv;
};

class VtdE2E : public ::testing::TestWithParam<param> {
 protected:
  bool scalable() const { return std::get<1>(GetParam()) == tables::scalable; }
};

std::string param_name(const ::testing::TestParamInfo<param> &i) {
  return std::string(std::get<0>(i.param) == models::timing_mode::cycle ? "cycle" : "fast") + "_" +
         (std::get<1>(i.param) == tables::scalable ? "scalable" : "legacy");
}

}  // namespace

TEST_P(VtdE2E, DriverUsesTheModeAsked) {
  e2e t(GetParam(), "dma0");
  EXPECT_TRUE(t.drv.probed());
  EXPECT_EQ(t.drv.scalable_mode(), scalable());
  // GET_HW_INFO is Linux's struct iommu_hw_info_vtd from CAP/ECAP.
  iommu_hw_info_vtd vtd{};
  iommu_hw_info info{};
  info.size = sizeof(info);
  info.dev_id = t.dev.dev_id;
  info.data_len = sizeof(vtd);
  info.data_uptr = reinterpret_cast<uint64_t>(&vtd);
  ASSERT_EQ(iommusim_ioctl(t.fd, IOMMU_GET_HW_INFO, &info), 0) << strerror(errno);
  EXPECT_EQ(info.out_data_type, uint32_t{IOMMU_HW_INFO_TYPE_INTEL_VTD});
  EXPECT_EQ(vtd.cap_reg, t.drv.cap_reg());
  EXPECT_EQ(vtd.ecap_reg, t.drv.ecap_reg());
  EXPECT_EQ(vtd.cap_reg, t.p.iommus().at(0).vtd_model->peek_reg(fr::reg::CAP, 8));
}

// The bytes land in the program's buffer; an unmapped IOVA faults.
TEST_P(VtdE2E, DmaLandsInTheProgramsBuffer) {
  e2e t(GetParam(), "dma0");
  ASSERT_TRUE(t.dev.ok());
  uint32_t pt = t.ioas;
  ASSERT_EQ(t.dev.attach(&pt), 0);

  constexpr size_t kLen = 3 * 4096;
  buffer src(kLen), dst(kLen);
  for (size_t i = 0; i < kLen; i++) src.p[i] = static_cast<uint8_t>(i * 13 + 1);
  std::memset(dst.p, 0xee, kLen);
  constexpr uint64_t kSrcIova = 0x10'0000, kDstIova = 0x20'0000;
  ASSERT_EQ(ioas_map(t.fd, t.ioas, src.p, kLen, kSrcIova), 0);
  ASSERT_EQ(ioas_map(t.fd, t.ioas, dst.p, kLen, kDstIova), 0);

  const uint64_t st = run_dma(t.bus, t.dev.bar(), kSrcIova + 5, kDstIova + 9, kLen - 16, 0);
  EXPECT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  EXPECT_EQ(t.bus.readq(t.dev.bar() + dma_test::BYTES_DONE), kLen - 16);
  EXPECT_EQ(std::memcmp(dst.p + 9, src.p + 5, kLen - 16), 0);
  for (size_t i = 0; i < 9; i++) EXPECT_EQ(dst.p[i], 0xee);
  for (size_t i = kLen - 7; i < kLen; i++) EXPECT_EQ(dst.p[i], 0xee);
}

// After UNMAP (the driver's page-selective IOTLB invalidation and its wait
// descriptor) the same DMA is a primary fault (VT-d §7.2): the device stops
// with no byte written, the fault recording register holds the requester, the
// page and the reason, and no byte of the program changes.
TEST_P(VtdE2E, AfterUnmapTheSameDmaIsAFaultRecordAndChangesNothing) {
  e2e t(GetParam(), "dma0");
  ASSERT_TRUE(t.dev.ok());
  uint32_t pt = t.ioas;
  ASSERT_EQ(t.dev.attach(&pt), 0);

  constexpr uint64_t kIova = 0x30'0000;
  size_t faults_before = 0;
  unmap_then_same_dma_scenario(t.p, t.fd, t.ioas, t.bus, t.dev.bar(), kIova,
                               [&] { faults_before = t.drv.recent_faults().size(); });
  if (HasFatalFailure()) return;

  // Exactly one record: the device stops at its first faulting burst. A
  // write through a second-stage entry with R = W = 0: reason 5 in legacy
  // mode, SSS.2 (0x79) in scalable mode (VT-d §7.1.3).
  const std::vector<iommufd::vtd::fault_record> f = t.drv.recent_faults();
  ASSERT_EQ(f.size(), faults_before + 1);
  const iommufd::vtd::fault_record &r = f.back();
  EXPECT_EQ(r.reason, scalable() ? fr::SSS_2 : fr::FR_WRITE);
  EXPECT_EQ(r.source_id, 0x0010);
  EXPECT_FALSE(r.read);
  EXPECT_FALSE(r.pasid_present);
  EXPECT_EQ(r.addr, kIova);
}

// Dirty tracking (VT-d §3.6.2, SSADS): the second-stage D bit set on the
// device's first write (dirty_tracking_scenario). Linux offers it only in
// scalable mode: legacy refuses the HWPT.
TEST_P(VtdE2E, DirtyTrackingReportsExactlyThePagesTheDeviceWrote) {
  e2e t(GetParam(), "dma0");
  ASSERT_TRUE(t.dev.ok());
  iommu_hwpt_alloc a{};
  a.size = sizeof(a);
  a.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
  a.dev_id = t.dev.dev_id;
  a.pt_id = t.ioas;
  if (!scalable()) {
    EXPECT_EQ(iommusim_ioctl(t.fd, IOMMU_HWPT_ALLOC, &a), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    return;
  }
  ASSERT_EQ(iommusim_ioctl(t.fd, IOMMU_HWPT_ALLOC, &a), 0) << strerror(errno);
  uint32_t pt = a.out_hwpt_id;
  ASSERT_EQ(t.dev.attach(&pt), 0);
  dirty_tracking_scenario(t.fd, t.ioas, a.out_hwpt_id, t.bus, t.dev.bar(), 0x100'0000);
}

// Page requests (VT-d §7.5): the unit writes the request to the page request
// queue, the driver forwards it to the HWPT's fault queue, and the program's
// response goes back as a page group response (page_request_scenario).
// Linux supports I/O page faults in scalable mode only.
TEST_P(VtdE2E, PageRequestReachesTheFaultFdAndItsResponseFinishesTheDma) {
  e2e t(GetParam(), "pri0");
  ASSERT_TRUE(t.dev.ok());
  iommu_fault_alloc fa{};
  fa.size = sizeof(fa);
  ASSERT_EQ(iommusim_ioctl(t.fd, IOMMU_FAULT_QUEUE_ALLOC, &fa), 0) << strerror(errno);
  const int ffd = static_cast<int>(fa.out_fault_fd);
  const uint32_t hwpt = hwpt_alloc(t.fd, t.dev.dev_id, t.ioas, IOMMU_HWPT_FAULT_ID_VALID, fa.out_fault_id);
  ASSERT_NE(hwpt, 0u);
  uint32_t pt = hwpt;
  const int attached = t.dev.attach(&pt);
  if (!scalable()) {
    EXPECT_EQ(attached, -ENODEV);  // no IOPF without scalable mode (intel_iommu_enable_iopf)
    EXPECT_EQ(iommusim_close(ffd), 0);
    return;
  }
  ASSERT_EQ(attached, 0);
  page_request_scenario(t.p, t.fd, t.ioas, ffd, t.dev.dev_id, t.bus, t.dev.bar(), 0x7700'0000);
  EXPECT_EQ(t.dev.dev->dma_test->stats().get("page_requests"), 1u);
  EXPECT_EQ(t.drv.stats().prq_responses, 1u);
  EXPECT_EQ(iommusim_close(ffd), 0);
}

INSTANTIATE_TEST_SUITE_P(Mode, VtdE2E,
                         ::testing::Combine(::testing::Values(models::timing_mode::cycle, models::timing_mode::fast),
                                            ::testing::Values(tables::scalable, tables::legacy)),
                         param_name);
