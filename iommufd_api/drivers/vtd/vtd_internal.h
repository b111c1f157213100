// SPDX-License-Identifier: MIT
// Internals of the VT-d driver shared by its files: the per-device state,
// domains (paging, nested) with their cache tags and second-stage tables,
// the static domains and the counters. Not for the platform: that uses
// vtd_driver.h only.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "drivers/vtd/regs.h"
#include "drivers/vtd/vtd_driver.h"
#include "iommusim/iommufd.h"

namespace iommusim::iommufd::vtd {

// Per-device state (Linux's device_domain_info), in device::iommu_priv.
struct device_info {
  vtd_driver *iommu = nullptr;
  device *dev = nullptr;
  std::vector<uint16_t> rids;  // rids[0] is the device's own bus/devfn
  uint16_t rid() const { return rids[0]; }
  uint16_t pfsid = 0;          // with ECAP.DIT: the PF's requester ID
  uint16_t ats_qdep = 0;       // ATS invalidate queue depth (0: 32)
  bool ats_supported = false;
  bool pasid_supported = false;
  bool pri_supported = false;
  std::atomic<bool> ats_enabled{false};  // read by invalidations of any thread
  std::atomic<bool> pri_enabled{false};  // read by the PRQ handler
  bool domain_attached = false;
  dmar_domain *domain = nullptr;  // a paging or nested domain, or none (blocked/identity)
  // The PASID directory (scalable mode): 8-byte entries, one per 64 PASIDs.
  struct {
    uint64_t dir = 0;
    unsigned order = 0;      // the directory is 1 << order pages
    uint32_t max_pasid = 0;
    std::vector<uint64_t> tables;  // PASID table page of each directory entry
  } pasid_table;
};

inline device_info *dev_to_info(const device &dev) {
  return static_cast<device_info *>(dev.iommu_priv);
}

// Where a domain's translations may be cached (Linux's cache_tag).
struct cache_tag {
  enum kind { IOTLB, DEVTLB, NESTING_IOTLB, NESTING_DEVTLB } type;
  uint16_t domain_id;
  uint32_t pasid;
  device_info *info;  // DEVTLB: the endpoint; IOTLB: the device that added it
  unsigned users;
};

// Linux's QI_MAX_BATCHED_DESC_COUNT.
inline constexpr unsigned QI_MAX_BATCHED_DESC_COUNT = 16;

// A paging domain (second-stage tables in simulated memory) or a nested
// domain (a user first-stage table over a nest-parent paging domain): Linux's
// dmar_domain.
class dmar_domain final : public iommu_domain {
 public:
  explicit dmar_domain(vtd_driver *drv);
  ~dmar_domain() override;

  // Paging: Linux's paging_domain_alloc (address width from the IOMMU's
  // AGAW and MGAW, superpages from CAP.SLLPS, the PGD). 0 or -ENOMEM.
  int init_paging();

  int attach_dev(device &dev) override;
  int map_pages(uint64_t iova, uint64_t paddr, size_t pgsize, size_t pgcount, int prot,
                size_t *mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t pgcount,
                     iommu_iotlb_gather *gather) override;
  uint64_t iova_to_phys(uint64_t iova) override;
  void iotlb_sync_map(uint64_t iova, size_t size) override;
  void iotlb_sync(iommu_iotlb_gather &gather) override;
  void flush_iotlb_all() override;
  bool has_enforce_cache_coherency() const override { return !use_first_level; }
  bool enforce_cache_coherency() override;
  int set_dirty_tracking(bool enable) override;
  int read_and_clear_dirty(uint64_t iova, size_t size, unsigned long flags,
                           iommu_dirty_bitmap &dirty) override;
  bool has_cache_invalidate_user() const override { return type == iommu_domain_type::nested; }
  int cache_invalidate_user(iommu_user_data_array &array) override;

  // domain.cpp: attach paths.
  int attach_paging(device &dev);
  int attach_nested(device &dev);
  int prepare_attach(device_info &info);

  // cache.c: tags and flushes.
  int cache_tag_assign_domain(device_info &info, uint32_t pasid);
  void cache_tag_unassign_domain(device_info &info, uint32_t pasid);
  void cache_tag_flush_range(uint64_t start, uint64_t end, int ih);
  void cache_tag_flush_all();
  void cache_tag_flush_range_np(uint64_t start, uint64_t end);

  // pgtable.cpp: second-stage tables (Linux's pfn_to_dma_pte, __domain_mapping,
  // domain_unmap ...). Addresses are PAs of entries in simulated memory.
  bool pfn_supported(uint64_t pfn) const;
  uint64_t pfn_to_dma_pte(uint64_t pfn, int *target_level, bool alloc);
  int domain_mapping(uint64_t iov_pfn, uint64_t phys_pfn, uint64_t nr_pages, uint64_t prot,
                     uint64_t *done_pages);
  int largepage_caps(uint64_t iov_pfn, uint64_t phy_pfn, uint64_t pages) const;
  void switch_to_super_page(uint64_t start_pfn, uint64_t end_pfn, int level);
  void pte_clear_range(uint64_t start_pfn, uint64_t last_pfn);
  void pte_free_level(int level, int retain_level, uint64_t table, uint64_t pfn,
                      uint64_t start_pfn, uint64_t last_pfn);
  void pte_list_pagetables(int level, uint64_t pte_val, std::vector<uint64_t> &freelist);
  void pte_clear_level(int level, uint64_t table, uint64_t pfn, uint64_t start_pfn,
                       uint64_t last_pfn, std::vector<uint64_t> &freelist);
  void domain_unmap(uint64_t start_pfn, uint64_t last_pfn, std::vector<uint64_t> &freelist);
  uint64_t alloc_table();
  void free_table(uint64_t pa);
  void free_pages(std::vector<uint64_t> &list);
  uint64_t read_pte(uint64_t ptep);
  void write_pte(uint64_t ptep, uint64_t v);

  vtd_driver *iommu;
  host_bus &bus;

  // Configuration (Linux's dmar_domain bit fields).
  bool use_first_level = false;  // nested domains translate through the user's first stage
  bool nested_parent = false;
  bool dirty_tracking = false;
  bool force_snooping = false;
  std::atomic<bool> set_pte_snp{false};   // read by map_pages of any thread
  std::atomic<bool> has_mappings{false};
  bool iotlb_sync_map_needed = false;
  int iommu_superpage = 0;  // 0: 4 KiB only, 1: +2 MiB, 2: +1 GiB
  int gaw = 0, agaw = 0;
  uint64_t max_addr = 0;
  uint64_t pgd = 0;

  // Domain id on the IOMMU (Linux's iommu_domain_info): allocated at the
  // first attach, freed when the last device leaves.
  uint16_t did = 0;
  unsigned did_refcnt = 0;

  std::mutex lock;  // devices
  std::vector<device_info *> devices;
  std::mutex cache_lock;
  std::vector<cache_tag> tags;
  std::mutex pgtable_lock;
  // Table pages unlinked by unmaps, freed after the gather's IOTLB flush
  // (Linux keeps them on gather->freelist).
  std::map<const iommu_iotlb_gather *, std::vector<uint64_t>> pending_free;

  // Nested: the parent and the user's first-stage configuration.
  dmar_domain *s2_domain = nullptr;
  iommu_hwpt_vtd_s1 s1_cfg{};
  // Parent: the nested domains over it.
  std::mutex s1_lock;
  std::vector<dmar_domain *> s1_domains;
};

// The blocked and identity (pass-through) domains.
class vtd_static_domain final : public iommu_domain {
 public:
  vtd_static_domain(vtd_driver *drv, iommu_domain_type t);
  int attach_dev(device &dev) override;
  vtd_driver *iommu;
};

struct vtd_driver::counters {
  std::atomic<uint64_t> descriptors{0}, waits{0}, wait_timeouts{0}, iqe{0}, ite{0}, ice{0},
      iotlb_inv{0}, piotlb_inv{0}, devtlb_inv{0}, cc_inv{0}, pc_inv{0}, faults{0},
      fault_overflows{0}, prq_requests{0}, prq_overflows{0}, prq_responses{0}, pgtable_pages{0};
};

// How long the driver waits for the hardware (Linux's DMAR_OPERATION_TIMEOUT
// is in cycles; a second of simulated time here).
inline constexpr uint64_t POLL_TIMEOUT_NS = 1000000000ULL;

}  // namespace iommusim::iommufd::vtd
