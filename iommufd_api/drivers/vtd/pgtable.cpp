// SPDX-License-Identifier: MIT
// Second-stage page tables in simulated memory (VT-d §3.7, §9.8; Linux's
// pfn_to_dma_pte, __domain_mapping, hardware_largepage_caps,
// switch_to_super_page, dma_pte_clear_range/free_level/clear_level and
// domain_unmap in iommu.c).
//
// Levels are numbered as Linux does: level 1 holds 4 KiB pages, level 2
// 2 MiB superpages, level 3 1 GiB superpages; the top is AGAW + 2. A batch of
// PFNs is mapped with the largest page that the IOVA and PA alignment, the
// remaining length and CAP.SLLPS allow. Unmap clears leaves and unlinks
// table pages that the range covers entirely; those are freed only after
// the IOTLB flush (the gather's), because the hardware may still walk them.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <vector>

#include "core/log.h"
#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

uint64_t dmar_domain::read_pte(uint64_t ptep) { return bus.mem_read64(ptep); }
void dmar_domain::write_pte(uint64_t ptep, uint64_t v) { bus.mem_write64(ptep, v); }

uint64_t dmar_domain::alloc_table() {
  const uint64_t pa = bus.dma_alloc(4096, 4096);
  if (pa) iommu->cnt_->pgtable_pages.fetch_add(1, std::memory_order_relaxed);
  return pa;
}

void dmar_domain::free_table(uint64_t pa) {
  bus.dma_free(pa, 4096);
  iommu->cnt_->pgtable_pages.fetch_sub(1, std::memory_order_relaxed);
}

void dmar_domain::free_pages(std::vector<uint64_t> &list) {
  for (uint64_t pa : list) free_table(pa);
  list.clear();
}

bool dmar_domain::pfn_supported(uint64_t pfn) const {
  const int addr_width = agaw_to_width(agaw) - 12;
  return !(addr_width < 64 && (pfn >> addr_width));
}

// The entry for pfn at *target_level (allocating tables on the way when
// alloc), or with *target_level == 0 the leaf or the first non-present entry
// (and *target_level says where). 0 if pfn is beyond the domain, a table
// could not be allocated, or (target > 0) a superpage covers pfn above the
// target level (then *target_level is set to 0).
uint64_t dmar_domain::pfn_to_dma_pte(uint64_t pfn, int *target_level, bool alloc) {
  if (!pfn_supported(pfn)) return 0;
  int level = agaw_to_level(agaw);
  uint64_t parent = pgd;
  uint64_t ptep;
  for (;;) {
    ptep = parent + pfn_level_offset(pfn, level) * 8ULL;
    uint64_t v = read_pte(ptep);
    if (!*target_level && ((v & pte::LARGE_PAGE) || !pte::present(v))) break;
    if (level == *target_level) break;
    if (pte::present(v) && (v & pte::LARGE_PAGE)) {
      *target_level = 0;
      return 0;
    }
    if (!pte::present(v)) {
      if (!alloc) return 0;
      const uint64_t table = alloc_table();
      if (!table) return 0;
      v = table | pte::READ | pte::WRITE;
      write_pte(ptep, v);
    }
    if (level == 1) break;
    parent = v & pte::ADDR_MASK;
    level--;
  }
  if (!*target_level) *target_level = level;
  return ptep;
}

// The largest superpage level for a mapping: IOVA and PA both aligned to it
// and at least one page of it left to map.
int dmar_domain::largepage_caps(uint64_t iov_pfn, uint64_t phy_pfn, uint64_t pages) const {
  int support = iommu_superpage, level = 1;
  uint64_t pfnmerge = iov_pfn | phy_pfn;
  while (support && !(pfnmerge & 0x1ff)) {
    pages >>= 9;
    if (!pages) break;
    pfnmerge >>= 9;
    level++;
    support--;
  }
  return level;
}

// The entry for pfn at level, or the superpage/non-present entry above it
// (*large_page tells the level); 0 if a table is missing (Linux's
// dma_pfn_level_pte).
static uint64_t pfn_level_pte(dmar_domain &d, uint64_t pfn, int level, int *large_page) {
  int total = agaw_to_level(d.agaw);
  uint64_t parent = d.pgd;
  while (level <= total) {
    const uint64_t ptep = parent + pfn_level_offset(pfn, total) * 8ULL;
    if (level == total) return ptep;
    const uint64_t v = d.read_pte(ptep);
    if (!pte::present(v)) {
      *large_page = total;
      break;
    }
    if (v & pte::LARGE_PAGE) {
      *large_page = total;
      return ptep;
    }
    parent = v & pte::ADDR_MASK;
    total--;
  }
  return 0;
}

// Clear the leaves of [start_pfn, last_pfn] (a flush must follow).
void dmar_domain::pte_clear_range(uint64_t start_pfn, uint64_t last_pfn) {
  if (!pfn_supported(last_pfn) || start_pfn > last_pfn) return;
  do {
    int large_page = 1;
    const uint64_t first = pfn_level_pte(*this, start_pfn, 1, &large_page);
    if (!first) {
      const uint64_t sz = level_size(large_page + 1);
      start_pfn = (start_pfn + 1 + sz - 1) & ~(sz - 1);
      continue;
    }
    uint64_t ptep = first;
    do {
      start_pfn += lvl_to_nr_pages(large_page);
      ptep += 8;
    } while (start_pfn <= last_pfn && (ptep & 0xfff));
    const std::vector<uint64_t> zero((ptep - first) / 8, 0);
    bus.mem_write(first, zero.data(), ptep - first);
  } while (start_pfn && start_pfn <= last_pfn);
}

// Free the table pages below retain_level that [start_pfn, last_pfn] covers
// entirely (Linux's dma_pte_free_level).
void dmar_domain::pte_free_level(int level, int retain_level, uint64_t table, uint64_t pfn,
                                 uint64_t start_pfn, uint64_t last_pfn) {
  pfn = std::max(start_pfn, pfn);
  unsigned idx = pfn_level_offset(pfn, level);
  do {
    const uint64_t ptep = table + idx * 8ULL;
    const uint64_t v = read_pte(ptep);
    if (pte::present(v) && !(v & pte::LARGE_PAGE)) {
      const uint64_t level_pfn = pfn & level_mask(level);
      const uint64_t level_table = v & pte::ADDR_MASK;
      if (level > 2)
        pte_free_level(level - 1, retain_level, level_table, level_pfn, start_pfn, last_pfn);
      if (level < retain_level &&
          !(start_pfn > level_pfn || last_pfn < level_pfn + level_size(level) - 1)) {
        write_pte(ptep, 0);
        free_table(level_table);
      }
    }
    pfn += level_size(level);
  } while (++idx < 512 && pfn <= last_pfn);
}

// Make room for superpages at level over [start_pfn, end_pfn]: tables of
// smaller pages there go (after an IOTLB flush).
void dmar_domain::switch_to_super_page(uint64_t start_pfn, uint64_t end_pfn, int level) {
  const uint64_t lvl_pages = lvl_to_nr_pages(level);
  if (IOMMUSIM_WARN_ON((start_pfn & (lvl_pages - 1)) || ((end_pfn + 1) & (lvl_pages - 1))))
    return;
  uint64_t ptep = 0;
  while (start_pfn <= end_pfn) {
    if (!ptep) {
      int lvl = level;
      ptep = pfn_to_dma_pte(start_pfn, &lvl, true);
      if (!ptep) return;
    }
    if (pte::present(read_pte(ptep))) {
      pte_clear_range(start_pfn, start_pfn + lvl_pages - 1);
      pte_free_level(agaw_to_level(agaw), level + 1, pgd, 0, start_pfn,
                     start_pfn + lvl_pages - 1);
      cache_tag_flush_range(start_pfn << 12, end_pfn << 12, 0);
    }
    ptep += 8;
    start_pfn += lvl_pages;
    if (!(ptep & 0xfff)) ptep = 0;
  }
}

// Map nr_pages 4 KiB pages from iov_pfn to phys_pfn (Linux's
// __domain_mapping). The PTEs of one table page are written together.
int dmar_domain::domain_mapping(uint64_t iov_pfn, uint64_t phys_pfn, uint64_t nr_pages,
                                uint64_t prot, uint64_t *done_pages) {
  *done_pages = 0;
  if (!nr_pages || !pfn_supported(iov_pfn + nr_pages - 1)) return -EINVAL;
  if (!(prot & (pte::READ | pte::WRITE))) return -EINVAL;
  if (!(prot & pte::WRITE) && nested_parent) {
    iommu->log("Read-only mapping is disallowed on the domain which serves as the parent in a "
               "nested configuration, due to HW errata (ERRATA_772415_SPR17)");
    return -EINVAL;
  }
  const uint64_t attr = prot & (pte::READ | pte::WRITE | pte::SNP);
  has_mappings = true;
  std::vector<uint64_t> run;
  while (nr_pages > 0) {
    int largepage_lvl = largepage_caps(iov_pfn, phys_pfn, nr_pages);
    const uint64_t ptep = pfn_to_dma_pte(iov_pfn, &largepage_lvl, true);
    if (!ptep) return largepage_lvl ? -ENOMEM : -EEXIST;
    const uint64_t lvl_pages = lvl_to_nr_pages(largepage_lvl);
    const uint64_t to_page_end = (4096 - (ptep & 0xfff)) / 8;
    // Entries of this level to write into this table page.
    const uint64_t n = std::min(to_page_end, nr_pages / lvl_pages);
    uint64_t pteval = (phys_pfn << 12) | attr;
    if (largepage_lvl > 1) {
      pteval |= pte::LARGE_PAGE;
      switch_to_super_page(iov_pfn, iov_pfn + n * lvl_pages - 1, largepage_lvl);
    }
    run.resize(n);
    bus.mem_read(ptep, run.data(), n * 8);
    for (uint64_t i = 0; i < n; i++) {
      if (run[i]) {
        iommu->log("ERROR: DMA PTE for vPFN %#" PRIx64 " already set (to %#" PRIx64
                   " not %#" PRIx64 ")",
                   iov_pfn + i * lvl_pages, run[i], pteval + i * lvl_pages * 4096);
        return -EEXIST;
      }
      run[i] = pteval + i * lvl_pages * 4096;
    }
    bus.mem_write(ptep, run.data(), n * 8);
    *done_pages += n * lvl_pages;
    nr_pages -= n * lvl_pages;
    iov_pfn += n * lvl_pages;
    phys_pfn += n * lvl_pages;
  }
  return 0;
}

// Add the table pages below a table entry at level to freelist (they are
// unlinked as a whole; their contents stay until they are freed).
void dmar_domain::pte_list_pagetables(int level, uint64_t pte_val,
                                      std::vector<uint64_t> &freelist) {
  const uint64_t table = pte_val & pte::ADDR_MASK;
  freelist.push_back(table);
  if (level == 1) return;
  std::vector<uint64_t> ents(512);
  bus.mem_read(table, ents.data(), 4096);
  for (uint64_t v : ents)
    if (pte::present(v) && !(v & pte::LARGE_PAGE)) pte_list_pagetables(level - 1, v, freelist);
}

void dmar_domain::pte_clear_level(int level, uint64_t table, uint64_t pfn, uint64_t start_pfn,
                                  uint64_t last_pfn, std::vector<uint64_t> &freelist) {
  pfn = std::max(start_pfn, pfn);
  const unsigned first_idx = pfn_level_offset(pfn, level);
  // Entries this level can touch: up to the end of the range or the page.
  const uint64_t span = ((last_pfn - (pfn & level_mask(level))) >> level_to_offset_bits(level)) + 1;
  const unsigned n = unsigned(std::min<uint64_t>(512 - first_idx, span));
  std::vector<uint64_t> ents(n);
  bus.mem_read(table + first_idx * 8ULL, ents.data(), n * 8ULL);
  int first = -1, last = -1;
  for (unsigned i = 0; i < n && pfn <= last_pfn; i++) {
    const uint64_t level_pfn = pfn & level_mask(level);
    const uint64_t v = ents[i];
    if (pte::present(v)) {
      if (start_pfn <= level_pfn && last_pfn >= level_pfn + level_size(level) - 1) {
        // The range covers the entry: its subordinate tables go entirely.
        if (level > 1 && !(v & pte::LARGE_PAGE)) pte_list_pagetables(level - 1, v, freelist);
        if (first < 0) first = int(i);
        last = int(i);
      } else if (level > 1 && !(v & pte::LARGE_PAGE)) {
        pte_clear_level(level - 1, v & pte::ADDR_MASK, level_pfn, start_pfn, last_pfn,
                        freelist);
      }
    }
    pfn = level_pfn + level_size(level);
  }
  if (first >= 0) {
    // Only fully covered entries lie between first and last (a partly
    // covered one is at an end of the range), so zero them in one write.
    const std::vector<uint64_t> zero(size_t(last - first + 1), 0);
    bus.mem_write(table + (first_idx + unsigned(first)) * 8ULL, zero.data(), zero.size() * 8);
  }
}

void dmar_domain::domain_unmap(uint64_t start_pfn, uint64_t last_pfn,
                               std::vector<uint64_t> &freelist) {
  if (IOMMUSIM_WARN_ON(!pfn_supported(last_pfn)) || IOMMUSIM_WARN_ON(start_pfn > last_pfn))
    return;
  pte_clear_level(agaw_to_level(agaw), pgd, 0, start_pfn, last_pfn, freelist);
}

}  // namespace iommusim::iommufd::vtd
