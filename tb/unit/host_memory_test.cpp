// SPDX-License-Identifier: MIT
// The host's user frames: PFNs whose bytes are the program's memory, pin
// counts kept as runs, GUP-like validation, and the layout knob.
#include <sys/mman.h>

#include "core/log.h"
#include "core/mm.h"
#include "iommufd_test_util.h"

using namespace iommusim::iommufd;
using iommusim::test::Buffer;
using iommusim::test::kPage;

namespace {

std::shared_ptr<mm_struct> self_mm() { return process_task().mm; }

TEST(HostMemory, PinCountsAndSinglePinAccounting) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  host_memory &hm = host_memory::get();
  Buffer buf(8 * kPage);
  auto before = hm.get_stats();
  std::vector<pfn_t> pfns(8), again(8);
  ASSERT_EQ(8, hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(buf.get()), 8, true,
                                 pfns.data()));
  for (int i = 0; i < 8; i++) EXPECT_EQ(1u, hm.pin_count(pfns[i]));
  // Contiguous VA gets contiguous frames (within a 1 GiB chunk) ...
  for (int i = 1; i < 8; i++) EXPECT_EQ(pfns[0] + i, pfns[i]);
  // ... and the same VA always gets the same frame while pinned.
  ASSERT_EQ(8, hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(buf.get()), 8, false,
                                 again.data()));
  EXPECT_EQ(pfns, again);
  EXPECT_EQ(2u, hm.pin_count(pfns[3]));
  pfn_t looked = 0;
  ASSERT_TRUE(hm.lookup_pfn(*self_mm(), reinterpret_cast<uint64_t>(buf.get()) + 5 * kPage + 7, &looked));
  EXPECT_EQ(pfns[5], looked);
  // Equal counts over a contiguous range are one run.
  EXPECT_EQ(before.pin_ranges + 1, hm.get_stats().pin_ranges);
  EXPECT_EQ(before.pinned_pages + 16, hm.get_stats().pinned_pages);
  hm.unpin_user_page_range(pfns[2], 3);
  EXPECT_EQ(1u, hm.pin_count(pfns[2]));
  EXPECT_EQ(2u, hm.pin_count(pfns[5]));
  hm.unpin_user_pages(again.data(), 8);
  for (int i = 0; i < 8; i++) EXPECT_EQ(i >= 2 && i < 5 ? 0u : 1u, hm.pin_count(pfns[i])) << i;
  hm.unpin_user_page_range(pfns[0], 2);
  hm.unpin_user_page_range(pfns[5], 3);
  EXPECT_EQ(before.pinned_pages, hm.get_stats().pinned_pages);
  // Nothing pinned in the chunk: it is released and the VA has no frame.
  EXPECT_EQ(before.chunks, hm.get_stats().chunks);
  EXPECT_FALSE(hm.lookup_pfn(*self_mm(), reinterpret_cast<uint64_t>(buf.get()), &looked));
  EXPECT_EQ(warns_before, warn_count());
}

TEST(HostMemory, FramesAreTheProgramsBytes) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  host_memory &hm = host_memory::get();
  Buffer buf(2 * kPage);
  buf.fill(11);
  pfn_t pfns[2];
  ASSERT_EQ(2, hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(buf.get()), 2, true, pfns));
  uint8_t got[64];
  ASSERT_EQ(0, hm.read_frame(pfns[1], 100, got, sizeof(got)));
  EXPECT_EQ(0, memcmp(got, buf.get() + kPage + 100, sizeof(got)));
  const char msg[] = "DMA landed here";
  ASSERT_EQ(0, hm.write_frame(pfns[0], kPage - 4, msg, sizeof(msg)));  // crosses into frame 1
  EXPECT_EQ(0, memcmp(buf.get() + kPage - 4, msg, sizeof(msg)));
  // A user frame is at the layout's base or above; PA and VA agree modulo the
  // contiguity size, so huge user pages give aligned frame runs.
  auto layout = hm.get_layout();
  EXPECT_GE(pfns[0] << 12, layout.user_phys_base);
  EXPECT_EQ(reinterpret_cast<uint64_t>(buf.get()) % layout.contig_bytes,
            (pfns[0] << 12) % layout.contig_bytes);
  uint64_t mm_id, uaddr;
  ASSERT_TRUE(hm.frame_owner(pfns[1], &mm_id, &uaddr));
  EXPECT_EQ(self_mm()->id, mm_id);
  EXPECT_EQ(reinterpret_cast<uint64_t>(buf.get()) + kPage, uaddr);
  // Not a user frame at all.
  EXPECT_EQ(-EFAULT, hm.read_frame(5, 0, got, 1));
  hm.unpin_user_pages(pfns, 2);
}

TEST(HostMemory, PinValidatesLikeGup) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  host_memory &hm = host_memory::get();
  auto before = hm.get_stats();
  auto *p = static_cast<uint8_t *>(
      mmap(nullptr, 4 * kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(MAP_FAILED, p);
  pfn_t pfns[4];
  EXPECT_EQ(-EFAULT, hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(p), 4, true, pfns));
  ASSERT_EQ(4, hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(p), 4, false, pfns));
  hm.unpin_user_pages(pfns, 4);
  ASSERT_EQ(0, munmap(p + 2 * kPage, 2 * kPage));
  EXPECT_EQ(-EFAULT, hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(p), 4, false, pfns));
  EXPECT_EQ(-EINVAL, hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(p) + 1, 1, false, pfns));
  // Failed pins change nothing.
  EXPECT_EQ(before.pinned_pages, hm.get_stats().pinned_pages);
  munmap(p, 2 * kPage);
}

TEST(HostMemory, AccessAfterTheProgramUnmapsIsEfaultNotACrash) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  host_memory &hm = host_memory::get();
  auto *p = static_cast<uint8_t *>(
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(MAP_FAILED, p);
  pfn_t pfn;
  ASSERT_EQ(1, hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(p), 1, true, &pfn));
  ASSERT_EQ(0, munmap(p, kPage));
  uint8_t b = 1;
  EXPECT_EQ(-EFAULT, hm.write_frame(pfn, 0, &b, 1));
  EXPECT_EQ(-EFAULT, hm.read_frame(pfn, 0, &b, 1));
  hm.unpin_user_pages(&pfn, 1);
}

TEST(HostMemory, LargePinsCostRunsNotPages) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  host_memory &hm = host_memory::get();
  const size_t n = 16384;  // 64 MiB
  Buffer buf(n * kPage);
  ASSERT_NE(nullptr, buf.get());
  auto before = hm.get_stats();
  std::vector<pfn_t> pfns(n);
  ASSERT_EQ(static_cast<long>(n),
            hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(buf.get()), n, true, pfns.data()));
  auto after = hm.get_stats();
  // One or two runs (a 1 GiB chunk boundary may cut the range), not 16384.
  EXPECT_LE(after.pin_ranges - before.pin_ranges, 2u);
  EXPECT_LT(after.bookkeeping_bytes - before.bookkeeping_bytes, 1024u);
  hm.unpin_user_pages(pfns.data(), n);
  EXPECT_EQ(before.pin_ranges, hm.get_stats().pin_ranges);
}

TEST(HostMemory, LayoutModelsFragmentedMemory) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  host_memory &hm = host_memory::get();
  host_memory::layout frag = hm.get_layout();
  const host_memory::layout saved = frag;
  frag.contig_bytes = kPage;
  ASSERT_EQ(0, hm.set_layout(frag));
  Buffer buf(8 * kPage);
  pfn_t pfns[8];
  ASSERT_EQ(8, hm.pin_user_pages(self_mm(), reinterpret_cast<uint64_t>(buf.get()), 8, false, pfns));
  // Every page is its own frame run: no two neighbours are contiguous.
  for (int i = 1; i < 8; i++) EXPECT_NE(pfns[i - 1] + 1, pfns[i]) << i;
  EXPECT_EQ(-EBUSY, hm.set_layout(saved)) << "cannot change while frames are pinned";
  hm.unpin_user_pages(pfns, 8);
  host_memory::layout bad = saved;
  bad.contig_bytes = 3 * kPage;
  EXPECT_EQ(-EINVAL, hm.set_layout(bad));
  bad = saved;
  bad.user_phys_base = kPage;  // not aligned to the contiguity size
  EXPECT_EQ(-EINVAL, hm.set_layout(bad));
  ASSERT_EQ(0, hm.set_layout(saved));
}

}  // namespace
