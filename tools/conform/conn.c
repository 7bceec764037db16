/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The raw connection `uvfio conform` speaks on both sides: messages built
 * byte by byte (so that any field can be wrong), written in one to three
 * pieces at random cut points with the descriptors on one of them, read
 * whole within a timeout, and the DMA requests a server makes while the
 * tool waits for a reply answered from a window of the tool's memory.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cf_msg_free(struct cf_msg *m)
{
	free(m->body);
	m->body = NULL;
	for (int i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

int cf_conn_open(struct cf_conn *c, const char *path, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	c->seed = 0x5eed;
	c->timeout_ms = timeout_ms;
	c->max_msg_fds = UVFIO_DEFAULT_MAX_MSG_FDS;
	c->max_data_xfer = UVFIO_DEFAULT_MAX_DATA_XFER_SIZE;
	c->own_max_xfer = UVFIO_DEFAULT_MAX_DATA_XFER_SIZE;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	c->fd = fd;
	return 0;
}

void cf_conn_close(struct cf_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	for (int i = 0; i < c->nwithheld; i++)
		cf_msg_free(&c->withheld[i]);
	c->nwithheld = 0;
	for (int i = 0; i < c->nstray; i++)
		cf_msg_free(&c->stray[i]);
	c->nstray = 0;
	free(c->cork);
	c->cork = NULL;
}

static bool write_all(int fd, const uint8_t *buf, size_t len, const int *fds, int nfds)
{
	size_t at = 0;
	while (at < len) {
		char cbuf[CMSG_SPACE(16 * sizeof(int))] = {0};
		struct iovec iov = {(void *)(buf + at), len - at};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		if (nfds > 0 && at == 0) {
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
			memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
		}
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		at += (size_t)n;
	}
	return true;
}

bool cf_write_split(struct cf_conn *c, const void *buf, size_t len, const int *fds, int nfds)
{
	const uint8_t *b = buf;
	if (c->cork && !nfds) {
		if (c->cork_len + len > c->cork_cap) {
			size_t cap = 2 * (c->cork_len + len);
			uint8_t *n = realloc(c->cork, cap);
			if (!n)
				return false;
			c->cork = n;
			c->cork_cap = cap;
		}
		memcpy(c->cork + c->cork_len, buf, len);
		c->cork_len += len;
		return true;
	}
	size_t cut[3];
	unsigned pieces = 0;
	if (!c->split)
		return write_all(c->fd, b, len, fds, nfds);
	if (len > 1)
		for (unsigned want = 1 + (unsigned)rand_r(&c->seed) % 3; pieces + 1 < want;
		     pieces++)
			cut[pieces] = 1 + (size_t)rand_r(&c->seed) % (len - 1);
	if (pieces == 2 && cut[0] > cut[1]) {
		size_t t = cut[0];
		cut[0] = cut[1];
		cut[1] = t;
	}
	if (pieces == 2 && cut[0] == cut[1])
		pieces = 1;
	cut[pieces++] = len;
	unsigned with_fds = (unsigned)rand_r(&c->seed) % pieces;
	size_t at = 0;
	for (unsigned i = 0; i < pieces; i++) {
		if (!write_all(c->fd, b + at, cut[i] - at, i == with_fds ? fds : NULL,
			       i == with_fds ? nfds : 0))
			return false;
		at = cut[i];
	}
	return true;
}

void cf_cork(struct cf_conn *c)
{
	c->cork = malloc(4096);
	c->cork_cap = c->cork ? 4096 : 0;
	c->cork_len = 0;
}

bool cf_uncork(struct cf_conn *c)
{
	uint8_t *b = c->cork;
	size_t n = c->cork_len;
	c->cork = NULL;
	bool ok = !n || cf_write_split(c, b, n, NULL, 0);
	free(b);
	return ok;
}

size_t cf_build(uint8_t *out, size_t cap, uint16_t id, uint16_t cmd, uint32_t flags,
		const void *body, size_t len)
{
	if (16 + len > cap)
		len = cap - 16;
	struct uvfio_hdr h = {
		.msg_id = id, .cmd = cmd, .msg_size = (uint32_t)(16 + len), .flags = flags};
	memcpy(out, &h, 16);
	if (len)
		memcpy(out + 16, body, len);
	return 16 + len;
}

int cf_send(struct cf_conn *c, uint16_t cmd, uint32_t flags, const void *body, size_t len,
	    const int *fds, int nfds)
{
	size_t cap = 16 + len;
	uint8_t *msg = malloc(cap);
	if (!msg)
		return -1;
	uint16_t id = c->next_id++;
	size_t n = cf_build(msg, cap, id, cmd, flags, body, len);
	bool ok = cf_write_split(c, msg, n, fds, nfds);
	free(msg);
	return ok ? id : -1;
}

/* Read exactly len bytes before the deadline; descriptors into m. */
static int read_full(struct cf_conn *c, void *buf, size_t len, struct cf_msg *m, long deadline)
{
	size_t got = 0;
	while (got < len) {
		long left = deadline - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {c->fd, POLLIN, 0};
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		char cbuf[CMSG_SPACE(32 * sizeof(int))];
		struct iovec iov = {(uint8_t *)buf + got, len - got};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n >= 0 && cm;
		     cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(cm) + (size_t)i * sizeof(int), sizeof(int));
				if (m->nfds < 16)
					m->fds[m->nfds++] = fd;
				else
					close(fd);
			}
		}
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

int cf_recv(struct cf_conn *c, struct cf_msg *m, int timeout_ms)
{
	memset(m, 0, sizeof(*m));
	c->closed = c->timed_out = false;
	if (c->fd < 0) {
		c->closed = true;
		return 0;
	}
	long deadline = now_ms() + timeout_ms;
	int r = read_full(c, &m->h, 16, m, deadline);
	if (r <= 0)
		goto out;
	if (m->h.msg_size < 16 || m->h.msg_size > (64u << 20)) {
		r = -2; /* framing broken beyond repair */
		goto out;
	}
	m->len = m->h.msg_size - 16;
	m->body = calloc(1, m->len + 1);
	if (!m->body) {
		r = -2;
		goto out;
	}
	if (m->len)
		r = read_full(c, m->body, m->len, m, deadline);
out:
	if (r == 0)
		c->closed = true;
	if (r == -1)
		c->timed_out = true;
	if (r <= 0)
		cf_msg_free(m);
	return r == -2 ? -2 : r;
}

/* A DMA request in the layout the tool speaks (c->qemu_layout): the sizes
 * of the two layouts are the same, only where the data starts differs. */
bool cf_serve_dma(struct cf_conn *c, const struct cf_msg *m)
{
	bool rd = m->h.cmd == UVFIO_CMD_DMA_READ;
	bool q = c->qemu_layout;
	c->dma_seen++;
	uint64_t addr = 0, count = 0;
	size_t hlen = q ? 12 : 16;
	bool sized = false;
	if (m->len >= 16) {
		memcpy(&addr, m->body, 8);
		if (q) {
			uint32_t c32;
			memcpy(&c32, m->body + 8, 4);
			count = c32;
		} else {
			memcpy(&count, m->body + 8, 8);
		}
		sized = rd ? m->len == 16 : m->len == 16 + count;
	}
	const char *why = NULL;
	if (!sized)
		why = q ? "its size is not that of QEMU's layout"
			: "its size is not that of the "
			  "specification's layout";
	else if (count == 0 || count > c->own_max_xfer)
		why = "its count is 0 or above the client's max_data_xfer_size";
	else if (addr < c->dma.iova || addr - c->dma.iova > c->dma.size ||
		 count > c->dma.size - (addr - c->dma.iova))
		why = "it reaches outside what was mapped";
	else if (m->nfds)
		why = "it carried descriptors";
	if (why) {
		if (!c->dma_err[0])
			snprintf(c->dma_err, sizeof(c->dma_err), "%s %s at 0x%llx+%llu: %s",
				 "the server's", rd ? "DMA_READ" : "DMA_WRITE",
				 (unsigned long long)addr, (unsigned long long)count, why);
		uint8_t e[16];
		cf_build(e, sizeof(e), m->h.msg_id, m->h.cmd,
			 UVFIO_FLAGS_TYPE_REPLY | UVFIO_FLAGS_ERROR, NULL, 0);
		((struct uvfio_hdr *)e)->error_no = EINVAL;
		cf_write_split(c, e, 16, NULL, 0);
		return false;
	}
	uint8_t *mem = c->dma.mem + (addr - c->dma.iova);
	/* the specification's DMA_WRITE reply has a 4-byte count */
	size_t blen = rd ? hlen + count + (q ? UVFIO_DMA_ACCESS32_PAD : 0) : q ? 16 : 12;
	uint8_t *out = calloc(1, 16 + blen);
	if (!out)
		return false;
	memcpy(out + 16, m->body, rd ? hlen : 12);
	if (rd)
		memcpy(out + 16 + hlen, mem, count);
	else
		memcpy(mem, m->body + hlen, count);
	cf_build(out, 16 + blen, m->h.msg_id, m->h.cmd, UVFIO_FLAGS_TYPE_REPLY, out + 16, blen);
	bool ok = cf_write_split(c, out, 16 + blen, NULL, 0);
	free(out);
	c->dma_served++;
	return ok;
}

int cf_wait(struct cf_conn *c, uint16_t id, struct cf_msg *m)
{
	for (int i = 0; i < c->nstray; i++) {
		if (c->stray[i].h.msg_id != id)
			continue;
		*m = c->stray[i];
		memmove(&c->stray[i], &c->stray[i + 1], (size_t)(c->nstray - i - 1) * sizeof(*m));
		c->nstray--;
		return 1;
	}
	long deadline = now_ms() + c->timeout_ms;
	for (;;) {
		long left = deadline - now_ms();
		int r = cf_recv(c, m, left > 0 ? (int)left : 0);
		if (r <= 0)
			return r == -2 ? 0 : r;
		bool reply = (m->h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY;
		if (!reply && (m->h.cmd == UVFIO_CMD_DMA_READ || m->h.cmd == UVFIO_CMD_DMA_WRITE)) {
			if (c->withhold && c->nwithheld < 8) {
				c->withheld[c->nwithheld++] = *m;
				continue;
			}
			cf_serve_dma(c, m);
			cf_msg_free(m);
			deadline = now_ms() + c->timeout_ms;
			continue;
		}
		if (reply && m->h.msg_id == id)
			return 1;
		if (c->nstray < 4) {
			c->stray[c->nstray++] = *m;
			continue;
		}
		cf_msg_free(m);
	}
}

int cf_call(struct cf_conn *c, uint16_t cmd, const void *body, size_t len, const int *fds, int nfds,
	    struct cf_msg *m)
{
	int id = cf_send(c, cmd, 0, body, len, fds, nfds);
	if (id < 0) {
		memset(m, 0, sizeof(*m));
		c->closed = true;
		return 0;
	}
	return cf_wait(c, (uint16_t)id, m);
}

static uint64_t json_u64(json_object *o, const char *key, uint64_t dflt)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v))
		return dflt;
	return (uint64_t)json_object_get_int64(v);
}

int cf_negotiate(struct cf_conn *c, uint16_t minor, const char *json, struct cf_msg *rep)
{
	size_t jl = json ? strlen(json) + 1 : 0;
	if (rep)
		memset(rep, 0, sizeof(*rep));
	uint8_t *body = malloc(4 + jl);
	if (!body)
		return 0;
	struct uvfio_version v = {0, minor};
	memcpy(body, &v, 4);
	if (jl)
		memcpy(body + 4, json, jl);
	struct cf_msg m;
	int r = cf_call(c, UVFIO_CMD_VERSION, body, 4 + jl, NULL, 0, &m);
	free(body);
	if (r <= 0)
		return r;
	if (m.h.flags & UVFIO_FLAGS_ERROR || m.len < 4) {
		if (rep)
			*rep = m;
		else
			cf_msg_free(&m);
		return 0;
	}
	memcpy(&v, m.body, 4);
	c->minor = v.minor < minor ? v.minor : minor;
	if (m.len > 4) {
		json_object *o = json_tokener_parse((const char *)m.body + 4);
		json_object *caps = NULL;
		if (o)
			json_object_object_get_ex(o, "capabilities", &caps);
		c->max_msg_fds = (uint32_t)json_u64(caps, "max_msg_fds", UVFIO_DEFAULT_MAX_MSG_FDS);
		c->max_data_xfer = (uint32_t)json_u64(caps, "max_data_xfer_size",
						      UVFIO_DEFAULT_MAX_DATA_XFER_SIZE);
		c->max_dma_maps = json_u64(caps, "max_dma_maps", UVFIO_DEFAULT_MAX_DMA_MAPS);
		json_object *mig;
		c->migration = caps && json_object_object_get_ex(caps, "migration", &mig);
		json_object_put(o);
	}
	for (int i = 0; i < m.nfds; i++) /* a twin socket: not used by the tool */
		close(m.fds[i]);
	m.nfds = 0;
	if (rep)
		*rep = m;
	else
		cf_msg_free(&m);
	return 1;
}
