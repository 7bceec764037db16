/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci_config.c — emulated PCI configuration space: the type-0 header, BAR
 * sizing, per-bit write and write-one-to-clear masks, the capability list
 * helpers (power management, MSI, MSI-X, PCI Express with function-level
 * reset, vendor), PCI Express extended capabilities, and finding either.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CFG_VENDOR 0x00
#define CFG_DEVICE 0x02
#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_REVISION 0x08
#define CFG_CLASS 0x09
#define CFG_CACHE_LINE 0x0c
#define CFG_LATENCY 0x0d
#define CFG_HEADER_TYPE 0x0e
#define CFG_BAR0 0x10
#define CFG_SUBSYS_VENDOR 0x2c
#define CFG_SUBSYS_ID 0x2e
#define CFG_ROM 0x30
#define CFG_CAP_PTR 0x34
#define CFG_INT_LINE 0x3c
#define CFG_INT_PIN 0x3d

#define CFG_EXT_START 0x100
#define STATUS_CAP_LIST 0x0010
#define EXP_DEVCAP_FLR (1u << 28)
#define EXP_DEVCTL_FLR 0x8000 /* Initiate Function Level Reset: reads 0 */
#define COMMAND_BUS_MASTER 0x0004
#define COMMAND_WMASK 0x0547 /* I/O, memory, bus master, parity, SERR, INTx disable */
#define STATUS_W1C 0xf900    /* the error bits */

static void put16(uint8_t *p, uint32_t off, uint16_t v)
{
	memcpy(p + off, &v, 2);
}

static void put32(uint8_t *p, uint32_t off, uint32_t v)
{
	memcpy(p + off, &v, 4);
}

static uint16_t get16(const uint8_t *p, uint32_t off)
{
	uint16_t v;
	memcpy(&v, p + off, 2);
	return v;
}

static uint32_t get32(const uint8_t *p, uint32_t off)
{
	uint32_t v;
	memcpy(&v, p + off, 4);
	return v;
}

int vu_cfg_init(struct uvfio_server *s, uint32_t size)
{
	if (size != 256 && size != 4096)
		return -EINVAL;
	s->cfg_space = calloc(1, size);
	s->cfg_wmask = calloc(1, size);
	s->cfg_w1c = calloc(1, size);
	if (!s->cfg_space || !s->cfg_wmask || !s->cfg_w1c)
		return -ENOMEM;
	s->cfg_size = size;
	s->cap_free = 0x40;
	s->ext_free = CFG_EXT_START;
	put16(s->cfg_wmask, CFG_COMMAND, COMMAND_WMASK);
	put16(s->cfg_w1c, CFG_STATUS, STATUS_W1C);
	s->cfg_wmask[CFG_CACHE_LINE] = 0xff;
	s->cfg_wmask[CFG_LATENCY] = 0xff;
	s->cfg_wmask[CFG_INT_LINE] = 0xff;
	return 0;
}

void vu_cfg_free(struct uvfio_server *s)
{
	free(s->cfg_space);
	free(s->cfg_wmask);
	free(s->cfg_w1c);
	s->cfg_space = s->cfg_wmask = s->cfg_w1c = NULL;
}

int uvfio_server_pci_init(struct uvfio_server *s, const struct uvfio_pci_id *id)
{
	if (!s || !id)
		return -EINVAL;
	uint8_t *c = s->cfg_space;
	put16(c, CFG_VENDOR, id->vendor);
	put16(c, CFG_DEVICE, id->device);
	c[CFG_REVISION] = id->revision;
	c[CFG_CLASS] = (uint8_t)id->class_code;
	c[CFG_CLASS + 1] = (uint8_t)(id->class_code >> 8);
	c[CFG_CLASS + 2] = (uint8_t)(id->class_code >> 16);
	c[CFG_HEADER_TYPE] = 0;
	put16(c, CFG_SUBSYS_VENDOR, id->subsys_vendor);
	put16(c, CFG_SUBSYS_ID, id->subsys_device);
	return 0;
}

uint8_t *uvfio_server_config_space(struct uvfio_server *s, size_t *len)
{
	if (!s)
		return NULL;
	if (len)
		*len = s->cfg_size;
	return s->cfg_space;
}

int uvfio_server_config_set_wmask(struct uvfio_server *s, uint32_t offset, const uint8_t *mask,
				  uint32_t len)
{
	if (!s || !mask || vu_range_bad(offset, len, s->cfg_size))
		return -EINVAL;
	memcpy(s->cfg_wmask + offset, mask, len);
	return 0;
}

void vu_cfg_set_bar(struct uvfio_server *s, unsigned bar, uint64_t size, uint32_t flags)
{
	uint32_t off = CFG_BAR0 + 4 * bar;
	uint32_t low = (flags & UVFIO_BAR_IO) ? 1u : (flags & (UVFIO_BAR_MEM64 | UVFIO_BAR_PREFETCH));
	uint32_t lowmask = (flags & UVFIO_BAR_IO) ? 0x3u : 0xfu;
	put32(s->cfg_space, off, low);
	put32(s->cfg_wmask, off, (uint32_t)~(size - 1) & ~lowmask);
	s->bar_size[bar] = size;
	if ((flags & UVFIO_BAR_MEM64) && bar < 5) {
		put32(s->cfg_space, off + 4, 0);
		put32(s->cfg_wmask, off + 4, (uint32_t)(~(size - 1) >> 32));
	}
}

void vu_cfg_set_rom(struct uvfio_server *s, uint64_t size)
{
	put32(s->cfg_wmask, CFG_ROM, ((uint32_t)~(size - 1) & ~0x7ffu) | 1u);
}

void vu_cfg_set_irq_pin(struct uvfio_server *s)
{
	s->cfg_space[CFG_INT_PIN] = 1; /* INTA# */
}

int vu_cfg_access(struct uvfio_server *s, uint64_t offset, void *buf, uint32_t count, bool write)
{
	if (vu_range_bad(offset, count, s->cfg_size))
		return -EINVAL;
	uint8_t *p = buf;
	if (!write) {
		memcpy(p, s->cfg_space + offset, count);
		return 0;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t o = offset + i;
		uint8_t old = s->cfg_space[o];
		uint8_t v = (uint8_t)((old & ~s->cfg_wmask[o]) | (p[i] & s->cfg_wmask[o]));
		v &= (uint8_t)~(p[i] & s->cfg_w1c[o]);
		s->cfg_space[o] = v;
	}
	if (offset <= CFG_COMMAND && offset + count > CFG_COMMAND)
		vu_cfg_bus_master_sync(s);
	return 0;
}

void vu_cfg_bus_master_sync(struct uvfio_server *s)
{
	bool on = get16(s->cfg_space, CFG_COMMAND) & COMMAND_BUS_MASTER;
	if (__atomic_exchange_n(&s->bus_master, on, __ATOMIC_ACQ_REL) && !on)
		__atomic_store_n(&s->bme_refused, false, __ATOMIC_RELAXED); /* log again */
}

void vu_cfg_reset(struct uvfio_server *s)
{
	uint8_t *c = s->cfg_space;
	put16(c, CFG_COMMAND, 0);
	vu_cfg_bus_master_sync(s);
	put16(c, CFG_STATUS, get16(c, CFG_STATUS) & (uint16_t)~STATUS_W1C);
	if (s->msi_cap)
		put16(c, s->msi_cap + 2, get16(c, s->msi_cap + 2) & (uint16_t)~0x0071);
	if (s->msix_cap)
		put16(c, s->msix_cap + 2, get16(c, s->msix_cap + 2) & (uint16_t)~0xc000);
}

/* Reserve a capability of len bytes and link it at the end of the list. */
static int cap_add(struct uvfio_server *s, uint8_t id, uint32_t len)
{
	if (!s)
		return -EINVAL;
	uint32_t off = (s->cap_free + 3) & ~3u;
	if (off + len > 256)
		return -ENOSPC;
	uint8_t *c = s->cfg_space;
	c[off] = id;
	c[off + 1] = 0;
	if (s->cap_last)
		c[s->cap_last + 1] = (uint8_t)off;
	else
		c[CFG_CAP_PTR] = (uint8_t)off;
	put16(c, CFG_STATUS, get16(c, CFG_STATUS) | STATUS_CAP_LIST);
	s->cap_last = off;
	s->cap_free = off + len;
	return (int)off;
}

int uvfio_pci_add_cap_pm(struct uvfio_server *s)
{
	int off = cap_add(s, 0x01, 8);
	if (off < 0)
		return off;
	put16(s->cfg_space, (uint32_t)off + 2, 0x0003); /* PM spec 1.2 */
	put16(s->cfg_wmask, (uint32_t)off + 4, 0x0103); /* power state, PME enable */
	put16(s->cfg_w1c, (uint32_t)off + 4, 0x8000);   /* PME status */
	return off;
}

int uvfio_pci_add_cap_msi(struct uvfio_server *s, unsigned nvec)
{
	if (!nvec || nvec > 32 || (nvec & (nvec - 1)))
		return -EINVAL;
	int off = cap_add(s, 0x05, 24);
	if (off < 0)
		return off;
	uint32_t o = (uint32_t)off;
	unsigned mmc = (unsigned)__builtin_ctz(nvec);
	/* 64-bit addresses and per-vector masking; enable and MME writable */
	put16(s->cfg_space, o + 2, (uint16_t)((mmc << 1) | (1u << 7) | (1u << 8)));
	put16(s->cfg_wmask, o + 2, 0x0071);
	put32(s->cfg_wmask, o + 4, 0xfffffffc);
	put32(s->cfg_wmask, o + 8, 0xffffffff);
	put16(s->cfg_wmask, o + 12, 0xffff);
	put32(s->cfg_wmask, o + 16, nvec == 32 ? 0xffffffffu : (1u << nvec) - 1);
	s->msi_cap = o;
	return off;
}

int uvfio_pci_add_cap_msix(struct uvfio_server *s, unsigned nvec, unsigned bar,
			   uint32_t table_offset, uint32_t pba_offset)
{
	if (!nvec || nvec > 2048 || bar > 5 || (table_offset & 7) || (pba_offset & 7))
		return -EINVAL;
	int off = cap_add(s, 0x11, 12);
	if (off < 0)
		return off;
	uint32_t o = (uint32_t)off;
	put16(s->cfg_space, o + 2, (uint16_t)(nvec - 1));
	put16(s->cfg_wmask, o + 2, 0xc000); /* enable, function mask */
	put32(s->cfg_space, o + 4, table_offset | bar);
	put32(s->cfg_space, o + 8, pba_offset | bar);
	s->msix_cap = o;
	s->msix_bar = bar;
	s->msix_table = table_offset;
	s->msix_pba = pba_offset;
	return off;
}

int uvfio_pci_add_cap_exp(struct uvfio_server *s)
{
	int off = cap_add(s, 0x10, 0x3c);
	if (off < 0)
		return off;
	uint32_t o = (uint32_t)off;
	put16(s->cfg_space, o + 2, 0x0002);         /* version 2, PCI Express endpoint */
	/* device caps: role-based errors, function-level reset */
	put32(s->cfg_space, o + 4, 0x00008000 | EXP_DEVCAP_FLR);
	put16(s->cfg_wmask, o + 8, 0x7cff | EXP_DEVCTL_FLR); /* device control */
	put16(s->cfg_w1c, o + 10, 0x000f);          /* device status error bits */
	put32(s->cfg_space, o + 12, 0x00000011);    /* link: 2.5 GT/s, x1 */
	put16(s->cfg_wmask, o + 16, 0x01c3);        /* link control */
	put16(s->cfg_space, o + 18, 0x0011);        /* link status: 2.5 GT/s, x1 */
	put16(s->cfg_wmask, o + 0x28, 0x0400);      /* device control 2: LTR */
	s->exp_cap = o;
	return off;
}

bool vu_cfg_take_flr(struct uvfio_server *s)
{
	if (!s->exp_cap || !(get16(s->cfg_space, s->exp_cap + 8) & EXP_DEVCTL_FLR))
		return false;
	put16(s->cfg_space, s->exp_cap + 8,
	      get16(s->cfg_space, s->exp_cap + 8) & (uint16_t)~EXP_DEVCTL_FLR);
	return true;
}

int uvfio_pci_add_cap_vendor(struct uvfio_server *s, const void *data, uint8_t len)
{
	if (!data && len)
		return -EINVAL;
	if ((unsigned)len + 3 > 255)
		return -EINVAL;
	int off = cap_add(s, 0x09, 3u + len);
	if (off < 0)
		return off;
	s->cfg_space[off + 2] = (uint8_t)(3 + len);
	if (len)
		memcpy(s->cfg_space + off + 3, data, len);
	return off;
}

int uvfio_pci_add_ext_cap(struct uvfio_server *s, uint16_t id, uint8_t version, const void *data,
			  uint32_t len)
{
	if (!s || s->cfg_size <= CFG_EXT_START || version > 15 || (!data && len))
		return -EINVAL;
	uint32_t off = (s->ext_free + 3) & ~3u;
	if (len > s->cfg_size - off || 4 + len > s->cfg_size - off)
		return -ENOSPC;
	put32(s->cfg_space, off, (uint32_t)id | (uint32_t)version << 16);
	if (len)
		memcpy(s->cfg_space + off + 4, data, len);
	/* The first one sits at 0x100 itself; later ones link from the last. */
	if (s->ext_last)
		put32(s->cfg_space, s->ext_last, (get32(s->cfg_space, s->ext_last) & 0xfffff) |
							 off << 20);
	s->ext_last = off;
	s->ext_free = off + 4 + len;
	return (int)off;
}

int uvfio_pci_find_cap(struct uvfio_server *s, uint8_t id, uint32_t after)
{
	if (!s || !(get16(s->cfg_space, CFG_STATUS) & STATUS_CAP_LIST))
		return -ENOENT;
	bool past = !after;
	uint32_t p = s->cfg_space[CFG_CAP_PTR] & ~3u;
	/* (256 - 64) / 4 capabilities at most: a longer walk is a loop */
	for (unsigned n = 0; p >= 0x40 && p + 2 <= 256 && n < 48; n++) {
		if (past && s->cfg_space[p] == id)
			return (int)p;
		past = past || p == after;
		p = s->cfg_space[p + 1] & ~3u;
	}
	return -ENOENT;
}

int uvfio_pci_find_ext_cap(struct uvfio_server *s, uint16_t id, uint32_t after)
{
	if (!s || s->cfg_size <= CFG_EXT_START)
		return -ENOENT;
	bool past = !after;
	uint32_t p = CFG_EXT_START;
	for (unsigned n = 0; p >= CFG_EXT_START && p + 4 <= s->cfg_size && n < 960; n++) {
		uint32_t h = get32(s->cfg_space, p);
		if (!h) /* no extended capability at all */
			break;
		if (past && (h & 0xffff) == id)
			return (int)p;
		past = past || p == after;
		p = (h >> 20) & ~3u;
	}
	return -ENOENT;
}
