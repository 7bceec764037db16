/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client against a scripted server that misbehaves: replies a byte at a
 * time, dies mid-reply, stalls, answers ids nobody asked for, sends
 * descriptors nobody expected, or negotiates inconsistently.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"
#include "peer.h"
#include "util.h"

static const struct uvfio_client_config quiet = { .log = { .level = -1 }, .timeout_ms = 2000 };

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void script_byte_at_a_time(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t req[64], rep[64];
	peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL);
	size_t n = peer_read_reply(&h, req, 0xcafef00d, rep);
	for (size_t i = 0; i < n; i++) {
		peer_write(p->fd, rep + i, 1, NULL, 0);
		usleep(200);
	}
	p->result = 0;
}

static void test_reply_byte_at_a_time(void **state)
{
	(void)state;
	struct peer *p = peer_start(script_byte_at_a_time, NULL);
	struct uvfio_client *c = peer_client(p, &quiet);
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), 0);
	assert_int_equal(v, 0xcafef00d);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
}

static void script_die_mid_reply(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t req[64], rep[64];
	peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL);
	size_t n = peer_read_reply(&h, req, 1, rep);
	peer_write(p->fd, rep, n - 10, NULL, 0);
	usleep(50000);
	close(p->fd);
	p->fd = -1;
	p->result = 0;
}

/* Longer than any stall of a loaded machine. */
#define LONG_MS 60000

static void test_server_dies_mid_reply(void **state)
{
	(void)state;
	int fds_before = tu_count_fds();
	struct peer *p = peer_start(script_die_mid_reply, NULL);
	/* A timeout far longer than any machine's hiccup: waiting for it
	 * instead of failing at once cannot go unnoticed. */
	struct uvfio_client_config cfg = quiet;
	cfg.timeout_ms = LONG_MS;
	struct uvfio_client *c = peer_client(p, &cfg);
	uint32_t v;
	uint64_t t0 = now_ms();
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), -ECONNRESET);
	assert_true(now_ms() - t0 < LONG_MS / 2); /* at once, not after the timeout */
	/* later calls fail fast */
	t0 = now_ms();
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), -ECONNRESET);
	assert_int_equal(uvfio_client_reset(c), -ECONNRESET);
	assert_true(now_ms() - t0 < LONG_MS / 2);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_int_equal(tu_count_fds(), fds_before);
}

struct waiter_arg {
	struct uvfio_client *c;
	int result;
};

static void *wait_read(void *arg)
{
	struct waiter_arg *w = arg;
	uint32_t v;
	w->result = uvfio_client_region_read(w->c, 0, 0, &v, 4);
	return NULL;
}

static void script_swallow_then_close(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t req[64];
	for (int i = 0; i < 4; i++)
		peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL);
	usleep(100000);
	close(p->fd);
	p->fd = -1;
	p->result = 0;
}

/* Every waiting thread fails at once when the server goes away. */
static void test_all_waiters_fail_at_once(void **state)
{
	(void)state;
	struct peer *p = peer_start(script_swallow_then_close, NULL);
	struct uvfio_client_config cfg = quiet;
	cfg.timeout_ms = LONG_MS;
	struct uvfio_client *c = peer_client(p, &cfg);
	pthread_t t[4];
	struct waiter_arg w[4];
	uint64_t t0 = now_ms();
	for (int i = 0; i < 4; i++) {
		w[i] = (struct waiter_arg){ c, 1 };
		pthread_create(&t[i], NULL, wait_read, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].result, -ECONNRESET);
	}
	assert_true(now_ms() - t0 < LONG_MS / 2);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
}

static void script_stall_then_late(struct peer *p)
{
	int *go = p->arg;
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h1, h2;
	uint8_t req1[64], req2[64], rep[64];
	peer_recv(p->fd, &h1, req1, sizeof(req1), NULL, NULL);
	/* no answer until the client timed out and found the server stalled */
	uint64_t v;
	if (read(*go, &v, sizeof(v)) != sizeof(v))
		return;
	peer_write(p->fd, rep, peer_read_reply(&h1, req1, 111, rep), NULL, 0);
	peer_recv(p->fd, &h2, req2, sizeof(req2), NULL, NULL);
	peer_write(p->fd, rep, peer_read_reply(&h2, req2, 222, rep), NULL, 0);
	p->result = h1.msg_id != h2.msg_id ? 0 : 1;
}

/* A request times out; the server has answered nothing since, so the next
 * fails at once (-EHOSTDOWN, not sent); the late reply ends that and is
 * discarded; the next request gets its own reply. */
static void test_timeout_and_late_reply(void **state)
{
	(void)state;
	int go = eventfd(0, EFD_CLOEXEC);
	struct peer *p = peer_start(script_stall_then_late, &go);
	struct uvfio_client_config cfg = quiet;
	cfg.timeout_ms = 200;
	struct uvfio_client *c = peer_client(p, &cfg);
	uint32_t v = 0;
	uint64_t t0 = now_ms();
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 190);
	assert_int_equal(uvfio_client_set_timeout(c, 5000), 0);
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), -EHOSTDOWN);
	uint64_t one = 1;
	assert_int_equal(write(go, &one, sizeof(one)), sizeof(one));
	/* the late reply is discarded; this one gets its own */
	int r;
	for (int ms = 0; (r = uvfio_client_region_read(c, 0, 0, &v, 4)) == -EHOSTDOWN && ms < 20000;
	     ms++)
		usleep(1000);
	assert_int_equal(r, 0);
	assert_int_equal(v, 222);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	close(go);
}

static void script_unexpected(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t req[64], rep[64];
	peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL);
	struct uvfio_hdr bogus = h;
	bogus.msg_id = (uint16_t)(h.msg_id + 1000);
	peer_write(p->fd, rep, peer_read_reply(&bogus, req, 5, rep), NULL, 0); /* nobody asked */
	/* the real reply, with an unexpected descriptor */
	int efd = eventfd(0, EFD_CLOEXEC);
	size_t n = peer_read_reply(&h, req, 6, rep);
	peer_write(p->fd, rep, n, &efd, 1);
	close(efd);
	/* next request: a reply for another command under the right id */
	peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL);
	struct uvfio_hdr wrong = h;
	wrong.cmd = UVFIO_CMD_DEVICE_RESET;
	peer_write(p->fd, rep, peer_read_reply(&wrong, req, 7, rep), NULL, 0);
	/* and then a good exchange */
	peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL);
	peer_write(p->fd, rep, peer_read_reply(&h, req, 8, rep), NULL, 0);
	p->result = 0;
}

static void test_unexpected_replies(void **state)
{
	(void)state;
	struct peer *p = peer_start(script_unexpected, NULL);
	struct uvfio_client *c = peer_client(p, &quiet);
	int fds_before = tu_count_fds();
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), -EPROTO);
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), -EPROTO);
	/* Counted only now: the peer thread closes its own copy of the
	 * descriptor before it reads the second request, so both copies must
	 * be gone (the client closed the unexpected one). */
	assert_int_equal(tu_count_fds(), fds_before);
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), 0);
	assert_int_equal(v, 8);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
}

static void script_bad_header(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t req[64];
	peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL);
	struct uvfio_hdr bad = { .msg_id = h.msg_id, .cmd = h.cmd, .msg_size = 8,
				 .flags = UVFIO_FLAGS_TYPE_REPLY };
	peer_write(p->fd, &bad, sizeof(bad), NULL, 0);
	uint8_t x;
	p->result = read(p->fd, &x, 1) == 0 ? 0 : 1; /* the client hung up */
}

static void test_broken_framing(void **state)
{
	(void)state;
	struct peer *p = peer_start(script_bad_header, NULL);
	struct uvfio_client *c = peer_client(p, &quiet);
	uint32_t v;
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), -ECONNRESET);
	assert_int_equal(peer_join(p), 0);
	uvfio_client_close(c);
}

struct neg_case {
	uint16_t minor;
	const char *json;
	int nfds; /* descriptors sent with the reply */
};

static void script_negotiation(struct peer *p)
{
	const struct neg_case *nc = p->arg;
	struct uvfio_hdr h;
	uint8_t body[4096], rep[4096];
	peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL);
	struct uvfio_version v = { 0, nc->minor };
	memcpy(rep, &v, 4);
	size_t len = 4;
	if (nc->json) {
		memcpy(rep + 4, nc->json, strlen(nc->json) + 1);
		len += strlen(nc->json) + 1;
	}
	struct uvfio_hdr r = { .msg_id = h.msg_id, .cmd = h.cmd, .msg_size = (uint32_t)(16 + len),
			       .flags = UVFIO_FLAGS_TYPE_REPLY };
	uint8_t msg[4200];
	memcpy(msg, &r, 16);
	memcpy(msg + 16, rep, len);
	int efd[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	peer_write(p->fd, msg, 16 + len, efd, nc->nfds);
	close(efd[0]);
	close(efd[1]);
	uint8_t x;
	p->result = read(p->fd, &x, 1) == 0 ? 0 : 1; /* the client hung up */
}

static void test_negotiation_failures(void **state)
{
	(void)state;
	static const struct neg_case cases[] = {
		{ 7, NULL, 0 },                                  /* minor above the proposal */
		{ 1, "{not json", 0 },                           /* malformed */
		{ 1, "{\"capabilities\":{\"max_msg_fds\":\"x\"}}", 0 }, /* wrong type */
		{ 1, "{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}", 0 },
		{ 1, "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":1}}}", 1 },
		{ 1, "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}", 1 },
		{ 1, NULL, 2 }, /* descriptors nobody asked for */
	};
	int fds_before = tu_count_fds();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct peer *p = peer_start(script_negotiation, (void *)&cases[i]);
		struct uvfio_client *c = NULL;
		int fd = p->other;
		p->other = -1;
		int r = uvfio_client_adopt(fd, &quiet, &c);
		if (r != -EPROTO)
			fail_msg("case %zu: %d", i, r);
		assert_null(c);
		assert_int_equal(peer_join(p), 0);
	}
	assert_int_equal(tu_count_fds(), fds_before);
}

static void script_region_info(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t req[256], rep[512];
	for (;;) {
		if (!peer_recv(p->fd, &h, req, sizeof(req), NULL, NULL))
			break;
		struct vfio_region_info in;
		memcpy(&in, req, sizeof(in));
		struct vfio_region_info ri = { .index = in.index, .size = 0x4000,
					       .flags = VFIO_REGION_INFO_FLAG_READ };
		size_t len = sizeof(ri);
		memset(rep, 0, sizeof(rep));
		switch (in.index) {
		case 0: /* always wants more */
			ri.argsz = in.argsz + 64;
			break;
		case 1: { /* a sparse area outside the region */
			ri.flags |= VFIO_REGION_INFO_FLAG_CAPS;
			ri.cap_offset = 32;
			struct vfio_region_info_cap_sparse_mmap sm = {
				.header = { VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, 0 }, .nr_areas = 1
			};
			struct vfio_region_sparse_mmap_area a = { 0x3000, 0x2000 };
			memcpy(rep + 32, &sm, sizeof(sm));
			memcpy(rep + 48, &a, sizeof(a));
			len = 64;
			ri.argsz = 64;
			break;
		}
		case 2: /* a capability chain that loops */
			ri.flags |= VFIO_REGION_INFO_FLAG_CAPS;
			ri.cap_offset = 32;
			struct vfio_info_cap_header ch = { 99, 1, 32 };
			memcpy(rep + 32, &ch, sizeof(ch));
			len = 40;
			ri.argsz = 40;
			break;
		case 3: /* mappable, but no descriptor */
			ri.flags |= VFIO_REGION_INFO_FLAG_MMAP;
			ri.argsz = 32;
			break;
		case 5: /* mappable, with a file of 4 KiB for 16 KiB */
			ri.flags |= VFIO_REGION_INFO_FLAG_MMAP;
			ri.argsz = 32;
			break;
		default: /* fine */
			ri.argsz = 32;
		}
		if (len > in.argsz)
			len = sizeof(ri);
		memcpy(rep, &ri, sizeof(ri));
		if (in.index == 5) {
			int mfd = memfd_create("bar", MFD_CLOEXEC);
			if (ftruncate(mfd, 4096) < 0)
				return;
			struct uvfio_hdr r = { .msg_id = h.msg_id, .cmd = h.cmd,
					       .msg_size = (uint32_t)(sizeof(r) + len),
					       .flags = UVFIO_FLAGS_TYPE_REPLY };
			uint8_t whole[sizeof(r) + sizeof(rep)];
			memcpy(whole, &r, sizeof(r));
			memcpy(whole + sizeof(r), rep, len);
			peer_write(p->fd, whole, sizeof(r) + len, &mfd, 1);
			close(mfd);
			continue;
		}
		peer_reply(p->fd, &h, rep, len);
	}
	p->result = 0;
}

static void test_region_info_validation(void **state)
{
	(void)state;
	struct peer *p = peer_start(script_region_info, NULL);
	struct uvfio_client *c = peer_client(p, &quiet);
	struct uvfio_region_info ri;
	assert_int_equal(uvfio_client_region_info(c, 0, &ri), -EPROTO); /* bounded retry */
	assert_int_equal(uvfio_client_region_info(c, 1, &ri), -EPROTO);
	assert_int_equal(uvfio_client_region_info(c, 2, &ri), -EPROTO);
	assert_int_equal(uvfio_client_region_info(c, 3, &ri), -EPROTO);
	assert_int_equal(uvfio_client_region_info(c, 4, &ri), 0);
	assert_int_equal(ri.size, 0x4000);
	uvfio_region_info_release(&ri);
	/* a descriptor too short for its area: mapping it would mean SIGBUS */
	assert_int_equal(uvfio_client_region_info(c, 5, &ri), 0);
	assert_int_equal(ri.nr_areas, 1);
	void *addr = NULL;
	assert_int_equal(uvfio_region_map_area(&ri, 0, PROT_READ, &addr), -ENXIO);
	assert_null(addr);
	uvfio_region_info_release(&ri);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_byte_at_a_time),
		cmocka_unit_test(test_server_dies_mid_reply),
		cmocka_unit_test(test_all_waiters_fail_at_once),
		cmocka_unit_test(test_timeout_and_late_reply),
		cmocka_unit_test(test_unexpected_replies),
		cmocka_unit_test(test_broken_framing),
		cmocka_unit_test(test_negotiation_failures),
		cmocka_unit_test(test_region_info_validation),
	};
	return cmocka_run_group_tests_name("client_faults", tests, NULL, NULL);
}
