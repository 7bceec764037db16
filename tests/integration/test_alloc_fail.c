/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Allocation failure, injected: this program is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so the Nth allocation of
 * the library (client and server side alike) can be made to fail. For every
 * N up to the number of allocations a whole session makes, the session must
 * end with a result (success or a negative errno), never a crash or a hang,
 * and leave no descriptor behind (and no leak: LeakSanitizer in CI).
 *
 * docs/ROBUSTNESS.md quotes how many allocations a session makes and how
 * many of them make a step fail: they are asserted here, so that the page
 * changes with the library.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "testdev.h"
#include "util.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);

#define SESSION_ALLOCS 16   /* quoted in docs/ROBUSTNESS.md */
#define FAILING_SESSIONS 12 /* quoted in docs/ROBUSTNESS.md */

static long countdown; /* the allocation that fails; 0: none */
static long seen;      /* allocations counted while armed */
static bool armed;

static bool fail_now(void)
{
	if (!__atomic_load_n(&armed, __ATOMIC_RELAXED))
		return false;
	long k = __atomic_add_fetch(&seen, 1, __ATOMIC_RELAXED);
	return k == __atomic_load_n(&countdown, __ATOMIC_RELAXED);
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return fail_now() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

/* A whole session; returns how many of its steps succeeded. */
static int session(const char *path)
{
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .timeout_ms = 500 };
	int ok = 0;
	if (uvfio_client_connect(path, &cfg, &c) < 0)
		return 0;
	struct uvfio_device_info di;
	ok += uvfio_client_device_info(c, &di) == 0;
	struct uvfio_region_info ri;
	if (uvfio_client_region_info(c, 3, &ri) == 0) {
		ok++;
		uvfio_region_info_release(&ri);
	}
	uint64_t v = 0;
	ok += uvfio_client_region_read(c, 0, TD_SCRATCH, &v, 8) == 0;
	static uint8_t mem[16384] __attribute__((aligned(4096)));
	struct uvfio_dma_region r = { .vaddr = mem, .iova = 0x10000, .size = sizeof(mem),
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE, .fd = -1 };
	if (uvfio_client_dma_map(c, &r) == 0 && uvfio_client_bus_master(c, true) == 0) {
		ok++;
		uint64_t regs[3] = { 0x10000, 0x12000, 4096 };
		uvfio_client_region_write(c, 0, TD_DMA_SRC, &regs[0], 8);
		uvfio_client_region_write(c, 0, TD_DMA_DST, &regs[1], 8);
		uvfio_client_region_write(c, 0, TD_DMA_LEN, &regs[2], 8);
		v = 1;
		ok += uvfio_client_region_write(c, 0, TD_DMA_GO, &v, 8) == 0;
		uvfio_client_dma_unmap(c, 0x10000, sizeof(mem));
	}
	ok += uvfio_client_region_write_posted(c, 1, 0, &v, 8) == 0;
	ok += uvfio_client_flush(c) == 0;
	uvfio_client_close(c);
	return ok;
}

static void test_every_allocation_fails_once(void **state)
{
	(void)state;
	struct testdev *d = testdev_start(NULL);
	int fds = tu_count_fds();
	/* how many allocations does a session make? */
	__atomic_store_n(&countdown, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&seen, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&armed, true, __ATOMIC_RELAXED);
	int full = session(d->path);
	__atomic_store_n(&armed, false, __ATOMIC_RELAXED);
	long total = seen;
	assert_int_equal(full, 7);
	assert_int_equal(total, SESSION_ALLOCS);
	int failed_sessions = 0;
	for (long n = 1; n <= total; n++) {
		__atomic_store_n(&seen, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&countdown, n, __ATOMIC_RELAXED);
		__atomic_store_n(&armed, true, __ATOMIC_RELAXED);
		int ok = session(d->path);
		__atomic_store_n(&armed, false, __ATOMIC_RELAXED);
		if (ok < full)
			failed_sessions++;
		/* the device still serves a clean session afterwards */
		assert_int_equal(session(d->path), full);
		/* the server thread closes its side of the session shortly */
		for (int k = 0; k < 200 && tu_count_fds() != fds; k++)
			usleep(5000);
		if (tu_count_fds() != fds)
			fail_msg("failing allocation %ld left %d descriptors open", n,
				 tu_count_fds() - fds);
	}
	print_message("%ld allocations per session; %d of them made a step fail\n", total,
		      failed_sessions);
	assert_int_equal(failed_sessions, FAILING_SESSIONS);
	testdev_stop(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_fails_once),
	};
	return cmocka_run_group_tests_name("alloc_fail", tests, NULL, NULL);
}
