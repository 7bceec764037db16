/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio migrate: move a running device's state to another device process
 * (live, with pre-copy), or save and load a snapshot. The work is in
 * migrate.c; this file is the command line, the progress line and the
 * report.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "migrate.h"
#include "tool.h"

static struct {
	struct mig_opts m;
	const char *save, *load; /* --save SRC, --load FILE: the first positional */
	bool tty;
	bool shown; /* a progress line is on the screen */
	uint64_t last_ns;
} o = { .m = { .precopy_rounds = 8, .precopy_threshold = 64 << 10 } };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *size_str(uint64_t b, char *buf, size_t len)
{
	if (b < 1024)
		snprintf(buf, len, "%" PRIu64 " B", b);
	else if (b < 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", (double)b / 1024);
	else
		snprintf(buf, len, "%.2f MiB", (double)b / (1024 * 1024));
	return buf;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double mib_s(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (1024.0 * 1024.0) / ((double)ns / 1e9) : 0;
}

/* One line, rewritten in place, at most every 50 ms and at phase changes. */
static void show_progress(void *arg, const struct mig_stats *st)
{
	(void)arg;
	static int last_phase = -1;
	uint64_t t = now_ns();
	if (!o.tty || (st->phase == last_phase && t - o.last_ns < 50000000ull))
		return;
	last_phase = st->phase;
	o.last_ns = t;
	char b[32], round[16] = "";
	const char *what = st->phase == MIG_PHASE_PRECOPY ? "pre-copy" :
			   st->phase == MIG_PHASE_STOPCOPY ? "stop-and-copy" : "done";
	if (st->phase == MIG_PHASE_PRECOPY)
		snprintf(round, sizeof(round), "round %u", st->rounds + 1);
	printf("\r%-14s %-9s %12s moved  %8.1f MiB/s ", what, round,
	       size_str(st->bytes, b, sizeof(b)), mib_s(st->bytes, st->total_ns));
	fflush(stdout);
	o.shown = true;
}

static void end_progress(void)
{
	if (o.shown)
		putchar('\n');
	o.shown = false;
}

static void report(const char *src, const char *dst, const struct mig_stats *st, bool live)
{
	char a[32], b[32];
	if (tool_opts.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "source", json_object_new_string(src));
		json_object_object_add(j, "destination", json_object_new_string(dst));
		json_object_object_add(j, "stream_bytes", json_object_new_uint64(st->bytes));
		json_object_object_add(j, "precopy_bytes", json_object_new_uint64(st->precopy_bytes));
		json_object_object_add(j, "stopcopy_bytes",
				       json_object_new_uint64(st->stopcopy_bytes));
		json_object *r = json_object_new_array();
		for (unsigned i = 0; i < st->rounds; i++)
			json_object_array_add(r, json_object_new_uint64(st->round_bytes[i]));
		json_object_object_add(j, "precopy_rounds", r);
		json_object_object_add(j, "chunk_bytes", json_object_new_uint64(st->chunk));
		json_object_object_add(j, "total_ms", json_object_new_double(ms(st->total_ns)));
		json_object_object_add(j, "data_ms", json_object_new_double(ms(st->data_ns)));
		if (live)
			json_object_object_add(j, "downtime_ms",
					       json_object_new_double(ms(st->downtime_ns)));
		else
			json_object_object_add(j, "stopped_ms",
					       json_object_new_double(ms(st->downtime_ns)));
		tool_print_json(j);
		return;
	}
	printf("%s %s to %s\n", live ? "migrated" : o.save ? "saved" : "loaded", src, dst);
	printf("  stream     %s in %.2f ms (%.0f MiB/s moving data, chunks of %s)\n",
	       size_str(st->bytes, a, sizeof(a)), ms(st->total_ns), mib_s(st->bytes, st->data_ns),
	       size_str(st->chunk, b, sizeof(b)));
	if (st->rounds) {
		printf("  pre-copy   %u round%s:", st->rounds, st->rounds > 1 ? "s" : "");
		for (unsigned i = 0; i < st->rounds; i++)
			printf("%s %s", i ? "," : "", size_str(st->round_bytes[i], a, sizeof(a)));
		printf(" (while the device ran)\n");
	}
	printf("  stop-copy  %s\n", size_str(st->stopcopy_bytes, a, sizeof(a)));
	if (live && st->downtime_ns)
		printf("  downtime   %.3f ms (source out of RUNNING until the destination ran)\n",
		       ms(st->downtime_ns));
	else if (live)
		printf("  the source was stopped: no downtime, the destination is left in STOP\n");
	else if (!live && o.save && st->downtime_ns)
		printf("  stopped    %.3f ms (the device ran again afterwards)\n",
		       ms(st->downtime_ns));
}

static int migrate_opt(int ch, const char *arg, void *ctx)
{
	(void)ctx;
	uint64_t v;
	switch (ch) {
	case 'R':
		if (!tool_parse_u64(arg, &v) || v > MIG_MAX_ROUNDS)
			return tool_fail(EXIT_USAGE, "--precopy-rounds takes 0 to %d", MIG_MAX_ROUNDS);
		o.m.precopy_rounds = (unsigned)v;
		return -1;
	case 'H':
		if (!tool_parse_u64(arg, &v))
			return tool_fail(EXIT_USAGE, "--precopy-threshold takes bytes");
		o.m.precopy_threshold = v;
		return -1;
	case 'C':
		if (!tool_parse_u64(arg, &v) || v < 4096 || v > UVFIO_DEFAULT_MAX_DATA_XFER_SIZE)
			return tool_fail(EXIT_USAGE, "--chunk takes 4096 to %u bytes",
					 UVFIO_DEFAULT_MAX_DATA_XFER_SIZE);
		o.m.chunk = (uint32_t)v;
		return -1;
	case 'S': o.save = "save"; return -1;
	case 'L': o.load = "load"; return -1;
	}
	return EXIT_USAGE;
}

static const struct option migrate_long[] = {
	{ "precopy-rounds", required_argument, NULL, 'R' },
	{ "precopy-threshold", required_argument, NULL, 'H' },
	{ "chunk", required_argument, NULL, 'C' },
	{ "save", no_argument, NULL, 'S' },
	{ "load", no_argument, NULL, 'L' },
	{ NULL, 0, NULL, 0 },
};

static const struct tool_cmd migrate_cmd;

static int run_migrate(int argc, char **argv)
{
	char *pos[2];
	int npos, code;
	struct tool_argspec spec = { .longopts = migrate_long, .opt = migrate_opt,
				     .min_pos = 2, .max_pos = 2 };
	if ((code = tool_args(&migrate_cmd, argc, argv, &spec, pos, &npos)) >= 0)
		return code;
	if (o.save && o.load)
		return tool_fail(EXIT_USAGE, "migrate takes --save or --load, not both");
	if (!strcmp(pos[0], pos[1]))
		return tool_fail(EXIT_USAGE, "migrate needs two different devices (a server "
				 "serves one client at a time)");
	o.tty = !tool_opts.json && isatty(STDOUT_FILENO);
	mig_tune_process();
	o.m.progress = show_progress;
	struct mig_stats st;
	char err[512];
	int r, fd = -1;
	struct uvfio_client *src = NULL, *dst = NULL;
	if (o.load) {
		if ((fd = open(pos[0], O_RDONLY | O_CLOEXEC)) < 0)
			return tool_fail(EXIT_USAGE, "cannot open %s: %s", pos[0], strerror(errno));
	} else if (!(src = tool_open_client(pos[0], &code))) {
		return code;
	}
	if (o.save) {
		fd = open(pos[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			uvfio_client_close(src);
			return tool_fail(EXIT_USAGE, "cannot create %s: %s", pos[1], strerror(errno));
		}
	} else if (!(dst = tool_open_client(pos[1], &code))) {
		uvfio_client_close(src);
		if (fd >= 0)
			close(fd);
		return code;
	}
	if (o.save)
		r = mig_save(src, fd, &o.m, &st, err, sizeof(err));
	else if (o.load)
		r = mig_load(fd, dst, &o.m, &st, err, sizeof(err));
	else
		r = mig_live(src, dst, &o.m, &st, err, sizeof(err));
	end_progress();
	uvfio_client_close(src);
	uvfio_client_close(dst);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		if (o.save)
			unlink(pos[1]);
		return tool_fail(r == -ECONNRESET ? EXIT_CONNECT : EXIT_DEVICE, "%s failed: %s",
				 o.save ? "saving" : o.load ? "loading" : "migration", err);
	}
	report(pos[0], pos[1], &st, !o.save && !o.load);
	return 0;
}

static const struct tool_cmd migrate_cmd = {
	.name = "migrate",
	.summary = "migrate SRC DST                   move a running device's state to another device\n"
		   "  migrate --save SRC FILE | --load FILE DST   snapshot a device, restore it",
	.help = "uvfio migrate [--precopy-rounds N] [--precopy-threshold BYTES] SRC DST\n"
		"uvfio migrate --save SRC FILE\n"
		"uvfio migrate --load FILE DST\n"
		"  Live migration: check that SRC and DST are the same kind of device, put DST in\n"
		"  RESUMING, copy SRC's state while it runs (PRE_COPY rounds, while each round\n"
		"  moves more than the threshold), stop it (STOP_COPY), copy the rest, and start\n"
		"  DST (STOP, then RUNNING). Reports the stream size, the time and the downtime\n"
		"  (SRC out of RUNNING until DST runs). On failure SRC runs again.\n"
		"  vfio-user has no VFIO_MIG_GET_PRECOPY_INFO: a round is what the source\n"
		"  gives until a short MIG_DATA_READ.\n"
		"  --precopy-rounds N       at most N pre-copy rounds (default 8; 0: none)\n"
		"  --precopy-threshold B    stop pre-copy after a round of at most B bytes\n"
		"                           (default 65536)\n"
		"  --chunk B                bytes per MIG_DATA_READ/WRITE (default 1048576,\n"
		"                           or less if a server accepts less)\n"
		"  --save                   write SRC's state to FILE (SRC stops meanwhile)\n"
		"  --load                   load FILE into DST, which then runs\n",
	.run = run_migrate,
	.rank = 80,
};
TOOL_COMMAND(migrate_cmd);
