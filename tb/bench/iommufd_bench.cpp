// SPDX-License-Identifier: MIT
// iommufd core benchmarks (results in docs/performance.md):
//  - MAP and UNMAP of 1 GiB of 4 KiB pages with 0, 1 and 2 mock domains, as
//    one ioctl and as 262144 one-page ioctls;
//  - COPY of that 1 GiB into a second IOAS;
//  - 8 threads mapping and unmapping disjoint ranges of one IOAS;
//  - the PFN-storage core's host memory per mapped page with one domain
//    (beyond the domain's own table) and the pin count before/after COPY.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "core/io_pagetable.h"
#include "core/iommufd_private.h"
#include "core/mm.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_sim.h"
#include "iommusim/iommufd_test.h"

namespace {

constexpr uint64_t kGiB = 1ULL << 30;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = MOCK_APERTURE_START;  // 16 MiB; the aperture ends at 2 GiB
constexpr uint32_t kRW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

int ioctl_ok(int fd, unsigned long req, void *arg) {
  if (iommusim_ioctl(fd, req, arg)) {
    fprintf(stderr, "ioctl %#lx failed: %s\n", req, strerror(errno));
    abort();
  }
  return 0;
}

uint32_t ioas_alloc(int fd) {
  iommu_ioas_alloc c = {sizeof(c), 0, 0};
  ioctl_ok(fd, IOMMU_IOAS_ALLOC, &c);
  return c.out_ioas_id;
}

uint32_t mock_domain(int fd, uint32_t ioas) {
  iommu_test_cmd c = {};
  c.size = sizeof(c);
  c.op = IOMMU_TEST_OP_MOCK_DOMAIN;
  c.id = ioas;
  ioctl_ok(fd, IOMMU_TEST_CMD, &c);
  return c.mock_domain.out_hwpt_id;
}

void map_fixed(int fd, uint32_t ioas, const void *p, uint64_t len, uint64_t iova) {
  iommu_ioas_map m = {};
  m.size = sizeof(m);
  m.flags = kRW | IOMMU_IOAS_MAP_FIXED_IOVA;
  m.ioas_id = ioas;
  m.user_va = reinterpret_cast<uint64_t>(p);
  m.length = len;
  m.iova = iova;
  ioctl_ok(fd, IOMMU_IOAS_MAP, &m);
}

void unmap(int fd, uint32_t ioas, uint64_t iova, uint64_t len) {
  iommu_ioas_unmap u = {};
  u.size = sizeof(u);
  u.ioas_id = ioas;
  u.iova = iova;
  u.length = len;
  ioctl_ok(fd, IOMMU_IOAS_UNMAP, &u);
}

// 1 GiB of ordinary 4 KiB pages, faulted in once so every run measures
// iommufd, not the first touch of the memory.
uint8_t *gib_buffer() {
  static uint8_t *buf = [] {
    auto *p = static_cast<uint8_t *>(
        mmap(nullptr, kGiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) abort();
    madvise(p, kGiB, MADV_NOHUGEPAGE);
    for (uint64_t i = 0; i < kGiB; i += kPage) p[i] = 1;
    return p;
  }();
  return buf;
}

struct Setup {
  explicit Setup(int domains) : fd(iommusim_open()), ioas(ioas_alloc(fd)) {
    for (int i = 0; i < domains; i++) mock_domain(fd, ioas);
  }
  ~Setup() { iommusim_close(fd); }
  int fd;
  uint32_t ioas;
};

void BM_Map1GiB(benchmark::State &state) {
  Setup s(static_cast<int>(state.range(0)));
  uint8_t *buf = gib_buffer();
  for (auto _ : state) {
    map_fixed(s.fd, s.ioas, buf, kGiB, kBase);
    state.PauseTiming();
    unmap(s.fd, s.ioas, kBase, kGiB);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * kGiB);
  state.counters["pages/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * (kGiB / kPage)),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Map1GiB)->Arg(0)->Arg(1)->Arg(2)->ArgName("domains")->Unit(benchmark::kMillisecond);

void BM_Unmap1GiB(benchmark::State &state) {
  Setup s(static_cast<int>(state.range(0)));
  uint8_t *buf = gib_buffer();
  for (auto _ : state) {
    state.PauseTiming();
    map_fixed(s.fd, s.ioas, buf, kGiB, kBase);
    state.ResumeTiming();
    unmap(s.fd, s.ioas, kBase, kGiB);
  }
  state.SetBytesProcessed(state.iterations() * kGiB);
}
BENCHMARK(BM_Unmap1GiB)->Arg(0)->Arg(1)->Arg(2)->ArgName("domains")->Unit(benchmark::kMillisecond);

// The same 1 GiB as 262144 MAP ioctls of one 4 KiB page, then 262144 UNMAPs.
void BM_MapUnmap1GiBPerPage(benchmark::State &state) {
  Setup s(static_cast<int>(state.range(0)));
  uint8_t *buf = gib_buffer();
  for (auto _ : state) {
    for (uint64_t off = 0; off < kGiB; off += kPage) map_fixed(s.fd, s.ioas, buf + off, kPage, kBase + off);
    for (uint64_t off = 0; off < kGiB; off += kPage) unmap(s.fd, s.ioas, kBase + off, kPage);
  }
  state.counters["ioctls/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * 2 * (kGiB / kPage)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MapUnmap1GiBPerPage)->Arg(0)->Arg(1)->Arg(2)->ArgName("domains")
    ->Unit(benchmark::kMillisecond)->Iterations(1);

// COPY 1 GiB from an IOAS with one domain into a second IOAS with one domain:
// the pages are already pinned, so COPY only fills the new domain.
void BM_Copy1GiB(benchmark::State &state) {
  Setup s(1);
  uint32_t dst = ioas_alloc(s.fd);
  mock_domain(s.fd, dst);
  uint8_t *buf = gib_buffer();
  map_fixed(s.fd, s.ioas, buf, kGiB, kBase);
  auto &hm = iommusim::iommufd::host_memory::get();
  uint64_t pins_before = hm.get_stats().pinned_pages;
  uint64_t pins_after = 0;
  for (auto _ : state) {
    iommu_ioas_copy c = {};
    c.size = sizeof(c);
    c.flags = kRW | IOMMU_IOAS_MAP_FIXED_IOVA;
    c.dst_ioas_id = dst;
    c.src_ioas_id = s.ioas;
    c.length = kGiB;
    c.dst_iova = kBase;
    c.src_iova = kBase;
    ioctl_ok(s.fd, IOMMU_IOAS_COPY, &c);
    state.PauseTiming();
    pins_after = hm.get_stats().pinned_pages;
    unmap(s.fd, dst, kBase, kGiB);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * kGiB);
  // Single pin: COPY must not pin a page again.
  state.counters["pins_before_copy"] = static_cast<double>(pins_before);
  state.counters["pins_after_copy"] = static_cast<double>(pins_after);
}
BENCHMARK(BM_Copy1GiB)->Unit(benchmark::kMillisecond);

// 8 threads, each mapping and unmapping its own 1 MiB of one IOAS (1 domain).
void BM_Threads8MapUnmap(benchmark::State &state) {
  Setup s(1);
  uint8_t *buf = gib_buffer();
  const int threads = 8, per_thread = 2000;
  for (auto _ : state) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++)
      ts.emplace_back([&, t] {
        const uint64_t iova = kBase + t * (64ULL << 20);
        uint8_t *p = buf + t * (64ULL << 20);
        for (int i = 0; i < per_thread; i++) {
          map_fixed(s.fd, s.ioas, p, 1 << 20, iova);
          unmap(s.fd, s.ioas, iova, 1 << 20);
        }
      });
    for (auto &t : ts) t.join();
  }
  state.counters["map+unmap/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * threads * per_thread), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Threads8MapUnmap)->Unit(benchmark::kMillisecond)->UseRealTime();

// Host memory the PFN-storage core holds per mapped page, with one domain,
// beyond the domain's own table: iopt_pages bookkeeping, the area, and the
// host frame map's runs and chunks.
void BM_MemoryPerMappedPage(benchmark::State &state) {
  using namespace iommusim::iommufd;
  uint8_t *buf = gib_buffer();
  double per_page = 0, frames_per_page = 0;
  for (auto _ : state) {
    Setup s(1);
    auto hm_before = host_memory::get().get_stats();
    map_fixed(s.fd, s.ioas, buf, kGiB, kBase);
    auto hm_after = host_memory::get().get_stats();
    file *f = fd_table::get().fget(s.fd);
    auto *ictx = static_cast<iommufd_ctx *>(f);
    auto ioas = iommufd_get_ioas(ictx, s.ioas);
    size_t bytes = 0;
    {
      std::shared_lock g(ioas->iopt.iova_rwsem);
      for (iopt_area *a = iopt_area_iter_first(&ioas->iopt, 0, UINT64_MAX); a;
           a = iopt_area_iter_next(a, 0, UINT64_MAX))
        bytes += sizeof(*a) + iopt_pages_bookkeeping_bytes(a->pages);
    }
    iommufd_put_object(ictx, ioas.get());
    f->put();
    per_page = static_cast<double>(bytes) / (kGiB / kPage);
    frames_per_page = static_cast<double>(hm_after.bookkeeping_bytes - hm_before.bookkeeping_bytes) /
                      (kGiB / kPage);
    unmap(s.fd, s.ioas, kBase, kGiB);
  }
  state.counters["pfn_storage_bytes_per_page"] = per_page;
  state.counters["frame_map_bytes_per_page"] = frames_per_page;
}
BENCHMARK(BM_MemoryPerMappedPage)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
