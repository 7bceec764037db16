/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rows_doorbell.c — the device's doorbell rung from the client: as a posted
 * REGION_WRITE that matches it (a message the server receives and parses),
 * and through its ioeventfd (use_ioeventfds: the client signals an
 * eventfd); each at once, and from the client's send buffer (post_delay_us:
 * writes leave together, rings of one doorbell are summed). Rate: rings
 * until the device's handler has been told of every one; latency: from the
 * call to the handler's run, on one clock (the handler writes its time in
 * memory shared with this process).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "uvfio/client.h"

static uint64_t rings_now(void)
{
	return __atomic_load_n(&doorbell->rings, __ATOMIC_ACQUIRE);
}

/* Until the handler has been told of target rings: sleep on its eventfd
 * (which frees the CPU the device may share with this process). */
static void wait_rings(uint64_t target)
{
	while (rings_now() < target) {
		uint64_t v;
		if (read(doorbell_done, &v, sizeof(v)) < 0 && errno != EINTR)
			exit(1);
	}
}

static void ring(struct uvfio_client *c)
{
	uint32_t v = DOORBELL_VAL;
	if (uvfio_client_region_write_posted(c, 2, DOORBELL_OFF, &v, 4) < 0) {
		fprintf(stderr, "uvfio-bench: ringing the doorbell failed\n");
		exit(1);
	}
}

/* n rings back to back, then a flush (what waits in the send buffer
 * leaves); per second until the handler has been told of them all. */
static double rate(struct uvfio_client *c, size_t n)
{
	uint64_t base = rings_now(), t0 = now_ns();
	for (size_t i = 0; i < n; i++)
		ring(c);
	if (uvfio_client_flush(c) < 0)
		exit(1);
	wait_rings(base + n);
	return (double)n * 1e9 / (double)(now_ns() - t0);
}

/* One ring at a time, from the call to the handler's run. */
static struct stat_ latency(struct uvfio_client *c, size_t n)
{
	uint64_t *lat = malloc(n * sizeof(*lat)), t_all = now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t base = rings_now(), t0 = now_ns();
		ring(c);
		wait_rings(base + 1);
		lat[i] = doorbell->t_ns - t0;
		/* the replies to posted messages: an event loop takes them */
		if (uvfio_client_dispatch(c) < 0)
			exit(1);
	}
	struct stat_ s = summarize(lat, n, now_ns() - t_all);
	free(lat);
	return s;
}

static struct uvfio_client *client(int cpu_srv, pid_t *pid, bool bells, uint32_t delay)
{
	struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR }, .timeout_ms = 30000,
					  .use_ioeventfds = bells, .post_delay_us = delay };
	return connect_bench(cpu_srv, pid, SRV_XFER, &cc);
}

void doorbell_rows(int cpu_srv, const char *place)
{
	size_t n = quick ? 1000 : 200000, nl = quick ? 100 : 5000;
	pid_t pid;
	struct stat_ raw = raw_eventfd(cpu_srv, n, nl);
	/* at once: a message, then the eventfd */
	struct uvfio_client *c = client(cpu_srv, &pid, false, 0);
	struct stat_ msg = latency(c, nl);
	msg.ops = rate(c, n);
	finish(c, pid);
	c = client(cpu_srv, &pid, true, 0);
	struct stat_ bell = latency(c, nl);
	bell.ops = rate(c, n);
	finish(c, pid);
	report_row("raw eventfd signal", place, raw, "-", 1, NO_GOAL);
	report_row("posted REGION_WRITE to a doorbell", place, msg, "-", 1, NO_GOAL);
	/* a ring at once is one signal: the raw signal's rate is its bound */
	report_row("raw eventfd signal", place, raw, "posted REGION_WRITE above", raw.ops / msg.ops,
		   NO_GOAL);
	report_row("doorbell via ioeventfd", place, bell, "posted REGION_WRITE above",
		   bell.ops / msg.ops, GOAL_GE_BOUND(5, raw.ops / msg.ops));
	report_row("doorbell via ioeventfd", place, bell, "raw eventfd signal", bell.ops / raw.ops,
		   NO_GOAL);
	/* a polling server (poll_us) spins on its epoll set, eventfds and
	 * socket alike, before it blocks */
	bench_srv_poll_us = POLL_US;
	c = client(cpu_srv, &pid, false, 0);
	struct stat_ pmsg = latency(c, nl);
	pmsg.ops = rate(c, n);
	finish(c, pid);
	c = client(cpu_srv, &pid, true, 0);
	struct stat_ pbell = latency(c, nl);
	pbell.ops = rate(c, n);
	finish(c, pid);
	bench_srv_poll_us = 0;
	report_row("posted REGION_WRITE to a doorbell, polling server", place, pmsg,
		   "the same, not polling (latency)", pmsg.median / msg.median, NO_GOAL);
	report_row("doorbell via ioeventfd, polling server", place, pbell,
		   "the same, not polling (latency)", pbell.median / bell.median, NO_GOAL);
	/* from the send buffer, as posted writes wait there */
	c = client(cpu_srv, &pid, false, POST_DELAY_US);
	struct stat_ bmsg = { .ops = rate(c, n) };
	finish(c, pid);
	c = client(cpu_srv, &pid, true, POST_DELAY_US);
	struct stat_ bbell = { .ops = rate(c, n) };
	finish(c, pid);
	report_row("posted to a doorbell, send buffer", place, bmsg, "-", 1, NO_GOAL);
	report_row("doorbell via ioeventfd, send buffer", place, bbell, "posted, send buffer above",
		   bbell.ops / bmsg.ops, GOAL_GE(5));
}
