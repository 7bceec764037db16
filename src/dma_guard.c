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
 *   put back on top at the next such map if something replaced it since;
 *   it keeps the handler it found each time (a history), hands a fault to
 *   the newest, and when that one chains back to it (the application's
 *   handler installed over ours), to the one below: never round in a loop;
 * - the copying thread may block SIGBUS: the copy unblocks it around the
 *   memcpy and puts the thread's mask back after;
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
/*
 * The handlers that were there each time ours was put in place, oldest
 * first: hist[0] is the process's own, hist[k] the one an application put
 * on top of ours before the k-th re-installation. Entries are written once,
 * before nhist counts them, and never again, so a running handler reads a
 * whole one. An application handler that chains (as server.h asks) hands a
 * fault back to ours: it then goes on to the entry below, never round the
 * same pair again.
 */
#define HIST_MAX 16
static struct sigaction hist[HIST_MAX];
static unsigned nhist; /* atomic */
static pthread_mutex_t install_mu = PTHREAD_MUTEX_INITIALIZER;
/* A fault our handler is handing down the history on this thread: which,
 * and how far down (an application handler calls ours again with it). */
static VU_TLS const siginfo_t *tls_chain_si;
static VU_TLS unsigned tls_chain_level;

/* What would have happened without any handler of ours. */
static void default_action(siginfo_t *si)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGBUS, &dfl, NULL);
	/* A fault repeats when the instruction runs again; a sent signal is
	 * sent again. Either arrives once this handler returns. */
	if (si->si_code <= 0)
		raise(SIGBUS);
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	struct guard *g = __atomic_load_n(&tls_guard, __ATOMIC_RELAXED);
	uintptr_t a = (uintptr_t)si->si_addr;
	if (g && si->si_code > 0 && a >= g->lo && a < g->hi)
		siglongjmp(g->env, 1);
	/* Not ours: to the handler below ours, or below the one that handed
	 * it back to us. */
	unsigned level = tls_chain_si == si ? tls_chain_level + 1 : 0;
	unsigned n = __atomic_load_n(&nhist, __ATOMIC_ACQUIRE);
	if (level >= n) {
		default_action(si);
		return;
	}
	const struct sigaction *p = &hist[n - 1 - level];
	const siginfo_t *saved_si = tls_chain_si;
	unsigned saved_level = tls_chain_level;
	tls_chain_si = si;
	tls_chain_level = level;
	if (p->sa_flags & SA_SIGINFO)
		p->sa_sigaction(sig, si, ctx);
	else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN)
		p->sa_handler(sig);
	else if (p->sa_handler == SIG_DFL || si->si_code > 0) /* a fault cannot be ignored */
		default_action(si);
	/* else: sent by someone and ignored */
	tls_chain_si = saved_si;
	tls_chain_level = saved_level;
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
	unsigned n = __atomic_load_n(&nhist, __ATOMIC_RELAXED);
	if (sigaction(SIGBUS, NULL, &cur) < 0) {
		r = -errno;
	} else if (!is_ours(&cur) && n < HIST_MAX) {
		/* (with the history full, the application's stays on top: it
		 * chains to ours, so guarded copies still work) */
		hist[n] = cur;
		__atomic_store_n(&nhist, n + 1, __ATOMIC_RELEASE);
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
					     size_t len, bool unblock)
{
	/* SIGBUS must reach the handler: a thread that blocks it (a common
	 * habit of worker threads) would be killed by the fault instead. */
	sigset_t bus, old;
	sigemptyset(&bus);
	sigaddset(&bus, SIGBUS);
	if (unblock)
		pthread_sigmask(SIG_UNBLOCK, &bus, &old);
	if (sigsetjmp(g->env, 0)) {
		__atomic_store_n(&tls_guard, NULL, __ATOMIC_RELAXED);
		/* Left through the handler, whose mask (the thread's and
		 * SIGBUS) is still in force: sigsetjmp(, 0) keeps the mask out
		 * of the fast path. The thread's own again; without unblock,
		 * SIGBUS was unblocked (the fault reached the handler). */
		pthread_sigmask(unblock ? SIG_SETMASK : SIG_UNBLOCK, unblock ? &old : &bus, NULL);
		return -EIO;
	}
	__atomic_store_n(&tls_guard, g, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memcpy(dst, src, len);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&tls_guard, NULL, __ATOMIC_RELAXED);
	if (unblock && sigismember(&old, SIGBUS))
		pthread_sigmask(SIG_BLOCK, &bus, NULL);
	return 0;
}

int vu_guarded_copy_ex(void *dst, const void *src, size_t len, const void *client,
		       bool may_shrink)
{
	struct guard g;
	g.lo = (uintptr_t)client;
	g.hi = g.lo + len;
	return guarded(&g, dst, src, len, may_shrink);
}

int vu_guarded_copy(void *dst, const void *src, size_t len, const void *client)
{
	return vu_guarded_copy_ex(dst, src, len, client, true);
}
