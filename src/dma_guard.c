/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dma_guard.c — copies to and from a client's memory that survive the
 * client shrinking the file behind it: the fault (SIGBUS) becomes -EIO.
 *
 * The library does not own the process, so the handler is careful:
 * - it acts only on a fault of the thread's own guarded copy, at an address
 *   inside the client memory being copied (a thread-local record set just
 *   around the memcpy); every other SIGBUS goes to the handler that was
 *   there before it, or gets the default action (the process dies as it
 *   would have without the library);
 * - it is put in place when a client maps memory with a descriptor, and
 *   put back on top at the next such map if something replaced it since
 *   (the handler it replaces is then the one it hands faults to);
 * - the guarded copy is a plain memcpy between sigsetjmp() and the clearing
 *   of the record, so jumping out of it skips no lock or allocation.
 * ThreadSanitizer does not unwind its bookkeeping of a handler left by
 * siglongjmp: under it, the thread never again gets an asynchronous signal
 * (production builds are unaffected; tests end such a process with SIGKILL).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "internal.h"

struct guard {
	sigjmp_buf env;
	uintptr_t lo, hi; /* the client memory being copied */
};

static VU_TLS struct guard *tls_guard;
/* The handler before ours, published whole before the handler sees it: a
 * few slots, so that one being rewritten is never the one a running
 * handler reads. */
#define PREV_SLOTS 8
static struct sigaction prev_slot[PREV_SLOTS];
static unsigned prev_next;
static struct sigaction *prev; /* atomic */
static pthread_mutex_t install_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	struct guard *g = __atomic_load_n(&tls_guard, __ATOMIC_RELAXED);
	uintptr_t a = (uintptr_t)si->si_addr;
	if (g && si->si_code > 0 && a >= g->lo && a < g->hi)
		siglongjmp(g->env, 1);
	/* Not ours: what would have happened without the library. */
	const struct sigaction *p = __atomic_load_n(&prev, __ATOMIC_ACQUIRE);
	if (p && (p->sa_flags & SA_SIGINFO)) {
		p->sa_sigaction(sig, si, ctx);
		return;
	}
	if (p && p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
		p->sa_handler(sig);
		return;
	}
	if (p && p->sa_handler == SIG_IGN && si->si_code <= 0)
		return; /* sent by someone and ignored (a fault cannot be) */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGBUS, &dfl, NULL);
	/* A fault repeats when the instruction runs again; a sent signal is
	 * sent again. Either arrives once this handler returns. */
	if (si->si_code <= 0)
		raise(SIGBUS);
}

static bool is_ours(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_sigbus;
}

int vu_guard_install(void)
{
	struct sigaction cur;
	if (sigaction(SIGBUS, NULL, &cur) < 0)
		return -errno;
	if (is_ours(&cur))
		return 0;
	pthread_mutex_lock(&install_mu);
	int r = 0;
	if (sigaction(SIGBUS, NULL, &cur) < 0) {
		r = -errno;
	} else if (!is_ours(&cur)) {
		struct sigaction *slot = &prev_slot[prev_next++ % PREV_SLOTS];
		*slot = cur;
		__atomic_store_n(&prev, slot, __ATOMIC_RELEASE);
		struct sigaction sa = { .sa_sigaction = on_sigbus,
					.sa_flags = SA_SIGINFO | SA_ONSTACK };
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, NULL) < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&install_mu);
	return r;
}

/* The one place a copy may fault: kept out of line so that nothing of the
 * caller's state lives in registers across the jump. */
static __attribute__((noinline)) int guarded(struct guard *g, void *dst, const void *src,
					     size_t len)
{
	if (sigsetjmp(g->env, 0)) {
		__atomic_store_n(&tls_guard, NULL, __ATOMIC_RELAXED);
		/* Left through the handler: SIGBUS is still blocked in this
		 * thread (sigsetjmp(, 0) keeps the mask out of the fast path). */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		return -EIO;
	}
	__atomic_store_n(&tls_guard, g, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memcpy(dst, src, len);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&tls_guard, NULL, __ATOMIC_RELAXED);
	return 0;
}

int vu_guarded_copy(void *dst, const void *src, size_t len, const void *client)
{
	struct guard g;
	g.lo = (uintptr_t)client;
	g.hi = g.lo + len;
	return guarded(&g, dst, src, len);
}
