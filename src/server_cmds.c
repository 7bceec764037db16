/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_cmds.c — the command handler table: one small function per
 * client-to-server command. Each validates its request as the specification
 * requires, acts, and fills the reply; a negative return becomes an error
 * reply with that errno.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define REGION_CAPS_MAX 512u

static int device_get_info(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	struct uvfio_device_info in;
	if (m->len < sizeof(in))
		return -EINVAL;
	memcpy(&in, m->body, sizeof(in));
	/* As for region info: a request may be padded up to its argsz (the
	 * kernel's structure has grown a capability offset since). */
	if (in.argsz < sizeof(in) || m->len > in.argsz)
		return -EINVAL;
	struct uvfio_device_info *out = vu_reply_buf(rep, sizeof(*out));
	if (!out)
		return -ENOMEM;
	out->argsz = sizeof(*out);
	out->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	out->num_regions = s->nregions;
	out->num_irqs = VFIO_PCI_NUM_IRQS;
	return 0;
}

/* Build region info and its capability chain into buf (at least
 * REGION_CAPS_MAX bytes); returns the full length. */
static uint32_t region_info(struct uvfio_server *s, uint32_t index, uint8_t *buf)
{
	struct vu_srv_region *r = &s->regions[index];
	struct vfio_region_info ri = { .index = index };
	uint32_t len = sizeof(ri);
	if (r->present) {
		ri.size = r->d.size;
		ri.flags = r->d.flags;
		if (r->memfd >= 0) {
			ri.flags |= VFIO_REGION_INFO_FLAG_MMAP;
			ri.offset = r->fd_offset;
			struct vfio_region_info_cap_sparse_mmap sm = {
				.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
				.nr_areas = r->d.nr_areas,
			};
			ri.cap_offset = len;
			memcpy(buf + len, &sm, sizeof(sm));
			len += sizeof(sm);
			for (uint32_t i = 0; i < r->d.nr_areas; i++) {
				struct vfio_region_sparse_mmap_area a = { r->d.areas[i].offset,
									  r->d.areas[i].size };
				memcpy(buf + len, &a, sizeof(a));
				len += sizeof(a);
			}
		}
		if (index >= VFIO_PCI_NUM_REGIONS) {
			struct vfio_region_info_cap_type t = {
				.header = { .id = VFIO_REGION_INFO_CAP_TYPE, .version = 1 },
				.type = r->d.type,
				.subtype = r->d.subtype,
			};
			if (ri.cap_offset) {
				/* link after the sparse mmap capability */
				struct vfio_info_cap_header *h =
					(struct vfio_info_cap_header *)(buf + ri.cap_offset);
				h->next = len;
			} else {
				ri.cap_offset = len;
			}
			memcpy(buf + len, &t, sizeof(t));
			len += sizeof(t);
		}
		if (ri.cap_offset)
			ri.flags |= VFIO_REGION_INFO_FLAG_CAPS;
	}
	ri.argsz = len;
	memcpy(buf, &ri, sizeof(ri));
	return len;
}

static int device_get_region_info(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	struct vfio_region_info in;
	if (m->len < sizeof(in))
		return -EINVAL;
	memcpy(&in, m->body, sizeof(in));
	/* Some clients send the request padded to argsz (libvfio-user's
	 * tests do); QEMU sends the bare structure. Both are fine. */
	if (in.argsz < sizeof(in) || m->len > in.argsz || in.index >= s->nregions)
		return -EINVAL;
	uint8_t *full = vu_reply_buf(rep, REGION_CAPS_MAX);
	if (!full)
		return -ENOMEM;
	uint32_t len = region_info(s, in.index, full);
	if (in.argsz < len) {
		/* Too small: say how much is needed, without the chain (and
		 * without the descriptor), as libvfio-user does. */
		struct vfio_region_info *ri = (struct vfio_region_info *)full;
		ri->flags &= ~VFIO_REGION_INFO_FLAG_CAPS;
		ri->cap_offset = 0;
		rep->iov[rep->n - 1].iov_len = sizeof(*ri);
		return 0;
	}
	rep->iov[rep->n - 1].iov_len = len;
	struct vu_srv_region *r = &s->regions[in.index];
	if (r->memfd >= 0)
		rep->fds[rep->nfds++] = r->memfd;
	return 0;
}

static int device_get_region_io_fds(struct uvfio_server *s, struct vu_msg *m,
				    struct vu_reply *rep)
{
	struct uvfio_region_io_fds_request in;
	if (m->len != sizeof(in))
		return -EINVAL;
	memcpy(&in, m->body, sizeof(in));
	if (in.argsz < sizeof(in) || in.flags || in.count || in.index >= s->nregions)
		return -EINVAL;
	return vu_srv_io_fds(s, in.index, in.argsz, rep);
}

static int device_get_irq_info(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	struct vfio_irq_info in;
	if (m->len != sizeof(in))
		return -EINVAL;
	memcpy(&in, m->body, sizeof(in));
	if (in.argsz < sizeof(in) || in.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	struct vfio_irq_info *out = vu_reply_buf(rep, sizeof(*out));
	if (!out)
		return -ENOMEM;
	out->argsz = sizeof(*out);
	out->index = in.index;
	out->count = s->irqs[in.index].count;
	out->flags = s->irqs[in.index].info_flags;
	return 0;
}

static int device_set_irqs(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	(void)rep;
	return vu_srv_set_irqs(s, m);
}

int vu_srv_region_access(struct uvfio_server *s, uint32_t region, uint64_t offset, void *buf,
			 uint32_t count, bool write)
{
	if (region >= s->nregions || !s->regions[region].present)
		return -EINVAL;
	struct vu_srv_region *r = &s->regions[region];
	if (!(r->d.flags & (write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ)))
		return -EINVAL;
	if (vu_range_bad(offset, count, r->d.size))
		return -EINVAL;
	if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
		/* irq_mu: uvfio_server_irq_trigger() reads the MSI/MSI-X mask
		 * bits from other threads. */
		if (write)
			pthread_mutex_lock(&s->irq_mu);
		int r = vu_cfg_access(s, offset, buf, count, write);
		bool flr = write && vu_cfg_take_flr(s);
		if (write)
			pthread_mutex_unlock(&s->irq_mu);
		if (!write && r == 0 && s->ops.config_read)
			r = s->ops.config_read(s->opaque, (uint32_t)offset, buf, count);
		if (write && r == 0 && s->ops.config_write)
			s->ops.config_write(s->opaque, (uint32_t)offset, count);
		if (flr) /* a write cannot report the device's error: it is logged */
			vu_srv_reset(s, UVFIO_RESET_PCI_FLR);
		if (write && (s->msi_cap || s->msix_cap))
			vu_srv_irqs_recheck(s);
		return r > 0 ? 0 : r;
	}
	if (write) { /* a doorbell the device also takes through an ioeventfd */
		int h = vu_srv_ioevent_write(s, region, offset, buf, count);
		if (h != VU_NOT_MINE)
			return h;
	}
	if (r->d.fn) {
		ssize_t n = r->d.fn(s->opaque, region, offset, buf, count, write);
		if (n < 0)
			return (int)n;
		return (size_t)n == count ? 0 : -EIO;
	}
	/* irq_mu for the MSI-X BAR: other threads' triggers read its vector
	 * control and write its PBA. */
	bool msix = s->msix_cap && region == s->msix_bar;
	if (msix)
		pthread_mutex_lock(&s->irq_mu);
	if (write)
		memcpy(r->mem + offset, buf, count);
	else
		memcpy(buf, r->mem + offset, count);
	if (msix)
		pthread_mutex_unlock(&s->irq_mu);
	if (msix && write)
		vu_srv_irqs_recheck(s);
	return 0;
}

static int region_read(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	struct uvfio_region_access a;
	if (m->len != sizeof(a))
		return -EINVAL;
	memcpy(&a, m->body, sizeof(a));
	if (a.count > s->mine.max_data_xfer_size)
		return -EINVAL;
	/* Plain memory leaves from where it is, without a copy into the reply:
	 * large reads are bound by copies (BENCHMARKS.md). */
	const struct vu_srv_region *r = a.region < s->nregions ? &s->regions[a.region] : NULL;
	if (r && r->present && r->mem && !r->d.fn && a.region != VFIO_PCI_CONFIG_REGION_INDEX &&
	    !(s->msix_cap && a.region == s->msix_bar) && (r->d.flags & VFIO_REGION_INFO_FLAG_READ) &&
	    !vu_range_bad(a.offset, a.count, r->d.size)) {
		int e = vu_reply_add(rep, &a, sizeof(a));
		if (e == 0) {
			rep->iov[rep->n].iov_base = r->mem + a.offset;
			rep->iov[rep->n++].iov_len = a.count;
		}
		return e;
	}
	uint8_t *out = vu_reply_buf(rep, sizeof(a) + a.count);
	if (!out)
		return -ENOMEM;
	memcpy(out, &a, sizeof(a));
	return vu_srv_region_access(s, a.region, a.offset, out + sizeof(a), a.count, false);
}

static int region_write(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	struct uvfio_region_access a;
	if (m->len < sizeof(a))
		return -EINVAL;
	memcpy(&a, m->body, sizeof(a));
	if (a.count != m->len - sizeof(a) || a.count > s->mine.max_data_xfer_size)
		return -EINVAL;
	int r = vu_srv_region_access(s, a.region, a.offset, m->body + sizeof(a), a.count, true);
	return r < 0 ? r : vu_reply_add(rep, &a, sizeof(a));
}

static int region_write_multi(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	struct uvfio_write_multi wm;
	if (!s->mine.write_multiple || m->len < sizeof(wm))
		return -EINVAL;
	memcpy(&wm, m->body, sizeof(wm));
	/* No maximum but the message's size (QEMU sends up to 200). */
	size_t room = (m->len - sizeof(wm)) / sizeof(struct uvfio_write_multi_entry);
	if (!wm.wr_cnt || wm.wr_cnt > room ||
	    m->len != sizeof(wm) + wm.wr_cnt * sizeof(struct uvfio_write_multi_entry))
		return -EINVAL;
	for (uint64_t i = 0; i < wm.wr_cnt; i++) {
		struct uvfio_write_multi_entry e;
		memcpy(&e, m->body + sizeof(wm) + i * sizeof(e), sizeof(e));
		if (!e.count || e.count > UVFIO_WRITE_MULTI_DATA_MAX)
			return -EINVAL;
		int r = vu_srv_region_access(s, e.region, e.offset, e.data, e.count, true);
		if (r < 0)
			return r;
	}
	struct uvfio_write_multi_reply *out = vu_reply_buf(rep, sizeof(*out));
	if (!out)
		return -ENOMEM;
	out->wr_cnt = wm.wr_cnt;
	return 0;
}

static int dma_map(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	(void)rep;
	return vu_srv_dma_map(s, m);
}

int vu_srv_reset(struct uvfio_server *s, enum uvfio_reset_type type)
{
	if (type != UVFIO_RESET_LOST_CONN) {
		/* The device's asynchronous transfers end (called back) first. */
		vu_srv_async_cancel_all(s, -ECANCELED);
		pthread_mutex_lock(&s->irq_mu); /* MSI/MSI-X enables change */
		vu_cfg_reset(s);
		pthread_mutex_unlock(&s->irq_mu);
		s->mig_state = UVFIO_MIG_STATE_RUNNING;
	}
	int r = s->ops.reset ? s->ops.reset(s->opaque, type) : 0;
	if (r < 0 && type != UVFIO_RESET_DEVICE)
		vu_warn(&s->log, "device reset (%s): %s",
			type == UVFIO_RESET_PCI_FLR ? "function-level reset" : "client gone",
			uvfio_strerror(r));
	return r;
}

static int device_reset(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	(void)rep;
	if (m->len)
		return -EINVAL;
	return vu_srv_reset(s, UVFIO_RESET_DEVICE);
}

typedef int (*handler_fn)(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep);

static const struct {
	handler_fn fn;
	uint8_t max_fds; /* descriptors the request may carry */
} handlers[UVFIO_CMD_MAX] = {
	[UVFIO_CMD_DMA_MAP] = { dma_map, 1 },
	[UVFIO_CMD_DMA_UNMAP] = { vu_srv_dma_unmap, 0 },
	[UVFIO_CMD_DEVICE_GET_INFO] = { device_get_info, 0 },
	[UVFIO_CMD_DEVICE_GET_REGION_INFO] = { device_get_region_info, 0 },
	[UVFIO_CMD_DEVICE_GET_REGION_IO_FDS] = { device_get_region_io_fds, 0 },
	[UVFIO_CMD_DEVICE_GET_IRQ_INFO] = { device_get_irq_info, 0 },
	[UVFIO_CMD_DEVICE_SET_IRQS] = { device_set_irqs, UVFIO_MAX_FDS_LIMIT },
	[UVFIO_CMD_REGION_READ] = { region_read, 0 },
	[UVFIO_CMD_REGION_WRITE] = { region_write, 0 },
	[UVFIO_CMD_DEVICE_RESET] = { device_reset, 0 },
	[UVFIO_CMD_REGION_WRITE_MULTI] = { region_write_multi, 0 },
	[UVFIO_CMD_DEVICE_FEATURE] = { vu_srv_feature, 0 },
	[UVFIO_CMD_MIG_DATA_READ] = { vu_srv_mig_data_read, 0 },
	[UVFIO_CMD_MIG_DATA_WRITE] = { vu_srv_mig_data_write, 0 },
};

void vu_srv_handle(struct uvfio_server *s, struct vu_msg *m)
{
	struct vu_reply rep;
	rep.n = 0;
	rep.nfds = 0;
	rep.nheap = 0;
	rep.small_used = 0;
	int r;
	uint16_t cmd = m->hdr.cmd;
	if (cmd >= UVFIO_CMD_MAX || !handlers[cmd].fn)
		r = -ENOTSUP; /* unknown, or a server-to-client command */
	else if (m->fds_dropped || m->nfds > handlers[cmd].max_fds)
		r = -EINVAL;
	else
		r = handlers[cmd].fn(s, m, &rep);
	/* The device may have written configuration space itself (loading
	 * migration data): Bus Master Enable as it is now, before the reply. */
	vu_cfg_bus_master_sync(s);
	if (r < 0)
		vu_dbg(&s->log, "%s id %u failed: %s", uvfio_cmd_name(cmd), m->hdr.msg_id,
		       uvfio_strerror(r));
	if (!(m->hdr.flags & UVFIO_FLAGS_NO_REPLY) && s->sock >= 0)
		vu_srv_send_reply(s, &m->hdr, r, rep.iov, rep.n, rep.fds, rep.nfds);
	else if (r < 0)
		vu_warn(&s->log, "%s (no reply wanted) failed: %s", uvfio_cmd_name(cmd),
			uvfio_strerror(r));
	for (unsigned i = 0; i < rep.nheap; i++)
		free(rep.heap[i]);
	vu_msg_free(m);
}
