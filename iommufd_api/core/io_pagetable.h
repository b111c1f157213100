// SPDX-License-Identifier: MIT
// The IOVA -> PFN map of an IOAS (io_pagetable) and the PFN storage behind it
// (iopt_pages), after Linux 6.12 drivers/iommu/iommufd/io_pagetable.h.
//
// io_pagetable
//   An interval tree of areas. Each area covers a range of IOVA that is fully
//   backed by a slice of one iopt_pages; IOVA outside every area is unmapped.
//   Reserved ranges (domain apertures, device MSI windows, test reservations)
//   may not hold areas; allowed ranges restrict where the allocator looks.
//   iova_alignment is the largest minimum page size of the attached domains
//   and accesses: every area's IOVA, length and page offset is a multiple.
//   An area whose pages pointer is nullptr is being created or destroyed by
//   another thread; with domains_rwsem held for write it means "being created,
//   no domain filled yet".
//
// iopt_pages
//   A linear range of user VA (uptr, npages) pinned at most once however many
//   domains, accesses and IOAS copies use it (the "single pin"). Areas of many
//   io_pagetables may share one iopt_pages (IOAS_COPY), each with its own slice
//   at sub-page granularity. PFNs live in three tiers:
//     1. pinned_pfns: only for indexes that an in-kernel access holds
//        (access_itree);
//     2. an iommu_domain: for indexes inside a domain-filled area
//        (domains_itree), read back with iova_to_phys(), never duplicated;
//     3. the user's memory itself: indexes in neither tree are not pinned.
//   npinned counts pages pinned by this iopt_pages; last_npinned is what has
//   been charged to RLIMIT_MEMLOCK; they are equal whenever the mutex is free.
//
// Locking: io_pagetable::domains_rwsem -> io_pagetable::iova_rwsem ->
// iopt_pages::mutex. iova_rwsem protects the area/allowed/reserved trees and
// each area's node; pages::mutex protects the pages' trees, pinned_pfns,
// npinned, each area's storage_domain and num_accesses (num_accesses writers
// also hold iova_rwsem for read).
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "interval_tree.h"
#include "iommu.h"
#include "mm.h"
#include "sparse_array.h"
#include "util.h"

struct iommu_hwpt_get_dirty_bitmap;

namespace iommusim::iommufd {

struct iommufd_ctx;
struct iommufd_access;
struct iopt_pages;
struct io_pagetable;

struct iopt_area {
  interval_tree_node node;        // [iova, last_iova] in iopt->area_itree
  interval_tree_node pages_node;  // [first index, last index] in pages->domains_itree
  io_pagetable *iopt = nullptr;
  iopt_pages *pages = nullptr;
  iommu_domain *storage_domain = nullptr;  // a domain holding this area's PFNs
  unsigned page_offset = 0;  // bytes into the first page where the area starts
  int iommu_prot = 0;
  bool prevent_access = false;  // an unmap is waiting for accesses to leave
  unsigned num_accesses = 0;
};

struct iopt_allowed {
  interval_tree_node node;
};

struct iopt_reserved {
  interval_tree_node node;
  const void *owner = nullptr;
};

inline iopt_area *area_of(interval_tree_node *n) {
  return n ? IOMMUSIM_CONTAINER_OF(n, iopt_area, node) : nullptr;
}
inline iopt_area *area_of_pages_node(interval_tree_node *n) {
  return n ? IOMMUSIM_CONTAINER_OF(n, iopt_area, pages_node) : nullptr;
}

inline uint64_t iopt_area_index(const iopt_area *a) { return a->pages_node.start; }
inline uint64_t iopt_area_last_index(const iopt_area *a) { return a->pages_node.last; }
inline uint64_t iopt_area_iova(const iopt_area *a) { return a->node.start; }
inline uint64_t iopt_area_last_iova(const iopt_area *a) { return a->node.last; }
inline uint64_t iopt_area_length(const iopt_area *a) { return a->node.last - a->node.start + 1; }
// Bytes from the start of the iopt_pages to iova: / PAGE_SIZE is the page
// index, % PAGE_SIZE the offset within it.
inline uint64_t iopt_area_start_byte(const iopt_area *a, uint64_t iova) {
  return (iova - iopt_area_iova(a)) + a->page_offset + iopt_area_index(a) * PAGE_SIZE;
}
inline uint64_t iopt_area_iova_to_index(const iopt_area *a, uint64_t iova) {
  return iopt_area_start_byte(a, iova) / PAGE_SIZE;
}

// The IOVA -> PFN map of one IOAS.
struct io_pagetable {
  io_pagetable() = default;
  io_pagetable(const io_pagetable &) = delete;
  io_pagetable &operator=(const io_pagetable &) = delete;

  std::shared_mutex domains_rwsem;
  // Attached domains, densely indexed 0 .. size-1 (the kernel's xarray with
  // next_domain_id); index 0 serves as the storage domain of new areas.
  std::vector<iommu_domain *> domains;
  std::map<uint32_t, iommufd_access *> access_list;  // under both rwsems (write)
  uint32_t next_access_id = 0;

  std::shared_mutex iova_rwsem;
  interval_tree area_itree;
  interval_tree allowed_itree;  // IOVA that may not become reserved
  interval_tree reserved_itree; // IOVA that may not be mapped
  std::atomic<bool> disable_large_pages{false};
  uint64_t iova_alignment = 1;
};

// Area iteration over [start, last] (iova_rwsem held).
inline iopt_area *iopt_area_iter_first(io_pagetable *iopt, uint64_t start, uint64_t last) {
  return area_of(iopt->area_itree.iter_first(start, last));
}
inline iopt_area *iopt_area_iter_next(iopt_area *area, uint64_t start, uint64_t last) {
  return area_of(interval_tree::iter_next(&area->node, start, last));
}
inline iopt_reserved *iopt_reserved_iter_first(io_pagetable *iopt, uint64_t start, uint64_t last) {
  auto *n = iopt->reserved_itree.iter_first(start, last);
  return n ? IOMMUSIM_CONTAINER_OF(n, iopt_reserved, node) : nullptr;
}
inline iopt_reserved *iopt_reserved_iter_next(iopt_reserved *r, uint64_t start, uint64_t last) {
  auto *n = interval_tree::iter_next(&r->node, start, last);
  return n ? IOMMUSIM_CONTAINER_OF(n, iopt_reserved, node) : nullptr;
}
inline iopt_allowed *iopt_allowed_iter_first(io_pagetable *iopt, uint64_t start, uint64_t last) {
  auto *n = iopt->allowed_itree.iter_first(start, last);
  return n ? IOMMUSIM_CONTAINER_OF(n, iopt_allowed, node) : nullptr;
}
inline iopt_allowed *iopt_allowed_iter_next(iopt_allowed *a, uint64_t start, uint64_t last) {
  auto *n = interval_tree::iter_next(&a->node, start, last);
  return n ? IOMMUSIM_CONTAINER_OF(n, iopt_allowed, node) : nullptr;
}

// Walks the areas that cover [iova, last_iova] back to back; stops at the
// first gap or at an area that is being created/destroyed. After the loop,
// done() says whether the whole range was covered.
struct iopt_area_contig_iter {
  uint64_t cur_iova = 0;
  uint64_t last_iova = 0;
  iopt_area *area = nullptr;
  iopt_area *init(io_pagetable *iopt, uint64_t iova, uint64_t last);
  iopt_area *next();
  bool done() const { return area && last_iova <= iopt_area_last_iova(area); }
};

// A slice of pages that is being moved into an io_pagetable (map or copy).
struct iopt_pages_list {
  iopt_pages *pages = nullptr;
  iopt_area *area = nullptr;
  uint64_t start_byte = 0;
  uint64_t length = 0;
};
using iopt_pages_list_t = std::list<iopt_pages_list>;

// --- io_pagetable.cpp ---
void iopt_destroy_table(io_pagetable *iopt);
enum : unsigned { IOPT_ALLOC_IOVA = 1 << 0 };
int iopt_get_pages(io_pagetable *iopt, uint64_t iova, uint64_t length, iopt_pages_list_t *list);
void iopt_free_pages_list(iopt_pages_list_t *list);
int iopt_map_user_pages(iommufd_ctx *ictx, io_pagetable *iopt, uint64_t *iova, uint64_t uptr,
                        uint64_t length, int iommu_prot, unsigned flags);
int iopt_map_pages(io_pagetable *iopt, iopt_pages_list_t *list, uint64_t length,
                   uint64_t *dst_iova, int iommu_prot, unsigned flags);
int iopt_unmap_iova(io_pagetable *iopt, uint64_t iova, uint64_t length, uint64_t *unmapped);
int iopt_unmap_all(io_pagetable *iopt, uint64_t *unmapped);
int iommufd_check_iova_range(io_pagetable *iopt, const ::iommu_hwpt_get_dirty_bitmap *bitmap);
int iopt_read_and_clear_dirty_data(io_pagetable *iopt, iommu_domain *domain, unsigned long flags,
                                   const ::iommu_hwpt_get_dirty_bitmap *bitmap);
int iopt_set_dirty_tracking(io_pagetable *iopt, iommu_domain *domain, bool enable);
int iopt_table_add_domain(io_pagetable *iopt, iommu_domain *domain);
void iopt_table_remove_domain(io_pagetable *iopt, iommu_domain *domain);
int iopt_table_enforce_dev_resv_regions(io_pagetable *iopt, device *dev, uint64_t *sw_msi_start);
// Replace the allowed tree by *allowed (iopt takes the nodes it keeps; the
// caller frees whatever is left in *allowed afterwards).
int iopt_set_allow_iova(io_pagetable *iopt, interval_tree *allowed);
int iopt_reserve_iova(io_pagetable *iopt, uint64_t start, uint64_t last, const void *owner);
void iopt_remove_reserved_iova(io_pagetable *iopt, const void *owner);
int iopt_cut_iova(io_pagetable *iopt, const uint64_t *iovas, size_t num_iovas);
void iopt_enable_large_pages(io_pagetable *iopt);
int iopt_disable_large_pages(io_pagetable *iopt);
int iopt_calculate_iova_alignment(io_pagetable *iopt);  // both rwsems held for write

// --- pages.cpp: the PFN storage ---
struct iopt_pages {
  iopt_pages() = default;
  iopt_pages(const iopt_pages &) = delete;
  iopt_pages &operator=(const iopt_pages &) = delete;

  std::atomic<int> kref{1};
  std::mutex mutex;
  size_t npages = 0;
  size_t npinned = 0;
  size_t last_npinned = 0;
  std::shared_ptr<task_struct> source_task;
  std::shared_ptr<mm_struct> source_mm;
  std::shared_ptr<user_struct> source_user;
  uint64_t uptr = 0;  // page aligned
  bool writable = false;
  uint8_t account_mode = 0;

  sparse_array<pfn_t> pinned_pfns;  // tier 1; PFN 0 is never a user frame
  interval_tree access_itree;       // of iopt_pages_access::node
  interval_tree domains_itree;      // of iopt_area::pages_node
};

// An in-kernel access holding [node.start, node.last] pinned and in pinned_pfns.
struct iopt_pages_access {
  interval_tree_node node;
  unsigned users = 0;
};

err_or<iopt_pages> iopt_alloc_pages(uint64_t uptr, uint64_t length, bool writable);
void iopt_release_pages(iopt_pages *pages);
inline void iopt_get_pages(iopt_pages *pages) { pages->kref.fetch_add(1, std::memory_order_relaxed); }
inline void iopt_put_pages(iopt_pages *pages) {
  if (refcount_dec_and_test(pages->kref)) iopt_release_pages(pages);
}

int iopt_area_fill_domains(iopt_area *area, iopt_pages *pages);
void iopt_area_unfill_domains(iopt_area *area, iopt_pages *pages);
int iopt_area_fill_domain(iopt_area *area, iommu_domain *domain);
void iopt_area_unfill_domain(iopt_area *area, iopt_pages *pages, iommu_domain *domain);
void iopt_area_unmap_domain(iopt_area *area, iommu_domain *domain);

void iopt_pages_fill_from_xarray(iopt_pages *pages, uint64_t start_index, uint64_t last_index,
                                 pfn_t *out_pages);
int iopt_pages_fill_xarray(iopt_pages *pages, uint64_t start_index, uint64_t last_index,
                           pfn_t *out_pages);
void iopt_pages_unfill_xarray(iopt_pages *pages, uint64_t start_index, uint64_t last_index);

int iopt_area_add_access(iopt_area *area, uint64_t start_index, uint64_t last_index,
                         pfn_t *out_pages, unsigned flags);
void iopt_area_remove_access(iopt_area *area, uint64_t start_index, uint64_t last_index);
int iopt_pages_rw_access(iopt_pages *pages, uint64_t start_byte, void *data, uint64_t length,
                         unsigned flags);

// Bytes of PFN-storage bookkeeping held by one iopt_pages beyond the domains'
// own tables (for the memory benchmark).
size_t iopt_pages_bookkeeping_bytes(const iopt_pages *pages);

}  // namespace iommusim::iommufd
