// SPDX-License-Identifier: MIT
// Command queue commands (SMMUv3 §4.1 command format, §4.2 prefetch, §4.3
// configuration invalidation, §4.4 TLB invalidation, §4.5 ATS, §4.6 PRI,
// §4.7 fault response and synchronization) and command errors (§7.1).
#pragma once

#include <cstdint>

namespace iommusim::models::smmuv3 {

namespace op {
constexpr uint8_t PREFETCH_CONFIG = 0x01;
constexpr uint8_t PREFETCH_ADDR = 0x02;
constexpr uint8_t CFGI_STE = 0x03;
constexpr uint8_t CFGI_STE_RANGE = 0x04;  // CFGI_ALL is CFGI_STE_RANGE with Range 31
constexpr uint8_t CFGI_CD = 0x05;
constexpr uint8_t CFGI_CD_ALL = 0x06;
constexpr uint8_t TLBI_NH_ALL = 0x10;
constexpr uint8_t TLBI_NH_ASID = 0x11;
constexpr uint8_t TLBI_NH_VA = 0x12;
constexpr uint8_t TLBI_NH_VAA = 0x13;
constexpr uint8_t TLBI_EL3_ALL = 0x18;
constexpr uint8_t TLBI_EL3_VA = 0x1a;
constexpr uint8_t TLBI_EL2_ALL = 0x20;
constexpr uint8_t TLBI_EL2_ASID = 0x21;
constexpr uint8_t TLBI_EL2_VA = 0x22;
constexpr uint8_t TLBI_EL2_VAA = 0x23;
constexpr uint8_t TLBI_S12_VMALL = 0x28;
constexpr uint8_t TLBI_S2_IPA = 0x2a;
constexpr uint8_t TLBI_NSNH_ALL = 0x30;
constexpr uint8_t ATC_INV = 0x40;
constexpr uint8_t PRI_RESP = 0x41;
constexpr uint8_t RESUME = 0x44;
constexpr uint8_t STALL_TERM = 0x45;
constexpr uint8_t CMD_SYNC = 0x46;
}  // namespace op

// CMDQ_CONS.ERR values (§7.1).
namespace cerror {
constexpr uint8_t NONE = 0;
constexpr uint8_t ILL = 1;
constexpr uint8_t ABT = 2;
constexpr uint8_t ATC_INV_SYNC = 3;
}  // namespace cerror

// CMD_SYNC completion signal (§4.7.3).
namespace sync_cs {
constexpr unsigned NONE = 0;
constexpr unsigned IRQ = 1;
constexpr unsigned SEV = 2;
}  // namespace sync_cs

// CMD_RESUME action (§4.7.1): Ac (bit 12) retries, else terminate; Ab (bit 13) aborts.
namespace resume_ac {
constexpr unsigned TERM = 0;   // terminate, RAZ/WI
constexpr unsigned RETRY = 1;
constexpr unsigned ABORT = 2;  // terminate with abort
}  // namespace resume_ac

// PRI_RESP response codes of the command (§4.6.1).
namespace pri_resp {
constexpr unsigned DENY = 0;     // PCIe Invalid Request
constexpr unsigned FAIL = 1;     // PCIe Response Failure
constexpr unsigned SUCCESS = 2;  // PCIe Success
}  // namespace pri_resp

// The fields of a 16-byte command, decoded once.
struct command {
  uint64_t raw[2] = {};
  uint8_t opcode() const { return static_cast<uint8_t>(raw[0] & 0xff); }
  bool ssv() const { return (raw[0] >> 11) & 1; }
  bool ssec() const { return (raw[0] >> 10) & 1; }
  uint32_t ssid() const { return static_cast<uint32_t>((raw[0] >> 12) & 0xfffff); }
  uint32_t sid() const { return static_cast<uint32_t>(raw[0] >> 32); }
  // CFGI_*
  bool leaf() const { return raw[1] & 1; }
  unsigned range() const { return static_cast<unsigned>(raw[1] & 0x1f); }
  // TLBI_*
  unsigned num() const { return static_cast<unsigned>((raw[0] >> 12) & 0x1f); }
  unsigned scale() const { return static_cast<unsigned>((raw[0] >> 20) & 0x1f); }
  uint16_t vmid() const { return static_cast<uint16_t>(raw[0] >> 32); }
  uint16_t asid() const { return static_cast<uint16_t>(raw[0] >> 48); }
  unsigned ttl() const { return static_cast<unsigned>((raw[1] >> 8) & 3); }
  unsigned tg() const { return static_cast<unsigned>((raw[1] >> 10) & 3); }
  uint64_t va() const { return raw[1] & ~uint64_t{0xfff}; }
  uint64_t ipa() const { return raw[1] & 0x000f'ffff'ffff'f000ull; }
  // PREFETCH_ADDR
  unsigned prefetch_size() const { return static_cast<unsigned>(raw[1] & 0x1f); }
  // ATC_INV
  bool global() const { return (raw[0] >> 9) & 1; }
  unsigned atc_size() const { return static_cast<unsigned>(raw[1] & 0x3f); }
  // PRI_RESP
  uint16_t grpid() const { return static_cast<uint16_t>(raw[1] & 0x1ff); }
  unsigned pri_resp() const { return static_cast<unsigned>((raw[1] >> 12) & 3); }
  // RESUME
  unsigned resume_action() const { return static_cast<unsigned>((raw[0] >> 12) & 3); }
  uint16_t stag() const { return static_cast<uint16_t>(raw[1] & 0xffff); }
  // CMD_SYNC
  unsigned cs() const { return static_cast<unsigned>((raw[0] >> 12) & 3); }
  uint32_t msi_data() const { return static_cast<uint32_t>(raw[0] >> 32); }
  uint64_t msi_addr() const { return raw[1] & 0x00ff'ffff'ffff'fffcull; }  // MSIAddress[55:2]
};

const char *opcode_name(uint8_t opcode);

}  // namespace iommusim::models::smmuv3
