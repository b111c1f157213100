/*
 * preload.ids: /dev/iommu opened through every libc spelling reaches the
 * simulator, and object IDs behave as the kernel's (lowest free ID first).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* A fresh context: its first IOAS is ID 1. Closes fd. */
static void check_fresh_context(int fd, const char *how)
{
	uint32_t id = 0;

	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", how, strerror(errno));
		exit(1);
	}
	CHECK(ioas_alloc(fd, &id) == 0);
	if (id != 1) {
		fprintf(stderr, "%s: first IOAS ID %u, want 1\n", how, id);
		exit(1);
	}
	CHECK(close(fd) == 0);
}

int main(void)
{
	char tmpl[] = "/tmp/iommusim-ids-XXXXXX";
	char path[PATH_MAX];
	uint32_t id = 0;
	int fd, dirfd;

	/* A call that succeeds leaves errno alone, as a system call does. */
	errno = 4242;
	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioas_alloc(fd, &id) == 0 && id == 1);
	CHECK(errno == 4242);
	CHECK(ioas_alloc(fd, &id) == 0 && id == 2);
	CHECK(destroy(fd, 1) == 0);
	CHECK(ioas_alloc(fd, &id) == 0 && id == 1);
	CHECK_ERRNO(destroy(fd, 99), ENOENT);
	/* The kernel copies the struct from user memory: a NULL arg faults. */
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, NULL), EFAULT);
	CHECK(close(fd) == 0);
	/* Closed: the fd is nobody's, so libc's ioctl says so. */
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, NULL), EBADF);

	/* Each spelling opens its own context. */
	check_fresh_context(open64("/dev/iommu", O_RDWR), "open64");
	check_fresh_context(openat(AT_FDCWD, "/dev/iommu", O_RDWR), "openat(AT_FDCWD)");
	check_fresh_context(openat64(AT_FDCWD, "/dev/iommu", O_RDWR), "openat64");
	check_fresh_context(open("/dev/./iommu", O_RDWR), "open(/dev/./iommu)");
	check_fresh_context(open("/dev/../dev/iommu", O_RDWR), "open(/dev/../dev/iommu)");
	dirfd = open("/dev", O_RDONLY | O_DIRECTORY);
	CHECK(dirfd >= 0);
	check_fresh_context(openat(dirfd, "iommu", O_RDWR), "openat(/dev dirfd, iommu)");
	CHECK(close(dirfd) == 0);
	CHECK(getcwd(path, sizeof(path)) != NULL);
	CHECK(chdir("/dev") == 0);
	check_fresh_context(open("iommu", O_RDWR), "open(iommu) in /dev");
	CHECK(chdir("/tmp") == 0);
	check_fresh_context(open("../dev/iommu", O_RDWR), "open(../dev/iommu) in /tmp");
	CHECK(chdir(path) == 0);

	/* O_CLOEXEC is honoured as for any open. */
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	check_fresh_context(fd, "open(O_CLOEXEC)");

	/* Another file called "iommu" is just a file. */
	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(path, sizeof(path), "%s/iommu", tmpl);
	fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
	CHECK(fd >= 0);
	{
		struct stat st;
		char buf[4] = { 0 };

		CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
		CHECK(write(fd, "abc", 3) == 3);
		CHECK(lseek(fd, 0, SEEK_SET) == 0);
		CHECK(read(fd, buf, sizeof(buf)) == 3 && memcmp(buf, "abc", 3) == 0);
	}
	CHECK(close(fd) == 0);
	CHECK(unlink(path) == 0);
	CHECK(rmdir(tmpl) == 0);
	return 0;
}
