/* SPDX-License-Identifier: BSD-3-Clause */
/* util.c — uvfio-bench's clock, CPU pinning, statistics and big buffers. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench.h"

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu % ncpus, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct stat_ summarize(uint64_t *lat, size_t n, uint64_t total_ns)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	struct stat_ s = { .ops = (double)n * 1e9 / (double)total_ns,
			   .median = (double)lat[n / 2] / 1e3,
			   .p99 = (double)lat[(n * 99) / 100] / 1e3 };
	return s;
}

char *big_alloc(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("uvfio-bench: mmap");
		exit(1);
	}
	memset(p, 2, len);
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double median_of(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
