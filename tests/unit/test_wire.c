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

static void test_send_large_nonblocking(void **state)
{
	struct pair *p = *state;
	/* Larger than the socket buffer: vu_send must finish it while the
	 * reader drains in pieces. */
	size_t len = 4u << 20;
	uint8_t *big = malloc(len);
	for (size_t i = 0; i < len; i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(vu_set_nonblock(p->a, true), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct uvfio_hdr h = { .cmd = UVFIO_CMD_REGION_WRITE };
		struct iovec iov = { big, len };
		_exit(vu_send(p->a, &h, &iov, 1, NULL, 0, 5000, NULL) == 0 ? 0 : 1);
	}
	struct vu_rx rx;
	vu_rx_init(&rx, (uint32_t)len + 16, 1);
	struct vu_msg *m = NULL;
	int r;
	while ((r = vu_rx_read(p->b, &rx, &m)) == 0)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_check),
		cmocka_unit_test_setup_teardown(test_whole_message, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_one_byte_at_a_time, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_descriptors, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_fatal_headers, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_eof, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_partial_header_then_eof, setup_pair,
						teardown_pair),
		cmocka_unit_test_setup_teardown(test_send_large_nonblocking, setup_pair,
						teardown_pair),
		cmocka_unit_test_setup_teardown(test_send_timeout, setup_pair, teardown_pair),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
