/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Faults: a client that writes one byte at a time, a client killed in the
 * middle of a message, descriptor exhaustion (EMFILE) in the server, and a
 * soak of one million mixed messages with resident memory and descriptor
 * count flat from start to end (UVFIO_SOAK sets the count).
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "internal.h"
#include "peer.h"
#include "testdev.h"
#include "util.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#if !defined(UNDER_SANITIZER) && (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#define UNDER_SANITIZER 1
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

static int new_server(struct uvfio_server **s)
{
	struct uvfio_server_config cfg = { .log = { .level = -1 } };
	int r = uvfio_server_create(&cfg, s);
	struct uvfio_region_desc bar0 = { .size = 4096,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE };
	uvfio_server_setup_region(*s, 0, &bar0, NULL);
	uvfio_server_setup_irq(*s, VFIO_PCI_MSIX_IRQ_INDEX, 8);
	return r;
}

static void send_version(int fd)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
	uint8_t v[20 + sizeof(json)];
	struct uvfio_hdr h = { .msg_id = 1, .cmd = UVFIO_CMD_VERSION, .msg_size = sizeof(v) };
	struct uvfio_version ver = { 0, 1 };
	memcpy(v, &h, 16);
	memcpy(v + 16, &ver, 4);
	memcpy(v + 20, json, sizeof(json));
	peer_write(fd, v, sizeof(v), NULL, 0);
}

static void read_reply(int fd, struct uvfio_hdr *h)
{
	uint8_t body[4096];
	int fds[4], n;
	assert_true(peer_recv(fd, h, body, sizeof(body), fds, &n) > 0);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* A server serving one end of a socketpair, negotiated; returns our end. */
static int connected_server(struct uvfio_server **s)
{
	assert_int_equal(new_server(s), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(uvfio_server_adopt(*s, sv[1]), 0);
	send_version(sv[0]);
	uvfio_server_dispatch(*s);
	struct uvfio_hdr h;
	read_reply(sv[0], &h);
	assert_false(h.flags & UVFIO_FLAGS_ERROR);
	return sv[0];
}

/* The server completes messages that arrive a byte at a time. */
static void test_server_byte_at_a_time(void **state)
{
	(void)state;
	struct uvfio_server *s;
	int fd = connected_server(&s);
	struct uvfio_hdr h;
	uint8_t msg[36];
	struct uvfio_hdr w = { .msg_id = 2, .cmd = UVFIO_CMD_REGION_WRITE, .msg_size = 36 };
	struct uvfio_region_access a = { .offset = 8, .region = 0, .count = 4 };
	memcpy(msg, &w, 16);
	memcpy(msg + 16, &a, 16);
	memcpy(msg + 32, "\x11\x22\x33\x44", 4);
	for (size_t i = 0; i < sizeof(msg); i++) {
		peer_write(fd, msg + i, 1, NULL, 0);
		assert_int_equal(uvfio_server_dispatch(s), i + 1 == sizeof(msg) ? 1 : 0);
	}
	read_reply(fd, &h);
	assert_int_equal(h.msg_id, 2);
	assert_false(h.flags & UVFIO_FLAGS_ERROR);
	close(fd);
	uvfio_server_destroy(s);
}

/* A client process killed in the middle of a message: the server drops it,
 * keeps nothing of it, and serves the next client. */
static void test_client_killed_mid_message(void **state)
{
	(void)state;
	int before = tu_count_fds();
	struct testdev *d = testdev_start(NULL);
	pid_t pid = fork();
	if (!pid) {
		struct uvfio_client *c;
		struct uvfio_client_config cfg = { .log = { .level = -1 } };
		if (uvfio_client_connect(d->path, &cfg, &c) < 0)
			_exit(1);
		/* half of a 64 KiB write, then hang until killed */
		int fd = c->sock;
		uint8_t buf[32768] = { 0 };
		struct uvfio_hdr h = { .msg_id = 9, .cmd = UVFIO_CMD_REGION_WRITE,
				       .msg_size = 16 + 16 + 65536 };
		struct uvfio_region_access a = { .offset = 0, .region = 1, .count = 65536 };
		memcpy(buf, &h, 16);
		memcpy(buf + 16, &a, 16);
		if (send(fd, buf, sizeof(buf), 0) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	usleep(200000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = -1 } };
	assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
	uint64_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, TD_SCRATCH, &v, 8), 0);
	uvfio_client_close(c);
	testdev_stop(d);
	assert_int_equal(tu_count_fds(), before);
}

/* Descriptors cannot be received (EMFILE): the kernel truncates them, the
 * server drops that client cleanly and serves the next one. */
static void test_descriptor_exhaustion(void **state)
{
	(void)state;
	struct uvfio_server *s;
	int fd = connected_server(&s);
	int efd[4];
	for (int i = 0; i < 4; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC);
	struct rlimit old, low;
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = (rlim_t)tu_count_fds() + 1; /* room for one more only */
	uint8_t msg[36];
	struct uvfio_hdr sh = { .msg_id = 3, .cmd = UVFIO_CMD_DEVICE_SET_IRQS, .msg_size = 36 };
	struct vfio_irq_set is = { .argsz = 20, .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 4,
				   .flags = VFIO_IRQ_SET_DATA_EVENTFD |
					    VFIO_IRQ_SET_ACTION_TRIGGER };
	memcpy(msg, &sh, 16);
	memcpy(msg + 16, &is, 20);
	peer_write(fd, msg, 36, efd, 4);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int r = uvfio_server_dispatch(s);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(r, -ENOTCONN); /* truncated descriptors: the stream is not trusted */
	uint8_t x;
	assert_int_equal(read(fd, &x, 1), 0);
	for (int i = 0; i < 4; i++)
		close(efd[i]);
	close(fd);
	uvfio_server_destroy(s);
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

/* One million mixed messages (UVFIO_SOAK overrides): resident memory and
 * descriptors flat from the first tenth to the end. */
static void test_soak(void **state)
{
	(void)state;
	long total = getenv("UVFIO_SOAK") ? atol(getenv("UVFIO_SOAK")) : 1000000;
	struct testdev *d = testdev_start(NULL);
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .coalesce_posted = true };
	assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
	long rss0 = 0;
	int fds0 = 0;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint8_t buf[512];
	for (long i = 0; i < total; i++) {
		if (i == total / 10) {
			rss0 = rss_kib();
			fds0 = tu_count_fds();
		}
		uint64_t v = (uint64_t)i;
		switch (i % 16) {
		case 0:
			assert_int_equal(uvfio_client_region_write(c, 0, TD_SCRATCH, &v, 8), 0);
			break;
		case 1:
			assert_int_equal(uvfio_client_region_read(c, 1, 1000, buf, sizeof(buf)), 0);
			break;
		case 2:
			assert_int_equal(uvfio_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
							       VFIO_IRQ_SET_DATA_EVENTFD |
								       VFIO_IRQ_SET_ACTION_TRIGGER,
							       0, 1, &efd),
					 0);
			break;
		case 3: {
			struct uvfio_region_info ri;
			assert_int_equal(uvfio_client_region_info(c, 3, &ri), 0);
			uvfio_region_info_release(&ri);
			break;
		}
		case 4: /* an error reply */
			assert_int_equal(uvfio_client_region_read(c, 1, 70000, buf, 4), -EINVAL);
			break;
		case 5:
			assert_int_equal(uvfio_client_flush(c), 0);
			break;
		default: /* posted, coalesced into REGION_WRITE_MULTI */
			assert_int_equal(uvfio_client_region_write_posted(c, 1, 8u * (unsigned)(i % 64),
									  &v, 8),
					 0);
		}
	}
	assert_int_equal(uvfio_client_flush(c), 0);
	long rss1 = rss_kib();
	int fds1 = tu_count_fds();
	uvfio_client_close(c);
	close(efd);
	testdev_stop(d);
	/* Under a sanitizer, freed memory sits in quarantine and resident size
	 * says nothing; LeakSanitizer checks for leaks there instead. */
	if (!UNDER_SANITIZER && rss1 - rss0 > 2048)
		fail_msg("resident memory grew from %ld KiB to %ld KiB", rss0, rss1);
	assert_int_equal(fds1, fds0);
	print_message("soak: %ld messages, RSS %ld -> %ld KiB, %d descriptors\n", total, rss0,
		      rss1, fds1);
}

/*
 * A DMA_READ reply lands straight in the device's buffer; when the client
 * stalls in the middle of one (QEMU drops the part of a reply its socket
 * does not take), the device's call fails with -ETIMEDOUT and the
 * connection ends: the rest, if it ever came, could not be told from the
 * client's next messages. Nothing lands in the buffer the device has taken
 * back.
 */
#define STALL_LEN 65536u
#define STALL_IOVA 0x100000u
static uint8_t stall_buf[STALL_LEN];
static int stall_result;

static ssize_t stall_dma(void *opaque, uint32_t region, uint64_t off, void *data, size_t count,
			 bool is_write)
{
	(void)region, (void)off, (void)data;
	if (is_write) {
		memset(stall_buf, 0xaa, sizeof(stall_buf));
		int r = uvfio_server_dma_read(*(struct uvfio_server **)opaque, STALL_IOVA, stall_buf,
					      STALL_LEN);
		__atomic_store_n(&stall_result, r, __ATOMIC_SEQ_CST);
	}
	return (ssize_t)count;
}

static char stall_log[4096];

static void stall_log_fn(void *opaque, int level, const char *line)
{
	(void)opaque, (void)level;
	size_t n = strlen(stall_log); /* the server's thread is the only writer */
	snprintf(stall_log + n, sizeof(stall_log) - n, "%s\n", line);
}

static void *run_server(void *arg)
{
	uvfio_server_run(arg);
	return NULL;
}

static void send_msg(int fd, uint16_t id, uint16_t cmd, uint16_t flags, const void *body,
		     size_t len)
{
	uint8_t buf[128];
	struct uvfio_hdr h = { .msg_id = id, .cmd = cmd, .flags = flags,
			       .msg_size = (uint32_t)(16 + len) };
	memcpy(buf, &h, 16);
	memcpy(buf + 16, body, len);
	peer_write(fd, buf, 16 + len, NULL, 0);
}

/* Serve s, with region 0 (4096 bytes) through fn, from a run() thread *t
 * to a scripted client that has negotiated and mapped [STALL_IOVA, +len)
 * without a descriptor (DMA by messages); returns the client's end. */
static int dma_client(struct uvfio_server *s, uvfio_region_fn fn, uint64_t len, pthread_t *t)
{
	struct uvfio_region_desc bar0 = { .size = 4096,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE,
					  .fn = fn };
	assert_int_equal(uvfio_server_setup_region(s, 0, &bar0, NULL), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(uvfio_server_adopt(s, sv[1]), 0);
	assert_int_equal(pthread_create(t, NULL, run_server, s), 0);
	send_version(sv[0]);
	struct uvfio_hdr h;
	read_reply(sv[0], &h);
	struct uvfio_dma_map map = { .argsz = sizeof(map),
				     .flags = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				     .addr = STALL_IOVA, .size = len };
	send_msg(sv[0], 2, UVFIO_CMD_DMA_MAP, 0, &map, sizeof(map));
	read_reply(sv[0], &h);
	assert_false(h.flags & UVFIO_FLAGS_ERROR);
	/* Bus Master Enable, as a driver sets it before DMA */
	uint8_t bme[18] = { 0 };
	memcpy(bme, &(struct uvfio_region_access){ .offset = 4, .region = 7, .count = 2 }, 16);
	bme[16] = 0x04;
	send_msg(sv[0], 3, UVFIO_CMD_REGION_WRITE, 0, bme, sizeof(bme));
	read_reply(sv[0], &h);
	assert_false(h.flags & UVFIO_FLAGS_ERROR);
	return sv[0];
}

static void test_dma_reply_stalls_mid_data(void **state)
{
	(void)state;
	struct uvfio_server *s;
	struct uvfio_server_config cfg = { .log = { .fn = stall_log_fn, .level = UVFIO_LOG_ERR },
					   .opaque = &s };
	assert_int_equal(uvfio_server_create(&cfg, &s), 0);
	pthread_t t;
	int fd = dma_client(s, stall_dma, STALL_LEN, &t);
	struct uvfio_hdr h;
	/* the write that makes the device read STALL_LEN bytes by DMA */
	uint8_t w[20] = { 0 };
	struct uvfio_region_access a = { .offset = 0, .region = 0, .count = 4 };
	memcpy(w, &a, 16);
	send_msg(fd, 3, UVFIO_CMD_REGION_WRITE, 0, w, sizeof(w));
	static uint8_t req[64], rep[16 + 16 + STALL_LEN];
	assert_true(peer_recv(fd, &h, req, sizeof(req), NULL, NULL) > 0);
	assert_int_equal(h.cmd, UVFIO_CMD_DMA_READ);
	struct uvfio_hdr rh = { .msg_id = h.msg_id, .cmd = UVFIO_CMD_DMA_READ,
				.flags = UVFIO_FLAGS_TYPE_REPLY, .msg_size = sizeof(rep) };
	struct uvfio_dma_access da = { .addr = STALL_IOVA, .count = STALL_LEN };
	memcpy(rep, &rh, 16);
	memcpy(rep + 16, &da, 16);
	memset(rep + 32, 0x55, STALL_LEN / 2);
	memset(rep + 32 + STALL_LEN / 2, 0x66, STALL_LEN / 2);
	size_t half = 32 + STALL_LEN / 2;
	peer_write(fd, rep, half, NULL, 0); /* then nothing, past the DMA timeout */
	uint8_t body[64];
	assert_int_equal(peer_recv(fd, &h, body, sizeof(body), NULL, NULL), 0); /* closed */
	pthread_join(t, NULL); /* run() returns: the adopted client is gone */
	assert_int_equal(__atomic_load_n(&stall_result, __ATOMIC_SEQ_CST), -ETIMEDOUT);
	static uint8_t snap[STALL_LEN];
	memcpy(snap, stall_buf, STALL_LEN);
	peer_write(fd, rep + half, sizeof(rep) - half, NULL, 0); /* the rest, late */
	assert_false(uvfio_server_connected(s));
	assert_memory_equal(stall_buf, snap, STALL_LEN); /* nothing landed late */
	if (!strstr(stall_log, "cut off by the DMA timeout"))
		fail_msg("no log line says why the connection ended: %s", stall_log);
	close(fd);
	uvfio_server_destroy(s);
}

/*
 * A client that reads a 1 MiB REGION_READ reply 8 KiB every 20 ms: each step
 * within any wait for room the kernel allows, the whole far beyond the
 * server's timeout_ms (1 s). The server gives up on the reply at its timeout
 * and ends the connection (ROBUSTNESS.md): the client never gets the reply
 * whole. A blocking send with SO_SNDTIMEO = timeout_ms waited up to that for
 * each ~32 KiB piece of the reply, and sent it all.
 */
#define TRICKLE_LEN (1u << 20)

static void test_reply_to_slow_reader(void **state)
{
	(void)state;
	struct uvfio_server *s;
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .timeout_ms = 1000 };
	assert_int_equal(uvfio_server_create(&cfg, &s), 0);
	struct uvfio_region_desc bar0 = { .size = TRICKLE_LEN,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE };
	assert_int_equal(uvfio_server_setup_region(s, 0, &bar0, NULL), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int sndbuf = 128 << 10; /* whatever the system's default, less than the reply */
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	assert_int_equal(uvfio_server_adopt(s, sv[1]), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, run_server, s), 0);
	int fd = sv[0];
	send_version(fd);
	struct uvfio_hdr h;
	read_reply(fd, &h);
	assert_false(h.flags & UVFIO_FLAGS_ERROR);
	struct uvfio_region_access a = { .offset = 0, .region = 0, .count = TRICKLE_LEN };
	send_msg(fd, 2, UVFIO_CMD_REGION_READ, 0, &a, sizeof(a));
	size_t whole = 32 + TRICKLE_LEN, got = 0;
	static uint8_t buf[8192];
	while (got < whole) {
		usleep(20000);
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0)
			assert_int_equal(errno, EAGAIN);
		else
			got += (size_t)n;
	}
	close(fd); /* run() returns: the adopted client is gone */
	pthread_join(t, NULL);
	assert_true(got < whole);
	uvfio_server_destroy(s);
}

/*
 * Client requests that arrive while the device's handler waits for a DMA
 * reply of its own (no twin socket): the one before the DMA reply is queued,
 * the one after it stays in the receive buffer, all in one write, so the
 * socket is empty once the DMA is done. With run() waiting in epoll
 * (no_direct_read, or a client with eventfds) both are answered, in the
 * order sent. They were answered 3, 5, and 4 never (until the client's next
 * message): the queue was served only at the start of a pass.
 */
static struct uvfio_server *queued_srv;

static ssize_t queued_dma(void *opaque, uint32_t region, uint64_t off, void *data, size_t count,
			  bool is_write)
{
	(void)opaque, (void)region, (void)off;
	static uint8_t buf[64];
	if (is_write)
		uvfio_server_dma_read(queued_srv, STALL_IOVA, buf, sizeof(buf));
	else
		memset(data, 0x5a, count);
	return (ssize_t)count;
}

static void test_request_queued_during_dma(void **state)
{
	(void)state;
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .no_direct_read = true };
	assert_int_equal(uvfio_server_create(&cfg, &queued_srv), 0);
	pthread_t t;
	int fd = dma_client(queued_srv, queued_dma, 4096, &t);
	struct timeval tv = { .tv_sec = 10 }; /* only a failure waits this long */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	struct uvfio_hdr h;
	uint8_t w[20] = { 0 };
	struct uvfio_region_access a = { .offset = 0, .region = 0, .count = 4 };
	memcpy(w, &a, 16);
	send_msg(fd, 3, UVFIO_CMD_REGION_WRITE, 0, w, sizeof(w));
	uint8_t req[64];
	assert_true(peer_recv(fd, &h, req, sizeof(req), NULL, NULL) > 0);
	assert_int_equal(h.cmd, UVFIO_CMD_DMA_READ);
	/* a REGION_READ, the DMA reply, another REGION_READ, in one write */
	uint8_t out[32 + 32 + 64 + 32];
	struct uvfio_hdr rq = { .msg_id = 4, .cmd = UVFIO_CMD_REGION_READ, .msg_size = 32 };
	struct uvfio_region_access ra = { .offset = 0, .region = 0, .count = 4 };
	memcpy(out, &rq, 16);
	memcpy(out + 16, &ra, 16);
	struct uvfio_hdr rh = { .msg_id = h.msg_id, .cmd = UVFIO_CMD_DMA_READ,
				.flags = UVFIO_FLAGS_TYPE_REPLY, .msg_size = 32 + 64 };
	struct uvfio_dma_access da = { .addr = STALL_IOVA, .count = 64 };
	memcpy(out + 32, &rh, 16);
	memcpy(out + 48, &da, 16);
	memset(out + 64, 0x55, 64);
	rq.msg_id = 5;
	memcpy(out + 128, &rq, 16);
	memcpy(out + 144, &ra, 16);
	peer_write(fd, out, sizeof(out), NULL, 0);
	uint16_t ids[3] = { 0 };
	for (int i = 0; i < 3; i++) {
		uint8_t body[64];
		if (!peer_recv(fd, &h, body, sizeof(body), NULL, NULL))
			break; /* only a failure waits for SO_RCVTIMEO */
		ids[i] = h.flags & UVFIO_FLAGS_ERROR ? 0 : h.msg_id;
	}
	close(fd);
	pthread_join(t, NULL);
	uvfio_server_destroy(queued_srv);
	assert_int_equal(ids[0], 3);
	assert_int_equal(ids[1], 4);
	assert_int_equal(ids[2], 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_byte_at_a_time),
		cmocka_unit_test(test_client_killed_mid_message),
		cmocka_unit_test(test_descriptor_exhaustion),
		cmocka_unit_test(test_dma_reply_stalls_mid_data),
		cmocka_unit_test(test_reply_to_slow_reader),
		cmocka_unit_test(test_request_queued_during_dma),
		cmocka_unit_test(test_soak),
	};
	return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
