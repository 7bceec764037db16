/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_irq.c — interrupts: the types a device has, DEVICE_SET_IRQS with
 * every data type and action, masking with pending bits (and the MSI-X
 * Pending Bit Array in BAR memory), the device's mask/unmask notification,
 * and raising an interrupt by signalling the client's eventfd.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void irq_free(struct vu_srv_irq *irq)
{
	free(irq->efd);
	free(irq->mask_efd);
	free(irq->unmask_efd);
	free(irq->masked);
	free(irq->pending);
	memset(irq, 0, sizeof(*irq));
}

int uvfio_server_setup_irq(struct uvfio_server *s, uint32_t index, uint32_t count)
{
	if (!s || index >= VFIO_PCI_NUM_IRQS || !count || count > 2048 ||
	    ((index == VFIO_PCI_INTX_IRQ_INDEX || index >= VFIO_PCI_ERR_IRQ_INDEX) && count != 1))
		return -EINVAL;
	struct vu_srv_irq *irq = &s->irqs[index];
	if (irq->count)
		return -EEXIST;
	irq->efd = malloc(count * sizeof(int));
	irq->mask_efd = malloc(count * sizeof(int));
	irq->unmask_efd = malloc(count * sizeof(int));
	irq->masked = calloc(count, sizeof(bool));
	irq->pending = calloc(count, sizeof(bool));
	if (!irq->efd || !irq->mask_efd || !irq->unmask_efd || !irq->masked || !irq->pending) {
		irq_free(irq);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++)
		irq->efd[i] = irq->mask_efd[i] = irq->unmask_efd[i] = -1;
	irq->count = count;
	irq->info_flags = VFIO_IRQ_INFO_EVENTFD;
	if (index == VFIO_PCI_INTX_IRQ_INDEX) {
		irq->info_flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
		vu_cfg_set_irq_pin(s);
	} else if (index == VFIO_PCI_MSI_IRQ_INDEX || index == VFIO_PCI_MSIX_IRQ_INDEX) {
		irq->info_flags |= VFIO_IRQ_INFO_NORESIZE;
	}
	return 0;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* A full eventfd counter already says "interrupt". */
	}
}

/* Is vector i masked by the device's own configuration (MSI mask bits,
 * MSI-X function mask or vector control)? irq_mu held. */
static bool cfg_masked(struct uvfio_server *s, uint32_t index, uint32_t i)
{
	uint8_t *c = s->cfg_space;
	if (index == VFIO_PCI_MSI_IRQ_INDEX && s->msi_cap) {
		uint32_t bits;
		memcpy(&bits, c + s->msi_cap + 16, 4);
		return i < 32 && (bits >> i) & 1;
	}
	if (index == VFIO_PCI_MSIX_IRQ_INDEX && s->msix_cap) {
		uint16_t ctl;
		memcpy(&ctl, c + s->msix_cap + 2, 2);
		if (ctl & 0x4000)
			return true;
		struct vu_srv_region *r = &s->regions[s->msix_bar];
		uint64_t vc = s->msix_table + 16ull * i + 12;
		if (r->mem && vc + 4 <= r->d.size) {
			uint32_t v;
			memcpy(&v, r->mem + vc, 4);
			return v & 1;
		}
	}
	return false;
}

/* The MSI-X PBA byte holding vector i's bit, or NULL when the PBA is not in
 * library memory (no MSI-X capability, a callback BAR, past the BAR). */
static uint8_t *pba_byte(struct uvfio_server *s, uint32_t i)
{
	if (!s->msix_cap)
		return NULL;
	struct vu_srv_region *r = &s->regions[s->msix_bar];
	uint64_t off = (uint64_t)s->msix_pba + i / 8;
	bool ours = r->mem && (r->d.flags & VFIO_REGION_INFO_FLAG_WRITE); /* mapped writable */
	return ours && off < r->d.size ? r->mem + off : NULL;
}

/* irq_mu held */
static void set_pending(struct uvfio_server *s, uint32_t index, uint32_t i, bool on)
{
	s->irqs[index].pending[i] = on;
	uint8_t *b = index == VFIO_PCI_MSIX_IRQ_INDEX ? pba_byte(s, i) : NULL;
	if (b)
		*b = (uint8_t)(on ? *b | (1u << (i % 8)) : *b & ~(1u << (i % 8)));
}

static int fire(struct uvfio_server *s, uint32_t index, uint32_t i)
{
	struct vu_srv_irq *irq = &s->irqs[index];
	if (irq->masked[i] || cfg_masked(s, index, i)) {
		set_pending(s, index, i, true);
		return 0;
	}
	if (irq->efd[i] < 0)
		return -ENOENT;
	set_pending(s, index, i, false);
	signal_fd(irq->efd[i]);
	if (irq->info_flags & VFIO_IRQ_INFO_AUTOMASKED)
		irq->masked[i] = true;
	return 0;
}

int uvfio_server_irq_trigger(struct uvfio_server *s, uint32_t index, uint32_t sub)
{
	if (!s || index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	pthread_mutex_lock(&s->irq_mu);
	int r = sub < s->irqs[index].count ? fire(s, index, sub) : -EINVAL;
	pthread_mutex_unlock(&s->irq_mu);
	return r;
}

int uvfio_server_irq_pending(struct uvfio_server *s, uint32_t index, uint32_t sub)
{
	if (!s || index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	pthread_mutex_lock(&s->irq_mu);
	int r = sub < s->irqs[index].count ? s->irqs[index].pending[sub] : -EINVAL;
	pthread_mutex_unlock(&s->irq_mu);
	return r;
}

static void set_mask(struct uvfio_server *s, uint32_t index, uint32_t i, bool masked)
{
	struct vu_srv_irq *irq = &s->irqs[index];
	if (irq->masked[i] == masked)
		return;
	irq->masked[i] = masked;
	if (!masked && irq->pending[i])
		fire(s, index, i);
}

static void assign(int *slot, int fd)
{
	vu_close(slot);
	*slot = fd;
}

/* A mask or unmask eventfd: the loop watches it (the client signals it, a
 * resample eventfd of KVM's for INTx). */
static int assign_watched(struct uvfio_server *s, uint32_t index, uint32_t i, bool mask, int fd)
{
	int *slot = mask ? &s->irqs[index].mask_efd[i] : &s->irqs[index].unmask_efd[i];
	int r = vu_watch_irq_fd(s, index, i, mask, *slot, fd);
	assign(slot, r < 0 ? -1 : fd);
	if (r < 0)
		vu_close(&fd);
	return r;
}

void vu_srv_irq_eventfd(struct uvfio_server *s, uint32_t index, uint32_t i, bool mask)
{
	pthread_mutex_lock(&s->irq_mu);
	bool ok = index < VFIO_PCI_NUM_IRQS && i < s->irqs[index].count;
	if (ok)
		set_mask(s, index, i, mask);
	pthread_mutex_unlock(&s->irq_mu);
	if (ok && s->ops.irq_state)
		s->ops.irq_state(s->opaque, index, i, 1, mask);
}

/* After a MASK/UNMASK action with DATA_NONE or DATA_BOOL: tell the device,
 * one call per run of vectors named (outside irq_mu: it may trigger). */
static void notify_state(struct uvfio_server *s, const struct vfio_irq_set *is,
			 const uint8_t *bools)
{
	bool masked = is->flags & VFIO_IRQ_SET_ACTION_MASK;
	if (!bools) {
		s->ops.irq_state(s->opaque, is->index, is->start, is->count, masked);
		return;
	}
	for (uint32_t k = 0; k < is->count;) {
		if (!bools[k]) {
			k++;
			continue;
		}
		uint32_t run = k;
		while (k < is->count && bools[k])
			k++;
		s->ops.irq_state(s->opaque, is->index, is->start + run, k - run, masked);
	}
}

int vu_srv_set_irqs(struct uvfio_server *s, struct vu_msg *m)
{
	struct vfio_irq_set is;
	if (m->len < sizeof(is))
		return -EINVAL;
	memcpy(&is, m->body, sizeof(is));
	uint32_t dtype = is.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = is.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	if (is.argsz < sizeof(is) || is.index >= VFIO_PCI_NUM_IRQS ||
	    __builtin_popcount(dtype) != 1 || __builtin_popcount(action) != 1 ||
	    (is.flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return -EINVAL;
	struct vu_srv_irq *irq = &s->irqs[is.index];
	size_t data_len = dtype == VFIO_IRQ_SET_DATA_BOOL ? is.count : 0;
	if (m->len != sizeof(is) + data_len)
		return -EINVAL;
	if (dtype == VFIO_IRQ_SET_DATA_EVENTFD ? (m->nfds != is.count && m->nfds != 0)
					       : m->nfds != 0)
		return -EINVAL;
	/* A socket passed as an eventfd would raise SIGPIPE in the server
	 * when signalled, and a closed one would read 0 for ever. */
	for (unsigned k = 0; k < m->nfds; k++)
		if (!vu_is_eventfd(m->fds[k])) {
			vu_warn(&s->log, "SET_IRQS: descriptor %u is not an eventfd", k);
			return -EINVAL;
		}
	if ((action & (VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK)) &&
	    dtype != VFIO_IRQ_SET_DATA_EVENTFD && !(irq->info_flags & VFIO_IRQ_INFO_MASKABLE))
		return -EINVAL;

	pthread_mutex_lock(&s->irq_mu);
	int r = 0;
	if (is.count == 0) {
		/* count and start 0 with DATA_NONE: disable every interrupt of
		 * the index. */
		if (dtype != VFIO_IRQ_SET_DATA_NONE || is.start != 0 ||
		    action != VFIO_IRQ_SET_ACTION_TRIGGER) {
			r = -EINVAL;
		} else {
			for (uint32_t i = 0; i < irq->count; i++) {
				assign(&irq->efd[i], -1);
				set_pending(s, is.index, i, false);
			}
		}
		goto out;
	}
	if (is.start >= irq->count || is.count > irq->count - is.start) {
		r = -EINVAL;
		goto out;
	}
	for (uint32_t k = 0; k < is.count; k++) {
		uint32_t i = is.start + k;
		if (dtype == VFIO_IRQ_SET_DATA_BOOL && !m->body[sizeof(is) + k])
			continue;
		if (dtype == VFIO_IRQ_SET_DATA_EVENTFD) {
			int fd = m->nfds ? vu_msg_take_fd(m, k) : -1;
			if (action != VFIO_IRQ_SET_ACTION_TRIGGER) {
				int e = assign_watched(s, is.index, i,
						       action == VFIO_IRQ_SET_ACTION_MASK, fd);
				r = r ? r : e;
				continue;
			}
			assign(&irq->efd[i], fd);
			if (fd >= 0 && irq->pending[i] && !irq->masked[i])
				fire(s, is.index, i);
		} else if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
			fire(s, is.index, i);
		} else {
			set_mask(s, is.index, i, action == VFIO_IRQ_SET_ACTION_MASK);
		}
	}
out:
	pthread_mutex_unlock(&s->irq_mu);
	if (r == 0 && s->ops.irq_state && dtype != VFIO_IRQ_SET_DATA_EVENTFD &&
	    (action & (VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK)))
		notify_state(s, &is,
			     dtype == VFIO_IRQ_SET_DATA_BOOL ? m->body + sizeof(is) : NULL);
	return r;
}

/* The client left: close its eventfds, keep the device's own state. */
void vu_srv_irqs_drop(struct uvfio_server *s)
{
	pthread_mutex_lock(&s->irq_mu);
	for (unsigned t = 0; t < VFIO_PCI_NUM_IRQS; t++) {
		struct vu_srv_irq *irq = &s->irqs[t];
		for (uint32_t i = 0; i < irq->count; i++) {
			vu_close(&irq->efd[i]);
			assign_watched(s, t, i, true, -1);
			assign_watched(s, t, i, false, -1);
			irq->masked[i] = false;
			set_pending(s, t, i, false);
		}
	}
	pthread_mutex_unlock(&s->irq_mu);
}

void vu_srv_irqs_free(struct uvfio_server *s)
{
	vu_srv_irqs_drop(s);
	for (unsigned t = 0; t < VFIO_PCI_NUM_IRQS; t++)
		irq_free(&s->irqs[t]);
}

/* After a write to the MSI-X BAR or to config space: vectors the device
 * unmasked fire their pending interrupt. */
void vu_srv_irqs_recheck(struct uvfio_server *s)
{
	pthread_mutex_lock(&s->irq_mu);
	for (uint32_t t = VFIO_PCI_MSI_IRQ_INDEX; t <= VFIO_PCI_MSIX_IRQ_INDEX; t++) {
		struct vu_srv_irq *irq = &s->irqs[t];
		for (uint32_t i = 0; i < irq->count; i++)
			if (irq->pending[i] && !irq->masked[i] && !cfg_masked(s, t, i))
				fire(s, t, i);
	}
	pthread_mutex_unlock(&s->irq_mu);
}
