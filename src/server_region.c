/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_region.c — setting up a device's regions: BARs (with their sizing
 * in configuration space), the ROM, VGA and device-specific regions, served
 * by callbacks, plain memory, or memfd-backed memory the client may mmap().
 */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

static int check_desc(uint32_t index, const struct uvfio_region_desc *d)
{
	if (index >= VU_MAX_REGIONS || index == VFIO_PCI_CONFIG_REGION_INDEX || !d || !d->size ||
	    (d->flags & ~(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)) ||
	    (d->mappable && d->fn) || d->nr_areas > VU_ARRAY_SIZE(d->areas))
		return -EINVAL;
	if (index <= VFIO_PCI_BAR5_REGION_INDEX) {
		bool io = d->bar_flags & UVFIO_BAR_IO;
		if (!vu_is_pow2(d->size) || d->size < (io ? 4u : 16u) ||
		    (io && (d->bar_flags & ~UVFIO_BAR_IO)) ||
		    (!(d->bar_flags & UVFIO_BAR_MEM64) && d->size > (1ull << 31)) ||
		    ((d->bar_flags & UVFIO_BAR_MEM64) && index == VFIO_PCI_BAR5_REGION_INDEX))
			return -EINVAL;
	} else if (index == VFIO_PCI_ROM_REGION_INDEX) {
		if (!vu_is_pow2(d->size) || d->size < 2048 || (d->flags & VFIO_REGION_INFO_FLAG_WRITE))
			return -EINVAL;
	}
	long pg = sysconf(_SC_PAGESIZE);
	for (uint32_t i = 0; i < d->nr_areas; i++) {
		if (!d->mappable || !d->areas[i].size || d->areas[i].offset % (uint64_t)pg ||
		    d->areas[i].size % (uint64_t)pg ||
		    vu_range_bad(d->areas[i].offset, d->areas[i].size, d->size))
			return -EINVAL;
	}
	if (d->mappable && d->size % (uint64_t)pg)
		return -EINVAL;
	return 0;
}

int uvfio_server_setup_region(struct uvfio_server *s, uint32_t index,
			      const struct uvfio_region_desc *d, void **mem)
{
	if (!s)
		return -EINVAL;
	int r = check_desc(index, d);
	if (r < 0)
		return r;
	struct vu_srv_region *reg = &s->regions[index];
	if (reg->present || (index > 0 && index <= VFIO_PCI_BAR5_REGION_INDEX &&
			     s->regions[index - 1].present &&
			     (s->regions[index - 1].d.bar_flags & UVFIO_BAR_MEM64)))
		return -EEXIST;
	if (d->size > SIZE_MAX)
		return -ENOMEM;
	reg->d = *d;
	if (d->mappable) {
		int fd = memfd_create("uvfio-region", MFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		void *p = MAP_FAILED;
		if (ftruncate(fd, (off_t)d->size) == 0)
			p = mmap(NULL, (size_t)d->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			r = -errno;
			close(fd);
			return r;
		}
		reg->memfd = fd;
		reg->mem = p;
		if (!reg->d.nr_areas) {
			reg->d.nr_areas = 1;
			reg->d.areas[0].offset = 0;
			reg->d.areas[0].size = d->size;
		}
	} else if (!d->fn) {
		reg->mem = calloc(1, (size_t)d->size);
		if (!reg->mem)
			return -ENOMEM;
	}
	reg->present = true;
	if (index >= s->nregions)
		s->nregions = index + 1;
	if (index <= VFIO_PCI_BAR5_REGION_INDEX)
		vu_cfg_set_bar(s, index, d->size, d->bar_flags);
	else if (index == VFIO_PCI_ROM_REGION_INDEX)
		vu_cfg_set_rom(s, d->size);
	if (mem)
		*mem = reg->mem;
	return 0;
}
