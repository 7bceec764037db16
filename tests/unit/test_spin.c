/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Polling mode (spin.c): a spin ends as soon as input is there, the budget
 * grows when the wait after a vain spin is short and shrinks to nothing
 * while the connection is idle, the placement rule (never against a peer
 * bound to the same single CPU), and the budget's bounds and environment.
 * No timing is judged: waits are made long or short by the test itself.
 */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "util.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A wait that blocked for blocked_ns after a vain spin. */
static void woke_after(struct vu_spin *sp, uint64_t blocked_ns)
{
	sp->block_start = mono_ns() - blocked_ns;
	vu_spin_woke(sp);
}

static void test_budget(void **state)
{
	(void)state;
	unsetenv("UVFIO_POLL_US");
	assert_int_equal(vu_spin_budget_us(0), 0);
	assert_int_equal(vu_spin_budget_us(50), 50);
	assert_int_equal(vu_spin_budget_us(1000000), VU_SPIN_MAX_US);
	setenv("UVFIO_POLL_US", "30", 1);
	assert_int_equal(vu_spin_budget_us(0), 30);
	assert_int_equal(vu_spin_budget_us(70), 70); /* the config wins */
	setenv("UVFIO_POLL_US", "30x", 1);
	assert_int_equal(vu_spin_budget_us(0), 0);
	setenv("UVFIO_POLL_US", "99999999", 1);
	assert_int_equal(vu_spin_budget_us(0), VU_SPIN_MAX_US);
	unsetenv("UVFIO_POLL_US");
}

static void test_off(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct vu_spin sp;
	vu_spin_init(&sp, 0, sv[0]);
	assert_false(vu_spin_wait(&sp, &sv[0], 1));
	assert_int_equal(sp.block_start, 0); /* nothing to adapt */
	close(sv[0]);
	close(sv[1]);
}

static void test_ready_and_adapt(void **state)
{
	(void)state;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		skip();
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct vu_spin sp;
	vu_spin_init(&sp, 100, sv[0]);
	assert_int_equal(sp.peer, 0); /* a pair made here: the peer is unknown */
	assert_true(sp.allowed);
	assert_int_equal(sp.cur_ns, 100000);
	/* input there: the spin ends with it */
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_true(vu_spin_wait(&sp, &sv[0], 1));
	assert_int_equal(sp.hits, 1);
	char c;
	assert_int_equal(read(sv[0], &c, 1), 1);
	/* an fd of -1 is left out, as the readers pass their unused ones */
	int fds[2] = { -1, sv[0] };
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_true(vu_spin_wait(&sp, fds, 2));
	assert_int_equal(read(sv[0], &c, 1), 1);
	/* nothing comes: the spin gives up and the caller blocks */
	assert_false(vu_spin_wait(&sp, &sv[0], 1));
	assert_true(sp.block_start != 0);
	/* idle: every long wait halves the budget, down to nothing */
	woke_after(&sp, 10000000);
	assert_int_equal(sp.cur_ns, 50000);
	for (int i = 0; i < 10; i++) {
		vu_spin_wait(&sp, &sv[0], 1);
		woke_after(&sp, 10000000);
	}
	assert_int_equal(sp.cur_ns, 0);
	/* at nothing it does not spin, and returns at once */
	assert_false(vu_spin_wait(&sp, &sv[0], 1));
	/* traffic again: a wait shorter than the budget starts spinning again,
	 * and the budget doubles up to the configured one */
	woke_after(&sp, 1000);
	assert_true(sp.cur_ns > 0);
	for (int i = 0; i < 20; i++) {
		vu_spin_wait(&sp, &sv[0], 1);
		woke_after(&sp, 1000);
	}
	assert_int_equal(sp.cur_ns, 100000);
	/* a woke without a vain spin before it changes nothing */
	vu_spin_woke(&sp);
	assert_int_equal(sp.cur_ns, 100000);
	close(sv[0]);
	close(sv[1]);
}

static void pin_to(pid_t pid, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	assert_int_equal(sched_setaffinity(pid, sizeof(set), &set), 0);
}

/* A peer process connected through a named socket (so SO_PEERCRED names
 * it), bound to cpu: the spin is allowed only when this thread is not bound
 * to the same single CPU. */
static void test_placement(void **state)
{
	(void)state;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		skip();
	cpu_set_t saved;
	assert_int_equal(sched_getaffinity(0, sizeof(saved), &saved), 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/uvfio-test-spin-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	pid_t pid = fork();
	if (!pid) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(1);
		char c;
		_exit(read(s, &c, 1) < 0); /* until the test closes its end */
	}
	int s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	pin_to(pid, 0);
	pin_to(0, 0);
	struct vu_spin sp;
	vu_spin_init(&sp, 50, s);
	assert_int_equal(sp.peer, pid);
	assert_false(sp.allowed); /* both on CPU 0 only */
	assert_false(vu_spin_wait(&sp, &s, 1));
	assert_int_equal(sp.hits, 0);
	pin_to(pid, 1);
	vu_spin_init(&sp, 50, s);
	assert_true(sp.allowed); /* apart */
	/* the placement is looked at again as the waits go by */
	pin_to(pid, 0);
	for (int i = 0; i < 1100; i++) {
		sp.cur_ns = 0; /* no spinning needed to count the waits */
		vu_spin_wait(&sp, &s, 1);
		sp.block_start = 0;
	}
	assert_false(sp.allowed);
	assert_int_equal(sched_setaffinity(0, sizeof(saved), &saved), 0);
	close(s);
	close(l);
	unlink(sa.sun_path);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
}

/* A peer SO_PEERCRED cannot name (a socket pair, the child holding one
 * end) bound to this thread's CPU, echoing every byte: its answer is there
 * at the first check (it preempted the sender) or after a yield that ran
 * it, never caught by the spin itself, so after SPIN_JUDGE such waits the
 * thread stops spinning (fails with the experience rule gone: allowed stays
 * true). */
static void test_shared_cpu_by_experience(void **state)
{
	(void)state;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		skip();
	cpu_set_t saved;
	assert_int_equal(sched_getaffinity(0, sizeof(saved), &saved), 0);
	pin_to(0, 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid_t pid = fork();
	if (!pid) {
		close(sv[0]);
		char c;
		while (read(sv[1], &c, 1) == 1)
			if (write(sv[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(sv[1]);
	struct vu_spin sp;
	vu_spin_init(&sp, 1000, sv[0]);
	assert_int_equal(sp.peer, 0);
	assert_true(sp.allowed);
	int spun = 0;
	for (int i = 0; i < 400 && sp.allowed; i++) {
		char c = 'x';
		assert_int_equal(write(sv[0], &c, 1), 1);
		if (vu_spin_wait(&sp, &sv[0], 1))
			spun++;
		else
			sp.block_start = 0;
		assert_int_equal(read(sv[0], &c, 1), 1);
	}
	assert_false(sp.allowed);
	assert_true(spun >= 64);
	/* the placement is looked at again after SPIN_RECHECK waits: allowed
	 * (the peer is unknown), judged afresh */
	while (sp.waits % 1024 != 1023) {
		sp.cur_ns = 0;
		vu_spin_wait(&sp, &sv[0], 1);
		sp.block_start = 0;
	}
	vu_spin_wait(&sp, &sv[0], 1);
	assert_true(sp.allowed);
	assert_int_equal(sp.judged, 0);
	close(sv[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(sched_setaffinity(0, sizeof(saved), &saved), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_ready_and_adapt),
		cmocka_unit_test(test_placement),
		cmocka_unit_test(test_shared_cpu_by_experience),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
