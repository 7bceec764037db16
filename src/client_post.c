/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * client_post.c — the send buffer: posted writes that leave together, in
 * one system call, in front of every other message on the main socket.
 *
 * With post_delay_us, every posted write waits here until the buffer is
 * full, another message is sent (any thread's request, an answer to the
 * server), a flush, or the delay's timer (the service thread, or dispatch
 * through poll_fd). With coalesce_posted, small posted writes are gathered
 * into the REGION_WRITE_MULTI open at the end of the buffer; without the
 * delay, whatever is not that open message leaves at once. Everything here
 * is under send_mu, so the buffer's order is the order on the wire: a
 * thread's posted write always leaves before its later requests.
 *
 * A posted request has no deadline while it waits here (it starts when the
 * message leaves); a buffer that cannot be sent at all fails its requests
 * with the error (flush reports it), one partly sent ends the connection.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include "internal.h"

#define MAX_DELAY_US 1000000u

static bool waiting(const struct uvfio_client *c)
{
	return __atomic_load_n(&c->post.len, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&c->post.npend, __ATOMIC_RELAXED);
}

int vu_post_init(struct uvfio_client *c)
{
	struct vu_post *b = &c->post;
	b->wm = SIZE_MAX;
	b->timer = -1;
	uint32_t us = VU_MIN(c->cfg.post_delay_us, MAX_DELAY_US);
	if (!us && !c->cfg.coalesce_posted)
		return 0;
	b->delay_ns = (uint64_t)us * 1000u;
	if (!(b->buf = malloc(VU_POST_BUF)))
		return -ENOMEM;
	if (us && (b->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) < 0)
		return -errno;
	return 0;
}

void vu_post_free(struct uvfio_client *c)
{
	free(c->post.buf);
	c->post.buf = NULL;
	vu_close(&c->post.timer);
}

/* The first message came into an empty buffer: it leaves by the delay. */
static void arm(struct uvfio_client *c)
{
	struct vu_post *b = &c->post;
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(b->delay_ns / 1000000000u),
						.tv_nsec = (long)(b->delay_ns % 1000000000u) } };
	if (timerfd_settime(b->timer, 0, &its, NULL) < 0)
		vu_warn(&c->log, "cannot arm the posted-write timer: %s", uvfio_strerror(-errno));
}

static void trace_buf(struct uvfio_client *c)
{
	if (!__atomic_load_n(&c->log.trace, __ATOMIC_RELAXED))
		return;
	struct vu_post *b = &c->post;
	for (size_t at = 0; at + UVFIO_HDR_SIZE <= b->len;) {
		struct uvfio_hdr h;
		memcpy(&h, b->buf + at, sizeof(h));
		vu_trace_hdr(&c->log, "->", &h, 0);
		at += h.msg_size;
	}
}

/* The doorbells rung while the buffer waited: each eventfd gets the number
 * of its rings at once (the handler is told how many). Not when what was
 * posted before them could not be sent (err): they fail with it. */
static void ring_pending(struct uvfio_client *c, int err)
{
	struct vu_post *b = &c->post;
	for (unsigned i = 0; b->npend && i < c->nbells; i++) {
		struct vu_bell *bl = &c->bells[i];
		if (!bl->pending)
			continue;
		uint64_t n = bl->pending;
		bl->pending = 0;
		__atomic_store_n(&b->npend, b->npend - 1, __ATOMIC_RELAXED);
		if (!err && write(bl->fd, &n, sizeof(n)) != sizeof(n))
			err = -errno; /* a counter full after 2^64 rings */
		if (err) {
			pthread_mutex_lock(&c->mu);
			if (!c->post_error)
				c->post_error = err;
			pthread_mutex_unlock(&c->mu);
		}
	}
}

int vu_post_send(struct uvfio_client *c, struct vu_send_ctx *s, struct uvfio_hdr *hdr,
		 const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds, bool *some)
{
	struct vu_post *b = &c->post;
	bool msg = hdr || iovcnt > 0; /* without hdr, iov holds whole messages */
	if (!b->len) { /* only doorbells wait */
		ring_pending(c, 0);
		if (some)
			*some = false;
		return msg ? vu_client_send_locked(c, s, c->sock, hdr, iov, iovcnt, fds, nfds, some)
			   : 0;
	}
	struct iovec v[16];
	int n = 0;
	v[n++] = (struct iovec){ b->buf, b->len };
	/* The message joins the buffer's system call unless it carries
	 * descriptors: they would travel with the buffer's first bytes and
	 * belong to the wrong message. */
	bool join = msg && !nfds && iovcnt + (hdr ? 2 : 1) <= 16;
	if (join) {
		size_t total = hdr ? UVFIO_HDR_SIZE : 0;
		if (hdr)
			v[n++] = (struct iovec){ hdr, UVFIO_HDR_SIZE };
		for (int i = 0; i < iovcnt; i++) {
			total += iov[i].iov_len;
			v[n++] = iov[i];
		}
		if (hdr)
			hdr->msg_size = (uint32_t)total;
	}
	bool sb;
	int r = vu_client_send_locked(c, s, c->sock, NULL, v, n, NULL, 0, &sb);
	if (r == 0)
		trace_buf(c);
	unsigned nids = b->nids;
	uint16_t ids[VU_POST_MSGS];
	memcpy(ids, b->ids, nids * sizeof(ids[0]));
	__atomic_store_n(&b->len, 0, __ATOMIC_RELAXED);
	b->nids = 0;
	b->wm = SIZE_MAX;
	pthread_mutex_lock(&c->mu);
	if (r == 0)
		vu_client_sent(c, ids, nids);
	else if (sb) /* part of it went out: the framing is lost */
		vu_client_set_dead(c, -ECONNRESET);
	else
		vu_client_unsent(c, ids, nids, r);
	pthread_mutex_unlock(&c->mu);
	ring_pending(c, r);
	if (some)
		*some = sb;
	if (r < 0 || !msg)
		return r;
	if (join) {
		if (hdr)
			vu_trace_hdr(&c->log, "->", hdr, 0);
		return 0;
	}
	return vu_client_send_locked(c, s, c->sock, hdr, iov, iovcnt, fds, nfds, some);
}

int vu_post_push(struct uvfio_client *c)
{
	if (!waiting(c))
		return 0;
	struct vu_send_ctx s;
	vu_client_send_begin(c, 0, &s);
	int r = c->post.len || c->post.npend ? vu_post_send(c, &s, NULL, NULL, 0, NULL, 0, NULL)
					     : 0;
	vu_client_send_end(c, 0, &s);
	return r;
}

void vu_post_due(struct uvfio_client *c)
{
	uint64_t v;
	if (c->post.timer >= 0 && read(c->post.timer, &v, sizeof(v)) == sizeof(v))
		vu_post_push(c);
}

int vu_post(struct uvfio_client *c, uint16_t id, uint64_t seq, bool filled, struct uvfio_hdr *hdr,
	    const struct iovec *iov, int iovcnt, bool *some)
{
	struct vu_post *b = &c->post;
	size_t total = UVFIO_HDR_SIZE;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	hdr->msg_size = (uint32_t)total;
	/* A REGION_WRITE_MULTI with room for more stays open to gather them. */
	bool open = false;
	if (hdr->cmd == UVFIO_CMD_REGION_WRITE_MULTI && iovcnt && iov[0].iov_len >= 8) {
		uint64_t cnt;
		memcpy(&cnt, iov[0].iov_base, sizeof(cnt));
		open = cnt < UVFIO_WRITE_MULTI_MAX;
	}
	struct vu_send_ctx s;
	int r = 0;
	*some = false;
	vu_client_send_begin(c, 0, &s);
	if (!b->delay_ns && !b->len && !open) {
		/* Nothing to wait for, nothing waiting: at once. */
		r = vu_client_send_locked(c, &s, c->sock, hdr, iov, iovcnt, NULL, 0, some);
		if (r == 0) {
			pthread_mutex_lock(&c->mu);
			vu_client_sent(c, &id, 1);
			pthread_mutex_unlock(&c->mu);
		}
		vu_client_send_end(c, 0, &s);
		return r;
	}
	if (b->len + total > VU_POST_BUF || b->nids == VU_POST_MSGS)
		r = vu_post_send(c, &s, NULL, NULL, 0, NULL, 0, NULL); /* full: make room */
	if (r == 0) { /* else this message was not sent either: the caller's error */
		if (!b->len && !b->npend && b->delay_ns)
			arm(c);
		b->wm = open ? b->len : SIZE_MAX;
		memcpy(b->buf + b->len, hdr, UVFIO_HDR_SIZE);
		size_t at = b->len + UVFIO_HDR_SIZE;
		for (int i = 0; i < iovcnt; i++) {
			memcpy(b->buf + at, iov[i].iov_base, iov[i].iov_len);
			at += iov[i].iov_len;
		}
		__atomic_store_n(&b->len, at, __ATOMIC_RELAXED);
		b->ids[b->nids++] = id;
		/* Without the delay, only the open message waits; at the
		 * limit of requests in flight nothing does, nor what a flush
		 * that began meanwhile waits for (it may have sent the buffer
		 * before this message came in). */
		if (filled || (!b->delay_ns && b->wm == SIZE_MAX) ||
		    seq <= __atomic_load_n(&b->flush_seq, __ATOMIC_SEQ_CST))
			r = vu_post_send(c, &s, NULL, NULL, 0, NULL, 0, NULL);
	}
	vu_client_send_end(c, 0, &s);
	return r;
}

int vu_post_gather(struct uvfio_client *c, uint32_t region, uint64_t offset, const void *buf,
		   uint32_t len)
{
	struct vu_post *b = &c->post;
	struct uvfio_write_multi_entry e = { .offset = offset, .region = region, .count = len };
	memcpy(e.data, buf, len);
	struct vu_send_ctx s;
	vu_client_send_begin(c, 0, &s);
	/* A dead or shut-down client takes nothing more (the open message's
	 * request failed with it: what joined it would be lost silently). */
	int r = __atomic_load_n(&c->dead, __ATOMIC_ACQUIRE);
	if (!r && b->wm != SIZE_MAX && b->len + sizeof(e) <= VU_POST_BUF) {
		/* The open message is the buffer's last: it grows in place. */
		struct uvfio_hdr h;
		struct uvfio_write_multi wm;
		memcpy(&h, b->buf + b->wm, sizeof(h));
		memcpy(&wm, b->buf + b->wm + sizeof(h), sizeof(wm));
		memcpy(b->buf + b->len, &e, sizeof(e));
		__atomic_store_n(&b->len, b->len + sizeof(e), __ATOMIC_RELAXED);
		h.msg_size += (uint32_t)sizeof(e);
		wm.wr_cnt++;
		memcpy(b->buf + b->wm, &h, sizeof(h));
		memcpy(b->buf + b->wm + sizeof(h), &wm, sizeof(wm));
		r = 1;
		if (wm.wr_cnt == UVFIO_WRITE_MULTI_MAX) {
			b->wm = SIZE_MAX; /* full: closed */
			if (!b->delay_ns)
				vu_post_send(c, &s, NULL, NULL, 0, NULL, 0, NULL);
		}
	}
	vu_client_send_end(c, 0, &s);
	return r;
}

int vu_post_ring(struct uvfio_client *c, struct vu_bell *bl)
{
	struct vu_post *b = &c->post;
	int r = __atomic_load_n(&c->dead, __ATOMIC_ACQUIRE);
	if (r)
		return r;
	uint64_t one = 1;
	if (!b->buf) /* no buffer: nothing posted before it can be waiting */
		return write(bl->fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
	struct vu_send_ctx s;
	vu_client_send_begin(c, 0, &s);
	if (b->delay_ns) {
		/* Rings wait with the buffer, summed; they are signalled when
		 * it leaves, after the messages posted before them. */
		if (!b->len && !b->npend)
			arm(c);
		if (!bl->pending++)
			__atomic_store_n(&b->npend, b->npend + 1, __ATOMIC_RELAXED);
	} else {
		if (b->len || b->npend)
			r = vu_post_send(c, &s, NULL, NULL, 0, NULL, 0, NULL);
		if (r == 0 && write(bl->fd, &one, sizeof(one)) != sizeof(one))
			r = -errno;
	}
	vu_client_send_end(c, 0, &s);
	return r;
}
