/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared by the uvfio tool's files. */
#ifndef UVFIO_TOOL_H
#define UVFIO_TOOL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes */
#define EXIT_USAGE 2      /* the command line was wrong */
#define EXIT_CONNECT 3    /* no server at that socket, or negotiation failed */
#define EXIT_DEVICE 4     /* the device answered an error */

/* Print config space like lspci -vvv to out, and the same facts into js.
 * bar_sizes are the six BAR region sizes (0: absent). */
void tool_decode_config(const uint8_t *cfg, size_t len, const uint64_t *bar_sizes, FILE *out,
			json_object *js);
void tool_hexdump(FILE *out, uint64_t base, const uint8_t *buf, size_t len);

#endif
