/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * admin.c - the admin command set (NVMe 1.4 section 5): Identify, Get/Set
 * Features, Create/Delete I/O queues, Get Log Page, Asynchronous Event
 * Request, Abort, Doorbell Buffer Config. Runs on the worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme_int.h"

bool nvme_sq_create(struct nvme_ctrl *c, uint16_t qid, uint16_t cqid, uint32_t size, uint64_t addr);
void nvme_cq_create(struct nvme_ctrl *c, uint16_t qid, uint32_t size, uint64_t addr, bool ien,
		    uint16_t iv);
void nvme_cq_delete(struct nvme_ctrl *c, uint16_t qid);

static void pad(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);
	memset(dst, ' ', n);
	memcpy(dst, src, l < n ? l : n);
}

static void put128(uint8_t f[16], uint64_t v)
{
	memset(f, 0, 16);
	memcpy(f, &v, 8);
}

/* ---- Identify (5.15) ---- */

/* Whether guest memory at iova is mapped here (shared by descriptor). */
static bool mapped(struct nvme_ctrl *c, uint64_t iova)
{
	struct uvfio_sg sg;
	if (!c->host.sg_get || c->host.sg_get(c->host.opaque, iova, 1, UVFIO_DMA_FLAG_READ, &sg, 1) != 1)
		return false;
	bool m = sg.vaddr != NULL;
	c->host.sg_put(c->host.opaque, &sg, 1);
	return m;
}

static void id_ctrl(struct nvme_ctrl *c, struct nvme_id_ctrl *id, uint64_t buf_iova)
{
	id->vid = c->vid;
	id->ssvid = c->ssvid;
	pad(id->sn, sizeof(id->sn), c->sn);
	pad(id->mn, sizeof(id->mn), "uvfio-nvme");
	pad(id->fr, sizeof(id->fr), "0.1");
	id->rab = 6;
	id->cmic = 0;
	id->mdts = NVME_MDTS;
	id->cntlid = 1;
	id->ver = NVME_VS_1_4;
	id->cntrltype = 1; /* I/O controller */
	/* Shadow doorbells pay where the host's memory is mapped here; through
	 * DMA messages every look at them would be a round trip, so a host
	 * whose memory (the Identify buffer's) is not shared is not offered
	 * them and rings the registers, whose writes carry the values. */
	id->oacs = mapped(c, buf_iova) ? NVME_OACS_DBBUF : 0;
	id->acl = NVME_ACL;
	id->aerl = NVME_AERL;
	id->frmw = 0x3;    /* one slot, slot 1 read-only */
	id->lpa = NVME_LPA_EXT_DATA;
	id->elpe = NVME_ERRLOG - 1;
	id->npss = 0;
	id->wctemp = 0x157;
	id->cctemp = 0x175;
	put128(id->tnvmcap, c->be.size);
	id->sqes = (NVME_SQES_LOG2 << 4) | NVME_SQES_LOG2;
	id->cqes = (NVME_CQES_LOG2 << 4) | NVME_CQES_LOG2;
	id->nn = 1;
	id->oncs = NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES;
	id->vwc = NVME_VWC_PRESENT;
	id->sgls = 0;
	snprintf(id->subnqn, sizeof(id->subnqn), "nqn.2026-12.io.uvfio:nvme:%s", c->sn);
	id->psd[0].max_power = 2500; /* 25 W, in centiwatts */
}

static void id_ns(struct nvme_ctrl *c, struct nvme_id_ns *ns)
{
	ns->nsze = ns->ncap = ns->nuse = c->nlb;
	ns->nsfeat = 0;
	ns->nlbaf = 0;
	ns->flbas = 0;
	ns->dlfeat = NVME_DLFEAT_ZEROES | NVME_DLFEAT_WZ_DEAC;
	put128(ns->nvmcap, c->be.size);
	memcpy(ns->nguid, c->uid, 16);
	ns->lbaf[0].ds = (uint8_t)c->lba_shift;
}

static uint16_t identify(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint8_t *buf = calloc(1, NVME_IDENTIFY_SIZE);
	if (!buf)
		return SC_INTERNAL;
	uint16_t st = 0;
	switch (NVME_ID_CNS(cmd->cdw10)) {
	case NVME_ID_CNS_NS:
		if (cmd->nsid != 1)
			st = SC_INVALID_NS;
		else
			id_ns(c, (struct nvme_id_ns *)buf);
		break;
	case NVME_ID_CNS_CTRL:
		id_ctrl(c, (struct nvme_id_ctrl *)buf, cmd->prp1);
		break;
	case NVME_ID_CNS_NS_ACTIVE_LIST:
		if (cmd->nsid >= 0xfffffffeu)
			st = SC_INVALID_NS;
		else if (cmd->nsid < 1)
			buf[0] = 1; /* NSID 1, little endian */
		break;
	case NVME_ID_CNS_NS_DESC_LIST:
		if (cmd->nsid != 1) {
			st = SC_INVALID_NS;
		} else {
			struct nvme_ns_id_desc d = { .nidt = NVME_NIDT_NGUID, .nidl = 16 };
			memcpy(buf, &d, sizeof(d));
			memcpy(buf + 4, c->uid, 16);
			d.nidt = NVME_NIDT_UUID;
			memcpy(buf + 20, &d, sizeof(d));
			memcpy(buf + 24, c->uid, 16);
			buf[24 + 6] = (uint8_t)((buf[24 + 6] & 0x0f) | 0x40); /* version 4 */
			buf[24 + 8] = (uint8_t)((buf[24 + 8] & 0x3f) | 0x80); /* variant */
		}
		break;
	default:
		st = SC_INVALID_FIELD;
	}
	if (!st)
		st = nvme_xfer_prp(c, cmd, buf, NVME_IDENTIFY_SIZE, true);
	free(buf);
	return st;
}

/* ---- Get Log Page (5.14) ---- */

static size_t log_error(struct nvme_ctrl *c, uint8_t *buf)
{
	size_t n = c->err_count < NVME_ERRLOG ? (size_t)c->err_count : NVME_ERRLOG;
	for (size_t i = 0; i < n; i++) /* newest first */
		memcpy(buf + i * sizeof(struct nvme_error_log),
		       &c->errlog[(c->err_count - 1 - i) % NVME_ERRLOG], sizeof(struct nvme_error_log));
	return NVME_ERRLOG * sizeof(struct nvme_error_log);
}

static size_t log_smart(struct nvme_ctrl *c, uint8_t *buf)
{
	struct nvme_smart_log *s = (struct nvme_smart_log *)buf;
	uint16_t kelvin = 313;
	memcpy(s->temperature, &kelvin, 2);
	s->avail_spare = 100;
	s->spare_thresh = 10;
	put128(s->data_units_read, (c->units_read + 999) / 1000);
	put128(s->data_units_written, (c->units_written + 999) / 1000);
	put128(s->host_reads, c->host_reads);
	put128(s->host_writes, c->host_writes);
	put128(s->power_cycles, c->power_cycles);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	put128(s->power_on_hours, (now - c->start_ns) / 3600000000000ull);
	put128(s->media_errors, c->media_errors);
	put128(s->num_err_log_entries, c->err_count);
	return sizeof(*s);
}

static size_t log_fw(struct nvme_ctrl *c, uint8_t *buf)
{
	(void)c;
	struct nvme_fw_slot_log *f = (struct nvme_fw_slot_log *)buf;
	f->afi = 1;
	pad(f->frs[0], sizeof(f->frs[0]), "0.1");
	return sizeof(*f);
}

static uint16_t get_log_page(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint64_t numd = ((uint64_t)NVME_LOG_NUMDU(cmd->cdw11) << 16 | NVME_LOG_NUMDL(cmd->cdw10)) + 1;
	uint64_t len = numd * 4, off = (uint64_t)cmd->cdw13 << 32 | cmd->cdw12;
	if (off & 3 || len > NVME_MAX_XFER)
		return SC_INVALID_FIELD;
	uint8_t lid = NVME_LOG_LID(cmd->cdw10);
	uint8_t *log = calloc(1, NVME_ERRLOG * sizeof(struct nvme_error_log));
	uint8_t *out = calloc(1, len);
	uint16_t st = 0;
	size_t size = 0;
	if (!log || !out) {
		st = SC_INTERNAL;
		goto out;
	}
	switch (lid) {
	case NVME_LOG_ERROR: size = log_error(c, log); break;
	case NVME_LOG_SMART:
		if (cmd->nsid != 0 && cmd->nsid != 1 && cmd->nsid != 0xffffffffu) {
			st = SC_INVALID_NS;
			goto out;
		}
		size = log_smart(c, log);
		break;
	case NVME_LOG_FW_SLOT: size = log_fw(c, log); break;
	default: st = SC_CMD(NVME_SC_LOG_PAGE_INVALID); goto out;
	}
	if (off >= size) {
		st = SC_INVALID_FIELD;
		goto out;
	}
	memcpy(out, log + off, size - off < len ? size - off : len);
	st = nvme_xfer_prp(c, cmd, out, len, true);
	if (!st && !(cmd->cdw10 & NVME_LOG_RAE)) {
		/* reading the page re-arms its event type (5.2) */
		if (lid == NVME_LOG_ERROR)
			c->aer_masked &= (uint8_t)~(1u << NVME_AER_TYPE_ERROR);
		if (lid == NVME_LOG_SMART)
			c->aer_masked &= (uint8_t)~(1u << NVME_AER_TYPE_SMART);
	}
out:
	free(log);
	free(out);
	return st;
}

/* ---- Features (5.21, 5.9) ---- */

static uint16_t set_features(struct nvme_ctrl *c, struct nvme_req *r, const struct nvme_sqe *cmd)
{
	uint32_t v = cmd->cdw11;
	uint8_t fid = NVME_FEAT_FID(cmd->cdw10);
	if (cmd->cdw10 & NVME_FEAT_SV)
		return SC_CMD(NVME_SC_FEATURE_NOT_SAVEABLE);
	if (cmd->nsid && cmd->nsid != 0xffffffffu)
		return fid == NVME_FEAT_ERR_RECOVERY && cmd->nsid == 1
			       ? 0 : SC_CMD(NVME_SC_FEATURE_NOT_NS_SPECIFIC);
	switch (fid) {
	case NVME_FEAT_ARBITRATION: c->feat_arb = v; break;
	case NVME_FEAT_POWER_MGMT:
		if (v & 0x1f)
			return SC_INVALID_FIELD; /* power state 0 only (NPSS 0) */
		c->feat_pm = v & 0xff;
		break;
	case NVME_FEAT_TEMP_THRESH: {
		unsigned tmpsel = (v >> 16) & 0xf, thsel = (v >> 20) & 0x3;
		if (tmpsel != 0 || thsel > 1)
			return SC_INVALID_FIELD;
		c->feat_temp[thsel] = v & 0xffff;
		break;
	}
	case NVME_FEAT_ERR_RECOVERY:
		if (v & (1u << 16))
			return SC_INVALID_FIELD; /* DULBE needs NSFEAT.DAE */
		c->feat_errrec = v & 0xffff;
		break;
	case NVME_FEAT_VOLATILE_WC: c->feat_vwc = v & 1; break;
	case NVME_FEAT_NUM_QUEUES:
		if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff)
			return SC_INVALID_FIELD;
		if ((c->sq_used | c->cq_used) & ~1ull)
			return SC_GEN(NVME_SC_CMD_SEQ_ERROR) | NVME_STATUS_DNR;
		/* every queue this controller has is the host's */
		r->dw0 = (uint32_t)c->ncqa << 16 | c->nsqa;
		c->nq_set = true;
		break;
	case NVME_FEAT_IRQ_COALESCE: c->feat_coalesce = v & 0xffff; break;
	case NVME_FEAT_IRQ_CONFIG:
		if ((v & 0xffff) >= c->host.nvec || (v & 0xffff) >= NVME_NQ)
			return SC_INVALID_FIELD;
		c->feat_ivc_cd[v & 0xffff] = (v >> 16) & 1;
		break;
	case NVME_FEAT_WRITE_ATOMIC: c->feat_wa = v & 1; break;
	case NVME_FEAT_ASYNC_EVENT: c->feat_async = v & 0x3ff; break;
	default: return SC_INVALID_FIELD;
	}
	return 0;
}

static uint16_t get_features(struct nvme_ctrl *c, struct nvme_req *r, const struct nvme_sqe *cmd)
{
	uint8_t fid = NVME_FEAT_FID(cmd->cdw10);
	unsigned sel = NVME_FEAT_SEL(cmd->cdw10);
	if (sel > NVME_FEAT_SEL_SUPPORTED)
		return SC_INVALID_FIELD;
	uint32_t cur, def;
	switch (fid) {
	case NVME_FEAT_ARBITRATION: cur = c->feat_arb; def = 0; break;
	case NVME_FEAT_POWER_MGMT: cur = c->feat_pm; def = 0; break;
	case NVME_FEAT_TEMP_THRESH: {
		unsigned tmpsel = (cmd->cdw11 >> 16) & 0xf, thsel = (cmd->cdw11 >> 20) & 0x3;
		if (tmpsel != 0 || thsel > 1)
			return SC_INVALID_FIELD;
		cur = c->feat_temp[thsel];
		def = thsel ? 0 : 0x157;
		break;
	}
	case NVME_FEAT_ERR_RECOVERY: cur = c->feat_errrec; def = 0; break;
	case NVME_FEAT_VOLATILE_WC: cur = c->feat_vwc; def = 1; break;
	case NVME_FEAT_NUM_QUEUES:
		cur = def = (uint32_t)c->ncqa << 16 | c->nsqa;
		break;
	case NVME_FEAT_IRQ_COALESCE: cur = c->feat_coalesce; def = 0; break;
	case NVME_FEAT_IRQ_CONFIG: {
		uint32_t iv = cmd->cdw11 & 0xffff;
		if (iv >= c->host.nvec || iv >= NVME_NQ)
			return SC_INVALID_FIELD;
		cur = iv | (uint32_t)c->feat_ivc_cd[iv] << 16;
		def = iv;
		break;
	}
	case NVME_FEAT_WRITE_ATOMIC: cur = c->feat_wa; def = 0; break;
	case NVME_FEAT_ASYNC_EVENT: cur = c->feat_async; def = 0; break;
	default: return SC_INVALID_FIELD;
	}
	if (sel == NVME_FEAT_SEL_SUPPORTED)
		r->dw0 = fid == NVME_FEAT_NUM_QUEUES ? 0 : NVME_FEAT_CAP_CHANGE;
	else
		r->dw0 = sel == NVME_FEAT_SEL_CURRENT ? cur : def; /* nothing is saveable */
	return 0;
}

/* ---- Queues (5.3-5.6) ---- */

static bool page_aligned(struct nvme_ctrl *c, uint64_t a)
{
	return !(a & ((1ull << c->page_shift) - 1));
}

static uint16_t create_cq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint32_t qid = NVME_QUEUE_QID(cmd->cdw10), qsize = NVME_QUEUE_QSIZE(cmd->cdw10);
	uint32_t iv = NVME_CQ_IV(cmd->cdw11);
	bool ien = cmd->cdw11 & NVME_CQ_IEN;
	if (qid == 0 || qid > c->nr_ioq || c->cq[qid].used)
		return SC_CMD(NVME_SC_QID_INVALID);
	if (qsize == 0 || qsize > NVME_MQES)
		return SC_CMD(NVME_SC_QUEUE_SIZE);
	if (!(cmd->cdw11 & NVME_CQ_PC))
		return SC_INVALID_FIELD; /* CAP.CQR: contiguous queues only */
	if (ien && (iv >= c->host.nvec || iv >= NVME_NQ))
		return SC_CMD(NVME_SC_INT_VECTOR_INVALID);
	if (!page_aligned(c, cmd->prp1))
		return SC_GEN(NVME_SC_PRP_INVALID_OFFSET) | NVME_STATUS_DNR;
	nvme_cq_create(c, (uint16_t)qid, qsize + 1, cmd->prp1, ien, (uint16_t)iv);
	if (c->dbbuf) {
		uint32_t zero = 0;
		c->shadow[2 * qid + 1] = 0;
		c->host.dma_write(c->host.opaque, c->dbbuf_dbs + (2 * qid + 1) * 4, &zero, 4);
		c->host.dma_write(c->host.opaque, c->dbbuf_eis + (2 * qid + 1) * 4, &zero, 4);
	}
	return 0;
}

static uint16_t create_sq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint32_t qid = NVME_QUEUE_QID(cmd->cdw10), qsize = NVME_QUEUE_QSIZE(cmd->cdw10);
	uint32_t cqid = NVME_SQ_CQID(cmd->cdw11);
	if (qid == 0 || qid > c->nr_ioq || c->sq[qid].reqs)
		return SC_CMD(NVME_SC_QID_INVALID);
	if (qsize == 0 || qsize > NVME_MQES)
		return SC_CMD(NVME_SC_QUEUE_SIZE);
	if (cqid == 0 || cqid > c->nr_ioq || !c->cq[cqid].used)
		return SC_CMD(NVME_SC_CQ_INVALID);
	if (!(cmd->cdw11 & NVME_SQ_PC))
		return SC_INVALID_FIELD;
	if (!page_aligned(c, cmd->prp1))
		return SC_GEN(NVME_SC_PRP_INVALID_OFFSET) | NVME_STATUS_DNR;
	if (!nvme_sq_create(c, (uint16_t)qid, (uint16_t)cqid, qsize + 1, cmd->prp1))
		return SC_INTERNAL;
	if (c->dbbuf) {
		uint32_t zero = 0;
		c->shadow[2 * qid] = 0;
		c->host.dma_write(c->host.opaque, c->dbbuf_dbs + 2 * qid * 4, &zero, 4);
		c->host.dma_write(c->host.opaque, c->dbbuf_eis + 2 * qid * 4, &zero, 4);
	}
	return 0;
}

/* Returns true when the command completes now. */
static bool delete_sq(struct nvme_ctrl *c, struct nvme_req *r, const struct nvme_sqe *cmd)
{
	uint32_t qid = NVME_QUEUE_QID(cmd->cdw10);
	if (qid == 0 || qid > c->nr_ioq || !c->sq[qid].used) {
		r->status = SC_CMD(NVME_SC_QID_INVALID);
		return true;
	}
	struct nvme_sq *sq = &c->sq[qid];
	sq->used = false; /* nothing more is fetched; doorbells to it are invalid */
	c->sq_used &= ~(1ull << qid);
	if (sq->inflight) {
		sq->delete_req = r; /* completes once its backend requests are done */
		return false;
	}
	nvme_sq_release(c, sq);
	return true;
}

static uint16_t delete_cq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint32_t qid = NVME_QUEUE_QID(cmd->cdw10);
	if (qid == 0 || qid > c->nr_ioq || !c->cq[qid].used)
		return SC_CMD(NVME_SC_QID_INVALID);
	if (c->cq[qid].nsq)
		return SC_CMD(NVME_SC_QUEUE_DELETION_INVALID);
	nvme_cq_delete(c, (uint16_t)qid);
	return 0;
}

/* ---- Doorbell Buffer Config (5.7) ---- */

static uint16_t dbbuf_config(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint64_t dbs = cmd->prp1, eis = cmd->prp2;
	if (!page_aligned(c, dbs) || !page_aligned(c, eis))
		return SC_INVALID_FIELD;
	uint32_t v[2 * NVME_NQ] = { 0 };
	for (unsigned q = 1; q <= c->nr_ioq; q++) {
		v[2 * q] = c->sq[q].tail;
		v[2 * q + 1] = c->cq[q].head;
	}
	size_t n = 8u * (c->nr_ioq + 1);
	if (c->host.dma_write(c->host.opaque, dbs, v, n) < 0 ||
	    c->host.dma_write(c->host.opaque, eis, v, n) < 0)
		return SC_XFER_ERROR;
	memcpy(c->shadow, v, sizeof(v));
	/* polling the shadow doorbells pays only where they are mapped memory
	 * (through DMA messages each look is a round trip) */
	c->dbbuf_mapped = false;
	struct uvfio_sg sg;
	if (c->host.sg_get && c->host.sg_get(c->host.opaque, dbs, n, UVFIO_DMA_FLAG_READ, &sg, 1) == 1) {
		c->dbbuf_mapped = sg.vaddr != NULL;
		c->host.sg_put(c->host.opaque, &sg, 1);
	}
	c->dbbuf_dbs = dbs;
	c->dbbuf_eis = eis;
	c->dbbuf = true;
	c->eventidx_stale = false;
	return 0;
}

/* ---- Asynchronous events (5.2) ---- */

void nvme_aer_event(struct nvme_ctrl *c, uint32_t dw0)
{
	for (unsigned i = 0; i < c->naer_queue; i++)
		if (c->aer_queue[i] == dw0)
			return; /* already waiting to be reported */
	if (c->naer_queue < sizeof(c->aer_queue) / sizeof(c->aer_queue[0]))
		c->aer_queue[c->naer_queue++] = dw0;
}

void nvme_aer_dispatch(struct nvme_ctrl *c)
{
	unsigned i = 0;
	while (c->naer && i < c->naer_queue) {
		uint32_t dw0 = c->aer_queue[i];
		uint8_t type = dw0 & 7;
		if (c->aer_masked & (1u << type)) {
			i++; /* reported before, its log page not read yet */
			continue;
		}
		memmove(&c->aer_queue[i], &c->aer_queue[i + 1],
			(c->naer_queue - i - 1) * sizeof(c->aer_queue[0]));
		c->naer_queue--;
		c->aer_masked |= (uint8_t)(1u << type);
		struct nvme_req *r = c->aer[--c->naer];
		r->dw0 = dw0;
		nvme_complete(c, r);
	}
}

/* ---- dispatch ---- */

void nvme_admin_exec(struct nvme_ctrl *c, struct nvme_req *r, const struct nvme_sqe *cmd)
{
	if (cmd->flags & (NVME_FLAGS_FUSE_MASK | NVME_FLAGS_PSDT_MASK)) {
		r->status = SC_INVALID_FIELD; /* no fused commands, no SGLs */
		nvme_complete(c, r);
		return;
	}
	switch (cmd->opcode) {
	case NVME_ADM_IDENTIFY: r->status = identify(c, cmd); break;
	case NVME_ADM_GET_LOG_PAGE: r->status = get_log_page(c, cmd); break;
	case NVME_ADM_SET_FEATURES: r->status = set_features(c, r, cmd); break;
	case NVME_ADM_GET_FEATURES: r->status = get_features(c, r, cmd); break;
	case NVME_ADM_CREATE_CQ: r->status = create_cq(c, cmd); break;
	case NVME_ADM_CREATE_SQ: r->status = create_sq(c, cmd); break;
	case NVME_ADM_DELETE_SQ:
		if (!delete_sq(c, r, cmd))
			return;
		break;
	case NVME_ADM_DELETE_CQ: r->status = delete_cq(c, cmd); break;
	case NVME_ADM_DBBUF_CONFIG: r->status = dbbuf_config(c, cmd); break;
	case NVME_ADM_ABORT:
		r->dw0 = 1; /* commands start as they are fetched: nothing is left to abort */
		break;
	case NVME_ADM_ASYNC_EVENT:
		if (c->naer > NVME_AERL) {
			r->status = SC_CMD(NVME_SC_ASYNC_LIMIT);
			break;
		}
		c->aer[c->naer++] = r;
		return; /* completes with an event */
	default: r->status = SC_INVALID_OPCODE; break;
	}
	nvme_complete(c, r);
}
