// SPDX-License-Identifier: MIT
// The IOMMU subsystem beneath iommufd (the kernel's drivers/iommu/iommu.c and
// io-pgfault.c): devices and groups, domains and the operations a driver
// implements, DMA ownership, attach/replace/detach, page-size splitting for
// map/unmap, dirty-bitmap recording and I/O page fault (PRI) delivery.
//
// This is the Domain interface of docs/architecture.md. A driver (the mock in
// drivers/mock, later the SMMUv3 and VT-d drivers) subclasses iommu_driver and
// iommu_domain; it touches hardware only through HostBus, never a model's C++
// types. The iommufd core calls only what is declared here.
//
// Locking: iommu_group::mutex serialises attach/detach/replace and the
// pasid_array of a group. Domain operations (map/unmap/iova_to_phys/dirty) are
// called with the iommufd locks described in iommufd_private.h; a driver must
// make them safe against concurrent calls on disjoint IOVA ranges.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "util.h"

namespace iommusim::iommufd {

class mm_struct;
class iova_bitmap;
class device;
class iommu_driver;
class iommu_domain;
class iommu_group;
struct iopf_group;

inline constexpr uint32_t IOMMU_NO_PASID = 0;

// Mapping protection (the kernel's IOMMU_READ ...).
enum : int {
  IOMMU_READ = 1 << 0,
  IOMMU_WRITE = 1 << 1,
  IOMMU_CACHE = 1 << 2,
  IOMMU_NOEXEC = 1 << 3,
  IOMMU_MMIO = 1 << 4,
  IOMMU_PRIV = 1 << 5,
};

enum class iommu_cap {
  cache_coherency,          // DMA is coherent with CPU caches
  enforce_cache_coherency,  // the IOMMU can force snooping
  dirty_tracking,           // hardware dirty bits
};

enum class iommu_domain_type { blocked, identity, paging, nested };

// read_and_clear_dirty() flags.
enum : unsigned long { IOMMU_DIRTY_NO_CLEAR = 1 };

// IOVA ranges the platform reserves for a device (iommu_resv_region).
struct iommu_resv_region {
  enum class kind { direct, direct_relaxable, reserved, msi, sw_msi };
  uint64_t start;
  uint64_t length;
  int prot;
  kind type;
};

// Range of IOVA whose IOTLB entries a batch of unmaps invalidated.
struct iommu_iotlb_gather {
  uint64_t start = UINT64_MAX;
  uint64_t end = 0;  // inclusive
  size_t pgsize = 0;
  void add_range(uint64_t iova, size_t size);
  bool empty() const { return start > end; }
};

// Destination of read_and_clear_dirty(): the user's bitmap and the IOTLB range
// to flush afterwards.
struct iommu_dirty_bitmap {
  iova_bitmap *bitmap = nullptr;
  iommu_iotlb_gather *gather = nullptr;
  void record(uint64_t iova, uint64_t length);
};

// Driver-specific data that came from user space (HWPT_ALLOC data_uptr).
struct iommu_user_data {
  uint32_t type = 0;
  uint64_t uptr = 0;
  size_t len = 0;
  mm_struct *mm = nullptr;
};
// An array of driver-specific entries (HWPT_INVALIDATE). entry_num returns how
// many entries the driver handled.
struct iommu_user_data_array {
  uint32_t type = 0;
  uint64_t uptr = 0;
  size_t entry_len = 0;
  uint32_t entry_num = 0;
  mm_struct *mm = nullptr;
};

// copy_struct_from_user(): copy a user struct of usize bytes into a kernel
// struct of ksize bytes; a shorter user struct is zero-extended, a longer one
// must have only zero bytes past ksize (else -E2BIG). -EFAULT on a bad pointer.
int copy_struct_from_user(mm_struct &mm, void *dst, size_t ksize, uint64_t src, size_t usize);
// The checks drivers apply to user data: the type must match (-EINVAL) and the
// length must be in [min_len, dst_len] (-EINVAL), then copy_struct_from_user.
int iommu_copy_struct_from_user(void *dst, size_t dst_len, size_t min_len,
                                const iommu_user_data *src, uint32_t data_type);
int iommu_copy_struct_from_user_array(void *dst, size_t dst_len, size_t min_len,
                                      const iommu_user_data_array *src, uint32_t data_type,
                                      uint32_t index);

// ---------------------------------------------------------------------------
// I/O page faults (PCIe PRI page requests) as the IOMMU core delivers them.
enum : uint32_t {
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID = 1 << 0,
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE = 1 << 1,
  IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID = 1 << 2,
};
enum : uint32_t {
  IOMMU_FAULT_PERM_READ = 1 << 0,
  IOMMU_FAULT_PERM_WRITE = 1 << 1,
  IOMMU_FAULT_PERM_EXEC = 1 << 2,
  IOMMU_FAULT_PERM_PRIV = 1 << 3,
};
struct iommu_fault_page_request {
  uint32_t flags = 0;
  uint32_t pasid = 0;
  uint32_t grpid = 0;
  uint32_t perm = 0;
  uint64_t addr = 0;
  uint64_t private_data[2] = {0, 0};  // driver cookie (e.g. the StreamID)
};
struct iopf_fault {
  iommu_fault_page_request prm;
};
enum class iommu_page_response_code : uint32_t { success = 0, invalid = 1, failure = 2 };
struct iommu_page_response {
  uint32_t pasid = 0;
  uint32_t grpid = 0;
  iommu_page_response_code code = iommu_page_response_code::success;
};

// What a domain attached to a device/PASID carries (iommufd extends it).
struct iommu_attach_handle {
  virtual ~iommu_attach_handle() = default;
  iommu_domain *domain = nullptr;
};

// One group of page requests ending with a LAST_PAGE request. The domain's
// iopf_handler takes ownership and must eventually call iopf_group_response()
// and iopf_free_group().
struct iopf_group {
  std::vector<iopf_fault> faults;  // in arrival order; the last one is LAST_PAGE
  iommu_attach_handle *attach_handle = nullptr;
  device *dev = nullptr;
  uint32_t cookie = 0;      // iommufd's response cookie
  bool responded = false;   // a response reached the device (sent at most once)
};
using iopf_handler_fn = int (*)(iopf_group *group);

// Report a page request from device dev (the driver's PRI queue handler calls
// this). Requests without LAST_PAGE wait for the last of their group.
void iommu_report_device_fault(device &dev, const iopf_fault &evt);
// Answer a fault group: the driver's page_response() op sends it to the device.
void iopf_group_response(iopf_group *group, iommu_page_response_code code);
void iopf_free_group(iopf_group *group);

// ---------------------------------------------------------------------------
// A translation context (struct iommu_domain). A driver subclasses it.
class iommu_domain {
 public:
  virtual ~iommu_domain() = default;

  iommu_domain_type type = iommu_domain_type::paging;
  uint64_t pgsize_bitmap = 0;  // page sizes map_pages() accepts
  struct {
    uint64_t aperture_start = 0;
    uint64_t aperture_end = UINT64_MAX;
  } geometry;
  const iommu_driver *owner = nullptr;  // the driver that allocated it
  // Set when the domain was allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING
  // (the kernel's domain->dirty_ops != NULL).
  bool has_dirty_ops = false;
  // I/O page fault delivery, set by iommufd for a fault-capable HWPT.
  iopf_handler_fn iopf_handler = nullptr;
  void *fault_data = nullptr;

  virtual int attach_dev(device &dev) = 0;

  // Paging domains. map_pages() maps pgcount pages of pgsize (one of
  // pgsize_bitmap) and adds what it mapped to *mapped even on failure.
  virtual int map_pages(uint64_t iova, uint64_t paddr, size_t pgsize, size_t pgcount, int prot,
                        size_t *mapped);
  // Unmaps pgcount pages of pgsize; returns the bytes unmapped. Must not fail
  // for a range that map_pages() mapped (iommufd never unmaps partially).
  virtual size_t unmap_pages(uint64_t iova, size_t pgsize, size_t pgcount,
                             iommu_iotlb_gather *gather);
  virtual uint64_t iova_to_phys(uint64_t iova);
  virtual void iotlb_sync_map(uint64_t iova, size_t size);
  virtual void iotlb_sync(iommu_iotlb_gather &gather);
  virtual void flush_iotlb_all();
  // Force snooping; false if the domain cannot (has_enforce_cache_coherency).
  virtual bool has_enforce_cache_coherency() const { return false; }
  virtual bool enforce_cache_coherency() { return false; }

  // Dirty tracking (only when has_dirty_ops).
  virtual int set_dirty_tracking(bool enable);
  virtual int read_and_clear_dirty(uint64_t iova, size_t size, unsigned long flags,
                                   iommu_dirty_bitmap &dirty);

  // Nested domains: invalidate the caches of the user-managed stage-1.
  virtual bool has_cache_invalidate_user() const { return false; }
  virtual int cache_invalidate_user(iommu_user_data_array &array);
};

// The driver of one IOMMU instance (struct iommu_ops).
class iommu_driver {
 public:
  virtual ~iommu_driver() = default;
  virtual const char *name() const = 0;

  uint64_t pgsize_bitmap = 0;
  // PASIDs of a device are described by a user-managed table (nested): page
  // faults for any PASID go to the nested domain of the RID.
  bool user_pasid_table = false;

  virtual bool capable(const device &dev, iommu_cap cap) const = 0;

  // GET_HW_INFO: the driver's info struct for dev. *type is the requested
  // type on entry (0 = the driver's default) and the returned type on exit;
  // -EOPNOTSUPP for a type the driver does not provide. has_hw_info() false
  // means the driver reports IOMMU_HW_INFO_TYPE_NONE with no data.
  virtual bool has_hw_info() const { return false; }
  virtual int hw_info(const device &dev, uint32_t *type, std::vector<uint8_t> *data);

  // A paging domain usable by dev (iommu_paging_domain_alloc). nullptr/err.
  virtual err_or<iommu_domain> domain_alloc_paging(device *dev) = 0;
  // IOMMU_HWPT_ALLOC: a paging domain with flags (parent == nullptr) or a
  // nested domain over parent described by user_data.
  virtual bool has_domain_alloc_user() const { return false; }
  virtual err_or<iommu_domain> domain_alloc_user(device &dev, uint32_t flags,
                                                 iommu_domain *parent,
                                                 const iommu_user_data *user_data);
  // The domain a device sits in when nobody owns it, and the one that blocks
  // all DMA while iommufd owns it but has not attached anything.
  virtual iommu_domain *default_domain(device &dev) = 0;
  virtual iommu_domain *blocked_domain(device &dev) = 0;

  virtual void get_resv_regions(const device &dev, std::vector<iommu_resv_region> &out) const;
  // Enable/disable I/O page faults (PRI) for dev.
  virtual int dev_enable_iopf(device &dev);
  virtual void dev_disable_iopf(device &dev);
  // Deliver a page response to the device.
  virtual void page_response(device &dev, const iopf_fault &evt, const iommu_page_response &msg);
};

// Per-device state of the I/O page fault machinery (iommu_fault_param).
struct iommu_fault_param {
  std::mutex lock;
  std::vector<iopf_fault> partial;  // requests waiting for their LAST_PAGE
  unsigned outstanding = 0;         // groups handed to a handler, not yet answered
};

// A device behind an IOMMU (struct device + dev_iommu).
class device {
 public:
  explicit device(std::string name) : name(std::move(name)) {}
  virtual ~device() = default;
  device(const device &) = delete;
  device &operator=(const device &) = delete;

  std::string name;
  iommu_driver *iommu = nullptr;   // dev_iommu_ops()
  iommu_group *group = nullptr;
  uint32_t max_pasids = 0;         // dev->iommu->max_pasids (0 = no PASID)
  bool is_pci = false;
  bool pasid_exec = false;         // PCI PASID capability EXEC / PRIV enabled
  bool pasid_priv = false;
  // The iommufd selftest's mock device (skips the isolated-MSI check and does
  // not hold a context reference, as in the kernel).
  bool selftest_mock = false;
  std::unique_ptr<iommu_fault_param> fault_param;  // while IOPF is enabled
  // How the IOMMU names this device (iommu_fwspec): StreamIDs / RequesterIDs.
  std::vector<uint32_t> ids;
  bool ats_capable = false;   // PCIe ATS capability (an ATC in the endpoint)
  bool pri_capable = false;   // PCIe PRI capability
  void *iommu_priv = nullptr; // the IOMMU driver's per-device state (dev_iommu_priv)
};

// An IOMMU group: devices that the IOMMU cannot isolate from each other.
class iommu_group {
 public:
  explicit iommu_group(int id) : id(id) {}
  const int id;
  std::mutex mutex;
  std::vector<device *> devices;
  iommu_domain *domain = nullptr;          // what the devices translate with now
  iommu_domain *default_domain = nullptr;
  iommu_domain *blocking_domain = nullptr;
  void *owner = nullptr;                   // DMA owner (an iommufd context)
  unsigned owner_cnt = 0;
  std::map<uint32_t, iommu_attach_handle *> pasid_array;
};

// Put dev under driver: assign a group of its own (generic_device_group) and
// attach the default domain. Returns 0 or -errno.
int iommu_probe_device(device &dev, iommu_driver &driver);
void iommu_release_device(device &dev);

bool device_iommu_capable(const device &dev, iommu_cap cap);
// iommu_device_claim_dma_owner(): -EPERM if another owner holds the group.
int iommu_device_claim_dma_owner(device &dev, void *owner);
void iommu_device_release_dma_owner(device &dev);

err_or<iommu_domain> iommu_paging_domain_alloc(device &dev);
void iommu_domain_free(iommu_domain *domain);

int iommu_attach_group_handle(iommu_domain *domain, iommu_group *group,
                              iommu_attach_handle *handle);
void iommu_detach_group_handle(iommu_domain *domain, iommu_group *group);
int iommu_replace_group_handle(iommu_group *group, iommu_domain *new_domain,
                               iommu_attach_handle *handle);
// The handle attached at pasid, optionally only if its domain has type
// (type_filter == nullptr: any). err: -ENOENT none, -EBUSY wrong type.
err_or<iommu_attach_handle> iommu_attach_handle_get(iommu_group *group, uint32_t pasid,
                                                    const iommu_domain_type *type_filter);

// iommu_map(): split [iova, iova + size) into the largest page sizes that the
// alignment of iova and paddr allow, call map_pages(), then iotlb_sync_map().
// On failure everything mapped by this call is unmapped again.
int iommu_map(iommu_domain *domain, uint64_t iova, uint64_t paddr, size_t size, int prot);
// iommu_unmap(): the same splitting, then one IOTLB sync. Returns bytes unmapped.
size_t iommu_unmap(iommu_domain *domain, uint64_t iova, size_t size);
uint64_t iommu_iova_to_phys(iommu_domain *domain, uint64_t iova);
// The page size iommu_map() uses next, and how many of it (iommu_pgsize()).
size_t iommu_pgsize(const iommu_domain *domain, uint64_t iova, uint64_t paddr, size_t size,
                    size_t *count);

void iommu_get_resv_regions(const device &dev, std::vector<iommu_resv_region> &out);
int iommu_dev_enable_iopf(device &dev);
void iommu_dev_disable_iopf(device &dev);

}  // namespace iommusim::iommufd
