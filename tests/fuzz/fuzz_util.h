/* SPDX-License-Identifier: BSD-3-Clause */
/* What the fuzz harnesses share (they do not link the cmocka test helpers). */
#ifndef UVFIO_FUZZ_UTIL_H
#define UVFIO_FUZZ_UTIL_H

#include <dirent.h>

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

#endif
