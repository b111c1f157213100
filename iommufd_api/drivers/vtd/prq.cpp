// SPDX-License-Identifier: MIT
// The page request queue and page group responses (VT-d §7.5, §6.5.2.10;
// Linux's prq.c).
//
// A PCIe page request (a 256-bit PRQ descriptor, §7.5.1.1) becomes an
// iopf_fault for the iommufd core: LAST_PAGE from LPIG, PASID_VALID (and
// NEEDS_PASID: a PASID request is answered with its PASID) and the PASID,
// the access permissions, the page address, the page request group index
// as the group id and the requester ID in private_data[0]. The core groups
// requests up to the last one and hands the group to the fault queue; the
// answer comes back through page_response(), which queues a page group
// response descriptor (and an invalidation wait). Malformed requests, and
// requests from unknown requesters, are answered Invalid when they end a
// group, as Linux does.
//
// Linux 6.12 also rejects every request without PASID; later kernels accept
// them (they are how iommufd's fault queues see faults on a RID), and so does
// this driver.
#include <cerrno>
#include <cinttypes>
#include <vector>

#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

namespace {
// 4-level first-stage canonical addresses (Linux's __VIRTUAL_MASK_SHIFT = 47).
bool is_canonical_address(uint64_t addr) {
  return uint64_t(int64_t(addr << 16) >> 16) == addr;
}
}  // namespace

int vtd_driver::prq_enable() {
  const uint64_t bytes = 4096ULL << prq::ORDER;
  prq_ = bus_.dma_alloc(bytes, bytes);
  if (!prq_) {
    log("Failed to allocate page request queue");
    return -ENOMEM;
  }
  if (int rc = bus_.request_irq(cfg_.irq_prq, [this] { prq_irq(); })) {
    log("Failed to request IRQ for page request queue");
    bus_.dma_free(prq_, bytes);
    prq_ = 0;
    return rc;
  }
  irqs_.push_back(cfg_.irq_prq);
  std::lock_guard g(register_lock_);
  bus_.writeq(reg(reg::PQH), 0);
  bus_.writeq(reg(reg::PQT), 0);
  bus_.writeq(reg(reg::PQA), prq_ | prq::ORDER);
  // The page request event is an MSI (§7.5.4): data, address, unmask.
  const uint64_t doorbell = bus_.msi_doorbell(cfg_.irq_prq);
  bus_.writel(reg(reg::PEDATA), cfg_.irq_prq);
  bus_.writel(reg(reg::PEADDR), uint32_t(doorbell));
  bus_.writel(reg(reg::PEUADDR), uint32_t(doorbell >> 32));
  bus_.writel(reg(reg::PECTL), 0);
  bus_.readl(reg(reg::PECTL));
  return 0;
}

void vtd_driver::prq_finish() {
  if (!prq_) return;
  bus_.writeq(reg(reg::PQH), 0);
  bus_.writeq(reg(reg::PQT), 0);
  bus_.writeq(reg(reg::PQA), 0);
  for (auto it = irqs_.begin(); it != irqs_.end(); ++it)
    if (*it == cfg_.irq_prq) {
      bus_.free_irq(*it);
      irqs_.erase(it);
      break;
    }
  bus_.dma_free(prq_, 4096ULL << prq::ORDER);
  prq_ = 0;
}

void vtd_driver::handle_bad_prq_event(uint64_t q0, uint64_t q1, unsigned result) {
  log("Invalid page request: %08" PRIx64 " %08" PRIx64, q0, q1);
  if (!prq::lpig(q1)) return;
  qi_desc d;
  d.qw0 = (uint64_t(prq::pasid(q0)) << 32) | (uint64_t(prq::rid(q0)) << 16) |
          (uint64_t(prq::pasid_present(q0)) << 4) | (uint64_t(result) << 12) |
          qi::PGRP_RESP_TYPE;
  d.qw1 = (uint64_t(prq::prg_index(q1)) << 3) | (uint64_t(prq::lpig(q1)) << 2);
  qi_submit_sync(&d, 1);
}

// The IRQ thread's handler. Lock order: prq_lock_, then the core's group
// lock (reporting), then the invalidation queue.
void vtd_driver::prq_irq() {
  std::lock_guard g(prq_lock_);
  prq_handle_locked();
}

// Linux's prq_event_thread.
void vtd_driver::prq_handle_locked() {
  if (!prq_) return;
  bus_.writel(reg(reg::PRS), PRS_PPR);
  const uint64_t tail = bus_.readq(reg(reg::PQT)) & prq::RING_MASK;
  uint64_t head = bus_.readq(reg(reg::PQH)) & prq::RING_MASK;
  while (head != tail) {
    uint64_t req[4];
    bus_.mem_read(prq_ + head, req, sizeof(req));
    const uint64_t q0 = req[0], q1 = req[1];
    head = (head + prq::DESC_SIZE) & prq::RING_MASK;
    cnt_->prq_requests.fetch_add(1, std::memory_order_relaxed);
    const uint64_t address = prq::addr(q1);
    if (!is_canonical_address(address)) {
      log("Address is not canonical");
      handle_bad_prq_event(q0, q1, qi::RESP_INVALID);
      continue;
    }
    if (prq::pm_req(q0) && (prq::rd_req(q1) || prq::wr_req(q1))) {
      log("Page request in Privilege Mode");
      handle_bad_prq_event(q0, q1, qi::RESP_INVALID);
      continue;
    }
    if (prq::exe_req(q0) && prq::rd_req(q1)) {
      log("Execution request not supported");
      handle_bad_prq_event(q0, q1, qi::RESP_INVALID);
      continue;
    }
    // A group end without an access: a "stop marker", nothing to answer.
    if (prq::lpig(q1) && !prq::rd_req(q1) && !prq::wr_req(q1)) continue;
    device_info *info = find_rid(prq::rid(q0));
    if (!info) {
      handle_bad_prq_event(q0, q1, qi::RESP_INVALID);
      continue;
    }
    iopf_fault f;
    f.prm.addr = address;
    f.prm.pasid = prq::pasid(q0);
    f.prm.grpid = prq::prg_index(q1);
    if (prq::rd_req(q1)) f.prm.perm |= IOMMU_FAULT_PERM_READ;
    if (prq::wr_req(q1)) f.prm.perm |= IOMMU_FAULT_PERM_WRITE;
    if (prq::exe_req(q0)) f.prm.perm |= IOMMU_FAULT_PERM_EXEC;
    if (prq::pm_req(q0)) f.prm.perm |= IOMMU_FAULT_PERM_PRIV;
    if (prq::lpig(q1)) f.prm.flags |= IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
    if (prq::pasid_present(q0))
      f.prm.flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID | IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID;
    f.prm.private_data[0] = prq::rid(q0);
    iommu_report_device_fault(*info->dev, f);
  }
  bus_.writeq(reg(reg::PQH), tail);
  if (bus_.readl(reg(reg::PRS)) & PRS_PRO) {
    cnt_->prq_overflows.fetch_add(1, std::memory_order_relaxed);
    log("PRQ overflow detected");
    const uint64_t h = bus_.readq(reg(reg::PQH)) & prq::RING_MASK;
    const uint64_t t = bus_.readq(reg(reg::PQT)) & prq::RING_MASK;
    if (h == t) {
      bus_.writel(reg(reg::PRS), PRS_PRO);
      log("PRQ overflow cleared");
    }
  }
}

// Before a PASID entry is reused: let the requests of that PASID still in
// the queue be handled, then drain the device's in-flight requests with a
// fenced wait, an IOTLB and a device-TLB invalidation and a wait with PRQ
// drain (§7.10; Linux's intel_iommu_drain_pasid_prq).
//
// Linux waits for its PRQ thread; here the wait is bounded and takes no PRQ
// lock: the caller (an attach/detach) holds the core's group lock, which the
// IRQ thread needs to report a request, so waiting on it could deadlock.
void vtd_driver::prq_drain_pasid(device_info &info, uint32_t pasid_v) {
  if (!info.pri_enabled || !prq_) return;
  const uint16_t sid = info.rid();
  const uint16_t did = info.domain ? info.domain->did : FLPT_DEFAULT_DID;
  auto pending = [&] {
    const uint64_t tail = bus_.readq(reg(reg::PQT)) & prq::RING_MASK;
    uint64_t head = bus_.readq(reg(reg::PQH)) & prq::RING_MASK;
    for (; head != tail; head = (head + prq::DESC_SIZE) & prq::RING_MASK) {
      const uint64_t q0 = bus_.mem_read64(prq_ + head);
      if (prq::pasid_present(q0) && prq::pasid(q0) == pasid_v) return true;
    }
    return false;
  };
  for (int i = 0; i < 100 && pending(); i++) bus_.delay_ns(10000);
  qi_desc desc[3];
  desc[0].qw0 = (uint64_t(qi::DONE) << 32) | qi::IWD_FENCE | qi::IWD_TYPE;
  if (pasid_v == IOMMU_NO_PASID)
    desc[1] = desc_iotlb(did, 0, 0, qi::IOTLB_GRAN_DSI);
  else
    desc[1] = desc_piotlb(did, pasid_v, 0, NPAGES_ALL, false);
  desc[2] = desc_dev_iotlb(sid, info.pfsid, info.ats_qdep, 0, MAX_AGAW_PFN_WIDTH);
  for (int tries = 0; tries < 16; tries++) {
    qi_submit_sync(desc, 3, true);
    // Requests dropped while the queue was full: the drain goes again once
    // the IRQ thread has made room (and cleared PRS.PRO).
    if (!(bus_.readl(reg(reg::PRS)) & PRS_PRO)) return;
    bus_.delay_ns(10000);
  }
}

// Linux's intel_iommu_page_response: a page group response (§6.5.2.10).
void vtd_driver::page_response(device &dev, const iopf_fault &evt,
                               const iommu_page_response &msg) {
  device_info *info = dev_to_info(dev);
  if (!info || info->iommu != this) return;
  uint16_t sid = info->rid();
  for (uint16_t r : info->rids)
    if (r == evt.prm.private_data[0]) sid = r;
  const bool pasid_present = evt.prm.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
  const bool last_page = evt.prm.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE;
  unsigned code;
  switch (msg.code) {
    case iommu_page_response_code::success: code = qi::RESP_SUCCESS; break;
    case iommu_page_response_code::invalid: code = qi::RESP_INVALID; break;
    default: code = qi::RESP_FAILURE; break;
  }
  qi_desc d;
  d.qw0 = (uint64_t(evt.prm.pasid) << 32) | (uint64_t(sid) << 16) |
          (uint64_t(pasid_present) << 4) | (uint64_t(code) << 12) | qi::PGRP_RESP_TYPE;
  d.qw1 = (uint64_t(evt.prm.grpid & 0x1ff) << 3) | (uint64_t(last_page) << 2);
  qi_submit_sync(&d, 1);
}

}  // namespace iommusim::iommufd::vtd
