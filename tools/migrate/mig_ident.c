/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mig_ident.c — are two devices the same kind? Identity from configuration
 * space, the regions' sizes and flags, and the interrupt counts, read with
 * the client library and compared with a sentence for the first difference.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migrate.h"

int mig_ident_get(struct uvfio_client *c, struct mig_ident *id)
{
	memset(id, 0, sizeof(*id));
	uint8_t cfg[0x30];
	int r = uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, 0, cfg, sizeof(cfg));
	if (r < 0)
		return r;
	memcpy(&id->vendor, cfg + 0x00, 2);
	memcpy(&id->device, cfg + 0x02, 2);
	memcpy(&id->subsys_vendor, cfg + 0x2c, 2);
	memcpy(&id->subsys_device, cfg + 0x2e, 2);
	id->class_rev = (uint32_t)cfg[0x0b] << 24 | (uint32_t)cfg[0x0a] << 16 |
			(uint32_t)cfg[0x09] << 8 | cfg[0x08];
	struct uvfio_device_info di;
	if ((r = uvfio_client_device_info(c, &di)) < 0)
		return r;
	id->num_regions = di.num_regions;
	id->num_irqs = di.num_irqs;
	for (uint32_t i = 0; i < di.num_regions && i < MIG_MAX_REGIONS; i++) {
		struct uvfio_region_info ri;
		if ((r = uvfio_client_region_info(c, i, &ri)) < 0)
			return r;
		id->regions[i].size = ri.size;
		id->regions[i].flags = ri.flags;
		uvfio_region_info_release(&ri);
	}
	for (uint32_t i = 0; i < di.num_irqs && i < 8; i++) {
		struct vfio_irq_info ii;
		if ((r = uvfio_client_irq_info(c, i, &ii)) < 0)
			return r;
		id->irq_count[i] = ii.count;
	}
	return 0;
}

int mig_ident_compare(const struct mig_ident *a, const struct mig_ident *b, char *why,
		      size_t len)
{
	if (a->vendor != b->vendor || a->device != b->device ||
	    a->subsys_vendor != b->subsys_vendor || a->subsys_device != b->subsys_device) {
		snprintf(why, len, "PCI ids %04x:%04x (subsystem %04x:%04x) against %04x:%04x "
			 "(subsystem %04x:%04x)", a->vendor, a->device, a->subsys_vendor,
			 a->subsys_device, b->vendor, b->device, b->subsys_vendor, b->subsys_device);
		return -ENODEV;
	}
	if (a->class_rev != b->class_rev) {
		snprintf(why, len, "class and revision %#010x against %#010x", a->class_rev,
			 b->class_rev);
		return -ENODEV;
	}
	if (a->num_regions != b->num_regions || a->num_irqs != b->num_irqs) {
		snprintf(why, len, "%u regions and %u interrupt types against %u and %u",
			 a->num_regions, a->num_irqs, b->num_regions, b->num_irqs);
		return -ENODEV;
	}
	for (unsigned i = 0; i < MIG_MAX_REGIONS; i++)
		if (a->regions[i].size != b->regions[i].size ||
		    a->regions[i].flags != b->regions[i].flags) {
			snprintf(why, len, "region %u: %llu bytes (flags %#x) against %llu bytes "
				 "(flags %#x)", i, (unsigned long long)a->regions[i].size,
				 a->regions[i].flags, (unsigned long long)b->regions[i].size,
				 b->regions[i].flags);
			return -ENODEV;
		}
	for (unsigned i = 0; i < 8; i++)
		if (a->irq_count[i] != b->irq_count[i]) {
			snprintf(why, len, "interrupt type %u: %u vectors against %u", i,
				 a->irq_count[i], b->irq_count[i]);
			return -ENODEV;
		}
	return 0;
}
