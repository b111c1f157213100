// SPDX-License-Identifier: MIT
// The VT-d driver against a fake host_bus that behaves like a minimal VT-d
// remapping unit (vtd_driver_fake_bus.h): registers, an invalidation queue
// consumer that records every descriptor and can fail one (IQE/ITE/ICE),
// fault recording registers and a page request queue the tests fill. The
// tests read the structures back the way the hardware would (RTADDR → root
// → context → PASID directory/table → second-stage tables), so they check
// what the hardware sees, not what the driver believes.
//
// No SystemC: end-to-end runs against the VT-d model live with the platform.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/iommu.h"
#include "core/iova_bitmap.h"
#include "core/log.h"
#include "driver_uapi_fixture.h"
#include "drivers/vtd/regs.h"
#include "drivers/vtd/vtd_driver.h"
#include "mock_test_util.h"
#include "vtd_driver_fake_bus.h"

namespace iommusim::test {
namespace {

// The fake unit's helpers (its own namespace: smmuv3_fake_bus.h has a TestDevice too).
using namespace iommusim::test::vtdt;

using namespace iommusim::iommufd;
using namespace iommusim::iommufd::vtd;

// What the fake's CAP makes of an IOTLB descriptor: DR and DW set (§6.5.2.3).
constexpr uint64_t DRW = (1ULL << 7) | (1ULL << 6);
constexpr uint64_t WAIT_QW0 = (uint64_t(qi::DONE) << 32) | qi::IWD_STATUS_WRITE | qi::IWD_TYPE;
constexpr uint64_t IOTLB_DSI = (qi::IOTLB_GRAN_DSI << 4) | qi::IOTLB_TYPE | DRW;
constexpr uint64_t IOTLB_PSI = (qi::IOTLB_GRAN_PSI << 4) | qi::IOTLB_TYPE | DRW;

qi_desc D(uint64_t qw0, uint64_t qw1 = 0) {
  qi_desc d;
  d.qw0 = qw0;
  d.qw1 = qw1;
  return d;
}
std::string hex(const std::vector<qi_desc> &v) {
  std::string s;
  char b[80];
  for (const auto &d : v) {
    snprintf(b, sizeof(b), "{%#llx,%#llx} ", (unsigned long long)d.qw0, (unsigned long long)d.qw1);
    s += b;
  }
  return s;
}

class VtdDriver : public ::testing::Test {
 protected:
  void SetUp() override { warns_at_start = warn_count(); }
  void TearDown() override {
    for (auto &d : domains)
      if (d.first) iommu_detach_group_handle(d.second, d.first->group);
    for (auto it = domains.rbegin(); it != domains.rend(); ++it) iommu_domain_free(it->second);
    domains.clear();
    for (auto &dev : devs) {
      iommu_release_device(*dev);
      drv->remove_device(*dev);
    }
    devs.clear();
    if (drv) {
      drv->remove();
      drv.reset();
    }
    EXPECT_TRUE(bus.allocs.empty()) << bus.allocs.size() << " DMA allocations leaked";
    EXPECT_EQ(warns_at_start, warn_count());
  }

  int probe() {
    drv = std::make_unique<vtd_driver>(bus, cfg);
    drv->set_log_sink([this](const std::string &l) { log.push_back(l); });
    return drv->probe();
  }
  TestDevice *add(std::vector<uint32_t> rids, bool ats = false, bool pri = false,
                  uint32_t pasids = 0) {
    auto d = std::make_unique<TestDevice>("dev" + std::to_string(devs.size()), std::move(rids),
                                          ats, pri, pasids);
    EXPECT_EQ(0, drv->add_device(*d));
    EXPECT_EQ(0, iommu_probe_device(*d, *drv));
    devs.push_back(std::move(d));
    return devs.back().get();
  }
  iommu_domain *alloc(TestDevice *dev, uint32_t flags = 0, bool user = false) {
    auto r = user ? drv->domain_alloc_user(*dev, flags, nullptr, nullptr)
                  : iommu_paging_domain_alloc(*dev);
    EXPECT_FALSE(r.is_err()) << r.err();
    return r.get();
  }
  iommu_domain *attach(TestDevice *dev, uint32_t flags = 0, bool user = false) {
    iommu_domain *d = alloc(dev, flags, user);
    if (!d) return nullptr;
    EXPECT_EQ(0, iommu_attach_group_handle(d, dev->group, nullptr));
    domains.emplace_back(dev, d);
    return d;
  }
  bool logged(const std::string &what) const {
    for (const auto &l : log)
      if (l.find(what) != std::string::npos) return true;
    return false;
  }
  // The second-stage root of rid (scalable: PASID entry 0; legacy: context).
  uint64_t sl_root(uint16_t rid) {
    if (bus.scalable()) return bus.pasid_entry(rid, 0)[0] & ~0xfffULL;
    return bus.context(rid)[0] & ~0xfffULL;
  }
  FakeVtd::Leaf leaf(uint16_t rid, uint64_t iova) { return bus.walk(sl_root(rid), 4, iova); }

  FakeVtd bus;
  driver_config cfg{kVtdBase, 0, 1, false};
  std::unique_ptr<vtd_driver> drv;
  std::vector<std::string> log;
  std::vector<std::unique_ptr<TestDevice>> devs;
  std::vector<std::pair<TestDevice *, iommu_domain *>> domains;
  unsigned long warns_at_start = 0;
};

// ---------------------------------------------------------------------------
// Probe

TEST_F(VtdDriver, ProbeScalableModeProgramsTheUnitInLinuxOrder) {
  ASSERT_EQ(0, probe());
  EXPECT_TRUE(drv->scalable_mode());
  EXPECT_EQ(2, drv->agaw());
  const auto &w = bus.writes;
  auto at = [&](uint64_t off, uint64_t val) {
    for (size_t i = 0; i < w.size(); i++)
      if (w[i].off == off && w[i].val == val) return i;
    ADD_FAILURE() << "no write of " << std::hex << val << " to " << off;
    return w.size();
  };
  // Allocation order: QI ring (2 pages, 256-bit descriptors), status page,
  // root table, PRQ (16 pages, naturally aligned).
  const uint64_t qi = 0x80000000, status = 0x80002000, root = 0x80003000, prq = 0x80010000;
  EXPECT_EQ(8192u, bus.allocs.at(qi));
  EXPECT_EQ(4096u, bus.allocs.at(status));
  EXPECT_EQ(4096u, bus.allocs.at(root));
  EXPECT_EQ(65536u, bus.allocs.at(prq));

  const size_t iqt = at(reg::IQT, 0);
  const size_t iqa = at(reg::IQA, qi | IQA_DW | 1);
  const size_t qie = at(reg::GCMD, gcmd::QIE);
  const size_t rta = at(reg::RTADDR, root | RTADDR_SMT);
  const size_t srtp = at(reg::GCMD, gcmd::QIE | gcmd::SRTP);
  const size_t pqa = at(reg::PQA, prq | prq::ORDER);
  const size_t pedata = at(reg::PEDATA, 1);
  const size_t peaddr = at(reg::PEADDR, kDoorbell + 4);
  const size_t pectl = at(reg::PECTL, 0);
  const size_t fedata = at(reg::FEDATA, 0);
  const size_t feaddr = at(reg::FEADDR, kDoorbell);
  const size_t fectl = at(reg::FECTL, 0);
  const size_t te = at(reg::GCMD, gcmd::QIE | gcmd::TE);
  const std::vector<size_t> order = {iqt,  iqa,    qie,    rta,   srtp,   pqa, pedata,
                                     peaddr, pectl, fedata, feaddr, fectl, te};
  for (size_t i = 1; i < order.size(); i++) EXPECT_LT(order[i - 1], order[i]) << "step " << i;
  EXPECT_EQ(te, w.size() - 1);  // translation goes on last
  EXPECT_EQ(gsts::TES | gsts::QIES | gsts::RTPS, bus.gsts);
  EXPECT_EQ(2u, bus.irqs.size());

  // After SRTP without ESRTPS: global context-cache, PASID-cache and IOTLB
  // invalidations (§6.5.1), each followed by its wait with status write.
  const std::vector<qi_desc> want = {
      D((qi::CC_GRAN_GLOBAL << 4) | qi::CC_TYPE), D(WAIT_QW0, status + 1 * 4),
      D((qi::PC_GLOBAL << 4) | qi::PC_TYPE), D(WAIT_QW0, status + 3 * 4),
      D((qi::IOTLB_GRAN_GLOBAL << 4) | qi::IOTLB_TYPE | DRW), D(WAIT_QW0, status + 5 * 4)};
  EXPECT_EQ(want, bus.descs) << hex(bus.descs);
  EXPECT_EQ(6u, drv->stats().descriptors);
  EXPECT_EQ(3u, drv->stats().waits);
  EXPECT_EQ(uint32_t(qi::DONE), uint32_t(bus.mem64(status + 4)));
  EXPECT_EQ(6u << 5, bus.reg32(reg::IQT));  // 256-bit descriptors: index << 5
  EXPECT_EQ(1ULL << 12, drv->pgsize_bitmap);
}

TEST_F(VtdDriver, ProbeLegacyWhenForcedKeepsWideDescriptors) {
  cfg.force_legacy = true;
  ASSERT_EQ(0, probe());
  EXPECT_FALSE(drv->scalable_mode());
  EXPECT_FALSE(bus.reg64(reg::RTADDR) & RTADDR_SMT);
  // No PASID cache in legacy mode, and no page request queue.
  EXPECT_TRUE(bus.descs_of(qi::PC_TYPE).empty());
  EXPECT_EQ(0u, bus.reg64(reg::PQA));
  EXPECT_EQ(1u, bus.irqs.size());
  // Linux sizes the descriptors by ECAP.SMTS, not by the mode in use.
  EXPECT_TRUE(bus.reg64(reg::IQA) & IQA_DW);
  ASSERT_EQ(4u, bus.descs.size());
  EXPECT_EQ(D((qi::CC_GRAN_GLOBAL << 4) | qi::CC_TYPE), bus.descs[0]);
}

TEST_F(VtdDriver, ProbeLegacyUnitUsesNarrowDescriptors) {
  bus.set_ecap(bus.ecap() & ~(1ULL << 43));  // no SMTS
  ASSERT_EQ(0, probe());
  EXPECT_EQ(0x80000000u, bus.reg64(reg::IQA));  // 128-bit descriptors, one page
  EXPECT_EQ(4096u, bus.allocs.at(0x80000000));
  EXPECT_EQ(4u << 4, bus.reg32(reg::IQT));
}

TEST_F(VtdDriver, ProbeRejectsWhatItCannotUse) {
  bus.set_cap(~0ULL);
  bus.set_ecap(~0ULL);
  EXPECT_EQ(-ENODEV, probe());
  EXPECT_TRUE(logged("failed to read registers"));

  bus.set_cap(kCap & ~(0x1fULL << 8));  // SAGAW 0
  bus.set_ecap(kEcap);
  EXPECT_EQ(-ENODEV, drv->probe());
  EXPECT_TRUE(logged("No supported address widths"));

  bus.set_cap(kCap);
  bus.set_ecap(kEcap & ~(1ULL << 46));  // scalable mode without second stage
  EXPECT_EQ(-ENODEV, drv->probe());

  bus.set_cap((kCap & ~(0x1fULL << 8)) | (0x1ULL << 8));  // SAGAW 39-bit only in SM: none
  bus.set_ecap(kEcap);
  EXPECT_EQ(-ENODEV, drv->probe());
  EXPECT_TRUE(logged("Cannot get a valid agaw"));
  EXPECT_TRUE(bus.allocs.empty());
  EXPECT_TRUE(bus.writes.empty());
  EXPECT_FALSE(drv->probed());
}

TEST_F(VtdDriver, WithoutQueuedInvalidationRegistersAreUsedInLegacyMode) {
  bus.set_ecap(kEcap & ~2ULL);  // no ECAP.QI
  ASSERT_EQ(0, probe());
  EXPECT_FALSE(drv->scalable_mode());  // scalable mode needs the queue
  EXPECT_TRUE(logged("Using Register based invalidation"));
  EXPECT_EQ(0u, bus.gsts & gsts::QIES);
  // After SRTP: a global context-cache invalidation through CCMD and a
  // global IOTLB invalidation through IOTLB_REG (DW: CAP.DWD).
  EXPECT_EQ((std::vector<uint64_t>{ccmd::ICC | ccmd::gran(qi::CC_GRAN_GLOBAL)}), bus.ccmds);
  ASSERT_EQ(1u, bus.iotlb_regs.size());
  EXPECT_EQ(iotlb_reg::IVT | iotlb_reg::gran(qi::IOTLB_GRAN_GLOBAL) | iotlb_reg::DW,
            bus.iotlb_regs[0].second);
  // ATS needs the queue (device-TLB invalidations are descriptors).
  TestDevice *dev = add({0x0210}, /*ats=*/true);
  iommu_domain *d = attach(dev);
  EXPECT_EQ(uint64_t(ctx::TT_MULTI_LEVEL), (bus.context(0x0210)[0] >> 2) & 3);
  ASSERT_EQ(0, iommu_map(d, 0x10000, 0x10000, 4 * SZ_4K, IOMMU_READ));
  EXPECT_EQ(4 * SZ_4K, iommu_unmap(d, 0x10000, 4 * SZ_4K));
  // Page-selective: IVA = address | IH (bit 6) | AM 2; DID 2 in IOTLB_REG.
  ASSERT_EQ(2u, bus.iotlb_regs.size());
  EXPECT_EQ(0x10000u | (1 << 6) | 2, bus.iotlb_regs[1].first);
  EXPECT_EQ(iotlb_reg::IVT | iotlb_reg::gran(qi::IOTLB_GRAN_PSI) | iotlb_reg::DW | (2ULL << 32),
            bus.iotlb_regs[1].second);
  // Detach: device-selective context cache (DID 2, SID 0x210), IOTLB DSI.
  iommu_detach_group_handle(domains[0].second, dev->group);
  domains[0].first = nullptr;
  EXPECT_EQ(ccmd::ICC | ccmd::gran(qi::CC_GRAN_DEVICE) | (0x210ULL << 16) | 2, bus.ccmds.back());
  EXPECT_EQ(iotlb_reg::IVT | iotlb_reg::gran(qi::IOTLB_GRAN_DSI) | iotlb_reg::DW | (2ULL << 32),
            bus.iotlb_regs.back().second);
  EXPECT_TRUE(bus.descs.empty());
}

TEST_F(VtdDriver, ProbeUnwindsEveryAllocationFailure) {
  for (int n = 0; n < 4; n++) {
    FakeVtd b;
    b.fail_alloc_at = n;
    vtd_driver d(b, cfg);
    d.set_log_sink([](const std::string &) {});
    EXPECT_EQ(-ENOMEM, d.probe()) << n;
    EXPECT_TRUE(b.allocs.empty()) << n;
    EXPECT_TRUE(b.irqs.empty()) << n;
    EXPECT_EQ(0u, b.gsts & gsts::TES) << n;
  }
  ASSERT_EQ(0, probe());  // the fixture's bus never fails
}

TEST_F(VtdDriver, ProbeTimesOutWhenGstsNeverFollows) {
  bus.gsts_follows = false;
  EXPECT_EQ(-ETIMEDOUT, probe());
  EXPECT_TRUE(bus.allocs.empty());
  EXPECT_TRUE(bus.irqs.empty());
  EXPECT_TRUE(logged("DMAR hardware is malfunctioning"));
  // The same object probes once the hardware answers.
  bus.gsts_follows = true;
  EXPECT_EQ(0, drv->probe());
  EXPECT_EQ(-EBUSY, drv->probe());
}

TEST_F(VtdDriver, TranslationLeftOnIsTurnedOffFirst) {
  bus.gsts = gsts::TES;
  ASSERT_EQ(0, probe());
  EXPECT_EQ(reg::GCMD, bus.writes[0].off);
  EXPECT_EQ(0u, bus.writes[0].val);
  EXPECT_TRUE(logged("Translation was enabled"));
}

// ---------------------------------------------------------------------------
// Tables after attach

TEST_F(VtdDriver, ScalableAttachWritesRootContextAndPasidEntries) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  // Probe-time context (Linux's intel_pasid_setup_sm_context): PASID
  // directory of one page (no PASIDs: 2^15 PASIDs, PDTS = 2), FPD clear.
  const uint64_t dir = 0x80020000, ctx_table = 0x80021000;
  EXPECT_EQ(ctx_table | 1, bus.mem64(drv->root_table()));
  EXPECT_EQ(0u, bus.mem64(drv->root_table() + 8));  // devfn 0x80-0xff: none yet
  EXPECT_EQ(ctx_table + 0x10 * 32, bus.context_pa(0x0010));
  EXPECT_EQ((std::array<uint64_t, 4>{dir | (2 << 9) | 1, 0, 0, 0}), bus.context(0x0010));
  const size_t before = bus.descs.size();

  iommu_domain *d = attach(dev);
  ASSERT_NE(nullptr, d);
  // PASID directory entry 0 → table page; PASID entry 0 (RID_PASID):
  // SLPTPTR = PGD, AW = 2 (4-level), PGTT = 2 (second stage only), P; DID 2
  // (0 and 1 are reserved), PWSNP (ECAP.SMPWC).
  const uint64_t pgd = 0x80022000, ptable = 0x80023000;
  EXPECT_EQ(ptable | 1, bus.mem64(dir));
  EXPECT_EQ((std::array<uint64_t, 8>{pgd | (2 << 2) | (2 << 6) | 1, 2 | (1ULL << 23), 0, 0, 0, 0,
                                     0, 0}),
            bus.pasid_entry(0x0010, 0));
  // Non-present → present without caching mode: no invalidation at all.
  EXPECT_EQ(before, bus.descs.size());
  EXPECT_EQ(1u, drv->stats().pgtable_pages);  // the PGD

  // A device on devfn 0x88 uses the root entry's upper half.
  TestDevice *hi = add({0x0188});
  (void)hi;
  EXPECT_EQ(0u, bus.mem64(drv->root_table() + 16));
  EXPECT_EQ(1u, bus.mem64(drv->root_table() + 16 + 8) & 1);
  EXPECT_EQ((bus.mem64(drv->root_table() + 24) & ~0xfffULL) + 8 * 32, bus.context_pa(0x0188));
}

TEST_F(VtdDriver, ScalableContextOfAnAtsPasidDevice) {
  ASSERT_EQ(0, probe());
  add({0x0300}, /*ats=*/true, /*pri=*/true, /*pasids=*/1u << 16);
  // 2^16 PASIDs: 1024 directory entries of 8 bytes = 2 pages; max_pasid
  // 2^16, PDTS = log2(1024) - 7 = 3; DTE and PASIDE set.
  const auto c = bus.context(0x0300);
  EXPECT_EQ(8192u, bus.allocs.at(c[0] & ~0xfffULL));
  EXPECT_EQ((3ULL << 9) | ctx::SM_DTE | ctx::SM_PASIDE | 1, c[0] & 0xfff);
  EXPECT_EQ(0u, c[1]);
  EXPECT_EQ(1u << 16, devs[0]->max_pasids);
}

TEST_F(VtdDriver, LegacyAttachWritesContextEntries) {
  cfg.force_legacy = true;
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0208});
  TestDevice *ats = add({0x0209}, /*ats=*/true);
  // Legacy: nothing is written before a domain is attached.
  EXPECT_EQ(0u, bus.mem64(drv->root_table() + 2 * 16));
  const size_t before = bus.descs.size();
  iommu_domain *d = attach(dev);
  ASSERT_NE(nullptr, d);
  const uint64_t ctx_table = bus.mem64(drv->root_table() + 2 * 16) & ~0xfffULL;
  EXPECT_EQ(ctx_table + 8 * 16, bus.context_pa(0x0208));
  const auto c = bus.context(0x0208);
  // lo: ASR = PGD, TT = 00 (multi-level), FPD clear, P; hi: AW 2, DID 2.
  const uint64_t pgd = c[0] & ~0xfffULL;
  EXPECT_EQ(pgd | 1, c[0]);
  EXPECT_EQ(2u | (2u << 8), c[1]);
  EXPECT_EQ(before, bus.descs.size());

  iommu_domain *d2 = attach(ats);
  ASSERT_NE(nullptr, d2);
  const auto c2 = bus.context(0x0209);
  EXPECT_EQ((uint64_t(ctx::TT_DEV_IOTLB) << 2) | 1, c2[0] & 0xfff);  // TT = 01
  EXPECT_EQ(2u | (3u << 8), c2[1]);                                    // DID 3
}

TEST_F(VtdDriver, LegacyDetachClearsTheContextWithExactInvalidations) {
  cfg.force_legacy = true;
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0208}, /*ats=*/true);
  ASSERT_NE(nullptr, attach(dev));
  const size_t before = bus.descs.size();
  iommu_detach_group_handle(domains[0].second, dev->group);
  domains[0].first = nullptr;
  EXPECT_EQ((std::array<uint64_t, 4>{0, 0, 0, 0}), bus.context(0x0208));
  // Context cache (device-selective, DID 2, SID 0x208), then the domain's
  // IOTLB (DSI). ATS was disabled before the teardown, so no device-TLB
  // invalidation (Linux 6.12's order in device_block_translation).
  const std::vector<qi_desc> want = {
      D((uint64_t(0x208) << 32) | (2ULL << 16) | (qi::CC_GRAN_DEVICE << 4) | qi::CC_TYPE),
      D((2ULL << 16) | IOTLB_DSI)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  EXPECT_EQ(4u, bus.descs.size() - before);  // each with its wait
}

TEST_F(VtdDriver, ScalableDetachTearsThePasidEntryDown) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  ASSERT_NE(nullptr, attach(dev));
  const size_t before = bus.descs.size();
  iommu_detach_group_handle(domains[0].second, dev->group);
  domains[0].first = nullptr;
  EXPECT_EQ((std::array<uint64_t, 8>{}), bus.pasid_entry(0x0010, 0));
  // PASID cache (PASID-selective, DID 2, PASID 0), then IOTLB DSI (DID 2).
  const std::vector<qi_desc> want = {D((2ULL << 16) | (qi::PC_PASID_SEL << 4) | qi::PC_TYPE),
                                     D((2ULL << 16) | IOTLB_DSI)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  // The context entry stays: it belongs to the device, not the domain.
  EXPECT_EQ(1u, bus.context(0x0010)[0] & 1);
}

TEST_F(VtdDriver, CachingModeFlushesNonPresentToPresentChanges) {
  bus.set_cap(kCap | (1ULL << 7));  // CM: the unit caches non-present entries (QEMU does)
  ASSERT_EQ(0, probe());
  size_t before = bus.descs.size();
  TestDevice *dev = add({0x0028});
  // The new scalable context entry: device-selective context cache (DID 0),
  // then IOTLB DSI of DID 0 (Linux's device_pasid_table_setup).
  std::vector<qi_desc> want = {
      D((uint64_t(0x28) << 32) | (qi::CC_GRAN_DEVICE << 4) | qi::CC_TYPE), D(IOTLB_DSI)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  before = bus.descs.size();
  iommu_domain *d = attach(dev);
  // The new PASID entry: PASID cache and PASID-based IOTLB of DID 2.
  want = {D((2ULL << 16) | (qi::PC_PASID_SEL << 4) | qi::PC_TYPE),
          D((2ULL << 16) | (qi::GRAN_NONG_PASID << 4) | qi::EIOTLB_TYPE)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  // New mappings are flushed too (iotlb_sync_map: PSI, no hint).
  before = bus.descs.size();
  ASSERT_EQ(0, iommu_map(d, 0x3000, 0x7000, SZ_4K, IOMMU_READ));
  want = {D((2ULL << 16) | IOTLB_PSI, 0x3000)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
}

TEST_F(VtdDriver, IdentityDomainIsPassThrough) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  ASSERT_EQ(0, drv->identity_domain()->attach_dev(*dev));
  EXPECT_EQ((std::array<uint64_t, 8>{(2 << 2) | (4 << 6) | 1, FLPT_DEFAULT_DID | (1ULL << 23), 0,
                                     0, 0, 0, 0, 0}),
            bus.pasid_entry(0x0010, 0));
  ASSERT_EQ(0, drv->blocked_domain(*dev)->attach_dev(*dev));
  // Pass-through entries are flushed PASID-based (§6.5.2.4).
  const auto pi = bus.descs_of(qi::EIOTLB_TYPE);
  ASSERT_EQ(1u, pi.size());
  EXPECT_EQ(D((1ULL << 16) | (qi::GRAN_NONG_PASID << 4) | qi::EIOTLB_TYPE), pi[0]);
}

// ---------------------------------------------------------------------------
// Map / unmap

TEST_F(VtdDriver, MapUsesTheLargestPageThatFits) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  ASSERT_NE(nullptr, d);
  EXPECT_EQ(SZ_4K | SZ_2M | SZ_1G, d->pgsize_bitmap);
  EXPECT_EQ((1ULL << 48) - 1, d->geometry.aperture_end);
  // One batch of PFNs: 1 GiB + 2 MiB + 4 KiB from an aligned IOVA/PA pair
  // becomes a 1 GiB leaf, a 2 MiB leaf and a 4 KiB leaf (Linux's
  // __domain_mapping with hardware_largepage_caps).
  const uint64_t iova = 0x40000000, pa = 0x100000000;
  const size_t n = (SZ_1G + SZ_2M + SZ_4K) / SZ_4K;
  size_t mapped = 0;
  ASSERT_EQ(0, d->map_pages(iova, pa, SZ_4K, n, IOMMU_READ | IOMMU_WRITE, &mapped));
  EXPECT_EQ(SZ_1G + SZ_2M + SZ_4K, mapped);
  auto l = leaf(0x0010, iova);
  EXPECT_EQ(3, l.level);
  EXPECT_EQ(pa | pte::LARGE_PAGE | pte::READ | pte::WRITE, l.pte);
  l = leaf(0x0010, iova + SZ_1G);
  EXPECT_EQ(2, l.level);
  EXPECT_EQ((pa + SZ_1G) | pte::LARGE_PAGE | pte::READ | pte::WRITE, l.pte);
  l = leaf(0x0010, iova + SZ_1G + SZ_2M);
  EXPECT_EQ(1, l.level);
  EXPECT_EQ((pa + SZ_1G + SZ_2M) | pte::READ | pte::WRITE, l.pte);
  EXPECT_EQ(pa + SZ_1G + 0x1234, d->iova_to_phys(iova + SZ_1G + 0x1234));
  EXPECT_EQ(pa + 0x3456789, d->iova_to_phys(iova + 0x3456789));
  // PGD, the level-3 table, one level-2 table (for the 2M/4K part) and one
  // level-1 table.
  EXPECT_EQ(4u, drv->stats().pgtable_pages);

  // A misaligned PA turns the same length into 4 KiB pages.
  mapped = 0;
  ASSERT_EQ(0, d->map_pages(0x200000000, 0x300001000, SZ_4K, 512, IOMMU_READ, &mapped));
  l = leaf(0x0010, 0x200000000);
  EXPECT_EQ(1, l.level);
  EXPECT_EQ(0x300001000 | pte::READ, l.pte);
}

// What a map or unmap costs in host_bus operations (each is simulated host
// CPU time on the platform): the table walk is one read per level, a run of
// PTEs in one table page one read and one write, a flush one status write,
// one descriptor write, one IQT write and one poll.
TEST_F(VtdDriver, HostBusCostOfMapAndUnmap) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  const int rw = IOMMU_READ | IOMMU_WRITE;
  ASSERT_EQ(0, iommu_map(d, 0x1000, 0x1000, SZ_4K, rw));  // builds the tables
  auto reset = [&] {
    bus.mem_reads = bus.mem_writes = bus.reg_reads = bus.reg_writes = bus.polls = 0;
  };
  auto cost = [&] {
    return std::array<uint64_t, 5>{bus.mem_reads, bus.mem_writes, bus.reg_reads,
                                   bus.reg_writes, bus.polls};
  };
  reset();
  ASSERT_EQ(0, iommu_map(d, 0x2000, 0x2000, SZ_4K, rw));
  EXPECT_EQ((std::array<uint64_t, 5>{5, 1, 0, 0, 0}), cost());
  reset();
  ASSERT_EQ(SZ_4K, iommu_unmap(d, 0x2000, SZ_4K));
  EXPECT_EQ((std::array<uint64_t, 5>{8, 3, 0, 1, 1}), cost());
  // A 2 MiB superpage: the walk to level 2 twice (switch_to_super_page
  // looks for a table to replace), the slot, then the run.
  reset();
  ASSERT_EQ(0, iommu_map(d, SZ_2M, SZ_2M, SZ_2M, rw));
  EXPECT_EQ((std::array<uint64_t, 5>{8, 1, 0, 0, 0}), cost());
  // 512 pages (misaligned PA) into a fresh level-1 table: the walk (4
  // reads, one of them in the new table), its link (1 write), one run of
  // 512 PTEs (1 read, 1 write).
  reset();
  ASSERT_EQ(0, iommu_map(d, 2 * SZ_2M, 0x1000, SZ_2M, rw));
  EXPECT_EQ((std::array<uint64_t, 5>{5, 2, 0, 0, 0}), cost());
}

TEST_F(VtdDriver, MapRefusesWhatLinuxRefuses) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  size_t mapped = 0;
  EXPECT_EQ(-EINVAL, d->map_pages(0, 0, 8192, 1, IOMMU_READ, &mapped));      // page size
  EXPECT_EQ(-EINVAL, d->map_pages(0x1000, 0, SZ_2M, 1, IOMMU_READ, &mapped));  // alignment
  EXPECT_EQ(-EINVAL, d->map_pages(0, 0, SZ_4K, 1, 0, &mapped));               // no access
  EXPECT_EQ(-EFAULT, d->map_pages(1ULL << 48, 0, SZ_4K, 1, IOMMU_READ, &mapped));  // beyond gaw
  ASSERT_EQ(0, d->map_pages(0x5000, 0x9000, SZ_4K, 1, IOMMU_READ, &mapped));
  EXPECT_EQ(-EEXIST, d->map_pages(0x4000, 0xa000, SZ_4K, 2, IOMMU_READ, &mapped));
  EXPECT_EQ(0u, d->iova_to_phys(0x4000));
  EXPECT_EQ(0x9000u, d->iova_to_phys(0x5000));
  // Across a table page: the first two pages went in, then 2 MiB was taken;
  // what the failed call mapped is unmapped again, with a flush.
  ASSERT_EQ(0, d->map_pages(SZ_2M, 0xb000, SZ_4K, 1, IOMMU_READ, &mapped));
  const size_t before = bus.descs.size();
  EXPECT_EQ(-EEXIST, d->map_pages(SZ_2M - 2 * SZ_4K, 0xc000, SZ_4K, 3, IOMMU_READ, &mapped));
  EXPECT_EQ(0u, d->iova_to_phys(SZ_2M - 2 * SZ_4K));
  EXPECT_EQ(0u, d->iova_to_phys(SZ_2M - SZ_4K));
  EXPECT_EQ(0xb000u, d->iova_to_phys(SZ_2M));
  const std::vector<qi_desc> want = {D((2ULL << 16) | IOTLB_PSI, (SZ_2M - 2 * SZ_4K) | (1 << 6) | 1)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  EXPECT_EQ(2 * SZ_4K, mapped);
  EXPECT_TRUE(logged("already set"));
}

TEST_F(VtdDriver, UnmapFlushesPageSelectiveWithMaskAndHint) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0x10000, 0x80000000000, 16 * SZ_4K, IOMMU_READ | IOMMU_WRITE));
  // Four pages from 0x12000: PSI of 4 pages (AM = 2) at 0x10000... no: the
  // range 0x12000-0x15fff straddles a 16K boundary, so the mask grows to
  // cover 0x10000-0x17fff (AM = 3), IH = 1 (no table freed).
  size_t before = bus.descs.size();
  EXPECT_EQ(4 * SZ_4K, iommu_unmap(d, 0x12000, 4 * SZ_4K));
  std::vector<qi_desc> want = {D((2ULL << 16) | IOTLB_PSI, 0x10000 | (1 << 6) | 3)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  ASSERT_EQ(2u, bus.descs.size() - before);
  EXPECT_EQ(WAIT_QW0, bus.descs.back().qw0);
  EXPECT_EQ(0u, d->iova_to_phys(0x12000));
  EXPECT_EQ(0x80000001000u, d->iova_to_phys(0x11000));

  // An aligned range needs no growth: 0x18000-0x1bfff, AM = 2.
  before = bus.descs.size();
  EXPECT_EQ(4 * SZ_4K, iommu_unmap(d, 0x18000, 4 * SZ_4K));
  want = {D((2ULL << 16) | IOTLB_PSI, 0x18000 | (1 << 6) | 2)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
}

TEST_F(VtdDriver, UnmapThatFreesTablesClearsTheHintAndFreesAfterTheFlush) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, SZ_2M, 0x80000000000, SZ_2M - SZ_4K, IOMMU_READ));
  ASSERT_EQ(0, iommu_map(d, 2 * SZ_2M - SZ_4K, 0x90000000000, SZ_4K, IOMMU_READ));
  EXPECT_EQ(4u, drv->stats().pgtable_pages);
  // The whole 2 MiB: the level-1 table goes, IH = 0, AM = 9.
  const size_t before = bus.descs.size();
  const uint64_t l1 = leaf(0x0010, SZ_2M).ptep & ~0xfffULL;
  EXPECT_EQ(SZ_2M, iommu_unmap(d, SZ_2M, SZ_2M));
  const std::vector<qi_desc> want = {D((2ULL << 16) | IOTLB_PSI, SZ_2M | 9)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  EXPECT_EQ(0u, bus.allocs.count(l1));
  EXPECT_EQ(3u, drv->stats().pgtable_pages);
  EXPECT_EQ(0u, leaf(0x0010, SZ_2M).level);
}

TEST_F(VtdDriver, SuperpageReplacesAnEmptiedTable) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  // 4 KiB pages under a 2 MiB slot, unmapped again one by one: the level-1
  // table stays (Linux frees only fully covered tables) ...
  ASSERT_EQ(0, iommu_map(d, SZ_2M, 0x1000, SZ_4K, IOMMU_READ));
  EXPECT_EQ(SZ_4K, iommu_unmap(d, SZ_2M, SZ_4K));
  EXPECT_EQ(4u, drv->stats().pgtable_pages);
  // ... until a 2 MiB mapping there switches to a superpage: the table is
  // freed after a flush of the slot (IH 0).
  const size_t before = bus.descs.size();
  ASSERT_EQ(0, iommu_map(d, SZ_2M, 0x40000000, SZ_2M, IOMMU_READ | IOMMU_WRITE));
  EXPECT_EQ(3u, drv->stats().pgtable_pages);
  const auto l = leaf(0x0010, SZ_2M);
  EXPECT_EQ(2, l.level);
  EXPECT_EQ(0x40000000 | pte::LARGE_PAGE | pte::READ | pte::WRITE, l.pte);
  const std::vector<qi_desc> want = {D((2ULL << 16) | IOTLB_PSI, SZ_2M | 9)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
}

TEST_F(VtdDriver, BigRangesAndFlushAllAreDomainSelective) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0, 0, 2 * SZ_1G, IOMMU_READ));
  // 2 GiB = 2^19 pages: AM 19 > CAP.MAMV 18 → DSI.
  size_t before = bus.descs.size();
  EXPECT_EQ(2 * SZ_1G, iommu_unmap(d, 0, 2 * SZ_1G));
  std::vector<qi_desc> want = {D((2ULL << 16) | IOTLB_DSI)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  before = bus.descs.size();
  d->flush_iotlb_all();
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
}

TEST_F(VtdDriver, AtsDeviceGetsDeviceTlbInvalidationAfterTheIotlb) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0420}, /*ats=*/true);
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0x100000, 0x200000, 8 * SZ_4K, IOMMU_READ));
  const size_t before = bus.descs.size();
  EXPECT_EQ(8 * SZ_4K, iommu_unmap(d, 0x100000, 8 * SZ_4K));
  // One batch: IOTLB PSI (AM 3), then the device TLB of SID 0x420 for the
  // same 32 KiB (S = 1, address bits 12..13 set: 2^(3) pages), then one wait.
  const std::vector<qi_desc> want = {
      D((2ULL << 16) | IOTLB_PSI, 0x100000 | (1 << 6) | 3),
      D((uint64_t(0x420) << 32) | qi::DIOTLB_TYPE, 0x100000 | 0x3000 | 1),
      D(WAIT_QW0, bus.descs.back().qw1)};
  std::vector<qi_desc> got(bus.descs.begin() + long(before), bus.descs.end());
  EXPECT_EQ(want, got) << hex(got);
  EXPECT_EQ(1u, drv->stats().devtlb_inv);
}

// ---------------------------------------------------------------------------
// Queued invalidation errors

TEST_F(VtdDriver, InvalidationQueueErrorOnOurDescriptorIsReplacedAndCleared) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0x1000, 0x1000, SZ_4K, IOMMU_READ));
  bus.iqe_once.insert(qi::IOTLB_TYPE);
  const size_t before = bus.descs.size();
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0x1000, SZ_4K));
  EXPECT_EQ(0u, bus.fsts & fsts::IQE);
  EXPECT_EQ(1u, drv->stats().iqe);
  EXPECT_TRUE(logged("Invalidation Queue Error (IQE) cleared"));
  EXPECT_TRUE(logged("QI HEAD: IOTLB Invalidation"));
  // The bad descriptor's slot now holds our wait: the hardware went on with
  // two waits and the queue keeps working.
  ASSERT_EQ(2u, bus.descs.size() - before);
  EXPECT_EQ(WAIT_QW0, bus.descs[before].qw0);
  EXPECT_EQ(WAIT_QW0, bus.descs[before + 1].qw0);
  d->flush_iotlb_all();
  EXPECT_EQ(D((2ULL << 16) | IOTLB_DSI), bus.invs(before).back());
}

TEST_F(VtdDriver, DeviceTlbTimeoutIsRetried) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0420}, /*ats=*/true);
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0x1000, 0x1000, SZ_4K, IOMMU_READ));
  bus.ite_once.insert(qi::DIOTLB_TYPE);
  const size_t before = bus.descs.size();
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0x1000, SZ_4K));
  EXPECT_EQ(1u, drv->stats().ite);
  EXPECT_EQ(0u, bus.fsts & fsts::ITE);
  // IOTLB, device TLB (timed out, wait aborted), then the whole batch again.
  const auto got = bus.invs(before);
  ASSERT_EQ(4u, got.size()) << hex(got);
  EXPECT_EQ(got[0], got[2]);
  EXPECT_EQ(got[1], got[3]);
  EXPECT_EQ(uint64_t(qi::DIOTLB_TYPE), got[1].qw0 & 0xf);
}

TEST_F(VtdDriver, TimeoutOfAnUnknownRequesterIsNotRetried) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0420}, /*ats=*/true);
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0x1000, 0x1000, SZ_4K, IOMMU_READ));
  // ITESID names a requester that is no device of ours: a retry would time
  // out again, so the flush gives up (-ETIMEDOUT inside, logged).
  bus.ite_once.insert(qi::DIOTLB_TYPE);
  bus.ite_sid = 0x0999;
  const size_t before = bus.descs.size();
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0x1000, SZ_4K));
  EXPECT_EQ(2u, bus.invs(before).size()) << hex(bus.invs(before));
  EXPECT_EQ(1u, drv->stats().ite);
  EXPECT_TRUE(logged("VT-d detected Invalidation Time-out Error: SID 999"));
  // The queue works on.
  d->flush_iotlb_all();
  EXPECT_EQ(D((2ULL << 16) | IOTLB_DSI), bus.invs(before)[2]);
}

TEST_F(VtdDriver, InvalidationCompletionErrorIsClearedAndCounted) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  // The wait's status write comes one poll late, together with an ICE: the
  // waiter finds ICE in FSTS, clears it, and completes.
  bus.late_waits = 1;
  bus.ice_once = true;
  d->flush_iotlb_all();
  EXPECT_EQ(0u, bus.fsts & fsts::ICE);
  EXPECT_EQ(1u, drv->stats().ice);
  EXPECT_EQ(0u, drv->stats().wait_timeouts);
  EXPECT_TRUE(logged("Invalidation Completion Error (ICE) cleared"));
}

TEST_F(VtdDriver, WaitThatNeverCompletesTimesOut) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  bus.consume = false;
  d->flush_iotlb_all();
  EXPECT_EQ(1u, drv->stats().wait_timeouts);
  EXPECT_TRUE(logged("invalidation wait did not complete"));
  // One second of simulated time, not more.
  EXPECT_GE(bus.now, 1000000000u);
  EXPECT_LT(bus.now, 1200000000u);
  bus.consume = true;
}

// ---------------------------------------------------------------------------
// Faults and page requests

TEST_F(VtdDriver, FaultRecordsAreReadClearedAndNamed) {
  ASSERT_EQ(0, probe());
  log.clear();
  // Record 3: a DMA read from 00:02.0 without PASID at 0x12345000, reason 6
  // (PTE Read access is not set); record 4: a write with PASID 0x55,
  // reason 0x59 (SM: Present bit in PASID Table Entry is clear).
  bus.record_fault(3, 0x12345000, (1ULL << 63) | (1ULL << 62) | (6ULL << 32) | 0x0010);
  bus.record_fault(4, 0xabc000,
                   (1ULL << 63) | (0x55ULL << 40) | (0x59ULL << 32) | (1ULL << 31) | 0x0011);
  bus.fsts = fsts::PPF | (3u << 8);
  bus.fire(cfg.irq_fault);
  EXPECT_EQ(0u, bus.fault_hi(3) >> 63);
  EXPECT_EQ(0u, bus.fault_hi(4) >> 63);
  EXPECT_EQ(0u, bus.fsts);
  const auto f = drv->recent_faults();
  ASSERT_EQ(2u, f.size());
  EXPECT_EQ(6u, f[0].reason);
  EXPECT_TRUE(f[0].read);
  EXPECT_FALSE(f[0].pasid_present);
  EXPECT_EQ(0x10u, f[0].source_id);
  EXPECT_EQ(0x12345000u, f[0].addr);
  EXPECT_EQ(0x59u, f[1].reason);
  EXPECT_FALSE(f[1].read);
  EXPECT_TRUE(f[1].pasid_present);
  EXPECT_EQ(0x55u, f[1].pasid);
  EXPECT_EQ(2u, drv->stats().faults);
  EXPECT_TRUE(logged("[DMA Read NO_PASID] Request device [00:02.0] fault addr 0x12345000 "
                     "[fault reason 0x06] PTE Read access is not set"));
  EXPECT_TRUE(logged("[DMA Write PASID 0x55] Request device [00:02.1] fault addr 0xabc000 "
                     "[fault reason 0x59] SM: Present bit in PASID Table Entry is clear"));
  EXPECT_STREQ("SM: A/D bit update needed in first-level entry when set up in no snoop",
               fault_reason_name(0x90));
  EXPECT_STREQ("Unknown", fault_reason_name(0xff));
}

TEST_F(VtdDriver, BadPageRequestsAreAnsweredInvalid) {
  ASSERT_EQ(0, probe());
  add({0x0500}, /*ats=*/true, /*pri=*/true);
  const size_t before = bus.descs.size();
  // Not canonical, last of group 7 with PASID 3: answered Invalid.
  bus.push_prq((3ULL << 32) | (0x0500ULL << 16) | (1 << 8),
               0x0000900000000000ULL | (7 << 3) | (1 << 2) | 1);
  // From an unknown requester, not last: nothing to answer.
  bus.push_prq(0x0999ULL << 16, (5 << 3) | 1 | 0x1000);
  bus.fire(cfg.irq_prq);
  EXPECT_EQ(2u, drv->stats().prq_requests);
  EXPECT_EQ(bus.pqt, bus.reg64(reg::PQH));
  EXPECT_EQ(0u, bus.prs & PRS_PPR);
  const std::vector<qi_desc> want = {
      D((3ULL << 32) | (0x0500ULL << 16) | (1 << 4) | (qi::RESP_INVALID << 12) |
            qi::PGRP_RESP_TYPE,
        (7 << 3) | (1 << 2))};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  EXPECT_TRUE(logged("Address is not canonical"));
}

TEST_F(VtdDriver, PageRequestWithoutIopfGetsTheCoresInvalidResponse) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0500}, /*ats=*/true, /*pri=*/true);
  ASSERT_NE(nullptr, attach(dev));
  const size_t before = bus.descs.size();
  // A read request without PASID for 0x7000, last of group 0x1f.
  bus.push_prq(0x0500ULL << 16, 0x7000 | (0x1f << 3) | (1 << 2) | 1);
  bus.fire(cfg.irq_prq);
  const std::vector<qi_desc> want = {
      D((0x0500ULL << 16) | (qi::RESP_INVALID << 12) | qi::PGRP_RESP_TYPE, (0x1f << 3) | (1 << 2))};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  EXPECT_EQ(1u, drv->stats().prq_responses);
}

TEST_F(VtdDriver, EnablingIopfSetsThePreBit) {
  ASSERT_EQ(0, probe());
  TestDevice *plain = add({0x0600});
  TestDevice *dev = add({0x0601}, /*ats=*/true, /*pri=*/true);
  EXPECT_EQ(-ENODEV, drv->dev_enable_iopf(*plain));
  const size_t before = bus.descs.size();
  ASSERT_EQ(0, drv->dev_enable_iopf(*dev));
  EXPECT_EQ(-EBUSY, drv->dev_enable_iopf(*dev));
  EXPECT_TRUE(bus.context(0x0601)[0] & ctx::SM_PRE);
  // The context entry changed: device-selective context-cache invalidation.
  const std::vector<qi_desc> want = {
      D((uint64_t(0x601) << 32) | (qi::CC_GRAN_DEVICE << 4) | qi::CC_TYPE)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  drv->dev_disable_iopf(*dev);
  EXPECT_FALSE(bus.context(0x0601)[0] & ctx::SM_PRE);
}

TEST_F(VtdDriver, PageResponseIsAPageGroupResponseDescriptor) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0700}, /*ats=*/true, /*pri=*/true, 1u << 10);
  iopf_fault evt;
  evt.prm.flags = IOMMU_FAULT_PAGE_REQUEST_PASID_VALID | IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
  evt.prm.pasid = 0x42;
  evt.prm.grpid = 0x1a3;
  evt.prm.private_data[0] = 0x0700;
  iommu_page_response r;
  r.pasid = 0x42;
  r.grpid = 0x1a3;
  const size_t before = bus.descs.size();
  r.code = iommu_page_response_code::success;
  drv->page_response(*dev, evt, r);
  r.code = iommu_page_response_code::failure;
  drv->page_response(*dev, evt, r);
  const std::vector<qi_desc> want = {
      D((0x42ULL << 32) | (0x0700ULL << 16) | (1 << 4) | qi::PGRP_RESP_TYPE, (0x1a3 << 3) | 4),
      D((0x42ULL << 32) | (0x0700ULL << 16) | (1 << 4) | (0xfULL << 12) | qi::PGRP_RESP_TYPE,
        (0x1a3 << 3) | 4)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
}

TEST_F(VtdDriver, TeardownWithPriDrainsThePageRequests) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0500}, /*ats=*/true, /*pri=*/true);
  ASSERT_NE(nullptr, attach(dev));
  ASSERT_EQ(0, drv->dev_enable_iopf(*dev));
  const size_t before = bus.descs.size();
  iommu_detach_group_handle(domains[0].second, dev->group);
  domains[0].first = nullptr;
  // PASID cache, IOTLB DSI (ATS is already off: no device TLB), then the
  // drain (§7.10): a fenced wait without status write, the domain's IOTLB,
  // the whole device TLB, and the submission's wait with PRQ drain.
  std::vector<qi_desc> got(bus.descs.begin() + long(before), bus.descs.end());
  ASSERT_EQ(8u, got.size()) << hex(got);
  EXPECT_EQ(D((2ULL << 16) | (qi::PC_PASID_SEL << 4) | qi::PC_TYPE), got[0]);
  EXPECT_EQ(D((2ULL << 16) | IOTLB_DSI), got[2]);
  EXPECT_EQ(D((uint64_t(qi::DONE) << 32) | qi::IWD_FENCE | qi::IWD_TYPE), got[4]);
  EXPECT_EQ(D((2ULL << 16) | IOTLB_DSI), got[5]);
  EXPECT_EQ(D((uint64_t(0x500) << 32) | qi::DIOTLB_TYPE, 0x7ffffffffffff000ULL | 1), got[6]);
  EXPECT_EQ(WAIT_QW0 | qi::IWD_PRQ_DRAIN, got[7].qw0);
  drv->dev_disable_iopf(*dev);
}

TEST_F(VtdDriver, PageRequestOverflowIsClearedOnceTheQueueIsEmpty) {
  ASSERT_EQ(0, probe());
  bus.prs = PRS_PRO;
  bus.fire(cfg.irq_prq);
  EXPECT_EQ(0u, bus.prs);
  EXPECT_EQ(1u, drv->stats().prq_overflows);
  EXPECT_TRUE(logged("PRQ overflow cleared"));
}

TEST_F(VtdDriver, WriteBufferFlushWhereCapRwbf) {
  bus.set_cap(kCap | (1ULL << 4));  // RWBF
  ASSERT_EQ(0, probe());
  EXPECT_EQ(2u, bus.wbf);  // before and after setting the root table
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  EXPECT_EQ(3u, bus.wbf);  // the new PASID entry
  const size_t before = bus.descs.size();
  ASSERT_EQ(0, iommu_map(d, 0, 0, SZ_4K, IOMMU_READ));
  EXPECT_EQ(4u, bus.wbf);  // iotlb_sync_map: a write-buffer flush, no descriptor
  EXPECT_EQ(before, bus.descs.size());
}

// ---------------------------------------------------------------------------
// Dirty tracking

TEST_F(VtdDriver, DirtyTrackingSetsSsadeAndReadsAndClearsDBits) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, /*user=*/true);
  ASSERT_NE(nullptr, d);
  EXPECT_TRUE(d->has_dirty_ops);
  EXPECT_TRUE(drv->capable(*dev, iommu_cap::dirty_tracking));
  ASSERT_EQ(0, iommu_map(d, 0, 0x40000000, SZ_2M + 2 * SZ_4K, IOMMU_READ | IOMMU_WRITE));

  size_t before = bus.descs.size();
  ASSERT_EQ(0, d->set_dirty_tracking(true));
  EXPECT_TRUE(bus.pasid_entry(0x0010, 0)[0] & pasid::SSADE);
  const std::vector<qi_desc> want = {D((2ULL << 16) | (qi::PC_PASID_SEL << 4) | qi::PC_TYPE),
                                     D((2ULL << 16) | IOTLB_DSI)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  // Enabling twice changes nothing.
  before = bus.descs.size();
  ASSERT_EQ(0, d->set_dirty_tracking(true));
  EXPECT_EQ(before, bus.descs.size());

  // The hardware dirtied the 2 MiB superpage and the second 4 KiB page.
  const auto big = leaf(0x0010, 0);
  const auto small = leaf(0x0010, SZ_2M + SZ_4K);
  ASSERT_EQ(2, big.level);
  ASSERT_EQ(1, small.level);
  bus.set_mem64(big.ptep, big.pte | pte::DIRTY);
  bus.set_mem64(small.ptep, small.pte | pte::DIRTY);

  iommu_iotlb_gather g;
  iommu_dirty_bitmap db;
  db.gather = &g;
  // Without a bitmap the core only cleans; with NO_CLEAR the bits stay.
  ASSERT_EQ(0, d->read_and_clear_dirty(0, SZ_2M + 2 * SZ_4K, IOMMU_DIRTY_NO_CLEAR, db));
  EXPECT_EQ(0u, g.start);
  EXPECT_EQ(SZ_2M + 2 * SZ_4K - 1, g.end);
  EXPECT_TRUE(bus.mem64(big.ptep) & pte::DIRTY);
  g = iommu_iotlb_gather{};
  ASSERT_EQ(0, d->read_and_clear_dirty(SZ_2M, 2 * SZ_4K, 0, db));
  EXPECT_EQ(SZ_2M + SZ_4K, g.start);
  EXPECT_EQ(SZ_2M + 2 * SZ_4K - 1, g.end);
  EXPECT_EQ(small.pte, bus.mem64(small.ptep));  // D cleared, the rest kept
  EXPECT_TRUE(bus.mem64(big.ptep) & pte::DIRTY);

  ASSERT_EQ(0, d->set_dirty_tracking(false));
  EXPECT_FALSE(bus.pasid_entry(0x0010, 0)[0] & pasid::SSADE);
}

TEST_F(VtdDriver, DirtyTrackingNeedsSlads) {
  bus.set_ecap(kEcap & ~(1ULL << 45));
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  EXPECT_FALSE(drv->capable(*dev, iommu_cap::dirty_tracking));
  auto r = drv->domain_alloc_user(*dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, nullptr, nullptr);
  EXPECT_EQ(-EOPNOTSUPP, r.err());
}

// ---------------------------------------------------------------------------
// Domain allocation

TEST_F(VtdDriver, DomainAllocUserRefusesWhatLinuxRefuses) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  EXPECT_EQ(-EOPNOTSUPP, drv->domain_alloc_user(*dev, 1u << 7, nullptr, nullptr).err());
  iommu_user_data ud;
  ud.type = IOMMU_HWPT_DATA_VTD_S1;
  EXPECT_EQ(-EOPNOTSUPP, drv->domain_alloc_user(*dev, 0, nullptr, &ud).err());
  // A nested domain needs a NEST_PARENT parent of this driver, and no flags.
  iommu_domain *plain = alloc(dev, 0, true);
  domains.emplace_back(nullptr, plain);
  EXPECT_EQ(-EOPNOTSUPP,
            drv->domain_alloc_user(*dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, plain, &ud).err());
  EXPECT_EQ(-EINVAL, drv->domain_alloc_user(*dev, 0, plain, &ud).err());
  ud.type = 7;
  EXPECT_EQ(-EOPNOTSUPP, drv->domain_alloc_user(*dev, 0, plain, &ud).err());
  // Read-only mappings are refused on a nest parent (ERRATA_772415_SPR17).
  iommu_domain *parent = alloc(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, true);
  domains.emplace_back(nullptr, parent);
  size_t mapped = 0;
  EXPECT_EQ(-EINVAL, parent->map_pages(0, 0, SZ_4K, 1, IOMMU_READ, &mapped));
  EXPECT_EQ(0, parent->map_pages(0, 0, SZ_4K, 1, IOMMU_READ | IOMMU_WRITE, &mapped));
}

TEST_F(VtdDriver, NoNestingWithoutEcapNest) {
  bus.set_ecap(kEcap & ~(1ULL << 26));
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  EXPECT_EQ(-EOPNOTSUPP,
            drv->domain_alloc_user(*dev, IOMMU_HWPT_ALLOC_NEST_PARENT, nullptr, nullptr).err());
}

TEST_F(VtdDriver, ReservedRegionIsTheInterruptWindow) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  std::vector<iommu_resv_region> r;
  drv->get_resv_regions(*dev, r);
  ASSERT_EQ(1u, r.size());
  EXPECT_EQ(0xfee00000u, r[0].start);
  EXPECT_EQ(0x100000u, r[0].length);
  EXPECT_EQ(iommu_resv_region::kind::msi, r[0].type);
}

TEST_F(VtdDriver, RequesterIdsAreUnique) {
  ASSERT_EQ(0, probe());
  add({0x0010});
  TestDevice other("other", {0x0011, 0x0010});
  EXPECT_EQ(-EEXIST, drv->add_device(other));
  EXPECT_EQ(nullptr, other.iommu_priv);
  TestDevice big("big", {0x10000});
  EXPECT_EQ(-EINVAL, drv->add_device(big));
}

TEST_F(VtdDriver, EnforceCacheCoherencySetsSnpBeforeMappings) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  iommu_domain *d = attach(dev);
  ASSERT_TRUE(d->enforce_cache_coherency());
  ASSERT_EQ(0, iommu_map(d, 0, 0x5000, SZ_4K, IOMMU_READ));
  EXPECT_EQ(0x5000 | pte::SNP | pte::READ, leaf(0x0010, 0).pte);
  iommu_domain *d2 = alloc(dev, 0, true);
  domains.emplace_back(nullptr, d2);
  size_t mapped = 0;
  ASSERT_EQ(0, d2->map_pages(0, 0, SZ_4K, 1, IOMMU_READ, &mapped));
  EXPECT_FALSE(d2->enforce_cache_coherency());  // too late: already mapped
}

// ---------------------------------------------------------------------------
// Through the iommufd core, as a program sees it.

class VtdDriverUapi : public DriverUapiFixture<VtdDriver> {
 protected:
  int invalidate(uint32_t hwpt, uint32_t type, void *data, uint32_t entry_len,
                 uint32_t *entry_num) {
    iommu_hwpt_invalidate cmd = {};
    cmd.size = sizeof(cmd);
    cmd.hwpt_id = hwpt;
    cmd.data_uptr = reinterpret_cast<uint64_t>(data);
    cmd.data_type = type;
    cmd.entry_len = entry_len;
    cmd.entry_num = *entry_num;
    const int rc = fd.ioctl(IOMMU_HWPT_INVALIDATE, &cmd);
    *entry_num = cmd.entry_num;
    return rc;
  }
};

TEST_F(VtdDriverUapi, GetHwInfoReportsCapAndEcap) {
  ASSERT_EQ(0, probe());
  const uint32_t dev_id = bind(add({0x0010}));
  uint8_t info[32];
  memset(info, 0xa5, sizeof(info));
  iommu_hw_info cmd = {};
  cmd.size = sizeof(cmd);
  cmd.dev_id = dev_id;
  cmd.data_len = sizeof(info);
  cmd.data_uptr = reinterpret_cast<uint64_t>(info);
  ASSERT_EQ(0, fd.ioctl(IOMMU_GET_HW_INFO, &cmd));
  EXPECT_EQ(uint32_t(IOMMU_HW_INFO_TYPE_INTEL_VTD), cmd.out_data_type);
  EXPECT_EQ(24u, cmd.data_len);
  EXPECT_TRUE(cmd.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING);
  // flags = ERRATA_772415_SPR17, reserved, CAP, ECAP (little-endian), then
  // the rest of the user's buffer zeroed.
  uint8_t want[32] = {};
  const uint32_t flags = IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17;
  memcpy(want, &flags, 4);
  memcpy(want + 8, &kCap, 8);
  memcpy(want + 16, &kEcap, 8);
  EXPECT_EQ(0, memcmp(want, info, sizeof(want)));
  EXPECT_EQ(1u, info[0]);
  cmd.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
  cmd.in_data_type = IOMMU_HW_INFO_TYPE_ARM_SMMUV3;
  EXPECT_EQ(EOPNOTSUPP, fd.ioctl(IOMMU_GET_HW_INFO, &cmd));
}

TEST_F(VtdDriverUapi, NestedHwptAllocAttachAndInvalidate) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  const uint32_t dev_id = bind(dev);
  const uint32_t ioas = fd.ioas();
  uint32_t parent = 0, nested = 0;
  ASSERT_EQ(0, fd.hwpt_alloc(dev_id, ioas, IOMMU_HWPT_ALLOC_NEST_PARENT, &parent));

  iommu_hwpt_vtd_s1 s1 = {};
  s1.pgtbl_addr = 0x7654000;
  s1.addr_width = 48;
  s1.flags = IOMMU_VTD_S1_SRE | IOMMU_VTD_S1_WPE;
  // Data errors at allocation: copy_struct_from_user's.
  EXPECT_EQ(EINVAL, fd.hwpt_alloc(dev_id, parent, 0, &nested, IOMMU_HWPT_DATA_VTD_S1, &s1, 16));
  uint8_t longer[32] = {};
  memcpy(longer, &s1, sizeof(s1));
  longer[30] = 1;
  EXPECT_EQ(EINVAL, fd.hwpt_alloc(dev_id, parent, 0, &nested, IOMMU_HWPT_DATA_VTD_S1, longer, 32));
  // A bad address width passes allocation and fails the attach (Linux
  // validates in intel_pasid_setup_nested).
  s1.addr_width = 57;  // no CAP.FL5LP
  ASSERT_EQ(0, fd.hwpt_alloc(dev_id, parent, 0, &nested, IOMMU_HWPT_DATA_VTD_S1, &s1, sizeof(s1)));
  EXPECT_EQ(EINVAL, attach_pt(0, nested));
  s1.addr_width = 48;
  ASSERT_EQ(0, fd.hwpt_alloc(dev_id, parent, 0, &nested, IOMMU_HWPT_DATA_VTD_S1, &s1, sizeof(s1)));
  ASSERT_EQ(0, attach_pt(0, nested));
  // PASID entry: nested (PGTT 3) over the parent's second stage, FLPTR, SRE
  // and WPE, the nested domain's DID (the parent never got one).
  const auto e = bus.pasid_entry(0x0010, 0);
  EXPECT_EQ(uint64_t(pasid::PGTT_NESTED), pasid::pgtt(e[0]));
  EXPECT_EQ(1u, e[0] & 1);
  EXPECT_EQ(2u << 2, e[0] & 0x1c);
  const uint16_t did = pasid::did(e[1]);
  EXPECT_EQ(0x7654000u | pasid::SRE | pasid::WPE, e[2]);

  // Invalidation requests.
  iommu_hwpt_vtd_s1_invalidate inv[3] = {};
  inv[0].addr = 0x10000;
  inv[0].npages = 4;
  inv[0].flags = IOMMU_VTD_INV_FLAGS_LEAF;
  inv[1].addr = 0;
  inv[1].npages = ~0ULL;
  inv[2].addr = 0x1234;  // not aligned
  inv[2].npages = 1;
  size_t before = bus.descs.size();
  uint32_t n = 3;
  EXPECT_EQ(EINVAL, invalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), &n));
  EXPECT_EQ(2u, n);
  // First stage: PASID-based IOTLB PSI (AM 2, IH), then the whole address
  // space: Linux 6.12 computes PSI with AM 52, beyond CAP.MAMV, so the
  // driver sends the PASID-selective form (docs/vtd_driver.md).
  const std::vector<qi_desc> want = {
      D((uint64_t(did) << 16) | (qi::GRAN_PSI_PASID << 4) | qi::EIOTLB_TYPE,
        0x10000 | (1 << 6) | 2),
      D((uint64_t(did) << 16) | (qi::GRAN_NONG_PASID << 4) | qi::EIOTLB_TYPE, 0)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));

  // Unknown flags / reserved: EOPNOTSUPP, nothing handled.
  inv[0].flags = 2;
  n = 1;
  EXPECT_EQ(EOPNOTSUPP, invalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), &n));
  EXPECT_EQ(0u, n);
  inv[0].flags = 0;
  inv[0].__reserved = 1;
  n = 1;
  EXPECT_EQ(EOPNOTSUPP, invalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), &n));
  inv[0].__reserved = 0;
  // npages U64_MAX with an address: EINVAL.
  inv[0].npages = ~0ULL;
  n = 1;
  EXPECT_EQ(EINVAL, invalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), &n));
  EXPECT_EQ(0u, n);
  // A wrong data type: EINVAL before any entry.
  n = 1;
  EXPECT_EQ(EINVAL, invalidate(nested, 5, inv, sizeof(inv[0]), &n));
  EXPECT_EQ(0u, n);
  // Entries longer than the kernel's struct: EINVAL, as Linux's
  // __iommu_copy_struct_from_user (data_len < len).
  struct {
    iommu_hwpt_vtd_s1_invalidate e;
    uint64_t extra;
  } big = {{0x1000, 1, 0, 0}, 0};
  n = 1;
  EXPECT_EQ(EINVAL, invalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, &big, sizeof(big), &n));
  EXPECT_EQ(0u, n);
  // Shorter than the struct up to __reserved: EINVAL.
  n = 1;
  EXPECT_EQ(EINVAL, invalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, 16, &n));
  EXPECT_EQ(0u, n);

  // The parent's unmap flushes the nested DID's IOTLB (NESTING tag).
  Buffer buf(4 * kPage);
  uint64_t iova = 0;
  ASSERT_EQ(0, fd.map(ioas, buf.get(), buf.size(), &iova));
  before = bus.descs.size();
  ASSERT_EQ(0, fd.unmap(ioas, iova, buf.size()));
  const auto got = bus.invs(before);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ((uint64_t(did) << 16) | IOTLB_PSI, got[0].qw0);
}

TEST_F(VtdDriverUapi, DirtyTrackingOfANestParentReachesTheNestedEntries) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0010});
  const uint32_t dev_id = bind(dev);
  const uint32_t ioas = fd.ioas();
  uint32_t parent = 0, nested = 0;
  ASSERT_EQ(0, fd.hwpt_alloc(dev_id, ioas,
                             IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &parent));
  iommu_hwpt_vtd_s1 s1 = {};
  s1.pgtbl_addr = 0x1000;
  s1.addr_width = 48;
  ASSERT_EQ(0, fd.hwpt_alloc(dev_id, parent, 0, &nested, IOMMU_HWPT_DATA_VTD_S1, &s1, sizeof(s1)));
  ASSERT_EQ(0, attach_pt(0, nested));
  const uint16_t did = pasid::did(bus.pasid_entry(0x0010, 0)[1]);
  EXPECT_FALSE(bus.pasid_entry(0x0010, 0)[0] & pasid::SSADE);
  iommu_hwpt_set_dirty_tracking cmd = {};
  cmd.size = sizeof(cmd);
  cmd.hwpt_id = parent;
  cmd.flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
  const size_t before = bus.descs.size();
  ASSERT_EQ(0, fd.ioctl(IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd));
  EXPECT_TRUE(bus.pasid_entry(0x0010, 0)[0] & pasid::SSADE);
  const std::vector<qi_desc> want = {
      D((uint64_t(did) << 16) | (qi::PC_PASID_SEL << 4) | qi::PC_TYPE),
      D((uint64_t(did) << 16) | IOTLB_DSI)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  cmd.flags = 0;
  ASSERT_EQ(0, fd.ioctl(IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd));
  EXPECT_FALSE(bus.pasid_entry(0x0010, 0)[0] & pasid::SSADE);
}

TEST_F(VtdDriverUapi, DirtyBitmapThroughTheCore) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0072});
  const uint32_t dev_id = bind(dev);
  const uint32_t ioas = fd.ioas();
  uint32_t hwpt = 0;
  ASSERT_EQ(0, fd.hwpt_alloc(dev_id, ioas, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &hwpt));
  ASSERT_EQ(0, attach_pt(0, hwpt));
  Buffer buf(8 * kPage);
  buf.fill(2);
  const uint64_t iova = 0x100000;
  ASSERT_EQ(0, fd.map_fixed(ioas, buf.get(), buf.size(), iova));
  ASSERT_EQ(0, set_dirty_tracking(fd, hwpt, true));
  EXPECT_TRUE(bus.pasid_entry(0x0072, 0)[0] & pasid::SSADE);
  // The unit writes pages 1 and 6 (D, §3.6.2).
  for (uint64_t pg : {1, 6}) {
    const auto l = leaf(0x0072, iova + pg * kPage);
    ASSERT_EQ(1, l.level);
    bus.set_mem64(l.ptep, l.pte | pte::DIRTY);
  }
  uint8_t bitmap[8] = {};
  ASSERT_EQ(0, get_dirty_bitmap(fd, hwpt, iova, buf.size(), kPage, bitmap,
                                IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR));
  EXPECT_EQ(0x42, bitmap[0]);
  EXPECT_TRUE(leaf(0x0072, iova + kPage).pte & pte::DIRTY);
  memset(bitmap, 0, sizeof(bitmap));
  const size_t before = bus.descs.size();
  ASSERT_EQ(0, get_dirty_bitmap(fd, hwpt, iova, buf.size(), kPage, bitmap, 0));
  EXPECT_EQ(0x42, bitmap[0]);
  EXPECT_FALSE(leaf(0x0072, iova + kPage).pte & pte::DIRTY);
  EXPECT_FALSE(leaf(0x0072, iova + 6 * kPage).pte & pte::DIRTY);
  // Cleaning is followed by one IOTLB flush of what was cleaned: pages 1-6
  // rounded to 8 pages at the IOVA (PSI, AM 3, IH: no table freed).
  const std::vector<qi_desc> want = {D((2ULL << 16) | IOTLB_PSI, iova | (1 << 6) | 3)};
  EXPECT_EQ(want, bus.invs(before)) << hex(bus.invs(before));
  memset(bitmap, 0, sizeof(bitmap));
  ASSERT_EQ(0, get_dirty_bitmap(fd, hwpt, iova, buf.size(), kPage, bitmap, 0));
  EXPECT_EQ(0, bitmap[0]);
  ASSERT_EQ(0, fd.unmap(ioas, iova, buf.size()));
}

TEST_F(VtdDriverUapi, PageRequestsReachTheFaultQueueAndTheResponseTheUnit) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x0080}, /*ats=*/true, /*pri=*/true);
  const uint32_t dev_id = bind(dev);
  const uint32_t ioas = fd.ioas();
  uint32_t fault_id = 0, hwpt = 0;
  ASSERT_EQ(0, fault_alloc(fd, &fault_id, &ffd));
  ASSERT_EQ(0, fd.hwpt_alloc(dev_id, ioas, IOMMU_HWPT_FAULT_ID_VALID, &hwpt, IOMMU_HWPT_DATA_NONE,
                             nullptr, 0, fault_id));
  ASSERT_EQ(0, attach_pt(0, hwpt));  // enables IOPF: PRE in the context entry
  EXPECT_TRUE(bus.context(0x0080)[0] & ctx::SM_PRE);

  // Two page requests of group 0x12 without PASID, the second the last.
  bus.push_prq(0x0080ULL << 16, 0x40000 | (0x12 << 3) | 1);
  bus.push_prq(0x0080ULL << 16, 0x41000 | (0x12 << 3) | (1 << 2) | 3);
  bus.fire(cfg.irq_prq);
  EXPECT_EQ(64u, bus.reg64(reg::PQH));
  EXPECT_EQ(2u, drv->stats().prq_requests);

  iommu_hwpt_pgfault f[4] = {};
  ASSERT_EQ(ssize_t(2 * sizeof(f[0])), iommusim_read(ffd, f, sizeof(f)));
  EXPECT_EQ(dev_id, f[0].dev_id);
  EXPECT_EQ(0x12u, f[0].grpid);
  EXPECT_EQ(0x40000u, f[0].addr);
  EXPECT_EQ(uint32_t(IOMMU_PGFAULT_PERM_READ), f[0].perm);
  EXPECT_EQ(0u, f[0].flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE);
  EXPECT_EQ(0x41000u, f[1].addr);
  EXPECT_EQ(uint32_t(IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE), f[1].perm);
  EXPECT_TRUE(f[1].flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE);
  EXPECT_FALSE(f[1].flags & IOMMU_PGFAULT_FLAGS_PASID_VALID);

  const size_t before = bus.descs.size();
  iommu_hwpt_page_response r = {f[1].cookie, IOMMUFD_PAGE_RESP_SUCCESS};
  ASSERT_EQ(ssize_t(sizeof(r)), iommusim_write(ffd, &r, sizeof(r)));
  // A page group response (success) for 00:10.0, group 0x12, LPIG; one wait.
  const std::vector<qi_desc> want = {
      D((0x0080ULL << 16) | (qi::RESP_SUCCESS << 12) | qi::PGRP_RESP_TYPE, (0x12 << 3) | (1 << 2)),
      D(WAIT_QW0, bus.descs.back().qw1)};
  std::vector<qi_desc> got(bus.descs.begin() + long(before), bus.descs.end());
  EXPECT_EQ(want, got) << hex(got);
  EXPECT_EQ(1u, drv->stats().prq_responses);
}

}  // namespace
}  // namespace iommusim::test
