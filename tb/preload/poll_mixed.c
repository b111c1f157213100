/*
 * preload.poll_mixed: poll() and ppoll() over a set mixing the simulator's
 * fault queue fd with a pipe behave as on a kernel: each fd reports its own
 * events, timeouts hold, and a blocked poll wakes for either kind.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void reset(struct pollfd *set, int n)
{
	for (int i = 0; i < n; i++)
		set[i].revents = 0;
}

static void *write_later(void *arg)
{
	int wfd = *(int *)arg;

	usleep(50 * 1000);
	CHECK(write(wfd, "x", 1) == 1);
	return NULL;
}

int main(void)
{
	struct iommu_hwpt_pgfault fault;
	struct iommu_hwpt_page_response resp = { 0 };
	struct timespec zero = { 0, 0 }, tenth = { 0, 100 * 1000 * 1000 };
	uint32_t ioas, stdev, hwpt, idev;
	struct pollfd set[4];
	pthread_t thread;
	int fd, fault_fd, p[2];
	/* A descriptor number that is not open. */
	const int not_open = 1000;
	double t0;
	char c;

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioas_alloc(fd, &ioas) == 0);
	CHECK(mock_domain(fd, ioas, &stdev, &hwpt, &idev) == 0);
	setup_fault_queue(fd, ioas, stdev, idev, &fault_fd);
	CHECK(pipe(p) == 0);
	CHECK_ERRNO(fcntl(not_open, F_GETFD), EBADF);

	set[0] = (struct pollfd){ .fd = p[0], .events = POLLIN };
	set[1] = (struct pollfd){ .fd = fault_fd, .events = POLLIN };
	set[2] = (struct pollfd){ .fd = -1, .events = POLLIN }; /* ignored */
	set[3] = (struct pollfd){ .fd = not_open, .events = POLLIN };

	/* Nothing to read; the fd that is not open is POLLNVAL, as always. */
	CHECK(poll(set, 4, 0) == 1);
	CHECK(set[0].revents == 0 && set[1].revents == 0 && set[2].revents == 0 &&
	      set[3].revents == POLLNVAL);
	set[3].fd = -1;

	/* The fault queue is always writable. */
	reset(set, 4);
	set[1].events = POLLIN | POLLOUT;
	CHECK(poll(set, 2, 0) == 1 && set[0].revents == 0 && set[1].revents == POLLOUT);
	set[1].events = POLLIN;

	/* A timeout with nothing ready runs its course. */
	reset(set, 4);
	t0 = now_ms();
	CHECK(poll(set, 3, 100) == 0);
	CHECK(now_ms() - t0 >= 90);
	t0 = now_ms();
	CHECK(ppoll(set, 3, &tenth, NULL) == 0);
	CHECK(now_ms() - t0 >= 90);

	/* Only the pipe is readable. */
	CHECK(write(p[1], "x", 1) == 1);
	reset(set, 4);
	CHECK(poll(set, 3, 0) == 1 && set[0].revents == POLLIN && set[1].revents == 0);

	/* Then the fault queue too. */
	CHECK(trigger_iopf(fd, idev, 0x100000) == 0);
	reset(set, 4);
	CHECK(poll(set, 3, 1000) == 2 && set[0].revents == POLLIN && set[1].revents == POLLIN);
	reset(set, 4);
	CHECK(ppoll(set, 3, &zero, NULL) == 2 && set[0].revents == POLLIN &&
	      set[1].revents == POLLIN);

	/* Drain both: nothing left. */
	CHECK(read(p[0], &c, 1) == 1);
	CHECK(read(fault_fd, &fault, sizeof(fault)) == (ssize_t)sizeof(fault));
	CHECK(fault.dev_id == idev && fault.addr == 0x100000);
	resp.cookie = fault.cookie;
	resp.code = IOMMUFD_PAGE_RESP_SUCCESS;
	CHECK(write(fault_fd, &resp, sizeof(resp)) == (ssize_t)sizeof(resp));
	reset(set, 4);
	CHECK(poll(set, 3, 0) == 0);

	/* A poll blocked on the mixed set wakes when the pipe becomes readable. */
	CHECK(pthread_create(&thread, NULL, write_later, &p[1]) == 0);
	reset(set, 4);
	CHECK(poll(set, 2, 5000) == 1 && set[0].revents == POLLIN);
	CHECK(pthread_join(thread, NULL) == 0);
	CHECK(read(p[0], &c, 1) == 1);

	/* ...and when a fault arrives, with a signal mask given to ppoll. */
	{
		sigset_t mask;

		sigemptyset(&mask);
		CHECK(trigger_iopf(fd, idev, 0x200000) == 0);
		reset(set, 4);
		CHECK(ppoll(set, 2, NULL, &mask) == 1 && set[1].revents == POLLIN);
		CHECK(read(fault_fd, &fault, sizeof(fault)) == (ssize_t)sizeof(fault));
		CHECK(fault.addr == 0x200000);
	}

	CHECK(close(p[0]) == 0 && close(p[1]) == 0);
	CHECK(close(fault_fd) == 0);
	CHECK(close(fd) == 0);
	return 0;
}
