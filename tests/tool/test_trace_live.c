/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `uvfio trace` live, between uvfio's client and the sample devices: a
 * session through the trace behaves exactly as the same session without it
 * (every result and every byte of data the same), twin socket on and off,
 * memory given by descriptor and by messages; the trace lists every message
 * the client sent and received; the pcap it wrote reads back into the same
 * lines; and tshark, with our dissector, decodes that pcap's fields.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "uvfio/client.h"
#include "util.h"

extern char **environ;

/* ---- The client's own record of the messages ---- */

struct seen {
	pthread_mutex_t mu;
	char *lines[4096];
	size_t n;
};

/* "trace -> id=3 cmd=REGION_READ(9) size=32 type=command ..." into
 * "c2s 3 9 command" */
static void log_fn(void *opaque, int level, const char *line)
{
	struct seen *s = opaque;
	char dir[4], type[16];
	unsigned id, cmd;
	if (level != UVFIO_LOG_TRACE ||
	    sscanf(line, "trace %3s id=%u cmd=%*[^(](%u) size=%*u type=%15[a-z]", dir, &id, &cmd,
		   type) != 4 ||
	    cmd == UVFIO_CMD_VERSION) /* negotiation may not be logged */
		return;
	char key[64];
	snprintf(key, sizeof(key), "%s %u %u %s", strcmp(dir, "->") ? "s2c" : "c2s", id, cmd,
		 type);
	pthread_mutex_lock(&s->mu);
	if (s->n < 4096)
		s->lines[s->n++] = strdup(key);
	pthread_mutex_unlock(&s->mu);
}

/* ---- One session, the same with and without the trace ---- */

struct result {
	int r[32];   /* return values in order */
	uint64_t v[16]; /* values read */
	uint8_t dst[16384]; /* what the device's DMA wrote */
	int twin;
};

struct plan {
	bool twin, fd, memdev;
};

#define ENGINE_IOVA 0x100000000ull
#define ENGINE_LEN (1u << 16)

static void engine_session(struct uvfio_client *c, const struct plan *p, struct result *out)
{
	int k = 0;
	struct uvfio_device_info di;
	out->r[k++] = uvfio_client_device_info(c, &di);
	out->v[0] = di.num_regions;
	struct uvfio_region_info ri;
	out->r[k++] = uvfio_client_region_info(c, 1, &ri);
	out->v[1] = ri.size;
	uvfio_region_info_release(&ri);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	out->r[k++] = uvfio_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
					    VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					    0, 1, &efd);
	size_t len = 2 * ENGINE_LEN;
	int mfd = memfd_create("trace-test", MFD_CLOEXEC);
	assert_int_equal(ftruncate(mfd, (off_t)len), 0);
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	for (size_t i = 0; i < ENGINE_LEN; i++)
		mem[i] = (uint8_t)(7 * i + 3);
	struct uvfio_dma_region reg = { .vaddr = mem, .iova = ENGINE_IOVA, .size = len,
					.prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
					.fd = p->fd ? mfd : -1 };
	out->r[k++] = uvfio_client_dma_map(c, &reg);
	out->r[k++] = uvfio_client_bus_master(c, true); /* as a driver */
	uint64_t regs[4] = { ENGINE_IOVA, ENGINE_IOVA + ENGINE_LEN, ENGINE_LEN, 1 };
	out->r[k++] = uvfio_client_region_write(c, 0, 0, regs, sizeof(regs));
	uint64_t st[4] = { 4 };
	/* the engine copies while it answers: read STATUS until not BUSY (4),
	 * each read letting this client answer its DMA requests */
	for (int polls = 0; st[0] == 4 && polls < 100000; polls++)
		out->r[k] = uvfio_client_region_read(c, 0, 0x20, st, sizeof(st));
	k++;
	memcpy(&out->v[2], st, sizeof(st));
	/* unmapped first: the library's lock orders the service thread's
	 * writes into the memory before our reads (for ThreadSanitizer) */
	out->r[k++] = uvfio_client_dma_unmap(c, ENGINE_IOVA, len);
	memcpy(out->dst, mem + ENGINE_LEN, sizeof(out->dst));
	assert_memory_equal(mem, mem + ENGINE_LEN, ENGINE_LEN); /* the copy worked */
	struct pollfd pf = { .fd = efd, .events = POLLIN };
	out->r[k++] = poll(&pf, 1, 5000); /* the interrupt came */
	/* posted writes, gathered into REGION_WRITE_MULTI, then read back */
	for (uint32_t i = 0; i < 3; i++) {
		uint64_t x = 0x1111 * (i + 1);
		out->r[k++] = uvfio_client_region_write_posted(c, 0, 8 * i, &x, 8);
	}
	out->r[k++] = uvfio_client_flush(c);
	out->r[k++] = uvfio_client_region_read(c, 0, 0, &out->v[6], 24);
	/* I/O descriptors, migration features, a region that is not there
	 * (refused: the error comes back the same) */
	struct uvfio_io_fds io;
	out->r[k++] = uvfio_client_region_io_fds(c, 0, &io);
	if (out->r[k - 1] == 0)
		uvfio_io_fds_release(&io);
	uint64_t mig;
	out->r[k++] = uvfio_client_feature(c, VFIO_DEVICE_FEATURE_GET | UVFIO_FEATURE_MIGRATION,
					   NULL, 0, &mig, sizeof(mig));
	uint32_t none;
	out->r[k++] = uvfio_client_region_read(c, 42, 0, &none, 4); /* no such region */
	out->r[k++] = uvfio_client_reset(c);
	munmap(mem, len);
	close(mfd);
	close(efd);
}

/* memdev: its RAM BAR is mapped through the descriptor the region info
 * reply carried; a doorbell raises MSI. */
static void memdev_session(struct uvfio_client *c, struct result *out)
{
	int k = 0;
	struct uvfio_region_info ri;
	out->r[k++] = uvfio_client_region_info(c, 2, &ri);
	void *ram;
	out->r[k++] = uvfio_region_map_area(&ri, 0, PROT_READ | PROT_WRITE, &ram);
	memcpy((char *)ram + 4096, "through the trace", 18);
	char back[18];
	out->r[k++] = uvfio_client_region_read(c, 2, 4096, back, 18);
	out->r[k++] = memcmp(back, "through the trace", 18);
	munmap(ram, ri.size);
	uvfio_region_info_release(&ri);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	out->r[k++] = uvfio_client_set_irqs(c, VFIO_PCI_MSI_IRQ_INDEX,
					    VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					    0, 1, &efd);
	uint32_t one = 1;
	out->r[k++] = uvfio_client_region_write(c, 0, 0x10, &one, 4);
	struct pollfd pf = { .fd = efd, .events = POLLIN };
	out->r[k++] = poll(&pf, 1, 5000);
	uint32_t id;
	out->r[k++] = uvfio_client_region_read(c, 0, 0, &id, 4);
	out->v[0] = id;
	close(efd);
}

static void session(const char *sock, const struct plan *p, struct seen *seen,
		    struct result *out)
{
	memset(out, 0, sizeof(*out));
	struct uvfio_client_config cfg = {
		.log = { .fn = log_fn, .opaque = seen, .level = UVFIO_LOG_ERR, .trace = true },
		.mode = p->twin ? UVFIO_CLIENT_SERVICE_THREAD : UVFIO_CLIENT_EVENT_LOOP,
		.twin_socket = p->twin ? UVFIO_TWIN_ON : UVFIO_TWIN_OFF,
		.coalesce_posted = true,
	};
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(sock, &cfg, &c), 0);
	out->twin = uvfio_client_twin_socket(c);
	assert_int_equal(out->twin, p->twin);
	if (p->memdev)
		memdev_session(c, out);
	else
		engine_session(c, p, out);
	uvfio_client_close(c);
}

/* ---- The trace ---- */

struct tracer {
	pid_t pid;
	char sock[108], out[64], pcap[64];
};

/* Traces started and not yet finished, killed by teardown after a failure. */
static pid_t running[8];

static int teardown(void **state)
{
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
		if (running[i]) {
			kill(running[i], SIGKILL);
			waitpid(running[i], NULL, 0);
			running[i] = 0;
		}
	return tu_dev_teardown(state);
}

static void trace_start_opt(struct tracer *t, const char *server, bool json, const char *opt)
{
	static int seq;
	snprintf(t->sock, sizeof(t->sock), "/tmp/uvfio-trace-%d-%d.sock", getpid(), seq);
	snprintf(t->out, sizeof(t->out), "/tmp/uvfio-trace-%d-%d.out", getpid(), seq);
	snprintf(t->pcap, sizeof(t->pcap), "/tmp/uvfio-trace-%d-%d.pcap", getpid(), seq++);
	char path[512];
	snprintf(path, sizeof(path), "%s/uvfio", UVFIO_BUILD_ROOT);
	char *argv[] = { path,	 "trace",    "--listen", t->sock, "--connect", (char *)server,
			 "--write", t->pcap, (char *)opt, json ? "--json" : NULL, NULL };
	if (!opt) {
		argv[8] = argv[9];
		argv[9] = NULL;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, t->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	assert_int_equal(posix_spawn(&t->pid, path, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
		if (!running[i]) {
			running[i] = t->pid;
			break;
		}
	struct stat st;
	for (int i = 0; i < 500 && stat(t->sock, &st) < 0; i++)
		usleep(10000);
	assert_int_equal(stat(t->sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600); /* owner-only: it drives the server */
}

static void trace_start(struct tracer *t, const char *server, bool json)
{
	trace_start_opt(t, server, json, NULL);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *text = tu_read_all(f);
	fclose(f);
	return text;
}

/* Wait for the trace to exit; returns its wait status. */
static int trace_wait(struct tracer *t)
{
	int st;
	assert_int_equal(waitpid(t->pid, &st, 0), t->pid);
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
		if (running[i] == t->pid)
			running[i] = 0;
	return st;
}

/* The session over: the trace exits by itself, with 0, its socket gone. */
static char *trace_finish(struct tracer *t)
{
	int st = trace_wait(t);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	struct stat sb;
	assert_int_equal(stat(t->sock, &sb), -1);
	char *text = slurp(t->out);
	unlink(t->out);
	return text;
}

static char *run_tool(const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "%s/uvfio %s", UVFIO_BUILD_ROOT, args);
	int st;
	char *out = tu_run(cmd, &st);
	assert_int_equal(st, 0);
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every message the client logged is in the trace (JSON lines), and the
 * trace has nothing else but the VERSION exchange. */
static void check_listed(struct seen *seen, char *json)
{
	char *mine[4096];
	size_t n = 0, version = 0;
	for (char *line = strtok(json, "\n"); line; line = strtok(NULL, "\n")) {
		json_object *o = json_tokener_parse(line), *v;
		assert_non_null(o);
		if (json_object_object_get_ex(o, "event", &v)) {
			json_object_put(o);
			continue;
		}
		json_object *dir, *id, *cmd, *type, *f;
		assert_true(json_object_object_get_ex(o, "dir", &dir));
		assert_true(json_object_object_get_ex(o, "id", &id));
		assert_true(json_object_object_get_ex(o, "cmd", &cmd));
		assert_true(json_object_object_get_ex(o, "type", &type));
		if (json_object_object_get_ex(o, "findings", &f))
			fail_msg("finding in a clean session: %s", line);
		char key[64];
		snprintf(key, sizeof(key), "%s %d %d %s", json_object_get_string(dir),
			 json_object_get_int(id), json_object_get_int(cmd),
			 json_object_get_string(type));
		if (json_object_get_int(cmd) == UVFIO_CMD_VERSION)
			version++;
		else
			mine[n++] = strdup(key);
		json_object_put(o);
	}
	assert_int_equal(version, 2);
	qsort(mine, n, sizeof(char *), cmp_str);
	qsort(seen->lines, seen->n, sizeof(char *), cmp_str);
	if (n != seen->n)
		fail_msg("the trace lists %zu messages, the client saw %zu", n, seen->n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(mine[i], seen->lines[i]))
			fail_msg("trace has \"%s\" where the client saw \"%s\"", mine[i],
				 seen->lines[i]);
		free(mine[i]);
		free(seen->lines[i]);
	}
	seen->n = 0;
}

/* Run the plan without the trace, then through it (JSON lines); compare. */
static void compare(const struct plan *p)
{
	const char *prog = p->memdev ? "uvfio-memdev" : "uvfio-dma-engine";
	static struct result direct, traced;
	static struct seen seen = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct tu_dev d;
	tu_dev_start(&d, UVFIO_BUILD_ROOT, prog, NULL);
	session(d.sock, p, &seen, &direct);
	tu_dev_stop(&d);
	for (size_t i = 0; i < seen.n; i++)
		free(seen.lines[i]);
	seen.n = 0;

	tu_dev_start(&d, UVFIO_BUILD_ROOT, prog, NULL);
	struct tracer t;
	trace_start(&t, d.sock, true);
	session(t.sock, p, &seen, &traced);
	char *json = trace_finish(&t);
	tu_dev_stop(&d);
	if (memcmp(&direct, &traced, sizeof(direct)))
		fail_msg("twin %d fd %d memdev %d: the session differs through the trace", p->twin,
			 p->fd, p->memdev);
	/* the pcap reads back into the same lines */
	char args[256];
	snprintf(args, sizeof(args), "trace --json -r %s", t.pcap);
	char *back = run_tool(args);
	assert_string_equal(json, back);
	check_listed(&seen, json);
	free(json);
	free(back);
	unlink(t.pcap);
}

static void test_engine_fd(void **state)
{
	(void)state;
	compare(&(struct plan){ .twin = false, .fd = true });
	compare(&(struct plan){ .twin = true, .fd = true });
}

static void test_engine_messages(void **state)
{
	(void)state;
	compare(&(struct plan){ .twin = false, .fd = false });
	compare(&(struct plan){ .twin = true, .fd = false });
}

static void test_memdev(void **state)
{
	(void)state;
	compare(&(struct plan){ .memdev = true });
	compare(&(struct plan){ .memdev = true, .twin = true });
}

/* The engine's session with the twin socket and DMA by messages, through
 * the trace; returns what it printed, its pcap in t->pcap. */
static char *traced_engine(struct tracer *t, bool json)
{
	static struct seen seen = { .mu = PTHREAD_MUTEX_INITIALIZER };
	static struct result res;
	struct tu_dev d;
	tu_dev_start(&d, UVFIO_BUILD_ROOT, "uvfio-dma-engine", NULL);
	trace_start(t, d.sock, json);
	session(t->sock, &(struct plan){ .twin = true, .fd = false }, &seen, &res);
	char *out = trace_finish(t);
	tu_dev_stop(&d);
	for (size_t i = 0; i < seen.n; i++)
		free(seen.lines[i]);
	seen.n = 0;
	return out;
}

/* Text lines, live and read back, are the same too; the twin channel and
 * the commands of the session are named in them. */
static void test_text(void **state)
{
	(void)state;
	struct tracer t;
	char *text = traced_engine(&t, false);
	char args[256];
	snprintf(args, sizeof(args), "trace -r %s", t.pcap);
	char *back = run_tool(args);
	assert_string_equal(text, back);
	static const char *const want[] = {
		"S>C #0 VERSION reply major=0 minor=1", "twin_fd_index=0 fds=1",
		"S>C/twin #0 DMA_READ addr=0x100000000 count=65536",
		"C>S/twin #1 DMA_WRITE reply addr=0x100010000 count=65536",
		("C>S #4 DMA_MAP argsz=32 flags=read|write addr=0x100000000 size=0x20000 "
		 "offset=0x0 memory=messages"),
		"C>S #7 REGION_WRITE region=BAR0 offset=0x0 count=32",
		"REGION_WRITE_MULTI wr_cnt=3 writes=[{region=BAR0 offset=0x0 count=8 data=1111000000000000}",
		/* ids from here on depend on how often STATUS was polled */
		" DEVICE_GET_REGION_IO_FDS reply argsz=16 flags=0x0 region=BAR0 count=0",
		" DEVICE_FEATURE reply argsz=16 feature=MIGRATION op=get mig_flags=STOP_COPY",
		" REGION_READ region=REGION42 offset=0x0 count=4", " REGION_READ reply EINVAL(22)",
		"-- end: ", " messages, 0 unanswered",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(text, want[i]))
			fail_msg("no \"%s\" in the trace:\n%s", want[i], text);
	free(text);
	free(back);
	unlink(t.pcap);
}

/* ---- tshark with our dissector ---- */

static const char *const ts_fields[] = {
	"vfio_user.dir",    "vfio_user.channel", "vfio_user.msg_id",	"vfio_user.cmd",
	"vfio_user.flags",  "vfio_user.fds",	 "vfio_user.errno",	"vfio_user.region",
	"vfio_user.offset", "vfio_user.count",	 "vfio_user.dma.addr", "vfio_user.dma.size",
	"vfio_user.irq.index", "vfio_user.irq.start", "vfio_user.irq.count",
};
/* the same facts in our JSON: top level, then args */
static const char *const js_keys[] = {
	"dir", "channel", "id", "cmd", "flags", "fds", "error", "region", "offset", "count",
	"addr", "size", "index", "start", "count",
};
#define NFIELDS (sizeof(ts_fields) / sizeof(ts_fields[0]))

/*
 * Run tshark with the dissector on a pcap; returns its output or NULL. As
 * root, some Wireshark versions refuse Lua scripts (init.lua's
 * run_user_scripts_when_superuser; Debian 12's 4.0 allows them): then it
 * runs again as nobody, from a directory nobody can read.
 */
static char *tshark(const char *pcap, const char *args)
{
	char dir[] = "/tmp/uvfio-tshark-XXXXXX", cmd[4096];
	assert_non_null(mkdtemp(dir));
	chmod(dir, 0755);
	snprintf(cmd, sizeof(cmd),
		 "cp %s/tools/trace/wireshark/vfio-user.lua %s/d.lua && cp %s %s/t.pcap && "
		 "chmod 644 %s/d.lua %s/t.pcap",
		 UVFIO_SOURCE_ROOT, dir, pcap, dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	char *out = NULL;
	for (int attempt = 0; attempt < 2 && !out; attempt++) {
		if (attempt && geteuid() != 0)
			break;
		snprintf(cmd, sizeof(cmd),
			 "cd %s && HOME=%s %s tshark -n -X lua_script:%s/d.lua -r %s/t.pcap %s "
			 "2>%s/err",
			 dir, dir,
			 attempt ? "setpriv --reuid=nobody --regid=nogroup --clear-groups" : "", dir,
			 dir, args, dir);
		int st;
		char *buf = tu_run(cmd, &st);
		if (st == 0 && strlen(buf))
			out = buf;
		else
			free(buf);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		print_error("could not remove %s\n", dir);
	return out;
}

/* Our value of field i: from the message's JSON, or false when it has none. */
static bool our_num(json_object *o, size_t i, uint64_t *v)
{
	json_object *src = o, *x;
	if (i >= 7 && !json_object_object_get_ex(o, "args", &src))
		return false;
	if (!json_object_object_get_ex(src, js_keys[i], &x))
		return false;
	if (i < 2) /* dir and channel are words in our JSON */
		*v = strcmp(json_object_get_string(x), i ? "main" : "c2s") != 0;
	else if (json_object_get_type(x) == json_type_int)
		*v = json_object_get_uint64(x);
	else
		return false;
	return true;
}

static void test_tshark(void **state)
{
	(void)state;
	if (system("command -v tshark >/dev/null 2>&1") != 0)
		fail_msg("tshark is missing: `make deps` installs it (Debian package tshark)");
	struct tracer t;
	char *json = traced_engine(&t, true);
	char args[2048] = "-T fields -E separator=/t -E occurrence=f";
	for (size_t i = 0; i < NFIELDS; i++)
		snprintf(args + strlen(args), sizeof(args) - strlen(args), " -e %s", ts_fields[i]);
	char *fields = tshark(t.pcap, args);
	if (!fields)
		fail_msg("tshark did not decode %s with tools/trace/wireshark/vfio-user.lua", t.pcap);
	/* packet by packet, every field both have is the same; each field is
	 * seen at least once */
	char *jsave, *fsave;
	char *fl = strtok_r(fields, "\n", &fsave);
	size_t packets = 0, reads = 0, matched[NFIELDS] = { 0 };
	for (char *jl = strtok_r(json, "\n", &jsave); jl; jl = strtok_r(NULL, "\n", &jsave)) {
		json_object *o = json_tokener_parse(jl), *v;
		if (json_object_object_get_ex(o, "event", &v)) {
			json_object_put(o);
			continue;
		}
		assert_non_null(fl);
		char *cols[NFIELDS], *c = fl;
		for (size_t i = 0; i < NFIELDS; i++) {
			cols[i] = c;
			char *tab = strchr(c, '\t');
			if (!tab && i + 1 < NFIELDS)
				fail_msg("packet %zu: tshark gave too few fields", packets + 1);
			if (tab) {
				*tab = 0;
				c = tab + 1;
			}
		}
		for (size_t i = 0; i < NFIELDS; i++) {
			uint64_t ours;
			if (!our_num(o, i, &ours) || (!cols[i][0] && i >= 6))
				continue;
			if (!cols[i][0] || strtoull(cols[i], NULL, 0) != ours)
				fail_msg("packet %zu: %s is \"%s\" for tshark, %llu for us", packets + 1,
					 ts_fields[i], cols[i], (unsigned long long)ours);
			matched[i]++;
		}
		if (json_object_object_get_ex(o, "name", &v) &&
		    !strcmp(json_object_get_string(v), "REGION_READ"))
			reads++;
		json_object_put(o);
		packets++;
		fl = strtok_r(NULL, "\n", &fsave);
	}
	for (size_t i = 0; i < NFIELDS; i++)
		if (!matched[i])
			fail_msg("%s never matched", ts_fields[i]);
	assert_null(fl);
	assert_true(packets > 20);
	free(fields);
	/* filters work on the fields */
	char *filtered = tshark(t.pcap, "-Y 'vfio_user.cmd == 9' -T fields -e vfio_user.msg_id");
	assert_non_null(filtered);
	size_t lines = 0;
	for (char *c = filtered; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, reads);
	free(filtered);
	char *twin = tshark(t.pcap, "-Y 'vfio_user.channel == 1 && vfio_user.dma.addr == "
				    "0x100000000' -T fields -e vfio_user.cmd -e vfio_user.count");
	assert_non_null(twin);
	assert_string_equal(twin, "11\t65536\n11\t65536\n");
	free(twin);
	free(json);
	unlink(t.pcap);
}

/* Exit codes and usage; SIGTERM while waiting; --loop serves clients one
 * after another, and the pcap keeps them apart. */
static void test_cli(void **state)
{
	(void)state;
	char cmd[1024];
	static const struct {
		const char *args;
		int code;
	} cases[] = {
		{ "trace", 2 },
		{ "trace --listen /tmp/x.sock", 2 },
		{ "trace --read /nonexistent.pcap", 1 },
		{ "trace --read /etc/hostname", 4 },
		{ "trace --read a.pcap --listen b --connect c", 2 },
		{ "trace --listen a --connect b --quiet", 2 },
		{ "trace --snaplen 3 --read a.pcap", 2 },
		{ "trace --help", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s/uvfio %s >/dev/null 2>&1", UVFIO_BUILD_ROOT,
			 cases[i].args);
		int st = system(cmd);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != cases[i].code)
			fail_msg("uvfio %s: exit %d, expected %d", cases[i].args, WEXITSTATUS(st),
				 cases[i].code);
	}
	/* no server behind it: the client is closed, the trace says so (3) */
	struct tracer t;
	trace_start(&t, "/nonexistent/server.sock", false);
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = -1 } };
	assert_true(uvfio_client_connect(t.sock, &cfg, &c) < 0);
	assert_int_equal(WEXITSTATUS(trace_wait(&t)), 3);
	unlink(t.out);
	unlink(t.pcap);
	/* SIGTERM while waiting for a client: exit 0, socket removed */
	trace_start(&t, "/nonexistent/server.sock", false);
	kill(t.pid, SIGTERM);
	free(trace_finish(&t));
	unlink(t.pcap);
	/* --loop: two clients, two connections in the trace and in the pcap */
	struct tu_dev d;
	tu_dev_start(&d, UVFIO_BUILD_ROOT, "uvfio-memdev", NULL);
	trace_start_opt(&t, d.sock, false, "--loop");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(uvfio_client_connect(t.sock, &cfg, &c), 0);
		uint32_t v;
		assert_int_equal(uvfio_client_region_read(c, 0, 0, &v, 4), 0);
		uvfio_client_close(c);
	}
	/* a third client: accepted (one at a time) only once the second session
	 * has ended; then SIGTERM ends the trace */
	assert_int_equal(uvfio_client_connect(t.sock, &cfg, &c), 0);
	kill(t.pid, SIGTERM);
	uvfio_client_close(c);
	char *text = trace_finish(&t), *p = text;
	tu_dev_stop(&d);
	int ends = 0;
	while ((p = strstr(p, "-- end: 4 messages, 0 unanswered")))
		ends++, p++;
	assert_true(ends >= 2);
	snprintf(cmd, sizeof(cmd), "trace -r %s", t.pcap);
	char *back = run_tool(cmd);
	assert_string_equal(text, back);
	free(text);
	free(back);
	unlink(t.pcap);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_engine_fd, teardown),
		cmocka_unit_test_teardown(test_engine_messages, teardown),
		cmocka_unit_test_teardown(test_memdev, teardown),
		cmocka_unit_test_teardown(test_text, teardown),
		cmocka_unit_test_teardown(test_tshark, teardown),
		cmocka_unit_test_teardown(test_cli, teardown),
	};
	return cmocka_run_group_tests_name("trace_live", tests, NULL, NULL);
}
