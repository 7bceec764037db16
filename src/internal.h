/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * internal.h — the one private header the library's files share.
 * Names here start with vu_ so they are told apart from the public uvfio_.
 */
#ifndef UVFIO_INTERNAL_H
#define UVFIO_INTERNAL_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

#include "uvfio/common.h"
#include "uvfio/protocol.h"

#define VU_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VU_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VU_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- Logging (log.c) ---------------------------------------------------- */

struct vu_log {
	uvfio_log_fn fn;
	void *opaque;
	int level;
	bool trace;
	const char *who; /* "client" or "server": prefixes every line */
};

void vu_log_init(struct vu_log *log, const struct uvfio_log_config *cfg, const char *who);
void vu_logf(const struct vu_log *log, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One trace line for a header sent (dir "->") or received ("<-"). */
void vu_trace_hdr(const struct vu_log *log, const char *dir, const struct uvfio_hdr *hdr,
		  unsigned nfds);

#define vu_err(log, ...) vu_logf((log), UVFIO_LOG_ERR, __VA_ARGS__)
#define vu_warn(log, ...) vu_logf((log), UVFIO_LOG_WARNING, __VA_ARGS__)
#define vu_info(log, ...) vu_logf((log), UVFIO_LOG_INFO, __VA_ARGS__)
#define vu_dbg(log, ...)                                                   \
	do {                                                               \
		if ((log)->level >= UVFIO_LOG_DEBUG)                       \
			vu_logf((log), UVFIO_LOG_DEBUG, __VA_ARGS__);      \
	} while (0)

/* ---- Messages and the wire (wire.c) --------------------------------------- */

/*
 * One received message. The body follows the structure; descriptors that came
 * with it are owned by the message until taken (set to -1) or closed by
 * vu_msg_free().
 */
struct vu_msg {
	struct vu_msg *next; /* for queues of received messages */
	struct uvfio_hdr hdr;
	unsigned nfds;
	bool fds_dropped; /* more descriptors arrived than allowed: extras closed */
	bool on_twin;     /* (client) it came on the twin socket */
	bool small;       /* room for VU_MSG_SMALL body bytes: reusable record */
	/* Body bytes past len, placed by the receiver's sink (see vu_rx) in
	 * memory the message does not own; ext_len is 0 without a sink. */
	uint8_t *ext;
	size_t ext_len;
	int fds[UVFIO_MAX_FDS_LIMIT];
	size_t len; /* body bytes in body[]: hdr.msg_size - UVFIO_HDR_SIZE - ext_len */
	uint8_t body[] __attribute__((aligned(8)));
};

/*
 * Receive state of one socket. Bytes are read into a buffer, as many as the
 * socket has, so that one system call usually brings a whole message (or
 * several); a message larger than the buffer is completed by reads straight
 * into its body.
 *
 * Descriptors: Linux ends a read right after the socket buffer that carried
 * descriptors, so the last byte a read returns lies in the bytes sent with
 * them. Descriptors therefore belong to the message that contains the last
 * byte of the read that brought them — exactly, whether the sender sent a
 * message in one piece or several.
 */
#define VU_RX_BUF 8192u
/* Records of messages with at most this many body bytes are kept for reuse,
 * one per thread, so that a request-reply exchange allocates nothing. */
#define VU_MSG_SMALL 256u
/* Thread-local variables of the library: the initial-exec model makes an
 * access one instruction instead of a call to __tls_get_addr(). */
#define VU_TLS __thread __attribute__((tls_model("initial-exec")))
#define VU_RX_FDQ 256u

/*
 * A receiver may have the body of a message larger than the buffer land in
 * memory of its own (a DMA_READ reply straight into the device's buffer):
 * given the header, the sink returns where body bytes from *keep on go, with
 * *keep (at most the body) set to how many stay in the message; NULL keeps
 * the whole body in the message.
 */
typedef uint8_t *(*vu_rx_sink_fn)(void *arg, const struct uvfio_hdr *hdr, size_t *keep);
/*
 * It may also guess the next message from the id of the last reply
 * (last_id; have_last: there was one): given *hdr as it expects it, the sink
 * says where the body goes, and the next read receives the header and that
 * body in one system call. Bytes of another message that landed there are
 * copied out (the spill) and read from there; the sink's memory must
 * therefore be the reader's to scribble on until its own message arrives.
 */
typedef bool (*vu_rx_guess_fn)(void *arg, uint16_t last_id, bool have_last,
			       struct uvfio_hdr *hdr);

struct vu_rx {
	vu_rx_sink_fn sink; /* optional; set and cleared by the reader */
	vu_rx_guess_fn guess; /* optional, with sink */
	void *sink_arg;
	uint16_t last_id;      /* msg_id of the last reply returned */
	bool have_last;
	uint8_t *spill;        /* bytes of a wrong guess, next in the stream */
	size_t spill_at, spill_len;
	uint32_t max_msg_size; /* largest msg_size accepted */
	unsigned max_fds;      /* most descriptors accepted per message */
	bool drained;          /* the last read found the socket emptied */
	size_t head, tail;     /* unparsed bytes: buf[head, tail) */
	uint64_t off;          /* stream offset of buf[head] (or of big's start) */
	struct vu_msg *big;    /* a message larger than the buffer, being read */
	size_t big_got;
	unsigned nfdq;         /* descriptors read, not yet given to a message */
	struct {
		int fd;
		uint64_t end; /* stream offset just past the read that brought it */
	} fdq[VU_RX_FDQ];
	uint8_t buf[VU_RX_BUF] __attribute__((aligned(8)));
};

void vu_rx_init(struct vu_rx *rx, uint32_t max_msg_size, unsigned max_fds);
/* Drop buffered bytes and a partial message, closing their descriptors. */
void vu_rx_reset(struct vu_rx *rx);
/*
 * Return the next complete message. Reads the socket only when no complete
 * message is buffered; with block, that read waits (the socket must then be
 * in blocking mode, with SO_RCVTIMEO as the limit). Returns 1 with *out set
 * (the caller frees it), 0 when the socket would block or the wait timed
 * out (progress is kept), or a negative errno when the stream can no longer
 * be trusted: -ECONNRESET at end of file, -EPROTO for a header that breaks
 * the framing, truncated control data or a flood of descriptors, -EMSGSIZE
 * for a size above the limit, -ENOMEM.
 */
int vu_rx_read_ex(int sock, struct vu_rx *rx, struct vu_msg **out, bool block);
/* Clear the sink; a message partly read into its memory moves to a record
 * of its own. Returns 0 or -ENOMEM (then the stream cannot continue). */
int vu_rx_unsink(struct vu_rx *rx);
static inline int vu_rx_read(int sock, struct vu_rx *rx, struct vu_msg **out)
{
	return vu_rx_read_ex(sock, rx, out, false);
}
/* Bytes of a message that started to arrive and is not complete. */
size_t vu_rx_partial(const struct vu_rx *rx);
/* More may be waiting: buffered bytes, or the last read filled its room. */
static inline bool vu_rx_more(const struct vu_rx *rx)
{
	return rx->tail > rx->head || rx->big || rx->spill || !rx->drained;
}
/* A complete message (or a header that breaks the framing) is buffered, or
 * spilled bytes: the next vu_rx_read() returns without waiting. */
bool vu_rx_ready_hdr(const struct vu_rx *rx);
static inline bool vu_rx_ready(const struct vu_rx *rx)
{
	if (rx->spill)
		return true;
	if (rx->big)
		return rx->big_got == rx->big->len + rx->big->ext_len;
	return rx->tail - rx->head >= UVFIO_HDR_SIZE && vu_rx_ready_hdr(rx);
}
/* Check a header on its own: 0 or the fatal errno vu_rx_read would give. */
int vu_hdr_check(const struct uvfio_hdr *hdr, uint32_t max_msg_size);

void vu_msg_free(struct vu_msg *msg);
/* Take descriptor i out of the message (the caller owns it); -1 if absent. */
int vu_msg_take_fd(struct vu_msg *msg, unsigned i);
void vu_msg_close_fds(struct vu_msg *msg);

/*
 * Send a whole message: header, payload pieces and descriptors. The socket
 * may be non-blocking: while it is full, poll for up to timeout_ms
 * (negative: forever). The caller serialises senders on one socket.
 * Returns 0, -ETIMEDOUT (nothing or part sent: the stream is then broken if
 * *sent_some), -EPIPE/-ECONNRESET, or another negative errno.
 */
int vu_send(int sock, struct uvfio_hdr *hdr, const struct iovec *iov, int iovcnt, const int *fds,
	    unsigned nfds, int timeout_ms, bool *sent_some);

/* Called while the socket is full: return 0 to try again, or a negative
 * errno (-ETIMEDOUT after timeout_ms). */
typedef int (*vu_wait_fn)(void *arg, int sock, int timeout_ms);
/*
 * vu_send() with a wait of the caller's, or, on a blocking socket whose
 * SO_SNDTIMEO is block_ms (0: none), the first send waits in the kernel (one
 * system call for a send, poll() and a second send) if that cannot outlast
 * timeout_ms; what it leaves goes the non-blocking way, same deadline.
 */
int vu_send_ex(int sock, struct uvfio_hdr *hdr, const struct iovec *iov, int iovcnt,
	       const int *fds, unsigned nfds, int timeout_ms, bool *sent_some, int block_ms,
	       vu_wait_fn wait, void *arg);
/* SO_SNDTIMEO on blocking Unix stream socket sock for sends of up to len
 * bytes within timeout_ms; returns the block_ms to pass (0: none). */
int vu_send_block_setup(int sock, int timeout_ms, size_t len);
uint64_t vu_now_ms(void);

int vu_set_nonblock(int fd, bool on);
void vu_close(int *fd);
/* Is fd an eventfd? Writing one never raises SIGPIPE, reading one never
 * returns 0: the peer's "eventfds" are checked before they are used. */
bool vu_is_eventfd(int fd);

/* ---- Capabilities and version negotiation (caps.c) ------------------------- */

/*
 * Server side: from the client's proposal and the server's own capabilities,
 * compute the reply. Returns 0, or -ENOTSUP when the major version cannot be
 * served (the server then closes the connection).
 */
int vu_negotiate_server(uint16_t major, uint16_t minor, const struct uvfio_caps *proposed,
			const struct uvfio_caps *mine, uint16_t *rminor,
			struct uvfio_caps *reply);
/*
 * Client side: check a reply against what was proposed. nfds is the number
 * of descriptors that came with the reply. Returns 0 or -EPROTO with a
 * sentence in err.
 */
int vu_negotiate_check_reply(uint16_t pmajor, uint16_t pminor, const struct uvfio_caps *proposed,
			     uint16_t rmajor, uint16_t rminor, const struct uvfio_caps *reply,
			     unsigned nfds, char *err, size_t errlen);

/* Our own capabilities from a config's limits: 0 means the default (16
 * descriptors, 1 MiB), larger values are clamped to what the library
 * enforces. */
#define VU_DEFAULT_FDS 16u
void vu_caps_mine(struct uvfio_caps *caps, uint32_t max_msg_fds, uint32_t max_xfer);

/* Largest message a peer may send us, given our max data transfer size. */
static inline uint32_t vu_max_msg_size(uint32_t max_xfer)
{
	/* A read reply or write request carries a 16-byte access header; the
	 * widest fixed part of any other message is well under 4 KiB. */
	return max_xfer + UVFIO_HDR_SIZE + 4096u;
}

static inline bool vu_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* a + b > limit without overflow */
static inline bool vu_range_bad(uint64_t off, uint64_t count, uint64_t limit)
{
	return count > limit || off > limit - count;
}

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
	const void *owner;
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
	bool thread_reading; /* the service thread holds the reader role */
	bool blocking;       /* main socket in blocking mode, SO_RCVTIMEO set */
	bool kicked;         /* wakefd written and not yet read */
	struct vu_rx rx, twin_rx;
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
 * only: how many were sent, or the first's error. */
int vu_client_send_reqs(struct uvfio_client *c, uint16_t cmd, const struct vu_piece *pc,
			unsigned n, struct vu_req *rq);
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
/* A posted message of request id: into the buffer or sent; filled: it took
 * the last room under max_in_flight (the buffer leaves: a thread waiting for
 * room waits for sent requests only). */
int vu_post(struct uvfio_client *c, uint16_t id, bool filled, struct uvfio_hdr *hdr,
	    const struct iovec *iov, int iovcnt, bool *some);
/* send_mu held: the buffer, then this message (hdr NULL: none). */
int vu_post_send(struct uvfio_client *c, struct vu_send_ctx *s, struct uvfio_hdr *hdr,
		 const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds, bool *some);
int vu_post_push(struct uvfio_client *c); /* what waits leaves now */
/* Into the open REGION_WRITE_MULTI: 1, or 0 when none is open. */
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


/* ---- Server (server*.c, pci_config.c) ------------------------------------------- */
#include "uvfio/server.h"

#define VU_MAX_REGIONS 16u
/* Client requests queued while the serving thread awaits a DMA reply on the
 * main socket (server.h states the bound). */
#define VU_SRV_QUEUE_MAX 1024u
#define VU_SRV_QUEUE_BYTES (4u << 20)

struct vu_srv_region {
	bool present;
	struct uvfio_region_desc d;
	uint8_t *mem; /* plain memory (malloc or mmap of memfd) */
	int memfd;    /* for mappable regions, else -1 */
	uint64_t fd_offset; /* of the region in memfd (a device's own file) */
};

struct vu_srv_irq {
	uint32_t count;
	uint32_t info_flags; /* VFIO_IRQ_INFO_* */
	int *efd;            /* trigger eventfds, -1 when not wired */
	int *mask_efd;       /* the client signals them to mask a vector, */
	int *unmask_efd;     /* or to unmask it (a resample eventfd); watched */
	bool *masked;
	bool *pending;
};

struct vu_srv_dma_map {
	uint64_t iova, size;
	uint32_t prot;
	void *vaddr;    /* where iova is mapped here (what to munmap), or NULL */
	size_t map_len;
	unsigned pins;  /* copies and uvfio_server_dma_sg_get() using it */
	bool removed;   /* out of the table: DMA_UNMAP waits for the pins */
};

/* A DMA_READ/DMA_WRITE request to the client (server_dma_msg.c). */
enum vu_dma_state { VU_DMA_FREE, VU_DMA_INFLIGHT, VU_DMA_DONE };
struct vu_dma_req {
	struct vu_dma_req *next; /* on the list of requests in flight */
	enum vu_dma_state state;
	uint16_t id, cmd;
	uint64_t iova, n;
	uint8_t *buf;         /* the data to send, or where a read's data goes */
	bool sinking;         /* a reader receives its data into buf */
	int result;           /* DONE without a reply: the error */
	struct vu_msg *reply; /* DONE: the reply */
};

struct vu_dirty_range {
	uint64_t iova, length;
	uint64_t *bits; /* one bit per page_size page */
};

struct vu_reply {
	struct iovec iov[4];
	int n;
	int fds[UVFIO_MAX_FDS_LIMIT];
	unsigned nfds;
	void *heap[4]; /* freed after the reply is sent */
	unsigned nheap;
	size_t small_used;
	uint8_t small[128] __attribute__((aligned(8)));
};

struct uvfio_server {
	struct vu_log log;
	struct uvfio_server_config cfg;
	struct uvfio_device_ops ops;
	void *opaque;
	struct uvfio_caps mine;

	/* connection */
	int lsock;
	char *path;
	bool adopted;
	int sock;
	int twin; /* server end of the twin socket, or -1 */
	int epfd;
	int stopfd;
	int timeout_ms; /* sends to the client, replies to DMA requests */
	int send_block_ms; /* sock's SO_SNDTIMEO (0: none): replies wait in send() */
	int stopping; /* atomic: set by uvfio_server_stop() from any thread */
	/* The client socket, for uvfio_server_stop() to wake a blocked read
	 * with shutdown(); -1 before it is closed, and closing waits until no
	 * stop is between loading it and shutting it down (stop_users). */
	int run_sock;   /* atomic */
	int stop_users; /* atomic */
	struct vu_rx rx, twin_rx;
	bool negotiated;
	bool connected; /* atomic copy of negotiated, for other threads */
	struct uvfio_caps client;
	uint16_t next_id;
	struct vu_msg *queue, *queue_tail; /* requests read while awaiting a DMA reply */
	unsigned nqueue;                   /* ... bounded by VU_SRV_QUEUE_MAX/_BYTES */
	size_t queue_bytes;
	uint8_t *out; /* corked replies (out_buf) */
	size_t out_len;
	uint8_t out_buf[16384];
	int direct; /* atomic: run() may be blocked reading sock (stop() shuts it) */
	struct vu_watch *watch; /* eventfds the loop watches (server_ioeventfd.c) */

	/* configuration space */
	uint8_t *cfg_space, *cfg_wmask, *cfg_w1c;
	uint32_t cfg_size;
	uint32_t cap_free; /* next free byte for a capability */
	uint32_t cap_last; /* offset of the last capability, 0 if none */
	uint32_t msi_cap, msix_cap, exp_cap;
	uint32_t ext_free, ext_last; /* extended capabilities, as cap_free/last */
	uint32_t msix_bar, msix_table, msix_pba;
	uint64_t bar_size[6];

	/* regions and interrupts */
	uint32_t nregions;
	struct vu_srv_region regions[VU_MAX_REGIONS];
	pthread_mutex_t irq_mu;
	struct vu_srv_irq irqs[VFIO_PCI_NUM_IRQS];

	/* DMA from any thread (server_dma.c, server_dma_msg.c): the map table,
	 * requests in flight and the connection as DMA sees it, under dma_mu */
	enum uvfio_dma_layout dma_layout; /* of this client: SPEC or QEMU */
	pthread_mutex_t dma_mu;
	pthread_cond_t dma_cv; /* a reply, a pin or a socket user gone, a role free */
	struct vu_srv_dma_map **maps; /* sorted by iova */
	unsigned nmaps, capmaps;
	bool dma_live;   /* a negotiated client: requests may be sent */
	bool dma_broken; /* vu_srv_dma_break() ended it (and said why) */
	bool dma_twin;   /* requests and replies travel on the twin socket */
	bool twin_reading;   /* a waiting thread reads the twin socket */
	unsigned sock_users; /* threads sending, or reading the twin socket */
	unsigned qemu_reads; /* DMA_READs in flight in QEMU's layout */
	struct vu_dma_req *dreqs; /* in flight, of every thread */
	int dma_efd;     /* wakes a thread polling a socket for DMA replies */
	pthread_mutex_t send_mu, twin_send_mu; /* one sender per socket */
	uintptr_t driver;    /* atomic: the driving thread (vu_srv_is_driver) */
	size_t main_partial; /* atomic: bytes of a message cut mid-way on the main socket */
	/* dirty-page logging (server_dirty.c): the bitmaps under dirty_rw,
	 * their words changed atomically */
	pthread_rwlock_t dirty_rw;
	bool logging; /* atomic */
	uint64_t log_page;
	struct vu_dirty_range *dirty;
	unsigned ndirty;

	/* migration */
	uint32_t mig_state;
};

/* server.c */
int vu_srv_send_reply(struct uvfio_server *s, const struct uvfio_hdr *req, int err,
		      const struct iovec *iov, int n, const int *fds, unsigned nfds);
/* Is this the thread driving the context (it reads the main socket)? */
bool vu_srv_is_driver(struct uvfio_server *s);
/* Driving thread: send the corked replies; <0 ended the connection. */
int vu_srv_flush(struct uvfio_server *s);
/* Driving thread, waiting for DMA replies on the main socket: take one
 * message (a reply goes to its request, a request to the bounded queue) or
 * wait for one until deadline. 0 to go on, -ETIMEDOUT, -ESHUTDOWN, or
 * -ECONNRESET when the connection ended. */
int vu_srv_pump_main(struct uvfio_server *s, uint64_t deadline);
/* After a DMA timeout: a message cut mid-way on the main socket ends the
 * connection. */
void vu_srv_main_cut_check(struct uvfio_server *s, bool driver);
/* server_cmds.c */
void vu_srv_handle(struct uvfio_server *s, struct vu_msg *m);
int vu_srv_region_access(struct uvfio_server *s, uint32_t region, uint64_t offset, void *buf,
			 uint32_t count, bool write);
/* Reset the device for a reason: configuration space and migration state
 * (except for a lost connection), then the device's callback. */
int vu_srv_reset(struct uvfio_server *s, enum uvfio_reset_type type);
/* pci_config.c */
int vu_cfg_init(struct uvfio_server *s, uint32_t size);
void vu_cfg_free(struct uvfio_server *s);
int vu_cfg_access(struct uvfio_server *s, uint64_t offset, void *buf, uint32_t count,
		  bool write);
void vu_cfg_reset(struct uvfio_server *s);
void vu_cfg_set_bar(struct uvfio_server *s, unsigned bar, uint64_t size, uint32_t flags);
void vu_cfg_set_irq_pin(struct uvfio_server *s);
void vu_cfg_set_rom(struct uvfio_server *s, uint64_t size);
/* After a configuration write: did it initiate a function-level reset? The
 * request bit is cleared (it always reads 0). */
bool vu_cfg_take_flr(struct uvfio_server *s);
/* server_irq.c */
int vu_srv_set_irqs(struct uvfio_server *s, struct vu_msg *m);
void vu_srv_irqs_drop(struct uvfio_server *s);
void vu_srv_irqs_free(struct uvfio_server *s);
void vu_srv_irqs_recheck(struct uvfio_server *s);
/* The client signalled the mask (or unmask) eventfd of a vector. */
void vu_srv_irq_eventfd(struct uvfio_server *s, uint32_t index, uint32_t i, bool mask);
/* server_ioeventfd.c: eventfds the client signals and the loop watches */
struct vu_watch;
#define VU_NOT_MINE 1
/* A write that came as a message: VU_NOT_MINE, or the result of the
 * ioeventfd handler it matched. */
int vu_srv_ioevent_write(struct uvfio_server *s, uint32_t region, uint64_t offset,
			 const void *buf, uint32_t count);
/* DEVICE_GET_REGION_IO_FDS: the reply for region index, argsz asked. */
int vu_srv_io_fds(struct uvfio_server *s, uint32_t index, uint32_t argsz, struct vu_reply *rep);
/* Watch (fd >= 0) or stop watching (-1) the (un)mask eventfd of a vector;
 * old is the descriptor watched so far (-1: none), closed by the caller. */
int vu_watch_irq_fd(struct uvfio_server *s, uint32_t index, uint32_t i, bool mask, int old,
		    int fd);
/* Does the loop watch any eventfd (run() must then wait in epoll)? */
bool vu_watch_live(const struct uvfio_server *s);
/* Read the signalled eventfds among n events of the server's epoll set
 * (ev NULL: asks it without waiting); their handlers run in vu_watch_run().
 * Returns false when the events say the client socket has nothing new. */
#define VU_WATCH_BATCH 64u /* events taken in one pass */
struct epoll_event;
bool vu_watch_collect(struct uvfio_server *s, const struct epoll_event *ev, int n);
/* Run the handlers of what vu_watch_collect() read; returns how many. */
int vu_watch_run(struct uvfio_server *s);
/* The client left: close its ioeventfds, forget signals not yet handled. */
void vu_watch_drop(struct uvfio_server *s);
void vu_watch_free(struct uvfio_server *s);
/* server_dma.c */
int vu_srv_dma_map(struct uvfio_server *s, struct vu_msg *m);
int vu_srv_dma_unmap(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep);
void vu_srv_dma_drop_all(struct uvfio_server *s);
/* A copy of the mapped ranges (malloc'ed), for logging them all. */
int vu_srv_dma_ranges(struct uvfio_server *s, struct uvfio_dma_logging_range **out,
		      unsigned *n);
void vu_srv_dma_free(struct uvfio_server *s);
/* server_dma_msg.c */
/* At VERSION: the DMA_READ/DMA_WRITE layout of this client. */
void vu_srv_dma_layout_pick(struct uvfio_server *s, uint16_t proposed_minor);
/* Negotiated: other threads may send requests. */
void vu_srv_dma_conn_start(struct uvfio_server *s);
/* Driving thread, ending a connection: no other thread sends or reads any
 * more, their requests fail. Returns whether vu_srv_dma_break() ended it. */
bool vu_srv_dma_conn_end(struct uvfio_server *s);
/* Any thread: the stream cannot go on; log why, shut the sockets (the
 * driving thread then cleans up), fail the requests in flight. */
void vu_srv_dma_break(struct uvfio_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A reply from the client: to its request, or discarded. */
void vu_srv_dma_reply_in(struct uvfio_server *s, struct vu_msg *m);
/* One piece of DMA through messages, from any thread. */
int vu_srv_dma_message(struct uvfio_server *s, uint64_t iova, uint8_t *buf, uint64_t len,
		       bool write);
/* server_dirty.c */
/* Log [iova, iova+len) as written, if logging; any thread. */
void vu_dirty_mark(struct uvfio_server *s, uint64_t iova, uint64_t len);
/* room: the feature data the client's argsz leaves for the reply. */
int vu_srv_dma_logging(struct uvfio_server *s, uint32_t feature, uint32_t flags,
		       const uint8_t *data, size_t len, size_t room, struct vu_reply *rep);
void vu_dirty_free(struct uvfio_server *s);
/* dma_guard.c */
/* Install the SIGBUS handler (once per process); 0 or a negative errno. */
int vu_guard_install(void);
/* memcpy whose len bytes at client (dst or src) may fault: -EIO if they
 * did (the file behind them shrank), else 0. */
int vu_guarded_copy(void *dst, const void *src, size_t len, const void *client);
/* server_mig.c */
int vu_srv_feature(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep);
int vu_mig_path(struct uvfio_server *s, uint32_t from, uint32_t to, uint32_t *path);
int vu_srv_mig_data_read(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep);
int vu_srv_mig_data_write(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep);

/* Append a zeroed piece of len bytes to a reply; NULL when out of memory. */
static inline void *vu_reply_buf(struct vu_reply *rep, size_t len)
{
	if (rep->n >= 4)
		return NULL;
	size_t al = (len + 7) & ~(size_t)7;
	void *p;
	if (al <= sizeof(rep->small) - rep->small_used) {
		p = rep->small + rep->small_used;
		rep->small_used += al;
		memset(p, 0, len);
	} else {
		if (!(p = calloc(1, len ? len : 1)))
			return NULL;
		rep->heap[rep->nheap++] = p;
	}
	rep->iov[rep->n].iov_base = p;
	rep->iov[rep->n].iov_len = len;
	rep->n++;
	return p;
}

/* Append a copy of len bytes to a reply: 0 or -ENOMEM. */
static inline int vu_reply_add(struct vu_reply *rep, const void *data, size_t len)
{
	void *p = vu_reply_buf(rep, len);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	return 0;
}

#endif /* UVFIO_INTERNAL_H */
