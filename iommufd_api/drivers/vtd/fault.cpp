// SPDX-License-Identifier: MIT
// Primary fault logging (VT-d §7.2, fault recording registers §11.4.14;
// Linux's dmar_fault, dmar_fault_do_one and the fault reason tables of
// dmar.c).
//
// The fault event interrupt says FSTS.PPF: the records from FSTS.FRI on are
// read (the dword holding F first), cleared by writing F back, decoded and
// logged with the reason's name, until a record without F. Then PFO, PPF
// and PRO are cleared. VT-d reports no recoverable fault through this path
// (recoverable faults are page requests: prq.cpp), so nothing here goes to
// iommufd; the records are kept for recent_faults().
#include <cinttypes>
#include <iterator>
#include <mutex>

#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

namespace {
const char *const dma_remap_fault_reasons[] = {
    "Software",
    "Present bit in root entry is clear",
    "Present bit in context entry is clear",
    "Invalid context entry",
    "Access beyond MGAW",
    "PTE Write access is not set",
    "PTE Read access is not set",
    "Next page table ptr is invalid",
    "Root table address invalid",
    "Context table ptr is invalid",
    "non-zero reserved fields in RTP",
    "non-zero reserved fields in CTP",
    "non-zero reserved fields in PTE",
    "PCE for translation request specifies blocking",
};
const char *const irq_remap_fault_reasons[] = {
    "Detected reserved fields in the decoded interrupt-remapped request",
    "Interrupt index exceeded the interrupt-remapping table size",
    "Present field in the IRTE entry is clear",
    "Error accessing interrupt-remapping table pointed by IRTA_REG",
    "Detected reserved fields in the IRTE entry",
    "Blocked a compatibility format interrupt request",
    "Blocked an interrupt request due to source-id verification failure",
};
// Scalable-mode reasons from 0x30 (VT-d Appendix A).
const char *const sm_fault_reasons[] = {
    "SM: Invalid Root Table Address",
    "SM: TTM 0 for request with PASID",
    "SM: TTM 0 for page group request",
    "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", /* 0x33-0x37 */
    "SM: Error attempting to access Root Entry",
    "SM: Present bit in Root Entry is clear",
    "SM: Non-zero reserved field set in Root Entry",
    "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", /* 0x3B-0x3F */
    "SM: Error attempting to access Context Entry",
    "SM: Present bit in Context Entry is clear",
    "SM: Non-zero reserved field set in the Context Entry",
    "SM: Invalid Context Entry",
    "SM: DTE field in Context Entry is clear",
    "SM: PASID Enable field in Context Entry is clear",
    "SM: PASID is larger than the max in Context Entry",
    "SM: PRE field in Context-Entry is clear",
    "SM: RID_PASID field error in Context-Entry",
    "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", /* 0x49-0x4F */
    "SM: Error attempting to access the PASID Directory Entry",
    "SM: Present bit in Directory Entry is clear",
    "SM: Non-zero reserved field set in PASID Directory Entry",
    "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", /* 0x53-0x57 */
    "SM: Error attempting to access PASID Table Entry",
    "SM: Present bit in PASID Table Entry is clear",
    "SM: Non-zero reserved field set in PASID Table Entry",
    "SM: Invalid Scalable-Mode PASID Table Entry",
    "SM: ERE field is clear in PASID Table Entry",
    "SM: SRE field is clear in PASID Table Entry",
    "Unknown", "Unknown", /* 0x5E-0x5F */
    "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown",
    "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown",
    "SM: Error attempting to access first-level paging entry",
    "SM: Present bit in first-level paging entry is clear",
    "SM: Non-zero reserved field set in first-level paging entry",
    "SM: Error attempting to access FL-PML4 entry",
    "SM: First-level entry address beyond MGAW in Nested translation",
    "SM: Read permission error in FL-PML4 entry in Nested translation",
    "SM: Read permission error in first-level paging entry in Nested translation",
    "SM: Write permission error in first-level paging entry in Nested translation",
    "SM: Error attempting to access second-level paging entry",
    "SM: Read/Write permission error in second-level paging entry",
    "SM: Non-zero reserved field set in second-level paging entry",
    "SM: Invalid second-level page table pointer",
    "SM: A/D bit update needed in second-level entry when set up in no snoop",
    "Unknown", "Unknown", "Unknown", /* 0x7D-0x7F */
    "SM: Address in first-level translation is not canonical",
    "SM: U/S set 0 for first-level translation with user privilege",
    "SM: No execute permission for request with PASID and ER=1",
    "SM: Address beyond the DMA hardware max",
    "SM: Second-level entry address beyond the max",
    "SM: No write permission for Write/AtomicOp request",
    "SM: No read permission for Read/AtomicOp request",
    "SM: Invalid address-interrupt address",
    "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown", "Unknown",
    "SM: A/D bit update needed in first-level entry when set up in no snoop",
};
}  // namespace

const char *fault_reason_name(uint8_t r) {
  if (r >= 0x20 && r - 0x20u < std::size(irq_remap_fault_reasons))
    return irq_remap_fault_reasons[r - 0x20];
  if (r >= 0x30 && r - 0x30u < std::size(sm_fault_reasons)) return sm_fault_reasons[r - 0x30];
  if (r < std::size(dma_remap_fault_reasons)) return dma_remap_fault_reasons[r];
  return "Unknown";
}

void vtd_driver::fault_irq() {
  std::unique_lock g(register_lock_);
  const uint32_t status = bus_.readl(reg(reg::FSTS));
  if (status) log("DRHD: handling fault status reg %x", status);
  if (!(status & fsts::PPF)) return;
  if (status & fsts::PFO) cnt_->fault_overflows.fetch_add(1, std::memory_order_relaxed);
  unsigned index = fsts::fri(status);
  const uint64_t base = reg(cap::fault_reg_offset(cap_));
  const unsigned nfr = cap::num_fault_regs(cap_);
  for (unsigned n = 0; n < nfr; n++) {
    const uint64_t rec = base + index * uint64_t(frcd::LEN);
    const uint32_t hi = bus_.readl(rec + 12);
    if (!(hi & frcd::F)) break;
    fault_record f;
    f.reason = uint8_t(hi & 0xff);
    f.read = (hi >> 30) & 1;
    f.pasid = (hi >> 8) & 0xfffff;
    const uint32_t data = bus_.readl(rec + 8);
    f.source_id = uint16_t(data & 0xffff);
    f.pasid_present = (data >> 31) & 1;
    f.raw[0] = bus_.readq(rec);
    f.raw[1] = uint64_t(data) | (uint64_t(hi) << 32);
    f.addr = f.raw[0] & ~0xfffULL;
    bus_.writel(rec + 12, frcd::F);  // clear the record
    g.unlock();
    const char *what = fault_reason_name(f.reason);
    const bool irq = f.reason >= 0x20 && f.reason < 0x27;
    if (irq) {
      log("[INTR-REMAP] Request device [%02x:%02x.%d] fault index %#" PRIx64
          " [fault reason %#04x] %s",
          f.source_id >> 8, (f.source_id >> 3) & 0x1f, f.source_id & 7, f.raw[0] >> 48,
          f.reason, what);
    } else if (!f.pasid_present) {
      log("[%s NO_PASID] Request device [%02x:%02x.%d] fault addr %#" PRIx64
          " [fault reason %#04x] %s",
          f.read ? "DMA Read" : "DMA Write", f.source_id >> 8, (f.source_id >> 3) & 0x1f,
          f.source_id & 7, f.addr, f.reason, what);
    } else {
      log("[%s PASID %#x] Request device [%02x:%02x.%d] fault addr %#" PRIx64
          " [fault reason %#04x] %s",
          f.read ? "DMA Read" : "DMA Write", f.pasid, f.source_id >> 8,
          (f.source_id >> 3) & 0x1f, f.source_id & 7, f.addr, f.reason, what);
    }
    cnt_->faults.fetch_add(1, std::memory_order_relaxed);
    faults_.push(f);
    if (++index >= nfr) index = 0;
    g.lock();
  }
  bus_.writel(reg(reg::FSTS), fsts::PFO | fsts::PPF | fsts::PRO);
}

}  // namespace iommusim::iommufd::vtd
