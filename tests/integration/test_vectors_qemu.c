/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * QEMU's client (vfio-user-pci, 10.2.50) as recorded on the wire, replayed
 * against our server: every request QEMU sent goes to the device that was
 * recorded (uvfio-memdev or uvfio-dma-engine, run from the build
 * directory), or to a server set up like the libvfio-user sample QEMU was
 * recorded with, coalesced and split at random; every reply is compared
 * byte for byte with the one recorded, except the differences each test
 * names and checks. The device's DMA_READ/DMA_WRITE requests are answered
 * as QEMU answers them. The paths QEMU takes that no recording shows are
 * in test_vectors_qemu_paths.c.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "peer.h"
#include "util.h"
#include "vectors.h"

/* ---- QEMU and libvfio-user's sample: qemu-client-with-libvfio-user-server.json - */

/*
 * QEMU's side of its session with libvfio-user's sample server, replayed
 * against a uvfio server set up like that sample (ids dead:beef and
 * cafe:babe, BAR0 8 bytes of I/O, BAR1 16 KiB mappable with the same two
 * sparse areas, INTx, ERR and REQ interrupts). Every reply must be the
 * sample's, byte for byte (VERSION by meaning), except configuration space
 * reads, which must return the uvfio server's own configuration space: the
 * sample's sets the I/O bit in every BAR and has no capability list.
 */
static void test_qemu_requests_vs_our_server(void **state)
{
	(void)state;
	struct uvfio_server_config scfg = { .log = { .level = -1 } };
	struct uvfio_server *srv;
	assert_int_equal(uvfio_server_create(&scfg, &srv), 0);
	struct uvfio_pci_id id = { .vendor = 0xdead, .device = 0xbeef, .subsys_vendor = 0xcafe,
				   .subsys_device = 0xbabe };
	assert_int_equal(uvfio_server_pci_init(srv, &id), 0);
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	struct uvfio_region_desc bar0 = { .size = 8, .flags = rw, .bar_flags = UVFIO_BAR_IO };
	struct uvfio_region_desc bar1 = { .size = 0x4000, .flags = rw, .mappable = true,
					  .nr_areas = 2, .areas = { { 0, 0x1000 }, { 0x2000, 0x1000 } } };
	assert_int_equal(uvfio_server_setup_region(srv, 0, &bar0, NULL), 0);
	assert_int_equal(uvfio_server_setup_region(srv, 1, &bar1, NULL), 0);
	for (uint32_t i = VFIO_PCI_INTX_IRQ_INDEX; i <= VFIO_PCI_REQ_IRQ_INDEX; i++)
		if (i != VFIO_PCI_MSI_IRQ_INDEX && i != VFIO_PCI_MSIX_IRQ_INDEX)
			assert_int_equal(uvfio_server_setup_irq(srv, i, 1), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(uvfio_server_adopt(srv, sv[1]), 0);
	struct vx_replay q;
	vx_replay_init(&q, "qemu-client-with-libvfio-user-server.json", sv[0], 61);
	q.ram = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_int_equal(ftruncate(q.ram, 0x10000000), 0);
	unsigned replies = 0, cfg_reads = 0;
	for (size_t i = 0; i < q.ses.n;) {
		/* a random group of QEMU's messages, served by this thread */
		const struct vx_msg *group[4];
		unsigned g = 0, want = 1 + (unsigned)vx_rand(&q.rng, 4);
		int made[8], nmade = 0;
		for (; i < q.ses.n && g < want; i++) {
			const struct vx_msg *m = &q.ses.m[i];
			if (!m->from_client)
				continue;
			int fds[VX_MAX_FDS], n = vx_replay_fds(&q, m, fds);
			vx_put(&q.w, m->bytes, m->len, fds, n);
			for (int k = 0; k < n; k++)
				made[nmade++] = fds[k];
			group[g++] = m;
		}
		vx_flush(&q.w);
		for (int k = 0; k < nmade; k++)
			close(made[k]);
		for (int handled = 0; handled < (int)g;) {
			int r = uvfio_server_dispatch(srv);
			assert_true(r >= 0);
			handled += r;
		}
		for (unsigned k = 0; k < g; k++) {
			const struct vx_msg *req = group[k];
			struct uvfio_hdr h;
			int fds[4], nfds = 0;
			assert_true(peer_recv(q.fd, &h, q.buf + 16, VX_BIG - 16, fds, &nfds) > 0);
			memcpy(q.buf, &h, 16);
			for (int f = 0; f < nfds; f++)
				close(fds[f]);
			assert_int_equal(h.msg_id, req->hdr.msg_id);
			replies++;
			const struct vx_msg *rec = vx_find(&q.ses, false, h.msg_id,
							   UVFIO_FLAGS_TYPE_REPLY);
			struct uvfio_region_access a = { 0 };
			if (req->len >= 32)
				memcpy(&a, req->bytes + 16, sizeof(a));
			if (h.cmd == UVFIO_CMD_VERSION) {
				struct uvfio_caps caps;
				assert_int_equal(memcmp(q.buf + 16, rec->bytes + 16, 4), 0); /* 0.0 */
				assert_int_equal(uvfio_caps_parse((char *)q.buf + 20, h.msg_size - 20,
								  &caps, NULL, 0),
						 0);
				assert_true(caps.write_multiple); /* QEMU proposed it */
				assert_false(caps.twin_socket);   /* QEMU did not */
				assert_true(caps.max_msg_fds <= 16); /* QEMU refuses more */
			} else if (h.cmd == UVFIO_CMD_REGION_READ && a.region == 7) {
				size_t len;
				const uint8_t *cs = uvfio_server_config_space(srv, &len);
				assert_int_equal(h.msg_size, 32 + a.count);
				assert_memory_equal(q.buf + 16, req->bytes + 16, 16);
				assert_memory_equal(q.buf + 32, cs + a.offset, a.count);
				cfg_reads++;
			} else if (rec->len != h.msg_size || memcmp(q.buf, rec->bytes, rec->len) ||
				   rec->nfds != nfds) {
				fail_msg("reply %u (%s) differs from libvfio-user's", h.msg_id,
					 uvfio_cmd_name(h.cmd));
			}
		}
	}
	assert_int_equal(replies, vx_recorded_replies(&q.ses));
	assert_int_equal(cfg_reads, 9);
	close(q.fd);
	vx_replay_free(&q);
	uvfio_server_destroy(srv);
}

/* ---- A Linux guest under QEMU: qemu-guest-linux-*.json ------------------------ */

#define GUEST_RAM (1u << 30)

/* Guest RAM as QEMU shares it: the memfd its DMA_MAPs carry, with the
 * recorded offsets; the engine's copies are checked in it. */
struct guest {
	uint8_t *ram; /* the memfd mapped here */
	struct {
		uint64_t iova, size, offset;
	} map[64];
	unsigned nmap;
	uint64_t reg[3];      /* the engine's SRC, DST, LEN as the guest wrote them */
	size_t copy_at;       /* index of the message that started a copy, or 0 */
	bool settled;         /* the copy was seen complete in guest RAM */
	uint64_t src, dst, len;
	unsigned copies;
};

static uint8_t *guest_at(struct guest *g, uint64_t iova, uint64_t len)
{
	for (unsigned i = 0; i < g->nmap; i++)
		if (iova >= g->map[i].iova && iova - g->map[i].iova + len <= g->map[i].size)
			return g->ram + g->map[i].offset + (iova - g->map[i].iova);
	fail_msg("guest address %#llx is not in shared RAM", (unsigned long long)iova);
	return NULL;
}

static void guest_check_copy(struct guest *g)
{
	uint8_t *s = guest_at(g, g->src, g->len), *d = guest_at(g, g->dst, g->len);
	for (uint64_t i = 0; i < g->len; i++)
		if (d[i] != s[i])
			fail_msg("copy %u: byte %llu differs", g->copies, (unsigned long long)i);
	g->copies++;
	g->copy_at = 0;
}

/* Before each of QEMU's messages: follow the maps, and before a copy
 * starts, fill its source with a pattern of its own. */
static void guest_before(struct vx_replay *q, const struct vx_msg *m)
{
	struct guest *g = q->arg;
	if (g->copy_at && !g->settled && (size_t)(m - q->ses.m) >= g->copy_at) {
		/* The recorded guest took milliseconds between CTRL and its next
		 * access; the engine copies a large range in slices meanwhile
		 * (it answers BUSY until done). Send what is queued and wait,
		 * as the guest did, until the copy shows in guest RAM: the
		 * engine's loop calls the copy done before it reads again. */
		vx_flush(&q->w);
		uint8_t *s = guest_at(g, g->src, g->len), *d = guest_at(g, g->dst, g->len);
		for (int i = 0; i < 10000 && memcmp(s, d, g->len); i++)
			usleep(1000);
		g->settled = true;
	}
	if (m->hdr.cmd == UVFIO_CMD_DMA_MAP && m->nfds) {
		struct uvfio_dma_map dm;
		memcpy(&dm, m->bytes + 16, sizeof(dm));
		assert_true(g->nmap < 64 && dm.offset + dm.size <= GUEST_RAM);
		g->map[g->nmap].iova = dm.addr;
		g->map[g->nmap].size = dm.size;
		g->map[g->nmap++].offset = dm.offset;
	} else if (m->hdr.cmd == UVFIO_CMD_DMA_UNMAP) {
		struct uvfio_dma_unmap du;
		memcpy(&du, m->bytes + 16, sizeof(du));
		for (unsigned i = 0; i < g->nmap; i++)
			if (g->map[i].iova == du.addr && g->map[i].size == du.size)
				g->map[i] = g->map[--g->nmap];
	} else if (m->hdr.cmd == UVFIO_CMD_REGION_WRITE) {
		struct uvfio_region_access a;
		uint64_t v = 0;
		memcpy(&a, m->bytes + 16, sizeof(a));
		if (a.region != 0 || a.count != 8)
			return;
		memcpy(&v, m->bytes + 32, 8);
		if (a.offset < 0x18)
			g->reg[a.offset / 8] = v;
		if (a.offset == 0x18 && (v & 1)) {
			assert_int_equal(g->copy_at, 0);
			g->src = g->reg[0];
			g->dst = g->reg[1];
			g->len = g->reg[2];
			uint8_t *s = guest_at(g, g->src, g->len);
			for (uint64_t i = 0; i < g->len; i++)
				s[i] = vx_pattern(i + 977 * g->copies);
			g->copy_at = (size_t)(m - q->ses.m) + 1;
			g->settled = false;
		}
	}
}

/* A reply to a message after the copy's start: the copy is done. */
static void guest_after(struct vx_replay *q, const struct vx_msg *req)
{
	struct guest *g = q->arg;
	if (g && g->copy_at && (size_t)(req - q->ses.m) + 1 > g->copy_at)
		guest_check_copy(g);
}

/* Replay against a device spawned with vx_spawn(); it must end cleanly
 * when the session does. */
static void run_device(struct vx_replay *q, pid_t pid)
{
	vx_replay_run(q);
	close(q->fd);
	assert_int_equal(vx_wait(pid), 0);
}

/* Replay a guest's whole life with the device recorded. */
static void guest_session(const char *file, const char *prog, uint64_t seed, vx_differs_fn differs,
			  struct guest *g)
{
	int fd;
	pid_t pid = vx_spawn(prog, (const char *const[]){ "-q", NULL }, &fd, NULL);
	struct vx_replay q;
	vx_replay_init(&q, file, fd, seed);
	q.ram = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_int_equal(ftruncate(q.ram, GUEST_RAM), 0);
	g->ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE, MAP_SHARED, q.ram, 0);
	assert_true(g->ram != MAP_FAILED);
	q.before = guest_before;
	q.after = guest_after;
	q.differs = differs;
	q.arg = g;
	run_device(&q, pid);
	if (g->copy_at)
		guest_check_copy(g);
	print_message("%s: %u replies, %u as expected differently, %u newer; %u writes; %u copies\n", file,
		      q.replies, q.differed, q.newer, q.w.writes, g->copies);
	assert_true(q.newer >= 2); /* QEMU asked for ERR, and read the FLR bit */
	assert_int_equal(q.replies, vx_recorded_replies(&q.ses));
	munmap(g->ram, GUEST_RAM);
	vx_replay_free(&q);
}

static void test_qemu_guest_memdev(void **state)
{
	(void)state;
	static struct guest g;
	guest_session("qemu-guest-linux-memdev.json", "uvfio-memdev", 71, NULL, &g);
}

/* The guest copies 4 KiB and 1 MiB through shared memory. */
static void test_qemu_guest_dma_engine(void **state)
{
	(void)state;
	static struct guest g;
	guest_session("qemu-guest-linux-dma-engine.json", "uvfio-dma-engine", 72, NULL, &g);
	assert_int_equal(g.copies, 2);
}

/* ---- DMA through messages: qemu-client-dma-by-messages.json ------------------ */

#define DMA_SRC 0x1000000u
#define DMA_DST 0x2000000u
#define DMA_LEN 0x10000u
#define ENGINE_STATUS 0x20u
#define ENGINE_ERROR 0x28u

struct dmaq {
	enum uvfio_dma_layout answer; /* layout of our DMA_READ replies */
	bool recorded_bytes;          /* answer with QEMU's exact reply */
	const struct vx_msg *rec_req, *rec_rep;
	uint8_t dst[DMA_LEN];
	unsigned reads, writes;
	uint64_t status, error; /* what the engine must report */
	bool busy_seen;         /* STATUS read BUSY: polled at the end */
};


static void dma_request(struct vx_replay *q, const struct uvfio_hdr *h, const uint8_t *body)
{
	struct dmaq *d = q->arg;
	uint8_t *rep = malloc(VX_BIG);
	assert_non_null(rep);
	if (h->cmd == UVFIO_CMD_DMA_READ) {
		/* the request is the recorded one, id aside */
		assert_int_equal(h->msg_size, d->rec_req->len);
		assert_memory_equal(body, d->rec_req->bytes + 16, d->rec_req->len - 16);
		d->reads++;
		size_t len = d->rec_rep->len;
		memcpy(rep, d->rec_rep->bytes, len);
		if (!d->recorded_bytes) { /* the same data in the specification's layout */
			struct uvfio_dma_access a = { .addr = DMA_SRC, .count = DMA_LEN };
			memcpy(rep + 16, &a, sizeof(a));
			memcpy(rep + 32, d->rec_rep->bytes + 28, DMA_LEN);
		}
		memcpy(rep, &h->msg_id, 2);
		vx_put(&q->w, rep, len, NULL, 0);
		vx_flush(&q->w);
	} else {
		assert_int_equal(h->cmd, UVFIO_CMD_DMA_WRITE);
		uint64_t addr, count;
		size_t at;
		memcpy(&addr, body, 8);
		if (d->answer == UVFIO_DMA_LAYOUT_QEMU) {
			uint32_t c32;
			memcpy(&c32, body + 8, 4);
			count = c32;
			at = 12;
			static const uint8_t zero[UVFIO_DMA_ACCESS32_PAD];
			assert_memory_equal(body + 12 + count, zero, sizeof(zero)); /* padding */
		} else {
			memcpy(&count, body + 8, 8);
			at = 16;
		}
		assert_int_equal(h->msg_size, 32 + count); /* the same in both layouts */
		assert_true(addr >= DMA_DST && addr - DMA_DST <= DMA_LEN - count);
		memcpy(d->dst + (addr - DMA_DST), body + at, count);
		d->writes++;
		/* QEMU answers with the header alone */
		struct uvfio_hdr r = { .msg_id = h->msg_id, .cmd = h->cmd, .msg_size = 16,
				       .flags = UVFIO_FLAGS_TYPE_REPLY };
		vx_put(&q->w, &r, sizeof(r), NULL, 0);
		vx_flush(&q->w);
	}
	free(rep);
}

#define ENGINE_BUSY 4u

/* Read STATUS until the engine is no longer busy, answering its DMA
 * requests between reads; returns the last value. */
static uint64_t dma_poll_status(struct vx_replay *q)
{
	uint8_t *buf = malloc(VX_BIG);
	assert_non_null(buf);
	uint64_t v = ENGINE_BUSY;
	for (uint16_t id = 0xf000; v == ENGINE_BUSY; id++) {
		assert_true(id != 0); /* bounded: 4096 reads */
		struct uvfio_hdr h = { .msg_id = id, .cmd = UVFIO_CMD_REGION_READ, .msg_size = 32 };
		struct uvfio_region_access a = { .offset = ENGINE_STATUS, .region = 0, .count = 8 };
		uint8_t m[32];
		memcpy(m, &h, 16);
		memcpy(m + 16, &a, 16);
		vx_put(&q->w, m, sizeof(m), NULL, 0);
		vx_flush(&q->w);
		for (;;) {
			assert_true(peer_recv(q->fd, &h, buf, VX_BIG, NULL, NULL) > 0);
			if (!(h.flags & UVFIO_FLAGS_TYPE_REPLY)) {
				q->request(q, &h, buf);
				continue;
			}
			assert_int_equal(h.msg_id, id);
			assert_int_equal(h.msg_size, 40);
			memcpy(&v, buf + 16, 8); /* after the region access */
			break;
		}
	}
	free(buf);
	return v;
}

/* The engine's STATUS and ERROR registers, read at the end of the session.
 * QEMU read STATUS at once and the engine it was recorded with stalled
 * (STATUS 2, ERROR ETIMEDOUT); ours answers BUSY (ERROR 0) while the copy
 * runs, and STATUS is polled after the session until it is over. */
static bool dma_differs(struct vx_replay *q, const struct vx_msg *req, const uint8_t *got,
			size_t len)
{
	struct dmaq *d = q->arg;
	struct uvfio_region_access a;
	if (req->hdr.cmd != UVFIO_CMD_REGION_READ || req->len != 32)
		return false;
	memcpy(&a, req->bytes + 16, sizeof(a));
	if (a.region == 0 && a.offset == ENGINE_STATUS && vx_read_returns(req, got, len, ENGINE_BUSY)) {
		d->busy_seen = true;
		return true;
	}
	if (a.region == 0 && a.offset == ENGINE_STATUS)
		return vx_read_returns(req, got, len, d->status);
	if (a.region == 0 && a.offset == ENGINE_ERROR && d->busy_seen && vx_read_returns(req, got, len, 0))
		return true; /* not yet */
	if (a.region == 0 && a.offset == ENGINE_ERROR)
		return vx_read_returns(req, got, len, d->error);
	return false;
}

/* Replay the session against uvfio-dma-engine started with args. */
static void dma_session(struct dmaq *d, const char *const *args, uint64_t seed, char **log)
{
	int fd, errfd;
	pid_t pid = vx_spawn("uvfio-dma-engine", args, &fd, &errfd);
	struct vx_replay q;
	vx_replay_init(&q, "qemu-client-dma-by-messages.json", fd, seed);
	d->rec_req = vx_find(&q.ses, false, 0, UVFIO_FLAGS_TYPE_COMMAND);
	d->rec_rep = vx_find(&q.ses, true, 0, UVFIO_FLAGS_TYPE_REPLY);
	assert_non_null(d->rec_req);
	assert_non_null(d->rec_rep);
	assert_int_equal(d->rec_req->hdr.cmd, UVFIO_CMD_DMA_READ);
	/* QEMU's reply: 8-byte address, 4-byte count, data at 28, 32 + count */
	assert_int_equal(d->rec_rep->len, 32 + DMA_LEN);
	for (uint32_t i = 0; i < DMA_LEN; i++)
		assert_int_equal(d->rec_rep->bytes[28 + i], vx_pattern(i));
	q.request = dma_request;
	q.differs = dma_differs;
	q.arg = d;
	vx_replay_run(&q);
	if (d->busy_seen) { /* the copy runs on: poll STATUS as a driver does */
		assert_int_equal(dma_poll_status(&q), d->status);
		assert_int_equal(vx_region_read(&q, 0xeffe, 0, ENGINE_ERROR, 8), d->error);
	}
	close(q.fd);
	assert_int_equal(vx_wait(pid), 0);
	*log = vx_slurp(errfd);
	close(errfd);
	print_message("%u replies, %u as expected differently; %u writes\n", q.replies,
		      q.differed, q.w.writes);
	assert_int_equal(q.replies, vx_recorded_replies(&q.ses));
	vx_replay_free(&q);
}

/* QEMU proposes 0.0: the engine speaks QEMU's layout and the copy is right. */
static void test_qemu_dma_by_messages(void **state)
{
	(void)state;
	static struct dmaq d = { .answer = UVFIO_DMA_LAYOUT_QEMU, .recorded_bytes = true,
				 .status = 1, .error = 0 };
	char *log;
	dma_session(&d, (const char *const[]){ "-q", NULL }, 11, &log);
	assert_int_equal(d.reads, 1);
	assert_int_equal(d.writes, 1);
	for (uint32_t i = 0; i < DMA_LEN; i++)
		if (d.dst[i] != vx_pattern(i))
			fail_msg("guest byte %u is %#x, not %#x", i, d.dst[i], vx_pattern(i));
	free(log);
}

/* The same data in the specification's layout, to an engine set to it. */
static void test_spec_dma_by_messages(void **state)
{
	(void)state;
	static struct dmaq d = { .answer = UVFIO_DMA_LAYOUT_SPEC, .status = 1, .error = 0 };
	char *log;
	dma_session(&d, (const char *const[]){ "-q", "--dma-layout=spec", NULL }, 12, &log);
	assert_int_equal(d.writes, 1);
	for (uint32_t i = 0; i < DMA_LEN; i++)
		assert_int_equal(d.dst[i], vx_pattern(i));
	free(log);
}

/* QEMU's bytes to an engine set to the specification's layout: the copy
 * fails as recorded (STATUS 2, ERROR EPROTO), nothing is written to guest
 * memory, and the log names the setting. */
static void test_qemu_bytes_vs_spec_layout(void **state)
{
	(void)state;
	static struct dmaq d = { .answer = UVFIO_DMA_LAYOUT_SPEC, .recorded_bytes = true,
				 .status = 2, .error = EPROTO };
	char *log;
	dma_session(&d, (const char *const[]){ "-q", "--dma-layout=spec", NULL }, 13, &log);
	assert_int_equal(d.reads, 1);
	assert_int_equal(d.writes, 0);
	if (!strstr(log, "QEMU's layout") || !strstr(log, "dma_layout"))
		fail_msg("the device's log does not say why: %s", log);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_requests_vs_our_server),
		cmocka_unit_test(test_qemu_guest_memdev),
		cmocka_unit_test(test_qemu_guest_dma_engine),
		cmocka_unit_test(test_qemu_dma_by_messages),
		cmocka_unit_test(test_spec_dma_by_messages),
		cmocka_unit_test(test_qemu_bytes_vs_spec_layout),
	};
	return cmocka_run_group_tests_name("vectors_qemu", tests, NULL, NULL);
}
