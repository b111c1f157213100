// SPDX-License-Identifier: MIT
// The Arm SMMUv3 driver behind the iommufd core (the design of Linux 6.12
// drivers/iommu/arm/arm-smmu-v3 and io-pgtable-arm.c, written against the Arm
// SMMUv3 architecture specification, IHI 0070).
//
// This header is the driver-level API the platform (sim/) uses:
//
//   smmuv3::driver_config cfg;  cfg.base = 0x09000000;  ...
//   smmuv3::smmuv3_driver drv(bus, cfg);     // bus: the platform's host_bus
//   if (int rc = drv.probe()) ...            // IDRs, queues, stream table, CR0
//   drv.add_device(dev);                     // dev.ids = StreamIDs
//   iommu_probe_device(dev, drv);            // the core puts dev in a group
//   ...
//   iommu_release_device(dev);  drv.remove_device(dev);  drv.remove();
//
// Everything the driver does to hardware goes through host_bus (registers,
// kernel RAM for tables and queues, polls, interrupts); it includes nothing of
// the SMMUv3 model or SystemC. The internals (masters, domains, page tables,
// queues) are in smmuv3_internal.h; docs/smmuv3_driver.md describes the driver
// function by function against Linux.
//
// Threads: the iommu_driver/iommu_domain operations run in program threads,
// the interrupt handlers in the platform's IRQ thread; every host_bus call may
// block in simulated time. The command queue, the stream table and the
// StreamID map have their own locks; domain page tables have one each.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/iommu.h"
#include "drivers/driver_log.h"
#include "drivers/hostbus.h"

namespace iommusim::iommufd::smmuv3 {

struct driver_config {
  uint64_t base = 0;  // physical address of register page 0 (page 1 is base + 64 KiB)
  // Interrupt lines of the platform's interrupt controller for the event
  // queue, the PRI queue and global errors (as wired lines, or as MSIs to
  // host_bus::msi_doorbell(line) when use_msi and SMMU_IDR0.MSI).
  // irq_cmd_sync is the SMMU's wired CMD_SYNC line; Linux never uses it and
  // neither does this driver (completion is by MSI write or by polling CONS).
  unsigned irq_eventq = 0, irq_priq = 1, irq_gerror = 2, irq_cmd_sync = 3;
  // MSIs: CMD_SYNC completion by an MSI write to memory (Linux's MSIPOLL,
  // only with SMMU_IDR0.MSI and IDR0.COHACC), and EVTQ/PRIQ/GERROR signalled
  // as MSIs. false: wired interrupts and CONS polling.
  bool use_msi = true;
  // log2 of the queue sizes the driver asks for; capped by SMMU_IDR1.
  uint32_t cmdq_log2 = 8, evtq_log2 = 7, priq_log2 = 7;
};

// What the driver counted (a snapshot; see smmuv3_driver::stats()).
struct driver_stats {
  uint64_t commands = 0;        // commands written to the CMDQ, CMD_SYNCs included
  uint64_t syncs = 0;           // CMD_SYNCs issued
  uint64_t sync_timeouts = 0;   // CMD_SYNCs that did not complete in time
  uint64_t cmdq_errors = 0;     // SMMU_CMDQ_CONS.ERR reports handled (GERROR.CMDQ_ERR)
  uint64_t cmdq_illegal = 0;    //   of which CERROR_ILL: the command was replaced by a CMD_SYNC
  uint64_t cmdq_abort = 0;      //   of which CERROR_ABT: the fetch was retried
  uint64_t cmdq_atc_timeout = 0;//   of which CERROR_ATC_INV_SYNC: the CMD_SYNC was retried
  uint64_t gerrors = 0;         // global errors acknowledged (any GERROR bit)
  uint64_t sfm = 0;             // entries into Service Failure Mode
  uint64_t events = 0;          // event queue records drained
  uint64_t evtq_overflows = 0;
  uint64_t stall_faults = 0;    // stalled transactions reported as page faults
  uint64_t pri_requests = 0;    // PRI queue page requests drained
  uint64_t priq_overflows = 0;
  uint64_t pri_responses = 0;   // CMD_PRI_RESP sent
  uint64_t resumes = 0;         // CMD_RESUME sent
  uint64_t tlbi = 0;            // TLBI_* commands
  uint64_t atc_inv = 0;         // ATC_INV commands
  uint64_t cfgi = 0;            // CFGI_* commands
  uint64_t ste_writes = 0;      // STE updates (each may take several steps)
  uint64_t cd_writes = 0;       // CD updates
  uint64_t pgtable_pages = 0;   // translation table pages currently allocated
};

// One decoded event queue record (SMMUv3 spec §7.3), kept for tests and traces.
struct event_record {
  uint8_t id = 0;           // F_TRANSLATION = 0x10, ...
  uint32_t sid = 0;
  uint32_t ssid = 0;
  bool ssv = false;
  bool stall = false;
  uint64_t addr = 0;        // input address (faults), 0 otherwise
  uint64_t raw[4] = {0, 0, 0, 0};
};

struct smmu_queue;
struct smmu_master;
class smmu_domain;
class smmu_static_domain;

class smmuv3_driver final : public iommu_driver {
 public:
  smmuv3_driver(host_bus &bus, const driver_config &cfg);
  ~smmuv3_driver() override;
  smmuv3_driver(const smmuv3_driver &) = delete;
  smmuv3_driver &operator=(const smmuv3_driver &) = delete;

  // Read SMMU_IDR0-5, allocate the queues and the stream table, reset and
  // enable the SMMU (CR0/CR0ACK, in the order of Linux's device reset).
  // 0, or -ENODEV/-ENXIO (unusable ID registers), -ENOMEM (with everything
  // freed again), -ETIMEDOUT (CR0ACK, IRQ_CTRLACK or GBPA never followed),
  // -EBUSY (already probed).
  int probe();
  // Disable the SMMU, release the interrupts and free every queue and table.
  // Devices must have been removed first.
  void remove();
  // Make dev a master of this SMMU: its StreamIDs (dev.ids) get STEs (a
  // level-2 stream table on demand) that abort until a domain is attached.
  // The caller then runs iommu_probe_device(dev, *this). -ERANGE for a
  // StreamID the stream table cannot hold, -EINVAL for one another device
  // owns, -ENOMEM, -ENODEV before probe().
  int add_device(device &dev);
  // After iommu_release_device(dev): abort the StreamIDs and forget dev.
  void remove_device(device &dev);

  // --- iommu_driver ---
  const char *name() const override { return "arm-smmu-v3"; }
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

  // An identity (bypass STE) domain, for platforms that want devices to
  // reach memory untranslated. Not a default domain: iommufd never needs it.
  iommu_domain *identity_domain();

  // --- observation (platform statistics, traces, tests) ---
  driver_stats stats() const;
  // The last event queue records (at most 64, oldest first).
  std::vector<event_record> recent_events() const { return events_.snapshot(); }
  // Where log lines go (default: stderr, "arm-smmu-v3 <base>: ...").
  void set_log_sink(std::function<void(const std::string &)> sink) {
    log_.set_sink(std::move(sink));
  }
  const driver_config &config() const { return cfg_; }
  bool probed() const { return probed_; }
  // Feature summary from the ID registers (valid after probe()).
  unsigned ias() const { return ias_; }
  unsigned oas() const { return oas_; }
  unsigned sid_bits() const { return sid_bits_; }
  unsigned ssid_bits() const { return ssid_bits_; }
  bool two_level_strtab() const;

 private:
  friend class smmu_domain;
  friend class smmu_static_domain;

  // smmuv3_driver.cpp
  int hw_probe();
  int init_structures();
  void free_structures();
  int device_reset();
  int setup_irqs();
  void release_irqs();
  int write_reg_sync(uint64_t off, uint32_t val, uint64_t ack_off);
  int update_gbpa(uint32_t set, uint32_t clr);
  int device_disable();
  uint64_t reg(uint64_t off) const { return cfg_.base + off; }
  uint64_t reg1(uint64_t off) const { return cfg_.base + 0x10000 + off; }
  void log(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
  bool dbm_capable() const;

  // cmdq.cpp
  int init_queue(smmu_queue &q, uint32_t want_log2, uint32_t max_log2, unsigned ent_dwords,
                 uint64_t prod_reg, uint64_t cons_reg, const char *what);
  void free_queue(smmu_queue &q);
  // Issue n commands (2 dwords each), then a CMD_SYNC and wait for it when
  // sync. 0, -ETIMEDOUT (the CMD_SYNC never completed) or -EIO (SMMU off).
  int cmdq_issue(const uint64_t *cmds, size_t n, bool sync);
  int cmdq_issue_one(const uint64_t cmd[2], bool sync) { return cmdq_issue(cmd, 1, sync); }
  void build_sync(uint64_t cmd[2], uint64_t msi_addr) const;
  bool cmdq_check_error();  // handle a pending GERROR.CMDQ_ERR; true if there was one
  void cmdq_skip_err();
  void count_command(uint64_t cmd0);

  // evtq.cpp
  void evtq_irq();
  void handle_event(const uint64_t evt[4]);
  void gerror_irq();
  // priq.cpp
  void priq_irq();
  void handle_ppr(const uint64_t evt[2]);

  // strtab.cpp
  int init_strtab();
  void free_strtab();
  int init_l2_strtab(uint32_t sid);
  bool sid_in_range(uint32_t sid) const;
  uint64_t ste_pa(uint32_t sid) const;
  void write_strtab_regs();
  void install_ste_for_dev(smmu_master &master, const uint64_t target[8]);
  void write_ste(uint32_t sid, const uint64_t target[8]);
  void make_abort_ste(uint64_t ste[8]) const;
  void make_bypass_ste(uint64_t ste[8]) const;
  void make_cdtable_ste(uint64_t ste[8], const smmu_master &master, bool ats,
                        unsigned s1dss) const;
  void make_s2_domain_ste(uint64_t ste[8], const smmu_master &master, const smmu_domain &d,
                          bool ats) const;
  // The hitless-or-breaking entry update shared by STEs and CDs: sync(…) is
  // called after each step that changed memory.
  void write_entry(uint64_t pa, const uint64_t target[8],
                   void (*get_used)(const uint64_t *, uint64_t *),
                   const std::function<void()> &sync);

  // cd.cpp
  int alloc_cd_tables(smmu_master &master);
  void free_cd_tables(smmu_master &master);
  uint64_t cd_pa(smmu_master &master, uint32_t ssid, bool alloc);  // 0 if none
  void make_s1_cd(uint64_t cd[8], const smmu_master &master, const smmu_domain &d) const;
  void write_cd(smmu_master &master, uint32_t ssid, uint64_t cdptr, const uint64_t target[8]);
  void clear_cd(smmu_master &master, uint32_t ssid);
  void sync_cd(smmu_master &master, uint32_t ssid, bool leaf);
  int asid_alloc(uint16_t *asid);
  void asid_free(uint16_t asid);
  int vmid_alloc(uint16_t *vmid);
  void vmid_free(uint16_t vmid);

  // The StreamID's master (streams_mutex_ held).
  smmu_master *find_master(uint32_t sid) const;
  // Change the STE (and CD 0) of a master to a static domain (abort/bypass).
  void attach_dev_ste(smmu_master &master, iommu_domain *domain, uint64_t ste[8],
                      unsigned s1dss);
  // ATS for a master: the SMMU and the device support it (§3.9).
  bool ats_supported(const smmu_master &master) const;
  // The end of an attach (Linux's arm_smmu_attach_commit): flush the ATC as
  // the ATS state changes, leave the old domain's device list.
  void attach_commit(smmu_master &master, iommu_domain *old_domain, bool ats, uint32_t ssid);
  void atc_inv_master(smmu_master &master, uint32_t ssid);

  host_bus &bus_;
  const driver_config cfg_;
  bool probed_ = false;
  std::atomic<bool> disabled_{false};  // Service Failure Mode or remove()

  // ID registers and what follows from them.
  uint32_t idr_[6] = {0, 0, 0, 0, 0, 0};
  uint32_t iidr_ = 0, aidr_ = 0;
  uint32_t features_ = 0;
  uint32_t options_ = 0;
  unsigned ias_ = 0, oas_ = 0;
  unsigned asid_bits_ = 0, vmid_bits_ = 0, ssid_bits_ = 0, sid_bits_ = 0;
  uint64_t hw_pgsize_bitmap_ = 0;

  // Queues (SMMUv3 spec §3.5) and the command queue's lock.
  std::unique_ptr<smmu_queue> cmdq_, evtq_, priq_;
  std::mutex cmdq_lock_;
  std::mutex gerror_lock_;  // CMDQ error recovery from the IRQ and from waiters
  std::mutex evtq_lock_, priq_lock_;

  // Stream table (§3.3): linear, or two-level with level-2 tables on demand.
  struct strtab_cfg {
    uint64_t base = 0;        // linear table or level-1 table
    uint64_t size = 0;        // bytes
    unsigned num_ents = 0;    // linear: STEs; 2-level: L1 descriptors
    std::vector<uint64_t> l2; // 2-level: PA of each level-2 table (0 = none)
  } strtab_;
  std::mutex strtab_lock_;

  // StreamID → master (Linux's streams rb-tree and streams_mutex).
  mutable std::mutex streams_mutex_;
  std::map<uint32_t, smmu_master *> streams_;

  // ASIDs (1 .. 2^asid_bits - 1) and VMIDs (1 .. 2^vmid_bits - 1; 0 is the
  // VMID of stage-1-only STEs).
  std::mutex id_lock_;
  std::set<uint32_t> asids_, vmids_;

  std::unique_ptr<smmu_static_domain> blocked_, identity_;
  std::vector<unsigned> irqs_;

  // Counters and the event log.
  struct counters;
  std::unique_ptr<counters> cnt_;
  record_ring<event_record> events_;
  driver_log log_;
};

}  // namespace iommusim::iommufd::smmuv3
