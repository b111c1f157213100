// SPDX-License-Identifier: MIT
// PASID directory and PASID table (VT-d §3.4.3, §9.5, §9.6): PASID[19:6]
// indexes the directory (2^(PDTS+7) 8-byte entries), PASID[5:0] a 64-entry
// table of 64-byte PASID entries whose PGTT selects first-stage, second-stage,
// nested or pass-through translation. Results are cached in the PASID cache by
// source id and PASID.
#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

bool vtd::lookup_pasid(uint16_t sid, const context_info &ctx, uint32_t pasid, pasid_info *pe,
                       fault_info *f, timing_ctx &t) {
  const auto r = pasid_cache_->lookup({sid, pasid});
  t.advance(r.cycles, clk_);
  if (r) {
    *pe = r.entry->pe;
    return true;
  }
  if (!fetch_pasid(ctx, pasid, pe, f, t)) return false;
  pasid_cache_entry e;
  e.sid = sid;
  e.pasid = pasid;
  e.pe = *pe;
  t.advance(pasid_cache_->fill(e).cycles, clk_);
  return true;
}

bool vtd::fetch_pasid(const context_info &ctx, uint32_t pasid, pasid_info *pe, fault_info *f,
                      timing_ctx &t) {
  const unsigned slot = walk_slots_.acquire(t);
  struct releaser {
    vtd *v;
    unsigned s;
    timing_ctx &t;
    ~releaser() { v->walk_slots_.release(s, t); }
  } rel{this, slot, t};
  f->record = !ctx.fpd;
  const uint64_t dir_index = pasid >> 6;
  if (dir_index >= (uint64_t{1} << (ctx.pdts + 7))) {
    // Beyond the directory the context entry describes.
    f->reason = SCT_7;
    return false;
  }
  uint64_t pde = 0;
  count("pasid_dir_reads");
  if (!mem_read(ctx.pasid_dir + dir_index * 8, &pde, 8, t)) {
    f->reason = SPD_1;
    return false;
  }
  if (!(pde & 1)) {
    f->reason = SPD_2;
    f->cls = fault_class::translation;
    return false;
  }
  if (pde & 2) f->record = false;  // FPD
  if (pde & 0xffc) {
    f->reason = SPD_3;
    return false;
  }
  uint64_t e[8] = {};
  count("pasid_entry_reads");
  if (!mem_read((pde & ~0xfffull) + (pasid & 63) * 64, e, 64, t)) {
    f->reason = SPT_1;
    return false;
  }
  t.advance(cfg_.latency.pasid_check, clk_);
  if (!(e[0] & 1)) {
    f->reason = SPT_2;
    f->cls = fault_class::translation;
    return false;
  }
  *pe = pasid_info{};
  pe->fpd = (e[0] & 2) || (pde & 2) || ctx.fpd;
  if (pe->fpd) f->record = false;
  const unsigned aw = (e[0] >> 2) & 7;
  pe->type = static_cast<pgtt>((e[0] >> 6) & 7);
  pe->ssade = e[0] & (1u << 9);
  pe->slptptr = e[0] & ~0xfffull;
  pe->ss_levels = aw + 2;
  pe->did = static_cast<uint16_t>(e[1] & 0xffff);
  pe->sre = e[2] & 1;
  const unsigned fspm = (e[2] >> 2) & 3;
  pe->fs_levels = fspm == 1 ? 5 : 4;
  pe->wpe = e[2] & (1u << 4);
  pe->eafe = e[2] & (1u << 7);
  pe->fsptptr = e[2] & ~0xfffull;
  if (e[3] || e[4] || e[5] || e[6] || e[7] || (e[0] & 0xc00) || (e[2] & 0xf62)) {
    f->reason = SPT_3;
    return false;
  }
  // §9.6: a PGTT, AW or FSPM the hardware does not support is an invalid entry.
  const ecap_config &ec = cfg_.ecap;
  bool ok = true;
  switch (pe->type) {
    case pgtt::first: ok = ec.fsts; break;
    case pgtt::second: ok = ec.ssts; break;
    case pgtt::nested: ok = ec.nest && ec.fsts && ec.ssts; break;
    case pgtt::pass_through: ok = ec.pt; break;
    default: ok = false; break;
  }
  const bool uses_ss = pe->type == pgtt::second || pe->type == pgtt::nested;
  const bool uses_fs = pe->type == pgtt::first || pe->type == pgtt::nested;
  if (uses_ss && !(aw >= 1 && aw <= 3 && (cfg_.cap.sagaw >> aw & 1))) ok = false;
  if (uses_fs && (fspm > 1 || (fspm == 1 && !cfg_.cap.fl5lp))) ok = false;
  if (pe->ssade && !ec.ssads) ok = false;
  if (pe->sre && !ec.srs) ok = false;
  if (!ok) {
    f->reason = SPT_4;
    return false;
  }
  return true;
}

}  // namespace iommusim::models::vtd
