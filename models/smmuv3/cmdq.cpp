// SPDX-License-Identifier: MIT
// Command queue (SMMUv3 §3.5 queues, §4 commands, §7.1 command queue errors).
//
// A process consumes commands between CMDQ_CONS and CMDQ_PROD while
// CMDQEN == 1: each is a timed 16-byte read, a decode, and its execution;
// CONS moves on when it completes. An illegal command (CERROR_ILL), a fetch
// abort (CERROR_ABT) or a CMD_SYNC that found an ATC invalidation unfinished
// (CERROR_ATC_INV_SYNC) stops the queue with CONS on that command,
// CMDQ_CONS.ERR set and GERROR.CMDQ_ERR active, until software acknowledges
// it in GERRORN. Invalidations cost the configured base plus the slowest
// cache sweep (sa_cache invalidate costs; the caches sweep in parallel).
#include <algorithm>

#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

namespace {

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~0ull : (uint64_t{1} << bits) - 1; }

}  // namespace

const char *opcode_name(uint8_t opcode) {
  switch (opcode) {
    case op::PREFETCH_CONFIG: return "CMD_PREFETCH_CONFIG";
    case op::PREFETCH_ADDR: return "CMD_PREFETCH_ADDR";
    case op::CFGI_STE: return "CMD_CFGI_STE";
    case op::CFGI_STE_RANGE: return "CMD_CFGI_STE_RANGE";
    case op::CFGI_CD: return "CMD_CFGI_CD";
    case op::CFGI_CD_ALL: return "CMD_CFGI_CD_ALL";
    case op::TLBI_NH_ALL: return "CMD_TLBI_NH_ALL";
    case op::TLBI_NH_ASID: return "CMD_TLBI_NH_ASID";
    case op::TLBI_NH_VA: return "CMD_TLBI_NH_VA";
    case op::TLBI_NH_VAA: return "CMD_TLBI_NH_VAA";
    case op::TLBI_EL3_ALL: return "CMD_TLBI_EL3_ALL";
    case op::TLBI_EL3_VA: return "CMD_TLBI_EL3_VA";
    case op::TLBI_EL2_ALL: return "CMD_TLBI_EL2_ALL";
    case op::TLBI_EL2_ASID: return "CMD_TLBI_EL2_ASID";
    case op::TLBI_EL2_VA: return "CMD_TLBI_EL2_VA";
    case op::TLBI_EL2_VAA: return "CMD_TLBI_EL2_VAA";
    case op::TLBI_S12_VMALL: return "CMD_TLBI_S12_VMALL";
    case op::TLBI_S2_IPA: return "CMD_TLBI_S2_IPA";
    case op::TLBI_NSNH_ALL: return "CMD_TLBI_NSNH_ALL";
    case op::ATC_INV: return "CMD_ATC_INV";
    case op::PRI_RESP: return "CMD_PRI_RESP";
    case op::RESUME: return "CMD_RESUME";
    case op::STALL_TERM: return "CMD_STALL_TERM";
    case op::CMD_SYNC: return "CMD_SYNC";
    default: return "CMD_UNKNOWN";
  }
}

// ---------------------------------------------------------------- the queue

void smmuv3::cmdq_thread() {
  for (;;) {
    if (!(cr0_ & reg::CR0_CMDQEN) || cmdq_halted_ || cmdq_.empty()) {
      wait(cmdq_kick_);
      continue;
    }
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    uint8_t err = cerror::NONE;
    const uint32_t cons = cmdq_.cons;
    {
      timing_ctx t(mode_, d);
      command c;
      if (!mem_read(cmdq_.slot_addr(cons), c.raw, sizeof(c.raw), t)) {
        err = cerror::ABT;  // §7.1 CERROR_ABT: the command fetch aborted
      } else {
        t.advance(cfg_.latency.cmd_decode, clk_);
        cmd_seq_++;
        cmd_stats_.counter(opcode_name(c.opcode()))++;
        err = execute(c, t);
      }
    }
    if (d != sc_core::SC_ZERO_TIME) wait(d);  // fast mode: the command's time passes first
    if (err != cerror::NONE) {
      cmdq_.cons = (cons & cmdq_.wrap_mask()) | (uint32_t{err} << reg::CMDQ_CONS_ERR_SHIFT);
      cmdq_halted_ = true;
      cmd_stats_.counter(err == cerror::ILL   ? "CERROR_ILL"
                         : err == cerror::ABT ? "CERROR_ABT"
                                              : "CERROR_ATC_INV_SYNC")++;
      sc_core::sc_time d2 = sc_core::SC_ZERO_TIME;
      timing_ctx t2(mode_, d2);
      raise_gerror(reg::GERROR_CMDQ_ERR, &t2);
      if (d2 != sc_core::SC_ZERO_TIME) wait(d2);
    } else {
      // ERR keeps its last value (meaningful only while CMDQ_ERR is active).
      cmdq_.cons = ((cons + 1) & cmdq_.wrap_mask()) | (cmdq_.cons & reg::CMDQ_CONS_ERR_MASK);
    }
  }
}

uint8_t smmuv3::execute(const command &c, timing_ctx &t) {
  const idr_config &idr = cfg_.idr;
  switch (c.opcode()) {
    case op::PREFETCH_CONFIG:
    case op::PREFETCH_ADDR:
      return do_prefetch(c, t);
    case op::CFGI_STE:
    case op::CFGI_STE_RANGE:
    case op::CFGI_CD:
    case op::CFGI_CD_ALL:
      return do_cfgi(c, t);
    case op::TLBI_NH_ALL:
    case op::TLBI_NH_ASID:
    case op::TLBI_NH_VA:
    case op::TLBI_NH_VAA:
      if (!idr.s1p) return cerror::ILL;
      return do_tlbi(c, t);
    case op::TLBI_EL2_ALL:
    case op::TLBI_EL2_ASID:
    case op::TLBI_EL2_VA:
    case op::TLBI_EL2_VAA:
      if (!idr.hyp || !idr.s1p) return cerror::ILL;
      return do_tlbi(c, t);
    case op::TLBI_S12_VMALL:
    case op::TLBI_S2_IPA:
      if (!idr.s2p) return cerror::ILL;
      return do_tlbi(c, t);
    case op::TLBI_NSNH_ALL:
      return do_tlbi(c, t);
    case op::ATC_INV:
      return do_atc_inv(c, t);
    case op::PRI_RESP:
      return do_pri_resp(c, t);
    case op::RESUME:
      return do_resume(c, t);
    case op::STALL_TERM:
      return do_stall_term(c, t);
    case op::CMD_SYNC:
      return do_sync(c, t);
    default:
      // §4.1: unknown opcodes, and the Secure-only TLBI_EL3_* on the
      // Non-secure queue, are CERROR_ILL.
      return cerror::ILL;
  }
}

// ---------------------------------------------------------------- prefetch

uint8_t smmuv3::do_prefetch(const command &c, timing_ctx &t) {
  if (c.ssv() && cfg_.idr.ssid_bits == 0) return cerror::ILL;
  t.advance(cfg_.latency.cmd_prefetch, clk_);
  if (!smmuen()) return cerror::NONE;
  // §4.2: prefetches fill caches and never record events.
  cfg_result cr = lookup_config(c.sid(), c.ssv(), c.ssid(), t);
  if (!cr.ok || c.opcode() != op::PREFETCH_ADDR) return cerror::NONE;
  const stream_ctx &ctx = cr.ctx;
  if (!(ctx.ste.config & 4) || (!ctx.s1 && !ctx.s2)) return cerror::NONE;
  // Size: 2^Size pages from Addr (the model prefetches at most 16).
  const unsigned pages = 1u << std::min(c.prefetch_size(), 4u);
  for (unsigned i = 0; i < pages; i++) {
    txn x;
    x.sid = c.sid();
    x.ssv = c.ssv();
    x.ssid = c.ssid();
    x.addr = c.va() + (uint64_t{i} << 12);
    x.at = at_kind::untranslated;
    tcu_translate(x, ctx, make_access(false, false, true), false, t);
  }
  count("prefetches");
  return cerror::NONE;
}

// ---------------------------------------------------------------- CFGI

uint64_t smmuv3::invalidate_config(const std::function<bool(const cfg_key &)> &pred) {
  uint64_t cycles = cfg_cache_->invalidate_if([&](const cfg_entry &e) { return pred(e.tag); }).cycles;
  cfg_cache_ctr_.publish(cfg_cache_->stats());
  // The micro TLBs are tagged by StreamID: they cache configuration too.
  for (auto &tb : tbus_) {
    const auto r = tb->utlb->invalidate_if([&](const utlb_entry &e) {
      return pred(cfg_key{e.sid, e.ssv, e.ssid});
    });
    cycles = std::max(cycles, r.cycles);
    tb->counters.publish(tb->utlb->stats());
  }
  return cycles;
}

uint8_t smmuv3::do_cfgi(const command &c, timing_ctx &t) {
  const uint32_t sid = c.sid();
  uint64_t sweep = 0;
  switch (c.opcode()) {
    case op::CFGI_STE:  // §4.3.1: the STE and every CD cached through it
      sweep = invalidate_config([&](const cfg_key &k) { return k.sid == sid; });
      break;
    case op::CFGI_STE_RANGE: {  // §4.3.2: 2^(Range+1) StreamIDs; Range 31 = all (CFGI_ALL)
      const unsigned range = c.range();
      if (range >= 31) {
        sweep = invalidate_config([](const cfg_key &) { return true; });
      } else {
        const uint64_t span = uint64_t{1} << (range + 1);
        const uint64_t lo = sid & ~(span - 1);
        sweep = invalidate_config(
            [&](const cfg_key &k) { return k.sid >= lo && k.sid < lo + span; });
      }
      break;
    }
    case op::CFGI_CD: {  // §4.3.3: the CD of (StreamID, SubstreamID)
      const uint32_t ssid = c.ssid();
      if (ssid && cfg_.idr.ssid_bits == 0) return cerror::ILL;
      sweep = invalidate_config([&](const cfg_key &k) {
        return k.sid == sid && (k.ssv ? k.ssid == ssid : ssid == 0);
      });
      break;
    }
    case op::CFGI_CD_ALL:  // §4.3.4
      sweep = invalidate_config([&](const cfg_key &k) { return k.sid == sid; });
      break;
    default:
      return cerror::ILL;
  }
  t.advance(cfg_.latency.cmd_cfgi + sweep, clk_);
  return cerror::NONE;
}

// ---------------------------------------------------------------- TLBI

uint64_t smmuv3::invalidate_tlbs(const std::function<bool(const xl_entry &)> &pred,
                                 bool record_unmap) {
  // §4.4: entries matched are gone when the command completes; an "unmap"
  // (a matched translation) is remembered until the next CMD_SYNC for the
  // unsynced-unmap diagnostic.
  const uint64_t seq = record_unmap ? diag_.next_seq() : 0;
  auto note = [&](const xl_entry &e) {
    if (!record_unmap || !diag_.unsynced_enabled()) return;
    unsynced_record r;
    r.pa = e.oa;
    r.size = uint64_t{1} << e.page_shift;
    r.kind = static_cast<uint8_t>(e.kind);
    r.world = static_cast<uint8_t>(e.world);
    r.vmid = e.vmid;
    r.asid = e.asid;
    r.ia = e.ia;
    r.desc = e.s2.present && e.kind == xl_kind::s2 ? e.s2.desc : e.s1.desc;
    r.seq = seq;
    diag_.open_record(r);
  };
  uint64_t cycles = main_tlb_
                        ->invalidate_if([&](const main_tlb_entry &e) {
                          if (!pred(e)) return false;
                          note(e);
                          return true;
                        })
                        .cycles;
  main_tlb_ctr_.publish(main_tlb_->stats());
  for (auto &tb : tbus_) {
    const auto r = tb->utlb->invalidate_if([&](const utlb_entry &e) {
      if (!pred(e)) return false;
      note(e);
      return true;
    });
    cycles = std::max(cycles, r.cycles);
    tb->counters.publish(tb->utlb->stats());
  }
  return cycles;
}

uint64_t smmuv3::invalidate_walk_caches(int stage, const std::function<bool(const wc_entry &)> &pred) {
  uint64_t cycles = 0;
  auto &caches = stage == 1 ? wc_s1_ : wc_s2_;
  auto &ctrs = stage == 1 ? wc_s1_ctr_ : wc_s2_ctr_;
  for (size_t l = 0; l < caches.size(); l++) {
    if (!caches[l]) continue;
    cycles = std::max(cycles, caches[l]->invalidate_if(pred).cycles);
    ctrs[l]->publish(caches[l]->stats());
  }
  return cycles;
}

uint8_t smmuv3::do_tlbi(const command &c, timing_ctx &t) {
  const uint8_t opc = c.opcode();
  const uint16_t vmid = cfg_.idr.vmid16 ? c.vmid() : static_cast<uint16_t>(c.vmid() & 0xff);
  const uint16_t asid = cfg_.idr.asid16 ? c.asid() : static_cast<uint16_t>(c.asid() & 0xff);
  // Address range (§4.4.1, §4.4.1.1): one address, or with IDR3.RIL and
  // TG != 0, (NUM + 1) * 2^(5 * SCALE + 1) pages of the TG granule.
  const bool ipa_cmd = opc == op::TLBI_S2_IPA;
  const uint64_t addr = ipa_cmd ? c.ipa() : c.va();
  uint64_t lo = addr, hi = addr + 1;
  if (cfg_.idr.ril && c.tg() != 0) {
    const unsigned g = c.tg() == 1 ? 12 : c.tg() == 2 ? 14 : 16;
    const unsigned shift = std::min(5 * c.scale() + 1 + g, 63u);
    const uint64_t bytes = uint64_t{c.num() + 1u} << shift;
    lo = addr & ~low_mask(g);
    hi = lo + bytes;
    if (hi < lo) hi = ~uint64_t{0};
  }
  auto overlaps = [&](uint64_t base, unsigned shift) {
    const uint64_t end = base + (uint64_t{1} << shift);
    return base < hi && end > lo;
  };
  const bool leaf = c.leaf();
  auto s1_kind = [](const xl_entry &e) { return e.kind == xl_kind::s1 || e.kind == xl_kind::nested; };
  auto el2_world = [](xl_world w) { return w == xl_world::el2 || w == xl_world::el2e2h; };

  std::function<bool(const xl_entry &)> tlb_pred;
  std::function<bool(const wc_entry &)> wc1, wc2;
  switch (opc) {
    case op::TLBI_NH_ALL:  // §4.4.2: all stage-1 entries of the VMID
      tlb_pred = [&](const xl_entry &e) { return s1_kind(e) && e.world == xl_world::nsel1 && e.vmid == vmid; };
      wc1 = [&](const wc_entry &w) { return w.tag.world == xl_world::nsel1 && w.tag.vmid == vmid; };
      break;
    case op::TLBI_NH_ASID:  // §4.4.3: non-global entries of the ASID
      tlb_pred = [&](const xl_entry &e) {
        return s1_kind(e) && e.world == xl_world::nsel1 && e.vmid == vmid && !e.global && e.asid == asid;
      };
      wc1 = [&](const wc_entry &w) {
        return w.tag.world == xl_world::nsel1 && w.tag.vmid == vmid && w.tag.asid == asid;
      };
      break;
    case op::TLBI_NH_VA:  // §4.4.4: the ASID's (or global) entries for the address
    case op::TLBI_NH_VAA: {  // §4.4.5: any ASID
      const bool any_asid = opc == op::TLBI_NH_VAA;
      tlb_pred = [&, any_asid](const xl_entry &e) {
        return s1_kind(e) && e.world == xl_world::nsel1 && e.vmid == vmid &&
               (any_asid || e.global || e.asid == asid) && overlaps(e.ia, e.page_shift);
      };
      if (!leaf)
        wc1 = [&, any_asid](const wc_entry &w) {
          return w.tag.world == xl_world::nsel1 && w.tag.vmid == vmid &&
                 (any_asid || w.tag.asid == asid) && overlaps(w.tag.prefix << w.shift, w.shift);
        };
      break;
    }
    case op::TLBI_EL2_ALL:
      tlb_pred = [&](const xl_entry &e) { return el2_world(e.world); };
      wc1 = [&](const wc_entry &w) { return el2_world(w.tag.world); };
      break;
    case op::TLBI_EL2_ASID:
      tlb_pred = [&](const xl_entry &e) {
        return e.world == xl_world::el2e2h && !e.global && e.asid == asid;
      };
      wc1 = [&](const wc_entry &w) { return w.tag.world == xl_world::el2e2h && w.tag.asid == asid; };
      break;
    case op::TLBI_EL2_VA:
    case op::TLBI_EL2_VAA: {
      const bool any_asid = opc == op::TLBI_EL2_VAA;
      tlb_pred = [&, any_asid](const xl_entry &e) {
        return el2_world(e.world) && (any_asid || e.global || e.asid == asid) &&
               overlaps(e.ia, e.page_shift);
      };
      if (!leaf)
        wc1 = [&, any_asid](const wc_entry &w) {
          return el2_world(w.tag.world) && (any_asid || w.tag.asid == asid) &&
                 overlaps(w.tag.prefix << w.shift, w.shift);
        };
      break;
    }
    case op::TLBI_S12_VMALL:  // §4.4.7: everything of the VMID, both stages
      tlb_pred = [&](const xl_entry &e) { return e.world == xl_world::nsel1 && e.vmid == vmid; };
      wc1 = [&](const wc_entry &w) { return w.tag.world == xl_world::nsel1 && w.tag.vmid == vmid; };
      wc2 = [&](const wc_entry &w) { return w.tag.vmid == vmid; };
      break;
    case op::TLBI_S2_IPA:  // §4.4.6: stage-2 entries for the IPA (not combined ones)
      tlb_pred = [&](const xl_entry &e) {
        return e.kind == xl_kind::s2 && e.vmid == vmid && overlaps(e.ia, e.page_shift);
      };
      if (!leaf)
        wc2 = [&](const wc_entry &w) {
          return w.tag.vmid == vmid && overlaps(w.tag.prefix << w.shift, w.shift);
        };
      break;
    case op::TLBI_NSNH_ALL:  // §4.4.8: every Non-secure, non-EL2 entry
      tlb_pred = [&](const xl_entry &e) { return e.world == xl_world::nsel1; };
      wc1 = [&](const wc_entry &w) { return w.tag.world == xl_world::nsel1; };
      wc2 = [](const wc_entry &) { return true; };
      break;
    default:
      return cerror::ILL;
  }
  uint64_t sweep = invalidate_tlbs(tlb_pred, true);
  if (wc1) sweep = std::max(sweep, invalidate_walk_caches(1, wc1));
  if (wc2) sweep = std::max(sweep, invalidate_walk_caches(2, wc2));
  t.advance(cfg_.latency.cmd_tlbi + sweep, clk_);
  return cerror::NONE;
}

// ---------------------------------------------------------------- CMD_SYNC

uint8_t smmuv3::do_sync(const command &c, timing_ctx &t) {
  const unsigned cs = c.cs();
  if (cs == 3) return cerror::ILL;  // §4.7.3: Reserved
  // Waiting happens in kernel time: spend fast mode's annotated time first.
  auto settle = [&] {
    if (t.delay() != sc_core::SC_ZERO_TIME) {
      wait(t.delay());
      t.delay() = sc_core::SC_ZERO_TIME;
    }
  };
  // 1. ATC invalidations issued before this CMD_SYNC (§4.7.3, §4.5.1).
  const uint64_t my_seq = cmd_seq_;
  auto atc_outstanding = [&] {
    for (const auto &[itag, p] : atc_pending_)
      if (p.seq < my_seq) return true;
    return false;
  };
  if (atc_outstanding()) {
    settle();
    const sc_core::sc_time deadline = sc_core::sc_time_stamp() + clk_.cycles(cfg_.atc_inv_timeout);
    while (atc_outstanding() && sc_core::sc_time_stamp() < deadline)
      wait(deadline - sc_core::sc_time_stamp(), atc_done_);
    if (atc_outstanding()) {
      for (auto it = atc_pending_.begin(); it != atc_pending_.end();)
        it = it->second.seq < my_seq ? atc_pending_.erase(it) : std::next(it);
      count("atc_inv_timeouts");
      return cerror::ATC_INV_SYNC;
    }
  }
  // 2. Transactions translated before this point have reached memory.
  const uint64_t epoch = sync_epoch_++;
  auto older_inflight = [&] { return !inflight_.empty() && inflight_.begin()->first <= epoch; };
  if (older_inflight()) {
    settle();
    while (older_inflight()) wait(inflight_done_);
  }
  // 3. Event records of terminated transactions are visible (or discarded).
  if (evtq_busy_ || !evt_pending_.empty()) {
    settle();
    wait_events_visible();
  }
  t.advance(cfg_.latency.cmd_sync, clk_);
  // Unmaps followed by this CMD_SYNC are now safe to reuse.
  diag_.close_records();
  // 4. Completion signal.
  if (cs == sync_cs::IRQ) {
    const uint64_t addr = c.msi_addr();
    if (cfg_.idr.msi && addr != 0) {
      // §4.7.3: an MSI write of MSIData to MSIAddress (the "MSI to memory" poll).
      if (!send_msi(addr, c.msi_data(), t)) raise_gerror(reg::GERROR_MSI_CMDQ_ABT_ERR, &t);
    } else {
      pulse(irq_cmd_sync);
    }
  } else if (cs == sync_cs::SEV) {
    if (cfg_.idr.sev) count("sev");
  }
  return cerror::NONE;
}

}  // namespace iommusim::models::smmuv3
