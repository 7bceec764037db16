/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

size_t tu_unhex(const char *hex, uint8_t **out)
{
	size_t n = strlen(hex) / 2;
	uint8_t *b = malloc(n ? n : 1);
	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		b[i] = (uint8_t)v;
	}
	*out = b;
	return n;
}

struct json_object *tu_load_vectors(const char *name)
{
	const char *dir = getenv("UVFIO_VECTORS");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "../shared/vectors", name);
	struct json_object *o = json_object_from_file(path);
	if (!o)
		fail_msg("cannot load vectors %s", path);
	return o;
}

int tu_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

int tu_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

char *tu_read_all(FILE *f)
{
	char *buf = NULL;
	size_t cap = 0;
	FILE *m = open_memstream(&buf, &cap);
	assert_non_null(m);
	char b[65536];
	size_t n;
	while ((n = fread(b, 1, sizeof(b), f)) > 0)
		fwrite(b, 1, n, m);
	fclose(m);
	return buf;
}

char *tu_run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char *out = tu_read_all(p);
	int st = pclose(p);
	if (status)
		*status = st;
	return out;
}

void tu_golden(const char *name, const char *text)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests/golden/%s", UVFIO_SOURCE_ROOT, name);
	if (getenv("UVFIO_UPDATE_GOLDEN")) {
		if (getenv("CI"))
			fail_msg("UVFIO_UPDATE_GOLDEN is refused in CI: golden files change by hand");
		FILE *f = fopen(path, "w");
		if (!f)
			fail_msg("cannot write %s", path);
		fputs(text, f);
		fclose(f);
	}
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("no golden file %s (UVFIO_UPDATE_GOLDEN=1 writes it)", path);
	char *want = tu_read_all(f);
	fclose(f);
	if (strcmp(want, text)) {
		size_t i = 0, line = 1;
		for (; want[i] && want[i] == text[i]; i++)
			line += want[i] == '\n';
		free(want);
		fail_msg("%s differs from its golden file from line %zu; got:\n%.2000s", name, line,
			 text + (i > 200 ? i - 200 : 0));
	}
	free(want);
}

extern char **environ;

/* Copies of the devices started and not yet stopped (pid 0: free), for
 * tu_dev_teardown(). */
static struct tu_dev live[64];

static void forget(int pid)
{
	for (unsigned i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i].pid == pid)
			live[i].pid = 0;
}

int tu_dev_teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (!live[i].pid)
			continue;
		kill(live[i].pid, SIGKILL);
		waitpid(live[i].pid, NULL, 0);
		unlink(live[i].sock);
		live[i].pid = 0;
	}
	return 0;
}

/* uvfio_server_listen() makes the path appear only once the socket
 * listens (test_device_api's test_listen_path checks it): a client may
 * connect as soon as the file exists. */
static bool listening(const char *path)
{
	return access(path, F_OK) == 0;
}

static void kill_leftovers(void)
{
	tu_dev_teardown(NULL);
}

void tu_dev_start(struct tu_dev *d, const char *build_root, const char *prog, const char *extra)
{
	static int seq;
	/* A test program that ends early (a failed assertion outside a
	 * teardown, exit()) leaves no device behind holding its pipes. */
	if (!seq)
		atexit(kill_leftovers);
	snprintf(d->sock, sizeof(d->sock), "/tmp/uvfio-dev-%d-%d.sock", getpid(), seq++);
	unlink(d->sock);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", build_root, prog);
	/* extra: options separated by spaces */
	char opts[512], *save = NULL;
	snprintf(opts, sizeof(opts), "%s", extra ? extra : "");
	char *argv[16] = { path, "--quiet", d->sock };
	int argc = 3;
	for (char *t = strtok_r(opts, " ", &save); t && argc < 15; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	pid_t pid;
	assert_int_equal(posix_spawn(&pid, path, NULL, NULL, argv, environ), 0);
	d->pid = pid;
	for (unsigned i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (!live[i].pid) {
			live[i] = *d;
			break;
		}
	for (int i = 0; i < 500 && !listening(d->sock); i++)
		usleep(10000);
	assert_true(listening(d->sock));
}

void tu_dev_stop(struct tu_dev *d)
{
	forget(d->pid);
	kill(d->pid, SIGTERM);
	int st;
	assert_int_equal(waitpid(d->pid, &st, 0), d->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	struct stat sb;
	assert_int_equal(stat(d->sock, &sb), -1);
}

void tu_pattern(uint8_t *b, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
}
