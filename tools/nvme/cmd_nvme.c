/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio nvme identify|read|write: drive an NVMe controller (uvfio-nvme, or
 * any vfio-user NVMe device) through the userspace driver (nvme_drv.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme_drv.h"
#include "tool.h"

static struct {
	struct nvme_drv_opts drv;
	const char *file; /* write: the data; read: where to put it */
} o;

static int nvme_opt(int ch, const char *arg, void *ctx)
{
	(void)ctx;
	switch (ch) {
	case 'N': o.drv.no_fd = true; break;
	case 'S': o.drv.shadow = true; break;
	case 'I': o.drv.irq = true; break;
	case 'f': o.file = arg; break;
	default: return EXIT_USAGE;
	}
	return -1;
}

/* A space-padded string of the Identify data, trimmed. */
static const char *field(char *out, const char *f, size_t len)
{
	memcpy(out, f, len);
	out[len] = 0;
	for (size_t i = len; i > 0 && out[i - 1] == ' '; i--)
		out[i - 1] = 0;
	return out;
}

static int identify(struct nvme_drv *d)
{
	const struct nvme_drv_info *in = nvme_drv_info(d);
	const struct nvme_id_ctrl *ic = &in->id_ctrl;
	char sn[21], mn[41], fr[9];
	field(sn, ic->sn, 20);
	field(mn, ic->mn, 40);
	field(fr, ic->fr, 8);
	uint64_t bytes = in->nsze * in->lba_size;
	if (tool_opts.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "vid", json_object_new_int(ic->vid));
		json_object_object_add(j, "sn", json_object_new_string(sn));
		json_object_object_add(j, "mn", json_object_new_string(mn));
		json_object_object_add(j, "fr", json_object_new_string(fr));
		json_object_object_add(j, "version", json_object_new_int64(in->vs));
		json_object_object_add(j, "mdts", json_object_new_int(ic->mdts));
		json_object_object_add(j, "max_queue_entries", json_object_new_int64(in->mqes));
		json_object_object_add(j, "io_queues", json_object_new_int(in->io_queues));
		json_object_object_add(j, "oacs", json_object_new_int(ic->oacs));
		json_object_object_add(j, "oncs", json_object_new_int(ic->oncs));
		json_object_object_add(j, "vwc", json_object_new_int(ic->vwc));
		json_object_object_add(j, "nn", json_object_new_int64(ic->nn));
		json_object_object_add(j, "nsid", json_object_new_int64(in->nsid));
		json_object_object_add(j, "nsze", json_object_new_uint64(in->nsze));
		json_object_object_add(j, "lba_size", json_object_new_int64(in->lba_size));
		json_object_object_add(j, "shadow_doorbells", json_object_new_boolean(in->shadow));
		tool_print_json(j);
		return 0;
	}
	printf("NVMe controller %04x: %s\n", ic->vid, mn);
	printf("  serial number     %s\n", sn);
	printf("  firmware          %s\n", fr);
	printf("  version           %u.%u.%u\n", in->vs >> 16, in->vs >> 8 & 0xff, in->vs & 0xff);
	if (ic->mdts)
		printf("  max transfer      %u KiB\n", 4u << ic->mdts);
	else
		printf("  max transfer      no limit\n");
	printf("  queues            %u entries at most; %u I/O queue pair%s in use\n", in->mqes,
	       in->io_queues, in->io_queues > 1 ? "s" : "");
	printf("  optional admin   %s%s%s\n", ic->oacs & NVME_OACS_DBBUF ? " doorbell-buffer-config" : "",
	       ic->oacs & NVME_OACS_FORMAT ? " format" : "", ic->oacs & NVME_OACS_FW ? " firmware" : "");
	printf("  optional I/O     %s%s%s\n", ic->oncs & NVME_ONCS_DSM ? " dataset-management" : "",
	       ic->oncs & NVME_ONCS_WRITE_ZEROES ? " write-zeroes" : "",
	       ic->vwc & NVME_VWC_PRESENT ? " volatile-write-cache" : "");
	printf("  namespaces        %u\n", ic->nn);
	printf("namespace %u: %" PRIu64 " blocks of %u bytes (%" PRIu64 " bytes)\n", in->nsid,
	       in->nsze, in->lba_size, bytes);
	return 0;
}

/* The bytes to write: the file, or the text, padded with zeroes to blocks. */
static uint8_t *write_data(struct nvme_drv *d, const char *text, uint32_t *nlb, int *code)
{
	const struct nvme_drv_info *in = nvme_drv_info(d);
	size_t len;
	int fd = -1;
	if (o.file) {
		struct stat st;
		fd = open(o.file, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			*code = tool_fail(EXIT_USAGE, "cannot read %s: %s", o.file, strerror(errno));
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		len = (size_t)st.st_size;
	} else {
		len = strlen(text);
	}
	size_t blocks = (len + in->lba_size - 1) / in->lba_size;
	if (!blocks || blocks * in->lba_size > in->max_xfer) {
		*code = tool_fail(EXIT_USAGE, "write: 1 to %u bytes at once", in->max_xfer);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	uint8_t *buf = nvme_drv_alloc(d, blocks * in->lba_size);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, len);
		close(fd);
		if (n != (ssize_t)len) {
			*code = tool_fail(EXIT_USAGE, "cannot read %s", o.file);
			return NULL;
		}
	} else {
		memcpy(buf, text, len);
	}
	*nlb = (uint32_t)blocks;
	return buf;
}

static int io(struct nvme_drv *d, bool wr, uint64_t lba, uint32_t nlb, uint8_t *buf)
{
	const struct nvme_drv_info *in = nvme_drv_info(d);
	if (lba >= in->nsze || nlb > in->nsze - lba)
		return tool_fail(EXIT_USAGE, "blocks %" PRIu64 "+%u are past the namespace's %" PRIu64,
				 lba, nlb, in->nsze);
	int st = nvme_drv_rw(d, 1, wr ? NVME_CMD_WRITE : NVME_CMD_READ, lba, nlb, buf);
	if (st < 0)
		return tool_device_error(wr ? "write" : "read", st);
	if (st > 0) {
		const char *n = nvme_drv_status_name(st);
		return tool_fail(EXIT_DEVICE, "%s: status 0x%03x (%s)", wr ? "write" : "read", st,
				 n ? n : "?");
	}
	if (wr) {
		struct nvme_sqe f = { .opcode = NVME_CMD_FLUSH, .nsid = in->nsid };
		st = nvme_drv_cmd(d, 1, &f, NULL, 0, NULL);
		if (st != 0)
			return st < 0 ? tool_device_error("flush", st)
				      : tool_fail(EXIT_DEVICE, "flush: status 0x%03x", st);
		if (tool_opts.json) {
			json_object *j = json_object_new_object();
			json_object_object_add(j, "lba", json_object_new_uint64(lba));
			json_object_object_add(j, "blocks", json_object_new_int64(nlb));
			tool_print_json(j);
		} else {
			printf("wrote %u block%s at LBA %" PRIu64 " (%u bytes each) and flushed\n", nlb,
			       nlb > 1 ? "s" : "", lba, in->lba_size);
		}
		return 0;
	}
	size_t len = (size_t)nlb * in->lba_size;
	if (o.file) {
		int fd = open(o.file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
			if (fd >= 0)
				close(fd);
			return tool_fail(EXIT_USAGE, "cannot write %s: %s", o.file, strerror(errno));
		}
		close(fd);
	} else if (tool_opts.json) {
		json_object *j = json_object_new_object();
		char *hex = tool_hex(malloc(2 * len + 1), buf, len);
		json_object_object_add(j, "lba", json_object_new_uint64(lba));
		json_object_object_add(j, "blocks", json_object_new_int64(nlb));
		json_object_object_add(j, "hex", json_object_new_string(hex));
		free(hex);
		tool_print_json(j);
	} else {
		tool_hexdump(stdout, lba * in->lba_size, buf, len);
	}
	return 0;
}

static const struct tool_cmd nvme_cmd;

static int run_nvme(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "no-fd", no_argument, NULL, 'N' }, { "shadow", no_argument, NULL, 'S' },
		{ "irq", no_argument, NULL, 'I' },   { "file", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	char *pos[4];
	int npos, code;
	struct tool_argspec spec = { .shortopts = "f:", .longopts = lo, .opt = nvme_opt,
				     .min_pos = 2, .max_pos = 4 };
	if ((code = tool_args(&nvme_cmd, argc, argv, &spec, pos, &npos)) >= 0)
		return code;
	const char *sub = pos[0];
	bool is_id = !strcmp(sub, "identify"), is_rd = !strcmp(sub, "read"),
	     is_wr = !strcmp(sub, "write");
	if (!is_id && !is_rd && !is_wr)
		return tool_fail(EXIT_USAGE, "nvme: no subcommand '%s' (identify, read, write)", sub);
	uint64_t lba = 0, count = 1;
	if (is_id && npos != 2)
		return tool_fail(EXIT_USAGE, "nvme identify takes SOCKET alone");
	if (is_rd && (npos < 3 || !tool_parse_u64(pos[2], &lba) ||
		      (npos == 4 && (!tool_parse_u64(pos[3], &count) || !count || count > 65536))))
		return tool_fail(EXIT_USAGE, "nvme read SOCKET LBA [COUNT]: numbers, COUNT 1-65536");
	if (is_wr && (npos != (o.file ? 3 : 4) || !tool_parse_u64(pos[2], &lba)))
		return tool_fail(EXIT_USAGE, "nvme write SOCKET LBA (TEXT | --file F)");
	struct uvfio_client_config cc = {
		.timeout_ms = tool_opts.timeout_ms,
		.log = { .level = tool_opts.log_level, .trace = tool_opts.trace },
		.poll_us = tool_opts.poll_us,
		.use_ioeventfds = o.drv.shadow,
	};
	o.drv.client = &cc;
	if (is_rd || is_wr)
		o.drv.max_xfer = 1u << 20;
	struct nvme_drv *d;
	int r = nvme_drv_open(pos[1], &o.drv, &d);
	if (r < 0)
		return tool_fail(r == -ENOENT || r == -ECONNREFUSED ? EXIT_CONNECT : EXIT_DEVICE,
				 "cannot drive %s as an NVMe controller: %s", pos[1], uvfio_strerror(r));
	if (is_id) {
		code = identify(d);
	} else if (is_rd) {
		const struct nvme_drv_info *in = nvme_drv_info(d);
		if (count * in->lba_size > in->max_xfer)
			code = tool_fail(EXIT_USAGE, "read: at most %u blocks at once",
					 in->max_xfer / in->lba_size);
		else
			code = io(d, false, lba, (uint32_t)count,
				  nvme_drv_alloc(d, count * in->lba_size));
	} else {
		uint32_t nlb;
		uint8_t *buf = write_data(d, o.file ? NULL : pos[3], &nlb, &code);
		if (buf)
			code = io(d, true, lba, nlb, buf);
	}
	nvme_drv_close(d);
	return code;
}

static const struct tool_cmd nvme_cmd = {
	.name = "nvme",
	.summary = "nvme identify|read|write SOCKET ...  drive an NVMe controller (userspace driver)",
	.help = "uvfio nvme [OPTIONS] identify SOCKET\n"
		"uvfio nvme [OPTIONS] read SOCKET LBA [COUNT] [--file OUT]\n"
		"uvfio nvme [OPTIONS] write SOCKET LBA (TEXT | --file IN)\n"
		"  Drive an NVMe controller with uvfio's userspace driver: enable it, create\n"
		"  an I/O queue pair, and show its Identify data, read COUNT blocks (default\n"
		"  1; hex-dumped, or into OUT), or write TEXT or IN's bytes padded with zeroes\n"
		"  to whole blocks, then Flush. The controller is shut down at the end.\n"
		"  --no-fd    give the device memory without a descriptor (DMA by messages)\n"
		"  --shadow   use shadow doorbells (Doorbell Buffer Config) when offered\n"
		"  --irq      wait on MSI-X interrupts instead of polling completions\n",
	.run = run_nvme,
	.rank = 65,
};
TOOL_COMMAND(nvme_cmd);
