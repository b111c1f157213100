// SPDX-License-Identifier: MIT
// VFIO device cdevs: how the platform exposes a simulated device to a program
// as /dev/vfio/devices/vfioN (Linux's drivers/vfio device cdev with iommufd).
// The program opens the path (the LD_PRELOAD shim routes it), binds the device
// to an iommufd (VFIO_DEVICE_BIND_IOMMUFD), attaches it to an IOAS or HWPT
// (VFIO_DEVICE_ATTACH_IOMMUFD_PT), and reads/writes its regions with
// pread/pwrite at the region offsets VFIO_DEVICE_GET_REGION_INFO reports.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace iommusim::iommufd {

class device;
class host_bus;

namespace vfio {

// A device region: a window of MMIO on the host bus (a PCI BAR).
struct region {
  uint64_t size = 0;
  uint64_t phys_base = 0;   // where the window is on the host bus
  bool readable = true;
  bool writable = true;
};

struct device_desc {
  std::string name;                  // for messages ("dma0")
  device *dev = nullptr;             // the iommufd core's device (ids, iommu set up)
  host_bus *bus = nullptr;           // region accesses go through it
  std::vector<region> regions;       // region index = position (VFIO_PCI_BAR0_REGION_INDEX = 0)
  unsigned num_irqs = 0;             // interrupts the program can attach eventfds to
  bool pci = true;                   // VFIO_DEVICE_FLAGS_PCI
};

// Register a device; *index is N of /dev/vfio/devices/vfioN (lowest free).
// 0 or -errno.
int register_device(const device_desc &desc, unsigned *index);
// Unregister: the cdev disappears; an open fd keeps working until closed.
void unregister_device(unsigned index);
// The device raised interrupt irq: signal the eventfd the program set with
// VFIO_DEVICE_SET_IRQS (if any). Safe from any thread.
void signal_irq(unsigned index, unsigned irq);

// Open /dev/vfio/devices/vfioN for the C API / the shim: an fd, or -errno
// (-ENOENT for no such device).
int open_cdev(const std::string &path, int flags);
// True if path names a registered VFIO cdev (the shim routes only those).
bool is_cdev_path(const std::string &path);

}  // namespace vfio
}  // namespace iommusim::iommufd
