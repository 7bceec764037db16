/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Concurrency: many threads on one connection, and server-to-client DMA
 * requests answered by the service thread, by an event loop, or by a
 * waiting caller, with and without twin-socket mode. Run under
 * ThreadSanitizer in CI.
 */
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "internal.h"
#include "testdev.h"
#include "util.h"

#define NTHREADS 8
#define NREQ 10000

struct worker {
	struct uvfio_client *c;
	int id;
	int errors;
};

/* Mixed requests; every reply is checked against what this thread wrote, so
 * a reply delivered to the wrong caller is caught. */
static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t base = 4096u * (uint64_t)w->id; /* each thread owns 4 KiB of BAR1 */
	uint8_t buf[64], back[64];
	for (int i = 0; i < NREQ; i++) {
		int kind = i % 4;
		uint64_t off = base + (uint64_t)(i * 8 % 4032);
		if (kind == 0 || kind == 1) {
			uint64_t v = ((uint64_t)w->id << 56) | (uint64_t)i;
			if (uvfio_client_region_write(w->c, 1, off, &v, 8) < 0)
				w->errors++;
			uint64_t r = 0;
			if (uvfio_client_region_read(w->c, 1, off, &r, 8) < 0 || r != v)
				w->errors++;
		} else if (kind == 2) {
			memset(buf, w->id + i, sizeof(buf));
			if (uvfio_client_region_write_posted(w->c, 1, base + 4032, buf, 64) < 0)
				w->errors++;
			if (uvfio_client_flush(w->c) < 0)
				w->errors++;
			if (uvfio_client_region_read(w->c, 1, base + 4032, back, 64) < 0 ||
			    memcmp(buf, back, 64))
				w->errors++;
		} else {
			uint16_t vendor = 0;
			if (uvfio_client_region_read(w->c, 7, 0, &vendor, 2) < 0 || vendor != 0x1af4)
				w->errors++;
		}
	}
	return NULL;
}

static void test_many_threads(void **state)
{
	(void)state;
	struct testdev *d = testdev_start(NULL);
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = UVFIO_LOG_ERR } };
	assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
	pthread_t t[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ c, i, 0 };
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	uvfio_client_close(c);
	testdev_stop(d);
}

struct dma_case {
	bool twin;
	bool share_fd;
	int mode; /* 0: caller waits, 1: service thread, 2: event loop */
};

static uint64_t rd64(struct uvfio_client *c, uint64_t off)
{
	uint64_t v = ~0ull;
	assert_int_equal(uvfio_client_region_read(c, 0, off, &v, 8), 0);
	return v;
}

static void run_dma_case(const struct dma_case *k)
{
	struct testdev_opts o = { .no_twin_socket = !k->twin, .max_data_xfer_size = 8192 };
	struct testdev *d = testdev_start(&o);
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = UVFIO_LOG_ERR },
					   .mode = k->mode == 1 ? UVFIO_CLIENT_SERVICE_THREAD
								: UVFIO_CLIENT_EVENT_LOOP,
					   .twin_socket = UVFIO_TWIN_ON };
	assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
	assert_int_equal(uvfio_client_twin_socket(c), k->twin);
	size_t len = 1 << 20;
	int mfd = memfd_create("dma", MFD_CLOEXEC);
	assert_int_equal(ftruncate(mfd, (off_t)len), 0);
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	for (size_t i = 0; i < 100000; i++)
		mem[i] = (uint8_t)(i * 7 + 1);
	struct uvfio_dma_region r = { .vaddr = mem, .iova = 1u << 30, .size = len,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = k->share_fd ? mfd : -1 };
	assert_int_equal(uvfio_client_dma_map(c, &r), 0);
	assert_int_equal(uvfio_client_bus_master(c, true), 0); /* as a driver */
	uint64_t v;
	v = (1u << 30);
	assert_int_equal(uvfio_client_region_write(c, 0, TD_DMA_SRC, &v, 8), 0);
	v = (1u << 30) + 500000;
	assert_int_equal(uvfio_client_region_write(c, 0, TD_DMA_DST, &v, 8), 0);
	v = 100000;
	assert_int_equal(uvfio_client_region_write(c, 0, TD_DMA_LEN, &v, 8), 0);
	v = 1;
	if (k->mode == 0) {
		/* the caller waiting for its reply answers the DMA requests */
		assert_int_equal(uvfio_client_region_write(c, 0, TD_DMA_GO, &v, 8), 0);
	} else {
		/* posted: nobody waits; the service thread or the event loop
		 * must answer the device's DMA requests. The device raises MSI-X
		 * vector 0 when its copy is done. */
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_int_equal(uvfio_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
						       VFIO_IRQ_SET_DATA_EVENTFD |
							       VFIO_IRQ_SET_ACTION_TRIGGER,
						       0, 1, &efd),
				 0);
		assert_int_equal(uvfio_client_region_write_posted(c, 0, TD_DMA_GO, &v, 8), 0);
		uint64_t deadline = vu_now_ms() + 5000;
		bool done = false;
		while (!done && vu_now_ms() < deadline) {
			struct pollfd pf[2] = { { .fd = efd, .events = POLLIN },
						{ .fd = uvfio_client_poll_fd(c), .events = POLLIN } };
			if (poll(pf, k->mode == 2 ? 2 : 1, 100) <= 0)
				continue;
			if (pf[0].revents)
				done = true;
			else
				assert_true(uvfio_client_dispatch(c) >= 0);
		}
		assert_true(done);
		close(efd);
		assert_int_equal(uvfio_client_flush(c), 0);
	}
	assert_int_equal(rd64(c, TD_DMA_GO), 0);
	assert_memory_equal(mem, mem + 500000, 100000);
	/* DMA outside the registered memory fails in the device */
	v = 5;
	assert_int_equal(uvfio_client_region_write(c, 0, TD_DMA_SRC, &v, 8), 0);
	v = 1;
	assert_int_equal(uvfio_client_region_write(c, 0, TD_DMA_GO, &v, 8), 0);
	assert_int_equal((int64_t)rd64(c, TD_DMA_GO), -EFAULT);
	assert_int_equal(uvfio_client_dma_unmap(c, 1u << 30, len), 0);
	assert_int_equal(uvfio_client_dma_unmap(c, 1u << 30, len), -ENOENT);
	uvfio_client_close(c);
	munmap(mem, len);
	close(mfd);
	testdev_stop(d);
}

static void test_dma_matrix(void **state)
{
	(void)state;
	for (int twin = 0; twin < 2; twin++)
		for (int fd = 0; fd < 2; fd++)
			for (int mode = 0; mode < 3; mode++) {
				struct dma_case k = { twin, fd, mode };
				run_dma_case(&k);
			}
}

/* A client that disconnects leaves the device to the next one: its DMA
 * maps and eventfds are dropped, the device state kept. */
static void test_reconnect(void **state)
{
	(void)state;
	struct testdev *d = testdev_start(NULL);
	struct uvfio_client_config cfg = { .log = { .level = UVFIO_LOG_ERR } };
	for (int round = 0; round < 3; round++) {
		struct uvfio_client *c;
		assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
		uint64_t v = 0;
		assert_int_equal(uvfio_client_region_read(c, 0, TD_SCRATCH, &v, 8), 0);
		assert_int_equal(v, (uint64_t)round); /* kept from the previous client */
		v = (uint64_t)round + 1;
		assert_int_equal(uvfio_client_region_write(c, 0, TD_SCRATCH, &v, 8), 0);
		static uint8_t mem[8192] __attribute__((aligned(4096)));
		struct uvfio_dma_region r = { .vaddr = mem, .iova = 0x10000, .size = 8192,
					      .prot = UVFIO_DMA_FLAG_READ, .fd = -1 };
		assert_int_equal(uvfio_client_dma_map(c, &r), 0);
		uvfio_client_close(c);
		/* wait until the server has noticed */
		for (int i = 0; i < 500 && uvfio_server_connected(d->srv); i++)
			usleep(2000);
		assert_false(uvfio_server_connected(d->srv));
		assert_int_equal(__atomic_load_n(&d->unmaps, __ATOMIC_RELAXED),
				 (unsigned)round + 1);
	}
	testdev_stop(d);
}

/* uvfio_server_stop() ends a run() blocked reading a connected client (the
 * read has no timer): run() returns at once and the client sees the
 * connection close; stops racing client departures stay safe. */
static void test_stop_while_connected(void **state)
{
	(void)state;
	struct uvfio_client_config cfg = { .log = { .level = UVFIO_LOG_ERR } };
	for (int round = 0; round < 40; round++) {
		struct testdev *d = testdev_start(NULL);
		struct uvfio_client *c;
		assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
		uint64_t v = 0;
		assert_int_equal(uvfio_client_region_read(c, 0, TD_SCRATCH, &v, 8), 0);
		if (round % 2) /* the client leaves while the stop comes */
			uvfio_client_close(c);
		uvfio_server_stop(d->srv);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10; /* a hang bound, not a speed check */
		assert_int_equal(pthread_timedjoin_np(d->thread, NULL, &until), 0);
		if (round % 2 == 0) {
			assert_int_not_equal(uvfio_client_region_read(c, 0, TD_SCRATCH, &v, 8), 0);
			uvfio_client_close(c);
		}
		uvfio_server_destroy(d->srv);
		free(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_threads),
		cmocka_unit_test(test_dma_matrix),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_stop_while_connected),
	};
	return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
