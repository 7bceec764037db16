/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rows_nvme.c — uvfio-nvme through the userspace NVMe driver
 * (tools/nvme/nvme_drv.c): 4 KiB random reads at queue depth 1 and 32,
 * 128 KiB sequential reads and writes, with doorbells as writes to the
 * register (through the device's ioeventfds) and with shadow doorbells;
 * each beside pread/pwrite of the same sizes and offsets on the same image
 * file, measured in the same run. The driver polls its completion queue
 * (yielding the CPU between looks); memory is shared by memfd. Without
 * shadow doorbells a doorbell is a posted REGION_WRITE; with them (rows
 * ", shadow") it is written to memory, and the register is rung through
 * the device's ioeventfd only when its EventIdx asks (the device polls the
 * shadow doorbells while busy).
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
	ssize_t n = readlink("/proc/self/exe", nvme_path, sizeof(nvme_path) - 16);
	nvme_path[n > 0 ? n : 0] = 0;
	char *slash = strrchr(nvme_path, '/');
	if (slash)
		strcpy(slash + 1, "uvfio-nvme");
	if (!slash || access(nvme_path, X_OK) < 0)
		nvme_path[0] = 0;
}

struct nvme_bench {
	pid_t pid;
	char sock[64];
	struct nvme_drv *d;
};

/* uvfio-nvme on cpu serving img, and the driver on it. */
static int nvme_start(struct nvme_bench *b, int cpu, const char *img, bool shadow)
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
	struct nvme_drv_opts o = { .client = &cc, .shadow = shadow, .io_depth = 64,
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

/* One command at a time: len bytes at each offset. */
static struct stat_ nvme_qd1(struct nvme_drv *d, bool write, const uint64_t *off, size_t n,
			     size_t len)
{
	uint32_t lb = nvme_drv_info(d)->lba_size;
	uint8_t *buf = nvme_drv_alloc(d, len);
	uint64_t *lat = malloc(n * sizeof(*lat)), t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t t = now_ns();
		int st = nvme_drv_rw(d, 1, write ? NVME_CMD_WRITE : NVME_CMD_READ, off[i] / lb,
				     (uint32_t)(len / lb), buf);
		if (st)
			fail(write ? "write" : "read", st);
		lat[i] = now_ns() - t;
	}
	struct stat_ s = summarize(lat, n, now_ns() - t0);
	s.gbps = len >= SEQ ? (double)len * 1e-9 * s.ops : 0;
	free(lat);
	return s;
}

/* qd reads of 4 KiB in flight: a completion's slot is refilled at once. */
static struct stat_ nvme_qd(struct nvme_drv *d, const uint64_t *off, size_t n, unsigned qd)
{
	uint32_t lb = nvme_drv_info(d)->lba_size;
	uint8_t *bufs = nvme_drv_alloc(d, (size_t)qd * 4096);
	uint64_t *lat = malloc(n * sizeof(*lat)), t_sub[1024], t0 = now_ns();
	uint8_t *slot_of[1024];
	size_t sent = 0, done = 0;
	for (unsigned k = 0; k < qd && sent < n; k++, sent++) {
		struct nvme_sqe cmd;
		nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, nvme_drv_info(d)->nsid, off[sent] / lb, 4096 / lb);
		int cid = nvme_drv_submit(d, 1, &cmd, bufs + (size_t)k * 4096, 4096);
		if (cid < 0)
			fail("submit", cid);
		t_sub[cid] = now_ns();
		slot_of[cid] = bufs + (size_t)k * 4096;
	}
	while (done < n) {
		struct nvme_cqe c[64];
		int got = nvme_drv_reap(d, 1, c, 64, true);
		if (got < 0)
			fail("reap", got);
		for (int i = 0; i < got; i++) {
			if (c[i].status >> 1)
				fail("read", c[i].status >> 1);
			uint64_t t = now_ns();
			lat[done++] = t - t_sub[c[i].cid];
			if (sent == n)
				continue;
			uint8_t *b = slot_of[c[i].cid];
			struct nvme_sqe cmd;
			nvme_drv_rw_cmd(&cmd, NVME_CMD_READ, nvme_drv_info(d)->nsid, off[sent] / lb,
					4096 / lb);
			int cid = nvme_drv_submit(d, 1, &cmd, b, 4096);
			if (cid < 0)
				fail("submit", cid);
			sent++;
			t_sub[cid] = now_ns();
			slot_of[cid] = b;
		}
	}
	struct stat_ s = summarize(lat, n, now_ns() - t0);
	free(lat);
	return s;
}

/* The reference: pread/pwrite of the same sizes at the same offsets. */
static struct stat_ file_qd1(int fd, bool write, const uint64_t *off, size_t n, size_t len)
{
	uint8_t *buf = malloc(len);
	memset(buf, 3, len);
	uint64_t *lat = malloc(n * sizeof(*lat)), t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t t = now_ns();
		ssize_t r = write ? pwrite(fd, buf, len, (off_t)off[i]) : pread(fd, buf, len, (off_t)off[i]);
		if (r != (ssize_t)len)
			fail(write ? "pwrite" : "pread", (int)r);
		lat[i] = now_ns() - t;
	}
	struct stat_ s = summarize(lat, n, now_ns() - t0);
	s.gbps = len >= SEQ ? (double)len * 1e-9 * s.ops : 0;
	free(buf);
	free(lat);
	return s;
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
	struct stat_ r4 = file_qd1(fd, false, rnd, n, 4096);
	struct stat_ rs = file_qd1(fd, false, seq, ns, SEQ);
	struct stat_ ws = file_qd1(fd, true, seq, ns, SEQ);
	report_row("pread 4 KiB random", place, r4, "-", 0, NO_GOAL);
	report_row("pread 128 KiB sequential", place, rs, "-", 0, NO_GOAL);
	report_row("pwrite 128 KiB sequential", place, ws, "-", 0, NO_GOAL);
	for (int shadow = 0; shadow < 2; shadow++) {
		struct nvme_bench b;
		if (nvme_start(&b, cpu_srv, img, shadow) < 0)
			break;
		const char *sfx = shadow ? ", shadow" : "";
		char name[80];
		struct stat_ s = nvme_qd1(b.d, false, rnd, n, 4096);
		snprintf(name, sizeof(name), "NVMe 4 KiB random read QD1%s", sfx);
		report_row(name, place, s, "pread 4 KiB", s.ops / r4.ops, NO_GOAL);
		s = nvme_qd(b.d, rnd, n, 32);
		snprintf(name, sizeof(name), "NVMe 4 KiB random read QD32%s", sfx);
		report_row(name, place, s, "pread 4 KiB", s.ops / r4.ops, NO_GOAL);
		s = nvme_qd1(b.d, false, seq, ns, SEQ);
		snprintf(name, sizeof(name), "NVMe 128 KiB sequential read%s", sfx);
		report_row(name, place, s, "pread 128 KiB", s.gbps / rs.gbps, NO_GOAL);
		s = nvme_qd1(b.d, true, seq, ns, SEQ);
		snprintf(name, sizeof(name), "NVMe 128 KiB sequential write%s", sfx);
		report_row(name, place, s, "pwrite 128 KiB", s.gbps / ws.gbps, NO_GOAL);
		nvme_stop(&b);
	}
	free(rnd);
	free(seq);
	close(fd);
	unlink(img);
}
