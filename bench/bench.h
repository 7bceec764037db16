/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench.h — what uvfio-bench's files share: the options, the clock and
 * statistics (util.c), the bench device (dev.c), the physical references
 * (refs.c), the families of rows (rows*.c) and the report (report.c).
 */
#ifndef UVFIO_BENCH_H
#define UVFIO_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct uvfio_client;
struct uvfio_client_config;

/* ---- Options (main.c) ---------------------------------------------------------- */

extern bool quick;          /* --quick: a smoke pass, a few iterations per row */
extern int ncpus;

/* ---- Measuring (util.c) -------------------------------------------------------- */

struct stat_ {
	double ops;    /* per second */
	double median; /* us */
	double p99;    /* us */
	double gbps;   /* for bandwidth rows */
};

uint64_t now_ns(void);
/* Pin the calling thread (and what it forks) to one CPU. */
void pin(int cpu);
/* The median of n values (sorted in place). */
double median_of(double *v, size_t n);
/* Rate, median and 99th percentile of n latencies (sorted in place) taken
 * over total_ns. */
struct stat_ summarize(uint64_t *lat, size_t n, uint64_t total_ns);
/* Large buffers are mapped apart from the heap, which would otherwise keep
 * them (and servers forked later would count them in their RSS). Touched. */
char *big_alloc(size_t len);

/* ---- The bench device (dev.c) --------------------------------------------------- */

#define BAR_SIZE (1u << 20)
#define SRV_XFER (64u << 10) /* the bench server's max_data_xfer_size */
#define DMA_IOVA (1ull << 32)
#define DMA_REG 0x0 /* BAR2 register: write N to make the device read N bytes */
#define DMA_MEM (64u << 20)
/* The client's post_delay_us in the rows of buffered posted writes. */
#define POST_DELAY_US 100u
/* BAR2 register whose 4-byte writes of DOORBELL_VAL are the device's
 * doorbell: an ioeventfd, also rung by a REGION_WRITE that matches it. */
#define DOORBELL_OFF 0x100
#define DOORBELL_VAL 0x1u
/* What the device's doorbell handler saw, in memory shared with the bench
 * device processes (made before they are forked): rings counted, the time
 * of the last call; doorbell_done is signalled at each call. */
struct doorbell_log {
	uint64_t rings;
	uint64_t t_ns;
};
extern volatile struct doorbell_log *doorbell;
extern int doorbell_done;
/* Before forking any device: the doorbell log. */
void bench_dev_init(void);

struct uvfio_server;
/* The poll_us the polling rows give clients and servers. */
#define POLL_US 50u
/* The poll_us of the bench devices made from now on (0: polling off). */
extern uint32_t bench_srv_poll_us;
/* A bench device (a server context) with the given max_data_xfer_size. */
struct uvfio_server *bench_dev_make(uint32_t xfer);
/* Fork a server process on cpu serving ndev devices, one per socket in fds;
 * it exits when its clients leave. */
pid_t spawn_server(int cpu, int *fds, int ndev, uint32_t xfer);
/* A bench device process on cpu_srv and a client of it (cfg: NULL for the
 * bench's defaults). */
struct uvfio_client *connect_bench(int cpu_srv, pid_t *pid, uint32_t xfer,
				   const struct uvfio_client_config *cfg);
void finish(struct uvfio_client *c, pid_t pid);
long rss_kib(pid_t pid);

/* ---- Physical references (refs.c) ------------------------------------------------ */

/* A raw ping-pong partner: req bytes one way, rep bytes back, no protocol. */
struct raw {
	int fd;
	pid_t pid;
	size_t req, rep;
	char *buf;
	bool spin; /* both ends poll the socket instead of blocking */
};

void raw_start(struct raw *r, int cpu_srv, size_t req, size_t rep);
/* The same with both ends spinning on the socket (yielding the CPU between
 * tries) instead of blocking: the bound of polling mode. */
void raw_start_spin(struct raw *r, int cpu_srv, size_t req, size_t rep, bool spin);
void raw_run(struct raw *r, uint64_t *lat, size_t iters);
void raw_stop(struct raw *r);
struct stat_ raw_pingpong(int cpu_srv, size_t req, size_t rep, size_t iters);
double raw_stream_gbps(int cpu_srv, size_t chunk, size_t total, size_t span);
double raw_relay_gbps(int cpu_srv, size_t chunk, size_t total);
/* memcpy of len bytes from a shared memfd mapping (the memory a device
 * reads by DMA) into the heap, reps times, on cpu (then back on CPU 0) */
double memcpy_gbps(int cpu, size_t len, int reps);
/* Signals of an eventfd to a process waiting in epoll: rate of n, latency
 * of nl one at a time (the bound of a doorbell rung through an eventfd). */
struct stat_ raw_eventfd(int cpu_srv, size_t n, size_t nl);

/* ---- The report (report.c) ---------------------------------------------------------- */

/* A goal on a row's ratio: at most (GOAL_LE) or at least (GOAL_GE) limit. */
struct goal {
	char op; /* 0: none, '<': ratio <= limit, '>': ratio >= limit */
	double limit;
	/* > 0: the same ratio taken by the physical-limit reference in this
	 * run, printed with a MISSED verdict when it misses the goal too */
	double bound;
};
#define NO_GOAL ((struct goal){ 0, 0, 0 })
#define GOAL_LE(x) ((struct goal){ '<', (x), 0 })
#define GOAL_GE(x) ((struct goal){ '>', (x), 0 })
#define GOAL_GE_BOUND(x, b) ((struct goal){ '>', (x), (b) })

enum report_format { REPORT_TEXT, REPORT_JSON, REPORT_MARKDOWN };

void report_start(enum report_format fmt);
/* Whether the report is the text table (not --json or --markdown). */
bool report_is_text(void);
/* One measured row: printed at once as text (JSON and Markdown at the
 * end); ratio <= 0 means the row has none. */
void report_row(const char *name, const char *place, struct stat_ s, const char *ref,
		double ratio, struct goal goal);
/* Print what waits for the end (JSON, Markdown), write the SVG chart when
 * svg_path is set. Returns the number of goals missed. */
int report_finish(const char *svg_path);

/* ---- Rows ---------------------------------------------------------------------------- */

/* rows.c: synchronous, posted, device DMA, threads, many devices */
struct stat_ sync_rows(struct uvfio_client *c, uint32_t region, uint64_t off, size_t len,
		       bool write, size_t iters);
/* iters synchronous requests, their latencies into lat */
void sync_run(struct uvfio_client *c, uint32_t region, uint64_t off, uint8_t *buf, size_t len,
	      bool write, uint64_t *lat, size_t iters);
/* rows_poll.c: polling mode against blocking, the raw polling ping-pong,
 * CPU per request, idle CPU */
void polling_rows(int cpu_srv, const char *place);
/* A synchronous row and its raw ping-pong reference, measured in turns;
 * both printed. Returns the measured row. */
struct stat_ paired(struct uvfio_client *c, int cpu_srv, const char *place, const char *name,
		    uint32_t region, uint64_t off, size_t len, bool write, size_t iters,
		    struct goal goal);
/* REGION_READ/WRITE of 1 MiB in pieces, beside the raw stream. */
void bulk_rows(struct uvfio_client *c, int cpu_srv, const char *place);
struct stat_ posted_rows(struct uvfio_client *c, uint32_t region, uint64_t off, size_t iters);
struct stat_ thread_rows(struct uvfio_client *c, uint32_t region, uint64_t off, int n,
			 size_t iters);
double dma_gbps(struct uvfio_client *c, bool share_fd, size_t len, int reps);
void many_devices(int cpu_srv, const char *place, size_t iters);

/* rows_doorbell.c: doorbells through an ioeventfd against posted writes */
void doorbell_rows(int cpu_srv, const char *place);

/* rows_mig.c: migration between two uvfio-memdev processes */
/* path (size bytes) := the program prog beside uvfio-bench's own
 * executable, or "" when there is none. */
void bench_sibling(char *path, size_t size, const char *prog);
void find_memdev(void);
void migration_rows(int cpu_srv, const char *place);

/* rows_nvme.c: uvfio-nvme through the userspace NVMe driver, beside
 * pread/pwrite on its image file */
void find_nvme(void);
void nvme_rows(int cpu_srv, const char *place);

/* rows_trace.c: uvfio trace in the path */
void trace_row(int cpu_srv, const char *place, struct stat_ direct, size_t iters);

#endif
