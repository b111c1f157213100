/*
 * An unmodified program (libc only; never links libiommusim) that drives the
 * simulated platform as a VFIO user would: open /dev/iommu and
 * /dev/vfio/devices/vfio0, bind and attach the device, map a buffer, program
 * the dma_test through its BAR0 region with pwrite, wait for DONE with pread,
 * and check the bytes the device wrote. Run by platform_exec.sh under
 * `iommusim exec --config smmuv3_default.yaml`. Exits non-zero naming the
 * first check that failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iommusim/iommufd.h"
#include "iommusim/vfio.h"

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: check failed: %s (errno %d: %s)\n", __FILE__, \
				__LINE__, #cond, errno, strerror(errno));                   \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

enum { DST = 0x10, LEN = 0x18, CTRL = 0x20, PATTERN = 0x30, GO = 0x38, STATUS = 0x40 };

static void wr(int fd, uint64_t base, uint64_t off, uint64_t v)
{
	CHECK(pwrite(fd, &v, 8, (off_t)(base + off)) == 8);
}

static uint64_t rd(int fd, uint64_t base, uint64_t off)
{
	uint64_t v = 0;

	CHECK(pread(fd, &v, 8, (off_t)(base + off)) == 8);
	return v;
}

int main(void)
{
	const size_t len = 3 * 4096;
	int iommufd = open("/dev/iommu", O_RDWR);
	CHECK(iommufd >= 0);
	int dev = open("/dev/vfio/devices/vfio0", O_RDWR | O_CLOEXEC);
	CHECK(dev >= 0);

	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = iommufd };
	CHECK(ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind) == 0);
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	CHECK(ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc) == 0);
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = alloc.out_ioas_id };
	CHECK(ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) == 0);

	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	memset(buf, 0, len);
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = alloc.out_ioas_id,
		.user_va = (uintptr_t)buf,
		.length = len,
	};
	CHECK(ioctl(iommufd, IOMMU_IOAS_MAP, &map) == 0);

	struct vfio_region_info bar0 = { .argsz = sizeof(bar0), .index = VFIO_PCI_BAR0_REGION_INDEX };
	CHECK(ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &bar0) == 0);
	CHECK(bar0.size == 4096);

	wr(dev, bar0.offset, DST, map.iova + 10);
	wr(dev, bar0.offset, LEN, len - 20);
	wr(dev, bar0.offset, CTRL, 1); /* fill */
	wr(dev, bar0.offset, PATTERN, 0x3c3c3c3c3c3c3c3cULL);
	wr(dev, bar0.offset, GO, 1);
	uint64_t st = 0;
	for (int i = 0; i < 1000000 && !(st & 2); i++)
		st = rd(dev, bar0.offset, STATUS);
	CHECK(st & 2);       /* DONE */
	CHECK(!(st & 4));    /* no ERROR */
	for (size_t i = 0; i < len; i++)
		CHECK(buf[i] == ((i >= 10 && i < len - 10) ? 0x3c : 0));

	CHECK(close(dev) == 0);
	CHECK(close(iommufd) == 0);
	printf("ok\n");
	return 0;
}
