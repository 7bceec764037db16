/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * conform.h — `uvfio conform` (docs/CONFORMANCE.md): the checks of a server
 * (checks_*.c, checks.h) and of a client (checks_client.c), the peer under test
 * (peer_proc.c: spawning, restarting, what only a parent or /proc sees), the
 * raw connection both sides speak (conn.c), fuzz corpora replayed
 * (corpus.c) and the command with its reports (cmd_conform.c).
 */
#ifndef UVFIO_CONFORM_H
#define UVFIO_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uvfio/protocol.h"

#define SPEC "vfio-user.rst: " /* every check's section is of docs/interop/vfio-user.rst */

enum cf_result { CF_PASS, CF_FAIL, CF_SKIP };

/* ---- conn.c: one raw connection, messages cut and joined at random ---- */

struct cf_msg {
	struct uvfio_hdr h;
	uint8_t *body; /* msg_size - 16 bytes (malloc'ed) */
	size_t len;
	int fds[16];
	int nfds;
};

/* Client memory the tool serves DMA_READ/DMA_WRITE from (no descriptor). */
struct cf_dma_window {
	uint64_t iova, size;
	uint8_t *mem;
};

struct cf_conn {
	int fd;
	uint16_t next_id;
	unsigned seed;
	int timeout_ms;
	/* what happened on the last wait: a close, a timeout */
	bool closed, timed_out;
	/* negotiated */
	uint16_t minor;
	uint32_t max_msg_fds, max_data_xfer;
	uint32_t own_max_xfer; /* the max_data_xfer_size the tool proposed */
	uint64_t max_dma_maps;
	bool migration;
	/* server requests met while waiting for a reply */
	struct cf_dma_window dma;
	bool split; /* cut every message at random (--split) */
	/* corked: writes gather here (no descriptors) until cf_uncork() */
	uint8_t *cork;
	size_t cork_len, cork_cap;
	bool qemu_layout; /* answer DMA in QEMU's layout, else the specification's */
	bool withhold;	  /* keep them (withheld[]) instead of answering */
	struct cf_msg withheld[8];
	int nwithheld;
	unsigned dma_served; /* DMA requests answered with data */
	unsigned dma_seen;   /* DMA requests met, answered either way */
	char dma_err[200];   /* the first wrong DMA request seen */
	/* messages read ahead of the one waited for (replies to other ids) */
	struct cf_msg stray[4];
	int nstray;
};

void cf_msg_free(struct cf_msg *m);
int cf_conn_open(struct cf_conn *c, const char *path, int timeout_ms);
void cf_conn_close(struct cf_conn *c);
/* Write bytes, with c->split in one to three pieces at random cut points,
 * the descriptors on one of them; false when the peer is gone. */
bool cf_write_split(struct cf_conn *c, const void *buf, size_t len, const int *fds, int nfds);
/* Gather writes into one (several messages coalesced), then write them. */
void cf_cork(struct cf_conn *c);
bool cf_uncork(struct cf_conn *c);
/* Build a message into out (capacity cap); returns its size. */
size_t cf_build(uint8_t *out, size_t cap, uint16_t id, uint16_t cmd, uint32_t flags,
		const void *body, size_t len);
/* Send a command; returns its id, or -1 when the peer is gone. */
int cf_send(struct cf_conn *c, uint16_t cmd, uint32_t flags, const void *body, size_t len,
	    const int *fds, int nfds);
/* Read one whole message within the timeout: 1, 0 at a close (c->closed),
 * -1 at a timeout (c->timed_out) or a broken message. */
int cf_recv(struct cf_conn *c, struct cf_msg *m, int timeout_ms);
/* Wait for the reply to id, answering (or withholding) DMA requests on the
 * way: 1 with the reply in m, 0 at a close, -1 at a timeout. */
int cf_wait(struct cf_conn *c, uint16_t id, struct cf_msg *m);
/* cf_send + cf_wait. */
int cf_call(struct cf_conn *c, uint16_t cmd, const void *body, size_t len, const int *fds, int nfds,
	    struct cf_msg *m);
/* Answer a DMA request from c->dma (layout by its size); false if it was
 * not one the tool can take as well formed (c->dma_err says why). */
bool cf_serve_dma(struct cf_conn *c, const struct cf_msg *m);
/* VERSION with the given minor and JSON (NULL: none); 1 success, 0 error
 * reply or close, -1 timeout. Fills the negotiated values. */
int cf_negotiate(struct cf_conn *c, uint16_t minor, const char *json, struct cf_msg *rep);

/* ---- peer_proc.c: the program under test ---- */

struct cf_proc {
	char **argv_tmpl; /* the command with {sock}; NULL: a running server */
	char sock[108];	  /* the socket (the server's, or the one we listen on) */
	pid_t child;	  /* spawned process, 0 if none */
	int last_status;  /* of the child that ended (waitpid) */
	bool ended;	  /* the child ended since the last look */
	int log_fd;	  /* the child's stdout and stderr */
	int timeout_ms;
	int spawns;
};

/* Start the child with {sock} replaced (server mode: wait until the socket
 * takes connections). 0 or negative errno. */
int cf_proc_start(struct cf_proc *p, bool wait_for_socket);
/* Reap the child if it ended; returns true (and fills last_status) if so. */
bool cf_proc_reap(struct cf_proc *p);
/* Wait up to ms for the child to end. */
bool cf_proc_wait_end(struct cf_proc *p, int ms);
/* SIGKILL and reap. */
void cf_proc_kill(struct cf_proc *p);
/* "killed by SIGSEGV", "exit status 1". */
const char *cf_status_str(int status, char *buf, size_t len);
bool cf_status_crash(int status);
/* Open descriptors of a process (-1 if /proc cannot tell). */
int cf_count_fds(pid_t pid);
/* The process exists and has not ended (a zombie has). */
bool cf_proc_alive(pid_t pid);
/* Resident set size in KiB (-1 if unknown). */
long cf_rss_kib(pid_t pid);
/* The process at the other end of a connected socket (0 if unknown). */
pid_t cf_peer_pid(int fd);
/* The count of descriptors of pid once it stopped changing (up to 300 ms). */
int cf_count_fds_settled(pid_t pid);

/* ---- the checks ---- */

struct cf_run;
struct cf_check {
	const char *name;
	const char *group;
	const char *spec; /* section of the specification */
	enum cf_result (*fn)(struct cf_run *r, const struct cf_check *ck);
	long arg; /* a parameter the function takes (a variant) */
};

/* A device as the probe found it. */
struct cf_dev {
	bool known;
	uint32_t flags, num_regions, num_irqs;
	struct {
		uint32_t flags;
		uint64_t size;
	} region[16];
	uint32_t irq_count[8], irq_flags[8];
	uint16_t vendor; /* from configuration space, 0xffff if unread */
};

/* --dma-kick: writes that make the device copy LEN bytes from SRC to DST. */
struct cf_kick {
	uint32_t region[8];
	uint64_t offset[8];
	char value[8][32]; /* a number, or {src}, {dst}, {len} */
	int n;
};

struct cf_run {
	struct cf_proc proc;
	bool client_mode;
	int timeout_ms;
	struct cf_dev dev;
	struct cf_kick kick;
	const char *corpus;  /* --corpus DIR */
	bool split;	     /* --split: every connection cuts its messages */
	pid_t server_pid;    /* as the socket tells (server mode) */
	bool dead;	     /* a running server stopped serving: the rest is skipped */
	bool exits_on_leave; /* a spawned server that ends when its client leaves */
	/* the result of the check being run */
	char detail[600];
	bool noted;
	bool crashed, hung;
	struct cf_conn conn; /* the check's connection (server mode) */
	int listen_fd;	     /* client mode */
	/* the client with a good server (client.baseline): its exit status and
	 * its descriptors when each request arrived (-1: not seen) */
	int baseline_status;
	bool baseline_done;
	int baseline_fds[512];
};

/* Set the check's detail (a sentence; later calls append with "; "). */
void cf_note(struct cf_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

extern const struct cf_check cf_server_checks[];
extern const size_t cf_n_server_checks;
enum cf_result cf_ck_corpus(struct cf_run *r, const struct cf_check *ck);
extern const struct cf_check cf_client_checks[];
extern const size_t cf_n_client_checks;

/* Server mode: connect the check's connection and negotiate (minor 1 and
 * max_msg_fds 16 unless json/minor given); false (with a note) if it
 * could not. */
bool cf_session(struct cf_run *r, uint16_t minor, const char *json);
/* Connect to the server, restarting a spawned one that ended cleanly. */
int cf_connect(struct cf_run *r, struct cf_conn *c);
/* A spawned server that ended: a crash is noted (once per check); it is
 * started again. false if it could not be, or has not ended. */
bool cf_restart_if_ended(struct cf_run *r);
/* A new connection negotiates and gets DEVICE_GET_INFO answered; else why. */
bool cf_still_serves(struct cf_run *r, char *why, size_t len);
/* After a connection closed: a server that ends when its client leaves is
 * waited for and started again, so the next check meets a live one. */
void cf_after_close(struct cf_run *r);
/* Learn the device (VERSION, GET_INFO, region and interrupt info). */
int cf_probe(struct cf_run *r, struct cf_dev *dev);

/* Client mode: per check, start the client, accept it. */
int cf_client_accept(struct cf_run *r, struct cf_conn *c);

#endif
