/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server.c — a device context's connection: listening, accepting one client
 * at a time, version negotiation (and twin-socket setup), the receive loop,
 * requests to the client (DMA_READ/DMA_WRITE) and the clean-up when a client
 * leaves.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "internal.h"

#define DEFAULT_MAX_DMA_MAPS 1024u
/* Its address names this thread: the context's driving thread stores it
 * (uvfio_server_dma_read/write() ask whether they run on that thread). */
static VU_TLS char tls_me;
#define DEFAULT_TIMEOUT_MS 5000
#define VERSION_MAX (64u * 1024u)

int uvfio_server_create(const struct uvfio_server_config *cfg, struct uvfio_server **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (cfg && (unsigned)cfg->dma_layout > UVFIO_DMA_LAYOUT_QEMU)
		return -EINVAL;
	struct uvfio_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (cfg)
		s->cfg = *cfg;
	if (s->cfg.ops)
		s->ops = *s->cfg.ops;
	s->opaque = s->cfg.opaque;
	s->timeout_ms = s->cfg.timeout_ms ? (int)VU_MIN(s->cfg.timeout_ms, (uint32_t)INT32_MAX)
					  : DEFAULT_TIMEOUT_MS;
	vu_log_init(&s->log, &s->cfg.log, "server");
	s->lsock = s->sock = s->twin = s->epfd = s->stopfd = s->run_sock = -1;
	s->out = s->out_buf;
	pthread_mutex_init(&s->irq_mu, NULL);
	pthread_rwlock_init(&s->dirty_rw, NULL);
	pthread_mutex_init(&s->dma_mu, NULL);
	pthread_mutex_init(&s->send_mu, NULL);
	pthread_mutex_init(&s->twin_send_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* vu_now_ms()'s clock */
	pthread_cond_init(&s->dma_cv, &ca);
	pthread_condattr_destroy(&ca);
	s->dma_efd = s->async_efd = s->async_tfd = -1;
	for (unsigned i = 0; i < VU_MAX_REGIONS; i++)
		s->regions[i].memfd = -1;
	s->nregions = VFIO_PCI_NUM_REGIONS;
	s->mig_state = UVFIO_MIG_STATE_RUNNING;

	int r = vu_srv_access_init(s);
	vu_caps_mine(&s->mine, s->cfg.max_msg_fds, s->cfg.max_data_xfer_size);
	s->mine.max_dma_maps = s->cfg.max_dma_maps ? s->cfg.max_dma_maps : DEFAULT_MAX_DMA_MAPS;
	s->mine.pgsizes = s->cfg.pgsizes ? s->cfg.pgsizes : 4096;
	s->mine.write_multiple = !s->cfg.no_write_multiple;
	s->mine.twin_socket = !s->cfg.no_twin_socket;
	s->mine.migration = s->ops.migration_flags != NULL;
	if (s->mine.migration)
		s->mine.mig_pgsize = 4096;

	if (r == 0)
		r = vu_cfg_init(s, s->cfg.config_space_size ? s->cfg.config_space_size : 256);
	if (r == 0) {
		s->epfd = epoll_create1(EPOLL_CLOEXEC);
		s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		s->dma_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->epfd < 0 || s->stopfd < 0 || s->dma_efd < 0)
			r = -errno;
	}
	if (r == 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)s->stopfd };
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stopfd, &ev) < 0 ||
		    vu_srv_async_init(s) < 0)
			r = -errno;
	}
	if (r < 0) {
		uvfio_server_destroy(s);
		return r;
	}
	/* The configuration space region is always there. */
	s->regions[VFIO_PCI_CONFIG_REGION_INDEX].present = true;
	s->regions[VFIO_PCI_CONFIG_REGION_INDEX].d.size = s->cfg_size;
	s->regions[VFIO_PCI_CONFIG_REGION_INDEX].d.flags =
		VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	*out = s;
	return 0;
}

static void epoll_set(struct uvfio_server *s, int fd, bool on)
{
	if (fd < 0)
		return;
	/* the whole tag: the upper half tells eventfds apart (server_ioeventfd.c) */
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)fd };
	if (epoll_ctl(s->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) < 0)
		vu_warn(&s->log, "epoll_ctl: %s", uvfio_strerror(-errno));
}

/*
 * The client left (or broke the framing): drop what it gave us, keep the
 * device state, get ready for the next one. why 0: the reason is logged.
 *
 * Found while a device callback is on the stack (its DMA by messages read
 * the end of the stream, a reply failed), it is carried out once the
 * callback has returned (vu_srv_cb_leave): the device is never reset, its
 * maps never dropped, under its own feet, and nothing the callback adds
 * (a DMA_MAP's map) outlives the connection. Meanwhile DMA fails with
 * -ECONNRESET/-ENOTCONN and replies go nowhere.
 */
static void disconnect(struct uvfio_server *s, int why)
{
	if (s->sock < 0)
		return;
	/* Other threads out of the sockets, their DMA requests failed. */
	bool broken = vu_srv_dma_conn_end(s);
	if (s->cb_depth) {
		if (!s->disc_pending)
			s->disc_why = broken ? 0 : why;
		s->disc_pending = true;
		return;
	}
	if (s->disc_pending) {
		why = s->disc_why;
		s->disc_pending = false;
	} else if (broken) {
		why = 0; /* vu_srv_dma_break() said why */
	}
	/* The device's transfers end before anything else goes; what their
	 * callbacks might do to the connection is this. */
	s->cb_depth++;
	vu_srv_async_conn_end(s);
	s->cb_depth--;
	s->disc_pending = false;
	if (!why)
		;
	else if (why == -ECONNRESET)
		vu_info(&s->log, "client disconnected");
	else if (why == -ESHUTDOWN)
		vu_info(&s->log, "closing the client's connection");
	else
		vu_warn(&s->log, "dropping client: %s", uvfio_strerror(why));
	epoll_set(s, s->sock, false);
	s->out_len = 0;
	/* Out of uvfio_server_stop()'s reach before the number can be reused. */
	__atomic_store_n(&s->run_sock, -1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&s->stop_users, __ATOMIC_SEQ_CST))
		sched_yield();
	vu_close(&s->sock);
	vu_close(&s->twin);
	vu_rx_reset(&s->rx);
	vu_rx_reset(&s->twin_rx);
	while (s->queue) {
		struct vu_msg *m = s->queue;
		s->queue = m->next;
		vu_msg_free(m);
	}
	s->queue_tail = NULL;
	s->nqueue = 0;
	s->queue_bytes = 0;
	s->negotiated = false;
	vu_srv_dma_drop_all(s);
	vu_srv_irqs_drop(s);
	vu_watch_drop(s);
	vu_dirty_free(s);
	vu_srv_reset(s, UVFIO_RESET_LOST_CONN);
	if (s->ops.client_gone)
		s->ops.client_gone(s->opaque);
	/* only now: "not connected" promises the client's resources are gone */
	__atomic_store_n(&s->connected, false, __ATOMIC_RELEASE);
	if (s->lsock >= 0)
		epoll_set(s, s->lsock, true);
}

static void unmap_regions(struct uvfio_server *s)
{
	for (unsigned i = 0; i < VU_MAX_REGIONS; i++) {
		struct vu_srv_region *r = &s->regions[i];
		if (r->memfd >= 0)
			munmap(r->mem, r->d.size);
		else
			free(r->mem);
		r->mem = NULL;
		vu_close(&r->memfd);
	}
}

void uvfio_server_destroy(struct uvfio_server *s)
{
	if (!s)
		return;
	disconnect(s, -ESHUTDOWN);
	vu_close(&s->lsock);
	if (s->path) {
		unlink(s->path);
		free(s->path);
	}
	vu_close(&s->epfd);
	vu_close(&s->stopfd);
	vu_close(&s->dma_efd);
	vu_srv_irqs_free(s);
	vu_srv_dma_free(s);
	vu_srv_async_free(s);
	vu_watch_free(s);
	unmap_regions(s);
	vu_cfg_free(s);
	vu_srv_access_free(s);
	pthread_mutex_destroy(&s->irq_mu);
	pthread_rwlock_destroy(&s->dirty_rw);
	pthread_mutex_destroy(&s->dma_mu);
	pthread_mutex_destroy(&s->send_mu);
	pthread_mutex_destroy(&s->twin_send_mu);
	pthread_cond_destroy(&s->dma_cv);
	free(s);
}

/* ---- Accepting ----------------------------------------------------------------- */

static int start_client(struct uvfio_server *s, int fd)
{
	/* Blocking, for uvfio_server_run()'s direct read, which stop() ends
	 * with shutdown(); every other read and send says MSG_DONTWAIT. */
	int r = vu_set_nonblock(fd, false);
	if (r < 0) {
		close(fd);
		return r;
	}
	/* Replies from the thread that drives the server, up to a REGION_READ's
	 * largest, wait for room in send() itself, within the timeout. */
	s->send_block_ms = vu_send_block_setup(fd, s->timeout_ms,
					       vu_max_msg_size(s->mine.max_data_xfer_size));
	s->sock = fd;
	__atomic_store_n(&s->run_sock, fd, __ATOMIC_SEQ_CST);
	vu_spin_init(&s->spin, vu_spin_budget_us(s->cfg.poll_us), fd);
	/* Before VERSION, only a small message is acceptable. */
	vu_rx_init(&s->rx, VERSION_MAX, s->mine.max_msg_fds);
	uvfio_caps_default(&s->client);
	epoll_set(s, fd, true);
	if (s->lsock >= 0)
		epoll_set(s, s->lsock, false); /* one client at a time */
	vu_info(&s->log, "client connected");
	return 0;
}

int uvfio_server_listen(struct uvfio_server *s, const char *path)
{
	if (!s || !path || s->lsock >= 0 || s->sock >= 0)
		return -EINVAL;
	int fd = vu_srv_listen_socket(s, path); /* server_access.c */
	if (fd < 0)
		return fd;
	s->path = strdup(path);
	s->lsock = fd;
	epoll_set(s, fd, true);
	vu_info(&s->log, "listening on %s", path);
	return 0;
}

int uvfio_server_listen_fd(struct uvfio_server *s, int fd)
{
	int r = !s || fd < 0 || s->lsock >= 0 || s->sock >= 0 ? -EINVAL
							       : vu_srv_adopt_listener(fd);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	s->lsock = fd;
	epoll_set(s, fd, true);
	vu_info(&s->log, "listening on descriptor %d", fd);
	return 0;
}

int uvfio_server_adopt(struct uvfio_server *s, int fd)
{
	if (!s || fd < 0 || s->sock >= 0) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	s->adopted = true;
	return start_client(s, fd);
}

int uvfio_server_poll_fd(struct uvfio_server *s)
{
	return s ? s->epfd : -EINVAL;
}

void uvfio_server_stop(struct uvfio_server *s)
{
	if (!s)
		return;
	/* The wake-up before the flag: whoever consumes the flag (see
	 * consume_stop) then finds the counter to drain. */
	uint64_t one = 1;
	ssize_t w = write(s->stopfd, &one, sizeof(one)); /* async-signal-safe */
	(void)w;
	__atomic_store_n(&s->stopping, 1, __ATOMIC_SEQ_CST);
	/* A run() blocked reading the client socket has no timeout: end its
	 * read (run() sets direct before it checks the flag). The socket
	 * cannot be closed (and its number reused) between the load and
	 * shutdown(): disconnect() waits for stop_users. */
	__atomic_add_fetch(&s->stop_users, 1, __ATOMIC_SEQ_CST);
	int fd = __atomic_load_n(&s->direct, __ATOMIC_SEQ_CST)
			 ? __atomic_load_n(&s->run_sock, __ATOMIC_SEQ_CST)
			 : -1;
	if (fd >= 0)
		shutdown(fd, SHUT_RD);
	__atomic_sub_fetch(&s->stop_users, 1, __ATOMIC_SEQ_CST);
}

/* A stop made run() or dispatch() return: clear it, so that they serve
 * again when called again. */
static void consume_stop(struct uvfio_server *s)
{
	__atomic_store_n(&s->stopping, 0, __ATOMIC_SEQ_CST);
	uint64_t v;
	ssize_t r = read(s->stopfd, &v, sizeof(v)); /* non-blocking */
	(void)r;
}

bool uvfio_server_connected(struct uvfio_server *s)
{
	return s && __atomic_load_n(&s->connected, __ATOMIC_ACQUIRE);
}

int uvfio_server_client_caps(struct uvfio_server *s, struct uvfio_caps *caps)
{
	if (!s || !caps || !s->negotiated)
		return -ENOTCONN;
	*caps = s->client;
	return 0;
}

/* ---- Version negotiation -------------------------------------------------------- */

/*
 * A message to the client could not be sent (whole, within timeout_ms):
 * the client would wait for it forever, or the stream is cut mid-message.
 * Either way the connection is broken: say why and end it.
 */
static void send_failed(struct uvfio_server *s, const char *what, int err)
{
	if (s->sock < 0 || s->disc_pending)
		return;
	vu_warn(&s->log, "cannot send %s to the client: %s; ending the connection", what,
		err == -ETIMEDOUT ? "it has not read for the timeout" : uvfio_strerror(err));
	disconnect(s, 0);
}

/* Send the corked replies; a failure ends the connection. */
static int flush_out(struct uvfio_server *s)
{
	if (!s->out_len)
		return 0;
	struct iovec iov = { s->out, s->out_len };
	bool some;
	pthread_mutex_lock(&s->send_mu); /* other threads send DMA requests */
	int r = vu_send_ex(s->sock, NULL, &iov, 1, NULL, 0, s->timeout_ms, &some, s->send_block_ms,
			   NULL, NULL);
	pthread_mutex_unlock(&s->send_mu);
	s->out_len = 0;
	if (r < 0)
		send_failed(s, "corked replies", r);
	return r;
}

/*
 * Replies without descriptors are corked while more requests are buffered,
 * and leave together in one system call when the input is drained (or
 * before anything else is sent): a burst of posted writes costs one send.
 */
static bool cork(struct uvfio_server *s, const struct uvfio_hdr *h, const struct iovec *iov,
		 int n)
{
	size_t total = UVFIO_HDR_SIZE;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (!s->out || !vu_rx_more(&s->rx) || total > sizeof(s->out_buf) - s->out_len)
		return false;
	struct uvfio_hdr hh = *h;
	hh.msg_size = (uint32_t)total;
	memcpy(s->out + s->out_len, &hh, sizeof(hh));
	s->out_len += sizeof(hh);
	for (int i = 0; i < n; i++) {
		memcpy(s->out + s->out_len, iov[i].iov_base, iov[i].iov_len);
		s->out_len += iov[i].iov_len;
	}
	vu_trace_hdr(&s->log, "->", &hh, 0);
	return true;
}

static int reply_msg(struct uvfio_server *s, int sock, const struct uvfio_hdr *req, int err,
		     const struct iovec *iov, int n, const int *fds, unsigned nfds)
{
	struct uvfio_hdr h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.flags = UVFIO_FLAGS_TYPE_REPLY | (err ? UVFIO_FLAGS_ERROR : 0),
		.error_no = (uint32_t)(err < 0 ? -err : err),
	};
	if (err) {
		n = 0;
		nfds = 0;
	}
	if (sock == s->sock && !nfds && cork(s, &h, iov, n))
		return 0;
	int r = sock == s->sock ? flush_out(s) : 0;
	if (r < 0)
		return r;
	bool some;
	pthread_mutex_lock(&s->send_mu);
	r = vu_send_ex(sock, &h, iov, n, fds, nfds, s->timeout_ms, &some,
		       sock == s->sock ? s->send_block_ms : 0, NULL, NULL);
	pthread_mutex_unlock(&s->send_mu);
	if (r == 0) {
		vu_trace_hdr(&s->log, "->", &h, err ? 0 : nfds);
		return 0;
	}
	char what[64];
	snprintf(what, sizeof(what), "the reply to %s id %u", uvfio_cmd_name(req->cmd),
		 req->msg_id);
	send_failed(s, what, r);
	return r;
}

/* Returns 0, an errno for an error reply, or -ECONNABORTED when the
 * connection must be closed (a major version we cannot serve). */
static int negotiate(struct uvfio_server *s, struct vu_msg *m)
{
	struct uvfio_version v;
	char err[256] = "";
	if (s->negotiated || m->len < sizeof(v) || m->nfds)
		return -EINVAL;
	memcpy(&v, m->body, sizeof(v));
	struct uvfio_caps proposed, reply;
	int r = uvfio_caps_parse((const char *)m->body + sizeof(v), m->len - sizeof(v), &proposed,
				 err, sizeof(err));
	if (r < 0) {
		vu_warn(&s->log, "bad VERSION from client: %s", err);
		return -EINVAL;
	}
	uint16_t minor;
	if (vu_negotiate_server(v.major, v.minor, &proposed, &s->mine, &minor, &reply) < 0) {
		vu_warn(&s->log, "client proposed major version %u; this server speaks %u", v.major,
			UVFIO_PROTO_MAJOR);
		return -ECONNABORTED;
	}
	int pair[2] = { -1, -1 };
	if (reply.twin_socket) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
			reply.twin_socket = false; /* run without: the spec allows it */
		else
			reply.twin_fd_index = 0;
	}
	char json[512];
	int n = uvfio_caps_format(&reply, json, sizeof(json));
	if (n < 0) {
		vu_close(&pair[0]);
		vu_close(&pair[1]);
		return n;
	}
	struct uvfio_version rv = { .major = v.major, .minor = minor };
	struct iovec iov[2] = { { &rv, sizeof(rv) }, { json, (size_t)n + 1 } };
	/* Ready before the reply leaves: the client may send at once. */
	s->client = proposed;
	s->negotiated = true;
	vu_srv_dma_layout_pick(s, v.minor);
	s->rx.max_msg_size = vu_max_msg_size(s->mine.max_data_xfer_size);
	if (reply.twin_socket) {
		s->twin = pair[0];
		vu_set_nonblock(s->twin, true);
		/* Our own bound, as on the main socket: DMA requests never ask
		 * for more than it (server_dma_msg.c), whatever the client said. */
		vu_rx_init(&s->twin_rx, vu_max_msg_size(s->mine.max_data_xfer_size), 0);
	}
	vu_srv_dma_conn_start(s);
	__atomic_store_n(&s->connected, true, __ATOMIC_RELEASE);
	r = reply_msg(s, s->sock, &m->hdr, 0, iov, 2, reply.twin_socket ? &pair[1] : NULL,
		      reply.twin_socket ? 1 : 0);
	vu_close(&pair[1]);
	if (r < 0)
		return -ECONNABORTED; /* reply_msg() ended the connection */
	vu_info(&s->log, "negotiated version %u.%u%s%s", v.major, minor,
		reply.twin_socket ? ", twin socket" : "",
		reply.write_multiple ? ", write_multiple" : "");
	return 1;
}

/* ---- The receive loop ------------------------------------------------------------- */

static void handle(struct uvfio_server *s, struct vu_msg *m)
{
	if ((m->hdr.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
		vu_srv_dma_reply_in(s, m); /* another thread's DMA, or discarded */
		return;
	}
	if (m->hdr.cmd == UVFIO_CMD_VERSION || !s->negotiated) {
		int r = m->hdr.cmd == UVFIO_CMD_VERSION ? negotiate(s, m) : -EINVAL;
		if (r == -ECONNABORTED) {
			vu_msg_free(m);
			disconnect(s, 0); /* negotiate() said why */
			return;
		}
		if (r < 0)
			reply_msg(s, s->sock, &m->hdr, r, NULL, 0, NULL, 0); /* ends it on failure */
		vu_msg_free(m);
		return;
	}
	vu_srv_handle(s, m);
}

static bool stopping(struct uvfio_server *s)
{
	return __atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST);
}

/* Handle what has arrived; with block, the first read may wait (until
 * uvfio_server_stop()) when nothing is buffered. ev: the n events the
 * server's epoll set just gave, or NULL (then they are asked for when
 * eventfds are watched). */
static int serve(struct uvfio_server *s, bool block, const struct epoll_event *ev, int n)
{
	if (stopping(s))
		return -ESHUTDOWN;
	__atomic_store_n(&s->driver, (uintptr_t)&tls_me, __ATOMIC_RELAXED);
	if (s->sock < 0 && s->lsock >= 0) {
		int fd = accept4(s->lsock, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
		if (!vu_srv_peer_allowed(s, fd)) { /* closed unread (server_access.c) */
			close(fd);
			return 0;
		}
		int r = start_client(s, fd);
		if (r < 0)
			return r;
	}
	if (s->sock < 0)
		return s->adopted ? -ENOTCONN : 0;
	int handled = 0;
	/* before the messages: see the order rule in server.h */
	bool sock_ready = vu_watch_collect(s, ev, n);
	do {
		for (;;) {
			/* Requests queued while the device waited for DMA of
			 * its own came before anything still to be read. */
			while (s->queue && s->sock >= 0) {
				struct vu_msg *m = s->queue;
				s->queue = m->next;
				if (!s->queue)
					s->queue_tail = NULL;
				s->nqueue--;
				s->queue_bytes -= m->hdr.msg_size;
				vu_srv_cb_enter(s);
				handle(s, m);
				vu_srv_cb_leave(s);
				if (s->sock >= 0)
					handled += vu_srv_async_pump(s);
				handled++;
				block = false;
			}
			/* Only eventfds were signalled, and the last read
			 * emptied the socket: no read to learn that it is
			 * still empty (the poll fd is level-triggered). */
			if (s->sock < 0 || stopping(s) || !(sock_ready || block || vu_rx_more(&s->rx)))
				break;
			struct vu_msg *m;
			/* Polling mode: spin before the blocking read */
			bool spun = block && !vu_rx_ready(&s->rx);
			if (spun)
				vu_spin_wait(&s->spin, &s->sock, 1);
			int r = vu_rx_read_ex(s->sock, &s->rx, &m, block);
			if (spun)
				vu_spin_woke(&s->spin);
			block = sock_ready = false;
			if (r >= 0) /* for other threads' DMA timeouts (vu_srv_main_cut_check) */
				__atomic_store_n(&s->main_partial, vu_rx_partial(&s->rx),
						 __ATOMIC_RELAXED);
			if (r == 0)
				break;
			if (r < 0) {
				disconnect(s, stopping(s) ? -ESHUTDOWN : r);
				break;
			}
			vu_trace_hdr(&s->log, "<-", &m->hdr, m->nfds);
			vu_srv_cb_enter(s);
			handle(s, m);
			vu_srv_cb_leave(s);
			handled++;
			/* What a request finished (a reply, a mapped copy) is
			 * called back before the next request is handled. */
			if (s->sock >= 0)
				handled += vu_srv_async_pump(s);
		}
		vu_srv_cb_enter(s);
		handled += vu_watch_run(s);
		vu_srv_cb_leave(s);
		/* Asynchronous DMA moves on and calls back (a callback is a
		 * device callback like the others: see vu_srv_cb_enter). */
		if (s->sock >= 0)
			handled += vu_srv_async_pump(s);
		/* A handler's DMA may have queued requests, or left whole ones
		 * in the buffer with the socket emptied: no event would come. */
	} while (s->sock >= 0 && !stopping(s) &&
		 (s->queue || vu_rx_ready(&s->rx) || vu_srv_async_ready(s)));
	if (s->sock >= 0)
		flush_out(s); /* ends the connection on failure */
	if (stopping(s))
		return -ESHUTDOWN;
	/* An adopted client is gone: say so even if messages were handled
	 * first, so that an event loop never waits on a dead context. */
	if (s->sock < 0 && s->adopted)
		return -ENOTCONN;
	return handled;
}

int uvfio_server_dispatch(struct uvfio_server *s)
{
	if (!s)
		return -EINVAL;
	int r = serve(s, false, NULL, 0);
	if (r == -ESHUTDOWN)
		consume_stop(s);
	return r;
}

/*
 * While a client is connected, run() reads its socket directly (one
 * blocking read per request instead of a poll and a read, and no timer: a
 * stop ends the read with shutdown()); otherwise (no client, eventfds to
 * watch as well, or config no_direct_read) it waits in epoll.
 */
int uvfio_server_run(struct uvfio_server *s)
{
	if (!s)
		return -EINVAL;
	int ret;
	struct epoll_event ev[VU_WATCH_BATCH];
	int nev = -1; /* the events of the last wait, -1: none */
	for (;;) {
		/* Asynchronous DMA in flight: its timer (and the twin socket)
		 * are in the epoll set. */
		bool direct = s->sock >= 0 && !s->cfg.no_direct_read && !vu_watch_live(s) &&
			      !vu_srv_async_busy(s);
		/* Set before serve() checks for a stop, and held between reads:
		 * a stop while run() serves a client directly shuts its socket
		 * (see stop()), so that client is then always dropped. */
		__atomic_store_n(&s->direct, direct, __ATOMIC_SEQ_CST);
		int r = serve(s, direct, nev >= 0 ? ev : NULL, nev);
		nev = -1;
		if (r == -ESHUTDOWN) {
			if (direct)
				disconnect(s, -ESHUTDOWN);
			consume_stop(s);
			ret = 0;
			break;
		}
		if (r == -ENOTCONN) {
			ret = r;
			break;
		}
		if (r < 0)
			vu_warn(&s->log, "dispatch: %s", uvfio_strerror(r));
		if (direct && s->sock >= 0 && !vu_watch_live(s) && !vu_srv_async_busy(s))
			continue;
		/* serve() takes the eventfds signalled from these events;
		 * polling mode spins on the set first while a client is here */
		if (s->sock >= 0)
			vu_spin_wait(&s->spin, &s->epfd, 1);
		nev = epoll_wait(s->epfd, ev, VU_WATCH_BATCH, -1);
		if (s->sock >= 0)
			vu_spin_woke(&s->spin);
		if (nev < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
	}
	__atomic_store_n(&s->direct, 0, __ATOMIC_SEQ_CST);
	return ret;
}

/* ---- While the driving thread waits for DMA replies ------------------------------------ */

/*
 * Client requests read while a DMA reply is awaited on the main socket are
 * queued up to a bound (server.h); beyond it the main socket is not read,
 * and the client's own socket buffer holds the rest.
 */
static bool queue_full(const struct uvfio_server *s)
{
	return s->nqueue >= VU_SRV_QUEUE_MAX || s->queue_bytes >= VU_SRV_QUEUE_BYTES;
}

bool vu_srv_is_driver(struct uvfio_server *s)
{
	return __atomic_load_n(&s->driver, __ATOMIC_RELAXED) == (uintptr_t)&tls_me;
}

int vu_srv_flush(struct uvfio_server *s)
{
	return s->sock >= 0 ? flush_out(s) : 0;
}

int vu_srv_pump_main(struct uvfio_server *s, uint64_t deadline)
{
	if (s->sock < 0)
		return -ECONNRESET;
	bool full = queue_full(s);
	struct vu_msg *m;
	/* The last read emptied the socket: wait before reading again rather
	 * than learn that from a read. */
	int r = vu_rx_more(&s->rx) && !full ? vu_rx_read(s->sock, &s->rx, &m) : 0;
	if (r < 0) {
		disconnect(s, stopping(s) ? -ESHUTDOWN : r);
		return -ECONNRESET;
	}
	__atomic_store_n(&s->main_partial, full ? 0 : vu_rx_partial(&s->rx), __ATOMIC_RELAXED);
	if (r == 1) {
		vu_trace_hdr(&s->log, "<-", &m->hdr, m->nfds);
		if ((m->hdr.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
			vu_srv_dma_reply_in(s, m);
			return 0;
		}
		m->next = NULL; /* handled once the device's request is done */
		if (s->queue_tail)
			s->queue_tail->next = m;
		else
			s->queue = m;
		s->queue_tail = m;
		s->nqueue++;
		s->queue_bytes += m->hdr.msg_size;
		return 0;
	}
	uint64_t now = vu_now_ms();
	if (stopping(s))
		return -ESHUTDOWN;
	if (now >= deadline)
		return -ETIMEDOUT;
	/* With the queue full only a stop or another thread's news can end
	 * the wait early. */
	struct pollfd pf[3] = { { .fd = s->stopfd, .events = POLLIN },
				{ .fd = s->dma_efd, .events = POLLIN },
				{ .fd = full ? -1 : s->sock, .events = POLLIN } };
	int n = poll(pf, 3, (int)VU_MIN(deadline - now, (uint64_t)INT32_MAX));
	uint64_t v;
	if (n > 0 && (pf[1].revents & POLLIN) && read(s->dma_efd, &v, sizeof(v)) < 0) {
		/* drained by another poller */
	}
	if (n > 0 && pf[2].revents)
		s->rx.drained = false;
	return 0;
}

void vu_srv_main_cut_check(struct uvfio_server *s, bool driver)
{
	/* A message cut off in the middle: the rest, if it came, could not be
	 * told from the client's next messages. Not when the driving thread
	 * stopped reading because its queue is full. */
	size_t part = driver ? (queue_full(s) ? 0 : vu_rx_partial(&s->rx))
			     : __atomic_load_n(&s->main_partial, __ATOMIC_RELAXED);
	if (!part)
		return;
	if (!driver) {
		vu_srv_dma_break(s, "a message from the client was cut off by the DMA timeout "
				    "after %zu bytes; the stream is out of step", part);
		return;
	}
	vu_err(&s->log, "a message from the client was cut off by the DMA timeout after %zu "
			"bytes; the stream is out of step, closing the connection", part);
	disconnect(s, 0);
}

void vu_srv_cb_enter(struct uvfio_server *s)
{
	s->cb_depth++;
}

void vu_srv_cb_leave(struct uvfio_server *s)
{
	if (!--s->cb_depth && s->disc_pending)
		disconnect(s, s->disc_why);
}

int vu_srv_send_reply(struct uvfio_server *s, const struct uvfio_hdr *req, int err,
		      const struct iovec *iov, int n, const int *fds, unsigned nfds)
{
	return reply_msg(s, s->sock, req, err, iov, n, fds, nfds); /* ends it on failure */
}
