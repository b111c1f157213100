// SPDX-License-Identifier: MIT
// IOAS semantics through the uAPI: areas, the IOVA allocator and its
// alignment rule, reserved and allowed ranges, copy, ranges report, options.
#include <set>

#include "core/log.h"
#include "iommufd_test_util.h"

using namespace iommusim::test;

namespace {

constexpr uint32_t kRW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

TEST(Ioas, AreasMapWholeAndUnmapWhole) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  Buffer buf(4 * kPage);
  const uint64_t base = 1ULL << 30;
  for (int i = 0; i < 10; i++) EXPECT_EQ(ENOENT, fd.unmap(ioas, i * kPage, kPage));
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), 2 * kPage, base + 16 * kPage));
  // An area is unmapped whole or not at all.
  EXPECT_EQ(ENOENT, fd.unmap(ioas, base + 16 * kPage, kPage));
  EXPECT_EQ(ENOENT, fd.unmap(ioas, base + 17 * kPage, kPage));
  // Any overlap with an existing area is EEXIST.
  EXPECT_EQ(EEXIST, fd.map_fixed(ioas, buf.get(), kPage, base + 17 * kPage));
  EXPECT_EQ(EEXIST, fd.map_fixed(ioas, buf.get(), 3 * kPage, base + 15 * kPage));
  EXPECT_EQ(0, fd.map_fixed(ioas, buf.get(), kPage, base + 15 * kPage));
  uint64_t unmapped = 0;
  // A range covering whole areas (and holes) unmaps them all.
  EXPECT_EQ(0, fd.unmap(ioas, base, 64 * kPage, &unmapped));
  EXPECT_EQ(3 * kPage, unmapped);
  EXPECT_EQ(ENOENT, fd.unmap(ioas, base, 64 * kPage));
  // unmap-all succeeds even when empty and reports 0.
  EXPECT_EQ(0, fd.unmap(ioas, 0, UINT64_MAX, &unmapped));
  EXPECT_EQ(0u, unmapped);
}

TEST(Ioas, MapArgumentChecks) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  Buffer buf(kPage);
  iommu_ioas_map cmd = {};
  cmd.size = sizeof(cmd);
  cmd.ioas_id = ioas;
  cmd.user_va = reinterpret_cast<uint64_t>(buf.get());
  cmd.length = kPage;
  cmd.flags = 1 << 3;
  EXPECT_EQ(EOPNOTSUPP, fd.ioctl(IOMMU_IOAS_MAP, &cmd));
  cmd.flags = 0;  // neither readable nor writeable
  EXPECT_EQ(EINVAL, fd.ioctl(IOMMU_IOAS_MAP, &cmd));
  cmd.flags = kRW;
  cmd.__reserved = 1;
  EXPECT_EQ(EOPNOTSUPP, fd.ioctl(IOMMU_IOAS_MAP, &cmd));
  cmd.__reserved = 0;
  cmd.length = UINT64_MAX;
  EXPECT_EQ(EOVERFLOW, fd.ioctl(IOMMU_IOAS_MAP, &cmd));
  cmd.length = 0;
  EXPECT_EQ(EINVAL, fd.ioctl(IOMMU_IOAS_MAP, &cmd));
  cmd.length = kPage;
  cmd.ioas_id = 99;
  EXPECT_EQ(ENOENT, fd.ioctl(IOMMU_IOAS_MAP, &cmd));
  // A user range that wraps the address space.
  cmd.ioas_id = ioas;
  cmd.user_va = UINT64_MAX - 10;
  EXPECT_EQ(EOVERFLOW, fd.ioctl(IOMMU_IOAS_MAP, &cmd));
  // FIXED at an IOVA whose last byte would wrap.
  cmd.user_va = reinterpret_cast<uint64_t>(buf.get());
  cmd.flags = kRW | IOMMU_IOAS_MAP_FIXED_IOVA;
  cmd.iova = UINT64_MAX - kPage + 2;
  EXPECT_EQ(EOVERFLOW, fd.ioctl(IOMMU_IOAS_MAP, &cmd));
  // A failed map leaves nothing behind.
  uint64_t unmapped = 1;
  EXPECT_EQ(0, fd.unmap(ioas, 0, UINT64_MAX, &unmapped));
  EXPECT_EQ(0u, unmapped);
}

TEST(Ioas, AllocatorIsFirstFitAndKeepsTheUserAlignment) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  // Without a domain nothing is pinned, so any user pointer will do.
  const uint64_t uva = 1ULL << 31;
  std::set<uint64_t> seen;
  uint64_t prev_end = 0;
  for (int i = 0; i < 10; i++) {
    uint64_t iova = 0;
    ASSERT_EQ(0, fd.map(ioas, reinterpret_cast<void *>(uva), kPage, &iova));
    // First fit from PAGE_SIZE: back to back, never IOVA 0.
    EXPECT_EQ(i == 0 ? kPage : prev_end, iova);
    prev_end = iova + kPage;
  }
  ASSERT_EQ(0, fd.unmap(ioas, 0, UINT64_MAX));
  // Alignment = min(roundup_pow_of_two(length), alignment of the pointer, 2 MiB).
  for (int i = 1; i <= 10; i++) {
    uint64_t len = kPage * i;
    uint64_t iova = 0;
    ASSERT_EQ(0, fd.map(ioas, reinterpret_cast<void *>(uva), len, &iova));
    uint64_t want = 1;
    while (want < len) want <<= 1;
    EXPECT_EQ(0u, iova % want) << "length " << len;
  }
  ASSERT_EQ(0, fd.unmap(ioas, 0, UINT64_MAX));
  // The first hole now starts at 8 KiB; a 64 KiB-aligned pointer skips to 64 KiB.
  ASSERT_EQ(0, fd.map_fixed(ioas, reinterpret_cast<void *>(uva), kPage, kPage));
  uint64_t iova = 0;
  ASSERT_EQ(0, fd.map(ioas, reinterpret_cast<void *>(uva + 65536), 64 * kPage, &iova));
  EXPECT_EQ(65536u, iova);
  ASSERT_EQ(0, fd.map(ioas, reinterpret_cast<void *>(uva + kPage), 4 * kPage, &iova));
  EXPECT_EQ(2 * kPage, iova) << "a 4 KiB-aligned pointer takes the first 4 KiB hole";
  ASSERT_EQ(0, fd.map(ioas, reinterpret_cast<void *>(uva + 123), 100, &iova));
  EXPECT_EQ(123u, iova % kPage) << "keeps the pointer's offset in the page";
  ASSERT_EQ(0, fd.map(ioas, reinterpret_cast<void *>(uva), 8ULL << 20, &iova));
  EXPECT_EQ(0u, iova % (2ULL << 20)) << "huge alignment stops at 2 MiB";
}

TEST(Ioas, AllocatorAvoidsReservedAndHonoursAllowed) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  const void *uva = reinterpret_cast<void *>(1ULL << 31);
  ASSERT_EQ(0, fd.add_reserved(ioas, 4 * kPage, 100 * kPage));
  for (int i = 1; i <= 10; i++) {
    uint64_t iova = 0;
    ASSERT_EQ(0, fd.map(ioas, uva, kPage * i, &iova));
    EXPECT_FALSE(iova + kPage * i > 4 * kPage && iova < 104 * kPage) << iova;
  }
  ASSERT_EQ(0, fd.unmap(ioas, 0, UINT64_MAX));
  iommu_iova_range ranges[2] = {};
  iommu_ioas_allow_iovas allow = {};
  allow.size = sizeof(allow);
  allow.ioas_id = ioas;
  allow.num_iovas = 1;
  allow.allowed_iovas = reinterpret_cast<uint64_t>(ranges);
  ranges[0] = {kPage, 600 * kPage};
  EXPECT_EQ(EADDRINUSE, fd.ioctl(IOMMU_IOAS_ALLOW_IOVAS, &allow));
  ranges[0] = {600 * kPage, 600 * kPage};
  EXPECT_EQ(EINVAL, fd.ioctl(IOMMU_IOAS_ALLOW_IOVAS, &allow)) << "start must be below last";
  ranges[0] = {200 * kPage, 600 * kPage - 1};
  ranges[1] = {300 * kPage, 700 * kPage};
  allow.num_iovas = 2;
  EXPECT_EQ(EINVAL, fd.ioctl(IOMMU_IOAS_ALLOW_IOVAS, &allow)) << "overlapping ranges";
  allow.num_iovas = 1;
  ASSERT_EQ(0, fd.ioctl(IOMMU_IOAS_ALLOW_IOVAS, &allow));
  for (int i = 1; i <= 10; i++) {
    uint64_t iova = 0;
    ASSERT_EQ(0, fd.map(ioas, uva, kPage * i, &iova));
    EXPECT_GE(iova, ranges[0].start);
    EXPECT_LE(iova + kPage * i - 1, ranges[0].last);
  }
  // A reservation may not intersect an allowed range.
  EXPECT_EQ(EADDRINUSE, fd.add_reserved(ioas, 300 * kPage, kPage));
  // The IOVA outside the allowed range is still mappable with FIXED_IOVA.
  EXPECT_EQ(0, fd.map_fixed(ioas, uva, kPage, 1000 * kPage));
  // Running out of allowed space is ENOSPC.
  uint64_t iova = 0;
  EXPECT_EQ(ENOSPC, fd.map(ioas, uva, 1000 * kPage, &iova));
}

TEST(Ioas, IovaRangesReportTheHolesOfReservedIova) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  iommu_iova_range ranges[4] = {};
  iommu_ioas_iova_ranges cmd = {};
  cmd.size = sizeof(cmd);
  cmd.ioas_id = ioas;
  cmd.num_iovas = 4;
  cmd.allowed_iovas = reinterpret_cast<uint64_t>(ranges);
  ASSERT_EQ(0, fd.ioctl(IOMMU_IOAS_IOVA_RANGES, &cmd));
  EXPECT_EQ(1u, cmd.num_iovas);
  EXPECT_EQ(0u, ranges[0].start);
  EXPECT_EQ(UINT64_MAX, ranges[0].last);
  EXPECT_EQ(1u, cmd.out_iova_alignment);

  ASSERT_EQ(0, fd.add_reserved(ioas, kPage, kPage));
  cmd.num_iovas = 1;
  memset(ranges, 0, sizeof(ranges));
  EXPECT_EQ(EMSGSIZE, fd.ioctl(IOMMU_IOAS_IOVA_RANGES, &cmd));
  EXPECT_EQ(2u, cmd.num_iovas) << "the count needed";
  EXPECT_EQ(kPage - 1, ranges[0].last) << "what fits is still written";
  EXPECT_EQ(0u, ranges[1].last);

  // A mock device narrows the IOAS to its aperture and 2 KiB IO pages.
  Iommufd fd2;
  uint32_t ioas2 = fd2.ioas();
  MockDevice dev;
  ASSERT_EQ(0, fd2.mock_domain(ioas2, &dev));
  cmd.ioas_id = ioas2;
  cmd.num_iovas = 4;
  ASSERT_EQ(0, fd2.ioctl(IOMMU_IOAS_IOVA_RANGES, &cmd));
  EXPECT_EQ(1u, cmd.num_iovas);
  EXPECT_EQ(uint64_t{MOCK_APERTURE_START}, ranges[0].start);
  EXPECT_EQ(uint64_t{MOCK_APERTURE_LAST}, ranges[0].last);
  EXPECT_EQ(kMockPage, cmd.out_iova_alignment);
}

TEST(Ioas, DomainAlignmentAppliesToMaps) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice dev;
  ASSERT_EQ(0, fd.mock_domain(ioas, &dev));
  Buffer buf(2 * kPage);
  uint64_t iova = 0;
  for (uint64_t len = kMockPage / 2; len < 2 * kPage; len += kMockPage / 2) {
    int rc = fd.map(ioas, buf.get(), len, &iova);
    if (len % kMockPage) {
      EXPECT_EQ(EINVAL, rc) << len;
    } else {
      ASSERT_EQ(0, rc) << len;
      EXPECT_EQ(0, fd.unmap(ioas, iova, len));
    }
  }
  // Outside the aperture is reserved.
  EXPECT_EQ(EINVAL, fd.map_fixed(ioas, buf.get(), kPage, 0));
  EXPECT_EQ(0, fd.map_fixed(ioas, buf.get(), kPage, MOCK_APERTURE_START));
  // The mapping reached the domain, page for page.
  EXPECT_EQ(0, fd.check_map(dev.hwpt_id, MOCK_APERTURE_START, buf.get(), kPage));
  // A domain cannot join an IOAS whose areas break its alignment.
  Iommufd fd2;
  uint32_t ioas2 = fd2.ioas();
  ASSERT_EQ(0, fd2.map_fixed(ioas2, buf.get() + 100, 1000, MOCK_APERTURE_START + 100));
  EXPECT_EQ(EADDRINUSE, fd2.mock_domain(ioas2, nullptr));
}

TEST(Ioas, CopySharesPagesAndPins) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t src = fd.ioas();
  uint32_t dst = fd.ioas();
  MockDevice a, b;
  ASSERT_EQ(0, fd.mock_domain(src, &a));
  ASSERT_EQ(0, fd.mock_domain(dst, &b));
  Buffer buf(16 * kPage);
  buf.fill(3);
  const uint64_t iova = MOCK_APERTURE_START;
  ASSERT_EQ(0, fd.map_fixed(src, buf.get(), buf.size(), iova));
  ASSERT_EQ(0, fd.copy(dst, iova + (1 << 20), src, iova + kPage, 8 * kPage));
  EXPECT_EQ(0, fd.check_map(b.hwpt_id, iova + (1 << 20), buf.get() + kPage, 8 * kPage));
  // One pin per page however many IOAS and domains use it.
  EXPECT_EQ(0, fd.check_refs(buf.get(), buf.size(), 1));
  // Copy of IOVA that is not fully mapped.
  EXPECT_EQ(ENOENT, fd.copy(dst, iova, src, iova + 15 * kPage, 2 * kPage));
  EXPECT_EQ(ENOENT, fd.copy(dst, iova, src, iova - kPage, kPage));
  // The source can go; the copy keeps the pages pinned.
  ASSERT_EQ(0, fd.unmap(src, 0, UINT64_MAX));
  EXPECT_EQ(0, fd.check_refs(buf.get() + kPage, 8 * kPage, 1));
  EXPECT_EQ(0, fd.check_refs(buf.get(), kPage, 0));
  ASSERT_EQ(0, fd.unmap(dst, 0, UINT64_MAX));
  EXPECT_EQ(0, fd.check_refs(buf.get(), buf.size(), 0));
  EXPECT_EQ(warns_before, iommusim::iommufd::warn_count());
}

TEST(Ioas, PinningFailuresAreEfaultAndLeaveNothing) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice dev;
  ASSERT_EQ(0, fd.mock_domain(ioas, &dev));
  auto *p = static_cast<uint8_t *>(
      mmap(nullptr, 8 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(MAP_FAILED, p);
  ASSERT_EQ(0, munmap(p + 4 * kPage, 4 * kPage));
  uint64_t iova = 0;
  EXPECT_EQ(EFAULT, fd.map(ioas, p, 8 * kPage, &iova)) << "unmapped half way";
  EXPECT_EQ(0, fd.check_refs(p, 4 * kPage, 0));
  ASSERT_EQ(0, mprotect(p, 4 * kPage, PROT_READ));
  EXPECT_EQ(EFAULT, fd.map(ioas, p, 4 * kPage, &iova)) << "writeable map of read-only memory";
  EXPECT_EQ(0, fd.map(ioas, p, 4 * kPage, &iova, IOMMU_IOAS_MAP_READABLE));
  EXPECT_EQ(0, fd.check_refs(p, 4 * kPage, 1));
  EXPECT_EQ(0, fd.unmap(ioas, iova, 4 * kPage));
  EXPECT_EQ(0, fd.check_refs(p, 4 * kPage, 0));
  munmap(p, 4 * kPage);
  uint64_t unmapped = 1;
  EXPECT_EQ(0, fd.unmap(ioas, 0, UINT64_MAX, &unmapped));
  EXPECT_EQ(0u, unmapped);
}

TEST(Ioas, HugePagesOption) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  iommu_option cmd = {};
  cmd.size = sizeof(cmd);
  cmd.option_id = IOMMU_OPTION_HUGE_PAGES;
  cmd.object_id = ioas;
  cmd.op = IOMMU_OPTION_OP_GET;
  ASSERT_EQ(0, fd.ioctl(IOMMU_OPTION, &cmd));
  EXPECT_EQ(1u, cmd.val64);
  cmd.op = IOMMU_OPTION_OP_SET;
  cmd.val64 = 2;
  EXPECT_EQ(EINVAL, fd.ioctl(IOMMU_OPTION, &cmd));
  // Disabling forces PAGE_SIZE alignment: a sub-page area blocks it.
  Buffer buf(2 * kPage);
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get() + 16, kPage, (1ULL << 30) + 16));
  cmd.val64 = 0;
  EXPECT_EQ(EADDRINUSE, fd.ioctl(IOMMU_OPTION, &cmd));
  ASSERT_EQ(0, fd.unmap(ioas, 0, UINT64_MAX));
  ASSERT_EQ(0, fd.ioctl(IOMMU_OPTION, &cmd));
  cmd.op = IOMMU_OPTION_OP_GET;
  ASSERT_EQ(0, fd.ioctl(IOMMU_OPTION, &cmd));
  EXPECT_EQ(0u, cmd.val64);
  EXPECT_EQ(EINVAL, fd.map_fixed(ioas, buf.get() + 16, kPage, (1ULL << 30) + 16));
  // With a domain holding mappings it cannot be disabled again.
  cmd.op = IOMMU_OPTION_OP_SET;
  cmd.val64 = 1;
  ASSERT_EQ(0, fd.ioctl(IOMMU_OPTION, &cmd));
  MockDevice dev;
  ASSERT_EQ(0, fd.mock_domain(ioas, &dev));
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), kPage, MOCK_APERTURE_START));
  cmd.val64 = 0;
  EXPECT_EQ(EINVAL, fd.ioctl(IOMMU_OPTION, &cmd));
}

}  // namespace

namespace {
// The selftest's syzkaller mode: src_iova of IOAS_COPY names (nth area,
// offset) and MOCK_FLAGS_ACCESS_SYZ is stripped before the flags check.
TEST(Ioas, CopyTakesSyzkallerAreaOffsets) {
  Iommufd fd;
  uint32_t src = fd.ioas(), dst = fd.ioas();
  MockDevice dev;
  ASSERT_EQ(0, fd.mock_domain(dst, &dev));
  Buffer a(4 * kPage), b(4 * kPage);
  ASSERT_EQ(0, fd.map_fixed(src, a.get(), a.size(), 1ULL << 30));
  ASSERT_EQ(0, fd.map_fixed(src, b.get(), b.size(), 2ULL << 30));
  iommu_ioas_copy cmd = {};
  cmd.size = sizeof(cmd);
  cmd.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA | MOCK_FLAGS_ACCESS_SYZ;
  cmd.dst_ioas_id = dst;
  cmd.src_ioas_id = src;
  cmd.length = kPage;
  cmd.dst_iova = MOCK_APERTURE_START;
  struct { uint32_t nth_area, offset; } syz = {1, static_cast<uint32_t>(2 * kPage)};
  memcpy(&cmd.src_iova, &syz, sizeof(syz));
  ASSERT_EQ(0, fd.ioctl(IOMMU_IOAS_COPY, &cmd));
  // Area 1 is b; offset 2 pages.
  EXPECT_EQ(0, fd.check_map(dev.hwpt_id, MOCK_APERTURE_START, b.get() + 2 * kPage, kPage));
  // Without the flag the same bits are a plain (unmapped) IOVA.
  cmd.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA;
  memcpy(&cmd.src_iova, &syz, sizeof(syz));
  cmd.dst_iova = MOCK_APERTURE_START + kPage;
  EXPECT_EQ(ENOENT, fd.ioctl(IOMMU_IOAS_COPY, &cmd));
}
}  // namespace
