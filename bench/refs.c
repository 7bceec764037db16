/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * refs.c — the physical references rows are measured against: a raw
 * two-process ping-pong over a UNIX stream socket with the same message
 * sizes and no protocol logic, the raw socket streaming the same bytes,
 * a raw relay through this process, memcpy.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"


/* Read len bytes into buf: blocking, or (spin) polling the socket and
 * yielding the CPU between tries, as a polling peer waits. */
static ssize_t raw_read(int fd, char *buf, size_t len, bool spin)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, spin ? MSG_DONTWAIT : 0);
		if (n < 0 && spin && errno == EAGAIN) {
			sched_yield();
			continue;
		}
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

void raw_start_spin(struct raw *r, int cpu_srv, size_t req, size_t rep, bool spin)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	r->req = req;
	r->rep = rep;
	r->buf = calloc(1, req > rep ? req : rep);
	r->spin = spin;
	r->pid = fork();
	if (!r->pid) {
		pin(cpu_srv);
		close(sv[0]);
		for (;;) {
			if (raw_read(sv[1], r->buf, req, spin) < 0)
				_exit(0);
			if (write(sv[1], r->buf, rep) != (ssize_t)rep)
				_exit(1);
		}
	}
	close(sv[1]);
	r->fd = sv[0];
}

void raw_start(struct raw *r, int cpu_srv, size_t req, size_t rep)
{
	raw_start_spin(r, cpu_srv, req, rep, false);
}

void raw_run(struct raw *r, uint64_t *lat, size_t iters)
{
	for (size_t i = 0; i < iters; i++) {
		uint64_t a = now_ns();
		if (write(r->fd, r->buf, r->req) != (ssize_t)r->req ||
		    raw_read(r->fd, r->buf, r->rep, r->spin) < 0)
			exit(1);
		lat[i] = now_ns() - a;
	}
}

void raw_stop(struct raw *r)
{
	close(r->fd);
	waitpid(r->pid, NULL, 0);
	free(r->buf);
}

struct stat_ raw_pingpong(int cpu_srv, size_t req, size_t rep, size_t iters)
{
	struct raw r;
	raw_start(&r, cpu_srv, req, rep);
	uint64_t *lat = malloc(iters * sizeof(*lat));
	uint64_t t0 = now_ns();
	raw_run(&r, lat, iters);
	struct stat_ s = summarize(lat, iters, now_ns() - t0);
	raw_stop(&r);
	free(lat);
	return s;
}

/*
 * The raw socket streaming total bytes in chunks of chunk, one way, then one
 * byte back: the bound of bulk transfers through messages. The writer sends
 * from, and the reader receives into, buffers of span bytes walked in turn,
 * so that the reference touches as much memory as the row it bounds (a
 * cache-hot 1 MiB buffer streams several times faster than 32 MiB). One
 * span goes first, before the clock starts, as the rows it bounds warm up.
 */
double raw_stream_gbps(int cpu_srv, size_t chunk, size_t total, size_t span)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	if (span < chunk)
		span = chunk;
	span -= span % chunk;
	pid_t pid = fork();
	if (!pid) {
		pin(cpu_srv);
		close(sv[0]);
		char *dst = big_alloc(span); /* faulted in before the clock starts */
		if (write(sv[1], "r", 1) != 1)
			_exit(1);
		size_t got = 0;
		while (got < span + total) {
			size_t at = got % span, room = span - at;
			ssize_t n = read(sv[1], dst + at, room < chunk ? room : chunk);
			if (n <= 0)
				_exit(1);
			got += (size_t)n;
		}
		_exit(write(sv[1], "x", 1) == 1 ? 0 : 1);
	}
	close(sv[1]);
	char *buf = big_alloc(span);
	char x;
	if (read(sv[0], &x, 1) != 1) /* the reader is ready */
		fprintf(stderr, "uvfio-bench: stream reference failed\n");
	for (size_t sent = 0; sent < span; sent += chunk) /* the warm-up */
		if (write(sv[0], buf + sent, chunk) != (ssize_t)chunk)
			break;
	uint64_t t0 = now_ns();
	for (size_t sent = 0; sent < total; sent += chunk)
		if (write(sv[0], buf + sent % span, chunk) != (ssize_t)chunk)
			break;
	if (read(sv[0], &x, 1) != 1)
		fprintf(stderr, "uvfio-bench: stream reference failed\n");
	double s = (double)(now_ns() - t0) / 1e9;
	close(sv[0]);
	waitpid(pid, NULL, 0);
	munmap(buf, span);
	return (double)total / s / 1e9;
}

double memcpy_gbps(int cpu, size_t len, int reps)
{
	/* from memory of the kind the device reads (a shared memfd mapping)
	 * into a heap buffer like the device's, on the device's CPU */
	pin(cpu);
	int mfd = memfd_create("bench-memcpy", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)len) < 0)
		exit(1);
	uint8_t *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	uint8_t *b = malloc(len);
	if (a == MAP_FAILED || !b)
		exit(1);
	memset(a, 3, len);
	memset(b, 4, len);
	uint64_t t0 = now_ns();
	for (int i = 0; i < reps; i++) {
		memcpy(b, a, len);
		__asm__ volatile("" ::"r"(b) : "memory");
	}
	double s = (double)(now_ns() - t0) / 1e9;
	munmap(a, len);
	close(mfd);
	free(b);
	pin(0); /* back where the rows run */
	return (double)len * reps / s / 1e9;
}

/*
 * The physical limit of a stream relayed by a client: total bytes in chunks
 * from a source process through this one to a destination process (two
 * socket hops, as migration data goes), then one byte back.
 */
double raw_relay_gbps(int cpu_srv, size_t chunk, size_t total)
{
	int a[2], b[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) < 0)
		exit(1);
	pid_t ps = fork();
	if (!ps) {
		pin(cpu_srv);
		char *buf = big_alloc(chunk), go; /* faulted in before the clock starts */
		if (write(a[1], "r", 1) != 1 || read(a[1], &go, 1) != 1)
			_exit(1);
		for (size_t sent = 0; sent < total; sent += chunk) {
			size_t n = total - sent < chunk ? total - sent : chunk;
			if (write(a[1], buf, n) != (ssize_t)n)
				_exit(1);
		}
		_exit(0);
	}
	pid_t pd = fork();
	if (!pd) {
		pin(cpu_srv);
		char *buf = big_alloc(chunk);
		if (write(b[1], "r", 1) != 1)
			_exit(1);
		for (size_t got = 0; got < total;) {
			ssize_t n = read(b[1], buf, chunk);
			if (n <= 0)
				_exit(1);
			got += (size_t)n;
		}
		_exit(write(b[1], "x", 1) == 1 ? 0 : 1);
	}
	close(a[1]);
	close(b[1]);
	char *buf = big_alloc(chunk), x;
	if (read(a[0], &x, 1) != 1 || read(b[0], &x, 1) != 1) /* both ends are ready */
		exit(1);
	uint64_t t0 = now_ns();
	if (write(a[0], "g", 1) != 1)
		exit(1);
	for (size_t moved = 0; moved < total;) {
		ssize_t n = read(a[0], buf, chunk);
		if (n <= 0 || write(b[0], buf, (size_t)n) != n)
			break;
		moved += (size_t)n;
	}
	if (read(b[0], &x, 1) != 1)
		fprintf(stderr, "uvfio-bench: relay reference failed\n");
	double sec = (double)(now_ns() - t0) / 1e9;
	close(a[0]);
	close(b[0]);
	waitpid(ps, NULL, 0);
	waitpid(pd, NULL, 0);
	munmap(buf, chunk);
	return (double)total / sec / 1e9;
}

/*
 * The bound of a doorbell rung through an eventfd: this process signals an
 * eventfd, a process on cpu_srv waits for it in epoll, reads it and logs
 * the count and its time (as the bench device's handler does, through the
 * same doorbell log). Latency of one signal at a time, then the rate of n
 * signals back to back until the reader has counted them all.
 */
struct stat_ raw_eventfd(int cpu_srv, size_t n, size_t nl)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), stop = eventfd(0, EFD_CLOEXEC);
	pid_t pid = fork();
	if (!pid) {
		pin(cpu_srv);
		int ep = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = efd };
		struct epoll_event es = { .events = EPOLLIN, .data.fd = stop };
		epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
		epoll_ctl(ep, EPOLL_CTL_ADD, stop, &es);
		for (;;) {
			struct epoll_event e;
			if (epoll_wait(ep, &e, 1, -1) == 1 && e.data.fd == stop)
				_exit(0);
			uint64_t v, one = 1;
			if (read(efd, &v, sizeof(v)) != sizeof(v))
				continue;
			doorbell->t_ns = now_ns();
			__atomic_add_fetch(&doorbell->rings, v, __ATOMIC_RELEASE);
			if (write(doorbell_done, &one, sizeof(one)) != sizeof(one))
				_exit(1);
		}
	}
	uint64_t *lat = malloc(nl * sizeof(*lat)), one = 1, v, t_all = now_ns();
	for (size_t i = 0; i < nl; i++) {
		uint64_t base = __atomic_load_n(&doorbell->rings, __ATOMIC_ACQUIRE), t0 = now_ns();
		if (write(efd, &one, sizeof(one)) != sizeof(one))
			exit(1);
		while (__atomic_load_n(&doorbell->rings, __ATOMIC_ACQUIRE) < base + 1)
			if (read(doorbell_done, &v, sizeof(v)) < 0)
				exit(1);
		lat[i] = doorbell->t_ns - t0;
	}
	struct stat_ s = summarize(lat, nl, now_ns() - t_all);
	uint64_t base = __atomic_load_n(&doorbell->rings, __ATOMIC_ACQUIRE), t0 = now_ns();
	for (size_t i = 0; i < n; i++)
		if (write(efd, &one, sizeof(one)) != sizeof(one))
			exit(1);
	while (__atomic_load_n(&doorbell->rings, __ATOMIC_ACQUIRE) < base + n)
		if (read(doorbell_done, &v, sizeof(v)) < 0)
			exit(1);
	s.ops = (double)n * 1e9 / (double)(now_ns() - t0);
	if (write(stop, &one, sizeof(one)) != sizeof(one))
		exit(1);
	waitpid(pid, NULL, 0);
	close(efd);
	close(stop);
	free(lat);
	return s;
}

void bench_sibling(char *path, size_t size, const char *prog)
{
	size_t keep = strlen(prog) + 1;
	ssize_t n = size > keep ? readlink("/proc/self/exe", path, size - keep) : -1;
	path[n > 0 ? n : 0] = 0;
	char *slash = strrchr(path, '/');
	if (slash)
		memcpy(slash + 1, prog, keep);
	if (!slash || access(path, X_OK) < 0)
		path[0] = 0;
}
