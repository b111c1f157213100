// SPDX-License-Identifier: MIT
// Concurrency of the selftest device and fault queues (built plain, under
// ASan and under TSan): faults raised while another thread reads and answers
// them, access pins racing unmaps, and mock domains mapped from many threads.
#include <poll.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "core/log.h"
#include "mock_test_util.h"

namespace iommusim::test {
namespace {

using namespace iommusim::iommufd;

constexpr uint64_t kIova = MOCK_APERTURE_START;

TEST(FaultMt, FaultsRaisedWhileAnotherThreadAnswers) {
  Iommufd fd;
  uint32_t ioas = fd.ioas(), parent = 0, fault_id = 0, hwpt = 0;
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_ALLOC_NEST_PARENT, &parent));
  int ffd = -1;
  ASSERT_EQ(0, fault_alloc(fd, &fault_id, &ffd));
  iommu_hwpt_selftest data = {IOMMU_TEST_IOTLB_DEFAULT};
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, parent, IOMMU_HWPT_FAULT_ID_VALID, &hwpt,
                             IOMMU_HWPT_DATA_SELFTEST, &data, sizeof(data), fault_id));
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, hwpt));
  mock_device *mdev = mock_dev_of(fd, md.idev_id);

  constexpr uint32_t kFaults = 400;
  std::thread raiser([&] {
    for (uint32_t i = 0; i < kFaults; i++)
      EXPECT_EQ(0, trigger_iopf(fd, md.idev_id, i % 3, i, IOMMU_PGFAULT_PERM_READ, i * kPage));
  });
  std::set<uint32_t> seen;
  while (seen.size() < kFaults) {
    pollfd p = {ffd, POLLIN, 0};
    ASSERT_EQ(1, ::poll(&p, 1, 10000)) << "a raised fault never made the fd readable";
    iommu_hwpt_pgfault rec[16];
    ssize_t n = iommusim_read(ffd, rec, sizeof(rec));
    ASSERT_GE(n, 0);
    std::vector<iommu_hwpt_page_response> resp;
    for (ssize_t i = 0; i < n / ssize_t(sizeof(rec[0])); i++) {
      EXPECT_TRUE(seen.insert(rec[i].grpid).second) << "grpid " << rec[i].grpid << " twice";
      EXPECT_EQ(rec[i].grpid * kPage, rec[i].addr);
      resp.push_back({rec[i].cookie, IOMMUFD_PAGE_RESP_SUCCESS});
    }
    const ssize_t bytes = ssize_t(resp.size() * sizeof(resp[0]));
    ASSERT_EQ(bytes, iommusim_write(ffd, resp.data(), resp.size() * sizeof(resp[0])));
  }
  raiser.join();
  auto r = mdev->page_responses();
  ASSERT_EQ(kFaults, r.size());
  std::set<uint32_t> answered;
  for (auto &x : r) {
    EXPECT_EQ(iommu_page_response_code::success, x.msg.code);
    answered.insert(x.msg.grpid);
  }
  EXPECT_EQ(kFaults, answered.size());
  EXPECT_EQ(0, iommusim_close(ffd));
}

TEST(FaultMt, DetachWhileFaultsArrive) {
  Iommufd fd;
  uint32_t ioas = fd.ioas(), parent = 0, fault_id = 0, hwpt = 0;
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, ioas, IOMMU_HWPT_ALLOC_NEST_PARENT, &parent));
  int ffd = -1;
  ASSERT_EQ(0, fault_alloc(fd, &fault_id, &ffd));
  iommu_hwpt_selftest data = {IOMMU_TEST_IOTLB_DEFAULT};
  ASSERT_EQ(0, fd.hwpt_alloc(md.idev_id, parent, IOMMU_HWPT_FAULT_ID_VALID, &hwpt,
                             IOMMU_HWPT_DATA_SELFTEST, &data, sizeof(data), fault_id));
  mock_device *mdev = mock_dev_of(fd, md.idev_id);

  constexpr uint32_t kFaults = 300;
  std::atomic<bool> stop{false};
  std::thread switcher([&] {
    while (!stop.load()) {
      EXPECT_EQ(0, mock_domain_replace(fd, md.stdev_id, hwpt));
      EXPECT_EQ(0, mock_domain_replace(fd, md.stdev_id, parent));
    }
  });
  std::thread reader([&] {
    iommu_hwpt_pgfault rec[8];
    while (!stop.load()) {
      ssize_t n = iommusim_read(ffd, rec, sizeof(rec));
      for (ssize_t i = 0; i < n / ssize_t(sizeof(rec[0])); i++) {
        iommu_hwpt_page_response r = {rec[i].cookie, IOMMUFD_PAGE_RESP_SUCCESS};
        // The group may have been refused by a detach in between.
        ssize_t w = iommusim_write(ffd, &r, sizeof(r));
        EXPECT_TRUE(w == ssize_t(sizeof(r)) || errno == EINVAL);
      }
    }
  });
  for (uint32_t i = 0; i < kFaults; i++) EXPECT_EQ(0, trigger_iopf(fd, md.idev_id, 0, i, 0, 0));
  stop.store(true);
  switcher.join();
  reader.join();
  ASSERT_EQ(0, mock_domain_replace(fd, md.stdev_id, parent));
  // Every fault was answered exactly once, by the user or by a detach.
  auto r = mdev->page_responses();
  EXPECT_EQ(kFaults, r.size());
  std::set<uint32_t> answered;
  for (auto &x : r) answered.insert(x.msg.grpid);
  EXPECT_EQ(kFaults, answered.size());
  EXPECT_EQ(0, iommusim_close(ffd));
}

TEST(SelftestMt, AccessPinsRaceUnmap) {
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  Buffer buf(16 * kPage);
  buf.fill(1);
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), 16 * kPage, kIova));
  int afd = -1;
  ASSERT_EQ(0, create_access(fd, ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &afd));

  std::atomic<bool> stop{false};
  std::thread pinner([&] {
    while (!stop.load()) {
      uint32_t id = 0;
      int rc = access_pages(fd, afd, kIova + 4 * kPage, 4 * kPage, buf.get() + 4 * kPage, 0, &id);
      // Not mapped right now, or being unmapped.
      if (rc) {
        EXPECT_TRUE(rc == ENOENT || rc == EINVAL) << rc;
        continue;
      }
      rc = destroy_access_pages(fd, afd, id);
      EXPECT_TRUE(rc == 0 || rc == ENOENT) << rc;  // an unmap may have dropped it
    }
  });
  for (int i = 0; i < 200; i++) {
    EXPECT_EQ(0, fd.unmap(ioas, kIova, 16 * kPage));
    EXPECT_EQ(0, fd.map_fixed(ioas, buf.get(), 16 * kPage, kIova));
  }
  stop.store(true);
  pinner.join();
  EXPECT_EQ(0, fd.unmap(ioas, kIova, 16 * kPage));
  EXPECT_EQ(0, fd.check_refs(buf.get(), 16 * kPage, 0));
  EXPECT_EQ(0, iommusim_close(afd));
}

TEST(SelftestMt, MockDomainMappedFromManyThreads) {
  const unsigned long v0 = mock_violations();
  Iommufd fd;
  uint32_t ioas = fd.ioas();
  MockDevice md;
  ASSERT_EQ(0, fd.mock_domain(ioas, &md));
  constexpr int kThreads = 4;
  Buffer buf(kThreads * 8 * kPage);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      uint8_t *p = buf.get() + t * 8 * kPage;
      const uint64_t iova = kIova + t * (1ULL << 20);
      for (int i = 0; i < 100; i++) {
        const uint64_t len = (1 + i % 8) * kPage - (i % 2) * kMockPage;
        ASSERT_EQ(0, fd.map_fixed(ioas, p, len, iova));
        EXPECT_EQ(0, fd.check_map(md.hwpt_id, iova, p, len));
        ASSERT_EQ(0, fd.unmap(ioas, iova, len));
      }
    });
  }
  for (auto &t : threads) t.join();
  EXPECT_EQ(0u, mock_domain_of(fd, md.hwpt_id)->nr_entries());
  EXPECT_EQ(v0, mock_violations());
  EXPECT_EQ(0, fd.check_refs(buf.get(), kThreads * 8 * kPage, 0));
}

}  // namespace
}  // namespace iommusim::test
