// SPDX-License-Identifier: MIT
// The PFN storage (core/pages.cpp) driven directly: real user memory, a
// test-only domain that checks how iommufd maps and unmaps, and exact
// assertions on host pin counts, pinned_pfns, accounting and domain contents.
//
// The domain (TestDomain) keeps one entry per granule (its smallest page
// size). It marks the first and last granule of every iommu_map() call (seen
// as iotlb_sync_map) and, at each iommu_unmap() (seen as iotlb_sync), checks
// that the range started and ended on such marks: iommufd must unmap whole
// maps, cutting only where PFNs are discontiguous. It also checks that every
// page it unmaps is still pinned (unpin must follow unmap).
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "core/io_pagetable.h"
#include "core/iommufd_private.h"
#include "core/log.h"
#include "core/mm.h"

namespace iommusim::iommufd {
namespace {

constexpr uint64_t SZ_2K = 2048;
constexpr uint64_t SZ_16K = 16384;
constexpr uint64_t SZ_2M = 2ULL << 20;
constexpr uint64_t SZ_1G = 1ULL << 30;

// ---------------------------------------------------------------------------
// Test doubles

class TestDomain final : public iommu_domain {
 public:
  enum : uint8_t { START = 1, LAST = 2, SYNCED = 4 };
  struct Entry {
    uint64_t paddr;
    uint8_t flags;
  };

  explicit TestDomain(uint64_t pgsizes) {
    pgsize_bitmap = pgsizes;
    granule = 1ULL << ffs64(pgsizes);
  }

  int attach_dev(device &) override { return 0; }

  int map_pages(uint64_t iova, uint64_t paddr, size_t pgsize, size_t pgcount, int prot,
                size_t *mapped) override {
    ++map_pages_calls;
    if (fail_map_pages_at && map_pages_calls == fail_map_pages_at) return -ENOMEM;
    if (!(pgsize_bitmap & pgsize) || iova % pgsize || paddr % pgsize) {
      ++errors;
      return -EINVAL;
    }
    pgsize_hist[pgsize] += pgcount;
    last_prot = prot;
    for (uint64_t off = 0; off < pgsize * pgcount; off += granule) {
      if (!ptes.emplace((iova + off) / granule, Entry{paddr + off, 0}).second) {
        ++errors;
        return -EEXIST;
      }
      *mapped += granule;
    }
    return 0;
  }

  void iotlb_sync_map(uint64_t iova, size_t size) override {
    ++iommu_map_calls;
    auto first = ptes.find(iova / granule);
    auto last = ptes.find((iova + size - 1) / granule);
    if (first == ptes.end() || last == ptes.end()) {
      ++errors;
      return;
    }
    for (auto it = first;; ++it) {
      it->second.flags |= SYNCED;
      if (it == last) break;
    }
    first->second.flags |= START;
    last->second.flags |= LAST;
  }

  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t pgcount,
                     iommu_iotlb_gather *gather) override {
    size_t done = 0;
    for (; done < pgsize * pgcount; done += granule) {
      auto it = ptes.find((iova + done) / granule);
      if (it == ptes.end()) {
        ++errors;  // unmapping what is not mapped
        continue;
      }
      if (host_memory::get().pin_count(it->second.paddr >> PAGE_SHIFT) == 0)
        ++unpinned_while_mapped;
      pending_.push_back(it->second.flags);
      ptes.erase(it);
    }
    if (gather) gather->add_range(iova, done);
    return done;
  }

  void iotlb_sync(iommu_iotlb_gather &) override {
    if (pending_.empty()) return;
    ++iommu_unmap_calls;
    // A map that failed half-way is undone before it was ever synced.
    if (pending_.front() & SYNCED) {
      if (!(pending_.front() & START) || !(pending_.back() & LAST)) ++cut_violations;
    }
    pending_.clear();
  }

  uint64_t iova_to_phys(uint64_t iova) override {
    auto it = ptes.find(iova / granule);
    return it == ptes.end() ? 0 : it->second.paddr + iova % granule;
  }

  void expect_clean() const {
    EXPECT_EQ(errors, 0u);
    EXPECT_EQ(cut_violations, 0u);
    EXPECT_EQ(unpinned_while_mapped, 0u);
  }

  uint64_t granule;
  std::map<uint64_t, Entry> ptes;  // iova / granule -> entry
  std::map<size_t, size_t> pgsize_hist;
  unsigned map_pages_calls = 0, iommu_map_calls = 0, iommu_unmap_calls = 0;
  unsigned fail_map_pages_at = 0;  // 1-based; 0 = never
  unsigned errors = 0, cut_violations = 0, unpinned_while_mapped = 0;
  int last_prot = 0;

 private:
  std::vector<uint8_t> pending_;
};

// A caller whose capabilities and RLIMIT_MEMLOCK the test chooses.
class TestTask final : public task_struct {
 public:
  TestTask(std::shared_ptr<mm_struct> mm, std::shared_ptr<user_struct> user, bool ipc_lock,
           uint64_t memlock)
      : task_struct(std::move(mm), std::move(user)), ipc_lock(ipc_lock), memlock(memlock) {}
  bool capable(cap c) const override { return c == cap::ipc_lock ? ipc_lock : true; }
  uint64_t rlimit_memlock() const override { return memlock; }
  bool ipc_lock;
  uint64_t memlock;
};

// The process's own memory seen through a separate mm, counting its calls
// and able to play an address space that has gone away.
class CountingMm final : public mm_struct {
 public:
  int copy_from_user(void *dst, uint64_t src, size_t len) override {
    ++copies;
    return inner_.copy_from_user(dst, src, len);
  }
  int copy_to_user(uint64_t dst, const void *src, size_t len) override {
    ++copies;
    return inner_.copy_to_user(dst, src, len);
  }
  int fault_in(uint64_t uaddr, size_t len, bool write) override {
    ++fault_ins;
    fault_bytes += len;
    last_fault_write = write;
    return inner_.fault_in(uaddr, len, write);
  }
  bool alive() const override { return is_alive; }
  unsigned copies = 0, fault_ins = 0;
  size_t fault_bytes = 0;
  bool last_fault_write = false;
  bool is_alive = true;

 private:
  local_mm inner_;
};

// Anonymous user memory, aligned as asked, filled with a pattern.
class Buf {
 public:
  explicit Buf(size_t npages, size_t align = PAGE_SIZE, int prot = PROT_READ | PROT_WRITE)
      : size_(npages * PAGE_SIZE) {
    size_t total = size_ + align;
    void *p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) abort();
    uint64_t raw = reinterpret_cast<uint64_t>(p);
    addr_ = align_up<uint64_t>(raw, align);
    if (addr_ != raw) munmap(p, addr_ - raw);
    if (raw + total != addr_ + size_) munmap(ptr(size_), raw + total - (addr_ + size_));
    for (size_t i = 0; i < size_; i++) ptr()[i] = static_cast<char>(i * 7 + i / PAGE_SIZE);
    if (prot != (PROT_READ | PROT_WRITE)) mprotect(ptr(), size_, prot);
  }
  ~Buf() { munmap(ptr(), size_); }
  Buf(const Buf &) = delete;
  Buf &operator=(const Buf &) = delete;

  uint64_t addr() const { return addr_; }
  size_t size() const { return size_; }
  char *ptr(size_t off = 0) const { return reinterpret_cast<char *>(addr_ + off); }
  void unmap_pages(size_t first, size_t n) { munmap(ptr(first * PAGE_SIZE), n * PAGE_SIZE); }

 private:
  uint64_t addr_;
  size_t size_;
};

// An area over [start_byte, start_byte + length) of pages at iova.
struct TestArea {
  TestArea(io_pagetable *iopt, iopt_pages *pages, uint64_t iova, uint64_t start_byte,
           uint64_t length, int prot = IOMMU_READ | IOMMU_WRITE) {
    area.iopt = iopt;
    area.pages = pages;
    area.node.start = iova;
    area.node.last = iova + length - 1;
    area.pages_node.start = start_byte / PAGE_SIZE;
    area.pages_node.last = (start_byte + length - 1) / PAGE_SIZE;
    area.page_offset = static_cast<unsigned>(start_byte % PAGE_SIZE);
    area.iommu_prot = prot;
  }
  iopt_area area;
};

uint64_t index_iova(const iopt_area &a, uint64_t index) {
  if (index == iopt_area_index(&a)) return iopt_area_iova(&a);
  return iopt_area_iova(&a) - a.page_offset + (index - iopt_area_index(&a)) * PAGE_SIZE;
}

// The PFN the domain maps for each index of the area (0 where unmapped).
std::vector<pfn_t> domain_pfns(TestDomain &d, const iopt_area &a) {
  std::vector<pfn_t> out;
  for (uint64_t i = iopt_area_index(&a); i <= iopt_area_last_index(&a); i++) {
    uint64_t iova = index_iova(a, i);
    unsigned off = i == iopt_area_index(&a) ? a.page_offset : 0;
    uint64_t phys = d.iova_to_phys(iova);
    out.push_back(phys ? (phys - off) >> PAGE_SHIFT : 0);
  }
  return out;
}

// The frames backing the user pages [first, last] now (0 if none).
std::vector<pfn_t> user_pfns(const iopt_pages *p, uint64_t first, uint64_t last) {
  std::vector<pfn_t> out;
  for (uint64_t i = first; i <= last; i++) {
    pfn_t pfn = 0;
    if (!host_memory::get().lookup_pfn(*p->source_mm, p->uptr + i * PAGE_SIZE, &pfn)) pfn = 0;
    out.push_back(pfn);
  }
  return out;
}

size_t granules_of(const iopt_area &a, uint64_t granule) { return iopt_area_length(&a) / granule; }

// iopt_fill_domain()/iopt_unfill_domain() of io_pagetable.c for one area.
int attach_domain(io_pagetable &iopt, iopt_area &a, iommu_domain *d) {
  iopt_pages *pages = a.pages;
  {
    std::lock_guard g(pages->mutex);
    int rc = iopt_area_fill_domain(&a, d);
    if (rc) return rc;
    if (!a.storage_domain) {
      a.storage_domain = d;
      pages->domains_itree.insert(&a.pages_node);
    }
  }
  iopt.domains.push_back(d);
  return 0;
}

void detach_domain(io_pagetable &iopt, iopt_area &a, iommu_domain *d) {
  iopt.domains.erase(std::find(iopt.domains.begin(), iopt.domains.end(), d));
  iopt_pages *pages = a.pages;
  if (!iopt.domains.empty()) {
    {
      std::lock_guard g(pages->mutex);
      if (a.storage_domain == d) a.storage_domain = iopt.domains[0];
    }
    iopt_area_unmap_domain(&a, d);
    return;
  }
  std::lock_guard g(pages->mutex);
  pages->domains_itree.remove(&a.pages_node);
  a.storage_domain = nullptr;
  iopt_area_unfill_domain(&a, pages, d);
}

iopt_pages *alloc_pages(uint64_t uptr, uint64_t length, bool writable = true) {
  auto r = iopt_alloc_pages(uptr, length, writable);
  EXPECT_FALSE(r.is_err()) << r.err();
  return r.get();
}

uint64_t host_pinned() { return host_memory::get().get_stats().pinned_pages; }

// Every test leaves no pin, no warning and the defaults behind.
class PagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    warns_ = warn_count();
    pinned_ = host_pinned();
  }
  void TearDown() override {
    iommufd_test_memory_limit = 65536;
    EXPECT_EQ(host_pinned(), pinned_) << "pins leaked";
    EXPECT_EQ(warn_count(), warns_) << "IOMMUSIM_WARN fired";
    host_memory::layout def;
    if (host_pinned() == 0) {
      EXPECT_EQ(host_memory::get().set_layout(def), 0);
    }
  }
  static void set_layout(uint64_t contig) {
    host_memory::layout l;
    l.contig_bytes = contig;
    ASSERT_EQ(host_memory::get().set_layout(l), 0);
  }
  unsigned long warns_ = 0;
  uint64_t pinned_ = 0;
};

// ---------------------------------------------------------------------------
// iopt_alloc_pages

using PagesAlloc = PagesTest;

TEST_F(PagesAlloc, RejectsBadLengthsAndOverflow) {
  EXPECT_EQ(iopt_alloc_pages(0x10000, 0, true).err(), -EINVAL);
  EXPECT_EQ(iopt_alloc_pages(0x10000, SIZE_MAX - PAGE_SIZE + 1, true).err(), -EINVAL);
  EXPECT_EQ(iopt_alloc_pages(UINT64_MAX - PAGE_SIZE, 2 * PAGE_SIZE, true).err(), -EOVERFLOW);
  // SIZE_MAX - PAGE_SIZE itself is allowed by length, but this uptr wraps.
  EXPECT_EQ(iopt_alloc_pages(PAGE_SIZE * 2, SIZE_MAX - PAGE_SIZE, true).err(), -EOVERFLOW);
}

TEST_F(PagesAlloc, RecordsCallerAndRoundsToPages) {
  auto mm = std::make_shared<local_mm>();
  auto user = std::make_shared<user_struct>();
  auto task = std::make_shared<TestTask>(mm, user, true, UINT64_MAX);
  current_scope scope(*task);

  iopt_pages *p = alloc_pages(0x10000 + 100, 2 * PAGE_SIZE);
  EXPECT_EQ(p->uptr, 0x10000u);
  EXPECT_EQ(p->npages, 3u);  // 100 bytes into the first page spill into a third
  EXPECT_TRUE(p->writable);
  EXPECT_EQ(p->account_mode, IOPT_PAGES_ACCOUNT_NONE);
  EXPECT_EQ(p->source_mm, mm);
  EXPECT_EQ(p->source_user, user);
  EXPECT_EQ(p->source_task.get(), task.get());
  EXPECT_EQ(p->kref.load(), 1);
  EXPECT_EQ(p->npinned, 0u);
  iopt_put_pages(p);

  task->ipc_lock = false;
  p = alloc_pages(0x10000, PAGE_SIZE, false);
  EXPECT_EQ(p->npages, 1u);
  EXPECT_FALSE(p->writable);
  EXPECT_EQ(p->account_mode, IOPT_PAGES_ACCOUNT_USER);
  iopt_put_pages(p);
}

// ---------------------------------------------------------------------------
// The core invariants under every storage configuration: the temp memory
// limit (16 bytes = a one-entry batch, two pages per pin call, as the
// selftest's mock_domain_limit variant), physical contiguity of user memory
// (4 KiB: every page its own run; 16 KiB: runs of four) and sub-page areas.

struct Config {
  const char *name;
  size_t mem_limit;
  uint64_t contig;
  uint64_t pgsizes;
  unsigned page_offset;
};

void PrintTo(const Config &c, std::ostream *os) { *os << c.name; }

const Config kConfigs[] = {
    {"contig", 65536, SZ_1G, PAGE_SIZE | SZ_2M | SZ_1G, 0},
    {"contig_limit16", 16, SZ_1G, PAGE_SIZE | SZ_2M | SZ_1G, 0},
    {"frag4k", 65536, PAGE_SIZE, PAGE_SIZE | SZ_2M, 0},
    {"runs16k_limit16", 16, SZ_16K, PAGE_SIZE | SZ_2M, 0},
    {"runs16k_limit64", 64, SZ_16K, PAGE_SIZE, 0},
    {"subpage", 65536, SZ_1G, SZ_2K | PAGE_SIZE | SZ_2M, 2048},
    {"subpage_runs16k_limit16", 16, SZ_16K, SZ_2K | PAGE_SIZE, 2048},
};

constexpr size_t NPAGES = 64;
constexpr uint64_t IOVA1 = 0x100000;
constexpr uint64_t IOVA2 = 0x40000000;

class PagesMatrix : public PagesTest, public ::testing::WithParamInterface<Config> {
 protected:
  void SetUp() override {
    PagesTest::SetUp();
    set_layout(GetParam().contig);
    iommufd_test_memory_limit = GetParam().mem_limit;
  }
  const Config &cfg() const { return GetParam(); }
  // The area covers the whole buffer, less page_offset at both ends.
  uint64_t off() const { return cfg().page_offset; }
  uint64_t len() const { return NPAGES * PAGE_SIZE - 2 * off(); }
};

TEST_P(PagesMatrix, SinglePinAcrossDomainsAccessesAndCopies) {
  Buf buf(NPAGES, 4 * SZ_16K);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestDomain d1(cfg().pgsizes), d2(cfg().pgsizes);
  iopt.domains = {&d1, &d2};
  TestArea a(&iopt, pages, IOVA1, off(), len());

  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  EXPECT_EQ(a.area.storage_domain, &d1);
  EXPECT_TRUE(a.area.pages_node.in_tree());
  const std::vector<pfn_t> pfns = user_pfns(pages, 0, NPAGES - 1);
  for (pfn_t pfn : pfns) {
    ASSERT_NE(pfn, 0u);
    EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
  }
  EXPECT_EQ(domain_pfns(d1, a.area), pfns);
  EXPECT_EQ(domain_pfns(d2, a.area), pfns);
  EXPECT_EQ(d1.ptes.size(), granules_of(a.area, d1.granule));
  EXPECT_EQ(d1.last_prot, IOMMU_READ | IOMMU_WRITE);
  EXPECT_EQ(pages->npinned, NPAGES);
  EXPECT_EQ(pages->last_npinned, NPAGES);
  EXPECT_TRUE(pages->pinned_pfns.empty()) << "domain-held PFNs must not be duplicated";

  // Accesses take PFNs from the domain: no second pin.
  std::vector<pfn_t> out(NPAGES);
  ASSERT_EQ(iopt_area_add_access(&a.area, 2, 5, out.data(), 0), 0);
  EXPECT_EQ(std::vector<pfn_t>(out.begin(), out.begin() + 4),
            std::vector<pfn_t>(pfns.begin() + 2, pfns.begin() + 6));
  ASSERT_EQ(iopt_area_add_access(&a.area, 2, 5, out.data(), IOMMUFD_ACCESS_RW_WRITE), 0);
  ASSERT_EQ(iopt_area_add_access(&a.area, 4, 9, out.data(), 0), 0);
  EXPECT_EQ(std::vector<pfn_t>(out.begin(), out.begin() + 6),
            std::vector<pfn_t>(pfns.begin() + 4, pfns.begin() + 10));
  EXPECT_EQ(a.area.num_accesses, 3u);
  EXPECT_EQ(pages->pinned_pfns.count(), 8u);  // indexes 2..9
  EXPECT_EQ(pages->npinned, NPAGES);

  // A second IOAS maps the same pages (IOAS_COPY): read from the domain.
  iopt_get_pages(pages);
  io_pagetable iopt2;
  TestDomain d3(cfg().pgsizes);
  iopt2.domains = {&d3};
  TestArea b(&iopt2, pages, IOVA2, off(), len());
  ASSERT_EQ(iopt_area_fill_domains(&b.area, pages), 0);
  EXPECT_EQ(domain_pfns(d3, b.area), pfns);
  for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
  EXPECT_EQ(pages->npinned, NPAGES);

  // Tear down in an order that leaves each tier the last holder in turn.
  iopt_area_unfill_domains(&a.area, pages);
  EXPECT_TRUE(d1.ptes.empty());
  EXPECT_TRUE(d2.ptes.empty());
  EXPECT_EQ(a.area.storage_domain, nullptr);
  for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
  iopt_area_remove_access(&a.area, 2, 5);
  iopt_area_remove_access(&a.area, 2, 5);
  iopt_area_remove_access(&a.area, 4, 9);
  EXPECT_TRUE(pages->pinned_pfns.empty());
  EXPECT_TRUE(pages->access_itree.empty());
  for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
  iopt_area_unfill_domains(&b.area, pages);
  EXPECT_TRUE(d3.ptes.empty());
  for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 0u);
  EXPECT_EQ(pages->npinned, 0u);
  EXPECT_EQ(pages->last_npinned, 0u);
  d1.expect_clean();
  d2.expect_clean();
  d3.expect_clean();
  iopt_put_pages(pages);
  iopt_put_pages(pages);
}

TEST_P(PagesMatrix, DomainPfnsAreTheUserPages) {
  Buf buf(NPAGES, 4 * SZ_16K);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestDomain d(cfg().pgsizes);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, IOVA1, off(), len());
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);

  // "DMA" through the domain's translation lands in the user's buffer.
  for (size_t i = 0; i < NPAGES; i += 7) {
    uint64_t iova = index_iova(a.area, i) + 16;
    uint64_t phys = d.iova_to_phys(iova);
    ASSERT_NE(phys, 0u);
    char msg[16];
    snprintf(msg, sizeof(msg), "page%zu", i);
    ASSERT_EQ(host_memory::get().write_frame(phys >> PAGE_SHIFT, phys % PAGE_SIZE, msg,
                                             sizeof(msg)),
              0);
    uint64_t ubyte = (iova - IOVA1) + off();
    EXPECT_EQ(memcmp(buf.ptr(ubyte), msg, sizeof(msg)), 0);
    buf.ptr(ubyte)[0] = 'X';
    char back = 0;
    ASSERT_EQ(host_memory::get().read_frame(phys >> PAGE_SHIFT, phys % PAGE_SIZE, &back, 1), 0);
    EXPECT_EQ(back, 'X');
  }
  iopt_area_unfill_domains(&a.area, pages);
  d.expect_clean();
  iopt_put_pages(pages);
}

TEST_P(PagesMatrix, AttachFirstDomainPinsThenLaterDomainsCopy) {
  Buf buf(NPAGES, 4 * SZ_16K);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestArea a(&iopt, pages, IOVA1, off(), len());
  // Mapping into an IOAS with no domain pins nothing.
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  EXPECT_EQ(pages->npinned, 0u);
  EXPECT_EQ(a.area.storage_domain, nullptr);

  TestDomain d1(cfg().pgsizes), d2(cfg().pgsizes);
  ASSERT_EQ(attach_domain(iopt, a.area, &d1), 0);
  const std::vector<pfn_t> pfns = user_pfns(pages, 0, NPAGES - 1);
  for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
  EXPECT_EQ(domain_pfns(d1, a.area), pfns);
  const uint64_t pinned = host_pinned();

  // With the user's memory inaccessible, only a copy from d1 can succeed.
  ASSERT_EQ(mprotect(buf.ptr(), buf.size(), PROT_NONE), 0);
  ASSERT_EQ(attach_domain(iopt, a.area, &d2), 0);
  ASSERT_EQ(mprotect(buf.ptr(), buf.size(), PROT_READ | PROT_WRITE), 0);
  EXPECT_EQ(domain_pfns(d2, a.area), pfns);
  EXPECT_EQ(host_pinned(), pinned);
  EXPECT_EQ(pages->npinned, NPAGES);
  for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);

  // Detaching the storage domain hands storage to the other one.
  detach_domain(iopt, a.area, &d1);
  EXPECT_TRUE(d1.ptes.empty());
  EXPECT_EQ(a.area.storage_domain, &d2);
  for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
  detach_domain(iopt, a.area, &d2);
  EXPECT_TRUE(d2.ptes.empty());
  for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 0u);
  EXPECT_EQ(pages->npinned, 0u);
  d1.expect_clean();
  d2.expect_clean();
  iopt_put_pages(pages);
}

TEST_P(PagesMatrix, UnfillKeepsExactlyTheAccessedPagesPinned) {
  Buf buf(NPAGES, 4 * SZ_16K);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestDomain d(cfg().pgsizes);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, IOVA1, off(), len());
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  const std::vector<pfn_t> pfns = user_pfns(pages, 0, NPAGES - 1);

  // Overlapping and touching accesses, one at each end of the area, and
  // boundaries inside the contiguous runs of every layout.
  const std::vector<std::pair<uint64_t, uint64_t>> ranges = {
      {0, 0}, {3, 4}, {6, 10}, {9, 13}, {14, 14}, {21, 21}, {30, 41}, {62, 63}};
  std::set<uint64_t> held;
  std::vector<pfn_t> out(NPAGES);
  for (auto [s, l] : ranges) {
    ASSERT_EQ(iopt_area_add_access(&a.area, s, l, out.data(), 0), 0);
    for (uint64_t i = s; i <= l; i++) held.insert(i);
  }
  iopt_area_unfill_domains(&a.area, pages);
  EXPECT_TRUE(d.ptes.empty());
  for (uint64_t i = 0; i < NPAGES; i++)
    EXPECT_EQ(host_memory::get().pin_count(pfns[i]), held.count(i) ? 1u : 0u) << "index " << i;
  EXPECT_EQ(pages->npinned, held.size());
  EXPECT_EQ(pages->last_npinned, held.size());
  EXPECT_EQ(pages->pinned_pfns.count(), held.size());
  d.expect_clean();

  // Refill while accesses hold part: those come from pinned_pfns, the rest
  // is pinned again (and may land in other frames: it was unpinned).
  TestDomain d2(cfg().pgsizes);
  iopt.domains = {&d2};
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  const std::vector<pfn_t> repinned = user_pfns(pages, 0, NPAGES - 1);
  EXPECT_EQ(domain_pfns(d2, a.area), repinned);
  for (uint64_t i : held) EXPECT_EQ(repinned[i], pfns[i]);
  for (pfn_t pfn : repinned) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
  // Removing accesses while a domain holds the pages drops only pinned_pfns.
  for (auto [s, l] : ranges) iopt_area_remove_access(&a.area, s, l);
  EXPECT_TRUE(pages->pinned_pfns.empty());
  for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
  iopt_area_unfill_domains(&a.area, pages);
  for (pfn_t pfn : repinned) EXPECT_EQ(host_memory::get().pin_count(pfn), 0u);
  EXPECT_EQ(pages->npinned, 0u);
  d2.expect_clean();
  iopt_put_pages(pages);
}

// Every map_pages() call of either domain fails in turn, as the kernel's
// fail_nth tests do: each failure must leave everything as it was.
TEST_P(PagesMatrix, MapFailureAtEveryPointChangesNothing) {
  Buf buf(NPAGES, 4 * SZ_16K);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestArea a(&iopt, pages, IOVA1, off(), len());
  std::vector<pfn_t> out(NPAGES);
  // An access holds [10, 12] throughout.
  ASSERT_EQ(iopt_area_add_access(&a.area, 10, 12, out.data(), 0), 0);
  const std::vector<pfn_t> held(out.begin(), out.begin() + 3);
  const uint64_t pinned = host_pinned();

  for (int which = 0; which < 2; which++) {
    unsigned n = 1;
    for (;; n++) {
      TestDomain d1(cfg().pgsizes), d2(cfg().pgsizes);
      (which ? d2 : d1).fail_map_pages_at = n;
      iopt.domains = {&d1, &d2};
      int rc = iopt_area_fill_domains(&a.area, pages);
      if (rc == 0) {
        iopt_area_unfill_domains(&a.area, pages);
        d1.expect_clean();
        d2.expect_clean();
        break;
      }
      EXPECT_EQ(rc, -ENOMEM);
      EXPECT_TRUE(d1.ptes.empty()) << "fail at " << n;
      EXPECT_TRUE(d2.ptes.empty()) << "fail at " << n;
      EXPECT_FALSE(a.area.pages_node.in_tree());
      EXPECT_EQ(a.area.storage_domain, nullptr);
      EXPECT_EQ(pages->npinned, 3u);
      EXPECT_EQ(pages->last_npinned, 3u);
      EXPECT_EQ(pages->pinned_pfns.count(), 3u);
      EXPECT_EQ(host_pinned(), pinned) << "fail at " << n;
      for (pfn_t pfn : held) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
      d1.expect_clean();
      d2.expect_clean();
    }
    EXPECT_GT(n, 1u);
  }
  iopt.domains.clear();
  iopt_area_remove_access(&a.area, 10, 12);
  EXPECT_EQ(pages->npinned, 0u);
  iopt_put_pages(pages);
}

// Attaching a domain that fails part-way leaves it empty and the existing
// storage alone — both for the first domain (which pins) and a later one.
TEST_P(PagesMatrix, FillDomainFailureAtEveryPointChangesNothing) {
  Buf buf(NPAGES, 4 * SZ_16K);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestArea a(&iopt, pages, IOVA1, off(), len());
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);  // no domains yet
  const uint64_t pinned = host_pinned();

  unsigned n = 1;
  for (;; n++) {
    TestDomain d(cfg().pgsizes);
    d.fail_map_pages_at = n;
    int rc = attach_domain(iopt, a.area, &d);
    if (rc == 0) {
      detach_domain(iopt, a.area, &d);
      d.expect_clean();
      break;
    }
    EXPECT_EQ(rc, -ENOMEM);
    EXPECT_TRUE(d.ptes.empty());
    EXPECT_EQ(pages->npinned, 0u);
    EXPECT_EQ(host_pinned(), pinned);
    d.expect_clean();
  }
  EXPECT_GT(n, 1u);

  TestDomain d1(cfg().pgsizes);
  ASSERT_EQ(attach_domain(iopt, a.area, &d1), 0);
  const std::vector<pfn_t> pfns = domain_pfns(d1, a.area);
  const size_t entries = d1.ptes.size();
  for (n = 1;; n++) {
    TestDomain d(cfg().pgsizes);
    d.fail_map_pages_at = n;
    int rc = attach_domain(iopt, a.area, &d);
    if (rc == 0) {
      detach_domain(iopt, a.area, &d);
      break;
    }
    EXPECT_EQ(rc, -ENOMEM);
    EXPECT_TRUE(d.ptes.empty());
    EXPECT_EQ(d1.ptes.size(), entries);
    EXPECT_EQ(domain_pfns(d1, a.area), pfns);
    for (pfn_t pfn : pfns) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
    EXPECT_EQ(pages->npinned, NPAGES);
    d.expect_clean();
  }
  detach_domain(iopt, a.area, &d1);
  d1.expect_clean();
  EXPECT_EQ(pages->npinned, 0u);
  iopt_put_pages(pages);
}

TEST_P(PagesMatrix, UnmappedUserMemoryIsEfaultAndChangesNothing) {
  Buf buf(NPAGES, 4 * SZ_16K);
  buf.unmap_pages(NPAGES / 2 + 3, NPAGES / 2 - 3);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestDomain d1(cfg().pgsizes), d2(cfg().pgsizes);
  iopt.domains = {&d1, &d2};
  TestArea a(&iopt, pages, IOVA1, off(), len());
  const uint64_t pinned = host_pinned();

  EXPECT_EQ(iopt_area_fill_domains(&a.area, pages), -EFAULT);
  EXPECT_TRUE(d1.ptes.empty());
  EXPECT_TRUE(d2.ptes.empty());
  EXPECT_EQ(pages->npinned, 0u);
  EXPECT_EQ(host_pinned(), pinned);

  std::vector<pfn_t> out(NPAGES);
  EXPECT_EQ(iopt_area_add_access(&a.area, 0, NPAGES - 1, out.data(), 0), -EFAULT);
  EXPECT_TRUE(pages->pinned_pfns.empty());
  EXPECT_TRUE(pages->access_itree.empty());
  EXPECT_EQ(a.area.num_accesses, 0u);
  EXPECT_EQ(host_pinned(), pinned);

  // The mapped half still works, and an access beside it is unchanged by a
  // failing one that overlaps it.
  ASSERT_EQ(iopt_area_add_access(&a.area, 1, 8, out.data(), 0), 0);
  EXPECT_EQ(iopt_area_add_access(&a.area, 4, NPAGES - 1, out.data(), 0), -EFAULT);
  EXPECT_EQ(pages->pinned_pfns.count(), 8u);
  EXPECT_EQ(pages->npinned, 8u);
  EXPECT_EQ(host_pinned(), pinned + 8);
  iopt_area_remove_access(&a.area, 1, 8);
  EXPECT_EQ(pages->npinned, 0u);
  d1.expect_clean();
  d2.expect_clean();
  iopt_put_pages(pages);
}

// The slow path reads through the pfn_reader whatever tier holds each page.
TEST_P(PagesMatrix, SlowPathReadsAndWritesThroughEveryTier) {
  Buf buf(NPAGES, 4 * SZ_16K);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestDomain d(cfg().pgsizes);
  iopt.domains = {&d};
  // A domain holds pages 16..31, an access 40..47, the rest is unpinned.
  TestArea dom(&iopt, pages, IOVA1, 16 * PAGE_SIZE + off(), 16 * PAGE_SIZE - 2 * off());
  ASSERT_EQ(iopt_area_fill_domains(&dom.area, pages), 0);
  TestArea acc(&iopt, pages, IOVA2, 40 * PAGE_SIZE, 8 * PAGE_SIZE);
  std::vector<pfn_t> out(8);
  ASSERT_EQ(iopt_area_add_access(&acc.area, 40, 47, out.data(), 0), 0);
  const uint64_t pinned = host_pinned();

  const uint64_t start = 100, length = buf.size() - 300;
  std::vector<char> data(length);
  ASSERT_EQ(iopt_pages_rw_access(pages, start, data.data(), length,
                                 IOMMUFD_ACCESS_RW_SLOW_PATH),
            0);
  EXPECT_EQ(memcmp(data.data(), buf.ptr(start), length), 0);
  EXPECT_EQ(host_pinned(), pinned) << "transient pins must be dropped";
  EXPECT_EQ(pages->npinned, 16u + 8u);

  for (size_t i = 0; i < length; i++) data[i] = static_cast<char>(~data[i]);
  ASSERT_EQ(iopt_pages_rw_access(pages, start, data.data(), length,
                                 IOMMUFD_ACCESS_RW_SLOW_PATH | IOMMUFD_ACCESS_RW_WRITE),
            0);
  EXPECT_EQ(memcmp(data.data(), buf.ptr(start), length), 0);
  EXPECT_EQ(host_pinned(), pinned);

  iopt_area_remove_access(&acc.area, 40, 47);
  iopt_area_unfill_domains(&dom.area, pages);
  EXPECT_EQ(pages->npinned, 0u);
  d.expect_clean();
  iopt_put_pages(pages);
}

INSTANTIATE_TEST_SUITE_P(Configs, PagesMatrix, ::testing::ValuesIn(kConfigs),
                         [](const ::testing::TestParamInfo<Config> &i) { return i.param.name; });

// ---------------------------------------------------------------------------
// Large pages, and their VFIO-compatible opt-out.

using PagesMap = PagesTest;

TEST_F(PagesMap, ContiguousRunsUseLargePagesUnlessDisabled) {
  Buf buf(1024, 4 * SZ_2M);  // 4 MiB, physically contiguous and 2 MiB aligned
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE | SZ_2M | SZ_1G);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, 4 * SZ_2M, 0, buf.size());
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  EXPECT_EQ(d.iommu_map_calls, 1u) << "one contiguous run, one iommu_map";
  EXPECT_EQ(d.pgsize_hist[SZ_2M], 2u);
  EXPECT_EQ(d.pgsize_hist[PAGE_SIZE], 0u);
  iopt_area_unfill_domains(&a.area, pages);
  EXPECT_TRUE(d.ptes.empty());
  EXPECT_EQ(d.iommu_unmap_calls, 1u);
  d.expect_clean();

  iopt.disable_large_pages = true;
  TestDomain small(PAGE_SIZE | SZ_2M | SZ_1G);
  iopt.domains = {&small};
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  EXPECT_EQ(small.iommu_map_calls, 1024u);
  EXPECT_EQ(small.pgsize_hist[PAGE_SIZE], 1024u);
  EXPECT_EQ(small.pgsize_hist[SZ_2M], 0u);
  iopt_area_unfill_domains(&a.area, pages);
  EXPECT_TRUE(small.ptes.empty());
  small.expect_clean();
  EXPECT_EQ(pages->npinned, 0u);
  iopt_put_pages(pages);
}

TEST_F(PagesMap, DiscontiguousFramesMapOneRunPerCall) {
  set_layout(SZ_16K);
  Buf buf(16, SZ_16K);  // four runs of four pages
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, IOVA1, 0, buf.size());
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  EXPECT_EQ(d.iommu_map_calls, 4u);
  // An access in the middle of a run: the unmap still cuts only between runs.
  std::vector<pfn_t> out(2);
  ASSERT_EQ(iopt_area_add_access(&a.area, 5, 6, out.data(), 0), 0);
  iopt_area_unfill_domains(&a.area, pages);
  EXPECT_TRUE(d.ptes.empty());
  EXPECT_EQ(pages->npinned, 2u);
  d.expect_clean();
  iopt_area_remove_access(&a.area, 5, 6);
  iopt_put_pages(pages);
}

// An access that ends inside one contiguous run and starts inside the one
// before it: the unfill carry covers only part of it, and with a one-entry
// batch the next hole must still read on to the run's end before unmapping.
TEST_F(PagesMap, EmptiedCarryStillUnmapsWholeRuns) {
  set_layout(SZ_16K);
  iommufd_test_memory_limit = 16;
  Buf buf(32, SZ_16K);  // runs [0-3] [4-7] ...
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, IOVA1, 0, buf.size());
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  EXPECT_EQ(d.iommu_map_calls, 8u);
  std::vector<pfn_t> out(3);
  ASSERT_EQ(iopt_area_add_access(&a.area, 10, 12, out.data(), 0), 0);
  iopt_area_unfill_domains(&a.area, pages);
  EXPECT_TRUE(d.ptes.empty());
  EXPECT_EQ(pages->npinned, 3u);
  d.expect_clean();
  iopt_area_remove_access(&a.area, 10, 12);
  iopt_put_pages(pages);
}

// ---------------------------------------------------------------------------
// Accesses

using PagesAccess = PagesTest;

TEST_F(PagesAccess, ExactRangesShareAndCountUsers) {
  Buf buf(16);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  io_pagetable iopt;
  TestArea a(&iopt, pages, IOVA1, 0, buf.size());
  std::vector<pfn_t> out1(4), out2(4), out3(4);
  ASSERT_EQ(iopt_area_add_access(&a.area, 2, 5, out1.data(), 0), 0);
  ASSERT_EQ(iopt_area_add_access(&a.area, 2, 5, out2.data(), 0), 0);
  ASSERT_EQ(iopt_area_add_access(&a.area, 3, 6, out3.data(), 0), 0);
  EXPECT_EQ(out1, user_pfns(pages, 2, 5));
  EXPECT_EQ(out2, out1);
  EXPECT_EQ(out3, user_pfns(pages, 3, 6));
  EXPECT_EQ(a.area.num_accesses, 3u);
  EXPECT_EQ(pages->access_itree.size(), 2u);
  auto *n = pages->access_itree.iter_first(2, 2);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(IOMMUSIM_CONTAINER_OF(n, iopt_pages_access, node)->users, 2u);
  for (pfn_t pfn : user_pfns(pages, 2, 6)) EXPECT_EQ(host_memory::get().pin_count(pfn), 1u);
  EXPECT_EQ(pages->npinned, 5u);
  EXPECT_EQ(pages->pinned_pfns.count(), 5u);

  std::vector<pfn_t> fast(4);
  iopt_pages_fill_from_xarray(pages, 2, 5, fast.data());
  EXPECT_EQ(fast, out1);

  const std::vector<pfn_t> all = user_pfns(pages, 2, 6);
  iopt_area_remove_access(&a.area, 2, 5);
  EXPECT_EQ(pages->access_itree.size(), 2u);
  EXPECT_EQ(pages->npinned, 5u);
  iopt_area_remove_access(&a.area, 2, 5);
  EXPECT_EQ(pages->access_itree.size(), 1u);
  EXPECT_EQ(pages->npinned, 4u);  // index 2 was only in [2, 5]
  EXPECT_EQ(host_memory::get().pin_count(all[0]), 0u);
  EXPECT_EQ(pages->pinned_pfns.count(), 4u);
  iopt_area_remove_access(&a.area, 3, 6);
  EXPECT_EQ(a.area.num_accesses, 0u);
  EXPECT_TRUE(pages->pinned_pfns.empty());
  EXPECT_EQ(pages->npinned, 0u);
  for (pfn_t pfn : all) EXPECT_EQ(host_memory::get().pin_count(pfn), 0u);
  iopt_put_pages(pages);
}

TEST_F(PagesAccess, ReadOnlyPagesRefuseWriters) {
  Buf buf(4, PAGE_SIZE, PROT_READ);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size(), false);
  io_pagetable iopt;
  TestArea a(&iopt, pages, IOVA1, 0, buf.size(), IOMMU_READ);
  std::vector<pfn_t> out(4);
  EXPECT_EQ(iopt_area_add_access(&a.area, 0, 3, out.data(), IOMMUFD_ACCESS_RW_WRITE), -EPERM);
  EXPECT_EQ(a.area.num_accesses, 0u);
  // Read-only memory pins fine without FOLL_WRITE.
  ASSERT_EQ(iopt_area_add_access(&a.area, 0, 3, out.data(), 0), 0);
  char c;
  EXPECT_EQ(iopt_pages_rw_access(pages, 0, &c, 1, IOMMUFD_ACCESS_RW_WRITE), -EPERM);
  EXPECT_EQ(iopt_pages_rw_access(pages, 0, &c, 1,
                                 IOMMUFD_ACCESS_RW_WRITE | IOMMUFD_ACCESS_RW_SLOW_PATH),
            -EPERM);
  EXPECT_EQ(iopt_pages_rw_access(pages, 5, &c, 1, 0), 0);
  EXPECT_EQ(c, buf.ptr()[5]);
  iopt_area_remove_access(&a.area, 0, 3);
  iopt_put_pages(pages);

  // Writable iopt_pages over read-only memory cannot be pinned.
  pages = alloc_pages(buf.addr(), buf.size(), true);
  TestArea b(&iopt, pages, IOVA1, 0, buf.size());
  EXPECT_EQ(iopt_area_add_access(&b.area, 0, 3, out.data(), 0), -EFAULT);
  iopt_put_pages(pages);
}

// ---------------------------------------------------------------------------
// iopt_pages_rw_access

using PagesRw = PagesTest;

struct RemoteSetup {
  std::shared_ptr<CountingMm> mm = std::make_shared<CountingMm>();
  std::shared_ptr<task_struct> task =
      std::make_shared<TestTask>(mm, std::make_shared<user_struct>(), true, UINT64_MAX);
};

TEST_F(PagesRw, FastPathCopiesAtSubPageOffsets) {
  Buf buf(8);
  RemoteSetup r;
  current_scope scope(*r.task);  // this caller's mm is the pages' mm
  iopt_pages *pages = alloc_pages(buf.addr() + 100, buf.size() - 100);
  const uint64_t pinned = host_pinned();
  std::vector<char> data(3 * PAGE_SIZE + 17);
  ASSERT_EQ(iopt_pages_rw_access(pages, PAGE_SIZE - 9, data.data(), data.size(), 0), 0);
  EXPECT_EQ(memcmp(data.data(), buf.ptr(PAGE_SIZE - 9), data.size()), 0);
  EXPECT_EQ(r.mm->copies, 1u);
  EXPECT_EQ(r.mm->fault_ins, 0u) << "the fast path pins nothing";
  memset(data.data(), 0x5a, data.size());
  ASSERT_EQ(iopt_pages_rw_access(pages, 2 * PAGE_SIZE + 1, data.data(), 10,
                                 IOMMUFD_ACCESS_RW_WRITE),
            0);
  EXPECT_EQ(buf.ptr(2 * PAGE_SIZE)[0], static_cast<char>(2 * PAGE_SIZE * 7 + 2));
  EXPECT_EQ(buf.ptr(2 * PAGE_SIZE)[1], 0x5a);
  EXPECT_EQ(buf.ptr(2 * PAGE_SIZE)[10], 0x5a);
  EXPECT_NE(buf.ptr(2 * PAGE_SIZE)[11], 0x5a);
  EXPECT_EQ(host_pinned(), pinned);
  EXPECT_EQ(pages->npinned, 0u);
  // A kernel thread also takes the fast path, even when forced slow.
  ASSERT_EQ(iopt_pages_rw_access(pages, 0, data.data(), 2 * PAGE_SIZE,
                                 IOMMUFD_ACCESS_RW_KTHREAD | IOMMUFD_ACCESS_RW_SLOW_PATH),
            0);
  EXPECT_EQ(r.mm->fault_ins, 0u);
  iopt_put_pages(pages);
}

TEST_F(PagesRw, OtherMmTakesTheSlowPathAndSinglePagePinsJustThatPage) {
  Buf buf(8);
  RemoteSetup r;
  iopt_pages *pages;
  {
    current_scope scope(*r.task);
    pages = alloc_pages(buf.addr(), buf.size());
  }
  // Called from the process's own task: a different mm.
  const uint64_t pinned = host_pinned();
  char small[40];
  // Crossing into page 4: the pfn_reader pins pages 3 and 4 the way a
  // domain fill would (FOLL_WRITE, since the pages are writable).
  ASSERT_EQ(iopt_pages_rw_access(pages, 3 * PAGE_SIZE + 4090, small, 40, 0), 0);
  EXPECT_EQ(memcmp(small, buf.ptr(3 * PAGE_SIZE + 4090), 40), 0);
  EXPECT_EQ(r.mm->fault_bytes, 2 * PAGE_SIZE);
  EXPECT_TRUE(r.mm->last_fault_write);
  // Within one page: that page alone, pinned for reading only.
  r.mm->fault_bytes = 0;
  ASSERT_EQ(iopt_pages_rw_access(pages, 5 * PAGE_SIZE + 8, small, 40, 0), 0);
  EXPECT_EQ(memcmp(small, buf.ptr(5 * PAGE_SIZE + 8), 40), 0);
  EXPECT_EQ(r.mm->fault_bytes, PAGE_SIZE);
  EXPECT_FALSE(r.mm->last_fault_write);
  memset(small, 0x33, sizeof(small));
  ASSERT_EQ(iopt_pages_rw_access(pages, 5 * PAGE_SIZE + 8, small, 40, IOMMUFD_ACCESS_RW_WRITE), 0);
  EXPECT_EQ(buf.ptr(5 * PAGE_SIZE + 8)[39], 0x33);
  EXPECT_EQ(host_pinned(), pinned);
  EXPECT_EQ(pages->npinned, 0u);
  iopt_put_pages(pages);
}

TEST_F(PagesRw, GoneMmAndUnmappedMemoryAreEfault) {
  Buf buf(8);
  RemoteSetup r;
  iopt_pages *pages;
  {
    current_scope scope(*r.task);
    pages = alloc_pages(buf.addr(), buf.size());
  }
  char data[2 * PAGE_SIZE];
  r.mm->is_alive = false;
  EXPECT_EQ(iopt_pages_rw_access(pages, 10, data, 2 * PAGE_SIZE, 0), -EFAULT);
  EXPECT_EQ(iopt_pages_rw_access(pages, 10, data, 10, 0), -EFAULT);
  EXPECT_EQ(iopt_pages_rw_access(pages, 10, data, 10, IOMMUFD_ACCESS_RW_KTHREAD), -EFAULT);
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, IOVA1, 0, buf.size());
  EXPECT_EQ(iopt_area_fill_domains(&a.area, pages), -EFAULT);
  EXPECT_TRUE(d.ptes.empty());
  r.mm->is_alive = true;

  buf.unmap_pages(6, 2);
  const uint64_t pinned = host_pinned();
  EXPECT_EQ(iopt_pages_rw_access(pages, 5 * PAGE_SIZE, data, 2 * PAGE_SIZE, 0), -EFAULT);
  EXPECT_EQ(iopt_pages_rw_access(pages, 7 * PAGE_SIZE, data, 1, 0), -EFAULT);
  EXPECT_EQ(host_pinned(), pinned);
  current_scope scope(*r.task);
  EXPECT_EQ(iopt_pages_rw_access(pages, 5 * PAGE_SIZE, data, 2 * PAGE_SIZE, 0), -EFAULT);
  EXPECT_EQ(iopt_pages_rw_access(pages, 0, data, 2 * PAGE_SIZE, 0), 0);
  EXPECT_EQ(pages->npinned, 0u);
  iopt_put_pages(pages);
}

// ---------------------------------------------------------------------------
// Accounting

class PagesAccounting : public PagesTest {
 protected:
  std::shared_ptr<local_mm> mm = std::make_shared<local_mm>();
  std::shared_ptr<user_struct> user = std::make_shared<user_struct>();
  std::shared_ptr<TestTask> task = std::make_shared<TestTask>(mm, user, false, 0);
};

TEST_F(PagesAccounting, UserModeChargesRlimitAndRefundsOnUnpin) {
  Buf buf(NPAGES, 4 * SZ_16K);
  current_scope scope(*task);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  ASSERT_EQ(pages->account_mode, IOPT_PAGES_ACCOUNT_USER);
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, IOVA1, 0, buf.size());
  const uint64_t pinned = host_pinned();

  task->memlock = (NPAGES - 1) * PAGE_SIZE;
  EXPECT_EQ(iopt_area_fill_domains(&a.area, pages), -ENOMEM);
  EXPECT_TRUE(d.ptes.empty());
  EXPECT_EQ(user->locked_vm.load(), 0u);
  EXPECT_EQ(mm->pinned_vm.load(), 0);
  EXPECT_EQ(mm->locked_vm, 0u);
  EXPECT_EQ(pages->npinned, 0u);
  EXPECT_EQ(host_pinned(), pinned) << "no pin may leak";

  task->memlock = NPAGES * PAGE_SIZE;
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  EXPECT_EQ(user->locked_vm.load(), NPAGES);
  EXPECT_EQ(mm->pinned_vm.load(), static_cast<int64_t>(NPAGES));
  EXPECT_EQ(mm->locked_vm, 0u);

  // Accesses inside the domain's range cost nothing more.
  std::vector<pfn_t> out(NPAGES);
  ASSERT_EQ(iopt_area_add_access(&a.area, 0, 9, out.data(), 0), 0);
  EXPECT_EQ(user->locked_vm.load(), NPAGES);
  // Unfill keeps the 10 accessed pages charged.
  iopt_area_unfill_domains(&a.area, pages);
  EXPECT_EQ(user->locked_vm.load(), 10u);
  EXPECT_EQ(mm->pinned_vm.load(), 10);
  // A new access over the limit fails and leaves the charge alone.
  task->memlock = 12 * PAGE_SIZE;
  EXPECT_EQ(iopt_area_add_access(&a.area, 5, 14, out.data(), 0), -ENOMEM);
  EXPECT_EQ(user->locked_vm.load(), 10u);
  EXPECT_EQ(pages->pinned_pfns.count(), 10u);
  EXPECT_EQ(pages->npinned, 10u);
  ASSERT_EQ(iopt_area_add_access(&a.area, 5, 11, out.data(), 0), 0);
  EXPECT_EQ(user->locked_vm.load(), 12u);
  iopt_area_remove_access(&a.area, 0, 9);
  EXPECT_EQ(user->locked_vm.load(), 7u);
  iopt_area_remove_access(&a.area, 5, 11);
  EXPECT_EQ(user->locked_vm.load(), 0u);
  EXPECT_EQ(mm->pinned_vm.load(), 0);
  EXPECT_EQ(host_pinned(), pinned);
  d.expect_clean();
  iopt_put_pages(pages);
}

TEST_F(PagesAccounting, UserModeLimitIsSharedByAllPagesOfTheUser) {
  Buf buf(32);
  current_scope scope(*task);
  task->memlock = 40 * PAGE_SIZE;
  iopt_pages *p1 = alloc_pages(buf.addr(), 16 * PAGE_SIZE);
  iopt_pages *p2 = alloc_pages(buf.addr() + 16 * PAGE_SIZE, 16 * PAGE_SIZE);
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE);
  iopt.domains = {&d};
  TestArea a1(&iopt, p1, IOVA1, 0, 16 * PAGE_SIZE);
  TestArea a2(&iopt, p2, IOVA2, 0, 16 * PAGE_SIZE);
  ASSERT_EQ(iopt_area_fill_domains(&a1.area, p1), 0);
  ASSERT_EQ(iopt_area_fill_domains(&a2.area, p2), 0);
  EXPECT_EQ(user->locked_vm.load(), 32u);
  // The same user memory through a third iopt_pages is charged again (as in
  // Linux: accounting is per iopt_pages, the single pin is per iopt_pages).
  iopt_pages *p3 = alloc_pages(buf.addr(), 16 * PAGE_SIZE);
  TestArea a3(&iopt, p3, 0x80000000, 0, 16 * PAGE_SIZE);
  EXPECT_EQ(iopt_area_fill_domains(&a3.area, p3), -ENOMEM);
  EXPECT_EQ(user->locked_vm.load(), 32u);
  iopt_area_unfill_domains(&a1.area, p1);
  iopt_area_unfill_domains(&a2.area, p2);
  EXPECT_EQ(user->locked_vm.load(), 0u);
  d.expect_clean();
  iopt_put_pages(p1);
  iopt_put_pages(p2);
  iopt_put_pages(p3);
}

TEST_F(PagesAccounting, MmModeChargesTheMm) {
  Buf buf(16);
  current_scope scope(*task);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  pages->account_mode = IOPT_PAGES_ACCOUNT_MM;  // as IOAS_OPTION RLIMIT_MODE=1
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, IOVA1, 0, buf.size());
  mm->locked_vm = 5;  // someone else's mlock()
  task->memlock = 20 * PAGE_SIZE;
  const uint64_t pinned = host_pinned();
  EXPECT_EQ(iopt_area_fill_domains(&a.area, pages), -ENOMEM);
  EXPECT_EQ(mm->locked_vm, 5u);
  EXPECT_EQ(mm->pinned_vm.load(), 0);
  EXPECT_EQ(host_pinned(), pinned);
  task->memlock = 21 * PAGE_SIZE;
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  EXPECT_EQ(mm->locked_vm, 21u);
  EXPECT_EQ(mm->pinned_vm.load(), 16);
  EXPECT_EQ(user->locked_vm.load(), 0u);
  iopt_area_unfill_domains(&a.area, pages);
  EXPECT_EQ(mm->locked_vm, 5u);
  EXPECT_EQ(mm->pinned_vm.load(), 0);
  mm->locked_vm = 0;
  iopt_put_pages(pages);
}

TEST_F(PagesAccounting, CapIpcLockChargesNothingButPinnedVm) {
  Buf buf(16);
  task->ipc_lock = true;
  current_scope scope(*task);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  ASSERT_EQ(pages->account_mode, IOPT_PAGES_ACCOUNT_NONE);
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, IOVA1, 0, buf.size());
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);  // memlock is 0
  EXPECT_EQ(user->locked_vm.load(), 0u);
  EXPECT_EQ(mm->pinned_vm.load(), 16);
  iopt_area_unfill_domains(&a.area, pages);
  EXPECT_EQ(mm->pinned_vm.load(), 0);
  iopt_put_pages(pages);
}

// The real thing: drop CAP_IPC_LOCK and lower RLIMIT_MEMLOCK in a child
// process (both are per process), and use the real task_struct.
int real_cap_child() {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &hdr, caps)) return 1;
  caps[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
  caps[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
  if (syscall(SYS_capset, &hdr, caps)) return 2;
  struct rlimit rl = {8 * PAGE_SIZE, 8 * PAGE_SIZE};
  if (setrlimit(RLIMIT_MEMLOCK, &rl)) return 3;

  auto task = std::make_shared<task_struct>(std::make_shared<local_mm>(),
                                            std::make_shared<user_struct>());
  if (task->capable(task_struct::cap::ipc_lock)) return 4;
  current_scope scope(*task);
  Buf buf(16);
  auto r = iopt_alloc_pages(buf.addr(), buf.size(), true);
  if (r.is_err()) return 5;
  iopt_pages *pages = r.get();
  if (pages->account_mode != IOPT_PAGES_ACCOUNT_USER) return 6;
  const uint64_t base = host_pinned();
  const unsigned long warns = warn_count();
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE);
  iopt.domains = {&d};
  TestArea big(&iopt, pages, IOVA1, 0, 16 * PAGE_SIZE);
  if (iopt_area_fill_domains(&big.area, pages) != -ENOMEM) return 7;
  if (host_pinned() != base || pages->npinned || task->user->locked_vm || !d.ptes.empty()) return 8;
  TestArea fits(&iopt, pages, IOVA2, 0, 8 * PAGE_SIZE);
  if (iopt_area_fill_domains(&fits.area, pages) != 0) return 9;
  if (task->user->locked_vm != 8 || host_pinned() != base + 8) return 10;
  iopt_area_unfill_domains(&fits.area, pages);
  if (task->user->locked_vm != 0 || host_pinned() != base) return 11;
  iopt_put_pages(pages);
  return warn_count() != warns ? 12 : 0;
}

TEST_F(PagesAccounting, RealCapIpcLockDropAndRlimitInChild) {
  if (!process_task().capable(task_struct::cap::ipc_lock))
    GTEST_SKIP() << "needs CAP_IPC_LOCK to drop";
  fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(real_cap_child());
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "step that failed in the child";
}

// ---------------------------------------------------------------------------
// Bookkeeping: the design target is ~0 bytes per mapped page when only
// domains hold the PFNs.

using PagesBookkeeping = PagesTest;

TEST_F(PagesBookkeeping, DomainHeldPagesCostNothingPerPage) {
  Buf buf(512);
  iopt_pages *pages = alloc_pages(buf.addr(), buf.size());
  const size_t base = iopt_pages_bookkeeping_bytes(pages);
  EXPECT_EQ(base, sizeof(iopt_pages));
  io_pagetable iopt;
  TestDomain d(PAGE_SIZE | SZ_2M);
  iopt.domains = {&d};
  TestArea a(&iopt, pages, IOVA1, 0, buf.size());
  ASSERT_EQ(iopt_area_fill_domains(&a.area, pages), 0);
  EXPECT_EQ(iopt_pages_bookkeeping_bytes(pages), base);

  std::vector<pfn_t> out(512);
  ASSERT_EQ(iopt_area_add_access(&a.area, 0, 511, out.data(), 0), 0);
  const size_t with_access = iopt_pages_bookkeeping_bytes(pages);
  EXPECT_GE(with_access, base + 512 * sizeof(pfn_t) + sizeof(iopt_pages_access));
  EXPECT_EQ(with_access, base + pages->pinned_pfns.memory_bytes() + sizeof(iopt_pages_access));
  iopt_area_remove_access(&a.area, 0, 511);
  EXPECT_EQ(iopt_pages_bookkeeping_bytes(pages), base);
  iopt_area_unfill_domains(&a.area, pages);
  iopt_put_pages(pages);
}

}  // namespace
}  // namespace iommusim::iommufd
