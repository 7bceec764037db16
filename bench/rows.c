/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rows.c — uvfio-bench's client rows: synchronous requests beside their raw
 * ping-pong, posted writes, device DMA, threads on one connection, many
 * devices in one server.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "uvfio/client.h"

void sync_run(struct uvfio_client *c, uint32_t region, uint64_t off, uint8_t *buf,
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

struct stat_ sync_rows(struct uvfio_client *c, uint32_t region, uint64_t off, size_t len,
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
struct stat_ paired(struct uvfio_client *c, int cpu_srv, const char *place,
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
 * REGION_READ and REGION_WRITE of 1 MiB: 16 pieces of the bench server's
 * max_data_xfer_size (64 KiB) in flight together, beside the raw stream of
 * the same bytes in 64 KiB chunks through a 1 MiB buffer (the rows' own
 * footprint), measured in turns: ten of 20 MiB each, the stream first in
 * one turn and last in the next, the ratio the median of the turns' ratios (across CPUs the stream's rate moved between 5.7 and
 * 9.4 GB/s from one minute to the next). Each turn of each starts with one
 * 1 MiB transfer outside the clock: the first after a switch of turns took 2
 * to 3 times a usual one (it is in the p99 column when timed).
 */
/* The raw stream of mib MiB in the rows' chunks and footprint. */
static double stream(int cpu_srv, size_t mib)
{
	return raw_stream_gbps(cpu_srv, SRV_XFER + 32, mib << 20, 1u << 20);
}

void bulk_rows(struct uvfio_client *c, int cpu_srv, const char *place)
{
	enum { TURNS = 10 };
	size_t per = quick ? 2 : 20, n = per * TURNS;
	char *buf = big_alloc(1u << 20);
	uint64_t *lr = malloc(n * sizeof(*lr)), *lw = malloc(n * sizeof(*lw)), tr = 0, tw = 0;
	double raw[TURNS], rr[TURNS], rw[TURNS];
	for (int k = 0; k < TURNS; k++) {
		/* the stream first in even turns, last in odd ones: no order
		 * favours either */
		if (!(k & 1))
			raw[k] = stream(cpu_srv, per);
		uint64_t warm;
		sync_run(c, 0, 0, (uint8_t *)buf, 1u << 20, false, &warm, 1);
		uint64_t t0 = now_ns();
		sync_run(c, 0, 0, (uint8_t *)buf, 1u << 20, false, lr + k * per, per);
		uint64_t t1 = now_ns();
		sync_run(c, 0, 0, (uint8_t *)buf, 1u << 20, true, &warm, 1);
		uint64_t t2 = now_ns();
		sync_run(c, 0, 0, (uint8_t *)buf, 1u << 20, true, lw + k * per, per);
		uint64_t t3 = now_ns();
		if (k & 1)
			raw[k] = stream(cpu_srv, per);
		tr += t1 - t0;
		tw += t3 - t2;
		rr[k] = (double)(per << 20) / (double)(t1 - t0) / raw[k];
		rw[k] = (double)(per << 20) / (double)(t3 - t2) / raw[k];
	}
	struct stat_ sr = summarize(lr, n, tr), sw = summarize(lw, n, tw);
	sr.gbps = (double)(n << 20) / (double)tr;
	sw.gbps = (double)(n << 20) / (double)tw;
	report_row("raw stream, 64 KiB chunks", place,
		   (struct stat_){ .gbps = median_of(raw, TURNS) }, "-", 1, NO_GOAL);
	report_row("REGION_READ 1 MiB (16 x 64 KiB)", place, sr, "raw stream above",
		   median_of(rr, TURNS), GOAL_GE(0.8));
	report_row("REGION_WRITE 1 MiB (16 x 64 KiB)", place, sw, "raw stream above",
		   median_of(rw, TURNS), NO_GOAL);
	munmap(buf, 1u << 20);
	free(lr);
	free(lw);
}

/*
 * Posted writes, timed until the device has applied every one: a flush (every
 * write acknowledged, gathered ones sent first), then a read-back of the last
 * value written.
 */
struct stat_ posted_rows(struct uvfio_client *c, uint32_t region, uint64_t off,
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

struct stat_ thread_rows(struct uvfio_client *c, uint32_t region, uint64_t off, int n,
				size_t iters)
{
	return threads_run(&c, 1, region, off, n, iters);
}

double dma_gbps(struct uvfio_client *c, bool share_fd, size_t len, int reps)
{
	int mfd = memfd_create("bench-dma", MFD_CLOEXEC);
	if (ftruncate(mfd, DMA_MEM) < 0)
		exit(1);
	uint8_t *mem = mmap(NULL, DMA_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	memset(mem, 5, DMA_MEM);
	struct uvfio_dma_region r = { .vaddr = mem, .iova = DMA_IOVA, .size = DMA_MEM,
				      .prot = UVFIO_DMA_FLAG_READ, .fd = share_fd ? mfd : -1 };
	if (uvfio_client_dma_map(c, &r) < 0 || uvfio_client_bus_master(c, true) < 0)
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


void many_devices(int cpu_srv, const char *place, size_t iters)
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
