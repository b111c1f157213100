// SPDX-License-Identifier: MIT
// The SMMUv3 driver under concurrency, as the platform runs it: domain
// operations from several program threads on disjoint IOVA ranges (sharing
// table pages), while the IRQ thread drains events and page requests. Built
// plain, under ASan+UBSan and under TSan like the core's *_mt_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/iommu.h"
#include "core/log.h"
#include "drivers/smmuv3/smmuv3_driver.h"
#include "smmuv3_fake_bus.h"

namespace iommusim::test {
namespace {

TEST(Smmuv3DriverMt, DisjointMapsAndUnmapsWhileInterruptsArrive) {
  const unsigned long warns = warn_count();
  FakeSmmu bus;
  {
    driver_config cfg;
    cfg.base = kBase;
    smmuv3_driver drv(bus, cfg);
    drv.set_log_sink([](const std::string &) {});
    ASSERT_EQ(0, drv.probe());
    TestDevice dev("mt", {0x10}, /*ats=*/true, /*pri=*/true);
    ASSERT_EQ(0, drv.add_device(dev));
    ASSERT_EQ(0, iommu_probe_device(dev, drv));
    auto r = iommu_paging_domain_alloc(dev);
    ASSERT_FALSE(r.is_err());
    iommu_domain *d = r.get();
    ASSERT_EQ(0, iommu_attach_group_handle(d, dev.group, nullptr));
    size_t base_allocs;
    {
      FakeSmmu::guard g(bus.mu);
      base_allocs = bus.allocs.size();
    }

    std::atomic<bool> stop{false};
    std::thread irq([&] {
      for (uint64_t n = 0; !stop.load(); n++) {
        const uint64_t ev[4] = {fprep(evt::ID, evt::F_TRANSLATION) | fprep(evt::SID, 0x10),
                                evt::RnW, n * 4096, 0};
        bus.push_event(ev);
        bus.fire(cfg.irq_eventq);
        // A page request nobody handles: denied, with a CMD_SYNC.
        const uint64_t ppr[2] = {fprep(priq::SID, 0x10) | priq::PERM_READ | priq::PRG_LAST,
                                 fprep(priq::PRG_IDX, n & 0x1ff) | (n << 12)};
        bus.push_ppr(ppr);
        bus.fire(cfg.irq_priq);
      }
    });
    const int rw = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
    std::vector<std::thread> workers;
    for (uint64_t t = 0; t < 4; t++) {
      workers.emplace_back([&, t] {
        for (int round = 0; round < 40; round++) {
          // Eight pages each in one shared level-3 table, which comes and goes.
          const uint64_t iova = 0x40000000 + t * 8 * SZ_4K;
          EXPECT_EQ(0, iommu_map(d, iova, 0x100000000ULL + iova, 8 * SZ_4K, rw));
          EXPECT_EQ(0x100000000ULL + iova + SZ_4K + 5, iommu_iova_to_phys(d, iova + SZ_4K + 5));
          EXPECT_EQ(8 * SZ_4K, iommu_unmap(d, iova, 8 * SZ_4K));
          // A 2 MiB block of its own.
          const uint64_t blk = 0x80000000 + t * SZ_2M;
          EXPECT_EQ(0, iommu_map(d, blk, 0x200000000ULL + t * SZ_2M, SZ_2M, rw));
          EXPECT_EQ(SZ_2M, iommu_unmap(d, blk, SZ_2M));
        }
      });
    }
    for (auto &w : workers) w.join();
    stop.store(true);
    irq.join();

    {
      FakeSmmu::guard g(bus.mu);
      EXPECT_EQ(base_allocs, bus.allocs.size());  // every table page went back
    }
    const auto st = drv.stats();
    EXPECT_GT(st.events, 0u);
    EXPECT_GT(st.pri_responses, 0u);
    EXPECT_EQ(0u, st.sync_timeouts);
    EXPECT_EQ(0u, st.cmdq_errors);

    iommu_detach_group_handle(d, dev.group);
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
