/* SPDX-License-Identifier: MIT */
/*
 * The "Device cdev Example" of Linux's Documentation/driver-api/vfio.rst,
 * written as a program: open the device cdev, bind it to an iommufd, allocate
 * an IOAS, attach, mmap 1 MiB and map it at IOVA 0 with IOMMU_IOAS_MAP. Then
 * it does what the documentation leaves to "other device operations": finds
 * BAR0 with VFIO_DEVICE_GET_REGION_INFO and drives the DMA test device
 * (docs/platform.md) through pread/pwrite of its registers, waits for its
 * completion interrupt on an eventfd (MSI-X vector 0, VFIO_DEVICE_SET_IRQS),
 * and checks that the device's DMA landed in the mapped buffer — a copy, then
 * a fill.
 *
 * Plain C against <linux/vfio.h> and <linux/iommufd.h> only (the build puts
 * iommusim's 6.12 headers there), so it runs on a real 6.12 kernel with a
 * real device as well as under `iommusim exec`.
 *
 *   cdev_example [/dev/vfio/devices/vfioN]
 * Exit 0 on success, 1 naming the first step that failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The DMA test device's BAR0 (docs/platform.md). */
#define DMA_ID 0x00
#define DMA_SRC 0x08
#define DMA_DST 0x10
#define DMA_LEN 0x18
#define DMA_CTRL 0x20
#define DMA_PATTERN 0x30
#define DMA_GO 0x38
#define DMA_STATUS 0x40
#define DMA_FAULT_ADDR 0x48
#define DMA_BYTES_DONE 0x50
#define DMA_CYCLES 0x58
#define DMA_ID_VALUE 0x1a3ad0a100000001ULL
#define CTRL_DIR_FILL (1u << 0)
#define STATUS_BUSY (1u << 0)
#define STATUS_DONE (1u << 1)
#define STATUS_ERROR (1u << 2)

#define MAP_LEN (1024 * 1024)

#define FAIL(...)                                                        \
	do {                                                             \
		int e_ = errno;                                          \
		fprintf(stderr, "cdev_example: FAIL: ");                 \
		fprintf(stderr, __VA_ARGS__);                            \
		fprintf(stderr, " (errno %d: %s)\n", e_, strerror(e_)); \
		exit(1);                                                 \
	} while (0)

static int cdev_fd = -1;
static int irq_fd = -1; /* the eventfd on MSI-X vector 0 */
static uint64_t bar0;

static uint64_t reg_read(unsigned off)
{
	uint64_t v;

	if (pread(cdev_fd, &v, sizeof(v), bar0 + off) != sizeof(v))
		FAIL("pread of BAR0 register 0x%02x", off);
	return v;
}

static void reg_write(unsigned off, uint64_t v)
{
	if (pwrite(cdev_fd, &v, sizeof(v), bar0 + off) != sizeof(v))
		FAIL("pwrite of BAR0 register 0x%02x", off);
}

/* Start a transfer, wait (up to 30 s of host time) for its interrupt, and
 * return STATUS once DONE or ERROR. */
static uint64_t run_dma(void)
{
	struct pollfd pfd = { .fd = irq_fd, .events = POLLIN };
	struct timespec start, now;
	uint64_t status, count;

	reg_write(DMA_GO, 1);
	if (poll(&pfd, 1, 30000) != 1)
		FAIL("no completion interrupt on the MSI-X eventfd within 30 s (STATUS 0x%" PRIx64 ")",
		     reg_read(DMA_STATUS));
	if (read(irq_fd, &count, sizeof(count)) != sizeof(count) || count < 1)
		FAIL("read of the interrupt eventfd");
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		status = reg_read(DMA_STATUS);
		if (status & (STATUS_DONE | STATUS_ERROR))
			return status;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 30) {
			errno = ETIMEDOUT;
			FAIL("DMA did not finish: STATUS 0x%" PRIx64, status);
		}
	}
}

static void check_done(const char *what, uint64_t status, uint64_t len)
{
	uint64_t done = reg_read(DMA_BYTES_DONE);

	if ((status & STATUS_ERROR) || !(status & STATUS_DONE)) {
		errno = EIO;
		FAIL("%s: STATUS 0x%" PRIx64 " (error code %" PRIu64 "), FAULT_ADDR 0x%" PRIx64,
		     what, status, (status >> 16) & 0xffff, reg_read(DMA_FAULT_ADDR));
	}
	if (done != len) {
		errno = EIO;
		FAIL("%s: BYTES_DONE %" PRIu64 ", expected %" PRIu64, what, done, len);
	}
	printf("cdev_example: %s: %" PRIu64 " bytes in %" PRIu64 " device cycles\n", what, done,
	       reg_read(DMA_CYCLES));
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/vfio/devices/vfio0";
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.flags = 0,
	};
	struct iommu_ioas_alloc alloc_data = {
		.size = sizeof(alloc_data),
		.flags = 0,
	};
	struct vfio_device_attach_iommufd_pt attach_data = {
		.argsz = sizeof(attach_data),
		.flags = 0,
	};
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_FIXED_IOVA,
		.__reserved = 0,
	};
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info region = { .argsz = sizeof(region) };
	struct vfio_irq_info irq_info = { .argsz = sizeof(irq_info),
					  .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct {
		struct vfio_irq_set set;
		int32_t fd;
	} irq_set = { { .argsz = sizeof(irq_set),
			.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_MSIX_IRQ_INDEX,
			.start = 0,
			.count = 1 },
		      -1 };
	struct vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach) };
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap) };
	const uint64_t half = MAP_LEN / 2, copy_len = 64 * 1024;
	const uint64_t pattern = 0x0123456789abcdefULL;
	uint8_t *buf;
	int iommufd;
	uint64_t i;

	/* The documentation's steps. */
	cdev_fd = open(path, O_RDWR);
	if (cdev_fd < 0)
		FAIL("open %s", path);
	iommufd = open("/dev/iommu", O_RDWR);
	if (iommufd < 0)
		FAIL("open /dev/iommu");
	bind.iommufd = iommufd;
	if (ioctl(cdev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		FAIL("VFIO_DEVICE_BIND_IOMMUFD");
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc_data))
		FAIL("IOMMU_IOAS_ALLOC");
	attach_data.pt_id = alloc_data.out_ioas_id;
	if (ioctl(cdev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach_data))
		FAIL("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	printf("cdev_example: %s bound as device %u, attached to IOAS %u through HWPT %u\n", path,
	       bind.out_devid, alloc_data.out_ioas_id, attach_data.pt_id);

	buf = mmap(0, MAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0);
	if (buf == MAP_FAILED)
		FAIL("mmap");
	map.user_va = (uintptr_t)buf;
	map.iova = 0; /* 1 MiB starting at 0x0 from the device's view */
	map.length = MAP_LEN;
	map.ioas_id = alloc_data.out_ioas_id;
	if (ioctl(iommufd, IOMMU_IOAS_MAP, &map))
		FAIL("IOMMU_IOAS_MAP");

	/* "Other device operations": find BAR0 and check it is the DMA test device. */
	if (ioctl(cdev_fd, VFIO_DEVICE_GET_INFO, &info))
		FAIL("VFIO_DEVICE_GET_INFO");
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions <= VFIO_PCI_BAR0_REGION_INDEX) {
		errno = ENODEV;
		FAIL("not a PCI device with a BAR0 (flags 0x%x, %u regions)", info.flags,
		     info.num_regions);
	}
	region.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(cdev_fd, VFIO_DEVICE_GET_REGION_INFO, &region))
		FAIL("VFIO_DEVICE_GET_REGION_INFO(BAR0)");
	if (region.size < DMA_CYCLES + 8 ||
	    (region.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)) !=
		    (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)) {
		errno = ENODEV;
		FAIL("BAR0: size 0x%llx, flags 0x%x", (unsigned long long)region.size,
		     region.flags);
	}
	bar0 = region.offset;
	if (reg_read(DMA_ID) != DMA_ID_VALUE) {
		errno = ENODEV;
		FAIL("BAR0 ID register reads 0x%" PRIx64 ", not the DMA test device",
		     reg_read(DMA_ID));
	}

	/* Its completion interrupt: MSI-X vector 0, signalled on an eventfd. */
	if (ioctl(cdev_fd, VFIO_DEVICE_GET_IRQ_INFO, &irq_info))
		FAIL("VFIO_DEVICE_GET_IRQ_INFO(MSI-X)");
	if (irq_info.count < 1 || !(irq_info.flags & VFIO_IRQ_INFO_EVENTFD)) {
		errno = ENODEV;
		FAIL("no MSI-X vector with an eventfd (count %u, flags 0x%x)", irq_info.count,
		     irq_info.flags);
	}
	irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (irq_fd < 0)
		FAIL("eventfd");
	irq_set.fd = irq_fd;
	if (ioctl(cdev_fd, VFIO_DEVICE_SET_IRQS, &irq_set))
		FAIL("VFIO_DEVICE_SET_IRQS(MSI-X vector 0)");

	/* Copy: IOVA [0, 64 KiB) -> IOVA [512 KiB, 576 KiB). */
	for (i = 0; i < MAP_LEN; i++)
		buf[i] = i < half ? (uint8_t)(i * 7 + 3) : 0;
	reg_write(DMA_SRC, 0);
	reg_write(DMA_DST, half);
	reg_write(DMA_LEN, copy_len);
	reg_write(DMA_CTRL, 0);
	check_done("copy", run_dma(), copy_len);
	if (memcmp(buf + half, buf, copy_len) != 0) {
		errno = EIO;
		FAIL("the copied bytes did not land at IOVA 0x%" PRIx64, half);
	}
	for (i = half + copy_len; i < MAP_LEN; i++)
		if (buf[i]) {
			errno = EIO;
			FAIL("byte at IOVA 0x%" PRIx64 " written past the copy", i);
		}

	/* Fill: PATTERN into IOVA [4 KiB - 8, 12 KiB + 8), across page boundaries. */
	reg_write(DMA_DST, 4096 - 8);
	reg_write(DMA_LEN, 8192 + 16);
	reg_write(DMA_PATTERN, pattern);
	reg_write(DMA_CTRL, CTRL_DIR_FILL);
	check_done("fill", run_dma(), 8192 + 16);
	for (i = 0; i < 8192 + 16; i++)
		if (buf[4096 - 8 + i] != (uint8_t)(pattern >> (8 * (i % 8)))) {
			errno = EIO;
			FAIL("fill: byte %" PRIu64 " is 0x%02x", i, buf[4096 - 8 + i]);
		}
	if (buf[4096 - 9] != (uint8_t)((4096 - 9) * 7 + 3)) {
		errno = EIO;
		FAIL("fill wrote before its destination");
	}

	/* Undo: interrupts off, unmap, detach, close. */
	irq_set.set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	irq_set.set.count = 0;
	irq_set.set.argsz = sizeof(irq_set.set);
	if (ioctl(cdev_fd, VFIO_DEVICE_SET_IRQS, &irq_set))
		FAIL("VFIO_DEVICE_SET_IRQS(MSI-X off)");
	unmap.ioas_id = alloc_data.out_ioas_id;
	unmap.iova = 0;
	unmap.length = MAP_LEN;
	if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &unmap) || unmap.length != MAP_LEN)
		FAIL("IOMMU_IOAS_UNMAP");
	if (ioctl(cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach))
		FAIL("VFIO_DEVICE_DETACH_IOMMUFD_PT");
	if (close(cdev_fd) || close(iommufd) || close(irq_fd))
		FAIL("close");
	munmap(buf, MAP_LEN);
	printf("cdev_example: PASS\n");
	return 0;
}
