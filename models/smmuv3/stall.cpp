// SPDX-License-Identifier: MIT
// Stall model (SMMUv3 §3.12.2 stall model, §4.7.1 CMD_RESUME, §4.7.2
// CMD_STALL_TERM, §5.5 CD.S / STE.S2S).
//
// A transaction whose translation-related fault selects the stall model is
// held in the SMMU (it keeps its TBU translation slot): an event with
// STALL = 1 and a STAG is recorded, and the transaction waits until
// CMD_RESUME (retry, or terminate with abort or RAZ/WI) or CMD_STALL_TERM
// resolves it, or SMMUEN is cleared. STAGs are 16-bit tokens, reused once
// resolved; at most IDR5.STALL_MAX transactions stall at once (more are
// terminated with an abort and recorded without STALL).
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

int smmuv3::stall_transaction(const txn &x, event_record rec, timing_ctx &t) {
  (void)x;
  if (!(cr0_ & reg::CR0_EVENTQEN)) {
    // The stall could never be reported: terminate (§3.12.2).
    count("stalls_refused_evtq_disabled");
    return resume_ac::ABORT;
  }
  if (stalled_.size() >= cfg_.idr.stall_max) {
    count("stalls_refused_stall_max");
    record_event(rec);
    return resume_ac::ABORT;
  }
  uint16_t stag = next_stag_;
  while (stalled_.count(stag)) stag++;
  next_stag_ = static_cast<uint16_t>(stag + 1);
  stalled s;
  s.stag = stag;
  s.sid = rec.sid();
  stalled_[stag] = &s;
  rec.set_stall(stag);
  count("stalls");
  record_event(rec);
  // Wait in kernel time: a fast-mode initiator's annotated time is spent first.
  if (mode_ == timing_mode::fast && t.delay() != sc_core::SC_ZERO_TIME) {
    wait(t.delay());
    t.delay() = sc_core::SC_ZERO_TIME;
  }
  const sc_core::sc_time start = sc_core::sc_time_stamp();
  while (s.action < 0) wait(s.resolved);
  stats_.histogram("stall_cycles").add(clk_.to_cycles(sc_core::sc_time_stamp() - start));
  stalled_.erase(stag);
  return s.action;
}

uint8_t smmuv3::do_resume(const command &c, timing_ctx &t) {
  if (cfg_.idr.stall_model == 1) return cerror::ILL;  // §4.7.1: no stall model
  t.advance(cfg_.latency.cmd_resume, clk_);
  auto it = stalled_.find(c.stag());
  // §4.7.1: a STAG that is not stalled, or stalled for another StreamID: no effect.
  if (it == stalled_.end() || it->second->sid != c.sid() || it->second->action >= 0) {
    count("resume_no_match");
    return cerror::NONE;
  }
  const unsigned a = c.resume_action();
  it->second->action = (a & 1) ? resume_ac::RETRY : (a & 2) ? resume_ac::ABORT : resume_ac::TERM;
  it->second->resolved.notify(sc_core::SC_ZERO_TIME);
  return cerror::NONE;
}

uint8_t smmuv3::do_stall_term(const command &c, timing_ctx &t) {
  if (cfg_.idr.stall_model == 1) return cerror::ILL;  // §4.7.2
  t.advance(cfg_.latency.cmd_resume, clk_);
  unsigned n = 0;
  for (auto &[stag, s] : stalled_) {
    if (s->sid != c.sid() || s->action >= 0) continue;
    s->action = resume_ac::ABORT;
    s->resolved.notify(sc_core::SC_ZERO_TIME);
    n++;
  }
  count("stall_term_terminated", n);
  return cerror::NONE;
}

void smmuv3::terminate_all_stalls() {
  for (auto &[stag, s] : stalled_) {
    if (s->action >= 0) continue;
    s->action = resume_ac::ABORT;
    s->resolved.notify(sc_core::SC_ZERO_TIME);
  }
}

}  // namespace iommusim::models::smmuv3
