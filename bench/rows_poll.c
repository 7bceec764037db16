/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rows_poll.c — polling mode (client and server poll_us): the synchronous
 * 4-byte read and write with both sides polling, beside the same without
 * polling and the raw ping-pong blocking and polling, measured in turns so
 * that all see the same machine; the CPU time both processes spend per
 * request; the CPU an idle polling connection costs once it has backed off.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "uvfio/client.h"

/* CPU time of this process and of pid, nanoseconds. */
static uint64_t cpu_ns(pid_t pid)
{
	struct timespec a, b;
	clockid_t id;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	if (clock_getcpuclockid(pid, &id) || clock_gettime(id, &b))
		b = (struct timespec){ 0 };
	return (uint64_t)(a.tv_sec + b.tv_sec) * 1000000000u + (uint64_t)a.tv_nsec +
	       (uint64_t)b.tv_nsec;
}

static struct uvfio_client *connect_polling(int cpu_srv, pid_t *pid, uint32_t poll_us)
{
	struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR }, .timeout_ms = 30000,
					  .poll_us = poll_us };
	bench_srv_poll_us = poll_us;
	struct uvfio_client *c = connect_bench(cpu_srv, pid, SRV_XFER, &cc);
	bench_srv_poll_us = 0;
	return c;
}

enum { RAW_BLOCK, RAW_SPIN, READ_BLOCK, READ_POLL, WRITE_BLOCK, WRITE_POLL, NKIND };

void polling_rows(int cpu_srv, const char *place)
{
	size_t n = quick ? 200 : 20000;
	enum { ROUNDS = 8 };
	size_t per = n / ROUNDS;
	pin(0);
	/* the spinning raw peer lives for its turn only: between turns it
	 * would take a whole CPU from the others */
	struct raw rb, rs;
	raw_start_spin(&rb, cpu_srv, 32, 36, false);
	pid_t pb, pp;
	struct uvfio_client *cb = connect_polling(cpu_srv, &pb, 0);
	struct uvfio_client *cp = connect_polling(cpu_srv, &pp, POLL_US);
	uint64_t *lat[NKIND], t[NKIND] = { 0 }, cpu[NKIND] = { 0 };
	for (int k = 0; k < NKIND; k++)
		lat[k] = malloc(per * ROUNDS * sizeof(uint64_t));
	uint8_t buf[4] = { 0 };
	for (int round = 0; round < ROUNDS; round++) {
		for (int k = 0; k < NKIND; k++) {
			uint64_t *l = lat[k] + (size_t)round * per;
			pid_t other = k == RAW_BLOCK ? rb.pid : k == RAW_SPIN ? rs.pid
				      : k == READ_BLOCK || k == WRITE_BLOCK ? pb : pp;
			if (k == RAW_SPIN) {
				raw_start_spin(&rs, cpu_srv, 32, 36, true);
				other = rs.pid;
			}
			uint64_t c0 = cpu_ns(other), t0 = now_ns();
			switch (k) {
			case RAW_BLOCK: raw_run(&rb, l, per); break;
			case RAW_SPIN: raw_run(&rs, l, per); break;
			case READ_BLOCK: sync_run(cb, 0, 0, buf, 4, false, l, per); break;
			case READ_POLL: sync_run(cp, 0, 0, buf, 4, false, l, per); break;
			case WRITE_BLOCK: sync_run(cb, 0, 0, buf, 4, true, l, per); break;
			case WRITE_POLL: sync_run(cp, 0, 0, buf, 4, true, l, per); break;
			}
			t[k] += now_ns() - t0;
			cpu[k] += cpu_ns(other) - c0;
			if (k == RAW_SPIN)
				raw_stop(&rs);
		}
	}
	struct stat_ s[NKIND];
	for (int k = 0; k < NKIND; k++)
		s[k] = summarize(lat[k], per * ROUNDS, t[k]);
	bool cross = cpu_srv != 0;
	report_row("raw ping-pong 32 B / 36 B", place, s[RAW_BLOCK], "-", 1, NO_GOAL);
	report_row("raw polling ping-pong 32 B / 36 B", place, s[RAW_SPIN], "raw ping-pong above",
		   s[RAW_SPIN].median / s[RAW_BLOCK].median, NO_GOAL);
	report_row("REGION_READ 4 B (sync), not polling", place, s[READ_BLOCK],
		   "raw ping-pong above", s[READ_BLOCK].median / s[RAW_BLOCK].median, NO_GOAL);
	report_row("REGION_READ 4 B (sync), polling", place, s[READ_POLL], "raw ping-pong above",
		   s[READ_POLL].median / s[RAW_BLOCK].median, cross ? GOAL_LE(0.2) : NO_GOAL);
	report_row("REGION_READ 4 B (sync), polling", place, s[READ_POLL], "raw polling ping-pong",
		   s[READ_POLL].median / s[RAW_SPIN].median, cross ? GOAL_LE(1.25) : NO_GOAL);
	report_row("REGION_READ 4 B (sync), polling", place, s[READ_POLL], "the same, not polling",
		   s[READ_POLL].median / s[READ_BLOCK].median, cross ? NO_GOAL : GOAL_LE(1.1));
	report_row("REGION_WRITE 4 B (sync), polling", place, s[WRITE_POLL], "the same, not polling",
		   s[WRITE_POLL].median / s[WRITE_BLOCK].median, NO_GOAL);
	/* CPU per request, both processes: the median column holds it (us) */
	double per_op[NKIND];
	for (int k = 0; k < NKIND; k++)
		per_op[k] = (double)cpu[k] / 1e3 / (double)(per * ROUNDS);
	struct stat_ cb_ = { .median = per_op[READ_BLOCK] }, cp_ = { .median = per_op[READ_POLL] };
	report_row("CPU us per REGION_READ 4 B, not polling", place, cb_, "-", 1, NO_GOAL);
	report_row("CPU us per REGION_READ 4 B, polling", place, cp_, "the same, not polling",
		   per_op[READ_POLL] / per_op[READ_BLOCK], NO_GOAL);
	/* Idle: after the burst, both polling processes over a quiet spell */
	uint64_t idle_ns = quick ? 100000000u : 1000000000u;
	usleep(10000); /* the back-off: a few waits' spins */
	uint64_t c0 = cpu_ns(pp), t0 = now_ns();
	usleep((useconds_t)(idle_ns / 1000));
	double frac = (double)(cpu_ns(pp) - c0) / (double)(now_ns() - t0);
	struct stat_ idle = { .median = frac * 100 };
	report_row("idle polling connection, CPU % of one CPU", place, idle, "one CPU", frac,
		   GOAL_LE(0.01));
	for (int k = 0; k < NKIND; k++)
		free(lat[k]);
	finish(cb, pb);
	finish(cp, pp);
	raw_stop(&rb);
}
