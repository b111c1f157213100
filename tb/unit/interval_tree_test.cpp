// SPDX-License-Identifier: MIT
// interval_tree and its span iterators against brute-force models: the node
// list for queries, an explicit interval union (in 128-bit arithmetic, so
// nothing wraps at UINT64_MAX) for spans, and a per-index bitmap that checks
// the union model itself on small ranges.
#include "core/interval_tree.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace iommusim::iommufd {
namespace {

constexpr uint64_t MAX = UINT64_MAX;
__extension__ typedef unsigned __int128 u128;

struct Span {
  int kind; // span iter: 1 hole, 0 used; double: 0 hole, 1 tree 0, 2 tree 1
  uint64_t start, last;
  bool operator==(const Span &) const = default;
};

std::string show(const std::vector<Span> &v) {
  std::string s;
  for (const Span &x : v)
    s += "{" + std::to_string(x.kind) + " " + std::to_string(x.start) + ".." +
         std::to_string(x.last) + "} ";
  return s;
}

// ---------------------------------------------------------------------------
// Models

struct Iv {
  uint64_t start, last;
};

// Union of intervals as half-open [s, e) pieces in 128 bits; pieces that
// overlap or touch are merged.
std::vector<std::pair<u128, u128>> merge(std::vector<Iv> iv) {
  std::sort(iv.begin(), iv.end(), [](const Iv &a, const Iv &b) { return a.start < b.start; });
  std::vector<std::pair<u128, u128>> out;
  for (const Iv &x : iv) {
    const u128 s = x.start, e = u128{x.last} + 1;
    if (!out.empty() && s <= out.back().second)
      out.back().second = std::max(out.back().second, e);
    else
      out.emplace_back(s, e);
  }
  return out;
}

bool covered(const std::vector<std::pair<u128, u128>> &u, u128 x) {
  for (const auto &[s, e] : u)
    if (s <= x && x < e)
      return true;
  return false;
}

std::vector<Span> model_spans(const std::vector<Iv> &iv, uint64_t fi, uint64_t li) {
  std::vector<Span> out;
  if (fi > li)
    return out;
  u128 pos = fi;
  const u128 end = u128{li} + 1;
  for (const auto &[s, e] : merge(iv)) {
    if (e <= pos)
      continue;
    if (s >= end)
      break;
    const u128 cs = std::max(s, pos), ce = std::min(e, end);
    if (cs > pos)
      out.push_back({1, uint64_t(pos), uint64_t(cs - 1)});
    out.push_back({0, uint64_t(cs), uint64_t(ce - 1)});
    pos = ce;
  }
  if (pos < end)
    out.push_back({1, uint64_t(pos), uint64_t(end - 1)});
  return out;
}

// Per-index bitmap version of model_spans, for short ranges only.
std::vector<Span> bitmap_spans(const std::vector<Iv> &iv, uint64_t fi, uint64_t li) {
  std::vector<Span> out;
  for (u128 x = fi; x <= li; ++x) {
    bool used = false;
    for (const Iv &v : iv)
      used |= v.start <= x && x <= v.last;
    const int kind = used ? 0 : 1;
    if (!out.empty() && out.back().kind == kind)
      out.back().last = uint64_t(x);
    else
      out.push_back({kind, uint64_t(x), uint64_t(x)});
  }
  return out;
}

// Maximal runs of: 1 = covered by tree 0, 2 = by tree 1 only, 0 = neither.
std::vector<Span> model_double(const std::vector<Iv> &a, const std::vector<Iv> &b, uint64_t fi,
                               uint64_t li) {
  std::vector<Span> out;
  if (fi > li)
    return out;
  const auto ua = merge(a), ub = merge(b);
  const u128 lo = fi, hi = u128{li} + 1;
  std::vector<u128> cuts{lo, hi};
  for (const auto *u : {&ua, &ub})
    for (const auto &[s, e] : *u)
      for (u128 c : {s, e})
        if (lo < c && c < hi)
          cuts.push_back(c);
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  for (size_t i = 0; i + 1 < cuts.size(); i++) {
    const int kind = covered(ua, cuts[i]) ? 1 : covered(ub, cuts[i]) ? 2 : 0;
    if (!out.empty() && out.back().kind == kind)
      out.back().last = uint64_t(cuts[i + 1] - 1);
    else
      out.push_back({kind, uint64_t(cuts[i]), uint64_t(cuts[i + 1] - 1)});
  }
  return out;
}

std::vector<Span> bitmap_double(const std::vector<Iv> &a, const std::vector<Iv> &b, uint64_t fi,
                                uint64_t li) {
  std::vector<Span> out;
  for (u128 x = fi; x <= li; ++x) {
    auto in = [&](const std::vector<Iv> &iv) {
      for (const Iv &v : iv)
        if (v.start <= x && x <= v.last)
          return true;
      return false;
    };
    const int kind = in(a) ? 1 : in(b) ? 2 : 0;
    if (!out.empty() && out.back().kind == kind)
      out.back().last = uint64_t(x);
    else
      out.push_back({kind, uint64_t(x), uint64_t(x)});
  }
  return out;
}

// ---------------------------------------------------------------------------
// Running the iterators

std::vector<Span> run_spans(const interval_tree &t, uint64_t fi, uint64_t li) {
  std::vector<Span> out;
  interval_tree_span_iter it;
  for (it.first(t, fi, li); !it.done(); it.next()) {
    if (it.is_hole == 1)
      out.push_back({1, it.start_hole, it.last_hole});
    else
      out.push_back({0, it.start_used, it.last_used});
    if (out.size() > 100000)
      break; // a runaway walk fails below instead of hanging
  }
  return out;
}

std::vector<Span> run_double(const interval_tree &a, const interval_tree &b, uint64_t fi,
                             uint64_t li) {
  std::vector<Span> out;
  interval_tree_double_span_iter it;
  for (it.first(a, b, fi, li); !it.done(); it.next()) {
    if (it.is_used == 0)
      out.push_back({0, it.start_hole, it.last_hole});
    else
      out.push_back({it.is_used, it.start_used, it.last_used});
    if (out.size() > 100000)
      break;
  }
  return out;
}

// ---------------------------------------------------------------------------
// A tree of pooled nodes next to its model

struct Harness {
  std::vector<interval_tree_node> pool;
  std::vector<uint64_t> seq; // insertion stamp of each pooled node
  uint64_t stamp = 0;
  interval_tree tree;

  explicit Harness(size_t n) : pool(n), seq(n) {}

  void insert(size_t i, uint64_t s, uint64_t l) {
    pool[i].start = s;
    pool[i].last = l;
    tree.insert(&pool[i]);
    seq[i] = stamp++;
  }
  void remove(size_t i) { tree.remove(&pool[i]); }

  std::vector<Iv> intervals() const {
    std::vector<Iv> v;
    for (const auto &n : pool)
      if (n.in_tree())
        v.push_back({n.start, n.last});
    return v;
  }

  // Nodes intersecting [s, l] in the order the tree must return them.
  std::vector<const interval_tree_node *> expect_query(uint64_t s, uint64_t l) const {
    std::vector<size_t> idx;
    for (size_t i = 0; i < pool.size(); i++)
      if (pool[i].in_tree() && pool[i].start <= l && pool[i].last >= s)
        idx.push_back(i);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      if (pool[a].start != pool[b].start)
        return pool[a].start < pool[b].start;
      return seq[a] < seq[b];
    });
    std::vector<const interval_tree_node *> out;
    for (size_t i : idx)
      out.push_back(&pool[i]);
    return out;
  }

  std::vector<const interval_tree_node *> query(uint64_t s, uint64_t l) const {
    std::vector<const interval_tree_node *> out;
    for (auto *n = tree.iter_first(s, l); n; n = interval_tree::iter_next(n, s, l)) {
      out.push_back(n);
      if (out.size() > pool.size())
        break;
    }
    return out;
  }
};

// Random intervals and query ranges, drawn from one of several regions.
struct Gen {
  std::mt19937_64 rng;
  int mode;
  Gen(uint64_t seed, int m) : rng(seed), mode(m) {}

  uint64_t below(uint64_t n) { return n ? rng() % n : 0; } // [0, n)
  uint64_t length() {
    switch (below(6)) {
    case 0:
      return 0;
    case 1:
      return below(4);
    case 2:
      return below(40);
    case 3:
      return below(400);
    case 4:
      return rng() >> below(64);
    default:
      return below(16);
    }
  }
  uint64_t point() {
    switch (mode) {
    case 0:
      return below(64);
    case 1:
      return below(2000);
    case 2:
      return MAX - below(2000);
    default:
      switch (below(5)) {
      case 0:
        return below(1000);
      case 1:
        return MAX - below(1000);
      case 2:
        return (uint64_t{1} << below(64)) + below(3) - 1;
      default:
        return rng();
      }
    }
  }
  Iv interval() {
    const uint64_t s = point();
    if (mode == 0) // stay inside the 64-index universe the bitmap checks
      return {s, std::min<uint64_t>(63, s + below(8))};
    const uint64_t len = length();
    return {s, len > MAX - s ? MAX : s + len};
  }
  Iv range() {
    switch (below(8)) {
    case 0:
      return {0, MAX};
    case 1: {
      const uint64_t p = point();
      return {p, p};
    }
    default: {
      if (mode == 0) {
        const uint64_t a = below(70), b = below(70);
        return {std::min(a, b), std::max(a, b)};
      }
      Iv r = interval();
      if (below(3) == 0) // widen so ranges often span several nodes
        r.last = r.last > MAX - 5000 ? MAX : r.last + below(5000);
      return r;
    }
    }
  }
};

void expect_spans_match(const Harness &h, uint64_t fi, uint64_t li) {
  const auto iv = h.intervals();
  const auto want = model_spans(iv, fi, li);
  if (li - fi < 512) { // the union model must agree with plain per-index truth
    ASSERT_EQ(want, bitmap_spans(iv, fi, li)) << "model bug";
  }
  ASSERT_EQ(run_spans(h.tree, fi, li), want)
      << "range " << fi << ".." << li << " want " << show(want);
}

// Walk [fi, li] mixing next() with advance() to random places; the span
// shown must always be the first span of a fresh walk from where we are.
void check_advance(const Harness &h, Gen &g, uint64_t fi, uint64_t li) {
  const auto iv = h.intervals();
  interval_tree_span_iter it;
  it.first(h.tree, fi, li);
  u128 pos = fi;
  for (int step = 0; step < 200; step++) {
    if (pos > li) {
      ASSERT_TRUE(it.done()) << "pos " << uint64_t(pos);
      break;
    }
    const auto want = model_spans(iv, uint64_t(pos), li);
    ASSERT_FALSE(it.done());
    const Span got = it.is_hole ? Span{1, it.start_hole, it.last_hole}
                                : Span{0, it.start_used, it.last_used};
    ASSERT_EQ(got, want.front()) << "pos " << uint64_t(pos);
    uint64_t x;
    switch (g.below(8)) {
    case 0: // inside the current span
      x = got.start + g.below(got.last - got.start);
      if (g.below(4) == 0)
        x = got.last;
      break;
    case 1: // just past it: the cheap path
      if (got.last == MAX) {
        x = MAX;
        break;
      }
      x = got.last + 1;
      break;
    case 2: // anywhere in the range, possibly backwards
      x = fi + g.below(li - fi) + (li - fi == MAX ? 0 : g.below(2));
      break;
    case 3: // past the end
      x = li == MAX ? MAX : li + 1 + g.below(3);
      break;
    case 4:
      x = g.point();
      break;
    default:
      it.next();
      pos = u128{got.last} + 1;
      continue;
    }
    it.advance(h.tree, x);
    pos = x;
  }
}

// ---------------------------------------------------------------------------
// Hand-written cases

TEST(IntervalTree, EmptyTree) {
  interval_tree t;
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.check());
  EXPECT_EQ(t.iter_first(0, MAX), nullptr);
  EXPECT_EQ(run_spans(t, 0, MAX), (std::vector<Span>{{1, 0, MAX}}));
  EXPECT_EQ(run_spans(t, MAX, MAX), (std::vector<Span>{{1, MAX, MAX}}));
  EXPECT_EQ(run_spans(t, 7, 7), (std::vector<Span>{{1, 7, 7}}));
  EXPECT_EQ(run_double(t, t, 0, MAX), (std::vector<Span>{{0, 0, MAX}}));
}

TEST(IntervalTree, InTreeAndAggregateInit) {
  interval_tree_node n{.start = 3, .last = 9};
  EXPECT_FALSE(n.in_tree());
  interval_tree t;
  t.insert(&n);
  EXPECT_TRUE(n.in_tree());
  EXPECT_FALSE(t.empty());
  EXPECT_EQ(t.size(), 1u);
  t.remove(&n);
  EXPECT_FALSE(n.in_tree());
  EXPECT_TRUE(t.empty());
  t.insert(&n); // a removed node can go back in
  EXPECT_EQ(t.iter_first(9, 9), &n);
  t.remove(&n);
}

TEST(IntervalTree, SinglePoint) {
  interval_tree t;
  interval_tree_node n{.start = 5, .last = 5};
  t.insert(&n);
  EXPECT_EQ(t.iter_first(5, 5), &n);
  EXPECT_EQ(t.iter_first(0, 5), &n);
  EXPECT_EQ(t.iter_first(5, MAX), &n);
  EXPECT_EQ(t.iter_first(0, 4), nullptr);
  EXPECT_EQ(t.iter_first(6, MAX), nullptr);
  EXPECT_EQ(interval_tree::iter_next(&n, 0, MAX), nullptr);
  EXPECT_EQ(run_spans(t, 0, 10), (std::vector<Span>{{1, 0, 4}, {0, 5, 5}, {1, 6, 10}}));
  EXPECT_EQ(run_spans(t, 5, 5), (std::vector<Span>{{0, 5, 5}}));
  EXPECT_EQ(run_spans(t, 5, 9), (std::vector<Span>{{0, 5, 5}, {1, 6, 9}}));
  EXPECT_EQ(run_spans(t, 0, 5), (std::vector<Span>{{1, 0, 4}, {0, 5, 5}}));
  t.remove(&n);
}

TEST(IntervalTree, IdenticalIntervalsKeepInsertionOrder) {
  interval_tree t;
  interval_tree_node a{.start = 10, .last = 20}, b = a, c = a, d{.start = 10, .last = 11};
  for (auto *n : {&a, &b, &c, &d})
    t.insert(n);
  auto order = [&] {
    std::vector<interval_tree_node *> v;
    for (auto *n = t.iter_first(0, MAX); n; n = interval_tree::iter_next(n, 0, MAX))
      v.push_back(n);
    return v;
  };
  EXPECT_EQ(order(), (std::vector<interval_tree_node *>{&a, &b, &c, &d}));
  t.remove(&b);
  EXPECT_EQ(order(), (std::vector<interval_tree_node *>{&a, &c, &d}));
  t.insert(&b);
  EXPECT_EQ(order(), (std::vector<interval_tree_node *>{&a, &c, &d, &b}));
  // A query that only the long ones reach skips d.
  std::vector<interval_tree_node *> hits;
  for (auto *n = t.iter_first(15, 15); n; n = interval_tree::iter_next(n, 15, 15))
    hits.push_back(n);
  EXPECT_EQ(hits, (std::vector<interval_tree_node *>{&a, &c, &b}));
  EXPECT_EQ(run_spans(t, 0, 30), (std::vector<Span>{{1, 0, 9}, {0, 10, 20}, {1, 21, 30}}));
  EXPECT_TRUE(t.check());
  for (auto *n : {&a, &b, &c, &d})
    t.remove(n);
}

TEST(IntervalTree, TouchingIntervalsMergeIntoOneUsedSpan) {
  interval_tree t;
  interval_tree_node a{.start = 0, .last = 4}, b{.start = 5, .last = 9}, c{.start = 11, .last = 12};
  t.insert(&b);
  t.insert(&a);
  t.insert(&c);
  EXPECT_EQ(run_spans(t, 0, 20),
            (std::vector<Span>{{0, 0, 9}, {1, 10, 10}, {0, 11, 12}, {1, 13, 20}}));
  EXPECT_EQ(run_spans(t, 3, 11), (std::vector<Span>{{0, 3, 9}, {1, 10, 10}, {0, 11, 11}}));
  // A long node swallowing later short ones still ends the run at its end.
  interval_tree_node big{.start = 1, .last = 15};
  t.insert(&big);
  EXPECT_EQ(run_spans(t, 0, 20), (std::vector<Span>{{0, 0, 15}, {1, 16, 20}}));
  for (auto *n : {&a, &b, &c, &big})
    t.remove(n);
}

TEST(IntervalTree, TopOfTheIndexSpace) {
  interval_tree t;
  interval_tree_node top{.start = MAX, .last = MAX}, below{.start = MAX - 1, .last = MAX - 1};
  t.insert(&top);
  EXPECT_EQ(t.iter_first(MAX, MAX), &top);
  EXPECT_EQ(t.iter_first(0, MAX - 1), nullptr);
  EXPECT_EQ(run_spans(t, MAX - 2, MAX), (std::vector<Span>{{1, MAX - 2, MAX - 1}, {0, MAX, MAX}}));
  EXPECT_EQ(run_spans(t, 0, MAX), (std::vector<Span>{{1, 0, MAX - 1}, {0, MAX, MAX}}));
  EXPECT_EQ(run_spans(t, MAX, MAX), (std::vector<Span>{{0, MAX, MAX}}));
  t.insert(&below); // touching right at the top
  EXPECT_EQ(run_spans(t, 0, MAX), (std::vector<Span>{{1, 0, MAX - 2}, {0, MAX - 1, MAX}}));
  t.remove(&top);
  EXPECT_EQ(run_spans(t, 0, MAX),
            (std::vector<Span>{{1, 0, MAX - 2}, {0, MAX - 1, MAX - 1}, {1, MAX, MAX}}));
  interval_tree_node all{.start = 0, .last = MAX};
  t.insert(&all);
  EXPECT_EQ(run_spans(t, 0, MAX), (std::vector<Span>{{0, 0, MAX}}));
  EXPECT_EQ(run_spans(t, 17, MAX), (std::vector<Span>{{0, 17, MAX}}));
  t.remove(&all);
  t.remove(&below);
}

TEST(IntervalTree, EmptyRangeIsDone) {
  interval_tree t;
  interval_tree_node n{.start = 0, .last = 100};
  t.insert(&n);
  interval_tree_span_iter it;
  it.first(t, 50, 10);
  EXPECT_TRUE(it.done());
  interval_tree_double_span_iter d;
  d.first(t, t, 50, 10);
  EXPECT_TRUE(d.done());
  t.remove(&n);
}

TEST(IntervalTree, AdvanceCases) {
  interval_tree t;
  interval_tree_node a{.start = 10, .last = 19}, b{.start = 30, .last = 39};
  t.insert(&a);
  t.insert(&b);
  interval_tree_span_iter it;
  it.first(t, 0, 100);
  ASSERT_EQ(it.is_hole, 1);
  it.advance(t, 5); // inside the hole
  EXPECT_EQ((Span{it.is_hole, it.start_hole, it.last_hole}), (Span{1, 5, 9}));
  it.advance(t, 10); // just past it
  EXPECT_EQ((Span{it.is_hole, it.start_used, it.last_used}), (Span{0, 10, 19}));
  it.advance(t, 35); // skips a hole
  EXPECT_EQ((Span{it.is_hole, it.start_used, it.last_used}), (Span{0, 35, 39}));
  it.advance(t, 12); // backwards restarts
  EXPECT_EQ((Span{it.is_hole, it.start_used, it.last_used}), (Span{0, 12, 19}));
  it.advance(t, 101);
  EXPECT_TRUE(it.done());
  it.advance(t, 0); // done stays done
  EXPECT_TRUE(it.done());

  // The current span ends at UINT64_MAX, so last + 1 wraps to 0; advancing
  // to 0 must restart there rather than take the "just past" path.
  it.first(t, 0, MAX);
  while (!it.done() && it.last_hole != MAX)
    it.next();
  ASSERT_EQ((Span{it.is_hole, it.start_hole, it.last_hole}), (Span{1, 40, MAX}));
  it.advance(t, 0);
  EXPECT_EQ((Span{it.is_hole, it.start_hole, it.last_hole}), (Span{1, 0, 9}));
  it.advance(t, MAX);
  EXPECT_EQ((Span{it.is_hole, it.start_hole, it.last_hole}), (Span{1, MAX, MAX}));
  it.next();
  EXPECT_TRUE(it.done());
  t.remove(&a);
  t.remove(&b);
}

TEST(IntervalTree, DoubleSpanCases) {
  interval_tree t0, t1;
  interval_tree_node a{.start = 10, .last = 19}, b{.start = 0, .last = 29},
      c{.start = 50, .last = 59}, d{.start = 60, .last = 64}, e{.start = MAX - 5, .last = MAX};
  t0.insert(&a);
  t1.insert(&b);
  EXPECT_EQ(run_double(t0, t1, 0, 39),
            (std::vector<Span>{{2, 0, 9}, {1, 10, 19}, {2, 20, 29}, {0, 30, 39}}));
  EXPECT_EQ(run_double(t1, t0, 0, 39), (std::vector<Span>{{1, 0, 29}, {0, 30, 39}}));
  // Tree 0 ending where tree 1 starts: two used spans back to back.
  t0.insert(&c);
  t1.insert(&d);
  EXPECT_EQ(run_double(t0, t1, 45, 70),
            (std::vector<Span>{{0, 45, 49}, {1, 50, 59}, {2, 60, 64}, {0, 65, 70}}));
  t1.insert(&e);
  EXPECT_EQ(run_double(t0, t1, MAX - 10, MAX),
            (std::vector<Span>{{0, MAX - 10, MAX - 6}, {2, MAX - 5, MAX}}));
  EXPECT_EQ(run_double(t1, t0, MAX, MAX), (std::vector<Span>{{1, MAX, MAX}}));
  EXPECT_EQ(run_double(t0, t1, 15, 15), (std::vector<Span>{{1, 15, 15}}));
  t0.remove(&a);
  t0.remove(&c);
  t1.remove(&b);
  t1.remove(&d);
  t1.remove(&e);
}

// ---------------------------------------------------------------------------
// Randomised against the models

class IntervalTreeRandom : public ::testing::TestWithParam<int> {};

TEST_P(IntervalTreeRandom, OpsQueriesAndSpans) {
  const int mode = GetParam();
  for (uint64_t seed = 1; seed <= 40; seed++) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " mode " + std::to_string(mode));
    Gen g(seed * 7919 + mode, mode);
    Harness h(mode == 0 ? 40 : 160);
    const size_t n = h.pool.size();
    const int ops = 1500;
    for (int op = 0; op < ops; op++) {
      const size_t i = g.below(n);
      const uint64_t what = g.below(10);
      if (what < 4) {
        if (h.pool[i].in_tree())
          h.remove(i);
        const Iv v = g.interval();
        h.insert(i, v.start, v.last);
      } else if (what < 6) {
        if (h.pool[i].in_tree())
          h.remove(i);
      } else if (what < 8) {
        const Iv r = g.range();
        ASSERT_EQ(h.query(r.start, r.last), h.expect_query(r.start, r.last))
            << "query " << r.start << ".." << r.last;
      } else if (what < 9) {
        const Iv r = g.range();
        ASSERT_NO_FATAL_FAILURE(expect_spans_match(h, r.start, r.last));
      } else {
        const Iv r = g.range();
        ASSERT_NO_FATAL_FAILURE(check_advance(h, g, r.start, r.last));
      }
      ASSERT_EQ(h.tree.size(), h.intervals().size());
      ASSERT_EQ(h.tree.empty(), h.intervals().empty());
      if (op % 50 == 0) {
        ASSERT_TRUE(h.tree.check());
      }
    }
    ASSERT_TRUE(h.tree.check());
    ASSERT_NO_FATAL_FAILURE(expect_spans_match(h, 0, MAX));
    // Drain in random order.
    std::vector<size_t> live;
    for (size_t i = 0; i < n; i++)
      if (h.pool[i].in_tree())
        live.push_back(i);
    std::shuffle(live.begin(), live.end(), g.rng);
    for (size_t i : live) {
      h.remove(i);
      ASSERT_FALSE(h.pool[i].in_tree());
    }
    ASSERT_TRUE(h.tree.empty());
    ASSERT_TRUE(h.tree.check());
  }
}

TEST_P(IntervalTreeRandom, DoubleSpan) {
  const int mode = GetParam();
  for (uint64_t seed = 1; seed <= 60; seed++) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " mode " + std::to_string(mode));
    Gen g(seed * 104729 + mode, mode);
    Harness h0(mode == 0 ? 12 : 60), h1(mode == 0 ? 12 : 60);
    for (int op = 0; op < 300; op++) {
      Harness &h = g.below(2) ? h0 : h1;
      const size_t i = g.below(h.pool.size());
      if (h.pool[i].in_tree())
        h.remove(i);
      if (g.below(4)) {
        const Iv v = g.interval();
        h.insert(i, v.start, v.last);
      }
      const Iv r = g.range();
      const auto a = h0.intervals(), b = h1.intervals();
      const auto want = model_double(a, b, r.start, r.last);
      if (r.last - r.start < 512) {
        ASSERT_EQ(want, bitmap_double(a, b, r.start, r.last)) << "model bug";
      }
      ASSERT_EQ(run_double(h0.tree, h1.tree, r.start, r.last), want)
          << "range " << r.start << ".." << r.last << " want " << show(want);
    }
    for (Harness *h : {&h0, &h1})
      for (size_t i = 0; i < h->pool.size(); i++)
        if (h->pool[i].in_tree())
          h->remove(i);
  }
}

std::string region_name(const ::testing::TestParamInfo<int> &info) {
  static const char *const names[] = {"Tiny", "NearZero", "NearMax", "Mixed"};
  return names[info.param];
}
INSTANTIATE_TEST_SUITE_P(Regions, IntervalTreeRandom, ::testing::Values(0, 1, 2, 3), region_name);

// Many nodes: balance holds under sequential and random workloads, and the
// query answers stay right at scale.
TEST(IntervalTree, LargeTree) {
  constexpr size_t N = 200000;
  std::mt19937_64 rng(42);
  std::vector<interval_tree_node> nodes(N);
  interval_tree t;
  // Sequential, non-overlapping areas like an IOVA allocator produces.
  for (size_t i = 0; i < N; i++) {
    nodes[i].start = i * 0x1000;
    nodes[i].last = i * 0x1000 + 0xfff - (i % 3 == 0 ? 0x800 : 0);
    t.insert(&nodes[i]);
  }
  ASSERT_EQ(t.size(), N);
  ASSERT_TRUE(t.check());
  for (int q = 0; q < 2000; q++) {
    const uint64_t p = rng() % (N * 0x1000);
    interval_tree_node *n = t.iter_first(p, p);
    const size_t i = p / 0x1000;
    ASSERT_EQ(n, p <= nodes[i].last ? &nodes[i] : nullptr);
  }
  size_t spans = 0;
  interval_tree_span_iter it;
  for (it.first(t, 0, MAX); !it.done(); it.next())
    spans++;
  // A used run ends after every third area (a gap follows) and at the last
  // one; each run is followed by a hole, the last by the trailing hole.
  size_t runs = 1;
  for (size_t i = 0; i + 1 < N; i++)
    runs += i % 3 == 0;
  EXPECT_EQ(spans, 2 * runs);
  // Remove every other node, then the rest in random order.
  for (size_t i = 0; i < N; i += 2)
    t.remove(&nodes[i]);
  ASSERT_TRUE(t.check());
  std::vector<size_t> rest;
  for (size_t i = 1; i < N; i += 2)
    rest.push_back(i);
  std::shuffle(rest.begin(), rest.end(), rng);
  for (size_t k = 0; k < rest.size(); k++) {
    t.remove(&nodes[rest[k]]);
    if (k == rest.size() / 2) {
      ASSERT_TRUE(t.check());
    }
  }
  ASSERT_TRUE(t.empty());
  // Random overlapping intervals.
  for (auto &n : nodes) {
    n.start = rng() >> 20;
    n.last = n.start + (rng() >> 44);
    t.insert(&n);
  }
  ASSERT_TRUE(t.check());
  for (int q = 0; q < 200; q++) {
    const uint64_t s = rng() >> 20, l = s + (rng() >> 40);
    size_t want = 0;
    for (const auto &n : nodes)
      want += n.start <= l && n.last >= s;
    size_t got = 0;
    uint64_t prev = 0;
    for (auto *n = t.iter_first(s, l); n; n = interval_tree::iter_next(n, s, l)) {
      ASSERT_TRUE(n->start <= l && n->last >= s);
      ASSERT_GE(n->start, prev);
      prev = n->start;
      got++;
    }
    ASSERT_EQ(got, want);
  }
  for (auto &n : nodes)
    t.remove(&n);
  EXPECT_TRUE(t.empty());
  EXPECT_TRUE(t.check());
}

} // namespace
} // namespace iommusim::iommufd
