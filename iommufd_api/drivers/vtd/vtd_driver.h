// SPDX-License-Identifier: MIT
// The Intel VT-d driver behind the iommufd core (the design of Linux 6.12
// drivers/iommu/intel: iommu.c, pasid.c, cache.c, dmar.c, prq.c, nested.c),
// written against the Intel VT-d architecture specification.
//
// This header is the driver-level API the platform (sim/) uses:
//
//   vtd::driver_config cfg;  cfg.base = 0xfed90000;  ...
//   vtd::vtd_driver drv(bus, cfg);           // bus: the platform's host_bus
//   if (int rc = drv.probe()) ...            // CAP/ECAP, QI, root table, PRQ, TE
//   drv.add_device(dev);                     // dev.ids = PCI requester IDs
//   iommu_probe_device(dev, drv);            // the core puts dev in a group
//   ...
//   iommu_release_device(dev);  drv.remove_device(dev);  drv.remove();
//
// Everything the driver does to hardware goes through host_bus (registers,
// kernel RAM for tables and queues, polls, interrupts as MSIs to
// host_bus::msi_doorbell); it includes nothing of the VT-d model or SystemC.
// Internals are in vtd_internal.h; docs/vtd_driver.md describes the driver
// function by function against Linux.
//
// Threads: iommu_driver/iommu_domain operations run in program threads, the
// fault and page-request handlers in the platform's IRQ thread. The
// invalidation queue, the context/PASID tables (with domain ids) and the
// device map have their own locks; each domain has one for its page table.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/iommu.h"
#include "drivers/driver_log.h"
#include "drivers/hostbus.h"
#include "drivers/vtd/regs.h"

namespace iommusim::iommufd::vtd {

struct driver_config {
  uint64_t base = 0;  // physical address of the remapping unit's register page
  // Interrupt lines of the platform: VT-d signals the fault event and the
  // page request event as MSIs (FEADDR/FEDATA, PEADDR/PEDATA, §5.1.6, §7.5);
  // the driver programs host_bus::msi_doorbell(line) and FEDATA/PEDATA = line.
  unsigned irq_fault = 0, irq_prq = 1;
  // Linux's intel_iommu=sm_off: legacy root/context tables even when
  // ECAP.SMTS is set.
  bool force_legacy = false;
};

// What the driver counted (a snapshot; see vtd_driver::stats()).
struct driver_stats {
  uint64_t descriptors = 0;      // invalidation descriptors queued, waits included
  uint64_t waits = 0;            // invalidation wait descriptors (one per submission)
  uint64_t wait_timeouts = 0;    // submissions whose wait never completed
  uint64_t iqe = 0, ite = 0, ice = 0;  // invalidation queue / time-out / completion errors
  uint64_t iotlb_inv = 0;        // IOTLB (DSI/PSI/global) descriptors
  uint64_t piotlb_inv = 0;       // PASID-based IOTLB descriptors
  uint64_t devtlb_inv = 0;       // device-TLB descriptors
  uint64_t cc_inv = 0;           // context-cache descriptors
  uint64_t pc_inv = 0;           // PASID-cache descriptors
  uint64_t faults = 0;           // fault records read and cleared
  uint64_t fault_overflows = 0;  // FSTS.PFO seen
  uint64_t prq_requests = 0;     // page requests drained
  uint64_t prq_overflows = 0;    // PRS.PRO seen
  uint64_t prq_responses = 0;    // page group responses sent
  uint64_t pgtable_pages = 0;    // second-stage table pages currently allocated
};

// One primary fault record (§11.4.14), decoded, kept for tests and traces.
struct fault_record {
  uint8_t reason = 0;
  uint16_t source_id = 0;
  bool read = false;            // T1: 1 read / AtomicOp, 0 write
  bool pasid_present = false;
  uint32_t pasid = 0;
  uint64_t addr = 0;            // faulting page address
  uint64_t raw[2] = {0, 0};
};

struct device_info;
class dmar_domain;
class vtd_static_domain;
struct flush_ops;

class vtd_driver final : public iommu_driver {
 public:
  vtd_driver(host_bus &bus, const driver_config &cfg);
  ~vtd_driver() override;
  vtd_driver(const vtd_driver &) = delete;
  vtd_driver &operator=(const vtd_driver &) = delete;

  // Read VER/CAP/ECAP, set up queued invalidation (or register-based
  // invalidation without ECAP.QI), the root table, the page request queue
  // and the interrupts, then enable translation (Linux's init_dmars +
  // intel_iommu_init). 0, or -ENODEV (registers unreadable, no usable address
  // width, scalable mode without second-stage translation), -ENOMEM (with
  // everything freed again), -ETIMEDOUT (GSTS never followed GCMD), -EBUSY
  // (already probed).
  int probe();
  // Disable translation and queued invalidation, release the interrupts and
  // free every table and queue. Devices must have been removed first.
  void remove();
  // Make dev (its requester IDs in dev.ids, bus << 8 | devfn; the first is
  // the device's own) a device of this IOMMU: in scalable mode its PASID
  // table and context entries are set up now (Linux's probe_device).
  // -ENODEV (not probed / no ids), -EINVAL (an id above 0xffff), -EEXIST (a
  // requester ID another device has), -ENOMEM.
  int add_device(device &dev);
  // After iommu_release_device(dev): block, tear the context down, forget dev.
  void remove_device(device &dev);

  // --- iommu_driver ---
  const char *name() const override { return "intel-iommu"; }
  bool capable(const device &dev, iommu_cap cap) const override;
  bool has_hw_info() const override { return true; }
  int hw_info(const device &dev, uint32_t *type, std::vector<uint8_t> *data) override;
  err_or<iommu_domain> domain_alloc_paging(device *dev) override;
  bool has_domain_alloc_user() const override { return true; }
  err_or<iommu_domain> domain_alloc_user(device &dev, uint32_t flags, iommu_domain *parent,
                                         const iommu_user_data *user_data) override;
  iommu_domain *default_domain(device &dev) override;
  iommu_domain *blocked_domain(device &dev) override;
  void get_resv_regions(const device &dev, std::vector<iommu_resv_region> &out) const override;
  int dev_enable_iopf(device &dev) override;
  void dev_disable_iopf(device &dev) override;
  void page_response(device &dev, const iopf_fault &evt, const iommu_page_response &msg) override;

  // The pass-through domain (ECAP.PT), for platforms that want devices to
  // reach memory untranslated. Not a default domain: iommufd never needs it.
  iommu_domain *identity_domain();

  // --- observation (platform statistics, traces, tests) ---
  driver_stats stats() const;
  // The last primary fault records (at most 64, oldest first).
  std::vector<fault_record> recent_faults() const { return faults_.snapshot(); }
  // Where log lines go (default: stderr, "DMAR: dmar@<base>: ...").
  void set_log_sink(std::function<void(const std::string &)> sink) {
    log_.set_sink(std::move(sink));
  }
  const driver_config &config() const { return cfg_; }
  bool probed() const { return probed_; }
  bool scalable_mode() const { return sm_; }
  uint64_t cap_reg() const { return cap_; }
  uint64_t ecap_reg() const { return ecap_; }
  int agaw() const { return agaw_; }
  uint64_t root_table() const { return root_entry_; }

  // The IRQ handlers (the platform's IRQ thread runs them; public for tests).
  void fault_irq();  // Linux's dmar_fault
  void prq_irq();    // Linux's prq_event_thread

 private:
  friend class dmar_domain;
  friend class vtd_static_domain;
  friend struct flush_ops;

  // vtd_driver.cpp: probe, register helpers, logging.
  int hw_probe();
  // Write GCMD = value and wait until GSTS & sts_mask is all set / all clear.
  int gcmd_sync(uint32_t value, uint32_t sts_mask, bool sts_set);
  int set_root_entry();
  void flush_write_buffer();
  int enable_translation();
  void disable_translation();
  int setup_fault_irq();
  void release_irqs();
  void free_structures();
  uint64_t reg(uint64_t off) const { return cfg_.base + off; }
  void log(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
  bool pasid_supported() const { return sm_ && ecap::pasid(ecap_); }
  bool ssads_supported() const { return sm_ && ecap::slads(ecap_) && ecap::smpwc(ecap_); }
  bool nested_supported() const { return sm_ && ecap::nest(ecap_); }
  bool paging_structure_coherency() const {
    return sm_ ? ecap::smpwc(ecap_) : ecap::coherent(ecap_);
  }
  device_info *find_rid(uint16_t rid) const;

  // qi.cpp: queued invalidation (dmar.c qi_* and the descriptor builders).
  int qi_init();
  void qi_disable();
  unsigned qi_shift() const { return 4 + (ecap::smts(ecap_) ? 1 : 0); }
  // Queue count descriptors and an invalidation wait with status write, and
  // wait for it (Linux's qi_submit_sync). 0, -EINVAL (IQE on one of ours),
  // -ETIMEDOUT (ITE for a device that is gone, or no completion).
  int qi_submit_sync(const qi_desc *desc, unsigned count, bool wait_drain = false);
  int qi_check_fault(unsigned index, unsigned wait_index);
  void qi_count(const qi_desc &d);
  void flush_context(uint16_t did, uint16_t sid, uint8_t fm, uint64_t gran);
  void flush_iotlb(uint16_t did, uint64_t addr, unsigned size_order, uint64_t gran);
  void flush_dev_iotlb(const device_info &info, uint64_t addr, unsigned mask);
  void flush_piotlb(uint16_t did, uint32_t pasid, uint64_t addr, uint64_t npages, bool ih);
  void flush_pasid_cache(uint16_t did, uint64_t gran, uint32_t pasid);
  // Register-based invalidation, without ECAP.QI (Linux's
  // __iommu_flush_context / __iommu_flush_iotlb).
  void reg_flush_context(uint16_t did, uint16_t sid, uint8_t fm, uint64_t gran);
  void reg_flush_iotlb(uint16_t did, uint64_t addr, unsigned size_order, uint64_t gran);
  bool poll_reg_bit63_clear(uint64_t off);
  bool use_qi() const { return qi_desc_ != 0; }
 public:
  // Descriptor builders (Linux's qi_desc_*; public for the tests' expectations).
  qi_desc desc_iotlb(uint16_t did, uint64_t addr, unsigned size_order, uint64_t gran) const;
  static qi_desc desc_dev_iotlb(uint16_t sid, uint16_t pfsid, uint16_t qdep, uint64_t addr,
                                unsigned mask);
  static qi_desc desc_piotlb(uint16_t did, uint32_t pasid, uint64_t addr, uint64_t npages,
                             bool ih);
  static constexpr uint64_t NPAGES_ALL = ~0ULL;  // Linux's npages == -1
 private:

  // context.cpp: root and context tables, legacy and scalable mode.
  uint64_t context_addr(uint8_t bus, uint8_t devfn, bool alloc);  // 0 if none
  int context_mapping_one(dmar_domain &d, device_info &info, uint16_t rid);
  int context_setup_pass_through(device_info &info, uint16_t rid);
  void context_clear_one(device_info &info, uint16_t rid);
  void context_flush_no_pasid(device_info &info, uint16_t did, uint16_t sid);
  void context_flush_dev_iotlb(device_info &info);
  int context_flip_pri(device_info &info, bool enable);
  void free_context_tables();

  // pasid.cpp: PASID tables and entries (scalable mode).
  int pasid_alloc_table(device_info &info);
  void pasid_free_table(device_info &info);
  uint64_t pasid_get_entry(device_info &info, uint32_t pasid);  // 0 if none
  int pasid_setup_sm_context(device_info &info);
  void pasid_teardown_sm_context(device_info &info);
  int pasid_setup_second_level(dmar_domain &d, device_info &info, uint32_t pasid);
  int pasid_setup_nested(dmar_domain &d, device_info &info, uint32_t pasid);
  int pasid_setup_pass_through(device_info &info, uint32_t pasid);
  int pasid_setup_dirty_tracking(device_info &info, uint32_t pasid, bool enabled);
  void pasid_setup_page_snoop_control(device_info &info, uint32_t pasid);
  void pasid_tear_down_entry(device_info &info, uint32_t pasid, bool fault_ignore);
  void pasid_flush_caches(uint16_t did, uint32_t pasid);
  void devtlb_invalidation_with_pasid(device_info &info, uint32_t pasid);
  void write_pasid_entry(uint64_t pe, const uint64_t val[8]);

  // domain.cpp: attach/detach (device_block_translation), domain ids.
  void device_block_translation(device &dev);
  int domain_attach_iommu(dmar_domain &d);
  void domain_detach_iommu(dmar_domain &d);
  void enable_pci_caps(device_info &info);
  void disable_pci_caps(device_info &info);

  // fault.cpp / prq.cpp
  int prq_enable();
  void prq_finish();
  void prq_drain_pasid(device_info &info, uint32_t pasid);
  void prq_handle_locked();
  void handle_bad_prq_event(uint64_t q0, uint64_t q1, unsigned result);

  host_bus &bus_;
  const driver_config cfg_;
  bool probed_ = false;
  bool sm_ = false;
  uint32_t ver_ = 0;
  uint64_t cap_ = 0, ecap_ = 0;
  int agaw_ = -1, msagaw_ = -1;
  uint32_t pasid_max_id_ = pasid::MAX;
  uint32_t gcmd_ = 0;        // TE and QIE as last written (Linux's iommu->gcmd)
  std::mutex register_lock_;

  // Invalidation queue (§6.5.2): 256 descriptors of 16 or 32 bytes, and a
  // page of status words the wait descriptors write.
  static constexpr unsigned QI_LENGTH = 256;
  uint64_t qi_desc_ = 0, qi_desc_bytes_ = 0, qi_status_ = 0;
  unsigned qi_free_head_ = 0;
  std::mutex qi_lock_;

  // Root table and context tables (§9.1-9.4); iommu_lock_ also guards the
  // PASID tables and domain ids (Linux's iommu->lock).
  uint64_t root_entry_ = 0;
  std::mutex iommu_lock_;
  std::vector<bool> domain_ids_;

  // Page request queue (§7.5).
  uint64_t prq_ = 0;
  std::mutex prq_lock_;
  std::vector<unsigned> irqs_;

  // Requester ID → device (Linux's device_rbtree).
  mutable std::mutex devices_lock_;
  std::map<uint16_t, device_info *> rids_;

  std::unique_ptr<vtd_static_domain> blocked_, identity_;

  struct counters;
  std::unique_ptr<counters> cnt_;
  record_ring<fault_record> faults_;
  driver_log log_;
};

}  // namespace iommusim::iommufd::vtd
