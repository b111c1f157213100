// SPDX-License-Identifier: MIT
// The stream table (SMMUv3 spec §3.3) and stream table entries (§5.2).
//
// Linear when SMMU_IDR0.ST_LEVEL says so or the StreamID space fits one
// level-2 table; otherwise two-level with a split of 8 (256 STEs per
// level-2 table), level-2 tables allocated when a device with a StreamID in
// their range is added, as Linux does. Every STE starts as abort.
//
// STE and CD updates use Linux's used-bits algorithm: the SMMU may read an
// entry at any time and only 64-bit writes are single-copy atomic (§3.21.3),
// so an update is either hitless (the bits the current configuration ignores
// first, then the one qword that changes the configuration, then the rest) or
// breaking (V=0, the other qwords, then qword 0), with CFGI_STE/CFGI_CD and a
// CMD_SYNC after each step that changed memory (§3.21.1: configuration
// structure changes become visible only after an invalidation and a sync).
#include <algorithm>
#include <cerrno>
#include <vector>

#include "core/log.h"
#include "drivers/smmuv3/smmuv3_internal.h"

namespace iommusim::iommufd::smmuv3 {

bool smmuv3_driver::two_level_strtab() const { return features_ & FEAT_2_LVL_STRTAB; }

int smmuv3_driver::init_strtab() {
  uint64_t abort_ste[8];
  make_abort_ste(abort_ste);
  if (features_ & FEAT_2_LVL_STRTAB) {
    const uint64_t last_l1 = ((1ULL << sid_bits_) - 1) >> strtab::SPLIT;
    strtab_.num_ents = unsigned(std::min<uint64_t>(last_l1 + 1, strtab::MAX_L1_ENTRIES));
    if (strtab_.num_ents <= last_l1)
      log("2-level strtab only covers %u/%u bits of SID",
          unsigned(__builtin_ctz(strtab_.num_ents)) + strtab::SPLIT, sid_bits_);
    strtab_.size = uint64_t(strtab_.num_ents) * 8;
    const uint64_t alloc = std::max<uint64_t>(strtab_.size, 4096);
    strtab_.base = bus_.dma_alloc(alloc, alloc);
    if (!strtab_.base) {
      log("failed to allocate l1 stream table (%llu bytes)", (unsigned long long)strtab_.size);
      return -ENOMEM;
    }
    strtab_.l2.assign(strtab_.num_ents, 0);
    return 0;
  }
  strtab_.num_ents = 1u << sid_bits_;
  strtab_.size = uint64_t(strtab_.num_ents) * strtab::STE_BYTES;
  const uint64_t alloc = std::max<uint64_t>(strtab_.size, 4096);
  strtab_.base = bus_.dma_alloc(alloc, alloc);
  if (!strtab_.base) {
    log("failed to allocate linear stream table (%llu bytes)", (unsigned long long)strtab_.size);
    return -ENOMEM;
  }
  // Not yet installed in the SMMU: plain writes, no invalidation needed.
  std::vector<uint64_t> chunk;
  const unsigned per_chunk = 1024;
  for (unsigned i = 0; i < strtab_.num_ents; i += per_chunk) {
    const unsigned k = std::min(per_chunk, strtab_.num_ents - i);
    chunk.resize(size_t(k) * 8);
    for (unsigned j = 0; j < k; j++) std::copy(abort_ste, abort_ste + 8, &chunk[size_t(j) * 8]);
    bus_.mem_write(strtab_.base + uint64_t(i) * strtab::STE_BYTES, chunk.data(), chunk.size() * 8);
  }
  return 0;
}

void smmuv3_driver::free_strtab() {
  for (uint64_t pa : strtab_.l2)
    if (pa) bus_.dma_free(pa, strtab::NUM_L2_STES * strtab::STE_BYTES);
  strtab_.l2.clear();
  if (strtab_.base) bus_.dma_free(strtab_.base, std::max<uint64_t>(strtab_.size, 4096));
  strtab_.base = 0;
  strtab_.num_ents = 0;
}

void smmuv3_driver::write_strtab_regs() {
  uint32_t cfg;
  if (features_ & FEAT_2_LVL_STRTAB)
    cfg = uint32_t(fprep(strtab::CFG_FMT, strtab::CFG_FMT_2LVL) |
                   fprep(strtab::CFG_LOG2SIZE,
                         unsigned(__builtin_ctz(strtab_.num_ents)) + strtab::SPLIT) |
                   fprep(strtab::CFG_SPLIT, strtab::SPLIT));
  else
    cfg = uint32_t(fprep(strtab::CFG_FMT, strtab::CFG_FMT_LINEAR) |
                   fprep(strtab::CFG_LOG2SIZE, sid_bits_));
  bus_.writeq(reg(reg::STRTAB_BASE), (strtab_.base & strtab::BASE_ADDR_MASK) | strtab::BASE_RA);
  bus_.writel(reg(reg::STRTAB_BASE_CFG), cfg);
}

bool smmuv3_driver::sid_in_range(uint32_t sid) const {
  if (features_ & FEAT_2_LVL_STRTAB) return (sid >> strtab::SPLIT) < strtab_.num_ents;
  return sid < strtab_.num_ents;
}

int smmuv3_driver::init_l2_strtab(uint32_t sid) {
  std::lock_guard g(strtab_lock_);
  const unsigned l1 = sid >> strtab::SPLIT;
  if (strtab_.l2[l1]) return 0;
  const uint64_t bytes = uint64_t(strtab::NUM_L2_STES) * strtab::STE_BYTES;
  const uint64_t l2 = bus_.dma_alloc(bytes, bytes);
  if (!l2) {
    log("failed to allocate l2 stream table for SID %u", sid);
    return -ENOMEM;
  }
  // Abort STEs first: the level-1 descriptor makes them reachable.
  uint64_t abort_ste[8];
  make_abort_ste(abort_ste);
  std::vector<uint64_t> stes(size_t(strtab::NUM_L2_STES) * 8);
  for (unsigned j = 0; j < strtab::NUM_L2_STES; j++)
    std::copy(abort_ste, abort_ste + 8, &stes[size_t(j) * 8]);
  bus_.mem_write(l2, stes.data(), stes.size() * 8);
  // One 64-bit write publishes the table (§3.3.2: SPAN = SPLIT + 1).
  bus_.mem_write64(strtab_.base + uint64_t(l1) * 8,
                   fprep(strtab::L1_SPAN, strtab::SPLIT + 1) | (l2 & strtab::L1_L2PTR_MASK));
  strtab_.l2[l1] = l2;
  return 0;
}

uint64_t smmuv3_driver::ste_pa(uint32_t sid) const {
  if (features_ & FEAT_2_LVL_STRTAB) {
    const uint64_t l2 = strtab_.l2[sid >> strtab::SPLIT];
    return l2 ? l2 + uint64_t(sid & (strtab::NUM_L2_STES - 1)) * strtab::STE_BYTES : 0;
  }
  return strtab_.base + uint64_t(sid) * strtab::STE_BYTES;
}

// --- STE contents ---

void get_ste_used(const uint64_t *ent, uint64_t *used) {
  const unsigned cfg = unsigned(fget(ste::CFG, ent[0]));
  used[0] = ste::V;
  if (!(ent[0] & ste::V)) return;
  used[0] |= ste::CFG;
  if (cfg & 1) {  // stage 1 translates
    used[0] |= ste::S1FMT | ste::S1CTXPTR_MASK | ste::S1CDMAX;
    used[1] |= ste::S1DSS | ste::S1CIR | ste::S1COR | ste::S1CSH | ste::S1STALLD | ste::STRW |
               ste::EATS;
    used[2] |= ste::S2VMID;
    if (fget(ste::S1DSS, ent[1]) == ste::S1DSS_BYPASS) used[1] |= ste::SHCFG;
  }
  if (cfg & 2) {  // stage 2 translates
    used[1] |= ste::EATS | ste::SHCFG;
    used[2] |= ste::S2VMID | ste::VTCR | ste::S2AA64 | ste::S2ENDI | ste::S2PTW | ste::S2S |
               ste::S2R;
    used[3] |= ste::S2TTB_MASK;
  }
  if (cfg == ste::CFG_BYPASS) used[1] |= ste::SHCFG;
}

void smmuv3_driver::make_abort_ste(uint64_t s[8]) const {
  std::fill(s, s + 8, 0);
  s[0] = ste::V | fprep(ste::CFG, ste::CFG_ABORT);
}

void smmuv3_driver::make_bypass_ste(uint64_t s[8]) const {
  std::fill(s, s + 8, 0);
  s[0] = ste::V | fprep(ste::CFG, ste::CFG_BYPASS);
  if (features_ & FEAT_ATTR_TYPES_OVR) s[1] = fprep(ste::SHCFG, ste::SHCFG_INCOMING);
}

void smmuv3_driver::make_cdtable_ste(uint64_t s[8], const smmu_master &m, bool ats,
                                     unsigned s1dss) const {
  std::fill(s, s + 8, 0);
  s[0] = ste::V | fprep(ste::CFG, ste::CFG_S1_TRANS) | fprep(ste::S1FMT, m.cdt.s1fmt) |
         (m.cdt.base & ste::S1CTXPTR_MASK) | fprep(ste::S1CDMAX, m.cdt.s1cdmax);
  s[1] = fprep(ste::S1DSS, s1dss) | fprep(ste::S1CIR, ste::S1C_CACHE_WBRA) |
         fprep(ste::S1COR, ste::S1C_CACHE_WBRA) | fprep(ste::S1CSH, cmd::SH_ISH) |
         // A master that cannot stall must not: terminate its faults (§5.2).
         (((features_ & FEAT_STALLS) && !m.stall_enabled) ? ste::S1STALLD : 0) |
         fprep(ste::EATS, ats ? ste::EATS_TRANS : ste::EATS_ABT) |
         fprep(ste::STRW, ste::STRW_NSEL1);
  if ((features_ & FEAT_ATTR_TYPES_OVR) && s1dss == ste::S1DSS_BYPASS)
    s[1] |= fprep(ste::SHCFG, ste::SHCFG_INCOMING);
  s[2] = fprep(ste::S2VMID, 0);  // VMID 0: stage-1-only streams
}

void smmuv3_driver::make_s2_domain_ste(uint64_t s[8], const smmu_master &m, const smmu_domain &d,
                                       bool ats) const {
  std::fill(s, s + 8, 0);
  const auto &t = d.pgtbl->tcr();
  s[0] = ste::V | fprep(ste::CFG, ste::CFG_S2_TRANS);
  s[1] = fprep(ste::EATS, ats ? ste::EATS_TRANS : ste::EATS_ABT);
  if (features_ & FEAT_ATTR_TYPES_OVR) s[1] |= fprep(ste::SHCFG, ste::SHCFG_INCOMING);
  const uint64_t vtcr = fprep(ste::VTCR_S2T0SZ, t.tsz) | fprep(ste::VTCR_S2SL0, t.sl) |
                        fprep(ste::VTCR_S2IR0, t.irgn) | fprep(ste::VTCR_S2OR0, t.orgn) |
                        fprep(ste::VTCR_S2SH0, t.sh) | fprep(ste::VTCR_S2TG, t.tg) |
                        fprep(ste::VTCR_S2PS, t.ps);
  s[2] = fprep(ste::S2VMID, d.vmid) | fprep(ste::VTCR, vtcr) | ste::S2AA64 | ste::S2PTW |
         (m.stall_enabled ? ste::S2S : 0) | ste::S2R;
  s[3] = d.pgtbl->ttbr() & ste::S2TTB_MASK;
}

// --- updating a live entry ---

void smmuv3_driver::write_entry(uint64_t pa, const uint64_t target[8],
                                void (*get_used)(const uint64_t *, uint64_t *),
                                const std::function<void()> &sync) {
  uint64_t cur[8];
  bus_.mem_read(pa, cur, sizeof(cur));
  uint64_t cur_used[8] = {}, tgt_used[8] = {}, unused_update[8];
  get_used(cur, cur_used);
  get_used(target, tgt_used);
  unsigned diff = 0;
  for (unsigned i = 0; i < 8; i++) {
    // A make_*() function must only set bits its configuration uses.
    IOMMUSIM_WARN_ON(target[i] & ~tgt_used[i]);
    // Bits the current configuration ignores can change at once.
    unused_update[i] = (cur[i] & cur_used[i]) | (target[i] & ~cur_used[i]);
    if ((unused_update[i] & tgt_used[i]) != target[i]) diff |= 1u << i;
  }
  // Write qwords [start, start + len) that differ; sync if any did.
  auto set = [&](const uint64_t *v, unsigned start, unsigned len) {
    bool changed = false;
    for (unsigned i = start; i < start + len; i++) {
      if (cur[i] == v[i]) continue;
      bus_.mem_write64(pa + i * 8ULL, v[i]);
      cur[i] = v[i];
      changed = true;
    }
    if (changed) sync();
    return changed;
  };
  if (__builtin_popcount(diff) == 1) {
    // Hitless: one "critical" qword switches the configuration.
    const unsigned crit = unsigned(__builtin_ctz(diff));
    unused_update[crit] = cur[crit];
    set(unused_update, 0, 8);
    set(target, crit, 1);
    set(target, 0, 8);
  } else if (diff) {
    // Breaking: invalidate the entry, fill it, make it valid again.
    unused_update[0] = 0;
    set(unused_update, 0, 1);
    set(target, 1, 7);
    set(target, 0, 1);
  } else {
    // Nothing the SMMU uses changes; unused bits should already match.
    IOMMUSIM_WARN_ON(set(target, 0, 8));
  }
}

void smmuv3_driver::write_ste(uint32_t sid, const uint64_t target[8]) {
  const uint64_t pa = ste_pa(sid);
  if (IOMMUSIM_WARN_ON(!pa)) return;
  cnt_->ste_writes.fetch_add(1, std::memory_order_relaxed);
  write_entry(pa, target, get_ste_used, [&] {
    uint64_t c[2];
    cmd_cfgi_ste(c, sid, true);
    cmdq_issue_one(c, true);
  });
  // The STE will be used soon: let the SMMU fetch it ahead (§4.2.1).
  uint64_t c[2];
  cmd_prefetch_cfg(c, sid);
  cmdq_issue_one(c, false);
}

void smmuv3_driver::install_ste_for_dev(smmu_master &m, const uint64_t target[8]) {
  for (size_t i = 0; i < m.sids.size(); i++) {
    // A StreamID listed twice (bridged PCI aliases) is written once.
    if (std::find(m.sids.begin(), m.sids.begin() + long(i), m.sids[i]) != m.sids.begin() + long(i))
      continue;
    write_ste(m.sids[i], target);
  }
}

}  // namespace iommusim::iommufd::smmuv3
