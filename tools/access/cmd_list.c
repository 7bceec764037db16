/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio list: the vfio-user backends installed on this system.
 *
 * The specification's backend program conventions ask each backend to come
 * with a JSON file under /usr/share/vfio-user and leave its schema to be
 * written "similar to docs/interop/vhost-user.json". So the search follows
 * vhost-user's rules: files named NN-name.json from the data directories
 * ($XDG_DATA_DIRS, default /usr/local/share:/usr/share, plus the prefix this
 * tool was installed to), then /etc/vfio-user, then the user's
 * $XDG_CONFIG_HOME/vfio-user, then each --dir, from general to specific. A
 * file in a more specific directory replaces one of the same name, an empty
 * one hides it, and the list is sorted by file name. Fields are vhost-user's
 * ("description", "type", "binary", "tags") and, optional, "name",
 * "emulates" and "options".
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

#ifndef UVFIO_DATADIR
#define UVFIO_DATADIR "/usr/local/share"
#endif

#define MAX_DIRS 32
#define MAX_FILES 1024           /* backend files considered in all */
#define MAX_FILE_SIZE (64 << 10) /* a description is a few hundred bytes */

struct entry {
	char *base; /* file name, the sort and override key */
	char *path;
};

struct list_opts {
	const char *dirs[MAX_DIRS];
	int ndirs;
};

static int list_opt(int ch, const char *arg, void *ctx)
{
	struct list_opts *o = ctx;
	if (ch != 'd')
		return -1;
	if (o->ndirs == MAX_DIRS)
		return tool_fail(EXIT_USAGE, "at most %d --dir options", MAX_DIRS);
	o->dirs[o->ndirs++] = arg;
	return -1;
}

/* Add or replace by file name: later directories are more specific. */
static void scan_dir(const char *dir, struct entry *e, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		char *path;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			continue;
		size_t i;
		for (i = 0; i < *n && strcmp(e[i].base, de->d_name); i++)
			;
		if (i < *n) {
			free(e[i].path);
			e[i].path = path;
		} else if (*n < MAX_FILES) {
			e[*n].base = strdup(de->d_name);
			e[*n].path = path;
			(*n)++;
		} else {
			free(path);
		}
	}
	closedir(d);
}

static int by_base(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->base, ((const struct entry *)b)->base);
}

/* The directories to search, general first. Strings are malloc'ed. */
static size_t search_dirs(const struct list_opts *o, char **dirs)
{
	size_t n = 0;
	const char *xdd = getenv("XDG_DATA_DIRS");
	char *data = strdup(xdd && *xdd ? xdd : "/usr/local/share:/usr/share");
	char *parts[MAX_DIRS];
	size_t np = 0;
	for (char *save, *p = strtok_r(data, ":", &save); p && np < MAX_DIRS - 1;
	     p = strtok_r(NULL, ":", &save))
		parts[np++] = p;
	parts[np++] = UVFIO_DATADIR; /* where `make install` put ours: most general */
	/* XDG lists the most important first: search it last */
	for (size_t i = np; i-- > 0;)
		if (asprintf(&dirs[n], "%s/vfio-user", parts[i]) >= 0)
			n++;
	free(data);
	dirs[n++] = strdup("/etc/vfio-user");
	const char *xch = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if ((xch && *xch && asprintf(&dirs[n], "%s/vfio-user", xch) >= 0) ||
	    (!(xch && *xch) && home && asprintf(&dirs[n], "%s/.config/vfio-user", home) >= 0))
		n++;
	for (int i = 0; i < o->ndirs; i++)
		dirs[n++] = strdup(o->dirs[i]);
	return n;
}

static json_object *load(const char *path, char *why, size_t wlen)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(why, wlen, "%s", strerror(errno));
		return NULL;
	}
	if (st.st_size > MAX_FILE_SIZE) {
		snprintf(why, wlen, "larger than %d bytes", MAX_FILE_SIZE);
		return NULL;
	}
	json_object *j = json_object_from_file(path);
	if (!j) {
		snprintf(why, wlen, "not JSON: %s", json_util_get_last_err());
		return NULL;
	}
	static const char *const needed[] = { "description", "type", "binary" };
	for (size_t i = 0; i < 3; i++) {
		json_object *v;
		if (!json_object_object_get_ex(j, needed[i], &v) ||
		    !json_object_is_type(v, json_type_string)) {
			snprintf(why, wlen, "no \"%s\" string", needed[i]);
			json_object_put(j);
			return NULL;
		}
	}
	return j;
}

static const char *str(json_object *j, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(j, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* "50-uvfio-memdev.json" -> "uvfio-memdev" when the file names no "name". */
static void default_name(const char *base, char *buf, size_t len)
{
	const char *p = base;
	if (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' && p[2] == '-')
		p += 3;
	snprintf(buf, len, "%.*s", (int)(strlen(p) - 5), p);
}

static void print_text(json_object *j, const char *name, const char *path, bool installed)
{
	printf("%s\n  %s\n  binary:   %s%s\n", name, str(j, "description"), str(j, "binary"),
	       installed ? "" : " (not installed)");
	json_object *em, *opts;
	if (json_object_object_get_ex(j, "emulates", &em) && json_object_is_type(em, json_type_object)) {
		printf("  emulates: %s", str(em, "bus") ? str(em, "bus") : str(j, "type"));
		if (str(em, "vendor-id") && str(em, "device-id"))
			printf(" %s:%s", str(em, "vendor-id"), str(em, "device-id"));
		if (str(em, "class"))
			printf(" class %s", str(em, "class"));
		if (str(em, "summary"))
			printf(", %s", str(em, "summary"));
		putchar('\n');
	}
	if (json_object_object_get_ex(j, "options", &opts) &&
	    json_object_is_type(opts, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(opts); i++) {
			json_object *o = json_object_array_get_idx(opts, i);
			const char *on = str(o, "name"), *arg = str(o, "argument");
			if (!on)
				continue;
			printf("  %s %s%s%s%s%s\n", i ? "        " : "options:", on, arg ? "=" : "",
			       arg ? arg : "", str(o, "description") ? "  " : "",
			       str(o, "description") ? str(o, "description") : "");
		}
	}
	printf("  file:     %s\n", path);
}

static const struct tool_cmd list_cmd;

static int run_list(int argc, char **argv)
{
	static const struct option lo[] = { { "dir", required_argument, NULL, 'd' },
					    { NULL, 0, NULL, 0 } };
	struct list_opts o = { .ndirs = 0 };
	char *pos[1];
	int npos, code;
	struct tool_argspec spec = { .longopts = lo, .opt = list_opt, .ctx = &o };
	if ((code = tool_args(&list_cmd, argc, argv, &spec, pos, &npos)) >= 0)
		return code;
	char *dirs[2 * MAX_DIRS + 4];
	size_t nd = search_dirs(&o, dirs);
	struct entry *e = calloc(MAX_FILES, sizeof(*e));
	size_t n = 0;
	for (size_t i = 0; e && i < nd; i++)
		scan_dir(dirs[i], e, &n);
	for (size_t i = 0; i < nd; i++)
		free(dirs[i]);
	if (!e)
		return tool_fail(EXIT_PROGRAM, "out of memory");
	qsort(e, n, sizeof(*e), by_base);
	json_object *all = json_object_new_array();
	int shown = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(e[i].path, &st) == 0 && st.st_size == 0)
			continue; /* an empty file hides the backend */
		char why[160];
		json_object *j = load(e[i].path, why, sizeof(why));
		if (!j) {
			fprintf(stderr, "uvfio: %s: %s; skipped\n", e[i].path, why);
			continue;
		}
		char name[256];
		if (str(j, "name"))
			snprintf(name, sizeof(name), "%s", str(j, "name"));
		else
			default_name(e[i].base, name, sizeof(name));
		bool installed = access(str(j, "binary"), X_OK) == 0;
		if (tool_opts.json) {
			json_object_object_add(j, "file", json_object_new_string(e[i].path));
			json_object_object_add(j, "installed", json_object_new_boolean(installed));
			if (!str(j, "name"))
				json_object_object_add(j, "name", json_object_new_string(name));
			json_object_array_add(all, j);
		} else {
			if (shown)
				putchar('\n');
			print_text(j, name, e[i].path, installed);
			json_object_put(j);
		}
		shown++;
	}
	for (size_t i = 0; i < n; i++) {
		free(e[i].base);
		free(e[i].path);
	}
	free(e);
	if (tool_opts.json)
		tool_print_json(all);
	else
		json_object_put(all);
	if (!shown && !tool_opts.json)
		puts("no vfio-user backends installed (their descriptions live in "
		     "/usr/share/vfio-user)");
	return 0;
}

static const struct tool_cmd list_cmd = {
	.name = "list",
	.summary = "list [--dir DIR]                  the vfio-user backends installed here",
	.help = "uvfio list [--dir DIR]...\n"
		"  The vfio-user backends described by JSON files in */share/vfio-user (along\n"
		"  $XDG_DATA_DIRS), /etc/vfio-user, $XDG_CONFIG_HOME/vfio-user and each --dir,\n"
		"  later directories overriding files of the same name (an empty file hides\n"
		"  one): name, description, binary, what it emulates and its options.\n",
	.run = run_list,
	.rank = 80,
};
TOOL_COMMAND(list_cmd);
