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
#define EXIT_PROGRAM 5    /* a program the command runs is missing or failed */

/* Options every command takes, before or after its name. */
struct tool_opts {
	bool json;
	bool trace;
	int timeout_ms;
	int log_level;
	uint32_t poll_us; /* --poll-us */
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
 * A short option the command declares itself is the command's (lspci's -v),
 * the common one then being reached by its long name.
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

/* ---- configuration space (pci_decode.c, pci_names.c, lspci_run.c) ---- */

/* Region sizes of the BARs and the ROM: [0..5] BAR0-BAR5, [6] ROM (0: none). */
#define TOOL_NR_BAR_SIZES 7

/* The sample DMA engine (devices/dma_engine.c), whose registers dma-test and
 * dirty-test program; its vendor id is registered to no company
 * (devices/README.md). */
#define TOOL_ENGINE_VENDOR 0xf1f0
#define TOOL_ENGINE_DEVICE 0xd0a0

/*
 * Print the configuration space as `lspci -vvv` prints those of its lines
 * this decoder knows (each exactly as lspci would, for a device whose BARs
 * have these sizes), and the same facts into js.
 */
void tool_decode_config(const uint8_t *cfg, size_t len, const uint64_t *sizes, FILE *out,
			json_object *js);

/* A BAR (0-5) or the ROM (6) as the Linux kernel reports it in sysfs. */
struct tool_resource {
	uint64_t start, size, flags; /* flags: IORESOURCE_* and the BAR's low bits */
};
void tool_bar_resource(const uint8_t *cfg, size_t len, unsigned i, uint64_t size,
		       struct tool_resource *res);

/* A device's ids and the names pci.ids gives them (NULL: not listed). */
struct tool_pci_ids {
	int vendor, device, subsys_vendor, subsys_device; /* subsystem: -1 if none */
	int base_class, sub_class, prog_if, revision;
	char *vendor_name, *device_name, *subsys_vendor_name, *subsys_name, *gen_subsys_name,
		*class_name, *subclass_name, *progif_name;
};
/* The ids, from where the kernel reads them for the header type. */
void tool_pci_ids_from_config(const uint8_t *cfg, size_t len, struct tool_pci_ids *ids);
/*
 * The pci.ids used: $UVFIO_PCI_IDS when set (even if missing: then no
 * names), else the first of the distributions' places; NULL if none.
 */
const char *tool_pci_ids_path(void);
/* Fill in the names; a missing file leaves them NULL. */
void tool_pci_ids_lookup(struct tool_pci_ids *ids);
void tool_pci_ids_free(struct tool_pci_ids *ids);
/* The names as lspci prints them, unknown ids spelled as lspci does. */
const char *tool_pci_class_str(const struct tool_pci_ids *ids, char *buf, size_t len);
const char *tool_pci_device_str(const struct tool_pci_ids *ids, char *buf, size_t len);
const char *tool_pci_subsys_str(const struct tool_pci_ids *ids, char *buf, size_t len);
/* NULL when lspci prints no name for the programming interface. */
const char *tool_pci_progif_str(const struct tool_pci_ids *ids, char *buf, size_t len);

/*
 * Run the system's lspci on one device: its configuration space and region
 * sizes presented in a private sysfs tree, as a guest's kernel presents
 * them (see lspci_run.c). args: lspci's options, NULL-terminated; its
 * output goes to out_fd. Returns lspci's exit status, or -1 with a sentence
 * in err (lspci missing: which package to install).
 */
int tool_lspci_run(const uint8_t *cfg, size_t len, const uint64_t *sizes,
		   const char *const *args, int out_fd, char *err, size_t errlen);

void tool_hexdump(FILE *out, uint64_t base, const uint8_t *buf, size_t len);
/* buf as lowercase hex digits into out (room for 2 * len + 1); returns out. */
char *tool_hex(char *out, const uint8_t *buf, size_t len);

#endif
