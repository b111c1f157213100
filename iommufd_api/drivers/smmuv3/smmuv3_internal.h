// SPDX-License-Identifier: MIT
// Internals of the SMMUv3 driver shared by its files: queues, masters (the
// per-device state), domains and the counters. Not for the platform: that
// uses smmuv3_driver.h only.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "drivers/smmuv3/io_pgtable.h"
#include "drivers/smmuv3/regs.h"
#include "drivers/smmuv3/smmuv3_driver.h"

namespace iommusim::iommufd::smmuv3 {

// Driver features, from the ID registers (Linux's ARM_SMMU_FEAT_*).
enum feature : uint32_t {
  FEAT_2_LVL_STRTAB = 1u << 0,
  FEAT_2_LVL_CDTAB = 1u << 1,
  FEAT_PRI = 1u << 4,
  FEAT_ATS = 1u << 5,
  FEAT_SEV = 1u << 6,
  FEAT_MSI = 1u << 7,
  FEAT_COHERENCY = 1u << 8,
  FEAT_TRANS_S1 = 1u << 9,
  FEAT_TRANS_S2 = 1u << 10,
  FEAT_STALLS = 1u << 11,
  FEAT_HYP = 1u << 12,
  FEAT_STALL_FORCE = 1u << 13,
  FEAT_VAX = 1u << 14,
  FEAT_RANGE_INV = 1u << 15,
  FEAT_NESTING = 1u << 19,
  FEAT_ATTR_TYPES_OVR = 1u << 20,
  FEAT_HA = 1u << 21,
  FEAT_HD = 1u << 22,
};
enum option : uint32_t {
  OPT_MSIPOLL = 1u << 2,  // CMD_SYNC completion by MSI write into the queue
};

// One circular queue in memory (§3.5): the shadow indexes carry the wrap bit
// above the index bits, and OVFLG/OVACKFLG in bit 31 for the EVTQ and PRIQ.
struct smmu_queue {
  uint64_t base = 0;       // PA of the ring
  uint64_t bytes = 0;
  uint32_t log2 = 0;       // 1 << log2 entries
  unsigned ent_dwords = 0;
  uint64_t prod_reg = 0, cons_reg = 0;  // MMIO addresses
  uint32_t prod = 0, cons = 0;
  uint64_t q_base = 0;     // value for SMMU_*Q_BASE

  uint32_t idx(uint32_t p) const { return p & ((1u << log2) - 1); }
  uint32_t wrp(uint32_t p) const { return p & (1u << log2); }
  uint32_t ovf(uint32_t p) const { return p & q::OVERFLOW_FLAG; }
  uint32_t ptr_mask() const { return (2u << log2) - 1; }  // index + wrap
  uint64_t ent(uint32_t p) const { return base + uint64_t(idx(p)) * ent_dwords * 8; }
  bool empty() const { return idx(prod) == idx(cons) && wrp(prod) == wrp(cons); }
  bool full() const { return idx(prod) == idx(cons) && wrp(prod) != wrp(cons); }
  uint32_t space() const {
    const uint32_t n = 1u << log2;
    return wrp(prod) == wrp(cons) ? n - (idx(prod) - idx(cons)) : idx(cons) - idx(prod);
  }
  // p advanced by n entries, keeping the overflow flag of p.
  uint32_t inc(uint32_t p, uint32_t n) const {
    return ovf(p) | ((p + n) & ptr_mask());
  }
};

// Where a reported page fault came from (iopf_fault private_data[1]).
enum fault_source : uint64_t { FAULT_SRC_PRI = 1, FAULT_SRC_STALL = 2 };

// Per-device state (Linux's arm_smmu_master), in device::iommu_priv.
struct smmu_master {
  smmuv3_driver *smmu = nullptr;
  device *dev = nullptr;
  std::vector<uint32_t> sids;     // dev.ids as given (duplicates allowed)
  unsigned ssid_bits = 0;
  // The context descriptor table (§3.4), allocated at the first S1 attach.
  struct cd_table {
    uint64_t base = 0;            // linear table or level-1 table
    uint64_t bytes = 0;
    unsigned s1fmt = 0;           // ste::S1FMT_LINEAR or _64K_L2
    unsigned s1cdmax = 0;
    unsigned num_l1 = 0;          // 2-level: level-1 descriptors
    std::vector<uint64_t> l2;     // 2-level: PA of each level-2 table
    bool allocated() const { return base != 0; }
  } cdt;
  std::atomic<bool> ats_enabled{false};  // read by invalidations of any thread
  bool stall_enabled = false;
  std::atomic<bool> iopf_enabled{false};  // read by the IRQ thread
  iommu_domain *domain = nullptr; // the domain last attached (blocked before the first)
};

inline smmu_master *dev_to_master(const device &dev) {
  return static_cast<smmu_master *>(dev.iommu_priv);
}

// A paging domain: stage 1 (ASID, CD 0 of each master's CD table) or stage 2
// (VMID, in the STE) over a VMSAv8-64 4K page table in simulated memory.
class smmu_domain final : public iommu_domain {
 public:
  enum class stage { s1, s2 };
  explicit smmu_domain(smmuv3_driver *drv);
  ~smmu_domain() override;

  // Bind to an SMMU: pick the stage, allocate the page table and the
  // ASID/VMID (Linux's arm_smmu_domain_finalise). 0 or -errno.
  int finalise(smmuv3_driver &smmu, uint32_t flags);

  int attach_dev(device &dev) override;
  int map_pages(uint64_t iova, uint64_t paddr, size_t pgsize, size_t pgcount, int prot,
                size_t *mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t pgcount,
                     iommu_iotlb_gather *gather) override;
  uint64_t iova_to_phys(uint64_t iova) override;
  void iotlb_sync(iommu_iotlb_gather &gather) override;
  void flush_iotlb_all() override;
  int set_dirty_tracking(bool enable) override;
  int read_and_clear_dirty(uint64_t iova, size_t size, unsigned long flags,
                           iommu_dirty_bitmap &dirty) override;

  // Invalidation (Linux's arm_smmu_tlb_inv_*): TLBI for the range and a
  // CMD_SYNC, then ATC_INV to every ATS master and a CMD_SYNC.
  void tlb_inv_range(uint64_t iova, uint64_t size, uint64_t granule, bool leaf);
  void tlb_inv_context();
  void atc_inv(uint64_t iova, uint64_t size);

  smmuv3_driver *smmu = nullptr;  // null until finalised
  stage st = stage::s1;
  bool nest_parent = false;
  bool enable_dirty = false;
  uint16_t asid = 0;
  uint16_t vmid = 0;
  std::unique_ptr<io_pgtable> pgtbl;
  std::mutex init_mutex;

  // Masters attached (for ATC invalidation), Linux's smmu_domain->devices.
  std::mutex devices_lock;
  std::vector<std::pair<smmu_master *, uint32_t>> devices;  // (master, ssid)
  std::atomic<int> nr_ats_masters{0};
  std::atomic<bool> dirty_tracking{false};
};

// The blocked and identity domains: an abort or a bypass STE.
class smmu_static_domain final : public iommu_domain {
 public:
  smmu_static_domain(smmuv3_driver *drv, iommu_domain_type t);
  int attach_dev(device &dev) override;
  smmuv3_driver *smmu;
};

struct smmuv3_driver::counters {
  std::atomic<uint64_t> commands{0}, syncs{0}, sync_timeouts{0}, cmdq_errors{0},
      cmdq_illegal{0}, cmdq_abort{0}, cmdq_atc_timeout{0}, gerrors{0}, sfm{0}, events{0},
      evtq_overflows{0}, stall_faults{0}, pri_requests{0}, priq_overflows{0},
      pri_responses{0}, resumes{0}, tlbi{0}, atc_inv{0}, cfgi{0}, ste_writes{0}, cd_writes{0},
      pgtable_pages{0};
};

// How long the driver waits for the SMMU (Linux's ARM_SMMU_POLL_TIMEOUT_US).
inline constexpr uint64_t POLL_TIMEOUT_NS = 1000000000ULL;
// Poll with growing intervals (Linux's spin-then-udelay backoff): attempt()
// runs one host_bus poll of a slice of simulated time and says whether the
// condition was met; between() (optional) runs after each failed slice and
// may end the wait early (true). True if satisfied before timeout_ns.
bool poll_backoff(host_bus &bus, const std::function<bool(uint64_t interval_ns,
                                                          uint64_t slice_ns)> &attempt,
                  uint64_t timeout_ns, const std::function<bool()> &between = {});

// Command builders (§4): each fills cmd[0..1].
void cmd_cfgi_ste(uint64_t cmd[2], uint32_t sid, bool leaf);
void cmd_cfgi_cd(uint64_t cmd[2], uint32_t sid, uint32_t ssid, bool leaf);
void cmd_cfgi_all(uint64_t cmd[2]);
void cmd_prefetch_cfg(uint64_t cmd[2], uint32_t sid);
void cmd_tlbi_nh_asid(uint64_t cmd[2], uint16_t asid);
void cmd_tlbi_s12_vmall(uint64_t cmd[2], uint16_t vmid);
void cmd_tlbi_nsnh_all(uint64_t cmd[2]);
void cmd_tlbi_el2_all(uint64_t cmd[2]);
void cmd_atc_inv(uint64_t cmd[2], uint32_t sid, uint32_t ssid, uint64_t iova, uint64_t size);
void cmd_pri_resp(uint64_t cmd[2], uint32_t sid, bool ssv, uint32_t ssid, uint16_t grpid,
                  unsigned resp);
void cmd_resume(uint64_t cmd[2], uint32_t sid, uint16_t stag, unsigned resp);

// Which bits of an STE / a CD the SMMU uses for the configuration it holds
// (the basis of hitless updates, Linux's arm_smmu_get_ste_used/_cd_used).
void get_ste_used(const uint64_t *ent, uint64_t *used);
void get_cd_used(const uint64_t *ent, uint64_t *used);

}  // namespace iommusim::iommufd::smmuv3
