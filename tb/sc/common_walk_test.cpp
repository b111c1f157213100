// SPDX-License-Identifier: MIT
// The walk engine (models/common/walk.h) with the VMSAv8-64 formats
// (models/common/vmsav8.h). Tables are built here, with index arithmetic and
// descriptor bits written out independently of the code under test, in a
// sparse in-memory walk_memory that counts every read and compare-and-swap.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <systemc>

#include "models/common/vmsav8.h"
#include "models/common/walk.h"

namespace {

using namespace iommusim::models;
namespace v8 = iommusim::models::vmsav8;

// Descriptor bits (Arm ARM D8), spelled out here rather than taken from vmsav8.h.
constexpr uint64_t VALID = 1, TABLE = 2, PAGE = 3, BLOCK = 1;
constexpr uint64_t AP1 = 1ull << 6, AP2 = 1ull << 7, AF = 1ull << 10, NG = 1ull << 11;
constexpr uint64_t DBM = 1ull << 51, PXN = 1ull << 53, UXN = 1ull << 54;
constexpr uint64_t PXNT = 1ull << 59, UXNT = 1ull << 60, APT0 = 1ull << 61, APT1 = 1ull << 62;

// --- memory ---------------------------------------------------------------------

class test_memory : public walk_memory {
 public:
  clock_domain clk{1000.0, timing_mode::fast};  // 1 ns cycles
  uint32_t read_latency = 100, write_latency = 100;
  std::map<uint64_t, uint64_t> words;
  std::set<uint64_t> failing;  // reads/CAS of these addresses fail
  unsigned reads = 0, cas_calls = 0, cas_swaps = 0;
  // Runs at the start of each compare-and-swap: another agent's write.
  std::function<void(test_memory &, uint64_t)> on_cas;

  uint64_t get(uint64_t pa) const {
    auto it = words.find(pa);
    return it == words.end() ? 0 : it->second;
  }
  void set(uint64_t pa, uint64_t v) { words[pa] = v; }

  bool read64(uint64_t pa, uint64_t *value, timing_ctx &t) override {
    reads++;
    t.advance(read_latency, clk);
    if (failing.count(pa)) return false;
    *value = get(pa);
    return true;
  }
  bool cas64(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed,
             timing_ctx &t) override {
    cas_calls++;
    if (on_cas) on_cas(*this, pa);
    t.advance(read_latency + write_latency, clk);  // a read plus a write
    if (failing.count(pa)) return false;
    *observed = get(pa);
    if (*observed == expected) {
      set(pa, desired);
      cas_swaps++;
    }
    return true;
  }
};

// --- table builder: index arithmetic of its own ----------------------------------

unsigned shift_of(unsigned gs, int level) { return gs + (3 - level) * (gs - 3); }

struct tables {
  test_memory &m;
  unsigned gs;
  int start;
  unsigned ias;
  uint64_t ttb = 0;
  uint64_t next = 0x4000'0000;
  uint64_t write_offset = 0;  // tables live at address + write_offset in m (nested: IPA -> PA)

  tables(test_memory &mem, unsigned granule_shift, int start_level, unsigned in_bits,
         uint64_t base = 0x4000'0000, uint64_t offset = 0)
      : m(mem), gs(granule_shift), start(start_level), ias(in_bits), next(base), write_offset(offset) {
    const unsigned bits = ias - shift_of(gs, start);
    ttb = alloc(8ull << bits);
  }
  uint64_t alloc(uint64_t bytes) {
    const uint64_t align = std::max<uint64_t>(bytes, 1ull << gs);
    next = (next + align - 1) & ~(align - 1);
    const uint64_t r = next;
    next += bytes;
    return r;
  }
  uint64_t idx(int level, uint64_t ia) const {
    const unsigned ls = shift_of(gs, level);
    const unsigned bits = level == start ? ias - ls : gs - 3;
    return (ia >> ls) & ((1ull << bits) - 1);
  }
  // Address (in table space) of ia's descriptor at level, creating the tables above.
  uint64_t slot(int level, uint64_t ia) {
    uint64_t tb = ttb;
    for (int l = start; l < level; l++) {
      const uint64_t a = tb + idx(l, ia) * 8;
      uint64_t d = m.get(a + write_offset);
      if ((d & 3) != 3) {
        d = alloc(1ull << gs) | TABLE | VALID;
        m.set(a + write_offset, d);
      }
      tb = d & 0x0000'FFFF'FFFF'F000ull & ~((1ull << gs) - 1);
    }
    return tb + idx(level, ia) * 8;
  }
  void put(int level, uint64_t ia, uint64_t desc) { m.set(slot(level, ia) + write_offset, desc); }
  uint64_t get(int level, uint64_t ia) { return m.get(slot(level, ia) + write_offset); }
  // A leaf: a page at level 3, a block above.
  void map(int level, uint64_t ia, uint64_t oa, uint64_t attrs) {
    put(level, ia, oa | attrs | (level == 3 ? PAGE : BLOCK));
  }
  // OR bits into the table descriptor at level (level < leaf level).
  void table_bits(int level, uint64_t ia, uint64_t bits) {
    const uint64_t a = slot(level, ia) + write_offset;
    m.set(a, m.get(a) | bits);
  }
};

// --- walking ------------------------------------------------------------------------

struct fast_time {
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  timing_ctx t{timing_mode::fast, delay};
};

const v8::stage1_format s1fmt{};
const v8::stage2_format s2fmt{};
const clock_domain walker_clk{500.0, timing_mode::fast};  // 2 ns cycles

walk_result walk1(const walk_params &p, uint64_t ia, access_kind acc, test_memory &m,
                  walk_cache_if *c = nullptr, table_translator *s2 = nullptr) {
  fast_time ft;
  return walk_engine::walk(s1fmt, p, ia, acc, m, c, s2, walker_clk, walk_timing{}, ft.t);
}
walk_result walk2(const walk_params &p, uint64_t ia, access_kind acc, test_memory &m,
                  walk_cache_if *c = nullptr) {
  fast_time ft;
  return walk_engine::walk(s2fmt, p, ia, acc, m, c, nullptr, walker_clk, walk_timing{}, ft.t);
}

const access_kind RD{false, false, true}, WR{true, false, true};
const access_kind URD{false, false, false}, UWR{true, false, false};
const access_kind PX{false, true, true}, UX{false, true, false};

walk_params s1_params(unsigned gs, unsigned ias, unsigned oas = 48) {
  v8::s1_fields f;
  f.t0sz = 64 - ias;
  f.tg = gs == 12 ? 0 : gs == 16 ? 1 : 2;
  f.ips = 5;
  walk_params p;
  const std::string why = v8::make_s1_params(f, oas, &p);
  EXPECT_EQ(why, "");
  return p;
}

walk_params s2_params(unsigned gs, unsigned sl0, unsigned ias, unsigned oas = 48) {
  v8::s2_fields f;
  f.t0sz = 64 - ias;
  f.sl0 = sl0;
  f.tg = gs == 12 ? 0 : gs == 16 ? 1 : 2;
  f.ps = 5;
  walk_params p;
  const std::string why = v8::make_s2_params(f, oas, &p);
  EXPECT_EQ(why, "") << "gs " << gs << " sl0 " << sl0 << " ias " << ias;
  return p;
}

// A walk cache keyed by (level, input-address prefix above that level's table).
class test_walk_cache : public walk_cache_if {
 public:
  explicit test_walk_cache(unsigned gs) : gs_(gs) {}
  std::map<std::pair<int, uint64_t>, uint64_t> e;
  unsigned lookups = 0, hits = 0, fills = 0;
  bool lookup(uint64_t ia, int *level, uint64_t *table, timing_ctx &) override {
    lookups++;
    for (int l = 3; l >= 1; l--) {
      auto it = e.find({l, ia >> shift_of(gs_, l - 1)});
      if (it != e.end()) {
        *level = l;
        *table = it->second;
        hits++;
        return true;
      }
    }
    return false;
  }
  void fill(int level, uint64_t ia, uint64_t table) override {
    fills++;
    e[{level, ia >> shift_of(gs_, level - 1)}] = table;
  }

 private:
  unsigned gs_;
};

// ==== granule x start level, pages and blocks ==========================================

struct s1_case {
  unsigned gs, ias;
  int start;
};

TEST(Walk, Stage1EveryGranuleAndStartLevel) {
  const s1_case cases[] = {{12, 48, 0}, {12, 40, 0}, {12, 39, 1}, {12, 30, 2}, {12, 21, 3},
                           {14, 48, 0}, {14, 47, 1}, {14, 36, 2}, {14, 25, 3},
                           {16, 48, 1}, {16, 42, 2}, {16, 29, 3}, {16, 25, 3}};
  for (const auto &c : cases) {
    SCOPED_TRACE("granule " + std::to_string(1u << (c.gs - 10)) + "K ias " + std::to_string(c.ias));
    const walk_params p = s1_params(c.gs, c.ias);
    ASSERT_EQ(p.start_level, c.start);
    test_memory m;
    tables tb(m, c.gs, c.start, c.ias);
    walk_params q = p;
    q.ttb = tb.ttb;
    // The highest and lowest pages of the input range.
    const uint64_t hi = (1ull << c.ias) - (1ull << c.gs);
    tb.map(3, hi, 0x12'3450'0000ull & ~((1ull << c.gs) - 1), AF | AP1);
    tb.map(3, 0, 0x0077'0000ull << 4, AF);
    for (uint64_t ia : {hi, uint64_t(0)}) {
      const unsigned before = m.reads;
      const walk_result r = walk1(q, ia + 8, RD, m);
      ASSERT_EQ(r.fault, walk_fault::none) << to_string(r.fault) << " level " << r.level;
      EXPECT_EQ(r.level, 3);
      EXPECT_EQ(r.fetches, unsigned(4 - c.start));
      EXPECT_EQ(m.reads - before, unsigned(4 - c.start));
      EXPECT_EQ(r.xlate.page_shift, c.gs);
      EXPECT_EQ(r.leaf_desc, tb.get(3, ia));
      EXPECT_EQ(r.xlate.out_addr, tb.get(3, ia) & 0x0000'FFFF'FFFF'F000ull);
    }
    // One address past the range faults before any fetch.
    if (c.ias < 64) {
      const unsigned before = m.reads;
      const walk_result r = walk1(q, 1ull << c.ias, RD, m);
      EXPECT_EQ(r.fault, walk_fault::translation);
      EXPECT_EQ(r.level, 0);
      EXPECT_EQ(r.fetches, 0u);
      EXPECT_EQ(m.reads, before);
    }
  }
}

TEST(Walk, Stage1HandComputedAddresses4K) {
  // 48-bit VA 0x0000_1234_5678_9ABC, 4K: L0 index 0x24, L1 0x0D1, L2 0x0B3,
  // L3 0x189; each descriptor at table + index * 8.
  test_memory m;
  walk_params p = s1_params(12, 48);
  p.ttb = 0x8000'0000;
  m.set(0x8000'0000 + 0x24 * 8, 0x8000'1000 | 3);
  m.set(0x8000'1000 + 0x0D1 * 8, 0x8000'2000 | 3);
  m.set(0x8000'2000 + 0x0B3 * 8, 0x8000'3000 | 3);
  m.set(0x8000'3000 + 0x189 * 8, 0x00AB'CDEF'0000ull | AF | 3);
  const walk_result r = walk1(p, 0x0000'1234'5678'9ABCull, RD, m);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.xlate.out_addr, 0x00AB'CDEF'0000ull);
  EXPECT_EQ(r.leaf_desc_pa, 0x8000'3000ull + 0x189 * 8);
  EXPECT_EQ(r.fetches, 4u);
}

TEST(Walk, BlocksAtEveryAllowedLevel) {
  struct bc {
    unsigned gs;
    int level;
    unsigned shift;
  };
  // 4K: 1G at L1, 2M at L2; 16K: 32M at L2; 64K: 512M at L2.
  for (const bc &b : {bc{12, 1, 30}, bc{12, 2, 21}, bc{14, 2, 25}, bc{16, 2, 29}}) {
    SCOPED_TRACE("granule shift " + std::to_string(b.gs) + " level " + std::to_string(b.level));
    const walk_params p0 = s1_params(b.gs, 48);
    test_memory m;
    tables tb(m, b.gs, p0.start_level, 48);
    walk_params p = p0;
    p.ttb = tb.ttb;
    const uint64_t ia = 0x0000'7A5A'5A5A'5A5Aull;
    const uint64_t oa = 0x0000'2345'6789'A000ull & ~((1ull << b.shift) - 1);
    tb.map(b.level, ia, oa | (0x1ull << 12) /* ignored low bits */, AF);
    const walk_result r = walk1(p, ia, RD, m);
    ASSERT_EQ(r.fault, walk_fault::none) << to_string(r.fault);
    EXPECT_EQ(r.level, b.level);
    EXPECT_EQ(r.xlate.page_shift, b.shift);
    EXPECT_EQ(r.xlate.out_addr, oa);
    EXPECT_EQ(r.fetches, unsigned(b.level - p.start_level + 1));
  }
}

TEST(Walk, BlocksWhereTheGranuleForbidsThemAreTranslationFaults) {
  struct bc {
    unsigned gs;
    int level;
  };
  // 4K L0 (512G), 16K L0 and L1 (64G needs 52-bit), 64K L1 (4T needs 52-bit).
  for (const bc &b : {bc{12, 0}, bc{14, 0}, bc{14, 1}, bc{16, 1}}) {
    const walk_params p0 = s1_params(b.gs, 48);
    test_memory m;
    tables tb(m, b.gs, p0.start_level, 48);
    walk_params p = p0;
    p.ttb = tb.ttb;
    tb.map(b.level, 0x1000, 0, AF);
    const walk_result r = walk1(p, 0x1000, RD, m);
    EXPECT_EQ(r.fault, walk_fault::translation) << b.gs << " L" << b.level;
    EXPECT_EQ(r.level, b.level);
  }
  // Level 3 with bits[1:0] = 0b01 is invalid (reserved), not a block.
  test_memory m;
  tables tb(m, 12, 0, 48);
  walk_params p = s1_params(12, 48);
  p.ttb = tb.ttb;
  tb.put(3, 0x5000, 0x9000 | AF | BLOCK);
  EXPECT_EQ(walk1(p, 0x5000, RD, m).fault, walk_fault::translation);
  tb.put(3, 0x5000, 0x9000 | AF | PAGE);
  EXPECT_EQ(walk1(p, 0x5000, RD, m).fault, walk_fault::none);
}

// ==== faults at every level ================================================================

TEST(Walk, EachFaultAtEachLevel) {
  const uint64_t ia = 0x0000'4321'8765'4000ull;
  for (int level = 0; level <= 3; level++) {
    SCOPED_TRACE("level " + std::to_string(level));
    auto setup = [&](test_memory &m, tables &tb, walk_params &p, unsigned oas) {
      p = s1_params(12, 48, oas);
      p.ttb = tb.ttb;
      (void)m;
    };
    // Invalid descriptor (bit 0 clear) at this level.
    {
      test_memory m;
      tables tb(m, 12, 0, 48);
      walk_params p;
      setup(m, tb, p, 48);
      tb.put(level, ia, 0x7000'0000 | TABLE);  // bit 0 = 0
      const walk_result r = walk1(p, ia, RD, m);
      EXPECT_EQ(r.fault, walk_fault::translation);
      EXPECT_EQ(r.level, level);
      EXPECT_EQ(r.fetches, unsigned(level + 1));
    }
    // External abort: the descriptor read fails.
    {
      test_memory m;
      tables tb(m, 12, 0, 48);
      walk_params p;
      setup(m, tb, p, 48);
      tb.map(3, ia, 0x5000, AF);
      m.failing.insert(tb.slot(level, ia));
      const walk_result r = walk1(p, ia, RD, m);
      EXPECT_EQ(r.fault, walk_fault::external_abort);
      EXPECT_EQ(r.level, level);
      EXPECT_EQ(r.fetches, unsigned(level + 1));
    }
    // Address size: a next-table address beyond a 40-bit output size.
    if (level < 3) {
      test_memory m;
      tables tb(m, 12, 0, 48);
      walk_params p;
      setup(m, tb, p, 40);
      EXPECT_EQ(p.oas, 40u);
      tb.map(3, ia, 0x5000, AF);
      tb.put(level, ia, (1ull << 41) | TABLE | VALID);
      const walk_result r = walk1(p, ia, RD, m);
      EXPECT_EQ(r.fault, walk_fault::address_size);
      EXPECT_EQ(r.level, level);
    }
    if (level == 0) continue;  // no 4K leaf at level 0
    // Address size: a leaf output beyond OAS (checked before AF).
    {
      test_memory m;
      tables tb(m, 12, 0, 48);
      walk_params p;
      setup(m, tb, p, 40);
      tb.map(level, ia, 1ull << 40, 0);  // AF = 0 too: address size wins
      const walk_result r = walk1(p, ia, RD, m);
      EXPECT_EQ(r.fault, walk_fault::address_size);
      EXPECT_EQ(r.level, level);
      // Just inside the output size is fine.
      tb.map(level, ia, (1ull << 39), AF);
      EXPECT_EQ(walk1(p, ia, RD, m).fault, walk_fault::none);
    }
    // Access flag: AF = 0 without HA (checked before permission).
    {
      test_memory m;
      tables tb(m, 12, 0, 48);
      walk_params p;
      setup(m, tb, p, 48);
      tb.map(level, ia, 0, AP2);  // read-only and AF = 0; a write: AF fault first
      const uint64_t before = tb.get(level, ia);
      const walk_result r = walk1(p, ia, WR, m);
      EXPECT_EQ(r.fault, walk_fault::access_flag);
      EXPECT_EQ(r.level, level);
      EXPECT_EQ(tb.get(level, ia), before);
      EXPECT_EQ(m.cas_calls, 0u);
    }
    // Permission: a write to a read-only leaf.
    {
      test_memory m;
      tables tb(m, 12, 0, 48);
      walk_params p;
      setup(m, tb, p, 48);
      tb.map(level, ia, 0, AF | AP2);
      const walk_result r = walk1(p, ia, WR, m);
      EXPECT_EQ(r.fault, walk_fault::permission);
      EXPECT_EQ(r.level, level);
      EXPECT_EQ(walk1(p, ia, RD, m).fault, walk_fault::none);
    }
  }
}

TEST(Walk, InputRangesTtb1AndEpd) {
  test_memory m;
  tables tb(m, 12, 1, 39);
  walk_params p = s1_params(12, 39);
  p.ttb = tb.ttb;
  tb.map(3, 0x7F'FFFF'F000ull, 0x1000, AF);
  EXPECT_EQ(walk1(p, 0x7F'FFFF'F000ull, RD, m).fault, walk_fault::none);
  EXPECT_EQ(walk1(p, 0x80'0000'0000ull, RD, m).fault, walk_fault::translation);
  // The same tables as the TTB1 range: addresses with bits [63:39] all ones.
  walk_params p1 = p;
  p1.format_flags |= v8::ff_ttb1;
  EXPECT_EQ(walk1(p1, 0xFFFF'FF80'0000'0000ull | 0x7F'FFFF'F000ull, RD, m).fault, walk_fault::none);
  EXPECT_EQ(walk1(p1, 0x7F'FFFF'F000ull, RD, m).fault, walk_fault::translation);
  // EPD: no walk at all.
  walk_params pe = p;
  pe.format_flags |= v8::ff_epd;
  const unsigned before = m.reads;
  const walk_result r = walk1(pe, 0x7F'FFFF'F000ull, RD, m);
  EXPECT_EQ(r.fault, walk_fault::translation);
  EXPECT_EQ(m.reads, before);
  // Stage 2: an IPA at or above 2^ias.
  walk_params q = s2_params(12, 1, 40);
  tables t2(m, 12, 1, 40, 0x6000'0000);
  q.ttb = t2.ttb;
  t2.map(3, 0xFF'FFFF'F000ull, 0x2000, AF | AP1);
  EXPECT_EQ(walk2(q, 0xFF'FFFF'F000ull, RD, m).fault, walk_fault::none);
  const walk_result r2 = walk2(q, 1ull << 40, RD, m);
  EXPECT_EQ(r2.fault, walk_fault::translation);
  EXPECT_EQ(r2.fetches, 0u);
}

// ==== permissions ===========================================================================

struct s1_expect {
  bool pr, pw, ur, uw, px, ux;
};
// The AP[2:1] table of the Arm ARM, with PXN implied where EL0 can write.
s1_expect s1_table(unsigned ap, bool pxn, bool uxn) {
  s1_expect e{};
  switch (ap) {
    case 0: e = {true, true, false, false, false, false}; break;   // EL1 RW
    case 1: e = {true, true, true, true, false, false}; break;     // EL1/EL0 RW
    case 2: e = {true, false, false, false, false, false}; break;  // EL1 RO
    case 3: e = {true, false, true, false, false, false}; break;   // EL1/EL0 RO
  }
  e.px = !pxn && ap != 1;
  e.ux = !uxn;
  return e;
}

TEST(Walk, Stage1PermissionMatrix) {
  const uint64_t ia = 0x40'0000'3000ull;
  for (bool hpd : {false, true})
    for (unsigned aptable = 0; aptable < 4; aptable++)
      for (unsigned xntable = 0; xntable < 4; xntable++)
        for (unsigned ap = 0; ap < 4; ap++)
          for (unsigned xn = 0; xn < 4; xn++) {
            SCOPED_TRACE("hpd " + std::to_string(hpd) + " APTable " + std::to_string(aptable) +
                         " XNTable " + std::to_string(xntable) + " AP " + std::to_string(ap) +
                         " XN " + std::to_string(xn));
            test_memory m;
            tables tb(m, 12, 0, 48);
            walk_params p = s1_params(12, 48);
            p.ttb = tb.ttb;
            if (hpd) p.format_flags |= v8::ff_hpd;
            const bool pxn = xn & 1, uxn = xn & 2;
            tb.map(3, ia, 0x9000, AF | (ap & 1 ? AP1 : 0) | (ap & 2 ? AP2 : 0) | (pxn ? PXN : 0) |
                                      (uxn ? UXN : 0));
            // Table attributes on the level-1 table descriptor.
            tb.table_bits(1, ia, (aptable & 1 ? APT0 : 0) | (aptable & 2 ? APT1 : 0) |
                                     (xntable & 1 ? PXNT : 0) | (xntable & 2 ? UXNT : 0));
            unsigned eff_ap = ap;
            bool eff_pxn = pxn, eff_uxn = uxn;
            if (!hpd) {
              if (aptable & 1) eff_ap &= ~1u;  // no EL0 access
              if (aptable & 2) eff_ap |= 2u;   // read-only
              eff_pxn |= (xntable & 1) != 0;
              eff_uxn |= (xntable & 2) != 0;
            }
            const s1_expect e = s1_table(eff_ap, eff_pxn, eff_uxn);
            const std::pair<access_kind, bool> accesses[] = {
                {RD, e.pr}, {WR, e.pw}, {URD, e.ur}, {UWR, e.uw}, {PX, e.px}, {UX, e.ux}};
            for (const auto &[acc, ok] : accesses) {
              const walk_result r = walk1(p, ia, acc, m);
              EXPECT_EQ(r.fault, ok ? walk_fault::none : walk_fault::permission)
                  << "write " << acc.write << " exec " << acc.exec << " priv " << acc.priv;
              EXPECT_EQ(v8::permits(r.xlate, acc), ok);
              EXPECT_EQ(r.level, 3);
            }
            const walk_result r = walk1(p, ia, RD, m);
            EXPECT_EQ(r.xlate.write, e.pw);
            EXPECT_EQ(r.xlate.priv_only, !e.ur);
            EXPECT_EQ(r.xlate.exec, e.px);
            EXPECT_EQ((r.xlate.attrs & v8::xa_uexec) != 0, e.ux);
            EXPECT_TRUE(r.xlate.read);
          }
}

TEST(Walk, Stage1AttributesReachTheTranslation) {
  test_memory m;
  tables tb(m, 12, 0, 48);
  walk_params p = s1_params(12, 48);
  p.ttb = tb.ttb;
  tb.map(3, 0x1000, 0x2000, AF | NG | (5ull << 2) /* AttrIndx */ | (3ull << 8) /* SH */ | (1ull << 52));
  const walk_result r = walk1(p, 0x1000, RD, m);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.xlate.attrs & v8::xa_memattr_mask, 5u);
  EXPECT_EQ((r.xlate.attrs & v8::xa_sh_mask) >> v8::xa_sh_shift, 3u);
  EXPECT_NE(r.xlate.attrs & v8::xa_ng, 0u);
  EXPECT_NE(r.xlate.attrs & v8::xa_contig, 0u);
}

TEST(Walk, Stage2PermissionMatrix) {
  const uint64_t ipa = 0x12'3456'7000ull;
  for (bool xnx : {false, true})
    for (unsigned s2ap = 0; s2ap < 4; s2ap++)
      for (unsigned xn = 0; xn < 4; xn++) {
        SCOPED_TRACE("xnx " + std::to_string(xnx) + " S2AP " + std::to_string(s2ap) + " XN " +
                     std::to_string(xn));
        test_memory m;
        walk_params p = s2_params(12, 1, 40);
        tables tb(m, 12, 1, 40);
        p.ttb = tb.ttb;
        if (xnx) p.format_flags |= v8::ff_xnx;
        tb.map(3, ipa, 0xA000, AF | (uint64_t(s2ap) << 6) | (uint64_t(xn) << 53));
        const bool rd = s2ap & 1, wr = s2ap & 2;
        // XN[1:0] with FEAT_XNX: 00 both, 01 EL0 only, 10 none, 11 EL1 only.
        const bool px = xnx ? (xn == 0 || xn == 3) : !(xn & 2);
        const bool ux = xnx ? (xn == 0 || xn == 1) : !(xn & 2);
        const std::pair<access_kind, bool> accesses[] = {{RD, rd}, {WR, wr}, {URD, rd},
                                                         {UWR, wr}, {PX, px}, {UX, ux}};
        for (const auto &[acc, ok] : accesses) {
          const walk_result r = walk2(p, ipa, acc, m);
          EXPECT_EQ(r.fault, ok ? walk_fault::none : walk_fault::permission)
              << "write " << acc.write << " exec " << acc.exec << " priv " << acc.priv;
        }
      }
}

// ==== access flag and dirty state ===================================================

TEST(Walk, AccessFlagHardwareUpdate) {
  for (int stage : {1, 2}) {
    SCOPED_TRACE("stage " + std::to_string(stage));
    test_memory m;
    walk_params p = stage == 1 ? s1_params(12, 48) : s2_params(12, 2, 48);
    tables tb(m, 12, p.start_level, 48);
    p.ttb = tb.ttb;
    const uint64_t rw = stage == 1 ? 0 : (AP1 | AP2);  // s1: AP 00 = EL1 RW; s2: S2AP 11
    tb.map(3, 0x7000, 0xB000, rw);
    auto w = [&](access_kind a) { return stage == 1 ? walk1(p, 0x7000, a, m) : walk2(p, 0x7000, a, m); };
    // Without HA: access flag fault, memory unchanged.
    walk_result r = w(RD);
    EXPECT_EQ(r.fault, walk_fault::access_flag);
    EXPECT_EQ(tb.get(3, 0x7000), 0xB000 | rw | PAGE);
    EXPECT_EQ(r.updates, 0u);
    // With HA: the walker sets AF by compare-and-swap; nothing else changes.
    p.ha = true;
    r = w(RD);
    ASSERT_EQ(r.fault, walk_fault::none);
    EXPECT_EQ(tb.get(3, 0x7000), 0xB000 | rw | PAGE | AF);
    EXPECT_EQ(r.leaf_desc, 0xB000 | rw | PAGE | AF);
    EXPECT_EQ(r.updates, 1u);
    EXPECT_EQ(r.fetches, 4u);
    EXPECT_EQ(m.cas_swaps, 1u);
    // AF now set: no further update.
    r = w(WR);
    EXPECT_EQ(r.updates, 0u);
    EXPECT_EQ(m.cas_calls, 1u);
  }
}

TEST(Walk, AccessWithPermissionFaultUpdatesNothing) {
  test_memory m;
  walk_params p = s1_params(12, 48);
  p.ha = p.hd = true;
  tables tb(m, 12, 0, 48);
  p.ttb = tb.ttb;
  tb.map(3, 0x7000, 0xB000, AP2 | DBM);  // AF = 0, writeable-clean, EL0 no access
  const walk_result r = walk1(p, 0x7000, UWR, m);
  EXPECT_EQ(r.fault, walk_fault::permission);
  EXPECT_EQ(m.cas_calls, 0u);
  EXPECT_EQ(tb.get(3, 0x7000), 0xB000 | AP2 | DBM | PAGE);
}

TEST(Walk, Stage1DirtyStateDbm) {
  const uint64_t clean = 0xB000 | AF | AP1 | AP2 | DBM;  // writeable-clean, EL0 too
  for (unsigned mode = 0; mode < 4; mode++) {  // HA, HD each on/off
    const bool ha = mode & 1, hd = mode & 2;
    SCOPED_TRACE("HA " + std::to_string(ha) + " HD " + std::to_string(hd));
    test_memory m;
    v8::s1_fields f;
    f.ha = ha;
    f.hd = hd;
    walk_params p;
    ASSERT_EQ(v8::make_s1_params(f, 48, &p), "");
    EXPECT_EQ(p.hd, ha && hd);  // HD only with HA
    tables tb(m, 12, 0, 48);
    p.ttb = tb.ttb;
    tb.map(3, 0x7000, 0, clean);
    // A read leaves it clean; the translation says a write may dirty it.
    walk_result r = walk1(p, 0x7000, RD, m);
    ASSERT_EQ(r.fault, walk_fault::none);
    EXPECT_FALSE(r.xlate.write);
    EXPECT_EQ((r.xlate.attrs & v8::xa_dbm_clean) != 0, ha && hd);
    EXPECT_EQ(tb.get(3, 0x7000), clean | PAGE);
    // A write: with HA+HD AP[2] is cleared (writeable-dirty); otherwise a
    // permission fault and no change.
    r = walk1(p, 0x7000, UWR, m);
    if (ha && hd) {
      ASSERT_EQ(r.fault, walk_fault::none);
      EXPECT_EQ(tb.get(3, 0x7000), (clean & ~AP2) | PAGE);
      EXPECT_TRUE(r.xlate.write);
      EXPECT_FALSE(r.xlate.exec);  // now writable at EL0: implied PXN
      EXPECT_EQ(r.updates, 1u);
    } else {
      EXPECT_EQ(r.fault, walk_fault::permission);
      EXPECT_EQ(tb.get(3, 0x7000), clean | PAGE);
    }
  }
  // DBM = 0: read-only stays read-only even with HA+HD.
  test_memory m;
  walk_params p = s1_params(12, 48);
  p.ha = p.hd = true;
  tables tb(m, 12, 0, 48);
  p.ttb = tb.ttb;
  tb.map(3, 0x7000, 0, AF | AP2);
  EXPECT_EQ(walk1(p, 0x7000, WR, m).fault, walk_fault::permission);
  // APTable[1] makes a DBM page read-only regardless: no update.
  tb.map(3, 0x7000, 0, AF | AP2 | DBM);
  tb.table_bits(2, 0x7000, APT1);
  EXPECT_EQ(walk1(p, 0x7000, WR, m).fault, walk_fault::permission);
  EXPECT_EQ(m.cas_calls, 0u);
}

TEST(Walk, Stage2DirtyStateDbm) {
  test_memory m;
  v8::s2_fields f;
  f.t0sz = 24;
  f.sl0 = 1;
  f.ha = f.hd = true;
  walk_params p;
  ASSERT_EQ(v8::make_s2_params(f, 48, &p), "");
  tables tb(m, 12, 1, 40);
  p.ttb = tb.ttb;
  tb.map(2, 0x4020'0000, 0x8000'0000, AP1 | DBM);  // 2M block, AF = 0, read-only, DBM
  walk_result r = walk2(p, 0x4020'1234, RD, m);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(tb.get(2, 0x4020'0000), 0x8000'0000 | AP1 | DBM | AF | BLOCK);  // AF only
  EXPECT_NE(r.xlate.attrs & v8::xa_dbm_clean, 0u);
  r = walk2(p, 0x4020'1234, WR, m);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(tb.get(2, 0x4020'0000), 0x8000'0000 | AP1 | AP2 | DBM | AF | BLOCK);  // S2AP[1] set
  EXPECT_EQ(r.xlate.page_shift, 21u);
  p.hd = false;
  tb.map(2, 0x4020'0000, 0x8000'0000, AP1 | DBM | AF);
  EXPECT_EQ(walk2(p, 0x4020'1234, WR, m).fault, walk_fault::permission);
}

TEST(Walk, CompareAndSwapRetriesWhenTheDescriptorChanges) {
  auto setup = [](test_memory &m, tables &tb, walk_params &p) {
    p = s1_params(12, 48);
    p.ha = p.hd = true;
    p.ttb = tb.ttb;
    tb.map(3, 0x7000, 0xB000, AP2 | DBM);  // AF = 0, writeable-clean
    (void)m;
  };
  // Another agent sets AF and a software bit between the fetch and the swap:
  // the walker decides again on the new value and swaps that.
  {
    test_memory m;
    tables tb(m, 12, 0, 48);
    walk_params p;
    setup(m, tb, p);
    const uint64_t pa = tb.slot(3, 0x7000);
    int n = 0;
    m.on_cas = [&](test_memory &mm, uint64_t a) {
      if (a == pa && n++ == 0) mm.set(a, mm.get(a) | AF | (1ull << 55));
    };
    const walk_result r = walk1(p, 0x7000, WR, m);
    ASSERT_EQ(r.fault, walk_fault::none);
    EXPECT_EQ(m.cas_calls, 2u);
    EXPECT_EQ(r.updates, 1u);
    EXPECT_EQ(r.fetches, 5u);  // 4 reads + the value the failed swap returned
    EXPECT_EQ(tb.get(3, 0x7000), 0xB000 | AF | DBM | (1ull << 55) | PAGE);  // AP[2] cleared
  }
  // The other agent sets AF and clears AP[2] itself: nothing is left to do.
  {
    test_memory m;
    tables tb(m, 12, 0, 48);
    walk_params p;
    setup(m, tb, p);
    m.on_cas = [&](test_memory &mm, uint64_t a) { mm.set(a, (mm.get(a) | AF) & ~AP2); };
    const walk_result r = walk1(p, 0x7000, WR, m);
    ASSERT_EQ(r.fault, walk_fault::none);
    EXPECT_EQ(m.cas_calls, 1u);
    EXPECT_EQ(r.updates, 0u);
  }
  // The other agent invalidates it: translation fault.
  {
    test_memory m;
    tables tb(m, 12, 0, 48);
    walk_params p;
    setup(m, tb, p);
    m.on_cas = [&](test_memory &mm, uint64_t a) { mm.set(a, 0); };
    const walk_result r = walk1(p, 0x7000, WR, m);
    EXPECT_EQ(r.fault, walk_fault::translation);
    EXPECT_EQ(r.level, 3);
  }
  // It never settles: the walker gives up after a bounded number of tries.
  {
    test_memory m;
    tables tb(m, 12, 0, 48);
    walk_params p;
    setup(m, tb, p);
    uint64_t k = 0;
    m.on_cas = [&](test_memory &mm, uint64_t a) { mm.set(a, (mm.get(a) & ~(0xFull << 55)) | ((++k & 0xF) << 55)); };
    const walk_result r = walk1(p, 0x7000, WR, m);
    EXPECT_EQ(r.fault, walk_fault::external_abort);
    EXPECT_EQ(m.cas_calls, 8u);
    EXPECT_EQ(m.cas_swaps, 0u);
  }
  // The swap itself fails: external abort.
  {
    test_memory m;
    tables tb(m, 12, 0, 48);
    walk_params p;
    setup(m, tb, p);
    const uint64_t pa = tb.slot(3, 0x7000);
    m.on_cas = [pa](test_memory &mm, uint64_t) { mm.failing.insert(pa); };
    EXPECT_EQ(walk1(p, 0x7000, RD, m).fault, walk_fault::external_abort);
  }
}

// ==== stage 2: start levels and concatenation ====================================

TEST(Walk, Stage2EveryGranuleStartLevelAndConcatenation) {
  struct c2 {
    unsigned gs, sl0, ias;
    int start;
    unsigned concat;
  };
  const c2 cases[] = {
      {12, 0, 25, 2, 1},  {12, 0, 30, 2, 1},  {12, 0, 34, 2, 16}, {12, 1, 31, 1, 1},
      {12, 1, 40, 1, 2},  {12, 1, 43, 1, 16}, {12, 2, 48, 0, 1},  {14, 0, 25, 3, 1},
      {14, 0, 29, 3, 16}, {14, 1, 36, 2, 1},  {14, 1, 40, 2, 16}, {14, 2, 42, 1, 1},
      {14, 2, 48, 1, 2},  {16, 0, 25, 3, 1},  {16, 0, 33, 3, 16}, {16, 1, 40, 2, 1},
      {16, 1, 46, 2, 16}, {16, 2, 48, 1, 1},
  };
  for (const c2 &c : cases) {
    SCOPED_TRACE("granule shift " + std::to_string(c.gs) + " SL0 " + std::to_string(c.sl0) +
                 " ias " + std::to_string(c.ias));
    walk_params p = s2_params(c.gs, c.sl0, c.ias);
    ASSERT_EQ(p.start_level, c.start);
    ASSERT_EQ(p.concat, c.concat);
    test_memory m;
    tables tb(m, c.gs, c.start, c.ias);
    p.ttb = tb.ttb;
    // Pages in the first and the last concatenated table.
    const uint64_t hi = (1ull << c.ias) - (1ull << c.gs);
    tb.map(3, hi, 0xC000'0000ull, AF | AP1);
    tb.map(3, 0, 0xD000'0000ull, AF | AP1 | AP2);
    walk_result r = walk2(p, hi + 0x10, RD, m);
    ASSERT_EQ(r.fault, walk_fault::none) << to_string(r.fault) << " L" << r.level;
    EXPECT_EQ(r.xlate.out_addr, 0xC000'0000ull);
    EXPECT_EQ(r.fetches, unsigned(4 - c.start));
    // The start-level descriptor of the top page lies in the last table.
    if (c.concat > 1) {
      const uint64_t table_bytes = 1ull << c.gs;
      EXPECT_GE(tb.slot(c.start, hi), tb.ttb + (c.concat - 1) * table_bytes);
    }
    r = walk2(p, 0x10, WR, m);
    EXPECT_EQ(r.fault, walk_fault::none);
    EXPECT_EQ(r.xlate.out_addr, 0xD000'0000ull);
    EXPECT_EQ(walk2(p, 1ull << c.ias, RD, m).fault, walk_fault::translation);
  }
}

TEST(Walk, ProgrammingFieldErrors) {
  walk_params p;
  v8::s1_fields f;
  f.tg = 3;
  EXPECT_NE(v8::make_s1_params(f, 48, &p).find("TG0"), std::string::npos);
  f.tg = 0;
  f.ips = 7;
  EXPECT_NE(v8::make_s1_params(f, 48, &p).find("IPS"), std::string::npos);
  f.ips = 6;  // 52: capped at 48 (and at the IOMMU's OAS)
  ASSERT_EQ(v8::make_s1_params(f, 44, &p), "");
  EXPECT_EQ(p.oas, 44u);
  f.t0sz = 12;
  EXPECT_NE(v8::make_s1_params(f, 48, &p), "");

  v8::s2_fields g;
  g.sl0 = 3;
  EXPECT_NE(v8::make_s2_params(g, 48, &p).find("reserved"), std::string::npos);
  g.sl0 = 2;
  g.t0sz = 16;
  EXPECT_NE(v8::make_s2_params(g, 40, &p).find("44 bits"), std::string::npos);  // L0 start, 40-bit PA
  g.sl0 = 0;  // L2 with a 48-bit IPA: more than 16 concatenated tables
  EXPECT_NE(v8::make_s2_params(g, 48, &p).find("does not suit"), std::string::npos);
  g.sl0 = 1;
  g.t0sz = 34;  // 30-bit IPA at L1: fewer bits than one level resolves
  EXPECT_NE(v8::make_s2_params(g, 48, &p).find("does not suit"), std::string::npos);
  g.t0sz = 24;
  EXPECT_EQ(v8::make_s2_params(g, 48, &p), "");
  EXPECT_NE(v8::make_s2_params(g, 36, &p).find("larger than"), std::string::npos);
  g.tg = 2;  // 16K, SL0 = 2: start at L1 needs 42 bits of PA
  g.sl0 = 2;
  g.t0sz = 22;
  EXPECT_NE(v8::make_s2_params(g, 40, &p), "");
  EXPECT_EQ(v8::make_s2_params(g, 48, &p), "");
  EXPECT_EQ(v8::granule_from_tg0(1), 16u);
  EXPECT_EQ(v8::bits_from_ps(3), 42u);
  EXPECT_STREQ(to_string(walk_fault::access_flag), "access_flag");
}

// ==== nesting and walk caches ====================================================

// Stage 2 for the table fetches of a stage-1 walk, as an IOMMU would wire it.
class s2_tables : public table_translator {
 public:
  s2_tables(test_memory &m, const walk_params &p, walk_cache_if *c = nullptr) : m_(m), p_(p), c_(c) {}
  unsigned calls = 0;
  walk_result translate_table(uint64_t ipa, timing_ctx &t) override {
    calls++;
    return walk_engine::walk(s2fmt, p_, ipa, RD, m_, c_, nullptr, walker_clk, walk_timing{}, t);
  }

 private:
  test_memory &m_;
  walk_params p_;
  walk_cache_if *c_;
};

// A stage-1 4-level 4K walk in IPA space over a stage-2 4-level 4K walk.
struct nested_setup {
  test_memory m;
  walk_params p1 = s1_params(12, 48);
  walk_params p2 = s2_params(12, 2, 48);
  tables s2t{m, 12, 0, 48, 0x2000'0000};
  // Stage-1 tables at IPAs from 0x4000_0000; their bytes at IPA + 0x1_0000_0000.
  tables s1t{m, 12, 0, 48, 0x4000'0000, 0x1'0000'0000};
  static constexpr uint64_t ia = 0x0000'0ABC'DEF1'2000ull;
  static constexpr uint64_t out_ipa = 0x0000'0055'6677'8000ull;

  nested_setup() {
    p1.ttb = s1t.ttb;
    p2.ttb = s2t.ttb;
    s1t.map(3, ia, out_ipa, AF);
    // Stage 2 maps every stage-1 table page IPA -> IPA + 0x1_0000_0000, and the output.
    for (uint64_t ipa = 0x4000'0000; ipa < s1t.next; ipa += 0x1000)
      s2t.map(3, ipa, ipa + 0x1'0000'0000ull, AF | AP1 | AP2);
    s2t.map(3, out_ipa, 0x9'8765'4000ull, AF | AP1 | AP2);
  }
};

TEST(Walk, NestedStage1OverStage2CountsEveryFetch) {
  nested_setup n;
  s2_tables s2(n.m, n.p2);
  const walk_result r1 = walk1(n.p1, n.ia, RD, n.m, nullptr, &s2);
  ASSERT_EQ(r1.fault, walk_fault::none) << to_string(r1.fault) << " L" << r1.level;
  EXPECT_EQ(s2.calls, 4u);
  EXPECT_EQ(r1.fetches, 20u);  // 4 x (4 stage-2 + 1 stage-1)
  EXPECT_EQ(r1.xlate.out_addr, n.out_ipa);
  EXPECT_EQ(r1.leaf_desc_pa, n.s1t.slot(3, n.ia) + 0x1'0000'0000ull);
  // The IOMMU then translates the output IPA: 4 more.
  const walk_result r2 = walk2(n.p2, r1.xlate.out_addr, RD, n.m);
  ASSERT_EQ(r2.fault, walk_fault::none);
  EXPECT_EQ(r2.xlate.out_addr, 0x9'8765'4000ull);
  EXPECT_EQ(r1.fetches + r2.fetches, 24u);
  EXPECT_EQ(n.m.reads, 24u);
}

TEST(Walk, NestedStage2FaultOnATableFetch) {
  nested_setup n;
  // Unmap (at stage 2) the page holding the stage-1 level-2 table.
  const uint64_t l2_desc_ipa = n.s1t.slot(2, n.ia);
  n.s2t.put(3, l2_desc_ipa, 0);
  s2_tables s2(n.m, n.p2);
  const walk_result r = walk1(n.p1, n.ia, RD, n.m, nullptr, &s2);
  EXPECT_EQ(r.fault, walk_fault::translation);
  EXPECT_TRUE(r.s2_fault);
  EXPECT_EQ(r.level, 2);
  EXPECT_EQ(r.fault_ipa, l2_desc_ipa);
  EXPECT_EQ(r.fetches, 2u * 5u + 4u);  // levels 0, 1 in full, then stage 2 for level 2
  // Stage 2 read-only... no: not readable (S2AP = 00) is a stage-2 permission fault.
  n.s2t.map(3, l2_desc_ipa & ~0xFFFull, (l2_desc_ipa & ~0xFFFull) + 0x1'0000'0000ull, AF);
  const walk_result rp = walk1(n.p1, n.ia, RD, n.m, nullptr, &s2);
  EXPECT_EQ(rp.fault, walk_fault::permission);
  EXPECT_TRUE(rp.s2_fault);
}

TEST(Walk, WalkCacheResumeSavesFetches) {
  test_memory m;
  walk_params p = s1_params(12, 48);
  tables tb(m, 12, 0, 48);
  p.ttb = tb.ttb;
  const uint64_t a = 0x0000'1111'2222'3000ull;
  const uint64_t b = a + 0x1000;                 // same level-3 table
  const uint64_t c = a + 0x20'0000;              // same level-2 table
  const uint64_t d = 0x0000'2111'2222'3000ull;   // another level-1 table
  for (uint64_t x : {a, b, c, d}) tb.map(3, x, x + 0x1'0000'0000ull, AF);
  test_walk_cache wc(12);
  walk_result r = walk1(p, a, RD, m, &wc);
  EXPECT_EQ(r.resume_level, -1);
  EXPECT_EQ(r.fetches, 4u);
  EXPECT_EQ(wc.fills, 3u);  // the tables at levels 1, 2, 3
  r = walk1(p, b, RD, m, &wc);
  EXPECT_EQ(r.resume_level, 3);
  EXPECT_EQ(r.fetches, 1u);
  EXPECT_EQ(r.xlate.out_addr, b + 0x1'0000'0000ull);
  r = walk1(p, c, RD, m, &wc);
  EXPECT_EQ(r.resume_level, 2);
  EXPECT_EQ(r.fetches, 2u);
  r = walk1(p, d, RD, m, &wc);
  EXPECT_EQ(r.resume_level, -1);
  EXPECT_EQ(r.fetches, 4u);
  // A resumed walk sees the same result as a full one (here: a fault).
  tb.put(3, a, 0);
  EXPECT_EQ(walk1(p, a, RD, m, &wc).fault, walk_fault::translation);
  EXPECT_EQ(walk1(p, a, RD, m).fault, walk_fault::translation);
}

TEST(Walk, WalkCacheSkipsTablesUnderHierarchicalRestrictions) {
  test_memory m;
  walk_params p = s1_params(12, 48);
  tables tb(m, 12, 0, 48);
  p.ttb = tb.ttb;
  const uint64_t a = 0x0000'1111'2222'3000ull;
  tb.map(3, a, 0x5000, AF | AP1);
  tb.table_bits(1, a, APT0);  // below level 1: no EL0 access
  test_walk_cache wc(12);
  walk_result r = walk1(p, a, URD, m, &wc);
  EXPECT_EQ(r.fault, walk_fault::permission);
  EXPECT_EQ(wc.fills, 1u);  // only the level-1 table, reached before the restriction
  r = walk1(p, a, URD, m, &wc);
  EXPECT_EQ(r.resume_level, 1);
  EXPECT_EQ(r.fault, walk_fault::permission);  // still refused: APTable seen again
}

TEST(Walk, NestedWalkCachesOnBothStages) {
  nested_setup n;
  test_walk_cache wc1(12), wc2(12);
  s2_tables s2(n.m, n.p2, &wc2);
  walk_result r = walk1(n.p1, n.ia, RD, n.m, &wc1, &s2);
  ASSERT_EQ(r.fault, walk_fault::none);
  const unsigned cold = r.fetches;
  EXPECT_LT(cold, 20u);  // later stage-2 walks already resume from the cache
  r = walk1(n.p1, n.ia, RD, n.m, &wc1, &s2);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(r.resume_level, 3);
  // One stage-1 fetch, whose IPA stage 2 translates from its level-3 table.
  EXPECT_EQ(r.fetches, 2u);
  EXPECT_EQ(r.xlate.out_addr, n.out_ipa);
}

// ==== time ==========================================================================

// A 4-level walk with an access-flag update, in cycle mode inside an
// SC_THREAD: per level step_cycles on the walker clock (2 ns) then a read of
// read_latency memory cycles (1 ns); then a compare-and-swap of read_latency
// + write_latency.
class walk_top : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(walk_top);
  explicit walk_top(sc_core::sc_module_name nm) : sc_core::sc_module(nm) { SC_THREAD(run); }
  test_memory m;
  walk_result r;
  sc_core::sc_time start, end;
  const clock_domain clk{500.0, timing_mode::cycle};
  walk_timing wt{3};
  walk_params p;

  void run() {
    m.read_latency = 100;
    m.write_latency = 60;
    m.clk = clock_domain(1000.0, timing_mode::cycle);
    tables tb(m, 12, 0, 48);
    p = s1_params(12, 48);
    p.ttb = tb.ttb;
    p.ha = true;
    tb.map(3, 0x1000, 0x2000, 0);
    sc_core::wait(7, sc_core::SC_NS);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    timing_ctx t(timing_mode::cycle, d);
    start = sc_core::sc_time_stamp();
    r = walk_engine::walk(s1fmt, p, 0x1000, RD, m, nullptr, nullptr, clk, wt, t);
    end = sc_core::sc_time_stamp();
  }
};

TEST(WalkTiming, CycleModeWalkInsideAThread) {
  walk_top top("top");
  sc_core::sc_start();
  ASSERT_EQ(top.r.fault, walk_fault::none);
  EXPECT_EQ(top.r.updates, 1u);
  EXPECT_EQ(top.start, sc_core::sc_time(7, sc_core::SC_NS));
  // 4 x (3 x 2 ns + 100 x 1 ns) + (100 + 60) x 1 ns = 584 ns.
  EXPECT_EQ(top.end - top.start, sc_core::sc_time(584, sc_core::SC_NS));
}

TEST(WalkTiming, FastModeAnnotatesTheSameTime) {
  test_memory m;
  m.write_latency = 60;
  tables tb(m, 12, 0, 48);
  walk_params p = s1_params(12, 48);
  p.ttb = tb.ttb;
  p.ha = true;
  tb.map(3, 0x1000, 0x2000, 0);
  fast_time ft;
  const walk_result r = walk_engine::walk(s1fmt, p, 0x1000, RD, m, nullptr, nullptr, walker_clk,
                                          walk_timing{3}, ft.t);
  ASSERT_EQ(r.fault, walk_fault::none);
  EXPECT_EQ(ft.delay, sc_core::sc_time(584, sc_core::SC_NS));
  EXPECT_EQ(sc_core::sc_time_stamp(), sc_core::SC_ZERO_TIME);  // nothing waited
}

}  // namespace
