/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * migrate.h — moving a device's state between vfio-user servers with the
 * client library: the same-kind check, the walk through the migration
 * state machine, and the data stream (read from the source, written to the
 * destination by a second thread so both move at once). Used by `uvfio
 * migrate`, by the tests and by uvfio-bench.
 *
 * vfio-user reports no pre-copy sizes (VFIO's VFIO_MIG_GET_PRECOPY_INFO is
 * an ioctl on data_fd, which vfio-user replaces by MIG_DATA_READ): a round
 * is what the source gives until a read returns less than asked.
 *
 * Functions return 0 or a negative errno; on failure err holds one
 * sentence saying what failed, and what was done to recover (the source
 * back in the state it started from, the destination reset).
 */
#ifndef UVFIO_TOOL_MIGRATE_H
#define UVFIO_TOOL_MIGRATE_H

#include <stdint.h>

#include "uvfio/client.h"

#define MIG_MAX_REGIONS 16
#define MIG_MAX_ROUNDS 64

/* What makes two devices the same kind: identity in configuration space,
 * regions (size, flags) and interrupt counts. Fixed layout: it is stored
 * in snapshot files. */
struct mig_ident {
	uint16_t vendor, device, subsys_vendor, subsys_device;
	uint32_t class_rev; /* class code << 8 | revision */
	uint32_t num_regions, num_irqs;
	struct {
		uint64_t size;
		uint32_t flags;
		uint32_t pad;
	} regions[MIG_MAX_REGIONS];
	uint32_t irq_count[8];
};

int mig_ident_get(struct uvfio_client *c, struct mig_ident *id);
/* 0 when a and b are the same kind, else -ENODEV with the first
 * difference in why. */
int mig_ident_compare(const struct mig_ident *a, const struct mig_ident *b, char *why,
		      size_t len);

enum mig_phase { MIG_PHASE_SETUP, MIG_PHASE_PRECOPY, MIG_PHASE_STOPCOPY, MIG_PHASE_DONE };

struct mig_stats {
	uint64_t bytes;          /* stream bytes moved */
	uint64_t precopy_bytes;  /* of which while the source ran */
	uint64_t stopcopy_bytes; /* of which after it stopped */
	unsigned rounds;         /* pre-copy rounds read */
	uint64_t round_bytes[MIG_MAX_ROUNDS];
	int phase;               /* enum mig_phase */
	uint64_t total_ns;       /* the whole run */
	uint64_t downtime_ns;    /* source leaving RUNNING to destination RUNNING */
	uint64_t data_ns;        /* moving data (first read to last write acknowledged) */
	uint32_t chunk;          /* bytes per MIG_DATA_READ/WRITE */
};

struct mig_opts {
	/* At most this many pre-copy rounds (0: stop-and-copy only); pre-copy
	 * ends early after a round that moved at most precopy_threshold bytes. */
	unsigned precopy_rounds;
	uint64_t precopy_threshold;
	uint32_t chunk; /* bytes per message; 0: 1 MiB (within both servers' limits) */
	/*
	 * Called after each pre-copy round (also the last, before the source
	 * stops) with the migrating connection to the source: a server has
	 * one client at a time, so whoever must drive the running device
	 * meanwhile does it here. A negative return ends the migration.
	 */
	int (*after_round)(void *arg, struct uvfio_client *src, unsigned round, uint64_t bytes);
	/* Called after every chunk read, and at each phase change. */
	void (*progress)(void *arg, const struct mig_stats *st);
	void *arg;
};

/*
 * mig_live() - migrate the device behind src to the one behind dst: the
 * destination enters RESUMING, the source PRE_COPY (when it offers it and
 * precopy_rounds > 0) and then STOP_COPY; the stream goes across; the
 * destination goes STOP and then to the state the source started in
 * (RUNNING or STOP); the source ends in STOP. On failure the source is put
 * back in the state it started in and, if it was in RESUMING, the
 * destination is reset.
 */
int mig_live(struct uvfio_client *src, struct uvfio_client *dst, const struct mig_opts *o,
	     struct mig_stats *st, char *err, size_t errlen);

/*
 * mig_save() - snapshot: the source is stopped (STOP_COPY), its stream is
 * written to fd (a regular file, after a header with its identity), and it
 * is put back in the state it was in.
 */
int mig_save(struct uvfio_client *src, int fd, const struct mig_opts *o, struct mig_stats *st,
	     char *err, size_t errlen);
/* mig_load() - restore a snapshot from fd into dst, which ends RUNNING. */
int mig_load(int fd, struct uvfio_client *dst, const struct mig_opts *o, struct mig_stats *st,
	     char *err, size_t errlen);

/*
 * mig_tune_process() - for a process that moves migration data: keep freed
 * buffers of a MiB in the heap instead of handing them back to the kernel
 * (the library allocates each reply; faulting a MiB back in, page by page,
 * costs more than moving it). Process-wide (mallopt); call once, early.
 */
void mig_tune_process(void);

/* "RUNNING", "STOP_COPY" ... ("UNKNOWN" past the last state). Inline: the
 * trace decoder names states too, and links none of migrate.c. */
static inline const char *mig_state_name(uint64_t state)
{
	static const char *const names[] = { "ERROR",	 "STOP",	"RUNNING",  "STOP_COPY",
					     "RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P" };
	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "UNKNOWN";
}

#endif
