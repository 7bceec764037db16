/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_dirty.c — dirty-page logging (DEVICE_FEATURE DMA_LOGGING_START,
 * _STOP, _REPORT) and the marks that feed it.
 *
 * Marks come from any thread (the library's copies when a write completes,
 * the device through uvfio_server_dma_mark_dirty()); a report runs on the
 * serving thread at the same time. Bits are set with an atomic OR and a
 * report takes each bitmap word with one atomic AND that clears exactly the
 * pages it reports whole: a mark lands either before it (reported now) or
 * after (reported next time), never in between. The bitmaps themselves
 * live under dirty_rw: marks and reports share it, start and stop own it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DIRTY_BITMAP_MAX (64u << 20) /* bytes of bitmap one logging session may use */

static void dirty_free_locked(struct uvfio_server *s)
{
	for (unsigned i = 0; i < s->ndirty; i++)
		free(s->dirty[i].bits);
	free(s->dirty);
	s->dirty = NULL;
	s->ndirty = 0;
	__atomic_store_n(&s->logging, false, __ATOMIC_RELEASE);
}

void vu_dirty_free(struct uvfio_server *s)
{
	pthread_rwlock_wrlock(&s->dirty_rw);
	dirty_free_locked(s);
	pthread_rwlock_unlock(&s->dirty_rw);
}

void vu_dirty_mark(struct uvfio_server *s, uint64_t iova, uint64_t len)
{
	/* Not logging: nothing to take. A write completing after START's
	 * reply left sees logging set (START sets it before replying). */
	if (!len || !__atomic_load_n(&s->logging, __ATOMIC_ACQUIRE))
		return;
	uint64_t end = iova + len - 1 < iova ? UINT64_MAX : iova + len - 1;
	pthread_rwlock_rdlock(&s->dirty_rw);
	for (unsigned i = 0; i < s->ndirty; i++) {
		struct vu_dirty_range *d = &s->dirty[i];
		uint64_t dend = d->iova + d->length - 1;
		if (end < d->iova || iova > dend)
			continue;
		uint64_t a = (VU_MAX(iova, d->iova) - d->iova) / s->log_page;
		uint64_t b = (VU_MIN(end, dend) - d->iova) / s->log_page;
		for (uint64_t p = a; p <= b; p++)
			__atomic_fetch_or(&d->bits[p / 64], 1ull << (p % 64), __ATOMIC_RELAXED);
	}
	pthread_rwlock_unlock(&s->dirty_rw);
}

int uvfio_server_dma_mark_dirty(struct uvfio_server *s, uint64_t iova, uint64_t len)
{
	if (!s || !len || iova + len - 1 < iova)
		return -EINVAL;
	vu_dirty_mark(s, iova, len);
	return 0;
}

/* The ranges to log: those START names, or every DMA mapping. */
static int logging_ranges(struct uvfio_server *s, const struct uvfio_dma_logging_control *ctl,
			  const uint8_t *data, struct vu_dirty_range **out, unsigned *nout)
{
	unsigned n = ctl->num_ranges;
	struct uvfio_dma_logging_range *rg = NULL;
	if (!n) {
		int r = vu_srv_dma_ranges(s, &rg, &n);
		if (r < 0)
			return r;
	}
	struct vu_dirty_range *d = calloc(n ? n : 1, sizeof(*d));
	if (!d) {
		free(rg);
		return -ENOMEM;
	}
	uint64_t total = 0;
	int r = 0;
	for (unsigned i = 0; i < n && r == 0; i++) {
		struct uvfio_dma_logging_range one;
		if (rg)
			one = rg[i];
		else
			memcpy(&one, data + sizeof(*ctl) + i * sizeof(one), sizeof(one));
		if (!one.length || one.iova + one.length < one.iova) {
			r = -EINVAL;
			break;
		}
		uint64_t pages = (one.length + ctl->page_size - 1) / ctl->page_size;
		total += (pages + 63) / 64 * 8;
		if (total > DIRTY_BITMAP_MAX) {
			r = -E2BIG;
			break;
		}
		d[i].iova = one.iova;
		d[i].length = one.length;
		d[i].bits = calloc((pages + 63) / 64, 8);
		if (!d[i].bits)
			r = -ENOMEM;
	}
	free(rg);
	if (r < 0) {
		for (unsigned i = 0; i < n; i++)
			free(d[i].bits);
		free(d);
		return r;
	}
	*out = d;
	*nout = n;
	return 0;
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
	if (__atomic_load_n(&s->logging, __ATOMIC_ACQUIRE))
		return -EBUSY;
	void *out = vu_reply_buf(rep, len);
	if (!out)
		return -ENOMEM;
	memcpy(out, data, len);
	struct vu_dirty_range *d;
	unsigned n;
	int r = logging_ranges(s, &ctl, data, &d, &n);
	if (r < 0)
		return r;
	pthread_rwlock_wrlock(&s->dirty_rw);
	s->dirty = d;
	s->ndirty = n;
	s->log_page = ctl.page_size;
	__atomic_store_n(&s->logging, true, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&s->dirty_rw);
	return 0;
}

/* Report the pages of one range inside [q.iova, qend] into bm, clearing
 * those wholly inside the query, one bitmap word at a time. */
static void report_range(const struct uvfio_server *s, struct vu_dirty_range *d,
			 const struct uvfio_dma_logging_report *q, uint64_t *bm)
{
	uint64_t qend = q->iova + q->length - 1, pg = s->log_page;
	uint64_t np = (d->length + pg - 1) / pg;
	for (uint64_t w = 0; w < (np + 63) / 64; w++) {
		uint64_t whole = 0; /* pages of this word wholly inside the query */
		for (unsigned k = 0; k < 64 && w * 64 + k < np; k++) {
			uint64_t a = d->iova + (w * 64 + k) * pg;
			if (a >= q->iova && a + pg - 1 <= qend && a + pg - 1 >= a)
				whole |= 1ull << k;
		}
		uint64_t bits = whole ? __atomic_fetch_and(&d->bits[w], ~whole, __ATOMIC_RELAXED)
				      : __atomic_load_n(&d->bits[w], __ATOMIC_RELAXED);
		for (; bits; bits &= bits - 1) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
			uint64_t a = d->iova + p * pg, b = a + pg - 1;
			if (b < q->iova || a > qend)
				continue;
			uint64_t lo = (VU_MAX(a, q->iova) - q->iova) / q->page_size;
			uint64_t hi = (VU_MIN(b, qend) - q->iova) / q->page_size;
			for (uint64_t k = lo; k <= hi; k++)
				bm[k / 64] |= 1ull << (k % 64);
		}
	}
}

static int logging_report(struct uvfio_server *s, const uint8_t *data, size_t len, size_t room,
			  struct vu_reply *rep)
{
	struct uvfio_dma_logging_report q;
	if (len != sizeof(q))
		return -EINVAL;
	memcpy(&q, data, sizeof(q));
	if (!__atomic_load_n(&s->logging, __ATOMIC_ACQUIRE))
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
	pthread_rwlock_rdlock(&s->dirty_rw);
	for (unsigned i = 0; i < s->ndirty; i++) {
		struct vu_dirty_range *d = &s->dirty[i];
		if (d->iova <= q.iova + q.length - 1 && q.iova <= d->iova + d->length - 1)
			report_range(s, d, &q, bm);
	}
	pthread_rwlock_unlock(&s->dirty_rw);
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
	if (len || !__atomic_load_n(&s->logging, __ATOMIC_ACQUIRE))
		return -EINVAL;
	vu_dirty_free(s);
	return 0;
}
