/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_ioeventfd.c — eventfds a client signals and the server's loop
 * watches: the device's ioeventfds (doorbells rung without a message,
 * handed out by DEVICE_GET_REGION_IO_FDS) and the interrupt mask/unmask
 * eventfds a client registers with DEVICE_SET_IRQS. A pass of the loop
 * reads the signalled ones (vu_watch_collect), handles the messages
 * waiting, then acts on the signals (vu_watch_run): see the order rule in
 * server.h.
 */
#include <linux/kvm.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

_Static_assert(UVFIO_IO_FD_FLAG_DATAMATCH == KVM_IOEVENTFD_FLAG_DATAMATCH, "KVM's value");
_Static_assert(UVFIO_IO_FD_FLAG_PIO == KVM_IOEVENTFD_FLAG_PIO, "KVM's value");

struct vu_ioeventfd {
	uint32_t region;
	uint32_t size; /* 0: any */
	uint64_t offset;
	uint64_t data;
	bool datamatch;
	uvfio_ioevent_fn fn;
	int efd;        /* the current client's eventfd, or -1 */
	uint64_t count; /* signals read, handler not yet run */
};

/* A signal of an interrupt (un)mask eventfd, read and not yet acted on. */
struct vu_irq_signal {
	uint32_t index, vector;
	bool mask;
};

/* Tags in the server's epoll set (beside its own descriptors, tagged with
 * their number): an ioeventfd's number, or an interrupt eventfd with its
 * vector and descriptor packed in (TAG_IRQ), all with TAG_WATCH. */
#define TAG_IRQ (1ull << 63)
#define TAG_MASK (1ull << 62)
#define TAG_WATCH (1ull << 61)

struct vu_watch {
	unsigned live; /* descriptors in the server's epoll set */
	unsigned n;    /* ioeventfds registered */
	struct vu_ioeventfd io[UVFIO_SERVER_MAX_IOEVENTFDS];
	unsigned nsig;
	struct vu_irq_signal sig[VU_WATCH_BATCH];
};

static int watch_get(struct uvfio_server *s, struct vu_watch **out)
{
	if (!s->watch) {
		struct vu_watch *w = calloc(1, sizeof(*w));
		if (!w)
			return -ENOMEM;
		s->watch = w;
	}
	*out = s->watch;
	return 0;
}

static int watch_add(struct uvfio_server *s, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_WATCH | tag };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	s->watch->live++;
	return 0;
}

/* Before the descriptor is closed: the client holds the same eventfd, so
 * closing ours would not take it out of the epoll set. */
static void watch_del(struct uvfio_server *s, int fd)
{
	if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL) == 0)
		s->watch->live--;
}

/* Would writes matching a also match b (or the reverse)? KVM's rule. */
static bool overlap(const struct vu_ioeventfd *a, const struct vu_ioeventfd *b)
{
	return a->region == b->region && a->offset == b->offset &&
	       (!a->size || !b->size || a->size == b->size) &&
	       (!a->datamatch || !b->datamatch || a->data == b->data);
}

static bool in_mmap_area(const struct vu_srv_region *r, uint64_t off, uint64_t len)
{
	if (r->memfd < 0)
		return false;
	for (uint32_t i = 0; i < r->d.nr_areas; i++)
		if (off < r->d.areas[i].offset + r->d.areas[i].size &&
		    r->d.areas[i].offset < off + len)
			return true;
	return false;
}

int uvfio_server_add_ioeventfd(struct uvfio_server *s, uint32_t region, uint64_t offset,
			       uint32_t size, uint32_t flags, uint64_t datamatch, uvfio_ioevent_fn fn)
{
	if (!s || !fn || region >= VU_MAX_REGIONS || region == VFIO_PCI_CONFIG_REGION_INDEX)
		return -EINVAL;
	const struct vu_srv_region *r = &s->regions[region];
	struct vu_ioeventfd e = { .region = region, .size = size, .offset = offset,
				  .data = flags & UVFIO_IOEVENTFD_DATAMATCH ? datamatch : 0,
				  .datamatch = flags & UVFIO_IOEVENTFD_DATAMATCH,
				  .fn = fn, .efd = -1 };
	uint64_t len = size ? size : 1;
	if (!r->present || !(r->d.flags & VFIO_REGION_INFO_FLAG_WRITE) ||
	    (flags & ~UVFIO_IOEVENTFD_DATAMATCH) || size > 8 || (size & (size - 1)) ||
	    (e.datamatch && (!size || (size < 8 && datamatch >> (8 * size)))) ||
	    vu_range_bad(offset, len, r->d.size) || in_mmap_area(r, offset, len))
		return -EINVAL;
	struct vu_watch *w;
	int ret = watch_get(s, &w);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < w->n; i++)
		if (overlap(&w->io[i], &e))
			return -EEXIST;
	if (w->n == UVFIO_SERVER_MAX_IOEVENTFDS)
		return -ENOSPC;
	w->io[w->n] = e;
	return (int)w->n++;
}

static int ioevent_call(struct uvfio_server *s, unsigned id, uint64_t data, bool has_data,
			uint64_t count)
{
	const struct vu_ioeventfd *e = &s->watch->io[id];
	struct uvfio_ioevent ev = { .id = (int)id, .region = e->region, .offset = e->offset,
				    .data = data, .count = count, .has_data = has_data };
	int r = e->fn(s->opaque, &ev);
	return r > 0 ? 0 : r;
}

int vu_srv_ioevent_write(struct uvfio_server *s, uint32_t region, uint64_t offset,
			 const void *buf, uint32_t count)
{
	struct vu_watch *w = s->watch;
	if (!w)
		return VU_NOT_MINE;
	uint64_t v = 0;
	for (uint32_t k = 0; k < count && k < 8; k++)
		v |= (uint64_t)((const uint8_t *)buf)[k] << (8 * k); /* little-endian */
	for (unsigned i = 0; i < w->n; i++) {
		const struct vu_ioeventfd *e = &w->io[i];
		if (e->region != region || e->offset != offset || (e->size && e->size != count) ||
		    (e->datamatch && e->data != v))
			continue;
		return ioevent_call(s, i, v, count <= 8, 1);
	}
	return VU_NOT_MINE;
}

/* This client's eventfd for ioeventfd i, made on first request. */
static int ioeventfd_open(struct uvfio_server *s, unsigned i)
{
	struct vu_ioeventfd *e = &s->watch->io[i];
	if (e->efd >= 0)
		return 0;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	int r = watch_add(s, fd, i);
	if (r < 0) {
		close(fd);
		return r;
	}
	e->efd = fd;
	return 0;
}

int vu_srv_io_fds(struct uvfio_server *s, uint32_t index, uint32_t argsz, struct vu_reply *rep)
{
	struct uvfio_region_io_fds_reply *out = vu_reply_buf(rep, sizeof(*out));
	if (!out)
		return -ENOMEM;
	out->index = index;
	out->argsz = sizeof(*out);
	struct vu_watch *w = s->watch;
	/* One descriptor per entry, and the client said how many it takes. */
	unsigned max = VU_MIN(s->client.max_msg_fds, UVFIO_MAX_FDS_LIMIT);
	unsigned pick[UVFIO_SERVER_MAX_IOEVENTFDS], n = 0, total = 0;
	for (unsigned i = 0; w && i < w->n; i++) {
		if (w->io[i].region != index)
			continue;
		total++;
		if (n < max)
			pick[n++] = i;
	}
	if (total > n)
		vu_info(&s->log,
			"region %u has %u ioeventfds, the client takes %u descriptors in a "
			"message: the other %u reach the device through messages",
			index, total, max, total - n);
	out->count = n;
	out->argsz += n * (uint32_t)sizeof(struct uvfio_sub_region_ioeventfd);
	if (!n || argsz < out->argsz)
		return 0; /* too small: the size needed, no list (as libvfio-user) */
	struct uvfio_sub_region_ioeventfd *sub = vu_reply_buf(rep, n * sizeof(*sub));
	if (!sub)
		return -ENOMEM;
	bool pio = index <= VFIO_PCI_BAR5_REGION_INDEX &&
		   (s->regions[index].d.bar_flags & UVFIO_BAR_IO);
	for (unsigned k = 0; k < n; k++) {
		const struct vu_ioeventfd *e = &w->io[pick[k]];
		int r = ioeventfd_open(s, pick[k]);
		if (r < 0)
			return r;
		sub[k] = (struct uvfio_sub_region_ioeventfd){
			.offset = e->offset,
			.size = e->size,
			.fd_index = k,
			.type = UVFIO_IO_FD_TYPE_IOEVENTFD,
			.flags = (e->datamatch ? UVFIO_IO_FD_FLAG_DATAMATCH : 0) |
				 (pio ? UVFIO_IO_FD_FLAG_PIO : 0),
			.datamatch = e->datamatch ? e->data : 0,
		};
		rep->fds[rep->nfds++] = e->efd;
	}
	return 0;
}

int vu_watch_irq_fd(struct uvfio_server *s, uint32_t index, uint32_t i, bool mask, int old,
		    int fd)
{
	if (old >= 0 && s->watch)
		watch_del(s, old);
	if (fd < 0)
		return 0;
	/* The client holds the same eventfd and could empty it between our
	 * epoll_wait() and read(): a blocking one would then hang the loop.
	 * The flag is the open file's, so the client's copy turns
	 * non-blocking too, which only changes reads it has no reason to do. */
	struct vu_watch *w;
	int r = vu_set_nonblock(fd, true);
	if (r < 0 || (r = watch_get(s, &w)) < 0)
		return r;
	return watch_add(s, fd, TAG_IRQ | (mask ? TAG_MASK : 0) | ((uint64_t)index << 48) |
					((uint64_t)i << 32) | (uint32_t)fd);
}

bool vu_watch_live(const struct uvfio_server *s)
{
	return s->watch && s->watch->live;
}

bool vu_watch_collect(struct uvfio_server *s, const struct epoll_event *ev, int n)
{
	struct vu_watch *w = s->watch;
	if (!w || !w->live)
		return true;
	struct epoll_event mine[VU_WATCH_BATCH];
	if (!ev) {
		n = epoll_wait(s->epfd, mine, VU_WATCH_BATCH, 0);
		ev = mine;
	}
	/* A full batch may have left the socket's event out. */
	bool sock = n < 0 || n == VU_WATCH_BATCH;
	for (int k = 0; k < n; k++) {
		uint64_t tag = ev[k].data.u64;
		if (!(tag & TAG_WATCH)) {
			sock |= s->sock >= 0 && tag == (uint64_t)s->sock;
			continue;
		}
		tag &= ~TAG_WATCH;
		if (!(tag & TAG_IRQ) && tag >= w->n)
			continue;
		int fd = tag & TAG_IRQ ? (int)(uint32_t)tag : w->io[tag].efd;
		uint64_t v;
		if (read(fd, &v, sizeof(v)) != sizeof(v)) /* eventfds only: SET_IRQS checks */
			continue;
		if (!(tag & TAG_IRQ))
			w->io[tag].count += v;
		else if (w->nsig < VU_WATCH_BATCH) /* at most VU_WATCH_BATCH per pass */
			w->sig[w->nsig++] = (struct vu_irq_signal){
				.index = (uint32_t)(tag >> 48) & 0xff,
				.vector = (uint32_t)(tag >> 32) & 0xffff,
				.mask = tag & TAG_MASK,
			};
	}
	return sock;
}

int vu_watch_run(struct uvfio_server *s)
{
	struct vu_watch *w = s->watch;
	if (!w || (!w->live && !w->nsig)) /* counts are only kept while live */
		return 0;
	int ran = 0;
	/* A callback may drop the client, which empties both lists. */
	for (unsigned k = 0; k < w->nsig && s->sock >= 0; k++, ran++)
		vu_srv_irq_eventfd(s, w->sig[k].index, w->sig[k].vector, w->sig[k].mask);
	w->nsig = 0;
	for (unsigned i = 0; i < w->n && s->sock >= 0; i++) {
		struct vu_ioeventfd *e = &w->io[i];
		if (!e->count)
			continue;
		uint64_t count = e->count;
		e->count = 0;
		int r = ioevent_call(s, i, e->data, e->datamatch, count); /* data: the match */
		if (r < 0)
			vu_warn(&s->log, "ioeventfd %u (region %u offset %#llx): %s", i, e->region,
				(unsigned long long)e->offset, uvfio_strerror(r));
		ran++;
	}
	return ran;
}

void vu_watch_drop(struct uvfio_server *s)
{
	struct vu_watch *w = s->watch;
	if (!w)
		return;
	for (unsigned i = 0; i < w->n; i++) {
		struct vu_ioeventfd *e = &w->io[i];
		if (e->efd >= 0)
			watch_del(s, e->efd);
		vu_close(&e->efd);
		e->count = 0;
	}
	w->nsig = 0;
}

void vu_watch_free(struct uvfio_server *s)
{
	vu_watch_drop(s);
	if (s->watch) {
		free(s->watch);
		s->watch = NULL;
	}
}
