/*
 * preload.fork: after fork() the child, which inherits the shim and the
 * library, opens its own /dev/iommu and uses it fully, whether or not the
 * parent had opened one first; the parent's context is unaffected.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* In a child: a new context that maps, checks and unmaps a buffer. */
static void use_new_context(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = 4 * (size_t)page;
	uint32_t ioas, stdev, hwpt, idev;
	struct iommu_ioas_map map = { .size = sizeof(map) };
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap) };
	struct iommu_test_cmd check;
	void *buf;
	int fd;

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	memset(buf, 0x5a, len);

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioas_alloc(fd, &ioas) == 0 && ioas == 1);
	CHECK(mock_domain(fd, ioas, &stdev, &hwpt, &idev) == 0);
	map.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
	map.ioas_id = ioas;
	map.user_va = (uintptr_t)buf;
	map.length = len;
	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &map) == 0);

	memset(&check, 0, sizeof(check));
	check.size = sizeof(check);
	check.op = IOMMU_TEST_OP_MD_CHECK_MAP;
	check.id = hwpt;
	check.check_map.iova = map.iova;
	check.check_map.length = len;
	check.check_map.uptr = (uintptr_t)buf;
	CHECK(ioctl(fd, IOMMU_TEST_CMD, &check) == 0);

	unmap.ioas_id = ioas;
	unmap.iova = map.iova;
	unmap.length = len;
	CHECK(ioctl(fd, IOMMU_IOAS_UNMAP, &unmap) == 0 && unmap.length == len);
	CHECK(close(fd) == 0);
	CHECK(munmap(buf, len) == 0);
}

static void run_child(const char *what)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		use_new_context();
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child (%s) failed: status %#x\n", what, status);
		exit(1);
	}
}

int main(void)
{
	uint32_t id;
	int fd;

	/* Forked before the process ever touched /dev/iommu. */
	run_child("before the parent opened /dev/iommu");

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioas_alloc(fd, &id) == 0 && id == 1);

	run_child("while the parent has /dev/iommu open");
	run_child("a second time");

	/* The parent's context carries on where it was. */
	CHECK(ioas_alloc(fd, &id) == 0 && id == 2);
	CHECK(close(fd) == 0);
	return 0;
}
