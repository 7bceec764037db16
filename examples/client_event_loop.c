/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client in event-loop mode: the application owns the loop. It polls
 * uvfio_client_poll_fd() beside its own descriptors and calls
 * uvfio_client_dispatch() when it is readable, so that the server's
 * DMA_READ/DMA_WRITE requests are answered even while no call is in
 * progress. Usage: client_event_loop SOCKET
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <uvfio/client.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .mode = UVFIO_CLIENT_EVENT_LOOP };
	int r = uvfio_client_connect(argv[1], &cfg, &c);
	if (r < 0) {
		fprintf(stderr, "connect: %s\n", uvfio_strerror(r));
		return 1;
	}
	/* memory the device may reach through DMA_READ/DMA_WRITE messages */
	static uint8_t ram[1 << 16] __attribute__((aligned(4096)));
	struct uvfio_dma_region dr = { .vaddr = ram, .iova = 0x100000, .size = sizeof(ram),
				       .prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
				       .fd = -1 };
	if ((r = uvfio_client_dma_map(c, &dr)) < 0)
		fprintf(stderr, "dma_map: %s\n", uvfio_strerror(r));
	/* as a driver does: the device may master the bus (DMA) from now */
	if ((r = uvfio_client_bus_master(c, true)) < 0)
		fprintf(stderr, "bus master: %s\n", uvfio_strerror(r));
	int irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uvfio_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
			      VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &irq);
	for (int i = 0; i < 10; i++) {
		struct pollfd pf[2] = { { .fd = uvfio_client_poll_fd(c), .events = POLLIN },
					{ .fd = irq, .events = POLLIN } };
		if (poll(pf, 2, 100) < 0)
			break;
		/* -EBUSY: another thread of ours is reading (none here) */
		if (pf[0].revents && (r = uvfio_client_dispatch(c)) < 0 && r != -EBUSY)
			break; /* the server went away */
		if (pf[1].revents) {
			uint64_t n;
			if (read(irq, &n, 8) == 8)
				printf("interrupt x%llu\n", (unsigned long long)n);
		}
	}
	uvfio_client_close(c);
	return 0;
}
