// SPDX-License-Identifier: MIT
// The SMMUv3 driver against a fake host_bus that behaves like a minimal
// SMMUv3 register file: ID registers, CR0/CR0ACK and the other ACK
// registers, queue PROD/CONS with a command consumer that records every
// command, completes CMD_SYNC by writing its MSI payload to memory and can be
// told to fail commands (CMDQ_CONS.ERR + GERROR.CMDQ_ERR), and a memory map
// for dma_alloc. The tests read the structures back the way the SMMU would
// (STRTAB_BASE → STE → CD → translation tables), so they check what the
// hardware sees, not what the driver believes.
//
// No SystemC: end-to-end runs against the SMMUv3 model live with the platform.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/iommu.h"
#include "core/log.h"
#include "driver_uapi_fixture.h"
#include "drivers/smmuv3/regs.h"
#include "drivers/smmuv3/smmuv3_driver.h"
#include "mock_test_util.h"
#include "smmuv3_fake_bus.h"

namespace iommusim::test {
namespace {

using namespace iommusim::iommufd;
using namespace iommusim::iommufd::smmuv3;

// Field helpers for commands.
uint32_t cmd_sid(const FakeSmmu::Cmd &c) { return uint32_t(fget(cmd::SID, c.d[0])); }
uint64_t cmd_asid(const FakeSmmu::Cmd &c) { return fget(cmd::TLBI_ASID, c.d[0]); }
uint64_t cmd_vmid(const FakeSmmu::Cmd &c) { return fget(cmd::TLBI_VMID, c.d[0]); }
bool cmd_leaf(const FakeSmmu::Cmd &c) { return c.d[1] & 1; }
uint64_t cmd_addr(const FakeSmmu::Cmd &c) { return c.d[1] & cmd::TLBI_VA_MASK; }

class Smmuv3Driver : public ::testing::Test {
 protected:
  void SetUp() override { warns_at_start = warn_count(); }
  void TearDown() override {
    for (auto &d : domains) {
      if (d.first) iommu_detach_group_handle(d.second, d.first->group);
    }
    for (auto &d : domains) iommu_domain_free(d.second);
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
    drv = std::make_unique<smmuv3_driver>(bus, cfg);
    drv->set_log_sink([this](const std::string &l) { log.push_back(l); });
    return drv->probe();
  }
  TestDevice *add(std::vector<uint32_t> sids, bool ats = false, bool pri = false) {
    auto d = std::make_unique<TestDevice>("dev" + std::to_string(devs.size()), std::move(sids),
                                          ats, pri);
    EXPECT_EQ(0, drv->add_device(*d));
    EXPECT_EQ(0, iommu_probe_device(*d, *drv));
    devs.push_back(std::move(d));
    return devs.back().get();
  }
  // A paging domain (or domain_alloc_user with flags) attached to dev.
  iommu_domain *attach(TestDevice *dev, uint32_t flags = 0, bool user = false) {
    iommu_domain *d;
    if (user) {
      auto r = drv->domain_alloc_user(*dev, flags, nullptr, nullptr);
      EXPECT_FALSE(r.is_err()) << r.err();
      d = r.get();
    } else {
      auto r = iommu_paging_domain_alloc(*dev);
      EXPECT_FALSE(r.is_err()) << r.err();
      d = r.get();
    }
    if (!d) return nullptr;
    EXPECT_EQ(0, iommu_attach_group_handle(d, dev->group, nullptr));
    domains.emplace_back(dev, d);
    return d;
  }
  std::array<uint64_t, 8> ste(uint32_t sid) { return bus.ste(sid); }
  FakeSmmu::Leaf leaf(uint32_t sid, uint64_t iova) {
    auto s = bus.ste(sid);
    auto c = bus.cd(s, 0);
    return bus.walk(c[1] & cd::TTB0_MASK, unsigned(fget(cd::T0SZ, c[0])), iova);
  }

  FakeSmmu bus;
  driver_config cfg{kBase};
  std::unique_ptr<smmuv3_driver> drv;
  std::vector<std::string> log;
  std::vector<std::unique_ptr<TestDevice>> devs;
  std::vector<std::pair<TestDevice *, iommu_domain *>> domains;
  unsigned long warns_at_start = 0;
};

// ---------------------------------------------------------------------------
// Probe

TEST_F(Smmuv3Driver, ProbeProgramsRegistersInSpecOrder) {
  ASSERT_EQ(0, probe());
  const auto &w = bus.writes;
  auto at = [&](uint64_t off, uint64_t val, size_t from = 0) {
    for (size_t i = from; i < w.size(); i++)
      if (w[i].off == off && w[i].val == val) return i;
    ADD_FAILURE() << "no write of " << std::hex << val << " to " << off;
    return w.size();
  };
  // Disable, attributes, stream table, command queue, then CMDQEN (§6.3.9).
  const size_t disable = at(reg::CR0, 0);
  const size_t cr1 = at(reg::CR1, 0xd75);  // table/queue: ISH, WB, WB
  const size_t cr2 = at(reg::CR2, cr2::PTM | cr2::RECINVSID);
  const uint64_t strtab_base = bus.reg(reg::STRTAB_BASE);
  EXPECT_TRUE(strtab_base & strtab::BASE_RA);
  const size_t stb = at(reg::STRTAB_BASE, strtab_base);
  const size_t stcfg = at(reg::STRTAB_BASE_CFG, bus.reg(reg::STRTAB_BASE_CFG));
  const uint64_t cmdq_base = bus.reg(reg::CMDQ_BASE);
  EXPECT_EQ(8u, cmdq_base & 0x1f);
  EXPECT_TRUE(cmdq_base & q::BASE_RWA);
  const size_t cqb = at(reg::CMDQ_BASE, cmdq_base);
  const size_t cmdqen = at(reg::CR0, cr0::CMDQEN);
  const size_t evtqb = at(reg::EVTQ_BASE, bus.reg(reg::EVTQ_BASE));
  const size_t evtqen = at(reg::CR0, cr0::CMDQEN | cr0::EVTQEN);
  const size_t priqb = at(reg::PRIQ_BASE, bus.reg(reg::PRIQ_BASE));
  const size_t priqen = at(reg::CR0, cr0::CMDQEN | cr0::EVTQEN | cr0::PRIQEN);
  const size_t atschk = at(reg::CR0, cr0::CMDQEN | cr0::EVTQEN | cr0::PRIQEN | cr0::ATSCHK);
  const size_t irqoff = at(reg::IRQ_CTRL, 0);
  const size_t irqon = at(reg::IRQ_CTRL, irq_ctrl::EVTQ_IRQEN | irq_ctrl::PRIQ_IRQEN |
                                             irq_ctrl::GERROR_IRQEN);
  const size_t smmuen =
      at(reg::CR0, cr0::CMDQEN | cr0::EVTQEN | cr0::PRIQEN | cr0::ATSCHK | cr0::SMMUEN);
  const std::vector<size_t> order = {disable, cr1,    cr2,    stb,    stcfg,  cqb,   cmdqen,
                                     evtqb,   evtqen, priqb,  priqen, atschk, irqoff, irqon,
                                     smmuen};
  for (size_t i = 1; i < order.size(); i++) EXPECT_LT(order[i - 1], order[i]) << "step " << i;
  EXPECT_EQ(smmuen, w.size() - 1);  // SMMUEN comes last

  // The EVTQ/PRIQ indexes are on page 1 and start at 0 before the enables.
  EXPECT_LT(at(reg::PAGE1 + reg::EVTQ_PROD, 0), evtqen);
  EXPECT_LT(at(reg::PAGE1 + reg::EVTQ_CONS, 0), evtqen);
  EXPECT_LT(at(reg::PAGE1 + reg::PRIQ_CONS, 0), priqen);
  // MSIs (IDR0.MSI + coherent): each interrupt's doorbell, data and attributes.
  EXPECT_EQ(kDoorbell + 0 * 4, bus.reg(reg::EVTQ_IRQ_CFG0));
  EXPECT_EQ(kDoorbell + 2 * 4, bus.reg(reg::GERROR_IRQ_CFG0));
  EXPECT_EQ(kDoorbell + 1 * 4, bus.reg(reg::PRIQ_IRQ_CFG0));
  EXPECT_EQ(1u, bus.reg(reg::PRIQ_IRQ_CFG1));
  EXPECT_EQ(msi_cfg::MEMATTR_DEVICE_nGnRE, bus.reg(reg::GERROR_IRQ_CFG2));
  EXPECT_EQ(3u, bus.irqs.size());

  // With the command queue on: CFGI_ALL and TLBI_NSNH_ALL, each with a
  // CMD_SYNC completed by an MSI write over its own slot.
  ASSERT_EQ(4u, bus.cmds.size());
  EXPECT_EQ(cmd::CFGI_ALL, bus.cmds[0].op());
  EXPECT_EQ(31u, fget(cmd::CFGI_RANGE, bus.cmds[0].d[1]));
  EXPECT_EQ(cmd::SYNC, bus.cmds[1].op());
  EXPECT_EQ(unsigned(cmd::SYNC_CS_IRQ), fget(cmd::SYNC_CS, bus.cmds[1].d[0]));
  EXPECT_EQ((cmdq_base & q::BASE_ADDR_MASK) + 16, bus.cmds[1].d[1]);
  EXPECT_EQ(0u, bus.mem64((cmdq_base & q::BASE_ADDR_MASK) + 16) & 0xffffffff);
  EXPECT_EQ(cmd::TLBI_NSNH_ALL, bus.cmds[2].op());
  EXPECT_EQ(cmd::SYNC, bus.cmds[3].op());

  EXPECT_EQ(SZ_4K | SZ_2M | SZ_1G, drv->pgsize_bitmap);
  EXPECT_EQ(48u, drv->oas());
  EXPECT_TRUE(drv->two_level_strtab());
}

TEST_F(Smmuv3Driver, ProbeWithoutMsiPollsCons) {
  cfg.use_msi = false;
  ASSERT_EQ(0, probe());
  EXPECT_EQ(0u, bus.reg(reg::EVTQ_IRQ_CFG0));  // wired interrupts
  ASSERT_GE(bus.cmds.size(), 2u);
  EXPECT_EQ(cmd::SYNC, bus.cmds[1].op());
  EXPECT_EQ(unsigned(cmd::SYNC_CS_SEV), fget(cmd::SYNC_CS, bus.cmds[1].d[0]));
  EXPECT_EQ(0u, bus.cmds[1].d[1]);
}

TEST_F(Smmuv3Driver, ProbeFailsCleanlyWhenCr0AckNeverFollows) {
  bus.cr0ack_follows = false;
  EXPECT_EQ(-ETIMEDOUT, probe());
  EXPECT_TRUE(bus.allocs.empty());
  EXPECT_TRUE(bus.irqs.empty());
  EXPECT_EQ(0u, bus.reg(reg::CR0));
  EXPECT_FALSE(drv->probed());
  // The same driver object can try again once the hardware answers.
  bus.cr0ack_follows = true;
  EXPECT_EQ(0, drv->probe());
}

TEST_F(Smmuv3Driver, ProbeRejectsUnusableIdRegisters) {
  bus.idr[0] = 0xffffffff;
  EXPECT_EQ(-ENODEV, probe());
  FakeSmmu fresh;
  bus.idr[0] = fresh.idr[0] & ~uint32_t(idr0::S1P | idr0::S2P);
  EXPECT_EQ(-ENXIO, probe());
  bus.idr[0] = fresh.idr[0];
  bus.idr[5] = uint32_t(fprep(idr5::OAS, 5) | idr5::GRAN64K);
  EXPECT_EQ(-ENXIO, probe());
  bus.idr[5] = fresh.idr[5];
  bus.idr[1] |= idr1::TABLES_PRESET;
  EXPECT_EQ(-ENXIO, probe());
  EXPECT_TRUE(bus.allocs.empty());
  EXPECT_TRUE(bus.writes.empty());  // nothing was touched
}

TEST_F(Smmuv3Driver, ProbeUnwindsEveryAllocationFailure) {
  // cmdq, evtq, priq, level-1 stream table.
  for (int n = 0; n < 4; n++) {
    bus.fail_alloc_at = n;
    bus.nallocs = 0;
    EXPECT_EQ(-ENOMEM, probe()) << "allocation " << n;
    EXPECT_TRUE(bus.allocs.empty()) << "allocation " << n;
    EXPECT_TRUE(bus.irqs.empty());
  }
  bus.fail_alloc_at = -1;
  EXPECT_EQ(0, probe());
}

TEST_F(Smmuv3Driver, QueueSizesAreCappedByIdr1) {
  cfg.cmdq_log2 = 12;
  cfg.evtq_log2 = 3;
  bus.idr[1] = uint32_t((bus.idr[1] & ~idr1::CMDQS) | fprep(idr1::CMDQS, 10));
  ASSERT_EQ(0, probe());
  EXPECT_EQ(10u, bus.reg(reg::CMDQ_BASE) & 0x1f);
  EXPECT_EQ(3u, bus.reg(reg::EVTQ_BASE) & 0x1f);
}

// ---------------------------------------------------------------------------
// Stream table

TEST_F(Smmuv3Driver, TwoLevelStreamTableGrowsPerDevice) {
  ASSERT_EQ(0, probe());
  const uint64_t cfgv = bus.reg(reg::STRTAB_BASE_CFG);
  EXPECT_EQ(strtab::CFG_FMT_2LVL, fget(strtab::CFG_FMT, cfgv));
  EXPECT_EQ(8u, fget(strtab::CFG_SPLIT, cfgv));
  EXPECT_EQ(16u, fget(strtab::CFG_LOG2SIZE, cfgv));
  const uint64_t l1 = bus.reg(reg::STRTAB_BASE) & strtab::BASE_ADDR_MASK;
  EXPECT_EQ(0u, bus.mem64(l1 + 0x12 * 8));
  add({0x1234});
  const uint64_t desc = bus.mem64(l1 + 0x12 * 8);
  EXPECT_EQ(9u, fget(strtab::L1_SPAN, desc));
  EXPECT_TRUE(bus.allocs.count(desc & strtab::L1_L2PTR_MASK));
  EXPECT_EQ(0u, bus.mem64(l1 + 0x13 * 8));
  // Every STE of the new level-2 table aborts.
  const uint64_t l2 = desc & strtab::L1_L2PTR_MASK;
  for (unsigned i = 0; i < 256; i++) ASSERT_EQ(ste::V, bus.mem64(l2 + i * 64)) << i;
  EXPECT_EQ(ste::V, ste(0x1234)[0]);
}

TEST_F(Smmuv3Driver, LinearStreamTableWhenTheSidSpaceIsSmall) {
  bus.idr[1] = uint32_t((bus.idr[1] & ~idr1::SIDSIZE) | fprep(idr1::SIDSIZE, 6));
  ASSERT_EQ(0, probe());
  EXPECT_FALSE(drv->two_level_strtab());
  const uint64_t cfgv = bus.reg(reg::STRTAB_BASE_CFG);
  EXPECT_EQ(strtab::CFG_FMT_LINEAR, fget(strtab::CFG_FMT, cfgv));
  EXPECT_EQ(6u, fget(strtab::CFG_LOG2SIZE, cfgv));
  for (uint32_t sid = 0; sid < 64; sid++) ASSERT_EQ(ste::V, ste(sid)[0]) << sid;
  TestDevice far("far", {64});
  EXPECT_EQ(-ERANGE, drv->add_device(far));
}

TEST_F(Smmuv3Driver, StreamIdsOutOfRangeOrTakenAreRefused) {
  ASSERT_EQ(0, probe());
  TestDevice far("far", {1u << 16});
  EXPECT_EQ(-ERANGE, drv->add_device(far));
  EXPECT_EQ(nullptr, far.iommu_priv);
  add({0x10, 0x11});
  TestDevice clash("clash", {0x20, 0x11});
  EXPECT_EQ(-EINVAL, drv->add_device(clash));
  EXPECT_EQ(nullptr, clash.iommu_priv);
  // 0x20 went back: another device may have it.
  add({0x20});
  TestDevice empty("empty", {});
  EXPECT_EQ(-ENODEV, drv->add_device(empty));
}

// ---------------------------------------------------------------------------
// Attach: STE and CD

TEST_F(Smmuv3Driver, Stage1AttachWritesCdThenSte) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x42});
  const size_t before = bus.cmds.size();
  iommu_domain *d = attach(dev);
  ASSERT_NE(nullptr, d);
  EXPECT_EQ(SZ_4K | SZ_2M | SZ_1G, d->pgsize_bitmap);
  EXPECT_EQ((1ULL << 48) - 1, d->geometry.aperture_end);

  const auto s = ste(0x42);
  EXPECT_EQ(ste::V, s[0] & ste::V);
  EXPECT_EQ(ste::CFG_S1_TRANS, fget(ste::CFG, s[0]));
  EXPECT_EQ(ste::S1FMT_LINEAR, fget(ste::S1FMT, s[0]));
  EXPECT_EQ(0u, fget(ste::S1CDMAX, s[0]));  // no PASIDs: one CD
  EXPECT_TRUE(bus.allocs.count(s[0] & ste::S1CTXPTR_MASK));
  EXPECT_EQ(ste::S1DSS_SSID0, fget(ste::S1DSS, s[1]));
  EXPECT_EQ(ste::S1C_CACHE_WBRA, fget(ste::S1CIR, s[1]));
  EXPECT_EQ(ste::S1C_CACHE_WBRA, fget(ste::S1COR, s[1]));
  EXPECT_EQ(3u, fget(ste::S1CSH, s[1]));
  EXPECT_EQ(ste::EATS_ABT, fget(ste::EATS, s[1]));
  EXPECT_EQ(ste::STRW_NSEL1, fget(ste::STRW, s[1]));
  EXPECT_EQ(0u, s[1] & ste::S1STALLD);  // IDR0.STALL_MODEL = 0b01: no stalls at all
  EXPECT_EQ(0u, s[2]);

  const auto c = bus.cd(s, 0);
  EXPECT_TRUE(c[0] & cd::V);
  EXPECT_EQ(16u, fget(cd::T0SZ, c[0]));
  EXPECT_EQ(0u, fget(cd::TG0, c[0]));
  EXPECT_EQ(1u, fget(cd::IRGN0, c[0]));
  EXPECT_EQ(1u, fget(cd::ORGN0, c[0]));
  EXPECT_EQ(3u, fget(cd::SH0, c[0]));
  EXPECT_TRUE(c[0] & cd::EPD1);
  EXPECT_FALSE(c[0] & cd::EPD0);
  EXPECT_EQ(5u, fget(cd::IPS, c[0]));
  EXPECT_TRUE(c[0] & cd::AA64);
  EXPECT_TRUE(c[0] & cd::R);
  EXPECT_TRUE(c[0] & cd::A);
  EXPECT_TRUE(c[0] & cd::ASET);
  EXPECT_FALSE(c[0] & (cd::HA | cd::HD | cd::S));
  EXPECT_EQ(1u, fget(cd::ASID, c[0]));
  EXPECT_TRUE(bus.allocs.count(c[1] & cd::TTB0_MASK));
  EXPECT_EQ(0x0000000004ff44ULL | (0xf4ULL << 24), c[3]);  // MAIR: NC, WBRWA, DEV, INC_OWBRWA

  // CFGI_CD (leaf) + CMD_SYNC, then the STE steps, each CFGI_STE + CMD_SYNC.
  const auto cfgi_cd = bus.cmds_of(cmd::CFGI_CD, before);
  ASSERT_FALSE(cfgi_cd.empty());
  EXPECT_EQ(0x42u, cmd_sid(cfgi_cd[0]));
  EXPECT_EQ(0u, fget(cmd::SSID, cfgi_cd[0].d[0]));
  EXPECT_TRUE(cmd_leaf(cfgi_cd[0]));
  size_t first_cd = 0, last_ste = 0;
  for (size_t i = before; i < bus.cmds.size(); i++) {
    if (bus.cmds[i].op() == cmd::CFGI_CD && !first_cd) first_cd = i;
    if (bus.cmds[i].op() == cmd::CFGI_STE) {
      last_ste = i;
      EXPECT_EQ(0x42u, cmd_sid(bus.cmds[i]));
      ASSERT_LT(i + 1, bus.cmds.size());
      EXPECT_EQ(cmd::SYNC, bus.cmds[i + 1].op());
    }
  }
  EXPECT_LT(first_cd, last_ste);
  EXPECT_EQ(cmd::PREFETCH_CFG, bus.cmds.back().op());
  EXPECT_TRUE(bus.cmds_of(cmd::ATC_INV, before).empty());
}

TEST_F(Smmuv3Driver, BlockedDomainAbortsAndClearsCd) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({7});
  iommu_domain *d = attach(dev);
  const auto s1 = ste(7);
  ASSERT_TRUE(bus.cd(s1, 0)[0] & cd::V);
  iommu_detach_group_handle(d, dev->group);  // back to the default (blocked) domain
  domains.back().first = nullptr;
  const auto s = ste(7);
  EXPECT_EQ(ste::V | fprep(ste::CFG, ste::CFG_ABORT), s[0]);
  for (int i = 1; i < 8; i++) EXPECT_EQ(0u, s[i]);
  EXPECT_FALSE(bus.cd(s1, 0)[0] & cd::V);
  // Identity: a bypass STE.
  ASSERT_EQ(0, drv->identity_domain()->attach_dev(*dev));
  EXPECT_EQ(ste::V | fprep(ste::CFG, ste::CFG_BYPASS), ste(7)[0]);
  ASSERT_EQ(0, drv->blocked_domain(*dev)->attach_dev(*dev));
}

TEST_F(Smmuv3Driver, AtsDeviceGetsEatsAndAnAtcFlush) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({9}, /*ats=*/true);
  const size_t before = bus.cmds.size();
  attach(dev);
  EXPECT_EQ(ste::EATS_TRANS, fget(ste::EATS, ste(9)[1]));
  const auto atc = bus.cmds_of(cmd::ATC_INV, before);
  ASSERT_EQ(1u, atc.size());
  EXPECT_EQ(9u, cmd_sid(atc[0]));
  EXPECT_EQ(cmd::ATC_INV_SIZE_ALL, fget(cmd::ATC_SIZE, atc[0].d[1]));
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
}

TEST_F(Smmuv3Driver, NestParentIsAStage2Domain) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({3, 4});
  iommu_domain *d = attach(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, /*user=*/true);
  ASSERT_NE(nullptr, d);
  for (uint32_t sid : {3u, 4u}) {
    const auto s = ste(sid);
    EXPECT_EQ(ste::V | fprep(ste::CFG, ste::CFG_S2_TRANS), s[0]);
    EXPECT_EQ(1u, fget(ste::S2VMID, s[2]));
    const uint64_t vtcr = fget(ste::VTCR, s[2]);
    EXPECT_EQ(16u, fget(ste::VTCR_S2T0SZ, vtcr));
    EXPECT_EQ(2u, fget(ste::VTCR_S2SL0, vtcr));  // start at level 0
    EXPECT_EQ(1u, fget(ste::VTCR_S2IR0, vtcr));
    EXPECT_EQ(1u, fget(ste::VTCR_S2OR0, vtcr));
    EXPECT_EQ(3u, fget(ste::VTCR_S2SH0, vtcr));
    EXPECT_EQ(0u, fget(ste::VTCR_S2TG, vtcr));
    EXPECT_EQ(5u, fget(ste::VTCR_S2PS, vtcr));
    EXPECT_TRUE(s[2] & ste::S2AA64);
    EXPECT_TRUE(s[2] & ste::S2PTW);
    EXPECT_TRUE(s[2] & ste::S2R);
    EXPECT_TRUE(bus.allocs.count(s[3] & ste::S2TTB_MASK));
  }
  // A stage-2 descriptor: S2AP, MemAttr, no nG.
  ASSERT_EQ(0, iommu_map(d, 0x10000, 0x100000000ULL, SZ_4K, IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE));
  const auto s = ste(3);
  const auto l = bus.walk(s[3] & ste::S2TTB_MASK, 16, 0x10000);
  EXPECT_EQ(0x100000000ULL | pte::TYPE_PAGE | pte::HAP_READ | pte::HAP_WRITE |
                pte::MEMATTR_OIWB | pte::SH_IS | pte::AF,
            l.pte);
  const size_t before = bus.cmds.size();
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0x10000, SZ_4K));
  const auto tlbi = bus.cmds_of(cmd::TLBI_S2_IPA, before);
  ASSERT_FALSE(tlbi.empty());
  EXPECT_EQ(1u, cmd_vmid(tlbi[0]));
}

TEST_F(Smmuv3Driver, DomainAllocUserRefusesWhatItCannotDo) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  auto r = drv->domain_alloc_user(*dev, 1u << 5, nullptr, nullptr);
  EXPECT_EQ(-EOPNOTSUPP, r.err());
  iommu_user_data data;
  r = drv->domain_alloc_user(*dev, 0, nullptr, &data);
  EXPECT_EQ(-EOPNOTSUPP, r.err());
  r = drv->domain_alloc_user(*dev, IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
                             nullptr, nullptr);
  EXPECT_EQ(-EOPNOTSUPP, r.err());
  TearDown();
  // Without stage 2 there is no nesting parent.
  bus.idr[0] &= ~uint32_t(idr0::S2P);
  ASSERT_EQ(0, probe());
  dev = add({1});
  r = drv->domain_alloc_user(*dev, IOMMU_HWPT_ALLOC_NEST_PARENT, nullptr, nullptr);
  EXPECT_EQ(-EOPNOTSUPP, r.err());
}

TEST_F(Smmuv3Driver, ReservedRegionIsTheSwMsiWindow) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  std::vector<iommu_resv_region> r;
  iommu_get_resv_regions(*dev, r);
  ASSERT_EQ(1u, r.size());
  EXPECT_EQ(0x8000000u, r[0].start);
  EXPECT_EQ(0x100000u, r[0].length);
  EXPECT_EQ(iommu_resv_region::kind::sw_msi, r[0].type);
  EXPECT_EQ(IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_MMIO, r[0].prot);
}

// ---------------------------------------------------------------------------
// Page tables

TEST_F(Smmuv3Driver, DescriptorBitsFollowProt) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  const uint64_t pa = 0x100003000ULL;
  const uint64_t attrs = pte::TYPE_PAGE | pte::AF | pte::nG;
  struct {
    int prot;
    uint64_t want;
  } cases[] = {
      {IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE, attrs | (1u << 2) | pte::AP_UNPRIV | pte::SH_IS},
      {IOMMU_READ | IOMMU_CACHE, attrs | (1u << 2) | pte::AP_UNPRIV | pte::AP_RDONLY | pte::SH_IS},
      {IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE | IOMMU_NOEXEC,
       attrs | (1u << 2) | pte::AP_UNPRIV | pte::SH_IS | pte::XN},
      {IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE | IOMMU_PRIV, attrs | (1u << 2) | pte::SH_IS},
      {IOMMU_READ | IOMMU_WRITE | IOMMU_MMIO, attrs | (2u << 2) | pte::AP_UNPRIV | pte::SH_OS},
      {IOMMU_READ | IOMMU_WRITE, attrs | pte::AP_UNPRIV | pte::SH_OS},
  };
  uint64_t iova = 0x100000;
  for (auto &c : cases) {
    ASSERT_EQ(0, iommu_map(d, iova, pa, SZ_4K, c.prot));
    const auto l = leaf(1, iova);
    EXPECT_EQ(3, l.level);
    EXPECT_EQ(pa | c.want, l.pte) << std::hex << "prot " << c.prot;
    iova += SZ_4K;
  }
  EXPECT_EQ(0x100003f47ULL, pa | cases[0].want);  // the classic RW+CACHE page
}

TEST_F(Smmuv3Driver, MapUsesBlocksWhereAlignmentAllows) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  const int prot = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
  // 2M block, then a 1G block, then a 4K page: IOVA and PA equally aligned.
  const uint64_t iova = SZ_1G - SZ_2M, pa = 0x100000000ULL + SZ_1G - SZ_2M;
  ASSERT_EQ(0, iommu_map(d, iova, pa, SZ_2M + SZ_1G + SZ_4K, prot));
  auto l = leaf(1, iova);
  EXPECT_EQ(2, l.level);
  EXPECT_EQ(pte::TYPE_BLOCK, l.pte & 3);
  EXPECT_EQ(pa, l.pte & pte::ADDR_MASK);
  l = leaf(1, SZ_1G);
  EXPECT_EQ(1, l.level);
  EXPECT_EQ((pa + SZ_2M) | pte::TYPE_BLOCK | pte::AF | pte::nG | pte::AP_UNPRIV | pte::SH_IS |
                (1u << 2),
            l.pte);
  l = leaf(1, 2 * SZ_1G);
  EXPECT_EQ(3, l.level);
  EXPECT_EQ(pa + SZ_2M + SZ_1G, l.pte & pte::ADDR_MASK);
  // iova_to_phys walks memory, offsets inside blocks included.
  EXPECT_EQ(pa + SZ_2M + 0x12345, iommu_iova_to_phys(d, SZ_1G + 0x12345));
  EXPECT_EQ(pa + 0x1000, iommu_iova_to_phys(d, iova + 0x1000));
  EXPECT_EQ(0u, iommu_iova_to_phys(d, 4 * SZ_1G));

  // Misaligned PA: 4K pages only, in one level-3 table per 2M of IOVA.
  const uint64_t tables_before = drv->stats().pgtable_pages;
  ASSERT_EQ(0, iommu_map(d, 8 * SZ_1G, 0x200001000ULL, SZ_2M, prot));
  for (uint64_t off = 0; off < SZ_2M; off += SZ_4K) {
    const auto p = leaf(1, 8 * SZ_1G + off);
    ASSERT_EQ(3, p.level) << off;
    ASSERT_EQ(0x200001000ULL + off, p.pte & pte::ADDR_MASK);
  }
  EXPECT_EQ(tables_before + 2, drv->stats().pgtable_pages);  // a level-2 and a level-3 table

  // Overlaps and impossible addresses.
  size_t mapped = 0;
  EXPECT_EQ(-EEXIST, d->map_pages(SZ_1G, 0x300000000ULL, SZ_4K, 1, prot, &mapped));
  EXPECT_EQ(-EEXIST, d->map_pages(8 * SZ_1G, 0x300000000ULL, SZ_2M, 1, prot, &mapped));
  EXPECT_EQ(-ERANGE, d->map_pages(1ULL << 48, 0x300000000ULL, SZ_4K, 1, prot, &mapped));
  EXPECT_EQ(-ERANGE, d->map_pages(0, 1ULL << 49, SZ_4K, 1, prot, &mapped));
  EXPECT_EQ(-EINVAL, d->map_pages(0, 0x300000000ULL, SZ_4K, 1, 0, &mapped));
  EXPECT_EQ(0u, mapped);
  EXPECT_EQ(SZ_2M, iommu_unmap(d, 8 * SZ_1G, SZ_2M));
  EXPECT_EQ(tables_before, drv->stats().pgtable_pages);
  iommu_unmap(d, iova, SZ_2M + SZ_1G + SZ_4K);
}

TEST_F(Smmuv3Driver, EmptyTablesAreFreedAfterAWalkInvalidation) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  const size_t allocs = bus.allocs.size();
  ASSERT_EQ(0, iommu_map(d, 0x7f0000000ULL, 0x100000000ULL, SZ_4K, IOMMU_READ));
  EXPECT_EQ(allocs + 3, bus.allocs.size());  // levels 1, 2 and 3
  const size_t before = bus.cmds.size();
  bus.frees.clear();
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0x7f0000000ULL, SZ_4K));
  EXPECT_EQ(allocs, bus.allocs.size());
  ASSERT_EQ(3u, bus.frees.size());
  // A non-leaf TLBI of the range and its CMD_SYNC were consumed before any
  // table page went back.
  size_t tlbi = 0, sync = 0;
  for (size_t i = before; i < bus.cmds.size(); i++) {
    if (bus.cmds[i].op() == cmd::TLBI_NH_VA && !tlbi) tlbi = i;
    if (bus.cmds[i].op() == cmd::SYNC && tlbi && !sync) sync = i;
  }
  ASSERT_TRUE(tlbi && sync);
  EXPECT_FALSE(cmd_leaf(bus.cmds[tlbi]));
  EXPECT_EQ(0x7f0000000ULL, cmd_addr(bus.cmds[tlbi]));
  for (auto &f : bus.frees) EXPECT_GT(f.ncmds, sync);
}

TEST_F(Smmuv3Driver, UnmapOfPartOfABlockSplitsIt) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, SZ_2M, 0x100200000ULL, SZ_2M, IOMMU_READ | IOMMU_WRITE));
  EXPECT_EQ(2, leaf(1, SZ_2M).level);
  EXPECT_EQ(SZ_4K, d->unmap_pages(SZ_2M + 5 * SZ_4K, SZ_4K, 1, nullptr));
  EXPECT_EQ(3, leaf(1, SZ_2M).level);
  EXPECT_EQ(0x100200000ULL + 4 * SZ_4K, iommu_iova_to_phys(d, SZ_2M + 4 * SZ_4K));
  EXPECT_EQ(0u, iommu_iova_to_phys(d, SZ_2M + 5 * SZ_4K));
  EXPECT_EQ(0x100200000ULL + 6 * SZ_4K + 8, iommu_iova_to_phys(d, SZ_2M + 6 * SZ_4K + 8));
  EXPECT_EQ(5 * SZ_4K, iommu_unmap(d, SZ_2M, 5 * SZ_4K));
  EXPECT_EQ(SZ_2M - 6 * SZ_4K, iommu_unmap(d, SZ_2M + 6 * SZ_4K, SZ_2M - 6 * SZ_4K));
}

TEST_F(Smmuv3Driver, AllocationFailuresUnwind) {
  ASSERT_EQ(0, probe());
  // add_device: the level-2 stream table.
  bus.fail_alloc_at = bus.nallocs;
  TestDevice a("a", {0x5000});
  EXPECT_EQ(-ENOMEM, drv->add_device(a));
  EXPECT_EQ(nullptr, a.iommu_priv);
  TestDevice *dev = add({0x5000});  // the StreamID is free again
  // Domain allocation: the PGD.
  bus.fail_alloc_at = bus.nallocs;
  EXPECT_EQ(-ENOMEM, iommu_paging_domain_alloc(*dev).err());
  // Attach: the CD table. The STE still aborts.
  auto r = iommu_paging_domain_alloc(*dev);
  ASSERT_FALSE(r.is_err());
  iommu_domain *d = r.get();
  domains.emplace_back(nullptr, d);
  const size_t cmds = bus.cmds.size();
  bus.fail_alloc_at = bus.nallocs;
  EXPECT_EQ(-ENOMEM, iommu_attach_group_handle(d, dev->group, nullptr));
  EXPECT_EQ(ste::V, ste(0x5000)[0]);
  EXPECT_EQ(cmds, bus.cmds.size());
  ASSERT_EQ(0, iommu_attach_group_handle(d, dev->group, nullptr));
  domains.back().first = dev;
  // Map: a table in the middle of a walk. The tables this walk installed go
  // again (after a walk invalidation), nothing is mapped.
  const size_t allocs = bus.allocs.size();
  bus.fail_alloc_at = bus.nallocs + 1;  // the level-1 table succeeds, level 2 fails
  EXPECT_EQ(-ENOMEM, iommu_map(d, 0x40000000, 0x100000000ULL, SZ_4K, IOMMU_READ));
  EXPECT_EQ(allocs, bus.allocs.size());
  EXPECT_EQ(0u, iommu_iova_to_phys(d, 0x40000000));
  ASSERT_EQ(0, iommu_map(d, 0x40000000, 0x100000000ULL, SZ_4K, IOMMU_READ));
  EXPECT_EQ(0x100000000ULL, iommu_iova_to_phys(d, 0x40000000));
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0x40000000, SZ_4K));
}

// ---------------------------------------------------------------------------
// Invalidation

TEST_F(Smmuv3Driver, UnmapInvalidatesEachPageThenSyncs) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0x40000, 0x100040000ULL, 8 * SZ_4K, IOMMU_READ | IOMMU_WRITE));
  const size_t before = bus.cmds.size();
  EXPECT_EQ(3 * SZ_4K, iommu_unmap(d, 0x42000, 3 * SZ_4K));
  // Three leaf TLBI_NH_VA for ASID 1, then one CMD_SYNC, all consumed.
  ASSERT_EQ(before + 4, bus.cmds.size());
  for (int i = 0; i < 3; i++) {
    const auto &c = bus.cmds[before + size_t(i)];
    EXPECT_EQ(cmd::TLBI_NH_VA, c.op());
    EXPECT_EQ(1u, cmd_asid(c));
    EXPECT_EQ(0u, cmd_vmid(c));
    EXPECT_TRUE(cmd_leaf(c));
    EXPECT_EQ(0x42000u + uint64_t(i) * SZ_4K, cmd_addr(c));
  }
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
}

TEST_F(Smmuv3Driver, RangeInvalidationWhenTheSmmuHasIt) {
  bus.idr[3] = uint32_t(idr3::RIL);
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0x40000, 0x100040000ULL, 8 * SZ_4K, IOMMU_READ | IOMMU_WRITE));
  const size_t before = bus.cmds.size();
  EXPECT_EQ(5 * SZ_4K, iommu_unmap(d, 0x40000, 5 * SZ_4K));
  ASSERT_EQ(before + 2, bus.cmds.size());
  const auto &c = bus.cmds[before];
  EXPECT_EQ(cmd::TLBI_NH_VA, c.op());
  EXPECT_EQ(4u, fget(cmd::TLBI_NUM, c.d[0]));   // 5 pages
  EXPECT_EQ(0u, fget(cmd::TLBI_SCALE, c.d[0]));
  EXPECT_EQ(3u, fget(cmd::TLBI_TTL, c.d[1]));   // level-3 leaves
  EXPECT_EQ(1u, fget(cmd::TLBI_TG, c.d[1]));    // 4 KiB granule
  EXPECT_EQ(0x40000u, cmd_addr(c));
}

TEST_F(Smmuv3Driver, BigRangesInvalidateTheWholeAsid) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  // 4K pages (PA misaligned) over 4 MiB + 4 KiB; unmap 4 MiB but keep a page.
  ASSERT_EQ(0, iommu_map(d, 0, 0x100001000ULL, 1024 * SZ_4K + SZ_4K, IOMMU_READ));
  const size_t before = bus.cmds.size();
  EXPECT_EQ(1024 * SZ_4K, iommu_unmap(d, 0, 1024 * SZ_4K));
  EXPECT_TRUE(bus.cmds_of(cmd::TLBI_NH_VA, before).empty());
  const auto all = bus.cmds_of(cmd::TLBI_NH_ASID, before);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(1u, cmd_asid(all[0]));
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
  EXPECT_EQ(0x100001000ULL + 1024 * SZ_4K, iommu_iova_to_phys(d, 1024 * SZ_4K));
}

TEST_F(Smmuv3Driver, AtsDeviceGetsAtcInvalidationAfterTheTlb) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x33}, /*ats=*/true);
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0x8000, 0x100008000ULL, 4 * SZ_4K, IOMMU_READ | IOMMU_WRITE));
  const size_t before = bus.cmds.size();
  EXPECT_EQ(2 * SZ_4K, iommu_unmap(d, 0x9000, 2 * SZ_4K));
  // TLBI x2, SYNC, ATC_INV, SYNC.
  ASSERT_EQ(before + 5, bus.cmds.size());
  EXPECT_EQ(cmd::SYNC, bus.cmds[before + 2].op());
  const auto &atc = bus.cmds[before + 3];
  EXPECT_EQ(cmd::ATC_INV, atc.op());
  EXPECT_EQ(0x33u, cmd_sid(atc));
  EXPECT_FALSE(atc.d[0] & cmd::SSV);
  // Pages 9 and 10 (0x9000-0xafff): the smallest aligned span is [8, 11].
  EXPECT_EQ(2u, fget(cmd::ATC_SIZE, atc.d[1]));
  EXPECT_EQ(0x8000u, atc.d[1] & cmd::ATC_ADDR_MASK);
  EXPECT_EQ(cmd::SYNC, bus.cmds[before + 4].op());
}

TEST_F(Smmuv3Driver, FreeingADomainInvalidatesItsAsidBeforeReuse) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  auto r = iommu_paging_domain_alloc(*dev);
  ASSERT_FALSE(r.is_err());
  const size_t before = bus.cmds.size();
  iommu_domain_free(r.get());
  const auto inv = bus.cmds_of(cmd::TLBI_NH_ASID, before);
  ASSERT_EQ(1u, inv.size());
  EXPECT_EQ(1u, cmd_asid(inv[0]));
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
  iommu_domain *d = attach(dev);
  EXPECT_EQ(1u, fget(cd::ASID, bus.cd(ste(1), 0)[0]));  // ASID 1 again
  (void)d;
}

// ---------------------------------------------------------------------------
// Command queue robustness

TEST_F(Smmuv3Driver, BatchLargerThanTheQueueIsWrittenInPieces) {
  cfg.cmdq_log2 = 4;  // 16 entries
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0, 0x100000000ULL, 100 * SZ_4K, IOMMU_READ));
  const size_t before = bus.cmds.size();
  EXPECT_EQ(99 * SZ_4K, iommu_unmap(d, 0, 99 * SZ_4K));
  EXPECT_EQ(99u, bus.cmds_of(cmd::TLBI_NH_VA, before).size());
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
  EXPECT_EQ(0u, drv->stats().sync_timeouts);
}

TEST_F(Smmuv3Driver, IllegalCommandIsSkippedByTheWaiter) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0, 0x100000000ULL, 2 * SZ_4K, IOMMU_READ));
  bus.illegal_once = {cmd::TLBI_NH_VA};
  const size_t before = bus.cmds.size();
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0, SZ_4K));
  // The TLBI became a CMD_SYNC without MSI; the real CMD_SYNC completed.
  ASSERT_EQ(before + 2, bus.cmds.size());
  EXPECT_EQ(cmd::SYNC, bus.cmds[before].op());
  EXPECT_EQ(unsigned(cmd::SYNC_CS_SEV), fget(cmd::SYNC_CS, bus.cmds[before].d[0]));
  EXPECT_EQ(cmd::SYNC, bus.cmds[before + 1].op());
  const auto st = drv->stats();
  EXPECT_EQ(1u, st.cmdq_errors);
  EXPECT_EQ(1u, st.cmdq_illegal);
  EXPECT_EQ(0u, st.sync_timeouts);
  EXPECT_EQ(bus.gerror, bus.reg(reg::GERRORN));  // acknowledged
  EXPECT_EQ(0u, bus.cons_err);
  // Work goes on.
  EXPECT_EQ(SZ_4K, iommu_unmap(d, SZ_4K, SZ_4K));
}

TEST_F(Smmuv3Driver, GerrorInterruptRecoversTheCommandQueue) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({5});
  // A CMD_RESUME is issued without CMD_SYNC: nobody waits on the queue.
  bus.illegal_once = {cmd::RESUME};
  iopf_fault f;
  f.prm.private_data[0] = 5;
  f.prm.private_data[1] = 2;  // a stalled transaction
  iommu_page_response resp;
  resp.grpid = 7;
  drv->page_response(*dev, f, resp);
  ASSERT_EQ(unsigned(CERROR_ILL), bus.cons_err);
  ASSERT_TRUE(bus.gerror & gerror::CMDQ_ERR);
  const size_t before = bus.cmds.size();
  bus.fire(cfg.irq_gerror);
  EXPECT_EQ(0u, bus.cons_err);
  EXPECT_EQ(bus.gerror, bus.reg(reg::GERRORN));
  ASSERT_EQ(before + 1, bus.cmds.size());
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
  EXPECT_EQ(1u, drv->stats().cmdq_illegal);
  EXPECT_EQ(1u, drv->stats().gerrors);
}

TEST_F(Smmuv3Driver, FetchAbortAndAtcTimeoutAreRetried) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x21}, /*ats=*/true);
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0, 0x100000000ULL, 2 * SZ_4K, IOMMU_READ));
  bus.abort_once = {cmd::TLBI_NH_VA};
  bus.atc_sync_timeout_once = true;
  const size_t before = bus.cmds.size();
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0, SZ_4K));
  // Nothing skipped: TLBI, SYNC, ATC_INV, SYNC.
  ASSERT_EQ(before + 4, bus.cmds.size());
  EXPECT_EQ(cmd::TLBI_NH_VA, bus.cmds[before].op());
  EXPECT_EQ(cmd::ATC_INV, bus.cmds[before + 2].op());
  EXPECT_EQ(cmd::SYNC, bus.cmds[before + 3].op());
  const auto st = drv->stats();
  EXPECT_EQ(1u, st.cmdq_abort);
  EXPECT_EQ(1u, st.cmdq_atc_timeout);
  EXPECT_EQ(0u, st.cmdq_illegal);
}

TEST_F(Smmuv3Driver, SyncTimeoutIsReportedNotFatal) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);
  ASSERT_EQ(0, iommu_map(d, 0, 0x100000000ULL, 2 * SZ_4K, IOMMU_READ));
  bus.consume = false;
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0, SZ_4K));
  EXPECT_EQ(1u, drv->stats().sync_timeouts);
  EXPECT_GE(bus.now, 1000000000u);  // waited the full second of simulated time
  bus.consume = true;
  bus.writel(kBase + reg::CMDQ_PROD, uint32_t(bus.reg(reg::CMDQ_PROD)));  // the SMMU catches up
  EXPECT_EQ(SZ_4K, iommu_unmap(d, SZ_4K, SZ_4K));
  EXPECT_EQ(1u, drv->stats().sync_timeouts);
}

TEST_F(Smmuv3Driver, ServiceFailureModeDisablesTheSmmu) {
  ASSERT_EQ(0, probe());
  bus.gerror ^= gerror::SFM_ERR;
  bus.fire(cfg.irq_gerror);
  EXPECT_EQ(0u, bus.reg(reg::CR0));
  EXPECT_EQ(1u, drv->stats().sfm);
  EXPECT_EQ(bus.gerror, bus.reg(reg::GERRORN));
  TestDevice *dev = add({1});
  iommu_domain *d = attach(dev);  // no hardware, no crash
  ASSERT_NE(nullptr, d);
  ASSERT_EQ(0, iommu_map(d, 0, 0x100000000ULL, SZ_4K, IOMMU_READ));
  EXPECT_EQ(SZ_4K, iommu_unmap(d, 0, SZ_4K));
  EXPECT_EQ(0u, drv->stats().sync_timeouts);
}

// ---------------------------------------------------------------------------
// Event queue

TEST_F(Smmuv3Driver, EventQueueIsDrainedAndCounted) {
  ASSERT_EQ(0, probe());
  add({0x51});
  const uint64_t base = bus.reg(reg::EVTQ_BASE) & q::BASE_ADDR_MASK;
  for (uint32_t i = 0; i < 3; i++) {
    const uint64_t rec[4] = {fprep(evt::ID, evt::F_TRANSLATION) | fprep(evt::SID, 0x51),
                             evt::RnW, 0x1000u + i * 0x1000, 0};
    bus.mem_write(base + i * 32, rec, 32);
  }
  bus.evtq_prod = 3;
  bus.fire(cfg.irq_eventq);
  EXPECT_EQ(3u, bus.reg(reg::PAGE1 + reg::EVTQ_CONS));
  EXPECT_EQ(3u, drv->stats().events);
  const auto ev = drv->recent_events();
  ASSERT_EQ(3u, ev.size());
  EXPECT_EQ(evt::F_TRANSLATION, ev[2].id);
  EXPECT_EQ(0x51u, ev[2].sid);
  EXPECT_EQ(0x3000u, ev[2].addr);
  EXPECT_FALSE(log.empty());

  // Overflow: reported, and acknowledged in CONS.OVACKFLG once drained.
  bus.evtq_prod = 3 | q::OVERFLOW_FLAG;
  bus.fire(cfg.irq_eventq);
  EXPECT_EQ(1u, drv->stats().evtq_overflows);
  EXPECT_EQ(3u | q::OVERFLOW_FLAG, bus.reg(reg::PAGE1 + reg::EVTQ_CONS));
}

TEST_F(Smmuv3Driver, StalledTransactionWithoutHandlerIsTerminated) {
  ASSERT_EQ(0, probe());
  add({0x52});
  const uint64_t base = bus.reg(reg::EVTQ_BASE) & q::BASE_ADDR_MASK;
  const uint64_t rec[4] = {fprep(evt::ID, evt::F_PERMISSION) | fprep(evt::SID, 0x52),
                           evt::STALL | fprep(evt::STAG, 0x77), 0x5000, 0};
  bus.mem_write(base, rec, 32);
  bus.evtq_prod = 1;
  const size_t before = bus.cmds.size();
  bus.fire(cfg.irq_eventq);
  const auto res = bus.cmds_of(cmd::RESUME, before);
  ASSERT_EQ(1u, res.size());
  EXPECT_EQ(0x52u, cmd_sid(res[0]));
  EXPECT_EQ(0x77u, fget(cmd::RESUME_STAG, res[0].d[1]));
  EXPECT_EQ(unsigned(cmd::RESUME_ABORT), fget(cmd::RESUME_RESP, res[0].d[0]));
}

// ---------------------------------------------------------------------------
// Stalls

TEST_F(Smmuv3Driver, StallModelDecidesStalldAndCdS) {
  // Stalls supported but not forced: a master that cannot stall must not.
  bus.idr[0] = uint32_t((bus.idr[0] & ~idr0::STALL_MODEL) |
                        fprep(idr0::STALL_MODEL, idr0::STALL_MODEL_STALL));
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  attach(dev);
  EXPECT_EQ(ste::S1STALLD, ste(1)[1] & ste::S1STALLD);
  EXPECT_FALSE(bus.cd(ste(1), 0)[0] & cd::S);
  EXPECT_EQ(-EINVAL, drv->dev_enable_iopf(*dev));
}

TEST_F(Smmuv3Driver, ForcedStallsBecomePageFaultsAnsweredByResume) {
  bus.idr[0] = uint32_t((bus.idr[0] & ~idr0::STALL_MODEL) |
                        fprep(idr0::STALL_MODEL, idr0::STALL_MODEL_FORCE));
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x90});
  iommu_domain *d = attach(dev);
  EXPECT_EQ(0u, ste(0x90)[1] & ste::S1STALLD);
  EXPECT_TRUE(bus.cd(ste(0x90), 0)[0] & cd::S);
  // A fault handler that answers at once.
  static std::vector<iopf_group *> seen;
  seen.clear();
  d->iopf_handler = [](iopf_group *g) {
    seen.push_back(g);
    iopf_group_response(g, iommu_page_response_code::success);
    iopf_free_group(g);
    return 0;
  };
  iommu_attach_handle handle;
  handle.domain = d;
  dev->group->pasid_array[IOMMU_NO_PASID] = &handle;
  ASSERT_EQ(0, iommu_dev_enable_iopf(*dev));

  const uint64_t base = bus.reg(reg::EVTQ_BASE) & q::BASE_ADDR_MASK;
  const uint64_t rec[4] = {fprep(evt::ID, evt::F_TRANSLATION) | fprep(evt::SID, 0x90),
                           evt::STALL | evt::RnW | fprep(evt::STAG, 0x3c), 0xabc000, 0};
  bus.mem_write(base, rec, 32);
  bus.evtq_prod = 1;
  const size_t before = bus.cmds.size();
  bus.fire(cfg.irq_eventq);
  ASSERT_EQ(1u, seen.size());
  EXPECT_EQ(1u, drv->stats().stall_faults);
  const auto res = bus.cmds_of(cmd::RESUME, before);
  ASSERT_EQ(1u, res.size());
  EXPECT_EQ(0x90u, cmd_sid(res[0]));
  EXPECT_EQ(0x3cu, fget(cmd::RESUME_STAG, res[0].d[1]));
  EXPECT_EQ(unsigned(cmd::RESUME_RETRY), fget(cmd::RESUME_RESP, res[0].d[0]));
  iommu_dev_disable_iopf(*dev);
  dev->group->pasid_array.erase(IOMMU_NO_PASID);
  d->iopf_handler = nullptr;
}

// ---------------------------------------------------------------------------
// PRI without a fault handler

TEST_F(Smmuv3Driver, PageRequestWithoutIopfIsDenied) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x60}, true, true);
  EXPECT_EQ(-EINVAL, drv->dev_enable_iopf(*add({0x61})));  // not PRI-capable
  const uint64_t base = bus.reg(reg::PRIQ_BASE) & q::BASE_ADDR_MASK;
  const uint64_t rec[2] = {fprep(priq::SID, 0x60) | priq::PERM_READ | priq::PRG_LAST,
                           fprep(priq::PRG_IDX, 0x1a5) | 0x7000};
  bus.mem_write(base, rec, 16);
  bus.priq_prod = 1;
  const size_t before = bus.cmds.size();
  bus.fire(cfg.irq_priq);
  EXPECT_EQ(1u, bus.reg(reg::PAGE1 + reg::PRIQ_CONS));
  const auto resp = bus.cmds_of(cmd::PRI_RESP, before);
  ASSERT_EQ(1u, resp.size());
  EXPECT_EQ(0x60u, cmd_sid(resp[0]));
  EXPECT_EQ(0x1a5u, fget(cmd::PRI_GRPID, resp[0].d[1]));
  EXPECT_EQ(unsigned(cmd::PRI_RESP_DENY), fget(cmd::PRI_RESP_FIELD, resp[0].d[1]));
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
  EXPECT_EQ(0, drv->dev_enable_iopf(*dev));
  EXPECT_EQ(-EBUSY, drv->dev_enable_iopf(*dev));
  drv->dev_disable_iopf(*dev);
}

// ---------------------------------------------------------------------------
// Dirty tracking (driver level)

TEST_F(Smmuv3Driver, DirtyReadAndClearFollowsDbmAndAp2) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  EXPECT_TRUE(device_iommu_capable(*dev, iommu_cap::dirty_tracking));
  iommu_domain *d = attach(dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, /*user=*/true);
  ASSERT_NE(nullptr, d);
  EXPECT_TRUE(d->has_dirty_ops);
  const auto c = bus.cd(ste(1), 0);
  EXPECT_EQ(cd::HA | cd::HD, c[0] & (cd::HA | cd::HD));
  const int rw = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
  ASSERT_EQ(0, iommu_map(d, 0x10000, 0x100010000ULL, 4 * SZ_4K, rw));
  ASSERT_EQ(0, iommu_map(d, 0x20000, 0x100020000ULL, SZ_4K, IOMMU_READ | IOMMU_CACHE));
  ASSERT_EQ(0, iommu_map(d, SZ_2M, 0x100200000ULL, SZ_2M, rw));
  // Mapped writeable-dirty (DBM, AP[2] clear); read-only has no DBM.
  EXPECT_EQ(pte::DBM, leaf(1, 0x10000).pte & (pte::DBM | pte::AP_RDONLY));
  EXPECT_EQ(pte::AP_RDONLY, leaf(1, 0x20000).pte & (pte::DBM | pte::AP_RDONLY));

  // Enabling makes every writeable leaf writeable-clean, then TLBI the ASID.
  size_t before = bus.cmds.size();
  ASSERT_EQ(0, d->set_dirty_tracking(true));
  for (uint64_t iova : {uint64_t(0x10000), uint64_t(0x13000), SZ_2M})
    EXPECT_EQ(pte::DBM | pte::AP_RDONLY, leaf(1, iova).pte & (pte::DBM | pte::AP_RDONLY));
  EXPECT_EQ(pte::AP_RDONLY, leaf(1, 0x20000).pte & (pte::DBM | pte::AP_RDONLY));
  EXPECT_EQ(1u, bus.cmds_of(cmd::TLBI_NH_ASID, before).size());

  // The SMMU writes through two descriptors (HTTU clears AP[2]).
  for (uint64_t iova : {uint64_t(0x11000), SZ_2M}) {
    const auto l = leaf(1, iova);
    bus.set_mem64(l.ptep, l.pte & ~pte::AP_RDONLY);
  }
  iommu_iotlb_gather g;
  iommu_dirty_bitmap dirty;
  dirty.gather = &g;
  ASSERT_EQ(0, d->read_and_clear_dirty(0x10000, 4 * SZ_4K, IOMMU_DIRTY_NO_CLEAR, dirty));
  EXPECT_EQ(0x11000u, g.start);
  EXPECT_EQ(0x11fffu, g.end);
  EXPECT_EQ(pte::DBM, leaf(1, 0x11000).pte & (pte::DBM | pte::AP_RDONLY));  // still dirty
  g = iommu_iotlb_gather{};
  ASSERT_EQ(0, d->read_and_clear_dirty(0x10000, 2 * SZ_2M - 0x10000, 0, dirty));
  EXPECT_EQ(0x11000u, g.start);
  EXPECT_EQ(2 * SZ_2M - 1, g.end);  // the 2M block is dirty as a whole
  EXPECT_EQ(pte::DBM | pte::AP_RDONLY, leaf(1, 0x11000).pte & (pte::DBM | pte::AP_RDONLY));
  EXPECT_EQ(pte::DBM | pte::AP_RDONLY, leaf(1, SZ_2M).pte & (pte::DBM | pte::AP_RDONLY));
  // The core syncs the gathered range: leaf TLBIs, then CMD_SYNC.
  before = bus.cmds.size();
  d->iotlb_sync(g);
  EXPECT_FALSE(bus.cmds_of(cmd::TLBI_NH_VA, before).empty() &&
               bus.cmds_of(cmd::TLBI_NH_ASID, before).empty());
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
  iommu_unmap(d, 0x10000, 4 * SZ_4K);
  iommu_unmap(d, 0x20000, SZ_4K);
  iommu_unmap(d, SZ_2M, SZ_2M);
}

TEST_F(Smmuv3Driver, NoDirtyTrackingWithoutHttuDirty) {
  bus.idr[0] = uint32_t((bus.idr[0] & ~idr0::HTTU) | fprep(idr0::HTTU, idr0::HTTU_ACCESS));
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({1});
  EXPECT_FALSE(device_iommu_capable(*dev, iommu_cap::dirty_tracking));
  EXPECT_TRUE(device_iommu_capable(*dev, iommu_cap::cache_coherency));
  auto r = drv->domain_alloc_user(*dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, nullptr, nullptr);
  EXPECT_EQ(-EOPNOTSUPP, r.err());
}

// ---------------------------------------------------------------------------
// Through the iommufd core, as a program sees it (the device is bound the way
// VFIO binds it).

class Smmuv3DriverUapi : public DriverUapiFixture<Smmuv3Driver> {};

TEST_F(Smmuv3DriverUapi, GetHwInfoReportsTheIdRegisters) {
  bus.idr[3] = uint32_t(idr3::RIL);
  ASSERT_EQ(0, probe());
  const uint32_t dev_id = bind(add({0x70}));
  iommu_hw_info_arm_smmuv3 info;
  memset(&info, 0xa5, sizeof(info));
  iommu_hw_info cmd = {};
  cmd.size = sizeof(cmd);
  cmd.dev_id = dev_id;
  cmd.data_len = sizeof(info);
  cmd.data_uptr = reinterpret_cast<uint64_t>(&info);
  ASSERT_EQ(0, fd.ioctl(IOMMU_GET_HW_INFO, &cmd));
  EXPECT_EQ(uint32_t(IOMMU_HW_INFO_TYPE_ARM_SMMUV3), cmd.out_data_type);
  EXPECT_EQ(sizeof(info), cmd.data_len);
  EXPECT_EQ(40u, sizeof(info));
  EXPECT_TRUE(cmd.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING);
  // The bytes: flags, reserved, IDR0-5, IIDR, AIDR, little-endian u32s.
  uint32_t want[10] = {0, 0, bus.idr[0], bus.idr[1], bus.idr[2], bus.idr[3], bus.idr[4],
                       bus.idr[5], bus.iidr, bus.aidr};
  EXPECT_EQ(0, memcmp(want, &info, sizeof(want)));

  // Asked for another type: EOPNOTSUPP.
  cmd = {};
  cmd.size = sizeof(cmd);
  cmd.dev_id = dev_id;
  cmd.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
  cmd.in_data_type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
  cmd.data_len = sizeof(info);
  cmd.data_uptr = reinterpret_cast<uint64_t>(&info);
  EXPECT_EQ(EOPNOTSUPP, fd.ioctl(IOMMU_GET_HW_INFO, &cmd));
  cmd.in_data_type = IOMMU_HW_INFO_TYPE_ARM_SMMUV3;
  EXPECT_EQ(0, fd.ioctl(IOMMU_GET_HW_INFO, &cmd));
}

TEST_F(Smmuv3DriverUapi, IoasMapLandsInTheDomainsTables) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x71});
  const uint32_t dev_id = bind(dev);
  const uint32_t ioas = fd.ioas();
  ASSERT_EQ(0, attach_pt(0, ioas));
  EXPECT_EQ(ste::CFG_S1_TRANS, fget(ste::CFG, ste(0x71)[0]));
  Buffer buf(16 * kPage);
  buf.fill(1);
  uint64_t iova = 0;
  ASSERT_EQ(0, fd.map(ioas, buf.get(), buf.size(), &iova));
  for (uint64_t off = 0; off < buf.size(); off += kPage) {
    const auto l = leaf(0x71, iova + off);
    ASSERT_GE(l.level, 1) << off;
    EXPECT_TRUE(l.pte & pte::AF);
  }
  // The SW MSI window is reserved in the IOAS.
  EXPECT_EQ(EINVAL, fd.map_fixed(ioas, buf.get(), kPage, 0x8000000));
  EXPECT_EQ(0, fd.map_fixed(ioas, buf.get(), kPage, 0x8100000));
  ASSERT_EQ(0, fd.unmap(ioas, 0x8100000, kPage));
  const size_t before = bus.cmds.size();
  ASSERT_EQ(0, fd.unmap(ioas, iova, buf.size()));
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
  EXPECT_GT(bus.cmds.size(), before);
  EXPECT_EQ(-1, leaf(0x71, iova).level);
  (void)dev_id;
}

TEST_F(Smmuv3DriverUapi, DirtyBitmapThroughTheCore) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x72});
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
  // Everything clean after enabling; the SMMU then writes page 3.
  for (uint64_t off = 0; off < buf.size(); off += kPage)
    ASSERT_EQ(pte::DBM | pte::AP_RDONLY, leaf(0x72, iova + off).pte & (pte::DBM | pte::AP_RDONLY));
  auto l = leaf(0x72, iova + 3 * kPage);
  bus.set_mem64(l.ptep, l.pte & ~pte::AP_RDONLY);
  uint8_t bitmap[8] = {};
  ASSERT_EQ(0, get_dirty_bitmap(fd, hwpt, iova, buf.size(), kPage, bitmap,
                                IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR));
  EXPECT_EQ(0x08, bitmap[0]);
  memset(bitmap, 0, sizeof(bitmap));
  const size_t before = bus.cmds.size();
  ASSERT_EQ(0, get_dirty_bitmap(fd, hwpt, iova, buf.size(), kPage, bitmap, 0));
  EXPECT_EQ(0x08, bitmap[0]);
  EXPECT_EQ(pte::AP_RDONLY, leaf(0x72, iova + 3 * kPage).pte & pte::AP_RDONLY);
  // Cleaning is followed by a TLBI of what was cleaned and a CMD_SYNC.
  const auto tlbi = bus.cmds_of(cmd::TLBI_NH_VA, before);
  ASSERT_EQ(1u, tlbi.size());
  EXPECT_EQ(iova + 3 * kPage, cmd_addr(tlbi[0]));
  EXPECT_EQ(cmd::SYNC, bus.cmds.back().op());
  memset(bitmap, 0, sizeof(bitmap));
  ASSERT_EQ(0, get_dirty_bitmap(fd, hwpt, iova, buf.size(), kPage, bitmap, 0));
  EXPECT_EQ(0, bitmap[0]);
  ASSERT_EQ(0, fd.unmap(ioas, iova, buf.size()));
}

TEST_F(Smmuv3DriverUapi, PageRequestsReachTheFaultQueueAndTheResponseTheSmmu) {
  ASSERT_EQ(0, probe());
  TestDevice *dev = add({0x80}, /*ats=*/true, /*pri=*/true);
  const uint32_t dev_id = bind(dev);
  const uint32_t ioas = fd.ioas();
  uint32_t fault_id = 0, hwpt = 0;
  ASSERT_EQ(0, fault_alloc(fd, &fault_id, &ffd));
  // A fault-capable paging HWPT (our extension of 6.12, which takes
  // IOMMU_HWPT_FAULT_ID_VALID only for nested HWPTs; SMMUv3 has none in 6.12).
  // With NEST_PARENT it stays EOPNOTSUPP, as in 6.12.
  EXPECT_EQ(EOPNOTSUPP, fd.hwpt_alloc(dev_id, ioas, IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_NEST_PARENT,
                                      &hwpt, IOMMU_HWPT_DATA_NONE, nullptr, 0, fault_id));
  ASSERT_EQ(0, fd.hwpt_alloc(dev_id, ioas, IOMMU_HWPT_FAULT_ID_VALID, &hwpt, IOMMU_HWPT_DATA_NONE, nullptr,
                             0, fault_id));
  ASSERT_EQ(0, attach_pt(0, hwpt));  // enables IOPF (PRI) on the device

  // Two page requests of PRG 0x12, the second the last of its group.
  const uint64_t base = bus.reg(reg::PRIQ_BASE) & q::BASE_ADDR_MASK;
  const uint64_t recs[4] = {
      fprep(priq::SID, 0x80) | priq::PERM_READ, fprep(priq::PRG_IDX, 0x12) | 0x40000,
      fprep(priq::SID, 0x80) | priq::PERM_READ | priq::PERM_WRITE | priq::PRG_LAST,
      fprep(priq::PRG_IDX, 0x12) | 0x41000};
  bus.mem_write(base, recs, sizeof(recs));
  bus.priq_prod = 2;
  bus.fire(cfg.irq_priq);
  EXPECT_EQ(2u, bus.reg(reg::PAGE1 + reg::PRIQ_CONS));
  EXPECT_EQ(2u, drv->stats().pri_requests);

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

  const size_t before = bus.cmds.size();
  iommu_hwpt_page_response r = {f[1].cookie, IOMMUFD_PAGE_RESP_SUCCESS};
  ASSERT_EQ(ssize_t(sizeof(r)), iommusim_write(ffd, &r, sizeof(r)));
  ASSERT_EQ(before + 2, bus.cmds.size());
  const auto &resp = bus.cmds[before];
  EXPECT_EQ(cmd::PRI_RESP, resp.op());
  EXPECT_EQ(0x80u, cmd_sid(resp));
  EXPECT_FALSE(resp.d[0] & cmd::SSV);
  EXPECT_EQ(0x12u, fget(cmd::PRI_GRPID, resp.d[1]));
  EXPECT_EQ(unsigned(cmd::PRI_RESP_SUCC), fget(cmd::PRI_RESP_FIELD, resp.d[1]));
  EXPECT_EQ(cmd::SYNC, bus.cmds[before + 1].op());
  EXPECT_EQ(1u, drv->stats().pri_responses);
}

}  // namespace
}  // namespace iommusim::test
