// SPDX-License-Identifier: MIT
// SMMUv3 register offsets and the field layouts of the structures the driver
// writes or reads: STE, CD, commands, event and PRI queue records, and the
// VMSAv8-64 translation table descriptors. Section numbers are those of the
// Arm SMMUv3 architecture specification (IHI 0070) and of the Arm ARM (DDI
// 0487, chapter D8) for descriptors.
#pragma once

#include <cstdint>

namespace iommusim::iommufd::smmuv3 {

// Bits [h:l] set.
constexpr uint64_t bits(unsigned h, unsigned l) { return (~0ULL >> (63 - h)) & (~0ULL << l); }
constexpr uint64_t bit(unsigned n) { return 1ULL << n; }
// Place v in the field described by mask / extract it (the kernel's FIELD_PREP/GET).
constexpr uint64_t fprep(uint64_t mask, uint64_t v) {
  return (v << __builtin_ctzll(mask)) & mask;
}
constexpr uint64_t fget(uint64_t mask, uint64_t reg) { return (reg & mask) >> __builtin_ctzll(mask); }

namespace reg {
// --- Register page 0 (§6.3) ---
inline constexpr uint64_t IDR0 = 0x0;
inline constexpr uint64_t IDR1 = 0x4;
inline constexpr uint64_t IDR2 = 0x8;
inline constexpr uint64_t IDR3 = 0xc;
inline constexpr uint64_t IDR4 = 0x10;
inline constexpr uint64_t IDR5 = 0x14;
inline constexpr uint64_t IIDR = 0x18;
inline constexpr uint64_t AIDR = 0x1c;
inline constexpr uint64_t CR0 = 0x20;
inline constexpr uint64_t CR0ACK = 0x24;
inline constexpr uint64_t CR1 = 0x28;
inline constexpr uint64_t CR2 = 0x2c;
inline constexpr uint64_t GBPA = 0x44;
inline constexpr uint64_t IRQ_CTRL = 0x50;
inline constexpr uint64_t IRQ_CTRLACK = 0x54;
inline constexpr uint64_t GERROR = 0x60;
inline constexpr uint64_t GERRORN = 0x64;
inline constexpr uint64_t GERROR_IRQ_CFG0 = 0x68;
inline constexpr uint64_t GERROR_IRQ_CFG1 = 0x70;
inline constexpr uint64_t GERROR_IRQ_CFG2 = 0x74;
inline constexpr uint64_t STRTAB_BASE = 0x80;
inline constexpr uint64_t STRTAB_BASE_CFG = 0x88;
inline constexpr uint64_t CMDQ_BASE = 0x90;
inline constexpr uint64_t CMDQ_PROD = 0x98;
inline constexpr uint64_t CMDQ_CONS = 0x9c;
inline constexpr uint64_t EVTQ_BASE = 0xa0;
inline constexpr uint64_t EVTQ_IRQ_CFG0 = 0xb0;
inline constexpr uint64_t EVTQ_IRQ_CFG1 = 0xb8;
inline constexpr uint64_t EVTQ_IRQ_CFG2 = 0xbc;
inline constexpr uint64_t PRIQ_BASE = 0xc0;
inline constexpr uint64_t PRIQ_IRQ_CFG0 = 0xd0;
inline constexpr uint64_t PRIQ_IRQ_CFG1 = 0xd8;
inline constexpr uint64_t PRIQ_IRQ_CFG2 = 0xdc;
// --- Register page 1 (base + 64 KiB): the EVTQ and PRIQ indexes (§6.2) ---
inline constexpr uint64_t PAGE1 = 0x10000;
inline constexpr uint64_t EVTQ_PROD = 0xa8;
inline constexpr uint64_t EVTQ_CONS = 0xac;
inline constexpr uint64_t PRIQ_PROD = 0xc8;
inline constexpr uint64_t PRIQ_CONS = 0xcc;
}  // namespace reg

// SMMU_IDR0 (§6.3.1)
namespace idr0 {
inline constexpr uint64_t S2P = bit(0);
inline constexpr uint64_t S1P = bit(1);
inline constexpr uint64_t TTF = bits(3, 2);
inline constexpr uint64_t TTF_AARCH64 = 2, TTF_AARCH32_64 = 3;
inline constexpr uint64_t COHACC = bit(4);
inline constexpr uint64_t BTM = bit(5);
inline constexpr uint64_t HTTU = bits(7, 6);
inline constexpr uint64_t HTTU_ACCESS = 1, HTTU_ACCESS_DIRTY = 2;
inline constexpr uint64_t HYP = bit(9);
inline constexpr uint64_t ATS = bit(10);
inline constexpr uint64_t ASID16 = bit(12);
inline constexpr uint64_t MSI = bit(13);
inline constexpr uint64_t SEV = bit(14);
inline constexpr uint64_t PRI = bit(16);
inline constexpr uint64_t VMID16 = bit(18);
inline constexpr uint64_t CD2L = bit(19);
inline constexpr uint64_t TTENDIAN = bits(22, 21);
inline constexpr uint64_t TTENDIAN_MIXED = 0, TTENDIAN_LE = 2, TTENDIAN_BE = 3;
inline constexpr uint64_t STALL_MODEL = bits(25, 24);
inline constexpr uint64_t STALL_MODEL_STALL = 0, STALL_MODEL_FORCE = 2;
inline constexpr uint64_t ST_LEVEL = bits(28, 27);
inline constexpr uint64_t ST_LEVEL_2LVL = 1;
}  // namespace idr0

// SMMU_IDR1 (§6.3.2)
namespace idr1 {
inline constexpr uint64_t SIDSIZE = bits(5, 0);
inline constexpr uint64_t SSIDSIZE = bits(10, 6);
inline constexpr uint64_t PRIQS = bits(15, 11);
inline constexpr uint64_t EVENTQS = bits(20, 16);
inline constexpr uint64_t CMDQS = bits(25, 21);
inline constexpr uint64_t ATTR_TYPES_OVR = bit(27);
inline constexpr uint64_t REL = bit(28);
inline constexpr uint64_t QUEUES_PRESET = bit(29);
inline constexpr uint64_t TABLES_PRESET = bit(30);
}  // namespace idr1

// SMMU_IDR3 (§6.3.4)
namespace idr3 {
inline constexpr uint64_t RIL = bit(10);
}

// SMMU_IDR5 (§6.3.6)
namespace idr5 {
inline constexpr uint64_t OAS = bits(2, 0);
inline constexpr uint64_t GRAN4K = bit(4);
inline constexpr uint64_t GRAN16K = bit(5);
inline constexpr uint64_t GRAN64K = bit(6);
inline constexpr uint64_t VAX = bits(11, 10);
inline constexpr uint64_t VAX_52 = 1;
inline constexpr uint64_t STALL_MAX = bits(31, 16);
}  // namespace idr5

// SMMU_CR0/CR0ACK (§6.3.9)
namespace cr0 {
inline constexpr uint32_t SMMUEN = 1u << 0;
inline constexpr uint32_t PRIQEN = 1u << 1;
inline constexpr uint32_t EVTQEN = 1u << 2;
inline constexpr uint32_t CMDQEN = 1u << 3;
inline constexpr uint32_t ATSCHK = 1u << 4;
}  // namespace cr0

// SMMU_CR1 (§6.3.11): cacheability and shareability of tables and queues.
namespace cr1 {
inline constexpr uint64_t QUEUE_IC = bits(1, 0);
inline constexpr uint64_t QUEUE_OC = bits(3, 2);
inline constexpr uint64_t QUEUE_SH = bits(5, 4);
inline constexpr uint64_t TABLE_IC = bits(7, 6);
inline constexpr uint64_t TABLE_OC = bits(9, 8);
inline constexpr uint64_t TABLE_SH = bits(11, 10);
inline constexpr uint64_t CACHE_WB = 1;
}  // namespace cr1

// SMMU_CR2 (§6.3.12)
namespace cr2 {
inline constexpr uint32_t E2H = 1u << 0;
inline constexpr uint32_t RECINVSID = 1u << 1;
inline constexpr uint32_t PTM = 1u << 2;
}  // namespace cr2

// SMMU_GBPA (§6.3.14)
namespace gbpa {
inline constexpr uint32_t ABORT = 1u << 20;
inline constexpr uint32_t UPDATE = 1u << 31;
}  // namespace gbpa

// SMMU_IRQ_CTRL (§6.3.16)
namespace irq_ctrl {
inline constexpr uint32_t GERROR_IRQEN = 1u << 0;
inline constexpr uint32_t PRIQ_IRQEN = 1u << 1;
inline constexpr uint32_t EVTQ_IRQEN = 1u << 2;
}  // namespace irq_ctrl

// SMMU_GERROR/GERRORN (§6.3.18)
namespace gerror {
inline constexpr uint32_t CMDQ_ERR = 1u << 0;
inline constexpr uint32_t EVTQ_ABT_ERR = 1u << 2;
inline constexpr uint32_t PRIQ_ABT_ERR = 1u << 3;
inline constexpr uint32_t MSI_CMDQ_ABT_ERR = 1u << 4;
inline constexpr uint32_t MSI_EVTQ_ABT_ERR = 1u << 5;
inline constexpr uint32_t MSI_PRIQ_ABT_ERR = 1u << 6;
inline constexpr uint32_t MSI_GERROR_ABT_ERR = 1u << 7;
inline constexpr uint32_t SFM_ERR = 1u << 8;
inline constexpr uint32_t ERR_MASK = 0x1fd;
}  // namespace gerror

// SMMU_*_IRQ_CFG0/2 (§6.3.19): MSI address and attributes.
namespace msi_cfg {
inline constexpr uint64_t ADDR_MASK = bits(51, 2);
inline constexpr uint32_t MEMATTR_DEVICE_nGnRE = 0x1;
}  // namespace msi_cfg

// SMMU_STRTAB_BASE / _CFG (§6.3.23-24)
namespace strtab {
inline constexpr uint64_t BASE_RA = bit(62);
inline constexpr uint64_t BASE_ADDR_MASK = bits(51, 6);
inline constexpr uint64_t CFG_LOG2SIZE = bits(5, 0);
inline constexpr uint64_t CFG_SPLIT = bits(10, 6);
inline constexpr uint64_t CFG_FMT = bits(17, 16);
inline constexpr uint64_t CFG_FMT_LINEAR = 0, CFG_FMT_2LVL = 1;
// Level-1 descriptor (§3.3.2): SPAN and L2Ptr.
inline constexpr uint64_t L1_SPAN = bits(4, 0);
inline constexpr uint64_t L1_L2PTR_MASK = bits(51, 6);
// The driver's split: 256 STEs (16 KiB) per level-2 table, as Linux.
inline constexpr unsigned SPLIT = 8;
inline constexpr unsigned NUM_L2_STES = 1u << SPLIT;
inline constexpr unsigned MAX_L1_ENTRIES = 1u << 17;
inline constexpr unsigned STE_BYTES = 64;
}  // namespace strtab

// Queue base registers and indexes (§3.5, §6.3.25-27)
namespace q {
inline constexpr uint64_t BASE_RWA = bit(62);
inline constexpr uint64_t BASE_ADDR_MASK = bits(51, 5);
inline constexpr uint64_t BASE_LOG2SIZE = bits(4, 0);
inline constexpr uint32_t OVERFLOW_FLAG = 1u << 31;  // PROD.OVFLG / CONS.OVACKFLG
inline constexpr uint64_t CMDQ_CONS_ERR = bits(30, 24);
inline constexpr unsigned CMDQ_ENT_DWORDS = 2;
inline constexpr unsigned EVTQ_ENT_DWORDS = 4;
inline constexpr unsigned PRIQ_ENT_DWORDS = 2;
}  // namespace q

// SMMU_CMDQ_CONS.ERR values (§4.7.2)
enum cerror : unsigned { CERROR_NONE = 0, CERROR_ILL = 1, CERROR_ABT = 2, CERROR_ATC_INV_SYNC = 3 };

// Stream table entry (§5.2)
namespace ste {
// dword 0
inline constexpr uint64_t V = bit(0);
inline constexpr uint64_t CFG = bits(3, 1);
inline constexpr uint64_t CFG_ABORT = 0, CFG_BYPASS = 4, CFG_S1_TRANS = 5, CFG_S2_TRANS = 6;
inline constexpr uint64_t S1FMT = bits(5, 4);
inline constexpr uint64_t S1FMT_LINEAR = 0, S1FMT_64K_L2 = 2;
inline constexpr uint64_t S1CTXPTR_MASK = bits(51, 6);
inline constexpr uint64_t S1CDMAX = bits(63, 59);
// dword 1
inline constexpr uint64_t S1DSS = bits(1, 0);
inline constexpr uint64_t S1DSS_TERMINATE = 0, S1DSS_BYPASS = 1, S1DSS_SSID0 = 2;
inline constexpr uint64_t S1CIR = bits(3, 2);
inline constexpr uint64_t S1COR = bits(5, 4);
inline constexpr uint64_t S1CSH = bits(7, 6);
inline constexpr uint64_t S1C_CACHE_WBRA = 1;
inline constexpr uint64_t PPAR = bit(18);
inline constexpr uint64_t S1STALLD = bit(27);
inline constexpr uint64_t EATS = bits(29, 28);
inline constexpr uint64_t EATS_ABT = 0, EATS_TRANS = 1, EATS_S1CHK = 2;
inline constexpr uint64_t STRW = bits(31, 30);
inline constexpr uint64_t STRW_NSEL1 = 0, STRW_EL2 = 2;
inline constexpr uint64_t SHCFG = bits(45, 44);
inline constexpr uint64_t SHCFG_INCOMING = 1;
// dword 2
inline constexpr uint64_t S2VMID = bits(15, 0);
inline constexpr uint64_t VTCR = bits(50, 32);
inline constexpr uint64_t VTCR_S2T0SZ = bits(5, 0);
inline constexpr uint64_t VTCR_S2SL0 = bits(7, 6);
inline constexpr uint64_t VTCR_S2IR0 = bits(9, 8);
inline constexpr uint64_t VTCR_S2OR0 = bits(11, 10);
inline constexpr uint64_t VTCR_S2SH0 = bits(13, 12);
inline constexpr uint64_t VTCR_S2TG = bits(15, 14);
inline constexpr uint64_t VTCR_S2PS = bits(18, 16);
inline constexpr uint64_t S2AA64 = bit(51);
inline constexpr uint64_t S2ENDI = bit(52);
inline constexpr uint64_t S2PTW = bit(54);
inline constexpr uint64_t S2S = bit(57);
inline constexpr uint64_t S2R = bit(58);
// dword 3
inline constexpr uint64_t S2TTB_MASK = bits(51, 4);
}  // namespace ste

// Context descriptor (§5.4)
namespace cd {
inline constexpr uint64_t T0SZ = bits(5, 0);
inline constexpr uint64_t TG0 = bits(7, 6);
inline constexpr uint64_t IRGN0 = bits(9, 8);
inline constexpr uint64_t ORGN0 = bits(11, 10);
inline constexpr uint64_t SH0 = bits(13, 12);
inline constexpr uint64_t EPD0 = bit(14);
inline constexpr uint64_t ENDI = bit(15);
inline constexpr uint64_t EPD1 = bit(30);
inline constexpr uint64_t V = bit(31);
inline constexpr uint64_t IPS = bits(34, 32);
inline constexpr uint64_t TBI0 = bit(38);
inline constexpr uint64_t HD = bit(42);
inline constexpr uint64_t HA = bit(43);
inline constexpr uint64_t AA64 = bit(41);
inline constexpr uint64_t S = bit(44);
inline constexpr uint64_t R = bit(45);
inline constexpr uint64_t A = bit(46);
inline constexpr uint64_t ASET = bit(47);
inline constexpr uint64_t ASID = bits(63, 48);
inline constexpr uint64_t TTB0_MASK = bits(51, 4);  // dword 1
// Level-1 CD table descriptor (§5.4.1)
inline constexpr uint64_t L1_V = bit(0);
inline constexpr uint64_t L1_L2PTR_MASK = bits(51, 12);
inline constexpr unsigned L2_ENTRIES = 1024;  // CDs per level-2 table (64 KiB)
inline constexpr unsigned BYTES = 64;
// Linear CD tables only: at most 64 KiB (1024 CDs), as Linux.
inline constexpr unsigned LINEAR_CDMAX = 10;
}  // namespace cd

// Commands (§4): opcodes and fields.
namespace cmd {
inline constexpr uint8_t PREFETCH_CFG = 0x01;
inline constexpr uint8_t CFGI_STE = 0x03;
inline constexpr uint8_t CFGI_ALL = 0x04;
inline constexpr uint8_t CFGI_CD = 0x05;
inline constexpr uint8_t CFGI_CD_ALL = 0x06;
inline constexpr uint8_t TLBI_NH_ASID = 0x11;
inline constexpr uint8_t TLBI_NH_VA = 0x12;
inline constexpr uint8_t TLBI_EL2_ALL = 0x20;
inline constexpr uint8_t TLBI_S12_VMALL = 0x28;
inline constexpr uint8_t TLBI_S2_IPA = 0x2a;
inline constexpr uint8_t TLBI_NSNH_ALL = 0x30;
inline constexpr uint8_t ATC_INV = 0x40;
inline constexpr uint8_t PRI_RESP = 0x41;
inline constexpr uint8_t RESUME = 0x44;
inline constexpr uint8_t SYNC = 0x46;

inline constexpr uint64_t OP = bits(7, 0);
inline constexpr uint64_t SSV = bit(11);
inline constexpr uint64_t SID = bits(63, 32);         // CFGI, PREFETCH, ATC, PRI, RESUME
inline constexpr uint64_t SSID = bits(31, 12);        // CFGI_CD, ATC_INV, PRI_RESP
inline constexpr uint64_t CFGI_LEAF = bit(0);         // dword 1
inline constexpr uint64_t CFGI_RANGE = bits(4, 0);    // dword 1 (CFGI_ALL)
inline constexpr uint64_t TLBI_NUM = bits(16, 12);
inline constexpr uint64_t TLBI_SCALE = bits(24, 20);
inline constexpr uint64_t TLBI_VMID = bits(47, 32);
inline constexpr uint64_t TLBI_ASID = bits(63, 48);
inline constexpr uint64_t TLBI_LEAF = bit(0);         // dword 1
inline constexpr uint64_t TLBI_TTL = bits(9, 8);
inline constexpr uint64_t TLBI_TG = bits(11, 10);
inline constexpr uint64_t TLBI_VA_MASK = bits(63, 12);
inline constexpr uint64_t TLBI_IPA_MASK = bits(51, 12);
inline constexpr unsigned TLBI_RANGE_NUM_MAX = 31;
inline constexpr uint64_t ATC_GLOBAL = bit(9);
inline constexpr uint64_t ATC_SIZE = bits(5, 0);      // dword 1
inline constexpr uint64_t ATC_ADDR_MASK = bits(63, 12);
inline constexpr unsigned ATC_INV_SIZE_ALL = 52;
inline constexpr uint64_t PRI_GRPID = bits(8, 0);     // dword 1
inline constexpr uint64_t PRI_RESP_FIELD = bits(13, 12);
enum pri_resp : unsigned { PRI_RESP_DENY = 0, PRI_RESP_FAIL = 1, PRI_RESP_SUCC = 2 };
inline constexpr uint64_t RESUME_RESP = bits(13, 12);  // dword 0
enum resume_resp : unsigned { RESUME_TERM = 0, RESUME_RETRY = 1, RESUME_ABORT = 2 };
inline constexpr uint64_t RESUME_STAG = bits(15, 0);  // dword 1
inline constexpr uint64_t SYNC_CS = bits(13, 12);
enum sync_cs : unsigned { SYNC_CS_NONE = 0, SYNC_CS_IRQ = 1, SYNC_CS_SEV = 2 };
inline constexpr uint64_t SYNC_MSH = bits(23, 22);
inline constexpr uint64_t SYNC_MSIATTR = bits(27, 24);
inline constexpr uint64_t SYNC_MSIDATA = bits(63, 32);
inline constexpr uint64_t SYNC_MSIADDR_MASK = bits(51, 2);  // dword 1
inline constexpr uint64_t SH_ISH = 3;
inline constexpr uint64_t MEMATTR_OIWB = 0xf;
}  // namespace cmd

// Event queue records (§7.3)
namespace evt {
inline constexpr uint64_t ID = bits(7, 0);
inline constexpr uint64_t SSV = bit(11);
inline constexpr uint64_t SSID = bits(31, 12);
inline constexpr uint64_t SID = bits(63, 32);
inline constexpr uint64_t STAG = bits(15, 0);   // dword 1
inline constexpr uint64_t STALL = bit(31);
inline constexpr uint64_t PnU = bit(33);
inline constexpr uint64_t InD = bit(34);
inline constexpr uint64_t RnW = bit(35);
inline constexpr uint64_t S2 = bit(39);
inline constexpr uint64_t CLASS = bits(41, 40);
inline constexpr uint8_t F_UUT = 0x01;
inline constexpr uint8_t C_BAD_STREAMID = 0x02;
inline constexpr uint8_t F_STE_FETCH = 0x03;
inline constexpr uint8_t C_BAD_STE = 0x04;
inline constexpr uint8_t F_BAD_ATS_TREQ = 0x05;
inline constexpr uint8_t F_STREAM_DISABLED = 0x06;
inline constexpr uint8_t F_TRANSL_FORBIDDEN = 0x07;
inline constexpr uint8_t C_BAD_SUBSTREAMID = 0x08;
inline constexpr uint8_t F_CD_FETCH = 0x09;
inline constexpr uint8_t C_BAD_CD = 0x0a;
inline constexpr uint8_t F_WALK_EABT = 0x0b;
inline constexpr uint8_t F_TRANSLATION = 0x10;
inline constexpr uint8_t F_ADDR_SIZE = 0x11;
inline constexpr uint8_t F_ACCESS = 0x12;
inline constexpr uint8_t F_PERMISSION = 0x13;
inline constexpr uint8_t F_TLB_CONFLICT = 0x20;
inline constexpr uint8_t F_CFG_CONFLICT = 0x21;
inline constexpr uint8_t E_PAGE_REQUEST = 0x24;
inline constexpr uint8_t F_VMS_FETCH = 0x25;
}  // namespace evt

// PRI queue records (§8.1)
namespace priq {
inline constexpr uint64_t SID = bits(31, 0);
inline constexpr uint64_t SSID = bits(51, 32);
inline constexpr uint64_t PERM_PRIV = bit(58);
inline constexpr uint64_t PERM_EXEC = bit(59);
inline constexpr uint64_t PERM_READ = bit(60);
inline constexpr uint64_t PERM_WRITE = bit(61);
inline constexpr uint64_t PRG_LAST = bit(62);
inline constexpr uint64_t SSID_V = bit(63);
inline constexpr uint64_t PRG_IDX = bits(8, 0);       // dword 1
inline constexpr uint64_t ADDR_MASK = bits(63, 12);
}  // namespace priq

// VMSAv8-64 translation table descriptors, 4 KiB granule (Arm ARM D8.3).
namespace pte {
inline constexpr uint64_t VALID = bit(0);
inline constexpr uint64_t TYPE_MASK = 0x3;
inline constexpr uint64_t TYPE_BLOCK = 1;
inline constexpr uint64_t TYPE_TABLE = 3;
inline constexpr uint64_t TYPE_PAGE = 3;
inline constexpr uint64_t ATTRINDX_SHIFT = 2;        // stage 1 AttrIndx[2:0]
inline constexpr uint64_t NS = bit(5);
inline constexpr uint64_t AP_UNPRIV = bit(6);         // stage 1 AP[1]
inline constexpr uint64_t AP_RDONLY = bit(7);         // stage 1 AP[2]
inline constexpr uint64_t HAP_READ = bit(6);          // stage 2 S2AP[0]
inline constexpr uint64_t HAP_WRITE = bit(7);         // stage 2 S2AP[1]
inline constexpr uint64_t SH_OS = 2ULL << 8;
inline constexpr uint64_t SH_IS = 3ULL << 8;
inline constexpr uint64_t AF = bit(10);
inline constexpr uint64_t nG = bit(11);
inline constexpr uint64_t ADDR_MASK = bits(47, 12);
inline constexpr uint64_t DBM = bit(51);
inline constexpr uint64_t XN = 3ULL << 53;            // PXN|UXN (stage 1), XN[1:0] (stage 2)
inline constexpr uint64_t MEMATTR_DEV = 0x1ULL << 2;  // stage 2 MemAttr
inline constexpr uint64_t MEMATTR_NC = 0x5ULL << 2;
inline constexpr uint64_t MEMATTR_OIWB = 0xfULL << 2;
// MAIR indexes and attributes the stage-1 tables use (as Linux's io-pgtable).
inline constexpr unsigned MAIR_IDX_NC = 0, MAIR_IDX_CACHE = 1, MAIR_IDX_DEV = 2,
                          MAIR_IDX_INC_OCACHE = 3;
inline constexpr uint64_t MAIR_ATTR_NC = 0x44, MAIR_ATTR_WBRWA = 0xff, MAIR_ATTR_DEVICE = 0x04,
                          MAIR_ATTR_INC_OWBRWA = 0xf4;
// TCR/VTCR encodings
inline constexpr uint64_t TCR_TG0_4K = 0;
inline constexpr uint64_t TCR_SH_IS = 3;
inline constexpr uint64_t TCR_RGN_NC = 0, TCR_RGN_WBWA = 1;
inline constexpr uint64_t TCR_SH_OS = 2;
}  // namespace pte

// Output address size (IDR5.OAS, CD.IPS, VTCR.PS) encodings.
constexpr int pa_size_encoding(unsigned bits_) {
  switch (bits_) {
    case 32: return 0;
    case 36: return 1;
    case 40: return 2;
    case 42: return 3;
    case 44: return 4;
    case 48: return 5;
    case 52: return 6;
    default: return -1;
  }
}

// The SW MSI window Linux reserves in every SMMUv3 domain (MSI_IOVA_BASE).
inline constexpr uint64_t MSI_IOVA_BASE = 0x8000000;
inline constexpr uint64_t MSI_IOVA_LENGTH = 0x100000;

}  // namespace iommusim::iommufd::smmuv3
