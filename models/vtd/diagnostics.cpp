// SPDX-License-Identifier: MIT
// The stale-translation diagnostic (docs/vtd.md "Diagnostics"): a request
// served from an IOTLB entry whose leaf entry in memory now gives another
// translation (presence, output address, R/W, U/S, XD/X) while no
// invalidation removed the cached one — the driver changed a mapping without
// invalidating. A/D changes (by hardware or software) are not stale. Checked
// by a side-effect-free read of the leaf (no time). The same check as the
// SMMUv3 model's stale_tlb; only the descriptor comparison differs (x86
// formats), so it stays with the model.
#include <cstdio>

#include "models/common/x86_paging.h"
#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

namespace {

// The bits of a leaf that make a translation: everything but A and D (and
// the bits hardware ignores).
uint64_t fs_meaning(uint64_t d) { return d & ~(x86::fs_a | x86::fs_d); }
uint64_t ss_meaning(uint64_t d) { return d & ~(x86::ss_a | x86::ss_d); }

}  // namespace

void vtd::check_stale(const txn &x, const iotlb_entry &e) {
  if (!cfg_.diagnostics.stale_tlb) return;
  auto check = [&](const stage_leaf &l, bool first) {
    if (!l.present) return;
    uint64_t now = 0;
    if (!mem_peek(l.desc_pa, &now, 8)) return;
    const bool differs = first ? fs_meaning(now) != fs_meaning(l.desc)
                               : ss_meaning(now) != ss_meaning(l.desc);
    if (!differs) return;
    diag_stats_.counter("stale_tlb")++;
    if (diag_reports_.size() >= cfg_.diagnostics.max_reports) return;
    diag_report r;
    r.time = sc_core::sc_time_stamp();
    r.source_id = x.sid;
    r.pasid_valid = x.pv;
    r.pasid = x.pasid;
    r.iova = x.addr;
    r.pa = l.desc_pa;
    r.old_desc = l.desc;
    r.new_desc = now;
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "stale IOTLB entry: sid %04x iova 0x%llx served by %s-stage leaf at 0x%llx "
                  "cached 0x%016llx, memory 0x%016llx, no invalidation",
                  x.sid, static_cast<unsigned long long>(x.addr), first ? "first" : "second",
                  static_cast<unsigned long long>(l.desc_pa),
                  static_cast<unsigned long long>(l.desc), static_cast<unsigned long long>(now));
    r.message = buf;
    if (diag_reports_.empty() || diag_reports_.back().pa != r.pa)
      SC_REPORT_WARNING("/iommusim/vtd/stale_tlb", buf);
    diag_reports_.push_back(std::move(r));
  };
  check(e.fs, true);
  check(e.ss, false);
}

}  // namespace iommusim::models::vtd
