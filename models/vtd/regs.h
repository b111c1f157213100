// SPDX-License-Identifier: MIT
// VT-d remapping-hardware register layout (VT-d §11.4) and the fault reason
// codes (§7.1.3, Appendix "Fault reasons"). Offsets and bit positions are the
// spec's; the fault-recording and IOTLB register blocks sit at the offsets
// CAP.FRO and ECAP.IRO advertise (config.h fro/iro).
#pragma once

#include <cstdint>

namespace iommusim::models::vtd::reg {

// --- offsets (§11.4) --------------------------------------------------------
inline constexpr uint32_t VER = 0x00;      // 32
inline constexpr uint32_t CAP = 0x08;      // 64
inline constexpr uint32_t ECAP = 0x10;     // 64
inline constexpr uint32_t GCMD = 0x18;     // 32, write only
inline constexpr uint32_t GSTS = 0x1c;     // 32, read only
inline constexpr uint32_t RTADDR = 0x20;   // 64
inline constexpr uint32_t CCMD = 0x28;     // 64
inline constexpr uint32_t FSTS = 0x34;     // 32
inline constexpr uint32_t FECTL = 0x38;    // 32
inline constexpr uint32_t FEDATA = 0x3c;   // 32
inline constexpr uint32_t FEADDR = 0x40;   // 32
inline constexpr uint32_t FEUADDR = 0x44;  // 32
inline constexpr uint32_t AFLOG = 0x58;    // 64 (advanced fault logging: reads 0)
inline constexpr uint32_t PMEN = 0x64;     // 32
inline constexpr uint32_t PLMBASE = 0x68;  // 32
inline constexpr uint32_t PLMLIMIT = 0x6c; // 32
inline constexpr uint32_t PHMBASE = 0x70;  // 64
inline constexpr uint32_t PHMLIMIT = 0x78; // 64
inline constexpr uint32_t IQH = 0x80;      // 64
inline constexpr uint32_t IQT = 0x88;      // 64
inline constexpr uint32_t IQA = 0x90;      // 64
inline constexpr uint32_t ICS = 0x9c;      // 32
inline constexpr uint32_t IECTL = 0xa0;    // 32
inline constexpr uint32_t IEDATA = 0xa4;   // 32
inline constexpr uint32_t IEADDR = 0xa8;   // 32
inline constexpr uint32_t IEUADDR = 0xac;  // 32
inline constexpr uint32_t IQERCD = 0xb0;   // 64
inline constexpr uint32_t IRTA = 0xb8;     // 64
inline constexpr uint32_t PQH = 0xc0;      // 64
inline constexpr uint32_t PQT = 0xc8;      // 64
inline constexpr uint32_t PQA = 0xd0;      // 64
inline constexpr uint32_t PRS = 0xdc;      // 32
inline constexpr uint32_t PECTL = 0xe0;    // 32
inline constexpr uint32_t PEDATA = 0xe4;   // 32
inline constexpr uint32_t PEADDR = 0xe8;   // 32
inline constexpr uint32_t PEUADDR = 0xec;  // 32
inline constexpr uint32_t REG_SPACE = 0x1000;  // one 4 KiB page

// --- GCMD / GSTS (§11.4.4, §11.4.5) -----------------------------------------
inline constexpr uint32_t GCMD_TE = 1u << 31, GSTS_TES = 1u << 31;
inline constexpr uint32_t GCMD_SRTP = 1u << 30, GSTS_RTPS = 1u << 30;
inline constexpr uint32_t GCMD_SFL = 1u << 29, GSTS_FLS = 1u << 29;
inline constexpr uint32_t GCMD_EAFL = 1u << 28, GSTS_AFLS = 1u << 28;
inline constexpr uint32_t GCMD_WBF = 1u << 27, GSTS_WBFS = 1u << 27;
inline constexpr uint32_t GCMD_QIE = 1u << 26, GSTS_QIES = 1u << 26;
inline constexpr uint32_t GCMD_IRE = 1u << 25, GSTS_IRES = 1u << 25;
inline constexpr uint32_t GCMD_SIRTP = 1u << 24, GSTS_IRTPS = 1u << 24;
inline constexpr uint32_t GCMD_CFI = 1u << 23, GSTS_CFIS = 1u << 23;
// One-shot commands: GSTS reports completion by clearing (WBF) or setting
// (RTPS, IRTPS) the status bit; persistent ones mirror the command bit.
inline constexpr uint32_t GCMD_PERSISTENT = GCMD_TE | GCMD_EAFL | GCMD_QIE | GCMD_IRE | GCMD_CFI;

// --- RTADDR (§11.4.6) -------------------------------------------------------
inline constexpr uint64_t RTADDR_TTM_SHIFT = 10;  // 00 legacy, 01 scalable
inline constexpr uint64_t RTADDR_TTM_MASK = 3ull << 10;

// --- CCMD (§11.4.7) ---------------------------------------------------------
inline constexpr uint64_t CCMD_ICC = 1ull << 63;
inline constexpr unsigned CCMD_CIRG_SHIFT = 61;  // 1 global, 2 domain, 3 device
inline constexpr unsigned CCMD_CAIG_SHIFT = 59;  // actual granularity
inline constexpr unsigned CCMD_FM_SHIFT = 32;
inline constexpr unsigned CCMD_SID_SHIFT = 16;

// --- IOTLB register (§11.4.8.1) and IVA (§11.4.8.2) -------------------------
inline constexpr uint64_t IOTLB_IVT = 1ull << 63;
inline constexpr unsigned IOTLB_IIRG_SHIFT = 60;  // 1 global, 2 domain, 3 page
inline constexpr unsigned IOTLB_IAIG_SHIFT = 57;
inline constexpr uint64_t IOTLB_DR = 1ull << 49, IOTLB_DW = 1ull << 48;
inline constexpr unsigned IOTLB_DID_SHIFT = 32;
inline constexpr uint64_t IVA_IH = 1ull << 6;
inline constexpr uint64_t IVA_AM_MASK = 0x3f;

// --- FSTS (§11.4.9.1) -------------------------------------------------------
inline constexpr uint32_t FSTS_PFO = 1u << 0;
inline constexpr uint32_t FSTS_PPF = 1u << 1;
inline constexpr uint32_t FSTS_IQE = 1u << 4;
inline constexpr uint32_t FSTS_ICE = 1u << 5;
inline constexpr uint32_t FSTS_ITE = 1u << 6;
inline constexpr unsigned FSTS_FRI_SHIFT = 8;
inline constexpr uint32_t FSTS_RW1C = FSTS_PFO | FSTS_IQE | FSTS_ICE | FSTS_ITE;

// --- event control registers FECTL / IECTL / PECTL --------------------------
inline constexpr uint32_t ECTL_IM = 1u << 31;  // interrupt mask (set at reset)
inline constexpr uint32_t ECTL_IP = 1u << 30;  // interrupt pending (read only)

// --- FRCD (§11.4.9.5): 128 bits at FRO + 16 * n ------------------------------
// low qword: FI (page address) bits 63:12. High qword bits (as bit - 64):
inline constexpr unsigned FRCD_SID_SHIFT = 0;      // 79:64
inline constexpr uint64_t FRCD_T2 = 1ull << 28;    // 92  (Rev 3: with T1, the request type)
inline constexpr uint64_t FRCD_PRIV = 1ull << 29;  // 93  privilege mode requested
inline constexpr uint64_t FRCD_EXE = 1ull << 30;   // 94  execute requested
inline constexpr uint64_t FRCD_PP = 1ull << 31;    // 95  PASID present
inline constexpr unsigned FRCD_FR_SHIFT = 32;      // 103:96 fault reason
inline constexpr unsigned FRCD_PV_SHIFT = 40;      // 123:104 PASID value
inline constexpr unsigned FRCD_AT_SHIFT = 60;      // 125:124 address type
inline constexpr uint64_t FRCD_T1 = 1ull << 62;    // 126 0 write, 1 read
inline constexpr uint64_t FRCD_F = 1ull << 63;     // 127 fault (RW1C)

// --- ICS (§11.4.10.4) / IQA / IQERCD ----------------------------------------
inline constexpr uint32_t ICS_IWC = 1u << 0;
inline constexpr uint64_t IQA_DW = 1ull << 11;     // 256-bit descriptors (scalable mode)
inline constexpr uint64_t IQA_QS_MASK = 7;         // 2^QS 4 KiB pages
// IQERCD: IQEI bits 3:0, ITESID 47:32, ICESID 63:48.
enum iqe_code : uint8_t {
  IQEI_NONE = 0,
  IQEI_TAIL = 1,        // IQT not aligned to a 256-bit descriptor (DW=1), or beyond the queue
  IQEI_FETCH = 2,       // descriptor fetch failed
  IQEI_INVALID = 3,     // reserved field / unknown type / unsupported granularity
  IQEI_DW = 4,          // 128-bit descriptors in scalable mode or 256-bit in legacy
  IQEI_QIE = 5,         // queue enabled while IQT != IQH (not raised by this model)
  IQEI_WAIT_DW = 6,     // wait descriptor status write misaligned
};

// --- PRS / page request descriptor ------------------------------------------
inline constexpr uint32_t PRS_PPR = 1u << 0;
inline constexpr uint32_t PRS_PRO = 1u << 1;

// --- invalidation descriptors (§6.5.2) --------------------------------------
enum desc_type : uint8_t {
  QI_CC = 0x1,          // context-cache
  QI_IOTLB = 0x2,
  QI_DEV_TLB = 0x3,
  QI_IEC = 0x4,         // interrupt-entry cache
  QI_WAIT = 0x5,
  QI_PIOTLB = 0x6,      // PASID-based IOTLB
  QI_PC = 0x7,          // PASID cache
  QI_PDEV_TLB = 0x8,    // PASID-based device-TLB
  QI_PGRP_RESP = 0x9,   // page group response
};
inline constexpr uint64_t WAIT_IF = 1ull << 4, WAIT_SW = 1ull << 5, WAIT_FN = 1ull << 6,
                          WAIT_PD = 1ull << 7;

}  // namespace iommusim::models::vtd::reg

namespace iommusim::models::vtd {

// Fault reasons (VT-d §7.1.3, Appendix A): legacy mode 0x1-0xD; scalable
// mode by group: SRT (root table) 0x38, SCT (context) 0x40, SPD (PASID
// directory) 0x50, SPT (PASID table) 0x58, SFS (first stage) 0x70 and 0x90,
// SSS (second stage) 0x78, SGN (general) 0x80 — the spec's numbering, as
// Linux's dmar.c names them.
enum fault_reason : uint8_t {
  FR_ROOT_NP = 0x01,          // root entry not present
  FR_CTX_NP = 0x02,           // context entry not present
  FR_CTX_INVALID = 0x03,      // invalid context-entry programming (AW, TT)
  FR_ADDR_BEYOND_AGAW = 0x04, // input address above 2^AGAW
  FR_WRITE = 0x05,            // write without W
  FR_READ = 0x06,             // read without R
  FR_PTE_ACCESS = 0x07,       // paging-entry fetch failed
  FR_ROOT_ACCESS = 0x08,      // root-table fetch failed
  FR_CTX_ACCESS = 0x09,       // context-table fetch failed
  FR_ROOT_RSVD = 0x0a,        // reserved bits in root entry
  FR_CTX_RSVD = 0x0b,         // reserved bits in context entry
  FR_PTE_RSVD = 0x0c,         // reserved bits in a paging entry
  FR_TT_BLOCKED = 0x0d,       // request type blocked by TT (e.g. ATS with TT != 01b)
  RTA_2 = 0x31,               // request with PASID while the root table is in legacy mode
  RTA_3 = 0x32,               // page request while the root table is in legacy mode
  SRT_1 = 0x38,               // scalable root-table fetch failed
  SRT_2 = 0x39,               // root entry LP/UP clear
  SRT_3 = 0x3a,               // reserved bits in scalable root entry
  SCT_1 = 0x40,               // scalable context-table fetch failed
  SCT_2 = 0x41,               // context entry P clear
  SCT_3 = 0x42,               // reserved bits in context entry
  SCT_4 = 0x43,               // invalid context-entry programming (DTE/PRE/PASIDE not supported)
  SCT_5 = 0x44,               // translation request or translated request with DTE clear
  SCT_6 = 0x45,               // request with PASID and PASIDE clear
  SCT_7 = 0x46,               // PASID beyond the directory the context entry gives (PDTS)
  SCT_8 = 0x47,               // page request from a context with PRE clear
  SPD_1 = 0x50,               // PASID-directory fetch failed
  SPD_2 = 0x51,               // PASID-directory entry P clear
  SPD_3 = 0x52,               // reserved bits in PASID-directory entry
  SPT_1 = 0x58,               // PASID-table fetch failed
  SPT_2 = 0x59,               // PASID-table entry P clear
  SPT_3 = 0x5a,               // reserved bits in PASID-table entry
  SPT_4 = 0x5b,               // invalid PASID-table entry (PGTT, AW, FSPM not supported)
  SPT_6 = 0x5d,               // supervisor request, SRE clear
  SFS_1 = 0x70,               // first-stage entry fetch failed
  SFS_2 = 0x71,               // first-stage entry P clear
  SFS_3 = 0x72,               // reserved bits in first-stage entry
  SFS_4 = 0x73,               // first-stage root table (FSPTPTR) fetch failed
  SFS_5 = 0x74,               // nested: a first-stage table's GPA beyond the second-stage AGAW
  SFS_6 = 0x75,               // nested: second stage refuses reading the first-stage root table
  SFS_7 = 0x76,               // nested: second stage refuses reading a first-stage table
  SFS_10 = 0x91,              // first-stage A/D update failed
  SSS_1 = 0x78,               // second-stage entry fetch (or A/D update) failed
  SSS_2 = 0x79,               // second-stage entry with R = W = 0 (not present)
  SSS_3 = 0x7a,               // reserved bits in second-stage entry (PS where SLLPS has none too)
  SSS_4 = 0x7b,               // second-stage root table (SLPTPTR) fetch failed
  SGN_1 = 0x80,               // first-stage input address not canonical
  SGN_2 = 0x81,               // user request to a supervisor page (U/S)
  SGN_3 = 0x82,               // execute request to a non-executable page
  SGN_5 = 0x84,               // input address beyond the second-stage AGAW
  SGN_6 = 0x85,               // write without write permission
  SGN_7 = 0x86,               // read without read permission
};

}  // namespace iommusim::models::vtd
