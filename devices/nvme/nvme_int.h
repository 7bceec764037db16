/* SPDX-License-Identifier: BSD-3-Clause */
/* nvme_int.h - the controller's state, shared by ctrl.c, admin.c and io.c. */
#ifndef UVFIO_NVME_INT_H
#define UVFIO_NVME_INT_H

#include "nvme.h"

struct nvme_sq;

/* A command between its fetch and its completion. */
struct nvme_req {
	struct nvme_sq *sq;
	struct nvme_req *next;   /* free list, or the CQ's waiting list */
	struct nvme_io *io;      /* backend request, while in flight */
	uint16_t cid;
	uint8_t opcode;
	uint16_t status;         /* status field (SCT/SC/DNR), 0: success */
	uint32_t dw0;
	uint32_t nsid;
	uint64_t lba;            /* for the error log */
};

/* A backend request in flight (io_uring), with the guest memory it uses. */
struct nvme_io {
	struct nvme_req *req;
	struct nvme_io *next_free;
	bool write, bounce;
	uint64_t off, len, done;     /* image offset, bytes, bytes done */
	unsigned nseg, niov, npin;
	struct uvfio_dma_seg seg[NVME_MAX_SEGS];
	struct iovec iov[NVME_MAX_SEGS];
	struct uvfio_sg sg[NVME_MAX_SEGS];
	uint8_t *buf;                /* bounce buffer */
	int rw_flags;
	uint8_t kind;                /* IO_RW, IO_FSYNC */
};

struct nvme_cq {
	bool used;
	uint16_t qid, iv;
	bool ien;
	uint32_t size, head, tail;
	uint8_t phase;
	uint64_t addr;
	unsigned nsq;                /* SQs bound to it */
	bool irq_due;                /* entries posted since the last interrupt */
	struct nvme_req *wait_head, *wait_tail; /* completions waiting for room */
};

struct nvme_sq {
	bool used;
	uint16_t qid, cqid;
	uint32_t size, head, tail;
	uint64_t addr;
	struct nvme_req *reqs, *free;
	unsigned inflight;           /* fetched, not yet completed */
	struct nvme_req *delete_req; /* Delete I/O SQ waiting for inflight */
};

struct nvme_ctrl {
	struct nvme_host host;
	struct nvme_backend be;
	unsigned lba_shift, nr_ioq;
	uint64_t nlb;                /* namespace size in blocks */
	uint8_t uid[16];
	uint16_t vid, ssvid;         /* Identify Controller's, from the PCI ids */
	char sn[21];
	int wake_fd;

	/* registers: written by the serving thread under reg_mu */
	pthread_mutex_t reg_mu;
	uint32_t cc, csts, aqa, intms;
	uint64_t asq, acq;
	uint32_t reset_gen;          /* bumped by resets and CC.EN 1 -> 0 */
	uint32_t reg_gen;            /* bumped by every register write */
	/* doorbells: values and dirty bits, atomics (serving -> worker) */
	uint32_t db_sq[NVME_NQ], db_cq[NVME_NQ];
	uint64_t db_sq_dirty, db_cq_dirty;
	uint32_t db_bad;             /* write to a doorbell of no queue */
	uint32_t kicks;              /* data-less doorbell signals */
	int sleeping, stop;

	/* worker state */
	uint32_t seen_reset_gen, seen_reg_gen;
	bool enabled, shut;
	bool intx_check;             /* INTx unmasked: raise it if asserted */
	uint32_t cc_en;              /* CC value the controller was enabled with */
	unsigned page_shift;
	struct nvme_sq sq[NVME_NQ];
	struct nvme_cq cq[NVME_NQ];
	uint64_t sq_used, cq_used;   /* bitmaps of existing queues (worker) */
	unsigned inflight_io;
	struct nvme_io *io_pool, *io_free;
	bool need_submit;

	/* shadow doorbells (Doorbell Buffer Config) */
	bool dbbuf;
	bool dbbuf_mapped;            /* the shadow doorbells are mapped memory */
	uint64_t dbbuf_dbs, dbbuf_eis;
	uint32_t shadow[2 * NVME_NQ];
	bool eventidx_stale;

	/* features */
	uint32_t feat_arb, feat_pm, feat_temp[2], feat_errrec, feat_vwc, feat_coalesce,
		feat_async, feat_wa;
	uint16_t feat_ivc_cd[NVME_NQ];  /* interrupt vector config, CD bit */
	uint16_t nsqa, ncqa;         /* queues granted by Set Features (0's based) */
	bool nq_set;

	/* asynchronous events */
	struct nvme_req *aer[NVME_AERL + 1];
	unsigned naer;
	uint32_t aer_queue[8];
	unsigned naer_queue;
	uint8_t aer_masked;          /* types reported and not yet read (bit per type) */

	/* logs */
	struct nvme_error_log errlog[NVME_ERRLOG];
	uint64_t err_count;
	uint64_t units_read, units_written, host_reads, host_writes, media_errors;
	uint64_t power_cycles;
	uint64_t start_ns;

	uint8_t *zero_page;          /* for Write Zeroes on files without fallocate */
};

/* ctrl.c */
void nvme_complete(struct nvme_ctrl *c, struct nvme_req *r);
void nvme_aer_event(struct nvme_ctrl *c, uint32_t dw0);
bool nvme_sq_release(struct nvme_ctrl *c, struct nvme_sq *sq);
void nvme_queues_teardown(struct nvme_ctrl *c);
/* admin.c */
void nvme_admin_exec(struct nvme_ctrl *c, struct nvme_req *r, const struct nvme_sqe *cmd);
void nvme_aer_dispatch(struct nvme_ctrl *c);
/* io.c */
void nvme_io_exec(struct nvme_ctrl *c, struct nvme_req *r, const struct nvme_sqe *cmd);
bool nvme_io_reap(struct nvme_ctrl *c, bool wait);
void nvme_io_submit(struct nvme_ctrl *c);
int nvme_io_init(struct nvme_ctrl *c);
void nvme_io_fini(struct nvme_ctrl *c);
uint16_t nvme_prp_map(struct nvme_ctrl *c, uint64_t prp1, uint64_t prp2, uint64_t len,
		      struct uvfio_dma_seg *seg, unsigned *nseg);
uint16_t nvme_xfer(struct nvme_ctrl *c, const struct uvfio_dma_seg *seg, unsigned nseg, void *buf,
		   uint64_t len, bool to_guest);
uint16_t nvme_xfer_prp(struct nvme_ctrl *c, const struct nvme_sqe *cmd, void *buf, uint64_t len,
		       bool to_guest);

#define SC_GEN(sc) NVME_STATUS(NVME_SCT_GENERIC, (sc))
#define SC_CMD(sc) (NVME_STATUS(NVME_SCT_CMD_SPECIFIC, (sc)) | NVME_STATUS_DNR)
#define SC_INVALID_FIELD (SC_GEN(NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR)
#define SC_INVALID_OPCODE (SC_GEN(NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR)
#define SC_INVALID_NS (SC_GEN(NVME_SC_INVALID_NS) | NVME_STATUS_DNR)
#define SC_XFER_ERROR SC_GEN(NVME_SC_DATA_XFER_ERROR)
#define SC_INTERNAL SC_GEN(NVME_SC_INTERNAL)

#endif
