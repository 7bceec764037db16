/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio-memdev — a memory device: a few registers in BAR0 and 1 MiB of RAM
 * (--ram-size=BYTES: a power of two from 4 KiB to 1 GiB) in BAR2 that a
 * client can mmap(). It can be migrated (PRE_COPY and
 * STOP_COPY): its RAM moves while it runs, and only what changed since
 * moves once it is stopped (devices/mig_stream.h).
 *
 * BAR0 registers (32-bit):
 *   0x00 ID        reads 0x4d454d31 ("MEM1")
 *   0x04 SCRATCH   read/write
 *   0x08 WRITES    number of register writes so far
 *   0x0c RAMSIZE   size of BAR2 in bytes
 *   0x10 DOORBELL  writing sets INTSTATUS bit 0 and raises MSI vector 0 and
 *                  INTx (while the device is stopped: once it runs again); an
 *                  ioeventfd, so a client may signal its eventfd instead of
 *                  writing (DEVICE_GET_REGION_IO_FDS, shown by `uvfio info`)
 *   0x14 INTSTATUS bit 0: a doorbell interrupt not yet acknowledged; write 1
 *                  to clear
 *
 * With --tick-ms=N it also raises MSI vector 0 every N milliseconds, from a
 * thread of its own (uvfio_server_irq_trigger() is thread-safe), so that
 * `uvfio irq SOCKET msi` has something to show.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "mig_stream.h"

#define MEMDEV_VENDOR 0xf1f0 /* registered to no company: devices/README.md */
#define MEMDEV_DEVICE 0x3e30
#define RAM_SIZE_DEFAULT (1u << 20)
#define RAM_SIZE_MAX (1u << 30)

static uint32_t ram_size = RAM_SIZE_DEFAULT;

struct memdev {
	struct migstream ms; /* first: the ms_op_* callbacks take the device as theirs */
	struct uvfio_server *srv;
	uint32_t scratch, writes, intstatus;
	bool owed; /* a doorbell interrupt raised while stopped */
};

static void raise_irq(struct memdev *d)
{
	uvfio_server_irq_trigger(d->srv, VFIO_PCI_MSI_IRQ_INDEX, 0);
	uvfio_server_irq_trigger(d->srv, VFIO_PCI_INTX_IRQ_INDEX, 0);
}

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
		if (off == 0x14)
			d->intstatus &= ~v;
		dev_log_line(UVFIO_LOG_DEBUG, "write %#x to register %#llx", v,
			     (unsigned long long)off);
		return 4;
	}
	switch (off) {
	case 0x00: v = 0x4d454d31; break;
	case 0x04: v = d->scratch; break;
	case 0x08: v = d->writes; break;
	case 0x0c: v = ram_size; break;
	case 0x14: v = d->intstatus; break;
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
	bool now = ms_running(&d->ms);
	const char *when = now ? "" : " once the device runs";
	d->writes += (uint32_t)ev->count;
	d->intstatus |= 1;
	if (ev->has_data)
		dev_log_line(UVFIO_LOG_INFO, "doorbell %#llx: raising MSI 0 and INTx%s",
			     (unsigned long long)ev->data, when);
	else
		dev_log_line(UVFIO_LOG_INFO, "doorbell eventfd (%llu): raising MSI 0 and INTx%s",
			     (unsigned long long)ev->count, when);
	if (now)
		raise_irq(d);
	else
		d->owed = true;
	return 0;
}

static int reset(void *opaque, enum uvfio_reset_type type)
{
	struct memdev *d = opaque;
	if (type == UVFIO_RESET_LOST_CONN)
		return 0; /* client_gone says so; the registers stay */
	dev_log_line(UVFIO_LOG_INFO, "reset");
	d->scratch = d->writes = d->intstatus = 0;
	d->owed = false;
	ms_reset(&d->ms);
	return 0;
}

/* ---- Migration ------------------------------------------------------------------------ */

struct memdev_state {
	uint32_t scratch, writes, intstatus, owed;
};

static void save_state(void *dev, void *buf)
{
	struct memdev *d = dev;
	struct memdev_state st = { d->scratch, d->writes, d->intstatus, d->owed };
	memcpy(buf, &st, sizeof(st));
}

static int check_state(void *dev, const void *buf)
{
	(void)dev;
	struct memdev_state st;
	memcpy(&st, buf, sizeof(st));
	return st.intstatus > 1 || st.owed > 1 ? -EINVAL : 0;
}

static void load_state(void *dev, const void *buf)
{
	struct memdev *d = dev;
	struct memdev_state st;
	memcpy(&st, buf, sizeof(st));
	d->scratch = st.scratch;
	d->writes = st.writes;
	d->intstatus = st.intstatus;
	d->owed = st.owed;
}

/* Running again: the interrupt the stopped device held back. */
static void resumed(void *dev)
{
	struct memdev *d = dev;
	if (d->owed) {
		d->owed = false;
		raise_irq(d);
	}
}

static const struct ms_device memdev_ms = {
	.name = "uvfio-memdev",
	.state_version = 1,
	.state_size = sizeof(struct memdev_state),
	.save_state = save_state,
	.check_state = check_state,
	.load_state = load_state,
	.resumed = resumed,
};

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
		if (ms_running(&d->ms))
			uvfio_server_irq_trigger(d->srv, VFIO_PCI_MSI_IRQ_INDEX, 0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	/* --tick-ms=N and --ram-size=BYTES are this device's own options; the
	 * rest are common */
	for (int i = 1; i < argc; i++) {
		bool own = true;
		if (!strncmp(argv[i], "--tick-ms=", 10)) {
			tick_ms = (unsigned)strtoul(argv[i] + 10, NULL, 10);
		} else if (!strncmp(argv[i], "--ram-size=", 11)) {
			char *end;
			unsigned long long v = strtoull(argv[i] + 11, &end, 0);
			if (*end || v < 4096 || v > RAM_SIZE_MAX || (v & (v - 1))) {
				fprintf(stderr, "uvfio-memdev: --ram-size=%s: the size of BAR2 must be a "
						"power of two from 4096 to %u bytes\n",
					argv[i] + 11, RAM_SIZE_MAX);
				return 2;
			}
			ram_size = (uint32_t)v;
		} else {
			own = false;
		}
		if (own) {
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(char *));
			argc--;
			i--;
		}
	}
	const struct uvfio_pci_id id = { .vendor = MEMDEV_VENDOR, .device = MEMDEV_DEVICE,
					 .subsys_vendor = MEMDEV_VENDOR, .subsys_device = 1,
					 .class_code = 0x058000, /* memory controller, other */
					 .revision = 1 };
	struct dev_args a;
	dev_parse_args(argc, argv, "uvfio-memdev",
		       "A sample vfio-user device: registers in BAR0, 1 MiB of mmap-able RAM in "
		       "BAR2.\n  --tick-ms=N         raise MSI 0 every N milliseconds\n"
		       "  --ram-size=BYTES    size of BAR2's RAM, a power of two (default 1 MiB)",
		       &id, &a);
	static const struct uvfio_device_ops ops = { .reset = reset,
						     .client_gone = client_gone,
						     .migration_flags = ms_op_flags,
						     .mig_transition = ms_op_transition,
						     .mig_read = ms_op_read,
						     .mig_write = ms_op_write };
	struct memdev d = { 0 };
	struct uvfio_server_config cfg = { .log = dev_log("uvfio-memdev", a.log_level),
					   .ops = &ops, .opaque = &d,
					   .dma_layout = a.dma_layout, .poll_us = a.poll_us,
					   .access = a.access };
	void *ram = NULL;
	int r = uvfio_server_create(&cfg, &d.srv);
	if (r < 0)
		return 1;
	struct uvfio_region_desc bar0 = { .size = 4096,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE,
					  .fn = regs };
	struct uvfio_region_desc bar2 = { .size = ram_size,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE,
					  .bar_flags = UVFIO_BAR_MEM64 | UVFIO_BAR_PREFETCH,
					  .mappable = true };
	if (uvfio_server_pci_init(d.srv, &a.id) < 0 ||
	    uvfio_server_setup_region(d.srv, 0, &bar0, NULL) < 0 ||
	    uvfio_server_setup_region(d.srv, 2, &bar2, &ram) < 0 ||
	    uvfio_server_add_ioeventfd(d.srv, 0, 0x10, 4, 0, 0, doorbell) < 0 ||
	    uvfio_pci_add_cap_pm(d.srv) < 0 || uvfio_pci_add_cap_msi(d.srv, 1) < 0 ||
	    uvfio_pci_add_cap_exp(d.srv) < 0 ||
	    uvfio_server_setup_irq(d.srv, VFIO_PCI_INTX_IRQ_INDEX, 1) < 0 ||
	    dev_setup_err_req(d.srv) < 0 ||
	    uvfio_server_setup_irq(d.srv, VFIO_PCI_MSI_IRQ_INDEX, 1) < 0 ||
	    ms_init(&d.ms, d.srv, &memdev_ms, &d) < 0 ||
	    ms_add_area(&d.ms, 2, ram, ram_size, true) < 0) {
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
	ms_free(&d.ms);
	return status;
}
