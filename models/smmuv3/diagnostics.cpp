// SPDX-License-Identifier: MIT
// Driver-bug diagnostics (diagnostics.h): stale TLB entries and pages reused
// between an unmap's TLBI and its CMD_SYNC.
#include <sstream>

#include "models/common/vmsav8.h"
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

namespace {

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

std::string hex(uint64_t v) {
  std::ostringstream o;
  o << "0x" << std::hex << v;
  return o.str();
}

}  // namespace

// ---------------------------------------------------------------- engine

bool diag_engine::translation_differs(uint64_t cached, uint64_t now, int level,
                                      unsigned page_shift, bool stage2) {
  using namespace vmsav8;
  (void)stage2;  // AP / S2AP and XN sit at the same bits in both stages
  // Validity and descriptor type (a block or page turned into a table).
  if (!(now & d_valid)) return true;
  const bool want_type = level >= 3;  // level 3: bit 1 set (page); above: clear (block)
  if (((now & d_table) != 0) != want_type) return true;
  // Output address.
  const uint64_t oa_mask = d_addr_mask & ~low_mask(page_shift);
  if ((cached & oa_mask) != (now & oa_mask)) return true;
  // Permissions: AP[2:1] / S2AP[1:0], PXN/UXN / XN[1:0]. Dirty state is
  // AP[2] (stage 1) or S2AP[1] (stage 2) of a DBM descriptor: hardware and
  // software move it without a TLB invalidation being required.
  uint64_t perm_mask = d_ap1 | d_ap2 | d_pxn | d_uxn;
  if ((cached | now) & d_dbm) perm_mask &= ~d_ap2;
  return (cached & perm_mask) != (now & perm_mask);
}

void diag_engine::report(diag_report r) {
  if (stats_)
    stats_->counter(r.what == diag_report::kind::stale_tlb ? "stale_tlb" : "unsynced_reuse")++;
  const auto key = std::make_tuple(static_cast<int>(r.what), r.stream_id,
                                   r.ssid_valid ? r.ssid : 0xffffffffu, r.iova >> 12, r.old_desc,
                                   r.new_desc);
  if (printed_.insert(key).second)
    SC_REPORT_WARNING("iommusim/smmuv3/diagnostics", r.message.c_str());
  if (reports_.size() < max_reports_) reports_.push_back(std::move(r));
  else if (stats_) stats_->counter("reports_not_kept")++;
}

void diag_engine::open_record(const unsynced_record &r) {
  // The same translation removed from several caches (main TLB, micro TLBs)
  // is one unmap.
  auto [lo, hi] = records_.equal_range(r.pa);
  for (auto it = lo; it != hi; ++it) {
    const unsynced_record &o = it->second;
    if (o.size == r.size && o.kind == r.kind && o.world == r.world && o.vmid == r.vmid &&
        o.asid == r.asid && o.ia == r.ia)
      return;
  }
  if (records_.size() >= max_records_) {
    records_.erase(records_.begin());
    if (stats_) stats_->counter("unsynced_records_dropped")++;
  }
  records_.emplace(r.pa, r);
  if (r.size > max_size_) max_size_ = r.size;
}

unsynced_record *diag_engine::find_conflict(uint64_t pa, uint64_t len, const unsynced_record *same) {
  if (records_.empty()) return nullptr;
  const uint64_t end = pa + (len ? len : 1);
  // Records starting before `end` whose start is within max_size_ of pa.
  auto it = records_.lower_bound(end);
  while (it != records_.begin()) {
    --it;
    unsynced_record &r = it->second;
    if (r.pa + max_size_ <= pa) break;
    if (r.reported || r.pa + r.size <= pa) continue;
    if (same && same->kind == r.kind && same->world == r.world && same->vmid == r.vmid &&
        same->asid == r.asid && same->ia == r.ia)
      continue;  // the same mapping again: not a reuse
    return &r;
  }
  return nullptr;
}

// ---------------------------------------------------------------- checks

void smmuv3::check_stale(const txn &x, const xl_entry &e) {
  if (!diag_.stale_enabled()) return;
  for (int stage = 1; stage <= 2; stage++) {
    const stage_leaf &l = stage == 1 ? e.s1 : e.s2;
    if (!l.present) continue;
    uint64_t now = 0;
    if (!mem_peek(l.desc_pa, &now, 8)) continue;
    if (!diag_engine::translation_differs(l.desc, now, l.level, l.x.page_shift, stage == 2))
      continue;
    diag_report r;
    r.what = diag_report::kind::stale_tlb;
    r.time = sc_core::sc_time_stamp();
    r.stream_id = x.sid;
    r.ssid_valid = x.ssv;
    r.ssid = x.ssv ? x.ssid : 0;
    r.iova = x.addr;
    r.pa = l.desc_pa;
    r.old_desc = l.desc;
    r.new_desc = now;
    r.message = std::string(name()) + ": stale TLB entry served a DMA at " + r.time.to_string() +
                ": StreamID " + hex(x.sid) + (x.ssv ? " SubstreamID " + hex(x.ssid) : "") +
                " IOVA " + hex(x.addr) + ": stage-" + std::to_string(stage) + " leaf at " +
                hex(l.desc_pa) + " was " + hex(l.desc) + ", memory now holds " + hex(now) +
                " (changed without a TLB invalidation)";
    diag_.report(std::move(r));
    return;  // one report per DMA
  }
}

namespace {

unsynced_record identity_of(const xl_entry &e) {
  unsynced_record id;
  id.kind = static_cast<uint8_t>(e.kind);
  id.world = static_cast<uint8_t>(e.world);
  id.vmid = e.vmid;
  id.asid = e.asid;
  id.ia = e.ia;
  return id;
}

}  // namespace

void smmuv3::check_unsynced_dma(const txn &x, const xl_result &r, uint64_t len) {
  if (!diag_.unsynced_enabled() || !diag_.has_open_records()) return;
  unsynced_record id;
  const bool mapped = r.what == outcome::translated;
  if (mapped) id = identity_of(r.entry);
  unsynced_record *rec = diag_.find_conflict(r.pa, len, mapped ? &id : nullptr);
  if (!rec) return;
  rec->reported = true;
  diag_report d;
  d.what = diag_report::kind::unsynced_reuse;
  d.time = sc_core::sc_time_stamp();
  d.stream_id = x.sid;
  d.ssid_valid = x.ssv;
  d.ssid = x.ssv ? x.ssid : 0;
  d.iova = x.addr;
  d.pa = r.pa & ~low_mask(12);
  d.old_desc = rec->desc;
  d.new_desc = mapped ? (r.entry.s1.present ? r.entry.s1.desc : r.entry.s2.desc) : 0;
  d.used_by = "dma";
  d.message = std::string(name()) + ": page " + hex(rec->pa) + " unmapped (IOVA " + hex(rec->ia) +
              ") by a TLBI not yet followed by CMD_SYNC was reused by a DMA at " +
              d.time.to_string() + ": StreamID " + hex(x.sid) +
              (x.ssv ? " SubstreamID " + hex(x.ssid) : "") + " IOVA " + hex(x.addr) + " -> PA " +
              hex(r.pa);
  diag_.report(std::move(d));
}

void smmuv3::check_unsynced_fill(const xl_entry &e) {
  if (!diag_.unsynced_enabled() || !diag_.has_open_records()) return;
  const unsynced_record id = identity_of(e);
  unsynced_record *rec = diag_.find_conflict(e.oa, uint64_t{1} << e.page_shift, &id);
  if (!rec) return;
  rec->reported = true;
  diag_report d;
  d.what = diag_report::kind::unsynced_reuse;
  d.time = sc_core::sc_time_stamp();
  d.iova = e.ia;
  d.pa = e.oa;
  d.old_desc = rec->desc;
  d.new_desc = e.s1.present ? e.s1.desc : e.s2.desc;
  d.used_by = "fill";
  d.message = std::string(name()) + ": page " + hex(rec->pa) + " unmapped (IOVA " + hex(rec->ia) +
              ") by a TLBI not yet followed by CMD_SYNC was mapped again at IOVA " + hex(e.ia) +
              " (TLB fill at " + d.time.to_string() + ", descriptor " + hex(d.new_desc) + ")";
  diag_.report(std::move(d));
}

void smmuv3::check_unsynced_walk(uint64_t desc_pa) {
  if (!diag_.unsynced_enabled() || !diag_.has_open_records()) return;
  unsynced_record *rec = diag_.find_conflict(desc_pa, 8, nullptr);
  if (!rec) return;
  rec->reported = true;
  diag_report d;
  d.what = diag_report::kind::unsynced_reuse;
  d.time = sc_core::sc_time_stamp();
  d.iova = rec->ia;
  d.pa = desc_pa;
  d.old_desc = rec->desc;
  d.used_by = "walk";
  d.message = std::string(name()) + ": page " + hex(rec->pa) + " unmapped (IOVA " + hex(rec->ia) +
              ") by a TLBI not yet followed by CMD_SYNC was read as a translation table at " +
              hex(desc_pa) + " (" + d.time.to_string() + ")";
  diag_.report(std::move(d));
}

}  // namespace iommusim::models::smmuv3
