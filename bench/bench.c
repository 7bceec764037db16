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
 *   uvfio-bench [--quick] [--json] [--latency]   (--latency: synchronous rows only)
 *   uvfio-bench --server SOCKET --region N --offset OFF   (client rows only)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "migrate.h"
#include "uvfio/client.h"
#include "uvfio/server.h"

#define BAR_SIZE (1u << 20)
#define SRV_XFER (64u << 10) /* the bench server's max_data_xfer_size */
#define DMA_IOVA (1ull << 32)
#define DMA_REG 0x0          /* BAR2 register: write N to make the device read N bytes */
#define DMA_MEM (64u << 20)

static bool quick;
static bool latency_only; /* --latency: the synchronous rows only */
static bool migration_only; /* --migration: the migration rows only */
static int ncpus;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu % ncpus, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

/* ---- Statistics and the table ---------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static struct stat_ summarize(uint64_t *lat, size_t n, uint64_t total_ns)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	struct stat_ s = { .ops = (double)n * 1e9 / (double)total_ns,
			   .median = (double)lat[n / 2] / 1e3,
			   .p99 = (double)lat[(n * 99) / 100] / 1e3 };
	return s;
}

/* ---- The bench device (a server process) ------------------------------------------ */

struct bench_dev {
	struct uvfio_server *srv;
	uint8_t *buf;
};

static ssize_t dma_reg(void *opaque, uint32_t region, uint64_t off, void *data, size_t count,
		       bool is_write)
{
	struct bench_dev *d = opaque;
	(void)region, (void)off;
	if (!is_write) {
		memset(data, 0, count);
		return (ssize_t)count;
	}
	uint64_t n = 0;
	memcpy(&n, data, count < 8 ? count : 8);
	if (n > DMA_MEM)
		return -EINVAL;
	int r = uvfio_server_dma_read(d->srv, DMA_IOVA, d->buf, n);
	return r < 0 ? r : (ssize_t)count;
}

static struct uvfio_server *make_dev(struct bench_dev *d, uint32_t xfer)
{
	struct uvfio_server_config cfg = { .log = { .level = UVFIO_LOG_ERR }, .opaque = d,
					   .max_data_xfer_size = xfer };
	if (uvfio_server_create(&cfg, &d->srv) < 0)
		exit(1);
	struct uvfio_region_desc bar0 = { .size = BAR_SIZE,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE };
	struct uvfio_region_desc bar2 = { .size = 4096,
					  .flags = VFIO_REGION_INFO_FLAG_READ |
						   VFIO_REGION_INFO_FLAG_WRITE,
					  .fn = dma_reg };
	uvfio_server_setup_region(d->srv, 0, &bar0, NULL);
	uvfio_server_setup_region(d->srv, 2, &bar2, NULL);
	return d->srv;
}

/* Fork a server process serving ndev devices, one per socket in fds. */
static pid_t spawn_server(int cpu, int *fds, int ndev, uint32_t xfer)
{
	pid_t pid = fork();
	if (pid)
		return pid;
	pin(cpu);
	struct bench_dev *d = calloc((size_t)ndev, sizeof(*d));
	int ep = epoll_create1(0);
	for (int i = 0; i < ndev; i++) {
		d[i].buf = malloc(DMA_MEM);
		make_dev(&d[i], xfer);
		uvfio_server_adopt(d[i].srv, fds[i]);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(ep, EPOLL_CTL_ADD, uvfio_server_poll_fd(d[i].srv), &ev);
	}
	if (ndev == 1) {
		uvfio_server_run(d[0].srv); /* returns when the client leaves */
		_exit(0);
	}
	int alive = ndev;
	while (alive) {
		struct epoll_event ev[64];
		int n = epoll_wait(ep, ev, 64, -1);
		for (int k = 0; k < n; k++) {
			int i = (int)ev[k].data.u32;
			if (uvfio_server_dispatch(d[i].srv) == -ENOTCONN) {
				epoll_ctl(ep, EPOLL_CTL_DEL, uvfio_server_poll_fd(d[i].srv), NULL);
				alive--;
			}
		}
	}
	_exit(0);
}

static struct uvfio_client *connect_bench(int cpu_srv, pid_t *pid, uint32_t xfer)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	*pid = spawn_server(cpu_srv, &sv[1], 1, xfer);
	close(sv[1]);
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = UVFIO_LOG_ERR }, .timeout_ms = 30000 };
	if (uvfio_client_adopt(sv[0], &cfg, &c) < 0) {
		fprintf(stderr, "uvfio-bench: cannot connect to the bench server\n");
		exit(1);
	}
	return c;
}

static void finish(struct uvfio_client *c, pid_t pid)
{
	uvfio_client_close(c);
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* ---- References --------------------------------------------------------------------- */

/* A raw ping-pong partner: req bytes one way, rep bytes back, no protocol. */
struct raw {
	int fd;
	pid_t pid;
	size_t req, rep;
	char *buf;
};

static void raw_start(struct raw *r, int cpu_srv, size_t req, size_t rep)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	r->req = req;
	r->rep = rep;
	r->buf = calloc(1, req > rep ? req : rep);
	r->pid = fork();
	if (!r->pid) {
		pin(cpu_srv);
		close(sv[0]);
		for (;;) {
			size_t got = 0;
			while (got < req) {
				ssize_t n = read(sv[1], r->buf + got, req - got);
				if (n <= 0)
					_exit(0);
				got += (size_t)n;
			}
			if (write(sv[1], r->buf, rep) != (ssize_t)rep)
				_exit(1);
		}
	}
	close(sv[1]);
	r->fd = sv[0];
}

static void raw_run(struct raw *r, uint64_t *lat, size_t iters)
{
	for (size_t i = 0; i < iters; i++) {
		uint64_t a = now_ns();
		if (write(r->fd, r->buf, r->req) != (ssize_t)r->req)
			exit(1);
		size_t got = 0;
		while (got < r->rep) {
			ssize_t n = read(r->fd, r->buf + got, r->rep - got);
			if (n <= 0)
				exit(1);
			got += (size_t)n;
		}
		lat[i] = now_ns() - a;
	}
}

static void raw_stop(struct raw *r)
{
	close(r->fd);
	waitpid(r->pid, NULL, 0);
	free(r->buf);
}

static struct stat_ raw_pingpong(int cpu_srv, size_t req, size_t rep, size_t iters)
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

/* Large buffers are mapped apart from the heap, which would otherwise keep
 * them (and servers forked later would count them in their RSS). Touched. */
static char *big_alloc(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("uvfio-bench: mmap");
		exit(1);
	}
	memset(p, 2, len);
	return p;
}

/*
 * The raw socket streaming total bytes in chunks of chunk, one way, then one
 * byte back: the bound of bulk transfers through messages. The writer sends
 * from, and the reader receives into, buffers of span bytes walked in turn,
 * so that the reference touches as much memory as the row it bounds (a
 * cache-hot 1 MiB buffer streams several times faster than 32 MiB).
 */
static double raw_stream_gbps(int cpu_srv, size_t chunk, size_t total, size_t span)
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
		while (got < total) {
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

static double memcpy_gbps(size_t len, int reps)
{
	uint8_t *a = malloc(len), *b = malloc(len);
	memset(a, 3, len);
	memset(b, 4, len);
	uint64_t t0 = now_ns();
	for (int i = 0; i < reps; i++) {
		memcpy(b, a, len);
		__asm__ volatile("" ::"r"(b) : "memory");
	}
	double s = (double)(now_ns() - t0) / 1e9;
	free(a);
	free(b);
	return (double)len * reps / s / 1e9;
}

/* ---- Client rows ------------------------------------------------------------------------ */

static void sync_run(struct uvfio_client *c, uint32_t region, uint64_t off, uint8_t *buf,
		     size_t len, bool write, uint64_t *lat, size_t iters)
{
	for (size_t i = 0; i < iters; i++) {
		uint64_t a = now_ns();
		int r = write ? uvfio_client_region_write(c, region, off, buf, len)
			      : uvfio_client_region_read(c, region, off, buf, len);
		if (r < 0) {
			fprintf(stderr, "uvfio-bench: request failed: %s\n", uvfio_strerror(r));
			exit(1);
		}
		lat[i] = now_ns() - a;
	}
}

static struct stat_ sync_rows(struct uvfio_client *c, uint32_t region, uint64_t off, size_t len,
			      bool write, size_t iters)
{
	uint8_t *buf = calloc(1, len);
	uint64_t *lat = malloc(iters * sizeof(*lat));
	uint64_t t0 = now_ns();
	sync_run(c, region, off, buf, len, write, lat, iters);
	struct stat_ s = summarize(lat, iters, now_ns() - t0);
	free(lat);
	free(buf);
	return s;
}

/*
 * A synchronous row and its raw ping-pong reference (same message sizes),
 * measured in turns, eight rounds each, so that both see the same machine;
 * printed with their ratio of medians. Returns the measured row.
 */
static struct stat_ paired(struct uvfio_client *c, int cpu_srv, const char *place,
			   const char *name, uint32_t region, uint64_t off, size_t len,
			   bool write, size_t iters, struct goal goal)
{
	size_t req = write ? 32 + len : 32, rep = write ? 32 : 32 + len;
	struct raw r;
	raw_start(&r, cpu_srv, req, rep);
	enum { ROUNDS = 8 };
	size_t per = iters / ROUNDS ? iters / ROUNDS : 1;
	uint64_t *lr = malloc(per * ROUNDS * sizeof(uint64_t));
	uint64_t *lm = malloc(per * ROUNDS * sizeof(uint64_t));
	uint8_t *buf = calloc(1, len);
	uint64_t tr = 0, tm = 0;
	for (int k = 0; k < ROUNDS; k++) {
		uint64_t t0 = now_ns();
		raw_run(&r, lr + k * per, per);
		uint64_t t1 = now_ns();
		sync_run(c, region, off, buf, len, write, lm + k * per, per);
		tm += now_ns() - t1;
		tr += t1 - t0;
	}
	raw_stop(&r);
	struct stat_ sr = summarize(lr, per * ROUNDS, tr), sm = summarize(lm, per * ROUNDS, tm);
	char refname[64];
	snprintf(refname, sizeof(refname), "raw ping-pong %zu B / %zu B", req, rep);
	report_row(refname, place, sr, "-", 1, NO_GOAL);
	report_row(name, place, sm, "raw ping-pong above", sm.median / sr.median, goal);
	free(lr);
	free(lm);
	free(buf);
	return sm;
}

/*
 * Posted writes, timed until the device has applied every one: a flush (every
 * write acknowledged, gathered ones sent first), then a read-back of the last
 * value written.
 */
static struct stat_ posted_rows(struct uvfio_client *c, uint32_t region, uint64_t off,
				size_t iters)
{
	uint64_t t0 = now_ns();
	uint32_t v = 0;
	for (size_t i = 0; i < iters; i++) {
		v = (uint32_t)i + 1;
		if (uvfio_client_region_write_posted(c, region, off, &v, 4) < 0)
			exit(1);
	}
	uint32_t back = 0;
	if (uvfio_client_flush(c) < 0 || uvfio_client_region_read(c, region, off, &back, 4) < 0)
		exit(1);
	uint64_t t = now_ns() - t0;
	if (back != v) {
		fprintf(stderr, "uvfio-bench: posted writes: read back %u, last written %u\n", back,
			v);
		exit(1);
	}
	struct stat_ s = { .ops = (double)iters * 1e9 / (double)t };
	return s;
}

struct thr_arg {
	struct uvfio_client **c; /* ncli clients, used round-robin */
	int ncli;
	uint32_t region;
	uint64_t off;
	size_t iters;
	uint64_t *lat; /* iters latencies of this thread */
};

static void *thr_work(void *p)
{
	struct thr_arg *a = p;
	uint32_t v;
	for (size_t i = 0; i < a->iters; i++) {
		uint64_t t0 = now_ns();
		if (uvfio_client_region_read(a->c[i % (size_t)a->ncli], a->region, a->off, &v, 4) < 0)
			exit(1);
		a->lat[i] = now_ns() - t0;
	}
	return NULL;
}

/* n threads reading 4 bytes, each over its share of the clients; every
 * request's latency is kept for the median and 99th percentile. */
static struct stat_ threads_run(struct uvfio_client **c, int ncli, uint32_t region, uint64_t off,
				int n, size_t iters)
{
	pthread_t t[8];
	struct thr_arg a[8];
	uint64_t *lat = malloc((size_t)n * iters * sizeof(uint64_t));
	int per = ncli / n ? ncli / n : 1;
	uint64_t t0 = now_ns();
	for (int i = 0; i < n; i++) {
		a[i] = (struct thr_arg){ c + (ncli > 1 ? i * per : 0), ncli > 1 ? per : 1, region,
					 off, iters, lat + (size_t)i * iters };
		pthread_create(&t[i], NULL, thr_work, &a[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	struct stat_ s = summarize(lat, (size_t)n * iters, now_ns() - t0);
	free(lat);
	return s;
}

static struct stat_ thread_rows(struct uvfio_client *c, uint32_t region, uint64_t off, int n,
				size_t iters)
{
	return threads_run(&c, 1, region, off, n, iters);
}

static double dma_gbps(struct uvfio_client *c, bool share_fd, size_t len, int reps)
{
	int mfd = memfd_create("bench-dma", MFD_CLOEXEC);
	if (ftruncate(mfd, DMA_MEM) < 0)
		exit(1);
	uint8_t *mem = mmap(NULL, DMA_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	memset(mem, 5, DMA_MEM);
	struct uvfio_dma_region r = { .vaddr = mem, .iova = DMA_IOVA, .size = DMA_MEM,
				      .prot = UVFIO_DMA_FLAG_READ, .fd = share_fd ? mfd : -1 };
	if (uvfio_client_dma_map(c, &r) < 0)
		exit(1);
	uint64_t n = len;
	/* one warm-up: faults the pages in on both sides */
	uvfio_client_region_write(c, 2, DMA_REG, &n, 8);
	uint64_t t0 = now_ns();
	for (int i = 0; i < reps; i++)
		if (uvfio_client_region_write(c, 2, DMA_REG, &n, 8) < 0)
			exit(1);
	double s = (double)(now_ns() - t0) / 1e9;
	uvfio_client_dma_unmap(c, DMA_IOVA, DMA_MEM);
	munmap(mem, DMA_MEM);
	close(mfd);
	return (double)len * reps / s / 1e9;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

static void many_devices(int cpu_srv, const char *place, size_t iters)
{
	enum { NDEV = 64 };
	int cli[NDEV], srvfd[NDEV];
	for (int i = 0; i < NDEV; i++) {
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
		cli[i] = sv[0];
		srvfd[i] = sv[1];
	}
	pid_t pid = spawn_server(cpu_srv, srvfd, NDEV, SRV_XFER);
	for (int i = 0; i < NDEV; i++)
		close(srvfd[i]);
	struct uvfio_client *c[NDEV];
	struct uvfio_client_config cfg = { .log = { .level = UVFIO_LOG_ERR } };
	for (int i = 0; i < NDEV; i++)
		if (uvfio_client_adopt(cli[i], &cfg, &c[i]) < 0)
			exit(1);
	/* 8 threads, each driving 8 devices round-robin */
	struct stat_ s = threads_run(c, NDEV, 0, 0, 8, iters);
	long rss = rss_kib(pid);
	for (int i = 0; i < NDEV; i++)
		uvfio_client_close(c[i]);
	waitpid(pid, NULL, 0);
	char name[80];
	snprintf(name, sizeof(name), "64 devices, 1 server: %ld KiB RSS/conn", rss / NDEV);
	report_row(name, place, s, "-", 0, NO_GOAL);
}

/* ---- Migration: two uvfio-memdev processes, tools/migrate.c ----------------------------- */

static char memdev_path[4096]; /* empty: the program is not beside this one */

static void find_memdev(void)
{
	ssize_t n = readlink("/proc/self/exe", memdev_path, sizeof(memdev_path) - 16);
	memdev_path[n > 0 ? n : 0] = 0;
	char *slash = strrchr(memdev_path, '/');
	if (slash)
		strcpy(slash + 1, "uvfio-memdev");
	if (!slash || access(memdev_path, X_OK) < 0)
		memdev_path[0] = 0;
}

/* A memdev process on cpu serving the client returned (it exits when the
 * client leaves). */
static struct uvfio_client *spawn_memdev(int cpu, pid_t *pid)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		exit(1);
	fcntl(sv[0], F_SETFD, FD_CLOEXEC);
	*pid = fork();
	if (!*pid) {
		pin(cpu);
		close(sv[0]);
		char fdarg[32];
		snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[1]);
		execl(memdev_path, memdev_path, "--quiet", fdarg, (char *)NULL);
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

/*
 * The physical limit of a stream relayed by a client: total bytes in chunks
 * from a source process through this one to a destination process (two
 * socket hops, as migration data goes), then one byte back.
 */
static double raw_relay_gbps(int cpu_srv, size_t chunk, size_t total)
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

/*
 * Migration of uvfio-memdev (1 MiB of RAM) between two processes on
 * cpu_srv, driven from this one: the stream's throughput beside a raw stream
 * and a raw relay of the same size (measured in turns), and the downtime
 * with everything stopped and copied against the downtime after pre-copy
 * with a given amount of RAM changed before the stop.
 */
static void migration_rows(int cpu_srv, const char *place)
{
	if (!memdev_path[0]) {
		fprintf(stderr, "uvfio-bench: migration rows skipped: no uvfio-memdev beside it\n");
		return;
	}
	pin(0);
	pid_t pid[2];
	struct uvfio_client *c[2] = { spawn_memdev(cpu_srv, &pid[0]),
				      spawn_memdev(cpu_srv, &pid[1]) };
	enum { TURNS = 5 };
	size_t per = quick ? 2 : 40, n = per * TURNS;
	uint64_t *down = malloc(n * sizeof(*down)), bytes = 0, data_ns = 0;
	struct mig_opts o = { 0 }; /* stop-and-copy only */
	struct mig_stats st;
	double raw = 0, relay = 0;
	uint64_t tm = 0;
	for (int k = 0; k < TURNS; k++) {
		uint64_t t = now_ns();
		migrate_n(c, &o, per, down + k * per, &st, &bytes, &data_ns);
		tm += now_ns() - t;
		raw += raw_stream_gbps(cpu_srv, st.chunk, st.bytes, st.bytes) / TURNS;
		relay += raw_relay_gbps(cpu_srv, st.chunk, st.bytes) / TURNS;
	}
	struct stat_ base = summarize(down, n, tm);
	struct stat_ s = { .gbps = (double)bytes / (double)data_ns };
	char name[64];
	snprintf(name, sizeof(name), "raw stream %.0f KiB, 1 hop", (double)st.bytes / 1024);
	report_row(name, place, (struct stat_){ .gbps = raw }, "-", 1, NO_GOAL);
	snprintf(name, sizeof(name), "raw relay %.0f KiB, 2 hops", (double)st.bytes / 1024);
	report_row(name, place, (struct stat_){ .gbps = relay }, "raw stream, 1 hop", relay / raw,
		   NO_GOAL);
	report_row("migration stream, memdev 1 MiB RAM", place, s, "raw stream, 1 hop",
		   s.gbps / raw, GOAL_GE(0.7));
	report_row("migration stream, memdev 1 MiB RAM", place, s, "raw relay, 2 hops",
		   s.gbps / relay, NO_GOAL);
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
	for (int i = 0; i < 2; i++) {
		uvfio_client_close(c[i]);
		waitpid(pid[i], NULL, 0);
	}
}

/* ---- uvfio trace in the path ------------------------------------------------------------- */

/*
 * The latency `uvfio trace` adds: the same synchronous read as the row it is
 * compared with, through the tool (next to this binary) relaying between a
 * listening bench server and the client, printing its lines to /dev/null.
 * The tool runs on the server's CPU.
 */
static void trace_row(int cpu_srv, const char *place, struct stat_ direct, size_t iters)
{
	char exe[4096], tool[4200], dev[64], lis[64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(tool, sizeof(tool), "%s/uvfio", exe);
	if (access(tool, X_OK) < 0)
		return;
	snprintf(dev, sizeof(dev), "/tmp/uvfio-bench-%d.dev", (int)getpid());
	snprintf(lis, sizeof(lis), "/tmp/uvfio-bench-%d.trace", (int)getpid());
	unlink(dev);
	pid_t srv = fork();
	if (!srv) {
		pin(cpu_srv);
		struct bench_dev d = { 0 };
		make_dev(&d, SRV_XFER);
		if (uvfio_server_listen(d.srv, dev) < 0)
			_exit(1);
		uvfio_server_run(d.srv);
		_exit(0);
	}
	pid_t tr = fork();
	if (!tr) {
		pin(cpu_srv);
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(1);
		for (int i = 0; i < 500 && access(dev, F_OK) < 0; i++)
			usleep(10000);
		execl(tool, tool, "trace", "--listen", lis, "--connect", dev, (char *)NULL);
		_exit(1);
	}
	struct uvfio_client *c = NULL;
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .timeout_ms = 30000 };
	for (int i = 0; i < 500 && uvfio_client_connect(lis, &cfg, &c) < 0; i++)
		usleep(10000);
	if (c) {
		struct stat_ s = sync_rows(c, 0, 0, 4, false, iters);
		report_row("REGION_READ 4 B (sync) via uvfio trace", place, s,
			   "the same without it", s.median / direct.median, NO_GOAL);
		uvfio_client_close(c);
	}
	kill(tr, SIGTERM);
	kill(srv, SIGTERM);
	waitpid(tr, NULL, 0);
	waitpid(srv, NULL, 0);
	unlink(dev);
	unlink(lis);
}

/* ---- Main ---------------------------------------------------------------------------------- */

static void run_placement(int cpu_srv, const char *place)
{
	size_t n = quick ? 200 : 20000;
	pin(0);
	pid_t pid;
	struct uvfio_client *c = connect_bench(cpu_srv, &pid, SRV_XFER);
	struct stat_ s = paired(c, cpu_srv, place, "REGION_READ 4 B (sync)", 0, 0, 4, false, n,
				GOAL_LE(1.25));
	struct stat_ sw = paired(c, cpu_srv, place, "REGION_WRITE 4 B (sync)", 0, 0, 4, true, n,
				 NO_GOAL);
	paired(c, cpu_srv, place, "REGION_READ 4 KiB (sync)", 0, 0, 4096, false, n, NO_GOAL);
	trace_row(cpu_srv, place, s, n);
	if (latency_only) {
		finish(c, pid);
		return;
	}
	size_t nbig = quick ? 5 : 200;
	s = sync_rows(c, 0, 0, 1 << 20, false, nbig);
	s.gbps = (double)(1 << 20) * s.ops / 1e9;
	double stream = raw_stream_gbps(cpu_srv, SRV_XFER + 32, (size_t)(64u << 20), 1u << 20);
	char ref[64];
	report_row("REGION_READ 1 MiB (16 x 64 KiB)", place, s, "raw stream 64 KiB chunks",
	    s.gbps / stream, GOAL_GE(0.8));
	size_t np = quick ? 1000 : 200000;
	s = posted_rows(c, 0, 0, np);
	report_row("posted REGION_WRITE 4 B + flush", place, s, "sync REGION_WRITE 4 B", s.ops / sw.ops,
	    GOAL_GE(5));
	finish(c, pid);

	/* coalescing needs the option on */
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	pid = spawn_server(cpu_srv, &sv[1], 1, SRV_XFER);
	close(sv[1]);
	struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR },
					  .coalesce_posted = true };
	if (uvfio_client_adopt(sv[0], &cc, &c) < 0)
		exit(1);
	s = posted_rows(c, 0, 0, np);
	report_row("posted REGION_WRITE 4 B, WRITE_MULTI", place, s, "sync REGION_WRITE 4 B",
	    s.ops / sw.ops, GOAL_GE(10));
	finish(c, pid);

	/* device DMA, in messages of the default max_data_xfer_size (1 MiB) */
	c = connect_bench(cpu_srv, &pid, 0);
	size_t dl = quick ? (1u << 20) : (32u << 20);
	int reps = quick ? 2 : 10;
	double mc = memcpy_gbps(dl, reps);
	struct stat_ d = { .gbps = dma_gbps(c, true, dl, reps) };
	report_row("device DMA, mapped memory", place, d, "memcpy", d.gbps / mc, GOAL_GE(0.9));
	d.gbps = dma_gbps(c, false, dl, reps);
	double st = raw_stream_gbps(cpu_srv, UVFIO_DEFAULT_MAX_DATA_XFER_SIZE + 32, dl * (size_t)reps, dl);
	snprintf(ref, sizeof(ref), "raw stream 1 MiB chunks");
	report_row("device DMA, DMA_READ messages", place, d, ref, d.gbps / st, GOAL_GE(0.7));
	finish(c, pid);

	/* threads on one connection */
	c = connect_bench(cpu_srv, &pid, SRV_XFER);
	struct stat_ one = { 0 };
	for (int t = 1; t <= 8; t *= 2) {
		s = thread_rows(c, 0, 0, t, quick ? 200 : 20000);
		if (t == 1)
			one = s;
		snprintf(ref, sizeof(ref), "%d thread%s, aggregate", t, t > 1 ? "s" : "");
		report_row(ref, place, s, "1 thread", s.ops / one.ops, NO_GOAL);
	}
	finish(c, pid);
	many_devices(cpu_srv, place, quick ? 100 : 5000);
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
		{ "migration", no_argument, NULL, 'M' },
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
		case 'l': latency_only = true; break;
		case 'M': migration_only = true; break;
		case 's': server = optarg; break;
		case 'r': region = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'o': off = strtoull(optarg, NULL, 0); break;
		case 'h':
			puts("uvfio-bench [--quick] [--latency | --migration] [--json | --markdown] "
			     "[--svg FILE] [--check]\n"
			     "uvfio-bench --server SOCKET [--region N] [--offset OFF]\n"
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
	report_start(fmt);
	int r = 0;
	if (server) {
		r = external(server, region, off);
	} else {
		if (!migration_only) {
			run_placement(0, "same");
			if (ncpus > 1)
				run_placement(1, "cross");
		}
		if (!latency_only) {
			/* last: the migration tool's malloc settings (migrate.h) */
			mig_tune_process();
			migration_rows(0, "same");
			if (ncpus > 1)
				migration_rows(1, "cross");
		}
	}
	int missed = report_finish(svg);
	if (missed < 0)
		return 1;
	if (missed)
		fprintf(stderr, "uvfio-bench: %d goal%s missed\n", missed, missed > 1 ? "s" : "");
	return r ? r : check && missed ? 1 : 0;
}
