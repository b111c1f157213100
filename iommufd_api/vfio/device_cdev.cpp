// SPDX-License-Identifier: MIT
// Binding a device cdev to an iommufd and attaching it to an IOAS or HWPT
// (the kernel's drivers/vfio/device_cdev.c, the open/close half of
// vfio_main.c, and the "physical" ops of drivers/vfio/iommufd.c).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include "core/log.h"
#include "vfio/vfio_private.h"

namespace iommusim::iommufd::vfio {

namespace {

// iommufd_ctx_from_fd(): the context behind an iommufd fd, with a reference
// (the file reference fget took). -EBADF for no open file, -EBADFD for an
// open file that is not an iommufd.
err_or<iommufd_ctx> iommufd_ctx_from_fd(int fd) {
  file *f = fd_table::get().fget(fd);
  if (!f) {
    // Not ours: the program's own open file (EBADFD) or nothing (EBADF).
    const int saved = errno;
    const bool open = syscall(SYS_fcntl, fd, F_GETFD) >= 0;
    errno = saved;
    return err_or<iommufd_ctx>::error(open ? -EBADFD : -EBADF);
  }
  auto *ictx = dynamic_cast<iommufd_ctx *>(f);
  if (!ictx) {
    f->put();
    return err_or<iommufd_ctx>::error(-EBADFD);
  }
  return ictx;
}

// vfio_iommufd_physical_bind()
int vfio_iommufd_physical_bind(vfio_device *vdev, iommufd_ctx *ictx, uint32_t *out_device_id) {
  auto idev = iommufd_device_bind(ictx, vdev->desc.dev, out_device_id);
  if (idev.is_err()) return idev.err();
  vdev->idev = idev.get();
  return 0;
}

// vfio_iommufd_physical_unbind()
void vfio_iommufd_physical_unbind(vfio_device *vdev) {
  if (vdev->iommufd_attached) {
    iommufd_device_detach(vdev->idev);
    vdev->iommufd_attached = false;
  }
  iommufd_device_unbind(vdev->idev);
  vdev->idev = nullptr;
}

// vfio_iommufd_physical_attach_ioas(): a second attach replaces.
int vfio_iommufd_physical_attach_ioas(vfio_device *vdev, uint32_t *pt_id) {
  if (IOMMUSIM_WARN_ON(!vdev->idev)) return -EINVAL;
  int rc = vdev->iommufd_attached ? iommufd_device_replace(vdev->idev, pt_id)
                                  : iommufd_device_attach(vdev->idev, pt_id);
  if (rc) return rc;
  vdev->iommufd_attached = true;
  return 0;
}

void vfio_iommufd_physical_detach_ioas(vfio_device *vdev) {
  if (IOMMUSIM_WARN_ON(!vdev->idev) || !vdev->iommufd_attached) return;
  iommufd_device_detach(vdev->idev);
  vdev->iommufd_attached = false;
}

// vfio_df_open()/vfio_df_close() for a cdev file; dev_set_lock held.
int vfio_df_open(vfio_device_file *df) {
  vfio_device *vdev = df->vdev.get();
  // A cdev opens the device once: a second bound fd is refused.
  if (vdev->open_count != 0) return -EINVAL;
  vdev->open_count++;
  // First open: bind to iommufd, then the driver's open_device (vfio-pci
  // starts with every interrupt off, which is where close left it).
  int rc = vfio_iommufd_physical_bind(vdev, df->iommufd, &df->devid);
  if (rc) vdev->open_count--;
  return rc;
}

void vfio_df_close(vfio_device_file *df) {
  vfio_device *vdev = df->vdev.get();
  if (IOMMUSIM_WARN_ON(vdev->open_count == 0)) return;
  if (vdev->open_count == 1) {
    vfio_pci_core_close_device(vdev);
    vfio_iommufd_physical_unbind(vdev);
  }
  vdev->open_count--;
}

}  // namespace

long vfio_df_ioctl_bind_iommufd(vfio_device_file *df, uint64_t arg) {
  vfio_device *vdev = df->vdev.get();
  mm_struct &mm = *current().mm;
  vfio_device_bind_iommufd bind;
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_device_bind_iommufd, out_devid);
  if (mm.copy_from_user(&bind, arg, minsz)) return -EFAULT;
  if (bind.argsz < minsz || bind.flags || bind.iommufd < 0) return -EINVAL;

  std::lock_guard g(vdev->dev_set_lock);
  // One device file binds once.
  if (df->access_granted.load(std::memory_order_relaxed)) return -EINVAL;
  auto ictx = iommufd_ctx_from_fd(bind.iommufd);
  if (ictx.is_err()) return ictx.err();
  df->iommufd = ictx.get();

  int rc = vfio_df_open(df);
  if (rc) goto out_put;
  if (mm.copy_to_user(arg + offsetof(vfio_device_bind_iommufd, out_devid), &df->devid,
                      sizeof(df->devid))) {
    rc = -EFAULT;
    vfio_df_close(df);
    goto out_put;
  }
  df->access_granted.store(true, std::memory_order_release);
  return 0;

out_put:
  iommufd_ctx_put(df->iommufd);
  df->iommufd = nullptr;
  return rc;
}

void vfio_df_unbind_iommufd(vfio_device_file *df) {
  // Only at close, with no other user of df.
  if (!df->access_granted.load(std::memory_order_relaxed)) return;
  vfio_device *vdev = df->vdev.get();
  {
    std::lock_guard g(vdev->dev_set_lock);
    vfio_df_close(df);
  }
  // The context's last reference may go here: closing its objects takes the
  // iommufd's own locks, never ours.
  iommufd_ctx_put(df->iommufd);
  df->iommufd = nullptr;
}

long vfio_df_ioctl_attach_pt(vfio_device_file *df, uint64_t arg) {
  vfio_device *vdev = df->vdev.get();
  mm_struct &mm = *current().mm;
  vfio_device_attach_iommufd_pt attach;
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_device_attach_iommufd_pt, pt_id);
  if (mm.copy_from_user(&attach, arg, minsz)) return -EFAULT;
  if (attach.argsz < minsz || attach.flags) return -EINVAL;

  std::lock_guard g(vdev->dev_set_lock);
  int rc = vfio_iommufd_physical_attach_ioas(vdev, &attach.pt_id);
  if (rc) return rc;
  if (mm.copy_to_user(arg + offsetof(vfio_device_attach_iommufd_pt, pt_id), &attach.pt_id,
                      sizeof(attach.pt_id))) {
    vfio_iommufd_physical_detach_ioas(vdev);
    return -EFAULT;
  }
  return 0;
}

long vfio_df_ioctl_detach_pt(vfio_device_file *df, uint64_t arg) {
  vfio_device *vdev = df->vdev.get();
  vfio_device_detach_iommufd_pt detach;
  const size_t minsz = IOMMUSIM_OFFSETOFEND(vfio_device_detach_iommufd_pt, flags);
  if (current().mm->copy_from_user(&detach, arg, minsz)) return -EFAULT;
  if (detach.argsz < minsz || detach.flags) return -EINVAL;
  std::lock_guard g(vdev->dev_set_lock);
  vfio_iommufd_physical_detach_ioas(vdev);
  return 0;
}

}  // namespace iommusim::iommufd::vfio
