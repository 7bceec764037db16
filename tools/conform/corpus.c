/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * corpus.replay (--corpus DIR): every file of a fuzz corpus in the format of
 * uvfio's tests/fuzz/fuzz_server.c, sent to the server under test on a
 * connection of its own. The first byte says how: bit 0 clear, a VERSION
 * goes first; bit 1 set, two eventfds ride with the bytes. Then the write
 * side is shut, the replies drained until the server closes. After each
 * file the server must be alive, still serve, and hold no more descriptors
 * than before; the failure names the file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

#define CORPUS_MAX_INPUT 60000 /* as the fuzzer's harness */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The input's bytes (malloc'ed) and its size, or NULL. */
static uint8_t *load(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	uint8_t *b = NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 1 &&
	    st.st_size <= CORPUS_MAX_INPUT && (b = malloc((size_t)st.st_size)) &&
	    read(fd, b, (size_t)st.st_size) == st.st_size) {
		*len = (size_t)st.st_size;
	} else {
		free(b);
		b = NULL;
	}
	close(fd);
	return b;
}

/* Send one input and drain until the server closes: false at a timeout. */
static bool replay(struct cf_run *r, const uint8_t *data, size_t len)
{
	struct cf_conn *c = &r->conn;
	if (cf_connect(r, c) < 0)
		return true; /* the server's state is the runner's to judge */
	uint8_t mode = data[0];
	if (!(mode & 1)) {
		static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
		uint8_t v[64] = {0, 0, 1, 0};
		memcpy(v + 4, json, sizeof(json));
		uint8_t msg[96];
		size_t n = cf_build(msg, sizeof(msg), 0, UVFIO_CMD_VERSION, 0, v, 4 + sizeof(json));
		cf_write_split(c, msg, n, NULL, 0);
	}
	int efd[2] = {-1, -1};
	if (mode & 2) {
		efd[0] = eventfd(0, EFD_CLOEXEC);
		efd[1] = eventfd(0, EFD_CLOEXEC);
	}
	if (len > 1)
		cf_write_split(c, data + 1, len - 1, mode & 2 ? efd : NULL, mode & 2 ? 2 : 0);
	for (int i = 0; i < 2; i++)
		if (efd[i] >= 0)
			close(efd[i]);
	shutdown(c->fd, SHUT_WR); /* the input ends: the server must notice */
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct cf_msg m;
		int w = cf_recv(c, &m, 50);
		if (w > 0) {
			cf_msg_free(&m);
			continue;
		}
		if (w == 0 || w == -2)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >
		    r->timeout_ms) {
			cf_conn_close(c);
			return false;
		}
	}
	cf_conn_close(c);
	return true;
}

enum cf_result cf_ck_corpus(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!r->corpus) {
		cf_note(r, "no corpus given (--corpus DIR, e.g. uvfio's tests/fuzz/corpus/server)");
		return CF_SKIP;
	}
	DIR *d = opendir(r->corpus);
	if (!d) {
		cf_note(r, "cannot read %s: %s", r->corpus, strerror(errno));
		return CF_FAIL;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	enum cf_result res = CF_PASS;
	size_t replayed = 0;
	for (size_t i = 0; i < n && res == CF_PASS; i++) {
		size_t len;
		uint8_t *data = load(r->corpus, names[i], &len);
		if (!data)
			continue;
		pid_t pid = r->server_pid;
		int before = pid ? cf_count_fds(pid) : -1;
		bool drained = replay(r, data, len);
		free(data);
		replayed++;
		cf_after_close(r);
		char why[160];
		if (!drained) {
			r->hung = true;
			cf_note(r,
				"hang: the server did not close within %d ms after input %s ended",
				r->timeout_ms, names[i]);
			res = CF_FAIL;
		} else if (r->proc.child && cf_proc_wait_end(&r->proc, 0) &&
			   cf_status_crash(r->proc.last_status)) {
			cf_restart_if_ended(r); /* notes the crash */
			cf_note(r, "after input %s", names[i]);
			res = CF_FAIL;
		} else if (!cf_still_serves(r, why, sizeof(why))) {
			if (!r->crashed)
				cf_note(r, "the server no longer serves after input %s: %s",
					names[i], why);
			else
				cf_note(r, "after input %s", names[i]);
			res = CF_FAIL;
		} else if (before >= 0 && r->server_pid == pid) {
			int after = cf_count_fds(pid);
			for (int k = 0; k < 30 && after > before; k++) {
				usleep(10000);
				after = cf_count_fds(pid);
			}
			if (after > before) {
				cf_note(r,
					"descriptor leak: %d descriptors before input %s, %d after",
					before, names[i], after);
				res = CF_FAIL;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (res == CF_PASS)
		cf_note(r, "%zu inputs of %s", replayed, r->corpus);
	return res;
}
