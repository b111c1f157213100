// SPDX-License-Identifier: MIT
// Descriptors backed by real eventfds; see vfs.h.
#include "vfs.h"

#include <poll.h>

#include <atomic>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>

namespace iommusim::iommufd {

namespace {
// Raw syscalls: an LD_PRELOAD shim interposing close/read/write must never see
// the library touching its own descriptors.
long sys_close(int fd) { return syscall(SYS_close, fd); }
void eventfd_signal(int fd) {
  uint64_t one = 1;
  while (syscall(SYS_write, fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}
void eventfd_drain(int fd) {
  uint64_t v;
  while (syscall(SYS_read, fd, &v, sizeof(v)) < 0 && errno == EINTR) {
  }
}

std::mutex g_table_lock;
// fd -> file; nullptr = reserved by get_unused_fd() but not installed yet.
std::map<int, file *> g_table;
}  // namespace

void file::put() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    release();
    delete this;
  }
}

long file::ioctl(unsigned int, unsigned long) { return -ENOTTY; }
ssize_t file::read(uint64_t, size_t) { return -EINVAL; }
ssize_t file::write(uint64_t, size_t) { return -EINVAL; }
ssize_t file::pread(uint64_t, size_t, int64_t) { return -ESPIPE; }
ssize_t file::pwrite(uint64_t, size_t, int64_t) { return -ESPIPE; }
int64_t file::llseek(int64_t, int) { return -ESPIPE; }
unsigned file::poll() { return POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM; }

void file::set_readable(bool readable) {
  std::lock_guard g(fd_lock_);
  if (readable == efd_readable_) return;
  efd_readable_ = readable;
  if (efd_ < 0) return;
  if (readable)
    eventfd_signal(efd_);
  else
    eventfd_drain(efd_);
}

fd_table &fd_table::get() {
  static fd_table t;
  return t;
}

int fd_table::get_unused_fd() {
  long fd = syscall(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return -errno;
  std::lock_guard g(g_table_lock);
  g_table[static_cast<int>(fd)] = nullptr;
  return static_cast<int>(fd);
}

void fd_table::put_unused_fd(int fd) {
  {
    std::lock_guard g(g_table_lock);
    auto it = g_table.find(fd);
    if (it == g_table.end() || it->second) return;
    g_table.erase(it);
  }
  sys_close(fd);
}

void fd_table::fd_install(int fd, file *f) {
  std::lock_guard g(g_table_lock);
  g_table[fd] = f;
  std::lock_guard fg(f->fd_lock_);
  f->efd_ = fd;
  if (f->efd_readable_) eventfd_signal(fd);
}

file *fd_table::fget(int fd) {
  std::lock_guard g(g_table_lock);
  auto it = g_table.find(fd);
  if (it == g_table.end() || !it->second) return nullptr;
  it->second->get();
  return it->second;
}

bool fd_table::owns(int fd) {
  std::lock_guard g(g_table_lock);
  auto it = g_table.find(fd);
  return it != g_table.end() && it->second;
}

int fd_table::close(int fd) {
  file *f;
  {
    std::lock_guard g(g_table_lock);
    auto it = g_table.find(fd);
    if (it == g_table.end() || !it->second) return -EBADF;
    f = it->second;
    g_table.erase(it);
    // Retire the number under the file's lock so a concurrent set_readable()
    // never signals a descriptor the program may already have reused.
    std::lock_guard fg(f->fd_lock_);
    f->efd_ = -1;
    sys_close(fd);
  }
  f->put();
  return 0;
}

namespace {
std::atomic<block_hook> g_block_hook{nullptr};
}  // namespace

void set_block_hook(block_hook hook) { g_block_hook.store(hook); }

void before_block() {
  if (block_hook h = g_block_hook.load()) h();
}

}  // namespace iommusim::iommufd
