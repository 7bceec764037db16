/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio/common.h — what the client and server APIs share: logging, tracing
 * and the negotiated capabilities.
 */
#ifndef UVFIO_COMMON_H
#define UVFIO_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UVFIO_EXPORT __attribute__((visibility("default")))
#else
#define UVFIO_EXPORT
#endif

/* Log levels, ordered as syslog's: lower is more severe. */
enum uvfio_log_level {
	UVFIO_LOG_ERR = 3,
	UVFIO_LOG_WARNING = 4,
	UVFIO_LOG_INFO = 6,
	UVFIO_LOG_DEBUG = 7,
	/* One line per message header sent or received, when tracing is on. */
	UVFIO_LOG_TRACE = 8,
};

/**
 * uvfio_log_fn - where an object's log lines go.
 * @opaque: the pointer given with the function.
 * @level: an enum uvfio_log_level.
 * @line: one line of text without a trailing newline; valid only during the
 *        call.
 *
 * Called from whichever thread produced the line, possibly from several
 * threads at once: the function must be thread-safe.
 */
typedef void (*uvfio_log_fn)(void *opaque, int level, const char *line);

/**
 * struct uvfio_log_config - how an object logs.
 * @fn: the hook; NULL writes lines to stderr prefixed with "uvfio: ".
 * @opaque: passed to @fn.
 * @level: lines above this level are dropped (default UVFIO_LOG_WARNING when
 *         the whole structure is zero).
 * @trace: print one line per header sent or received. Also switched on when
 *         the environment variable UVFIO_TRACE is set to a non-zero value at
 *         the time the object is created.
 */
struct uvfio_log_config {
	uvfio_log_fn fn;
	void *opaque;
	int level;
	bool trace;
};

/**
 * struct uvfio_caps - capabilities of one side of a connection, as carried by
 * VFIO_USER_VERSION.
 *
 * @max_msg_fds: descriptors the sender accepts in one message.
 * @max_data_xfer_size: largest data count of a read or write it accepts.
 * @max_dma_maps: DMA windows it can hold at once.
 * @pgsizes: page sizes, or'ed together, it supports for DMA maps.
 * @twin_socket: the sender supports (request) or enabled (reply) twin-socket
 *               mode.
 * @twin_fd_index: in a reply, the index of the twin socket among the reply's
 *                 descriptors; -1 when absent.
 * @write_multiple: REGION_WRITE_MULTI is supported.
 * @migration: a "migration" object was present.
 * @mig_pgsize: its "pgsize" (0 when absent).
 * @mig_max_bitmap_size: its "max_bitmap_size" (0 when absent).
 */
struct uvfio_caps {
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	bool twin_socket;
	int32_t twin_fd_index;
	bool write_multiple;
	bool migration;
	uint64_t mig_pgsize;
	uint64_t mig_max_bitmap_size;
};

/* Limits this library enforces whatever a peer asks for. */
#define UVFIO_MAX_FDS_LIMIT 64u             /* descriptors in one message */
#define UVFIO_MAX_XFER_LIMIT (64u << 20)    /* data bytes in one message */

/**
 * uvfio_caps_default() - the specification's values for a peer that sent no
 * capabilities at all.
 * @caps: filled in.
 *
 * Thread-safe.
 */
UVFIO_EXPORT void uvfio_caps_default(struct uvfio_caps *caps);

/**
 * uvfio_caps_parse() - parse the JSON of a VERSION message.
 * @json: the version data (need not be NUL-terminated).
 * @len: its length in bytes; 0 means no data, giving the defaults.
 * @caps: filled in; absent keys take the specification's defaults.
 * @err: if not NULL, receives a sentence saying what was wrong.
 * @errlen: size of @err.
 *
 * Unknown keys are ignored (a newer peer may send them); known keys with a
 * wrong type or a value out of range are errors.
 *
 * Returns 0, or -EINVAL for malformed JSON, a wrong type or an out-of-range
 * value. Thread-safe.
 */
UVFIO_EXPORT int uvfio_caps_parse(const char *json, size_t len, struct uvfio_caps *caps,
				  char *err, size_t errlen);

/**
 * uvfio_caps_format() - the JSON text of a VERSION message.
 * @caps: the capabilities to describe.
 * @buf: receives NUL-terminated JSON.
 * @len: size of @buf.
 *
 * Returns the length written without the NUL, -ENOSPC if @buf is too small,
 * or -ENOMEM. Thread-safe.
 */
UVFIO_EXPORT int uvfio_caps_format(const struct uvfio_caps *caps, char *buf, size_t len);

/**
 * uvfio_strerror() - a short description of a negative errno returned by this
 * library. Thread-safe; the string is static.
 */
UVFIO_EXPORT const char *uvfio_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* UVFIO_COMMON_H */
