// SPDX-License-Identifier: MIT
// Context descriptors and CD tables (SMMUv3 §3.3.2 CD lookup, §5.3 L1CD,
// §5.4 CD, §5.4.2 validity, §5.5 fault configuration). With stage 2
// enabled, S1ContextPtr and L1CD pointers are IPAs: every CD-table access is
// translated by stage 2, and a stage-2 fault there reports CLASS == CD.
#include "models/common/vmsav8.h"
#include "models/smmuv3/smmuv3.h"

namespace iommusim::models::smmuv3 {

namespace {

uint64_t bits(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & ((uint64_t{1} << (hi - lo + 1)) - 1);
}

}  // namespace

unsigned tg1_as_tg0(unsigned tg1) {
  switch (tg1) {
    case 1: return 2;  // 16K
    case 2: return 0;  // 4K
    case 3: return 1;  // 64K
    default: return 3; // reserved
  }
}

cd_info decode_cd(const uint64_t raw[8]) {
  cd_info c;
  for (int i = 0; i < 8; i++) c.raw[i] = raw[i];
  const uint64_t d0 = raw[0], d1 = raw[1], d2 = raw[2];
  c.t0.tsz = static_cast<unsigned>(bits(d0, 5, 0));
  c.t0.tg = static_cast<unsigned>(bits(d0, 7, 6));
  c.t0.epd = bits(d0, 14, 14);
  c.endi = bits(d0, 15, 15);
  c.t1.tsz = static_cast<unsigned>(bits(d0, 21, 16));
  c.t1.tg = tg1_as_tg0(static_cast<unsigned>(bits(d0, 23, 22)));
  c.t1.epd = bits(d0, 30, 30);
  c.valid = bits(d0, 31, 31);
  c.ips = static_cast<unsigned>(bits(d0, 34, 32));
  c.affd = bits(d0, 35, 35);
  c.wxn = bits(d0, 36, 36);
  c.uwxn = bits(d0, 37, 37);
  c.tbi = static_cast<unsigned>(bits(d0, 39, 38));
  c.pan = bits(d0, 40, 40);
  c.aa64 = bits(d0, 41, 41);
  c.hd = bits(d0, 42, 42);
  c.ha = bits(d0, 43, 43);
  c.s = bits(d0, 44, 44);
  c.r = bits(d0, 45, 45);
  c.a = bits(d0, 46, 46);
  c.aset = bits(d0, 47, 47);
  c.asid = static_cast<uint16_t>(bits(d0, 63, 48));
  c.t0.had = bits(d1, 1, 1);
  c.t0.ttb = d1 & 0x000f'ffff'ffff'fff0ull;  // TTB0[51:4]
  c.t1.had = bits(d2, 1, 1);
  c.t1.ttb = d2 & 0x000f'ffff'ffff'fff0ull;
  c.mair = raw[3];
  return c;
}

l1cd decode_l1cd(uint64_t raw) {
  l1cd d;
  d.valid = raw & 1;
  d.l2ptr = raw & 0x000f'ffff'ffff'f000ull;  // L2Ptr[51:12]
  return d;
}

const char *cd_illegal_reason(const cd_info &cd, const ste_info &ste, const idr_config &idr) {
  if (!cd.valid) return "V == 0";
  if (!cd.aa64) return "AA64 == 0: VMSAv8-32 LPAE tables are not supported (IDR0.TTF)";
  if (!idr.asid16 && (cd.asid >> 8)) return "ASID[15:8] != 0 with IDR0.ASID16 == 0";
  if (cd.ha && idr.httu == 0) return "HA == 1 with IDR0.HTTU == 0b00";
  if (cd.hd && idr.httu < 2) return "HD == 1 with IDR0.HTTU < 0b10";
  // §5.5 fault configuration against the stall model
  if (cd.s && idr.stall_model == 0 && ste.s1stalld) return "S == 1 through an STE with S1STALLD == 1";
  if (cd.s && idr.stall_model == 1) return "S == 1 with STALL_MODEL == 0b01";
  if (!cd.s && idr.stall_model == 2) return "S == 0 with STALL_MODEL == 0b10";
  if (!cd.a && idr.term_model) return "A == 0 with IDR0.TERM_MODEL == 1";
  const bool el2 = !ste.s2 && idr.hyp && ste.strw == 2;
  if (cd.endi && !(cd.t0.epd && (cd.t1.epd || el2)))
    return "ENDI == 1 but IDR0.TTENDIAN is little-endian only";
  const unsigned ips_bits = reg::oas_bits_from_field(cd.ips > 6 ? 6 : cd.ips);
  const unsigned eff_ips = ips_bits < idr.oas ? ips_bits : idr.oas;
  for (int i = 0; i < 2; i++) {
    const cd_ttb &b = i == 0 ? cd.t0 : cd.t1;
    // EPDx is effectively 0 for EL2 (non-E2H) StreamWorlds, and TTB1 is RES0 there.
    if (i == 1 && el2) break;
    if (b.epd) continue;
    const unsigned gs = vmsav8::granule_from_tg0(b.tg);
    if (gs == 0) return i == 0 ? "TG0 is reserved" : "TG1 is reserved";
    if ((gs == 12 && !idr.gran_4k) || (gs == 14 && !idr.gran_16k) || (gs == 16 && !idr.gran_64k))
      return "TGx selects a granule IDR5 does not advertise";
    // §5.4 T0SZ: 16..39 without IDR3.STT (52-bit VAs are not modelled)
    if (b.tsz < 16 || b.tsz > 39) return "TxSZ outside 16..39";
    if ((b.ttb >> eff_ips) != 0 || (b.ttb >> 48) != 0) return "TTBx outside the effective IPS range";
  }
  return nullptr;
}

bool smmuv3::read_config_struct(uint64_t addr, bool ipa, const ste_info &ste, void *dst,
                                unsigned len, fault_info *f, uint8_t fetch_event, timing_ctx &t) {
  uint64_t pa = addr;
  if (ipa) {
    // §3.3.2: the CD table is in IPA space when stage 2 translates.
    stream_ctx s2ctx;
    s2ctx.ste = ste;
    s2ctx.s2 = true;
    s2ctx.vmid = cfg_.idr.vmid16 ? ste.vmid : ste.vmid & 0xff;
    if (!stage2_lookup_or_walk(s2ctx, addr, make_access(false, false, true), &pa, f, evt_class::CD, t))
      return false;
  }
  count("config_struct_access");  // PMCG event 5
  if ((pa >> cfg_.idr.oas) != 0 || !mem_read(pa, dst, len, t)) {
    f->event = fetch_event;
    f->fetch_addr = pa;
    f->cls_for_device = fault_class::other;
    return false;
  }
  return true;
}

bool smmuv3::fetch_cd(const ste_info &ste, uint32_t sid, bool ssv, uint32_t ssid, uint32_t index,
                      cd_info *cd, fault_info *f, timing_ctx &t) {
  (void)sid;
  (void)ssv;
  (void)ssid;
  const bool ipa = ste.s2;
  const uint64_t ptr = ste.s1ctxptr;
  uint64_t addr = ptr;
  const bool substreams = ste.s1cdmax > 0 && cfg_.idr.ssid_bits > 0;
  if (substreams) {
    if (ste.s1fmt == 1 || ste.s1fmt == 2) {
      // §5.2 S1Fmt: 2-level table, 4 KiB (64 CDs) or 64 KiB (1024 CDs) leaves.
      const unsigned leaf_bits = ste.s1fmt == 1 ? 6 : 10;
      const uint64_t l1_index = ste.s1cdmax > leaf_bits ? (index >> leaf_bits) : 0;
      const uint64_t l1_addr = ptr + l1_index * 8;
      uint64_t raw = 0;
      if (!read_config_struct(l1_addr, ipa, ste, &raw, 8, f, evt::F_CD_FETCH, t)) return false;
      const l1cd d = decode_l1cd(raw);
      // §7.3.9: an invalid L1CD, or one whose L2Ptr is out of range, is C_BAD_SUBSTREAMID.
      if (!d.valid || (d.l2ptr >> cfg_.idr.oas) != 0) {
        f->event = evt::C_BAD_SUBSTREAMID;
        f->cls_for_device = fault_class::other;
        return false;
      }
      addr = d.l2ptr + uint64_t{index & ((1u << leaf_bits) - 1)} * 64;
    } else {
      addr = ptr + uint64_t{index} * 64;  // linear (0b11 behaves as 0b00)
    }
  }
  uint64_t raw[8] = {};
  if (!read_config_struct(addr, ipa, ste, raw, sizeof(raw), f, evt::F_CD_FETCH, t)) return false;
  *cd = decode_cd(raw);
  cd->addr = addr;
  return true;
}

}  // namespace iommusim::models::smmuv3
