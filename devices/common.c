/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
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
static struct uvfio_pci_id dev_default_id; /* for the usage text */

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
		"       %s [OPTIONS]   (a listening socket handed over: LISTEN_FDS=1, LISTEN_PID)\n"
		"%s\n\n"
		"  --socket-path=PATH  listen on this UNIX socket (removed on exit)\n"
		"  --fd=FD             serve the client already connected on FD\n"
		"  --dma-layout=L      DMA_READ/DMA_WRITE messages in the specification's layout\n"
		"                      (spec), in QEMU's (qemu), or decided from the client's\n"
		"                      VERSION (auto, the default: QEMU's for version 0.0)\n"
		"  --poll-us=US        polling mode: spin up to US microseconds (at most 1000)\n"
		"                      for the client's next message before blocking (costs\n"
		"                      CPU while the client is busy, none while it is idle)\n"
		"Who may connect (to SOCKET or a socket handed over):\n"
		"  --allow-uid=U[,U]   serve only these users (names or numbers; repeatable)\n"
		"  --allow-gid=G[,G]   ... or members of these groups (primary or supplementary)\n"
		"                      without either: whoever can open the socket file\n"
		"  --socket-mode=MODE  permission bits of SOCKET, octal (default 0600: owner only)\n"
		"  --socket-group=G    group of SOCKET (with --socket-mode=0660: that group)\n"
		"PCI identity (numbers in decimal, 0x hexadecimal or 0 octal):\n"
		"  --vendor=ID         vendor id (default 0x%04x, registered to no company)\n"
		"  --device=ID         device id (default 0x%04x)\n"
		"  --subsystem-vendor=ID, --subsystem-id=ID  (default 0x%04x, 0x%04x)\n"
		"  --class=CODE        class code: base class, subclass, interface (default 0x%06x)\n"
		"  --revision=N        revision id, 0 to 255 (default %u)\n"
		"  -v, --verbose       log more: -v for debug, -vv to trace every message\n"
		"  -q, --quiet         log only errors\n"
		"  -h, --help          this text\n"
		"Stops cleanly on SIGINT or SIGTERM.\n",
		name, name, name, what, dev_default_id.vendor, dev_default_id.device,
		dev_default_id.subsys_vendor, dev_default_id.subsys_device,
		dev_default_id.class_code, dev_default_id.revision);
}

static const char *dev_prog = "device";

static void __attribute__((noreturn, format(printf, 1, 2))) bad_arg(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", dev_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* The whole of arg as a number from 0 to max, in base (0: C's prefixes), or
 * exit saying what --opt takes. */
static unsigned long number(const char *opt, const char *arg, int base, unsigned long max,
			    const char *takes)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, base);
	if (!*arg || *end || errno || v > max || arg[strspn(arg, " \t")] == '-')
		bad_arg("--%s=%s: expected %s", opt, arg, takes);
	return v;
}

/* A user or group by name or number. */
static uint32_t account(const char *opt, const char *arg, bool group)
{
	if (*arg >= '0' && *arg <= '9')
		return (uint32_t)number(opt, arg, 10, UINT32_MAX - 1,
					group ? "a group name or number" : "a user name or number");
	if (group) {
		struct group *g = getgrnam(arg);
		if (g)
			return g->gr_gid;
		bad_arg("--%s=%s: no such group", opt, arg);
	}
	struct passwd *p = getpwnam(arg);
	if (p)
		return p->pw_uid;
	bad_arg("--%s=%s: no such user", opt, arg);
}

/* --allow-uid / --allow-gid: a comma-separated list, added to ids. */
static void add_accounts(const char *opt, const char *arg, bool group, uint32_t *ids, size_t *n)
{
	char *copy = strdup(arg), *save = NULL;
	if (!copy)
		bad_arg("out of memory");
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == DEV_MAX_IDS)
			bad_arg("--%s: at most %d %s", opt, DEV_MAX_IDS,
				group ? "groups" : "users");
		ids[(*n)++] = account(opt, t, group);
	}
	if (!*n)
		bad_arg("--%s=%s: names no %s", opt, arg, group ? "group" : "user");
	free(copy);
}

static void parse_id_option(int ch, const char *arg, struct uvfio_pci_id *id)
{
	static const char *const id16 = "a 16-bit number, 0 to 0xffff";
	switch (ch) {
	case 'V':
		id->vendor = (uint16_t)number("vendor", arg, 0, 0xffff, id16);
		/* ids no device may have */
		if (id->vendor == 0xffff || id->vendor == 0)
			bad_arg("--vendor=%s: a read of an absent function returns 0xffff, and "
				"firmware takes 0 for absent too: no device has them", arg);
		if (id->vendor == 0x0001)
			bad_arg("--vendor=%s: 0x0001 is what a configuration read returns while a "
				"function asks to be retried (Configuration RRS): guests would "
				"wait "
				"for it",
				arg);
		break;
	case 'E':
		id->device = (uint16_t)number("device", arg, 0, 0xffff, id16);
		break;
	case 'U':
		id->subsys_vendor = (uint16_t)number("subsystem-vendor", arg, 0, 0xffff, id16);
		break;
	case 'I':
		id->subsys_device = (uint16_t)number("subsystem-id", arg, 0, 0xffff, id16);
		break;
	case 'C':
		id->class_code = (uint32_t)number("class", arg, 0, 0xffffff,
						  "a 24-bit class code (base class, subclass, "
						  "programming interface), 0 to 0xffffff");
		break;
	case 'R': id->revision = (uint8_t)number("revision", arg, 0, 0xff, "0 to 255"); break;
	}
}

void dev_parse_args(int argc, char **argv, const char *name, const char *what,
		    const struct uvfio_pci_id *id, struct dev_args *a)
{
	static const struct option lo[] = {
		{ "socket-path", required_argument, NULL, 'S' },
		{ "fd", required_argument, NULL, 'F' },
		{ "dma-layout", required_argument, NULL, 'D' },
		{ "poll-us", required_argument, NULL, 'P' },
		{ "allow-uid", required_argument, NULL, 'a' },
		{ "allow-gid", required_argument, NULL, 'g' },
		{ "socket-mode", required_argument, NULL, 'm' },
		{ "socket-group", required_argument, NULL, 'G' },
		{ "vendor", required_argument, NULL, 'V' },
		{ "device", required_argument, NULL, 'E' },
		{ "subsystem-vendor", required_argument, NULL, 'U' },
		{ "subsystem-id", required_argument, NULL, 'I' },
		{ "class", required_argument, NULL, 'C' },
		{ "revision", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(a, 0, sizeof(*a));
	a->fd = a->listen_fd = -1;
	a->log_level = UVFIO_LOG_INFO;
	a->dma_layout = UVFIO_DMA_LAYOUT_AUTO;
	a->id = *id;
	dev_default_id = *id;
	dev_prog = name;
	int ch;
	while ((ch = getopt_long(argc, argv, "vqh", lo, NULL)) != -1) {
		switch (ch) {
		case 'S': a->socket_path = optarg; break;
		case 'F':
			a->fd = (int)number("fd", optarg, 10, 1 << 20, "a descriptor number");
			break;
		case 'P':
			a->poll_us = (uint32_t)number("poll-us", optarg, 10, 1000,
						      "microseconds, 0 to 1000");
			break;
		case 'D':
			if (!strcmp(optarg, "auto") || !strcmp(optarg, "spec") ||
			    !strcmp(optarg, "qemu")) {
				a->dma_layout = optarg[0] == 'a'   ? UVFIO_DMA_LAYOUT_AUTO
						: optarg[0] == 's' ? UVFIO_DMA_LAYOUT_SPEC
								   : UVFIO_DMA_LAYOUT_QEMU;
				break;
			}
			bad_arg("--dma-layout takes auto, spec or qemu");
		case 'a':
			add_accounts("allow-uid", optarg, false, a->uids, &a->access.nuids);
			break;
		case 'g':
			add_accounts("allow-gid", optarg, true, a->gids, &a->access.ngids);
			break;
		case 'm':
			a->access.socket_mode = (uint32_t)number(
				"socket-mode", optarg, 8, 0777,
				"octal permission bits, 0 to 0777 (0660: owner and group)");
			if (!a->access.socket_mode)
				bad_arg("--socket-mode=%s: a socket nobody may open serves nobody",
					optarg);
			break;
		case 'G':
			a->access.socket_gid = account("socket-group", optarg, true);
			a->access.set_socket_gid = true;
			break;
		case 'V': case 'E': case 'U': case 'I': case 'C': case 'R':
			parse_id_option(ch, optarg, &a->id);
			break;
		case 'v': a->log_level = a->log_level < UVFIO_LOG_DEBUG ? UVFIO_LOG_DEBUG
									: UVFIO_LOG_TRACE;
			break;
		case 'q': a->log_level = UVFIO_LOG_ERR; break;
		case 'h': usage(stdout, name, what); exit(0);
		default: usage(stderr, name, what); exit(2);
		}
	}
	a->access.uids = a->uids;
	a->access.gids = a->gids;
	if (optind < argc && !a->socket_path)
		a->socket_path = argv[optind++];
	/* systemd's socket activation (or any manager doing the same) */
	int n = uvfio_server_activation_fds(true);
	if (n < 0)
		bad_arg("LISTEN_FDS/LISTEN_PID: %s", uvfio_strerror(n));
	if (n > 1)
		bad_arg("%d listening sockets handed over (LISTEN_FDS): a device serves one", n);
	if (n == 1) {
		if (a->socket_path || a->fd >= 0)
			bad_arg("a listening socket was handed over (LISTEN_FDS=1): give no SOCKET "
				"or --fd as well");
		a->listen_fd = UVFIO_LISTEN_FDS_START;
	}
	if (optind < argc || (!a->socket_path && a->fd < 0 && a->listen_fd < 0) ||
	    (a->socket_path && a->fd >= 0)) {
		usage(stderr, name, what);
		exit(2);
	}
	if (!a->socket_path && (a->access.socket_mode || a->access.set_socket_gid))
		bad_arg("--socket-mode and --socket-group apply to the SOCKET the device creates; "
			"a socket handed over keeps its creator's (systemd: SocketMode=, "
			"SocketGroup=)");
	if (a->fd >= 0 && (a->access.nuids || a->access.ngids))
		bad_arg("--allow-uid and --allow-gid check clients connecting to a listening "
			"socket; the client of --fd is connected already");
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
	int r;
	if (a->fd >= 0)
		r = uvfio_server_adopt(s, a->fd);
	else if (a->listen_fd >= 0)
		r = uvfio_server_listen_fd(s, a->listen_fd);
	else
		r = uvfio_server_listen(s, a->socket_path);
	if (r < 0) {
		fprintf(stderr, "%s: cannot %s%s: %s\n", name,
			a->fd >= 0 ? "serve fd" : a->listen_fd >= 0 ? "listen on the socket handed over"
								    : "listen on ",
			a->fd >= 0 || a->listen_fd >= 0 ? "" : a->socket_path, uvfio_strerror(r));
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
