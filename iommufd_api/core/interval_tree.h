// SPDX-License-Identifier: MIT
// Intrusive augmented interval tree and the hole/used span iterators built on
// it. The iommufd core keeps its IOVA areas, reserved ranges, accesses and
// domain users in these trees, so the semantics follow Linux's interval_tree
// and iommufd's double-span iterator exactly; the implementation is our own
// (an AVL tree with parent links, augmented with the largest 'last' below
// each node).
//
// Intervals are closed: [start, last]. The tree never allocates; node memory
// belongs to the caller, who embeds an interval_tree_node in its own object.
#pragma once

#include <cstddef>
#include <cstdint>

namespace iommusim::iommufd {

class interval_tree;

struct interval_tree_node {
  uint64_t start = 0; // inclusive
  uint64_t last = 0;  // inclusive

  bool in_tree() const { return it_height_ != 0; }

  // Linkage, owned by interval_tree. Public only so the node stays an
  // aggregate the caller can embed and designated-initialise; do not touch.
  interval_tree_node *it_parent_ = nullptr;
  interval_tree_node *it_left_ = nullptr;
  interval_tree_node *it_right_ = nullptr;
  uint64_t it_subtree_last_ = 0; // max 'last' in this node's subtree
  int32_t it_height_ = 0;        // AVL height; 0 means "not in a tree"
};

class interval_tree {
public:
  interval_tree() = default;
  interval_tree(const interval_tree &) = delete;
  interval_tree &operator=(const interval_tree &) = delete;
  // Nodes point only at each other (the root's parent is null), so a tree
  // moves by handing over its root. Move-assignment swaps, so a non-empty
  // target never orphans nodes that still think they are linked; this also
  // makes std::swap work, as the kernel's swap() of two rb_root_cached does.
  interval_tree(interval_tree &&o) noexcept : root_(o.root_), size_(o.size_) {
    o.root_ = nullptr;
    o.size_ = 0;
  }
  interval_tree &operator=(interval_tree &&o) noexcept {
    swap(o);
    return *this;
  }
  void swap(interval_tree &o) noexcept {
    interval_tree_node *r = root_;
    root_ = o.root_;
    o.root_ = r;
    const size_t n = size_;
    size_ = o.size_;
    o.size_ = n;
  }
  friend void swap(interval_tree &a, interval_tree &b) noexcept { a.swap(b); }

  // The caller sets node->start <= node->last first. Overlapping and
  // identical intervals are allowed; among equal starts a later insert sorts
  // after the earlier ones.
  void insert(interval_tree_node *node);
  // node must be linked into this tree. Afterwards node->in_tree() is false.
  void remove(interval_tree_node *node);

  bool empty() const { return root_ == nullptr; }
  size_t size() const { return size_; }

  // First node in start order that intersects [start, last], or nullptr.
  interval_tree_node *iter_first(uint64_t start, uint64_t last) const;
  // The next node after 'node' in start order that intersects [start, last],
  // or nullptr. 'node' must be in a tree and should itself have been
  // returned by iter_first/iter_next for the same [start, last].
  static interval_tree_node *iter_next(interval_tree_node *node, uint64_t start,
                                       uint64_t last);

  // Test aid: walks the whole tree (O(n), no recursion) and returns false if
  // any link, order, height, balance or subtree-last field is wrong, or the
  // node count disagrees with size().
  bool check() const;

private:
  void replace_child(interval_tree_node *parent, interval_tree_node *old_child,
                     interval_tree_node *new_child);
  interval_tree_node *rotate_left(interval_tree_node *x);
  interval_tree_node *rotate_right(interval_tree_node *x);
  interval_tree_node *rebalance(interval_tree_node *n);
  void retrace(interval_tree_node *n);

  interval_tree_node *root_ = nullptr;
  size_t size_ = 0;
};

// Walks [first_index, last_index] as alternating hole and used spans. A used
// span is a maximal run of indices covered by nodes (overlapping or touching
// nodes merge); a hole is a maximal run covered by none. Spans are clipped to
// the requested range, cover it completely, and never repeat a kind twice in
// a row. The tree must not change while a walk is in progress.
//
//   for (span.first(tree, a, b); !span.done(); span.next()) ...
//
// Unlike Linux, first_index > last_index yields an immediately finished walk.
struct interval_tree_span_iter {
  // Read start_hole/last_hole when is_hole == 1 and start_used/last_used when
  // is_hole == 0; the pairs alias on purpose (GCC defines union punning).
  union {
    uint64_t start_hole = 0;
    uint64_t start_used;
  };
  union {
    uint64_t last_hole = 0;
    uint64_t last_used;
  };
  int is_hole = -1; // 1 = hole, 0 = used, -1 = done

  void first(const interval_tree &tree, uint64_t first_index, uint64_t last_index);
  void next();
  // Move the walk forward so the current span starts at new_index, reusing
  // the cursor when new_index is inside or just after the current span.
  // Indices past last_index finish the walk; a done walk stays done.
  void advance(const interval_tree &tree, uint64_t new_index);
  bool done() const { return is_hole == -1; }

private:
  friend struct interval_tree_double_span_iter;

  void scan_run();
  void report_used(uint64_t start);

  // First node of the used run after the current span (nullptr: none left).
  interval_tree_node *next_ = nullptr;
  // End of the used run that scan_run() last consumed.
  uint64_t run_last_ = 0;
  uint64_t first_index_ = 0;
  uint64_t last_index_ = 0;
  // The current span reaches last_index_: next() finishes the walk.
  bool final_ = true;
};

// Walks [first_index, last_index] over the union of two trees. Each span is
// a maximal run classified as used by tree 0 (is_used == 1; tree 0 wins where
// both cover an index), used by tree 1 alone (2), or a hole in both (0).
//
//   for (it.first(t0, t1, a, b); !it.done(); it.next()) ...
struct interval_tree_double_span_iter {
  const interval_tree *itrees[2] = {nullptr, nullptr};
  interval_tree_span_iter spans[2];
  union {
    uint64_t start_hole = 0;
    uint64_t start_used;
  };
  union {
    uint64_t last_hole = 0;
    uint64_t last_used;
  };
  int is_used = -1; // 0 = hole, 1 = tree 0, 2 = tree 1 only, -1 = done

  void first(const interval_tree &t0, const interval_tree &t1, uint64_t first_index,
             uint64_t last_index);
  void next();
  bool done() const { return is_used == -1; }

private:
  void update();
};

} // namespace iommusim::iommufd
