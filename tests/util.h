/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the tests. */
#ifndef UVFIO_TEST_UTIL_H
#define UVFIO_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <setjmp.h>
#include <cmocka.h>

/* Decode hex into a new buffer; returns its length. */
size_t tu_unhex(const char *hex, uint8_t **out);
/* Load one vector file (a JSON array, or an object with "messages"); returns
 * a json_object the caller puts. */
struct json_object *tu_load_vectors(const char *name);
/* Number of open descriptors of this process. */
int tu_count_fds(void);
/* A new eventfd (for descriptor passing tests). */
int tu_eventfd(void);
/* Fill b with bytes that depend on their position and seed. */
void tu_pattern(uint8_t *b, size_t len, uint32_t seed);
/* Everything left in f, NUL-terminated (malloc'ed); f is not closed. */
char *tu_read_all(FILE *f);
/* Run a command; returns its standard output (malloc'ed), and its exit
 * status in *status when not NULL. */
char *tu_run(const char *cmd, int *status);
/* Compare text with tests/golden/NAME; UVFIO_UPDATE_GOLDEN=1 rewrites the file
 * first (refused, failing, when CI is set: CI always compares). */
void tu_golden(const char *name, const char *text);

/* A sample device (build/uvfio-memdev ...) serving a fresh socket. */
struct tu_dev {
	int pid;
	char sock[108];
};
/* Start build_root/prog on a new socket (with extra options, separated by
 * spaces, or NULL) and wait until it listens. */
void tu_dev_start(struct tu_dev *d, const char *build_root, const char *prog, const char *extra);
/* SIGTERM: the device must exit with 0 and remove its socket. */
void tu_dev_stop(struct tu_dev *d);
/* A cmocka teardown: kill the devices a failed test left running. */
int tu_dev_teardown(void **state);

#endif
