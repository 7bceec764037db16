/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dev.c — uvfio-bench's device: a server process with a 1 MiB memory BAR0
 * and a BAR2 register that makes the device DMA, forked pinned to a CPU and
 * serving one or many clients over socket pairs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "uvfio/client.h"
#include "uvfio/server.h"

volatile struct doorbell_log *doorbell;
int doorbell_done = -1;

void bench_dev_init(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || (doorbell_done = eventfd(0, EFD_CLOEXEC)) < 0) {
		perror("uvfio-bench: doorbell log");
		exit(1);
	}
	doorbell = p;
}

/* The device's doorbell handler: rung through its ioeventfd, or by a
 * REGION_WRITE that matches it. */
static int doorbell_fn(void *opaque, const struct uvfio_ioevent *ev)
{
	(void)opaque;
	doorbell->t_ns = now_ns();
	__atomic_add_fetch(&doorbell->rings, ev->count, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(doorbell_done, &one, sizeof(one)) != sizeof(one))
		return -errno;
	return 0;
}

struct bench_dev {
	struct uvfio_server *srv;
	uint8_t *buf; /* where the device's DMA reads land */
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

uint32_t bench_srv_poll_us;

static struct uvfio_server *make_dev(struct bench_dev *d, uint32_t xfer)
{
	struct uvfio_server_config cfg = { .log = { .level = UVFIO_LOG_ERR }, .opaque = d,
					   .max_data_xfer_size = xfer,
					   .poll_us = bench_srv_poll_us };
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
	uvfio_server_add_ioeventfd(d->srv, 2, DOORBELL_OFF, 4, UVFIO_IOEVENTFD_DATAMATCH,
				   DOORBELL_VAL, doorbell_fn);
	return d->srv;
}

struct uvfio_server *bench_dev_make(uint32_t xfer)
{
	struct bench_dev *d = calloc(1, sizeof(*d));
	if (!d)
		exit(1);
	return make_dev(d, xfer);
}

pid_t spawn_server(int cpu, int *fds, int ndev, uint32_t xfer)
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

struct uvfio_client *connect_bench(int cpu_srv, pid_t *pid, uint32_t xfer,
				   const struct uvfio_client_config *cfg)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	*pid = spawn_server(cpu_srv, &sv[1], 1, xfer);
	close(sv[1]);
	struct uvfio_client *c;
	struct uvfio_client_config def = { .log = { .level = UVFIO_LOG_ERR }, .timeout_ms = 30000 };
	if (uvfio_client_adopt(sv[0], cfg ? cfg : &def, &c) < 0) {
		fprintf(stderr, "uvfio-bench: cannot connect to the bench server\n");
		exit(1);
	}
	return c;
}

void finish(struct uvfio_client *c, pid_t pid)
{
	uvfio_client_close(c);
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

long rss_kib(pid_t pid)
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
