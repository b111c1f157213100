// SPDX-License-Identifier: MIT
// Global errors, interrupts and MSIs (SMMUv3 §7.5 global error recording,
// §6.3.18 GERROR / §6.3.19 GERRORN, §3.18 interrupts and notifications).
//
// An error is active while GERROR and GERRORN differ in its bit: the SMMU
// toggles GERROR to activate it, software toggles GERRORN to acknowledge.
// An interrupt is an MSI when the source's IRQ_CFG0 address is non-zero
// (and IDR0.MSI), otherwise a pulse on the source's wired line.
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

namespace {

const char *gerror_name(uint32_t bit) {
  switch (bit) {
    case reg::GERROR_CMDQ_ERR: return "gerror_cmdq_err";
    case reg::GERROR_EVTQ_ABT_ERR: return "gerror_eventq_abt_err";
    case reg::GERROR_PRIQ_ABT_ERR: return "gerror_priq_abt_err";
    case reg::GERROR_MSI_CMDQ_ABT_ERR: return "gerror_msi_cmdq_abt_err";
    case reg::GERROR_MSI_EVTQ_ABT_ERR: return "gerror_msi_eventq_abt_err";
    case reg::GERROR_MSI_PRIQ_ABT_ERR: return "gerror_msi_priq_abt_err";
    case reg::GERROR_MSI_GERROR_ABT_ERR: return "gerror_msi_gerror_abt_err";
    default: return "gerror_other";
  }
}

}  // namespace

void smmuv3::pulse(unsigned line) {
  count("irq_wired");
  if (irq) {
    irq(line, true);
    irq(line, false);
  }
}

bool smmuv3::send_msi(uint64_t addr, uint32_t data, timing_ctx &t) {
  // §3.18: a 32-bit write of the data to the address, truncated to the OAS.
  t.advance(cfg_.latency.msi, clk_);
  const uint64_t a = addr & ((uint64_t{1} << cfg_.idr.oas) - 1) & ~uint64_t{3};
  count("msi_writes");
  return mem_write(a, &data, 4, t);
}

void smmuv3::signal_irq(unsigned line, uint64_t msi_cfg0, uint32_t msi_data, uint32_t msi_abt_bit,
                        timing_ctx *t) {
  const uint64_t addr = msi_cfg0 & reg::MSI_ADDR_MASK;
  if (cfg_.idr.msi && addr != 0 && t) {
    if (!send_msi(addr, msi_data, *t)) raise_gerror(msi_abt_bit, t);
  } else {
    pulse(line);
  }
}

void smmuv3::raise_gerror(uint32_t bits, timing_ctx *t) {
  const uint32_t active = gerror_ ^ gerrorn_;
  const uint32_t fresh = bits & ~active & reg::GERROR_MASK;
  if (!fresh) return;  // already active: nothing new to report
  gerror_ ^= fresh;
  for (uint32_t b = 1; b <= reg::GERROR_SFM_ERR; b <<= 1)
    if (fresh & b) count(gerror_name(b));
  if (irq_ctrl_ & reg::IRQ_CTRL_GERROR_IRQEN)
    signal_irq(irq_gerror, gerror_irq_cfg0_, gerror_irq_cfg1_, reg::GERROR_MSI_GERROR_ABT_ERR, t);
}

void smmuv3::gerrorn_written(uint32_t before) {
  const uint32_t now = gerror_ ^ gerrorn_;
  // §7.1: command processing resumes once CMDQ_ERR is acknowledged.
  if ((before & reg::GERROR_CMDQ_ERR) && !(now & reg::GERROR_CMDQ_ERR) && cmdq_halted_) {
    cmdq_halted_ = false;
    cmdq_kick_.notify(sc_core::SC_ZERO_TIME);
  }
}

}  // namespace iommusim::models::smmuv3
