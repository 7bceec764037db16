/* SPDX-License-Identifier: BSD-3-Clause */
/* What the fuzz harnesses share (they do not link the cmocka test helpers). */
#ifndef UVFIO_FUZZ_UTIL_H
#define UVFIO_FUZZ_UTIL_H

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uvfio/protocol.h"

/* Open descriptors of this process (plus one for the directory itself). */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Write a VERSION 0.1 message (command or reply, by flags) with this JSON. */
static inline void write_version(int fd, uint16_t id, uint32_t flags, const char *json)
{
	size_t jl = strlen(json) + 1;
	uint8_t v[16 + 4 + 256];
	struct uvfio_hdr h = { .msg_id = id, .cmd = UVFIO_CMD_VERSION,
			       .msg_size = (uint32_t)(20 + jl), .flags = flags };
	struct uvfio_version ver = { 0, 1 };
	if (jl > 256)
		abort();
	memcpy(v, &h, 16);
	memcpy(v + 16, &ver, 4);
	memcpy(v + 20, json, jl);
	if (write(fd, v, h.msg_size) != (ssize_t)h.msg_size)
		abort();
}

#endif
