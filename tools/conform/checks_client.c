/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The checks of a client (`uvfio conform --client -- COMMAND ARG...`): for
 * each check the tool starts the client on {sock}, accepts it and plays a
 * small PCI device (configuration space, a BAR, INTx) whose answers one
 * check at a time turn hostile: a reply malformed, cut, late or never sent,
 * descriptors where none belong, a DMA request at an awkward moment. What
 * it sees of the client: a death by a signal (crash), no reaction within
 * --timeout where one is due (hang), descriptors it keeps (its
 * /proc/PID/fd while it waits for a reply), and a bad reply taken as good
 * where the next message shows it (a request after a VERSION it could not
 * accept, a success answer to a DMA request for memory it never mapped).
 */
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conform.h"

enum scen {
	C_BASELINE,
	C_SPLIT,
	C_VERSION_MAJOR,
	C_VERSION_SHORT,
	C_VERSION_JSON,
	C_VERSION_ID,
	C_VERSION_ERROR,
	C_VERSION_FD,
	C_INFO_SHORT,
	C_INFO_HUGE,
	C_INFO_WRONG_CMD,
	C_RINFO_CAPS,
	C_RINFO_FD,
	C_READ_SHORT,
	C_SILENCE,
	C_CLOSE_INSIDE,
	C_SIZE_HUGE,
	C_DMA_BEFORE_VERSION,
	C_DMA_UNMAPPED,
	C_DMA_FDS,
	C_UNKNOWN_CMD,
	C_ERROR_ZERO,
	C_UNKNOWN_ID,
	C_REVERSED,
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cf_client_accept(struct cf_run *r, struct cf_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->seed = 0xc11e;
	c->split = r->split;
	c->timeout_ms = r->timeout_ms;
	c->next_id = 0x8000;
	if (cf_proc_start(&r->proc, false) < 0) {
		cf_note(r, "cannot start the client");
		return -1;
	}
	long deadline = now_ms() + r->timeout_ms + 2000;
	while (now_ms() < deadline) {
		struct pollfd p = {r->listen_fd, POLLIN, 0};
		if (poll(&p, 1, 20) > 0) {
			c->fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (c->fd >= 0)
				return 0;
		}
		if (cf_proc_reap(&r->proc)) {
			char b[64];
			cf_note(r, "the client ended (%s) before it connected",
				cf_status_str(r->proc.last_status, b, sizeof(b)));
			return -1;
		}
	}
	cf_note(r, "the client did not connect within %d ms", r->timeout_ms + 2000);
	return -1;
}

/* The device the tool plays. */
static void config_space(uint8_t *cfg)
{
	memset(cfg, 0, 256);
	cfg[0] = 0xe5; /* vendor 0x1de5, device 0xc0f0 */
	cfg[1] = 0x1d;
	cfg[2] = 0xf0;
	cfg[3] = 0xc0;
	cfg[0x0a] = 0x80; /* class: other */
	cfg[0x0b] = 0xff;
	cfg[0x3d] = 1; /* INTA */
}

static void put_reply(struct cf_conn *c, const struct cf_msg *q, uint32_t err, const void *body,
		      size_t len, const int *fds, int nfds, bool bytewise)
{
	uint8_t *out = malloc(16 + len);
	if (!out)
		return;
	cf_build(out, 16 + len, q->h.msg_id, q->h.cmd,
		 UVFIO_FLAGS_TYPE_REPLY | (err ? UVFIO_FLAGS_ERROR : 0), body, err ? 0 : len);
	((struct uvfio_hdr *)out)->error_no = err;
	size_t n = err ? 16 : 16 + len;
	if (bytewise) {
		for (size_t i = 0; i < n; i++) {
			if (send(c->fd, out + i, 1, MSG_NOSIGNAL) != 1)
				break;
			if (i % 4 == 0)
				usleep(100);
		}
		if (nfds) /* descriptors never go byte-wise: a separate byte-free path */
			cf_write_split(c, out, 0, fds, nfds);
	} else {
		cf_write_split(c, out, n, fds, nfds);
	}
	free(out);
}

/* The good answer to a request. */
static void answer(struct cf_conn *c, const struct cf_msg *q, bool bytewise)
{
	uint8_t b[512] = {0};
	switch (q->h.cmd) {
	case UVFIO_CMD_VERSION: {
		/* the minor proposed, at most 1 ("equal to or less than") */
		struct uvfio_version v = {0, 0};
		if (q->len >= 4)
			memcpy(&v.minor, q->body + 2, 2);
		v.minor = v.minor > 1 ? 1 : v.minor;
		const char *j = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":"
				"1048576}}";
		memcpy(b, &v, 4);
		memcpy(b + 4, j, strlen(j) + 1);
		put_reply(c, q, 0, b, 4 + strlen(j) + 1, NULL, 0, bytewise);
		return;
	}
	case UVFIO_CMD_DEVICE_GET_INFO: {
		struct uvfio_device_info di = {.argsz = 16,
					       .flags = VFIO_DEVICE_FLAGS_PCI |
							VFIO_DEVICE_FLAGS_RESET,
					       .num_regions = 9,
					       .num_irqs = 5};
		put_reply(c, q, 0, &di, 16, NULL, 0, bytewise);
		return;
	}
	case UVFIO_CMD_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info ri = {.argsz = sizeof(ri)};
		if (q->len >= 12)
			memcpy(&ri.index, q->body + 8, 4);
		if (ri.index >= 9) {
			put_reply(c, q, EINVAL, NULL, 0, NULL, 0, bytewise);
			return;
		}
		if (ri.index == 7)
			ri.size = 256;
		if (ri.index == 7)
			ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		ri.offset = (uint64_t)ri.index << 40;
		put_reply(c, q, 0, &ri, sizeof(ri), NULL, 0, bytewise);
		return;
	}
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info ii = {.argsz = sizeof(ii)};
		if (q->len >= 12)
			memcpy(&ii.index, q->body + 8, 4);
		if (ii.index >= 5) {
			put_reply(c, q, EINVAL, NULL, 0, NULL, 0, bytewise);
			return;
		}
		ii.flags = VFIO_IRQ_INFO_EVENTFD;
		ii.count = ii.index == 0;
		put_reply(c, q, 0, &ii, sizeof(ii), NULL, 0, bytewise);
		return;
	}
	case UVFIO_CMD_REGION_READ: {
		struct uvfio_region_access a = {0};
		if (q->len >= 16)
			memcpy(&a, q->body, 16);
		if (a.region != 7 || a.count > 256 || a.offset > 256 - a.count) {
			put_reply(c, q, EINVAL, NULL, 0, NULL, 0, bytewise);
			return;
		}
		uint8_t cfg[256];
		config_space(cfg);
		memcpy(b, &a, 16);
		memcpy(b + 16, cfg + a.offset, a.count);
		put_reply(c, q, 0, b, 16 + a.count, NULL, 0, bytewise);
		return;
	}
	case UVFIO_CMD_REGION_WRITE:
		put_reply(c, q, 0, q->body, q->len >= 16 ? 16 : 0, NULL, 0, bytewise);
		return;
	case UVFIO_CMD_DMA_MAP:
	case UVFIO_CMD_DEVICE_SET_IRQS:
	case UVFIO_CMD_DEVICE_RESET:
		put_reply(c, q, 0, NULL, 0, NULL, 0, bytewise);
		return;
	case UVFIO_CMD_DMA_UNMAP:
		put_reply(c, q, 0, q->body, q->len >= 24 ? 24 : 0, NULL, 0, bytewise);
		return;
	default:
		put_reply(c, q, EOPNOTSUPP, NULL, 0, NULL, 0, bytewise);
	}
}

/* The client under test: how it ended, if it did. */
static enum cf_result judge_end(struct cf_run *r, enum cf_result res)
{
	if (r->proc.ended && cf_status_crash(r->proc.last_status)) {
		char b[64];
		cf_note(r, "crash: the client was %s",
			cf_status_str(r->proc.last_status, b, sizeof(b)));
		r->crashed = true;
		return CF_FAIL;
	}
	return res;
}

/* A DMA request of the tool's: DMA_READ 16 bytes at an address the client
 * never mapped. Its answer must be an error (or a close). */
static int send_dma(struct cf_conn *c, uint16_t cmd, const int *fds, int nfds)
{
	uint8_t b[32] = {0};
	uint64_t addr = 0xdead0000, count = 16;
	memcpy(b, &addr, 8);
	memcpy(b + 8, &count, 8);
	return cf_send(c, cmd, 0, b, cmd == UVFIO_CMD_DMA_WRITE ? 32 : 16, fds, nfds);
}

/* Read the client's messages until the answer to the tool's request id:
 * 1 found (in m), 0 closed, -1 timeout. Requests on the way are answered. */
static int wait_answer(struct cf_run *r, struct cf_conn *c, uint16_t id, struct cf_msg *m)
{
	long deadline = now_ms() + r->timeout_ms;
	while (now_ms() < deadline) {
		int w = cf_recv(c, m, (int)(deadline - now_ms()));
		if (w == 0 || w == -2)
			return 0;
		if (w < 0)
			return -1;
		if ((m->h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY &&
		    m->h.msg_id == id)
			return 1;
		if ((m->h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_COMMAND)
			answer(c, m, false);
		cf_msg_free(m);
	}
	return -1;
}

static enum cf_result judge_dma_answer(struct cf_run *r, struct cf_conn *c, int id, uint16_t cmd)
{
	struct cf_msg m;
	int w = id < 0 ? 0 : wait_answer(r, c, (uint16_t)id, &m);
	if (w < 0) {
		r->hung = true;
		cf_note(r, "hang: no answer to the tool's %s within %d ms",
			cmd == UVFIO_CMD_DMA_READ ? "DMA_READ" : "DMA_WRITE", r->timeout_ms);
		return CF_FAIL;
	}
	if (w == 0) {
		cf_note(r, "the client closed the connection");
		return CF_PASS;
	}
	enum cf_result res = CF_PASS;
	if (m.h.cmd != cmd) {
		cf_note(r, "wrong reply: command %u answers the tool's command %u", m.h.cmd, cmd);
		res = CF_FAIL;
	} else if (!(m.h.flags & UVFIO_FLAGS_ERROR)) {
		cf_note(r, "accepted bad input: a success answer to a DMA request for memory the "
			   "client never mapped");
		res = CF_FAIL;
	} else {
		cf_note(r, "refused with errno %u", m.h.error_no);
	}
	cf_msg_free(&m);
	return res;
}

/* A VMM opens descriptors of its own between requests: a leak is a count
 * above the baseline's at the same request. */
#define MAX_TRACK 512

static enum cf_result ck_client(struct cf_run *r, const struct cf_check *ck)
{
	struct cf_conn c;
	enum scen sc = (enum scen)ck->arg;
	if (cf_client_accept(r, &c) < 0) {
		cf_proc_kill(&r->proc);
		return judge_end(r, CF_FAIL);
	}
	pid_t pid = r->proc.child;
	if (sc == C_BASELINE)
		memset(r->baseline_fds, 0xff, sizeof(r->baseline_fds));
	enum cf_result res = CF_PASS;
	unsigned requests = 0;
	bool negotiated = false, hostile_done = false, expect_close = false;
	int leak_before = -1;
	long deadline = now_ms() + r->timeout_ms;
	if (sc == C_DMA_BEFORE_VERSION) {
		/* before anything: the client has no memory and no session yet */
		int id = send_dma(&c, UVFIO_CMD_DMA_WRITE, NULL, 0);
		res = judge_dma_answer(r, &c, id, UVFIO_CMD_DMA_WRITE);
		hostile_done = true;
		if (r->hung || c.fd < 0 || c.closed)
			goto end;
	}
	for (;;) {
		struct cf_msg m;
		int left = (int)(deadline - now_ms());
		int w = cf_recv(&c, &m, left > 0 ? left : 0);
		if (w == 0 || w == -2) {
			cf_note(r, "the client closed the connection after %u requests", requests);
			break;
		}
		if (w < 0) {
			/* quiet: done if the client got what it asked for; a hang if it
			 * owes a reaction */
			if (expect_close) {
				r->hung = true;
				cf_note(r,
					"hang: the client neither closed the connection nor ended "
					"within %d ms",
					r->timeout_ms);
				res = CF_FAIL;
			} else {
				cf_note(r, "the client went quiet after %u requests", requests);
			}
			break;
		}
		if ((m.h.flags & UVFIO_FLAGS_TYPE_MASK) != UVFIO_FLAGS_TYPE_COMMAND) {
			cf_msg_free(&m);
			continue;
		}
		deadline = now_ms() + r->timeout_ms;
		int fds_now = cf_count_fds(pid);
		if (sc == C_BASELINE && requests < MAX_TRACK)
			r->baseline_fds[requests] = fds_now;
		if (leak_before >= 0) {
			/* the client sent its next request: what it kept of the reply
			 * before is still open */
			bool by_base = r->baseline_done && requests < MAX_TRACK &&
				       r->baseline_fds[requests] >= 0;
			int ref = by_base ? r->baseline_fds[requests] : leak_before;
			for (int i = 0; i < 20 && fds_now > ref; i++) {
				usleep(10000);
				fds_now = cf_count_fds(pid);
			}
			if (fds_now > ref) {
				cf_note(r,
					"descriptor leak: the client held %d descriptors at its "
					"request "
					"%u after the reply with a descriptor, %d %s",
					fds_now, requests + 1, ref,
					by_base ? "at the same request with a good server"
						: "before that reply");
				res = CF_FAIL;
			}
			leak_before = -1;
		}
		requests++;
		if (expect_close && !hostile_done) {
			/* nothing */
		} else if (expect_close) {
			/* then a close: what the client does with it shows (QEMU aborted) */
			cf_note(r, "accepted a bad reply: the client went on with %s",
				uvfio_cmd_name(m.h.cmd));
			res = CF_FAIL;
			cf_msg_free(&m);
			break;
		}
		bool hostile = !hostile_done;
		uint16_t cmd = m.h.cmd;
		if (hostile && sc >= C_VERSION_MAJOR && sc <= C_VERSION_FD &&
		    cmd == UVFIO_CMD_VERSION) {
			uint8_t b[128];
			struct uvfio_version v = {sc == C_VERSION_MAJOR ? 1 : 0, 1};
			memcpy(b, &v, 4);
			const char *j =
				sc == C_VERSION_JSON ? "{\"capabilities\":{\"max_msg_fds\":" : "{}";
			memcpy(b + 4, j, strlen(j) + 1);
			size_t n = sc == C_VERSION_SHORT ? 2 : 4 + strlen(j) + 1;
			if (sc == C_VERSION_ID)
				m.h.msg_id++;
			if (sc == C_VERSION_FD) {
				/* a good reply with a descriptor nobody asked for */
				int fd = eventfd(0, EFD_CLOEXEC);
				const char *good = "{\"capabilities\":{\"max_msg_fds\":8}}";
				memcpy(b + 4, good, strlen(good) + 1);
				leak_before = cf_count_fds(pid);
				put_reply(&c, &m, 0, b, 4 + strlen(good) + 1, &fd, 1, false);
				close(fd);
				hostile_done = negotiated = true;
				cf_msg_free(&m);
				continue;
			}
			put_reply(&c, &m, sc == C_VERSION_ERROR ? EINVAL : 0, b, n, NULL, 0, false);
			hostile_done = true;
			expect_close = true;
			negotiated = false;
			cf_msg_free(&m);
			continue;
		}
		if (cmd == UVFIO_CMD_VERSION)
			negotiated = true;
		if (hostile && negotiated && cmd == UVFIO_CMD_DEVICE_GET_INFO &&
		    (sc == C_INFO_SHORT || sc == C_INFO_HUGE || sc == C_INFO_WRONG_CMD ||
		     sc == C_SILENCE || sc == C_CLOSE_INSIDE || sc == C_SIZE_HUGE ||
		     sc == C_DMA_UNMAPPED || sc == C_DMA_FDS || sc == C_UNKNOWN_CMD ||
		     sc == C_ERROR_ZERO)) {
			hostile_done = true;
			struct uvfio_device_info di = {.argsz = 16,
						       .flags = VFIO_DEVICE_FLAGS_PCI,
						       .num_regions = 9,
						       .num_irqs = 5};
			if (sc == C_INFO_SHORT) {
				put_reply(&c, &m, 0, &di, 8, NULL, 0, false);
			} else if (sc == C_INFO_HUGE) {
				di.num_regions = di.num_irqs = UINT32_MAX;
				put_reply(&c, &m, 0, &di, 16, NULL, 0, false);
			} else if (sc == C_INFO_WRONG_CMD) {
				m.h.cmd = UVFIO_CMD_REGION_READ;
				put_reply(&c, &m, 0, &di, 16, NULL, 0, false);
			} else if (sc == C_ERROR_ZERO) {
				uint8_t b[16];
				cf_build(b, 16, m.h.msg_id, m.h.cmd,
					 UVFIO_FLAGS_TYPE_REPLY | UVFIO_FLAGS_ERROR, NULL, 0);
				cf_write_split(&c, b, 16, NULL, 0);
			} else if (sc == C_SILENCE) {
				expect_close = true;
			} else if (sc == C_CLOSE_INSIDE || sc == C_SIZE_HUGE) {
				uint8_t b[32];
				cf_build(b, 32, m.h.msg_id, m.h.cmd, UVFIO_FLAGS_TYPE_REPLY, &di,
					 16);
				if (sc == C_SIZE_HUGE) {
					((struct uvfio_hdr *)b)->msg_size = 1u << 30;
					cf_write_split(&c, b, 32, NULL, 0);
					expect_close = true;
				} else {
					cf_write_split(&c, b, 20, NULL, 0);
					cf_conn_close(&c);
					cf_msg_free(&m);
					cf_note(r, "closed inside the DEVICE_GET_INFO reply");
					/* a client that stays alive is no finding: a VMM would */
					cf_proc_wait_end(&r->proc, r->timeout_ms);
					goto end;
				}
			} else {
				/* a server request before the reply the client waits for */
				int efd = eventfd(0, EFD_CLOEXEC);
				uint16_t dcmd = sc == C_UNKNOWN_CMD ? 77
						: sc == C_DMA_FDS   ? UVFIO_CMD_DMA_WRITE
								    : UVFIO_CMD_DMA_READ;
				if (sc == C_DMA_FDS)
					leak_before = cf_count_fds(pid);
				int id = dcmd == 77 ? cf_send(&c, 77, 0, NULL, 0, NULL, 0)
						    : send_dma(&c, dcmd, &efd, sc == C_DMA_FDS);
				close(efd);
				struct cf_msg a;
				if (dcmd == 77) {
					int w2 = id < 0 ? 0 : wait_answer(r, &c, (uint16_t)id, &a);
					if (w2 > 0) {
						cf_note(r, "answered with %s",
							a.h.flags & UVFIO_FLAGS_ERROR ? "an error"
										      : "success");
						cf_msg_free(&a);
					} else if (w2 < 0) {
						cf_note(r, "the unknown command was ignored");
					}
				} else {
					res = judge_dma_answer(r, &c, id, dcmd);
				}
				if (c.fd >= 0 && !c.closed)
					answer(&c, &m, false);
				if (r->hung)
					goto end;
			}
			cf_msg_free(&m);
			continue;
		}
		if (hostile && negotiated && cmd == UVFIO_CMD_DEVICE_GET_REGION_INFO &&
		    (sc == C_RINFO_CAPS || sc == C_RINFO_FD)) {
			hostile_done = true;
			struct vfio_region_info ri = {.argsz = sizeof(ri)};
			memcpy(&ri.index, m.body + 8, 4);
			if (sc == C_RINFO_CAPS) {
				ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_CAPS;
				ri.cap_offset = 4000;
				ri.size = 4096;
				put_reply(&c, &m, 0, &ri, sizeof(ri), NULL, 0, false);
			} else {
				int efd = eventfd(0, EFD_CLOEXEC);
				leak_before = cf_count_fds(pid);
				ri.flags = VFIO_REGION_INFO_FLAG_READ; /* not mappable: no
									  descriptor */
				ri.size = ri.index == 7 ? 256 : 0;
				put_reply(&c, &m, 0, &ri, sizeof(ri), &efd, 1, false);
				close(efd);
			}
			cf_msg_free(&m);
			continue;
		}
		if (hostile && negotiated && cmd == UVFIO_CMD_REGION_READ && sc == C_READ_SHORT) {
			hostile_done = true;
			uint8_t b[20];
			memcpy(b, m.body, 16);
			memset(b + 16, 0xff, 4);
			put_reply(&c, &m, 0, b, 18, NULL, 0,
				  false); /* 2 bytes, whatever was asked */
			cf_msg_free(&m);
			continue;
		}
		if (hostile && negotiated && cmd == UVFIO_CMD_DEVICE_GET_INFO &&
		    sc == C_UNKNOWN_ID) {
			/* a reply to an id the client never used, then the real one */
			hostile_done = true;
			struct cf_msg fake = {.h = m.h};
			fake.h.msg_id = (uint16_t)(m.h.msg_id ^ 0x8000);
			answer(&c, &fake, false);
		}
		if (sc == C_REVERSED && negotiated) {
			/* the requests that come within 30 ms, answered last first in one write */
			struct cf_msg q[16];
			int nq = 0;
			q[nq++] = m;
			while (nq < 16) {
				struct cf_msg x;
				int w2 = cf_recv(&c, &x, 30);
				if (w2 <= 0)
					break;
				if ((x.h.flags & UVFIO_FLAGS_TYPE_MASK) !=
				    UVFIO_FLAGS_TYPE_COMMAND) {
					cf_msg_free(&x);
					continue;
				}
				requests++;
				q[nq++] = x;
			}
			if (nq > 1 && !hostile_done) {
				hostile_done = true;
				cf_note(r,
					"%d requests in flight answered last first, in one write",
					nq);
			}
			cf_cork(&c);
			for (int i = nq - 1; i >= 0; i--)
				answer(&c, &q[i], false);
			cf_uncork(&c);
			for (int i = 1; i < nq; i++)
				cf_msg_free(&q[i]);
		} else {
			answer(&c, &m, sc == C_SPLIT);
		}
		cf_msg_free(&m);
	}
	goto end;
end:
	if (c.fd >= 0)
		cf_conn_close(&c);
	/* the client's own end: a crash is a finding of this check (QEMU takes
	 * some hundred milliseconds to abort) */
	cf_proc_wait_end(&r->proc, 1000);
	if (r->proc.child) {
		cf_proc_kill(&r->proc);
	} else if (!cf_status_crash(r->proc.last_status)) {
		char b[64];
		int st = WIFEXITED(r->proc.last_status) ? WEXITSTATUS(r->proc.last_status) : -1;
		if (sc == C_BASELINE)
			r->baseline_status = st;
		cf_note(r, "the client ended: %s",
			cf_status_str(r->proc.last_status, b, sizeof(b)));
		if (sc == C_SPLIT && r->baseline_status >= 0 && st != r->baseline_status) {
			cf_note(r,
				"replies in pieces end it otherwise than whole ones (exit status "
				"%d)",
				r->baseline_status);
			res = CF_FAIL;
		}
	}
	if (sc == C_REVERSED && !hostile_done)
		cf_note(r, "the client never had two requests in flight");
	if (sc == C_BASELINE)
		r->baseline_done = true;
	return judge_end(r, res);
}

#define CL(n, s, sc)                                                                               \
	{                                                                                          \
		n, "client", SPEC s, ck_client, sc                                                 \
	}

const struct cf_check cf_client_checks[] = {
	CL("client.baseline", "Connection Initiation", C_BASELINE),
	CL("client.replies-byte-at-a-time", "Header", C_SPLIT),
	CL("client.version-major-1", "VFIO_USER_VERSION", C_VERSION_MAJOR),
	CL("client.version-payload-short", "VFIO_USER_VERSION", C_VERSION_SHORT),
	CL("client.version-json-broken", "VFIO_USER_VERSION", C_VERSION_JSON),
	CL("client.version-wrong-id", "Header", C_VERSION_ID),
	CL("client.version-error-reply", "VFIO_USER_VERSION", C_VERSION_ERROR),
	CL("client.version-unexpected-descriptor", "VFIO_USER_VERSION", C_VERSION_FD),
	CL("client.device-info-short", "VFIO_USER_DEVICE_GET_INFO", C_INFO_SHORT),
	CL("client.device-info-huge-counts", "VFIO_USER_DEVICE_GET_INFO", C_INFO_HUGE),
	CL("client.reply-wrong-command", "Header", C_INFO_WRONG_CMD),
	CL("client.error-reply-errno-zero", "Header", C_ERROR_ZERO),
	CL("client.region-info-caps-outside", "Region Capabilities", C_RINFO_CAPS),
	CL("client.region-info-unexpected-descriptor", "VFIO_USER_DEVICE_GET_REGION_INFO",
	   C_RINFO_FD),
	CL("client.region-read-reply-short", "VFIO_USER_REGION_READ", C_READ_SHORT),
	CL("client.silence", "Request Retry and Response Timeout", C_SILENCE),
	CL("client.close-inside-reply", "Server Disconnection", C_CLOSE_INSIDE),
	CL("client.reply-size-huge", "Header", C_SIZE_HUGE),
	CL("client.dma-before-version", "VFIO_USER_DMA_WRITE", C_DMA_BEFORE_VERSION),
	CL("client.dma-read-unmapped", "VFIO_USER_DMA_READ", C_DMA_UNMAPPED),
	CL("client.dma-write-with-descriptor", "VFIO_USER_DMA_WRITE", C_DMA_FDS),
	CL("client.unknown-command", "Header", C_UNKNOWN_CMD),
	CL("client.reply-unknown-id", "Header", C_UNKNOWN_ID),
	CL("client.replies-reversed-coalesced", "Command Concurrency", C_REVERSED),
};
const size_t cf_n_client_checks = sizeof(cf_client_checks) / sizeof(cf_client_checks[0]);
