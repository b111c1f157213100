// SPDX-License-Identifier: MIT
// Intel VT-d register offsets, capability fields, table entry and descriptor
// formats as the driver uses them (Intel VT-d architecture specification:
// §9 translation structure formats, §6.5.2 invalidation descriptors, §7.5
// page request descriptors, §11.4 register descriptions). The driver reads
// these layouts only; it never includes the model's headers.
#pragma once

#include <cstdint>

namespace iommusim::iommufd::vtd {

// Register offsets (§11.4, Table 47).
namespace reg {
inline constexpr uint64_t VER = 0x00, CAP = 0x08, ECAP = 0x10, GCMD = 0x18, GSTS = 0x1c,
                          RTADDR = 0x20, CCMD = 0x28, FSTS = 0x34, FECTL = 0x38, FEDATA = 0x3c,
                          FEADDR = 0x40, FEUADDR = 0x44, PMEN = 0x64, IQH = 0x80, IQT = 0x88,
                          IQA = 0x90, ICS = 0x9c, IQER = 0xb0, PQH = 0xc0, PQT = 0xc8, PQA = 0xd0,
                          PRS = 0xdc, PECTL = 0xe0, PEDATA = 0xe4, PEADDR = 0xe8, PEUADDR = 0xec;
}  // namespace reg

// Capability register (§11.4.2).
namespace cap {
constexpr unsigned nd(uint64_t c) { return unsigned(c & 7); }
constexpr uint64_t ndoms(uint64_t c) { return 1ULL << (4 + 2 * nd(c)); }
constexpr bool rwbf(uint64_t c) { return (c >> 4) & 1; }
constexpr bool caching_mode(uint64_t c) { return (c >> 7) & 1; }
constexpr unsigned sagaw(uint64_t c) { return unsigned((c >> 8) & 0x1f); }
constexpr unsigned mgaw(uint64_t c) { return unsigned((c >> 16) & 0x3f) + 1; }
constexpr uint64_t fault_reg_offset(uint64_t c) { return ((c >> 24) & 0x3ff) * 16; }
constexpr unsigned super_page_val(uint64_t c) { return unsigned((c >> 34) & 0xf); }  // SLLPS
constexpr bool pgsel_inv(uint64_t c) { return (c >> 39) & 1; }
constexpr unsigned num_fault_regs(uint64_t c) { return unsigned((c >> 40) & 0xff) + 1; }
constexpr unsigned max_amask_val(uint64_t c) { return unsigned((c >> 48) & 0x3f); }
constexpr bool write_drain(uint64_t c) { return (c >> 54) & 1; }
constexpr bool read_drain(uint64_t c) { return (c >> 55) & 1; }
constexpr bool fl1gp(uint64_t c) { return (c >> 56) & 1; }
constexpr bool fl5lp(uint64_t c) { return (c >> 60) & 1; }
constexpr bool esrtps(uint64_t c) { return (c >> 63) & 1; }
}  // namespace cap

// Extended capability register (§11.4.3).
namespace ecap {
constexpr bool coherent(uint64_t e) { return e & 1; }
constexpr bool qis(uint64_t e) { return (e >> 1) & 1; }
constexpr bool dev_iotlb(uint64_t e) { return (e >> 2) & 1; }
constexpr bool pass_through(uint64_t e) { return (e >> 6) & 1; }
constexpr bool sc(uint64_t e) { return (e >> 7) & 1; }
constexpr bool nest(uint64_t e) { return (e >> 26) & 1; }
constexpr bool prs(uint64_t e) { return (e >> 29) & 1; }
constexpr bool srs(uint64_t e) { return (e >> 31) & 1; }
constexpr bool eafs(uint64_t e) { return (e >> 34) & 1; }
constexpr unsigned pss(uint64_t e) { return unsigned((e >> 35) & 0x1f); }
constexpr bool pasid(uint64_t e) { return (e >> 40) & 1; }
constexpr bool dit(uint64_t e) { return (e >> 41) & 1; }
constexpr bool pds(uint64_t e) { return (e >> 42) & 1; }
constexpr bool smts(uint64_t e) { return (e >> 43) & 1; }
constexpr bool slads(uint64_t e) { return (e >> 45) & 1; }
constexpr bool slts(uint64_t e) { return (e >> 46) & 1; }
constexpr bool flts(uint64_t e) { return (e >> 47) & 1; }
constexpr bool smpwc(uint64_t e) { return (e >> 48) & 1; }
}  // namespace ecap

// Global command / status (§11.4.4, §11.4.5): the same bit in both.
namespace gcmd {
inline constexpr uint32_t TE = 1u << 31, SRTP = 1u << 30, WBF = 1u << 27, QIE = 1u << 26;
}
namespace gsts {
inline constexpr uint32_t TES = 1u << 31, RTPS = 1u << 30, WBFS = 1u << 27, QIES = 1u << 26;
}
// Root table address: translation table mode (§11.4.6).
inline constexpr uint64_t RTADDR_SMT = 1ULL << 10;

// Fault status / control (§11.4.9.1-2) and fault recording (§11.4.14).
namespace fsts {
inline constexpr uint32_t PFO = 1u << 0, PPF = 1u << 1, IQE = 1u << 4, ICE = 1u << 5,
                          ITE = 1u << 6, PRO = 1u << 7;
constexpr unsigned fri(uint32_t s) { return (s >> 8) & 0xff; }
}  // namespace fsts
inline constexpr uint32_t ECTL_IM = 1u << 31;  // FECTL / PECTL interrupt mask
namespace frcd {
inline constexpr uint32_t F = 1u << 31;  // in the dword at +12
inline constexpr unsigned LEN = 16;
}  // namespace frcd
// Register-based invalidation (§11.4.7 CCMD, §11.4.8 IOTLB_REG/IVA_REG at
// ECAP.IRO): granularities in bits 62:61 / 61:60, done when ICC / IVT clears.
namespace ccmd {
inline constexpr uint64_t ICC = 1ULL << 63;
constexpr uint64_t gran(uint64_t g) { return g << 61; }
}  // namespace ccmd
namespace iotlb_reg {
inline constexpr uint64_t IVT = 1ULL << 63, DR = 1ULL << 49, DW = 1ULL << 48;
constexpr uint64_t gran(uint64_t g) { return g << 60; }
constexpr unsigned iaig(uint64_t v) { return unsigned((v >> 57) & 3); }
}  // namespace iotlb_reg
namespace ecap {
constexpr uint64_t iotlb_offset(uint64_t e) { return ((e >> 8) & 0x3ff) * 16; }
}  // namespace ecap

// Invalidation queue error record (§11.4.9.9).
constexpr unsigned iqer_iqei(uint64_t r) { return unsigned(r & 0xf); }
constexpr uint16_t iqer_itesid(uint64_t r) { return uint16_t(r >> 32); }
constexpr uint16_t iqer_icesid(uint64_t r) { return uint16_t(r >> 48); }
// Invalidation queue address: 256-bit descriptors, queue size (§11.4.9.3).
inline constexpr uint64_t IQA_DW = 1ULL << 11;
// Page request status (§11.4.10.4).
inline constexpr uint32_t PRS_PPR = 1u << 0, PRS_PRO = 1u << 1;

// --- translation structures (§9) ---

// Second-stage paging entries (§9.8): R/W, PS (leaf above level 1), A/D with
// SSADS, SNP. Non-leaf entries carry R|W.
namespace pte {
inline constexpr uint64_t READ = 1ULL << 0, WRITE = 1ULL << 1, LARGE_PAGE = 1ULL << 7,
                          ACCESS = 1ULL << 8, DIRTY = 1ULL << 9, SNP = 1ULL << 11;
inline constexpr uint64_t ADDR_MASK = ((1ULL << 52) - 1) & ~0xfffULL;
inline constexpr bool present(uint64_t v) { return (v & 3) != 0; }
}  // namespace pte

// Root and context entries (§9.1-9.4), PASID directory/table entries
// (§9.5-9.6).
namespace ctx {
inline constexpr uint64_t PRESENT = 1ULL << 0;
inline constexpr unsigned TT_MULTI_LEVEL = 0, TT_DEV_IOTLB = 1, TT_PASS_THROUGH = 2;
// Scalable-mode context entry lo: DTE, PASIDE, PRE and the PASID directory size.
inline constexpr uint64_t SM_DTE = 1ULL << 2, SM_PASIDE = 1ULL << 3, SM_PRE = 1ULL << 4;
constexpr uint64_t pdts(unsigned pds) { return uint64_t(pds & 7) << 9; }
}  // namespace ctx
namespace pasid {
inline constexpr uint32_t PDE_SHIFT = 6;  // 64 PASID entries per table page
inline constexpr uint32_t PTE_MASK = 0x3f;
inline constexpr uint32_t MAX = 0x100000;
inline constexpr uint64_t PRESENT = 1ULL << 0, FPD = 1ULL << 1;
inline constexpr unsigned PGTT_FL_ONLY = 1, PGTT_SL_ONLY = 2, PGTT_NESTED = 3, PGTT_PT = 4;
inline constexpr uint64_t SSADE = 1ULL << 9;      // qword 0
inline constexpr uint64_t PWSNP = 1ULL << 23;     // qword 1 (bit 87)
inline constexpr uint64_t PGSNP = 1ULL << 24;     // qword 1 (bit 88)
inline constexpr uint64_t SRE = 1ULL << 0, WPE = 1ULL << 4, EAFE = 1ULL << 7;  // qword 2
constexpr unsigned pgtt(uint64_t q0) { return unsigned((q0 >> 6) & 7); }
constexpr uint16_t did(uint64_t q1) { return uint16_t(q1 & 0xffff); }
}  // namespace pasid
// The domain id of first-stage-only and pass-through PASID entries, and of
// legacy pass-through contexts (Linux's FLPT_DEFAULT_DID; VT-d §6.2.3.1).
inline constexpr uint16_t FLPT_DEFAULT_DID = 1;

// --- invalidation descriptors (§6.5.2) ---
namespace qi {
inline constexpr uint64_t CC_TYPE = 0x1, IOTLB_TYPE = 0x2, DIOTLB_TYPE = 0x3, IEC_TYPE = 0x4,
                          IWD_TYPE = 0x5, EIOTLB_TYPE = 0x6, PC_TYPE = 0x7, DEIOTLB_TYPE = 0x8,
                          PGRP_RESP_TYPE = 0x9;
// Granularities as written into the descriptors.
inline constexpr uint64_t CC_GRAN_GLOBAL = 1, CC_GRAN_DOMAIN = 2, CC_GRAN_DEVICE = 3;
inline constexpr uint64_t IOTLB_GRAN_GLOBAL = 1, IOTLB_GRAN_DSI = 2, IOTLB_GRAN_PSI = 3;
inline constexpr uint64_t PC_ALL_PASIDS = 0, PC_PASID_SEL = 1, PC_GLOBAL = 3;
inline constexpr uint64_t GRAN_NONG_PASID = 2, GRAN_PSI_PASID = 3;
// Invalidation wait (§6.5.2.8).
inline constexpr uint64_t IWD_STATUS_WRITE = 1ULL << 5, IWD_FENCE = 1ULL << 6,
                          IWD_PRQ_DRAIN = 1ULL << 7;
// Page group response codes (PCIe PRG Response, §6.5.2.10).
inline constexpr unsigned RESP_SUCCESS = 0x0, RESP_INVALID = 0x1, RESP_FAILURE = 0xf;
inline constexpr unsigned DEV_IOTLB_MAX_INVS = 32;
// Wait status words (Linux's QI_FREE .. QI_ABORT).
inline constexpr uint32_t FREE = 0, IN_USE = 1, DONE = 2, ABORT = 3;
}  // namespace qi

struct qi_desc {
  uint64_t qw0 = 0, qw1 = 0, qw2 = 0, qw3 = 0;
  bool operator==(const qi_desc &o) const {
    return qw0 == o.qw0 && qw1 == o.qw1 && qw2 == o.qw2 && qw3 == o.qw3;
  }
};

// --- page request descriptors (§7.5.1.1) ---
namespace prq {
inline constexpr unsigned ORDER = 4;  // 16 pages: Linux's PRQ_ORDER
inline constexpr uint64_t RING_MASK = (0x1000ULL << ORDER) - 0x20;
inline constexpr unsigned DESC_SIZE = 32;
constexpr bool pasid_present(uint64_t q0) { return (q0 >> 8) & 1; }
constexpr uint16_t rid(uint64_t q0) { return uint16_t(q0 >> 16); }
constexpr uint32_t pasid(uint64_t q0) { return uint32_t((q0 >> 32) & 0xfffff); }
constexpr bool exe_req(uint64_t q0) { return (q0 >> 52) & 1; }
constexpr bool pm_req(uint64_t q0) { return (q0 >> 53) & 1; }
constexpr bool rd_req(uint64_t q1) { return q1 & 1; }
constexpr bool wr_req(uint64_t q1) { return (q1 >> 1) & 1; }
constexpr bool lpig(uint64_t q1) { return (q1 >> 2) & 1; }
constexpr uint16_t prg_index(uint64_t q1) { return uint16_t((q1 >> 3) & 0x1ff); }
constexpr uint64_t addr(uint64_t q1) { return q1 & ~0xfffULL; }
}  // namespace prq

// Address widths: adjusted guest address width (AGAW) n means n + 2 levels
// and 30 + 9n bits (§3.6, CAP.SAGAW).
inline constexpr int agaw_to_level(int agaw) { return agaw + 2; }
inline constexpr int agaw_to_width(int agaw) { return 30 + agaw * 9 > 64 ? 64 : 30 + agaw * 9; }
inline constexpr int width_to_agaw(int width) { return (width - 30 + 8) / 9; }
inline constexpr unsigned level_to_offset_bits(int level) { return unsigned(level - 1) * 9; }
inline constexpr uint64_t level_size(int level) { return 1ULL << level_to_offset_bits(level); }
inline constexpr uint64_t level_mask(int level) { return ~0ULL << level_to_offset_bits(level); }
inline constexpr unsigned pfn_level_offset(uint64_t pfn, int level) {
  return unsigned(pfn >> level_to_offset_bits(level)) & 0x1ff;
}
inline constexpr unsigned MAX_AGAW_PFN_WIDTH = 64 - 12;
inline constexpr uint64_t lvl_to_nr_pages(int lvl) {
  const unsigned s = level_to_offset_bits(lvl);
  return 1ULL << (s < MAX_AGAW_PFN_WIDTH ? s : MAX_AGAW_PFN_WIDTH);
}

// The fault reason's name (§7.1.3 and Appendix A, as Linux's dmar.c lists them).
const char *fault_reason_name(uint8_t reason);

}  // namespace iommusim::iommufd::vtd
