// SPDX-License-Identifier: MIT
// The IOVA -> PFN map of an IOAS (the kernel's io_pagetable.c): IOVA
// allocation, areas, map/unmap/copy, attaching domains, reserved and allowed
// ranges, dirty tracking. PFN movement itself lives in pages.cpp.
#include <algorithm>

#include "iommufd_private.h"
#include "iova_bitmap.h"
#include "log.h"

namespace iommusim::iommufd {

// --- contiguous area iteration ---

iopt_area *iopt_area_contig_iter::init(io_pagetable *iopt, uint64_t iova, uint64_t last) {
  cur_iova = iova;
  last_iova = last;
  area = iopt_area_iter_first(iopt, iova, iova);
  if (area && !area->pages) area = nullptr;
  return area;
}

iopt_area *iopt_area_contig_iter::next() {
  if (!area) return nullptr;
  uint64_t area_last = iopt_area_last_iova(area);
  if (last_iova <= area_last) return nullptr;
  cur_iova = area_last + 1;
  area = iopt_area_iter_next(area, cur_iova, last_iova);
  if (area && (cur_iova != iopt_area_iova(area) || !area->pages)) area = nullptr;
  return area;
}

// --- IOVA allocation ---

namespace {

// Align *start up to iova_alignment, keep the user pointer's offset in the
// page, and check [*start, *start + length) fits before last.
bool alloc_iova_check_range(uint64_t *start, uint64_t last, uint64_t length,
                            uint64_t iova_alignment, uint64_t page_offset) {
  uint64_t aligned;
  if (check_add_overflow<uint64_t>(*start, iova_alignment - 1, &aligned)) return false;
  aligned &= ~(iova_alignment - 1);
  aligned |= page_offset;
  if (aligned >= last || last - aligned < length - 1) return false;
  *start = aligned;
  return true;
}

// First fit: the lowest hole of (reserved U areas) inside the allowed ranges
// (or [PAGE_SIZE, ULONG_MAX - PAGE_SIZE] when none are set) that holds length
// bytes at the alignment. IOVA 0 is never returned.
int iopt_alloc_iova(io_pagetable *iopt, uint64_t *iova, uint64_t uptr, uint64_t length) {
  const uint64_t page_offset = uptr % PAGE_SIZE;
  if (length == 0 || length >= UINT64_MAX / 2) return -EOVERFLOW;

  // Keep the alignment the user pointer has: it raises the chance of mapping
  // huge pages.
  uint64_t iova_alignment = roundup_pow_of_two(length);
  if (uptr) iova_alignment = std::min<uint64_t>(iova_alignment, 1ULL << ffs64(uptr));
  if (iova_alignment >= HPAGE_SIZE) iova_alignment = HPAGE_SIZE;
  if (iova_alignment < iopt->iova_alignment) return -EINVAL;

  interval_tree_span_iter allowed;
  for (allowed.first(iopt->allowed_itree, PAGE_SIZE, UINT64_MAX - PAGE_SIZE); !allowed.done();
       allowed.next()) {
    if (iopt->allowed_itree.empty()) {
      allowed.start_used = PAGE_SIZE;
      allowed.last_used = UINT64_MAX - PAGE_SIZE;
      allowed.is_hole = 0;
    }
    if (allowed.is_hole) continue;
    if (!alloc_iova_check_range(&allowed.start_used, allowed.last_used, length, iova_alignment,
                                page_offset))
      continue;

    interval_tree_double_span_iter used;
    for (used.first(iopt->reserved_itree, iopt->area_itree, allowed.start_used, allowed.last_used);
         !used.done(); used.next()) {
      if (used.is_used) continue;
      if (!alloc_iova_check_range(&used.start_hole, used.last_hole, length, iova_alignment,
                                  page_offset))
        continue;
      *iova = used.start_hole;
      return 0;
    }
  }
  return -ENOSPC;
}

int iopt_check_iova(io_pagetable *iopt, uint64_t iova, uint64_t length) {
  if (iova & (iopt->iova_alignment - 1)) return -EINVAL;
  uint64_t last;
  if (check_add_overflow<uint64_t>(iova, length - 1, &last)) return -EOVERFLOW;
  if (iopt_reserved_iter_first(iopt, iova, last)) return -EINVAL;
  if (iopt_area_iter_first(iopt, iova, last)) return -EEXIST;
  return 0;
}

// The area takes bytes [start_byte, start_byte + length) of pages at iova.
// It enters the tree with pages == nullptr: reserved, not yet usable.
int iopt_insert_area(io_pagetable *iopt, iopt_area *area, iopt_pages *pages, uint64_t iova,
                     uint64_t start_byte, uint64_t length, int iommu_prot) {
  if ((iommu_prot & IOMMU_WRITE) && !pages->writable) return -EPERM;
  area->iommu_prot = iommu_prot;
  area->page_offset = static_cast<unsigned>(start_byte % PAGE_SIZE);
  if (area->page_offset & (iopt->iova_alignment - 1)) return -EINVAL;
  area->node.start = iova;
  if (check_add_overflow<uint64_t>(iova, length - 1, &area->node.last)) return -EOVERFLOW;
  area->pages_node.start = start_byte / PAGE_SIZE;
  if (check_add_overflow<uint64_t>(start_byte, length - 1, &area->pages_node.last))
    return -EOVERFLOW;
  area->pages_node.last /= PAGE_SIZE;
  if (IOMMUSIM_WARN_ON(area->pages_node.last >= pages->npages)) return -EOVERFLOW;
  area->iopt = iopt;
  iopt->area_itree.insert(&area->node);
  return 0;
}

int iopt_alloc_area_pages(io_pagetable *iopt, iopt_pages_list_t *list, uint64_t length,
                          uint64_t *dst_iova, int iommu_prot, unsigned flags) {
  for (auto &elm : *list) elm.area = new iopt_area();

  std::unique_lock g(iopt->iova_rwsem);
  if ((length & (iopt->iova_alignment - 1)) || !length) return -EINVAL;
  if (flags & IOPT_ALLOC_IOVA) {
    // The first slice's user address guides the alignment.
    auto &first = list->front();
    int rc = iopt_alloc_iova(iopt, dst_iova, first.pages->uptr + first.start_byte, length);
    if (rc) return rc;
    if (IOMMUSIM_WARN_ON(iopt_check_iova(iopt, *dst_iova, length))) return -EINVAL;
  } else {
    int rc = iopt_check_iova(iopt, *dst_iova, length);
    if (rc) return rc;
  }
  uint64_t iova = *dst_iova;
  for (auto &elm : *list) {
    int rc = iopt_insert_area(iopt, elm.area, elm.pages, iova, elm.start_byte, elm.length,
                              iommu_prot);
    if (rc) return rc;
    iova += elm.length;
  }
  return 0;
}

void iopt_abort_area(iopt_area *area) {
  IOMMUSIM_WARN_ON(area->pages);
  if (area->iopt) {
    std::unique_lock g(area->iopt->iova_rwsem);
    area->iopt->area_itree.remove(&area->node);
  }
  delete area;
}

int iopt_fill_domains_pages(iopt_pages_list_t *list) {
  for (auto it = list->begin(); it != list->end(); ++it) {
    int rc = iopt_area_fill_domains(it->area, it->pages);
    if (rc) {
      for (auto undo = list->begin(); undo != it; ++undo)
        iopt_area_unfill_domains(undo->area, undo->pages);
      return rc;
    }
  }
  return 0;
}

}  // namespace

void iopt_free_pages_list(iopt_pages_list_t *list) {
  for (auto &elm : *list) {
    if (elm.area) iopt_abort_area(elm.area);
    if (elm.pages) iopt_put_pages(elm.pages);
  }
  list->clear();
}

int iopt_map_pages(io_pagetable *iopt, iopt_pages_list_t *list, uint64_t length,
                   uint64_t *dst_iova, int iommu_prot, unsigned flags) {
  int rc = iopt_alloc_area_pages(iopt, list, length, dst_iova, iommu_prot, flags);
  if (rc) return rc;

  std::shared_lock dg(iopt->domains_rwsem);
  rc = iopt_fill_domains_pages(list);
  if (rc) return rc;
  // Publishing area->pages under domains_rwsem guarantees that a domain added
  // afterwards will be filled with this area.
  std::unique_lock ig(iopt->iova_rwsem);
  for (auto &elm : *list) {
    elm.area->pages = elm.pages;  // the list's reference moves into the area
    elm.pages = nullptr;
    elm.area = nullptr;
  }
  return 0;
}

int iopt_map_user_pages(iommufd_ctx *ictx, io_pagetable *iopt, uint64_t *iova, uint64_t uptr,
                        uint64_t length, int iommu_prot, unsigned flags) {
  auto pages = iopt_alloc_pages(uptr, length, iommu_prot & IOMMU_WRITE);
  if (pages.is_err()) return pages.err();
  if (ictx->account_mode == IOPT_PAGES_ACCOUNT_MM &&
      pages->account_mode == IOPT_PAGES_ACCOUNT_USER)
    pages->account_mode = IOPT_PAGES_ACCOUNT_MM;

  iopt_pages_list_t list;
  list.push_back({pages.get(), nullptr, uptr - pages->uptr, length});
  int rc = iopt_map_pages(iopt, &list, length, iova, iommu_prot, flags);
  if (rc) iopt_free_pages_list(&list);
  return rc;
}

// --- dirty tracking ---

namespace {
struct dirty_walk {
  unsigned long flags;
  io_pagetable *iopt;
  iommu_domain *domain;
  iommu_dirty_bitmap *dirty;
};

// One window of the user bitmap: ask the domain about every area in it.
int read_and_clear_dirty_window(iova_bitmap *, uint64_t iova, uint64_t length, void *opaque) {
  auto *arg = static_cast<dirty_walk *>(opaque);
  uint64_t last_iova = iova + length - 1;
  iopt_area_contig_iter iter;
  for (iopt_area *area = iter.init(arg->iopt, iova, last_iova); area; area = iter.next()) {
    uint64_t last = std::min(last_iova, iopt_area_last_iova(area));
    int rc = arg->domain->read_and_clear_dirty(iter.cur_iova, last - iter.cur_iova + 1,
                                               arg->flags, *arg->dirty);
    if (rc) return rc;
  }
  if (!iter.done()) return -EINVAL;
  return 0;
}

int iommu_read_and_clear_dirty(iommu_domain *domain, io_pagetable *iopt, unsigned long flags,
                               const ::iommu_hwpt_get_dirty_bitmap *bitmap) {
  if (!domain->has_dirty_ops) return -EOPNOTSUPP;
  auto iter = iova_bitmap::alloc(*current().mm, bitmap->iova, bitmap->length, bitmap->page_size,
                                 bitmap->data);
  if (iter.is_err()) return -ENOMEM;
  iommu_iotlb_gather gather;
  iommu_dirty_bitmap dirty;
  dirty.bitmap = iter.get();
  dirty.gather = &gather;
  dirty_walk arg{flags, iopt, domain, &dirty};
  // As in the kernel, an error from a window (a hole in the range) is not
  // reported: the bits gathered so far stand.
  (void)iter->for_each(&arg, read_and_clear_dirty_window);
  if (!(flags & IOMMU_DIRTY_NO_CLEAR)) domain->iotlb_sync(gather);
  delete iter.get();
  return 0;
}

int iopt_clear_dirty_data(io_pagetable *iopt, iommu_domain *domain) {
  iommu_iotlb_gather gather;
  iommu_dirty_bitmap dirty;
  dirty.gather = &gather;
  int rc = 0;
  for (iopt_area *area = iopt_area_iter_first(iopt, 0, UINT64_MAX); area;
       area = iopt_area_iter_next(area, 0, UINT64_MAX)) {
    if (!area->pages) continue;
    rc = domain->read_and_clear_dirty(iopt_area_iova(area), iopt_area_length(area), 0, dirty);
    if (rc) break;
  }
  domain->iotlb_sync(gather);
  return rc;
}
}  // namespace

int iommufd_check_iova_range(io_pagetable *iopt, const ::iommu_hwpt_get_dirty_bitmap *bitmap) {
  const uint64_t pgsize = iopt->iova_alignment;
  if (!bitmap->length) return -EINVAL;
  uint64_t last_iova;
  if (check_add_overflow<uint64_t>(bitmap->iova, bitmap->length - 1, &last_iova))
    return -EOVERFLOW;
  if ((bitmap->iova & (pgsize - 1)) || ((last_iova + 1) & (pgsize - 1))) return -EINVAL;
  if (!bitmap->page_size) return -EINVAL;
  if ((bitmap->iova & (bitmap->page_size - 1)) || ((last_iova + 1) & (bitmap->page_size - 1)))
    return -EINVAL;
  return 0;
}

int iopt_read_and_clear_dirty_data(io_pagetable *iopt, iommu_domain *domain, unsigned long flags,
                                   const ::iommu_hwpt_get_dirty_bitmap *bitmap) {
  int rc = iommufd_check_iova_range(iopt, bitmap);
  if (rc) return rc;
  std::shared_lock g(iopt->iova_rwsem);
  return iommu_read_and_clear_dirty(domain, iopt, flags, bitmap);
}

int iopt_set_dirty_tracking(io_pagetable *iopt, iommu_domain *domain, bool enable) {
  if (!domain->has_dirty_ops) return -EOPNOTSUPP;
  std::shared_lock g(iopt->iova_rwsem);
  // Start from a clean snapshot: clear whatever the PTEs say now.
  if (enable) {
    int rc = iopt_clear_dirty_data(iopt, domain);
    if (rc) return rc;
  }
  return domain->set_dirty_tracking(enable);
}

// --- copy, unmap ---

int iopt_get_pages(io_pagetable *iopt, uint64_t iova, uint64_t length, iopt_pages_list_t *list) {
  if (!length) return -EINVAL;
  uint64_t last_iova;
  if (check_add_overflow<uint64_t>(iova, length - 1, &last_iova)) return -EOVERFLOW;

  std::shared_lock g(iopt->iova_rwsem);
  iopt_area_contig_iter iter;
  for (iopt_area *area = iter.init(iopt, iova, last_iova); area; area = iter.next()) {
    uint64_t last = std::min(last_iova, iopt_area_last_iova(area));
    iopt_pages_list elm;
    elm.start_byte = iopt_area_start_byte(area, iter.cur_iova);
    elm.pages = area->pages;
    elm.length = last - iter.cur_iova + 1;
    iopt_get_pages(elm.pages);
    list->push_back(elm);
  }
  if (!iter.done()) {
    g.unlock();
    iopt_free_pages_list(list);
    return -ENOENT;
  }
  return 0;
}

namespace {
int iopt_unmap_iova_range(io_pagetable *iopt, uint64_t start, uint64_t last, uint64_t *unmapped) {
  uint64_t unmapped_bytes = 0;
  unsigned tries = 0;
  int rc = 0;

again:
  // domains_rwsem (read) is held whenever an area's pages is nullptr, so
  // domain attach/detach cannot run while an area is half torn down.
  std::shared_lock dg(iopt->domains_rwsem);
  std::unique_lock ig(iopt->iova_rwsem);
  while (iopt_area *area = iopt_area_iter_first(iopt, start, last)) {
    uint64_t area_last = iopt_area_last_iova(area);
    uint64_t area_first = iopt_area_iova(area);

    if (!area->pages) {  // user space raced a map/unmap of this range
      rc = -EBUSY;
      goto out;
    }
    if (area_first < start || area_last > last) {  // only whole areas
      rc = -ENOENT;
      goto out;
    }
    if (area_first != start) tries = 0;

    if (area->num_accesses) {
      // Ask every access to let go of this area, then look again.
      uint64_t len = iopt_area_length(area);
      start = area_first;
      area->prevent_access = true;
      ig.unlock();
      dg.unlock();
      iommufd_access_notify_unmap(iopt, area_first, len);
      if (IOMMUSIM_WARN_ON(++tries > 100)) {  // something ignores unmap requests
        rc = -EDEADLK;
        if (unmapped) *unmapped = unmapped_bytes;
        return rc;
      }
      goto again;
    }

    iopt_pages *pages = area->pages;
    area->pages = nullptr;
    ig.unlock();
    iopt_area_unfill_domains(area, pages);
    iopt_abort_area(area);
    iopt_put_pages(pages);
    unmapped_bytes += area_last - area_first + 1;
    ig.lock();
    // New areas may appear at IOVA already unmapped; move past it.
    if (area_last >= last) break;
    start = area_last + 1;
  }
out:
  if (unmapped) *unmapped = unmapped_bytes;
  return rc;
}
}  // namespace

int iopt_unmap_iova(io_pagetable *iopt, uint64_t iova, uint64_t length, uint64_t *unmapped) {
  if (!length) return -EINVAL;
  uint64_t last;
  if (check_add_overflow<uint64_t>(iova, length - 1, &last)) return -EOVERFLOW;
  return iopt_unmap_iova_range(iopt, iova, last, unmapped);
}

int iopt_unmap_all(io_pagetable *iopt, uint64_t *unmapped) {
  return iopt_unmap_iova_range(iopt, 0, UINT64_MAX, unmapped);
}

// --- allowed and reserved ranges ---

int iopt_set_allow_iova(io_pagetable *iopt, interval_tree *allowed) {
  std::unique_lock g(iopt->iova_rwsem);
  std::swap(*allowed, iopt->allowed_itree);
  for (iopt_allowed *a = iopt_allowed_iter_first(iopt, 0, UINT64_MAX); a;
       a = iopt_allowed_iter_next(a, 0, UINT64_MAX)) {
    if (iopt_reserved_iter_first(iopt, a->node.start, a->node.last)) {
      std::swap(*allowed, iopt->allowed_itree);
      return -EADDRINUSE;
    }
  }
  return 0;
}

int iopt_reserve_iova(io_pagetable *iopt, uint64_t start, uint64_t last, const void *owner) {
  if (iopt_area_iter_first(iopt, start, last) || iopt_allowed_iter_first(iopt, start, last))
    return -EADDRINUSE;
  auto *r = new iopt_reserved();
  r->node.start = start;
  r->node.last = last;
  r->owner = owner;
  iopt->reserved_itree.insert(&r->node);
  return 0;
}

namespace {
void remove_reserved_iova_locked(io_pagetable *iopt, const void *owner) {
  iopt_reserved *next;
  for (iopt_reserved *r = iopt_reserved_iter_first(iopt, 0, UINT64_MAX); r; r = next) {
    next = iopt_reserved_iter_next(r, 0, UINT64_MAX);
    if (r->owner == owner) {
      iopt->reserved_itree.remove(&r->node);
      delete r;
    }
  }
}
}  // namespace

void iopt_remove_reserved_iova(io_pagetable *iopt, const void *owner) {
  std::unique_lock g(iopt->iova_rwsem);
  remove_reserved_iova_locked(iopt, owner);
}

void iopt_destroy_table(io_pagetable *iopt) {
  iopt_remove_reserved_iova(iopt, nullptr);  // the selftest's reservations
  std::unique_lock g(iopt->iova_rwsem);
  while (auto *n = iopt->allowed_itree.iter_first(0, UINT64_MAX)) {
    iopt->allowed_itree.remove(n);
    delete IOMMUSIM_CONTAINER_OF(n, iopt_allowed, node);
  }
  IOMMUSIM_WARN_ON(!iopt->reserved_itree.empty());
  IOMMUSIM_WARN_ON(!iopt->domains.empty());
  IOMMUSIM_WARN_ON(!iopt->access_list.empty());
  IOMMUSIM_WARN_ON(!iopt->area_itree.empty());
}

// --- domains ---

namespace {
// Unmap every area from domain, which was already taken out of iopt->domains.
void iopt_unfill_domain(io_pagetable *iopt, iommu_domain *domain) {
  if (!iopt->domains.empty()) {
    // Another domain still holds every PFN: just unmap this one quickly.
    iommu_domain *storage = iopt->domains[0];
    for (iopt_area *area = iopt_area_iter_first(iopt, 0, UINT64_MAX); area;
         area = iopt_area_iter_next(area, 0, UINT64_MAX)) {
      iopt_pages *pages = area->pages;
      if (!pages) continue;
      {
        std::lock_guard pg(pages->mutex);
        IOMMUSIM_WARN_ON(!area->storage_domain);
        if (area->storage_domain == domain) area->storage_domain = storage;
      }
      iopt_area_unmap_domain(area, domain);
    }
    return;
  }
  for (iopt_area *area = iopt_area_iter_first(iopt, 0, UINT64_MAX); area;
       area = iopt_area_iter_next(area, 0, UINT64_MAX)) {
    iopt_pages *pages = area->pages;
    if (!pages) continue;
    std::lock_guard pg(pages->mutex);
    pages->domains_itree.remove(&area->pages_node);
    IOMMUSIM_WARN_ON(area->storage_domain != domain);
    area->storage_domain = nullptr;
    iopt_area_unfill_domain(area, pages, domain);
  }
}

// Map every area into domain; on failure the domain is left empty.
int iopt_fill_domain(io_pagetable *iopt, iommu_domain *domain) {
  iopt_area *area;
  int rc = 0;
  for (area = iopt_area_iter_first(iopt, 0, UINT64_MAX); area;
       area = iopt_area_iter_next(area, 0, UINT64_MAX)) {
    iopt_pages *pages = area->pages;
    if (!pages) continue;
    std::lock_guard pg(pages->mutex);
    rc = iopt_area_fill_domain(area, domain);
    if (rc) break;
    if (!area->storage_domain) {
      IOMMUSIM_WARN_ON(!iopt->domains.empty());
      area->storage_domain = domain;
      pages->domains_itree.insert(&area->pages_node);
    }
  }
  if (!rc) return 0;

  iopt_area *end_area = area;
  for (area = iopt_area_iter_first(iopt, 0, UINT64_MAX); area && area != end_area;
       area = iopt_area_iter_next(area, 0, UINT64_MAX)) {
    iopt_pages *pages = area->pages;
    if (!pages) continue;
    std::lock_guard pg(pages->mutex);
    if (iopt->domains.empty()) {
      pages->domains_itree.remove(&area->pages_node);
      area->storage_domain = nullptr;
    }
    iopt_area_unfill_domain(area, pages, domain);
  }
  return rc;
}

// Every area must satisfy a larger alignment before it can take effect.
int iopt_check_iova_alignment(io_pagetable *iopt, uint64_t new_alignment) {
  const uint64_t mask = new_alignment - 1;
  for (iopt_area *area = iopt_area_iter_first(iopt, 0, UINT64_MAX); area;
       area = iopt_area_iter_next(area, 0, UINT64_MAX))
    if ((iopt_area_iova(area) & mask) || (iopt_area_length(area) & mask) ||
        (area->page_offset & mask))
      return -EADDRINUSE;
  return 0;
}
}  // namespace

int iopt_table_add_domain(io_pagetable *iopt, iommu_domain *domain) {
  std::unique_lock dg(iopt->domains_rwsem);
  std::unique_lock ig(iopt->iova_rwsem);
  for (iommu_domain *d : iopt->domains)
    if (IOMMUSIM_WARN_ON(d == domain)) return -EEXIST;

  // The domain's smallest page drives the IOVA alignment; iopt_pages work in
  // PAGE_SIZE units, so a domain must accept PAGE_SIZE.
  uint64_t new_alignment =
      std::max<uint64_t>(1ULL << ffs64(domain->pgsize_bitmap), iopt->iova_alignment);
  if (new_alignment > PAGE_SIZE) return -EINVAL;
  if (new_alignment != iopt->iova_alignment) {
    int rc = iopt_check_iova_alignment(iopt, new_alignment);
    if (rc) return rc;
  }

  // No area may sit outside the domain's aperture.
  int rc = 0;
  if (domain->geometry.aperture_start != 0)
    rc = iopt_reserve_iova(iopt, 0, domain->geometry.aperture_start - 1, domain);
  if (!rc && domain->geometry.aperture_end != UINT64_MAX)
    rc = iopt_reserve_iova(iopt, domain->geometry.aperture_end + 1, UINT64_MAX, domain);
  if (!rc) rc = iopt_fill_domain(iopt, domain);
  if (rc) {
    remove_reserved_iova_locked(iopt, domain);
    return rc;
  }
  iopt->iova_alignment = new_alignment;
  iopt->domains.push_back(domain);
  return 0;
}

int iopt_calculate_iova_alignment(io_pagetable *iopt) {
  // batch_iommu_map_small() needs PAGE_SIZE granularity
  uint64_t new_alignment = iopt->disable_large_pages ? PAGE_SIZE : 1;
  for (iommu_domain *d : iopt->domains)
    new_alignment = std::max<uint64_t>(1ULL << ffs64(d->pgsize_bitmap), new_alignment);
  for (auto &[id, access] : iopt->access_list)
    new_alignment = std::max<uint64_t>(access->iova_alignment, new_alignment);
  if (new_alignment > iopt->iova_alignment) {
    int rc = iopt_check_iova_alignment(iopt, new_alignment);
    if (rc) return rc;
  }
  iopt->iova_alignment = new_alignment;
  return 0;
}

void iopt_table_remove_domain(io_pagetable *iopt, iommu_domain *domain) {
  std::unique_lock dg(iopt->domains_rwsem);
  std::unique_lock ig(iopt->iova_rwsem);
  auto it = std::find(iopt->domains.begin(), iopt->domains.end(), domain);
  if (IOMMUSIM_WARN_ON(it == iopt->domains.end())) return;
  // Keep the array dense: move the tail entry into the hole.
  *it = iopt->domains.back();
  iopt->domains.pop_back();
  iopt_unfill_domain(iopt, domain);
  remove_reserved_iova_locked(iopt, domain);
  IOMMUSIM_WARN_ON(iopt_calculate_iova_alignment(iopt));
}

// --- VFIO type1 splitting and large pages ---

namespace {
// Split area so that iova becomes the last byte of a new area (type1
// compatibility: poke a hole into a mapping). Both halves share the pages.
int iopt_area_split(iopt_area *area, uint64_t iova) {
  io_pagetable *iopt = area->iopt;
  const uint64_t alignment = iopt->iova_alignment;
  const uint64_t last_iova = iopt_area_last_iova(area);
  const uint64_t start_iova = iopt_area_iova(area);
  const uint64_t new_start = iova + 1;
  iopt_pages *pages = area->pages;

  if (iova == start_iova || iova == last_iova) return 0;
  if (!pages || area->prevent_access) return -EBUSY;
  if ((new_start & (alignment - 1)) || (iopt_area_start_byte(area, new_start) & (alignment - 1)))
    return -EINVAL;

  auto *lhs = new iopt_area();
  auto *rhs = new iopt_area();
  std::unique_lock pg(pages->mutex);
  int rc = 0;
  // An access cannot be split; a domain may hold large pages spanning iova.
  if (area->num_accesses || (area->storage_domain && !iopt->disable_large_pages)) {
    rc = -EINVAL;
  } else {
    iopt->area_itree.remove(&area->node);
    rc = iopt_insert_area(iopt, lhs, pages, start_iova, iopt_area_start_byte(area, start_iova),
                          new_start - start_iova, area->iommu_prot);
    if (IOMMUSIM_WARN_ON(rc)) {
      iopt->area_itree.insert(&area->node);
    } else {
      rc = iopt_insert_area(iopt, rhs, pages, new_start, iopt_area_start_byte(area, new_start),
                            last_iova - new_start + 1, area->iommu_prot);
      if (IOMMUSIM_WARN_ON(rc)) {
        iopt->area_itree.remove(&lhs->node);
        iopt->area_itree.insert(&area->node);
      }
    }
  }
  if (rc) {
    pg.unlock();
    delete lhs;
    delete rhs;
    return rc;
  }
  if (area->storage_domain) {
    pages->domains_itree.remove(&area->pages_node);
    pages->domains_itree.insert(&lhs->pages_node);
    pages->domains_itree.insert(&rhs->pages_node);
  }
  lhs->storage_domain = rhs->storage_domain = area->storage_domain;
  lhs->pages = rhs->pages = pages;
  iopt_get_pages(pages);  // one reference per area now
  delete area;
  return 0;
}
}  // namespace

int iopt_cut_iova(io_pagetable *iopt, const uint64_t *iovas, size_t num_iovas) {
  std::unique_lock g(iopt->iova_rwsem);
  for (size_t i = 0; i < num_iovas; i++) {
    iopt_area *area = iopt_area_iter_first(iopt, iovas[i], iovas[i]);
    if (!area) continue;
    int rc = iopt_area_split(area, iovas[i]);
    if (rc) return rc;
  }
  return 0;
}

void iopt_enable_large_pages(io_pagetable *iopt) {
  std::unique_lock dg(iopt->domains_rwsem);
  std::unique_lock ig(iopt->iova_rwsem);
  iopt->disable_large_pages = false;
  IOMMUSIM_WARN_ON(iopt_calculate_iova_alignment(iopt));
}

int iopt_disable_large_pages(io_pagetable *iopt) {
  std::unique_lock dg(iopt->domains_rwsem);
  std::unique_lock ig(iopt->iova_rwsem);
  if (iopt->disable_large_pages) return 0;
  // Domains already holding mappings may hold large pages.
  if (!iopt->domains.empty() && !iopt->area_itree.empty()) return -EINVAL;
  iopt->disable_large_pages = true;
  int rc = iopt_calculate_iova_alignment(iopt);
  if (rc) iopt->disable_large_pages = false;
  return rc;
}

// --- accesses ---

int iopt_add_access(io_pagetable *iopt, iommufd_access *access) {
  std::unique_lock dg(iopt->domains_rwsem);
  std::unique_lock ig(iopt->iova_rwsem);
  // IDs within an IOAS are 16 bit (xa_limit_16b).
  uint32_t id = 0;
  for (auto it = iopt->access_list.begin(); it != iopt->access_list.end() && it->first == id; ++it)
    id++;
  if (id > 0xffff) return -EBUSY;
  iopt->access_list.emplace(id, access);
  int rc = iopt_calculate_iova_alignment(iopt);
  if (rc) {
    iopt->access_list.erase(id);
    return rc;
  }
  access->iopt_access_list_id = id;
  return 0;
}

void iopt_remove_access(io_pagetable *iopt, iommufd_access *access, uint32_t list_id) {
  std::unique_lock dg(iopt->domains_rwsem);
  std::unique_lock ig(iopt->iova_rwsem);
  auto it = iopt->access_list.find(list_id);
  IOMMUSIM_WARN_ON(it == iopt->access_list.end() || it->second != access);
  if (it != iopt->access_list.end()) iopt->access_list.erase(it);
  IOMMUSIM_WARN_ON(iopt_calculate_iova_alignment(iopt));
}

// --- device reserved regions ---

int iopt_table_enforce_dev_resv_regions(io_pagetable *iopt, device *dev, uint64_t *sw_msi_start) {
  std::unique_lock g(iopt->iova_rwsem);
  std::vector<iommu_resv_region> regions;
  iommu_get_resv_regions(*dev, regions);
  unsigned num_hw_msi = 0, num_sw_msi = 0;
  int rc = 0;
  for (const auto &r : regions) {
    if (r.type == iommu_resv_region::kind::direct_relaxable) continue;
    if (sw_msi_start && r.type == iommu_resv_region::kind::msi) num_hw_msi++;
    if (sw_msi_start && r.type == iommu_resv_region::kind::sw_msi) {
      *sw_msi_start = r.start;
      num_sw_msi++;
    }
    rc = iopt_reserve_iova(iopt, r.start, r.length - 1 + r.start, dev);
    if (rc) break;
  }
  // A driver must not offer both kinds of MSI window, or two SW ones.
  if (!rc && (IOMMUSIM_WARN_ON(num_sw_msi && num_hw_msi) || IOMMUSIM_WARN_ON(num_sw_msi > 1)))
    rc = -EINVAL;
  if (rc) remove_reserved_iova_locked(iopt, dev);
  return rc;
}

}  // namespace iommusim::iommufd
