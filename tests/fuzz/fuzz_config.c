/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: configuration-space writes. The input is a list of writes
 * (offset, length, bytes). Invariants after each: the identity and every
 * read-only byte keep their value, BAR registers read back aligned to their
 * size, and the capability list still walks to its end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct uvfio_server *s;
	static uint8_t orig[256], wmask[256];
	if (!s) {
		struct uvfio_server_config cfg = { .log = { .level = -1 } };
		if (uvfio_server_create(&cfg, &s) < 0)
			abort();
		struct uvfio_pci_id id = { .vendor = 0x1234, .device = 0x5678,
					   .class_code = 0x010802 };
		uvfio_server_pci_init(s, &id);
		struct uvfio_region_desc r0 = { .size = 4096,
						.flags = VFIO_REGION_INFO_FLAG_READ |
							 VFIO_REGION_INFO_FLAG_WRITE };
		struct uvfio_region_desc r2 = { .size = 1 << 20,
						.flags = VFIO_REGION_INFO_FLAG_READ,
						.bar_flags = UVFIO_BAR_MEM64 };
		uvfio_server_setup_region(s, 0, &r0, NULL);
		uvfio_server_setup_region(s, 2, &r2, NULL);
		uvfio_pci_add_cap_pm(s);
		uvfio_pci_add_cap_msi(s, 8);
		uvfio_pci_add_cap_msix(s, 16, 0, 0, 0x800);
		uvfio_pci_add_cap_exp(s);
		uint8_t vend[5] = { 1, 2, 3, 4, 5 };
		uvfio_pci_add_cap_vendor(s, vend, sizeof(vend));
		uvfio_server_setup_irq(s, VFIO_PCI_MSIX_IRQ_INDEX, 16);
		memcpy(orig, s->cfg_space, 256);
		memcpy(wmask, s->cfg_wmask, 256);
	}
	vu_cfg_reset(s);
	memcpy(s->cfg_space, orig, 256);
	while (size >= 3) {
		uint16_t off = (uint16_t)(data[0] | (data[1] & 1) << 8);
		uint8_t len = data[2] % 9;
		data += 3;
		size -= 3;
		if (len > size)
			len = (uint8_t)size;
		int r = vu_srv_region_access(s, VFIO_PCI_CONFIG_REGION_INDEX, off, (void *)data, len,
					     true);
		if (off + len > 256 ? r != -EINVAL : r != 0)
			abort();
		data += len;
		size -= len;
		for (int i = 0; i < 256; i++)
			if (!wmask[i] && !s->cfg_w1c[i] && s->cfg_space[i] != orig[i])
				abort(); /* a read-only byte changed */
		uint32_t bar0;
		memcpy(&bar0, s->cfg_space + 0x10, 4);
		if (bar0 & 0xff0)
			abort(); /* a 4 KiB BAR is 4 KiB aligned */
		unsigned hops = 0;
		for (uint8_t p = s->cfg_space[0x34]; p; p = s->cfg_space[p + 1])
			if (++hops > 8 || p < 0x40)
				abort();
	}
	return 0;
}
