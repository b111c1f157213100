/*
 * Helpers for the preload tests: plain C programs that use /dev/iommu through
 * libc only, as an unmodified program does, and run under `iommusim exec`.
 * A failed check prints where and why and exits 1.
 */
#ifndef IOMMUSIM_TB_PRELOAD_CHECK_H
#define IOMMUSIM_TB_PRELOAD_CHECK_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "iommusim/iommufd.h"
#include "iommusim/iommufd_test.h"

#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "%s:%d: check failed: %s (errno %d: %s)\n", \
				__FILE__, __LINE__, #cond, errno, strerror(errno)); \
			exit(1);                                                    \
		}                                                                   \
	} while (0)

/* expr must return -1 and set errno to exactly want. */
#define CHECK_ERRNO(expr, want)                                                      \
	do {                                                                         \
		errno = 0;                                                           \
		long check_rc_ = (long)(expr);                                       \
		int check_errno_ = errno;                                            \
		if (check_rc_ != -1 || check_errno_ != (want)) {                     \
			fprintf(stderr,                                              \
				"%s:%d: %s: want -1 errno %d (%s), got %ld errno %d (%s)\n", \
				__FILE__, __LINE__, #expr, (want), strerror(want),   \
				check_rc_, check_errno_, strerror(check_errno_));    \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

static inline int ioas_alloc(int fd, uint32_t *id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);

	if (rc == 0)
		*id = cmd.out_ioas_id;
	return rc;
}

static inline int destroy(int fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(fd, IOMMU_DESTROY, &cmd);
}

static inline int mock_domain(int fd, uint32_t pt_id, uint32_t *stdev_id, uint32_t *hwpt_id,
			      uint32_t *idev_id)
{
	struct iommu_test_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	cmd.id = pt_id;
	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (rc == 0) {
		*stdev_id = cmd.mock_domain.out_stdev_id;
		*hwpt_id = cmd.mock_domain.out_hwpt_id;
		*idev_id = cmd.mock_domain.out_idev_id;
	}
	return rc;
}

/*
 * A fault queue that receives the faults of device idev: a nested HWPT with
 * the queue's fault_id, and the device (stdev) moved onto it.
 */
static inline void setup_fault_queue(int fd, uint32_t ioas_id, uint32_t stdev_id, uint32_t idev_id,
				     int *fault_fd)
{
	struct iommu_fault_alloc fault = { .size = sizeof(fault) };
	struct iommu_hwpt_alloc parent = {
		.size = sizeof(parent),
		.flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
		.dev_id = idev_id,
		.pt_id = ioas_id,
	};
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_hwpt_alloc nested = {
		.size = sizeof(nested),
		.flags = IOMMU_HWPT_FAULT_ID_VALID,
		.dev_id = idev_id,
		.data_type = IOMMU_HWPT_DATA_SELFTEST,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	struct iommu_test_cmd replace;

	CHECK(ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fault) == 0);
	CHECK(ioctl(fd, IOMMU_HWPT_ALLOC, &parent) == 0);
	nested.pt_id = parent.out_hwpt_id;
	nested.fault_id = fault.out_fault_id;
	CHECK(ioctl(fd, IOMMU_HWPT_ALLOC, &nested) == 0);
	memset(&replace, 0, sizeof(replace));
	replace.size = sizeof(replace);
	replace.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE;
	replace.id = stdev_id;
	replace.mock_domain_replace.pt_id = nested.out_hwpt_id;
	CHECK(ioctl(fd, IOMMU_TEST_CMD, &replace) == 0);
	*fault_fd = (int)fault.out_fault_fd;
}

static inline int trigger_iopf(int fd, uint32_t idev_id, uint64_t addr)
{
	struct iommu_test_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.op = IOMMU_TEST_OP_TRIGGER_IOPF;
	cmd.trigger_iopf.dev_id = idev_id;
	cmd.trigger_iopf.grpid = 1;
	cmd.trigger_iopf.perm = IOMMU_PGFAULT_PERM_READ;
	cmd.trigger_iopf.addr = addr;
	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

#endif /* IOMMUSIM_TB_PRELOAD_CHECK_H */
