// SPDX-License-Identifier: MIT
// The PFN storage of iommufd: iopt_pages and the machinery that moves PFNs
// between its three tiers (design: Linux 6.12 drivers/iommu/iommufd/pages.c).
//
// An iopt_pages is a linear array of npages PFNs backing [uptr, uptr + npages
// * PAGE_SIZE) of one mm. An index is pinned at most once, whoever uses it:
//   - access_itree covers it: an in-kernel access holds it, and its PFN is in
//     pinned_pfns so other accesses can find it without a walk;
//   - domains_itree covers it: an area filled into a domain holds it, and the
//     PFN is read back from area->storage_domain with iova_to_phys (never
//     copied into pinned_pfns, so a mapped page costs no bookkeeping here);
//   - neither: the page is not pinned and the PFN is the user's page.
// Readers (pfn_reader) therefore prefer pinned_pfns, then a domain, and only
// pin user memory for indexes no tree covers.
//
// Destroy paths never fail: when temporary memory cannot be had they fall back
// on a small on-stack buffer. "last" is an inclusive bound; "end" exclusive.
// An index is far below UINT64_MAX, so last_index + 1 never wraps; an IOVA
// may be UINT64_MAX, so last_iova + 1 can.
#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "io_pagetable.h"
#include "iommufd_private.h"
#include "log.h"

namespace iommusim::iommufd {

// iommufd_test_memory_limit (selftest.cpp) bounds every PFN batch; the
// selftest lowers it (IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT) to push every batch
// and pin loop through its chunk boundaries.

namespace {

// Words of stack memory a destroy path falls back on (the kernel's
// BATCH_BACKUP_SIZE): 256 bytes, room for 21 batch entries.
constexpr size_t BATCH_BACKUP_SIZE = 32;

constexpr pfn_t phys_pfn(uint64_t phys) { return phys >> PAGE_SHIFT; }
constexpr uint64_t pfn_phys(pfn_t pfn) { return pfn << PAGE_SHIFT; }

// Temporary memory, only ever a performance aid: a larger buffer means
// fewer pin and map calls. Capped at the temp memory limit; on failure it
// shrinks to one page, and with a backup it cannot fail at all.
void *temp_alloc(size_t *size, void *backup, size_t backup_len) {
  if (IOMMUSIM_WARN_ON(*size == 0)) return nullptr;
  if (*size < backup_len) return backup;
  *size = std::min(*size, iommufd_test_memory_limit.load(std::memory_order_relaxed));
  void *res = ::operator new(*size, std::nothrow);
  if (res) return res;
  *size = PAGE_SIZE;
  if (backup_len) {
    res = ::operator new(*size, std::nothrow);
    if (res) return res;
    *size = backup_len;
    return backup;
  }
  return ::operator new(*size, std::nothrow);
}

void temp_free(void *mem, void *backup) {
  if (mem != backup) ::operator delete(mem);
}

void pages_add_npinned(iopt_pages *pages, size_t n) {
  bool ovf = check_add_overflow(pages->npinned, n, &pages->npinned);
  IOMMUSIM_WARN_ON(ovf || pages->npinned > pages->npages);
}

void pages_sub_npinned(iopt_pages *pages, size_t n) {
  bool ovf = check_sub_overflow(pages->npinned, n, &pages->npinned);
  IOMMUSIM_WARN_ON(ovf || pages->npinned > pages->npages);
}

void pages_err_unpin(iopt_pages *pages, uint64_t start_index, uint64_t last_index,
                     const pfn_t *pfns) {
  size_t n = last_index - start_index + 1;
  host_memory::get().unpin_user_pages(pfns, n);
  pages_sub_npinned(pages, n);
}

// The IOVA where index starts inside area: the area's own first byte for its
// first index (which may start mid-page), otherwise a page boundary.
uint64_t area_index_to_iova(const iopt_area *area, uint64_t index) {
  IOMMUSIM_WARN_ON(index < iopt_area_index(area) || index > iopt_area_last_index(area));
  index -= iopt_area_index(area);
  if (index == 0) return iopt_area_iova(area);
  return iopt_area_iova(area) - area->page_offset + index * PAGE_SIZE;
}

// The last IOVA of index inside area (the area's end for its last index).
uint64_t area_index_to_iova_last(const iopt_area *area, uint64_t index) {
  IOMMUSIM_WARN_ON(index < iopt_area_index(area) || index > iopt_area_last_index(area));
  if (index == iopt_area_last_index(area)) return iopt_area_last_iova(area);
  return iopt_area_iova(area) - area->page_offset +
         (index - iopt_area_index(area) + 1) * PAGE_SIZE - 1;
}

// Every unmap here undoes an earlier map of exactly that range; a driver
// that unmaps anything else is broken, and there is nothing to unwind to.
void iommu_unmap_nofail(iommu_domain *domain, uint64_t iova, size_t size) {
  size_t ret = iommu_unmap(domain, iova, size);
  IOMMUSIM_WARN_ON(ret != size);
}

void area_unmap_domain_range(iopt_area *area, iommu_domain *domain, uint64_t start_index,
                             uint64_t last_index) {
  uint64_t start_iova = area_index_to_iova(area, start_index);
  iommu_unmap_nofail(domain, start_iova, area_index_to_iova_last(area, last_index) - start_iova + 1);
}

iopt_area *pages_find_domain_area(iopt_pages *pages, uint64_t index) {
  return area_of_pages_node(pages->domains_itree.iter_first(index, index));
}

// ---------------------------------------------------------------------------
// pfn_batch: a run-length list of PFNs, the carrier between tiers. Every
// consumer works on whole contiguous runs (one map call, one unpin call).
struct pfn_batch {
  pfn_t *pfns = nullptr;
  uint32_t *npfns = nullptr;
  unsigned array_size = 0;
  unsigned end = 0;
  size_t total_pfns = 0;
};

constexpr size_t BATCH_ELEM_SIZE = sizeof(pfn_t) + sizeof(uint32_t);

void batch_clear(pfn_batch *batch) {
  batch->total_pfns = 0;
  batch->end = 0;
  batch->pfns[0] = 0;
  batch->npfns[0] = 0;
}

// Keep the tail keep_pfns of the last run as the whole batch: PFNs that were
// unmapped past the point where unpinning stopped (the "carry").
void batch_clear_carry(pfn_batch *batch, size_t keep_pfns) {
  if (!keep_pfns) return batch_clear(batch);
  IOMMUSIM_WARN_ON(!batch->end || batch->npfns[batch->end - 1] < keep_pfns);
  batch->total_pfns = keep_pfns;
  batch->pfns[0] = batch->pfns[batch->end - 1] + (batch->npfns[batch->end - 1] - keep_pfns);
  batch->npfns[0] = static_cast<uint32_t>(keep_pfns);
  batch->end = 1;
}

// Drop up to skip_pfns from the front of a carry (a single run).
void batch_skip_carry(pfn_batch *batch, size_t skip_pfns) {
  if (!batch->total_pfns) return;
  IOMMUSIM_WARN_ON(batch->total_pfns != batch->npfns[0]);
  skip_pfns = std::min(batch->total_pfns, skip_pfns);
  batch->pfns[0] += skip_pfns;
  batch->npfns[0] -= static_cast<uint32_t>(skip_pfns);
  batch->total_pfns -= skip_pfns;
  // Linux leaves an emptied carry as a zero-length run. In a one-entry batch
  // (a tiny temp memory limit) that run blocks the next PFN, the next read
  // returns nothing, and the unmap ends where the hole starts: in the middle
  // of a contiguous run that was mapped by one call. Drop it instead.
  if (!batch->total_pfns) batch_clear(batch);
}

int batch_init_raw(pfn_batch *batch, size_t max_pages, void *backup, size_t backup_len) {
  size_t size = max_pages * BATCH_ELEM_SIZE;
  void *mem = temp_alloc(&size, backup, backup_len);
  if (!mem) return -ENOMEM;
  if (size < BATCH_ELEM_SIZE) {
    // A temp limit below one entry. Destroy paths must still make progress,
    // so they take the backup; others fail as the kernel does.
    if (!backup_len) {
      IOMMUSIM_WARN_ON(true);
      temp_free(mem, backup);
      return -EINVAL;
    }
    temp_free(mem, backup);
    mem = backup;
    size = backup_len;
  }
  batch->pfns = static_cast<pfn_t *>(mem);
  batch->array_size = static_cast<unsigned>(std::min<size_t>(size / BATCH_ELEM_SIZE, UINT32_MAX));
  batch->npfns = reinterpret_cast<uint32_t *>(batch->pfns + batch->array_size);
  batch_clear(batch);
  return 0;
}

int batch_init(pfn_batch *batch, size_t max_pages) {
  return batch_init_raw(batch, max_pages, nullptr, 0);
}

// Cannot fail: the backup is used when nothing else can be had.
void batch_init_backup(pfn_batch *batch, size_t max_pages, void *backup, size_t backup_len) {
  batch_init_raw(batch, max_pages, backup, backup_len);
}

void batch_destroy(pfn_batch *batch, void *backup) {
  temp_free(batch->pfns, backup);
  batch->pfns = nullptr;
  batch->npfns = nullptr;
}

// Append one PFN, growing the last run when it is contiguous. False when a
// new run is needed and the array is full.
bool batch_add_pfn(pfn_batch *batch, pfn_t pfn) {
  if (batch->end) {
    unsigned l = batch->end - 1;
    if (pfn == batch->pfns[l] + batch->npfns[l] && batch->npfns[l] != UINT32_MAX) {
      batch->npfns[l]++;
      batch->total_pfns++;
      return true;
    }
  }
  if (batch->end == batch->array_size) return false;
  batch->total_pfns++;
  batch->pfns[batch->end] = pfn;
  batch->npfns[batch->end] = 1;
  batch->end++;
  return true;
}

// Read PFNs of [start_index, last_index] back from what area mapped in
// domain, until the batch is full; total_pfns says how far it got.
void batch_from_domain(pfn_batch *batch, iommu_domain *domain, iopt_area *area,
                       uint64_t start_index, uint64_t last_index) {
  unsigned page_offset = 0;
  uint64_t iova = area_index_to_iova(area, start_index);
  if (start_index == iopt_area_index(area)) page_offset = area->page_offset;
  while (start_index <= last_index) {
    // One translation per page; the driver does not report its page size.
    uint64_t phys = iommu_iova_to_phys(domain, iova) - page_offset;
    if (!batch_add_pfn(batch, phys_pfn(phys))) return;
    iova += PAGE_SIZE - page_offset;
    page_offset = 0;
    start_index++;
  }
}

pfn_t *raw_pages_from_domain(iommu_domain *domain, iopt_area *area, uint64_t start_index,
                             uint64_t last_index, pfn_t *out_pages) {
  unsigned page_offset = 0;
  uint64_t iova = area_index_to_iova(area, start_index);
  if (start_index == iopt_area_index(area)) page_offset = area->page_offset;
  while (start_index <= last_index) {
    uint64_t phys = iommu_iova_to_phys(domain, iova) - page_offset;
    *out_pages++ = phys_pfn(phys);
    iova += PAGE_SIZE - page_offset;
    page_offset = 0;
    start_index++;
  }
  return out_pages;
}

// Keep reading only while the PFNs extend the batch's last run, i.e. up to
// the next discontinuity: the only place an unmap may cut.
void batch_from_domain_continue(pfn_batch *batch, iommu_domain *domain, iopt_area *area,
                                uint64_t start_index, uint64_t last_index) {
  unsigned array_size = batch->array_size;
  batch->array_size = batch->end;
  batch_from_domain(batch, domain, area, start_index, last_index);
  batch->array_size = array_size;
}

// VFIO type1 compatibility (disable_large_pages): every map is PAGE_SIZE so
// that a later unmap of any page-aligned piece pairs with whole maps.
int batch_iommu_map_small(iommu_domain *domain, uint64_t iova, uint64_t paddr, size_t size,
                          int prot) {
  IOMMUSIM_WARN_ON(paddr % PAGE_SIZE || iova % PAGE_SIZE || size % PAGE_SIZE);
  const uint64_t start_iova = iova;
  while (size) {
    int rc = iommu_map(domain, iova, paddr, PAGE_SIZE, prot);
    if (rc) {
      if (start_iova != iova) iommu_unmap_nofail(domain, start_iova, iova - start_iova);
      return rc;
    }
    iova += PAGE_SIZE;
    paddr += PAGE_SIZE;
    size -= PAGE_SIZE;
  }
  return 0;
}

// Map the batch at start_index of area into domain, one iommu_map per
// contiguous run. On failure nothing this call mapped stays mapped.
int batch_to_domain(pfn_batch *batch, iommu_domain *domain, iopt_area *area,
                    uint64_t start_index) {
  const bool small = area->iopt->disable_large_pages.load(std::memory_order_relaxed);
  const uint64_t last_iova = iopt_area_last_iova(area);
  unsigned page_offset = 0;
  // The area's first page may start mid-page.
  if (start_index == iopt_area_index(area)) page_offset = area->page_offset;
  const uint64_t start_iova = area_index_to_iova(area, start_index);
  uint64_t iova = start_iova;
  uint64_t next_iova = start_iova;
  for (unsigned cur = 0; cur < batch->end; cur++) {
    // last_iova + 1 wraps to 0 at the top of the IOVA space; compare the
    // inclusive ends instead.
    uint64_t run_last = next_iova + uint64_t{batch->npfns[cur]} * PAGE_SIZE - page_offset - 1;
    next_iova = std::min(last_iova, run_last) + 1;
    uint64_t paddr = pfn_phys(batch->pfns[cur]) + page_offset;
    int rc = small ? batch_iommu_map_small(domain, iova, paddr, next_iova - iova, area->iommu_prot)
                   : iommu_map(domain, iova, paddr, next_iova - iova, area->iommu_prot);
    if (rc) {
      if (start_iova != iova) iommu_unmap_nofail(domain, start_iova, iova - start_iova);
      return rc;
    }
    iova = next_iova;
    page_offset = 0;
  }
  return 0;
}

// Append pinned_pfns[start_index ..] to the batch until full or last_index.
void batch_from_xarray(pfn_batch *batch, const sparse_array<pfn_t> &xa, uint64_t start_index,
                       uint64_t last_index) {
  uint64_t expect = start_index;
  xa.for_each(start_index, last_index, [&](uint64_t index, const pfn_t &pfn) {
    // Every index an access holds has an entry; a gap is a broken invariant.
    if (IOMMUSIM_WARN_ON(index != expect)) return false;
    if (!batch_add_pfn(batch, pfn)) return false;
    expect++;
    return true;
  });
}

// As batch_from_xarray, also removing each entry that went into the batch.
void batch_from_xarray_clear(pfn_batch *batch, sparse_array<pfn_t> &xa, uint64_t start_index,
                             uint64_t last_index) {
  uint64_t expect = start_index;
  xa.for_each(start_index, last_index, [&](uint64_t index, pfn_t &pfn) {
    if (IOMMUSIM_WARN_ON(index != expect)) return false;
    if (!batch_add_pfn(batch, pfn)) return false;
    pfn = 0;  // erases the entry
    expect++;
    return true;
  });
}

void clear_xarray(sparse_array<pfn_t> &xa, uint64_t start_index, uint64_t last_index) {
  xa.for_each(start_index, last_index, [](uint64_t, pfn_t &pfn) {
    pfn = 0;
    return true;
  });
}

// Store pfns for [start_index, last_index]. On failure (no memory) the
// entries this call stored are removed again.
int pages_to_xarray(sparse_array<pfn_t> &xa, uint64_t start_index, uint64_t last_index,
                    const pfn_t *pfns) {
  uint64_t index = start_index;
  try {
    for (; index <= last_index; index++) {
      pfn_t old = xa.store(index, pfns[index - start_index]);
      IOMMUSIM_WARN_ON(old != 0);
    }
  } catch (const std::bad_alloc &) {
    if (index != start_index) clear_xarray(xa, start_index, index - 1);
    return -ENOMEM;
  }
  return 0;
}

void batch_from_pages(pfn_batch *batch, const pfn_t *pfns, size_t npages) {
  for (size_t i = 0; i < npages; i++)
    if (!batch_add_pfn(batch, pfns[i])) break;
}

// Unpin npages PFNs of the batch starting first_page_off PFNs into it.
void batch_unpin(pfn_batch *batch, iopt_pages *pages, size_t first_page_off, size_t npages) {
  unsigned cur = 0;
  while (first_page_off) {
    if (batch->npfns[cur] > first_page_off) break;
    first_page_off -= batch->npfns[cur];
    cur++;
  }
  while (npages) {
    size_t n = std::min<size_t>(npages, batch->npfns[cur] - first_page_off);
    host_memory::get().unpin_user_page_range(batch->pfns[cur] + first_page_off, n);
    pages_sub_npinned(pages, n);
    cur++;
    first_page_off = 0;
    npages -= n;
  }
}

// kmap + memcpy of one frame; the frame's bytes are the user's own page.
int copy_data_page(pfn_t pfn, void *data, size_t offset, size_t length, unsigned flags) {
  if (flags & IOMMUFD_ACCESS_RW_WRITE)
    return host_memory::get().write_frame(pfn, offset, data, length);
  return host_memory::get().read_frame(pfn, offset, data, length);
}

// Copy between *data and the batch's pages, starting offset bytes into the
// first page; advances *data and *length by what was copied.
int batch_rw(pfn_batch *batch, char **data, size_t offset, size_t *length, unsigned flags) {
  unsigned npage = 0;
  unsigned cur = 0;
  while (cur < batch->end && *length) {
    size_t bytes = std::min<size_t>(*length, PAGE_SIZE - offset);
    int rc = copy_data_page(batch->pfns[cur] + npage, *data, offset, bytes, flags);
    if (rc) return rc;
    offset = 0;
    *length -= bytes;
    *data += bytes;
    if (++npage == batch->npfns[cur]) {
      npage = 0;
      cur++;
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------
// pfn_reader_user: the pin_user_pages() tier.
struct pfn_reader_user {
  pfn_t *upages = nullptr;
  size_t upages_len = 0;  // bytes
  uint64_t upages_start = 0;
  uint64_t upages_end = 0;
  bool write = false;
  // -1: the source mm has not been checked yet; 0: it was alive (mmget).
  int locked = -1;
};

bool pages_remote_mm(const iopt_pages *pages) {
  return pages->source_mm.get() != current().mm.get();
}

void reader_user_init(pfn_reader_user *user, const iopt_pages *pages) {
  user->upages = nullptr;
  user->upages_start = 0;
  user->upages_end = 0;
  user->locked = -1;
  user->write = pages->writable;  // FOLL_LONGTERM, plus FOLL_WRITE if writable
}

void reader_user_destroy(pfn_reader_user *user) {
  user->locked = -1;
  temp_free(user->upages, nullptr);
  user->upages = nullptr;
}

// Pin from start_index, as many pages as the upages buffer holds.
int reader_user_pin(pfn_reader_user *user, iopt_pages *pages, uint64_t start_index,
                    uint64_t last_index) {
  if (IOMMUSIM_WARN_ON(last_index < start_index)) return -EINVAL;
  if (!user->upages) {
    // Freed by reader_user_destroy().
    user->upages_len = (last_index - start_index + 1) * sizeof(pfn_t);
    user->upages = static_cast<pfn_t *>(temp_alloc(&user->upages_len, nullptr, 0));
    if (!user->upages) return -ENOMEM;
  }
  if (user->locked == -1) {
    // Pinning for another process: its mm must still exist.
    if (pages_remote_mm(pages) && !pages->source_mm->alive()) return -EFAULT;
    user->locked = 0;
  }
  size_t npages = std::min<uint64_t>(last_index - start_index + 1,
                                     user->upages_len / sizeof(pfn_t));
  uint64_t uptr = pages->uptr + start_index * PAGE_SIZE;
  long rc = host_memory::get().pin_user_pages(pages->source_mm, uptr, npages, user->write,
                                              user->upages);
  if (rc <= 0) {
    if (IOMMUSIM_WARN_ON(rc == 0)) return -EFAULT;
    return static_cast<int>(rc);
  }
  pages_add_npinned(pages, static_cast<size_t>(rc));
  user->upages_start = start_index;
  user->upages_end = start_index + static_cast<uint64_t>(rc);
  return 0;
}

// USER mode (io_uring's method): the user's locked_vm against the task's
// RLIMIT_MEMLOCK, without any lock.
int incr_user_locked_vm(iopt_pages *pages, size_t npages) {
  const uint64_t lock_limit = pages->source_task->rlimit_memlock() >> PAGE_SHIFT;
  uint64_t cur = pages->source_user->locked_vm.load();
  uint64_t next;
  do {
    if (check_add_overflow<uint64_t>(cur, npages, &next) || next > lock_limit) return -ENOMEM;
  } while (!pages->source_user->locked_vm.compare_exchange_weak(cur, next));
  return 0;
}

void decr_user_locked_vm(iopt_pages *pages, size_t npages) {
  if (IOMMUSIM_WARN_ON(pages->source_user->locked_vm.load() < npages)) return;
  pages->source_user->locked_vm.fetch_sub(npages);
}

// MM mode (VFIO's method): the mm's locked_vm under its mmap lock.
int update_mm_locked_vm(iopt_pages *pages, size_t npages, bool inc, pfn_reader_user *user) {
  // A reader that already pinned has checked the mm; anyone else working on
  // another process's mm must check it still exists.
  if ((!user || user->locked == -1) && pages_remote_mm(pages) && !pages->source_mm->alive())
    return -EINVAL;
  mm_struct &mm = *pages->source_mm;
  std::lock_guard g(mm.mmap_lock);
  if (inc) {
    uint64_t limit = pages->source_task->rlimit_memlock() >> PAGE_SHIFT;
    uint64_t next;
    if (check_add_overflow<uint64_t>(mm.locked_vm, npages, &next) || next > limit) return -ENOMEM;
    mm.locked_vm = next;
  } else {
    if (IOMMUSIM_WARN_ON(npages > mm.locked_vm)) npages = mm.locked_vm;
    mm.locked_vm -= npages;
  }
  return 0;
}

int do_update_pinned(iopt_pages *pages, size_t npages, bool inc, pfn_reader_user *user) {
  int rc = 0;
  switch (pages->account_mode) {
    case IOPT_PAGES_ACCOUNT_NONE:
      break;
    case IOPT_PAGES_ACCOUNT_USER:
      if (inc)
        rc = incr_user_locked_vm(pages, npages);
      else
        decr_user_locked_vm(pages, npages);
      break;
    case IOPT_PAGES_ACCOUNT_MM:
      rc = update_mm_locked_vm(pages, npages, inc, user);
      break;
  }
  if (rc) return rc;
  pages->last_npinned = pages->npinned;
  if (inc)
    pages->source_mm->pinned_vm.fetch_add(static_cast<int64_t>(npages));
  else
    pages->source_mm->pinned_vm.fetch_sub(static_cast<int64_t>(npages));
  return 0;
}

// Give back the charge for pages unpinned since the last update.
void update_unpinned(iopt_pages *pages) {
  if (IOMMUSIM_WARN_ON(pages->npinned > pages->last_npinned)) return;
  if (pages->npinned == pages->last_npinned) return;
  do_update_pinned(pages, pages->last_npinned - pages->npinned, false, nullptr);
}

// Charge (or refund) the difference after the work is done: counting in
// advance how many pages of a range are already pinned would cost a walk, so
// a caller over its limit unwinds by unpinning what it just pinned.
int reader_user_update_pinned(pfn_reader_user *user, iopt_pages *pages) {
  if (pages->npinned == pages->last_npinned) return 0;
  if (pages->npinned < pages->last_npinned)
    return do_update_pinned(pages, pages->last_npinned - pages->npinned, false, user);
  return do_update_pinned(pages, pages->npinned - pages->last_npinned, true, user);
}

// ---------------------------------------------------------------------------
// pfn_reader: the PFNs of [start_index, last_index] batch by batch, each from
// the cheapest tier that has it: pinned_pfns, then a domain, then pinning.
struct pfn_reader {
  iopt_pages *pages = nullptr;
  interval_tree_double_span_iter span;
  pfn_batch batch;
  uint64_t batch_start_index = 0;
  uint64_t batch_end_index = 0;
  uint64_t last_index = 0;
  pfn_reader_user user;
};

int reader_update_pinned(pfn_reader *pfns) { return reader_user_update_pinned(&pfns->user, pfns->pages); }

// The batch mixes PFNs still held elsewhere with PFNs pinned only for it;
// unpin only the latter (indexes neither tree covers).
void reader_unpin(pfn_reader *pfns) {
  const uint64_t start = pfns->batch_start_index;
  const uint64_t last = pfns->batch_end_index - 1;
  iopt_pages *pages = pfns->pages;
  interval_tree_double_span_iter span;
  for (span.first(pages->access_itree, pages->domains_itree, start, last); !span.done();
       span.next()) {
    if (span.is_used) continue;
    batch_unpin(&pfns->batch, pages, span.start_hole - start, span.last_hole - span.start_hole + 1);
  }
}

// Load the current span, from batch_end_index on, into the batch.
int reader_fill_span(pfn_reader *pfns) {
  interval_tree_double_span_iter &span = pfns->span;
  const uint64_t start_index = pfns->batch_end_index;
  if (IOMMUSIM_WARN_ON(span.last_used < start_index)) return -EINVAL;

  if (span.is_used == 1) {
    batch_from_xarray(&pfns->batch, pfns->pages->pinned_pfns, start_index, span.last_used);
    return 0;
  }
  if (span.is_used == 2) {
    // As much as the first area there covers; the next call finds the next.
    iopt_area *area = pages_find_domain_area(pfns->pages, start_index);
    if (IOMMUSIM_WARN_ON(!area)) return -EINVAL;
    // storage_domain only changes under pages->mutex, which we hold.
    batch_from_domain(&pfns->batch, area->storage_domain, area, start_index,
                      std::min(iopt_area_last_index(area), span.last_used));
    return 0;
  }
  if (start_index >= pfns->user.upages_end) {
    int rc = reader_user_pin(&pfns->user, pfns->pages, start_index, span.last_hole);
    if (rc) return rc;
  }
  batch_from_pages(&pfns->batch, pfns->user.upages + (start_index - pfns->user.upages_start),
                   pfns->user.upages_end - start_index);
  return 0;
}

bool reader_done(const pfn_reader *pfns) { return pfns->batch_start_index == pfns->last_index + 1; }

// Replace the batch by the next one: filled until full or the range ends.
int reader_next(pfn_reader *pfns) {
  batch_clear(&pfns->batch);
  pfns->batch_start_index = pfns->batch_end_index;
  while (pfns->batch_end_index != pfns->last_index + 1) {
    const size_t before = pfns->batch.total_pfns;
    if (IOMMUSIM_WARN_ON(pfns->span.done())) return -EINVAL;
    int rc = reader_fill_span(pfns);
    if (rc) return rc;
    if (IOMMUSIM_WARN_ON(!pfns->batch.total_pfns)) return -EINVAL;
    pfns->batch_end_index = pfns->batch_start_index + pfns->batch.total_pfns;
    if (pfns->batch_end_index == pfns->span.last_used + 1) pfns->span.next();
    if (before == pfns->batch.total_pfns) return 0;  // the batch is full
  }
  return 0;
}

int reader_init(pfn_reader *pfns, iopt_pages *pages, uint64_t start_index, uint64_t last_index) {
  pfns->pages = pages;
  pfns->batch_start_index = start_index;
  pfns->batch_end_index = start_index;
  pfns->last_index = last_index;
  reader_user_init(&pfns->user, pages);
  int rc = batch_init(&pfns->batch, last_index - start_index + 1);
  if (rc) return rc;
  pfns->span.first(pages->access_itree, pages->domains_itree, start_index, last_index);
  return 0;
}

// Drop the pins the reader holds that no one has taken over: pages pinned
// but not yet in a batch, and the batch's own pins. Error paths call this
// before unwinding what the domains hold, so npinned stays consistent.
void reader_release_pins(pfn_reader *pfns) {
  iopt_pages *pages = pfns->pages;
  if (pfns->user.upages_end > pfns->batch_end_index) {
    size_t n = pfns->user.upages_end - pfns->batch_end_index;
    host_memory::get().unpin_user_pages(
        pfns->user.upages + (pfns->batch_end_index - pfns->user.upages_start), n);
    pages_sub_npinned(pages, n);
    pfns->user.upages_end = pfns->batch_end_index;
  }
  if (pfns->batch_start_index != pfns->batch_end_index) {
    reader_unpin(pfns);
    pfns->batch_start_index = pfns->batch_end_index;
  }
}

void reader_destroy(pfn_reader *pfns) {
  iopt_pages *pages = pfns->pages;
  reader_release_pins(pfns);
  reader_user_destroy(&pfns->user);
  batch_destroy(&pfns->batch, nullptr);
  IOMMUSIM_WARN_ON(pages->last_npinned != pages->npinned);
}

int reader_first(pfn_reader *pfns, iopt_pages *pages, uint64_t start_index, uint64_t last_index) {
  if (IOMMUSIM_WARN_ON(last_index < start_index)) return -EINVAL;
  int rc = reader_init(pfns, pages, start_index, last_index);
  if (rc) return rc;
  rc = reader_next(pfns);
  if (rc) {
    reader_destroy(pfns);
    return rc;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Unmapping a domain and unpinning what only it held.

// Unpin the hole [start_index, last_index] (no other domain area and no
// access holds it) of area in domain. Unmaps must cut only where the PFNs
// are discontiguous, because a contiguous run was mapped by one call and may
// sit in one large IOPTE; so when the hole ends inside a run, keep reading
// to the run's end, unmap all of it, and carry the PFNs past the hole over
// to the next span, which either skips them (used) or unpins them (hole).
// Unpin always follows unmap: a page is never unpinned while DMA can reach it.
void area_unpin_domain(pfn_batch *batch, iopt_area *area, iopt_pages *pages,
                       iommu_domain *domain, uint64_t start_index, uint64_t last_index,
                       uint64_t *unmapped_end_index, uint64_t real_last_index) {
  while (start_index <= last_index) {
    uint64_t batch_last_index;
    if (*unmapped_end_index <= last_index) {
      uint64_t start = std::max(start_index, *unmapped_end_index);
      // The carry ends exactly where unmapping stopped.
      if (batch->total_pfns)
        IOMMUSIM_WARN_ON(*unmapped_end_index - batch->total_pfns != start_index);
      batch_from_domain(batch, domain, area, start, last_index);
      batch_last_index = start_index + batch->total_pfns - 1;
    } else {
      // The carry already covers this whole hole.
      batch_last_index = last_index;
    }
    IOMMUSIM_WARN_ON(batch_last_index > real_last_index);

    if (batch_last_index == last_index && last_index != real_last_index)
      batch_from_domain_continue(batch, domain, area, last_index + 1, real_last_index);

    if (*unmapped_end_index <= batch_last_index) {
      area_unmap_domain_range(area, domain, *unmapped_end_index,
                              start_index + batch->total_pfns - 1);
      *unmapped_end_index = start_index + batch->total_pfns;
    }

    // Only now, with the IOVA gone, may the hole's pages be unpinned.
    batch_unpin(batch, pages, 0, batch_last_index - start_index + 1);
    start_index = batch_last_index + 1;
    batch_clear_carry(batch, *unmapped_end_index - batch_last_index - 1);
  }
}

// Unmap [area index, last_index] of area from domain and unpin whatever no
// other domain area or access still holds. area must not be in
// domains_itree any more (or never was).
void area_unfill_domain_upto(iopt_area *area, iopt_pages *pages, iommu_domain *domain,
                             uint64_t last_index) {
  const uint64_t start_index = iopt_area_index(area);
  uint64_t unmapped_end_index = start_index;
  uint64_t backup[BATCH_BACKUP_SIZE];
  pfn_batch batch;

  batch_init_backup(&batch, last_index + 1, backup, sizeof(backup));
  interval_tree_double_span_iter span;
  for (span.first(pages->domains_itree, pages->access_itree, start_index, last_index);
       !span.done(); span.next()) {
    if (span.is_used) {
      // Still held elsewhere: stays pinned, but its IOVA is unmapped later
      // together with the next cut.
      batch_skip_carry(&batch, span.last_used - span.start_used + 1);
      continue;
    }
    area_unpin_domain(&batch, area, pages, domain, span.start_hole, span.last_hole,
                      &unmapped_end_index, last_index);
  }
  // The range ended in used spans: unmap the rest, nothing to unpin.
  if (unmapped_end_index != last_index + 1)
    area_unmap_domain_range(area, domain, unmapped_end_index, last_index);
  IOMMUSIM_WARN_ON(batch.total_pfns);
  batch_destroy(&batch, backup);
  update_unpinned(pages);
}

void area_unfill_partial_domain(iopt_area *area, iopt_pages *pages, iommu_domain *domain,
                                uint64_t end_index) {
  if (end_index != iopt_area_index(area))
    area_unfill_domain_upto(area, pages, domain, end_index - 1);
}

// ---------------------------------------------------------------------------
// pinned_pfns (the xarray tier) for accesses.

void pages_unpin_xarray(pfn_batch *batch, iopt_pages *pages, uint64_t start_index,
                        uint64_t last_index) {
  while (start_index <= last_index) {
    batch_from_xarray_clear(batch, pages->pinned_pfns, start_index, last_index);
    if (IOMMUSIM_WARN_ON(!batch->total_pfns)) break;  // an index with no entry
    batch_unpin(batch, pages, 0, batch->total_pfns);
    start_index += batch->total_pfns;
    batch_clear(batch);
  }
}

int pages_fill_from_domain(iopt_pages *pages, uint64_t start_index, uint64_t last_index,
                           pfn_t *out_pages) {
  while (start_index != last_index + 1) {
    iopt_area *area = pages_find_domain_area(pages, start_index);
    if (IOMMUSIM_WARN_ON(!area)) return -EINVAL;
    uint64_t domain_last = std::min(iopt_area_last_index(area), last_index);
    out_pages = raw_pages_from_domain(area->storage_domain, area, start_index, domain_last,
                                      out_pages);
    start_index = domain_last + 1;
  }
  return 0;
}

// Pin [start_index, last_index] straight into out_pages (not owned by user).
int pages_fill_from_mm(iopt_pages *pages, pfn_reader_user *user, uint64_t start_index,
                       uint64_t last_index, pfn_t *out_pages) {
  uint64_t cur_index = start_index;
  while (cur_index != last_index + 1) {
    user->upages = out_pages + (cur_index - start_index);
    int rc = reader_user_pin(user, pages, cur_index, last_index);
    if (rc) {
      if (start_index != cur_index) pages_err_unpin(pages, start_index, cur_index - 1, out_pages);
      return rc;
    }
    cur_index = user->upages_end;
  }
  return 0;
}

// Copy through the pfn_reader: slow, but sees exactly the pages a domain
// would, whatever tier holds them, and works for any mm.
int pages_rw_slow(iopt_pages *pages, uint64_t start_index, uint64_t last_index, size_t offset,
                  char *data, size_t length, unsigned flags) {
  std::lock_guard g(pages->mutex);
  pfn_reader pfns;
  int rc = reader_first(&pfns, pages, start_index, last_index);
  if (rc) return rc;
  while (!reader_done(&pfns)) {
    rc = batch_rw(&pfns.batch, &data, offset, &length, flags);
    offset = 0;
    // Pages pinned just for this copy go straight back; mark the batch
    // released so reader_destroy() does not unpin it again.
    reader_unpin(&pfns);
    pfns.batch_start_index = pfns.batch_end_index;
    if (rc) break;
    rc = reader_next(&pfns);
    if (rc) break;
  }
  if (!rc && IOMMUSIM_WARN_ON(length != 0)) rc = -EINVAL;
  reader_destroy(&pfns);
  return rc;
}

// One page: pin it alone, copy, unpin; no trees, no temporary memory.
int pages_rw_page(iopt_pages *pages, uint64_t index, size_t offset, char *data, size_t length,
                  unsigned flags) {
  if (!pages->source_mm->alive())
    return pages_rw_slow(pages, index, index, offset, data, length, flags);
  pfn_t pfn = 0;
  long rc = host_memory::get().pin_user_pages(pages->source_mm, pages->uptr + index * PAGE_SIZE, 1,
                                              (flags & IOMMUFD_ACCESS_RW_WRITE) != 0, &pfn);
  if (rc != 1) {
    if (IOMMUSIM_WARN_ON(rc >= 0)) return -EINVAL;
    return static_cast<int>(rc);
  }
  int crc = copy_data_page(pfn, data, offset, length, flags);
  host_memory::get().unpin_user_pages(&pfn, 1);
  return crc;
}

iopt_pages_access *pages_get_exact_access(iopt_pages *pages, uint64_t index, uint64_t last) {
  // Access ranges may overlap; only an identical range is shared.
  for (interval_tree_node *n = pages->access_itree.iter_first(index, last); n;
       n = interval_tree::iter_next(n, index, last))
    if (n->start == index && n->last == last) return IOMMUSIM_CONTAINER_OF(n, iopt_pages_access, node);
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API (io_pagetable.h).

err_or<iopt_pages> iopt_alloc_pages(uint64_t uptr, uint64_t length, bool writable) {
  // The IOMMU API takes size_t lengths; this bound also keeps the page count
  // computation below from wrapping.
  if (length > SIZE_MAX - PAGE_SIZE || length == 0) return err_or<iopt_pages>::error(-EINVAL);
  uint64_t end;
  if (check_add_overflow(uptr, length, &end)) return err_or<iopt_pages>::error(-EOVERFLOW);

  iopt_pages *pages = new (std::nothrow) iopt_pages();
  if (!pages) return err_or<iopt_pages>::error(-ENOMEM);
  task_struct &task = current();
  pages->source_mm = task.mm;
  pages->uptr = align_down(uptr, PAGE_SIZE);
  pages->npages = div_round_up(length + (uptr - pages->uptr), PAGE_SIZE);
  pages->writable = writable;
  pages->account_mode =
      task.capable(task_struct::cap::ipc_lock) ? IOPT_PAGES_ACCOUNT_NONE : IOPT_PAGES_ACCOUNT_USER;
  pages->source_task = current_shared();
  pages->source_user = task.user;
  return pages;
}

void iopt_release_pages(iopt_pages *pages) {
  IOMMUSIM_WARN_ON(!pages->access_itree.empty());
  IOMMUSIM_WARN_ON(!pages->domains_itree.empty());
  IOMMUSIM_WARN_ON(pages->npinned);
  IOMMUSIM_WARN_ON(!pages->pinned_pfns.empty());
  delete pages;
}

void iopt_area_unmap_domain(iopt_area *area, iommu_domain *domain) {
  iommu_unmap_nofail(domain, iopt_area_iova(area), iopt_area_length(area));
}

void iopt_area_unfill_domain(iopt_area *area, iopt_pages *pages, iommu_domain *domain) {
  area_unfill_domain_upto(area, pages, domain, iopt_area_last_index(area));
}

int iopt_area_fill_domain(iopt_area *area, iommu_domain *domain) {
  iopt_pages *pages = area->pages;
  pfn_reader pfns;
  int rc = reader_first(&pfns, pages, iopt_area_index(area), iopt_area_last_index(area));
  if (rc) return rc;

  uint64_t done_end_index = pfns.batch_start_index;
  while (!reader_done(&pfns)) {
    done_end_index = pfns.batch_start_index;
    rc = batch_to_domain(&pfns.batch, domain, area, pfns.batch_start_index);
    if (rc) break;
    done_end_index = pfns.batch_end_index;
    rc = reader_next(&pfns);
    if (rc) break;
  }
  if (!rc) rc = reader_update_pinned(&pfns);
  if (rc) {
    // The batch that failed to map was unmapped by batch_to_domain; what the
    // reader still holds was never mapped, so it may go first.
    reader_release_pins(&pfns);
    area_unfill_partial_domain(area, pages, domain, done_end_index);
  }
  reader_destroy(&pfns);
  return rc;
}

int iopt_area_fill_domains(iopt_area *area, iopt_pages *pages) {
  io_pagetable *iopt = area->iopt;
  const std::vector<iommu_domain *> &domains = iopt->domains;
  if (domains.empty()) return 0;

  std::lock_guard g(pages->mutex);
  pfn_reader pfns;
  int rc = reader_first(&pfns, pages, iopt_area_index(area), iopt_area_last_index(area));
  if (rc) return rc;

  // Domains before failed_idx mapped up to done_first_end_index, the rest up
  // to done_all_end_index.
  uint64_t done_first_end_index = pfns.batch_start_index;
  uint64_t done_all_end_index = pfns.batch_start_index;
  size_t failed_idx = domains.size();
  while (!reader_done(&pfns)) {
    done_first_end_index = pfns.batch_end_index;
    done_all_end_index = pfns.batch_start_index;
    for (size_t i = 0; i < domains.size(); i++) {
      rc = batch_to_domain(&pfns.batch, domains[i], area, pfns.batch_start_index);
      if (rc) {
        failed_idx = i;
        break;
      }
    }
    if (rc) break;
    done_all_end_index = done_first_end_index;
    rc = reader_next(&pfns);
    if (rc) break;
  }
  if (!rc) rc = reader_update_pinned(&pfns);
  if (!rc) {
    area->storage_domain = domains[0];
    pages->domains_itree.insert(&area->pages_node);
    reader_destroy(&pfns);
    return 0;
  }

  // The area is not in domains_itree, so every PFN it mapped is pinned only
  // for it. Unmap every domain but the last, then drop the reader's own pins
  // (some of them may be mapped in the domains just unmapped: unpin follows
  // unmap), then let the last domain unmap and unpin the rest.
  const size_t last_idx = domains.size() - 1;
  auto end_of = [&](size_t i) { return i < failed_idx ? done_first_end_index : done_all_end_index; };
  for (size_t i = 0; i < last_idx; i++) {
    uint64_t end_index = end_of(i);
    if (end_index != iopt_area_index(area))
      area_unmap_domain_range(area, domains[i], iopt_area_index(area), end_index - 1);
  }
  reader_release_pins(&pfns);
  area_unfill_partial_domain(area, pages, domains[last_idx], end_of(last_idx));
  reader_destroy(&pfns);
  return rc;
}

void iopt_area_unfill_domains(iopt_area *area, iopt_pages *pages) {
  io_pagetable *iopt = area->iopt;
  std::lock_guard g(pages->mutex);
  if (!area->storage_domain) return;
  for (iommu_domain *domain : iopt->domains)
    if (domain != area->storage_domain)
      area_unmap_domain_range(area, domain, iopt_area_index(area), iopt_area_last_index(area));
  IOMMUSIM_WARN_ON(!area->pages_node.in_tree());
  pages->domains_itree.remove(&area->pages_node);
  iopt_area_unfill_domain(area, pages, area->storage_domain);
  area->storage_domain = nullptr;
}

void iopt_pages_unfill_xarray(iopt_pages *pages, uint64_t start_index, uint64_t last_index) {
  uint64_t backup[BATCH_BACKUP_SIZE];
  pfn_batch batch;
  bool batch_inited = false;
  interval_tree_double_span_iter span;
  for (span.first(pages->access_itree, pages->domains_itree, start_index, last_index);
       !span.done(); span.next()) {
    if (!span.is_used) {
      // Held by nothing now: out of pinned_pfns and unpinned.
      if (!batch_inited) {
        batch_init_backup(&batch, last_index - start_index + 1, backup, sizeof(backup));
        batch_inited = true;
      }
      pages_unpin_xarray(&batch, pages, span.start_hole, span.last_hole);
    } else if (span.is_used == 2) {
      // A domain holds the pin; pinned_pfns need not duplicate it.
      clear_xarray(pages->pinned_pfns, span.start_used, span.last_used);
    }
    // is_used == 1: another access still needs the entries.
  }
  if (batch_inited) batch_destroy(&batch, backup);
  update_unpinned(pages);
}

void iopt_pages_fill_from_xarray(iopt_pages *pages, uint64_t start_index, uint64_t last_index,
                                 pfn_t *out_pages) {
  uint64_t expect = start_index;
  std::as_const(pages->pinned_pfns).for_each(start_index, last_index,
                                            [&](uint64_t index, const pfn_t &pfn) {
    if (IOMMUSIM_WARN_ON(index != expect)) return false;
    out_pages[index - start_index] = pfn;
    expect++;
    return true;
  });
  // Indexes without an entry (a broken invariant, warned above) read as 0.
  for (; expect <= last_index; expect++) out_pages[expect - start_index] = 0;
}

int iopt_pages_fill_xarray(iopt_pages *pages, uint64_t start_index, uint64_t last_index,
                           pfn_t *out_pages) {
  uint64_t xa_end = start_index;
  pfn_reader_user user;
  reader_user_init(&user, pages);
  user.upages_len = (last_index - start_index + 1) * sizeof(pfn_t);
  int rc = 0;
  interval_tree_double_span_iter span;
  for (span.first(pages->access_itree, pages->domains_itree, start_index, last_index);
       !span.done(); span.next()) {
    if (span.is_used == 1) {
      iopt_pages_fill_from_xarray(pages, span.start_used, span.last_used,
                                  out_pages + (span.start_used - start_index));
      continue;
    }
    if (span.is_used == 2) {
      // Already pinned for a domain: copy the PFNs, take no new pin.
      pfn_t *cur = out_pages + (span.start_used - start_index);
      rc = pages_fill_from_domain(pages, span.start_used, span.last_used, cur);
      if (!rc) rc = pages_to_xarray(pages->pinned_pfns, span.start_used, span.last_used, cur);
      if (rc) break;
      xa_end = span.last_used + 1;
      continue;
    }
    pfn_t *cur = out_pages + (span.start_hole - start_index);
    rc = pages_fill_from_mm(pages, &user, span.start_hole, span.last_hole, cur);
    if (rc) break;
    rc = pages_to_xarray(pages->pinned_pfns, span.start_hole, span.last_hole, cur);
    if (rc) {
      pages_err_unpin(pages, span.start_hole, span.last_hole, cur);
      break;
    }
    xa_end = span.last_hole + 1;
  }
  if (!rc) rc = reader_user_update_pinned(&user, pages);
  if (rc && start_index != xa_end) {
    // The new access is not in access_itree, so this drops exactly what
    // this call added to pinned_pfns and the pins it took.
    iopt_pages_unfill_xarray(pages, start_index, xa_end - 1);
  }
  user.upages = nullptr;  // the caller's out_pages
  reader_user_destroy(&user);
  return rc;
}

int iopt_pages_rw_access(iopt_pages *pages, uint64_t start_byte, void *data, uint64_t length,
                         unsigned flags) {
  if ((flags & IOMMUFD_ACCESS_RW_WRITE) && !pages->writable) return -EPERM;
  if (length == 0) return 0;
  const uint64_t start_index = start_byte / PAGE_SIZE;
  const uint64_t last_index = (start_byte + length - 1) / PAGE_SIZE;
  const size_t offset = start_byte % PAGE_SIZE;
  char *buf = static_cast<char *>(data);
  bool change_mm = pages_remote_mm(pages);
  if (flags & IOMMUFD_ACCESS_RW_SLOW_PATH) change_mm = true;

  if (!(flags & IOMMUFD_ACCESS_RW_KTHREAD) && change_mm) {
    if (start_index == last_index)
      return pages_rw_page(pages, start_index, offset, buf, length, flags);
    return pages_rw_slow(pages, start_index, last_index, offset, buf, length, flags);
  }

  // Fast path: a plain user copy, ignoring whether the pages are pinned
  // (unlike DMA, which only ever sees pinned pages).
  if (change_mm && !pages->source_mm->alive())
    return pages_rw_slow(pages, start_index, last_index, offset, buf, length, flags);
  int rc;
  if (flags & IOMMUFD_ACCESS_RW_WRITE)
    rc = pages->source_mm->copy_to_user(pages->uptr + start_byte, data, length);
  else
    rc = pages->source_mm->copy_from_user(data, pages->uptr + start_byte, length);
  return rc ? -EFAULT : 0;
}

int iopt_area_add_access(iopt_area *area, uint64_t start_index, uint64_t last_index,
                         pfn_t *out_pages, unsigned flags) {
  iopt_pages *pages = area->pages;
  if ((flags & IOMMUFD_ACCESS_RW_WRITE) && !pages->writable) return -EPERM;

  std::lock_guard g(pages->mutex);
  iopt_pages_access *access = pages_get_exact_access(pages, start_index, last_index);
  if (access) {
    area->num_accesses++;
    access->users++;
    iopt_pages_fill_from_xarray(pages, start_index, last_index, out_pages);
    return 0;
  }

  access = new (std::nothrow) iopt_pages_access();
  if (!access) return -ENOMEM;
  int rc = iopt_pages_fill_xarray(pages, start_index, last_index, out_pages);
  if (rc) {
    delete access;
    return rc;
  }
  access->node.start = start_index;
  access->node.last = last_index;
  access->users = 1;
  area->num_accesses++;
  pages->access_itree.insert(&access->node);
  return 0;
}

void iopt_area_remove_access(iopt_area *area, uint64_t start_index, uint64_t last_index) {
  iopt_pages *pages = area->pages;
  std::lock_guard g(pages->mutex);
  iopt_pages_access *access = pages_get_exact_access(pages, start_index, last_index);
  if (IOMMUSIM_WARN_ON(!access)) return;
  IOMMUSIM_WARN_ON(area->num_accesses == 0 || access->users == 0);
  area->num_accesses--;
  access->users--;
  if (access->users) return;
  pages->access_itree.remove(&access->node);
  iopt_pages_unfill_xarray(pages, start_index, last_index);
  delete access;
}

size_t iopt_pages_bookkeeping_bytes(const iopt_pages *pages) {
  std::lock_guard g(const_cast<iopt_pages *>(pages)->mutex);
  return sizeof(*pages) + pages->pinned_pfns.memory_bytes() +
         pages->access_itree.size() * sizeof(iopt_pages_access);
}

}  // namespace iommusim::iommufd
