// SPDX-License-Identifier: MIT
// The SMMUv3 driver instance: probe (ID registers, queues, stream table,
// reset and enable in the order of Linux's arm_smmu_device_reset), devices
// (masters and their StreamIDs), and the iommu_driver operations that are not
// about one domain. See smmuv3_driver.h and docs/smmuv3_driver.md.
#include "drivers/smmuv3/smmuv3_driver.h"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/log.h"
#include "drivers/smmuv3/smmuv3_internal.h"
#include "iommusim/iommufd.h"

namespace iommusim::iommufd::smmuv3 {

namespace {
constexpr uint64_t SZ_4K = 1ULL << 12, SZ_2M = 1ULL << 21, SZ_1G = 1ULL << 30;
std::string log_prefix(uint64_t base) {
  char p[64];
  snprintf(p, sizeof(p), "arm-smmu-v3 %#llx", (unsigned long long)base);
  return p;
}
}  // namespace

smmuv3_driver::smmuv3_driver(host_bus &bus, const driver_config &cfg)
    : bus_(bus),
      cfg_(cfg),
      cmdq_(std::make_unique<smmu_queue>()),
      evtq_(std::make_unique<smmu_queue>()),
      priq_(std::make_unique<smmu_queue>()),
      blocked_(std::make_unique<smmu_static_domain>(this, iommu_domain_type::blocked)),
      identity_(std::make_unique<smmu_static_domain>(this, iommu_domain_type::identity)),
      cnt_(std::make_unique<counters>()),
      log_(log_prefix(cfg.base)) {}

smmuv3_driver::~smmuv3_driver() { remove(); }

void smmuv3_driver::log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_.vprint(fmt, ap);
  va_end(ap);
}

driver_stats smmuv3_driver::stats() const {
  driver_stats s;
  const counters &c = *cnt_;
  s.commands = c.commands;
  s.syncs = c.syncs;
  s.sync_timeouts = c.sync_timeouts;
  s.cmdq_errors = c.cmdq_errors;
  s.cmdq_illegal = c.cmdq_illegal;
  s.cmdq_abort = c.cmdq_abort;
  s.cmdq_atc_timeout = c.cmdq_atc_timeout;
  s.gerrors = c.gerrors;
  s.sfm = c.sfm;
  s.events = c.events;
  s.evtq_overflows = c.evtq_overflows;
  s.stall_faults = c.stall_faults;
  s.pri_requests = c.pri_requests;
  s.priq_overflows = c.priq_overflows;
  s.pri_responses = c.pri_responses;
  s.resumes = c.resumes;
  s.tlbi = c.tlbi;
  s.atc_inv = c.atc_inv;
  s.cfgi = c.cfgi;
  s.ste_writes = c.ste_writes;
  s.cd_writes = c.cd_writes;
  s.pgtable_pages = c.pgtable_pages;
  return s;
}

bool smmuv3_driver::dbm_capable() const {
  const uint32_t need = FEAT_HD | FEAT_COHERENCY;
  return (features_ & need) == need;
}

// --- probe ---

int smmuv3_driver::hw_probe() {
  for (unsigned i = 0; i < 6; i++) idr_[i] = bus_.readl(reg(reg::IDR0 + 4 * i));
  iidr_ = bus_.readl(reg(reg::IIDR));
  aidr_ = bus_.readl(reg(reg::AIDR));
  features_ = options_ = 0;
  ias_ = oas_ = 0;

  uint64_t r = idr_[0];
  if (r == 0xffffffffu) {
    log("no SMMU at this address (IDR0 reads all ones)");
    return -ENODEV;
  }
  if (fget(idr0::ST_LEVEL, r) == idr0::ST_LEVEL_2LVL) features_ |= FEAT_2_LVL_STRTAB;
  if (r & idr0::CD2L) features_ |= FEAT_2_LVL_CDTAB;
  // Tables in the CPU's (little-endian) byte order.
  switch (fget(idr0::TTENDIAN, r)) {
    case idr0::TTENDIAN_MIXED:
    case idr0::TTENDIAN_LE:
      break;
    default:
      log("unknown/unsupported TT endianness!");
      return -ENXIO;
  }
  if (r & idr0::PRI) features_ |= FEAT_PRI;
  if (r & idr0::ATS) features_ |= FEAT_ATS;
  if (r & idr0::SEV) features_ |= FEAT_SEV;
  // Coherency: Linux trusts the firmware; here IDR0.COHACC is the firmware.
  if (r & idr0::COHACC) features_ |= FEAT_COHERENCY;
  if (r & idr0::MSI) {
    features_ |= FEAT_MSI;
    if ((features_ & FEAT_COHERENCY) && cfg_.use_msi) options_ |= OPT_MSIPOLL;
  }
  if (r & idr0::HYP) features_ |= FEAT_HYP;
  switch (fget(idr0::HTTU, r)) {
    case idr0::HTTU_ACCESS_DIRTY:
      features_ |= FEAT_HD;
      [[fallthrough]];
    case idr0::HTTU_ACCESS:
      features_ |= FEAT_HA;
      break;
    default:
      break;
  }
  switch (fget(idr0::STALL_MODEL, r)) {
    case idr0::STALL_MODEL_FORCE:
      features_ |= FEAT_STALL_FORCE;
      [[fallthrough]];
    case idr0::STALL_MODEL_STALL:
      features_ |= FEAT_STALLS;
      break;
    default:
      break;
  }
  if (r & idr0::S1P) features_ |= FEAT_TRANS_S1;
  if (r & idr0::S2P) features_ |= FEAT_TRANS_S2;
  if (!(r & (idr0::S1P | idr0::S2P))) {
    log("no translation support!");
    return -ENXIO;
  }
  switch (fget(idr0::TTF, r)) {
    case idr0::TTF_AARCH32_64:
      ias_ = 40;
      [[fallthrough]];
    case idr0::TTF_AARCH64:
      break;
    default:
      log("AArch64 table format not supported!");
      return -ENXIO;
  }
  asid_bits_ = (r & idr0::ASID16) ? 16 : 8;
  vmid_bits_ = (r & idr0::VMID16) ? 16 : 8;

  r = idr_[1];
  if (r & (idr1::TABLES_PRESET | idr1::QUEUES_PRESET | idr1::REL)) {
    log("embedded implementation not supported");
    return -ENXIO;
  }
  if (r & idr1::ATTR_TYPES_OVR) features_ |= FEAT_ATTR_TYPES_OVR;
  ssid_bits_ = unsigned(fget(idr1::SSIDSIZE, r));
  sid_bits_ = unsigned(fget(idr1::SIDSIZE, r));
  // A StreamID space that fits one level-2 table gets a linear table.
  if (sid_bits_ <= strtab::SPLIT) features_ &= ~FEAT_2_LVL_STRTAB;

  if (idr_[3] & idr3::RIL) features_ |= FEAT_RANGE_INV;

  r = idr_[5];
  hw_pgsize_bitmap_ = 0;
  if (r & idr5::GRAN64K) hw_pgsize_bitmap_ |= (1ULL << 16) | (1ULL << 29);
  if (r & idr5::GRAN16K) hw_pgsize_bitmap_ |= (1ULL << 14) | (1ULL << 25);
  if (r & idr5::GRAN4K) hw_pgsize_bitmap_ |= SZ_4K | SZ_2M | SZ_1G;
  if (!(r & idr5::GRAN4K)) {
    // Our tables use the 4 KiB granule only (Linux would use 16K/64K).
    log("4KB translation granule not supported (IDR5 %#x)", unsigned(r));
    return -ENXIO;
  }
  if (fget(idr5::VAX, r) == idr5::VAX_52) features_ |= FEAT_VAX;
  switch (fget(idr5::OAS, r)) {
    case 0: oas_ = 32; break;
    case 1: oas_ = 36; break;
    case 2: oas_ = 40; break;
    case 3: oas_ = 42; break;
    case 4: oas_ = 44; break;
    case 6: oas_ = 52; break;
    default:
      if (fget(idr5::OAS, r) != 5) log("unknown output address size. Truncating to 48-bit");
      oas_ = 48;
  }
  ias_ = std::max(ias_, oas_);
  if ((features_ & FEAT_TRANS_S1) && (features_ & FEAT_TRANS_S2)) features_ |= FEAT_NESTING;
  log("ias %u-bit, oas %u-bit (features %#010x)", ias_, oas_, features_);
  return 0;
}

int smmuv3_driver::init_structures() {
  int rc = init_queue(*cmdq_, cfg_.cmdq_log2, unsigned(fget(idr1::CMDQS, idr_[1])),
                      q::CMDQ_ENT_DWORDS, reg(reg::CMDQ_PROD), reg(reg::CMDQ_CONS), "cmdq");
  if (rc) return rc;
  rc = init_queue(*evtq_, cfg_.evtq_log2, unsigned(fget(idr1::EVENTQS, idr_[1])),
                  q::EVTQ_ENT_DWORDS, reg1(reg::EVTQ_PROD), reg1(reg::EVTQ_CONS), "evtq");
  if (rc) return rc;
  if (features_ & FEAT_PRI) {
    rc = init_queue(*priq_, cfg_.priq_log2, unsigned(fget(idr1::PRIQS, idr_[1])),
                    q::PRIQ_ENT_DWORDS, reg1(reg::PRIQ_PROD), reg1(reg::PRIQ_CONS), "priq");
    if (rc) return rc;
  }
  return init_strtab();
}

void smmuv3_driver::free_structures() {
  free_strtab();
  free_queue(*priq_);
  free_queue(*evtq_);
  free_queue(*cmdq_);
}

int smmuv3_driver::write_reg_sync(uint64_t off, uint32_t val, uint64_t ack_off) {
  bus_.writel(reg(off), val);
  const bool ok = poll_backoff(
      bus_,
      [&](uint64_t interval, uint64_t slice) {
        return bus_.poll32(reg(ack_off), 0xffffffffu, val, interval, slice);
      },
      POLL_TIMEOUT_NS);
  return ok ? 0 : -ETIMEDOUT;
}

int smmuv3_driver::update_gbpa(uint32_t set, uint32_t clr) {
  // GBPA takes a new value only with UPDATE, which the SMMU clears (§6.3.14).
  auto idle = [&] {
    return poll_backoff(
        bus_,
        [&](uint64_t interval, uint64_t slice) {
          return bus_.poll32(reg(reg::GBPA), gbpa::UPDATE, 0, interval, slice);
        },
        POLL_TIMEOUT_NS);
  };
  if (!idle()) return -ETIMEDOUT;
  uint32_t v = bus_.readl(reg(reg::GBPA));
  v = (v & ~clr) | set;
  bus_.writel(reg(reg::GBPA), v | gbpa::UPDATE);
  if (!idle()) {
    log("GBPA not responding to update");
    return -ETIMEDOUT;
  }
  return 0;
}

int smmuv3_driver::device_disable() {
  const int rc = write_reg_sync(reg::CR0, 0, reg::CR0ACK);
  if (rc) log("failed to clear cr0");
  return rc;
}

int smmuv3_driver::setup_irqs() {
  int rc = write_reg_sync(reg::IRQ_CTRL, 0, reg::IRQ_CTRLACK);
  if (rc) {
    log("failed to disable irqs");
    return rc;
  }
  // MSI addresses zero (wired interrupts) unless MSIs are used (§6.3.19).
  bus_.writeq(reg(reg::GERROR_IRQ_CFG0), 0);
  bus_.writeq(reg(reg::EVTQ_IRQ_CFG0), 0);
  if (features_ & FEAT_PRI) bus_.writeq(reg(reg::PRIQ_IRQ_CFG0), 0);
  if ((features_ & FEAT_MSI) && cfg_.use_msi) {
    struct {
      uint64_t cfg0;
      unsigned line;
      bool present;
    } msis[] = {{reg::EVTQ_IRQ_CFG0, cfg_.irq_eventq, true},
                {reg::GERROR_IRQ_CFG0, cfg_.irq_gerror, true},
                {reg::PRIQ_IRQ_CFG0, cfg_.irq_priq, bool(features_ & FEAT_PRI)}};
    for (auto &m : msis) {
      if (!m.present) continue;
      const uint64_t doorbell = bus_.msi_doorbell(m.line);
      bus_.writeq(reg(m.cfg0), doorbell & msi_cfg::ADDR_MASK);
      bus_.writel(reg(m.cfg0 + 8), m.line);  // CFG1: MSI data
      bus_.writel(reg(m.cfg0 + 0xc), msi_cfg::MEMATTR_DEVICE_nGnRE);  // CFG2
    }
  }
  auto request = [&](unsigned line, std::function<void()> fn, const char *what) {
    if (bus_.request_irq(line, std::move(fn)) < 0) {
      log("failed to enable %s irq", what);
      return;
    }
    irqs_.push_back(line);
  };
  request(cfg_.irq_eventq, [this] { evtq_irq(); }, "evtq");
  request(cfg_.irq_gerror, [this] { gerror_irq(); }, "gerror");
  if (features_ & FEAT_PRI) request(cfg_.irq_priq, [this] { priq_irq(); }, "priq");

  uint32_t irqen = irq_ctrl::EVTQ_IRQEN | irq_ctrl::GERROR_IRQEN;
  if (features_ & FEAT_PRI) irqen |= irq_ctrl::PRIQ_IRQEN;
  if (write_reg_sync(reg::IRQ_CTRL, irqen, reg::IRQ_CTRLACK)) log("failed to enable irqs");
  return 0;
}

void smmuv3_driver::release_irqs() {
  for (unsigned line : irqs_) bus_.free_irq(line);
  irqs_.clear();
}

int smmuv3_driver::device_reset() {
  // An SMMU left enabled (by firmware, a previous driver) aborts incoming
  // transactions while it is reset.
  if (bus_.readl(reg(reg::CR0)) & cr0::SMMUEN) {
    log("SMMU currently enabled! Resetting...");
    update_gbpa(gbpa::ABORT, 0);
  }
  int rc = device_disable();
  if (rc) return rc;

  // Table and queue accesses: inner shareable, write-back (§6.3.11).
  bus_.writel(reg(reg::CR1), uint32_t(fprep(cr1::TABLE_SH, cmd::SH_ISH) |
                                      fprep(cr1::TABLE_OC, cr1::CACHE_WB) |
                                      fprep(cr1::TABLE_IC, cr1::CACHE_WB) |
                                      fprep(cr1::QUEUE_SH, cmd::SH_ISH) |
                                      fprep(cr1::QUEUE_OC, cr1::CACHE_WB) |
                                      fprep(cr1::QUEUE_IC, cr1::CACHE_WB)));
  // Private TLB maintenance; record invalid-StreamID events (§6.3.12).
  bus_.writel(reg(reg::CR2), cr2::PTM | cr2::RECINVSID);

  write_strtab_regs();

  bus_.writeq(reg(reg::CMDQ_BASE), cmdq_->q_base);
  bus_.writel(reg(reg::CMDQ_PROD), cmdq_->prod);
  bus_.writel(reg(reg::CMDQ_CONS), cmdq_->cons);
  uint32_t enables = cr0::CMDQEN;
  if ((rc = write_reg_sync(reg::CR0, enables, reg::CR0ACK))) {
    log("failed to enable command queue");
    return rc;
  }

  // Forget any configuration and translations cached before we came.
  uint64_t c[2];
  cmd_cfgi_all(c);
  if (cmdq_issue_one(c, true)) log("CFGI_ALL did not complete");
  if (features_ & FEAT_HYP) {
    cmd_tlbi_el2_all(c);
    cmdq_issue_one(c, true);
  }
  cmd_tlbi_nsnh_all(c);
  cmdq_issue_one(c, true);

  bus_.writeq(reg(reg::EVTQ_BASE), evtq_->q_base);
  bus_.writel(reg1(reg::EVTQ_PROD), evtq_->prod);
  bus_.writel(reg1(reg::EVTQ_CONS), evtq_->cons);
  enables |= cr0::EVTQEN;
  if ((rc = write_reg_sync(reg::CR0, enables, reg::CR0ACK))) {
    log("failed to enable event queue");
    return rc;
  }

  if (features_ & FEAT_PRI) {
    bus_.writeq(reg(reg::PRIQ_BASE), priq_->q_base);
    bus_.writel(reg1(reg::PRIQ_PROD), priq_->prod);
    bus_.writel(reg1(reg::PRIQ_CONS), priq_->cons);
    enables |= cr0::PRIQEN;
    if ((rc = write_reg_sync(reg::CR0, enables, reg::CR0ACK))) {
      log("failed to enable PRI queue");
      return rc;
    }
  }

  if (features_ & FEAT_ATS) {
    enables |= cr0::ATSCHK;
    if ((rc = write_reg_sync(reg::CR0, enables, reg::CR0ACK))) {
      log("failed to enable ATS check");
      return rc;
    }
  }

  if ((rc = setup_irqs())) {
    log("failed to setup irqs");
    return rc;
  }

  enables |= cr0::SMMUEN;
  if ((rc = write_reg_sync(reg::CR0, enables, reg::CR0ACK))) {
    log("failed to enable SMMU interface");
    return rc;
  }
  return 0;
}

int smmuv3_driver::probe() {
  if (probed_) return -EBUSY;
  disabled_.store(false);
  int rc = hw_probe();
  if (rc) return rc;
  rc = init_structures();
  bool touched = false;
  if (!rc) {
    touched = true;
    rc = device_reset();
  }
  if (rc) {
    // Leave the SMMU off (without waiting for an acknowledgement that may
    // never come) and take back everything we handed it.
    if (touched) bus_.writel(reg(reg::CR0), 0);
    release_irqs();
    free_structures();
    *cmdq_ = smmu_queue{};
    *evtq_ = smmu_queue{};
    *priq_ = smmu_queue{};
    return rc;
  }
  pgsize_bitmap = hw_pgsize_bitmap_ & (SZ_4K | SZ_2M | SZ_1G);
  probed_ = true;
  return 0;
}

void smmuv3_driver::remove() {
  if (!probed_) return;
  {
    std::lock_guard g(streams_mutex_);
    IOMMUSIM_WARN_ON(!streams_.empty());
  }
  device_disable();
  disabled_.store(true);
  release_irqs();
  free_structures();
  *cmdq_ = smmu_queue{};
  *evtq_ = smmu_queue{};
  *priq_ = smmu_queue{};
  probed_ = false;
}

// --- devices ---

smmu_master *smmuv3_driver::find_master(uint32_t sid) const {
  auto it = streams_.find(sid);
  return it == streams_.end() ? nullptr : it->second;
}

int smmuv3_driver::add_device(device &dev) {
  if (!probed_) return -ENODEV;
  if (IOMMUSIM_WARN_ON(dev.iommu_priv)) return -EBUSY;
  if (dev.ids.empty()) return -ENODEV;
  auto *m = new (std::nothrow) smmu_master();
  if (!m) return -ENOMEM;
  m->smmu = this;
  m->dev = &dev;
  try {
    m->sids = dev.ids;
  } catch (const std::bad_alloc &) {
    delete m;
    return -ENOMEM;
  }

  int rc = 0;
  std::vector<uint32_t> inserted;
  {
    std::lock_guard g(streams_mutex_);
    for (uint32_t sid : m->sids) {
      if (!sid_in_range(sid)) {
        rc = -ERANGE;
        break;
      }
      if ((features_ & FEAT_2_LVL_STRTAB) && (rc = init_l2_strtab(sid))) break;
      auto it = streams_.find(sid);
      if (it != streams_.end()) {
        if (it->second == m) continue;  // an alias listed twice
        log("stream %u already in tree from dev %s", sid, it->second->dev->name.c_str());
        rc = -EINVAL;
        break;
      }
      streams_[sid] = m;
      inserted.push_back(sid);
    }
    if (rc)
      for (uint32_t sid : inserted) streams_.erase(sid);
  }
  if (rc) {
    delete m;
    return rc;
  }

  // SubstreamIDs: what the device has and the SMMU supports; a linear CD
  // table is kept to 64 KiB.
  const unsigned dev_bits = dev.max_pasids ? unsigned(fls64(dev.max_pasids)) : 0;
  m->ssid_bits = std::min(ssid_bits_, dev_bits);
  if (!(features_ & FEAT_2_LVL_CDTAB)) m->ssid_bits = std::min(m->ssid_bits, cd::LINEAR_CDMAX);
  if (dev.max_pasids) dev.max_pasids = std::min<uint32_t>(dev.max_pasids, 1u << ssid_bits_);
  // Stalls are forced on every master by a STALL_FORCE SMMU; platform
  // devices opting in ("dma-can-stall") are not modelled.
  m->stall_enabled = features_ & FEAT_STALL_FORCE;
  dev.iommu_priv = m;
  return 0;
}

void smmuv3_driver::remove_device(device &dev) {
  smmu_master *m = dev_to_master(dev);
  if (!m || m->smmu != this) return;
  // Back to what the stream table started with: abort.
  if (probed_) blocked_->attach_dev(dev);
  m->iopf_enabled = false;
  {
    std::lock_guard g(streams_mutex_);
    for (uint32_t sid : m->sids) {
      auto it = streams_.find(sid);
      if (it != streams_.end() && it->second == m) streams_.erase(it);
    }
  }
  free_cd_tables(*m);
  dev.iommu_priv = nullptr;
  delete m;
}

// --- iommu_driver operations ---

bool smmuv3_driver::capable(const device &, iommu_cap cap) const {
  switch (cap) {
    case iommu_cap::cache_coherency:
      // A coherent table walker implies coherent translated traffic.
      return features_ & FEAT_COHERENCY;
    case iommu_cap::dirty_tracking:
      return dbm_capable();
    default:
      return false;
  }
}

int smmuv3_driver::hw_info(const device &, uint32_t *type, std::vector<uint8_t> *data) {
  if (*type != IOMMU_HW_INFO_TYPE_DEFAULT && *type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3)
    return -EOPNOTSUPP;
  iommu_hw_info_arm_smmuv3 info{};
  // The registers as they read now (§6.3.1-6.3.6, IIDR §6.3.7, AIDR §6.3.8).
  for (unsigned i = 0; i < 6; i++) info.idr[i] = bus_.readl(reg(reg::IDR0 + 4 * i));
  info.iidr = bus_.readl(reg(reg::IIDR));
  info.aidr = bus_.readl(reg(reg::AIDR));
  try {
    data->resize(sizeof(info));
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  }
  memcpy(data->data(), &info, sizeof(info));
  *type = IOMMU_HW_INFO_TYPE_ARM_SMMUV3;
  return 0;
}

err_or<iommu_domain> smmuv3_driver::domain_alloc_paging(device *dev) {
  using R = err_or<iommu_domain>;
  auto *d = new (std::nothrow) smmu_domain(this);
  if (!d) return R::error(-ENOMEM);
  if (dev) {
    smmu_master *m = dev_to_master(*dev);
    if (!m || m->smmu != this) {
      delete d;
      return R::error(-ENODEV);
    }
    if (int rc = d->finalise(*this, 0)) {
      delete d;
      return R::error(rc);
    }
  }
  return d;
}

err_or<iommu_domain> smmuv3_driver::domain_alloc_user(device &dev, uint32_t flags,
                                                      iommu_domain *parent,
                                                      const iommu_user_data *user_data) {
  using R = err_or<iommu_domain>;
  const uint32_t paging_flags = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
  smmu_master *m = dev_to_master(dev);
  if (!m || m->smmu != this) return R::error(-ENODEV);
  if (flags & ~paging_flags) return R::error(-EOPNOTSUPP);
  // No nested (user stage-1) domains: 6.12 has no SMMUv3 nested data type.
  if (parent || user_data) return R::error(-EOPNOTSUPP);
  if ((flags & IOMMU_HWPT_ALLOC_NEST_PARENT) && !(features_ & FEAT_NESTING))
    return R::error(-EOPNOTSUPP);
  auto *d = new (std::nothrow) smmu_domain(this);
  if (!d) return R::error(-ENOMEM);
  if (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) {
    d->st = smmu_domain::stage::s2;
    d->nest_parent = true;
  }
  if (int rc = d->finalise(*this, flags)) {
    delete d;
    return R::error(rc);
  }
  return d;
}

iommu_domain *smmuv3_driver::default_domain(device &) { return blocked_.get(); }
iommu_domain *smmuv3_driver::blocked_domain(device &) { return blocked_.get(); }
iommu_domain *smmuv3_driver::identity_domain() { return identity_.get(); }

void smmuv3_driver::get_resv_regions(const device &, std::vector<iommu_resv_region> &out) const {
  // The IOVA window where Linux maps MSI doorbells for devices (SW_MSI).
  out.push_back({MSI_IOVA_BASE, MSI_IOVA_LENGTH, IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_MMIO,
                 iommu_resv_region::kind::sw_msi});
}

}  // namespace iommusim::iommufd::smmuv3
