/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sequences (the no-reply flag, pipelining, messages in pieces, ids
 * reused, a reply nobody asked for, closes, reconnects, floods, map and
 * unmap churn) and the device's DMA, made to happen with --dma-kick:
 * through a mapped file, and by messages in both layouts, with error
 * replies, withheld replies and a close.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks.h"

enum cf_result ck_no_reply(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	struct uvfio_device_info di = {.argsz = 16};
	int a = cf_send(&r->conn, UVFIO_CMD_DEVICE_GET_INFO, UVFIO_FLAGS_NO_REPLY, &di, 16, NULL,
			0);
	int b = cf_send(&r->conn, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16, NULL, 0);
	struct cf_msg m;
	int w = a < 0 || b < 0 ? 0 : cf_recv(&r->conn, &m, r->timeout_ms);
	if (w < 0)
		return cs_hang(r, "two DEVICE_GET_INFO");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_FAIL;
	}
	uint16_t id = m.h.msg_id;
	cf_msg_free(&m);
	if (id == a) {
		cf_note(r, "wrong reply: a reply to a request flagged no-reply");
		return CF_FAIL;
	}
	if (id != b) {
		cf_note(r, "wrong reply: id %u, expected %d", id, b);
		return CF_FAIL;
	}
	return CF_PASS;
}

/* arg: how many requests in one write; they come back in order. */
enum cf_result ck_pipeline(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	int n = (int)ck->arg;
	uint8_t *buf = malloc((size_t)n * 32);
	uint16_t first = r->conn.next_id;
	struct uvfio_device_info di = {.argsz = 16};
	for (int i = 0; i < n; i++)
		cf_build(buf + 32 * i, 32, r->conn.next_id++, UVFIO_CMD_DEVICE_GET_INFO, 0, &di,
			 16);
	bool sent = cf_write_split(&r->conn, buf, (size_t)n * 32, NULL, 0);
	free(buf);
	for (int i = 0; sent && i < n; i++) {
		struct cf_msg m;
		int w = cf_recv(&r->conn, &m, r->timeout_ms);
		if (w < 0)
			return cs_hang(r, "pipelined requests");
		if (w == 0)
			break;
		uint16_t id = m.h.msg_id;
		cf_msg_free(&m);
		if (id != (uint16_t)(first + i)) {
			cf_note(r, "wrong reply: reply %d has id %u, the order sent gives %u", i,
				id, (uint16_t)(first + i));
			return CF_FAIL;
		}
	}
	if (!sent || r->conn.closed) {
		cf_note(r, "the server closed the connection");
		return CF_FAIL;
	}
	cf_note(r, "%d replies in order", n);
	return CF_PASS;
}

enum cf_result ck_bytewise(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (cf_connect(r, &r->conn) < 0)
		return CF_SKIP;
	uint8_t msg[128];
	uint8_t body[64];
	struct uvfio_version v = {0, 1};
	memcpy(body, &v, 4);
	memcpy(body + 4, CAPS_JSON, sizeof(CAPS_JSON));
	size_t n = cf_build(msg, sizeof(msg), r->conn.next_id++, UVFIO_CMD_VERSION, 0, body,
			    4 + sizeof(CAPS_JSON));
	struct uvfio_device_info di = {.argsz = 16};
	n += cf_build(msg + n, sizeof(msg) - n, r->conn.next_id++, UVFIO_CMD_DEVICE_GET_INFO, 0,
		      &di, 16);
	for (size_t i = 0; i < n; i++) {
		if (send(r->conn.fd, msg + i, 1, MSG_NOSIGNAL) != 1) {
			cf_note(r, "the server closed the connection at byte %zu", i);
			return CF_FAIL;
		}
		if (i % 8 == 0)
			usleep(200);
	}
	for (int k = 0; k < 2; k++) {
		struct cf_msg m;
		int w = cf_recv(&r->conn, &m, r->timeout_ms);
		if (w < 0)
			return cs_hang(r, "messages written a byte at a time");
		if (w == 0 || m.h.flags & UVFIO_FLAGS_ERROR) {
			cf_note(r, "%s", w ? "refused" : "the server closed the connection");
			cf_msg_free(&m);
			return CF_FAIL;
		}
		cf_msg_free(&m);
	}
	cf_note(r, "VERSION and DEVICE_GET_INFO, a byte per write");
	return CF_PASS;
}

/* A message in two writes a little apart, cut at arg bytes. */
enum cf_result ck_pieces(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t buf[32];
	struct uvfio_device_info di = {.argsz = 16};
	uint16_t id = r->conn.next_id++;
	cf_build(buf, sizeof(buf), id, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16);
	size_t cut = (size_t)ck->arg;
	if (send(r->conn.fd, buf, cut, MSG_NOSIGNAL) != (ssize_t)cut)
		return CF_FAIL;
	usleep(20000);
	if (send(r->conn.fd, buf + cut, 32 - cut, MSG_NOSIGNAL) != (ssize_t)(32 - cut)) {
		cf_note(r, "the server closed the connection after the first %zu bytes", cut);
		return CF_FAIL;
	}
	struct cf_msg m;
	if (!cs_ok_call_wait(r, id, UVFIO_CMD_DEVICE_GET_INFO, &m,
			     "a DEVICE_GET_INFO in two pieces"))
		return CF_FAIL;
	cf_msg_free(&m);
	cf_note(r, "bytes 0-%zu, 20 ms, then the rest", cut - 1);
	return CF_PASS;
}

enum cf_result ck_ids_reused(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t buf[64];
	struct uvfio_device_info di = {.argsz = 16};
	cf_build(buf, 32, 0x4242, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16);
	cf_build(buf + 32, 32, 0x4242, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16);
	if (!cf_write_split(&r->conn, buf, 64, NULL, 0)) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	int got = 0;
	for (int k = 0; k < 2; k++) {
		struct cf_msg m;
		int w = cf_recv(&r->conn, &m, r->timeout_ms);
		if (w < 0)
			return cs_hang(r, "two requests of one id");
		if (w == 0)
			break;
		got++;
		cf_msg_free(&m);
	}
	if (got == 2) {
		cf_note(r, "both answered");
		return CF_PASS;
	}
	cf_note(r, "the server closed the connection; the specification lets a client reuse ids, "
		   "even concurrently");
	return CF_FAIL;
}

/* A reply the server never asked for: ignored, refused or a close. */
enum cf_result ck_stray_reply(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t buf[48];
	uint8_t data[16] = {0};
	cf_build(buf, sizeof(buf), 0x5151, UVFIO_CMD_DMA_READ, UVFIO_FLAGS_TYPE_REPLY, data, 16);
	if (!cf_write_split(&r->conn, buf, 32, NULL, 0)) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	struct uvfio_device_info di = {.argsz = 16};
	struct cf_msg m;
	int w = cf_call(&r->conn, UVFIO_CMD_DEVICE_GET_INFO, &di, 16, NULL, 0, &m);
	if (w < 0)
		return cs_hang(r, "a reply nobody asked for");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	cf_msg_free(&m);
	for (int i = 0; i < r->conn.nstray; i++)
		if (r->conn.stray[i].h.msg_id == 0x5151)
			cf_note(r, "answered with an error");
	if (!r->noted)
		cf_note(r, "ignored");
	return CF_PASS;
}

enum cf_result ck_close_inside(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t buf[64];
	struct uvfio_region_access a = {.offset = 0, .region = CFG, .count = 4};
	size_t n = cf_build(buf, sizeof(buf), 9, UVFIO_CMD_REGION_READ, 0, &a, 16);
	if (ck->arg == 0) {
		if (send(r->conn.fd, buf, n - 7, MSG_NOSIGNAL) < 0)
			cf_note(r, "the server closed the connection first");
	} else {
		/* many requests, none of the replies read */
		struct uvfio_device_info di = {.argsz = 16};
		for (int i = 0; i < 256; i++) {
			n = cf_build(buf, sizeof(buf), (uint16_t)(100 + i),
				     UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16);
			if (send(r->conn.fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				break;
		}
	}
	cf_conn_close(&r->conn);
	cf_note(r, ck->arg ? "256 requests, then a close" : "a close 7 bytes before the end");
	return CF_PASS;
}

enum cf_result ck_reconnect(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	for (int i = 0; i < 3; i++) {
		if (!cf_session(r, 1, CAPS_JSON))
			return CF_FAIL;
		struct uvfio_device_info di = {.argsz = 16};
		struct cf_msg m;
		if (!cs_ok_call(r, UVFIO_CMD_DEVICE_GET_INFO, &di, 16, NULL, 0, &m,
				"DEVICE_GET_INFO"))
			return CF_FAIL;
		cf_msg_free(&m);
		cf_conn_close(&r->conn);
	}
	cf_note(r, "three clients, one after the other");
	return CF_PASS;
}

/* Many requests, good and bad; the server's memory must not grow with them. */
enum cf_result ck_flood(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	const int batch = 64, rounds = (int)ck->arg / 64;
	long rss0 = -1;
	for (int k = 0; k < rounds; k++) {
		if (k == rounds / 4 && r->server_pid)
			rss0 = cf_rss_kib(r->server_pid); /* after the warm-up */
		uint8_t buf[64 * 32];
		struct uvfio_device_info di = {.argsz = 16};
		for (int i = 0; i < batch; i++)
			cf_build(buf + 32 * i, 32, r->conn.next_id++,
				 i % 2 ? UVFIO_CMD_DEVICE_GET_INFO : 77, 0, &di, 16);
		if (!cf_write_split(&r->conn, buf, sizeof(buf), NULL, 0)) {
			cf_note(r, "the server closed the connection in the flood");
			return CF_FAIL;
		}
		for (int i = 0; i < batch; i++) {
			struct cf_msg m;
			int w = cf_recv(&r->conn, &m, r->timeout_ms);
			if (w < 0)
				return cs_hang(r, "a flood of requests");
			if (w == 0) {
				cf_note(r, "the server closed the connection in the flood");
				return CF_FAIL;
			}
			cf_msg_free(&m);
		}
	}
	long rss1 = r->server_pid ? cf_rss_kib(r->server_pid) : -1;
	if (rss0 < 0 || rss1 < 0) {
		cf_note(r, "%ld requests answered; the server's memory cannot be seen", ck->arg);
		return CF_PASS;
	}
	if (rss1 - rss0 > 8192) {
		cf_note(r, "memory growth: resident memory %ld KiB -> %ld KiB over %ld requests",
			rss0, rss1, ck->arg * 3 / 4);
		return CF_FAIL;
	}
	cf_note(r, "%ld requests answered, resident memory %ld KiB -> %ld KiB", ck->arg, rss0,
		rss1);
	return CF_PASS;
}

/* ---- DMA by messages: --dma-kick makes the device copy ---- */

/* Memory Space and Bus Master Enable in the Command register, as a driver
 * sets them before it lets a device master the bus (servers may refuse DMA
 * without it). */
static bool bus_master(struct cf_run *r)
{
	uint16_t cmd;
	if (CFG >= r->dev.num_regions || r->dev.region[CFG].size < 64)
		return true;
	if (!cs_region_read(r, CFG, 4, &cmd, 2))
		return false;
	cmd |= 0x6;
	return cs_region_write(r, CFG, 4, &cmd, 2);
}

static bool kick(struct cf_run *r, uint64_t src, uint64_t dst, uint64_t len)
{
	if (!bus_master(r))
		return false;
	for (int i = 0; i < r->kick.n; i++) {
		uint64_t v = 0;
		const char *s = r->kick.value[i];
		if (!strcmp(s, "{src}"))
			v = src;
		else if (!strcmp(s, "{dst}"))
			v = dst;
		else if (!strcmp(s, "{len}"))
			v = len;
		else
			v = strtoull(s, NULL, 0);
		if (!cs_region_write(r, r->kick.region[i], r->kick.offset[i], &v, 8))
			return false;
	}
	return true;
}

/* arg: 0 specification's layout (minor 1), 1 QEMU's (minor 0), 2 error
 * replies, 3 withheld reply and a flood, 4 withheld reply and a close. */
static enum cf_result dma_msg(struct cf_run *r, const struct cf_check *ck, struct cf_conn *c,
			      uint8_t *mem, size_t msize);

/* The device's DMA through a mapped memory file: the copy lands in the
 * tool's own mapping of it; the unmap releases the file. */
enum cf_result ck_dma_mapped(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!r->kick.n) {
		cf_note(r, "the device does DMA only when told how (--dma-kick)");
		return CF_SKIP;
	}
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	const size_t msize = 0x10000, len = 0x3000;
	int fd = cs_make_fd(FD_MEM);
	uint8_t *mem =
		fd >= 0 ? mmap(NULL, msize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (mem == MAP_FAILED) {
		if (fd >= 0)
			close(fd);
		cf_note(r, "cannot make the memory file");
		return CF_FAIL;
	}
	for (size_t i = 0; i < msize / 2; i++)
		mem[i] = (uint8_t)(i * 5 + 1);
	r->conn.dma = (struct cf_dma_window){DMA_IOVA, msize, mem}; /* if it uses messages */
	int before = r->server_pid ? cf_count_fds(r->server_pid) : -1;
	enum cf_result res = CF_FAIL;
	bool mapped = cs_map(r, DMA_IOVA, msize, fd, "DMA_MAP of a memory file");
	close(fd);
	if (mapped && kick(r, DMA_IOVA, DMA_IOVA + 0x8000, len)) {
		for (int t = 0; t < r->timeout_ms / 10 && memcmp(mem, mem + 0x8000, len); t++) {
			struct cf_msg m;
			if (cf_recv(&r->conn, &m, 10) > 0) {
				if (m.h.cmd == UVFIO_CMD_DMA_READ || m.h.cmd == UVFIO_CMD_DMA_WRITE)
					cf_serve_dma(&r->conn, &m);
				cf_msg_free(&m);
			}
		}
		if (memcmp(mem, mem + 0x8000, len))
			cf_note(r, "the copy did not arrive in the mapped memory");
		else if (cs_unmap(r, DMA_IOVA, msize) && cs_fds_kept(r, before)) {
			cf_note(r,
				"a copy of %zu bytes through mapped memory (%u DMA messages), the "
				"file released at the unmap",
				len, r->conn.dma_served);
			res = CF_PASS;
		}
	}
	r->conn.dma.mem = NULL;
	munmap(mem, msize);
	return res;
}

/* Maps and unmaps of a memory file, over and over: no descriptor and no
 * memory may stay behind. */
enum cf_result ck_map_churn(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	int fd = cs_make_fd(FD_MEM);
	int before = r->server_pid ? cf_count_fds(r->server_pid) : -1;
	long rss0 = -1;
	enum cf_result res = CF_PASS;
	for (long i = 0; i < ck->arg && res == CF_PASS; i++) {
		if (i == ck->arg / 4 && r->server_pid)
			rss0 = cf_rss_kib(r->server_pid); /* after the warm-up */
		if (!cs_map(r, DMA_IOVA, 0x10000, fd, "DMA_MAP") || !cs_unmap(r, DMA_IOVA, 0x10000))
			res = CF_FAIL;
	}
	close(fd);
	if (res != CF_PASS)
		return res;
	long rss1 = r->server_pid ? cf_rss_kib(r->server_pid) : -1;
	if (!cs_fds_kept(r, before))
		return CF_FAIL;
	if (rss0 >= 0 && rss1 >= 0 && rss1 - rss0 > 8192) {
		cf_note(r,
			"memory growth: resident memory %ld KiB -> %ld KiB over %ld maps and "
			"unmaps",
			rss0, rss1, ck->arg * 3 / 4);
		return CF_FAIL;
	}
	cf_note(r, "%ld maps and unmaps of a memory file; resident memory %ld KiB -> %ld KiB",
		ck->arg, rss0, rss1);
	return CF_PASS;
}

enum cf_result ck_dma_msg(struct cf_run *r, const struct cf_check *ck)
{
	if (!r->kick.n) {
		cf_note(r, "the device does DMA only when told how (--dma-kick)");
		return CF_SKIP;
	}
	/* a small max_data_xfer_size: the server must cut its DMA to it */
	if (!cf_session(r, ck->arg == 1 ? 0 : 1,
			"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":4096}}"))
		return r->hung ? CF_FAIL : CF_SKIP;
	struct cf_conn *c = &r->conn;
	c->own_max_xfer = 4096;
	c->qemu_layout = ck->arg == 1;
	/* the window's memory: the source in its first half */
	const size_t msize = 0x10000;
	uint8_t *mem = calloc(1, msize);
	if (!mem) {
		cf_note(r, "out of memory");
		return CF_FAIL;
	}
	for (size_t i = 0; i < msize / 2; i++)
		mem[i] = (uint8_t)(i * 7 + 3);
	c->dma = (struct cf_dma_window){DMA_IOVA, msize, mem};
	enum cf_result res = dma_msg(r, ck, c, mem, msize);
	c->dma.mem = NULL;
	free(mem);
	return res;
}

static enum cf_result dma_msg(struct cf_run *r, const struct cf_check *ck, struct cf_conn *c,
			      uint8_t *mem, size_t msize)
{
	if (!cs_map(r, DMA_IOVA, msize, -1, "DMA_MAP without a descriptor")) {
		if (r->hung || c->closed)
			return CF_FAIL;
		cf_note(r, "the server takes no map without a descriptor");
		return CF_SKIP;
	}
	const uint64_t len = 0x3000;
	if (ck->arg == 2) {
		c->dma.size = 0; /* every request reaches outside: error replies */
		c->dma_err[0] = 0;
		if (!kick(r, DMA_IOVA, DMA_IOVA + 0x8000, len))
			return CF_FAIL;
		/* the copy may start after the kick's reply */
		for (int t = 0; t < r->timeout_ms / 10 && !c->dma_seen; t++) {
			struct cf_msg m;
			if (cf_recv(c, &m, 10) > 0) {
				if (m.h.cmd == UVFIO_CMD_DMA_READ || m.h.cmd == UVFIO_CMD_DMA_WRITE)
					cf_serve_dma(c, &m);
				cf_msg_free(&m);
			}
		}
		if (!c->dma_seen) {
			cf_note(r, "the kick brought no DMA request");
			return CF_FAIL;
		}
		cf_note(r, "%u DMA requests got error replies and the server went on", c->dma_seen);
		return CF_PASS;
	}
	if (ck->arg >= 3) {
		if (!bus_master(r))
			return CF_FAIL;
		c->withhold = true;
		int id = -1;
		for (int i = 0; i < r->kick.n; i++) {
			uint64_t v = i == r->kick.n - 1 ? strtoull(r->kick.value[i], NULL, 0) : 0;
			const char *s = r->kick.value[i];
			v = !strcmp(s, "{src}")	  ? DMA_IOVA
			    : !strcmp(s, "{dst}") ? DMA_IOVA + 0x8000
			    : !strcmp(s, "{len}") ? len
						  : strtoull(s, NULL, 0);
			struct form f;
			cs_region_access(&f, UVFIO_CMD_REGION_WRITE, r->kick.offset[i],
					 r->kick.region[i], 8, 8);
			memcpy(f.body + 16, &v, 8);
			id = cf_send(c, f.cmd, 0, f.body, f.len, NULL, 0);
		}
		/* wait for the first DMA request, keep it unanswered */
		struct cf_msg m;
		for (int t = 0; t < 100 && !c->nwithheld; t++) {
			int w = cf_recv(c, &m, 50);
			if (w == 0) {
				cf_note(r, "the server closed the connection");
				return CF_FAIL;
			}
			if (w > 0) {
				if ((m.h.cmd == UVFIO_CMD_DMA_READ ||
				     m.h.cmd == UVFIO_CMD_DMA_WRITE) &&
				    !(m.h.flags & UVFIO_FLAGS_TYPE_REPLY))
					c->withheld[c->nwithheld++] = m;
				else if (c->nstray < 4)
					c->stray[c->nstray++] = m;
				else
					cf_msg_free(&m);
			}
		}
		if (!c->nwithheld) {
			cf_note(r, "the kick brought no DMA request");
			return CF_FAIL;
		}
		if (ck->arg == 4) {
			cf_conn_close(c);
			cf_note(r, "closed with a DMA request unanswered");
			return CF_PASS;
		}
		uint8_t buf[64 * 32];
		struct uvfio_device_info di = {.argsz = 16};
		uint16_t first = c->next_id;
		for (int i = 0; i < 64; i++)
			cf_build(buf + 32 * i, 32, c->next_id++, UVFIO_CMD_DEVICE_GET_INFO, 0, &di,
				 16);
		cf_write_split(c, buf, sizeof(buf), NULL, 0);
		usleep(20000);
		c->withhold = false;
		for (int i = 0; i < c->nwithheld; i++) {
			cf_serve_dma(c, &c->withheld[i]);
			cf_msg_free(&c->withheld[i]);
		}
		c->nwithheld = 0;
		if (id >= 0) {
			int w = cf_wait(c, (uint16_t)id, &m);
			if (w < 0)
				return cs_hang(r, "the withheld DMA reply");
			if (w > 0)
				cf_msg_free(&m);
		}
		for (int i = 0; i < 64; i++) {
			int w = cf_wait(c, (uint16_t)(first + i), &m);
			if (w < 0)
				return cs_hang(r, "requests sent while a DMA reply was withheld");
			if (w == 0) {
				cf_note(r, "the server closed the connection");
				return CF_FAIL;
			}
			cf_msg_free(&m);
		}
		cf_note(r, "64 requests answered after the withheld DMA reply");
	} else {
		if (!kick(r, DMA_IOVA, DMA_IOVA + 0x8000, len))
			return CF_FAIL;
	}
	/* the copy may finish after the kick's reply: give it the timeout */
	for (int t = 0; t < r->timeout_ms / 10 && memcmp(mem, mem + 0x8000, len); t++) {
		struct cf_msg m;
		if (cf_recv(c, &m, 10) > 0) {
			if (m.h.cmd == UVFIO_CMD_DMA_READ || m.h.cmd == UVFIO_CMD_DMA_WRITE)
				cf_serve_dma(c, &m);
			cf_msg_free(&m);
		}
	}
	if (c->dma_err[0]) {
		cf_note(r, "wrong DMA request: %s", c->dma_err);
		return CF_FAIL;
	}
	if (memcmp(mem, mem + 0x8000, len)) {
		if (ck->arg == 1) {
			/* QEMU's layout is QEMU's, not the specification's */
			cf_note(r, "the server does not speak QEMU's DMA layout to a client of "
				   "version "
				   "0.0 (QEMU's client cannot use its DMA by messages)");
			return CF_PASS;
		}
		cf_note(r, "the copy did not arrive (%u DMA requests served)", c->dma_served);
		return CF_FAIL;
	}
	if (ck->arg < 3)
		cf_note(r, "a copy of %llu bytes in %u DMA requests", (unsigned long long)len,
			c->dma_served);
	cs_unmap(r, DMA_IOVA, msize);
	return CF_PASS;
}
