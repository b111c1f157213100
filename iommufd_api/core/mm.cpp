// SPDX-License-Identifier: MIT
// Tasks, address spaces and the host's user frames; design notes in mm.h.
#include "mm.h"

#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "log.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace iommusim::iommufd {

namespace {

std::atomic<uint64_t> g_next_mm_id{1};

// process_vm_readv/writev on ourselves: a copy that reports EFAULT for memory
// that is not mapped (or not writable) instead of faulting the simulator.
int vm_copy(bool write, void *local, uint64_t remote, size_t len) {
  if (len == 0) return 0;
  uint64_t end;
  if (check_add_overflow<uint64_t>(remote, len, &end)) return -EFAULT;
  auto *l = static_cast<char *>(local);
  while (len) {
    // The kernel caps one call at MAX_RW_COUNT; stay well below it.
    size_t n = len < (1UL << 30) ? len : (1UL << 30);
    struct iovec liov = {l, n};
    struct iovec riov = {reinterpret_cast<void *>(remote), n};
    ssize_t rc = write ? process_vm_writev(getpid(), &liov, 1, &riov, 1, 0)
                       : process_vm_readv(getpid(), &liov, 1, &riov, 1, 0);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return -EFAULT;
    }
    if (static_cast<size_t>(rc) != n) return -EFAULT;  // stopped at an unmapped page
    l += n;
    remote += n;
    len -= n;
  }
  return 0;
}

// Whether MADV_POPULATE_* exists (Linux >= 5.14); otherwise fault_in falls back
// to mincore(), which can only tell mapped from unmapped.
bool populate_supported() {
  static const bool supported = [] {
    static char probe[1];
    uint64_t page = align_down<uint64_t>(reinterpret_cast<uint64_t>(probe), PAGE_SIZE);
    return madvise(reinterpret_cast<void *>(page), PAGE_SIZE, MADV_POPULATE_READ) == 0;
  }();
  return supported;
}

thread_local task_struct *t_current = nullptr;

}  // namespace

mm_struct::mm_struct() : id(g_next_mm_id.fetch_add(1)) {}

int mm_struct::clear_user(uint64_t dst, size_t len) {
  static const char zeros[4096] = {};
  while (len) {
    size_t n = len < sizeof(zeros) ? len : sizeof(zeros);
    if (int rc = copy_to_user(dst, zeros, n)) return rc;
    dst += n;
    len -= n;
  }
  return 0;
}

int local_mm::copy_from_user(void *dst, uint64_t src, size_t len) {
  return vm_copy(false, dst, src, len);
}

int local_mm::copy_to_user(uint64_t dst, const void *src, size_t len) {
  return vm_copy(true, const_cast<void *>(src), dst, len);
}

int local_mm::fault_in(uint64_t uaddr, size_t len, bool write) {
  if (len == 0) return 0;
  uint64_t start = align_down(uaddr, PAGE_SIZE);
  uint64_t end;
  if (check_add_overflow<uint64_t>(uaddr, len, &end)) return -EFAULT;
  end = align_up(end, PAGE_SIZE);
  if (populate_supported()) {
    // Unmapped -> ENOMEM, wrong permission -> EINVAL/EFAULT: all are EFAULT to
    // pin_user_pages() callers. POPULATE_WRITE also breaks COW, as FOLL_WRITE.
    while (madvise(reinterpret_cast<void *>(start), end - start,
                   write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) != 0) {
      if (errno != EINTR && errno != EAGAIN) return -EFAULT;
    }
    return 0;
  }
  std::vector<unsigned char> vec((end - start) / PAGE_SIZE);
  if (mincore(reinterpret_cast<void *>(start), end - start, vec.data()) != 0) return -EFAULT;
  return 0;
}

task_struct::task_struct(std::shared_ptr<mm_struct> m, std::shared_ptr<user_struct> u)
    : mm(std::move(m)), user(std::move(u)) {}

bool task_struct::capable(cap c) const {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  int bit = 0;
  switch (c) {
    case cap::ipc_lock: bit = CAP_IPC_LOCK; break;
    case cap::sys_resource: bit = CAP_SYS_RESOURCE; break;
    case cap::sys_rawio: bit = CAP_SYS_RAWIO; break;
  }
  if ((data[bit / 32].effective >> (bit % 32)) & 1) return true;
  // The simulated machine is not the container the simulator runs in: its
  // root holds every capability it has not dropped itself. A capability the
  // container's bounding set withholds (CAP_SYS_RESOURCE is commonly removed)
  // therefore counts for euid 0, while one the process dropped with capset()
  // (still in the bounding set) does not.
  if (geteuid() == 0 && prctl(PR_CAPBSET_READ, bit, 0, 0, 0) == 0) return true;
  return false;
}

uint64_t task_struct::rlimit_memlock() const {
  struct rlimit rl;
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  return rl.rlim_cur;
}

task_struct &process_task() {
  static std::shared_ptr<task_struct> task = [] {
    auto user = std::make_shared<user_struct>();
    user->uid = getuid();
    return std::make_shared<task_struct>(std::make_shared<local_mm>(), std::move(user));
  }();
  return *task;
}

task_struct &current() { return t_current ? *t_current : process_task(); }
std::shared_ptr<task_struct> current_shared() { return current().shared_from_this(); }

current_scope::current_scope(task_struct &t) : prev_(t_current) { t_current = &t; }
current_scope::~current_scope() { t_current = prev_; }

// ---------------------------------------------------------------------------
// host_memory

host_memory &host_memory::get() {
  static host_memory *hm = new host_memory();  // never destroyed: frames outlive statics
  return *hm;
}

int host_memory::set_layout(const layout &l) {
  if (l.contig_bytes < PAGE_SIZE || (l.contig_bytes & (l.contig_bytes - 1)) ||
      !is_aligned(l.user_phys_base, l.contig_bytes) || l.user_phys_size < l.contig_bytes ||
      (l.user_phys_size / l.contig_bytes) > (1ULL << 31))
    return -EINVAL;
  std::lock_guard g(lock_);
  if (!chunks_by_va_.empty()) return -EBUSY;
  layout_ = l;
  free_slots_.clear();
  next_slot_ = 0;
  return 0;
}

host_memory::layout host_memory::get_layout() const {
  std::lock_guard g(lock_);
  return layout_;
}

const host_memory::chunk *host_memory::chunk_of_pfn(pfn_t pfn) const {
  auto it = chunks_by_pfn_.upper_bound(pfn);
  if (it == chunks_by_pfn_.begin()) return nullptr;
  --it;
  const chunk *c = it->second;
  if (pfn - c->pfn_base >= (layout_.contig_bytes >> PAGE_SHIFT)) return nullptr;
  return c;
}

void host_memory::split_at(pfn_t pfn) {
  auto it = pins_.upper_bound(pfn);
  if (it == pins_.begin()) return;
  --it;
  if (it->first == pfn || it->second.last < pfn) return;
  run tail = {it->second.last, it->second.count};
  it->second.last = pfn - 1;
  pins_.emplace(pfn, tail);
}

void host_memory::merge_around(pfn_t first, pfn_t last) {
  auto it = pins_.upper_bound(first);
  if (it != pins_.begin()) --it;
  if (it != pins_.begin()) --it;
  while (it != pins_.end() && it->first <= last + 1) {
    auto next = std::next(it);
    if (next == pins_.end()) break;
    if (it->second.last + 1 == next->first && it->second.count == next->second.count) {
      it->second.last = next->second.last;
      pins_.erase(next);
      continue;
    }
    it = next;
  }
}

// Apply delta to the pin count of every frame in [first, last] (all inside
// one chunk), keeping the chunk's count of pinned frames current.
void host_memory::add_pins(pfn_t first, pfn_t last, int delta) {
  chunk *c = const_cast<chunk *>(chunk_of_pfn(first));
  split_at(first);
  if (last != UINT64_MAX) split_at(last + 1);
  pfn_t cur = first;
  auto it = pins_.lower_bound(first);
  while (cur <= last) {
    if (it != pins_.end() && it->first == cur) {
      uint64_t n = it->second.last - cur + 1;
      int64_t old = it->second.count;
      int64_t count = old + delta;
      pfn_t next_cur = it->second.last + 1;
      if (count <= 0) {
        if (count < 0) IOMMUSIM_WARN("unpin of an unpinned frame %#llx", (unsigned long long)cur);
        pinned_pages_ -= n * static_cast<uint64_t>(old);
        if (c) c->pinned -= n;
        it = pins_.erase(it);
      } else {
        pinned_pages_ += static_cast<uint64_t>(static_cast<int64_t>(n) * delta);
        it->second.count = static_cast<uint32_t>(count);
        ++it;
      }
      if (next_cur == 0) break;  // wrapped: last frame of the address space
      cur = next_cur;
      continue;
    }
    pfn_t gap_last = last;
    if (it != pins_.end() && it->first - 1 < gap_last) gap_last = it->first - 1;
    uint64_t n = gap_last - cur + 1;
    if (delta < 0) {
      IOMMUSIM_WARN("unpin of %llu unpinned frames at %#llx", (unsigned long long)n,
                    (unsigned long long)cur);
    } else {
      pins_.emplace(cur, run{gap_last, static_cast<uint32_t>(delta)});
      pinned_pages_ += n * static_cast<uint64_t>(delta);
      if (c) c->pinned += n;
    }
    if (gap_last == UINT64_MAX) break;
    cur = gap_last + 1;
    it = pins_.lower_bound(cur);
  }
  merge_around(first, last);
  if (c && c->pinned == 0) {
    free_slots_.push_back(c->slot);
    chunks_by_pfn_.erase(c->pfn_base);
    chunks_by_va_.erase({c->mm->id, c->va_base >> fls64(layout_.contig_bytes)});
  }
}

long host_memory::pin_user_pages(const std::shared_ptr<mm_struct> &mm, uint64_t uaddr,
                                 size_t npages, bool write, pfn_t *out) {
  if (npages == 0) return 0;
  if (!is_aligned(uaddr, PAGE_SIZE)) return -EINVAL;
  uint64_t len = npages * PAGE_SIZE;
  if (int rc = mm->fault_in(uaddr, len, write)) return rc;

  std::lock_guard g(lock_);
  const unsigned cshift = fls64(layout_.contig_bytes);
  const uint64_t cpages = layout_.contig_bytes >> PAGE_SHIFT;
  const uint64_t max_slots = layout_.user_phys_size / layout_.contig_bytes;
  size_t done = 0;
  while (done < npages) {
    uint64_t va = uaddr + done * PAGE_SIZE;
    uint64_t vchunk = va >> cshift;
    auto key = std::make_pair(mm->id, vchunk);
    auto it = chunks_by_va_.find(key);
    if (it == chunks_by_va_.end()) {
      uint32_t slot;
      if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
      } else if (next_slot_ < max_slots) {
        // Scatter consecutive chunks over the physical map (an odd multiplier
        // permutes a power-of-two range) so that neighbouring VA chunks are
        // not physically contiguous by accident.
        uint64_t pow2 = 1ULL << fls64(max_slots);
        uint64_t s;
        do {
          s = (static_cast<uint64_t>(next_slot_++) * 0x9E3779B1ULL) & (pow2 - 1);
        } while (s >= max_slots && next_slot_ < pow2);
        if (s >= max_slots) goto nomem;
        slot = static_cast<uint32_t>(s);
      } else {
        goto nomem;
      }
      chunk c;
      c.mm = mm;
      c.va_base = vchunk << cshift;
      c.pfn_base = (layout_.user_phys_base >> PAGE_SHIFT) + static_cast<uint64_t>(slot) * cpages;
      c.slot = slot;
      it = chunks_by_va_.emplace(key, std::move(c)).first;
      chunks_by_pfn_[it->second.pfn_base] = &it->second;
    }
    chunk &c = it->second;
    uint64_t first_idx = (va - c.va_base) >> PAGE_SHIFT;
    uint64_t n = std::min<uint64_t>(cpages - first_idx, npages - done);
    pfn_t first = c.pfn_base + first_idx;
    for (uint64_t i = 0; i < n; i++) out[done + i] = first + i;
    add_pins(first, first + n - 1, +1);
    done += n;
  }
  return static_cast<long>(npages);

nomem:
  // Undo the pins this call took; the physical map is full.
  for (size_t i = 0; i < done;) {
    size_t j = i + 1;
    while (j < done && out[j] == out[j - 1] + 1 &&
           ((out[j] - (layout_.user_phys_base >> PAGE_SHIFT)) % cpages) != 0)
      j++;
    add_pins(out[i], out[j - 1], -1);
    i = j;
  }
  return -ENOMEM;
}

void host_memory::unpin_user_page_range(pfn_t first, size_t npages) {
  if (!npages) return;
  std::lock_guard g(lock_);
  const uint64_t cpages = layout_.contig_bytes >> PAGE_SHIFT;
  const pfn_t base = layout_.user_phys_base >> PAGE_SHIFT;
  pfn_t cur = first;
  pfn_t last = first + npages - 1;
  while (cur <= last) {
    // never let one add_pins() call cross a chunk boundary
    pfn_t chunk_last = cur < base ? last : base + ((cur - base) / cpages + 1) * cpages - 1;
    pfn_t seg_last = std::min(last, chunk_last);
    add_pins(cur, seg_last, -1);
    if (seg_last == last) break;
    cur = seg_last + 1;
  }
}

void host_memory::unpin_user_pages(const pfn_t *pfns, size_t npages) {
  size_t i = 0;
  while (i < npages) {
    size_t j = i + 1;
    while (j < npages && pfns[j] == pfns[j - 1] + 1) j++;
    unpin_user_page_range(pfns[i], j - i);
    i = j;
  }
}

bool host_memory::lookup_pfn(const mm_struct &mm, uint64_t uaddr, pfn_t *pfn) const {
  std::lock_guard g(lock_);
  const unsigned cshift = fls64(layout_.contig_bytes);
  auto it = chunks_by_va_.find({mm.id, uaddr >> cshift});
  if (it == chunks_by_va_.end()) return false;
  *pfn = it->second.pfn_base + ((uaddr - it->second.va_base) >> PAGE_SHIFT);
  return true;
}

unsigned host_memory::pin_count(pfn_t pfn) const {
  std::lock_guard g(lock_);
  auto it = pins_.upper_bound(pfn);
  if (it == pins_.begin()) return 0;
  --it;
  return it->second.last >= pfn ? it->second.count : 0;
}

int host_memory::frame_va(pfn_t pfn, size_t offset, size_t len, std::shared_ptr<mm_struct> *mm,
                          uint64_t *va) const {
  std::lock_guard g(lock_);
  const chunk *c = chunk_of_pfn(pfn);
  if (!c) return -EFAULT;
  uint64_t off_in_chunk = ((pfn - c->pfn_base) << PAGE_SHIFT) + offset;
  if (off_in_chunk + len > layout_.contig_bytes) return -EFAULT;
  *mm = c->mm;
  *va = c->va_base + off_in_chunk;
  return 0;
}

int host_memory::read_frame(pfn_t pfn, size_t offset, void *dst, size_t len) const {
  std::shared_ptr<mm_struct> mm;
  uint64_t va;
  // Copy outside the lock: it is a system call.
  if (int rc = frame_va(pfn, offset, len, &mm, &va)) return rc;
  return mm->copy_from_user(dst, va, len);
}

int host_memory::write_frame(pfn_t pfn, size_t offset, const void *src, size_t len) const {
  std::shared_ptr<mm_struct> mm;
  uint64_t va;
  if (int rc = frame_va(pfn, offset, len, &mm, &va)) return rc;
  return mm->copy_to_user(va, src, len);
}

bool host_memory::frame_owner(pfn_t pfn, uint64_t *mm_id, uint64_t *uaddr) const {
  std::lock_guard g(lock_);
  const chunk *c = chunk_of_pfn(pfn);
  if (!c) return false;
  *mm_id = c->mm->id;
  *uaddr = c->va_base + ((pfn - c->pfn_base) << PAGE_SHIFT);
  return true;
}

host_memory::stats host_memory::get_stats() const {
  std::lock_guard g(lock_);
  stats s;
  s.pinned_pages = pinned_pages_;
  s.chunks = chunks_by_va_.size();
  s.pin_ranges = pins_.size();
  // std::map nodes: key + value + three pointers + colour, rounded as malloc does
  s.bookkeeping_bytes = pins_.size() * 64 + chunks_by_va_.size() * 128 + chunks_by_pfn_.size() * 64;
  return s;
}

}  // namespace iommusim::iommufd
