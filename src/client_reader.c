/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * client_reader.c — the reader role: how every thread of a client reads.
 *
 * At most one thread reads the main socket at a time: the holder of the
 * reader role (the twin socket belongs to the service thread when there is
 * one, else to the role too). Whoever reads — a caller waiting for its reply,
 * a caller whose send is blocked, uvfio_client_dispatch(), the service
 * thread — does it through vu_reader_turn(), the same way: deliver every
 * complete message already buffered, then read, then deliver what came;
 * and leaves the role through vu_reader_release(), which hands it over. So a
 * message in the buffer is always delivered before anyone blocks.
 *
 * A thread holding a send lock cannot answer a server request (the answer
 * needs that lock): what it reads meanwhile is deferred, and delivered, in
 * order, by the same thread once its send is over (it keeps the role until
 * then).
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"

/* Its address tells this thread apart from others, in tokens such as
 * c->reader: a thread can hold the roles of several clients at once. */
static VU_TLS char tls_self;
#define SELF ((const void *)&tls_self)

const void *vu_reader_self(void)
{
	return SELF;
}

static bool is_me(const void *const *who)
{
	return __atomic_load_n(who, __ATOMIC_RELAXED) == SELF;
}

/* Does this thread read socket i (0: main, 1: twin) now? */
static bool owns(struct uvfio_client *c, int i)
{
	if (i == 1 && c->has_thread)
		return is_me(&c->service);
	return is_me(&c->reader);
}

static bool sending(struct uvfio_client *c)
{
	return is_me(&c->sender[0]) || is_me(&c->sender[1]);
}

/* ---- Waking ------------------------------------------------------------------- */

/* Move the service thread (or an event loop, through poll_fd) to look. mu
 * held; one write until the reader of wakefd has read it. */
void vu_client_kick(struct uvfio_client *c)
{
	if (c->kicked || c->wakefd < 0)
		return;
	uint64_t one = 1;
	if (write(c->wakefd, &one, sizeof(one)) == (ssize_t)sizeof(one) || errno == EAGAIN)
		c->kicked = true;
	else
		vu_warn(&c->log, "cannot wake the client's reader: %s", uvfio_strerror(-errno));
}

/* Waiters of flush and of room: any completion may be theirs. mu held. */
void vu_client_wake_any(struct uvfio_client *c)
{
	if (!c->nany)
		return;
	/* Room freed by a thread that does not read (a collector, a sender):
	 * the reader waiting for it in poll() must look. */
	uint64_t one = 1;
	if (c->room_reading && write(c->roomfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vu_warn(&c->log, "cannot wake the reader waiting for room");
	for (struct vu_waiter *w = c->waiters; w; w = w->next)
		if (w->any)
			pthread_cond_signal(&w->cv);
}

/* ---- The role ---------------------------------------------------------------------- */

/* Take the role if it is free. mu held. */
bool vu_reader_acquire(struct uvfio_client *c)
{
	if (c->reader || c->dead)
		return false;
	__atomic_store_n(&c->reader, SELF, __ATOMIC_RELAXED);
	c->thread_reading = is_me(&c->service);
	return true;
}

/* The role is free: make sure that whoever should read next does. mu held. */
void vu_reader_hand_over(struct uvfio_client *c)
{
	if (c->dead || c->reader)
		return;
	if (c->waiters) {
		/* A thread asleep for its reply (or flush, room) reads next. */
		pthread_cond_signal(&c->waiters->cv);
	} else if (c->has_thread) {
		/* With a twin socket the main one carries replies only: the
		 * service thread watches it only for those nobody waits for. */
		if (!is_me(&c->service) && (c->twin < 0 || c->unwaited))
			vu_client_kick(c);
	} else if (vu_rx_ready(&c->rx) || (c->twin >= 0 && vu_rx_ready(&c->twin_rx)) ||
		   c->deferred[0] || c->deferred[1]) {
		/* Input in the socket makes poll_fd readable; input already
		 * buffered must too. (Every turn delivers it all: a safety net.) */
		vu_client_kick(c);
	}
}

/* Leave the role and hand it over. mu held. A reply partly received into
 * this thread's buffer goes on in a record of its own: the next reader is
 * another thread. */
void vu_reader_release(struct uvfio_client *c)
{
	if (c->rx.big && c->rx.big->ext)
		vu_client_unsink(c);
	__atomic_store_n(&c->reader, NULL, __ATOMIC_RELAXED);
	c->thread_reading = false;
	vu_reader_hand_over(c);
}

/* ---- Delivering ------------------------------------------------------------------------ */

static void defer(struct uvfio_client *c, int i, struct vu_msg *m)
{
	m->next = NULL;
	m->on_twin = i == 1;
	if (c->deferred_tail[i])
		c->deferred_tail[i]->next = m;
	else
		c->deferred[i] = m;
	c->deferred_tail[i] = m;
}

static struct vu_msg *undefer(struct uvfio_client *c, int i)
{
	struct vu_msg *m = c->deferred[i];
	if (!(c->deferred[i] = m->next))
		c->deferred_tail[i] = NULL;
	return m;
}

static void answer(struct uvfio_client *c, struct vu_msg *m);

/*
 * Deliver from socket i, which this thread reads: first what was deferred,
 * then every complete message buffered, then, with rd, what the socket has
 * (with block, the first read may wait; SO_RCVTIMEO bounds it). Reading stops
 * once t is done (*stop); delivering does not. With locked, returns with mu
 * held (*locked set) when t is done and nothing else is buffered. Returns
 * messages delivered, or a fatal negative errno.
 */
static int pump(struct uvfio_client *c, int i, const struct wait_target *t, bool rd, bool block,
		bool *locked, bool *stop)
{
	int sock = i ? c->twin : c->sock;
	struct vu_rx *rx = i ? &c->twin_rx : &c->rx;
	bool hold = sending(c); /* deliver once the send is over */
	bool did_read = false;
	int n = 0;
	for (;;) {
		struct vu_msg *m;
		if (!hold && c->deferred[i]) {
			m = undefer(c, i);
		} else {
			bool ready = vu_rx_ready(rx);
			if (!ready && (!rd || *stop || (did_read && rx->drained)))
				return n;
			int r = vu_rx_read_ex(sock, rx, &m, block && !ready);
			did_read |= !ready;
			block = false;
			if (r <= 0)
				return r < 0 ? r : n;
			vu_trace_hdr(&c->log, "<-", &m->hdr, m->nfds);
			if (hold) {
				defer(c, i, m);
				continue;
			}
		}
		n++;
		if ((m->hdr.flags & UVFIO_FLAGS_TYPE_MASK) != UVFIO_FLAGS_TYPE_REPLY) {
			c->delivering[i]++;
			if (i == 0)
				answer(c, m);
			else /* only this thread sends on the twin socket */
				vu_client_handle_request(c, sock, m);
			c->delivering[i]--;
			continue;
		}
		if (i == 1) { /* only server requests travel on the twin socket */
			vu_msg_free(m);
			return -EPROTO;
		}
		c->delivering[0]++;
		pthread_mutex_lock(&c->mu);
		vu_client_complete(c, m);
		c->delivering[0]--;
		*stop = *stop || (t && vu_client_target_done(c, t));
		if (*stop && locked && !c->deferred[0] && !vu_rx_ready(rx)) {
			*locked = true;
			return n;
		}
		pthread_mutex_unlock(&c->mu);
	}
}

/*
 * One turn of a reader; the caller holds what `how` says it reads, mu not
 * held. First every complete message already here is delivered; then, unless
 * t is done, it waits for input — one blocking read of the main socket
 * (VU_TURN_BLOCK), or poll() for up to timeout_ms (-1: no limit) — and
 * delivers what came. Returns messages delivered, or a fatal negative errno;
 * see pump() for locked (VU_TURN_BLOCK only).
 */
int vu_reader_turn(struct uvfio_client *c, const struct wait_target *t, unsigned how,
		   int timeout_ms, bool *locked)
{
	bool stop = false, main_ = how & VU_TURN_MAIN, twin = how & VU_TURN_TWIN;
	bool *lk = how & VU_TURN_BLOCK ? locked : NULL;
	int n = 0, r;
	if (twin && (c->deferred[1] || vu_rx_ready(&c->twin_rx))) {
		if ((r = pump(c, 1, t, false, false, NULL, &stop)) < 0)
			return r;
		n += r;
	}
	if (main_ && (c->deferred[0] || vu_rx_ready(&c->rx))) {
		if ((r = pump(c, 0, t, false, false, lk, &stop)) < 0)
			return r;
		n += r;
	}
	if (stop)
		return n;
	bool wake = how & VU_TURN_WAKE;
	/* Polling mode: spin before the wait (it then finds the input there).
	 * The spin is the main socket's reader's: a service thread reading
	 * only the twin socket meanwhile does not spin. */
	const int spin_fds[3] = { c->sock, twin ? c->twin : -1, wake ? c->wakefd : -1 };
	if (timeout_ms && main_)
		vu_spin_wait(&c->spin, spin_fds, 3);
	if (how & VU_TURN_BLOCK) {
		r = pump(c, 0, t, true, true, lk, &stop);
		vu_spin_woke(&c->spin);
		return r < 0 ? r : n + r;
	}
	struct pollfd pf[6] = {
		{ .fd = main_ ? c->sock : -1, .events = POLLIN },
		{ .fd = twin ? c->twin : -1, .events = POLLIN },
		{ .fd = wake ? c->wakefd : -1, .events = POLLIN },
		{ .fd = wake ? c->timerfd : -1, .events = POLLIN }, /* read by vu_client_tick */
		{ .fd = wake ? c->post.timer : -1, .events = POLLIN },
		{ .fd = how & VU_TURN_ROOM ? c->roomfd : -1, .events = POLLIN },
	};
	int pr = poll(pf, 6, timeout_ms);
	if (main_)
		vu_spin_woke(&c->spin);
	if (pr < 0)
		return errno == EINTR ? n : -errno;
	if (pf[4].revents & POLLIN)
		vu_post_due(c); /* posted writes waited their delay */
	if (pf[2].revents & POLLIN) {
		uint64_t v;
		if (read(c->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return -errno;
	}
	if (pf[5].revents & POLLIN) {
		uint64_t v;
		if (read(c->roomfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return -errno;
	}
	if (pf[1].revents) {
		if ((r = pump(c, 1, t, true, false, NULL, &stop)) < 0)
			return r;
		n += r;
	}
	if (pf[0].revents) {
		if ((r = pump(c, 0, t, true, false, NULL, &stop)) < 0)
			return r;
		n += r;
	}
	return n;
}

/* ---- Waiting --------------------------------------------------------------------------- */

/*
 * A waiter sleeps on its condition variable only while another thread holds
 * the reader role; on the synchronous path it never does, so the variable is
 * made (and the waiter linked where others signal it) only then.
 */
void vu_waiter_init(struct vu_waiter *w, bool any)
{
	w->next = w->prev = NULL;
	w->any = any;
	w->linked = false;
}

void vu_waiter_fini(struct vu_waiter *w)
{
	if (w->linked)
		pthread_cond_destroy(&w->cv);
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
	w->prev = NULL;
	w->next = c->waiters;
	if (c->waiters)
		c->waiters->prev = w;
	c->waiters = w;
	w->linked = true;
	if (t->p)
		t->p->waiter = w;
}

static void waiter_unlink(struct uvfio_client *c, struct vu_waiter *w, const struct wait_target *t)
{
	if (!w->linked)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		c->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	if (t->p)
		t->p->waiter = NULL;
}

static void sleep_until(struct uvfio_client *c, struct vu_waiter *w, uint64_t until, uint64_t now)
{
	if (!until) {
		pthread_cond_wait(&w->cv, &c->mu);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t left = until - now;
	ts.tv_sec += (time_t)(left / 1000);
	ts.tv_nsec += (long)(left % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&w->cv, &c->mu, &ts);
}

/*
 * Wait until t is done, the connection dies or the deadline (0: none)
 * passes; now is the time the deadline was taken (0: unknown). The thread
 * reads itself whenever the role is free (have_role: it already holds it),
 * keeps the role until it leaves, and enforces the deadlines of requests
 * nobody waits for meanwhile. mu held on entry and exit. Returns 0,
 * -ETIMEDOUT or the fatal errno.
 */
int vu_client_wait(struct uvfio_client *c, struct vu_waiter *w, const struct wait_target *t,
		   uint64_t deadline, uint64_t now, bool have_role)
{
	int r = 0;
	/* Called inside a delivery (a callback making a call), the thread
	 * holds the role already, for the delivery that goes on afterwards. */
	bool outer = !have_role && is_me(&c->reader);
	bool role = have_role || outer;
	c->nwaiting++;
	c->nany += w->any;
	for (;;) {
		if (c->dead) { /* first: posted writes it failed are not done */
			r = c->dead;
			break;
		}
		if (vu_client_target_done(c, t))
			break;
		if (!now)
			now = vu_now_ms();
		if (vu_client_tick(c, now)) {
			now = 0; /* callbacks took time; t may be done */
			continue;
		}
		if (t->room && c->stalled) { /* no room will come: see abandon() */
			r = -EHOSTDOWN;
			break;
		}
		if (deadline && now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		/* Wake for the earliest deadline of a request nobody waits for. */
		uint64_t until = deadline, next = c->unwaited ? c->unwaited->deadline : UINT64_MAX;
		if (next != UINT64_MAX && (!until || next < until))
			until = next;
		if (role || (role = vu_reader_acquire(c))) {
			/* One blocking read when the whole limit is still ahead
			 * (SO_RCVTIMEO is the message timeout) and nothing else
			 * needs watching; else poll() until the time to wake. */
			/* The service thread owns the twin socket: waiting in a
			 * call from a callback, it goes on answering there (a
			 * server blocked writing a DMA request to it may be what
			 * this call waits for). */
			bool twin = vu_client_reader_owns_twin(c) ||
				    (c->twin >= 0 && is_me(&c->service));
			/* Room may come from a thread that does not read (one
			 * collecting its reply): roomfd wakes a poll() for it. */
			bool block = c->blocking && !twin && !t->room && until == deadline &&
				     (!deadline || deadline - now + 1 >= (uint64_t)c->timeout_ms);
			unsigned how = VU_TURN_MAIN | (twin ? VU_TURN_TWIN : 0) |
				       (block ? VU_TURN_BLOCK : 0) | (t->room ? VU_TURN_ROOM : 0);
			c->room_reading = t->room;
			pthread_mutex_unlock(&c->mu);
			int pr = vu_reader_turn(c, t, how, until ? (int)(until - now) : -1, NULL);
			pthread_mutex_lock(&c->mu);
			c->room_reading = false;
			now = 0;
			if (pr < 0)
				vu_client_set_dead(c, pr);
			continue;
		}
		waiter_sleep_ready(c, w, t);
		if (c->thread_reading)
			vu_client_kick(c); /* the service thread leaves poll() for us */
		sleep_until(c, w, until, now);
		now = 0;
	}
	c->nwaiting--;
	c->nany -= w->any;
	waiter_unlink(c, w, t);
	if (role && !outer)
		vu_reader_release(c);
	else
		vu_reader_hand_over(c); /* it may have been woken to read: pass that on */
	return r;
}

/* ---- Sending ----------------------------------------------------------------------- */

/*
 * The socket is full. The server may be blocked sending to us (replies to
 * earlier posted writes, DMA requests) and so not reading: read what it
 * sent, if this thread can, so that neither side waits for the other. What
 * is read now is delivered once the send is over.
 */
static int send_wait(void *arg, int sock, int timeout_ms)
{
	struct vu_send_ctx *s = arg;
	struct uvfio_client *c = s->c;
	/* pf[1]: the main socket (to read with the role), or the twin if this
	 * thread owns it */
	bool on_twin = c->twin >= 0 && sock == c->twin;
	int other = on_twin ? c->sock : (c->twin >= 0 && owns(c, 1) ? c->twin : -1);
	struct pollfd pf[2] = {
		{ .fd = sock, .events = POLLOUT | POLLIN },
		{ .fd = other, .events = POLLIN },
	};
	int r = poll(pf, 2, timeout_ms);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (pf[0].revents & POLLOUT)
		return 0;
	if (pf[0].revents & (POLLERR | POLLHUP))
		return -ECONNRESET;
	pthread_mutex_lock(&c->mu);
	r = c->dead;
	bool role = !r && (is_me(&c->reader) || (s->took = s->took || vu_reader_acquire(c)));
	pthread_mutex_unlock(&c->mu);
	if (r)
		return r;
	bool main_in = (on_twin ? pf[1].revents : pf[0].revents) & POLLIN;
	bool twin_in = (on_twin ? pf[0].revents : pf[1].revents) & POLLIN;
	unsigned how = (role && main_in ? VU_TURN_MAIN : 0) |
		       (twin_in && owns(c, 1) ? VU_TURN_TWIN : 0);
	if (!how) {
		/* Another thread reads what came; wait for room only. */
		struct pollfd p = { .fd = sock, .events = POLLOUT };
		int to = timeout_ms < 0 ? 100 : VU_MIN(timeout_ms, 100);
		return poll(&p, 1, to) < 0 && errno != EINTR ? -errno : 0;
	}
	r = vu_reader_turn(c, NULL, how, 0, NULL);
	if (r < 0) {
		pthread_mutex_lock(&c->mu);
		vu_client_set_dead(c, r);
		r = c->dead;
		pthread_mutex_unlock(&c->mu);
	}
	return r < 0 ? r : 0;
}

/* Deliver what this thread deferred while sending, unless it is inside a
 * delivery already (which goes on with them, in order). */
static void deliver_deferred(struct uvfio_client *c)
{
	for (int i = 0; i < 2; i++) {
		if (!owns(c, i) || !c->deferred[i] || c->delivering[i])
			continue;
		bool stop = false;
		int r = pump(c, i, NULL, false, false, NULL, &stop);
		if (r < 0) {
			pthread_mutex_lock(&c->mu);
			vu_client_set_dead(c, r);
			pthread_mutex_unlock(&c->mu);
		}
	}
}

void vu_client_send_begin(struct uvfio_client *c, int i, struct vu_send_ctx *s)
{
	s->c = c;
	s->took = false;
	pthread_mutex_t *m = i ? &c->twin_send_mu : &c->send_mu;
	if (pthread_mutex_trylock(m) != 0) {
		/* The thread sending may need to read while it waits for room
		 * (a server blocked writing to us reads nothing): a role taken
		 * for this thread's own reply is left meanwhile, not held
		 * asleep on the lock. */
		if (is_me(&c->fast)) {
			pthread_mutex_lock(&c->mu);
			__atomic_store_n(&c->fast, NULL, __ATOMIC_RELAXED);
			vu_reader_release(c);
			pthread_mutex_unlock(&c->mu);
		}
		pthread_mutex_lock(m);
	}
	__atomic_store_n(&c->sender[i], SELF, __ATOMIC_RELAXED);
}

int vu_client_send_locked(struct uvfio_client *c, struct vu_send_ctx *s, int sock,
			  struct uvfio_hdr *hdr, const struct iovec *iov, int iovcnt,
			  const int *fds, unsigned nfds, bool *some)
{
	int r = vu_send_ex(sock, hdr, iov, iovcnt, fds, nfds,
			   __atomic_load_n(&c->timeout_ms, __ATOMIC_RELAXED), some, 0, send_wait, s);
	if (r == 0 && hdr) /* without one, iov is whole messages: the caller traces */
		vu_trace_hdr(&c->log, "->", hdr, nfds);
	return r;
}

/* Leave the send lock: deliver what was read meanwhile, leave the reader
 * role if the send took it. */
static void send_release(struct uvfio_client *c, int i, struct vu_send_ctx *s)
{
	__atomic_store_n(&c->sender[i], NULL, __ATOMIC_RELAXED);
	pthread_mutex_unlock(i ? &c->twin_send_mu : &c->send_mu);
	deliver_deferred(c);
	if (s->took) {
		pthread_mutex_lock(&c->mu);
		vu_reader_release(c);
		pthread_mutex_unlock(&c->mu);
	}
}

/* ---- Answering the server -------------------------------------------------------------- */

/*
 * A server request read on the main socket is answered by the thread that
 * read it when the send lock is free. When it is not, another thread's send
 * may be waiting for a server that is itself blocked writing to us: the
 * request is queued, in order (those after it join the queue), the reader
 * goes on reading, and whoever leaves the send lock answers the queue.
 */

/* With the send lock (answering set): answer the queue until it is empty. */
static void answer_queue(struct uvfio_client *c)
{
	for (;;) {
		pthread_mutex_lock(&c->mu);
		struct vu_msg *m = c->answers;
		if (m) {
			if (!(c->answers = m->next))
				c->answers_tail = NULL;
			__atomic_store_n(&c->nanswers, c->nanswers - 1, __ATOMIC_RELAXED);
		} else {
			c->answering = false;
		}
		pthread_mutex_unlock(&c->mu);
		if (!m)
			return;
		m->next = NULL;
		vu_client_handle_request(c, c->sock, m);
	}
}

/* Queue m (if not NULL), then answer the queue if the send lock is free
 * and nobody answers it. Returns whether this thread answered. */
static bool answer_try(struct uvfio_client *c, struct vu_msg *m)
{
	pthread_mutex_lock(&c->mu);
	if (m) {
		m->next = NULL;
		if (c->answers_tail)
			c->answers_tail->next = m;
		else
			c->answers = m;
		c->answers_tail = m;
		__atomic_store_n(&c->nanswers, c->nanswers + 1, __ATOMIC_RELAXED);
	}
	bool go = c->answers && !c->answering && pthread_mutex_trylock(&c->send_mu) == 0;
	if (go)
		c->answering = true;
	pthread_mutex_unlock(&c->mu);
	if (!go)
		return false;
	struct vu_send_ctx s = { c, false };
	__atomic_store_n(&c->sender[0], SELF, __ATOMIC_RELAXED);
	c->answer_ctx = &s;
	answer_queue(c);
	c->answer_ctx = NULL;
	send_release(c, 0, &s);
	return true;
}

static void answer(struct uvfio_client *c, struct vu_msg *m)
{
	/* Answered requests leave the lock free: what was queued meanwhile
	 * (by this thread, the one reader) is answered too. */
	if (answer_try(c, m))
		while (__atomic_load_n(&c->nanswers, __ATOMIC_RELAXED) && answer_try(c, NULL))
			;
}

void vu_client_send_end(struct uvfio_client *c, int i, struct vu_send_ctx *s)
{
	send_release(c, i, s);
	/* The reader may have queued server requests while this thread held
	 * the lock: answer them. */
	while (!i && __atomic_load_n(&c->nanswers, __ATOMIC_RELAXED) && answer_try(c, NULL))
		;
}

/* Send one message on sock (main or twin); *some tells whether any byte
 * went out. On the main socket, posted writes waiting in the send buffer
 * go first. */
int vu_client_send(struct uvfio_client *c, int sock, struct uvfio_hdr *hdr,
		   const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds, bool *some)
{
	int i = c->twin >= 0 && sock == c->twin;
	struct vu_send_ctx s, *sp = &s;
	/* Answering the queue of server requests, this thread holds the lock. */
	bool held = !i && is_me(&c->sender[0]);
	if (held)
		sp = c->answer_ctx;
	else
		vu_client_send_begin(c, i, &s);
	int r = !i && (c->post.len || c->post.npend)
			? vu_post_send(c, sp, hdr, iov, iovcnt, fds, nfds, some)
			: vu_client_send_locked(c, sp, sock, hdr, iov, iovcnt, fds, nfds, some);
	if (!held)
		vu_client_send_end(c, i, &s);
	return r;
}

/* ---- The service thread ---------------------------------------------------------------- */

/*
 * The service thread owns the twin socket, if any, outright; it reads the
 * main socket whenever no application thread waits and something may come
 * there that nobody waits for; and it enforces deadlines (timerfd). It
 * sleeps only in poll(), which the library's wakefd interrupts.
 */
void vu_client_service_loop(struct uvfio_client *c)
{
	__atomic_store_n(&c->service, SELF, __ATOMIC_RELAXED);
	pthread_mutex_lock(&c->mu);
	while (!c->dead) {
		c->kicked = false;
		vu_client_tick(c, vu_now_ms());
		bool take = !c->nwaiting && (c->twin < 0 || c->unwaited) && vu_reader_acquire(c);
		unsigned how = (take ? VU_TURN_MAIN : 0) | (c->twin >= 0 ? VU_TURN_TWIN : 0) |
			       VU_TURN_WAKE;
		pthread_mutex_unlock(&c->mu);
		int r = vu_reader_turn(c, NULL, how, -1, NULL);
		pthread_mutex_lock(&c->mu);
		if (take)
			vu_reader_release(c);
		if (r < 0)
			vu_client_set_dead(c, r);
	}
	pthread_mutex_unlock(&c->mu);
}
