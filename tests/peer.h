/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A scripted peer: a thread on one end of a socketpair that plays a server
 * (or a client) byte by byte, so that tests can send what a real
 * implementation never would.
 */
#ifndef UVFIO_TEST_PEER_H
#define UVFIO_TEST_PEER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvfio/protocol.h"

struct peer;
typedef void (*peer_fn)(struct peer *p);

struct peer {
	int fd;    /* the peer's end */
	int other; /* the end handed to the code under test (-1 once given) */
	pthread_t thread;
	peer_fn fn;
	void *arg;
	int result; /* set by the script: 0 when it saw what it expected */
};

/* Create the pair and start fn on the peer's end. */
struct peer *peer_start(peer_fn fn, void *arg);
/* Wait for the script to finish and free; returns its result. */
int peer_join(struct peer *p);

/* Read exactly len bytes (blocking), descriptors into fds (NULL: closed);
 * returns the bytes read, fewer at EOF. */
size_t peer_read_full(int fd, void *buf, size_t len, int *fds, int *nfds);
/* Read one whole message (blocking). Returns its total size, 0 at EOF. */
size_t peer_recv(int fd, struct uvfio_hdr *h, uint8_t *body, size_t cap, int *fds, int *nfds);
/* Write bytes exactly as given, optionally with descriptors; false if not
 * all of them went (the other side is gone, or a non-blocking fd is full). */
bool peer_write(int fd, const void *buf, size_t len, const int *fds, int nfds);
/* Send a reply to h with the given payload. */
void peer_reply(int fd, const struct uvfio_hdr *h, const void *body, size_t len);
/* Answer the client's VERSION with the given JSON (NULL: no capabilities). */
void peer_version(int fd, uint16_t minor, const char *json);
/* A REGION_READ reply to request h (body req) carrying the 4-byte value v,
 * written to out; returns its size. */
size_t peer_read_reply(const struct uvfio_hdr *h, const uint8_t *req, uint32_t v, uint8_t *out);

struct uvfio_client;
struct uvfio_client_config;
/* A client on the other end (the test fails if it cannot be made). */
struct uvfio_client *peer_client(struct peer *p, const struct uvfio_client_config *cfg);

#endif
