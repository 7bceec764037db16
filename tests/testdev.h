/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A test device built on the server library, run in a thread of the test
 * process, so that every client feature is exercised against a real peer.
 *
 * BAR0 (4 KiB, callbacks): registers
 *   0x00 scratch (r/w)      0x08 reads count of BAR0 writes
 *   0x10 DMA source iova    0x18 DMA destination iova   0x20 DMA length
 *   0x28 write: copy src->dst in client memory, then raise MSI-X vector 0
 *        (and INTx); reads back the result of the last copy (0 or -errno)
 *   0x30 write N: raise MSI-X vector N      0x38 write: sleep that many ms
 *   0x40 write: translate [v, v+16) for writing (uvfio_server_dma_sg), keep
 *        the pointer   0x48 write: store 16 bytes of v there, then mark them
 *        dirty   0x50 write: store 16 bytes at offset v of the last memory
 *        the dma_map callback gave a pointer to, then mark them dirty
 * BAR1 (64 KiB, plain memory): MSI-X table at 0, PBA at 0x800
 * BAR1 is 64-bit and takes BAR2's slot in configuration space.
 * BAR3 (16 KiB, mappable): sparse areas [0, 4K) and [8K, 12K)
 * Region 9 (4 KiB, device-specific, type 0x1234/0x5678)
 * Config space: PM, MSI (4), MSI-X (8), PCI Express capabilities.
 * Migration: PRE_COPY supported; the migration data is 10000 bytes of a
 * pattern, and whatever is written in RESUMING is kept in `resumed`.
 */
#ifndef UVFIO_TESTDEV_H
#define UVFIO_TESTDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "uvfio/client.h"
#include "uvfio/server.h"

struct testdev {
	struct uvfio_server *srv;
	pthread_t thread;
	char path[108];
	uint64_t scratch;
	uint64_t writes;
	uint64_t dma_src, dma_dst, dma_len;
	int64_t dma_result;
	uint8_t *bar3;
	unsigned resets;
	unsigned maps, unmaps;
	uint8_t *sg_ptr, *map_vaddr;
	uint64_t sg_iova, map_iova, map_size;
	size_t mig_pos;
	uint8_t resumed[16384];
	size_t resumed_len;
	int run_result;
};

struct testdev_opts {
	uint32_t max_data_xfer_size;
	bool no_twin_socket;
	bool no_write_multiple;
	uint32_t max_dma_maps;
	bool dma_require_seal;
	bool no_bus_master_check;
	uint32_t timeout_ms;
};

/* A cmocka fixture: a device and a client connected to it (config cc, or
 * errors only when NULL). */
struct testdev_fx {
	struct testdev *dev;
	struct uvfio_client *c;
};
int testdev_fx_setup(void **state, const struct testdev_opts *o,
		     const struct uvfio_client_config *cc);
int testdev_fx_teardown(void **state);

/* Start the device listening on a fresh socket path, served by a thread. */
struct testdev *testdev_start(const struct testdev_opts *o);
/* Stop it and free everything. */
void testdev_stop(struct testdev *d);

#define TD_SCRATCH 0x00
#define TD_WRITES 0x08
#define TD_DMA_SRC 0x10
#define TD_DMA_DST 0x18
#define TD_DMA_LEN 0x20
#define TD_DMA_GO 0x28
#define TD_IRQ 0x30
#define TD_SLEEP 0x38
#define TD_SG_IOVA 0x40
#define TD_SG_WRITE 0x48
#define TD_MAP_WRITE 0x50

/* Write a 64-bit register of the test device's BAR0 (asserted). */
void td_wr64(struct uvfio_client *c, uint64_t off, uint64_t v);
/* Have the test device copy len bytes src -> dst through its registers
 * (each access asserted); returns the result it reads back from TD_DMA_GO
 * (0, or the copy's negative errno). */
int64_t td_device_copy(struct uvfio_client *c, uint64_t src, uint64_t dst, uint64_t len);

#endif
