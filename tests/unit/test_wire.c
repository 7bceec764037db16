/* SPDX-License-Identifier: BSD-3-Clause */
/* The wire layer: header validation, partial receive, descriptor passing. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "internal.h"
#include "util.h"

struct pair {
	int a, b;
};

static int setup_pair(void **state)
{
	struct pair *p = malloc(sizeof(*p));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->a = sv[0];
	p->b = sv[1];
	assert_int_equal(vu_set_nonblock(p->b, true), 0);
	*state = p;
	return 0;
}

static int teardown_pair(void **state)
{
	struct pair *p = *state;
	vu_close(&p->a);
	vu_close(&p->b);
	free(p);
	return 0;
}

/* Send len bytes with one descriptor attached. */
static void send_with_fd(int sock, const void *buf, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

static void put_hdr(int fd, uint16_t id, uint16_t cmd, uint32_t size, uint32_t flags)
{
	struct uvfio_hdr h = { .msg_id = id, .cmd = cmd, .msg_size = size, .flags = flags };
	assert_int_equal(write(fd, &h, sizeof(h)), sizeof(h));
}

static void test_hdr_check(void **state)
{
	(void)state;
	struct uvfio_hdr h = { .msg_size = 16 };
	assert_int_equal(vu_hdr_check(&h, 4096), 0);
	h.flags = UVFIO_FLAGS_TYPE_REPLY | UVFIO_FLAGS_ERROR;
	assert_int_equal(vu_hdr_check(&h, 4096), 0);
	h.flags = UVFIO_FLAGS_NO_REPLY;
	assert_int_equal(vu_hdr_check(&h, 4096), 0);
	h.msg_size = 15;
	assert_int_equal(vu_hdr_check(&h, 4096), -EPROTO);
	h.msg_size = 0;
	assert_int_equal(vu_hdr_check(&h, 4096), -EPROTO);
	h.msg_size = 4097;
	assert_int_equal(vu_hdr_check(&h, 4096), -EMSGSIZE);
	h.msg_size = 16;
	h.flags = 2; /* type neither command nor reply */
	assert_int_equal(vu_hdr_check(&h, 4096), -EPROTO);
	h.flags = 0xf;
	assert_int_equal(vu_hdr_check(&h, 4096), -EPROTO);
	h.flags = 1u << 6; /* reserved bit */
	assert_int_equal(vu_hdr_check(&h, 4096), -EPROTO);
}

static void test_whole_message(void **state)
{
	struct pair *p = *state;
	struct vu_rx rx;
	vu_rx_init(&rx, 4096, 4);
	struct uvfio_hdr h = { .msg_id = 7, .cmd = UVFIO_CMD_REGION_READ };
	uint8_t body[5] = { 1, 2, 3, 4, 5 };
	struct iovec iov = { body, sizeof(body) };
	assert_int_equal(vu_send(p->a, &h, &iov, 1, NULL, 0, 1000, NULL), 0);
	assert_int_equal(h.msg_size, 21);
	struct vu_msg *m;
	assert_int_equal(vu_rx_read(p->b, &rx, &m), 1);
	assert_int_equal(m->hdr.msg_id, 7);
	assert_int_equal(m->hdr.cmd, UVFIO_CMD_REGION_READ);
	assert_int_equal(m->len, 5);
	assert_memory_equal(m->body, body, 5);
	assert_int_equal(m->nfds, 0);
	vu_msg_free(m);
	/* Nothing more: would block. */
	assert_int_equal(vu_rx_read(p->b, &rx, &m), 0);
	assert_null(m);
}

/* A header and body that arrive one byte at a time, with the descriptor on
 * the very first byte, are completed exactly as a whole message is. */
static void test_one_byte_at_a_time(void **state)
{
	struct pair *p = *state;
	struct vu_rx rx;
	vu_rx_init(&rx, 4096, 4);
	uint8_t msg[16 + 8];
	struct uvfio_hdr h = { .msg_id = 0xbeef, .cmd = 9, .msg_size = sizeof(msg), .flags = 1 };
	memcpy(msg, &h, 16);
	for (int i = 0; i < 8; i++)
		msg[16 + i] = (uint8_t)(0xa0 + i);
	int efd = tu_eventfd();
	struct vu_msg *m = NULL;
	for (size_t i = 0; i < sizeof(msg); i++) {
		if (i == 0) {
			send_with_fd(p->a, msg, 1, efd); /* the first byte carries it */
		} else {
			assert_int_equal(write(p->a, msg + i, 1), 1);
		}
		int r = vu_rx_read(p->b, &rx, &m);
		if (i + 1 < sizeof(msg)) {
			assert_int_equal(r, 0);
			assert_null(m);
		} else {
			assert_int_equal(r, 1);
		}
	}
	assert_non_null(m);
	assert_int_equal(m->hdr.msg_id, 0xbeef);
	assert_int_equal(m->len, 8);
	assert_memory_equal(m->body, msg + 16, 8);
	assert_int_equal(m->nfds, 1);
	assert_false(m->fds_dropped);
	vu_msg_free(m);
	close(efd);
}

static void test_descriptors(void **state)
{
	struct pair *p = *state;
	int before = tu_count_fds();
	struct vu_rx rx;
	vu_rx_init(&rx, 4096, 3);
	int fds[5];
	for (int i = 0; i < 5; i++)
		fds[i] = tu_eventfd();
	struct vu_msg *m;

	/* several, within the limit */
	struct uvfio_hdr h = { .cmd = UVFIO_CMD_DEVICE_SET_IRQS };
	assert_int_equal(vu_send(p->a, &h, NULL, 0, fds, 3, 1000, NULL), 0);
	assert_int_equal(vu_rx_read(p->b, &rx, &m), 1);
	assert_int_equal(m->nfds, 3);
	assert_false(m->fds_dropped);
	for (int i = 0; i < 3; i++)
		assert_true(fcntl(m->fds[i], F_GETFD) & FD_CLOEXEC);
	int taken = vu_msg_take_fd(m, 1);
	assert_true(taken >= 0);
	assert_int_equal(vu_msg_take_fd(m, 7), -1);
	vu_msg_free(m);
	close(taken);

	/* more than allowed: the extras are closed and the message is marked */
	assert_int_equal(vu_send(p->a, &h, NULL, 0, fds, 5, 1000, NULL), 0);
	assert_int_equal(vu_rx_read(p->b, &rx, &m), 1);
	assert_int_equal(m->nfds, 3);
	assert_true(m->fds_dropped);
	vu_msg_free(m);

	/* none */
	assert_int_equal(vu_send(p->a, &h, NULL, 0, NULL, 0, 1000, NULL), 0);
	assert_int_equal(vu_rx_read(p->b, &rx, &m), 1);
	assert_int_equal(m->nfds, 0);
	vu_msg_free(m);

	/* a receiver that accepts none */
	vu_rx_init(&rx, 4096, 0);
	assert_int_equal(vu_send(p->a, &h, NULL, 0, fds, 2, 1000, NULL), 0);
	assert_int_equal(vu_rx_read(p->b, &rx, &m), 1);
	assert_int_equal(m->nfds, 0);
	assert_true(m->fds_dropped);
	vu_msg_free(m);

	for (int i = 0; i < 5; i++)
		close(fds[i]);
	assert_int_equal(tu_count_fds(), before);
}

static void test_fatal_headers(void **state)
{
	struct pair *p = *state;
	struct vu_rx rx;
	struct vu_msg *m;

	vu_rx_init(&rx, 4096, 1);
	put_hdr(p->a, 1, 1, 8, 0); /* size below the header */
	assert_int_equal(vu_rx_read(p->b, &rx, &m), -EPROTO);

	vu_rx_init(&rx, 4096, 1);
	put_hdr(p->a, 1, 1, 1u << 30, 0); /* above the limit: nothing allocated */
	assert_int_equal(vu_rx_read(p->b, &rx, &m), -EMSGSIZE);

	vu_rx_init(&rx, 4096, 1);
	put_hdr(p->a, 1, 1, 16, 3); /* unknown type */
	assert_int_equal(vu_rx_read(p->b, &rx, &m), -EPROTO);
}

static void test_eof(void **state)
{
	struct pair *p = *state;
	struct vu_rx rx;
	struct vu_msg *m;
	vu_rx_init(&rx, 4096, 1);
	/* half a message, then the peer goes away */
	struct uvfio_hdr h = { .cmd = 9, .msg_size = 64 };
	assert_int_equal(write(p->a, &h, 16), 16);
	assert_int_equal(write(p->a, "abc", 3), 3);
	assert_int_equal(vu_rx_read(p->b, &rx, &m), 0);
	vu_close(&p->a);
	assert_int_equal(vu_rx_read(p->b, &rx, &m), -ECONNRESET);
	vu_rx_reset(&rx);
}

static void test_partial_header_then_eof(void **state)
{
	struct pair *p = *state;
	struct vu_rx rx;
	struct vu_msg *m;
	vu_rx_init(&rx, 4096, 1);
	int efd = tu_eventfd();
	int before = tu_count_fds();
	struct uvfio_hdr h = { .cmd = 9, .msg_size = 64 };
	send_with_fd(p->a, &h, 5, efd);
	assert_int_equal(vu_rx_read(p->b, &rx, &m), 0);
	assert_int_equal(rx.nfdq, 1);
	vu_close(&p->a);
	assert_int_equal(vu_rx_read(p->b, &rx, &m), -ECONNRESET);
	vu_rx_reset(&rx); /* closes the early descriptor: nothing leaks */
	assert_int_equal(tu_count_fds(), before - 1);
	close(efd);
}

/* Send len bytes (larger than the socket buffer) from a child process,
 * blocking in the kernel with block_ms or else non-blocking with poll(),
 * while this one reads them in pieces: the message arrives whole. */
static void send_large(int a, int b, size_t len, int block_ms)
{
	uint8_t *big = malloc(len);
	tu_pattern(big, len, 77);
	pid_t pid = fork();
	if (pid == 0) {
		struct uvfio_hdr h = { .cmd = UVFIO_CMD_REGION_WRITE };
		struct iovec iov = { big, len };
		_exit(vu_send_ex(a, &h, &iov, 1, NULL, 0, 5000, NULL, block_ms, NULL, NULL) == 0
			      ? 0
			      : 1);
	}
	struct vu_rx rx;
	vu_rx_init(&rx, (uint32_t)len + 16, 1);
	struct vu_msg *m = NULL;
	int r;
	while ((r = vu_rx_read(b, &rx, &m)) == 0)
		usleep(100);
	assert_int_equal(r, 1);
	assert_int_equal(m->len, len);
	assert_memory_equal(m->body, big, len);
	vu_msg_free(m);
	int st;
	waitpid(pid, &st, 0);
	assert_int_equal(st, 0);
	free(big);
}

static void test_send_large_nonblocking(void **state)
{
	struct pair *p = *state;
	/* vu_send must finish it while the reader drains in pieces */
	assert_int_equal(vu_set_nonblock(p->a, true), 0);
	send_large(p->a, p->b, 4u << 20, 0);
}

static void test_send_timeout(void **state)
{
	struct pair *p = *state;
	assert_int_equal(vu_set_nonblock(p->a, true), 0);
	size_t len = 8u << 20;
	uint8_t *big = calloc(1, len);
	struct uvfio_hdr h = { .cmd = UVFIO_CMD_REGION_WRITE };
	struct iovec iov = { big, len };
	bool some;
	/* Nobody reads: the send gives up after the timeout, having sent part. */
	assert_int_equal(vu_send(p->a, &h, &iov, 1, NULL, 0, 50, &some), -ETIMEDOUT);
	assert_true(some);
	free(big);
}

/* ---- The receiver's guess (vu_rx_guess_fn) ------------------------------------------ */

#define GUESS_DATA 65536u
#define GUESS_SIZE (UVFIO_HDR_SIZE + 16u + GUESS_DATA)

/* The test's receiver: the reply to the request after the last reply is a
 * REGION_READ of GUESS_DATA bytes, received into sink_mem. */
static uint8_t sink_mem[GUESS_DATA];
static unsigned guesses;

static bool test_guess(void *arg, uint16_t last, bool have, struct uvfio_hdr *h)
{
	(void)arg;
	if (!have)
		return false;
	guesses++;
	*h = (struct uvfio_hdr){ .msg_id = (uint16_t)(last + 1), .cmd = UVFIO_CMD_REGION_READ,
				 .msg_size = GUESS_SIZE, .flags = UVFIO_FLAGS_TYPE_REPLY };
	return true;
}

static uint16_t sink_id; /* the one reply whose data goes to sink_mem */

static uint8_t *test_sink(void *arg, const struct uvfio_hdr *h, size_t *keep)
{
	(void)arg;
	*keep = 16;
	return h->msg_id == sink_id && h->cmd == UVFIO_CMD_REGION_READ &&
			       h->msg_size == GUESS_SIZE && h->flags == UVFIO_FLAGS_TYPE_REPLY
		       ? sink_mem
		       : NULL;
}

/* A reply of body bytes: 16 of header-ish bytes, then tu_pattern(seed). */
static size_t make_reply(uint8_t *out, uint16_t id, uint16_t cmd, size_t body, unsigned seed)
{
	struct uvfio_hdr h = { .msg_id = id, .cmd = cmd,
			       .msg_size = (uint32_t)(UVFIO_HDR_SIZE + body),
			       .flags = UVFIO_FLAGS_TYPE_REPLY };
	memcpy(out, &h, sizeof(h));
	tu_pattern(out + sizeof(h), body, seed);
	return sizeof(h) + body;
}

static void rx_guessing(struct vu_rx *rx)
{
	vu_rx_init(rx, 1u << 20, 4);
	rx->sink = test_sink;
	rx->guess = test_guess;
	rx->sink_arg = NULL;
	memset(sink_mem, 0, sizeof(sink_mem));
	guesses = 0;
}

static struct vu_msg *read_one(int fd, struct vu_rx *rx)
{
	struct vu_msg *m = NULL;
	int r;
	for (int tries = 0; (r = vu_rx_read(fd, rx, &m)) == 0 && tries < 2000; tries++)
		usleep(500);
	assert_int_equal(r, 1);
	return m;
}

/* Check that m is the reply make_reply(id, body, seed) built; sunk: its data
 * (after the first 16 body bytes) is in sink_mem. */
static void check_reply(struct vu_msg *m, uint16_t id, size_t body, unsigned seed, bool sunk)
{
	static uint8_t want[GUESS_SIZE];
	tu_pattern(want, body, seed);
	assert_int_equal(m->hdr.msg_id, id);
	assert_int_equal(m->hdr.msg_size, UVFIO_HDR_SIZE + body);
	if (sunk) {
		assert_ptr_equal(m->ext, sink_mem);
		assert_int_equal(m->len, 16);
		assert_memory_equal(m->body, want, 16);
		assert_memory_equal(sink_mem, want + 16, body - 16);
	} else {
		assert_null(m->ext);
		assert_int_equal(m->len, body);
		assert_memory_equal(m->body, want, body);
	}
}

/* A guessing receiver that has had a first reply (id 5, alone in the
 * socket: no guess, as no reply came before it); its next read guesses
 * reply 6, whose data goes to sink_mem. */
static void rx_after_first(int a, int b, struct vu_rx *rx)
{
	rx_guessing(rx);
	uint8_t first[UVFIO_HDR_SIZE + 20];
	size_t n = make_reply(first, 5, UVFIO_CMD_REGION_READ, 20, 1);
	assert_int_equal(write(a, first, n), (ssize_t)n);
	struct vu_msg *m = read_one(b, rx);
	check_reply(m, 5, 20, 1, false);
	vu_msg_free(m);
	assert_int_equal(guesses, 0); /* no reply before the first */
	sink_id = 6;
}

/* Guessed right: header and data arrive with one read, the data in place. */
static void test_guess_right(void **state)
{
	struct pair *p = *state;
	struct vu_rx rx;
	rx_after_first(p->a, p->b, &rx);
	static uint8_t out[GUESS_SIZE];
	size_t n = make_reply(out, 6, UVFIO_CMD_REGION_READ, 16 + GUESS_DATA, 2);
	assert_int_equal(write(p->a, out, n), (ssize_t)n);
	struct vu_msg *m = read_one(p->b, &rx);
	check_reply(m, 6, 16 + GUESS_DATA, 2, true);
	vu_msg_free(m);
	assert_int_equal(guesses, 1);
	assert_int_equal(rx.tail, rx.head);
	vu_rx_reset(&rx);
}

/*
 * Guessed wrong: a large reply of another id, small messages with
 * descriptors, then the guessed one, cut at seeded random places (several
 * messages per write, a message over several writes, the reader reading
 * in between). Every message comes out whole and in order, descriptors
 * with the message they came with, nothing leaks.
 */
static void test_guess_wrong(void **state)
{
	struct pair *p = *state;
	int before = tu_count_fds();
	unsigned spills = 0; /* reads that left spilled bytes */
	for (unsigned seed = 1; seed <= 20; seed++) {
		struct vu_rx rx;
		/* the first reply alone: then the guess is made with the buffer empty */
		rx_after_first(p->a, p->b, &rx);
		srand(seed);
		static uint8_t out[4 * GUESS_SIZE];
		size_t big = 9000 + (size_t)rand() % 30000;
		size_t n = make_reply(out, 7, UVFIO_CMD_REGION_READ, big, 3); /* not the guess */
		size_t small_at[40];
		for (unsigned i = 0; i < 40; i++) {
			small_at[i] = n;
			n += make_reply(out + n, (uint16_t)(100 + i), UVFIO_CMD_DEVICE_GET_INFO,
					8 + i, 10 + i);
		}
		n += make_reply(out + n, 6, UVFIO_CMD_REGION_READ, 16 + GUESS_DATA, 2);
		/* every fifth small message with a descriptor, the other bytes
		 * in writes cut at random */
		struct vu_msg *m;
		size_t at = 0;
		unsigned next = 0, got = 0;
		uint16_t expect_id[42];
		size_t expect_body[42];
		unsigned expect_seed[42];
		bool expect_fd[42];
		expect_id[0] = 7, expect_body[0] = big, expect_seed[0] = 3, expect_fd[0] = false;
		for (unsigned i = 0; i < 40; i++) {
			expect_id[1 + i] = (uint16_t)(100 + i);
			expect_body[1 + i] = 8 + i;
			expect_seed[1 + i] = 10 + i;
			expect_fd[1 + i] = i % 5 == 0;
		}
		expect_id[41] = 6, expect_body[41] = 16 + GUESS_DATA, expect_seed[41] = 2;
		expect_fd[41] = false;
		while (at < n) {
			size_t end = at + 1 + (size_t)rand() % 20000;
			if (end > n)
				end = n;
			/* a descriptor goes with a whole small message of its own */
			while (next < 40 && small_at[next] < at)
				next++;
			if (next < 40 && next % 5 == 0 && small_at[next] == at) {
				size_t len = 16 + 8 + next;
				int efd = tu_eventfd();
				send_with_fd(p->a, out + at, len, efd);
				close(efd);
				at += len;
				next++;
				continue;
			}
			for (unsigned i = next; i < 40; i++)
				if (i % 5 == 0 && small_at[i] > at && small_at[i] < end) {
					end = small_at[i]; /* stop before it */
					break;
				}
			assert_int_equal(write(p->a, out + at, end - at), (ssize_t)(end - at));
			at = end;
			/* read what is complete, sometimes */
			while (rand() % 2 && got < 42) {
				int r = vu_rx_read(p->b, &rx, &m);
				assert_true(r >= 0);
				spills += rx.spill != NULL;
				if (!r)
					break;
				check_reply(m, expect_id[got], expect_body[got], expect_seed[got],
					    got == 41);
				assert_int_equal(m->nfds, expect_fd[got] ? 1 : 0);
				vu_msg_free(m);
				got++;
			}
		}
		while (got < 42) {
			m = read_one(p->b, &rx);
			check_reply(m, expect_id[got], expect_body[got], expect_seed[got], got == 41);
			assert_int_equal(m->nfds, expect_fd[got] ? 1 : 0);
			vu_msg_free(m);
			got++;
		}
		assert_true(guesses >= 1);
		assert_null(rx.spill);
		vu_rx_reset(&rx);
		assert_int_equal(tu_count_fds(), before);
	}
	assert_true(spills > 0); /* the wrong guesses were exercised */
}

/* A wrong guess whose spilled bytes end in the middle of a message, then the
 * peer hangs up: the partial message is reported, and reset frees it all. */
static void test_guess_wrong_then_eof(void **state)
{
	struct pair *p = *state;
	struct vu_rx rx;
	rx_after_first(p->a, p->b, &rx);
	static uint8_t out[GUESS_SIZE];
	make_reply(out, 9, UVFIO_CMD_REGION_READ, 30000, 4);
	struct vu_msg *m;
	assert_int_equal(write(p->a, out, 20000), 20000);
	assert_int_equal(vu_rx_read(p->b, &rx, &m), 0);
	assert_int_equal(vu_rx_partial(&rx), 20000);
	vu_close(&p->a);
	int r;
	while ((r = vu_rx_read(p->b, &rx, &m)) == 0)
		;
	assert_int_equal(r, -ECONNRESET);
	vu_rx_reset(&rx);
	assert_null(rx.spill);
}

/* ---- Sends that wait in the kernel ------------------------------------------------- */

/* A blocking send (SO_SNDTIMEO) into a socket nobody reads: it gives up
 * within the timeout, having sent part, as the non-blocking way does. */
static void test_send_block_timeout(void **state)
{
	struct pair *p = *state;
	size_t len = 1u << 20;
	int sndbuf = 128 << 10; /* whatever the system's default, less than len */
	assert_int_equal(setsockopt(p->a, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	int ms = vu_send_block_setup(p->a, 500, len + 16); /* short enough to block */
	assert_true(ms > 0);
	uint8_t *big = calloc(1, len);
	struct uvfio_hdr h = { .cmd = UVFIO_CMD_REGION_WRITE };
	struct iovec iov = { big, len };
	bool some;
	/* (one timeout in all, not one per piece: test_send_block_trickle) */
	assert_int_equal(vu_send_ex(p->a, &h, &iov, 1, NULL, 0, 500, &some, ms, NULL, NULL),
			 -ETIMEDOUT);
	assert_true(some);
	free(big);
}

/* A blocking send larger than the socket buffer, with a reader draining it
 * slowly: it finishes whole. */
static void test_send_block_large(void **state)
{
	struct pair *p = *state;
	size_t len = 4u << 20;
	int ms = vu_send_block_setup(p->a, 5000, len + 16);
	assert_true(ms > 0);
	send_large(p->a, p->b, len, ms);
}

/*
 * A blocking send to a reader that takes 16 KiB every 20 ms, each step well
 * within SO_SNDTIMEO: the kernel waits up to SO_SNDTIMEO for room for each
 * piece of a message (about 32 KiB), not for the whole, so a message of
 * many pieces could take many timeouts. The send still ends at timeout_ms,
 * as the non-blocking way does: 1 MiB at that pace needs far longer.
 */
static void test_send_block_trickle(void **state)
{
	struct pair *p = *state;
	int sndbuf = 128 << 10; /* whatever the system's default, less than 1 MiB */
	assert_int_equal(setsockopt(p->a, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	assert_int_equal(setsockopt(p->a, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p->a);
		static uint8_t buf[16384];
		for (;;) {
			usleep(20000);
			ssize_t n = recv(p->b, buf, sizeof(buf), 0);
			if (n == 0)
				_exit(0);
			if (n < 0 && errno != EAGAIN)
				_exit(1);
		}
	}
	size_t len = 1u << 20;
	uint8_t *big = calloc(1, len);
	struct uvfio_hdr h = { .cmd = UVFIO_CMD_REGION_WRITE };
	struct iovec iov = { big, len };
	bool some;
	int r = vu_send_ex(p->a, &h, &iov, 1, NULL, 0, 300, &some, 200, NULL, NULL);
	vu_close(&p->a); /* the reader sees the end */
	int st;
	waitpid(pid, &st, 0);
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(some);
	assert_int_equal(st, 0);
	free(big);
}

int main(void)
{
	/* every test but the first on a fresh socket pair */
#define PAIRED(t) cmocka_unit_test_setup_teardown(t, setup_pair, teardown_pair)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_check),
		PAIRED(test_whole_message),
		PAIRED(test_one_byte_at_a_time),
		PAIRED(test_descriptors),
		PAIRED(test_fatal_headers),
		PAIRED(test_eof),
		PAIRED(test_partial_header_then_eof),
		PAIRED(test_send_large_nonblocking),
		PAIRED(test_send_timeout),
		PAIRED(test_guess_right),
		PAIRED(test_guess_wrong),
		PAIRED(test_guess_wrong_then_eof),
		PAIRED(test_send_block_timeout),
		PAIRED(test_send_block_large),
		PAIRED(test_send_block_trickle),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
