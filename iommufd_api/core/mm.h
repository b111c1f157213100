// SPDX-License-Identifier: MIT
// The memory side of the host kernel that iommufd relies on: the calling task
// and its credentials, its address space (mm), and the machine's page frames.
//
// Design (docs/architecture.md, "User memory"):
//  - A pinned user page gets a PFN in the simulated physical address space whose
//    bytes ARE the program's buffer: reading or writing that PFN reads or writes
//    the program's memory, so device DMA lands where the program looks.
//  - PFNs are assigned per "chunk" of user VA (contig_bytes, default 1 GiB): a
//    chunk of VA maps to an equally aligned chunk of physical frames, so PFNs are
//    contiguous and aligned wherever VA is, as with THP/hugetlb backing. A
//    smaller contig_bytes models fragmented physical memory (e.g. 4 KiB: every
//    page its own frame run), which changes what IOTLB entries can cover.
//  - struct page state (the pin count) is kept as run-length ranges, so pinning
//    1 GiB costs a few bytes, not bytes per page.
//  - Pinning validates and faults in the range the way pin_user_pages() does
//    (MADV_POPULATE_READ/WRITE: unmapped or wrong-permission memory is EFAULT;
//    FOLL_WRITE breaks COW). All CPU copies to and from user memory go through
//    process_vm_readv/writev, so a bad user pointer is EFAULT, never a crash.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "util.h"

namespace iommusim::iommufd {

using pfn_t = uint64_t;

// An address space whose memory iommufd maps (the kernel's mm_struct).
class mm_struct {
 public:
  mm_struct();
  virtual ~mm_struct() = default;
  mm_struct(const mm_struct &) = delete;
  mm_struct &operator=(const mm_struct &) = delete;

  // copy_from_user()/copy_to_user()/clear_user(): 0 or -EFAULT; nothing is
  // partially reported as success.
  virtual int copy_from_user(void *dst, uint64_t src, size_t len) = 0;
  virtual int copy_to_user(uint64_t dst, const void *src, size_t len) = 0;
  virtual int clear_user(uint64_t dst, size_t len);
  // The fault-in step of pin_user_pages(): makes [uaddr, uaddr + len) present,
  // writable and COW-broken when write. 0 or -EFAULT.
  virtual int fault_in(uint64_t uaddr, size_t len, bool write) = 0;
  // mmget_not_zero(): false once the address space is gone.
  virtual bool alive() const { return true; }

  const uint64_t id;  // unique per address space, keys the PFN chunks
  // __account_locked_vm() state, in pages; protected by mmap_lock.
  std::mutex mmap_lock;
  uint64_t locked_vm = 0;
  std::atomic<int64_t> pinned_vm{0};
};

// The calling process's own address space.
class local_mm final : public mm_struct {
 public:
  int copy_from_user(void *dst, uint64_t src, size_t len) override;
  int copy_to_user(uint64_t dst, const void *src, size_t len) override;
  int fault_in(uint64_t uaddr, size_t len, bool write) override;
};

// Per-user accounting (the kernel's user_struct::locked_vm), in pages.
struct user_struct {
  uid_t uid = 0;
  std::atomic<uint64_t> locked_vm{0};
};

// The caller of an ioctl: its mm, its user and its credentials (the kernel's
// current / task_struct). Capabilities and RLIMIT_MEMLOCK are read from the
// real process each time, so a test can drop CAP_IPC_LOCK or lower the limit.
// Simulated root (euid 0) also holds the capabilities a container's bounding
// set withholds: the simulated machine is not the container.
class task_struct : public std::enable_shared_from_this<task_struct> {
 public:
  task_struct(std::shared_ptr<mm_struct> mm, std::shared_ptr<user_struct> user);
  enum class cap { ipc_lock, sys_resource, sys_rawio };
  virtual ~task_struct() = default;
  virtual bool capable(cap c) const;
  virtual uint64_t rlimit_memlock() const;  // bytes

  std::shared_ptr<mm_struct> mm;
  std::shared_ptr<user_struct> user;
};

// The task of the calling thread. The ioctl entry points set it (see
// current_scope); outside one it is the process's own task.
task_struct &current();
std::shared_ptr<task_struct> current_shared();
// The process's own task (its mm is the process's address space).
task_struct &process_task();

class current_scope {
 public:
  explicit current_scope(task_struct &t);
  ~current_scope();
  current_scope(const current_scope &) = delete;
  current_scope &operator=(const current_scope &) = delete;

 private:
  task_struct *prev_;
};

// The machine's physical memory map for user frames, and the struct page state
// (pin counts) of those frames. One per process; thread-safe.
class host_memory {
 public:
  struct layout {
    uint64_t user_phys_base = 1ULL << 32;  // first physical address of user frames
    uint64_t user_phys_size = 1ULL << 42;  // room for 4 TiB of pinned chunks
    uint64_t contig_bytes = 1ULL << 30;    // VA -> PA contiguity (power of two >= PAGE_SIZE)
  };
  struct stats {
    uint64_t pinned_pages = 0;   // sum of pin counts over all frames
    uint64_t chunks = 0;         // VA chunks with a frame run assigned
    uint64_t pin_ranges = 0;     // run-length entries holding pin counts
    uint64_t bookkeeping_bytes = 0;
  };

  static host_memory &get();

  // Replace the layout; -EBUSY while any page is pinned, -EINVAL if malformed.
  int set_layout(const layout &l);
  layout get_layout() const;

  // pin_user_pages(): fault in npages pages of mm from page-aligned uaddr and
  // take one pin on each; PFNs to out. Returns npages or -errno (-EFAULT for
  // memory that is not mapped or not writable when write; -ENOMEM when the
  // physical map is full). All-or-nothing.
  long pin_user_pages(const std::shared_ptr<mm_struct> &mm, uint64_t uaddr, size_t npages,
                      bool write, pfn_t *out);
  // Drop one pin on each page.
  void unpin_user_pages(const pfn_t *pfns, size_t npages);
  void unpin_user_page_range(pfn_t first, size_t npages);

  // get_user_pages() without keeping a pin: the frame that backs uaddr of mm
  // now. False when no frame is assigned (the page was never pinned, or its
  // last pin is gone; its pin count is then 0).
  bool lookup_pfn(const mm_struct &mm, uint64_t uaddr, pfn_t *pfn) const;
  unsigned pin_count(pfn_t pfn) const;

  // CPU access to a frame (kmap + memcpy). -EFAULT if the frame is not a user
  // frame or its mm no longer maps the page.
  int read_frame(pfn_t pfn, size_t offset, void *dst, size_t len) const;
  int write_frame(pfn_t pfn, size_t offset, const void *src, size_t len) const;
  // The mm and user address behind a frame, for diagnostics; false if unknown.
  bool frame_owner(pfn_t pfn, uint64_t *mm_id, uint64_t *uaddr) const;

  stats get_stats() const;

 private:
  host_memory() = default;
  struct chunk {
    std::shared_ptr<mm_struct> mm;
    uint64_t va_base = 0;   // first VA of the chunk
    pfn_t pfn_base = 0;     // first PFN of the chunk
    uint64_t pinned = 0;    // pages of this chunk with a non-zero pin count
    uint32_t slot = 0;
  };
  // pin counts as run-length ranges [first, last] -> count, per frame number
  struct run {
    pfn_t last;
    uint32_t count;
  };

  const chunk *chunk_of_pfn(pfn_t pfn) const;
  // The mm and address of bytes [offset, offset + len) of frame pfn.
  int frame_va(pfn_t pfn, size_t offset, size_t len, std::shared_ptr<mm_struct> *mm,
               uint64_t *va) const;
  void add_pins(pfn_t first, pfn_t last, int delta);
  void split_at(pfn_t pfn);
  void merge_around(pfn_t first, pfn_t last);

  mutable std::mutex lock_;
  layout layout_;
  std::map<std::pair<uint64_t, uint64_t>, chunk> chunks_by_va_;  // (mm id, va chunk index)
  std::map<pfn_t, chunk *> chunks_by_pfn_;
  std::vector<uint32_t> free_slots_;
  uint32_t next_slot_ = 0;
  std::map<pfn_t, run> pins_;   // key = first frame of the run
  uint64_t pinned_pages_ = 0;
};

}  // namespace iommusim::iommufd
