/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio-nvme through uvfio's client, as a small NVMe driver would use it:
 * registers and enable, identify, I/O queues, reads and writes with PRP
 * lists (data checked in the image file), the status codes of invalid
 * commands and fields, asynchronous error events, reset and shutdown,
 * shadow doorbells with ioeventfds, guest memory shared by descriptor and
 * through DMA messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "uvfio/client.h"
#include "../../devices/nvme/nvme_spec.h"

#define IOVA 0x100000ull
#define MEM (4u << 20)
#define PG 4096u
#define QD 64u
#define IMG_SIZE (16u << 20)
/* guest memory layout (page numbers) */
#define P_ASQ 0
#define P_ACQ 1
#define P_ID 2
#define P_SQ1 3
#define P_CQ1 4
#define P_DBS 5
#define P_EIS 6
#define P_LIST 7
#define P_DATA 16   /* data pages from here, scattered on purpose */

struct drv {
	struct tu_dev dev;
	char img[64];
	struct uvfio_client *c;
	uint8_t *mem;
	int memfd;
	uint16_t sqt[2], cqh[2], cid;
	uint8_t phase[2];
	uint32_t qsize[2];
	int efd[2];
	bool shadow;
	bool msg_dma;
	bool ioeventfds;
};

static uint64_t iova_of(unsigned page)
{
	return IOVA + (uint64_t)page * PG;
}

static void *pg(struct drv *d, unsigned page)
{
	return d->mem + (size_t)page * PG;
}

static uint32_t rd32(struct drv *d, uint64_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvfio_client_region_read(d->c, 0, off, &v, 4), 0);
	return v;
}

static uint64_t rd64(struct drv *d, uint64_t off)
{
	uint64_t v = 0;
	assert_int_equal(uvfio_client_region_read(d->c, 0, off, &v, 8), 0);
	return v;
}

static void wr32(struct drv *d, uint64_t off, uint32_t v)
{
	assert_int_equal(uvfio_client_region_write(d->c, 0, off, &v, 4), 0);
}

static void wr64(struct drv *d, uint64_t off, uint64_t v)
{
	assert_int_equal(uvfio_client_region_write(d->c, 0, off, &v, 8), 0);
}

static bool wait_csts(struct drv *d, uint32_t mask, uint32_t val)
{
	for (int i = 0; i < 2000; i++) {
		if ((rd32(d, NVME_REG_CSTS) & mask) == val)
			return true;
		usleep(1000);
	}
	return false;
}

static bool intx; /* the next start() wires INTx instead of MSI-X */

static void start(struct drv *d, const char *arg, bool msg_dma, bool ioeventfds)
{
	memset(d, 0, sizeof(*d));
	d->msg_dma = msg_dma;
	d->ioeventfds = ioeventfds;
	snprintf(d->img, sizeof(d->img), "/tmp/uvfio-nvme-test-%d.img", getpid());
	tu_dev_start(&d->dev, UVFIO_BUILD_ROOT, "uvfio-nvme", arg);
	/* event-loop mode: this thread answers the device's DMA messages
	 * itself (pump()) while it waits, so it alone touches guest memory */
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .use_ioeventfds = ioeventfds,
					   .mode = UVFIO_CLIENT_EVENT_LOOP };
	assert_int_equal(uvfio_client_connect(d->dev.sock, &cfg, &d->c), 0);
	d->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(d->memfd >= 0);
	assert_int_equal(ftruncate(d->memfd, MEM), 0);
	d->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
	assert_true(d->mem != MAP_FAILED);
	struct uvfio_dma_region r = { .vaddr = d->mem, .iova = IOVA, .size = MEM,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = msg_dma ? -1 : d->memfd };
	assert_int_equal(uvfio_client_dma_map(d->c, &r), 0);
	for (int i = 0; i < 2; i++)
		d->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (intx) { /* INTx: one eventfd, MSI-X left disabled */
		assert_int_equal(uvfio_client_set_irqs(d->c, VFIO_PCI_INTX_IRQ_INDEX,
						       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
						       0, 1, d->efd), 0);
		return;
	}
	/* MSI-X: eventfds for vectors 0 and 1, then the enable bit */
	assert_int_equal(uvfio_client_set_irqs(d->c, VFIO_PCI_MSIX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 2, d->efd), 0);
	uint8_t cfgsp[256];
	assert_int_equal(uvfio_client_region_read(d->c, VFIO_PCI_CONFIG_REGION_INDEX, 0, cfgsp, 256), 0);
	unsigned p = cfgsp[0x34];
	while (p && cfgsp[p] != 0x11)
		p = cfgsp[p + 1];
	assert_int_not_equal(p, 0);
	uint16_t ctl = (uint16_t)(cfgsp[p + 2] | cfgsp[p + 3] << 8 | 0x8000);
	assert_int_equal(uvfio_client_region_write(d->c, VFIO_PCI_CONFIG_REGION_INDEX, p + 2, &ctl, 2), 0);
}

/* Answer the device's DMA_READ/DMA_WRITE messages, then wait a little. */
static void pump(struct drv *d)
{
	uvfio_client_dispatch(d->c);
	usleep(100);
}

static void stop(struct drv *d)
{
	uvfio_client_close(d->c);
	tu_dev_stop(&d->dev);
	munmap(d->mem, MEM);
	close(d->memfd);
	close(d->efd[0]);
	close(d->efd[1]);
	unlink(d->img);
}

static void enable(struct drv *d)
{
	/* as a driver: Bus Master Enable first (a reset clears it) */
	assert_int_equal(uvfio_client_bus_master(d->c, true), 0);
	memset(d->mem, 0, 16 * PG);
	d->sqt[0] = d->cqh[0] = 0;
	d->phase[0] = 1;
	d->qsize[0] = QD;
	wr32(d, NVME_REG_AQA, (QD - 1) << 16 | (QD - 1));
	wr64(d, NVME_REG_ASQ, iova_of(P_ASQ));
	wr64(d, NVME_REG_ACQ, iova_of(P_ACQ));
	wr32(d, NVME_REG_CC, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	assert_true(wait_csts(d, NVME_CSTS_RDY, NVME_CSTS_RDY));
}

static void ring(struct drv *d, uint64_t off, uint32_t v, unsigned q, bool sq)
{
	if (d->shadow && q) {
		uint32_t *dbs = pg(d, P_DBS), *eis = pg(d, P_EIS);
		unsigned i = 2 * q + (sq ? 0 : 1);
		uint16_t old = (uint16_t)__atomic_load_n(&dbs[i], __ATOMIC_SEQ_CST);
		__atomic_store_n(&dbs[i], v, __ATOMIC_SEQ_CST);
		uint16_t ei = (uint16_t)__atomic_load_n(&eis[i], __ATOMIC_SEQ_CST);
		/* Linux's rule: ring only when the event index is in [old, new) */
		if ((uint16_t)(v - ei - 1) >= (uint16_t)(v - old))
			return;
	}
	if (d->ioeventfds)
		assert_int_equal(uvfio_client_region_write_posted(d->c, 0, off, &v, 4), 0);
	else
		wr32(d, off, v);
}

/* Put a command on queue q without ringing or waiting. */
static void post(struct drv *d, unsigned q, struct nvme_sqe *s)
{
	s->cid = ++d->cid;
	memcpy((uint8_t *)pg(d, q ? P_SQ1 : P_ASQ) + d->sqt[q] * 64u, s, 64);
	d->sqt[q] = (uint16_t)((d->sqt[q] + 1) % d->qsize[q]);
}

/* The next completion of queue q within ms, consumed (no doorbell). */
static bool next_cqe(struct drv *d, unsigned q, struct nvme_cqe *out, int ms)
{
	volatile struct nvme_cqe *e = (struct nvme_cqe *)pg(d, q ? P_CQ1 : P_ACQ) + d->cqh[q];
	for (int i = 0; i < ms * 10 && (e->status & 1) != d->phase[q]; i++)
		pump(d);
	if ((e->status & 1) != d->phase[q])
		return false;
	*out = *(struct nvme_cqe *)e;
	if (++d->cqh[q] == d->qsize[q]) {
		d->cqh[q] = 0;
		d->phase[q] ^= 1;
	}
	return true;
}

/* Submit on queue q (0 or 1) and wait for its completion. */
static struct nvme_cqe cmd(struct drv *d, unsigned q, struct nvme_sqe *s)
{
	unsigned sqp = q ? P_SQ1 : P_ASQ, cqp = q ? P_CQ1 : P_ACQ;
	s->cid = ++d->cid;
	memcpy((uint8_t *)pg(d, sqp) + d->sqt[q] * 64u, s, 64);
	d->sqt[q] = (uint16_t)((d->sqt[q] + 1) % d->qsize[q]);
	ring(d, NVME_SQ_DB(q, 0), d->sqt[q], q, true);
	volatile struct nvme_cqe *e = (struct nvme_cqe *)pg(d, cqp) + d->cqh[q];
	for (int i = 0; i < 20000 && (e->status & 1) != d->phase[q]; i++)
		pump(d);
	assert_int_equal(e->status & 1, d->phase[q]);
	struct nvme_cqe out = *(struct nvme_cqe *)e;
	assert_int_equal(out.cid, d->cid);
	assert_int_equal(out.sq_id, q);
	if (++d->cqh[q] == d->qsize[q]) {
		d->cqh[q] = 0;
		d->phase[q] ^= 1;
	}
	ring(d, NVME_CQ_DB(q, 0), d->cqh[q], q, false);
	return out;
}

static uint16_t st(struct nvme_cqe e)
{
	return (uint16_t)((e.status >> 1) & 0x7ff); /* SCT and SC */
}

#define SC(sct, sc) ((sct) << 8 | (sc))

static struct nvme_cqe admin(struct drv *d, uint8_t op, uint32_t nsid, uint64_t prp1,
			     uint64_t prp2, uint32_t cdw10, uint32_t cdw11)
{
	struct nvme_sqe s = { .opcode = op, .nsid = nsid, .prp1 = prp1, .prp2 = prp2,
			      .cdw10 = cdw10, .cdw11 = cdw11 };
	return cmd(d, 0, &s);
}

static void create_io_queues(struct drv *d)
{
	if (d->shadow) { /* (again after a reset) */
		memset(pg(d, P_DBS), 0, 2 * PG);
		assert_int_equal(st(admin(d, NVME_ADM_DBBUF_CONFIG, 0, iova_of(P_DBS), iova_of(P_EIS), 0, 0)), 0);
	}
	memset(pg(d, P_SQ1), 0, 2 * PG);
	d->sqt[1] = d->cqh[1] = 0;
	d->phase[1] = 1;
	d->qsize[1] = QD;
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_CQ, 0, iova_of(P_CQ1), 0,
				  (QD - 1) << 16 | 1, 1u << 16 | NVME_CQ_IEN | NVME_CQ_PC)), 0);
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_SQ, 0, iova_of(P_SQ1), 0,
				  (QD - 1) << 16 | 1, 1u << 16 | NVME_SQ_PC)), 0);
}

static struct nvme_cqe io(struct drv *d, uint8_t op, uint64_t slba, uint32_t nlb, uint64_t prp1,
			  uint64_t prp2)
{
	struct nvme_sqe s = { .opcode = op, .nsid = 1, .prp1 = prp1, .prp2 = prp2,
			      .cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32),
			      .cdw12 = nlb - 1 };
	return cmd(d, 1, &s);
}

/* A transfer of npages pages whose pages are scattered (every other page),
 * starting at an offset in the first one: PRP1 + a PRP list. */
static void build_prps(struct drv *d, unsigned npages, uint32_t first_off, uint64_t *prp1,
		       uint64_t *prp2)
{
	*prp1 = iova_of(P_DATA) + first_off;
	uint64_t *list = pg(d, P_LIST);
	for (unsigned i = 1; i < npages; i++)
		list[i - 1] = iova_of(P_DATA + 2 * i);
	*prp2 = npages == 2 ? list[0] : iova_of(P_LIST);
}

static void gather(struct drv *d, unsigned npages, uint32_t first_off, uint8_t *out, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < npages && done < len; i++) {
		size_t o = i ? 0 : first_off, l = PG - o;
		if (l > len - done)
			l = len - done;
		memcpy(out + done, (uint8_t *)pg(d, P_DATA + 2 * i) + o, l);
		done += l;
	}
}

static void scatter(struct drv *d, unsigned npages, uint32_t first_off, const uint8_t *in, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < npages && done < len; i++) {
		size_t o = i ? 0 : first_off, l = PG - o;
		if (l > len - done)
			l = len - done;
		memcpy((uint8_t *)pg(d, P_DATA + 2 * i) + o, in + done, l);
		done += l;
	}
}

/* ---- tests ---- */

static void check_identify(struct drv *d, uint64_t nsze)
{
	assert_int_equal(st(admin(d, NVME_ADM_IDENTIFY, 0, iova_of(P_ID), 0, NVME_ID_CNS_CTRL, 0)), 0);
	struct nvme_id_ctrl *id = pg(d, P_ID);
	assert_int_equal(id->vid, 0xf1f0);
	assert_memory_equal(id->mn, "uvfio-nvme ", 11);
	assert_int_equal(id->nn, 1);
	assert_int_equal(id->ver, NVME_VS_1_4);
	/* shadow doorbells only for memory shared by descriptor */
	assert_int_equal(!!(id->oacs & NVME_OACS_DBBUF), !d->msg_dma);
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->cqes, 0x44);
	assert_int_equal(id->mdts, 8);
	assert_int_equal(st(admin(d, NVME_ADM_IDENTIFY, 1, iova_of(P_ID), 0, NVME_ID_CNS_NS, 0)), 0);
	struct nvme_id_ns *ns = pg(d, P_ID);
	assert_int_equal(ns->nsze, nsze);
	assert_int_equal(ns->lbaf[0].ds, 9);
	assert_int_equal(st(admin(d, NVME_ADM_IDENTIFY, 0, iova_of(P_ID), 0, NVME_ID_CNS_NS_ACTIVE_LIST, 0)), 0);
	uint32_t *list = pg(d, P_ID);
	assert_int_equal(list[0], 1);
	assert_int_equal(list[1], 0);
	assert_int_equal(st(admin(d, NVME_ADM_IDENTIFY, 1, iova_of(P_ID), 0, NVME_ID_CNS_NS_DESC_LIST, 0)), 0);
	uint8_t *desc = pg(d, P_ID);
	assert_int_equal(desc[0], NVME_NIDT_NGUID);
	assert_int_equal(desc[1], 16);
	assert_int_equal(desc[20], NVME_NIDT_UUID);
	/* invalid namespaces and CNS values */
	assert_int_equal(st(admin(d, NVME_ADM_IDENTIFY, 2, iova_of(P_ID), 0, NVME_ID_CNS_NS, 0)),
			 SC(0, NVME_SC_INVALID_NS));
	assert_int_equal(st(admin(d, NVME_ADM_IDENTIFY, 0, iova_of(P_ID), 0, 0x55, 0)),
			 SC(0, NVME_SC_INVALID_FIELD));
	/* identify into memory the client never gave: data transfer error */
	assert_int_equal(st(admin(d, NVME_ADM_IDENTIFY, 0, 0x10000000, 0, NVME_ID_CNS_CTRL, 0)),
			 SC(0, NVME_SC_DATA_XFER_ERROR));
}

static void check_io(struct drv *d, bool file)
{
	uint8_t *w = malloc(128 * 1024), *r = malloc(128 * 1024);
	/* 116 KiB at LBA 400 over 29 scattered pages (a piece count that does
	 * not divide evenly among the DMA helpers), then 64 KiB at LBA 100
	 * over 17, first page at offset 512: PRP1 + a list */
	uint64_t p1, p2;
	size_t len = 29 * 4096 - 512;
	tu_pattern(w, len, 5);
	build_prps(d, 29, 512, &p1, &p2);
	scatter(d, 29, 512, w, len);
	assert_int_equal(st(io(d, NVME_CMD_WRITE, 400, (uint32_t)(len / 512), p1, p2)), 0);
	for (unsigned i = 0; i < 60; i++)
		memset(pg(d, P_DATA + i), 0xee, PG);
	assert_int_equal(st(io(d, NVME_CMD_READ, 400, (uint32_t)(len / 512), p1, p2)), 0);
	gather(d, 29, 512, r, len);
	assert_memory_equal(r, w, len);
	len = 64 * 1024;
	tu_pattern(w, len, 7);
	build_prps(d, 17, 512, &p1, &p2);
	scatter(d, 17, 512, w, len);
	assert_int_equal(st(io(d, NVME_CMD_WRITE, 100, (uint32_t)(len / 512), p1, p2)), 0);
	for (unsigned i = 0; i < 40; i++)
		memset(pg(d, P_DATA + i), 0xee, PG);
	assert_int_equal(st(io(d, NVME_CMD_READ, 100, (uint32_t)(len / 512), p1, p2)), 0);
	gather(d, 17, 512, r, len);
	assert_memory_equal(r, w, len);
	/* a PRP list that starts 16 bytes before the end of its page: one data
	 * entry, then a pointer to the next list page holding the rest */
	tu_pattern(w, len, 11);
	uint64_t *l1 = (uint64_t *)((uint8_t *)pg(d, P_LIST) + PG - 16), *l2 = pg(d, P_LIST + 1);
	l1[0] = iova_of(P_DATA + 2);
	l1[1] = iova_of(P_LIST + 1);
	for (unsigned i = 2; i < 16; i++)
		l2[i - 2] = iova_of(P_DATA + 2 * i);
	scatter(d, 16, 0, w, len);
	assert_int_equal(st(io(d, NVME_CMD_WRITE, 300, (uint32_t)(len / 512), iova_of(P_DATA),
			       iova_of(P_LIST) + PG - 16)), 0);
	for (unsigned i = 0; i < 40; i++)
		memset(pg(d, P_DATA + i), 0xee, PG);
	assert_int_equal(st(io(d, NVME_CMD_READ, 300, (uint32_t)(len / 512), iova_of(P_DATA),
			       iova_of(P_LIST) + PG - 16)), 0);
	gather(d, 16, 0, r, len);
	assert_memory_equal(r, w, len);
	/* two pages: PRP2 is the second page itself */
	tu_pattern(w, 8192, 9);
	build_prps(d, 2, 0, &p1, &p2);
	scatter(d, 2, 0, w, 8192);
	assert_int_equal(st(io(d, NVME_CMD_WRITE, 0, 16, p1, p2)), 0);
	assert_int_equal(st(io(d, NVME_CMD_FLUSH, 0, 1, 0, 0)), 0);
	if (file) { /* in the image at the same offsets */
		int fd = open(d->img, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, r, 8192, 0), 8192);
		assert_memory_equal(r, w, 8192);
		tu_pattern(w, len, 7);
		assert_int_equal(pread(fd, r, len, 100 * 512), (ssize_t)len);
		assert_memory_equal(r, w, len);
		close(fd);
	}
	/* Write Zeroes and deallocation read back as zeroes */
	assert_int_equal(st(io(d, NVME_CMD_WRITE_ZEROES, 0, 8, 0, 0)), 0);
	struct nvme_dsm_range *rg = pg(d, P_ID);
	memset(rg, 0, PG);
	rg[0].slba = 8;
	rg[0].nlb = 8;
	struct nvme_sqe s = { .opcode = NVME_CMD_DSM, .nsid = 1, .prp1 = iova_of(P_ID),
			      .cdw10 = 0, .cdw11 = NVME_DSM_AD };
	assert_int_equal(st(cmd(d, 1, &s)), 0);
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 16, p1, p2)), 0);
	memset(w, 0, 8192);
	gather(d, 2, 0, r, 8192);
	assert_memory_equal(r, w, 8192);
	/* the status codes of bad I/O commands */
	assert_int_equal(st(io(d, NVME_CMD_READ, IMG_SIZE / 512 - 1, 2, p1, p2)), SC(0, NVME_SC_LBA_RANGE));
	assert_int_equal(st(io(d, NVME_CMD_READ, ~0ull - 1, 4, p1, p2)), SC(0, NVME_SC_LBA_RANGE));
	assert_int_equal(st(io(d, 0x7f, 0, 1, p1, p2)), SC(0, NVME_SC_INVALID_OPCODE));
	struct nvme_sqe bad = { .opcode = NVME_CMD_READ, .nsid = 5, .prp1 = p1 };
	assert_int_equal(st(cmd(d, 1, &bad)), SC(0, NVME_SC_INVALID_NS));
	bad.nsid = 1;
	bad.flags = 0x40; /* SGL */
	assert_int_equal(st(cmd(d, 1, &bad)), SC(0, NVME_SC_INVALID_FIELD));
	/* above MDTS (1 MiB) */
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 4096, p1, p2)), SC(0, NVME_SC_INVALID_FIELD));
	/* PRPs outside the client's memory, misaligned PRP entries */
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 8, 0x20000000, 0)), SC(0, NVME_SC_DATA_XFER_ERROR));
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 16, iova_of(P_DATA), iova_of(P_DATA + 1) + 8)),
			 SC(0, NVME_SC_PRP_INVALID_OFFSET));
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 32, iova_of(P_DATA), 0x30000000)),
			 SC(0, NVME_SC_DATA_XFER_ERROR));
	free(w);
	free(r);
}

static void check_admin_errors(struct drv *d)
{
	/* queue creation: bad ids, sizes, vectors, missing CQ, deletion rules */
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_CQ, 0, iova_of(P_CQ1), 0, (QD - 1) << 16 | 0,
				  NVME_CQ_PC)), SC(1, NVME_SC_QID_INVALID));
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_CQ, 0, iova_of(P_CQ1), 0, (QD - 1) << 16 | 1,
				  NVME_CQ_PC)), SC(1, NVME_SC_QID_INVALID)); /* exists */
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_CQ, 0, iova_of(P_CQ1), 0, 0u << 16 | 2,
				  NVME_CQ_PC)), SC(1, NVME_SC_QUEUE_SIZE));
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_CQ, 0, iova_of(P_CQ1), 0, 4096u << 16 | 2,
				  NVME_CQ_PC)), SC(1, NVME_SC_QUEUE_SIZE));
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_CQ, 0, iova_of(P_CQ1), 0, 3u << 16 | 2,
				  NVME_CQ_PC | NVME_CQ_IEN | 99u << 16)), SC(1, NVME_SC_INT_VECTOR_INVALID));
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_CQ, 0, iova_of(P_CQ1), 0, 3u << 16 | 200, NVME_CQ_PC)),
			 SC(1, NVME_SC_QID_INVALID));
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_SQ, 0, iova_of(P_SQ1), 0, 3u << 16 | 2,
				  NVME_SQ_PC | 5u << 16)), SC(1, NVME_SC_CQ_INVALID));
	assert_int_equal(st(admin(d, NVME_ADM_DELETE_CQ, 0, 0, 0, 1, 0)),
			 SC(1, NVME_SC_QUEUE_DELETION_INVALID));
	assert_int_equal(st(admin(d, NVME_ADM_DELETE_SQ, 0, 0, 0, 7, 0)), SC(1, NVME_SC_QID_INVALID));
	assert_int_equal(st(admin(d, 0xc1, 0, 0, 0, 0, 0)), SC(0, NVME_SC_INVALID_OPCODE));
	/* features */
	struct nvme_cqe e = admin(d, NVME_ADM_SET_FEATURES, 0, 0, 0, NVME_FEAT_NUM_QUEUES, 0x00030003);
	assert_int_equal(st(e), SC(0, NVME_SC_CMD_SEQ_ERROR)); /* I/O queues exist */
	e = admin(d, NVME_ADM_GET_FEATURES, 0, 0, 0, NVME_FEAT_NUM_QUEUES, 0);
	assert_int_equal(st(e), 0);
	assert_int_equal(e.dw0, 0x00010001); /* --queues=2 */
	assert_int_equal(st(admin(d, NVME_ADM_SET_FEATURES, 0, 0, 0, NVME_FEAT_VOLATILE_WC, 0)), 0);
	e = admin(d, NVME_ADM_GET_FEATURES, 0, 0, 0, NVME_FEAT_VOLATILE_WC, 0);
	assert_int_equal(e.dw0, 0);
	assert_int_equal(st(admin(d, NVME_ADM_SET_FEATURES, 0, 0, 0, NVME_FEAT_VOLATILE_WC, 1)), 0);
	assert_int_equal(st(admin(d, NVME_ADM_SET_FEATURES, 0, 0, 0, NVME_FEAT_VOLATILE_WC | NVME_FEAT_SV, 1)),
			 SC(1, NVME_SC_FEATURE_NOT_SAVEABLE));
	assert_int_equal(st(admin(d, NVME_ADM_SET_FEATURES, 0, 0, 0, 0x7e, 1)), SC(0, NVME_SC_INVALID_FIELD));
	assert_int_equal(st(admin(d, NVME_ADM_SET_FEATURES, 0, 0, 0, NVME_FEAT_IRQ_CONFIG, 50)),
			 SC(0, NVME_SC_INVALID_FIELD));
	/* logs */
	assert_int_equal(st(admin(d, NVME_ADM_GET_LOG_PAGE, 0xffffffff, iova_of(P_ID), 0,
				  127u << 16 | NVME_LOG_SMART, 0)), 0);
	struct nvme_smart_log *sl = pg(d, P_ID);
	assert_int_equal(sl->avail_spare, 100);
	assert_true(sl->host_writes[0] > 0);
	assert_int_equal(st(admin(d, NVME_ADM_GET_LOG_PAGE, 0, iova_of(P_ID), 0,
				  127u << 16 | NVME_LOG_FW_SLOT, 0)), 0);
	assert_int_equal(((struct nvme_fw_slot_log *)pg(d, P_ID))->afi, 1);
	assert_int_equal(st(admin(d, NVME_ADM_GET_LOG_PAGE, 0, iova_of(P_ID), 0, 127u << 16 | 0x42, 0)),
			 SC(1, NVME_SC_LOG_PAGE_INVALID));
	assert_int_equal(st(admin(d, NVME_ADM_GET_LOG_PAGE, 0, iova_of(P_ID), 0, 15u << 16 | NVME_LOG_ERROR, 0)), 0);
	struct nvme_error_log *el = pg(d, P_ID);
	assert_true(el->error_count > 0);
	/* abort: nothing left to abort */
	e = admin(d, NVME_ADM_ABORT, 0, 0, 0, 1u << 16 | 1, 0);
	assert_int_equal(st(e), 0);
	assert_int_equal(e.dw0 & 1, 1);
}

/* An AER, then a doorbell of a queue that does not exist: the AER
 * completes with an error event (invalid doorbell register). */
static void check_aer(struct drv *d)
{
	struct nvme_sqe s = { .opcode = NVME_ADM_ASYNC_EVENT };
	s.cid = ++d->cid;
	memcpy((uint8_t *)pg(d, P_ASQ) + d->sqt[0] * 64u, &s, 64);
	d->sqt[0] = (uint16_t)((d->sqt[0] + 1) % d->qsize[0]);
	wr32(d, NVME_SQ_DB(0, 0), d->sqt[0]);
	wr32(d, NVME_SQ_DB(2, 0), 1); /* --queues=2: qid 2 may exist, does not */
	volatile struct nvme_cqe *e = (struct nvme_cqe *)pg(d, P_ACQ) + d->cqh[0];
	for (int i = 0; i < 20000 && (e->status & 1) != d->phase[0]; i++)
		pump(d);
	assert_int_equal(e->status & 1, d->phase[0]);
	assert_int_equal(e->cid, d->cid);
	assert_int_equal(e->status >> 1, 0);
	assert_int_equal(e->dw0, NVME_AER_DW0(NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_DB, NVME_LOG_ERROR));
	if (++d->cqh[0] == d->qsize[0]) {
		d->cqh[0] = 0;
		d->phase[0] ^= 1;
	}
	wr32(d, NVME_CQ_DB(0, 0), d->cqh[0]);
	/* a fifth outstanding AER is over the limit (AERL 3) */
	for (int i = 0; i < 4; i++) {
		s.cid = ++d->cid;
		memcpy((uint8_t *)pg(d, P_ASQ) + d->sqt[0] * 64u, &s, 64);
		d->sqt[0] = (uint16_t)((d->sqt[0] + 1) % d->qsize[0]);
	}
	assert_int_equal(st(admin(d, NVME_ADM_ASYNC_EVENT, 0, 0, 0, 0, 0)), SC(1, NVME_SC_ASYNC_LIMIT));
}

static void check_reset_shutdown(struct drv *d)
{
	/* shutdown: CSTS.SHST complete */
	uint32_t cc = rd32(d, NVME_REG_CC);
	wr32(d, NVME_REG_CC, cc | NVME_CC_SHN_NORMAL << NVME_CC_SHN_SHIFT);
	assert_true(wait_csts(d, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE));
	/* reset: not ready, queues gone; enable again and use it */
	wr32(d, NVME_REG_CC, 0);
	assert_true(wait_csts(d, NVME_CSTS_RDY | NVME_CSTS_SHST_MASK, 0));
	enable(d);
	assert_int_equal(st(admin(d, NVME_ADM_DELETE_SQ, 0, 0, 0, 1, 0)), SC(1, NVME_SC_QID_INVALID));
	create_io_queues(d);
	/* vfio-user reset: registers at their reset values at once */
	assert_int_equal(uvfio_client_reset(d->c), 0);
	assert_int_equal(rd32(d, NVME_REG_CC), 0);
	assert_true(wait_csts(d, NVME_CSTS_RDY, 0));
	enable(d);
	create_io_queues(d);
}

/* A full completion queue: completions wait for room, none is lost. */
static void check_cq_full(struct drv *d)
{
	/* I/O queue 1 again: a CQ of 4 entries under an SQ of 64 */
	assert_int_equal(st(admin(d, NVME_ADM_DELETE_SQ, 0, 0, 0, 1, 0)), 0);
	assert_int_equal(st(admin(d, NVME_ADM_DELETE_CQ, 0, 0, 0, 1, 0)), 0);
	memset(pg(d, P_SQ1), 0, 2 * PG);
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_CQ, 0, iova_of(P_CQ1), 0, 3u << 16 | 1,
				  1u << 16 | NVME_CQ_IEN | NVME_CQ_PC)), 0);
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_SQ, 0, iova_of(P_SQ1), 0, (QD - 1) << 16 | 1,
				  1u << 16 | NVME_SQ_PC)), 0);
	d->sqt[1] = d->cqh[1] = 0;
	d->phase[1] = 1;
	memset(pg(d, P_CQ1), 0, PG);
	unsigned n = 10;
	uint16_t first = (uint16_t)(d->cid + 1);
	for (unsigned i = 0; i < n; i++) {
		struct nvme_sqe s = { .opcode = NVME_CMD_READ, .nsid = 1, .prp1 = iova_of(P_DATA + i) };
		post(d, 1, &s);
	}
	ring(d, NVME_SQ_DB(1, 0), d->sqt[1], 1, true);
	/* 3 fit (a queue of 4 holds 3); the rest wait */
	d->qsize[1] = 4;
	struct nvme_cqe e;
	unsigned got = 0;
	while (got < n) {
		unsigned batch = 0;
		while (next_cqe(d, 1, &e, batch ? 50 : 5000)) {
			assert_int_equal(e.cid, first + got);
			assert_int_equal(st(e), 0);
			got++;
			batch++;
		}
		assert_true(batch > 0 && batch <= 3);
		ring(d, NVME_CQ_DB(1, 0), d->cqh[1], 1, false);
	}
	assert_int_equal(got, n);
	d->qsize[1] = QD;
	d->sqt[1] = (uint16_t)(n % QD);
	/* back to the usual queues */
	assert_int_equal(st(admin(d, NVME_ADM_DELETE_SQ, 0, 0, 0, 1, 0)), 0);
	assert_int_equal(st(admin(d, NVME_ADM_DELETE_CQ, 0, 0, 0, 1, 0)), 0);
	create_io_queues(d);
}

/* Hostile: an SQ deleted under its own I/O, a reset under I/O, doorbell
 * values out of range (an error event once the previous one was read). */
static void check_hostile(struct drv *d)
{
	for (unsigned i = 0; i < 32; i++) {
		struct nvme_sqe s = { .opcode = i & 1 ? NVME_CMD_WRITE : NVME_CMD_READ, .nsid = 1,
				      .prp1 = iova_of(P_DATA + i), .cdw10 = i * 8, .cdw12 = 7 };
		post(d, 1, &s);
	}
	ring(d, NVME_SQ_DB(1, 0), d->sqt[1], 1, true);
	struct nvme_cqe e = admin(d, NVME_ADM_DELETE_SQ, 0, 0, 0, 1, 0);
	assert_int_equal(st(e), 0);
	assert_int_equal(st(admin(d, NVME_ADM_DELETE_CQ, 0, 0, 0, 1, 0)), 0);
	create_io_queues(d);
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 8, iova_of(P_DATA), 0)), 0);
	/* reset with commands in flight, then it works again */
	for (unsigned i = 0; i < 32; i++) {
		struct nvme_sqe s = { .opcode = NVME_CMD_WRITE, .nsid = 1, .prp1 = iova_of(P_DATA + i),
				      .cdw10 = i * 8, .cdw12 = 7 };
		post(d, 1, &s);
	}
	ring(d, NVME_SQ_DB(1, 0), d->sqt[1], 1, true);
	wr32(d, NVME_REG_CC, 0);
	assert_true(wait_csts(d, NVME_CSTS_RDY, 0));
	wr32(d, NVME_SQ_DB(1, 0), 3); /* doorbells of a disabled controller: dropped */
	enable(d);
	create_io_queues(d);
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 8, iova_of(P_DATA), 0)), 0);
	/* the error log re-arms error events; then a tail beyond the queue */
	assert_int_equal(st(admin(d, NVME_ADM_GET_LOG_PAGE, 0, iova_of(P_ID), 0, 15u << 16 | NVME_LOG_ERROR, 0)), 0);
	struct nvme_sqe aer = { .opcode = NVME_ADM_ASYNC_EVENT };
	post(d, 0, &aer);
	wr32(d, NVME_SQ_DB(0, 0), d->sqt[0]);
	ring(d, NVME_SQ_DB(1, 0), 1000, 1, true);
	assert_true(next_cqe(d, 0, &e, 5000));
	assert_int_equal(e.cid, aer.cid);
	assert_int_equal(e.dw0, NVME_AER_DW0(NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_DB_VALUE, NVME_LOG_ERROR));
	wr32(d, NVME_CQ_DB(0, 0), d->cqh[0]);
	/* a CQ head beyond what was posted: ignored (masked event), queue usable */
	ring(d, NVME_CQ_DB(1, 0), 30, 1, false);
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 8, iova_of(P_DATA), 0)), 0);
	/* an SQ in memory the client never gave: controller fatal status */
	assert_int_equal(st(admin(d, NVME_ADM_CREATE_SQ, 0, 0x70000000, 0, 3u << 16 | 2, 1u << 16 | NVME_SQ_PC)), 0);
	ring(d, NVME_SQ_DB(2, 0), 1, 2, true);
	assert_true(wait_csts(d, NVME_CSTS_CFS, NVME_CSTS_CFS));
	wr32(d, NVME_REG_CC, 0);
	assert_true(wait_csts(d, NVME_CSTS_RDY | NVME_CSTS_CFS, 0));
	enable(d);
	create_io_queues(d);
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 8, iova_of(P_DATA), 0)), 0);
}

/* Shadow doorbells: a doorbell register write that arrives after the
 * shadow moved on (its value older) must not take the tail back. */
static void check_stale_register(struct drv *d)
{
	assert_int_equal(st(io(d, NVME_CMD_READ, 0, 8, iova_of(P_DATA), 0)), 0);
	uint32_t stale = (d->sqt[1] + d->qsize[1] - 1) % d->qsize[1];
	wr32(d, NVME_SQ_DB(1, 0), stale);
	for (int i = 0; i < 500; i++)
		pump(d); /* the device sees the stale write alone */
	struct nvme_sqe s = { .opcode = NVME_CMD_READ, .nsid = 1, .prp1 = iova_of(P_DATA) };
	post(d, 1, &s);
	ring(d, NVME_SQ_DB(1, 0), d->sqt[1], 1, true);
	struct nvme_cqe e = { 0 };
	assert_true(next_cqe(d, 1, &e, 5000));
	assert_int_equal(e.cid, s.cid);
	assert_int_equal(st(e), 0);
	assert_false(next_cqe(d, 1, &e, 300)); /* no replay of the queue */
	ring(d, NVME_CQ_DB(1, 0), d->cqh[1], 1, false);
}

static void run_all(struct drv *d, bool file)
{
	assert_int_equal(rd64(d, NVME_REG_CAP) & 0xffff, 1023);
	assert_int_equal(rd32(d, NVME_REG_VS), NVME_VS_1_4);
	enable(d);
	check_identify(d, IMG_SIZE / 512);
	create_io_queues(d);
	check_io(d, file);
	/* MSI-X vector 1 fired for the I/O completions */
	uint64_t n = 0;
	assert_int_equal(read(d->efd[1], &n, 8), 8);
	assert_true(n > 0);
	check_admin_errors(d);
	if (d->shadow)
		check_stale_register(d);
	check_aer(d);
	check_cq_full(d);
	check_hostile(d);
}

static void test_file(void **state)
{
	(void)state;
	struct drv d;
	char arg[128];
	char img[64];
	snprintf(img, sizeof(img), "/tmp/uvfio-nvme-test-%d.img", getpid());
	unlink(img);
	int fd = open(img, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	snprintf(arg, sizeof(arg), "--file=%s --queues=2", img);
	start(&d, arg, false, false);
	run_all(&d, true);
	stop(&d);
}

static void test_memory(void **state)
{
	(void)state;
	struct drv d;
	start(&d, "--size=16M --queues=2 --serial=uvfio-test-1", false, false);
	run_all(&d, false);
	/* --serial: the serial number as given, space padded */
	assert_int_equal(st(admin(&d, NVME_ADM_IDENTIFY, 0, iova_of(P_ID), 0, NVME_ID_CNS_CTRL, 0)), 0);
	assert_memory_equal(((struct nvme_id_ctrl *)pg(&d, P_ID))->sn, "uvfio-test-1        ", 20);
	check_reset_shutdown(&d);
	check_io(&d, false);
	stop(&d);
}

static void test_dma_messages(void **state)
{
	(void)state;
	struct drv d;
	char arg[128], img[64];
	snprintf(img, sizeof(img), "/tmp/uvfio-nvme-test-%d.img", getpid());
	unlink(img);
	int fd = open(img, O_CREAT | O_RDWR, 0644);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	snprintf(arg, sizeof(arg), "--file=%s --queues=2", img);
	start(&d, arg, true, false);
	run_all(&d, true);
	stop(&d);
}

static void test_shadow_ioeventfd(void **state)
{
	(void)state;
	struct drv d;
	start(&d, "--size=16M --queues=2", false, true);
	d.shadow = true;
	run_all(&d, false);
	stop(&d);
}

static unsigned cap_offset(struct drv *d, uint8_t id)
{
	uint8_t cfgsp[256];
	assert_int_equal(uvfio_client_region_read(d->c, VFIO_PCI_CONFIG_REGION_INDEX, 0, cfgsp, 256), 0);
	unsigned p = cfgsp[0x34];
	while (p && cfgsp[p] != id)
		p = cfgsp[p + 1];
	assert_int_not_equal(p, 0);
	return p;
}

static bool fired(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, ms) != 1)
		return false;
	uint64_t v;
	return read(fd, &v, 8) == 8;
}

static void intx_unmask(struct drv *d)
{
	assert_int_equal(uvfio_client_set_irqs(d->c, VFIO_PCI_INTX_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
					       0, 1, NULL), 0);
}

/* INTx when MSI-X is off, masked by INTMS and raised again by INTMC while
 * the admin CQ holds an entry; then a function level reset. */
static void test_intx_flr(void **state)
{
	(void)state;
	struct drv d;
	intx = true;
	start(&d, "--size=16M --queues=2", false, false);
	intx = false;
	enable(&d);
	assert_int_equal(st(admin(&d, NVME_ADM_IDENTIFY, 0, iova_of(P_ID), 0, NVME_ID_CNS_CTRL, 0)), 0);
	assert_true(fired(d.efd[0], 5000));
	intx_unmask(&d); /* INTx is automasked, as VFIO's */
	assert_false(fired(d.efd[0], 200)); /* its entry consumed: not asserted */
	wr32(&d, NVME_REG_INTMS, 1);
	struct nvme_sqe s = { .opcode = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_VOLATILE_WC };
	post(&d, 0, &s);
	wr32(&d, NVME_SQ_DB(0, 0), d.sqt[0]);
	struct nvme_cqe e;
	assert_true(next_cqe(&d, 0, &e, 5000)); /* consumed, the head not yet written back */
	assert_false(fired(d.efd[0], 200));
	wr32(&d, NVME_REG_INTMC, 1);
	assert_true(fired(d.efd[0], 5000));
	wr32(&d, NVME_CQ_DB(0, 0), d.cqh[0]);
	intx_unmask(&d);
	/* function level reset through the PCI Express capability */
	unsigned exp = cap_offset(&d, 0x10);
	uint16_t ctl = 0;
	assert_int_equal(uvfio_client_region_read(d.c, VFIO_PCI_CONFIG_REGION_INDEX, exp + 8, &ctl, 2), 0);
	ctl |= 0x8000;
	assert_int_equal(uvfio_client_region_write(d.c, VFIO_PCI_CONFIG_REGION_INDEX, exp + 8, &ctl, 2), 0);
	assert_int_equal(rd32(&d, NVME_REG_CC), 0);
	assert_true(wait_csts(&d, NVME_CSTS_RDY, 0));
	enable(&d);
	create_io_queues(&d);
	assert_int_equal(st(io(&d, NVME_CMD_READ, 0, 8, iova_of(P_DATA), 0)), 0);
	stop(&d);
}

int main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test_teardown(test_memory, tu_dev_teardown),
		cmocka_unit_test_teardown(test_file, tu_dev_teardown),
		cmocka_unit_test_teardown(test_dma_messages, tu_dev_teardown),
		cmocka_unit_test_teardown(test_shadow_ioeventfd, tu_dev_teardown),
		cmocka_unit_test_teardown(test_intx_flr, tu_dev_teardown),
	};
	return cmocka_run_group_tests(t, NULL, NULL);
}
