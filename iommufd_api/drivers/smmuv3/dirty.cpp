// SPDX-License-Identifier: MIT
// Dirty tracking with hardware dirty state (HTTU, SMMU_IDR0.HTTU = 0b10):
// a stage-1 leaf with DBM set is writeable; AP[2] (read-only) clear means
// writeable-dirty, set means writeable-clean, and the SMMU clears AP[2] on the
// first write through a clean descriptor (SMMUv3 spec §3.13.3, Arm ARM
// D8.4.6). CD.HA and CD.HD enable the updates for a domain.
//
// As in Linux, a domain allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING maps
// writeable pages with DBM (writeable-dirty: everything counts as dirty until
// tracking starts). set_dirty_tracking(true) makes every writeable leaf
// writeable-clean (and gives DBM to any that lacks it); read_and_clear_dirty()
// reports writeable-dirty leaves and cleans them unless IOMMU_DIRTY_NO_CLEAR.
// The TLB may hold a dirty descriptor, so cleaning is followed by TLBI (the
// core's iotlb_sync of the gathered range, or a context TLBI here).
#include <algorithm>
#include <cerrno>
#include <vector>

#include "core/log.h"
#include "drivers/smmuv3/smmuv3_internal.h"

namespace iommusim::iommufd::smmuv3 {

namespace {
constexpr uint64_t WR_CLEAN_MASK = pte::AP_RDONLY | pte::DBM;
bool writeable_dirty(uint64_t e) { return (e & WR_CLEAN_MASK) == pte::DBM; }
// Stage 1: writeable if AP[2] is clear or DBM lets the SMMU clear it.
bool writeable(uint64_t e) { return !(e & pte::AP_RDONLY) || (e & pte::DBM); }
}  // namespace

int io_pgtable::read_and_clear_dirty(uint64_t iova, uint64_t size, unsigned long flags,
                                     iommu_dirty_bitmap &dirty) {
  if (cfg_.stage2) return -EINVAL;
  if (!size || ((iova + size - 1) >> cfg_.ias) || iova + size - 1 < iova) return -EINVAL;
  std::lock_guard g(lock_);
  uint64_t addr = iova;
  walk_dirty(pgd_, start_level_, addr, iova + size, flags, dirty);
  return 0;
}

void io_pgtable::walk_dirty(uint64_t table, int lvl, uint64_t &addr, uint64_t end,
                            unsigned long flags, iommu_dirty_bitmap &dirty) {
  const uint64_t blk = block_size(lvl);
  const unsigned first = lvl_idx(addr, lvl);
  const uint64_t span = ((end - (addr & ~(blk - 1))) + blk - 1) / blk;
  const unsigned n = unsigned(std::min<uint64_t>(ptes_at(lvl) - first, span));
  std::vector<uint64_t> ents(n);
  bus_.mem_read(table + first * 8ULL, ents.data(), n * 8ULL);
  for (unsigned i = 0; i < n && addr < end; i++) {
    const uint64_t e = ents[i];
    const uint64_t blk_end = (addr & ~(blk - 1)) + blk;
    if (is_table(e, lvl)) {
      walk_dirty(pte_addr(e), lvl + 1, addr, end, flags, dirty);
      addr = std::max(addr, std::min(blk_end, end));
      continue;
    }
    if (is_leaf(e, lvl) && writeable_dirty(e)) {
      // A block is dirty as a whole: report it from where the walk is.
      dirty.record(addr, blk_end - addr);
      // Only descriptors we change are written back: the SMMU may be
      // updating their neighbours concurrently.
      if (!(flags & IOMMU_DIRTY_NO_CLEAR))
        bus_.mem_write64(table + (first + i) * 8ULL, e | pte::AP_RDONLY);
    }
    addr = blk_end;
  }
}

size_t io_pgtable::set_writeable_clean_all() {
  if (cfg_.stage2) return 0;
  std::lock_guard g(lock_);
  return walk_make_clean(pgd_, start_level_);
}

size_t io_pgtable::walk_make_clean(uint64_t table, int lvl) {
  std::vector<uint64_t> ents(ptes_at(lvl));
  bus_.mem_read(table, ents.data(), ents.size() * 8);
  size_t changed = 0;
  for (size_t i = 0; i < ents.size(); i++) {
    const uint64_t e = ents[i];
    if (is_table(e, lvl)) {
      changed += walk_make_clean(pte_addr(e), lvl + 1);
    } else if (is_leaf(e, lvl) && writeable(e) && (e & WR_CLEAN_MASK) != WR_CLEAN_MASK) {
      bus_.mem_write64(table + i * 8, e | WR_CLEAN_MASK);
      changed++;
    }
  }
  return changed;
}

// --- the domain's dirty operations ---

int smmu_domain::set_dirty_tracking(bool enable) {
  if (!has_dirty_ops || !pgtbl) return -EINVAL;
  if (enable) {
    // Every writeable leaf becomes writeable-clean; TLBs may hold the old
    // (dirty) descriptors, which would let writes go unrecorded.
    if (pgtbl->set_writeable_clean_all()) tlb_inv_context();
  }
  // Disabling leaves the descriptors as they are (Linux keeps HTTU on for
  // the domain's lifetime): the SMMU goes on marking, nobody reads.
  dirty_tracking.store(enable);
  return 0;
}

int smmu_domain::read_and_clear_dirty(uint64_t iova, size_t size, unsigned long flags,
                                      iommu_dirty_bitmap &dirty) {
  if (!pgtbl) return -ENODEV;
  if (st != stage::s1) return -EINVAL;
  return pgtbl->read_and_clear_dirty(iova, size, flags, dirty);
}

}  // namespace iommusim::iommufd::smmuv3
