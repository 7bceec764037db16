/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio lspci: the text the system's lspci prints for this device as a guest
 * would see it (lspci_run.c says how). The command's own -v, -n, -x and -m
 * are lspci's, and take precedence over the tool's common -v (which still
 * works before the command's name, and as --verbose).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

struct lspci_opts {
	int v, n, x, m;
};

static int lspci_opt(int ch, const char *arg, void *ctx)
{
	struct lspci_opts *o = ctx;
	(void)arg;
	int *count = ch == 'v' ? &o->v : ch == 'n' ? &o->n : ch == 'x' ? &o->x : &o->m;
	int max = ch == 'v' ? 3 : ch == 'n' ? 2 : ch == 'x' ? 4 : 2;
	if (++*count > max)
		return tool_fail(EXIT_USAGE, "lspci takes -%c at most %d times", ch, max);
	return -1;
}

/* An lspci option repeated: "-vvv". */
static const char *repeat(char *buf, char ch, int count)
{
	buf[0] = '-';
	memset(buf + 1, ch, (size_t)count);
	buf[count + 1] = 0;
	return buf;
}

static const struct tool_cmd lspci_cmd;

static int run_lspci(int argc, char **argv)
{
	struct lspci_opts o = { 0 };
	char *pos[1];
	int npos, code;
	struct tool_argspec spec = { .shortopts = "vnxm", .opt = lspci_opt, .ctx = &o,
				     .min_pos = 1, .max_pos = 1 };
	if ((code = tool_args(&lspci_cmd, argc, argv, &spec, pos, &npos)) >= 0)
		return code;
	if (tool_opts.json)
		return tool_fail(EXIT_USAGE, "lspci prints text; for machine-readable output "
					     "use -vmm");
	struct uvfio_client *c = tool_open_client(pos[0], &code);
	if (!c)
		return code;
	struct uvfio_device_info di;
	uint64_t sizes[TOOL_NR_BAR_SIZES] = { 0 }, cfg_size = 256;
	int r = uvfio_client_device_info(c, &di);
	for (uint32_t i = 0; r == 0 && i < di.num_regions && i <= VFIO_PCI_CONFIG_REGION_INDEX;
	     i++) {
		struct uvfio_region_info ri;
		if ((r = uvfio_client_region_info(c, i, &ri)) < 0)
			break;
		if (i < TOOL_NR_BAR_SIZES)
			sizes[i] = ri.size;
		else
			cfg_size = ri.size;
		uvfio_region_info_release(&ri);
	}
	uint8_t cfg[4096];
	size_t len = cfg_size < sizeof(cfg) ? (size_t)cfg_size : sizeof(cfg);
	if (r == 0)
		r = uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, 0, cfg, len);
	uvfio_client_close(c);
	if (r < 0)
		return tool_device_error("reading the configuration space and region sizes", r);
	if (len < 64)
		return tool_fail(EXIT_DEVICE, "the configuration space has only %zu bytes; lspci "
					      "needs the 64 of a header",
				 len);
	char bv[8], bn[8], bx[8], bm[8];
	const char *args[5];
	size_t na = 0;
	if (o.v)
		args[na++] = repeat(bv, 'v', o.v);
	if (o.n)
		args[na++] = repeat(bn, 'n', o.n);
	if (o.x)
		args[na++] = repeat(bx, 'x', o.x);
	if (o.m)
		args[na++] = repeat(bm, 'm', o.m);
	args[na] = NULL;
	char err[256];
	fflush(stdout);
	int st = tool_lspci_run(cfg, len, sizes, args, STDOUT_FILENO, err, sizeof(err));
	if (st < 0)
		return tool_fail(EXIT_PROGRAM, "%s", err);
	if (st)
		return tool_fail(EXIT_PROGRAM, "lspci failed (exit status %d)", st);
	return 0;
}

static const struct tool_cmd lspci_cmd = {
	.name = "lspci",
	.summary = "lspci SOCKET [-v|-vv|-vvv] [-nn]  the system's lspci decoding the device",
	.help = "uvfio lspci [-v|-vv|-vvv] [-n|-nn] [-x|-xxx|-xxxx] [-m|-mm] SOCKET\n"
		"  What the system's lspci prints for this device as a guest sees it: its\n"
		"  configuration space and region sizes shown to lspci as a kernel shows a\n"
		"  real device (addresses are the ones in the device's BARs, unassigned\n"
		"  until a guest assigns them). -v, -n, -x and -m are lspci's options; the\n"
		"  tool's own verbosity is --verbose or -v before the command. Needs\n"
		"  pciutils; UVFIO_PCI_IDS names the pci.ids file to use.\n",
	.run = run_lspci,
	.rank = 15,
};
TOOL_COMMAND(lspci_cmd);
