// SPDX-License-Identifier: MIT
// Queued invalidation (VT-d §6.5.2, Linux's dmar.c qi_* and the qi_desc_*
// builders of iommu.h).
//
// The queue holds 256 descriptors: 128-bit ones, or 256-bit ones (IQA.DW)
// whenever the unit supports scalable mode (ECAP.SMTS), as Linux does even
// when legacy mode is forced. Every submission ends with an invalidation
// wait descriptor whose status write (QI_DONE) lands in a page of status
// words; the submitter polls its word. While it waits it checks FSTS for
// the queue errors (§6.5.2.10):
//  - IQE: a descriptor of ours at IQH is invalid: it is overwritten by our
//    wait descriptor (so the hardware completes the submission), IQE is
//    cleared and the submission fails with -EINVAL;
//  - ITE: a device-TLB invalidation timed out and the hardware aborted the
//    pending waits: ITE is cleared and the submission is repeated, unless
//    the timed-out requester (IQER.ITESID) is no device of ours (-ETIMEDOUT);
//  - ICE: an invalid completion from a device; cleared and logged.
// Unlike Linux's lock-free slot accounting, one submission at a time holds
// the queue until its wait completes (so the queue is empty at each start).
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <vector>

#include "drivers/vtd/vtd_internal.h"

namespace iommusim::iommufd::vtd {

namespace {
const char *qi_type_string(uint64_t type) {
  switch (type) {
    case qi::CC_TYPE: return "Context-cache Invalidation";
    case qi::IOTLB_TYPE: return "IOTLB Invalidation";
    case qi::DIOTLB_TYPE: return "Device-TLB Invalidation";
    case qi::IEC_TYPE: return "Interrupt Entry Cache Invalidation";
    case qi::IWD_TYPE: return "Invalidation Wait";
    case qi::EIOTLB_TYPE: return "PASID-based IOTLB Invalidation";
    case qi::PC_TYPE: return "PASID-cache Invalidation";
    case qi::DEIOTLB_TYPE: return "PASID-based Device-TLB Invalidation";
    case qi::PGRP_RESP_TYPE: return "Page Group Response";
    default: return "UNKNOWN";
  }
}
}  // namespace

int vtd_driver::qi_init() {
  // Start from a sane state: clear old faults, stop a queue someone else
  // left running (Linux's intel_iommu_init_qi).
  fault_irq();
  qi_disable();
  qi_desc_bytes_ = ecap::smts(ecap_) ? 8192 : 4096;
  qi_desc_ = bus_.dma_alloc(qi_desc_bytes_, qi_desc_bytes_);
  qi_status_ = qi_desc_ ? bus_.dma_alloc(4096, 4096) : 0;
  if (!qi_desc_ || !qi_status_) {
    log("failed to allocate the invalidation queue");
    return -ENOMEM;
  }
  qi_free_head_ = 0;
  uint64_t val = qi_desc_;
  // 256-bit descriptors and two pages (QS=1) with scalable mode (§11.4.9.3).
  if (ecap::smts(ecap_)) val |= IQA_DW | 1;
  std::lock_guard g(register_lock_);
  bus_.writel(reg(reg::IQT), 0);
  bus_.writeq(reg(reg::IQA), val);
  gcmd_ |= gcmd::QIE;
  return gcmd_sync(gcmd_, gsts::QIES, true);
}

void vtd_driver::qi_disable() {
  std::lock_guard g(register_lock_);
  if (!(bus_.readl(reg(reg::GSTS)) & gsts::QIES)) return;
  // Give the hardware a chance to finish what is queued.
  const uint64_t start = bus_.now_ps();
  while (bus_.readl(reg(reg::IQT)) != bus_.readl(reg(reg::IQH)) &&
         (bus_.now_ps() - start) / 1000 < POLL_TIMEOUT_NS)
    bus_.delay_ns(1000);
  gcmd_ &= ~gcmd::QIE;
  gcmd_sync(gcmd_, gsts::QIES, false);
}

void vtd_driver::qi_count(const qi_desc &d) {
  counters &c = *cnt_;
  c.descriptors.fetch_add(1, std::memory_order_relaxed);
  switch (d.qw0 & 0xf) {
    case qi::CC_TYPE: c.cc_inv.fetch_add(1, std::memory_order_relaxed); break;
    case qi::IOTLB_TYPE: c.iotlb_inv.fetch_add(1, std::memory_order_relaxed); break;
    case qi::DIOTLB_TYPE:
    case qi::DEIOTLB_TYPE: c.devtlb_inv.fetch_add(1, std::memory_order_relaxed); break;
    case qi::EIOTLB_TYPE: c.piotlb_inv.fetch_add(1, std::memory_order_relaxed); break;
    case qi::PC_TYPE: c.pc_inv.fetch_add(1, std::memory_order_relaxed); break;
    case qi::IWD_TYPE: c.waits.fetch_add(1, std::memory_order_relaxed); break;
    case qi::PGRP_RESP_TYPE: c.prq_responses.fetch_add(1, std::memory_order_relaxed); break;
    default: break;
  }
}

int vtd_driver::qi_check_fault(unsigned index, unsigned wait_index) {
  const unsigned shift = qi_shift();
  const uint32_t fault = bus_.readl(reg(reg::FSTS));
  if (fault & (fsts::IQE | fsts::ITE | fsts::ICE)) {
    const uint32_t head = bus_.readl(reg(reg::IQH));
    const uint64_t iqer = bus_.readq(reg(reg::IQER));
    qi_desc d;
    bus_.mem_read(qi_desc_ + ((head >> shift) % QI_LENGTH << shift), &d, 16);
    if (fault & fsts::IQE) log("VT-d detected Invalidation Queue Error: Reason %x", iqer_iqei(iqer));
    if (fault & fsts::ITE) log("VT-d detected Invalidation Time-out Error: SID %x", iqer_itesid(iqer));
    if (fault & fsts::ICE) log("VT-d detected Invalidation Completion Error: SID %x", iqer_icesid(iqer));
    log("QI HEAD: %s qw0 = %#" PRIx64 ", qw1 = %#" PRIx64, qi_type_string(d.qw0 & 0xf), d.qw0,
        d.qw1);
  }
  if (fault & fsts::IQE) {
    // The hardware stopped at the bad descriptor. If it is one of ours,
    // replace it by our wait descriptor so the submission completes.
    // (Linux only recognises the submission's first descriptor.)
    const unsigned head = (bus_.readl(reg(reg::IQH)) >> shift) % QI_LENGTH;
    const unsigned n = (wait_index + QI_LENGTH - index) % QI_LENGTH;
    if ((head + QI_LENGTH - index) % QI_LENGTH < n) {
      std::vector<uint8_t> wait(1u << shift);
      bus_.mem_read(qi_desc_ + (uint64_t(wait_index) << shift), wait.data(), wait.size());
      bus_.mem_write(qi_desc_ + (uint64_t(head) << shift), wait.data(), wait.size());
      cnt_->iqe.fetch_add(1, std::memory_order_relaxed);
      bus_.writel(reg(reg::FSTS), fsts::IQE);
      log("Invalidation Queue Error (IQE) cleared");
      return -EINVAL;
    }
  }
  if (fault & fsts::ITE) {
    // Every pending wait was aborted (§6.5.2.10); ours too unless it wrote.
    const uint16_t ite_sid = iqer_itesid(bus_.readq(reg(reg::IQER)));
    cnt_->ite.fetch_add(1, std::memory_order_relaxed);
    bus_.writel(reg(reg::FSTS), fsts::ITE);
    log("Invalidation Time-out Error (ITE) cleared");
    // A device that is gone will not answer a retry either.
    if (ite_sid && !find_rid(ite_sid)) return -ETIMEDOUT;
    uint32_t st;
    bus_.mem_read(qi_status_ + wait_index * 4ULL, &st, 4);
    if (st != qi::DONE) return -EAGAIN;
  }
  if (fault & fsts::ICE) {
    cnt_->ice.fetch_add(1, std::memory_order_relaxed);
    bus_.writel(reg(reg::FSTS), fsts::ICE);
    log("Invalidation Completion Error (ICE) cleared");
  }
  return 0;
}

int vtd_driver::qi_submit_sync(const qi_desc *desc, unsigned count, bool wait_drain) {
  if (!qi_desc_) return 0;
  const unsigned shift = qi_shift();
  const unsigned dsz = 1u << shift;
  for (;;) {
    int rc = 0;
    {
      std::lock_guard g(qi_lock_);
      const unsigned index = qi_free_head_;
      const unsigned wait_index = (index + count) % QI_LENGTH;
      const uint64_t status = qi_status_ + wait_index * 4ULL;
      const uint32_t in_use = qi::IN_USE;
      bus_.mem_write(status, &in_use, 4);
      qi_desc wait;
      wait.qw0 = (uint64_t(qi::DONE) << 32) | qi::IWD_STATUS_WRITE | qi::IWD_TYPE;
      if (wait_drain) wait.qw0 |= qi::IWD_PRQ_DRAIN;
      wait.qw1 = status;
      // The descriptors and the wait, in at most two writes (the ring wraps).
      std::vector<uint8_t> buf(size_t(count + 1) * dsz);
      for (unsigned i = 0; i <= count; i++) {
        const qi_desc &d = i < count ? desc[i] : wait;
        memcpy(&buf[size_t(i) * dsz], &d, dsz);
        qi_count(d);
      }
      const unsigned first = std::min(count + 1, QI_LENGTH - index);
      bus_.mem_write(qi_desc_ + (uint64_t(index) << shift), buf.data(), size_t(first) * dsz);
      if (first < count + 1)
        bus_.mem_write(qi_desc_, &buf[size_t(first) * dsz], size_t(count + 1 - first) * dsz);
      qi_free_head_ = (index + count + 1) % QI_LENGTH;
      bus_.writel(reg(reg::IQT), qi_free_head_ << shift);

      const uint64_t start = bus_.now_ps();
      uint64_t interval = 20;
      for (;;) {
        if (bus_.poll_mem32(status, 0xffffffffu, qi::DONE, interval, interval * 16)) break;
        if ((rc = qi_check_fault(index, wait_index))) break;
        if ((bus_.now_ps() - start) / 1000 >= POLL_TIMEOUT_NS) {
          cnt_->wait_timeouts.fetch_add(1, std::memory_order_relaxed);
          log("invalidation wait did not complete (IQH %#x IQT %#x)",
              bus_.readl(reg(reg::IQH)), bus_.readl(reg(reg::IQT)));
          rc = -ETIMEDOUT;
          break;
        }
        interval = std::min<uint64_t>(interval * 2, 100000);
      }
    }
    if (rc != -EAGAIN) return rc;
  }
}

// --- descriptors (Linux's qi_desc_* and qi_flush_*) ---

qi_desc vtd_driver::desc_iotlb(uint16_t did, uint64_t addr, unsigned size_order,
                               uint64_t gran) const {
  const uint64_t dw = cap::write_drain(cap_) ? 1 : 0, dr = cap::read_drain(cap_) ? 1 : 0;
  const uint64_t ih = addr & 1;  // the invalidation hint rides in bit 0
  qi_desc d;
  d.qw0 = (uint64_t(did) << 16) | (dr << 7) | (dw << 6) | (gran << 4) | qi::IOTLB_TYPE;
  d.qw1 = (addr & ~0xfffULL) | (ih << 6) | (size_order & 0x3f);
  return d;
}

qi_desc vtd_driver::desc_dev_iotlb(uint16_t sid, uint16_t pfsid, uint16_t qdep, uint64_t addr,
                                   unsigned mask) {
  qi_desc d;
  if (mask) {
    // The size is the lowest clear address bit above bit 11 (§6.5.2.5).
    addr |= (1ULL << (12 + mask - 1)) - 1;
    d.qw1 = (addr & ~0xfffULL) | 1;
  } else {
    d.qw1 = addr & ~0xfffULL;
  }
  if (qdep >= qi::DEV_IOTLB_MAX_INVS) qdep = 0;
  d.qw0 = (uint64_t(sid) << 32) | (uint64_t(qdep & 0x1f) << 16) | qi::DIOTLB_TYPE |
          (uint64_t(pfsid & 0xf) << 12) | (uint64_t((pfsid >> 4) & 0xfff) << 52);
  return d;
}

qi_desc vtd_driver::desc_piotlb(uint16_t did, uint32_t pasid_v, uint64_t addr, uint64_t npages,
                                bool ih) {
  qi_desc d;
  if (npages == NPAGES_ALL) {
    d.qw0 = (uint64_t(pasid_v) << 32) | (uint64_t(did) << 16) | (qi::GRAN_NONG_PASID << 4) |
            qi::EIOTLB_TYPE;
    return d;
  }
  unsigned mask = 0;
  while ((1ULL << mask) < npages && mask < 63) mask++;
  // The address is aligned to the span (the whole space from mask 52 on).
  addr = 12 + mask >= 64 ? 0 : addr & ~((1ULL << (12 + mask)) - 1);
  d.qw0 = (uint64_t(pasid_v) << 32) | (uint64_t(did) << 16) | (qi::GRAN_PSI_PASID << 4) |
          qi::EIOTLB_TYPE;
  d.qw1 = (addr & ~0xfffULL) | (uint64_t(ih) << 6) | (mask & 0x3f);
  return d;
}

void vtd_driver::flush_context(uint16_t did, uint16_t sid, uint8_t fm, uint64_t gran) {
  if (!use_qi()) return reg_flush_context(did, sid, fm, gran);
  qi_desc d;
  d.qw0 = (uint64_t(fm & 3) << 48) | (uint64_t(sid) << 32) | (uint64_t(did) << 16) |
          (gran << 4) | qi::CC_TYPE;
  qi_submit_sync(&d, 1);
}

void vtd_driver::flush_iotlb(uint16_t did, uint64_t addr, unsigned size_order, uint64_t gran) {
  if (!use_qi()) return reg_flush_iotlb(did, addr, size_order, gran);
  const qi_desc d = desc_iotlb(did, addr, size_order, gran);
  qi_submit_sync(&d, 1);
}

void vtd_driver::flush_dev_iotlb(const device_info &info, uint64_t addr, unsigned mask) {
  // No device-TLB invalidation while translation is off (§4.3).
  if (!(gcmd_ & gcmd::TE)) return;
  const qi_desc d = desc_dev_iotlb(info.rid(), info.pfsid, info.ats_qdep, addr, mask);
  qi_submit_sync(&d, 1);
}

void vtd_driver::flush_piotlb(uint16_t did, uint32_t pasid_v, uint64_t addr, uint64_t npages,
                              bool ih) {
  if (!npages) return;
  const qi_desc d = desc_piotlb(did, pasid_v, addr, npages, ih);
  qi_submit_sync(&d, 1);
}

void vtd_driver::flush_pasid_cache(uint16_t did, uint64_t gran, uint32_t pasid_v) {
  qi_desc d;
  d.qw0 = (uint64_t(did) << 16) | (gran << 4) | (uint64_t(pasid_v) << 32) | qi::PC_TYPE;
  qi_submit_sync(&d, 1);
}

// --- register-based invalidation (§6.5.1) ---

// The 64-bit command registers complete when bit 63 clears: poll the upper
// dword (host_bus polls 32-bit words).
bool vtd_driver::poll_reg_bit63_clear(uint64_t off) {
  const uint64_t start = bus_.now_ps();
  uint64_t interval = 20;
  for (;;) {
    if (bus_.poll32(reg(off + 4), 1u << 31, 0, interval, interval * 16)) return true;
    if ((bus_.now_ps() - start) / 1000 >= POLL_TIMEOUT_NS) return false;
    interval = std::min<uint64_t>(interval * 2, 100000);
  }
}

void vtd_driver::reg_flush_context(uint16_t did, uint16_t sid, uint8_t fm, uint64_t gran) {
  uint64_t val = ccmd::gran(gran) | ccmd::ICC;
  if (gran == qi::CC_GRAN_DOMAIN) val |= did;
  if (gran == qi::CC_GRAN_DEVICE)
    val |= did | (uint64_t(sid) << 16) | (uint64_t(fm & 3) << 32);
  std::lock_guard g(register_lock_);
  cnt_->cc_inv.fetch_add(1, std::memory_order_relaxed);
  bus_.writeq(reg(reg::CCMD), val);
  if (!poll_reg_bit63_clear(reg::CCMD)) log("context-cache invalidation did not complete");
}

void vtd_driver::reg_flush_iotlb(uint16_t did, uint64_t addr, unsigned size_order,
                                 uint64_t gran) {
  const uint64_t tlb = ecap::iotlb_offset(ecap_);
  uint64_t val = iotlb_reg::gran(gran) | iotlb_reg::IVT, iva = 0;
  if (gran != qi::IOTLB_GRAN_GLOBAL) val |= uint64_t(did) << 32;
  if (gran == qi::IOTLB_GRAN_PSI) {
    // IVA: address, IH (bit 6; the hint rides in bit 0 of addr) and AM.
    iva = (addr & ~0xfffULL) | ((addr & 1) << 6) | (size_order & 0x3f);
  }
  if (cap::write_drain(cap_)) val |= iotlb_reg::DW;
  std::lock_guard g(register_lock_);
  cnt_->iotlb_inv.fetch_add(1, std::memory_order_relaxed);
  if (iva) bus_.writeq(reg(tlb), iva);
  bus_.writeq(reg(tlb + 8), val);
  if (!poll_reg_bit63_clear(tlb + 8)) {
    log("IOTLB invalidation did not complete");
    return;
  }
  if (iotlb_reg::iaig(bus_.readq(reg(tlb + 8))) == 0) log("Flush IOTLB failed");
}

}  // namespace iommusim::iommufd::vtd
