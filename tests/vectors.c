/* SPDX-License-Identifier: BSD-3-Clause */
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"
#include "testdev.h"
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
		peer_write(w->fd, w->buf + pos, e - pos, carry ? f->fds : NULL, carry ? f->nfds : 0);
		w->writes++;
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
	/* The sessions were recorded when the samples claimed vendor 0x1de5
	 * (devices/README.md): the bytes of configuration space must match. */
	const char *argv[20] = { path, fdarg, "--vendor=0x1de5", "--subsystem-vendor=0x1de5" };
	int argc = 4;
	for (int i = 0; args && args[i]; i++) {
		assert_true(argc < 19);
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

/* ---- Replaying a client's side against a server -------------------------- */

void vx_replay_init(struct vx_replay *q, const char *file, int fd, uint64_t seed)
{
	memset(q, 0, sizeof(*q));
	vx_load(file, &q->ses);
	q->fd = fd;
	q->ram = -1;
	vx_writer_init(&q->w, fd, seed);
	vx_rng_seed(&q->rng, seed * 31 + 7);
	q->buf = malloc(VX_BIG);
	assert_non_null(q->buf);
}

void vx_replay_free(struct vx_replay *q)
{
	vx_free(&q->ses);
	vx_writer_free(&q->w);
	free(q->buf);
	if (q->ram >= 0)
		close(q->ram);
}

/* Descriptors for a recorded message: guest RAM for DMA_MAP, new eventfds
 * for SET_IRQS. Returns how many. */
int vx_replay_fds(struct vx_replay *q, const struct vx_msg *m, int *fds)
{
	for (int i = 0; i < m->nfds; i++) {
		if (m->hdr.cmd == UVFIO_CMD_DMA_MAP) {
			assert_true(q->ram >= 0);
			fds[i] = dup(q->ram);
		} else {
			assert_int_equal(m->hdr.cmd, UVFIO_CMD_DEVICE_SET_IRQS);
			fds[i] = eventfd(0, EFD_CLOEXEC);
		}
		assert_true(fds[i] >= 0);
	}
	return m->nfds;
}

/* The capabilities of two VERSION replies, parsed: the JSON's spelling
 * may change, its meaning must not. */
/* VERSION replies a (ours) and b (recorded): 0 the same capabilities, 1
 * the same but for a "migration" object only ours has (our devices can be
 * migrated since issue 14; QEMU proposed it), -1 otherwise. */
static int version_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct uvfio_caps ca, cb;
	if (alen < 20 || blen < 20 || memcmp(a + 16, b + 16, 4) ||
	    uvfio_caps_parse((const char *)a + 20, alen - 20, &ca, NULL, 0) < 0 ||
	    uvfio_caps_parse((const char *)b + 20, blen - 20, &cb, NULL, 0) < 0)
		return -1;
	if (ca.max_msg_fds != cb.max_msg_fds || ca.max_data_xfer_size != cb.max_data_xfer_size ||
	    ca.max_dma_maps != cb.max_dma_maps || ca.pgsizes != cb.pgsizes ||
	    ca.write_multiple != cb.write_multiple || ca.twin_socket != cb.twin_socket)
		return -1;
	if (ca.migration == cb.migration)
		return 0;
	return ca.migration && !cb.migration ? 1 : -1;
}

/*
 * The one difference every recording of our devices has from today: they
 * now offer the ERR and REQ interrupts (count 1, eventfd) where the
 * recordings show none, as libvfio-user's devices do.
 */
static bool err_req_offered(const struct vx_msg *req, const struct vx_msg *rec,
			    const uint8_t *got, size_t len)
{
	struct vfio_irq_info in, was, now;
	if (req->hdr.cmd != UVFIO_CMD_DEVICE_GET_IRQ_INFO || len != 32 || rec->len != 32)
		return false;
	memcpy(&in, req->bytes + 16, sizeof(in));
	memcpy(&was, rec->bytes + 16, sizeof(was));
	memcpy(&now, got + 16, sizeof(now));
	return (in.index == VFIO_PCI_ERR_IRQ_INDEX || in.index == VFIO_PCI_REQ_IRQ_INDEX) &&
	       !memcmp(got, rec->bytes, 16) && was.count == 0 && now.count == 1 &&
	       now.flags == VFIO_IRQ_INFO_EVENTFD && now.index == in.index &&
	       now.argsz == was.argsz;
}

/* Offset of the PCI Express capability in configuration space, or 0. */
static unsigned pcie_cap(const uint8_t *cfg)
{
	unsigned p = cfg[0x34];
	for (int n = 0; n < 48 && p >= 0x40 && p < 0xff; n++, p = cfg[p + 1])
		if (cfg[p] == 0x10)
			return p;
	return 0;
}

/*
 * And since issue 13b our devices advertise Function Level Reset (bit 28 of
 * the PCI Express Device Capabilities), which the recordings have clear: a
 * configuration read differing only by that bit. The capability's offset
 * is learnt from the recorded read of the whole space.
 */
static bool flr_offered(struct vx_replay *q, const struct vx_msg *req, const struct vx_msg *rec,
			const uint8_t *got, size_t len)
{
	struct uvfio_region_access a;
	if (req->hdr.cmd != UVFIO_CMD_REGION_READ || req->len != 32 || rec->len != len)
		return false;
	memcpy(&a, req->bytes + 16, sizeof(a));
	if (a.region != VFIO_PCI_CONFIG_REGION_INDEX)
		return false;
	if (a.offset == 0 && a.count >= 256)
		q->pcie_cap = pcie_cap(rec->bytes + 32);
	uint64_t flr = q->pcie_cap + 4 + 3; /* the byte of bit 28 */
	if (!q->pcie_cap || flr < a.offset || flr - a.offset >= a.count)
		return false;
	size_t at = 32 + (size_t)(flr - a.offset);
	return !memcmp(got, rec->bytes, at) && !(rec->bytes[at] & 0x10) &&
	       got[at] == (rec->bytes[at] | 0x10) &&
	       !memcmp(got + at + 1, rec->bytes + at + 1, len - at - 1);
}

/* Read until the reply to req arrives, answering the device's requests. */
static void replay_await(struct vx_replay *q, const struct vx_msg *req)
{
	for (;;) {
		struct uvfio_hdr h;
		int fds[8], nfds = 0;
		assert_true(peer_recv(q->fd, &h, q->buf + 16, VX_BIG - 16, fds, &nfds) > 0);
		memcpy(q->buf, &h, 16);
		if ((h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_COMMAND) {
			assert_non_null(q->request);
			assert_int_equal(nfds, 0);
			q->request(q, &h, q->buf + 16);
			continue;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (h.msg_id != req->hdr.msg_id)
			fail_msg("reply id %u while waiting for %u", h.msg_id, req->hdr.msg_id);
		q->replies++;
		const struct vx_msg *rec = vx_find(&q->ses, false, h.msg_id, UVFIO_FLAGS_TYPE_REPLY);
		assert_non_null(rec);
		bool same = rec->len == h.msg_size && !memcmp(rec->bytes, q->buf, rec->len) &&
			    rec->nfds == nfds;
		int vd = !same && h.cmd == UVFIO_CMD_VERSION
				 ? version_diff(q->buf, h.msg_size, rec->bytes, rec->len)
				 : -1;
		same = same || vd == 0;
		if (!same && (vd == 1 || err_req_offered(req, rec, q->buf, h.msg_size) ||
			      flr_offered(q, req, rec, q->buf, h.msg_size))) {
			same = true;
			q->newer++;
		}
		if (!same) {
			q->differed++;
			size_t at = 0;
			while (at < rec->len && at < h.msg_size && rec->bytes[at] == q->buf[at])
				at++;
			if (!q->differs || !q->differs(q, req, q->buf, h.msg_size))
				fail_msg("reply %u (%s, %u bytes, %d fds) differs from the recorded one "
					 "(%zu bytes, %d fds) from byte %zu (%#x, recorded %#x)",
					 h.msg_id, uvfio_cmd_name(h.cmd), h.msg_size, nfds, rec->len,
					 rec->nfds, at, at < h.msg_size ? q->buf[at] : 0,
					 at < rec->len ? rec->bytes[at] : 0);
		}
		if (q->after)
			q->after(q, req);
		return;
	}
}

/* Send the client's side in random groups of 1-4 messages, written in
 * random pieces, and check every reply. */
void vx_replay_run(struct vx_replay *q)
{
	const struct vx_msg *group[4];
	size_t i = 0;
	while (i < q->ses.n) {
		unsigned g = 0, want = 1 + (unsigned)vx_rand(&q->rng, 4);
		int made[64], nmade = 0;
		for (; i < q->ses.n && g < want; i++) {
			const struct vx_msg *m = &q->ses.m[i];
			/* the client's replies answer the device's requests (q->request) */
			if (!m->from_client ||
			    (m->hdr.flags & UVFIO_FLAGS_TYPE_MASK) != UVFIO_FLAGS_TYPE_COMMAND)
				continue;
			if (q->before)
				q->before(q, m);
			int fds[VX_MAX_FDS], n = vx_replay_fds(q, m, fds);
			vx_put(&q->w, m->bytes, m->len, fds, n);
			for (int k = 0; k < n; k++)
				made[nmade++] = fds[k];
			group[g++] = m;
		}
		vx_flush(&q->w);
		for (int k = 0; k < nmade; k++)
			close(made[k]);
		for (unsigned k = 0; k < g; k++)
			if (!(group[k]->hdr.flags & UVFIO_FLAGS_NO_REPLY))
				replay_await(q, group[k]);
	}
}

/* The reply to a recorded region read of at most 8 bytes, returning v. */
bool vx_read_returns(const struct vx_msg *req, const uint8_t *got, size_t len, uint64_t v)
{
	struct uvfio_region_access a;
	struct uvfio_hdr h;
	if (req->hdr.cmd != UVFIO_CMD_REGION_READ || req->len != 32)
		return false;
	memcpy(&a, req->bytes + 16, sizeof(a));
	memcpy(&h, got, 16);
	return req->hdr.cmd == UVFIO_CMD_REGION_READ && a.count <= 8 && len == 32 + a.count &&
	       h.flags == UVFIO_FLAGS_TYPE_REPLY && !memcmp(got + 16, req->bytes + 16, 16) &&
	       !memcmp(got + 32, &v, a.count);
}

/* Replies recorded from the server. */
unsigned vx_recorded_replies(const struct vx_session *s)
{
	unsigned n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += !s->m[i].from_client &&
		     (s->m[i].hdr.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY;
	return n;
}

/* Send one message built here through the writer and return its reply
 * (body in q->buf), answering nothing (no DMA is under way). */
struct uvfio_hdr vx_call(struct vx_replay *q, const void *msg, size_t len)
{
	struct uvfio_hdr h;
	vx_put(&q->w, msg, len, NULL, 0);
	vx_flush(&q->w);
	assert_true(peer_recv(q->fd, &h, q->buf, VX_BIG, NULL, NULL) > 0);
	assert_int_equal(h.msg_id, ((const struct uvfio_hdr *)msg)->msg_id);
	return h;
}

void vx_call_ok(struct vx_replay *q, const void *msg, size_t len)
{
	struct uvfio_hdr h = vx_call(q, msg, len);
	assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY);
}

/* A REGION_READ of count bytes as QEMU sends it; returns the value. */
uint64_t vx_region_read(struct vx_replay *q, uint16_t id, uint32_t region, uint64_t off,
			    uint32_t count)
{
	uint8_t m[32];
	struct uvfio_hdr h = { .msg_id = id, .cmd = UVFIO_CMD_REGION_READ, .msg_size = 32 };
	struct uvfio_region_access a = { .offset = off, .region = region, .count = count };
	memcpy(m, &h, 16);
	memcpy(m + 16, &a, 16);
	h = vx_call(q, m, sizeof(m));
	assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY);
	assert_int_equal(h.msg_size, 32 + count);
	uint64_t v = 0;
	memcpy(&v, q->buf + 16, count);
	return v;
}

/* A testdev client that opened with QEMU's recorded VERSION. */
struct testdev *vx_qemu_testdev(struct vx_replay *q, const char *file, uint64_t seed)
{
	struct testdev *d = testdev_start(NULL);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, d->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	vx_replay_init(q, file, fd, seed);
	const struct vx_msg *ver = vx_find(&q->ses, true, 0, UVFIO_FLAGS_TYPE_COMMAND);
	assert_int_equal(ver->hdr.cmd, UVFIO_CMD_VERSION);
	vx_call_ok(q, ver->bytes, ver->len);
	return d;
}
