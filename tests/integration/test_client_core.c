/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client's message core against scripted servers, one test per defect
 * it once had: messages left in the receive buffer after a reply (event-loop
 * and service-thread mode), 65,537 requests in flight, posted writes and
 * asynchronous requests without a deadline, no way to stop a client whose
 * calls are blocked, and uvfio_client_dispatch() that could not tell "nothing
 * to do" from "another thread reads". Waits in these tests are hang bounds
 * (a failure shows as a bound reached), never speed checks.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "peer.h"
#include "testdev.h"
#include "util.h"

#define HANG_MS 20000 /* a bound for "never", not a speed check */

static const struct uvfio_client_config quiet = { .log = { .level = -1 }, .timeout_ms = 5000 };

/* Read (and drop) whatever the client sends until it hangs up. */
static void until_eof(int fd)
{
	struct uvfio_hdr h;
	static __thread uint8_t body[1 << 21];
	while (peer_recv(fd, &h, body, sizeof(body), NULL, NULL))
		;
}

static bool readable(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	return poll(&pf, 1, ms) == 1;
}

static void efd_signal(int efd)
{
	uint64_t one = 1;
	if (write(efd, &one, sizeof(one)) != sizeof(one))
		abort();
}

static void efd_wait(int efd)
{
	uint64_t v;
	assert_true(readable(efd, HANG_MS));
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
}

struct async_res {
	int n, result;
	uint32_t value;
	int efd; /* signalled at completion, or -1 */
};

static void async_cb(void *opaque, int result, const void *rep, size_t len)
{
	struct async_res *r = opaque;
	r->result = result;
	if (result == 0 && len == 20)
		memcpy(&r->value, (const uint8_t *)rep + 16, 4);
	__atomic_add_fetch(&r->n, 1, __ATOMIC_RELEASE);
	if (r->efd >= 0)
		efd_signal(r->efd);
}

static int async_read_of(struct uvfio_client *c, uint32_t region, struct async_res *res)
{
	struct uvfio_region_access a = { .offset = 0, .region = region, .count = 4 };
	return uvfio_client_call_async(c, UVFIO_CMD_REGION_READ, &a, sizeof(a), async_cb, res);
}

static int async_read(struct uvfio_client *c, struct async_res *res)
{
	return async_read_of(c, 0, res);
}

/* ---- Messages stranded behind a reply --------------------------------------- */

/* The replies to an asynchronous and a synchronous request, in one write,
 * the synchronous one first. */
static void script_two_replies_in_one_write(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr ha, hb;
	uint8_t ra[64], rb[64], out[128];
	peer_recv(p->fd, &ha, ra, sizeof(ra), NULL, NULL);
	peer_recv(p->fd, &hb, rb, sizeof(rb), NULL, NULL);
	size_t n = peer_read_reply(&hb, rb, 2, out);
	n += peer_read_reply(&ha, ra, 1, out + n);
	peer_write(p->fd, out, n, NULL, 0);
	p->result = 0;
	until_eof(p->fd);
}

/* Event-loop mode: the asynchronous reply that came in the same read as a
 * synchronous one is delivered, or poll_fd says so; it used to stay in the
 * buffer with poll_fd never readable. */
static void test_stranded_event_loop(void **state)
{
	(void)state;
	struct peer *p = peer_start(script_two_replies_in_one_write, NULL);
	struct uvfio_client *c = peer_client(p, &quiet);
	struct async_res res = { .efd = -1 };
	assert_int_equal(async_read(c, &res), 0);
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), 0);
	assert_int_equal(v, 2);
	while (!__atomic_load_n(&res.n, __ATOMIC_ACQUIRE)) {
		/* an event loop sleeps until poll_fd is readable */
		if (!readable(uvfio_client_poll_fd(c), HANG_MS))
			fail_msg("the async reply is buffered but poll_fd is not readable");
		assert_true(uvfio_client_dispatch(c) >= 0);
	}
	assert_int_equal(res.n, 1);
	assert_int_equal(res.result, 0);
	assert_int_equal(res.value, 1);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
}

#define DMA_IOVA 0x100000u

/* A reply with the server's DMA_WRITE right behind it, in one write; the
 * script then waits for the client's answer to the DMA_WRITE. */
static void script_reply_then_dma_write(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t req[256], out[256];
	peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL); /* DMA_MAP */
	peer_reply(p->fd, &h, NULL, 0);
	peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL); /* REGION_READ */
	size_t n = peer_read_reply(&h, req, 7, out);
	struct uvfio_hdr dh = { .msg_id = 0x7000, .cmd = UVFIO_CMD_DMA_WRITE,
				.msg_size = 16 + 16 + 8, .flags = UVFIO_FLAGS_TYPE_COMMAND };
	struct uvfio_dma_access a = { .addr = DMA_IOVA + 8, .count = 8 };
	memcpy(out + n, &dh, 16);
	memcpy(out + n + 16, &a, 16);
	memcpy(out + n + 32, "written!", 8);
	peer_write(p->fd, out, n + 40, NULL, 0);
	p->result = 1;
	if (readable(p->fd, HANG_MS) && peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL) &&
	    h.msg_id == 0x7000 && h.cmd == UVFIO_CMD_DMA_WRITE &&
	    (h.flags & (UVFIO_FLAGS_TYPE_MASK | UVFIO_FLAGS_ERROR)) == UVFIO_FLAGS_TYPE_REPLY)
		p->result = 0;
	efd_signal(*(int *)p->arg);
	until_eof(p->fd);
}

/* Service-thread mode, no twin socket: the DMA_WRITE that came in the same
 * read as a reply is answered; it used to wait in the buffer forever. */
static void test_stranded_service_thread(void **state)
{
	(void)state;
	int done = eventfd(0, EFD_CLOEXEC);
	struct peer *p = peer_start(script_reply_then_dma_write, &done);
	struct uvfio_client_config cfg = quiet;
	cfg.mode = UVFIO_CLIENT_SERVICE_THREAD;
	cfg.twin_socket = UVFIO_TWIN_OFF;
	struct uvfio_client *c = peer_client(p, &cfg);
	static uint8_t mem[4096];
	struct uvfio_dma_region r = { .vaddr = mem, .iova = DMA_IOVA, .size = sizeof(mem),
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE, .fd = -1 };
	assert_int_equal(uvfio_client_dma_map(c, &r), 0);
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), 0);
	assert_int_equal(v, 7);
	efd_wait(done); /* the script has its answer, or gave up waiting */
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_memory_equal(mem + 8, "written!", 8);
	close(done);
}

/* ---- Requests in flight: bounded, timed ------------------------------------------ */

struct silent {
	int go;       /* eventfd: answer everything received so far, then serve */
	unsigned n;   /* requests received */
	bool dup;     /* an id came twice while its request was unanswered */
	uint8_t *seen; /* by id: unanswered */
};

/* Reads every request and answers none until told; then answers all (late
 * replies, many per write) and serves what follows. */
static void script_silent_then_late(struct peer *p)
{
	struct silent *s = p->arg;
	peer_version(p->fd, 1, NULL);
	enum { MAXQ = 70000 };
	struct uvfio_hdr *q = calloc(MAXQ, sizeof(*q));
	uint8_t body[256];
	for (;;) {
		struct pollfd pf[2] = { { .fd = p->fd, .events = POLLIN },
					{ .fd = s->go, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0)
			break;
		if (pf[1].revents)
			break;
		struct uvfio_hdr h;
		if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) {
			free(q);
			p->result = 0;
			return;
		}
		if (s->seen[h.msg_id])
			s->dup = true;
		s->seen[h.msg_id] = 1;
		if (s->n < MAXQ)
			q[s->n] = h;
		__atomic_add_fetch(&s->n, 1, __ATOMIC_RELAXED);
	}
	/* late replies, 64 to a write */
	uint8_t *out = malloc(64 * 16);
	unsigned k = 0;
	for (unsigned i = 0; i < s->n && i < MAXQ; i++) {
		struct uvfio_hdr r = { .msg_id = q[i].msg_id, .cmd = q[i].cmd, .msg_size = 16,
				       .flags = UVFIO_FLAGS_TYPE_REPLY };
		memcpy(out + 16 * k++, &r, 16);
		if (k == 64 || i + 1 == s->n) {
			peer_write(p->fd, out, 16 * k, NULL, 0);
			k = 0;
		}
	}
	free(out);
	free(q);
	/* then an ordinary server: 4-byte reads answer 9, the rest empty */
	struct uvfio_hdr h;
	uint8_t rep[64];
	while (peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) {
		if (h.cmd == UVFIO_CMD_REGION_READ)
			peer_write(p->fd, rep, peer_read_reply(&h, body, 9, rep), NULL, 0);
		else
			peer_reply(p->fd, &h, NULL, 0);
	}
	p->result = 0;
}

/* 65,537 posted writes to a server that reads them and answers none: the
 * first max_in_flight (default 1024) are sent with distinct ids, the next
 * waits for room until they time out and fails with -EHOSTDOWN (every
 * request in flight timed out, nothing came since: test_client_edges);
 * flush reports the timeouts, an asynchronous call fails at once too; the
 * late replies end that and free the room. The 65,537th call used to spin
 * forever holding the client's lock. */
static void test_in_flight_limit(void **state)
{
	(void)state;
	alarm(300); /* the defect was a spin: end the program rather than hang */
	struct silent s = { .go = eventfd(0, EFD_CLOEXEC), .seen = calloc(65536, 1) };
	struct peer *p = peer_start(script_silent_then_late, &s);
	struct uvfio_client_config cfg = quiet;
	cfg.timeout_ms = 200;
	struct uvfio_client *c = peer_client(p, &cfg);
	uint32_t v = 1;
	int r = 0;
	unsigned i;
	for (i = 0; i < 65537; i++)
		if ((r = uvfio_client_region_write_posted(c, 0, 0, &v, 4)) < 0)
			break;
	assert_int_equal(r, -EHOSTDOWN);
	assert_int_equal(i, 1024);
	assert_int_equal(uvfio_client_flush(c), -ETIMEDOUT); /* they timed out */
	assert_int_equal(uvfio_client_flush(c), 0);          /* reported once */
	struct async_res res = { .efd = -1 };
	assert_int_equal(async_read(c, &res), -EHOSTDOWN); /* not sent */
	assert_int_equal(res.n, 0);
	efd_signal(s.go);
	assert_int_equal(uvfio_client_set_timeout(c, HANG_MS), 0);
	v = 0;
	/* until the late replies have come */
	for (int ms = 0; (r = uvfio_client_region_read(c, 0, 0, &v, 4)) == -EHOSTDOWN &&
			 ms < HANG_MS;
	     ms++)
		usleep(1000);
	assert_int_equal(r, 0);
	assert_int_equal(v, 9);
	assert_int_equal(uvfio_client_flush(c), 0);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_int_equal(s.n, 1024); /* before the late replies */
	assert_false(s.dup);
	close(s.go);
	free(s.seen);
	alarm(0);
}

/* Reads and never answers. */
static void script_silent(struct peer *p)
{
	peer_version(p->fd, 1, p->arg);
	p->result = 0;
	until_eof(p->fd);
}

/* A posted write and an asynchronous request time out like a synchronous
 * one, with nobody waiting: an event loop that sleeps on poll_fd wakes for
 * the deadline, the callback gets -ETIMEDOUT, flush reports the write. */
static void test_unwaited_time_out_event_loop(void **state)
{
	(void)state;
	struct peer *p = peer_start(script_silent, NULL);
	struct uvfio_client_config cfg = quiet;
	cfg.timeout_ms = 100;
	struct uvfio_client *c = peer_client(p, &cfg);
	struct async_res res = { .efd = -1 };
	uint32_t v = 1;
	assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 4), 0);
	assert_int_equal(async_read(c, &res), 0);
	while (!__atomic_load_n(&res.n, __ATOMIC_ACQUIRE)) {
		if (!readable(uvfio_client_poll_fd(c), HANG_MS))
			fail_msg("poll_fd never woke the event loop for the deadline");
		assert_true(uvfio_client_dispatch(c) >= 0);
	}
	assert_int_equal(res.result, -ETIMEDOUT);
	assert_int_equal(uvfio_client_flush(c), -ETIMEDOUT);
	/* the connection stays usable; nothing else pending: poll_fd quiet */
	assert_int_equal(uvfio_client_dispatch(c), 0);
	assert_false(readable(uvfio_client_poll_fd(c), 0));
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_int_equal(res.n, 1);
}

/* The same with the service thread enforcing the deadline, twin socket on
 * and off. */
static void test_unwaited_time_out_service_thread(void **state)
{
	(void)state;
	for (int twin = 0; twin < 2; twin++) {
		struct peer *p = peer_start(script_silent, NULL);
		struct uvfio_client_config cfg = quiet;
		cfg.timeout_ms = 100;
		cfg.mode = UVFIO_CLIENT_SERVICE_THREAD;
		cfg.twin_socket = UVFIO_TWIN_OFF; /* the script offers no twin socket */
		struct uvfio_client *c = peer_client(p, &cfg);
		struct async_res res = { .efd = eventfd(0, EFD_CLOEXEC) };
		if (twin) {
			uint32_t v = 1;
			assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 4), 0);
		}
		assert_int_equal(async_read(c, &res), 0);
		efd_wait(res.efd);
		assert_int_equal(res.result, -ETIMEDOUT);
		assert_int_equal(uvfio_client_flush(c), twin ? -ETIMEDOUT : 0);
		uvfio_client_close(c);
		assert_int_equal(peer_join(p), 0);
		assert_int_equal(res.n, 1);
		close(res.efd);
	}
}

/* An asynchronous request made when no thread reads: its reply is delivered
 * with no further call, by the service thread (twin socket on and off: with
 * it, the main socket carries only replies, and the thread must be told to
 * watch it) or by an event loop asleep on poll_fd. No timeout: a reply left
 * unread would wait forever. */
static void test_async_alone(void **state)
{
	(void)state;
	for (int k = 0; k < 4; k++) {
		bool service = k & 1, twin = k & 2;
		struct testdev_opts o = { .no_twin_socket = !twin };
		struct testdev *d = testdev_start(&o);
		struct uvfio_client_config cfg = quiet;
		cfg.timeout_ms = -1;
		cfg.mode = service ? UVFIO_CLIENT_SERVICE_THREAD : UVFIO_CLIENT_EVENT_LOOP;
		cfg.twin_socket = twin ? UVFIO_TWIN_ON : UVFIO_TWIN_OFF;
		struct uvfio_client *c;
		assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
		assert_int_equal(uvfio_client_twin_socket(c), twin);
		for (int round = 0; round < 3; round++) {
			struct async_res res = { .efd = eventfd(0, EFD_CLOEXEC) };
			assert_int_equal(async_read_of(c, 1, &res), 0); /* BAR1: memory */
			if (service) {
				efd_wait(res.efd);
			} else {
				while (!__atomic_load_n(&res.n, __ATOMIC_ACQUIRE)) {
					if (!readable(uvfio_client_poll_fd(c), HANG_MS))
						fail_msg("case %d: poll_fd never readable", k);
					assert_true(uvfio_client_dispatch(c) >= 0);
				}
			}
			assert_int_equal(res.result, 0);
			close(res.efd);
		}
		uvfio_client_close(c);
		testdev_stop(d);
	}
}

/* ---- Stopping a client ----------------------------------------------------------------- */

struct blocked {
	struct uvfio_client *c;
	int what;
	int result;
};

enum { B_SYNC, B_FLUSH, B_ROOM, B_SEND, B_EVENT_LOOP, B_COUNT };

static void *blocked_call(void *arg)
{
	struct blocked *b = arg;
	static uint8_t big[1 << 20];
	uint32_t v = 0;
	switch (b->what) {
	case B_SYNC:
		b->result = uvfio_client_region_read(b->c, 0, 0, &v, 4);
		break;
	case B_FLUSH:
		b->result = uvfio_client_flush(b->c);
		break;
	case B_ROOM:
		b->result = uvfio_client_region_write_posted(b->c, 0, 0, &v, 4);
		break;
	case B_SEND: /* the server does not read: the socket fills */
		b->result = uvfio_client_region_write(b->c, 0, 0, big, sizeof(big));
		break;
	case B_EVENT_LOOP:
		for (;;) {
			struct pollfd pf = { .fd = uvfio_client_poll_fd(b->c), .events = POLLIN };
			if (poll(&pf, 1, -1) != 1)
				continue;
			int r = uvfio_client_dispatch(b->c);
			if (r < 0 && r != -EBUSY) {
				b->result = r;
				break;
			}
		}
		break;
	}
	return NULL;
}

/* Reads three requests and says so; says so again once a fourth has begun
 * to arrive; then reads nothing more until the client hangs up. */
static void script_read_then_stall(struct peer *p)
{
	int *got = p->arg;
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t body[256];
	for (unsigned i = 0; i < 3; i++)
		peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL);
	efd_signal(*got);
	while (recv(p->fd, body, 16, MSG_PEEK) < 16)
		readable(p->fd, -1);
	efd_signal(*got);
	struct pollfd pf = { .fd = p->fd, .events = POLLRDHUP };
	while (poll(&pf, 1, -1) < 0 || !(pf.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		;
	p->result = 0;
}

/*
 * uvfio_client_shutdown() from another thread returns every blocked call at
 * once with -ESHUTDOWN — a synchronous call, a flush, a call waiting for
 * room, a send into a full socket, an event loop asleep on poll_fd — and
 * every later call fails the same way; close is then safe. Once for each
 * mode (the service thread must end too).
 */
static void test_shutdown_unblocks_everything(void **state)
{
	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		int got = eventfd(0, EFD_CLOEXEC);
		struct peer *p = peer_start(script_read_then_stall, &got);
		struct uvfio_client_config cfg = quiet;
		cfg.timeout_ms = -1; /* nothing ends by itself */
		cfg.max_in_flight = 4;
		cfg.mode = mode ? UVFIO_CLIENT_SERVICE_THREAD : UVFIO_CLIENT_EVENT_LOOP;
		cfg.twin_socket = UVFIO_TWIN_OFF;
		struct uvfio_client *c = peer_client(p, &cfg);
		/* Four requests in flight, the limit: two posted writes, a
		 * synchronous read, a 1 MiB write that fills the socket. */
		uint32_t v = 1;
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 4), 0);
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 4), 0);
		pthread_t t[B_COUNT];
		struct blocked b[B_COUNT];
		for (int i = 0; i < B_COUNT; i++)
			b[i] = (struct blocked){ c, i, 1 };
		pthread_create(&t[B_SYNC], NULL, blocked_call, &b[B_SYNC]);
		efd_wait(got);
		pthread_create(&t[B_SEND], NULL, blocked_call, &b[B_SEND]);
		efd_wait(got);
		/* then a flush, a call that finds no room, an event loop */
		for (int i = B_FLUSH; i < B_COUNT; i++)
			if (i != B_SEND && (i != B_EVENT_LOOP || mode == 0))
				pthread_create(&t[i], NULL, blocked_call, &b[i]);
		assert_int_equal(uvfio_client_shutdown(c), 0);
		for (int i = 0; i < B_COUNT; i++) {
			if (i == B_EVENT_LOOP && mode)
				continue;
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += HANG_MS / 1000;
			if (pthread_timedjoin_np(t[i], NULL, &until))
				fail_msg("mode %d: call %d still blocked after shutdown", mode, i);
			if (b[i].result != -ESHUTDOWN)
				fail_msg("mode %d: call %d returned %d", mode, i, b[i].result);
		}
		/* later calls fail the same way, at once */
		assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), -ESHUTDOWN);
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 4), -ESHUTDOWN);
		assert_int_equal(uvfio_client_flush(c), -ESHUTDOWN);
		assert_int_equal(uvfio_client_dispatch(c), -ESHUTDOWN);
		struct async_res res = { .efd = -1 };
		assert_int_equal(async_read(c, &res), -ESHUTDOWN);
		assert_int_equal(uvfio_client_shutdown(c), 0); /* again: harmless */
		uvfio_client_close(c);
		assert_int_equal(peer_join(p), 0);
		close(got);
	}
}

/* An asynchronous request in flight at shutdown gets its callback, with
 * -ESHUTDOWN, once. */
static void test_shutdown_fails_async(void **state)
{
	(void)state;
	struct peer *p = peer_start(script_silent, NULL);
	struct uvfio_client *c = peer_client(p, &quiet);
	struct async_res res = { .efd = -1 };
	assert_int_equal(async_read(c, &res), 0);
	assert_int_equal(uvfio_client_shutdown(c), 0);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.result, -ESHUTDOWN);
	uvfio_client_close(c);
	assert_int_equal(res.n, 1);
	assert_int_equal(peer_join(p), 0);
}

/* ---- dispatch: nothing to do, or another thread reads ------------------------------------ */

struct gate {
	int got, go;
};

static void script_answer_when_told(struct peer *p)
{
	struct gate *g = p->arg;
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t body[64], rep[64];
	peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL);
	efd_signal(g->got);
	efd_wait(g->go);
	peer_write(p->fd, rep, peer_read_reply(&h, body, 5, rep), NULL, 0);
	p->result = 0;
	until_eof(p->fd);
}

static void test_dispatch_busy(void **state)
{
	(void)state;
	struct gate g = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	struct peer *p = peer_start(script_answer_when_told, &g);
	struct uvfio_client_config cfg = quiet;
	cfg.timeout_ms = -1;
	struct uvfio_client *c = peer_client(p, &cfg);
	assert_int_equal(uvfio_client_dispatch(c), 0); /* nothing to do */
	pthread_t t;
	struct blocked b = { c, B_SYNC, 1 };
	pthread_create(&t, NULL, blocked_call, &b);
	efd_wait(g.got);
	/* that thread took the reader role with its request and waits in it */
	assert_int_equal(uvfio_client_dispatch(c), -EBUSY);
	efd_signal(g.go);
	pthread_join(t, NULL);
	assert_int_equal(b.result, 0);
	assert_int_equal(uvfio_client_dispatch(c), 0);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	close(g.got);
	close(g.go);
}

/*
 * A reader that cannot take the send lock must not wait for it. Thread R
 * waits for its reply and reads; the main thread sends 1 MiB, which the
 * server stops reading after the header; the server sends a DMA_READ, then
 * a DMA_WRITE of 512 KiB it cannot finish writing until the client reads.
 * On the library before the answer queue, R blocked on the send lock to
 * answer the DMA_READ, the sender waited for a server blocked writing to
 * us: nothing moved until the send timeout, and the connection died. Now R
 * queues the answers and reads on; the sender answers them once its send
 * is over.
 */
#define STALL_IOVA (1ull << 20)
#define STALL_DMA (512u << 10)

struct stall {
	int got_r; /* eventfd: R's request arrived */
	uint8_t *read_back; /* what the DMA_READ reply carried */
};

static void dma_pattern(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + seed);
}

static void script_stall(struct peer *p)
{
	struct stall *s = p->arg;
	peer_version(p->fd, 1, "{\"capabilities\":{\"max_data_xfer_size\":1048576}}");
	struct uvfio_hdr h, hr, hs;
	static uint8_t body[(1 << 20) + 64];
	uint8_t req_r[64];
	/* the client's DMA_MAP, then R's read */
	if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL))
		return;
	peer_reply(p->fd, &h, NULL, 0);
	if (!peer_recv(p->fd, &hr, req_r, sizeof(req_r), NULL, NULL))
		return;
	efd_signal(s->got_r);
	/* the sender's header only: it holds the send lock from now on */
	if (read(p->fd, &hs, sizeof(hs)) != sizeof(hs))
		return;
	/* a DMA_READ, then a DMA_WRITE the client must read for it to end */
	struct {
		struct uvfio_hdr h;
		struct uvfio_dma_access a;
	} dr = { { .msg_id = 1, .cmd = UVFIO_CMD_DMA_READ, .msg_size = 32,
		   .flags = UVFIO_FLAGS_TYPE_COMMAND },
		 { .addr = STALL_IOVA, .count = 4096 } };
	peer_write(p->fd, &dr, sizeof(dr), NULL, 0);
	static uint8_t dw[32 + STALL_DMA];
	struct uvfio_hdr dwh = { .msg_id = 2, .cmd = UVFIO_CMD_DMA_WRITE, .msg_size = sizeof(dw),
				 .flags = UVFIO_FLAGS_TYPE_COMMAND };
	struct uvfio_dma_access dwa = { .addr = STALL_IOVA + 8192, .count = STALL_DMA };
	memcpy(dw, &dwh, 16);
	memcpy(dw + 16, &dwa, 16);
	dma_pattern(dw + 32, STALL_DMA, 3);
	if (!peer_write(p->fd, dw, sizeof(dw), NULL, 0))
		return;
	/* the rest of the sender's message, then the two answers */
	size_t left = hs.msg_size - sizeof(hs);
	for (size_t got = 0; got < left;) {
		ssize_t n = read(p->fd, body, VU_MIN(left - got, sizeof(body)));
		if (n <= 0)
			return;
		got += (size_t)n;
	}
	for (int k = 0; k < 2; k++) {
		if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL))
			return;
		if (h.cmd == UVFIO_CMD_DMA_READ && h.msg_size == 32 + 4096 &&
		    !(h.flags & UVFIO_FLAGS_ERROR))
			memcpy(s->read_back, body + 16, 4096);
		else if (h.cmd != UVFIO_CMD_DMA_WRITE || (h.flags & UVFIO_FLAGS_ERROR))
			return;
	}
	struct uvfio_region_access wa = { .count = 1u << 20 };
	peer_reply(p->fd, &hs, &wa, sizeof(wa));
	uint8_t rep[64];
	peer_write(p->fd, rep, peer_read_reply(&hr, req_r, 0x600d, rep), NULL, 0);
	p->result = 0;
	until_eof(p->fd);
}

struct reader_r {
	struct uvfio_client *c;
	int result;
	uint32_t v;
};

static void *run_r(void *arg)
{
	struct reader_r *r = arg;
	r->result = uvfio_client_region_read(r->c, 0, 0, &r->v, 4);
	return NULL;
}

static void test_reader_does_not_wait_for_send_lock(void **state)
{
	(void)state;
	struct stall s = { .got_r = eventfd(0, EFD_CLOEXEC), .read_back = calloc(1, 4096) };
	struct peer *p = peer_start(script_stall, &s);
	/* a stall shows as the send timing out: a hang bound, not speed */
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .timeout_ms = 5000,
					   .twin_socket = UVFIO_TWIN_OFF };
	struct uvfio_client *c = peer_client(p, &cfg);
	size_t len = 1u << 20;
	uint8_t *mem = calloc(1, len), *big = calloc(1, len);
	dma_pattern(mem, 4096, 1);
	struct uvfio_dma_region dr = { .vaddr = mem, .iova = STALL_IOVA, .size = len,
				       .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE, .fd = -1 };
	assert_int_equal(uvfio_client_dma_map(c, &dr), 0);
	struct reader_r r = { .c = c };
	pthread_t t;
	pthread_create(&t, NULL, run_r, &r);
	efd_wait(s.got_r);
	assert_int_equal(uvfio_client_region_write(c, 0, 0, big, len), 0);
	pthread_join(t, NULL);
	assert_int_equal(r.result, 0);
	assert_int_equal(r.v, 0x600d);
	assert_memory_equal(s.read_back, mem, 4096);
	uint8_t *want = malloc(STALL_DMA);
	dma_pattern(want, STALL_DMA, 3);
	assert_memory_equal(mem + 8192, want, STALL_DMA);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	close(s.got_r);
	free(s.read_back);
	free(mem);
	free(big);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stranded_event_loop),
		cmocka_unit_test(test_stranded_service_thread),
		cmocka_unit_test(test_in_flight_limit),
		cmocka_unit_test(test_unwaited_time_out_event_loop),
		cmocka_unit_test(test_unwaited_time_out_service_thread),
		cmocka_unit_test(test_async_alone),
		cmocka_unit_test(test_shutdown_unblocks_everything),
		cmocka_unit_test(test_shutdown_fails_async),
		cmocka_unit_test(test_dispatch_busy),
		cmocka_unit_test(test_reader_does_not_wait_for_send_lock),
	};
	return cmocka_run_group_tests_name("client_core", tests, NULL, NULL);
}
