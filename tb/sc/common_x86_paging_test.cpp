// SPDX-License-Identifier: MIT
// x86 first- and second-stage page-table formats (models/common/x86_paging.h)
// through the walk engine. Tables are built with index arithmetic and
// descriptor bits written out here (Intel SDM vol. 3 §4.5, VT-d §9.7/§9.8),
// independently of the code under test.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include <systemc>

#include "models/common/walk.h"
#include "models/common/x86_paging.h"

namespace {

using namespace iommusim::models;
namespace x = iommusim::models::x86;

// first stage
constexpr uint64_t P = 1, RW = 2, US = 4, A = 1ull << 5, D = 1ull << 6, PS = 1ull << 7,
                   G = 1ull << 8, XD = 1ull << 63;
// second stage
constexpr uint64_t R = 1, W = 2, X = 4, SPS = 1ull << 7, SA = 1ull << 8, SD = 1ull << 9;

class mem : public walk_memory {
 public:
  std::map<uint64_t, uint64_t> words;
  std::set<uint64_t> failing;
  unsigned reads = 0, cas = 0;
  std::function<void(uint64_t)> on_cas;  // another agent's write before the swap
  uint64_t get(uint64_t pa) const {
    auto it = words.find(pa);
    return it == words.end() ? 0 : it->second;
  }
  bool read64(uint64_t pa, uint64_t *v, timing_ctx &) override {
    reads++;
    if (failing.count(pa)) return false;
    *v = get(pa);
    return true;
  }
  bool cas64(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed,
             timing_ctx &) override {
    cas++;
    if (on_cas) on_cas(pa);
    if (failing.count(pa)) return false;
    *observed = get(pa);
    if (*observed == expected) words[pa] = desired;
    return true;
  }
};

// Index of ia at spec level n (1 = PTE .. 5 = PML5E).
uint64_t idx(uint64_t ia, int n) { return (ia >> (12 + 9 * (n - 1))) & 511; }

struct X86Paging : ::testing::Test {
  mem m;
  clock_domain clk{1000.0, timing_mode::fast};
  walk_timing wt;
  sc_core::sc_time delay;
  x::first_stage_format fs;
  x::second_stage_format ss;

  // Map ia -> pa with `levels` levels, leaf at spec level `leaf_n`, tables at
  // 0x10000 * n. upper: bits of every non-leaf entry; leaf: leaf bits.
  uint64_t map(uint64_t ia, uint64_t pa, unsigned levels, int leaf_n, uint64_t upper,
               uint64_t leaf) {
    const uint64_t root = 0x100000;
    uint64_t table = root;
    for (int n = static_cast<int>(levels); n >= leaf_n; n--) {
      const uint64_t slot = table + idx(ia, n) * 8;
      if (n == leaf_n) {
        m.words[slot] = pa | leaf;
      } else {
        const uint64_t next = 0x100000 + 0x1000 * static_cast<uint64_t>(levels - n + 1);
        m.words[slot] = next | upper;
        table = next;
      }
    }
    return root;
  }
  walk_result walk(const pt_format &f, uint64_t root, unsigned levels, uint64_t ia,
                   access_kind acc, uint64_t flags, unsigned oas = 52) {
    walk_params p;
    p.ttb = root;
    p.start_level = x::start_level(levels);
    p.ias = x::input_bits(levels);
    p.oas = oas;
    p.format_flags = flags;
    timing_ctx t(timing_mode::fast, delay);
    return walk_engine::walk(f, p, ia, acc, m, nullptr, nullptr, clk, wt, t);
  }
};

access_kind acc(bool write, bool exec, bool priv) {
  access_kind k;
  k.write = write;
  k.exec = exec;
  k.priv = priv;
  return k;
}

TEST_F(X86Paging, FirstStage4Level4KSetsAccessedThenDirty) {
  const uint64_t ia = 0x0000'7f12'3456'7000ull;
  const uint64_t root = map(ia, 0xabcde000, 4, 1, P | RW | US, P | RW | US);
  walk_result r = walk(fs, root, 4, ia, acc(false, false, false), 0);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.level, 4);
  EXPECT_EQ(r.xlate.out_addr, 0xabcde000u);
  EXPECT_EQ(r.xlate.page_shift, 12u);
  EXPECT_EQ(r.fetches, 4u);
  EXPECT_EQ(r.updates, 4u) << "A in the PML4E, PDPTE, PDE and PTE";
  const uint64_t pte = r.leaf_desc_pa;
  EXPECT_EQ(pte, 0x100000u + 0x3000 + idx(ia, 1) * 8);
  EXPECT_EQ(m.get(pte), 0xabcde000u | P | RW | US | A);  // read: A only
  EXPECT_EQ(m.get(0x100000 + idx(ia, 4) * 8), 0x101000u | P | RW | US | A);
  EXPECT_EQ(m.get(0x101000 + idx(ia, 3) * 8), 0x102000u | P | RW | US | A);
  EXPECT_EQ(m.get(0x102000 + idx(ia, 2) * 8), 0x103000u | P | RW | US | A);
  EXPECT_FALSE(r.xlate.attrs & x::xa_dirty);
  r = walk(fs, root, 4, ia, acc(true, false, false), 0);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(m.get(pte), 0xabcde000u | P | RW | US | A | D);
  EXPECT_TRUE(r.xlate.attrs & x::xa_dirty);
  EXPECT_EQ(r.updates, 1u) << "the tables' A is set already";
  EXPECT_EQ(m.cas, 5u);
  // Nothing more to set: no update.
  r = walk(fs, root, 4, ia, acc(true, false, false), 0);
  EXPECT_EQ(r.updates, 0u);
  EXPECT_EQ(m.cas, 5u);
  // A table entry changing under its A update is decoded again: here
  // software cleared P meanwhile, so the walk faults at that level.
  const uint64_t pml4e = 0x100000 + idx(ia, 4) * 8;
  m.words[pml4e] = 0x101000u | P | RW | US;
  m.on_cas = [&](uint64_t pa) {
    if (pa == pml4e) m.words[pa] = 0x101000u | RW | US;
    m.on_cas = nullptr;
  };
  r = walk(fs, root, 4, ia, acc(false, false, false), 0);
  EXPECT_EQ(r.fault, walk_fault::translation);
  EXPECT_EQ(r.level, 1);
  EXPECT_EQ(r.fetches, 2u) << "the failed swap returned the new value";
  // ff_no_ad: no update at all.
  m.words[pml4e] = 0x101000u | P | RW | US;
  m.cas = 0;
  r = walk(fs, root, 4, ia, acc(false, false, false), x::ff_no_ad);
  EXPECT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.updates, 0u);
  EXPECT_EQ(m.cas, 0u);
}

TEST_F(X86Paging, FirstStage5LevelAndLargePages) {
  const uint64_t ia = 0x00ff'1234'5678'9000ull;  // bit 56 clear: canonical in 57 bits
  uint64_t root = map(ia, 0x7654'3000, 5, 1, P | RW | US, P | RW | US | A | D);
  walk_result r = walk(fs, root, 5, ia, acc(false, false, false), 0);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.level, 4);
  EXPECT_EQ(r.fetches, 5u);
  EXPECT_EQ(r.xlate.out_addr, 0x76543000u);
  m.words.clear();
  // 2 MiB page at the PDE.
  const uint64_t ia4 = 0x0000'7f12'3456'789aull;
  root = map(ia4, 0x4000'0000, 4, 2, P | RW | US, P | RW | US | PS | A);
  r = walk(fs, root, 4, ia4, acc(false, false, false), 0);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.level, 3);
  EXPECT_EQ(r.xlate.page_shift, 21u);
  EXPECT_EQ(r.xlate.out_addr, 0x4000'0000u);
  EXPECT_EQ(r.fetches, 3u);
  // 1 GiB page at the PDPTE: only with FS1GP.
  m.words.clear();
  root = map(ia4, 0x8000'0000, 4, 3, P | RW | US, P | RW | US | PS | A);
  r = walk(fs, root, 4, ia4, acc(false, false, false), 0);
  EXPECT_EQ(r.fault, walk_fault::reserved);
  EXPECT_EQ(r.level, 2);
  r = walk(fs, root, 4, ia4, acc(false, false, false), x::ff_fs_1g);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.xlate.page_shift, 30u);
  EXPECT_EQ(r.xlate.out_addr, 0x8000'0000u);
  // A 2 MiB page with address bits 20:13 set is reserved; bit 12 (PAT) is not.
  m.words.clear();
  root = map(ia4, 0x4000'2000, 4, 2, P | RW | US, P | RW | US | PS | A);
  EXPECT_EQ(walk(fs, root, 4, ia4, acc(false, false, false), 0).fault, walk_fault::reserved);
  m.words.clear();
  root = map(ia4, 0x4000'1000, 4, 2, P | RW | US, P | RW | US | PS | A);
  EXPECT_EQ(walk(fs, root, 4, ia4, acc(false, false, false), 0).fault, walk_fault::none);
}

TEST_F(X86Paging, FirstStageUserSupervisorWriteExecute) {
  const uint64_t ia = 0x1000'0000;
  // U/S clear in the PML4E: user requests fault, supervisor requests pass.
  uint64_t root = map(ia, 0x5000'0000, 4, 1, P | RW, P | RW | US | A | D);
  EXPECT_EQ(walk(fs, root, 4, ia, acc(false, false, false), 0).fault, walk_fault::permission);
  walk_result r = walk(fs, root, 4, ia, acc(false, false, true), 0);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_TRUE(r.xlate.priv_only);
  EXPECT_EQ(x::fs_check(r.xlate, acc(false, false, false), 0), x::deny::privilege);
  // R/W clear in the PDE: user writes fault; supervisor writes only with WPE.
  m.words.clear();
  root = 0x100000;
  m.words[root + idx(ia, 4) * 8] = 0x101000 | P | RW | US;
  m.words[0x101000 + idx(ia, 3) * 8] = 0x102000 | P | RW | US;
  m.words[0x102000 + idx(ia, 2) * 8] = 0x103000 | P | US;  // read-only below
  m.words[0x103000 + idx(ia, 1) * 8] = 0x5000'0000 | P | RW | US | A | D;
  EXPECT_EQ(walk(fs, root, 4, ia, acc(true, false, false), 0).fault, walk_fault::permission);
  EXPECT_EQ(walk(fs, root, 4, ia, acc(true, false, true), 0).fault, walk_fault::none);
  EXPECT_EQ(walk(fs, root, 4, ia, acc(true, false, true), x::ff_wpe).fault, walk_fault::permission);
  r = walk(fs, root, 4, ia, acc(false, false, false), 0);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_FALSE(r.xlate.write);
  EXPECT_EQ(x::fs_check(r.xlate, acc(true, false, false), 0), x::deny::write);
  // XD in the PTE: execute requests fault only when checked (ERS).
  m.words[0x103000 + idx(ia, 1) * 8] = 0x5000'0000 | P | RW | US | A | D | XD;
  EXPECT_EQ(walk(fs, root, 4, ia, acc(false, true, false), 0).fault, walk_fault::none);
  EXPECT_EQ(walk(fs, root, 4, ia, acc(false, true, false), x::ff_exec).fault,
            walk_fault::permission);
  // A supervisor fetch from a user page is refused (§3.6.2); from a supervisor page allowed.
  m.words[0x103000 + idx(ia, 1) * 8] = 0x5000'0000 | P | RW | US | A | D;
  r = walk(fs, root, 4, ia, acc(false, true, true), 0);
  EXPECT_EQ(x::fs_check(r.xlate, acc(false, true, true), x::ff_exec), x::deny::exec);
  m.words[0x103000 + idx(ia, 1) * 8] = 0x5000'0000 | P | RW | A | D;
  EXPECT_EQ(walk(fs, root, 4, ia, acc(false, true, true), x::ff_exec).fault, walk_fault::none);
}

TEST_F(X86Paging, FirstStageFaults) {
  // Not canonical: no fetch.
  walk_result r = walk(fs, 0x100000, 4, 0x0000'8000'0000'0000ull, acc(false, false, false), 0);
  EXPECT_EQ(r.fault, walk_fault::translation);
  EXPECT_EQ(m.reads, 0u);
  // The upper half is canonical.
  EXPECT_TRUE(fs.input_in_range(0xffff'8000'0000'0000ull, [] {
    walk_params p;
    p.ias = 48;
    return p;
  }()));
  const uint64_t ia = 0x2000'0000;
  uint64_t root = map(ia, 0x5000'0000, 4, 1, P | RW | US, RW | US);  // leaf not present
  r = walk(fs, root, 4, ia, acc(false, false, false), 0);
  EXPECT_EQ(r.fault, walk_fault::translation);
  EXPECT_EQ(r.level, 4);
  // Address bit above the output width: reserved.
  m.words.clear();
  root = map(ia, 0x10'0000'0000ull, 4, 1, P | RW | US, P | RW | US);
  r = walk(fs, root, 4, ia, acc(false, false, false), 0, 36);
  EXPECT_EQ(r.fault, walk_fault::reserved);
  // PS in a PML4E is reserved.
  m.words.clear();
  root = map(ia, 0, 4, 4, 0, P | RW | US | PS);
  EXPECT_EQ(walk(fs, root, 4, ia, acc(false, false, false), 0).fault, walk_fault::reserved);
  // A failing A/D update is an external abort.
  m.words.clear();
  root = map(ia, 0x5000'0000, 4, 1, P | RW | US, P | RW | US);
  m.failing.insert(0x103000 + idx(ia, 1) * 8);
  EXPECT_EQ(walk(fs, root, 4, ia, acc(false, false, false), 0).fault, walk_fault::external_abort);
}

TEST_F(X86Paging, SecondStage3And4And5LevelWithSuperpages) {
  for (unsigned levels : {3u, 4u, 5u}) {
    m.words.clear();
    const uint64_t ia = 0x40'1234'5000ull & ((1ull << x::input_bits(levels)) - 1);
    const uint64_t root = map(ia, 0x9876'5000, levels, 1, R | W, R | W);
    const walk_result r = walk(ss, root, levels, ia, acc(false, false, false), 0);
    ASSERT_EQ(r.fault, walk_fault::none) << levels;
    EXPECT_EQ(r.fetches, levels);
    EXPECT_EQ(r.xlate.out_addr, 0x98765000u);
    EXPECT_EQ(r.updates, 0u);  // no A/D without SSADE
  }
  const uint64_t ia = 0x12'3456'7000ull;
  m.words.clear();
  uint64_t root = map(ia, 0x4000'0000, 4, 2, R | W, R | W | SPS);
  EXPECT_EQ(walk(ss, root, 4, ia, acc(false, false, false), 0).fault, walk_fault::reserved);
  walk_result r = walk(ss, root, 4, ia, acc(false, false, false), x::ff_ss_2m);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.xlate.page_shift, 21u);
  EXPECT_EQ(r.fetches, 3u);
  m.words.clear();
  root = map(ia, 0x8000'0000, 4, 3, R | W, R | W | SPS);
  EXPECT_EQ(walk(ss, root, 4, ia, acc(false, false, false), x::ff_ss_2m).fault,
            walk_fault::reserved);
  r = walk(ss, root, 4, ia, acc(false, false, false), x::ff_ss_1g);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.xlate.page_shift, 30u);
  EXPECT_EQ(r.xlate.out_addr, 0x8000'0000u);
  // EMT in a non-leaf entry is reserved.
  m.words.clear();
  root = map(ia, 0x5000, 4, 1, R | W | (6u << 3), R | W);
  EXPECT_EQ(walk(ss, root, 4, ia, acc(false, false, false), 0).fault, walk_fault::reserved);
  // Beyond the AGAW: no fetch.
  m.reads = 0;
  EXPECT_EQ(walk(ss, root, 3, 1ull << 39, acc(false, false, false), 0).fault,
            walk_fault::translation);
  EXPECT_EQ(m.reads, 0u);
}

TEST_F(X86Paging, SecondStagePermissionsAndAccessedDirty) {
  const uint64_t ia = 0x7000;
  uint64_t root = map(ia, 0x5000, 4, 1, R, R | W | X);  // upper levels read-only
  walk_result r = walk(ss, root, 4, ia, acc(true, false, false), 0);
  EXPECT_EQ(r.fault, walk_fault::permission);
  r = walk(ss, root, 4, ia, acc(false, false, false), 0);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_TRUE(r.xlate.read);
  EXPECT_FALSE(r.xlate.write);
  EXPECT_EQ(x::ss_check(r.xlate, acc(true, false, false), 0), x::deny::write);
  m.words.clear();
  root = map(ia, 0x5000, 4, 1, R | W, W);  // write-only leaf
  EXPECT_EQ(walk(ss, root, 4, ia, acc(false, false, false), 0).fault, walk_fault::permission);
  EXPECT_EQ(walk(ss, root, 4, ia, acc(false, true, false), x::ff_exec).fault,
            walk_fault::permission);
  // A/D with SSADE: read sets A, write sets D, as compare-and-swap.
  m.words.clear();
  root = map(ia, 0x5000, 4, 1, R | W, R | W);
  const uint64_t pte = 0x103000 + idx(ia, 1) * 8;
  r = walk(ss, root, 4, ia, acc(false, false, false), x::ff_ss_ad);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(m.get(pte), 0x5000 | R | W | SA);
  r = walk(ss, root, 4, ia, acc(true, false, false), x::ff_ss_ad);
  EXPECT_EQ(m.get(pte), 0x5000 | R | W | SA | SD);
  EXPECT_EQ(m.cas, 2u);
  EXPECT_TRUE(r.xlate.attrs & x::xa_dirty);
  EXPECT_TRUE(r.xlate.attrs & x::xa_ad_tracked);
}

}  // namespace
