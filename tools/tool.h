/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tool.h — shared by the uvfio tool's files. Each command lives in a file of
 * its own and registers itself with TOOL_COMMAND(); uvfio.c finds it by name.
 */
#ifndef UVFIO_TOOL_H
#define UVFIO_TOOL_H

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "uvfio/client.h"

/* Exit codes */
#define EXIT_USAGE 2      /* the command line was wrong */
#define EXIT_CONNECT 3    /* no server at that socket, or negotiation failed */
#define EXIT_DEVICE 4     /* the device answered an error */

/* Options every command takes, before or after its name. */
struct tool_opts {
	bool json;
	bool trace;
	int timeout_ms;
	int log_level;
};
extern struct tool_opts tool_opts;

/*
 * One command. run() gets the arguments after the command's name (argv[0]
 * is the name itself) and returns the exit status. rank orders the commands
 * in `uvfio --help`.
 */
struct tool_cmd {
	const char *name;
	const char *summary; /* its line(s) in `uvfio --help`, without a final newline */
	const char *help;    /* `uvfio COMMAND --help` */
	int (*run)(int argc, char **argv);
	int rank;
};

/* Register a command: the linker gathers the entries of every file. */
#define TOOL_COMMAND(cmd)                                                                  \
	static const struct tool_cmd *const cmd##_entry                                    \
		__attribute__((used, section("uvfio_tool_cmds"), aligned(sizeof(void *)))) = \
			&(cmd)

/*
 * A command's own arguments. opt() receives each of its own options (what
 * getopt_long() returned and the argument) and returns -1 to go on or an
 * exit status. Positional arguments are collected in pos[] (at most max_pos,
 * at least min_pos).
 */
struct tool_argspec {
	const char *shortopts;
	const struct option *longopts; /* NULL-terminated, or NULL */
	int (*opt)(int ch, const char *arg, void *ctx);
	void *ctx;
	int min_pos, max_pos;
};
/*
 * Parse a command's arguments: the common options (-j/--json, -t/--trace,
 * -T/--timeout, -v/--verbose, -h/--help) anywhere, and the command's own.
 * Returns -1 to go on with *npos positionals in pos, or the exit status to
 * end with (0 after --help, EXIT_USAGE with a message on stderr).
 */
int tool_args(const struct tool_cmd *cmd, int argc, char **argv, const struct tool_argspec *spec,
	      char **pos, int *npos);

int tool_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool tool_parse_u64(const char *s, uint64_t *v);
/* REGION: bar0..bar5, rom, config, vga or a number; TYPE: intx, msi, msix,
 * err, req or a number. */
bool tool_parse_region(const char *s, uint32_t *idx);
bool tool_parse_irq(const char *s, uint32_t *idx);
const char *tool_region_name(uint32_t i, char *buf, size_t len);
const char *tool_irq_name(uint32_t i); /* "OTHER" past REQ */
/* Connect with the common options; on failure prints why and sets *code. */
struct uvfio_client *tool_open_client(const char *sock, int *code);
/* Report a failed library call: EXIT_CONNECT for a dead connection,
 * otherwise EXIT_DEVICE. */
int tool_device_error(const char *what, int r);
/* Print pretty JSON and release it. */
void tool_print_json(json_object *j);

/* Print config space like lspci -vvv to out, and the same facts into js.
 * bar_sizes are the six BAR region sizes (0: absent). */
void tool_decode_config(const uint8_t *cfg, size_t len, const uint64_t *bar_sizes, FILE *out,
			json_object *js);
void tool_hexdump(FILE *out, uint64_t base, const uint8_t *buf, size_t len);

#endif
