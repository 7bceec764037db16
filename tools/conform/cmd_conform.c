/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio conform: checks a vfio-user server (a running one at SOCKET, or one
 * the tool starts itself, `-- COMMAND ARG...`) or, with --client, a client
 * the tool starts and plays a hostile server for (docs/CONFORMANCE.md).
 * This file: the command line, the run of every check with what the
 * runner sees around it (a crash, a hang, a descriptor leak, a server that
 * no longer serves), and the reports (lines, JSON, TAP, JUnit).
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"
#include "tool.h"

void cf_note(struct cf_run *r, const char *fmt, ...)
{
	size_t at = strlen(r->detail);
	if (at && at + 2 < sizeof(r->detail)) {
		strcpy(r->detail + at, "; ");
		at += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->detail + at, sizeof(r->detail) - at, fmt, ap);
	va_end(ap);
	r->noted = true;
}

/* ---- reaching the server ---- */

bool cf_restart_if_ended(struct cf_run *r)
{
	struct cf_proc *p = &r->proc;
	if (!p->argv_tmpl)
		return false;
	if (p->child && !cf_proc_wait_end(p, 300))
		return false;
	if (p->ended && cf_status_crash(p->last_status) && !r->crashed) {
		char b[64];
		r->crashed = true;
		cf_note(r, "crash: the server was %s", cf_status_str(p->last_status, b, sizeof(b)));
	} else if (p->ended && WIFEXITED(p->last_status) && WEXITSTATUS(p->last_status) &&
		   !strstr(r->detail, "exited with")) {
		/* not a failure (the tool restarts it), but a client took it down */
		cf_note(r, "the server exited with status %d and was started again",
			WEXITSTATUS(p->last_status));
	}
	p->ended = false;
	return cf_proc_start(p, true) == 0;
}

void cf_after_close(struct cf_run *r)
{
	if (!r->exits_on_leave || !r->proc.child)
		return;
	if (cf_proc_wait_end(&r->proc, 1000))
		cf_restart_if_ended(r);
}

int cf_connect(struct cf_run *r, struct cf_conn *c)
{
	int e = -ECONNREFUSED;
	for (int start = 0; start < 3; start++) {
		e = cf_conn_open(c, r->proc.sock, r->timeout_ms);
		c->split = r->split;
		/* between the socket's bind() and its listen(), or a server on its way out */
		for (int i = 0; e == -ECONNREFUSED && r->proc.child && i < 100; i++) {
			if (cf_proc_reap(&r->proc))
				break;
			usleep(5000);
			e = cf_conn_open(c, r->proc.sock, r->timeout_ms);
			c->split = r->split;
		}
		if (e == 0 || !r->proc.argv_tmpl)
			break;
		cf_proc_reap(&r->proc);
		if (!cf_restart_if_ended(r))
			break;
	}
	return e;
}

bool cf_session(struct cf_run *r, uint16_t minor, const char *json)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (cf_connect(r, &r->conn) < 0) {
			cf_note(r, "cannot connect to the server");
			return false;
		}
		int n = cf_negotiate(&r->conn, minor, json, NULL);
		if (n > 0) {
			pid_t pid = cf_peer_pid(r->conn.fd);
			if (pid)
				r->server_pid = pid;
			return true;
		}
		if (n < 0) {
			r->hung = true;
			cf_note(r, "hang: no reply to VERSION within %d ms", r->timeout_ms);
			return false;
		}
		cf_conn_close(&r->conn);
		/* a server that exits when its client leaves may have been on its way out */
		if (!r->proc.argv_tmpl || !cf_restart_if_ended(r))
			break;
	}
	cf_note(r, "the server refused the negotiation");
	return false;
}

/* The server still serves: VERSION and DEVICE_GET_INFO on a new connection. */
bool cf_still_serves(struct cf_run *r, char *why, size_t len)
{
	struct cf_conn c;
	for (int attempt = 0; attempt < 2; attempt++) {
		int e = cf_connect(r, &c);
		if (e < 0) {
			snprintf(why, len, "cannot connect: %s", strerror(-e));
			return false;
		}
		int n = cf_negotiate(&c, 1, NULL, NULL);
		if (n > 0) {
			struct uvfio_device_info di = {.argsz = 16};
			struct cf_msg m;
			n = cf_call(&c, UVFIO_CMD_DEVICE_GET_INFO, &di, 16, NULL, 0, &m);
			bool ok = n > 0 && !(m.h.flags & UVFIO_FLAGS_ERROR);
			if (n > 0)
				cf_msg_free(&m);
			if (!ok)
				snprintf(why, len, "DEVICE_GET_INFO %s",
					 n < 0	  ? "got no reply"
					 : n == 0 ? "closed"
						  : "failed");
			r->server_pid = cf_peer_pid(c.fd) ? cf_peer_pid(c.fd) : r->server_pid;
			cf_conn_close(&c);
			cf_after_close(r);
			if (r->exits_on_leave)
				r->server_pid = 0; /* another process each time: no comparison */
			return ok;
		}
		cf_conn_close(&c);
		if (n < 0) {
			snprintf(why, len, "no reply to VERSION within %d ms", r->timeout_ms);
			return false;
		}
		if (!r->proc.argv_tmpl || !cf_restart_if_ended(r))
			break;
	}
	snprintf(why, len, "VERSION refused or the connection closed");
	return false;
}

/* ---- results ---- */

struct result {
	const struct cf_check *ck;
	enum cf_result res;
	char *detail;
	double secs;
};

static const char *res_name[] = {"pass", "fail", "skip"};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Server mode: one check, with what the runner sees around it. */
static enum cf_result run_server_check(struct cf_run *r, const struct cf_check *ck)
{
	if (r->dead) {
		cf_note(r, "the server stopped serving after an earlier check");
		return CF_SKIP;
	}
	pid_t pid = r->server_pid;
	int fds_before = pid ? cf_count_fds(pid) : -1;
	enum cf_result res = ck->fn(r, ck);
	cf_conn_close(&r->conn);
	cf_after_close(r);
	if (res == CF_SKIP && !r->hung && !r->crashed)
		return res;
	if (r->proc.argv_tmpl && r->proc.child) {
		/* a crash shows as the child's end, soon after the close */
		if (cf_proc_wait_end(&r->proc, r->hung ? 0 : 20) &&
		    cf_status_crash(r->proc.last_status))
			cf_restart_if_ended(r);
	}
	if (r->hung && r->proc.argv_tmpl) {
		cf_proc_kill(&r->proc);
		cf_proc_start(&r->proc, true);
		return CF_FAIL;
	}
	char why[160];
	if (!cf_still_serves(r, why, sizeof(why))) {
		if (!r->crashed)
			cf_note(r, "the server no longer serves after this check: %s", why);
		/* a server the tool did not start: its end is all it can see */
		if (!r->proc.argv_tmpl && pid) {
			/* it may still be on its way out */
			bool alive = cf_proc_alive(pid);
			for (int i = 0; i < 50 && alive; i++) {
				usleep(10000);
				alive = cf_proc_alive(pid);
			}
			if (!alive)
				cf_note(r, "its process (pid %d) is gone", (int)pid);
		}
		if (r->proc.argv_tmpl) {
			cf_proc_kill(&r->proc);
			if (cf_proc_start(&r->proc, true) < 0)
				r->dead = true;
		} else {
			r->dead = true;
		}
		return CF_FAIL;
	}
	if (r->crashed)
		return CF_FAIL;
	/* the same process before and after: its descriptors are as they were */
	if (fds_before >= 0 && r->server_pid == pid) {
		int after = cf_count_fds(pid);
		for (int i = 0; i < 30 && after > fds_before; i++) {
			usleep(10000);
			after = cf_count_fds(pid);
		}
		if (after > fds_before) {
			cf_note(r,
				"descriptor leak: the server held %d descriptors before the check "
				"and "
				"%d after its client left",
				fds_before, after);
			return CF_FAIL;
		}
	}
	return res;
}

static void xml_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static int write_junit(const char *path, const struct result *res, size_t n, const int *count,
		       bool client)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	double total = 0;
	for (size_t i = 0; i < n; i++)
		total += res[i].secs;
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<testsuites>\n<testsuite name=\"uvfio-conform%s\" tests=\"%zu\" failures=\"%d\" "
		"skipped=\"%d\" time=\"%.3f\">\n",
		client ? "-client" : "", n, count[CF_FAIL], count[CF_SKIP], total);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "  <testcase classname=\"%s\" name=\"%s\" time=\"%.3f\">",
			res[i].ck->group, res[i].ck->name, res[i].secs);
		if (res[i].res == CF_FAIL) {
			fputs("<failure message=\"", f);
			xml_escaped(f, res[i].detail);
			fputs("\">", f);
			xml_escaped(f, res[i].ck->spec);
			fputs("</failure>", f);
		} else if (res[i].res == CF_SKIP) {
			fputs("<skipped message=\"", f);
			xml_escaped(f, res[i].detail);
			fputs("\"/>", f);
		} else if (res[i].detail[0]) {
			fputs("<system-out>", f);
			xml_escaped(f, res[i].detail);
			fputs("</system-out>", f);
		}
		fputs("</testcase>\n", f);
	}
	fputs("</testsuite>\n</testsuites>\n", f);
	return fclose(f) ? -errno : 0;
}

/* ---- the command ---- */

struct conform_opts {
	bool client, tap, list;
	const char *junit;
	const char *corpus;
	bool split;
	const char *only[16];
	int n_only;
	struct cf_kick kick;
};

static int parse_kick(struct cf_kick *k, const char *arg)
{
	char *s = strdup(arg), *save = NULL;
	for (char *w = strtok_r(s, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(w, ':'), *eq = strchr(w, '=');
		uint64_t off;
		if (k->n >= 8 || !colon || !eq || eq < colon)
			goto bad;
		*colon = *eq = 0;
		if (!tool_parse_region(w, &k->region[k->n]) || !tool_parse_u64(colon + 1, &off) ||
		    strlen(eq + 1) >= sizeof(k->value[0]))
			goto bad;
		k->offset[k->n] = off;
		strcpy(k->value[k->n], eq + 1);
		k->n++;
	}
	free(s);
	return -1;
bad:
	free(s);
	return tool_fail(EXIT_USAGE, "--dma-kick takes REGION:OFFSET=VALUE[,...] (VALUE a number, "
				     "{src}, {dst} or {len}), at most 8");
}

static int conform_opt(int ch, const char *arg, void *ctx)
{
	struct conform_opts *o = ctx;
	switch (ch) {
	case 'c':
		o->client = true;
		return -1;
	case 0x300:
		o->tap = true;
		return -1;
	case 0x301:
		o->junit = arg;
		return -1;
	case 'l':
		o->list = true;
		return -1;
	case 'o':
		if (o->n_only >= 16)
			return tool_fail(EXIT_USAGE, "at most 16 --only patterns");
		o->only[o->n_only++] = arg;
		return -1;
	case 0x302:
		return parse_kick(&o->kick, arg);
	case 0x303:
		o->split = true;
		return -1;
	case 0x304:
		o->corpus = arg;
		return -1;
	}
	return tool_fail(EXIT_USAGE, "unknown option");
}

static const struct option conform_long[] = {
	{"client", no_argument, NULL, 'c'},
	{"tap", no_argument, NULL, 0x300},
	{"junit", required_argument, NULL, 0x301},
	{"list", no_argument, NULL, 'l'},
	{"only", required_argument, NULL, 'o'},
	{"dma-kick", required_argument, NULL, 0x302},
	{"split", no_argument, NULL, 0x303},
	{"corpus", required_argument, NULL, 0x304},
	{NULL, 0, NULL, 0},
};

static bool selected(const struct conform_opts *o, const struct cf_check *ck)
{
	if (!o->n_only)
		return true;
	for (int i = 0; i < o->n_only; i++)
		if (!fnmatch(o->only[i], ck->name, 0) || !fnmatch(o->only[i], ck->group, 0))
			return true;
	return false;
}

static const struct tool_cmd conform_cmd;

static int run(int argc, char **argv)
{
	/* the command under test follows "--": not ours to parse */
	int dash = -1;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			dash = i;
			break;
		}
	struct conform_opts o = {0};
	char *pos[2];
	int npos = 0;
	struct tool_argspec spec = {"clo:", conform_long, conform_opt, &o, 0, 1};
	int code = tool_args(&conform_cmd, dash >= 0 ? dash : argc, argv, &spec, pos, &npos);
	if (code >= 0)
		return code;
	const struct cf_check *table = o.client ? cf_client_checks : cf_server_checks;
	size_t ntable = o.client ? cf_n_client_checks : cf_n_server_checks;
	if (o.list) {
		for (size_t i = 0; i < ntable; i++)
			if (selected(&o, &table[i]))
				printf("%-40s %-14s %s\n", table[i].name, table[i].group,
				       table[i].spec);
		return 0;
	}
	bool spawn = dash >= 0 && dash + 1 < argc;
	if (spawn == (npos == 1) || (o.client && !spawn))
		return tool_fail(EXIT_USAGE, "conform takes SOCKET or -- COMMAND ARG...%s",
				 o.client ? " (--client: -- COMMAND ARG...)" : "");
	signal(SIGPIPE, SIG_IGN);

	static struct cf_run r;
	memset(&r, 0, sizeof(r));
	r.client_mode = o.client;
	r.timeout_ms = tool_opts.timeout_ms;
	r.kick = o.kick;
	r.corpus = o.corpus;
	r.split = o.split;
	r.baseline_status = -1;
	r.listen_fd = -1;
	r.conn.fd = -1;
	r.proc.timeout_ms = r.timeout_ms;
	r.proc.log_fd = -1;
	char dir[] = "/tmp/uvfio-conform-XXXXXX";
	if (spawn) {
		if (!mkdtemp(dir))
			return tool_fail(EXIT_USAGE, "cannot make a directory for the socket: %s",
					 strerror(errno));
		r.proc.argv_tmpl = argv + dash + 1;
		snprintf(r.proc.sock, sizeof(r.proc.sock), "%s/sock", dir);
		char logp[128];
		snprintf(logp, sizeof(logp), "%s/log", dir);
		r.proc.log_fd = tool_opts.log_level > UVFIO_LOG_ERR
					? dup(2)
					: open(logp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	} else {
		snprintf(r.proc.sock, sizeof(r.proc.sock), "%s", pos[0]);
	}

	int ret = 0;
	if (o.client) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", r.proc.sock);
		r.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (r.listen_fd < 0 || bind(r.listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(r.listen_fd, 4) < 0) {
			ret = tool_fail(EXIT_USAGE, "cannot listen on %s: %s", r.proc.sock,
					strerror(errno));
			goto out;
		}
	} else {
		if (spawn && (code = cf_proc_start(&r.proc, true)) < 0) {
			char b[64] = "";
			if (r.proc.ended)
				cf_status_str(r.proc.last_status, b, sizeof(b));
			ret = tool_fail(EXIT_USAGE, "the server did not listen on %s: %s%s%s",
					r.proc.sock, strerror(-code), b[0] ? ", " : "", b);
			goto out;
		}
		if ((code = cf_probe(&r, &r.dev)) < 0) {
			ret = tool_fail(EXIT_USAGE, "cannot talk to the server at %s: %s",
					r.proc.sock, strerror(-code));
			goto out;
		}
		/* does it end when its client leaves (libvfio-user's samples do)? */
		if (spawn && cf_proc_wait_end(&r.proc, 300) &&
		    !cf_status_crash(r.proc.last_status)) {
			r.exits_on_leave = true;
			r.server_pid = 0;
			code = cf_proc_start(&r.proc, true);
		}
		if (code < 0) {
			ret = tool_fail(EXIT_USAGE, "cannot talk to the server at %s: %s",
					r.proc.sock, strerror(-code));
			goto out;
		}
	}

	struct result *res = calloc(ntable, sizeof(*res));
	size_t n = 0;
	int count[3] = {0};
	if (o.tap)
		printf("TAP version 13\n");
	size_t nsel = 0;
	for (size_t i = 0; i < ntable; i++)
		nsel += selected(&o, &table[i]);
	if (o.tap)
		printf("1..%zu\n", nsel);
	for (size_t i = 0; i < ntable; i++) {
		const struct cf_check *ck = &table[i];
		if (!selected(&o, ck))
			continue;
		r.detail[0] = 0;
		r.noted = r.crashed = r.hung = false;
		double t0 = now_s();
		enum cf_result rs = o.client ? ck->fn(&r, ck) : run_server_check(&r, ck);
		res[n] = (struct result){ck, rs, strdup(r.detail), now_s() - t0};
		count[rs]++;
		n++;
		if (o.tap) {
			printf("%s %zu - %s%s%s\n", rs == CF_FAIL ? "not ok" : "ok", n, ck->name,
			       rs == CF_SKIP ? " # SKIP " : "", rs == CF_SKIP ? r.detail : "");
			if (rs != CF_SKIP && r.detail[0])
				printf("# %s\n", r.detail);
			if (rs == CF_FAIL)
				printf("# spec: %s\n", ck->spec);
		} else if (!tool_opts.json) {
			printf("%-4s %-40s %s\n", res_name[rs], ck->name, r.detail);
		}
		fflush(stdout);
	}
	if (tool_opts.json) {
		json_object *root = json_object_new_object(), *list = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			json_object *c = json_object_new_object();
			json_object_object_add(c, "name", json_object_new_string(res[i].ck->name));
			json_object_object_add(c, "group",
					       json_object_new_string(res[i].ck->group));
			json_object_object_add(c, "result",
					       json_object_new_string(res_name[res[i].res]));
			json_object_object_add(c, "detail", json_object_new_string(res[i].detail));
			json_object_object_add(c, "spec", json_object_new_string(res[i].ck->spec));
			json_object_array_add(list, c);
		}
		json_object *sum = json_object_new_object();
		for (int k = 0; k < 3; k++)
			json_object_object_add(sum, res_name[k], json_object_new_int(count[k]));
		json_object_object_add(root, "checks", list);
		json_object_object_add(root, "summary", sum);
		tool_print_json(root);
	} else if (!o.tap) {
		printf("%d passed, %d failed, %d skipped (%zu checks%s)\n", count[CF_PASS],
		       count[CF_FAIL], count[CF_SKIP], n,
		       r.proc.spawns > 1 ? ", the program started again as it ended" : "");
	}
	if (o.junit && (code = write_junit(o.junit, res, n, count, o.client)) < 0)
		tool_fail(EXIT_USAGE, "cannot write %s: %s", o.junit, strerror(-code));
	for (size_t i = 0; i < n; i++)
		free(res[i].detail);
	free(res);
	ret = count[CF_FAIL] ? 1 : 0;
out:
	cf_conn_close(&r.conn);
	if (r.proc.child) {
		kill(r.proc.child, SIGTERM);
		if (!cf_proc_wait_end(&r.proc, 1000))
			cf_proc_kill(&r.proc);
	}
	if (r.listen_fd >= 0)
		close(r.listen_fd);
	if (spawn) {
		char p[128];
		snprintf(p, sizeof(p), "%s/sock", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/log", dir);
		unlink(p);
		rmdir(dir);
	}
	if (r.proc.log_fd >= 0)
		close(r.proc.log_fd);
	return ret;
}

static const struct tool_cmd conform_cmd = {
	.name = "conform",
	.summary = "conform SOCKET | -- COMMAND ARG...  check a server against the specification\n"
		   "  conform --client -- COMMAND ARG...  check a client against a hostile server",
	.help = "Usage: uvfio conform [OPTIONS] SOCKET\n"
		"       uvfio conform [OPTIONS] -- COMMAND ARG...\n"
		"       uvfio conform --client [OPTIONS] -- COMMAND ARG...\n"
		"Check a vfio-user server against the specification and a hostile client: a\n"
		"running one at SOCKET, or one started as COMMAND ({sock} in its arguments\n"
		"becomes a socket path of the tool's), started again whenever it ends. With\n"
		"--client, start the client COMMAND for each check and play a hostile server\n"
		"on {sock}. A crash, a hang (nothing within --timeout), a descriptor leak,\n"
		"memory growth under a flood and a server that no longer serves are findings\n"
		"of every check. See docs/CONFORMANCE.md.\n\n"
		"  -c, --client        check a client instead of a server\n"
		"  -l, --list          list the checks (with their group and section)\n"
		"  -o, --only GLOB     run the checks whose name or group matches (repeatable)\n"
		"      --split         cut every message at random points into up to three\n"
		"                      writes (else only the checks about cutting do)\n"
		"      --corpus DIR    replay every file of a fuzz corpus (the format of\n"
		"                      uvfio's tests/fuzz/corpus/server) as check corpus.replay\n"
		"      --tap           TAP output\n"
		"      --junit FILE    also write a JUnit XML report\n"
		"      --dma-kick W    region writes that make the device copy {len} bytes\n"
		"                      from {src} to {dst}: REGION:OFFSET=VALUE[,...], 8 bytes\n"
		"                      each (uvfio-dma-engine: bar0:0={src},bar0:8={dst},\n"
		"                      bar0:0x10={len},bar0:0x18=1); enables the dma group\n"
		"  -j, --json          {\"checks\": [...], \"summary\": {...}}\n"
		"  -T, --timeout MS    how long a reply may take before it is a hang\n\n"
		"Exit status: 0 nothing failed, 1 a check failed, 2 usage or connection error.\n",
	.run = run,
	.rank = 90,
};
TOOL_COMMAND(conform_cmd);
