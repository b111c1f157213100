// SPDX-License-Identifier: MIT
// Event queue (SMMUv3 §7.2 event queue, §7.4 overflow, §3.5 queues).
//
// Faults and configuration errors are handed to an internal FIFO; a process
// writes them to the queue in memory (a timed 32-byte write each), moves
// EVENTQ_PROD on and raises the queue's interrupt once per batch. When the
// queue is full a non-stall record is discarded and the overflow flag is
// toggled (once, until acknowledged); a stall record is kept until there is
// room (§7.4). With EVENTQEN == 0 records are discarded without overflow.
#include <algorithm>

#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

const char *event_name(uint8_t id) {
  switch (id) {
    case evt::F_UUT: return "F_UUT";
    case evt::C_BAD_STREAMID: return "C_BAD_STREAMID";
    case evt::F_STE_FETCH: return "F_STE_FETCH";
    case evt::C_BAD_STE: return "C_BAD_STE";
    case evt::F_BAD_ATS_TREQ: return "F_BAD_ATS_TREQ";
    case evt::F_STREAM_DISABLED: return "F_STREAM_DISABLED";
    case evt::F_TRANSL_FORBIDDEN: return "F_TRANSL_FORBIDDEN";
    case evt::C_BAD_SUBSTREAMID: return "C_BAD_SUBSTREAMID";
    case evt::F_CD_FETCH: return "F_CD_FETCH";
    case evt::C_BAD_CD: return "C_BAD_CD";
    case evt::F_WALK_EABT: return "F_WALK_EABT";
    case evt::F_TRANSLATION: return "F_TRANSLATION";
    case evt::F_ADDR_SIZE: return "F_ADDR_SIZE";
    case evt::F_ACCESS: return "F_ACCESS";
    case evt::F_PERMISSION: return "F_PERMISSION";
    default: return "UNKNOWN";
  }
}

void smmuv3::record_event(const event_record &r) {
  evt_stats_.counter(event_name(r.id()))++;
  if (!(cr0_ & reg::CR0_EVENTQEN)) {
    // §7.4: with the queue disabled, records are not delivered.
    evt_stats_.counter("discarded_disabled")++;
    return;
  }
  evt_pending_.push_back(r);
  evtq_kick_.notify(sc_core::SC_ZERO_TIME);
}

void smmuv3::evtq_thread() {
  for (;;) {
    if (evt_pending_.empty() || !(cr0_ & reg::CR0_EVENTQEN) ||
        (evtq_.full() && std::all_of(evt_pending_.begin(), evt_pending_.end(),
                                     [](const event_record &r) { return r.stall(); }))) {
      if (!(cr0_ & reg::CR0_EVENTQEN) && !evt_pending_.empty()) {
        evt_stats_.counter("discarded_disabled") += evt_pending_.size();
        evt_pending_.clear();
      }
      evtq_busy_ = false;
      evtq_drained_.notify(sc_core::SC_ZERO_TIME);
      wait(evtq_kick_);
      continue;
    }
    evtq_busy_ = true;
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    timing_ctx t(mode_, d);
    bool wrote = false;
    while (!evt_pending_.empty() && (cr0_ & reg::CR0_EVENTQEN)) {
      if (evtq_.full()) {
        // §7.4: discard what terminated; stalled transactions' records wait.
        bool kept_stall = false;
        for (auto it = evt_pending_.begin(); it != evt_pending_.end();) {
          if (it->stall()) {
            kept_stall = true;
            ++it;
            continue;
          }
          evt_stats_.counter("overflow_discarded")++;
          if ((evtq_.prod & reg::Q_OVFLG) == (evtq_.cons & reg::Q_OVFLG)) {
            evtq_.prod ^= reg::Q_OVFLG;
            evt_stats_.counter("overflow")++;
          }
          it = evt_pending_.erase(it);
        }
        (void)kept_stall;
        break;
      }
      const event_record rec = evt_pending_.front();
      evt_pending_.pop_front();
      t.advance(cfg_.latency.queue_record, clk_);
      const uint64_t slot = evtq_.slot_addr(evtq_.prod);
      if (!mem_write(slot, rec.dw, sizeof(rec.dw), t)) {
        // §7.2.2: an abort writing the queue is a global error; the record is lost.
        evt_stats_.counter("write_aborts")++;
        raise_gerror(reg::GERROR_EVTQ_ABT_ERR, &t);
        if (rec.stall()) {
          auto it = stalled_.find(rec.stag());
          if (it != stalled_.end() && it->second->action < 0) {
            it->second->action = resume_ac::ABORT;
            it->second->resolved.notify(sc_core::SC_ZERO_TIME);
          }
        }
        continue;
      }
      evtq_.prod = ((evtq_.prod + 1) & evtq_.wrap_mask()) | (evtq_.prod & reg::Q_OVFLG);
      evt_stats_.counter("written")++;
      if (rec.stall()) {
        auto it = stalled_.find(rec.stag());
        if (it != stalled_.end()) it->second->event_written = true;
      }
      wrote = true;
    }
    if (wrote && (irq_ctrl_ & reg::IRQ_CTRL_EVENTQ_IRQEN))
      signal_irq(irq_eventq, evtq_.irq_cfg0, evtq_.irq_cfg1, reg::GERROR_MSI_EVTQ_ABT_ERR, &t);
    if (d != sc_core::SC_ZERO_TIME) wait(d);
  }
}

void smmuv3::wait_events_visible() {
  // §4.7.3: CMD_SYNC completes after records of terminated transactions are
  // visible or discarded (stall records do not hold it up).
  auto pending_nonstall = [&] {
    for (const auto &r : evt_pending_)
      if (!r.stall()) return true;
    return false;
  };
  while ((cr0_ & reg::CR0_EVENTQEN) && (evtq_busy_ || pending_nonstall()))
    wait(evtq_drained_);
}

}  // namespace iommusim::models::smmuv3
