// SPDX-License-Identifier: MIT
// The VT-d driver under concurrency, as the platform runs it: domain
// operations from several program threads on disjoint IOVA ranges (sharing
// table pages) and on two domains, while the IRQ thread drains fault records
// and page requests (whose responses share the invalidation queue). Built
// plain, under ASan+UBSan and under TSan like the core's *_mt_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/iommu.h"
#include "core/log.h"
#include "drivers/vtd/vtd_driver.h"
#include "vtd_driver_fake_bus.h"

namespace iommusim::test {
namespace {

// The fake unit's helpers (its own namespace: smmuv3_fake_bus.h has a TestDevice too).
using namespace iommusim::test::vtdt;

TEST(VtdDriverMt, DisjointMapsAndUnmapsWhileInterruptsArrive) {
  const unsigned long warns = warn_count();
  FakeVtd bus;
  {
    driver_config cfg;
    cfg.base = kVtdBase;
    vtd_driver drv(bus, cfg);
    drv.set_log_sink([](const std::string &) {});
    ASSERT_EQ(0, drv.probe());
    TestDevice dev("mt", {0x0010}, /*ats=*/true, /*pri=*/true);
    TestDevice dev2("mt2", {0x0018});
    ASSERT_EQ(0, drv.add_device(dev));
    ASSERT_EQ(0, drv.add_device(dev2));
    ASSERT_EQ(0, iommu_probe_device(dev, drv));
    ASSERT_EQ(0, iommu_probe_device(dev2, drv));
    auto r = iommu_paging_domain_alloc(dev);
    auto r2 = iommu_paging_domain_alloc(dev2);
    ASSERT_FALSE(r.is_err());
    ASSERT_FALSE(r2.is_err());
    iommu_domain *d = r.get(), *d2 = r2.get();
    ASSERT_EQ(0, iommu_attach_group_handle(d, dev.group, nullptr));
    ASSERT_EQ(0, iommu_attach_group_handle(d2, dev2.group, nullptr));

    std::atomic<bool> stop{false}, started{false};
    std::thread irq([&] {
      // At least 64 rounds, however fast the workers are.
      for (uint64_t n = 0; !stop.load() || n < 64; n++) {
        started.store(true);
        // A read fault of 00:02.0 in record n % 8.
        bus.record_fault(unsigned(n % 8), n << 12, (1ULL << 63) | (1ULL << 62) | (6ULL << 32) | 0x10);
        bus.fire(cfg.irq_fault);
        // A page request nobody handles (the core answers Invalid) and one
        // from an unknown requester (the driver answers Invalid).
        bus.push_prq(0x0010ULL << 16, ((n & 0x1ff) << 3) | (1 << 2) | 1 | (n << 12 & 0xfffff000));
        bus.push_prq(0x0777ULL << 16, ((n & 0x1ff) << 3) | (1 << 2) | 2);
        bus.fire(cfg.irq_prq);
      }
    });
    const int rw = IOMMU_READ | IOMMU_WRITE;
    std::vector<std::thread> workers;
    for (uint64_t t = 0; t < 4; t++) {
      workers.emplace_back([&, t] {
        while (!started.load()) std::this_thread::yield();
        iommu_domain *dom = t < 3 ? d : d2;
        for (int round = 0; round < 40; round++) {
          // Eight pages each in one shared level-1 table.
          const uint64_t iova = 0x40000000 + t * 8 * SZ_4K;
          EXPECT_EQ(0, iommu_map(dom, iova, 0x100000000ULL + iova, 8 * SZ_4K, rw));
          EXPECT_EQ(0x100000000ULL + iova + SZ_4K + 5, iommu_iova_to_phys(dom, iova + SZ_4K + 5));
          EXPECT_EQ(8 * SZ_4K, iommu_unmap(dom, iova, 8 * SZ_4K));
          // A 2 MiB superpage of its own.
          const uint64_t blk = 0x80000000 + t * SZ_2M;
          EXPECT_EQ(0, iommu_map(dom, blk, 0x200000000ULL + t * SZ_2M, SZ_2M, rw));
          EXPECT_EQ(0x200000000ULL + t * SZ_2M + 77, iommu_iova_to_phys(dom, blk + 77));
          EXPECT_EQ(SZ_2M, iommu_unmap(dom, blk, SZ_2M));
        }
      });
    }
    for (auto &w : workers) w.join();
    stop.store(true);
    irq.join();

    const auto st = drv.stats();
    EXPECT_GT(st.faults, 0u);
    EXPECT_GT(st.prq_requests, 0u);
    EXPECT_EQ(st.prq_requests, st.prq_responses);
    EXPECT_EQ(0u, st.wait_timeouts);
    // Tables stay until the domain goes (Linux frees only tables an unmap
    // covers entirely): d has PGD, level 3, two level 2 and one level 1
    // table; d2 the same.
    EXPECT_EQ(10u, st.pgtable_pages);

    iommu_detach_group_handle(d, dev.group);
    iommu_detach_group_handle(d2, dev2.group);
    iommu_domain_free(d);
    iommu_domain_free(d2);
    EXPECT_EQ(0u, drv.stats().pgtable_pages);
    iommu_release_device(dev);
    iommu_release_device(dev2);
    drv.remove_device(dev);
    drv.remove_device(dev2);
    drv.remove();
  }
  EXPECT_TRUE(bus.allocs.empty());
  EXPECT_EQ(warns, warn_count());
}

// Attach/detach (under the core's group lock, draining the page requests at
// each teardown) while the IRQ thread reports page requests (which takes the
// group lock under the driver's PRQ lock): no lock-order inversion.
TEST(VtdDriverMt, AttachDetachWhilePageRequestsArrive) {
  const unsigned long warns = warn_count();
  FakeVtd bus;
  {
    driver_config cfg;
    cfg.base = kVtdBase;
    vtd_driver drv(bus, cfg);
    drv.set_log_sink([](const std::string &) {});
    ASSERT_EQ(0, drv.probe());
    TestDevice dev("pri", {0x0080}, /*ats=*/true, /*pri=*/true);
    ASSERT_EQ(0, drv.add_device(dev));
    ASSERT_EQ(0, iommu_probe_device(dev, drv));
    ASSERT_EQ(0, drv.dev_enable_iopf(dev));
    auto r = iommu_paging_domain_alloc(dev);
    ASSERT_FALSE(r.is_err());
    iommu_domain *d = r.get();

    std::atomic<bool> stop{false}, started{false};
    std::thread irq([&] {
      for (uint64_t n = 0; !stop.load() || n < 64; n++) {
        started.store(true);
        bus.push_prq(0x0080ULL << 16, ((n & 0x1ff) << 3) | (1 << 2) | 1 | 0x5000);
        bus.fire(cfg.irq_prq);
      }
    });
    while (!started.load()) std::this_thread::yield();
    for (int round = 0; round < 50; round++) {
      ASSERT_EQ(0, iommu_attach_group_handle(d, dev.group, nullptr));
      iommu_detach_group_handle(d, dev.group);
    }
    stop.store(true);
    irq.join();
    const auto st = drv.stats();
    EXPECT_GT(st.prq_requests, 0u);
    EXPECT_EQ(st.prq_requests, st.prq_responses);
    EXPECT_EQ(0u, st.wait_timeouts);

    drv.dev_disable_iopf(dev);
    iommu_domain_free(d);
    iommu_release_device(dev);
    drv.remove_device(dev);
    drv.remove();
  }
  EXPECT_TRUE(bus.allocs.empty());
  EXPECT_EQ(warns, warn_count());
}

}  // namespace
}  // namespace iommusim::test
