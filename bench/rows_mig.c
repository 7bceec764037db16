/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rows_mig.c — migration rows: uvfio-memdev migrated back and forth between
 * two processes by tools/migrate/migrate.c (what `uvfio migrate` runs), its stream
 * beside a raw stream and a raw relay, and the downtime with and without
 * pre-copy.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "migrate.h"
#include "uvfio/client.h"

static char memdev_path[4096]; /* empty: the program is not beside this one */

void find_memdev(void)
{
	bench_sibling(memdev_path, sizeof(memdev_path), "uvfio-memdev");
}

/* A memdev process with ram bytes of RAM on cpu serving the client returned
 * (it exits when the client leaves). */
static struct uvfio_client *spawn_memdev(int cpu, size_t ram, pid_t *pid)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		exit(1);
	fcntl(sv[0], F_SETFD, FD_CLOEXEC);
	*pid = fork();
	if (!*pid) {
		pin(cpu);
		close(sv[0]);
		char fdarg[32], ramarg[48];
		snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[1]);
		snprintf(ramarg, sizeof(ramarg), "--ram-size=%zu", ram);
		execl(memdev_path, memdev_path, "--quiet", fdarg, ramarg, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	struct uvfio_client_config cfg = { .log = { .level = UVFIO_LOG_ERR }, .timeout_ms = 30000 };
	struct uvfio_client *c;
	if (uvfio_client_adopt(sv[0], &cfg, &c) < 0) {
		fprintf(stderr, "uvfio-bench: cannot start %s\n", memdev_path);
		exit(1);
	}
	return c;
}

struct dirtier {
	uint8_t *buf;
	size_t len;
	uint8_t val;
};

/* After the one pre-copy round: change len bytes of RAM (new contents each
 * time, or the device would find them unchanged). */
static int dirty_ram(void *arg, struct uvfio_client *src, unsigned round, uint64_t bytes)
{
	(void)round, (void)bytes;
	struct dirtier *d = arg;
	if (!d->len)
		return 0;
	memset(d->buf, ++d->val, d->len);
	return uvfio_client_region_write(src, 2, 0, d->buf, d->len);
}


/* n migrations back and forth between the two devices (c[0] holds the
 * device at the start and the end when n is even); downtimes into down. */
static void migrate_n(struct uvfio_client **c, const struct mig_opts *o, size_t n, uint64_t *down,
		      struct mig_stats *last, uint64_t *bytes, uint64_t *data_ns)
{
	for (size_t i = 0; i < n; i++) {
		char err[512];
		if (mig_live(c[i % 2], c[(i + 1) % 2], o, last, err, sizeof(err)) < 0) {
			fprintf(stderr, "uvfio-bench: migration failed: %s\n", err);
			exit(1);
		}
		down[i] = last->downtime_ns;
		*bytes += last->bytes;
		*data_ns += last->data_ns;
	}
}

static void close_pair(struct uvfio_client **c, pid_t *pid)
{
	for (int i = 0; i < 2; i++) {
		uvfio_client_close(c[i]);
		waitpid(pid[i], NULL, 0);
	}
}

/*
 * The stream's throughput for a memdev with ram bytes of RAM migrated back
 * and forth per x TURNS times, beside a raw stream and a raw relay of the
 * same size measured between the turns; the stop-and-copy downtimes go into
 * down (per x TURNS of them) and their summary into base. A 1 MiB migration
 * carries what every migration costs whatever its size (the state changes,
 * the first MIG_DATA_READ, the relay's set-up), and its bytes may stay in a
 * core's 2 MiB L2 on one machine and not on another; with 64 MiB the
 * stream itself is measured: its passes over the data in user space (the
 * source's read and checksum, the tool's relay, the destination's check and
 * copy) against the raw stream's none.
 */
static void stream_rows(struct uvfio_client **c, int cpu_srv, const char *place, size_t ram,
			size_t per, uint64_t *down, struct stat_ *base, struct goal goal)
{
	enum { TURNS = 5 };
	uint64_t bytes = 0, data_ns = 0, tm = 0;
	struct mig_opts o = { 0 }; /* stop-and-copy only */
	struct mig_stats st;
	double raw = 0, relay = 0;
	for (int k = 0; k < TURNS; k++) {
		uint64_t t = now_ns();
		migrate_n(c, &o, per, down + k * per, &st, &bytes, &data_ns);
		tm += now_ns() - t;
		raw += raw_stream_gbps(cpu_srv, st.chunk, st.bytes, st.bytes) / TURNS;
		relay += raw_relay_gbps(cpu_srv, st.chunk, st.bytes) / TURNS;
	}
	*base = summarize(down, per * TURNS, tm);
	struct stat_ s = { .gbps = (double)bytes / (double)data_ns };
	char name[64], what[64];
	snprintf(name, sizeof(name), "raw stream %.0f KiB, 1 hop", (double)st.bytes / 1024);
	report_row(name, place, (struct stat_){ .gbps = raw }, "-", 1, NO_GOAL);
	snprintf(name, sizeof(name), "raw relay %.0f KiB, 2 hops", (double)st.bytes / 1024);
	report_row(name, place, (struct stat_){ .gbps = relay }, "raw stream, 1 hop", relay / raw,
		   NO_GOAL);
	snprintf(what, sizeof(what), "migration stream, memdev %zu MiB RAM", ram >> 20);
	report_row(what, place, s, "raw stream, 1 hop", s.gbps / raw, goal);
	report_row(what, place, s, "raw relay, 2 hops", s.gbps / relay, NO_GOAL);
}

/*
 * Migration of uvfio-memdev between two processes on cpu_srv, driven from
 * this one: the stream's throughput with 1 MiB and with 64 MiB of RAM beside
 * a raw stream and a raw relay of the same size (measured in turns), and,
 * with 1 MiB, the downtime with everything stopped and copied against the
 * downtime after pre-copy with a given amount of RAM changed before the
 * stop.
 */
void migration_rows(int cpu_srv, const char *place)
{
	if (!memdev_path[0]) {
		fprintf(stderr, "uvfio-bench: migration rows skipped: no uvfio-memdev beside it\n");
		return;
	}
	pin(0);
	pid_t pid[2];
	struct uvfio_client *c[2];
	size_t per = quick ? 2 : 40, n = per * 5;
	uint64_t *down = malloc(n * sizeof(*down)), bytes = 0, data_ns = 0;
	struct stat_ base;
	/* 64 MiB first, so that its devices are gone before the 1 MiB ones */
	for (int i = 0; i < 2; i++)
		c[i] = spawn_memdev(cpu_srv, 64u << 20, &pid[i]);
	stream_rows(c, cpu_srv, place, 64u << 20, quick ? 1 : 4, down, &base, GOAL_GE(0.7));
	close_pair(c, pid);
	for (int i = 0; i < 2; i++)
		c[i] = spawn_memdev(cpu_srv, 1u << 20, &pid[i]);
	stream_rows(c, cpu_srv, place, 1u << 20, per, down, &base, GOAL_GE(0.7));
	struct mig_opts o;
	struct mig_stats st;
	struct stat_ s;
	char name[64];
	report_row("downtime, stop-and-copy (1 MiB left)", place, base, "-", 1, NO_GOAL);
	/* one pre-copy round, then len bytes of RAM changed before the stop */
	static const size_t left[] = { 0, 16 << 10, 64 << 10, 256 << 10 };
	struct dirtier d = { .buf = malloc(256 << 10) };
	for (size_t k = 0; k < sizeof(left) / sizeof(left[0]); k++) {
		d.len = left[k];
		o = (struct mig_opts){ .precopy_rounds = 1, .after_round = dirty_ram, .arg = &d };
		uint64_t t = now_ns();
		migrate_n(c, &o, n, down, &st, &bytes, &data_ns);
		s = summarize(down, n, now_ns() - t);
		snprintf(name, sizeof(name), "downtime, pre-copy, %zu KiB changed", left[k] >> 10);
		report_row(name, place, s, "stop-and-copy above", s.median / base.median,
			   k == 0 ? GOAL_LE(0.5) : NO_GOAL);
	}
	free(d.buf);
	free(down);
	close_pair(c, pid);
}
