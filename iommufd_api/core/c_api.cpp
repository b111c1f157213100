// SPDX-License-Identifier: MIT
// The C API of libiommusim.so (iommusim/iommufd_sim.h): system-call semantics
// over the simulated VFS and iommufd.
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "iommufd_private.h"
#include "iommusim/iommufd_sim.h"
#include "vfio/vfio_device.h"

namespace iommusim::iommufd {
namespace {

// iommusim models 4 KiB host pages (util.h); refuse to run on anything else
// rather than compute wrong PFNs.
[[maybe_unused]] const bool g_page_size_ok = [] {
  if (sysconf(_SC_PAGESIZE) != static_cast<long>(PAGE_SIZE)) {
    fprintf(stderr, "iommusim: host page size %ld is not %llu; unsupported\n",
            sysconf(_SC_PAGESIZE), static_cast<unsigned long long>(PAGE_SIZE));
    abort();
  }
  return true;
}();

template <typename T> T syscall_result(T rc) {
  if (rc < 0) {
    errno = static_cast<int>(-rc);
    return -1;
  }
  return rc;
}

// Run op on the file behind fd as the calling process (EBADF if the fd is
// not ours), with system-call return conventions.
template <typename R, typename F> R with_file(int fd, F op) {
  file *f = fd_table::get().fget(fd);
  if (!f) {
    errno = EBADF;
    return -1;
  }
  R rc;
  {
    current_scope scope(process_task());
    rc = op(f);
  }
  f->put();
  return syscall_result(rc);
}

}  // namespace
}  // namespace iommusim::iommufd

using namespace iommusim::iommufd;

extern "C" {

int iommusim_open(void) {
  fd_table &t = fd_table::get();
  int fd = t.get_unused_fd();
  if (fd < 0) return syscall_result(fd);
  t.fd_install(fd, iommufd_ctx_create(false));
  return fd;
}

int iommusim_ioctl(int fd, unsigned long request, void *arg) {
  // ioctl(2) commands are 32 bit in the kernel.
  return static_cast<int>(with_file<long>(fd, [&](file *f) {
    return f->ioctl(static_cast<unsigned int>(request), reinterpret_cast<unsigned long>(arg));
  }));
}

int iommusim_close(int fd) { return syscall_result(fd_table::get().close(fd)); }

ssize_t iommusim_read(int fd, void *buf, size_t count) {
  return with_file<ssize_t>(fd, [&](file *f) { return f->read(reinterpret_cast<uint64_t>(buf), count); });
}

ssize_t iommusim_write(int fd, const void *buf, size_t count) {
  return with_file<ssize_t>(fd, [&](file *f) { return f->write(reinterpret_cast<uint64_t>(buf), count); });
}

int iommusim_poll(struct pollfd *fds, nfds_t nfds, int timeout) {
  fd_table &t = fd_table::get();
  // A library file that is ready now makes the wait non-blocking; otherwise
  // the kernel waits on the real fds (our eventfds turn readable on data).
  bool ready_now = false;
  for (nfds_t i = 0; i < nfds; i++) {
    if (file *f = t.fget(fds[i].fd)) {
      if (f->poll() & (fds[i].events | POLLERR | POLLHUP)) ready_now = true;
      f->put();
    }
  }
  if (!ready_now && timeout != 0) before_block();
  struct timespec ts, *tsp = nullptr;
  if (ready_now || timeout >= 0) {
    int ms = ready_now ? 0 : timeout;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    tsp = &ts;
  }
  long rc = syscall(SYS_ppoll, fds, nfds, tsp, nullptr, 0);
  if (rc < 0) return -1;
  int count = 0;
  for (nfds_t i = 0; i < nfds; i++) {
    if (file *f = t.fget(fds[i].fd)) {
      fds[i].revents = static_cast<short>(f->poll() & (fds[i].events | POLLERR | POLLHUP));
      f->put();
    }
    if (fds[i].revents) count++;
  }
  return count;
}

int iommusim_owns_fd(int fd) { return fd_table::get().owns(fd) ? 1 : 0; }

int iommusim_open_path(const char *path, int flags) {
  if (!path) {
    errno = EFAULT;
    return -1;
  }
  if (strcmp(path, "/dev/iommu") == 0) return iommusim_open();
  return syscall_result(vfio::open_cdev(path, flags));
}

// pread(2)/pwrite(2) check the offset before they look at the descriptor.
ssize_t iommusim_pread(int fd, void *buf, size_t count, off_t offset) {
  if (offset < 0) {
    errno = EINVAL;
    return -1;
  }
  return with_file<ssize_t>(
      fd, [&](file *f) { return f->pread(reinterpret_cast<uint64_t>(buf), count, offset); });
}

ssize_t iommusim_pwrite(int fd, const void *buf, size_t count, off_t offset) {
  if (offset < 0) {
    errno = EINVAL;
    return -1;
  }
  return with_file<ssize_t>(
      fd, [&](file *f) { return f->pwrite(reinterpret_cast<uint64_t>(buf), count, offset); });
}

off_t iommusim_lseek(int fd, off_t offset, int whence) {
  return with_file<off_t>(fd, [&](file *f) { return static_cast<off_t>(f->llseek(offset, whence)); });
}

}  // extern "C"
