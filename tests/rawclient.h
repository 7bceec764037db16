/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A raw client for server tests that must be deterministic: the test
 * thread writes requests on one end of a socketpair whose other end the
 * server adopted, then serves them itself with uvfio_server_dispatch().
 * Each request is cut into one to three writes at points drawn from a
 * fixed seed, its descriptors on one of them.
 */
#ifndef UVFIO_TEST_RAWCLIENT_H
#define UVFIO_TEST_RAWCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "uvfio/server.h"

struct raw_reply {
	struct uvfio_hdr hdr;
	uint8_t body[8192];
	size_t len; /* body bytes */
	int fds[16];
	int nfds;
};

/* Adopt one end of a new socketpair in s and negotiate, proposing the
 * capabilities JSON object caps (NULL: none), then set Bus Master Enable
 * (as a driver does before DMA). Returns the test's end. */
int raw_connect(struct uvfio_server *s, const char *caps);
/* The same, keeping the twin socket the server may offer in *twin (-1 if
 * none). */
int raw_connect_twin(struct uvfio_server *s, const char *caps, int *twin);
/* Write a request (flags: e.g. UVFIO_FLAGS_NO_REPLY) without serving it. */
void raw_send(int fd, uint16_t cmd, uint32_t flags, const void *body, size_t len, const int *fds,
	      int nfds);
/* Send a request, dispatch, read its reply into rep (NULL: descriptors
 * closed). Returns the reply's errno, 0 for success, -1 when the server
 * hung up. */
int raw_call(struct uvfio_server *s, int fd, uint16_t cmd, const void *body, size_t len,
	     const int *fds, int nfds, struct raw_reply *rep);
/* REGION_READ / REGION_WRITE of count bytes through raw_call. */
int raw_region_read(struct uvfio_server *s, int fd, uint32_t region, uint64_t off, void *buf,
		    uint32_t count);
int raw_region_write(struct uvfio_server *s, int fd, uint32_t region, uint64_t off,
		     const void *buf, uint32_t count);
/* For tests that serve with uvfio_server_run() instead: listen on a fresh
 * socket path, written to path. */
void raw_listen(struct uvfio_server *s, char path[108]);
/* Close the descriptors of a reply. */
void raw_reply_close(struct raw_reply *rep);

#endif
