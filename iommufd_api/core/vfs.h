// SPDX-License-Identifier: MIT
// Files and file descriptors: the slice of the kernel's VFS that iommufd uses.
//
// Every descriptor iommusim hands out is a real kernel fd (an eventfd that the
// table owns), so its number never collides with the program's own files and
// poll/select/epoll work on it natively: a file that has data to read keeps its
// eventfd readable (file::set_readable). The table maps the number to the
// simulated file. The library manipulates these eventfds only with raw
// syscalls, so an LD_PRELOAD shim that interposes close/read/write never sees
// the library's own calls.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace iommusim::iommufd {

class task_struct;

class file {
 public:
  file() = default;
  virtual ~file() = default;
  file(const file &) = delete;
  file &operator=(const file &) = delete;

  // get_file()/fput(): the last put calls release() and frees the file.
  void get() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void put();

  // File operations; results are what the system call returns (negative errno).
  virtual long ioctl(unsigned int cmd, unsigned long arg);
  virtual ssize_t read(uint64_t ubuf, size_t count);
  virtual ssize_t write(uint64_t ubuf, size_t count);
  // pread(2)/pwrite(2) at pos (>= 0; the caller checked). The default is
  // -ESPIPE, as for the kernel's anon-inode files (fault queue and selftest
  // access fds), which never get FMODE_PREAD/FMODE_PWRITE.
  virtual ssize_t pread(uint64_t ubuf, size_t count, int64_t pos);
  virtual ssize_t pwrite(uint64_t ubuf, size_t count, int64_t pos);
  // lseek(2). The default is -ESPIPE: in Linux 6.12 a file whose fops have no
  // .llseek loses FMODE_LSEEK at open (iommufd, its fault fds, VFIO cdevs).
  virtual int64_t llseek(int64_t offset, int whence);
  // Current poll mask (POLLIN/POLLOUT/...).
  virtual unsigned poll();

  // Keep the fd's eventfd readable exactly while the file has data to read.
  void set_readable(bool readable);

 protected:
  virtual void release() {}

 private:
  friend class fd_table;
  std::atomic<long> refs_{1};
  std::mutex fd_lock_;
  int efd_ = -1;           // the installed descriptor, -1 once closed
  bool efd_readable_ = false;
};

// The descriptor table of the process (shared by all iommufd contexts).
class fd_table {
 public:
  static fd_table &get();

  // get_unused_fd_flags(): reserve a descriptor number (a real eventfd,
  // close-on-exec). Negative errno on failure.
  int get_unused_fd();
  void put_unused_fd(int fd);
  // fd_install(): publish file at fd; consumes the caller's reference.
  void fd_install(int fd, file *f);
  // fget(): the file behind fd with a new reference, or nullptr if the fd is
  // not one of ours.
  file *fget(int fd);
  bool owns(int fd);
  // close(): -EBADF if fd is not ours.
  int close(int fd);

 private:
  fd_table() = default;
};

// A thread is about to block waiting for files (iommusim_poll): the platform
// hears of it, since a waiting program no longer holds simulated time still
// (docs/platform.md, "Determinism"). No hook: nothing happens.
using block_hook = void (*)();
void set_block_hook(block_hook hook);
void before_block();

}  // namespace iommusim::iommufd
