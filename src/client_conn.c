/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * client_conn.c — a client's life: connecting (or adopting a socket),
 * version negotiation and twin-socket setup, starting the service thread
 * (its loop is in client_reader.c), the event-loop entry points, settings,
 * shutdown and closing.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>

#include "internal.h"

#define DEFAULT_TIMEOUT_MS 5000
#define VERSION_REPLY_MAX (64u * 1024u)

/* ---- Service thread and event loop ----------------------------------------------------- */

static void *service_thread(void *arg)
{
	vu_client_service_loop(arg);
	return NULL;
}

int uvfio_client_poll_fd(struct uvfio_client *c)
{
	return c ? c->epfd : -EINVAL;
}

int uvfio_client_dispatch(struct uvfio_client *c)
{
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->mu);
	if (c->kicked && !c->has_thread) { /* else it is the service thread's */
		uint64_t v;
		if (read(c->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			vu_warn(&c->log, "cannot read the wake descriptor");
		c->kicked = false;
	}
	int n = c->dead ? 0 : vu_client_tick(c, vu_now_ms());
	int r = c->dead;
	if (!r && c->post.timer >= 0) { /* posted writes due: their delay is over */
		pthread_mutex_unlock(&c->mu);
		vu_post_due(c);
		pthread_mutex_lock(&c->mu);
		r = c->dead;
	}
	if (!r && !vu_reader_acquire(c))
		r = -EBUSY; /* the holder delivers what is there */
	pthread_mutex_unlock(&c->mu);
	if (r)
		return r;
	r = vu_reader_turn(c, NULL, VU_TURN_MAIN | (vu_client_reader_owns_twin(c) ? VU_TURN_TWIN : 0),
			   0, NULL);
	pthread_mutex_lock(&c->mu);
	vu_reader_release(c);
	if (r < 0)
		vu_client_set_dead(c, r);
	r = c->dead ? c->dead : r + n;
	pthread_mutex_unlock(&c->mu);
	return r;
}

int uvfio_client_shutdown(struct uvfio_client *c)
{
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->mu);
	vu_client_set_dead(c, -ESHUTDOWN);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* ---- Setup and teardown ------------------------------------------------------------------ */

/* The message timeout a setting means: 0 the default, negative none (-1),
 * as the config says, also for uvfio_client_set_timeout(). */
static int timeout_of(int timeout_ms)
{
	return timeout_ms == 0 ? DEFAULT_TIMEOUT_MS : timeout_ms < 0 ? -1 : timeout_ms;
}

/* SO_RCVTIMEO bounds the fast path's blocking read by the message timeout. */
static int set_rcvtimeo(struct uvfio_client *c, int timeout_ms)
{
	struct timeval tv = { 0 };
	if (timeout_ms > 0) {
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
	}
	return setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ? -errno : 0;
}

/* After negotiation: every read and send but the fast path's says
 * MSG_DONTWAIT, so the socket itself can block. */
static void set_blocking(struct uvfio_client *c)
{
	if (set_rcvtimeo(c, c->timeout_ms) == 0 && vu_set_nonblock(c->sock, false) == 0)
		c->blocking = true;
}

static int negotiate(struct uvfio_client *c)
{
	char json[512];
	int n = uvfio_caps_format(&c->mine, json, sizeof(json));
	if (n < 0)
		return n;
	struct uvfio_version v = { .major = UVFIO_PROTO_MAJOR, .minor = c->minor };
	struct iovec iov[2] = { { &v, sizeof(v) }, { json, (size_t)n + 1 } };
	struct vu_msg *m;
	int r = vu_client_request(c, UVFIO_CMD_VERSION, iov, 2, NULL, 0, VU_WAIT, NULL, NULL, &m);
	if (r < 0) {
		vu_err(&c->log, "VERSION failed: %s", uvfio_strerror(r));
		return r;
	}
	char err[256] = "";
	if (m->len < sizeof(v)) {
		snprintf(err, sizeof(err), "VERSION reply has %zu payload bytes, fewer than 4",
			 m->len);
		r = -EPROTO;
		goto out;
	}
	struct uvfio_version rv;
	memcpy(&rv, m->body, sizeof(rv));
	r = uvfio_caps_parse((const char *)m->body + sizeof(rv), m->len - sizeof(rv), &c->server,
			     err, sizeof(err));
	if (r < 0) {
		r = -EPROTO;
		goto out;
	}
	r = vu_negotiate_check_reply(UVFIO_PROTO_MAJOR, c->minor, &c->mine, rv.major, rv.minor,
				     &c->server, m->nfds, err, sizeof(err));
	if (r < 0)
		goto out;
	c->major = rv.major;
	c->minor = rv.minor;
	if (c->server.twin_socket) {
		c->twin = vu_msg_take_fd(m, (unsigned)c->server.twin_fd_index);
		int type = 0;
		socklen_t tl = sizeof(type);
		if (getsockopt(c->twin, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
		    type != SOCK_STREAM || vu_set_nonblock(c->twin, true) < 0) {
			snprintf(err, sizeof(err), "twin_socket descriptor is not a stream socket");
			r = -EPROTO;
			goto out;
		}
		vu_rx_init(&c->twin_rx, vu_max_msg_size(c->mine.max_data_xfer_size),
			   c->mine.max_msg_fds);
	} else if (m->nfds) {
		snprintf(err, sizeof(err), "VERSION reply carried %u unexpected descriptors",
			 m->nfds);
		r = -EPROTO;
		goto out;
	}
	c->rx.max_msg_size = vu_max_msg_size(c->mine.max_data_xfer_size);
	set_blocking(c);
out:
	if (r < 0)
		vu_err(&c->log, "version negotiation failed: %s", err);
	vu_msg_free(m);
	return r;
}

int uvfio_client_adopt(int fd, const struct uvfio_client_config *cfg, struct uvfio_client **out)
{
	if (!out || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	*out = NULL;
	struct uvfio_client *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	if (cfg)
		c->cfg = *cfg;
	vu_log_init(&c->log, &c->cfg.log, "client");
	c->sock = fd;
	c->twin = -1;
	c->epfd = -1;
	c->wakefd = -1;
	c->roomfd = -1;
	c->timerfd = -1;
	c->post.timer = -1;
	c->post.wm = SIZE_MAX;
	c->timeout_ms = timeout_of(c->cfg.timeout_ms);
	vu_spin_init(&c->spin, vu_spin_budget_us(c->cfg.poll_us), fd);
	c->minor = c->cfg.propose_minor_zero ? 0
		   : c->cfg.version_minor   ? c->cfg.version_minor
					    : UVFIO_PROTO_MINOR;
	vu_caps_mine(&c->mine, c->cfg.max_msg_fds, c->cfg.max_data_xfer_size);
	c->mine.twin_socket = c->cfg.twin_socket == UVFIO_TWIN_ON ||
			      (c->cfg.twin_socket == UVFIO_TWIN_AUTO &&
			       c->cfg.mode == UVFIO_CLIENT_SERVICE_THREAD);
	c->mine.write_multiple = !c->cfg.no_write_multiple;
	/* Dirty-page logging and migration data, as QEMU proposes them. */
	c->mine.migration = true;
	c->mine.mig_pgsize = 4096;
	c->mine.mig_max_bitmap_size = 256u << 20;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->send_mu, NULL);
	pthread_mutex_init(&c->twin_send_mu, NULL);
	/* recursive: a DMA_READ reply is sent holding it, and sending may
	 * answer a queued DMA request on the same thread */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->dma_mu, &ma);
	pthread_mutexattr_destroy(&ma);
	vu_rx_init(&c->rx, VERSION_REPLY_MAX, c->mine.max_msg_fds);
	vu_client_sink_init(c);
	vu_rx_init(&c->twin_rx, VERSION_REPLY_MAX, 0);

	int r = vu_client_slots_init(c, c->cfg.max_in_flight);
	if (r == 0)
		r = vu_post_init(c);
	if (r == 0)
		r = vu_set_nonblock(fd, true);
	if (r == 0)
		r = negotiate(c);
	if (r == 0) {
		c->epfd = epoll_create1(EPOLL_CLOEXEC);
		c->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		c->roomfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (c->epfd < 0 || c->wakefd < 0 || c->roomfd < 0 || c->timerfd < 0)
			r = -errno;
	}
	/* poll_fd: input, a wake-up (shutdown), a deadline, posted writes due. */
	int watch[5] = { c->sock, c->twin, c->wakefd, c->timerfd, c->post.timer };
	for (int i = 0; r == 0 && i < 5; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = watch[i] };
		if (watch[i] >= 0 && epoll_ctl(c->epfd, EPOLL_CTL_ADD, watch[i], &ev) < 0)
			r = -errno;
	}
	if (r == 0 && c->cfg.use_ioeventfds)
		r = vu_bells_init(c);
	if (r == 0 && c->cfg.mode == UVFIO_CLIENT_SERVICE_THREAD) {
		r = -pthread_create(&c->thread, NULL, service_thread, c);
		c->has_thread = r == 0;
	}
	if (r < 0) {
		uvfio_client_close(c);
		return r;
	}
	vu_info(&c->log, "connected: version %u.%u, server max_data_xfer_size %u%s%s", c->major,
		c->minor, c->server.max_data_xfer_size, c->twin >= 0 ? ", twin socket" : "",
		c->server.write_multiple ? ", write_multiple" : "");
	*out = c;
	return 0;
}

int uvfio_client_connect(const char *path, const struct uvfio_client_config *cfg,
			 struct uvfio_client **out)
{
	if (!path || !out)
		return -EINVAL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return uvfio_client_adopt(fd, cfg, out);
}

void uvfio_client_close(struct uvfio_client *c)
{
	if (!c)
		return;
	if (c->epfd >= 0 && !c->dead) {
		int r = uvfio_client_flush(c);
		if (r < 0 && r != -ECONNRESET)
			vu_warn(&c->log, "posted writes failed before close: %s", uvfio_strerror(r));
	}
	pthread_mutex_lock(&c->mu);
	vu_client_set_dead(c, -ESHUTDOWN);
	pthread_mutex_unlock(&c->mu);
	if (c->has_thread) {
		uint64_t one = 1; /* whatever the last wake-up became */
		if (write(c->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			vu_warn(&c->log, "cannot wake the service thread");
		pthread_join(c->thread, NULL);
	}
	for (int i = 0; i < 2; i++) {
		while (c->deferred[i]) {
			struct vu_msg *m = c->deferred[i];
			c->deferred[i] = m->next;
			vu_msg_free(m);
		}
	}
	while (c->answers) {
		struct vu_msg *m = c->answers;
		c->answers = m->next;
		vu_msg_free(m);
	}
	vu_client_slots_free(c);
	vu_post_free(c);
	vu_bells_free(c);
	vu_rx_reset(&c->rx);
	vu_rx_reset(&c->twin_rx);
	vu_client_dma_free(c);
	vu_close(&c->sock);
	vu_close(&c->twin);
	vu_close(&c->epfd);
	vu_close(&c->wakefd);
	vu_close(&c->roomfd);
	vu_close(&c->timerfd);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->send_mu);
	pthread_mutex_destroy(&c->twin_send_mu);
	pthread_mutex_destroy(&c->dma_mu);
	free(c);
}

int uvfio_client_server_caps(struct uvfio_client *c, struct uvfio_caps *caps, uint16_t *major,
			     uint16_t *minor)
{
	if (!c)
		return -EINVAL;
	if (caps)
		*caps = c->server;
	if (major)
		*major = c->major;
	if (minor)
		*minor = c->minor;
	return 0;
}

bool uvfio_client_twin_socket(struct uvfio_client *c)
{
	return c && c->twin >= 0;
}

int uvfio_client_set_timeout(struct uvfio_client *c, int timeout_ms)
{
	if (!c)
		return -EINVAL;
	timeout_ms = timeout_of(timeout_ms);
	pthread_mutex_lock(&c->mu);
	int r = c->blocking ? set_rcvtimeo(c, timeout_ms) : 0;
	if (r == 0)
		__atomic_store_n(&c->timeout_ms, timeout_ms, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->mu);
	return r;
}

void uvfio_client_set_trace(struct uvfio_client *c, bool on)
{
	if (c)
		__atomic_store_n(&c->log.trace, on, __ATOMIC_RELAXED);
}
