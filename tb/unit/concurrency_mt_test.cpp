// SPDX-License-Identifier: MIT
// Many threads on one iommufd: map/unmap/copy on disjoint ranges, automatic
// IOVA allocation, domains coming and going, objects destroyed under use.
// Built also under ThreadSanitizer (core_unit_tsan), which fails the test on
// any data race or lock-order inversion.
#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "core/log.h"
#include "iommufd_test_util.h"

using namespace iommusim::test;

namespace {

constexpr int kThreads = 8;

void run_threads(int n, const std::function<void(int)> &fn) {
  std::vector<std::thread> ts;
  for (int t = 0; t < n; t++) ts.emplace_back(fn, t);
  for (auto &t : ts) t.join();
}

TEST(ConcurrencyMt, MapCopyUnmapOnDisjointRanges) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t a = fd.ioas(), b = fd.ioas();
  MockDevice da, db;
  ASSERT_EQ(0, fd.mock_domain(a, &da));
  ASSERT_EQ(0, fd.mock_domain(b, &db));
  std::vector<std::unique_ptr<Buffer>> bufs;
  for (int t = 0; t < kThreads; t++) bufs.push_back(std::make_unique<Buffer>(16 * kPage));
  std::atomic<int> failures{0};
  run_threads(kThreads, [&](int t) {
    const uint64_t iova = MOCK_APERTURE_START + t * (1ULL << 20);
    Buffer &buf = *bufs[t];
    for (int i = 0; i < 40; i++) {
      uint64_t len = kPage * (1 + (i + t) % 16);
      if (fd.map_fixed(a, buf.get(), len, iova)) failures++;
      if (fd.copy(b, iova, a, iova, len)) failures++;
      if (i % 8 == 0 && fd.check_map(db.hwpt_id, iova, buf.get(), len)) failures++;
      uint64_t unmapped = 0;
      if (fd.unmap(a, iova, len, &unmapped) || unmapped != len) failures++;
      if (fd.unmap(b, iova, len, &unmapped) || unmapped != len) failures++;
    }
  });
  EXPECT_EQ(0, failures.load());
  for (auto &buf : bufs) EXPECT_EQ(0, fd.check_refs(buf->get(), buf->size(), 0));
  EXPECT_EQ(warns_before, iommusim::iommufd::warn_count());
}

TEST(ConcurrencyMt, AutomaticIovasNeverOverlap) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice dev;
  ASSERT_EQ(0, fd.mock_domain(ioas, &dev));
  Buffer buf(64 * kPage);
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> got(kThreads);
  std::atomic<int> failures{0};
  run_threads(kThreads, [&](int t) {
    std::mt19937 rng(t);
    for (int i = 0; i < 30; i++) {
      uint64_t pages = 1 + rng() % 16;
      uint64_t off = (rng() % 48) * kPage;
      uint64_t iova = 0;
      if (fd.map(ioas, buf.get() + off, pages * kPage, &iova)) {
        failures++;
        continue;
      }
      got[t].emplace_back(iova, pages * kPage);
      if (fd.check_map(dev.hwpt_id, iova, buf.get() + off, pages * kPage)) failures++;
    }
  });
  EXPECT_EQ(0, failures.load());
  std::vector<std::pair<uint64_t, uint64_t>> all;
  for (auto &v : got) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  for (size_t i = 1; i < all.size(); i++)
    EXPECT_LE(all[i - 1].first + all[i - 1].second, all[i].first) << "areas overlap";
  EXPECT_EQ(0, fd.unmap(ioas, 0, UINT64_MAX));
  EXPECT_EQ(0, fd.check_refs(buf.get(), buf.size(), 0));
}

TEST(ConcurrencyMt, DomainsComeAndGoWhileMapping) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice keep;
  ASSERT_EQ(0, fd.mock_domain(ioas, &keep));  // fixes the IOVA alignment and aperture
  std::vector<std::unique_ptr<Buffer>> bufs;
  for (int t = 0; t < kThreads; t++) bufs.push_back(std::make_unique<Buffer>(8 * kPage));
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread churn([&] {
    // Auto domains are shared; a NO_DIRTY device still shares the auto HWPT,
    // a manual HWPT forces a second domain to be filled and emptied.
    while (!stop) {
      uint32_t hwpt = 0;
      if (fd.hwpt_alloc(keep.idev_id, ioas, 0, &hwpt)) {
        failures++;
        continue;
      }
      MockDevice dev;
      if (fd.mock_domain(hwpt, &dev) == 0) {
        if (fd.destroy(dev.stdev_id)) failures++;
      } else {
        failures++;
      }
      if (fd.destroy(hwpt)) failures++;
    }
  });
  run_threads(kThreads, [&](int t) {
    const uint64_t iova = MOCK_APERTURE_START + t * (1ULL << 20);
    for (int i = 0; i < 40; i++) {
      if (fd.map_fixed(ioas, bufs[t]->get(), 8 * kPage, iova)) failures++;
      if (fd.check_map(keep.hwpt_id, iova, bufs[t]->get(), 8 * kPage)) failures++;
      if (fd.unmap(ioas, iova, 8 * kPage)) failures++;
    }
  });
  stop = true;
  churn.join();
  EXPECT_EQ(0, failures.load());
  for (auto &b : bufs) EXPECT_EQ(0, fd.check_refs(b->get(), b->size(), 0));
  EXPECT_EQ(warns_before, iommusim::iommufd::warn_count());
}

TEST(ConcurrencyMt, DestroyRacesUse) {
  [[maybe_unused]] const unsigned long warns_before = ::iommusim::iommufd::warn_count();
  Iommufd fd;
  Buffer buf(4 * kPage);
  std::atomic<bool> stop{false};
  std::atomic<int> unexpected{0};
  std::thread destroyer([&] {
    while (!stop) {
      uint32_t id = fd.ioas();
      int rc = fd.destroy(id);
      // EBUSY only while a map on it is in flight.
      if (rc && rc != EBUSY) unexpected++;
      if (rc == EBUSY) fd.destroy(id);
    }
  });
  run_threads(4, [&](int) {
    for (int i = 0; i < 500; i++) {
      uint64_t iova = 0;
      for (uint32_t id = 1; id <= 4; id++) {
        int rc = fd.map(id, buf.get(), kPage, &iova);
        if (rc && rc != ENOENT) unexpected++;
      }
    }
  });
  stop = true;
  destroyer.join();
  EXPECT_EQ(0, unexpected.load());
  EXPECT_EQ(0, fd.close());
  Iommufd check;
  EXPECT_EQ(0, check.check_refs(buf.get(), buf.size(), 0));
}

}  // namespace
