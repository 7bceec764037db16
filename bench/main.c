/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio-bench — uvfio's speed beside the physical limit of this machine.
 *
 * Every row is measured next to its own reference in the same run, for two
 * placements: client and server pinned to the same CPU, and to different
 * CPUs. References: a raw two-process ping-pong over a UNIX stream socket
 * with the same message sizes and no protocol logic; memcpy; the raw socket
 * streaming the same chunk sizes.
 *
 *   uvfio-bench [--quick] [--latency | --migration | --rows LIST] [--placement P]
 *               [--json | --markdown] [--svg F] [--check]
 *   uvfio-bench --server SOCKET --region N --offset OFF   (client rows only)
 *
 * This file: the options and the order of the rows; dev.c the bench device,
 * refs.c the references, rows*.c the rows, report.c the table and chart.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "migrate.h"
#include "uvfio/client.h"

bool quick;
int ncpus;

/* The groups of rows (--rows), in the order they run */
enum {
	ROWS_SYNC = 1 << 0,
	ROWS_TRACE = 1 << 1,
	ROWS_BULK = 1 << 2,
	ROWS_POSTED = 1 << 3,
	ROWS_DOORBELL = 1 << 4,
	ROWS_DMA = 1 << 5,
	ROWS_THREADS = 1 << 6,
	ROWS_DEVICES = 1 << 7,
	ROWS_MIGRATION = 1 << 8,
	ROWS_POLLING = 1 << 9,
	ROWS_NVME = 1 << 10,
};
static const char *const row_groups[] = { "sync",	"trace",   "bulk",    "posted",	  "doorbell",
					  "dma",	"threads", "devices", "migration",
					  "polling", "nvme" };
#define NGROUPS (sizeof(row_groups) / sizeof(row_groups[0]))
static unsigned rows = (1u << NGROUPS) - 1; /* all */
static unsigned places = 3; /* --placement: 1 same CPU, 2 cross */

/* The names --rows takes, from the one table, wrapped under the help's indent. */
static void print_groups(FILE *f)
{
	int col = 80;
	for (size_t i = 0; i < NGROUPS; i++) {
		int w = (int)strlen(row_groups[i]) + 1;
		if (col + w > 78) {
			fputs("\n              ", f);
			col = 14;
		}
		fprintf(f, " %s", row_groups[i]);
		col += w;
	}
	fputc('\n', f);
}

/* Parse --rows: names of row_groups separated by commas. */
static int parse_rows(const char *list)
{
	unsigned m = 0;
	char *dup = strdup(list), *save = NULL;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t i = 0;
		while (i < NGROUPS && strcmp(t, row_groups[i]))
			i++;
		if (i == NGROUPS) {
			fprintf(stderr, "uvfio-bench: no group of rows is called '%s'; the groups:", t);
			print_groups(stderr);
			free(dup);
			return -1;
		}
		m |= 1u << i;
	}
	free(dup);
	if (!m)
		return -1;
	rows = m;
	return 0;
}

/* ---- Main ---------------------------------------------------------------------------------- */

/* Posted writes + flush with a client of options cc, beside the
 * synchronous write sw. */
static void posted_option_row(int cpu_srv, const char *place, const struct uvfio_client_config *cc,
			      const char *name, struct stat_ sw, size_t np, struct goal goal)
{
	pid_t pid;
	struct uvfio_client *c = connect_bench(cpu_srv, &pid, SRV_XFER, cc);
	struct stat_ s = posted_rows(c, 0, 0, np);
	report_row(name, place, s, "sync REGION_WRITE 4 B", s.ops / sw.ops, goal);
	finish(c, pid);
}

static void run_placement(int cpu_srv, const char *place)
{
	size_t n = quick ? 200 : 20000;
	pin(0);
	pid_t pid;
	struct uvfio_client *c = connect_bench(cpu_srv, &pid, SRV_XFER, NULL);
	struct stat_ s, sw = { 0 };
	/* the posted rows are ratios to the synchronous write: it runs with them */
	if (rows & (ROWS_SYNC | ROWS_TRACE | ROWS_POSTED)) {
		s = paired(c, cpu_srv, place, "REGION_READ 4 B (sync)", 0, 0, 4, false, n,
			   GOAL_LE(1.25));
		sw = paired(c, cpu_srv, place, "REGION_WRITE 4 B (sync)", 0, 0, 4, true, n, NO_GOAL);
		if (rows & ROWS_SYNC)
			paired(c, cpu_srv, place, "REGION_READ 4 KiB (sync)", 0, 0, 4096, false, n,
			       NO_GOAL);
		if (rows & ROWS_TRACE)
			trace_row(cpu_srv, place, s, n);
	}
	if (rows & ROWS_BULK)
		bulk_rows(c, cpu_srv, place);
	if (rows & ROWS_POLLING)
		polling_rows(cpu_srv, place);
	char ref[64];
	size_t np = quick ? 1000 : 200000;
	if (rows & ROWS_POSTED) {
		s = posted_rows(c, 0, 0, np);
		report_row("posted REGION_WRITE 4 B, at once", place, s, "sync REGION_WRITE 4 B",
			   s.ops / sw.ops, NO_GOAL);
	}
	finish(c, pid);

	if (rows & ROWS_POSTED) {
		/* the send buffer, then coalescing into it: options of the client */
		struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR },
						  .timeout_ms = 30000,
						  .post_delay_us = POST_DELAY_US };
		posted_option_row(cpu_srv, place, &cc, "posted REGION_WRITE 4 B, send buffer", sw,
				  np, GOAL_GE(5));
		cc.post_delay_us = 0;
		cc.coalesce_posted = true;
		posted_option_row(cpu_srv, place, &cc, "posted REGION_WRITE 4 B, WRITE_MULTI", sw,
				  np, GOAL_GE(10));
	}

	if (rows & ROWS_DOORBELL)
		doorbell_rows(cpu_srv, place);

	if (rows & ROWS_DMA) {
		/* device DMA, in messages of the default max_data_xfer_size (1 MiB) */
		c = connect_bench(cpu_srv, &pid, 0, NULL);
		size_t dl = quick ? (1u << 20) : (32u << 20);
		int reps = quick ? 2 : 20;
		/* measured in turns with memcpy on the device's CPU, one copy
		 * each; the ratio is the median of the rounds' ratios (memory
		 * bandwidth here moves by 30 % from one period to the next,
		 * which a pair taken together shares) */
		double dms[32], ratios[32];
		for (int k = 0; k < reps; k++) {
			double mc = memcpy_gbps(cpu_srv, dl, 1);
			dms[k] = dma_gbps(c, true, dl, 1);
			ratios[k] = dms[k] / mc;
		}
		struct stat_ d = { .gbps = median_of(dms, (size_t)reps) };
		report_row("device DMA, mapped memory", place, d, "memcpy",
			   median_of(ratios, (size_t)reps), GOAL_GE(0.9));
		d.gbps = dma_gbps(c, false, dl, reps);
		double st = raw_stream_gbps(cpu_srv, UVFIO_DEFAULT_MAX_DATA_XFER_SIZE + 32,
					    dl * (size_t)reps, dl);
		snprintf(ref, sizeof(ref), "raw stream 1 MiB chunks");
		report_row("device DMA, DMA_READ messages", place, d, ref, d.gbps / st,
			   GOAL_GE(0.7));
		finish(c, pid);
	}

	if (rows & ROWS_THREADS) {
		/* threads on one connection */
		c = connect_bench(cpu_srv, &pid, SRV_XFER, NULL);
		struct stat_ one = { 0 };
		for (int t = 1; t <= 8; t *= 2) {
			s = thread_rows(c, 0, 0, t, quick ? 200 : 20000);
			if (t == 1)
				one = s;
			snprintf(ref, sizeof(ref), "%d thread%s, aggregate", t, t > 1 ? "s" : "");
			report_row(ref, place, s, "1 thread", s.ops / one.ops, NO_GOAL);
		}
		finish(c, pid);
	}
	if (rows & ROWS_DEVICES)
		many_devices(cpu_srv, place, quick ? 100 : 5000);
	if (rows & ROWS_NVME)
		nvme_rows(cpu_srv, place);
}

static int external(const char *sock, uint32_t region, uint64_t off)
{
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = UVFIO_LOG_ERR } };
	int r = uvfio_client_connect(sock, &cfg, &c);
	if (r < 0) {
		fprintf(stderr, "uvfio-bench: cannot connect to %s: %s\n", sock, uvfio_strerror(r));
		return 3;
	}
	size_t n = quick ? 200 : 20000;
	struct stat_ ref = raw_pingpong(1, 32, 36, n);
	report_row("raw ping-pong 32 B / 36 B", "ext", ref, "-", 1, NO_GOAL);
	struct stat_ s = sync_rows(c, region, off, 4, false, n);
	report_row("REGION_READ 4 B (sync)", "ext", s, "raw ping-pong", s.median / ref.median, NO_GOAL);
	struct stat_ sw = sync_rows(c, region, off, 4, true, n);
	report_row("REGION_WRITE 4 B (sync)", "ext", sw, "raw ping-pong", sw.median / ref.median, NO_GOAL);
	s = posted_rows(c, region, off, quick ? 1000 : 100000);
	report_row("posted REGION_WRITE 4 B + flush", "ext", s, "sync REGION_WRITE", s.ops / sw.ops, NO_GOAL);
	for (int t = 1; t <= 8; t *= 2) {
		struct stat_ ts = thread_rows(c, region, off, t, quick ? 200 : 10000);
		char name[64];
		snprintf(name, sizeof(name), "%d thread%s, aggregate", t, t > 1 ? "s" : "");
		report_row(name, "ext", ts, "sync, 1 thread", ts.ops / s.ops, NO_GOAL);
	}
	uvfio_client_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },        { "json", no_argument, NULL, 'j' },
		{ "server", required_argument, NULL, 's' }, { "region", required_argument, NULL, 'r' },
		{ "offset", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
		{ "latency", no_argument, NULL, 'l' },      { "markdown", no_argument, NULL, 'm' },
		{ "svg", required_argument, NULL, 'g' },    { "check", no_argument, NULL, 'c' },
		{ "migration", no_argument, NULL, 'M' },    { "rows", required_argument, NULL, 'R' },
		{ "placement", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *svg = NULL;
	uint32_t region = 0;
	uint64_t off = 0;
	enum report_format fmt = REPORT_TEXT;
	bool check = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "qjls:r:o:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'q': quick = true; break;
		case 'j': fmt = REPORT_JSON; break;
		case 'm': fmt = REPORT_MARKDOWN; break;
		case 'g': svg = optarg; break;
		case 'c': check = true; break;
		case 'l': rows = ROWS_SYNC | ROWS_TRACE; break;
		case 'M': rows = ROWS_MIGRATION; break;
		case 'P':
			places = !strcmp(optarg, "same") ? 1 : !strcmp(optarg, "cross") ? 2 : 0;
			if (!places) {
				fprintf(stderr, "uvfio-bench: --placement is same or cross\n");
				return 2;
			}
			break;
		case 'R':
			if (parse_rows(optarg) < 0)
				return 2;
			break;
		case 's': server = optarg; break;
		case 'r': region = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'o': off = strtoull(optarg, NULL, 0); break;
		case 'h':
			fputs("uvfio-bench [--quick] [--latency | --migration | --rows LIST] "
			      "[--placement P] [--json | --markdown] [--svg FILE] [--check]\n"
			      "uvfio-bench --server SOCKET [--region N] [--offset OFF]\n"
			      "  --latency    the synchronous rows only (--rows sync,trace)\n"
			      "  --migration  the migration rows only (--rows migration)\n"
			      "  --rows LIST  only these groups of rows, separated by commas (the\n"
			      "               rows' references run with them):",
			      stdout);
			print_groups(stdout);
			puts("  --placement same|cross   one placement only\n"
			     "  --markdown   the table as Markdown, at the end\n"
			     "  --svg FILE   draw every row's ratio against its limit\n"
			     "  --check      exit with 1 when a goal is missed (for people: these\n"
			     "               machines are too noisy for a CI verdict)");
			return 0;
		default: return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	find_memdev();
	find_nvme();
	bench_dev_init();
	report_start(fmt);
	int r = 0;
	if (server) {
		r = external(server, region, off);
	} else {
		if (rows & ~ROWS_MIGRATION) {
			if (places & 1)
				run_placement(0, "same");
			if (ncpus > 1 && places & 2)
				run_placement(1, "cross");
		}
		if (rows & ROWS_MIGRATION) {
			/* last: the migration tool's malloc settings (migrate.h) */
			mig_tune_process();
			if (places & 1)
				migration_rows(0, "same");
			if (ncpus > 1 && places & 2)
				migration_rows(1, "cross");
		}
	}
	int missed = report_finish(svg);
	if (missed < 0)
		return 1;
	/* The summary is for people reading the text table: --markdown and
	 * --json carry every verdict in their rows, and a line on stderr
	 * interleaved with a redirected table corrupted BENCHMARKS.md once. */
	fflush(stdout);
	if (missed && report_is_text())
		fprintf(stderr, "uvfio-bench: %d goal%s missed\n", missed, missed > 1 ? "s" : "");
	return r ? r : check && missed ? 1 : 0;
}
