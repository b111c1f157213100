// SPDX-License-Identifier: MIT
// PRI queue (SMMUv3 §8: PRI queue, §8.1 overflow, §8.2 miscellaneous).
//
// Page requests from endpoints go into an internal FIFO; a process writes
// each as a 16-byte record at PRIQ_PROD and raises the queue's interrupt once
// per batch. While the queue is in overflow (PROD.OVFLG != CONS.OVACKFLG) or
// full, requests are discarded and a Last request gets an automatic Success
// response (with its PASID: IDR3.PPS == 1). With PRIQEN == 0 or PRIQ_ABT_ERR
// active, every request gets an automatic Response Failure without a PASID.
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

void smmuv3::page_request_in(const page_request &req, sc_core::sc_time &delay) {
  count("pri_page_requests");
  pri_pending_.push_back(req);
  priq_kick_.notify(mode_ == timing_mode::fast ? delay : sc_core::SC_ZERO_TIME);
}

void smmuv3::auto_page_response(const page_request &req) {
  // §8.1/§8.2 automatic PRG responses.
  page_response rsp;
  rsp.stream_id = req.stream_id;
  rsp.grpid = req.grpid;
  const bool failure = !(cr0_ & reg::CR0_PRIQEN) || ((gerror_ ^ gerrorn_) & reg::GERROR_PRIQ_ABT_ERR);
  if (failure) {
    rsp.code = prg_response_code::response_failure;
  } else {
    rsp.code = prg_response_code::success;
    rsp.ssid_valid = req.ssid_valid && cfg_.idr.ssid_bits > 0;  // IDR3.PPS == 1
    rsp.ssid = rsp.ssid_valid ? req.ssid : 0;
  }
  count(failure ? "pri_auto_response_failure" : "pri_auto_response_success");
  auto it = endpoints_.find(req.stream_id);
  if (it == endpoints_.end() || !it->second) return;
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  it->second->page_response(rsp, d);
}

void smmuv3::priq_thread() {
  for (;;) {
    if (pri_pending_.empty()) {
      wait(priq_kick_);
      continue;
    }
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    timing_ctx t(mode_, d);
    bool wrote = false;
    while (!pri_pending_.empty()) {
      const page_request req = pri_pending_.front();
      pri_pending_.pop_front();
      const bool enabled = cfg_.idr.pri && (cr0_ & reg::CR0_PRIQEN) && (cr0_ & reg::CR0_SMMUEN) &&
                           !((gerror_ ^ gerrorn_) & reg::GERROR_PRIQ_ABT_ERR);
      if (!enabled) {
        count("pri_discarded_disabled");
        auto_page_response(req);
        continue;
      }
      const bool in_overflow = (priq_.prod & reg::Q_OVFLG) != (priq_.cons & reg::Q_OVFLG);
      if (in_overflow || priq_.full()) {
        // §8.1: an overflow condition inhibits new entries until acknowledged.
        if (!in_overflow) {
          priq_.prod ^= reg::Q_OVFLG;
          count("pri_overflow");
        }
        count("pri_discarded_overflow");
        if (req.last) auto_page_response(req);
        continue;
      }
      t.advance(cfg_.latency.queue_record, clk_);
      const pri_record rec =
          pri_record::make(req.stream_id, req.ssid_valid, req.ssid, req.priv, req.exec, req.read,
                           req.write, req.last, req.grpid, req.addr);
      if (!mem_write(priq_.slot_addr(priq_.prod), rec.dw, sizeof(rec.dw), t)) {
        // §8.2: a synchronous abort writing the record: Response Failure.
        raise_gerror(reg::GERROR_PRIQ_ABT_ERR, &t);
        auto_page_response(req);
        continue;
      }
      priq_.prod = ((priq_.prod + 1) & priq_.wrap_mask()) | (priq_.prod & reg::Q_OVFLG);
      count("pri_records_written");
      wrote = true;
    }
    if (wrote && (irq_ctrl_ & reg::IRQ_CTRL_PRIQ_IRQEN))
      signal_irq(irq_priq, priq_.irq_cfg0, priq_.irq_cfg1, reg::GERROR_MSI_PRIQ_ABT_ERR, &t);
    if (d != sc_core::SC_ZERO_TIME) wait(d);
  }
}

}  // namespace iommusim::models::smmuv3
