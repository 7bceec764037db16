/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uvfio info / uvfio config: device flags, every region and interrupt type,
 * and the decoded configuration space.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

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


static int cmd_info(struct uvfio_client *c, bool config_only)
{
	struct uvfio_device_info di;
	int r = uvfio_client_device_info(c, &di);
	if (r < 0)
		return tool_device_error("DEVICE_GET_INFO", r);
	json_object *js = json_object_new_object();
	uint64_t bar_sizes[TOOL_NR_BAR_SIZES] = { 0 };
	json_object *regions = json_object_new_array();
	if (!config_only && !tool_opts.json)
		printf("Device: %s%s, %u regions, %u interrupt types\n",
		       di.flags & VFIO_DEVICE_FLAGS_PCI ? "PCI" : "unknown bus",
		       di.flags & VFIO_DEVICE_FLAGS_RESET ? ", resettable" : "", di.num_regions,
		       di.num_irqs);
	if (!config_only && !tool_opts.json)
		puts("Regions:");
	uint64_t cfg_size = 256;
	for (uint32_t i = 0; i < di.num_regions && i < 64; i++) {
		struct uvfio_region_info ri;
		if ((r = uvfio_client_region_info(c, i, &ri)) < 0) {
			json_object_put(js);
			json_object_put(regions);
			return tool_device_error("DEVICE_GET_REGION_INFO", r);
		}
		if (i < TOOL_NR_BAR_SIZES)
			bar_sizes[i] = ri.size;
		if (i == 7)
			cfg_size = ri.size;
		char nb[16], fb[32];
		flags_str(ri.flags, fb, sizeof(fb));
		json_object *jr = json_object_new_object();
		json_object_object_add(jr, "index", json_object_new_int((int)i));
		json_object_object_add(jr, "name", json_object_new_string(tool_region_name(i, nb, 16)));
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
		/* Doorbells the server takes through eventfds; a server without
		 * them (or a region it refuses the question for) shows none. */
		struct uvfio_io_fds io = { 0 };
		if (!ri.size || uvfio_client_region_io_fds(c, i, &io) < 0)
			io.count = 0;
		json_object *jio = json_object_new_array();
		for (uint32_t k = 0; k < io.count; k++) {
			json_object *e = json_object_new_object();
			json_object_object_add(e, "offset", json_object_new_uint64(io.subs[k].offset));
			json_object_object_add(e, "size", json_object_new_uint64(io.subs[k].size));
			json_object_object_add(e, "flags", json_object_new_int64(io.subs[k].flags));
			if (io.subs[k].flags & UVFIO_IO_FD_FLAG_DATAMATCH)
				json_object_object_add(e, "datamatch",
						       json_object_new_uint64(io.subs[k].datamatch));
			json_object_array_add(jio, e);
		}
		json_object_object_add(jr, "ioeventfds", jio);
		if (ri.has_type) {
			json_object_object_add(jr, "type", json_object_new_int64(ri.type));
			json_object_object_add(jr, "subtype", json_object_new_int64(ri.subtype));
		}
		json_object_array_add(regions, jr);
		if (!config_only && !tool_opts.json && ri.size) {
			printf("  %-8s index %u  size %#" PRIx64 "  %s", tool_region_name(i, nb, 16), i,
			       ri.size, fb);
			for (uint32_t k = 0; k < ri.nr_areas; k++)
				printf("%s[%#" PRIx64 "+%#" PRIx64 ")", k ? " " : "  mmap ",
				       ri.areas[k].offset, ri.areas[k].size);
			if (ri.has_type)
				printf("  type %u/%u", ri.type, ri.subtype);
			for (uint32_t k = 0; k < io.count; k++) {
				printf("%s[%#" PRIx64 "+%" PRIu64 ")", k ? " " : "  ioeventfd ",
				       io.subs[k].offset, io.subs[k].size);
				if (io.subs[k].flags & UVFIO_IO_FD_FLAG_DATAMATCH)
					printf("=%#" PRIx64, io.subs[k].datamatch);
				if (io.subs[k].flags & UVFIO_IO_FD_FLAG_PIO)
					printf(" pio");
			}
			putchar('\n');
		}
		uvfio_io_fds_release(&io);
		uvfio_region_info_release(&ri);
	}
	json_object *irqs = json_object_new_array();
	if (!config_only && !tool_opts.json)
		puts("Interrupts:");
	for (uint32_t i = 0; i < di.num_irqs && i < 64; i++) {
		struct vfio_irq_info ii;
		if ((r = uvfio_client_irq_info(c, i, &ii)) < 0) {
			json_object_put(js);
			json_object_put(regions);
			json_object_put(irqs);
			return tool_device_error("DEVICE_GET_IRQ_INFO", r);
		}
		json_object *ji = json_object_new_object();
		json_object_object_add(ji, "index", json_object_new_int((int)i));
		json_object_object_add(ji, "name",
				       json_object_new_string(tool_irq_name(i)));
		json_object_object_add(ji, "count", json_object_new_int64(ii.count));
		json_object_object_add(ji, "flags", json_object_new_int64(ii.flags));
		json_object_array_add(irqs, ji);
		if (!config_only && !tool_opts.json && ii.count)
			printf("  %-5s count %u%s%s%s%s\n", tool_irq_name(i), ii.count,
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
		return tool_device_error("reading configuration space", r);
	}
	json_object *jc = json_object_new_object();
	FILE *text = tool_opts.json ? fopen("/dev/null", "w") : stdout;
	if (!tool_opts.json)
		puts(config_only ? "Decoded:" : "Configuration space:");
	tool_decode_config(cfg, clen, bar_sizes, text, jc);
	if (tool_opts.json)
		fclose(text);
	if (config_only) {
		if (!tool_opts.json) {
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
		if (tool_opts.json)
			tool_print_json(jc);
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
	if (tool_opts.json)
		tool_print_json(js);
	else
		json_object_put(js);
	return 0;
}

static int run_info_or_config(int argc, char **argv, const struct tool_cmd *cmd, bool config_only)
{
	char *pos[1];
	int npos, code;
	struct tool_argspec spec = { .min_pos = 1, .max_pos = 1 };
	if ((code = tool_args(cmd, argc, argv, &spec, pos, &npos)) >= 0)
		return code;
	struct uvfio_client *c = tool_open_client(pos[0], &code);
	if (!c)
		return code;
	code = cmd_info(c, config_only);
	uvfio_client_close(c);
	return code;
}

static const struct tool_cmd info_cmd, config_cmd;

static int run_info(int argc, char **argv)
{
	return run_info_or_config(argc, argv, &info_cmd, false);
}

static int run_config(int argc, char **argv)
{
	return run_info_or_config(argc, argv, &config_cmd, true);
}

static const struct tool_cmd info_cmd = {
	.name = "info",
	.summary = "info SOCKET                       device, regions, interrupts, decoded config space",
	.help = "uvfio info SOCKET\n  Device flags, every region (size, flags, mmap areas, type,\n"
		"  ioeventfds), every interrupt type, and the decoded configuration space.\n",
	.run = run_info,
	.rank = 10,
};
TOOL_COMMAND(info_cmd);

static const struct tool_cmd config_cmd = {
	.name = "config",
	.summary = "config SOCKET                     configuration space, raw and decoded",
	.help = "uvfio config SOCKET\n  The configuration space, decoded and as a hex dump.\n",
	.run = run_config,
	.rank = 40,
};
TOOL_COMMAND(config_cmd);
