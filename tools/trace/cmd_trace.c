/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio trace: stand between a client and a server and show every message
 * (proxy.c relays, trace_out.c prints), or read back a saved pcap.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tool.h"
#include "trace.h"

struct trace_args {
	const char *listen, *connect, *read, *write;
	bool hexdump, quiet, loop;
	uint32_t snaplen;
};

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int trace_opt(int ch, const char *arg, void *ctx)
{
	struct trace_args *a = ctx;
	uint64_t v;
	switch (ch) {
	case 'l': a->listen = arg; break;
	case 'c': a->connect = arg; break;
	case 'r': a->read = arg; break;
	case 'w': a->write = arg; break;
	case 'x': a->hexdump = true; break;
	case 'q': a->quiet = true; break;
	case 'L': a->loop = true; break;
	case 's':
		if (!tool_parse_u64(arg, &v) || v < 64 || v > TRACE_SNAPLEN_MAX)
			return tool_fail(EXIT_USAGE, "--snaplen takes 64 to %u bytes",
					 TRACE_SNAPLEN_MAX);
		a->snaplen = (uint32_t)v;
		break;
	}
	return -1;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

static int connect_server(const char *path)
{
	struct sockaddr_un sa;
	int r = unix_addr(path, &sa);
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Listen at path, taking over a stale socket nobody listens on. */
static int listen_at(const char *path)
{
	struct sockaddr_un sa;
	int r = unix_addr(path, &sa);
	if (r < 0)
		return r;
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		int probe = connect_server(path);
		if (probe >= 0) {
			close(probe);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	/* bound and listening under a temporary name, then renamed: once the
	 * path exists, a client's connect() succeeds */
	char tmp[sizeof(sa.sun_path) + 32];
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	struct sockaddr_un ta;
	if ((r = unix_addr(tmp, &ta)) < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* whoever connects drives the server through us: owner-only, as the
	 * devices' sockets (the file gets the socket's mode less the umask) */
	if (fchmod(fd, 0600) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	unlink(tmp);
	if (bind(fd, (struct sockaddr *)&ta, sizeof(ta)) < 0 || listen(fd, 1) < 0 ||
	    rename(tmp, path) < 0) {
		r = -errno;
		close(fd);
		unlink(tmp);
		return r;
	}
	return fd;
}

struct out {
	struct pcap_writer *pcap;
};

static void flush_out(void *arg)
{
	struct out *o = arg;
	fflush(stdout);
	if (o->pcap)
		pcap_flush(o->pcap);
}

static int serve(const struct trace_args *a, struct trace_session *t, struct out *out,
		 const sigset_t *orig)
{
	int lfd = listen_at(a->listen);
	if (lfd < 0)
		return tool_fail(EXIT_FAILURE, "cannot listen on %s: %s", a->listen,
				 strerror(-lfd));
	fprintf(stderr, "uvfio: tracing between clients of %s and the server at %s\n", a->listen,
		a->connect);
	struct proxy_opts po = { .snaplen = a->snaplen, .stop = &stop_flag, .sigmask = orig,
				 .flush = flush_out, .flush_arg = out };
	int code = 0;
	do {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		flush_out(out);
		if (ppoll(&p, 1, NULL, orig) < 0 && errno != EINTR)
			break;
		if (stop_flag)
			break;
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		int sfd = connect_server(a->connect);
		if (sfd < 0) {
			close(cfd);
			code = tool_fail(EXIT_CONNECT, "cannot connect to the server at %s: %s",
					 a->connect, strerror(-sfd));
			continue;
		}
		code = 0;
		const char *why;
		int r = proxy_session(cfd, sfd, t, &po, &why);
		flush_out(out);
		fprintf(stderr, "uvfio: session ended: %s\n", why);
		if (r < 0)
			code = tool_fail(EXIT_FAILURE, "the relay failed: %s", strerror(-r));
	} while (a->loop && !stop_flag);
	close(lfd);
	unlink(a->listen);
	return code;
}

static const struct option trace_long[] = {
	{ "listen", required_argument, NULL, 'l' },  { "connect", required_argument, NULL, 'c' },
	{ "read", required_argument, NULL, 'r' },    { "write", required_argument, NULL, 'w' },
	{ "hexdump", no_argument, NULL, 'x' },       { "snaplen", required_argument, NULL, 's' },
	{ "quiet", no_argument, NULL, 'q' },         { "loop", no_argument, NULL, 'L' },
	{ NULL, 0, NULL, 0 },
};

static const struct tool_cmd trace_cmd;

static int run_trace(int argc, char **argv)
{
	struct trace_args a = { .snaplen = TRACE_SNAPLEN_DEFAULT };
	struct tool_argspec spec = { .shortopts = "l:c:r:w:xs:q", .longopts = trace_long,
				     .opt = trace_opt, .ctx = &a };
	int npos, code;
	if ((code = tool_args(&trace_cmd, argc, argv, &spec, NULL, &npos)) >= 0)
		return code;
	code = 0;
	bool live = a.listen || a.connect;
	if (live == !!a.read || (live && (!a.listen || !a.connect)))
		return tool_fail(EXIT_USAGE, "trace takes --listen and --connect, or --read");
	if (a.quiet && !a.write)
		return tool_fail(EXIT_USAGE, "--quiet without --write would show nothing");
	struct out out = { 0 };
	FILE *in = NULL;
	if (a.read && !(in = fopen(a.read, "rb")))
		return tool_fail(EXIT_FAILURE, "cannot open %s: %s", a.read, strerror(errno));
	if (a.write) {
		FILE *f = fopen(a.write, "wb");
		if (!f || !(out.pcap = pcap_open_write(f, a.snaplen))) {
			code = tool_fail(EXIT_FAILURE, "cannot write %s: %s", a.write,
					 strerror(errno));
			if (f)
				fclose(f);
			if (in)
				fclose(in);
			return code;
		}
	}
	struct trace_opts to = { .out = stdout, .json = tool_opts.json, .hexdump = a.hexdump,
				 .quiet = a.quiet, .pcap = out.pcap };
	struct trace_session *t = trace_session_new(&to);
	if (!t) {
		code = tool_fail(EXIT_FAILURE, "out of memory");
	} else if (in) {
		char err[256];
		if (pcap_read(in, t, err, sizeof(err)) < 0)
			code = tool_fail(EXIT_DEVICE, "%s: %s", a.read, err);
	} else {
		struct sigaction sa = { .sa_handler = on_signal };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		/* blocked except while waiting, so a stop is never missed */
		sigset_t block, orig;
		sigemptyset(&block);
		sigaddset(&block, SIGINT);
		sigaddset(&block, SIGTERM);
		sigprocmask(SIG_BLOCK, &block, &orig);
		code = serve(&a, t, &out, &orig);
		sigprocmask(SIG_SETMASK, &orig, NULL);
	}
	fflush(stdout);
	trace_session_free(t);
	if (in)
		fclose(in);
	pcap_close_write(out.pcap);
	return code;
}

static const struct tool_cmd trace_cmd = {
	.name = "trace",
	.summary = "trace --listen SOCK --connect SOCK  relay a client to a server, showing every "
		   "message\n"
		   "  trace --read FILE.pcap            decode a saved trace",
	.help = "uvfio trace --listen CLIENT.sock --connect SERVER.sock [OPTIONS]\n"
		"uvfio trace --read FILE.pcap [OPTIONS]\n"
		"  Stand between a vfio-user client and server: the client connects to\n"
		"  CLIENT.sock, the trace connects to SERVER.sock, and every byte and\n"
		"  descriptor (twin socket included) passes unchanged while each message\n"
		"  is printed, decoded, on one line. Or decode a pcap saved with --write.\n"
		"  -l, --listen PATH    socket for the client (a stale one is replaced)\n"
		"  -c, --connect PATH   the server's socket\n"
		"  -r, --read FILE      decode a pcap written by --write\n"
		"  -w, --write FILE     also save every message to FILE (pcap, DLT_USER0)\n"
		"  -x, --hexdump        add every byte of each message\n"
		"  -s, --snaplen BYTES  bytes of each message kept (default 262144)\n"
		"  -q, --quiet          print no lines (with --write)\n"
		"      --loop           serve clients one after another (default: one)\n"
		"  -j, --json           one JSON object per message\n",
	.run = run_trace,
	.rank = 80,
};
TOOL_COMMAND(trace_cmd);
