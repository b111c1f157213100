// SPDX-License-Identifier: MIT
// sparse_array against std::map: random store/erase/load/for_each over
// dense, clustered and full-range 64-bit indices, plus memory accounting
// (every node freed once the entries above it are gone).
#include "core/sparse_array.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace iommusim::iommufd {
namespace {

constexpr uint64_t MAX = UINT64_MAX;

template <class T>
std::vector<std::pair<uint64_t, T>> collect(const sparse_array<T> &a, uint64_t first,
                                            uint64_t last, size_t limit = SIZE_MAX) {
  std::vector<std::pair<uint64_t, T>> out;
  a.for_each(first, last, [&](uint64_t i, const T &v) {
    out.emplace_back(i, v);
    return out.size() < limit;
  });
  return out;
}

template <class T>
std::vector<std::pair<uint64_t, T>> model_range(const std::map<uint64_t, T> &m, uint64_t first,
                                                uint64_t last, size_t limit = SIZE_MAX) {
  std::vector<std::pair<uint64_t, T>> out;
  if (first > last)
    return out;
  for (auto it = m.lower_bound(first); it != m.end() && it->first <= last && out.size() < limit;
       ++it)
    out.emplace_back(*it);
  return out;
}

TEST(SparseArray, Basics) {
  sparse_array<> a;
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.memory_bytes(), 0u);
  EXPECT_EQ(a.load(0), 0u);
  EXPECT_EQ(a.load(MAX), 0u);
  EXPECT_EQ(a.erase(12345), 0u);
  EXPECT_EQ(a.memory_bytes(), 0u);

  EXPECT_EQ(a.store(7, 70), 0u);
  EXPECT_EQ(a.load(7), 70u);
  EXPECT_EQ(a.count(), 1u);
  EXPECT_FALSE(a.empty());
  EXPECT_GT(a.memory_bytes(), 0u);
  EXPECT_EQ(a.store(7, 71), 70u); // replace keeps the count
  EXPECT_EQ(a.count(), 1u);
  EXPECT_EQ(a.store(7, 0), 71u); // storing the empty value erases
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.memory_bytes(), 0u);
  EXPECT_EQ(a.store(7, 0), 0u);
  EXPECT_EQ(a.memory_bytes(), 0u);

  a.store(1, 10);
  a.store(2, 20);
  EXPECT_EQ(a.erase(1), 10u);
  EXPECT_EQ(a.erase(1), 0u);
  EXPECT_EQ(a.count(), 1u);
  a.clear();
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.load(2), 0u);
  EXPECT_EQ(a.memory_bytes(), 0u);
}

TEST(SparseArray, HugeIndices) {
  sparse_array<> a;
  const std::vector<uint64_t> idx = {0,
                                     1,
                                     511,
                                     512,
                                     (1ULL << 15) - 1,
                                     1ULL << 15,
                                     (1ULL << 53) - 1,
                                     1ULL << 53,
                                     (1ULL << 63) - 1,
                                     1ULL << 63,
                                     MAX - 512,
                                     MAX - 511,
                                     MAX - 1,
                                     MAX};
  std::map<uint64_t, uint64_t> m;
  for (uint64_t i : idx) {
    a.store(i, i ^ 0x5a5a);
    m[i] = i ^ 0x5a5a;
  }
  for (uint64_t i : idx)
    EXPECT_EQ(a.load(i), i ^ 0x5a5a) << i;
  EXPECT_EQ(a.load(2), 0u);
  EXPECT_EQ(a.load(MAX - 2), 0u);
  EXPECT_EQ(a.load(1ULL << 62), 0u);
  EXPECT_EQ(a.count(), idx.size());
  EXPECT_EQ(collect(a, 0, MAX), model_range(m, 0, MAX));
  EXPECT_EQ(collect(a, MAX, MAX), model_range(m, MAX, MAX));
  EXPECT_EQ(collect(a, 1ULL << 53, MAX - 1), model_range(m, 1ULL << 53, MAX - 1));
  EXPECT_EQ(collect(a, 2, 510), model_range(m, 2, 510));
  EXPECT_TRUE(collect(a, 10, 5).empty());
  for (uint64_t i : idx)
    EXPECT_EQ(a.erase(i), i ^ 0x5a5a);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.memory_bytes(), 0u);
}

// After the big entries go, the root shrinks back: the memory equals that of
// an array that only ever held the small ones.
TEST(SparseArray, HeightShrinksBack) {
  sparse_array<> small, a;
  small.store(3, 1);
  a.store(3, 1);
  a.store(MAX, 2);
  a.store(1ULL << 40, 3);
  EXPECT_GT(a.memory_bytes(), small.memory_bytes());
  a.erase(MAX);
  a.erase(1ULL << 40);
  EXPECT_EQ(a.memory_bytes(), small.memory_bytes());
  EXPECT_EQ(a.load(3), 1u);
}

TEST(SparseArray, DenseCostsAboutEightBytesAnEntry) {
  sparse_array<> a;
  constexpr uint64_t N = 1 << 20, base = 0x12345ULL << 24;
  for (uint64_t i = 0; i < N; i++)
    a.store(base + i, i + 1);
  EXPECT_EQ(a.count(), N);
  EXPECT_LT(double(a.memory_bytes()) / N, 8.25);
  for (uint64_t i = 0; i < N; i += 4099)
    ASSERT_EQ(a.load(base + i), i + 1);
  uint64_t expect = 0;
  a.for_each(0, MAX, [&](uint64_t i, const uint64_t &v) {
    EXPECT_EQ(i, base + expect);
    EXPECT_EQ(v, expect + 1);
    expect++;
    return true;
  });
  EXPECT_EQ(expect, N);
  for (uint64_t i = 0; i < N; i++)
    ASSERT_EQ(a.erase(base + (i * 7919) % N), (i * 7919) % N + 1); // 7919 is prime: a permutation
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.memory_bytes(), 0u);
}

TEST(SparseArray, ForEachMayModifyAndErase) {
  sparse_array<> a;
  std::map<uint64_t, uint64_t> m;
  for (uint64_t i = 0; i < 3000; i += 3) {
    a.store(i, i + 1);
    m[i] = i + 1;
  }
  // Double every value below 1000, drop (set to empty) those in [1000, 2500].
  a.for_each(0, MAX, [&](uint64_t i, uint64_t &v) {
    if (i < 1000)
      v *= 2;
    else if (i <= 2500)
      v = 0;
    return true;
  });
  for (auto it = m.begin(); it != m.end();) {
    if (it->first < 1000) {
      it->second *= 2;
      ++it;
    } else if (it->first <= 2500) {
      it = m.erase(it);
    } else {
      ++it;
    }
  }
  EXPECT_EQ(a.count(), m.size());
  EXPECT_EQ(collect(a, 0, MAX), model_range(m, 0, MAX));
  // Emptying whole leaves this way frees them.
  a.for_each(0, MAX, [](uint64_t, uint64_t &v) {
    v = 0;
    return true;
  });
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.memory_bytes(), 0u);
}

TEST(SparseArray, ForEachStops) {
  sparse_array<> a;
  for (uint64_t i = 100; i < 5000; i += 7)
    a.store(i, i);
  int calls = 0;
  a.for_each(0, MAX, [&](uint64_t, uint64_t &) { return ++calls < 5; });
  EXPECT_EQ(calls, 5);
  calls = 0;
  a.for_each(0, 99, [&](uint64_t, uint64_t &) { return ++calls > 0; });
  EXPECT_EQ(calls, 0);
}

TEST(SparseArray, MoveAndSwap) {
  sparse_array<> a;
  a.store(5, 50);
  a.store(1ULL << 50, 60);
  const size_t bytes = a.memory_bytes();
  sparse_array<> b(std::move(a));
  EXPECT_EQ(b.load(5), 50u);
  EXPECT_EQ(b.load(1ULL << 50), 60u);
  EXPECT_EQ(b.memory_bytes(), bytes);
  EXPECT_TRUE(a.empty()); // NOLINT(bugprone-use-after-move): defined empty
  EXPECT_EQ(a.memory_bytes(), 0u);
  a.store(9, 90);
  a = std::move(b);
  EXPECT_EQ(a.load(5), 50u);
  EXPECT_EQ(a.load(9), 0u);
  EXPECT_EQ(a.count(), 2u);
}

struct Pair {
  uint32_t lo = 0, hi = 0;
  bool operator==(const Pair &) const = default;
};
struct Raw { // no operator==: compared by bytes
  uint64_t v = 0;
};

TEST(SparseArray, OtherValueTypes) {
  sparse_array<Pair> p;
  EXPECT_EQ(p.store(10, Pair{1, 0}), Pair{});
  EXPECT_EQ(p.store(11, Pair{0, 2}), Pair{});
  EXPECT_EQ(p.count(), 2u);
  EXPECT_EQ(p.store(10, Pair{}), (Pair{1, 0}));
  EXPECT_EQ(p.count(), 1u);
  EXPECT_EQ(p.load(11), (Pair{0, 2}));

  sparse_array<Raw> r;
  r.store(1ULL << 60, Raw{5});
  EXPECT_EQ(r.load(1ULL << 60).v, 5u);
  EXPECT_EQ(r.count(), 1u);
  r.store(1ULL << 60, Raw{});
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.memory_bytes(), 0u);

  sparse_array<uint8_t> b;
  for (uint64_t i = 0; i < 2000; i++)
    b.store(i * 3, uint8_t(i % 255 + 1));
  EXPECT_EQ(b.count(), 2000u);
  EXPECT_EQ(b.load(3 * 1999), uint8_t(1999 % 255 + 1));
}

// A store that runs out of memory part-way (new root levels made, inner
// nodes made, then the leaf fails) must leave the array exactly as it was.
TEST(SparseArray, BadAllocLeavesArrayUnchanged) {
  std::mt19937_64 rng(9);
  int failures = 0;
  for (int round = 0; round < 300; round++) {
    sparse_array<> a;
    std::map<uint64_t, uint64_t> m;
    const int prior = int(rng() % 6);
    for (int k = 0; k < prior; k++) {
      const uint64_t i = rng() >> (rng() % 64);
      a.store(i, k + 1);
      m[i] = k + 1;
    }
    const size_t bytes = a.memory_bytes();
    const uint64_t target = rng() % 2 ? rng() : rng() >> (rng() % 64);
    sparse_array_fail_alloc_countdown = long(1 + rng() % 12);
    bool threw = false;
    try {
      a.store(target, 77);
    } catch (const std::bad_alloc &) {
      threw = true;
    }
    sparse_array_fail_alloc_countdown = 0;
    if (threw) {
      failures++;
      ASSERT_EQ(a.memory_bytes(), bytes) << "round " << round;
      ASSERT_EQ(a.count(), m.size());
      ASSERT_EQ(a.load(target), m.count(target) ? m[target] : 0);
    } else {
      m[target] = 77;
    }
    ASSERT_EQ(collect(a, 0, MAX), model_range(m, 0, MAX)) << "round " << round;
    // The array still works normally afterwards.
    a.store(target, 78);
    ASSERT_EQ(a.load(target), 78u);
    a.clear();
    ASSERT_EQ(a.memory_bytes(), 0u);
  }
  EXPECT_GT(failures, 100); // the failure path really ran
}

// ---------------------------------------------------------------------------
// Randomised against std::map

class SparseArrayRandom : public ::testing::TestWithParam<int> {};

TEST_P(SparseArrayRandom, MatchesMap) {
  const int mode = GetParam();
  for (uint64_t seed = 1; seed <= 30; seed++) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " mode " + std::to_string(mode));
    std::mt19937_64 rng(seed * 31337 + mode);
    auto below = [&](uint64_t n) { return rng() % n; };
    // A few cluster centres, some at the top of the range, one on a
    // leaf/inner boundary.
    std::vector<uint64_t> bases = {0, MAX - 3000, (1ULL << 53) - 1500, (1ULL << 33) - 700};
    for (int i = 0; i < 4; i++)
      bases.push_back(rng());
    auto index = [&]() -> uint64_t {
      switch (mode) {
      case 0:
        return below(5000);
      case 1: {
        const uint64_t b = bases[below(bases.size())], off = below(6000);
        return off > MAX - b ? MAX - below(10) : b + off;
      }
      default:
        switch (below(4)) {
        case 0:
          return rng();
        case 1:
          return rng() >> below(64);
        case 2:
          return MAX - below(100);
        default:
          return below(100);
        }
      }
    };
    sparse_array<> a;
    std::map<uint64_t, uint64_t> m;
    auto some_key = [&]() -> uint64_t {
      if (m.empty() || below(3) == 0)
        return index();
      auto it = m.lower_bound(index());
      return it == m.end() ? m.begin()->first : it->first;
    };
    for (int op = 0; op < 4000; op++) {
      switch (below(12)) {
      case 0: case 1: case 2: case 3: {
        const uint64_t i = index();
        const uint64_t v = below(10) == 0 ? 0 : rng() | 1;
        const uint64_t old = m.count(i) ? m[i] : 0;
        ASSERT_EQ(a.store(i, v), old) << "store " << i;
        if (v)
          m[i] = v;
        else
          m.erase(i);
        break;
      }
      case 4: case 5: {
        const uint64_t i = some_key();
        const uint64_t old = m.count(i) ? m[i] : 0;
        ASSERT_EQ(a.erase(i), old) << "erase " << i;
        m.erase(i);
        break;
      }
      case 6: case 7: {
        const uint64_t i = some_key();
        ASSERT_EQ(a.load(i), m.count(i) ? m.at(i) : 0) << "load " << i;
        break;
      }
      case 8: case 9: {
        uint64_t f = index(), l = index();
        if (f > l && below(4))
          std::swap(f, l);
        if (below(8) == 0)
          l = MAX;
        const size_t limit = below(3) == 0 ? 1 + below(20) : SIZE_MAX;
        ASSERT_EQ(collect(a, f, l, limit), model_range(m, f, l, limit))
            << "for_each " << f << ".." << l;
        break;
      }
      case 10: {
        // Mutating walk over a range: rewrite some values, empty others.
        uint64_t f = index(), l = index();
        if (f > l)
          std::swap(f, l);
        const uint64_t salt = rng();
        auto rule = [&](uint64_t i, uint64_t v) -> uint64_t {
          switch ((i ^ salt) % 3) {
          case 0:
            return 0;
          case 1:
            return v + 2;
          default:
            return v;
          }
        };
        a.for_each(f, l, [&](uint64_t i, uint64_t &v) {
          v = rule(i, v);
          return true;
        });
        for (auto it = m.lower_bound(f); it != m.end() && it->first <= l;) {
          it->second = rule(it->first, it->second);
          it = it->second ? std::next(it) : m.erase(it);
        }
        break;
      }
      default:
        if (below(40) == 0) {
          a.clear();
          m.clear();
          ASSERT_EQ(a.memory_bytes(), 0u);
        }
        break;
      }
      ASSERT_EQ(a.count(), m.size());
      ASSERT_EQ(a.empty(), m.empty());
      if (m.empty()) {
        ASSERT_EQ(a.memory_bytes(), 0u);
      }
    }
    ASSERT_EQ(collect(a, 0, MAX), model_range(m, 0, MAX));
    // Erase everything in random order: all memory comes back.
    std::vector<uint64_t> keys;
    for (const auto &kv : m)
      keys.push_back(kv.first);
    std::shuffle(keys.begin(), keys.end(), rng);
    for (uint64_t k : keys)
      ASSERT_EQ(a.erase(k), m.at(k));
    ASSERT_TRUE(a.empty());
    ASSERT_EQ(a.memory_bytes(), 0u);
  }
}

std::string region_name(const ::testing::TestParamInfo<int> &info) {
  static const char *const names[] = {"Dense", "Clustered", "FullRange"};
  return names[info.param];
}
INSTANTIATE_TEST_SUITE_P(Regions, SparseArrayRandom, ::testing::Values(0, 1, 2), region_name);

} // namespace
} // namespace iommusim::iommufd
