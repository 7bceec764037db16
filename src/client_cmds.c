/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * client_cmds.c — one function per client command: encode the request, send
 * it through the message core, and validate every field of the reply before
 * the caller sees it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal.h"

#define REGION_INFO_MAX_ARGSZ (64u * 1024u) /* bound of the larger-argsz retry */
#define REGION_INFO_MAX_TRIES 4

/* A request whose reply must be exactly rep_len bytes (copied to rep). */
static int call_fixed(struct uvfio_client *c, uint16_t cmd, const void *req, size_t req_len,
		      void *rep, size_t rep_len)
{
	struct iovec iov = { (void *)req, req_len };
	struct vu_msg *m;
	int r = vu_client_request(c, cmd, &iov, req_len ? 1 : 0, NULL, 0, VU_WAIT, NULL, NULL, &m);
	if (r < 0)
		return r;
	if (m->len != rep_len || m->nfds)
		r = -EPROTO;
	else if (rep_len)
		memcpy(rep, m->body, rep_len);
	vu_msg_free(m);
	return r;
}

int uvfio_client_call(struct uvfio_client *c, struct uvfio_call *call)
{
	if (!c || !call || (call->req_len && !call->req) || call->nfds > UVFIO_MAX_FDS_LIMIT)
		return -EINVAL;
	struct iovec iov = { (void *)call->req, call->req_len };
	struct vu_msg *m;
	call->rep_len = 0;
	call->nrfds = 0;
	int r = vu_client_request(c, call->cmd, &iov, 1, call->fds, call->nfds, VU_WAIT, NULL, NULL,
				  &m);
	if (r < 0)
		return r;
	if (m->len > call->rep_cap)
		r = -EMSGSIZE;
	else if (m->nfds > call->rfds_cap)
		r = -EPROTO;
	if (r == 0) {
		if (m->len)
			memcpy(call->rep, m->body, m->len);
		call->rep_len = m->len;
		for (unsigned i = 0; i < m->nfds; i++)
			call->rfds[i] = vu_msg_take_fd(m, i);
		call->nrfds = m->nfds;
	}
	vu_msg_free(m);
	return r;
}

int uvfio_client_call_async(struct uvfio_client *c, uint16_t cmd, const void *req, size_t req_len,
			    uvfio_async_fn fn, void *opaque)
{
	if (!c || !fn || (req_len && !req))
		return -EINVAL;
	struct iovec iov = { (void *)req, req_len };
	return vu_client_request(c, cmd, &iov, 1, NULL, 0, VU_ASYNC, fn, opaque, NULL);
}

int uvfio_client_device_info(struct uvfio_client *c, struct uvfio_device_info *info)
{
	if (!c || !info)
		return -EINVAL;
	struct uvfio_device_info req = { .argsz = sizeof(req) };
	int r = call_fixed(c, UVFIO_CMD_DEVICE_GET_INFO, &req, sizeof(req), info, sizeof(*info));
	if (r == 0 && info->argsz < sizeof(*info))
		r = -EPROTO;
	return r;
}

int uvfio_client_reset(struct uvfio_client *c)
{
	return c ? call_fixed(c, UVFIO_CMD_DEVICE_RESET, NULL, 0, NULL, 0) : -EINVAL;
}

int uvfio_client_irq_info(struct uvfio_client *c, uint32_t index, struct vfio_irq_info *info)
{
	if (!c || !info)
		return -EINVAL;
	struct vfio_irq_info req = { .argsz = sizeof(req), .index = index };
	int r = call_fixed(c, UVFIO_CMD_DEVICE_GET_IRQ_INFO, &req, sizeof(req), info, sizeof(*info));
	if (r == 0 && (info->index != index || info->argsz < sizeof(*info)))
		r = -EPROTO;
	return r;
}

int uvfio_client_set_irqs(struct uvfio_client *c, uint32_t index, uint32_t flags, uint32_t start,
			  uint32_t count, const void *data)
{
	if (!c)
		return -EINVAL;
	uint32_t dtype = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	if (__builtin_popcount(dtype) != 1 || __builtin_popcount(action) != 1 ||
	    (flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return -EINVAL;
	if (start + count < start)
		return -EINVAL;
	struct vfio_irq_set s = {
		.argsz = sizeof(s), .flags = flags, .index = index, .start = start, .count = count
	};
	struct iovec iov[2] = { { &s, sizeof(s) }, { NULL, 0 } };
	const int *fds = NULL;
	unsigned nfds = 0;
	if (dtype == VFIO_IRQ_SET_DATA_BOOL) {
		if (!data || !count)
			return -EINVAL;
		iov[1].iov_base = (void *)data;
		iov[1].iov_len = count;
		s.argsz += count;
	} else if (dtype == VFIO_IRQ_SET_DATA_EVENTFD && data) {
		const int *ev = data;
		if (count > c->server.max_msg_fds || count > UVFIO_MAX_FDS_LIMIT)
			return -E2BIG;
		/* The wire has no holes in an eventfd array: when some entries
		 * are -1 (de-assign), each vector goes in a message of its own. */
		bool holes = false;
		for (uint32_t i = 0; i < count; i++)
			holes |= ev[i] < 0;
		if (holes) {
			for (uint32_t j = 0; j < count; j++) {
				int r = uvfio_client_set_irqs(c, index, flags, start + j, 1,
							      ev[j] < 0 ? NULL : &ev[j]);
				if (r < 0)
					return r;
			}
			return 0;
		}
		fds = ev;
		nfds = count;
	}
	struct vu_msg *m;
	int r = vu_client_request(c, UVFIO_CMD_DEVICE_SET_IRQS, iov, 2, fds, nfds, VU_WAIT, NULL,
				  NULL, &m);
	if (r == 0) {
		if (m->len || m->nfds)
			r = -EPROTO;
		vu_msg_free(m);
	}
	return r;
}

/* ---- Region info ----------------------------------------------------------------- */

void uvfio_region_info_release(struct uvfio_region_info *ri)
{
	if (!ri)
		return;
	free(ri->areas);
	free(ri->caps);
	vu_close(&ri->fd);
	ri->areas = NULL;
	ri->caps = NULL;
	ri->nr_areas = 0;
	ri->caps_len = 0;
}

/* Walk and check the capability chain of a region info reply. */
static int parse_region_caps(struct uvfio_region_info *ri, const uint8_t *buf, uint32_t len,
			     uint32_t first)
{
	uint32_t off = first;
	unsigned hops = 0;
	while (off) {
		struct vfio_info_cap_header h;
		if (off < sizeof(struct vfio_region_info) || off % 4 || off > len ||
		    len - off < sizeof(h) || ++hops > 64)
			return -EPROTO;
		memcpy(&h, buf + off, sizeof(h));
		if (h.next && h.next <= off)
			return -EPROTO; /* chains only go forward: no loops */
		uint32_t end = h.next ? h.next : len;
		if (end > len)
			return -EPROTO;
		uint32_t room = end - off;
		if (h.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			struct vfio_region_info_cap_sparse_mmap sm;
			if (room < sizeof(sm) || ri->areas)
				return -EPROTO;
			memcpy(&sm, buf + off, sizeof(sm));
			if (sm.nr_areas > (room - sizeof(sm)) / sizeof(struct vfio_region_sparse_mmap_area))
				return -EPROTO;
			ri->areas = calloc(sm.nr_areas ? sm.nr_areas : 1, sizeof(*ri->areas));
			if (!ri->areas)
				return -ENOMEM;
			for (uint32_t i = 0; i < sm.nr_areas; i++) {
				struct vfio_region_sparse_mmap_area a;
				memcpy(&a, buf + off + sizeof(sm) + i * sizeof(a), sizeof(a));
				if (!a.size || vu_range_bad(a.offset, a.size, ri->size))
					return -EPROTO;
				ri->areas[i].offset = a.offset;
				ri->areas[i].size = a.size;
			}
			ri->nr_areas = sm.nr_areas;
		} else if (h.id == VFIO_REGION_INFO_CAP_TYPE) {
			struct vfio_region_info_cap_type t;
			if (room < sizeof(t))
				return -EPROTO;
			memcpy(&t, buf + off, sizeof(t));
			ri->has_type = true;
			ri->type = t.type;
			ri->subtype = t.subtype;
		}
		/* Other capabilities are kept raw in ri->caps. */
		off = h.next;
	}
	return 0;
}

/*
 * A request whose argsz (the first field of the request and of the reply,
 * as in VFIO's structures) may be too small: the server then answers with
 * the size it needs (no data) and the request is asked again with that, a
 * few times and never past a sane bound. The reply has rep_min bytes at
 * least; with fits, no more than *argsz and one descriptor at most. Returns
 * 0 with *out (the caller frees it) and *argsz the size asked with.
 */
static int call_sized(struct uvfio_client *c, uint16_t cmd, void *req, size_t req_len,
		      size_t rep_min, uint32_t *argsz, bool fits, struct vu_msg **out)
{
	for (int tries = 0;; tries++) {
		memcpy(req, argsz, sizeof(*argsz));
		struct iovec iov = { req, req_len };
		struct vu_msg *m;
		int r = vu_client_request(c, cmd, &iov, 1, NULL, 0, VU_WAIT, NULL, NULL, &m);
		if (r < 0)
			return r;
		uint32_t need;
		if (m->len < rep_min || (fits && (m->len > *argsz || m->nfds > 1))) {
			vu_msg_free(m);
			return -EPROTO;
		}
		memcpy(&need, m->body, sizeof(need));
		if (need <= *argsz) {
			*out = m;
			return 0;
		}
		vu_msg_free(m);
		if (tries + 1 >= REGION_INFO_MAX_TRIES || need > REGION_INFO_MAX_ARGSZ)
			return -EPROTO;
		*argsz = need;
	}
}

int uvfio_client_region_info(struct uvfio_client *c, uint32_t index, struct uvfio_region_info *ri)
{
	if (!c || !ri)
		return -EINVAL;
	memset(ri, 0, sizeof(*ri));
	ri->fd = -1;
	/* Start with the bare structure, as QEMU does; the server says when it
	 * needs more (capabilities) and the request is retried. */
	struct vfio_region_info req = { .index = index }, rep;
	uint32_t argsz = sizeof(req);
	struct vu_msg *m;
	int r = call_sized(c, UVFIO_CMD_DEVICE_GET_REGION_INFO, &req, sizeof(req), sizeof(rep),
			   &argsz, true, &m);
	if (r < 0)
		return r;
	memcpy(&rep, m->body, sizeof(rep));
	ri->index = rep.index;
	ri->flags = rep.flags;
	ri->size = rep.size;
	ri->offset = rep.offset;
	uint32_t len = (uint32_t)VU_MIN((size_t)rep.argsz, m->len);
	if (rep.index != index || len < sizeof(rep))
		r = -EPROTO;
	if (r == 0 && (rep.flags & VFIO_REGION_INFO_FLAG_CAPS) && rep.cap_offset)
		r = parse_region_caps(ri, m->body, len, rep.cap_offset);
	if (r == 0 && len > sizeof(rep)) {
		ri->caps_len = len - (uint32_t)sizeof(rep);
		ri->caps = malloc(ri->caps_len);
		if (!ri->caps)
			r = -ENOMEM;
		else
			memcpy(ri->caps, m->body + sizeof(rep), ri->caps_len);
	}
	if (r == 0 && m->nfds)
		ri->fd = vu_msg_take_fd(m, 0);
	if (r == 0 && (rep.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		if (ri->fd < 0) {
			vu_warn(&c->log, "region %u is mappable but came without a descriptor",
				index);
			r = -EPROTO;
		} else if (!ri->areas) {
			ri->areas = calloc(1, sizeof(*ri->areas));
			if (!ri->areas)
				r = -ENOMEM;
			else {
				ri->areas[0].size = ri->size;
				ri->nr_areas = ri->size ? 1 : 0;
			}
		}
	}
	vu_msg_free(m);
	if (r < 0)
		uvfio_region_info_release(ri);
	return r;
}

int uvfio_region_map_area(const struct uvfio_region_info *ri, unsigned area, int prot, void **addr)
{
	if (!ri || !addr || area >= ri->nr_areas || ri->fd < 0 ||
	    !(ri->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -EINVAL;
	const struct uvfio_mmap_area *a = &ri->areas[area];
	uint64_t off = ri->offset + a->offset;
	if (off < ri->offset)
		return -EINVAL;
	/* The server's file must hold the area: a mapping past its end faults
	 * (SIGBUS) on first touch. Only regular files have a size to check. */
	struct stat st;
	if (fstat(ri->fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && (off > (uint64_t)st.st_size || a->size > st.st_size - off))
		return -ENXIO;
	void *p = mmap(NULL, a->size, prot, MAP_SHARED, ri->fd, (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	*addr = p;
	return 0;
}

/* ---- Region IO fds ----------------------------------------------------------------- */

void uvfio_io_fds_release(struct uvfio_io_fds *io)
{
	if (!io)
		return;
	free(io->subs);
	io->subs = NULL;
	for (unsigned i = 0; i < io->nfds; i++)
		vu_close(&io->fds[i]);
	io->nfds = 0;
	io->count = 0;
}

int uvfio_client_region_io_fds(struct uvfio_client *c, uint32_t index, struct uvfio_io_fds *out)
{
	if (!c || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	uint32_t argsz = 16 + 64 * sizeof(struct uvfio_sub_region_ioeventfd);
	struct uvfio_region_io_fds_request req = { .index = index };
	struct uvfio_region_io_fds_reply rep;
	struct vu_msg *m;
	int r = call_sized(c, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, &req, sizeof(req), sizeof(rep),
			   &argsz, false, &m);
	if (r < 0)
		return r;
	memcpy(&rep, m->body, sizeof(rep));
	r = -EPROTO;
	if (rep.index != index || rep.argsz > m->len)
		goto out;
	size_t esz = sizeof(struct uvfio_sub_region_ioeventfd);
	if (rep.count) {
		esz = (rep.argsz - sizeof(rep)) / rep.count;
		if (esz < sizeof(struct uvfio_sub_region_ioeventfd) || m->nfds == 0)
			goto out;
	}
	out->subs = calloc(rep.count ? rep.count : 1, sizeof(*out->subs));
	if (!out->subs) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < rep.count; i++) {
		struct uvfio_sub_region_ioeventfd e;
		memcpy(&e, m->body + sizeof(rep) + i * esz, sizeof(e));
		if (e.fd_index >= m->nfds)
			goto out;
		out->subs[i] = (struct uvfio_io_fd_sub){ e.offset, e.size, e.fd_index,
							 e.type,   e.flags, e.datamatch };
	}
	out->index = index;
	out->count = rep.count;
	for (unsigned i = 0; i < m->nfds; i++)
		out->fds[i] = vu_msg_take_fd(m, i);
	out->nfds = m->nfds;
	r = 0;
out:
	if (r < 0) {
		free(out->subs);
		out->subs = NULL;
	}
	vu_msg_free(m);
	return r;
}

/* ---- Device features and migration --------------------------------------------------- */

int uvfio_client_feature(struct uvfio_client *c, uint32_t flags, const void *in, size_t inlen,
			 void *out, size_t outlen)
{
	if (!c || (inlen && !in) || (outlen && !out) || inlen > VU_XFER_MAX(c))
		return -EINVAL;
	struct uvfio_device_feature f = {
		.argsz = (uint32_t)(sizeof(f) + VU_MAX(inlen, outlen)), .flags = flags
	};
	struct iovec iov[2] = { { &f, sizeof(f) }, { (void *)in, inlen } };
	struct vu_msg *m;
	int r = vu_client_request(c, UVFIO_CMD_DEVICE_FEATURE, iov, 2, NULL, 0, VU_WAIT, NULL, NULL,
				  &m);
	if (r < 0)
		return r;
	struct uvfio_device_feature rf;
	if (m->len < sizeof(rf) || m->nfds) {
		vu_msg_free(m);
		return -EPROTO;
	}
	memcpy(&rf, m->body, sizeof(rf));
	size_t dlen = m->len - sizeof(rf);
	if (dlen > outlen && (flags & VFIO_DEVICE_FEATURE_GET)) {
		vu_msg_free(m);
		return -EMSGSIZE;
	}
	if (out)
		memcpy(out, m->body + sizeof(rf), VU_MIN(dlen, outlen));
	vu_msg_free(m);
	return (int)VU_MIN(dlen, (size_t)INT32_MAX);
}

int uvfio_client_mig_state_get(struct uvfio_client *c, uint32_t *state)
{
	struct uvfio_feature_mig_state s;
	if (!state)
		return -EINVAL;
	int r = uvfio_client_feature(c, VFIO_DEVICE_FEATURE_GET | UVFIO_FEATURE_MIG_DEVICE_STATE,
				     NULL, 0, &s, sizeof(s));
	if (r >= 0 && r != sizeof(s))
		return -EPROTO;
	if (r >= 0)
		*state = s.device_state;
	return r < 0 ? r : 0;
}

int uvfio_client_mig_state_set(struct uvfio_client *c, uint32_t state)
{
	struct uvfio_feature_mig_state s = { .device_state = state, .data_fd = UINT32_MAX };
	int r = uvfio_client_feature(c, VFIO_DEVICE_FEATURE_SET | UVFIO_FEATURE_MIG_DEVICE_STATE,
				     &s, sizeof(s), NULL, 0);
	return r < 0 ? r : 0;
}

int uvfio_client_dma_logging_start(struct uvfio_client *c, uint64_t page_size,
				   const struct uvfio_dma_logging_range *ranges, uint32_t n)
{
	if (!c || (n && !ranges) || !vu_is_pow2(page_size) || n > 4096)
		return -EINVAL;
	size_t len = sizeof(struct uvfio_dma_logging_control) + n * sizeof(*ranges);
	struct uvfio_dma_logging_control *ctl = calloc(1, len);
	if (!ctl)
		return -ENOMEM;
	ctl->page_size = page_size;
	ctl->num_ranges = n;
	if (n)
		memcpy(ctl->ranges, ranges, n * sizeof(*ranges));
	int r = uvfio_client_feature(c, VFIO_DEVICE_FEATURE_SET | UVFIO_FEATURE_DMA_LOGGING_START,
				     ctl, len, NULL, 0);
	free(ctl);
	return r < 0 ? r : 0;
}

int uvfio_client_dma_logging_stop(struct uvfio_client *c)
{
	int r = uvfio_client_feature(c, VFIO_DEVICE_FEATURE_SET | UVFIO_FEATURE_DMA_LOGGING_STOP,
				     NULL, 0, NULL, 0);
	return r < 0 ? r : 0;
}

int uvfio_client_dma_logging_report(struct uvfio_client *c, uint64_t iova, uint64_t length,
				    uint64_t page_size, uint64_t *bitmap)
{
	if (!c || !bitmap || !vu_is_pow2(page_size) || !length)
		return -EINVAL;
	uint64_t pages = length / page_size + (length % page_size != 0);
	size_t words = (size_t)((pages + 63) / 64);
	size_t outlen = sizeof(struct uvfio_dma_logging_report) + words * 8;
	if (outlen > VU_XFER_MAX(c))
		return -E2BIG;
	struct uvfio_dma_logging_report req = { .iova = iova, .length = length,
						.page_size = page_size };
	uint8_t *out = malloc(outlen);
	if (!out)
		return -ENOMEM;
	int r = uvfio_client_feature(c, VFIO_DEVICE_FEATURE_GET | UVFIO_FEATURE_DMA_LOGGING_REPORT,
				     &req, sizeof(req), out, outlen);
	if (r >= 0 && (size_t)r != outlen)
		r = -EPROTO;
	if (r >= 0) {
		memcpy(bitmap, out + sizeof(req), words * 8);
		r = 0;
	}
	free(out);
	return r;
}

int uvfio_client_mig_data_read(struct uvfio_client *c, void *buf, size_t len)
{
	if (!c || (!buf && len) || len > VU_XFER_MAX(c))
		return -EINVAL;
	struct uvfio_mig_data req = { .argsz = (uint32_t)(sizeof(req) + len),
				      .size = (uint32_t)len };
	struct iovec iov = { &req, sizeof(req) };
	struct vu_msg *m;
	int r = vu_client_request(c, UVFIO_CMD_MIG_DATA_READ, &iov, 1, NULL, 0, VU_WAIT, NULL,
				  NULL, &m);
	if (r < 0)
		return r;
	struct uvfio_mig_data rep;
	r = -EPROTO;
	if (m->len >= sizeof(rep) && !m->nfds) {
		memcpy(&rep, m->body, sizeof(rep));
		/* The data is what `size` says. libvfio-user pads its last,
		 * short reply to the size asked for: bytes after the data, up
		 * to that size, are padding (`argsz` is not checked). */
		if (rep.size <= len && m->len >= sizeof(rep) + rep.size &&
		    m->len <= sizeof(rep) + len) {
			memcpy(buf, m->body + sizeof(rep), rep.size);
			r = (int)rep.size;
		}
	}
	vu_msg_free(m);
	return r;
}

int uvfio_client_mig_data_write(struct uvfio_client *c, const void *buf, size_t len)
{
	if (!c || (!buf && len) || len > VU_XFER_MAX(c))
		return -EINVAL;
	/* argsz covers the data, as in VFIO's structures and as libvfio-user
	 * requires (the specification calls it the size of a reply that has
	 * no payload; docs/INTEROP.md). */
	struct uvfio_mig_data req = { .argsz = (uint32_t)(sizeof(req) + len),
				      .size = (uint32_t)len };
	struct iovec iov[2] = { { &req, sizeof(req) }, { (void *)buf, len } };
	struct vu_msg *m;
	int r = vu_client_request(c, UVFIO_CMD_MIG_DATA_WRITE, iov, 2, NULL, 0, VU_WAIT, NULL, NULL,
				  &m);
	if (r < 0)
		return r;
	r = m->nfds ? -EPROTO : 0;
	vu_msg_free(m);
	return r;
}
