// SPDX-License-Identifier: MIT
// VMSAv8-64 translation tables with the 4 KiB granule, kept in simulated
// kernel RAM through host_bus (the design of Linux's io-pgtable-arm.c, stage 1
// and stage 2 formats; Arm ARM D8.2-D8.3, SMMUv3 spec §3.4 and §5.4).
//
// Levels: 9 bits of IOVA per level below the start level; level 3 holds 4 KiB
// pages, levels 2 and 1 blocks of 2 MiB and 1 GiB. The start level follows
// from the input size (ias); a stage-2 table concatenates up to 16 start
// tables to save a level, as Linux does.
//
// Differences from io-pgtable-arm: a table page whose last valid entry is
// unmapped is freed (after a non-leaf TLB invalidation, via flush_walk), so
// the tables only ever hold live mappings; the driver keeps a count of valid
// entries per table page for that.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/iommu.h"
#include "drivers/hostbus.h"

namespace iommusim::iommufd::smmuv3 {

struct io_pgtable_cfg {
  bool stage2 = false;
  unsigned ias = 48;            // input address bits
  unsigned oas = 48;            // output address bits
  bool coherent_walk = true;    // the SMMU snoops CPU caches (IDR0.COHACC)
  bool hd = false;              // hardware dirty state: writeable leaves get DBM
  uint64_t pgsize_bitmap = (1ULL << 12) | (1ULL << 21) | (1ULL << 30);
};

class io_pgtable {
 public:
  // Invalidate cached walks (non-leaf) of [iova, iova + size) and wait: called
  // before table pages are freed.
  using flush_walk_fn = std::function<void(uint64_t iova, uint64_t size)>;

  // nullptr when the configuration is unusable or the PGD allocation failed.
  static std::unique_ptr<io_pgtable> alloc(host_bus &bus, const io_pgtable_cfg &cfg,
                                           flush_walk_fn flush_walk,
                                           std::atomic<uint64_t> *page_count = nullptr);
  // Frees every table page (the caller has invalidated the TLBs).
  ~io_pgtable();
  io_pgtable(const io_pgtable &) = delete;
  io_pgtable &operator=(const io_pgtable &) = delete;

  // Map pgcount pages of pgsize. -EINVAL (page size, no access), -ERANGE
  // (beyond ias/oas), -EEXIST (something is mapped there), -ENOMEM; *mapped
  // grows by what was mapped before the failure.
  int map_pages(uint64_t iova, uint64_t paddr, uint64_t pgsize, size_t pgcount, int prot,
                size_t *mapped);
  // Unmap pgcount pages of pgsize; returns the bytes unmapped (stops at a
  // hole). Leaf ranges go to gather (with gather->pgsize), unless a table was
  // freed, in which case flush_walk already invalidated the whole range.
  // *flushed (optional) tells which happened.
  size_t unmap_pages(uint64_t iova, uint64_t pgsize, size_t pgcount, iommu_iotlb_gather *gather,
                     bool *flushed = nullptr);
  uint64_t iova_to_phys(uint64_t iova);

  // Dirty tracking (dirty.cpp; stage 1 only). Report and (unless
  // IOMMU_DIRTY_NO_CLEAR) clean every writeable-dirty leaf in the range.
  int read_and_clear_dirty(uint64_t iova, uint64_t size, unsigned long flags,
                           iommu_dirty_bitmap &dirty);
  // Give every writeable leaf DBM and make it writeable-clean. Returns the
  // number of descriptors changed.
  size_t set_writeable_clean_all();

  // Register values for the CD (stage 1) or STE (stage 2).
  uint64_t ttbr() const { return pgd_; }
  uint64_t mair() const { return mair_; }
  struct tcr_fields {
    unsigned tsz, irgn, orgn, sh, tg, ps, sl;
  };
  const tcr_fields &tcr() const { return tcr_; }
  const io_pgtable_cfg &cfg() const { return cfg_; }
  int start_level() const { return start_level_; }
  // Table pages in use, the PGD included.
  size_t table_pages() const;

  // Descriptor helpers (exposed for dirty.cpp and tests).
  static constexpr int MAX_LEVELS = 4;
  static constexpr unsigned lvl_shift(int lvl) { return unsigned((MAX_LEVELS - lvl) * 9 + 3); }
  static constexpr uint64_t block_size(int lvl) { return 1ULL << lvl_shift(lvl); }
  static bool is_leaf(uint64_t pte, int lvl);
  static bool is_table(uint64_t pte, int lvl);
  static uint64_t pte_addr(uint64_t pte);
  uint64_t prot_to_pte(int prot) const;

 private:
  io_pgtable(host_bus &bus, const io_pgtable_cfg &cfg, flush_walk_fn flush_walk,
             std::atomic<uint64_t> *page_count);
  unsigned ptes_at(int lvl) const { return lvl == start_level_ ? 1u << pgd_bits_ : 512u; }
  unsigned lvl_idx(uint64_t iova, int lvl) const {
    return unsigned(iova >> lvl_shift(lvl)) & (ptes_at(lvl) - 1);
  }
  uint64_t alloc_table();
  void free_table(uint64_t pa);
  // All table pages below a table descriptor at lvl (the pointed table included).
  void collect_subtree(uint64_t table, int lvl, std::vector<uint64_t> &out);
  // Replace the block at ptep (level lvl) by a table of the next level mapping
  // the same, minus [iova, iova + size * pgcount) when size is the next
  // level's block size. Returns the bytes unmapped (0: failure).
  size_t split_blk_unmap(uint64_t iova, uint64_t size, size_t pgcount, uint64_t blk_pte, int lvl,
                         std::vector<std::pair<uint64_t, uint64_t>> &path,
                         iommu_iotlb_gather *gather, std::vector<uint64_t> &freed);
  size_t unmap_one(uint64_t iova, uint64_t pgsize, size_t pgcount, iommu_iotlb_gather *gather,
                   std::vector<uint64_t> &freed);
  // Drop tables along path (leaf-most last) that became empty.
  void prune(std::vector<std::pair<uint64_t, uint64_t>> &path, std::vector<uint64_t> &freed);
  void dec_live(uint64_t table, uint32_t n);
  // dirty.cpp
  void walk_dirty(uint64_t table, int lvl, uint64_t &addr, uint64_t end, unsigned long flags,
                  iommu_dirty_bitmap &dirty);
  size_t walk_make_clean(uint64_t table, int lvl);

  host_bus &bus_;
  const io_pgtable_cfg cfg_;
  flush_walk_fn flush_walk_;
  std::atomic<uint64_t> *page_count_;
  mutable std::mutex lock_;
  int start_level_ = 0;
  unsigned pgd_bits_ = 9;
  uint64_t pgd_ = 0;
  uint64_t pgd_bytes_ = 0;
  uint64_t mair_ = 0;
  tcr_fields tcr_{};
  // Valid entries of every table page below the PGD.
  std::unordered_map<uint64_t, uint32_t> live_;
};

}  // namespace iommusim::iommufd::smmuv3
