// SPDX-License-Identifier: MIT
// Invalidation (VT-d §6.5): queued invalidation (§6.5.2) and the
// register-based interface (CCMD §11.4.7, IOTLB_REG §11.4.8).
//
// The queue: IQA gives base, size (2^QS 4 KiB pages) and descriptor width
// (DW: 128 or 256 bits); software advances IQT, hardware fetches at IQH,
// executes and advances IQH, in order. Errors (§6.5.2.10): a descriptor that
// cannot be fetched or is invalid sets FSTS.IQE with IQERCD.IQEI, leaves IQH
// on it and stops the queue until software clears IQE; a device-TLB
// invalidation not completed within dev_tlb_timeout cycles when a wait
// descriptor needs it sets ITE (IQERCD.ITESID), aborts that wait (IQH moves
// past it without its status write) and stops the queue until ITE is cleared;
// a completion with an unknown ITag sets ICE (IQERCD.ICESID).
//
// Cost of a descriptor: its fetch (memory), qi_decode, the type's base cost
// (qi_cc, qi_iotlb, qi_dev_tlb, qi_iec, qi_wait, qi_prq_resp) and the cache
// sweeps it causes (each cache's invalidate cost).
#include <cstdio>

#include "models/vtd/vtd.h"

namespace iommusim::models::vtd {

namespace {

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

bool overlaps(uint64_t a, unsigned ashift, uint64_t b, unsigned bshift) {
  const unsigned s = std::max(ashift, bshift);
  return (a >> s) == (b >> s);
}

}  // namespace

uint64_t vtd::invalidate_iotlb(const std::function<bool(const iotlb_entry &)> &pred) {
  count("iommu3.num_inval_iotlb");
  const auto r = iotlb_->invalidate_if(pred);
  count("iotlb_invalidated", r.count);
  return r.cycles;
}

uint64_t vtd::invalidate_pwc(const std::function<bool(const pwc_entry &)> &pred) {
  uint64_t cycles = 0;
  for (auto *v : {&pwc_fs_, &pwc_ss_})
    for (auto &c : *v)
      if (c) cycles = std::max<uint64_t>(cycles, c->invalidate_if(pred).cycles);
  return cycles;  // the structures sweep in parallel
}

uint64_t vtd::invalidate_context(const std::function<bool(const context_cache_entry &)> &pred) {
  count("iommu3.num_inval_ctxt_cache");
  return ctx_cache_->invalidate_if(pred).cycles;
}

uint64_t vtd::invalidate_pasid_cache(const std::function<bool(const pasid_cache_entry &)> &pred) {
  count("iommu3.num_inval_pasid_cache");
  return pasid_cache_->invalidate_if(pred).cycles;
}

// ------------------------------------------------------- shared invalidations

uint64_t vtd::do_context_inv(unsigned gran, uint16_t did, uint16_t sid, unsigned fm) {
  // §6.5.2.1 granularity: 1 global, 2 domain-selective, 3 device-selective
  // (FM masks the low 0-3 bits of the function number).
  const uint16_t sid_mask = static_cast<uint16_t>(~((1u << (fm == 0 ? 0 : fm == 1 ? 1 : fm == 2 ? 2 : 3)) - 1));
  auto pred = [&](const context_cache_entry &e) {
    if (gran == 1) return true;
    if (gran == 2) return !e.ctx.scalable && e.ctx.did == did;
    return (e.sid & sid_mask) == (sid & sid_mask);
  };
  return invalidate_context(pred);
}

uint64_t vtd::do_iotlb_inv(unsigned gran, uint16_t did, uint64_t addr, unsigned am, bool ih) {
  // §6.5.2.3: 1 global, 2 domain-selective, 3 page-selective (2^AM pages at
  // addr). Page-selective invalidation reaches second-stage entries by GPA
  // and, since nested entries are tagged by their first-stage address, every
  // nested entry of the domain; IH = 1 keeps the paging-structure caches.
  uint64_t cycles = 0;
  if (gran == 1) {
    count("iommu3.num_inval_iotlb");
    cycles += iotlb_->invalidate_all().cycles;
    cycles += invalidate_pwc([](const pwc_entry &) { return true; });
    return cycles;
  }
  if (gran == 2) {
    cycles += invalidate_iotlb([&](const iotlb_entry &e) { return e.did == did; });
    cycles += invalidate_pwc([&](const pwc_entry &e) { return e.tag.did == did; });
    return cycles;
  }
  const unsigned shift = 12 + am;
  const uint64_t base = addr & ~low_mask(shift);
  cycles += invalidate_iotlb([&](const iotlb_entry &e) {
    if (e.did != did) return false;
    if (e.kind == xl_kind::nested) return true;
    if (e.kind != xl_kind::second) return false;
    return overlaps(e.ia, e.page_shift, base, shift);
  });
  if (!ih) cycles += invalidate_pwc([&](const pwc_entry &e) { return e.tag.did == did; });
  return cycles;
}

// ------------------------------------------------------- register interface

void vtd::write_ccmd(uint64_t v, timing_ctx &t) {
  const unsigned gran = (v >> reg::CCMD_CIRG_SHIFT) & 3;
  if ((gsts_ & reg::GSTS_QIES) || gran == 0) {
    // §6.5.1: register-based invalidation is not available while QI is on.
    count("reg_invalidation_ignored");
    ccmd_ = v & ~reg::CCMD_ICC;
    return;
  }
  t.advance(cfg_.latency.qi_cc, clk_);
  t.advance(do_context_inv(gran, static_cast<uint16_t>(v & 0xffff),
                           static_cast<uint16_t>(v >> reg::CCMD_SID_SHIFT),
                           (v >> reg::CCMD_FM_SHIFT) & 3),
            clk_);
  count("reg_context_invalidations");
  ccmd_ = (v & ~(reg::CCMD_ICC | (3ull << reg::CCMD_CAIG_SHIFT))) |
          (uint64_t{gran} << reg::CCMD_CAIG_SHIFT);
}

void vtd::write_iotlb_reg(uint64_t v, timing_ctx &t) {
  unsigned gran = (v >> reg::IOTLB_IIRG_SHIFT) & 3;
  if ((gsts_ & reg::GSTS_QIES) || gran == 0) {
    count("reg_invalidation_ignored");
    iotlb_reg_ = v & ~reg::IOTLB_IVT;
    return;
  }
  const unsigned am = iva_ & reg::IVA_AM_MASK;
  // Hardware may invalidate more than asked: a page request it cannot do
  // (no PSI, AM beyond MAMV) becomes domain-selective, reported in IAIG.
  if (gran == 3 && (!cfg_.cap.psi || am > cfg_.cap.mamv)) gran = 2;
  t.advance(cfg_.latency.qi_iotlb, clk_);
  t.advance(do_iotlb_inv(gran, static_cast<uint16_t>(v >> reg::IOTLB_DID_SHIFT), iva_ & ~0xfffull,
                         am, iva_ & reg::IVA_IH),
            clk_);
  count("reg_iotlb_invalidations");
  iotlb_reg_ = (v & ~(reg::IOTLB_IVT | (3ull << reg::IOTLB_IAIG_SHIFT))) |
               (uint64_t{gran} << reg::IOTLB_IAIG_SHIFT);
}

// ------------------------------------------------------- the queue

void vtd::raise_fsts(uint32_t bits, timing_ctx *t) {
  const uint32_t before = reg_read(reg::FSTS, 4) & (reg::FSTS_RW1C | reg::FSTS_PPF);
  fsts_ |= bits;
  if (before == 0) fault_event(t);  // §7.3: only a new interrupt condition
}

void vtd::qi_thread() {
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  for (;;) {
    sc_core::wait(qi_kick_);
    while ((gsts_ & reg::GSTS_QIES) && !qi_halted_ && iqh_ != iqt_) {
      timing_ctx t(mode_, d);
      const bool dw = iqa_ & reg::IQA_DW;
      const unsigned sz = dw ? 32 : 16;
      const uint64_t qbytes = uint64_t{4096} << (iqa_ & reg::IQA_QS_MASK);
      uint8_t code = reg::IQEI_NONE;
      uint64_t desc[4] = {0, 0, 0, 0};
      if ((dw && (iqt_ & 0x10)) || iqt_ >= qbytes) {
        code = reg::IQEI_TAIL;  // a tail the queue cannot have

      } else if (scalable_ && !dw) {
        code = reg::IQEI_DW;  // scalable mode takes 256-bit descriptors only
      } else if (!mem_read((iqa_ & ~0xfffull) + iqh_ % qbytes, desc, sz, t)) {
        code = reg::IQEI_FETCH;
      } else {
        t.advance(cfg_.latency.qi_decode, clk_);
        qi_stats_.counter("descriptors")++;
        const qi_status s = qi_execute(desc, t);
        if (s == qi_status::invalid) code = reg::IQEI_INVALID;
        if (s == qi_status::timeout) {
          // §6.5.2.10 ITE: the pending wait is aborted (no status write, no
          // interrupt); fetching stops after it until ITE is cleared.
          iqh_ = (iqh_ + sz) % qbytes;
          if (mode_ == timing_mode::fast) {
            sc_core::wait(d);
            d = sc_core::SC_ZERO_TIME;
          }
          continue;
        }
      }
      if (code != reg::IQEI_NONE) {
        iqercd_ = (iqercd_ & ~0xfull) | code;
        qi_halted_ = true;
        qi_stats_.counter("iqe")++;
        raise_fsts(reg::FSTS_IQE, &t);
      } else {
        iqh_ = (iqh_ + sz) % qbytes;
      }
      if (mode_ == timing_mode::fast && d != sc_core::SC_ZERO_TIME) {
        sc_core::wait(d);  // the queue's own activity: keep it in step
        d = sc_core::SC_ZERO_TIME;
      }
    }
  }
}

vtd::qi_status vtd::qi_execute(const uint64_t desc[4], timing_ctx &t) {
  const unsigned type = (desc[0] & 0xf) | ((desc[0] >> 5) & 0x70);  // type[6:4] in bits 11:9
  const unsigned g = (desc[0] >> 4) & 3;
  const uint16_t did = static_cast<uint16_t>(desc[0] >> 16);
  const lat_t &L = cfg_.latency;
  switch (type) {
    case reg::QI_CC: {
      if (g == 0) return qi_status::invalid;
      qi_stats_.counter("context_cache_inv")++;
      t.advance(L.qi_cc, clk_);
      t.advance(do_context_inv(g, did, static_cast<uint16_t>(desc[0] >> 32), (desc[0] >> 48) & 3),
                clk_);
      return qi_status::ok;
    }
    case reg::QI_IOTLB: {
      // §6.5.2.3: granularity 0 is reserved; page-selective needs CAP.PSI and
      // an address mask no larger than CAP.MAMV. Descriptors here have no
      // IAIG to report a wider flush, so the model takes these as invalid
      // descriptors (IQE, §6.5.2.10) rather than widening them silently
      // (tested: vtd_qi.iotlb_mask_beyond_mamv_is_invalid).
      const unsigned am = desc[1] & 0x3f;
      if (g == 0 || (g == 3 && (!cfg_.cap.psi || am > cfg_.cap.mamv))) return qi_status::invalid;
      qi_stats_.counter("iotlb_inv")++;
      t.advance(L.qi_iotlb, clk_);
      t.advance(do_iotlb_inv(g, did, desc[1] & ~0xfffull, am, (desc[1] >> 6) & 1), clk_);
      return qi_status::ok;
    }
    case reg::QI_DEV_TLB: {
      if (!cfg_.ecap.dt) return qi_status::invalid;
      qi_stats_.counter("dev_tlb_inv")++;
      t.advance(L.qi_dev_tlb, clk_);
      send_dev_tlb_inv(static_cast<uint16_t>(desc[0] >> 32), false, 0, desc[1] & ~0xfffull,
                       desc[1] & 1, false, t);
      return qi_status::ok;
    }
    case reg::QI_IEC:
      qi_stats_.counter("iec_inv")++;  // interrupt remapping is not modelled: nothing cached
      t.advance(L.qi_iec, clk_);
      return qi_status::ok;
    case reg::QI_WAIT:
      return qi_wait(desc, t);
    case reg::QI_PIOTLB: {
      if (!cfg_.ecap.pasid || g < 2) return qi_status::invalid;
      const uint32_t pasid = (desc[0] >> 32) & 0xfffff;
      const unsigned am = desc[1] & 0x3f;
      // §6.5.2.4: the same CAP.MAMV bound for page-selective-within-PASID
      // (tested: vtd_qi.iotlb_and_piotlb_invalidations).
      if (g == 3 && am > cfg_.cap.mamv) return qi_status::invalid;
      qi_stats_.counter("piotlb_inv")++;
      t.advance(L.qi_iotlb, clk_);
      const unsigned shift = 12 + am;
      const uint64_t base = desc[1] & ~low_mask(shift);
      // §6.5.2.4: 2 = all non-global entries of the PASID; 3 = the range,
      // global entries included.
      t.advance(invalidate_iotlb([&](const iotlb_entry &e) {
                  if (e.did != did || e.kind == xl_kind::second) return false;
                  if (g == 2) return !e.global && e.pasid == pasid;
                  return (e.global || e.pasid == pasid) && overlaps(e.ia, e.page_shift, base, shift);
                }),
                clk_);
      if (g == 2 || !((desc[1] >> 6) & 1))
        t.advance(invalidate_pwc([&](const pwc_entry &e) {
                    return e.tag.stage == 1 && e.tag.did == did && e.tag.pasid == pasid;
                  }),
                  clk_);
      return qi_status::ok;
    }
    case reg::QI_PC: {
      if (!cfg_.ecap.pasid || g == 2) return qi_status::invalid;
      const uint32_t pasid = (desc[0] >> 32) & 0xfffff;
      qi_stats_.counter("pasid_cache_inv")++;
      t.advance(L.qi_cc, clk_);
      // §6.5.2.5: 0 domain-selective, 1 PASID-selective, 3 global.
      t.advance(invalidate_pasid_cache([&](const pasid_cache_entry &e) {
                  if (g == 3) return true;
                  if (g == 0) return e.pe.did == did;
                  return e.pe.did == did && e.pasid == pasid;
                }),
                clk_);
      return qi_status::ok;
    }
    case reg::QI_PDEV_TLB: {
      if (!cfg_.ecap.dt || !cfg_.ecap.pasid) return qi_status::invalid;
      qi_stats_.counter("pasid_dev_tlb_inv")++;
      t.advance(L.qi_dev_tlb, clk_);
      send_dev_tlb_inv(static_cast<uint16_t>(desc[0] >> 16), true, (desc[0] >> 32) & 0xfffff,
                       desc[1] & ~0xfffull, (desc[1] >> 11) & 1, desc[1] & 1, t);
      return qi_status::ok;
    }
    case reg::QI_PGRP_RESP:
      if (!cfg_.ecap.prs) return qi_status::invalid;
      qi_stats_.counter("page_group_resp")++;
      t.advance(L.qi_prq_resp, clk_);
      page_group_response(desc, t);
      return qi_status::ok;
    default:
      return qi_status::invalid;
  }
}

vtd::qi_status vtd::qi_wait(const uint64_t desc[4], timing_ctx &t) {
  qi_stats_.counter("wait")++;
  t.advance(cfg_.latency.qi_wait, clk_);
  // §6.5.2.8: the wait completes once every earlier descriptor has; device-TLB
  // invalidations complete when their endpoints answer.
  if (!dtlb_pending_.empty()) {
    if (mode_ == timing_mode::fast && t.delay() != sc_core::SC_ZERO_TIME) {
      sc_core::wait(t.delay());
      t.delay() = sc_core::SC_ZERO_TIME;
    }
    const sc_core::sc_time deadline = sc_core::sc_time_stamp() + clk_.cycles(cfg_.dev_tlb_timeout);
    while (!dtlb_pending_.empty() && sc_core::sc_time_stamp() < deadline)
      sc_core::wait(deadline - sc_core::sc_time_stamp(), dtlb_done_);
    if (!dtlb_pending_.empty()) {
      // §6.5.2.10 ITE: the source id of one of the missing completions.
      const uint16_t sid = dtlb_pending_.begin()->second;
      iqercd_ = (iqercd_ & ~(0xffffull << 32)) | (uint64_t{sid} << 32);
      dtlb_pending_.clear();
      qi_halted_ = true;
      qi_stats_.counter("ite")++;
      raise_fsts(reg::FSTS_ITE, &t);
      return qi_status::timeout;
    }
  }
  if (desc[0] & reg::WAIT_SW) {
    const uint32_t data = static_cast<uint32_t>(desc[0] >> 32);
    mem_write(desc[1] & ~3ull, &data, 4, t);
    qi_stats_.counter("wait_status_writes")++;
  }
  if (desc[0] & reg::WAIT_IF) {
    const bool was = ics_ & reg::ICS_IWC;
    ics_ |= reg::ICS_IWC;
    if (!was) {
      if (iectl_ & reg::ECTL_IM) {
        inv_ip_ = true;
      } else {
        signal(irq_inv_complete, iedata_, ieaddr_, ieuaddr_, &t);
      }
    }
  }
  return qi_status::ok;
}

void vtd::send_dev_tlb_inv(uint16_t sid, bool pv, uint32_t pasid, uint64_t addr, bool size,
                           bool global, timing_ctx &t) {
  // PCIe ATS invalidation request (§6.5.2.6): with S, the run of ones from
  // address bit 12 up gives the size, 2^(13 + ones) bytes.
  atc_invalidation inv;
  inv.stream_id = sid;
  inv.ssid_valid = pv;
  inv.ssid = pasid;
  inv.global = global;
  unsigned log2 = 12;
  if (size) {
    unsigned ones = 0;
    while (12 + ones < 63 && ((addr >> (12 + ones)) & 1)) ones++;
    log2 = 13 + ones;
  }
  inv.size_log2 = static_cast<uint8_t>(log2);
  inv.addr = addr & ~low_mask(log2);
  auto it = endpoints_.find(sid);
  if (it == endpoints_.end()) {
    qi_stats_.counter("dev_tlb_inv_no_endpoint")++;
    return;  // nothing to wait for
  }
  inv.itag = next_itag_++ & 0x1f;  // 5-bit ITag
  if (inv.itag == 0) inv.itag = next_itag_++ & 0x1f;
  dtlb_pending_[inv.itag] = sid;
  it->second->atc_invalidate(inv, t.delay());
}

void vtd::dtlb_complete_in(uint32_t sid, uint32_t itag, sc_core::sc_time &delay) {
  auto it = dtlb_pending_.find(itag);
  if (it == dtlb_pending_.end() || it->second != sid) {
    // §6.5.2.10 ICE: an unexpected completion.
    iqercd_ = (iqercd_ & ~(0xffffull << 48)) | (uint64_t{sid & 0xffff} << 48);
    qi_stats_.counter("ice")++;
    timing_ctx t(mode_, delay);
    raise_fsts(reg::FSTS_ICE, &t);
    return;
  }
  dtlb_pending_.erase(it);
  qi_stats_.counter("dev_tlb_inv_completions")++;
  dtlb_done_.notify(sc_core::SC_ZERO_TIME);
}

}  // namespace iommusim::models::vtd
