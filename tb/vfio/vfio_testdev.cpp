// SPDX-License-Identifier: MIT
// libvfio_testdev.so: a stand-in for the simulated platform in tests of the
// VFIO layer and the LD_PRELOAD shim. Preloaded next to the shim
// (LD_PRELOAD=libvfio_testdev.so iommusim exec PROGRAM), it registers one
// device as /dev/vfio/devices/vfio0 before PROGRAM's main() runs:
//  - behind a flat software IOMMU (a page table in a std::map, aperture from
//    IOVA 0, 4 KiB pages), so the kernel documentation's example can map at
//    IOVA 0;
//  - with BAR0 implementing the DMA test device's registers of
//    docs/platform.md functionally, without timing: writing GO performs the
//    copy or fill at once through the device's current domain, into the
//    program's pinned pages, sets STATUS and BYTES_DONE, and signals MSI-X
//    vector 0.
// It is not the platform: no SystemC, no SMMUv3, no cycles.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/iommu.h"
#include "core/mm.h"
#include "drivers/hostbus.h"
#include "vfio/vfio_device.h"

namespace {

using namespace iommusim::iommufd;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBar0 = 0x40000000;
constexpr uint64_t kBar0Size = 0x1000;

// --- the flat IOMMU ---

class flat_domain final : public iommu_domain {
 public:
  explicit flat_domain(const iommu_driver *drv) {
    owner = drv;
    type = iommu_domain_type::paging;
    pgsize_bitmap = kPage;
    geometry.aperture_start = 0;
    geometry.aperture_end = (1ULL << 48) - 1;
  }
  int attach_dev(device &) override { return 0; }
  int map_pages(uint64_t iova, uint64_t paddr, size_t pgsize, size_t pgcount, int prot,
                size_t *mapped) override {
    std::lock_guard g(lock_);
    for (size_t i = 0; i < pgcount; i++) {
      ptes_[iova + i * pgsize] = {paddr + i * pgsize, prot};
      *mapped += pgsize;
    }
    return 0;
  }
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t pgcount,
                     iommu_iotlb_gather *) override {
    std::lock_guard g(lock_);
    for (size_t i = 0; i < pgcount; i++) ptes_.erase(iova + i * pgsize);
    return pgsize * pgcount;
  }
  uint64_t iova_to_phys(uint64_t iova) override {
    int prot;
    return translate(iova, &prot);
  }
  // 0 for a hole; *prot the mapping's IOMMU_READ/IOMMU_WRITE.
  uint64_t translate(uint64_t iova, int *prot) {
    std::lock_guard g(lock_);
    auto it = ptes_.find(iova & ~(kPage - 1));
    if (it == ptes_.end()) return 0;
    *prot = it->second.prot;
    return it->second.pa + (iova & (kPage - 1));
  }

 private:
  struct pte {
    uint64_t pa;
    int prot;
  };
  std::mutex lock_;
  std::map<uint64_t, pte> ptes_;
};

class flat_blocked_domain final : public iommu_domain {
 public:
  explicit flat_blocked_domain(const iommu_driver *drv) {
    owner = drv;
    type = iommu_domain_type::blocked;
  }
  int attach_dev(device &) override { return 0; }
};

class flat_iommu final : public iommu_driver {
 public:
  flat_iommu() : blocked_(this) { pgsize_bitmap = kPage; }
  const char *name() const override { return "vfio_testdev_iommu"; }
  bool capable(const device &, iommu_cap cap) const override {
    return cap == iommu_cap::cache_coherency;
  }
  err_or<iommu_domain> domain_alloc_paging(device *) override { return new flat_domain(this); }
  iommu_domain *default_domain(device &) override { return &blocked_; }
  iommu_domain *blocked_domain(device &) override { return &blocked_; }

 private:
  flat_blocked_domain blocked_;
};

// --- the DMA test device's BAR0 ---

enum : uint64_t {
  REG_ID = 0x00, REG_SRC = 0x08, REG_DST = 0x10, REG_LEN = 0x18, REG_CTRL = 0x20,
  REG_PASID = 0x28, REG_PATTERN = 0x30, REG_GO = 0x38, REG_STATUS = 0x40,
  REG_FAULT_ADDR = 0x48, REG_BYTES_DONE = 0x50, REG_CYCLES = 0x58,
};
constexpr uint64_t kId = 0x1a3ad0a100000001ULL;
constexpr uint64_t STATUS_DONE = 1 << 1, STATUS_ERROR = 1 << 2;
enum : uint64_t { ERR_TRANSLATION = 1, ERR_PERMISSION = 2, ERR_LENGTH = 4 };

class dma_test_bus final : public host_bus {
 public:
  explicit dma_test_bus(device *dev) : dev_(dev) { regs_[REG_ID / 8] = kId; }
  unsigned vfio_index = 0;

  uint32_t readl(uint64_t pa) override {
    std::lock_guard g(lock_);
    uint64_t q = reg(pa & ~7ULL);
    return static_cast<uint32_t>(pa & 4 ? q >> 32 : q);
  }
  uint64_t readq(uint64_t pa) override {
    std::lock_guard g(lock_);
    return reg(pa);
  }
  void writel(uint64_t pa, uint32_t v) override {
    std::unique_lock g(lock_);
    uint64_t off = (pa - kBar0) & ~7ULL;
    uint64_t q = reg(kBar0 + off);
    q = pa & 4 ? (q & 0xffffffffULL) | (uint64_t(v) << 32) : (q & ~0xffffffffULL) | v;
    store(off, q, g);
  }
  void writeq(uint64_t pa, uint64_t v) override {
    std::unique_lock g(lock_);
    store(pa - kBar0, v, g);
  }
  void mem_read(uint64_t, void *dst, size_t len) override { memset(dst, 0, len); }
  void mem_write(uint64_t, const void *, size_t) override {}
  uint64_t dma_alloc(uint64_t, uint64_t) override { return 0; }
  void dma_free(uint64_t, uint64_t) override {}
  bool poll32(uint64_t, uint32_t, uint32_t, uint64_t, uint64_t) override { return false; }
  bool poll_mem32(uint64_t, uint32_t, uint32_t, uint64_t, uint64_t) override { return false; }
  void delay_ns(uint64_t) override {}
  uint64_t now_ps() override { return 0; }
  int request_irq(unsigned, std::function<void()>) override { return -ENOSYS; }
  void free_irq(unsigned) override {}
  uint64_t msi_doorbell(unsigned) override { return 0; }

 private:
  uint64_t reg(uint64_t pa) {
    uint64_t off = pa - kBar0;
    if (off >= kBar0Size || off / 8 >= kRegs || off == REG_GO) return 0;
    return regs_[off / 8];
  }
  void store(uint64_t off, uint64_t v, std::unique_lock<std::mutex> &g) {
    if (off / 8 >= kRegs) return;
    switch (off) {
      case REG_ID:
      case REG_STATUS:
      case REG_FAULT_ADDR:
      case REG_BYTES_DONE:
      case REG_CYCLES:
        return;  // read-only
      case REG_GO:
        if (v & 1) go(g);
        return;
      default:
        regs_[off / 8] = v;
    }
  }

  // The transfer, at once. Returns the error code (0 = none).
  uint64_t transfer(uint64_t *done, uint64_t *fault) {
    const uint64_t len = regs_[REG_LEN / 8], ctrl = regs_[REG_CTRL / 8];
    const uint64_t src = regs_[REG_SRC / 8], dst = regs_[REG_DST / 8];
    if (len < 1 || len > (16u << 20)) return ERR_LENGTH;
    const bool fill = ctrl & 1;
    const uint64_t pattern = regs_[REG_PATTERN / 8];
    std::lock_guard gg(dev_->group->mutex);
    auto *dom = dynamic_cast<flat_domain *>(dev_->group->domain);
    std::vector<uint8_t> chunk;
    while (*done < len) {
      const uint64_t d = dst + *done;
      const uint64_t n = std::min(len - *done, kPage - (d & (kPage - 1)));
      uint64_t s = src + *done;
      uint64_t take = n;
      if (!fill) take = std::min(take, kPage - (s & (kPage - 1)));
      chunk.resize(take);
      int prot = 0;
      if (fill) {
        for (uint64_t i = 0; i < take; i++)
          chunk[i] = static_cast<uint8_t>(pattern >> (8 * ((*done + i) % 8)));
      } else {
        uint64_t spa = dom ? dom->translate(s, &prot) : 0;
        if (!spa) return *fault = s, ERR_TRANSLATION;
        if (!(prot & IOMMU_READ)) return *fault = s, ERR_PERMISSION;
        if (host_memory::get().read_frame(spa >> 12, spa & (kPage - 1), chunk.data(), take))
          return *fault = s, ERR_TRANSLATION;
      }
      uint64_t dpa = dom ? dom->translate(d, &prot) : 0;
      if (!dpa) return *fault = d, ERR_TRANSLATION;
      if (!(prot & IOMMU_WRITE)) return *fault = d, ERR_PERMISSION;
      if (host_memory::get().write_frame(dpa >> 12, dpa & (kPage - 1), chunk.data(), take))
        return *fault = d, ERR_TRANSLATION;
      *done += take;
    }
    return 0;
  }

  void go(std::unique_lock<std::mutex> &g) {
    uint64_t done = 0, fault = 0;
    uint64_t err = transfer(&done, &fault);
    regs_[REG_BYTES_DONE / 8] = done;
    regs_[REG_FAULT_ADDR / 8] = fault;
    regs_[REG_CYCLES / 8] = 0;
    regs_[REG_STATUS / 8] = STATUS_DONE | (err ? STATUS_ERROR | (err << 16) : 0);
    g.unlock();
    vfio::signal_irq(vfio_index, 0);
    g.lock();
  }

  static constexpr unsigned kRegs = 12;
  device *dev_;
  std::mutex lock_;
  uint64_t regs_[kRegs] = {};
};

__attribute__((constructor)) void register_testdev() {
  // Never freed: the registry may hand the device to the program until exit.
  auto *iommu = new flat_iommu();
  auto *dev = new device("vfio_testdev0");
  dev->is_pci = true;
  if (int rc = iommu_probe_device(*dev, *iommu)) {
    fprintf(stderr, "vfio_testdev: probing the device failed (%d)\n", rc);
    return;
  }
  auto *bus = new dma_test_bus(dev);
  vfio::device_desc desc;
  desc.name = "vfio_testdev0";
  desc.dev = dev;
  desc.bus = bus;
  desc.regions.push_back({kBar0Size, kBar0, true, true});
  desc.num_irqs = 1;
  desc.pci = true;
  if (int rc = vfio::register_device(desc, &bus->vfio_index))
    fprintf(stderr, "vfio_testdev: registering the device failed (%d)\n", rc);
}

}  // namespace
