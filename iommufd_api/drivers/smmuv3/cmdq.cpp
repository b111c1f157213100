// SPDX-License-Identifier: MIT
// The command queue (SMMUv3 spec §3.5, §4): commands are written into the
// ring in memory and published by SMMU_CMDQ_PROD; a CMD_SYNC (§4.7.3)
// completes when every earlier command has, signalled either by an MSI write
// of MSIData (0) over the CMD_SYNC's own slot (Linux's MSIPOLL: poll memory
// until the opcode word reads 0) or, without MSIs, by SMMU_CMDQ_CONS moving
// past it. A command the SMMU cannot execute stops the queue with
// SMMU_CMDQ_CONS.ERR and GERROR.CMDQ_ERR (§4.7.2, §7.1); the driver skips an
// illegal command by turning it into a CMD_SYNC, retries a fetch abort and
// repeats a CMD_SYNC whose ATC invalidation timed out, then acknowledges
// GERRORN, as Linux does. Waiters handle a pending CMDQ error themselves, so
// recovery does not depend on the GERROR interrupt being delivered.
//
// Unlike Linux's lock-free queue, producers serialise on one mutex held until
// their CMD_SYNC completes; batches larger than the free space are written in
// pieces as the SMMU consumes.
#include <algorithm>
#include <cerrno>
#include <vector>

#include "drivers/smmuv3/smmuv3_internal.h"

namespace iommusim::iommufd::smmuv3 {

bool poll_backoff(host_bus &bus,
                  const std::function<bool(uint64_t interval_ns, uint64_t slice_ns)> &attempt,
                  uint64_t timeout_ns, const std::function<bool()> &between) {
  const uint64_t start = bus.now_ps();
  uint64_t interval = 20;  // ns: a few spins first, then ever longer delays
  for (;;) {
    if (attempt(interval, interval * 16)) return true;
    if (between && between()) return true;
    if ((bus.now_ps() - start) / 1000 >= timeout_ns) return false;
    interval = std::min<uint64_t>(interval * 2, 100000);
  }
}

// --- command builders (§4.3-4.7) ---

namespace {
uint64_t op(uint8_t opcode) { return fprep(cmd::OP, opcode); }
}  // namespace

void cmd_cfgi_ste(uint64_t c[2], uint32_t sid, bool leaf) {
  c[0] = op(cmd::CFGI_STE) | fprep(cmd::SID, sid);
  c[1] = leaf ? cmd::CFGI_LEAF : 0;
}

void cmd_cfgi_cd(uint64_t c[2], uint32_t sid, uint32_t ssid, bool leaf) {
  c[0] = op(cmd::CFGI_CD) | fprep(cmd::SSID, ssid) | fprep(cmd::SID, sid);
  c[1] = leaf ? cmd::CFGI_LEAF : 0;
}

void cmd_cfgi_all(uint64_t c[2]) {
  c[0] = op(cmd::CFGI_ALL);
  c[1] = fprep(cmd::CFGI_RANGE, 31);  // the whole StreamID space
}

void cmd_prefetch_cfg(uint64_t c[2], uint32_t sid) {
  c[0] = op(cmd::PREFETCH_CFG) | fprep(cmd::SID, sid);
  c[1] = 0;
}

void cmd_tlbi_nh_asid(uint64_t c[2], uint16_t asid) {
  c[0] = op(cmd::TLBI_NH_ASID) | fprep(cmd::TLBI_ASID, asid) | fprep(cmd::TLBI_VMID, 0);
  c[1] = 0;
}

void cmd_tlbi_s12_vmall(uint64_t c[2], uint16_t vmid) {
  c[0] = op(cmd::TLBI_S12_VMALL) | fprep(cmd::TLBI_VMID, vmid);
  c[1] = 0;
}

void cmd_tlbi_nsnh_all(uint64_t c[2]) {
  c[0] = op(cmd::TLBI_NSNH_ALL);
  c[1] = 0;
}

void cmd_tlbi_el2_all(uint64_t c[2]) {
  c[0] = op(cmd::TLBI_EL2_ALL);
  c[1] = 0;
}

// An ATS invalidation must name an aligned power-of-two number of pages
// (§4.5.1, PCIe ATS): cover [iova, iova + size) with the smallest such span.
void cmd_atc_inv(uint64_t c[2], uint32_t sid, uint32_t ssid, uint64_t iova, uint64_t size) {
  c[0] = op(cmd::ATC_INV) | (ssid != IOMMU_NO_PASID ? cmd::SSV : 0) | fprep(cmd::SSID, ssid) |
         fprep(cmd::SID, sid);
  if (!size) {
    c[1] = fprep(cmd::ATC_SIZE, cmd::ATC_INV_SIZE_ALL);
    return;
  }
  uint64_t first = iova >> 12, last = (iova + size - 1) >> 12;
  const unsigned log2_span = (first ^ last) ? 64 - unsigned(__builtin_clzll(first ^ last)) : 0;
  first &= ~((1ULL << log2_span) - 1);
  c[1] = fprep(cmd::ATC_SIZE, log2_span) | ((first << 12) & cmd::ATC_ADDR_MASK);
}

void cmd_pri_resp(uint64_t c[2], uint32_t sid, bool ssv, uint32_t ssid, uint16_t grpid,
                  unsigned resp) {
  c[0] = op(cmd::PRI_RESP) | (ssv ? cmd::SSV : 0) | fprep(cmd::SSID, ssid) | fprep(cmd::SID, sid);
  c[1] = fprep(cmd::PRI_GRPID, grpid) | fprep(cmd::PRI_RESP_FIELD, resp);
}

void cmd_resume(uint64_t c[2], uint32_t sid, uint16_t stag, unsigned resp) {
  c[0] = op(cmd::RESUME) | fprep(cmd::SID, sid) | fprep(cmd::RESUME_RESP, resp);
  c[1] = fprep(cmd::RESUME_STAG, stag);
}

void smmuv3_driver::build_sync(uint64_t c[2], uint64_t msi_addr) const {
  c[0] = op(cmd::SYNC) | fprep(cmd::SYNC_MSH, cmd::SH_ISH) |
         fprep(cmd::SYNC_MSIATTR, cmd::MEMATTR_OIWB);
  c[1] = 0;
  if (msi_addr) {
    // MSIData 0 lands on the opcode word of this very command.
    c[0] |= fprep(cmd::SYNC_CS, cmd::SYNC_CS_IRQ);
    c[1] = msi_addr & cmd::SYNC_MSIADDR_MASK;
  } else {
    c[0] |= fprep(cmd::SYNC_CS, (features_ & FEAT_SEV) ? cmd::SYNC_CS_SEV : cmd::SYNC_CS_NONE);
  }
}

void smmuv3_driver::count_command(uint64_t cmd0) {
  cnt_->commands.fetch_add(1, std::memory_order_relaxed);
  const unsigned opcode = unsigned(fget(cmd::OP, cmd0));
  if (opcode == cmd::SYNC)
    cnt_->syncs.fetch_add(1, std::memory_order_relaxed);
  else if (opcode >= 0x10 && opcode < 0x40)
    cnt_->tlbi.fetch_add(1, std::memory_order_relaxed);
  else if (opcode == cmd::ATC_INV)
    cnt_->atc_inv.fetch_add(1, std::memory_order_relaxed);
  else if (opcode >= cmd::CFGI_STE && opcode <= cmd::CFGI_CD_ALL)
    cnt_->cfgi.fetch_add(1, std::memory_order_relaxed);
  else if (opcode == cmd::PRI_RESP)
    cnt_->pri_responses.fetch_add(1, std::memory_order_relaxed);
  else if (opcode == cmd::RESUME)
    cnt_->resumes.fetch_add(1, std::memory_order_relaxed);
}

// --- queues ---

int smmuv3_driver::init_queue(smmu_queue &q, uint32_t want_log2, uint32_t max_log2,
                              unsigned ent_dwords, uint64_t prod_reg, uint64_t cons_reg,
                              const char *what) {
  q.log2 = std::min(want_log2, max_log2);
  q.ent_dwords = ent_dwords;
  for (;;) {
    q.bytes = (uint64_t(1) << q.log2) * ent_dwords * 8;
    // A queue is aligned to its size (§6.3.25); dma_alloc hands out pages.
    const uint64_t alloc = std::max<uint64_t>(q.bytes, 4096);
    q.base = bus_.dma_alloc(alloc, alloc);
    if (q.base || q.bytes <= 4096) break;
    q.log2--;  // smaller, as Linux retries
  }
  if (!q.base) {
    log("failed to allocate queue (%#llx bytes) for %s", (unsigned long long)q.bytes, what);
    return -ENOMEM;
  }
  q.prod_reg = prod_reg;
  q.cons_reg = cons_reg;
  q.prod = q.cons = 0;
  q.q_base = q::BASE_RWA | (q.base & q::BASE_ADDR_MASK) | fprep(q::BASE_LOG2SIZE, q.log2);
  return 0;
}

void smmuv3_driver::free_queue(smmu_queue &q) {
  if (!q.base) return;
  bus_.dma_free(q.base, std::max<uint64_t>(q.bytes, 4096));
  q.base = 0;
}

int smmuv3_driver::cmdq_issue(const uint64_t *cmds, size_t n, bool sync) {
  if (!cmdq_ || !cmdq_->base || disabled_.load()) return -EIO;
  if (!n && !sync) return 0;
  std::lock_guard g(cmdq_lock_);
  smmu_queue &q = *cmdq_;
  const size_t total = n + (sync ? 1 : 0);
  const bool msipoll = options_ & OPT_MSIPOLL;
  uint32_t sync_slot = 0;
  std::vector<uint64_t> buf;
  size_t done = 0;
  while (done < total) {
    if (!q.space()) {
      // Full: wait for the SMMU to consume (what we wrote is published).
      const bool ok = poll_backoff(
          bus_,
          [&](uint64_t interval, uint64_t) {
            q.cons = bus_.readl(q.cons_reg) & q.ptr_mask();
            if (q.space()) return true;
            bus_.delay_ns(interval);
            return false;
          },
          POLL_TIMEOUT_NS, [&] {
            cmdq_check_error();  // a stopped queue never drains
            return false;
          });
      if (!ok) {
        log("CMDQ timeout: no space (prod %#x, cons %#x); %zu commands dropped", q.prod,
            bus_.readl(q.cons_reg), total - done);
        return -ETIMEDOUT;
      }
    }
    // As many as fit, in runs that stop at the end of the ring.
    size_t k = std::min<size_t>(q.space(), total - done);
    while (k) {
      const size_t run = std::min<size_t>(k, (1u << q.log2) - q.idx(q.prod));
      buf.assign(run * 2, 0);
      for (size_t i = 0; i < run; i++) {
        const size_t c = done + i;
        if (c < n) {
          buf[2 * i] = cmds[2 * c];
          buf[2 * i + 1] = cmds[2 * c + 1];
        } else {
          sync_slot = q.inc(q.prod, uint32_t(i));
          build_sync(&buf[2 * i], msipoll ? q.ent(sync_slot) : 0);
        }
        count_command(buf[2 * i]);
      }
      bus_.mem_write(q.ent(q.prod), buf.data(), run * 16);
      q.prod = q.inc(q.prod, uint32_t(run));
      done += run;
      k -= run;
    }
    bus_.writel(q.prod_reg, q.prod);
  }
  if (!sync) return 0;

  // Wait for the CMD_SYNC. The SMMU has consumed it once CONS passes it
  // (we are the only producer while we hold the lock).
  const uint32_t after = q.prod & q.ptr_mask();
  auto consumed = [&] {
    const uint32_t cons = bus_.readl(q.cons_reg);
    q.cons = cons & q.ptr_mask();
    return q.cons == after && !fget(q::CMDQ_CONS_ERR, cons);
  };
  const uint64_t slot_pa = q.ent(sync_slot);
  bool ok;
  if (msipoll) {
    ok = poll_backoff(
        bus_,
        [&](uint64_t interval, uint64_t slice) {
          return bus_.poll_mem32(slot_pa, 0xffffffffu, 0, interval, slice);
        },
        POLL_TIMEOUT_NS,
        // An error can stop the queue before the MSI; and a CMD_SYNC rewritten
        // by error recovery completes without MSI: CONS tells.
        [&] {
          cmdq_check_error();
          return consumed();
        });
  } else {
    ok = poll_backoff(
        bus_,
        [&](uint64_t interval, uint64_t slice) {
          return bus_.poll32(q.cons_reg, q.ptr_mask(), after, interval, slice);
        },
        POLL_TIMEOUT_NS,
        [&] {
          cmdq_check_error();
          return consumed();
        });
  }
  if (!ok) {
    cnt_->sync_timeouts.fetch_add(1, std::memory_order_relaxed);
    log("CMD_SYNC timeout at %#x [hwprod %#x, hwcons %#x]", q.prod, bus_.readl(q.prod_reg),
        bus_.readl(q.cons_reg));
    q.cons = bus_.readl(q.cons_reg) & q.ptr_mask();
    return -ETIMEDOUT;
  }
  q.cons = after;
  return 0;
}

bool smmuv3_driver::cmdq_check_error() {
  std::lock_guard g(gerror_lock_);
  const uint32_t gerr = bus_.readl(reg(reg::GERROR));
  const uint32_t gerrn = bus_.readl(reg(reg::GERRORN));
  if (!((gerr ^ gerrn) & gerror::CMDQ_ERR)) return false;
  cmdq_skip_err();
  cnt_->gerrors.fetch_add(1, std::memory_order_relaxed);
  // Acknowledge only CMDQ_ERR: the GERROR handler reports the rest.
  bus_.writel(reg(reg::GERRORN), gerrn ^ gerror::CMDQ_ERR);
  return true;
}

// gerror_lock_ held.
void smmuv3_driver::cmdq_skip_err() {
  static const char *const cerror_str[] = {"No error", "Illegal command",
                                           "Abort on command fetch", "ATC invalidate timeout"};
  smmu_queue &q = *cmdq_;
  const uint32_t cons = bus_.readl(q.cons_reg);
  const unsigned idx = unsigned(fget(q::CMDQ_CONS_ERR, cons));
  cnt_->cmdq_errors.fetch_add(1, std::memory_order_relaxed);
  log("CMDQ error (cons %#010x): %s", cons, idx < 4 ? cerror_str[idx] : "Unknown");
  switch (idx) {
    case CERROR_NONE:
      return;
    case CERROR_ABT:
      // The fetch of the command failed: fetching it again may work.
      cnt_->cmdq_abort.fetch_add(1, std::memory_order_relaxed);
      log("retrying command fetch");
      return;
    case CERROR_ATC_INV_SYNC:
      // CONS still points at the CMD_SYNC whose ATC invalidation timed out:
      // acknowledging makes the SMMU try it again.
      cnt_->cmdq_atc_timeout.fetch_add(1, std::memory_order_relaxed);
      return;
    case CERROR_ILL:
    default:
      break;
  }
  cnt_->cmdq_illegal.fetch_add(1, std::memory_order_relaxed);
  uint64_t bad[2];
  bus_.mem_read(q.ent(cons), bad, sizeof(bad));
  log("skipping command in error state: %#018llx %#018llx", (unsigned long long)bad[0],
      (unsigned long long)bad[1]);
  // The faulting command becomes a CMD_SYNC without MSI.
  uint64_t sync[2];
  build_sync(sync, 0);
  bus_.mem_write(q.ent(cons), sync, sizeof(sync));
}

}  // namespace iommusim::iommufd::smmuv3
