// SPDX-License-Identifier: MIT
// PCIe ATS and PRI responses (SMMUv3 §3.9 PCIe, PASIDs, PRI and ATS; §3.9.1
// ATS interface; §5.2 STE.EATS; §4.5 CMD_ATC_INV; §4.6 CMD_PRI_RESP).
//
//  - Translation Requests (at_kind::translation_request) are answered with
//    the translation and its R/W/X/Priv permissions, no data. A
//    translation-related fault answers R = W = 0 (no event: the endpoint may
//    then use PRI); configuration errors answer CA silently; EATS == 0b00
//    (or a bypass STE, or SMMUEN == 0) answers UR with F_BAD_ATS_TREQ.
//  - Translated transactions pass untouched unless CR0.ATSCHK == 1, when the
//    STE must allow them (EATS 0b01), translate them at stage 2 (split-stage,
//    EATS 0b10) or forbid them (F_TRANSL_FORBIDDEN).
//  - CMD_ATC_INV sends an ATS Invalidation Request to the endpoint bound for
//    the StreamID; the completion comes back through `messages` and a later
//    CMD_SYNC waits for it.
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

namespace {

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

bool translation_related(uint8_t event) {
  return event == evt::F_TRANSLATION || event == evt::F_ADDR_SIZE || event == evt::F_ACCESS ||
         event == evt::F_PERMISSION;
}

unsigned effective_eats(const stream_ctx &ctx, bool atschk) {
  const ste_info &s = ctx.ste;
  if (s.config == ste_cfg::bypass) return 0;  // §5.2 Config 0b100: EATS effectively 0b00
  if (s.eats == 3) return 0;                  // DPT checks not implemented: behaves as 0b00
  if (s.eats == 2 && !atschk) return 0;       // split-stage needs ATSCHK
  return s.eats;
}

}  // namespace

smmuv3::xl_result smmuv3::ats_request(const txn &x, timing_ctx &t) {
  xl_result r;
  if (!cfg_.idr.ats) {
    r.f.event = evt::F_BAD_ATS_TREQ;
    r.f.cls_for_device = fault_class::other;
    return r;
  }
  t.advance(cfg_.latency.tbu_to_tcu, clk_);
  cfg_result c = lookup_config(x.sid, x.ssv, x.ssid, t);
  auto done = [&](xl_result res) {
    t.advance(cfg_.latency.tcu_to_tbu, clk_);
    return res;
  };
  if (!c.ok) {
    // §7.3.6: Translation Requests cause no other events; CA response.
    count("ats_treq_config_errors");
    r.f = c.f;
    r.f.silent = true;
    return done(r);
  }
  const stream_ctx &ctx = c.ctx;
  if (!(ctx.ste.config & 4)) {  // Config abort: UR, no event
    r.f.silent = true;
    r.f.cls_for_device = fault_class::other;
    return done(r);
  }
  const unsigned eats = effective_eats(ctx, cr0_ & reg::CR0_ATSCHK);
  if (eats == 0) {
    r.f.event = evt::F_BAD_ATS_TREQ;
    r.f.cls_for_device = fault_class::other;
    return done(r);
  }
  stream_ctx xctx = ctx;
  if (eats == 2) xctx.split = true;  // split-stage: the response carries the IPA
  if (!xctx.s1 && !xctx.s2) {      // every stage bypassed (S1DSS): identity
    r.what = outcome::bypass;
    r.pa = x.addr;
    r.page_shift = 12;
    r.ats_r = r.ats_w = r.ats_x = true;
    r.ats_w = !x.no_write;
    return done(r);
  }
  txn q = x;
  q.write = !x.no_write;
  auto acc_of = [&](const txn &y) {
    const bool p = ctx.ste.privcfg == 2 ? false : ctx.ste.privcfg == 3 ? true : y.priv;
    const bool e = ctx.ste.instcfg == 2 ? false : ctx.ste.instcfg == 3 ? true : y.exec;
    return make_access(y.write, e, p);
  };
  xl_result res = tcu_translate(q, xctx, acc_of(q), false, t);
  if (res.what == outcome::fault && q.write && res.f.event == evt::F_PERMISSION) {
    q.write = false;  // read-only page: answer R = 1, W = 0
    res = tcu_translate(q, xctx, acc_of(q), false, t);
  }
  if (res.what == outcome::fault) {
    if (translation_related(res.f.event)) {
      // §3.9.1: a translation-related fault answers Success with R = W = 0.
      count("ats_treq_no_access");
      xl_result z;
      z.what = outcome::translated;
      z.pa = x.addr & ~low_mask(12);
      z.page_shift = 12;
      z.ats_r = z.ats_w = z.ats_x = false;
      return done(z);
    }
    res.f.silent = true;  // other faults: CA
    return done(res);
  }
  const xl_entry &e = res.entry;
  bool s2 = false;
  const bool p = acc_of(x).priv;
  res.ats_r = e.verdict(make_access(false, false, p), &s2) == perm_verdict::ok;
  res.ats_w = q.write && e.verdict(make_access(true, false, p), &s2) == perm_verdict::ok;
  res.ats_x = e.verdict(make_access(false, true, p), &s2) == perm_verdict::ok;
  return done(res);
}

void smmuv3::ats_complete(tlm::tlm_generic_payload &tr, iommu_extension &ext, const xl_result &r) {
  if (r.what == outcome::fault) {
    ext.status = r.f.silent && r.f.event == 0 ? iommu_status::config_abort : iommu_status::fault;
    ext.fault_type = r.f.event;
    ext.fault_cls = r.f.cls_for_device;
    tr.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);  // UR / CA
    return;
  }
  ext.status = iommu_status::ok;
  ext.output_page_shift = static_cast<uint8_t>(r.page_shift);
  ext.output_addr = r.pa & ~low_mask(r.page_shift);
  ext.out_read = r.ats_r;
  ext.out_write = r.ats_w;
  ext.out_exec = r.ats_x;
  ext.out_priv = ext.privileged;
  tr.set_response_status(tlm::TLM_OK_RESPONSE);
}

smmuv3::xl_result smmuv3::translate_translated(const txn &x, timing_ctx &t) {
  xl_result r;
  if (!(cr0_ & reg::CR0_ATSCHK)) {  // §5.2 EATS: without ATSCHK, Translated traffic bypasses
    r.what = outcome::bypass;
    r.pa = x.addr;
    return r;
  }
  t.advance(cfg_.latency.tbu_to_tcu, clk_);
  // A PASID on Translated traffic is not used (IDR3.PASIDTT == 0).
  cfg_result c = lookup_config(x.sid, false, 0, t);
  t.advance(cfg_.latency.tcu_to_tbu, clk_);
  if (!c.ok || !(c.ctx.ste.config & 4)) {
    // §5.2 V: Translated traffic selecting an invalid STE or an abort STE is
    // terminated without an event.
    r.f.silent = true;
    r.f.cls_for_device = fault_class::other;
    return r;
  }
  const unsigned eats = effective_eats(c.ctx, true);
  if (eats == 0) {
    r.f.event = evt::F_TRANSL_FORBIDDEN;
    r.f.cls_for_device = fault_class::other;
    decide_fault_handling(r.f, nullptr, false);
    return r;
  }
  if (eats == 1) {
    r.what = outcome::bypass;
    r.pa = x.addr;
    return r;
  }
  // Split-stage (§13.6.3): the address is an IPA; stage 2 translates it.
  stream_ctx s2ctx = c.ctx;
  s2ctx.s1 = false;
  const bool p = c.ctx.ste.privcfg == 2 ? false : c.ctx.ste.privcfg == 3 ? true : x.priv;
  const access_kind acc = make_access(x.write, false, p);
  r = tcu_translate(x, s2ctx, acc, false, t);
  if (r.what == outcome::fault) {
    r.f.pnu = acc.priv;
    r.f.ind = false;
  }
  return r;
}

// ---------------------------------------------------------------- ATC invalidation

uint8_t smmuv3::do_atc_inv(const command &c, timing_ctx &t) {
  if (!cfg_.idr.ats) return cerror::ILL;
  if (c.ssv() && cfg_.idr.ssid_bits == 0) return cerror::ILL;
  t.advance(cfg_.latency.cmd_atc_inv, clk_);
  auto it = endpoints_.find(c.sid());
  if (it == endpoints_.end() || !it->second) {
    count("atc_inv_without_endpoint");  // nothing to invalidate: complete at once
    return cerror::NONE;
  }
  // §4.5.1: Size gives 2^Size 4 KiB pages from Address, aligned to the span.
  const unsigned size = c.atc_size() > 52 ? 52 : c.atc_size();
  atc_invalidation inv;
  inv.stream_id = c.sid();
  inv.ssid_valid = c.ssv();
  inv.ssid = c.ssid();
  inv.size_log2 = static_cast<uint8_t>(size + 12);
  inv.addr = c.va() & ~low_mask(inv.size_log2);
  inv.global = c.global();
  inv.itag = next_itag_++;
  atc_pending_[inv.itag] = atc_pending{inv.stream_id, cmd_seq_};
  count("atc_invalidations_sent");
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  it->second->atc_invalidate(inv, d);
  t.advance(d);
  return cerror::NONE;
}

void smmuv3::atc_complete_in(uint32_t sid, uint32_t itag, sc_core::sc_time &delay) {
  auto it = atc_pending_.find(itag);
  if (it == atc_pending_.end() || it->second.sid != sid) {
    count("atc_inv_unexpected_completions");
    return;
  }
  atc_pending_.erase(it);
  count("atc_invalidations_completed");
  atc_done_.notify(mode_ == timing_mode::fast ? delay : sc_core::SC_ZERO_TIME);
}

uint8_t smmuv3::do_pri_resp(const command &c, timing_ctx &t) {
  if (!cfg_.idr.pri) return cerror::ILL;
  const unsigned resp = c.pri_resp();
  if (resp == 3) return cerror::ILL;  // reserved response
  if (c.ssv() && cfg_.idr.ssid_bits == 0) return cerror::ILL;
  t.advance(cfg_.latency.cmd_pri_resp, clk_);
  page_response rsp;
  rsp.stream_id = c.sid();
  rsp.ssid_valid = c.ssv();
  rsp.ssid = c.ssid();
  rsp.grpid = c.grpid();
  rsp.code = resp == pri_resp::SUCCESS ? prg_response_code::success
             : resp == pri_resp::DENY  ? prg_response_code::invalid_request
                                       : prg_response_code::response_failure;
  auto it = endpoints_.find(c.sid());
  if (it == endpoints_.end() || !it->second) {
    count("pri_resp_without_endpoint");
    return cerror::NONE;
  }
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  it->second->page_response(rsp, d);
  t.advance(d);
  return cerror::NONE;
}

}  // namespace iommusim::models::smmuv3
