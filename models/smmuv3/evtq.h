// SPDX-License-Identifier: MIT
// Event records (SMMUv3 §7.3) and the PRI queue record (§8.x PRI queue
// entry). Every record the model can raise is built here, bit for bit.
#pragma once

#include <cstdint>

namespace iommusim::models::smmuv3 {

namespace evt {
constexpr uint8_t F_UUT = 0x01;
constexpr uint8_t C_BAD_STREAMID = 0x02;
constexpr uint8_t F_STE_FETCH = 0x03;
constexpr uint8_t C_BAD_STE = 0x04;
constexpr uint8_t F_BAD_ATS_TREQ = 0x05;
constexpr uint8_t F_STREAM_DISABLED = 0x06;
constexpr uint8_t F_TRANSL_FORBIDDEN = 0x07;
constexpr uint8_t C_BAD_SUBSTREAMID = 0x08;
constexpr uint8_t F_CD_FETCH = 0x09;
constexpr uint8_t C_BAD_CD = 0x0a;
constexpr uint8_t F_WALK_EABT = 0x0b;
constexpr uint8_t F_TRANSLATION = 0x10;
constexpr uint8_t F_ADDR_SIZE = 0x11;
constexpr uint8_t F_ACCESS = 0x12;
constexpr uint8_t F_PERMISSION = 0x13;
}  // namespace evt

// CLASS of a translation-related fault (§7.3): what the faulting stage was doing.
namespace evt_class {
constexpr unsigned CD = 0;   // fetching a CD (stage 2 of its IPA)
constexpr unsigned TT = 1;   // fetching a stage-1 table descriptor
constexpr unsigned IN = 2;   // translating the input address
}  // namespace evt_class

const char *event_name(uint8_t id);

// A 32-byte event record under construction.
struct event_record {
  uint64_t dw[4] = {};

  uint8_t id() const { return static_cast<uint8_t>(dw[0] & 0xff); }
  uint32_t sid() const { return static_cast<uint32_t>(dw[0] >> 32); }
  bool stall() const { return (dw[1] >> 31) & 1; }
  uint16_t stag() const { return static_cast<uint16_t>(dw[1] & 0xffff); }

  // Common header: EventID [7:0], SSV [11], SubstreamID [31:12], StreamID [63:32].
  static event_record make(uint8_t id, uint32_t sid, bool ssv, uint32_t ssid) {
    event_record r;
    r.dw[0] = uint64_t{id} | (ssv ? (uint64_t{1} << 11) | (uint64_t{ssid & 0xfffff} << 12) : 0) |
              (uint64_t{sid} << 32);
    return r;
  }
  // C_BAD_SUBSTREAMID has no SSV: SubstreamID is always valid (§7.3.9).
  static event_record bad_substream(uint32_t sid, uint32_t ssid) {
    event_record r;
    r.dw[0] = uint64_t{evt::C_BAD_SUBSTREAMID} | (uint64_t{ssid & 0xfffff} << 12) |
              (uint64_t{sid} << 32);
    return r;
  }
  // Access attributes in bits [99:97] of the record: PnU, InD, RnW.
  void set_access(bool rnw, bool ind, bool pnu) {
    dw[1] |= (pnu ? uint64_t{1} << 33 : 0) | (ind ? uint64_t{1} << 34 : 0) |
             (rnw ? uint64_t{1} << 35 : 0);
  }
  void set_stall(uint16_t stag) { dw[1] |= (uint64_t{1} << 31) | stag; }
  // S2 [103] and CLASS [105:104] of translation-related faults.
  void set_stage(bool s2, unsigned cls) {
    dw[1] |= (s2 ? uint64_t{1} << 39 : 0) | (uint64_t{cls & 3} << 40);
  }
  // TTRnW [108]: the stage-2 fault was on a descriptor read (1) or an HTTU write (0).
  void set_ttrnw(bool read) { dw[1] |= read ? uint64_t{1} << 44 : 0; }
  void set_input_addr(uint64_t a) { dw[2] = a; }
  void set_ipa(uint64_t ipa) { dw[3] = ipa & 0x00ff'ffff'ffff'f000ull; }          // IPA[55:12]
  void set_fetch_addr(uint64_t pa) { dw[3] = pa & 0x00ff'ffff'ffff'fff8ull; }     // FetchAddr[55:3]
};

// A PRI queue entry (16 bytes; §8 PRI queue entry format).
struct pri_record {
  uint64_t dw[2] = {};
  static pri_record make(uint32_t sid, bool ssv, uint32_t ssid, bool priv, bool exec, bool read,
                         bool write, bool last, uint16_t prgi, uint64_t addr) {
    pri_record r;
    r.dw[0] = uint64_t{sid} | (uint64_t{ssid & 0xfffff} << 32) | (priv ? uint64_t{1} << 58 : 0) |
              (exec ? uint64_t{1} << 59 : 0) | (read ? uint64_t{1} << 60 : 0) |
              (write ? uint64_t{1} << 61 : 0) | (last ? uint64_t{1} << 62 : 0) |
              (ssv ? uint64_t{1} << 63 : 0);
    r.dw[1] = uint64_t{prgi & 0x1ffu} | (addr & ~uint64_t{0xfff});
    return r;
  }
};

}  // namespace iommusim::models::smmuv3
