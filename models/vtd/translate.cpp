// SPDX-License-Identifier: MIT
// The request pipeline (VT-d §3, §4.2, §7.1). Per request, in this order,
// each step its own wait in cycle mode:
//   1. ingress                         latency.ingress
//   2. context cache, on a miss the root and context entries (memory) and
//      their checks                    context_cache.lookup [+ 2 reads + context_check]
//   3. scalable mode: PASID cache, on a miss the PASID-directory and PASID
//      entries and their checks        pasid_cache.lookup [+ 2 reads + pasid_check]
//   4. IOTLB                           iotlb.lookup
//   5. on a miss (or a write hitting a clean entry under A/D tracking): the
//      walk (walk.cpp): paging-structure caches, then per level walk_step +
//      the fetch, A/D compare-and-swap, nested_combine; IOTLB fill
// then the translated data access goes downstream. translate_cycles of the
// response covers steps 1-5 only.
#include <algorithm>
#include <cstring>

#include "models/common/x86_paging.h"
#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

namespace {

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

}  // namespace

vtd::xl_result vtd::translate(const txn &x, timing_ctx &t) {
  xl_result r;
  t.advance(cfg_.latency.ingress, clk_);
  if (!te()) {
    // §3.1: with translation disabled, DMA passes untranslated.
    r.what = outcome::passthrough;
    r.pa = x.addr;
    return r;
  }
  access_kind acc;
  acc.write = x.write;
  acc.exec = x.exec && cfg_.ecap.ers;
  acc.priv = x.priv && cfg_.ecap.srs;
  r.f.addr = x.addr;

  translation_ctx c;
  if (!lookup_context(x.sid, &c.ctx, &r.f, t)) return r;
  c.fpd = c.ctx.fpd;
  const bool ats = x.at != at_kind::untranslated;
  if (!c.ctx.scalable) {
    c.did = c.ctx.did;
    if (x.pv) {
      // Legacy mode has no PASIDs: a request with one is blocked.
      r.f.reason = RTA_2;
      r.f.record = !c.fpd;
      return r;
    }
    if (ats && c.ctx.tt != legacy_tt::with_dev_tlb) {
      r.f.reason = FR_TT_BLOCKED;  // §9.3: ATS needs TT = 01b
      r.f.record = !c.fpd;
      return r;
    }
    c.mode = c.ctx.tt == legacy_tt::pass_through ? pgtt::pass_through : pgtt::second;
  } else {
    if (x.pv && !c.ctx.paside) {
      r.f.reason = SCT_6;
      r.f.record = !c.fpd;
      return r;
    }
    if (ats && !c.ctx.dte) {
      r.f.reason = SCT_5;
      r.f.record = !c.fpd;
      return r;
    }
    if (x.at == at_kind::translated) {
      // §4.2.4: a translated request needs only DTE; no PASID entry is used.
      r.what = outcome::passthrough;
      r.pa = x.addr;
      return r;
    }
    c.pasid = x.pv ? x.pasid : c.ctx.rid_pasid;
    if (!lookup_pasid(x.sid, c.ctx, c.pasid, &c.pe, &r.f, t)) return r;
    c.has_pasid_entry = true;
    c.mode = c.pe.type;
    c.did = c.pe.did;
    c.fpd = c.pe.fpd;
    if (acc.priv && !c.pe.sre && (c.mode == pgtt::first || c.mode == pgtt::nested)) {
      // §3.6: supervisor requests need SRE in the PASID entry.
      r.f.reason = SPT_6;
      r.f.cls = fault_class::permission;
      r.f.record = !c.fpd;
      return r;
    }
  }
  r.f.record = !c.fpd;
  if (x.at == at_kind::translated || c.mode == pgtt::pass_through) {
    // Translated requests (DTE / TT = 01b checked above) and pass-through
    // carry the address as is.
    r.what = outcome::passthrough;
    r.pa = x.addr;
    return r;
  }
  const xl_kind kind = c.mode == pgtt::first    ? xl_kind::first
                       : c.mode == pgtt::nested ? xl_kind::nested
                                                : xl_kind::second;

  // 4. IOTLB.
  iotlb_key k;
  k.did = c.did;
  k.kind = kind;
  k.pasid = c.pasid;
  k.ia = x.addr;
  const auto hit = iotlb_->lookup(k);
  t.advance(hit.cycles, clk_);
  count("iommu0.first_lookups");
  count("iommu0.all_lookups");
  if (hit) {
    const iotlb_entry &e = *hit.entry;
    count("iotlb_hit");
    count(e.page_shift == 12 ? "iommu0.4k_hits" : e.page_shift == 21 ? "iommu0.2m_hits" : "iommu0.1g_hits");
    x86::deny d = x86::deny::none;
    if (kind != xl_kind::second) d = x86::fs_check(e.fs.x, acc, fs_flags(c));
    if (d == x86::deny::none && kind != xl_kind::first) d = x86::ss_check(e.ss.x, acc, ss_flags(c));
    const bool clean = acc.write && e.dirty_needed;
    if (d == x86::deny::none && !clean) {
      check_stale(x, e);
      r.what = outcome::translated;
      r.entry = e;
      r.pa = e.out_addr(x.addr);
      return r;
    }
    if (clean) {
      count("iotlb_dirty_rewalk");  // D must be set in memory first
    } else {
      r.f.reason = d == x86::deny::privilege ? SGN_2
                   : d == x86::deny::exec    ? SGN_3
                   : d == x86::deny::read    ? (c.ctx.scalable ? SGN_7 : FR_READ)
                                             : (c.ctx.scalable ? SGN_6 : FR_WRITE);
      r.f.cls = fault_class::permission;
      return r;
    }
  } else {
    count("iotlb_miss");
    count("iommu0.misses");
  }

  // 5. Walk.
  const unsigned slot = walk_slots_.acquire(t);
  iotlb_entry e;
  bool ok = false;
  if (kind == xl_kind::second) {
    e.kind = kind;
    e.did = c.did;
    e.pasid = c.pasid;
    ok = walk_second(c, x.addr, acc, &e.ss, &r.f, t);
    if (ok) {
      e.page_shift = e.ss.x.page_shift;
      e.ia = e.ss.in_page;
      e.oa = e.ss.x.out_addr;
      e.read = e.ss.x.read;
      e.write = e.ss.x.write;
      e.exec = e.ss.x.exec;
    }
  } else {
    ok = walk_first(x, c, acc, &e, &r.f, t);
  }
  walk_slots_.release(slot, t);
  if (!ok) {
    r.f.record = !c.fpd;
    r.f.addr = x.addr;  // the record carries the request's address
    return r;
  }
  // A/D tracking: an entry whose leaf is not dirty cannot serve a write.
  auto clean_leaf = [](const stage_leaf &l) {
    return l.present && (l.x.attrs & x86::xa_ad_tracked) && !(l.x.attrs & x86::xa_dirty);
  };
  e.dirty_needed = e.write && (clean_leaf(e.fs) || clean_leaf(e.ss));
  t.advance(iotlb_->fill(e).cycles, clk_);
  r.what = outcome::translated;
  r.entry = e;
  r.pa = e.out_addr(x.addr);
  return r;
}

void vtd::forward_data(tlm::tlm_generic_payload &tr, uint64_t pa, unsigned len,
                       unsigned char *data, timing_ctx &t) {
  down_.forward(tr, pa, data, len, t);
}

void vtd::upstream_b_transport(int, tlm::tlm_generic_payload &tr, sc_core::sc_time &delay) {
  auto *ext = tr.get_extension<iommu_extension>();
  if (!ext) {
    count("transactions_without_requester_id");
    tr.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  timing_ctx t(mode_, delay);
  ext->reset_response();
  count("requests");
  txn x;
  x.sid = static_cast<uint16_t>(ext->stream_id);
  x.pv = ext->ssid_valid;
  x.pasid = ext->ssid & 0xfffff;
  x.write = tr.is_write();
  x.exec = ext->instruction && !x.write;
  x.priv = ext->privileged;
  x.at = ext->at;
  x.no_write = ext->no_write;

  const uint64_t base = tr.get_address();
  unsigned char *const data = tr.get_data_ptr();
  const unsigned len = tr.get_data_length();
  const unsigned width = tr.get_streaming_width();
  uint64_t xl_cycles = 0;

  auto translate_one = [&](uint64_t addr) {
    x.addr = addr;
    const sc_core::sc_time start = t.now();
    const unsigned slot = xl_slots_.acquire(t);
    xl_result r = translate(x, t);
    if (r.what == outcome::fault) record_fault(x, r.f, t);
    xl_slots_.release(slot, t);
    xl_cycles += clk_.to_cycles(t.now() - start);
    publish_caches();
    return r;
  };

  if (x.at == at_kind::untranslated && x.write && base >= cfg_.interrupt_range_base &&
      base - cfg_.interrupt_range_base + len <= cfg_.interrupt_range_size) {
    // §5.1: an interrupt request (a write to the interrupt address range);
    // without interrupt remapping it goes on untranslated.
    count("interrupt_requests");
    t.advance(cfg_.latency.ingress, clk_);
    ext->output_addr = base;
    ext->translate_cycles = cfg_.latency.ingress;
    tr.set_response_status(tlm::TLM_OK_RESPONSE);
    forward_data(tr, base, len, data, t);
    tr.set_address(base);
    tr.set_data_ptr(data);
    tr.set_data_length(len);
    tr.set_streaming_width(width);
    return;
  }

  if (x.at == at_kind::translation_request) {
    count("ats_translation_requests");
    x.addr = base;
    const sc_core::sc_time start = t.now();
    const unsigned slot = xl_slots_.acquire(t);
    txn q = x;
    q.write = !x.no_write;
    xl_result r = translate(q, t);
    if (r.what == outcome::fault && q.write && r.f.cls == fault_class::permission) {
      q.write = false;  // not writable: answer with W = 0 (§4.2.3)
      r = translate(q, t);
    }
    // §4.2.3: translation and permission faults of a translation request are
    // answered in the completion (R = W = 0), not recorded.
    const bool answered = r.what != outcome::fault || r.f.cls == fault_class::translation ||
                          r.f.cls == fault_class::permission;
    if (r.what == outcome::fault && !answered) record_fault(x, r.f, t);
    xl_slots_.release(slot, t);
    xl_cycles += clk_.to_cycles(t.now() - start);
    publish_caches();
    ats_complete(tr, *ext, q, r);
    ext->translate_cycles = xl_cycles;
    xl_hist_->add(xl_cycles);
    return;
  }

  tr.set_response_status(tlm::TLM_OK_RESPONSE);
  unsigned done = 0;
  bool first = true;
  do {
    const xl_result r = translate_one(base + done);
    if (first) {
      ext->output_addr = r.pa;
      ext->output_page_shift = static_cast<uint8_t>(r.what == outcome::translated ? r.entry.page_shift : 12);
      first = false;
    }
    if (r.what == outcome::fault) {
      ext->status = iommu_status::fault;
      ext->fault_type = r.f.reason;
      ext->fault_cls = r.f.cls;
      tr.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
      count("requests_faulted");
      break;
    }
    uint64_t chunk = len - done;
    const uint64_t cur = base + done;
    const unsigned shift = r.what == outcome::translated ? r.entry.page_shift : 12;
    const uint64_t page_end = (cur | low_mask(shift)) + 1;
    chunk = std::min<uint64_t>(chunk, page_end - cur);
    forward_data(tr, r.pa, static_cast<unsigned>(chunk), data ? data + done : nullptr, t);
    done += static_cast<unsigned>(chunk);
    if (!tr.is_response_ok()) break;
  } while (done < len);

  tr.set_address(base);
  tr.set_data_ptr(data);
  tr.set_data_length(len);
  tr.set_streaming_width(width);
  ext->translate_cycles = xl_cycles;
  xl_hist_->add(xl_cycles);
}

unsigned vtd::upstream_transport_dbg(int, tlm::tlm_generic_payload &) {
  return 0;  // debug access through the remapping unit is not modelled
}

}  // namespace iommusim::models::vtd
