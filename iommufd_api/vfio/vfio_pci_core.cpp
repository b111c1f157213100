// SPDX-License-Identifier: MIT
// The device ioctls and region access of a bound device (the kernel's
// drivers/vfio/pci/vfio_pci_core.c, vfio_pci_rdwr.c and vfio_pci_intrs.c, and
// vfio_set_irqs_validate_and_prepare() of vfio_main.c). A device registered
// with pci = false gets the vfio-platform shape instead (see docs/vfio.md).
//
// What a simulated PCI device is to vfio-pci:
//  - regions: BAR0..BAR5 are device_desc::regions (an absent or empty one has
//    size 0 and no flags), no expansion ROM, no VGA; PCI config space is not
//    modelled (size 0);
//  - interrupts: no INTx pin, no MSI capability, an MSI-X capability with
//    device_desc::num_irqs vectors (signal_irq(index, vector) fires one), a
//    PCIe ERR interrupt and the REQ interrupt;
//  - no function, slot or bus reset; no device-specific regions.
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "vfio/vfio_private.h"

namespace iommusim::iommufd::vfio {

// --- device shape ---

unsigned vfio_device::num_regions() const {
  return desc.pci ? unsigned(VFIO_PCI_NUM_REGIONS) : static_cast<unsigned>(desc.regions.size());
}

unsigned vfio_device::num_irq_indexes() const {
  return desc.pci ? unsigned(VFIO_PCI_NUM_IRQS) : desc.num_irqs;
}

unsigned vfio_device::irq_count(unsigned index) const {
  if (!desc.pci) return index < desc.num_irqs ? 1 : 0;
  switch (index) {
    case VFIO_PCI_MSIX_IRQ_INDEX:
      return desc.num_irqs;
    case VFIO_PCI_ERR_IRQ_INDEX:  // PCIe
    case VFIO_PCI_REQ_IRQ_INDEX:
      return 1;
    default:  // INTx (no pin), MSI (no capability)
      return 0;
  }
}

const region *vfio_device::region_at(unsigned index) const {
  if (desc.pci && index > VFIO_PCI_BAR5_REGION_INDEX) return nullptr;
  if (index >= desc.regions.size() || !desc.regions[index].size) return nullptr;
  return &desc.regions[index];
}

namespace {

uint32_t region_flags(const region *r) {
  if (!r) return 0;
  return (r->readable ? VFIO_REGION_INFO_FLAG_READ : 0) |
         (r->writable ? VFIO_REGION_INFO_FLAG_WRITE : 0);
}

// --- info ioctls ---

int vfio_pci_ioctl_get_info(vfio_device *vdev, uint64_t arg) {
  mm_struct &mm = *current().mm;
  size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_device_info, num_irqs);
  vfio_device_info info = {};
  if (mm.copy_from_user(&info, arg, minsz)) return -EFAULT;
  if (info.argsz < minsz) return -EINVAL;
  if (vdev->desc.pci) {
    // vfio-pci writes back up to the whole struct (cap_offset, pad = 0).
    minsz = std::min<size_t>(info.argsz, sizeof(info));
    info.flags = VFIO_DEVICE_FLAGS_PCI;  // no RESET: reset_works is false
  } else {
    info.flags = VFIO_DEVICE_FLAGS_PLATFORM;
  }
  info.num_regions = vdev->num_regions();
  info.num_irqs = vdev->num_irq_indexes();
  // No capability chain: 6.12 adds one only for zPCI and for PCIe AtomicOps
  // completers on a root port, neither of which a simulated device is.
  return mm.copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

int vfio_pci_ioctl_get_region_info(vfio_device *vdev, uint64_t arg) {
  mm_struct &mm = *current().mm;
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_region_info, offset);
  vfio_region_info info;
  if (mm.copy_from_user(&info, arg, minsz)) return -EFAULT;
  if (info.argsz < minsz) return -EINVAL;
  // cap_offset is written back as the caller gave it: no region has caps.
  if (!vdev->desc.pci) {
    if (info.index >= vdev->num_regions()) return -EINVAL;
    const region *r = vdev->region_at(info.index);
    info.offset = vfio_pci_index_to_offset(info.index);
    info.size = r ? r->size : 0;
    info.flags = region_flags(r);
    return mm.copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
  }
  switch (info.index) {
    case VFIO_PCI_CONFIG_REGION_INDEX:
      // Not modelled: an empty region rather than invented IDs.
      info.offset = vfio_pci_index_to_offset(info.index);
      info.size = 0;
      info.flags = 0;
      break;
    case VFIO_PCI_BAR0_REGION_INDEX:
    case VFIO_PCI_BAR1_REGION_INDEX:
    case VFIO_PCI_BAR2_REGION_INDEX:
    case VFIO_PCI_BAR3_REGION_INDEX:
    case VFIO_PCI_BAR4_REGION_INDEX:
    case VFIO_PCI_BAR5_REGION_INDEX: {
      const region *r = vdev->region_at(info.index);
      info.offset = vfio_pci_index_to_offset(info.index);
      info.size = r ? r->size : 0;
      // No FLAG_MMAP: the device fd cannot be mmapped under iommusim.
      info.flags = region_flags(r);
      break;
    }
    case VFIO_PCI_ROM_REGION_INDEX:
      info.offset = vfio_pci_index_to_offset(info.index);
      info.flags = 0;
      info.size = 0;  // no ROM BAR, no shadow ROM
      break;
    case VFIO_PCI_VGA_REGION_INDEX:
      return -EINVAL;  // not a VGA device
    default:
      // No device-specific regions past VFIO_PCI_NUM_REGIONS.
      return -EINVAL;
  }
  return mm.copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

int vfio_pci_ioctl_get_irq_info(vfio_device *vdev, uint64_t arg) {
  mm_struct &mm = *current().mm;
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_irq_info, count);
  vfio_irq_info info;
  if (mm.copy_from_user(&info, arg, minsz)) return -EFAULT;
  if (!vdev->desc.pci) {
    if (info.argsz < minsz) return -EINVAL;
    if (info.index >= vdev->num_irq_indexes()) return -EINVAL;
    info.flags = VFIO_IRQ_INFO_EVENTFD;
    info.count = 1;
    return mm.copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
  }
  if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS) return -EINVAL;
  // Every index exists on a PCIe device (ERR only on PCIe).
  info.flags = VFIO_IRQ_INFO_EVENTFD;
  info.count = vdev->irq_count(info.index);
  if (info.index == VFIO_PCI_INTX_IRQ_INDEX)
    info.flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
  else
    info.flags |= VFIO_IRQ_INFO_NORESIZE;  // MSI-X without dynamic allocation too
  return mm.copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

// --- SET_IRQS ---

// vfio_set_irqs_validate_and_prepare()
int vfio_set_irqs_validate_and_prepare(const vfio_irq_set *hdr, unsigned num_irqs,
                                       unsigned max_irq_type, size_t *data_size) {
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_irq_set, count);
  if (hdr->argsz < minsz || hdr->index >= max_irq_type || hdr->count >= UINT32_MAX - hdr->start ||
      (hdr->flags & ~uint32_t(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)))
    return -EINVAL;
  *data_size = 0;
  if (hdr->start >= num_irqs || hdr->start + hdr->count > num_irqs) return -EINVAL;
  size_t size;
  switch (hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
    case VFIO_IRQ_SET_DATA_NONE:
      size = 0;
      break;
    case VFIO_IRQ_SET_DATA_BOOL:
      size = sizeof(uint8_t);
      break;
    case VFIO_IRQ_SET_DATA_EVENTFD:
      size = sizeof(int32_t);
      break;
    default:
      return -EINVAL;
  }
  if (size) {
    if (hdr->argsz - minsz < hdr->count * size) return -EINVAL;
    *data_size = hdr->count * size;
  }
  return 0;
}

// Replace *slot's eventfd by the program's fd (-1: none).
int set_trigger(int *slot, int fd) {
  if (*slot >= 0) {
    eventfd_ctx_put(*slot);
    *slot = -1;
  }
  if (fd < 0) return 0;
  int efd = eventfd_ctx_fdget(fd);
  if (efd < 0) return efd;
  *slot = efd;
  return 0;
}

// MSI-X (vfio_msi_*): igate held.
void vfio_msi_disable(vfio_device *vdev) {
  for (int &t : vdev->msix_trigger) set_trigger(&t, -1);
  vdev->irq_type = VFIO_PCI_NUM_IRQS;
}

int vfio_msi_enable(vfio_device *vdev, unsigned nvec) {
  if (vdev->irq_type != VFIO_PCI_NUM_IRQS) return -EINVAL;
  // pci_alloc_irq_vectors(pdev, 1, nvec, PCI_IRQ_MSIX)
  if (nvec < 1) return -ERANGE;
  if (nvec > vdev->msix_trigger.size()) return static_cast<int>(vdev->msix_trigger.size());
  vdev->irq_type = VFIO_PCI_MSIX_IRQ_INDEX;
  return 0;
}

int vfio_msi_set_block(vfio_device *vdev, unsigned start, unsigned count, const int32_t *fds) {
  unsigned i, j;
  int ret = 0;
  for (i = 0, j = start; i < count && !ret; i++, j++)
    ret = set_trigger(&vdev->msix_trigger[j], fds ? fds[i] : -1);
  if (ret)
    for (i = start; i < j; i++) set_trigger(&vdev->msix_trigger[i], -1);
  return ret;
}

int vfio_pci_set_msi_trigger(vfio_device *vdev, unsigned index, unsigned start, unsigned count,
                             uint32_t flags, const uint8_t *data) {
  if (index != VFIO_PCI_MSIX_IRQ_INDEX) return -EINVAL;  // no MSI capability (count 0)
  const bool enabled = vdev->irq_type == index;
  if (enabled && !count && (flags & VFIO_IRQ_SET_DATA_NONE)) {
    vfio_msi_disable(vdev);
    return 0;
  }
  if (!(enabled || vdev->irq_type == VFIO_PCI_NUM_IRQS)) return -EINVAL;
  if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
    const auto *fds = reinterpret_cast<const int32_t *>(data);
    if (enabled) return vfio_msi_set_block(vdev, start, count, fds);
    int ret = vfio_msi_enable(vdev, start + count);
    if (ret) return ret;
    ret = vfio_msi_set_block(vdev, start, count, fds);
    if (ret) vfio_msi_disable(vdev);
    return ret;
  }
  if (!enabled) return -EINVAL;
  // Loopback: fire the vectors from user space.
  for (unsigned i = start; i < start + count; i++) {
    int efd = vdev->msix_trigger[i];
    if (efd < 0) continue;
    if (flags & VFIO_IRQ_SET_DATA_NONE)
      eventfd_signal(efd);
    else if ((flags & VFIO_IRQ_SET_DATA_BOOL) && data[i - start])
      eventfd_signal(efd);
  }
  return 0;
}

// vfio_pci_set_ctx_trigger_single(): ERR and REQ.
int vfio_pci_set_ctx_trigger_single(int *trigger, unsigned count, uint32_t flags,
                                    const uint8_t *data) {
  if (flags & VFIO_IRQ_SET_DATA_NONE) {
    if (*trigger < 0) return -EINVAL;
    if (count) {
      eventfd_signal(*trigger);
      return 0;
    }
    return set_trigger(trigger, -1);
  }
  if (flags & VFIO_IRQ_SET_DATA_BOOL) {
    if (!count) return -EINVAL;
    if (data[0] && *trigger >= 0) eventfd_signal(*trigger);
    return 0;
  }
  if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
    if (!count) return -EINVAL;
    int32_t fd;
    memcpy(&fd, data, sizeof(fd));
    if (fd == -1) return set_trigger(trigger, -1);
    if (fd >= 0) {
      // Keep the old eventfd if the new one is no good.
      int efd = eventfd_ctx_fdget(fd);
      if (efd < 0) return efd;
      eventfd_ctx_put(*trigger);
      *trigger = efd;
      return 0;
    }
  }
  return -EINVAL;
}

int vfio_pci_set_irqs_ioctl(vfio_device *vdev, uint32_t flags, unsigned index, unsigned start,
                            unsigned count, const uint8_t *data) {
  const uint32_t action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
  switch (index) {
    case VFIO_PCI_INTX_IRQ_INDEX:
      // Unreachable: with no INTx pin the count is 0 and validation fails.
      return -EINVAL;
    case VFIO_PCI_MSI_IRQ_INDEX:
    case VFIO_PCI_MSIX_IRQ_INDEX:
      if (action != VFIO_IRQ_SET_ACTION_TRIGGER) return -ENOTTY;  // no MSI masking
      return vfio_pci_set_msi_trigger(vdev, index, start, count, flags, data);
    case VFIO_PCI_ERR_IRQ_INDEX:
      if (action != VFIO_IRQ_SET_ACTION_TRIGGER) return -ENOTTY;
      if (start != 0 || count > 1) return -EINVAL;
      return vfio_pci_set_ctx_trigger_single(&vdev->err_trigger, count, flags, data);
    case VFIO_PCI_REQ_IRQ_INDEX:
      if (action != VFIO_IRQ_SET_ACTION_TRIGGER) return -ENOTTY;
      if (start != 0 || count > 1) return -EINVAL;
      return vfio_pci_set_ctx_trigger_single(&vdev->req_trigger, count, flags, data);
    default:
      return -ENOTTY;
  }
}

// vfio-platform's trigger action for IRQ index (count is 0 or 1).
int vfio_platform_set_irqs_ioctl(vfio_device *vdev, uint32_t flags, unsigned index, unsigned,
                                 unsigned count, const uint8_t *data) {
  if ((flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) != VFIO_IRQ_SET_ACTION_TRIGGER) return -ENOTTY;
  int *trigger = &vdev->platform_trigger[index];
  if (!count && (flags & VFIO_IRQ_SET_DATA_NONE)) return set_trigger(trigger, -1);
  if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
    int32_t fd;
    memcpy(&fd, data, sizeof(fd));
    return set_trigger(trigger, fd);
  }
  if ((flags & VFIO_IRQ_SET_DATA_NONE) || ((flags & VFIO_IRQ_SET_DATA_BOOL) && data[0]))
    eventfd_signal(*trigger);
  return 0;
}

int vfio_pci_ioctl_set_irqs(vfio_device *vdev, uint64_t arg) {
  mm_struct &mm = *current().mm;
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_irq_set, count);
  vfio_irq_set hdr;
  if (mm.copy_from_user(&hdr, arg, minsz)) return -EFAULT;
  const unsigned max = hdr.index < vdev->num_irq_indexes() ? vdev->irq_count(hdr.index) : 0;
  size_t data_size = 0;
  int ret = vfio_set_irqs_validate_and_prepare(&hdr, max, vdev->num_irq_indexes(), &data_size);
  if (ret) return ret;
  std::vector<uint8_t> data(data_size);
  if (data_size && mm.copy_from_user(data.data(), arg + offsetof(vfio_irq_set, data), data_size))
    return -EFAULT;
  std::lock_guard g(vdev->igate);
  if (!vdev->desc.pci)
    return vfio_platform_set_irqs_ioctl(vdev, hdr.flags, hdr.index, hdr.start, hdr.count,
                                        data.data());
  return vfio_pci_set_irqs_ioctl(vdev, hdr.flags, hdr.index, hdr.start, hdr.count, data.data());
}

// --- resets and ioeventfds: what a device without reset capability answers ---

int vfio_pci_ioctl_get_pci_hot_reset_info(uint64_t arg) {
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_pci_hot_reset_info, count);
  vfio_pci_hot_reset_info hdr;
  if (current().mm->copy_from_user(&hdr, arg, minsz)) return -EFAULT;
  if (hdr.argsz < minsz) return -EINVAL;
  return -ENODEV;  // neither a slot nor a bus reset
}

int vfio_pci_ioctl_pci_hot_reset(uint64_t arg) {
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_pci_hot_reset, count);
  vfio_pci_hot_reset hdr;
  if (current().mm->copy_from_user(&hdr, arg, minsz)) return -EFAULT;
  if (hdr.argsz < minsz || hdr.flags) return -EINVAL;
  // A cdev-opened device passes a zero-length array.
  if (hdr.count) return -EINVAL;
  return -ENODEV;
}

int vfio_pci_ioctl_ioeventfd(vfio_device *vdev, uint64_t arg) {
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_device_ioeventfd, fd);
  vfio_device_ioeventfd ioeventfd;
  if (current().mm->copy_from_user(&ioeventfd, arg, minsz)) return -EFAULT;
  if (ioeventfd.argsz < minsz) return -EINVAL;
  if (ioeventfd.flags & ~uint32_t(VFIO_DEVICE_IOEVENTFD_SIZE_MASK)) return -EINVAL;
  const unsigned count = ioeventfd.flags & VFIO_DEVICE_IOEVENTFD_SIZE_MASK;
  if (__builtin_popcount(count) != 1 || ioeventfd.fd < -1) return -EINVAL;
  const uint64_t bar = vfio_pci_offset_to_index(ioeventfd.offset);
  const uint64_t pos = ioeventfd.offset & VFIO_PCI_OFFSET_MASK;
  if (bar > VFIO_PCI_BAR5_REGION_INDEX) return -EINVAL;
  const region *r = vdev->region_at(static_cast<unsigned>(bar));
  if (pos + count > (r ? r->size : 0)) return -EINVAL;
  // Valid, but iommusim has no ioeventfd machinery (docs/vfio.md): the
  // caller falls back to writing the register itself.
  return -ENOTTY;
}

// --- region access (vfio_pci_core_do_io_rw) ---

// One access of width 1, 2, 4 or 8 at pa. Bytes and halfwords are done on
// the 32-bit word that holds them (HostBus has no narrower access): a write
// reads that word, merges and writes it back.
void io_read(host_bus *bus, uint64_t pa, unsigned width, uint8_t *out) {
  if (width == 8) {
    uint64_t v = bus->readq(pa);
    memcpy(out, &v, 8);
  } else if (width == 4) {
    uint32_t v = bus->readl(pa);
    memcpy(out, &v, 4);
  } else {
    uint32_t v = bus->readl(pa & ~uint64_t(3));
    v >>= (pa & 3) * 8;
    memcpy(out, &v, width);  // little-endian host
  }
}

void io_write(host_bus *bus, uint64_t pa, unsigned width, const uint8_t *in) {
  if (width == 8) {
    uint64_t v;
    memcpy(&v, in, 8);
    bus->writeq(pa, v);
  } else if (width == 4) {
    uint32_t v;
    memcpy(&v, in, 4);
    bus->writel(pa, v);
  } else {
    const uint64_t word = pa & ~uint64_t(3);
    const unsigned shift = static_cast<unsigned>(pa & 3) * 8;
    const uint32_t mask = (width == 2 ? 0xffffu : 0xffu) << shift;
    uint32_t v = 0;
    memcpy(&v, in, width);
    bus->writel(word, (bus->readl(word) & ~mask) | ((v << shift) & mask));
  }
}

ssize_t vfio_pci_core_do_io_rw(host_bus *bus, uint64_t base, uint64_t ubuf, uint64_t off,
                               size_t count, bool iswrite) {
  mm_struct &mm = *current().mm;
  ssize_t done = 0;
  while (count) {
    const uint64_t pa = base + off;
    unsigned width;
    if (count >= 8 && !(pa % 8))
      width = 8;
    else if (count >= 4 && !(pa % 4))
      width = 4;
    else if (count >= 2 && !(pa % 2))
      width = 2;
    else
      width = 1;
    uint8_t val[8];
    if (iswrite) {
      if (mm.copy_from_user(val, ubuf, width)) return -EFAULT;
      io_write(bus, pa, width, val);
    } else {
      io_read(bus, pa, width, val);
      if (mm.copy_to_user(ubuf, val, width)) return -EFAULT;
    }
    count -= width;
    done += width;
    off += width;
    ubuf += width;
  }
  return done;
}

// vfio_pci_bar_rw(): a BAR (or a non-PCI region) at *ppos.
ssize_t vfio_pci_bar_rw(vfio_device *vdev, unsigned index, uint64_t ubuf, size_t count,
                        int64_t *ppos, bool iswrite) {
  const uint64_t pos = static_cast<uint64_t>(*ppos) & VFIO_PCI_OFFSET_MASK;
  const region *r = vdev->region_at(index);
  if (!r) return -EINVAL;
  // Our regions may be read-only or write-only (as vfio-platform's).
  if (iswrite ? !r->writable : !r->readable) return -EINVAL;
  if (pos >= r->size) return -EINVAL;
  count = static_cast<size_t>(std::min<uint64_t>(count, r->size - pos));
  ssize_t done = vfio_pci_core_do_io_rw(vdev->desc.bus, r->phys_base, ubuf, pos, count, iswrite);
  if (done >= 0) *ppos += done;
  return done;
}

}  // namespace

ssize_t vfio_pci_rw(vfio_device *vdev, uint64_t ubuf, size_t count, int64_t *ppos, bool iswrite) {
  const uint64_t index64 = vfio_pci_offset_to_index(static_cast<uint64_t>(*ppos));
  if (index64 >= vdev->num_regions()) return -EINVAL;
  const auto index = static_cast<unsigned>(index64);
  if (!vdev->desc.pci) return vfio_pci_bar_rw(vdev, index, ubuf, count, ppos, iswrite);
  switch (index) {
    case VFIO_PCI_CONFIG_REGION_INDEX:
      return -EINVAL;  // config space is not modelled (size 0)
    case VFIO_PCI_ROM_REGION_INDEX:
      return -EINVAL;  // writes never; reads find no ROM
    case VFIO_PCI_VGA_REGION_INDEX:
      return -EINVAL;  // not a VGA device
    default:
      return vfio_pci_bar_rw(vdev, index, ubuf, count, ppos, iswrite);
  }
}

long vfio_pci_core_ioctl(vfio_device *vdev, unsigned int cmd, uint64_t arg) {
  switch (cmd) {
    case VFIO_DEVICE_GET_INFO:
      return vfio_pci_ioctl_get_info(vdev, arg);
    case VFIO_DEVICE_GET_IRQ_INFO:
      return vfio_pci_ioctl_get_irq_info(vdev, arg);
    case VFIO_DEVICE_GET_REGION_INFO:
      return vfio_pci_ioctl_get_region_info(vdev, arg);
    case VFIO_DEVICE_SET_IRQS:
      return vfio_pci_ioctl_set_irqs(vdev, arg);
    case VFIO_DEVICE_RESET:
      return -EINVAL;  // reset_works is false
    default:
      break;
  }
  if (!vdev->desc.pci) return -ENOTTY;
  switch (cmd) {
    case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
      return vfio_pci_ioctl_get_pci_hot_reset_info(arg);
    case VFIO_DEVICE_IOEVENTFD:
      return vfio_pci_ioctl_ioeventfd(vdev, arg);
    case VFIO_DEVICE_PCI_HOT_RESET:
      return vfio_pci_ioctl_pci_hot_reset(arg);
    default:
      return -ENOTTY;
  }
}

long vfio_pci_core_ioctl_feature(vfio_device *, uint32_t, uint64_t, size_t) {
  // vfio-pci's own features: low-power entry/exit (not modelled) and the VF
  // token (no SR-IOV, so no token: -ENOTTY as the kernel). Non-PCI devices
  // have none.
  return -ENOTTY;
}

void vfio_pci_core_close_device(vfio_device *vdev) {
  std::lock_guard g(vdev->igate);
  vfio_msi_disable(vdev);
  set_trigger(&vdev->err_trigger, -1);
  set_trigger(&vdev->req_trigger, -1);
  for (int &t : vdev->platform_trigger) set_trigger(&t, -1);
}

void vfio_pci_core_request(vfio_device *vdev) {
  std::lock_guard g(vdev->igate);
  eventfd_signal(vdev->req_trigger);
}

void vfio_pci_signal(vfio_device *vdev, unsigned irq) {
  std::lock_guard g(vdev->igate);
  if (!vdev->desc.pci) {
    if (irq < vdev->platform_trigger.size()) eventfd_signal(vdev->platform_trigger[irq]);
    return;
  }
  if (vdev->irq_type == VFIO_PCI_MSIX_IRQ_INDEX && irq < vdev->msix_trigger.size())
    eventfd_signal(vdev->msix_trigger[irq]);
}

}  // namespace iommusim::iommufd::vfio
