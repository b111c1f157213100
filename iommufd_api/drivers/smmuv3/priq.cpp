// SPDX-License-Identifier: MIT
// The PRI queue (SMMUv3 spec §3.5, §8) and I/O page fault responses.
//
// A PCIe page request (a PRI queue record, §8.1) becomes an iopf_fault for
// the iommufd core: LAST_PAGE from PRG_LAST, PASID_VALID and the PASID from
// SSV/SSID, the access permissions, the page address, the PRG index as the
// group id and the StreamID in private_data[0] (a device may have several).
// The core groups requests up to the last one and hands the group to the
// fault queue; the answer comes back through page_response(), which sends
// CMD_PRI_RESP (§4.7.1) for the StreamID, SubstreamID and group, followed by
// a CMD_SYNC so the response has left the queue when it returns. A stalled
// transaction (evtq.cpp) is answered with CMD_RESUME instead.
//
// Linux 6.12 itself answers every page request with "deny" (PRI support was
// removed from arm-smmu-v3 before 6.12); this driver forwards them, as the
// SVA/PRI series for arm-smmu-v3 did, when the device enabled I/O page faults.
#include <algorithm>
#include <cinttypes>

#include "drivers/smmuv3/smmuv3_internal.h"

namespace iommusim::iommufd::smmuv3 {

void smmuv3_driver::priq_irq() {
  std::lock_guard g(priq_lock_);
  smmu_queue &q = *priq_;
  if (!q.base) return;
  uint64_t ent[64 * q::PRIQ_ENT_DWORDS];
  for (;;) {
    const uint32_t prod = bus_.readl(q.prod_reg);
    if (q.ovf(prod) != q.ovf(q.prod)) {
      // The SMMU answered the lost requests itself (§8.2).
      cnt_->priq_overflows.fetch_add(1, std::memory_order_relaxed);
      log("PRIQ overflow detected -- requests lost");
    }
    q.prod = prod;
    if (q.empty()) break;
    while (!q.empty()) {
      uint32_t n = q.wrp(q.prod) == q.wrp(q.cons) ? q.idx(q.prod) - q.idx(q.cons)
                                                   : (1u << q.log2) - q.idx(q.cons);
      n = std::min<uint32_t>(n, 64);
      bus_.mem_read(q.ent(q.cons), ent, size_t(n) * q::PRIQ_ENT_DWORDS * 8);
      for (uint32_t i = 0; i < n; i++) handle_ppr(&ent[i * q::PRIQ_ENT_DWORDS]);
      q.cons = q.inc(q.cons, n);
      bus_.writel(q.cons_reg, q.cons);
    }
  }
  if (q.ovf(q.prod) != q.ovf(q.cons)) {
    q.cons = q.ovf(q.prod) | (q.cons & q.ptr_mask());
    bus_.writel(q.cons_reg, q.cons);
  }
}

void smmuv3_driver::handle_ppr(const uint64_t e[2]) {
  const uint32_t sid = uint32_t(fget(priq::SID, e[0]));
  const bool ssv = e[0] & priq::SSID_V;
  const uint32_t ssid = ssv ? uint32_t(fget(priq::SSID, e[0])) : IOMMU_NO_PASID;
  const bool last = e[0] & priq::PRG_LAST;
  const uint16_t grpid = uint16_t(fget(priq::PRG_IDX, e[1]));
  cnt_->pri_requests.fetch_add(1, std::memory_order_relaxed);

  iopf_fault f;
  if (last) f.prm.flags |= IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
  if (ssv) {
    f.prm.flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
    f.prm.pasid = ssid;
  }
  if (e[0] & priq::PERM_READ) f.prm.perm |= IOMMU_FAULT_PERM_READ;
  if (e[0] & priq::PERM_WRITE) f.prm.perm |= IOMMU_FAULT_PERM_WRITE;
  if (e[0] & priq::PERM_EXEC) f.prm.perm |= IOMMU_FAULT_PERM_EXEC;
  if (e[0] & priq::PERM_PRIV) f.prm.perm |= IOMMU_FAULT_PERM_PRIV;
  f.prm.grpid = grpid;
  f.prm.addr = e[1] & priq::ADDR_MASK;
  f.prm.private_data[0] = sid;
  f.prm.private_data[1] = FAULT_SRC_PRI;

  std::lock_guard g(streams_mutex_);
  smmu_master *m = find_master(sid);
  if (m && m->iopf_enabled) {
    iommu_report_device_fault(*m->dev, f);
    return;
  }
  log("unexpected PRI request received: sid %#x.%#x: [%u%s] %sprivileged %s%s%s access at iova "
      "%#" PRIx64,
      sid, ssid, grpid, last ? "L" : "", (e[0] & priq::PERM_PRIV) ? "" : "un",
      (e[0] & priq::PERM_READ) ? "R" : "", (e[0] & priq::PERM_WRITE) ? "W" : "",
      (e[0] & priq::PERM_EXEC) ? "X" : "", f.prm.addr);
  if (last) {
    // Nobody handles faults for this stream: deny the group, as Linux does.
    uint64_t c[2];
    cmd_pri_resp(c, sid, ssv, ssid, grpid, cmd::PRI_RESP_DENY);
    cmdq_issue_one(c, true);
  }
}

void smmuv3_driver::page_response(device &dev, const iopf_fault &evt,
                                  const iommu_page_response &msg) {
  smmu_master *m = dev_to_master(dev);
  if (!m || m->smmu != this || m->sids.empty()) return;
  uint32_t sid = uint32_t(evt.prm.private_data[0]);
  if (std::find(m->sids.begin(), m->sids.end(), sid) == m->sids.end()) sid = m->sids[0];
  uint64_t c[2];
  if (evt.prm.private_data[1] == FAULT_SRC_STALL) {
    // Retry the stalled transaction, or abort it (§4.7.2 CMD_RESUME).
    const unsigned resp = msg.code == iommu_page_response_code::success ? cmd::RESUME_RETRY
                                                                         : cmd::RESUME_ABORT;
    cmd_resume(c, sid, uint16_t(msg.grpid), resp);
    // No CMD_SYNC: consuming RESUME is all the SMMU promises (as Linux).
    cmdq_issue_one(c, false);
    return;
  }
  unsigned resp;
  switch (msg.code) {
    case iommu_page_response_code::success: resp = cmd::PRI_RESP_SUCC; break;
    case iommu_page_response_code::invalid: resp = cmd::PRI_RESP_DENY; break;
    default: resp = cmd::PRI_RESP_FAIL; break;
  }
  const bool ssv = evt.prm.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
  cmd_pri_resp(c, sid, ssv, ssv ? msg.pasid : 0, uint16_t(msg.grpid), resp);
  cmdq_issue_one(c, true);
}

int smmuv3_driver::dev_enable_iopf(device &dev) {
  smmu_master *m = dev_to_master(dev);
  if (!m || m->smmu != this) return -ENODEV;
  // Stall (a master the SMMU stalls, one StreamID so a fault names it) or
  // PRI (a PCIe device with the PRI capability and an SMMU with a PRI queue).
  const bool stall = m->stall_enabled && (features_ & FEAT_STALLS) && m->sids.size() == 1;
  const bool pri = dev.pri_capable && (features_ & FEAT_PRI);
  if (!stall && !pri) return -EINVAL;
  if (m->iopf_enabled) return -EBUSY;
  m->iopf_enabled = true;
  return 0;
}

void smmuv3_driver::dev_disable_iopf(device &dev) {
  smmu_master *m = dev_to_master(dev);
  if (m && m->smmu == this) m->iopf_enabled = false;
}

}  // namespace iommusim::iommufd::smmuv3
