// SPDX-License-Identifier: MIT
// Root and context tables (VT-d §3.4, §9.1-9.4): the source id's bus selects
// a root entry, its devfn a context entry. Legacy mode (RTADDR.TTM = 00):
// 16-byte root and context entries, TT/AW/SLPTPTR/DID in the context entry.
// Scalable mode (TTM = 01): the root entry has a lower (devfn 0-127) and an
// upper (128-255) context-table pointer; 32-byte context entries point to a
// PASID directory. Results are cached in the context cache by source id.
#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

namespace {

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

}  // namespace

bool vtd::lookup_context(uint16_t sid, context_info *ctx, fault_info *f, timing_ctx &t) {
  const auto r = ctx_cache_->lookup({sid});
  t.advance(r.cycles, clk_);
  count("iommu0.ctxt_cache_lookups");
  if (r) {
    count("iommu0.ctxt_cache_hits");
    *ctx = r.entry->ctx;
    return true;
  }
  if (!fetch_context(sid, ctx, f, t)) return false;
  context_cache_entry e;
  e.sid = sid;
  e.ctx = *ctx;
  t.advance(ctx_cache_->fill(e).cycles, clk_);
  return true;
}

bool vtd::fetch_context(uint16_t sid, context_info *ctx, fault_info *f, timing_ctx &t) {
  const unsigned bus = sid >> 8, devfn = sid & 0xff;
  const unsigned slot = walk_slots_.acquire(t);
  struct releaser {
    vtd *v;
    unsigned s;
    timing_ctx &t;
    ~releaser() { v->walk_slots_.release(s, t); }
  } rel{this, slot, t};
  uint64_t root[2] = {0, 0};
  const bool sm = scalable_;
  count("root_entry_reads");
  if (!mem_read(root_table_ + bus * 16, root, 16, t)) {
    f->reason = sm ? SRT_1 : FR_ROOT_ACCESS;
    return false;
  }
  const uint64_t haw_rsvd = ~low_mask(52) ;
  *ctx = context_info{};
  ctx->scalable = sm;
  if (!sm) {
    // §9.1 legacy root entry: P, CTP; everything else reserved.
    if (!(root[0] & 1)) {
      f->reason = FR_ROOT_NP;
      f->cls = fault_class::translation;
      return false;
    }
    if ((root[0] & 0xffe) || (root[0] & haw_rsvd) || root[1]) {
      f->reason = FR_ROOT_RSVD;
      return false;
    }
    uint64_t ce[2] = {0, 0};
    count("context_entry_reads");
    if (!mem_read((root[0] & ~0xfffull) + devfn * 16, ce, 16, t)) {
      f->reason = FR_CTX_ACCESS;
      return false;
    }
    t.advance(cfg_.latency.context_check, clk_);
    // §9.3 legacy context entry.
    if (!(ce[0] & 1)) {
      f->reason = FR_CTX_NP;
      f->cls = fault_class::translation;
      return false;
    }
    ctx->fpd = ce[0] & 2;
    if ((ce[0] & 0xff0) || (ce[1] & ~0xff'ff7full)) {
      f->reason = FR_CTX_RSVD;
      f->record = !ctx->fpd;
      return false;
    }
    const unsigned tt = (ce[0] >> 2) & 3;
    const unsigned aw = ce[1] & 7;
    ctx->did = static_cast<uint16_t>(ce[1] >> 8);
    ctx->slptptr = ce[0] & ~0xfffull;
    ctx->aw_levels = aw + 2;
    const bool aw_ok = aw >= 1 && aw <= 3 && (cfg_.cap.sagaw >> aw & 1);
    if (tt == 3 || (tt == 1 && !cfg_.ecap.dt) || (tt == 2 && !cfg_.ecap.pt) ||
        (tt != 2 && !aw_ok)) {
      f->reason = FR_CTX_INVALID;
      f->record = !ctx->fpd;
      return false;
    }
    ctx->tt = static_cast<legacy_tt>(tt);
    return true;
  }
  // §9.2 scalable root entry: LP/LCTP for devfn 0-127, UP/UCTP for 128-255.
  const uint64_t half = root[devfn >= 128 ? 1 : 0];
  if (!(half & 1)) {
    f->reason = SRT_2;
    f->cls = fault_class::translation;
    return false;
  }
  if ((root[0] & 0xffe) || (root[1] & 0xffe)) {
    f->reason = SRT_3;
    return false;
  }
  uint64_t ce[4] = {0, 0, 0, 0};
  count("context_entry_reads");
  if (!mem_read((half & ~0xfffull) + (devfn & 127) * 32, ce, 32, t)) {
    f->reason = SCT_1;
    return false;
  }
  t.advance(cfg_.latency.context_check, clk_);
  // §9.4 scalable context entry.
  if (!(ce[0] & 1)) {
    f->reason = SCT_2;
    f->cls = fault_class::translation;
    return false;
  }
  ctx->fpd = ce[0] & 2;
  ctx->dte = ce[0] & 4;
  ctx->paside = ce[0] & 8;
  ctx->pre = ce[0] & 16;
  ctx->pdts = (ce[0] >> 9) & 7;
  ctx->pasid_dir = ce[0] & ~0xfffull;
  ctx->rid_pasid = ce[1] & 0xfffff;
  if ((ce[0] & 0x1e0) || (ce[1] & ~0x1f'ffffull) || ce[2] || ce[3]) {
    f->reason = SCT_3;
    f->record = !ctx->fpd;
    return false;
  }
  if ((ctx->dte && !cfg_.ecap.dt) || (ctx->pre && !cfg_.ecap.prs) ||
      (ctx->paside && !cfg_.ecap.pasid)) {
    f->reason = SCT_4;
    f->record = !ctx->fpd;
    return false;
  }
  return true;
}

}  // namespace iommusim::models::vtd
