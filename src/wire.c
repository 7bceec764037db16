/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * wire.c — messages on an AF_UNIX stream socket: sending a header, payload
 * pieces and descriptors; receiving with a state machine that completes
 * partial headers and bodies on later reads.
 *
 * A read takes as many bytes as the socket has (up to the buffer), so it may
 * bring the end of one message and several more. Descriptors are given to
 * the message holding the last byte of the read that brought them: Linux
 * ends a read right after the bytes sent with descriptors (see struct
 * vu_rx in internal.h).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "internal.h"

/* Room for the most descriptors one sendmsg() can carry (SCM_MAX_FD). */
#define VU_CMSG_FDS 253
/* Messages up to this size without descriptors are sent from one buffer. */
#define VU_SEND_FLAT 512

uint64_t vu_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void vu_close(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

int vu_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

bool vu_is_eventfd(int fd)
{
	char path[32], link[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) { /* no /proc: an anonymous inode at least, not a socket or pipe */
		struct stat st;
		return fstat(fd, &st) == 0 && !(st.st_mode & S_IFMT);
	}
	link[n] = 0;
	return !strcmp(link, "anon_inode:[eventfd]");
}

void vu_msg_close_fds(struct vu_msg *msg)
{
	for (unsigned i = 0; i < msg->nfds; i++)
		vu_close(&msg->fds[i]);
	msg->nfds = 0;
}

/*
 * The reusable record of this thread (see VU_MSG_SMALL). A key destructor
 * frees it when the thread exits; the key's value only marks that the
 * thread has registered.
 */
static VU_TLS struct vu_msg *tls_spare;
static VU_TLS bool tls_spare_keyed;
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static bool spare_key_ok;

static void spare_release(void *unused)
{
	(void)unused;
	free(tls_spare);
	tls_spare = NULL;
}

static void spare_key_init(void)
{
	spare_key_ok = pthread_key_create(&spare_key, spare_release) == 0;
}

__attribute__((destructor)) static void spare_key_fini(void)
{
	if (spare_key_ok)
		pthread_key_delete(spare_key); /* the library is being unloaded */
	spare_key_ok = false;
}

void vu_msg_free(struct vu_msg *msg)
{
	if (!msg)
		return;
	if (msg->nfds)
		vu_msg_close_fds(msg);
	if (msg->small && !tls_spare) {
		if (!tls_spare_keyed) {
			pthread_once(&spare_once, spare_key_init);
			tls_spare_keyed = spare_key_ok && pthread_setspecific(spare_key, &tls_spare) == 0;
			if (!tls_spare_keyed) {
				free(msg);
				return;
			}
		}
		tls_spare = msg;
		return;
	}
	free(msg);
}

int vu_msg_take_fd(struct vu_msg *msg, unsigned i)
{
	if (i >= msg->nfds)
		return -1;
	int fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

void vu_rx_init(struct vu_rx *rx, uint32_t max_msg_size, unsigned max_fds)
{
	rx->sink = NULL;
	rx->guess = NULL;
	rx->sink_arg = NULL;
	rx->have_last = false;
	rx->spill = NULL;
	rx->spill_at = rx->spill_len = 0;
	rx->max_msg_size = max_msg_size;
	rx->max_fds = VU_MIN(max_fds, UVFIO_MAX_FDS_LIMIT);
	rx->drained = true;
	rx->head = rx->tail = 0;
	rx->off = 0;
	rx->big = NULL;
	rx->big_got = 0;
	rx->nfdq = 0;
}

void vu_rx_reset(struct vu_rx *rx)
{
	for (unsigned i = 0; i < rx->nfdq; i++)
		if (rx->fdq[i].fd >= 0)
			close(rx->fdq[i].fd);
	rx->nfdq = 0;
	vu_msg_free(rx->big);
	rx->big = NULL;
	rx->big_got = 0;
	rx->head = rx->tail = 0;
	free(rx->spill);
	rx->spill = NULL;
	rx->drained = true;
}

int vu_hdr_check(const struct uvfio_hdr *hdr, uint32_t max_msg_size)
{
	if (hdr->msg_size < UVFIO_HDR_SIZE)
		return -EPROTO;
	if (hdr->msg_size > max_msg_size)
		return -EMSGSIZE;
	if (hdr->flags & ~UVFIO_FLAGS_KNOWN)
		return -EPROTO;
	unsigned type = hdr->flags & UVFIO_FLAGS_TYPE_MASK;
	if (type != UVFIO_FLAGS_TYPE_COMMAND && type != UVFIO_FLAGS_TYPE_REPLY)
		return -EPROTO;
	return 0;
}

/* Queue the descriptors of one read, all tagged with the read's end. */
static int queue_fds(struct vu_rx *rx, struct msghdr *mh, uint64_t end)
{
	int r = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (rx->nfdq == VU_RX_FDQ) {
				close(fd); /* a flood no honest peer sends */
				r = -EPROTO;
				continue;
			}
			rx->fdq[rx->nfdq].fd = fd;
			rx->fdq[rx->nfdq].end = end;
			rx->nfdq++;
		}
	}
	return r;
}

/* Give message m (stream bytes [start, start + msg_size)) its descriptors:
 * those whose read ended inside it. */
static void give_fds(struct vu_rx *rx, struct vu_msg *m, uint64_t start)
{
	if (!rx->nfdq)
		return; /* m has none already */
	uint64_t end = start + m->hdr.msg_size;
	unsigned k = 0;
	m->nfds = 0;
	m->fds_dropped = false;
	while (k < rx->nfdq && rx->fdq[k].end <= end) {
		if (m->nfds < rx->max_fds)
			m->fds[m->nfds++] = rx->fdq[k].fd;
		else {
			close(rx->fdq[k].fd);
			m->fds_dropped = true;
		}
		k++;
	}
	memmove(rx->fdq, rx->fdq + k, (rx->nfdq - k) * sizeof(rx->fdq[0]));
	rx->nfdq -= k;
}

/* A record for h whose body keeps len bytes (the rest goes to ext). */
static struct vu_msg *msg_alloc(const struct uvfio_hdr *h, size_t len, uint8_t *ext)
{
	bool small = len <= VU_MSG_SMALL;
	struct vu_msg *m = small ? tls_spare : NULL;
	if (m)
		tls_spare = NULL;
	else if (!(m = malloc(sizeof(*m) + (small ? VU_MSG_SMALL : len))))
		return NULL;
	m->next = NULL;
	m->hdr = *h;
	m->len = len;
	m->nfds = 0;
	m->fds_dropped = false;
	m->on_twin = false;
	m->small = small;
	m->ext = ext;
	m->ext_len = h->msg_size - UVFIO_HDR_SIZE - len;
	return m;
}

/* Where body byte i of m is, and how many follow it contiguously. */
static uint8_t *body_at(struct vu_msg *m, size_t i, size_t *room)
{
	if (i < m->len) {
		*room = m->len - i;
		return m->body + i;
	}
	*room = m->len + m->ext_len - i;
	return m->ext + (i - m->len);
}

/* One recvmsg() of at most the iovecs' length (stream offset at). Returns
 * bytes read, 0 for would block (or timed out), or a fatal negative errno. */
static ssize_t read_iov(int sock, struct vu_rx *rx, struct iovec *iov, int niov, uint64_t at,
			bool block)
{
	union {
		char buf[CMSG_SPACE(VU_CMSG_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = {
		.msg_iov = iov,
		.msg_iovlen = (size_t)niov,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	size_t len = 0;
	for (int i = 0; i < niov; i++)
		len += iov[i].iov_len;
	ssize_t n;
	do {
		n = recvmsg(sock, &mh, (block ? 0 : MSG_DONTWAIT) | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			rx->drained = true;
			return 0;
		}
		return errno == ECONNRESET || errno == EPIPE ? -ECONNRESET : -errno;
	}
	int r = mh.msg_controllen ? queue_fds(rx, &mh, at + (uint64_t)n) : 0;
	if (mh.msg_flags & MSG_CTRUNC)
		return -EPROTO;
	if (r < 0)
		return r;
	if (n == 0)
		return -ECONNRESET;
	rx->drained = (size_t)n < len;
	return n;
}

/* At most len bytes into dst: spilled ones first, else one recvmsg(). */
static ssize_t read_some(int sock, struct vu_rx *rx, void *dst, size_t len, uint64_t at,
			 bool block)
{
	if (rx->spill) {
		size_t n = VU_MIN(len, rx->spill_len - rx->spill_at);
		memcpy(dst, rx->spill + rx->spill_at, n);
		if ((rx->spill_at += n) == rx->spill_len) {
			free(rx->spill);
			rx->spill = NULL;
		}
		return (ssize_t)n;
	}
	struct iovec iov = { .iov_base = dst, .iov_len = len };
	return read_iov(sock, rx, &iov, 1, at, block);
}

/*
 * The buffer is empty and the receiver guesses the next message (see
 * vu_rx_guess_fn): receive its header and the body bytes it keeps into the
 * buffer, the rest straight into the sink's memory, in one recvmsg().
 * Returns 0 when there is no guess to try; else 1, with *got what the read
 * gave (bytes, 0: would block, or a fatal negative errno).
 */
static int read_guessed(int sock, struct vu_rx *rx, bool block, ssize_t *got)
{
	struct uvfio_hdr g;
	size_t keep = 0;
	uint8_t *ext;
	if (!rx->guess(rx->sink_arg, rx->last_id, rx->have_last, &g) ||
	    g.msg_size <= VU_RX_BUF || g.msg_size > rx->max_msg_size ||
	    !(ext = rx->sink(rx->sink_arg, &g, &keep)) ||
	    keep > g.msg_size - UVFIO_HDR_SIZE || UVFIO_HDR_SIZE + keep > VU_RX_BUF)
		return 0;
	size_t head = UVFIO_HDR_SIZE + keep, body = g.msg_size - head;
	struct iovec iov[2] = { { rx->buf, head }, { ext, body } };
	rx->head = rx->tail = 0;
	ssize_t n = read_iov(sock, rx, iov, 2, rx->off, block);
	*got = n;
	if (n <= 0)
		return 1;
	if ((size_t)n <= head) {
		rx->tail = (size_t)n;
		return 1;
	}
	size_t more = (size_t)n - head;
	struct uvfio_hdr h;
	memcpy(&h, rx->buf, sizeof(h));
	if (!memcmp(&h, &g, sizeof(h))) {
		/* as guessed (the sink said where for this very header): the
		 * message goes on being read into ext */
		struct vu_msg *m = msg_alloc(&h, keep, ext);
		if (!m) {
			*got = -ENOMEM;
			return 1;
		}
		memcpy(m->body, rx->buf + UVFIO_HDR_SIZE, keep);
		rx->big = m;
		rx->big_got = keep + more;
		return 1;
	}
	/* Another message: what landed in ext comes next in the stream. */
	rx->tail = head;
	if (!(rx->spill = malloc(more))) {
		*got = -ENOMEM;
		return 1;
	}
	memcpy(rx->spill, ext, more);
	rx->spill_at = 0;
	rx->spill_len = more;
	return 1;
}

int vu_rx_unsink(struct vu_rx *rx)
{
	rx->sink = NULL;
	rx->guess = NULL;
	rx->sink_arg = NULL;
	struct vu_msg *m = rx->big;
	if (!m || !m->ext)
		return 0;
	/* Partly read into the sink's memory: finish it in a record of its
	 * own, so that nothing lands there once the sink's owner is gone. */
	struct vu_msg *n = msg_alloc(&m->hdr, m->hdr.msg_size - UVFIO_HDR_SIZE, NULL);
	if (!n)
		return -ENOMEM;
	for (size_t i = 0, room; i < rx->big_got; i += room) {
		const uint8_t *src = body_at(m, i, &room);
		room = VU_MIN(room, rx->big_got - i);
		memcpy(n->body + i, src, room);
	}
	vu_msg_free(m);
	rx->big = n;
	return 0;
}

/* vu_rx_ready() with a whole header buffered. */
bool vu_rx_ready_hdr(const struct vu_rx *rx)
{
	struct uvfio_hdr h;
	memcpy(&h, rx->buf + rx->head, sizeof(h));
	return vu_hdr_check(&h, rx->max_msg_size) < 0 || rx->tail - rx->head >= h.msg_size;
}

size_t vu_rx_partial(const struct vu_rx *rx)
{
	if (rx->spill) /* only after a guess, which servers do not make */
		return (rx->big ? UVFIO_HDR_SIZE + rx->big_got : rx->tail - rx->head) +
		       rx->spill_len - rx->spill_at;
	if (rx->big)
		return UVFIO_HDR_SIZE + rx->big_got;
	size_t avail = rx->tail - rx->head;
	if (avail >= UVFIO_HDR_SIZE) {
		struct uvfio_hdr h;
		memcpy(&h, rx->buf + rx->head, sizeof(h));
		if (avail >= h.msg_size)
			return 0; /* whole, not yet taken */
	}
	return avail;
}

/* Hand complete message m (at stream offset off) out. */
static int deliver(struct vu_rx *rx, struct vu_msg *m, struct vu_msg **out)
{
	give_fds(rx, m, rx->off);
	rx->off += m->hdr.msg_size;
	if ((m->hdr.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
		rx->last_id = m->hdr.msg_id;
		rx->have_last = true;
	}
	*out = m;
	return 1;
}

int vu_rx_read_ex(int sock, struct vu_rx *rx, struct vu_msg **out, bool block)
{
	*out = NULL;
	for (;;) {
		if (rx->big) {
			struct vu_msg *m = rx->big;
			if (rx->big_got == m->len + m->ext_len) {
				rx->big = NULL;
				return deliver(rx, m, out);
			}
			uint64_t at = rx->off + UVFIO_HDR_SIZE + rx->big_got;
			size_t room;
			uint8_t *dst = body_at(m, rx->big_got, &room);
			ssize_t n = read_some(sock, rx, dst, room, at, block);
			if (n <= 0)
				return (int)n;
			rx->big_got += (size_t)n;
			block = false;
			continue;
		}
		size_t avail = rx->tail - rx->head;
		if (avail >= UVFIO_HDR_SIZE) {
			struct uvfio_hdr h;
			memcpy(&h, rx->buf + rx->head, sizeof(h));
			int r = vu_hdr_check(&h, rx->max_msg_size);
			if (r < 0)
				return r;
			if (avail >= h.msg_size || h.msg_size > VU_RX_BUF) {
				size_t blen = h.msg_size - UVFIO_HDR_SIZE, keep = blen;
				uint8_t *ext = NULL;
				if (h.msg_size > VU_RX_BUF && rx->sink &&
				    (ext = rx->sink(rx->sink_arg, &h, &keep)) && keep > blen)
					return -EINVAL; /* a sink that breaks its contract */
				struct vu_msg *m = msg_alloc(&h, ext ? keep : blen, ext);
				if (!m)
					return -ENOMEM;
				size_t have = VU_MIN(avail, (size_t)h.msg_size) - UVFIO_HDR_SIZE;
				const uint8_t *src = rx->buf + rx->head + UVFIO_HDR_SIZE;
				for (size_t i = 0, room; i < have; i += room) {
					uint8_t *dst = body_at(m, i, &room);
					room = VU_MIN(room, have - i);
					memcpy(dst, src + i, room);
				}
				rx->head += UVFIO_HDR_SIZE + have;
				if (rx->head == rx->tail)
					rx->head = rx->tail = 0;
				if (have < blen) {
					/* too large for the buffer: read the rest into
					 * the message itself */
					rx->big = m;
					rx->big_got = have;
					continue;
				}
				return deliver(rx, m, out);
			}
		}
		ssize_t got;
		if (!avail && rx->guess && rx->sink && !rx->spill && read_guessed(sock, rx, block, &got)) {
			if (got <= 0)
				return (int)got;
			block = false;
			continue;
		}
		/* Need more bytes: make room at the end of the buffer. */
		if (rx->head && rx->tail == VU_RX_BUF) {
			memmove(rx->buf, rx->buf + rx->head, avail);
			rx->head = 0;
			rx->tail = avail;
		}
		uint64_t at = rx->off + avail;
		ssize_t n = read_some(sock, rx, rx->buf + rx->tail, VU_RX_BUF - rx->tail, at, block);
		if (n <= 0)
			return (int)n;
		rx->tail += (size_t)n;
		block = false; /* a blocking read waits once; the rest is what arrived */
	}
}

static int wait_writable(void *arg, int sock, int timeout_ms)
{
	(void)arg;
	struct pollfd p = { .fd = sock, .events = POLLOUT };
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r > 0)
			return (p.revents & (POLLERR | POLLHUP)) && !(p.revents & POLLOUT) ? -EPIPE
											     : 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int vu_send(int sock, struct uvfio_hdr *hdr, const struct iovec *iov, int iovcnt, const int *fds,
	    unsigned nfds, int timeout_ms, bool *sent_some)
{
	return vu_send_ex(sock, hdr, iov, iovcnt, fds, nfds, timeout_ms, sent_some, 0, NULL, NULL);
}

/*
 * A Unix stream socket sends a message in pieces (of at least SEND_PIECE
 * bytes when its send buffer holds two), and a blocking send waits up to
 * SO_SNDTIMEO for room for each piece, not for the whole: a client taking a
 * piece just before each timeout would hold one send for as many timeouts
 * as the message has pieces. A send blocks only when its pieces' waits stay
 * within the timeout together, each wait rounded up to a clock tick (at
 * most SEND_TICK_MS) and late by up to an eighth (the kernel's timers).
 */
#define SEND_PIECE (32u << 10)
#define SEND_TICK_MS 10

/* The longest SO_SNDTIMEO for a blocking send of len bytes within
 * timeout_ms (0: none). */
static int block_ms_for(int timeout_ms, size_t len)
{
	if (timeout_ms <= 0)
		return 0;
	int64_t ms = (int64_t)((uint64_t)timeout_ms / (len / SEND_PIECE + 1)) * 7 / 8 - SEND_TICK_MS;
	return ms > 0 ? (int)ms : 0;
}

int vu_send_block_setup(int sock, int timeout_ms, size_t len)
{
	int ms = block_ms_for(timeout_ms, len), sndbuf;
	socklen_t sl = sizeof(sndbuf);
	if (!ms || getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) < 0 ||
	    sndbuf < 2 * (int)(SEND_PIECE + 64)) /* the kernel's pieces: half the buffer, less 64 */
		return 0;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	return setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 ? ms : 0;
}

int vu_send_ex(int sock, struct uvfio_hdr *hdr, const struct iovec *iov, int iovcnt,
	       const int *fds, unsigned nfds, int timeout_ms, bool *sent_some, int block_ms,
	       vu_wait_fn wait, void *arg)
{
	if (!wait)
		wait = wait_writable;
	uint64_t deadline = 0; /* taken when the socket is first full */
	struct iovec v[1 + 16];
	if (iovcnt < 0 || iovcnt > 16 || nfds > VU_CMSG_FDS)
		return -EINVAL;
	/* Without a header, iov is already whole messages (a corked batch). */
	size_t total = hdr ? UVFIO_HDR_SIZE : 0;
	v[0].iov_base = hdr;
	v[0].iov_len = total;
	int n = hdr ? 1 : 0;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;
		v[n++] = iov[i];
		total += iov[i].iov_len;
	}
	if (total > UINT32_MAX)
		return -EMSGSIZE;
	if (hdr)
		hdr->msg_size = (uint32_t)total;
	bool block = block_ms > 0 && block_ms <= block_ms_for(timeout_ms, total);
	if (block) /* the kernel's waits count from now */
		deadline = vu_now_ms() + (uint64_t)timeout_ms;

	union {
		char buf[CMSG_SPACE(VU_CMSG_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t)n };
	if (nfds) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	if (sent_some)
		*sent_some = false;
	/* A small message without descriptors goes out as one flat buffer:
	 * send() costs the kernel less than sendmsg() (no message header to
	 * copy in and check). */
	union {
		uint8_t b[VU_SEND_FLAT];
		uint64_t align;
	} flat;
	if (!nfds && total <= sizeof(flat.b) && n > 1) {
		size_t at = 0;
		for (int i = 0; i < n; i++) {
			memcpy(flat.b + at, v[i].iov_base, v[i].iov_len);
			at += v[i].iov_len;
		}
		v[0].iov_base = flat.b;
		v[0].iov_len = total;
		mh.msg_iovlen = 1;
	}
	size_t done = 0;
	int flags = MSG_NOSIGNAL | (block ? 0 : MSG_DONTWAIT);
	while (done < total) {
		ssize_t w = mh.msg_controllen || mh.msg_iovlen != 1
				    ? sendmsg(sock, &mh, flags)
				    : send(sock, mh.msg_iov->iov_base, mh.msg_iov->iov_len, flags);
		/* A blocking send that returns early (SO_SNDTIMEO, a signal):
		 * the rest goes the non-blocking way. */
		if (!(flags & MSG_DONTWAIT) && (w < 0 || (size_t)w < total - done))
			flags |= MSG_DONTWAIT;
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int left = -1;
				if (timeout_ms >= 0) {
					uint64_t now = vu_now_ms();
					if (!deadline)
						deadline = now + (uint64_t)timeout_ms;
					if (now >= deadline)
						return -ETIMEDOUT;
					left = (int)(deadline - now);
				}
				int r = wait(arg, sock, left);
				if (r < 0)
					return r;
				continue;
			}
			return errno == EPIPE || errno == ECONNRESET ? -ECONNRESET : -errno;
		}
		if (w > 0 && sent_some)
			*sent_some = true;
		done += (size_t)w;
		/* Descriptors travel with the first bytes only. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (w > 0 && mh.msg_iovlen) {
			if ((size_t)w >= mh.msg_iov->iov_len) {
				w -= (ssize_t)mh.msg_iov->iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + w;
				mh.msg_iov->iov_len -= (size_t)w;
				w = 0;
			}
		}
	}
	return 0;
}
