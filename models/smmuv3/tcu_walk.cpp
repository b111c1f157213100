// SPDX-License-Identifier: MIT
// TCU table walks (SMMUv3 §3.4 address sizes, §3.13 HTTU, §5.4 CD
// translation controls, §5.2 STE stage-2 controls) through the shared walk
// engine (models/common/walk.h) and the VMSAv8-64 formats (vmsav8.h):
//  - stage 1 from a CD (TTB0/TTB1 by VA[55], TBI, EPD, HAD, HA/HD),
//  - stage 2 from an STE (S2T0SZ/SL0/TG/PS, S2HA/S2HD), with the main TLB
//    caching stage-2 results for the stage-2 translation of stage-1 table
//    descriptors, of CD-table accesses and of the stage-1 output (nested),
//  - walk caches per stage and level, tagged by regime (StreamWorld, VMID,
//    ASID, TTBx, granule) and input-address prefix.
#include <algorithm>

#include "models/common/vmsav8.h"
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

namespace {

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

}  // namespace

// ---------------------------------------------------------------- adapters

// The walker's memory port: every descriptor fetch and HTTU update goes
// downstream, timed; the unsynced-unmap diagnostic watches descriptor fetches.
class smmuv3::walk_mem : public walk_memory {
 public:
  explicit walk_mem(smmuv3 *s) : s_(s) {}
  bool read64(uint64_t pa, uint64_t *value, timing_ctx &t) override {
    s_->count("trans_table_walk_access");  // PMCG event 4
    s_->check_unsynced_walk(pa);
    if ((pa >> s_->cfg_.idr.oas) != 0 || !s_->mem_read(pa, value, 8, t)) {
      failed_pa = pa;
      return false;
    }
    return true;
  }
  bool cas64(uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed,
             timing_ctx &t) override {
    // §3.13: HTTU updates are atomic read-modify-writes of the descriptor.
    s_->count("httu_updates");
    if (!s_->mem_cas(pa, expected, desired, observed, t)) {
      // walk.cpp convention: a failed access reports the expected value, so
      // the engine sees an external abort, not a descriptor that changed.
      *observed = expected;
      failed_pa = pa;
      failed_on_update = true;
      return false;
    }
    if (*observed != expected) s_->count("httu_update_retries");
    return true;
  }
  uint64_t failed_pa = 0;
  bool failed_on_update = false;

 private:
  smmuv3 *s_;
};

// The per-level walk caches of one stage, seen by the engine as one
// structure: every enabled level at or below the start level is probed in
// parallel (the lookup costs the slowest), the deepest hit wins.
class smmuv3::walk_cache_view : public walk_cache_if {
 public:
  walk_cache_view(smmuv3 *s, int stage, const wc_key &base, const pt_format &fmt,
                  const walk_params &p)
      : s_(s), stage_(stage), base_(base), fmt_(fmt), p_(p) {}

  bool lookup(uint64_t ia, int *level, uint64_t *table, timing_ctx &t) override {
    auto &caches = stage_ == 1 ? s_->wc_s1_ : s_->wc_s2_;
    auto &ctrs = stage_ == 1 ? s_->wc_s1_ctr_ : s_->wc_s2_ctr_;
    uint32_t cost = 0;
    bool hit = false;
    for (int l = std::max(0, p_.start_level); l <= 2; l++) {
      auto *c = caches[static_cast<size_t>(l)].get();
      if (!c) continue;
      wc_key k = base_;
      k.prefix = ia >> fmt_.level_shift(l, p_);
      const auto r = c->lookup(k);
      cost = std::max(cost, r.cycles);
      if (r) {
        *level = l + 1;
        *table = r.entry->table;
        hit = true;
      }
      ctrs[static_cast<size_t>(l)]->publish(c->stats());
    }
    t.advance(cost, s_->clk_);
    return hit;
  }

  void fill(int level, uint64_t ia, uint64_t table) override {
    const int l = level - 1;  // the table descriptor at l points to the table at level
    if (l < 0 || l > 2) return;
    auto &caches = stage_ == 1 ? s_->wc_s1_ : s_->wc_s2_;
    auto *c = caches[static_cast<size_t>(l)].get();
    if (!c) return;
    wc_entry e;
    e.tag = base_;
    e.shift = static_cast<uint8_t>(fmt_.level_shift(l, p_));
    e.tag.prefix = ia >> e.shift;
    e.table = table;
    e.ia = ia;
    c->fill(e);
    (stage_ == 1 ? s_->wc_s1_ctr_ : s_->wc_s2_ctr_)[static_cast<size_t>(l)]->publish(c->stats());
  }

 private:
  smmuv3 *s_;
  int stage_;
  wc_key base_;
  const pt_format &fmt_;
  const walk_params &p_;
};

// Stage 2 of a nested stage-1 walk's descriptor addresses (CLASS == TT).
class smmuv3::s2_translator : public table_translator {
 public:
  s2_translator(smmuv3 *s, const stream_ctx &ctx) : s_(s), ctx_(ctx) {}
  walk_result translate_table(uint64_t ipa, timing_ctx &t) override {
    walk_result r;
    uint64_t pa = 0;
    if (!s_->stage2_lookup_or_walk(ctx_, ipa, make_access(false, false, true), &pa, &fault,
                                   evt_class::TT, t)) {
      r.fault = walk_fault::translation;  // the kind is in `fault`
      return r;
    }
    r.xlate.page_shift = 12;
    r.xlate.out_addr = pa - (ipa & 0xfff);
    return r;
  }
  fault_info fault;

 private:
  smmuv3 *s_;
  const stream_ctx &ctx_;
};

// ---------------------------------------------------------------- parameters

walk_params smmuv3::s1_params(const stream_ctx &ctx, uint64_t va, int *ttbr, uint64_t *ia) const {
  const cd_info &cd = ctx.cd;
  const bool el2 = ctx.world == xl_world::el2;  // one VA range, TTB0 only
  const bool upper = !el2 && ((va >> 55) & 1);
  *ttbr = upper ? 1 : 0;
  const cd_ttb &b = upper ? cd.t1 : cd.t0;
  // TBI (§5.4 TBI0/TBI1): VA[63:56] are ignored and taken as copies of VA[55].
  const bool tbi = (cd.tbi >> *ttbr) & 1;
  *ia = va;
  if (tbi) *ia = upper ? (va | 0xff00'0000'0000'0000ull) : (va & 0x00ff'ffff'ffff'ffffull);
  walk_params p;
  if (b.epd) {
    p.format_flags = vmsav8::ff_epd | (upper ? vmsav8::ff_ttb1 : 0);
    return p;
  }
  vmsav8::s1_fields f;
  f.ttb = b.ttb;
  f.t0sz = b.tsz;
  f.tg = b.tg;
  f.ips = cd.ips > 6 ? 6 : cd.ips;
  f.epd = false;
  f.hpd = b.had && cfg_.idr.s1p;  // IDR3.HAD
  f.ha = cd.ha && cfg_.idr.httu >= 1;
  f.hd = cd.hd && cfg_.idr.httu >= 2;
  f.ttb1 = upper;
  if (!vmsav8::make_s1_params(f, cfg_.idr.oas, &p).empty()) {
    // Checked when the CD was fetched (C_BAD_CD); unreachable for a cached CD.
    p = walk_params{};
    p.format_flags = vmsav8::ff_epd;
  }
  return p;
}

walk_params smmuv3::s2_params(const stream_ctx &ctx) const {
  const ste_info &s = ctx.ste;
  vmsav8::s2_fields f;
  f.ttb = s.s2ttb;
  f.t0sz = s.s2t0sz;
  f.sl0 = s.s2sl0;
  f.tg = s.s2tg;
  f.ps = s.s2ps > 6 ? 6 : s.s2ps;
  f.ha = s.s2ha && cfg_.idr.httu >= 1;
  f.hd = s.s2hd && cfg_.idr.httu >= 2;
  f.xnx = false;  // IDR3.XNX == 0
  walk_params p;
  vmsav8::make_s2_params(f, cfg_.idr.oas, &p);  // checked with the STE (C_BAD_STE)
  return p;
}

// ---------------------------------------------------------------- faults

void smmuv3::fault_from_walk(const walk_result &r, bool stage2, unsigned cls, uint64_t ipa,
                             fault_info *f) {
  switch (r.fault) {
    case walk_fault::translation:
    case walk_fault::reserved:
      f->event = evt::F_TRANSLATION;
      f->cls_for_device = fault_class::translation;
      break;
    case walk_fault::access_flag:
      f->event = evt::F_ACCESS;
      f->cls_for_device = fault_class::translation;
      break;
    case walk_fault::address_size:
      f->event = evt::F_ADDR_SIZE;
      f->cls_for_device = fault_class::other;
      break;
    case walk_fault::permission:
      f->event = evt::F_PERMISSION;
      f->cls_for_device = fault_class::permission;
      break;
    case walk_fault::external_abort:
      f->event = evt::F_WALK_EABT;
      f->cls_for_device = fault_class::other;
      break;
    case walk_fault::none:
      break;
  }
  f->s2 = stage2;
  f->cls = cls;
  f->ipa = stage2 ? ipa : 0;
}

// ---------------------------------------------------------------- walks

walk_result smmuv3::walk_stage1(const stream_ctx &ctx, uint64_t va, const access_kind &acc,
                                stage_leaf *leaf, fault_info *f, timing_ctx &t) {
  int ttbr = 0;
  uint64_t ia = va;
  const walk_params p = s1_params(ctx, va, &ttbr, &ia);
  wc_key base;
  base.stage = 1;
  base.world = ctx.world;
  base.vmid = ctx.vmid;
  base.asid = ctx.asid;
  base.ttbr = static_cast<uint8_t>(ttbr);
  base.granule_shift = static_cast<uint8_t>(p.granule_shift);
  walk_mem mem(this);
  walk_cache_view wc(this, 1, base, *fmt_s1_, p);
  s2_translator s2x(this, ctx);
  const walk_result r = walk_engine::walk(*fmt_s1_, p, ia, acc, mem, &wc, ctx.s2 ? &s2x : nullptr,
                                          clk_, wt_, t);
  if (r.fault != walk_fault::none) {
    if (r.s2_fault) {
      // §7.3.13: a stage-2 fault on a stage-1 descriptor fetch: S2, CLASS == TT,
      // IPA = the descriptor's IPA.
      *f = s2x.fault;
      f->ttrnw = true;
      return r;
    }
    fault_from_walk(r, false, evt_class::IN, 0, f);
    if (r.fault == walk_fault::external_abort) {
      // §7.3.12: a stage-1 descriptor abort is S2 == 0, CLASS == TT.
      f->cls = evt_class::TT;
      f->fetch_addr = mem.failed_pa;
    }
    return r;
  }
  leaf->present = true;
  leaf->level = r.level;
  leaf->granule_shift = p.granule_shift;
  leaf->x = r.xlate;
  leaf->in_page = va & ~low_mask(r.xlate.page_shift);
  leaf->desc = r.leaf_desc;
  leaf->desc_pa = r.leaf_desc_pa;
  return r;
}

walk_result smmuv3::walk_stage2(const stream_ctx &ctx, uint64_t ipa, const access_kind &acc,
                                stage_leaf *leaf, fault_info *f, unsigned cls, timing_ctx &t) {
  const walk_params p = s2_params(ctx);
  wc_key base;
  base.stage = 2;
  base.vmid = ctx.vmid;
  base.granule_shift = static_cast<uint8_t>(p.granule_shift);
  walk_mem mem(this);
  walk_cache_view wc(this, 2, base, *fmt_s2_, p);
  const walk_result r =
      walk_engine::walk(*fmt_s2_, p, ipa, acc, mem, &wc, nullptr, clk_, wt_, t);
  if (r.fault != walk_fault::none) {
    fault_from_walk(r, true, cls, ipa, f);
    if (r.fault == walk_fault::external_abort) f->fetch_addr = mem.failed_pa;
    return r;
  }
  leaf->present = true;
  leaf->level = r.level;
  leaf->granule_shift = p.granule_shift;
  leaf->x = r.xlate;
  leaf->in_page = ipa & ~low_mask(r.xlate.page_shift);
  leaf->desc = r.leaf_desc;
  leaf->desc_pa = r.leaf_desc_pa;
  return r;
}

bool smmuv3::stage2_translate(const stream_ctx &ctx, uint64_t ipa, const access_kind &acc,
                              stage_leaf *leaf, fault_info *f, unsigned cls, timing_ctx &t) {
  // The main TLB's stage-2 entries (VMID + IPA page) first.
  tlb_key key;
  key.kind = xl_kind::s2;
  key.vmid = ctx.vmid;
  key.ia = ipa;
  auto lr = main_tlb_->lookup(key);
  main_tlb_entry hit_entry;
  const bool hit = static_cast<bool>(lr);
  if (hit) hit_entry = *lr.entry;
  main_tlb_ctr_.publish(main_tlb_->stats());
  t.advance(lr.cycles, clk_);
  if (hit) {
    switch (hit_entry.s2.verdict(acc)) {
      case perm_verdict::ok:
        *leaf = hit_entry.s2;
        return true;
      case perm_verdict::fault:
        f->event = evt::F_PERMISSION;
        f->cls_for_device = fault_class::permission;
        f->s2 = true;
        f->cls = cls;
        f->ipa = ipa;
        return false;
      case perm_verdict::update:
        break;  // walk again to set the dirty state
    }
  } else {
    count("tlb_miss");
  }
  const walk_result r = walk_stage2(ctx, ipa, acc, leaf, f, cls, t);
  if (r.fault != walk_fault::none) return false;
  main_tlb_entry e;
  e.kind = xl_kind::s2;
  e.vmid = ctx.vmid;
  e.page_shift = leaf->x.page_shift;
  e.ia = leaf->in_page;
  e.oa = leaf->x.out_addr;
  e.s2 = *leaf;
  check_unsynced_fill(e);
  const auto fr = main_tlb_->fill(e);
  t.advance(fr.cycles, clk_);
  main_tlb_ctr_.publish(main_tlb_->stats());
  return true;
}

bool smmuv3::stage2_lookup_or_walk(const stream_ctx &ctx, uint64_t ipa, const access_kind &acc,
                                   uint64_t *pa, fault_info *f, unsigned cls, timing_ctx &t) {
  stage_leaf leaf;
  if (!stage2_translate(ctx, ipa, acc, &leaf, f, cls, t)) return false;
  *pa = leaf.x.out_addr | (ipa & low_mask(leaf.x.page_shift));
  return true;
}

// A full TCU walk for a transaction: stage 1, stage 2, or both (nested: the
// stage-1 output goes through stage 2 and the result is one combined entry
// at the smaller of the two page sizes).
bool smmuv3::tcu_walk(const txn &x, const stream_ctx &ctx, const access_kind &acc,
                      main_tlb_entry *out, fault_info *f, timing_ctx &t) {
  main_tlb_entry e;
  e.kind = ctx.kind();
  e.world = ctx.world;
  e.vmid = ctx.vmid;
  e.asid = ctx.asid;
  if (ctx.s1) {
    stage_leaf l1;
    if (walk_stage1(ctx, x.addr, acc, &l1, f, t).fault != walk_fault::none) return false;
    e.s1 = l1;
    e.global = ctx.world == xl_world::el2 || !(l1.x.attrs & vmsav8::xa_ng);
    if (ctx.s2 && !ctx.split) {
      const uint64_t ipa = l1.x.out_addr | (x.addr & low_mask(l1.x.page_shift));
      stage_leaf l2;
      if (!stage2_translate(ctx, ipa, acc, &l2, f, evt_class::IN, t)) return false;
      e.s2 = l2;
      t.advance(cfg_.latency.nested_combine, clk_);
      const unsigned shift = std::min(l1.x.page_shift, l2.x.page_shift);
      const uint64_t pa = l2.x.out_addr | (ipa & low_mask(l2.x.page_shift));
      e.page_shift = shift;
      e.ia = x.addr & ~low_mask(shift);
      e.oa = pa & ~low_mask(shift);
    } else {
      e.page_shift = l1.x.page_shift;
      e.ia = l1.in_page;
      e.oa = l1.x.out_addr;
    }
  } else {
    stage_leaf l2;
    if (walk_stage2(ctx, x.addr, acc, &l2, f, evt_class::IN, t).fault != walk_fault::none)
      return false;
    e.s2 = l2;
    e.page_shift = l2.x.page_shift;
    e.ia = l2.in_page;
    e.oa = l2.x.out_addr;
  }
  *out = e;
  return true;
}

}  // namespace iommusim::models::smmuv3
