/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * REGION_READ/WRITE larger than the server's max_data_xfer_size: pieces in
 * flight together, a read's data received straight into the caller's
 * buffer. Against our server (data lands where it belongs, with and without
 * a second thread reading) and scripted servers (replies out of order and
 * cut at random, the first failing piece's error, the window's bound, a
 * reply cut by a timeout must not land in the buffer after the call).
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "internal.h"
#include "peer.h"
#include "testdev.h"
#include "util.h"

#define PIECE 16384u /* the servers' max_data_xfer_size here */
#define WINDOW 8u    /* client_region.c's XFER_WINDOW */

static const struct uvfio_client_config quiet = { .log = { .level = -1 }, .timeout_ms = 5000 };
static const char *caps16k = "{\"capabilities\":{\"max_data_xfer_size\":16384}}";

/* ---- Against our server ----------------------------------------------------------- */

static int setup(void **state)
{
	struct testdev_opts o = { .max_data_xfer_size = PIECE };
	return testdev_fx_setup(state, &o, NULL);
}

static int setup_window1(void **state)
{
	struct testdev_opts o = { .max_data_xfer_size = PIECE };
	struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR }, .max_in_flight = 1 };
	return testdev_fx_setup(state, &o, &cc);
}

/* With a send buffer whose delay never comes: what waits there leaves in
 * front of the pieces' requests. */
static int setup_buffered(void **state)
{
	struct testdev_opts o = { .max_data_xfer_size = PIECE };
	struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR }, .timeout_ms = 5000,
					  .post_delay_us = 1000000 };
	return testdev_fx_setup(state, &o, &cc);
}

/* BAR1 past its MSI-X table and PBA: 60 KiB of plain memory. */
#define MEM_OFF 4096u
#define MEM_LEN (61440u)

static void check_roundtrips(struct uvfio_client *c)
{
	static uint8_t out[MEM_LEN + 8], in[MEM_LEN + 8];
	/* whole, then odd pieces: a last piece below the receive buffer's size
	 * (copied), one above (received in place), a single piece */
	static const struct {
		uint32_t off, len;
	} cases[] = { { 0, MEM_LEN }, { 1000, 40000 }, { 7, 2 * PIECE + 9000 }, { 3, PIECE },
		      { 0, PIECE + 1 } };
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint32_t off = MEM_OFF + cases[k].off, len = cases[k].len;
		tu_pattern(out, len, k);
		memset(in, 0xee, sizeof(in));
		assert_int_equal(uvfio_client_region_write(c, 1, off, out, len), 0);
		assert_int_equal(uvfio_client_region_read(c, 1, off, in, len), 0);
		assert_memory_equal(in, out, len);
		assert_int_equal(in[len], 0xee); /* nothing past the end */
	}
	/* a piece outside the region fails the whole access */
	assert_int_equal(uvfio_client_region_read(c, 1, MEM_OFF, in, MEM_LEN + 8), -EINVAL);
	assert_int_equal(uvfio_client_region_write(c, 1, MEM_OFF, out, MEM_LEN + 8), -EINVAL);
}

static void test_pieces_land_in_place(void **state)
{
	struct testdev_fx *f = *state;
	check_roundtrips(f->c);
}

static void test_window_of_one(void **state)
{
	struct testdev_fx *f = *state;
	check_roundtrips(f->c);
}

/* A posted write waiting in the send buffer, then a read in pieces: the
 * pieces' requests (whole messages sent together) leave after it. They
 * were dropped once (the read timed out, never sent). */
static void test_pieces_after_buffered_write(void **state)
{
	struct testdev_fx *f = *state;
	static uint8_t in[3 * PIECE];
	uint32_t v = 0xfeedf00d;
	for (int k = 0; k < 3; k++) {
		v += (uint32_t)k;
		assert_int_equal(uvfio_client_region_write_posted(f->c, 1, MEM_OFF + 100, &v, 4), 0);
		assert_int_equal(uvfio_client_region_read(f->c, 1, MEM_OFF, in, sizeof(in)), 0);
		uint32_t got;
		memcpy(&got, in + 100, 4);
		assert_int_equal(got, v);
	}
	assert_int_equal(uvfio_client_flush(f->c), 0);
}

struct reader_arg {
	struct uvfio_client *c;
	int stop; /* atomic */
	int failures;
};

static void *small_reads(void *arg)
{
	struct reader_arg *a = arg;
	while (!__atomic_load_n(&a->stop, __ATOMIC_RELAXED)) {
		uint64_t v;
		if (uvfio_client_region_read(a->c, 0, TD_SCRATCH, &v, 8) < 0)
			a->failures++;
	}
	return NULL;
}

/* Another thread reading the connection meanwhile receives some of the
 * replies: their data is copied, never written into the wrong buffer. */
static void test_another_thread_reads(void **state)
{
	struct testdev_fx *f = *state;
	struct reader_arg a = { .c = f->c };
	pthread_t t;
	pthread_create(&t, NULL, small_reads, &a);
	static uint8_t out[MEM_LEN], in[MEM_LEN];
	for (uint32_t k = 0; k < 40; k++) {
		tu_pattern(out, MEM_LEN, k);
		assert_int_equal(uvfio_client_region_write(f->c, 1, MEM_OFF, out, MEM_LEN), 0);
		assert_int_equal(uvfio_client_region_read(f->c, 1, MEM_OFF, in, MEM_LEN), 0);
		assert_memory_equal(in, out, MEM_LEN);
	}
	__atomic_store_n(&a.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	assert_int_equal(a.failures, 0);
}

/* ---- Against scripted servers ------------------------------------------------------ */

struct script {
	unsigned npieces;
	int fail[2];     /* pieces answered with an error (-1: none) */
	int err[2];      /* ... and their errno */
	int bad;          /* piece answered with a wrong count (-1: none) */
	unsigned max_out; /* seen: requests outstanding at most */
	unsigned seed;
};

/* The data of piece i: its bytes tell where they belong. */
static void piece_data(uint8_t *b, unsigned i, uint32_t n)
{
	tu_pattern(b, n, 1000 + i);
}

static size_t read_reply(uint8_t *out, const struct uvfio_hdr *h, const uint8_t *req, int err,
			 bool bad)
{
	struct uvfio_region_access a;
	memcpy(&a, req, sizeof(a));
	unsigned i = (unsigned)(a.offset / PIECE);
	struct uvfio_hdr r = { .msg_id = h->msg_id, .cmd = h->cmd,
			       .flags = UVFIO_FLAGS_TYPE_REPLY | (err ? UVFIO_FLAGS_ERROR : 0),
			       .error_no = (uint32_t)err };
	size_t len = sizeof(r);
	if (!err) {
		if (bad)
			a.count -= 1;
		memcpy(out + len, &a, sizeof(a));
		piece_data(out + len + sizeof(a), i, a.count);
		len += sizeof(a) + a.count;
	}
	r.msg_size = (uint32_t)len;
	memcpy(out, &r, sizeof(r));
	return len;
}

static bool readable(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	return poll(&pf, 1, ms) == 1;
}

/* Answers the client's small 4-byte read (the connection still works). */
static void small_read(struct peer *p, const struct uvfio_hdr *h, const uint8_t *req)
{
	uint8_t rep[64];
	size_t n = peer_read_reply(h, req, 0x600d, rep);
	peer_write(p->fd, rep, n, NULL, 0);
}

static void drain(struct peer *p)
{
	struct uvfio_hdr h;
	uint8_t body[64];
	while (peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL))
		;
}

/* Takes every request the client has in flight (it sends a batch, then
 * waits), then answers them in reverse order, several replies per write,
 * cut at random places. Counts how many were outstanding at most. Ends at
 * the client's small read. */
static void script_pieces(struct peer *p)
{
	struct script *s = p->arg;
	peer_version(p->fd, 1, caps16k);
	unsigned outstanding = 0;
	srand(s->seed);
	static uint8_t out[WINDOW * (PIECE + 64)];
	struct uvfio_hdr h[WINDOW + 1];
	uint8_t req[WINDOW + 1][64];
	for (;;) {
		unsigned n = 0;
		do {
			if (!peer_recv(p->fd, &h[n], req[n], sizeof(req[n]), NULL, NULL))
				return;
			struct uvfio_region_access a;
			memcpy(&a, req[n], sizeof(a));
			if (a.count == 4) { /* the end */
				small_read(p, &h[n], req[n]);
				p->result = 0;
				drain(p);
				return;
			}
			n++;
			if (++outstanding > s->max_out)
				s->max_out = outstanding;
		} while (n <= WINDOW && readable(p->fd, 50));
		size_t len = 0;
		for (unsigned k = n; k-- > 0;) {
			struct uvfio_region_access a;
			memcpy(&a, req[k], sizeof(a));
			int i = (int)(a.offset / PIECE);
			int err = i == s->fail[0] ? s->err[0] : i == s->fail[1] ? s->err[1] : 0;
			len += read_reply(out + len, &h[k], req[k], err, i == s->bad);
		}
		for (size_t at = 0; at < len;) {
			size_t cut = 1 + (size_t)rand() % (PIECE + 100);
			cut = VU_MIN(cut, len - at);
			if (!peer_write(p->fd, out + at, cut, NULL, 0))
				return;
			at += cut;
		}
		outstanding -= n;
	}
}

static void run_pieces(struct script *s, int expect)
{
	struct peer *p = peer_start(script_pieces, s);
	struct uvfio_client *c = peer_client(p, &quiet);
	size_t len = (size_t)s->npieces * PIECE - 5;
	uint8_t *buf = malloc(len + 1), *want = malloc(PIECE);
	memset(buf, 0xee, len + 1);
	assert_int_equal(uvfio_client_region_read(c, 0, 0, buf, len), expect);
	if (expect == 0) {
		for (unsigned i = 0; i < s->npieces; i++) {
			uint32_t n = (uint32_t)VU_MIN((size_t)PIECE, len - (size_t)i * PIECE);
			piece_data(want, i, n);
			assert_memory_equal(buf + (size_t)i * PIECE, want, n);
		}
	}
	assert_int_equal(buf[len], 0xee);
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), 0);
	assert_int_equal(v, 0x600d);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_true(s->max_out <= WINDOW);
	assert_true(s->max_out > 1); /* pieces were in flight together */
	free(buf);
	free(want);
}

static void test_out_of_order_and_cut(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 5; seed++) {
		struct script s = { .npieces = 21, .fail = { -1, -1 }, .bad = -1, .seed = seed };
		run_pieces(&s, 0);
	}
}

/* Pieces 5 and 11 fail (answered in reverse within their batch): the
 * error is piece 5's, and every piece sent was waited for. */
static void test_first_failing_piece(void **state)
{
	(void)state;
	struct script s = { .npieces = 16, .fail = { 11, 5 }, .err = { EINVAL, EIO }, .bad = -1,
			    .seed = 7 };
	run_pieces(&s, -EIO);
	struct script s2 = { .npieces = 16, .fail = { 0, -1 }, .err = { EPERM, 0 }, .bad = -1,
			     .seed = 8 };
	run_pieces(&s2, -EPERM);
}

static void test_bad_piece_reply(void **state)
{
	(void)state;
	struct script s = { .npieces = 12, .fail = { 9, -1 }, .err = { EIO, 0 }, .bad = 3,
			    .seed = 9 };
	run_pieces(&s, -EPROTO);
}

/*
 * A reply cut off by the timeout: piece 0 answered, piece 1 half sent,
 * then (once the call has returned) the rest. Its bytes must not land in
 * the caller's buffer after the call: the buffer belongs to the caller
 * again.
 */
struct cut_script {
	int go; /* eventfd: the call returned */
};

static void script_cut(struct peer *p)
{
	struct cut_script *s = p->arg;
	peer_version(p->fd, 1, caps16k);
	struct uvfio_hdr h[2];
	uint8_t req[2][64];
	static uint8_t out[2 * (PIECE + 64)];
	for (int i = 0; i < 2; i++)
		if (!peer_recv(p->fd, &h[i], req[i], sizeof(req[i]), NULL, NULL))
			return;
	size_t n0 = read_reply(out, &h[0], req[0], 0, false);
	size_t n1 = read_reply(out + n0, &h[1], req[1], 0, false);
	peer_write(p->fd, out, n0 + n1 / 2, NULL, 0);
	uint64_t v;
	if (read(s->go, &v, sizeof(v)) != sizeof(v))
		return;
	peer_write(p->fd, out + n0 + n1 / 2, n1 - n1 / 2, NULL, 0);
	uint8_t small[64];
	if (peer_recv(p->fd, &h[0], small, sizeof(small), NULL, NULL))
		small_read(p, &h[0], small);
	p->result = 0;
	drain(p);
}

static void test_timeout_leaves_buffer(void **state)
{
	(void)state;
	struct cut_script s = { .go = eventfd(0, EFD_CLOEXEC) };
	struct peer *p = peer_start(script_cut, &s);
	struct uvfio_client_config cfg = quiet;
	cfg.timeout_ms = 300; /* the peer stops mid-reply until the call returned */
	struct uvfio_client *c = peer_client(p, &cfg);
	static uint8_t buf[2 * PIECE];
	assert_int_equal(uvfio_client_region_read(c, 0, 0, buf, sizeof(buf)), -ETIMEDOUT);
	memset(buf, 0xaa, sizeof(buf));
	uint64_t one = 1;
	assert_int_equal(write(s.go, &one, sizeof(one)), sizeof(one));
	assert_int_equal(uvfio_client_set_timeout(c, 5000), 0);
	uint32_t v = 0;
	int r; /* -EHOSTDOWN until the rest of the late reply came (client.h) */
	for (int ms = 0; (r = uvfio_client_region_read(c, 0, 0, &v, 4)) == -EHOSTDOWN && ms < 20000;
	     ms++)
		usleep(1000);
	assert_int_equal(r, 0);
	assert_int_equal(v, 0x600d);
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i] != 0xaa)
			fail_msg("byte %zu of the buffer changed after the call returned", i);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	close(s.go);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pieces_land_in_place, setup,
						testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_window_of_one, setup_window1,
						testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_another_thread_reads, setup,
						testdev_fx_teardown),
		cmocka_unit_test_setup_teardown(test_pieces_after_buffered_write, setup_buffered,
						testdev_fx_teardown),
		cmocka_unit_test(test_out_of_order_and_cut),
		cmocka_unit_test(test_first_failing_piece),
		cmocka_unit_test(test_bad_piece_reply),
		cmocka_unit_test(test_timeout_leaves_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
