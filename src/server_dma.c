/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_dma.c — the DMA map table fed by DMA_MAP/DMA_UNMAP, translation of
 * IOVA ranges into pointers, DMA through mapped memory or DMA_READ/DMA_WRITE
 * messages, and dirty-page logging of DMA writes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define DIRTY_BITMAP_MAX (64u << 20) /* bytes of bitmap one logging session may use */

/* First map whose end is above iova. */
static unsigned lower_bound(const struct uvfio_server *s, uint64_t iova)
{
	unsigned lo = 0, hi = s->nmaps;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (s->maps[mid].iova + s->maps[mid].size <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t min_pgsize(const struct uvfio_server *s)
{
	return s->mine.pgsizes & -s->mine.pgsizes;
}

int vu_srv_dma_map(struct uvfio_server *s, struct vu_msg *m)
{
	struct uvfio_dma_map dm;
	if (m->len != sizeof(dm))
		return -EINVAL;
	memcpy(&dm, m->body, sizeof(dm));
	uint64_t pg = min_pgsize(s);
	if (dm.argsz < sizeof(dm) || (dm.flags & ~(UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE)) ||
	    !dm.size || dm.addr + dm.size < dm.addr || dm.addr % pg || dm.size % pg ||
	    (m->nfds && dm.offset % pg))
		return -EINVAL;
	if (s->nmaps >= s->mine.max_dma_maps)
		return -ENOSPC;
	unsigned i = lower_bound(s, dm.addr);
	if (i < s->nmaps && s->maps[i].iova < dm.addr + dm.size)
		return -EEXIST;
	if (s->nmaps == s->capmaps) {
		unsigned cap = s->capmaps ? s->capmaps * 2 : 16;
		struct vu_srv_dma_map *n = realloc(s->maps, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->maps = n;
		s->capmaps = cap;
	}
	struct vu_srv_dma_map map = {
		.iova = dm.addr, .size = dm.size, .prot = dm.flags, .fd = -1, .offset = dm.offset
	};
	if (m->nfds) {
		int fd = vu_msg_take_fd(m, 0);
		int prot = ((dm.flags & UVFIO_DMA_FLAG_READ) ? PROT_READ : 0) |
			   ((dm.flags & UVFIO_DMA_FLAG_WRITE) ? PROT_WRITE : 0);
		void *p = dm.size > SIZE_MAX ? MAP_FAILED
					     : mmap(NULL, (size_t)dm.size, prot ? prot : PROT_NONE,
						    MAP_SHARED, fd, (off_t)dm.offset);
		int err = errno;
		close(fd); /* the mapping keeps the memory */
		if (p == MAP_FAILED) {
			vu_warn(&s->log, "cannot map DMA region [%#llx, +%#llx): %s",
				(unsigned long long)dm.addr, (unsigned long long)dm.size,
				uvfio_strerror(-err));
			return err == ENOMEM ? -ENOMEM : -EINVAL;
		}
		map.vaddr = map.map_base = p;
		map.map_len = (size_t)dm.size;
	}
	memmove(&s->maps[i + 1], &s->maps[i], (s->nmaps - i) * sizeof(s->maps[0]));
	s->maps[i] = map;
	s->nmaps++;
	if (s->ops.dma_map) {
		int r = s->ops.dma_map(s->opaque, map.iova, map.size, map.prot, map.vaddr);
		if (r < 0) {
			if (map.map_base)
				munmap(map.map_base, map.map_len);
			memmove(&s->maps[i], &s->maps[i + 1], (s->nmaps - i - 1) * sizeof(s->maps[0]));
			s->nmaps--;
			return r;
		}
	}
	return 0;
}

static void unmap_at(struct uvfio_server *s, unsigned i)
{
	struct vu_srv_dma_map map = s->maps[i];
	/* The device drops its pointers first, then the memory goes. */
	if (s->ops.dma_unmap)
		s->ops.dma_unmap(s->opaque, map.iova, map.size);
	if (map.map_base)
		munmap(map.map_base, map.map_len);
	memmove(&s->maps[i], &s->maps[i + 1], (s->nmaps - i - 1) * sizeof(s->maps[0]));
	s->nmaps--;
}

int vu_srv_dma_unmap(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	struct uvfio_dma_unmap du;
	if (m->len < sizeof(du))
		return -EINVAL;
	memcpy(&du, m->body, sizeof(du));
	/* Dirty pages of the unmapped range (VFIO's first dirty-page
	 * interface, a bitmap after the structure): not served; the
	 * specification's are DEVICE_FEATURE DMA_LOGGING_REPORT. */
	if (du.flags == UVFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP)
		return -ENOTSUP;
	if (m->len != sizeof(du) || du.argsz < sizeof(du))
		return -EINVAL;
	if (du.flags == UVFIO_DMA_UNMAP_FLAG_ALL) {
		if (du.addr || du.size)
			return -EINVAL;
		vu_srv_dma_drop_all(s); /* QEMU's way to drop every mapping */
	} else {
		if (du.flags || !du.size)
			return -EINVAL;
		unsigned i = lower_bound(s, du.addr);
		/* The range must match a previous mapping exactly. */
		if (i >= s->nmaps || s->maps[i].iova != du.addr || s->maps[i].size != du.size)
			return -ENOENT;
		unmap_at(s, i);
	}
	memcpy(vu_reply_buf(rep, sizeof(du)), &du, sizeof(du));
	return 0;
}

void vu_srv_dma_drop_all(struct uvfio_server *s)
{
	while (s->nmaps)
		unmap_at(s, s->nmaps - 1);
}

int uvfio_server_dma_sg(struct uvfio_server *s, uint64_t iova, uint64_t len, uint32_t prot,
			struct uvfio_sg *sg, unsigned max)
{
	if (!s || (!sg && max) || !len || iova + len < iova)
		return -EINVAL;
	unsigned i = lower_bound(s, iova), n = 0;
	while (len) {
		if (i >= s->nmaps || s->maps[i].iova > iova)
			return -EFAULT;
		const struct vu_srv_dma_map *mp = &s->maps[i];
		if ((mp->prot & prot) != prot)
			return -EPERM;
		if (n == max)
			return -ENOSPC;
		uint64_t off = iova - mp->iova;
		uint64_t chunk = VU_MIN(len, mp->size - off);
		sg[n].iova = iova;
		sg[n].len = chunk;
		sg[n].vaddr = mp->vaddr ? (uint8_t *)mp->vaddr + off : NULL;
		n++;
		if (prot & UVFIO_DMA_FLAG_WRITE)
			vu_dirty_mark(s, iova, chunk);
		iova += chunk;
		len -= chunk;
		i++;
	}
	return (int)n;
}

#define DMA_WINDOW 4 /* requests to the client in flight at once */
/*
 * QEMU's client sends a reply with one write() and drops whatever its socket
 * buffer does not take at once (docs/INTEROP.md). An idle Linux socket with
 * the default 208 KiB buffer takes three whole 64 KiB replies: with QEMU's
 * layout a DMA_READ asks for at most 64 KiB and two are in flight, leaving
 * room for requests QEMU sends meanwhile.
 */
#define QEMU_DMA_PIECE (64u << 10)
#define QEMU_DMA_WINDOW 2

void vu_srv_dma_layout_pick(struct uvfio_server *s, uint16_t proposed_minor)
{
	enum uvfio_dma_layout l = s->cfg.dma_layout;
	/* Only QEMU's vfio-user-pci proposes 0.0, and it speaks only its own
	 * layout; libvfio-user's clients and ours propose 0.1 or later. */
	if (l == UVFIO_DMA_LAYOUT_AUTO)
		l = proposed_minor == 0 ? UVFIO_DMA_LAYOUT_QEMU : UVFIO_DMA_LAYOUT_SPEC;
	s->dma_layout = l;
	if (l == UVFIO_DMA_LAYOUT_QEMU)
		vu_info(&s->log, "DMA_READ/DMA_WRITE messages in QEMU's layout (4-byte count)%s",
			s->cfg.dma_layout ? "" : ": the client proposed version 0.0");
}

/*
 * Copy one piece through DMA_READ/DMA_WRITE messages of at most the client's
 * max_data_xfer_size, keeping a few in flight so that the client's work on
 * one overlaps the transfer of the next. Every outstanding reply is
 * collected even after an error, so the stream stays in step.
 */
struct dma_window {
	uint8_t *buf;
	struct dma_slot {
		uint16_t id;
		uint64_t off, n;
		bool live;
	} w[DMA_WINDOW];
};

/* The request in flight with this id, or NULL. */
static struct dma_slot *dma_slot(struct dma_window *dw, uint16_t id)
{
	for (int k = 0; k < DMA_WINDOW; k++)
		if (dw->w[k].live && dw->w[k].id == id)
			return &dw->w[k];
	return NULL;
}

/* A DMA_READ reply of the exact expected size for a request in flight:
 * its data is received straight into the device's buffer (the
 * specification's layout only: QEMU's puts padding after the data). */
static uint8_t *dma_sink(void *arg, const struct uvfio_hdr *h, size_t *keep)
{
	if ((h->flags & (UVFIO_FLAGS_TYPE_MASK | UVFIO_FLAGS_ERROR)) != UVFIO_FLAGS_TYPE_REPLY ||
	    h->cmd != UVFIO_CMD_DMA_READ)
		return NULL;
	struct dma_window *dw = arg;
	struct dma_slot *w = dma_slot(dw, h->msg_id);
	if (!w || h->msg_size != UVFIO_HDR_SIZE + sizeof(struct uvfio_dma_access) + w->n)
		return NULL;
	*keep = sizeof(struct uvfio_dma_access);
	return dw->buf + w->off;
}

/* Check a DMA_READ reply for [iova, iova+n) and put its data at dst (the
 * sink may have put it there already). */
static int dma_read_reply(struct uvfio_server *s, const struct vu_msg *m, uint64_t iova,
			  uint8_t *dst, uint64_t n, bool quiet)
{
	size_t total = m->len + m->ext_len;
	if (s->dma_layout == UVFIO_DMA_LAYOUT_QEMU) {
		struct uvfio_dma_access32 a;
		if (m->len < sizeof(a) || total != sizeof(a) + n + UVFIO_DMA_ACCESS32_PAD)
			return -EPROTO;
		memcpy(&a, m->body, sizeof(a));
		if (a.addr != iova || a.count != n)
			return -EPROTO;
		memcpy(dst, m->body + sizeof(a), n);
		return 0;
	}
	struct uvfio_dma_access a;
	if (m->len < sizeof(a) || total != sizeof(a) + n)
		return -EPROTO;
	memcpy(&a, m->body, sizeof(a));
	if (a.addr != iova)
		return -EPROTO;
	if (a.count != n) {
		/* The low half right and the high half not: QEMU's layout, whose
		 * first data bytes sit where the high half of the count is. */
		if ((uint32_t)a.count == n && !quiet)
			vu_err(&s->log, "the client answers DMA_READ in QEMU's layout (4-byte count, "
					"data from byte 28), not the specification's this server uses: "
					"set dma_layout to UVFIO_DMA_LAYOUT_QEMU");
		return -EPROTO;
	}
	if (!m->ext)
		memcpy(dst, m->body + sizeof(a), n);
	return 0;
}

/* Bytes of a message that started to arrive and did not end. */
static size_t rx_partial(const struct vu_rx *rx)
{
	return rx->big ? UVFIO_HDR_SIZE + rx->big_got : rx->tail - rx->head;
}

static int dma_message(struct uvfio_server *s, uint64_t iova, uint8_t *buf, uint64_t len,
		       bool write)
{
	bool qemu = s->dma_layout == UVFIO_DMA_LAYOUT_QEMU;
	uint64_t maxx = VU_MIN(s->client.max_data_xfer_size, s->mine.max_data_xfer_size);
	uint64_t window = DMA_WINDOW;
	if (qemu && !write) {
		maxx = VU_MIN(maxx, QEMU_DMA_PIECE);
		window = QEMU_DMA_WINDOW;
	}
	uint64_t nchunks = (len + maxx - 1) / maxx, sent = 0, done = 0;
	struct dma_window dw = { .buf = buf };
	struct dma_slot *w = dw.w;
	int err = 0;
	struct vu_rx *rx = s->twin >= 0 ? &s->twin_rx : &s->rx;
	if (!write && !qemu) {
		rx->sink = dma_sink;
		rx->sink_arg = &dw;
	}
	uint16_t cmd = write ? UVFIO_CMD_DMA_WRITE : UVFIO_CMD_DMA_READ;
	static const uint8_t pad[UVFIO_DMA_ACCESS32_PAD];
	while (done < nchunks) {
		while (!err && sent < nchunks && sent - done < window) {
			uint64_t off = sent * maxx, n = VU_MIN(maxx, len - off);
			/* A DMA_READ request is the same in both layouts: QEMU reads
			 * a 4-byte count and the zero high half as its padding. */
			struct uvfio_dma_access a = { .addr = iova + off, .count = n };
			struct uvfio_dma_access32 a32 = { .addr = iova + off, .count = (uint32_t)n };
			struct iovec iov[3] = { { &a, sizeof(a) }, { buf + off, n }, { (void *)pad, 0 } };
			if (qemu && write) {
				iov[0] = (struct iovec){ &a32, sizeof(a32) };
				iov[2].iov_len = sizeof(pad);
			}
			int slot = (int)(sent % DMA_WINDOW);
			int r = vu_srv_request_send(s, cmd, iov, write ? 3 : 1, &w[slot].id);
			if (r < 0) {
				err = r;
				break;
			}
			w[slot].off = off;
			w[slot].n = n;
			w[slot].live = true;
			sent++;
		}
		if (done == sent)
			break; /* nothing outstanding (after a send error) */
		struct vu_msg *m;
		int r = vu_srv_request_reply(s, &m);
		if (r < 0) {
			err = r; /* the connection is gone or the client stalls */
			break;
		}
		struct dma_slot *ws = m->hdr.cmd == cmd ? dma_slot(&dw, m->hdr.msg_id) : NULL;
		if (!ws) {
			vu_warn(&s->log, "discarding an unexpected %s reply with id %u",
				uvfio_cmd_name(m->hdr.cmd), m->hdr.msg_id);
			vu_msg_free(m);
			continue;
		}
		ws->live = false;
		done++;
		if (m->hdr.flags & UVFIO_FLAGS_ERROR)
			r = m->hdr.error_no ? -(int)VU_MIN(m->hdr.error_no, 4095u) : -EIO;
		else if (write) /* 16 bytes as common clients send, 12 as the
				 * specification draws it, or none (QEMU) */
			r = (m->len == 16 || m->len == 12 || m->len == 0) ? 0 : -EPROTO;
		else
			r = dma_read_reply(s, m, iova + ws->off, buf + ws->off, ws->n, err != 0);
		vu_msg_free(m);
		if (r < 0 && !err)
			err = r;
	}
	size_t part = err == -ETIMEDOUT ? rx_partial(rx) : 0;
	if (part) {
		/* The rest would be read as the client's next messages. */
		vu_err(&s->log, "a message from the client was cut off by the DMA timeout after %zu "
				"bytes; the stream is out of step, closing the connection", part);
		vu_srv_drop_client(s, -EPROTO);
	}
	if (!write && vu_rx_unsink(rx) < 0) {
		vu_srv_drop_client(s, -ENOMEM);
		return -ECONNRESET;
	}
	return err;
}

static int dma_copy(struct uvfio_server *s, uint64_t iova, uint8_t *buf, size_t len, bool write)
{
	if (!s || (!buf && len))
		return -EINVAL;
	if (!len)
		return 0;
	struct uvfio_sg sg[16];
	while (len) {
		int n = uvfio_server_dma_sg(s, iova, len, write ? UVFIO_DMA_FLAG_WRITE
							      : UVFIO_DMA_FLAG_READ,
					    sg, VU_ARRAY_SIZE(sg));
		if (n == -ENOSPC) /* more pieces than sg holds: all of it is filled */
			n = (int)VU_ARRAY_SIZE(sg);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (sg[i].vaddr) {
				if (write)
					memcpy(sg[i].vaddr, buf, sg[i].len);
				else
					memcpy(buf, sg[i].vaddr, sg[i].len);
			} else {
				int r = dma_message(s, sg[i].iova, buf, sg[i].len, write);
				if (r < 0)
					return r;
			}
			buf += sg[i].len;
			iova += sg[i].len;
			len -= sg[i].len;
		}
	}
	return 0;
}

int uvfio_server_dma_read(struct uvfio_server *s, uint64_t iova, void *buf, size_t len)
{
	return dma_copy(s, iova, buf, len, false);
}

int uvfio_server_dma_write(struct uvfio_server *s, uint64_t iova, const void *buf, size_t len)
{
	return dma_copy(s, iova, (uint8_t *)buf, len, true);
}

/* ---- Dirty-page logging ----------------------------------------------------------- */

void vu_dirty_free(struct uvfio_server *s)
{
	for (unsigned i = 0; i < s->ndirty; i++)
		free(s->dirty[i].bits);
	free(s->dirty);
	s->dirty = NULL;
	s->ndirty = 0;
	s->logging = false;
}

void vu_dirty_mark(struct uvfio_server *s, uint64_t iova, uint64_t len)
{
	if (!s->logging || !len)
		return;
	uint64_t end = iova + len - 1;
	for (unsigned i = 0; i < s->ndirty; i++) {
		struct vu_dirty_range *d = &s->dirty[i];
		uint64_t dend = d->iova + d->length - 1;
		if (end < d->iova || iova > dend)
			continue;
		uint64_t a = (VU_MAX(iova, d->iova) - d->iova) / s->log_page;
		uint64_t b = (VU_MIN(end, dend) - d->iova) / s->log_page;
		for (uint64_t p = a; p <= b; p++)
			d->bits[p / 64] |= 1ull << (p % 64);
	}
}

static int logging_start(struct uvfio_server *s, const uint8_t *data, size_t len,
			 struct vu_reply *rep)
{
	struct uvfio_dma_logging_control ctl;
	if (len < sizeof(ctl))
		return -EINVAL;
	memcpy(&ctl, data, sizeof(ctl));
	if (!vu_is_pow2(ctl.page_size) || ctl.page_size < 512 || ctl.num_ranges > 4096 ||
	    len != sizeof(ctl) + ctl.num_ranges * sizeof(struct uvfio_dma_logging_range))
		return -EINVAL;
	if (s->logging)
		return -EBUSY;
	unsigned n = ctl.num_ranges ? ctl.num_ranges : s->nmaps;
	struct vu_dirty_range *d = calloc(n ? n : 1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	uint64_t total = 0;
	int r = 0;
	for (unsigned i = 0; i < n && r == 0; i++) {
		struct uvfio_dma_logging_range rg;
		if (ctl.num_ranges)
			memcpy(&rg, data + sizeof(ctl) + i * sizeof(rg), sizeof(rg));
		else
			rg = (struct uvfio_dma_logging_range){ s->maps[i].iova, s->maps[i].size };
		if (!rg.length || rg.iova + rg.length < rg.iova) {
			r = -EINVAL;
			break;
		}
		uint64_t pages = (rg.length + ctl.page_size - 1) / ctl.page_size;
		total += (pages + 63) / 64 * 8;
		if (total > DIRTY_BITMAP_MAX) {
			r = -E2BIG;
			break;
		}
		d[i].iova = rg.iova;
		d[i].length = rg.length;
		d[i].bits = calloc((pages + 63) / 64, 8);
		if (!d[i].bits)
			r = -ENOMEM;
	}
	s->dirty = d;
	s->ndirty = n;
	if (r < 0) {
		vu_dirty_free(s);
		return r;
	}
	s->logging = true;
	s->log_page = ctl.page_size;
	void *out = vu_reply_buf(rep, len);
	if (!out) {
		vu_dirty_free(s);
		return -ENOMEM;
	}
	memcpy(out, data, len);
	return 0;
}

static int logging_report(struct uvfio_server *s, const uint8_t *data, size_t len, size_t room,
			  struct vu_reply *rep)
{
	struct uvfio_dma_logging_report q;
	if (len != sizeof(q))
		return -EINVAL;
	memcpy(&q, data, sizeof(q));
	if (!s->logging)
		return -EINVAL;
	if (!vu_is_pow2(q.page_size) || !q.length || q.iova + q.length < q.iova)
		return -EINVAL;
	uint64_t pages = q.length / q.page_size + (q.length % q.page_size != 0);
	uint64_t words = (pages + 63) / 64;
	if (sizeof(q) + words * 8 > s->mine.max_data_xfer_size)
		return -E2BIG;
	if (sizeof(q) + words * 8 > room)
		return -EINVAL; /* before any bit is cleared */
	uint8_t *out = vu_reply_buf(rep, sizeof(q) + words * 8);
	if (!out)
		return -ENOMEM;
	memcpy(out, &q, sizeof(q));
	uint64_t *bm = (uint64_t *)(out + sizeof(q));
	uint64_t qend = q.iova + q.length - 1;
	for (unsigned i = 0; i < s->ndirty; i++) {
		struct vu_dirty_range *d = &s->dirty[i];
		uint64_t np = (d->length + s->log_page - 1) / s->log_page;
		for (uint64_t p = 0; p < np; p++) {
			if (!(d->bits[p / 64] >> (p % 64) & 1))
				continue;
			uint64_t a = d->iova + p * s->log_page, b = a + s->log_page - 1;
			if (b < q.iova || a > qend)
				continue;
			uint64_t lo = (VU_MAX(a, q.iova) - q.iova) / q.page_size;
			uint64_t hi = (VU_MIN(b, qend) - q.iova) / q.page_size;
			for (uint64_t k = lo; k <= hi; k++)
				bm[k / 64] |= 1ull << (k % 64);
			/* reported pages wholly inside the query are cleared */
			if (a >= q.iova && b <= qend)
				d->bits[p / 64] &= ~(1ull << (p % 64));
		}
	}
	return 0;
}

int vu_srv_dma_logging(struct uvfio_server *s, uint32_t feature, uint32_t flags,
		       const uint8_t *data, size_t len, size_t room, struct vu_reply *rep)
{
	bool get = flags & VFIO_DEVICE_FEATURE_GET, set = flags & VFIO_DEVICE_FEATURE_SET;
	if (feature == UVFIO_FEATURE_DMA_LOGGING_REPORT) {
		if (set)
			return -EINVAL;
		return (flags & VFIO_DEVICE_FEATURE_PROBE) ? 0
							   : logging_report(s, data, len, room, rep);
	}
	if (get)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (feature == UVFIO_FEATURE_DMA_LOGGING_START)
		return logging_start(s, data, len, rep);
	if (len || !s->logging)
		return -EINVAL;
	vu_dirty_free(s);
	return 0;
}
