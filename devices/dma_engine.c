/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio-dma-engine — a copy engine. The client programs source,
 * destination and length (IOVAs in its own memory) and starts it; the engine
 * copies through mapped memory when the client shared a descriptor, and
 * through DMA_READ/DMA_WRITE messages when it did not, then raises MSI-X
 * vector 0. The copy runs like hardware: the serving thread starts it with
 * the library's asynchronous DMA and goes on answering the client (a driver
 * polling STATUS reads BUSY) until the completion callback ends it. It can
 * be migrated (STOP_COPY): registers, a copy started while the device was
 * stopped or still running when its state was saved (it runs again once
 * the device, here or at the destination, runs), its MSI-X table and
 * configuration space.
 *
 * BAR0 registers (64-bit):
 *   0x00 SRC     source IOVA          0x08 DST   destination IOVA
 *   0x10 LEN     bytes to copy        0x18 CTRL  write 1 to start
 *   0x20 STATUS  0 idle, 1 done, 2 error, 3 queued (started while stopped),
 *                4 busy (copying)
 *   0x28 ERROR   errno of the last failure
 *   0x30 COPIES  copies completed     0x38 BYTES bytes copied in all
 * SRC, DST and LEN are taken when the copy starts: writing them while BUSY
 * prepares the next copy. CTRL = 1 while BUSY is refused: ignored (and
 * logged), the running copy goes on. Each copy ends with MSI-X 0, also a
 * failed one (STATUS 2, ERROR set; ECANCELED when a reset or a DMA_UNMAP of
 * its memory cancelled it), except when the client left (ECONNRESET).
 * BAR1: MSI-X table (offset 0) and PBA (offset 0x800).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "mig_stream.h"

#define ENGINE_VENDOR 0xf1f0 /* registered to no company: devices/README.md */
#define ENGINE_DEVICE 0xd0a0
#define MAX_COPY (64u << 20)

enum { SRC, DST, LEN, CTRL, STATUS, ERROR, COPIES, BYTES, NREGS };

struct engine {
	struct migstream ms; /* first: the ms_op_* callbacks take the device as theirs */
	struct uvfio_server *srv;
	uint64_t r[NREGS];
	unsigned maps;
	/* the copy running (STATUS BUSY): what it was started with */
	uint64_t src, dst, len;
	uint8_t *buf;
};

enum { ST_IDLE, ST_DONE, ST_ERROR, ST_QUEUED, ST_BUSY };

/* The copy is over (err 0 or an errno): the registers say how, MSI-X 0
 * says so unless nobody is there to hear it. */
static void copy_end(struct engine *e, int err)
{
	free(e->buf);
	e->buf = NULL;
	e->r[STATUS] = err ? ST_ERROR : ST_DONE;
	e->r[ERROR] = (uint64_t)err;
	if (!err) {
		e->r[COPIES]++;
		e->r[BYTES] += e->len;
	}
	bool irq = err != ECONNRESET;
	dev_log_line(err ? UVFIO_LOG_WARNING : UVFIO_LOG_INFO, "copy of %llu bytes %#llx -> %#llx: %s%s",
		     (unsigned long long)e->len, (unsigned long long)e->src,
		     (unsigned long long)e->dst, err ? strerror(err) : "done",
		     irq ? "; raising MSI-X 0" : "");
	if (irq)
		uvfio_server_irq_trigger(e->srv, VFIO_PCI_MSIX_IRQ_INDEX, 0);
}

static void wrote(void *opaque, int r)
{
	copy_end(opaque, -r);
}

/* The source is in: write it to the destination. */
static void read_done(void *opaque, int r)
{
	struct engine *e = opaque;
	if (r == 0)
		r = uvfio_server_dma_write_async(e->srv, e->dst, e->buf, e->len, wrote, e);
	if (r < 0)
		copy_end(e, -r);
}

static void run_copy(struct engine *e)
{
	e->src = e->r[SRC];
	e->dst = e->r[DST];
	e->len = e->r[LEN];
	if (e->len > MAX_COPY) {
		copy_end(e, E2BIG);
		return;
	}
	if (!e->len) {
		copy_end(e, 0);
		return;
	}
	if (!(e->buf = malloc(e->len))) {
		copy_end(e, ENOMEM);
		return;
	}
	e->r[STATUS] = ST_BUSY;
	int r = uvfio_server_dma_read_async(e->srv, e->src, e->buf, e->len, read_done, e);
	if (r < 0)
		copy_end(e, -r);
}

static ssize_t regs(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		    bool is_write)
{
	struct engine *e = opaque;
	(void)region;
	if (off % 8 || count % 8 || !count || off / 8 + count / 8 > NREGS)
		return -EINVAL;
	for (size_t i = 0; i < count / 8; i++) {
		unsigned reg = (unsigned)(off / 8 + i);
		if (!is_write) {
			memcpy((uint8_t *)buf + 8 * i, &e->r[reg], 8);
			continue;
		}
		uint64_t v;
		memcpy(&v, (uint8_t *)buf + 8 * i, 8);
		if (reg <= LEN)
			e->r[reg] = v;
		else if (reg == CTRL && (v & 1) && e->r[STATUS] == ST_BUSY)
			dev_log_line(UVFIO_LOG_WARNING, "CTRL: a copy is running; start refused");
		else if (reg == CTRL && (v & 1) && ms_running(&e->ms))
			run_copy(e);
		else if (reg == CTRL && (v & 1))
			e->r[STATUS] = ST_QUEUED; /* a stopped device copies nothing */
	}
	return (ssize_t)count;
}

static int reset(void *opaque, enum uvfio_reset_type type)
{
	struct engine *e = opaque;
	if (type == UVFIO_RESET_LOST_CONN)
		return 0; /* the registers stay for the next client */
	memset(e->r, 0, sizeof(e->r));
	ms_reset(&e->ms);
	dev_log_line(UVFIO_LOG_INFO, "reset");
	return 0;
}

/* ---- Migration ------------------------------------------------------------------------ */

static void save_state(void *dev, void *buf)
{
	struct engine *e = dev;
	uint64_t r[NREGS];
	memcpy(r, e->r, sizeof(r));
	if (r[STATUS] == ST_BUSY) { /* copied again where it resumes */
		r[STATUS] = ST_QUEUED;
		r[SRC] = e->src;
		r[DST] = e->dst;
		r[LEN] = e->len;
	}
	memcpy(buf, r, sizeof(r));
}

static int check_state(void *dev, const void *buf)
{
	(void)dev;
	uint64_t r[NREGS];
	memcpy(r, buf, sizeof(r));
	return r[STATUS] > ST_QUEUED || r[CTRL] ? -EINVAL : 0;
}

static void load_state(void *dev, const void *buf)
{
	memcpy(((struct engine *)dev)->r, buf, sizeof(((struct engine *)dev)->r));
}

/* Running again: the copy started while the device was stopped. */
static void resumed(void *dev)
{
	struct engine *e = dev;
	if (e->r[STATUS] == ST_QUEUED) {
		dev_log_line(UVFIO_LOG_INFO, "running the copy started while stopped");
		run_copy(e);
	}
}

static const struct ms_device engine_ms = {
	.name = "uvfio-dma-engine",
	.state_version = 1,
	.state_size = sizeof(uint64_t) * NREGS,
	.save_state = save_state,
	.check_state = check_state,
	.load_state = load_state,
	.resumed = resumed,
};

static int dma_map(void *opaque, uint64_t iova, uint64_t size, uint32_t prot, void *vaddr)
{
	struct engine *e = opaque;
	e->maps++;
	dev_log_line(UVFIO_LOG_INFO, "client memory [%#llx, +%#llx) %s%s, %s",
		     (unsigned long long)iova, (unsigned long long)size,
		     prot & UVFIO_DMA_FLAG_READ ? "r" : "-", prot & UVFIO_DMA_FLAG_WRITE ? "w" : "-",
		     vaddr ? "mapped here" : "through messages");
	return 0;
}

static void dma_unmap(void *opaque, uint64_t iova, uint64_t size)
{
	struct engine *e = opaque;
	e->maps--;
	dev_log_line(UVFIO_LOG_INFO, "client memory [%#llx, +%#llx) removed",
		     (unsigned long long)iova, (unsigned long long)size);
}

int main(int argc, char **argv)
{
	const struct uvfio_pci_id id = { .vendor = ENGINE_VENDOR, .device = ENGINE_DEVICE,
					 .subsys_vendor = ENGINE_VENDOR, .subsys_device = 1,
					 .class_code = 0x088000, /* system peripheral, other */
					 .revision = 1 };
	struct dev_args a;
	dev_parse_args(argc, argv, "uvfio-dma-engine",
		       "A sample vfio-user device: a DMA copy engine with an MSI-X completion "
		       "interrupt.",
		       &id, &a);
	static const struct uvfio_device_ops ops = { .reset = reset,
						     .dma_map = dma_map,
						     .dma_unmap = dma_unmap,
						     .migration_flags = ms_op_flags,
						     .mig_transition = ms_op_transition,
						     .mig_read = ms_op_read,
						     .mig_write = ms_op_write };
	struct engine e = { 0 };
	struct uvfio_server_config cfg = { .log = dev_log("uvfio-dma-engine", a.log_level),
					   .ops = &ops, .opaque = &e,
					   .dma_layout = a.dma_layout, .poll_us = a.poll_us,
					   .access = a.access };
	void *msix = NULL;
	if (uvfio_server_create(&cfg, &e.srv) < 0)
		return 1;
	struct uvfio_region_desc bar0 = { .size = 4096,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE,
					  .fn = regs };
	struct uvfio_region_desc bar1 = { .size = 4096,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE };
	if (uvfio_server_pci_init(e.srv, &a.id) < 0 ||
	    uvfio_server_setup_region(e.srv, 0, &bar0, NULL) < 0 ||
	    uvfio_server_setup_region(e.srv, 1, &bar1, &msix) < 0 ||
	    uvfio_pci_add_cap_pm(e.srv) < 0 || uvfio_pci_add_cap_msix(e.srv, 1, 1, 0, 0x800) < 0 ||
	    uvfio_pci_add_cap_exp(e.srv) < 0 ||
	    uvfio_server_setup_irq(e.srv, VFIO_PCI_INTX_IRQ_INDEX, 1) < 0 ||
	    dev_setup_err_req(e.srv) < 0 ||
	    uvfio_server_setup_irq(e.srv, VFIO_PCI_MSIX_IRQ_INDEX, 1) < 0 ||
	    ms_init(&e.ms, e.srv, &engine_ms, &e) < 0 ||
	    ms_add_area(&e.ms, 1, msix, 4096, false) < 0) {
		uvfio_server_destroy(e.srv);
		return 1;
	}
	int status = dev_serve(e.srv, &a, "uvfio-dma-engine");
	uvfio_server_destroy(e.srv); /* removes the socket file */
	ms_free(&e.ms);
	return status;
}
