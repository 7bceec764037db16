/* SPDX-License-Identifier: BSD-3-Clause */
/* rows_trace.c — the latency `uvfio trace` adds in the path. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "uvfio/client.h"
#include "uvfio/server.h"

/*
 * The latency `uvfio trace` adds: the same synchronous read as the row it is
 * compared with, through the tool (next to this binary) relaying between a
 * listening bench server and the client, printing its lines to /dev/null.
 * The tool runs on the server's CPU.
 */
void trace_row(int cpu_srv, const char *place, struct stat_ direct, size_t iters)
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
		struct uvfio_server *s = bench_dev_make(SRV_XFER);
		if (uvfio_server_listen(s, dev) < 0)
			_exit(1);
		uvfio_server_run(s);
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
