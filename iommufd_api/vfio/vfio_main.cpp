// SPDX-License-Identifier: MIT
// The VFIO device registry and the device cdev's file operations (the kernel's
// drivers/vfio/vfio_main.c): open, ioctl dispatch, read/write/pread/pwrite,
// release, and VFIO_DEVICE_FEATURE. See vfio_private.h and docs/vfio.md.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string_view>

#include "core/log.h"
#include "vfio/vfio_private.h"

namespace iommusim::iommufd::vfio {

namespace {

constexpr std::string_view kCdevPrefix = "/dev/vfio/devices/vfio";

std::mutex g_registry_lock;
std::map<unsigned, std::shared_ptr<vfio_device>> g_registry;

std::shared_ptr<vfio_device> lookup(unsigned index) {
  std::lock_guard g(g_registry_lock);
  auto it = g_registry.find(index);
  return it == g_registry.end() ? nullptr : it->second;
}

// "/dev/vfio/devices/vfioN" with N in canonical decimal (no sign, no leading
// zero) -> N. The kernel names the node after the device (dev_name "vfioN").
bool parse_cdev_path(std::string_view path, unsigned *index) {
  if (path.substr(0, kCdevPrefix.size()) != kCdevPrefix) return false;
  std::string_view num = path.substr(kCdevPrefix.size());
  if (num.empty() || num.size() > 9 || (num.size() > 1 && num[0] == '0')) return false;
  unsigned v = 0;
  for (char c : num) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *index = v;
  return true;
}

// Our eventfd references live above the program's usual descriptor range, so
// they do not take the numbers its next open() would get.
constexpr int kHiddenFdBase = 512;

long vfio_ioctl_device_feature(vfio_device *vdev, uint64_t arg) {
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_device_feature, flags);
  vfio_device_feature feature;
  if (current().mm->copy_from_user(&feature, arg, minsz)) return -EFAULT;
  if (feature.argsz < minsz) return -EINVAL;
  // Unknown flags.
  if (feature.flags & ~uint32_t(VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_SET |
                                VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE))
    return -EINVAL;
  // GET and SET together only with PROBE.
  if (!(feature.flags & VFIO_DEVICE_FEATURE_PROBE) && (feature.flags & VFIO_DEVICE_FEATURE_SET) &&
      (feature.flags & VFIO_DEVICE_FEATURE_GET))
    return -EINVAL;
  switch (feature.flags & VFIO_DEVICE_FEATURE_MASK) {
    // Core features: a device without migration or dirty-logging ops.
    case VFIO_DEVICE_FEATURE_MIGRATION:
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
    case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
      return -ENOTTY;
    default:
      return vfio_pci_core_ioctl_feature(vdev, feature.flags, arg + minsz, feature.argsz - minsz);
  }
}

}  // namespace

// --- eventfd references ---

int eventfd_ctx_fdget(int fd) {
  if (fd < 0) return -EBADF;
  // Every descriptor iommusim hands out is an eventfd underneath, but to the
  // program it is an iommufd, a fault queue or a device: not an eventfd.
  if (fd_table::get().owns(fd)) return -EINVAL;
  const int saved = errno;
  long dup = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, kHiddenFdBase);
  if (dup < 0 && errno == EINVAL) dup = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) {
    const int err = errno;
    errno = saved;
    return err == EBADF ? -EBADF : -err;
  }
  char self[64];
  char target[64];
  snprintf(self, sizeof(self), "/proc/self/fd/%ld", dup);
  long n = syscall(SYS_readlinkat, AT_FDCWD, self, target, sizeof(target) - 1);
  // Without /proc the type cannot be checked; accept the fd then.
  if (n >= 0 && std::string_view(target, static_cast<size_t>(n)) != "anon_inode:[eventfd]") {
    syscall(SYS_close, dup);
    errno = saved;
    return -EINVAL;
  }
  errno = saved;
  return static_cast<int>(dup);
}

void eventfd_ctx_put(int efd) {
  if (efd < 0) return;
  const int saved = errno;
  syscall(SYS_close, efd);
  errno = saved;
}

void eventfd_signal(int efd) {
  if (efd < 0) return;
  const int saved = errno;
  uint64_t one = 1;
  while (syscall(SYS_write, efd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  errno = saved;
}

// --- the device ---

vfio_device::vfio_device(const device_desc &d, unsigned idx)
    : desc(d), index(idx), path(std::string(kCdevPrefix) + std::to_string(idx)) {
  msix_trigger.assign(desc.pci ? desc.num_irqs : 0, -1);
  platform_trigger.assign(desc.pci ? 0 : desc.num_irqs, -1);
}

// --- the cdev file ---

vfio_device_file::vfio_device_file(std::shared_ptr<vfio_device> dev, int open_flags)
    : vdev(std::move(dev)), open_flags_(open_flags) {}

long vfio_device_file::ioctl(unsigned int cmd, unsigned long arg) {
  if (cmd == VFIO_DEVICE_BIND_IOMMUFD) return vfio_df_ioctl_bind_iommufd(this, arg);
  // Nothing else until BIND_IOMMUFD opened the device.
  if (!access_granted.load(std::memory_order_acquire)) return -EINVAL;
  switch (cmd) {
    case VFIO_DEVICE_ATTACH_IOMMUFD_PT:
      return vfio_df_ioctl_attach_pt(this, arg);
    case VFIO_DEVICE_DETACH_IOMMUFD_PT:
      return vfio_df_ioctl_detach_pt(this, arg);
    case VFIO_DEVICE_FEATURE:
      return vfio_ioctl_device_feature(vdev.get(), arg);
    default:
      return vfio_pci_core_ioctl(vdev.get(), cmd, arg);
  }
}

// vfs_read()/vfs_write() after the access-mode check, then the fops.
ssize_t vfio_device_file::rw_at(uint64_t ubuf, size_t count, int64_t *pos, bool iswrite) {
  // rw_verify_area(): no negative position, no position past the end of loff_t.
  int64_t end;
  if (*pos < 0 || count > static_cast<size_t>(INT64_MAX) ||
      __builtin_add_overflow(*pos, static_cast<int64_t>(count), &end))
    return -EINVAL;
  // MAX_RW_COUNT
  const size_t max_rw = static_cast<size_t>(INT32_MAX) & PAGE_MASK;
  if (count > max_rw) count = max_rw;
  if (!access_granted.load(std::memory_order_acquire)) return -EINVAL;
  if (!count) return 0;  // vfio_pci_core_read/write
  return vfio_pci_rw(vdev.get(), ubuf, count, pos, iswrite);
}

namespace {
bool can_read(int flags) { return (flags & O_ACCMODE) == O_RDONLY || (flags & O_ACCMODE) == O_RDWR; }
bool can_write(int flags) { return (flags & O_ACCMODE) == O_WRONLY || (flags & O_ACCMODE) == O_RDWR; }
}  // namespace

ssize_t vfio_device_file::read(uint64_t ubuf, size_t count) {
  if (!can_read(open_flags_)) return -EBADF;
  std::lock_guard g(pos_lock_);
  int64_t pos = f_pos_;
  ssize_t rc = rw_at(ubuf, count, &pos, false);
  if (rc >= 0) f_pos_ = pos;
  return rc;
}

ssize_t vfio_device_file::write(uint64_t ubuf, size_t count) {
  if (!can_write(open_flags_)) return -EBADF;
  std::lock_guard g(pos_lock_);
  int64_t pos = f_pos_;
  ssize_t rc = rw_at(ubuf, count, &pos, true);
  if (rc >= 0) f_pos_ = pos;
  return rc;
}

ssize_t vfio_device_file::pread(uint64_t ubuf, size_t count, int64_t pos) {
  if (!can_read(open_flags_)) return -EBADF;
  return rw_at(ubuf, count, &pos, false);
}

ssize_t vfio_device_file::pwrite(uint64_t ubuf, size_t count, int64_t pos) {
  if (!can_write(open_flags_)) return -EBADF;
  return rw_at(ubuf, count, &pos, true);
}

void vfio_device_file::release() { vfio_df_unbind_iommufd(this); }

// --- the registry (vfio_device.h) ---

int register_device(const device_desc &desc, unsigned *index) {
  if (!index || !desc.dev || !desc.bus) return -EINVAL;
  // vfio-pci: the regions are BAR0..BAR5.
  if (desc.pci && desc.regions.size() > VFIO_PCI_BAR5_REGION_INDEX + 1) return -EINVAL;
  for (const region &r : desc.regions) {
    uint64_t last;
    if (r.size && __builtin_add_overflow(r.phys_base, r.size - 1, &last)) return -EINVAL;
  }
  std::lock_guard g(g_registry_lock);
  unsigned n = 0;
  while (g_registry.count(n)) n++;  // lowest free
  g_registry[n] = std::make_shared<vfio_device>(desc, n);
  *index = n;
  return 0;
}

void unregister_device(unsigned index) {
  std::shared_ptr<vfio_device> vdev;
  {
    std::lock_guard g(g_registry_lock);
    auto it = g_registry.find(index);
    if (it == g_registry.end()) return;
    vdev = std::move(it->second);
    g_registry.erase(it);
  }
  vdev->registered.store(false);
  // vfio_unregister_group_dev() asks the user to give the device back (the
  // REQ interrupt); it does not wait here (see vfio_device.h).
  vfio_pci_core_request(vdev.get());
}

void signal_irq(unsigned index, unsigned irq) {
  if (auto vdev = lookup(index)) vfio_pci_signal(vdev.get(), irq);
}

int open_cdev(const std::string &path, int flags) {
  unsigned index;
  if (!parse_cdev_path(path, &index)) return -ENOENT;
  auto vdev = lookup(index);
  if (!vdev) return -ENOENT;
  fd_table &t = fd_table::get();
  int fd = t.get_unused_fd();
  if (fd < 0) return fd;
  t.fd_install(fd, new vfio_device_file(std::move(vdev), flags));
  return fd;
}

bool is_cdev_path(const std::string &path) {
  unsigned index;
  return parse_cdev_path(path, &index) && lookup(index) != nullptr;
}

}  // namespace iommusim::iommufd::vfio
