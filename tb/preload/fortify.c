/*
 * preload.fortify / preload.fortify64: a program built with _FORTIFY_SOURCE
 * reaches libc through the checking entry points (__open_2, __openat_2,
 * __read_chk, __poll_chk, __ppoll_chk; the *64 ones with
 * _FILE_OFFSET_BITS=64) and still gets the simulator for /dev/iommu and libc
 * for everything else.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#if !defined(_FORTIFY_SOURCE) || _FORTIFY_SOURCE < 1
#error "build this test with -O2 -D_FORTIFY_SOURCE=2"
#endif

/*
 * Values the compiler cannot see: flags make open() call __open_2, and a
 * length or count checked only at run time makes read() and poll() call
 * __read_chk and __poll_chk.
 */
static volatile int rdwr = O_RDWR;
static volatile nfds_t two = 2;
static volatile size_t record_size = sizeof(struct iommu_hwpt_pgfault);
static volatile size_t eight = 8;

int main(void)
{
	struct iommu_hwpt_pgfault fault;
	struct timespec zero = { 0, 0 };
	struct pollfd set[2];
	uint32_t ioas, stdev, hwpt, idev;
	int fd, fault_fd, dirfd, p[2];
	char buf[8];

	fd = open("/dev/iommu", rdwr);
	CHECK(fd >= 0);
	CHECK(ioas_alloc(fd, &ioas) == 0 && ioas == 1);
	CHECK(close(fd) == 0);

	dirfd = open("/dev", O_RDONLY | O_DIRECTORY);
	CHECK(dirfd >= 0);
	fd = openat(dirfd, "iommu", rdwr);
	CHECK(fd >= 0);
	CHECK(close(dirfd) == 0);
	CHECK(ioas_alloc(fd, &ioas) == 0 && ioas == 1);

	CHECK(mock_domain(fd, ioas, &stdev, &hwpt, &idev) == 0);
	setup_fault_queue(fd, ioas, stdev, idev, &fault_fd);
	CHECK(pipe(p) == 0);
	CHECK(write(p[1], "ab", 2) == 2);
	CHECK(trigger_iopf(fd, idev, 0x300000) == 0);

	set[0] = (struct pollfd){ .fd = p[0], .events = POLLIN };
	set[1] = (struct pollfd){ .fd = fault_fd, .events = POLLIN };
	CHECK(poll(set, two, 1000) == 2);
	set[0].revents = set[1].revents = 0;
	CHECK(ppoll(set, two, &zero, NULL) == 2);

	CHECK(read(p[0], buf, eight) == 2 && memcmp(buf, "ab", 2) == 0);
	CHECK(read(fault_fd, &fault, record_size) == (ssize_t)sizeof(fault));
	CHECK(fault.dev_id == idev && fault.addr == 0x300000);

	/* Ordinary files still open through libc's checking entry points. */
	CHECK(close(p[0]) == 0 && close(p[1]) == 0);
	p[0] = open("/dev/null", rdwr);
	CHECK(p[0] >= 0);
	CHECK(read(p[0], buf, eight) == 0);
	CHECK(close(p[0]) == 0);
	CHECK_ERRNO(open("/nonexistent-dir/iommu", rdwr), ENOENT);

	CHECK(close(fault_fd) == 0);
	CHECK(close(fd) == 0);
	return 0;
}
