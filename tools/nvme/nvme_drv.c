/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_drv.c — the userspace NVMe driver (nvme_drv.h): bring-up, queues,
 * PRPs, doorbells (shadow or not), completions by phase bit or MSI-X.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "nvme_drv.h"

#define PAGE 4096u
#define ARENA_IOVA (1ull << 32) /* where the arena is in the device's address space */
#define ADMIN_DEPTH 32u
#define CMD_TIMEOUT_MS 10000
#define CSTS_CHECK_MS 100 /* a waiting command looks at CSTS this often */

/* One queue pair (SQ and CQ of the same id; the admin queue is 0). */
struct queue {
	bool live;
	uint16_t qid, depth;
	struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	uint16_t sq_tail, sq_head; /* head: the last SQHD the controller reported */
	uint16_t cq_head;
	uint8_t phase;
	uint16_t inflight;
	uint16_t *free_cids; /* a stack of free command identifiers */
	uint16_t nfree;
	uint8_t *busy; /* per command identifier: in flight */
	uint8_t *prp_pages; /* per command identifier: prp_per_cmd pages */
	int efd;            /* its MSI-X vector's eventfd, or -1 */
};

struct nvme_drv {
	struct uvfio_client *c;
	struct nvme_drv_opts o;
	struct nvme_drv_info info;
	uint8_t *mem;
	size_t mem_size, brk; /* the arena, and its allocator's next free byte */
	size_t brk_user;      /* where nvme_drv_alloc() buffers start */
	unsigned prp_per_cmd; /* PRP list pages per command identifier */
	uint32_t *sdb, *eventidx; /* shadow doorbells and EventIdx, or NULL */
	struct queue *q;          /* [0] admin, [1..io_queues] I/O */
	unsigned nq;
	int nvec;
	unsigned msix_cap;   /* MSI-X capability's offset (with nvec) */
	uint32_t msix_table; /* its table offset and BIR */
	bool down;      /* shut down */
	bool bells_fd;  /* the client rings doorbells through ioeventfds */
	bool bell_sync; /* ... but without shadow doorbells: ring by messages */
};

/* ---- Registers ------------------------------------------------------------------------- */

static int reg_read(struct nvme_drv *d, uint64_t off, void *v, size_t len)
{
	return uvfio_client_region_read(d->c, VFIO_PCI_BAR0_REGION_INDEX, off, v, len);
}

static int reg_write(struct nvme_drv *d, uint64_t off, const void *v, size_t len)
{
	return uvfio_client_region_write(d->c, VFIO_PCI_BAR0_REGION_INDEX, off, v, len);
}

static int reg_write32(struct nvme_drv *d, uint64_t off, uint32_t v)
{
	return reg_write(d, off, &v, 4);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The handshakes' limit: CAP.TO (500 ms units) unless the options say. */
static int handshake_ms(const struct nvme_drv *d)
{
	if (d->o.timeout_ms > 0)
		return d->o.timeout_ms;
	uint32_t to = NVME_CAP_TO(d->info.cap);
	return (int)(to ? to : 1) * 500;
}

/* Wait until (CSTS & mask) == want; -EIO on CSTS.CFS, -ETIMEDOUT. */
static int wait_csts(struct nvme_drv *d, uint32_t mask, uint32_t want)
{
	uint64_t end = now_ms() + (uint64_t)handshake_ms(d);
	for (;;) {
		uint32_t csts;
		int r = reg_read(d, NVME_REG_CSTS, &csts, 4);
		if (r < 0)
			return r;
		if ((csts & mask) == want)
			return 0;
		if (csts & NVME_CSTS_CFS)
			return -EIO;
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

uint64_t nvme_drv_doorbell(const struct nvme_drv *d, uint16_t qid, bool cq)
{
	uint32_t ds = NVME_CAP_DSTRD(d->info.cap);
	return cq ? NVME_CQ_DB(qid, ds) : NVME_SQ_DB(qid, ds);
}

/* EventIdx rule (as the Doorbell Buffer Config's users apply it): the
 * register is written when the new value passed the device's EventIdx. */
static bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

/* Ring a doorbell with value v (previously old): through the shadow
 * doorbell when in use (the register only when EventIdx asks; always for
 * the admin queue, which the shadow need not cover), else the register. */
static int ring(struct nvme_drv *d, uint16_t qid, bool cq, uint16_t v, uint16_t old)
{
	uint64_t off = nvme_drv_doorbell(d, qid, cq);
	if (d->sdb) {
		size_t i = (off - NVME_REG_DBS) / 4;
		__atomic_store_n(&d->sdb[i], (uint32_t)v, __ATOMIC_RELEASE);
		/* the shadow store must be visible before EventIdx is read */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint16_t ev = (uint16_t)__atomic_load_n(&d->eventidx[i], __ATOMIC_ACQUIRE);
		if (qid && !need_event(ev, v, old))
			return 0;
	}
	uint32_t val = v;
	/* an ioeventfd's signal carries no value: a client that rings through
	 * them must have shadow doorbells, else its writes go as messages */
	if (d->bell_sync)
		return uvfio_client_region_write(d->c, VFIO_PCI_BAR0_REGION_INDEX, off, &val, 4);
	return uvfio_client_region_write_posted(d->c, VFIO_PCI_BAR0_REGION_INDEX, off, &val, 4);
}

/* ---- The arena ------------------------------------------------------------------------- */

static void *arena_take(struct nvme_drv *d, size_t len)
{
	len = (len + PAGE - 1) & ~(size_t)(PAGE - 1);
	if (len > d->mem_size - d->brk)
		return NULL;
	void *p = d->mem + d->brk;
	d->brk += len;
	memset(p, 0, len);
	return p;
}

void *nvme_drv_alloc(struct nvme_drv *d, size_t len)
{
	return arena_take(d, len ? len : 1);
}

uint64_t nvme_drv_iova(const struct nvme_drv *d, const void *p)
{
	return ARENA_IOVA + (uint64_t)((const uint8_t *)p - d->mem);
}

static bool in_arena(const struct nvme_drv *d, const void *p, size_t len)
{
	const uint8_t *b = p;
	return b >= d->mem && len <= d->mem_size && (size_t)(b - d->mem) <= d->mem_size - len;
}

static int arena_map(struct nvme_drv *d)
{
	d->mem_size = d->o.mem_size ? d->o.mem_size : (16u << 20);
	d->mem_size = (d->mem_size + PAGE - 1) & ~(size_t)(PAGE - 1);
	int fd = memfd_create("nvme-drv", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)d->mem_size) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	void *m = mmap(NULL, d->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int e = -errno;
		close(fd);
		return e;
	}
	d->mem = m;
	struct uvfio_dma_region r = { .vaddr = m,
				      .iova = ARENA_IOVA,
				      .size = d->mem_size,
				      .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				      .fd = d->o.no_fd ? -1 : fd };
	int rc = uvfio_client_dma_map(d->c, &r);
	close(fd);
	return rc;
}

/* ---- Queues ---------------------------------------------------------------------------- */

static int queue_alloc(struct nvme_drv *d, struct queue *q, uint16_t qid, uint16_t depth)
{
	q->qid = qid;
	q->depth = depth;
	q->sq = arena_take(d, (size_t)depth * sizeof(struct nvme_sqe));
	q->cq = arena_take(d, (size_t)depth * sizeof(struct nvme_cqe));
	q->prp_pages = arena_take(d, (size_t)depth * d->prp_per_cmd * PAGE);
	q->free_cids = calloc(depth, sizeof(*q->free_cids));
	q->busy = calloc(depth, 1);
	if (!q->sq || !q->cq || !q->prp_pages || !q->free_cids || !q->busy)
		return -ENOMEM;
	q->efd = -1;
	return 0;
}

/* A queue's state as after its creation (empty, phase 1, every id free). */
static void queue_clear(struct queue *q)
{
	q->sq_tail = q->sq_head = q->cq_head = 0;
	q->phase = 1;
	q->inflight = 0;
	memset((void *)q->cq, 0, (size_t)q->depth * sizeof(struct nvme_cqe));
	/* one entry stays empty: depth - 1 commands at most */
	q->nfree = 0;
	memset(q->busy, 0, q->depth);
	for (int i = q->depth - 2; i >= 0; i--)
		q->free_cids[q->nfree++] = (uint16_t)i;
}

static struct queue *queue_get(struct nvme_drv *d, uint16_t qid)
{
	if (qid >= d->nq || !d->q[qid].live)
		return NULL;
	return &d->q[qid];
}

/* Fill PRP1/PRP2 for len bytes at buf, with list pages of command cid. */
static void build_prps(struct nvme_drv *d, struct queue *q, uint16_t cid, struct nvme_sqe *cmd,
		       void *buf, size_t len)
{
	uint64_t a = nvme_drv_iova(d, buf);
	cmd->prp1 = a;
	cmd->prp2 = 0;
	size_t first = PAGE - (a & (PAGE - 1));
	if (len <= first)
		return;
	uint64_t next = (a + first);
	size_t rest = len - first;
	if (rest <= PAGE) {
		cmd->prp2 = next;
		return;
	}
	/* a list: 512 entries a page, the last one chaining to the next page
	 * when more remain */
	uint8_t *lp = q->prp_pages + (size_t)cid * d->prp_per_cmd * PAGE;
	uint64_t *e = (uint64_t *)lp;
	cmd->prp2 = nvme_drv_iova(d, lp);
	size_t n = (rest + PAGE - 1) / PAGE, k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k == PAGE / 8 - 1 && n - i > 1) {
			lp += PAGE;
			e[k] = nvme_drv_iova(d, lp);
			e = (uint64_t *)lp;
			k = 0;
		}
		e[k++] = next;
		next += PAGE;
	}
}

int nvme_drv_submit(struct nvme_drv *d, uint16_t qid, const struct nvme_sqe *cmd, void *buf,
		    size_t len)
{
	struct queue *q = queue_get(d, qid);
	if (!q)
		return -ENOENT;
	if (buf && (!in_arena(d, buf, len) || len > d->info.max_xfer || ((uintptr_t)buf & 3)))
		return -EINVAL;
	if (!q->nfree)
		return -EBUSY;
	uint16_t cid = q->free_cids[--q->nfree];
	q->busy[cid] = 1;
	struct nvme_sqe *e = &q->sq[q->sq_tail];
	*e = *cmd;
	e->cid = cid;
	if (buf)
		build_prps(d, q, cid, e, buf, len);
	uint16_t old = q->sq_tail;
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->depth);
	q->inflight++;
	/* the entry is written before the doorbell tells the device of it */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	int r = ring(d, qid, false, q->sq_tail, old);
	return r < 0 ? r : cid;
}

/* -EIO when the controller reports a fatal status (CSTS.CFS), -ENXIO when it
 * is not ready (disabled or reset under the driver), else 0. */
static int controller_state(struct nvme_drv *d)
{
	uint32_t csts;
	int r = reg_read(d, NVME_REG_CSTS, &csts, 4);
	if (r < 0)
		return r;
	if (csts & NVME_CSTS_CFS)
		return -EIO;
	return csts & NVME_CSTS_RDY ? 0 : -ENXIO;
}

/* Take what the CQ holds, up to max. */
static int cq_take(struct nvme_drv *d, struct queue *q, struct nvme_cqe *out, int max)
{
	int n = 0;
	uint16_t old = q->cq_head;
	while (n < max) {
		volatile struct nvme_cqe *e = &q->cq[q->cq_head];
		uint16_t st = __atomic_load_n(&e->status, __ATOMIC_ACQUIRE);
		if ((st & 1) != q->phase)
			break;
		struct nvme_cqe c = { .dw0 = e->dw0, .dw1 = e->dw1, .sq_head = e->sq_head,
				      .sq_id = e->sq_id, .cid = e->cid, .status = st };
		if (out)
			out[n] = c;
		n++;
		/* a completion of no command in flight frees nothing */
		if (c.cid < q->depth && q->busy[c.cid]) {
			q->busy[c.cid] = 0;
			q->free_cids[q->nfree++] = c.cid;
			q->inflight--;
		}
		q->sq_head = c.sq_head;
		if (++q->cq_head == q->depth) {
			q->cq_head = 0;
			q->phase ^= 1;
		}
	}
	if (n) {
		int r = ring(d, q->qid, true, q->cq_head, old);
		if (r < 0)
			return r;
	}
	return n;
}

/* Wait for something to look at: the queue's vector (with a poll of the
 * connection, whose messages are answered) or, polling, a yield and the
 * connection's messages (DMA requests of a device without shared memory,
 * replies to posted doorbells). */
static int wait_some(struct nvme_drv *d, struct queue *q, uint64_t end)
{
	if (q->efd >= 0) {
		struct pollfd p[2] = { { .fd = q->efd, .events = POLLIN },
				       { .fd = uvfio_client_poll_fd(d->c), .events = POLLIN } };
		uint64_t t = now_ms();
		int ms = t >= end ? 0 : (int)(end - t);
		int r = poll(p, 2, ms > 100 ? 100 : ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (p[0].revents & POLLIN) {
			uint64_t v;
			if (read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return -errno;
		}
		if (p[1].revents) {
			r = uvfio_client_dispatch(d->c);
			if (r < 0 && r != -EBUSY)
				return r;
		}
		return 0;
	}
	int r = uvfio_client_dispatch(d->c);
	if (r < 0 && r != -EBUSY)
		return r;
	if (r == 0)
		sched_yield();
	return 0;
}

int nvme_drv_reap(struct nvme_drv *d, uint16_t qid, struct nvme_cqe *out, int max, bool wait)
{
	struct queue *q = queue_get(d, qid);
	if (!q)
		return -ENOENT;
	uint64_t t0 = now_ms(), checked = t0;
	uint64_t end = t0 + (uint64_t)(d->o.timeout_ms > 0 ? d->o.timeout_ms : CMD_TIMEOUT_MS);
	for (;;) {
		int n = cq_take(d, q, out, max);
		if (n || !wait)
			return n;
		int r = wait_some(d, q, end);
		if (r < 0)
			return r;
		uint64_t t = now_ms();
		if (t > end)
			return -ETIMEDOUT;
		/* a controller that failed or was disabled completes nothing:
		 * look at CSTS now and then rather than wait for the timeout */
		if (t - checked >= CSTS_CHECK_MS) {
			checked = t;
			if ((r = controller_state(d)) < 0)
				return r;
		}
	}
}

int nvme_drv_cmd(struct nvme_drv *d, uint16_t qid, const struct nvme_sqe *cmd, void *buf,
		 size_t len, struct nvme_cqe *cqe)
{
	int cid = nvme_drv_submit(d, qid, cmd, buf, len);
	if (cid < 0)
		return cid;
	/* one deadline for the command, however many other completions come */
	uint64_t end = now_ms() + (uint64_t)(d->o.timeout_ms > 0 ? d->o.timeout_ms : CMD_TIMEOUT_MS);
	for (;;) {
		struct nvme_cqe c;
		int n = nvme_drv_reap(d, qid, &c, 1, true);
		if (n < 0)
			return n;
		if (c.cid != cid) {
			if (now_ms() > end)
				return -ETIMEDOUT;
			continue;
		}
		if (cqe)
			*cqe = c;
		return c.status >> 1 & 0x7ff;
	}
}

void nvme_drv_rw_cmd(struct nvme_sqe *cmd, uint8_t opcode, uint32_t nsid, uint64_t slba,
		     uint32_t nlb)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opcode = opcode;
	cmd->nsid = nsid;
	cmd->cdw10 = (uint32_t)slba;
	cmd->cdw11 = (uint32_t)(slba >> 32);
	cmd->cdw12 = (nlb - 1) & 0xffff;
}

int nvme_drv_rw(struct nvme_drv *d, uint16_t qid, uint8_t opcode, uint64_t slba, uint32_t nlb,
		void *buf)
{
	struct nvme_sqe cmd;
	nvme_drv_rw_cmd(&cmd, opcode, d->info.nsid, slba, nlb);
	return nvme_drv_cmd(d, qid, &cmd, buf, (size_t)nlb * d->info.lba_size, NULL);
}

/* ---- Bring-up -------------------------------------------------------------------------- */

/* An admin command that must succeed during bring-up. */
static int admin_ok(struct nvme_drv *d, const char *what, const struct nvme_sqe *cmd, void *buf,
		    size_t len, struct nvme_cqe *cqe)
{
	int st = nvme_drv_cmd(d, 0, cmd, buf, len, cqe);
	if (st > 0) {
		const char *n = nvme_drv_status_name(st);
		fprintf(stderr, "nvme: %s failed: status 0x%03x (%s)\n", what, st, n ? n : "?");
		return -EIO;
	}
	return st;
}

/* MSI-X: find the capability, make an eventfd per vector the queues use
 * (at most one per queue); pci_enable() arms them. */
static int msix_setup(struct nvme_drv *d)
{
	uint8_t cfg[256];
	int r = uvfio_client_region_read(d->c, VFIO_PCI_CONFIG_REGION_INDEX, 0, cfg, sizeof(cfg));
	if (r < 0)
		return r;
	unsigned cap = cfg[PCI_CAPABILITY_LIST] & 0xfc;
	for (int hops = 0; cap && cap < 0xff && cfg[cap] != PCI_CAP_ID_MSIX && hops < 48; hops++)
		cap = cfg[cap + 1] & 0xfc;
	if (!cap || cfg[cap] != PCI_CAP_ID_MSIX) {
		fprintf(stderr, "nvme: the device has no MSI-X capability\n");
		return -ENODEV;
	}
	uint16_t ctl;
	memcpy(&ctl, cfg + cap + PCI_MSIX_FLAGS, 2);
	memcpy(&d->msix_table, cfg + cap + PCI_MSIX_TABLE, 4);
	d->msix_cap = cap;
	int nvec = (ctl & PCI_MSIX_FLAGS_QSIZE) + 1;
	if (nvec > (int)d->nq)
		nvec = (int)d->nq;
	if (nvec > 64)
		nvec = 64;
	for (int i = 0; i < nvec; i++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0) {
			r = -errno;
			for (int k = 0; k < i; k++)
				close(d->q[k].efd);
			return r;
		}
		d->q[i].efd = fd;
	}
	d->nvec = nvec;
	for (unsigned i = (unsigned)nvec; i < d->nq; i++)
		d->q[i].efd = d->q[i % (unsigned)nvec].efd;
	return 0;
}

/* The PCI function as a driver sets it up, at open and again at every reset
 * (a DEVICE_RESET or FLR clears it): memory space and bus master on (a
 * device may refuse DMA until then); MSI-X vectors unmasked in the table,
 * their eventfds given by SET_IRQS, MSI-X enabled without function mask. */
static int pci_enable(struct nvme_drv *d)
{
	uint16_t cmd;
	int r = uvfio_client_region_read(d->c, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, &cmd, 2);
	if (r < 0)
		return r;
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	r = uvfio_client_region_write(d->c, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, &cmd, 2);
	if (r < 0 || !d->nvec)
		return r;
	uint32_t bir = d->msix_table & PCI_MSIX_TABLE_BIR;
	uint64_t tbl = d->msix_table & PCI_MSIX_TABLE_OFFSET;
	int fds[64];
	for (int i = 0; i < d->nvec; i++) {
		/* address, data (what a vfio-user device does not use), unmasked */
		uint32_t ent[4] = { 0xfee00000u, 0, (uint32_t)i, 0 };
		r = uvfio_client_region_write(d->c, bir, tbl + 16u * (unsigned)i, ent, sizeof(ent));
		if (r < 0)
			return r;
		fds[i] = d->q[i].efd;
	}
	r = uvfio_client_set_irqs(d->c, VFIO_PCI_MSIX_IRQ_INDEX,
				  VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0,
				  (uint32_t)d->nvec, fds);
	if (r < 0)
		return r;
	uint16_t ctl;
	unsigned at = d->msix_cap + PCI_MSIX_FLAGS;
	r = uvfio_client_region_read(d->c, VFIO_PCI_CONFIG_REGION_INDEX, at, &ctl, 2);
	if (r < 0)
		return r;
	ctl = (uint16_t)((ctl | PCI_MSIX_FLAGS_ENABLE) & ~PCI_MSIX_FLAGS_MASKALL);
	return uvfio_client_region_write(d->c, VFIO_PCI_CONFIG_REGION_INDEX, at, &ctl, 2);
}

static int create_io_queue(struct nvme_drv *d, struct queue *q)
{
	struct nvme_sqe cmd = { .opcode = NVME_ADM_CREATE_CQ };
	cmd.prp1 = nvme_drv_iova(d, (const void *)q->cq);
	cmd.cdw10 = ((uint32_t)(q->depth - 1) << 16) | q->qid;
	cmd.cdw11 = NVME_CQ_PC;
	if (d->nvec)
		cmd.cdw11 |= NVME_CQ_IEN | ((uint32_t)(q->qid % (unsigned)d->nvec) << 16);
	int r = admin_ok(d, "Create I/O Completion Queue", &cmd, NULL, 0, NULL);
	if (r < 0)
		return r;
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = NVME_ADM_CREATE_SQ;
	cmd.prp1 = nvme_drv_iova(d, q->sq);
	cmd.cdw10 = ((uint32_t)(q->depth - 1) << 16) | q->qid;
	cmd.cdw11 = NVME_SQ_PC | ((uint32_t)q->qid << 16);
	return admin_ok(d, "Create I/O Submission Queue", &cmd, NULL, 0, NULL);
}

/* The controller from disabled to running I/O queues. */
static int bring_up(struct nvme_drv *d)
{
	struct nvme_drv_info *in = &d->info;
	uint32_t cc;
	/* As Linux's driver (pci_set_master()): the controller may master the
	 * bus from now; a reset clears the bit, so every bring-up sets it. */
	int r = uvfio_client_bus_master(d->c, true);
	if (r < 0 || (r = reg_read(d, NVME_REG_CC, &cc, 4)) < 0)
		return r;
	if (cc & NVME_CC_EN) {
		if ((r = reg_write32(d, NVME_REG_CC, 0)) < 0 ||
		    (r = wait_csts(d, NVME_CSTS_RDY, 0)) < 0)
			return r;
	}
	d->down = false;
	for (unsigned i = 0; i < d->nq; i++) {
		d->q[i].live = false;
		queue_clear(&d->q[i]);
	}
	struct queue *aq = &d->q[0];
	uint32_t aqa = (uint32_t)(aq->depth - 1) | ((uint32_t)(aq->depth - 1) << 16);
	uint64_t asq = nvme_drv_iova(d, aq->sq), acq = nvme_drv_iova(d, (const void *)aq->cq);
	if ((r = reg_write32(d, NVME_REG_AQA, aqa)) < 0 || (r = reg_write(d, NVME_REG_ASQ, &asq, 8)) < 0 ||
	    (r = reg_write(d, NVME_REG_ACQ, &acq, 8)) < 0)
		return r;
	cc = NVME_CC_EN | (NVME_SQES_LOG2 << NVME_CC_IOSQES_SHIFT) |
	     (NVME_CQES_LOG2 << NVME_CC_IOCQES_SHIFT);
	if ((r = reg_write32(d, NVME_REG_CC, cc)) < 0 || (r = wait_csts(d, NVME_CSTS_RDY, NVME_CSTS_RDY)) < 0)
		return r;
	aq->live = true;

	/* Identify: the controller, the active namespaces, the first one */
	uint8_t *buf = d->mem + d->brk_user - PAGE; /* the bring-up's own page */
	struct nvme_sqe cmd = { .opcode = NVME_ADM_IDENTIFY, .cdw10 = NVME_ID_CNS_CTRL };
	if ((r = admin_ok(d, "Identify Controller", &cmd, buf, PAGE, NULL)) < 0)
		return r;
	memcpy(&in->id_ctrl, buf, sizeof(in->id_ctrl));
	const struct nvme_id_ctrl *ic = &in->id_ctrl;
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_IDENTIFY, .cdw10 = NVME_ID_CNS_NS_ACTIVE_LIST };
	if ((r = admin_ok(d, "Identify Active Namespace List", &cmd, buf, PAGE, NULL)) < 0)
		return r;
	memcpy(&in->nsid, buf, 4);
	if (!in->nsid) {
		fprintf(stderr, "nvme: the controller has no active namespace\n");
		return -ENODEV;
	}
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_IDENTIFY, .nsid = in->nsid, .cdw10 = NVME_ID_CNS_NS };
	if ((r = admin_ok(d, "Identify Namespace", &cmd, buf, PAGE, NULL)) < 0)
		return r;
	memcpy(&in->id_ns, buf, sizeof(in->id_ns));
	const struct nvme_id_ns *ns = &in->id_ns;
	uint8_t ds = ns->lbaf[ns->flbas & 0xf].ds;
	if (ds < 9 || ds > 16) {
		fprintf(stderr, "nvme: namespace %u has an LBA size of 2^%u bytes\n", in->nsid, ds);
		return -ENODEV;
	}
	in->lba_size = 1u << ds;
	in->nsze = ns->nsze;
	uint64_t mdts = ic->mdts ? (uint64_t)PAGE << ic->mdts : UINT64_MAX;
	in->max_xfer = d->o.max_xfer ? d->o.max_xfer : (256u << 10);
	if (in->max_xfer > mdts)
		in->max_xfer = (uint32_t)mdts;

	/* Number of queues: ask for the pairs wanted; use what is granted */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	uint32_t want = d->nq - 1u;
	cmd.cdw11 = (want - 1) | ((want - 1) << 16);
	struct nvme_cqe cqe;
	if ((r = admin_ok(d, "Set Features (Number of Queues)", &cmd, NULL, 0, &cqe)) < 0)
		return r;
	uint32_t nsq = (cqe.dw0 & 0xffff) + 1, ncq = (cqe.dw0 >> 16) + 1;
	in->io_queues = (uint16_t)(nsq < ncq ? nsq : ncq);
	if (in->io_queues > want)
		in->io_queues = (uint16_t)want;

	/* Shadow doorbells, when offered and asked for */
	d->sdb = d->eventidx = NULL;
	in->shadow = false;
	if (d->o.shadow && (ic->oacs & NVME_OACS_DBBUF)) {
		uint8_t *sp = d->mem + d->brk_user - 3 * PAGE;
		memset(sp, 0, 2 * PAGE);
		cmd = (struct nvme_sqe){ .opcode = NVME_ADM_DBBUF_CONFIG };
		cmd.prp1 = nvme_drv_iova(d, sp);
		cmd.prp2 = nvme_drv_iova(d, sp + PAGE);
		if ((r = admin_ok(d, "Doorbell Buffer Config", &cmd, NULL, 0, NULL)) < 0)
			return r;
		d->sdb = (uint32_t *)sp;
		d->eventidx = (uint32_t *)(sp + PAGE);
		in->shadow = true;
	}
	d->bell_sync = d->bells_fd && !in->shadow;

	for (unsigned i = 1; i <= in->io_queues; i++) {
		if ((r = create_io_queue(d, &d->q[i])) < 0)
			return r;
		d->q[i].live = true;
	}
	return 0;
}

int nvme_drv_open(const char *sock, const struct nvme_drv_opts *o, struct nvme_drv **out)
{
	struct nvme_drv *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	if (o)
		d->o = *o;
	struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR },
					  .use_ioeventfds = d->o.shadow };
	if (d->o.client)
		cc = *d->o.client;
	d->bells_fd = cc.use_ioeventfds;
	cc.mode = UVFIO_CLIENT_EVENT_LOOP;
	d->o.client = NULL;
	int r = uvfio_client_connect(sock, &cc, &d->c);
	if (r < 0) {
		free(d);
		return r;
	}
	/* an NVMe controller? (class code 01:08:02) */
	uint8_t cls[3];
	r = uvfio_client_region_read(d->c, VFIO_PCI_CONFIG_REGION_INDEX, 9, cls, 3);
	if (r < 0)
		goto fail;
	if ((uint32_t)(cls[2] << 16 | cls[1] << 8 | cls[0]) != NVME_PCI_CLASS) {
		fprintf(stderr, "nvme: %s is not an NVM Express controller (class %02x%02x%02x)\n",
			sock, cls[2], cls[1], cls[0]);
		r = -ENODEV;
		goto fail;
	}
	struct nvme_drv_info *in = &d->info;
	if ((r = reg_read(d, NVME_REG_CAP, &in->cap, 8)) < 0 || (r = reg_read(d, NVME_REG_VS, &in->vs, 4)) < 0)
		goto fail;
	in->dstrd = 4u << NVME_CAP_DSTRD(in->cap);
	in->mqes = NVME_CAP_MQES(in->cap) + 1;
	if (NVME_CAP_MPSMIN(in->cap) > 0 || in->mqes < 2) {
		fprintf(stderr, "nvme: CAP 0x%016llx: no 4 KiB pages or queues too small\n",
			(unsigned long long)in->cap);
		r = -ENODEV;
		goto fail;
	}
	unsigned nio = d->o.io_queues ? d->o.io_queues : 1;
	unsigned depth = d->o.io_depth ? d->o.io_depth : 64;
	if (depth > in->mqes)
		depth = in->mqes;
	if (depth < 2)
		depth = 2;
	in->io_depth = (uint16_t)depth;
	uint32_t mx = d->o.max_xfer ? d->o.max_xfer : (256u << 10);
	in->max_xfer = mx; /* until Identify says MDTS */
	size_t entries = mx / PAGE + 1;
	d->prp_per_cmd = (unsigned)((entries + PAGE / 8 - 2) / (PAGE / 8 - 1));
	if ((r = arena_map(d)) < 0)
		goto fail;
	d->nq = nio + 1;
	d->q = calloc(d->nq, sizeof(*d->q));
	if (!d->q) {
		r = -ENOMEM;
		goto fail;
	}
	unsigned adepth = ADMIN_DEPTH < in->mqes ? ADMIN_DEPTH : in->mqes;
	r = queue_alloc(d, &d->q[0], 0, (uint16_t)adepth);
	for (unsigned i = 1; r == 0 && i < d->nq; i++)
		r = queue_alloc(d, &d->q[i], (uint16_t)i, (uint16_t)depth);
	/* the bring-up's Identify page and the two shadow doorbell pages */
	if (r == 0 && !arena_take(d, 3 * PAGE))
		r = -ENOMEM;
	if (r < 0)
		goto fail;
	d->brk_user = d->brk;
	if ((d->o.irq && (r = msix_setup(d)) < 0) || (r = pci_enable(d)) < 0)
		goto fail;
	in->irq = d->nvec > 0;
	if ((r = bring_up(d)) < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	nvme_drv_close(d);
	return r;
}

int nvme_drv_reset(struct nvme_drv *d)
{
	int r = reg_write32(d, NVME_REG_CC, 0);
	if (r < 0)
		return r;
	if ((r = pci_enable(d)) < 0)
		return r;
	if ((r = wait_csts(d, NVME_CSTS_RDY, 0)) < 0)
		return r;
	return bring_up(d);
}

int nvme_drv_shutdown(struct nvme_drv *d)
{
	uint32_t cc;
	int r = reg_read(d, NVME_REG_CC, &cc, 4);
	if (r < 0)
		return r;
	cc = (cc & ~(3u << NVME_CC_SHN_SHIFT)) | (NVME_CC_SHN_NORMAL << NVME_CC_SHN_SHIFT);
	if ((r = reg_write32(d, NVME_REG_CC, cc)) < 0)
		return r;
	r = wait_csts(d, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE);
	if (r == 0) {
		d->down = true;
		for (unsigned i = 0; i < d->nq; i++)
			d->q[i].live = false;
	}
	return r;
}

void nvme_drv_close(struct nvme_drv *d)
{
	if (!d)
		return;
	if (d->c && d->q && d->q[0].live && !d->down)
		nvme_drv_shutdown(d);
	if (d->c)
		uvfio_client_close(d->c);
	if (d->q) {
		for (unsigned i = 0; i < d->nq; i++) {
			free(d->q[i].free_cids);
			free(d->q[i].busy);
			/* queue i < nvec owns vector i's eventfd; the others share */
			if (i < (unsigned)d->nvec)
				close(d->q[i].efd);
		}
		free(d->q);
	}
	if (d->mem)
		munmap(d->mem, d->mem_size);
	free(d);
}

const struct nvme_drv_info *nvme_drv_info(const struct nvme_drv *d)
{
	return &d->info;
}

struct uvfio_client *nvme_drv_client(struct nvme_drv *d)
{
	return d->c;
}

const char *nvme_drv_status_name(int st)
{
	static const struct {
		uint16_t st;
		const char *name;
	} names[] = {
		{ NVME_STATUS(0, NVME_SC_SUCCESS), "Successful Completion" },
		{ NVME_STATUS(0, NVME_SC_INVALID_OPCODE), "Invalid Command Opcode" },
		{ NVME_STATUS(0, NVME_SC_INVALID_FIELD), "Invalid Field in Command" },
		{ NVME_STATUS(0, NVME_SC_CMDID_CONFLICT), "Command ID Conflict" },
		{ NVME_STATUS(0, NVME_SC_DATA_XFER_ERROR), "Data Transfer Error" },
		{ NVME_STATUS(0, NVME_SC_INTERNAL), "Internal Error" },
		{ NVME_STATUS(0, NVME_SC_ABORT_REQ), "Command Abort Requested" },
		{ NVME_STATUS(0, NVME_SC_ABORT_QUEUE), "Command Aborted due to SQ Deletion" },
		{ NVME_STATUS(0, NVME_SC_INVALID_NS), "Invalid Namespace or Format" },
		{ NVME_STATUS(0, NVME_SC_CMD_SEQ_ERROR), "Command Sequence Error" },
		{ NVME_STATUS(0, NVME_SC_PRP_INVALID_OFFSET), "PRP Offset Invalid" },
		{ NVME_STATUS(0, NVME_SC_LBA_RANGE), "LBA Out of Range" },
		{ NVME_STATUS(0, NVME_SC_CAP_EXCEEDED), "Capacity Exceeded" },
		{ NVME_STATUS(1, NVME_SC_CQ_INVALID), "Completion Queue Invalid" },
		{ NVME_STATUS(1, NVME_SC_QID_INVALID), "Invalid Queue Identifier" },
		{ NVME_STATUS(1, NVME_SC_QUEUE_SIZE), "Invalid Queue Size" },
		{ NVME_STATUS(1, NVME_SC_ASYNC_LIMIT), "Asynchronous Event Request Limit Exceeded" },
		{ NVME_STATUS(1, NVME_SC_INT_VECTOR_INVALID), "Invalid Interrupt Vector" },
		{ NVME_STATUS(1, NVME_SC_LOG_PAGE_INVALID), "Invalid Log Page" },
		{ NVME_STATUS(1, NVME_SC_QUEUE_DELETION_INVALID), "Invalid Queue Deletion" },
		{ NVME_STATUS(1, NVME_SC_FEATURE_NOT_SAVEABLE), "Feature Identifier Not Saveable" },
		{ NVME_STATUS(2, NVME_SC_WRITE_FAULT), "Write Fault" },
		{ NVME_STATUS(2, NVME_SC_READ_ERROR), "Unrecovered Read Error" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].st == (st & 0x7ff))
			return names[i].name;
	return NULL;
}
