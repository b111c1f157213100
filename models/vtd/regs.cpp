// SPDX-License-Identifier: MIT
// The register file (VT-d §11.4): capability reporting, the GCMD -> GSTS
// handshakes, root-table latching, register-based invalidation (CCMD, IOTLB),
// fault status/recording, queue pointers and the three event-interrupt
// register sets. 32-bit and 64-bit accesses; a 64-bit register may also be
// written as two 32-bit halves.
#include <cstring>

#include "models/common/register_frame.h"
#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

namespace {

uint64_t bit(bool b, unsigned n) { return b ? uint64_t{1} << n : 0; }

}  // namespace

uint64_t vtd::cap() const {
  const cap_config &c = cfg_.cap;
  return uint64_t{c.nd & 7} | bit(c.afl, 3) | bit(c.rwbf, 4) | bit(c.plmr, 5) | bit(c.phmr, 6) |
         bit(c.cm, 7) | (uint64_t{c.sagaw & 0x1f} << 8) | (uint64_t{(c.mgaw - 1) & 0x3f} << 16) |
         bit(c.zlr, 22) | (uint64_t{(c.fro / 16) & 0x3ff} << 24) |
         (uint64_t{c.sllps & 0xf} << 34) | bit(c.psi, 39) | (uint64_t{(c.nfr - 1) & 0xff} << 40) |
         (uint64_t{c.mamv & 0x3f} << 48) | bit(c.dwd, 54) | bit(c.drd, 55) | bit(c.fl1gp, 56) |
         bit(c.pi, 59) | bit(c.fl5lp, 60);
}

uint64_t vtd::ecap() const {
  const ecap_config &e = cfg_.ecap;
  return bit(e.c, 0) | bit(e.qi, 1) | bit(e.dt, 2) | bit(e.ir, 3) | bit(e.eim, 4) | bit(e.pt, 6) |
         bit(e.sc, 7) | (uint64_t{(e.iro / 16) & 0x3ff} << 8) | (uint64_t{e.mhmv & 0xf} << 20) |
         bit(e.nest, 26) | bit(e.prs, 29) | bit(e.ers, 30) | bit(e.srs, 31) | bit(e.nwfs, 33) |
         bit(e.eafs, 34) | (uint64_t{e.pss & 0x1f} << 35) | bit(e.pasid, 40) | bit(e.dit, 41) |
         bit(e.pds, 42) | bit(e.smts, 43) | bit(e.vcs, 44) | bit(e.ssads, 45) | bit(e.ssts, 46) |
         bit(e.fsts, 47) | bit(e.smpwcs, 48) | bit(e.rps, 49);
}

namespace {

// 64-bit registers (everything else is 32 bits).
bool is64(uint32_t off, uint32_t iro, uint32_t fro, unsigned nfr) {
  switch (off) {
    case reg::CAP: case reg::ECAP: case reg::RTADDR: case reg::CCMD: case reg::AFLOG:
    case reg::PHMBASE: case reg::PHMLIMIT: case reg::IQH: case reg::IQT: case reg::IQA:
    case reg::IQERCD: case reg::IRTA: case reg::PQH: case reg::PQT: case reg::PQA:
      return true;
    default:
      break;
  }
  if (off == iro || off == iro + 8) return true;
  return off >= fro && off < fro + 16 * nfr && off % 8 == 0;
}

}  // namespace

uint64_t vtd::reg_read(uint32_t off, unsigned size) const {
  const uint32_t iro = cfg_.ecap.iro, fro = cfg_.cap.fro;
  if (size == 8 && !is64(off, iro, fro, cfg_.cap.nfr))
    return reg_read(off, 4) | (reg_read(off + 4, 4) << 32);
  if (size == 4 && off % 8 == 4 && is64(off - 4, iro, fro, cfg_.cap.nfr))
    return reg_read(off - 4, 8) >> 32;
  uint64_t v = 0;
  switch (off) {
    case reg::VER: v = cfg_.version; break;
    case reg::CAP: v = cap(); break;
    case reg::ECAP: v = ecap(); break;
    case reg::GCMD: v = 0; break;  // write only
    case reg::GSTS: v = gsts_; break;
    case reg::RTADDR: v = rtaddr_; break;
    case reg::CCMD: v = ccmd_; break;
    case reg::FSTS: {
      // PPF is the OR of the F bits; FRI is valid while PPF is set.
      bool ppf = false;
      for (const frcd_reg &f : frcd_) ppf |= (f.hi & reg::FRCD_F) != 0;
      v = (fsts_ & ~(reg::FSTS_PPF | (0xffu << reg::FSTS_FRI_SHIFT))) |
          (ppf ? reg::FSTS_PPF | (fsts_ & (0xffu << reg::FSTS_FRI_SHIFT)) : 0);
      break;
    }
    case reg::FECTL: v = fectl_ | (fault_ip_ ? reg::ECTL_IP : 0); break;
    case reg::FEDATA: v = fedata_; break;
    case reg::FEADDR: v = feaddr_; break;
    case reg::FEUADDR: v = feuaddr_; break;
    case reg::PMEN: v = pmen_ | ((pmen_ >> 31) & 1); break;  // PRS mirrors EPM
    case reg::PLMBASE: v = plmbase_; break;
    case reg::PLMLIMIT: v = plmlimit_; break;
    case reg::PHMBASE: v = phmbase_; break;
    case reg::PHMLIMIT: v = phmlimit_; break;
    case reg::IQH: v = iqh_; break;
    case reg::IQT: v = iqt_; break;
    case reg::IQA: v = iqa_; break;
    case reg::ICS: v = ics_; break;
    case reg::IECTL: v = iectl_ | (inv_ip_ ? reg::ECTL_IP : 0); break;
    case reg::IEDATA: v = iedata_; break;
    case reg::IEADDR: v = ieaddr_; break;
    case reg::IEUADDR: v = ieuaddr_; break;
    case reg::IQERCD: v = iqercd_; break;
    case reg::IRTA: v = irta_; break;
    case reg::PQH: v = pqh_; break;
    case reg::PQT: v = pqt_; break;
    case reg::PQA: v = pqa_; break;
    case reg::PRS: v = prs_; break;
    case reg::PECTL: v = pectl_ | (pr_ip_ ? reg::ECTL_IP : 0); break;
    case reg::PEDATA: v = pedata_; break;
    case reg::PEADDR: v = peaddr_; break;
    case reg::PEUADDR: v = peuaddr_; break;
    default:
      if (off == iro) v = iva_;
      else if (off == iro + 8) v = iotlb_reg_;
      else if (off >= fro && off < fro + 16 * cfg_.cap.nfr) {
        const frcd_reg &f = frcd_[(off - fro) / 16];
        v = (off - fro) % 16 == 0 ? f.lo : f.hi;
      }
      break;  // reserved: reads 0
  }
  return size == 4 ? v & 0xffff'ffffu : v;
}

uint64_t vtd::peek_reg(uint32_t offset, unsigned size) const { return reg_read(offset, size); }

void vtd::reg_write(uint32_t off, unsigned size, uint64_t v, timing_ctx &t) {
  const uint32_t iro = cfg_.ecap.iro, fro = cfg_.cap.fro;
  const unsigned nfr = cfg_.cap.nfr;
  if (size == 8 && !is64(off, iro, fro, nfr)) {
    reg_write(off, 4, v & 0xffff'ffffu, t);
    reg_write(off + 4, 4, v >> 32, t);
    return;
  }
  // A 32-bit half of a 64-bit register: merge with the other half. Only the
  // upper half carries the command bits (CCMD.ICC, IOTLB.IVT, FRCD.F), so a
  // write of the lower half alone never starts anything.
  uint64_t mask = ~0ull;
  if (size == 4 && is64(off & ~7u, iro, fro, nfr) && (off % 8 == 4 || is64(off, iro, fro, nfr))) {
    const uint32_t base = off & ~7u;
    const unsigned sh = (off & 4) * 8;
    mask = 0xffff'ffffull << sh;
    v = (reg_read(base, 8) & ~mask) | ((v & 0xffff'ffffu) << sh);
    off = base;
  }
  const uint32_t v32 = static_cast<uint32_t>(v);
  switch (off) {
    case reg::GCMD: write_gcmd(v32, t); return;
    case reg::RTADDR: rtaddr_ = v & (~0xfffull | reg::RTADDR_TTM_MASK); return;
    case reg::CCMD:
      ccmd_ = v;
      if ((mask >> 32) && (v & reg::CCMD_ICC)) write_ccmd(v, t);
      return;
    case reg::FSTS: {
      const uint32_t before = fsts_;
      fsts_ &= ~(v32 & reg::FSTS_RW1C);
      // §6.5.2.10: clearing IQE (and ITE) lets the queue run again.
      if ((before & (reg::FSTS_IQE | reg::FSTS_ITE)) &&
          !(fsts_ & (reg::FSTS_IQE | reg::FSTS_ITE))) {
        qi_halted_ = false;
        qi_kick_.notify(sc_core::SC_ZERO_TIME);
      }
      if (!(reg_read(reg::FSTS, 4) & (reg::FSTS_RW1C | reg::FSTS_PPF))) fault_ip_ = false;
      return;
    }
    case reg::FECTL:
      fectl_ = v32 & reg::ECTL_IM;
      // §7.3: unmasking with an interrupt pending sends it.
      if (!(fectl_ & reg::ECTL_IM) && fault_ip_) fault_event(&t);
      return;
    case reg::FEDATA: fedata_ = v32; return;
    case reg::FEADDR: feaddr_ = v32 & ~3u; return;
    case reg::FEUADDR: feuaddr_ = v32; return;
    case reg::PMEN: pmen_ = v32 & (1u << 31); return;
    case reg::PLMBASE: plmbase_ = v32; return;
    case reg::PLMLIMIT: plmlimit_ = v32; return;
    case reg::PHMBASE: phmbase_ = v; return;
    case reg::PHMLIMIT: phmlimit_ = v; return;
    case reg::IQT:
      iqt_ = v & 0x7fff0;
      qi_kick_.notify(sc_core::SC_ZERO_TIME);
      return;
    case reg::IQA: iqa_ = v & (~0xfffull | reg::IQA_DW | reg::IQA_QS_MASK); return;
    case reg::ICS:
      ics_ &= ~(v32 & reg::ICS_IWC);
      if (!(ics_ & reg::ICS_IWC)) inv_ip_ = false;
      return;
    case reg::IECTL:
      iectl_ = v32 & reg::ECTL_IM;
      if (!(iectl_ & reg::ECTL_IM) && inv_ip_) {
        inv_ip_ = false;
        signal(irq_inv_complete, iedata_, ieaddr_, ieuaddr_, &t);
      }
      return;
    case reg::IEDATA: iedata_ = v32; return;
    case reg::IEADDR: ieaddr_ = v32 & ~3u; return;
    case reg::IEUADDR: ieuaddr_ = v32; return;
    case reg::IRTA: irta_ = v; return;
    case reg::PQH: pqh_ = v & 0x7ffe0; return;
    case reg::PQA: pqa_ = v & (~0xfffull | 7); return;
    case reg::PRS:
      prs_ &= ~(v32 & (reg::PRS_PPR | reg::PRS_PRO));
      if (!prs_) pr_ip_ = false;
      return;
    case reg::PECTL:
      pectl_ = v32 & reg::ECTL_IM;
      if (!(pectl_ & reg::ECTL_IM) && pr_ip_) {
        pr_ip_ = false;
        signal(irq_page_request, pedata_, peaddr_, peuaddr_, &t);
      }
      return;
    case reg::PEDATA: pedata_ = v32; return;
    case reg::PEADDR: peaddr_ = v32 & ~3u; return;
    case reg::PEUADDR: peuaddr_ = v32; return;
    default: break;
  }
  if (off == iro) {
    iva_ = v & (~0xfffull | reg::IVA_IH | reg::IVA_AM_MASK);
  } else if (off == iro + 8) {
    iotlb_reg_ = v;
    if ((mask >> 32) && (v & reg::IOTLB_IVT)) write_iotlb_reg(v, t);
  } else if (off >= fro && off < fro + 16 * nfr && (off - fro) % 16 == 8) {
    // FRCD: F is RW1C, the rest read only.
    frcd_reg &f = frcd_[(off - fro) / 16];
    if ((mask >> 32) && (v & reg::FRCD_F)) f.hi &= ~reg::FRCD_F;
    if (!(reg_read(reg::FSTS, 4) & (reg::FSTS_RW1C | reg::FSTS_PPF))) fault_ip_ = false;
  } else {
    count("reg_writes_ignored");  // read-only or reserved
  }
}

void vtd::write_gcmd(uint32_t v, timing_ctx &t) {
  // §10.4.4: software writes the persistent bits as they are in GSTS plus
  // one command; a one-shot bit's status reports its completion.
  (void)t;
  const uint32_t was = gsts_;
  if (v & reg::GCMD_SRTP) {
    // §10.4.4 SRTP: latch RTADDR (and TTM) for the next translations.
    root_table_ = rtaddr_ & ~0xfffull;
    scalable_ = ((rtaddr_ & reg::RTADDR_TTM_MASK) >> reg::RTADDR_TTM_SHIFT) == 1 && cfg_.ecap.smts;
    gsts_ |= reg::GSTS_RTPS;
    count("root_table_latched");
  }
  if (v & reg::GCMD_SIRTP) gsts_ |= reg::GSTS_IRTPS;
  if (v & reg::GCMD_WBF) count("write_buffer_flushes");  // WBFS reads 0: done at once
  // Persistent controls: TE, QIE, IRE, CFI (EAFL only with CAP.AFL).
  uint32_t persist = reg::GCMD_TE | reg::GCMD_CFI;
  if (cfg_.ecap.qi) persist |= reg::GCMD_QIE;
  if (cfg_.ecap.ir) persist |= reg::GCMD_IRE;
  if (cfg_.cap.afl) persist |= reg::GCMD_EAFL;
  gsts_ = (gsts_ & ~persist) | (v & persist);
  if ((gsts_ & reg::GSTS_QIES) && !(was & reg::GSTS_QIES)) {
    iqh_ = 0;  // §6.5.2: enabling the queue resets the head
    qi_halted_ = false;
    qi_kick_.notify(sc_core::SC_ZERO_TIME);
  }
  if ((gsts_ & reg::GSTS_TES) != (was & reg::GSTS_TES))
    count(gsts_ & reg::GSTS_TES ? "translation_enabled" : "translation_disabled");
}

void vtd::regs_b_transport(tlm::tlm_generic_payload &tr, sc_core::sc_time &delay) {
  timing_ctx t(mode_, delay);
  if (!register_access_ok(tr, reg::REG_SPACE)) {
    tr.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  t.advance(cfg_.latency.reg_access, clk_);
  register_access(
      tr, [&](uint32_t off, unsigned len) { return reg_read(off, len); },
      [&](uint32_t off, unsigned len, uint64_t v) { reg_write(off, len, v, t); });
}

unsigned vtd::regs_transport_dbg(tlm::tlm_generic_payload &tr) {
  return register_peek(tr, reg::REG_SPACE, [&](uint32_t off, unsigned len) { return reg_read(off, len); });
}

}  // namespace iommusim::models::vtd
