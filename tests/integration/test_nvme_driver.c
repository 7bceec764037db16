/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_nvme_driver: uvfio-nvme driven by the userspace NVMe driver
 * (tools/nvme/nvme_drv.c), no VM: bring-up and Identify, I/O queues, reads
 * and writes checked against the image file, Flush, Write Zeroes, Dataset
 * Management, malformed commands with the status codes the specification
 * names (NVMe 1.4 sections in the comments), asynchronous error events,
 * controller reset and shutdown; memory shared by descriptor and by DMA
 * messages, polling and MSI-X, with and without shadow doorbells.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvme_drv.h"
#include "util.h"

#define IMG_SIZE (16u << 20)
#define SC(sct, sc) NVME_STATUS(sct, sc)

struct env {
	struct tu_dev dev;
	char img[64];
	int imgfd;
	struct nvme_drv *d;
	const struct nvme_drv_info *in;
};

/* A device on a fresh sparse image of IMG_SIZE bytes with LBAs of lba
 * bytes, and a driver with options o. */
static void env_start(struct env *e, const struct nvme_drv_opts *o, unsigned lba)
{
	snprintf(e->img, sizeof(e->img), "/tmp/uvfio-nvme-img-XXXXXX");
	e->imgfd = mkstemp(e->img);
	assert_true(e->imgfd >= 0);
	assert_int_equal(ftruncate(e->imgfd, IMG_SIZE), 0);
	char args[160];
	snprintf(args, sizeof(args), "--file=%s --lba-size=%u --queues=8", e->img, lba);
	tu_dev_start(&e->dev, UVFIO_BUILD_ROOT, "uvfio-nvme", args);
	int r = nvme_drv_open(e->dev.sock, o, &e->d);
	assert_int_equal(r, 0);
	e->in = nvme_drv_info(e->d);
}

static void env_stop(struct env *e)
{
	nvme_drv_close(e->d);
	tu_dev_stop(&e->dev);
	close(e->imgfd);
	unlink(e->img);
}

/* What the image file holds at byte off. */
static void img_read(struct env *e, uint64_t off, void *buf, size_t len)
{
	assert_int_equal(pread(e->imgfd, buf, len, (off_t)off), (ssize_t)len);
}

static int admin(struct env *e, struct nvme_sqe *cmd, void *buf, size_t len, struct nvme_cqe *cqe)
{
	return nvme_drv_cmd(e->d, 0, cmd, buf, len, cqe);
}

static int io(struct env *e, struct nvme_sqe *cmd, void *buf, size_t len)
{
	return nvme_drv_cmd(e->d, 1, cmd, buf, len, NULL);
}

/* ---- Bring-up and Identify (5.15) ----------------------------------------------------- */

static void test_identify(void **state)
{
	(void)state;
	struct env e;
	env_start(&e, NULL, 512);
	const struct nvme_id_ctrl *ic = &e.in->id_ctrl;
	assert_true(e.in->vs >= NVME_VS(1, 4, 0));
	assert_int_equal(ic->sqes, 0x66); /* 64-byte entries, required and maximum */
	assert_int_equal(ic->cqes, 0x44);
	assert_true(ic->nn >= 1);
	assert_int_equal(e.in->nsid, 1);
	assert_int_equal(e.in->lba_size, 512);
	assert_int_equal(e.in->nsze, IMG_SIZE / 512);
	assert_true(ic->sn[0] != ' ' && ic->sn[0] != 0);
	assert_true(ic->mn[0] != ' ' && ic->mn[0] != 0);
	assert_true(ic->oncs & NVME_ONCS_DSM);
	assert_true(ic->oncs & NVME_ONCS_WRITE_ZEROES);
	assert_true(ic->oacs & NVME_OACS_DBBUF);

	/* namespace identification descriptors: at least one, each a known type */
	uint8_t *buf = nvme_drv_alloc(e.d, 4096);
	struct nvme_sqe cmd = { .opcode = NVME_ADM_IDENTIFY, .nsid = 1,
				.cdw10 = NVME_ID_CNS_NS_DESC_LIST };
	assert_int_equal(admin(&e, &cmd, buf, 4096, NULL), 0);
	const struct nvme_ns_id_desc *nd = (const void *)buf;
	assert_true(nd->nidt >= NVME_NIDT_EUI64 && nd->nidt <= NVME_NIDT_UUID);
	assert_int_equal(nd->nidl, nd->nidt == NVME_NIDT_EUI64 ? 8 : 16);

	/* an unknown CNS: Invalid Field in Command */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_IDENTIFY, .cdw10 = 0x7f };
	assert_int_equal(admin(&e, &cmd, buf, 4096, NULL), SC(0, NVME_SC_INVALID_FIELD));
	/* Identify Namespace of NSID 0 and of one past NN: Invalid Namespace */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_IDENTIFY, .nsid = 0, .cdw10 = NVME_ID_CNS_NS };
	assert_int_equal(admin(&e, &cmd, buf, 4096, NULL), SC(0, NVME_SC_INVALID_NS));
	cmd.nsid = ic->nn + 1;
	assert_int_equal(admin(&e, &cmd, buf, 4096, NULL), SC(0, NVME_SC_INVALID_NS));
	env_stop(&e);
}

/* Get Log Page (5.14): the error, SMART and firmware slot logs; an
 * unknown log page. */
static void test_log_pages(void **state)
{
	(void)state;
	struct env e;
	env_start(&e, NULL, 512);
	uint8_t *buf = nvme_drv_alloc(e.d, 4096);
	static const uint8_t lids[] = { NVME_LOG_ERROR, NVME_LOG_SMART, NVME_LOG_FW_SLOT };
	for (size_t i = 0; i < sizeof(lids); i++) {
		struct nvme_sqe cmd = { .opcode = NVME_ADM_GET_LOG_PAGE, .nsid = 0xffffffffu };
		cmd.cdw10 = lids[i] | ((512u / 4 - 1) << 16);
		assert_int_equal(admin(&e, &cmd, buf, 512, NULL), 0);
	}
	struct nvme_sqe cmd = { .opcode = NVME_ADM_GET_LOG_PAGE, .nsid = 0xffffffffu };
	cmd.cdw10 = 0x7e | ((512u / 4 - 1) << 16);
	assert_int_equal(admin(&e, &cmd, buf, 512, NULL), SC(1, NVME_SC_LOG_PAGE_INVALID));
	env_stop(&e);
}

/* ---- Reads and writes ---------------------------------------------------------------- */

/* Write a pattern in pieces of every shape the PRPs take (inside a page,
 * two pages, a list, a list chained across pages, a buffer starting
 * mid-page), read each back through the device and from the image file. */
static void rw_shapes(const struct nvme_drv_opts *o, unsigned lba)
{
	struct env e;
	env_start(&e, o, lba);
	size_t sizes[] = { lba, 4096, 8192, 3 * 4096 + lba, 64 << 10, 2u << 20, 3u << 20 };
	size_t shifts[] = { 0, 512, 0, 512, 1024, 0, 2048 };
	uint8_t *wb = nvme_drv_alloc(e.d, (4u << 20) + 4096);
	uint8_t *rb = nvme_drv_alloc(e.d, (4u << 20) + 4096);
	uint8_t *fb = malloc(4u << 20);
	uint64_t slba = 3;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i], sh = lba == 512 ? shifts[i] : 0;
		if (len > e.in->max_xfer) /* MDTS */
			break;
		uint32_t nlb = (uint32_t)(len / lba);
		tu_pattern(wb + sh, len, (uint32_t)i + 1);
		assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_WRITE, slba, nlb, wb + sh), 0);
		memset(rb + sh, 0xee, len);
		assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, slba, nlb, rb + sh), 0);
		assert_memory_equal(rb + sh, wb + sh, len);
		struct nvme_sqe f = { .opcode = NVME_CMD_FLUSH, .nsid = e.in->nsid };
		assert_int_equal(io(&e, &f, NULL, 0), 0);
		img_read(&e, slba * lba, fb, len);
		assert_memory_equal(fb, wb + sh, len);
		slba += nlb + 5;
	}
	free(fb);
	env_stop(&e);
}

/* A PRP list that starts 16 bytes before the end of its page: two entries
 * there, the second pointing to the next list page (4.3), whatever MDTS. */
static void test_prp_list_chain(void **state)
{
	(void)state;
	struct env e;
	env_start(&e, NULL, 512);
	uint8_t *b = nvme_drv_alloc(e.d, 16 * 4096), *r = nvme_drv_alloc(e.d, 16 * 4096);
	uint8_t *lists = nvme_drv_alloc(e.d, 2 * 4096);
	uint64_t *first = (uint64_t *)(lists + 4096 - 16), *second = (uint64_t *)(lists + 4096);
	tu_pattern(b, 16 * 4096, 31);
	uint64_t base = nvme_drv_iova(e.d, b);
	first[0] = base + 4096;
	first[1] = nvme_drv_iova(e.d, second);
	for (unsigned i = 0; i < 14; i++)
		second[i] = base + (2 + i) * 4096ull;
	struct nvme_sqe cmd;
	nvme_drv_rw_cmd(&cmd, NVME_CMD_WRITE, 1, 64, 128);
	cmd.prp1 = base;
	cmd.prp2 = nvme_drv_iova(e.d, first);
	assert_int_equal(io(&e, &cmd, NULL, 0), 0);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 64, 128, r), 0);
	assert_memory_equal(r, b, 16 * 4096);
	uint8_t *fb = malloc(16 * 4096);
	img_read(&e, 64 * 512, fb, 16 * 4096);
	assert_memory_equal(fb, b, 16 * 4096);
	free(fb);
	env_stop(&e);
}

static void test_rw_shared(void **state)
{
	(void)state;
	struct nvme_drv_opts o = { .max_xfer = 4u << 20 };
	rw_shapes(&o, 512);
}

static void test_rw_messages(void **state)
{
	(void)state;
	struct nvme_drv_opts o = { .max_xfer = 4u << 20, .no_fd = true };
	rw_shapes(&o, 512);
}

static void test_rw_irq_shadow_4k(void **state)
{
	(void)state;
	struct nvme_drv_opts o = { .max_xfer = 4u << 20, .irq = true, .shadow = true };
	rw_shapes(&o, 4096);
}

/* A client that rings through the device's ioeventfds but gets no shadow
 * doorbells (none asked for): an eventfd signal carries no value, so the
 * driver rings by messages, and commands complete. */
static void test_bells_without_shadow(void **state)
{
	(void)state;
	struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR }, .use_ioeventfds = true };
	struct nvme_drv_opts o = { .client = &cc, .timeout_ms = 3000 };
	struct env e;
	env_start(&e, &o, 512);
	assert_false(e.in->shadow);
	uint8_t *b = nvme_drv_alloc(e.d, 8192);
	tu_pattern(b, 4096, 12);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_WRITE, 7, 8, b), 0);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 7, 8, b + 4096), 0);
	assert_memory_equal(b + 4096, b, 4096);
	env_stop(&e);
}

/* Many commands in flight on several queues, each read checked. */
static void test_queues_depth(void **state)
{
	(void)state;
	struct nvme_drv_opts o = { .io_queues = 4, .io_depth = 32, .shadow = true };
	struct env e;
	env_start(&e, &o, 512);
	assert_int_equal(e.in->io_queues, 4);
	assert_true(e.in->shadow);
	/* fill the first MiB through the image file, read it back by 4 KiB */
	uint8_t *img = malloc(1u << 20);
	tu_pattern(img, 1u << 20, 77);
	assert_int_equal(pwrite(e.imgfd, img, 1u << 20, 0), 1 << 20);
	uint8_t *bufs = nvme_drv_alloc(e.d, 4 * 31 * 4096);
	unsigned next = 0;
	/* waves of 31 commands on each queue (depth 32), all in flight at once */
	for (int wave = 0; wave < 8; wave++) {
		unsigned owner[4][32];
		for (uint16_t q = 1; q <= 4; q++) {
			for (unsigned k = 0; k < 31; k++, next++) {
				struct nvme_sqe cmd;
				unsigned blk = (next * 7) % 256;
				nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, blk * 8, 8);
				uint8_t *b = bufs + ((size_t)(q - 1) * 31 + k) * 4096;
				memset(b, 0, 4096);
				int cid = nvme_drv_submit(e.d, q, &cmd, b, 4096);
				assert_true(cid >= 0 && cid < 32);
				owner[q - 1][cid] = blk | k << 16;
			}
			/* the queue is full: one entry always stays empty */
			struct nvme_sqe cmd;
			nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, 0, 8);
			assert_int_equal(nvme_drv_submit(e.d, q, &cmd, bufs, 4096), -EBUSY);
		}
		for (uint16_t q = 1; q <= 4; q++) {
			for (int got = 0; got < 31;) {
				struct nvme_cqe c[32];
				int n = nvme_drv_reap(e.d, q, c, 32, true);
				assert_true(n > 0);
				for (int i = 0; i < n; i++, got++) {
					assert_int_equal(c[i].status >> 1, 0);
					assert_int_equal(c[i].sq_id, q);
					unsigned blk = owner[q - 1][c[i].cid] & 0xffff;
					unsigned k = owner[q - 1][c[i].cid] >> 16;
					uint8_t *b = bufs + ((size_t)(q - 1) * 31 + k) * 4096;
					assert_memory_equal(b, img + (size_t)blk * 4096, 4096);
				}
			}
		}
	}
	free(img);
	env_stop(&e);
}

/* ---- Write Zeroes (6.16), Dataset Management (6.7) ------------------------------------- */

static void test_zeroes_deallocate(void **state)
{
	(void)state;
	struct env e;
	env_start(&e, NULL, 512);
	const struct nvme_id_ns *ns = &e.in->id_ns;
	uint8_t *b = nvme_drv_alloc(e.d, 64 << 10), zero[4096] = { 0 }, fb[4096];
	tu_pattern(b, 64 << 10, 5);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_WRITE, 100, 128, b), 0);

	/* Write Zeroes of blocks 108..115: zeroes there, the pattern around */
	struct nvme_sqe cmd;
	nvme_drv_rw_cmd(&cmd, NVME_CMD_WRITE_ZEROES, 1, 108, 8);
	assert_int_equal(io(&e, &cmd, NULL, 0), 0);
	img_read(&e, 108 * 512, fb, 4096);
	assert_memory_equal(fb, zero, 4096);
	img_read(&e, 100 * 512, fb, 4096);
	assert_memory_equal(fb, b, 4096);
	uint8_t *r = nvme_drv_alloc(e.d, 4096);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 108, 8, r), 0);
	assert_memory_equal(r, zero, 4096);
	/* with DEAC (deallocate) */
	nvme_drv_rw_cmd(&cmd, NVME_CMD_WRITE_ZEROES, 1, 116, 8);
	cmd.cdw12 |= NVME_WZ_DEAC;
	assert_int_equal(io(&e, &cmd, NULL, 0), 0);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 116, 8, r), 0);
	assert_memory_equal(r, zero, 4096);
	/* beyond the namespace: LBA Out of Range */
	nvme_drv_rw_cmd(&cmd, NVME_CMD_WRITE_ZEROES, 1, e.in->nsze - 4, 8);
	assert_int_equal(io(&e, &cmd, NULL, 0), SC(0, NVME_SC_LBA_RANGE));

	/* Dataset Management, deallocate two ranges; reads of deallocated
	 * blocks return zeroes when DLFEAT says so */
	struct nvme_dsm_range *rg = nvme_drv_alloc(e.d, 4096);
	rg[0] = (struct nvme_dsm_range){ .nlb = 8, .slba = 124 };
	rg[1] = (struct nvme_dsm_range){ .nlb = 8, .slba = 200 };
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_DSM, .nsid = 1, .cdw10 = 1, .cdw11 = NVME_DSM_AD };
	assert_int_equal(io(&e, &cmd, rg, 2 * sizeof(*rg)), 0);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 124, 8, r), 0);
	if ((ns->dlfeat & 7) == NVME_DLFEAT_ZEROES)
		assert_memory_equal(r, zero, 4096);
	img_read(&e, 132 * 512, fb, 4096); /* untouched after the range */
	assert_memory_equal(fb, b + 32 * 512, 4096);
	/* a range past the end: LBA Out of Range */
	rg[0] = (struct nvme_dsm_range){ .nlb = 8, .slba = e.in->nsze - 1 };
	cmd.cdw10 = 0;
	assert_int_equal(io(&e, &cmd, rg, sizeof(*rg)), SC(0, NVME_SC_LBA_RANGE));
	env_stop(&e);
}

/* ---- Malformed commands ---------------------------------------------------------------- */

static void test_bad_io_commands(void **state)
{
	(void)state;
	struct env e;
	env_start(&e, NULL, 512);
	uint8_t *b = nvme_drv_alloc(e.d, 8192);
	struct nvme_sqe cmd;

	/* an opcode the NVM command set does not have (4.6.1.2.1) */
	cmd = (struct nvme_sqe){ .opcode = 0x7e, .nsid = 1 };
	assert_int_equal(io(&e, &cmd, NULL, 0), SC(0, NVME_SC_INVALID_OPCODE));
	/* NSID 0 and an NSID past NN: Invalid Namespace or Format */
	nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 0, 0, 1);
	assert_int_equal(io(&e, &cmd, b, 512), SC(0, NVME_SC_INVALID_NS));
	nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 0x1000, 0, 1);
	assert_int_equal(io(&e, &cmd, b, 512), SC(0, NVME_SC_INVALID_NS));
	/* LBA Out of Range: the first block past the end, a range across it */
	nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, e.in->nsze, 1);
	assert_int_equal(io(&e, &cmd, b, 512), SC(0, NVME_SC_LBA_RANGE));
	nvme_drv_rw_cmd(&cmd, NVME_CMD_WRITE, 1, e.in->nsze - 1, 2);
	assert_int_equal(io(&e, &cmd, b, 1024), SC(0, NVME_SC_LBA_RANGE));
	nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, UINT64_MAX, 1);
	assert_int_equal(io(&e, &cmd, b, 512), SC(0, NVME_SC_LBA_RANGE));
	/* PRP1 where no memory is mapped: Data Transfer Error */
	nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, 0, 1);
	cmd.prp1 = 0x1000;
	assert_int_equal(io(&e, &cmd, NULL, 0), SC(0, NVME_SC_DATA_XFER_ERROR));
	/* PRP2 (the second page) not page aligned: PRP Offset Invalid (4.3) */
	nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, 0, 16);
	cmd.prp1 = nvme_drv_iova(e.d, b);
	cmd.prp2 = nvme_drv_iova(e.d, b) + 4096 + 8;
	assert_int_equal(io(&e, &cmd, NULL, 0), SC(0, NVME_SC_PRP_INVALID_OFFSET));
	/* a list entry with an offset */
	uint64_t *list = nvme_drv_alloc(e.d, 4096);
	list[0] = nvme_drv_iova(e.d, b) + 4096;
	list[1] = nvme_drv_iova(e.d, b) + 512;
	nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, 0, 24);
	cmd.prp1 = nvme_drv_iova(e.d, b);
	cmd.prp2 = nvme_drv_iova(e.d, list);
	assert_int_equal(io(&e, &cmd, NULL, 0), SC(0, NVME_SC_PRP_INVALID_OFFSET));
	/* PRP1 not dword aligned */
	nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, 0, 1);
	cmd.prp1 = nvme_drv_iova(e.d, b) + 2;
	assert_int_equal(io(&e, &cmd, NULL, 0), SC(0, NVME_SC_PRP_INVALID_OFFSET));
	/* SGLs, which the controller does not support (SGLS 0): Invalid Field */
	if (!e.in->id_ctrl.sgls) {
		nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, 0, 1);
		cmd.flags = 0x40;
		cmd.prp1 = nvme_drv_iova(e.d, b);
		assert_int_equal(io(&e, &cmd, NULL, 0), SC(0, NVME_SC_INVALID_FIELD));
	}
	/* the queue still works */
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 0, 16, b), 0);
	env_stop(&e);
}

static void test_bad_admin_commands(void **state)
{
	(void)state;
	struct nvme_drv_opts o = { .io_queues = 2, .io_depth = 16, .irq = true };
	struct env e;
	env_start(&e, &o, 512);
	uint8_t *q = nvme_drv_alloc(e.d, 64 * 4096);
	uint64_t qa = nvme_drv_iova(e.d, q);
	struct nvme_sqe cmd;
	uint32_t mqes = e.in->mqes;

	cmd = (struct nvme_sqe){ .opcode = 0x3f };
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(0, NVME_SC_INVALID_OPCODE));

	/* Delete (5.5, 5.6): the admin queue, one that does not exist, a CQ
	 * with an SQ on it; queue 2 in order, which frees its id (granted,
	 * since the driver created it) for the creation tests below */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_DELETE_SQ, .cdw10 = 0 };
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = 0x1000;
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QID_INVALID));
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_DELETE_CQ, .cdw10 = 0 };
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = 1;
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QUEUE_DELETION_INVALID));
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_DELETE_SQ, .cdw10 = 2 };
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), 0);
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QID_INVALID));
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_DELETE_CQ, .cdw10 = 2 };
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), 0);
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QID_INVALID));

	/* Create I/O Completion Queue (5.3) */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_CQ, .prp1 = qa, .cdw11 = NVME_CQ_PC };
	cmd.cdw10 = (15u << 16) | 0; /* the admin queue's id */
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = (15u << 16) | 1; /* exists */
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = (15u << 16) | 0x1000; /* beyond the queues granted */
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = (0u << 16) | 2; /* one entry */
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QUEUE_SIZE));
	if (mqes < 65536) {
		cmd.cdw10 = (mqes << 16) | 2; /* one more than CAP.MQES allows */
		assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QUEUE_SIZE));
	}
	cmd.cdw10 = (15u << 16) | 2;
	cmd.cdw11 = NVME_CQ_PC | NVME_CQ_IEN | (2047u << 16); /* no such vector */
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_INT_VECTOR_INVALID));
	cmd.cdw11 = NVME_CQ_PC;
	cmd.prp1 = qa + 64; /* not page aligned (PC=1): PRP Offset Invalid */
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(0, NVME_SC_PRP_INVALID_OFFSET));

	/* Create I/O Submission Queue (5.4) */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_SQ, .prp1 = qa };
	cmd.cdw10 = (15u << 16) | 2;
	cmd.cdw11 = NVME_SQ_PC | (2u << 16); /* CQ 2 does not exist (any more) */
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_CQ_INVALID));
	cmd.cdw11 = NVME_SQ_PC | (0u << 16); /* the admin CQ */
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_CQ_INVALID));
	cmd.cdw10 = (15u << 16) | 1; /* exists */
	cmd.cdw11 = NVME_SQ_PC | (1u << 16);
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QID_INVALID));
	cmd.cdw10 = (0u << 16) | 2; /* one entry, on CQ 1 */
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(1, NVME_SC_QUEUE_SIZE));
	/* a valid pair again: CQ 2, then SQ 2 on it */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_CQ, .prp1 = qa,
				 .cdw10 = (15u << 16) | 2, .cdw11 = NVME_CQ_PC };
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), 0);
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_SQ, .prp1 = qa + 4096,
				 .cdw10 = (15u << 16) | 2, .cdw11 = NVME_SQ_PC | (2u << 16) };
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), 0);

	/* Set Features (5.21): an unknown feature; Number of Queues after I/O
	 * queues exist */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_SET_FEATURES, .cdw10 = 0x7d };
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(0, NVME_SC_INVALID_FIELD));
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	assert_int_equal(admin(&e, &cmd, NULL, 0, NULL), SC(0, NVME_SC_CMD_SEQ_ERROR));
	/* Get Features Number of Queues: what was granted */
	struct nvme_cqe c;
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	assert_int_equal(admin(&e, &cmd, NULL, 0, &c), 0);
	assert_true((c.dw0 & 0xffff) + 1 >= 2);
	env_stop(&e);
}

/* Asynchronous events (5.2): a doorbell value beyond its queue's size and a
 * doorbell of no queue are reported as error events; more requests than
 * AERL + 1 are refused. Then a controller reset makes the queues whole. */
static void test_doorbell_errors(void **state)
{
	(void)state;
	struct nvme_drv_opts o = { .io_depth = 16 };
	struct env e;
	env_start(&e, &o, 512);
	struct uvfio_client *c = nvme_drv_client(e.d);
	const struct nvme_id_ctrl *ic = &e.in->id_ctrl;
	struct nvme_sqe aer = { .opcode = NVME_ADM_ASYNC_EVENT };

	/* AERL + 1 requests are taken; one more is refused */
	for (unsigned i = 0; i <= ic->aerl; i++)
		assert_true(nvme_drv_submit(e.d, 0, &aer, NULL, 0) >= 0);
	struct nvme_cqe cqe;
	assert_int_equal(nvme_drv_cmd(e.d, 0, &aer, NULL, 0, &cqe), SC(1, NVME_SC_ASYNC_LIMIT));

	/* SQ 1's tail at 16 = its size: Invalid Doorbell Write Value */
	uint32_t v = 16;
	assert_int_equal(uvfio_client_region_write(c, VFIO_PCI_BAR0_REGION_INDEX,
						   nvme_drv_doorbell(e.d, 1, false), &v, 4), 0);
	assert_int_equal(nvme_drv_reap(e.d, 0, &cqe, 1, true), 1);
	assert_int_equal(cqe.status >> 1, 0);
	assert_int_equal(cqe.dw0, NVME_AER_DW0(NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_DB_VALUE,
					       NVME_LOG_ERROR));
	/* the doorbell of SQ 5, which does not exist: Write to Invalid
	 * Doorbell Register (reported once the error log page has been read:
	 * an event type stays masked until then) */
	uint8_t *log = nvme_drv_alloc(e.d, 4096);
	struct nvme_sqe gl = { .opcode = NVME_ADM_GET_LOG_PAGE, .nsid = 0xffffffffu,
			       .cdw10 = NVME_LOG_ERROR | ((64u / 4 - 1) << 16) };
	assert_int_equal(admin(&e, &gl, log, 64, NULL), 0);
	v = 1;
	assert_int_equal(uvfio_client_region_write(c, VFIO_PCI_BAR0_REGION_INDEX,
						   nvme_drv_doorbell(e.d, 5, false), &v, 4), 0);
	int n;
	do
		n = nvme_drv_reap(e.d, 0, &cqe, 1, true);
	while (n == 1 && cqe.dw0 != NVME_AER_DW0(NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_DB,
						    NVME_LOG_ERROR));
	assert_int_equal(n, 1);

	/* controller reset: everything works again */
	assert_int_equal(nvme_drv_reset(e.d), 0);
	uint8_t *b = nvme_drv_alloc(e.d, 4096);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 0, 8, b), 0);
	env_stop(&e);
}

/* ---- Reset and shutdown (3.1.5, 3.1.6, 7.6) ------------------------------------------- */

static void test_reset_shutdown(void **state)
{
	(void)state;
	struct nvme_drv_opts o = { .shadow = true, .irq = true };
	struct env e;
	env_start(&e, &o, 512);
	struct uvfio_client *c = nvme_drv_client(e.d);
	uint8_t *b = nvme_drv_alloc(e.d, 4096), *r = nvme_drv_alloc(e.d, 4096);
	tu_pattern(b, 4096, 9);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_WRITE, 40, 8, b), 0);

	/* CC.EN 1 to 0: CSTS.RDY falls, the queues are gone; the bring-up again */
	assert_int_equal(nvme_drv_reset(e.d), 0);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 40, 8, r), 0);
	assert_memory_equal(r, b, 4096);

	/* normal shutdown: CSTS.SHST reaches complete, the data is in the file */
	assert_int_equal(nvme_drv_shutdown(e.d), 0);
	uint32_t csts;
	assert_int_equal(uvfio_client_region_read(c, VFIO_PCI_BAR0_REGION_INDEX, NVME_REG_CSTS,
						  &csts, 4), 0);
	assert_int_equal(csts & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE);
	uint8_t fb[4096];
	img_read(&e, 40 * 512, fb, 4096);
	assert_memory_equal(fb, b, 4096);
	/* and back: a reset after a shutdown brings it up again */
	assert_int_equal(nvme_drv_reset(e.d), 0);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 40, 8, r), 0);
	assert_memory_equal(r, b, 4096);

	/* vfio-user DEVICE_RESET: the controller is disabled */
	assert_int_equal(uvfio_client_reset(c), 0);
	assert_int_equal(uvfio_client_region_read(c, VFIO_PCI_BAR0_REGION_INDEX, NVME_REG_CSTS,
						  &csts, 4), 0);
	assert_int_equal(csts & NVME_CSTS_RDY, 0);
	assert_int_equal(nvme_drv_reset(e.d), 0);
	assert_int_equal(nvme_drv_rw(e.d, 1, NVME_CMD_READ, 40, 8, r), 0);
	assert_memory_equal(r, b, 4096);
	env_stop(&e);
}

/* ---- uvfio nvme (tools/nvme/cmd_nvme.c) ------------------------------------------------- */

/* Run build/uvfio with the arguments; its exit status; stdout into *out
 * (freed by the caller) when out is not NULL. */
static int tool(char **out, const char *fmt, ...)
{
	char cmd[1024], args[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s/uvfio %s 2>/dev/null", UVFIO_BUILD_ROOT, args);
	int st;
	char *o = tu_run(cmd, &st);
	if (out)
		*out = o;
	else
		free(o);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_tool(void **state)
{
	(void)state;
	struct env e;
	env_start(&e, NULL, 512);
	nvme_drv_close(e.d); /* the tool is the driver now */
	e.d = NULL;
	char *out;
	assert_int_equal(tool(&out, "nvme identify %s", e.dev.sock), 0);
	assert_non_null(strstr(out, "uvfio-nvme"));
	assert_non_null(strstr(out, "32768 blocks of 512 bytes"));
	free(out);
	assert_int_equal(tool(&out, "--json nvme identify %s", e.dev.sock), 0);
	assert_non_null(strstr(out, "\"nsze\": 32768"));
	free(out);
	/* a write by each way of driving the device, each read back */
	static const char *const ways[] = { "", "--no-fd", "--shadow --irq", "--no-fd --shadow",
					    "--no-fd --irq" };
	for (unsigned i = 0; i < 5; i++) {
		char text[32], hex[65] = "";
		snprintf(text, sizeof(text), "block-%u-written", i);
		for (size_t k = 0; text[k]; k++)
			snprintf(hex + 2 * k, 3, "%02x", (unsigned char)text[k]);
		assert_int_equal(tool(NULL, "nvme %s write %s %u %s", ways[i], e.dev.sock, 10 + i, text),
				 0);
		char fb[32] = { 0 };
		img_read(&e, (10 + i) * 512ull, fb, strlen(text));
		assert_string_equal(fb, text);
		assert_int_equal(tool(&out, "--json nvme %s read %s %u", ways[i], e.dev.sock, 10 + i), 0);
		assert_non_null(strstr(out, hex));
		free(out);
	}
	/* --file: 1000 bytes written as two blocks (the rest zeroes), read
	 * back into a file */
	char in[80], out_path[80];
	snprintf(in, sizeof(in), "%s.in", e.img);
	snprintf(out_path, sizeof(out_path), "%s.out", e.img);
	uint8_t data[1024] = { 0 }, got[1024];
	tu_pattern(data, 1000, 3);
	FILE *f = fopen(in, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, 1000, f), 1000);
	fclose(f);
	assert_int_equal(tool(NULL, "nvme write %s 20 --file %s", e.dev.sock, in), 0);
	assert_int_equal(tool(NULL, "nvme read %s 20 2 --file %s", e.dev.sock, out_path), 0);
	f = fopen(out_path, "r");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, sizeof(got), f), 1024);
	fclose(f);
	assert_memory_equal(got, data, 1024);
	img_read(&e, 20 * 512, got, 1024);
	assert_memory_equal(got, data, 1024);
	unlink(in);
	unlink(out_path);
	/* errors: usage 2, no server 3 */
	assert_int_equal(tool(NULL, "nvme format %s", e.dev.sock), 2);
	assert_int_equal(tool(NULL, "nvme read %s 32768", e.dev.sock), 2);
	assert_int_equal(tool(NULL, "nvme read %s banana", e.dev.sock), 2);
	assert_int_equal(tool(NULL, "nvme write %s 0", e.dev.sock), 2);
	assert_int_equal(tool(NULL, "nvme identify /nonexistent/socket"), 3);
	env_stop(&e);
}

/* Memory taken away under the controller (DMA_UNMAP of the driver's arena):
 * fetching the next command fails, the controller reports a fatal status
 * (CSTS.CFS) and the waiting driver says so at once instead of waiting for
 * its timeout; a reset and the memory given back make it whole again. */
static void test_fatal_status(void **state)
{
	(void)state;
	struct nvme_drv_opts o = { .timeout_ms = 8000 };
	struct env e;
	env_start(&e, &o, 512);
	struct uvfio_client *c = nvme_drv_client(e.d);
	uint8_t *b = nvme_drv_alloc(e.d, 4096);
	uint64_t size = 16u << 20; /* the arena: the default mem_size */
	uint64_t base = nvme_drv_iova(e.d, b) & ~(size - 1);
	assert_int_equal(uvfio_client_dma_unmap(c, base, size), 0);
	struct nvme_sqe cmd;
	nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, 1, 0, 8);
	assert_int_equal(nvme_drv_cmd(e.d, 1, &cmd, b, 4096, NULL), -EIO);
	uint32_t csts;
	assert_int_equal(uvfio_client_region_read(c, VFIO_PCI_BAR0_REGION_INDEX, NVME_REG_CSTS,
						  &csts, 4), 0);
	assert_true(csts & NVME_CSTS_CFS);
	env_stop(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_identify, tu_dev_teardown),
		cmocka_unit_test_teardown(test_log_pages, tu_dev_teardown),
		cmocka_unit_test_teardown(test_prp_list_chain, tu_dev_teardown),
		cmocka_unit_test_teardown(test_rw_shared, tu_dev_teardown),
		cmocka_unit_test_teardown(test_rw_messages, tu_dev_teardown),
		cmocka_unit_test_teardown(test_rw_irq_shadow_4k, tu_dev_teardown),
		cmocka_unit_test_teardown(test_bells_without_shadow, tu_dev_teardown),
		cmocka_unit_test_teardown(test_queues_depth, tu_dev_teardown),
		cmocka_unit_test_teardown(test_zeroes_deallocate, tu_dev_teardown),
		cmocka_unit_test_teardown(test_bad_io_commands, tu_dev_teardown),
		cmocka_unit_test_teardown(test_bad_admin_commands, tu_dev_teardown),
		cmocka_unit_test_teardown(test_doorbell_errors, tu_dev_teardown),
		cmocka_unit_test_teardown(test_reset_shutdown, tu_dev_teardown),
		cmocka_unit_test_teardown(test_fatal_status, tu_dev_teardown),
		cmocka_unit_test_teardown(test_tool, tu_dev_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
