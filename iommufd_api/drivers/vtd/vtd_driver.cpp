// SPDX-License-Identifier: MIT
// The VT-d driver instance: probe (CAP/ECAP, queued invalidation, root table,
// page request queue, fault interrupt, translation enable, in the order of
// Linux's init_dmars and intel_iommu_init), devices (Linux's
// intel_iommu_probe_device / release_device), and the iommu_driver operations
// that are not about one domain. See vtd_driver.h and docs/vtd_driver.md.
#include "drivers/vtd/vtd_driver.h"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/log.h"
#include "drivers/vtd/vtd_internal.h"
#include "iommusim/iommufd.h"

namespace iommusim::iommufd::vtd {

namespace {
constexpr uint64_t SZ_4K = 1ULL << 12, SZ_2M = 1ULL << 21, SZ_1G = 1ULL << 30;
// Linux's DEFAULT_DOMAIN_ADDRESS_WIDTH and the IOAPIC/MSI window.
constexpr int DEFAULT_DOMAIN_ADDRESS_WIDTH = 57;
constexpr uint64_t IOAPIC_RANGE_START = 0xfee00000, IOAPIC_RANGE_END = 0xfeefffff;
// CAP.PLMR / CAP.PHMR and PMEN (§11.4.13): protected memory regions.
constexpr bool cap_plmr(uint64_t c) { return (c >> 5) & 1; }
constexpr bool cap_phmr(uint64_t c) { return (c >> 6) & 1; }
constexpr uint32_t PMEN_EPM = 1u << 31, PMEN_PRS = 1u << 0;
std::string log_prefix(uint64_t base) {
  char p[64];
  snprintf(p, sizeof(p), "DMAR: dmar@%#llx", (unsigned long long)base);
  return p;
}
}  // namespace

vtd_driver::vtd_driver(host_bus &bus, const driver_config &cfg)
    : bus_(bus),
      cfg_(cfg),
      blocked_(std::make_unique<vtd_static_domain>(this, iommu_domain_type::blocked)),
      identity_(std::make_unique<vtd_static_domain>(this, iommu_domain_type::identity)),
      cnt_(std::make_unique<counters>()),
      log_(log_prefix(cfg.base)) {}

vtd_driver::~vtd_driver() { remove(); }

void vtd_driver::log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_.vprint(fmt, ap);
  va_end(ap);
}

driver_stats vtd_driver::stats() const {
  const counters &c = *cnt_;
  driver_stats s;
  s.descriptors = c.descriptors;
  s.waits = c.waits;
  s.wait_timeouts = c.wait_timeouts;
  s.iqe = c.iqe;
  s.ite = c.ite;
  s.ice = c.ice;
  s.iotlb_inv = c.iotlb_inv;
  s.piotlb_inv = c.piotlb_inv;
  s.devtlb_inv = c.devtlb_inv;
  s.cc_inv = c.cc_inv;
  s.pc_inv = c.pc_inv;
  s.faults = c.faults;
  s.fault_overflows = c.fault_overflows;
  s.prq_requests = c.prq_requests;
  s.prq_overflows = c.prq_overflows;
  s.prq_responses = c.prq_responses;
  s.pgtable_pages = c.pgtable_pages;
  return s;
}

// --- probe ---

namespace {
// Linux's __iommu_calculate_sagaw: the widths usable by the tables we build.
unsigned calculate_sagaw(uint64_t cap_r, uint64_t ecap_r, bool sm) {
  const unsigned fl_sagaw = (1u << 2) | (cap::fl5lp(cap_r) ? 1u << 3 : 0);
  const unsigned sl_sagaw = cap::sagaw(cap_r);
  if (!sm || !ecap::flts(ecap_r)) return sl_sagaw;
  if (!ecap::slts(ecap_r)) return fl_sagaw;
  return fl_sagaw & sl_sagaw;
}
int calculate_agaw(uint64_t cap_r, uint64_t ecap_r, bool sm, int max_gaw) {
  const unsigned sagaw = calculate_sagaw(cap_r, ecap_r, sm);
  int agaw;
  for (agaw = width_to_agaw(max_gaw); agaw >= 0; agaw--)
    if (agaw < 32 && (sagaw >> agaw) & 1) break;
  return agaw;
}
}  // namespace

int vtd_driver::hw_probe() {
  ver_ = bus_.readl(reg(reg::VER));
  cap_ = bus_.readq(reg(reg::CAP));
  ecap_ = bus_.readq(reg(reg::ECAP));
  if (cap_ == ~0ULL && ecap_ == ~0ULL) {
    log("failed to read registers");
    return -ENODEV;
  }
  if (!cap::sagaw(cap_)) {
    log("No supported address widths. Not attempting DMA translation.");
    return -ENODEV;
  }
  sm_ = ecap::smts(ecap_) && !cfg_.force_legacy;
  // Scalable mode needs the queue (PASID-cache and PASID-based invalidations
  // exist only as descriptors, §6.5.2).
  if (sm_ && !ecap::qis(ecap_)) {
    log("no queued invalidation: scalable mode disabled");
    sm_ = false;
  }
  agaw_ = calculate_agaw(cap_, ecap_, sm_, DEFAULT_DOMAIN_ADDRESS_WIDTH);
  msagaw_ = calculate_agaw(cap_, ecap_, sm_, 64);
  if (agaw_ < 0) {
    log("Cannot get a valid agaw");
    return -ENODEV;
  }
  // Paging domains are second-stage tables (Linux: "Do not use first stage
  // for user domain translation").
  if (sm_ && !ecap::slts(ecap_)) {
    log("scalable mode without second-stage translation is not supported");
    return -ENODEV;
  }
  if (pasid_supported()) pasid_max_id_ = std::min<uint32_t>(2u << ecap::pss(ecap_), pasid::MAX);
  try {
    domain_ids_.assign(size_t(cap::ndoms(cap_)), false);
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  }
  // Domain id 0 is what caching-mode hardware tags invalid entries with;
  // FLPT_DEFAULT_DID is for first-stage/pass-through entries (§6.2.3.1).
  domain_ids_[0] = true;
  if (domain_ids_.size() > FLPT_DEFAULT_DID) domain_ids_[FLPT_DEFAULT_DID] = true;
  log("ver %u:%u cap %#llx ecap %#llx, %s mode, agaw %d", (ver_ >> 4) & 0xf, ver_ & 0xf,
      (unsigned long long)cap_, (unsigned long long)ecap_, sm_ ? "scalable" : "legacy", agaw_);
  return 0;
}

// Write GCMD and wait until GSTS & sts_mask == sts_want (Linux's IOMMU_WAIT_OP).
int vtd_driver::gcmd_sync(uint32_t value, uint32_t sts_mask, bool sts_set) {
  bus_.writel(reg(reg::GCMD), value);
  const uint64_t start = bus_.now_ps();
  uint64_t interval = 20;
  for (;;) {
    if (bus_.poll32(reg(reg::GSTS), sts_mask, sts_set ? sts_mask : 0, interval, interval * 16))
      return 0;
    if ((bus_.now_ps() - start) / 1000 >= POLL_TIMEOUT_NS) break;
    interval = std::min<uint64_t>(interval * 2, 100000);
  }
  log("DMAR hardware is malfunctioning (GCMD %#x, GSTS %#x)", value,
      bus_.readl(reg(reg::GSTS)));
  return -ETIMEDOUT;
}

int vtd_driver::set_root_entry() {
  uint64_t addr = root_entry_;
  if (sm_) addr |= RTADDR_SMT;
  int rc;
  {
    std::lock_guard g(register_lock_);
    bus_.writeq(reg(reg::RTADDR), addr);
    rc = gcmd_sync(gcmd_ | gcmd::SRTP, gsts::RTPS, true);
  }
  if (rc) return rc;
  // Hardware with ESRTPS invalidates its caches as part of SRTP (§6.5.1).
  if (cap::esrtps(cap_)) return 0;
  flush_context(0, 0, 0, qi::CC_GRAN_GLOBAL);
  if (sm_) flush_pasid_cache(0, qi::PC_GLOBAL, 0);
  flush_iotlb(0, 0, 0, qi::IOTLB_GRAN_GLOBAL);
  return 0;
}

void vtd_driver::flush_write_buffer() {
  if (!cap::rwbf(cap_)) return;
  std::lock_guard g(register_lock_);
  gcmd_sync(gcmd_ | gcmd::WBF, gsts::WBFS, false);
}

int vtd_driver::enable_translation() {
  std::lock_guard g(register_lock_);
  gcmd_ |= gcmd::TE;
  return gcmd_sync(gcmd_, gsts::TES, true);
}

void vtd_driver::disable_translation() {
  std::lock_guard g(register_lock_);
  gcmd_ &= ~gcmd::TE;
  gcmd_sync(gcmd_, gsts::TES, false);
}

int vtd_driver::setup_fault_irq() {
  int rc = bus_.request_irq(cfg_.irq_fault, [this] { fault_irq(); });
  if (rc) {
    log("Can't request irq");
    return rc;
  }
  irqs_.push_back(cfg_.irq_fault);
  // The fault event is an MSI (§5.1.6): data, address, upper address, then
  // unmask (Linux's dmar_msi_write + dmar_msi_unmask).
  const uint64_t doorbell = bus_.msi_doorbell(cfg_.irq_fault);
  std::lock_guard g(register_lock_);
  bus_.writel(reg(reg::FEDATA), cfg_.irq_fault);
  bus_.writel(reg(reg::FEADDR), uint32_t(doorbell));
  bus_.writel(reg(reg::FEUADDR), uint32_t(doorbell >> 32));
  bus_.writel(reg(reg::FECTL), 0);
  bus_.readl(reg(reg::FECTL));
  return 0;
}

void vtd_driver::release_irqs() {
  for (unsigned line : irqs_) bus_.free_irq(line);
  irqs_.clear();
}

void vtd_driver::free_structures() {
  prq_finish();
  free_context_tables();
  if (root_entry_) {
    bus_.dma_free(root_entry_, 4096);
    root_entry_ = 0;
  }
  if (qi_desc_) {
    bus_.dma_free(qi_desc_, qi_desc_bytes_);
    qi_desc_ = 0;
  }
  if (qi_status_) {
    bus_.dma_free(qi_status_, 4096);
    qi_status_ = 0;
  }
}

int vtd_driver::probe() {
  if (probed_) return -EBUSY;
  int rc = hw_probe();
  if (rc) return rc;
  // Translation left on by firmware or a previous driver (Linux: "not in
  // kdump mode").
  if (bus_.readl(reg(reg::GSTS)) & gsts::TES) {
    log("Translation was enabled but we are not in kdump mode");
    gcmd_ = gcmd::TE;
    disable_translation();
  }
  bool touched = false;
  if (ecap::qis(ecap_)) {
    rc = qi_init();
    if (!rc) log("Using Queued invalidation");
  } else {
    // Old faults cleared; the context cache and IOTLB are invalidated
    // through CCMD and IOTLB_REG (Linux: "Using Register based invalidation").
    fault_irq();
    log("Using Register based invalidation");
  }
  if (!rc) {
    touched = true;
    root_entry_ = bus_.dma_alloc(4096, 4096);
    if (!root_entry_) {
      log("Allocating root entry failed");
      rc = -ENOMEM;
    }
  }
  if (!rc) {
    flush_write_buffer();
    rc = set_root_entry();
  }
  if (!rc) {
    flush_write_buffer();
    if (pasid_supported() && ecap::prs(ecap_)) rc = prq_enable();
  }
  if (!rc) rc = setup_fault_irq();
  if (!rc) rc = enable_translation();
  if (!rc && (cap_plmr(cap_) || cap_phmr(cap_))) {
    // Protected memory regions are the firmware's: off once we translate.
    std::lock_guard g(register_lock_);
    bus_.writel(reg(reg::PMEN), bus_.readl(reg(reg::PMEN)) & ~PMEN_EPM);
    bus_.poll32(reg(reg::PMEN), PMEN_PRS, 0, 100, POLL_TIMEOUT_NS);
  }
  if (rc) {
    // Leave the unit off without waiting for acknowledgements that may
    // never come, and take back everything we handed it.
    if (touched) bus_.writel(reg(reg::GCMD), 0);
    gcmd_ = 0;
    release_irqs();
    free_structures();
    return rc;
  }
  pgsize_bitmap = SZ_4K;
  probed_ = true;
  return 0;
}

void vtd_driver::remove() {
  if (!probed_) return;
  {
    std::lock_guard g(devices_lock_);
    IOMMUSIM_WARN_ON(!rids_.empty());
  }
  disable_translation();
  release_irqs();
  prq_finish();
  qi_disable();
  free_structures();
  probed_ = false;
}

// --- devices ---

device_info *vtd_driver::find_rid(uint16_t rid) const {
  std::lock_guard g(devices_lock_);
  auto it = rids_.find(rid);
  return it == rids_.end() ? nullptr : it->second;
}

int vtd_driver::add_device(device &dev) {
  if (!probed_) return -ENODEV;
  if (IOMMUSIM_WARN_ON(dev.iommu_priv)) return -EBUSY;
  if (dev.ids.empty()) return -ENODEV;
  for (uint32_t id : dev.ids)
    if (id > 0xffff) return -EINVAL;
  auto *info = new (std::nothrow) device_info();
  if (!info) return -ENOMEM;
  info->iommu = this;
  info->dev = &dev;
  try {
    for (uint32_t id : dev.ids) info->rids.push_back(uint16_t(id));
  } catch (const std::bad_alloc &) {
    delete info;
    return -ENOMEM;
  }
  // Device-TLB invalidations are descriptors: ATS needs the queue as well.
  if (dev.is_pci && ecap::dev_iotlb(ecap_) && ecap::qis(ecap_) && dev.ats_capable) {
    info->ats_supported = true;
    // With device-TLB throttling the PF's source id goes into the
    // descriptors; a VF is not modelled, so it is the device's own.
    if (ecap::dit(ecap_)) info->pfsid = info->rid();
  }
  if (sm_ && dev.is_pci) {
    info->pasid_supported = pasid_supported() && dev.max_pasids > 0;
    info->pri_supported =
        info->ats_supported && ecap::prs(ecap_) && ecap::pds(ecap_) && dev.pri_capable;
  }
  {
    std::lock_guard g(devices_lock_);
    std::vector<uint16_t> inserted;
    for (uint16_t rid : info->rids) {
      auto it = rids_.find(rid);
      if (it != rids_.end()) {
        if (it->second == info) continue;  // an alias listed twice
        for (uint16_t r : inserted) rids_.erase(r);
        log("requester id %02x:%02x.%u already belongs to %s", rid >> 8, (rid >> 3) & 0x1f,
            rid & 7u, it->second->dev->name.c_str());
        delete info;
        return -EEXIST;
      }
      rids_[rid] = info;
      inserted.push_back(rid);
    }
  }
  dev.iommu_priv = info;
  int rc = 0;
  if (sm_) {
    rc = pasid_alloc_table(*info);
    if (rc) {
      log("PASID table allocation failed");
    } else if ((rc = pasid_setup_sm_context(*info))) {
      pasid_teardown_sm_context(*info);
      pasid_free_table(*info);
    }
  }
  if (rc) {
    std::lock_guard g(devices_lock_);
    for (uint16_t rid : info->rids) {
      auto it = rids_.find(rid);
      if (it != rids_.end() && it->second == info) rids_.erase(it);
    }
    dev.iommu_priv = nullptr;
    delete info;
    return rc;
  }
  dev.max_pasids = info->pasid_supported ? std::min(dev.max_pasids, pasid_max_id_) : 0;
  return 0;
}

void vtd_driver::remove_device(device &dev) {
  device_info *info = dev_to_info(dev);
  if (!info || info->iommu != this) return;
  if (probed_) device_block_translation(dev);
  info->pri_enabled = false;
  {
    std::lock_guard g(devices_lock_);
    for (uint16_t rid : info->rids) {
      auto it = rids_.find(rid);
      if (it != rids_.end() && it->second == info) rids_.erase(it);
    }
  }
  if (sm_ && probed_) pasid_teardown_sm_context(*info);
  pasid_free_table(*info);
  dev.iommu_priv = nullptr;
  delete info;
}

// --- iommu_driver operations ---

bool vtd_driver::capable(const device &, iommu_cap c) const {
  switch (c) {
    case iommu_cap::cache_coherency:
      return true;
    case iommu_cap::enforce_cache_coherency:
      return ecap::sc(ecap_);
    case iommu_cap::dirty_tracking:
      return ssads_supported();
    default:
      return false;
  }
}

int vtd_driver::hw_info(const device &, uint32_t *type, std::vector<uint8_t> *data) {
  if (*type != IOMMU_HW_INFO_TYPE_DEFAULT && *type != IOMMU_HW_INFO_TYPE_INTEL_VTD)
    return -EOPNOTSUPP;
  iommu_hw_info_vtd info{};
  // Linux 6.12 reports the erratum on every VT-d unit: a nest parent must not
  // hold read-only mappings (__domain_mapping refuses them).
  info.flags = IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17;
  info.cap_reg = cap_;
  info.ecap_reg = ecap_;
  try {
    data->resize(sizeof(info));
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  }
  memcpy(data->data(), &info, sizeof(info));
  *type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
  return 0;
}

err_or<iommu_domain> vtd_driver::domain_alloc_paging(device *dev) {
  using R = err_or<iommu_domain>;
  if (dev) {
    device_info *info = dev_to_info(*dev);
    if (!info || info->iommu != this) return R::error(-ENODEV);
  }
  if (!probed_) return R::error(-ENODEV);
  auto *d = new (std::nothrow) dmar_domain(this);
  if (!d) return R::error(-ENOMEM);
  if (int rc = d->init_paging()) {
    delete d;
    return R::error(rc);
  }
  return d;
}

err_or<iommu_domain> vtd_driver::domain_alloc_user(device &dev, uint32_t flags,
                                                   iommu_domain *parent,
                                                   const iommu_user_data *user_data) {
  using R = err_or<iommu_domain>;
  device_info *info = dev_to_info(dev);
  if (!info || info->iommu != this) return R::error(-ENODEV);
  const bool dirty = flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
  const bool nest_parent = flags & IOMMU_HWPT_ALLOC_NEST_PARENT;

  if (parent) {
    // A nested (user first-stage) domain: Linux's intel_nested_domain_alloc.
    if (!nested_supported() || flags) return R::error(-EOPNOTSUPP);
    if (!user_data) return R::error(-EINVAL);
    if (user_data->type != IOMMU_HWPT_DATA_VTD_S1) return R::error(-EOPNOTSUPP);
    auto *s2 = dynamic_cast<dmar_domain *>(parent);
    if (!s2 || parent->owner != this || s2->type != iommu_domain_type::paging ||
        !s2->nested_parent)
      return R::error(-EINVAL);
    iommu_hwpt_vtd_s1 vtd{};
    if (int rc = iommu_copy_struct_from_user(&vtd, sizeof(vtd), sizeof(vtd), user_data,
                                             IOMMU_HWPT_DATA_VTD_S1))
      return R::error(rc);
    auto *d = new (std::nothrow) dmar_domain(this);
    if (!d) return R::error(-ENOMEM);
    d->type = iommu_domain_type::nested;
    d->use_first_level = true;
    d->s2_domain = s2;
    d->s1_cfg = vtd;
    try {
      std::lock_guard g(s2->s1_lock);
      s2->s1_domains.push_back(d);
    } catch (const std::bad_alloc &) {
      d->s2_domain = nullptr;
      delete d;
      return R::error(-ENOMEM);
    }
    return d;
  }

  if (flags & ~uint32_t(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING))
    return R::error(-EOPNOTSUPP);
  if (nest_parent && !nested_supported()) return R::error(-EOPNOTSUPP);
  if (user_data || (dirty && !ssads_supported())) return R::error(-EOPNOTSUPP);
  // Second stage for every user domain (Linux: "Do not use first stage for
  // user domain translation").
  auto *d = new (std::nothrow) dmar_domain(this);
  if (!d) return R::error(-ENOMEM);
  if (int rc = d->init_paging()) {
    delete d;
    return R::error(rc);
  }
  d->nested_parent = nest_parent;
  d->has_dirty_ops = dirty;
  return d;
}

iommu_domain *vtd_driver::default_domain(device &) { return blocked_.get(); }
iommu_domain *vtd_driver::blocked_domain(device &) { return blocked_.get(); }
iommu_domain *vtd_driver::identity_domain() { return identity_.get(); }

void vtd_driver::get_resv_regions(const device &, std::vector<iommu_resv_region> &out) const {
  // Interrupt messages: DMA to the IOAPIC/MSI window is an interrupt request,
  // never translated (Linux's IOMMU_RESV_MSI over IOAPIC_RANGE).
  out.push_back({IOAPIC_RANGE_START, IOAPIC_RANGE_END - IOAPIC_RANGE_START + 1, 0,
                 iommu_resv_region::kind::msi});
}

// Linux's intel_iommu_enable_iopf: PRI needs ATS and a PASID-capable unit;
// the context entry's PRE bit lets the unit accept page requests.
int vtd_driver::dev_enable_iopf(device &dev) {
  device_info *info = dev_to_info(dev);
  if (!info || info->iommu != this || !dev.is_pci) return -ENODEV;
  // Linux 6.12 also requires ATS to be enabled already (it is enabled at
  // attach); here ATS support suffices, as in later kernels that enable ATS
  // at probe.
  if (!info->ats_supported || !info->pri_supported) return -ENODEV;
  if (info->pri_enabled) return -EBUSY;
  if (int rc = context_flip_pri(*info, true)) return rc;
  info->pri_enabled = true;
  return 0;
}

void vtd_driver::dev_disable_iopf(device &dev) {
  device_info *info = dev_to_info(dev);
  if (!info || info->iommu != this || !info->pri_enabled) return;
  context_flip_pri(*info, false);
  info->pri_enabled = false;
}

}  // namespace iommusim::iommufd::vtd
