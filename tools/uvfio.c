/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio — inspect and drive any vfio-user device from the command line.
 * See docs/uvfio.1. This file: the command table, the options every command
 * shares, and the helpers the command files use (tool.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

struct tool_opts tool_opts = { .timeout_ms = 5000, .log_level = UVFIO_LOG_ERR };

extern const struct tool_cmd *const __start_uvfio_tool_cmds[];
extern const struct tool_cmd *const __stop_uvfio_tool_cmds[];

static int by_rank(const void *a, const void *b)
{
	const struct tool_cmd *x = *(const struct tool_cmd *const *)a;
	const struct tool_cmd *y = *(const struct tool_cmd *const *)b;
	return x->rank != y->rank ? (x->rank > y->rank) - (x->rank < y->rank)
				  : strcmp(x->name, y->name);
}

static void usage(FILE *f)
{
	size_t n = (size_t)(__stop_uvfio_tool_cmds - __start_uvfio_tool_cmds);
	const struct tool_cmd **cmds = malloc(n * sizeof(*cmds));
	if (!cmds)
		return;
	memcpy(cmds, __start_uvfio_tool_cmds, n * sizeof(*cmds));
	qsort(cmds, n, sizeof(*cmds), by_rank);
	fputs("Usage: uvfio [OPTIONS] COMMAND [ARGS]\n"
	      "Inspect and drive a vfio-user device.\n\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %s\n", cmds[i]->summary);
	free(cmds);
	fputs("\nREGION: bar0..bar5, rom, config, vga, or a number. TYPE: intx, msi, msix, err, req,\n"
	      "or a number.\n\n"
	      "Options of every command (before or after its name):\n"
	      "  -j, --json          machine-readable output\n"
	      "  -t, --trace         print every message header sent and received\n"
	      "  -T, --timeout MS    message timeout (default 5000)\n"
	      "      --poll-us US    polling mode: spin up to US microseconds (at most 1000)\n"
	      "                      for each reply before blocking\n"
	      "  -v, --verbose       log more (repeat for debug); after lspci, lspci's -v\n"
	      "  -h, --help          this text; COMMAND --help for one command\n\n"
	      "Exit status: 0 success, 2 usage error, 3 connection failure, 4 device error,\n"
	      "5 a program the command runs (lspci) is missing or failed.\n",
	      f);
}

static const struct tool_cmd *find_cmd(const char *name)
{
	for (const struct tool_cmd *const *c = __start_uvfio_tool_cmds; c < __stop_uvfio_tool_cmds;
	     c++)
		if (!strcmp((*c)->name, name))
			return *c;
	return NULL;
}

#define COMMON_SHORT "jtT:vh"
static const struct option common_long[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "trace", no_argument, NULL, 't' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "poll-us", required_argument, NULL, 0x200 },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
};

/* A common option: -1 to go on, or an exit status. */
static int common_opt(int ch, const char *arg, bool *help)
{
	uint64_t v;
	switch (ch) {
	case 'j': tool_opts.json = true; return -1;
	case 't': tool_opts.trace = true; return -1;
	case 'T':
		if (!tool_parse_u64(arg, &v) || v > INT32_MAX)
			return tool_fail(EXIT_USAGE, "--timeout takes milliseconds");
		tool_opts.timeout_ms = (int)v;
		return -1;
	case 0x200:
		if (!tool_parse_u64(arg, &v) || v > 1000)
			return tool_fail(EXIT_USAGE, "--poll-us takes microseconds, 0 to 1000");
		tool_opts.poll_us = (uint32_t)v;
		return -1;
	case 'v':
		tool_opts.log_level =
			tool_opts.log_level == UVFIO_LOG_ERR ? UVFIO_LOG_INFO : UVFIO_LOG_DEBUG;
		return -1;
	case 'h': *help = true; return -1;
	}
	return 0;
}

int tool_args(const struct tool_cmd *cmd, int argc, char **argv, const struct tool_argspec *spec,
	      char **pos, int *npos)
{
	char shortopts[96];
	struct option lo[48];
	size_t n = 0;
	const char *own = spec && spec->shortopts ? spec->shortopts : "";
	/* the command's own letters first: getopt takes a letter's first meaning */
	snprintf(shortopts, sizeof(shortopts), ":%s%s", own, COMMON_SHORT);
	const size_t n_common = sizeof(common_long) / sizeof(common_long[0]);
	for (size_t i = 0; i < n_common; i++)
		lo[n++] = common_long[i];
	for (const struct option *o = spec ? spec->longopts : NULL; o && o->name && n < 47; o++)
		lo[n++] = *o;
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	bool help = false;
	int r, ch;
	opterr = 0;
	optind = 0; /* glibc: start afresh */
	int li = -1;
	while ((ch = getopt_long(argc, argv, shortopts, lo, &li)) != -1) {
		/* by its long name, or by a letter the command did not take */
		bool common = li >= 0 ? (size_t)li < n_common
				      : strchr(COMMON_SHORT, ch) && !(ch < 256 && strchr(own, ch));
		li = -1;
		if (ch == '?') {
			if (optopt)
				return tool_fail(EXIT_USAGE, "unknown option -%c for %s", optopt,
						 cmd->name);
			return tool_fail(EXIT_USAGE, "unknown option %s for %s", argv[optind - 1],
					 cmd->name);
		}
		if (ch == ':')
			return tool_fail(EXIT_USAGE, "option %s of %s needs a value",
					 argv[optind - 1], cmd->name);
		if (common) {
			if ((r = common_opt(ch, optarg, &help)) >= 0)
				return r;
		} else if (spec && spec->opt && (r = spec->opt(ch, optarg, spec->ctx)) >= 0) {
			return r;
		}
	}
	if (help) {
		fputs(cmd->help, stdout);
		return 0;
	}
	*npos = 0;
	int min = spec ? spec->min_pos : 0, max = spec ? spec->max_pos : 0;
	for (int i = optind; i < argc; i++) {
		if (*npos >= max)
			return tool_fail(EXIT_USAGE, "too many arguments for %s", cmd->name);
		pos[(*npos)++] = argv[i];
	}
	if (*npos < min) {
		fputs(cmd->help, stderr);
		return tool_fail(EXIT_USAGE, "%s takes %d%s argument%s", cmd->name, min,
				 max > min ? " or more" : "", min > 1 ? "s" : "");
	}
	return -1;
}

int tool_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("uvfio: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

struct uvfio_client *tool_open_client(const char *sock, int *code)
{
	struct uvfio_client_config cfg = {
		.timeout_ms = tool_opts.timeout_ms,
		.log = { .level = tool_opts.log_level, .trace = tool_opts.trace },
		.poll_us = tool_opts.poll_us,
	};
	struct uvfio_client *c;
	int r = uvfio_client_connect(sock, &cfg, &c);
	if (r < 0) {
		*code = tool_fail(EXIT_CONNECT, "cannot connect to %s: %s", sock, uvfio_strerror(r));
		return NULL;
	}
	return c;
}

int tool_device_error(const char *what, int r)
{
	return tool_fail(r == -ECONNRESET ? EXIT_CONNECT : EXIT_DEVICE, "%s: %s", what,
			 uvfio_strerror(r));
}

void tool_print_json(json_object *j)
{
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	json_object_put(j);
}

int main(int argc, char **argv)
{
	bool help = false;
	int ch, r;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+" COMMON_SHORT, common_long, NULL)) != -1) {
		if (ch == '?') {
			usage(stderr);
			return EXIT_USAGE;
		}
		if ((r = common_opt(ch, optarg, &help)) >= 0)
			return r;
	}
	if (optind >= argc) {
		usage(help ? stdout : stderr);
		return help ? 0 : EXIT_USAGE;
	}
	const struct tool_cmd *cmd = find_cmd(argv[optind]);
	if (!cmd)
		return tool_fail(EXIT_USAGE, "unknown command \"%s\" (see uvfio --help)",
				 argv[optind]);
	if (help) {
		fputs(cmd->help, stdout);
		return 0;
	}
	return cmd->run(argc - optind, argv + optind);
}
