/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The server against malformed requests: one row per validation rule, each
 * sent on a raw socket. A row asserts the exact errno of the error reply (or
 * a clean disconnect where the framing is broken), that a well-formed
 * request is served correctly afterwards, and that the server's open
 * descriptors are the same as before.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "internal.h"
#include "peer.h"
#include "util.h"

struct rig {
	struct uvfio_server *srv;
	int fd; /* our end */
};

static void serve_until_idle(struct rig *r)
{
	for (int i = 0; i < 3; i++)
		uvfio_server_dispatch(r->srv);
}

static void rig_connect(struct rig *r)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r->fd = sv[0];
	assert_int_equal(uvfio_server_adopt(r->srv, sv[1]), 0);
	const char *json = "{\"capabilities\":{\"max_msg_fds\":8}}";
	uint8_t msg[128];
	struct uvfio_hdr h = { .msg_id = 1, .cmd = UVFIO_CMD_VERSION,
			       .msg_size = (uint32_t)(20 + strlen(json) + 1) };
	struct uvfio_version v = { 0, 1 };
	memcpy(msg, &h, 16);
	memcpy(msg + 16, &v, 4);
	memcpy(msg + 20, json, strlen(json) + 1);
	peer_write(r->fd, msg, h.msg_size, NULL, 0);
	serve_until_idle(r);
	uint8_t body[1024];
	assert_true(peer_recv(r->fd, &h, body, sizeof(body), NULL, NULL) > 0);
	assert_false(h.flags & UVFIO_FLAGS_ERROR);
}

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .max_dma_maps = 2,
					   .max_data_xfer_size = 4096, .no_twin_socket = true };
	assert_int_equal(uvfio_server_create(&cfg, &r->srv), 0);
	struct uvfio_region_desc bar0 = { .size = 4096,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE };
	struct uvfio_region_desc rom = { .size = 4096, .flags = VFIO_REGION_INFO_FLAG_READ };
	assert_int_equal(uvfio_server_setup_region(r->srv, 0, &bar0, NULL), 0);
	assert_int_equal(uvfio_server_setup_region(r->srv, 6, &rom, NULL), 0);
	assert_int_equal(uvfio_server_setup_irq(r->srv, VFIO_PCI_MSIX_IRQ_INDEX, 4), 0);
	assert_int_equal(uvfio_server_setup_irq(r->srv, VFIO_PCI_INTX_IRQ_INDEX, 1), 0);
	rig_connect(r);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;
	close(r->fd);
	uvfio_server_destroy(r->srv);
	free(r);
	return 0;
}

/* Send a request; return the errno of the reply (0 for success), or -1 if
 * the server hung up. */
static int transact(struct rig *r, uint16_t cmd, uint32_t flags, const void *body, size_t len,
		    const int *fds, int nfds)
{
	static uint16_t id = 100;
	uint8_t msg[70000];
	struct uvfio_hdr h = { .msg_id = ++id, .cmd = cmd, .msg_size = (uint32_t)(16 + len),
			       .flags = flags };
	memcpy(msg, &h, 16);
	if (len)
		memcpy(msg + 16, body, len);
	peer_write(r->fd, msg, 16 + len, fds, nfds);
	serve_until_idle(r);
	if (flags & UVFIO_FLAGS_NO_REPLY)
		return 0;
	uint8_t rep[70000];
	int rfds[8], nr = 0;
	struct uvfio_hdr rh;
	if (!peer_recv(r->fd, &rh, rep, sizeof(rep), rfds, &nr))
		return -1;
	for (int i = 0; i < nr; i++)
		close(rfds[i]);
	assert_int_equal(rh.msg_id, h.msg_id);
	if (rh.flags & UVFIO_FLAGS_ERROR) {
		assert_int_equal(rh.msg_size, 16); /* an error reply is only the header */
		return (int)rh.error_no;
	}
	return 0;
}

/* A well-formed request still works. */
static void check_alive(struct rig *r)
{
	struct uvfio_region_access a = { .offset = 8, .region = 0, .count = 4 };
	assert_int_equal(transact(r, UVFIO_CMD_REGION_READ, 0, &a, sizeof(a), NULL, 0), 0);
}

struct row {
	const char *rule;
	uint16_t cmd;
	uint8_t body[64];
	size_t len;
	int nfds;
	int expect;
};

#define RA(off, reg, cnt) ((struct uvfio_region_access){ off, reg, cnt })
#define ROW_BODY(x) ((const void *)&(x))

long heap_live(void); /* tests/heapcount.c */

static long heap_in_use(void)
{
	return heap_live();
}

static void run_rows(struct rig *r, const struct row *rows, size_t n)
{
	/* warm up: whatever the first exchange allocates for good (stdio, the
	 * directory stream of the descriptor count) is not a row's doing */
	check_alive(r);
	(void)transact(r, 77, 0, NULL, 0, NULL, 0);
	tu_count_fds();
	assert_true(heap_in_use() > 0); /* the server's own allocations are counted */
	for (size_t i = 0; i < n; i++) {
		int before = tu_count_fds();
		long heap = heap_in_use();
		int fds[8];
		for (int k = 0; k < rows[i].nfds; k++)
			fds[k] = eventfd(0, EFD_CLOEXEC);
		int got = transact(r, rows[i].cmd, 0, rows[i].body, rows[i].len, fds, rows[i].nfds);
		for (int k = 0; k < rows[i].nfds; k++)
			close(fds[k]);
		if (got != rows[i].expect)
			fail_msg("rule \"%s\": expected errno %d, got %d", rows[i].rule,
				 rows[i].expect, got);
		check_alive(r);
		if (tu_count_fds() != before)
			fail_msg("rule \"%s\": descriptors %d -> %d", rows[i].rule, before,
				 tu_count_fds());
		/* a refused request leaves the heap as it found it (a granted
		 * map legitimately keeps its entry) */
		if (rows[i].expect && heap_in_use() != heap)
			fail_msg("rule \"%s\": heap in use %ld -> %ld bytes", rows[i].rule, heap,
				 heap_in_use());
	}
}

static struct row mk(const char *rule, uint16_t cmd, const void *body, size_t len, int nfds,
		     int expect)
{
	struct row w = { .rule = rule, .cmd = cmd, .len = len, .nfds = nfds, .expect = expect };
	if (len)
		memcpy(w.body, body, len);
	return w;
}

static void test_region_access_rules(void **state)
{
	struct rig *r = *state;
	uint8_t ab[sizeof(struct uvfio_region_access) + 8] = { 0 }; /* room for a payload */
	struct uvfio_region_access a;
	struct row rows[16];
	size_t n = 0;
	a = RA(4092, 0, 8);
	memcpy(ab, &a, sizeof(a));
	rows[n++] = mk("offset+count leaves the region", UVFIO_CMD_REGION_READ, &ab, sizeof(a), 0,
		       EINVAL);
	a = RA(UINT64_MAX - 2, 0, 8);
	memcpy(ab, &a, sizeof(a));
	rows[n++] = mk("offset+count overflows", UVFIO_CMD_REGION_READ, &ab, sizeof(a), 0, EINVAL);
	a = RA(0, 0, 8192);
	memcpy(ab, &a, sizeof(a));
	rows[n++] = mk("count above max_data_xfer_size", UVFIO_CMD_REGION_READ, &ab, sizeof(a), 0,
		       EINVAL);
	a = RA(0, 42, 4);
	memcpy(ab, &a, sizeof(a));
	rows[n++] = mk("region index out of range", UVFIO_CMD_REGION_READ, &ab, sizeof(a), 0,
		       EINVAL);
	a = RA(0, 2, 4);
	memcpy(ab, &a, sizeof(a));
	rows[n++] = mk("region absent", UVFIO_CMD_REGION_READ, &ab, sizeof(a), 0, EINVAL);
	a = RA(0, 6, 4);
	memcpy(ab, &a, sizeof(a));
	rows[n++] = mk("write to a read-only region", UVFIO_CMD_REGION_WRITE, &ab, sizeof(a) + 4, 0,
		       EINVAL);
	a = RA(0, 0, 4);
	memcpy(ab, &a, sizeof(a));
	rows[n++] = mk("read request with a payload", UVFIO_CMD_REGION_READ, &ab, sizeof(a) + 4, 0,
		       EINVAL);
	a = RA(0, 0, 8);
	memcpy(ab, &a, sizeof(a));
	rows[n++] = mk("write count disagrees with the payload", UVFIO_CMD_REGION_WRITE, &ab,
		       sizeof(a) + 4, 0, EINVAL);
	rows[n++] = mk("truncated access structure", UVFIO_CMD_REGION_READ, &ab, 8, 0, EINVAL);
	a = RA(0, 0, 4);
	memcpy(ab, &a, sizeof(a));
	rows[n++] = mk("descriptors on a read", UVFIO_CMD_REGION_READ, &ab, sizeof(a), 2, EINVAL);
	rows[n++] = mk("unknown command", 77, NULL, 0, 0, ENOTSUP);
	rows[n++] = mk("server-to-client command", UVFIO_CMD_DMA_READ, &ab, 16, 0, ENOTSUP);
	rows[n++] = mk("second VERSION", UVFIO_CMD_VERSION, "\0\0\1\0", 4, 0, EINVAL);
	rows[n++] = mk("reset with a payload", UVFIO_CMD_DEVICE_RESET, &ab, 4, 0, EINVAL);
	run_rows(r, rows, n);
}

static void test_info_rules(void **state)
{
	struct rig *r = *state;
	struct row rows[12];
	size_t n = 0;
	struct uvfio_device_info di = { .argsz = 8 };
	rows[n++] = mk("device info argsz too small", UVFIO_CMD_DEVICE_GET_INFO, &di, sizeof(di),
		       0, EINVAL);
	struct vfio_region_info ri = { .argsz = 16, .index = 0 };
	rows[n++] = mk("region info argsz too small", UVFIO_CMD_DEVICE_GET_REGION_INFO, &ri,
		       sizeof(ri), 0, EINVAL);
	ri = (struct vfio_region_info){ .argsz = 32, .index = 9 };
	rows[n++] = mk("region info index out of range", UVFIO_CMD_DEVICE_GET_REGION_INFO, &ri,
		       sizeof(ri), 0, EINVAL);
	struct vfio_irq_info ii = { .argsz = 16, .index = 5 };
	rows[n++] = mk("irq info index out of range", UVFIO_CMD_DEVICE_GET_IRQ_INFO, &ii,
		       sizeof(ii), 0, EINVAL);
	ii = (struct vfio_irq_info){ .argsz = 4, .index = 0 };
	rows[n++] = mk("irq info argsz too small", UVFIO_CMD_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii),
		       0, EINVAL);
	struct uvfio_region_io_fds_request io = { .argsz = 16, .index = 0, .count = 3 };
	rows[n++] = mk("io fds with a count", UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, &io, sizeof(io),
		       0, EINVAL);
	struct uvfio_device_feature f = { .argsz = 8,
					  .flags = VFIO_DEVICE_FEATURE_GET |
						   VFIO_DEVICE_FEATURE_SET | 2 };
	rows[n++] = mk("feature GET and SET", UVFIO_CMD_DEVICE_FEATURE, &f, sizeof(f), 0, EINVAL);
	f.flags = VFIO_DEVICE_FEATURE_GET | UVFIO_FEATURE_MIGRATION;
	rows[n++] = mk("migration on a device without it", UVFIO_CMD_DEVICE_FEATURE, &f,
		       sizeof(f), 0, ENOTSUP);
	struct uvfio_mig_data md = { .argsz = 8, .size = 16 };
	rows[n++] = mk("migration data read when not saving", UVFIO_CMD_MIG_DATA_READ, &md,
		       sizeof(md), 0, EINVAL);
	run_rows(r, rows, n);
}

static void test_irq_rules(void **state)
{
	struct rig *r = *state;
	struct row rows[12];
	size_t n = 0;
	struct vfio_irq_set s = { .argsz = 20, .index = 7, .start = 0, .count = 1,
				  .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER };
	rows[n++] = mk("bad index", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s), 0, EINVAL);
	s.index = VFIO_PCI_MSIX_IRQ_INDEX;
	s.start = 3;
	s.count = 2;
	rows[n++] = mk("range past the count", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s), 0, EINVAL);
	s.start = UINT32_MAX;
	s.count = 2;
	rows[n++] = mk("range overflows", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s), 0, EINVAL);
	s.start = 0;
	s.count = 2;
	s.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	rows[n++] = mk("eventfd count disagrees", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s), 1,
		       EINVAL);
	s.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	rows[n++] = mk("descriptors with DATA_NONE", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s), 2,
		       EINVAL);
	s.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	rows[n++] = mk("two data types", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s), 0, EINVAL);
	s.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_TRIGGER;
	rows[n++] = mk("two actions", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s), 0, EINVAL);
	s.flags = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	rows[n++] = mk("bool data missing", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s), 0, EINVAL);
	s.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK;
	rows[n++] = mk("mask on a type that cannot mask", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s),
		       0, EINVAL);
	s.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER | (1u << 9);
	rows[n++] = mk("unknown flag", UVFIO_CMD_DEVICE_SET_IRQS, &s, sizeof(s), 0, EINVAL);
	rows[n++] = mk("truncated", UVFIO_CMD_DEVICE_SET_IRQS, &s, 12, 0, EINVAL);
	run_rows(r, rows, n);
}

static void test_dma_rules(void **state)
{
	struct rig *r = *state;
	struct row rows[20];
	size_t n = 0;
	struct uvfio_dma_map m = { .argsz = 32, .flags = 3, .addr = 0x10000, .size = 0x4000 };
	rows[n++] = mk("map", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 0, 0);
	m.addr = 0x12000;
	rows[n++] = mk("overlap", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 0, EEXIST);
	m.addr = 0x20001;
	rows[n++] = mk("unaligned address", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 0, EINVAL);
	m.addr = 0x20000;
	m.size = 100;
	rows[n++] = mk("unaligned size", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 0, EINVAL);
	m.size = 0;
	rows[n++] = mk("zero size", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 0, EINVAL);
	m.size = 0x1000;
	m.addr = UINT64_MAX - 0xfff;
	rows[n++] = mk("wraps", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 0, EINVAL);
	m.addr = 0x20000;
	m.flags = 8;
	rows[n++] = mk("unknown flag", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 0, EINVAL);
	m.flags = 1;
	rows[n++] = mk("two descriptors", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 2, EINVAL);
	rows[n++] = mk("argsz short", UVFIO_CMD_DMA_MAP, &m, 24, 0, EINVAL);
	rows[n++] = mk("second map", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 0, 0);
	m.addr = 0x40000;
	rows[n++] = mk("more than max_dma_maps", UVFIO_CMD_DMA_MAP, &m, sizeof(m), 0, ENOSPC);
	struct uvfio_dma_unmap u = { .argsz = 24, .addr = 0x10000, .size = 0x2000 };
	rows[n++] = mk("partial unmap", UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), 0, ENOENT);
	u.addr = 0x90000;
	rows[n++] = mk("unmap of what was never mapped", UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), 0,
		       ENOENT);
	/* VFIO's old dirty-bitmap interface, as libvfio-user's clients send
	 * it (a struct vfio_bitmap after the structure): not served */
	uint8_t ub[40] = { 0 };
	u = (struct uvfio_dma_unmap){ .argsz = 40 + 8, .flags = UVFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
				      .addr = 0x10000, .size = 0x4000 };
	uint64_t bm[2] = { 4096, 8 }; /* pgsize, bitmap bytes */
	memcpy(ub, &u, sizeof(u));
	memcpy(ub + sizeof(u), bm, sizeof(bm));
	rows[n++] = mk("unmap with the old dirty-bitmap flag", UVFIO_CMD_DMA_UNMAP, ub, sizeof(ub),
		       0, ENOTSUP);
	u = (struct uvfio_dma_unmap){ .argsz = 24, .flags = UVFIO_DMA_UNMAP_FLAG_ALL,
				      .addr = 0x10000, .size = 0x4000 };
	rows[n++] = mk("unmap-all with a range", UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), 0, EINVAL);
	u.flags = 4;
	rows[n++] = mk("unmap with an unknown flag", UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), 0, EINVAL);
	u.flags = 0;
	rows[n++] = mk("unmap", UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), 0, 0);
	run_rows(r, rows, n);
}

/* A descriptor-backed map is mapped into the server; the memory is shared. */
static void test_dma_with_fd(void **state)
{
	struct rig *r = *state;
	int mfd = memfd_create("guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(mfd, 0x8000), 0);
	uint8_t *mem = mmap(NULL, 0x8000, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	struct uvfio_dma_map m = { .argsz = 32, .flags = 3, .offset = 0x4000, .addr = 0x100000,
				   .size = 0x4000 };
	assert_int_equal(transact(r, UVFIO_CMD_DMA_MAP, 0, &m, sizeof(m), &mfd, 1), 0);
	uint8_t bme[18] = { [16] = 0x04 }; /* Bus Master Enable, as a driver sets it */
	memcpy(bme, &(struct uvfio_region_access){ .offset = 4, .region = 7, .count = 2 }, 16);
	assert_int_equal(transact(r, UVFIO_CMD_REGION_WRITE, 0, bme, sizeof(bme), NULL, 0), 0);
	struct uvfio_sg sg[2];
	assert_int_equal(uvfio_server_dma_sg(r->srv, 0x100010, 16, UVFIO_DMA_FLAG_WRITE, sg, 2), 1);
	memcpy(sg[0].vaddr, "through the map", 16);
	assert_string_equal((char *)mem + 0x4010, "through the map");
	assert_int_equal(uvfio_server_dma_sg(r->srv, 0x103ff0, 32, UVFIO_DMA_FLAG_READ, sg, 2),
			 -EFAULT);
	/* a file shorter than offset + size: refused, nothing kept */
	int sfd = memfd_create("short", MFD_CLOEXEC);
	assert_int_equal(ftruncate(sfd, 0x4000), 0);
	struct uvfio_dma_map sm = { .argsz = 32, .flags = 3, .offset = 0x1000, .addr = 0x200000,
				    .size = 0x4000 };
	int before = tu_count_fds();
	long heap = heap_live();
	assert_int_equal(transact(r, UVFIO_CMD_DMA_MAP, 0, &sm, sizeof(sm), &sfd, 1), ENXIO);
	assert_int_equal(tu_count_fds(), before);
	assert_int_equal(heap_live(), heap);
	close(sfd);
	/* read-only map refuses writes */
	struct uvfio_dma_map ro = { .argsz = 32, .flags = 1, .addr = 0x104000, .size = 0x1000 };
	assert_int_equal(transact(r, UVFIO_CMD_DMA_MAP, 0, &ro, sizeof(ro), NULL, 0), 0);
	assert_int_equal(uvfio_server_dma_sg(r->srv, 0x103ff0, 32, UVFIO_DMA_FLAG_WRITE, sg, 2),
			 -EPERM);
	assert_int_equal(uvfio_server_dma_sg(r->srv, 0x103ff0, 32, UVFIO_DMA_FLAG_READ, sg, 2), 2);
	assert_null(sg[1].vaddr); /* no descriptor: messages only */
	munmap(mem, 0x8000);
	close(mfd);
}

static void test_framing_disconnects(void **state)
{
	struct rig *r = *state;
	/* a header whose size is below the header size: the client is dropped,
	 * the device serves the next one */
	struct uvfio_hdr h = { .msg_id = 1, .cmd = UVFIO_CMD_REGION_READ, .msg_size = 4 };
	peer_write(r->fd, &h, sizeof(h), NULL, 0);
	serve_until_idle(r);
	uint8_t x;
	assert_int_equal(read(r->fd, &x, 1), 0);
	assert_false(uvfio_server_connected(r->srv));
	close(r->fd);
	rig_connect(r);
	check_alive(r);
	/* size above the negotiated maximum */
	h.msg_size = 1u << 30;
	peer_write(r->fd, &h, sizeof(h), NULL, 0);
	serve_until_idle(r);
	assert_int_equal(read(r->fd, &x, 1), 0);
	close(r->fd);
	rig_connect(r);
	/* unknown type bits */
	h.msg_size = 16;
	h.flags = 7;
	peer_write(r->fd, &h, sizeof(h), NULL, 0);
	serve_until_idle(r);
	assert_int_equal(read(r->fd, &x, 1), 0);
	close(r->fd);
	rig_connect(r);
	check_alive(r);
}

static void test_no_reply_flag(void **state)
{
	struct rig *r = *state;
	uint32_t v = 0x5a5a5a5a;
	uint8_t body[20];
	struct uvfio_region_access a = { .offset = 0, .region = 0, .count = 4 };
	memcpy(body, &a, 16);
	memcpy(body + 16, &v, 4);
	assert_int_equal(transact(r, UVFIO_CMD_REGION_WRITE, UVFIO_FLAGS_NO_REPLY, body, 20, NULL,
				  0),
			 0);
	/* no reply came; the write happened */
	struct uvfio_region_access ra = { .offset = 0, .region = 0, .count = 4 };
	assert_int_equal(transact(r, UVFIO_CMD_REGION_READ, 0, &ra, sizeof(ra), NULL, 0), 0);
}

static void test_requests_before_version(void **state)
{
	(void)state;
	struct uvfio_server *srv;
	struct uvfio_server_config cfg = { .log = { .level = -1 } };
	assert_int_equal(uvfio_server_create(&cfg, &srv), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(uvfio_server_adopt(srv, sv[1]), 0);
	struct uvfio_hdr h = { .msg_id = 9, .cmd = UVFIO_CMD_DEVICE_RESET, .msg_size = 16 };
	peer_write(sv[0], &h, 16, NULL, 0);
	uvfio_server_dispatch(srv);
	struct uvfio_hdr rh;
	uint8_t body[64];
	assert_true(peer_recv(sv[0], &rh, body, sizeof(body), NULL, NULL) > 0);
	assert_true(rh.flags & UVFIO_FLAGS_ERROR);
	assert_int_equal(rh.error_no, EINVAL);
	/* a major version we do not speak: the connection is closed */
	uint8_t msg[20];
	struct uvfio_hdr vh = { .msg_id = 10, .cmd = UVFIO_CMD_VERSION, .msg_size = 20 };
	struct uvfio_version v = { 7, 0 };
	memcpy(msg, &vh, 16);
	memcpy(msg + 16, &v, 4);
	peer_write(sv[0], msg, 20, NULL, 0);
	uvfio_server_dispatch(srv);
	assert_int_equal(uvfio_server_dispatch(srv), -ENOTCONN);
	uint8_t x;
	assert_int_equal(read(sv[0], &x, 1), 0);
	close(sv[0]);
	uvfio_server_destroy(srv);
}

static void keep_line(void *opaque, int level, const char *line)
{
	(void)level;
	char *buf = opaque;
	if (strstr(line, "cannot send"))
		snprintf(buf, 256, "%s", line);
}

/* A client that stops reading: the reply that cannot be sent within the
 * timeout ends the connection with a line saying why (it used to be dropped
 * without a word, leaving the client waiting for it). */
static void test_reply_send_fails(void **state)
{
	(void)state;
	char line[256] = "";
	struct uvfio_server *srv;
	struct uvfio_server_config cfg = { .log = { .fn = keep_line, .opaque = line,
						    .level = UVFIO_LOG_WARNING },
					   .timeout_ms = 20 };
	assert_int_equal(uvfio_server_create(&cfg, &srv), 0);
	struct uvfio_region_desc bar = { .size = 65536,
					 .flags = VFIO_REGION_INFO_FLAG_READ |
						  VFIO_REGION_INFO_FLAG_WRITE };
	assert_int_equal(uvfio_server_setup_region(srv, 0, &bar, NULL), 0);
	struct rig r = { .srv = srv };
	rig_connect(&r);
	/* far more reply bytes than the socket holds, none of them read */
	for (int i = 0; i < 64; i++) {
		uint8_t msg[32];
		struct uvfio_hdr h = { .msg_id = (uint16_t)(500 + i), .cmd = UVFIO_CMD_REGION_READ,
				       .msg_size = 32 };
		struct uvfio_region_access a = { .offset = 0, .region = 0, .count = 65536 };
		memcpy(msg, &h, 16);
		memcpy(msg + 16, &a, 16);
		peer_write(r.fd, msg, 32, NULL, 0);
	}
	int n = 0;
	while (uvfio_server_dispatch(srv) != -ENOTCONN)
		assert_true(++n < 1000);
	assert_non_null(strstr(line, "cannot send the reply to REGION_READ"));
	assert_non_null(strstr(line, "ending the connection"));
	assert_false(uvfio_server_connected(srv));
	close(r.fd);
	uvfio_server_destroy(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_region_access_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_info_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_with_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framing_disconnects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_reply_flag, setup, teardown),
		cmocka_unit_test(test_requests_before_version),
		cmocka_unit_test(test_reply_send_fails),
	};
	return cmocka_run_group_tests_name("server_malformed", tests, NULL, NULL);
}
