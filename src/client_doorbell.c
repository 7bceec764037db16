/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * client_doorbell.c — doorbells through the server's ioeventfds
 * (use_ioeventfds): at connection, DEVICE_GET_REGION_IO_FDS for every
 * region; then a posted write that matches an ioeventfd as KVM would match
 * it (same region and offset, same size unless the registration has none,
 * the same value for DATAMATCH) signals the eventfd instead of sending a
 * REGION_WRITE. Ringing, and the order against messages, is in
 * client_post.c.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Keep the IOEVENTFD entries of one region's reply, each with a descriptor
 * of its own (entries may share one). */
static int keep(struct uvfio_client *c, const struct uvfio_io_fds *io)
{
	for (uint32_t i = 0; i < io->count; i++) {
		const struct uvfio_io_fd_sub *e = &io->subs[i];
		if (e->type != UVFIO_IO_FD_TYPE_IOEVENTFD)
			continue; /* shadow ioeventfds, ioregionfds: not ours */
		if (c->nbells == VU_MAX_BELLS) {
			vu_warn(&c->log, "more than %u ioeventfds offered: the rest go as messages",
				VU_MAX_BELLS);
			return 0;
		}
		bool dm = e->flags & UVFIO_IO_FD_FLAG_DATAMATCH;
		if (e->size > 8 || (e->size & (e->size - 1)) || (dm && !e->size)) {
			vu_warn(&c->log, "region %u: an ioeventfd of size %llu is not used", io->index,
				(unsigned long long)e->size);
			continue;
		}
		if (!vu_is_eventfd(io->fds[e->fd_index])) { /* a socket would raise SIGPIPE */
			vu_warn(&c->log, "region %u: the server's ioeventfd at %#llx is not an eventfd: "
				"not used", io->index, (unsigned long long)e->offset);
			continue;
		}
		int fd = fcntl(io->fds[e->fd_index], F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		c->bells[c->nbells++] = (struct vu_bell){ .region = io->index,
							  .size = (uint32_t)e->size,
							  .offset = e->offset,
							  .data = dm ? e->datamatch : 0,
							  .datamatch = dm,
							  .fd = fd };
	}
	return 0;
}

int vu_bells_init(struct uvfio_client *c)
{
	struct uvfio_device_info di;
	int r = uvfio_client_device_info(c, &di);
	if (r < 0)
		return r == -ECONNRESET || r == -ETIMEDOUT ? r : 0; /* no doorbells */
	if (!(c->bells = calloc(VU_MAX_BELLS, sizeof(*c->bells))))
		return -ENOMEM;
	for (uint32_t i = 0; i < di.num_regions && i < 64; i++) {
		struct uvfio_io_fds io;
		r = uvfio_client_region_io_fds(c, i, &io);
		if (r == -ECONNRESET || r == -ETIMEDOUT || r == -ENOMEM)
			return r;
		if (r < 0)
			continue; /* this region has none, or the server does not say */
		r = keep(c, &io);
		uvfio_io_fds_release(&io);
		if (r < 0)
			return r;
	}
	if (c->nbells)
		vu_info(&c->log, "%u doorbells through ioeventfds", c->nbells);
	return 0;
}

void vu_bells_free(struct uvfio_client *c)
{
	for (unsigned i = 0; i < c->nbells; i++)
		vu_close(&c->bells[i].fd);
	free(c->bells);
	c->bells = NULL;
	c->nbells = 0;
}

struct vu_bell *vu_bell_match(struct uvfio_client *c, uint32_t region, uint64_t offset,
			      const void *buf, size_t len)
{
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return NULL;
	uint64_t v = 0;
	for (size_t k = 0; k < len; k++)
		v |= (uint64_t)((const uint8_t *)buf)[k] << (8 * k); /* little-endian */
	for (unsigned i = 0; i < c->nbells; i++) {
		struct vu_bell *b = &c->bells[i];
		if (b->region == region && b->offset == offset && (!b->size || b->size == len) &&
		    (!b->datamatch || b->data == v))
			return b;
	}
	return NULL;
}
