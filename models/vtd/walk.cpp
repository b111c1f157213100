// SPDX-License-Identifier: MIT
// Page walks (VT-d §3.6 first stage, §3.7 second stage, §3.8 nested) through
// the shared walk engine (models/common/walk.h) and the x86 formats
// (models/common/x86_paging.h):
//  - the walker's memory port counts every fetch and does A/D updates as
//    compare-and-swap;
//  - the paging-structure caches (one per stage and entry level) are probed
//    in parallel, the deepest hit wins (§6.2.4);
//  - nested: every first-stage table address is a GPA that the second stage
//    translates (through its own paging-structure caches), then the
//    first-stage output GPA is translated the same way.
#include <algorithm>

#include "models/common/x86_paging.h"
#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

namespace {

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

}  // namespace

class vtd::walk_mem : public walk_memory {
 public:
  explicit walk_mem(vtd *v) : v_(v) {}
  bool read64(uint64_t pa, uint64_t *value, timing_ctx &t) override {
    v_->count("page_walk_reads");
    return v_->mem_read(pa, value, 8, t);
  }
  bool cas64(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed,
             timing_ctx &t) override {
    v_->count("ad_updates");
    if (!v_->mem_cas(pa, expected, desired, observed, t)) {
      // walk.cpp convention: a failed access reports the expected value.
      *observed = expected;
      failed_update = true;
      return false;
    }
    return true;
  }
  bool failed_update = false;

 private:
  vtd *v_;
};

class vtd::pwc_view : public walk_cache_if {
 public:
  // start_level: the walk's first level (0 PML5, 1 PML4, ...). Entries of
  // levels above it do not exist in these tables, so their caches are not
  // probed (a 4-level walk leaves the PML5E cache alone).
  pwc_view(vtd *v, int stage, const pwc_key &base, int start_level)
      : v_(v), stage_(stage), start_(start_level < 0 ? 0 : static_cast<size_t>(start_level)), base_(base) {}
  bool lookup(uint64_t ia, int *level, uint64_t *table, timing_ctx &t) override {
    auto &caches = stage_ == 1 ? v_->pwc_fs_ : v_->pwc_ss_;
    uint32_t cost = 0;
    bool hit = false;
    for (size_t l = start_; l < caches.size(); l++) {
      auto *c = caches[l].get();
      if (!c) continue;
      pwc_key k = base_;
      k.prefix = ia >> x86::level_shift(static_cast<int>(l));
      const auto r = c->lookup(k);
      cost = std::max(cost, r.cycles);
      if (r) {
        *level = static_cast<int>(l) + 1;
        *table = r.entry->table;
        hit = true;
      }
    }
    t.advance(cost, v_->clk_);
    v_->count("iommu0.pwt_cache_lookups");
    if (hit) v_->count("iommu0.pwt_cache_hits");
    return hit;
  }
  void fill(int level, uint64_t ia, uint64_t table) override {
    const int l = level - 1;  // the entry at level l points to the table at `level`
    auto &caches = stage_ == 1 ? v_->pwc_fs_ : v_->pwc_ss_;
    if (l < 0 || l >= static_cast<int>(caches.size()) || !caches[static_cast<size_t>(l)]) return;
    pwc_entry e;
    e.tag = base_;
    e.shift = static_cast<uint8_t>(x86::level_shift(l));
    e.tag.prefix = ia >> e.shift;
    e.table = table;
    caches[static_cast<size_t>(l)]->fill(e);
  }

 private:
  vtd *v_;
  int stage_;
  size_t start_;
  pwc_key base_;
};

// The second stage of a nested first-stage walk's table addresses.
class vtd::ss_translator : public table_translator {
 public:
  ss_translator(vtd *v, const translation_ctx &c) : v_(v), c_(c) {}
  walk_result translate_table(uint64_t gpa, timing_ctx &t) override {
    walk_result r;
    stage_leaf leaf;
    access_kind acc;  // a table fetch is a read
    if (!v_->walk_second(c_, gpa, acc, &leaf, &fault, t)) {
      r.fault = walk_fault::translation;  // the reason is in `fault`
      return r;
    }
    r.xlate = leaf.x;
    return r;
  }
  fault_info fault;

 private:
  vtd *v_;
  const translation_ctx &c_;
};

namespace {

uint8_t fs_reason(const walk_result &r, bool update_failed, int start_level) {
  switch (r.fault) {
    case walk_fault::translation: return SFS_2;
    case walk_fault::reserved: return SFS_3;
    case walk_fault::external_abort:
      if (update_failed) return SFS_10;
      // The root table's fetch (no cached upper level) has its own reason.
      return r.level == start_level && r.resume_level < 0 ? SFS_4 : SFS_1;
    default: return SFS_3;
  }
}

// Nested: the second stage's answer for a first-stage table's GPA, as the
// first stage reports it (§3.8).
uint8_t nested_table_reason(uint8_t ss, bool root_table) {
  switch (ss) {
    case SGN_5: return SFS_5;
    case SSS_2: case SGN_7: return root_table ? SFS_6 : SFS_7;
    default: return ss;
  }
}

fault_class class_of(uint8_t reason) {
  switch (reason) {
    case FR_READ: case FR_WRITE: case SGN_2: case SGN_3: case SGN_6: case SGN_7:
      return fault_class::permission;
    case FR_ADDR_BEYOND_AGAW: case SFS_2: case SSS_2: case SGN_1: case SGN_5:
      return fault_class::translation;
    default:
      return fault_class::other;
  }
}

uint8_t deny_reason(x86::deny d, bool scalable) {
  switch (d) {
    case x86::deny::privilege: return SGN_2;
    case x86::deny::exec: return SGN_3;
    case x86::deny::read: return scalable ? SGN_7 : FR_READ;
    case x86::deny::write: return scalable ? SGN_6 : FR_WRITE;
    case x86::deny::none: break;
  }
  return 0;
}

}  // namespace

uint64_t vtd::fs_flags(const translation_ctx &c) const {
  uint64_t ff = 0;
  if (cfg_.cap.fl1gp) ff |= x86::ff_fs_1g;
  if (c.pe.wpe) ff |= x86::ff_wpe;
  if (cfg_.ecap.ers) ff |= x86::ff_exec;
  return ff;
}

uint64_t vtd::ss_flags(const translation_ctx &c) const {
  uint64_t ff = 0;
  if (cfg_.cap.sllps & 1) ff |= x86::ff_ss_2m;
  if (cfg_.cap.sllps & 2) ff |= x86::ff_ss_1g;
  if (c.ctx.scalable && c.pe.ssade) ff |= x86::ff_ss_ad;
  if (cfg_.ecap.ers) ff |= x86::ff_exec;
  return ff;
}

unsigned vtd::ss_levels(const translation_ctx &c) const {
  return c.ctx.scalable ? c.pe.ss_levels : c.ctx.aw_levels;
}

uint8_t vtd::ss_fault_reason(const translation_ctx &c, const walk_result &r, int start_level,
                             const access_kind &acc) const {
  const bool sm = c.ctx.scalable;
  switch (r.fault) {
    case walk_fault::translation:
      // A not-present entry (R = W = 0): legacy mode reports it as the read
      // or write it refused.
      return sm ? SSS_2 : (acc.write ? FR_WRITE : FR_READ);
    case walk_fault::reserved:
      return sm ? SSS_3 : FR_PTE_RSVD;
    case walk_fault::external_abort:
      if (!sm) return FR_PTE_ACCESS;
      // The root table's fetch (no cached upper level) has its own reason.
      return r.level == start_level && r.resume_level < 0 && r.updates == 0 ? SSS_4 : SSS_1;
    default:
      return sm ? SSS_3 : FR_PTE_RSVD;
  }
}

bool vtd::walk_second(const translation_ctx &c, uint64_t gpa, const access_kind &acc,
                      stage_leaf *leaf, fault_info *f, timing_ctx &t) {
  const unsigned levels = ss_levels(c);
  const unsigned agaw = std::min(x86::input_bits(levels), cfg_.cap.mgaw);
  if (gpa >> agaw) {
    f->reason = c.ctx.scalable ? SGN_5 : FR_ADDR_BEYOND_AGAW;
    f->cls = fault_class::translation;
    f->addr = gpa;
    return false;
  }
  walk_params p;
  p.ttb = c.ctx.scalable ? c.pe.slptptr : c.ctx.slptptr;
  p.start_level = x86::start_level(levels);
  p.ias = x86::input_bits(levels);
  p.oas = 52;
  p.format_flags = ss_flags(c);
  pwc_key k;
  k.stage = 2;
  k.did = c.did;
  pwc_view cache(this, 2, k, p.start_level);
  walk_mem mem(this);
  count("second_stage_walks");
  const walk_result r =
      walk_engine::walk(*fmt_ss_, p, gpa, acc, mem, &cache, nullptr, clk_, wt_, t);
  if (r.fault != walk_fault::none) {
    if (r.fault == walk_fault::permission) {
      f->reason = deny_reason(x86::ss_check(r.xlate, acc, p.format_flags), c.ctx.scalable);
    } else {
      f->reason = ss_fault_reason(c, r, p.start_level, acc);
    }
    // A not-present entry is a translation fault whatever its legacy code.
    f->cls = r.fault == walk_fault::translation ? fault_class::translation : class_of(f->reason);
    f->addr = gpa;
    return false;
  }
  leaf->present = true;
  leaf->level = r.level;
  leaf->in_page = gpa & ~low_mask(r.xlate.page_shift);
  leaf->x = r.xlate;
  leaf->desc = r.leaf_desc;
  leaf->desc_pa = r.leaf_desc_pa;
  return true;
}

bool vtd::walk_first(const txn &x, const translation_ctx &c, const access_kind &acc,
                     iotlb_entry *e, fault_info *f, timing_ctx &t) {
  walk_params p;
  p.ttb = c.pe.fsptptr;
  p.start_level = x86::start_level(c.pe.fs_levels);
  p.ias = x86::input_bits(c.pe.fs_levels);
  p.oas = 52;
  p.format_flags = fs_flags(c);
  if (!fmt_fs_->input_in_range(x.addr, p)) {
    f->reason = SGN_1;
    f->cls = fault_class::translation;
    return false;
  }
  const bool nested = c.mode == pgtt::nested;
  pwc_key k;
  k.stage = 1;
  k.did = c.did;
  k.pasid = c.pasid;
  pwc_view cache(this, 1, k, p.start_level);
  walk_mem mem(this);
  ss_translator s2(this, c);
  count(nested ? "nested_walks" : "first_stage_walks");
  const walk_result r = walk_engine::walk(*fmt_fs_, p, x.addr, acc, mem, &cache,
                                          nested ? &s2 : nullptr, clk_, wt_, t);
  if (r.fault != walk_fault::none) {
    if (r.s2_fault) {
      *f = s2.fault;
      f->reason = nested_table_reason(f->reason, r.level == p.start_level && r.resume_level < 0);
    } else if (r.fault == walk_fault::permission) {
      f->reason = deny_reason(x86::fs_check(r.xlate, acc, p.format_flags), true);
    } else {
      f->reason = fs_reason(r, mem.failed_update, p.start_level);
    }
    f->cls = class_of(f->reason);
    return false;
  }
  e->kind = nested ? xl_kind::nested : xl_kind::first;
  e->did = c.did;
  e->pasid = c.pasid;
  e->global = r.xlate.attrs & x86::xa_global;
  e->fs.present = true;
  e->fs.level = r.level;
  e->fs.in_page = x.addr & ~low_mask(r.xlate.page_shift);
  e->fs.x = r.xlate;
  e->fs.desc = r.leaf_desc;
  e->fs.desc_pa = r.leaf_desc_pa;
  e->page_shift = r.xlate.page_shift;
  e->ia = e->fs.in_page;
  e->oa = r.xlate.out_addr;
  e->read = true;
  e->write = r.xlate.write;
  e->exec = r.xlate.exec;
  e->user = !r.xlate.priv_only;
  if (!nested) return true;
  // §3.8: the first-stage output is a GPA the second stage translates.
  const uint64_t gpa = r.xlate.out_addr | (x.addr & low_mask(r.xlate.page_shift));
  if (!walk_second(c, gpa, acc, &e->ss, f, t)) return false;
  t.advance(cfg_.latency.nested_combine, clk_);
  e->page_shift = std::min(e->fs.x.page_shift, e->ss.x.page_shift);
  e->ia = x.addr & ~low_mask(e->page_shift);
  e->oa = (e->ss.x.out_addr | (gpa & low_mask(e->ss.x.page_shift))) & ~low_mask(e->page_shift);
  e->read = e->ss.x.read;
  e->write = e->write && e->ss.x.write;
  return true;
}

}  // namespace iommusim::models::vtd
