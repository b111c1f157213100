// SPDX-License-Identifier: MIT
// The selftest's mock IOMMU; the format and the rules it checks are described
// in mock_iommu.h. Behaviour (errnos, flag rules, dirty-bit walk) follows
// Linux 6.12 drivers/iommu/iommufd/selftest.c.
#include "mock_iommu.h"

#include <cstring>
#include <new>
#include <set>

#include "core/log.h"
#include "core/mm.h"
#include "iommusim/iommufd.h"
#include "iommusim/iommufd_test.h"

namespace iommusim::iommufd {

namespace {

std::atomic<unsigned long> g_violations{0};

void violation(const char *what, uint64_t iova, uint64_t ent) {
  g_violations.fetch_add(1, std::memory_order_relaxed);
  IOMMUSIM_WARN("mock IOMMU: %s at iova %#llx (entry %#llx): the core broke the map/unmap "
                "pairing invariant",
                what, static_cast<unsigned long long>(iova), static_cast<unsigned long long>(ent));
}

// The mock bus's device numbers, lowest free first (the kernel's IDA).
std::mutex g_ida_lock;
std::set<int> g_ida_used;

int ida_alloc() {
  std::lock_guard g(g_ida_lock);
  int id = 0;
  for (int used : g_ida_used) {
    if (used != id) break;
    id++;
  }
  g_ida_used.insert(id);
  return id;
}

void ida_free(int id) {
  std::lock_guard g(g_ida_lock);
  g_ida_used.erase(id);
}

// attach_dev of every mock domain: a device that cannot track dirty pages
// cannot join a domain that tracks them.
int mock_nop_attach(const iommu_domain &domain, device &dev) {
  mock_device *mdev = to_mock_device(&dev);
  if (!mdev) return -ENODEV;
  if (domain.has_dirty_ops && (mdev->flags & MOCK_FLAGS_DEVICE_NO_DIRTY)) return -EINVAL;
  return 0;
}

}  // namespace

unsigned long mock_violations() { return g_violations.load(); }

// --- devices ---

mock_device::mock_device(std::string n, uint32_t f, int i) : device(std::move(n)), flags(f), id(i) {
  selftest_mock = true;
}

std::vector<mock_device::page_response_record> mock_device::page_responses() const {
  std::lock_guard g(lock_);
  return responses_;
}

mock_device *to_mock_device(device *dev) { return dynamic_cast<mock_device *>(dev); }

err_or<mock_device> mock_dev_create(uint32_t dev_flags) {
  if (dev_flags &
      ~uint32_t(MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_HUGE_IOVA | MOCK_FLAGS_DEVICE_PASID))
    return err_or<mock_device>::error(-EINVAL);
  int id = ida_alloc();
  auto *mdev = new (std::nothrow) mock_device("iommufd_mock" + std::to_string(id), dev_flags, id);
  if (!mdev) {
    ida_free(id);
    return err_or<mock_device>::error(-ENOMEM);
  }
  if (dev_flags & MOCK_FLAGS_DEVICE_PASID) mdev->max_pasids = 1u << MOCK_PASID_WIDTH;
  int rc;
  {
    // device_add() runs the bus notifier that probes the IOMMU.
    std::unique_lock g(mdev->iopf_rwsem);
    rc = iommu_probe_device(*mdev, mock_driver());
  }
  if (rc) {
    delete mdev;
    ida_free(id);
    return err_or<mock_device>::error(rc);
  }
  return mdev;
}

void mock_dev_destroy(mock_device *mdev) {
  if (!mdev) return;
  iommu_release_device(*mdev);
  int id = mdev->id;
  delete mdev;
  ida_free(id);
}

// --- paging domain ---

mock_iommu_domain::mock_iommu_domain(const iommu_driver *drv, bool huge_iova) {
  owner = drv;
  type = iommu_domain_type::paging;
  geometry.aperture_start = MOCK_APERTURE_START;
  geometry.aperture_end = MOCK_APERTURE_LAST;
  pgsize_bitmap = MOCK_IO_PAGE_SIZE;
  if (huge_iova) pgsize_bitmap |= MOCK_HUGE_PAGE_SIZE;
}

mock_iommu_domain::~mock_iommu_domain() {
  // Freeing a domain that still maps something means an unmap was lost.
  if (!table_.empty()) {
    g_violations.fetch_add(1, std::memory_order_relaxed);
    IOMMUSIM_WARN("mock IOMMU: domain freed with %zu entries still mapped", table_.count());
  }
}

int mock_iommu_domain::attach_dev(device &dev) { return mock_nop_attach(*this, dev); }

int mock_iommu_domain::map_pages(uint64_t iova, uint64_t paddr, size_t pgsize, size_t pgcount,
                                 int, size_t *mapped) {
  if (iova % MOCK_IO_PAGE_SIZE || pgsize % MOCK_IO_PAGE_SIZE || paddr % MOCK_IO_PAGE_SIZE) {
    IOMMUSIM_WARN("mock IOMMU: misaligned map iova %#llx paddr %#llx pgsize %#zx",
                  static_cast<unsigned long long>(iova), static_cast<unsigned long long>(paddr),
                  pgsize);
    return -EINVAL;
  }
  std::lock_guard g(lock_);
  const uint64_t start_iova = iova;
  uint64_t flags = MOCK_PFN_START_IOVA;
  for (; pgcount; pgcount--) {
    for (size_t cur = 0; cur != pgsize; cur += MOCK_IO_PAGE_SIZE) {
      if (pgcount == 1 && cur + MOCK_IO_PAGE_SIZE == pgsize) flags = MOCK_PFN_LAST_IOVA;
      if (pgsize != MOCK_IO_PAGE_SIZE) flags |= MOCK_PFN_HUGE_IOVA;
      uint64_t old;
      try {
        old = table_.store(iova / MOCK_IO_PAGE_SIZE, (paddr / MOCK_IO_PAGE_SIZE) | flags);
      } catch (const std::bad_alloc &) {
        // Leave the table as it was before this call.
        for (uint64_t i = start_iova; i != iova; i += MOCK_IO_PAGE_SIZE) {
          table_.erase(i / MOCK_IO_PAGE_SIZE);
          *mapped -= MOCK_IO_PAGE_SIZE;
        }
        return -ENOMEM;
      }
      if (old) violation("map over a live entry", iova, old);
      iova += MOCK_IO_PAGE_SIZE;
      paddr += MOCK_IO_PAGE_SIZE;
      *mapped += MOCK_IO_PAGE_SIZE;
      flags = 0;
    }
  }
  return 0;
}

size_t mock_iommu_domain::unmap_pages(uint64_t iova, size_t pgsize, size_t pgcount,
                                      iommu_iotlb_gather *) {
  if (iova % MOCK_IO_PAGE_SIZE || pgsize % MOCK_IO_PAGE_SIZE)
    IOMMUSIM_WARN("mock IOMMU: misaligned unmap iova %#llx pgsize %#zx",
                  static_cast<unsigned long long>(iova), pgsize);
  // With huge pages the core switches page size mid-range, so an unmap call
  // may legitimately start or end inside one map call's range.
  const bool check = !(pgsize_bitmap & MOCK_HUGE_PAGE_SIZE);
  std::lock_guard g(lock_);
  bool first = true;
  size_t ret = 0;
  for (; pgcount; pgcount--) {
    for (size_t cur = 0; cur != pgsize; cur += MOCK_IO_PAGE_SIZE) {
      uint64_t ent = table_.erase(iova / MOCK_IO_PAGE_SIZE);
      if (check) {
        if (first) {
          if (ent && !(ent & MOCK_PFN_START_IOVA)) violation("unmap starts mid-map", iova, ent);
          first = false;
        }
        if (pgcount == 1 && cur + MOCK_IO_PAGE_SIZE == pgsize && ent &&
            !(ent & MOCK_PFN_LAST_IOVA))
          violation("unmap ends mid-map", iova, ent);
      }
      iova += MOCK_IO_PAGE_SIZE;
      ret += MOCK_IO_PAGE_SIZE;
    }
  }
  return ret;
}

uint64_t mock_iommu_domain::iova_to_phys(uint64_t iova) {
  if (iova % MOCK_IO_PAGE_SIZE)
    IOMMUSIM_WARN("mock IOMMU: iova_to_phys of misaligned iova %#llx",
                  static_cast<unsigned long long>(iova));
  std::lock_guard g(lock_);
  uint64_t ent = table_.load(iova / MOCK_IO_PAGE_SIZE);
  if (!ent) violation("iova_to_phys of an unmapped iova", iova, ent);
  return (ent & MOCK_PFN_MASK) * MOCK_IO_PAGE_SIZE;
}

int mock_iommu_domain::set_dirty_tracking(bool enable) {
  if (enable && !has_dirty_ops) return -EINVAL;
  std::lock_guard g(lock_);
  flags_ = enable ? (flags_ | MOCK_DIRTY_TRACK) : (flags_ & ~MOCK_DIRTY_TRACK);
  return 0;
}

// Whether any entry of [iova, iova + page_size) is dirty; clears them unless
// IOMMU_DIRTY_NO_CLEAR. lock_ held.
bool mock_iommu_domain::test_and_clear_dirty(uint64_t iova, size_t page_size,
                                             unsigned long flags) {
  const uint64_t end = iova + page_size - 1;
  bool dirty = false;
  for (uint64_t cur = iova; cur < end; cur += MOCK_IO_PAGE_SIZE) {
    const uint64_t idx = cur / MOCK_IO_PAGE_SIZE;
    uint64_t ent = table_.load(idx);
    if (!ent || !(ent & MOCK_PFN_DIRTY_IOVA)) continue;
    dirty = true;
    if (!(flags & IOMMU_DIRTY_NO_CLEAR)) table_.store(idx, ent & ~MOCK_PFN_DIRTY_IOVA);
  }
  return dirty;
}

int mock_iommu_domain::read_and_clear_dirty(uint64_t iova, size_t size, unsigned long flags,
                                            iommu_dirty_bitmap &dirty) {
  std::lock_guard g(lock_);
  // Without a bitmap the caller only wants the bits cleared (tracking start).
  if (!(flags_ & MOCK_DIRTY_TRACK) && dirty.bitmap) return -EINVAL;
  const uint64_t end = iova + size;
  do {
    uint64_t pgsize = MOCK_IO_PAGE_SIZE;
    uint64_t ent = table_.load(iova / MOCK_IO_PAGE_SIZE);
    if (!ent) {
      iova += pgsize;
      continue;
    }
    // A huge mapping is dirty as a whole: test every entry from its head.
    if (ent & MOCK_PFN_HUGE_IOVA) pgsize = MOCK_HUGE_PAGE_SIZE;
    const uint64_t head = iova & ~(pgsize - 1);
    if (test_and_clear_dirty(head, pgsize, flags)) dirty.record(iova, pgsize);
    iova += pgsize;
  } while (iova < end);
  return 0;
}

uint64_t mock_iommu_domain::entry_at(uint64_t index) const {
  std::lock_guard g(lock_);
  return table_.load(index);
}

bool mock_iommu_domain::set_dirty_at(uint64_t index) {
  std::lock_guard g(lock_);
  uint64_t ent = table_.load(index);
  if (!ent) return false;
  table_.store(index, ent | MOCK_PFN_DIRTY_IOVA);
  return true;
}

bool mock_iommu_domain::dirty_tracking() const {
  std::lock_guard g(lock_);
  return flags_ & MOCK_DIRTY_TRACK;
}

size_t mock_iommu_domain::nr_entries() const {
  std::lock_guard g(lock_);
  return table_.count();
}

// --- nested domain ---

mock_iommu_domain_nested::mock_iommu_domain_nested(const iommu_driver *drv,
                                                   mock_iommu_domain *parent, uint32_t iotlb)
    : parent_(parent) {
  owner = drv;
  type = iommu_domain_type::nested;
  for (uint32_t &slot : iotlb_) slot = iotlb;
}

int mock_iommu_domain_nested::attach_dev(device &dev) { return mock_nop_attach(*this, dev); }

uint32_t mock_iommu_domain_nested::iotlb(unsigned i) const {
  std::lock_guard g(lock_);
  return i < MOCK_NESTED_DOMAIN_IOTLB_NUM ? iotlb_[i] : 0;
}

int mock_iommu_domain_nested::cache_invalidate_user(iommu_user_data_array &array) {
  uint32_t processed = 0;
  int rc = 0;
  if (array.type != IOMMU_HWPT_INVALIDATE_DATA_SELFTEST) {
    rc = -EINVAL;
  } else {
    for (uint32_t i = 0; i < array.entry_num; i++) {
      iommu_hwpt_invalidate_selftest inv;
      rc = iommu_copy_struct_from_user_array(
          &inv, sizeof(inv), IOMMUSIM_OFFSETOFEND(iommu_hwpt_invalidate_selftest, iotlb_id),
          &array, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, i);
      if (rc) break;
      if (inv.flags & ~uint32_t(IOMMU_TEST_INVALIDATE_FLAG_ALL)) {
        rc = -EOPNOTSUPP;
        break;
      }
      if (inv.iotlb_id > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX) {
        rc = -EINVAL;
        break;
      }
      {
        std::lock_guard g(lock_);
        if (inv.flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) {
          for (uint32_t &slot : iotlb_) slot = 0;  // iotlb_id is ignored
        } else {
          iotlb_[inv.iotlb_id] = 0;
        }
      }
      processed++;
    }
  }
  array.entry_num = processed;
  return rc;
}

// --- blocking domain ---

mock_blocking_domain::mock_blocking_domain(const iommu_driver *drv) {
  owner = drv;
  type = iommu_domain_type::blocked;
}

int mock_blocking_domain::attach_dev(device &dev) { return mock_nop_attach(*this, dev); }

// --- the driver ---

mock_iommu_driver::mock_iommu_driver() : blocking_(this) {
  pgsize_bitmap = MOCK_IO_PAGE_SIZE;
  user_pasid_table = true;
}

mock_iommu_driver &mock_driver() {
  // Never destroyed: devices may outlive static destruction order.
  static mock_iommu_driver *drv = new mock_iommu_driver();
  return *drv;
}

bool mock_iommu_driver::capable(const device &dev, iommu_cap cap) const {
  const auto *mdev = dynamic_cast<const mock_device *>(&dev);
  switch (cap) {
    case iommu_cap::cache_coherency:
      return true;
    case iommu_cap::dirty_tracking:
      return mdev && !(mdev->flags & MOCK_FLAGS_DEVICE_NO_DIRTY);
    default:
      return false;
  }
}

int mock_iommu_driver::hw_info(const device &, uint32_t *type, std::vector<uint8_t> *data) {
  if (*type != IOMMU_HW_INFO_TYPE_DEFAULT && *type != IOMMU_HW_INFO_TYPE_SELFTEST)
    return -EOPNOTSUPP;
  iommu_test_hw_info info{};
  info.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL;
  data->resize(sizeof(info));
  memcpy(data->data(), &info, sizeof(info));
  *type = IOMMU_HW_INFO_TYPE_SELFTEST;
  return 0;
}

err_or<iommu_domain> mock_iommu_driver::domain_alloc_paging(device *dev) {
  mock_device *mdev = dev ? to_mock_device(dev) : nullptr;
  auto *d = new (std::nothrow)
      mock_iommu_domain(this, mdev && (mdev->flags & MOCK_FLAGS_DEVICE_HUGE_IOVA));
  if (!d) return err_or<iommu_domain>::error(-ENOMEM);
  return d;
}

err_or<iommu_domain> mock_iommu_driver::domain_alloc_user(device &dev, uint32_t flags,
                                                          iommu_domain *parent,
                                                          const iommu_user_data *user_data) {
  using R = err_or<iommu_domain>;
  if (!parent) {
    mock_device *mdev = to_mock_device(&dev);
    if (IOMMUSIM_WARN_ON(!mdev)) return R::error(-ENODEV);
    const bool has_dirty_flag = flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
    const bool no_dirty_ops = mdev->flags & MOCK_FLAGS_DEVICE_NO_DIRTY;
    if (flags & ~uint32_t(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING))
      return R::error(-EOPNOTSUPP);
    if (user_data || (has_dirty_flag && no_dirty_ops)) return R::error(-EOPNOTSUPP);
    auto d = domain_alloc_paging(&dev);
    if (d.is_err()) return d;
    if (has_dirty_flag) d->has_dirty_ops = true;
    return d;
  }

  // A nested domain: selftest data over a mock paging parent.
  if (IOMMUSIM_WARN_ON(!user_data)) return R::error(-EINVAL);
  if (user_data->type != IOMMU_HWPT_DATA_SELFTEST || flags) return R::error(-EOPNOTSUPP);
  auto *mock_parent = dynamic_cast<mock_iommu_domain *>(parent);
  if (!mock_parent) return R::error(-EINVAL);
  iommu_hwpt_selftest user_cfg;
  int rc = iommu_copy_struct_from_user(&user_cfg, sizeof(user_cfg),
                                       IOMMUSIM_OFFSETOFEND(iommu_hwpt_selftest, iotlb), user_data,
                                       IOMMU_HWPT_DATA_SELFTEST);
  if (rc) return R::error(rc);
  auto *d = new (std::nothrow) mock_iommu_domain_nested(this, mock_parent, user_cfg.iotlb);
  if (!d) return R::error(-ENOMEM);
  return d;
}

iommu_domain *mock_iommu_driver::default_domain(device &) { return &blocking_; }
iommu_domain *mock_iommu_driver::blocked_domain(device &) { return &blocking_; }

int mock_iommu_driver::dev_enable_iopf(device &dev) {
  mock_device *mdev = to_mock_device(&dev);
  if (!mdev) return -ENODEV;
  mdev->iopf_enabled_.store(true);
  return 0;
}

void mock_iommu_driver::dev_disable_iopf(device &dev) {
  if (mock_device *mdev = to_mock_device(&dev)) mdev->iopf_enabled_.store(false);
}

void mock_iommu_driver::page_response(device &dev, const iopf_fault &evt,
                                      const iommu_page_response &msg) {
  mock_device *mdev = to_mock_device(&dev);
  if (!mdev) return;
  std::lock_guard g(mdev->lock_);
  mdev->responses_.push_back({evt, msg});
}

}  // namespace iommusim::iommufd
