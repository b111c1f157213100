// SPDX-License-Identifier: MIT
// VMSAv8-64 4 KiB-granule translation tables in simulated memory: see
// io_pgtable.h. Every descriptor read or written here is a host_bus memory
// access, so table maintenance costs simulated time as it would on a CPU.
#include "drivers/smmuv3/io_pgtable.h"

#include <algorithm>
#include <cerrno>

#include "core/log.h"
#include "drivers/smmuv3/regs.h"

namespace iommusim::iommufd::smmuv3 {

namespace {
constexpr uint64_t GRANULE = 4096;
constexpr uint64_t SZ_4K = 1ULL << 12, SZ_2M = 1ULL << 21, SZ_1G = 1ULL << 30;
// Attribute bits a split block hands down to its pieces (lower attributes,
// XN and DBM; Arm ARM D8.3.1).
constexpr uint64_t ATTR_MASK = (0x3ffULL << 2) | pte::XN | pte::DBM;

int level_of(uint64_t pgsize) {
  switch (pgsize) {
    case SZ_4K: return 3;
    case SZ_2M: return 2;
    case SZ_1G: return 1;
    default: return -1;
  }
}
}  // namespace

bool io_pgtable::is_leaf(uint64_t pte, int lvl) {
  if (lvl == MAX_LEVELS - 1) return (pte & pte::TYPE_MASK) == pte::TYPE_PAGE;
  return (pte & pte::TYPE_MASK) == pte::TYPE_BLOCK;
}

bool io_pgtable::is_table(uint64_t pte, int lvl) {
  return lvl != MAX_LEVELS - 1 && (pte & pte::TYPE_MASK) == pte::TYPE_TABLE;
}

uint64_t io_pgtable::pte_addr(uint64_t pte) { return pte & pte::ADDR_MASK; }

io_pgtable::io_pgtable(host_bus &bus, const io_pgtable_cfg &cfg, flush_walk_fn flush_walk,
                       std::atomic<uint64_t> *page_count)
    : bus_(bus), cfg_(cfg), flush_walk_(std::move(flush_walk)), page_count_(page_count) {}

std::unique_ptr<io_pgtable> io_pgtable::alloc(host_bus &bus, const io_pgtable_cfg &in,
                                              flush_walk_fn flush_walk,
                                              std::atomic<uint64_t> *page_count) {
  io_pgtable_cfg cfg = in;
  // Only the 4 KiB granule: its block sizes, and at most 48 address bits
  // without LPA2 (Linux's arm_lpae_restrict_pgsizes).
  cfg.pgsize_bitmap &= SZ_4K | SZ_2M | SZ_1G;
  if (!(cfg.pgsize_bitmap & SZ_4K)) return nullptr;
  cfg.ias = std::min(cfg.ias, 48u);
  cfg.oas = std::min(cfg.oas, 48u);
  if (cfg.ias < 32 || pa_size_encoding(cfg.oas) < 0) return nullptr;

  std::unique_ptr<io_pgtable> t(new (std::nothrow) io_pgtable(bus, cfg, std::move(flush_walk),
                                                              page_count));
  if (!t) return nullptr;
  const unsigned va_bits = cfg.ias - 12;
  const unsigned levels = (va_bits + 8) / 9;
  t->start_level_ = MAX_LEVELS - int(levels);
  t->pgd_bits_ = va_bits - 9 * (levels - 1);
  // Stage 2 may concatenate up to 16 tables at the next level instead of a
  // tiny level-0 table (SMMUv3 §5.2 STE.S2SL0; Arm ARM D8.2.7).
  if (cfg.stage2 && t->start_level_ == 0 && (1u << t->pgd_bits_) <= 16) {
    t->pgd_bits_ += 9;
    t->start_level_++;
  }
  if (cfg.coherent_walk) {
    t->tcr_.sh = pte::TCR_SH_IS;
    t->tcr_.irgn = t->tcr_.orgn = pte::TCR_RGN_WBWA;
  } else {
    t->tcr_.sh = pte::TCR_SH_OS;
    t->tcr_.irgn = t->tcr_.orgn = pte::TCR_RGN_NC;
  }
  t->tcr_.tg = pte::TCR_TG0_4K;
  t->tcr_.ps = unsigned(pa_size_encoding(cfg.oas));
  t->tcr_.tsz = 64 - cfg.ias;
  // VTCR.SL0 for the 4 KiB granule: 0 = start at level 2, 1 = level 1, 2 = level 0.
  t->tcr_.sl = unsigned(~(t->start_level_ + 1)) & 3u;
  if (!cfg.stage2)
    t->mair_ = (pte::MAIR_ATTR_NC << (8 * pte::MAIR_IDX_NC)) |
               (pte::MAIR_ATTR_WBRWA << (8 * pte::MAIR_IDX_CACHE)) |
               (pte::MAIR_ATTR_DEVICE << (8 * pte::MAIR_IDX_DEV)) |
               (pte::MAIR_ATTR_INC_OWBRWA << (8 * pte::MAIR_IDX_INC_OCACHE));
  // The PGD is aligned to its size (a TTB must be), at least a page.
  t->pgd_bytes_ = std::max<uint64_t>(8ULL << t->pgd_bits_, GRANULE);
  t->pgd_ = bus.dma_alloc(t->pgd_bytes_, t->pgd_bytes_);
  if (!t->pgd_) return nullptr;
  if (page_count) page_count->fetch_add(t->pgd_bytes_ / GRANULE);
  return t;
}

io_pgtable::~io_pgtable() {
  if (!pgd_) return;
  std::vector<uint64_t> tables;
  if (start_level_ < MAX_LEVELS - 1) {
    std::vector<uint64_t> ents(ptes_at(start_level_));
    bus_.mem_read(pgd_, ents.data(), ents.size() * 8);
    for (uint64_t e : ents)
      if (is_table(e, start_level_)) collect_subtree(pte_addr(e), start_level_ + 1, tables);
  }
  for (uint64_t pa : tables) free_table(pa);
  bus_.dma_free(pgd_, pgd_bytes_);
  if (page_count_) page_count_->fetch_sub(pgd_bytes_ / GRANULE);
}

size_t io_pgtable::table_pages() const {
  std::lock_guard g(lock_);
  return live_.size() + pgd_bytes_ / GRANULE;
}

uint64_t io_pgtable::alloc_table() {
  uint64_t pa = bus_.dma_alloc(GRANULE, GRANULE);
  if (!pa) return 0;
  live_[pa] = 0;
  if (page_count_) page_count_->fetch_add(1);
  return pa;
}

void io_pgtable::free_table(uint64_t pa) {
  bus_.dma_free(pa, GRANULE);
  live_.erase(pa);
  if (page_count_) page_count_->fetch_sub(1);
}

void io_pgtable::collect_subtree(uint64_t table, int lvl, std::vector<uint64_t> &out) {
  out.push_back(table);
  if (lvl >= MAX_LEVELS - 1) return;
  uint64_t ents[512];
  bus_.mem_read(table, ents, sizeof(ents));
  for (uint64_t e : ents)
    if (is_table(e, lvl)) collect_subtree(pte_addr(e), lvl + 1, out);
}

void io_pgtable::dec_live(uint64_t table, uint32_t n) {
  if (table == pgd_ || !n) return;
  auto it = live_.find(table);
  if (IOMMUSIM_WARN_ON(it == live_.end() || it->second < n)) return;
  it->second -= n;
}

uint64_t io_pgtable::prot_to_pte(int prot) const {
  uint64_t p;
  if (!cfg_.stage2) {
    p = pte::nG;
    if (!(prot & IOMMU_WRITE) && (prot & IOMMU_READ))
      p |= pte::AP_RDONLY;
    else if (cfg_.hd)
      p |= pte::DBM;  // writeable-dirty: HTTU only ever sees it cleaned by us
    if (!(prot & IOMMU_PRIV)) p |= pte::AP_UNPRIV;
    if (prot & IOMMU_MMIO)
      p |= uint64_t(pte::MAIR_IDX_DEV) << pte::ATTRINDX_SHIFT;
    else if (prot & IOMMU_CACHE)
      p |= uint64_t(pte::MAIR_IDX_CACHE) << pte::ATTRINDX_SHIFT;
  } else {
    p = 0;
    if (prot & IOMMU_READ) p |= pte::HAP_READ;
    if (prot & IOMMU_WRITE) p |= pte::HAP_WRITE;
    if (prot & IOMMU_MMIO)
      p |= pte::MEMATTR_DEV;
    else if (prot & IOMMU_CACHE)
      p |= pte::MEMATTR_OIWB;
    else
      p |= pte::MEMATTR_NC;
  }
  p |= (prot & IOMMU_CACHE) ? pte::SH_IS : pte::SH_OS;
  if (prot & IOMMU_NOEXEC) p |= pte::XN;
  p |= pte::AF;
  return p;
}

int io_pgtable::map_pages(uint64_t iova, uint64_t paddr, uint64_t pgsize, size_t pgcount,
                          int prot, size_t *mapped) {
  const int tgt = level_of(pgsize);
  if (tgt < 0 || !(pgsize & cfg_.pgsize_bitmap) || tgt < start_level_ || !pgcount) return -EINVAL;
  if ((iova | paddr) & (pgsize - 1)) return -EINVAL;
  const uint64_t last = iova + pgsize * pgcount - 1;
  if (last < iova || (last >> cfg_.ias) || ((paddr + pgsize * pgcount - 1) >> cfg_.oas))
    return -ERANGE;
  if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return -EINVAL;
  const uint64_t proto =
      prot_to_pte(prot) | (tgt == MAX_LEVELS - 1 ? pte::TYPE_PAGE : pte::TYPE_BLOCK);

  std::lock_guard g(lock_);
  std::vector<uint64_t> buf;
  while (pgcount) {
    // Walk down to the level of pgsize, installing tables where missing.
    std::vector<std::pair<uint64_t, uint64_t>> path;  // (table holding ptep, ptep)
    uint64_t table = pgd_;
    int rc = 0;
    for (int lvl = start_level_; lvl < tgt; lvl++) {
      const uint64_t ptep = table + lvl_idx(iova, lvl) * 8ULL;
      uint64_t e = bus_.mem_read64(ptep);
      if (!e) {
        const uint64_t nt = alloc_table();
        if (!nt) {
          rc = -ENOMEM;
          break;
        }
        // A zeroed table becomes visible only through this descriptor.
        e = nt | pte::TYPE_TABLE;
        bus_.mem_write64(ptep, e);
        if (table != pgd_) live_[table]++;
      } else if (!is_table(e, lvl)) {
        rc = -EEXIST;  // a block maps this range already: unmap first
        break;
      }
      path.emplace_back(table, ptep);
      table = pte_addr(e);
    }
    size_t n = 0;
    if (!rc) {
      const unsigned idx = lvl_idx(iova, tgt);
      n = std::min<size_t>(pgcount, ptes_at(tgt) - idx);
      buf.resize(n);
      bus_.mem_read(table + idx * 8ULL, buf.data(), n * 8);
      for (uint64_t e : buf)
        if (e) rc = -EEXIST;  // a live leaf, or a table of live leaves
      if (!rc) {
        for (size_t i = 0; i < n; i++) buf[i] = proto | ((paddr + i * pgsize) & pte::ADDR_MASK);
        bus_.mem_write(table + idx * 8ULL, buf.data(), n * 8);
        if (table != pgd_) live_[table] += uint32_t(n);
      }
    }
    if (rc) {
      // Tables this walk installed but left empty go again.
      std::vector<uint64_t> freed;
      prune(path, freed);
      if (!freed.empty()) {
        flush_walk_(iova, pgsize);
        for (uint64_t pa : freed) free_table(pa);
      }
      return rc;
    }
    *mapped += n * pgsize;
    iova += n * pgsize;
    paddr += n * pgsize;
    pgcount -= n;
  }
  return 0;
}

void io_pgtable::prune(std::vector<std::pair<uint64_t, uint64_t>> &path,
                       std::vector<uint64_t> &freed) {
  // path[i] = (table, ptep): the descriptor at ptep (in table) points to the
  // next table on the way down. Drop the leaf-most tables that hold nothing.
  while (!path.empty()) {
    auto [parent, ptep] = path.back();
    const uint64_t child = pte_addr(bus_.mem_read64(ptep));
    auto it = live_.find(child);
    if (it == live_.end() || it->second) return;
    bus_.mem_write64(ptep, 0);
    dec_live(parent, 1);
    freed.push_back(child);  // freed (and forgotten) after the walk flush
    path.pop_back();
  }
}

size_t io_pgtable::unmap_pages(uint64_t iova, uint64_t pgsize, size_t pgcount,
                               iommu_iotlb_gather *gather, bool *flushed) {
  if (flushed) *flushed = false;
  const int tgt = level_of(pgsize);
  if (tgt < start_level_ || !(pgsize & cfg_.pgsize_bitmap) || (iova & (pgsize - 1)) || !pgcount)
    return 0;
  if ((iova + pgsize * pgcount - 1) >> cfg_.ias) return 0;

  std::lock_guard g(lock_);
  std::vector<uint64_t> freed;
  const uint64_t start = iova;
  size_t total = 0;
  while (pgcount) {
    const size_t n = unmap_one(iova, pgsize, pgcount, gather, freed);
    if (!n) break;
    total += n;
    iova += n;
    pgcount -= std::min<size_t>(pgcount, n / pgsize);
  }
  if (!freed.empty()) {
    // Walk caches may still point at the tables: invalidate the range
    // (non-leaf, which covers the leaves too) before the pages are reused.
    flush_walk_(start, std::max<uint64_t>(total, pgsize));
    for (uint64_t pa : freed) free_table(pa);
    if (flushed) *flushed = true;
  } else if (gather && total) {
    gather->add_range(start, total);
    gather->pgsize = pgsize;
  }
  return total;
}

size_t io_pgtable::unmap_one(uint64_t iova, uint64_t pgsize, size_t pgcount,
                             iommu_iotlb_gather *gather, std::vector<uint64_t> &freed) {
  const int tgt = level_of(pgsize);
  std::vector<std::pair<uint64_t, uint64_t>> path;
  uint64_t table = pgd_;
  for (int lvl = start_level_; lvl < tgt; lvl++) {
    const uint64_t ptep = table + lvl_idx(iova, lvl) * 8ULL;
    const uint64_t e = bus_.mem_read64(ptep);
    if (!e) return 0;  // nothing mapped here
    if (is_leaf(e, lvl)) {
      path.emplace_back(table, ptep);
      return split_blk_unmap(iova, pgsize, pgcount, e, lvl, path, gather, freed);
    }
    path.emplace_back(table, ptep);
    table = pte_addr(e);
  }
  const unsigned idx = lvl_idx(iova, tgt);
  const size_t n = std::min<size_t>(pgcount, ptes_at(tgt) - idx);
  std::vector<uint64_t> buf(n);
  bus_.mem_read(table + idx * 8ULL, buf.data(), n * 8);
  size_t i = 0;
  for (; i < n; i++) {
    const uint64_t e = buf[i];
    if (!e) break;
    // A table where a leaf of pgsize was asked for: unmap all below it.
    if (!is_leaf(e, tgt) && is_table(e, tgt)) collect_subtree(pte_addr(e), tgt + 1, freed);
  }
  if (!i) return 0;
  std::fill(buf.begin(), buf.begin() + long(i), 0);
  bus_.mem_write(table + idx * 8ULL, buf.data(), i * 8);
  dec_live(table, uint32_t(i));
  prune(path, freed);
  return i * pgsize;
}

size_t io_pgtable::split_blk_unmap(uint64_t iova, uint64_t size, size_t pgcount, uint64_t blk_pte,
                                   int lvl, std::vector<std::pair<uint64_t, uint64_t>> &path,
                                   iommu_iotlb_gather *gather, std::vector<uint64_t> &freed) {
  // path.back() is (the table holding the block, the block's descriptor).
  const uint64_t ptep = path.back().second;
  // Unmapping part of a block: a table of the next level takes over the rest
  // of the block (as io-pgtable-arm does; the block descriptor is replaced by
  // the table descriptor in one 64-bit write).
  const int nlvl = lvl + 1;
  const uint64_t split_sz = block_size(nlvl);
  const uint64_t nt = alloc_table();
  if (!nt) return 0;
  long unmap_start = -1;
  size_t num = 0;
  if (size == split_sz) {
    unmap_start = long(lvl_idx(iova, nlvl));
    num = std::min<size_t>(pgcount, 512 - size_t(unmap_start));
  }
  const uint64_t attrs = blk_pte & ATTR_MASK;
  const uint64_t type = nlvl == MAX_LEVELS - 1 ? pte::TYPE_PAGE : pte::TYPE_BLOCK;
  uint64_t blk_paddr = pte_addr(blk_pte) & ~(block_size(lvl) - 1);
  std::vector<uint64_t> ents(512, 0);
  uint32_t cnt = 0;
  for (long i = 0; i < 512; i++, blk_paddr += split_sz) {
    if (i >= unmap_start && i < unmap_start + long(num)) continue;
    ents[size_t(i)] = attrs | type | (blk_paddr & pte::ADDR_MASK);
    cnt++;
  }
  if (!cnt) {
    // The whole block goes: no table needed, and the table holding the
    // block may now be empty.
    free_table(nt);
    const uint64_t parent = path.back().first;
    path.pop_back();
    bus_.mem_write64(ptep, 0);
    dec_live(parent, 1);
    prune(path, freed);
    return num * size;
  }
  bus_.mem_write(nt, ents.data(), 512 * 8);
  live_[nt] = cnt;
  bus_.mem_write64(ptep, nt | pte::TYPE_TABLE);
  if (unmap_start >= 0) return num * size;
  // Smaller than the next level's blocks: split again below.
  return unmap_one(iova, size, pgcount, gather, freed);
}

uint64_t io_pgtable::iova_to_phys(uint64_t iova) {
  if (iova >> cfg_.ias) return 0;
  std::lock_guard g(lock_);
  uint64_t table = pgd_;
  for (int lvl = start_level_; lvl < MAX_LEVELS; lvl++) {
    const uint64_t e = bus_.mem_read64(table + lvl_idx(iova, lvl) * 8ULL);
    if (!e) return 0;
    if (is_leaf(e, lvl)) return pte_addr(e) | (iova & (block_size(lvl) - 1));
    if (!is_table(e, lvl)) return 0;
    table = pte_addr(e);
  }
  return 0;
}

}  // namespace iommusim::iommufd::smmuv3
