/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The server's DMA against a client it cannot trust: memory whose file is
 * too short or shrinks after DMA_MAP (the device gets an error, the process
 * lives), and the SIGBUS handler that makes this so (it acts only inside the
 * library's own copies and hands every other fault on).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "internal.h"
#include "peer.h"
#include "rawclient.h"
#include "testdev.h"
#include "util.h"

long heap_live(void); /* tests/heapcount.c */

#define IOVA 0x40000000ull
#define MIB (1u << 20)


static const struct uvfio_client_config quiet = { .log = { .level = -1 } };

static int setup(void **state)
{
	return testdev_fx_setup(state, NULL, &quiet);
}

static int setup_sealed(void **state)
{
	struct testdev_opts o = { .dma_require_seal = true };
	return testdev_fx_setup(state, &o, &quiet);
}


static int memfd_of(size_t size)
{
	int fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

/* 1 MiB of client memory on a memfd of file_size bytes. */
static uint8_t *guest_mem(size_t file_size, int *fd)
{
	*fd = memfd_of(file_size);
	uint8_t *mem = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(mem != MAP_FAILED);
	return mem;
}

/* Its DMA_MAP at IOVA, from offset of the file: the result. */
static int guest_map(struct testdev_fx *f, uint8_t *mem, int fd, uint64_t offset)
{
	struct uvfio_dma_region r = { .vaddr = mem, .iova = IOVA, .size = MIB,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = fd, .fd_offset = offset };
	return uvfio_client_dma_map(f->c, &r);
}

static void guest_unmap(struct testdev_fx *f, uint8_t *mem, int fd)
{
	assert_int_equal(uvfio_client_dma_unmap(f->c, IOVA, MIB), 0);
	munmap(mem, MIB);
	close(fd);
}

/* 1 MiB of DMA memory backed by a 4 KiB file is refused at DMA_MAP (it
 * used to be accepted, and the first copy killed the device with SIGBUS). */
static void test_map_past_end(void **state)
{
	struct testdev_fx *f = *state;
	int fd;
	uint8_t *mem = guest_mem(4096, &fd);
	assert_int_equal(guest_map(f, mem, fd, 0), -ENXIO);
	/* long enough, but the offset pushes the end past it */
	assert_int_equal(ftruncate(fd, MIB), 0);
	assert_int_equal(guest_map(f, mem, fd, 4096), -ENXIO);
	assert_int_equal(guest_map(f, mem, fd, 0), 0);
	assert_int_equal(td_device_copy(f->c, IOVA, IOVA + 4096, 4096), 0);
	guest_unmap(f, mem, fd);
}

/* The file shrinks after DMA_MAP: reads and writes through the mapping fail
 * with EIO, the device (this process) lives on and serves. */
static void test_shrunk_after_map(void **state)
{
	struct testdev_fx *f = *state;
	int fd;
	uint8_t *mem = guest_mem(MIB, &fd);
	assert_int_equal(guest_map(f, mem, fd, 0), 0);
	memset(mem, 0x5a, 4096);
	assert_int_equal(ftruncate(fd, 4096), 0);
	/* source past the end: the read faults */
	assert_int_equal(td_device_copy(f->c, IOVA + MIB / 2, IOVA, 4096), -EIO);
	/* destination past the end: the write faults */
	assert_int_equal(td_device_copy(f->c, IOVA, IOVA + MIB / 2, 4096), -EIO);
	/* what is still there still works, again and again */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(td_device_copy(f->c, IOVA, IOVA + 2048, 1024), 0);
		assert_int_equal(td_device_copy(f->c, IOVA + 8192, IOVA, 16), -EIO);
	}
	assert_int_equal(mem[2048], 0x5a);
	guest_unmap(f, mem, fd);
}

/* A device that touches client memory through its own pointers can ask for
 * descriptors sealed against shrinking. */
static void test_require_seal(void **state)
{
	struct testdev_fx *f = *state;
	int fd;
	uint8_t *mem = guest_mem(MIB, &fd);
	assert_int_equal(guest_map(f, mem, fd, 0), -EPERM);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	assert_int_equal(guest_map(f, mem, fd, 0), 0);
	assert_int_equal(ftruncate(fd, 4096), -1); /* the seal holds */
	assert_int_equal(td_device_copy(f->c, IOVA, IOVA + MIB / 2, 4096), 0);
	guest_unmap(f, mem, fd);
}

/* ---- Dirty pages: every write path, logged when it completes ------------------------ */

#define PG 4096u
#define NOFD_IOVA (IOVA + 0x100000) /* memory without a descriptor: messages */

/* Report [IOVA, IOVA + 2 MiB) (the mapped MiB, then the one without a
 * descriptor) and expect exactly page p of it dirty, or none (p < 0). */
static void expect_dirty(struct uvfio_client *c, int p)
{
	uint64_t bm[2 * MIB / PG / 64] = { 0 };
	assert_int_equal(uvfio_client_dma_logging_report(c, IOVA, 2 * MIB, PG, bm), 0);
	for (int k = 0; k < (int)(2 * MIB / PG); k++)
		if ((bm[k / 64] >> (k % 64) & 1) != (k == p))
			fail_msg("page %d is %s", k, k == p ? "not dirty" : "dirty");
}

static void test_dirty_every_path(void **state)
{
	struct testdev_fx *f = *state;
	int fd;
	uint8_t *mem = guest_mem(MIB, &fd);
	assert_int_equal(guest_map(f, mem, fd, 0), 0);
	uint8_t *other = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct uvfio_dma_region r = { .vaddr = other, .iova = NOFD_IOVA, .size = MIB,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = -1 };
	assert_int_equal(uvfio_client_dma_map(f->c, &r), 0);
	assert_int_equal(uvfio_client_dma_logging_start(f->c, PG, NULL, 0), 0);
	expect_dirty(f->c, -1);
	/* uvfio_server_dma_write() through the mapping */
	assert_int_equal(td_device_copy(f->c, IOVA, IOVA + 3 * PG + 100, 16), 0);
	expect_dirty(f->c, 3);
	expect_dirty(f->c, -1); /* and only in that report */
	/* ... through DMA_WRITE messages */
	assert_int_equal(td_device_copy(f->c, IOVA, NOFD_IOVA + 70 * PG, 16), 0);
	expect_dirty(f->c, MIB / PG + 70);
	expect_dirty(f->c, -1);
	/* a pointer from uvfio_server_dma_sg(): translating is not writing */
	td_wr64(f->c, TD_SG_IOVA, IOVA + 200 * PG);
	expect_dirty(f->c, -1);
	td_wr64(f->c, TD_SG_WRITE, 0x77);
	assert_int_equal(mem[200 * PG], 0x77);
	expect_dirty(f->c, 200);
	expect_dirty(f->c, -1);
	/* the pointer the dma_map callback got */
	td_wr64(f->c, TD_MAP_WRITE, 9 * PG + 8);
	assert_int_equal(mem[9 * PG + 8], 0xd1);
	expect_dirty(f->c, 9);
	expect_dirty(f->c, -1);
	assert_int_equal(uvfio_client_dma_logging_stop(f->c), 0);
	assert_int_equal(uvfio_client_dma_unmap(f->c, NOFD_IOVA, MIB), 0);
	munmap(other, MIB);
	guest_unmap(f, mem, fd);
}

/* Marks from another thread while reports are taken: every page marked once
 * is reported exactly once (a report that read the bits, then cleared them
 * apart, would lose the marks that fell in between). */
struct marker {
	struct uvfio_server *srv;
	unsigned done; /* atomic */
};

#define MARKS 4096u

static void *mark_pages(void *arg)
{
	struct marker *m = arg;
	for (unsigned p = 0; p < MARKS; p++)
		assert_int_equal(uvfio_server_dma_mark_dirty(m->srv, IOVA + (uint64_t)p * PG, 1), 0);
	__atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_dirty_concurrent_marks(void **state)
{
	struct testdev_fx *f = *state;
	uint64_t len = (uint64_t)MARKS * PG;
	struct uvfio_dma_region r = { .vaddr = NULL, .iova = IOVA, .size = len,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = -1 };
	r.vaddr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_int_equal(uvfio_client_dma_map(f->c, &r), 0);
	assert_int_equal(uvfio_client_dma_logging_start(f->c, PG, NULL, 0), 0);
	struct marker m = { .srv = f->dev->srv };
	pthread_t t;
	pthread_create(&t, NULL, mark_pages, &m);
	static uint64_t seen[MARKS / 64], bm[MARKS / 64];
	memset(seen, 0, sizeof(seen));
	unsigned reports = 0;
	for (bool last = false; !last; reports++) {
		last = __atomic_load_n(&m.done, __ATOMIC_ACQUIRE);
		memset(bm, 0, sizeof(bm));
		assert_int_equal(uvfio_client_dma_logging_report(f->c, IOVA, len, PG, bm), 0);
		for (unsigned w = 0; w < MARKS / 64; w++) {
			if (seen[w] & bm[w])
				fail_msg("a page reported twice (word %u)", w);
			seen[w] |= bm[w];
		}
	}
	pthread_join(t, NULL);
	for (unsigned w = 0; w < MARKS / 64; w++)
		if (seen[w] != UINT64_MAX)
			fail_msg("marks lost in word %u: %#llx", w, (unsigned long long)seen[w]);
	assert_true(reports >= 1);
	assert_int_equal(uvfio_client_dma_logging_stop(f->c), 0);
	assert_int_equal(uvfio_client_dma_unmap(f->c, IOVA, len), 0);
	munmap(r.vaddr, len);
}

/* ---- The handler itself, in child processes ------------------------------------ */

/* A mapping whose second page has no file behind it. */
static uint8_t *short_mapping(void)
{
	int fd = memfd_of(8192);
	uint8_t *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
	return p;
}

static void own_handler(int sig)
{
	(void)sig;
	_exit(42);
}

/* Run fn in a child; returns its wait status. */
static int in_child(void (*fn)(uint8_t *p))
{
	uint8_t *p = short_mapping();
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL); /* cmocka's catches it during a test */
		fn(p);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	munmap(p, 8192);
	return st;
}

static volatile uint8_t sink;

/* Guarded copies fail with EIO, repeatedly; a fault outside them still
 * takes the default action. */
static void child_default(uint8_t *p)
{
	uint8_t buf[64];
	if (vu_guard_install() < 0 || vu_guarded_copy(buf, p + 4096, 64, p + 4096) != -EIO ||
	    vu_guarded_copy(p + 4100, buf, 64, p + 4100) != -EIO ||
	    vu_guarded_copy(buf, p, 64, p) != 0)
		_exit(1);
	/* a fault outside the client memory named: not the guard's */
	(void)vu_guarded_copy(p + 4096, buf, 64, buf);
	_exit(2);
}

static void child_unguarded(uint8_t *p)
{
	uint8_t buf[64];
	if (vu_guard_install() < 0 || vu_guarded_copy(buf, p + 4096, 64, p + 4096) != -EIO)
		_exit(1);
	sink = p[5000];
	_exit(2);
}

static void child_chained(uint8_t *p)
{
	signal(SIGBUS, own_handler); /* the application's, installed first */
	uint8_t buf[64];
	if (vu_guard_install() < 0 || vu_guarded_copy(buf, p + 4096, 64, p + 4096) != -EIO)
		_exit(1);
	sink = p[5000];
	_exit(2);
}

static void child_sent(uint8_t *p)
{
	(void)p;
	if (vu_guard_install() < 0)
		_exit(1);
	raise(SIGBUS); /* not a fault: the default action all the same */
	_exit(2);
}

static void test_handler_scope(void **state)
{
	(void)state;
	int st = in_child(child_default);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
	st = in_child(child_unguarded);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
	st = in_child(child_chained);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 42);
	st = in_child(child_sent);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
}

/* ---- A client flooding requests while the device waits for DMA ----------------- */

#define FLOOD 20000u   /* requests sent while the device waits */
#define FIRST 4096u    /* of them, written before the device starts waiting */
#define CHUNK 256u     /* requests per write */

struct flood {
	struct uvfio_server *srv;
	int fd;                /* the client's end */
	pthread_mutex_t wmu;   /* writes on fd */
	unsigned replies;      /* atomic: replies the client received */
	unsigned dma_requests; /* atomic; then dma_id and dma_req are set */
	uint16_t dma_id;
	uint8_t dma_req[16];
	long heap_before, heap_waited;
	int dma_result;
};

static ssize_t flood_bar(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
			 bool is_write)
{
	struct flood *fl = opaque;
	(void)region, (void)off;
	if (!is_write) {
		memset(buf, 0, count);
		return (ssize_t)count;
	}
	uint8_t data[64];
	fl->dma_result = uvfio_server_dma_read(fl->srv, 0x10000, data, sizeof(data));
	fl->heap_waited = heap_live(); /* the queue is at its fullest now */
	return (ssize_t)count;
}

static void flood_write(struct flood *fl, const void *buf, size_t len)
{
	pthread_mutex_lock(&fl->wmu);
	peer_write(fl->fd, buf, len, NULL, 0);
	pthread_mutex_unlock(&fl->wmu);
}

static void write_reads(struct flood *fl, unsigned n)
{
	uint8_t chunk[CHUNK * 32];
	for (unsigned i = 0; i < CHUNK; i++) {
		struct uvfio_hdr h = { .msg_id = (uint16_t)(1000 + i), .cmd = UVFIO_CMD_REGION_READ,
				       .msg_size = 32 };
		struct uvfio_region_access a = { .offset = 8, .region = 0, .count = 8 };
		memcpy(chunk + 32 * i, &h, 16);
		memcpy(chunk + 32 * i + 16, &a, 16);
	}
	for (unsigned k = 0; k < n; k += CHUNK)
		flood_write(fl, chunk, 32 * VU_MIN(CHUNK, n - k));
}

/* The client's reading side: counts replies and DMA requests (it never
 * blocks on anything else, so the server's replies always drain). */
static void *flood_reader(void *arg)
{
	struct flood *fl = arg;
	struct uvfio_hdr h;
	uint8_t body[256];
	while (peer_recv(fl->fd, &h, body, sizeof(body), NULL, NULL)) {
		if ((h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
			__atomic_add_fetch(&fl->replies, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		memcpy(fl->dma_req, body, sizeof(fl->dma_req));
		fl->dma_id = h.msg_id;
		__atomic_add_fetch(&fl->dma_requests, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* The rest of the flood, then the answer to the DMA request as an honest
 * client sends it: behind the flood. */
static void *flood_writer(void *arg)
{
	struct flood *fl = arg;
	write_reads(fl, FLOOD - FIRST);
	while (!__atomic_load_n(&fl->dma_requests, __ATOMIC_SEQ_CST))
		sched_yield();
	uint8_t rep[16 + 16 + 64] = { 0 };
	struct uvfio_hdr r = { .msg_id = fl->dma_id, .cmd = UVFIO_CMD_DMA_READ,
			       .msg_size = sizeof(rep), .flags = UVFIO_FLAGS_TYPE_REPLY };
	memcpy(rep, &r, 16);
	memcpy(rep + 16, fl->dma_req, 16); /* addr and count as asked */
	flood_write(fl, rep, sizeof(rep));
	return NULL;
}

/* While the device waits for a DMA reply on the main socket, the client
 * sends 20,000 requests: the server queues at most VU_SRV_QUEUE_MAX of them
 * and leaves the rest in the socket (it used to queue them all: 1.5 GiB in
 * 4 s against a faster client); the DMA, whose reply is behind them, times
 * out; afterwards every request is answered. */
static void test_flood_while_waiting(void **state)
{
	(void)state;
	struct flood fl = { .wmu = PTHREAD_MUTEX_INITIALIZER };
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .opaque = &fl,
					   .no_twin_socket = true, .timeout_ms = 500 };
	assert_int_equal(uvfio_server_create(&cfg, &fl.srv), 0);
	struct uvfio_region_desc bar = { .size = 4096, .fn = flood_bar,
					 .flags = VFIO_REGION_INFO_FLAG_READ |
						  VFIO_REGION_INFO_FLAG_WRITE };
	assert_int_equal(uvfio_server_setup_region(fl.srv, 0, &bar, NULL), 0);
	/* memory without a descriptor, so DMA goes by messages */
	fl.fd = raw_connect(fl.srv, NULL);
	struct uvfio_dma_map dm = { .argsz = 32, .flags = 3, .addr = 0x10000, .size = 0x10000 };
	assert_int_equal(raw_call(fl.srv, fl.fd, UVFIO_CMD_DMA_MAP, &dm, sizeof(dm), NULL, 0, NULL),
			 0);
	pthread_t reader, writer;
	pthread_create(&reader, NULL, flood_reader, &fl);
	/* the write that makes the device wait, and the first of the flood
	 * behind it, all in the socket before the server reads any */
	uint8_t trig[36] = { 0 };
	struct uvfio_hdr h = { .msg_id = 3, .cmd = UVFIO_CMD_REGION_WRITE, .msg_size = 36 };
	memcpy(trig, &h, 16);
	memcpy(trig + 16, &(struct uvfio_region_access){ 0, 0, 4 }, 16);
	flood_write(&fl, trig, 20); /* split, as a stream may */
	flood_write(&fl, trig + 20, 16);
	write_reads(&fl, FIRST);
	pthread_create(&writer, NULL, flood_writer, &fl);
	fl.heap_before = heap_live();
	while (__atomic_load_n(&fl.replies, __ATOMIC_SEQ_CST) < 1 + FLOOD) {
		struct pollfd pf = { .fd = uvfio_server_poll_fd(fl.srv), .events = POLLIN };
		poll(&pf, 1, 100);
		assert_true(uvfio_server_dispatch(fl.srv) >= 0);
	}
	pthread_join(writer, NULL);
	assert_int_equal(fl.dma_result, -ETIMEDOUT);
	assert_int_equal(__atomic_load_n(&fl.dma_requests, __ATOMIC_SEQ_CST), 1);
	long grew = fl.heap_waited - fl.heap_before;
	size_t bound = VU_SRV_QUEUE_MAX * (sizeof(struct vu_msg) + VU_MSG_SMALL + 64);
	if (grew < 0 || (size_t)grew > bound)
		fail_msg("the server grew by %ld bytes while waiting (bound %zu)", grew, bound);
	assert_true((size_t)grew > bound / 2); /* the queue did fill */
	if (getenv("UVFIO_TEST_VERBOSE"))
		fprintf(stderr, "# heap grew by %ld bytes while the device waited\n", grew);
	shutdown(fl.fd, SHUT_RDWR); /* ends the reader's wait */
	pthread_join(reader, NULL);
	close(fl.fd);
	uvfio_server_destroy(fl.srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_map_past_end, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_shrunk_after_map, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_require_seal, setup_sealed, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_dirty_every_path, setup, testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_dirty_concurrent_marks, setup, testdev_fx_teardown),
		cmocka_unit_test(test_handler_scope),
		cmocka_unit_test(test_flood_while_waiting),
	};
	return cmocka_run_group_tests_name("server_dma", tests, NULL, NULL);
}
