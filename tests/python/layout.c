/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sizes and field offsets of the C structures the Python bindings mirror
 * with ctypes (python/uvfio/_lib.py), as JSON for tests/python/test_layout.py.
 */
#include <stddef.h>
#include <stdio.h>

#include "uvfio/client.h"

static int first;

#define STRUCT(name) (printf("%s\"%s\": {\"size\": %zu, \"fields\": {", first++ ? "}}, " : "", #name, sizeof(struct name)), sep = "")
#define FIELD(name, f) (printf("%s\"%s\": %zu", sep, #f, offsetof(struct name, f)), sep = ", ")

/* A tripwire: a field added to the client's config must be added to
 * ClientConfig in python/uvfio/_lib.py and to the FIELD() lines below. */
_Static_assert(sizeof(struct uvfio_client_config) == 72,
	       "struct uvfio_client_config changed: update python/uvfio/_lib.py and layout.c");

int main(void)
{
	const char *sep;
	putchar('{');
	STRUCT(uvfio_log_config);
	FIELD(uvfio_log_config, fn);
	FIELD(uvfio_log_config, opaque);
	FIELD(uvfio_log_config, level);
	FIELD(uvfio_log_config, trace);
	STRUCT(uvfio_client_config);
	FIELD(uvfio_client_config, log);
	FIELD(uvfio_client_config, mode);
	FIELD(uvfio_client_config, timeout_ms);
	FIELD(uvfio_client_config, max_data_xfer_size);
	FIELD(uvfio_client_config, max_msg_fds);
	FIELD(uvfio_client_config, twin_socket);
	FIELD(uvfio_client_config, no_write_multiple);
	FIELD(uvfio_client_config, coalesce_posted);
	FIELD(uvfio_client_config, version_minor);
	FIELD(uvfio_client_config, propose_minor_zero);
	FIELD(uvfio_client_config, max_in_flight);
	FIELD(uvfio_client_config, post_delay_us);
	FIELD(uvfio_client_config, use_ioeventfds);
	FIELD(uvfio_client_config, poll_us);
	STRUCT(uvfio_caps);
	FIELD(uvfio_caps, max_msg_fds);
	FIELD(uvfio_caps, max_data_xfer_size);
	FIELD(uvfio_caps, max_dma_maps);
	FIELD(uvfio_caps, pgsizes);
	FIELD(uvfio_caps, twin_socket);
	FIELD(uvfio_caps, twin_fd_index);
	FIELD(uvfio_caps, write_multiple);
	FIELD(uvfio_caps, migration);
	FIELD(uvfio_caps, mig_pgsize);
	FIELD(uvfio_caps, mig_max_bitmap_size);
	STRUCT(uvfio_device_info);
	FIELD(uvfio_device_info, argsz);
	FIELD(uvfio_device_info, flags);
	FIELD(uvfio_device_info, num_regions);
	FIELD(uvfio_device_info, num_irqs);
	STRUCT(vfio_irq_info);
	FIELD(vfio_irq_info, argsz);
	FIELD(vfio_irq_info, flags);
	FIELD(vfio_irq_info, index);
	FIELD(vfio_irq_info, count);
	STRUCT(uvfio_mmap_area);
	FIELD(uvfio_mmap_area, offset);
	FIELD(uvfio_mmap_area, size);
	STRUCT(uvfio_region_info);
	FIELD(uvfio_region_info, index);
	FIELD(uvfio_region_info, flags);
	FIELD(uvfio_region_info, size);
	FIELD(uvfio_region_info, offset);
	FIELD(uvfio_region_info, fd);
	FIELD(uvfio_region_info, nr_areas);
	FIELD(uvfio_region_info, areas);
	FIELD(uvfio_region_info, has_type);
	FIELD(uvfio_region_info, type);
	FIELD(uvfio_region_info, subtype);
	FIELD(uvfio_region_info, caps);
	FIELD(uvfio_region_info, caps_len);
	STRUCT(uvfio_dma_region);
	FIELD(uvfio_dma_region, vaddr);
	FIELD(uvfio_dma_region, iova);
	FIELD(uvfio_dma_region, size);
	FIELD(uvfio_dma_region, prot);
	FIELD(uvfio_dma_region, fd);
	FIELD(uvfio_dma_region, fd_offset);
	STRUCT(uvfio_dma_logging_range);
	FIELD(uvfio_dma_logging_range, iova);
	FIELD(uvfio_dma_logging_range, length);
	puts("}}}");
	return 0;
}
