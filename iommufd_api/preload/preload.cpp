// libiommusim_preload.so: lets an unmodified program use /dev/iommu, and the
// VFIO device cdevs the simulated platform registers (/dev/vfio/devices/vfioN),
// against the simulator. It interposes the libc entry points a program reaches
// them through and hands calls on the simulator's descriptors to the C API
// (iommusim/iommufd_sim.h); every other call goes to the next definition
// (libc) untouched. Run a program under it with `iommusim exec PROGRAM`.
//
// Rules this file keeps:
//  - Pass-through calls behave exactly as libc's, errno included: nothing here
//    may change errno on a path that ends in the real function.
//  - A routed call returns the C API's value and leaves its errno as is.
//  - No locks: real symbols are resolved lazily into atomics (dlsym is
//    thread-safe and a duplicate resolution is harmless), so threads and fork()
//    need no special care.
//  - A call made while this thread is inside an iommusim_* call goes to libc
//    (thread-local guard), so the library can never re-enter itself through us.

// The fortified inline wrappers in glibc's headers would collide with the
// definitions below; this file defines the _chk entry points itself.
#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstring>
#include <ctime>

#include "iommusim/iommufd_sim.h"

#define IOMMUSIM_EXPORT __attribute__((visibility("default")))

// glibc exports these but declares them only under _FORTIFY_SOURCE.
extern "C" {
int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);
ssize_t __read_chk(int fd, void* buf, size_t nbytes, size_t buflen);
ssize_t __pread_chk(int fd, void* buf, size_t nbytes, off_t offset, size_t buflen);
ssize_t __pread64_chk(int fd, void* buf, size_t nbytes, off64_t offset, size_t buflen);
int __poll_chk(struct pollfd* fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout,
                const sigset_t* sigmask, size_t fdslen);
[[noreturn]] void __chk_fail(void);
}

static_assert(sizeof(off_t) == 8 && sizeof(off64_t) == 8, "64-bit file offsets");

namespace {

// ---------------------------------------------------------------------------
// The real functions, resolved on first use.

template <typename Fn>
class RealFn {
public:
    explicit constexpr RealFn(const char* name) : name_(name) {}

    Fn get() {
        Fn fn = fn_.load(std::memory_order_acquire);
        if (fn == nullptr) {
            // dlsym may touch errno even when it succeeds.
            const int saved = errno;
            fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name_));
            errno = saved;
            fn_.store(fn, std::memory_order_release);
        }
        return fn;
    }

private:
    const char* name_;
    std::atomic<Fn> fn_{nullptr};
};

using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using Open2Fn = int (*)(const char*, int);
using Openat2Fn = int (*)(int, const char*, int);
using IoctlFn = int (*)(int, unsigned long, ...);
using CloseFn = int (*)(int);
using ReadFn = ssize_t (*)(int, void*, size_t);
using WriteFn = ssize_t (*)(int, const void*, size_t);
using PollFn = int (*)(struct pollfd*, nfds_t, int);
using PpollFn = int (*)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*);
using ReadChkFn = ssize_t (*)(int, void*, size_t, size_t);
using PollChkFn = int (*)(struct pollfd*, nfds_t, int, size_t);
using PpollChkFn = int (*)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*,
                           size_t);
using PreadFn = ssize_t (*)(int, void*, size_t, off_t);
using Pread64Fn = ssize_t (*)(int, void*, size_t, off64_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using Pwrite64Fn = ssize_t (*)(int, const void*, size_t, off64_t);
using LseekFn = off_t (*)(int, off_t, int);
using Lseek64Fn = off64_t (*)(int, off64_t, int);
using PreadChkFn = ssize_t (*)(int, void*, size_t, off_t, size_t);
using Pread64ChkFn = ssize_t (*)(int, void*, size_t, off64_t, size_t);

constinit RealFn<OpenFn> real_open("open");
constinit RealFn<OpenFn> real_open64("open64");
constinit RealFn<OpenatFn> real_openat("openat");
constinit RealFn<OpenatFn> real_openat64("openat64");
constinit RealFn<Open2Fn> real_open_2("__open_2");
constinit RealFn<Open2Fn> real_open64_2("__open64_2");
constinit RealFn<Openat2Fn> real_openat_2("__openat_2");
constinit RealFn<Openat2Fn> real_openat64_2("__openat64_2");
constinit RealFn<IoctlFn> real_ioctl("ioctl");
constinit RealFn<CloseFn> real_close("close");
constinit RealFn<ReadFn> real_read("read");
constinit RealFn<WriteFn> real_write("write");
constinit RealFn<PollFn> real_poll("poll");
constinit RealFn<PpollFn> real_ppoll("ppoll");
constinit RealFn<ReadChkFn> real_read_chk("__read_chk");
constinit RealFn<PollChkFn> real_poll_chk("__poll_chk");
constinit RealFn<PpollChkFn> real_ppoll_chk("__ppoll_chk");
constinit RealFn<PreadFn> real_pread("pread");
constinit RealFn<Pread64Fn> real_pread64("pread64");
constinit RealFn<PwriteFn> real_pwrite("pwrite");
constinit RealFn<Pwrite64Fn> real_pwrite64("pwrite64");
constinit RealFn<LseekFn> real_lseek("lseek");
constinit RealFn<Lseek64Fn> real_lseek64("lseek64");
constinit RealFn<PreadChkFn> real_pread_chk("__pread_chk");
constinit RealFn<Pread64ChkFn> real_pread64_chk("__pread64_chk");

// ---------------------------------------------------------------------------
// Reentrancy guard and ownership.

// initial-exec: a preloaded library gets static TLS, and the access must not
// allocate (read/write/close may run inside signal handlers).
__attribute__((tls_model("initial-exec"))) thread_local int in_library = 0;

class LibraryCall {
public:
    LibraryCall() { ++in_library; }
    ~LibraryCall() { --in_library; }
    LibraryCall(const LibraryCall&) = delete;
    LibraryCall& operator=(const LibraryCall&) = delete;
};

// Until the program has opened /dev/iommu (or a VFIO cdev) through us, no
// descriptor can be the library's, and the shim stays a pure pass-through that
// never calls into libiommusim (so programs that never touch them are not
// disturbed).
std::atomic<bool> routed_an_open{false};

bool owned(int fd) {
    if (in_library != 0 || fd < 0 || !routed_an_open.load(std::memory_order_acquire)) {
        return false;
    }
    const int saved = errno;
    int yes;
    {
        LibraryCall guard;
        yes = iommusim_owns_fd(fd);
    }
    errno = saved;
    return yes != 0;
}

bool any_owned(const struct pollfd* fds, nfds_t nfds) {
    if (in_library != 0 || fds == nullptr || !routed_an_open.load(std::memory_order_acquire)) {
        return false;
    }
    for (nfds_t i = 0; i < nfds; ++i) {
        if (owned(fds[i].fd)) {
            return true;
        }
    }
    return false;
}

// ---------------------------------------------------------------------------
// Recognising /dev/iommu.

bool same_file(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// True if path (relative to dirfd) names /dev/iommu. Only a final component
// "iommu" is looked at further: then its directory must be /dev itself, so
// "iommu" from cwd /dev, "../dev/iommu", "/dev/./iommu" and an openat() on a
// /dev dirfd all match, while the cost for every other path is one strrchr.
bool names_dev_iommu(int dirfd, const char* path) {
    if (in_library != 0 || path == nullptr) {
        return false;
    }
    if (std::strcmp(path, "/dev/iommu") == 0) {
        return true;
    }
    const char* slash = std::strrchr(path, '/');
    const char* base = slash != nullptr ? slash + 1 : path;
    if (std::strcmp(base, "iommu") != 0) {
        return false;
    }
    char dir[PATH_MAX];
    if (slash == nullptr) {
        std::strcpy(dir, ".");
    } else {
        // Keep the slash: "/" for "/iommu", "dir/" for "dir/iommu".
        const size_t len = static_cast<size_t>(base - path);
        if (len >= sizeof dir) {
            return false;
        }
        std::memcpy(dir, path, len);
        dir[len] = '\0';
    }
    const int saved = errno;
    struct stat dev_st {};
    struct stat dir_st {};
    const bool match = stat("/dev", &dev_st) == 0 && fstatat(dirfd, dir, &dir_st, 0) == 0 &&
                       same_file(dev_st, dir_st);
    errno = saved;
    return match;
}

int open_iommufd(int flags) {
    int fd;
    {
        LibraryCall guard;
        fd = iommusim_open();
    }
    if (fd >= 0) {
        routed_an_open.store(true, std::memory_order_release);
        if ((flags & O_CLOEXEC) != 0) {
            const int saved = errno;
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            errno = saved;
        }
    }
    return fd;
}

// Recognising a VFIO device cdev. Only absolute paths under the cdev folder
// are candidates (one strncmp for every other path); the library decides
// whether one names a device the platform registered. A path it does not know
// goes on to libc, which opens a real node or fails as it would anyway.
constexpr char kVfioCdevDir[] = "/dev/vfio/devices/";

bool may_name_vfio_cdev(const char* path) {
    return in_library == 0 && path != nullptr &&
           std::strncmp(path, kVfioCdevDir, sizeof(kVfioCdevDir) - 1) == 0;
}

// True if the library opened path; *fd is then the open's result.
bool open_vfio_cdev(const char* path, int flags, int* fd) {
    const int saved = errno;
    int rc;
    {
        LibraryCall guard;
        rc = iommusim_open_path(path, flags);
    }
    if (rc < 0 && errno == ENOENT) {
        errno = saved;
        return false;
    }
    if (rc >= 0) {
        routed_an_open.store(true, std::memory_order_release);
        if ((flags & O_CLOEXEC) != 0) {
            const int saved_cloexec = errno;
            fcntl(rc, F_SETFD, FD_CLOEXEC);
            errno = saved_cloexec;
        }
    }
    *fd = rc;
    return true;
}

// open(2) reads a mode argument only when the file may be created.
bool takes_mode(int flags) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

// ---------------------------------------------------------------------------
// Routed bodies shared by the plain and the fortified entry points.

ssize_t routed_read(int fd, void* buf, size_t count) {
    LibraryCall guard;
    return iommusim_read(fd, buf, count);
}

int routed_poll(struct pollfd* fds, nfds_t nfds, int timeout) {
    LibraryCall guard;
    return iommusim_poll(fds, nfds, timeout);
}

// ppoll on a set holding a simulator fd: the C API waits in milliseconds, so
// the timeout rounds up (never returning early), and the signal mask is
// swapped around the wait rather than atomically with it.
int routed_ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout,
                 const sigset_t* sigmask) {
    int timeout_ms = -1;
    if (timeout != nullptr) {
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L) {
            errno = EINVAL;
            return -1;
        }
        constexpr long long max_ms = INT_MAX;
        const long long ms =
            static_cast<long long>(timeout->tv_sec) * 1000 + (timeout->tv_nsec + 999999) / 1000000;
        timeout_ms = static_cast<int>(timeout->tv_sec >= max_ms / 1000 || ms > max_ms ? max_ms : ms);
    }
    sigset_t old_mask;
    if (sigmask != nullptr) {
        pthread_sigmask(SIG_SETMASK, sigmask, &old_mask);
    }
    const int rc = routed_poll(fds, nfds, timeout_ms);
    if (sigmask != nullptr) {
        const int saved = errno;
        pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
        errno = saved;
    }
    return rc;
}

}  // namespace

// ---------------------------------------------------------------------------
// The interposed entry points.

extern "C" {

IOMMUSIM_EXPORT int open(const char* path, int flags, ...) {
    if (names_dev_iommu(AT_FDCWD, path)) {
        return open_iommufd(flags);
    }
    if (int fd; may_name_vfio_cdev(path) && open_vfio_cdev(path, flags, &fd)) {
        return fd;
    }
    mode_t mode = 0;
    if (takes_mode(flags)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return real_open.get()(path, flags, mode);
}

IOMMUSIM_EXPORT int open64(const char* path, int flags, ...) {
    if (names_dev_iommu(AT_FDCWD, path)) {
        return open_iommufd(flags);
    }
    if (int fd; may_name_vfio_cdev(path) && open_vfio_cdev(path, flags, &fd)) {
        return fd;
    }
    mode_t mode = 0;
    if (takes_mode(flags)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return real_open64.get()(path, flags, mode);
}

IOMMUSIM_EXPORT int openat(int dirfd, const char* path, int flags, ...) {
    if (names_dev_iommu(dirfd, path)) {
        return open_iommufd(flags);
    }
    if (int fd; may_name_vfio_cdev(path) && open_vfio_cdev(path, flags, &fd)) {
        return fd;
    }
    mode_t mode = 0;
    if (takes_mode(flags)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return real_openat.get()(dirfd, path, flags, mode);
}

IOMMUSIM_EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
    if (names_dev_iommu(dirfd, path)) {
        return open_iommufd(flags);
    }
    if (int fd; may_name_vfio_cdev(path) && open_vfio_cdev(path, flags, &fd)) {
        return fd;
    }
    mode_t mode = 0;
    if (takes_mode(flags)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return real_openat64.get()(dirfd, path, flags, mode);
}

// The fortified opens: what open() compiles to under _FORTIFY_SOURCE when the
// flags are not a compile-time constant. libc's versions abort on O_CREAT
// (no mode), so those checks stay with them.
IOMMUSIM_EXPORT int __open_2(const char* path, int flags) {
    if (!takes_mode(flags) && names_dev_iommu(AT_FDCWD, path)) {
        return open_iommufd(flags);
    }
    if (int fd; !takes_mode(flags) && may_name_vfio_cdev(path) && open_vfio_cdev(path, flags, &fd)) {
        return fd;
    }
    return real_open_2.get()(path, flags);
}

IOMMUSIM_EXPORT int __open64_2(const char* path, int flags) {
    if (!takes_mode(flags) && names_dev_iommu(AT_FDCWD, path)) {
        return open_iommufd(flags);
    }
    if (int fd; !takes_mode(flags) && may_name_vfio_cdev(path) && open_vfio_cdev(path, flags, &fd)) {
        return fd;
    }
    return real_open64_2.get()(path, flags);
}

IOMMUSIM_EXPORT int __openat_2(int dirfd, const char* path, int flags) {
    if (!takes_mode(flags) && names_dev_iommu(dirfd, path)) {
        return open_iommufd(flags);
    }
    if (int fd; !takes_mode(flags) && may_name_vfio_cdev(path) && open_vfio_cdev(path, flags, &fd)) {
        return fd;
    }
    return real_openat_2.get()(dirfd, path, flags);
}

IOMMUSIM_EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
    if (!takes_mode(flags) && names_dev_iommu(dirfd, path)) {
        return open_iommufd(flags);
    }
    if (int fd; !takes_mode(flags) && may_name_vfio_cdev(path) && open_vfio_cdev(path, flags, &fd)) {
        return fd;
    }
    return real_openat64_2.get()(dirfd, path, flags);
}

// Every ioctl argument is passed in one register-sized slot; reading it as a
// pointer carries integers (VFIO_SET_IOMMU, VFIO_CHECK_EXTENSION) unchanged.
IOMMUSIM_EXPORT int ioctl(int fd, unsigned long request, ...) __THROW {
    va_list ap;
    va_start(ap, request);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    if (owned(fd)) {
        LibraryCall guard;
        return iommusim_ioctl(fd, request, arg);
    }
    return real_ioctl.get()(fd, request, arg);
}

IOMMUSIM_EXPORT int close(int fd) {
    if (owned(fd)) {
        LibraryCall guard;
        return iommusim_close(fd);
    }
    return real_close.get()(fd);
}

IOMMUSIM_EXPORT ssize_t read(int fd, void* buf, size_t count) {
    if (owned(fd)) {
        return routed_read(fd, buf, count);
    }
    return real_read.get()(fd, buf, count);
}

IOMMUSIM_EXPORT ssize_t __read_chk(int fd, void* buf, size_t nbytes, size_t buflen) {
    if (owned(fd)) {
        if (nbytes > buflen) {
            __chk_fail();
        }
        return routed_read(fd, buf, nbytes);
    }
    return real_read_chk.get()(fd, buf, nbytes, buflen);
}

IOMMUSIM_EXPORT ssize_t write(int fd, const void* buf, size_t count) {
    if (owned(fd)) {
        LibraryCall guard;
        return iommusim_write(fd, buf, count);
    }
    return real_write.get()(fd, buf, count);
}

// Positioned I/O: region access on a VFIO cdev. off_t and off64_t are the same
// 64-bit type on the hosts iommusim runs on (x86-64, AArch64), so both entry
// points share the C API's calls.
IOMMUSIM_EXPORT ssize_t pread(int fd, void* buf, size_t count, off_t offset) {
    if (owned(fd)) {
        LibraryCall guard;
        return iommusim_pread(fd, buf, count, offset);
    }
    return real_pread.get()(fd, buf, count, offset);
}

IOMMUSIM_EXPORT ssize_t pread64(int fd, void* buf, size_t count, off64_t offset) {
    if (owned(fd)) {
        LibraryCall guard;
        return iommusim_pread(fd, buf, count, offset);
    }
    return real_pread64.get()(fd, buf, count, offset);
}

IOMMUSIM_EXPORT ssize_t __pread_chk(int fd, void* buf, size_t nbytes, off_t offset, size_t buflen) {
    if (owned(fd)) {
        if (nbytes > buflen) {
            __chk_fail();
        }
        LibraryCall guard;
        return iommusim_pread(fd, buf, nbytes, offset);
    }
    return real_pread_chk.get()(fd, buf, nbytes, offset, buflen);
}

IOMMUSIM_EXPORT ssize_t __pread64_chk(int fd, void* buf, size_t nbytes, off64_t offset,
                                      size_t buflen) {
    if (owned(fd)) {
        if (nbytes > buflen) {
            __chk_fail();
        }
        LibraryCall guard;
        return iommusim_pread(fd, buf, nbytes, offset);
    }
    return real_pread64_chk.get()(fd, buf, nbytes, offset, buflen);
}

IOMMUSIM_EXPORT ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
    if (owned(fd)) {
        LibraryCall guard;
        return iommusim_pwrite(fd, buf, count, offset);
    }
    return real_pwrite.get()(fd, buf, count, offset);
}

IOMMUSIM_EXPORT ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
    if (owned(fd)) {
        LibraryCall guard;
        return iommusim_pwrite(fd, buf, count, offset);
    }
    return real_pwrite64.get()(fd, buf, count, offset);
}

IOMMUSIM_EXPORT off_t lseek(int fd, off_t offset, int whence) __THROW {
    if (owned(fd)) {
        LibraryCall guard;
        return iommusim_lseek(fd, offset, whence);
    }
    return real_lseek.get()(fd, offset, whence);
}

IOMMUSIM_EXPORT off64_t lseek64(int fd, off64_t offset, int whence) __THROW {
    if (owned(fd)) {
        LibraryCall guard;
        return iommusim_lseek(fd, offset, whence);
    }
    return real_lseek64.get()(fd, offset, whence);
}

// glibc declares poll's array write-only (access attribute), but its events
// fields are inputs that we read to find the simulator's fds.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

IOMMUSIM_EXPORT int poll(struct pollfd* fds, nfds_t nfds, int timeout) {
    if (any_owned(fds, nfds)) {
        return routed_poll(fds, nfds, timeout);
    }
    return real_poll.get()(fds, nfds, timeout);
}

IOMMUSIM_EXPORT int __poll_chk(struct pollfd* fds, nfds_t nfds, int timeout, size_t fdslen) {
    if (any_owned(fds, nfds)) {
        if (fdslen / sizeof(*fds) < nfds) {
            __chk_fail();
        }
        return routed_poll(fds, nfds, timeout);
    }
    return real_poll_chk.get()(fds, nfds, timeout, fdslen);
}

IOMMUSIM_EXPORT int ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout,
                          const sigset_t* sigmask) {
    if (any_owned(fds, nfds)) {
        return routed_ppoll(fds, nfds, timeout, sigmask);
    }
    return real_ppoll.get()(fds, nfds, timeout, sigmask);
}

IOMMUSIM_EXPORT int __ppoll_chk(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout,
                                const sigset_t* sigmask, size_t fdslen) {
    if (any_owned(fds, nfds)) {
        if (fdslen / sizeof(*fds) < nfds) {
            __chk_fail();
        }
        return routed_ppoll(fds, nfds, timeout, sigmask);
    }
    return real_ppoll_chk.get()(fds, nfds, timeout, sigmask, fdslen);
}

#pragma GCC diagnostic pop

}  // extern "C"
