/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Posted writes: per-thread program order against later requests and
 * flush, with coalescing into REGION_WRITE_MULTI from several threads, and
 * the client's send buffer (post_delay_us): writes leave together, in
 * order, before anything sent after them, at the delay, at flush; a buffer
 * that cannot be sent fails its writes exactly. Waits here are hang bounds,
 * never speed checks.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "internal.h"
#include "peer.h"
#include "testdev.h"
#include "util.h"

#define HANG_MS 20000 /* a bound for "never", not a speed check */
#define W_MAGIC 0x5eed1234u

static const char *caps_wm = "{\"capabilities\":{\"write_multiple\":true}}";

static void efd_signal(int efd)
{
	uint64_t one = 1;
	if (write(efd, &one, sizeof(one)) != sizeof(one))
		abort();
}

static bool efd_wait(int efd, int ms)
{
	struct pollfd pf = { .fd = efd, .events = POLLIN };
	uint64_t v;
	return poll(&pf, 1, ms) == 1 && read(efd, &v, sizeof(v)) == sizeof(v);
}

static unsigned waiting_any(struct uvfio_client *c)
{
	pthread_mutex_lock(&c->mu);
	unsigned n = c->nany;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Until cond() or the hang bound. */
#define WAIT_FOR(cond)                                                                 \
	do {                                                                           \
		int waited_ = 0;                                                       \
		while (!(cond) && waited_++ < HANG_MS)                                 \
			usleep(1000);                                                  \
		assert_true(cond);                                                     \
	} while (0)

/* ---- Program order with coalescing, several threads ------------------------------- */

struct order_peer {
	int answer_x;   /* eventfd: answer the held request */
	int acked_w;    /* atomic: the write carrying W_MAGIC was acknowledged */
};

/* A scripted server: holds the first request (a read) until told, then
 * answers everything, noting when the write of W_MAGIC is acknowledged. */
static void script_order(struct peer *p)
{
	struct order_peer *o = p->arg;
	peer_version(p->fd, 1, caps_wm);
	struct uvfio_hdr h;
	static uint8_t body[1 << 16];
	if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL))
		return;
	if (!efd_wait(o->answer_x, HANG_MS))
		return;
	uint8_t rep[64];
	peer_write(p->fd, rep, peer_read_reply(&h, body, 7, rep), NULL, 0);
	while (peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) {
		if (h.cmd == UVFIO_CMD_REGION_WRITE_MULTI) {
			struct uvfio_write_multi wm;
			memcpy(&wm, body, sizeof(wm));
			for (uint64_t i = 0; i < wm.wr_cnt; i++) {
				struct uvfio_write_multi_entry e;
				memcpy(&e, body + sizeof(wm) + i * sizeof(e), sizeof(e));
				uint32_t v;
				memcpy(&v, e.data, 4);
				if (v == W_MAGIC)
					__atomic_store_n(&o->acked_w, 1, __ATOMIC_SEQ_CST);
			}
			peer_reply(p->fd, &h, &wm, sizeof(wm));
		} else if (h.cmd == UVFIO_CMD_REGION_READ) {
			peer_write(p->fd, rep, peer_read_reply(&h, body, 7, rep), NULL, 0);
		} else {
			peer_reply(p->fd, &h, body, 16); /* REGION_WRITE: its access */
		}
	}
	p->result = 0;
}

struct thread_a {
	struct uvfio_client *c;
	struct order_peer *o;
	int go;
	int posted, flushed; /* atomic */
	int flush_r, acked_at_flush;
};

static void *run_a(void *arg)
{
	struct thread_a *a = arg;
	uint32_t v = W_MAGIC;
	assert_int_equal(uvfio_client_region_write_posted(a->c, 0, 0x10, &v, 4), 0);
	__atomic_store_n(&a->posted, 1, __ATOMIC_SEQ_CST);
	if (!efd_wait(a->go, HANG_MS))
		abort();
	a->flush_r = uvfio_client_flush(a->c);
	a->acked_at_flush = __atomic_load_n(&a->o->acked_w, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->flushed, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *run_b(void *arg)
{
	struct uvfio_client *c = arg;
	for (uint32_t i = 0; i < UVFIO_WRITE_MULTI_MAX - 1; i++)
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0x20, &i, 4), 0);
	return NULL;
}

static void async_done(void *opaque, int result, const void *rep, size_t len)
{
	(void)rep, (void)len;
	*(int *)opaque = result + 1;
}

/*
 * Thread A posts a write (gathered), thread B posts 63 more: the 64th of
 * the batch. Then A flushes: its write must be acknowledged when the flush
 * returns 0. The library before the send buffer let B take A's write into
 * its batch and wait for room (max_in_flight 1, the one slot held by an
 * unanswered read) while A's flush found nothing gathered and nothing in
 * flight and returned at once: A's write was sent after A's flush (and
 * could be sent after A's next request).
 */
static void test_gathered_write_before_flush(void **state)
{
	(void)state;
	struct order_peer o = { .answer_x = eventfd(0, EFD_CLOEXEC) };
	struct peer *p = peer_start(script_order, &o);
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .timeout_ms = HANG_MS,
					   .coalesce_posted = true, .max_in_flight = 1 };
	struct uvfio_client *c = peer_client(p, &cfg);
	struct uvfio_region_access x = { .region = 0, .offset = 0, .count = 4 };
	int xdone = 0;
	assert_int_equal(uvfio_client_call_async(c, UVFIO_CMD_REGION_READ, &x, sizeof(x),
						 async_done, &xdone),
			 0);
	struct thread_a a = { .c = c, .o = &o, .go = eventfd(0, EFD_CLOEXEC) };
	pthread_t ta, tb;
	pthread_create(&ta, NULL, run_a, &a);
	/* A's write is gathered, or A waits for room */
	WAIT_FOR(__atomic_load_n(&a.posted, __ATOMIC_SEQ_CST) || waiting_any(c) >= 1);
	pthread_create(&tb, NULL, run_b, c);
	/* someone waits for room: B with the batch, or A (and B) */
	WAIT_FOR(waiting_any(c) >= 1);
	efd_signal(a.go);
	/* A flushed, or is still waiting for room for its write */
	WAIT_FOR(__atomic_load_n(&a.flushed, __ATOMIC_SEQ_CST) ||
		 !__atomic_load_n(&a.posted, __ATOMIC_SEQ_CST));
	efd_signal(o.answer_x);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(uvfio_client_flush(c), 0);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_int_equal(xdone, 1);
	assert_int_equal(a.flush_r, 0);
	assert_true(a.acked_at_flush);
	close(a.go);
	close(o.answer_x);
}

/* ---- Program order, several threads, every option ------------------------------- */

#define NTHREADS 4
#define ROUNDS 300

/* A server that checks each thread's order: a posted write carries
 * (thread << 24 | seq) at offset 0x100 + 8 * thread; a synchronous read at
 * offset (thread << 16 | seq) must come after that thread's write seq. */
struct order_check {
	uint32_t last[NTHREADS];
	int bad;     /* a read overtook a write */
	unsigned writes;
};

static void note_write(struct order_check *o, uint64_t offset, const uint8_t *data, uint32_t n)
{
	if (offset < 0x100 || n != 4)
		return;
	uint32_t v;
	memcpy(&v, data, 4);
	unsigned t = v >> 24;
	if (t < NTHREADS && offset == 0x100 + 8u * t) {
		if ((v & 0xffffff) != o->last[t] + 1)
			o->bad = 1; /* out of order, or one lost */
		o->last[t] = v & 0xffffff;
	}
	o->writes++;
}

static void script_check_order(struct peer *p)
{
	struct order_check *o = p->arg;
	peer_version(p->fd, 1, caps_wm);
	struct uvfio_hdr h;
	static uint8_t body[1 << 16];
	uint8_t rep[64];
	while (peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) {
		if (h.cmd == UVFIO_CMD_REGION_WRITE_MULTI) {
			struct uvfio_write_multi wm;
			memcpy(&wm, body, sizeof(wm));
			for (uint64_t i = 0; i < wm.wr_cnt; i++) {
				struct uvfio_write_multi_entry e;
				memcpy(&e, body + sizeof(wm) + i * sizeof(e), sizeof(e));
				note_write(o, e.offset, e.data, e.count);
			}
			peer_reply(p->fd, &h, &wm, sizeof(wm));
		} else if (h.cmd == UVFIO_CMD_REGION_WRITE) {
			struct uvfio_region_access a;
			memcpy(&a, body, sizeof(a));
			note_write(o, a.offset, body + sizeof(a), a.count);
			peer_reply(p->fd, &h, body, sizeof(a));
		} else if (h.cmd == UVFIO_CMD_REGION_READ) {
			struct uvfio_region_access a;
			memcpy(&a, body, sizeof(a));
			unsigned t = (unsigned)(a.offset >> 16);
			if (t < NTHREADS && o->last[t] != (a.offset & 0xffff))
				o->bad = 1;
			peer_write(p->fd, rep, peer_read_reply(&h, body, 0, rep), NULL, 0);
		} else {
			peer_reply(p->fd, &h, NULL, 0);
		}
	}
	p->result = 0;
}

struct order_thread {
	struct uvfio_client *c;
	unsigned t;
	unsigned seed;
};

static void *order_work(void *arg)
{
	struct order_thread *w = arg;
	unsigned seed = w->seed;
	uint32_t seq = 0;
	for (unsigned r = 0; r < ROUNDS; r++) {
		unsigned burst = 1 + (unsigned)rand_r(&seed) % 20;
		for (unsigned k = 0; k < burst; k++) {
			uint32_t v = w->t << 24 | ++seq;
			assert_int_equal(uvfio_client_region_write_posted(w->c, 0, 0x100 + 8u * w->t,
									 &v, 4),
					 0);
		}
		uint32_t x;
		assert_int_equal(uvfio_client_region_read(w->c, 0, (uint64_t)w->t << 16 | seq, &x, 4),
				 0);
	}
	return NULL;
}

static void run_order(const struct uvfio_client_config *cfg)
{
	struct order_check o = { 0 };
	struct peer *p = peer_start(script_check_order, &o);
	struct uvfio_client *c = peer_client(p, cfg);
	pthread_t th[NTHREADS];
	struct order_thread w[NTHREADS];
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct order_thread){ c, i, 100 + i };
		pthread_create(&th[i], NULL, order_work, &w[i]);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(uvfio_client_flush(c), 0);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_false(o.bad);
	for (unsigned i = 0; i < NTHREADS; i++)
		assert_true(o.last[i] >= ROUNDS);
}

static void test_thread_order(void **state)
{
	(void)state;
	static const struct {
		bool coalesce;
		uint32_t delay, in_flight;
		int mode;
	} k[] = {
		{ false, 0, 0, 0 },   { true, 0, 0, 0 },    { false, 200, 0, 0 },
		{ true, 200, 0, 0 },  { true, 0, 2, 0 },    { true, 200, 3, 0 },
		{ true, 200, 0, 1 },  { false, 50, 0, 1 },
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		struct uvfio_client_config cfg = { .log = { .level = -1 }, .timeout_ms = HANG_MS,
						   .coalesce_posted = k[i].coalesce,
						   .post_delay_us = k[i].delay,
						   .max_in_flight = k[i].in_flight, .mode = k[i].mode };
		run_order(&cfg);
	}
}

/* ---- When buffered writes leave ------------------------------------------------------ */

/* Counts the writes that arrive, signalling each; answers everything (with
 * hold, the writes only once release is signalled). */
struct arrivals {
	int efd;
	int release; /* eventfd, with hold */
	bool hold;
	unsigned writes; /* atomic */
	int read_first;  /* a read came before the write it follows */
};

static void script_arrivals(struct peer *p)
{
	struct arrivals *a = p->arg;
	peer_version(p->fd, 1, caps_wm);
	struct uvfio_hdr h;
	static uint8_t body[1 << 16];
	static struct uvfio_hdr held[2000];
	unsigned nheld = 0;
	uint8_t rep[64];
	for (;;) {
		struct pollfd pf[2] = { { .fd = p->fd, .events = POLLIN },
					{ .fd = a->hold ? a->release : -1, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0)
			return;
		if (pf[1].revents) {
			efd_wait(a->release, 0);
			a->hold = false;
			struct uvfio_region_access acc = { .count = 4 };
			for (unsigned i = 0; i < nheld; i++)
				peer_reply(p->fd, &held[i], &acc, sizeof(acc));
		}
		if (!pf[0].revents)
			continue;
		if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL))
			break;
		if (h.cmd == UVFIO_CMD_REGION_WRITE) {
			__atomic_add_fetch(&a->writes, 1, __ATOMIC_SEQ_CST);
			if (a->hold && nheld < 2000)
				held[nheld++] = h;
			else
				peer_reply(p->fd, &h, body, 16);
			efd_signal(a->efd);
		} else if (h.cmd == UVFIO_CMD_REGION_READ) {
			a->read_first |= !__atomic_load_n(&a->writes, __ATOMIC_SEQ_CST);
			peer_write(p->fd, rep, peer_read_reply(&h, body, 0, rep), NULL, 0);
		}
	}
	p->result = 0;
}

static struct uvfio_client *arrivals_client(struct peer **p, struct arrivals *a, uint32_t delay,
					    int mode)
{
	a->efd = eventfd(0, EFD_CLOEXEC);
	*p = peer_start(script_arrivals, a);
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .timeout_ms = HANG_MS,
					   .post_delay_us = delay, .mode = mode };
	return peer_client(*p, &cfg);
}

/* A client that posted one write, not sent yet with a delay. */
static struct uvfio_client *lone_write(struct peer **p, struct arrivals *a, uint32_t delay,
				       int mode)
{
	struct uvfio_client *c = arrivals_client(p, a, delay, mode);
	uint32_t v = 1;
	assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 4), 0);
	return c;
}

/* The end of an arrivals test: everything acknowledged, nothing left. */
static void arrivals_end(struct uvfio_client *c, struct peer *p, struct arrivals *a)
{
	assert_int_equal(uvfio_client_flush(c), 0);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	close(a->efd);
}

/* A lone write leaves by its delay: sent by the service thread. */
static void test_delay_service_thread(void **state)
{
	(void)state;
	struct arrivals a = { 0 };
	struct peer *p;
	struct uvfio_client *c = lone_write(&p, &a, 1000, UVFIO_CLIENT_SERVICE_THREAD);
	assert_true(efd_wait(a.efd, HANG_MS));
	arrivals_end(c, p, &a);
}

/* ... or by the event loop: poll_fd turns readable, dispatch sends it. */
static void test_delay_event_loop(void **state)
{
	(void)state;
	struct arrivals a = { 0 };
	struct peer *p;
	struct uvfio_client *c = lone_write(&p, &a, 1000, UVFIO_CLIENT_EVENT_LOOP);
	struct pollfd pf[2] = { { .fd = uvfio_client_poll_fd(c), .events = POLLIN },
				{ .fd = a.efd, .events = POLLIN } };
	bool arrived = false;
	for (int i = 0; i < HANG_MS / 10 && !arrived; i++) {
		assert_true(poll(pf, 2, 10) >= 0);
		if (pf[0].revents)
			assert_true(uvfio_client_dispatch(c) >= 0);
		arrived = pf[1].revents;
	}
	assert_true(arrived);
	arrivals_end(c, p, &a);
}

/* A long delay: the write leaves with the next request, before it. */
static void test_leaves_before_next_request(void **state)
{
	(void)state;
	struct arrivals a = { 0 };
	struct peer *p;
	struct uvfio_client *c = lone_write(&p, &a, 1000000, UVFIO_CLIENT_EVENT_LOOP);
	assert_int_equal(__atomic_load_n(&a.writes, __ATOMIC_SEQ_CST), 0);
	uint32_t v;
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), 0);
	assert_false(a.read_first);
	assert_int_equal(__atomic_load_n(&a.writes, __ATOMIC_SEQ_CST), 1);
	arrivals_end(c, p, &a);
}

/* ... and when the buffer is full, without any other call (the server
 * holds its replies: nothing is read meanwhile). */
static void test_leaves_when_full(void **state)
{
	(void)state;
	struct arrivals a = { .hold = true, .release = eventfd(0, EFD_CLOEXEC) };
	struct peer *p;
	struct uvfio_client *c = arrivals_client(&p, &a, 1000000, UVFIO_CLIENT_EVENT_LOOP);
	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &i, 4), 0);
	/* 36 bytes each: two full buffers of 16 KiB left, the rest waits (the
	 * delay is never enforced: nobody dispatches) */
	unsigned full = 2 * (VU_POST_BUF / 36);
	WAIT_FOR(__atomic_load_n(&a.writes, __ATOMIC_SEQ_CST) >= full);
	assert_int_equal(c->post.len, (1000 - full) * 36);
	efd_signal(a.release);
	assert_int_equal(uvfio_client_flush(c), 0);
	assert_int_equal(__atomic_load_n(&a.writes, __ATOMIC_SEQ_CST), 1000);
	arrivals_end(c, p, &a);
	close(a.release);
}

/* A server that never reads: the buffer cannot leave. Every call returns
 * (0 or an error, never a hang past the timeout), flush reports it, close
 * leaves no descriptor behind. */
static void script_deaf(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	int *stop = p->arg;
	efd_wait(*stop, HANG_MS);
	p->result = 0;
}

static void test_buffer_cannot_leave(void **state)
{
	(void)state;
	int fds = tu_count_fds();
	int stop = eventfd(0, EFD_CLOEXEC);
	struct peer *p = peer_start(script_deaf, &stop);
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .timeout_ms = 300,
					   .post_delay_us = 1000000 };
	struct uvfio_client *c = peer_client(p, &cfg);
	int r = 0;
	uint32_t v = 0;
	static uint8_t big[4096];
	for (int i = 0; i < 20000 && r == 0; i++)
		r = uvfio_client_region_write_posted(c, 0, 0, big, sizeof(big) / 2);
	assert_true(r == -ETIMEDOUT || r == -ECONNRESET);
	r = uvfio_client_flush(c);
	assert_true(r == -ETIMEDOUT || r == -ECONNRESET);
	(void)v;
	efd_signal(stop);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	close(stop);
	assert_int_equal(tu_count_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gathered_write_before_flush),
		cmocka_unit_test(test_thread_order),
		cmocka_unit_test(test_delay_service_thread),
		cmocka_unit_test(test_delay_event_loop),
		cmocka_unit_test(test_leaves_before_next_request),
		cmocka_unit_test(test_leaves_when_full),
		cmocka_unit_test(test_buffer_cannot_leave),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
