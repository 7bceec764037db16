/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rows_nvme.c — uvfio-nvme through the userspace NVMe driver
 * (tools/nvme/nvme_drv.c): 4 KiB random reads at queue depth 1 and 32,
 * 128 KiB sequential reads and writes, each beside pread/pwrite of the same
 * sizes and offsets on the same image file, measured in turns with it
 * (eight rounds, alternating which goes first; the ratio of rates is the
 * median of the rounds'). Three ways of driving the device: doorbells as
 * posted REGION_WRITEs, the driver polling its completion queue (yielding
 * the CPU between looks); shadow doorbells (rows ", shadow": doorbells
 * written to memory, which the device polls while busy, the register rung
 * through its ioeventfd only when its EventIdx asks); and shadow doorbells
 * with completions waited for on the queue's MSI-X vector (an eventfd), as
 * a guest's driver does. Memory is shared by memfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "nvme_drv.h"

#define IMG_SIZE (64u << 20)
#define SEQ (128u << 10)

static char nvme_path[4096];

void find_nvme(void)
{
	bench_sibling(nvme_path, sizeof(nvme_path), "uvfio-nvme");
}

struct nvme_bench {
	pid_t pid;
	char sock[64];
	struct nvme_drv *d;
};

/* uvfio-nvme on cpu serving img, and the driver on it. */
static int nvme_start(struct nvme_bench *b, int cpu, const char *img, bool shadow, bool irq)
{
	snprintf(b->sock, sizeof(b->sock), "/tmp/uvfio-bench-nvme-%d.sock", getpid());
	unlink(b->sock);
	b->pid = fork();
	if (!b->pid) {
		pin(cpu);
		char file[4200];
		snprintf(file, sizeof(file), "--file=%s", img);
		execl(nvme_path, nvme_path, "--quiet", file, b->sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(b->sock, F_OK) < 0; i++)
		usleep(10000);
	struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR }, .timeout_ms = 30000,
					  .use_ioeventfds = shadow };
	struct nvme_drv_opts o = { .client = &cc, .shadow = shadow, .irq = irq, .io_depth = 64,
				   .max_xfer = SEQ, .mem_size = 32u << 20 };
	int r = nvme_drv_open(b->sock, &o, &b->d);
	if (r < 0) {
		fprintf(stderr, "uvfio-bench: cannot drive uvfio-nvme: %s\n", strerror(-r));
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		return r;
	}
	if (shadow && !nvme_drv_info(b->d)->shadow) {
		fprintf(stderr, "uvfio-bench: uvfio-nvme offers no shadow doorbells\n");
		exit(1);
	}
	return 0;
}

static void nvme_stop(struct nvme_bench *b)
{
	nvme_drv_close(b->d);
	kill(b->pid, SIGTERM);
	waitpid(b->pid, NULL, 0);
}

static void fail(const char *what, int st)
{
	fprintf(stderr, "uvfio-bench: NVMe %s failed: %d\n", what, st);
	exit(1);
}

/* Random 4 KiB-aligned offsets within the image. */
static uint64_t *offsets(size_t n, uint32_t seed)
{
	uint64_t *o = malloc(n * sizeof(*o));
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		o[i] = (uint64_t)((seed >> 8) % (IMG_SIZE / 4096)) * 4096;
	}
	return o;
}

/* What one measurement runs: a command kind on the driver (qd commands in
 * flight), or pread/pwrite on the file (d NULL). */
struct run {
	struct nvme_drv *d;
	uint8_t *buf; /* the driver's: qd * len bytes of its memory */
	int fd;
	bool write;
	size_t len;
	unsigned qd;
};

/* One command at a time, len bytes at each offset; latencies into lat.
 * Returns the time taken. */
static uint64_t nvme_qd1(const struct run *r, const uint64_t *off, size_t n, uint64_t *lat)
{
	uint32_t lb = nvme_drv_info(r->d)->lba_size;
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t t = now_ns();
		int st = nvme_drv_rw(r->d, 1, r->write ? NVME_CMD_WRITE : NVME_CMD_READ, off[i] / lb,
				     (uint32_t)(r->len / lb), r->buf);
		if (st)
			fail(r->write ? "write" : "read", st);
		lat[i] = now_ns() - t;
	}
	return now_ns() - t0;
}

/* r->qd reads in flight: a completion's slot is refilled at once. */
static uint64_t nvme_qd(const struct run *r, const uint64_t *off, size_t n, uint64_t *lat)
{
	struct nvme_drv *d = r->d;
	uint32_t lb = nvme_drv_info(d)->lba_size, nsid = nvme_drv_info(d)->nsid;
	uint64_t t_sub[1024], t0 = now_ns();
	uint8_t *slot_of[1024];
	size_t sent = 0, done = 0;
	for (unsigned k = 0; k < r->qd && sent < n; k++, sent++) {
		struct nvme_sqe cmd;
		nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, nsid, off[sent] / lb, (uint32_t)(r->len / lb));
		uint8_t *b = r->buf + (size_t)k * r->len;
		int cid = nvme_drv_submit(d, 1, &cmd, b, r->len);
		if (cid < 0)
			fail("submit", cid);
		t_sub[cid] = now_ns();
		slot_of[cid] = b;
	}
	while (done < n) {
		struct nvme_cqe c[64];
		int got = nvme_drv_reap(d, 1, c, 64, true);
		if (got < 0)
			fail("reap", got);
		for (int i = 0; i < got; i++) {
			if (c[i].status >> 1)
				fail("read", c[i].status >> 1);
			if (c[i].cid >= 1024)
				fail("completion of no command", c[i].cid);
			lat[done++] = now_ns() - t_sub[c[i].cid];
			if (sent == n)
				continue;
			uint8_t *b = slot_of[c[i].cid];
			struct nvme_sqe cmd;
			nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, nsid, off[sent] / lb, (uint32_t)(r->len / lb));
			int cid = nvme_drv_submit(d, 1, &cmd, b, r->len);
			if (cid < 0)
				fail("submit", cid);
			sent++;
			t_sub[cid] = now_ns();
			slot_of[cid] = b;
		}
	}
	return now_ns() - t0;
}

/* The reference: pread/pwrite of the same sizes at the same offsets. */
static uint64_t file_qd1(const struct run *r, const uint64_t *off, size_t n, uint64_t *lat)
{
	uint8_t *buf = malloc(r->len);
	memset(buf, 3, r->len);
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t t = now_ns();
		ssize_t k = r->write ? pwrite(r->fd, buf, r->len, (off_t)off[i])
				     : pread(r->fd, buf, r->len, (off_t)off[i]);
		if (k != (ssize_t)r->len)
			fail(r->write ? "pwrite" : "pread", (int)k);
		lat[i] = now_ns() - t;
	}
	free(buf);
	return now_ns() - t0;
}

static uint64_t run(const struct run *r, const uint64_t *off, size_t n, uint64_t *lat)
{
	return !r->d ? file_qd1(r, off, n, lat) : r->qd > 1 ? nvme_qd(r, off, n, lat)
							    : nvme_qd1(r, off, n, lat);
}

static struct stat_ stats(uint64_t *lat, size_t n, uint64_t ns, size_t len)
{
	struct stat_ s = summarize(lat, n, ns);
	s.gbps = len >= SEQ ? (double)len * 1e-9 * s.ops : 0;
	return s;
}

/* The row and its reference measured in turns over the offsets (the
 * reference first in even rounds, last in odd ones), so that both see the
 * same machine; the ratio (of rates) is the median of the rounds'. With
 * ref_name, the reference's own row is printed too. */
static void turns(const char *place, const char *name, const struct run *nv, const struct run *ref,
		  const char *ref_name, const uint64_t *off, size_t n)
{
	enum { ROUNDS = 8 };
	size_t per = n / ROUNDS;
	uint64_t *ln = malloc(n * sizeof(*ln)), *lr = malloc(n * sizeof(*lr)), tn = 0, tr = 0;
	double ratio[ROUNDS];
	for (size_t k = 0; k < ROUNDS; k++) {
		const uint64_t *o = off + k * per;
		uint64_t a, b;
		if (k % 2) {
			a = run(nv, o, per, ln + k * per);
			b = run(ref, o, per, lr + k * per);
		} else {
			b = run(ref, o, per, lr + k * per);
			a = run(nv, o, per, ln + k * per);
		}
		tn += a;
		tr += b;
		ratio[k] = (double)b / (double)a;
	}
	const char *ref_row = ref->write ? "pwrite" : "pread";
	char rn[40];
	snprintf(rn, sizeof(rn), "%s %zu KiB", ref_row, ref->len >> 10);
	if (ref_name)
		report_row(ref_name, place, stats(lr, ROUNDS * per, tr, ref->len), "-", 0, NO_GOAL);
	report_row(name, place, stats(ln, ROUNDS * per, tn, nv->len), rn,
		   median_of(ratio, ROUNDS), NO_GOAL);
	free(ln);
	free(lr);
}

void nvme_rows(int cpu_srv, const char *place)
{
	if (!nvme_path[0]) {
		fprintf(stderr, "uvfio-bench: no uvfio-nvme beside uvfio-bench: no NVMe rows\n");
		return;
	}
	char img[] = "/tmp/uvfio-bench-nvme-XXXXXX";
	int fd = mkstemp(img);
	if (fd < 0 || ftruncate(fd, IMG_SIZE) < 0)
		fail("image", -errno);
	/* data in every block, so that reads are of written pages */
	uint8_t *chunk = malloc(1u << 20);
	memset(chunk, 0x5a, 1u << 20);
	for (uint64_t o = 0; o < IMG_SIZE; o += 1u << 20)
		if (pwrite(fd, chunk, 1u << 20, (off_t)o) != 1 << 20)
			fail("image", -errno);
	free(chunk);

	size_t n = quick ? 200 : 20000, ns = quick ? 50 : 2000;
	uint64_t *rnd = offsets(n, 7), *seq = malloc(ns * sizeof(*seq));
	for (size_t i = 0; i < ns; i++)
		seq[i] = (i * SEQ) % IMG_SIZE;
	/* doorbells by message; shadow doorbells; shadow doorbells and
	 * completions waited for on MSI-X, as a guest's driver does */
	static const struct {
		bool shadow, irq;
		const char *sfx;
	} ways[] = { { false, false, "" }, { true, false, ", shadow" }, { true, true, ", shadow, MSI-X" } };
	struct run r4 = { .fd = fd, .len = 4096 }, rs = { .fd = fd, .len = SEQ },
		   ws = { .fd = fd, .write = true, .len = SEQ };
	for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++) {
		struct nvme_bench b;
		if (nvme_start(&b, cpu_srv, img, ways[w].shadow, ways[w].irq) < 0)
			break;
		const char *sfx = ways[w].sfx;
		bool first = w == 0; /* the reference rows are printed once */
		uint8_t *buf = nvme_drv_alloc(b.d, 32 * 4096 > SEQ ? 32 * 4096 : SEQ);
		char name[80];
		struct run nv = { .d = b.d, .buf = buf, .len = 4096, .qd = 1 };
		snprintf(name, sizeof(name), "NVMe 4 KiB rand read QD1%s", sfx);
		turns(place, name, &nv, &r4, first ? "pread 4 KiB random" : NULL, rnd, n);
		nv.qd = 32;
		snprintf(name, sizeof(name), "NVMe 4 KiB rand read QD32%s", sfx);
		turns(place, name, &nv, &r4, NULL, rnd, n);
		nv = (struct run){ .d = b.d, .buf = buf, .len = SEQ, .qd = 1 };
		snprintf(name, sizeof(name), "NVMe 128 KiB seq read%s", sfx);
		turns(place, name, &nv, &rs, first ? "pread 128 KiB sequential" : NULL, seq, ns);
		nv.write = true;
		snprintf(name, sizeof(name), "NVMe 128 KiB seq write%s", sfx);
		turns(place, name, &nv, &ws, first ? "pwrite 128 KiB sequential" : NULL, seq, ns);
		nvme_stop(&b);
	}
	free(rnd);
	free(seq);
	close(fd);
	unlink(img);
}
