/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replaying the sessions recorded on the wire with the real peers
 * (../shared/vectors): loading them with the descriptors each message
 * carried, writing recorded bytes with random coalescing and splitting
 * (seeded), and running a sample device from the build directory.
 */
#ifndef UVFIO_TEST_VECTORS_H
#define UVFIO_TEST_VECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uvfio/protocol.h"

/* One whole message of a recorded session. */
struct vx_msg {
	bool from_client;
	struct uvfio_hdr hdr;
	uint8_t *bytes; /* the whole message, header included */
	size_t len;
	int nfds; /* descriptors that came with it (from the recorded reads) */
};

struct vx_session {
	struct vx_msg *m; /* client's messages in order, then the server's */
	size_t n;
};

/* Load a session file with "messages" (and "chunks", whose descriptor
 * counts are given to the message that holds each read's last byte). */
void vx_load(const char *name, struct vx_session *s);
void vx_free(struct vx_session *s);
/* The recorded message from the other side with this id and type bit
 * (UVFIO_FLAGS_TYPE_REPLY or _COMMAND), or NULL. */
const struct vx_msg *vx_find(const struct vx_session *s, bool from_client, uint16_t id,
			     uint32_t type);

/* Deterministic pseudo-random numbers (xorshift64*). */
struct vx_rng {
	uint64_t s;
};
void vx_rng_seed(struct vx_rng *r, uint64_t seed);
uint64_t vx_rand(struct vx_rng *r, uint64_t below);

/*
 * Messages queued with vx_put() leave at vx_flush() in writes of random
 * length: several messages in one write, one message over several. A
 * message's descriptors travel with a write (of at most 4 KiB) that ends
 * inside that message, as a peer's sendmsg() of it would.
 */
#define VX_MAX_FDS 16
struct vx_writer {
	int fd;
	struct vx_rng rng;
	uint8_t *buf;
	size_t len, cap;
	struct vx_fdmsg {
		size_t start, end;
		int fds[VX_MAX_FDS];
		int nfds;
	} fdm[32];
	unsigned nfdm;
	unsigned writes; /* system calls made, for the curious */
};
void vx_writer_init(struct vx_writer *w, int fd, uint64_t seed);
void vx_writer_free(struct vx_writer *w);
/* Queue a message; its descriptors are the caller's until vx_flush() returns. */
void vx_put(struct vx_writer *w, const void *msg, size_t len, const int *fds, int nfds);
void vx_flush(struct vx_writer *w);

/* Run a sample device of the build directory (with its own args) serving
 * one end of a new socketpair; returns its pid and our end in *fd. Its
 * standard error goes to *errfd (a pipe) when errfd is not NULL. */
pid_t vx_spawn(const char *prog, const char *const *args, int *fd, int *errfd);
/* Wait for it; returns its exit status. */
int vx_wait(pid_t pid);
/* Everything left on a pipe, NUL-terminated (the caller frees). */
char *vx_slurp(int fd);

#endif
