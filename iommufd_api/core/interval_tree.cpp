// SPDX-License-Identifier: MIT
#include "interval_tree.h"

#include <algorithm>
#include <cassert>

namespace iommusim::iommufd {

namespace {

using node = interval_tree_node;

int height(const node *n) { return n ? n->it_height_ : 0; }

// Recompute the augmented fields of n from its children.
void pull(node *n) {
  const node *l = n->it_left_;
  const node *r = n->it_right_;
  n->it_height_ = 1 + std::max(height(l), height(r));
  uint64_t m = n->last;
  if (l && l->it_subtree_last_ > m)
    m = l->it_subtree_last_;
  if (r && r->it_subtree_last_ > m)
    m = r->it_subtree_last_;
  n->it_subtree_last_ = m;
}

// Leftmost node of the subtree at n that intersects [start, last].
//
// Going left whenever the left subtree holds some node ending at or after
// 'start' is what makes a miss final: that node L then failed only because
// L.start > last, and every node after L in order starts even later, so
// nothing further right can intersect either. The walk is one root-to-leaf
// path, O(log n).
node *subtree_search(node *n, uint64_t start, uint64_t last) {
  while (n) {
    node *l = n->it_left_;
    if (l && l->it_subtree_last_ >= start) {
      n = l;
      continue;
    }
    if (n->start > last)
      return nullptr;
    if (n->last >= start)
      return n;
    n = n->it_right_;
    if (n && n->it_subtree_last_ < start)
      return nullptr;
  }
  return nullptr;
}

} // namespace

void interval_tree::replace_child(node *parent, node *old_child, node *new_child) {
  if (!parent)
    root_ = new_child;
  else if (parent->it_left_ == old_child)
    parent->it_left_ = new_child;
  else
    parent->it_right_ = new_child;
}

// Rotations keep in-order position, so equal-start ordering survives them.
node *interval_tree::rotate_left(node *x) {
  node *y = x->it_right_;
  x->it_right_ = y->it_left_;
  if (y->it_left_)
    y->it_left_->it_parent_ = x;
  y->it_parent_ = x->it_parent_;
  replace_child(x->it_parent_, x, y);
  y->it_left_ = x;
  x->it_parent_ = y;
  pull(x);
  pull(y);
  return y;
}

node *interval_tree::rotate_right(node *x) {
  node *y = x->it_left_;
  x->it_left_ = y->it_right_;
  if (y->it_right_)
    y->it_right_->it_parent_ = x;
  y->it_parent_ = x->it_parent_;
  replace_child(x->it_parent_, x, y);
  y->it_right_ = x;
  x->it_parent_ = y;
  pull(x);
  pull(y);
  return y;
}

// Restore the AVL property at n (its children are already balanced) and
// return the node now rooting n's old position.
node *interval_tree::rebalance(node *n) {
  pull(n);
  const int bal = height(n->it_left_) - height(n->it_right_);
  if (bal > 1) {
    node *l = n->it_left_;
    if (height(l->it_left_) < height(l->it_right_))
      rotate_left(l);
    return rotate_right(n);
  }
  if (bal < -1) {
    node *r = n->it_right_;
    if (height(r->it_right_) < height(r->it_left_))
      rotate_right(r);
    return rotate_left(n);
  }
  return n;
}

// Fix balance and augmentation from n up. n's stored height and
// subtree-last are still what its parent last saw; once the subtree rooted
// at n's position shows the parent the same two values again, nothing
// above can change and we stop. O(log n), usually a few levels.
void interval_tree::retrace(node *n) {
  while (n) {
    const int32_t old_height = n->it_height_;
    const uint64_t old_last = n->it_subtree_last_;
    n = rebalance(n);
    if (n->it_height_ == old_height && n->it_subtree_last_ == old_last)
      return;
    n = n->it_parent_;
  }
}

void interval_tree::insert(node *n) {
  assert(!n->in_tree());
  assert(n->start <= n->last);
  node *parent = nullptr;
  node **link = &root_;
  while (*link) {
    parent = *link;
    // Equal starts go right, so a later insert follows the existing ones.
    link = n->start < parent->start ? &parent->it_left_ : &parent->it_right_;
  }
  n->it_parent_ = parent;
  n->it_left_ = nullptr;
  n->it_right_ = nullptr;
  n->it_height_ = 1;
  n->it_subtree_last_ = n->last;
  *link = n;
  ++size_;
  retrace(parent);
}

void interval_tree::remove(node *z) {
  assert(z->in_tree() && size_ > 0);
  node *fix; // lowest node whose subtree changed shape
  if (!z->it_left_ || !z->it_right_) {
    node *child = z->it_left_ ? z->it_left_ : z->it_right_;
    fix = z->it_parent_;
    if (child)
      child->it_parent_ = fix;
    replace_child(fix, z, child);
  } else {
    // Two children: the in-order successor y (no left child) takes z's
    // place. Nodes are caller memory, so we relink rather than copy keys.
    node *y = z->it_right_;
    while (y->it_left_)
      y = y->it_left_;
    if (y->it_parent_ != z) {
      fix = y->it_parent_;
      fix->it_left_ = y->it_right_;
      if (y->it_right_)
        y->it_right_->it_parent_ = fix;
      y->it_right_ = z->it_right_;
      y->it_right_->it_parent_ = y;
    } else {
      fix = y;
    }
    y->it_left_ = z->it_left_;
    y->it_left_->it_parent_ = y;
    y->it_parent_ = z->it_parent_;
    replace_child(z->it_parent_, z, y);
    // y inherits what z's parent last saw, so the early stop in retrace()
    // compares against the right values at y's new position.
    y->it_height_ = z->it_height_;
    y->it_subtree_last_ = z->it_subtree_last_;
    // The subtree at y's position lost z itself, so its subtree-last may
    // change even where nothing below moved: fix everything from 'fix' up
    // to y without stopping early. That path was just walked to find y.
    while (fix != y) {
      fix = rebalance(fix);
      fix = fix->it_parent_;
    }
  }
  --size_;
  retrace(fix);
  z->it_parent_ = z->it_left_ = z->it_right_ = nullptr;
  z->it_height_ = 0;
  z->it_subtree_last_ = 0;
}

node *interval_tree::iter_first(uint64_t start, uint64_t last) const {
  if (!root_ || root_->it_subtree_last_ < start)
    return nullptr;
  return subtree_search(root_, start, last);
}

node *interval_tree::iter_next(node *n, uint64_t start, uint64_t last) {
  for (;;) {
    // Anything in the right subtree comes next in order; by the argument at
    // subtree_search, a miss there is final.
    node *r = n->it_right_;
    if (r && r->it_subtree_last_ >= start)
      return subtree_search(r, start, last);
    // Otherwise climb to the first ancestor we reach from its left side.
    node *prev;
    do {
      prev = n;
      n = n->it_parent_;
      if (!n)
        return nullptr;
    } while (n->it_right_ == prev);
    if (n->start > last)
      return nullptr;
    if (n->last >= start)
      return n;
  }
}

bool interval_tree::check() const {
  if (!root_)
    return size_ == 0;
  if (root_->it_parent_)
    return false;
  size_t count = 0;
  const node *prev_inorder = nullptr;
  const node *n = root_;
  while (n->it_left_)
    n = n->it_left_;
  // In-order walk by parent links: check order and each node's local
  // invariants (children's stored fields are trusted, then checked in turn).
  while (n) {
    ++count;
    const node *l = n->it_left_;
    const node *r = n->it_right_;
    if (l && l->it_parent_ != n)
      return false;
    if (r && r->it_parent_ != n)
      return false;
    if (n->start > n->last)
      return false;
    const int hl = height(l), hr = height(r);
    if (n->it_height_ != 1 + std::max(hl, hr) || hl - hr > 1 || hr - hl > 1)
      return false;
    uint64_t m = n->last;
    if (l)
      m = std::max(m, l->it_subtree_last_);
    if (r)
      m = std::max(m, r->it_subtree_last_);
    if (n->it_subtree_last_ != m)
      return false;
    if (prev_inorder && prev_inorder->start > n->start)
      return false;
    prev_inorder = n;
    if (count > size_)
      return false;
    // Successor.
    if (r) {
      n = r;
      while (n->it_left_)
        n = n->it_left_;
    } else {
      const node *c = n;
      n = n->it_parent_;
      while (n && n->it_right_ == c) {
        c = n;
        n = n->it_parent_;
      }
    }
  }
  return count == size_;
}

// ---------------------------------------------------------------------------
// Span iterator

// Starting at next_, swallow every node that overlaps or touches the run so
// far. Leaves run_last_ at the run's end and next_ at the first node past a
// real gap (or nullptr).
void interval_tree_span_iter::scan_run() {
  node *n = next_;
  uint64_t end = n->last;
  for (n = interval_tree::iter_next(n, first_index_, last_index_); n;
       n = interval_tree::iter_next(n, first_index_, last_index_)) {
    // A gap needs start >= end + 2; written so end + 1 cannot wrap.
    if (n->start > end && n->start - end > 1)
      break;
    end = std::max(end, n->last);
  }
  run_last_ = end;
  next_ = n;
}

// Report the used run scan_run() found as [start, ...], clipped.
void interval_tree_span_iter::report_used(uint64_t start) {
  is_hole = 0;
  start_used = start;
  if (run_last_ >= last_index_) {
    last_used = last_index_;
    final_ = true;
  } else {
    last_used = run_last_;
    final_ = false;
  }
}

void interval_tree_span_iter::first(const interval_tree &tree, uint64_t first_index,
                                    uint64_t last_index) {
  first_index_ = first_index;
  last_index_ = last_index;
  run_last_ = 0;
  if (first_index > last_index) {
    next_ = nullptr;
    final_ = true;
    is_hole = -1;
    return;
  }
  next_ = tree.iter_first(first_index, last_index);
  if (!next_) {
    is_hole = 1;
    start_hole = first_index;
    last_hole = last_index;
    final_ = true;
    return;
  }
  if (next_->start > first_index) {
    is_hole = 1;
    start_hole = first_index;
    last_hole = next_->start - 1;
    final_ = false;
    // Like Linux, find the following used run now, while the hole is shown.
    scan_run();
    return;
  }
  scan_run();
  report_used(first_index);
}

void interval_tree_span_iter::next() {
  if (is_hole == -1)
    return;
  if (final_) {
    is_hole = -1;
    return;
  }
  if (is_hole == 1) {
    // The run after this hole was scanned when the hole was reported; the
    // hole ended before a node that starts <= last_index_, so no wrap.
    report_used(last_hole + 1);
    return;
  }
  // After a used span that ended at run_last_ < last_index_.
  is_hole = 1;
  start_hole = run_last_ + 1;
  if (!next_) {
    last_hole = last_index_;
    final_ = true;
    return;
  }
  last_hole = next_->start - 1;
  scan_run();
}

void interval_tree_span_iter::advance(const interval_tree &tree, uint64_t new_index) {
  if (is_hole == -1)
    return;
  first_index_ = new_index;
  if (new_index > last_index_) {
    is_hole = -1;
    return;
  }
  // start/last alias across hole and used, so one test covers both kinds.
  if (start_hole <= new_index && new_index <= last_hole) {
    start_hole = new_index;
    return;
  }
  // Linux also takes this path when last_hole + 1 wraps to 0; we restart.
  if (last_hole != UINT64_MAX && new_index == last_hole + 1) {
    next();
    return;
  }
  first(tree, new_index, last_index_);
}

// ---------------------------------------------------------------------------
// Double span iterator

// Both spans[] always sit at the same index; combine their current spans.
void interval_tree_double_span_iter::update() {
  uint64_t hole_end = UINT64_MAX;
  for (int i = 0; i != 2; i++) {
    const interval_tree_span_iter &s = spans[i];
    if (s.done()) {
      is_used = -1;
      return;
    }
    if (s.is_hole) {
      hole_end = std::min(hole_end, s.last_hole);
      continue;
    }
    // Tree 0 wins outright; tree 1 is cut where tree 0's hole ends.
    is_used = i + 1;
    start_used = s.start_used;
    last_used = std::min(s.last_used, hole_end);
    return;
  }
  is_used = 0;
  start_hole = spans[0].start_hole;
  last_hole = std::min(spans[0].last_hole, spans[1].last_hole);
}

void interval_tree_double_span_iter::first(const interval_tree &t0, const interval_tree &t1,
                                           uint64_t first_index, uint64_t last_index) {
  itrees[0] = &t0;
  itrees[1] = &t1;
  spans[0].first(t0, first_index, last_index);
  spans[1].first(t1, first_index, last_index);
  update();
}

void interval_tree_double_span_iter::next() {
  if (is_used == -1)
    return;
  // last_hole aliases last_used. Stopping at last_index also keeps
  // last_hole + 1 from wrapping.
  if (last_hole == spans[0].last_index_) {
    is_used = -1;
    return;
  }
  for (int i = 0; i != 2; i++)
    spans[i].advance(*itrees[i], last_hole + 1);
  update();
}

} // namespace iommusim::iommufd
