/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client in service-thread mode: the library runs a thread of its own that
 * answers the server's requests (on a twin socket, negotiated by default in
 * this mode) while the application's threads only issue requests.
 * Usage: client_service_thread SOCKET
 */
#include <inttypes.h>
#include <stdio.h>

#include <uvfio/client.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .mode = UVFIO_CLIENT_SERVICE_THREAD,
					   .timeout_ms = 2000 };
	int r = uvfio_client_connect(argv[1], &cfg, &c);
	if (r < 0) {
		fprintf(stderr, "connect: %s\n", uvfio_strerror(r));
		return 1;
	}
	struct uvfio_device_info di;
	if (uvfio_client_device_info(c, &di) == 0)
		printf("%u regions, %u interrupt types, twin socket: %s\n", di.num_regions,
		       di.num_irqs, uvfio_client_twin_socket(c) ? "yes" : "no");
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		uvfio_client_region_write_posted(c, 0, 4, &v, 4); /* no waiting */
	if ((r = uvfio_client_flush(c)) < 0) /* ...until here */
		fprintf(stderr, "posted writes: %s\n", uvfio_strerror(r));
	if (uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, 0, &v, 4) == 0)
		printf("vendor:device %04" PRIx32 ":%04" PRIx32 "\n", v & 0xffff, v >> 16);
	uvfio_client_close(c);
	return 0;
}
