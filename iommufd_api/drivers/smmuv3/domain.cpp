// SPDX-License-Identifier: MIT
// Domains: attaching a device (STE and CD 0, with ATS sequencing), map and
// unmap through the page table, and TLB/ATC invalidation (SMMUv3 spec §4.4
// TLB invalidation, §4.5 ATC invalidation, §3.21 maintenance sequences).
//
// An attach follows Linux's prepare / install / commit:
//  - prepare: the master joins the new domain's device list first, so both
//    the old and the new domain send it ATC invalidations during the switch;
//  - install: CD 0 (stage 1) then the STE (STE.EATS = Trans only for a
//    paging domain and an ATS-capable device), each step invalidated with
//    CFGI_CD / CFGI_STE and a CMD_SYNC;
//  - commit: ATC_INV of the whole ATC when ATS turns on or off (or of the
//    substream when it stays on), then leave the old domain's list.
// No TLBI is needed at attach: TLB entries are tagged by ASID/VMID, and a
// domain's ASID/VMID is invalidated before it is freed and reused.
#include <algorithm>
#include <cerrno>
#include <vector>

#include "core/log.h"
#include "drivers/smmuv3/smmuv3_internal.h"
#include "iommusim/iommufd.h"

namespace iommusim::iommufd::smmuv3 {

namespace {
// More per-granule TLBIs than this and one TLBI of the whole context is
// cheaper (Linux's CMDQ_MAX_TLBI_OPS, used for SVA ranges and by later
// kernels for every domain without range invalidation).
constexpr uint64_t MAX_TLBI_OPS = 1u << (12 - 3);
// The input size of stage-1 domains (Linux: min(VA_BITS, 48 or 52 with VAX)).
constexpr unsigned VA_BITS = 48;
}  // namespace

// --- paging domains: creation and destruction ---

smmu_domain::smmu_domain(smmuv3_driver *drv) {
  owner = drv;
  type = iommu_domain_type::paging;
}

int smmu_domain::finalise(smmuv3_driver &drv, uint32_t flags) {
  const bool want_dirty = flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
  // What the SMMU can do decides the stage.
  if (!(drv.features_ & FEAT_TRANS_S1)) st = stage::s2;
  if (!(drv.features_ & FEAT_TRANS_S2)) st = stage::s1;
  io_pgtable_cfg cfg;
  cfg.pgsize_bitmap = drv.pgsize_bitmap;
  cfg.coherent_walk = drv.features_ & FEAT_COHERENCY;
  if (st == stage::s1) {
    cfg.ias = std::min((drv.features_ & FEAT_VAX) ? 52u : 48u, VA_BITS);
    cfg.oas = drv.ias_;
    if (want_dirty) {
      if (!drv.dbm_capable()) return -EOPNOTSUPP;
      cfg.hd = true;
    }
  } else {
    if (want_dirty) return -EOPNOTSUPP;  // dirty tracking is a stage-1 feature here
    cfg.stage2 = true;
    cfg.ias = drv.ias_;
    cfg.oas = drv.oas_;
  }
  pgtbl = io_pgtable::alloc(
      drv.bus_, cfg,
      [this](uint64_t iova, uint64_t size) { tlb_inv_range(iova, size, 4096, false); },
      &drv.cnt_->pgtable_pages);
  if (!pgtbl) return -ENOMEM;
  int rc = st == stage::s1 ? drv.asid_alloc(&asid) : drv.vmid_alloc(&vmid);
  if (rc) {
    pgtbl.reset();
    return rc;
  }
  pgsize_bitmap = pgtbl->cfg().pgsize_bitmap;
  geometry.aperture_start = 0;
  geometry.aperture_end = (1ULL << pgtbl->cfg().ias) - 1;
  has_dirty_ops = want_dirty && st == stage::s1;
  enable_dirty = has_dirty_ops;
  smmu = &drv;
  return 0;
}

smmu_domain::~smmu_domain() {
  if (!smmu) return;
  {
    std::lock_guard g(devices_lock);
    IOMMUSIM_WARN_ON(!devices.empty());
  }
  // Nothing may hit the old tables or reuse the ASID/VMID with stale TLB
  // entries: invalidate the whole context, then free (Linux's
  // free_io_pgtable_ops → tlb_flush_all).
  if (pgtbl) tlb_inv_context();
  pgtbl.reset();
  if (st == stage::s1)
    smmu->asid_free(asid);
  else if (vmid)
    smmu->vmid_free(vmid);
}

bool smmuv3_driver::ats_supported(const smmu_master &m) const {
  return (features_ & FEAT_ATS) && m.dev->ats_capable;
}

void smmuv3_driver::atc_inv_master(smmu_master &m, uint32_t ssid) {
  std::vector<uint64_t> cmds;
  for (uint32_t sid : m.sids) {
    uint64_t c[2];
    cmd_atc_inv(c, sid, ssid, 0, 0);  // the whole ATC (of the substream)
    cmds.insert(cmds.end(), c, c + 2);
  }
  cmdq_issue(cmds.data(), cmds.size() / 2, true);
}

void smmuv3_driver::attach_commit(smmu_master &m, iommu_domain *old_domain, bool ats,
                                  uint32_t ssid) {
  if (ats && !m.ats_enabled) {
    // Enabling ATS (the device's ATS capability is the platform's): start
    // from an empty ATC.
    atc_inv_master(m, IOMMU_NO_PASID);
  } else if (ats && m.ats_enabled) {
    // Translation changed under the ATC.
    atc_inv_master(m, ssid);
  } else if (!ats && m.ats_enabled) {
    atc_inv_master(m, IOMMU_NO_PASID);
  }
  if (auto *old = dynamic_cast<smmu_domain *>(old_domain)) {
    std::lock_guard g(old->devices_lock);
    auto it = std::find(old->devices.begin(), old->devices.end(), std::make_pair(&m, ssid));
    if (it != old->devices.end()) {
      old->devices.erase(it);
      if (m.ats_enabled) old->nr_ats_masters.fetch_sub(1);
    }
  }
  m.ats_enabled = ats;
}

void smmuv3_driver::attach_dev_ste(smmu_master &m, iommu_domain *domain, uint64_t s[8],
                                   unsigned) {
  // No SubstreamID is ever in use here (no PASID attach), so the plain STE
  // goes in; ATS is off for abort and bypass (§5.2: EATS needs translation).
  install_ste_for_dev(m, s);
  attach_commit(m, m.domain, false, IOMMU_NO_PASID);
  clear_cd(m, IOMMU_NO_PASID);
  m.domain = domain;
}

smmu_static_domain::smmu_static_domain(smmuv3_driver *drv, iommu_domain_type t) : smmu(drv) {
  owner = drv;
  type = t;
}

int smmu_static_domain::attach_dev(device &dev) {
  smmu_master *m = dev_to_master(dev);
  if (!m || m->smmu != smmu) return -ENOENT;
  uint64_t s[8];
  if (type == iommu_domain_type::identity) {
    smmu->make_bypass_ste(s);
    smmu->attach_dev_ste(*m, this, s, ste::S1DSS_BYPASS);
  } else {
    smmu->make_abort_ste(s);
    smmu->attach_dev_ste(*m, this, s, ste::S1DSS_TERMINATE);
  }
  return 0;
}

int smmu_domain::attach_dev(device &dev) {
  smmu_master *m = dev_to_master(dev);
  if (!m) return -ENOENT;
  smmuv3_driver &drv = *m->smmu;
  {
    std::lock_guard g(init_mutex);
    int rc = 0;
    if (!smmu)
      rc = finalise(drv, 0);
    else if (smmu != &drv)
      rc = -EINVAL;  // a domain lives on one SMMU
    if (rc) return rc;
  }
  uint64_t cdptr = 0;
  if (st == stage::s1) {
    cdptr = drv.cd_pa(*m, IOMMU_NO_PASID, true);
    if (!cdptr) return -ENOMEM;
  }

  // prepare
  const bool ats = drv.ats_supported(*m);
  try {
    std::lock_guard g(devices_lock);
    devices.emplace_back(m, IOMMU_NO_PASID);
    if (ats) nr_ats_masters.fetch_add(1);
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  }

  // install
  uint64_t s[8];
  if (st == stage::s1) {
    uint64_t c[8];
    drv.make_s1_cd(c, *m, *this);
    drv.write_cd(*m, IOMMU_NO_PASID, cdptr, c);
    drv.make_cdtable_ste(s, *m, ats, ste::S1DSS_SSID0);
    drv.install_ste_for_dev(*m, s);
  } else {
    drv.make_s2_domain_ste(s, *m, *this, ats);
    drv.install_ste_for_dev(*m, s);
    drv.clear_cd(*m, IOMMU_NO_PASID);
  }

  // commit
  drv.attach_commit(*m, m->domain, ats, IOMMU_NO_PASID);
  m->domain = this;
  return 0;
}

int smmu_domain::map_pages(uint64_t iova, uint64_t paddr, size_t pgsize, size_t pgcount, int prot,
                           size_t *mapped) {
  if (!pgtbl) return -ENODEV;
  return pgtbl->map_pages(iova, paddr, pgsize, pgcount, prot, mapped);
}

size_t smmu_domain::unmap_pages(uint64_t iova, size_t pgsize, size_t pgcount,
                                iommu_iotlb_gather *gather) {
  if (!pgtbl) return 0;
  if (gather && !gather->empty()) {
    // One gather holds one page size and one contiguous range: flush what
    // it holds before it would have to grow over a gap or mix sizes
    // (Linux's iommu_iotlb_gather_add_page).
    const uint64_t end = iova + pgsize * pgcount - 1;
    const bool disjoint = iova > gather->end + 1 || end + 1 < gather->start;
    if ((gather->pgsize && gather->pgsize != pgsize) || disjoint) {
      iotlb_sync(*gather);
      *gather = iommu_iotlb_gather{};
    }
  }
  return pgtbl->unmap_pages(iova, pgsize, pgcount, gather);
}

uint64_t smmu_domain::iova_to_phys(uint64_t iova) { return pgtbl ? pgtbl->iova_to_phys(iova) : 0; }

void smmu_domain::iotlb_sync(iommu_iotlb_gather &gather) {
  if (gather.empty() || !smmu) return;
  // A range gathered by read_and_clear_dirty() has no page size: leaf
  // entries of any size may hold the cleaned descriptors.
  const uint64_t granule = gather.pgsize ? gather.pgsize : 4096;
  tlb_inv_range(gather.start, gather.end - gather.start + 1, granule, true);
}

void smmu_domain::flush_iotlb_all() {
  if (smmu) tlb_inv_context();
}

void smmu_domain::tlb_inv_context() {
  uint64_t c[2];
  if (st == stage::s1)
    cmd_tlbi_nh_asid(c, asid);
  else
    cmd_tlbi_s12_vmall(c, vmid);
  smmu->cmdq_issue_one(c, true);
  atc_inv(0, 0);
}

void smmu_domain::tlb_inv_range(uint64_t iova, uint64_t size, uint64_t granule, bool leaf) {
  if (!size || !smmu) return;
  const uint64_t start = iova, end = iova + size;
  uint64_t base0, addr_mask;
  if (st == stage::s1) {
    base0 = fprep(cmd::OP, cmd::TLBI_NH_VA) | fprep(cmd::TLBI_ASID, asid) |
            fprep(cmd::TLBI_VMID, 0);
    addr_mask = cmd::TLBI_VA_MASK;
  } else {
    base0 = fprep(cmd::OP, cmd::TLBI_S2_IPA) | fprep(cmd::TLBI_VMID, vmid);
    addr_mask = cmd::TLBI_IPA_MASK;
  }
  const uint64_t leaf_bit = leaf ? cmd::TLBI_LEAF : 0;
  std::vector<uint64_t> cmds;
  if (smmu->features_ & FEAT_RANGE_INV) {
    // Range invalidation (§4.4.1.1): each command covers NUM+1 blocks of
    // 2^SCALE pages; TTL names the level of the leaves (4 KiB granule: TG=1).
    const unsigned tg = 12;
    uint64_t num_pages = std::max<uint64_t>(size >> tg, 1);
    unsigned ttl = 0;
    if (leaf)
      ttl = 4 - ((unsigned(ffs64(granule)) - 3) / (tg - 3));
    else if ((num_pages & cmd::TLBI_RANGE_NUM_MAX) == 1)
      num_pages++;  // never SCALE=0/NUM=0 for a non-leaf range
    while (iova < end && num_pages) {
      const unsigned scale = unsigned(ffs64(num_pages));
      const uint64_t num = (num_pages >> scale) & cmd::TLBI_RANGE_NUM_MAX;
      cmds.push_back(base0 | fprep(cmd::TLBI_NUM, num - 1) | fprep(cmd::TLBI_SCALE, scale));
      cmds.push_back(leaf_bit | fprep(cmd::TLBI_TTL, ttl) | fprep(cmd::TLBI_TG, (tg - 10) / 2) |
                     (iova & addr_mask));
      iova += num << (scale + tg);
      num_pages -= num << scale;
    }
  } else if (size / granule > MAX_TLBI_OPS) {
    tlb_inv_context();
    return;
  } else {
    for (; iova < end; iova += granule) {
      cmds.push_back(base0);
      cmds.push_back(leaf_bit | (iova & addr_mask));
    }
  }
  smmu->cmdq_issue(cmds.data(), cmds.size() / 2, true);
  // Not leaf-only: a whole table may have gone. After the TLBs, so that a
  // translation request cannot refill the ATC from a stale TLB entry.
  atc_inv(start, size);
}

void smmu_domain::atc_inv(uint64_t iova, uint64_t size) {
  if (!smmu || !(smmu->features_ & FEAT_ATS) || !nr_ats_masters.load()) return;
  std::vector<uint64_t> cmds;
  {
    std::lock_guard g(devices_lock);
    for (auto &[m, ssid] : devices) {
      if (!m->ats_enabled) continue;
      for (uint32_t sid : m->sids) {
        uint64_t c[2];
        cmd_atc_inv(c, sid, ssid, iova, size);
        cmds.insert(cmds.end(), c, c + 2);
      }
    }
  }
  if (!cmds.empty()) smmu->cmdq_issue(cmds.data(), cmds.size() / 2, true);
}

}  // namespace iommusim::iommufd::smmuv3
