/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The relay of `uvfio trace`: every byte and descriptor from the client to
 * the server and back, unchanged, with each message traced as it passes.
 *
 * Bytes are passed on as they arrive (a message is never held back whole,
 * so large transfers stream). Descriptors travel as the peers' own library
 * reads them (docs/INTERNALS.md, "Receiving"): those of one read belong to the message
 * holding its last byte, so they are sent again with the bytes from that
 * message's start in the read to the read's end, in one sendmsg() that
 * starts there. The twin socket, when the server enables it in its VERSION
 * reply, is replaced by one end of our own socket pair, and the two twin
 * channels are relayed like the main one. Memory descriptors are passed on,
 * never mapped. What a peer can make us hold is bounded per direction:
 * OUT_CAP bytes, MAX_MARKS reads with descriptors, FD_MAX descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

#define OUT_CAP (256u << 10)  /* bytes read and not yet passed on, per direction */
#define READ_MAX (64u << 10)  /* one read */
#define MAX_MARKS 64u         /* reads with descriptors not yet passed on */
#define SCM_MAX 253u          /* most descriptors one read brings (SCM_MAX_FD) */
#define FD_MAX 512u           /* descriptors held per direction */
#define VERSION_MAX (64u << 10) /* a VERSION reply we inspect for the twin socket */

/* Descriptors that must be sent with the bytes [start, end) of the stream. */
struct mark {
	uint64_t start, end;
	unsigned nfds; /* the next nfds of the pipe's descriptor queue */
};

/* The message being captured for the trace. */
struct framer {
	uint8_t hdr[UVFIO_HDR_SIZE];
	unsigned hdr_have;
	uint32_t size;
	uint64_t seen, start; /* bytes of it seen; stream position of its first */
	uint8_t *cap;         /* its first bytes */
	size_t cap_len, cap_max;
	unsigned nfds;
	uint64_t count;       /* messages completed */
};

struct pipe {
	int src, dst;
	uint8_t dir, channel;
	bool active, eof, shut, dead, raw, hold;
	uint8_t *buf; /* bytes not yet passed on: buf[head, tail) */
	size_t head, tail;
	uint64_t pos; /* stream position of buf[0] */
	struct mark marks[MAX_MARKS];
	unsigned nmarks;
	int fdq[FD_MAX]; /* descriptors of the marks, in order */
	unsigned fdq_head, nfd;
	uint64_t raw_bytes; /* passed on after the framing broke */
	struct framer fr;
};

/* A message completed by a read, traced once the read's bytes are passed
 * on, so decoding adds nothing to the relay's latency. */
struct stashed {
	struct trace_msg m;
	size_t off; /* its bytes in the stash */
};

struct session {
	struct pipe p[4]; /* c2s main, s2c main, c2s twin, s2c twin */
	uint8_t *stash;   /* bytes of the stashed messages */
	size_t stash_len, stash_cap;
	struct stashed *sm;
	size_t nsm, sm_cap;
	int fds[4];       /* client, server, our twin end toward the client, server's twin */
	struct trace_session *t;
	const struct proxy_opts *o;
	uint32_t snaplen;
	const char *why;
	bool fatal;
};

enum { CLIENT, SERVER, CTWIN, STWIN };

static int pipe_init(struct pipe *pp, int src, int dst, uint8_t dir, uint8_t channel,
		     uint32_t snaplen)
{
	memset(pp, 0, sizeof(*pp));
	pp->src = src;
	pp->dst = dst;
	pp->dir = dir;
	pp->channel = channel;
	pp->fr.cap_max = snaplen > VERSION_MAX ? snaplen : VERSION_MAX;
	pp->buf = malloc(OUT_CAP);
	pp->fr.cap = malloc(pp->fr.cap_max);
	if (!pp->buf || !pp->fr.cap) {
		free(pp->buf);
		free(pp->fr.cap);
		pp->buf = pp->fr.cap = NULL;
		return -ENOMEM;
	}
	pp->active = true;
	return 0;
}

static int *fdq_at(struct pipe *pp, unsigned i)
{
	return &pp->fdq[(pp->fdq_head + i) % FD_MAX];
}

/* Forget everything queued (the destination is gone), closing descriptors. */
static void pipe_drop(struct pipe *pp)
{
	for (unsigned i = 0; i < pp->nfd; i++)
		close(*fdq_at(pp, i));
	pp->nfd = pp->nmarks = 0;
	pp->fdq_head = 0;
	pp->pos += pp->tail;
	pp->head = pp->tail = 0;
}

static void pipe_free(struct pipe *pp)
{
	if (!pp->active)
		return;
	pipe_drop(pp);
	free(pp->buf);
	free(pp->fr.cap);
	pp->active = false;
}

/* ---- Tracing the messages as they pass ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void capture(struct framer *fr, const uint8_t *b, size_t n)
{
	size_t k = fr->cap_max - fr->cap_len < n ? fr->cap_max - fr->cap_len : n;
	memcpy(fr->cap + fr->cap_len, b, k);
	fr->cap_len += k;
}

/* The slot of the k-th descriptor of the message being completed: those
 * queued since its start, then those of the current read. */
static int *msg_fd(struct pipe *pp, unsigned k, int *cur, unsigned ncur)
{
	unsigned before = 0, first = pp->nfd;
	for (unsigned i = pp->nmarks; i-- > 0 && pp->marks[i].start >= pp->fr.start;) {
		before += pp->marks[i].nfds;
		first -= pp->marks[i].nfds;
	}
	if (k < before)
		return fdq_at(pp, first + k);
	return k - before < ncur ? &cur[k - before] : NULL;
}

static void twin_setup(struct session *s, struct pipe *pp, int *cur, unsigned ncur)
{
	struct framer *fr = &pp->fr;
	struct uvfio_caps caps;
	size_t json = fr->size > 20 ? fr->size - 20 : 0;
	if (fr->cap_len < fr->size || !json ||
	    uvfio_caps_parse((const char *)fr->cap + 20, strnlen((const char *)fr->cap + 20, json),
			     &caps, NULL, 0) < 0 ||
	    !caps.twin_socket || caps.twin_fd_index < 0)
		return;
	int *slot = msg_fd(pp, (unsigned)caps.twin_fd_index, cur, ncur);
	int type = 0, sp[2];
	socklen_t tl = sizeof(type);
	if (!slot || getsockopt(*slot, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    type != SOCK_STREAM)
		return; /* the client will refuse it; pass it on as it is */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0) {
		fprintf(stderr, "uvfio: cannot make a twin socket (%s): the server's is passed "
				"on untraced\n", strerror(errno));
		return;
	}
	int fl = fcntl(*slot, F_GETFL);
	if (fl < 0 || fcntl(*slot, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    pipe_init(&s->p[2], sp[0], *slot, TRACE_C2S, TRACE_TWIN, s->snaplen) < 0 ||
	    pipe_init(&s->p[3], *slot, sp[0], TRACE_S2C, TRACE_TWIN, s->snaplen) < 0) {
		pipe_free(&s->p[2]);
		close(sp[0]);
		close(sp[1]);
		fprintf(stderr, "uvfio: no memory for the twin socket: passed on untraced\n");
		return;
	}
	s->fds[STWIN] = *slot;
	s->fds[CTWIN] = sp[0];
	*slot = sp[1]; /* the client gets our end; we close it once it is sent */
}

static bool stash(struct session *s, const struct trace_msg *m)
{
	if (s->nsm == s->sm_cap) {
		size_t cap = s->sm_cap * 2 + 16;
		struct stashed *n = realloc(s->sm, cap * sizeof(*n));
		if (!n)
			return false;
		s->sm = n;
		s->sm_cap = cap;
	}
	if (s->stash_cap - s->stash_len < m->len) {
		size_t cap = (s->stash_len + m->len) * 2;
		uint8_t *n = realloc(s->stash, cap);
		if (!n)
			return false;
		s->stash = n;
		s->stash_cap = cap;
	}
	memcpy(s->stash + s->stash_len, m->buf, m->len);
	s->sm[s->nsm++] = (struct stashed){ *m, s->stash_len };
	s->stash_len += m->len;
	return true;
}

static void trace_stashed(struct session *s)
{
	for (size_t i = 0; i < s->nsm; i++) {
		s->sm[i].m.buf = s->stash + s->sm[i].off;
		trace_feed(s->t, &s->sm[i].m);
	}
	s->nsm = s->stash_len = 0;
}

static void emit(struct session *s, struct pipe *pp, bool incomplete, uint64_t ts, int *cur,
		 unsigned ncur)
{
	struct framer *fr = &pp->fr;
	if (pp->dir == TRACE_S2C && pp->channel == TRACE_MAIN && fr->count == 0 &&
	    fr->hdr_have == UVFIO_HDR_SIZE && !incomplete) {
		struct uvfio_hdr h;
		memcpy(&h, fr->hdr, sizeof(h));
		if (h.cmd == UVFIO_CMD_VERSION && (h.flags & UVFIO_FLAGS_TYPE_MASK) == 1)
			twin_setup(s, pp, cur, ncur);
	}
	pp->hold = false;
	struct trace_msg m = {
		.buf = fr->cap,
		.len = fr->cap_len < s->snaplen ? fr->cap_len : s->snaplen,
		.wire_len = fr->seen,
		.nfds = fr->nfds,
		.dir = pp->dir,
		.channel = pp->channel,
		.incomplete = incomplete,
		.ts_ns = ts,
	};
	if (!stash(s, &m))
		trace_feed(s->t, &m); /* no memory to defer it: now */
	fr->count++;
	fr->hdr_have = 0;
	fr->seen = fr->cap_len = 0;
	fr->nfds = 0;
}

/*
 * Trace n bytes read at stream position p0 with ncur descriptors. Returns
 * the stream position from which the descriptors must travel: the start of
 * the message holding the read's last byte, or p0 if it started earlier.
 */
static uint64_t consume(struct session *s, struct pipe *pp, const uint8_t *b, size_t n,
			uint64_t p0, int *cur, unsigned ncur, uint64_t ts)
{
	struct framer *fr = &pp->fr;
	uint64_t from = p0;
	size_t i = 0;
	while (i < n && !pp->raw) {
		if (!fr->hdr_have) {
			fr->start = p0 + i;
			fr->size = 0;
		}
		if (fr->hdr_have < UVFIO_HDR_SIZE) {
			size_t k = UVFIO_HDR_SIZE - fr->hdr_have < n - i ? UVFIO_HDR_SIZE - fr->hdr_have
									 : n - i;
			memcpy(fr->hdr + fr->hdr_have, b + i, k);
			capture(fr, b + i, k);
			fr->hdr_have += (unsigned)k;
			fr->seen += k;
			i += k;
			if (fr->hdr_have < UVFIO_HDR_SIZE)
				break;
			memcpy(&fr->size, fr->hdr + 4, 4);
			if (fr->size < UVFIO_HDR_SIZE) {
				/* The stream cannot be framed past this: trace the header, pass
				 * everything after it on as it comes; the peers decide. */
				from = fr->start > p0 ? fr->start : p0;
				if (i == n)
					fr->nfds += ncur;
				emit(s, pp, true, ts, cur, i == n ? ncur : 0);
				pp->raw = true;
				fprintf(stderr, "uvfio: %s message of size %u breaks the framing; "
						"relaying the rest untraced\n",
					pp->dir == TRACE_C2S ? "client" : "server", fr->size);
				break;
			}
			struct uvfio_hdr h;
			memcpy(&h, fr->hdr, sizeof(h));
			if (pp->dir == TRACE_S2C && pp->channel == TRACE_MAIN && !fr->count &&
			    h.cmd == UVFIO_CMD_VERSION && h.msg_size <= VERSION_MAX)
				pp->hold = true; /* its descriptors may need the twin swap */
		}
		uint64_t want = fr->size - fr->seen;
		size_t k = want < n - i ? (size_t)want : n - i;
		capture(fr, b + i, k);
		fr->seen += k;
		i += k;
		if (fr->seen == fr->size) {
			if (i == n) {
				fr->nfds += ncur;
				from = fr->start > p0 ? fr->start : p0;
			}
			emit(s, pp, false, ts, cur, i == n ? ncur : 0);
		}
	}
	if (pp->raw) {
		pp->raw_bytes += n - i;
	} else if (fr->hdr_have) {
		fr->nfds += ncur; /* the read ends within this message */
		from = fr->start > p0 ? fr->start : p0;
	}
	return from;
}

/* ---- Moving bytes ---- */

static void end_session(struct session *s, const char *why)
{
	if (!s->why)
		s->why = why;
	s->fatal = true;
}

/* Read what src has, trace it, queue it with its descriptors. */
static void pipe_read(struct session *s, struct pipe *pp)
{
	if (pp->head == pp->tail) {
		pp->pos += pp->tail;
		pp->head = pp->tail = 0;
	} else if (OUT_CAP - pp->tail < READ_MAX && pp->head) {
		memmove(pp->buf, pp->buf + pp->head, pp->tail - pp->head);
		pp->pos += pp->head;
		pp->tail -= pp->head;
		pp->head = 0;
	}
	size_t room = OUT_CAP - pp->tail < READ_MAX ? OUT_CAP - pp->tail : READ_MAX;
	union {
		char b[CMSG_SPACE(SCM_MAX * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { pp->buf + pp->tail, room };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	ssize_t r = recvmsg(pp->src, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	int fds[SCM_MAX];
	unsigned nfds = 0;
	for (struct cmsghdr *c = r >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned n = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned k = 0; k < n && nfds < SCM_MAX; k++)
			memcpy(&fds[nfds++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
	}
	if (r >= 0 && (mh.msg_flags & MSG_CTRUNC)) {
		/* the kernel dropped descriptors (our limit): the receiver would
		 * miss them, so nothing faithful can follow */
		for (unsigned k = 0; k < nfds; k++)
			close(fds[k]);
		end_session(s, "descriptors were lost (out of descriptors?)");
		return;
	}
	if (r <= 0) {
		/* end of file, or the peer reset: pass on what is queued, then
		 * shut the other side's writing */
		struct framer *fr = &pp->fr;
		if (!pp->raw && fr->hdr_have)
			emit(s, pp, true, now_ns(), NULL, 0);
		pp->eof = true;
		return;
	}
	uint64_t p0 = pp->pos + pp->tail;
	uint64_t from = consume(s, pp, pp->buf + pp->tail, (size_t)r, p0, fds, nfds, now_ns());
	pp->tail += (size_t)r;
	if (pp->dead) { /* nobody to pass it to */
		for (unsigned k = 0; k < nfds; k++)
			close(fds[k]);
		pipe_drop(pp);
		return;
	}
	if (!nfds)
		return;
	for (unsigned k = 0; k < nfds; k++)
		*fdq_at(pp, pp->nfd++) = fds[k];
	pp->marks[pp->nmarks++] = (struct mark){ from, p0 + (uint64_t)r, nfds };
}

/* Pass queued bytes on; descriptors go with the first byte of their span. */
static void pipe_write(struct pipe *pp)
{
	while (!pp->hold && !pp->dead && pp->head < pp->tail) {
		uint64_t cur = pp->pos + pp->head;
		size_t len = pp->tail - pp->head;
		struct mark *mk = pp->nmarks ? &pp->marks[0] : NULL;
		unsigned nf = 0;
		if (mk && mk->start <= cur) {
			nf = mk->nfds;
			if (mk->end - cur < len)
				len = (size_t)(mk->end - cur);
		} else if (mk && mk->start - cur < len) {
			len = (size_t)(mk->start - cur);
		}
		union {
			char b[CMSG_SPACE(SCM_MAX * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { pp->buf + pp->head, len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (nf) {
			mh.msg_control = ctl.b;
			mh.msg_controllen = CMSG_SPACE(nf * sizeof(int));
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(nf * sizeof(int));
			for (unsigned k = 0; k < nf; k++)
				memcpy(CMSG_DATA(c) + k * sizeof(int), fdq_at(pp, k), sizeof(int));
		}
		ssize_t r = sendmsg(pp->dst, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			pp->dead = true; /* the destination is gone */
			pipe_drop(pp);
			return;
		}
		if (nf) {
			for (unsigned k = 0; k < nf; k++)
				close(*fdq_at(pp, k));
			pp->fdq_head = (pp->fdq_head + nf) % FD_MAX;
			pp->nfd -= nf;
			memmove(pp->marks, pp->marks + 1, --pp->nmarks * sizeof(pp->marks[0]));
		}
		pp->head += (size_t)r;
	}
	if (pp->eof && !pp->shut && (pp->dead || pp->head == pp->tail)) {
		shutdown(pp->dst, SHUT_WR);
		pp->shut = true;
	}
}

static bool can_read(const struct pipe *pp)
{
	return pp->active && !pp->eof && pp->nmarks < MAX_MARKS && pp->nfd + SCM_MAX <= FD_MAX &&
	       (pp->head == pp->tail || pp->tail - pp->head <= OUT_CAP - READ_MAX);
}

static bool done(const struct pipe *pp)
{
	return pp->eof && (pp->shut || pp->dead);
}

int proxy_session(int client, int server, struct trace_session *t, const struct proxy_opts *o,
		  const char **why)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(client);
		close(server);
		return -ENOMEM;
	}
	s->t = t;
	s->o = o;
	s->snaplen = o->snaplen ? o->snaplen : TRACE_SNAPLEN_DEFAULT;
	s->fds[CLIENT] = client;
	s->fds[SERVER] = server;
	s->fds[CTWIN] = s->fds[STWIN] = -1;
	int ret = 0;
	for (int i = 0; i < 2; i++) {
		int fl = fcntl(s->fds[i], F_GETFL);
		if (fl >= 0)
			fcntl(s->fds[i], F_SETFL, fl | O_NONBLOCK);
	}
	if (pipe_init(&s->p[0], client, server, TRACE_C2S, TRACE_MAIN, s->snaplen) < 0 ||
	    pipe_init(&s->p[1], server, client, TRACE_S2C, TRACE_MAIN, s->snaplen) < 0) {
		ret = -ENOMEM;
		end_session(s, "out of memory");
	}
	trace_session_begin(t);
	while (!s->fatal && !(done(&s->p[0]) && done(&s->p[1]))) {
		if (o->stop && *o->stop) {
			end_session(s, "stopped");
			break;
		}
		struct pollfd pfd[4];
		for (int i = 0; i < 4; i++)
			pfd[i] = (struct pollfd){ .fd = s->fds[i], .events = 0 };
		for (int i = 0; i < 4; i++) {
			struct pipe *pp = &s->p[i];
			if (!pp->active)
				continue;
			int src = i == 0 ? CLIENT : i == 1 ? SERVER : i == 2 ? CTWIN : STWIN;
			int dst = i == 0 ? SERVER : i == 1 ? CLIENT : i == 2 ? STWIN : CTWIN;
			if (can_read(pp))
				pfd[src].events |= POLLIN;
			if (!pp->hold && !pp->dead && pp->head < pp->tail)
				pfd[dst].events |= POLLOUT;
		}
		for (int i = 0; i < 4; i++)
			if (!pfd[i].events)
				pfd[i].fd = -1; /* a hung-up socket we cannot read now would spin */
		if (o->flush)
			o->flush(o->flush_arg);
		int n = ppoll(pfd, 4, NULL, o->sigmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			end_session(s, strerror(errno));
			break;
		}
		for (int i = 0; i < 4; i++) {
			struct pipe *pp = &s->p[i];
			if (!pp->active)
				continue;
			int src = i == 0 ? CLIENT : i == 1 ? SERVER : i == 2 ? CTWIN : STWIN;
			if (can_read(pp) && (pfd[src].revents & (POLLIN | POLLHUP | POLLERR)))
				pipe_read(s, pp);
			pipe_write(pp);
		}
		trace_stashed(s);
		if (!s->why && s->p[0].eof)
			s->why = "the client disconnected";
		else if (!s->why && s->p[1].eof)
			s->why = "the server disconnected";
	}
	trace_stashed(s);
	trace_session_end(t);
	free(s->stash);
	free(s->sm);
	for (int i = 0; i < 4; i++)
		pipe_free(&s->p[i]);
	for (int i = 0; i < 4; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	if (why)
		*why = s->why ? s->why : "ended";
	free(s);
	return ret;
}
