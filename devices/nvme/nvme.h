/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme.h - the NVMe controller of uvfio-nvme, independent of the transport.
 *
 * The controller (ctrl.c) sees guest memory, interrupts and its namespace
 * through the small interfaces below, so the same code runs under
 * uvfio's server library (main.c: BAR0 callbacks on the serving thread, a
 * worker thread that owns the queues) and under the libFuzzer harness
 * (tests/fuzz/fuzz_nvme.c: flat memory, one thread).
 *
 * Threads: nvme_reg_read(), nvme_reg_write(), nvme_doorbell_kick() and
 * nvme_ctrl_reset_async() are called by the serving thread; they only take
 * the register lock and never wait for the worker. Everything else
 * (queues, commands, backend I/O) belongs to the thread that calls
 * nvme_ctrl_step() / nvme_ctrl_wait(): the worker.
 */
#ifndef UVFIO_NVME_H
#define UVFIO_NVME_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "nvme_spec.h"
#include "uvfio/server.h"

#define NVME_MAX_IOQ 63u         /* I/O queue pairs at most (qid 1..63) */
#define NVME_NQ (NVME_MAX_IOQ + 1u)
#define NVME_MQES 1023u          /* CAP.MQES: 1024 entries a queue */
#define NVME_MDTS 8u             /* 2^8 pages of 4 KiB: 1 MiB a command */
#define NVME_MAX_XFER (4096u << NVME_MDTS)
#define NVME_IO_DEPTH 128u       /* backend requests in flight */
#define NVME_MAX_SEGS 260u       /* merged PRP pieces of one command */
#define NVME_AERL 3u             /* 4 outstanding AERs */
#define NVME_ACL 3u
#define NVME_ERRLOG 64u          /* error log entries kept (ELPE + 1) */
#define NVME_BAR0_SIZE 0x4000u   /* registers + 128 doorbells, stride 4 */
#define NVME_MSIX_BAR 4u

/* What the controller needs from its transport. */
struct nvme_host {
	void *opaque;
	/* copy to/from guest memory; 0 or a negative errno */
	int (*dma_read)(void *opaque, uint64_t iova, void *buf, size_t len);
	int (*dma_write)(void *opaque, uint64_t iova, const void *buf, size_t len);
	/* pin guest memory for a backend request (may be NULL: bounce) */
	int (*sg_get)(void *opaque, uint64_t iova, uint64_t len, uint32_t prot,
		      struct uvfio_sg *sg, unsigned max);
	void (*sg_put)(void *opaque, struct uvfio_sg *sg, unsigned n);
	/* copy the @nseg pieces to (@to_guest) or from one buffer; may be NULL
	 * (then one dma_read/dma_write a piece) */
	int (*dma_xfer_sg)(void *opaque, const struct uvfio_dma_seg *seg, unsigned nseg, void *buf,
			   bool to_guest);
	/* raise the interrupt of @vector; @pin_masked: INTMS masks INTx */
	void (*irq)(void *opaque, uint16_t vector, bool pin_masked);
	uint16_t nvec; /* MSI-X vectors */
};

/* The namespace's storage. */
struct nvme_backend {
	uint64_t size;       /* bytes, a multiple of the LBA size */
	uint8_t *mem;        /* --size: memory */
	int fd;              /* --file: the image, or -1 */
	bool uring;          /* fd I/O through io_uring */
	void *ring;          /* struct io_uring *, owned by ctrl.c */
};

struct nvme_ctrl;

struct nvme_ctrl_config {
	struct nvme_host host;
	struct nvme_backend backend;
	unsigned lba_shift;   /* 9 or 12 */
	unsigned nr_ioq;      /* I/O queue pairs, 1..NVME_MAX_IOQ */
	uint8_t uid[16];      /* namespace NGUID/UUID and serial number seed */
	const char *serial;   /* the serial number, or NULL: from uid */
	uint16_t vid, ssvid;  /* Identify Controller VID/SSVID: the PCI vendor ids */
	int wake_fd;          /* eventfd the worker sleeps on, or -1 (no worker) */
};

int nvme_ctrl_create(const struct nvme_ctrl_config *cfg, struct nvme_ctrl **out);
void nvme_ctrl_destroy(struct nvme_ctrl *c);

/* serving thread: BAR0 access (offset, 1/2/4/8 bytes); returns 0 or -errno */
int nvme_reg_read(struct nvme_ctrl *c, uint64_t off, void *buf, size_t len);
int nvme_reg_write(struct nvme_ctrl *c, uint64_t off, const void *buf, size_t len);
/* serving thread: a doorbell rung without its value (an ioeventfd signal):
 * the worker looks at the shadow doorbells */
void nvme_doorbell_kick(struct nvme_ctrl *c, uint64_t off);
/* serving thread: function-level or vfio-user reset: registers to their
 * reset values now, queues torn down by the worker */
void nvme_ctrl_reset_async(struct nvme_ctrl *c);
/* serving thread: INTx was unmasked: raise it again if still asserted */
void nvme_ctrl_intx_unmasked(struct nvme_ctrl *c);

/* worker: one pass over registers, doorbells, queues and the backend.
 * Returns true if it did anything. */
bool nvme_ctrl_step(struct nvme_ctrl *c);
/* worker: sleep until there may be work (wake_fd), with shadow doorbells'
 * EventIdx updated first; returns at once if there is work. */
void nvme_ctrl_wait(struct nvme_ctrl *c);
/* worker: finish every backend request (for teardown and the fuzzer) */
void nvme_ctrl_drain(struct nvme_ctrl *c);
/* any thread: ask the worker to end; nvme_ctrl_stopping() tells it */
void nvme_ctrl_stop(struct nvme_ctrl *c);
bool nvme_ctrl_stopping(struct nvme_ctrl *c);
/* worker: whether polling for work is cheap (the controller is enabled,
 * and shadow doorbells, if on, are in mapped memory: through DMA messages
 * each look at them is a round trip) */
bool nvme_ctrl_may_spin(struct nvme_ctrl *c);

/* backend setup (backend.c) */
int nvme_backend_open_file(struct nvme_backend *b, const char *path, unsigned lba_size);
int nvme_backend_open_mem(struct nvme_backend *b, uint64_t size);
void nvme_backend_close(struct nvme_backend *b);

#endif
