// SPDX-License-Identifier: MIT
// Registers (SMMUv3 §6): ID registers from the config, control registers and
// their acknowledgements, queue bases and indexes, global errors, MSI
// configuration. 64-bit registers are also accessible as two 32-bit halves;
// a 64-bit access to two 32-bit registers reads or writes both.
#include <cstring>

#include "models/common/register_frame.h"
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

namespace {

// Peripheral and component ID registers of an MMU-600 (0xfd0..0xffc):
// PIDR4..7, PIDR0..3, CIDR0..3.
constexpr uint8_t id_regs[12] = {0x04, 0, 0, 0, 0x83, 0xb4, 0x2b, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

uint32_t lo(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t hi(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
void set_half(uint64_t &r, bool high, uint32_t v) {
  r = high ? (r & 0xffff'ffffull) | (uint64_t{v} << 32) : (r & ~0xffff'ffffull) | v;
}

}  // namespace

// ---------------------------------------------------------------- queues

unsigned smmuv3::queue_regs::log2() const {
  // §6.3.26 CMDQ_BASE.LOG2SIZE: values above the IDR1 limit behave as the limit.
  const unsigned l = static_cast<unsigned>(base & reg::Q_BASE_LOG2SIZE_MASK);
  return l > max_log2 ? max_log2 : l;
}

uint64_t smmuv3::queue_regs::addr() const {
  // The base is aligned to the queue size: lower address bits are taken as 0.
  const uint64_t bytes = uint64_t{entry_bytes} << log2();
  const uint64_t align = bytes < 32 ? 32 : bytes;
  return base & reg::Q_BASE_ADDR_MASK & ~(align - 1);
}

// ---------------------------------------------------------------- ID registers

uint32_t smmuv3::idr(unsigned n) const {
  const idr_config &c = cfg_.idr;
  switch (n) {
    case 0: {  // §6.3.1
      uint32_t v = 0;
      if (c.s2p) v |= reg::IDR0_S2P;
      if (c.s1p) v |= reg::IDR0_S1P;
      v |= 2u << reg::IDR0_TTF_SHIFT;  // AArch64 tables
      if (c.cohacc) v |= reg::IDR0_COHACC;
      v |= (c.httu & 3u) << reg::IDR0_HTTU_SHIFT;
      if (c.hyp) v |= reg::IDR0_HYP;
      if (c.ats) v |= reg::IDR0_ATS;
      if (c.asid16) v |= reg::IDR0_ASID16;
      if (c.msi) v |= reg::IDR0_MSI;
      if (c.sev) v |= reg::IDR0_SEV;
      if (c.pri) v |= reg::IDR0_PRI;
      if (c.vmid16) v |= reg::IDR0_VMID16;
      if (c.cd_2lvl) v |= reg::IDR0_CD2L;
      v |= 2u << reg::IDR0_TTENDIAN_SHIFT;  // little-endian tables only
      v |= (c.stall_model & 3u) << reg::IDR0_STALL_MODEL_SHIFT;
      if (c.term_model) v |= reg::IDR0_TERM_MODEL;
      if (c.st_2lvl) v |= 1u << reg::IDR0_ST_LVL_SHIFT;
      return v;
    }
    case 1:  // §6.3.2
      return (c.sid_bits << reg::IDR1_SIDSIZE_SHIFT) | (c.ssid_bits << reg::IDR1_SSIDSIZE_SHIFT) |
             ((c.pri ? c.priq_log2 : 0) << reg::IDR1_PRIQS_SHIFT) |
             (c.evtq_log2 << reg::IDR1_EVENTQS_SHIFT) | (c.cmdq_log2 << reg::IDR1_CMDQS_SHIFT);
    case 3: {  // §6.3.4
      uint32_t v = 0;
      if (c.s1p) v |= reg::IDR3_HAD;
      if (c.pri && c.ssid_bits) v |= reg::IDR3_PPS;
      if (c.ril) v |= reg::IDR3_RIL;
      return v;
    }
    case 5: {  // §6.3.6
      uint32_t v = static_cast<uint32_t>(reg::oas_field_from_bits(c.oas));
      if (c.gran_4k) v |= reg::IDR5_GRAN4K;
      if (c.gran_16k) v |= reg::IDR5_GRAN16K;
      if (c.gran_64k) v |= reg::IDR5_GRAN64K;
      v |= (c.stall_model == 1 ? 0u : c.stall_max) << reg::IDR5_STALL_MAX_SHIFT;
      return v;
    }
    default:
      return 0;  // IDR2 (no VATOS), IDR4 (IMPLEMENTATION DEFINED)
  }
}

// ---------------------------------------------------------------- reads

uint64_t smmuv3::reg_read(uint32_t off, unsigned size) const {
  if (size == 8) return uint64_t{static_cast<uint32_t>(reg_read(off, 4))} |
                        (uint64_t{static_cast<uint32_t>(reg_read(off + 4, 4))} << 32);
  switch (off) {
    case reg::IDR0: return idr(0);
    case reg::IDR1: return idr(1);
    case reg::IDR2: return idr(2);
    case reg::IDR3: return idr(3);
    case reg::IDR4: return idr(4);
    case reg::IDR5: return idr(5);
    case reg::IIDR: return cfg_.idr.iidr;
    case reg::AIDR: return cfg_.idr.aidr;
    case reg::CR0:
    case reg::CR0ACK: return cr0_;  // the model acknowledges at once
    case reg::CR1: return cr1_;
    case reg::CR2: return cr2_;
    case reg::STATUSR: return 0;
    case reg::GBPA: return gbpa_;   // UPDATE reads 0: updates complete at once
    case reg::AGBPA: return 0;
    case reg::IRQ_CTRL:
    case reg::IRQ_CTRLACK: return irq_ctrl_;
    case reg::GERROR: return gerror_;
    case reg::GERRORN: return gerrorn_;
    case reg::GERROR_IRQ_CFG0: return lo(gerror_irq_cfg0_);
    case reg::GERROR_IRQ_CFG0 + 4: return hi(gerror_irq_cfg0_);
    case reg::GERROR_IRQ_CFG1: return gerror_irq_cfg1_;
    case reg::GERROR_IRQ_CFG2: return gerror_irq_cfg2_;
    case reg::STRTAB_BASE: return lo(strtab_base_);
    case reg::STRTAB_BASE + 4: return hi(strtab_base_);
    case reg::STRTAB_BASE_CFG: return strtab_base_cfg_;
    case reg::CMDQ_BASE: return lo(cmdq_.base);
    case reg::CMDQ_BASE + 4: return hi(cmdq_.base);
    case reg::CMDQ_PROD: return cmdq_.prod;
    case reg::CMDQ_CONS: return cmdq_.cons;
    case reg::EVTQ_BASE: return lo(evtq_.base);
    case reg::EVTQ_BASE + 4: return hi(evtq_.base);
    case reg::EVTQ_PROD:
    case reg::EVTQ_PROD_P0: return evtq_.prod;
    case reg::EVTQ_CONS:
    case reg::EVTQ_CONS_P0: return evtq_.cons;
    case reg::EVTQ_IRQ_CFG0: return lo(evtq_.irq_cfg0);
    case reg::EVTQ_IRQ_CFG0 + 4: return hi(evtq_.irq_cfg0);
    case reg::EVTQ_IRQ_CFG1: return evtq_.irq_cfg1;
    case reg::EVTQ_IRQ_CFG2: return evtq_.irq_cfg2;
    case reg::PRIQ_BASE: return lo(priq_.base);
    case reg::PRIQ_BASE + 4: return hi(priq_.base);
    case reg::PRIQ_PROD:
    case reg::PRIQ_PROD_P0: return priq_.prod;
    case reg::PRIQ_CONS:
    case reg::PRIQ_CONS_P0: return priq_.cons;
    case reg::PRIQ_IRQ_CFG0: return lo(priq_.irq_cfg0);
    case reg::PRIQ_IRQ_CFG0 + 4: return hi(priq_.irq_cfg0);
    case reg::PRIQ_IRQ_CFG1: return priq_.irq_cfg1;
    case reg::PRIQ_IRQ_CFG2: return priq_.irq_cfg2;
    default:
      if (off >= reg::PIDR4 && off < reg::PIDR4 + 48) return id_regs[(off - reg::PIDR4) / 4];
      return 0;  // RES0 / unimplemented (Secure, VATOS, PMCG pages are not modelled)
  }
}

uint64_t smmuv3::peek_reg(uint32_t offset, unsigned size) const { return reg_read(offset, size); }

// ---------------------------------------------------------------- writes

void smmuv3::write_cr0(uint32_t v, timing_ctx &t) {
  // §6.3.9: features the IDRs do not advertise are RES0.
  uint32_t mask = reg::CR0_SMMUEN | reg::CR0_EVENTQEN | reg::CR0_CMDQEN;
  if (cfg_.idr.pri) mask |= reg::CR0_PRIQEN;
  if (cfg_.idr.ats) mask |= reg::CR0_ATSCHK;
  const uint32_t old = cr0_;
  cr0_ = v & mask;
  const uint32_t changed = old ^ cr0_;
  if ((changed & reg::CR0_SMMUEN) && !(cr0_ & reg::CR0_SMMUEN)) {
    // Disabling translation terminates stalled transactions (§3.12.2).
    terminate_all_stalls();
  }
  if ((changed & reg::CR0_EVENTQEN) && !(cr0_ & reg::CR0_EVENTQEN)) {
    // Records that can no longer be written: non-stall ones are discarded,
    // stalled transactions whose record is not visible are terminated.
    for (auto &r : evt_pending_) {
      if (!r.stall()) continue;
      auto it = stalled_.find(r.stag());
      if (it != stalled_.end() && it->second->action < 0) {
        it->second->action = resume_ac::ABORT;
        it->second->resolved.notify(sc_core::SC_ZERO_TIME);
      }
    }
    evt_pending_.clear();
    evtq_drained_.notify(sc_core::SC_ZERO_TIME);
  }
  const sc_core::sc_time when = mode_ == timing_mode::fast ? t.delay() : sc_core::SC_ZERO_TIME;
  if (changed & reg::CR0_CMDQEN) cmdq_kick_.notify(when);
  if (changed & reg::CR0_EVENTQEN) evtq_kick_.notify(when);
  if (changed & reg::CR0_PRIQEN) priq_kick_.notify(when);
}

void smmuv3::reg_write(uint32_t off, unsigned size, uint64_t v, timing_ctx &t) {
  if (size == 8) {
    reg_write(off, 4, lo(v), t);
    reg_write(off + 4, 4, hi(v), t);
    return;
  }
  const uint32_t w = lo(v);
  const sc_core::sc_time when = mode_ == timing_mode::fast ? t.delay() : sc_core::SC_ZERO_TIME;
  auto ignored = [&](const char *why) {
    // CONSTRAINED UNPREDICTABLE programming: the model ignores the write.
    count("ignored_register_writes");
    (void)why;
  };
  const bool en = smmuen();
  switch (off) {
    case reg::CR0: write_cr0(w, t); break;
    case reg::CR1:
      if (en) return ignored("CR1 while SMMUEN");
      cr1_ = w & 0xfff;
      break;
    case reg::CR2:
      if (en) return ignored("CR2 while SMMUEN");
      cr2_ = w & reg::CR2_MASK;
      if (!cfg_.idr.hyp) cr2_ &= ~reg::CR2_E2H;
      break;
    case reg::GBPA:
      // §6.3.14: fields take effect with UPDATE = 1, which then reads 0.
      if (w & reg::GBPA_UPDATE) gbpa_ = w & reg::GBPA_FIELDS;
      break;
    case reg::IRQ_CTRL:
      irq_ctrl_ = w & 7;
      if (!cfg_.idr.pri) irq_ctrl_ &= ~reg::IRQ_CTRL_PRIQ_IRQEN;
      break;
    case reg::GERRORN: {
      const uint32_t before = gerror_ ^ gerrorn_;
      gerrorn_ = w & reg::GERROR_MASK;
      gerrorn_written(before);
      break;
    }
    case reg::GERROR_IRQ_CFG0:
    case reg::GERROR_IRQ_CFG0 + 4:
      set_half(gerror_irq_cfg0_, off & 4, w);
      gerror_irq_cfg0_ &= reg::MSI_ADDR_MASK;
      break;
    case reg::GERROR_IRQ_CFG1: gerror_irq_cfg1_ = w; break;
    case reg::GERROR_IRQ_CFG2: gerror_irq_cfg2_ = w & 0x3f; break;
    case reg::STRTAB_BASE:
    case reg::STRTAB_BASE + 4:
      if (en) return ignored("STRTAB_BASE while SMMUEN");
      set_half(strtab_base_, off & 4, w);
      strtab_base_ &= reg::STRTAB_BASE_ADDR_MASK | reg::STRTAB_BASE_RA;
      break;
    case reg::STRTAB_BASE_CFG:
      if (en) return ignored("STRTAB_BASE_CFG while SMMUEN");
      strtab_base_cfg_ = w & 0x3'07ff;
      break;
    case reg::CMDQ_BASE:
    case reg::CMDQ_BASE + 4:
      if (cr0_ & reg::CR0_CMDQEN) return ignored("CMDQ_BASE while CMDQEN");
      set_half(cmdq_.base, off & 4, w);
      cmdq_.base &= reg::Q_BASE_ADDR_MASK | reg::Q_BASE_RWA | reg::Q_BASE_LOG2SIZE_MASK;
      break;
    case reg::CMDQ_PROD:
      cmdq_.prod = w & cmdq_.wrap_mask();
      cmdq_kick_.notify(when);
      break;
    case reg::CMDQ_CONS:
      if (cr0_ & reg::CR0_CMDQEN) return ignored("CMDQ_CONS while CMDQEN");
      cmdq_.cons = w & (cmdq_.wrap_mask() | reg::CMDQ_CONS_ERR_MASK);
      break;
    case reg::EVTQ_BASE:
    case reg::EVTQ_BASE + 4:
      if (cr0_ & reg::CR0_EVENTQEN) return ignored("EVENTQ_BASE while EVENTQEN");
      set_half(evtq_.base, off & 4, w);
      evtq_.base &= reg::Q_BASE_ADDR_MASK | reg::Q_BASE_RWA | reg::Q_BASE_LOG2SIZE_MASK;
      break;
    case reg::EVTQ_PROD:
    case reg::EVTQ_PROD_P0:
      if (cr0_ & reg::CR0_EVENTQEN) return ignored("EVENTQ_PROD while EVENTQEN");
      evtq_.prod = w & (evtq_.wrap_mask() | reg::Q_OVFLG);
      break;
    case reg::EVTQ_CONS:
    case reg::EVTQ_CONS_P0:
      evtq_.cons = w & (evtq_.wrap_mask() | reg::Q_OVFLG);
      evtq_kick_.notify(when);  // space may have been freed
      break;
    case reg::EVTQ_IRQ_CFG0:
    case reg::EVTQ_IRQ_CFG0 + 4:
      set_half(evtq_.irq_cfg0, off & 4, w);
      evtq_.irq_cfg0 &= reg::MSI_ADDR_MASK;
      break;
    case reg::EVTQ_IRQ_CFG1: evtq_.irq_cfg1 = w; break;
    case reg::EVTQ_IRQ_CFG2: evtq_.irq_cfg2 = w & 0x3f; break;
    case reg::PRIQ_BASE:
    case reg::PRIQ_BASE + 4:
      if (!cfg_.idr.pri) return;
      if (cr0_ & reg::CR0_PRIQEN) return ignored("PRIQ_BASE while PRIQEN");
      set_half(priq_.base, off & 4, w);
      priq_.base &= reg::Q_BASE_ADDR_MASK | reg::Q_BASE_RWA | reg::Q_BASE_LOG2SIZE_MASK;
      break;
    case reg::PRIQ_PROD:
    case reg::PRIQ_PROD_P0:
      if (!cfg_.idr.pri) return;
      if (cr0_ & reg::CR0_PRIQEN) return ignored("PRIQ_PROD while PRIQEN");
      priq_.prod = w & (priq_.wrap_mask() | reg::Q_OVFLG);
      break;
    case reg::PRIQ_CONS:
    case reg::PRIQ_CONS_P0:
      if (!cfg_.idr.pri) return;
      priq_.cons = w & (priq_.wrap_mask() | reg::Q_OVFLG);
      priq_kick_.notify(when);
      break;
    case reg::PRIQ_IRQ_CFG0:
    case reg::PRIQ_IRQ_CFG0 + 4:
      if (!cfg_.idr.pri) return;
      set_half(priq_.irq_cfg0, off & 4, w);
      priq_.irq_cfg0 &= reg::MSI_ADDR_MASK;
      break;
    case reg::PRIQ_IRQ_CFG1: priq_.irq_cfg1 = w; break;
    case reg::PRIQ_IRQ_CFG2: priq_.irq_cfg2 = w & 0x3f; break;
    default:
      break;  // read-only and RES0 registers ignore writes
  }
}

// ---------------------------------------------------------------- the socket

void smmuv3::regs_b_transport(tlm::tlm_generic_payload &tr, sc_core::sc_time &delay) {
  timing_ctx t(mode_, delay);
  if (!register_access_ok(tr, reg::regs_size)) {
    // Registers are 32- and 64-bit, naturally aligned (§6.1).
    count("bad_register_accesses");
    tr.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  t.advance(cfg_.latency.reg_access, clk_);
  register_access(
      tr, [&](uint32_t off, unsigned len) { return reg_read(off, len); },
      [&](uint32_t off, unsigned len, uint64_t v) { reg_write(off, len, v, t); });
}

unsigned smmuv3::regs_transport_dbg(tlm::tlm_generic_payload &tr) {
  return register_peek(tr, reg::regs_size, [&](uint32_t off, unsigned len) { return reg_read(off, len); });
}

}  // namespace iommusim::models::smmuv3
