/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness of uvfio-nvme's command path (devices/nvme): a hostile
 * guest's submission queue entries, register and doorbell writes, memory
 * contents (PRP lists, DSM ranges, queue memory) and resets, against the
 * controller on a memory namespace, single-threaded (the harness is both
 * the serving thread and the worker). Guest memory is a flat 256 KiB at
 * IOVA 0; every DMA outside it fails as an unmapped one does, and ASan
 * catches any write of the controller outside its buffers.
 *
 * Before the input runs, the controller is enabled with an admin queue
 * and two I/O queue pairs of 16 entries, so that commands reach every
 * handler. The input is a sequence of records:
 *   0 Q SQE[64]      submit on queue Q%3 (0 admin), ring, run, reap
 *   1 OFF[2] VAL[4]  BAR0 write (doorbells included)
 *   2 ADR[2] LEN B.. guest memory write
 *   3 OP             reset (vfio-user), doorbell kick, or a bare step
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../devices/nvme/nvme.h"

#define MEM_SIZE (256u << 10)
#define QE 16u

static uint8_t mem[MEM_SIZE];
static unsigned irqs;

static int h_read(void *o, uint64_t iova, void *buf, size_t len)
{
	(void)o;
	if (iova >= MEM_SIZE || len > MEM_SIZE - iova)
		return -14; /* -EFAULT */
	memcpy(buf, mem + iova, len);
	return 0;
}

static int h_write(void *o, uint64_t iova, const void *buf, size_t len)
{
	(void)o;
	if (iova >= MEM_SIZE || len > MEM_SIZE - iova)
		return -14;
	memcpy(mem + iova, buf, len);
	return 0;
}

static void h_irq(void *o, uint16_t v, bool masked)
{
	(void)o;
	(void)v;
	(void)masked;
	irqs++;
}

/* queue memory: SQ q at 0x1000 * (2q), CQ q at 0x1000 * (2q + 1) */
static uint64_t sq_addr(unsigned q) { return 0x2000ull * q; }
static uint64_t cq_addr(unsigned q) { return 0x2000ull * q + 0x1000; }

struct drv {
	struct nvme_ctrl *c;
	uint16_t tail[3], head[3];
	uint8_t phase[3];
};

static void reg(struct nvme_ctrl *c, uint64_t off, uint32_t v)
{
	nvme_reg_write(c, off, &v, 4);
}

/* Reap what the controller posted on CQ q (as a driver does) and run. */
static void reap(struct drv *d, unsigned q)
{
	for (unsigned n = 0; n < QE; n++) {
		struct nvme_cqe e;
		memcpy(&e, mem + cq_addr(q) + d->head[q] * 16u, 16);
		if ((e.status & 1) != d->phase[q])
			break;
		if (++d->head[q] == QE) {
			d->head[q] = 0;
			d->phase[q] ^= 1;
		}
	}
	reg(d->c, NVME_CQ_DB(q, 0), d->head[q]);
	nvme_ctrl_step(d->c);
}

static void submit(struct drv *d, unsigned q, const struct nvme_sqe *s)
{
	memcpy(mem + sq_addr(q) + d->tail[q] * 64u, s, 64);
	d->tail[q] = (uint16_t)((d->tail[q] + 1) % QE);
	reg(d->c, NVME_SQ_DB(q, 0), d->tail[q]);
	nvme_ctrl_step(d->c);
	nvme_ctrl_step(d->c);
	reap(d, q);
}

static void bring_up(struct drv *d)
{
	memset(d->tail, 0, sizeof(d->tail));
	memset(d->head, 0, sizeof(d->head));
	memset(d->phase, 1, sizeof(d->phase));
	memset(mem, 0, 0x6000);
	reg(d->c, NVME_REG_AQA, (QE - 1) << 16 | (QE - 1));
	reg(d->c, NVME_REG_ASQ, (uint32_t)sq_addr(0));
	reg(d->c, NVME_REG_ACQ, (uint32_t)cq_addr(0));
	reg(d->c, NVME_REG_CC, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	nvme_ctrl_step(d->c);
	for (unsigned q = 1; q <= 2; q++) {
		struct nvme_sqe cq = { .opcode = NVME_ADM_CREATE_CQ, .prp1 = cq_addr(q),
				       .cdw10 = (QE - 1) << 16 | q,
				       .cdw11 = q << 16 | NVME_CQ_IEN | NVME_CQ_PC };
		submit(d, 0, &cq);
		struct nvme_sqe sq = { .opcode = NVME_ADM_CREATE_SQ, .prp1 = sq_addr(q),
				       .cdw10 = (QE - 1) << 16 | q, .cdw11 = q << 16 | NVME_SQ_PC };
		submit(d, 0, &sq);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nvme_ctrl_config cfg = {
		.host = { .dma_read = h_read, .dma_write = h_write, .irq = h_irq, .nvec = 3 },
		.lba_shift = 9, .nr_ioq = 2, .wake_fd = -1,
	};
	if (nvme_backend_open_mem(&cfg.backend, 1u << 20) < 0)
		abort();
	struct drv d = { 0 };
	if (nvme_ctrl_create(&cfg, &d.c) < 0)
		abort();
	memset(mem, 0, sizeof(mem));
	bring_up(&d);
	size_t i = 0;
	while (i < size) {
		uint8_t t = data[i++];
		switch (t % 4) {
		case 0: {
			if (i >= size)
				break;
			unsigned q = data[i++] % 3;
			struct nvme_sqe s = { 0 };
			size_t n = size - i < 64 ? size - i : 64;
			memcpy(&s, data + i, n);
			i += n;
			submit(&d, q, &s);
			break;
		}
		case 1: {
			if (size - i < 6) {
				i = size;
				break;
			}
			uint16_t off;
			uint32_t v;
			memcpy(&off, data + i, 2);
			memcpy(&v, data + i + 2, 4);
			i += 6;
			reg(d.c, off % NVME_BAR0_SIZE & ~3u, v);
			nvme_ctrl_step(d.c);
			if ((off % NVME_BAR0_SIZE) == NVME_REG_CC && (v & NVME_CC_EN) == 0)
				bring_up(&d); /* the queues are gone: start over */
			break;
		}
		case 2: {
			if (size - i < 3) {
				i = size;
				break;
			}
			uint16_t adr;
			memcpy(&adr, data + i, 2);
			size_t n = data[i + 2];
			i += 3;
			if (n > size - i)
				n = size - i;
			uint32_t a = 0x6000u + adr % (MEM_SIZE - 0x6000u - 256u);
			memcpy(mem + a, data + i, n);
			i += n;
			break;
		}
		default: {
			uint8_t op = i < size ? data[i++] : 0;
			if (op % 3 == 0) {
				nvme_ctrl_reset_async(d.c);
				nvme_ctrl_step(d.c);
				bring_up(&d);
			} else if (op % 3 == 1) {
				nvme_doorbell_kick(d.c, NVME_SQ_DB(1, 0));
				nvme_ctrl_step(d.c);
			} else {
				nvme_ctrl_step(d.c);
			}
		}
		}
	}
	nvme_ctrl_destroy(d.c);
	nvme_backend_close(&cfg.backend);
	return 0;
}
