/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio-memdev — a memory device: a few registers in BAR0 and 1 MiB of RAM
 * in BAR2 that a client can mmap().
 *
 * BAR0 registers (32-bit):
 *   0x00 ID       reads 0x4d454d31 ("MEM1")
 *   0x04 SCRATCH  read/write
 *   0x08 WRITES   number of register writes so far
 *   0x0c RAMSIZE  size of BAR2 in bytes
 *   0x10 DOORBELL writing raises MSI vector 0 and INTx; an ioeventfd, so a
 *                 client may signal its eventfd instead of writing
 *                 (DEVICE_GET_REGION_IO_FDS, shown by `uvfio info`)
 *
 * With --tick-ms=N it also raises MSI vector 0 every N milliseconds, from a
 * thread of its own (uvfio_server_irq_trigger() is thread-safe), so that
 * `uvfio irq SOCKET msi` has something to show.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define MEMDEV_VENDOR 0x1de5
#define MEMDEV_DEVICE 0x3e30
#define RAM_SIZE (1u << 20)

struct memdev {
	struct uvfio_server *srv;
	uint32_t scratch, writes;
};

static ssize_t regs(void *opaque, uint32_t region, uint64_t off, void *buf, size_t count,
		    bool is_write)
{
	struct memdev *d = opaque;
	(void)region;
	if (count != 4 || off % 4)
		return -EINVAL;
	uint32_t v = 0;
	if (is_write) { /* the doorbell's writes go to doorbell() */
		memcpy(&v, buf, 4);
		d->writes++;
		if (off == 0x04)
			d->scratch = v;
		dev_log_line(UVFIO_LOG_DEBUG, "write %#x to register %#llx", v,
			     (unsigned long long)off);
		return 4;
	}
	switch (off) {
	case 0x00: v = 0x4d454d31; break;
	case 0x04: v = d->scratch; break;
	case 0x08: v = d->writes; break;
	case 0x0c: v = RAM_SIZE; break;
	default: v = 0;
	}
	memcpy(buf, &v, 4);
	return 4;
}

/* DOORBELL, written through a message or signalled through its eventfd
 * (then without the value: the doorbell needs none). */
static int doorbell(void *opaque, const struct uvfio_ioevent *ev)
{
	struct memdev *d = opaque;
	d->writes += (uint32_t)ev->count;
	if (ev->has_data)
		dev_log_line(UVFIO_LOG_INFO, "doorbell %#llx: raising MSI 0 and INTx",
			     (unsigned long long)ev->data);
	else
		dev_log_line(UVFIO_LOG_INFO, "doorbell eventfd (%llu): raising MSI 0 and INTx",
			     (unsigned long long)ev->count);
	uvfio_server_irq_trigger(d->srv, VFIO_PCI_MSI_IRQ_INDEX, 0);
	uvfio_server_irq_trigger(d->srv, VFIO_PCI_INTX_IRQ_INDEX, 0);
	return 0;
}

static int reset(void *opaque, enum uvfio_reset_type type)
{
	struct memdev *d = opaque;
	if (type == UVFIO_RESET_LOST_CONN)
		return 0; /* client_gone says so; the registers stay */
	dev_log_line(UVFIO_LOG_INFO, "reset");
	d->scratch = 0;
	d->writes = 0;
	return 0;
}

static void client_gone(void *opaque)
{
	(void)opaque;
	dev_log_line(UVFIO_LOG_INFO, "client left; waiting for the next one");
}

static unsigned tick_ms;
static int ticking = 1;

static void *ticker(void *arg)
{
	struct memdev *d = arg;
	while (__atomic_load_n(&ticking, __ATOMIC_RELAXED)) {
		usleep(tick_ms * 1000u);
		uvfio_server_irq_trigger(d->srv, VFIO_PCI_MSI_IRQ_INDEX, 0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	/* --tick-ms=N is this device's own option; the rest are common */
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--tick-ms=", 10)) {
			tick_ms = (unsigned)strtoul(argv[i] + 10, NULL, 10);
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(char *));
			argc--;
			i--;
		}
	}
	struct dev_args a;
	dev_parse_args(argc, argv, "uvfio-memdev",
		       "A sample vfio-user device: registers in BAR0, 1 MiB of mmap-able RAM in "
		       "BAR2.\n  --tick-ms=N         raise MSI 0 every N milliseconds",
		       &a);
	static const struct uvfio_device_ops ops = { .reset = reset, .client_gone = client_gone };
	struct memdev d = { 0 };
	struct uvfio_server_config cfg = { .log = dev_log("uvfio-memdev", a.log_level),
					   .ops = &ops, .opaque = &d,
					   .dma_layout = a.dma_layout };
	int r = uvfio_server_create(&cfg, &d.srv);
	if (r < 0)
		return 1;
	struct uvfio_pci_id id = { .vendor = MEMDEV_VENDOR, .device = MEMDEV_DEVICE,
				   .subsys_vendor = MEMDEV_VENDOR, .subsys_device = 1,
				   .class_code = 0x058000, /* memory controller, other */
				   .revision = 1 };
	struct uvfio_region_desc bar0 = { .size = 4096,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE,
					  .fn = regs };
	struct uvfio_region_desc bar2 = { .size = RAM_SIZE,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE,
					  .bar_flags = UVFIO_BAR_MEM64 | UVFIO_BAR_PREFETCH,
					  .mappable = true };
	if (uvfio_server_pci_init(d.srv, &id) < 0 ||
	    uvfio_server_setup_region(d.srv, 0, &bar0, NULL) < 0 ||
	    uvfio_server_setup_region(d.srv, 2, &bar2, NULL) < 0 ||
	    uvfio_server_add_ioeventfd(d.srv, 0, 0x10, 4, 0, 0, doorbell) < 0 ||
	    uvfio_pci_add_cap_pm(d.srv) < 0 || uvfio_pci_add_cap_msi(d.srv, 1) < 0 ||
	    uvfio_pci_add_cap_exp(d.srv) < 0 ||
	    uvfio_server_setup_irq(d.srv, VFIO_PCI_INTX_IRQ_INDEX, 1) < 0 ||
	    dev_setup_err_req(d.srv) < 0 ||
	    uvfio_server_setup_irq(d.srv, VFIO_PCI_MSI_IRQ_INDEX, 1) < 0) {
		uvfio_server_destroy(d.srv);
		return 1;
	}
	pthread_t t;
	bool tick = tick_ms && pthread_create(&t, NULL, ticker, &d) == 0;
	int status = dev_serve(d.srv, &a, "uvfio-memdev");
	if (tick) {
		/* the ticker uses the server: stop it before the server goes */
		__atomic_store_n(&ticking, 0, __ATOMIC_RELAXED);
		pthread_join(t, NULL);
	}
	uvfio_server_destroy(d.srv); /* removes the socket file */
	return status;
}
