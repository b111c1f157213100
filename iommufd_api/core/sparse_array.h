// SPDX-License-Identifier: MIT
// A sparse array of plain values indexed by the full 64-bit range: what the
// iommufd core uses where Linux keeps values in an xarray (the mock domain's
// PFN table, iopt_pages::pinned_pfns).
//
// Layout: a radix tree whose leaves hold 512 values (4 KiB of uint64_t, so a
// dense run costs ~8 bytes an entry) and whose inner nodes fan out 64 ways,
// with a presence bitmask per node so scans skip holes a word at a time. The
// root grows and shrinks so the height always fits the largest index stored;
// nodes are freed as soon as they become empty. A one-leaf hint makes runs of
// store() to neighbouring indices skip the descent. Every walk is a loop over
// at most 11 levels: no recursion.
//
// T{} is the "empty" value. Not thread-safe: callers lock. load() and the
// const for_each() write nothing, so they may run concurrently with each other.
#pragma once

#include <bit>
#include <cassert>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace iommusim::iommufd {

// Test aid: while positive, counts down sparse_array node allocations on this
// thread, and the allocation that brings it to zero throws std::bad_alloc.
inline thread_local long sparse_array_fail_alloc_countdown = 0;

template <typename T = uint64_t> class sparse_array {
  static_assert(std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>,
                "sparse_array holds plain values");

public:
  sparse_array() = default;
  ~sparse_array() { clear(); }
  sparse_array(const sparse_array &) = delete;
  sparse_array &operator=(const sparse_array &) = delete;
  sparse_array(sparse_array &&o) noexcept { swap(o); }
  sparse_array &operator=(sparse_array &&o) noexcept {
    if (this != &o) {
      clear();
      swap(o);
    }
    return *this;
  }
  void swap(sparse_array &o) noexcept {
    std::swap(root_, o.root_);
    std::swap(levels_, o.levels_);
    std::swap(count_, o.count_);
    std::swap(bytes_, o.bytes_);
    std::swap(hint_leaf_, o.hint_leaf_);
    std::swap(hint_key_, o.hint_key_);
  }

  T load(uint64_t index) const {
    const uint64_t key = index >> LEAF_BITS;
    const leaf *lf = (hint_leaf_ && hint_key_ == key) ? hint_leaf_ : find_leaf(key);
    return lf ? lf->slots[index & LEAF_MASK] : T{};
  }

  // Returns the previous value. Storing T{} erases. On std::bad_alloc the
  // array is unchanged.
  T store(uint64_t index, T value) {
    if (is_empty(value))
      return erase(index);
    leaf *lf = get_leaf(index >> LEAF_BITS);
    const unsigned i = index & LEAF_MASK;
    const T old = lf->slots[i];
    lf->slots[i] = value;
    if (is_empty(old)) {
      lf->present[i / 64] |= 1ULL << (i % 64);
      ++lf->count;
      ++count_;
    }
    return old;
  }

  // Returns the previous value (T{} if there was none).
  T erase(uint64_t index) {
    const uint64_t key = index >> LEAF_BITS;
    leaf *lf = (hint_leaf_ && hint_key_ == key) ? hint_leaf_ : find_leaf(key);
    if (!lf)
      return T{};
    const unsigned i = index & LEAF_MASK;
    const T old = lf->slots[i];
    if (is_empty(old))
      return old;
    clear_slot(lf, i);
    if (lf->count == 0)
      remove_leaf(key);
    return old;
  }

  bool empty() const { return count_ == 0; }
  size_t count() const { return count_; }
  size_t memory_bytes() const { return bytes_; }

  void clear() {
    if (root_ && levels_ == 0) {
      free_leaf(static_cast<leaf *>(root_));
    } else if (root_) {
      // Depth-first with one frame per level; each frame keeps the children
      // still to visit as a bitmask.
      struct frame {
        inner *n;
        uint64_t todo;
      } st[MAX_LEVELS];
      int top = 0;
      st[0] = {static_cast<inner *>(root_), static_cast<inner *>(root_)->present};
      while (top >= 0) {
        frame &f = st[top];
        if (!f.todo) {
          free_inner(f.n);
          --top;
          continue;
        }
        const unsigned c = std::countr_zero(f.todo);
        f.todo &= f.todo - 1;
        void *child = f.n->child[c];
        if (levels_ - top == 1) {
          free_leaf(static_cast<leaf *>(child));
        } else {
          inner *in = static_cast<inner *>(child);
          st[++top] = {in, in->present};
        }
      }
    }
    root_ = nullptr;
    levels_ = 0;
    count_ = 0;
    hint_leaf_ = nullptr;
    assert(bytes_ == 0);
  }

  // Calls f(index, value) for each non-empty entry with index in
  // [first, last], in increasing index order, until f returns false. f may
  // change the value; setting it to T{} erases the entry. f must not call
  // store() or erase() on this array.
  template <class F> void for_each(uint64_t first, uint64_t last, F &&f) {
    static_assert(std::is_invocable_r_v<bool, F &, uint64_t, T &>);
    walk(*this, first, last, [&](leaf *lf, uint64_t base, unsigned i) {
      T &v = lf->slots[i];
      const bool more = f(base + i, v);
      if (is_empty(v))
        clear_slot(lf, i);
      return more;
    });
  }

  template <class F> void for_each(uint64_t first, uint64_t last, F &&f) const {
    static_assert(std::is_invocable_r_v<bool, F &, uint64_t, const T &>);
    walk(*this, first, last, [&](const leaf *lf, uint64_t base, unsigned i) {
      return f(base + i, lf->slots[i]);
    });
  }

private:
  static constexpr unsigned LEAF_BITS = 9;
  static constexpr unsigned LEAF_SLOTS = 1U << LEAF_BITS;
  static constexpr uint64_t LEAF_MASK = LEAF_SLOTS - 1;
  static constexpr unsigned NODE_BITS = 6; // 64 children: one presence word
  static constexpr unsigned NODE_SLOTS = 1U << NODE_BITS;
  static constexpr unsigned KEY_BITS = 64 - LEAF_BITS; // leaf keys are index >> 9
  static constexpr unsigned MAX_LEVELS = (KEY_BITS + NODE_BITS - 1) / NODE_BITS; // 10

  struct leaf {
    T slots[LEAF_SLOTS];
    uint64_t present[LEAF_SLOTS / 64];
    uint32_t count;
  };
  struct inner {
    void *child[NODE_SLOTS]; // inner* above level 1, leaf* at level 1
    uint64_t present;
  };

  static bool is_empty(const T &v) {
    if constexpr (std::equality_comparable<T>) {
      return v == T{};
    } else {
      static_assert(std::has_unique_object_representations_v<T>,
                    "T needs operator== or padding-free bytes");
      const T zero{};
      return std::memcmp(&v, &zero, sizeof(T)) == 0;
    }
  }

  // The inner node at 'level' (1 = parent of leaves) picks its child by
  // these bits of the leaf key.
  static unsigned slot_at(uint64_t key, unsigned level) {
    return (key >> (NODE_BITS * (level - 1))) & (NODE_SLOTS - 1);
  }
  static bool fits(uint64_t key, unsigned levels) {
    return NODE_BITS * levels >= KEY_BITS || (key >> (NODE_BITS * levels)) == 0;
  }

  static void maybe_fail_alloc() {
    if (sparse_array_fail_alloc_countdown > 0 && --sparse_array_fail_alloc_countdown == 0)
      throw std::bad_alloc();
  }
  leaf *alloc_leaf() {
    maybe_fail_alloc();
    leaf *lf = new leaf{}; // value-initialised: every slot T{}, no bits
    bytes_ += sizeof(leaf);
    return lf;
  }
  inner *alloc_inner() {
    maybe_fail_alloc();
    inner *n = new inner{};
    bytes_ += sizeof(inner);
    return n;
  }
  void free_leaf(leaf *lf) {
    if (hint_leaf_ == lf)
      hint_leaf_ = nullptr;
    bytes_ -= sizeof(leaf);
    delete lf;
  }
  void free_inner(inner *n) {
    bytes_ -= sizeof(inner);
    delete n;
  }

  void clear_slot(leaf *lf, unsigned i) {
    lf->slots[i] = T{};
    lf->present[i / 64] &= ~(1ULL << (i % 64));
    --lf->count;
    --count_;
  }

  leaf *find_leaf(uint64_t key) const {
    void *n = root_;
    if (!n || !fits(key, levels_))
      return nullptr;
    for (unsigned l = levels_; l > 0 && n; --l)
      n = static_cast<inner *>(n)->child[slot_at(key, l)];
    return static_cast<leaf *>(n);
  }

  // Drop root levels whose only child is child 0, so the height is the
  // least that fits the largest key stored.
  void shrink() {
    while (levels_ > 0) {
      inner *r = static_cast<inner *>(root_);
      if (r->present != 1)
        break;
      root_ = r->child[0];
      free_inner(r);
      --levels_;
    }
  }

  // path[0..depth) are the inner nodes from the root down and slots[d] the
  // child taken at path[d]. The child below path[depth - 1] has been freed:
  // unlink it and free every ancestor left empty.
  void unlink_up(inner *const *path, const unsigned *slots, unsigned depth) {
    while (depth > 0) {
      --depth;
      inner *n = path[depth];
      n->child[slots[depth]] = nullptr;
      n->present &= ~(1ULL << slots[depth]);
      if (n->present) {
        shrink();
        return;
      }
      free_inner(n);
    }
    root_ = nullptr;
    levels_ = 0;
  }

  void remove_leaf(uint64_t key) {
    inner *path[MAX_LEVELS];
    unsigned slots[MAX_LEVELS];
    unsigned depth = 0;
    void *n = root_;
    for (unsigned l = levels_; l > 0; --l) {
      path[depth] = static_cast<inner *>(n);
      slots[depth] = slot_at(key, l);
      n = path[depth]->child[slots[depth]];
      ++depth;
    }
    free_leaf(static_cast<leaf *>(n));
    unlink_up(path, slots, depth);
  }

  // The leaf for key, creating it and any missing nodes above it.
  leaf *get_leaf(uint64_t key) {
    if (hint_leaf_ && hint_key_ == key)
      return hint_leaf_;
    inner *path[MAX_LEVELS];
    unsigned slots[MAX_LEVELS];
    unsigned depth = 0;
    void **link = &root_;
    try {
      if (!root_) {
        levels_ = 0;
        while (!fits(key, levels_))
          ++levels_;
      }
      // Each new root adopts the old one as child 0.
      while (!fits(key, levels_)) {
        inner *n = alloc_inner();
        n->child[0] = root_;
        n->present = 1;
        root_ = n;
        ++levels_;
      }
      for (unsigned l = levels_;; --l) {
        if (!*link) {
          if (l == 0)
            *link = alloc_leaf();
          else
            *link = alloc_inner();
          if (depth > 0)
            path[depth - 1]->present |= 1ULL << slots[depth - 1];
        }
        if (l == 0)
          break;
        inner *n = static_cast<inner *>(*link);
        path[depth] = n;
        slots[depth] = slot_at(key, l);
        link = &n->child[slots[depth]];
        ++depth;
      }
    } catch (...) {
      // Undo: free the inner nodes this call made that have no child yet,
      // then drop root levels added above the old root.
      if (depth > 0 && path[depth - 1]->present == 0) {
        free_inner(path[depth - 1]);
        unlink_up(path, slots, depth - 1);
      } else if (root_) {
        shrink();
      } else {
        levels_ = 0;
      }
      throw;
    }
    hint_leaf_ = static_cast<leaf *>(*link);
    hint_key_ = key;
    return hint_leaf_;
  }

  // The first leaf whose key is >= *key, updating *key to its key; nullptr
  // if none. Restarts from the root after each dead end, which costs at most
  // O(levels^2) per leaf found: nothing next to the 512 entries it holds.
  leaf *next_leaf(uint64_t *key) const {
    uint64_t k = *key;
  restart:
    if (!root_ || !fits(k, levels_))
      return nullptr;
    void *n = root_;
    for (unsigned l = levels_; l > 0; --l) {
      const inner *in = static_cast<const inner *>(n);
      const unsigned s = slot_at(k, l);
      const uint64_t avail = in->present & (~0ULL << s);
      const unsigned low = NODE_BITS * (l - 1); // key bits below this slot
      if (!avail) {
        // Nothing here at or after k: step to the next sibling subtree of
        // this node. Keys have 55 bits and NODE_BITS * l <= 60, so no wrap.
        k = ((k >> (low + NODE_BITS)) + 1) << (low + NODE_BITS);
        goto restart;
      }
      const unsigned c = std::countr_zero(avail);
      if (c != s)
        k = ((k >> (low + NODE_BITS)) << (low + NODE_BITS)) | (uint64_t{c} << low);
      n = in->child[c];
    }
    *key = k;
    return static_cast<leaf *>(n);
  }

  // Visit present slots with index in [first, last]; visit(leaf, base, slot)
  // returns false to stop. Self is const for the read-only variant; the
  // mutable one frees leaves that visit emptied.
  template <class Self, class V>
  static void walk(Self &self, uint64_t first, uint64_t last, V &&visit) {
    if (first > last)
      return;
    const uint64_t first_key = first >> LEAF_BITS;
    const uint64_t last_key = last >> LEAF_BITS;
    uint64_t key = first_key;
    for (leaf *lf; (lf = self.next_leaf(&key)) && key <= last_key; ++key) {
      const uint64_t base = key << LEAF_BITS;
      const unsigned lo = key == first_key ? first & LEAF_MASK : 0;
      const unsigned hi = key == last_key ? last & LEAF_MASK : LEAF_MASK;
      bool more = true;
      for (unsigned w = lo / 64; w <= hi / 64 && more; ++w) {
        uint64_t bits = lf->present[w];
        if (w == lo / 64)
          bits &= ~0ULL << (lo % 64);
        if (w == hi / 64)
          bits &= ~0ULL >> (63 - hi % 64);
        for (; bits && more; bits &= bits - 1)
          more = visit(lf, base, w * 64 + std::countr_zero(bits));
      }
      if constexpr (!std::is_const_v<Self>) {
        if (lf->count == 0)
          self.remove_leaf(key);
      }
      if (!more || key == last_key)
        return;
    }
  }

  void *root_ = nullptr; // leaf* when levels_ == 0, else inner*
  unsigned levels_ = 0;  // inner levels above the leaves
  size_t count_ = 0;
  size_t bytes_ = 0;
  leaf *hint_leaf_ = nullptr; // last leaf store() reached
  uint64_t hint_key_ = 0;
};

} // namespace iommusim::iommufd
