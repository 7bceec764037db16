/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io.c - the NVM command set (Read, Write, Flush, Write Zeroes, Dataset
 * Management), PRPs (NVMe 1.4 section 4.3) and the backends: memory, or an
 * image file through io_uring (Flush: IORING_OP_FSYNC with DATASYNC), with
 * guest memory pinned and handed to the kernel where the client shared it
 * and a bounce buffer where it did not (DMA messages). Runs on the worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nvme_int.h"

void dev_log_line(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum { IO_RW, IO_FSYNC };

#define RING_DEPTH 256u
#define SC_LBA_RANGE (SC_GEN(NVME_SC_LBA_RANGE) | NVME_STATUS_DNR)
#define SC_PRP_OFFSET (SC_GEN(NVME_SC_PRP_INVALID_OFFSET) | NVME_STATUS_DNR)
#define SC_WRITE_FAULT NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT)
#define SC_READ_ERROR NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_READ_ERROR)

/* ---- PRPs (4.3) ---- */

static void seg_add(struct uvfio_dma_seg *seg, unsigned *n, uint64_t iova, uint64_t len)
{
	if (*n && seg[*n - 1].iova + seg[*n - 1].len == iova) {
		seg[*n - 1].len += len; /* contiguous pages: one piece */
		return;
	}
	seg[*n].iova = iova;
	seg[*n].len = len;
	(*n)++;
}

uint16_t nvme_prp_map(struct nvme_ctrl *c, uint64_t prp1, uint64_t prp2, uint64_t len,
		      struct uvfio_dma_seg *seg, unsigned *nseg)
{
	uint64_t psz = 1ull << c->page_shift, mask = psz - 1;
	*nseg = 0;
	if (!len)
		return 0;
	if (len > NVME_MAX_XFER)
		return SC_INVALID_FIELD;
	if (prp1 & 3)
		return SC_PRP_OFFSET; /* dword aligned (4.3) */
	uint64_t first = psz - (prp1 & mask);
	if (first > len)
		first = len;
	seg_add(seg, nseg, prp1, first);
	uint64_t rem = len - first;
	if (!rem)
		return 0;
	if (rem <= psz) {
		if (prp2 & mask)
			return SC_PRP_OFFSET;
		seg_add(seg, nseg, prp2, rem);
		return 0;
	}
	uint64_t list = prp2;
	if (list & 7)
		return SC_PRP_OFFSET;
	uint64_t ent[64];
	while (rem) {
		uint64_t nent = (psz - (list & mask)) / 8; /* entries in this list page */
		uint64_t need = (rem + psz - 1) / psz;
		bool chain = need > nent;
		uint64_t take = chain ? nent - 1 : need, next = 0;
		/* this page's entries, read 64 at a time; with a chain its last
		 * entry (index take) points to the next list page */
		for (uint64_t i = 0; i < take + chain;) {
			uint64_t k = take + chain - i < 64 ? take + chain - i : 64;
			if (c->host.dma_read(c->host.opaque, list + i * 8, ent, k * 8) < 0)
				return SC_XFER_ERROR;
			for (uint64_t j = 0; j < k; j++, i++) {
				if (ent[j] & mask)
					return SC_PRP_OFFSET;
				if (i == take) {
					next = ent[j];
					continue;
				}
				uint64_t l = rem < psz ? rem : psz;
				seg_add(seg, nseg, ent[j], l);
				rem -= l;
			}
		}
		if (chain)
			list = next;
	}
	return 0;
}

uint16_t nvme_xfer(struct nvme_ctrl *c, const struct uvfio_dma_seg *seg, unsigned nseg, void *buf,
		   uint64_t len, bool to_guest)
{
	uint8_t *p = buf;
	uint64_t total = 0;
	for (unsigned i = 0; i < nseg; i++)
		total += seg[i].len;
	if (c->host.dma_xfer_sg && total == len)
		return c->host.dma_xfer_sg(c->host.opaque, seg, nseg, buf, to_guest) < 0 ? SC_XFER_ERROR : 0;
	for (unsigned i = 0; i < nseg && len; i++) {
		uint64_t l = seg[i].len < len ? seg[i].len : len;
		int r = to_guest ? c->host.dma_write(c->host.opaque, seg[i].iova, p, l)
				 : c->host.dma_read(c->host.opaque, seg[i].iova, p, l);
		if (r < 0)
			return SC_XFER_ERROR;
		p += l;
		len -= l;
	}
	return 0;
}

uint16_t nvme_xfer_prp(struct nvme_ctrl *c, const struct nvme_sqe *cmd, void *buf, uint64_t len,
		       bool to_guest)
{
	struct uvfio_dma_seg *seg = malloc(NVME_MAX_SEGS * sizeof(*seg));
	unsigned n;
	if (!seg)
		return SC_INTERNAL;
	uint16_t st = nvme_prp_map(c, cmd->prp1, cmd->prp2, len, seg, &n);
	if (!st)
		st = nvme_xfer(c, seg, n, buf, len, to_guest);
	free(seg);
	return st;
}

/* ---- backend requests ---- */

static struct io_uring *ring(struct nvme_ctrl *c)
{
	return c->be.ring;
}

static void io_finish(struct nvme_ctrl *c, struct nvme_io *io, uint16_t st)
{
	struct nvme_req *r = io->req;
	if (io->npin && c->host.sg_put)
		c->host.sg_put(c->host.opaque, io->sg, io->npin); /* before the completion */
	io->npin = 0;
	free(io->buf);
	io->buf = NULL;
	r->io = NULL;
	r->status = st;
	if (st && (st & 0x700) == (NVME_SCT_MEDIA << 8))
		c->media_errors++;
	io->next_free = c->io_free;
	c->io_free = io;
	c->inflight_io--;
	struct nvme_sq *sq = r->sq;
	sq->inflight--;
	nvme_complete(c, r);
	if (sq->delete_req && !sq->inflight)
		nvme_sq_release(c, sq);
}

/* Synchronous file I/O: when io_uring is not available. */
/* n more bytes of io moved: count them and drop them from the front of its
 * iovec (a short transfer goes on from there), for both the synchronous
 * path and io_uring completions. */
static void io_advance(struct nvme_io *io, size_t n)
{
	io->done += (uint64_t)n;
	unsigned i = 0;
	while (i < io->niov && n >= io->iov[i].iov_len)
		n -= io->iov[i++].iov_len;
	memmove(io->iov, io->iov + i, (io->niov - i) * sizeof(io->iov[0]));
	io->niov -= i;
	if (io->niov) {
		io->iov[0].iov_base = (uint8_t *)io->iov[0].iov_base + n;
		io->iov[0].iov_len -= n;
	}
}

static uint16_t io_sync(struct nvme_ctrl *c, struct nvme_io *io)
{
	if (io->kind == IO_FSYNC)
		return fdatasync(c->be.fd) < 0 ? SC_WRITE_FAULT : 0;
	while (io->done < io->len) {
		ssize_t n = io->write ? pwritev2(c->be.fd, io->iov, (int)io->niov,
						 (off_t)(io->off + io->done), io->rw_flags)
				      : preadv(c->be.fd, io->iov, (int)io->niov, (off_t)(io->off + io->done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return io->write ? SC_WRITE_FAULT : SC_READ_ERROR;
		io_advance(io, (size_t)n);
	}
	return 0;
}

static void io_queue(struct nvme_ctrl *c, struct nvme_io *io)
{
	if (!c->be.uring) {
		uint16_t st = io_sync(c, io);
		if (!st && !io->write && io->bounce)
			st = nvme_xfer(c, io->seg, io->nseg, io->buf, io->len, true);
		io_finish(c, io, st);
		return;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring(c));
	if (!sqe) {
		io_uring_submit(ring(c));
		sqe = io_uring_get_sqe(ring(c));
	}
	if (!sqe) { /* cannot happen: at most NVME_IO_DEPTH < RING_DEPTH in flight */
		io_finish(c, io, SC_INTERNAL);
		return;
	}
	if (io->kind == IO_FSYNC) {
		io_uring_prep_fsync(sqe, c->be.fd, IORING_FSYNC_DATASYNC);
	} else if (io->write) {
		io_uring_prep_writev(sqe, c->be.fd, io->iov, io->niov, io->off + io->done);
		sqe->rw_flags = io->rw_flags;
	} else {
		io_uring_prep_readv(sqe, c->be.fd, io->iov, io->niov, io->off + io->done);
	}
	io_uring_sqe_set_data(sqe, io);
	c->need_submit = true;
}

void nvme_io_submit(struct nvme_ctrl *c)
{
	if (c->need_submit && c->be.uring) {
		io_uring_submit(ring(c));
		c->need_submit = false;
	}
}

static void io_done(struct nvme_ctrl *c, struct nvme_io *io, int res)
{
	if (io->kind == IO_FSYNC) {
		io_finish(c, io, res < 0 ? SC_WRITE_FAULT : 0);
		return;
	}
	if (res <= 0) {
		if (res < 0)
			dev_log_line(UVFIO_LOG_WARNING, "%s of %llu bytes at %llu: %s",
				     io->write ? "write" : "read", (unsigned long long)io->len,
				     (unsigned long long)io->off, strerror(-res));
		io_finish(c, io, io->write ? SC_WRITE_FAULT : SC_READ_ERROR);
		return;
	}
	io_advance(io, (size_t)res);
	if (io->done < io->len) { /* short: the rest */
		io_queue(c, io);
		return;
	}
	uint16_t st = 0;
	if (!io->write && io->bounce)
		st = nvme_xfer(c, io->seg, io->nseg, io->buf, io->len, true);
	io_finish(c, io, st);
}

bool nvme_io_reap(struct nvme_ctrl *c, bool wait)
{
	if (!c->be.uring || !c->inflight_io)
		return false;
	bool did = false;
	struct io_uring_cqe *cqe;
	for (;;) {
		int r = io_uring_peek_cqe(ring(c), &cqe);
		if (r == -EAGAIN && wait && !did) {
			nvme_io_submit(c);
			r = io_uring_wait_cqe(ring(c), &cqe);
		}
		if (r < 0)
			break;
		struct nvme_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(ring(c), cqe);
		io_done(c, io, res);
		did = true;
		if (!c->inflight_io)
			break;
	}
	nvme_io_submit(c); /* the rests of short transfers */
	return did;
}

void nvme_ctrl_drain(struct nvme_ctrl *c)
{
	while (c->inflight_io)
		nvme_io_reap(c, true);
}

/* Guest memory of a transfer for the kernel: pinned pieces where the
 * client shared it, else a bounce buffer. 0 or a status. */
static uint16_t io_buffers(struct nvme_ctrl *c, struct nvme_io *io)
{
	uint32_t prot = io->write ? UVFIO_DMA_FLAG_READ : UVFIO_DMA_FLAG_WRITE;
	io->npin = 0;
	io->niov = 0;
	bool mapped = c->host.sg_get != NULL;
	for (unsigned i = 0; mapped && i < io->nseg; i++) {
		int n = c->host.sg_get(c->host.opaque, io->seg[i].iova, io->seg[i].len, prot,
				       io->sg + io->npin, NVME_MAX_SEGS - io->npin);
		if (n == -EFAULT || n == -EPERM) {
			if (io->npin)
				c->host.sg_put(c->host.opaque, io->sg, io->npin);
			io->npin = 0;
			return SC_XFER_ERROR; /* memory the client did not give */
		}
		if (n < 0) {
			mapped = false;
			break;
		}
		for (int k = 0; k < n; k++)
			if (!io->sg[io->npin + k].vaddr)
				mapped = false;
		io->npin += (unsigned)n;
	}
	if (mapped) {
		for (unsigned k = 0; k < io->npin; k++) {
			io->iov[k].iov_base = io->sg[k].vaddr;
			io->iov[k].iov_len = io->sg[k].len;
		}
		io->niov = io->npin;
		io->bounce = false;
		return 0;
	}
	if (io->npin)
		c->host.sg_put(c->host.opaque, io->sg, io->npin);
	io->npin = 0;
	io->bounce = true;
	io->buf = malloc(io->len);
	if (!io->buf)
		return SC_INTERNAL;
	io->iov[0].iov_base = io->buf;
	io->iov[0].iov_len = io->len;
	io->niov = 1;
	return io->write ? nvme_xfer(c, io->seg, io->nseg, io->buf, io->len, false) : 0;
}

static struct nvme_io *io_get(struct nvme_ctrl *c, struct nvme_req *r)
{
	struct nvme_io *io = c->io_free; /* sq_fetch checked there is one */
	c->io_free = io->next_free;
	memset(io, 0, offsetof(struct nvme_io, seg));
	io->req = r;
	r->io = io;
	c->inflight_io++;
	r->sq->inflight++;
	return io;
}

/* ---- zeroing: Write Zeroes and deallocation (DLFEAT: reads return zeroes) ---- */

static uint16_t be_zero(struct nvme_ctrl *c, uint64_t off, uint64_t len)
{
	if (c->be.mem) {
		memset(c->be.mem + off, 0, len);
		return 0;
	}
	if (fallocate(c->be.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (fallocate(c->be.fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	while (len) {
		size_t l = len < 65536 ? (size_t)len : 65536;
		ssize_t n = pwrite(c->be.fd, c->zero_page, l, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SC_WRITE_FAULT;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static bool lba_ok(struct nvme_ctrl *c, uint64_t slba, uint64_t nlb)
{
	return slba <= c->nlb && nlb <= c->nlb - slba;
}

static uint16_t dsm(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	unsigned nr = NVME_DSM_NR(cmd->cdw10) + 1;
	struct nvme_dsm_range rg[NVME_DSM_MAX_RANGES];
	uint16_t st = nvme_xfer_prp(c, cmd, rg, nr * sizeof(rg[0]), false);
	if (st || !(cmd->cdw11 & NVME_DSM_AD))
		return st; /* integral read/write hints: nothing to do */
	for (unsigned i = 0; i < nr; i++)
		if (!lba_ok(c, rg[i].slba, rg[i].nlb))
			return SC_LBA_RANGE;
	for (unsigned i = 0; i < nr && !st; i++)
		if (rg[i].nlb)
			st = be_zero(c, rg[i].slba << c->lba_shift, (uint64_t)rg[i].nlb << c->lba_shift);
	return st;
}

static void rw(struct nvme_ctrl *c, struct nvme_req *r, const struct nvme_sqe *cmd, bool write)
{
	uint64_t slba = (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
	uint64_t nlb = (uint64_t)NVME_RW_NLB(cmd->cdw12) + 1;
	r->lba = slba;
	if (!lba_ok(c, slba, nlb)) {
		r->status = SC_LBA_RANGE;
		goto done;
	}
	uint64_t off = slba << c->lba_shift, len = nlb << c->lba_shift;
	if (len > NVME_MAX_XFER) {
		r->status = SC_INVALID_FIELD; /* above MDTS */
		goto done;
	}
	if (write) {
		c->units_written += len >> 9;
		c->host_writes++;
	} else {
		c->units_read += len >> 9;
		c->host_reads++;
	}
	if (c->be.mem) {
		struct uvfio_dma_seg seg[NVME_MAX_SEGS];
		unsigned n;
		r->status = nvme_prp_map(c, cmd->prp1, cmd->prp2, len, seg, &n);
		if (!r->status)
			r->status = nvme_xfer(c, seg, n, c->be.mem + off, len, !write);
		goto done;
	}
	struct nvme_io *io = io_get(c, r);
	io->kind = IO_RW;
	io->write = write;
	io->off = off;
	io->len = len;
	if (write && (!(c->feat_vwc & 1) || (cmd->cdw12 & NVME_RW_FUA)))
		io->rw_flags = RWF_DSYNC; /* no volatile cache, or forced unit access */
	uint16_t st = nvme_prp_map(c, cmd->prp1, cmd->prp2, len, io->seg, &io->nseg);
	if (!st)
		st = io_buffers(c, io);
	if (st) {
		io_finish(c, io, st);
		return;
	}
	io_queue(c, io);
	return;
done:
	nvme_complete(c, r);
}

void nvme_io_exec(struct nvme_ctrl *c, struct nvme_req *r, const struct nvme_sqe *cmd)
{
	if (cmd->flags & (NVME_FLAGS_FUSE_MASK | NVME_FLAGS_PSDT_MASK)) {
		r->status = SC_INVALID_FIELD; /* no fused commands, no SGLs (SGLS 0) */
		nvme_complete(c, r);
		return;
	}
	bool flush = cmd->opcode == NVME_CMD_FLUSH;
	bool known = flush || cmd->opcode == NVME_CMD_READ || cmd->opcode == NVME_CMD_WRITE ||
		     cmd->opcode == NVME_CMD_WRITE_ZEROES || cmd->opcode == NVME_CMD_DSM;
	if (!known) {
		r->status = SC_INVALID_OPCODE;
	} else if (cmd->nsid != 1 && !(flush && cmd->nsid == 0xffffffffu)) {
		r->status = SC_INVALID_NS;
	} else if (cmd->opcode == NVME_CMD_READ || cmd->opcode == NVME_CMD_WRITE) {
		rw(c, r, cmd, cmd->opcode == NVME_CMD_WRITE);
		return;
	} else if (flush) {
		if (c->be.fd >= 0) {
			struct nvme_io *io = io_get(c, r);
			io->kind = IO_FSYNC;
			io_queue(c, io);
			return;
		}
	} else if (cmd->opcode == NVME_CMD_WRITE_ZEROES) {
		uint64_t slba = (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
		uint64_t nlb = (uint64_t)NVME_RW_NLB(cmd->cdw12) + 1;
		r->lba = slba;
		r->status = lba_ok(c, slba, nlb)
				    ? be_zero(c, slba << c->lba_shift, nlb << c->lba_shift)
				    : SC_LBA_RANGE;
	} else {
		r->status = dsm(c, cmd);
	}
	nvme_complete(c, r);
}

/* ---- setup ---- */

int nvme_io_init(struct nvme_ctrl *c)
{
	/* backend requests exist only for an image: memory is copied at once */
	c->io_pool = c->be.fd >= 0 ? calloc(NVME_IO_DEPTH, sizeof(*c->io_pool)) : NULL;
	c->zero_page = calloc(1, 65536);
	if ((c->be.fd >= 0 && !c->io_pool) || !c->zero_page)
		goto nomem;
	for (unsigned i = 0; c->io_pool && i < NVME_IO_DEPTH; i++)
		c->io_pool[i].next_free = i + 1 < NVME_IO_DEPTH ? &c->io_pool[i + 1] : NULL;
	c->io_free = c->io_pool;
	if (c->be.fd >= 0 && c->be.uring) {
		struct io_uring *rg = calloc(1, sizeof(*rg));
		if (!rg)
			goto nomem;
		int r = io_uring_queue_init(RING_DEPTH, rg, 0);
		if (r < 0) {
			dev_log_line(UVFIO_LOG_WARNING, "io_uring unavailable (%s): synchronous I/O "
					 "on the worker instead", strerror(-r));
			free(rg);
			c->be.uring = false;
		} else {
			c->be.ring = rg;
			if (c->wake_fd >= 0)
				io_uring_register_eventfd(rg, c->wake_fd);
		}
	}
	return 0;
nomem:
	free(c->io_pool);
	free(c->zero_page);
	return -ENOMEM;
}

void nvme_io_fini(struct nvme_ctrl *c)
{
	if (c->be.ring) {
		io_uring_queue_exit(c->be.ring);
		free(c->be.ring);
		c->be.ring = NULL;
	}
	free(c->io_pool);
	free(c->zero_page);
}
