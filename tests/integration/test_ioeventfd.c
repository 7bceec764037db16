/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ioeventfds: a device registers doorbells, a client gets their eventfds
 * with DEVICE_GET_REGION_IO_FDS, signals them, and the device's handler
 * runs with the right data; a write that comes as a message reaches the
 * same handler; the loop's order rule; the descriptor bound; fresh
 * eventfds for each client.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "uvfio/client.h"
#include "rawclient.h"
#include "util.h"

struct iodev {
	struct uvfio_server *srv;
	pthread_t thread;
	int run_result;
	char path[108];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned calls;
	struct uvfio_ioevent last;
	uint64_t setup;         /* BAR0 0x00, written by messages */
	uint64_t setup_seen;    /* setup when the last doorbell rang */
	unsigned region_writes; /* writes that reached the region callback */
};

enum { DOORBELL, MATCH7, MATCH9, ANYSIZE, PIO, NIDS };

/* A client taking 8 descriptors a message (the default is 1). */
#define FDS8 "{\"max_msg_fds\":8}"

static ssize_t regs(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		    bool is_write)
{
	struct iodev *d = opaque;
	(void)region;
	if (!is_write) {
		memset(buf, 0, count);
		if (off == 0 && count == 8)
			memcpy(buf, &d->setup, 8);
		return (ssize_t)count;
	}
	pthread_mutex_lock(&d->mu);
	d->region_writes++;
	if (off == 0 && count == 8)
		memcpy(&d->setup, buf, 8);
	pthread_mutex_unlock(&d->mu);
	return (ssize_t)count;
}

static int ring(void *opaque, const struct uvfio_ioevent *ev)
{
	struct iodev *d = opaque;
	pthread_mutex_lock(&d->mu);
	d->calls++;
	d->last = *ev;
	d->setup_seen = d->setup;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return ev->has_data && ev->data == 0xbad ? -EIO : 0;
}

static struct iodev *iodev_new(bool listen)
{
	struct iodev *d = calloc(1, sizeof(*d));
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .opaque = d,
					   .no_twin_socket = true };
	assert_int_equal(uvfio_server_create(&cfg, &d->srv), 0);
	uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	struct uvfio_region_desc bar0 = { .size = 4096, .flags = rw, .fn = regs };
	struct uvfio_region_desc bar1 = { .size = 256, .flags = rw, .fn = regs,
					  .bar_flags = UVFIO_BAR_IO };
	struct uvfio_region_desc bar2 = { .size = 8192, .flags = rw, .mappable = true };
	assert_int_equal(uvfio_server_setup_region(d->srv, 0, &bar0, NULL), 0);
	assert_int_equal(uvfio_server_setup_region(d->srv, 1, &bar1, NULL), 0);
	assert_int_equal(uvfio_server_setup_region(d->srv, 2, &bar2, NULL), 0);
	struct uvfio_server *s = d->srv;
	assert_int_equal(uvfio_server_add_ioeventfd(s, 0, 0x10, 4, 0, 0, ring), DOORBELL);
	assert_int_equal(
		uvfio_server_add_ioeventfd(s, 0, 0x20, 4, UVFIO_IOEVENTFD_DATAMATCH, 7, ring),
		MATCH7);
	assert_int_equal(
		uvfio_server_add_ioeventfd(s, 0, 0x20, 4, UVFIO_IOEVENTFD_DATAMATCH, 9, ring),
		MATCH9);
	assert_int_equal(uvfio_server_add_ioeventfd(s, 0, 0x30, 0, 0, 0, ring), ANYSIZE);
	assert_int_equal(uvfio_server_add_ioeventfd(s, 1, 0x4, 2, 0, 0, ring), PIO);
	if (listen)
		raw_listen(s, d->path);
	return d;
}

static void iodev_free(struct iodev *d)
{
	uvfio_server_destroy(d->srv);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d);
}

/* Wait until the handler ran n times in all (a hang bound, not a timing
 * check); returns the last event. */
static struct uvfio_ioevent wait_calls(struct iodev *d, unsigned n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&d->mu);
	while (d->calls < n)
		if (pthread_cond_timedwait(&d->cv, &d->mu, &until))
			break;
	unsigned calls = d->calls;
	struct uvfio_ioevent ev = d->last;
	pthread_mutex_unlock(&d->mu);
	assert_int_equal(calls, n);
	return ev;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	assert_int_equal(write(fd, &one, 8), 8);
}

/* The registration rules. */
static void test_add_rules(void **state)
{
	(void)state;
	struct iodev *d = iodev_new(false);
	struct uvfio_server *s = d->srv;
	uint32_t dm = UVFIO_IOEVENTFD_DATAMATCH;
	struct uvfio_region_desc rom = { .size = 4096, .flags = VFIO_REGION_INFO_FLAG_READ };
	assert_int_equal(uvfio_server_setup_region(s, 6, &rom, NULL), 0);
	struct {
		uint32_t region;
		uint64_t offset;
		uint32_t size, flags;
		uint64_t data;
		int err;
	} rows[] = {
		{ 3, 0, 4, 0, 0, -EINVAL },                 /* absent region */
		{ 7, 0, 4, 0, 0, -EINVAL },                 /* configuration space */
		{ 6, 0, 4, 0, 0, -EINVAL },                 /* read-only region */
		{ 99, 0, 4, 0, 0, -EINVAL },                /* no such index */
		{ 0, 0x40, 3, 0, 0, -EINVAL },              /* size not 0, 1, 2, 4, 8 */
		{ 0, 0x40, 16, 0, 0, -EINVAL },
		{ 0, 0x40, 0, dm, 0, -EINVAL },             /* datamatch needs a size */
		{ 0, 0x40, 2, dm, 0x10000, -EINVAL },       /* datamatch wider than size */
		{ 0, 0x40, 4, 4, 0, -EINVAL },              /* unknown flag */
		{ 0, 4093, 4, 0, 0, -EINVAL },              /* past the end */
		{ 0, UINT64_MAX, 1, 0, 0, -EINVAL },
		{ 2, 0x100, 4, 0, 0, -EINVAL },             /* inside an mmap-able area */
		{ 0, 0x10, 4, 0, 0, -EEXIST },              /* the doorbell again */
		{ 0, 0x10, 0, 0, 0, -EEXIST },              /* any size covers size 4 */
		{ 0, 0x10, 4, dm, 3, -EEXIST },             /* matched by the doorbell */
		{ 0, 0x20, 4, 0, 0, -EEXIST },              /* would match 7 and 9 */
		{ 0, 0x20, 4, dm, 9, -EEXIST },
		{ 0, 0x20, 4, dm, 8, 5 },                   /* another value: fine */
		{ 0, 0x10, 8, 0, 0, 6 },                    /* another size: fine */
		{ 0, 0x40, 8, dm, UINT64_MAX, 7 },
	};
	for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int r = uvfio_server_add_ioeventfd(s, rows[i].region, rows[i].offset, rows[i].size,
						   rows[i].flags, rows[i].data, ring);
		if (r != rows[i].err)
			fail_msg("row %u: %d, expected %d", i, r, rows[i].err);
	}
	assert_int_equal(uvfio_server_add_ioeventfd(s, 0, 0x80, 4, 0, 0, NULL), -EINVAL);
	assert_int_equal(uvfio_server_add_ioeventfd(NULL, 0, 0x80, 4, 0, 0, ring), -EINVAL);
	int id = 8;
	for (; id < (int)UVFIO_SERVER_MAX_IOEVENTFDS; id++)
		assert_int_equal(uvfio_server_add_ioeventfd(s, 0, 0x100 + 8u * (unsigned)id, 8, 0, 0,
							    ring),
				 id);
	assert_int_equal(uvfio_server_add_ioeventfd(s, 0, 0x800, 8, 0, 0, ring), -ENOSPC);
	iodev_free(d);
}

static void *serve(void *arg)
{
	struct iodev *d = arg;
	d->run_result = uvfio_server_run(d->srv);
	return NULL;
}

static void write32(struct uvfio_client *c, uint32_t region, uint64_t off, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write(c, region, off, &v, 4), 0);
}

/* uvfio_server_run() in a thread, our client library: the reply lists every
 * registration with its own eventfd; signalling one runs the handler with
 * the right data; writes as messages reach the handler when they match. */
static void test_end_to_end(void **state)
{
	(void)state;
	struct iodev *d = iodev_new(true);
	pthread_create(&d->thread, NULL, serve, d);
	struct uvfio_client_config cfg = { .log = { .level = UVFIO_LOG_ERR } };
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);

	struct uvfio_io_fds io;
	assert_int_equal(uvfio_client_region_io_fds(c, 0, &io), 0);
	assert_int_equal(io.index, 0);
	assert_int_equal(io.count, 4);
	assert_int_equal(io.nfds, 4);
	struct {
		uint64_t offset, size;
		uint32_t flags;
		uint64_t data;
	} want[] = { { 0x10, 4, 0, 0 }, { 0x20, 4, UVFIO_IO_FD_FLAG_DATAMATCH, 7 },
		     { 0x20, 4, UVFIO_IO_FD_FLAG_DATAMATCH, 9 }, { 0x30, 0, 0, 0 } };
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(io.subs[i].offset, want[i].offset);
		assert_int_equal(io.subs[i].size, want[i].size);
		assert_int_equal(io.subs[i].type, UVFIO_IO_FD_TYPE_IOEVENTFD);
		assert_int_equal(io.subs[i].flags, want[i].flags);
		assert_int_equal(io.subs[i].datamatch, want[i].data);
		assert_int_equal(io.subs[i].fd_index, i); /* one eventfd each */
	}

	/* the client signals the eventfd of "0x20 == 9" */
	signal_fd(io.fds[io.subs[MATCH9].fd_index]);
	struct uvfio_ioevent ev = wait_calls(d, 1);
	assert_int_equal(ev.id, MATCH9);
	assert_int_equal(ev.region, 0);
	assert_int_equal(ev.offset, 0x20);
	assert_true(ev.has_data);
	assert_int_equal(ev.data, 9);
	assert_int_equal(ev.count, 1);
	/* the plain doorbell: no value travels with it */
	signal_fd(io.fds[io.subs[DOORBELL].fd_index]);
	ev = wait_calls(d, 2);
	assert_int_equal(ev.id, DOORBELL);
	assert_false(ev.has_data);
	assert_true(ev.count >= 1);

	/* while the client has eventfds, run() still serves its messages */
	uint64_t v = 0x1234;
	assert_int_equal(uvfio_client_region_write(c, 0, 0, &v, 8), 0);
	v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 8), 0);
	assert_int_equal(v, 0x1234);

	/* as messages: matching writes go to the handler, with their data */
	pthread_mutex_lock(&d->mu);
	unsigned before = d->region_writes;
	pthread_mutex_unlock(&d->mu);
	write32(c, 0, 0x20, 7);
	ev = wait_calls(d, 3);
	assert_int_equal(ev.id, MATCH7);
	assert_true(ev.has_data);
	assert_int_equal(ev.data, 7);
	uint16_t h = 0xabcd;
	assert_int_equal(uvfio_client_region_write(c, 0, 0x30, &h, 2), 0); /* any size */
	ev = wait_calls(d, 4);
	assert_int_equal(ev.id, ANYSIZE);
	assert_int_equal(ev.data, 0xabcd);
	/* the handler's error is the reply's */
	assert_int_equal(uvfio_client_region_write(c, 0, 0x30, &(uint32_t){ 0xbad }, 4), -EIO);
	wait_calls(d, 5);
	pthread_mutex_lock(&d->mu);
	assert_int_equal(d->region_writes, before); /* none reached the region */
	pthread_mutex_unlock(&d->mu);
	write32(c, 0, 0x20, 5);                                  /* no value matches */
	assert_int_equal(uvfio_client_region_write(c, 0, 0x10, &v, 8), 0); /* nor size */
	pthread_mutex_lock(&d->mu);
	assert_int_equal(d->region_writes, before + 2);
	assert_int_equal(d->calls, 5);
	pthread_mutex_unlock(&d->mu);
	uvfio_io_fds_release(&io);

	/* an I/O BAR's ioeventfd says PIO */
	assert_int_equal(uvfio_client_region_io_fds(c, 1, &io), 0);
	assert_int_equal(io.count, 1);
	assert_int_equal(io.subs[0].flags, UVFIO_IO_FD_FLAG_PIO);
	assert_int_equal(io.subs[0].offset, 4);
	assert_int_equal(io.subs[0].size, 2);
	uvfio_io_fds_release(&io);
	/* a region without any: an empty list */
	assert_int_equal(uvfio_client_region_io_fds(c, 2, &io), 0);
	assert_int_equal(io.count, 0);
	assert_int_equal(io.nfds, 0);
	uvfio_io_fds_release(&io);

	uvfio_server_stop(d->srv); /* run() waits in epoll: the client stays */
	pthread_join(d->thread, NULL);
	assert_int_equal(d->run_result, 0);
	assert_true(uvfio_server_connected(d->srv));
	uvfio_client_close(c);
	unlink(d->path);
	iodev_free(d);
}

static void io_fds_raw(struct iodev *d, int fd, uint32_t region, uint32_t argsz,
		       struct raw_reply *rep)
{
	struct uvfio_region_io_fds_request req = { .argsz = argsz, .index = region };
	assert_int_equal(raw_call(d->srv, fd, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, &req,
				  sizeof(req), NULL, 0, rep),
			 0);
}

/* The order rule: a message sent before a signal is handled before that
 * signal's handler runs, even when both wait for the same pass. */
static void test_messages_before_signals(void **state)
{
	(void)state;
	struct iodev *d = iodev_new(false);
	int fd = raw_connect(d->srv, FDS8);
	struct raw_reply rep;
	io_fds_raw(d, fd, 0, 4096, &rep);
	assert_int_equal(rep.nfds, 4);
	int bell = rep.fds[DOORBELL];
	for (uint64_t n = 1; n <= 20; n++) {
		uint8_t body[24];
		struct uvfio_region_access a = { .offset = 0, .region = 0, .count = 8 };
		memcpy(body, &a, 16);
		memcpy(body + 16, &n, 8);
		/* a posted write of the queue's setup, then the doorbell */
		raw_send(fd, UVFIO_CMD_REGION_WRITE, UVFIO_FLAGS_NO_REPLY, body, sizeof(body),
			 NULL, 0);
		signal_fd(bell);
		assert_int_equal(uvfio_server_dispatch(d->srv), 2); /* a message, a signal */
		assert_int_equal(d->calls, n);
		assert_int_equal(d->setup_seen, n);
	}
	raw_reply_close(&rep);
	close(fd);
	iodev_free(d);
}

/* Event-loop mode: the poll descriptor is readable while a signal waits,
 * and dispatch() runs its handler. */
static void test_poll_fd(void **state)
{
	(void)state;
	struct iodev *d = iodev_new(false);
	int fd = raw_connect(d->srv, FDS8);
	struct raw_reply rep;
	io_fds_raw(d, fd, 0, 4096, &rep);
	struct pollfd pf = { .fd = uvfio_server_poll_fd(d->srv), .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 0), 0);
	signal_fd(rep.fds[MATCH7]);
	signal_fd(rep.fds[MATCH7]);
	assert_int_equal(poll(&pf, 1, 0), 1);
	assert_int_equal(uvfio_server_dispatch(d->srv), 1);
	assert_int_equal(d->calls, 1);
	assert_int_equal(d->last.id, MATCH7);
	assert_int_equal(d->last.data, 7);
	assert_int_equal(d->last.count, 2); /* two signals, one call */
	assert_int_equal(poll(&pf, 1, 0), 0);
	raw_reply_close(&rep);
	close(fd);
	iodev_free(d);
}

/* A client taking 2 descriptors a message gets 2 entries (the others reach
 * the device by messages); an argsz too small gets the size needed. */
static void test_descriptor_bound(void **state)
{
	(void)state;
	struct iodev *d = iodev_new(false);
	int fd = raw_connect(d->srv, "{\"max_msg_fds\":2}");
	struct raw_reply rep;
	io_fds_raw(d, fd, 0, 4096, &rep);
	struct uvfio_region_io_fds_reply h;
	memcpy(&h, rep.body, sizeof(h));
	assert_int_equal(h.count, 2);
	assert_int_equal(h.argsz, 16 + 2 * 40);
	assert_int_equal(h.flags, 0);
	assert_int_equal(rep.len, h.argsz);
	assert_int_equal(rep.nfds, 2);
	raw_reply_close(&rep);
	uint32_t nine = 9;
	assert_int_equal(raw_region_write(d->srv, fd, 0, 0x20, &nine, 4), 0);
	assert_int_equal(d->last.id, MATCH9);

	io_fds_raw(d, fd, 0, 16, &rep);
	memcpy(&h, rep.body, sizeof(h));
	assert_int_equal(h.argsz, 16 + 2 * 40);
	assert_int_equal(h.count, 2);
	assert_int_equal(rep.len, 16); /* no list, no descriptors */
	assert_int_equal(rep.nfds, 0);
	close(fd);
	iodev_free(d);
}

/* A client that left cannot ring the next client's device: each gets
 * eventfds of its own, and the server keeps no descriptor of the last. */
static void test_fresh_eventfds_per_client(void **state)
{
	(void)state;
	struct iodev *d = iodev_new(false);
	int fds_before = tu_count_fds();
	int fd = raw_connect(d->srv, FDS8);
	struct raw_reply a, b;
	io_fds_raw(d, fd, 0, 4096, &a);
	close(fd);
	assert_int_equal(uvfio_server_dispatch(d->srv), -ENOTCONN);
	assert_int_equal(tu_count_fds(), fds_before + a.nfds); /* only the test's copies */
	fd = raw_connect(d->srv, FDS8);
	io_fds_raw(d, fd, 0, 4096, &b);
	signal_fd(a.fds[DOORBELL]); /* the old client's doorbell */
	assert_int_equal(uvfio_server_dispatch(d->srv), 0);
	assert_int_equal(d->calls, 0);
	uint64_t v;
	assert_int_equal(read(a.fds[DOORBELL], &v, 8), 8); /* nobody read it */
	signal_fd(b.fds[DOORBELL]);
	assert_int_equal(uvfio_server_dispatch(d->srv), 1);
	assert_int_equal(d->calls, 1);
	raw_reply_close(&a);
	raw_reply_close(&b);
	close(fd);
	assert_int_equal(uvfio_server_dispatch(d->srv), -ENOTCONN);
	assert_int_equal(tu_count_fds(), fds_before);
	iodev_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_rules),
		cmocka_unit_test(test_end_to_end),
		cmocka_unit_test(test_messages_before_signals),
		cmocka_unit_test(test_poll_fd),
		cmocka_unit_test(test_descriptor_bound),
		cmocka_unit_test(test_fresh_eventfds_per_client),
	};
	return cmocka_run_group_tests_name("ioeventfd", tests, NULL, NULL);
}
