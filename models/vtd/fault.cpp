// SPDX-License-Identifier: MIT
// Primary fault logging (VT-d §7.2.1) and the fault event (§7.3):
//  - a recordable fault (FPD clear) goes to the fault recording register the
//    hardware's index points at, round robin; if that register's F is still
//    set, or FSTS.PFO is set, the fault is dropped and PFO set (overflow);
//  - FSTS.PPF is the OR of the F bits; FRI is the register the first pending
//    fault went to;
//  - a fault event interrupt is generated only when none of FSTS's status
//    bits (PFO, PPF, IQE, ICE, ITE) was already set: a new interrupt
//    condition. With FECTL.IM set it is held pending (IP) until unmasked.
// The interrupt is a 32-bit write of FEDATA to FEUADDR:FEADDR, or, with
// FEADDR 0, a pulse of the wired line irq_fault.
#include <cstdio>

#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

void vtd::record_fault(const txn &x, const fault_info &f, timing_ctx &t) {
  char name[24];
  std::snprintf(name, sizeof name, "reason_0x%02x", f.reason);
  fault_stats_.counter(name)++;
  if (!f.record) {
    fault_stats_.counter("suppressed_fpd")++;
    return;
  }
  t.advance(cfg_.latency.fault, clk_);
  const uint32_t status_before = reg_read(reg::FSTS, 4) & (reg::FSTS_RW1C | reg::FSTS_PPF);
  frcd_reg &slot = frcd_[next_fri_];
  if ((fsts_ & reg::FSTS_PFO) || (slot.hi & reg::FRCD_F)) {
    fsts_ |= reg::FSTS_PFO;
    fault_stats_.counter("overflow")++;
  } else {
    const bool ppf_was = status_before & reg::FSTS_PPF;
    slot.lo = f.addr & ~0xfffull;
    uint64_t hi = uint64_t{x.sid} << reg::FRCD_SID_SHIFT;
    hi |= uint64_t{f.reason} << reg::FRCD_FR_SHIFT;
    hi |= uint64_t{static_cast<uint8_t>(x.at) & 3u} << reg::FRCD_AT_SHIFT;
    if (x.page_request) hi |= reg::FRCD_T2;  // T2:T1 = 10b: page request
    else if (!x.write) hi |= reg::FRCD_T1;
    if (x.pv) {
      hi |= reg::FRCD_PP | (uint64_t{x.pasid & 0xfffff} << reg::FRCD_PV_SHIFT);
      if (x.priv) hi |= reg::FRCD_PRIV;
      if (x.exec) hi |= reg::FRCD_EXE;
    }
    slot.hi = hi | reg::FRCD_F;
    if (!ppf_was)
      fsts_ = (fsts_ & ~(0xffu << reg::FSTS_FRI_SHIFT)) | (next_fri_ << reg::FSTS_FRI_SHIFT);
    next_fri_ = (next_fri_ + 1) % cfg_.cap.nfr;
    fault_stats_.counter("recorded")++;
  }
  if (status_before == 0) fault_event(&t);
}

void vtd::fault_event(timing_ctx *t) {
  if (fectl_ & reg::ECTL_IM) {
    fault_ip_ = true;  // held until software clears IM
    return;
  }
  fault_ip_ = false;
  signal(irq_fault, fedata_, feaddr_, feuaddr_, t);
}

void vtd::signal(unsigned line, uint32_t data, uint32_t addr, uint32_t uaddr, timing_ctx *t) {
  const uint64_t a = (uint64_t{uaddr} << 32) | (addr & ~3u);
  if (a != 0 && t) {
    t->advance(cfg_.latency.msi, clk_);
    count("interrupt_messages");
    mem_write(a, &data, 4, *t);
  } else {
    pulse(line);
  }
}

void vtd::pulse(unsigned line) {
  count("irq_wired");
  if (irq) {
    irq(line, true);
    irq(line, false);
  }
}

}  // namespace iommusim::models::vtd
