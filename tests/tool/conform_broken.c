/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scripted broken peers for test_conform, one defect each.
 *
 *   conform-broken server DEFECT SOCKET
 *     a relay in front of the test device (tests/testdev.c) that passes
 *     every message on both ways, except one input it gets wrong:
 *       crash   REGION_READ whose offset + count overflows: SIGSEGV
 *       hang    DEVICE_GET_IRQ_INFO of an index past the device's: silence
 *       leak    DEVICE_GET_INFO with a descriptor: a copy of it kept
 *       wrong   DEVICE_GET_REGION_INFO of region 7: the reply names region 6
 *       accept  SET_IRQS with an unknown flag: a success reply
 *   conform-broken client DEFECT SOCKET
 *     a raw client (VERSION, DEVICE_GET_INFO, every region's info, 4 bytes
 *     of configuration space) with a 500 ms reply timeout, except:
 *       crash   a DEVICE_GET_INFO reply with more than 64 regions: SIGSEGV
 *       hang    no reply timeout: it waits for ever
 *       leak    descriptors that came with a region info reply are kept
 *       wrong   a DMA_READ answered as if it were a DMA_WRITE
 *       accept  a VERSION reply of major version 1 taken as good
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "peer.h"
#include "uvfio/protocol.h"

#include "testdev.h"

static const char *defect;

static bool is(const char *d)
{
	return !strcmp(defect, d);
}

struct msg {
	struct uvfio_hdr h;
	uint8_t body[70000];
	int fds[16];
	int nfds;
};

/* One whole message within ms (-1: no limit): 1, 0 at a close or a broken
 * message, -1 at the timeout. The size is checked before the body is read:
 * nothing waits for a GiB. */
static int get(int fd, struct msg *m, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	int r = poll(&p, 1, ms);
	if (r == 0)
		return -1;
	m->nfds = 0;
	if (r < 0 || peer_read_full(fd, &m->h, 16, m->fds, &m->nfds) < 16 || m->h.msg_size < 16 ||
	    m->h.msg_size > sizeof(m->body) + 16)
		return 0;
	size_t len = m->h.msg_size - 16;
	return peer_read_full(fd, m->body, len, m->fds, &m->nfds) == len ? 1 : 0;
}

static void put(int fd, const struct msg *m)
{
	uint8_t *buf = malloc(m->h.msg_size);
	memcpy(buf, &m->h, 16);
	memcpy(buf + 16, m->body, m->h.msg_size - 16);
	peer_write(fd, buf, m->h.msg_size, m->fds, m->nfds);
	free(buf);
}

static void close_fds(struct msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

/* ---- the server ---- */

static struct msg in;

/* A message from the client: false if the defect took it. */
static bool client_msg(int cfd, struct msg *m)
{
	uint32_t u32;
	if (m->h.cmd == UVFIO_CMD_REGION_READ && is("crash")) {
		struct uvfio_region_access a;
		memcpy(&a, m->body, sizeof(a));
		if (a.offset > UINT64_MAX - a.count)
			signal(SIGSEGV, SIG_DFL), raise(SIGSEGV); /* past a sanitizer's handler */
	}
	if (m->h.cmd == UVFIO_CMD_DEVICE_GET_IRQ_INFO && is("hang")) {
		memcpy(&u32, m->body + 8, 4);
		if (m->h.msg_size >= 32 && u32 >= 5)
			for (;;)
				pause();
	}
	if (m->h.cmd == UVFIO_CMD_DEVICE_GET_INFO && is("leak") && m->nfds)
		(void)dup(m->fds[0]);
	if (m->h.cmd == UVFIO_CMD_DEVICE_SET_IRQS && is("accept")) {
		memcpy(&u32, m->body + 4, 4);
		if (u32 & (1u << 9)) {
			struct msg r = {.h = m->h};
			r.h.flags = UVFIO_FLAGS_TYPE_REPLY;
			r.h.msg_size = 16;
			put(cfd, &r);
			close_fds(m);
			return false;
		}
	}
	return true;
}

static void server_msg(struct msg *m)
{
	if (m->h.cmd == UVFIO_CMD_DEVICE_GET_REGION_INFO && is("wrong") &&
	    !(m->h.flags & UVFIO_FLAGS_ERROR) && m->h.msg_size >= 16 + 32) {
		uint32_t idx;
		memcpy(&idx, m->body + 8, 4);
		if (idx == 7) {
			idx = 6;
			memcpy(m->body + 8, &idx, 4);
		}
	}
}

static int serve(const char *path)
{
	struct testdev_opts o = {.no_twin_socket = true};
	struct testdev *d = testdev_start(&o);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un da = {.sun_family = AF_UNIX};
		snprintf(da.sun_path, sizeof(da.sun_path), "%s", d->path);
		if (connect(s, (struct sockaddr *)&da, sizeof(da)) < 0)
			return 1;
		for (;;) {
			struct pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
			if (poll(p, 2, -1) < 0)
				break;
			if (p[0].revents) {
				if (get(c, &in, 0) <= 0)
					break;
				if (client_msg(c, &in))
					put(s, &in);
				close_fds(&in);
			}
			if (p[1].revents) {
				if (get(s, &in, 0) <= 0)
					break;
				server_msg(&in);
				put(c, &in);
				close_fds(&in);
			}
		}
		close(c);
		close(s);
	}
}

/* ---- the client ---- */

static int cfd;
static uint16_t next_id = 1;
static struct msg rep;

/* Send a request, answer the server's requests, return its reply (NULL on
 * a timeout, a close or an error reply). */
static struct msg *call(uint16_t cmd, const void *body, size_t len)
{
	struct msg *q = &in;
	q->h = (struct uvfio_hdr){
		.msg_id = next_id++, .cmd = cmd, .msg_size = (uint32_t)(16 + len)};
	memcpy(q->body, body, len);
	q->nfds = 0;
	put(cfd, q);
	for (;;) {
		if (get(cfd, &rep, is("hang") ? -1 : 500) <= 0)
			return NULL;
		if (!is("leak") || rep.h.cmd != UVFIO_CMD_DEVICE_GET_REGION_INFO)
			close_fds(&rep);
		if ((rep.h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_COMMAND) {
			struct msg e = {.h = rep.h};
			e.h.flags = UVFIO_FLAGS_TYPE_REPLY | UVFIO_FLAGS_ERROR;
			e.h.error_no = EFAULT;
			e.h.msg_size = 16;
			if (is("wrong") && rep.h.cmd == UVFIO_CMD_DMA_READ)
				e.h.cmd = UVFIO_CMD_DMA_WRITE;
			put(cfd, &e);
			continue;
		}
		if (rep.h.msg_id != q->h.msg_id || rep.h.cmd != cmd ||
		    rep.h.flags & UVFIO_FLAGS_ERROR)
			return NULL;
		return &rep;
	}
}

static int client(const char *path)
{
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(cfd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 3;
	signal(SIGPIPE, SIG_IGN);
	uint8_t b[64] = {0, 0, 1, 0};
	const char *j = "{\"capabilities\":{\"max_msg_fds\":8}}";
	memcpy(b + 4, j, strlen(j) + 1);
	struct msg *r = call(UVFIO_CMD_VERSION, b, 4 + strlen(j) + 1);
	if (!r || r->h.msg_size < 20)
		return 3;
	struct uvfio_version v;
	memcpy(&v, r->body, 4);
	if (v.major != 0 && !is("accept"))
		return 3;
	json_object *caps = r->h.msg_size > 20 ? json_tokener_parse((char *)r->body + 4) : NULL;
	if (!caps || !json_object_is_type(caps, json_type_object) || r->body[r->h.msg_size - 17])
		return 3;
	json_object_put(caps);
	struct uvfio_device_info di = {.argsz = 16};
	if (!(r = call(UVFIO_CMD_DEVICE_GET_INFO, &di, 16)) || r->h.msg_size < 32)
		return 4;
	memcpy(&di, r->body, 16);
	if (di.num_regions > 64) {
		if (is("crash"))
			signal(SIGSEGV, SIG_DFL), raise(SIGSEGV); /* past a sanitizer's handler */
		return 4;
	}
	for (uint32_t i = 0; i < di.num_regions; i++) {
		struct vfio_region_info ri = {.argsz = sizeof(ri), .index = i};
		if (!call(UVFIO_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri)))
			return 4;
	}
	struct uvfio_region_access ra = {.offset = 0, .region = 7, .count = 4};
	if (!(r = call(UVFIO_CMD_REGION_READ, &ra, sizeof(ra))) || r->h.msg_size != 16 + 16 + 4)
		return 4;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: conform-broken server|client DEFECT SOCKET\n");
		return 2;
	}
	defect = argv[2];
	return !strcmp(argv[1], "server") ? serve(argv[3]) : client(argv[3]);
}
