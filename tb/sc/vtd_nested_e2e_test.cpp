// SPDX-License-Identifier: MIT
// Nested translation end to end on the VT-d platform in scalable mode, both
// timing modes (sim/configs/vtd_default.yaml): the program builds an x86-64
// 4-level first-stage table in its own memory, IOAS-mapped at guest-physical
// addresses (the IOVAs of a NEST_PARENT HWPT's second stage), and hands its
// root to a nested HWPT (IOMMU_HWPT_DATA_VTD_S1). The DMA test device's bytes
// land where first stage over second stage point; a leaf re-pointed without
// invalidation keeps serving the old page from the IOTLB, and the model's
// stale-translation diagnostic flags it; IOMMU_HWPT_INVALIDATE
// (IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) makes the new page take effect. Also
// the errnos of HWPT_INVALIDATE as Linux 6.12 returns them
// (iommufd_hwpt_invalidate, intel_nested_cache_invalidate_user).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "iommufd_api/drivers/vtd/vtd_driver.h"
#include "models/common/x86_paging.h"
#include "models/vtd/regs.h"
#include "models/vtd/vtd.h"
#include "platform_test_util.h"

using namespace iommusim;
using namespace iommusim::sim;
using namespace iommusim::platform_test;
namespace x86 = iommusim::models::x86;

namespace {

// Guest-physical layout (IOVAs of the IOAS): the first-stage table pages
// (PML4, PDPT, PD, PT) and the data pages (old target, new target, source).
constexpr uint64_t kTablesGpa = 0x4000'0000, kDataGpa = 0x5000'0000;
constexpr uint64_t kOldGpa = kDataGpa, kNewGpa = kDataGpa + 0x1000, kSrcGpa = kDataGpa + 0x2000;
// Guest IOVA with a different index at every level (PML4 3, PDPT 5, PD 7,
// PT 9), so an entry read at the wrong index shows.
constexpr uint64_t kGiova = (3ull << 39) | (5ull << 30) | (7ull << 21) | (9ull << 12);
constexpr uint64_t kTable = x86::fs_p | x86::fs_rw | x86::fs_us;  // user, writeable
constexpr uint64_t kA = x86::fs_a, kD = x86::fs_d;

// Entry i of table page n of the program's table buffer.
uint64_t &pte(uint8_t *tables, unsigned page, unsigned i) {
  return reinterpret_cast<uint64_t *>(tables + page * 4096)[i];
}

// The VT-d platform in scalable mode, an IOAS with a nest parent HWPT, the
// program's first-stage tables and data pages mapped at their GPAs, and dma0
// attached to a nested HWPT over them.
struct nested_e2e {
  explicit nested_e2e(models::timing_mode mode)
      : p(platform::load_string(config_text(mode, "vtd_default.yaml"))), fd(iommusim_open()),
        ioas(ioas_alloc(fd)), dev(p, "dma0", fd), bus(p.bus()), drv(*p.iommus().at(0).vtd_driver),
        model(*p.iommus().at(0).vtd_model), tables(4 * 4096), data(3 * 4096) {}
  ~nested_e2e() { EXPECT_EQ(iommusim_close(fd), 0); }

  // Builds the tables (PT[9] -> old page, PT[10] -> source page), maps them,
  // allocates the two HWPTs and attaches; false (with failures) if any fails.
  bool set_up() {
    std::memset(tables.p, 0, tables.len);
    pte(tables.p, 0, 3) = (kTablesGpa + 0x1000) | kTable;
    pte(tables.p, 1, 5) = (kTablesGpa + 0x2000) | kTable;
    pte(tables.p, 2, 7) = (kTablesGpa + 0x3000) | kTable;
    pte(tables.p, 3, 9) = kOldGpa | kTable;
    pte(tables.p, 3, 10) = kSrcGpa | kTable;
    std::memset(data.p, 0xee, 0x1000);           // old page
    std::memset(data.p + 0x1000, 0xdd, 0x1000);  // new page
    for (size_t i = 0; i < 0x1000; i++) data.p[0x2000 + i] = static_cast<uint8_t>(i * 7 + 3);
    if (!dev.ok()) return false;
    if (ioas_map(fd, ioas, tables.p, tables.len, kTablesGpa) || ioas_map(fd, ioas, data.p, data.len, kDataGpa))
      return false;
    parent = hwpt_alloc(fd, dev.dev_id, ioas, IOMMU_HWPT_ALLOC_NEST_PARENT);
    iommu_hwpt_vtd_s1 s1{};
    s1.pgtbl_addr = kTablesGpa;
    s1.addr_width = 48;
    iommu_hwpt_alloc a{};
    a.size = sizeof(a);
    a.dev_id = dev.dev_id;
    a.pt_id = parent;
    a.data_type = IOMMU_HWPT_DATA_VTD_S1;
    a.data_len = sizeof(s1);
    a.data_uptr = reinterpret_cast<uint64_t>(&s1);
    if (iommusim_ioctl(fd, IOMMU_HWPT_ALLOC, &a)) {
      ADD_FAILURE() << "nested HWPT_ALLOC: " << strerror(errno);
      return false;
    }
    nested = a.out_hwpt_id;
    uint32_t pt = nested;
    if (dev.attach(&pt) != 0 || pt != nested) {
      ADD_FAILURE() << "attach to the nested HWPT";
      return false;
    }
    return true;
  }

  // IOMMU_HWPT_INVALIDATE of n VTD_S1 entries on hwpt; 0 or errno, and the
  // entry_num that came back in *done.
  int invalidate(uint32_t hwpt, const iommu_hwpt_vtd_s1_invalidate *e, uint32_t n, uint32_t *done,
                 uint32_t entry_len = sizeof(iommu_hwpt_vtd_s1_invalidate),
                 uint32_t data_type = IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) {
    iommu_hwpt_invalidate c{};
    c.size = sizeof(c);
    c.hwpt_id = hwpt;
    c.data_uptr = reinterpret_cast<uint64_t>(e);
    c.data_type = data_type;
    c.entry_len = entry_len;
    c.entry_num = n;
    const int rc = iommusim_ioctl(fd, IOMMU_HWPT_INVALIDATE, &c) ? errno : 0;
    *done = c.entry_num;
    return rc;
  }

  // The 256-bit descriptor `back` places before the invalidation queue's
  // tail (1: the last one written): its first two quadwords.
  std::pair<uint64_t, uint64_t> queued(unsigned back) {
    p.run_until_idle();
    const uint64_t iqa = model.peek_reg(models::vtd::reg::IQA, 8), iqt = model.peek_reg(models::vtd::reg::IQT, 8);
    const uint64_t qbytes = uint64_t{4096} << (iqa & 7);
    const uint64_t at = (iqa & ~0xfffull) + (iqt + qbytes - 32 * back) % qbytes;
    return {bus.mem_read64(at), bus.mem_read64(at + 8)};
  }

  uint64_t model_counter(const char *unit, const char *name) {
    p.run_until_idle();
    const models::stats_group *g = model.stats(unit);
    return g ? g->get(name) : ~0ull;
  }

  platform &p;
  const int fd;
  const uint32_t ioas;
  bound_device dev;
  iommufd::host_bus &bus;
  iommufd::vtd::vtd_driver &drv;
  models::vtd::vtd &model;
  buffer tables, data;
  uint32_t parent = 0, nested = 0;
};

class VtdNestedE2E : public ::testing::TestWithParam<models::timing_mode> {};

std::string mode_name(const ::testing::TestParamInfo<models::timing_mode> &i) {
  return i.param == models::timing_mode::cycle ? "cycle" : "fast";
}

}  // namespace

// VT-d §3.8 (nested translation), §6.5.2.4 (PASID-based IOTLB invalidation).
TEST_P(VtdNestedE2E, FirstStageTableOfTheProgramTranslatesAndHwptInvalidateTakesItsChange) {
  nested_e2e t(GetParam());
  ASSERT_TRUE(t.set_up());
  ASSERT_TRUE(t.drv.scalable_mode());
  const uint64_t bar = t.dev.bar();
  uint8_t *const old_page = t.data.p, *const new_page = t.data.p + 0x1000, *const src = t.data.p + 0x2000;
  std::vector<uint8_t> src_copy(src, src + 0x1000);
  const uint64_t walks0 = t.model_counter("", "nested_walks");

  // 1. Copy 256 bytes from the source page (PT[10]) into the old page (PT[9]).
  uint64_t st = run_dma(t.bus, bar, kGiova + 0x1000 + 0x40, kGiova + 0x100, 256, 0);
  ASSERT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  EXPECT_EQ(t.bus.readq(bar + dma_test::BYTES_DONE), 256u);
  t.p.run_until_idle();
  for (size_t i = 0; i < 0x1000; i++)
    ASSERT_EQ(old_page[i], (i >= 0x100 && i < 0x200) ? src_copy[i - 0x100 + 0x40] : 0xee) << i;
  for (size_t i = 0; i < 0x1000; i++) ASSERT_EQ(new_page[i], 0xdd) << i;
  EXPECT_EQ(std::memcmp(src, src_copy.data(), 0x1000), 0);
  // The walk set A in every entry used and D in the written leaf (§3.6.2),
  // and changed nothing else of the tables.
  EXPECT_EQ(pte(t.tables.p, 0, 3), (kTablesGpa + 0x1000) | kTable | kA);
  EXPECT_EQ(pte(t.tables.p, 1, 5), (kTablesGpa + 0x2000) | kTable | kA);
  EXPECT_EQ(pte(t.tables.p, 2, 7), (kTablesGpa + 0x3000) | kTable | kA);
  EXPECT_EQ(pte(t.tables.p, 3, 9), kOldGpa | kTable | kA | kD);
  EXPECT_EQ(pte(t.tables.p, 3, 10), kSrcGpa | kTable | kA);
  size_t nonzero = 0;
  for (unsigned pg = 0; pg < 4; pg++)
    for (unsigned i = 0; i < 512; i++) nonzero += pte(t.tables.p, pg, i) != 0;
  EXPECT_EQ(nonzero, 5u);
  EXPECT_EQ(t.model_counter("", "nested_walks") - walks0, 2u);  // one per page
  EXPECT_TRUE(t.model.diagnostics().empty());

  // 2. Re-point the leaf to the new page without an invalidation: the IOTLB
  // still holds the old translation, the fill lands in the old page, and
  // every request it serves is a stale-translation report.
  const uint64_t old_leaf = pte(t.tables.p, 3, 9);
  pte(t.tables.p, 3, 9) = kNewGpa | kTable;
  const uint64_t stale0 = t.model_counter("diagnostics", "stale_tlb");
  st = run_dma(t.bus, bar, 0, kGiova + 0x400, 128, dma_test::CTRL_FILL, 0x1122'3344'5566'7788ULL);
  ASSERT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  t.p.run_until_idle();
  const uint8_t fill1[8] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
  for (size_t i = 0x400; i < 0x480; i++) ASSERT_EQ(old_page[i], fill1[i % 8]) << i;
  for (size_t i = 0; i < 0x1000; i++) ASSERT_EQ(new_page[i], 0xdd) << i;
  EXPECT_EQ(t.model_counter("", "nested_walks") - walks0, 2u);
  EXPECT_EQ(t.model_counter("diagnostics", "stale_tlb") - stale0, 2u);  // two 64-byte requests
  const std::vector<models::vtd::diag_report> &diag = t.model.diagnostics();
  ASSERT_EQ(diag.size(), 2u);
  for (size_t i = 0; i < diag.size(); i++) {
    EXPECT_EQ(diag[i].source_id, 0x0010);
    EXPECT_FALSE(diag[i].pasid_valid);
    EXPECT_EQ(diag[i].iova, kGiova + 0x400 + 64 * i);
    EXPECT_EQ(diag[i].pa & 0xfff, 9u * 8);  // PT[9], in the program's table page
    EXPECT_EQ(diag[i].old_desc, old_leaf);
    EXPECT_EQ(diag[i].new_desc, kNewGpa | kTable);
  }

  // 3. HWPT_INVALIDATE of that one page, leaf only: one PASID-based IOTLB
  // invalidation and its wait (the driver's descriptors), which remove
  // exactly the one IOTLB entry; the next fill walks and lands in the new
  // page, with no report.
  const iommufd::vtd::driver_stats d0 = t.drv.stats();
  const uint64_t piotlb0 = t.model_counter("qi", "piotlb_inv"), gone0 = t.model_counter("", "iotlb_invalidated");
  iommu_hwpt_vtd_s1_invalidate inv{};
  inv.addr = kGiova;
  inv.npages = 1;
  inv.flags = IOMMU_VTD_INV_FLAGS_LEAF;
  uint32_t done = 99;
  ASSERT_EQ(t.invalidate(t.nested, &inv, 1, &done), 0);
  EXPECT_EQ(done, 1u);
  const iommufd::vtd::driver_stats d1 = t.drv.stats();
  EXPECT_EQ(d1.piotlb_inv - d0.piotlb_inv, 1u);
  EXPECT_EQ(d1.iotlb_inv - d0.iotlb_inv, 0u);
  EXPECT_EQ(d1.devtlb_inv - d0.devtlb_inv, 0u);
  EXPECT_EQ(d1.waits - d0.waits, 1u);
  EXPECT_EQ(d1.descriptors - d0.descriptors, 2u);
  EXPECT_EQ(t.model_counter("qi", "piotlb_inv") - piotlb0, 1u);
  EXPECT_EQ(t.model_counter("", "iotlb_invalidated") - gone0, 1u);
  // The descriptors (VT-d §6.5.2.4, §6.5.2.8): P_IOTLB (type 6),
  // page-selective-within-PASID (granularity 3), PASID 0 (RID_PASID), the
  // nested domain's DID; the page, IH = 1 (the leaf hint), AM = 0. Then the
  // wait (type 5) with a status write (SW).
  const auto [p0, p1] = t.queued(2);
  const uint64_t did = (p0 >> 16) & 0xffff;
  EXPECT_EQ(p0 & ~(0xffffull << 16), (3ull << 4) | 6);
  EXPECT_NE(did, 0u);
  EXPECT_EQ(p1, kGiova | (1ull << 6));
  EXPECT_EQ(t.queued(1).first & 0x2f, 0x25u);

  st = run_dma(t.bus, bar, 0, kGiova + 0x400, 128, dma_test::CTRL_FILL, 0x0102'0304'0506'0708ULL);
  ASSERT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  t.p.run_until_idle();
  const uint8_t fill2[8] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
  for (size_t i = 0; i < 0x1000; i++) ASSERT_EQ(new_page[i], (i >= 0x400 && i < 0x480) ? fill2[i % 8] : 0xdd) << i;
  for (size_t i = 0; i < 0x1000; i++) {
    const uint8_t want = (i >= 0x100 && i < 0x200) ? src_copy[i - 0x100 + 0x40]
                         : (i >= 0x400 && i < 0x480) ? fill1[i % 8]
                                                     : 0xee;
    ASSERT_EQ(old_page[i], want) << i;
  }
  EXPECT_EQ(pte(t.tables.p, 3, 9), kNewGpa | kTable | kA | kD);
  EXPECT_EQ(t.model_counter("", "nested_walks") - walks0, 3u);
  EXPECT_EQ(t.model_counter("diagnostics", "stale_tlb") - stale0, 2u);

  // 4. The source page's entry survived the page-selective invalidation: a
  // copy from it hits the IOTLB (no walk). An invalidation of both pages
  // (npages 2: one descriptor, address mask 1) removes both entries, and the
  // next copy walks both.
  st = run_dma(t.bus, bar, kGiova + 0x1000, kGiova + 0x800, 64, 0);
  ASSERT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  EXPECT_EQ(t.model_counter("", "nested_walks") - walks0, 3u);
  inv = {};
  inv.addr = kGiova;
  inv.npages = 2;
  ASSERT_EQ(t.invalidate(t.nested, &inv, 1, &done), 0);
  EXPECT_EQ(done, 1u);
  EXPECT_EQ(t.model_counter("qi", "piotlb_inv") - piotlb0, 2u);
  EXPECT_EQ(t.model_counter("", "iotlb_invalidated") - gone0, 3u);
  // Pages 9 and 10 straddle a 2-page boundary, so (as Linux's
  // calculate_psi_aligned_address) the mask grows to 4 pages: AM = 2 at the
  // 16 KiB-aligned address; no leaf hint.
  EXPECT_EQ(t.queued(2).first, (did << 16) | (3ull << 4) | 6);
  EXPECT_EQ(t.queued(2).second, (kGiova & ~0x3fffull) | 2);
  st = run_dma(t.bus, bar, kGiova + 0x1000 + 0x80, kGiova + 0x900, 64, 0);
  ASSERT_EQ(st & dma_test::ST_ERROR, 0u) << std::hex << st;
  EXPECT_EQ(t.model_counter("", "nested_walks") - walks0, 5u);
  EXPECT_EQ(std::memcmp(new_page + 0x800, src, 64), 0);
  EXPECT_EQ(std::memcmp(new_page + 0x900, src + 0x80, 64), 0);
  EXPECT_EQ(t.drv.stats().iqe, 0u);
  EXPECT_EQ(t.model.diagnostics().size(), 2u);
}

// "Everything" (addr 0, npages U64_MAX) must drop every IOTLB entry of the
// nested domain. Linux 6.12 sends one page-selective-within-PASID descriptor
// with address mask 52 here, which the unit takes as invalid (AM > CAP.MAMV:
// IQE, nothing invalidated); the driver takes the whole PASID instead once
// the mask exceeds MAMV (docs/vtd_driver.md).
TEST_P(VtdNestedE2E, InvalidateEverythingEmptiesTheNestedDomainsIotlb) {
  nested_e2e t(GetParam());
  ASSERT_TRUE(t.set_up());
  const uint64_t bar = t.dev.bar();
  ASSERT_EQ(run_dma(t.bus, bar, 0, kGiova, 64, dma_test::CTRL_FILL, 0x1111'1111'1111'1111ULL) &
                dma_test::ST_ERROR,
            0u);
  EXPECT_EQ(t.data.p[0], 0x11);
  pte(t.tables.p, 3, 9) = kNewGpa | kTable;
  iommu_hwpt_vtd_s1_invalidate inv{};
  inv.npages = ~0ull;
  uint32_t done = 0;
  ASSERT_EQ(t.invalidate(t.nested, &inv, 1, &done), 0);
  EXPECT_EQ(done, 1u);
  ASSERT_EQ(run_dma(t.bus, bar, 0, kGiova, 64, dma_test::CTRL_FILL, 0x2222'2222'2222'2222ULL) &
                dma_test::ST_ERROR,
            0u);
  t.p.run_until_idle();
  EXPECT_EQ(t.data.p[0x1000], 0x22);  // the new page
  EXPECT_EQ(t.data.p[0], 0x11);       // not the old one
  EXPECT_EQ(t.drv.stats().iqe, 0u);
  EXPECT_TRUE(t.model.diagnostics().empty());
}

// The errnos of IOMMU_HWPT_INVALIDATE (Linux 6.12 iommufd_hwpt_invalidate
// and intel_nested_cache_invalidate_user), through the C API; entry_num
// comes back as the number of entries handled, and a refused call sends no
// descriptor.
TEST_P(VtdNestedE2E, HwptInvalidateErrnosAndEntryNum) {
  nested_e2e t(GetParam());
  ASSERT_TRUE(t.set_up());
  const iommufd::vtd::driver_stats d0 = t.drv.stats();
  iommu_hwpt_vtd_s1_invalidate good{};
  good.addr = kGiova;
  good.npages = 1;
  uint32_t done = 0;

  // The command itself.
  {
    iommu_hwpt_invalidate c{};
    c.size = sizeof(c);
    c.hwpt_id = t.nested;
    c.data_uptr = reinterpret_cast<uint64_t>(&good);
    c.entry_len = sizeof(good);
    c.entry_num = 1;
    c.__reserved = 1;
    EXPECT_EQ(iommusim_ioctl(t.fd, IOMMU_HWPT_INVALIDATE, &c), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    EXPECT_EQ(c.entry_num, 0u);
  }
  EXPECT_EQ(t.invalidate(t.nested, nullptr, 1, &done), EINVAL);  // no data_uptr
  EXPECT_EQ(done, 0u);
  EXPECT_EQ(t.invalidate(t.nested, &good, 1, &done, 0), EINVAL);  // entry_len 0
  EXPECT_EQ(t.invalidate(t.nested, &good, 1, &done, 4097), EINVAL);  // beyond PAGE_SIZE
  EXPECT_EQ(t.invalidate(t.nested, &good, (1u << 19) + 1, &done), EINVAL);  // ENTRY_NUM_MAX
  EXPECT_EQ(done, 0u);
  // Not a nested HWPT, or no object at all.
  EXPECT_EQ(t.invalidate(t.parent, &good, 1, &done), ENOENT);
  EXPECT_EQ(t.invalidate(t.ioas, &good, 1, &done), ENOENT);
  EXPECT_EQ(t.invalidate(9999, &good, 1, &done), ENOENT);
  // The driver's: data type, entry length against the struct.
  EXPECT_EQ(t.invalidate(t.nested, &good, 1, &done, sizeof(good), 1), EINVAL);
  EXPECT_EQ(done, 0u);
  EXPECT_EQ(t.invalidate(t.nested, &good, 1, &done, sizeof(good) - 1), EINVAL);  // shorter than v1
  uint8_t longer[32] = {};
  std::memcpy(longer, &good, sizeof(good));
  EXPECT_EQ(t.invalidate(t.nested, reinterpret_cast<iommu_hwpt_vtd_s1_invalidate *>(longer), 1, &done,
                         sizeof(longer)),
            EINVAL);  // longer than the kernel's struct
  EXPECT_EQ(done, 0u);
  // An entry that cannot be read.
  {
    void *none = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(none, MAP_FAILED);
    EXPECT_EQ(t.invalidate(t.nested, static_cast<iommu_hwpt_vtd_s1_invalidate *>(none), 1, &done), EFAULT);
    EXPECT_EQ(done, 0u);
    munmap(none, 4096);
  }
  // Nothing handled, nothing sent.
  EXPECT_EQ(t.drv.stats().descriptors, d0.descriptors);

  // Entries are handled in order until the first bad one; entry_num says how many.
  struct {
    uint64_t addr, npages;
    uint32_t flags, reserved;
    int err;
  } const bad[] = {
      {kGiova, 1, 1u << 1, 0, EOPNOTSUPP},         // unknown flag
      {kGiova, 1, 0, 1, EOPNOTSUPP},               // __reserved
      {kGiova + 0x80, 1, 0, 0, EINVAL},            // not 4 KiB aligned
      {kGiova, ~0ull, 0, 0, EINVAL},               // "all" needs addr 0
  };
  uint64_t sent = 0;
  for (const auto &b : bad) {
    iommu_hwpt_vtd_s1_invalidate e[3] = {good, good, good};
    e[2].addr = b.addr;
    e[2].npages = b.npages;
    e[2].flags = b.flags;
    e[2].__reserved = b.reserved;
    EXPECT_EQ(t.invalidate(t.nested, e, 3, &done), b.err) << b.flags << " " << b.reserved << " " << b.addr;
    EXPECT_EQ(done, 2u);
    sent += 2;
    // The bad entry first: nothing handled.
    EXPECT_EQ(t.invalidate(t.nested, &e[2], 1, &done), b.err);
    EXPECT_EQ(done, 0u);
  }
  // Each good entry was one PASID-based IOTLB invalidation with its wait.
  iommufd::vtd::driver_stats d1 = t.drv.stats();
  EXPECT_EQ(d1.piotlb_inv - d0.piotlb_inv, sent);
  EXPECT_EQ(d1.descriptors - d0.descriptors, 2 * sent);
  EXPECT_EQ(t.model_counter("qi", "piotlb_inv"), d1.piotlb_inv);

  // No entries: nothing to do, success. Three good ones: entry_num 3.
  EXPECT_EQ(t.invalidate(t.nested, nullptr, 0, &done), 0);
  EXPECT_EQ(done, 0u);
  iommu_hwpt_vtd_s1_invalidate three[3] = {good, good, good};
  three[1].flags = IOMMU_VTD_INV_FLAGS_LEAF;
  three[2].addr = 0;  // everything (see the disabled test above for what the unit does)
  three[2].npages = ~0ull;
  EXPECT_EQ(t.invalidate(t.nested, three, 3, &done), 0);
  EXPECT_EQ(done, 3u);
  d1 = t.drv.stats();
  EXPECT_EQ(d1.piotlb_inv - d0.piotlb_inv, sent + 3);
  // The translation still works after all this.
  const uint64_t st = run_dma(t.bus, t.dev.bar(), 0, kGiova + 0x10, 8, dma_test::CTRL_FILL, 0x4242'4242'4242'4242ULL);
  EXPECT_EQ(st & dma_test::ST_ERROR, 0u);
  for (size_t i = 0; i < 0x20; i++) EXPECT_EQ(t.data.p[i], (i >= 0x10 && i < 0x18) ? 0x42 : 0xee) << i;
}

INSTANTIATE_TEST_SUITE_P(Mode, VtdNestedE2E,
                         ::testing::Values(models::timing_mode::cycle, models::timing_mode::fast), mode_name);
