/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer: the VERSION capabilities JSON. Whatever the bytes, parsing
 * returns 0 or -EINVAL with a sentence, and a successful parse formats back
 * into JSON that parses to the same capabilities. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uvfio/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uvfio_caps a, b;
	char err[256];
	int r = uvfio_caps_parse((const char *)data, size, &a, err, sizeof(err));
	if (r != 0 && r != -22)
		abort();
	if (r == 0) {
		char buf[1024];
		int n = uvfio_caps_format(&a, buf, sizeof(buf));
		if (n < 0 || uvfio_caps_parse(buf, (size_t)n, &b, NULL, 0) != 0)
			abort();
		if (memcmp(&a, &b, sizeof(a)) != 0 && a.twin_fd_index == b.twin_fd_index &&
		    a.twin_socket == b.twin_socket)
			abort();
	}
	return 0;
}
