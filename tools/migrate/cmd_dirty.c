/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio dirty-test: dirty-page logging seen from the client. Give the
 * device memory, start logging, let the device write (uvfio-dma-engine
 * copies), and set the bitmap the server reports beside the pages that
 * actually changed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tool.h"

#define MEM_LEN (1u << 20)
#define PAGE 4096u
#define NPAGES (MEM_LEN / PAGE)
#define IOVA (1ull << 32)
#define FILL 0x5a

static bool no_fd;

/* Copies the engine is asked for: reads from the first pages, writes to
 * pages spread over the rest (unaligned, crossing pages, one byte). */
static const struct {
	uint32_t src, dst, len;
} copies[] = {
	{ 0x0000, 0x80000, 0x3000 }, /* three whole pages */
	{ 0x1000, 0xc1800, 0x1000 }, /* one page's worth across two */
	{ 0x2000, 0xfff00, 0x100 },  /* the end of the last page */
	{ 0x0000, 0x40000, 1 },      /* a single byte */
};

static bool bit(const uint64_t *bm, unsigned p)
{
	return bm[p / 64] >> (p % 64) & 1;
}

/* "0x80-0x82, 0xc1" for the set pages; the count as the result. */
static unsigned page_list(const uint64_t *bm, char *out, size_t len)
{
	unsigned n = 0;
	size_t at = 0;
	out[0] = 0;
	for (unsigned p = 0; p < NPAGES; p++) {
		if (!bit(bm, p))
			continue;
		unsigned q = p;
		while (q + 1 < NPAGES && bit(bm, q + 1))
			q++;
		int w = q > p ? snprintf(out + at, len - at, "%s%#x-%#x", n ? ", " : "", p, q)
			      : snprintf(out + at, len - at, "%s%#x", n ? ", " : "", p);
		if (w > 0 && (size_t)w < len - at)
			at += (size_t)w;
		n += q - p + 1;
		p = q;
	}
	if (!n)
		snprintf(out, len, "none");
	return n;
}

static json_object *json_pages(const uint64_t *bm)
{
	json_object *a = json_object_new_array();
	for (unsigned p = 0; p < NPAGES; p++)
		if (bit(bm, p))
			json_object_array_add(a, json_object_new_int((int)p));
	return a;
}

/* Run the copies, polling STATUS while the engine is busy (4) as a driver
 * does: each read lets this client answer the engine's DMA requests. */
static int engine_copies(struct uvfio_client *c)
{
	int b = uvfio_client_bus_master(c, true); /* as a driver does first */
	if (b < 0)
		return tool_device_error("setting Bus Master Enable", b);
	for (size_t i = 0; i < sizeof(copies) / sizeof(copies[0]); i++) {
		uint64_t regs[3] = { IOVA + copies[i].src, IOVA + copies[i].dst, copies[i].len };
		uint64_t go = 1, status = 0;
		int r = uvfio_client_region_write(c, 0, 0x00, regs, sizeof(regs));
		if (r == 0)
			r = uvfio_client_region_write(c, 0, 0x18, &go, 8);
		for (int polls = 0; r == 0 && (polls == 0 || status == 4) && polls < 100000; polls++)
			r = uvfio_client_region_read(c, 0, 0x20, &status, 8);
		if (r < 0)
			return tool_device_error("programming the DMA engine", r);
		if (status != 1)
			return tool_fail(EXIT_DEVICE, "copy %zu failed (status %" PRIu64 ")", i, status);
	}
	return 0;
}

static int dirty_test(struct uvfio_client *c)
{
	uint16_t id[2];
	int r = uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, 0, id, 4);
	if (r < 0)
		return tool_device_error("reading configuration space", r);
	bool engine = id[0] == TOOL_ENGINE_VENDOR && id[1] == TOOL_ENGINE_DEVICE;
	int mfd = memfd_create("uvfio-dirty-test", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, MEM_LEN) < 0)
		return tool_fail(EXIT_DEVICE, "cannot create memory: %s", strerror(errno));
	uint8_t *mem = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	uint8_t *before = malloc(MEM_LEN);
	if (mem == MAP_FAILED || !before) {
		close(mfd);
		free(before);
		return tool_fail(EXIT_DEVICE, "cannot map memory");
	}
	memset(mem, FILL, MEM_LEN);
	for (unsigned i = 0; i < 4 * PAGE; i++)
		mem[i] = (uint8_t)(i * 7 + 3) == FILL ? 0 : (uint8_t)(i * 7 + 3);
	memcpy(before, mem, MEM_LEN);
	struct uvfio_dma_region reg = { .vaddr = mem, .iova = IOVA, .size = MEM_LEN,
					.prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
					.fd = no_fd ? -1 : mfd };
	int code = 0;
	uint64_t reported[NPAGES / 64] = { 0 }, written[NPAGES / 64] = { 0 },
		 again[NPAGES / 64] = { 0 };
	if ((r = uvfio_client_dma_map(c, &reg)) < 0) {
		code = tool_device_error("DMA_MAP", r);
		goto out;
	}
	struct uvfio_dma_logging_range range = { .iova = IOVA, .length = MEM_LEN };
	if ((r = uvfio_client_dma_logging_start(c, PAGE, &range, 1)) < 0) {
		code = tool_device_error("DMA_LOGGING_START", r);
		goto unmap;
	}
	if (engine && (code = engine_copies(c)))
		goto stop;
	if ((r = uvfio_client_dma_logging_report(c, IOVA, MEM_LEN, PAGE, reported)) < 0 ||
	    (r = uvfio_client_dma_logging_report(c, IOVA, MEM_LEN, PAGE, again)) < 0) {
		code = tool_device_error("DMA_LOGGING_REPORT", r);
		goto stop;
	}
	for (unsigned p = 0; p < NPAGES; p++)
		if (memcmp(mem + p * PAGE, before + p * PAGE, PAGE))
			written[p / 64] |= 1ull << (p % 64);
	unsigned missed = 0, extra = 0, second = 0;
	for (unsigned p = 0; p < NPAGES; p++) {
		missed += bit(written, p) && !bit(reported, p);
		extra += !bit(written, p) && bit(reported, p);
		second += bit(again, p);
	}
	char lw[512], lr[512], la[512];
	unsigned nw = page_list(written, lw, sizeof(lw)), nr = page_list(reported, lr, sizeof(lr));
	page_list(again, la, sizeof(la));
	if (tool_opts.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "page_size", json_object_new_int(PAGE));
		json_object_object_add(j, "shared_fd", json_object_new_boolean(!no_fd));
		json_object_object_add(j, "device_wrote", json_object_new_boolean(engine));
		json_object_object_add(j, "written", json_pages(written));
		json_object_object_add(j, "reported", json_pages(reported));
		json_object_object_add(j, "second_report", json_pages(again));
		json_object_object_add(j, "missed", json_object_new_int((int)missed));
		json_object_object_add(j, "extra", json_object_new_int((int)extra));
		tool_print_json(j);
	} else {
		printf("gave the device 1 MiB at IOVA %#llx (%s); logging dirty %u-byte pages\n",
		       (unsigned long long)IOVA, no_fd ? "through DMA_READ/DMA_WRITE messages"
						       : "shared through a file descriptor", PAGE);
		if (engine)
			printf("asked uvfio-dma-engine for %zu copies from pages 0-2 into the rest\n",
			       sizeof(copies) / sizeof(copies[0]));
		else
			printf("device %04x:%04x is not uvfio-dma-engine: nothing is asked to write\n",
			       id[0], id[1]);
		printf("map of the 256 pages (W written and reported, ! written but not reported,\n"
		       "+ reported but not written, . neither):\n");
		for (unsigned p = 0; p < NPAGES; p++) {
			bool w = bit(written, p), rp = bit(reported, p);
			putchar(w && rp ? 'W' : w ? '!' : rp ? '+' : '.');
			if (p % 64 == 63)
				putchar('\n');
		}
		printf("pages written (memory changed): %s (%u)\n", lw, nw);
		printf("pages reported dirty:           %s (%u)\n", lr, nr);
		printf("a second report (reported bits are cleared): %s\n", la);
		if (!missed && !extra)
			printf("exact: every page written was reported, and nothing else\n");
		else
			printf("%u written page%s not reported, %u reported page%s not written\n",
			       missed, missed == 1 ? "" : "s", extra, extra == 1 ? "" : "s");
	}
	if (missed || second)
		code = tool_fail(EXIT_DEVICE, "the dirty bitmap %s",
				 missed ? "misses pages the device wrote"
					: "was not cleared by the report");
stop:
	if ((r = uvfio_client_dma_logging_stop(c)) < 0 && !code)
		code = tool_device_error("DMA_LOGGING_STOP", r);
unmap:
	if ((r = uvfio_client_dma_unmap(c, IOVA, MEM_LEN)) < 0 && !code)
		code = tool_device_error("DMA_UNMAP", r);
out:
	munmap(mem, MEM_LEN);
	close(mfd);
	free(before);
	return code;
}

static int dirty_opt(int ch, const char *arg, void *ctx)
{
	(void)arg, (void)ctx;
	if (ch == 'N') {
		no_fd = true;
		return -1;
	}
	return EXIT_USAGE;
}

static const struct option dirty_long[] = {
	{ "no-fd", no_argument, NULL, 'N' },
	{ NULL, 0, NULL, 0 },
};

static const struct tool_cmd dirty_cmd;

static int run_dirty(int argc, char **argv)
{
	char *pos[1];
	int npos, code;
	struct tool_argspec spec = { .longopts = dirty_long, .opt = dirty_opt,
				     .min_pos = 1, .max_pos = 1 };
	if ((code = tool_args(&dirty_cmd, argc, argv, &spec, pos, &npos)) >= 0)
		return code;
	struct uvfio_client *c = tool_open_client(pos[0], &code);
	if (!c)
		return code;
	code = dirty_test(c);
	uvfio_client_close(c);
	return code;
}

static const struct tool_cmd dirty_cmd = {
	.name = "dirty-test",
	.summary = "dirty-test SOCKET                 dirty-page logging: the reported bitmap against "
		   "the\n                                    pages the device wrote",
	.help = "uvfio dirty-test [--no-fd] SOCKET\n"
		"  Give the device 1 MiB of memory (shared by descriptor, or with --no-fd\n"
		"  reached through DMA_READ/DMA_WRITE messages), start dirty-page logging\n"
		"  (DMA_LOGGING_START), have uvfio-dma-engine copy into it, and show the\n"
		"  bitmap of DMA_LOGGING_REPORT beside the pages whose contents changed.\n"
		"  Fails if a written page is not reported, or a second report is not empty.\n",
	.run = run_dirty,
	.rank = 75,
};
TOOL_COMMAND(dirty_cmd);
