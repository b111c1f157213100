// SPDX-License-Identifier: MIT
// A platform boots from sim/configs/smmuv3_default.yaml: the SystemC top is
// built, the SMMUv3 driver probes through the host CPU (CR0ACK follows CR0),
// every device is an iommufd device in a group of the SMMUv3 driver, and the
// VFIO device shows up as /dev/vfio/devices/vfio0. Both timing modes.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "core/iommu.h"
#include "drivers/smmuv3/smmuv3_driver.h"
#include "iommusim/platform.h"
#include "sim/host_cpu.h"
#include "sim/platform.h"
#include "vfio/vfio_device.h"

using namespace iommusim;
using namespace iommusim::sim;

namespace {

std::string read_file(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kDefault = std::string(IOMMUSIM_SOURCE_DIR) + "/sim/configs/smmuv3_default.yaml";

constexpr uint64_t kCr0 = 0x20, kCr0Ack = 0x24, kCr0SmmuEn = 1u << 0;

void expect_booted(platform &p) {
  ASSERT_EQ(p.iommus().size(), 1u);
  platform::iommu &io = p.iommus()[0];
  ASSERT_NE(io.driver, nullptr);
  EXPECT_TRUE(io.driver->probed());
  const uint64_t base = io.desc->base;
  const uint32_t cr0 = p.bus().readl(base + kCr0);
  const uint32_t ack = p.bus().readl(base + kCr0Ack);
  EXPECT_NE(cr0 & kCr0SmmuEn, 0u) << "SMMUEN";
  EXPECT_EQ(ack, cr0) << "CR0ACK must follow CR0";
  EXPECT_GT(p.now_ps(), 0u) << "probing takes simulated time";

  ASSERT_EQ(p.devices().size(), 3u);
  for (platform::device &d : p.devices()) {
    ASSERT_NE(d.dev, nullptr) << d.desc->name;
    EXPECT_EQ(d.dev->iommu, io.driver) << d.desc->name;
    EXPECT_NE(d.dev->group, nullptr) << d.desc->name;
    EXPECT_EQ(d.dev->ids, std::vector<uint32_t>{d.desc->stream_id});
  }
  platform::device *dma0 = p.find_device("dma0");
  ASSERT_NE(dma0, nullptr);
  EXPECT_EQ(dma0->vfio_index, 0);
  EXPECT_TRUE(iommufd::vfio::is_cdev_path("/dev/vfio/devices/vfio0"));
  EXPECT_FALSE(iommufd::vfio::is_cdev_path("/dev/vfio/devices/vfio1"));
  EXPECT_TRUE(p.find_device("ats0")->dev->ats_capable);
  EXPECT_TRUE(p.find_device("pri0")->dev->pri_capable);
  EXPECT_EQ(p.find_device("pri0")->dev->max_pasids, 1u << 20);
  // The dma_test's ID register through its BAR.
  EXPECT_EQ(p.bus().readq(dma0->bar + 0x00), 0x1a3a'd0a1'0000'0001ULL);
}

}  // namespace

TEST(PlatformBoot, DefaultConfigBootsAndTheSmmuDriverProbes) {
  platform &p = platform::load(kDefault);
  EXPECT_EQ(platform::current(), &p);
  expect_booted(p);
  p.run_until_idle();
  p.shutdown();
}

TEST(PlatformBoot, FastModeBootsTheSameWay) {
  std::string text = read_file(kDefault);
  const size_t at = text.find("timing: cycle");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 13, "timing: fast ");
  platform &p = platform::load_string(text, "yaml");
  EXPECT_EQ(p.config().timing, models::timing_mode::fast);
  expect_booted(p);
  p.shutdown();
}

TEST(PlatformBoot, JsonTwinBoots) {
  ASSERT_EQ(iommusim_platform_load((std::string(IOMMUSIM_SOURCE_DIR) + "/sim/configs/smmuv3_default.json").c_str()), 0)
      << iommusim_platform_error();
  ASSERT_NE(platform::current(), nullptr);
  expect_booted(*platform::current());
  // One platform per process.
  EXPECT_EQ(iommusim_platform_load(kDefault.c_str()), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_NE(std::string(iommusim_platform_error()).find("already loaded"), std::string::npos);
  iommusim_platform_shutdown();
}

TEST(PlatformBoot, CApiReportsConfigErrors) {
  EXPECT_EQ(iommusim_platform_load_string("iommus: [{name: smmu0, bogus: 1}]\n", "yaml"), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(std::string(iommusim_platform_error()).substr(0, 33), "<string>:1:24: iommus[0].bogus: u");
  EXPECT_EQ(iommusim_platform_load("/nonexistent.yaml"), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(iommusim_platform_validate(kDefault.c_str()), 0);
  EXPECT_STREQ(iommusim_platform_error(), "");
  EXPECT_EQ(iommusim_platform_write_stats("/tmp/x.json"), -1);
  EXPECT_EQ(errno, ENODEV);
  // A bad config builds nothing: a good one still loads afterwards.
  EXPECT_EQ(platform::current(), nullptr);
  ASSERT_EQ(iommusim_platform_load(kDefault.c_str()), 0) << iommusim_platform_error();
  iommusim_platform_shutdown();
}

// An IOMMU with nothing behind it still elaborates, and its driver probes
// (the upstream socket gets a master that never issues).
TEST(PlatformBoot, IommusWithoutDevicesBoot) {
  platform &p = platform::load_string(
      "iommus:\n"
      "  - {name: smmu0, type: smmuv3}\n"
      "  - {name: dmar0, type: vtd, base: 0x0a00_0000}\n",
      "yaml");
  ASSERT_EQ(p.iommus().size(), 2u);
  ASSERT_NE(p.iommus()[0].driver, nullptr);
  EXPECT_TRUE(p.iommus()[0].driver->probed());
  ASSERT_NE(p.iommus()[1].vtd_driver, nullptr);
  EXPECT_TRUE(p.iommus()[1].vtd_driver->probed());
  EXPECT_TRUE(p.devices().empty());
  p.run_until_idle();
  p.shutdown();
}
