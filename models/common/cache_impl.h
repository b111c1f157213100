// SPDX-License-Identifier: MIT
// sa_cache<E>: implementation of the template declared in cache.h. Included
// from cache.h only.
//
// The semantics below restate cache.h precisely; the RTL IOTLB (issue 6) is
// checked against this code victim for victim, so every rule is written out
// where it is implemented.
//
// Requirements on E beyond cache.h's list (every entry type that can be found
// by a set-associative lookup meets them anyway):
//  R1  e.matches(k) implies e.hash() == E::probe_hash(k, p) for some probe p
//      of k: an entry is found through the probe of its own size class.
//  R2  a.same_tag(b) implies a.hash() == b.hash().
//  R3  E is copy-constructible. It need not be default-constructible.
// A caller may change the payload of an entry it got from lookup(), never the
// fields that make its tag or hash (fill again to change those). Pointers
// returned by lookup()/peek()/at() stay valid until the next fill or
// invalidation.
//
// Why an index: a fully associative cache of 2048 entries cannot compare every
// entry per lookup in software. A set with at least index_min_ways ways keeps
// an open-addressing table from entry hash to the ways holding that hash (a
// chain in ascending way order). By R1 a way that matches a key holds one of
// the key's probe hashes, so the lowest matching way of the set is the lowest
// first-match over those hashes' chains: the same answer as comparing every
// way, found in O(1) expected time. Smaller sets compare their valid ways in
// order, which is faster there. Both paths give identical results.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace iommusim::models {

namespace cache_detail {

inline constexpr uint32_t none = 0xffff'ffffu;
// Sets with at least this many ways keep the hash index (speed only).
inline constexpr uint32_t index_min_ways = 16;

// The random policy's LFSR: 16-bit Galois form, taps 0xB400 (x^16 + x^14 +
// x^13 + x^11 + 1, maximal length 65535): shift right one; if the bit shifted
// out was 1, XOR 0xB400 into the result. A non-zero state never becomes zero.
inline constexpr uint16_t lfsr_next(uint16_t s) {
  const bool out = (s & 1u) != 0;
  s = static_cast<uint16_t>(s >> 1);
  if (out) s = static_cast<uint16_t>(s ^ 0xB400u);
  return s;
}

// Bucket position of an entry hash in the index (the entry hash itself is the
// designer's, often a bare page number, so it is mixed first).
inline uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace cache_detail

template <typename E>
struct sa_cache<E>::set_state {
  std::vector<std::optional<E>> way;
  std::vector<uint64_t> freebits;  // bit w set: way w is invalid
  uint32_t nvalid = 0;

  // lru: doubly linked list of all ways, most recent first.
  std::vector<uint32_t> newer, older;
  uint32_t mru = 0, lru = 0;
  // plru: bit n (1 <= n < ways) is tree node n.
  std::vector<uint64_t> plru;
  // round_robin: the next victim.
  uint32_t rr = 0;

  // Hash index (ways >= index_min_ways only).
  struct bucket {
    uint64_t key;
    uint32_t head;  // lowest way of the chain; none: empty bucket
  };
  std::vector<bucket> table;
  uint64_t table_mask = 0;
  std::vector<uint32_t> chain_next;  // next higher way with the same hash
  std::vector<uint64_t> way_hash;    // hash of the entry in each valid way

  bool indexed() const { return !table.empty(); }

  size_t find_bucket(uint64_t key) const {
    size_t i = cache_detail::mix(key) & table_mask;
    while (table[i].head != cache_detail::none && table[i].key != key) i = (i + 1) & table_mask;
    return i;
  }
  uint32_t chain(uint64_t key) const { return table[find_bucket(key)].head; }

  void index_insert(uint32_t w, uint64_t h) {
    way_hash[w] = h;
    bucket &b = table[find_bucket(h)];
    if (b.head == cache_detail::none) {
      b.key = h;
      b.head = w;
      chain_next[w] = cache_detail::none;
      return;
    }
    if (w < b.head) {
      chain_next[w] = b.head;
      b.head = w;
      return;
    }
    uint32_t p = b.head;
    while (chain_next[p] != cache_detail::none && chain_next[p] < w) p = chain_next[p];
    chain_next[w] = chain_next[p];
    chain_next[p] = w;
  }

  void index_remove(uint32_t w) {
    size_t i = find_bucket(way_hash[w]);
    bucket &b = table[i];
    if (b.head == w) {
      b.head = chain_next[w];
    } else {
      uint32_t p = b.head;
      while (chain_next[p] != w) p = chain_next[p];
      chain_next[p] = chain_next[w];
    }
    if (b.head != cache_detail::none) return;
    // The chain is empty: delete the bucket by backward shift (linear probing
    // without tombstones), moving up every later bucket whose home position
    // does not lie cyclically in (i, j].
    size_t j = i;
    for (;;) {
      j = (j + 1) & table_mask;
      if (table[j].head == cache_detail::none) break;
      const size_t home = cache_detail::mix(table[j].key) & table_mask;
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      table[i] = table[j];
      table[j].head = cache_detail::none;
      i = j;
    }
  }

  void index_clear() {
    for (auto &b : table) b.head = cache_detail::none;
  }
};

template <typename E>
sa_cache<E>::sa_cache(const cache_config &cfg) : cfg_(cfg) {
  if (const std::string why = cfg_.check(); !why.empty()) throw std::invalid_argument(why);
  const uint32_t nways = cfg_.assoc();
  const size_t words = (nways + 63) / 64;
  sets_.resize(cfg_.sets());
  for (auto &s : sets_) {
    s.way.resize(nways);
    // Every way starts invalid; bits past the last way stay clear.
    s.freebits.assign(words, ~0ULL);
    if (nways % 64) s.freebits.back() = (1ULL << (nways % 64)) - 1;
    switch (cfg_.policy) {
      case replacement_policy::lru:
        // Initial recency order as if ways 0, 1, ..., n-1 had been touched in
        // that order: way 0 is least recent, the first policy victim.
        s.newer.resize(nways);
        s.older.resize(nways);
        for (uint32_t w = 0; w < nways; w++) {
          s.newer[w] = w + 1 < nways ? w + 1 : cache_detail::none;
          s.older[w] = w > 0 ? w - 1 : cache_detail::none;
        }
        s.mru = nways - 1;
        s.lru = 0;
        break;
      case replacement_policy::plru:
        s.plru.assign(words, 0);  // all bits 0: the first victim is way 0
        break;
      default:
        break;
    }
    if (nways >= cache_detail::index_min_ways) {
      const size_t cap = std::bit_ceil(static_cast<size_t>(nways) * 2);
      s.table.assign(cap, {0, cache_detail::none});
      s.table_mask = cap - 1;
      s.chain_next.assign(nways, cache_detail::none);
      s.way_hash.assign(nways, 0);
    }
  }
  // The LFSR starts at random_seed (check() refuses 0 for the random policy;
  // another policy never steps it).
  lfsr_ = cfg_.random_seed;
  if (cfg_.backend) {
    if constexpr (hw_entry<E>) {
      backend_ = cfg_.backend(cfg_);
    } else {
      throw std::invalid_argument(cfg_.name +
                                  ": this cache's entries have no hardware tag mapping");
    }
  }
}

namespace cache_detail {

// Replacement-state helpers shared by lookup and fill. A touch happens on a
// lookup hit and on every fill (in place, into an invalid way, or over a
// victim).
template <typename S>
inline void lru_touch(S &s, uint32_t w) {
  // True LRU: w becomes the most recently used way.
  if (s.mru == w) return;
  const uint32_t n = s.newer[w], o = s.older[w];
  // w is not mru, so n != none.
  s.older[n] = o;
  if (o != none)
    s.newer[o] = n;
  else
    s.lru = n;
  s.older[w] = s.mru;
  s.newer[w] = none;
  s.newer[s.mru] = w;
  s.mru = w;
}

inline bool bit(const std::vector<uint64_t> &v, uint32_t n) { return (v[n >> 6] >> (n & 63)) & 1u; }
inline void set_bit(std::vector<uint64_t> &v, uint32_t n, bool b) {
  const uint64_t m = 1ULL << (n & 63);
  if (b)
    v[n >> 6] |= m;
  else
    v[n >> 6] &= ~m;
}

// Tree PLRU over `ways` leaves (a power of two): node 1 is the root, node n's
// children are 2n and 2n+1, leaf for way w is node ways + w. A node bit of 0
// means "the victim is in the left subtree". Touching w sets every node on
// w's path to point away from w: 1 where the path goes left, 0 where it goes
// right.
inline void plru_touch(std::vector<uint64_t> &bits, uint32_t ways, uint32_t w) {
  for (uint32_t n = ways + w; n > 1; n >>= 1) set_bit(bits, n >> 1, (n & 1u) == 0);
}
// The victim follows the bits from the root: next = 2n + bit(n).
inline uint32_t plru_victim(const std::vector<uint64_t> &bits, uint32_t ways) {
  uint32_t n = 1;
  while (n < ways) n = 2 * n + (bit(bits, n) ? 1u : 0u);
  return n - ways;
}

// The touch of a way: on a lookup hit and on every fill.
template <typename S>
inline void touch(replacement_policy policy, S &s, uint32_t ways, uint32_t w) {
  switch (policy) {
    case replacement_policy::lru:
      lru_touch(s, w);
      break;
    case replacement_policy::plru:
      plru_touch(s.plru, ways, w);
      break;
    default:
      break;  // round_robin and random keep no per-access state
  }
}

}  // namespace cache_detail

template <typename E>
uint32_t sa_cache<E>::policy_victim(uint32_t set) const {
  const set_state &s = sets_.at(set);
  const uint32_t nways = cfg_.assoc();
  switch (cfg_.policy) {
    case replacement_policy::lru:
      return s.lru;  // least recently touched way
    case replacement_policy::plru:
      return cache_detail::plru_victim(s.plru, nways);
    case replacement_policy::round_robin:
      return s.rr;   // the set's pointer
    case replacement_policy::random:
      return static_cast<uint32_t>(lfsr_ % nways);  // current LFSR value
  }
  return 0;
}

template <typename E>
uint16_t sa_cache<E>::lfsr() const {
  return lfsr_;
}

template <typename E>
size_t sa_cache<E>::valid_count() const {
  size_t n = 0;
  for (const auto &s : sets_) n += s.nvalid;
  return n;
}

template <typename E>
bool sa_cache<E>::valid(uint32_t set, uint32_t way) const {
  if (set >= sets_.size() || way >= cfg_.assoc()) return false;
  return sets_[set].way[way].has_value();
}

template <typename E>
const E *sa_cache<E>::at(uint32_t set, uint32_t way) const {
  if (!valid(set, way)) return nullptr;
  return &*sets_[set].way[way];
}

// ---------------------------------------------------------------------------
// Search. Within a set the lowest-numbered valid way whose entry matches the
// key hits. set(h) = h & (sets - 1).

namespace cache_detail {

// The lowest matching way of set s for key k, or none.
template <typename E, typename S>
inline uint32_t find_match(const S &s, const typename E::key_type &k, unsigned nprobes,
                           uint64_t set_mask, uint64_t set_index) {
  if (s.nvalid == 0) return none;
  if (!s.indexed()) {
    // Compare the valid ways in ascending order; the first match is lowest.
    for (size_t wd = 0; wd < s.freebits.size(); wd++) {
      uint64_t valid = ~s.freebits[wd];
      if (wd + 1 == s.freebits.size() && s.way.size() % 64) valid &= (1ULL << (s.way.size() % 64)) - 1;
      while (valid) {
        const uint32_t w = static_cast<uint32_t>(wd * 64 + std::countr_zero(valid));
        valid &= valid - 1;
        if (s.way[w]->matches(k)) return w;
      }
    }
    return none;
  }
  // Index: by R1 only ways holding one of k's probe hashes can match, and only
  // those hashes that map to this set are in this set's index.
  uint32_t best = none;
  for (unsigned q = 0; q < nprobes; q++) {
    const uint64_t h = E::probe_hash(k, q);
    if ((h & set_mask) != set_index) continue;
    for (uint32_t w = s.chain(h); w != none && w < best; w = s.chain_next[w]) {
      if (s.way[w]->matches(k)) {
        best = w;  // chains ascend, so this is the chain's lowest match
        break;
      }
    }
  }
  return best;
}

}  // namespace cache_detail

template <typename E>
typename sa_cache<E>::lookup_result sa_cache<E>::lookup(const key_type &key) {
  // Probes go in probe order to set(probe_hash(key, p)); the first probe
  // whose set holds a match hits (the lowest matching way of that set).
  // parallel_probes: every probe is made, the lookup costs lookup_cycles and
  // reports probes = probes(key). Serial: probe p costs lookup_cycles each; a
  // hit at probe p costs (p + 1) * lookup_cycles, a miss probes(key) *
  // lookup_cycles. A fully associative cache has one set, so every probe
  // searches the whole cache: a hit is always at probe 0 and a miss still
  // makes every probe. The hit way is touched in the replacement state. A
  // miss reports the first probe's set and way 0.
  if constexpr (hw_entry<E>) {
    if (backend_) return hw_lookup(key);
  }
  lookup_result r;
  stats_.lookups++;
  const unsigned n = E::probes(key);
  const uint64_t mask = sets_.size() - 1;
  uint64_t searched_first = 0;
  for (unsigned p = 0; p < n; p++) {
    const uint64_t si = E::probe_hash(key, p) & mask;
    if (p == 0) {
      searched_first = si;
      r.set = static_cast<uint32_t>(si);
    } else if (si == searched_first) {
      continue;  // that set was searched already: the same answer (speed only)
    }
    set_state &s = sets_[si];
    const uint32_t w = cache_detail::find_match<E>(s, key, n, mask, si);
    if (w == cache_detail::none) continue;
    r.entry = &*s.way[w];
    r.set = static_cast<uint32_t>(si);
    r.way = w;
    r.probes = cfg_.parallel_probes ? n : p + 1;
    r.cycles = cfg_.parallel_probes ? cfg_.lookup_cycles : (p + 1) * cfg_.lookup_cycles;
    stats_.hits++;
    cache_detail::touch(cfg_.policy, s, cfg_.assoc(), w);
    return r;
  }
  r.probes = n;
  r.cycles = cfg_.parallel_probes ? cfg_.lookup_cycles : n * cfg_.lookup_cycles;
  stats_.misses++;
  return r;
}

template <typename E>
const E *sa_cache<E>::peek(const key_type &key) const {
  const unsigned n = E::probes(key);
  const uint64_t mask = sets_.size() - 1;
  for (unsigned p = 0; p < n; p++) {
    const uint64_t si = E::probe_hash(key, p) & mask;
    const set_state &s = sets_[si];
    const uint32_t w = cache_detail::find_match<E>(s, key, n, mask, si);
    if (w != cache_detail::none) return &*s.way[w];
  }
  return nullptr;
}

template <typename E>
typename sa_cache<E>::fill_result sa_cache<E>::fill(const E &entry) {
  // Fill rules, in order:
  //  1. The target set is set(entry.hash()).
  //  2. A valid way holding an entry with the same tag (the lowest such way)
  //     is overwritten in place: no eviction, the policy does not choose.
  //  3. Else the lowest-numbered invalid way takes it; the policy does not
  //     choose (round-robin pointer and LFSR unchanged).
  //  4. Else the policy chooses the victim:
  //       lru: the least recently touched way;  plru: the tree walk;
  //       round_robin: the set's pointer, which then advances by one mod ways;
  //       random: lfsr % ways with the current LFSR value, after which the
  //       LFSR steps once.
  //     The victim's entry is returned and counted as an eviction.
  //  In every case the way is touched and the fill costs fill_cycles.
  if constexpr (hw_entry<E>) {
    if (backend_) return hw_fill(entry);
  }
  fill_result r;
  r.cycles = cfg_.fill_cycles;
  stats_.fills++;
  const uint64_t h = entry.hash();
  const uint32_t si = static_cast<uint32_t>(h & (sets_.size() - 1));
  set_state &s = sets_[si];
  const uint32_t nways = cfg_.assoc();
  r.set = si;

  uint32_t w = cache_detail::none;
  if (s.nvalid != 0) {
    if (s.indexed()) {
      for (uint32_t c = s.chain(h); c != cache_detail::none; c = s.chain_next[c])
        if (s.way[c]->same_tag(entry)) {
          w = c;
          break;
        }
    } else {
      for (uint32_t c = 0; c < nways; c++)
        if (s.way[c] && s.way[c]->same_tag(entry)) {
          w = c;
          break;
        }
    }
  }
  if (w != cache_detail::none) {
    s.way[w].emplace(entry);
    if (s.indexed() && s.way_hash[w] != h) {  // only if E breaks R2
      s.index_remove(w);
      s.index_insert(w, h);
    }
  } else if (s.nvalid < nways) {
    for (size_t wd = 0; wd < s.freebits.size(); wd++)
      if (s.freebits[wd]) {
        w = static_cast<uint32_t>(wd * 64 + std::countr_zero(s.freebits[wd]));
        break;
      }
    s.freebits[w >> 6] &= ~(1ULL << (w & 63));
    s.nvalid++;
    s.way[w].emplace(entry);
    if (s.indexed()) s.index_insert(w, h);
  } else {
    w = policy_victim(si);
    if (cfg_.policy == replacement_policy::round_robin) s.rr = (s.rr + 1) % nways;
    if (cfg_.policy == replacement_policy::random) lfsr_ = cache_detail::lfsr_next(lfsr_);
    r.evicted = true;
    r.victim.emplace(std::move(*s.way[w]));
    stats_.evictions++;
    s.way[w].emplace(entry);
    if (s.indexed()) {
      s.index_remove(w);
      s.index_insert(w, h);
    }
  }
  r.way = w;
  cache_detail::touch(cfg_.policy, s, cfg_.assoc(), w);
  return r;
}

template <typename E>
typename sa_cache<E>::invalidate_result sa_cache<E>::invalidate_if(
    const std::function<bool(const E &)> &pred) {
  // A sweep visits every set (all ways of a set in parallel): sets *
  // invalidate_cycles_per_set cycles whatever it finds. Invalidated ways
  // become invalid; replacement state (LRU order, PLRU bits, pointers, LFSR)
  // is left as it was.
  if constexpr (hw_entry<E>) {
    if (backend_) return hw_invalidate_if(pred);
  }
  invalidate_result r;
  for (auto &s : sets_) {
    if (s.nvalid == 0) continue;
    for (uint32_t w = 0; w < s.way.size(); w++) {
      if (!s.way[w] || !pred(*s.way[w])) continue;
      if (s.indexed()) s.index_remove(w);
      s.way[w].reset();
      s.freebits[w >> 6] |= 1ULL << (w & 63);
      s.nvalid--;
      r.count++;
    }
  }
  r.cycles = static_cast<uint64_t>(sets_.size()) * cfg_.invalidate_cycles_per_set;
  stats_.invalidations += r.count;
  stats_.invalidate_sweeps++;
  return r;
}

template <typename E>
typename sa_cache<E>::invalidate_result sa_cache<E>::invalidate_all() {
  // Flash invalidation clears every valid bit in 1 cycle and is not a sweep;
  // without it, invalidate_all is a sweep (sets * invalidate_cycles_per_set).
  if constexpr (hw_entry<E>) {
    if (backend_) return hw_invalidate_all();
  }
  invalidate_result r;
  const uint32_t nways = cfg_.assoc();
  for (auto &s : sets_) {
    r.count += s.nvalid;
    if (s.nvalid == 0) continue;
    for (auto &e : s.way) e.reset();
    s.freebits.assign(s.freebits.size(), ~0ULL);
    if (nways % 64) s.freebits.back() = (1ULL << (nways % 64)) - 1;
    s.nvalid = 0;
    if (s.indexed()) s.index_clear();
  }
  if (cfg_.flash_invalidate) {
    r.cycles = 1;
  } else {
    r.cycles = static_cast<uint64_t>(sets_.size()) * cfg_.invalidate_cycles_per_set;
    stats_.invalidate_sweeps++;
  }
  stats_.invalidations += r.count;
  return r;
}

// ---------------------------------------------------------------------------
// With a backend (cache_backend.h) the hardware decides; the payloads stay
// here at the (set, way) it names, so lookup() returns a pointer as before.
// The hardware's answers are checked against the payloads it must agree with
// (a hit on an empty way, a victim that is not there): a mismatch is a bug in
// the RTL or its tag mapping, reported as std::logic_error.

template <typename E>
void sa_cache<E>::hw_place(set_state &s, uint32_t w, const E &entry, uint64_t h) {
  if (s.way[w]) {
    if (s.indexed()) s.index_remove(w);
  } else {
    s.freebits[w >> 6] &= ~(1ULL << (w & 63));
    s.nvalid++;
  }
  s.way[w].emplace(entry);
  if (s.indexed()) s.index_insert(w, h);
}

template <typename E>
void sa_cache<E>::hw_remove(set_state &s, uint32_t w) {
  if (s.indexed()) s.index_remove(w);
  s.way[w].reset();
  s.freebits[w >> 6] |= 1ULL << (w & 63);
  s.nvalid--;
}

template <typename E>
typename sa_cache<E>::lookup_result sa_cache<E>::hw_lookup(const key_type &key) {
  constexpr unsigned max_probes = 16;
  lookup_result r;
  stats_.lookups++;
  const unsigned n = E::probes(key);
  if (n == 0 || n > max_probes) throw std::logic_error(cfg_.name + ": probes out of the hardware's range");
  uint32_t ps[max_probes];
  const uint64_t mask = sets_.size() - 1;
  for (unsigned p = 0; p < n; p++) ps[p] = static_cast<uint32_t>(E::probe_hash(key, p) & mask);
  const cache_backend::lookup_reply rep = backend_->lookup(E::hw_key_of(key), ps, n);
  r.set = rep.set;
  r.way = rep.way;
  r.probes = n;  // the hardware probes in parallel
  r.cycles = static_cast<uint32_t>(rep.cycles);
  if (!rep.hit) {
    stats_.misses++;
    return r;
  }
  if (rep.set >= sets_.size() || rep.way >= cfg_.assoc() || !sets_[rep.set].way[rep.way])
    throw std::logic_error(cfg_.name + ": the hardware hit an empty way");
  r.entry = &*sets_[rep.set].way[rep.way];
  stats_.hits++;
  return r;
}

template <typename E>
typename sa_cache<E>::fill_result sa_cache<E>::hw_fill(const E &entry) {
  fill_result r;
  stats_.fills++;
  const uint64_t h = entry.hash();
  const uint32_t si = static_cast<uint32_t>(h & (sets_.size() - 1));
  const cache_backend::fill_reply rep = backend_->fill(si, entry.hw_tag_of(), entry.hw_data_of());
  set_state &s = sets_[si];
  if (rep.way >= cfg_.assoc() || rep.evicted != (s.way[rep.way] && !rep.in_place))
    throw std::logic_error(cfg_.name + ": the hardware's fill disagrees with its contents");
  r.set = si;
  r.way = rep.way;
  r.cycles = static_cast<uint32_t>(rep.cycles);
  if (rep.evicted) {
    r.evicted = true;
    r.victim.emplace(*s.way[rep.way]);
    stats_.evictions++;
  }
  hw_place(s, rep.way, entry, h);
  return r;
}

template <typename E>
typename sa_cache<E>::invalidate_result sa_cache<E>::hw_invalidate_if(
    const std::function<bool(const E &)> &pred) {
  // The hardware sweeps; the predicate is its per-set comparator.
  invalidate_result r;
  const cache_backend::invalidate_reply rep = backend_->invalidate_sweep([&](uint32_t si) {
    uint64_t kill = 0;
    set_state &s = sets_.at(si);
    if (s.nvalid == 0) return kill;
    for (uint32_t w = 0; w < s.way.size() && w < 64; w++) {
      if (!s.way[w] || !pred(*s.way[w])) continue;
      kill |= 1ULL << w;
      hw_remove(s, w);
    }
    return kill;
  });
  r.count = rep.count;
  r.cycles = rep.cycles;
  stats_.invalidations += r.count;
  stats_.invalidate_sweeps++;
  return r;
}

template <typename E>
typename sa_cache<E>::invalidate_result sa_cache<E>::hw_invalidate_all() {
  invalidate_result r;
  const cache_backend::invalidate_reply rep = backend_->invalidate_all();
  for (auto &s : sets_)
    for (uint32_t w = 0; w < s.way.size(); w++)
      if (s.way[w]) hw_remove(s, w);
  r.count = rep.count;
  r.cycles = rep.cycles;
  if (!cfg_.flash_invalidate) stats_.invalidate_sweeps++;
  stats_.invalidations += r.count;
  return r;
}

}  // namespace iommusim::models
