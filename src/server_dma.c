/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_dma.c — the DMA map table fed by DMA_MAP/DMA_UNMAP, translation of
 * IOVA ranges into pointers, DMA through mapped memory or DMA_READ/DMA_WRITE
 * messages (the library's writes are logged dirty as they complete).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * The map table is read and changed under dma_mu, from any thread. A map
 * that pieces of a copy (or a device's uvfio_server_dma_sg_get()) are using
 * is pinned; DMA_UNMAP takes it out of the table at once (no new user finds
 * it), lets the device drop its pointers (the dma_unmap callback), then
 * waits for the pins to go before the memory goes, at most timeout_ms:
 * pins still held then are revoked (revoke_map()), so that neither a device
 * thread that never lets go nor a stuck one holds up the client.
 */

/*
 * Bus Master Enable: a PCI function whose Command register has the bit
 * clear cannot reach memory. QEMU enforces it for DMA by messages (its
 * bus-master address space is disabled: ENODEV); here it is enforced for
 * every path, mapped memory too, so a guest that clears the bit (driver
 * unbind, kexec, reset) sees no DMA after it.
 */
int vu_srv_dma_permitted(struct uvfio_server *s)
{
	if (s->cfg.no_bus_master_check || __atomic_load_n(&s->bus_master, __ATOMIC_ACQUIRE))
		return 0;
	if (!__atomic_exchange_n(&s->bme_refused, true, __ATOMIC_RELAXED))
		vu_warn(&s->log, "device DMA refused: the client has not set Bus Master Enable "
				 "in the Command register (a driver sets it before DMA; "
				 "no_bus_master_check for a device that is not PCI)");
	return -ENODEV;
}

int uvfio_server_dma_permitted(struct uvfio_server *s)
{
	return s ? vu_srv_dma_permitted(s) : -EINVAL;
}

/* First map whose end is above iova (dma_mu held). */
static unsigned lower_bound(const struct uvfio_server *s, uint64_t iova)
{
	unsigned lo = 0, hi = s->nmaps;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (s->maps[mid]->iova + s->maps[mid]->size <= iova)
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

/*
 * The client's file must hold [offset, offset + size): a mapping past its
 * end faults (SIGBUS) on first touch. Only regular files (memfd, tmpfs,
 * hugetlbfs) have a size to check; a file shrunk later is the guarded
 * copy's business (dma_guard.c).
 */
static int check_backing(struct uvfio_server *s, int fd, const struct uvfio_dma_map *dm,
			 struct vu_srv_dma_map *mp)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	uint64_t fsize = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : UINT64_MAX;
	if (dm->offset > fsize || dm->size > fsize - dm->offset) {
		vu_warn(&s->log,
			"DMA_MAP [%#llx, +%#llx) at offset %#llx of a file of %#llx bytes: "
			"past its end",
			(unsigned long long)dm->addr, (unsigned long long)dm->size,
			(unsigned long long)dm->offset, (unsigned long long)fsize);
		return -ENXIO;
	}
	int seals = fcntl(fd, F_GET_SEALS);
	mp->may_shrink = seals < 0 || !(seals & F_SEAL_SHRINK);
	if (s->cfg.dma_require_seal) {
		if (mp->may_shrink) {
			vu_warn(&s->log, "DMA_MAP [%#llx, +%#llx): the descriptor is not sealed "
					 "against shrinking (F_SEAL_SHRINK)",
				(unsigned long long)dm->addr, (unsigned long long)dm->size);
			return -EPERM;
		}
	}
	return vu_guard_install();
}

/* Room for one more map, and where [addr, addr+size) goes: its index, or
 * a negative errno (dma_mu held). */
static int map_slot(struct uvfio_server *s, uint64_t addr, uint64_t size)
{
	if (s->nmaps >= s->mine.max_dma_maps)
		return -ENOSPC;
	unsigned i = lower_bound(s, addr);
	if (i < s->nmaps && s->maps[i]->iova < addr + size)
		return -EEXIST;
	if (s->nmaps == s->capmaps) {
		unsigned cap = s->capmaps ? s->capmaps * 2 : 16;
		struct vu_srv_dma_map **n = realloc(s->maps, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->maps = n;
		s->capmaps = cap;
	}
	return (int)i;
}

/* mmap() the client's descriptor for map mp; 0 or a negative errno. */
static int map_fd(struct uvfio_server *s, struct vu_msg *m, const struct uvfio_dma_map *dm,
		  struct vu_srv_dma_map *mp)
{
	int fd = vu_msg_take_fd(m, 0);
	int r = check_backing(s, fd, dm, mp);
	if (r < 0) {
		close(fd);
		return r;
	}
	int prot = ((dm->flags & UVFIO_DMA_FLAG_READ) ? PROT_READ : 0) |
		   ((dm->flags & UVFIO_DMA_FLAG_WRITE) ? PROT_WRITE : 0);
	void *p = dm->size > SIZE_MAX ? MAP_FAILED
				      : mmap(NULL, (size_t)dm->size, prot ? prot : PROT_NONE,
					     MAP_SHARED, fd, (off_t)dm->offset);
	int err = errno;
	close(fd); /* the mapping keeps the memory */
	if (p == MAP_FAILED) {
		vu_warn(&s->log, "cannot map DMA region [%#llx, +%#llx): %s",
			(unsigned long long)dm->addr, (unsigned long long)dm->size,
			uvfio_strerror(-err));
		return err == ENOMEM ? -ENOMEM : -EINVAL;
	}
	mp->vaddr = p;
	mp->map_len = (size_t)dm->size;
	return 0;
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
	pthread_mutex_lock(&s->dma_mu);
	int r = map_slot(s, dm.addr, dm.size); /* checked first: refused without a mmap */
	pthread_mutex_unlock(&s->dma_mu);
	if (r < 0)
		return r;
	struct vu_srv_dma_map *mp = calloc(1, sizeof(*mp));
	if (!mp)
		return -ENOMEM;
	*mp = (struct vu_srv_dma_map){ .iova = dm.addr, .size = dm.size, .prot = dm.flags };
	if (m->nfds && (r = map_fd(s, m, &dm, mp)) < 0) {
		free(mp);
		return r;
	}
	/* The device first: once in the table, other threads may use it. */
	if (s->ops.dma_map && (r = s->ops.dma_map(s->opaque, mp->iova, mp->size, mp->prot,
						  mp->vaddr)) < 0) {
		if (mp->vaddr)
			munmap(mp->vaddr, mp->map_len);
		free(mp);
		return r;
	}
	/* Only the serving thread changes the table: the slot still holds. */
	pthread_mutex_lock(&s->dma_mu);
	unsigned i = (unsigned)map_slot(s, dm.addr, dm.size);
	memmove(&s->maps[i + 1], &s->maps[i], (s->nmaps - i) * sizeof(s->maps[0]));
	s->maps[i] = mp;
	s->nmaps++;
	pthread_mutex_unlock(&s->dma_mu);
	return 0;
}

static void map_free(struct vu_srv_dma_map *mp)
{
	if (mp->vaddr)
		munmap(mp->vaddr, mp->map_len);
	free(mp);
}

/*
 * Pins outlived the wait: put private anonymous memory in place of the
 * client's, at the same addresses and with the same protection, in one
 * mmap(MAP_FIXED): the holder's later reads find zeros, its writes go
 * nowhere, nothing faults, and once mmap() returns no access reaches the
 * client's memory (the kernel replaces the pages under its mapping lock).
 * The map lives on until its last pin goes (dma_mu held). False if the
 * kernel refused: then the caller must keep waiting.
 */
static bool revoke_map(struct uvfio_server *s, struct vu_srv_dma_map *mp)
{
	int prot = ((mp->prot & UVFIO_DMA_FLAG_READ) ? PROT_READ : 0) |
		   ((mp->prot & UVFIO_DMA_FLAG_WRITE) ? PROT_WRITE : 0);
	void *p = mmap(mp->vaddr, mp->map_len, prot ? prot : PROT_NONE,
		       MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		vu_err(&s->log, "DMA_UNMAP [%#llx, +%#llx): cannot revoke the pinned range (%s); "
				"waiting for its pins",
		       (unsigned long long)mp->iova, (unsigned long long)mp->size,
		       uvfio_strerror(-errno));
		return false;
	}
	mp->revoked = true;
	mp->next_revoked = s->revoked;
	s->revoked = mp;
	vu_warn(&s->log, "DMA_UNMAP [%#llx, +%#llx): %u pin(s) still held after %d ms (the last "
			 "taken by thread %d): revoked, the holder's accesses now reach private "
			 "memory, never the client's",
		(unsigned long long)mp->iova, (unsigned long long)mp->size, mp->pins,
		s->timeout_ms, (int)mp->pinner);
	return true;
}

/* Take map i out of the table, then out of the device's hands, then out
 * of this process once nothing is pinned in it, or revoke it when pins
 * outlive timeout_ms (dma_mu held; returns with it held). */
static void unmap_at(struct uvfio_server *s, unsigned i)
{
	struct vu_srv_dma_map *mp = s->maps[i];
	memmove(&s->maps[i], &s->maps[i + 1], (s->nmaps - i - 1) * sizeof(s->maps[0]));
	s->nmaps--;
	mp->removed = true;
	pthread_mutex_unlock(&s->dma_mu);
	/* The device drops its pointers (and its pins) first. */
	if (s->ops.dma_unmap)
		s->ops.dma_unmap(s->opaque, mp->iova, mp->size);
	pthread_mutex_lock(&s->dma_mu);
	uint64_t deadline = vu_now_ms() + (uint64_t)s->timeout_ms;
	while (mp->pins) {
		uint64_t now = vu_now_ms();
		if (now >= deadline && revoke_map(s, mp))
			return;
		if (now >= deadline) {
			pthread_cond_wait(&s->dma_cv, &s->dma_mu);
			continue;
		}
		struct timespec ts = { .tv_sec = (time_t)(deadline / 1000),
				       .tv_nsec = (long)(deadline % 1000) * 1000000 };
		pthread_cond_timedwait(&s->dma_cv, &s->dma_mu, &ts);
	}
	map_free(mp);
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
		int r = vu_reply_add(rep, &du, sizeof(du)); /* before: it cannot fail after */
		if (r == 0)
			vu_srv_dma_drop_all(s); /* QEMU's way to drop every mapping */
		return r;
	}
	if (du.flags || !du.size)
		return -EINVAL;
	pthread_mutex_lock(&s->dma_mu);
	unsigned i = lower_bound(s, du.addr);
	int r = -ENOENT; /* the range must match a previous mapping exactly */
	if (i < s->nmaps && s->maps[i]->iova == du.addr && s->maps[i]->size == du.size) {
		r = vu_reply_add(rep, &du, sizeof(du)); /* before the unmap: it cannot fail after */
		if (r == 0) {
			/* Asynchronous transfers touching it end first; only the
			 * driving thread changes the table: i holds. */
			pthread_mutex_unlock(&s->dma_mu);
			vu_srv_async_cancel_range(s, du.addr, du.size);
			pthread_mutex_lock(&s->dma_mu);
			unmap_at(s, i);
		}
	}
	pthread_mutex_unlock(&s->dma_mu);
	return r;
}

int vu_srv_dma_ranges(struct uvfio_server *s, struct uvfio_dma_logging_range **out,
		      unsigned *n)
{
	pthread_mutex_lock(&s->dma_mu);
	*n = s->nmaps;
	*out = calloc(s->nmaps ? s->nmaps : 1, sizeof(**out));
	for (unsigned i = 0; *out && i < s->nmaps; i++)
		(*out)[i] = (struct uvfio_dma_logging_range){ s->maps[i]->iova, s->maps[i]->size };
	pthread_mutex_unlock(&s->dma_mu);
	return *out ? 0 : -ENOMEM;
}

void vu_srv_dma_drop_all(struct uvfio_server *s)
{
	if (s->nmaps) /* read by the driving thread, the only one that changes it */
		vu_srv_async_cancel_range(s, 0, UINT64_MAX);
	pthread_mutex_lock(&s->dma_mu);
	while (s->nmaps)
		unmap_at(s, s->nmaps - 1);
	pthread_mutex_unlock(&s->dma_mu);
}

void vu_srv_dma_free(struct uvfio_server *s)
{
	vu_srv_dma_drop_all(s);
	/* Revoked maps still pinned: destroy's caller promises that no thread
	 * uses the context any more, so no pin will ever be released. */
	while (s->revoked) {
		struct vu_srv_dma_map *mp = s->revoked;
		s->revoked = mp->next_revoked;
		map_free(mp);
	}
	free(s->maps);
	s->maps = NULL;
	s->capmaps = 0;
}

/* Release the pin of one piece (dma_mu held). */
static void unpin(struct uvfio_server *s, struct vu_srv_dma_map *mp)
{
	if (--mp->pins || !mp->removed)
		return;
	if (!mp->revoked) {
		pthread_cond_broadcast(&s->dma_cv); /* an unmap waits for it */
		return;
	}
	struct vu_srv_dma_map **pp = &s->revoked; /* the last pin of a revoked map */
	while (*pp != mp)
		pp = &(*pp)->next_revoked;
	*pp = mp->next_revoked;
	map_free(mp);
}

/* Translate [iova, iova+len) into sg; with pin, pin each mapped piece;
 * with prefix, as many pieces as sg holds (else -ENOSPC if more). */
static int translate(struct uvfio_server *s, uint64_t iova, uint64_t len, uint32_t prot,
		     struct uvfio_sg *sg, unsigned max, bool pin, bool prefix)
{
	if (!s || (!sg && max) || !len || iova + len < iova ||
	    (prot & ~(UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE)))
		return -EINVAL;
	int r = vu_srv_dma_permitted(s); /* each piece of a copy asks again */
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->dma_mu);
	unsigned i = lower_bound(s, iova), n = 0;
	/* The connection ended (or a thread found it broken): its memory is
	 * gone for the device, also before the maps are dropped (a disconnect
	 * waits for a device callback to return). */
	if (!s->dma_live)
		r = -EFAULT;
	while (len && r == 0 && !(prefix && n == max)) {
		if (i >= s->nmaps || s->maps[i]->iova > iova) {
			r = -EFAULT;
		} else if ((s->maps[i]->prot & prot) != prot) {
			r = -EPERM;
		} else if (n == max) {
			r = -ENOSPC;
		} else {
			struct vu_srv_dma_map *mp = s->maps[i++];
			uint64_t off = iova - mp->iova, chunk = VU_MIN(len, mp->size - off);
			bool mapped = mp->vaddr != NULL;
			sg[n] = (struct uvfio_sg){ .iova = iova, .len = chunk, .prot = prot,
						   .vaddr = mapped ? (uint8_t *)mp->vaddr + off : NULL,
						   .pin = pin && mapped ? mp : NULL };
			if (pin && mapped) {
				mp->pins++;
				mp->pinner = gettid();
			}
			n++;
			iova += chunk;
			len -= chunk;
		}
	}
	if (r < 0 && pin) /* all or nothing */
		for (unsigned k = 0; k < n; k++)
			if (sg[k].pin)
				unpin(s, sg[k].pin);
	pthread_mutex_unlock(&s->dma_mu);
	return r < 0 ? r : (int)n;
}

int uvfio_server_dma_sg(struct uvfio_server *s, uint64_t iova, uint64_t len, uint32_t prot,
			struct uvfio_sg *sg, unsigned max)
{
	return translate(s, iova, len, prot, sg, max, false, false);
}

int uvfio_server_dma_sg_get(struct uvfio_server *s, uint64_t iova, uint64_t len, uint32_t prot,
			    struct uvfio_sg *sg, unsigned max)
{
	return translate(s, iova, len, prot, sg, max, true, false);
}

void uvfio_server_dma_sg_put(struct uvfio_server *s, struct uvfio_sg *sg, unsigned n)
{
	if (!s || !sg)
		return;
	/* the device has written what it asked to write: log it now */
	for (unsigned k = 0; k < n; k++)
		if (sg[k].pin && (sg[k].prot & UVFIO_DMA_FLAG_WRITE))
			vu_dirty_mark(s, sg[k].iova, sg[k].len);
	pthread_mutex_lock(&s->dma_mu);
	for (unsigned k = 0; k < n; k++) {
		if (sg[k].pin)
			unpin(s, sg[k].pin);
		sg[k].pin = NULL;
	}
	pthread_mutex_unlock(&s->dma_mu);
}

/* Copy one pinned piece of mapped memory; a write is logged once done
 * (also in part, before a fault). */
static int copy_mapped(struct uvfio_server *s, const struct uvfio_sg *sg, uint8_t *buf,
		       bool write)
{
	/* Memory sealed against shrinking cannot fault that way: its copy
	 * skips making sure SIGBUS is unblocked (two system calls). */
	bool shrink = ((const struct vu_srv_dma_map *)sg->pin)->may_shrink;
	int r = write ? vu_guarded_copy_ex(sg->vaddr, buf, sg->len, sg->vaddr, shrink)
		      : vu_guarded_copy_ex(buf, sg->vaddr, sg->len, sg->vaddr, shrink);
	if (write)
		vu_dirty_mark(s, sg->iova, sg->len);
	if (r < 0)
		vu_warn(&s->log, "DMA %s [%#llx, +%#llx): the client's memory is gone (its file "
				 "was shrunk)",
			write ? "write" : "read", (unsigned long long)sg->iova,
			(unsigned long long)sg->len);
	return r;
}

int64_t vu_srv_dma_step(struct uvfio_server *s, uint64_t iova, uint8_t *buf, uint64_t len,
			uint64_t cap, bool write, uint64_t *msg_len)
{
	uint32_t prot = write ? UVFIO_DMA_FLAG_WRITE : UVFIO_DMA_FLAG_READ;
	/* One piece at a time: no pin is held while messages are awaited. */
	struct uvfio_sg sg;
	int r = translate(s, iova, len, prot, &sg, 1, true, true);
	if (r < 0)
		return r;
	if (!sg.vaddr) {
		*msg_len = sg.len;
		return 0;
	}
	sg.len = VU_MIN(sg.len, cap);
	r = copy_mapped(s, &sg, buf, write);
	pthread_mutex_lock(&s->dma_mu);
	unpin(s, sg.pin);
	pthread_mutex_unlock(&s->dma_mu);
	return r < 0 ? r : (int64_t)sg.len;
}

static int dma_copy(struct uvfio_server *s, uint64_t iova, uint8_t *buf, size_t len, bool write)
{
	if (!s || (!buf && len))
		return -EINVAL;
	while (len) {
		uint64_t n;
		int64_t r = vu_srv_dma_step(s, iova, buf, len, len, write, &n);
		if (r == 0)
			r = vu_srv_dma_message(s, iova, buf, n, write);
		else
			n = (uint64_t)r;
		if (r < 0)
			return (int)r;
		buf += n;
		iova += n;
		len -= n;
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

