/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spin.c — polling mode: a thread about to block waiting for a message first
 * spins on its descriptors for a bounded, adaptive budget.
 *
 * Waking a blocked thread on another CPU costs tens of microseconds on the
 * machines this was measured on; a thread that is already running sees the
 * message within a system call. The budget adapts as Linux's halt-polling
 * does: when a wait that spun in vain ends soon after (within the
 * configured budget), the budget doubles; when it ends much later (the
 * connection is idle), it halves, down to nothing, so an idle connection
 * spins for a few waits and then costs no CPU. Spinning against a peer that
 * can only run on the same single CPU would only delay it: then the thread
 * never spins, and it yields the CPU between checks in any case, so a peer
 * that the scheduler happened to put on the same CPU runs at once; when that
 * is what keeps ending the spins, it stops spinning too (judge()).
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static uint64_t vu_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Smallest budget a growing spin starts from, and the nanoseconds the
 * budget must fall below to count as nothing. */
#define SPIN_START_NS 2000u
/* How often (waits) the CPU placement is looked at again. */
#define SPIN_RECHECK 1024u
/* A sched_yield() longer than this ran another task on this CPU (a bare
 * one takes 0.2-0.5 us on these machines, handing the CPU to a peer that
 * serves a request and blocks again takes microseconds). */
#define SPIN_RAN_NS 1000u
/* Spins that ended after a yield, judged together (see judge()). */
#define SPIN_JUDGE 64u

uint32_t vu_spin_budget_us(uint32_t configured)
{
	if (configured)
		return configured > VU_SPIN_MAX_US ? VU_SPIN_MAX_US : configured;
	const char *e = getenv("UVFIO_POLL_US");
	if (!e || !*e)
		return 0;
	char *end;
	unsigned long v = strtoul(e, &end, 10);
	if (*end)
		return 0;
	return v > VU_SPIN_MAX_US ? VU_SPIN_MAX_US : (uint32_t)v;
}

/* The one CPU a process may run on, or -1 (several, or unknown). */
static int only_cpu(pid_t pid)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(pid, sizeof(set), &set) < 0 || CPU_COUNT(&set) != 1)
		return -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return -1;
}

/* Whether spinning can help at all: more than one CPU online, and not both
 * this thread and the peer bound to the same single one. */
static bool placement_allows(const struct vu_spin *sp)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	if (online == 1)
		return false;
	int mine = only_cpu(0);
	if (mine < 0 || sp->peer <= 0)
		return true;
	return only_cpu(sp->peer) != mine;
}

void vu_spin_init(struct vu_spin *sp, uint32_t budget_us, int sock)
{
	*sp = (struct vu_spin){ .max_ns = budget_us * 1000u };
	if (!sp->max_ns)
		return;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	/* A socket pair made by this process names this process as the peer
	 * of both ends: then the peer is unknown. */
	if (sock >= 0 && !getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) &&
	    cr.pid != getpid())
		sp->peer = cr.pid;
	sp->cur_ns = sp->max_ns;
	sp->allowed = placement_allows(sp);
}

/*
 * Placement by experience, for the peers SO_PEERCRED cannot name (a socket
 * pair handed to a child) and the ones the scheduler moves. A spin helped
 * only when the message arrived while this thread kept its CPU: found after
 * a yield that returned at once. Found at the first check, the message came
 * while this thread was still sending (a peer on this CPU preempted it, or
 * it was there already): the blocking read would have had it as soon.
 * Found after a yield that ran another task, the peer shares this CPU and
 * would have run as soon as this thread blocked. When fewer than half of
 * SPIN_JUDGE ended spins helped, spinning only adds system calls to every
 * round trip: stop until the placement is looked at again (SPIN_RECHECK
 * waits later, when judging starts over).
 */
static void judge(struct vu_spin *sp, bool helped)
{
	sp->judged++;
	sp->helped += helped;
	if (sp->judged < SPIN_JUDGE)
		return;
	if (sp->helped * 2u < sp->judged)
		sp->allowed = false;
	sp->judged = sp->helped = 0;
}

bool vu_spin_wait(struct vu_spin *sp, const int *fds, int n)
{
	if (!sp->max_ns)
		return false;
	if (++sp->waits % SPIN_RECHECK == 0) {
		sp->allowed = placement_allows(sp);
		sp->judged = sp->helped = 0;
	}
	if (sp->allowed && sp->cur_ns) {
		struct pollfd pf[VU_SPIN_MAX_FDS];
		int k = 0;
		for (int i = 0; i < n && k < VU_SPIN_MAX_FDS; i++)
			if (fds[i] >= 0)
				pf[k++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		uint64_t t = vu_now_ns(), until = t + sp->cur_ns;
		bool yielded = false, ran_other = false;
		do {
			if (poll(pf, (nfds_t)k, 0) > 0) {
				sp->hits++;
				judge(sp, yielded && !ran_other);
				return true;
			}
			sched_yield(); /* a peer on this CPU runs now */
			uint64_t after = vu_now_ns();
			yielded = true;
			ran_other = after - t > SPIN_RAN_NS;
			t = after;
		} while (t < until);
	}
	sp->block_start = vu_now_ns(); /* the caller blocks: see vu_spin_woke() */
	return false;
}

void vu_spin_woke(struct vu_spin *sp)
{
	if (!sp->block_start)
		return;
	uint64_t blocked = vu_now_ns() - sp->block_start;
	sp->block_start = 0;
	if (!sp->allowed)
		return;
	if (blocked <= sp->max_ns) {
		/* the message came soon after the spin gave up (or instead of
		 * one): spin longer */
		uint32_t g = sp->cur_ns ? sp->cur_ns * 2 : SPIN_START_NS;
		sp->cur_ns = g > sp->max_ns ? sp->max_ns : g;
	} else {
		/* idle: spin less, down to nothing */
		sp->cur_ns /= 2;
		if (sp->cur_ns < SPIN_START_NS)
			sp->cur_ns = 0;
	}
}
