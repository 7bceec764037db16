/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_region.c — setting up a device's regions: BARs (with their sizing
 * in configuration space), the ROM, VGA and device-specific regions, served
 * by callbacks, plain memory, or memory the client may mmap(): a memfd of
 * the library's, or a file the device supplies.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

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

/* A descriptor for a mappable region: a new memfd (own < 0), or a duplicate
 * of the device's file, checked to cover [offset, offset + size). */
static int region_file(const struct uvfio_region_desc *d, int own, uint64_t offset)
{
	if (own < 0) {
		int fd = memfd_create("uvfio-region", MFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, (off_t)d->size) < 0) {
			int r = -errno;
			close(fd);
			return r;
		}
		return fd;
	}
	struct stat st;
	if (fstat(own, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || offset % (uint64_t)sysconf(_SC_PAGESIZE) ||
	    offset > INT64_MAX || vu_range_bad(offset, d->size, (uint64_t)st.st_size))
		return -EINVAL;
	int fd = fcntl(own, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

static int setup(struct uvfio_server *s, uint32_t index, const struct uvfio_region_desc *d,
		 int own, uint64_t offset, void **mem)
{
	if (!s)
		return -EINVAL;
	int r = check_desc(index, d);
	if (r < 0)
		return r;
	if (own >= 0 && !d->mappable)
		return -EINVAL;
	struct vu_srv_region *reg = &s->regions[index];
	if (reg->present || (index > 0 && index <= VFIO_PCI_BAR5_REGION_INDEX &&
			     s->regions[index - 1].present &&
			     (s->regions[index - 1].d.bar_flags & UVFIO_BAR_MEM64)))
		return -EEXIST;
	if (d->size > SIZE_MAX)
		return -ENOMEM;
	if (d->mappable) {
		int fd = region_file(d, own, offset);
		if (fd < 0)
			return fd;
		/* The device's file may be read-only when the region is. */
		int prot = own < 0 || (d->flags & VFIO_REGION_INFO_FLAG_WRITE)
				   ? PROT_READ | PROT_WRITE
				   : PROT_READ;
		void *p = mmap(NULL, (size_t)d->size, prot, MAP_SHARED, fd, (off_t)offset);
		if (p == MAP_FAILED) {
			r = -errno;
			close(fd);
			return r;
		}
		reg->d = *d;
		reg->memfd = fd;
		reg->fd_offset = offset;
		reg->mem = p;
		if (!reg->d.nr_areas) {
			reg->d.nr_areas = 1;
			reg->d.areas[0].offset = 0;
			reg->d.areas[0].size = d->size;
		}
	} else {
		reg->d = *d;
		if (!d->fn && !(reg->mem = calloc(1, (size_t)d->size)))
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

int uvfio_server_setup_region(struct uvfio_server *s, uint32_t index,
			      const struct uvfio_region_desc *d, void **mem)
{
	return setup(s, index, d, -1, 0, mem);
}

int uvfio_server_setup_region_fd(struct uvfio_server *s, uint32_t index,
				 const struct uvfio_region_desc *d, int fd, uint64_t offset,
				 void **mem)
{
	if (fd < 0)
		return -EBADF;
	return setup(s, index, d, fd, offset, mem);
}
