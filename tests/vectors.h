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
 * standard error goes to *errfd (a pipe) when errfd is not NULL. It claims
 * the ids of the recordings (vendor and subsystem vendor 0x1de5). */
pid_t vx_spawn(const char *prog, const char *const *args, int *fd, int *errfd);
/* Wait for it; returns its exit status. */
int vx_wait(pid_t pid);
/* Everything left on a pipe, NUL-terminated (the caller frees). */
char *vx_slurp(int fd);

/* ---- Replaying a client's side against a server -------------------------- */

/*
 * The recorded client's messages go to a server in random groups of one to
 * four, written in random pieces; every reply is compared byte for byte
 * with the recorded one (VERSION by meaning). Hooks follow the session,
 * answer the server's own requests and accept expected differences. Also
 * accepted everywhere, as what our devices gained since the recordings:
 * the ERR and REQ interrupts (count 1 where the recording shows 0) and the
 * Function Level Reset bit of the PCI Express capability.
 */
#define VX_BIG (2u << 20) /* room for any message a device sends here */

struct vx_replay;
typedef void (*vx_request_fn)(struct vx_replay *q, const struct uvfio_hdr *h, const uint8_t *body);
/* A reply that differs from the recorded one: check it and return true if
 * the difference is the expected one. */
typedef bool (*vx_differs_fn)(struct vx_replay *q, const struct vx_msg *req, const uint8_t *got,
			     size_t len);

struct vx_replay {
	struct vx_session ses;
	int fd;  /* ours; the device has the other end */
	int ram; /* guest RAM shared by descriptor, or -1 */
	struct vx_writer w;
	struct vx_rng rng;
	void (*before)(struct vx_replay *q, const struct vx_msg *m);
	void (*after)(struct vx_replay *q, const struct vx_msg *req); /* its reply checked */
	vx_request_fn request;
	vx_differs_fn differs;
	void *arg;
	unsigned replies, differed;
	unsigned newer;    /* replies that differ by what our devices gained since */
	unsigned pcie_cap; /* learnt from the recording */
	uint8_t *buf;
};

void vx_replay_init(struct vx_replay *q, const char *file, int fd, uint64_t seed);
void vx_replay_free(struct vx_replay *q); /* closes ram, not fd */
void vx_replay_run(struct vx_replay *q);
/* Descriptors for a recorded message: guest RAM (q->ram) for DMA_MAP, new
 * eventfds for SET_IRQS. Returns how many; the caller closes them. */
int vx_replay_fds(struct vx_replay *q, const struct vx_msg *m, int *fds);
/* Replies the session recorded from the server. */
unsigned vx_recorded_replies(const struct vx_session *s);
/* The reply to a recorded region read of at most 8 bytes, returning v. */
bool vx_read_returns(const struct vx_msg *req, const uint8_t *got, size_t len, uint64_t v);

/* One message built by the test, through the writer; returns its reply
 * (payload in q->buf). vx_call_ok() also checks it is no error. */
struct uvfio_hdr vx_call(struct vx_replay *q, const void *msg, size_t len);
void vx_call_ok(struct vx_replay *q, const void *msg, size_t len);
/* A REGION_READ of count bytes (at most 8) as QEMU sends it; the value. */
uint64_t vx_region_read(struct vx_replay *q, uint16_t id, uint32_t region, uint64_t off,
			uint32_t count);
struct testdev;
/* The test device (tests/testdev.h), connected, after QEMU's recorded
 * VERSION from file. */
struct testdev *vx_qemu_testdev(struct vx_replay *q, const char *file, uint64_t seed);

/* The guest buffer of qemu-client-dma-by-messages.json: byte i. */
static inline uint8_t vx_pattern(uint64_t i)
{
	return (uint8_t)(7 * i + 3);
}

#endif
