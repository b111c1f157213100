// SPDX-License-Identifier: MIT
// Stream table lookup and STEs (SMMUv3 §3.3.2 linear and 2-level stream
// tables, §5.1 L1STD, §5.2 STE, §5.2.2 validity, §5.5 fault configuration)
// and the configuration lookup that resolves a transaction's stream context
// through the configuration cache.
#include "models/common/vmsav8.h"
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

namespace {

uint64_t bits(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & ((hi - lo + 1) >= 64 ? ~0ull : ((uint64_t{1} << (hi - lo + 1)) - 1));
}

}  // namespace

ste_info decode_ste(const uint64_t raw[8]) {
  ste_info s;
  for (int i = 0; i < 8; i++) s.raw[i] = raw[i];
  const uint64_t d0 = raw[0], d1 = raw[1], d2 = raw[2], d3 = raw[3];
  s.valid = d0 & 1;
  s.config = static_cast<unsigned>(bits(d0, 3, 1));
  s.s1 = s.config == ste_cfg::s1 || s.config == ste_cfg::nested;
  s.s2 = s.config == ste_cfg::s2 || s.config == ste_cfg::nested;
  s.s1fmt = static_cast<unsigned>(bits(d0, 5, 4));
  s.s1ctxptr = d0 & 0x00ff'ffff'ffff'ffc0ull;  // S1ContextPtr[55:6]
  s.s1cdmax = static_cast<unsigned>(bits(d0, 63, 59));
  s.s1dss = static_cast<unsigned>(bits(d1, 1, 0));
  s.mev = bits(d1, 19, 19);
  s.s1stalld = bits(d1, 27, 27);
  s.eats = static_cast<unsigned>(bits(d1, 29, 28));
  s.strw = static_cast<unsigned>(bits(d1, 31, 30));
  s.privcfg = static_cast<unsigned>(bits(d1, 49, 48));
  s.instcfg = static_cast<unsigned>(bits(d1, 51, 50));
  s.ppar = bits(d1, 18, 18);
  s.vmid = static_cast<uint16_t>(bits(d2, 15, 0));
  s.s2t0sz = static_cast<unsigned>(bits(d2, 37, 32));
  s.s2sl0 = static_cast<unsigned>(bits(d2, 39, 38));
  s.s2tg = static_cast<unsigned>(bits(d2, 47, 46));
  s.s2ps = static_cast<unsigned>(bits(d2, 50, 48));
  s.s2aa64 = bits(d2, 51, 51);
  s.s2endi = bits(d2, 52, 52);
  s.s2affd = bits(d2, 53, 53);
  s.s2ptw = bits(d2, 54, 54);
  s.s2hd = bits(d2, 55, 55);
  s.s2ha = bits(d2, 56, 56);
  s.s2s = bits(d2, 57, 57);
  s.s2r = bits(d2, 58, 58);
  s.s2ttb = d3 & 0x000f'ffff'ffff'fff0ull;  // S2TTB[51:4]
  return s;
}

l1std decode_l1std(uint64_t raw) {
  l1std d;
  d.span = static_cast<unsigned>(raw & 0x1f);
  d.l2ptr = raw & 0x000f'ffff'ffff'ffc0ull;  // L2Ptr[51:6]
  return d;
}

const char *ste_illegal_reason(const ste_info &s, const idr_config &idr) {
  if (!s.valid) return "V == 0";
  if (!(s.config & 4)) return nullptr;  // abort (0b0xx): nothing else is looked at
  // §5.2 Config
  if (s.s1 && !idr.s1p) return "stage 1 enabled but IDR0.S1P == 0";
  if (s.s2 && !idr.s2p) return "stage 2 enabled but IDR0.S2P == 0";
  if (s.s1) {
    // §5.2 S1CDMax, S1Fmt, S1STALLD, STRW
    if (idr.ssid_bits && s.s1cdmax > idr.ssid_bits) return "S1CDMax > IDR1.SSIDSIZE";
    if (idr.ssid_bits && s.s1cdmax && s.s1fmt != 0 && s.s1fmt != 3 && !idr.cd_2lvl)
      return "2-level CD table but IDR0.CD2L == 0";
    if (s.s1stalld && idr.stall_model != 0) return "S1STALLD == 1 with STALL_MODEL != 0b00 (§5.5)";
    if (!s.s2 && idr.hyp && (s.strw == 1 || s.strw == 3)) return "STRW selects a reserved StreamWorld";
  }
  // §5.2 EATS (IGNORED without ATS or when no stage translates)
  if (idr.ats && (s.config & 3)) {
    if (s.eats == 1 && s.s2 && s.s2s) return "EATS == 0b01 with stage 2 and S2S == 1";
    if (s.eats == 2 && (s.config != ste_cfg::nested || s.s2s))
      return "EATS == 0b10 (split-stage) needs Config == 0b111 and S2S == 0";
  }
  if (s.s2) {
    // §5.2 S2* fields, §5.5 S2S
    if (!s.s2aa64) return "S2AA64 == 0: VMSAv8-32 LPAE stage 2 is not supported (IDR0.TTF)";
    if (s.s2endi) return "S2ENDI == 1 but IDR0.TTENDIAN is little-endian only";
    const unsigned gs = vmsav8::granule_from_tg0(s.s2tg);
    if (gs == 0) return "S2TG is reserved";
    if ((gs == 12 && !idr.gran_4k) || (gs == 14 && !idr.gran_16k) || (gs == 16 && !idr.gran_64k))
      return "S2TG selects a granule IDR5 does not advertise";
    if (s.s2s && idr.stall_model == 1) return "S2S == 1 with STALL_MODEL == 0b01 (§5.5)";
    if (!s.s2s && idr.stall_model == 2) return "S2S == 0 with STALL_MODEL == 0b10 (§5.5)";
    if ((s.s2ttb >> idr.oas) != 0) return "S2TTB beyond the OAS";
    vmsav8::s2_fields f;
    f.ttb = s.s2ttb;
    f.t0sz = s.s2t0sz;
    f.sl0 = s.s2sl0;
    f.tg = s.s2tg;
    f.ps = s.s2ps > 6 ? 6 : s.s2ps;
    walk_params p;
    static thread_local std::string why;
    why = vmsav8::make_s2_params(f, idr.oas, &p);
    if (!why.empty()) return why.c_str();
  }
  return nullptr;
}

// ---------------------------------------------------------------- fetch

bool smmuv3::fetch_ste(uint32_t sid, ste_info *ste, fault_info *f, timing_ctx &t) {
  // §3.3.2 / §6.3.25: STRTAB_BASE_CFG.LOG2SIZE (capped at IDR1.SIDSIZE), FMT, SPLIT.
  unsigned log2size = strtab_base_cfg_ & reg::STRTAB_CFG_LOG2SIZE_MASK;
  if (log2size > cfg_.idr.sid_bits) log2size = cfg_.idr.sid_bits;
  const bool record_bad_sid = cr2_ & reg::CR2_RECINVSID;
  auto bad_sid = [&] {
    f->event = evt::C_BAD_STREAMID;
    f->record = record_bad_sid;
    f->cls_for_device = fault_class::other;
    return false;
  };
  if (log2size < 32 && (uint64_t{sid} >> log2size) != 0) return bad_sid();
  const uint64_t base = strtab_base_ & reg::STRTAB_BASE_ADDR_MASK;
  const unsigned fmt = (strtab_base_cfg_ >> reg::STRTAB_CFG_FMT_SHIFT) & 3;
  uint64_t addr;
  if (fmt == reg::STRTAB_FMT_2LVL && cfg_.idr.st_2lvl) {
    unsigned split = (strtab_base_cfg_ >> reg::STRTAB_CFG_SPLIT_SHIFT) & 0x1f;
    // SPLIT is 6, 8 or 10; the model treats other values as 6 (CONSTRAINED
    // UNPREDICTABLE in the spec), and a SPLIT beyond LOG2SIZE as LOG2SIZE.
    if (split != 6 && split != 8 && split != 10) split = 6;
    if (split > log2size) split = log2size;
    const uint64_t l1_addr = base + (uint64_t{sid} >> split) * 8;
    uint64_t raw = 0;
    count("config_struct_access");
    if ((l1_addr >> cfg_.idr.oas) != 0 || !mem_read(l1_addr, &raw, 8, t)) {
      f->event = evt::F_STE_FETCH;
      f->fetch_addr = l1_addr;
      return false;
    }
    const l1std d = decode_l1std(raw);
    // §7.3.3: Span 0, Reserved (> 12) or > SPLIT + 1, or an index beyond the span.
    if (d.span == 0 || d.span > 12 || d.span > split + 1) return bad_sid();
    const uint64_t idx = sid & ((uint64_t{1} << split) - 1);
    if (idx >= (uint64_t{1} << (d.span - 1))) return bad_sid();
    addr = d.l2ptr + idx * 64;
  } else {
    addr = base + uint64_t{sid} * 64;
  }
  uint64_t raw[8] = {};
  count("config_struct_access");
  if ((addr >> cfg_.idr.oas) != 0 || !mem_read(addr, raw, sizeof(raw), t)) {
    f->event = evt::F_STE_FETCH;
    f->fetch_addr = addr;
    return false;
  }
  *ste = decode_ste(raw);
  ste->addr = addr;
  return true;
}

smmuv3::cfg_result smmuv3::fetch_config(uint32_t sid, bool ssv, uint32_t ssid, timing_ctx &t) {
  cfg_result c;
  fault_info &f = c.f;
  f.cls_for_device = fault_class::other;
  ste_info ste;
  if (!fetch_ste(sid, &ste, &f, t)) return c;
  t.advance(cfg_.latency.ste_check, clk_);
  if (const char *why = ste_illegal_reason(ste, cfg_.idr)) {
    (void)why;
    f.event = evt::C_BAD_STE;
    return c;
  }
  stream_ctx &ctx = c.ctx;
  ctx.ste = ste;  // kept on later failures: a stage-2 fault of a CD fetch obeys S2R/S2S
  ctx.vmid = cfg_.idr.s2p ? static_cast<uint16_t>(cfg_.idr.vmid16 ? ste.vmid : ste.vmid & 0xff) : 0;
  if (!(ste.config & 4)) {  // abort: terminate silently (§5.2 Config)
    c.ok = true;
    return c;
  }
  ctx.s2 = ste.s2;
  ctx.s1 = ste.s1;
  const bool substreams = ste.s1 && ste.s1cdmax > 0 && cfg_.idr.ssid_bits > 0;
  uint32_t cd_index = 0;
  if (ssv) {
    // §7.3.9 C_BAD_SUBSTREAMID
    if (!ste.s1 || !substreams || (uint64_t{ssid} >> ste.s1cdmax) != 0) {
      f.event = evt::C_BAD_SUBSTREAMID;
      return c;
    }
    if (ste.s1dss == 2 && ssid == 0) {  // §5.2 S1DSS: substream 0 is reserved
      f.event = evt::F_STREAM_DISABLED;
      return c;
    }
    cd_index = ssid;
  } else if (substreams) {
    switch (ste.s1dss) {
      case 1: ctx.s1 = false; break;  // bypass stage 1
      case 2: cd_index = 0; break;    // use CD 0
      default:                        // terminate (0b11 behaves as 0b00)
        f.event = evt::F_STREAM_DISABLED;
        return c;
    }
  }
  if (ctx.s1) {
    cd_info cd;
    if (!fetch_cd(ste, sid, ssv, ssid, cd_index, &cd, &f, t)) return c;
    t.advance(cfg_.latency.cd_check, clk_);
    if (const char *why = cd_illegal_reason(cd, ste, cfg_.idr)) {
      (void)why;
      f.event = evt::C_BAD_CD;
      return c;
    }
    ctx.has_cd = true;
    ctx.cd = cd;
    ctx.asid = cd.asid;
    if (!ste.s2 && cfg_.idr.hyp && ste.strw == 2)
      ctx.world = (cr2_ & reg::CR2_E2H) ? xl_world::el2e2h : xl_world::el2;
    if (ctx.world == xl_world::el2) ctx.asid = 0;  // EL2 without E2H: no ASIDs
  }
  c.ok = true;
  return c;
}

smmuv3::cfg_result smmuv3::lookup_config(uint32_t sid, bool ssv, uint32_t ssid, timing_ctx &t) {
  const cfg_key key{sid, ssv, ssv ? ssid : 0};
  auto lr = cfg_cache_->lookup(key);
  cfg_result c;
  const bool hit = static_cast<bool>(lr);
  if (hit) {
    c.ok = true;
    c.ctx = lr.entry->ctx;
  }
  cfg_cache_ctr_.publish(cfg_cache_->stats());
  t.advance(lr.cycles, clk_);
  if (hit) return c;
  count("config_cache_miss");  // PMCG event 3
  c = fetch_config(sid, ssv, ssid, t);
  if (c.ok) {
    cfg_entry e;
    e.tag = key;
    e.ctx = c.ctx;
    const auto fr = cfg_cache_->fill(e);
    t.advance(fr.cycles, clk_);
    cfg_cache_ctr_.publish(cfg_cache_->stats());
  }
  return c;
}

}  // namespace iommusim::models::smmuv3
