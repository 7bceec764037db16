/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The uvfio tool and the sample devices, run as the programs a person runs:
 * golden output of `uvfio info` (text and JSON) for both devices, every
 * command, exit codes, and the devices' behaviour (mmap-able RAM, DMA with
 * and without a shared descriptor, errors, clean exit on SIGTERM).
 * Set UVFIO_UPDATE_GOLDEN=1 to rewrite the golden files (ignored when CI is set).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uvfio/client.h"
#include "util.h"

/* Run the tool; returns its exit status, output in *out (malloc'ed). */
static int tool(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int tool(char **out, const char *fmt, ...)
{
	char args[1024], cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s/uvfio %s 2>/dev/null", UVFIO_BUILD_ROOT, args);
	int st;
	char *buf = tu_run(cmd, &st);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Output with the socket path replaced by SOCKET, compared to a golden file. */
static void golden(const char *name, char *out, const char *sock)
{
	char *p;
	while ((p = strstr(out, sock))) {
		size_t sl = strlen(sock);
		memcpy(p, "SOCKET", 6);
		memmove(p + 6, p + sl, strlen(p + sl) + 1);
	}
	tu_golden(name, out);
}

static void test_info_golden(void **state)
{
	(void)state;
	static const char *progs[] = { "uvfio-memdev", "uvfio-dma-engine" };
	for (int i = 0; i < 2; i++) {
		struct tu_dev d;
		tu_dev_start(&d, progs[i], NULL);
		char *out, name[64];
		assert_int_equal(tool(&out, "info %s", d.sock), 0);
		snprintf(name, sizeof(name), "%s.info.txt", progs[i]);
		golden(name, out, d.sock);
		free(out);
		assert_int_equal(tool(&out, "--json info %s", d.sock), 0);
		snprintf(name, sizeof(name), "%s.info.json", progs[i]);
		golden(name, out, d.sock);
		free(out);
		tu_dev_stop(&d);
	}
}

static void test_read_write_config_reset(void **state)
{
	(void)state;
	struct tu_dev d;
	tu_dev_start(&d, "uvfio-memdev", NULL);
	char *out;
	assert_int_equal(tool(&out, "read %s bar0 0", d.sock), 0);
	assert_non_null(strstr(out, "00000000: 31 4d 45 4d"));
	free(out);
	assert_int_equal(tool(NULL, "write %s bar0 4 0xdeadbeef", d.sock), 0);
	assert_int_equal(tool(&out, "--json read %s 0 4", d.sock), 0);
	assert_non_null(strstr(out, "\"value\": 3735928559"));
	free(out);
	/* --file into the RAM BAR, read back */
	char tmp[] = "/tmp/uvfio-tool-XXXXXX";
	int fd = mkstemp(tmp);
	assert_int_equal(write(fd, "hello, device", 13), 13);
	close(fd);
	assert_int_equal(tool(NULL, "write %s bar2 0x1000 --file %s", d.sock, tmp), 0);
	unlink(tmp);
	assert_int_equal(tool(&out, "read %s bar2 0x1000 13", d.sock), 0);
	assert_non_null(strstr(out, "hello, device"));
	free(out);
	/* config: decoded and raw */
	assert_int_equal(tool(&out, "config %s", d.sock), 0);
	assert_non_null(strstr(out, "Device 1de5:3e30"));
	assert_non_null(strstr(out, "00000000: e5 1d 30 3e"));
	free(out);
	assert_int_equal(tool(&out, "--json config %s", d.sock), 0);
	assert_non_null(strstr(out, "\"raw\""));
	free(out);
	/* reset clears the scratch register */
	assert_int_equal(tool(NULL, "reset %s", d.sock), 0);
	assert_int_equal(tool(&out, "--json read %s bar0 4", d.sock), 0);
	assert_non_null(strstr(out, "\"value\": 0"));
	free(out);
	tu_dev_stop(&d);
}

static void test_exit_codes(void **state)
{
	(void)state;
	struct tu_dev d;
	tu_dev_start(&d, "uvfio-memdev", NULL);
	assert_int_equal(tool(NULL, "frobnicate %s", d.sock), 2);
	assert_int_equal(tool(NULL, "read %s bar9 0", d.sock), 2);
	assert_int_equal(tool(NULL, "read %s bar0 banana", d.sock), 2);
	assert_int_equal(tool(NULL, "read %s", d.sock), 2);
	assert_int_equal(tool(NULL, "write --size 1 %s bar0 0 300", d.sock), 2);
	assert_int_equal(tool(NULL, "info --bogus %s", d.sock), 2);
	assert_int_equal(tool(NULL, "%s", ""), 2);
	assert_int_equal(tool(NULL, "info /nonexistent/socket"), 3);
	assert_int_equal(tool(NULL, "read %s bar0 0x2000 4", d.sock), 4); /* outside */
	assert_int_equal(tool(NULL, "read %s bar0 1 2", d.sock), 4);      /* device refuses */
	assert_int_equal(tool(NULL, "irq %s msix", d.sock), 4);           /* has none */
	static const char *cmds[] = { "info", "read", "write", "config",
				      "reset", "irq", "dma-test", "trace" };
	for (int i = 0; i < 8; i++) {
		char *out;
		assert_int_equal(tool(&out, "%s --help", cmds[i]), 0);
		assert_non_null(strstr(out, cmds[i]));
		free(out);
	}
	assert_int_equal(tool(NULL, "--help"), 0);
	tu_dev_stop(&d);
}

static void test_irq_command(void **state)
{
	(void)state;
	struct tu_dev d;
	tu_dev_start(&d, "uvfio-memdev", "--tick-ms=20");
	char *out;
	assert_int_equal(tool(&out, "irq %s msi --count 3 --wait 10", d.sock), 0);
	assert_int_equal(strstr(out, "MSI vector 0") != NULL, 1);
	int lines = 0;
	for (char *p = out; (p = strstr(p, "MSI vector 0")); p++)
		lines++;
	assert_int_equal(lines, 3);
	free(out);
	assert_int_equal(tool(&out, "--json irq %s msi --count 1 --wait 10", d.sock), 0);
	assert_non_null(strstr(out, "\"vector\": 0"));
	free(out);
	tu_dev_stop(&d);
}

static void test_dma_engine(void **state)
{
	(void)state;
	struct tu_dev d;
	tu_dev_start(&d, "uvfio-dma-engine", NULL);
	char *out;
	assert_int_equal(tool(&out, "dma-test %s", d.sock), 0);
	assert_non_null(strstr(out, "verified: identical"));
	free(out);
	assert_int_equal(tool(&out, "--json dma-test --no-fd %s", d.sock), 0);
	assert_non_null(strstr(out, "\"data_ok\": true"));
	assert_non_null(strstr(out, "\"interrupt\": true"));
	assert_non_null(strstr(out, "\"shared_fd\": false"));
	free(out);
	/* through the library: a copy from memory the client never gave fails
	 * with EFAULT in the engine's error register */
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = -1 } };
	assert_int_equal(uvfio_client_connect(d.sock, &cfg, &c), 0);
	uint64_t regs[4] = { 0x5000, 0x9000, 64, 1 };
	assert_int_equal(uvfio_client_region_write(c, 0, 0, regs, sizeof(regs)), 0);
	uint64_t st[2];
	assert_int_equal(uvfio_client_region_read(c, 0, 0x20, st, 16), 0);
	assert_int_equal(st[0], 2);
	assert_int_equal(st[1], EFAULT);
	uvfio_client_close(c);
	tu_dev_stop(&d);
	/* the memdev has no engine: the memory is mapped and unmapped */
	tu_dev_start(&d, "uvfio-memdev", NULL);
	assert_int_equal(tool(&out, "dma-test %s", d.sock), 0);
	assert_non_null(strstr(out, "no DMA engine"));
	free(out);
	tu_dev_stop(&d);
}

static void test_memdev_mmap(void **state)
{
	(void)state;
	struct tu_dev d;
	tu_dev_start(&d, "uvfio-memdev", NULL);
	struct uvfio_client *c;
	struct uvfio_client_config cfg = { .log = { .level = -1 } };
	assert_int_equal(uvfio_client_connect(d.sock, &cfg, &c), 0);
	struct uvfio_region_info ri;
	assert_int_equal(uvfio_client_region_info(c, 2, &ri), 0);
	assert_int_equal(ri.size, 1 << 20);
	assert_int_equal(ri.nr_areas, 1);
	void *p;
	assert_int_equal(uvfio_region_map_area(&ri, 0, PROT_READ | PROT_WRITE, &p), 0);
	memcpy((char *)p + 12345, "mapped", 7);
	char back[7];
	assert_int_equal(uvfio_client_region_read(c, 2, 12345, back, 7), 0);
	assert_string_equal(back, "mapped");
	munmap(p, ri.size);
	uvfio_region_info_release(&ri);
	uvfio_client_close(c);
	tu_dev_stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_golden),
		cmocka_unit_test(test_read_write_config_reset),
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_irq_command),
		cmocka_unit_test(test_dma_engine),
		cmocka_unit_test(test_memdev_mmap),
	};
	return cmocka_run_group_tests_name("tool", tests, NULL, NULL);
}
