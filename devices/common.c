/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static const char *dev_name = "device";
static int dev_level = UVFIO_LOG_INFO;
static struct uvfio_server *running;

static void log_fn(void *opaque, int level, const char *line)
{
	(void)opaque;
	static const char *names[] = { [3] = "error", [4] = "warning", [6] = "info",
				       [7] = "debug", [8] = "trace" };
	fprintf(stderr, "%s: %s: %s\n", dev_name, level >= 3 && level <= 8 && names[level]
							   ? names[level] : "log", line);
}

void dev_log_line(int level, const char *fmt, ...)
{
	if (level > dev_level)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_fn(NULL, level, line);
}

struct uvfio_log_config dev_log(const char *name, int level)
{
	dev_name = name;
	dev_level = level;
	return (struct uvfio_log_config){ .fn = log_fn, .level = level,
					  .trace = level >= UVFIO_LOG_TRACE };
}

static void usage(FILE *f, const char *name, const char *what)
{
	fprintf(f,
		"Usage: %s [OPTIONS] SOCKET\n"
		"       %s [OPTIONS] --socket-path=SOCKET | --fd=FD\n"
		"%s\n\n"
		"  --socket-path=PATH  listen on this UNIX socket (removed on exit)\n"
		"  --fd=FD             serve the client already connected on FD\n"
		"  --dma-layout=L      DMA_READ/DMA_WRITE messages in the specification's layout\n"
		"                      (spec), in QEMU's (qemu), or decided from the client's\n"
		"                      VERSION (auto, the default: QEMU's for version 0.0)\n"
		"  --poll-us=US        polling mode: spin up to US microseconds (at most 1000)\n"
		"                      for the client's next message before blocking (costs\n"
		"                      CPU while the client is busy, none while it is idle)\n"
		"  -v, --verbose       log more: -v for debug, -vv to trace every message\n"
		"  -q, --quiet         log only errors\n"
		"  -h, --help          this text\n"
		"Stops cleanly on SIGINT or SIGTERM.\n",
		name, name, what);
}

void dev_parse_args(int argc, char **argv, const char *name, const char *what,
		    struct dev_args *a)
{
	static const struct option lo[] = {
		{ "socket-path", required_argument, NULL, 'S' },
		{ "fd", required_argument, NULL, 'F' },
		{ "dma-layout", required_argument, NULL, 'D' },
		{ "poll-us", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	a->socket_path = NULL;
	a->fd = -1;
	a->log_level = UVFIO_LOG_INFO;
	a->dma_layout = UVFIO_DMA_LAYOUT_AUTO;
	a->poll_us = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "vqh", lo, NULL)) != -1) {
		switch (ch) {
		case 'S': a->socket_path = optarg; break;
		case 'F': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 1 << 20) {
				fprintf(stderr, "%s: --fd takes a descriptor number\n", name);
				exit(2);
			}
			a->fd = (int)v;
			break;
		}
		case 'P': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v > 1000) {
				fprintf(stderr, "%s: --poll-us takes microseconds, 0 to 1000\n", name);
				exit(2);
			}
			a->poll_us = (uint32_t)v;
			break;
		}
		case 'D':
			if (!strcmp(optarg, "auto") || !strcmp(optarg, "spec") ||
			    !strcmp(optarg, "qemu")) {
				a->dma_layout = optarg[0] == 'a'   ? UVFIO_DMA_LAYOUT_AUTO
						: optarg[0] == 's' ? UVFIO_DMA_LAYOUT_SPEC
								   : UVFIO_DMA_LAYOUT_QEMU;
				break;
			}
			fprintf(stderr, "%s: --dma-layout takes auto, spec or qemu\n", name);
			exit(2);
		case 'v': a->log_level = a->log_level < UVFIO_LOG_DEBUG ? UVFIO_LOG_DEBUG
									: UVFIO_LOG_TRACE;
			break;
		case 'q': a->log_level = UVFIO_LOG_ERR; break;
		case 'h': usage(stdout, name, what); exit(0);
		default: usage(stderr, name, what); exit(2);
		}
	}
	if (optind < argc && !a->socket_path)
		a->socket_path = argv[optind++];
	if (optind < argc || (!a->socket_path) == (a->fd < 0)) {
		usage(stderr, name, what);
		exit(2);
	}
}

int dev_setup_err_req(struct uvfio_server *s)
{
	int r = uvfio_server_setup_irq(s, VFIO_PCI_ERR_IRQ_INDEX, 1);
	return r < 0 ? r : uvfio_server_setup_irq(s, VFIO_PCI_REQ_IRQ_INDEX, 1);
}

static void on_signal(int sig)
{
	(void)sig;
	if (running)
		uvfio_server_stop(running); /* async-signal-safe */
}

int dev_serve(struct uvfio_server *s, const struct dev_args *a, const char *name)
{
	int r = a->fd >= 0 ? uvfio_server_adopt(s, a->fd) : uvfio_server_listen(s, a->socket_path);
	if (r < 0) {
		fprintf(stderr, "%s: cannot %s %s: %s\n", name, a->fd >= 0 ? "serve fd" : "listen on",
			a->fd >= 0 ? "" : a->socket_path, uvfio_strerror(r));
		return 1;
	}
	running = s;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = uvfio_server_run(s);
	running = NULL;
	dev_log_line(UVFIO_LOG_INFO, "stopping");
	return r < 0 && r != -ENOTCONN ? 1 : 0;
}
