/* SPDX-License-Identifier: BSD-3-Clause */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"
#include "uvfio/client.h"
#include "util.h"

static void *run(void *arg)
{
	struct peer *p = arg;
	p->fn(p);
	return NULL;
}

struct peer *peer_start(peer_fn fn, void *arg)
{
	struct peer *p = calloc(1, sizeof(*p));
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	p->fd = sv[0];
	p->other = sv[1];
	p->fn = fn;
	p->arg = arg;
	p->result = -1;
	pthread_create(&p->thread, NULL, run, p);
	return p;
}

int peer_join(struct peer *p)
{
	pthread_join(p->thread, NULL);
	int r = p->result;
	if (p->fd >= 0)
		close(p->fd);
	if (p->other >= 0)
		close(p->other);
	free(p);
	return r;
}

size_t peer_read_full(int fd, void *buf, size_t len, int *fds, int *nfds)
{
	size_t got = 0;
	while (got < len) {
		char cbuf[CMSG_SPACE(16 * sizeof(int))];
		struct iovec iov = { (uint8_t *)buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return got;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int fd2;
				memcpy(&fd2, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (fds && nfds)
					fds[(*nfds)++] = fd2;
				else
					close(fd2);
			}
		}
		got += (size_t)n;
	}
	return got;
}

size_t peer_recv(int fd, struct uvfio_hdr *h, uint8_t *body, size_t cap, int *fds, int *nfds)
{
	if (nfds)
		*nfds = 0;
	if (peer_read_full(fd, h, sizeof(*h), fds, nfds) < sizeof(*h))
		return 0;
	size_t len = h->msg_size - sizeof(*h);
	if (len > cap)
		abort();
	if (peer_read_full(fd, body, len, fds, nfds) < len)
		return 0;
	return h->msg_size;
}

/* UVFIO_PEER_TAP=FILE appends every write to FILE (u32 length, u8 descriptor
 * count, the bytes): the trace tests replay the suites' hostile streams. The
 * file is opened before any test runs, so descriptor counts stay steady. */
static int tap_fd = -1;

__attribute__((constructor)) static void tap_open(void)
{
	const char *path = getenv("UVFIO_PEER_TAP");
	if (path)
		tap_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

static void tap(const void *buf, size_t len, int nfds)
{
	uint8_t *rec = tap_fd >= 0 ? malloc(len + 5) : NULL;
	if (!rec)
		return;
	uint32_t n = (uint32_t)len;
	memcpy(rec, &n, 4);
	rec[4] = (uint8_t)nfds;
	memcpy(rec + 5, buf, len);
	/* one write with O_APPEND: records of several peer threads do not mix */
	if (write(tap_fd, rec, len + 5) != (ssize_t)(len + 5)) {
		/* a test of the trace notices what is missing */
	}
	free(rec);
}

bool peer_write(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	tap(buf, len, nfds);
	char cbuf[CMSG_SPACE(16 * sizeof(int))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	/* the other side may be gone: tests check that */
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)len;
}

void peer_reply(int fd, const struct uvfio_hdr *h, const void *body, size_t len)
{
	uint8_t buf[65536];
	struct uvfio_hdr r = { .msg_id = h->msg_id, .cmd = h->cmd,
			       .msg_size = (uint32_t)(sizeof(r) + len),
			       .flags = UVFIO_FLAGS_TYPE_REPLY };
	memcpy(buf, &r, sizeof(r));
	if (len)
		memcpy(buf + sizeof(r), body, len);
	peer_write(fd, buf, sizeof(r) + len, NULL, 0);
}

void peer_version(int fd, uint16_t minor, const char *json)
{
	struct uvfio_hdr h;
	uint8_t body[4096];
	if (!peer_recv(fd, &h, body, sizeof(body), NULL, NULL))
		return;
	uint8_t rep[4096];
	struct uvfio_version v = { .major = 0, .minor = minor };
	memcpy(rep, &v, sizeof(v));
	size_t len = sizeof(v);
	if (json) {
		memcpy(rep + len, json, strlen(json) + 1);
		len += strlen(json) + 1;
	}
	peer_reply(fd, &h, rep, len);
}

size_t peer_read_reply(const struct uvfio_hdr *h, const uint8_t *req, uint32_t v, uint8_t *out)
{
	struct uvfio_hdr r = { .msg_id = h->msg_id, .cmd = h->cmd, .msg_size = 16 + 16 + 4,
			       .flags = UVFIO_FLAGS_TYPE_REPLY };
	memcpy(out, &r, 16);
	memcpy(out + 16, req, 16);
	memcpy(out + 32, &v, 4);
	return 36;
}

struct uvfio_client *peer_client(struct peer *p, const struct uvfio_client_config *cfg)
{
	struct uvfio_client *c = NULL;
	int fd = p->other;
	p->other = -1;
	assert_int_equal(uvfio_client_adopt(fd, cfg, &c), 0);
	return c;
}
