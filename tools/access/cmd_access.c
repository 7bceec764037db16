/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio read / write / reset / irq / dma-test: access a device's regions,
 * reset it, watch its interrupts, let it DMA into memory of ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

/* Options of the commands in this file. */
static struct {
	int size;       /* write: width of VALUE */
	const char *file; /* write: data from this file */
	long count;     /* irq: stop after this many interrupts (0: never) */
	long seconds;   /* irq: stop after this long (0: never) */
	bool no_fd;     /* dma-test: no shared descriptor */
} o = { .size = 4 };

/* ---- read / write / reset ----------------------------------------------------------- */

static int cmd_read(struct uvfio_client *c, uint32_t region, uint64_t off, uint64_t len)
{
	if (len > (64u << 20))
		return tool_fail(EXIT_USAGE, "read: at most 64 MiB at once");
	uint8_t *buf = malloc(len ? len : 1);
	int r = uvfio_client_region_read(c, region, off, buf, len);
	if (r < 0) {
		free(buf);
		return tool_device_error("read", r);
	}
	if (tool_opts.json) {
		json_object *j = json_object_new_object();
		char *hex = tool_hex(malloc(2 * len + 1), buf, len);
		json_object_object_add(j, "region", json_object_new_int64(region));
		json_object_object_add(j, "offset", json_object_new_uint64(off));
		json_object_object_add(j, "length", json_object_new_uint64(len));
		json_object_object_add(j, "hex", json_object_new_string(hex));
		if (len == 1 || len == 2 || len == 4 || len == 8) {
			uint64_t v = 0;
			memcpy(&v, buf, len);
			json_object_object_add(j, "value", json_object_new_uint64(v));
		}
		free(hex);
		tool_print_json(j);
	} else {
		tool_hexdump(stdout, off, buf, len);
	}
	free(buf);
	return 0;
}

static int cmd_write(struct uvfio_client *c, uint32_t region, uint64_t off, const char *value,
		     int size)
{
	uint8_t *data = NULL;
	size_t len = 0;
	if (o.file) {
		int fd = open(o.file, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			if (fd >= 0)
				close(fd);
			return tool_fail(EXIT_USAGE, "cannot read %s: %s", o.file, strerror(errno));
		}
		len = (size_t)st.st_size;
		data = malloc(len ? len : 1);
		if (read(fd, data, len) != (ssize_t)len) {
			close(fd);
			free(data);
			return tool_fail(EXIT_USAGE, "cannot read %s", o.file);
		}
		close(fd);
	} else {
		uint64_t v;
		if (!value || !tool_parse_u64(value, &v))
			return tool_fail(EXIT_USAGE, "write: VALUE must be a number, such as 0x1f or 31");
		if (size < 8 && v >> (8 * size))
			return tool_fail(EXIT_USAGE, "write: %s does not fit in %d bytes", value, size);
		data = malloc(8);
		memcpy(data, &v, (size_t)size);
		len = (size_t)size;
	}
	int r = uvfio_client_region_write(c, region, off, data, len);
	free(data);
	if (r < 0)
		return tool_device_error("write", r);
	if (tool_opts.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "region", json_object_new_int64(region));
		json_object_object_add(j, "offset", json_object_new_uint64(off));
		json_object_object_add(j, "length", json_object_new_uint64(len));
		tool_print_json(j);
	} else {
		printf("wrote %zu bytes at %#" PRIx64 " of region %u\n", len, off, region);
	}
	return 0;
}

static int cmd_reset(struct uvfio_client *c)
{
	int r = uvfio_client_reset(c);
	if (r < 0)
		return tool_device_error("reset", r);
	if (tool_opts.json)
		tool_print_json(json_object_new_object());
	else
		puts("device reset");
	return 0;
}

/* ---- irq ------------------------------------------------------------------------------ */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int cmd_irq(struct uvfio_client *c, uint32_t index)
{
	struct vfio_irq_info ii;
	int r = uvfio_client_irq_info(c, index, &ii);
	if (r < 0)
		return tool_device_error("DEVICE_GET_IRQ_INFO", r);
	if (!ii.count)
		return tool_fail(EXIT_DEVICE, "the device has no %s interrupts",
			    tool_irq_name(index));
	if (ii.count > 2048)
		return tool_fail(EXIT_DEVICE, "the device reports %u interrupts", ii.count);
	int *efd = malloc(ii.count * sizeof(int));
	for (uint32_t i = 0; i < ii.count; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = uvfio_client_set_irqs(c, index, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, ii.count, efd);
	if (r < 0) {
		for (uint32_t i = 0; i < ii.count; i++)
			close(efd[i]);
		free(efd);
		return tool_device_error("DEVICE_SET_IRQS", r);
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!tool_opts.json) {
		printf("waiting for %s interrupts (%u vectors); Ctrl-C to stop\n",
		       tool_irq_name(index), ii.count);
		fflush(stdout);
	}
	struct pollfd *pf = calloc(ii.count, sizeof(*pf));
	for (uint32_t i = 0; i < ii.count; i++)
		pf[i] = (struct pollfd){ .fd = efd[i], .events = POLLIN };
	long seen = 0;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!interrupted && (!o.count || seen < o.count)) {
		int timeout = 200;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
		if (o.seconds && el >= (double)o.seconds)
			break;
		if (poll(pf, ii.count, timeout) <= 0)
			continue;
		for (uint32_t i = 0; i < ii.count; i++) {
			uint64_t n;
			if (!(pf[i].revents & POLLIN) || read(efd[i], &n, 8) != 8)
				continue;
			seen++;
			if (tool_opts.json) {
				printf("{ \"time\": %.6f, \"irq\": \"%s\", \"vector\": %u, \"count\": %" PRIu64
				       " }\n",
				       el, tool_irq_name(index), i, n);
			} else {
				printf("%10.6f  %s vector %u  (x%" PRIu64 ")\n", el,
				       tool_irq_name(index), i, n);
			}
			fflush(stdout);
		}
	}
	/* disconnect the eventfds again */
	uvfio_client_set_irqs(c, index, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0,
			      NULL);
	for (uint32_t i = 0; i < ii.count; i++)
		close(efd[i]);
	free(efd);
	free(pf);
	return 0;
}

/* ---- dma-test ------------------------------------------------------------------------- */

static int cmd_dma_test(struct uvfio_client *c)
{
	uint16_t id[2];
	int r = uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, 0, id, 4);
	if (r < 0)
		return tool_device_error("reading configuration space", r);
	size_t len = 1 << 20;
	uint64_t iova = 1ull << 32;
	int mfd = memfd_create("uvfio-dma-test", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)len) < 0)
		return tool_fail(EXIT_DEVICE, "cannot create memory: %s", strerror(errno));
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (mem == MAP_FAILED)
		return tool_fail(EXIT_DEVICE, "cannot map memory: %s", strerror(errno));
	struct uvfio_dma_region reg = { .vaddr = mem, .iova = iova, .size = len,
					.prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
					.fd = o.no_fd ? -1 : mfd };
	r = uvfio_client_dma_map(c, &reg);
	int code = 0;
	if (r < 0) {
		code = tool_device_error("DMA_MAP", r);
		goto out;
	}
	if (!tool_opts.json)
		printf("gave the device 1 MiB of memory at IOVA %#" PRIx64 " (%s)\n", iova,
		       o.no_fd ? "reached through DMA_READ/DMA_WRITE messages"
			       : "shared through a file descriptor");
	if (id[0] != TOOL_ENGINE_VENDOR || id[1] != TOOL_ENGINE_DEVICE) {
		if (!tool_opts.json)
			printf("device %04x:%04x has no DMA engine this tool knows; memory mapped "
			       "and unmapped\n",
			       id[0], id[1]);
		goto unmap;
	}
	/* As a driver: Bus Master Enable before the device may DMA. */
	if ((r = uvfio_client_bus_master(c, true)) < 0) {
		code = tool_device_error("setting Bus Master Enable", r);
		goto unmap;
	}
	/* Program a copy of 64 KiB from the first half to the second. */
	size_t n = 64 * 1024;
	for (size_t i = 0; i < n; i++)
		mem[i] = (uint8_t)(i * 7 + 3);
	memset(mem + len / 2, 0, n);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = uvfio_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
				  VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &efd);
	uint64_t regs[3] = { iova, iova + len / 2, n };
	if (r == 0)
		r = uvfio_client_region_write(c, 0, 0x00, regs, sizeof(regs));
	uint64_t go = 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (r == 0)
		r = uvfio_client_region_write(c, 0, 0x18, &go, 8);
	if (r < 0) {
		close(efd);
		code = tool_device_error("programming the DMA engine", r);
		goto unmap;
	}
	/* The engine copies while it answers us: meanwhile this loop answers
	 * its DMA requests, as a VMM's main loop does. */
	struct pollfd pf[2] = { { .fd = efd, .events = POLLIN },
				{ .fd = uvfio_client_poll_fd(c), .events = POLLIN } };
	bool irq = false;
	for (int left = 5000; !irq && left > 0;) {
		int k = poll(pf, 2, left);
		if (k <= 0)
			break;
		irq = pf[0].revents & POLLIN;
		if ((pf[1].revents & POLLIN) && uvfio_client_dispatch(c) < 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = 5000 - (int)((t1.tv_sec - t0.tv_sec) * 1000 +
				    (t1.tv_nsec - t0.tv_nsec) / 1000000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(efd);
	uint64_t status = 0;
	uvfio_client_region_read(c, 0, 0x20, &status, 8);
	bool same = !memcmp(mem, mem + len / 2, n);
	double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
	if (tool_opts.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "bytes", json_object_new_int64((int64_t)n));
		json_object_object_add(j, "shared_fd", json_object_new_boolean(!o.no_fd));
		json_object_object_add(j, "interrupt", json_object_new_boolean(irq));
		json_object_object_add(j, "data_ok", json_object_new_boolean(same));
		json_object_object_add(j, "status", json_object_new_uint64(status));
		tool_print_json(j);
	} else {
		printf("asked the device to copy %zu KiB from %#" PRIx64 " to %#" PRIx64 "\n",
		       n / 1024, iova, iova + len / 2);
		printf("%s MSI-X interrupt arrived after %.0f us\n", irq ? "the" : "NO", us);
		printf("copied data %s\n", same ? "verified: identical" : "DIFFERS");
	}
	if (!irq || !same || status != 1)
		code = tool_fail(EXIT_DEVICE, "the DMA test failed (status %" PRIu64 ")", status);
unmap:
	r = uvfio_client_dma_unmap(c, iova, len);
	if (r < 0 && !code)
		code = tool_device_error("DMA_UNMAP", r);
out:
	munmap(mem, len);
	close(mfd);
	return code;
}


/* ---- command lines ---------------------------------------------------------------------- */

static int access_opt(int ch, const char *arg, void *ctx)
{
	(void)ctx;
	uint64_t v;
	switch (ch) {
	case 's':
		if (!tool_parse_u64(arg, &v) || (v != 1 && v != 2 && v != 4 && v != 8))
			return tool_fail(EXIT_USAGE, "--size must be 1, 2, 4 or 8");
		o.size = (int)v;
		return -1;
	case 'f': o.file = arg; return -1;
	case 'c':
		if (!tool_parse_u64(arg, &v) || v > INT32_MAX)
			return tool_fail(EXIT_USAGE, "--count takes a number");
		o.count = (long)v;
		return -1;
	case 'w':
		if (!tool_parse_u64(arg, &v) || v > INT32_MAX)
			return tool_fail(EXIT_USAGE, "--wait takes seconds");
		o.seconds = (long)v;
		return -1;
	case 'N': o.no_fd = true; return -1;
	}
	return EXIT_USAGE;
}

static const struct option write_long[] = {
	{ "size", required_argument, NULL, 's' },
	{ "file", required_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 },
};
static const struct option irq_long[] = {
	{ "count", required_argument, NULL, 'c' },
	{ "wait", required_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};
static const struct option dma_long[] = {
	{ "no-fd", no_argument, NULL, 'N' },
	{ NULL, 0, NULL, 0 },
};

static const struct tool_cmd read_cmd, write_cmd, reset_cmd, irq_cmd, dma_test_cmd;

/* Parse, check REGION/OFFSET (read, write) and connect; -1 to go on. */
static int access_args(const struct tool_cmd *cmd, int argc, char **argv,
		       const struct tool_argspec *spec, char **pos, int *npos,
		       struct uvfio_client **c)
{
	int code = tool_args(cmd, argc, argv, spec, pos, npos);
	if (code >= 0)
		return code;
	*c = tool_open_client(pos[0], &code);
	return *c ? -1 : code;
}

static bool region_off(char **pos, uint32_t *region, uint64_t *off, int *code)
{
	if (!tool_parse_region(pos[1], region))
		*code = tool_fail(EXIT_USAGE, "unknown region \"%s\"", pos[1]);
	else if (!tool_parse_u64(pos[2], off))
		*code = tool_fail(EXIT_USAGE, "OFFSET must be a number");
	else
		return true;
	return false;
}

static int run_read(int argc, char **argv)
{
	char *pos[4];
	int npos, code;
	struct tool_argspec spec = { .min_pos = 3, .max_pos = 4 };
	if ((code = tool_args(&read_cmd, argc, argv, &spec, pos, &npos)) >= 0)
		return code;
	uint32_t region;
	uint64_t off, len = 4;
	if (!region_off(pos, &region, &off, &code))
		return code;
	if (npos == 4 && (!tool_parse_u64(pos[3], &len) || !len))
		return tool_fail(EXIT_USAGE, "LENGTH must be a positive number");
	struct uvfio_client *c = tool_open_client(pos[0], &code);
	if (!c)
		return code;
	code = cmd_read(c, region, off, len);
	uvfio_client_close(c);
	return code;
}

static int run_write(int argc, char **argv)
{
	char *pos[4];
	int npos, code;
	struct tool_argspec spec = { .shortopts = "s:f:", .longopts = write_long,
				     .opt = access_opt, .min_pos = 3, .max_pos = 4 };
	if ((code = tool_args(&write_cmd, argc, argv, &spec, pos, &npos)) >= 0)
		return code;
	if (npos != (o.file ? 3 : 4)) {
		fputs(write_cmd.help, stderr);
		return tool_fail(EXIT_USAGE, "write takes %d arguments", o.file ? 3 : 4);
	}
	uint32_t region;
	uint64_t off;
	if (!region_off(pos, &region, &off, &code))
		return code;
	struct uvfio_client *c = tool_open_client(pos[0], &code);
	if (!c)
		return code;
	code = cmd_write(c, region, off, npos > 3 ? pos[3] : NULL, o.size);
	uvfio_client_close(c);
	return code;
}

static int run_reset(int argc, char **argv)
{
	char *pos[1];
	int npos, code;
	struct uvfio_client *c;
	struct tool_argspec spec = { .min_pos = 1, .max_pos = 1 };
	if ((code = access_args(&reset_cmd, argc, argv, &spec, pos, &npos, &c)) >= 0)
		return code;
	code = cmd_reset(c);
	uvfio_client_close(c);
	return code;
}

static int run_irq(int argc, char **argv)
{
	char *pos[2];
	int npos, code;
	struct tool_argspec spec = { .shortopts = "c:w:", .longopts = irq_long,
				     .opt = access_opt, .min_pos = 2, .max_pos = 2 };
	if ((code = tool_args(&irq_cmd, argc, argv, &spec, pos, &npos)) >= 0)
		return code;
	uint32_t irq;
	if (!tool_parse_irq(pos[1], &irq))
		return tool_fail(EXIT_USAGE, "unknown interrupt type \"%s\"", pos[1]);
	struct uvfio_client *c = tool_open_client(pos[0], &code);
	if (!c)
		return code;
	code = cmd_irq(c, irq);
	uvfio_client_close(c);
	return code;
}

static int run_dma_test(int argc, char **argv)
{
	char *pos[1];
	int npos, code;
	struct uvfio_client *c;
	struct tool_argspec spec = { .longopts = dma_long, .opt = access_opt,
				     .min_pos = 1, .max_pos = 1 };
	if ((code = access_args(&dma_test_cmd, argc, argv, &spec, pos, &npos, &c)) >= 0)
		return code;
	code = cmd_dma_test(c);
	uvfio_client_close(c);
	return code;
}

static const struct tool_cmd read_cmd = {
	.name = "read",
	.summary = "read SOCKET REGION OFFSET [LEN]   read LEN bytes (default 4) and hex-dump them",
	.help = "uvfio read SOCKET REGION OFFSET [LENGTH]\n  Read LENGTH bytes (default 4) "
		"and hex-dump them. REGION: bar0..bar5,\n  rom, config, vga or a number.\n",
	.run = run_read,
	.rank = 20,
};
TOOL_COMMAND(read_cmd);

static const struct tool_cmd write_cmd = {
	.name = "write",
	.summary = "write SOCKET REGION OFFSET VALUE  write VALUE (--size bytes, default 4)\n"
		   "  write SOCKET REGION OFFSET --file F   write the contents of F",
	.help = "uvfio write [--size N] SOCKET REGION OFFSET VALUE\n"
		"uvfio write SOCKET REGION OFFSET --file F\n"
		"  Write VALUE as N bytes (1, 2, 4 or 8; default 4), or the file's bytes.\n"
		"  -s, --size N   write width in bytes\n"
		"  -f, --file F   take the data from F\n",
	.run = run_write,
	.rank = 30,
};
TOOL_COMMAND(write_cmd);

static const struct tool_cmd reset_cmd = {
	.name = "reset",
	.summary = "reset SOCKET                      reset the device",
	.help = "uvfio reset SOCKET\n  Reset the device (DEVICE_RESET).\n",
	.run = run_reset,
	.rank = 50,
};
TOOL_COMMAND(reset_cmd);

static const struct tool_cmd irq_cmd = {
	.name = "irq",
	.summary = "irq SOCKET TYPE                   wire eventfds and report interrupts as they come",
	.help = "uvfio irq [--count N] [--wait SECONDS] SOCKET TYPE\n"
		"  Wire an eventfd to every vector of TYPE (intx, msi, msix, err, req) and\n"
		"  print each interrupt as it arrives, until Ctrl-C, N interrupts or SECONDS.\n",
	.run = run_irq,
	.rank = 60,
};
TOOL_COMMAND(irq_cmd);

static const struct tool_cmd dma_test_cmd = {
	.name = "dma-test",
	.summary = "dma-test SOCKET                   give the device memory and let it DMA into it",
	.help = "uvfio dma-test [--no-fd] SOCKET\n"
		"  Give the device 1 MiB of memory (shared by descriptor, or with --no-fd\n"
		"  reached through DMA_READ/DMA_WRITE messages). If it is uvfio-dma-engine,\n"
		"  set Bus Master Enable (as a driver does), make it copy 64 KiB and check\n"
		"  the data and the completion interrupt.\n",
	.run = run_dma_test,
	.rank = 70,
};
TOOL_COMMAND(dma_test_cmd);
