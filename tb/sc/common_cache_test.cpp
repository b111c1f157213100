// SPDX-License-Identifier: MIT
// sa_cache<E> (models/common/cache.h) against an independent brute-force
// reference: every set and way compared literally, LRU by timestamps, PLRU by
// interval halving, its own LFSR. Long random streams of lookups, fills and
// invalidations must agree on every hit, victim, cycle and counter.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "models/common/cache.h"

namespace {

using namespace iommusim::models;

// A TLB-like entry: ASID-tagged or global, three page sizes (4K, 64K, 2M).
// The hash is the page number alone, so ASID-tagged and global entries of the
// same page share a hash (and so an index chain) and both match one key.
struct tkey {
  uint32_t asid = 0;
  uint64_t va = 0;
};

struct tentry {
  using key_type = tkey;
  uint32_t asid = 0;
  bool global = false;
  unsigned cls = 0;  // size class = probe that finds it
  uint64_t page = 0; // va >> shift(cls)
  uint64_t payload = 0;

  static unsigned shift(unsigned c) { return c == 0 ? 12 : c == 1 ? 16 : 21; }
  static unsigned probes(const tkey &) { return 3; }
  static uint64_t probe_hash(const tkey &k, unsigned p) { return k.va >> shift(p); }
  uint64_t hash() const { return page; }
  bool matches(const tkey &k) const {
    return (global || asid == k.asid) && (k.va >> shift(cls)) == page;
  }
  bool same_tag(const tentry &o) const {
    return asid == o.asid && global == o.global && cls == o.cls && page == o.page;
  }
};

tentry make_entry(uint32_t asid, bool global, unsigned cls, uint64_t va, uint64_t payload) {
  tentry e;
  e.asid = asid;
  e.global = global;
  e.cls = cls;
  e.page = va >> tentry::shift(cls);
  e.payload = payload;
  return e;
}

// ---------------------------------------------------------------------------
// Reference model: written from the rules in cache.h, sharing no code.
class ref_cache {
 public:
  explicit ref_cache(const cache_config &c) : cfg(c) {
    nsets = (c.ways == 0 || c.ways >= c.entries) ? 1 : c.entries / c.ways;
    nways = c.entries / nsets;
    slots.assign(nsets, std::vector<std::optional<tentry>>(nways));
    stamp.assign(nsets, std::vector<uint64_t>(nways));
    for (auto &s : stamp)
      for (uint32_t w = 0; w < nways; w++) s[w] = w;  // way 0 least recent
    clock = nways;
    tree.assign(nsets, std::vector<bool>(2 * nways, false));
    ptr.assign(nsets, 0);
    rnd = c.random_seed;
  }

  struct look {
    bool hit = false;
    uint32_t set = 0, way = 0;
    unsigned probes = 0;
    uint32_t cycles = 0;
    uint64_t payload = 0;
  };

  look lookup(const tkey &k) {
    look r;
    lookups++;
    const unsigned n = tentry::probes(k);
    for (unsigned p = 0; p < n; p++) {
      const uint32_t s = static_cast<uint32_t>(tentry::probe_hash(k, p) % nsets);
      if (p == 0) r.set = s;
      for (uint32_t w = 0; w < nways; w++) {
        if (slots[s][w] && slots[s][w]->matches(k)) {
          r.hit = true;
          r.set = s;
          r.way = w;
          r.probes = cfg.parallel_probes ? n : p + 1;
          r.cycles = cfg.lookup_cycles * (cfg.parallel_probes ? 1 : p + 1);
          r.payload = slots[s][w]->payload;
          hits++;
          use(s, w);
          return r;
        }
      }
    }
    r.probes = n;
    r.cycles = cfg.lookup_cycles * (cfg.parallel_probes ? 1 : n);
    misses++;
    return r;
  }

  struct filled {
    uint32_t set = 0, way = 0;
    bool evicted = false;
    std::optional<tentry> victim;
  };

  filled fill(const tentry &e) {
    filled r;
    fills++;
    const uint32_t s = static_cast<uint32_t>(e.hash() % nsets);
    r.set = s;
    for (uint32_t w = 0; w < nways; w++) {
      if (slots[s][w] && slots[s][w]->same_tag(e)) {
        slots[s][w] = e;
        r.way = w;
        use(s, w);
        return r;
      }
    }
    for (uint32_t w = 0; w < nways; w++) {
      if (!slots[s][w]) {
        slots[s][w] = e;
        r.way = w;
        use(s, w);
        return r;
      }
    }
    const uint32_t w = victim(s);
    if (cfg.policy == replacement_policy::round_robin) ptr[s] = (ptr[s] + 1 == nways) ? 0 : ptr[s] + 1;
    if (cfg.policy == replacement_policy::random) {
      // Galois LFSR, taps 0xB400, written as a polynomial step.
      const uint16_t fb = (rnd & 1u) ? 0xB400u : 0u;
      rnd = static_cast<uint16_t>((rnd >> 1) ^ fb);
    }
    r.evicted = true;
    r.victim = slots[s][w];
    evictions++;
    slots[s][w] = e;
    r.way = w;
    use(s, w);
    return r;
  }

  uint32_t victim(uint32_t s) const {
    switch (cfg.policy) {
      case replacement_policy::lru: {
        uint32_t best = 0;
        for (uint32_t w = 1; w < nways; w++)
          if (stamp[s][w] < stamp[s][best]) best = w;
        return best;
      }
      case replacement_policy::plru: {
        uint32_t lo = 0, hi = nways, node = 1;
        while (hi - lo > 1) {
          const uint32_t mid = (lo + hi) / 2;
          if (!tree[s][node]) {
            hi = mid;
            node = 2 * node;
          } else {
            lo = mid;
            node = 2 * node + 1;
          }
        }
        return lo;
      }
      case replacement_policy::round_robin:
        return ptr[s];
      case replacement_policy::random:
        return rnd % nways;
    }
    return 0;
  }

  uint64_t inval(bool (*pred)(const tentry &, uint64_t), uint64_t arg) {
    uint64_t n = 0;
    for (auto &set : slots)
      for (auto &e : set)
        if (e && pred(*e, arg)) {
          e.reset();
          n++;
        }
    invalidations += n;
    sweeps++;
    return n;
  }
  uint64_t inval_all() {
    uint64_t n = 0;
    for (auto &set : slots)
      for (auto &e : set)
        if (e) {
          e.reset();
          n++;
        }
    invalidations += n;
    if (!cfg.flash_invalidate) sweeps++;
    return n;
  }

  cache_config cfg;
  uint32_t nsets, nways;
  std::vector<std::vector<std::optional<tentry>>> slots;
  std::vector<std::vector<uint64_t>> stamp;
  uint64_t clock;
  std::vector<std::vector<bool>> tree;
  std::vector<uint32_t> ptr;
  uint16_t rnd;
  uint64_t lookups = 0, hits = 0, misses = 0, fills = 0, evictions = 0, invalidations = 0,
           sweeps = 0;

 private:
  void use(uint32_t s, uint32_t w) {
    stamp[s][w] = ++clock;
    uint32_t lo = 0, hi = nways, node = 1;
    while (hi - lo > 1) {
      const uint32_t mid = (lo + hi) / 2;
      if (w < mid) {
        tree[s][node] = true;  // w on the left: point right
        hi = mid;
        node = 2 * node;
      } else {
        tree[s][node] = false;
        lo = mid;
        node = 2 * node + 1;
      }
    }
  }
};

bool by_asid(const tentry &e, uint64_t a) { return !e.global && e.asid == a; }
bool by_page_range(const tentry &e, uint64_t va) {
  // An invalidation by address: every entry whose range covers va.
  return (va >> tentry::shift(e.cls)) == e.page;
}

void expect_same_contents(const sa_cache<tentry> &c, const ref_cache &r, const std::string &where) {
  ASSERT_EQ(c.sets(), r.nsets);
  ASSERT_EQ(c.ways(), r.nways);
  size_t nvalid = 0;
  for (uint32_t s = 0; s < r.nsets; s++) {
    for (uint32_t w = 0; w < r.nways; w++) {
      ASSERT_EQ(c.valid(s, w), r.slots[s][w].has_value()) << where << " set " << s << " way " << w;
      if (r.slots[s][w]) {
        nvalid++;
        ASSERT_NE(c.at(s, w), nullptr);
        EXPECT_TRUE(c.at(s, w)->same_tag(*r.slots[s][w]));
        EXPECT_EQ(c.at(s, w)->payload, r.slots[s][w]->payload);
      } else {
        EXPECT_EQ(c.at(s, w), nullptr);
      }
    }
    ASSERT_EQ(c.policy_victim(s), r.victim(s)) << where << " set " << s;
  }
  EXPECT_EQ(c.valid_count(), nvalid);
  if (r.cfg.policy == replacement_policy::random) {
    EXPECT_EQ(c.lfsr(), r.rnd);
  }
}

void expect_same_stats(const sa_cache<tentry> &c, const ref_cache &r) {
  const cache_stats &s = c.stats();
  EXPECT_EQ(s.lookups, r.lookups);
  EXPECT_EQ(s.hits, r.hits);
  EXPECT_EQ(s.misses, r.misses);
  EXPECT_EQ(s.fills, r.fills);
  EXPECT_EQ(s.evictions, r.evictions);
  EXPECT_EQ(s.invalidations, r.invalidations);
  EXPECT_EQ(s.invalidate_sweeps, r.sweeps);
  EXPECT_EQ(s.hits + s.misses, s.lookups);
}

struct stream_params {
  unsigned ops = 200000;
  unsigned asids = 4;
  uint64_t va_span = 1ULL << 24;  // 16 MiB of input addresses: hits and conflicts
  unsigned seed = 1;
  unsigned inval_per_mille = 50;  // invalidations among the ops (big caches: fewer)
};

// Random lookups, fills (all three sizes, ASID and global), invalidations by
// ASID, by address and of everything, compared op by op.
void run_stream(const cache_config &cfg, const stream_params &sp) {
  SCOPED_TRACE(cfg.name + " " + to_string(cfg.policy) + " entries " + std::to_string(cfg.entries) +
               " ways " + std::to_string(cfg.ways));
  sa_cache<tentry> c(cfg);
  ref_cache r(cfg);
  std::mt19937_64 rng(sp.seed);
  uint64_t payload = 1;
  unsigned evictions_seen = 0, hits_seen = 0;
  for (unsigned i = 0; i < sp.ops; i++) {
    const unsigned op = rng() % 1000;
    tkey k;
    k.asid = static_cast<uint32_t>(rng() % sp.asids);
    k.va = rng() % sp.va_span;
    if (op < 600) {
      const auto a = c.lookup(k);
      const auto b = r.lookup(k);
      ASSERT_EQ(bool(a), b.hit) << "op " << i;
      ASSERT_EQ(a.set, b.set) << "op " << i;
      ASSERT_EQ(a.probes, b.probes) << "op " << i;
      ASSERT_EQ(a.cycles, b.cycles) << "op " << i;
      if (b.hit) {
        hits_seen++;
        ASSERT_EQ(a.way, b.way) << "op " << i;
        ASSERT_EQ(a.entry->payload, b.payload) << "op " << i;
        const tentry *p = c.peek(k);
        ASSERT_EQ(p, a.entry);
      } else {
        ASSERT_EQ(c.peek(k), nullptr);
      }
    } else if (op < 1000 - sp.inval_per_mille) {
      const unsigned cls = static_cast<unsigned>(rng() % 8 < 5 ? 0 : rng() % 2 + 1);
      const bool global = rng() % 8 == 0;
      const tentry e = make_entry(k.asid, global, cls, k.va, payload++);
      const auto a = c.fill(e);
      const auto b = r.fill(e);
      ASSERT_EQ(a.set, b.set) << "op " << i;
      ASSERT_EQ(a.way, b.way) << "op " << i;
      ASSERT_EQ(a.evicted, b.evicted) << "op " << i;
      ASSERT_EQ(a.cycles, cfg.fill_cycles);
      ASSERT_EQ(a.victim.has_value(), b.victim.has_value());
      if (b.victim) {
        evictions_seen++;
        ASSERT_TRUE(a.victim->same_tag(*b.victim));
        ASSERT_EQ(a.victim->payload, b.victim->payload);
      }
    } else if (const unsigned kind = rng() % 100; kind < 45) {
      const auto a = c.invalidate_if([&](const tentry &e) { return by_asid(e, k.asid); });
      ASSERT_EQ(a.count, r.inval(by_asid, k.asid)) << "op " << i;
      ASSERT_EQ(a.cycles, uint64_t(r.nsets) * cfg.invalidate_cycles_per_set);
    } else if (kind < 99) {
      const auto a = c.invalidate_if([&](const tentry &e) { return by_page_range(e, k.va); });
      ASSERT_EQ(a.count, r.inval(by_page_range, k.va)) << "op " << i;
    } else {
      const auto a = c.invalidate_all();
      ASSERT_EQ(a.count, r.inval_all()) << "op " << i;
      ASSERT_EQ(a.cycles, cfg.flash_invalidate ? 1u : uint64_t(r.nsets) * cfg.invalidate_cycles_per_set);
    }
    if (i % 20000 == 19999) expect_same_contents(c, r, "op " + std::to_string(i));
  }
  expect_same_contents(c, r, "end");
  expect_same_stats(c, r);
  // The stream must have exercised what it claims to test.
  EXPECT_GT(hits_seen, sp.ops / 100);
  EXPECT_GT(evictions_seen, sp.ops / 200);
}

cache_config geometry(uint32_t entries, uint32_t ways, replacement_policy p) {
  cache_config c;
  c.name = "t";
  c.entries = entries;
  c.ways = ways;
  c.policy = p;
  c.lookup_cycles = 2;
  c.fill_cycles = 3;
  c.invalidate_cycles_per_set = 2;
  return c;
}

const replacement_policy all_policies[] = {replacement_policy::lru, replacement_policy::plru,
                                           replacement_policy::round_robin,
                                           replacement_policy::random};

// --- every policy, every geometry, against the reference ---------------------

TEST(Cache, FullyAssociativeSmallMatchesReference) {
  // 8 and 32 ways: below and above the size where a set keeps a hash index.
  for (auto p : all_policies)
    for (uint32_t n : {8u, 32u}) {
      stream_params sp;
      sp.va_span = 1ULL << 20;
      sp.seed = n;
      run_stream(geometry(n, 0, p), sp);
    }
}

TEST(Cache, FullyAssociativeLargeMatchesReference) {
  for (auto p : all_policies) {
    stream_params sp;
    sp.ops = 60000;
    sp.va_span = 1ULL << 26;
    sp.inval_per_mille = 2;
    auto cfg = geometry(2048, 2048, p);  // ways == entries: fully associative
    run_stream(cfg, sp);
  }
}

TEST(Cache, SetAssociativeMatchesReference) {
  for (auto p : all_policies) {
    run_stream(geometry(256, 4, p), {});
    run_stream(geometry(64, 2, p), {200000, 4, 1ULL << 22, 3});
    run_stream(geometry(16, 1, p), {100000, 2, 1ULL << 18, 4});  // direct mapped
  }
}

TEST(Cache, HighAssociativityIndexedSetsMatchReference) {
  // 16- and 32-way sets keep an index per set; probes of other sets' hashes
  // must not be found there.
  for (auto p : all_policies) {
    run_stream(geometry(512, 16, p), {150000, 4, 1ULL << 23, 5, 5});
    run_stream(geometry(256, 32, p), {150000, 4, 1ULL << 23, 6, 5});
  }
}

TEST(Cache, NonPowerOfTwoWaysMatchReference) {
  for (auto p : {replacement_policy::lru, replacement_policy::round_robin,
                 replacement_policy::random}) {
    run_stream(geometry(24, 3, p), {100000, 2, 1ULL << 19, 7});   // 8 sets x 3
    run_stream(geometry(24, 0, p), {100000, 2, 1ULL << 19, 8});   // FA 24
    run_stream(geometry(40, 20, p), {100000, 2, 1ULL << 20, 9});  // 2 sets x 20, indexed
  }
}

TEST(Cache, SerialProbesAndSweepInvalidateMatchReference) {
  for (auto p : all_policies) {
    auto cfg = geometry(128, 4, p);
    cfg.parallel_probes = false;
    cfg.flash_invalidate = false;
    cfg.lookup_cycles = 3;
    run_stream(cfg, {100000, 3, 1ULL << 22, 10});
    auto fa = geometry(64, 0, p);
    fa.parallel_probes = false;
    fa.flash_invalidate = false;
    run_stream(fa, {100000, 3, 1ULL << 21, 11});
  }
}

TEST(Cache, RandomSeedsChangeVictims) {
  auto a = geometry(4, 0, replacement_policy::random);
  auto b = a;
  b.random_seed = 0x1234;
  run_stream(b, {50000, 2, 1ULL << 18, 12});
  // Two seeds give different victim sequences.
  sa_cache<tentry> ca(a), cb(b);
  std::vector<uint32_t> va, vb;
  for (uint64_t i = 0; i < 64; i++) {
    va.push_back(ca.fill(make_entry(0, false, 0, i << 12, i)).way);
    vb.push_back(cb.fill(make_entry(0, false, 0, i << 12, i)).way);
  }
  EXPECT_NE(va, vb);
}

// --- hand-checked sequences -----------------------------------------------------

TEST(Cache, LruExactSequence) {
  sa_cache<tentry> c(geometry(4, 0, replacement_policy::lru));
  EXPECT_EQ(c.policy_victim(0), 0u);  // initial order: way 0 least recent
  for (uint64_t i = 0; i < 4; i++) EXPECT_EQ(c.fill(make_entry(0, false, 0, i << 12, i)).way, i);
  // Recency (old -> new): 0 1 2 3. Hit 0 and 2: 1 3 0 2.
  EXPECT_TRUE(c.lookup({0, 0x0000}));
  EXPECT_TRUE(c.lookup({0, 0x2000}));
  EXPECT_EQ(c.policy_victim(0), 1u);
  auto f = c.fill(make_entry(0, false, 0, 0x10000, 9));
  EXPECT_TRUE(f.evicted);
  EXPECT_EQ(f.way, 1u);
  EXPECT_EQ(f.victim->page, 1u);
  EXPECT_EQ(c.policy_victim(0), 3u);  // 3 0 2 1
  // peek does not touch.
  EXPECT_NE(c.peek({0, 0x3000}), nullptr);
  EXPECT_EQ(c.policy_victim(0), 3u);
  // Invalidation leaves the order: way 3 invalid, next fill takes it (lowest invalid).
  c.invalidate_if([](const tentry &e) { return e.page == 3; });
  EXPECT_EQ(c.policy_victim(0), 3u);
  EXPECT_EQ(c.fill(make_entry(0, false, 0, 0x20000, 10)).way, 3u);
  EXPECT_EQ(c.policy_victim(0), 0u);  // 0 2 1 3
}

TEST(Cache, PlruExactSequence) {
  sa_cache<tentry> c(geometry(4, 0, replacement_policy::plru));
  EXPECT_EQ(c.policy_victim(0), 0u);  // all bits 0
  for (uint64_t i = 0; i < 4; i++) c.fill(make_entry(0, false, 0, i << 12, i));
  // Touch 3 last: root points left (0), node 2 was set by touch 1 to point left
  // (0): the victim is way 0.
  EXPECT_EQ(c.policy_victim(0), 0u);
  EXPECT_TRUE(c.lookup({0, 0x0000}));  // root -> right, node 2 -> right
  // Node 3 was set by touch 3 to point left: way 2.
  EXPECT_EQ(c.policy_victim(0), 2u);
  EXPECT_TRUE(c.lookup({0, 0x2000}));  // root -> left, node 3 -> right
  EXPECT_EQ(c.policy_victim(0), 1u);   // node 2 points right
  auto f = c.fill(make_entry(0, false, 0, 0x40000, 7));
  EXPECT_EQ(f.way, 1u);
  EXPECT_TRUE(f.evicted);
  EXPECT_EQ(c.policy_victim(0), 3u);  // root right, node 3 right
}

TEST(Cache, RoundRobinPointerSemantics) {
  sa_cache<tentry> c(geometry(3, 0, replacement_policy::round_robin));
  for (uint64_t i = 0; i < 3; i++) c.fill(make_entry(0, false, 0, i << 12, i));
  EXPECT_EQ(c.policy_victim(0), 0u);  // fills into invalid ways leave it
  EXPECT_TRUE(c.lookup({0, 0x1000}));
  EXPECT_EQ(c.policy_victim(0), 0u);  // hits leave it
  EXPECT_EQ(c.fill(make_entry(0, false, 0, 0x10000, 1)).way, 0u);
  EXPECT_EQ(c.policy_victim(0), 1u);
  EXPECT_EQ(c.fill(make_entry(0, false, 0, 0x11000, 1)).way, 1u);
  c.invalidate_if([](const tentry &e) { return e.page == 2; });
  EXPECT_EQ(c.fill(make_entry(0, false, 0, 0x12000, 1)).way, 2u);  // invalid way
  EXPECT_EQ(c.policy_victim(0), 2u);
  EXPECT_EQ(c.fill(make_entry(0, false, 0, 0x13000, 1)).way, 2u);  // pointer
  EXPECT_EQ(c.policy_victim(0), 0u);                                // wraps
}

TEST(Cache, RandomLfsrSteppedOncePerPolicyChoice) {
  auto cfg = geometry(5, 0, replacement_policy::random);
  sa_cache<tentry> c(cfg);
  EXPECT_EQ(c.lfsr(), 0xACE1);
  for (uint64_t i = 0; i < 5; i++) c.fill(make_entry(0, false, 0, i << 12, i));
  EXPECT_EQ(c.lfsr(), 0xACE1);  // invalid ways: no choice, no step
  EXPECT_EQ(c.policy_victim(0), 0xACE1u % 5);
  auto f = c.fill(make_entry(0, false, 0, 0x10000, 1));
  EXPECT_EQ(f.way, 0xACE1u % 5);
  EXPECT_EQ(c.lfsr(), 0xE270);  // 0xACE1 >> 1 = 0x5670, ^ 0xB400
  // In-place fills and hits do not step it.
  c.fill(make_entry(0, false, 0, 0x10000, 2));
  c.lookup({0, 0x10000});
  EXPECT_EQ(c.lfsr(), 0xE270);
  // Maximal length: 65535 steps return to the seed, never through 0.
  uint16_t s = 0xACE1;
  unsigned period = 0;
  do {
    s = static_cast<uint16_t>((s >> 1) ^ ((s & 1) ? 0xB400 : 0));
    ASSERT_NE(s, 0);
    period++;
  } while (s != 0xACE1);
  EXPECT_EQ(period, 65535u);
}

TEST(Cache, FillInPlaceOfTheSameTag) {
  for (uint32_t ways : {0u, 4u}) {
    sa_cache<tentry> c(geometry(64, ways, replacement_policy::lru));
    auto a = c.fill(make_entry(1, false, 0, 0x5000, 1));
    auto b = c.fill(make_entry(1, false, 0, 0x5000, 2));  // same tag
    EXPECT_EQ(a.set, b.set);
    EXPECT_EQ(a.way, b.way);
    EXPECT_FALSE(b.evicted);
    EXPECT_FALSE(b.victim.has_value());
    EXPECT_EQ(c.valid_count(), 1u);
    EXPECT_EQ(c.lookup({1, 0x5000}).entry->payload, 2u);
    // Another ASID or size is another tag.
    c.fill(make_entry(2, false, 0, 0x5000, 3));
    c.fill(make_entry(1, false, 2, 0x5000, 4));
    EXPECT_EQ(c.valid_count(), 3u);
    EXPECT_EQ(c.stats().fills, 4u);
    EXPECT_EQ(c.stats().evictions, 0u);
  }
}

TEST(Cache, LowestMatchingWayAndProbeOrder) {
  // FA: a global and an ASID entry for the same page: the lower way hits.
  sa_cache<tentry> fa(geometry(32, 0, replacement_policy::lru));
  fa.fill(make_entry(0, false, 2, 0x200000, 1));  // way 0: 2M
  fa.fill(make_entry(0, true, 0, 0x201000, 2));   // way 1: 4K global
  fa.fill(make_entry(3, false, 0, 0x201000, 3));  // way 2: 4K ASID 3
  auto r = fa.lookup({3, 0x201000});
  EXPECT_EQ(r.way, 1u);  // way 0 is ASID 0 only
  EXPECT_EQ(r.probes, 3u);
  auto r0 = fa.lookup({0, 0x201000});
  EXPECT_EQ(r0.way, 0u);  // the 2M entry in way 0 matches first, at probe 0
  // Set-associative: probes in order, 4K before 2M.
  auto cfg = geometry(64, 4, replacement_policy::lru);
  cfg.parallel_probes = false;
  sa_cache<tentry> sa(cfg);
  sa.fill(make_entry(0, false, 2, 0x200000, 1));  // 2M: hash 1, set 1
  auto h = sa.lookup({0, 0x2ff000});              // 4K probe: set (0x2ff & 15) = 15; 64K: set 15+...; 2M: set 1
  ASSERT_TRUE(h);
  EXPECT_EQ(h.set, 1u);
  EXPECT_EQ(h.probes, 3u);
  EXPECT_EQ(h.cycles, 3 * cfg.lookup_cycles);
  sa.fill(make_entry(0, false, 0, 0x2ff000, 2));  // 4K for the same address
  h = sa.lookup({0, 0x2ff000});
  EXPECT_EQ(h.entry->payload, 2u);
  EXPECT_EQ(h.probes, 1u);
  EXPECT_EQ(h.cycles, cfg.lookup_cycles);
  auto m = sa.lookup({0, 0x7000000});
  EXPECT_FALSE(m);
  EXPECT_EQ(m.probes, 3u);
  EXPECT_EQ(m.cycles, 3 * cfg.lookup_cycles);
}

TEST(Cache, ExactCycleCosts) {
  cache_config cfg = geometry(2048, 4, replacement_policy::plru);
  cfg.lookup_cycles = 3;
  cfg.fill_cycles = 5;
  cfg.invalidate_cycles_per_set = 2;
  sa_cache<tentry> c(cfg);
  EXPECT_EQ(c.sets(), 512u);
  EXPECT_EQ(c.lookup({0, 0}).cycles, 3u);  // parallel probes: one lookup
  EXPECT_EQ(c.fill(make_entry(0, false, 0, 0, 0)).cycles, 5u);
  EXPECT_EQ(c.lookup({0, 0}).cycles, 3u);
  EXPECT_EQ(c.invalidate_if([](const tentry &) { return true; }).cycles, 1024u);
  EXPECT_EQ(c.invalidate_all().cycles, 1u);  // flash
  cfg.flash_invalidate = false;
  sa_cache<tentry> d(cfg);
  auto r = d.invalidate_all();
  EXPECT_EQ(r.cycles, 1024u);
  EXPECT_EQ(d.stats().invalidate_sweeps, 1u);
  EXPECT_EQ(c.stats().invalidate_sweeps, 1u);  // flash is not a sweep
  cfg.parallel_probes = false;
  sa_cache<tentry> e(cfg);
  EXPECT_EQ(e.lookup({0, 0}).cycles, 9u);  // miss: three probes
}

TEST(Cache, StatisticsAndReset) {
  sa_cache<tentry> c(geometry(2, 0, replacement_policy::lru));
  c.lookup({0, 0});
  c.fill(make_entry(0, false, 0, 0x0000, 1));
  c.fill(make_entry(0, false, 0, 0x1000, 1));
  c.fill(make_entry(0, false, 0, 0x2000, 1));  // evicts way 0
  c.lookup({0, 0x2000});
  c.invalidate_if([](const tentry &e) { return e.page == 1; });
  const auto &s = c.stats();
  EXPECT_EQ(s.lookups, 2u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.fills, 3u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.invalidations, 1u);
  EXPECT_EQ(s.invalidate_sweeps, 1u);
  c.reset_stats();
  EXPECT_EQ(c.stats().lookups, 0u);
  EXPECT_EQ(c.valid_count(), 1u);  // contents stay
  EXPECT_FALSE(c.valid(5, 0));     // out of range is simply invalid
  EXPECT_EQ(c.at(0, 9), nullptr);
}

// --- geometry errors --------------------------------------------------------------

TEST(Cache, GeometryCheck) {
  cache_config c;
  c.name = "utlb";
  EXPECT_EQ(c.check(), "");
  c.entries = 0;
  EXPECT_NE(c.check().find("entries must be at least 1"), std::string::npos) << c.check();
  EXPECT_EQ(c.check().rfind("utlb: ", 0), 0u);
  c.entries = 48;
  c.ways = 5;
  EXPECT_NE(c.check().find("does not divide"), std::string::npos) << c.check();
  c.ways = 4;  // 12 sets
  EXPECT_NE(c.check().find("not a power of two"), std::string::npos) << c.check();
  c.entries = 24;
  c.ways = 3;  // 8 sets of 3
  EXPECT_EQ(c.check(), "");
  c.policy = replacement_policy::plru;
  EXPECT_NE(c.check().find("plru"), std::string::npos) << c.check();
  c.ways = 0;  // FA 24: still not a power of two for plru
  EXPECT_NE(c.check().find("plru"), std::string::npos);
  c.entries = 32;
  EXPECT_EQ(c.check(), "");
  c.ways = 64;
  EXPECT_NE(c.check().find("exceeds entries"), std::string::npos);
  c.ways = 32;
  c.policy = replacement_policy::random;
  c.random_seed = 0;
  EXPECT_NE(c.check().find("random_seed"), std::string::npos);
  c.random_seed = 1;
  EXPECT_EQ(c.check(), "");
  c.entries = 1u << 30;
  c.ways = 4;
  EXPECT_NE(c.check().find("limit"), std::string::npos);
  c.entries = 0;
  EXPECT_THROW(sa_cache<tentry>{c}, std::invalid_argument);
}

TEST(Cache, PolicyNames) {
  replacement_policy p{};
  for (auto q : all_policies) {
    ASSERT_TRUE(parse_replacement_policy(to_string(q), &p));
    EXPECT_EQ(p, q);
  }
  EXPECT_TRUE(parse_replacement_policy("rr", &p));
  EXPECT_EQ(p, replacement_policy::round_robin);
  EXPECT_FALSE(parse_replacement_policy("fifo", &p));
  EXPECT_FALSE(parse_replacement_policy("LRU", &p));
}

}  // namespace
