/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client where its options meet (issue #22), one test per defect found
 * there and per behaviour decided: a large read from an asynchronous
 * callback when the connection dies, a timed-out asynchronous request and a
 * late reply racing, flush against writes posted after it began, the twin
 * socket with the service thread and coalescing, posted writes after
 * shutdown, a server that answers nothing, the timeout 0, the largest
 * max_in_flight, DMA answers on the twin socket while the main socket is
 * blocked. The scripted server coalesces and splits what it writes at
 * random. Waits are hang bounds, never speed checks.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "peer.h"
#include "util.h"

#define HANG_MS 20000 /* a bound for "never", not a speed check */

static const struct uvfio_client_config quiet = { .log = { .level = -1 }, .timeout_ms = 5000 };

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static bool readable(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	return poll(&pf, 1, ms) == 1;
}

static void ms_sleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- A scripted server -------------------------------------------------------------- */

/*
 * It answers REGION_READ (bytes i & 0xff), REGION_WRITE, REGION_WRITE_MULTI
 * and anything else with an empty reply; its replies are gathered while
 * more requests are waiting and written in pieces of random sizes. Options
 * make it silent, slow, or offer the twin socket and write_multiple.
 */
struct srv {
	struct peer *p;
	uint64_t rng;
	bool twin, multi; /* offer the twin socket, write_multiple */
	uint32_t max_xfer; /* its max_data_xfer_size (0: not said) */
	int twin_fd;      /* the server's end of the twin socket */
	int go;           /* eventfd: a silent server starts answering */
	bool silent;      /* answers nothing until go, then everything held */
	struct held {
		struct uvfio_hdr h;
		uint8_t req[32];
	} *held;
	unsigned nheld;
	unsigned delay_ms; /* each REGION_READ's reply this late */
	/* seen by the test, under mu */
	pthread_mutex_t mu;
	unsigned requests;
	uint8_t *ids; /* ids seen in flight (silent mode): 1 per id */
	bool dup;     /* an id used twice while in flight */
	uint16_t *log; /* ids of the requests in order, up to nlog_max */
	unsigned nlog, nlog_max;
};

static uint8_t out_buf[4u << 20];

/* Write [0, len) of buf in pieces of random size. */
static bool put_split(struct srv *s, int fd, const uint8_t *buf, size_t len)
{
	static const size_t caps[] = { 1, 16, 100, 4096, SIZE_MAX };
	for (size_t at = 0; at < len;) {
		size_t cap = caps[rnd(&s->rng) % 5];
		size_t n = 1 + rnd(&s->rng) % VU_MIN(cap, len - at);
		if (!peer_write(fd, buf + at, n, NULL, 0))
			return false;
		at += n;
	}
	return true;
}

/* The reply to request h (body req) appended at out; returns its size. */
static size_t answer_of(const struct uvfio_hdr *h, const uint8_t *req, uint8_t *out)
{
	struct uvfio_hdr r = { .msg_id = h->msg_id, .cmd = h->cmd, .flags = UVFIO_FLAGS_TYPE_REPLY,
			       .msg_size = 16 };
	struct uvfio_region_access a;
	memcpy(&a, req, sizeof(a));
	if (h->cmd == UVFIO_CMD_REGION_READ) {
		memcpy(out + 16, &a, sizeof(a));
		for (uint32_t i = 0; i < a.count; i++)
			out[32 + i] = (uint8_t)(a.offset + i);
		r.msg_size = 32 + a.count;
	} else if (h->cmd == UVFIO_CMD_REGION_WRITE) {
		a.count = (uint32_t)VU_MIN(a.count, h->msg_size - 32u);
		memcpy(out + 16, &a, sizeof(a));
		r.msg_size = 32;
	}
	memcpy(out, &r, 16);
	return r.msg_size;
}

static void srv_version(struct srv *s, int fd)
{
	struct uvfio_hdr h;
	uint8_t body[4096];
	if (!peer_recv(fd, &h, body, sizeof(body), NULL, NULL))
		return;
	char js[256], xf[64] = "";
	if (s->max_xfer)
		snprintf(xf, sizeof(xf), ",\"max_data_xfer_size\":%u", s->max_xfer);
	snprintf(js, sizeof(js), "{\"capabilities\":{\"write_multiple\":%s%s%s}}",
		 s->multi ? "true" : "false", xf,
		 s->twin ? ",\"twin_socket\":{\"supported\":true,\"fd_index\":0}" : "");
	uint8_t rep[512];
	struct uvfio_version v = { 0, 1 };
	size_t len = 16 + sizeof(v) + strlen(js) + 1;
	struct uvfio_hdr r = { .msg_id = h.msg_id, .cmd = h.cmd, .flags = UVFIO_FLAGS_TYPE_REPLY,
			       .msg_size = (uint32_t)len };
	memcpy(rep, &r, 16);
	memcpy(rep + 16, &v, sizeof(v));
	memcpy(rep + 16 + sizeof(v), js, strlen(js) + 1);
	int sv[2] = { -1, -1 };
	if (s->twin && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	s->twin_fd = sv[0];
	peer_write(fd, rep, len, s->twin ? &sv[1] : NULL, s->twin ? 1 : 0);
	if (s->twin)
		close(sv[1]);
}

/* The default script: version, then answer as the options say. */
static void srv_script(struct peer *p)
{
	struct srv *s = p->arg;
	srv_version(s, p->fd);
	static __thread uint8_t body[2u << 20];
	size_t out = 0;
	struct uvfio_hdr h;
	bool held = s->silent;
	for (;;) {
		struct pollfd pf[2] = { { .fd = p->fd, .events = POLLIN },
					{ .fd = held ? s->go : -1, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0)
			continue;
		if (pf[1].revents) { /* the late replies of what was held */
			held = false;
			for (unsigned i = 0; i < s->nheld; i++)
				out += answer_of(&s->held[i].h, s->held[i].req, out_buf + out);
			put_split(s, p->fd, out_buf, out);
			out = 0;
			continue;
		}
		if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL))
			break;
		pthread_mutex_lock(&s->mu);
		s->requests++;
		if (s->log && s->nlog < s->nlog_max)
			s->log[s->nlog++] = h.msg_id;
		if (s->ids && held) {
			s->dup |= s->ids[h.msg_id];
			s->ids[h.msg_id] = 1;
		}
		pthread_mutex_unlock(&s->mu);
		if (held) {
			if (s->nheld < 65536 && h.msg_size <= 48) {
				s->held[s->nheld].h = h;
				memcpy(s->held[s->nheld++].req, body, h.msg_size - 16);
			}
			continue;
		}
		if (s->delay_ms && h.cmd == UVFIO_CMD_REGION_READ)
			ms_sleep(s->delay_ms);
		if (out + 64 + (h.cmd == UVFIO_CMD_REGION_READ ? (2u << 20) : 0) > sizeof(out_buf)) {
			put_split(s, p->fd, out_buf, out);
			out = 0;
		}
		out += answer_of(&h, body, out_buf + out);
		/* more requests waiting: their replies go in the same writes */
		if (!readable(p->fd, 0) || rnd(&s->rng) % 4 == 0) {
			put_split(s, p->fd, out_buf, out);
			out = 0;
		}
	}
	p->result = 0;
}

static void srv_init(struct srv *s, peer_fn fn)
{
	s->rng = 22;
	s->twin_fd = -1;
	s->go = eventfd(0, EFD_CLOEXEC);
	if (s->silent)
		s->held = calloc(65536, sizeof(*s->held));
	pthread_mutex_init(&s->mu, NULL);
	s->p = peer_start(fn ? fn : srv_script, s);
}

static void srv_fini(struct srv *s)
{
	assert_int_equal(peer_join(s->p), 0);
	if (s->twin_fd >= 0)
		close(s->twin_fd);
	close(s->go);
	free(s->held);
	pthread_mutex_destroy(&s->mu);
}

static void srv_go(struct srv *s)
{
	uint64_t one = 1;
	assert_int_equal(write(s->go, &one, sizeof(one)), sizeof(one));
}

static unsigned srv_requests(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	unsigned n = s->requests;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- 1: a large read from an asynchronous callback, the connection dies ---------------- */

#define BIG (2u << 20) /* two pieces of 1 MiB */

struct big_read {
	struct srv s;
	bool hang_up;     /* the server hangs up; else the test shuts down */
	int sent;         /* eventfd: the server sent the first piece in part */
	struct uvfio_client *c;
	int result, n;
};

static void script_big_read(struct peer *p)
{
	struct big_read *b = p->arg;
	srv_version(&b->s, p->fd);
	static uint8_t body[64];
	struct uvfio_hdr h;
	if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) /* the async read */
		return;
	size_t n = answer_of(&h, body, out_buf);
	put_split(&b->s, p->fd, out_buf, n);
	struct uvfio_hdr ph[2];
	uint8_t req[2][16];
	for (int i = 0; i < 2; i++)
		if (!peer_recv(p->fd, &ph[i], req[i], sizeof(req[i]), NULL, NULL))
			return;
	/* piece 0's header and 64 KiB of its data, then no more */
	n = answer_of(&ph[0], req[0], out_buf);
	put_split(&b->s, p->fd, out_buf, 32 + 65536);
	(void)n;
	uint64_t one = 1;
	if (write(b->sent, &one, sizeof(one)) != sizeof(one))
		return;
	if (b->hang_up)
		shutdown(p->fd, SHUT_RDWR);
	while (peer_recv(p->fd, &h, out_buf, sizeof(out_buf), NULL, NULL))
		;
	p->result = 0;
}

/* The callback reads 2 MiB into a buffer of its own and frees it. */
static void big_read_cb(void *opaque, int result, const void *rep, size_t len)
{
	struct big_read *b = opaque;
	(void)rep;
	(void)len;
	if (result) {
		b->result = 1000 + result;
		b->n++;
		return;
	}
	uint8_t *buf = malloc(BIG);
	b->result = uvfio_client_region_read(b->c, 0, 0, buf, BIG);
	/* out of the library's reach now: scribble, then give it back */
	memset(buf, 0xee, BIG);
	free(buf);
	b->n++;
}

static void *shut_later(void *arg)
{
	struct big_read *b = arg;
	uint64_t v;
	if (read(b->sent, &v, sizeof(v)) == sizeof(v)) {
		ms_sleep(20); /* the callback's read waits for the rest by now */
		uvfio_client_shutdown(b->c);
	}
	return NULL;
}

/*
 * Event-loop mode: an asynchronous callback, run by uvfio_client_dispatch(),
 * reads 2 MiB (in two pieces, received straight into its buffer); the
 * server sends the first piece's header and 64 KiB of its data, then hangs
 * up (or another thread shuts the client down). The read fails, the
 * callback frees its buffer; nothing may touch that buffer afterwards (the
 * receive path used to copy the partial piece out of it when dispatch left
 * the reader role: a use after free).
 */
static void test_big_read_in_callback_dies(void **state)
{
	(void)state;
	for (int hang_up = 1; hang_up >= 0; hang_up--) {
		struct big_read b = { .hang_up = hang_up, .sent = eventfd(0, EFD_CLOEXEC) };
		srv_init(&b.s, script_big_read);
		b.c = peer_client(b.s.p, &quiet);
		pthread_t t;
		if (!hang_up)
			pthread_create(&t, NULL, shut_later, &b);
		struct uvfio_region_access a = { .offset = 0, .region = 0, .count = 4 };
		assert_int_equal(uvfio_client_call_async(b.c, UVFIO_CMD_REGION_READ, &a, sizeof(a),
							 big_read_cb, &b),
				 0);
		int r = 0;
		while (r >= 0 && readable(uvfio_client_poll_fd(b.c), HANG_MS))
			r = uvfio_client_dispatch(b.c);
		assert_int_equal(b.n, 1);
		assert_int_equal(b.result, hang_up ? -ECONNRESET : -ESHUTDOWN);
		assert_int_equal(r, hang_up ? -ECONNRESET : -ESHUTDOWN);
		if (!hang_up)
			pthread_join(t, NULL);
		uvfio_client_close(b.c);
		srv_fini(&b.s);
		close(b.sent);
	}
}

/* ---- 2: a timed-out asynchronous request and its late reply --------------------------- */

#define RACE_N 250

struct race_req {
	int which; /* 0: race_a's, 1: race_b's */
	uint32_t off;
	int runs, result;
	bool wrong; /* the other callback ran, or the data was wrong */
};

static void race_done(struct race_req *q, int which, int result, const void *rep, size_t len)
{
	q->wrong |= q->which != which;
	if (result == 0) {
		const uint8_t *d = (const uint8_t *)rep + 16;
		q->wrong |= len != 20 || d[0] != (uint8_t)q->off || d[3] != (uint8_t)(q->off + 3);
	}
	q->result = result;
	if (result == -ETIMEDOUT)
		ms_sleep(5); /* room for the late reply and the next request meanwhile */
	__atomic_add_fetch(&q->runs, 1, __ATOMIC_RELEASE);
}

static void race_a(void *opaque, int result, const void *rep, size_t len)
{
	race_done(opaque, 0, result, rep, len);
}

static void race_b(void *opaque, int result, const void *rep, size_t len)
{
	race_done(opaque, 1, result, rep, len);
}

struct racer {
	struct uvfio_client *c;
	int stop; /* atomic: the asynchronous thread is done */
	int bad;
};

/* Asynchronous reads, one at a time, the two callbacks taking turns. */
static void *race_async(void *arg)
{
	struct racer *w = arg;
	struct race_req *q = calloc(RACE_N, sizeof(*q));
	for (int i = 0; i < RACE_N; i++) {
		q[i] = (struct race_req){ .which = i % 2, .off = (uint32_t)i * 4 };
		struct uvfio_region_access a = { .offset = q[i].off, .count = 4 };
		int r = uvfio_client_call_async(w->c, UVFIO_CMD_REGION_READ, &a, sizeof(a),
						q[i].which ? race_b : race_a, &q[i]);
		for (int ms = 0; r == 0 && ms < HANG_MS &&
				 !__atomic_load_n(&q[i].runs, __ATOMIC_ACQUIRE);
		     ms++)
			ms_sleep(1);
		if (r == 0 && !__atomic_load_n(&q[i].runs, __ATOMIC_ACQUIRE))
			w->bad++; /* never completed */
		else if (r < 0 && r != -EHOSTDOWN && r != -EAGAIN && r != -ETIMEDOUT) {
			w->bad++;
		}
	}
	for (int i = 0; i < RACE_N; i++) /* each exactly once, the right one */
		if (q[i].wrong || q[i].runs > 1) {
			w->bad++;
		}
	free(q);
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Posted writes, one a millisecond: requests that take freed records. */
static void *race_post(void *arg)
{
	struct racer *w = arg;
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		uint32_t v = 1;
		int r = uvfio_client_region_write_posted(w->c, 0, 0, &v, 4);
		if (r < 0 && r != -EAGAIN && r != -EHOSTDOWN && r != -ETIMEDOUT) {
			__atomic_add_fetch(&w->bad, 1, __ATOMIC_RELAXED);
		}
		ms_sleep(1);
	}
	return NULL;
}

/* An event loop; two of them run. */
static void *race_loop(void *arg)
{
	struct racer *w = arg;
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
		if (readable(uvfio_client_poll_fd(w->c), 10))
			uvfio_client_dispatch(w->c);
	return NULL;
}

/*
 * Event-loop mode, two threads running the loop; the server answers each
 * request about as late as the message timeout. One loop times an
 * asynchronous request out and runs its callback (a slow one) while the
 * other reads the late reply, which frees the timed-out record, and a
 * thread posting writes takes it. Two callbacks take turns: each must run
 * once, for its own request (the thread timing a request out used to read
 * the callback after unlocking: by then the record could be another
 * request's; ThreadSanitizer reports that race).
 */
static void test_timeout_races_late_reply(void **state)
{
	(void)state;
	struct srv s = { .delay_ms = 3 };
	srv_init(&s, NULL);
	struct uvfio_client_config cfg = quiet;
	struct uvfio_client *c = peer_client(s.p, &cfg);
	assert_int_equal(uvfio_client_set_timeout(c, 3), 0);
	struct racer w = { .c = c };
	pthread_t ta, tp, tl;
	pthread_create(&ta, NULL, race_async, &w);
	pthread_create(&tp, NULL, race_post, &w);
	pthread_create(&tl, NULL, race_loop, &w);
	race_loop(&w);
	pthread_join(ta, NULL);
	pthread_join(tp, NULL);
	pthread_join(tl, NULL);
	assert_int_equal(w.bad, 0);
	uvfio_client_close(c);
	srv_fini(&s);
}

/* ---- 3: flush and the writes posted after it began ------------------------------------ */

#define FLUSH_ROUNDS 3000

struct flusher {
	struct uvfio_client *c;
	pthread_barrier_t bar;
	int bad;
};

/* Each round, one 8-byte posted write (it opens a REGION_WRITE_MULTI that
 * waits for more) while the other thread flushes. */
static void *flush_poster(void *arg)
{
	struct flusher *f = arg;
	uint64_t rng = 3;
	for (int i = 0; i < FLUSH_ROUNDS; i++) {
		pthread_barrier_wait(&f->bar);
		for (unsigned k = rnd(&rng) % 8192; k; k--) /* a little later, or not */
			__asm__ volatile("" ::: "memory");
		uint64_t v = (uint64_t)i;
		if (uvfio_client_region_write_posted(f->c, 0, 8 * (i % 64), &v, 8) < 0)
			f->bad++;
		pthread_barrier_wait(&f->bar);
	}
	return NULL;
}

/*
 * coalesce_posted without post_delay_us: a write another thread posts while
 * flush runs belongs to flush or not, but flush must not wait for one that
 * nothing sends (it used to: a write posted between flush sending the buffer
 * and reading the sequence number counted as "before this call" and sat in
 * the open REGION_WRITE_MULTI until flush timed out).
 */
static void test_flush_and_later_posts(void **state)
{
	(void)state;
	struct srv s = { .multi = true };
	srv_init(&s, NULL);
	struct uvfio_client_config cfg = quiet;
	cfg.coalesce_posted = true;
	cfg.timeout_ms = 1000;
	struct uvfio_client *c = peer_client(s.p, &cfg);
	struct flusher f = { .c = c };
	pthread_barrier_init(&f.bar, NULL, 2);
	pthread_t t;
	pthread_create(&t, NULL, flush_poster, &f);
	int bad = 0, r = 0;
	for (int i = 0; i < FLUSH_ROUNDS; i++) {
		pthread_barrier_wait(&f.bar);
		if ((r = uvfio_client_flush(c)) < 0 && !bad++)
			print_message("round %d: flush returned %d\n", i, r);
		pthread_barrier_wait(&f.bar);
	}
	pthread_join(t, NULL);
	pthread_barrier_destroy(&f.bar);
	assert_int_equal(f.bad, 0);
	assert_int_equal(bad, 0);
	assert_int_equal(uvfio_client_flush(c), 0);
	uvfio_client_close(c);
	srv_fini(&s);
}

/* ---- 4: twin socket, service thread, coalescing --------------------------------------- */

/*
 * With the twin socket the service thread reads the main socket only while
 * something nobody waits for may come there. Posted writes that waited in
 * the send buffer become such when the buffer leaves: 8 bytes (a
 * REGION_WRITE_MULTI opens and waits), then 16 (the buffer leaves with
 * both). The server answers both at once; a flush after their deadline
 * must find them answered (nobody read the main socket until the timer
 * fired: both "timed out").
 */
static void test_twin_service_coalesce(void **state)
{
	(void)state;
	struct srv s = { .multi = true, .twin = true };
	srv_init(&s, NULL);
	struct uvfio_client_config cfg = quiet;
	cfg.coalesce_posted = true;
	cfg.timeout_ms = 200;
	cfg.mode = UVFIO_CLIENT_SERVICE_THREAD;
	cfg.twin_socket = UVFIO_TWIN_ON;
	struct uvfio_client *c = peer_client(s.p, &cfg);
	assert_true(uvfio_client_twin_socket(c));
	for (int round = 0; round < 2; round++) {
		uint8_t b[16] = { 1, 2, 3 };
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, b, 8), 0);
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 16, b, 16), 0);
		/* past their deadline: answered long before, by now */
		ms_sleep(400);
		assert_int_equal(srv_requests(&s), 2u * (round + 1));
		assert_int_equal(uvfio_client_flush(c), 0);
	}
	uvfio_client_close(c);
	srv_fini(&s);
}

/* ---- 5: posted writes after shutdown --------------------------------------------------- */

/* Every call after uvfio_client_shutdown() returns -ESHUTDOWN: also a posted
 * write that a REGION_WRITE_MULTI still open would have taken (it used to
 * be gathered there and return 0). */
static void test_post_after_shutdown(void **state)
{
	(void)state;
	for (int delay = 0; delay < 2; delay++) {
		struct srv s = { .multi = true };
		srv_init(&s, NULL);
		struct uvfio_client_config cfg = quiet;
		cfg.coalesce_posted = true;
		cfg.post_delay_us = delay ? 100000 : 0;
		struct uvfio_client *c = peer_client(s.p, &cfg);
		uint64_t v = 7;
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 8), 0);
		assert_int_equal(uvfio_client_shutdown(c), 0);
		for (int i = 0; i < 10; i++)
			assert_int_equal(uvfio_client_region_write_posted(c, 0, 8, &v, 1 + i % 8),
					 -ESHUTDOWN);
		uint8_t big[16] = { 0 };
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, big, 16), -ESHUTDOWN);
		assert_int_equal(uvfio_client_flush(c), -ESHUTDOWN);
		uvfio_client_close(c);
		srv_fini(&s);
	}
}

/* ---- 6: a server that answers nothing -------------------------------------------------- */

static void never_cb(void *opaque, int result, const void *rep, size_t len)
{
	(void)opaque;
	(void)result;
	(void)rep;
	(void)len;
	fail_msg("a request that was not sent completed");
}

/*
 * A server that reads and answers nothing: 5,000 posted writes. The first
 * max_in_flight (1024) go out; the next waits for room until they time
 * out; from then on every request fails at once with -EHOSTDOWN (it used
 * to wait a whole timeout each: hours for a loop like this), synchronous
 * and asynchronous alike, until the server answers again: then the late
 * replies end it, and requests work.
 */
static void test_silent_server(void **state)
{
	(void)state;
	alarm(120); /* the defect was a wait per call: end rather than take hours */
	struct srv s = { .silent = true };
	srv_init(&s, NULL);
	struct uvfio_client_config cfg = quiet;
	cfg.timeout_ms = 200;
	struct uvfio_client *c = peer_client(s.p, &cfg);
	uint32_t v = 1;
	unsigned sent = 0, down = 0;
	for (int i = 0; i < 5000; i++) {
		int r = uvfio_client_region_write_posted(c, 0, 0, &v, 4);
		if (r == 0)
			sent++;
		else if (r == -EHOSTDOWN)
			down++;
		else
			fail_msg("write %d: %d", i, r);
	}
	assert_int_equal(sent, 1024);
	assert_int_equal(down, 5000 - 1024);
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), -EHOSTDOWN);
	struct uvfio_region_access a = { .count = 4 };
	assert_int_equal(uvfio_client_call_async(c, UVFIO_CMD_REGION_READ, &a, sizeof(a), never_cb,
						 NULL),
			 -EHOSTDOWN);
	assert_int_equal(uvfio_client_flush(c), -ETIMEDOUT); /* they timed out */
	assert_int_equal(srv_requests(&s), 1024);
	/* the server answers again: the late replies come, the stall ends */
	srv_go(&s);
	int r = -EHOSTDOWN;
	for (int ms = 0; r == -EHOSTDOWN && ms < HANG_MS; ms++) {
		ms_sleep(1);
		r = uvfio_client_region_read(c, 0, 16, &v, 4);
	}
	assert_int_equal(r, 0);
	assert_int_equal(v, 0x13121110);
	assert_int_equal(uvfio_client_flush(c), 0);
	uvfio_client_close(c);
	srv_fini(&s);
	alarm(0);
}

/* ---- Decided: the timeout 0 ------------------------------------------------------------ */

struct slow_res {
	int n, result;
};

static void slow_cb(void *opaque, int result, const void *rep, size_t len)
{
	struct slow_res *r = opaque;
	(void)rep;
	(void)len;
	r->result = result;
	__atomic_store_n(&r->n, 1, __ATOMIC_RELEASE);
}

/*
 * uvfio_client_set_timeout(c, 0) means what timeout_ms 0 means in the
 * config: the default (5 s). It used to make every deadline "now" (an
 * asynchronous request timed out at once) while the socket's receive
 * timeout 0 meant "for ever" (a synchronous one waited without limit).
 * The server answers reads 50 ms late: both kinds get their reply.
 */
static void test_set_timeout_zero(void **state)
{
	(void)state;
	struct srv s = { .delay_ms = 50 };
	srv_init(&s, NULL);
	struct uvfio_client *c = peer_client(s.p, &quiet);
	assert_int_equal(uvfio_client_set_timeout(c, 0), 0);
	struct slow_res res = { 0 };
	struct uvfio_region_access a = { .offset = 4, .count = 4 };
	assert_int_equal(uvfio_client_call_async(c, UVFIO_CMD_REGION_READ, &a, sizeof(a), slow_cb,
						 &res),
			 0);
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, 8, &v, 4), 0);
	assert_int_equal(v, 0x0b0a0908);
	for (int ms = 0; !__atomic_load_n(&res.n, __ATOMIC_ACQUIRE) && ms < HANG_MS; ms++) {
		if (readable(uvfio_client_poll_fd(c), 1))
			uvfio_client_dispatch(c);
	}
	assert_int_equal(res.n, 1);
	assert_int_equal(res.result, 0);
	uvfio_client_close(c);
	srv_fini(&s);
}

/* ---- Decided: ids at max_in_flight 32768 ---------------------------------------------- */

/*
 * At max_in_flight 32768 a slot has two ids (the id's low 15 bits are the
 * slot). Decided: not a defect. No id is ever in use twice at once (a slot
 * is taken again only once its reply came, a late one too), and free slots
 * are taken oldest first, so an id comes back only after 65,536 requests,
 * as with any limit. Here: 32,768 posted writes held by the server (all
 * ids distinct while in flight), then 65,536 more answered at once; no id
 * repeats within 65,536 requests in a row.
 */
static void test_max_in_flight_ids(void **state)
{
	(void)state;
	enum { N = 32768 + 65536 };
	struct srv s = { .silent = true, .nlog_max = N };
	s.ids = calloc(65536, 1);
	s.log = calloc(N, sizeof(*s.log));
	srv_init(&s, NULL);
	struct uvfio_client_config cfg = quiet;
	cfg.max_in_flight = 100000; /* taken as 32768 */
	cfg.timeout_ms = HANG_MS;
	struct uvfio_client *c = peer_client(s.p, &cfg);
	uint32_t v = 1;
	for (int i = 0; i < 32768; i++)
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 4), 0);
	for (int ms = 0; srv_requests(&s) < 32768 && ms < HANG_MS; ms++)
		ms_sleep(1);
	pthread_mutex_lock(&s.mu);
	bool dup = s.dup;
	pthread_mutex_unlock(&s.mu);
	assert_false(dup);
	srv_go(&s);
	for (int i = 0; i < 65536; i++)
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 4), 0);
	assert_int_equal(uvfio_client_flush(c), 0);
	uvfio_client_close(c);
	srv_fini(&s);
	assert_int_equal(s.nlog, N);
	uint32_t *last = malloc(65536 * sizeof(*last)); /* where each id was last seen */
	memset(last, 0xff, 65536 * sizeof(*last));
	for (uint32_t i = 0; i < N; i++) {
		if (last[s.log[i]] != UINT32_MAX && i - last[s.log[i]] < 65536)
			fail_msg("id %u again after %u requests", s.log[i], i - last[s.log[i]]);
		last[s.log[i]] = i;
	}
	free(last);
	free(s.ids);
	free(s.log);
}

/* ---- Decided: the reader role and a blocked send -------------------------------------- */

#define DMA_IOVA 0x100000u
#define DMA_LEN (1u << 20)

struct jam {
	struct srv s;
	struct uvfio_client *c;
	int rw, rr; /* results of the large write and the small read */
	int dma_ok;
	uint8_t *wbuf;
};

/* Answers DMA_MAP; on go, sends a DMA_WRITE of 1 MiB (it blocks until the
 * client reads) before reading anything more; then serves. */
static void script_jam(struct peer *p)
{
	struct jam *j = p->arg;
	srv_version(&j->s, p->fd);
	static __thread uint8_t body[2u << 20];
	struct uvfio_hdr h;
	if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL) || h.cmd != UVFIO_CMD_DMA_MAP)
		return;
	put_split(&j->s, p->fd, out_buf, answer_of(&h, body, out_buf));
	struct pollfd pf = { .fd = j->s.go, .events = POLLIN };
	if (poll(&pf, 1, -1) != 1)
		return;
	struct uvfio_hdr d = { .msg_id = 7, .cmd = UVFIO_CMD_DMA_WRITE,
			       .flags = UVFIO_FLAGS_TYPE_COMMAND, .msg_size = 32 + DMA_LEN };
	struct uvfio_dma_access a = { .addr = DMA_IOVA, .count = DMA_LEN };
	memcpy(out_buf, &d, 16);
	memcpy(out_buf + 16, &a, 16);
	memset(out_buf + 32, 0x5a, DMA_LEN);
	put_split(&j->s, p->fd, out_buf, 32 + DMA_LEN);
	while (peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) {
		if ((h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
			__atomic_store_n(&j->dma_ok, h.msg_id == 7 && !(h.flags & UVFIO_FLAGS_ERROR),
					 __ATOMIC_RELAXED);
			continue;
		}
		put_split(&j->s, p->fd, out_buf, answer_of(&h, body, out_buf));
	}
	p->result = 0;
}

static void *jam_write(void *arg)
{
	struct jam *j = arg;
	j->rw = uvfio_client_region_write(j->c, 0, 0, j->wbuf, 2u << 20);
	return NULL;
}

static void *jam_read(void *arg)
{
	struct jam *j = arg;
	uint32_t v;
	j->rr = uvfio_client_region_read(j->c, 0, 0, &v, 4);
	return NULL;
}

/*
 * One thread's large write fills the socket; another thread's synchronous
 * read takes the reader role for its reply and waits for the send lock;
 * the server, not reading, writes a DMA_WRITE of 1 MiB to the client and
 * blocks. The thread sending must be able to read it (it used to poll for
 * room only, the role's holder asleep on the send lock: the write timed out
 * and the connection died, while uvfio_client_dispatch() spun on -EBUSY).
 * Decided: a thread that took the role for its own reply leaves it while
 * it waits for the send lock.
 */
static void test_role_not_held_waiting_to_send(void **state)
{
	(void)state;
	static uint8_t mem[DMA_LEN];
	struct jam j = { .wbuf = calloc(1, 2u << 20) };
	srv_init(&j.s, script_jam);
	struct uvfio_client_config cfg = quiet;
	cfg.timeout_ms = 3000;
	j.c = peer_client(j.s.p, &cfg);
	struct uvfio_dma_region r = { .vaddr = mem, .iova = DMA_IOVA, .size = DMA_LEN,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE, .fd = -1 };
	assert_int_equal(uvfio_client_dma_map(j.c, &r), 0);
	pthread_t tw, tr;
	pthread_create(&tw, NULL, jam_write, &j);
	ms_sleep(50);
	pthread_create(&tr, NULL, jam_read, &j);
	ms_sleep(50);
	srv_go(&j.s);
	/* the event loop, meanwhile */
	unsigned busy = 0;
	for (int i = 0; i < 200; i++)
		if (readable(uvfio_client_poll_fd(j.c), 1))
			busy += uvfio_client_dispatch(j.c) == -EBUSY;
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	assert_int_equal(j.rw, 0);
	assert_int_equal(j.rr, 0);
	assert_int_equal(mem[0], 0x5a);
	assert_int_equal(mem[DMA_LEN - 1], 0x5a);
	uvfio_client_close(j.c);
	srv_fini(&j.s);
	assert_true(j.dma_ok);
	free(j.wbuf);
	(void)busy;
}

/* ---- Decided: DMA answers and the send buffer ------------------------------------------ */

struct answer_order {
	struct srv s;
	int order; /* 1: the write came first, 2: the answer, 0: not seen */
	bool write_later; /* twin: the write came after the answer */
};

static void script_answer_order(struct peer *p)
{
	struct answer_order *o = p->arg;
	srv_version(&o->s, p->fd);
	static __thread uint8_t body[4096];
	struct uvfio_hdr h;
	if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL) || h.cmd != UVFIO_CMD_DMA_MAP)
		return;
	put_split(&o->s, p->fd, out_buf, answer_of(&h, body, out_buf));
	struct pollfd pf = { .fd = o->s.go, .events = POLLIN };
	if (poll(&pf, 1, -1) != 1)
		return;
	int dfd = o->s.twin ? o->s.twin_fd : p->fd;
	struct uvfio_hdr d = { .msg_id = 9, .cmd = UVFIO_CMD_DMA_READ,
			       .flags = UVFIO_FLAGS_TYPE_COMMAND, .msg_size = 32 };
	struct uvfio_dma_access a = { .addr = DMA_IOVA, .count = 8 };
	uint8_t req[32];
	memcpy(req, &d, 16);
	memcpy(req + 16, &a, 16);
	put_split(&o->s, dfd, req, 32);
	if (o->s.twin) {
		if (!peer_recv(dfd, &h, body, sizeof(body), NULL, NULL))
			return;
		o->write_later = !readable(p->fd, 0); /* the posted write still waits */
		__atomic_store_n(&o->order, 2, __ATOMIC_RELEASE);
	}
	while (peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) {
		if ((h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
			if (!o->order)
				__atomic_store_n(&o->order, 2, __ATOMIC_RELEASE);
			continue;
		}
		if (h.cmd == UVFIO_CMD_REGION_WRITE && !o->order)
			__atomic_store_n(&o->order, 1, __ATOMIC_RELEASE);
		put_split(&o->s, p->fd, out_buf, answer_of(&h, body, out_buf));
	}
	p->result = 0;
}

/*
 * post_delay_us: posted writes wait in the send buffer. An answer to a DMA
 * request on the main socket sends them first (the server sees the write,
 * then the answer). Decided: an answer on the twin socket does not. It
 * travels on a socket of its own, which the server reads apart from the
 * main one (the two streams have no order to keep), and it must never
 * wait for the main socket's send lock: a thread may hold it blocked on a
 * server that is itself waiting for this answer. The write leaves by its
 * delay.
 */
static void test_dma_answer_and_send_buffer(void **state)
{
	(void)state;
	static uint8_t mem[4096];
	for (int twin = 0; twin < 2; twin++) {
		struct answer_order o = { .s = { .twin = twin } };
		srv_init(&o.s, script_answer_order);
		struct uvfio_client_config cfg = quiet;
		cfg.mode = UVFIO_CLIENT_SERVICE_THREAD;
		cfg.twin_socket = twin ? UVFIO_TWIN_ON : UVFIO_TWIN_OFF;
		cfg.post_delay_us = 500000;
		struct uvfio_client *c = peer_client(o.s.p, &cfg);
		struct uvfio_dma_region r = { .vaddr = mem, .iova = DMA_IOVA, .size = sizeof(mem),
					      .prot = UVFIO_DMA_FLAG_READ, .fd = -1 };
		assert_int_equal(uvfio_client_dma_map(c, &r), 0);
		uint32_t v = 5;
		assert_int_equal(uvfio_client_region_write_posted(c, 0, 0, &v, 4), 0);
		srv_go(&o.s);
		/* the answer came (and, without the twin socket, the write) */
		for (int ms = 0; !__atomic_load_n(&o.order, __ATOMIC_ACQUIRE) && ms < HANG_MS; ms++)
			ms_sleep(1);
		assert_int_equal(uvfio_client_flush(c), 0);
		uvfio_client_close(c);
		srv_fini(&o.s);
		assert_int_equal(o.order, twin ? 2 : 1);
		if (twin)
			assert_true(o.write_later);
	}
}

/* ---- Found by test_client_random: waiting for room that cannot come -------------------- */

struct pieces {
	struct srv s;
	struct uvfio_client *c;
	int bad;
};

static void *pieces_read(void *arg)
{
	struct pieces *q = arg;
	uint8_t *buf = malloc(5 * 4096);
	for (int i = 0; i < 30; i++) {
		int r = uvfio_client_region_read(q->c, 0, 0, buf, 5 * 4096);
		if (r != 0 || buf[4096 * 4 + 7] != (uint8_t)(4096 * 4 + 7))
			__atomic_add_fetch(&q->bad, 1, __ATOMIC_RELAXED);
	}
	free(buf);
	return NULL;
}

/*
 * Two threads read 20 KiB in pieces of 4 KiB under max_in_flight 3. A read
 * holding pieces in flight used to wait for room for its last ones: two of
 * them held all the room and waited for each other until the timeout
 * (-EAGAIN). Now a read with pieces in flight collects before it waits.
 */
static void test_pieces_do_not_wait_for_room(void **state)
{
	(void)state;
	struct pieces q = { .s = { .max_xfer = 4096 } };
	srv_init(&q.s, NULL);
	struct uvfio_client_config cfg = quiet;
	cfg.max_in_flight = 3;
	cfg.timeout_ms = 1000;
	q.c = peer_client(q.s.p, &cfg);
	pthread_t t[2];
	for (int k = 0; k < 2; k++)
		pthread_create(&t[k], NULL, pieces_read, &q);
	for (int k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	assert_int_equal(q.bad, 0);
	uvfio_client_close(q.c);
	srv_fini(&q.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_read_in_callback_dies),
		cmocka_unit_test(test_timeout_races_late_reply),
		cmocka_unit_test(test_flush_and_later_posts),
		cmocka_unit_test(test_twin_service_coalesce),
		cmocka_unit_test(test_post_after_shutdown),
		cmocka_unit_test(test_silent_server),
		cmocka_unit_test(test_set_timeout_zero),
		cmocka_unit_test(test_max_in_flight_ids),
		cmocka_unit_test(test_role_not_held_waiting_to_send),
		cmocka_unit_test(test_dma_answer_and_send_buffer),
		cmocka_unit_test(test_pieces_do_not_wait_for_room),
	};
	return cmocka_run_group_tests_name("client_edges", tests, NULL, NULL);
}
