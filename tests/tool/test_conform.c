/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio conform: both sample devices pass every check (messages cut at
 * random, --split); each defect of the scripted broken server and client
 * (tests/tool/conform_broken.c) is caught by exactly one check, the one it
 * hides behind, with a detail of its kind; uvfio's own client passes
 * --client; the reports (--json, --tap, --junit, --list) say the same.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define B    UVFIO_BUILD_ROOT
#define KICK "bar0:0={src},bar0:8={dst},bar0:0x10={len},bar0:0x18=1"

/* Run uvfio conform with args; returns its JSON (and exit status). */
static json_object *conform(const char *args, int *status)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), B "/uvfio conform --json %s 2>/dev/null", args);
	char *out = tu_run(cmd, status);
	*status = WEXITSTATUS(*status);
	json_object *j = json_tokener_parse(out);
	if (!j)
		fail_msg("not JSON from %s:\n%s", cmd, out);
	free(out);
	return j;
}

static int summary(json_object *j, const char *key)
{
	json_object *s, *v;
	assert_true(json_object_object_get_ex(j, "summary", &s));
	assert_true(json_object_object_get_ex(s, key, &v));
	return json_object_get_int(v);
}

static const char *field(json_object *c, const char *key)
{
	json_object *v;
	assert_true(json_object_object_get_ex(c, key, &v));
	return json_object_get_string(v);
}

/* Print the failures (for a failing assertion's context). */
static void show_fails(json_object *j)
{
	json_object *list;
	json_object_object_get_ex(j, "checks", &list);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		if (strcmp(field(c, "result"), "pass"))
			print_message("%s %s: %s\n", field(c, "result"), field(c, "name"),
				      field(c, "detail"));
	}
}

static void all_pass(const char *args, int min_pass)
{
	int st;
	json_object *j = conform(args, &st);
	if (summary(j, "fail") || st != 0)
		show_fails(j);
	assert_int_equal(summary(j, "fail"), 0);
	assert_int_equal(st, 0);
	assert_true(summary(j, "pass") >= min_pass);
	json_object_put(j);
}

static void test_memdev_passes(void **state)
{
	(void)state;
	/* with the server fuzz corpus replayed too (corpus.replay) */
	all_pass("--split -T 3000 --corpus " UVFIO_SOURCE_ROOT "/tests/fuzz/corpus/server -- " B
		 "/uvfio-memdev {sock}",
		 110);
}

static void test_dma_engine_passes(void **state)
{
	(void)state;
	/* with the kick, the DMA group runs, and passes */
	int st;
	json_object *j = conform(
		"--split -T 3000 --dma-kick '" KICK "' -- " B "/uvfio-dma-engine {sock}", &st);
	if (summary(j, "fail"))
		show_fails(j);
	assert_int_equal(summary(j, "fail"), 0);
	assert_int_equal(st, 0);
	json_object *list;
	assert_true(json_object_object_get_ex(j, "checks", &list));
	int dma = 0;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		if (!strcmp(field(c, "group"), "dma")) {
			assert_string_equal(field(c, "result"), "pass");
			dma++;
		}
	}
	assert_int_equal(dma, 6);
	json_object_put(j);
}

static void test_own_client_passes(void **state)
{
	(void)state;
	all_pass("--client --split -T 2000 -- " B "/uvfio info -T 500 {sock}", 24);
}

struct defect {
	const char *name, *check, *kind;
};

/* Exactly one failure, the expected check's, with a detail of the kind. */
static void caught_once(const char *args, const struct defect *d)
{
	int st;
	json_object *j = conform(args, &st);
	json_object *list;
	assert_true(json_object_object_get_ex(j, "checks", &list));
	int fails = 0;
	bool found = false;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		if (strcmp(field(c, "result"), "fail"))
			continue;
		fails++;
		if (!strcmp(field(c, "name"), d->check) && strstr(field(c, "detail"), d->kind))
			found = true;
	}
	if (!found || fails != 1) {
		show_fails(j);
		fail_msg("defect %s: expected one failure, %s with \"%s\"", d->name, d->check,
			 d->kind);
	}
	assert_int_equal(st, 1);
	json_object_put(j);
}

static const struct defect server_defects[] = {
	{"crash", "region-read.offset-overflow", "crash: the server was killed by SIGSEGV"},
	{"hang", "irq-info.index-out-of-range", "hang:"},
	{"leak", "device-info.descriptor", "descriptor leak"},
	{"wrong", "region-info.valid", "wrong reply"},
	{"accept", "set-irqs.unknown-flag", "accepted bad input"},
};

static void test_broken_server(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(server_defects) / sizeof(server_defects[0]); i++) {
		char args[512];
		snprintf(args, sizeof(args),
			 "--split -T 2000 -- " B "/tests/conform-broken server %s {sock}",
			 server_defects[i].name);
		caught_once(args, &server_defects[i]);
	}
}

static const struct defect client_defects[] = {
	{"crash", "client.device-info-huge-counts", "crash: the client was killed by SIGSEGV"},
	{"hang", "client.silence", "hang:"},
	{"leak", "client.region-info-unexpected-descriptor", "descriptor leak"},
	{"wrong", "client.dma-read-unmapped", "wrong reply"},
	{"accept", "client.version-major-1", "accepted a bad reply"},
};

static void test_broken_client(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(client_defects) / sizeof(client_defects[0]); i++) {
		char args[512];
		snprintf(args, sizeof(args),
			 "--client --split -T 2000 -- " B "/tests/conform-broken client %s {sock}",
			 client_defects[i].name);
		caught_once(args, &client_defects[i]);
	}
}

/* The other reports, and the exit status of a usage error. */
static void test_reports(void **state)
{
	(void)state;
	int st;
	char *out = tu_run(B "/uvfio conform --list --only 'dma-map.*'", &st);
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(out, "dma-map.file-shorter-than-range"));
	assert_non_null(strstr(out, "VFIO_USER_DMA_MAP"));
	assert_null(strstr(out, "region-read"));
	free(out);
	char junit[] = "/tmp/uvfio-conform-junit-XXXXXX";
	int fd = mkstemp(junit);
	close(fd);
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 B "/uvfio conform --tap --junit %s -T 1000 --only 'set-irqs.*' -- " B
		   "/tests/conform-broken server accept {sock}",
		 junit);
	out = tu_run(cmd, &st);
	assert_int_equal(WEXITSTATUS(st), 1);
	assert_non_null(strstr(out, "TAP version 13"));
	assert_non_null(strstr(out, "not ok"));
	assert_non_null(strstr(out, "- set-irqs.unknown-flag"));
	free(out);
	FILE *f = fopen(junit, "r");
	assert_non_null(f);
	char *x = tu_read_all(f);
	fclose(f);
	unlink(junit);
	assert_non_null(strstr(x, "failures=\"1\""));
	assert_non_null(strstr(x, "name=\"set-irqs.unknown-flag\""));
	free(x);
	/* a running server (not spawned): its death is seen as its process gone */
	char sock[64];
	snprintf(sock, sizeof(sock), "/tmp/uvfio-conform-run-%d.sock", (int)getpid());
	unlink(sock);
	snprintf(cmd, sizeof(cmd),
		 "sh -c '" B "/tests/conform-broken server crash %s & while [ ! -S %s ]; do "
		 "sleep 0.05; done; " B
		 "/uvfio conform -T 1000 --only region-read.offset-overflow %s; wait' 2>/dev/null",
		 sock, sock, sock);
	out = tu_run(cmd, &st);
	assert_non_null(strstr(out, "fail region-read.offset-overflow"));
	assert_non_null(strstr(out, "is gone"));
	free(out);
	unlink(sock);
	out = tu_run(B "/uvfio conform 2>&1", &st);
	assert_int_equal(WEXITSTATUS(st), 2);
	free(out);
	out = tu_run(B "/uvfio conform /nonexistent/socket 2>&1", &st);
	assert_int_equal(WEXITSTATUS(st), 2);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memdev_passes),	  cmocka_unit_test(test_dma_engine_passes),
		cmocka_unit_test(test_own_client_passes), cmocka_unit_test(test_broken_server),
		cmocka_unit_test(test_broken_client),	  cmocka_unit_test(test_reports),
	};
	return cmocka_run_group_tests_name("conform", tests, NULL, NULL);
}
