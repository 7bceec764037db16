/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tool's configuration-space decoder held to the system's lspci, for
 * both sample devices as they run, for every configuration space recorded in ../shared/vectors (each whole read
 * of it, and the state after the session's later reads and writes, with the
 * region sizes of the session's REGION_INFO replies) and for made-up ones
 * that reach every branch of the decoder:
 *  - every line the decoder prints is a line of `lspci -vvv` on the device
 *    as the tool presents it to lspci (lspci_run.c), in the same order;
 *  - it prints a line for every capability lspci shows;
 *  - lspci on a -F dump of the same bytes differs only in the BAR and ROM
 *    lines and in the PCIe AtomicOpsCap line (shown only for a device with
 *    a memory BAR): what the tool's sysfs tree is for.
 * Names come from tests/data/pci.ids, and udev's hwdb is off, so the result
 * does not depend on the pci.ids installed.
 */
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"
#include "uvfio/client.h"
#include "util.h"

extern char **environ;

struct space {
	char name[160];
	uint8_t cfg[4096];
	size_t len;
	uint64_t sizes[TOOL_NR_BAR_SIZES];
};

static struct space *spaces;
static size_t nspaces;

static struct space *add_space(void)
{
	spaces = realloc(spaces, (nspaces + 1) * sizeof(*spaces));
	assert_non_null(spaces);
	struct space *s = &spaces[nspaces++];
	memset(s, 0, sizeof(*s));
	return s;
}

/* ---- running lspci ------------------------------------------------------------------- */

static char *read_fd(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
	buf[n] = 0;
	close(fd);
	return buf;
}

static const char *const lspci_args[] = { "-vvv", "-O", "hwdb.disable=1", NULL };

/* lspci on the device as the tool presents it */
static char *lspci_tool(const struct space *s)
{
	int fd = memfd_create("lspci", MFD_CLOEXEC);
	char err[256] = "";
	int st = tool_lspci_run(s->cfg, s->len, s->sizes, lspci_args, fd, err, sizeof(err));
	if (st != 0)
		fail_msg("%s: lspci failed (%d): %s", s->name, st, err);
	return read_fd(fd);
}

/* lspci -F on a dump of the same bytes in lspci's own -xxx format */
static char *lspci_dump(const struct space *s)
{
	char path[] = "/tmp/uvfio-dump-XXXXXX";
	int dfd = mkstemp(path);
	FILE *f = fdopen(dfd, "w");
	fputs("00:00.0 dump\n", f);
	for (size_t i = 0; i < s->len; i += 16) {
		fprintf(f, "%02zx:", i);
		for (size_t k = i; k < i + 16 && k < s->len; k++)
			fprintf(f, " %02x", s->cfg[k]);
		fputc('\n', f);
	}
	fclose(f);
	int fd = memfd_create("lspci", MFD_CLOEXEC);
	const char *argv[] = { "lspci", "-F", path, "-vvv", "-O", "hwdb.disable=1",
			       "-i", getenv("UVFIO_PCI_IDS"), NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	pid_t pid;
	int r = posix_spawnp(&pid, "lspci", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		fail_msg("cannot run lspci (%s): install pciutils", strerror(r));
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(path);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return read_fd(fd);
}

/* ---- comparing ------------------------------------------------------------------------ */

/* Split into lines in place; lspci's slot prefix is dropped from the first. */
static size_t lines(char *text, char **v, size_t max)
{
	size_t n = 0;
	for (char *save, *l = strtok_r(text, "\n", &save); l && n < max;
	     l = strtok_r(NULL, "\n", &save))
		v[n++] = l;
	if (n && !strncmp(v[0], "00:00.0 ", 8))
		v[0] += 8;
	return n;
}

/* Lines that depend on what lspci knows of the BARs: from a dump it knows no
 * size, and so no memory BAR to show PCIe atomic operations for either. */
static bool is_bar_line(const char *l)
{
	static const char *const starts[] = { "\tRegion ", "\tExpansion ROM",
					      "\t\t\t AtomicOpsCap:" };
	for (size_t i = 0; i < 3; i++)
		if (!strncmp(l, starts[i], strlen(starts[i])))
			return true;
	return false;
}

/* A capability line of the standard list (not "[100 v1]" of the extended). */
static bool is_std_cap_line(const char *l)
{
	return !strncmp(l, "\tCapabilities: ", 15) && !(l[15] == '[' && l[19] == ' ');
}

/* Offsets of the capabilities the decoder prints only the start of. */
static bool abbreviated(json_object *js, const char *line)
{
	json_object *caps;
	unsigned off;
	if (sscanf(line, "\tCapabilities: [%x]", &off) != 1 ||
	    !json_object_object_get_ex(js, "capabilities", &caps))
		return false;
	for (size_t i = 0; i < json_object_array_length(caps); i++) {
		json_object *c = json_object_array_get_idx(caps, i), *o, *d;
		if (json_object_object_get_ex(c, "offset", &o) &&
		    json_object_get_int(o) == (int)off &&
		    json_object_object_get_ex(c, "decoded", &d) && !json_object_get_boolean(d))
			return true;
	}
	return false;
}

static void check_space(const struct space *s)
{
	char *dec = NULL;
	size_t declen = 0;
	FILE *f = open_memstream(&dec, &declen);
	json_object *js = json_object_new_object();
	tool_decode_config(s->cfg, s->len, s->sizes, f, js);
	fclose(f);
	char *sys = lspci_tool(s), *dump = lspci_dump(s);
	char *dec_copy = strdup(dec), *sys_copy = strdup(sys), *dump_copy = strdup(dump);
	static char *d[512], *l[2048], *x[2048];
	size_t nd = lines(dec, d, 512), nl = lines(sys, l, 2048), nx = lines(dump, x, 2048);
	assert_true(nd > 0);

	/* 1: the decoder's lines are lspci's, in order */
	size_t j = 0;
	for (size_t i = 0; i < nd; i++) {
		bool prefix = abbreviated(js, d[i]);
		while (j < nl && (prefix ? strncmp(l[j], d[i], strlen(d[i])) : strcmp(l[j], d[i])))
			j++;
		if (j == nl) {
			fprintf(stderr, "decoder:\n%s\nlspci -vvv:\n%s", dec_copy, sys_copy);
			fail_msg("%s: the decoder's line\n%s\nis not lspci's (in that order)",
				 s->name, d[i]);
		}
		j++;
	}
	/* 2: a line for every capability lspci shows */
	size_t cd = 0, cl = 0;
	for (size_t i = 0; i < nd; i++)
		cd += is_std_cap_line(d[i]);
	for (size_t i = 0; i < nl; i++)
		cl += is_std_cap_line(l[i]);
	if (cd != cl) {
		fprintf(stderr, "decoder:\n%s\nlspci -vvv:\n%s", dec_copy, sys_copy);
		fail_msg("%s: the decoder shows %zu capabilities, lspci %zu", s->name, cd, cl);
	}
	/* 3: a dump gives the same text but for the BARs and the ROM */
	size_t a = 0, b = 0;
	for (;;) {
		while (a < nl && is_bar_line(l[a]))
			a++;
		while (b < nx && is_bar_line(x[b]))
			b++;
		if (a == nl || b == nx)
			break;
		if (strcmp(l[a], x[b])) {
			fprintf(stderr, "tree:\n%s\ndump:\n%s", sys_copy, dump_copy);
			fail_msg("%s: lspci on the tool's tree and on a dump differ outside the "
				 "BARs:\n%s\n%s",
				 s->name, l[a], x[b]);
		}
		a++;
		b++;
	}
	assert_true(a == nl && b == nx);
	json_object_put(js);
	free(dec);
	free(sys);
	free(dump);
	free(dec_copy);
	free(sys_copy);
	free(dump_copy);
}

static void test_space(void **state)
{
	check_space(*state);
}

/* A device's configuration space is the device's to choose: random bytes of
 * any length are decoded (and their sysfs files written) without reading
 * outside them or looping, which ASan and UBSan check in CI. */
static void test_random_spaces(void **state)
{
	(void)state;
	uint32_t seed = 12345;
	uint8_t cfg[4096];
	uint64_t sizes[TOOL_NR_BAR_SIZES];
	for (int round = 0; round < 2000; round++) {
		for (size_t i = 0; i < sizeof(cfg); i++) {
			seed = seed * 1103515245u + 12345u;
			cfg[i] = (uint8_t)(seed >> 16);
		}
		cfg[6] |= 0x10; /* always a capability list */
		cfg[0x0e] = (uint8_t)(round % 4); /* every header type */
		for (int i = 0; i < TOOL_NR_BAR_SIZES; i++)
			sizes[i] = round % 3 ? (uint64_t)cfg[0x40 + i] << (round % 60) : 0;
		size_t len = round % 2 ? (size_t)(64 + cfg[0x80] % 193) : sizeof(cfg);
		char *out = NULL;
		size_t outlen = 0;
		FILE *f = open_memstream(&out, &outlen);
		json_object *js = json_object_new_object();
		tool_decode_config(cfg, len, sizes, f, js);
		for (unsigned b = 0; b < TOOL_NR_BAR_SIZES; b++) {
			struct tool_resource res;
			tool_bar_resource(cfg, len, b, sizes[b], &res);
			assert_true(!res.size || res.start + (res.size - 1) >= res.start);
		}
		fclose(f);
		assert_true(outlen > 0);
		free(out);
		json_object_put(js);
	}
}

/* ---- the sample devices, as they run ------------------------------------------------- */

static void test_device(void **state)
{
	const char *prog = *state;
	struct tu_dev d;
	tu_dev_start(&d, UVFIO_BUILD_ROOT, prog, NULL);
	struct uvfio_client *c;
	struct uvfio_client_config cc = { .log = { .level = -1 } };
	assert_int_equal(uvfio_client_connect(d.sock, &cc, &c), 0);
	struct space *s = calloc(1, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", prog);
	for (uint32_t i = 0; i <= VFIO_PCI_CONFIG_REGION_INDEX; i++) {
		struct uvfio_region_info ri;
		assert_int_equal(uvfio_client_region_info(c, i, &ri), 0);
		if (i < TOOL_NR_BAR_SIZES)
			s->sizes[i] = ri.size;
		else
			s->len = ri.size < sizeof(s->cfg) ? ri.size : sizeof(s->cfg);
		uvfio_region_info_release(&ri);
	}
	assert_int_equal(uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, 0, s->cfg,
						  s->len), 0);
	uvfio_client_close(c);
	tu_dev_stop(&d);
	check_space(s);
	free(s);
}

/* ---- configuration spaces of the recorded sessions ----------------------------------- */

struct session {
	uint8_t cfg[4096];
	bool seen[4096];
	size_t len; /* of the first whole read */
	uint64_t sizes[TOOL_NR_BAR_SIZES];
	unsigned snapshots;
	const char *file;
};

/* One message: REGION_INFO and REGION_READ replies feed the session. */
static void feed(struct session *ss, const uint8_t *m, size_t n)
{
	if (n < 16)
		return;
	uint16_t cmd = (uint16_t)(m[2] | m[3] << 8);
	uint32_t flags;
	memcpy(&flags, m + 8, 4);
	if ((flags & 0xf) != 1 || (flags & 0x10)) /* replies without error only */
		return;
	if (cmd == 5 && n >= 16 + 32) { /* DEVICE_GET_REGION_INFO */
		uint32_t index;
		uint64_t size;
		memcpy(&index, m + 16 + 8, 4);
		memcpy(&size, m + 16 + 16, 8);
		if (index < TOOL_NR_BAR_SIZES)
			ss->sizes[index] = size;
	}
	if (cmd != 9 || n < 32) /* REGION_READ */
		return;
	uint64_t off;
	uint32_t region, count;
	memcpy(&off, m + 16, 8);
	memcpy(&region, m + 24, 4);
	memcpy(&count, m + 28, 4);
	if (region != 7 || off >= 4096 || count > 4096 - off || n < 32 + count)
		return;
	memcpy(ss->cfg + off, m + 32, count);
	memset(ss->seen + off, 1, count);
	if (off == 0 && count >= 64) { /* a whole read: a space of its own */
		struct space *s = add_space();
		snprintf(s->name, sizeof(s->name), "%s, read %u", ss->file, ++ss->snapshots);
		memcpy(s->cfg, m + 32, count);
		s->len = count;
		memcpy(s->sizes, ss->sizes, sizeof(s->sizes));
		if (!ss->len)
			ss->len = count;
	}
}

static void collect_file(const char *file)
{
	json_object *v = tu_load_vectors(file), *msgs = v;
	struct session *ss = calloc(1, sizeof(*ss));
	ss->file = file;
	bool list = json_object_is_type(v, json_type_array);
	if (!list && !json_object_object_get_ex(v, "messages", &msgs))
		fail_msg("%s: neither a list nor messages", file);
	for (size_t i = 0; i < json_object_array_length(msgs); i++) {
		json_object *e = json_object_array_get_idx(msgs, i), *h;
		static const char *const keys[] = { "hex", "request_hex", "reply_hex" };
		for (size_t k = 0; k < 3; k++) {
			if (!json_object_object_get_ex(e, keys[k], &h) ||
			    !json_object_is_type(h, json_type_string))
				continue;
			uint8_t *m;
			size_t n = tu_unhex(json_object_get_string(h), &m);
			feed(ss, m, n);
			free(m);
		}
	}
	/* the state after every later read, where the whole space was seen */
	bool whole = ss->len > 0;
	for (size_t i = 0; i < ss->len; i++)
		whole = whole && ss->seen[i];
	if (whole && ss->snapshots &&
	    memcmp(ss->cfg, spaces[nspaces - 1].cfg, ss->len)) {
		struct space *s = add_space();
		snprintf(s->name, sizeof(s->name), "%s, at the end", file);
		memcpy(s->cfg, ss->cfg, ss->len);
		s->len = ss->len;
		memcpy(s->sizes, ss->sizes, sizeof(s->sizes));
	}
	free(ss);
	json_object_put(v);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static size_t collect_vectors(void)
{
	const char *dir = getenv("UVFIO_VECTORS");
	struct dirent **names;
	int n = scandir(dir ? dir : "../shared/vectors", &names, NULL, by_name);
	size_t before = nspaces;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(names[i]->d_name);
		if (l > 5 && !strcmp(names[i]->d_name + l - 5, ".json"))
			collect_file(names[i]->d_name);
		free(names[i]);
	}
	if (n > 0)
		free(names);
	return nspaces - before;
}

/* ---- made-up configuration spaces ---------------------------------------------------- */

static void w16(uint8_t *c, unsigned o, unsigned v)
{
	c[o] = (uint8_t)v;
	c[o + 1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *c, unsigned o, uint32_t v)
{
	w16(c, o, v & 0xffff);
	w16(c, o + 2, v >> 16);
}

static struct space *made(const char *name, unsigned vendor, unsigned device, uint32_t cls,
			  unsigned htype, size_t len)
{
	struct space *s = add_space();
	snprintf(s->name, sizeof(s->name), "made up: %s", name);
	s->len = len;
	w16(s->cfg, 0, vendor);
	w16(s->cfg, 2, device);
	s->cfg[9] = cls & 0xff;
	s->cfg[10] = (cls >> 8) & 0xff;
	s->cfg[11] = cls >> 16;
	s->cfg[0x0e] = (uint8_t)htype;
	return s;
}

/* A capability at p pointing to next. */
static void cap(struct space *s, unsigned p, unsigned id, unsigned next, unsigned word)
{
	s->cfg[p] = (uint8_t)id;
	s->cfg[p + 1] = (uint8_t)next;
	w16(s->cfg, p + 2, word);
	if (!(s->cfg[6] & 0x10)) {
		s->cfg[6] |= 0x10;
		s->cfg[s->cfg[0x0e] == 2 ? 0x14 : 0x34] = (uint8_t)p;
	}
}

static size_t collect_made(void)
{
	size_t before = nspaces;
	/* Every kind of BAR, the ROM, bus mastering, BIST and many capabilities */
	struct space *s = made("busy endpoint", 0x8086, 0x2222, 0x0c0330, 0, 256);
	w16(s->cfg, 4, 0x0507);
	w16(s->cfg, 6, 0x0220 | 0x8000 | 0x0100);
	s->cfg[0x0c] = 0x10;
	s->cfg[0x0d] = 0x40;
	s->cfg[0x0f] = 0x85;
	w32(s->cfg, 0x10, 0xc001);	   s->sizes[0] = 32;
	w32(s->cfg, 0x14, 0xfe000008);	   s->sizes[1] = 16 << 20;
	w32(s->cfg, 0x18, 0x00000004);	   s->sizes[2] = 64 << 10;
	w32(s->cfg, 0x1c, 0x38);
	w32(s->cfg, 0x20, 0xfd000000);	   /* no region: the kernel reports none */
	w32(s->cfg, 0x24, 0x1);		   s->sizes[5] = 8;
	w16(s->cfg, 0x2c, 0x8086);
	w16(s->cfg, 0x2e, 0x5555);
	w32(s->cfg, 0x30, 0xfeb00001);	   s->sizes[6] = 64 << 10;
	s->cfg[0x3c] = 11;
	s->cfg[0x3d] = 1;
	s->cfg[0x3e] = 2;
	s->cfg[0x3f] = 0x10;
	cap(s, 0x40, 0x01, 0x50, 0x4ec3);
	w16(s->cfg, 0x44, 0x8000 | 0x2000 | 0x0200 | 0x0100 | 0x8 | 3);
	s->cfg[0x46] = 0xc0;
	cap(s, 0x50, 0x05, 0x60, 0x0005);
	w32(s->cfg, 0x54, 0xfee00000);
	w16(s->cfg, 0x58, 0x4021);
	cap(s, 0x60, 0x11, 0x70, 0x8000 | 0x4000 | 7);
	w32(s->cfg, 0x64, 0x2001);
	w32(s->cfg, 0x68, 0x3001);
	cap(s, 0x70, 0x09, 0x80, 0x0010);
	cap(s, 0x80, 0x10, 0x90, 0x0142); /* root port with a slot */
	w32(s->cfg, 0x8c, 0x43);
	w16(s->cfg, 0x92, 0x11);
	cap(s, 0x90, 0x42, 0xa0, 0x1234);
	cap(s, 0xa0, 0x04, 0xa8, 0x0723);
	cap(s, 0xa8, 0x0a, 0xb0, 0x2010);
	cap(s, 0xb0, 0x13, 0xb8, 0x0306);
	cap(s, 0xb8, 0x00, 0xc0, 0);
	cap(s, 0xc0, 0x02, 0xc8, 0x0030);
	cap(s, 0xc8, 0x0c, 0xd0, 0);
	cap(s, 0xd0, 0x06, 0xd8, 0);
	cap(s, 0xd8, 0x0b, 0xe0, 0);
	cap(s, 0xe0, 0x0e, 0xe4, 0);
	cap(s, 0xe4, 0x0f, 0xe8, 0);
	cap(s, 0xe8, 0x03, 0xec, 0);
	cap(s, 0xec, 0x12, 0xf0, 0x0010);
	cap(s, 0xf0, 0x14, 0xf8, 0x0000);
	cap(s, 0xf8, 0x0c, 0x40, 0x0000); /* and round again: a loop */

	/* HyperTransport, of which lspci reads more than the decoder */
	s = made("HyperTransport", 0x1022, 0x1100, 0x060000, 0, 256);
	cap(s, 0x40, 0x08, 0x60, 0x0000);
	cap(s, 0x60, 0x08, 0x80, 0x8800);
	cap(s, 0x80, 0x08, 0, 0x9000);

	/* virtio, a downgraded link, maskable 64-bit MSI, a broken chain */
	s = made("virtio net", 0x1af4, 0x1000, 0x020000, 0, 256);
	w16(s->cfg, 4, 0x0006);
	s->cfg[8] = 0x01;
	w16(s->cfg, 0x2c, 0x1af4);
	w16(s->cfg, 0x2e, 0x0001);
	w32(s->cfg, 0x24, 0xfe00000c);	   s->sizes[5] = 16 << 10;
	cap(s, 0x40, 0x09, 0x54, 0x0110);
	w32(s->cfg, 0x44, 4);
	w32(s->cfg, 0x48, 0x3000);
	w32(s->cfg, 0x4c, 0x1000);
	cap(s, 0x54, 0x09, 0x68, 0x0214);
	w32(s->cfg, 0x64, 4);
	cap(s, 0x68, 0x10, 0x80, 0x0002);
	w32(s->cfg, 0x74, 0x83);
	w16(s->cfg, 0x7a, 0x41);
	cap(s, 0x80, 0x05, 0x98, 0x0181);
	w32(s->cfg, 0x84, 0xfee00000);
	w32(s->cfg, 0x88, 0x1);
	w16(s->cfg, 0x8c, 0x51);
	w32(s->cfg, 0x90, 0xfffffffe);
	cap(s, 0x98, 0xff, 0, 0);

	/* 64 bytes only: the capability list is out of reach */
	s = made("header only", 0x1de5, 0x9999, 0x0f0105, 0, 64);
	s->cfg[8] = 0x10;
	w16(s->cfg, 0x2c, 0x4e58);
	w16(s->cfg, 0x2e, 0x0001);
	cap(s, 0x40, 0x01, 0, 3);

	/* a bridge: BARs 0-1, ROM at 0x38, subsystem in its SSVID capability */
	s = made("bridge", 0x8086, 0x1111, 0x060400, 1, 256);
	w16(s->cfg, 4, 0x0002);
	w32(s->cfg, 0x10, 0xfc000000);	   s->sizes[0] = 4096;
	w32(s->cfg, 0x38, 0xfb000000);	   s->sizes[6] = 2048;
	cap(s, 0x40, 0x0d, 0x48, 0);
	w16(s->cfg, 0x44, 0x8086);
	w16(s->cfg, 0x46, 0x1111);
	cap(s, 0x48, 0x07, 0, 0);

	/* IDE programming interfaces, spelled out by lspci */
	s = made("IDE", 0x1000, 0x0001, 0x01018a, 0, 256);
	s = made("IDE without bits", 0x1000, 0x0001, 0x010100, 0, 256);
	s = made("AHCI", 0x1000, 0x0002, 0x010601, 0, 256);
	/* a header type lspci does not interpret */
	s = made("unknown header", 0x1de5, 0x3e30, 0x058000, 0x7f, 256);
	s->cfg[0x3d] = 2;
	/* the extended space present */
	s = made("extended", 0x1de5, 0xd0a0, 0x088000, 0, 4096);
	cap(s, 0x40, 0x10, 0, 0x0002);
	w32(s->cfg, 0x100, 0x00010001);
	return nspaces - before;
}

int main(void)
{
	char ids[512];
	snprintf(ids, sizeof(ids), "%s/tests/data/pci.ids", UVFIO_SOURCE_ROOT);
	setenv("UVFIO_PCI_IDS", ids, 1);
	size_t from_vectors = collect_vectors();
	collect_made();
	static const char *const devices[] = { "uvfio-memdev", "uvfio-dma-engine" };
	size_t n = 0;
	struct CMUnitTest *tests = calloc(nspaces + 3, sizeof(*tests));
	tests[n++] = (struct CMUnitTest){ .name = "random spaces", .test_func = test_random_spaces };
	for (size_t i = 0; i < 2; i++)
		tests[n++] = (struct CMUnitTest){ .name = devices[i], .test_func = test_device,
						  .teardown_func = tu_dev_teardown,
						  .initial_state = (void *)devices[i] };
	for (size_t i = 0; i < nspaces; i++)
		tests[n++] = (struct CMUnitTest){ .name = spaces[i].name, .test_func = test_space,
						  .initial_state = &spaces[i] };
	/* a run that found no recorded configuration space is a failure */
	if (!from_vectors) {
		fprintf(stderr, "no configuration space found in the vectors\n");
		return 1;
	}
	int r = _cmocka_run_group_tests("decode", tests, n, NULL, NULL);
	free(tests);
	free(spaces);
	return r;
}
