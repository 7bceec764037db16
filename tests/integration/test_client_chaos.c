/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client under mixed traffic against a scripted server that coalesces
 * and splits its messages at random: several messages in one write, one
 * message over several writes, descriptors on any message (expected ones,
 * unexpected ones on replies and on server requests). Several threads send
 * synchronous, asynchronous and posted requests while the server sends
 * DMA_WRITE/DMA_READ requests of its own, in each mode: event loop (a thread
 * asleep on poll_fd) and service thread, twin socket off and on, posted
 * writes sent at once and through the send buffer. Every
 * request must complete with the right result, every server request must be
 * answered, no descriptor may leak. Seeds are fixed; thread interleavings
 * are what they are. Run under ThreadSanitizer in CI.
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
#include "util.h"

#define NTHREADS 4
#define NOPS 500
#define AREA 16384u /* each thread's part of region 0 */
#define DMA_IOVA 0x100000u
#define DMA_SIZE 65536u
#define DMA_BUDGET 150
#define HANG_MS 60000 /* a bound for "never", not a speed check */

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static uint8_t pattern(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

/* ---- The server's writer: coalesces and splits ------------------------------------ */

struct out_msg {
	struct out_msg *next;
	uint8_t *buf;
	size_t len;
	int fd; /* sent with it, or -1 */
};

struct wchan {
	int fd;
	uint64_t rng;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct out_msg *head, *tail;
	bool closing;
	pthread_t thread;
};

/* [a, b) of buf in pieces of random sizes, from a byte to all of it. */
static void send_split(struct wchan *w, const uint8_t *buf, size_t a, size_t b, int xfd)
{
	static const size_t caps[] = { 1, 7, 64, 4096, SIZE_MAX };
	unsigned fd_piece = xfd >= 0 ? rnd(&w->rng) % 3 : 99, k = 0;
	while (a < b) {
		size_t cap = caps[rnd(&w->rng) % 5];
		size_t n = 1 + rnd(&w->rng) % VU_MIN(cap, b - a);
		if (xfd >= 0 && (k == fd_piece || a + n == b)) {
			peer_write(w->fd, buf + a, n, &xfd, 1); /* inside its message */
			xfd = -1;
		} else {
			peer_write(w->fd, buf + a, n, NULL, 0);
		}
		a += n;
		k++;
	}
}

static void *writer(void *arg)
{
	struct wchan *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->head && !w->closing)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->head) {
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		/* up to four messages that are there, in one buffer */
		struct out_msg *batch[4];
		unsigned n = 0, want = 1 + rnd(&w->rng) % 4;
		while (w->head && n < want) {
			batch[n++] = w->head;
			w->head = w->head->next;
		}
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		size_t total = 0;
		for (unsigned i = 0; i < n; i++)
			total += batch[i]->len;
		uint8_t *buf = malloc(total);
		size_t at = 0, cursor = 0;
		for (unsigned i = 0; i < n; i++) {
			memcpy(buf + at, batch[i]->buf, batch[i]->len);
			if (batch[i]->fd >= 0) {
				/* a piece that carries descriptors lies inside its
				 * message: the receiver gives them to the message
				 * holding the last byte of the read that brings them */
				send_split(w, buf, cursor, at, -1);
				send_split(w, buf, at, at + batch[i]->len, batch[i]->fd);
				cursor = at + batch[i]->len;
			}
			at += batch[i]->len;
		}
		send_split(w, buf, cursor, total, -1);
		free(buf);
		for (unsigned i = 0; i < n; i++) {
			if (batch[i]->fd >= 0)
				close(batch[i]->fd);
			free(batch[i]->buf);
			free(batch[i]);
		}
	}
}

static void wchan_start(struct wchan *w, int fd, uint64_t seed)
{
	w->fd = fd;
	w->rng = seed;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_create(&w->thread, NULL, writer, w);
}

static void wchan_stop(struct wchan *w)
{
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

/* Queue a message: header h (msg_size set here) and body. */
static void wchan_put(struct wchan *w, struct uvfio_hdr h, const void *b1, size_t l1,
		      const void *b2, size_t l2, int fd)
{
	struct out_msg *m = calloc(1, sizeof(*m));
	m->len = 16 + l1 + l2;
	m->buf = malloc(m->len);
	h.msg_size = (uint32_t)m->len;
	memcpy(m->buf, &h, 16);
	if (l1)
		memcpy(m->buf + 16, b1, l1);
	if (l2)
		memcpy(m->buf + 16 + l1, b2, l2);
	m->fd = fd;
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next = m;
	else
		w->head = m;
	w->tail = m;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void reply(struct wchan *w, const struct uvfio_hdr *req, int err, const void *b1,
		  size_t l1, const void *b2, size_t l2, int fd)
{
	struct uvfio_hdr h = { .msg_id = req->msg_id, .cmd = req->cmd,
			       .flags = UVFIO_FLAGS_TYPE_REPLY | (err ? UVFIO_FLAGS_ERROR : 0),
			       .error_no = (uint32_t)err };
	wchan_put(w, h, b1, l1, b2, l2, fd);
}

/* ---- The scripted server ----------------------------------------------------------------- */

enum { DMA_W, DMA_R, DMA_R_FD };

struct dma_req {
	bool live;
	uint8_t kind;
	uint64_t addr;
	uint32_t len, seed;
};

struct srv {
	bool twin;
	int fd, twin_fd;
	struct wchan out, twin_out;
	uint64_t rng;
	uint8_t region[NTHREADS * AREA];
	pthread_t reader, twin_reader;
	pthread_mutex_t mu; /* what follows */
	pthread_cond_t cv;
	bool mapped;
	unsigned issued, answered, bad; /* server requests */
	struct dma_req dma[65536];
	uint16_t next_id;
	int budget;
	int errors; /* things the client must never send */
	bool holding; /* a reply held back (reader thread only) */
	struct uvfio_hdr held;
	struct uvfio_region_access held_access;
};

static void srv_fail(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->errors++;
	pthread_mutex_unlock(&s->mu);
}

/* A server request, on the twin socket when there is one. mu held. */
static void issue(struct srv *s, uint8_t kind, uint64_t addr, uint32_t len, uint32_t seed)
{
	uint16_t id = s->next_id++;
	s->dma[id] = (struct dma_req){ true, kind, addr, len, seed };
	s->issued++;
	struct uvfio_dma_access a = { .addr = addr, .count = len };
	struct uvfio_hdr h = { .msg_id = id, .flags = UVFIO_FLAGS_TYPE_COMMAND,
			       .cmd = kind == DMA_W ? UVFIO_CMD_DMA_WRITE : UVFIO_CMD_DMA_READ };
	struct wchan *w = s->twin ? &s->twin_out : &s->out;
	if (kind == DMA_W) {
		uint8_t *d = malloc(len);
		for (uint32_t i = 0; i < len; i++)
			d[i] = pattern(seed, i);
		wchan_put(w, h, &a, sizeof(a), d, len, -1);
		free(d);
	} else {
		wchan_put(w, h, &a, sizeof(a), NULL, 0, kind == DMA_R_FD ? tu_eventfd() : -1);
	}
}

/* After a client request: now and then, DMA of the server's own. */
static void maybe_dma(struct srv *s, bool force)
{
	pthread_mutex_lock(&s->mu);
	uint32_t r = rnd(&s->rng);
	if (force) {
		issue(s, DMA_W, DMA_IOVA, 16, r);
		issue(s, DMA_R, DMA_IOVA, 16, r);
	} else if (s->mapped && s->budget > 0 && r % 8 == 0) {
		s->budget--;
		uint32_t len = 1 + rnd(&s->rng) % (rnd(&s->rng) % 2 ? 64 : 20000);
		uint64_t addr = DMA_IOVA + rnd(&s->rng) % (DMA_SIZE - len);
		if (r % 7 == 0) {
			issue(s, DMA_R_FD, addr, len, 0); /* refused: descriptor */
		} else {
			uint32_t seed = rnd(&s->rng);
			issue(s, DMA_W, addr, len, seed);
			issue(s, DMA_R, addr, len, seed);
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* The client's answer to a server request. */
static void dma_answer(struct srv *s, const struct uvfio_hdr *h, const uint8_t *body, size_t len)
{
	pthread_mutex_lock(&s->mu);
	struct dma_req *d = &s->dma[h->msg_id];
	bool err = h->flags & UVFIO_FLAGS_ERROR, ok = d->live;
	struct uvfio_dma_access a;
	if (ok && d->kind == DMA_R_FD) {
		ok = err && h->error_no == EINVAL;
	} else if (ok) {
		size_t want = sizeof(a) + (d->kind == DMA_R ? d->len : 0);
		ok = !err && len == want && h->cmd == (d->kind == DMA_W ? UVFIO_CMD_DMA_WRITE
									  : UVFIO_CMD_DMA_READ);
		if (ok) {
			memcpy(&a, body, sizeof(a));
			ok = a.addr == d->addr && a.count == d->len;
		}
		for (uint32_t i = 0; ok && d->kind == DMA_R && i < d->len; i++)
			ok = body[sizeof(a) + i] == pattern(d->seed, i);
	}
	d->live = false;
	s->answered++;
	s->bad += !ok;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void version(struct srv *s, const struct uvfio_hdr *h)
{
	struct uvfio_version v = { 0, 1 };
	if (!s->twin) {
		reply(&s->out, h, 0, &v, sizeof(v), "{}", 3, -1);
		return;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	static const char js[] = "{\"capabilities\":{\"twin_socket\":"
				 "{\"supported\":true,\"fd_index\":0}}}";
	s->twin_fd = sv[0];
	reply(&s->out, h, 0, &v, sizeof(v), js, sizeof(js), sv[1]);
}

static void *twin_reader(void *arg)
{
	struct srv *s = arg;
	static __thread uint8_t body[1 << 16];
	struct uvfio_hdr h;
	while (peer_recv(s->twin_fd, &h, body, sizeof(body), NULL, NULL)) {
		if ((h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY)
			dma_answer(s, &h, body, h.msg_size - 16);
		else
			srv_fail(s);
	}
	return NULL;
}

static void handle(struct srv *s, const struct uvfio_hdr *h, const uint8_t *body, size_t len,
		   int nfds)
{
	struct uvfio_region_access a = { 0 };
	if ((h->flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
		if (s->twin) /* answers travel on the twin socket */
			srv_fail(s);
		dma_answer(s, h, body, len);
		return;
	}
	if (nfds)
		srv_fail(s);
	switch (h->cmd) {
	case UVFIO_CMD_VERSION:
		version(s, h);
		if (s->twin) {
			wchan_start(&s->twin_out, s->twin_fd, s->rng + 1);
			pthread_create(&s->twin_reader, NULL, twin_reader, s);
		}
		return;
	case UVFIO_CMD_DMA_MAP:
		pthread_mutex_lock(&s->mu);
		s->mapped = true;
		pthread_mutex_unlock(&s->mu);
		reply(&s->out, h, 0, NULL, 0, NULL, 0, -1);
		return;
	case UVFIO_CMD_DMA_UNMAP:
		reply(&s->out, h, 0, NULL, 0, NULL, 0, -1);
		return;
	case UVFIO_CMD_REGION_READ:
		memcpy(&a, body, sizeof(a));
		if (len != sizeof(a) || a.region || a.offset + a.count > sizeof(s->region)) {
			srv_fail(s);
			reply(&s->out, h, EINVAL, NULL, 0, NULL, 0, -1);
		} else if (a.count == 6) {
			/* answered right after the next request's reply */
			s->held = *h;
			s->held_access = a;
			s->holding = true;
			return;
		} else {
			/* a 3-byte read gets a descriptor it did not ask for */
			reply(&s->out, h, 0, &a, sizeof(a), s->region + a.offset, a.count,
			      a.count == 3 ? tu_eventfd() : -1);
		}
		break;
	case UVFIO_CMD_REGION_WRITE:
		memcpy(&a, body, sizeof(a));
		if (len != sizeof(a) + a.count || a.region ||
		    a.offset + a.count > sizeof(s->region)) {
			srv_fail(s);
			reply(&s->out, h, EINVAL, NULL, 0, NULL, 0, -1);
		} else {
			memcpy(s->region + a.offset, body + sizeof(a), a.count);
			reply(&s->out, h, 0, &a, sizeof(a), NULL, 0, -1);
		}
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS: /* expects one descriptor */
		reply(&s->out, h, 0, "fdreply!", 8, NULL, 0, tu_eventfd());
		break;
	default:
		srv_fail(s);
		reply(&s->out, h, EINVAL, NULL, 0, NULL, 0, -1);
	}
	if (s->holding) {
		s->holding = false;
		reply(&s->out, &s->held, 0, &s->held_access, sizeof(a),
		      s->region + s->held_access.offset, s->held_access.count, -1);
	}
	maybe_dma(s, h->cmd == UVFIO_CMD_REGION_READ && a.count == 5);
}

static void *reader(void *arg)
{
	struct srv *s = arg;
	static __thread uint8_t body[1 << 16];
	struct uvfio_hdr h;
	int fds[16], nfds;
	while (peer_recv(s->fd, &h, body, sizeof(body), fds, &nfds)) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		handle(s, &h, body, h.msg_size - 16, nfds);
	}
	return NULL;
}

/* ---- The client's side ---------------------------------------------------------------------- */

struct shared {
	struct uvfio_client *c;
	unsigned async_issued, async_done, async_bad; /* atomics */
};

struct worker {
	struct shared *sh;
	int k;
	uint64_t rng;
	uint8_t shadow[AREA]; /* what the thread's area holds */
	int errors;
	char what[128];
};

struct expect {
	struct shared *sh;
	uint32_t len;
	uint8_t data[];
};

static void async_check(void *opaque, int result, const void *rep, size_t len)
{
	struct expect *e = opaque;
	bool ok = result == 0 && len == 16 + e->len &&
		  !memcmp((const uint8_t *)rep + 16, e->data, e->len);
	__atomic_add_fetch(&e->sh->async_bad, !ok, __ATOMIC_RELAXED);
	__atomic_add_fetch(&e->sh->async_done, 1, __ATOMIC_RELEASE);
	free(e);
}

static void wfail(struct worker *w, const char *what, int r)
{
	if (!w->errors++)
		snprintf(w->what, sizeof(w->what), "thread %d: %s: %d", w->k, what, r);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct uvfio_client *c = w->sh->c;
	uint64_t base = (uint64_t)w->k * AREA;
	uint8_t buf[AREA];
	for (int op = 0; op < NOPS; op++) {
		uint32_t kind = rnd(&w->rng) % 10;
		uint32_t len = 1 + rnd(&w->rng) % (rnd(&w->rng) % 8 ? 64 : 12000);
		if (len == 3 || len == 5 || len == 6)
			len += 4; /* reads of 3, 5, 6 bytes are the server's cases */
		uint32_t off = rnd(&w->rng) % (AREA - len);
		int r;
		switch (kind) {
		case 0: case 1: case 2: case 3: /* write, synchronous or posted */
			for (uint32_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rnd(&w->rng);
			r = kind == 3 ? uvfio_client_region_write_posted(c, 0, base + off, buf, len)
				      : uvfio_client_region_write(c, 0, base + off, buf, len);
			if (r < 0)
				wfail(w, "write", r);
			memcpy(w->shadow + off, buf, len);
			__attribute__((fallthrough)); /* read it back */
		case 8: case 9:
			r = uvfio_client_region_read(c, 0, base + off, buf, len);
			if (r < 0 || memcmp(buf, w->shadow + off, len))
				wfail(w, "read", r);
			break;
		case 4: { /* asynchronous read */
			struct expect *e = malloc(sizeof(*e) + len);
			e->sh = w->sh;
			e->len = len;
			memcpy(e->data, w->shadow + off, len);
			struct uvfio_region_access a = { .offset = base + off, .region = 0,
							 .count = len };
			__atomic_add_fetch(&w->sh->async_issued, 1, __ATOMIC_RELAXED);
			r = uvfio_client_call_async(c, UVFIO_CMD_REGION_READ, &a, sizeof(a),
						    async_check, e);
			if (r < 0) {
				wfail(w, "async", r);
				free(e);
				__atomic_sub_fetch(&w->sh->async_issued, 1, __ATOMIC_RELAXED);
			}
			break;
		}
		case 5: /* the reply brings a descriptor nobody asked for */
			if ((r = uvfio_client_region_read(c, 0, base + off, buf, 3)) != -EPROTO)
				wfail(w, "read with an unexpected descriptor", r);
			break;
		case 6: { /* a reply with the descriptor it expects */
			int rfd = -1;
			char rep[16];
			struct uvfio_call call = { .cmd = UVFIO_CMD_DEVICE_GET_REGION_IO_FDS,
						   .req = "x", .req_len = 1, .rep = rep,
						   .rep_cap = sizeof(rep), .rfds = &rfd,
						   .rfds_cap = 1 };
			r = uvfio_client_call(c, &call);
			if (r < 0 || call.rep_len != 8 || memcmp(rep, "fdreply!", 8) ||
			    call.nrfds != 1)
				wfail(w, "call with a descriptor", r);
			if (rfd >= 0)
				close(rfd);
			break;
		}
		case 7:
			if ((r = uvfio_client_flush(c)) < 0)
				wfail(w, "flush", r);
			break;
		}
	}
	return NULL;
}

struct loop {
	struct uvfio_client *c;
	int stop;
	int errors;
};

/* An event loop: asleep on poll_fd until it is readable. */
static void *event_loop(void *arg)
{
	struct loop *l = arg;
	for (;;) {
		struct pollfd pf[2] = { { .fd = uvfio_client_poll_fd(l->c), .events = POLLIN },
					{ .fd = l->stop, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0)
			continue;
		if (pf[1].revents)
			return NULL;
		int r = uvfio_client_dispatch(l->c);
		if (r < 0 && r != -EBUSY)
			l->errors++;
		if (r == -EBUSY)
			sched_yield(); /* the reading thread delivers it */
	}
}

/* Until every async request has completed (HANG_MS at most). */
static void wait_async(struct shared *sh)
{
	for (int i = 0; i < HANG_MS; i++) {
		if (__atomic_load_n(&sh->async_done, __ATOMIC_ACQUIRE) ==
		    __atomic_load_n(&sh->async_issued, __ATOMIC_RELAXED))
			return;
		usleep(1000);
	}
}

static void wait_until(struct srv *s, unsigned *a, unsigned *b)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HANG_MS / 1000;
	pthread_mutex_lock(&s->mu);
	while (*a < *b)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until))
			break;
	pthread_mutex_unlock(&s->mu);
}

static void run(int service, int twin, uint32_t post_delay_us)
{
	int fds_before = tu_count_fds();
	struct srv *s = calloc(1, sizeof(*s));
	s->twin = twin;
	s->twin_fd = -1;
	s->rng = 1000 + (uint64_t)(service * 2 + twin);
	s->budget = DMA_BUDGET;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->fd = sv[0];
	wchan_start(&s->out, s->fd, s->rng);
	pthread_create(&s->reader, NULL, reader, s);

	struct uvfio_client_config cfg = {
		.log = { .level = -1 },
		.timeout_ms = HANG_MS,
		.mode = service ? UVFIO_CLIENT_SERVICE_THREAD : UVFIO_CLIENT_EVENT_LOOP,
		.twin_socket = twin ? UVFIO_TWIN_ON : UVFIO_TWIN_OFF,
		.post_delay_us = post_delay_us,
	};
	struct shared sh = { 0 };
	assert_int_equal(uvfio_client_adopt(sv[1], &cfg, &sh.c), 0);
	assert_int_equal(uvfio_client_twin_socket(sh.c), twin);
	static uint8_t mem[DMA_SIZE];
	struct uvfio_dma_region r = { .vaddr = mem, .iova = DMA_IOVA, .size = DMA_SIZE,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE, .fd = -1 };
	assert_int_equal(uvfio_client_dma_map(sh.c, &r), 0);
	struct loop l = { sh.c, eventfd(0, EFD_CLOEXEC), 0 };
	pthread_t lt;
	if (!service)
		pthread_create(&lt, NULL, event_loop, &l);

	pthread_t t[NTHREADS];
	struct worker *w = calloc(NTHREADS, sizeof(*w));
	for (int k = 0; k < NTHREADS; k++) {
		w[k].sh = &sh;
		w[k].k = k;
		w[k].rng = (uint64_t)(service * 2 + twin) * 100 + (uint64_t)k;
		pthread_create(&t[k], NULL, work, &w[k]);
	}
	for (int k = 0; k < NTHREADS; k++) {
		pthread_join(t[k], NULL);
		if (w[k].errors)
			fail_msg("service %d twin %d: %d errors, first %s", service, twin,
				 w[k].errors, w[k].what);
	}
	assert_int_equal(uvfio_client_flush(sh.c), 0);
	/* Quiet rounds, one thread: an asynchronous read whose reply the
	 * server holds back until after the next one's, a synchronous read
	 * the server follows with DMA requests, then nothing but waiting.
	 * What comes behind the synchronous reply, maybe in the same read,
	 * must still be delivered, with no other traffic to help. */
	for (int round = 0; round < 20; round++) {
		/* every fourth round the async read is alone: its reply comes
		 * at once and only the event loop or the service thread can
		 * read it */
		bool alone = round % 4 == 3;
		uint32_t n = alone ? 4 : 6;
		struct expect *e = malloc(sizeof(*e) + n);
		e->sh = &sh;
		e->len = n;
		memcpy(e->data, w[0].shadow, n);
		struct uvfio_region_access a = { .offset = 0, .region = 0, .count = n };
		__atomic_add_fetch(&sh.async_issued, 1, __ATOMIC_RELAXED);
		assert_int_equal(uvfio_client_call_async(sh.c, UVFIO_CMD_REGION_READ, &a,
							 sizeof(a), async_check, e),
				 0);
		if (!alone) {
			uint8_t b5[5];
			assert_int_equal(uvfio_client_region_read(sh.c, 0, 0, b5, 5), 0);
			assert_memory_equal(b5, w[0].shadow, 5);
		}
		wait_async(&sh);
		pthread_mutex_lock(&s->mu);
		unsigned issued = s->issued;
		pthread_mutex_unlock(&s->mu);
		wait_until(s, &s->answered, &issued);
	}
	wait_until(s, &s->answered, &s->issued);
	pthread_mutex_lock(&s->mu);
	unsigned issued = s->issued, answered = s->answered, bad = s->bad;
	pthread_mutex_unlock(&s->mu);
	if (answered != issued)
		fail_msg("service %d twin %d: %u of %u server requests answered", service, twin,
			 answered, issued);
	assert_int_equal(bad, 0);
	assert_true(issued > DMA_BUDGET / 2); /* the DMA traffic did happen */
	assert_int_equal(sh.async_done, sh.async_issued);
	assert_int_equal(sh.async_bad, 0);
	if (!service) {
		uint64_t one = 1;
		assert_int_equal(write(l.stop, &one, sizeof(one)), sizeof(one));
		pthread_join(lt, NULL);
		assert_int_equal(l.errors, 0);
	}
	uvfio_client_close(sh.c);
	pthread_join(s->reader, NULL);
	wchan_stop(&s->out);
	if (twin) {
		shutdown(s->twin_fd, SHUT_RDWR);
		pthread_join(s->twin_reader, NULL);
		wchan_stop(&s->twin_out);
		close(s->twin_fd);
	}
	close(s->fd);
	close(l.stop);
	assert_int_equal(s->errors, 0);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	free(w);
	assert_int_equal(tu_count_fds(), fds_before);
}

static void test_event_loop(void **state)
{
	(void)state;
	run(0, 0, 0);
}

static void test_event_loop_twin(void **state)
{
	(void)state;
	run(0, 1, 0);
}

static void test_service_thread(void **state)
{
	(void)state;
	run(1, 0, 0);
}

static void test_service_thread_twin(void **state)
{
	(void)state;
	run(1, 1, 0);
}

/* Posted writes through the send buffer (post_delay_us). */
static void test_event_loop_send_buffer(void **state)
{
	(void)state;
	run(0, 0, 200);
}

static void test_service_thread_twin_send_buffer(void **state)
{
	(void)state;
	run(1, 1, 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_loop),
		cmocka_unit_test(test_event_loop_twin),
		cmocka_unit_test(test_service_thread),
		cmocka_unit_test(test_service_thread_twin),
		cmocka_unit_test(test_event_loop_send_buffer),
		cmocka_unit_test(test_service_thread_twin_send_buffer),
	};
	return cmocka_run_group_tests_name("client_chaos", tests, NULL, NULL);
}
