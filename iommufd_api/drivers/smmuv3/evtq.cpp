// SPDX-License-Identifier: MIT
// The event queue (SMMUv3 spec §3.5, §7.2-7.3) and global errors (§7.1).
//
// The EVTQ interrupt handler drains records from CONS to PROD, logs and counts
// them and keeps the last ones for inspection. A translation-related fault of
// a stalled transaction (STALL=1, §3.12.2) is an I/O page fault: it goes to
// the iommufd core with iommu_report_device_fault() and is answered by
// CMD_RESUME from page_response() (priq.cpp). Overflow (PROD.OVFLG !=
// CONS.OVACKFLG) is reported and acknowledged once the queue is drained.
//
// The GERROR handler reports every active error (GERROR ^ GERRORN), recovers
// the command queue from CMDQ_ERR (cmdq.cpp), disables the SMMU on Service
// Failure Mode and acknowledges by writing GERROR into GERRORN.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "drivers/smmuv3/smmuv3_internal.h"

namespace iommusim::iommufd::smmuv3 {

namespace {

const char *event_name(unsigned id) {
  switch (id) {
    case evt::F_UUT: return "F_UUT";
    case evt::C_BAD_STREAMID: return "C_BAD_STREAMID";
    case evt::F_STE_FETCH: return "F_STE_FETCH";
    case evt::C_BAD_STE: return "C_BAD_STE";
    case evt::F_BAD_ATS_TREQ: return "F_BAD_ATS_TREQ";
    case evt::F_STREAM_DISABLED: return "F_STREAM_DISABLED";
    case evt::F_TRANSL_FORBIDDEN: return "F_TRANSL_FORBIDDEN";
    case evt::C_BAD_SUBSTREAMID: return "C_BAD_SUBSTREAMID";
    case evt::F_CD_FETCH: return "F_CD_FETCH";
    case evt::C_BAD_CD: return "C_BAD_CD";
    case evt::F_WALK_EABT: return "F_WALK_EABT";
    case evt::F_TRANSLATION: return "F_TRANSLATION";
    case evt::F_ADDR_SIZE: return "F_ADDR_SIZE";
    case evt::F_ACCESS: return "F_ACCESS";
    case evt::F_PERMISSION: return "F_PERMISSION";
    case evt::F_TLB_CONFLICT: return "F_TLB_CONFLICT";
    case evt::F_CFG_CONFLICT: return "F_CFG_CONFLICT";
    case evt::E_PAGE_REQUEST: return "E_PAGE_REQUEST";
    case evt::F_VMS_FETCH: return "F_VMS_FETCH";
    default: return "unknown";
  }
}
}  // namespace

void smmuv3_driver::evtq_irq() {
  std::lock_guard g(evtq_lock_);
  smmu_queue &q = *evtq_;
  if (!q.base) return;
  uint64_t ent[64 * q::EVTQ_ENT_DWORDS];
  for (;;) {
    const uint32_t prod = bus_.readl(q.prod_reg);
    if (q.ovf(prod) != q.ovf(q.prod)) {
      cnt_->evtq_overflows.fetch_add(1, std::memory_order_relaxed);
      log("EVTQ overflow detected -- events lost");
    }
    q.prod = prod;
    if (q.empty()) break;
    while (!q.empty()) {
      // Contiguous records up to PROD or the end of the ring, at most 64.
      uint32_t n = q.wrp(q.prod) == q.wrp(q.cons) ? q.idx(q.prod) - q.idx(q.cons)
                                                   : (1u << q.log2) - q.idx(q.cons);
      n = std::min<uint32_t>(n, 64);
      bus_.mem_read(q.ent(q.cons), ent, size_t(n) * q::EVTQ_ENT_DWORDS * 8);
      for (uint32_t i = 0; i < n; i++) handle_event(&ent[i * q::EVTQ_ENT_DWORDS]);
      q.cons = q.inc(q.cons, n);
      bus_.writel(q.cons_reg, q.cons);  // the SMMU may reuse the slots
    }
  }
  // Drained: acknowledge an overflow (§3.5.3).
  if (q.ovf(q.prod) != q.ovf(q.cons)) {
    q.cons = q.ovf(q.prod) | (q.cons & q.ptr_mask());
    bus_.writel(q.cons_reg, q.cons);
  }
}

void smmuv3_driver::handle_event(const uint64_t e[4]) {
  event_record r;
  r.id = uint8_t(fget(evt::ID, e[0]));
  r.sid = uint32_t(fget(evt::SID, e[0]));
  r.ssv = e[0] & evt::SSV;
  r.ssid = r.ssv ? uint32_t(fget(evt::SSID, e[0])) : 0;
  r.stall = e[1] & evt::STALL;
  r.addr = e[2];
  for (int i = 0; i < 4; i++) r.raw[i] = e[i];
  cnt_->events.fetch_add(1, std::memory_order_relaxed);
  events_.push(r);

  const bool fault = r.id == evt::F_TRANSLATION || r.id == evt::F_ADDR_SIZE ||
                     r.id == evt::F_ACCESS || r.id == evt::F_PERMISSION;
  if (fault && r.stall) {
    // A stalled transaction waits for CMD_RESUME: hand it to the fault path.
    iopf_fault f;
    f.prm.flags = IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
    f.prm.perm = (e[1] & evt::RnW) ? IOMMU_FAULT_PERM_READ : IOMMU_FAULT_PERM_WRITE;
    if (e[1] & evt::InD) f.prm.perm |= IOMMU_FAULT_PERM_EXEC;
    if (e[1] & evt::PnU) f.prm.perm |= IOMMU_FAULT_PERM_PRIV;
    f.prm.grpid = uint32_t(fget(evt::STAG, e[1]));
    f.prm.addr = e[2];
    if (r.ssv) {
      f.prm.flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
      f.prm.pasid = r.ssid;
    }
    f.prm.private_data[0] = r.sid;
    f.prm.private_data[1] = FAULT_SRC_STALL;
    std::lock_guard g(streams_mutex_);
    smmu_master *m = find_master(r.sid);
    if (m && m->iopf_enabled) {
      cnt_->stall_faults.fetch_add(1, std::memory_order_relaxed);
      iommu_report_device_fault(*m->dev, f);
      return;
    }
    // Nobody will answer: terminate the transaction rather than leave it
    // stalled (Linux leaves it to the SMMU's stall timeout, if any).
    uint64_t c[2];
    cmd_resume(c, r.sid, uint16_t(f.prm.grpid), cmd::RESUME_ABORT);
    cmdq_issue_one(c, false);
  }
  char ssid[24] = "";
  if (r.ssv) snprintf(ssid, sizeof(ssid), " ssid %#x", r.ssid);
  log("event 0x%02x (%s) received: sid %#x%s addr %#" PRIx64
      " [%#018" PRIx64 " %#018" PRIx64 " %#018" PRIx64 " %#018" PRIx64 "]",
      r.id, event_name(r.id), r.sid, ssid, r.addr, e[0], e[1], e[2], e[3]);
}

void smmuv3_driver::gerror_irq() {
  std::lock_guard g(gerror_lock_);
  const uint32_t gerr = bus_.readl(reg(reg::GERROR));
  const uint32_t gerrn = bus_.readl(reg(reg::GERRORN));
  const uint32_t active = gerr ^ gerrn;
  if (!(active & gerror::ERR_MASK)) return;  // nothing pending
  cnt_->gerrors.fetch_add(1, std::memory_order_relaxed);
  log("unexpected global error reported (%#010x), this could be serious", active);
  if (active & gerror::SFM_ERR) {
    cnt_->sfm.fetch_add(1, std::memory_order_relaxed);
    log("device has entered Service Failure Mode!");
    disabled_.store(true);
    device_disable();
  }
  if (active & gerror::MSI_GERROR_ABT_ERR) log("GERROR MSI write aborted");
  if (active & gerror::MSI_PRIQ_ABT_ERR) log("PRIQ MSI write aborted");
  if (active & gerror::MSI_EVTQ_ABT_ERR) log("EVTQ MSI write aborted");
  if (active & gerror::MSI_CMDQ_ABT_ERR) log("CMDQ MSI write aborted");
  if (active & gerror::PRIQ_ABT_ERR) log("PRIQ write aborted -- events may have been lost");
  if (active & gerror::EVTQ_ABT_ERR) log("EVTQ write aborted -- events may have been lost");
  if (active & gerror::CMDQ_ERR) cmdq_skip_err();
  bus_.writel(reg(reg::GERRORN), gerr);
}

}  // namespace iommusim::iommufd::smmuv3
