/*
 * preload.passthrough: everything that is not the simulator's behaves exactly
 * as libc's, errno included, before /dev/iommu is opened, while it is open
 * (when the shim asks the library about every fd) and after it is closed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* A value no call here sets: a successful call must leave errno alone. */
#define UNTOUCHED 4242

static void check_mode(int fd, mode_t want)
{
	struct stat st;

	CHECK(fd >= 0);
	CHECK(fstat(fd, &st) == 0);
	if ((st.st_mode & 07777) != want) {
		fprintf(stderr, "mode %o, want %o\n", (unsigned)(st.st_mode & 07777), (unsigned)want);
		exit(1);
	}
}

/* A file just created: right mode, then closed. */
static void check_new_file(int fd, mode_t want)
{
	check_mode(fd, want);
	CHECK(close(fd) == 0);
}

static void pipe_checks(void)
{
	struct pollfd pfd;
	struct timespec zero = { 0, 0 };
	char buf[16];
	int p[2], n = -1;

	CHECK(pipe(p) == 0);
	errno = UNTOUCHED;
	CHECK(write(p[1], "hello", 5) == 5);
	CHECK(ioctl(p[0], FIONREAD, &n) == 0 && n == 5);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	pfd.revents = 0;
	CHECK(poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN);
	CHECK(ppoll(&pfd, 1, &zero, NULL) == 1 && pfd.revents == POLLIN);
	CHECK(read(p[0], buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0);
	CHECK(poll(&pfd, 1, 0) == 0 && pfd.revents == 0);
	CHECK(errno == UNTOUCHED);

	/* EOF, then a closed read end. */
	CHECK(close(p[1]) == 0);
	CHECK(read(p[0], buf, sizeof(buf)) == 0);
	CHECK(close(p[0]) == 0);
	CHECK_ERRNO(close(p[0]), EBADF);
	CHECK_ERRNO(read(p[0], buf, sizeof(buf)), EBADF);
	CHECK_ERRNO(write(p[1], "x", 1), EBADF);
	CHECK_ERRNO(ioctl(p[0], FIONREAD, &n), EBADF);
	pfd.fd = p[0];
	CHECK(poll(&pfd, 1, 0) == 1 && pfd.revents == POLLNVAL);
	pfd.fd = -1; /* ignored */
	CHECK(poll(&pfd, 1, 0) == 0 && pfd.revents == 0);
	{
		/* Hidden from the compiler, which rejects a literal NULL here. */
		struct pollfd *volatile nowhere = NULL;

		CHECK_ERRNO(poll(nowhere, 1, 0), EFAULT);
	}
}

static void bad_fd_checks(void)
{
	char c;

	CHECK_ERRNO(close(-1), EBADF);
	CHECK_ERRNO(close(1 << 20), EBADF);
	CHECK_ERRNO(read(-1, &c, 1), EBADF);
	CHECK_ERRNO(write(1 << 20, &c, 1), EBADF);
	CHECK_ERRNO(ioctl(-1, FIONREAD, &c), EBADF);
	CHECK_ERRNO(open("/nonexistent-dir/iommu", O_RDWR), ENOENT);
	CHECK_ERRNO(open("/nonexistent-dir/file", O_RDWR), ENOENT);
	CHECK_ERRNO(openat(1 << 20, "iommu", O_RDWR), EBADF);
}

static void file_checks(void)
{
	char dir[] = "/tmp/iommusim-pass-XXXXXX";
	char path[PATH_MAX];
	char buf[8];
	mode_t old_umask = umask(022);
	int fd, dirfd;

	CHECK(mkdtemp(dir) != NULL);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dirfd >= 0);

	/* The mode argument is forwarded: O_CREAT, and the other spellings. */
	snprintf(path, sizeof(path), "%s/a", dir);
	fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0640);
	check_mode(fd, 0640);
	CHECK(write(fd, "data", 4) == 4);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(read(fd, buf, sizeof(buf)) == 4 && memcmp(buf, "data", 4) == 0);
	CHECK(close(fd) == 0);
	CHECK_ERRNO(open(path, O_CREAT | O_EXCL | O_RDWR, 0600), EEXIST);

	snprintf(path, sizeof(path), "%s/b", dir);
	check_new_file(open64(path, O_CREAT | O_WRONLY, 0604), 0604);
	check_new_file(openat(dirfd, "c", O_CREAT | O_WRONLY, 0444), 0444);
	check_new_file(openat64(dirfd, "d", O_CREAT | O_WRONLY, 0600), 0600);
	/* umask still applies, as in the kernel. */
	check_new_file(openat(dirfd, "e", O_CREAT | O_WRONLY, 0666), 0644);

	/* O_TMPFILE also takes a mode (where the filesystem supports it). */
	fd = open(dir, O_TMPFILE | O_RDWR, 0600);
	if (fd >= 0)
		check_mode(fd, 0600);
	else
		CHECK(errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL);
	if (fd >= 0)
		CHECK(close(fd) == 0);

	/* A file created under the name "iommu" is a file. */
	check_new_file(openat(dirfd, "iommu", O_CREAT | O_RDWR, 0600), 0600);

	for (const char *const *n = (const char *const[]){ "a", "b", "c", "d", "e", "iommu", NULL };
	     *n; n++)
		CHECK(unlinkat(dirfd, *n, 0) == 0);
	CHECK(close(dirfd) == 0);
	CHECK(rmdir(dir) == 0);
	umask(old_umask);
}

/* The lowest free descriptor number: unchanged unless something leaked. */
static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY);

	CHECK(fd >= 0);
	CHECK(close(fd) == 0);
	return fd;
}

static void all_checks(const char *phase)
{
	int before = lowest_free_fd(), after;

	pipe_checks();
	bad_fd_checks();
	file_checks();
	after = lowest_free_fd();
	if (after != before) {
		fprintf(stderr, "%s: descriptor leak (lowest free fd %d, then %d)\n", phase, before,
			after);
		exit(1);
	}
}

int main(void)
{
	uint32_t id;
	int fd;

	all_checks("before /dev/iommu");

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioas_alloc(fd, &id) == 0);
	all_checks("with /dev/iommu open");
	/* The simulator's own errnos come through exactly. */
	CHECK_ERRNO(destroy(fd, id + 1000), ENOENT);
	CHECK(close(fd) == 0);

	all_checks("after /dev/iommu closed");
	return 0;
}
