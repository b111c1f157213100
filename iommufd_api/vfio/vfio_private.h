// SPDX-License-Identifier: MIT
// The VFIO layer's own state: a registered device (the kernel's struct
// vfio_device with the vfio_pci_core_device fields we model) and one open of
// its cdev (struct vfio_device_file). See docs/vfio.md.
//
// Files and their kernel counterparts:
//   vfio_main.cpp      drivers/vfio/vfio_main.c   registry, cdev fops, DEVICE_FEATURE
//   device_cdev.cpp    drivers/vfio/device_cdev.c + iommufd.c   BIND/ATTACH/DETACH, unbind
//   vfio_pci_core.cpp  drivers/vfio/pci/vfio_pci_{core,rdwr,intrs}.c   region/IRQ ioctls, rw
//
// Lifetime: the registry and every open file hold a shared_ptr to the device,
// so unregister_device() never invalidates an open fd. A bound file holds a
// reference on its iommufd context (the file behind the iommufd fd), as the
// kernel's df->iommufd does, so the iommufd and the cdev close in either order.
//
// Locks (outermost first): vfio_device::dev_set_lock -> iommufd core locks.
// vfio_device::igate (interrupt state) and vfio_device_file::pos_lock are
// leaves. The registry lock is never held while calling out.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/iommufd_private.h"
#include "core/vfs.h"
#include "drivers/hostbus.h"
#include "iommusim/vfio.h"
#include "vfio/vfio_device.h"

namespace iommusim::iommufd::vfio {

// vfio-pci's region offset encoding (include/linux/vfio_pci_core.h).
inline constexpr unsigned VFIO_PCI_OFFSET_SHIFT = 40;
inline constexpr uint64_t VFIO_PCI_OFFSET_MASK = (1ULL << VFIO_PCI_OFFSET_SHIFT) - 1;
inline constexpr uint64_t vfio_pci_index_to_offset(uint64_t index) {
  return index << VFIO_PCI_OFFSET_SHIFT;
}
inline constexpr uint64_t vfio_pci_offset_to_index(uint64_t off) {
  return off >> VFIO_PCI_OFFSET_SHIFT;
}

struct vfio_device {
  explicit vfio_device(const device_desc &d, unsigned idx);

  const device_desc desc;
  const unsigned index;   // N of /dev/vfio/devices/vfioN
  const std::string path;

  // dev_set->lock: bind/unbind/attach/detach of this device.
  std::mutex dev_set_lock;
  unsigned open_count = 0;              // files past vfio_df_open (cdev: at most 1)
  iommufd_device *idev = nullptr;       // vdev->iommufd_device
  bool iommufd_attached = false;
  std::atomic<bool> registered{true};

  // Interrupts (vdev->igate). An eventfd the program gave us is held as a
  // duplicate descriptor of our own (eventfd_ctx_fdget keeps a reference the
  // same way), so the program may close its copy.
  std::mutex igate;
  unsigned irq_type = VFIO_PCI_NUM_IRQS;  // VFIO_PCI_NUM_IRQS = none enabled
  std::vector<int> msix_trigger;          // per vector: our eventfd, -1 none
  std::vector<int> platform_trigger;      // non-PCI: per IRQ index
  int err_trigger = -1;
  int req_trigger = -1;

  // vfio_pci_core semantics.
  unsigned num_regions() const;
  unsigned num_irq_indexes() const;
  unsigned irq_count(unsigned index) const;  // vfio_pci_get_irq_count
  // The registered region behind a region index, or nullptr (an absent BAR).
  const region *region_at(unsigned index) const;
};

// One open of /dev/vfio/devices/vfioN.
class vfio_device_file final : public file {
 public:
  vfio_device_file(std::shared_ptr<vfio_device> dev, int open_flags);

  long ioctl(unsigned int cmd, unsigned long arg) override;
  ssize_t read(uint64_t ubuf, size_t count) override;
  ssize_t write(uint64_t ubuf, size_t count) override;
  ssize_t pread(uint64_t ubuf, size_t count, int64_t pos) override;
  ssize_t pwrite(uint64_t ubuf, size_t count, int64_t pos) override;
  // llseek: file::llseek's -ESPIPE. vfio_device_fops has no .llseek in 6.12,
  // so do_dentry_open() clears FMODE_LSEEK: read()/write() use the file
  // position, which only they advance.

  const std::shared_ptr<vfio_device> vdev;
  std::atomic<bool> access_granted{false};  // set once BIND_IOMMUFD succeeded
  iommufd_ctx *iommufd = nullptr;           // df->iommufd (a reference on its file)
  uint32_t devid = 0;

 protected:
  void release() override;

 private:
  ssize_t rw_at(uint64_t ubuf, size_t count, int64_t *pos, bool iswrite);
  const int open_flags_;
  std::mutex pos_lock_;
  int64_t f_pos_ = 0;
};

// --- device_cdev.cpp ---
long vfio_df_ioctl_bind_iommufd(vfio_device_file *df, uint64_t arg);
long vfio_df_ioctl_attach_pt(vfio_device_file *df, uint64_t arg);
long vfio_df_ioctl_detach_pt(vfio_device_file *df, uint64_t arg);
void vfio_df_unbind_iommufd(vfio_device_file *df);

// --- vfio_pci_core.cpp ---
long vfio_pci_core_ioctl(vfio_device *vdev, unsigned int cmd, uint64_t arg);
long vfio_pci_core_ioctl_feature(vfio_device *vdev, uint32_t flags, uint64_t arg, size_t argsz);
// Region access at *ppos (region index in bits 40+); advances *ppos by the
// bytes done. Bytes done or -errno.
ssize_t vfio_pci_rw(vfio_device *vdev, uint64_t ubuf, size_t count, int64_t *ppos, bool iswrite);
// close_device: interrupts off, every eventfd released.
void vfio_pci_core_close_device(vfio_device *vdev);
// The driver asks for the device back (vfio_pci_core_request): signal REQ.
void vfio_pci_core_request(vfio_device *vdev);
// The device raised irq (an MSI-X vector, or a non-PCI IRQ index).
void vfio_pci_signal(vfio_device *vdev, unsigned irq);

// eventfd_ctx_fdget(): our own reference (a duplicate descriptor) on the
// program's eventfd fd; -EBADF for no such fd, -EINVAL for a file that is not
// an eventfd (including every descriptor iommusim itself handed out).
int eventfd_ctx_fdget(int fd);
void eventfd_ctx_put(int efd);
void eventfd_signal(int efd);

}  // namespace iommusim::iommufd::vfio
