/* SPDX-License-Identifier: BSD-3-Clause */
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "vectors.h"

extern char **environ;

#define VU_TEST_MIN(a, b) ((a) < (b) ? (a) : (b))

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *x;
	return json_object_object_get_ex(o, key, &x) ? json_object_get_string(x) : NULL;
}

void vx_load(const char *name, struct vx_session *s)
{
	struct json_object *o = tu_load_vectors(name), *msgs, *chunks;
	assert_true(json_object_object_get_ex(o, "messages", &msgs));
	size_t n = json_object_array_length(msgs);
	s->m = calloc(n, sizeof(*s->m));
	s->n = n;
	assert_non_null(s->m);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(msgs, i);
		struct vx_msg *m = &s->m[i];
		m->from_client = !strcmp(get_str(e, "dir"), "client->server");
		m->len = tu_unhex(get_str(e, "hex"), &m->bytes);
		assert_true(m->len >= sizeof(m->hdr));
		memcpy(&m->hdr, m->bytes, sizeof(m->hdr));
		assert_int_equal(m->hdr.msg_size, m->len);
	}
	/* A read's descriptors belong to the message holding its last byte. */
	if (json_object_object_get_ex(o, "chunks", &chunks)) {
		for (int dir = 0; dir < 2; dir++) {
			uint64_t pos = 0, end = 0;
			size_t k = 0;
			for (size_t i = 0; i < json_object_array_length(chunks); i++) {
				struct json_object *c = json_object_array_get_idx(chunks, i), *x;
				if (!strcmp(get_str(c, "dir"), "client->server") != !dir)
					continue;
				if (json_object_object_get_ex(c, "bytes", &x))
					pos += (uint64_t)json_object_get_int64(x);
				else
					pos += strlen(get_str(c, "hex")) / 2;
				int nfds = json_object_object_get_ex(c, "fds", &x) ? json_object_get_int(x)
										   : 0;
				while (k < n && (s->m[k].from_client != !dir || end + s->m[k].len < pos)) {
					if (s->m[k].from_client == !dir)
						end += s->m[k].len;
					k++;
				}
				if (nfds) {
					assert_true(k < n);
					s->m[k].nfds += nfds;
				}
			}
		}
	}
	json_object_put(o);
}

void vx_free(struct vx_session *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->m[i].bytes);
	free(s->m);
	s->m = NULL;
	s->n = 0;
}

const struct vx_msg *vx_find(const struct vx_session *s, bool from_client, uint16_t id,
			     uint32_t type)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->m[i].from_client == from_client && s->m[i].hdr.msg_id == id &&
		    (s->m[i].hdr.flags & UVFIO_FLAGS_TYPE_MASK) == type)
			return &s->m[i];
	return NULL;
}

void vx_rng_seed(struct vx_rng *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t vx_rand(struct vx_rng *r, uint64_t below)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	uint64_t v = r->s * 0x2545f4914f6cdd1dull;
	return below ? v % below : v;
}

void vx_writer_init(struct vx_writer *w, int fd, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	vx_rng_seed(&w->rng, seed);
}

void vx_writer_free(struct vx_writer *w)
{
	free(w->buf);
	w->buf = NULL;
}

void vx_put(struct vx_writer *w, const void *msg, size_t len, const int *fds, int nfds)
{
	if (w->len + len > w->cap) {
		w->cap = (w->len + len) * 2;
		w->buf = realloc(w->buf, w->cap);
		assert_non_null(w->buf);
	}
	if (nfds) {
		assert_true(w->nfdm < sizeof(w->fdm) / sizeof(w->fdm[0]) && nfds <= VX_MAX_FDS);
		assert_true(len <= 4096);
		struct vx_fdmsg *f = &w->fdm[w->nfdm++];
		f->start = w->len;
		f->end = w->len + len;
		f->nfds = nfds;
		memcpy(f->fds, fds, (size_t)nfds * sizeof(int));
	}
	memcpy(w->buf + w->len, msg, len);
	w->len += len;
}

static void write_piece(struct vx_writer *w, const uint8_t *p, size_t len, const int *fds,
			int nfds)
{
	char cbuf[CMSG_SPACE(VX_MAX_FDS * sizeof(int))];
	while (len) {
		struct iovec iov = { (void *)p, len };
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
		ssize_t n = sendmsg(w->fd, &mh, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the other side is gone: the test sees that */
		w->writes++;
		p += n;
		len -= (size_t)n;
		nfds = 0;
	}
}

void vx_flush(struct vx_writer *w)
{
	size_t pos = 0;
	unsigned k = 0; /* next message with descriptors */
	while (pos < w->len) {
		uint64_t pick = vx_rand(&w->rng, 10);
		size_t piece = pick < 4	  ? 1 + vx_rand(&w->rng, 24)
			       : pick < 8 ? 1 + vx_rand(&w->rng, 4096)
					  : w->len - pos;
		size_t e = VU_TEST_MIN(pos + piece, w->len);
		const struct vx_fdmsg *f = k < w->nfdm ? &w->fdm[k] : NULL;
		bool carry = false;
		if (f && e > f->start) {
			if (f->start > pos && e - pos > 4096) {
				e = f->start; /* too long to carry them: stop before */
			} else {
				e = VU_TEST_MIN(e, f->end); /* ends inside its message */
				carry = true;
			}
		}
		write_piece(w, w->buf + pos, e - pos, carry ? f->fds : NULL, carry ? f->nfds : 0);
		if (carry)
			k++;
		pos = e;
	}
	w->len = 0;
	w->nfdm = 0;
}

pid_t vx_spawn(const char *prog, const char *const *args, int *fd, int *errfd)
{
	int sv[2], ep[2] = { -1, -1 };
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	if (errfd)
		assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	char path[4096], fdarg[32];
	snprintf(path, sizeof(path), "%s/%s", UVFIO_BUILD_ROOT, prog);
	snprintf(fdarg, sizeof(fdarg), "--fd=3");
	const char *argv[16] = { path, fdarg };
	int argc = 2;
	for (int i = 0; args && args[i]; i++) {
		assert_true(argc < 15);
		argv[argc++] = args[i];
	}
	argv[argc] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	if (errfd)
		posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	pid_t pid;
	assert_int_equal(posix_spawn(&pid, path, &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (errfd) {
		close(ep[1]);
		*errfd = ep[0];
	}
	*fd = sv[0];
	return pid;
}

int vx_wait(pid_t pid)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *vx_slurp(int fd)
{
	size_t len = 0, cap = 4096;
	char *b = malloc(cap);
	assert_non_null(b);
	for (;;) {
		if (len + 1 >= cap)
			assert_non_null(b = realloc(b, cap *= 2));
		ssize_t n = read(fd, b + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	b[len] = 0;
	return b;
}
