// SPDX-License-Identifier: MIT
// SMMUv3 register map and field encodings (SMMUv3 §6.2 register map, §6.3
// register descriptions). Offsets are from the base of page 0; page 1 starts
// at 0x10000 and holds the EVENTQ/PRIQ PROD and CONS registers (their page-0
// aliases are modelled as well).
#pragma once

#include <cstdint>

namespace iommusim::models::smmuv3::reg {

constexpr uint32_t page_size = 0x10000;
constexpr uint32_t regs_size = 2 * page_size;  // pages 0 and 1

// Page 0 (§6.2)
constexpr uint32_t IDR0 = 0x00;
constexpr uint32_t IDR1 = 0x04;
constexpr uint32_t IDR2 = 0x08;
constexpr uint32_t IDR3 = 0x0c;
constexpr uint32_t IDR4 = 0x10;
constexpr uint32_t IDR5 = 0x14;
constexpr uint32_t IIDR = 0x18;
constexpr uint32_t AIDR = 0x1c;
constexpr uint32_t CR0 = 0x20;
constexpr uint32_t CR0ACK = 0x24;
constexpr uint32_t CR1 = 0x28;
constexpr uint32_t CR2 = 0x2c;
constexpr uint32_t STATUSR = 0x40;
constexpr uint32_t GBPA = 0x44;
constexpr uint32_t AGBPA = 0x48;
constexpr uint32_t IRQ_CTRL = 0x50;
constexpr uint32_t IRQ_CTRLACK = 0x54;
constexpr uint32_t GERROR = 0x60;
constexpr uint32_t GERRORN = 0x64;
constexpr uint32_t GERROR_IRQ_CFG0 = 0x68;  // 64-bit
constexpr uint32_t GERROR_IRQ_CFG1 = 0x70;
constexpr uint32_t GERROR_IRQ_CFG2 = 0x74;
constexpr uint32_t STRTAB_BASE = 0x80;      // 64-bit
constexpr uint32_t STRTAB_BASE_CFG = 0x88;
constexpr uint32_t CMDQ_BASE = 0x90;        // 64-bit
constexpr uint32_t CMDQ_PROD = 0x98;
constexpr uint32_t CMDQ_CONS = 0x9c;
constexpr uint32_t EVTQ_BASE = 0xa0;        // 64-bit
constexpr uint32_t EVTQ_PROD_P0 = 0xa8;     // page-0 alias
constexpr uint32_t EVTQ_CONS_P0 = 0xac;
constexpr uint32_t EVTQ_IRQ_CFG0 = 0xb0;    // 64-bit
constexpr uint32_t EVTQ_IRQ_CFG1 = 0xb8;
constexpr uint32_t EVTQ_IRQ_CFG2 = 0xbc;
constexpr uint32_t PRIQ_BASE = 0xc0;        // 64-bit
constexpr uint32_t PRIQ_PROD_P0 = 0xc8;
constexpr uint32_t PRIQ_CONS_P0 = 0xcc;
constexpr uint32_t PRIQ_IRQ_CFG0 = 0xd0;    // 64-bit
constexpr uint32_t PRIQ_IRQ_CFG1 = 0xd8;
constexpr uint32_t PRIQ_IRQ_CFG2 = 0xdc;
constexpr uint32_t PIDR4 = 0xfd0;           // CoreSight-style ID registers 0xfd0..0xffc
constexpr uint32_t PIDR0 = 0xfe0;
constexpr uint32_t CIDR0 = 0xff0;
// Page 1 (§6.2: SMMUv3_PAGE_1)
constexpr uint32_t EVTQ_PROD = page_size + 0xa8;
constexpr uint32_t EVTQ_CONS = page_size + 0xac;
constexpr uint32_t PRIQ_PROD = page_size + 0xc8;
constexpr uint32_t PRIQ_CONS = page_size + 0xcc;

// IDR0 (§6.3.1)
constexpr uint32_t IDR0_S2P = 1u << 0;
constexpr uint32_t IDR0_S1P = 1u << 1;
constexpr unsigned IDR0_TTF_SHIFT = 2;       // 0b10 AArch64
constexpr uint32_t IDR0_COHACC = 1u << 4;
constexpr unsigned IDR0_HTTU_SHIFT = 6;
constexpr uint32_t IDR0_HYP = 1u << 9;
constexpr uint32_t IDR0_ATS = 1u << 10;
constexpr uint32_t IDR0_ASID16 = 1u << 12;
constexpr uint32_t IDR0_MSI = 1u << 13;
constexpr uint32_t IDR0_SEV = 1u << 14;
constexpr uint32_t IDR0_PRI = 1u << 16;
constexpr uint32_t IDR0_VMID16 = 1u << 18;
constexpr uint32_t IDR0_CD2L = 1u << 19;
constexpr unsigned IDR0_TTENDIAN_SHIFT = 21;  // 0b10 little-endian only
constexpr unsigned IDR0_STALL_MODEL_SHIFT = 24;
constexpr uint32_t IDR0_TERM_MODEL = 1u << 26;
constexpr unsigned IDR0_ST_LVL_SHIFT = 27;

// IDR1 (§6.3.2)
constexpr unsigned IDR1_SIDSIZE_SHIFT = 0;
constexpr unsigned IDR1_SSIDSIZE_SHIFT = 6;
constexpr unsigned IDR1_PRIQS_SHIFT = 11;
constexpr unsigned IDR1_EVENTQS_SHIFT = 16;
constexpr unsigned IDR1_CMDQS_SHIFT = 21;

// IDR3 (§6.3.4)
constexpr uint32_t IDR3_HAD = 1u << 2;
constexpr uint32_t IDR3_PPS = 1u << 5;
constexpr uint32_t IDR3_RIL = 1u << 10;

// IDR5 (§6.3.6)
constexpr uint32_t IDR5_GRAN4K = 1u << 4;
constexpr uint32_t IDR5_GRAN16K = 1u << 5;
constexpr uint32_t IDR5_GRAN64K = 1u << 6;
constexpr unsigned IDR5_STALL_MAX_SHIFT = 16;

// CR0 (§6.3.9)
constexpr uint32_t CR0_SMMUEN = 1u << 0;
constexpr uint32_t CR0_PRIQEN = 1u << 1;
constexpr uint32_t CR0_EVENTQEN = 1u << 2;
constexpr uint32_t CR0_CMDQEN = 1u << 3;
constexpr uint32_t CR0_ATSCHK = 1u << 4;
constexpr uint32_t CR0_MASK = 0x1f;

// CR2 (§6.3.12)
constexpr uint32_t CR2_E2H = 1u << 0;
constexpr uint32_t CR2_RECINVSID = 1u << 1;
constexpr uint32_t CR2_PTM = 1u << 2;
constexpr uint32_t CR2_MASK = 0x7;

// GBPA (§6.3.14)
constexpr uint32_t GBPA_ABORT = 1u << 20;
constexpr uint32_t GBPA_UPDATE = 1u << 31;
constexpr uint32_t GBPA_FIELDS = 0x000f'3fff | GBPA_ABORT;  // MEMATTR..INSTCFG, ABORT
constexpr unsigned GBPA_PRIVCFG_SHIFT = 16;
constexpr unsigned GBPA_INSTCFG_SHIFT = 18;

// IRQ_CTRL (§6.3.16)
constexpr uint32_t IRQ_CTRL_GERROR_IRQEN = 1u << 0;
constexpr uint32_t IRQ_CTRL_PRIQ_IRQEN = 1u << 1;
constexpr uint32_t IRQ_CTRL_EVENTQ_IRQEN = 1u << 2;

// GERROR (§6.3.18)
constexpr uint32_t GERROR_CMDQ_ERR = 1u << 0;
constexpr uint32_t GERROR_EVTQ_ABT_ERR = 1u << 2;
constexpr uint32_t GERROR_PRIQ_ABT_ERR = 1u << 3;
constexpr uint32_t GERROR_MSI_CMDQ_ABT_ERR = 1u << 4;
constexpr uint32_t GERROR_MSI_EVTQ_ABT_ERR = 1u << 5;
constexpr uint32_t GERROR_MSI_PRIQ_ABT_ERR = 1u << 6;
constexpr uint32_t GERROR_MSI_GERROR_ABT_ERR = 1u << 7;
constexpr uint32_t GERROR_SFM_ERR = 1u << 8;
constexpr uint32_t GERROR_MASK = 0x1fd;

// STRTAB_BASE / STRTAB_BASE_CFG (§6.3.24, §6.3.25)
constexpr uint64_t STRTAB_BASE_RA = 1ull << 62;
constexpr uint64_t STRTAB_BASE_ADDR_MASK = 0x000f'ffff'ffff'ffc0ull;  // [51:6]
constexpr unsigned STRTAB_CFG_LOG2SIZE_MASK = 0x3f;
constexpr unsigned STRTAB_CFG_SPLIT_SHIFT = 6;
constexpr unsigned STRTAB_CFG_FMT_SHIFT = 16;
constexpr unsigned STRTAB_FMT_LINEAR = 0;
constexpr unsigned STRTAB_FMT_2LVL = 1;

// Queue bases, PROD/CONS (§6.3.26-6.3.37)
constexpr uint64_t Q_BASE_RWA = 1ull << 62;
constexpr uint64_t Q_BASE_ADDR_MASK = 0x000f'ffff'ffff'ffe0ull;  // [51:5]
constexpr uint64_t Q_BASE_LOG2SIZE_MASK = 0x1f;
constexpr uint32_t Q_OVFLG = 1u << 31;      // PROD.OVFLG / CONS.OVACKFLG
constexpr unsigned CMDQ_CONS_ERR_SHIFT = 24;
constexpr uint32_t CMDQ_CONS_ERR_MASK = 0x7fu << CMDQ_CONS_ERR_SHIFT;

// IRQ_CFGn (§6.3.19-6.3.21 and the EVENTQ/PRIQ equivalents)
constexpr uint64_t MSI_ADDR_MASK = 0x000f'ffff'ffff'fffcull;  // [51:2]

// OAS encodings (IDR5.OAS, CD.IPS, STE.S2PS)
constexpr unsigned oas_bits_from_field(unsigned f) {
  switch (f) {
    case 0: return 32;
    case 1: return 36;
    case 2: return 40;
    case 3: return 42;
    case 4: return 44;
    case 5: return 48;
    default: return 52;
  }
}
constexpr int oas_field_from_bits(unsigned bits) {
  switch (bits) {
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

}  // namespace iommusim::models::smmuv3::reg
