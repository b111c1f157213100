/* SPDX-License-Identifier: MIT */
/*
 * iommusim — the C API of libiommusim.so.
 *
 * These calls behave as open("/dev/iommu"), ioctl(2), close(2), read(2),
 * write(2) and poll(2) would against a kernel with iommufd, except that the
 * IOMMUs behind them are simulated. Each returns what the system call would
 * return: 0 (or a count) on success, -1 with errno set on failure.
 *
 * Every descriptor the library hands out (the iommufd itself, a fault queue
 * fd, a selftest access fd) is a real kernel file descriptor that the library
 * owns, so it never collides with the program's own fds, survives in poll
 * sets, and is reported ready by poll/select/epoll when it has data. Passing
 * an fd the library did not create fails with EBADF and changes nothing.
 */
#ifndef IOMMUSIM_IOMMUFD_SIM_H
#define IOMMUSIM_IOMMUFD_SIM_H

#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOMMUSIM_API __attribute__((visibility("default")))

/* open("/dev/iommu", O_RDWR): a new iommufd context. */
IOMMUSIM_API int iommusim_open(void);

/*
 * ioctl(fd, request, arg) on an fd from iommusim_open() (every iommufd and
 * VFIO type1 compatibility ioctl, and IOMMU_TEST_CMD), or on a fault fd.
 * Ioctls that take an integer (VFIO_SET_IOMMU, VFIO_CHECK_EXTENSION) take it
 * cast to a pointer, as ioctl(2) does.
 */
IOMMUSIM_API int iommusim_ioctl(int fd, unsigned long request, void *arg);

/* close(2): destroying the last reference destroys what it owns. */
IOMMUSIM_API int iommusim_close(int fd);

/*
 * read(2)/write(2): fault records and page responses on a fault queue fd;
 * region access at the file position on a VFIO device cdev.
 */
IOMMUSIM_API ssize_t iommusim_read(int fd, void *buf, size_t count);
IOMMUSIM_API ssize_t iommusim_write(int fd, const void *buf, size_t count);

/*
 * poll(2) over any mix of library fds and the program's own fds. A fault
 * queue fd is POLLIN while it holds undelivered faults and always POLLOUT.
 */
IOMMUSIM_API int iommusim_poll(struct pollfd *fds, nfds_t nfds, int timeout);

/* 1 if the library created fd and it is open, else 0. */
IOMMUSIM_API int iommusim_owns_fd(int fd);

/*
 * open(path, flags) of a simulated device node: "/dev/iommu" (as
 * iommusim_open()) or a VFIO device cdev "/dev/vfio/devices/vfioN" that the
 * platform registered (see docs/vfio.md). -1 with ENOENT for any other path.
 */
IOMMUSIM_API int iommusim_open_path(const char *path, int flags);

/*
 * pread(2)/pwrite(2): on a VFIO device cdev, region access at the offsets
 * VFIO_DEVICE_GET_REGION_INFO reports. As in Linux 6.12: EINVAL on an iommufd
 * (it has no read/write), ESPIPE on a fault queue fd.
 */
IOMMUSIM_API ssize_t iommusim_pread(int fd, void *buf, size_t count, off_t offset);
IOMMUSIM_API ssize_t iommusim_pwrite(int fd, const void *buf, size_t count, off_t offset);

/*
 * lseek(2). Every file iommusim hands out answers ESPIPE, as in Linux 6.12,
 * whose iommufd, fault queue and VFIO device fops have no llseek.
 * iommusim_read()/iommusim_write() on a VFIO cdev use (and advance) the file
 * position, which starts at 0.
 */
IOMMUSIM_API off_t iommusim_lseek(int fd, off_t offset, int whence);

#ifdef __cplusplus
}
#endif

#endif /* IOMMUSIM_IOMMUFD_SIM_H */
