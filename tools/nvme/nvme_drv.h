/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_drv.h — a userspace NVMe driver over uvfio's client, as SPDK's
 * vfio-user initiator is one: it knows nothing of the device but the NVMe
 * specification (registers, queues, commands; the layouts are the device's
 * own header, devices/nvme/nvme_spec.h).
 *
 * BAR0 is reached by REGION_READ/REGION_WRITE (never mmapped); doorbells are
 * posted REGION_WRITEs; with shadow doorbells (Doorbell Buffer Config) a
 * doorbell is written to memory, and the register (through the device's
 * ioeventfd when it offers one) only when the device's EventIdx asks. The driver's memory (queues, PRP lists, data) is one
 * arena it gives the device with DMA_MAP: shared through a memfd, or, with
 * no_fd, without a descriptor, so the device reads and writes it with
 * DMA_READ/DMA_WRITE messages which the driver answers while it waits.
 * Completions are found by the CQ's phase bit, waiting either by polling
 * or on the queue's MSI-X vector (an eventfd).
 *
 * Used by the tests (tests/integration/test_nvme_*.c), uvfio-bench's nvme
 * rows and `uvfio nvme`. Functions return 0 (or a documented non-negative
 * value) or a negative errno; a command's outcome is its NVMe status
 * (NVME_STATUS(), 0 for success) as a non-negative value.
 *
 * Threads: a driver belongs to one thread at a time (no locking).
 */
#ifndef UVFIO_NVME_DRV_H
#define UVFIO_NVME_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme_spec.h"
#include "uvfio/client.h"

struct nvme_drv;

/**
 * struct nvme_drv_opts - how to drive the device; all-zero is the default.
 * @client: the client's configuration (NULL: defaults, with use_ioeventfds
 *          when @shadow); its mode is always UVFIO_CLIENT_EVENT_LOOP (the
 *          driver dispatches while it waits). An ioeventfd's signal carries
 *          no value, so with use_ioeventfds and no shadow doorbells in use
 *          doorbells are synchronous REGION_WRITEs (correct, slower).
 * @no_fd: DMA_MAP the arena without a descriptor (DMA by messages).
 * @shadow: use shadow doorbells when the controller offers Doorbell Buffer
 *          Config (OACS bit 8); see nvme_drv_info()->shadow.
 * @irq: wait for completions on MSI-X (one vector per CQ) instead of
 *       polling the completion queue.
 * @io_queues: I/O queue pairs to create (0: 1).
 * @io_depth: entries per I/O queue (0: 64; at most CAP.MQES + 1).
 * @max_xfer: largest transfer of one command in bytes (0: 256 KiB; at most
 *            MDTS); PRP lists longer than a page are chained.
 * @mem_size: the arena's size (0: 16 MiB).
 * @timeout_ms: how long a command or a register handshake may take (0:
 *              CAP.TO for the handshakes, 10 s for a command).
 */
struct nvme_drv_opts {
	const struct uvfio_client_config *client;
	bool no_fd;
	bool shadow;
	bool irq;
	uint16_t io_queues;
	uint16_t io_depth;
	uint32_t max_xfer;
	uint64_t mem_size;
	int timeout_ms;
};

/* What the driver found out. */
struct nvme_drv_info {
	uint64_t cap;      /* CAP */
	uint32_t vs;       /* VS */
	uint32_t dstrd;    /* doorbell stride in bytes (4 << CAP.DSTRD) */
	uint32_t mqes;     /* CAP.MQES + 1: the largest queue */
	uint32_t nsid;     /* the namespace used: the first active one */
	uint32_t lba_size; /* its LBA data size */
	uint64_t nsze;     /* its size in LBAs */
	uint32_t max_xfer; /* bytes per command */
	uint16_t io_queues, io_depth;
	bool shadow; /* shadow doorbells in use */
	bool irq;
	struct nvme_id_ctrl id_ctrl; /* Identify Controller */
	struct nvme_id_ns id_ns;     /* Identify Namespace of nsid */
};

/**
 * nvme_drv_open() - connect to the device at @sock, map the arena, set up
 * the PCI function (memory space, bus master, MSI-X), enable the
 * controller (admin queue, CC/CSTS handshake), identify it and its first
 * namespace, set the number of queues, (shadow doorbells,) create the I/O
 * queues. Returns 0, a client error, -ENODEV for a device that is not an
 * NVMe controller, -ETIMEDOUT for a handshake not done in time, -EIO with a
 * line on stderr for a command the controller failed.
 */
int nvme_drv_open(const char *sock, const struct nvme_drv_opts *o, struct nvme_drv **out);

/** nvme_drv_close() - shut the controller down (CC.SHN, waiting for
 * CSTS.SHST) unless it already is, unmap the arena, disconnect. NULL ok. */
void nvme_drv_close(struct nvme_drv *d);

/** nvme_drv_info() - what the driver found; valid until close. */
const struct nvme_drv_info *nvme_drv_info(const struct nvme_drv *d);
/** nvme_drv_client() - the driver's client (for raw register accesses). */
struct uvfio_client *nvme_drv_client(struct nvme_drv *d);

/** nvme_drv_shutdown() - normal shutdown: CC.SHN = 01b, wait until
 * CSTS.SHST reads 10b. Commands fail afterwards until nvme_drv_reset(). */
int nvme_drv_shutdown(struct nvme_drv *d);
/** nvme_drv_reset() - controller reset (CC.EN 1 to 0, CSTS.RDY to 0) and the
 * whole bring-up again; commands outstanding are forgotten. The PCI
 * function is set up again first (memory space, bus master, MSI-X), so
 * this also brings the device back after a DEVICE_RESET or an FLR. */
int nvme_drv_reset(struct nvme_drv *d);

/**
 * nvme_drv_alloc() - @len bytes of the arena (page aligned, zeroed), for
 * data buffers; NULL when the arena is full. Freed at close.
 */
void *nvme_drv_alloc(struct nvme_drv *d, size_t len);
/** nvme_drv_iova() - the device address of @p, inside the arena. */
uint64_t nvme_drv_iova(const struct nvme_drv *d, const void *p);

/**
 * nvme_drv_submit() - put @cmd on submission queue @qid (0: admin) and ring
 * its doorbell. The driver sets the command identifier, and the PRPs when
 * @buf is not NULL (@len bytes of the arena, dword aligned); with @buf
 * NULL, PRP1/PRP2 stay as given (for malformed commands). Returns the
 * command identifier, -EBUSY when the queue is full, -EINVAL for a buffer
 * outside the arena or longer than max_xfer, -ENOENT for a queue not
 * created.
 */
int nvme_drv_submit(struct nvme_drv *d, uint16_t qid, const struct nvme_sqe *cmd, void *buf,
		    size_t len);
/**
 * nvme_drv_reap() - take up to @max completions of queue @qid into @out
 * (and ring the CQ head doorbell); with @wait, wait until at least one
 * (polling or on the queue's vector). Returns the number taken, or
 * -ETIMEDOUT, -EIO when CSTS.CFS (controller fatal status) is set, -ENXIO
 * when the controller is no longer ready (CSTS is read every 100 ms of a
 * wait), or a client error.
 */
int nvme_drv_reap(struct nvme_drv *d, uint16_t qid, struct nvme_cqe *out, int max, bool wait);

/**
 * nvme_drv_cmd() - submit and wait for the command's completion (others
 * reaped meanwhile are dropped: use submit/reap to have several in flight).
 * @cqe: receives the completion when not NULL.
 * Returns its status (NVME_STATUS(cqe): (SCT << 8) | SC, 0 for success) or
 * a negative errno.
 */
int nvme_drv_cmd(struct nvme_drv *d, uint16_t qid, const struct nvme_sqe *cmd, void *buf,
		 size_t len, struct nvme_cqe *cqe);

/**
 * nvme_drv_rw() - Read (NVME_CMD_READ) or Write (NVME_CMD_WRITE) of @nlb
 * blocks from @slba on the namespace through I/O queue @qid, @buf holding
 * nlb * lba_size bytes of the arena. Returns the status or a negative errno.
 */
int nvme_drv_rw(struct nvme_drv *d, uint16_t qid, uint8_t opcode, uint64_t slba, uint32_t nlb,
		void *buf);
/** nvme_drv_rw_cmd() - fill @cmd as Read/Write/Write Zeroes of @nlb blocks
 * at @slba on @nsid (no PRPs). */
void nvme_drv_rw_cmd(struct nvme_sqe *cmd, uint8_t opcode, uint32_t nsid, uint64_t slba,
		     uint32_t nlb);

/** nvme_drv_doorbell() - offset in BAR0 of SQ @qid's tail doorbell (@cq:
 * CQ @qid's head doorbell). */
uint64_t nvme_drv_doorbell(const struct nvme_drv *d, uint16_t qid, bool cq);

/** nvme_drv_status_name() - the specification's name of a status, or NULL. */
const char *nvme_drv_status_name(int status);

#endif
