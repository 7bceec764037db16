/* SPDX-License-Identifier: BSD-3-Clause */
/* The recorded sessions of ../shared/vectors as messages in wire order, for
 * the trace tests. */
#ifndef UVFIO_TRACE_VEC_H
#define UVFIO_TRACE_VEC_H

#include <stddef.h>
#include <stdint.h>

struct vmsg {
	uint8_t *buf;
	size_t len;
	unsigned nfds;
	uint8_t dir; /* TRACE_C2S or TRACE_S2C */
};

/* Every vector file, by name. */
extern const char *const vec_files[];
extern const size_t vec_nfiles;

/* Load one file's session: messages in the order they crossed the wire
 * (by its chunks where it has them), descriptors on the message holding the
 * last byte of the read that brought them. Returns the count. */
size_t vec_session(const char *name, struct vmsg **out);
void vec_free(struct vmsg *v, size_t n);

#endif
