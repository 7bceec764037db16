/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Doorbells rung through the server's ioeventfds (use_ioeventfds), end to
 * end against our server: a matching posted write reaches the handler
 * through its eventfd, a write that does not match goes as a message, a
 * synchronous one always; the order rule (what was posted before a
 * doorbell is handled before its handler), at once and from the send
 * buffer (rings summed); a client without the option, a server without
 * ioeventfds. And DEVICE_GET_REGION_IO_FDS's larger-argsz retry against a
 * scripted server.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "peer.h"
#include "util.h"

struct bdev {
	struct uvfio_server *srv;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned calls;
	uint64_t rings;          /* summed counts */
	struct uvfio_ioevent last;
	uint32_t setup;          /* BAR0 0x00, written by messages */
	uint32_t setup_seen;     /* setup when the last doorbell rang */
	unsigned region_writes;  /* writes that reached the region callback */
};

enum { PLAIN, MATCH7 };

static ssize_t regs(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		    bool is_write)
{
	struct bdev *d = opaque;
	(void)region;
	if (!is_write) {
		memset(buf, 0, count);
		return (ssize_t)count;
	}
	pthread_mutex_lock(&d->mu);
	d->region_writes++;
	if (off == 0 && count == 4)
		memcpy(&d->setup, buf, 4);
	pthread_mutex_unlock(&d->mu);
	return (ssize_t)count;
}

static int ring(void *opaque, const struct uvfio_ioevent *ev)
{
	struct bdev *d = opaque;
	pthread_mutex_lock(&d->mu);
	d->calls++;
	d->rings += ev->count;
	d->last = *ev;
	d->setup_seen = d->setup;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return 0;
}

static void *serve(void *arg)
{
	struct bdev *d = arg;
	uvfio_server_run(d->srv);
	return NULL;
}

/* A device with a plain doorbell at BAR0 0x10 (4 bytes) and one that
 * matches the value 7 at 0x20 (none with no_bells), serving one client
 * with the given options. */
static struct bdev *bdev_start(bool no_bells, const struct uvfio_client_config *cc,
			       struct uvfio_client **c)
{
	struct bdev *d = calloc(1, sizeof(*d));
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .opaque = d };
	assert_int_equal(uvfio_server_create(&cfg, &d->srv), 0);
	struct uvfio_region_desc bar0 = { .size = 4096,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE,
					  .fn = regs };
	assert_int_equal(uvfio_server_setup_region(d->srv, 0, &bar0, NULL), 0);
	if (!no_bells) {
		assert_int_equal(uvfio_server_add_ioeventfd(d->srv, 0, 0x10, 4, 0, 0, ring), PLAIN);
		assert_int_equal(uvfio_server_add_ioeventfd(d->srv, 0, 0x20, 4,
							    UVFIO_IOEVENTFD_DATAMATCH, 7, ring),
				 MATCH7);
	}
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(uvfio_server_adopt(d->srv, sv[1]), 0);
	pthread_create(&d->thread, NULL, serve, d);
	assert_int_equal(uvfio_client_adopt(sv[0], cc, c), 0);
	return d;
}

static void bdev_stop(struct bdev *d, struct uvfio_client *c)
{
	uvfio_client_close(c);
	pthread_join(d->thread, NULL);
	uvfio_server_destroy(d->srv);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d);
}

/* Until the handler was told of n rings in all (a hang bound). */
static struct uvfio_ioevent wait_rings(struct bdev *d, uint64_t n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&d->mu);
	while (d->rings < n)
		if (pthread_cond_timedwait(&d->cv, &d->mu, &until))
			break;
	uint64_t rings = d->rings;
	struct uvfio_ioevent ev = d->last;
	pthread_mutex_unlock(&d->mu);
	assert_int_equal(rings, n);
	return ev;
}

static unsigned region_writes(struct bdev *d)
{
	pthread_mutex_lock(&d->mu);
	unsigned n = d->region_writes;
	pthread_mutex_unlock(&d->mu);
	return n;
}

static const struct uvfio_client_config with = { .log = { .level = -1 }, .timeout_ms = 20000,
						 .use_ioeventfds = true };

static void post32(struct uvfio_client *c, uint64_t off, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write_posted(c, 0, off, &v, 4), 0);
}

static void test_rung_through_eventfd(void **state)
{
	(void)state;
	struct uvfio_client *c;
	struct bdev *d = bdev_start(false, &with, &c);
	assert_int_equal(c->nbells, 2);
	/* A signal of a doorbell without DATAMATCH carries no data: the
	 * handler knows it came through the eventfd, not as a message. */
	post32(c, 0x10, 0x1234);
	struct uvfio_ioevent ev = wait_rings(d, 1);
	assert_int_equal(ev.id, PLAIN);
	assert_false(ev.has_data);
	post32(c, 0x20, 7);
	ev = wait_rings(d, 2);
	assert_int_equal(ev.id, MATCH7);
	assert_true(ev.has_data);
	assert_int_equal(ev.data, 7);
	assert_int_equal(uvfio_client_flush(c), 0);
	assert_int_equal(region_writes(d), 0);
	bdev_stop(d, c);
}

static void test_other_writes_are_messages(void **state)
{
	(void)state;
	struct uvfio_client *c;
	struct bdev *d = bdev_start(false, &with, &c);
	/* another value, another size, another offset: messages */
	post32(c, 0x20, 8);
	uint16_t h = 1;
	assert_int_equal(uvfio_client_region_write_posted(c, 0, 0x10, &h, 2), 0);
	post32(c, 0x14, 1);
	assert_int_equal(uvfio_client_flush(c), 0);
	assert_int_equal(region_writes(d), 3);
	/* a synchronous write that matches goes as a message: the handler
	 * gets it with its data, and its result is the reply */
	uint32_t v = 0x55;
	assert_int_equal(uvfio_client_region_write(c, 0, 0x10, &v, 4), 0);
	struct uvfio_ioevent ev = wait_rings(d, 1);
	assert_true(ev.has_data);
	assert_int_equal(ev.data, 0x55);
	bdev_stop(d, c);
}

/* The order rule: setup written (a posted message), then the doorbell: the
 * handler always sees the setup. At once, and from the send buffer. */
static void check_order(const struct uvfio_client_config *cc, bool summed)
{
	struct uvfio_client *c;
	struct bdev *d = bdev_start(false, cc, &c);
	for (uint32_t i = 1; i <= 50; i++) {
		post32(c, 0x00, i);
		post32(c, 0x10, 1);
		if (!summed) {
			wait_rings(d, i);
			pthread_mutex_lock(&d->mu);
			assert_int_equal(d->setup_seen, i);
			pthread_mutex_unlock(&d->mu);
		}
	}
	assert_int_equal(uvfio_client_flush(c), 0);
	if (summed) {
		/* fifty rings while the buffer waited: signalled together
		 * after the last setup, one handler call for all of them */
		wait_rings(d, 50);
		pthread_mutex_lock(&d->mu);
		assert_int_equal(d->calls, 1);
		assert_int_equal(d->setup_seen, 50);
		pthread_mutex_unlock(&d->mu);
	}
	bdev_stop(d, c);
}

static void test_order_at_once(void **state)
{
	(void)state;
	check_order(&with, false);
	struct uvfio_client_config cc = with;
	cc.coalesce_posted = true; /* the setup waits gathered: it leaves first */
	check_order(&cc, false);
}

static void test_order_buffered(void **state)
{
	(void)state;
	struct uvfio_client_config cc = with;
	cc.post_delay_us = 1000000; /* nothing leaves before the flush */
	check_order(&cc, true);
}

static void test_not_used(void **state)
{
	(void)state;
	/* the option off: messages */
	struct uvfio_client_config cc = with;
	cc.use_ioeventfds = false;
	struct uvfio_client *c;
	struct bdev *d = bdev_start(false, &cc, &c);
	assert_int_equal(c->nbells, 0);
	post32(c, 0x10, 1);
	struct uvfio_ioevent ev = wait_rings(d, 1);
	assert_true(ev.has_data); /* as a message */
	bdev_stop(d, c);
	/* a server without ioeventfds */
	d = bdev_start(true, &with, &c);
	assert_int_equal(c->nbells, 0);
	post32(c, 0x10, 1);
	assert_int_equal(uvfio_client_flush(c), 0);
	assert_int_equal(region_writes(d), 1);
	bdev_stop(d, c);
}

/* ---- The larger-argsz retry ---------------------------------------------------------- */

struct io_fds_script {
	uint32_t first_argsz; /* what the first reply asks for */
	int always_more;      /* keep asking for more */
};

static void script_io_fds(struct peer *p)
{
	struct io_fds_script *s = p->arg;
	peer_version(p->fd, 1, NULL);
	struct uvfio_hdr h;
	uint8_t body[256];
	int efd = tu_eventfd();
	while (peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) {
		struct uvfio_region_io_fds_request req;
		memcpy(&req, body, sizeof(req));
		enum { ESZ = sizeof(struct uvfio_sub_region_ioeventfd) };
		uint8_t rep[16 + 100 * ESZ] = { 0 };
		struct uvfio_region_io_fds_reply r = { .argsz = sizeof(rep), .index = req.index,
						       .count = 100 };
		if (s->always_more)
			r.argsz = req.argsz + 4096;
		if (req.argsz < r.argsz) { /* the size needed, no list */
			memcpy(rep, &r, sizeof(r));
			peer_reply(p->fd, &h, rep, sizeof(r));
			continue;
		}
		memcpy(rep, &r, sizeof(r));
		for (uint32_t i = 0; i < 100; i++) {
			struct uvfio_sub_region_ioeventfd e = { .offset = 8u * i, .size = 4,
								.fd_index = 0,
								.type = UVFIO_IO_FD_TYPE_IOEVENTFD };
			memcpy(rep + 16 + ESZ * i, &e, sizeof(e));
		}
		struct uvfio_hdr rh = { .msg_id = h.msg_id, .cmd = h.cmd,
					.msg_size = (uint32_t)(16 + sizeof(rep)),
					.flags = UVFIO_FLAGS_TYPE_REPLY };
		static uint8_t out[16 + sizeof(rep)];
		memcpy(out, &rh, 16);
		memcpy(out + 16, rep, sizeof(rep));
		peer_write(p->fd, out, sizeof(out), &efd, 1);
	}
	close(efd);
	p->result = 0;
}

static void test_io_fds_larger_argsz(void **state)
{
	(void)state;
	struct io_fds_script s = { 0 };
	struct peer *p = peer_start(script_io_fds, &s);
	struct uvfio_client_config cfg = { .log = { .level = -1 } };
	struct uvfio_client *c = peer_client(p, &cfg);
	struct uvfio_io_fds io;
	assert_int_equal(uvfio_client_region_io_fds(c, 0, &io), 0);
	assert_int_equal(io.count, 100);
	assert_int_equal(io.nfds, 1);
	assert_int_equal(io.subs[99].offset, 8 * 99);
	uvfio_io_fds_release(&io);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);

	/* a server that always wants more: refused after a few tries */
	struct io_fds_script s2 = { .always_more = 1 };
	p = peer_start(script_io_fds, &s2);
	c = peer_client(p, &cfg);
	assert_int_equal(uvfio_client_region_io_fds(c, 0, &io), -EPROTO);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
}

/* ---- A server's "ioeventfd" that is not one ----------------------------------------- */

/*
 * The server offers, as the ioeventfd of BAR0 offset 0x10, one end of a
 * socket pair whose other end is closed: written, it would raise SIGPIPE in
 * the client. The client must not use it: the write goes as a message,
 * which this peer checks and answers.
 */
static void script_socket_bell(struct peer *p)
{
	peer_version(p->fd, 1, NULL);
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return;
	close(sp[1]);
	struct uvfio_hdr h;
	uint8_t body[256];
	while (peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) {
		if (h.cmd == UVFIO_CMD_DEVICE_GET_INFO) {
			struct uvfio_device_info di = { .argsz = sizeof(di), .num_regions = 1 };
			peer_reply(p->fd, &h, &di, sizeof(di));
		} else if (h.cmd == UVFIO_CMD_DEVICE_GET_REGION_IO_FDS) {
			enum { ESZ = sizeof(struct uvfio_sub_region_ioeventfd) };
			uint8_t rep[16 + ESZ] = { 0 };
			struct uvfio_region_io_fds_reply r = { .argsz = sizeof(rep), .count = 1 };
			struct uvfio_sub_region_ioeventfd e = { .offset = 0x10, .size = 4,
								.type = UVFIO_IO_FD_TYPE_IOEVENTFD };
			memcpy(rep, &r, sizeof(r));
			memcpy(rep + 16, &e, sizeof(e));
			uint8_t out[16 + sizeof(rep)];
			struct uvfio_hdr rh = { .msg_id = h.msg_id, .cmd = h.cmd,
						.msg_size = sizeof(out),
						.flags = UVFIO_FLAGS_TYPE_REPLY };
			memcpy(out, &rh, 16);
			memcpy(out + 16, rep, sizeof(rep));
			peer_write(p->fd, out, sizeof(out), &sp[0], 1);
		} else if (h.cmd == UVFIO_CMD_REGION_WRITE) {
			struct uvfio_region_access a;
			memcpy(&a, body, sizeof(a));
			uint32_t v;
			memcpy(&v, body + sizeof(a), 4);
			if (a.offset == 0x10 && a.count == 4 && v == 1)
				p->result = 0; /* the doorbell, as a message */
			peer_reply(p->fd, &h, &a, sizeof(a));
		} else {
			peer_reply(p->fd, &h, NULL, 0);
		}
	}
	close(sp[0]);
}

static void test_bell_not_an_eventfd(void **state)
{
	(void)state;
	struct peer *p = peer_start(script_socket_bell, NULL);
	struct uvfio_client *c = peer_client(p, &with);
	assert_int_equal(c->nbells, 0);
	post32(c, 0x10, 1); /* a write to the socket would end this process */
	assert_int_equal(uvfio_client_flush(c), 0);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rung_through_eventfd),
		cmocka_unit_test(test_other_writes_are_messages),
		cmocka_unit_test(test_order_at_once),
		cmocka_unit_test(test_order_buffered),
		cmocka_unit_test(test_not_used),
		cmocka_unit_test(test_io_fds_larger_argsz),
		cmocka_unit_test(test_bell_not_an_eventfd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
