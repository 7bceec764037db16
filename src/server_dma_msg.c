/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_dma_msg.c — DMA through DMA_READ/DMA_WRITE messages, from any
 * thread.
 *
 * Every request in flight, whichever thread sent it, is on one list under
 * dma_mu, and a reply is matched to it by id by whoever reads it:
 * - without a twin socket, replies come on the main socket, which only the
 *   thread driving the context reads (in its loop, or while it waits for
 *   DMA of its own: then client requests are queued, bounded); other
 *   threads sleep until it hands them their reply;
 * - with a twin socket, one waiting thread at a time reads it (the reader
 *   role), hands others their replies, and passes the role on when its own
 *   are in.
 * The thread that asked checks its reply and copies the data, outside the
 * lock; a DMA_READ reply's data may be received straight into its buffer
 * (the sink), and then the asking thread does not leave before the reader
 * is done with the buffer.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"

#define DMA_WINDOW 4 /* requests in flight at once per DMA call */
/*
 * QEMU's client sends a reply with one write() and drops whatever its socket
 * buffer does not take at once (docs/INTEROP.md). An idle Linux socket with
 * the default 208 KiB buffer takes three whole 64 KiB replies: with QEMU's
 * layout a DMA_READ asks for at most 64 KiB and two are in flight, leaving
 * room for requests QEMU sends meanwhile. Two for the whole connection,
 * whatever the number of threads.
 */
#define QEMU_DMA_PIECE (64u << 10)
#define QEMU_DMA_WINDOW 2u

void vu_srv_dma_layout_pick(struct uvfio_server *s, uint16_t proposed_minor)
{
	enum uvfio_dma_layout l = s->cfg.dma_layout;
	/* Only QEMU's vfio-user-pci proposes 0.0, and it speaks only its own
	 * layout; libvfio-user's clients and ours propose 0.1 or later. */
	if (l == UVFIO_DMA_LAYOUT_AUTO)
		l = proposed_minor == 0 ? UVFIO_DMA_LAYOUT_QEMU : UVFIO_DMA_LAYOUT_SPEC;
	s->dma_layout = l;
	if (l == UVFIO_DMA_LAYOUT_QEMU)
		vu_info(&s->log, "DMA_READ/DMA_WRITE messages in QEMU's layout (4-byte count)%s",
			s->cfg.dma_layout ? "" : ": the client proposed version 0.0");
}

/* ---- The connection as DMA sees it -------------------------------------------------- */

static void wake_pollers(struct uvfio_server *s)
{
	uint64_t one = 1;
	if (write(s->dma_efd, &one, sizeof(one)) < 0) {
		/* a full counter already says "look again" */
	}
	if (s->async_slot_wait) /* an asynchronous DMA_READ waits for a slot */
		vu_srv_async_kick(s);
}

/* Fail every request in flight (dma_mu held); with keep_sinking, those a
 * reader is receiving into are left to it (it fails them when it lets go). */
static void fail_all(struct uvfio_server *s, bool keep_sinking)
{
	for (struct vu_dma_req **pp = &s->dreqs; *pp;) {
		struct vu_dma_req *q = *pp;
		if (keep_sinking && q->sinking) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		q->sinking = false;
		q->state = VU_DMA_DONE;
		q->result = -ECONNRESET;
		if (q->async)
			vu_srv_async_kick(s);
	}
	pthread_cond_broadcast(&s->dma_cv);
	wake_pollers(s);
}

void vu_srv_dma_conn_start(struct uvfio_server *s)
{
	pthread_mutex_lock(&s->dma_mu);
	s->dma_live = true;
	s->dma_broken = false;
	s->dma_twin = s->twin >= 0;
	s->qemu_reads = 0;
	s->warned_sync_dma = false;
	pthread_mutex_unlock(&s->dma_mu);
}

bool vu_srv_dma_conn_end(struct uvfio_server *s)
{
	pthread_mutex_lock(&s->dma_mu);
	bool broken = s->dma_broken;
	s->dma_live = false;
	/* Out of their sends and reads, then nobody writes into a buffer. */
	if (s->sock >= 0)
		shutdown(s->sock, SHUT_RDWR);
	if (s->twin >= 0)
		shutdown(s->twin, SHUT_RDWR);
	pthread_cond_broadcast(&s->dma_cv);
	while (s->sock_users)
		pthread_cond_wait(&s->dma_cv, &s->dma_mu);
	fail_all(s, false);
	pthread_mutex_unlock(&s->dma_mu);
	return broken;
}

void vu_srv_dma_break(struct uvfio_server *s, const char *fmt, ...)
{
	pthread_mutex_lock(&s->dma_mu);
	if (s->dma_live) {
		char why[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		vu_err(&s->log, "%s; ending the connection", why);
		s->dma_live = false;
		s->dma_broken = true;
		/* The driving thread reads the end of the stream and cleans up;
		 * the sockets stay open until it has. */
		shutdown(s->sock, SHUT_RDWR);
		if (s->twin >= 0)
			shutdown(s->twin, SHUT_RDWR);
		fail_all(s, true);
	}
	pthread_mutex_unlock(&s->dma_mu);
}

/* The request in flight with this id (dma_mu held). */
static struct vu_dma_req *find_req(struct uvfio_server *s, uint16_t id)
{
	for (struct vu_dma_req *q = s->dreqs; q; q = q->next)
		if (q->id == id)
			return q;
	return NULL;
}

void vu_srv_dma_reply_in(struct uvfio_server *s, struct vu_msg *m)
{
	pthread_mutex_lock(&s->dma_mu);
	struct vu_dma_req **pp = &s->dreqs;
	while (*pp && (*pp)->id != m->hdr.msg_id)
		pp = &(*pp)->next;
	struct vu_dma_req *q = *pp;
	if (q && q->cmd == m->hdr.cmd) {
		*pp = q->next;
		q->reply = m;
		q->sinking = false;
		q->state = VU_DMA_DONE;
		pthread_cond_broadcast(&s->dma_cv);
		if (q->async && !vu_srv_is_driver(s))
			vu_srv_async_kick(s); /* the driving thread finishes it */
		m = NULL;
	}
	pthread_mutex_unlock(&s->dma_mu);
	if (m) {
		vu_warn(&s->log, "discarding a %s reply with id %u that matches no request",
			uvfio_cmd_name(m->hdr.cmd), m->hdr.msg_id);
		vu_msg_free(m);
	}
}

/* A DMA_READ reply of the exact expected size for a request in flight:
 * its data is received straight into the asking thread's buffer (the
 * specification's layout only: QEMU's puts padding after the data). */
/* One message read from the twin socket: a reply goes to its request; a
 * request has no business there and is dropped (both readers of the twin
 * socket, the waiting thread and the serving loop, come here). */
static void twin_msg_in(struct uvfio_server *s, struct vu_msg *m)
{
	vu_trace_hdr(&s->log, "<-", &m->hdr, m->nfds);
	if ((m->hdr.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
		vu_srv_dma_reply_in(s, m);
	} else {
		vu_warn(&s->log, "discarding a %s request on the twin socket",
			uvfio_cmd_name(m->hdr.cmd));
		vu_msg_free(m);
	}
}

static uint8_t *dma_sink(void *arg, const struct uvfio_hdr *h, size_t *keep)
{
	struct uvfio_server *s = arg;
	if ((h->flags & (UVFIO_FLAGS_TYPE_MASK | UVFIO_FLAGS_ERROR)) != UVFIO_FLAGS_TYPE_REPLY ||
	    h->cmd != UVFIO_CMD_DMA_READ)
		return NULL;
	pthread_mutex_lock(&s->dma_mu);
	struct vu_dma_req *q = find_req(s, h->msg_id);
	uint8_t *dst = NULL;
	if (q && q->buf && q->cmd == UVFIO_CMD_DMA_READ &&
	    h->msg_size == UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_access) + q->n) {
		q->sinking = true;
		dst = q->buf;
	}
	pthread_mutex_unlock(&s->dma_mu);
	*keep = sizeof(struct uvfio_dma_access);
	return dst;
}

/* Receive DMA_READ reply data straight into the asking thread's buffer
 * (rx's reader only). */
static void sink_set(struct uvfio_server *s, struct vu_rx *rx)
{
	if (s->dma_layout != UVFIO_DMA_LAYOUT_QEMU) {
		rx->sink = dma_sink;
		rx->sink_arg = s;
	}
}

/* Stop receiving into buffers: a message partly received into one moves
 * to a record of its own, and its request's owner may leave. */
static void unsink(struct uvfio_server *s, struct vu_rx *rx)
{
	bool moved = rx->big && rx->big->ext;
	uint16_t id = moved ? rx->big->hdr.msg_id : 0;
	int r = vu_rx_unsink(rx);
	if (!moved)
		return;
	pthread_mutex_lock(&s->dma_mu);
	struct vu_dma_req *q = find_req(s, id);
	if (q && q->sinking) {
		q->sinking = false;
		pthread_cond_broadcast(&s->dma_cv);
	}
	if (!s->dma_live || r < 0)
		fail_all(s, false); /* the rest will never be read for them */
	pthread_mutex_unlock(&s->dma_mu);
	if (r < 0)
		vu_srv_dma_break(s, "out of memory for a DMA reply being received");
}

/* ---- One DMA call ---------------------------------------------------------------------- */

struct dma_call {
	struct vu_dma_req req[DMA_WINDOW];
	bool driver;    /* the thread driving the context: it reads the main socket */
	bool qemu_read; /* DMA_READ in QEMU's layout: slots shared by all threads */
};

/* One of the call's requests has its answer (dma_mu held). */
static bool call_done(const struct dma_call *c)
{
	for (int k = 0; k < DMA_WINDOW; k++)
		if (c->req[k].state == VU_DMA_DONE)
			return true;
	return false;
}

static void deadline_ts(uint64_t deadline_ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(deadline_ms / 1000);
	ts->tv_nsec = (long)(deadline_ms % 1000) * 1000000;
}

/*
 * Hold the twin socket's reader role: read until one of the call's requests
 * is answered (or a shared slot is free, with want_slot), the deadline, or
 * the end of the connection; hand every reply to its request. dma_mu held on
 * entry and exit, released while reading.
 */
static void read_twin(struct uvfio_server *s, struct dma_call *c, uint64_t deadline,
		      bool want_slot)
{
	s->twin_reading = true;
	s->sock_users++;
	int fd = s->twin;
	struct vu_rx *rx = &s->twin_rx;
	sink_set(s, rx);
	while (s->dma_live && !call_done(c) && !(want_slot && s->qemu_reads < QEMU_DMA_WINDOW)) {
		pthread_mutex_unlock(&s->dma_mu);
		struct vu_msg *m;
		int r = vu_rx_more(rx) ? vu_rx_read(fd, rx, &m) : 0;
		if (r < 0) {
			vu_srv_dma_break(s, "the twin socket: %s", uvfio_strerror(r));
		} else if (r == 1) {
			twin_msg_in(s, m);
		} else if (vu_now_ms() >= deadline) {
			size_t part = vu_rx_partial(rx);
			if (part) /* the rest could not be told from what follows */
				vu_srv_dma_break(s, "a message on the twin socket was cut off by the "
						    "DMA timeout after %zu bytes", part);
			pthread_mutex_lock(&s->dma_mu);
			break;
		} else {
			struct pollfd pf[2] = { { .fd = fd, .events = POLLIN },
						{ .fd = s->dma_efd, .events = POLLIN } };
			int n = poll(pf, 2, (int)VU_MIN(deadline - vu_now_ms(), (uint64_t)INT32_MAX));
			uint64_t v;
			if (n > 0 && (pf[1].revents & POLLIN) && read(s->dma_efd, &v, sizeof(v)) < 0) {
				/* drained by another poller */
			}
			if (n > 0 && pf[0].revents)
				rx->drained = false;
		}
		pthread_mutex_lock(&s->dma_mu);
	}
	pthread_mutex_unlock(&s->dma_mu);
	unsink(s, rx);
	pthread_mutex_lock(&s->dma_mu);
	s->twin_reading = false;
	s->sock_users--;
	pthread_cond_broadcast(&s->dma_cv); /* the next waiter takes the role */
}

/*
 * Wait until one of the call's requests is answered (or, with want_slot, a
 * shared slot is free), reading for everyone where this thread is the one to
 * read. dma_mu held on entry and exit. Returns 0, -ETIMEDOUT, -ECONNRESET or
 * -ESHUTDOWN.
 */
static int wait_event(struct uvfio_server *s, struct dma_call *c, uint64_t deadline,
		      bool want_slot)
{
	for (;;) {
		if (call_done(c) || (want_slot && s->qemu_reads < QEMU_DMA_WINDOW))
			return 0;
		if (!s->dma_live)
			return -ECONNRESET;
		if (vu_now_ms() >= deadline)
			return -ETIMEDOUT;
		if (s->dma_twin && !s->twin_reading) {
			read_twin(s, c, deadline, want_slot);
			continue;
		}
		if (!s->dma_twin && c->driver) {
			pthread_mutex_unlock(&s->dma_mu);
			int r = vu_srv_pump_main(s, deadline);
			pthread_mutex_lock(&s->dma_mu);
			if (r == -ESHUTDOWN)
				return r;
			continue;
		}
		struct timespec ts;
		deadline_ts(deadline, &ts);
		pthread_cond_timedwait(&s->dma_cv, &s->dma_mu, &ts);
	}
}

/* Send request q (not yet on the list); 0 or -ECONNRESET (the connection
 * is then broken: a request sent in part cannot be taken back). */
static int send_req(struct uvfio_server *s, struct vu_dma_req *q, const struct iovec *iov,
		    int iovcnt)
{
	pthread_mutex_lock(&s->dma_mu);
	if (!s->dma_live) {
		pthread_mutex_unlock(&s->dma_mu);
		return -ECONNRESET;
	}
	do /* never the id of a request still in flight (a late reply would match it) */
		q->id = s->next_id++;
	while (find_req(s, q->id));
	q->state = VU_DMA_INFLIGHT;
	q->next = s->dreqs; /* on the list before the reply can come */
	s->dreqs = q;
	s->sock_users++;
	int fd = s->dma_twin ? s->twin : s->sock;
	pthread_mutex_t *mu = s->dma_twin ? &s->twin_send_mu : &s->send_mu;
	pthread_mutex_unlock(&s->dma_mu);
	struct uvfio_hdr h = { .msg_id = q->id, .cmd = q->cmd };
	bool some;
	pthread_mutex_lock(mu);
	int r = vu_send(fd, &h, iov, iovcnt, NULL, 0, s->timeout_ms, &some);
	pthread_mutex_unlock(mu);
	if (r == 0)
		vu_trace_hdr(&s->log, "->", &h, 0);
	pthread_mutex_lock(&s->dma_mu);
	s->sock_users--;
	if (!s->dma_live)
		pthread_cond_broadcast(&s->dma_cv); /* the end of the connection waits */
	pthread_mutex_unlock(&s->dma_mu);
	if (r < 0)
		vu_srv_dma_break(s, "cannot send a %s request to the client: %s",
				 uvfio_cmd_name(q->cmd),
				 r == -ETIMEDOUT ? "it has not read for the timeout"
						 : uvfio_strerror(r));
	return r < 0 ? -ECONNRESET : 0;
}

/* Check a DMA_READ reply for [iova, iova+n) and put its data at dst (the
 * sink may have put it there already). */
static int dma_read_reply(struct uvfio_server *s, const struct vu_msg *m, uint64_t iova,
			  uint8_t *dst, uint64_t n, bool quiet)
{
	size_t total = m->len + m->ext_len;
	if (s->dma_layout == UVFIO_DMA_LAYOUT_QEMU) {
		struct uvfio_dma_access32 a;
		if (m->len < sizeof(a) || total != sizeof(a) + n + UVFIO_DMA_ACCESS32_PAD)
			return -EPROTO;
		memcpy(&a, m->body, sizeof(a));
		if (a.addr != iova || a.count != n)
			return -EPROTO;
		memcpy(dst, m->body + sizeof(a), n);
		return 0;
	}
	struct uvfio_dma_access a;
	if (m->len < sizeof(a) || total != sizeof(a) + n)
		return -EPROTO;
	memcpy(&a, m->body, sizeof(a));
	if (a.addr != iova)
		return -EPROTO;
	if (a.count != n) {
		/* The low half right and the high half not: QEMU's layout, whose
		 * first data bytes sit where the high half of the count is. */
		if ((uint32_t)a.count == n && !quiet)
			vu_err(&s->log, "the client answers DMA_READ in QEMU's layout (4-byte count, "
					"data from byte 28), not the specification's this server uses: "
					"set dma_layout to UVFIO_DMA_LAYOUT_QEMU");
		return -EPROTO;
	}
	if (!m->ext)
		memcpy(dst, m->body + sizeof(a), n);
	return 0;
}

/* The result of an answered request; a DMA_WRITE the client acknowledged is
 * logged dirty. */
static int finish_req(struct uvfio_server *s, struct vu_dma_req *q, bool quiet)
{
	struct vu_msg *m = q->reply;
	int r;
	if (!m)
		r = q->result;
	else if (m->hdr.flags & UVFIO_FLAGS_ERROR)
		r = m->hdr.error_no ? -(int)VU_MIN(m->hdr.error_no, 4095u) : -EIO;
	else if (q->cmd == UVFIO_CMD_DMA_WRITE) /* 16 bytes as common clients send, 12 as
						 * the specification draws it, or none (QEMU) */
		r = (m->len == 16 || m->len == 12 || m->len == 0) ? 0 : -EPROTO;
	else
		r = dma_read_reply(s, m, q->iova, q->buf, q->n, quiet);
	if (r == 0 && q->cmd == UVFIO_CMD_DMA_WRITE)
		vu_dirty_mark(s, q->iova, q->n);
	vu_msg_free(m);
	q->reply = NULL;
	q->state = VU_DMA_FREE;
	return r;
}

/* ---- Pieces, for both the blocking calls and the asynchronous ones --------------------- */

uint64_t vu_srv_dma_limits(struct uvfio_server *s, bool write, unsigned *window, bool *qemu_read)
{
	uint64_t maxx = VU_MIN(s->client.max_data_xfer_size, s->mine.max_data_xfer_size);
	*window = DMA_WINDOW;
	*qemu_read = false;
	if (s->dma_layout == UVFIO_DMA_LAYOUT_QEMU && !write) {
		maxx = VU_MIN(maxx, QEMU_DMA_PIECE);
		*window = QEMU_DMA_WINDOW;
		*qemu_read = true;
	}
	return maxx;
}

bool vu_srv_dma_read_slot_get(struct uvfio_server *s)
{
	if (s->qemu_reads >= QEMU_DMA_WINDOW)
		return false;
	s->qemu_reads++;
	return true;
}

void vu_srv_dma_read_slot_put(struct uvfio_server *s)
{
	s->qemu_reads--;
	wake_pollers(s); /* a thread may wait for the slot */
	pthread_cond_broadcast(&s->dma_cv);
}

int vu_srv_dma_req_start(struct uvfio_server *s, struct vu_dma_req *q)
{
	static const uint8_t pad[UVFIO_DMA_ACCESS32_PAD];
	bool write = q->cmd == UVFIO_CMD_DMA_WRITE;
	/* A DMA_READ request is the same in both layouts: QEMU reads a 4-byte
	 * count and the zero high half as its padding. */
	struct uvfio_dma_access a = { .addr = q->iova, .count = q->n };
	struct uvfio_dma_access32 a32 = { .addr = q->iova, .count = (uint32_t)q->n };
	struct iovec iov[3] = { { &a, sizeof(a) }, { q->buf, q->n }, { (void *)pad, 0 } };
	if (s->dma_layout == UVFIO_DMA_LAYOUT_QEMU && write) {
		iov[0] = (struct iovec){ &a32, sizeof(a32) };
		iov[2].iov_len = sizeof(pad);
	}
	return send_req(s, q, iov, write ? 3 : 1);
}

int vu_srv_dma_req_finish(struct uvfio_server *s, struct vu_dma_req *q, bool quiet)
{
	return finish_req(s, q, quiet);
}

void vu_srv_dma_req_drop(struct uvfio_server *s, struct vu_dma_req *q)
{
	while (q->state == VU_DMA_INFLIGHT && q->sinking)
		pthread_cond_wait(&s->dma_cv, &s->dma_mu);
	if (q->state == VU_DMA_INFLIGHT) {
		struct vu_dma_req **pp = &s->dreqs;
		while (*pp != q)
			pp = &(*pp)->next;
		*pp = q->next;
	}
	vu_msg_free(q->reply);
	q->reply = NULL;
	q->state = VU_DMA_FREE;
}

void vu_srv_dma_req_orphan(struct uvfio_server *s, struct vu_dma_req *q)
{
	while (q->state == VU_DMA_INFLIGHT && q->sinking)
		pthread_cond_wait(&s->dma_cv, &s->dma_mu);
	q->buf = NULL;
}

void vu_srv_dma_twin_poll(struct uvfio_server *s)
{
	pthread_mutex_lock(&s->dma_mu);
	if (!s->dma_live || !s->dma_twin || s->twin_reading) {
		/* the role's holder hands our replies over (and kicks us) */
		pthread_mutex_unlock(&s->dma_mu);
		return;
	}
	s->twin_reading = true;
	s->sock_users++;
	pthread_mutex_unlock(&s->dma_mu);
	struct vu_rx *rx = &s->twin_rx;
	rx->drained = false; /* the poll fd said so, or a look costs one read */
	for (;;) {
		struct vu_msg *m;
		int r = vu_rx_more(rx) ? vu_rx_read(s->twin, rx, &m) : 0;
		if (r < 0)
			vu_srv_dma_break(s, "the twin socket: %s", uvfio_strerror(r));
		if (r != 1)
			break;
		twin_msg_in(s, m);
	}
	pthread_mutex_lock(&s->dma_mu);
	s->twin_reading = false;
	s->sock_users--;
	pthread_cond_broadcast(&s->dma_cv); /* the next waiter takes the role */
	pthread_mutex_unlock(&s->dma_mu);
}

/*
 * The rule QEMU imposes (docs/INTEROP.md): its vCPU thread waits for the
 * reply to a region access holding the global lock, and it answers DMA
 * requests only from its main loop, which needs that lock. A serving thread
 * that waits for DMA replies stalls both until a timeout: said once per
 * connection.
 */
static void warn_serving_thread(struct uvfio_server *s)
{
	if (s->warned_sync_dma)
		return;
	s->warned_sync_dma = true;
	vu_warn(&s->log, "blocking DMA by messages on the serving thread: client requests wait "
			 "until it completes, and QEMU's client answers DMA_READ/DMA_WRITE only "
			 "when none of its own requests waits for a reply (hw/vfio-user/proxy.c: "
			 "vfio_user_send_wait() holds the global lock, vfio_user_request() needs "
			 "it), so both stall until a timeout; use uvfio_server_dma_read_async() "
			 "and friends, or DMA from another thread");
}

/* Give up the call's requests still in flight (dma_mu held). */
static void abandon(struct uvfio_server *s, struct dma_call *c)
{
	for (int k = 0; k < DMA_WINDOW; k++) {
		struct vu_dma_req *q = &c->req[k];
		bool held = q->state != VU_DMA_FREE;
		vu_srv_dma_req_drop(s, q);
		if (held && c->qemu_read)
			vu_srv_dma_read_slot_put(s);
	}
}

/*
 * Copy one piece through DMA_READ/DMA_WRITE messages of at most the client's
 * max_data_xfer_size, keeping a few in flight so that the client's work on
 * one overlaps the transfer of the next. After an error no more are sent and
 * the outstanding ones are still collected.
 */
int vu_srv_dma_message(struct uvfio_server *s, uint64_t iova, uint8_t *buf, uint64_t len,
		       bool write)
{
	struct dma_call c = { .driver = vu_srv_is_driver(s) };
	if (c.driver && vu_srv_flush(s) < 0) /* the client may be waiting for them */
		return -ECONNRESET;
	pthread_mutex_lock(&s->dma_mu);
	if (!s->dma_live) {
		pthread_mutex_unlock(&s->dma_mu);
		return -ENOTCONN;
	}
	bool twin = s->dma_twin;
	unsigned window;
	uint64_t maxx = vu_srv_dma_limits(s, write, &window, &c.qemu_read);
	if (c.driver)
		warn_serving_thread(s);
	bool sink = c.driver && !twin && !write;
	if (sink)
		sink_set(s, &s->rx);
	uint64_t nchunks = (len + maxx - 1) / maxx, sent = 0, done = 0;
	uint64_t deadline = vu_now_ms() + (uint64_t)s->timeout_ms;
	int err = 0;
	while (done < nchunks) {
		while (!err && sent < nchunks && sent - done < window) {
			if (c.qemu_read && !vu_srv_dma_read_slot_get(s)) {
				if (sent > done)
					break; /* our own replies free one */
				int r = wait_event(s, &c, deadline, true);
				if (r < 0)
					err = r;
				continue;
			}
			struct vu_dma_req *q = &c.req[0];
			while (q->state != VU_DMA_FREE)
				q++;
			uint64_t off = sent * maxx, n = VU_MIN(maxx, len - off);
			*q = (struct vu_dma_req){ .cmd = write ? UVFIO_CMD_DMA_WRITE
							       : UVFIO_CMD_DMA_READ,
						  .iova = iova + off, .n = n, .buf = buf + off };
			pthread_mutex_unlock(&s->dma_mu);
			int r = vu_srv_dma_req_start(s, q);
			pthread_mutex_lock(&s->dma_mu);
			if (r < 0) {
				err = r;
				if (q->state == VU_DMA_FREE && c.qemu_read) /* never on the list */
					vu_srv_dma_read_slot_put(s);
				break;
			}
			sent++;
		}
		if (done == sent)
			break; /* nothing outstanding (after an error) */
		int r = wait_event(s, &c, deadline, false);
		if (r < 0) {
			if (!err)
				err = r; /* the connection is gone or the client stalls */
			break;
		}
		for (int k = 0; k < DMA_WINDOW; k++) {
			struct vu_dma_req *q = &c.req[k];
			if (q->state != VU_DMA_DONE)
				continue;
			pthread_mutex_unlock(&s->dma_mu);
			r = finish_req(s, q, err != 0);
			pthread_mutex_lock(&s->dma_mu);
			if (c.qemu_read)
				vu_srv_dma_read_slot_put(s);
			done++;
			if (r < 0 && !err)
				err = r;
			deadline = vu_now_ms() + (uint64_t)s->timeout_ms; /* progress */
		}
	}
	if (sink) { /* this thread's reads no longer land in buffers */
		pthread_mutex_unlock(&s->dma_mu);
		unsink(s, &s->rx);
		pthread_mutex_lock(&s->dma_mu);
	}
	abandon(s, &c);
	bool live = s->dma_live;
	pthread_mutex_unlock(&s->dma_mu);
	if (err == -ETIMEDOUT && live && !twin)
		vu_srv_main_cut_check(s, c.driver);
	return err;
}
