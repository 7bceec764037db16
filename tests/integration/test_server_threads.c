/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA from any thread: a device with two worker threads doing DMA through
 * mapped memory and through DMA_READ/DMA_WRITE messages (with and without a
 * twin socket), while the driving thread serves and the client maps and
 * unmaps memory under them. Memory that stays mapped must always copy
 * right; memory that comes and goes may fail with EFAULT but never be
 * touched after its DMA_UNMAP was answered (the unmap waits for copies and
 * pins in progress). Run under ThreadSanitizer in CI.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "peer.h"
#include "rawclient.h"
#include "util.h"

#define STABLE_FD 0x10000000ull   /* 1 MiB, with a descriptor, mapped throughout */
#define STABLE_MSG 0x20000000ull  /* 1 MiB, without: messages, mapped throughout */
#define CHURN_FD 0x30000000ull    /* 256 KiB, with a descriptor, mapped and unmapped */
#define CHURN_MSG 0x40000000ull   /* 256 KiB, without */
#define BIG (1u << 20)
#define SMALL (256u << 10)
#define ROUNDS 150
#define NWORKERS 2

struct dev {
	struct uvfio_server *srv;
	pthread_t driver;
	char path[108];
	unsigned maps, unmaps; /* atomic: callbacks seen */
};

struct worker {
	struct dev *d;
	pthread_t t;
	int id;
	int errors;      /* a stable copy that failed or came back wrong */
	int bad_results; /* a churn copy with a result other than 0 or -EFAULT */
	unsigned ok_churn;
	int done; /* atomic */
	char what[160];
};

static int dev_map(void *opaque, uint64_t iova, uint64_t size, uint32_t prot, void *vaddr)
{
	(void)iova, (void)size, (void)prot, (void)vaddr;
	__atomic_add_fetch(&((struct dev *)opaque)->maps, 1, __ATOMIC_RELAXED);
	return 0;
}

static void dev_unmap(void *opaque, uint64_t iova, uint64_t size)
{
	(void)iova, (void)size;
	__atomic_add_fetch(&((struct dev *)opaque)->unmaps, 1, __ATOMIC_RELAXED);
}

static void *drive(void *arg)
{
	uvfio_server_run(((struct dev *)arg)->srv);
	return NULL;
}

static void fail_once(struct worker *w, const char *what, int r)
{
	if (!w->errors++)
		snprintf(w->what, sizeof(w->what), "worker %d: %s: %d", w->id, what, r);
}

/* Write a pattern, read it back: through memory that stays mapped, must
 * work every time. */
static void stable_round(struct worker *w, uint64_t base, size_t len, int round)
{
	static __thread uint8_t out[64 << 10], back[64 << 10];
	uint64_t iova = base + (uint64_t)w->id * (BIG / NWORKERS) + (uint64_t)(round % 4) * len;
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 31 + (size_t)round * 7 + (size_t)w->id);
	int r = uvfio_server_dma_write(w->d->srv, iova, out, len);
	if (r != 0)
		return fail_once(w, "write to stable memory", r);
	memset(back, 0, len);
	r = uvfio_server_dma_read(w->d->srv, iova, back, len);
	if (r != 0)
		return fail_once(w, "read of stable memory", r);
	if (memcmp(out, back, len))
		fail_once(w, "stable memory read back differs", 0);
}

/* The same through memory that comes and goes: success, or EFAULT when the
 * range is not mapped at that moment; what is read back after a write that
 * succeeded is what was written (the client keeps the same buffer). */
static void churn_round(struct worker *w, uint64_t base, size_t len, int round)
{
	static __thread uint8_t out[SMALL / NWORKERS], back[SMALL / NWORKERS];
	uint64_t iova = base + (uint64_t)w->id * (SMALL / NWORKERS);
	memset(out, round + w->id, len);
	int r = uvfio_server_dma_write(w->d->srv, iova, out, len);
	if (r != 0 && r != -EFAULT)
		w->bad_results++;
	if (r != 0)
		return;
	r = uvfio_server_dma_read(w->d->srv, iova, back, len);
	if (r != 0 && r != -EFAULT)
		w->bad_results++;
	if (r == 0 && memcmp(out, back, len))
		fail_once(w, "churn memory read back differs", 0);
	w->ok_churn += r == 0;
}

/* A pin held across a write through the pointer: the memory stays mapped
 * until it is released, whatever the client does meanwhile. */
static void pinned_round(struct worker *w, int round)
{
	struct uvfio_sg sg[2];
	uint64_t iova = CHURN_FD + (uint64_t)w->id * (SMALL / NWORKERS);
	int n = uvfio_server_dma_sg_get(w->d->srv, iova, SMALL / NWORKERS, UVFIO_DMA_FLAG_WRITE,
					sg, 2);
	if (n == -EFAULT)
		return;
	if (n != 1) {
		w->bad_results++;
		return;
	}
	memset(sg[0].vaddr, round, sg[0].len);
	sched_yield(); /* let an unmap arrive while pinned */
	memset(sg[0].vaddr, round + 1, sg[0].len);
	uvfio_server_dma_sg_put(w->d->srv, sg, 1);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < ROUNDS; i++) {
		stable_round(w, STABLE_FD, 64 << 10, i);
		stable_round(w, STABLE_MSG, 20000, i); /* three messages each way */
		churn_round(w, CHURN_FD, SMALL / NWORKERS, i);
		churn_round(w, CHURN_MSG, 9000, i);
		pinned_round(w, i);
	}
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void dev_start(struct dev *d, bool twin)
{
	static int seq;
	static const struct uvfio_device_ops ops = { .dma_map = dev_map, .dma_unmap = dev_unmap };
	struct uvfio_server_config cfg = { .log = { .level = -1 },
					   .ops = &ops, .opaque = d,
					   .max_data_xfer_size = 8192, .no_twin_socket = !twin };
	assert_int_equal(uvfio_server_create(&cfg, &d->srv), 0);
	snprintf(d->path, sizeof(d->path), "/tmp/uvfio-threads-%d-%d.sock", getpid(), seq++);
	unlink(d->path);
	assert_int_equal(uvfio_server_listen(d->srv, d->path), 0);
	assert_int_equal(pthread_create(&d->driver, NULL, drive, d), 0);
}

static void *region(size_t len, int *fd)
{
	*fd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, (off_t)len), 0);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void map(struct uvfio_client *c, void *mem, uint64_t iova, size_t len, int fd)
{
	struct uvfio_dma_region r = { .vaddr = mem, .iova = iova, .size = len,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = fd };
	assert_int_equal(uvfio_client_dma_map(c, &r), 0);
	assert_int_equal(uvfio_client_bus_master(c, true), 0); /* as a driver */
}

static void run_case(bool twin)
{
	struct dev d = { 0 };
	dev_start(&d, twin);
	struct uvfio_client *c;
	struct uvfio_client_config cc = { .log = { .level = -1 },
					  .mode = UVFIO_CLIENT_SERVICE_THREAD,
					  .twin_socket = twin ? UVFIO_TWIN_ON : UVFIO_TWIN_OFF };
	assert_int_equal(uvfio_client_connect(d.path, &cc, &c), 0);
	assert_int_equal(uvfio_client_twin_socket(c), twin);
	int fds[4];
	void *mem[4] = { region(BIG, &fds[0]), region(BIG, &fds[1]), region(SMALL, &fds[2]),
			 region(SMALL, &fds[3]) };
	map(c, mem[0], STABLE_FD, BIG, fds[0]);
	map(c, mem[1], STABLE_MSG, BIG, -1);
	struct worker w[NWORKERS];
	for (int k = 0; k < NWORKERS; k++) {
		w[k] = (struct worker){ .d = &d, .id = k };
		assert_int_equal(pthread_create(&w[k].t, NULL, work, &w[k]), 0);
	}
	/* the client maps and unmaps under them until they are done */
	unsigned cycles = 0;
	for (;;) {
		bool running = false;
		for (int k = 0; k < NWORKERS; k++)
			running |= !__atomic_load_n(&w[k].done, __ATOMIC_ACQUIRE);
		if (!running && cycles > 0)
			break;
		map(c, mem[2], CHURN_FD, SMALL, fds[2]);
		map(c, mem[3], CHURN_MSG, SMALL, -1);
		sched_yield();
		assert_int_equal(uvfio_client_dma_unmap(c, CHURN_FD, SMALL), 0);
		assert_int_equal(uvfio_client_dma_unmap(c, CHURN_MSG, SMALL), 0);
		cycles++;
		if (!running)
			break;
	}
	for (int k = 0; k < NWORKERS; k++) {
		pthread_join(w[k].t, NULL);
		if (w[k].errors)
			fail_msg("%s (%d errors)", w[k].what, w[k].errors);
		assert_int_equal(w[k].bad_results, 0);
	}
	assert_int_equal(__atomic_load_n(&d.maps, __ATOMIC_RELAXED), 2 + 2 * cycles);
	assert_int_equal(__atomic_load_n(&d.unmaps, __ATOMIC_RELAXED), 2 * cycles);
	if (getenv("UVFIO_TEST_VERBOSE"))
		fprintf(stderr, "# twin %d: %u map/unmap cycles, %u+%u churn copies succeeded\n",
			twin, cycles, w[0].ok_churn, w[1].ok_churn);
	uvfio_client_close(c);
	uvfio_server_stop(d.srv);
	pthread_join(d.driver, NULL);
	uvfio_server_destroy(d.srv);
	for (int i = 0; i < 4; i++) {
		munmap(mem[i], i < 2 ? BIG : SMALL);
		close(fds[i]);
	}
}

static void test_workers_single_socket(void **state)
{
	(void)state;
	run_case(false);
}

static void test_workers_twin_socket(void **state)
{
	(void)state;
	run_case(true);
}

/* ---- DMA_UNMAP waits for a pin ---------------------------------------------------- */

struct unmapper {
	struct uvfio_client *c;
	int returned; /* atomic */
	int result;
};

static void *unmap_thread(void *arg)
{
	struct unmapper *u = arg;
	u->result = uvfio_client_dma_unmap(u->c, CHURN_FD, SMALL);
	__atomic_store_n(&u->returned, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A thread holds a pin; the client unmaps: the device is told at once, but
 * the memory stays mapped and the client's DMA_UNMAP unanswered until the
 * pin is released. */
static void test_unmap_waits_for_pin(void **state)
{
	(void)state;
	struct dev d = { 0 };
	dev_start(&d, false);
	struct uvfio_client *c;
	struct uvfio_client_config cc = { .log = { .level = -1 },
					  .mode = UVFIO_CLIENT_SERVICE_THREAD };
	assert_int_equal(uvfio_client_connect(d.path, &cc, &c), 0);
	int fd;
	uint8_t *mem = region(SMALL, &fd);
	map(c, mem, CHURN_FD, SMALL, fd);
	struct uvfio_sg sg;
	assert_int_equal(uvfio_server_dma_sg_get(d.srv, CHURN_FD + 4096, 100, UVFIO_DMA_FLAG_WRITE,
						 &sg, 1),
			 1);
	struct unmapper u = { .c = c };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, unmap_thread, &u), 0);
	while (!__atomic_load_n(&d.unmaps, __ATOMIC_ACQUIRE)) /* the device is told */
		sched_yield();
	/* no new DMA reaches the range, the pinned memory is still there */
	uint8_t b[8];
	assert_int_equal(uvfio_server_dma_read(d.srv, CHURN_FD, b, 8), -EFAULT);
	memcpy(sg.vaddr, "still here", 11);
	assert_false(__atomic_load_n(&u.returned, __ATOMIC_ACQUIRE));
	uvfio_server_dma_sg_put(d.srv, &sg, 1);
	pthread_join(t, NULL);
	assert_int_equal(u.result, 0);
	assert_string_equal((char *)mem + 4096, "still here");
	uvfio_client_close(c);
	uvfio_server_stop(d.srv);
	pthread_join(d.driver, NULL);
	uvfio_server_destroy(d.srv);
	munmap(mem, SMALL);
	close(fd);
}

/* ---- Workers waiting for replies when the client goes ------------------------------ */

struct waiter {
	struct uvfio_server *srv;
	int result;
};

static void *dma_waiter(void *arg)
{
	struct waiter *w = arg;
	uint8_t buf[64];
	w->result = uvfio_server_dma_read(w->srv, STABLE_MSG, buf, sizeof(buf));
	return NULL;
}

/* Two workers wait for DMA_READ replies that never come; the client closes
 * its socket: both fail at once with -ECONNRESET (not at the 60 s timeout),
 * with and without a twin socket. */
static void run_gone(bool twin)
{
	struct dev d = { 0 };
	static const struct uvfio_device_ops ops = { .dma_map = dev_map, .dma_unmap = dev_unmap };
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .ops = &ops, .opaque = &d,
					   .no_twin_socket = !twin, .timeout_ms = 60000 };
	assert_int_equal(uvfio_server_create(&cfg, &d.srv), 0);
	/* negotiated (proposing a twin socket or not) and memory without a
	 * descriptor given, by this thread; then the driving thread serves */
	int tfd;
	int fd = raw_connect_twin(d.srv, twin ? "{\"twin_socket\":{\"supported\":true}}" : NULL,
				  &tfd);
	assert_int_equal(tfd >= 0, twin);
	int reqfd = twin ? tfd : fd;
	struct uvfio_dma_map dm = { .argsz = 32, .flags = 3, .addr = STABLE_MSG, .size = BIG };
	assert_int_equal(raw_call(d.srv, fd, UVFIO_CMD_DMA_MAP, &dm, sizeof(dm), NULL, 0, NULL), 0);
	assert_int_equal(pthread_create(&d.driver, NULL, drive, &d), 0);
	struct uvfio_hdr h;
	uint8_t msg[256];
	struct waiter w[2] = { { .srv = d.srv }, { .srv = d.srv } };
	pthread_t t[2];
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&t[k], NULL, dma_waiter, &w[k]), 0);
	for (int k = 0; k < 2; k++) { /* both requests are out, unanswered */
		assert_true(peer_recv(reqfd, &h, msg, sizeof(msg), NULL, NULL) > 0);
		assert_int_equal(h.cmd, UVFIO_CMD_DMA_READ);
	}
	close(fd);
	if (twin)
		close(tfd);
	for (int k = 0; k < 2; k++) {
		pthread_join(t[k], NULL);
		assert_int_equal(w[k].result, -ECONNRESET);
	}
	pthread_join(d.driver, NULL); /* the adopted client is gone: run() returns */
	uvfio_server_destroy(d.srv);
}

static void test_workers_fail_when_client_goes(void **state)
{
	(void)state;
	run_gone(false);
	run_gone(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workers_single_socket),
		cmocka_unit_test(test_workers_twin_socket),
		cmocka_unit_test(test_unmap_waits_for_pin),
		cmocka_unit_test(test_workers_fail_when_client_goes),
	};
	return cmocka_run_group_tests_name("server_threads", tests, NULL, NULL);
}
