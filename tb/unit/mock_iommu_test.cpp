// SPDX-License-Identifier: MIT
// The mock IOMMU driver (drivers/mock): its table encoding, the map/unmap
// pairing checks, dirty tracking, domain allocation rules, nested IOTLB
// invalidation and hardware info — first against the driver directly, then
// as iommufd drives it through the C API.
#include <gtest/gtest.h>

#include <cstring>

#include "core/iova_bitmap.h"
#include "core/log.h"
#include "mock_test_util.h"

namespace iommusim::test {
namespace {

using namespace iommusim::iommufd;

constexpr uint64_t kIova = MOCK_APERTURE_START;
constexpr uint64_t kPaddr = 1ULL << 32;  // a plausible user frame address
constexpr uint64_t kPfn = kPaddr / MOCK_IO_PAGE_SIZE;

struct DevDeleter {
  void operator()(mock_device *d) const { mock_dev_destroy(d); }
};
using DevPtr = std::unique_ptr<mock_device, DevDeleter>;

DevPtr make_dev(uint32_t flags = 0) {
  auto d = mock_dev_create(flags);
  EXPECT_FALSE(d.is_err()) << d.err();
  return DevPtr(d.is_err() ? nullptr : d.get());
}

std::unique_ptr<mock_iommu_domain> paging_domain(mock_device *dev) {
  auto d = mock_driver().domain_alloc_paging(dev);
  EXPECT_FALSE(d.is_err());
  return std::unique_ptr<mock_iommu_domain>(dynamic_cast<mock_iommu_domain *>(d.get()));
}

std::unique_ptr<mock_iommu_domain> dirty_domain(mock_device *dev) {
  auto d = mock_driver().domain_alloc_user(*dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, nullptr, nullptr);
  EXPECT_FALSE(d.is_err()) << d.err();
  EXPECT_TRUE(d->has_dirty_ops);
  return std::unique_ptr<mock_iommu_domain>(dynamic_cast<mock_iommu_domain *>(d.get()));
}

// Runs read_and_clear_dirty over [iova, iova + len) into a user bitmap of
// page_size granularity, as iopt_read_and_clear_dirty_data does.
int read_dirty(mock_iommu_domain *d, uint64_t iova, uint64_t len, uint64_t page_size,
               void *bitmap, unsigned long flags) {
  auto bm = iova_bitmap::alloc(*process_task().mm, iova, len, page_size,
                               reinterpret_cast<uint64_t>(bitmap));
  if (bm.is_err()) return bm.err();
  struct ctx {
    mock_iommu_domain *d;
    unsigned long flags;
  } c{d, flags};
  int rc = bm->for_each(&c, [](iova_bitmap *b, uint64_t i, uint64_t l, void *opaque) {
    auto *cc = static_cast<ctx *>(opaque);
    iommu_dirty_bitmap dirty;
    dirty.bitmap = b;
    return cc->d->read_and_clear_dirty(i, l, cc->flags, dirty);
  });
  delete bm.get();
  return rc;
}

TEST(MockIommu, DeviceCreateFlagsNamesAndProbe) {
  EXPECT_EQ(-EINVAL, mock_dev_create(1u << 3).err());
  EXPECT_EQ(-EINVAL, mock_dev_create(~0u).err());

  DevPtr a = make_dev();
  DevPtr b = make_dev(MOCK_FLAGS_DEVICE_PASID | MOCK_FLAGS_DEVICE_NO_DIRTY |
                      MOCK_FLAGS_DEVICE_HUGE_IOVA);
  ASSERT_TRUE(a && b);
  EXPECT_EQ("iommufd_mock" + std::to_string(a->id), a->name);
  EXPECT_NE(a->id, b->id);
  EXPECT_TRUE(a->selftest_mock);
  EXPECT_EQ(0u, a->max_pasids);
  EXPECT_EQ(1u << MOCK_PASID_WIDTH, b->max_pasids);
  EXPECT_EQ(&mock_driver(), a->iommu);
  ASSERT_NE(nullptr, a->group);
  EXPECT_NE(a->group, b->group);  // generic_device_group: a group each
  // The blocking domain is the default domain too.
  EXPECT_EQ(mock_driver().blocked_domain(*a), a->group->domain);
  EXPECT_EQ(mock_driver().default_domain(*a), a->group->domain);
  EXPECT_EQ(iommu_domain_type::blocked, a->group->domain->type);
  EXPECT_EQ(a.get(), to_mock_device(a.get()));

  // Device numbers come back lowest first, as from an IDA.
  const int old_id = a->id;
  a.reset();
  DevPtr c = make_dev();
  EXPECT_EQ(old_id, c->id);
}

TEST(MockIommu, PagingDomainGeometryAndPageSizes) {
  DevPtr dev = make_dev();
  DevPtr huge = make_dev(MOCK_FLAGS_DEVICE_HUGE_IOVA);
  auto d = paging_domain(dev.get());
  auto h = paging_domain(huge.get());
  EXPECT_EQ(MOCK_IO_PAGE_SIZE, d->pgsize_bitmap);
  EXPECT_EQ(MOCK_IO_PAGE_SIZE | MOCK_HUGE_PAGE_SIZE, h->pgsize_bitmap);
  EXPECT_EQ(uint64_t(MOCK_APERTURE_START), d->geometry.aperture_start);
  EXPECT_EQ(uint64_t(MOCK_APERTURE_LAST), d->geometry.aperture_end);
  EXPECT_EQ(iommu_domain_type::paging, d->type);
  EXPECT_EQ(&mock_driver(), d->owner);
  EXPECT_FALSE(d->has_dirty_ops);
  EXPECT_EQ(MOCK_IO_PAGE_SIZE, mock_driver().pgsize_bitmap);
  EXPECT_TRUE(mock_driver().user_pasid_table);
}

TEST(MockIommu, MapEncodesPfnAndStartLastBits) {
  DevPtr dev = make_dev();
  auto d = paging_domain(dev.get());
  const unsigned long v0 = mock_violations();
  size_t mapped = 0;
  ASSERT_EQ(0, d->map_pages(kIova, kPaddr, MOCK_IO_PAGE_SIZE, 3, IOMMU_READ, &mapped));
  EXPECT_EQ(3 * MOCK_IO_PAGE_SIZE, mapped);
  EXPECT_EQ(kPfn | MOCK_PFN_START_IOVA, d->entry(kIova));
  EXPECT_EQ(kPfn + 1, d->entry(kIova + MOCK_IO_PAGE_SIZE));
  EXPECT_EQ((kPfn + 2) | MOCK_PFN_LAST_IOVA, d->entry(kIova + 2 * MOCK_IO_PAGE_SIZE));
  EXPECT_EQ(0u, d->entry(kIova + 3 * MOCK_IO_PAGE_SIZE));
  EXPECT_EQ(3u, d->nr_entries());
  EXPECT_EQ(kPaddr + MOCK_IO_PAGE_SIZE, d->iova_to_phys(kIova + MOCK_IO_PAGE_SIZE));

  // A second map call starts its own run.
  mapped = 0;
  ASSERT_EQ(0, d->map_pages(kIova + 3 * MOCK_IO_PAGE_SIZE, kPaddr + 0x10000, MOCK_IO_PAGE_SIZE,
                            1, IOMMU_READ, &mapped));
  EXPECT_EQ(((kPaddr + 0x10000) / MOCK_IO_PAGE_SIZE) | MOCK_PFN_START_IOVA,
            d->entry(kIova + 3 * MOCK_IO_PAGE_SIZE));

  iommu_iotlb_gather gather;
  EXPECT_EQ(3 * MOCK_IO_PAGE_SIZE, d->unmap_pages(kIova, MOCK_IO_PAGE_SIZE, 3, &gather));
  EXPECT_EQ(MOCK_IO_PAGE_SIZE,
            d->unmap_pages(kIova + 3 * MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE, 1, &gather));
  EXPECT_EQ(0u, d->nr_entries());
  EXPECT_EQ(v0, mock_violations());
}

TEST(MockIommu, HugeMapMarksEveryEntryHuge) {
  DevPtr dev = make_dev(MOCK_FLAGS_DEVICE_HUGE_IOVA);
  auto d = paging_domain(dev.get());
  size_t mapped = 0;
  ASSERT_EQ(0, d->map_pages(kIova, kPaddr, MOCK_HUGE_PAGE_SIZE, 1, IOMMU_READ, &mapped));
  EXPECT_EQ(MOCK_HUGE_PAGE_SIZE, mapped);
  const uint64_t n = MOCK_HUGE_PAGE_SIZE / MOCK_IO_PAGE_SIZE;
  EXPECT_EQ(n, d->nr_entries());
  EXPECT_EQ(kPfn | MOCK_PFN_START_IOVA | MOCK_PFN_HUGE_IOVA, d->entry(kIova));
  EXPECT_EQ((kPfn + 7) | MOCK_PFN_HUGE_IOVA, d->entry(kIova + 7 * MOCK_IO_PAGE_SIZE));
  EXPECT_EQ((kPfn + n - 1) | MOCK_PFN_LAST_IOVA | MOCK_PFN_HUGE_IOVA,
            d->entry(kIova + (n - 1) * MOCK_IO_PAGE_SIZE));

  // With huge pages the core may split an unmap anywhere: no pairing check.
  const unsigned long v0 = mock_violations();
  EXPECT_EQ(MOCK_IO_PAGE_SIZE, d->unmap_pages(kIova + 9 * MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE,
                                              1, nullptr));
  EXPECT_EQ(v0, mock_violations());
  iommu_unmap(d.get(), kIova, MOCK_HUGE_PAGE_SIZE);
  EXPECT_EQ(0u, d->nr_entries());
}

TEST(MockIommu, UnmapInsideAMapIsReportedAsViolation) {
  DevPtr dev = make_dev();
  auto d = paging_domain(dev.get());
  size_t mapped = 0;
  ASSERT_EQ(0, d->map_pages(kIova, kPaddr, MOCK_IO_PAGE_SIZE, 3, IOMMU_READ, &mapped));
  const unsigned long v0 = mock_violations();
  const unsigned long w0 = warn_count();
  // Starts in the middle of the map call's range.
  d->unmap_pages(kIova + MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE, 2, nullptr);
  EXPECT_EQ(v0 + 1, mock_violations());
  EXPECT_GT(warn_count(), w0);

  mapped = 0;
  ASSERT_EQ(0, d->map_pages(kIova + MOCK_IO_PAGE_SIZE, kPaddr, MOCK_IO_PAGE_SIZE, 3, IOMMU_READ,
                            &mapped));
  // Ends in the middle: its last entry is not a LAST.
  d->unmap_pages(kIova, MOCK_IO_PAGE_SIZE, 3, nullptr);
  EXPECT_EQ(v0 + 2, mock_violations());
  d->unmap_pages(kIova + 3 * MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE, 1, nullptr);
  EXPECT_EQ(v0 + 2, mock_violations());  // a lone LAST entry is a valid unmap
  EXPECT_EQ(0u, d->nr_entries());
}

TEST(MockIommu, MapOverLiveEntryAndLookupOfHoleAreViolations) {
  DevPtr dev = make_dev();
  auto d = paging_domain(dev.get());
  size_t mapped = 0;
  ASSERT_EQ(0, d->map_pages(kIova, kPaddr, MOCK_IO_PAGE_SIZE, 1, IOMMU_READ, &mapped));
  const unsigned long v0 = mock_violations();
  mapped = 0;
  ASSERT_EQ(0, d->map_pages(kIova, kPaddr, MOCK_IO_PAGE_SIZE, 1, IOMMU_READ, &mapped));
  EXPECT_EQ(v0 + 1, mock_violations());
  EXPECT_EQ(0u, d->iova_to_phys(kIova + 64 * MOCK_IO_PAGE_SIZE));
  EXPECT_EQ(v0 + 2, mock_violations());
  d->unmap_pages(kIova, MOCK_IO_PAGE_SIZE, 1, nullptr);
}

TEST(MockIommu, IommuMapSplitsIntoHugePagesWhenAligned) {
  DevPtr dev = make_dev(MOCK_FLAGS_DEVICE_HUGE_IOVA);
  auto d = paging_domain(dev.get());
  // 2 KiB in front of a 1 MiB boundary, then one huge page.
  const uint64_t iova = kIova + MOCK_HUGE_PAGE_SIZE - MOCK_IO_PAGE_SIZE;
  const uint64_t paddr = kPaddr + MOCK_HUGE_PAGE_SIZE - MOCK_IO_PAGE_SIZE;
  ASSERT_EQ(0, iommu_map(d.get(), iova, paddr, MOCK_HUGE_PAGE_SIZE + MOCK_IO_PAGE_SIZE,
                         IOMMU_READ | IOMMU_WRITE));
  EXPECT_EQ((paddr / MOCK_IO_PAGE_SIZE) | MOCK_PFN_START_IOVA | MOCK_PFN_LAST_IOVA,
            d->entry(iova));
  EXPECT_TRUE(d->entry(iova + MOCK_IO_PAGE_SIZE) & MOCK_PFN_HUGE_IOVA);
  EXPECT_EQ(paddr + MOCK_IO_PAGE_SIZE, iommu_iova_to_phys(d.get(), iova + MOCK_IO_PAGE_SIZE));
  EXPECT_EQ(MOCK_HUGE_PAGE_SIZE + MOCK_IO_PAGE_SIZE,
            iommu_unmap(d.get(), iova, MOCK_HUGE_PAGE_SIZE + MOCK_IO_PAGE_SIZE));
  EXPECT_EQ(0u, d->nr_entries());
}

TEST(MockIommu, DirtyTrackingNeedsDirtyOps) {
  DevPtr dev = make_dev();
  auto plain = paging_domain(dev.get());
  EXPECT_EQ(-EINVAL, plain->set_dirty_tracking(true));
  EXPECT_EQ(0, plain->set_dirty_tracking(false));
  EXPECT_FALSE(plain->dirty_tracking());

  auto d = dirty_domain(dev.get());
  EXPECT_EQ(0, d->set_dirty_tracking(true));
  EXPECT_TRUE(d->dirty_tracking());
  EXPECT_EQ(0, d->set_dirty_tracking(true));  // no change is fine
  EXPECT_EQ(0, d->set_dirty_tracking(false));
  EXPECT_FALSE(d->dirty_tracking());
}

TEST(MockIommu, ReadAndClearDirty) {
  DevPtr dev = make_dev();
  auto d = dirty_domain(dev.get());
  size_t mapped = 0;
  ASSERT_EQ(0, d->map_pages(kIova, kPaddr, MOCK_IO_PAGE_SIZE, 8, IOMMU_READ, &mapped));
  EXPECT_TRUE(d->set_dirty(kIova + MOCK_IO_PAGE_SIZE));
  EXPECT_TRUE(d->set_dirty(kIova + 6 * MOCK_IO_PAGE_SIZE));
  EXPECT_FALSE(d->set_dirty(kIova + 8 * MOCK_IO_PAGE_SIZE));  // a hole
  EXPECT_TRUE(d->entry(kIova + MOCK_IO_PAGE_SIZE) & MOCK_PFN_DIRTY_IOVA);

  uint64_t bits = 0;
  // Tracking is off: reading into a bitmap is refused.
  EXPECT_EQ(-EINVAL, read_dirty(d.get(), kIova, 8 * MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE, &bits, 0));
  ASSERT_EQ(0, d->set_dirty_tracking(true));

  ASSERT_EQ(0, read_dirty(d.get(), kIova, 8 * MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE, &bits,
                          IOMMU_DIRTY_NO_CLEAR));
  EXPECT_EQ(0b01000010u, bits);
  EXPECT_TRUE(d->entry(kIova + MOCK_IO_PAGE_SIZE) & MOCK_PFN_DIRTY_IOVA);  // kept

  bits = 0;
  ASSERT_EQ(0, read_dirty(d.get(), kIova, 8 * MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE, &bits, 0));
  EXPECT_EQ(0b01000010u, bits);
  EXPECT_EQ(kPfn + 1, d->entry(kIova + MOCK_IO_PAGE_SIZE));  // cleared, rest intact

  bits = 0;
  ASSERT_EQ(0, read_dirty(d.get(), kIova, 8 * MOCK_IO_PAGE_SIZE, MOCK_IO_PAGE_SIZE, &bits, 0));
  EXPECT_EQ(0u, bits);

  // At 4 KiB granularity entry 6 lands in bit 3.
  EXPECT_TRUE(d->set_dirty(kIova + 6 * MOCK_IO_PAGE_SIZE));
  ASSERT_EQ(0, read_dirty(d.get(), kIova, 8 * MOCK_IO_PAGE_SIZE, 2 * MOCK_IO_PAGE_SIZE, &bits, 0));
  EXPECT_EQ(0b1000u, bits);

  // Without a bitmap (what enabling tracking does) the bits are only cleared,
  // even with tracking off.
  ASSERT_EQ(0, d->set_dirty_tracking(false));
  EXPECT_TRUE(d->set_dirty(kIova));
  iommu_dirty_bitmap none;
  iommu_iotlb_gather gather;
  none.gather = &gather;
  EXPECT_EQ(0, d->read_and_clear_dirty(kIova, 8 * MOCK_IO_PAGE_SIZE, 0, none));
  EXPECT_EQ(kPfn | MOCK_PFN_START_IOVA, d->entry(kIova));
  EXPECT_EQ(kIova, gather.start);
  EXPECT_EQ(kIova + MOCK_IO_PAGE_SIZE - 1, gather.end);

  d->unmap_pages(kIova, MOCK_IO_PAGE_SIZE, 8, nullptr);
}

TEST(MockIommu, HugeEntryIsDirtyAsAWhole) {
  DevPtr dev = make_dev(MOCK_FLAGS_DEVICE_HUGE_IOVA);
  auto d = dirty_domain(dev.get());
  ASSERT_EQ(0, d->set_dirty_tracking(true));
  size_t mapped = 0;
  ASSERT_EQ(0, d->map_pages(kIova, kPaddr, MOCK_HUGE_PAGE_SIZE, 2, IOMMU_READ, &mapped));
  // One dirty 2 KiB entry in the second huge page.
  EXPECT_TRUE(d->set_dirty(kIova + MOCK_HUGE_PAGE_SIZE + 5 * MOCK_IO_PAGE_SIZE));
  const uint64_t nbits = 2 * MOCK_HUGE_PAGE_SIZE / MOCK_IO_PAGE_SIZE;
  std::vector<uint8_t> bm(nbits / 8, 0);
  ASSERT_EQ(0, read_dirty(d.get(), kIova, 2 * MOCK_HUGE_PAGE_SIZE, MOCK_IO_PAGE_SIZE, bm.data(), 0));
  for (uint64_t i = 0; i < nbits; i++)
    ASSERT_EQ(i >= nbits / 2, bool(bm[i / 8] & (1u << (i % 8)))) << "bit " << i;
  EXPECT_FALSE(d->entry(kIova + MOCK_HUGE_PAGE_SIZE + 5 * MOCK_IO_PAGE_SIZE) & MOCK_PFN_DIRTY_IOVA);
  d->unmap_pages(kIova, MOCK_HUGE_PAGE_SIZE, 2, nullptr);
}

TEST(MockIommu, DomainAllocUserRules) {
  DevPtr dev = make_dev();
  DevPtr nodirty = make_dev(MOCK_FLAGS_DEVICE_NO_DIRTY);
  mock_iommu_driver &drv = mock_driver();

  EXPECT_EQ(-EOPNOTSUPP, drv.domain_alloc_user(*dev, IOMMU_HWPT_FAULT_ID_VALID, nullptr, nullptr).err());
  EXPECT_EQ(-EOPNOTSUPP, drv.domain_alloc_user(*dev, 1u << 7, nullptr, nullptr).err());
  iommu_hwpt_selftest data = {IOMMU_TEST_IOTLB_DEFAULT};
  iommu_user_data ud;
  ud.type = IOMMU_HWPT_DATA_SELFTEST;
  ud.uptr = reinterpret_cast<uint64_t>(&data);
  ud.len = sizeof(data);
  // A paging domain takes no driver data.
  EXPECT_EQ(-EOPNOTSUPP, drv.domain_alloc_user(*dev, 0, nullptr, &ud).err());
  EXPECT_EQ(-EOPNOTSUPP,
            drv.domain_alloc_user(*nodirty, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, nullptr, nullptr).err());

  auto parent_r = drv.domain_alloc_user(*dev, IOMMU_HWPT_ALLOC_NEST_PARENT, nullptr, nullptr);
  ASSERT_FALSE(parent_r.is_err());
  std::unique_ptr<iommu_domain> parent(parent_r.get());
  EXPECT_FALSE(parent->has_dirty_ops);

  // Nested: the data type, then no flags, then a mock paging parent.
  iommu_user_data bad = ud;
  bad.type = IOMMU_HWPT_DATA_SELFTEST + 1;
  EXPECT_EQ(-EOPNOTSUPP, drv.domain_alloc_user(*dev, 0, parent.get(), &bad).err());
  EXPECT_EQ(-EOPNOTSUPP,
            drv.domain_alloc_user(*dev, IOMMU_HWPT_ALLOC_NEST_PARENT, parent.get(), &ud).err());
  EXPECT_EQ(-EINVAL, drv.domain_alloc_user(*dev, 0, drv.blocked_domain(*dev), &ud).err());
  bad = ud;
  bad.len = 3;  // shorter than the first version of the struct
  EXPECT_EQ(-EINVAL, drv.domain_alloc_user(*dev, 0, parent.get(), &bad).err());
  bad = ud;
  bad.uptr = 0;
  EXPECT_EQ(-EFAULT, drv.domain_alloc_user(*dev, 0, parent.get(), &bad).err());

  data.iotlb = 0x1234;
  auto nested_r = drv.domain_alloc_user(*dev, 0, parent.get(), &ud);
  ASSERT_FALSE(nested_r.is_err()) << nested_r.err();
  std::unique_ptr<iommu_domain> nested(nested_r.get());
  auto *mn = dynamic_cast<mock_iommu_domain_nested *>(nested.get());
  ASSERT_NE(nullptr, mn);
  EXPECT_EQ(iommu_domain_type::nested, mn->type);
  EXPECT_EQ(parent.get(), mn->parent());
  for (unsigned i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++) EXPECT_EQ(0x1234u, mn->iotlb(i));
  EXPECT_TRUE(mn->has_cache_invalidate_user());
  // A nested domain cannot parent another.
  EXPECT_EQ(-EINVAL, drv.domain_alloc_user(*dev, 0, nested.get(), &ud).err());
}

TEST(MockIommu, AttachRefusesDirtyDomainForNoDirtyDevice) {
  DevPtr dev = make_dev();
  DevPtr nodirty = make_dev(MOCK_FLAGS_DEVICE_NO_DIRTY);
  auto d = dirty_domain(dev.get());
  auto plain = paging_domain(nodirty.get());
  EXPECT_EQ(0, d->attach_dev(*dev));
  EXPECT_EQ(-EINVAL, d->attach_dev(*nodirty));
  EXPECT_EQ(0, plain->attach_dev(*nodirty));
  EXPECT_EQ(0, mock_driver().blocked_domain(*nodirty)->attach_dev(*nodirty));
}

TEST(MockIommu, CapableAndHwInfo) {
  DevPtr dev = make_dev();
  DevPtr nodirty = make_dev(MOCK_FLAGS_DEVICE_NO_DIRTY);
  mock_iommu_driver &drv = mock_driver();
  EXPECT_TRUE(drv.capable(*dev, iommu_cap::cache_coherency));
  EXPECT_TRUE(drv.capable(*dev, iommu_cap::dirty_tracking));
  EXPECT_FALSE(drv.capable(*dev, iommu_cap::enforce_cache_coherency));
  EXPECT_TRUE(drv.capable(*nodirty, iommu_cap::cache_coherency));
  EXPECT_FALSE(drv.capable(*nodirty, iommu_cap::dirty_tracking));

  EXPECT_TRUE(drv.has_hw_info());
  for (uint32_t asked : {uint32_t(IOMMU_HW_INFO_TYPE_DEFAULT), uint32_t(IOMMU_HW_INFO_TYPE_SELFTEST)}) {
    uint32_t type = asked;
    std::vector<uint8_t> data;
    ASSERT_EQ(0, drv.hw_info(*dev, &type, &data));
    EXPECT_EQ(uint32_t(IOMMU_HW_INFO_TYPE_SELFTEST), type);
    ASSERT_EQ(sizeof(iommu_test_hw_info), data.size());
    iommu_test_hw_info info;
    memcpy(&info, data.data(), sizeof(info));
    EXPECT_EQ(0u, info.flags);
    EXPECT_EQ(uint32_t(IOMMU_HW_INFO_SELFTEST_REGVAL), info.test_reg);
  }
  uint32_t type = IOMMU_HW_INFO_TYPE_SELFTEST + 1;
  std::vector<uint8_t> data;
  EXPECT_EQ(-EOPNOTSUPP, drv.hw_info(*dev, &type, &data));
  type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
  EXPECT_EQ(-EOPNOTSUPP, drv.hw_info(*dev, &type, &data));
}

TEST(MockIommu, CacheInvalidateUserCountsProcessedEntries) {
  DevPtr dev = make_dev();
  auto parent = paging_domain(dev.get());
  mock_iommu_domain_nested n(&mock_driver(), parent.get(), 7);
  iommu_hwpt_invalidate_selftest reqs[3] = {{0, 2}, {0, 3}, {0xff, 1}};
  iommu_user_data_array a;
  a.type = IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID;
  a.uptr = reinterpret_cast<uint64_t>(reqs);
  a.entry_len = sizeof(reqs[0]);
  a.entry_num = 3;
  EXPECT_EQ(-EINVAL, n.cache_invalidate_user(a));
  EXPECT_EQ(0u, a.entry_num);

  a.type = IOMMU_HWPT_INVALIDATE_DATA_SELFTEST;
  a.entry_num = 3;
  EXPECT_EQ(-EOPNOTSUPP, n.cache_invalidate_user(a));  // the third has bad flags
  EXPECT_EQ(2u, a.entry_num);
  EXPECT_EQ(7u, n.iotlb(0));
  EXPECT_EQ(7u, n.iotlb(1));
  EXPECT_EQ(0u, n.iotlb(2));
  EXPECT_EQ(0u, n.iotlb(3));

  reqs[0] = {0, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1};
  a.entry_num = 1;
  EXPECT_EQ(-EINVAL, n.cache_invalidate_user(a));
  EXPECT_EQ(0u, a.entry_num);

  // The id is validated even with FLAG_ALL, which then ignores it.
  reqs[0] = {IOMMU_TEST_INVALIDATE_FLAG_ALL, 1000};
  a.entry_num = 1;
  EXPECT_EQ(-EINVAL, n.cache_invalidate_user(a));
  EXPECT_EQ(0u, a.entry_num);
  reqs[0] = {IOMMU_TEST_INVALIDATE_FLAG_ALL, 2};
  a.entry_num = 1;
  EXPECT_EQ(0, n.cache_invalidate_user(a));
  EXPECT_EQ(1u, a.entry_num);
  for (unsigned i = 0; i < 4; i++) EXPECT_EQ(0u, n.iotlb(i));

  // Entries longer than the driver's struct, or shorter than its first
  // version, are refused (the selftest's "structure size sanity").
  struct {
    iommu_hwpt_invalidate_selftest inv;
    uint32_t extra;
  } longer = {{0, 0}, 0};
  a.uptr = reinterpret_cast<uint64_t>(&longer);
  a.entry_len = sizeof(longer);
  a.entry_num = 1;
  EXPECT_EQ(-EINVAL, n.cache_invalidate_user(a));
  EXPECT_EQ(0u, a.entry_num);
  a.entry_len = 1;
  a.entry_num = 1;
  EXPECT_EQ(-EINVAL, n.cache_invalidate_user(a));
  EXPECT_EQ(0u, a.entry_num);
}

TEST(MockIommu, PageResponsesAreRecorded) {
  DevPtr dev = make_dev();
  EXPECT_FALSE(dev->iopf_enabled());
  EXPECT_EQ(0, mock_driver().dev_enable_iopf(*dev));
  EXPECT_TRUE(dev->iopf_enabled());
  iopf_fault evt;
  evt.prm.grpid = 5;
  evt.prm.pasid = 9;
  iommu_page_response msg;
  msg.grpid = 5;
  msg.pasid = 9;
  msg.code = iommu_page_response_code::failure;
  mock_driver().page_response(*dev, evt, msg);
  auto r = dev->page_responses();
  ASSERT_EQ(1u, r.size());
  EXPECT_EQ(5u, r[0].msg.grpid);
  EXPECT_EQ(9u, r[0].msg.pasid);
  EXPECT_EQ(iommu_page_response_code::failure, r[0].msg.code);
  mock_driver().dev_disable_iopf(*dev);
  EXPECT_FALSE(dev->iopf_enabled());
}

// --- through the C API ---

TEST(MockIommu, IoasMapLandsInTheMockTable) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  mock_iommu_domain *d = mock_domain_of(fd, md.hwpt_id);
  ASSERT_NE(nullptr, d);
  const unsigned long v0 = mock_violations();

  Buffer buf(8 * kPage);
  buf.fill(1);
  // Start half a page into the buffer: 2 KiB IO pages can do that.
  const uint8_t *p = buf.get() + kMockPage;
  const uint64_t len = 5 * kPage;
  ASSERT_EQ(0, fd.map_fixed(ioas, p, len, kIova));
  const uint64_t n = len / kMockPage;
  EXPECT_EQ(n, d->nr_entries());
  for (uint64_t i = 0; i < n; i++) {
    const uint64_t ent = d->entry(kIova + i * kMockPage);
    ASSERT_EQ(mock_pfn_of(p + i * kMockPage), ent & MOCK_PFN_MASK) << "entry " << i;
  }
  EXPECT_TRUE(d->entry(kIova) & MOCK_PFN_START_IOVA);
  EXPECT_TRUE(d->entry(kIova + len - kMockPage) & MOCK_PFN_LAST_IOVA);
  EXPECT_EQ(0, fd.check_map(md.hwpt_id, kIova, p, len));

  ASSERT_EQ(0, fd.unmap(ioas, kIova, len));
  EXPECT_EQ(0u, d->nr_entries());
  EXPECT_EQ(v0, mock_violations());
}

TEST(MockIommu, GetHwInfoThroughTheUapi) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice md, pasid;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  ASSERT_EQ(0, fd.mock_domain(ioas, &pasid, MOCK_FLAGS_DEVICE_PASID));

  struct {
    iommu_test_hw_info info;
    uint64_t trailing;
  } out;
  memset(&out, 0xff, sizeof(out));
  iommu_hw_info cmd = {};
  cmd.size = sizeof(cmd);
  cmd.dev_id = md.idev_id;
  cmd.data_len = sizeof(out);
  cmd.data_uptr = reinterpret_cast<uint64_t>(&out);
  ASSERT_EQ(0, fd.ioctl(IOMMU_GET_HW_INFO, &cmd));
  EXPECT_EQ(uint32_t(IOMMU_HW_INFO_TYPE_SELFTEST), cmd.out_data_type);
  EXPECT_EQ(sizeof(iommu_test_hw_info), cmd.data_len);
  EXPECT_EQ(uint32_t(IOMMU_HW_INFO_SELFTEST_REGVAL), out.info.test_reg);
  EXPECT_EQ(0u, out.info.flags);
  EXPECT_EQ(0u, out.trailing);
  EXPECT_EQ(0u, cmd.out_max_pasid_log2);
  EXPECT_EQ(uint64_t(IOMMU_HW_CAP_DIRTY_TRACKING), cmd.out_capabilities);

  cmd = {};
  cmd.size = sizeof(cmd);
  cmd.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
  cmd.dev_id = md.idev_id;
  cmd.in_data_type = IOMMU_HW_INFO_TYPE_SELFTEST + 1;
  EXPECT_EQ(EOPNOTSUPP, fd.ioctl(IOMMU_GET_HW_INFO, &cmd));
  cmd.in_data_type = IOMMU_HW_INFO_TYPE_SELFTEST;
  EXPECT_EQ(0, fd.ioctl(IOMMU_GET_HW_INFO, &cmd));
  EXPECT_EQ(uint32_t(IOMMU_HW_INFO_TYPE_SELFTEST), cmd.out_data_type);

  cmd = {};
  cmd.size = sizeof(cmd);
  cmd.dev_id = pasid.idev_id;
  ASSERT_EQ(0, fd.ioctl(IOMMU_GET_HW_INFO, &cmd));
  EXPECT_EQ(uint8_t(MOCK_PASID_WIDTH), cmd.out_max_pasid_log2);
}

TEST(MockIommu, DirtyHwptAndNoDirtyDeviceThroughTheUapi) {
  // The selftest's enforce_dirty sequence.
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  uint32_t hwpt = 0;
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &hwpt));
  MockDevice second, refused;
  ASSERT_EQ(0, fd.mock_domain(hwpt, &second));
  EXPECT_EQ(EINVAL, fd.mock_domain(hwpt, &refused, MOCK_FLAGS_DEVICE_NO_DIRTY));
  EXPECT_EQ(0, fd.destroy(second.stdev_id));
  EXPECT_EQ(0, fd.destroy(hwpt));

  uint32_t ioas2 = fd.ioas();
  MockDevice nd;
  ASSERT_EQ(0, fd.mock_domain(ioas2, &nd, MOCK_FLAGS_DEVICE_NO_DIRTY));
  EXPECT_EQ(EOPNOTSUPP, fd.hwpt_alloc(nd.idev_id, ioas2, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &hwpt));
  EXPECT_EQ(0, fd.destroy(nd.stdev_id));
}

}  // namespace
}  // namespace iommusim::test
