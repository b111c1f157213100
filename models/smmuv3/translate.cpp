// SPDX-License-Identifier: MIT
// The translation pipeline (SMMUv3 §3.2 operation, §3.3 data structures and
// lookup, §3.12 fault models, §5.5 A/R/S, §6.3.14 GBPA, §13 STE overrides of
// PRIVCFG/INSTCFG), TBU and TCU:
//
//  TBU  ingress ─ micro TLB ─┬─ hit ─────────────────────────────┐
//                            └─ miss ─> TCU                      ├─> data downstream
//  TCU  config cache (STE+CD fetch) ─ main TLB ─ walk (walk caches) ─┘
//
// Each step's cost is listed in docs/smmuv3.md. Faults come back to the top
// of the pipeline, which records the event, stalls or terminates.
#include <algorithm>
#include <cstring>

#include "models/common/vmsav8.h"
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

namespace {

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

bool translation_related(uint8_t event) {
  return event == evt::F_TRANSLATION || event == evt::F_ADDR_SIZE || event == evt::F_ACCESS ||
         event == evt::F_PERMISSION;
}

// STE.PRIVCFG / STE.INSTCFG (§5.2): 0b00 use the incoming attribute, 0b10
// force unprivileged / data, 0b11 force privileged / instruction.
access_kind effective_access(bool write, bool exec, bool priv, unsigned privcfg, unsigned instcfg) {
  const bool p = privcfg == 2 ? false : privcfg == 3 ? true : priv;
  const bool x = instcfg == 2 ? false : instcfg == 3 ? true : exec;
  return make_access(write, x, p);
}

}  // namespace

// ---------------------------------------------------------------- cached leaves

perm_verdict stage_leaf::verdict(const access_kind &acc) const {
  if (vmsav8::permits(x, acc)) return perm_verdict::ok;
  // Writeable-clean (DBM): a write is allowed once the walker has marked the
  // page dirty, so it goes back to the walker instead of faulting.
  if (acc.write && (x.attrs & vmsav8::xa_dbm_clean)) {
    translation y = x;
    y.write = true;
    if (vmsav8::permits(y, acc)) return perm_verdict::update;
  }
  return perm_verdict::fault;
}

perm_verdict xl_entry::verdict(const access_kind &acc, bool *stage2) const {
  *stage2 = false;
  perm_verdict v1 = perm_verdict::ok, v2 = perm_verdict::ok;
  if (s1.present) {
    v1 = s1.verdict(acc);
    if (v1 == perm_verdict::fault) return v1;
  }
  if (s2.present) {
    v2 = s2.verdict(acc);
    if (v2 == perm_verdict::fault) {
      *stage2 = true;
      return v2;
    }
  }
  return v1 == perm_verdict::update || v2 == perm_verdict::update ? perm_verdict::update
                                                                  : perm_verdict::ok;
}

// ---------------------------------------------------------------- faults

// §5.5: A, R, S of the CD (stage 1) and S2R, S2S of the STE (stage 2) decide
// what happens on the four translation-related faults; anything else
// terminates with an abort and is recorded.
void smmuv3::decide_fault_handling(fault_info &f, const stream_ctx *ctx, bool ats_request) {
  if (f.silent) {
    f.record = false;
    f.stall = false;
    f.abort = true;
    return;
  }
  if (!translation_related(f.event) || !ctx) {
    f.stall = false;
    f.abort = true;
    return;  // f.record as set (C_BAD_STREAMID obeys CR2.RECINVSID)
  }
  if (ats_request) {  // §5.5: S and R do not apply to ATS Translation Requests
    f.stall = false;
    f.record = false;
    f.abort = true;
    return;
  }
  if (f.s2) {
    f.stall = ctx->ste.s2s;
    f.record = f.stall || ctx->ste.s2r;
    f.abort = true;  // stage 2 has no A: always abort
  } else {
    f.stall = ctx->cd.s;
    f.record = f.stall || ctx->cd.r;
    f.abort = ctx->cd.a || cfg_.idr.term_model;
  }
}

event_record smmuv3::make_record(const txn &x, const fault_info &f) const {
  event_record r;
  switch (f.event) {
    case evt::C_BAD_SUBSTREAMID:
      return event_record::bad_substream(x.sid, x.ssv ? x.ssid : 0);
    case evt::F_STREAM_DISABLED:
      return event_record::make(f.event, x.sid, false, 0);
    case evt::C_BAD_STREAMID:
    case evt::C_BAD_STE:
    case evt::C_BAD_CD:
      return event_record::make(f.event, x.sid, x.ssv, x.ssid);
    case evt::F_STE_FETCH:
    case evt::F_CD_FETCH:
      r = event_record::make(f.event, x.sid, x.ssv, x.ssid);
      r.set_fetch_addr(f.fetch_addr);
      return r;
    case evt::F_BAD_ATS_TREQ:
      // §7.3.6: the requested permissions (R is always 1 in a request; W = !NW).
      r = event_record::make(f.event, x.sid, x.ssv, x.ssid);
      r.set_access(x.no_write, x.exec, x.priv);
      r.set_input_addr(x.addr & ~uint64_t{0xfff});
      return r;
    case evt::F_TRANSL_FORBIDDEN:
      r = event_record::make(f.event, x.sid, x.ssv, x.ssid);
      r.set_access(!x.write, false, false);
      r.set_input_addr(x.addr);
      return r;
    default:
      break;
  }
  // F_UUT, F_WALK_EABT and the translation-related faults (§7.3.12-7.3.16).
  r = event_record::make(f.event, x.sid, x.ssv, x.ssid);
  const bool rnw = !x.write;
  r.set_access(rnw, rnw && f.ind, f.pnu);
  r.set_input_addr(x.addr);
  if (f.event == evt::F_UUT) return r;
  r.set_stage(f.s2, f.cls);
  if (f.event == evt::F_WALK_EABT) {
    r.set_fetch_addr(f.fetch_addr);
    return r;
  }
  if (f.s2) {
    r.set_ipa(f.ipa);
    if (f.cls == evt_class::TT) r.set_ttrnw(f.ttrnw);
  }
  return r;
}

void smmuv3::finish_fault(const txn &x, fault_info &f, timing_ctx &t, int *stall_action) {
  *stall_action = -1;
  t.advance(cfg_.latency.fault, clk_);
  count("faults");
  if (f.stall) {
    *stall_action = stall_transaction(x, make_record(x, f), t);
    return;
  }
  if (f.record) record_event(make_record(x, f));
  else evt_stats_.counter("suppressed")++;
}

// ---------------------------------------------------------------- TCU

smmuv3::xl_result smmuv3::translated_result(const txn &x, const xl_entry &e) const {
  xl_result r;
  r.what = outcome::translated;
  r.entry = e;
  r.pa = e.out_addr(x.addr);
  r.page_shift = e.page_shift;
  return r;
}

smmuv3::xl_result smmuv3::tcu_translate(const txn &x, const stream_ctx &ctx,
                                        const access_kind &acc, bool force_walk, timing_ctx &t) {
  xl_result r;
  tlb_key key;
  key.kind = ctx.kind();
  key.world = ctx.world;
  key.vmid = ctx.vmid;
  key.asid = ctx.asid;
  key.ia = x.addr;
  auto lr = main_tlb_->lookup(key);
  const bool hit = static_cast<bool>(lr);
  main_tlb_entry e;
  if (hit) e = *lr.entry;
  main_tlb_ctr_.publish(main_tlb_->stats());
  t.advance(lr.cycles, clk_);
  if (hit && !force_walk) {
    bool s2 = false;
    switch (e.verdict(acc, &s2)) {
      case perm_verdict::ok:
        check_stale(x, e);
        return translated_result(x, e);
      case perm_verdict::fault:
        r.f.event = evt::F_PERMISSION;
        r.f.cls_for_device = fault_class::permission;
        r.f.s2 = s2;
        r.f.cls = evt_class::IN;
        r.f.ipa = s2 ? (e.kind == xl_kind::nested ? e.ipa_of(x.addr) : x.addr) : 0;
        decide_fault_handling(r.f, &ctx, x.at == at_kind::translation_request);
        return r;
      case perm_verdict::update:
        count("httu_rewalks");
        break;
    }
  }
  if (!hit) count("tlb_miss");  // PMCG event 2
  const unsigned slot = walk_slots_.acquire(t);
  const bool ok = tcu_walk(x, ctx, acc, &e, &r.f, t);
  walk_slots_.release(slot, t);
  if (!ok) {
    decide_fault_handling(r.f, &ctx, x.at == at_kind::translation_request);
    return r;
  }
  check_unsynced_fill(e);
  const auto fr = main_tlb_->fill(e);
  t.advance(fr.cycles, clk_);
  main_tlb_ctr_.publish(main_tlb_->stats());
  return translated_result(x, e);
}

smmuv3::xl_result smmuv3::tcu_path(const txn &x, bool force_walk, timing_ctx &t,
                                   stream_ctx *ctx_out) {
  xl_result r;
  cfg_result c = lookup_config(x.sid, x.ssv, x.ssid, t);
  if (!c.ok) {
    r.f = c.f;
    const bool have_ste = c.ctx.ste.valid;
    const access_kind acc =
        have_ste ? effective_access(x.write, x.exec, x.priv, c.ctx.ste.privcfg, c.ctx.ste.instcfg)
                 : make_access(x.write, x.exec, x.priv);
    r.f.pnu = acc.priv;
    r.f.ind = acc.exec;
    // A stage-2 fault on a CD-table access (CLASS CD) follows STE.S2R/S2S.
    decide_fault_handling(r.f, have_ste && r.f.s2 ? &c.ctx : nullptr, false);
    return r;
  }
  if (ctx_out) *ctx_out = c.ctx;
  const stream_ctx &ctx = c.ctx;
  if (!(ctx.ste.config & 4)) {  // §5.2 Config 0b0xx: abort, no event
    r.f.silent = true;
    r.f.cls_for_device = fault_class::other;
    decide_fault_handling(r.f, &ctx, false);
    return r;
  }
  if (!ctx.s1 && !ctx.s2) {  // bypass (Config 0b100, or S1DSS bypass without stage 2)
    r.what = outcome::bypass;
    r.pa = x.addr;
    r.page_shift = 12;
    return r;
  }
  const access_kind acc =
      effective_access(x.write, x.exec, x.priv, ctx.ste.privcfg, ctx.ste.instcfg);
  if (!ctx.s1) {
    // §3.4.1: with stage 1 bypassed the input is an IPA; beyond the IAS it is
    // a stage-1 Address Size fault.
    const unsigned ias = std::max(cfg_.idr.s1p ? 49u : 0u, cfg_.idr.s2p ? cfg_.idr.oas : 0u);
    if ((x.addr >> ias) != 0) {
      r.f.event = evt::F_ADDR_SIZE;
      r.f.cls_for_device = fault_class::other;
      r.f.s2 = false;
      r.f.cls = evt_class::IN;
      r.f.pnu = acc.priv;
      r.f.ind = acc.exec;
      stream_ctx no_s1 = ctx;
      decide_fault_handling(r.f, &no_s1, x.at == at_kind::translation_request);
      // No CD: stage-1 A/R/S do not exist; terminate with abort and record.
      r.f.stall = false;
      r.f.record = x.at != at_kind::translation_request;
      r.f.abort = true;
      return r;
    }
  }
  r = tcu_translate(x, ctx, acc, force_walk, t);
  if (r.what == outcome::fault) {
    r.f.pnu = acc.priv;
    r.f.ind = acc.exec;
  }
  return r;
}

// ---------------------------------------------------------------- TBU

void smmuv3::fill_utlb(const txn &x, const xl_entry &e, const stream_ctx &ctx, timing_ctx &t) {
  auto &tb = *tbus_[x.tbu];
  utlb_entry u;
  static_cast<xl_entry &>(u) = e;
  u.sid = x.sid;
  u.ssv = x.ssv;
  u.ssid = x.ssv ? x.ssid : 0;
  u.privcfg = static_cast<uint8_t>(ctx.ste.privcfg);
  u.instcfg = static_cast<uint8_t>(ctx.ste.instcfg);
  const auto fr = tb.utlb->fill(u);
  t.advance(fr.cycles, clk_);
  tb.counters.publish(tb.utlb->stats());
}

smmuv3::xl_result smmuv3::translate_untranslated(const txn &x, timing_ctx &t) {
  auto &tb = *tbus_[x.tbu];
  utlb_key k;
  k.sid = x.sid;
  k.ssv = x.ssv;
  k.ssid = x.ssv ? x.ssid : 0;
  k.ia = x.addr;
  auto lr = tb.utlb->lookup(k);
  const bool hit = static_cast<bool>(lr);
  utlb_entry e;
  if (hit) e = *lr.entry;
  tb.counters.publish(tb.utlb->stats());
  t.advance(lr.cycles, clk_);
  bool force_walk = false;
  if (hit) {
    const access_kind acc = effective_access(x.write, x.exec, x.priv, e.privcfg, e.instcfg);
    bool s2 = false;
    switch (e.verdict(acc, &s2)) {
      case perm_verdict::ok:
        check_stale(x, e);
        return translated_result(x, e);
      case perm_verdict::update:
        force_walk = true;  // the TCU marks the page dirty
        count("httu_rewalks");
        break;
      case perm_verdict::fault:
        break;  // the TCU reports it (it has the configuration)
    }
  } else {
    count("utlb_miss");
  }
  t.advance(cfg_.latency.tbu_to_tcu, clk_);
  stream_ctx ctx;
  xl_result r = tcu_path(x, force_walk, t, &ctx);
  t.advance(cfg_.latency.tcu_to_tbu, clk_);
  if (r.what == outcome::translated) fill_utlb(x, r.entry, ctx, t);
  return r;
}

smmuv3::xl_result smmuv3::translate(const txn &x, timing_ctx &t) {
  t.advance(cfg_.latency.tbu_ingress, clk_);
  for (;;) {
    xl_result r;
    if (!smmuen()) {
      r = translate_disabled(x);
    } else if (x.at == at_kind::translated) {
      r = translate_translated(x, t);
    } else if (x.at == at_kind::translation_request) {
      r = ats_request(x, t);
    } else {
      r = translate_untranslated(x, t);
    }
    if (r.what != outcome::fault || r.f.silent) return r;
    int action = -1;
    finish_fault(x, r.f, t, &action);
    if (action < 0) return r;
    r.stalled = true;
    if (action == resume_ac::RETRY) {
      // §4.7.1: retried as though it had just arrived at the SMMU.
      count("stall_retries");
      continue;
    }
    r.f.abort = action == resume_ac::ABORT || cfg_.idr.term_model;
    return r;
  }
}

smmuv3::xl_result smmuv3::translate_disabled(const txn &x) {
  // §6.3.14 GBPA: with SMMUEN == 0 transactions bypass, or abort silently.
  xl_result r;
  if (x.at == at_kind::translation_request) {
    r.f.event = evt::F_BAD_ATS_TREQ;  // §7.3.6: SMMUEN == 0
    r.f.cls_for_device = fault_class::other;
    return r;
  }
  if (x.at == at_kind::translated) {
    r.f.event = evt::F_TRANSL_FORBIDDEN;  // §7.3.8: SMMUEN == 0
    r.f.cls_for_device = fault_class::other;
    return r;
  }
  if (gbpa_ & reg::GBPA_ABORT) {
    r.f.silent = true;
    r.f.cls_for_device = fault_class::other;
    count("gbpa_aborts");
    return r;
  }
  r.what = outcome::bypass;
  r.pa = x.addr;
  return r;
}

// ---------------------------------------------------------------- data

void smmuv3::forward_data(tlm::tlm_generic_payload &tr, uint64_t pa, unsigned len,
                          unsigned char *data, timing_ctx &t) {
  // The translated access, counted in flight for CMD_SYNC (§4.7.3: a sync
  // waits for transactions translated by entries it invalidated).
  const uint64_t epoch = sync_epoch_;
  inflight_[epoch]++;
  down_.forward(tr, pa, data, len, t);
  if (--inflight_[epoch] == 0) {
    inflight_.erase(epoch);
    inflight_done_.notify(sc_core::SC_ZERO_TIME);
  }
}

void smmuv3::upstream_b_transport(int port, tlm::tlm_generic_payload &tr,
                                  sc_core::sc_time &delay) {
  auto *ext = tr.get_extension<iommu_extension>();
  if (!ext) {
    // iommu_extension.h: every DMA master names its stream.
    count("transactions_without_stream");
    tr.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  timing_ctx t(mode_, delay);
  ext->reset_response();
  count("transaction");  // PMCG event 1
  txn x;
  x.sid = ext->stream_id;
  x.ssv = ext->ssid_valid;
  x.ssid = ext->ssid & 0xfffff;
  x.write = tr.is_write();
  x.exec = ext->instruction && !x.write;
  x.priv = ext->privileged;
  x.at = ext->at;
  x.no_write = ext->no_write;
  x.tbu = tbu_of_port(port);
  auto &tb = *tbus_[x.tbu];

  const uint64_t base = tr.get_address();
  unsigned char *const data = tr.get_data_ptr();
  const unsigned len = tr.get_data_length();
  const unsigned width = tr.get_streaming_width();
  uint64_t xl_cycles = 0;

  auto translate_one = [&](uint64_t addr) {
    x.addr = addr;
    const sc_core::sc_time start = t.now();
    const unsigned slot = tb.slots.acquire(t);
    xl_result r = translate(x, t);
    tb.slots.release(slot, t);
    xl_cycles += clk_.to_cycles(t.now() - start);
    return r;
  };

  if (tr.get_command() == tlm::TLM_IGNORE_COMMAND && x.at != at_kind::translation_request) {
    // §7.3.2 F_UUT: a transaction type the SMMU does not support (recorded
    // whatever SMMUEN; the attributes are the incoming ones).
    x.addr = base;
    fault_info f;
    f.event = evt::F_UUT;
    f.pnu = x.priv;
    f.ind = x.exec;
    int action = -1;
    finish_fault(x, f, t, &action);
    ext->status = iommu_status::fault;
    ext->fault_type = evt::F_UUT;
    ext->fault_cls = fault_class::other;
    tr.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }

  if (x.at == at_kind::translation_request) {
    count("pcie_ats_trans_rq");  // PMCG event 6
    const xl_result r = translate_one(base);
    ats_complete(tr, *ext, r);
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
      ext->output_page_shift = static_cast<uint8_t>(r.page_shift);
      first = false;
    }
    if (r.what == outcome::fault) {
      ext->status = r.f.silent   ? iommu_status::config_abort
                    : r.stalled  ? iommu_status::stall_terminated
                                 : iommu_status::fault;
      ext->fault_type = r.f.event;
      ext->fault_cls = r.f.silent ? fault_class::other : r.f.cls_for_device;
      if (!r.f.abort && !r.f.silent) {
        // §5.5 A == 0: terminated with RAZ/WI, no error to the device.
        if (tr.is_read() && data) std::memset(data + done, 0, len - done);
        tr.set_response_status(tlm::TLM_OK_RESPONSE);
        count("raz_wi_terminations");
      } else {
        tr.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
      }
      break;
    }
    if (x.at == at_kind::translated) count("pcie_ats_trans_passed");  // PMCG event 7
    uint64_t chunk = len - done;
    if (r.what == outcome::translated) {
      const uint64_t page_end = (x.addr | low_mask(r.page_shift)) + 1;
      chunk = std::min<uint64_t>(chunk, page_end - x.addr);
    }
    check_unsynced_dma(x, r, chunk);
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

unsigned smmuv3::upstream_transport_dbg(int, tlm::tlm_generic_payload &) {
  return 0;  // debug access through the SMMU is not modelled
}

}  // namespace iommusim::models::smmuv3
