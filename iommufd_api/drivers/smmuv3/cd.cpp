// SPDX-License-Identifier: MIT
// Context descriptors (SMMUv3 spec §5.4) and their tables (§3.4), ASIDs and
// VMIDs.
//
// A master gets a CD table at its first stage-1 attach, sized for its
// SubstreamIDs (1 << ssid_bits CDs): linear when it holds at most 1024 CDs or
// SMMU_IDR0.CD2L is clear, otherwise two-level with 1024-CD (64 KiB) leaf
// tables allocated on demand (STE.S1Fmt = 64K_L2). A stage-1 domain sits in
// CD 0, reached through STE.S1DSS = SSID0 for transactions without a PASID.
// CD updates use the same hitless/breaking writer as STEs, with CFGI_CD for
// every StreamID of the master and a CMD_SYNC after each step.
#include <algorithm>
#include <cerrno>
#include <vector>

#include "core/log.h"
#include "drivers/smmuv3/smmuv3_internal.h"

namespace iommusim::iommufd::smmuv3 {

namespace {
constexpr uint64_t L2_CD_BYTES = uint64_t(cd::L2_ENTRIES) * cd::BYTES;
}

int smmuv3_driver::alloc_cd_tables(smmu_master &m) {
  auto &t = m.cdt;
  t.s1cdmax = m.ssid_bits;
  const uint64_t max_contexts = 1ULL << t.s1cdmax;
  if (!(features_ & FEAT_2_LVL_CDTAB) || max_contexts <= cd::L2_ENTRIES) {
    t.s1fmt = unsigned(ste::S1FMT_LINEAR);
    t.bytes = max_contexts * cd::BYTES;
    t.num_l1 = 0;
  } else {
    t.s1fmt = unsigned(ste::S1FMT_64K_L2);
    t.num_l1 = unsigned((max_contexts + cd::L2_ENTRIES - 1) / cd::L2_ENTRIES);
    t.bytes = uint64_t(t.num_l1) * 8;
    t.l2.assign(t.num_l1, 0);
  }
  const uint64_t alloc = std::max<uint64_t>(t.bytes, 4096);
  t.base = bus_.dma_alloc(alloc, alloc);
  if (!t.base) {
    t.l2.clear();
    return -ENOMEM;
  }
  return 0;
}

void smmuv3_driver::free_cd_tables(smmu_master &m) {
  auto &t = m.cdt;
  if (!t.allocated()) return;
  for (uint64_t pa : t.l2)
    if (pa) bus_.dma_free(pa, L2_CD_BYTES);
  t.l2.clear();
  bus_.dma_free(t.base, std::max<uint64_t>(t.bytes, 4096));
  t.base = 0;
}

uint64_t smmuv3_driver::cd_pa(smmu_master &m, uint32_t ssid, bool alloc) {
  auto &t = m.cdt;
  if (!t.allocated()) {
    if (!alloc || alloc_cd_tables(m)) return 0;
  }
  if (t.s1fmt == ste::S1FMT_LINEAR) return t.base + uint64_t(ssid) * cd::BYTES;
  const unsigned l1 = ssid / cd::L2_ENTRIES;
  if (l1 >= t.num_l1) return 0;
  if (!t.l2[l1]) {
    if (!alloc) return 0;
    const uint64_t l2 = bus_.dma_alloc(L2_CD_BYTES, L2_CD_BYTES);
    if (!l2) return 0;
    t.l2[l1] = l2;
    bus_.mem_write64(t.base + uint64_t(l1) * 8, (l2 & cd::L1_L2PTR_MASK) | cd::L1_V);
    // An invalid level-1 descriptor may have been cached (§5.4.1).
    sync_cd(m, ssid, false);
  }
  return t.l2[l1] + uint64_t(ssid % cd::L2_ENTRIES) * cd::BYTES;
}

void get_cd_used(const uint64_t *ent, uint64_t *used) {
  used[0] = cd::V;
  if (!(ent[0] & cd::V)) return;
  std::fill(used, used + 8, ~0ULL);
  // With EPD0 the TT0 walk parameters are ignored.
  if (ent[0] & cd::EPD0) {
    used[0] &= ~(cd::T0SZ | cd::TG0 | cd::IRGN0 | cd::ORGN0 | cd::SH0);
    used[1] &= ~cd::TTB0_MASK;
  }
}

void smmuv3_driver::make_s1_cd(uint64_t c[8], const smmu_master &m, const smmu_domain &d) const {
  std::fill(c, c + 8, 0);
  const auto &t = d.pgtbl->tcr();
  c[0] = fprep(cd::T0SZ, t.tsz) | fprep(cd::TG0, t.tg) | fprep(cd::IRGN0, t.irgn) |
         fprep(cd::ORGN0, t.orgn) | fprep(cd::SH0, t.sh) | cd::EPD1 | cd::V |
         fprep(cd::IPS, t.ps) | cd::AA64 | (m.stall_enabled ? cd::S : 0) | cd::R | cd::A |
         cd::ASET | fprep(cd::ASID, d.asid);
  // Hardware dirty state needs both the Access flag and dirty updates (§3.13).
  if (d.pgtbl->cfg().hd) c[0] |= cd::HA | cd::HD;
  c[1] = d.pgtbl->ttbr() & cd::TTB0_MASK;
  c[3] = d.pgtbl->mair();
}

void smmuv3_driver::sync_cd(smmu_master &m, uint32_t ssid, bool leaf) {
  std::vector<uint64_t> cmds;
  for (uint32_t sid : m.sids) {
    uint64_t c[2];
    cmd_cfgi_cd(c, sid, ssid, leaf);
    cmds.insert(cmds.end(), c, c + 2);
  }
  cmdq_issue(cmds.data(), cmds.size() / 2, true);
}

void smmuv3_driver::write_cd(smmu_master &m, uint32_t ssid, uint64_t cdptr,
                             const uint64_t target[8]) {
  cnt_->cd_writes.fetch_add(1, std::memory_order_relaxed);
  write_entry(cdptr, target, get_cd_used, [&] { sync_cd(m, ssid, true); });
}

void smmuv3_driver::clear_cd(smmu_master &m, uint32_t ssid) {
  if (!m.cdt.allocated()) return;
  const uint64_t p = cd_pa(m, ssid, false);
  if (!p) return;
  const uint64_t zero[8] = {};
  write_cd(m, ssid, p, zero);
}

// --- ASIDs and VMIDs: the lowest free number from 1 ---

namespace {
int id_alloc(std::set<uint32_t> &used, uint32_t max, uint16_t *out) {
  uint32_t id = 1;
  for (auto it = used.lower_bound(1); it != used.end() && *it == id; ++it) id++;
  if (id > max) return -ENOSPC;
  used.insert(id);
  *out = uint16_t(id);
  return 0;
}
}  // namespace

int smmuv3_driver::asid_alloc(uint16_t *asid) {
  std::lock_guard g(id_lock_);
  return id_alloc(asids_, (1u << asid_bits_) - 1, asid);
}

void smmuv3_driver::asid_free(uint16_t asid) {
  std::lock_guard g(id_lock_);
  asids_.erase(asid);
}

int smmuv3_driver::vmid_alloc(uint16_t *vmid) {
  std::lock_guard g(id_lock_);
  return id_alloc(vmids_, (1u << vmid_bits_) - 1, vmid);
}

void smmuv3_driver::vmid_free(uint16_t vmid) {
  std::lock_guard g(id_lock_);
  vmids_.erase(vmid);
}

}  // namespace iommusim::iommufd::smmuv3
