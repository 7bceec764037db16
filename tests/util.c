/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

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
