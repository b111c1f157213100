/*
 * preload.threads: threads racing through the shim's first calls (lazy symbol
 * lookup) and then using /dev/iommu and ordinary fds side by side all get
 * correct results.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "check.h"

enum { THREADS = 8, ROUNDS = 200 };

static pthread_barrier_t start;

static void *worker(void *arg)
{
	uintptr_t n = (uintptr_t)arg;
	char c;
	int p[2];

	pthread_barrier_wait(&start);
	for (int round = 0; round < ROUNDS; round++) {
		uint32_t a, b;
		int fd = open("/dev/iommu", O_RDWR);

		CHECK(fd >= 0);
		CHECK(ioas_alloc(fd, &a) == 0 && a == 1);
		CHECK(ioas_alloc(fd, &b) == 0 && b == 2);
		CHECK(destroy(fd, a) == 0);
		CHECK_ERRNO(destroy(fd, a), ENOENT);
		CHECK(close(fd) == 0);

		/* An ordinary fd, interleaved with the other threads' iommufds. */
		CHECK(pipe(p) == 0);
		c = (char)n;
		CHECK(write(p[1], &c, 1) == 1);
		{
			struct pollfd pfd = { .fd = p[0], .events = POLLIN };

			CHECK(poll(&pfd, 1, 0) == 1);
		}
		CHECK(read(p[0], &c, 1) == 1 && c == (char)n);
		CHECK(close(p[0]) == 0 && close(p[1]) == 0);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];

	CHECK(pthread_barrier_init(&start, NULL, THREADS) == 0);
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	return 0;
}
