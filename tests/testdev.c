/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#include "testdev.h"

static ssize_t bar0(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		    bool is_write)
{
	struct testdev *d = opaque;
	(void)region;
	uint64_t v = 0;
	if (count != 8 || off % 8)
		return -EINVAL; /* registers are 64-bit */
	if (!is_write) {
		switch (off) {
		case TD_SCRATCH: v = d->scratch; break;
		case TD_WRITES: v = __atomic_load_n(&d->writes, __ATOMIC_RELAXED); break;
		case TD_DMA_SRC: v = d->dma_src; break;
		case TD_DMA_DST: v = d->dma_dst; break;
		case TD_DMA_LEN: v = d->dma_len; break;
		case TD_DMA_GO: v = (uint64_t)d->dma_result; break;
		default: v = 0;
		}
		memcpy(buf, &v, 8);
		return 8;
	}
	memcpy(&v, buf, 8);
	__atomic_fetch_add(&d->writes, 1, __ATOMIC_RELAXED);
	switch (off) {
	case TD_SCRATCH: d->scratch = v; break;
	case TD_DMA_SRC: d->dma_src = v; break;
	case TD_DMA_DST: d->dma_dst = v; break;
	case TD_DMA_LEN: d->dma_len = v; break;
	case TD_DMA_GO: {
		uint8_t *tmp = malloc(d->dma_len ? d->dma_len : 1);
		int r = uvfio_server_dma_read(d->srv, d->dma_src, tmp, d->dma_len);
		if (r == 0)
			r = uvfio_server_dma_write(d->srv, d->dma_dst, tmp, d->dma_len);
		free(tmp);
		d->dma_result = r;
		uvfio_server_irq_trigger(d->srv, VFIO_PCI_MSIX_IRQ_INDEX, 0);
		uvfio_server_irq_trigger(d->srv, VFIO_PCI_INTX_IRQ_INDEX, 0);
		break;
	}
	case TD_IRQ: uvfio_server_irq_trigger(d->srv, VFIO_PCI_MSIX_IRQ_INDEX, (uint32_t)v); break;
	case TD_SLEEP: usleep((useconds_t)v * 1000); break;
	case TD_SG_IOVA: {
		struct uvfio_sg sg;
		d->sg_ptr = NULL;
		if (uvfio_server_dma_sg(d->srv, v, 16, UVFIO_DMA_FLAG_WRITE, &sg, 1) == 1) {
			d->sg_ptr = sg.vaddr;
			d->sg_iova = v;
		}
		break;
	}
	case TD_SG_WRITE:
		if (d->sg_ptr) {
			memset(d->sg_ptr, (int)v, 16);
			uvfio_server_dma_mark_dirty(d->srv, d->sg_iova, 16);
		}
		break;
	case TD_MAP_WRITE:
		if (d->map_vaddr && v + 16 <= d->map_size) {
			memset(d->map_vaddr + v, 0xd1, 16);
			uvfio_server_dma_mark_dirty(d->srv, d->map_iova + v, 16);
		}
		break;
	default: break;
	}
	return 8;
}

static ssize_t region9(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		       bool is_write)
{
	(void)opaque;
	(void)region;
	if (!is_write)
		for (size_t i = 0; i < count; i++)
			((uint8_t *)buf)[i] = (uint8_t)(off + i);
	return (ssize_t)count;
}

static int reset(void *opaque, enum uvfio_reset_type type)
{
	struct testdev *d = opaque;
	if (type == UVFIO_RESET_LOST_CONN)
		return 0; /* the state stays for the next client */
	__atomic_fetch_add(&d->resets, 1, __ATOMIC_RELAXED);
	d->scratch = 0;
	return 0;
}

static int dma_map(void *opaque, uint64_t iova, uint64_t size, uint32_t prot, void *vaddr)
{
	struct testdev *d = opaque;
	(void)prot;
	if (vaddr) {
		d->map_vaddr = vaddr;
		d->map_iova = iova;
		d->map_size = size;
	}
	__atomic_fetch_add(&d->maps, 1, __ATOMIC_RELAXED);
	return 0;
}

static void dma_unmap(void *opaque, uint64_t iova, uint64_t size)
{
	struct testdev *d = opaque;
	/* drop every pointer into the range */
	if (d->map_vaddr && d->map_iova == iova)
		d->map_vaddr = NULL;
	if (d->sg_ptr && d->sg_iova >= iova && d->sg_iova - iova < size)
		d->sg_ptr = NULL;
	__atomic_fetch_add(&d->unmaps, 1, __ATOMIC_RELAXED);
}

static uint64_t mig_flags(void *opaque)
{
	(void)opaque;
	return UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY;
}

static int mig_transition(void *opaque, uint32_t from, uint32_t to)
{
	struct testdev *d = opaque;
	(void)from;
	if (to == UVFIO_MIG_STATE_PRE_COPY || to == UVFIO_MIG_STATE_STOP_COPY)
		d->mig_pos = 0;
	if (to == UVFIO_MIG_STATE_RESUMING)
		d->resumed_len = 0;
	return 0;
}

#define MIG_TOTAL 10000

static ssize_t mig_read(void *opaque, void *buf, size_t len)
{
	struct testdev *d = opaque;
	size_t n = len < MIG_TOTAL - d->mig_pos ? len : MIG_TOTAL - d->mig_pos;
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = (uint8_t)((d->mig_pos + i) * 13);
	d->mig_pos += n;
	return (ssize_t)n;
}

static int mig_write(void *opaque, const void *buf, size_t len)
{
	struct testdev *d = opaque;
	if (d->resumed_len + len > sizeof(d->resumed))
		return -ENOSPC;
	memcpy(d->resumed + d->resumed_len, buf, len);
	d->resumed_len += len;
	return 0;
}

static const struct uvfio_device_ops ops = {
	.reset = reset,
	.dma_map = dma_map,
	.dma_unmap = dma_unmap,
	.migration_flags = mig_flags,
	.mig_transition = mig_transition,
	.mig_read = mig_read,
	.mig_write = mig_write,
};

static void *serve(void *arg)
{
	struct testdev *d = arg;
	d->run_result = uvfio_server_run(d->srv);
	return NULL;
}

struct testdev *testdev_start(const struct testdev_opts *o)
{
	static int seq;
	struct testdev *d = calloc(1, sizeof(*d));
	struct testdev_opts none = { 0 };
	if (!o)
		o = &none;
	struct uvfio_server_config cfg = {
		.ops = &ops,
		.opaque = d,
		.max_data_xfer_size = o->max_data_xfer_size,
		.no_twin_socket = o->no_twin_socket,
		.no_write_multiple = o->no_write_multiple,
		.max_dma_maps = o->max_dma_maps,
		.dma_require_seal = o->dma_require_seal,
		.no_bus_master_check = o->no_bus_master_check,
		.timeout_ms = o->timeout_ms,
		.log = { .level = UVFIO_LOG_ERR },
	};
	if (uvfio_server_create(&cfg, &d->srv) < 0)
		abort();
	struct uvfio_pci_id id = { .vendor = 0x1af4, .device = 0x10f0, .subsys_vendor = 0x1af4,
				   .subsys_device = 1, .class_code = 0xff0000, .revision = 2 };
	uvfio_server_pci_init(d->srv, &id);
	struct uvfio_region_desc r0 = { .size = 4096,
					.flags = VFIO_REGION_INFO_FLAG_READ |
						 VFIO_REGION_INFO_FLAG_WRITE,
					.fn = bar0 };
	struct uvfio_region_desc r1 = { .size = 65536,
					.flags = VFIO_REGION_INFO_FLAG_READ |
						 VFIO_REGION_INFO_FLAG_WRITE,
					.bar_flags = UVFIO_BAR_MEM64 };
	struct uvfio_region_desc r2 = { .size = 16384,
					.flags = VFIO_REGION_INFO_FLAG_READ |
						 VFIO_REGION_INFO_FLAG_WRITE,
					.mappable = true,
					.nr_areas = 2,
					.areas = { { 0, 4096 }, { 8192, 4096 } } };
	/* BAR1 is 64-bit, so BAR2 is the next free BAR index: 3 */
	struct uvfio_region_desc r9 = { .size = 4096, .flags = VFIO_REGION_INFO_FLAG_READ,
					.fn = region9, .type = 0x1234, .subtype = 0x5678 };
	void *mem;
	if (uvfio_server_setup_region(d->srv, 0, &r0, NULL) < 0 ||
	    uvfio_server_setup_region(d->srv, 1, &r1, NULL) < 0 ||
	    uvfio_server_setup_region(d->srv, 3, &r2, &mem) < 0 ||
	    uvfio_server_setup_region(d->srv, 9, &r9, NULL) < 0)
		abort();
	d->bar3 = mem;
	if (uvfio_pci_add_cap_pm(d->srv) < 0 || uvfio_pci_add_cap_msi(d->srv, 4) < 0 ||
	    uvfio_pci_add_cap_msix(d->srv, 8, 1, 0, 0x800) < 0 || uvfio_pci_add_cap_exp(d->srv) < 0)
		abort();
	if (uvfio_server_setup_irq(d->srv, VFIO_PCI_INTX_IRQ_INDEX, 1) < 0 ||
	    uvfio_server_setup_irq(d->srv, VFIO_PCI_MSI_IRQ_INDEX, 4) < 0 ||
	    uvfio_server_setup_irq(d->srv, VFIO_PCI_MSIX_IRQ_INDEX, 8) < 0 ||
	    uvfio_server_setup_irq(d->srv, VFIO_PCI_ERR_IRQ_INDEX, 1) < 0 ||
	    uvfio_server_setup_irq(d->srv, VFIO_PCI_REQ_IRQ_INDEX, 1) < 0)
		abort();
	snprintf(d->path, sizeof(d->path), "/tmp/uvfio-test-%d-%d.sock", getpid(), seq++);
	unlink(d->path);
	if (uvfio_server_listen(d->srv, d->path) < 0)
		abort();
	pthread_create(&d->thread, NULL, serve, d);
	return d;
}

void testdev_stop(struct testdev *d)
{
	uvfio_server_stop(d->srv);
	pthread_join(d->thread, NULL);
	uvfio_server_destroy(d->srv);
	free(d);
}

int testdev_fx_setup(void **state, const struct testdev_opts *o,
		     const struct uvfio_client_config *cc)
{
	struct testdev_fx *f = calloc(1, sizeof(*f));
	f->dev = testdev_start(o);
	struct uvfio_client_config def = { .log = { .level = UVFIO_LOG_ERR } };
	if (uvfio_client_connect(f->dev->path, cc ? cc : &def, &f->c) < 0 ||
	    uvfio_client_bus_master(f->c, true) < 0) /* as a driver: DMA allowed */
		abort();
	*state = f;
	return 0;
}

int testdev_fx_teardown(void **state)
{
	struct testdev_fx *f = *state;
	uvfio_client_close(f->c);
	testdev_stop(f->dev);
	free(f);
	return 0;
}

void td_wr64(struct uvfio_client *c, uint64_t off, uint64_t v)
{
	assert_int_equal(uvfio_client_region_write(c, 0, off, &v, 8), 0);
}

int64_t td_device_copy(struct uvfio_client *c, uint64_t src, uint64_t dst, uint64_t len)
{
	td_wr64(c, TD_DMA_SRC, src);
	td_wr64(c, TD_DMA_DST, dst);
	td_wr64(c, TD_DMA_LEN, len);
	td_wr64(c, TD_DMA_GO, 1);
	int64_t v = 0;
	assert_int_equal(uvfio_client_region_read(c, 0, TD_DMA_GO, &v, 8), 0);
	return v;
}
