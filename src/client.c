/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * client.c — the client's connection and message core: sending requests,
 * matching replies by id, the wait / nowait / async kinds, the reader role,
 * timeouts, fatal errors, the service thread and the event-loop dispatch.
 *
 * The reader role: at most one thread reads the sockets at a time. A thread
 * waiting for its reply takes the role itself when it is free, so that on the
 * synchronous path the waiting thread reads its own reply and no other thread
 * has to be woken. Replies for other waiters are handed over by signalling
 * their condition variable; when the reader leaves, it passes the role to the
 * next waiter (or to the service thread).
 *
 * Connecting, negotiation, the service thread and the event-loop entry
 * points are in client_conn.c.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "internal.h"

#define MAX_ABANDONED 1024u

/* ---- Pending records -------------------------------------------------------- */

static struct vu_pending *pending_alloc(struct uvfio_client *c)
{
	struct vu_pending *p = c->free_pending;
	if (p)
		c->free_pending = p->next;
	else if (!(p = malloc(sizeof(*p))))
		return NULL;
	memset(p, 0, sizeof(*p));
	return p;
}

static void pending_recycle(struct uvfio_client *c, struct vu_pending *p)
{
	p->next = c->free_pending;
	c->free_pending = p;
}

/*
 * Pending requests are on three lists: all of them in send order (for
 * vu_client_set_dead), a hash by id (for matching replies), and the posted writes in
 * send order (so that flush looks only at the oldest one). All O(1).
 */
#define BUCKET(id) ((id) & (VU_PENDING_BUCKETS - 1))

static void pending_link(struct uvfio_client *c, struct vu_pending *p)
{
	p->prev = c->pending_tail;
	p->next = NULL;
	if (c->pending_tail)
		c->pending_tail->next = p;
	else
		c->pending = p;
	c->pending_tail = p;
	p->hnext = c->bucket[BUCKET(p->id)];
	c->bucket[BUCKET(p->id)] = p;
	if (p->kind == VU_NOWAIT) {
		p->nw_prev = c->nowait_tail;
		p->nw_next = NULL;
		if (c->nowait_tail)
			c->nowait_tail->nw_next = p;
		else
			c->nowait = p;
		c->nowait_tail = p;
	}
}

static void pending_unlink(struct uvfio_client *c, struct vu_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		c->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		c->pending_tail = p->prev;
	p->next = p->prev = NULL;
	for (struct vu_pending **pp = &c->bucket[BUCKET(p->id)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	}
	if (p->kind == VU_NOWAIT) {
		if (p->nw_prev)
			p->nw_prev->nw_next = p->nw_next;
		else
			c->nowait = p->nw_next;
		if (p->nw_next)
			p->nw_next->nw_prev = p->nw_prev;
		else
			c->nowait_tail = p->nw_prev;
	}
}

static struct vu_pending *pending_find(struct uvfio_client *c, uint16_t id)
{
	for (struct vu_pending *p = c->bucket[BUCKET(id)]; p; p = p->hnext)
		if (p->id == id)
			return p;
	return NULL;
}

/* Ids wrap at 16 bits; an id still pending (or abandoned after a timeout)
 * is skipped so that a late reply can never complete the wrong request. */
static uint16_t next_id(struct uvfio_client *c)
{
	for (;;) {
		uint16_t id = c->next_id++;
		if (!pending_find(c, id))
			return id;
	}
}

/* ---- Waiters ------------------------------------------------------------------ */

static void waiter_link(struct uvfio_client *c, struct vu_waiter *w)
{
	w->prev = NULL;
	w->next = c->waiters;
	if (c->waiters)
		c->waiters->prev = w;
	c->waiters = w;
}

static void waiter_unlink(struct uvfio_client *c, struct vu_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		c->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
}

/* The reader left: let one waiter (or the service thread) take the role. */
void vu_client_pass_reader_role(struct uvfio_client *c)
{
	if (c->waiters) {
		pthread_cond_signal(&c->waiters->cv);
	} else if (c->has_thread) {
		pthread_cond_signal(&c->thread_cv);
		/* Polling the twin socket only, it would not see replies that
		 * nobody waits for (posted, async) until something else wakes
		 * it. */
		if (c->twin >= 0 && c->pending) {
			uint64_t one = 1;
			if (write(c->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
				vu_warn(&c->log, "cannot wake the service thread");
		}
	}
}

static void wake_flushers(struct uvfio_client *c)
{
	for (struct vu_waiter *w = c->waiters; w; w = w->next)
		if (w->flush)
			pthread_cond_signal(&w->cv);
}

/* ---- Fatal errors --------------------------------------------------------------- */

/* The stream can no longer be trusted: fail everything at once. mu held; it
 * is dropped and retaken around asynchronous callbacks. */
void vu_client_set_dead(struct uvfio_client *c, int err)
{
	if (c->dead)
		return;
	if (err != -ESHUTDOWN) {
		vu_err(&c->log, "connection failed: %s", uvfio_strerror(err));
		err = -ECONNRESET; /* what every caller sees, whatever the cause */
	}
	c->dead = err;
	shutdown(c->sock, SHUT_RDWR);
	if (c->twin >= 0)
		shutdown(c->twin, SHUT_RDWR);
	struct vu_pending *async = NULL;
	for (struct vu_pending *p = c->pending, *n; p; p = n) {
		n = p->next;
		if (p->kind == VU_WAIT && !p->abandoned) {
			p->done = true;
			p->result = err;
			continue; /* its waiter unlinks it */
		}
		pending_unlink(c, p);
		if (p->kind == VU_ASYNC && !p->abandoned) {
			p->next = async;
			async = p;
		} else {
			pending_recycle(c, p);
		}
	}
	c->nabandoned = 0;
	for (struct vu_waiter *w = c->waiters; w; w = w->next)
		pthread_cond_signal(&w->cv);
	if (c->has_thread)
		pthread_cond_signal(&c->thread_cv);
	while (async) {
		struct vu_pending *p = async;
		async = p->next;
		pthread_mutex_unlock(&c->mu);
		p->fn(p->opaque, err, NULL, 0);
		pthread_mutex_lock(&c->mu);
		pending_recycle(c, p);
	}
}

/* ---- Receiving ------------------------------------------------------------------- */

static int reply_result(const struct vu_msg *m)
{
	if (!(m->hdr.flags & UVFIO_FLAGS_ERROR))
		return 0;
	/* "It may be zero even if the Error bit is set": report EIO then. */
	return m->hdr.error_no ? -(int)VU_MIN(m->hdr.error_no, 4095u) : -EIO;
}

/* A reply arrived: complete its request. mu held; takes ownership of m. */
static void complete_reply(struct uvfio_client *c, struct vu_msg *m)
{
	struct vu_pending *p = pending_find(c, m->hdr.msg_id);
	if (!p) {
		vu_warn(&c->log, "discarding a %s reply with id %u that matches no request",
			uvfio_cmd_name(m->hdr.cmd), m->hdr.msg_id);
		vu_msg_free(m);
		return;
	}
	pending_unlink(c, p);
	if (p->abandoned) {
		c->nabandoned--;
		pending_recycle(c, p);
		vu_msg_free(m);
		return;
	}
	int result = reply_result(m);
	if (m->hdr.cmd != p->cmd) {
		vu_warn(&c->log, "reply %u is for %s but request %u was %s", m->hdr.msg_id,
			uvfio_cmd_name(m->hdr.cmd), p->id, uvfio_cmd_name(p->cmd));
		result = -EPROTO;
	}
	if (m->fds_dropped && result == 0)
		result = -EPROTO;
	switch (p->kind) {
	case VU_WAIT:
		p->done = true;
		p->result = result;
		p->reply = m;
		if (p->waiter) /* asleep, or going to sleep */
			pthread_cond_signal(&p->waiter->cv);
		return;
	case VU_NOWAIT:
		if (result == 0 && m->nfds)
			result = -EPROTO;
		if (result < 0 && !c->post_error)
			c->post_error = result;
		vu_msg_free(m);
		pending_recycle(c, p);
		wake_flushers(c);
		return;
	case VU_ASYNC:
		if (result == 0 && m->nfds)
			result = -EPROTO;
		pthread_mutex_unlock(&c->mu);
		p->fn(p->opaque, result, result ? NULL : m->body, result ? 0 : m->len);
		pthread_mutex_lock(&c->mu);
		vu_msg_free(m);
		pending_recycle(c, p);
		return;
	}
}


static bool target_done(struct uvfio_client *c, const struct wait_target *t)
{
	if (t->p)
		return t->p->done;
	return !c->nowait || c->nowait->seq > t->flush_seq;
}

/* Set while this thread holds a send lock: server requests it reads then
 * are queued, because answering them needs that lock. */
static VU_TLS bool tls_sending, tls_queued;

static void queue_request(struct uvfio_client *c, struct vu_msg *m)
{
	m->next = NULL;
	pthread_mutex_lock(&c->mu);
	if (c->reqq_tail)
		c->reqq_tail->next = m;
	else
		c->reqq = m;
	c->reqq_tail = m;
	pthread_mutex_unlock(&c->mu);
}

/* Answer the server requests queued while sending. */
static void run_queued_requests(struct uvfio_client *c)
{
	for (;;) {
		pthread_mutex_lock(&c->mu);
		struct vu_msg *m = c->reqq;
		if (m) {
			c->reqq = m->next;
			if (!c->reqq)
				c->reqq_tail = NULL;
		}
		pthread_mutex_unlock(&c->mu);
		if (!m)
			return;
		vu_client_handle_request(c, m->on_twin ? c->twin : c->sock, m);
	}
}

/* Set while this thread holds the reader role it took with its request. */
static VU_TLS bool tls_reader;

/*
 * Read every complete message waiting on one socket; with block, the first
 * read may wait. The caller owns the reader role; mu is not held. Stops
 * early once t is done so the synchronous path makes no extra system call;
 * then, with locked, it returns with mu held and *locked set. Returns
 * messages handled or a fatal negative errno.
 */
static int pump_ex(struct uvfio_client *c, int sock, struct vu_rx *rx,
		   const struct wait_target *t, bool block, bool *locked)
{
	int handled = 0;
	for (;;) {
		struct vu_msg *m;
		int r = vu_rx_read_ex(sock, rx, &m, block);
		block = false; /* only the first read may wait */
		if (r <= 0)
			return r < 0 ? r : handled;
		handled++;
		vu_trace_hdr(&c->log, "<-", &m->hdr, m->nfds);
		if ((m->hdr.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
			if (sock == c->twin) {
				/* Only server requests travel on the twin socket. */
				vu_msg_free(m);
				return -EPROTO;
			}
			pthread_mutex_lock(&c->mu);
			complete_reply(c, m);
			bool stop = t && target_done(c, t);
			if (stop && locked) {
				*locked = true;
				return handled;
			}
			pthread_mutex_unlock(&c->mu);
			if (stop)
				return handled;
		} else if (tls_sending) {
			m->on_twin = sock == c->twin;
			queue_request(c, m);
			tls_queued = true;
		} else {
			vu_client_handle_request(c, sock, m);
		}
		if (!vu_rx_more(rx))
			return handled;
	}
}

static int pump(struct uvfio_client *c, int sock, struct vu_rx *rx, const struct wait_target *t,
		bool block)
{
	return pump_ex(c, sock, rx, t, block, NULL);
}

/* Poll both sockets (and the wake fd) for up to timeout_ms and pump what is
 * readable. Returns >= 0, or a fatal negative errno. mu not held. */
int vu_client_poll_and_pump(struct uvfio_client *c, int timeout_ms, const struct wait_target *t,
			 bool with_main, bool with_twin, bool with_wakefd)
{
	struct pollfd pf[3] = {
		{ .fd = with_main ? c->sock : -1, .events = POLLIN },
		{ .fd = with_twin ? c->twin : -1, .events = POLLIN },
		{ .fd = with_wakefd ? c->wakefd : -1, .events = POLLIN },
	};
	int r = poll(pf, 3, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (pf[2].revents & POLLIN) {
		uint64_t v;
		if (read(c->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return -errno;
	}
	int n = 0;
	if (pf[1].revents) {
		r = pump(c, c->twin, &c->twin_rx, NULL, false);
		if (r < 0)
			return r;
		n += r;
	}
	if (pf[0].revents) {
		r = pump(c, c->sock, &c->rx, t, false);
		if (r < 0)
			return r;
		n += r;
	}
	return n;
}

/* The twin socket belongs to the service thread when there is one;
 * otherwise to whoever holds the reader role. */
bool vu_client_reader_owns_twin(const struct uvfio_client *c)
{
	return c->twin >= 0 && !c->has_thread;
}

/*
 * The synchronous fast path: one blocking read of the main socket, limited
 * by SO_RCVTIMEO (the message timeout), usually bringing the whole reply.
 * Only when nothing else must be watched meanwhile. Returns messages
 * handled (0: timed out or incomplete) or a fatal errno.
 */
static int blocking_pump(struct uvfio_client *c, const struct wait_target *t)
{
	return pump(c, c->sock, &c->rx, t, true);
}

/*
 * A waiter sleeps on its condition variable only when another thread holds
 * the reader role; on the synchronous path it never does, so the variable
 * is made (and the waiter linked where others signal it) only then.
 */
static void waiter_init(struct vu_waiter *w, bool flush)
{
	w->next = w->prev = NULL;
	w->flush = flush;
	w->linked = false;
}

static void waiter_sleep_ready(struct uvfio_client *c, struct vu_waiter *w,
			       const struct wait_target *t)
{
	if (w->linked)
		return;
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &a); /* cannot fail in glibc: no resources */
	pthread_condattr_destroy(&a);
	waiter_link(c, w);
	w->linked = true;
	if (t->p)
		t->p->waiter = w;
}

/*
 * Wait until t is done, the connection dies or the deadline (0: none)
 * passes; now is the time the deadline was taken (0: unknown). mu held on
 * entry and exit. Returns 0, -ETIMEDOUT or the fatal errno.
 */
static int wait_for(struct uvfio_client *c, struct vu_waiter *w, const struct wait_target *t,
		    uint64_t deadline, uint64_t now)
{
	int r = 0;
	c->nwaiting++;
	while (!target_done(c, t)) {
		if (c->dead) {
			r = c->dead;
			break;
		}
		if (!now)
			now = vu_now_ms();
		if (deadline && now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (!c->reading) {
			c->reading = true;
			/* Blocking read when the whole limit is still ahead (it
			 * waits at most the message timeout) and no twin socket
			 * needs watching by this thread. */
			bool fast = c->blocking && !vu_client_reader_owns_twin(c) &&
				    (!deadline || deadline - now + 1 >= (uint64_t)c->timeout_ms);
			pthread_mutex_unlock(&c->mu);
			int pr = fast ? blocking_pump(c, t)
				      : vu_client_poll_and_pump(c, deadline ? (int)(deadline - now) : -1, t,
						      true, vu_client_reader_owns_twin(c), false);
			pthread_mutex_lock(&c->mu);
			c->reading = false;
			now = 0;
			if (pr < 0)
				vu_client_set_dead(c, pr);
			continue;
		}
		waiter_sleep_ready(c, w, t);
		if (c->thread_reading) {
			/* The service thread may be in poll(): move it out so this
			 * thread can read its own reply. */
			uint64_t one = 1;
			if (write(c->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
				vu_warn(&c->log, "cannot wake the service thread: %s",
					uvfio_strerror(-errno));
		}
		if (deadline) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t left = deadline - now;
			ts.tv_sec += (time_t)(left / 1000);
			ts.tv_nsec += (long)(left % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&w->cv, &c->mu, &ts);
		} else {
			pthread_cond_wait(&w->cv, &c->mu);
		}
		now = 0;
	}
	c->nwaiting--;
	if (w->linked) {
		waiter_unlink(c, w);
		if (t->p)
			t->p->waiter = NULL;
	}
	if (!c->reading)
		vu_client_pass_reader_role(c);
	return r;
}

/* The deadline of a call starting now (0: no limit); *now is set. */
static uint64_t deadline_of(struct uvfio_client *c, uint64_t *now)
{
	int t = __atomic_load_n(&c->timeout_ms, __ATOMIC_RELAXED);
	*now = vu_now_ms();
	return t < 0 ? 0 : *now + (uint64_t)t;
}

static void waiter_fini(struct vu_waiter *w)
{
	if (w->linked)
		pthread_cond_destroy(&w->cv);
}

/* ---- Sending ----------------------------------------------------------------------- */

/*
 * The socket is full. The server may be blocked sending to us (replies to
 * earlier posted writes, DMA requests) and so not reading: read what it
 * sent, if no other thread is reading, so that neither side waits for the
 * other.
 */
static int send_wait(void *arg, int sock, int timeout_ms)
{
	struct uvfio_client *c = arg;
	struct pollfd pf[2] = {
		{ .fd = sock, .events = POLLOUT | POLLIN },
		{ .fd = sock == c->twin ? c->sock : c->twin, .events = POLLIN },
	};
	int r = poll(pf, 2, timeout_ms);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if ((pf[0].revents & POLLOUT) || !((pf[0].revents | pf[1].revents) & POLLIN))
		return (pf[0].revents & (POLLERR | POLLHUP)) && !(pf[0].revents & POLLOUT)
			       ? -ECONNRESET
			       : 0;
	pthread_mutex_lock(&c->mu);
	bool held = tls_reader; /* taken with this thread's request */
	bool mine = held || (!c->reading && !c->dead);
	if (mine)
		c->reading = true;
	pthread_mutex_unlock(&c->mu);
	if (!mine) {
		/* Another thread reads; wait for room only. */
		struct pollfd p = { .fd = sock, .events = POLLOUT };
		return poll(&p, 1, VU_MIN(timeout_ms < 0 ? 100 : timeout_ms, 100)) < 0 &&
				       errno != EINTR
			       ? -errno
			       : 0;
	}
	r = vu_client_poll_and_pump(c, 0, NULL, true, vu_client_reader_owns_twin(c), false);
	pthread_mutex_lock(&c->mu);
	if (!held)
		c->reading = false;
	if (r < 0)
		vu_client_set_dead(c, r);
	if (!held)
		vu_client_pass_reader_role(c);
	r = c->dead;
	pthread_mutex_unlock(&c->mu);
	return r;
}

/* Send one message on sock; *some tells whether any byte went out. */
static int send_on(struct uvfio_client *c, int sock, struct uvfio_hdr *hdr,
		   const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds, bool *some)
{
	pthread_mutex_t *smu = sock == c->twin ? &c->twin_send_mu : &c->send_mu;
	pthread_mutex_lock(smu);
	tls_sending = true;
	int r = vu_send_ex(sock, hdr, iov, iovcnt, fds, nfds,
			   __atomic_load_n(&c->timeout_ms, __ATOMIC_RELAXED), some, send_wait, c);
	tls_sending = false;
	if (r == 0)
		vu_trace_hdr(&c->log, "->", hdr, nfds);
	pthread_mutex_unlock(smu);
	if (tls_queued) {
		tls_queued = false;
		run_queued_requests(c);
	}
	return r;
}

/* Part of a message went out: the framing is lost. */
static int send_broken(struct uvfio_client *c)
{
	pthread_mutex_lock(&c->mu);
	vu_client_set_dead(c, -ECONNRESET);
	pthread_mutex_unlock(&c->mu);
	return -ECONNRESET;
}

int vu_client_send_reply(struct uvfio_client *c, int sock, const struct uvfio_hdr *req, int err,
			 const struct iovec *iov, int iovcnt)
{
	struct uvfio_hdr h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.flags = UVFIO_FLAGS_TYPE_REPLY | (err ? UVFIO_FLAGS_ERROR : 0),
		.error_no = (uint32_t)(err < 0 ? -err : err),
	};
	bool some;
	int r = send_on(c, sock, &h, err ? NULL : iov, err ? 0 : iovcnt, NULL, 0, &some);
	return r < 0 && some ? send_broken(c) : r;
}

int vu_client_request(struct uvfio_client *c, uint16_t cmd, const struct iovec *iov, int iovcnt,
		      const int *fds, unsigned nfds, enum vu_kind kind, uvfio_async_fn fn,
		      void *opaque, struct vu_msg **reply)
{
	if (reply)
		*reply = NULL;
	/* Gathered posted writes go first: requests are processed in order. */
	if (cmd != UVFIO_CMD_REGION_WRITE_MULTI && __atomic_load_n(&c->nbatch, __ATOMIC_RELAXED)) {
		int r = vu_client_flush_batch(c);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&c->mu);
	int r = c->dead;
	struct vu_pending *p = r ? NULL : pending_alloc(c);
	if (!r && !p)
		r = -ENOMEM;
	if (r) {
		pthread_mutex_unlock(&c->mu);
		return r;
	}
	p->id = next_id(c);
	p->cmd = cmd;
	p->kind = kind;
	p->fn = fn;
	p->opaque = opaque;
	p->waiter = NULL;
	if (kind == VU_NOWAIT)
		p->seq = ++c->post_seq;
	pending_link(c, p);
	/*
	 * The synchronous fast path: a caller that will wait takes the free
	 * reader role now, and after sending reads its reply with one
	 * blocking read (bounded by SO_RCVTIMEO, the message timeout) that
	 * returns with mu held — one lock round fewer on each side.
	 */
	bool reader = kind == VU_WAIT && !c->reading && c->blocking &&
		      !vu_client_reader_owns_twin(c) && !tls_reader;
	if (reader)
		c->reading = tls_reader = true;
	pthread_mutex_unlock(&c->mu);
	uint64_t now = 0, deadline = 0;
	if (kind == VU_WAIT)
		deadline = deadline_of(c, &now);

	struct uvfio_hdr h = { .msg_id = p->id, .cmd = cmd, .flags = UVFIO_FLAGS_TYPE_COMMAND };
	bool some;
	r = send_on(c, c->sock, &h, iov, iovcnt, fds, nfds, &some);
	struct wait_target t = { .p = p };
	if (reader) {
		bool locked = false;
		int pr = r < 0 ? 0 : pump_ex(c, c->sock, &c->rx, &t, true, &locked);
		if (!locked)
			pthread_mutex_lock(&c->mu);
		c->reading = tls_reader = false;
		now = 0; /* the read took time */
		if (pr < 0)
			vu_client_set_dead(c, pr);
	} else {
		pthread_mutex_lock(&c->mu);
	}
	if (r < 0) {
		/* No reply can come for a request the server did not get whole. */
		pending_unlink(c, p);
		pending_recycle(c, p);
		if (reader)
			vu_client_pass_reader_role(c);
		pthread_mutex_unlock(&c->mu);
		return some ? send_broken(c) : r;
	}
	if (kind != VU_WAIT) {
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	struct vu_waiter w;
	waiter_init(&w, false);
	r = wait_for(c, &w, &t, deadline, now);
	if (p->done) {
		r = p->result;
		if (p->reply) {
			if (r == 0 && reply)
				*reply = p->reply;
			else
				vu_msg_free(p->reply);
		} else {
			pending_unlink(c, p); /* failed by vu_client_set_dead, still linked */
		}
		pending_recycle(c, p);
	} else {
		/* Timed out: keep the record so its id is not reused and the
		 * late reply is recognised and discarded. */
		p->abandoned = true;
		p->waiter = NULL;
		if (++c->nabandoned > MAX_ABANDONED) {
			for (struct vu_pending *q = c->pending; q; q = q->next) {
				if (q->abandoned) {
					pending_unlink(c, q);
					pending_recycle(c, q);
					c->nabandoned--;
					break;
				}
			}
		}
		vu_warn(&c->log, "%s request %u timed out", uvfio_cmd_name(cmd), p->id);
	}
	pthread_mutex_unlock(&c->mu);
	waiter_fini(&w);
	return r;
}

/* ---- Flush of posted writes --------------------------------------------------------- */

int uvfio_client_flush(struct uvfio_client *c)
{
	if (!c)
		return -EINVAL;
	int r = vu_client_flush_batch(c);
	if (r < 0)
		return r;
	struct vu_waiter w;
	waiter_init(&w, true);
	uint64_t now, deadline = deadline_of(c, &now);
	pthread_mutex_lock(&c->mu);
	struct wait_target t = { .p = NULL, .flush_seq = c->post_seq };
	r = wait_for(c, &w, &t, deadline, now);
	if (r == 0) {
		r = c->post_error;
		c->post_error = 0;
	}
	pthread_mutex_unlock(&c->mu);
	waiter_fini(&w);
	return r;
}

