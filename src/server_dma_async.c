/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_dma_async.c — asynchronous DMA for devices that serve from one
 * thread: a transfer starts from a callback and returns at once; the
 * serving loop moves it on as replies come and calls the device back.
 *
 * A transfer is a list of segments and one buffer. Each pass of the loop
 * (vu_srv_async_pump) finishes the requests the client answered, sends the
 * next pieces (at most ASYNC_WINDOW requests in flight per transfer, QEMU's
 * connection-wide DMA_READ slots respected), copies mapped pieces at once,
 * times out a transfer whose client has not answered within timeout_ms,
 * and calls back the finished transfers in the order they were started.
 * Requests are the same records the blocking path uses (server_dma_msg.c),
 * marked async: whoever reads their reply (this thread on the main socket,
 * or a thread holding the twin socket's reader role) completes them, and
 * kicks this thread when it is not this thread.
 *
 * A transfer cancelled while requests are in flight is called back at
 * once; it stays as an orphan, its requests keep their ids without a
 * buffer, until the client answers them (the answers are dropped) or they
 * time out.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include "internal.h"

#define ASYNC_WINDOW 4 /* requests in flight per transfer */
/* Mapped memory a transfer copies per pass of the loop: the client's
 * requests are answered between slices (a 64 MiB copy in one memcpy held
 * QEMU's vCPU for a third of a second). */
#define ASYNC_SLICE (256u << 10)

struct vu_aop {
	struct vu_aop *next;
	uvfio_dma_done_fn done;
	void *arg;
	uint8_t *buf;
	bool write, qemu_read;
	bool finished; /* result known, waits for its turn to be called back */
	int result;
	unsigned nseg, si; /* segments; the next byte to move is in seg[si] */
	uint64_t soff;     /* ... at this offset */
	uint64_t pos, total; /* of buf */
	uint64_t deadline;   /* for the requests in flight */
	uint64_t sliced;     /* mapped bytes copied in this pass */
	unsigned inflight;
	struct vu_dma_req req[ASYNC_WINDOW];
	struct uvfio_dma_seg seg[];
};

static void epoll_tag(struct uvfio_server *s, int op, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)fd };
	if (epoll_ctl(s->epfd, op, fd, &ev) < 0)
		vu_warn(&s->log, "epoll_ctl: %s", uvfio_strerror(-errno));
}

int vu_srv_async_init(struct uvfio_server *s)
{
	s->async_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->async_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->async_efd < 0 || s->async_tfd < 0)
		return -errno;
	epoll_tag(s, EPOLL_CTL_ADD, s->async_efd);
	epoll_tag(s, EPOLL_CTL_ADD, s->async_tfd);
	return 0;
}

static void op_free_list(struct vu_aop *op)
{
	while (op) {
		struct vu_aop *n = op->next;
		free(op);
		op = n;
	}
}

void vu_srv_async_free(struct uvfio_server *s)
{
	/* disconnect() left no transfer: only records */
	op_free_list(s->aops);
	op_free_list(s->aorphans);
	s->aops = s->aops_tail = s->aorphans = NULL;
	vu_close(&s->async_efd);
	vu_close(&s->async_tfd);
}

void vu_srv_async_kick(struct uvfio_server *s)
{
	uint64_t one = 1;
	if (write(s->async_efd, &one, sizeof(one)) < 0) {
		/* a full counter already says "look" */
	}
	/* after the write: whoever clears the flag finds the counter to drain */
	__atomic_store_n(&s->async_kicked, 1, __ATOMIC_SEQ_CST);
}

bool vu_srv_async_busy(const struct uvfio_server *s)
{
	return s->aops || s->aorphans;
}

bool vu_srv_async_ready(const struct uvfio_server *s)
{
	return s->aops && s->aops->finished;
}

static bool overlaps(const struct vu_aop *op, uint64_t iova, uint64_t size)
{
	uint64_t last = iova + (size - 1); /* size 0 is never asked */
	for (unsigned i = 0; i < op->nseg; i++) {
		uint64_t a = op->seg[i].iova, b = a + (op->seg[i].len - 1);
		if (a <= last && iova <= b)
			return true;
	}
	return false;
}

/* ---- Moving a transfer on ------------------------------------------------------------ */

/* Collect the answered requests of op (finishing them, or dropping an
 * orphan's answers); returns whether any was. */
static bool op_collect(struct uvfio_server *s, struct vu_aop *op, bool orphan)
{
	bool progress = false;
	for (unsigned k = 0; k < ASYNC_WINDOW; k++) {
		struct vu_dma_req *q = &op->req[k];
		pthread_mutex_lock(&s->dma_mu);
		bool done = q->state == VU_DMA_DONE;
		if (done && orphan) {
			vu_msg_free(q->reply);
			q->reply = NULL;
			q->state = VU_DMA_FREE;
		}
		pthread_mutex_unlock(&s->dma_mu);
		if (!done)
			continue;
		if (!orphan) {
			int r = vu_srv_dma_req_finish(s, q, op->result != 0);
			if (r < 0 && !op->result)
				op->result = r;
		}
		if (op->qemu_read) {
			pthread_mutex_lock(&s->dma_mu);
			vu_srv_dma_read_slot_put(s);
			pthread_mutex_unlock(&s->dma_mu);
		}
		op->inflight--;
		op->deadline = vu_now_ms() + (uint64_t)s->timeout_ms; /* progress */
		progress = true;
	}
	return progress;
}

static void op_advance(struct vu_aop *op, uint64_t n)
{
	op->pos += n;
	op->soff += n;
	if (op->soff == op->seg[op->si].len) {
		op->si++;
		op->soff = 0;
	}
}

/* Start what the window allows: mapped pieces are copied at once, the rest
 * goes out as requests. Returns whether anything moved. */
static bool op_start(struct uvfio_server *s, struct vu_aop *op)
{
	bool progress = false;
	unsigned window;
	bool qemu_read;
	uint64_t maxx = vu_srv_dma_limits(s, op->write, &window, &qemu_read);
	op->qemu_read = qemu_read;
	window = VU_MIN(window, ASYNC_WINDOW);
	while (!op->result && op->pos < op->total && op->inflight < window) {
		const struct uvfio_dma_seg *g = &op->seg[op->si];
		uint64_t mlen = 0;
		if (op->sliced >= ASYNC_SLICE) {
			s->async_more = true; /* the next pass goes on */
			break;
		}
		/* Each piece asks the Bus Master Enable check again (in its
		 * translation): a guest that clears the bit sees no DMA after it. */
		int64_t r = vu_srv_dma_step(s, g->iova + op->soff, op->buf + op->pos,
					    g->len - op->soff, ASYNC_SLICE - op->sliced, op->write,
					    &mlen);
		if (r < 0) {
			op->result = (int)r;
			break;
		}
		progress = true;
		if (r > 0) {
			op->sliced += (uint64_t)r;
			op_advance(op, (uint64_t)r);
			continue;
		}
		uint64_t n = VU_MIN(mlen, maxx);
		pthread_mutex_lock(&s->dma_mu);
		if (!s->dma_live) {
			pthread_mutex_unlock(&s->dma_mu);
			op->result = -ECONNRESET;
			break;
		}
		if (qemu_read && !vu_srv_dma_read_slot_get(s)) {
			/* another thread's reads hold them: it kicks us */
			s->async_slot_wait = true;
			pthread_mutex_unlock(&s->dma_mu);
			break;
		}
		pthread_mutex_unlock(&s->dma_mu);
		struct vu_dma_req *q = &op->req[0];
		while (q->state != VU_DMA_FREE)
			q++;
		*q = (struct vu_dma_req){ .cmd = op->write ? UVFIO_CMD_DMA_WRITE : UVFIO_CMD_DMA_READ,
					  .iova = g->iova + op->soff, .n = n,
					  .buf = op->buf + op->pos, .async = true };
		if (!op->inflight)
			op->deadline = vu_now_ms() + (uint64_t)s->timeout_ms;
		int e = vu_srv_dma_req_start(s, q);
		if (e < 0) {
			op->result = e;
			pthread_mutex_lock(&s->dma_mu);
			bool sent = q->state != VU_DMA_FREE; /* failed by the break: collected */
			if (!sent && qemu_read)
				vu_srv_dma_read_slot_put(s);
			pthread_mutex_unlock(&s->dma_mu);
			if (sent)
				op->inflight++;
			break;
		}
		op->inflight++;
		op_advance(op, n);
	}
	return progress;
}

/* The client has not answered within timeout_ms: give the requests up. */
static void op_expire(struct uvfio_server *s, struct vu_aop *op, uint64_t now, bool orphan)
{
	if (!op->inflight || now < op->deadline)
		return;
	pthread_mutex_lock(&s->dma_mu);
	for (unsigned k = 0; k < ASYNC_WINDOW; k++) {
		struct vu_dma_req *q = &op->req[k];
		if (q->state == VU_DMA_FREE)
			continue;
		vu_srv_dma_req_drop(s, q);
		if (op->qemu_read)
			vu_srv_dma_read_slot_put(s);
	}
	pthread_mutex_unlock(&s->dma_mu);
	op->inflight = 0;
	if (!orphan) {
		vu_warn(&s->log, "asynchronous DMA %s of %llu bytes: the client has not answered "
				 "for %d ms",
			op->write ? "write" : "read", (unsigned long long)op->total, s->timeout_ms);
		if (!op->result)
			op->result = -ETIMEDOUT;
	}
}

/* Move op on; whether anything changed. */
static bool op_step(struct uvfio_server *s, struct vu_aop *op, uint64_t now)
{
	if (op->finished)
		return false;
	bool progress = op_collect(s, op, false);
	op_expire(s, op, now, false);
	progress |= op_start(s, op);
	if (!op->inflight && (op->result || op->pos == op->total)) {
		op->finished = true;
		progress = true;
	}
	return progress;
}

static void call_back(struct uvfio_server *s, struct vu_aop *op, int result)
{
	vu_srv_cb_enter(s);
	op->done(op->arg, result);
	vu_srv_cb_leave(s);
}

/* Take the head of the list off, calling it back. */
static struct vu_aop *pop_head(struct uvfio_server *s)
{
	struct vu_aop *op = s->aops;
	s->aops = op->next;
	if (!s->aops)
		s->aops_tail = NULL;
	op->next = NULL;
	return op;
}

/* A called-back transfer: freed, or an orphan while requests are out. */
static void retire(struct uvfio_server *s, struct vu_aop *op)
{
	if (!op->inflight) {
		free(op);
		s->naops--;
		return;
	}
	pthread_mutex_lock(&s->dma_mu);
	for (unsigned k = 0; k < ASYNC_WINDOW; k++)
		if (op->req[k].state != VU_DMA_FREE)
			vu_srv_dma_req_orphan(s, &op->req[k]);
	pthread_mutex_unlock(&s->dma_mu);
	op->next = s->aorphans;
	s->aorphans = op;
}

/* Arm the timer for the earliest deadline of requests in flight. */
static void arm_timer(struct uvfio_server *s)
{
	uint64_t first = 0;
	for (int pass = 0; pass < 2; pass++)
		for (struct vu_aop *op = pass ? s->aorphans : s->aops; op; op = op->next)
			if (op->inflight && (!first || op->deadline < first))
				first = op->deadline;
	if (first == s->async_armed)
		return;
	struct itimerspec its = { 0 };
	if (first) {
		its.it_value.tv_sec = (time_t)(first / 1000);
		its.it_value.tv_nsec = (long)(first % 1000) * 1000000 + 1;
	}
	if (timerfd_settime(s->async_tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		s->async_armed = first;
}

/* Watch the twin socket while our requests travel on it. */
static void watch_twin(struct uvfio_server *s)
{
	bool want = false;
	if (s->twin >= 0 && s->dma_twin)
		for (int pass = 0; pass < 2 && !want; pass++)
			for (struct vu_aop *op = pass ? s->aorphans : s->aops; op && !want;
			     op = op->next)
				want = op->inflight != 0;
	if (want == s->twin_watched)
		return;
	epoll_tag(s, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, s->twin);
	s->twin_watched = want;
}

/* Clear a kick: the eventfd is level-triggered in the epoll set. */
static void drain_kick(struct uvfio_server *s)
{
	if (__atomic_load_n(&s->async_kicked, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(&s->async_kicked, 0, __ATOMIC_SEQ_CST)) {
		uint64_t v;
		if (read(s->async_efd, &v, sizeof(v)) < 0) {
			/* drained already */
		}
	}
}

int vu_srv_async_pump(struct uvfio_server *s)
{
	drain_kick(s);
	if (!vu_srv_async_busy(s))
		return 0;
	/* A disconnect a callback causes waits until the lists are left
	 * consistent (see vu_srv_cb_enter). */
	vu_srv_cb_enter(s);
	if (s->twin_watched)
		vu_srv_dma_twin_poll(s);
	pthread_mutex_lock(&s->dma_mu);
	s->async_slot_wait = false; /* op_start() says again if one still waits */
	pthread_mutex_unlock(&s->dma_mu);
	uint64_t now = vu_now_ms();
	int called = 0;
	bool progress = true;
	s->async_more = false;
	for (struct vu_aop *op = s->aops; op; op = op->next)
		op->sliced = 0;
	while (progress) {
		progress = false;
		for (struct vu_aop **pp = &s->aorphans; *pp;) {
			struct vu_aop *op = *pp;
			op_collect(s, op, true);
			op_expire(s, op, now, true);
			if (!op->inflight) {
				*pp = op->next;
				free(op);
				s->naops--;
			} else {
				pp = &op->next;
			}
		}
		for (struct vu_aop *op = s->aops; op; op = op->next)
			progress |= op_step(s, op, now);
		/* In the order they were started; a callback may start more. */
		while (s->aops && s->aops->finished) {
			struct vu_aop *op = pop_head(s);
			call_back(s, op, op->result);
			retire(s, op);
			called++;
			progress = true;
		}
	}
	arm_timer(s);
	watch_twin(s);
	if (s->async_more) /* a slice is left for the next pass */
		vu_srv_async_kick(s);
	vu_srv_cb_leave(s);
	return called;
}

/* ---- Cancelling ---------------------------------------------------------------------- */

/* Call back, in order, with err every transfer not finished (all), or
 * every one not finished that touches [iova, iova+size); with all, the
 * finished ones too, with their own result. */
static void cancel(struct uvfio_server *s, int err, uint64_t iova, uint64_t size, bool all)
{
	/* Callbacks may start transfers: those go after the ones kept. */
	struct vu_aop *list = s->aops, *keep = NULL, **kt = &keep;
	s->aops = s->aops_tail = NULL;
	while (list) {
		struct vu_aop *op = list;
		list = op->next;
		op->next = NULL;
		if (!all && (op->finished || !overlaps(op, iova, size))) {
			*kt = op;
			kt = &op->next;
			continue;
		}
		call_back(s, op, op->finished ? op->result : err);
		retire(s, op);
	}
	*kt = s->aops;
	s->aops = keep;
	s->aops_tail = NULL;
	for (struct vu_aop *op = s->aops; op; op = op->next)
		s->aops_tail = op;
	arm_timer(s);
	watch_twin(s);
}

void vu_srv_async_cancel_all(struct uvfio_server *s, int err)
{
	if (s->aops)
		cancel(s, err, 0, 0, true);
}

void vu_srv_async_cancel_range(struct uvfio_server *s, uint64_t iova, uint64_t size)
{
	if (s->aops && size)
		cancel(s, -ECANCELED, iova, size, false);
}

void vu_srv_async_conn_end(struct uvfio_server *s)
{
	vu_srv_async_cancel_all(s, -ECONNRESET);
	/* vu_srv_dma_conn_end() failed every request: the orphans go */
	for (struct vu_aop *op = s->aorphans; op;) {
		struct vu_aop *n = op->next;
		pthread_mutex_lock(&s->dma_mu);
		for (unsigned k = 0; k < ASYNC_WINDOW; k++)
			vu_srv_dma_req_drop(s, &op->req[k]);
		pthread_mutex_unlock(&s->dma_mu);
		free(op);
		s->naops--;
		op = n;
	}
	s->aorphans = NULL;
	if (s->twin_watched && s->twin >= 0)
		epoll_tag(s, EPOLL_CTL_DEL, s->twin);
	s->twin_watched = false;
	arm_timer(s);
	pthread_mutex_lock(&s->dma_mu);
	s->async_slot_wait = false;
	pthread_mutex_unlock(&s->dma_mu);
	/* Failing our requests kicked: no loop pass without a client would
	 * clear it, and the poll fd would stay readable. */
	drain_kick(s);
}

/* ---- Starting ------------------------------------------------------------------------ */

int uvfio_server_dma_sg_async(struct uvfio_server *s, const struct uvfio_dma_seg *seg,
			      unsigned nseg, void *buf, bool write, uvfio_dma_done_fn done,
			      void *arg)
{
	if (!s || !done || !seg || !nseg || !buf)
		return -EINVAL;
	if (nseg > UVFIO_SERVER_DMA_ASYNC_SEGS)
		return -E2BIG;
	uint64_t total = 0;
	for (unsigned i = 0; i < nseg; i++) {
		const struct uvfio_dma_seg *g = &seg[i];
		if (!g->len || g->iova + g->len < g->iova || total + g->len < total ||
		    total + g->len > SIZE_MAX)
			return -EINVAL;
		total += g->len;
	}
	if (!vu_srv_is_driver(s))
		return -EPERM;
	pthread_mutex_lock(&s->dma_mu);
	bool live = s->dma_live;
	pthread_mutex_unlock(&s->dma_mu);
	if (!live)
		return -ENOTCONN;
	if (s->naops >= UVFIO_SERVER_DMA_ASYNC_MAX)
		return -EAGAIN;
	struct vu_aop *op = calloc(1, sizeof(*op) + nseg * sizeof(op->seg[0]));
	if (!op)
		return -ENOMEM;
	*op = (struct vu_aop){ .done = done, .arg = arg, .buf = buf, .write = write,
			       .nseg = nseg, .total = total };
	memcpy(op->seg, seg, nseg * sizeof(seg[0]));
	if (s->aops_tail)
		s->aops_tail->next = op;
	else
		s->aops = op;
	s->aops_tail = op;
	s->naops++;
	/* The first pieces leave now; the callback always comes from the
	 * loop, also when everything was mapped and is copied already. */
	s->async_more = false;
	op_step(s, op, vu_now_ms());
	if (op->finished || s->async_more)
		vu_srv_async_kick(s); /* a dispatch() user's poll fd says so */
	arm_timer(s);
	watch_twin(s);
	return 0;
}

int uvfio_server_dma_read_async(struct uvfio_server *s, uint64_t iova, void *buf, size_t len,
				uvfio_dma_done_fn done, void *arg)
{
	struct uvfio_dma_seg g = { .iova = iova, .len = len };
	return uvfio_server_dma_sg_async(s, &g, 1, buf, false, done, arg);
}

int uvfio_server_dma_write_async(struct uvfio_server *s, uint64_t iova, const void *buf,
				 size_t len, uvfio_dma_done_fn done, void *arg)
{
	struct uvfio_dma_seg g = { .iova = iova, .len = len };
	return uvfio_server_dma_sg_async(s, &g, 1, (void *)buf, true, done, arg);
}
