/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"
#include "rawclient.h"
#include "util.h"

static unsigned seed = 13;
static uint16_t next_id = 1;

/* One to three non-empty writes; the descriptors ride on one of them. */
static void send_split(int fd, const uint8_t *msg, size_t len, const int *fds, int nfds)
{
	size_t cut[3];
	unsigned pieces = 0;
	for (unsigned want = 1 + (unsigned)rand_r(&seed) % 3; pieces + 1 < want; pieces++)
		cut[pieces] = 1 + (size_t)rand_r(&seed) % (len - 1);
	if (pieces == 2 && cut[0] > cut[1]) {
		size_t t = cut[0];
		cut[0] = cut[1];
		cut[1] = t;
	}
	if (pieces == 2 && cut[0] == cut[1])
		pieces = 1;
	cut[pieces++] = len;
	unsigned with_fds = (unsigned)rand_r(&seed) % pieces;
	size_t at = 0;
	for (unsigned i = 0; i < pieces; i++) {
		peer_write(fd, msg + at, cut[i] - at, i == with_fds ? fds : NULL,
			   i == with_fds ? nfds : 0);
		at = cut[i];
	}
}

void raw_send(int fd, uint16_t cmd, uint32_t flags, const void *body, size_t len, const int *fds,
	      int nfds)
{
	static uint8_t msg[16 + 70000];
	assert_true(len <= sizeof(msg) - 16);
	struct uvfio_hdr h = { .msg_id = next_id++, .cmd = cmd, .msg_size = (uint32_t)(16 + len),
			       .flags = flags };
	memcpy(msg, &h, 16);
	if (len)
		memcpy(msg + 16, body, len);
	send_split(fd, msg, 16 + len, fds, nfds);
}

int raw_call(struct uvfio_server *s, int fd, uint16_t cmd, const void *body, size_t len,
	     const int *fds, int nfds, struct raw_reply *rep)
{
	static struct raw_reply scratch;
	struct raw_reply *r = rep ? rep : &scratch;
	uint16_t id = next_id;
	raw_send(fd, cmd, 0, body, len, fds, nfds);
	uvfio_server_dispatch(s);
	r->nfds = 0;
	if (!peer_recv(fd, &r->hdr, r->body, sizeof(r->body), r->fds, &r->nfds))
		return -1;
	r->len = r->hdr.msg_size - 16;
	if (!rep)
		raw_reply_close(r);
	assert_int_equal(r->hdr.msg_id, id);
	return r->hdr.flags & UVFIO_FLAGS_ERROR ? (int)r->hdr.error_no : 0;
}

void raw_listen(struct uvfio_server *s, char path[108])
{
	static int seq;
	snprintf(path, 108, "/tmp/uvfio-rawtest-%d-%d.sock", getpid(), seq++);
	unlink(path);
	assert_int_equal(uvfio_server_listen(s, path), 0);
}

void raw_reply_close(struct raw_reply *rep)
{
	for (int i = 0; i < rep->nfds; i++)
		close(rep->fds[i]);
	rep->nfds = 0;
}

int raw_connect(struct uvfio_server *s, const char *caps)
{
	return raw_connect_twin(s, caps, NULL);
}

int raw_connect_twin(struct uvfio_server *s, const char *caps, int *twin)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(uvfio_server_adopt(s, sv[1]), 0);
	char body[512];
	struct uvfio_version v = { 0, 1 };
	memcpy(body, &v, 4);
	int n = snprintf(body + 4, sizeof(body) - 4, "{%s%s}", caps ? "\"capabilities\":" : "",
			 caps ? caps : "");
	struct raw_reply rep;
	assert_int_equal(raw_call(s, sv[0], UVFIO_CMD_VERSION, body, 4 + (size_t)n + 1, NULL, 0,
				  &rep),
			 0);
	if (twin) {
		*twin = rep.nfds ? rep.fds[0] : -1;
		rep.nfds = 0;
	}
	raw_reply_close(&rep); /* a twin socket, if the server offered one */
	uint16_t cmd = 0x0004; /* Bus Master Enable, as a driver sets it */
	assert_int_equal(raw_region_write(s, sv[0], VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2), 0);
	return sv[0];
}

int raw_region_read(struct uvfio_server *s, int fd, uint32_t region, uint64_t off, void *buf,
		    uint32_t count)
{
	struct uvfio_region_access a = { .offset = off, .region = region, .count = count };
	struct raw_reply rep;
	int r = raw_call(s, fd, UVFIO_CMD_REGION_READ, &a, sizeof(a), NULL, 0, &rep);
	if (r == 0) {
		assert_int_equal(rep.len, sizeof(a) + count);
		memcpy(buf, rep.body + sizeof(a), count);
	}
	return r;
}

int raw_region_write(struct uvfio_server *s, int fd, uint32_t region, uint64_t off,
		     const void *buf, uint32_t count)
{
	uint8_t body[sizeof(struct uvfio_region_access) + 4096];
	struct uvfio_region_access a = { .offset = off, .region = region, .count = count };
	assert_true(count <= 4096);
	memcpy(body, &a, sizeof(a));
	memcpy(body + sizeof(a), buf, count);
	return raw_call(s, fd, UVFIO_CMD_REGION_WRITE, body, sizeof(a) + count, NULL, 0, NULL);
}
