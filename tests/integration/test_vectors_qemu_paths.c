/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * QEMU's bytes on the paths its recorded sessions do not show, each built
 * as QEMU's source builds it (hw/vfio-user/) or taken from a recording and
 * changed as named: DMA_READ pieces small enough for QEMU's one write,
 * uvfio's own client in QEMU's dialect, 200 writes in one
 * REGION_WRITE_MULTI, unmap-all, the ERR and REQ interrupts.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "peer.h"
#include "testdev.h"
#include "util.h"
#include "vectors.h"

#define DMA_SRC 0x1000000u
#define DMA_DST 0x2000000u

static void bar0_write(struct vx_replay *q, uint16_t id, uint64_t off, uint64_t v, bool wait)
{
	uint8_t m[40];
	struct uvfio_hdr h = { .msg_id = id, .cmd = UVFIO_CMD_REGION_WRITE, .msg_size = 40 };
	struct uvfio_region_access a = { .offset = off, .region = 0, .count = 8 };
	memcpy(m, &h, 16);
	memcpy(m + 16, &a, 16);
	memcpy(m + 32, &v, 8);
	if (wait) {
		vx_call_ok(q, m, sizeof(m));
	} else {
		vx_put(&q->w, m, sizeof(m), NULL, 0);
		vx_flush(&q->w);
	}
}

/* Bus Master Enable in the Command register, as the guest's driver sets it
 * before DMA (QEMU forwards the configuration write). */
static void bus_master_on(struct vx_replay *q, uint16_t id)
{
	uint8_t m[34];
	struct uvfio_hdr h = { .msg_id = id, .cmd = UVFIO_CMD_REGION_WRITE, .msg_size = 34 };
	struct uvfio_region_access a = { .offset = 4, .region = VFIO_PCI_CONFIG_REGION_INDEX,
					 .count = 2 };
	memcpy(m, &h, 16);
	memcpy(m + 16, &a, 16);
	m[32] = 0x06; /* memory space and bus master */
	m[33] = 0;
	vx_call_ok(q, m, sizeof(m));
}

#define BIG_COPY (1u << 20)

/*
 * QEMU sends a reply with one write() and drops what its socket buffer does
 * not take: with QEMU's layout the server asks for at most 64 KiB per
 * DMA_READ and keeps at most two in flight (three whole 64 KiB replies fit
 * an idle socket, docs/INTEROP.md). A 1 MiB copy by a client that opened
 * with QEMU's exact VERSION and DMA_MAP bytes.
 */
static void test_qemu_dma_read_pieces(void **state)
{
	(void)state;
	struct vx_replay q;
	struct testdev *d = vx_qemu_testdev(&q, "qemu-client-dma-by-messages.json", 21);
	int fd = q.fd;
	const struct vx_msg *map = vx_find(&q.ses, true, 39, UVFIO_FLAGS_TYPE_COMMAND);
	assert_int_equal(map->hdr.cmd, UVFIO_CMD_DMA_MAP); /* [1 MiB, 256 MiB), no descriptor */
	assert_int_equal(map->nfds, 0);
	vx_call_ok(&q, map->bytes, map->len);
	bus_master_on(&q, 99);
	bar0_write(&q, 100, TD_DMA_SRC, DMA_SRC, true);
	bar0_write(&q, 101, TD_DMA_DST, DMA_DST, true);
	bar0_write(&q, 102, TD_DMA_LEN, BIG_COPY, true);
	bar0_write(&q, 103, TD_DMA_GO, 1, false);
	static uint8_t dst[BIG_COPY];
	struct {
		struct uvfio_hdr h;
		uint64_t addr, count;
	} pend[4];
	unsigned npend = 0, reads = 0, writes = 0;
	uint64_t next = DMA_SRC;
	for (;;) {
		struct uvfio_hdr h;
		assert_true(peer_recv(fd, &h, q.buf, VX_BIG, NULL, NULL) > 0);
		if (h.cmd == UVFIO_CMD_REGION_WRITE) {
			assert_int_equal(h.msg_id, 103);
			break;
		}
		if (h.cmd == UVFIO_CMD_DMA_WRITE) {
			struct uvfio_dma_access32 a;
			memcpy(&a, q.buf, sizeof(a));
			assert_int_equal(h.msg_size, 32 + a.count); /* QEMU's layout */
			assert_true(a.addr >= DMA_DST && a.addr - DMA_DST + a.count <= BIG_COPY);
			memcpy(dst + (a.addr - DMA_DST), q.buf + sizeof(a), a.count);
			writes++;
			struct uvfio_hdr r = { .msg_id = h.msg_id, .cmd = h.cmd, .msg_size = 16,
					       .flags = UVFIO_FLAGS_TYPE_REPLY };
			vx_put(&q.w, &r, sizeof(r), NULL, 0);
			vx_flush(&q.w);
			continue;
		}
		assert_int_equal(h.cmd, UVFIO_CMD_DMA_READ);
		assert_true(npend < 2);
		pend[npend].h = h;
		memcpy(&pend[npend].addr, q.buf, 16);
		assert_int_equal(pend[npend].addr, next);
		assert_int_equal(pend[npend].count, 64u << 10);
		next += pend[npend].count;
		npend++;
		reads++;
		if (npend < 2 && next < DMA_SRC + BIG_COPY)
			continue; /* the second one is on its way */
		/* Two in flight: nothing more may come until one is answered. */
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&pf, 1, 0), 0);
		for (unsigned k = 0; k < npend; k++) {
			size_t n = pend[k].count;
			uint8_t *rep = q.buf + VX_BIG / 2;
			struct uvfio_hdr rh = pend[k].h;
			rh.flags = UVFIO_FLAGS_TYPE_REPLY;
			rh.msg_size = (uint32_t)(32 + n);
			struct uvfio_dma_access32 a = { .addr = pend[k].addr, .count = (uint32_t)n };
			memcpy(rep, &rh, 16);
			memcpy(rep + 16, &a, sizeof(a));
			for (size_t i = 0; i < n; i++)
				rep[28 + i] = vx_pattern(pend[k].addr - DMA_SRC + i);
			memset(rep + 28 + n, 0, 4);
			vx_put(&q.w, rep, 32 + n, NULL, 0);
		}
		vx_flush(&q.w);
		npend = 0;
	}
	assert_int_equal(reads, BIG_COPY / (64u << 10));
	assert_true(writes >= 1);
	for (uint32_t i = 0; i < BIG_COPY; i++)
		if (dst[i] != vx_pattern(i))
			fail_msg("guest byte %u is %#x, not %#x", i, dst[i], vx_pattern(i));
	close(fd);
	vx_replay_free(&q);
	testdev_stop(d);
}

/*
 * uvfio's own client proposing 0.0 speaks QEMU's dialect: a 1 MiB copy by
 * the test device through DMA_READ/DMA_WRITE messages in QEMU's layout,
 * end to end, with the memory split over two registered ranges.
 */
static void test_uvfio_client_in_qemu_dialect(void **state)
{
	(void)state;
	struct testdev *d = testdev_start(NULL);
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .propose_minor_zero = true };
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(d->path, &cfg, &c), 0);
	static uint8_t mem[2 * BIG_COPY];
	for (uint32_t i = 0; i < BIG_COPY; i++)
		mem[i] = vx_pattern(i);
	memset(mem + BIG_COPY, 0, BIG_COPY);
	for (int k = 0; k < 2; k++) {
		struct uvfio_dma_region r = { .vaddr = mem + k * BIG_COPY / 2,
					      .iova = DMA_SRC + k * BIG_COPY / 2,
					      .size = BIG_COPY / 2, .prot = UVFIO_DMA_FLAG_READ,
					      .fd = -1 };
		assert_int_equal(uvfio_client_dma_map(c, &r), 0);
	}
	struct uvfio_dma_region w = { .vaddr = mem + BIG_COPY, .iova = DMA_DST, .size = BIG_COPY,
				      .prot = UVFIO_DMA_FLAG_WRITE, .fd = -1 };
	assert_int_equal(uvfio_client_dma_map(c, &w), 0);
	assert_int_equal(uvfio_client_bus_master(c, true), 0); /* as a driver */
	uint64_t regs[][2] = { { TD_DMA_SRC, DMA_SRC }, { TD_DMA_DST, DMA_DST },
			       { TD_DMA_LEN, BIG_COPY }, { TD_DMA_GO, 1 } };
	for (int k = 0; k < 4; k++)
		assert_int_equal(uvfio_client_region_write(c, 0, regs[k][0], &regs[k][1], 8), 0);
	uint64_t result = 1;
	assert_int_equal(uvfio_client_region_read(c, 0, TD_DMA_GO, &result, 8), 0);
	assert_int_equal(result, 0);
	assert_memory_equal(mem + BIG_COPY, mem, BIG_COPY);
	uvfio_client_close(c);
	testdev_stop(d);
}

/*
 * The ERR and REQ interrupts: QEMU wires them with SET_IRQS as it wires
 * INTx (the recorded message id 21, with the index changed), and a device
 * raises them with uvfio_server_irq_trigger().
 */
static void test_qemu_err_req_irqs(void **state)
{
	(void)state;
	struct vx_replay q;
	struct testdev *d = vx_qemu_testdev(&q, "qemu-client-dma-by-messages.json", 51);
	const struct vx_msg *intx = vx_find(&q.ses, true, 21, UVFIO_FLAGS_TYPE_COMMAND);
	assert_int_equal(intx->hdr.cmd, UVFIO_CMD_DEVICE_SET_IRQS);
	assert_int_equal(intx->nfds, 1);
	for (uint32_t index = VFIO_PCI_ERR_IRQ_INDEX; index <= VFIO_PCI_REQ_IRQ_INDEX; index++) {
		uint8_t m[36];
		memcpy(m, intx->bytes, sizeof(m));
		memcpy(m + 16 + 8, &index, 4);
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vx_put(&q.w, m, sizeof(m), &efd, 1);
		vx_flush(&q.w);
		struct uvfio_hdr h;
		assert_true(peer_recv(q.fd, &h, q.buf, VX_BIG, NULL, NULL) > 0);
		assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY);
		uint64_t v = 0;
		assert_int_equal(read(efd, &v, 8), -1); /* nothing yet */
		assert_int_equal(uvfio_server_irq_trigger(d->srv, index, 0), 0);
		assert_int_equal(read(efd, &v, 8), 8);
		assert_int_equal(v, 1);
		close(efd);
	}
	close(q.fd);
	vx_replay_free(&q);
	testdev_stop(d);
}

/* ---- DMA_UNMAP of everything ------------------------------------------------ */

/*
 * QEMU drops every mapping with one DMA_UNMAP: flags VFIO_DMA_UNMAP_FLAG_ALL,
 * address and size 0 (vfio_user_dma_unmap() in hw/vfio-user/container.c,
 * with unmap_all from the listener for the whole address space). After
 * QEMU's four recorded DMA_MAPs, its unmap-all drops them all.
 */
static void test_qemu_unmap_all(void **state)
{
	(void)state;
	struct vx_replay q;
	struct testdev *d = vx_qemu_testdev(&q, "qemu-client-dma-by-messages.json", 41);
	for (uint16_t id = 36; id <= 39; id++) {
		const struct vx_msg *m = vx_find(&q.ses, true, id, UVFIO_FLAGS_TYPE_COMMAND);
		assert_int_equal(m->hdr.cmd, UVFIO_CMD_DMA_MAP);
		vx_call_ok(&q, m->bytes, m->len);
	}
	assert_int_equal(__atomic_load_n(&d->maps, __ATOMIC_RELAXED), 4);
	uint8_t m[40];
	struct uvfio_hdr h = { .msg_id = 40, .cmd = UVFIO_CMD_DMA_UNMAP, .msg_size = 40 };
	struct uvfio_dma_unmap u = { .argsz = 24, .flags = UVFIO_DMA_UNMAP_FLAG_ALL };
	memcpy(m, &h, 16);
	memcpy(m + 16, &u, sizeof(u));
	h = vx_call(&q, m, sizeof(m));
	assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY);
	assert_int_equal(h.msg_size, 40); /* the request echoed, as for any unmap */
	assert_memory_equal(q.buf, &u, sizeof(u));
	assert_int_equal(__atomic_load_n(&d->unmaps, __ATOMIC_RELAXED), 4);
	/* gone: the same maps are accepted again */
	const struct vx_msg *again = vx_find(&q.ses, true, 39, UVFIO_FLAGS_TYPE_COMMAND);
	vx_call_ok(&q, again->bytes, again->len);
	close(q.fd);
	vx_replay_free(&q);
	testdev_stop(d);
}

/* ---- REGION_WRITE_MULTI with QEMU's 200 writes ----------------------------- */

#define QEMU_MULTI_MAX 200 /* VFIO_USER_MULTI_MAX, QEMU's hw/vfio-user/protocol.h */
#define MEMDEV_SCRATCH 0x04
#define MEMDEV_WRITES 0x08

/*
 * The message as QEMU builds it (vfio_user_create_multi/add_multi/
 * flush_multi in hw/vfio-user/proxy.c): a zeroed buffer for 200 entries,
 * NO_REPLY, then the size cut down to the entries used. No recording has
 * one; QEMU sends it when a guest's posted writes pile up.
 */
static size_t qemu_write_multi(uint8_t *m, uint16_t id, uint32_t n, uint32_t flags)
{
	size_t len = 16 + 8 + (size_t)n * sizeof(struct uvfio_write_multi_entry);
	memset(m, 0, len);
	struct uvfio_hdr h = { .msg_id = id, .cmd = UVFIO_CMD_REGION_WRITE_MULTI,
			       .msg_size = (uint32_t)len, .flags = flags };
	uint64_t cnt = n;
	memcpy(m, &h, 16);
	memcpy(m + 16, &cnt, 8);
	for (uint32_t i = 0; i < n; i++) {
		struct uvfio_write_multi_entry e = { .offset = MEMDEV_SCRATCH, .region = 0,
						     .count = 4 };
		uint32_t v = 0x1000 + i;
		memcpy(e.data, &v, 4);
		memcpy(m + 24 + i * sizeof(e), &e, sizeof(e));
	}
	return len;
}

/* uvfio-memdev takes all 200 writes of one message (it refused more than
 * 64, and QEMU, which wants no reply, lost them silently). */
static void test_qemu_write_multi_200(void **state)
{
	(void)state;
	int fd;
	pid_t pid = vx_spawn("uvfio-memdev", (const char *const[]){ "-q", NULL }, &fd, NULL);
	struct vx_replay q;
	vx_replay_init(&q, "qemu-guest-linux-memdev.json", fd, 31);
	const struct vx_msg *ver = vx_find(&q.ses, true, 0, UVFIO_FLAGS_TYPE_COMMAND);
	struct uvfio_hdr h = vx_call(&q, ver->bytes, ver->len);
	struct uvfio_caps caps;
	assert_int_equal(uvfio_caps_parse((char *)q.buf + 4, h.msg_size - 20, &caps, NULL, 0), 0);
	assert_true(caps.write_multiple);
	static uint8_t m[16 + 8 + (QEMU_MULTI_MAX + 1) * 24];
	size_t len = qemu_write_multi(m, 1, QEMU_MULTI_MAX, UVFIO_FLAGS_NO_REPLY);
	assert_int_equal(len, 4824);
	vx_put(&q.w, m, len, NULL, 0);
	assert_int_equal(vx_region_read(&q, 2, 0, MEMDEV_WRITES, 4), QEMU_MULTI_MAX);
	assert_int_equal(vx_region_read(&q, 3, 0, MEMDEV_SCRATCH, 4), 0x1000 + QEMU_MULTI_MAX - 1);
	/* a count the message does not hold: refused, nothing written */
	len = qemu_write_multi(m, 4, QEMU_MULTI_MAX, 0);
	uint64_t more = QEMU_MULTI_MAX + 1;
	memcpy(m + 16, &more, 8);
	h = vx_call(&q, m, len);
	assert_true(h.flags & UVFIO_FLAGS_ERROR);
	assert_int_equal(h.error_no, EINVAL);
	assert_int_equal(vx_region_read(&q, 5, 0, MEMDEV_WRITES, 4), QEMU_MULTI_MAX);
	close(fd);
	assert_int_equal(vx_wait(pid), 0);
	vx_replay_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_dma_read_pieces),
		cmocka_unit_test(test_uvfio_client_in_qemu_dialect),
		cmocka_unit_test(test_qemu_write_multi_200),
		cmocka_unit_test(test_qemu_unmap_all),
		cmocka_unit_test(test_qemu_err_req_irqs),
	};
	return cmocka_run_group_tests_name("vectors_qemu_paths", tests, NULL, NULL);
}
