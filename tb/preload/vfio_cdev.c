/*
 * preload.vfio_cdev / preload.vfio_cdev_fortify(64): a VFIO device cdev the
 * platform registered (here libvfio_testdev.so's /dev/vfio/devices/vfio0,
 * preloaded next to the shim) reached through libc only: every open spelling,
 * ioctl, pread/pwrite (and the 64-bit and fortified entry points), read/write
 * at the file position, lseek, poll of an interrupt eventfd, close. Paths the
 * platform did not register, and every other file, stay with libc.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "iommusim/vfio.h"
#include "check.h"

#define DMA_ID 0x00
#define DMA_SRC 0x08
#define DMA_DST 0x10
#define DMA_LEN 0x18
#define DMA_PASID 0x28
#define DMA_PATTERN 0x30
#define DMA_GO 0x38
#define DMA_STATUS 0x40
#define DMA_ID_VALUE 0x1a3ad0a100000001ULL

/* Run-time values: under _FORTIFY_SOURCE, open/read/pread take their checking
 * entry points (__open_2, __read_chk, __pread_chk/__pread64_chk). */
static volatile int rdwr = O_RDWR;
static volatile size_t eight = 8;

static const char path[] = "/dev/vfio/devices/vfio0";

int main(void)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct {
		struct vfio_irq_set hdr;
		int32_t fd;
	} irq = { { .argsz = sizeof(irq),
		    .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		    .index = VFIO_PCI_MSIX_IRQ_INDEX,
		    .count = 1 },
		  -1 };
	char tmpl[] = "/tmp/iommusim-vfio-cdev-XXXXXX";
	int cdev, c2, c3, c4, dirfd, iommufd, efd, p[2], t;
	uint64_t v, x;
	char buf[16];

	/* A node the platform did not register is libc's: ENOENT on a host
	 * without VFIO. */
	if (access("/dev/vfio", F_OK) != 0) {
		CHECK_ERRNO(open("/dev/vfio/devices/vfio9", rdwr), ENOENT);
		CHECK_ERRNO(open("/dev/vfio/devices/vfio00", O_RDWR), ENOENT);
		CHECK_ERRNO(openat(AT_FDCWD, "/dev/vfio/devices/", O_RDONLY), ENOENT);
	}

	/* A routed open leaves errno alone. */
	errno = 4242;
	cdev = open(path, rdwr);
	CHECK(cdev >= 0 && errno == 4242);
	c2 = open64(path, O_RDWR | O_CLOEXEC);
	CHECK(c2 >= 0 && (fcntl(c2, F_GETFD) & FD_CLOEXEC));
	c3 = openat(AT_FDCWD, path, O_RDONLY);
	dirfd = open("/tmp", O_RDONLY | O_DIRECTORY);
	CHECK(dirfd >= 0);
	c4 = openat64(dirfd, path, O_RDWR); /* absolute: dirfd does not matter */
	CHECK(c3 >= 0 && c4 >= 0 && c3 != c4 && c2 != cdev);
	CHECK(close(dirfd) == 0);
	iommufd = open("/dev/iommu", rdwr);
	CHECK(iommufd >= 0);

	/* Unbound: everything but BIND is EINVAL, through the shim. */
	CHECK_ERRNO(pread(cdev, &v, eight, 0), EINVAL);
	CHECK_ERRNO(ioctl(cdev, VFIO_DEVICE_GET_REGION_INFO, &bar), EINVAL);
	bind.iommufd = iommufd;
	CHECK(ioctl(cdev, VFIO_DEVICE_BIND_IOMMUFD, &bind) == 0 && bind.out_devid != 0);
	CHECK_ERRNO(ioctl(c2, VFIO_DEVICE_BIND_IOMMUFD, &bind), EINVAL); /* opened once */
	CHECK(close(c2) == 0 && close(c3) == 0 && close(c4) == 0);
	CHECK_ERRNO(close(c4), EBADF);

	CHECK(ioctl(cdev, VFIO_DEVICE_GET_REGION_INFO, &bar) == 0 && bar.size >= 0x60);

	/* pread/pwrite of registers, every entry point. */
	v = 0;
	CHECK(pread(cdev, &v, eight, bar.offset + DMA_ID) == 8 && v == DMA_ID_VALUE);
	v = 0;
	CHECK(pread64(cdev, &v, eight, bar.offset + DMA_ID) == 8 && v == DMA_ID_VALUE);
	x = 0x0123456789abcdefULL;
	CHECK(pwrite(cdev, &x, 8, bar.offset + DMA_PATTERN) == 8);
	CHECK(pread(cdev, &v, 8, bar.offset + DMA_PATTERN) == 8 && v == x);
	x = 7;
	CHECK(pwrite64(cdev, &x, 8, bar.offset + DMA_PASID) == 8);
	CHECK(pread64(cdev, &v, 8, bar.offset + DMA_PASID) == 8 && v == 7);
	CHECK_ERRNO(pread(cdev, &v, 8, -1), EINVAL);
	CHECK_ERRNO(pwrite(cdev, &v, 8, (off_t)(9ULL << 40)), EINVAL);

	/* read/write at the file position (BAR0 starts at offset 0); no lseek. */
	CHECK(bar.offset == 0);
	CHECK(read(cdev, &v, eight) == 8 && v == DMA_ID_VALUE);
	x = 0x1000;
	CHECK(write(cdev, &x, 8) == 8); /* SRC */
	CHECK(pread(cdev, &v, 8, DMA_SRC) == 8 && v == 0x1000);
	CHECK(read(cdev, &v, eight) == 8); /* DST */
	CHECK_ERRNO(lseek(cdev, 0, SEEK_SET), ESPIPE);
	CHECK_ERRNO(lseek64(cdev, 0, SEEK_CUR), ESPIPE);
	CHECK_ERRNO(lseek(iommufd, 0, SEEK_SET), ESPIPE);
	CHECK_ERRNO(pread(iommufd, &v, eight, 0), EINVAL);
	CHECK_ERRNO(pwrite(iommufd, &v, 8, 0), EINVAL);

	/* Everything else is libc's. */
	CHECK(pipe(p) == 0);
	CHECK_ERRNO(pread(p[0], buf, 1, 0), ESPIPE);
	CHECK_ERRNO(lseek(p[0], 0, SEEK_SET), ESPIPE);
	CHECK(close(p[0]) == 0 && close(p[1]) == 0);
	t = mkstemp(tmpl);
	CHECK(t >= 0 && unlink(tmpl) == 0);
	CHECK(pwrite(t, "hello", 5, 10) == 5);
	CHECK(pread(t, buf, eight, 8) == 7 && memcmp(buf + 2, "hello", 5) == 0);
	CHECK(pwrite64(t, "!", 1, 15) == 1 && pread64(t, buf, 1, 15) == 1 && buf[0] == '!');
	CHECK(lseek(t, 0, SEEK_END) == 16 && lseek64(t, 2, SEEK_SET) == 2);
	CHECK(close(t) == 0);

	/* An interrupt: MSI-X vector 0 on an eventfd; the device raises it when
	 * a transfer ends (a zero-length one ends at once, in error). */
	efd = eventfd(0, EFD_NONBLOCK);
	CHECK(efd >= 0);
	irq.fd = efd;
	CHECK(ioctl(cdev, VFIO_DEVICE_SET_IRQS, &irq) == 0);
	x = 0;
	CHECK(pwrite(cdev, &x, 8, DMA_LEN) == 8);
	x = 1;
	CHECK(pwrite(cdev, &x, 8, DMA_GO) == 8);
	{
		struct pollfd pfd[2] = { { .fd = efd, .events = POLLIN }, { .fd = cdev, .events = POLLIN } };

		CHECK(poll(pfd, 2, 5000) == 2 && (pfd[0].revents & POLLIN) && (pfd[1].revents & POLLIN));
		CHECK(read(efd, &v, 8) == 8 && v == 1);
	}
	CHECK(pread(cdev, &v, 8, DMA_STATUS) == 8 && (v & 0x6) == 0x6 && (v >> 16) == 4);

	/* Closed: the number is libc's again. */
	CHECK(close(cdev) == 0);
	CHECK_ERRNO(pread(cdev, &v, 8, 0), EBADF);
	CHECK_ERRNO(lseek(cdev, 0, SEEK_SET), EBADF);
	CHECK(close(iommufd) == 0);
	CHECK(close(efd) == 0);
	return 0;
}
