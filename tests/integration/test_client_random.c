/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client with its options drawn at random (issue #22): event loop or
 * service thread, twin socket on or off, the send buffer (post_delay_us),
 * coalescing, doorbells, max_in_flight, the message timeout, polling,
 * a small max_data_xfer_size (large reads and writes in pieces). Threads
 * make synchronous, posted and asynchronous requests and flush; callbacks
 * make calls of their own (posted, asynchronous, synchronous large ones).
 * The scripted server coalesces and splits its replies at random, answers
 * some requests with an error, some late (racing the timeout), drops some,
 * and hangs up at a random point in some rounds; in others a thread shuts
 * the client down at a random moment. Once the client has mapped memory,
 * the server makes DMA of its own (a DMA_WRITE, then a DMA_READ of the same
 * bytes, on the twin socket when there is one) and checks the answers.
 *
 * Every request carries a tag in its offset (one per call), so the
 * server's record of what it did with each can be set against what the
 * call returned: 0 only for a request whose every piece the server answered
 * with success (and the data it sent), the server's errno only when it sent
 * it, the connection's errors only in a round with faults. The server
 * checks what it receives: the data of every write, and the order of each
 * thread's posted writes (they reach the server in the order posted).
 *
 * Bounded time: rounds run for UVFIO_CHAOS_MS (default 2500 ms; the
 * sanitizer builds take what they take per round). A failure names the
 * round's seed; UVFIO_CHAOS_SEED=<seed> replays that round alone
 * (UVFIO_CHAOS_VERBOSE=1 prints each round's seed first, for a sanitizer's
 * report, which names none). Waits are hang bounds, never speed checks.
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

#define HANG_MS 30000 /* a bound for "never", not a speed check */
#define NWORKERS 2
#define NOPS 60          /* per worker and round */
#define MAX_TAGS 4096    /* per round */
#define TAG_SHIFT 20     /* offset = tag << TAG_SHIFT | within */
#define BELL_OFF 0x100u  /* the doorbell: region 0, below every tag */
#define SRV_EIO 5

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static uint8_t pat(uint64_t off)
{
	return (uint8_t)(mix(off) >> 7);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void ms_sleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- A round's options ---------------------------------------------------------------- */

struct round {
	uint64_t seed;
	bool service, twin, coalesce, bells, poll;
	uint32_t delay_us, max_in_flight, xfer;
	int timeout_ms;
	bool faults;     /* errors, late and dropped replies */
	unsigned hang_after; /* the server hangs up after this many requests (0: never) */
	unsigned shut_ms;    /* a thread shuts the client down after this long (0: never) */
};

static void draw(struct round *o, uint64_t seed)
{
	uint64_t r = seed;
	memset(o, 0, sizeof(*o));
	o->seed = seed;
	o->service = rnd(&r) % 2;
	o->twin = rnd(&r) % 2;
	o->coalesce = rnd(&r) % 2;
	o->bells = rnd(&r) % 3 == 0;
	o->poll = rnd(&r) % 4 == 0;
	o->delay_us = rnd(&r) % 3 ? 0 : 50 + rnd(&r) % 2000;
	static const uint32_t mif[] = { 0, 1, 3, 8, 64 };
	o->max_in_flight = mif[rnd(&r) % 5];
	static const uint32_t xf[] = { 512, 4096, 16384 };
	o->xfer = xf[rnd(&r) % 3];
	o->faults = rnd(&r) % 2;
	/* late replies race this timeout; without faults it is only a bound */
	o->timeout_ms = o->faults ? 20 + (int)(rnd(&r) % 60) : HANG_MS;
	switch (rnd(&r) % 4) {
	case 0:
		o->hang_after = 1 + rnd(&r) % 150;
		break;
	case 1:
		o->shut_ms = 1 + rnd(&r) % 100;
		break;
	}
}

static bool clean(const struct round *o)
{
	return !o->faults && !o->hang_after && !o->shut_ms;
}

/* ---- The scripted server ---------------------------------------------------------------- */

enum act { A_OK, A_ERR, A_LATE, A_DROP };

/* What the server did with a tag's pieces. */
struct tag_rec {
	unsigned seen, ok, err, dropped;
};

struct out_msg {
	struct out_msg *next;
	uint64_t due; /* ms */
	size_t len;
	int fd;   /* sent with it, or -1 */
	bool twin; /* on the twin socket */
	uint8_t buf[];
};

struct srv {
	const struct round *o;
	int fd, twin_fd, bell;
	uint64_t rng, wrng;
	pthread_t reader, writer;
	pthread_mutex_t mu; /* everything below */
	pthread_cond_t cv;
	struct out_msg *q; /* replies by due time */
	bool closing, hung;
	unsigned requests;
	unsigned msg_rings; /* doorbell writes that came as messages */
	struct tag_rec tags[MAX_TAGS];
	uint32_t post_seq[NWORKERS + 1]; /* last posted sequence number per thread */
	bool mapped;  /* DMA_MAP came: the server makes DMA of its own */
	bool dma_done; /* ... until the test counts the answers */
	unsigned dma_issued, dma_answered;
	struct { bool live, read; uint64_t addr; uint32_t len; } dma[256]; /* by id - DMA_ID */
	pthread_t twin_reader;
	int errors;
	char what[160];
};

static void srv_fail(struct srv *s, const char *fmt, unsigned a, unsigned b)
{
	if (!s->errors++)
		snprintf(s->what, sizeof(s->what), fmt, a, b);
}

/* Queue a message, sent at due (ms), with descriptor fd. mu held. */
static void put(struct srv *s, bool twin, const struct uvfio_hdr *h, const void *b1, size_t l1,
		const void *b2, size_t l2, uint64_t due, int fd)
{
	struct out_msg *m = malloc(sizeof(*m) + 16 + l1 + l2);
	m->twin = twin;
	m->len = 16 + l1 + l2;
	m->due = due;
	m->fd = fd;
	struct uvfio_hdr hh = *h;
	hh.msg_size = (uint32_t)m->len;
	memcpy(m->buf, &hh, 16);
	if (l1)
		memcpy(m->buf + 16, b1, l1);
	if (l2)
		memcpy(m->buf + 16 + l1, b2, l2);
	struct out_msg **pp = &s->q;
	while (*pp && (*pp)->due <= due)
		pp = &(*pp)->next;
	m->next = *pp;
	*pp = m;
	pthread_cond_signal(&s->cv);
}

#define DMA_IOVA 0x40000000u
#define DMA_SIZE 65536u
#define DMA_ID 0x8000u

/* A DMA_WRITE of bytes pat(addr ^ seed), then a DMA_READ of the same: on
 * the twin socket when there is one. mu held. */
static void dma_issue(struct srv *s)
{
	uint32_t len = 1 + rnd(&s->rng) % 4096;
	uint64_t addr = DMA_IOVA + rnd(&s->rng) % (DMA_SIZE - len);
	for (int k = 0; k < 2; k++) {
		unsigned i = s->dma_issued++ % 256;
		if (s->dma[i].live)
			return; /* 128 pairs unanswered: enough */
		s->dma[i] = (typeof(s->dma[0])){ true, k == 1, addr, len };
		struct uvfio_dma_access a = { .addr = addr, .count = len };
		struct uvfio_hdr h = { .msg_id = (uint16_t)(DMA_ID + i), .flags = UVFIO_FLAGS_TYPE_COMMAND,
				       .cmd = k ? UVFIO_CMD_DMA_READ : UVFIO_CMD_DMA_WRITE };
		uint8_t *d = k ? NULL : malloc(len);
		for (uint32_t j = 0; d && j < len; j++)
			d[j] = pat((addr + j) ^ s->o->seed);
		put(s, s->o->twin, &h, &a, sizeof(a), d, k ? 0 : len, now_ms(), -1);
		free(d);
	}
}

/* The client's answer to a DMA request. mu held. */
static void dma_answer(struct srv *s, const struct uvfio_hdr *h, const uint8_t *body, size_t len)
{
	unsigned i = (unsigned)(h->msg_id - DMA_ID);
	if (i >= 256 || !s->dma[i].live) {
		srv_fail(s, "an answer to no DMA request (id %u)", h->msg_id, 0);
		return;
	}
	s->dma[i].live = false;
	s->dma_answered++;
	struct uvfio_dma_access a;
	size_t want = sizeof(a) + (s->dma[i].read ? s->dma[i].len : 0);
	bool ok = !(h->flags & UVFIO_FLAGS_ERROR) && len == want;
	if (ok) {
		memcpy(&a, body, sizeof(a));
		ok = a.addr == s->dma[i].addr && a.count == s->dma[i].len;
	}
	for (uint32_t j = 0; ok && s->dma[i].read && j < s->dma[i].len; j++)
		ok = body[sizeof(a) + j] == pat((s->dma[i].addr + j) ^ s->o->seed);
	if (!ok)
		srv_fail(s, "DMA answer %u wrong (%u bytes)", h->msg_id, (unsigned)len);
}

static void reply(struct srv *s, const struct uvfio_hdr *req, int err, const void *b1, size_t l1,
		  const void *b2, size_t l2, uint64_t due, int fd)
{
	struct uvfio_hdr h = { .msg_id = req->msg_id, .cmd = req->cmd,
			       .flags = UVFIO_FLAGS_TYPE_REPLY | (err ? UVFIO_FLAGS_ERROR : 0),
			       .error_no = (uint32_t)err };
	put(s, false, &h, b1, l1, b2, l2, due, fd);
}

/* The writer: what is due, up to four messages in one buffer, written in
 * pieces of random sizes (a descriptor on the piece that ends its message). */
static void *writer(void *arg)
{
	struct srv *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (s->closing && !s->q)
			break;
		if (!s->q) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		uint64_t t = now_ms();
		if (s->q->due > t && !s->closing) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + (s->q->due - t) * 1000000u;
			ts.tv_sec += (time_t)(ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
			continue;
		}
		struct out_msg *batch[4];
		unsigned n = 0, want = 1 + rnd(&s->wrng) % 4;
		while (s->q && n < want && (s->q->due <= t || s->closing)) {
			batch[n++] = s->q;
			s->q = s->q->next;
		}
		bool hung = s->hung;
		pthread_mutex_unlock(&s->mu);
		for (unsigned i = 0; i < n; i++) {
			static const size_t caps[] = { 1, 7, 64, 4096, SIZE_MAX };
			size_t at = 0, len = batch[i]->len;
			while (!hung && at < len) {
				size_t cap = caps[rnd(&s->wrng) % 5];
				size_t k = 1 + rnd(&s->wrng) % VU_MIN(cap, len - at);
				bool last = at + k == len;
				int fd = last ? batch[i]->fd : -1;
				if (!peer_write(batch[i]->twin ? s->twin_fd : s->fd, batch[i]->buf + at, k,
						fd >= 0 ? &fd : NULL,
						fd >= 0))
					break; /* the client is gone */
				at += k;
			}
			if (batch[i]->fd >= 0)
				close(batch[i]->fd);
			free(batch[i]);
		}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static enum act act_of(const struct srv *s, uint64_t off)
{
	if (!s->o->faults)
		return A_OK;
	unsigned v = (unsigned)(mix(off ^ s->o->seed) % 100);
	return v < 70 ? A_OK : v < 80 ? A_ERR : v < 92 ? A_LATE : A_DROP;
}

static void *twin_reader(void *arg);

static void version(struct srv *s, const struct uvfio_hdr *h)
{
	char js[256];
	snprintf(js, sizeof(js),
		 "{\"capabilities\":{\"write_multiple\":true,\"max_data_xfer_size\":%u%s}}",
		 s->o->xfer, s->o->twin ? ",\"twin_socket\":{\"supported\":true,\"fd_index\":0}" : "");
	struct uvfio_version v = { 0, 1 };
	int fd = -1;
	if (s->o->twin) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			abort();
		s->twin_fd = sv[0];
		fd = sv[1];
	}
	reply(s, h, 0, &v, sizeof(v), js, strlen(js) + 1, 0, fd);
	if (s->o->twin)
		pthread_create(&s->twin_reader, NULL, twin_reader, s);
}

/* A tagged request's piece at offset off: its fate, recorded. mu held. */
static enum act tagged(struct srv *s, uint64_t off, uint64_t *due)
{
	unsigned tag = (unsigned)(off >> TAG_SHIFT);
	enum act a = act_of(s, off);
	*due = now_ms();
	if (a == A_LATE) /* around the timeout: before it, or after */
		*due += (uint64_t)s->o->timeout_ms / 2 + rnd(&s->rng) % (unsigned)s->o->timeout_ms;
	if (tag < MAX_TAGS) {
		s->tags[tag].seen++;
		s->tags[tag].ok += a == A_OK || a == A_LATE;
		s->tags[tag].err += a == A_ERR;
		s->tags[tag].dropped += a == A_DROP;
	}
	return a;
}

/* A posted write's data: its thread and sequence number; they must come
 * in order. mu held. */
static void posted_seq(struct srv *s, uint64_t off, const uint8_t *d, uint32_t n)
{
	if (n != 4 && n != 8 && n != 16)
		return;
	uint32_t v;
	memcpy(&v, d, 4);
	unsigned k = v >> 24, seq = v & 0xffffff;
	if (k > NWORKERS || (off & 0xfffff) != 0x80)
		return;
	if (seq <= s->post_seq[k])
		srv_fail(s, "thread %u: posted write %u out of order", k, seq);
	s->post_seq[k] = seq;
}

static void handle(struct srv *s, const struct uvfio_hdr *h, const uint8_t *body, size_t len)
{
	struct uvfio_region_access a = { 0 };
	uint64_t due = 0;
	if (len >= sizeof(a))
		memcpy(&a, body, sizeof(a));
	switch (h->cmd) {
	case UVFIO_CMD_VERSION:
		version(s, h);
		return;
	case UVFIO_CMD_DEVICE_GET_INFO: {
		struct uvfio_device_info di = { .argsz = sizeof(di), .num_regions = 1 };
		reply(s, h, 0, &di, sizeof(di), NULL, 0, 0, -1);
		return;
	}
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS: {
		struct uvfio_region_io_fds_reply r = { .argsz = 16 + 40, .count = 1 };
		struct uvfio_sub_region_ioeventfd e = { .offset = BELL_OFF, .size = 4,
							.type = UVFIO_IO_FD_TYPE_IOEVENTFD };
		int fd = dup(s->bell);
		reply(s, h, 0, &r, sizeof(r), &e, sizeof(e), 0, fd);
		return;
	}
	case UVFIO_CMD_REGION_READ: {
		if (len != sizeof(a) || a.count > s->o->xfer) {
			srv_fail(s, "bad REGION_READ %u %u", (unsigned)len, a.count);
			return;
		}
		enum act act = tagged(s, a.offset, &due);
		if (act == A_DROP)
			return;
		if (act == A_ERR) {
			reply(s, h, SRV_EIO, NULL, 0, NULL, 0, due, -1);
			return;
		}
		uint8_t *d = malloc(a.count + 1);
		for (uint32_t i = 0; i < a.count; i++)
			d[i] = pat(a.offset + i);
		reply(s, h, 0, &a, sizeof(a), d, a.count, due, -1);
		free(d);
		return;
	}
	case UVFIO_CMD_REGION_WRITE: {
		if (len != sizeof(a) + a.count || a.count > s->o->xfer) {
			srv_fail(s, "bad REGION_WRITE %u %u", (unsigned)len, a.count);
			return;
		}
		if (a.offset == BELL_OFF) { /* the doorbell, as a message */
			s->msg_rings++;
			reply(s, h, 0, &a, sizeof(a), NULL, 0, now_ms(), -1);
			return;
		}
		if ((a.offset & 0xfffff) == 0x80) { /* posted: always answered */
			posted_seq(s, a.offset, body + sizeof(a), a.count);
			reply(s, h, 0, &a, sizeof(a), NULL, 0, now_ms(), -1);
			return;
		}
		for (uint32_t i = 0; i < a.count; i++)
			if (body[sizeof(a) + i] != pat(a.offset + i)) {
				srv_fail(s, "write data wrong at tag %u byte %u",
					 (unsigned)(a.offset >> TAG_SHIFT), i);
				break;
			}
		enum act act = tagged(s, a.offset, &due);
		if (act != A_DROP)
			reply(s, h, act == A_ERR ? SRV_EIO : 0, &a, act == A_ERR ? 0 : sizeof(a),
			      NULL, 0, due, -1);
		return;
	}
	case UVFIO_CMD_REGION_WRITE_MULTI: {
		struct uvfio_write_multi wm;
		memcpy(&wm, body, sizeof(wm));
		if (len != sizeof(wm) + wm.wr_cnt * sizeof(struct uvfio_write_multi_entry) ||
		    !wm.wr_cnt || wm.wr_cnt > UVFIO_WRITE_MULTI_MAX) {
			srv_fail(s, "bad REGION_WRITE_MULTI %u %u", (unsigned)len, wm.wr_cnt);
			return;
		}
		for (uint64_t i = 0; i < wm.wr_cnt; i++) {
			struct uvfio_write_multi_entry e;
			memcpy(&e, body + sizeof(wm) + i * sizeof(e), sizeof(e));
			s->msg_rings += e.offset == BELL_OFF;
			posted_seq(s, e.offset, e.data, e.count);
		}
		reply(s, h, 0, NULL, 0, NULL, 0, now_ms(), -1);
		return;
	}
	case UVFIO_CMD_DMA_MAP:
		s->mapped = true;
		reply(s, h, 0, NULL, 0, NULL, 0, 0, -1);
		return;
	case UVFIO_CMD_DMA_UNMAP:
		reply(s, h, 0, NULL, 0, NULL, 0, 0, -1);
		return;
	default:
		srv_fail(s, "unexpected command %u (%u)", h->cmd, 0);
		reply(s, h, 22, NULL, 0, NULL, 0, 0, -1);
	}
}

static void *reader(void *arg)
{
	struct srv *s = arg;
	uint8_t *body = malloc(1u << 20);
	struct uvfio_hdr h;
	while (peer_recv(s->fd, &h, body, 1u << 20, NULL, NULL)) {
		pthread_mutex_lock(&s->mu);
		if ((h.flags & UVFIO_FLAGS_TYPE_MASK) != UVFIO_FLAGS_TYPE_COMMAND) {
			if (s->o->twin) /* answers travel on the twin socket */
				srv_fail(s, "an answer on the main socket (%u)", h.cmd, 0);
			dma_answer(s, &h, body, h.msg_size - 16);
		} else {
			handle(s, &h, body, h.msg_size - 16);
			if (s->mapped && !s->dma_done && rnd(&s->rng) % 8 == 0)
				dma_issue(s);
		}
		bool hang = s->o->hang_after && ++s->requests == s->o->hang_after;
		if (hang)
			s->hung = true;
		pthread_mutex_unlock(&s->mu);
		if (hang) { /* in the middle of things: what is queued is lost */
			shutdown(s->fd, SHUT_RDWR);
			break;
		}
	}
	free(body);
	return NULL;
}

static void *twin_reader(void *arg)
{
	struct srv *s = arg;
	uint8_t *body = malloc(8192);
	struct uvfio_hdr h;
	while (peer_recv(s->twin_fd, &h, body, 8192, NULL, NULL)) {
		pthread_mutex_lock(&s->mu);
		if ((h.flags & UVFIO_FLAGS_TYPE_MASK) != UVFIO_FLAGS_TYPE_REPLY)
			srv_fail(s, "a request on the twin socket (%u)", h.cmd, 0);
		else
			dma_answer(s, &h, body, h.msg_size - 16);
		pthread_mutex_unlock(&s->mu);
	}
	free(body);
	return NULL;
}

/* ---- The client's side -------------------------------------------------------------------- */

struct ctx;

struct op { /* one call, set against the server's record of its tag */
	unsigned tag;
	int result;
	bool async; /* a callback's result */
};

struct worker {
	struct ctx *x;
	int k;
	uint64_t rng;
	uint32_t post_seq;
	uint8_t *buf;
	pthread_t t;
};

struct ctx {
	const struct round *o;
	struct uvfio_client *c;
	struct srv *s;
	pthread_mutex_t mu; /* ops, ntags */
	struct op ops[MAX_TAGS];
	unsigned ntags;
	int async_out; /* asynchronous requests not completed (atomic) */
	int bells;     /* doorbells rung (atomic) */
	int errors;    /* atomic */
	char what[160];
	int stop;      /* eventfd: the event loop ends */
	int dying;     /* atomic: shut down, or the server hung up */
};

static void cfail(struct ctx *x, const char *fmt, int a, int b)
{
	pthread_mutex_lock(&x->mu);
	if (!x->errors++)
		snprintf(x->what, sizeof(x->what), fmt, a, b);
	pthread_mutex_unlock(&x->mu);
}

static unsigned new_tag(struct ctx *x)
{
	pthread_mutex_lock(&x->mu);
	unsigned t = x->ntags < MAX_TAGS - 1 ? ++x->ntags : 0;
	pthread_mutex_unlock(&x->mu);
	return t;
}

static void record(struct ctx *x, unsigned tag, int result, bool async)
{
	if (!tag)
		return;
	pthread_mutex_lock(&x->mu);
	x->ops[tag] = (struct op){ .tag = tag, .result = result, .async = async };
	pthread_mutex_unlock(&x->mu);
}

static bool known_error(int r)
{
	return r == -SRV_EIO || r == -ETIMEDOUT || r == -ECONNRESET || r == -ESHUTDOWN ||
	       r == -EHOSTDOWN || r == -EAGAIN;
}

/* A read of len bytes under a new tag, checked against the pattern. */
static void op_read(struct ctx *x, uint8_t *buf, size_t len, uint32_t within)
{
	unsigned tag = new_tag(x);
	if (!tag)
		return;
	uint64_t off = ((uint64_t)tag << TAG_SHIFT) | within;
	int r = uvfio_client_region_read(x->c, 0, off, buf, len);
	for (size_t i = 0; r == 0 && i < len; i++)
		if (buf[i] != pat(off + i)) {
			cfail(x, "tag %d: read data wrong at byte %d", (int)tag, (int)i);
			break;
		}
	record(x, tag, r, false);
}

static void op_write(struct ctx *x, uint8_t *buf, size_t len, uint32_t within)
{
	unsigned tag = new_tag(x);
	if (!tag)
		return;
	uint64_t off = ((uint64_t)tag << TAG_SHIFT) | within;
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(off + i);
	record(x, tag, uvfio_client_region_write(x->c, 0, off, buf, len), false);
}

/* Posted writes go to the thread's sequence offset (or the doorbell); the
 * server checks their order. k: the posting thread (NWORKERS: callbacks,
 * whose order is the one thread that runs them... or several: not checked). */
static void op_post(struct ctx *x, struct worker *w, uint64_t *rng)
{
	if (x->o->bells && rnd(rng) % 3 == 0) {
		uint32_t one = 1;
		int r = uvfio_client_region_write_posted(x->c, 0, BELL_OFF, &one, 4);
		if (r == 0)
			__atomic_add_fetch(&x->bells, 1, __ATOMIC_RELAXED);
		else if (!known_error(r))
			cfail(x, "doorbell: %d%d", r, 0);
		return;
	}
	static const size_t lens[] = { 4, 8, 16 };
	size_t len = lens[rnd(rng) % 3];
	uint8_t d[16] = { 0 };
	uint32_t v = w ? ((uint32_t)w->k << 24) | ++w->post_seq : 0xff000000u;
	memcpy(d, &v, 4);
	unsigned k = w ? (unsigned)w->k : 0;
	int r = uvfio_client_region_write_posted(x->c, 0, ((uint64_t)(k + 1) << 50) | 0x80, d, len);
	if (r < 0 && !known_error(r))
		cfail(x, "posted write: %d%d", r, 0);
}

struct acall {
	struct ctx *x;
	unsigned tag;
	uint64_t off, rng;
	uint32_t len;
	int depth;
};

static void async_read(struct ctx *x, uint32_t len, int depth, uint64_t rng);

/* A callback: checks its reply, then, now and then, calls: a posted
 * write, another asynchronous read, or a synchronous read (a large one:
 * in pieces, received into its own buffer, freed before it returns). */
static void async_cb(void *opaque, int result, const void *rep, size_t len)
{
	struct acall *a = opaque;
	struct ctx *x = a->x;
	if (result == 0) {
		const uint8_t *d = (const uint8_t *)rep + 16;
		bool ok = len == 16 + a->len;
		for (uint32_t i = 0; ok && i < a->len; i++)
			ok = d[i] == pat(a->off + i);
		if (!ok)
			cfail(x, "tag %d: async reply wrong (%d bytes)", (int)a->tag, (int)len);
	}
	record(x, a->tag, result, true);
	if (a->depth < 2) {
		switch (rnd(&a->rng) % 6) {
		case 0:
			op_post(x, NULL, &a->rng);
			break;
		case 1:
			async_read(x, 1 + rnd(&a->rng) % 64, a->depth + 1, a->rng);
			break;
		case 2: {
			size_t n = rnd(&a->rng) % 2 ? 8 : 1 + rnd(&a->rng) % (4 * x->o->xfer);
			uint8_t *buf = malloc(n);
			op_read(x, buf, n, 0);
			memset(buf, 0xee, n); /* the call is over: the buffer is ours again */
			free(buf);
			break;
		}
		}
	}
	free(a);
	__atomic_sub_fetch(&x->async_out, 1, __ATOMIC_RELEASE);
}

static void async_read(struct ctx *x, uint32_t len, int depth, uint64_t rng)
{
	unsigned tag = new_tag(x);
	if (!tag)
		return;
	struct acall *a = malloc(sizeof(*a));
	*a = (struct acall){ x, tag, (uint64_t)tag << TAG_SHIFT, rng, len, depth };
	struct uvfio_region_access ra = { .offset = a->off, .count = len };
	__atomic_add_fetch(&x->async_out, 1, __ATOMIC_RELAXED);
	int r = uvfio_client_call_async(x->c, UVFIO_CMD_REGION_READ, &ra, sizeof(ra), async_cb, a);
	if (r < 0) {
		record(x, tag, r, false);
		free(a);
		__atomic_sub_fetch(&x->async_out, 1, __ATOMIC_RELAXED);
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct ctx *x = w->x;
	for (int i = 0; i < NOPS; i++) {
		uint32_t xf = x->o->xfer;
		size_t len = rnd(&w->rng) % 4 ? 1 + rnd(&w->rng) % 64 : 1 + rnd(&w->rng) % (6 * xf);
		switch (rnd(&w->rng) % 8) {
		case 0:
		case 1:
			op_read(x, w->buf, len, rnd(&w->rng) % 16);
			break;
		case 2:
			op_write(x, w->buf, len, rnd(&w->rng) % 16);
			break;
		case 3:
		case 4:
			op_post(x, w, &w->rng);
			break;
		case 5:
		case 6:
			async_read(x, (uint32_t)VU_MIN(len, (size_t)xf), 0, mix(w->rng));
			break;
		case 7: {
			int r = uvfio_client_flush(x->c);
			if (r < 0 && !known_error(r))
				cfail(x, "flush: %d%d", r, 0);
			if (r < 0 && clean(x->o))
				cfail(x, "flush in a clean round: %d%d", r, 0);
			break;
		}
		}
	}
	return NULL;
}

static void *event_loop(void *arg)
{
	struct ctx *x = arg;
	for (;;) {
		struct pollfd pf[2] = { { .fd = uvfio_client_poll_fd(x->c), .events = POLLIN },
					{ .fd = x->stop, .events = POLLIN } };
		if (poll(pf, 2, 1000) < 0)
			continue;
		if (pf[1].revents)
			return NULL;
		int r = uvfio_client_dispatch(x->c);
		if (r < 0 && r != -EBUSY && r != -ECONNRESET && r != -ESHUTDOWN)
			cfail(x, "dispatch: %d%d", r, 0);
		if (r == -ECONNRESET || r == -ESHUTDOWN)
			ms_sleep(1); /* poll_fd stays readable once dead */
	}
}

static void *shutter(void *arg)
{
	struct ctx *x = arg;
	struct pollfd pf = { .fd = x->stop, .events = POLLIN };
	if (poll(&pf, 1, (int)x->o->shut_ms) == 0)
		uvfio_client_shutdown(x->c);
	return NULL;
}

/* Set each call's result against what the server did with its tag. */
static void check(struct ctx *x, struct srv *s)
{
	const struct round *o = x->o;
	for (unsigned tag = 1; tag <= x->ntags; tag++) {
		const struct op *p = &x->ops[tag];
		const struct tag_rec *t = &s->tags[tag];
		if (!p->tag)
			continue; /* a callback that never ran is counted below */
		int r = p->result;
		bool all_ok = t->seen && !t->err && !t->dropped && t->ok == t->seen;
		if (r == 0 && !all_ok)
			cfail(x, "tag %d: 0, but the server did not answer it all (seen %d)", (int)tag,
			      (int)t->seen);
		else if (r == -SRV_EIO && !t->err)
			cfail(x, "tag %d: -EIO the server never sent (seen %d)", (int)tag,
			      (int)t->seen);
		else if (r < 0 && !known_error(r))
			cfail(x, "tag %d: unexpected %d", (int)tag, r);
		else if (clean(o) && r != 0 && !(r == -SRV_EIO && t->err))
			cfail(x, "tag %d: %d in a round without faults", (int)tag, r);
	}
}

static unsigned total_dma; /* server DMA requests, all rounds */

static void run_round(uint64_t seed)
{
	struct round o;
	draw(&o, seed);
	if (getenv("UVFIO_CHAOS_VERBOSE")) /* a sanitizer's report names no seed */
		fprintf(stderr, "round: UVFIO_CHAOS_SEED=%llu\n", (unsigned long long)seed);
	int fds_before = tu_count_fds();
	struct srv *s = calloc(1, sizeof(*s));
	s->o = &o;
	s->rng = seed ^ 1;
	s->wrng = seed ^ 2;
	s->twin_fd = -1;
	s->bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->fd = sv[0];
	pthread_create(&s->writer, NULL, writer, s);
	pthread_create(&s->reader, NULL, reader, s);

	struct ctx *x = calloc(1, sizeof(*x));
	x->o = &o;
	x->s = s;
	x->stop = eventfd(0, EFD_CLOEXEC);
	pthread_mutex_init(&x->mu, NULL);
	struct uvfio_client_config cfg = {
		.log = { .level = getenv("UVFIO_TRACE") ? 7 : -1 },
		.mode = o.service ? UVFIO_CLIENT_SERVICE_THREAD : UVFIO_CLIENT_EVENT_LOOP,
		.twin_socket = o.twin ? UVFIO_TWIN_ON : UVFIO_TWIN_OFF,
		.coalesce_posted = o.coalesce,
		.post_delay_us = o.delay_us,
		.use_ioeventfds = o.bells,
		.max_in_flight = o.max_in_flight,
		.poll_us = o.poll ? 20 : 0,
		.timeout_ms = HANG_MS, /* connecting is not what is tested */
	};
	int r = uvfio_client_adopt(sv[1], &cfg, &x->c);
	if (r < 0) {
		/* the server may hang up during the connection's setup */
		if (!o.hang_after)
			fail_msg("seed %llu: connect: %d", (unsigned long long)seed, r);
	} else {
		static uint8_t mem[DMA_SIZE];
		struct uvfio_dma_region dr = { .vaddr = mem, .iova = DMA_IOVA, .size = DMA_SIZE,
					       .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
					       .fd = -1 };
		r = uvfio_client_dma_map(x->c, &dr);
		if (r < 0 && !o.hang_after)
			cfail(x, "DMA_MAP: %d%d", r, 0);
		uvfio_client_set_timeout(x->c, o.timeout_ms);
		pthread_t loop, shut;
		if (!o.service)
			pthread_create(&loop, NULL, event_loop, x);
		if (o.shut_ms)
			pthread_create(&shut, NULL, shutter, x);
		struct worker w[NWORKERS];
		for (int k = 0; k < NWORKERS; k++) {
			w[k] = (struct worker){ .x = x, .k = k + 1, .rng = mix(seed + (uint64_t)k),
						.buf = malloc(6 * o.xfer + 64) };
			pthread_create(&w[k].t, NULL, work, &w[k]);
		}
		for (int k = 0; k < NWORKERS; k++) {
			pthread_join(w[k].t, NULL);
			free(w[k].buf);
		}
		r = uvfio_client_flush(x->c);
		if (r < 0 && (clean(&o) || !known_error(r)))
			cfail(x, "final flush: %d%d", r, 0);
		/* every DMA request of the server answered (without faults) */
		pthread_mutex_lock(&s->mu);
		s->dma_done = true; /* none after this (the close's flush) */
		pthread_mutex_unlock(&s->mu);
		for (int ms = 0; clean(&o) && ms < HANG_MS; ms++) {
			pthread_mutex_lock(&s->mu);
			bool all = s->dma_answered == s->dma_issued;
			pthread_mutex_unlock(&s->mu);
			if (all)
				break;
			ms_sleep(1);
		}
		/* every callback runs once: by its reply, its deadline, or the end */
		for (int ms = 0; __atomic_load_n(&x->async_out, __ATOMIC_ACQUIRE) && ms < HANG_MS;
		     ms++)
			ms_sleep(1);
		if (__atomic_load_n(&x->async_out, __ATOMIC_ACQUIRE))
			uvfio_client_shutdown(x->c);
		uint64_t one = 1;
		if (write(x->stop, &one, sizeof(one)) != sizeof(one))
			abort();
		if (!o.service)
			pthread_join(loop, NULL);
		if (o.shut_ms)
			pthread_join(shut, NULL);
		uvfio_client_close(x->c);
		if (__atomic_load_n(&x->async_out, __ATOMIC_ACQUIRE))
			cfail(x, "%d callbacks never ran%d", x->async_out, 0);
	}
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->reader, NULL);
	pthread_mutex_lock(&s->mu);
	s->closing = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->writer, NULL);
	if (s->twin_fd >= 0) {
		shutdown(s->twin_fd, SHUT_RDWR);
		pthread_join(s->twin_reader, NULL);
	}
	total_dma += s->dma_issued;
	if (clean(&o) && s->dma_answered != s->dma_issued)
		cfail(x, "%d of %d DMA requests answered", (int)s->dma_answered, (int)s->dma_issued);
	uint64_t rings = 0;
	if (read(s->bell, &rings, sizeof(rings)) < 0)
		rings = 0;
	if (r >= 0 && clean(&o) && rings + s->msg_rings != (uint64_t)x->bells)
		cfail(x, "%d doorbells rung, the server saw %d", x->bells,
		      (int)(rings + s->msg_rings));
	check(x, s);
	if (s->errors || x->errors)
		fail_msg("seed %llu (replay: UVFIO_CHAOS_SEED=%llu): service %d twin %d coalesce %d "
			 "bells %d poll %d delay_us %u max_in_flight %u xfer %u timeout %d faults %d "
			 "hang_after %u shut_ms %u: %s%s",
			 (unsigned long long)seed, (unsigned long long)seed, o.service, o.twin,
			 o.coalesce, o.bells, o.poll, o.delay_us, o.max_in_flight, o.xfer,
			 o.timeout_ms, o.faults, o.hang_after, o.shut_ms, s->errors ? s->what : "",
			 x->errors ? x->what : "");
	if (s->twin_fd >= 0)
		close(s->twin_fd);
	close(s->fd);
	close(s->bell);
	close(x->stop);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&x->mu);
	free(s);
	free(x);
	if (tu_count_fds() != fds_before)
		fail_msg("seed %llu: %d descriptors leaked", (unsigned long long)seed,
			 tu_count_fds() - fds_before);
}

static void test_random_options(void **state)
{
	(void)state;
	const char *e = getenv("UVFIO_CHAOS_SEED");
	if (e) {
		run_round(strtoull(e, NULL, 0));
		return;
	}
	const char *m = getenv("UVFIO_CHAOS_MS");
	uint64_t budget = m ? strtoull(m, NULL, 0) : 2500;
	uint64_t base = (uint64_t)time(NULL) * 1000u, t0 = now_ms();
	unsigned rounds = 0;
	while (rounds < 3 || now_ms() - t0 < budget)
		run_round(base + rounds++);
	print_message("%u rounds from seed %llu, %u DMA requests of the server\n", rounds,
		      (unsigned long long)base, total_dma);
	assert_true(total_dma > 0); /* the server's DMA did happen */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_options),
	};
	return cmocka_run_group_tests_name("client_random", tests, NULL, NULL);
}
