/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * client.c — a client's requests in flight: their records and ids, the limit
 * of requests in flight, the wait / nowait (posted) / async kinds, completing
 * a request from its reply, deadlines, fatal errors, sending a request, and
 * the flush of posted writes.
 *
 * Reading the sockets — the reader role every reading thread goes through,
 * and waiting — is in client_reader.c; connecting, settings and the
 * event-loop entry points in client_conn.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

#include "internal.h"

/* ---- Records and ids ---------------------------------------------------------- */

int vu_client_slots_init(struct uvfio_client *c, uint32_t max_in_flight)
{
	unsigned max = max_in_flight ? VU_MIN(max_in_flight, VU_MAX_IN_FLIGHT)
				     : VU_DEFAULT_IN_FLIGHT;
	unsigned n = 1;
	while (n < max)
		n <<= 1;
	/* one block: the slots, their last ids, the ring of free ones */
	if (!(c->slot = calloc(n, sizeof(*c->slot) + 2 * sizeof(uint16_t))))
		return -ENOMEM;
	c->slot_id = (uint16_t *)(c->slot + n);
	c->free_slots = c->slot_id + n;
	for (unsigned i = 0; i < n; i++) {
		c->slot_id[i] = (uint16_t)(i - n); /* the first id of slot i is i */
		c->free_slots[i] = (uint16_t)i;
	}
	c->nfree_slots = n;
	c->slot_mask = n - 1;
	c->max_in_flight = max;
	return 0;
}

void vu_client_slots_free(struct uvfio_client *c)
{
	for (unsigned i = 0; c->slot && i <= c->slot_mask; i++)
		free(c->slot[i]);
	while (c->free_pending) {
		struct vu_pending *p = c->free_pending;
		c->free_pending = p->next;
		free(p);
	}
	free(c->slot);
	c->slot = NULL;
	c->slot_id = c->free_slots = NULL;
}

/*
 * A record with a fresh id, or NULL when out of memory; the caller made sure
 * that fewer than max_in_flight are in flight, so a slot is free. The low
 * bits of an id are its slot, the high bits count the slot's uses; free
 * slots are taken in the order they were freed, so that ids count up one
 * by one while requests complete in order. O(1).
 */
static struct vu_pending *pending_alloc(struct uvfio_client *c)
{
	struct vu_pending *p = c->free_pending;
	if (p)
		c->free_pending = p->next;
	else if (!(p = malloc(sizeof(*p))))
		return NULL;
	unsigned s = c->free_slots[c->free_head];
	c->free_head = (c->free_head + 1) & c->slot_mask;
	c->nfree_slots--;
	memset(p, 0, sizeof(*p));
	p->id = c->slot_id[s] = (uint16_t)(c->slot_id[s] + c->slot_mask + 1);
	c->slot[s] = p;
	c->in_flight++;
	return p;
}

static void pending_free(struct uvfio_client *c, struct vu_pending *p)
{
	c->nabandoned -= p->abandoned;
	unsigned s = p->id & c->slot_mask;
	c->slot[s] = NULL;
	c->free_slots[(c->free_head + c->nfree_slots++) & c->slot_mask] = (uint16_t)s;
	p->next = c->free_pending;
	c->free_pending = p;
	c->in_flight--;
	if (c->nany)
		vu_client_wake_any(c); /* room for one more */
}

/*
 * A request timed out: its record stays (its id reserved) until the late
 * reply. Once every request in flight has timed out, the server is taken
 * for stalled: new requests fail at once (stall_check) until a reply
 * arrives, instead of each waiting a whole timeout. mu held.
 */
static void abandon(struct uvfio_client *c, struct vu_pending *p)
{
	p->abandoned = true;
	if (++c->nabandoned == c->in_flight && !c->stalled) {
		c->stalled = true;
		vu_warn(&c->log, "the server answered none of the %u requests in flight: new "
				 "requests fail with EHOSTDOWN until a reply comes",
			c->in_flight);
		vu_client_wake_any(c); /* a wait for room ends */
	}
}

static struct vu_pending *pending_find(struct uvfio_client *c, uint16_t id)
{
	struct vu_pending *p = c->slot[id & c->slot_mask];
	return p && p->id == id ? p : NULL;
}

/*
 * Posted and async requests, nobody waiting for them, are kept by deadline
 * (inserted from the tail: O(1) while the timeout does not change), so that
 * the earliest is always first; posted writes are also kept in send order,
 * so that flush looks only at the oldest.
 */
static void unwaited_link(struct uvfio_client *c, struct vu_pending *p)
{
	struct vu_pending *q = c->unwaited_tail;
	while (q && q->deadline > p->deadline)
		q = q->prev;
	p->prev = q;
	p->next = q ? q->next : c->unwaited;
	if (p->next)
		p->next->prev = p;
	else
		c->unwaited_tail = p;
	if (q)
		q->next = p;
	else
		c->unwaited = p;
}

static void unwaited_unlink(struct uvfio_client *c, struct vu_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		c->unwaited = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		c->unwaited_tail = p->prev;
	p->next = p->prev = NULL;
}

static void nowait_link(struct uvfio_client *c, struct vu_pending *p)
{
	p->nw_prev = c->nowait_tail;
	p->nw_next = NULL;
	if (c->nowait_tail)
		c->nowait_tail->nw_next = p;
	else
		c->nowait = p;
	c->nowait_tail = p;
}

static void nowait_unlink(struct uvfio_client *c, struct vu_pending *p)
{
	if (p->nw_prev)
		p->nw_prev->nw_next = p->nw_next;
	else
		c->nowait = p->nw_next;
	if (p->nw_next)
		p->nw_next->nw_prev = p->nw_prev;
	else
		c->nowait_tail = p->nw_prev;
}

/* Off the lists of unwaited requests (posted and async). */
static void unwaited_drop(struct uvfio_client *c, struct vu_pending *p)
{
	if (!p->buffered) /* not by deadline while in the send buffer */
		unwaited_unlink(c, p);
	if (p->kind == VU_NOWAIT)
		nowait_unlink(c, p);
}

bool vu_client_target_done(struct uvfio_client *c, const struct wait_target *t)
{
	if (t->p)
		return t->p->done;
	if (t->room)
		return c->in_flight < c->max_in_flight;
	return !c->nowait || c->nowait->seq > t->flush_seq;
}

/* ---- Deadlines of requests nobody waits for ---------------------------------------- */

/*
 * The timer fires at the earliest deadline, so that an event loop (through
 * poll_fd) or the service thread wakes to enforce it. It is rearmed only
 * when a deadline comes earlier than the one it is set for: with a steady
 * timeout that is once per firing, not once per request.
 */
static void timer_arm(struct uvfio_client *c)
{
	struct vu_pending *h = c->unwaited;
	while (h && h->sending) /* its sender rearms when done */
		h = h->next;
	if (!h || h->deadline == UINT64_MAX || c->timerfd < 0 ||
	    (c->timer_at && c->timer_at <= h->deadline))
		return;
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(h->deadline / 1000),
						.tv_nsec = (long)(h->deadline % 1000) * 1000000L } };
	if (timerfd_settime(c->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		c->timer_at = h->deadline;
	else
		vu_warn(&c->log, "cannot arm the request timer: %s", uvfio_strerror(-errno));
}

/* A posted or async request is over (reply, error or timeout): report it and
 * free it. mu held; dropped around the callback. */
static void finish(struct uvfio_client *c, struct vu_pending *p)
{
	struct vu_msg *m = p->reply;
	int result = p->result;
	unwaited_drop(c, p);
	if (p->kind == VU_NOWAIT) {
		if (result < 0 && !c->post_error)
			c->post_error = result;
		pending_free(c, p);
		vu_msg_free(m);
		return;
	}
	uvfio_async_fn fn = p->fn;
	void *opaque = p->opaque;
	pending_free(c, p); /* first: the callback may send the next request */
	bool data = result == 0 && m;
	pthread_mutex_unlock(&c->mu);
	fn(opaque, result, data ? m->body : NULL, data ? m->len : 0);
	pthread_mutex_lock(&c->mu);
	vu_msg_free(m);
}

int vu_client_expire(struct uvfio_client *c, uint64_t now)
{
	if (c->timer_at && now >= c->timer_at) {
		/* It fired: read it, or poll_fd would stay readable. */
		uint64_t v;
		if (read(c->timerfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			vu_warn(&c->log, "cannot read the request timer");
		c->timer_at = 0;
	}
	int n = 0;
	struct vu_pending *p = c->unwaited;
	while (p && p->deadline <= now) {
		if (p->sending) { /* its sender finishes it */
			p = p->next;
			continue;
		}
		/* It keeps its slot (and id) until the late reply comes. */
		unwaited_drop(c, p);
		abandon(c, p);
		n++;
		vu_warn(&c->log, "%s request %u timed out", uvfio_cmd_name(p->cmd), p->id);
		if (p->kind == VU_NOWAIT) {
			if (!c->post_error)
				c->post_error = -ETIMEDOUT;
			vu_client_wake_any(c);
		} else {
			/* Read under mu: once it is dropped, the late reply may
			 * free the record and the next request take it. */
			uvfio_async_fn fn = p->fn;
			void *opaque = p->opaque;
			pthread_mutex_unlock(&c->mu);
			fn(opaque, -ETIMEDOUT, NULL, 0);
			pthread_mutex_lock(&c->mu);
		}
		p = c->unwaited; /* the lists may have changed meanwhile */
	}
	timer_arm(c);
	return n;
}

/* ---- Fatal errors --------------------------------------------------------------- */

/* The stream can no longer be trusted, or the client is shut down: fail
 * everything at once. mu held; it is dropped around asynchronous callbacks. */
void vu_client_set_dead(struct uvfio_client *c, int err)
{
	if (c->dead)
		return;
	if (err != -ESHUTDOWN) {
		vu_err(&c->log, "connection failed: %s", uvfio_strerror(err));
		err = -ECONNRESET; /* what every caller sees, whatever the cause */
	}
	__atomic_store_n(&c->dead, err, __ATOMIC_RELEASE); /* also read without mu */
	/* Ends blocked reads and sends of other threads at once. */
	shutdown(c->sock, SHUT_RDWR);
	if (c->twin >= 0)
		shutdown(c->twin, SHUT_RDWR);
	struct vu_pending *async = NULL;
	for (unsigned i = 0; c->slot && i <= c->slot_mask; i++) {
		struct vu_pending *p = c->slot[i];
		if (!p || p->done)
			continue;
		if (p->abandoned) {
			pending_free(c, p);
		} else if (p->kind == VU_WAIT || p->sending) {
			/* its waiter or sender finishes it */
			p->done = true;
			p->result = err;
			if (p->waiter)
				pthread_cond_signal(&p->waiter->cv);
		} else if (p->kind == VU_ASYNC) {
			unwaited_drop(c, p);
			p->next = async;
			async = p;
		} else {
			unwaited_drop(c, p);
			pending_free(c, p);
		}
	}
	for (struct vu_waiter *w = c->waiters; w; w = w->next)
		pthread_cond_signal(&w->cv);
	vu_client_kick(c); /* the service thread, or the event loop */
	while (async) {
		struct vu_pending *p = async;
		async = p->next;
		uvfio_async_fn fn = p->fn;
		void *opaque = p->opaque;
		pending_free(c, p);
		pthread_mutex_unlock(&c->mu);
		fn(opaque, err, NULL, 0);
		pthread_mutex_lock(&c->mu);
	}
}

/* ---- Completing a request -------------------------------------------------------- */

static int reply_result(const struct vu_msg *m)
{
	if (!(m->hdr.flags & UVFIO_FLAGS_ERROR))
		return 0;
	/* "It may be zero even if the Error bit is set": report EIO then. */
	return m->hdr.error_no ? -(int)VU_MIN(m->hdr.error_no, 4095u) : -EIO;
}

void vu_client_complete(struct uvfio_client *c, struct vu_msg *m)
{
	c->stalled = false; /* the server answers again */
	struct vu_pending *p = pending_find(c, m->hdr.msg_id);
	if (!p || p->done) {
		vu_warn(&c->log, "discarding a %s reply with id %u that matches no request",
			uvfio_cmd_name(m->hdr.cmd), m->hdr.msg_id);
		vu_msg_free(m);
		return;
	}
	if (p->abandoned) { /* the late reply of a request that timed out */
		pending_free(c, p);
		vu_msg_free(m);
		return;
	}
	int result = reply_result(m);
	if (m->hdr.cmd != p->cmd) {
		vu_warn(&c->log, "reply %u is for %s but request %u was %s", m->hdr.msg_id,
			uvfio_cmd_name(m->hdr.cmd), p->id, uvfio_cmd_name(p->cmd));
		result = -EPROTO;
	}
	if (result == 0 && (m->fds_dropped || (p->kind != VU_WAIT && m->nfds)))
		result = -EPROTO;
	p->done = true;
	p->result = result;
	p->reply = m;
	if (p->kind == VU_WAIT) {
		if (p->waiter) /* asleep, or going to sleep */
			pthread_cond_signal(&p->waiter->cv);
	} else if (!p->sending) {
		finish(c, p);
	}
}

/* ---- Requests ------------------------------------------------------------------------ */

/* The deadline of a call starting now (0: no limit); *now is set. */
static uint64_t deadline_of(struct uvfio_client *c, uint64_t *now)
{
	int t = __atomic_load_n(&c->timeout_ms, __ATOMIC_RELAXED);
	*now = vu_now_ms();
	return t < 0 ? 0 : *now + (uint64_t)t;
}

/* Wait for room under the limit of requests in flight. mu held. */
static int wait_room(struct uvfio_client *c, uint64_t deadline, uint64_t now)
{
	struct vu_waiter w;
	vu_waiter_init(&w, true);
	struct wait_target t = { .room = true };
	int r = vu_client_wait(c, &w, &t, deadline, now, false);
	vu_waiter_fini(&w);
	if (r == -ETIMEDOUT) {
		vu_warn(&c->log, "%u requests in flight, none answered in time: not sent",
			c->in_flight);
		r = -EAGAIN;
	}
	return r;
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
	int r = vu_client_send(c, sock, &h, err ? NULL : iov, err ? 0 : iovcnt, NULL, 0, &some);
	if (r < 0 && some) { /* part of a message went out: the framing is lost */
		pthread_mutex_lock(&c->mu);
		vu_client_set_dead(c, -ECONNRESET);
		pthread_mutex_unlock(&c->mu);
		r = -ECONNRESET;
	}
	return r;
}

/* The request could not be sent: no reply can come for it. mu held. */
static int send_failed(struct uvfio_client *c, struct vu_pending *p, int r, bool some)
{
	if (p->kind != VU_WAIT)
		unwaited_drop(c, p);
	vu_msg_free(p->reply);
	pending_free(c, p);
	if (!c->dead && some) /* part of it went out: the framing is lost */
		vu_client_set_dead(c, -ECONNRESET);
	return c->dead ? c->dead : r;
}

/*
 * A stalled server (see abandon()): what it sent meanwhile is read first,
 * without waiting, if no other thread reads; the stall is over if a reply
 * came, else the new request fails at once. mu held.
 */
static int stall_check(struct uvfio_client *c)
{
	if (!c->stalled || c->dead)
		return c->dead;
	if (vu_reader_acquire(c)) {
		unsigned how = VU_TURN_MAIN | (vu_client_reader_owns_twin(c) ? VU_TURN_TWIN : 0);
		pthread_mutex_unlock(&c->mu);
		int r = vu_reader_turn(c, NULL, how, 0, NULL);
		pthread_mutex_lock(&c->mu);
		vu_reader_release(c);
		if (r < 0)
			vu_client_set_dead(c, r);
	}
	return c->dead ? c->dead : c->stalled ? -EHOSTDOWN : 0;
}

/* The record of a request about to be sent, once there is room under the
 * limit of requests in flight. mu held. */
static int req_alloc(struct uvfio_client *c, uint16_t cmd, enum vu_kind kind, uint64_t deadline,
		     uint64_t now, struct vu_pending **out)
{
	vu_client_tick(c, now);
	int r = stall_check(c);
	if (!r && c->in_flight >= c->max_in_flight)
		r = wait_room(c, deadline, now);
	struct vu_pending *p = NULL;
	if (!r && !(p = pending_alloc(c)))
		r = -ENOMEM;
	if (r)
		return r;
	p->cmd = cmd;
	p->kind = kind;
	*out = p;
	return 0;
}

/*
 * A caller's buffer is out of the library's reach once its call returns, on
 * every path (reply, error, timeout, a dead connection): a reply partly
 * received into it goes on in a record of its own. Only the thread that
 * reads can have put it there (reply_sink: its owner reads). mu held.
 */
static void sink_drop(struct uvfio_client *c, struct vu_pending *p)
{
	uint8_t *sink = p->sink;
	p->sink = NULL;
	if (!sink || __atomic_load_n(&c->reader, __ATOMIC_RELAXED) != vu_reader_self())
		return;
	struct vu_msg *m = c->rx.big;
	if (m && m->ext >= sink && m->ext < sink + p->sink_len)
		vu_client_unsink(c);
}

/*
 * The reply of a VU_WAIT request: wait for it (reader: this thread holds the
 * reader role, released here) and free the record, or leave the record
 * abandoned when the deadline passes. mu held on entry, not on return.
 */
static int collect(struct uvfio_client *c, struct vu_pending *p, uint64_t deadline, bool reader,
		   struct vu_msg **reply)
{
	struct wait_target t = { .p = p };
	struct vu_waiter w = { .linked = false };
	int r = 0;
	if (p->done) {
		if (reader)
			vu_reader_release(c);
	} else {
		/* Deadline from the start of the call (now: unknown, the read
		 * took time). Releases the role if this thread has it. */
		vu_waiter_init(&w, false);
		r = vu_client_wait(c, &w, &t, deadline, 0, reader);
	}
	sink_drop(c, p);
	if (p->done) {
		r = p->result;
		if (r == 0 && reply)
			*reply = p->reply;
		else
			vu_msg_free(p->reply);
		pending_free(c, p);
	} else {
		/* Timed out: the record keeps its slot so that its id is not
		 * reused and the late reply is recognised and discarded. Its
		 * data no longer goes to the caller's buffer. */
		abandon(c, p);
		p->waiter = NULL;
		vu_warn(&c->log, "%s request %u timed out", uvfio_cmd_name(p->cmd), p->id);
	}
	pthread_mutex_unlock(&c->mu);
	vu_waiter_fini(&w);
	return r;
}

int vu_client_request(struct uvfio_client *c, uint16_t cmd, const struct iovec *iov, int iovcnt,
		      const int *fds, unsigned nfds, enum vu_kind kind, uvfio_async_fn fn,
		      void *opaque, struct vu_msg **reply)
{
	if (reply)
		*reply = NULL;
	size_t size = UVFIO_HDR_SIZE;
	for (int i = 0; i < iovcnt; i++)
		size += iov[i].iov_len;
	/* posted: into the send buffer, when there is one and it fits */
	bool post = kind == VU_NOWAIT && c->post.buf && !nfds && size <= VU_POST_BUF / 2;
	uint64_t now, deadline = deadline_of(c, &now);
	pthread_mutex_lock(&c->mu);
	struct vu_pending *p;
	int r = req_alloc(c, cmd, kind, deadline, now, &p);
	if (r) {
		pthread_mutex_unlock(&c->mu);
		return r;
	}
	p->fn = fn;
	p->opaque = opaque;
	/* The request that takes the last room sends the send buffer at once. */
	bool filled = c->in_flight >= c->max_in_flight;
	uint64_t seq = 0;
	if (kind != VU_WAIT) {
		p->sending = true;
		p->deadline = deadline ? deadline : UINT64_MAX;
		p->buffered = post; /* its deadline starts when it leaves */
		if (!post)
			unwaited_link(c, p);
		if (kind == VU_NOWAIT) {
			p->seq = seq = ++c->post_seq;
			nowait_link(c, p);
		}
		/* nobody will wait for its reply: whoever reads next must */
		vu_reader_hand_over(c);
	}
	/*
	 * The synchronous fast path: a caller that will wait takes the free
	 * reader role now, and after sending reads its reply with one blocking
	 * read (bounded by SO_RCVTIMEO, the message timeout) that returns with
	 * mu held: no other thread is woken, no lock is taken twice.
	 */
	bool reader = kind == VU_WAIT && c->blocking && !vu_client_reader_owns_twin(c) &&
		      vu_reader_acquire(c);
	if (reader) /* it leaves the role if it must wait to send (send_begin) */
		__atomic_store_n(&c->fast, vu_reader_self(), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->mu);

	struct uvfio_hdr h = { .msg_id = p->id, .cmd = cmd, .flags = UVFIO_FLAGS_TYPE_COMMAND };
	bool some;
	r = post ? vu_post(c, p->id, seq, filled, &h, iov, iovcnt, &some)
		 : vu_client_send(c, c->sock, &h, iov, iovcnt, fds, nfds, &some);
	bool locked = false;
	if (reader) {
		__atomic_store_n(&c->fast, NULL, __ATOMIC_RELAXED);
		reader = __atomic_load_n(&c->reader, __ATOMIC_RELAXED) == vu_reader_self();
	}
	if (reader && r == 0) {
		struct wait_target t = { .p = p };
		int pr = vu_reader_turn(c, &t, VU_TURN_MAIN | VU_TURN_BLOCK, -1, &locked);
		if (!locked)
			pthread_mutex_lock(&c->mu);
		if (pr < 0)
			vu_client_set_dead(c, pr);
	} else {
		pthread_mutex_lock(&c->mu);
	}
	if (r < 0) {
		if (reader)
			vu_reader_release(c);
		r = send_failed(c, p, r, some);
		pthread_mutex_unlock(&c->mu);
		return r;
	}
	if (kind != VU_WAIT) {
		p->sending = false;
		if (p->done)
			finish(c, p);
		else
			timer_arm(c);
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	return collect(c, p, deadline, reader, reply);
}

int vu_client_send_reqs(struct uvfio_client *c, uint16_t cmd, const struct vu_piece *pc,
			unsigned n, struct vu_req *rq, bool wait)
{
	struct {
		struct uvfio_hdr h;
		uint8_t req[16]; /* a request's fixed part follows its header */
	} m[VU_BATCH_MAX];
	struct iovec iov[2 * VU_BATCH_MAX];
	if (n > VU_BATCH_MAX)
		n = VU_BATCH_MAX;
	uint64_t now, deadline = deadline_of(c, &now);
	pthread_mutex_lock(&c->mu);
	unsigned k = 0;
	int r = 0;
	for (; k < n; k++) {
		struct vu_pending *p;
		/* Waits for room only for the first: then it sends what it has. */
		if ((k || !wait) && c->in_flight >= c->max_in_flight)
			break;
		if ((r = req_alloc(c, cmd, VU_WAIT, deadline, now, &p)) < 0)
			break;
		p->sink = pc[k].sink;
		p->sink_len = pc[k].sink_len;
		p->owner = vu_reader_self();
		rq[k].p = p;
		rq[k].deadline = deadline;
	}
	pthread_mutex_unlock(&c->mu);
	if (!k)
		return r;
	int ni = 0;
	for (unsigned i = 0; i < k; i++) {
		size_t fixed = VU_MIN(pc[i].req_len, sizeof(m[i].req));
		m[i].h = (struct uvfio_hdr){
			.msg_id = rq[i].p->id, .cmd = cmd, .flags = UVFIO_FLAGS_TYPE_COMMAND,
			.msg_size = (uint32_t)(UVFIO_HDR_SIZE + fixed + pc[i].data_len)
		};
		memcpy(m[i].req, pc[i].req, fixed);
		iov[ni++] = (struct iovec){ &m[i], UVFIO_HDR_SIZE + fixed };
		if (pc[i].data_len)
			iov[ni++] = (struct iovec){ (void *)pc[i].data, pc[i].data_len };
	}
	bool some;
	r = vu_client_send(c, c->sock, NULL, iov, ni, NULL, 0, &some);
	if (r < 0) {
		pthread_mutex_lock(&c->mu);
		for (unsigned i = 0; i < k; i++)
			r = send_failed(c, rq[i].p, r, some);
		pthread_mutex_unlock(&c->mu);
		return r;
	}
	for (unsigned i = 0; i < k; i++)
		vu_trace_hdr(&c->log, "->", &m[i].h, 0);
	return (int)k;
}

int vu_client_collect(struct uvfio_client *c, struct vu_req *rq, struct vu_msg **reply)
{
	*reply = NULL;
	pthread_mutex_lock(&c->mu);
	return collect(c, rq->p, rq->deadline, false, reply);
}

/* ---- The send buffer's requests ------------------------------------------------------ */

void vu_client_sent(struct uvfio_client *c, const uint16_t *ids, unsigned n)
{
	uint64_t now, deadline = deadline_of(c, &now);
	bool linked = false;
	for (unsigned i = 0; i < n; i++) {
		struct vu_pending *p = pending_find(c, ids[i]);
		if (!p || !p->buffered)
			continue; /* answered already (and freed, or finishing) */
		p->buffered = false;
		p->deadline = deadline ? deadline : UINT64_MAX;
		unwaited_link(c, p);
		linked = true;
	}
	timer_arm(c);
	/* Replies nobody waits for will come: whoever reads next must (the
	 * service thread watches the main socket only while there are such,
	 * with the twin socket). */
	if (linked)
		vu_reader_hand_over(c);
}

void vu_client_unsent(struct uvfio_client *c, const uint16_t *ids, unsigned n, int err)
{
	for (unsigned i = 0; i < n; i++) {
		struct vu_pending *p = pending_find(c, ids[i]);
		if (!p || p->done)
			continue;
		p->done = true;
		p->result = err;
		if (!p->sending) /* else its sender finishes it */
			finish(c, p);
	}
}

/* ---- Replies received into the caller's buffer ------------------------------------- */

/*
 * The receive sink of the main socket (see struct vu_rx): the data of a
 * REGION_READ reply of the size asked for lands straight in the buffer of
 * the request it answers, when the thread reading is the one that asked
 * (so the buffer is alive: its owner is here, not gone after a timeout).
 */
static uint8_t *reply_sink(void *arg, const struct uvfio_hdr *h, size_t *keep)
{
	struct uvfio_client *c = arg;
	if ((h->flags & (UVFIO_FLAGS_TYPE_MASK | UVFIO_FLAGS_ERROR)) != UVFIO_FLAGS_TYPE_REPLY ||
	    h->cmd != UVFIO_CMD_REGION_READ)
		return NULL;
	uint8_t *dst = NULL;
	pthread_mutex_lock(&c->mu);
	struct vu_pending *p = pending_find(c, h->msg_id);
	if (p && p->sink && !p->done && p->owner == __atomic_load_n(&c->reader, __ATOMIC_RELAXED) &&
	    h->msg_size == UVFIO_HDR_SIZE + sizeof(struct uvfio_region_access) + p->sink_len)
		dst = p->sink;
	pthread_mutex_unlock(&c->mu);
	*keep = sizeof(struct uvfio_region_access);
	return dst;
}

/*
 * The guess of the main socket (see struct vu_rx): servers answer in order,
 * so the next reply is most likely the one to the request after the last
 * one answered: a REGION_READ reply of the size its sink takes. Whether its
 * data may land in the caller's buffer is reply_sink()'s to decide, given
 * this header (the buffer is its owner's, who is reading: a wrong guess may
 * scribble on it until its own reply arrives).
 */
static bool reply_guess(void *arg, uint16_t last_id, bool have_last, struct uvfio_hdr *h)
{
	struct uvfio_client *c = arg;
	if (!have_last)
		return false;
	uint16_t id = (uint16_t)(last_id + 1);
	pthread_mutex_lock(&c->mu);
	struct vu_pending *p = pending_find(c, id);
	size_t len = p && p->sink ? p->sink_len : SIZE_MAX;
	pthread_mutex_unlock(&c->mu);
	if (len == SIZE_MAX)
		return false;
	*h = (struct uvfio_hdr){ .msg_id = id,
				 .cmd = UVFIO_CMD_REGION_READ,
				 .msg_size = (uint32_t)(UVFIO_HDR_SIZE +
							sizeof(struct uvfio_region_access) + len),
				 .flags = UVFIO_FLAGS_TYPE_REPLY };
	return true;
}

void vu_client_sink_init(struct uvfio_client *c)
{
	c->rx.sink = reply_sink;
	c->rx.guess = reply_guess;
	c->rx.sink_arg = c;
}

void vu_client_unsink(struct uvfio_client *c)
{
	if (!c->rx.big || !c->rx.big->ext)
		return;
	int r = vu_rx_unsink(&c->rx);
	vu_client_sink_init(c);
	if (r < 0)
		vu_client_set_dead(c, r);
}

/* ---- Flush of posted writes --------------------------------------------------------- */

int uvfio_client_flush(struct uvfio_client *c)
{
	if (!c)
		return -EINVAL;
	/* The writes posted before this call: the buffer leaves now, and one
	 * of them that enters it after that (its thread took its place in the
	 * order before this call, its bytes are not in yet) leaves at once.
	 * Those that cannot leave fail with the error the wait reports. */
	pthread_mutex_lock(&c->mu);
	struct wait_target t = { .flush_seq = c->post_seq };
	if (t.flush_seq > c->post.flush_seq)
		__atomic_store_n(&c->post.flush_seq, t.flush_seq, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&c->mu);
	vu_post_push(c);
	int r;
	struct vu_waiter w;
	vu_waiter_init(&w, true);
	uint64_t now, deadline = deadline_of(c, &now);
	pthread_mutex_lock(&c->mu);
	vu_client_tick(c, now);
	r = c->dead ? c->dead : vu_client_wait(c, &w, &t, deadline, now, false);
	if (r == 0) {
		r = c->post_error;
		c->post_error = 0;
	}
	pthread_mutex_unlock(&c->mu);
	vu_waiter_fini(&w);
	return r;
}
