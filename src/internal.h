/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * internal.h — the one private header the library's files include (the
 * client's and the server's parts are in internal_client.h and
 * internal_server.h, which it includes).
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
 * body in one system call; a message that arrives with exactly that header
 * goes there, with no second asking. Bytes of another message that landed
 * there are copied out (the spill) and read from there; the sink's memory
 * must therefore be the reader's to scribble on until its own message
 * arrives.
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

/* ---- Polling mode (spin.c) -------------------------------------------------- */

/* The largest spin budget taken (microseconds), and descriptors spun on. */
#define VU_SPIN_MAX_US 1000u
#define VU_SPIN_MAX_FDS 4

/*
 * A waiting thread's spin: before it blocks on its descriptors it checks
 * them for up to cur_ns (yielding the CPU between checks); cur_ns adapts
 * between 0 and max_ns from how long the waits that followed took. Owned by
 * the one thread that waits with it at a time (the reader role, the
 * server's driving thread).
 */
struct vu_spin {
	uint32_t max_ns;      /* 0: polling off */
	uint32_t cur_ns;      /* the budget now */
	pid_t peer;           /* the peer's pid, or 0: unknown */
	bool allowed;         /* the CPU placement lets spinning help */
	uint32_t waits;       /* waits so far, to look at the placement again */
	uint64_t hits;        /* waits a spin ended */
	uint64_t block_start; /* when the caller blocked after vu_spin_wait(), 0: not */
	uint16_t judged;      /* waits a spin ended, this round of judging */
	uint16_t helped;      /* ... of them, ended by the spin itself (see judge()) */
};
/* The budget for a configured value: the value (at most VU_SPIN_MAX_US),
 * or, for 0, the environment's UVFIO_POLL_US (for running every test with
 * polling on), or 0. */
uint32_t vu_spin_budget_us(uint32_t configured);
/* Polling with budget_us (0: off) for a connection on sock (its peer's
 * CPU placement is looked at through SO_PEERCRED). */
void vu_spin_init(struct vu_spin *sp, uint32_t budget_us, int sock);
/* Spin until one of the n fds (-1: none) is readable (true) or the budget
 * passes (false: the caller blocks now, then calls vu_spin_woke()). */
bool vu_spin_wait(struct vu_spin *sp, const int *fds, int n);
/* The blocking wait after a false vu_spin_wait() ended: adapt the budget. */
void vu_spin_woke(struct vu_spin *sp);

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
	 * widest fixed part of any other message is well under 4 KiB. In 64
	 * bits, at most what msg_size can say: never wraps to a small bound. */
	uint64_t n = (uint64_t)max_xfer + UVFIO_HDR_SIZE + 4096u;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
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

/* The client's and the server's private parts, a header each (by concern;
 * both are part of this one). */
#include "internal_client.h"
#include "internal_server.h"

#endif /* UVFIO_INTERNAL_H */
