/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * QEMU's client (vfio-user-pci, 10.2.50) as recorded on the wire, replayed
 * against our server: every request QEMU sent goes to the device that was
 * recorded (uvfio-dma-engine, run from the build directory), coalesced and
 * split at random, and every reply is compared byte for byte with the one
 * recorded, except the differences each test names and checks. The
 * device's DMA_READ/DMA_WRITE requests are answered as QEMU answers them.
 */
#include <json-c/json.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "peer.h"
#include "testdev.h"
#include "util.h"
#include "vectors.h"

#define BIG (2u << 20) /* room for any message a device sends here */

struct qreplay;
typedef void (*q_request_fn)(struct qreplay *q, const struct uvfio_hdr *h, const uint8_t *body);
/* A reply that differs from the recorded one: check it and return true if
 * the difference is the expected one. */
typedef bool (*q_differs_fn)(struct qreplay *q, const struct vx_msg *req, const uint8_t *got,
			     size_t len);

struct qreplay {
	struct vx_session ses;
	int fd;  /* ours; the device has the other end */
	int ram; /* guest RAM shared by descriptor, or -1 */
	struct vx_writer w;
	struct vx_rng rng;
	void (*before)(struct qreplay *q, const struct vx_msg *m);
	q_request_fn request;
	q_differs_fn differs;
	void *arg;
	unsigned replies, differed;
	uint8_t *buf;
};

static void q_init(struct qreplay *q, const char *file, int fd, uint64_t seed)
{
	memset(q, 0, sizeof(*q));
	vx_load(file, &q->ses);
	q->fd = fd;
	q->ram = -1;
	vx_writer_init(&q->w, fd, seed);
	vx_rng_seed(&q->rng, seed * 31 + 7);
	q->buf = malloc(BIG);
	assert_non_null(q->buf);
}

static void q_free(struct qreplay *q)
{
	vx_free(&q->ses);
	vx_writer_free(&q->w);
	free(q->buf);
	if (q->ram >= 0)
		close(q->ram);
}

/* Descriptors for a recorded message: guest RAM for DMA_MAP, new eventfds
 * for SET_IRQS. Returns how many. */
static int q_fds(struct qreplay *q, const struct vx_msg *m, int *fds)
{
	for (int i = 0; i < m->nfds; i++) {
		if (m->hdr.cmd == UVFIO_CMD_DMA_MAP) {
			assert_true(q->ram >= 0);
			fds[i] = dup(q->ram);
		} else {
			assert_int_equal(m->hdr.cmd, UVFIO_CMD_DEVICE_SET_IRQS);
			fds[i] = eventfd(0, EFD_CLOEXEC);
		}
		assert_true(fds[i] >= 0);
	}
	return m->nfds;
}

/* The capabilities of two VERSION replies, parsed: the JSON's spelling
 * may change, its meaning must not. */
static bool same_version(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct uvfio_caps ca, cb;
	if (alen < 20 || blen < 20 || memcmp(a + 16, b + 16, 4) ||
	    uvfio_caps_parse((const char *)a + 20, alen - 20, &ca, NULL, 0) < 0 ||
	    uvfio_caps_parse((const char *)b + 20, blen - 20, &cb, NULL, 0) < 0)
		return false;
	return ca.max_msg_fds == cb.max_msg_fds && ca.max_data_xfer_size == cb.max_data_xfer_size &&
	       ca.max_dma_maps == cb.max_dma_maps && ca.pgsizes == cb.pgsizes &&
	       ca.write_multiple == cb.write_multiple && ca.twin_socket == cb.twin_socket &&
	       ca.migration == cb.migration;
}

/* Read until the reply to req arrives, answering the device's requests. */
static void q_await(struct qreplay *q, const struct vx_msg *req)
{
	for (;;) {
		struct uvfio_hdr h;
		int fds[8], nfds = 0;
		assert_true(peer_recv(q->fd, &h, q->buf + 16, BIG - 16, fds, &nfds) > 0);
		memcpy(q->buf, &h, 16);
		if ((h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_COMMAND) {
			assert_non_null(q->request);
			assert_int_equal(nfds, 0);
			q->request(q, &h, q->buf + 16);
			continue;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (h.msg_id != req->hdr.msg_id)
			fail_msg("reply id %u while waiting for %u", h.msg_id, req->hdr.msg_id);
		q->replies++;
		const struct vx_msg *rec = vx_find(&q->ses, false, h.msg_id, UVFIO_FLAGS_TYPE_REPLY);
		assert_non_null(rec);
		bool same = rec->len == h.msg_size && !memcmp(rec->bytes, q->buf, rec->len) &&
			    rec->nfds == nfds;
		if (!same && h.cmd == UVFIO_CMD_VERSION)
			same = same_version(q->buf, h.msg_size, rec->bytes, rec->len);
		if (!same) {
			q->differed++;
			if (!q->differs || !q->differs(q, req, q->buf, h.msg_size))
				fail_msg("reply %u (%s, %u bytes, %d fds) differs from the recorded one "
					 "(%zu bytes, %d fds)",
					 h.msg_id, uvfio_cmd_name(h.cmd), h.msg_size, nfds, rec->len,
					 rec->nfds);
		}
		return;
	}
}

/* Send the client's side in random groups of 1-4 messages, written in
 * random pieces, and check every reply. */
static void q_run(struct qreplay *q)
{
	const struct vx_msg *group[4];
	size_t i = 0;
	while (i < q->ses.n) {
		unsigned g = 0, want = 1 + (unsigned)vx_rand(&q->rng, 4);
		int made[64], nmade = 0;
		for (; i < q->ses.n && g < want; i++) {
			const struct vx_msg *m = &q->ses.m[i];
			/* the client's replies answer the device's requests (q->request) */
			if (!m->from_client ||
			    (m->hdr.flags & UVFIO_FLAGS_TYPE_MASK) != UVFIO_FLAGS_TYPE_COMMAND)
				continue;
			if (q->before)
				q->before(q, m);
			int fds[VX_MAX_FDS], n = q_fds(q, m, fds);
			vx_put(&q->w, m->bytes, m->len, fds, n);
			for (int k = 0; k < n; k++)
				made[nmade++] = fds[k];
			group[g++] = m;
		}
		vx_flush(&q->w);
		for (int k = 0; k < nmade; k++)
			close(made[k]);
		for (unsigned k = 0; k < g; k++)
			if (!(group[k]->hdr.flags & UVFIO_FLAGS_NO_REPLY))
				q_await(q, group[k]);
	}
}

/* The reply to a recorded region read of at most 8 bytes, returning v. */
static bool read_returns(const struct vx_msg *req, const uint8_t *got, size_t len, uint64_t v)
{
	struct uvfio_region_access a;
	struct uvfio_hdr h;
	memcpy(&a, req->bytes + 16, sizeof(a));
	memcpy(&h, got, 16);
	return req->hdr.cmd == UVFIO_CMD_REGION_READ && a.count <= 8 && len == 32 + a.count &&
	       h.flags == UVFIO_FLAGS_TYPE_REPLY && !memcmp(got + 16, req->bytes + 16, 16) &&
	       !memcmp(got + 32, &v, a.count);
}

/* Replies recorded from the server. */
static unsigned recorded_replies(const struct vx_session *s)
{
	unsigned n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += !s->m[i].from_client &&
		     (s->m[i].hdr.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY;
	return n;
}

/* ---- DMA through messages: qemu-client-dma-by-messages.json ------------------ */

#define DMA_SRC 0x1000000u
#define DMA_DST 0x2000000u
#define DMA_LEN 0x10000u
#define ENGINE_STATUS 0x20u
#define ENGINE_ERROR 0x28u

struct dmaq {
	enum uvfio_dma_layout answer; /* layout of our DMA_READ replies */
	bool recorded_bytes;          /* answer with QEMU's exact reply */
	const struct vx_msg *rec_req, *rec_rep;
	uint8_t dst[DMA_LEN];
	unsigned reads, writes;
	uint64_t status, error; /* what the engine must report */
};

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(7 * i + 3); /* the recording's guest buffer */
}

static void dma_request(struct qreplay *q, const struct uvfio_hdr *h, const uint8_t *body)
{
	struct dmaq *d = q->arg;
	uint8_t *rep = malloc(BIG);
	assert_non_null(rep);
	if (h->cmd == UVFIO_CMD_DMA_READ) {
		/* the request is the recorded one, id aside */
		assert_int_equal(h->msg_size, d->rec_req->len);
		assert_memory_equal(body, d->rec_req->bytes + 16, d->rec_req->len - 16);
		d->reads++;
		size_t len = d->rec_rep->len;
		memcpy(rep, d->rec_rep->bytes, len);
		if (!d->recorded_bytes) { /* the same data in the specification's layout */
			struct uvfio_dma_access a = { .addr = DMA_SRC, .count = DMA_LEN };
			memcpy(rep + 16, &a, sizeof(a));
			memcpy(rep + 32, d->rec_rep->bytes + 28, DMA_LEN);
		}
		memcpy(rep, &h->msg_id, 2);
		vx_put(&q->w, rep, len, NULL, 0);
		vx_flush(&q->w);
	} else {
		assert_int_equal(h->cmd, UVFIO_CMD_DMA_WRITE);
		uint64_t addr, count;
		size_t at;
		memcpy(&addr, body, 8);
		if (d->answer == UVFIO_DMA_LAYOUT_QEMU) {
			uint32_t c32;
			memcpy(&c32, body + 8, 4);
			count = c32;
			at = 12;
			static const uint8_t zero[UVFIO_DMA_ACCESS32_PAD];
			assert_memory_equal(body + 12 + count, zero, sizeof(zero)); /* padding */
		} else {
			memcpy(&count, body + 8, 8);
			at = 16;
		}
		assert_int_equal(h->msg_size, 32 + count); /* the same in both layouts */
		assert_true(addr >= DMA_DST && addr - DMA_DST <= DMA_LEN - count);
		memcpy(d->dst + (addr - DMA_DST), body + at, count);
		d->writes++;
		/* QEMU answers with the header alone */
		struct uvfio_hdr r = { .msg_id = h->msg_id, .cmd = h->cmd, .msg_size = 16,
				       .flags = UVFIO_FLAGS_TYPE_REPLY };
		vx_put(&q->w, &r, sizeof(r), NULL, 0);
		vx_flush(&q->w);
	}
	free(rep);
}

/* The engine's STATUS and ERROR registers, read at the end of the session. */
static bool dma_differs(struct qreplay *q, const struct vx_msg *req, const uint8_t *got,
			size_t len)
{
	struct dmaq *d = q->arg;
	struct uvfio_region_access a;
	memcpy(&a, req->bytes + 16, sizeof(a));
	if (a.region == 0 && a.offset == ENGINE_STATUS)
		return read_returns(req, got, len, d->status);
	if (a.region == 0 && a.offset == ENGINE_ERROR)
		return read_returns(req, got, len, d->error);
	return false;
}

/* Replay the session against uvfio-dma-engine started with args. */
static void dma_session(struct dmaq *d, const char *const *args, uint64_t seed, char **log)
{
	int fd, errfd;
	pid_t pid = vx_spawn("uvfio-dma-engine", args, &fd, &errfd);
	struct qreplay q;
	q_init(&q, "qemu-client-dma-by-messages.json", fd, seed);
	d->rec_req = vx_find(&q.ses, false, 0, UVFIO_FLAGS_TYPE_COMMAND);
	d->rec_rep = vx_find(&q.ses, true, 0, UVFIO_FLAGS_TYPE_REPLY);
	assert_non_null(d->rec_req);
	assert_non_null(d->rec_rep);
	assert_int_equal(d->rec_req->hdr.cmd, UVFIO_CMD_DMA_READ);
	/* QEMU's reply: 8-byte address, 4-byte count, data at 28, 32 + count */
	assert_int_equal(d->rec_rep->len, 32 + DMA_LEN);
	for (uint32_t i = 0; i < DMA_LEN; i++)
		assert_int_equal(d->rec_rep->bytes[28 + i], pattern(i));
	q.request = dma_request;
	q.differs = dma_differs;
	q.arg = d;
	q_run(&q);
	close(fd);
	assert_int_equal(vx_wait(pid), 0);
	*log = vx_slurp(errfd);
	close(errfd);
	print_message("%u replies, %u as expected differently; %u writes\n", q.replies,
		      q.differed, q.w.writes);
	assert_int_equal(q.replies, recorded_replies(&q.ses));
	q_free(&q);
}

/* QEMU proposes 0.0: the engine speaks QEMU's layout and the copy is right. */
static void test_qemu_dma_by_messages(void **state)
{
	(void)state;
	static struct dmaq d = { .answer = UVFIO_DMA_LAYOUT_QEMU, .recorded_bytes = true,
				 .status = 1, .error = 0 };
	char *log;
	dma_session(&d, (const char *const[]){ "-q", NULL }, 11, &log);
	assert_int_equal(d.reads, 1);
	assert_int_equal(d.writes, 1);
	for (uint32_t i = 0; i < DMA_LEN; i++)
		if (d.dst[i] != pattern(i))
			fail_msg("guest byte %u is %#x, not %#x", i, d.dst[i], pattern(i));
	free(log);
}

/* The same data in the specification's layout, to an engine set to it. */
static void test_spec_dma_by_messages(void **state)
{
	(void)state;
	static struct dmaq d = { .answer = UVFIO_DMA_LAYOUT_SPEC, .status = 1, .error = 0 };
	char *log;
	dma_session(&d, (const char *const[]){ "-q", "--dma-layout=spec", NULL }, 12, &log);
	assert_int_equal(d.writes, 1);
	for (uint32_t i = 0; i < DMA_LEN; i++)
		assert_int_equal(d.dst[i], pattern(i));
	free(log);
}

/* QEMU's bytes to an engine set to the specification's layout: the copy
 * fails as recorded (STATUS 2, ERROR EPROTO), nothing is written to guest
 * memory, and the log names the setting. */
static void test_qemu_bytes_vs_spec_layout(void **state)
{
	(void)state;
	static struct dmaq d = { .answer = UVFIO_DMA_LAYOUT_SPEC, .recorded_bytes = true,
				 .status = 2, .error = EPROTO };
	char *log;
	dma_session(&d, (const char *const[]){ "-q", "--dma-layout=spec", NULL }, 13, &log);
	assert_int_equal(d.reads, 1);
	assert_int_equal(d.writes, 0);
	if (!strstr(log, "QEMU's layout") || !strstr(log, "dma_layout"))
		fail_msg("the device's log does not say why: %s", log);
	free(log);
}

/* Send one message built here through the writer and return its reply
 * (body in q->buf), answering nothing (no DMA is under way). */
static struct uvfio_hdr q_call(struct qreplay *q, const void *msg, size_t len)
{
	struct uvfio_hdr h;
	vx_put(&q->w, msg, len, NULL, 0);
	vx_flush(&q->w);
	assert_true(peer_recv(q->fd, &h, q->buf, BIG, NULL, NULL) > 0);
	assert_int_equal(h.msg_id, ((const struct uvfio_hdr *)msg)->msg_id);
	return h;
}

static void send_and_check(struct qreplay *q, const void *msg, size_t len)
{
	struct uvfio_hdr h = q_call(q, msg, len);
	assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY);
}

/* A REGION_READ of count bytes as QEMU sends it; returns the value. */
static uint64_t region_read(struct qreplay *q, uint16_t id, uint32_t region, uint64_t off,
			    uint32_t count)
{
	uint8_t m[32];
	struct uvfio_hdr h = { .msg_id = id, .cmd = UVFIO_CMD_REGION_READ, .msg_size = 32 };
	struct uvfio_region_access a = { .offset = off, .region = region, .count = count };
	memcpy(m, &h, 16);
	memcpy(m + 16, &a, 16);
	h = q_call(q, m, sizeof(m));
	assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY);
	assert_int_equal(h.msg_size, 32 + count);
	uint64_t v = 0;
	memcpy(&v, q->buf + 16, count);
	return v;
}

/* A testdev client that opened with QEMU's recorded VERSION. */
static struct testdev *qemu_to_testdev(struct qreplay *q, const char *file, uint64_t seed)
{
	struct testdev *d = testdev_start(NULL);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, d->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	q_init(q, file, fd, seed);
	const struct vx_msg *ver = vx_find(&q->ses, true, 0, UVFIO_FLAGS_TYPE_COMMAND);
	assert_int_equal(ver->hdr.cmd, UVFIO_CMD_VERSION);
	send_and_check(q, ver->bytes, ver->len);
	return d;
}

static void bar0_write(struct qreplay *q, uint16_t id, uint64_t off, uint64_t v, bool wait)
{
	uint8_t m[40];
	struct uvfio_hdr h = { .msg_id = id, .cmd = UVFIO_CMD_REGION_WRITE, .msg_size = 40 };
	struct uvfio_region_access a = { .offset = off, .region = 0, .count = 8 };
	memcpy(m, &h, 16);
	memcpy(m + 16, &a, 16);
	memcpy(m + 32, &v, 8);
	if (wait) {
		send_and_check(q, m, sizeof(m));
	} else {
		vx_put(&q->w, m, sizeof(m), NULL, 0);
		vx_flush(&q->w);
	}
}

#define BIG_COPY (1u << 20)

/*
 * QEMU sends a reply with one write() and drops what its socket buffer does
 * not take: with QEMU's layout the server asks for at most 64 KiB per
 * DMA_READ and keeps at most two in flight (three whole 64 KiB replies fit
 * an idle socket, docs/INTEROP.md). A 1 MiB copy by a client that opened
 * with QEMU's exact VERSION and DMA_MAP bytes.
 */
static void test_qemu_dma_read_pieces(void **state)
{
	(void)state;
	struct qreplay q;
	struct testdev *d = qemu_to_testdev(&q, "qemu-client-dma-by-messages.json", 21);
	int fd = q.fd;
	const struct vx_msg *map = vx_find(&q.ses, true, 39, UVFIO_FLAGS_TYPE_COMMAND);
	assert_int_equal(map->hdr.cmd, UVFIO_CMD_DMA_MAP); /* [1 MiB, 256 MiB), no descriptor */
	assert_int_equal(map->nfds, 0);
	send_and_check(&q, map->bytes, map->len);
	bar0_write(&q, 100, TD_DMA_SRC, DMA_SRC, true);
	bar0_write(&q, 101, TD_DMA_DST, DMA_DST, true);
	bar0_write(&q, 102, TD_DMA_LEN, BIG_COPY, true);
	bar0_write(&q, 103, TD_DMA_GO, 1, false);
	static uint8_t dst[BIG_COPY];
	struct {
		struct uvfio_hdr h;
		uint64_t addr, count;
	} pend[4];
	unsigned npend = 0, reads = 0, writes = 0;
	uint64_t next = DMA_SRC;
	for (;;) {
		struct uvfio_hdr h;
		assert_true(peer_recv(fd, &h, q.buf, BIG, NULL, NULL) > 0);
		if (h.cmd == UVFIO_CMD_REGION_WRITE) {
			assert_int_equal(h.msg_id, 103);
			break;
		}
		if (h.cmd == UVFIO_CMD_DMA_WRITE) {
			struct uvfio_dma_access32 a;
			memcpy(&a, q.buf, sizeof(a));
			assert_int_equal(h.msg_size, 32 + a.count); /* QEMU's layout */
			assert_true(a.addr >= DMA_DST && a.addr - DMA_DST + a.count <= BIG_COPY);
			memcpy(dst + (a.addr - DMA_DST), q.buf + sizeof(a), a.count);
			writes++;
			struct uvfio_hdr r = { .msg_id = h.msg_id, .cmd = h.cmd, .msg_size = 16,
					       .flags = UVFIO_FLAGS_TYPE_REPLY };
			vx_put(&q.w, &r, sizeof(r), NULL, 0);
			vx_flush(&q.w);
			continue;
		}
		assert_int_equal(h.cmd, UVFIO_CMD_DMA_READ);
		assert_true(npend < 2);
		pend[npend].h = h;
		memcpy(&pend[npend].addr, q.buf, 16);
		assert_int_equal(pend[npend].addr, next);
		assert_int_equal(pend[npend].count, 64u << 10);
		next += pend[npend].count;
		npend++;
		reads++;
		if (npend < 2 && next < DMA_SRC + BIG_COPY)
			continue; /* the second one is on its way */
		/* Two in flight: nothing more may come until one is answered. */
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&pf, 1, 0), 0);
		for (unsigned k = 0; k < npend; k++) {
			size_t n = pend[k].count;
			uint8_t *rep = q.buf + BIG / 2;
			struct uvfio_hdr rh = pend[k].h;
			rh.flags = UVFIO_FLAGS_TYPE_REPLY;
			rh.msg_size = (uint32_t)(32 + n);
			struct uvfio_dma_access32 a = { .addr = pend[k].addr, .count = (uint32_t)n };
			memcpy(rep, &rh, 16);
			memcpy(rep + 16, &a, sizeof(a));
			for (size_t i = 0; i < n; i++)
				rep[28 + i] = pattern(pend[k].addr - DMA_SRC + i);
			memset(rep + 28 + n, 0, 4);
			vx_put(&q.w, rep, 32 + n, NULL, 0);
		}
		vx_flush(&q.w);
		npend = 0;
	}
	assert_int_equal(reads, BIG_COPY / (64u << 10));
	assert_true(writes >= 1);
	for (uint32_t i = 0; i < BIG_COPY; i++)
		if (dst[i] != pattern(i))
			fail_msg("guest byte %u is %#x, not %#x", i, dst[i], pattern(i));
	close(fd);
	q_free(&q);
	testdev_stop(d);
}

/*
 * uvfio's own client proposing 0.0 speaks QEMU's dialect: a 1 MiB copy by
 * the test device through DMA_READ/DMA_WRITE messages in QEMU's layout,
 * end to end, with the memory split over two registered ranges.
 */
static void test_uvfio_client_in_qemu_dialect(void **state)
{
	(void)state;
	struct testdev *d = testdev_start(NULL);
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .propose_minor_zero = true };
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
	static uint8_t mem[2 * BIG_COPY];
	for (uint32_t i = 0; i < BIG_COPY; i++)
		mem[i] = pattern(i);
	memset(mem + BIG_COPY, 0, BIG_COPY);
	for (int k = 0; k < 2; k++) {
		struct uvfio_dma_region r = { .vaddr = mem + k * BIG_COPY / 2,
					      .iova = DMA_SRC + k * BIG_COPY / 2,
					      .size = BIG_COPY / 2, .prot = UVFIO_DMA_FLAG_READ,
					      .fd = -1 };
		assert_int_equal(uvfio_client_dma_map(c, &r), 0);
	}
	struct uvfio_dma_region w = { .vaddr = mem + BIG_COPY, .iova = DMA_DST, .size = BIG_COPY,
				      .prot = UVFIO_DMA_FLAG_WRITE, .fd = -1 };
	assert_int_equal(uvfio_client_dma_map(c, &w), 0);
	uint64_t regs[][2] = { { TD_DMA_SRC, DMA_SRC }, { TD_DMA_DST, DMA_DST },
			       { TD_DMA_LEN, BIG_COPY }, { TD_DMA_GO, 1 } };
	for (int k = 0; k < 4; k++)
		assert_int_equal(uvfio_client_region_write(c, 0, regs[k][0], &regs[k][1], 8), 0);
	uint64_t result = 1;
	assert_int_equal(uvfio_client_region_read(c, 0, TD_DMA_GO, &result, 8), 0);
	assert_int_equal(result, 0);
	assert_memory_equal(mem + BIG_COPY, mem, BIG_COPY);
	uvfio_client_close(c);
	testdev_stop(d);
}

/* ---- DMA_UNMAP of everything ------------------------------------------------ */

/*
 * QEMU drops every mapping with one DMA_UNMAP: flags VFIO_DMA_UNMAP_FLAG_ALL,
 * address and size 0 (vfio_user_dma_unmap() in hw/vfio-user/container.c,
 * with unmap_all from the listener for the whole address space). After
 * QEMU's four recorded DMA_MAPs, its unmap-all drops them all.
 */
static void test_qemu_unmap_all(void **state)
{
	(void)state;
	struct qreplay q;
	struct testdev *d = qemu_to_testdev(&q, "qemu-client-dma-by-messages.json", 41);
	for (uint16_t id = 36; id <= 39; id++) {
		const struct vx_msg *m = vx_find(&q.ses, true, id, UVFIO_FLAGS_TYPE_COMMAND);
		assert_int_equal(m->hdr.cmd, UVFIO_CMD_DMA_MAP);
		send_and_check(&q, m->bytes, m->len);
	}
	assert_int_equal(__atomic_load_n(&d->maps, __ATOMIC_RELAXED), 4);
	uint8_t m[40];
	struct uvfio_hdr h = { .msg_id = 40, .cmd = UVFIO_CMD_DMA_UNMAP, .msg_size = 40 };
	struct uvfio_dma_unmap u = { .argsz = 24, .flags = UVFIO_DMA_UNMAP_FLAG_ALL };
	memcpy(m, &h, 16);
	memcpy(m + 16, &u, sizeof(u));
	h = q_call(&q, m, sizeof(m));
	assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY);
	assert_int_equal(h.msg_size, 40); /* the request echoed, as for any unmap */
	assert_memory_equal(q.buf, &u, sizeof(u));
	assert_int_equal(__atomic_load_n(&d->unmaps, __ATOMIC_RELAXED), 4);
	/* gone: the same maps are accepted again */
	const struct vx_msg *again = vx_find(&q.ses, true, 39, UVFIO_FLAGS_TYPE_COMMAND);
	send_and_check(&q, again->bytes, again->len);
	close(q.fd);
	q_free(&q);
	testdev_stop(d);
}

/* ---- REGION_WRITE_MULTI with QEMU's 200 writes ----------------------------- */

#define QEMU_MULTI_MAX 200 /* VFIO_USER_MULTI_MAX, QEMU's hw/vfio-user/protocol.h */
#define MEMDEV_SCRATCH 0x04
#define MEMDEV_WRITES 0x08

/*
 * The message as QEMU builds it (vfio_user_create_multi/add_multi/
 * flush_multi in hw/vfio-user/proxy.c): a zeroed buffer for 200 entries,
 * NO_REPLY, then the size cut down to the entries used. No recording has
 * one; QEMU sends it when a guest's posted writes pile up.
 */
static size_t qemu_write_multi(uint8_t *m, uint16_t id, uint32_t n, uint32_t flags)
{
	size_t len = 16 + 8 + (size_t)n * sizeof(struct uvfio_write_multi_entry);
	memset(m, 0, len);
	struct uvfio_hdr h = { .msg_id = id, .cmd = UVFIO_CMD_REGION_WRITE_MULTI,
			       .msg_size = (uint32_t)len, .flags = flags };
	uint64_t cnt = n;
	memcpy(m, &h, 16);
	memcpy(m + 16, &cnt, 8);
	for (uint32_t i = 0; i < n; i++) {
		struct uvfio_write_multi_entry e = { .offset = MEMDEV_SCRATCH, .region = 0,
						     .count = 4 };
		uint32_t v = 0x1000 + i;
		memcpy(e.data, &v, 4);
		memcpy(m + 24 + i * sizeof(e), &e, sizeof(e));
	}
	return len;
}

/* uvfio-memdev takes all 200 writes of one message (it refused more than
 * 64, and QEMU, which wants no reply, lost them silently). */
static void test_qemu_write_multi_200(void **state)
{
	(void)state;
	int fd;
	pid_t pid = vx_spawn("uvfio-memdev", (const char *const[]){ "-q", NULL }, &fd, NULL);
	struct qreplay q;
	q_init(&q, "qemu-guest-linux-memdev.json", fd, 31);
	const struct vx_msg *ver = vx_find(&q.ses, true, 0, UVFIO_FLAGS_TYPE_COMMAND);
	struct uvfio_hdr h = q_call(&q, ver->bytes, ver->len);
	struct uvfio_caps caps;
	assert_int_equal(uvfio_caps_parse((char *)q.buf + 4, h.msg_size - 20, &caps, NULL, 0), 0);
	assert_true(caps.write_multiple);
	static uint8_t m[16 + 8 + (QEMU_MULTI_MAX + 1) * 24];
	size_t len = qemu_write_multi(m, 1, QEMU_MULTI_MAX, UVFIO_FLAGS_NO_REPLY);
	assert_int_equal(len, 4824);
	vx_put(&q.w, m, len, NULL, 0);
	assert_int_equal(region_read(&q, 2, 0, MEMDEV_WRITES, 4), QEMU_MULTI_MAX);
	assert_int_equal(region_read(&q, 3, 0, MEMDEV_SCRATCH, 4), 0x1000 + QEMU_MULTI_MAX - 1);
	/* a count the message does not hold: refused, nothing written */
	len = qemu_write_multi(m, 4, QEMU_MULTI_MAX, 0);
	uint64_t more = QEMU_MULTI_MAX + 1;
	memcpy(m + 16, &more, 8);
	h = q_call(&q, m, len);
	assert_true(h.flags & UVFIO_FLAGS_ERROR);
	assert_int_equal(h.error_no, EINVAL);
	assert_int_equal(region_read(&q, 5, 0, MEMDEV_WRITES, 4), QEMU_MULTI_MAX);
	close(fd);
	assert_int_equal(vx_wait(pid), 0);
	q_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_dma_by_messages),
		cmocka_unit_test(test_spec_dma_by_messages),
		cmocka_unit_test(test_qemu_bytes_vs_spec_layout),
		cmocka_unit_test(test_qemu_dma_read_pieces),
		cmocka_unit_test(test_uvfio_client_in_qemu_dialect),
		cmocka_unit_test(test_qemu_write_multi_200),
		cmocka_unit_test(test_qemu_unmap_all),
	};
	return cmocka_run_group_tests_name("vectors_qemu", tests, NULL, NULL);
}
