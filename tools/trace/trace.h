/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * trace.h — `uvfio trace`: the message decoder (decode.c, decode_cmds.c), the
 * trace session that matches replies to requests and prints them
 * (trace_out.c), pcap files (pcap.c) and the relay between a client and a
 * server (proxy.c). Shared by those files, cmd_trace.c and the tests.
 */
#ifndef UVFIO_TRACE_H
#define UVFIO_TRACE_H

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "uvfio/protocol.h"

#define TRACE_C2S 0 /* client to server */
#define TRACE_S2C 1
#define TRACE_MAIN 0 /* the socket the client connected */
#define TRACE_TWIN 1 /* the twin socket of server requests */

/* One message as seen on the wire. */
struct trace_msg {
	const uint8_t *buf; /* from its header on, as captured */
	size_t len;         /* bytes in buf */
	uint64_t wire_len;  /* bytes it had on the wire (less than its size if cut off) */
	unsigned nfds;      /* descriptors attached */
	uint8_t dir, channel;
	bool incomplete;    /* the connection ended within it, or its size broke the framing */
	uint64_t ts_ns;     /* when its last byte arrived (CLOCK_REALTIME); 0: unknown */
	/* Set by the session: the client proposed version 0.0, as QEMU does,
	 * whose DMA_READ/DMA_WRITE carry a 4-byte count (docs/INTEROP.md). */
	bool qemu_dma;
};

/* What is kept of a request to decode and check its reply. */
#define TRACE_REQ_KEEP 64u
struct trace_req {
	uint8_t dir, channel;
	uint16_t id, cmd;
	uint32_t size;
	unsigned nfds;
	uint64_t ts_ns;
	uint32_t len;                 /* payload bytes kept */
	uint8_t body[TRACE_REQ_KEEP]; /* the payload's first bytes */
};

/*
 * The decoder: one message (and, for a reply, the request it answers, or
 * NULL when none matched) into a JSON object of decoded fields: dir,
 * channel, id, cmd, name, type, size, flags, fds, error/errno, args (the
 * payload's meaning) and findings (what does not agree with the
 * specification or with the request). Never fails on any input except for
 * lack of memory (NULL). decode.c: header and findings; decode_cmds.c: the
 * payload of each command.
 */
json_object *trace_decode(const struct trace_msg *m, const struct trace_req *req);
/* Keep what a request's reply will be checked against. */
void trace_req_keep(const struct trace_msg *m, struct trace_req *req);

/* ---- decode.c and decode_cmds.c share these ---- */
struct dec {
	const struct trace_msg *m;
	const struct trace_req *req; /* a reply's request, else NULL */
	struct uvfio_hdr h;
	const uint8_t *p; /* payload as captured */
	size_t plen;      /* captured payload bytes */
	uint64_t psize;   /* payload bytes by the header's size */
	bool reply, error;
	json_object *args, *findings;
};
void dec_finding(struct dec *d, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Read n (1, 2, 4, 8) bytes at payload offset off; false past the capture. */
bool dec_get(const struct dec *d, size_t off, size_t n, uint64_t *v);
void dec_u64(json_object *o, const char *key, uint64_t v);
/* A value and its printable name (shown as KEY=NAME in text). */
void dec_named(json_object *o, const char *key, uint64_t v, const char *name);
/* Flag bits by name ("read|write|0x40"). */
void dec_flags(json_object *o, const char *key, uint64_t v, const char *const *names,
	       unsigned nbits);
/* The first bytes of the len of data at payload offset off as hex ("data"). */
void dec_data(struct dec *d, json_object *o, size_t off, uint64_t len);
/* Compare the payload size with what the command needs. */
void dec_expect_size(struct dec *d, uint64_t want);
void dec_expect_min(struct dec *d, uint64_t min);
/* Decode the payload of d->h.cmd (decode_cmds.c). */
void dec_payload(struct dec *d);
/* Descriptors the message may carry. */
unsigned dec_fds_allowed(const struct dec *d);

/* ---- The trace session (trace_out.c) ---- */
struct pcap_writer;
struct trace_opts {
	FILE *out;
	bool json;    /* one JSON object per line */
	bool hexdump; /* add every byte */
	bool quiet;   /* no lines (with a pcap to write) */
	struct pcap_writer *pcap;
};
struct trace_session;
/* Returns NULL without memory. */
struct trace_session *trace_session_new(const struct trace_opts *o);
/* A new connection: nothing pending, times from its first message. */
void trace_session_begin(struct trace_session *t);
/* One message: written to the pcap, matched, decoded and printed. */
void trace_feed(struct trace_session *t, const struct trace_msg *m);
/* The connection ended: print what stays unanswered. */
void trace_session_end(struct trace_session *t);
void trace_session_free(struct trace_session *t);
/* Requests awaiting replies tracked at once; past this the oldest is forgotten. */
#define TRACE_MAX_PENDING 1024u

/* ---- pcap files (pcap.c) ---- */
/*
 * Link type DLT_USER0 (147). Each packet is one message after an 8-byte
 * pseudo-header (docs/uvfio.1): version (1), direction (0 client to server,
 * 1 server to client), channel (0 main, 1 twin), flags (bit 0: first
 * message of a connection; bit 1: incomplete), descriptor count (u16 LE),
 * pseudo-header length (u16 LE, 8).
 */
#define TRACE_PCAP_LINKTYPE 147u
#define TRACE_PCAP_PSEUDO 8u
#define TRACE_PCAP_FIRST 1u
#define TRACE_PCAP_INCOMPLETE 2u
#define TRACE_SNAPLEN_DEFAULT (256u << 10)
#define TRACE_SNAPLEN_MAX (16u << 20)
/* Returns NULL with errno set. */
struct pcap_writer *pcap_open_write(FILE *f, uint32_t snaplen);
int pcap_write(struct pcap_writer *w, const struct trace_msg *m, bool first);
int pcap_flush(struct pcap_writer *w);
void pcap_close_write(struct pcap_writer *w); /* closes the FILE */
/*
 * Read a pcap file and feed every message to the session; a packet marked
 * first starts a new connection. Returns 0, or -EINVAL with a sentence in err
 * for a file that is not a vfio-user capture or is damaged.
 */
int pcap_read(FILE *f, struct trace_session *t, char *err, size_t errlen);

/* ---- The relay (proxy.c) ---- */
struct proxy_opts {
	uint32_t snaplen;             /* bytes of each message kept (0: the default) */
	volatile int *stop;           /* set (by a signal handler) to end the session */
	const sigset_t *sigmask;      /* signals unblocked while waiting (ppoll), or NULL */
	void (*flush)(void *arg);     /* called before each wait: flush the output */
	void *flush_arg;
};
/*
 * Relay between a connected client and a connected server until both have
 * gone, tracing every message. Takes both descriptors. Returns 0, or a
 * negative errno when the relay itself failed (no memory); why the session
 * ended is in *why.
 */
int proxy_session(int client, int server, struct trace_session *t, const struct proxy_opts *o,
		  const char **why);

#endif
