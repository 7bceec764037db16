/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The relay and the offline reader against hostile streams: every write the
 * scripted peers of the malformed-input suites make (recorded through
 * UVFIO_PEER_TAP, tests/peer.c), every fuzz corpus file, and the vectors cut
 * anywhere. Each stream is written through an in-process relay in random
 * pieces (deterministic seeds), with descriptors on random writes. The relay
 * must pass every byte and descriptor on unchanged, end cleanly, keep no
 * descriptor, and its pcap must read back into the lines it printed. A
 * stalled server shows the bound on what the relay holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"
#include "trace.h"
#include "trace_vec.h"
#include "util.h"

extern char **environ;

struct chunk {
	uint8_t *buf;
	size_t len;
	unsigned nfds;
};

/* ---- The relay in a thread, a drain on the far side ---- */

struct relay {
	struct trace_session *t;
	int near_end, far_end; /* ours: we write near, the drain reads far */
	pthread_t thread, drain;
	int ret;
	const char *why;
	int client, server;
	/* what arrived on the far side */
	uint8_t *got;
	size_t got_len, got_cap;
	unsigned got_fds;
	bool stall; /* the drain waits until told */
	volatile int go;
};

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	struct proxy_opts o = { 0 };
	r->ret = proxy_session(r->client, r->server, r->t, &o, &r->why);
	return NULL;
}

static void *drain_thread(void *arg)
{
	struct relay *r = arg;
	while (r->stall && !__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
		usleep(1000);
	for (;;) {
		if (r->got_cap - r->got_len < 65536) {
			r->got_cap = r->got_cap * 2 + 65536;
			r->got = realloc(r->got, r->got_cap);
		}
		char cbuf[CMSG_SPACE(253 * sizeof(int))];
		struct iovec iov = { r->got + r->got_len, r->got_cap - r->got_len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(r->far_end, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(fd);
				r->got_fds++;
			}
		}
		r->got_len += (size_t)n;
	}
	close(r->far_end);
	return NULL;
}

/* Start a relay; dir: the side we play (TRACE_C2S: the client). */
static void relay_start(struct relay *r, uint8_t dir, struct trace_session *t, bool stall)
{
	memset(r, 0, sizeof(*r));
	int c[2], s[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	r->t = t;
	r->client = c[1];
	r->server = s[1];
	r->near_end = dir == TRACE_C2S ? c[0] : s[0];
	r->far_end = dir == TRACE_C2S ? s[0] : c[0];
	r->stall = stall;
	pthread_create(&r->thread, NULL, relay_thread, r);
	pthread_create(&r->drain, NULL, drain_thread, r);
}

static void relay_finish(struct relay *r)
{
	shutdown(r->near_end, SHUT_WR);
	__atomic_store_n(&r->go, 1, __ATOMIC_RELEASE);
	pthread_join(r->drain, NULL);
	pthread_join(r->thread, NULL);
	close(r->near_end);
	assert_int_equal(r->ret, 0);
}

/* Write one piece, with nf new eventfds. */
static bool send_piece(int fd, const uint8_t *b, size_t len, int nf)
{
	int efd[8];
	for (int k = 0; k < nf; k++)
		efd[k] = eventfd(0, EFD_CLOEXEC);
	bool ok = peer_write(fd, b, len, efd, nf);
	for (int k = 0; k < nf; k++)
		close(efd[k]);
	return ok;
}

/* Write a stream: each chunk cut in up to four random pieces, and chunks
 * run together at random (coalesced into one write); a chunk's descriptors
 * ride on one of its pieces. Returns false if the relay stopped taking it. */
static bool feed(int fd, const struct chunk *c, size_t n, unsigned *seed, unsigned *fds_sent)
{
	uint8_t *glue = NULL;
	size_t glen = 0;
	for (size_t i = 0; i < n; i++) {
		if (!c[i].len)
			continue;
		if (!c[i].nfds && c[i].len < 4096 && rand_r(seed) % 3 == 0) {
			glue = realloc(glue, glen + c[i].len); /* coalesce with the next */
			memcpy(glue + glen, c[i].buf, c[i].len);
			glen += c[i].len;
			continue;
		}
		if (glen && !send_piece(fd, glue, glen, 0))
			goto stopped;
		glen = 0;
		unsigned pieces = 1 + (unsigned)rand_r(seed) % 4, fdp = (unsigned)rand_r(seed) % pieces;
		bool fds_done = !c[i].nfds;
		size_t off = 0;
		for (unsigned k = 0; off < c[i].len; k++) {
			size_t len = k + 1 >= pieces ? c[i].len - off
						     : 1 + (size_t)rand_r(seed) % (c[i].len - off);
			int nf = 0;
			if (!fds_done && (k == fdp || off + len == c[i].len))
				nf = c[i].nfds > 8 ? 8 : (int)c[i].nfds;
			if (!send_piece(fd, c[i].buf + off, len, nf))
				goto stopped;
			*fds_sent += (unsigned)nf;
			fds_done = fds_done || nf;
			off += len;
		}
	}
	if (glen && !send_piece(fd, glue, glen, 0))
		goto stopped;
	free(glue);
	return true;
stopped:
	free(glue);
	return false;
}

/* One hostile stream through the relay: all of it arrives unchanged, the
 * pcap reads back into the printed lines. */
static void hostile(uint8_t dir, const struct chunk *c, size_t n, unsigned seed)
{
	char *live = NULL, *pc = NULL, *back = NULL;
	size_t live_len = 0, pc_len = 0, back_len = 0;
	FILE *out = open_memstream(&live, &live_len), *pf = open_memstream(&pc, &pc_len);
	struct pcap_writer *w = pcap_open_write(pf, TRACE_SNAPLEN_DEFAULT);
	bool json = seed % 2, hex = seed % 3 == 0;
	struct trace_opts o = { .out = out, .json = json, .hexdump = hex, .pcap = w };
	struct trace_session *t = trace_session_new(&o);
	struct relay r;
	relay_start(&r, dir, t, false);
	unsigned fds_sent = 0;
	bool all = feed(r.near_end, c, n, &seed, &fds_sent);
	relay_finish(&r);
	size_t want = 0;
	for (size_t i = 0; i < n; i++)
		want += c[i].len;
	if (!all)
		fail_msg("the relay stopped taking the stream (%s)", r.why);
	{
		assert_int_equal(r.got_len, want);
		for (size_t i = 0, off = 0; i < n; off += c[i++].len)
			if (memcmp(r.got + off, c[i].buf, c[i].len))
				fail_msg("chunk %zu changed on its way", i);
		assert_int_equal(r.got_fds, fds_sent);
	}
	free(r.got);
	trace_session_free(t);
	pcap_close_write(w);
	fclose(out);
	FILE *bo = open_memstream(&back, &back_len), *in = fmemopen(pc, pc_len, "rb");
	o = (struct trace_opts){ .out = bo, .json = json, .hexdump = hex };
	t = trace_session_new(&o);
	char err[256];
	assert_int_equal(pcap_read(in, t, err, sizeof(err)), 0);
	trace_session_free(t);
	fclose(in);
	fclose(bo);
	if (strcmp(live, back))
		fail_msg("read back differs:\n%.1000s\n---\n%.1000s", live, back);
	free(live);
	free(back);
	free(pc);
}

/* Split a recording into connections: one starts with each VERSION. */
static void sessions(uint8_t dir, struct chunk *c, size_t n, unsigned seed)
{
	size_t start = 0;
	for (size_t i = 1; i <= n; i++) {
		struct uvfio_hdr h;
		bool version = i < n && c[i].len >= 16 && (memcpy(&h, c[i].buf, 16), 1) &&
			       h.cmd == UVFIO_CMD_VERSION;
		if (i == n || version) {
			hostile(dir, c + start, i - start, seed + (unsigned)start);
			start = i;
		}
	}
}

/* Run a suite with its peers' writes recorded; returns its chunks. */
static size_t tapped(const char *test, struct chunk **out)
{
	char tap[] = "/tmp/uvfio-tap-XXXXXX", path[512];
	int fd = mkstemp(tap);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/tests/%s", UVFIO_BUILD_ROOT, test);
	char env_tap[600];
	snprintf(env_tap, sizeof(env_tap), "UVFIO_PEER_TAP=%s", tap);
	size_t ne = 0;
	while (environ[ne])
		ne++;
	char **env = calloc(ne + 2, sizeof(char *));
	memcpy(env, environ, ne * sizeof(char *));
	env[ne] = env_tap;
	char *argv[] = { path, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	assert_int_equal(posix_spawn(&pid, path, &fa, NULL, argv, env), 0);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) /* its own run reports why */
		print_message("# %s failed while recorded; its writes are replayed still\n",
			      test);
	FILE *f = fopen(tap, "rb");
	assert_non_null(f);
	size_t n = 0, cap = 256;
	struct chunk *c = calloc(cap, sizeof(*c));
	uint8_t h[5];
	while (fread(h, 5, 1, f) == 1) {
		uint32_t len;
		memcpy(&len, h, 4);
		if (n == cap)
			c = realloc(c, (cap *= 2) * sizeof(*c));
		c[n].buf = malloc(len ? len : 1);
		c[n].len = len;
		c[n].nfds = h[4];
		assert_int_equal(fread(c[n].buf, 1, len, f), len);
		n++;
	}
	fclose(f);
	unlink(tap);
	*out = c;
	return n;
}

static void free_chunks(struct chunk *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].buf);
	free(c);
}

static void test_malformed_suites(void **state)
{
	(void)state;
	int fds = tu_count_fds();
	struct chunk *c;
	size_t n = tapped("test_server_malformed", &c);
	assert_true(n > 60); /* every row is there */
	sessions(TRACE_C2S, c, n, 1);
	free_chunks(c, n);
	n = tapped("test_client_faults", &c);
	assert_true(n > 20);
	sessions(TRACE_S2C, c, n, 2);
	free_chunks(c, n);
	assert_int_equal(tu_count_fds(), fds);
}

static void corpus(const char *name, uint8_t dir, unsigned *seed)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/%s", UVFIO_SOURCE_ROOT, name);
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *e;
	size_t files = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char file[1024];
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		FILE *f = fopen(file, "rb");
		assert_non_null(f);
		struct chunk c = { .buf = malloc(1 << 20) };
		c.len = fread(c.buf, 1, 1 << 20, f);
		fclose(f);
		c.nfds = *seed % 5 == 0;
		hostile(dir, &c, 1, (*seed)++);
		free(c.buf);
		files++;
	}
	closedir(d);
	assert_true(files > 0);
}

static void test_fuzz_corpora(void **state)
{
	(void)state;
	int fds = tu_count_fds();
	unsigned seed = 7;
	corpus("server", TRACE_C2S, &seed);
	corpus("client", TRACE_S2C, &seed);
	corpus("decode", TRACE_C2S, &seed);
	assert_int_equal(tu_count_fds(), fds);
}

/* Each recorded session's client side, cut off at a random byte. */
static void test_vectors_cut(void **state)
{
	(void)state;
	int fds = tu_count_fds();
	unsigned seed = 99;
	for (size_t f = 0; f < vec_nfiles; f++) {
		struct vmsg *v;
		size_t n = vec_session(vec_files[f], &v), k = 0;
		struct chunk *c = calloc(n, sizeof(*c));
		for (size_t i = 0; i < n; i++)
			if (v[i].dir == TRACE_C2S)
				c[k++] = (struct chunk){ v[i].buf, v[i].len, v[i].nfds };
		size_t last = (size_t)rand_r(&seed) % k;
		c[last].len = (size_t)rand_r(&seed) % c[last].len;
		hostile(TRACE_C2S, c, last + 1, seed);
		free(c);
		vec_free(v, n);
	}
	assert_int_equal(tu_count_fds(), fds);
}

/* A server that does not read: the relay holds at most its bound of
 * descriptors, then passes everything on once the server reads again. */
static void test_bound(void **state)
{
	(void)state;
	int fds = tu_count_fds();
	struct trace_opts o = { .out = fopen("/dev/null", "w"), .quiet = true };
	struct trace_session *t = trace_session_new(&o);
	struct relay r;
	relay_start(&r, TRACE_C2S, t, true);
	struct uvfio_dma_map m = { .argsz = 32, .flags = 3, .size = 4096 };
	uint8_t msg[48];
	struct uvfio_hdr h = { .cmd = UVFIO_CMD_DMA_MAP, .msg_size = 48 };
	int fl = fcntl(r.near_end, F_GETFL);
	fcntl(r.near_end, F_SETFL, fl | O_NONBLOCK);
	unsigned sent = 0;
	for (; sent < 4000; sent++) {
		h.msg_id = (uint16_t)sent;
		m.addr = 4096ull * sent;
		memcpy(msg, &h, 16);
		memcpy(msg + 16, &m, 32);
		while (!send_piece(r.near_end, msg, 48, 1)) {
			/* full: the relay stopped reading, or has not read yet; a
			 * pause with no room decides (a bound, not a timing, is tested) */
			struct pollfd p = { .fd = r.near_end, .events = POLLOUT };
			assert_int_equal(errno, EAGAIN);
			if (poll(&p, 1, 200) == 0)
				goto full;
		}
	}
full:;
	int held = tu_count_fds() - fds - 4; /* our two ends, the relay's two */
	assert_true(sent > 100);
	print_message("# the relay held %d descriptors of %u sent\n", held, sent);
	if (held > 512 + 253)
		fail_msg("the relay holds %d descriptors", held);
	fcntl(r.near_end, F_SETFL, fl);
	relay_finish(&r);
	assert_int_equal(r.got_len, 48u * sent);
	assert_int_equal(r.got_fds, sent);
	free(r.got);
	trace_session_free(t);
	fclose(o.out);
	assert_int_equal(tu_count_fds(), fds);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed_suites),
		cmocka_unit_test(test_fuzz_corpora),
		cmocka_unit_test(test_vectors_cut),
		cmocka_unit_test(test_bound),
	};
	return cmocka_run_group_tests_name("trace_hostile", tests, NULL, NULL);
}
