/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The rule QEMU imposes on every device (docs/INTEROP.md): a client that
 * behaves as QEMU's vfio-user-pci does answers the device's DMA_READ /
 * DMA_WRITE only while it is not waiting for a reply of its own (its vCPU
 * thread waits holding the global lock; DMA is answered from its main
 * loop). Against uvfio-dma-engine, run from the build directory: the
 * session of ../shared/vectors/qemu-client-status-read-during-dma.json
 * (QEMU's own bytes up to the copy), then SRC/DST/LEN/CTRL as posted writes
 * and a STATUS read at once. The read must be answered while the copy's DMA
 * is in flight (BUSY), and the copy must complete right after, byte for
 * byte, polled as a driver does; 64 KiB and 1 MiB, QEMU's and the
 * specification's DMA layouts, through messages and through shared memory.
 * The engine that copied on its serving thread answered the read only after
 * its DMA timed out (5 s), with STATUS 2 and ERROR ETIMEDOUT.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "peer.h"
#include "util.h"
#include "vectors.h"

#define VECTOR "qemu-client-status-read-during-dma.json"
#define RAM_SIZE (256u << 20) /* the guest's, as the vector maps it */
#define SRC (16u << 20)
#define DST (32u << 20)
#define LAST_SETUP_ID 44 /* QEMU's messages before it programs the copy */
#define ST_BUSY 4u

/* A server request that waits for QEMU's main loop. */
struct pending {
	struct uvfio_hdr h;
	uint8_t *body;
};

struct qemu {
	int fd;
	struct vx_session ses;
	struct vx_writer w;
	bool spec;   /* the specification's DMA layout (VERSION 0.1) */
	bool shared; /* DMA_MAP with the guest RAM's descriptor */
	int ramfd;
	uint8_t *ram;
	uint8_t *buf;
	struct pending pend[64];
	unsigned npend, most_pending;
	unsigned reads, writes;
	int irqfd[64];
	unsigned nirq;
	const struct vx_msg *rec_dma_read; /* the engine's request in the recording */
};

/* Answer one DMA request from guest RAM, in the client's layout. */
static void answer(struct qemu *q, const struct uvfio_hdr *h, const uint8_t *body)
{
	uint64_t addr;
	memcpy(&addr, body, 8);
	if (h->cmd == UVFIO_CMD_DMA_READ) {
		uint64_t count; /* the request is the same in both layouts */
		memcpy(&count, body + 8, 8);
		assert_int_equal(h->msg_size, 32);
		assert_true(addr < RAM_SIZE && count <= RAM_SIZE - addr);
		size_t data = q->spec ? 32 : 28, len = data + count + (q->spec ? 0 : 4);
		uint8_t *rep = calloc(1, len);
		assert_non_null(rep);
		struct uvfio_hdr r = { .msg_id = h->msg_id, .cmd = h->cmd, .msg_size = (uint32_t)len,
				       .flags = UVFIO_FLAGS_TYPE_REPLY };
		memcpy(rep, &r, 16);
		memcpy(rep + 16, &addr, 8);
		if (q->spec)
			memcpy(rep + 24, &count, 8);
		else
			memcpy(rep + 24, &(uint32_t){ (uint32_t)count }, 4);
		memcpy(rep + data, q->ram + addr, count);
		vx_put(&q->w, rep, len, NULL, 0);
		free(rep);
		q->reads++;
		return;
	}
	assert_int_equal(h->cmd, UVFIO_CMD_DMA_WRITE);
	uint64_t count;
	size_t at;
	if (q->spec) {
		memcpy(&count, body + 8, 8);
		at = 16;
	} else {
		uint32_t c32;
		memcpy(&c32, body + 8, 4);
		count = c32;
		at = 12;
	}
	assert_int_equal(h->msg_size, 32 + count); /* the same size in both */
	assert_true(addr < RAM_SIZE && count <= RAM_SIZE - addr);
	memcpy(q->ram + addr, body + at, count);
	q->writes++;
	uint8_t rep[32];
	struct uvfio_hdr r = { .msg_id = h->msg_id, .cmd = h->cmd,
			       .msg_size = q->spec ? 32 : 16, /* QEMU: the header alone */
			       .flags = UVFIO_FLAGS_TYPE_REPLY };
	memcpy(rep, &r, 16);
	memcpy(rep + 16, &addr, 8);
	memcpy(rep + 24, &count, 8);
	vx_put(&q->w, rep, r.msg_size, NULL, 0);
}

/* QEMU's main loop runs: the bottom half answers what the device asked. */
static void main_loop(struct qemu *q)
{
	for (unsigned i = 0; i < q->npend; i++) {
		answer(q, &q->pend[i].h, q->pend[i].body);
		free(q->pend[i].body);
	}
	q->npend = 0;
	vx_flush(&q->w);
}

/* The vCPU sends what is queued and waits for the reply to id: requests
 * from the device meanwhile only wait for the main loop. */
static struct uvfio_hdr wait_reply(struct qemu *q, uint16_t id)
{
	vx_flush(&q->w);
	for (;;) {
		struct uvfio_hdr h;
		int fds[16], nfds;
		assert_true(peer_recv(q->fd, &h, q->buf, VX_BIG, fds, &nfds) > 0);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if ((h.flags & UVFIO_FLAGS_TYPE_MASK) == UVFIO_FLAGS_TYPE_REPLY) {
			assert_int_equal(h.msg_id, id);
			return h;
		}
		assert_true(q->npend < 64);
		if (q->rec_dma_read && !q->reads && !q->npend) /* the recorded request */
			assert_memory_equal(q->buf, q->rec_dma_read->bytes + 16,
					    q->rec_dma_read->len - 16);
		struct pending *p = &q->pend[q->npend++];
		p->h = h;
		p->body = malloc(h.msg_size - 16 + 1);
		assert_non_null(p->body);
		memcpy(p->body, q->buf, h.msg_size - 16);
		q->most_pending = VU_MAX(q->most_pending, q->npend);
	}
}

/* A register access of BAR0 as QEMU sends it; a read returns the value. */
static uint64_t bar0(struct qemu *q, uint16_t id, uint64_t off, bool write, uint64_t v,
		     bool posted)
{
	uint8_t m[40];
	struct uvfio_hdr h = { .msg_id = id,
			       .cmd = write ? UVFIO_CMD_REGION_WRITE : UVFIO_CMD_REGION_READ,
			       .msg_size = write ? 40 : 32,
			       .flags = posted ? UVFIO_FLAGS_NO_REPLY : 0 };
	struct uvfio_region_access a = { .offset = off, .region = 0, .count = 8 };
	memcpy(m, &h, 16);
	memcpy(m + 16, &a, 16);
	memcpy(m + 32, &v, 8);
	vx_put(&q->w, m, h.msg_size, NULL, 0);
	if (posted)
		return 0;
	h = wait_reply(q, id);
	assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY);
	if (write)
		return 0;
	assert_int_equal(h.msg_size, 40);
	memcpy(&v, q->buf + 16, 8);
	return v;
}

/* QEMU's recorded messages up to the copy, one reply awaited at a time. */
static void setup(struct qemu *q, const char *const *args, uint64_t seed)
{
	pid_t pid = vx_spawn("uvfio-dma-engine", args, &q->fd, NULL);
	(void)pid; /* waited for in finish() through the socket's end */
	vx_load(VECTOR, &q->ses);
	vx_writer_init(&q->w, q->fd, seed);
	q->buf = malloc(VX_BIG);
	q->ramfd = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_int_equal(ftruncate(q->ramfd, RAM_SIZE), 0);
	q->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, q->ramfd, 0);
	assert_true(q->buf && q->ram != MAP_FAILED);
	q->rec_dma_read = q->spec || q->shared ? NULL
					       : vx_find(&q->ses, false, 0, UVFIO_FLAGS_TYPE_COMMAND);
	for (size_t i = 0; i < q->ses.n; i++) {
		const struct vx_msg *m = &q->ses.m[i];
		if (!m->from_client || m->hdr.msg_id > LAST_SETUP_ID ||
		    (m->hdr.flags & UVFIO_FLAGS_TYPE_MASK) != UVFIO_FLAGS_TYPE_COMMAND)
			continue;
		uint8_t *b = malloc(m->len);
		memcpy(b, m->bytes, m->len);
		int fds[16], nfds = 0;
		if (m->hdr.cmd == UVFIO_CMD_VERSION && q->spec)
			b[18] = 1; /* minor 0.1: not QEMU, the specification's layout */
		if (m->hdr.cmd == UVFIO_CMD_DMA_MAP && q->shared) {
			uint64_t off; /* the file offset: the address, within the file */
			memcpy(&off, b + 32, 8);
			off &= RAM_SIZE - 1;
			memcpy(b + 24, &off, 8);
			fds[nfds++] = dup(q->ramfd);
		}
		for (int k = 0; k < m->nfds && m->hdr.cmd == UVFIO_CMD_DEVICE_SET_IRQS; k++) {
			int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			assert_true(q->nirq < 64);
			q->irqfd[q->nirq++] = e;
			fds[nfds++] = e;
		}
		vx_put(&q->w, b, m->len, fds, nfds);
		struct uvfio_hdr h = wait_reply(q, m->hdr.msg_id);
		if (m->hdr.cmd == UVFIO_CMD_DMA_MAP && q->shared)
			close(fds[0]);
		assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY); /* no error */
		assert_int_equal(q->npend, 0);
		free(b);
	}
	/* The engine's completion interrupt is MSI-X 0, which this session
	 * never wired: wire it, as a guest driver's MSI-X setup does. */
	uint8_t m[36];
	struct uvfio_hdr h = { .msg_id = LAST_SETUP_ID, .cmd = UVFIO_CMD_DEVICE_SET_IRQS,
			       .msg_size = 36 };
	uint32_t set[5] = { 20, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			    VFIO_PCI_MSIX_IRQ_INDEX, 0, 1 };
	memcpy(m, &h, 16);
	memcpy(m + 16, set, 20);
	int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->irqfd[q->nirq++] = e;
	vx_put(&q->w, m, sizeof(m), &e, 1);
	assert_int_equal(wait_reply(q, LAST_SETUP_ID).flags, UVFIO_FLAGS_TYPE_REPLY);
}

/* Interrupts signalled since the last look. */
static uint64_t irqs(struct qemu *q)
{
	uint64_t n = 0, v;
	for (unsigned i = 0; i < q->nirq; i++)
		if (read(q->irqfd[i], &v, sizeof(v)) == sizeof(v))
			n += v;
	return n;
}

static void finish(struct qemu *q)
{
	close(q->fd);
	for (unsigned i = 0; i < q->nirq; i++)
		close(q->irqfd[i]);
	vx_writer_free(&q->w);
	vx_free(&q->ses);
	munmap(q->ram, RAM_SIZE);
	close(q->ramfd);
	free(q->buf);
}

/* Program a copy of len bytes and read STATUS at once, as a polling driver
 * does; then poll until the copy is over, the main loop running between
 * the reads. Returns the number of reads that found the engine busy. */
static unsigned copy(struct qemu *q, uint16_t *id, uint64_t len, uint32_t seed)
{
	for (uint64_t i = 0; i < len; i++)
		q->ram[SRC + i] = vx_pattern(i + seed);
	memset(q->ram + DST, 0, len);
	irqs(q);
	unsigned busy = 0;
	bar0(q, (*id)++, 0x00, true, SRC, true);
	bar0(q, (*id)++, 0x08, true, DST, true);
	bar0(q, (*id)++, 0x10, true, len, true);
	bar0(q, (*id)++, 0x18, true, 1, true); /* CTRL: go */
	uint64_t st = bar0(q, (*id)++, 0x20, false, 0, false);
	if (!q->shared) {
		/* answered while the device's DMA waits for our main loop */
		if (st != ST_BUSY)
			fail_msg("STATUS read during the copy returned %llu, not BUSY (4); ERROR %llu",
				 (unsigned long long)st,
				 (unsigned long long)bar0(q, (*id)++, 0x28, false, 0, false));
		assert_true(q->npend >= 1);
	}
	for (unsigned polls = 0; st == ST_BUSY; polls++) {
		assert_true(polls < 100000);
		busy++;
		main_loop(q);
		st = bar0(q, (*id)++, 0x20, false, 0, false);
	}
	main_loop(q);
	assert_int_equal(st, 1); /* done */
	assert_int_equal(bar0(q, (*id)++, 0x28, false, 0, false), 0);
	for (uint64_t i = 0; i < len; i++)
		if (q->ram[DST + i] != vx_pattern(i + seed))
			fail_msg("byte %llu of the copy is %#x, not %#x", (unsigned long long)i,
				 q->ram[DST + i], vx_pattern(i + seed));
	assert_true(irqs(q) >= 1); /* MSI-X 0 at the end */
	return busy;
}

static void run(bool spec, bool shared, uint64_t seed)
{
	struct qemu q = { .spec = spec, .shared = shared };
	setup(&q, (const char *const[]){ "-q", NULL }, seed);
	uint16_t id = LAST_SETUP_ID + 1;
	unsigned b64 = copy(&q, &id, 64u << 10, 1);
	unsigned b1m = copy(&q, &id, 1u << 20, 2);
	print_message("%s layout, %s: STATUS read busy %u times (64 KiB), %u (1 MiB); "
		      "%u DMA_READ, %u DMA_WRITE answered; at most %u waiting\n",
		      spec ? "spec" : "QEMU", shared ? "shared memory" : "messages", b64, b1m,
		      q.reads, q.writes, q.most_pending);
	if (shared)
		assert_int_equal(q.reads + q.writes, 0);
	else if (spec) /* pieces of the client's 1 MiB: one request each way per copy */
		assert_true(q.reads == 2 && q.writes == 2);
	else /* DMA_READs of 64 KiB in QEMU's layout: 1 + 16 */
		assert_true(q.reads == 17 && q.writes == 2);
	finish(&q);
}

static void test_qemu_layout_messages(void **state)
{
	(void)state;
	run(false, false, 1);
}

static void test_spec_layout_messages(void **state)
{
	(void)state;
	run(true, false, 2);
}

static void test_qemu_layout_shared(void **state)
{
	(void)state;
	run(false, true, 3);
}

static void test_spec_layout_shared(void **state)
{
	(void)state;
	run(true, true, 4);
}

/* CTRL while the engine is busy is refused: the running copy goes on and
 * completes as programmed, and no second copy runs. */
static void test_ctrl_while_busy(void **state)
{
	(void)state;
	struct qemu q = { 0 };
	setup(&q, (const char *const[]){ "-q", NULL }, 5);
	uint16_t id = LAST_SETUP_ID + 1;
	uint64_t len = 256u << 10;
	for (uint64_t i = 0; i < len; i++)
		q.ram[SRC + i] = vx_pattern(i);
	bar0(&q, id++, 0x00, true, SRC, true);
	bar0(&q, id++, 0x08, true, DST, true);
	bar0(&q, id++, 0x10, true, len, true);
	bar0(&q, id++, 0x18, true, 1, true);
	assert_int_equal(bar0(&q, id++, 0x20, false, 0, false), ST_BUSY);
	/* a second start, to another destination, while busy */
	bar0(&q, id++, 0x08, true, DST + len, true);
	bar0(&q, id++, 0x18, true, 1, true);
	uint64_t st;
	do {
		main_loop(&q);
		st = bar0(&q, id++, 0x20, false, 0, false);
	} while (st == ST_BUSY);
	assert_int_equal(st, 1);
	assert_int_equal(bar0(&q, id++, 0x30, false, 0, false), 1); /* COPIES */
	for (uint64_t i = 0; i < len; i++) {
		assert_int_equal(q.ram[DST + i], vx_pattern(i));
		assert_int_equal(q.ram[DST + len + i], 0);
	}
	finish(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_layout_messages), cmocka_unit_test(test_spec_layout_messages),
		cmocka_unit_test(test_qemu_layout_shared),   cmocka_unit_test(test_spec_layout_shared),
		cmocka_unit_test(test_ctrl_while_busy),
	};
	return cmocka_run_group_tests_name("qemu_rule", tests, NULL, NULL);
}
