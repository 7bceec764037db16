/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * internal_client.h — the client's private state and functions (client*.c).
 * Included by internal.h only: library files include internal.h.
 */
#ifndef UVFIO_INTERNAL_CLIENT_H
#define UVFIO_INTERNAL_CLIENT_H

/* ---- Client (client*.c) ----------------------------------------------------- */
#include <pthread.h>

#include "uvfio/client.h"

enum vu_kind { VU_WAIT, VU_NOWAIT, VU_ASYNC };
/* Requests in flight per client (uvfio_client_config.max_in_flight). */
#define VU_DEFAULT_IN_FLIGHT 1024u
#define VU_MAX_IN_FLIGHT 32768u

struct vu_waiter {
	pthread_cond_t cv; /* made when it first has to sleep */
	struct vu_waiter *next, *prev;
	bool any;    /* woken by every completion (flush, room) */
	bool linked; /* cv made, on the client's list of waiters */
};

/*
 * A request sent and not yet answered. It holds a slot while in flight: the
 * low bits of its id are the slot, so a reply finds its request in O(1), and
 * a slot (hence an id) is not reused before its reply has come or the
 * connection has ended.
 */
struct vu_pending {
	struct vu_pending *next, *prev;       /* unwaited (by deadline), or free list */
	struct vu_pending *nw_next, *nw_prev; /* posted writes, in send order */
	uint64_t deadline;                    /* posted, async: ms; UINT64_MAX: none */
	uint64_t seq;                         /* order of posted writes, for flush */
	uint16_t id;
	uint16_t cmd;
	enum vu_kind kind;
	bool sending;   /* its sender has not finished: it completes the request */
	bool buffered;  /* posted, in the send buffer: no deadline until it leaves */
	bool done;
	bool abandoned; /* timed out: the late reply is discarded */
	int result;
	struct vu_msg *reply; /* for VU_WAIT, handed to the caller */
	struct vu_waiter *waiter;
	uint8_t *sink; /* a REGION_READ's data may land here while owner reads */
	size_t sink_len;
	const void *owner; /* the thread of the call that made it (pieces) */
	uvfio_async_fn fn;
	void *opaque;
};

/* The send buffer (client_post.c), under send_mu (len, npend also read
 * atomically): posted messages (ids: their requests) and the open
 * REGION_WRITE_MULTI (wm: its offset, or SIZE_MAX), NULL without options. */
#define VU_POST_BUF 16384u
#define VU_POST_MSGS (VU_POST_BUF / 32u) /* a posted message has 33 bytes at least */
struct vu_post {
	uint8_t *buf;
	size_t len, wm;
	uint64_t delay_ns; /* post_delay_us */
	int timer;         /* timerfd of the delay, or -1 */
	unsigned nids, npend; /* npend: doorbells with rings waiting */
	uint64_t flush_seq; /* posted writes up to this seq leave at once: a
			     * flush waits for them (written under mu) */
	uint16_t ids[VU_POST_MSGS];
};

/* A doorbell the server offered (client_doorbell.c). */
#define VU_MAX_BELLS 256u
struct vu_bell {
	uint32_t region, size; /* size 0: any */
	uint64_t offset, data;
	bool datamatch;
	int fd;
	uint64_t pending; /* rings waiting in the send buffer (send_mu) */
};

struct vu_send_ctx { /* a send; took: it took the reader role (client_reader.c) */
	struct uvfio_client *c;
	bool took;
};

struct vu_dma_reg {
	struct uvfio_dma_region r;
};

struct vu_client_dma {
	struct vu_dma_reg *regs; /* sorted by iova */
	unsigned n, cap;
};

struct uvfio_client {
	struct vu_log log;
	int sock;
	int twin;    /* server-to-client socket in twin-socket mode, else -1 */
	int epfd;    /* uvfio_client_poll_fd() */
	int wakefd;  /* eventfd: come and look (service thread, event loop) */
	int timerfd; /* fires at the earliest deadline of a posted or async request */
	int roomfd;  /* eventfd: room came, for the reader waiting for it in poll() */
	int timeout_ms;
	struct uvfio_client_config cfg;
	struct uvfio_caps mine, server;
	uint16_t major, minor;

	pthread_mutex_t mu; /* everything below, and the receive state */
	int dead;           /* 0, or the negative errno that killed the connection */
	/* Threads are told apart by a token (see client_reader.c); these are
	 * written under mu (service: once) and read atomically. */
	const void *reader;  /* holds the reader role; NULL: free */
	const void *service; /* the service thread */
	const void *fast;    /* took the role for its own reply before sending */
	bool thread_reading; /* the service thread holds the reader role */
	bool blocking;       /* main socket in blocking mode, SO_RCVTIMEO set */
	bool kicked;         /* wakefd written and not yet read */
	bool room_reading;   /* the role's holder waits for room in poll() */
	struct vu_rx rx, twin_rx;
	struct vu_spin spin; /* polling mode: the reader role's (spin.c) */
	/* [0] main socket, [1] twin, each owned by the thread reading it:
	 * messages read while that thread held a send lock (delivered once the
	 * send is over), and how deep it is in delivering one. */
	struct vu_msg *deferred[2], *deferred_tail[2];
	unsigned delivering[2];
	const void *sender[2]; /* holds send_mu / twin_send_mu (atomic) */
	/* Server requests read while another thread held send_mu, answered in
	 * order by the one leaving it (client_reader.c; nanswers read atomically). */
	struct vu_msg *answers, *answers_tail;
	unsigned nanswers;
	bool answering; /* a thread holds send_mu to answer them, in answer_ctx */
	struct vu_send_ctx *answer_ctx;

	struct vu_pending **slot; /* by id & slot_mask; NULL: free */
	uint16_t *slot_id;        /* the last id given in each slot */
	uint16_t *free_slots;     /* ring of free slots, oldest first */
	unsigned free_head, nfree_slots;
	unsigned slot_mask, in_flight, max_in_flight;
	unsigned nabandoned; /* of in_flight: timed out, their late reply not come */
	bool stalled; /* every request in flight timed out, no reply since */
	struct vu_pending *free_pending; /* records for reuse */
	struct vu_pending *unwaited, *unwaited_tail; /* posted, async: by deadline */
	struct vu_pending *nowait, *nowait_tail;     /* posted writes, by seq */
	uint64_t timer_at; /* when timerfd fires (ms), 0: disarmed */
	struct vu_waiter *waiters;
	unsigned nwaiting; /* application threads waiting (reply, flush, room) */
	unsigned nany;     /* ... of them flush or room waiters */
	uint64_t post_seq;
	int post_error; /* first posted-write error since the last flush */

	struct vu_post post;
	struct vu_bell *bells; /* fixed after connecting */
	unsigned nbells;

	pthread_mutex_t send_mu; /* one sender per socket at a time */
	pthread_mutex_t twin_send_mu;

	pthread_mutex_t dma_mu;
	struct vu_client_dma dma;

	bool has_thread;
	pthread_t thread;
};

/* What a waiting thread waits for. */
struct wait_target {
	struct vu_pending *p; /* a reply, or */
	uint64_t flush_seq;   /* posted writes up to this seq acknowledged, or */
	bool room;            /* room for one more request in flight */
};

/* The largest REGION_READ/WRITE payload both sides take. */
#define VU_XFER_MAX(c) VU_MIN((c)->server.max_data_xfer_size, (c)->mine.max_data_xfer_size)

/* client.c: requests in flight */
void vu_client_set_dead(struct uvfio_client *c, int err);
int vu_client_request(struct uvfio_client *c, uint16_t cmd, const struct iovec *iov, int iovcnt,
		      const int *fds, unsigned nfds, enum vu_kind kind, uvfio_async_fn fn,
		      void *opaque, struct vu_msg **reply);
/* VU_WAIT requests sent together, collected later (a large region access):
 * each a fixed part of at most 16 bytes (req) and data; a REGION_READ's data
 * may land in sink (sink_len: the reply's data exactly) while this thread
 * reads, the reply then keeps its access header alone (ext: sink). */
struct vu_req {
	struct vu_pending *p;
	uint64_t deadline; /* ms, 0: none */
};
struct vu_piece {
	const void *req, *data;
	size_t req_len, data_len;
	uint8_t *sink;
	size_t sink_len;
};
#define VU_BATCH_MAX 8u
/* Up to VU_BATCH_MAX in one system call, waiting for room for the first
 * only, and only with wait (a caller holding requests of its own must not
 * wait for room they may be taking: 0 then): how many were sent, or the
 * first's error. */
int vu_client_send_reqs(struct uvfio_client *c, uint16_t cmd, const struct vu_piece *pc,
			unsigned n, struct vu_req *rq, bool wait);
/* 0 with *reply (the caller frees it), or the error. */
int vu_client_collect(struct uvfio_client *c, struct vu_req *rq, struct vu_msg **reply);
/* The main socket's receive sink; unsink moves a reply partly received into
 * a caller's buffer to a record of its own (mu held, by the role's holder). */
void vu_client_sink_init(struct uvfio_client *c);
void vu_client_unsink(struct uvfio_client *c);
int vu_client_send_reply(struct uvfio_client *c, int sock, const struct uvfio_hdr *req,
			 int err, const struct iovec *iov, int iovcnt);
/* The send buffer's messages left (deadlines start), or could not (their
 * requests fail with err). mu held. */
void vu_client_sent(struct uvfio_client *c, const uint16_t *ids, unsigned n);
void vu_client_unsent(struct uvfio_client *c, const uint16_t *ids, unsigned n, int err);
/* A reply arrived: complete its request. mu held; takes m. */
void vu_client_complete(struct uvfio_client *c, struct vu_msg *m);
bool vu_client_target_done(struct uvfio_client *c, const struct wait_target *t);
/* Time out posted and async requests whose deadline has passed; rearm the
 * timer. mu held (dropped around callbacks). Returns how many timed out. */
int vu_client_expire(struct uvfio_client *c, uint64_t now);
static inline int vu_client_tick(struct uvfio_client *c, uint64_t now)
{
	bool fired = c->timer_at && now >= c->timer_at;
	return fired || (c->unwaited && c->unwaited->deadline <= now) ? vu_client_expire(c, now)
								       : 0;
}
int vu_client_slots_init(struct uvfio_client *c, uint32_t max_in_flight);
void vu_client_slots_free(struct uvfio_client *c);

/* client_reader.c: the reader role, the one way every thread reads */
#define VU_TURN_MAIN 1u  /* read the main socket (the caller holds the role) */
#define VU_TURN_TWIN 2u  /* read the twin socket (the caller owns it) */
#define VU_TURN_BLOCK 4u /* one blocking read of the main socket (SO_RCVTIMEO) */
#define VU_TURN_WAKE 8u  /* also wake on wakefd and timerfd (service thread) */
#define VU_TURN_ROOM 16u /* also wake on roomfd (waiting for room) */
const void *vu_reader_self(void); /* this thread's token (c->reader) */
bool vu_reader_acquire(struct uvfio_client *c);
void vu_reader_release(struct uvfio_client *c);
void vu_reader_hand_over(struct uvfio_client *c);
int vu_reader_turn(struct uvfio_client *c, const struct wait_target *t, unsigned how,
		   int timeout_ms, bool *locked);
/* The twin socket belongs to the service thread when there is one;
 * otherwise to whoever holds the reader role. */
static inline bool vu_client_reader_owns_twin(const struct uvfio_client *c)
{
	return c->twin >= 0 && !c->has_thread;
}
int vu_client_wait(struct uvfio_client *c, struct vu_waiter *w, const struct wait_target *t,
		   uint64_t deadline, uint64_t now, bool have_role);
void vu_waiter_init(struct vu_waiter *w, bool any);
void vu_waiter_fini(struct vu_waiter *w);
void vu_client_wake_any(struct uvfio_client *c);
void vu_client_kick(struct uvfio_client *c);
int vu_client_send(struct uvfio_client *c, int sock, struct uvfio_hdr *hdr,
		   const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds, bool *some);
/* vu_client_send() in pieces: the send lock of socket i (0: main, 1: twin),
 * a send holding it (without hdr, iov is whole messages), leaving it. */
void vu_client_send_begin(struct uvfio_client *c, int i, struct vu_send_ctx *s);
int vu_client_send_locked(struct uvfio_client *c, struct vu_send_ctx *s, int sock,
			  struct uvfio_hdr *hdr, const struct iovec *iov, int iovcnt,
			  const int *fds, unsigned nfds, bool *some);
void vu_client_send_end(struct uvfio_client *c, int i, struct vu_send_ctx *s);

/* client_post.c: the send buffer */
int vu_post_init(struct uvfio_client *c);
void vu_post_free(struct uvfio_client *c);
/* A posted message of request id (seq: its order): into the buffer or sent; filled: it took
 * the last room under max_in_flight (the buffer leaves: a thread waiting for
 * room waits for sent requests only). */
int vu_post(struct uvfio_client *c, uint16_t id, uint64_t seq, bool filled, struct uvfio_hdr *hdr,
	    const struct iovec *iov, int iovcnt, bool *some);
/* send_mu held: the buffer, then this message (hdr NULL: none). */
int vu_post_send(struct uvfio_client *c, struct vu_send_ctx *s, struct uvfio_hdr *hdr,
		 const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds, bool *some);
int vu_post_push(struct uvfio_client *c); /* what waits leaves now */
/* Into the open REGION_WRITE_MULTI: 1, 0 when none is open, or the
 * connection's error once it is dead or shut down. */
int vu_post_gather(struct uvfio_client *c, uint32_t region, uint64_t offset, const void *buf,
		   uint32_t len);
void vu_post_due(struct uvfio_client *c); /* the delay's timer fired */
/* Ring doorbell b once what was posted before has left (client_doorbell.c:
 * finding the doorbells, matching a write). */
int vu_post_ring(struct uvfio_client *c, struct vu_bell *b);
int vu_bells_init(struct uvfio_client *c);
void vu_bells_free(struct uvfio_client *c);
struct vu_bell *vu_bell_match(struct uvfio_client *c, uint32_t region, uint64_t offset,
			      const void *buf, size_t len);
void vu_client_service_loop(struct uvfio_client *c);

/* client_dma.c */
void vu_client_handle_request(struct uvfio_client *c, int sock, struct vu_msg *m);
int vu_client_dma_add(struct uvfio_client *c, const struct uvfio_dma_region *r);
int vu_client_dma_del(struct uvfio_client *c, uint64_t iova, uint64_t size,
		      struct uvfio_dma_region *out);
void vu_client_dma_free(struct uvfio_client *c);

#endif /* UVFIO_INTERNAL_CLIENT_H */
