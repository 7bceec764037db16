/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * client_dma.c — the memory a client gives its device: the registry of DMA
 * ranges, DMA_MAP/DMA_UNMAP, and the answers to the server's DMA_READ and
 * DMA_WRITE requests, checked against the registered ranges and their
 * permissions.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Index of the first range whose end is above iova. dma_mu held. */
static unsigned lower_bound(const struct vu_client_dma *d, uint64_t iova)
{
	unsigned lo = 0, hi = d->n;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct uvfio_dma_region *r = &d->regs[mid].r;
		if (r->iova + r->size <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int vu_client_dma_add(struct uvfio_client *c, const struct uvfio_dma_region *r)
{
	struct vu_client_dma *d = &c->dma;
	int ret = 0;
	pthread_mutex_lock(&c->dma_mu);
	unsigned i = lower_bound(d, r->iova);
	if (i < d->n && d->regs[i].r.iova < r->iova + r->size) {
		ret = -EEXIST;
		goto out;
	}
	if (d->n == d->cap) {
		unsigned cap = d->cap ? d->cap * 2 : 16;
		struct vu_dma_reg *n = realloc(d->regs, cap * sizeof(*n));
		if (!n) {
			ret = -ENOMEM;
			goto out;
		}
		d->regs = n;
		d->cap = cap;
	}
	memmove(&d->regs[i + 1], &d->regs[i], (d->n - i) * sizeof(d->regs[0]));
	d->regs[i].r = *r;
	d->regs[i].r.fd = -1; /* the descriptor is not kept */
	d->n++;
out:
	pthread_mutex_unlock(&c->dma_mu);
	return ret;
}

int vu_client_dma_del(struct uvfio_client *c, uint64_t iova, uint64_t size,
		      struct uvfio_dma_region *out)
{
	struct vu_client_dma *d = &c->dma;
	int ret = -ENOENT;
	pthread_mutex_lock(&c->dma_mu);
	unsigned i = lower_bound(d, iova);
	if (i < d->n && d->regs[i].r.iova == iova && d->regs[i].r.size == size) {
		if (out)
			*out = d->regs[i].r;
		memmove(&d->regs[i], &d->regs[i + 1], (d->n - i - 1) * sizeof(d->regs[0]));
		d->n--;
		ret = 0;
	}
	pthread_mutex_unlock(&c->dma_mu);
	return ret;
}

void vu_client_dma_free(struct uvfio_client *c)
{
	free(c->dma.regs);
	c->dma.regs = NULL;
	c->dma.n = c->dma.cap = 0;
}

/*
 * Point iov at the registered memory behind [iova, iova+len), one piece per
 * registered range, checking every byte reached and the permission. dma_mu
 * held. Stops after max pieces; *covered says how many bytes they hold.
 * Returns the number of pieces, -EFAULT (a byte not registered) or -EPERM.
 */
static int dma_iov(struct uvfio_client *c, uint64_t iova, uint64_t len, uint32_t prot,
		   struct iovec *iov, int max, uint64_t *covered)
{
	struct vu_client_dma *d = &c->dma;
	unsigned i = lower_bound(d, iova);
	int n = 0;
	*covered = 0;
	while (len && n < max) {
		if (i >= d->n || d->regs[i].r.iova > iova)
			return -EFAULT;
		const struct uvfio_dma_region *r = &d->regs[i].r;
		if (!(r->prot & prot))
			return -EPERM;
		uint64_t off = iova - r->iova;
		uint64_t k = VU_MIN(len, r->size - off);
		iov[n].iov_base = (uint8_t *)r->vaddr + off;
		iov[n].iov_len = (size_t)k;
		n++;
		*covered += k;
		iova += k;
		len -= k;
		i++;
	}
	return n;
}

/*
 * Copy between the registered memory and buf for a DMA request of the
 * server. A request may span adjacent registered ranges; every byte must be
 * covered and allow the access. Returns 0 or -EFAULT (outside) / -EPERM.
 */
static int dma_copy(struct uvfio_client *c, uint64_t iova, void *buf, uint64_t len, bool write)
{
	uint8_t *p = buf;
	int r = 0;
	pthread_mutex_lock(&c->dma_mu);
	while (len && r >= 0) {
		struct iovec iov[16];
		uint64_t covered;
		r = dma_iov(c, iova, len, write ? UVFIO_DMA_FLAG_WRITE : UVFIO_DMA_FLAG_READ, iov,
			    16, &covered);
		for (int k = 0; k < r; k++) {
			if (write)
				memcpy(iov[k].iov_base, p, iov[k].iov_len);
			else
				memcpy(p, iov[k].iov_base, iov[k].iov_len);
			p += iov[k].iov_len;
		}
		iova += covered;
		len -= covered;
	}
	pthread_mutex_unlock(&c->dma_mu);
	return r < 0 ? r : 0;
}

/* A client that proposes version 0.0 speaks QEMU's dialect, including its
 * DMA_READ/DMA_WRITE layout (4-byte count, 4 bytes of padding after the
 * data), which is what a uvfio server expects of it (docs/INTEROP.md). */
static bool qemu_layout(const struct uvfio_client *c)
{
	return c->cfg.propose_minor_zero;
}

static const uint8_t qemu_pad[UVFIO_DMA_ACCESS32_PAD];

/* The handlers return 0 once they have replied, or the errno of the error
 * reply their caller sends. */
static int handle_dma_read(struct uvfio_client *c, int sock, struct vu_msg *m)
{
	struct uvfio_dma_access a;
	if (m->len != sizeof(a))
		return -EINVAL;
	memcpy(&a, m->body, sizeof(a));
	if (a.count > c->mine.max_data_xfer_size)
		return -EINVAL;
	/* The request is the same in both layouts (QEMU reads the low half of
	 * the count); the reply differs. */
	bool qemu = qemu_layout(c);
	struct uvfio_dma_access32 a32 = { .addr = a.addr, .count = (uint32_t)a.count };
	/* The reply is sent straight from the registered memory, which stays
	 * registered (dma_mu) until it has left. */
	struct iovec iov[16] = { qemu ? (struct iovec){ &a32, sizeof(a32) }
				      : (struct iovec){ &a, sizeof(a) } };
	int room = qemu ? 14 : 15; /* QEMU's padding takes the last piece */
	uint64_t covered;
	uint8_t *buf = NULL;
	pthread_mutex_lock(&c->dma_mu);
	int r = dma_iov(c, a.addr, a.count, UVFIO_DMA_FLAG_READ, iov + 1, room, &covered);
	if (r >= 0 && covered < a.count) {
		/* more ranges than pieces: copy instead */
		buf = malloc(a.count ? a.count : 1);
		r = buf ? dma_copy(c, a.addr, buf, a.count, false) : -ENOMEM;
		iov[1] = (struct iovec){ buf, a.count };
		r = r < 0 ? r : 1;
	}
	if (r >= 0) {
		if (qemu)
			iov[++r] = (struct iovec){ (void *)qemu_pad, sizeof(qemu_pad) };
		vu_client_send_reply(c, sock, &m->hdr, 0, iov, r + 1);
		r = 0;
	}
	pthread_mutex_unlock(&c->dma_mu);
	free(buf);
	return r;
}

static int handle_dma_write(struct uvfio_client *c, int sock, struct vu_msg *m)
{
	if (qemu_layout(c)) {
		struct uvfio_dma_access32 a32;
		if (m->len < sizeof(a32) + sizeof(qemu_pad))
			return -EINVAL;
		memcpy(&a32, m->body, sizeof(a32));
		if (a32.count != m->len - sizeof(a32) - sizeof(qemu_pad))
			return -EINVAL;
		int r = dma_copy(c, a32.addr, m->body + sizeof(a32), a32.count, true);
		if (r == 0) /* QEMU answers with the header alone */
			vu_client_send_reply(c, sock, &m->hdr, 0, NULL, 0);
		return r;
	}
	struct uvfio_dma_access a;
	if (m->len < sizeof(a))
		return -EINVAL;
	memcpy(&a, m->body, sizeof(a));
	if (a.count != m->len - sizeof(a))
		return -EINVAL;
	int r = dma_copy(c, a.addr, m->body + sizeof(a), a.count, true);
	if (r == 0) {
		/* The reply echoes address and count (8 bytes each, as
		 * libvfio-user does; the specification's table shows 4 for
		 * count, which no implementation sends). */
		struct iovec iov = { &a, sizeof(a) };
		vu_client_send_reply(c, sock, &m->hdr, 0, &iov, 1);
	}
	return r;
}

void vu_client_handle_request(struct uvfio_client *c, int sock, struct vu_msg *m)
{
	int r;
	if (m->nfds || m->fds_dropped)
		r = -EINVAL; /* no server request carries descriptors */
	else if (m->hdr.cmd == UVFIO_CMD_DMA_READ)
		r = handle_dma_read(c, sock, m);
	else if (m->hdr.cmd == UVFIO_CMD_DMA_WRITE)
		r = handle_dma_write(c, sock, m);
	else
		r = -ENOTSUP;
	if (r < 0) {
		vu_warn(&c->log, "refusing server request %s id %u: %s",
			uvfio_cmd_name(m->hdr.cmd), m->hdr.msg_id, uvfio_strerror(r));
		if (!(m->hdr.flags & UVFIO_FLAGS_NO_REPLY))
			vu_client_send_reply(c, sock, &m->hdr, r, NULL, 0);
	}
	vu_msg_free(m);
}

int uvfio_client_dma_map(struct uvfio_client *c, const struct uvfio_dma_region *r)
{
	if (!c || !r || !r->size || r->iova + r->size < r->iova || !r->vaddr ||
	    (r->prot & ~(UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE)))
		return -EINVAL;
	int ret = vu_client_dma_add(c, r);
	if (ret < 0)
		return ret;
	struct uvfio_dma_map dm = {
		.argsz = sizeof(dm),
		.flags = r->prot,
		.offset = r->fd >= 0 ? r->fd_offset : 0,
		.addr = r->iova,
		.size = r->size,
	};
	struct iovec iov = { &dm, sizeof(dm) };
	ret = vu_client_request(c, UVFIO_CMD_DMA_MAP, &iov, 1, r->fd >= 0 ? &r->fd : NULL,
				r->fd >= 0 ? 1 : 0, VU_WAIT, NULL, NULL, NULL);
	if (ret < 0)
		vu_client_dma_del(c, r->iova, r->size, NULL);
	return ret;
}

int uvfio_client_dma_unmap(struct uvfio_client *c, uint64_t iova, uint64_t size)
{
	if (!c || !size)
		return -EINVAL;
	struct uvfio_dma_region old;
	int ret = vu_client_dma_del(c, iova, size, &old);
	if (ret < 0)
		return ret;
	struct uvfio_dma_unmap du = { .argsz = sizeof(du), .addr = iova, .size = size };
	struct iovec iov = { &du, sizeof(du) };
	struct vu_msg *m;
	ret = vu_client_request(c, UVFIO_CMD_DMA_UNMAP, &iov, 1, NULL, 0, VU_WAIT, NULL, NULL, &m);
	if (ret == 0) {
		/* The server echoes the entry (or, as some do, nothing). */
		if ((m->len != 0 && m->len != sizeof(du)) || m->nfds)
			ret = -EPROTO;
		vu_msg_free(m);
	}
	/* The memory stays forgotten even on failure: the server may have
	 * dropped it, and answering DMA from it again would be unsafe. */
	return ret;
}
