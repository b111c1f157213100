// SPDX-License-Identifier: MIT
// The mock IOMMU of iommufd's selftest (the kernel's mock_ops in
// drivers/iommu/iommufd/selftest.c): a software-only IOMMU whose page table is
// a sparse array, so IOMMU_TEST_CMD can look inside it and tests can check
// every mapping the core makes.
//
// Page table format, as the kernel's mock encodes it: one entry per 2 KiB of
// IOVA (MOCK_IO_PAGE_SIZE, half a CPU page, so the core's sub-page handling is
// exercised), keyed by iova / MOCK_IO_PAGE_SIZE, holding
// (paddr / MOCK_IO_PAGE_SIZE) | flags. START/LAST mark the first and last
// entry written by one map_pages() call (they share one bit, as upstream);
// unmap_pages() checks that every unmap begins and ends on such an entry, which
// is how the selftest proves the core never splits a mapping it made.
//
// Thread safety: each domain guards its table and dirty-tracking flag with its
// own mutex. The driver instance and the blocking domain are process-wide.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/iommu.h"
#include "core/sparse_array.h"
#include "core/util.h"

namespace iommusim::iommufd {

inline constexpr uint64_t MOCK_IO_PAGE_SIZE = PAGE_SIZE / 2;
inline constexpr uint64_t MOCK_HUGE_PAGE_SIZE = 512 * MOCK_IO_PAGE_SIZE;
// The PFN field is everything a 64-bit paddr / MOCK_IO_PAGE_SIZE can need;
// the flag bits sit above it.
inline constexpr uint64_t MOCK_PFN_MASK = UINT64_MAX / MOCK_IO_PAGE_SIZE;
inline constexpr uint64_t MOCK_PFN_START_IOVA = MOCK_PFN_MASK + 1;
inline constexpr uint64_t MOCK_PFN_LAST_IOVA = MOCK_PFN_MASK + 1;
inline constexpr uint64_t MOCK_PFN_DIRTY_IOVA = (MOCK_PFN_MASK + 1) << 1;
inline constexpr uint64_t MOCK_PFN_HUGE_IOVA = (MOCK_PFN_MASK + 1) << 2;

// mock_iommu_domain::flags
inline constexpr unsigned long MOCK_DIRTY_TRACK = 1;

class mock_iommu_driver;

// A device on the mock bus (the kernel's struct mock_dev).
class mock_device final : public device {
 public:
  struct page_response_record {
    iopf_fault evt;            // the last request of the group answered
    iommu_page_response msg;
  };

  mock_device(std::string name, uint32_t flags, int id);

  const uint32_t flags;  // MOCK_FLAGS_DEVICE_*
  const int id;          // N of "iommufd_mockN"
  // Serialises attach/replace/detach (writers) against TRIGGER_IOPF (readers),
  // as the selftest's iopf_rwsem does.
  std::shared_mutex iopf_rwsem;

  // Page responses the driver delivered to this device, oldest first.
  std::vector<page_response_record> page_responses() const;
  bool iopf_enabled() const { return iopf_enabled_.load(); }

 private:
  friend class mock_iommu_driver;
  mutable std::mutex lock_;
  std::vector<page_response_record> responses_;
  std::atomic<bool> iopf_enabled_{false};
};

// A paging domain of the mock IOMMU.
class mock_iommu_domain final : public iommu_domain {
 public:
  explicit mock_iommu_domain(const iommu_driver *drv, bool huge_iova);
  ~mock_iommu_domain() override;

  int attach_dev(device &dev) override;
  int map_pages(uint64_t iova, uint64_t paddr, size_t pgsize, size_t pgcount, int prot,
                size_t *mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t pgcount,
                     iommu_iotlb_gather *gather) override;
  uint64_t iova_to_phys(uint64_t iova) override;
  int set_dirty_tracking(bool enable) override;
  int read_and_clear_dirty(uint64_t iova, size_t size, unsigned long flags,
                           iommu_dirty_bitmap &dirty) override;

  // --- inspection (IOMMU_TEST_CMD and tests) ---
  // The raw entry at table index iova / MOCK_IO_PAGE_SIZE; 0 if none.
  uint64_t entry(uint64_t iova) const { return entry_at(iova / MOCK_IO_PAGE_SIZE); }
  uint64_t entry_at(uint64_t index) const;
  // Set the DIRTY bit of the entry at index; false if there is no entry.
  bool set_dirty_at(uint64_t index);
  bool set_dirty(uint64_t iova) { return set_dirty_at(iova / MOCK_IO_PAGE_SIZE); }
  bool dirty_tracking() const;
  size_t nr_entries() const;

 private:
  bool test_and_clear_dirty(uint64_t iova, size_t page_size, unsigned long flags);

  mutable std::mutex lock_;  // table_ and flags_
  sparse_array<uint64_t> table_;
  unsigned long flags_ = 0;
};

// A nested (user-managed stage-1) domain: a four-slot "IOTLB" over a parent.
class mock_iommu_domain_nested final : public iommu_domain {
 public:
  mock_iommu_domain_nested(const iommu_driver *drv, mock_iommu_domain *parent, uint32_t iotlb);

  int attach_dev(device &dev) override;
  bool has_cache_invalidate_user() const override { return true; }
  int cache_invalidate_user(iommu_user_data_array &array) override;

  mock_iommu_domain *parent() const { return parent_; }
  // Slot i of the IOTLB (i < MOCK_NESTED_DOMAIN_IOTLB_NUM).
  uint32_t iotlb(unsigned i) const;

 private:
  mock_iommu_domain *parent_;
  mutable std::mutex lock_;
  uint32_t iotlb_[4];
};

// The blocking domain (also every mock device's default domain).
class mock_blocking_domain final : public iommu_domain {
 public:
  explicit mock_blocking_domain(const iommu_driver *drv);
  int attach_dev(device &dev) override;
};

// The mock IOMMU instance (the kernel's mock_ops + mock_iommu_device).
class mock_iommu_driver final : public iommu_driver {
 public:
  mock_iommu_driver();
  const char *name() const override { return "iommufd_mock"; }

  bool capable(const device &dev, iommu_cap cap) const override;
  bool has_hw_info() const override { return true; }
  int hw_info(const device &dev, uint32_t *type, std::vector<uint8_t> *data) override;
  err_or<iommu_domain> domain_alloc_paging(device *dev) override;
  bool has_domain_alloc_user() const override { return true; }
  err_or<iommu_domain> domain_alloc_user(device &dev, uint32_t flags, iommu_domain *parent,
                                         const iommu_user_data *user_data) override;
  iommu_domain *default_domain(device &dev) override;
  iommu_domain *blocked_domain(device &dev) override;
  int dev_enable_iopf(device &dev) override;
  void dev_disable_iopf(device &dev) override;
  void page_response(device &dev, const iopf_fault &evt, const iommu_page_response &msg) override;

 private:
  mock_blocking_domain blocking_;
};

mock_iommu_driver &mock_driver();

// Create a device on the mock bus with MOCK_FLAGS_DEVICE_* flags and probe it
// on mock_driver() (it then sits in the blocking domain). -EINVAL for unknown
// flags.
err_or<mock_device> mock_dev_create(uint32_t dev_flags);
// Release the device from the IOMMU and free it.
void mock_dev_destroy(mock_device *mdev);
// The device as a mock device, or nullptr (iommufd_selftest_is_mock_dev()).
mock_device *to_mock_device(device *dev);

// Broken table invariants seen so far in this process: an unmap starting or
// ending inside a map call's range, a map over a live entry, iova_to_phys of a
// hole, a domain freed while mapped. Each also raised an IOMMUSIM_WARN; tests
// assert the count stays 0.
unsigned long mock_violations();

}  // namespace iommusim::iommufd
