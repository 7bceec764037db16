/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctrl.c - the NVMe controller's registers, doorbells, queues and
 * completions (NVMe 1.4 sections 3.1 registers, 4.1 queues, 7.6 reset).
 *
 * The serving thread writes registers and doorbells under reg_mu or with
 * atomics and wakes the worker; the worker owns every queue and command.
 * Nothing here ever makes the serving thread wait for the worker.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvme_int.h"

#define ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ATOMIC_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ATOMIC_XCHG(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define ATOMIC_OR(p, v) __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define ATOMIC_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)

void dev_log_line(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cap_value(void)
{
	return (uint64_t)NVME_MQES | NVME_CAP_CQR | (20ull << NVME_CAP_TO_SHIFT) /* 10 s */ |
	       NVME_CAP_CSS_NVM | (0ull << NVME_CAP_MPSMIN_SHIFT) | (4ull << NVME_CAP_MPSMAX_SHIFT);
}

/* ---- serving thread ---------------------------------------------------------------- */

static void wake(struct nvme_ctrl *c)
{
	if (c->wake_fd >= 0 && ATOMIC_LOAD(&c->sleeping)) {
		uint64_t one = 1;
		if (write(c->wake_fd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow in practice; a full one is awake anyway */
		}
	}
}

int nvme_reg_read(struct nvme_ctrl *c, uint64_t off, void *buf, size_t len)
{
	if (len > 8 || off + len > NVME_BAR0_SIZE)
		return -EINVAL;
	if (off >= NVME_REG_DBS) {
		memset(buf, 0, len); /* doorbells read as 0 */
		return 0;
	}
	uint8_t img[0x40] = { 0 };
	uint64_t cap = cap_value();
	uint32_t vs = NVME_VS_1_4;
	pthread_mutex_lock(&c->reg_mu);
	memcpy(img + NVME_REG_CAP, &cap, 8);
	memcpy(img + NVME_REG_VS, &vs, 4);
	memcpy(img + NVME_REG_INTMS, &c->intms, 4);
	memcpy(img + NVME_REG_INTMC, &c->intms, 4);
	memcpy(img + NVME_REG_CC, &c->cc, 4);
	memcpy(img + NVME_REG_CSTS, &c->csts, 4);
	memcpy(img + NVME_REG_AQA, &c->aqa, 4);
	memcpy(img + NVME_REG_ASQ, &c->asq, 8);
	memcpy(img + NVME_REG_ACQ, &c->acq, 8);
	pthread_mutex_unlock(&c->reg_mu);
	if (off + len <= sizeof(img))
		memcpy(buf, img + off, len);
	else
		memset(buf, 0, len); /* reserved and command set specific: 0 */
	return 0;
}

static void set_dword(uint64_t *reg, unsigned half, uint32_t v)
{
	*reg = half ? (*reg & 0xffffffffull) | ((uint64_t)v << 32)
		    : (*reg & ~0xffffffffull) | v;
}

static void doorbell_write(struct nvme_ctrl *c, uint64_t off, uint32_t v)
{
	uint64_t idx = (off - NVME_REG_DBS) / 4;
	uint64_t qid = idx / 2;
	if ((off & 3) || qid > c->nr_ioq) {
		ATOMIC_ADD(&c->db_bad, 1); /* no queue can ever have this doorbell */
	} else if (idx & 1) {
		ATOMIC_STORE(&c->db_cq[qid], v);
		ATOMIC_OR(&c->db_cq_dirty, 1ull << qid);
	} else {
		ATOMIC_STORE(&c->db_sq[qid], v);
		ATOMIC_OR(&c->db_sq_dirty, 1ull << qid);
	}
	wake(c);
}

static void reg_write32(struct nvme_ctrl *c, uint64_t off, uint32_t v)
{
	pthread_mutex_lock(&c->reg_mu);
	switch (off) {
	case NVME_REG_INTMS: c->intms |= v; break;
	case NVME_REG_INTMC: c->intms &= ~v; break;
	case NVME_REG_CC:
		if ((c->cc & NVME_CC_EN) && !(v & NVME_CC_EN))
			ATOMIC_ADD(&c->reset_gen, 1); /* 1 -> 0: a controller reset (7.6.1) */
		c->cc = v & 0x00ffc7f1u;
		break;
	case NVME_REG_AQA: c->aqa = v & 0x0fff0fffu; break;
	case NVME_REG_ASQ: set_dword(&c->asq, 0, v & ~0xfffu); break;
	case NVME_REG_ASQ + 4: set_dword(&c->asq, 1, v); break;
	case NVME_REG_ACQ: set_dword(&c->acq, 0, v & ~0xfffu); break;
	case NVME_REG_ACQ + 4: set_dword(&c->acq, 1, v); break;
	default: break; /* read-only, NSSR (not supported: CAP.NSSRS 0), reserved */
	}
	ATOMIC_ADD(&c->reg_gen, 1);
	pthread_mutex_unlock(&c->reg_mu);
	wake(c);
}

int nvme_reg_write(struct nvme_ctrl *c, uint64_t off, const void *buf, size_t len)
{
	if (off + len > NVME_BAR0_SIZE || (len != 4 && len != 8) || (off & 3))
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v;
		memcpy(&v, (const uint8_t *)buf + i, 4);
		if (off + i >= NVME_REG_DBS)
			doorbell_write(c, off + i, v);
		else
			reg_write32(c, off + i, v);
	}
	return 0;
}

void nvme_doorbell_kick(struct nvme_ctrl *c, uint64_t off)
{
	(void)off;
	ATOMIC_ADD(&c->kicks, 1);
	wake(c);
}

void nvme_ctrl_reset_async(struct nvme_ctrl *c)
{
	pthread_mutex_lock(&c->reg_mu);
	c->cc = c->csts = c->aqa = c->intms = 0;
	c->asq = c->acq = 0;
	ATOMIC_ADD(&c->reset_gen, 1);
	ATOMIC_ADD(&c->reg_gen, 1);
	pthread_mutex_unlock(&c->reg_mu);
	wake(c);
}

void nvme_ctrl_intx_unmasked(struct nvme_ctrl *c)
{
	pthread_mutex_lock(&c->reg_mu);
	ATOMIC_ADD(&c->reg_gen, 1); /* the worker looks at the interrupt state again */
	pthread_mutex_unlock(&c->reg_mu);
	wake(c);
}

void nvme_ctrl_stop(struct nvme_ctrl *c)
{
	ATOMIC_STORE(&c->stop, 1);
	ATOMIC_STORE(&c->sleeping, 1);
	wake(c);
}

bool nvme_ctrl_stopping(struct nvme_ctrl *c)
{
	return ATOMIC_LOAD(&c->stop);
}

bool nvme_ctrl_may_spin(struct nvme_ctrl *c)
{
	return c->enabled && !c->shut && (!c->dbbuf || c->dbbuf_mapped);
}

/* ---- worker: registers ----------------------------------------------------------------- */

static void csts_update(struct nvme_ctrl *c, uint32_t clear, uint32_t set)
{
	pthread_mutex_lock(&c->reg_mu);
	c->csts = (c->csts & ~clear) | set;
	pthread_mutex_unlock(&c->reg_mu);
}

/* Something the host did makes the controller unusable until a reset
 * (a queue in memory it cannot reach): Controller Fatal Status (3.1.6). */
static void fatal(struct nvme_ctrl *c, const char *why)
{
	dev_log_line(UVFIO_LOG_WARNING, "controller fatal status: %s", why);
	csts_update(c, 0, NVME_CSTS_CFS);
	c->shut = true; /* stop processing until a reset */
}

static void features_default(struct nvme_ctrl *c)
{
	c->feat_arb = 0;
	c->feat_pm = 0;
	c->feat_temp[0] = 0x157; /* over threshold 343 K */
	c->feat_temp[1] = 0;     /* under threshold */
	c->feat_errrec = 0;
	c->feat_vwc = NVME_VWC_PRESENT; /* write cache enabled */
	c->feat_coalesce = 0;
	c->feat_async = 0;
	c->feat_wa = 0;
	memset(c->feat_ivc_cd, 0, sizeof(c->feat_ivc_cd));
	c->nsqa = c->ncqa = (uint16_t)(c->nr_ioq - 1);
	c->nq_set = false;
}

void nvme_queues_teardown(struct nvme_ctrl *c)
{
	nvme_ctrl_drain(c);
	for (unsigned q = 0; q < NVME_NQ; q++) {
		free(c->sq[q].reqs);
		memset(&c->sq[q], 0, sizeof(c->sq[q]));
		memset(&c->cq[q], 0, sizeof(c->cq[q]));
	}
	c->sq_used = c->cq_used = 0;
	c->naer = 0;
	c->naer_queue = 0;
	c->aer_masked = 0;
	c->dbbuf = false;
}

/* Controller reset (7.6.1): every queue and command goes, no completion. */
static void ctrl_reset(struct nvme_ctrl *c)
{
	c->enabled = false; /* what finishes during the teardown completes nowhere */
	nvme_queues_teardown(c);
	features_default(c);
	c->enabled = false;
	c->shut = false;
	csts_update(c, NVME_CSTS_RDY | NVME_CSTS_SHST_MASK | NVME_CSTS_CFS, 0);
	dev_log_line(UVFIO_LOG_DEBUG, "controller reset");
}

static bool sq_setup(struct nvme_ctrl *c, uint16_t qid, uint16_t cqid, uint32_t size,
		     uint64_t addr)
{
	struct nvme_sq *sq = &c->sq[qid];
	struct nvme_req *reqs = calloc(size, sizeof(*reqs));
	if (!reqs)
		return false;
	memset(sq, 0, sizeof(*sq));
	sq->used = true;
	sq->qid = qid;
	sq->cqid = cqid;
	sq->size = size;
	sq->addr = addr;
	sq->reqs = reqs;
	for (uint32_t i = 0; i < size; i++) {
		reqs[i].sq = sq;
		reqs[i].next = i + 1 < size ? &reqs[i + 1] : NULL;
	}
	sq->free = reqs;
	c->cq[cqid].nsq++;
	c->sq_used |= 1ull << qid;
	ATOMIC_STORE(&c->db_sq[qid], 0);
	return true;
}

static void cq_setup(struct nvme_ctrl *c, uint16_t qid, uint32_t size, uint64_t addr, bool ien,
		     uint16_t iv)
{
	struct nvme_cq *cq = &c->cq[qid];
	memset(cq, 0, sizeof(*cq));
	cq->used = true;
	cq->qid = qid;
	cq->size = size;
	cq->addr = addr;
	cq->ien = ien;
	cq->iv = iv;
	cq->phase = 1;
	c->cq_used |= 1ull << qid;
	ATOMIC_STORE(&c->db_cq[qid], 0);
}

/* for admin.c: Create I/O Completion / Submission Queue after their checks */
bool nvme_sq_create(struct nvme_ctrl *c, uint16_t qid, uint16_t cqid, uint32_t size, uint64_t addr);
bool nvme_sq_create(struct nvme_ctrl *c, uint16_t qid, uint16_t cqid, uint32_t size, uint64_t addr)
{
	return sq_setup(c, qid, cqid, size, addr);
}
void nvme_cq_create(struct nvme_ctrl *c, uint16_t qid, uint32_t size, uint64_t addr, bool ien,
		    uint16_t iv);
void nvme_cq_create(struct nvme_ctrl *c, uint16_t qid, uint32_t size, uint64_t addr, bool ien,
		    uint16_t iv)
{
	cq_setup(c, qid, size, addr, ien, iv);
}
void nvme_cq_delete(struct nvme_ctrl *c, uint16_t qid);
void nvme_cq_delete(struct nvme_ctrl *c, uint16_t qid)
{
	memset(&c->cq[qid], 0, sizeof(c->cq[qid]));
	c->cq_used &= ~(1ull << qid);
}

/* Enable (7.6.1): check CC and the admin queue attributes, then ready. */
static void ctrl_enable(struct nvme_ctrl *c, uint32_t cc, uint32_t aqa, uint64_t asq, uint64_t acq)
{
	const char *bad = NULL;
	if (NVME_CC_CSS(cc) != 0)
		bad = "CC.CSS names no supported command set";
	else if (NVME_CC_AMS(cc) != 0)
		bad = "CC.AMS names an unsupported arbitration";
	else if (NVME_CC_MPS(cc) > NVME_CAP_MPSMAX(cap_value()))
		bad = "CC.MPS above CAP.MPSMAX";
	else if (NVME_AQA_ASQS(aqa) == 0 || NVME_AQA_ACQS(aqa) == 0)
		bad = "admin queue of fewer than 2 entries";
	else if ((NVME_CC_IOSQES(cc) && NVME_CC_IOSQES(cc) != NVME_SQES_LOG2) ||
		 (NVME_CC_IOCQES(cc) && NVME_CC_IOCQES(cc) != NVME_CQES_LOG2))
		bad = "CC.IOSQES/IOCQES other than 64/16 bytes";
	if (bad) {
		/* the controller stays not ready; the host times out (CAP.TO) */
		dev_log_line(UVFIO_LOG_WARNING, "enable refused: %s", bad);
		c->shut = true;
		return;
	}
	c->page_shift = 12 + NVME_CC_MPS(cc);
	c->cc_en = cc;
	for (unsigned q = 0; q < NVME_NQ; q++) {
		ATOMIC_STORE(&c->db_sq[q], 0);
		ATOMIC_STORE(&c->db_cq[q], 0);
	}
	ATOMIC_STORE(&c->db_sq_dirty, 0);
	ATOMIC_STORE(&c->db_cq_dirty, 0);
	ATOMIC_STORE(&c->db_bad, 0);
	cq_setup(c, 0, NVME_AQA_ACQS(aqa) + 1, acq, true, 0);
	if (!sq_setup(c, 0, 0, NVME_AQA_ASQS(aqa) + 1, asq)) {
		fatal(c, "no memory for the admin queue");
		return;
	}
	c->enabled = true;
	c->power_cycles++;
	csts_update(c, 0, NVME_CSTS_RDY);
	dev_log_line(UVFIO_LOG_DEBUG, "controller enabled: admin SQ %u entries at %#llx, CQ %u at %#llx, page %u",
		     NVME_AQA_ASQS(aqa) + 1, (unsigned long long)asq, NVME_AQA_ACQS(aqa) + 1,
		     (unsigned long long)acq, 1u << c->page_shift);
}

/* Normal or abrupt shutdown (7.6.2): finish the I/O, make it stable. */
static void ctrl_shutdown(struct nvme_ctrl *c)
{
	csts_update(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_OCCURRING);
	nvme_ctrl_drain(c);
	if (c->be.fd >= 0 && fdatasync(c->be.fd) < 0)
		dev_log_line(UVFIO_LOG_WARNING, "shutdown: fdatasync: %s", strerror(errno));
	c->shut = true;
	csts_update(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE);
	dev_log_line(UVFIO_LOG_DEBUG, "shutdown complete");
}

static bool pin_asserted(struct nvme_ctrl *c)
{
	for (unsigned q = 0; q < NVME_NQ; q++)
		if (c->cq[q].used && c->cq[q].ien && c->cq[q].head != c->cq[q].tail)
			return true;
	return false;
}

static bool control(struct nvme_ctrl *c)
{
	uint32_t rg = ATOMIC_LOAD(&c->reg_gen);
	if (rg == c->seen_reg_gen)
		return false;
	pthread_mutex_lock(&c->reg_mu);
	rg = c->reg_gen;
	uint32_t gen = c->reset_gen, cc = c->cc, aqa = c->aqa, intms = c->intms;
	uint64_t asq = c->asq, acq = c->acq;
	pthread_mutex_unlock(&c->reg_mu);
	c->seen_reg_gen = rg;
	if (gen != c->seen_reset_gen) {
		c->seen_reset_gen = gen;
		ctrl_reset(c);
	}
	if (!c->enabled && !c->shut && (cc & NVME_CC_EN))
		ctrl_enable(c, cc, aqa, asq, acq);
	if (c->enabled && !c->shut && NVME_CC_SHN(cc) != NVME_CC_SHN_NONE)
		ctrl_shutdown(c);
	/* INTx unmasked (INTMC, or the client's unmask): raised again if still
	 * asserted, once the doorbells that came with it are applied (step) */
	c->intx_check = c->enabled && !(intms & 1);
	return true;
}

/* ---- worker: doorbells ---------------------------------------------------------------- */

static uint32_t ring_dist(uint32_t from, uint32_t to, uint32_t size)
{
	return to >= from ? to - from : to + size - from;
}

/* An SQ tail doorbell value (4.1): below the queue's size. */
static void sq_tail_set(struct nvme_ctrl *c, struct nvme_sq *sq, uint32_t v)
{
	if (v >= sq->size) {
		nvme_aer_event(c, NVME_AER_DW0(NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_DB_VALUE,
					       NVME_LOG_ERROR));
		return;
	}
	sq->tail = v;
}

static void cq_flush_waiting(struct nvme_ctrl *c, struct nvme_cq *cq);

/* A CQ head doorbell value: it may only move over posted entries. */
static void cq_head_set(struct nvme_ctrl *c, struct nvme_cq *cq, uint32_t v)
{
	if (v >= cq->size || ring_dist(cq->head, v, cq->size) > ring_dist(cq->head, cq->tail, cq->size)) {
		nvme_aer_event(c, NVME_AER_DW0(NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_DB_VALUE,
					       NVME_LOG_ERROR));
		return;
	}
	cq->head = v;
	if (cq->wait_head)
		cq_flush_waiting(c, cq);
}

static void invalid_db(struct nvme_ctrl *c)
{
	nvme_aer_event(c, NVME_AER_DW0(NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_DB, NVME_LOG_ERROR));
}

/* The shadow doorbells of the I/O queues (Doorbell Buffer Config). */
static bool shadow_read(struct nvme_ctrl *c)
{
	size_t n = 2u * (c->nr_ioq + 1);
	uint32_t v[2 * NVME_NQ];
	if (c->host.dma_read(c->host.opaque, c->dbbuf_dbs, v, n * 4) < 0) {
		c->dbbuf = false;
		fatal(c, "shadow doorbell buffer unreachable");
		return false;
	}
	bool changed = false;
	for (unsigned q = 1; q <= c->nr_ioq; q++) {
		if ((c->sq_used >> q) & 1 && v[2 * q] != c->shadow[2 * q]) {
			c->shadow[2 * q] = v[2 * q];
			sq_tail_set(c, &c->sq[q], v[2 * q]);
			changed = true;
		}
		if ((c->cq_used >> q) & 1 && v[2 * q + 1] != c->shadow[2 * q + 1]) {
			c->shadow[2 * q + 1] = v[2 * q + 1];
			cq_head_set(c, &c->cq[q], v[2 * q + 1]);
			changed = true;
		}
	}
	if (changed)
		c->eventidx_stale = true;
	return changed;
}

static bool doorbells(struct nvme_ctrl *c)
{
	bool did = false;
	uint64_t sd = ATOMIC_XCHG(&c->db_sq_dirty, 0), cd = ATOMIC_XCHG(&c->db_cq_dirty, 0);
	uint32_t bad = ATOMIC_XCHG(&c->db_bad, 0), kicks = ATOMIC_XCHG(&c->kicks, 0);
	if (bad) {
		invalid_db(c);
		did = true;
	}
	/* With shadow doorbells an I/O queue's doorbell register is only a
	 * wake-up: the host wrote the shadow first, and a register write may
	 * arrive after the shadow moved on (an older value would take the
	 * tail back and replay the queue). */
	for (; sd; sd &= sd - 1) {
		unsigned q = (unsigned)__builtin_ctzll(sd);
		if (!((c->sq_used >> q) & 1))
			invalid_db(c);
		else if (!c->dbbuf || !q)
			sq_tail_set(c, &c->sq[q], ATOMIC_LOAD(&c->db_sq[q]));
		did = true;
	}
	for (; cd; cd &= cd - 1) {
		unsigned q = (unsigned)__builtin_ctzll(cd);
		if (!((c->cq_used >> q) & 1))
			invalid_db(c);
		else if (!c->dbbuf || !q)
			cq_head_set(c, &c->cq[q], ATOMIC_LOAD(&c->db_cq[q]));
		did = true;
	}
	if (kicks && !c->dbbuf) {
		static bool told;
		if (!told)
			dev_log_line(UVFIO_LOG_WARNING, "a doorbell was rung through its ioeventfd, which "
					 "carries no value, without shadow doorbells (Doorbell Buffer Config): ignored");
		told = true;
	}
	if (c->dbbuf && shadow_read(c))
		did = true;
	return did || kicks;
}

/* ---- worker: completions ---------------------------------------------------------------- */

static void error_log_add(struct nvme_ctrl *c, const struct nvme_req *r)
{
	struct nvme_error_log *e = &c->errlog[c->err_count % NVME_ERRLOG];
	memset(e, 0, sizeof(*e));
	e->error_count = ++c->err_count;
	e->sqid = r->sq->qid;
	e->cid = r->cid;
	e->status = (uint16_t)(r->status << 1);
	e->param_loc = 0xffff;
	e->lba = r->lba;
	e->nsid = r->nsid;
}

static void req_free(struct nvme_sq *sq, struct nvme_req *r)
{
	r->next = sq->free;
	sq->free = r;
}

static bool cq_full(const struct nvme_cq *cq)
{
	return (cq->tail + 1) % cq->size == cq->head;
}

static bool cq_post(struct nvme_ctrl *c, struct nvme_cq *cq, struct nvme_req *r)
{
	struct nvme_cqe e = { .dw0 = r->dw0, .sq_head = (uint16_t)r->sq->head,
			      .sq_id = r->sq->qid, .cid = r->cid,
			      .status = NVME_CQE_STATUS(r->status, cq->phase) };
	if (c->host.dma_write(c->host.opaque, cq->addr + (uint64_t)cq->tail * NVME_CQE_SIZE, &e,
			      sizeof(e)) < 0) {
		fatal(c, "completion queue unreachable");
		return false;
	}
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
	if (cq->ien)
		cq->irq_due = true;
	return true;
}

static void cq_flush_waiting(struct nvme_ctrl *c, struct nvme_cq *cq)
{
	while (cq->wait_head && !cq_full(cq)) {
		struct nvme_req *r = cq->wait_head;
		cq->wait_head = r->next;
		if (!cq->wait_head)
			cq->wait_tail = NULL;
		if (!cq_post(c, cq, r))
			return;
		req_free(r->sq, r);
	}
}

void nvme_complete(struct nvme_ctrl *c, struct nvme_req *r)
{
	struct nvme_sq *sq = r->sq;
	struct nvme_cq *cq = &c->cq[sq->cqid];
	if (r->status && r->opcode != NVME_ADM_ASYNC_EVENT)
		error_log_add(c, r);
	if (!c->enabled || c->shut) {
		req_free(sq, r); /* no completion after a shutdown or fatal status */
		return;
	}
	if (cq_full(cq) || cq->wait_head) {
		r->next = NULL; /* wait for room, in order */
		c->eventidx_stale = true; /* the host must say when it makes room */
		if (cq->wait_tail)
			cq->wait_tail->next = r;
		else
			cq->wait_head = r;
		cq->wait_tail = r;
		return;
	}
	if (cq_post(c, cq, r))
		req_free(sq, r);
}

/* Delete I/O SQ (5.6): once its backend requests are done, completions
 * still waiting for room in the CQ are dropped with the queue. */
bool nvme_sq_release(struct nvme_ctrl *c, struct nvme_sq *sq)
{
	if (sq->inflight)
		return false;
	struct nvme_cq *cq = &c->cq[sq->cqid];
	struct nvme_req **pp = &cq->wait_head;
	cq->wait_tail = NULL;
	while (*pp) {
		if ((*pp)->sq == sq) {
			*pp = (*pp)->next;
		} else {
			cq->wait_tail = *pp;
			pp = &(*pp)->next;
		}
	}
	cq->nsq--;
	free(sq->reqs);
	struct nvme_req *del = sq->delete_req;
	memset(sq, 0, sizeof(*sq));
	if (del)
		nvme_complete(c, del);
	return true;
}

static void irqs(struct nvme_ctrl *c)
{
	uint32_t intms = 0;
	bool any = false;
	for (uint64_t m = c->cq_used; m; m &= m - 1)
		any |= c->cq[__builtin_ctzll(m)].irq_due;
	if (!any || !c->host.irq)
		return;
	pthread_mutex_lock(&c->reg_mu);
	intms = c->intms;
	pthread_mutex_unlock(&c->reg_mu);
	for (uint64_t m = c->cq_used; m; m &= m - 1) {
		struct nvme_cq *cq = &c->cq[__builtin_ctzll(m)];
		if (cq->irq_due) {
			cq->irq_due = false;
			c->host.irq(c->host.opaque, cq->iv, intms & 1);
		}
	}
}

/* ---- worker: submissions ----------------------------------------------------------------- */

#define FETCH_BATCH 16u

/* Round robin arbitration (4.11) with a burst of FETCH_BATCH: one batch
 * of a queue per pass, then the next queue. */
static bool sq_fetch(struct nvme_ctrl *c, struct nvme_sq *sq)
{
	bool did = false;
	if (sq->head != sq->tail && sq->free && !c->shut && sq->used) {
		if (sq->qid && c->be.fd >= 0 && !c->io_free)
			return did; /* every backend request is in flight: later */
		uint32_t n = sq->tail > sq->head ? sq->tail - sq->head : sq->size - sq->head;
		if (n > FETCH_BATCH)
			n = FETCH_BATCH;
		struct nvme_sqe cmd[FETCH_BATCH];
		if (c->host.dma_read(c->host.opaque, sq->addr + (uint64_t)sq->head * NVME_SQE_SIZE,
				     cmd, n * sizeof(cmd[0])) < 0) {
			fatal(c, "submission queue unreachable");
			return true;
		}
		for (uint32_t i = 0; i < n; i++) {
			if (!sq->free || !sq->used || c->shut ||
			    (sq->qid && c->be.fd >= 0 && !c->io_free))
				return true;
			struct nvme_req *r = sq->free;
			sq->free = r->next;
			r->next = NULL;
			r->io = NULL;
			r->cid = cmd[i].cid;
			r->opcode = cmd[i].opcode;
			r->status = 0;
			r->dw0 = 0;
			r->nsid = cmd[i].nsid;
			r->lba = 0;
			sq->head = (sq->head + 1) % sq->size;
			did = true;
			if (sq->qid == 0)
				nvme_admin_exec(c, r, &cmd[i]);
			else
				nvme_io_exec(c, r, &cmd[i]);
		}
	}
	return did;
}

bool nvme_ctrl_step(struct nvme_ctrl *c)
{
	bool did = control(c);
	if (!c->enabled || c->shut) {
		/* doorbells of a disabled controller are dropped at enable */
		return nvme_io_reap(c, false) || did;
	}
	did |= doorbells(c);
	if (c->intx_check) {
		c->intx_check = false;
		if (pin_asserted(c) && c->host.irq)
			c->host.irq(c->host.opaque, 0, false);
	}
	for (uint64_t m = c->sq_used; m; m &= m - 1)
		did |= sq_fetch(c, &c->sq[__builtin_ctzll(m)]);
	nvme_io_submit(c);
	did |= nvme_io_reap(c, false);
	nvme_aer_dispatch(c);
	irqs(c);
	return did;
}

/* EventIdx (Doorbell Buffer Config): the host rings the doorbell register
 * only when it moves a shadow doorbell past the value here. Written just
 * before the worker sleeps: an SQ's is the tail seen (the next submission
 * rings); a CQ's is the head seen when completions wait for room (the next
 * consumption rings), else one behind it, which no move of the head passes
 * (the host never needs to trap to say it consumed entries). */
static void eventidx_write(struct nvme_ctrl *c)
{
	uint32_t v[2 * NVME_NQ] = { 0 };
	for (unsigned q = 1; q <= c->nr_ioq; q++) {
		struct nvme_cq *cq = &c->cq[q];
		v[2 * q] = c->sq[q].tail;
		v[2 * q + 1] = cq->wait_head || !cq->size ? cq->head : (cq->head + cq->size - 1) % cq->size;
	}
	if (c->host.dma_write(c->host.opaque, c->dbbuf_eis, v, 8u * (c->nr_ioq + 1)) < 0) {
		c->dbbuf = false;
		fatal(c, "shadow doorbell EventIdx buffer unreachable");
	}
	c->eventidx_stale = false;
}

static bool has_work(struct nvme_ctrl *c)
{
	if (ATOMIC_LOAD(&c->reg_gen) != c->seen_reg_gen || ATOMIC_LOAD(&c->db_sq_dirty) ||
	    ATOMIC_LOAD(&c->db_cq_dirty) || ATOMIC_LOAD(&c->db_bad) || ATOMIC_LOAD(&c->kicks) ||
	    ATOMIC_LOAD(&c->stop))
		return true;
	if (nvme_io_reap(c, false))
		return true;
	if (c->enabled && !c->shut && c->dbbuf && shadow_read(c))
		return true;
	return false;
}

void nvme_ctrl_wait(struct nvme_ctrl *c)
{
	if (c->enabled && !c->shut && c->dbbuf && c->eventidx_stale)
		eventidx_write(c);
	ATOMIC_STORE(&c->sleeping, 1);
	if (!has_work(c) && c->wake_fd >= 0) {
		struct pollfd p = { .fd = c->wake_fd, .events = POLLIN };
		if (poll(&p, 1, -1) > 0) {
			uint64_t v;
			if (read(c->wake_fd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another read got it */
			}
		}
	}
	ATOMIC_STORE(&c->sleeping, 0);
}

/* ---- life ------------------------------------------------------------------------------ */

int nvme_ctrl_create(const struct nvme_ctrl_config *cfg, struct nvme_ctrl **out)
{
	if (!cfg->nr_ioq || cfg->nr_ioq > NVME_MAX_IOQ || (cfg->lba_shift != 9 && cfg->lba_shift != 12))
		return -EINVAL;
	struct nvme_ctrl *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->host = cfg->host;
	c->be = cfg->backend;
	c->lba_shift = cfg->lba_shift;
	c->nr_ioq = cfg->nr_ioq;
	c->nlb = cfg->backend.size >> cfg->lba_shift;
	memcpy(c->uid, cfg->uid, sizeof(c->uid));
	c->vid = cfg->vid;
	c->ssvid = cfg->ssvid;
	if (cfg->serial)
		snprintf(c->sn, sizeof(c->sn), "%s", cfg->serial);
	else
		snprintf(c->sn, sizeof(c->sn), "UVFIO%02X%02X%02X%02X%02X%02X", c->uid[0], c->uid[1],
			 c->uid[2], c->uid[3], c->uid[4], c->uid[5]);
	c->wake_fd = cfg->wake_fd;
	c->start_ns = now_ns();
	pthread_mutex_init(&c->reg_mu, NULL);
	features_default(c);
	int r = nvme_io_init(c);
	if (r < 0) {
		pthread_mutex_destroy(&c->reg_mu);
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

void nvme_ctrl_destroy(struct nvme_ctrl *c)
{
	if (!c)
		return;
	nvme_queues_teardown(c);
	nvme_io_fini(c);
	pthread_mutex_destroy(&c->reg_mu);
	free(c);
}
