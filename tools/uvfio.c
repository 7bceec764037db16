/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio — inspect and drive any vfio-user device from the command line.
 * See docs/uvfio.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "uvfio/client.h"
#include "tool.h"

struct opts {
	bool json;
	bool trace;
	bool no_fd;
	int timeout_ms;
	int log_level;
	long count;     /* irq: stop after this many interrupts (0: never) */
	long seconds;   /* irq: stop after this long (0: never) */
	const char *file;
};

static struct opts o = { .timeout_ms = 5000, .log_level = UVFIO_LOG_ERR };

static const char *region_names[] = { "BAR0", "BAR1", "BAR2", "BAR3", "BAR4",
				      "BAR5", "ROM",  "CONFIG", "VGA" };
static const char *irq_names[] = { "INTX", "MSI", "MSIX", "ERR", "REQ" };

static void usage(FILE *f)
{
	fputs("Usage: uvfio [OPTIONS] COMMAND SOCKET [ARGS]\n"
	      "Inspect and drive a vfio-user device.\n\n"
	      "Commands:\n"
	      "  info SOCKET                       device, regions, interrupts, decoded config space\n"
	      "  read SOCKET REGION OFFSET [LEN]   read LEN bytes (default 4) and hex-dump them\n"
	      "  write SOCKET REGION OFFSET VALUE  write VALUE (--size bytes, default 4)\n"
	      "  write SOCKET REGION OFFSET --file F   write the contents of F\n"
	      "  config SOCKET                     configuration space, raw and decoded\n"
	      "  reset SOCKET                      reset the device\n"
	      "  irq SOCKET TYPE                   wire eventfds and report interrupts as they come\n"
	      "  dma-test SOCKET                   give the device memory and let it DMA into it\n\n"
	      "REGION: bar0..bar5, rom, config, vga, or a number. TYPE: intx, msi, msix, err, req,\n"
	      "or a number.\n\n"
	      "Options:\n"
	      "  -j, --json          machine-readable output\n"
	      "  -t, --trace         print every message header sent and received\n"
	      "  -T, --timeout MS    message timeout (default 5000)\n"
	      "  -s, --size N        write width in bytes: 1, 2, 4 or 8\n"
	      "  -f, --file F        write: take the data from F\n"
	      "  -c, --count N       irq: stop after N interrupts\n"
	      "  -w, --wait SECONDS  irq: stop after SECONDS\n"
	      "      --no-fd         dma-test: do not share the memory's descriptor\n"
	      "  -v, --verbose       log more (repeat for debug)\n"
	      "  -h, --help          this text; COMMAND --help for one command\n\n"
	      "Exit status: 0 success, 2 usage error, 3 connection failure, 4 device error.\n",
	      f);
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("uvfio: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return false;
	*v = x;
	return true;
}

static bool parse_region(const char *s, uint32_t *idx)
{
	for (uint32_t i = 0; i < 9; i++)
		if (!strcasecmp(s, region_names[i])) {
			*idx = i;
			return true;
		}
	uint64_t v;
	if (parse_u64(s, &v) && v < 1024) {
		*idx = (uint32_t)v;
		return true;
	}
	return false;
}

static bool parse_irq(const char *s, uint32_t *idx)
{
	for (uint32_t i = 0; i < 5; i++)
		if (!strcasecmp(s, irq_names[i]) || (!strcasecmp(s, "msi-x") && i == 2)) {
			*idx = i;
			return true;
		}
	uint64_t v;
	if (parse_u64(s, &v) && v < 64) {
		*idx = (uint32_t)v;
		return true;
	}
	return false;
}

static const char *region_name(uint32_t i, char *buf, size_t len)
{
	if (i < 9)
		return region_names[i];
	snprintf(buf, len, "REGION%u", i);
	return buf;
}

static struct uvfio_client *open_client(const char *sock, int *code)
{
	struct uvfio_client_config cfg = { .timeout_ms = o.timeout_ms,
					   .log = { .level = o.log_level, .trace = o.trace } };
	struct uvfio_client *c;
	int r = uvfio_client_connect(sock, &cfg, &c);
	if (r < 0) {
		*code = fail(EXIT_CONNECT, "cannot connect to %s: %s", sock, uvfio_strerror(r));
		return NULL;
	}
	return c;
}

static int device_error(const char *what, int r)
{
	return fail(r == -ECONNRESET ? EXIT_CONNECT : EXIT_DEVICE, "%s: %s", what,
		    uvfio_strerror(r));
}

static void print_json(json_object *j)
{
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	json_object_put(j);
}

static void flags_str(uint32_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", f & VFIO_REGION_INFO_FLAG_READ ? "read " : "",
		 f & VFIO_REGION_INFO_FLAG_WRITE ? "write " : "",
		 f & VFIO_REGION_INFO_FLAG_MMAP ? "mmap " : "",
		 f & VFIO_REGION_INFO_FLAG_CAPS ? "caps " : "");
	size_t n = strlen(buf);
	if (n)
		buf[n - 1] = 0;
}

/* ---- info / config --------------------------------------------------------------- */

static int cmd_info(struct uvfio_client *c, bool config_only)
{
	struct uvfio_device_info di;
	int r = uvfio_client_device_info(c, &di);
	if (r < 0)
		return device_error("DEVICE_GET_INFO", r);
	json_object *js = json_object_new_object();
	uint64_t bar_sizes[6] = { 0 };
	json_object *regions = json_object_new_array();
	if (!config_only && !o.json)
		printf("Device: %s%s, %u regions, %u interrupt types\n",
		       di.flags & VFIO_DEVICE_FLAGS_PCI ? "PCI" : "unknown bus",
		       di.flags & VFIO_DEVICE_FLAGS_RESET ? ", resettable" : "", di.num_regions,
		       di.num_irqs);
	if (!config_only && !o.json)
		puts("Regions:");
	uint64_t cfg_size = 256;
	for (uint32_t i = 0; i < di.num_regions && i < 64; i++) {
		struct uvfio_region_info ri;
		if ((r = uvfio_client_region_info(c, i, &ri)) < 0) {
			json_object_put(js);
			json_object_put(regions);
			return device_error("DEVICE_GET_REGION_INFO", r);
		}
		if (i < 6)
			bar_sizes[i] = ri.size;
		if (i == 7)
			cfg_size = ri.size;
		char nb[16], fb[32];
		flags_str(ri.flags, fb, sizeof(fb));
		json_object *jr = json_object_new_object();
		json_object_object_add(jr, "index", json_object_new_int((int)i));
		json_object_object_add(jr, "name", json_object_new_string(region_name(i, nb, 16)));
		json_object_object_add(jr, "size", json_object_new_uint64(ri.size));
		json_object_object_add(jr, "flags", json_object_new_string(fb));
		json_object *ja = json_object_new_array();
		for (uint32_t k = 0; k < ri.nr_areas; k++) {
			json_object *a = json_object_new_object();
			json_object_object_add(a, "offset", json_object_new_uint64(ri.areas[k].offset));
			json_object_object_add(a, "size", json_object_new_uint64(ri.areas[k].size));
			json_object_array_add(ja, a);
		}
		json_object_object_add(jr, "mmap_areas", ja);
		if (ri.has_type) {
			json_object_object_add(jr, "type", json_object_new_int64(ri.type));
			json_object_object_add(jr, "subtype", json_object_new_int64(ri.subtype));
		}
		json_object_array_add(regions, jr);
		if (!config_only && !o.json && ri.size) {
			printf("  %-8s index %u  size %#" PRIx64 "  %s", region_name(i, nb, 16), i,
			       ri.size, fb);
			for (uint32_t k = 0; k < ri.nr_areas; k++)
				printf("%s[%#" PRIx64 "+%#" PRIx64 ")", k ? " " : "  mmap ",
				       ri.areas[k].offset, ri.areas[k].size);
			if (ri.has_type)
				printf("  type %u/%u", ri.type, ri.subtype);
			putchar('\n');
		}
		uvfio_region_info_release(&ri);
	}
	json_object *irqs = json_object_new_array();
	if (!config_only && !o.json)
		puts("Interrupts:");
	for (uint32_t i = 0; i < di.num_irqs && i < 64; i++) {
		struct vfio_irq_info ii;
		if ((r = uvfio_client_irq_info(c, i, &ii)) < 0) {
			json_object_put(js);
			json_object_put(regions);
			json_object_put(irqs);
			return device_error("DEVICE_GET_IRQ_INFO", r);
		}
		json_object *ji = json_object_new_object();
		json_object_object_add(ji, "index", json_object_new_int((int)i));
		json_object_object_add(ji, "name",
				       json_object_new_string(i < 5 ? irq_names[i] : "OTHER"));
		json_object_object_add(ji, "count", json_object_new_int64(ii.count));
		json_object_object_add(ji, "flags", json_object_new_int64(ii.flags));
		json_object_array_add(irqs, ji);
		if (!config_only && !o.json && ii.count)
			printf("  %-5s count %u%s%s%s%s\n", i < 5 ? irq_names[i] : "OTHER", ii.count,
			       ii.flags & VFIO_IRQ_INFO_EVENTFD ? "  eventfd" : "",
			       ii.flags & VFIO_IRQ_INFO_MASKABLE ? " maskable" : "",
			       ii.flags & VFIO_IRQ_INFO_AUTOMASKED ? " automasked" : "",
			       ii.flags & VFIO_IRQ_INFO_NORESIZE ? " noresize" : "");
	}
	uint8_t cfg[4096];
	size_t clen = cfg_size > sizeof(cfg) ? sizeof(cfg) : (size_t)cfg_size;
	if ((r = uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, 0, cfg, clen)) < 0) {
		json_object_put(js);
		json_object_put(regions);
		json_object_put(irqs);
		return device_error("reading configuration space", r);
	}
	json_object *jc = json_object_new_object();
	FILE *text = o.json ? fopen("/dev/null", "w") : stdout;
	if (!o.json)
		puts(config_only ? "Decoded:" : "Configuration space:");
	tool_decode_config(cfg, clen, bar_sizes, text, jc);
	if (o.json)
		fclose(text);
	if (config_only) {
		if (!o.json) {
			puts("Raw:");
			tool_hexdump(stdout, 0, cfg, clen);
		}
		json_object *raw = json_object_new_array();
		for (size_t i = 0; i < clen; i++)
			json_object_array_add(raw, json_object_new_int(cfg[i]));
		json_object_object_add(jc, "raw", raw);
		json_object_put(js);
		json_object_put(regions);
		json_object_put(irqs);
		if (o.json)
			print_json(jc);
		else
			json_object_put(jc);
		return 0;
	}
	json_object_object_add(js, "flags", json_object_new_int64(di.flags));
	json_object_object_add(js, "num_regions", json_object_new_int64(di.num_regions));
	json_object_object_add(js, "num_irqs", json_object_new_int64(di.num_irqs));
	json_object_object_add(js, "regions", regions);
	json_object_object_add(js, "irqs", irqs);
	json_object_object_add(js, "config", jc);
	if (o.json)
		print_json(js);
	else
		json_object_put(js);
	return 0;
}

/* ---- read / write / reset ----------------------------------------------------------- */

static int cmd_read(struct uvfio_client *c, uint32_t region, uint64_t off, uint64_t len)
{
	if (len > (64u << 20))
		return fail(EXIT_USAGE, "read: at most 64 MiB at once");
	uint8_t *buf = malloc(len ? len : 1);
	int r = uvfio_client_region_read(c, region, off, buf, len);
	if (r < 0) {
		free(buf);
		return device_error("read", r);
	}
	if (o.json) {
		json_object *j = json_object_new_object();
		char *hex = malloc(2 * len + 1);
		for (uint64_t i = 0; i < len; i++)
			sprintf(hex + 2 * i, "%02x", buf[i]);
		hex[2 * len] = 0;
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
		print_json(j);
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
			return fail(EXIT_USAGE, "cannot read %s: %s", o.file, strerror(errno));
		}
		len = (size_t)st.st_size;
		data = malloc(len ? len : 1);
		if (read(fd, data, len) != (ssize_t)len) {
			close(fd);
			free(data);
			return fail(EXIT_USAGE, "cannot read %s", o.file);
		}
		close(fd);
	} else {
		uint64_t v;
		if (!value || !parse_u64(value, &v))
			return fail(EXIT_USAGE, "write: VALUE must be a number, such as 0x1f or 31");
		if (size < 8 && v >> (8 * size))
			return fail(EXIT_USAGE, "write: %s does not fit in %d bytes", value, size);
		data = malloc(8);
		memcpy(data, &v, (size_t)size);
		len = (size_t)size;
	}
	int r = uvfio_client_region_write(c, region, off, data, len);
	free(data);
	if (r < 0)
		return device_error("write", r);
	if (o.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "region", json_object_new_int64(region));
		json_object_object_add(j, "offset", json_object_new_uint64(off));
		json_object_object_add(j, "length", json_object_new_uint64(len));
		print_json(j);
	} else {
		printf("wrote %zu bytes at %#" PRIx64 " of region %u\n", len, off, region);
	}
	return 0;
}

static int cmd_reset(struct uvfio_client *c)
{
	int r = uvfio_client_reset(c);
	if (r < 0)
		return device_error("reset", r);
	if (o.json)
		print_json(json_object_new_object());
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
		return device_error("DEVICE_GET_IRQ_INFO", r);
	if (!ii.count)
		return fail(EXIT_DEVICE, "the device has no %s interrupts",
			    index < 5 ? irq_names[index] : "such");
	if (ii.count > 2048)
		return fail(EXIT_DEVICE, "the device reports %u interrupts", ii.count);
	int *efd = malloc(ii.count * sizeof(int));
	for (uint32_t i = 0; i < ii.count; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = uvfio_client_set_irqs(c, index, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  0, ii.count, efd);
	if (r < 0) {
		for (uint32_t i = 0; i < ii.count; i++)
			close(efd[i]);
		free(efd);
		return device_error("DEVICE_SET_IRQS", r);
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!o.json) {
		printf("waiting for %s interrupts (%u vectors); Ctrl-C to stop\n",
		       index < 5 ? irq_names[index] : "", ii.count);
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
			if (o.json) {
				printf("{ \"time\": %.6f, \"irq\": \"%s\", \"vector\": %u, \"count\": %" PRIu64
				       " }\n",
				       el, index < 5 ? irq_names[index] : "", i, n);
			} else {
				printf("%10.6f  %s vector %u  (x%" PRIu64 ")\n", el,
				       index < 5 ? irq_names[index] : "", i, n);
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

/* The sample DMA engine (devices/dma_engine.c) */
#define ENGINE_VENDOR 0x1de5
#define ENGINE_DEVICE 0xd0a0

static int cmd_dma_test(struct uvfio_client *c)
{
	uint16_t id[2];
	int r = uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, 0, id, 4);
	if (r < 0)
		return device_error("reading configuration space", r);
	size_t len = 1 << 20;
	uint64_t iova = 1ull << 32;
	int mfd = memfd_create("uvfio-dma-test", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)len) < 0)
		return fail(EXIT_DEVICE, "cannot create memory: %s", strerror(errno));
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (mem == MAP_FAILED)
		return fail(EXIT_DEVICE, "cannot map memory: %s", strerror(errno));
	struct uvfio_dma_region reg = { .vaddr = mem, .iova = iova, .size = len,
					.prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
					.fd = o.no_fd ? -1 : mfd };
	r = uvfio_client_dma_map(c, &reg);
	int code = 0;
	if (r < 0) {
		code = device_error("DMA_MAP", r);
		goto out;
	}
	if (!o.json)
		printf("gave the device 1 MiB of memory at IOVA %#" PRIx64 " (%s)\n", iova,
		       o.no_fd ? "reached through DMA_READ/DMA_WRITE messages"
			       : "shared through a file descriptor");
	if (id[0] != ENGINE_VENDOR || id[1] != ENGINE_DEVICE) {
		if (!o.json)
			printf("device %04x:%04x has no DMA engine this tool knows; memory mapped "
			       "and unmapped\n",
			       id[0], id[1]);
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
		code = device_error("programming the DMA engine", r);
		goto unmap;
	}
	struct pollfd pf = { .fd = efd, .events = POLLIN };
	bool irq = poll(&pf, 1, 5000) == 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(efd);
	uint64_t status = 0;
	uvfio_client_region_read(c, 0, 0x20, &status, 8);
	bool same = !memcmp(mem, mem + len / 2, n);
	double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
	if (o.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "bytes", json_object_new_int64((int64_t)n));
		json_object_object_add(j, "shared_fd", json_object_new_boolean(!o.no_fd));
		json_object_object_add(j, "interrupt", json_object_new_boolean(irq));
		json_object_object_add(j, "data_ok", json_object_new_boolean(same));
		json_object_object_add(j, "status", json_object_new_uint64(status));
		print_json(j);
	} else {
		printf("asked the device to copy %zu KiB from %#" PRIx64 " to %#" PRIx64 "\n",
		       n / 1024, iova, iova + len / 2);
		printf("%s MSI-X interrupt arrived after %.0f us\n", irq ? "the" : "NO", us);
		printf("copied data %s\n", same ? "verified: identical" : "DIFFERS");
	}
	if (!irq || !same || status != 1)
		code = fail(EXIT_DEVICE, "the DMA test failed (status %" PRIu64 ")", status);
unmap:
	r = uvfio_client_dma_unmap(c, iova, len);
	if (r < 0 && !code)
		code = device_error("DMA_UNMAP", r);
out:
	munmap(mem, len);
	close(mfd);
	return code;
}

/* ---- main ------------------------------------------------------------------------------ */

static const char *cmd_help(const char *cmd)
{
	if (!strcmp(cmd, "info"))
		return "uvfio info SOCKET\n  Device flags, every region (size, flags, mmap areas, type),\n"
		       "  every interrupt type, and the decoded configuration space.\n";
	if (!strcmp(cmd, "read"))
		return "uvfio read SOCKET REGION OFFSET [LENGTH]\n  Read LENGTH bytes (default 4) "
		       "and hex-dump them. REGION: bar0..bar5,\n  rom, config, vga or a number.\n";
	if (!strcmp(cmd, "write"))
		return "uvfio write [--size N] SOCKET REGION OFFSET VALUE\n"
		       "uvfio write SOCKET REGION OFFSET --file F\n"
		       "  Write VALUE as N bytes (1, 2, 4 or 8; default 4), or the file's bytes.\n";
	if (!strcmp(cmd, "config"))
		return "uvfio config SOCKET\n  The configuration space, decoded and as a hex dump.\n";
	if (!strcmp(cmd, "reset"))
		return "uvfio reset SOCKET\n  Reset the device (DEVICE_RESET).\n";
	if (!strcmp(cmd, "irq"))
		return "uvfio irq [--count N] [--wait SECONDS] SOCKET TYPE\n"
		       "  Wire an eventfd to every vector of TYPE (intx, msi, msix, err, req) and\n"
		       "  print each interrupt as it arrives, until Ctrl-C, N interrupts or SECONDS.\n";
	if (!strcmp(cmd, "dma-test"))
		return "uvfio dma-test [--no-fd] SOCKET\n"
		       "  Give the device 1 MiB of memory (shared by descriptor, or with --no-fd\n"
		       "  reached through DMA_READ/DMA_WRITE messages). If it is uvfio-dma-engine,\n"
		       "  make it copy 64 KiB and check the data and the completion interrupt.\n";
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },      { "trace", no_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' }, { "size", required_argument, NULL, 's' },
		{ "file", required_argument, NULL, 'f' }, { "count", required_argument, NULL, 'c' },
		{ "wait", required_argument, NULL, 'w' }, { "no-fd", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int size = 4, ch;
	bool help = false;
	uint64_t v;
	while ((ch = getopt_long(argc, argv, "+jtT:s:f:c:w:vh", lo, NULL)) != -1) {
		switch (ch) {
		case 'j': o.json = true; break;
		case 't': o.trace = true; break;
		case 'T':
			if (!parse_u64(optarg, &v) || v > INT32_MAX)
				return fail(EXIT_USAGE, "--timeout takes milliseconds");
			o.timeout_ms = (int)v;
			break;
		case 's':
			if (!parse_u64(optarg, &v) || (v != 1 && v != 2 && v != 4 && v != 8))
				return fail(EXIT_USAGE, "--size must be 1, 2, 4 or 8");
			size = (int)v;
			break;
		case 'f': o.file = optarg; break;
		case 'c':
			if (!parse_u64(optarg, &v) || v > INT32_MAX)
				return fail(EXIT_USAGE, "--count takes a number");
			o.count = (long)v;
			break;
		case 'w':
			if (!parse_u64(optarg, &v) || v > INT32_MAX)
				return fail(EXIT_USAGE, "--wait takes seconds");
			o.seconds = (long)v;
			break;
		case 'N': o.no_fd = true; break;
		case 'v': o.log_level = o.log_level == UVFIO_LOG_ERR ? UVFIO_LOG_INFO : UVFIO_LOG_DEBUG; break;
		case 'h': help = true; break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(help ? stdout : stderr);
		return help ? 0 : EXIT_USAGE;
	}
	const char *cmd = argv[optind++];
	const char *h = cmd_help(cmd);
	if (!h)
		return fail(EXIT_USAGE, "unknown command \"%s\" (see uvfio --help)", cmd);
	/* options may also follow the command */
	int rest = argc - optind;
	char **args = argv + optind;
	char *pos[8];
	int npos = 0;
	optind = 0;
	for (int i = 0; i < rest; i++) {
		const char *a = args[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			help = true;
		else if (!strcmp(a, "--json") || !strcmp(a, "-j"))
			o.json = true;
		else if (!strcmp(a, "--no-fd"))
			o.no_fd = true;
		else if (!strcmp(a, "--trace"))
			o.trace = true;
		else if ((!strcmp(a, "--file") || !strcmp(a, "-f")) && i + 1 < rest)
			o.file = args[++i];
		else if ((!strcmp(a, "--count") || !strcmp(a, "-c")) && i + 1 < rest &&
			 parse_u64(args[i + 1], &v))
			o.count = (long)v, i++;
		else if ((!strcmp(a, "--wait") || !strcmp(a, "-w")) && i + 1 < rest &&
			 parse_u64(args[i + 1], &v))
			o.seconds = (long)v, i++;
		else if ((!strcmp(a, "--size") || !strcmp(a, "-s")) && i + 1 < rest &&
			 parse_u64(args[i + 1], &v) && (v == 1 || v == 2 || v == 4 || v == 8))
			size = (int)v, i++;
		else if (a[0] == '-' && a[1] == '-')
			return fail(EXIT_USAGE, "unknown option %s for %s", a, cmd);
		else if (npos < 8)
			pos[npos++] = args[i];
		else
			return fail(EXIT_USAGE, "too many arguments for %s", cmd);
	}
	if (help) {
		fputs(h, stdout);
		return 0;
	}
	int need_min = 1, need_max = 1;
	if (!strcmp(cmd, "read"))
		need_min = 3, need_max = 4;
	else if (!strcmp(cmd, "write"))
		need_min = o.file ? 3 : 4, need_max = o.file ? 3 : 4;
	else if (!strcmp(cmd, "irq"))
		need_min = need_max = 2;
	if (npos < need_min || npos > need_max) {
		fprintf(stderr, "%s", h);
		return fail(EXIT_USAGE, "%s takes %d%s argument%s", cmd, need_min,
			    need_max > need_min ? " or more" : "", need_min > 1 ? "s" : "");
	}
	uint32_t region = 0, irq = 0;
	uint64_t off = 0, len = 4;
	if (!strcmp(cmd, "read") || !strcmp(cmd, "write")) {
		if (!parse_region(pos[1], &region))
			return fail(EXIT_USAGE, "unknown region \"%s\"", pos[1]);
		if (!parse_u64(pos[2], &off))
			return fail(EXIT_USAGE, "OFFSET must be a number");
		if (!strcmp(cmd, "read") && npos == 4 && (!parse_u64(pos[3], &len) || !len))
			return fail(EXIT_USAGE, "LENGTH must be a positive number");
	}
	if (!strcmp(cmd, "irq") && !parse_irq(pos[1], &irq))
		return fail(EXIT_USAGE, "unknown interrupt type \"%s\"", pos[1]);

	int code = 0;
	struct uvfio_client *c = open_client(pos[0], &code);
	if (!c)
		return code;
	if (!strcmp(cmd, "info"))
		code = cmd_info(c, false);
	else if (!strcmp(cmd, "config"))
		code = cmd_info(c, true);
	else if (!strcmp(cmd, "read"))
		code = cmd_read(c, region, off, len);
	else if (!strcmp(cmd, "write"))
		code = cmd_write(c, region, off, npos > 3 ? pos[3] : NULL, size);
	else if (!strcmp(cmd, "reset"))
		code = cmd_reset(c);
	else if (!strcmp(cmd, "irq"))
		code = cmd_irq(c, irq);
	else if (!strcmp(cmd, "dma-test"))
		code = cmd_dma_test(c);
	uvfio_client_close(c);
	return code;
}
