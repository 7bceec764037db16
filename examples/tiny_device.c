/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vfio-user PCI device in a few dozen lines: one BAR of registers served
 * by a callback, one BAR of RAM the client can mmap(), MSI-X, and a
 * doorbell that raises an interrupt.   Usage: tiny_device SOCKET
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <uvfio/server.h>

static struct uvfio_server *srv;
static uint32_t scratch;

static ssize_t regs(void *opaque, uint32_t region, uint64_t off, void *buf, size_t n, bool wr)
{
	(void)opaque, (void)region;
	if (n != 4)
		return -EINVAL;
	if (!wr) {
		memcpy(buf, off == 0 ? &(uint32_t){ 0x600dcafe } : &scratch, 4);
	} else if (off == 4) {
		memcpy(&scratch, buf, 4);
	} else if (off == 8) {
		uvfio_server_irq_trigger(srv, VFIO_PCI_MSIX_IRQ_INDEX, 0); /* doorbell */
	}
	return 4;
}

static void on_signal(int sig)
{
	(void)sig;
	uvfio_server_stop(srv);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	struct uvfio_server_config cfg = { .log = { .level = UVFIO_LOG_INFO } };
	if (uvfio_server_create(&cfg, &srv) < 0)
		return 1;
	/* your company's PCI-SIG vendor id here; 0xf1f0 is registered to no one
	 * (devices/README.md says why it is used by the samples) */
	struct uvfio_pci_id id = { .vendor = 0xf1f0, .device = 0x0001, .class_code = 0xff0000 };
	struct uvfio_region_desc bar0 = { .size = 4096, .fn = regs,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE };
	struct uvfio_region_desc bar2 = { .size = 65536, .mappable = true,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE };
	struct uvfio_region_desc bar4 = { .size = 4096, .flags = VFIO_REGION_INFO_FLAG_READ |
								  VFIO_REGION_INFO_FLAG_WRITE };
	if (uvfio_server_pci_init(srv, &id) < 0 || uvfio_server_setup_region(srv, 0, &bar0, NULL) ||
	    uvfio_server_setup_region(srv, 2, &bar2, NULL) ||
	    uvfio_server_setup_region(srv, 4, &bar4, NULL) ||
	    uvfio_pci_add_cap_msix(srv, 1, 4, 0, 0x800) < 0 ||
	    uvfio_server_setup_irq(srv, VFIO_PCI_MSIX_IRQ_INDEX, 1) ||
	    uvfio_server_listen(srv, argv[1]))
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	int r = uvfio_server_run(srv);
	uvfio_server_destroy(srv);
	return r < 0 ? 1 : 0;
}
