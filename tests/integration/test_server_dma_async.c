/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Asynchronous DMA (uvfio_server_dma_*_async) against a raw client: the
 * test thread writes the client's messages (cut at random), drives the
 * server with uvfio_server_dispatch() and so is its serving thread, and
 * starts transfers itself between dispatches. Order of callbacks, the
 * server answering while DMA is in flight, bounds, cancellation by
 * disconnect, reset and DMA_UNMAP, timeouts, scatter-gather over mapped and
 * unmapped memory, the twin socket; the warning a blocking DMA on the
 * serving thread logs; a disconnect inside a dma_map callback that does DMA
 * by messages (issue 21 item 9). The last test runs threads (a real client
 * with its service thread, the server's loop, a device worker): under
 * ThreadSanitizer in CI.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "peer.h"
#include "rawclient.h"
#include "util.h"

#define M1 0x100000ull  /* 1 MiB reached through messages */
#define M2 0x400000ull  /* 1 MiB shared with a descriptor */
#define M3 0x800000ull  /* 64 KiB through messages */
#define M9 0x1000000ull /* its dma_map callback does DMA by messages */
#define MIB (1u << 20)

struct dev {
	struct uvfio_server *s;
	char events[4096]; /* what happened, in order */
	char log[8192];    /* warnings the library logged */
	uint8_t cmem[MIB + 65536]; /* the client's memory behind M1 and M3 */
	uint8_t *shared;           /* M2, this process's mapping of it */
	int memfd;
	bool in_map_cb;
	int map_cb_dma; /* the result of the DMA in M9's dma_map callback */
	unsigned maps, unmaps;
	unsigned done_calls;
};

static struct dev *D;

static void ev(struct dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ev(struct dev *d, const char *fmt, ...)
{
	size_t n = strlen(d->events);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->events + n, sizeof(d->events) - n, fmt, ap);
	va_end(ap);
}

static void log_fn(void *opaque, int level, const char *line)
{
	struct dev *d = opaque;
	(void)level;
	size_t n = strlen(d->log);
	snprintf(d->log + n, sizeof(d->log) - n, "%s\n", line);
}

static int reset_cb(void *opaque, enum uvfio_reset_type type)
{
	struct dev *d = opaque;
	assert_false(d->in_map_cb); /* never under a callback's feet */
	ev(d, "reset(%s) ", type == UVFIO_RESET_LOST_CONN ? "lost" : "dev");
	return 0;
}

static int dma_map_cb(void *opaque, uint64_t iova, uint64_t size, uint32_t prot, void *vaddr)
{
	struct dev *d = opaque;
	(void)size, (void)prot, (void)vaddr;
	d->maps++;
	if (iova == M9) {
		/* DMA by messages from the callback; the client is gone by now */
		d->in_map_cb = true;
		uint8_t b[64];
		d->map_cb_dma = uvfio_server_dma_read(d->s, M1, b, sizeof(b));
		/* the client's shared memory is out of reach too, although the
		 * maps are dropped only once this callback returns */
		int mapped = uvfio_server_dma_read(d->s, M2, b, sizeof(b));
		d->in_map_cb = false;
		ev(d, "map-dma(%d,%d) ", d->map_cb_dma, mapped);
	}
	return 0; /* accepted: the case that used to leave the map behind */
}

static void dma_unmap_cb(void *opaque, uint64_t iova, uint64_t size)
{
	struct dev *d = opaque;
	(void)size;
	assert_false(d->in_map_cb);
	d->unmaps++;
	ev(d, "unmap(%#llx) ", (unsigned long long)iova);
}

static void gone_cb(void *opaque)
{
	ev(opaque, "gone ");
}

/* BAR0: a write at 0 does a blocking DMA read of M1 on the serving thread. */
static ssize_t bar0(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		    bool is_write)
{
	struct dev *d = opaque;
	(void)region;
	if (is_write && off == 0) {
		uint8_t b[16];
		ev(d, "sync(%d) ", uvfio_server_dma_read(d->s, M1, b, sizeof(b)));
	} else if (!is_write) {
		memset(buf, 0x42, count);
	}
	return (ssize_t)count;
}

static const struct uvfio_device_ops ops = { .reset = reset_cb, .dma_map = dma_map_cb,
					     .dma_unmap = dma_unmap_cb, .client_gone = gone_cb };

static struct dev *dev_new(uint32_t timeout_ms)
{
	struct dev *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	struct uvfio_server_config cfg = { .log = { .fn = log_fn, .opaque = d,
						    .level = UVFIO_LOG_WARNING },
					   .ops = &ops, .opaque = d, .timeout_ms = timeout_ms };
	assert_int_equal(uvfio_server_create(&cfg, &d->s), 0);
	struct uvfio_pci_id id = { .vendor = 0xffff, .device = 0x1 };
	struct uvfio_region_desc r0 = { .size = 4096,
					.flags = VFIO_REGION_INFO_FLAG_READ |
						 VFIO_REGION_INFO_FLAG_WRITE,
					.fn = bar0 };
	assert_int_equal(uvfio_server_pci_init(d->s, &id), 0);
	assert_int_equal(uvfio_server_setup_region(d->s, 0, &r0, NULL), 0);
	d->memfd = memfd_create("m2", MFD_CLOEXEC);
	assert_int_equal(ftruncate(d->memfd, MIB), 0);
	d->shared = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
	assert_true(d->shared != MAP_FAILED);
	for (size_t i = 0; i < sizeof(d->cmem); i++)
		d->cmem[i] = (uint8_t)(i * 13 + 1);
	for (size_t i = 0; i < MIB; i++)
		d->shared[i] = (uint8_t)(i * 5 + 2);
	D = d;
	return d;
}

static void dev_free(struct dev *d)
{
	uvfio_server_destroy(d->s);
	munmap(d->shared, MIB);
	close(d->memfd);
	free(d);
}

static int dma_map(struct dev *d, int fd, uint64_t iova, uint64_t size, bool shared)
{
	struct uvfio_dma_map m = { .argsz = sizeof(m),
				   .flags = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				   .addr = iova, .size = size };
	int mfd = d->memfd;
	return raw_call(d->s, fd, UVFIO_CMD_DMA_MAP, &m, sizeof(m), shared ? &mfd : NULL,
			shared ? 1 : 0, NULL);
}

/* Set or clear Bus Master Enable in the Command register, as a driver does. */
static void bus_master(struct dev *d, int fd, bool on)
{
	uint16_t cmd = on ? 0x6 : 0x2;
	assert_int_equal(raw_region_write(d->s, fd, VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2), 0);
}

/* A client with M1 and M3 (messages) and M2 (shared); pieces of 64 KiB;
 * Bus Master Enable set. */
static int connect_dev(struct dev *d, int *twin)
{
	int fd = raw_connect_twin(d->s,
				  twin ? "{\"max_data_xfer_size\":65536,"
					 "\"twin_socket\":{\"supported\":true}}"
				       : "{\"max_data_xfer_size\":65536}",
				  twin);
	assert_int_equal(dma_map(d, fd, M1, MIB, false), 0);
	assert_int_equal(dma_map(d, fd, M2, MIB, true), 0);
	assert_int_equal(dma_map(d, fd, M3, 65536, false), 0);
	bus_master(d, fd, true);
	return fd;
}

/* The client's memory at iova (M1 or M3). */
static uint8_t *cmem_at(struct dev *d, uint64_t iova, uint64_t n)
{
	if (iova >= M3 && iova - M3 + n <= 65536)
		return d->cmem + MIB + (iova - M3);
	assert_true(iova >= M1 && iova - M1 + n <= MIB);
	return d->cmem + (iova - M1);
}

/* Requests from the server, read while the client waits for a reply. */
struct reqs {
	struct uvfio_hdr h[128];
	uint8_t *body[128];
	unsigned n;
};

static void reqs_add(struct reqs *q, const struct uvfio_hdr *h, const uint8_t *body)
{
	assert_true(q->n < 128);
	q->h[q->n] = *h;
	q->body[q->n] = malloc(h->msg_size);
	memcpy(q->body[q->n++], body, h->msg_size - 16);
}

/* Forget requests left unanswered. */
static void reqs_drop(struct reqs *q)
{
	for (unsigned i = 0; i < q->n; i++)
		free(q->body[i]);
	q->n = 0;
}

/* Send a request, dispatch, and return its reply's errno; DMA requests
 * the server sent meanwhile go to q, unanswered. */
static int call(struct dev *d, int fd, uint16_t cmd, const void *body, size_t len,
		struct raw_reply *rep, struct reqs *q)
{
	raw_send(fd, cmd, 0, body, len, NULL, 0);
	uvfio_server_dispatch(d->s);
	for (;;) {
		rep->nfds = 0;
		if (!peer_recv(fd, &rep->hdr, rep->body, sizeof(rep->body), rep->fds, &rep->nfds))
			return -1;
		raw_reply_close(rep);
		rep->len = rep->hdr.msg_size - 16;
		if (rep->hdr.flags & UVFIO_FLAGS_TYPE_REPLY)
			return rep->hdr.flags & UVFIO_FLAGS_ERROR ? (int)rep->hdr.error_no : 0;
		reqs_add(q, &rep->hdr, rep->body);
	}
}

/* Take one request from the server (blocking). */
static void take(int fd, struct reqs *q)
{
	static uint8_t body[70000];
	struct uvfio_hdr h;
	assert_true(peer_recv(fd, &h, body, sizeof(body), NULL, NULL) > 0);
	assert_int_equal(h.flags & UVFIO_FLAGS_TYPE_MASK, UVFIO_FLAGS_TYPE_COMMAND);
	reqs_add(q, &h, body);
}

/* Answer request i of q from the client's memory (the spec's layout). */
static void answer(struct dev *d, int fd, struct reqs *q, unsigned i)
{
	struct uvfio_hdr *h = &q->h[i];
	struct uvfio_dma_access a;
	memcpy(&a, q->body[i], sizeof(a));
	static uint8_t rep[16 + 16 + 70000];
	struct uvfio_hdr r = { .msg_id = h->msg_id, .cmd = h->cmd,
			       .flags = UVFIO_FLAGS_TYPE_REPLY };
	if (h->cmd == UVFIO_CMD_DMA_READ) {
		r.msg_size = (uint32_t)(32 + a.count);
		memcpy(rep + 32, cmem_at(d, a.addr, a.count), a.count);
	} else {
		assert_int_equal(h->cmd, UVFIO_CMD_DMA_WRITE);
		memcpy(cmem_at(d, a.addr, a.count), q->body[i] + sizeof(a), a.count);
		r.msg_size = 32;
	}
	memcpy(rep, &r, 16);
	memcpy(rep + 16, &a, 16);
	assert_true(peer_write(fd, rep, r.msg_size, NULL, 0));
	free(q->body[i]);
	q->body[i] = NULL;
}

/* Answer every request of q, the server reading each answer (a few of
 * 64 KiB fill the socket). */
static void answer_all(struct dev *d, int fd, struct reqs *q)
{
	for (unsigned i = 0; i < q->n; i++)
		if (q->body[i]) {
			answer(d, fd, q, i);
			uvfio_server_dispatch(d->s);
		}
	q->n = 0;
}

static void done_cb(void *arg, int result)
{
	D->done_calls++;
	ev(D, "%s:%d ", (const char *)arg, result);
}

/* Serve until events holds want (bounded). */
static void serve_until(struct dev *d, const char *want)
{
	for (int i = 0; i < 2000 && !strstr(d->events, want); i++) {
		struct pollfd pf = { .fd = uvfio_server_poll_fd(d->s), .events = POLLIN };
		poll(&pf, 1, 10);
		uvfio_server_dispatch(d->s);
	}
	if (!strstr(d->events, want))
		fail_msg("no \"%s\" in \"%s\"", want, d->events);
}

/* Callbacks in start order, never inside the starting call (also for
 * mapped memory, copied at once); the server answers the client while the
 * DMA of three transfers is in flight; data right both ways. */
static void test_order_and_serving(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	int fd = connect_dev(d, NULL);
	static uint8_t a[8192], b[4096], c[4096];
	for (size_t i = 0; i < sizeof(c); i++)
		c[i] = (uint8_t)(255 - i);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1 + 100, a, sizeof(a), done_cb, "A"), 0);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M2 + 200, b, sizeof(b), done_cb, "B"), 0);
	assert_int_equal(uvfio_server_dma_write_async(d->s, M1 + 65536, c, sizeof(c), done_cb, "C"),
			 0);
	assert_string_equal(d->events, ""); /* B is copied, not yet called back */
	assert_memory_equal(b, d->shared + 200, sizeof(b));
	/* B is over: a dispatch() user's poll fd says so */
	struct pollfd pf = { .fd = uvfio_server_poll_fd(d->s), .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 0), 1);
	/* the device answers while A and C wait for the client */
	struct reqs q = { 0 };
	struct raw_reply rep;
	struct uvfio_region_access ra = { .offset = 8, .region = 0, .count = 8 };
	assert_int_equal(call(d, fd, UVFIO_CMD_REGION_READ, &ra, sizeof(ra), &rep, &q), 0);
	assert_int_equal(rep.body[16], 0x42);
	assert_int_equal(q.n, 2); /* A's DMA_READ, C's DMA_WRITE */
	/* C answered first: called back only after A */
	assert_int_equal(q.h[1].cmd, UVFIO_CMD_DMA_WRITE);
	answer(d, fd, &q, 1);
	uvfio_server_dispatch(d->s);
	assert_string_equal(d->events, "");
	answer(d, fd, &q, 0);
	q.n = 0;
	serve_until(d, "C:");
	assert_string_equal(d->events, "A:0 B:0 C:0 ");
	assert_memory_equal(a, d->cmem + 100, sizeof(a));
	assert_memory_equal(d->cmem + 65536, c, sizeof(c));
	close(fd);
	dev_free(d);
}

/* A large transfer through mapped memory is copied a slice per pass of
 * the loop: requests are answered before it is over. */
static void test_mapped_slices(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	int fd = connect_dev(d, NULL);
	static uint8_t a[MIB];
	memset(a, 0, sizeof(a));
	assert_int_equal(uvfio_server_dma_read_async(d->s, M2, a, sizeof(a), done_cb, "A"), 0);
	assert_memory_equal(a, d->shared, 4096);              /* started */
	assert_int_equal(a[MIB - 1], 0);                      /* not finished */
	struct pollfd pf = { .fd = uvfio_server_poll_fd(d->s), .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 0), 1);                 /* the loop goes on */
	uint64_t v;
	assert_int_equal(raw_region_read(d->s, fd, 0, 8, &v, 8), 0); /* served meanwhile */
	serve_until(d, "A:");
	assert_string_equal(d->events, "A:0 ");
	assert_memory_equal(a, d->shared, MIB);
	close(fd);
	dev_free(d);
}

/* Argument checks, the serving thread only, the bound on transfers. */
static void *other_thread(void *arg)
{
	static uint8_t b[16];
	return (void *)(intptr_t)uvfio_server_dma_read_async(arg, M1, b, sizeof(b), done_cb, "X");
}

static void test_bounds(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	static uint8_t b[UVFIO_SERVER_DMA_ASYNC_MAX + 1][64];
	uvfio_server_dispatch(d->s); /* this thread serves; no client yet */
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, b[0], 64, done_cb, "A"), -ENOTCONN);
	int fd = connect_dev(d, NULL);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, b[0], 0, done_cb, "A"), -EINVAL);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, NULL, 64, done_cb, "A"), -EINVAL);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, b[0], 64, NULL, "A"), -EINVAL);
	assert_int_equal(uvfio_server_dma_read_async(d->s, UINT64_MAX - 8, b[0], 64, done_cb, "A"),
			 -EINVAL);
	static struct uvfio_dma_seg segs[UVFIO_SERVER_DMA_ASYNC_SEGS + 1];
	for (unsigned i = 0; i <= UVFIO_SERVER_DMA_ASYNC_SEGS; i++)
		segs[i] = (struct uvfio_dma_seg){ M1 + i, 1 };
	assert_int_equal(uvfio_server_dma_sg_async(d->s, segs, UVFIO_SERVER_DMA_ASYNC_SEGS + 1,
						   b[0], false, done_cb, "A"),
			 -E2BIG);
	pthread_t t;
	void *r;
	assert_int_equal(pthread_create(&t, NULL, other_thread, d->s), 0);
	pthread_join(t, &r);
	assert_int_equal((intptr_t)r, -EPERM);
	static char tags[UVFIO_SERVER_DMA_ASYNC_MAX][8];
	for (unsigned i = 0; i < UVFIO_SERVER_DMA_ASYNC_MAX; i++) {
		snprintf(tags[i], sizeof(tags[i]), "%u", i);
		assert_int_equal(uvfio_server_dma_read_async(d->s, M1 + 64 * i, b[i], 64, done_cb,
							     tags[i]),
				 0);
	}
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, b[64], 64, done_cb, "X"), -EAGAIN);
	struct reqs q = { 0 };
	for (unsigned i = 0; i < UVFIO_SERVER_DMA_ASYNC_MAX; i++)
		take(fd, &q);
	/* answered in reverse: called back in start order all the same */
	for (unsigned i = q.n; i-- > 0;)
		answer(d, fd, &q, i);
	q.n = 0;
	serve_until(d, "63:");
	char want[1024] = "";
	for (unsigned i = 0; i < UVFIO_SERVER_DMA_ASYNC_MAX; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%u:0 ", i);
	assert_string_equal(d->events, want);
	for (unsigned i = 0; i < UVFIO_SERVER_DMA_ASYNC_MAX; i++)
		assert_memory_equal(b[i], d->cmem + 64 * i, 64);
	/* room again */
	assert_int_equal(uvfio_server_dma_read_async(d->s, M2, b[64], 64, done_cb, "Y"), 0);
	serve_until(d, "Y:0");
	close(fd);
	dev_free(d);
}

/* The client leaves: a transfer in flight ends with -ECONNRESET, one that
 * finished before keeps its result; in start order, before the reset
 * (LOST_CONN), dma_unmap and client_gone callbacks. */
static void test_cancel_disconnect(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	int fd = connect_dev(d, NULL);
	static uint8_t a[4096], b[4096];
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, a, sizeof(a), done_cb, "A"), 0);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M2, b, sizeof(b), done_cb, "B"), 0);
	close(fd);
	serve_until(d, "gone");
	assert_string_equal(d->events, "A:-104 B:0 unmap(0x800000) unmap(0x400000) "
				       "unmap(0x100000) reset(lost) gone ");
	/* nothing left to do: the poll fd is quiet (a loop would spin) */
	struct pollfd pf = { .fd = uvfio_server_poll_fd(d->s), .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 0), 0);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, a, 16, done_cb, "C"), -ENOTCONN);
	dev_free(d);
}

/* A device reset cancels with -ECANCELED before the reset callback; the
 * client's late answer is dropped without a word, and DMA goes on. */
static void test_cancel_reset(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	int fd = connect_dev(d, NULL);
	static uint8_t a[4096];
	memset(a, 0xee, sizeof(a));
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, a, sizeof(a), done_cb, "A"), 0);
	struct reqs q = { 0 };
	struct raw_reply rep;
	assert_int_equal(call(d, fd, UVFIO_CMD_DEVICE_RESET, NULL, 0, &rep, &q), 0);
	assert_string_equal(d->events, "A:-125 reset(dev) ");
	assert_int_equal(q.n, 1);
	answer_all(d, fd, &q); /* late */
	uvfio_server_dispatch(d->s);
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(a[i], 0xee); /* nothing lands in the cancelled buffer */
	assert_null(strstr(d->log, "matches no request"));
	/* the reset cleared Bus Master Enable: refused until the driver sets
	 * it again (issue #21 item 4) */
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, a, sizeof(a), done_cb, "N"), 0);
	serve_until(d, "N:");
	bus_master(d, fd, true);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, a, sizeof(a), done_cb, "B"), 0);
	take(fd, &q);
	answer_all(d, fd, &q);
	serve_until(d, "B:");
	assert_string_equal(d->events, "A:-125 reset(dev) N:-19 B:0 ");
	assert_memory_equal(a, d->cmem, sizeof(a));
	close(fd);
	dev_free(d);
}

/* DMA_UNMAP of a range cancels the transfers that touch it, before the
 * dma_unmap callback and ahead of an earlier transfer still running,
 * which completes afterwards. */
static void test_cancel_unmap(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	int fd = connect_dev(d, NULL);
	static uint8_t e[4096], a[4096];
	assert_int_equal(uvfio_server_dma_read_async(d->s, M3, e, sizeof(e), done_cb, "E"), 0);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1 + 4096, a, sizeof(a), done_cb, "A"),
			 0);
	struct uvfio_dma_unmap um = { .argsz = sizeof(um), .addr = M1, .size = MIB };
	struct reqs q = { 0 };
	struct raw_reply rep;
	assert_int_equal(call(d, fd, UVFIO_CMD_DMA_UNMAP, &um, sizeof(um), &rep, &q), 0);
	assert_string_equal(d->events, "A:-125 unmap(0x100000) ");
	assert_int_equal(q.n, 2);
	answer_all(d, fd, &q);
	serve_until(d, "E:");
	assert_string_equal(d->events, "A:-125 unmap(0x100000) E:0 ");
	assert_memory_equal(e, d->cmem + MIB, sizeof(e));
	close(fd);
	dev_free(d);
}

/* No answer within timeout_ms: -ETIMEDOUT, woken by the poll fd alone. */
static void test_timeout(void **state)
{
	(void)state;
	struct dev *d = dev_new(100);
	int fd = connect_dev(d, NULL);
	static uint8_t a[4096];
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, a, sizeof(a), done_cb, "A"), 0);
	struct pollfd pf = { .fd = uvfio_server_poll_fd(d->s), .events = POLLIN };
	for (int i = 0; i < 100 && !d->done_calls; i++) {
		poll(&pf, 1, 1000);
		uvfio_server_dispatch(d->s);
	}
	assert_string_equal(d->events, "A:-110 ");
	/* the connection serves on; a late answer is dropped */
	struct reqs q = { 0 };
	take(fd, &q);
	answer_all(d, fd, &q);
	uint64_t v;
	assert_int_equal(raw_region_read(d->s, fd, 0, 0, &v, 8), 0);
	close(fd);
	dev_free(d);
}

/* Scatter-gather both ways over messages and mapped memory, pieces of at
 * most the client's 64 KiB; writes logged as the client acknowledges. */
static void test_sg(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	int fd = connect_dev(d, NULL);
	static const struct uvfio_dma_seg seg[] = {
		{ M1 + 10, 100000 }, { M2 + 7, 5000 }, { M3 + 1, 3 }, { M1 + 300000, 65536 }
	};
	uint64_t total = 100000 + 5000 + 3 + 65536;
	static uint8_t in[200000], out[200000], before[MIB + 65536];
	memcpy(before, d->cmem, sizeof(before));
	struct reqs q = { 0 };
	assert_int_equal(uvfio_server_dma_sg_async(d->s, seg, 4, in, false, done_cb, "R"), 0);
	while (!strstr(d->events, "R:")) {
		take(fd, &q);
		answer_all(d, fd, &q);
		uvfio_server_dispatch(d->s);
	}
	for (size_t i = 0; i < total; i++)
		out[i] = (uint8_t)(i * 31 + 7);
	assert_int_equal(uvfio_server_dma_sg_async(d->s, seg, 4, out, true, done_cb, "W"), 0);
	while (!strstr(d->events, "W:")) {
		take(fd, &q);
		answer_all(d, fd, &q);
		uvfio_server_dispatch(d->s);
	}
	assert_string_equal(d->events, "R:0 W:0 ");
	size_t at = 0;
	assert_memory_equal(in + at, before + 10, 100000);
	assert_memory_equal(in + 105000, before + MIB + 1, 3);
	assert_memory_equal(in + 105003, before + 300000, 65536);
	assert_memory_equal(out + at, d->cmem + 10, 100000);
	at += 100000;
	for (size_t i = 0; i < 5000; i++)
		assert_int_equal(in[at + i], (uint8_t)((7 + i) * 5 + 2));
	assert_memory_equal(out + at, d->shared + 7, 5000);
	at += 5000;
	assert_memory_equal(out + at, d->cmem + MIB + 1, 3);
	at += 3;
	assert_memory_equal(out + at, d->cmem + 300000, 65536);
	close(fd);
	dev_free(d);
}

/* Bus Master Enable cleared while a transfer runs: its next piece is
 * refused (-ENODEV), a mapped transfer too; set again, DMA works. */
static void test_bus_master(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	int fd = connect_dev(d, NULL);
	static uint8_t a[400000], b[4096]; /* 7 pieces of 64 KiB */
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, a, sizeof(a), done_cb, "A"), 0);
	struct reqs q = { 0 };
	take(fd, &q); /* the first 4 pieces of 64 KiB are out */
	take(fd, &q);
	take(fd, &q);
	take(fd, &q);
	bus_master(d, fd, false);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M2, b, sizeof(b), done_cb, "B"), 0);
	answer_all(d, fd, &q);
	serve_until(d, "B:");
	assert_string_equal(d->events, "A:-19 B:-19 ");
	bus_master(d, fd, true);
	assert_int_equal(uvfio_server_dma_read_async(d->s, M2, b, sizeof(b), done_cb, "C"), 0);
	serve_until(d, "C:");
	assert_string_equal(d->events, "A:-19 B:-19 C:0 ");
	assert_memory_equal(b, d->shared, sizeof(b));
	close(fd);
	dev_free(d);
}

/* With a twin socket the requests travel there; the serving loop reads it
 * while the main socket is answered. */
static void test_twin(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	int twin;
	int fd = connect_dev(d, &twin);
	assert_true(twin >= 0);
	static uint8_t a[100000];
	assert_int_equal(uvfio_server_dma_read_async(d->s, M1, a, sizeof(a), done_cb, "A"), 0);
	uint64_t v;
	assert_int_equal(raw_region_read(d->s, fd, 0, 8, &v, 8), 0);
	struct reqs q = { 0 };
	while (!strstr(d->events, "A:")) {
		take(twin, &q);
		answer_all(d, twin, &q);
		uvfio_server_dispatch(d->s);
	}
	assert_string_equal(d->events, "A:0 ");
	assert_memory_equal(a, d->cmem, sizeof(a));
	close(twin);
	close(fd);
	dev_free(d);
}

/* A blocking DMA by messages on the serving thread logs the QEMU rule,
 * once per connection. */
static void test_sync_warning(void **state)
{
	(void)state;
	struct dev *d = dev_new(100);
	int fd = connect_dev(d, NULL);
	uint8_t wr[24] = { 0 };
	struct uvfio_region_access ra = { .offset = 0, .region = 0, .count = 8 };
	memcpy(wr, &ra, sizeof(ra));
	struct reqs q = { 0 };
	struct raw_reply rep;
	for (int i = 0; i < 2; i++) /* nobody answers its DMA */
		assert_int_equal(call(d, fd, UVFIO_CMD_REGION_WRITE, wr, sizeof(wr), &rep, &q), 0);
	assert_string_equal(d->events, "sync(-110) sync(-110) ");
	const char *w = strstr(d->log, "vfio_user_send_wait()");
	if (!w || !strstr(d->log, "vfio_user_request()") || !strstr(d->log, "hw/vfio-user/proxy.c"))
		fail_msg("no warning naming QEMU's rule in: %s", d->log);
	assert_null(strstr(w + 1, "vfio_user_send_wait()")); /* once */
	reqs_drop(&q);
	close(fd);
	serve_until(d, "gone");
	/* a new connection is warned again */
	d->log[0] = 0;
	fd = connect_dev(d, NULL);
	assert_int_equal(call(d, fd, UVFIO_CMD_REGION_WRITE, wr, sizeof(wr), &rep, &q), 0);
	assert_non_null(strstr(d->log, "vfio_user_send_wait()"));
	reqs_drop(&q);
	close(fd);
	dev_free(d);
}

/* Item 9: the client leaves while a dma_map callback waits for DMA by
 * messages. The disconnect waits until the callback returns; the map it
 * accepted is then dropped with the others (it used to be inserted after
 * the table was emptied, and outlived the connection), and the reset
 * (LOST_CONN) never runs under the callback. */
static void test_disconnect_in_map_callback(void **state)
{
	(void)state;
	struct dev *d = dev_new(0);
	int fd = connect_dev(d, NULL);
	struct uvfio_dma_map m = { .argsz = sizeof(m),
				   .flags = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				   .addr = M9, .size = 65536 };
	raw_send(fd, UVFIO_CMD_DMA_MAP, 0, &m, sizeof(m), NULL, 0);
	shutdown(fd, SHUT_WR); /* gone, but for reading what the device sends */
	serve_until(d, "gone");
	assert_int_equal(d->map_cb_dma, -ECONNRESET);
	assert_string_equal(d->events, "map-dma(-104,-14) unmap(0x1000000) unmap(0x800000) "
				       "unmap(0x400000) unmap(0x100000) reset(lost) gone ");
	assert_int_equal(d->maps, d->unmaps);
	struct uvfio_sg sg;
	assert_int_equal(uvfio_server_dma_sg(d->s, M9, 16, UVFIO_DMA_FLAG_READ, &sg, 1), -EFAULT);
	/* the next client finds no trace of it */
	close(fd);
	fd = connect_dev(d, NULL);
	assert_int_equal(uvfio_server_dma_sg(d->s, M9, 16, UVFIO_DMA_FLAG_READ, &sg, 1), -EFAULT);
	close(fd);
	dev_free(d);
}

/* ---- Threads: the serving loop, a real client, a device worker --------------------- */

struct tdev {
	struct uvfio_server *s;
	pthread_t loop, worker;
	uint64_t src, dst, len;
	uint8_t *buf;
	int status; /* 0 idle, 1 done, 2 error, 4 busy */
	int stop_worker;
	int worker_err;
	char path[108];
};

static void t_wrote(void *arg, int r)
{
	struct tdev *t = arg;
	__atomic_store_n(&t->status, r ? 2 : 1, __ATOMIC_RELEASE);
}

static void t_read(void *arg, int r)
{
	struct tdev *t = arg;
	if (r == 0)
		r = uvfio_server_dma_write_async(t->s, t->dst, t->buf, t->len, t_wrote, t);
	if (r < 0)
		__atomic_store_n(&t->status, 2, __ATOMIC_RELEASE);
}

static ssize_t t_regs(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		      bool is_write)
{
	struct tdev *t = opaque;
	(void)region;
	uint64_t v = 0;
	if (!is_write) {
		v = (uint64_t)__atomic_load_n(&t->status, __ATOMIC_ACQUIRE);
		memcpy(buf, &v, 8);
		return (ssize_t)count;
	}
	memcpy(&v, buf, 8);
	if (off == 0)
		t->src = v;
	else if (off == 8)
		t->dst = v;
	else if (off == 16)
		t->len = v;
	else if (off == 24 && __atomic_load_n(&t->status, __ATOMIC_ACQUIRE) != 4) {
		__atomic_store_n(&t->status, 4, __ATOMIC_RELEASE);
		int r = uvfio_server_dma_read_async(t->s, t->src, t->buf, t->len, t_read, t);
		if (r < 0)
			__atomic_store_n(&t->status, 2, __ATOMIC_RELEASE);
	}
	return (ssize_t)count;
}

static void *t_loop(void *arg)
{
	struct tdev *t = arg;
	uvfio_server_run(t->s);
	return NULL;
}

/* A device thread doing blocking DMA by messages meanwhile (it shares the
 * twin socket's reading with the serving loop). */
static void *t_worker(void *arg)
{
	struct tdev *t = arg;
	uint8_t b[4096];
	while (!__atomic_load_n(&t->stop_worker, __ATOMIC_ACQUIRE)) {
		if (!uvfio_server_connected(t->s)) {
			usleep(1000);
			continue;
		}
		int r = uvfio_server_dma_read(t->s, M3, b, sizeof(b));
		/* before the maps, before Bus Master Enable, after the client */
		if (r < 0 && r != -ENOTCONN && r != -ECONNRESET && r != -EFAULT && r != -ENODEV)
			t->worker_err = r;
		usleep(200);
	}
	return NULL;
}

static void threaded(bool twin)
{
	struct tdev t = { .buf = malloc(MIB) };
	static const struct uvfio_device_ops tops = { 0 };
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .ops = &tops, .opaque = &t,
					   .no_twin_socket = !twin };
	assert_int_equal(uvfio_server_create(&cfg, &t.s), 0);
	struct uvfio_pci_id id = { .vendor = 0xffff, .device = 0x2 };
	struct uvfio_region_desc r0 = { .size = 4096,
					.flags = VFIO_REGION_INFO_FLAG_READ |
						 VFIO_REGION_INFO_FLAG_WRITE,
					.fn = t_regs };
	assert_int_equal(uvfio_server_pci_init(t.s, &id), 0);
	assert_int_equal(uvfio_server_setup_region(t.s, 0, &r0, NULL), 0);
	raw_listen(t.s, t.path);
	assert_int_equal(pthread_create(&t.loop, NULL, t_loop, &t), 0);
	assert_int_equal(pthread_create(&t.worker, NULL, t_worker, &t), 0);
	struct uvfio_client_config cc = { .log = { .level = -1 },
					  .mode = UVFIO_CLIENT_SERVICE_THREAD,
					  .twin_socket = twin ? UVFIO_TWIN_ON : UVFIO_TWIN_OFF };
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(t.path, &cc, &c), 0);
	uint8_t *mem = malloc(2 * MIB + 65536);
	for (size_t i = 0; i < MIB; i++)
		mem[i] = (uint8_t)(i * 11 + 5);
	struct uvfio_dma_region reg = { .vaddr = mem, .iova = M1, .size = 2 * MIB,
					.prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
					.fd = -1 };
	struct uvfio_dma_region reg3 = { .vaddr = mem + 2 * MIB, .iova = M3, .size = 65536,
					 .prot = UVFIO_DMA_FLAG_READ, .fd = -1 };
	assert_int_equal(uvfio_client_dma_map(c, &reg3), 0);
	assert_int_equal(uvfio_client_dma_map(c, &reg), 0);
	assert_int_equal(uvfio_client_bus_master(c, true), 0);
	for (int round = 0; round < 3; round++) {
		memset(mem + MIB, 0, MIB);
		uint64_t regs[4] = { M1, M1 + MIB, MIB, 1 };
		for (int k = 0; k < 4; k++)
			assert_int_equal(uvfio_client_region_write(c, 0, 8 * (uint64_t)k, &regs[k], 8), 0);
		uint64_t st = 4;
		for (int polls = 0; st == 4 && polls < 1000000; polls++)
			assert_int_equal(uvfio_client_region_read(c, 0, 0x20, &st, 8), 0);
		assert_int_equal(st, 1);
		assert_int_equal(uvfio_client_dma_unmap(c, M1, 2 * MIB), 0); /* orders the writes */
		assert_memory_equal(mem, mem + MIB, MIB);
		assert_int_equal(uvfio_client_dma_map(c, &reg), 0);
	}
	/* the client leaves in the middle of a copy */
	uint64_t regs[4] = { M1, M1 + MIB, MIB, 1 };
	for (int k = 0; k < 4; k++)
		assert_int_equal(uvfio_client_region_write(c, 0, 8 * (uint64_t)k, &regs[k], 8), 0);
	uvfio_client_close(c);
	for (int i = 0; i < 5000 && __atomic_load_n(&t.status, __ATOMIC_ACQUIRE) == 4; i++)
		usleep(1000);
	assert_int_not_equal(__atomic_load_n(&t.status, __ATOMIC_ACQUIRE), 4);
	__atomic_store_n(&t.stop_worker, 1, __ATOMIC_RELEASE);
	pthread_join(t.worker, NULL);
	assert_int_equal(t.worker_err, 0);
	uvfio_server_stop(t.s);
	pthread_join(t.loop, NULL);
	uvfio_server_destroy(t.s);
	free(mem);
	free(t.buf);
}

static void test_threads(void **state)
{
	(void)state;
	threaded(false);
}

static void test_threads_twin(void **state)
{
	(void)state;
	threaded(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_serving),
		cmocka_unit_test(test_mapped_slices),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_cancel_disconnect),
		cmocka_unit_test(test_cancel_reset),
		cmocka_unit_test(test_cancel_unmap),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_sg),
		cmocka_unit_test(test_bus_master),
		cmocka_unit_test(test_twin),
		cmocka_unit_test(test_sync_warning),
		cmocka_unit_test(test_disconnect_in_map_callback),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_threads_twin),
	};
	return cmocka_run_group_tests_name("server_dma_async", tests, NULL, NULL);
}
