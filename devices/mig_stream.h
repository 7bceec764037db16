/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mig_stream.h — the migration stream of the sample devices (one format,
 * one implementation for both): saving in PRE_COPY and STOP_COPY, loading
 * in RESUMING, and the arcs of the migration state machine that start and
 * end those sessions.
 *
 * Stream: a header (magic, format version, device identity, layout, CRC),
 * then records, each with a 24-byte header (type, length, sequence number,
 * CRC-32C of header and payload), ending with an END record. Integers are
 * little-endian (the devices run on the host that wrote them). A device's
 * memory areas (RAM BAR, MSI-X BAR) travel as MEM records; its registers
 * as one STATE record; configuration space as one CONFIG record.
 *
 * Pre-copy (areas marked precopy): a round is one pass over the area; a
 * page is sent when it was never sent or differs from the copy of what was
 * sent (a shadow kept here), so writes the device never sees (through a
 * client's mmap() of the BAR) are found exactly. A short MIG_DATA_READ ends
 * a round; the next read begins the next round (empty once nothing
 * changed). STOP_COPY makes a last pass, then sends state, config and END.
 *
 * Refusals, as the errno of MIG_DATA_WRITE or of the RESUMING -> STOP arc,
 * each also logged as a sentence by the device:
 *   -EBADMSG          not a stream, or corrupted (checksum, sequence, sizes)
 *   -ENODEV           a stream of another kind of device
 *   -EPROTONOSUPPORT  a format or device state version this device lacks
 *   -ENODATA          RESUMING -> STOP with the stream incomplete
 *   -EINVAL           device state values out of range
 * After a refusal the session refuses everything until a reset (or a new
 * STOP -> RESUMING); the device stays in RESUMING, and DEVICE_RESET brings
 * it back to RUNNING. RESUMING -> STOP with no data written at all keeps
 * the device's state as it was.
 */
#ifndef UVFIO_DEVICES_MIG_STREAM_H
#define UVFIO_DEVICES_MIG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uvfio/server.h"

#define MS_MAGIC "UVFIOMIG"
#define MS_VERSION 1u
#define MS_MAX_AREAS 4
#define MS_PAGE 4096u
#define MS_MAX_PAYLOAD (256u << 10) /* bytes of one record's payload */
#define MS_MAX_STATE 4096u

enum ms_rec_type { MS_REC_MEM = 1, MS_REC_STATE = 2, MS_REC_CONFIG = 3, MS_REC_END = 4 };

struct ms_header {
	char magic[8];     /* MS_MAGIC, no NUL */
	uint32_t version;  /* MS_VERSION */
	uint32_t size;     /* sizeof(struct ms_header) */
	char name[32];     /* the device program, NUL-padded */
	uint16_t vendor, device, subsys_vendor, subsys_device;
	uint32_t state_version; /* the device's own register layout */
	uint32_t state_size;
	uint32_t config_size;
	uint32_t nareas;
	struct {
		uint32_t region;
		uint32_t precopy;
		uint64_t size;
	} areas[MS_MAX_AREAS];
	uint32_t reserved;
	uint32_t crc; /* CRC-32C of the bytes before it */
};
_Static_assert(sizeof(struct ms_header) == 144, "stream header layout");

struct ms_rec {
	uint16_t type;   /* enum ms_rec_type */
	uint16_t area;   /* MEM: index of the area */
	uint32_t len;    /* payload bytes that follow */
	uint64_t offset; /* MEM: byte offset in the area; END: records before it */
	uint32_t seq;    /* 0, 1, 2 ... */
	uint32_t crc;    /* CRC-32C of this header (crc = 0) and the payload */
};
_Static_assert(sizeof(struct ms_rec) == 24, "record header layout");

/* What a device tells the stream code about its registers. */
struct ms_device {
	const char *name;
	uint32_t state_version;
	uint32_t state_size; /* at most MS_MAX_STATE */
	void (*save_state)(void *dev, void *buf);
	/* 0 if the state is acceptable, else -EINVAL (nothing applied yet) */
	int (*check_state)(void *dev, const void *buf);
	void (*load_state)(void *dev, const void *buf);
	/* optional: after an arc into RUNNING from STOP (the device may act
	 * again: deliver what it held back while stopped) */
	void (*resumed)(void *dev);
};

struct ms_area {
	uint32_t region;
	uint8_t *mem;
	uint64_t size; /* a multiple of MS_PAGE */
	bool precopy;
	uint8_t *shadow;    /* what the destination holds (precopy areas) */
	uint64_t *unsent;   /* pages never sent in this session */
};

struct migstream {
	struct uvfio_server *srv;
	const struct ms_device *dev;
	void *opaque;
	struct ms_header hdr; /* this device's */
	struct ms_area areas[MS_MAX_AREAS];
	unsigned nareas;
	uint32_t state; /* the migration state, as the arcs moved it */
	int running;    /* atomic: RUNNING or PRE_COPY */

	/* saving (PRE_COPY, STOP_COPY) */
	bool saving, final, hdr_sent, round_reported;
	int phase;            /* what the final pass sends next */
	unsigned cur_area;
	uint64_t cur_page;
	uint32_t seq;
	uint8_t *pend;        /* a record that did not fit a read */
	size_t pend_off, pend_len;

	/* loading (RESUMING) */
	bool loading, loaded_any, done;
	int err;              /* sticky refusal */
	size_t hdr_got, rec_got, pay_got;
	struct ms_header in_hdr;
	struct ms_rec rec;
	uint8_t *stage;       /* a payload split over writes */
	uint8_t *in_state, *in_config;
	bool have_state, have_config;
};

/* Set up after the device's configuration space and regions exist. */
int ms_init(struct migstream *m, struct uvfio_server *srv, const struct ms_device *dev,
	    void *opaque);
/* A memory area to migrate (a plain memory region's pointer and size). */
int ms_add_area(struct migstream *m, uint32_t region, void *mem, uint64_t size, bool precopy);
void ms_free(struct migstream *m);

/* The uvfio_device_ops migration members. */
int ms_transition(struct migstream *m, uint32_t from, uint32_t to);
ssize_t ms_read(struct migstream *m, void *buf, size_t len);
int ms_write(struct migstream *m, const void *buf, size_t len);
/* The same as callbacks, for a device that embeds its struct migstream as
 * the first member of the struct it gives the server as opaque (so that
 * the pointers are the same). PRE_COPY is offered when an area has it. */
uint64_t ms_op_flags(void *opaque);
int ms_op_transition(void *opaque, uint32_t from, uint32_t to);
ssize_t ms_op_read(void *opaque, void *buf, size_t len);
int ms_op_write(void *opaque, const void *buf, size_t len);
/* DEVICE_RESET: end any session; the state is RUNNING again. */
void ms_reset(struct migstream *m);
/* RUNNING or PRE_COPY: the device may act (raise interrupts, DMA).
 * Callable from any thread. */
bool ms_running(const struct migstream *m);

/* CRC-32C (Castagnoli), continuing from crc (0 to start); the _portable
 * twin never uses the CPU's instruction (tests compare the two). */
uint32_t ms_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t ms_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/* mig_save.c / mig_load.c */
void ms_save_end(struct migstream *m);
void ms_load_end(struct migstream *m);
int ms_load_finish(struct migstream *m);

#endif
