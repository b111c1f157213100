// SPDX-License-Identifier: MIT
// The VFIO type1 container ioctls on an iommufd: the compat IOAS, map/unmap,
// type1 vs type1v2 splitting, and the GET_INFO capability chain.
#include <linux/vfio.h>

#include "iommufd_test_util.h"

using namespace iommusim::test;

namespace {

int vfio_ioas(const Iommufd &fd, uint16_t op, uint32_t *id) {
  iommu_vfio_ioas cmd = {};
  cmd.size = sizeof(cmd);
  cmd.op = op;
  cmd.ioas_id = *id;
  int rc = fd.ioctl(IOMMU_VFIO_IOAS, &cmd);
  *id = cmd.ioas_id;
  return rc;
}

TEST(VfioCompat, WithoutACompatIoas) {
  Iommufd fd;
  EXPECT_EQ(VFIO_API_VERSION, iommusim_ioctl(fd.fd, VFIO_GET_API_VERSION, nullptr));
  EXPECT_EQ(1, iommusim_ioctl(fd.fd, VFIO_CHECK_EXTENSION, reinterpret_cast<void *>(VFIO_TYPE1v2_IOMMU)));
  EXPECT_EQ(0, iommusim_ioctl(fd.fd, VFIO_CHECK_EXTENSION, reinterpret_cast<void *>(VFIO_TYPE1_NESTING_IOMMU)));
  EXPECT_EQ(ENODEV, fd.ioctl(VFIO_SET_IOMMU, reinterpret_cast<void *>(VFIO_TYPE1v2_IOMMU)));
  EXPECT_EQ(EINVAL, fd.ioctl(VFIO_SET_IOMMU, reinterpret_cast<void *>(99)));
  vfio_iommu_type1_dma_map map = {};
  map.argsz = 1;
  EXPECT_EQ(EINVAL, fd.ioctl(VFIO_IOMMU_MAP_DMA, &map));
  map.argsz = sizeof(map);
  map.flags = 1u << 31;
  EXPECT_EQ(EINVAL, fd.ioctl(VFIO_IOMMU_MAP_DMA, &map));
  map.flags = VFIO_DMA_MAP_FLAG_READ;
  EXPECT_EQ(ENODEV, fd.ioctl(VFIO_IOMMU_MAP_DMA, &map));
  uint32_t id = 0;
  EXPECT_EQ(ENODEV, vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));
  id = 77;
  EXPECT_EQ(ENOENT, vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
  id = fd.ioas();
  EXPECT_EQ(0, vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
  uint32_t got = 0;
  EXPECT_EQ(0, vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &got));
  EXPECT_EQ(id, got);
  // Destroying the IOAS clears the compat pointer.
  EXPECT_EQ(0, fd.destroy(id));
  EXPECT_EQ(ENODEV, vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &got));
}

class VfioCompatMapped : public ::testing::TestWithParam<unsigned long> {
 protected:
  void SetUp() override {
    ioas_ = fd_.ioas();
    ASSERT_EQ(0, fd_.mock_domain(ioas_, &dev_));
    uint32_t id = ioas_;
    ASSERT_EQ(0, vfio_ioas(fd_, IOMMU_VFIO_IOAS_SET, &id));
    ASSERT_EQ(0, fd_.ioctl(VFIO_SET_IOMMU, reinterpret_cast<void *>(GetParam())));
  }
  Iommufd fd_;
  uint32_t ioas_ = 0;
  MockDevice dev_;
};

TEST_P(VfioCompatMapped, MapUnmapAndSplitting) {
  Buffer buf(16 * kPage);
  vfio_iommu_type1_dma_map map = {};
  map.argsz = sizeof(map);
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = reinterpret_cast<uint64_t>(buf.get());
  map.size = buf.size();
  map.iova = MOCK_APERTURE_START;
  ASSERT_EQ(0, fd_.ioctl(VFIO_IOMMU_MAP_DMA, &map));
  EXPECT_EQ(0, fd_.check_map(dev_.hwpt_id, MOCK_APERTURE_START, buf.get(), buf.size()));
  vfio_iommu_type1_dma_unmap unmap = {};
  unmap.argsz = sizeof(unmap);
  unmap.iova = MOCK_APERTURE_START + 4 * kPage;
  unmap.size = kPage;
  if (GetParam() == VFIO_TYPE1_IOMMU) {
    // type1 may punch a hole: the area is cut around it.
    ASSERT_EQ(0, fd_.ioctl(VFIO_IOMMU_UNMAP_DMA, &unmap));
    EXPECT_EQ(kPage, unmap.size);
    EXPECT_EQ(0, fd_.check_map(dev_.hwpt_id, MOCK_APERTURE_START, buf.get(), 4 * kPage));
    EXPECT_EQ(0, fd_.check_refs(buf.get() + 4 * kPage, kPage, 0));
    EXPECT_EQ(0, fd_.check_refs(buf.get() + 5 * kPage, 11 * kPage, 1));
  } else {
    EXPECT_EQ(ENOENT, fd_.ioctl(VFIO_IOMMU_UNMAP_DMA, &unmap));
    EXPECT_EQ(0u, unmap.size);
  }
  // UNMAP_FLAG_ALL needs iova = size = 0.
  unmap.flags = VFIO_DMA_UNMAP_FLAG_ALL;
  EXPECT_EQ(EINVAL, fd_.ioctl(VFIO_IOMMU_UNMAP_DMA, &unmap));
  unmap.iova = unmap.size = 0;
  ASSERT_EQ(0, fd_.ioctl(VFIO_IOMMU_UNMAP_DMA, &unmap));
  EXPECT_EQ(GetParam() == VFIO_TYPE1_IOMMU ? 15 * kPage : 16 * kPage, unmap.size);
  EXPECT_EQ(0, fd_.check_refs(buf.get(), buf.size(), 0));
}

TEST_P(VfioCompatMapped, GetInfoCapabilityChain) {
  alignas(8) uint8_t mem[256];
  memset(mem, 0xAA, sizeof(mem));
  auto *info = reinterpret_cast<vfio_iommu_type1_info *>(mem);
  info->argsz = sizeof(*info);
  info->flags = 0;
  ASSERT_EQ(0, fd_.ioctl(VFIO_IOMMU_GET_INFO, info));
  EXPECT_EQ(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, info->flags);
  EXPECT_EQ(0u, info->cap_offset) << "no room for caps: argsz says how much is needed";
  const uint32_t need = info->argsz;
  // dma_avail (16 bytes) + iova_range with one range (16 + 16), 8-aligned.
  EXPECT_EQ(sizeof(*info) + 16 + 32, need);
  EXPECT_EQ(kPage, info->iova_pgsizes & kPage);
  EXPECT_EQ(0u, info->iova_pgsizes & (kPage - 1)) << "sub-page sizes fold into PAGE_SIZE";
  memset(mem, 0xAA, sizeof(mem));
  info->argsz = need;
  ASSERT_EQ(0, fd_.ioctl(VFIO_IOMMU_GET_INFO, info));
  ASSERT_EQ(sizeof(*info), info->cap_offset);
  auto *cap = reinterpret_cast<vfio_info_cap_header *>(mem + info->cap_offset);
  EXPECT_EQ(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, cap->id);
  EXPECT_EQ(UINT32_MAX, reinterpret_cast<vfio_iommu_type1_info_dma_avail *>(cap)->avail);
  ASSERT_NE(0u, cap->next);
  auto *iova = reinterpret_cast<vfio_iommu_type1_info_cap_iova_range *>(mem + cap->next);
  EXPECT_EQ(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, iova->header.id);
  EXPECT_EQ(0u, iova->header.next);
  ASSERT_EQ(1u, iova->nr_iovas);
  EXPECT_EQ(uint64_t{MOCK_APERTURE_START}, iova->iova_ranges[0].start);
  EXPECT_EQ(uint64_t{MOCK_APERTURE_LAST}, iova->iova_ranges[0].end);
  // Nothing beyond argsz is touched.
  for (size_t i = need; i < sizeof(mem); i++) ASSERT_EQ(0xAA, mem[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(Type1, VfioCompatMapped,
                         ::testing::Values(VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU),
                         [](const auto &p) {
                           return p.param == VFIO_TYPE1_IOMMU ? std::string("v1")
                                                                 : std::string("v2");
                         });

}  // namespace
