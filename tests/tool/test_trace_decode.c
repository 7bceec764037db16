/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The trace decoder on every recorded session of ../shared/vectors (golden
 * text, and each command's fields checked in the JSON), on hand-made
 * messages for each finding and for the commands the recordings lack, and
 * the pcap round trip: `uvfio trace -r` prints exactly what the session
 * printed. Set UVFIO_UPDATE_GOLDEN=1 to rewrite the golden files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trace.h"
#include "trace_vec.h"
#include "util.h"

/* Feed messages to a session; returns what it printed (malloc'ed). ts0: the
 * first message's time (0: none), each next one 1 us later. */
static char *run(const struct vmsg *v, size_t n, bool json, uint64_t ts0, FILE *pcap)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct pcap_writer *w = pcap ? pcap_open_write(pcap, TRACE_SNAPLEN_DEFAULT) : NULL;
	struct trace_opts o = { .out = out, .json = json, .pcap = w };
	struct trace_session *t = trace_session_new(&o);
	assert_non_null(t);
	trace_session_begin(t);
	for (size_t i = 0; i < n; i++) {
		struct trace_msg m = { .buf = v[i].buf, .len = v[i].len, .wire_len = v[i].len,
				       .nfds = v[i].nfds, .dir = v[i].dir,
				       .ts_ns = ts0 ? ts0 + i * 1000 : 0 };
		trace_feed(t, &m);
	}
	trace_session_end(t);
	trace_session_free(t);
	if (w)
		pcap_close_write(w);
	fclose(out);
	return text;
}

/* Every message of a vector file, decoded, as a JSON array. */
static json_object *decode_file(const char *name)
{
	struct vmsg *v;
	size_t n = vec_session(name, &v);
	char *text = run(v, n, true, 0, NULL);
	vec_free(v, n);
	json_object *arr = json_object_new_array();
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		json_object *o = json_tokener_parse(line);
		if (!o)
			fail_msg("not JSON: %s", line);
		json_object_array_add(arr, o);
	}
	free(text);
	return arr;
}

/* A value by path ("args.sparse_mmap.0.size"); NULL when absent. */
static json_object *at(json_object *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok(buf, "."); k && o; k = strtok(NULL, ".")) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(k));
		else if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	}
	return o;
}

static const char *s_at(json_object *o, const char *path)
{
	json_object *v = at(o, path);
	if (!v)
		fail_msg("no %s in %s", path, json_object_to_json_string(o));
	return json_object_get_string(v);
}

static uint64_t u_at(json_object *o, const char *path)
{
	json_object *v = at(o, path);
	if (!v)
		fail_msg("no %s in %s", path, json_object_to_json_string(o));
	return json_object_get_uint64(v);
}

/* The nth (from 0) message with this direction, command name and type. */
static json_object *nth(json_object *arr, const char *dir, const char *name, const char *type,
			int n)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		if (at(o, "name") && !strcmp(s_at(o, "dir"), dir) && !strcmp(s_at(o, "name"), name) &&
		    !strcmp(s_at(o, "type"), type) && n-- == 0)
			return o;
	}
	fail_msg("no %s %s %s number %d", dir, name, type, n);
	return NULL;
}

static bool has_finding(json_object *o, const char *name)
{
	json_object *f = at(o, "findings");
	for (size_t i = 0; f && i < json_object_array_length(f); i++)
		if (!strcmp(s_at(json_object_array_get_idx(f, i), "name"), name))
			return true;
	return false;
}

static size_t count_finding(json_object *arr, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		n += has_finding(json_object_array_get_idx(arr, i), name);
	return n;
}

static void test_golden(void **state)
{
	(void)state;
	for (size_t f = 0; f < vec_nfiles; f++) {
		struct vmsg *v;
		size_t n = vec_session(vec_files[f], &v);
		char *text = run(v, n, false, 0, NULL), name[128];
		snprintf(name, sizeof(name), "trace-%.*s.txt",
			 (int)(strlen(vec_files[f]) - strlen(".json")), vec_files[f]);
		tu_golden(name, text);
		/* one line per message and the end line */
		size_t lines = 0;
		for (char *p = text; *p; p++)
			lines += *p == '\n';
		assert_int_equal(lines, n + 1);
		free(text);
		vec_free(v, n);
	}
}

/* Each command's fields, checked in the recordings against their bytes. */
static void test_vector_fields(void **state)
{
	(void)state;
	json_object *a = decode_file("qemu-client-with-libvfio-user-server.json"), *o;
	o = nth(a, "c2s", "VERSION", "command", 0);
	assert_int_equal(u_at(o, "args.major"), 0);
	assert_int_equal(u_at(o, "args.minor"), 0);
	assert_int_equal(u_at(o, "args.caps.capabilities.max_msg_fds"), 16);
	assert_int_equal(u_at(o, "args.caps.capabilities.migration.pgsize"), 4096);
	o = nth(a, "s2c", "VERSION", "reply", 0);
	assert_int_equal(u_at(o, "args.caps.capabilities.max_msg_fds"), 8);
	o = nth(a, "c2s", "DMA_MAP", "command", 0);
	assert_string_equal(s_at(o, "args.flags_name"), "read|write");
	assert_int_equal(u_at(o, "args.addr"), 0);
	assert_int_equal(u_at(o, "args.size"), 0x10000000);
	assert_string_equal(s_at(o, "args.memory"), "descriptor");
	assert_int_equal(u_at(o, "fds"), 1);
	o = nth(a, "s2c", "DEVICE_GET_INFO", "reply", 0);
	assert_int_equal(u_at(o, "args.num_regions"), 9);
	assert_int_equal(u_at(o, "args.num_irqs"), 5);
	assert_string_equal(s_at(o, "args.flags_name"), "reset|pci");
	o = nth(a, "s2c", "DEVICE_GET_REGION_INFO", "reply", 2); /* BAR1, asked again */
	assert_int_equal(u_at(o, "args.region"), 1);
	assert_int_equal(u_at(o, "args.size"), 0x4000);
	assert_int_equal(u_at(o, "args.sparse_mmap.1.offset"), 0x2000);
	assert_int_equal(u_at(o, "args.sparse_mmap.1.size"), 0x1000);
	assert_int_equal(u_at(o, "fds"), 1);
	o = nth(a, "s2c", "DEVICE_GET_IRQ_INFO", "reply", 0);
	assert_string_equal(s_at(o, "args.index_name"), "ERR");
	assert_string_equal(s_at(o, "args.flags_name"), "eventfd");
	assert_int_equal(u_at(o, "args.count"), 1);
	o = nth(a, "c2s", "DEVICE_SET_IRQS", "command", 0);
	assert_string_equal(s_at(o, "args.index_name"), "INTX");
	assert_string_equal(s_at(o, "args.flags_name"), "EVENTFD|TRIGGER");
	assert_int_equal(u_at(o, "args.start"), 0);
	assert_int_equal(u_at(o, "args.count"), 1);
	assert_int_equal(u_at(o, "fds"), 1);
	o = nth(a, "c2s", "REGION_READ", "command", 0);
	assert_string_equal(s_at(o, "args.region_name"), "CONFIG");
	assert_int_equal(u_at(o, "args.count"), 256);
	o = nth(a, "s2c", "REGION_READ", "reply", 0);
	assert_true(!strncmp(s_at(o, "args.data"), "addeefbe", 8));
	o = nth(a, "c2s", "REGION_WRITE", "command", 0);
	assert_int_equal(u_at(o, "args.offset"), 4);
	assert_int_equal(u_at(o, "args.count"), 2);
	o = nth(a, "c2s", "DMA_UNMAP", "command", 0);
	assert_int_equal(u_at(o, "args.size"), 0x10000000);
	o = nth(a, "s2c", "DMA_UNMAP", "reply", 0);
	assert_int_equal(u_at(o, "args.size"), 0x10000000);
	nth(a, "s2c", "DEVICE_RESET", "reply", 0);
	assert_int_equal(count_finding(a, "unknown-id") + count_finding(a, "size-mismatch"), 0);
	json_object_put(a);

	a = decode_file("libvfio-user-server.json");
	o = nth(a, "s2c", "REGION_READ", "reply", 1);
	assert_string_equal(s_at(o, "errno"), "EINVAL");
	assert_int_equal(u_at(o, "error"), 22);
	json_object_put(a);

	/* QEMU's DMA_READ layout, read as QEMU meant it */
	a = decode_file("qemu-client-dma-by-messages.json");
	o = nth(a, "s2c", "DMA_READ", "command", 0);
	assert_int_equal(u_at(o, "args.addr"), 0x1000000);
	assert_int_equal(u_at(o, "args.count"), 65536);
	o = nth(a, "c2s", "DMA_READ", "reply", 0);
	assert_true(has_finding(o, "qemu-dma-layout"));
	assert_int_equal(u_at(o, "args.count"), 65536);
	assert_true(!strncmp(s_at(o, "args.data"), "030a11181f", 10)); /* (7i + 3) & 0xff */
	assert_int_equal(count_finding(a, "qemu-dma-layout"), 1);
	o = nth(a, "c2s", "REGION_WRITE", "command", 9); /* posted: the first of four */
	assert_true(json_object_get_boolean(at(o, "no_reply")));
	assert_int_equal(u_at(o, "args.count"), 8);
	json_object_put(a);

	/* libvfio-user's migration: features, states, data, the padded reply */
	a = decode_file("libvfio-user-migration-source.json");
	o = nth(a, "s2c", "VERSION", "reply", 0);
	assert_int_equal(u_at(o, "args.twin_fd_index"), 0);
	o = nth(a, "s2c", "DEVICE_FEATURE", "reply", 0);
	assert_string_equal(s_at(o, "args.feature_name"), "MIGRATION");
	assert_string_equal(s_at(o, "args.mig_flags_name"), "STOP_COPY|PRE_COPY");
	o = nth(a, "c2s", "DEVICE_FEATURE", "command", 2);
	assert_string_equal(s_at(o, "args.op"), "set");
	assert_string_equal(s_at(o, "args.device_state_name"), "STOP");
	o = nth(a, "s2c", "DEVICE_FEATURE", "reply", 4);
	assert_string_equal(s_at(o, "errno"), "EINVAL");
	assert_true(has_finding(o, "error-payload"));
	o = nth(a, "c2s", "MIG_DATA_READ", "command", 1);
	assert_int_equal(u_at(o, "args.size"), 4096);
	o = nth(a, "s2c", "MIG_DATA_READ", "reply", 5);
	assert_true(has_finding(o, "padded-mig-reply"));
	assert_int_equal(u_at(o, "args.size"), 8);
	assert_int_equal(count_finding(a, "padded-mig-reply"), 1);
	json_object_put(a);
	a = decode_file("libvfio-user-migration-destination.json");
	o = nth(a, "c2s", "MIG_DATA_WRITE", "command", 4);
	assert_int_equal(u_at(o, "args.argsz"), 16);
	assert_int_equal(u_at(o, "args.size"), 8);
	assert_null(at(o, "findings"));
	json_object_put(a);
}

/* ---- Hand-made messages ---- */

struct mk {
	uint8_t buf[512];
	size_t len;
};

static struct mk msg(uint16_t id, uint16_t cmd, uint32_t flags, const void *p, size_t len)
{
	struct mk m = { .len = 16 + len };
	struct uvfio_hdr h = { .msg_id = id, .cmd = cmd, .msg_size = (uint32_t)(16 + len),
			       .flags = flags };
	memcpy(m.buf, &h, 16);
	if (len)
		memcpy(m.buf + 16, p, len);
	return m;
}

#define REPLY UVFIO_FLAGS_TYPE_REPLY

/* Decode one message; req (may be NULL) is the request it answers. */
static json_object *dec(uint8_t dir, uint8_t chan, unsigned nfds, const struct mk *m,
			const struct mk *req)
{
	struct trace_req r;
	if (req) {
		struct trace_msg rm = { .buf = req->buf, .len = req->len, .wire_len = req->len,
					.dir = (uint8_t)!dir };
		trace_req_keep(&rm, &r);
	}
	struct trace_msg tm = { .buf = m->buf, .len = m->len, .wire_len = m->len, .nfds = nfds,
				.dir = dir, .channel = chan };
	json_object *o = trace_decode(&tm, req ? &r : NULL);
	assert_non_null(o);
	return o;
}

static void expect(json_object *o, const char *finding)
{
	if (finding ? !has_finding(o, finding) : at(o, "findings") != NULL)
		fail_msg("expected %s, got %s", finding ? finding : "no finding",
			 json_object_to_json_string(o));
	json_object_put(o);
}

static void test_findings(void **state)
{
	(void)state;
	const uint8_t C = TRACE_C2S, S = TRACE_S2C, M = TRACE_MAIN, T = TRACE_TWIN;
	struct uvfio_region_access ra = { .offset = 0x10, .region = 0, .count = 4 };
	uint8_t rd[20];
	memcpy(rd, &ra, 16);
	memset(rd + 16, 0xab, 4);
	struct mk req = msg(7, UVFIO_CMD_REGION_READ, 0, &ra, 16);
	struct mk rep = msg(7, UVFIO_CMD_REGION_READ, REPLY, rd, 20);
	expect(dec(C, M, 0, &req, NULL), NULL);
	expect(dec(S, M, 0, &rep, &req), NULL);
	expect(dec(S, M, 0, &rep, NULL), "unknown-id");
	struct mk other = msg(7, UVFIO_CMD_REGION_WRITE, REPLY, &ra, 16);
	expect(dec(S, M, 0, &other, &req), "reply-mismatch");
	struct uvfio_region_access ra2 = ra;
	ra2.offset = 0x20;
	memcpy(rd, &ra2, 16);
	struct mk moved = msg(7, UVFIO_CMD_REGION_READ, REPLY, rd, 20);
	expect(dec(S, M, 0, &moved, &req), "reply-mismatch");
	struct mk longer = msg(7, UVFIO_CMD_REGION_READ, 0, rd, 20);
	expect(dec(C, M, 0, &longer, NULL), "size-mismatch");
	expect(dec(C, M, 2, &req, NULL), "unexpected-fds");
	expect(dec(C, T, 0, &req, NULL), "wrong-socket");
	expect(dec(S, M, 0, &req, NULL), "wrong-side");
	struct mk bits = msg(8, UVFIO_CMD_DEVICE_RESET, 0x100, NULL, 0);
	expect(dec(C, M, 0, &bits, NULL), "reserved-flags");
	struct mk type = msg(8, UVFIO_CMD_DEVICE_RESET, 7, NULL, 0);
	expect(dec(C, M, 0, &type, NULL), "bad-type");
	struct mk unk = msg(8, 77, 0, "xy", 2);
	expect(dec(C, M, 0, &unk, NULL), "unknown-command");
	struct mk errcmd = msg(8, UVFIO_CMD_DEVICE_RESET, UVFIO_FLAGS_ERROR, NULL, 0);
	expect(dec(C, M, 0, &errcmd, NULL), "error-on-command");
	struct mk nrr = msg(8, UVFIO_CMD_DEVICE_RESET, REPLY | UVFIO_FLAGS_NO_REPLY, NULL, 0);
	expect(dec(S, M, 0, &nrr, NULL), "no-reply-on-reply");
	/* framing: size below the header, a cut-off header, a cut-off message */
	struct mk small = msg(9, UVFIO_CMD_REGION_READ, 0, NULL, 0);
	small.buf[4] = 4;
	expect(dec(C, M, 0, &small, NULL), "bad-size");
	struct mk part = req;
	part.len = 10;
	expect(dec(C, M, 0, &part, NULL), "truncated");
	struct trace_msg cut = { .buf = req.buf, .len = 20, .wire_len = 20, .incomplete = true };
	expect(trace_decode(&cut, NULL), "truncated");
	/* VERSION: bad JSON, a reply above the minor proposed, a twin socket
	 * without its descriptor */
	uint8_t v[80] = { 0, 0, 1, 0 };
	strcpy((char *)v + 4, "{\"capabilities\":{\"max_msg_fds\":\"many\"}}");
	struct mk badcaps = msg(0, UVFIO_CMD_VERSION, 0, v, 4 + strlen((char *)v + 4) + 1);
	expect(dec(C, M, 0, &badcaps, NULL), "bad-caps");
	uint8_t v0[4] = { 0, 0, 0, 0 }, v2[4] = { 0, 0, 2, 0 };
	struct mk vreq = msg(0, UVFIO_CMD_VERSION, 0, v0, 4);
	struct mk vrep = msg(0, UVFIO_CMD_VERSION, REPLY, v2, 4);
	expect(dec(S, M, 0, &vrep, &vreq), "reply-mismatch");
	v[2] = 0; /* minor 0, as proposed */
	strcpy((char *)v + 4, "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":1}}}");
	struct mk twin = msg(0, UVFIO_CMD_VERSION, REPLY, v, 4 + strlen((char *)v + 4) + 1);
	expect(dec(S, M, 1, &twin, &vreq), "bad-twin-socket");
	expect(dec(S, M, 2, &twin, &vreq), NULL);
	expect(dec(S, M, 1, &vrep, &vreq), "unexpected-fds");
	/* region info whose capability chain loops */
	uint8_t ri[64] = { 0 };
	struct vfio_region_info info = { .argsz = 64, .flags = VFIO_REGION_INFO_FLAG_CAPS,
					 .index = 1, .cap_offset = 32, .size = 0x1000 };
	memcpy(ri, &info, 32);
	struct vfio_info_cap_header ch = { .id = 99, .version = 1, .next = 32 };
	memcpy(ri + 32, &ch, 8);
	struct mk loop = msg(3, UVFIO_CMD_DEVICE_GET_REGION_INFO, REPLY, ri, 64);
	expect(dec(S, M, 0, &loop, NULL), "bad-caps-chain");
	/* SET_IRQS: eventfds disagreeing with the range */
	struct vfio_irq_set is = { .argsz = 20,
				   .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				   .index = 2, .start = 0, .count = 4 };
	struct mk irq = msg(4, UVFIO_CMD_DEVICE_SET_IRQS, 0, &is, 20);
	expect(dec(C, M, 4, &irq, NULL), NULL);
	expect(dec(C, M, 3, &irq, NULL), "fds-mismatch");
	/* MIG_DATA_READ: more data than asked */
	struct uvfio_mig_data md = { .argsz = 8 + 64, .size = 64 };
	struct mk mreq = msg(5, UVFIO_CMD_MIG_DATA_READ, 0, &md, 8);
	uint8_t mbig[8 + 128] = { 0 };
	struct uvfio_mig_data mr = { .argsz = 8 + 128, .size = 128 };
	memcpy(mbig, &mr, 8);
	struct mk mrep = msg(5, UVFIO_CMD_MIG_DATA_READ, REPLY, mbig, sizeof(mbig));
	expect(dec(S, M, 0, &mrep, &mreq), "reply-mismatch");
}

/* QEMU's DMA layout follows the client's VERSION, as uvfio's server decides
 * it: data that starts with four zero bytes cannot show it by itself. */
static void test_qemu_layout_by_version(void **state)
{
	(void)state;
	for (int minor = 0; minor < 2; minor++) {
		uint8_t v[4] = { 0, 0, (uint8_t)minor, 0 };
		struct mk ver = msg(0, UVFIO_CMD_VERSION, 0, v, 4);
		struct uvfio_dma_access a = { .addr = 0x1000, .count = 8 };
		struct mk rq = msg(0, UVFIO_CMD_DMA_READ, 0, &a, 16);
		uint8_t body[16 + 8] = { 0 }; /* QEMU's: 8-byte address, 4-byte count, data */
		memcpy(body, &a.addr, 8);
		uint32_t c4 = 8;
		memcpy(body + 8, &c4, 4);
		memcpy(body + 12, "\0\0\0\0wxyz", 8);
		struct mk rp = msg(0, UVFIO_CMD_DMA_READ, REPLY, body, sizeof(body));
		struct vmsg vm[3] = { { ver.buf, ver.len, 0, TRACE_C2S },
				      { rq.buf, rq.len, 0, TRACE_S2C },
				      { rp.buf, rp.len, 0, TRACE_C2S } };
		char *text = run(vm, 3, true, 0, NULL);
		json_object *o = json_tokener_parse(strchr(strchr(text, '\n') + 1, '\n') + 1);
		assert_non_null(o);
		assert_int_equal(has_finding(o, "qemu-dma-layout"), minor == 0);
		assert_string_equal(s_at(o, "args.data"),
				    minor == 0 ? "000000007778797a" : "7778797a00000000");
		json_object_put(o);
		free(text);
	}
}

/* The commands no recording has: their fields. */
static void test_other_commands(void **state)
{
	(void)state;
	const uint8_t C = TRACE_C2S, S = TRACE_S2C, M = TRACE_MAIN;
	json_object *o;
	/* GET_REGION_IO_FDS: an ioeventfd and an ioregionfd */
	struct uvfio_region_io_fds_request ioq = { .argsz = 128, .index = 2 };
	struct mk req = msg(1, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, 0, &ioq, 16);
	uint8_t body[16 + 80];
	struct uvfio_region_io_fds_reply ior = { .argsz = 96, .index = 2, .count = 2 };
	struct uvfio_sub_region_ioeventfd e = { .offset = 0x40, .size = 4, .fd_index = 0,
						.type = UVFIO_IO_FD_TYPE_IOEVENTFD, .datamatch = 7 };
	struct uvfio_sub_region_ioregionfd g = { .offset = 0x80, .size = 8, .fd_index = 1,
						 .type = UVFIO_IO_FD_TYPE_IOREGIONFD,
						 .user_data = 0x1234 };
	memcpy(body, &ior, 16);
	memcpy(body + 16, &e, 40);
	memcpy(body + 56, &g, 40);
	struct mk rep = msg(1, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, REPLY, body, sizeof(body));
	o = dec(S, M, 2, &rep, &req);
	assert_int_equal(u_at(o, "args.count"), 2);
	assert_int_equal(u_at(o, "args.subregions.0.datamatch"), 7);
	assert_string_equal(s_at(o, "args.subregions.1.type_name"), "ioregionfd");
	assert_int_equal(u_at(o, "args.subregions.1.user_data"), 0x1234);
	expect(o, NULL);
	expect(dec(S, M, 1, &rep, &req), "bad-fd-index");
	/* DMA_WRITE and its replies: 16 bytes (common), 12 (the specification), none */
	uint8_t dw[24];
	struct uvfio_dma_access da = { .addr = 0x5000, .count = 8 };
	memcpy(dw, &da, 16);
	memset(dw + 16, 0x5a, 8);
	struct mk w = msg(2, UVFIO_CMD_DMA_WRITE, 0, dw, 24);
	o = dec(S, M, 0, &w, NULL);
	assert_int_equal(u_at(o, "args.addr"), 0x5000);
	assert_string_equal(s_at(o, "args.data"), "5a5a5a5a5a5a5a5a");
	expect(o, NULL);
	struct mk w16 = msg(2, UVFIO_CMD_DMA_WRITE, REPLY, &da, 16);
	struct mk w12 = msg(2, UVFIO_CMD_DMA_WRITE, REPLY, &da, 12);
	struct mk w0 = msg(2, UVFIO_CMD_DMA_WRITE, REPLY, NULL, 0);
	struct mk w9 = msg(2, UVFIO_CMD_DMA_WRITE, REPLY, &da, 9);
	o = dec(C, M, 0, &w12, &w);
	assert_int_equal(u_at(o, "args.count"), 8);
	expect(o, NULL);
	expect(dec(C, M, 0, &w16, &w), NULL);
	expect(dec(C, M, 0, &w0, &w), NULL);
	expect(dec(C, M, 0, &w9, &w), "size-mismatch");
	/* no data: no "data" (fuzz_decode found it shown from uninitialized bytes) */
	struct uvfio_dma_access none = { .addr = 0x5000, .count = 0 };
	struct mk w00 = msg(2, UVFIO_CMD_DMA_WRITE, 0, &none, 16);
	o = dec(S, M, 0, &w00, NULL);
	assert_null(at(o, "args.data"));
	expect(o, NULL);
	/* REGION_WRITE_MULTI */
	uint8_t wm[8 + 48] = { 0 };
	uint64_t n = 2;
	struct uvfio_write_multi_entry we[2] = { { .offset = 4, .region = 0, .count = 4,
						   .data = { 1, 2, 3, 4 } },
						 { .offset = 8, .region = 2, .count = 2,
						   .data = { 9, 9 } } };
	memcpy(wm, &n, 8);
	memcpy(wm + 8, we, 48);
	struct mk mw = msg(3, UVFIO_CMD_REGION_WRITE_MULTI, 0, wm, sizeof(wm));
	o = dec(C, M, 0, &mw, NULL);
	assert_int_equal(u_at(o, "args.wr_cnt"), 2);
	assert_string_equal(s_at(o, "args.writes.0.data"), "01020304");
	assert_string_equal(s_at(o, "args.writes.1.region_name"), "BAR2");
	expect(o, NULL);
	we[1].count = 9;
	memcpy(wm + 8, we, 48);
	struct mk bad = msg(3, UVFIO_CMD_REGION_WRITE_MULTI, 0, wm, sizeof(wm));
	expect(dec(C, M, 0, &bad, NULL), "bad-write");
	n = 3;
	struct mk mrep = msg(3, UVFIO_CMD_REGION_WRITE_MULTI, REPLY, &n, 8);
	expect(dec(S, M, 0, &mrep, &mw), "reply-mismatch");
	n = 1000; /* more than the payload holds */
	memcpy(wm, &n, 8);
	struct mk many = msg(3, UVFIO_CMD_REGION_WRITE_MULTI, 0, wm, sizeof(wm));
	expect(dec(C, M, 0, &many, NULL), "size-mismatch");
	/* QEMU's 200 posted writes in one message: no maximum in the specification */
	static uint8_t q200[8 + 200 * 24];
	n = 200;
	memcpy(q200, &n, 8);
	for (unsigned i = 0; i < 200; i++) {
		struct uvfio_write_multi_entry e = { .offset = 4 * i, .count = 4 };
		memcpy(q200 + 8 + 24 * i, &e, 24);
	}
	struct trace_msg big = { .buf = NULL, .dir = C };
	uint8_t *bb = malloc(16 + sizeof(q200));
	struct uvfio_hdr bh = { .msg_id = 3, .cmd = UVFIO_CMD_REGION_WRITE_MULTI,
				.msg_size = (uint32_t)(16 + sizeof(q200)),
				.flags = UVFIO_FLAGS_NO_REPLY };
	memcpy(bb, &bh, 16);
	memcpy(bb + 16, q200, sizeof(q200));
	big.buf = bb;
	big.len = big.wire_len = 16 + sizeof(q200);
	o = trace_decode(&big, NULL);
	assert_int_equal(u_at(o, "args.wr_cnt"), 200);
	assert_int_equal(u_at(o, "args.writes.63.offset"), 252); /* the first 64 listed */
	expect(o, NULL);
	free(bb);
	/* DMA_UNMAP of everything, as QEMU sends it */
	struct uvfio_dma_unmap all = { .argsz = 24, .flags = 2 };
	struct mk un = msg(6, UVFIO_CMD_DMA_UNMAP, 0, &all, 24);
	o = dec(C, M, 0, &un, NULL);
	assert_string_equal(s_at(o, "args.flags_name"), "ALL");
	expect(o, NULL);
	/* DEVICE_FEATURE: dirty-page logging start and report */
	uint8_t ls[8 + 16 + 16];
	struct uvfio_device_feature f = { .argsz = 40,
					  .flags = VFIO_DEVICE_FEATURE_SET |
						   UVFIO_FEATURE_DMA_LOGGING_START };
	struct uvfio_dma_logging_control lc = { .page_size = 4096, .num_ranges = 1 };
	struct uvfio_dma_logging_range lr = { .iova = 0x100000, .length = 0x10000 };
	memcpy(ls, &f, 8);
	memcpy(ls + 8, &lc, 16);
	memcpy(ls + 24, &lr, 16);
	struct mk start = msg(4, UVFIO_CMD_DEVICE_FEATURE, 0, ls, sizeof(ls));
	o = dec(C, M, 0, &start, NULL);
	assert_string_equal(s_at(o, "args.feature_name"), "DMA_LOGGING_START");
	assert_int_equal(u_at(o, "args.ranges.0.iova"), 0x100000);
	expect(o, NULL);
	uint8_t rp[8 + 24 + 8];
	f = (struct uvfio_device_feature){ .argsz = 40, .flags = VFIO_DEVICE_FEATURE_GET |
								 UVFIO_FEATURE_DMA_LOGGING_REPORT };
	struct uvfio_dma_logging_report lrp = { .iova = 0x100000, .length = 0x10000,
						.page_size = 4096 };
	uint64_t bitmap = 0x11;
	memcpy(rp, &f, 8);
	memcpy(rp + 8, &lrp, 24);
	memcpy(rp + 32, &bitmap, 8);
	struct mk rreq = msg(5, UVFIO_CMD_DEVICE_FEATURE, 0, rp, 32);
	struct mk rrep = msg(5, UVFIO_CMD_DEVICE_FEATURE, REPLY, rp, sizeof(rp));
	o = dec(S, M, 0, &rrep, &rreq);
	assert_int_equal(u_at(o, "args.dirty_pages"), 2);
	assert_int_equal(u_at(o, "args.bitmap_bytes"), 8);
	expect(o, NULL);
}

/* A pcap written from a session reads back, with `uvfio trace -r`, into the
 * very lines the session printed (text and JSON). */
static void test_pcap_roundtrip(void **state)
{
	(void)state;
	for (size_t f = 0; f < vec_nfiles; f++) {
		for (int json = 0; json < 2; json++) {
			struct vmsg *v;
			size_t n = vec_session(vec_files[f], &v);
			char path[] = "/tmp/uvfio-trace-XXXXXX";
			int fd = mkstemp(path);
			assert_true(fd >= 0);
			FILE *pf = fdopen(fd, "wb");
			uint64_t t0 = 1700000000ull * 1000000000ull + 123456789;
			char *live = run(v, n, json, t0, pf);
			vec_free(v, n);
			char cmd[256];
			snprintf(cmd, sizeof(cmd), "%s/uvfio trace %s-r %s", UVFIO_BUILD_ROOT,
				 json ? "--json " : "", path);
			int st;
			char *back = tu_run(cmd, &st);
			assert_int_equal(st, 0);
			unlink(path);
			if (strcmp(live, back))
				fail_msg("%s: -r differs from the session:\n%.1500s\n---\n%.1500s",
					 vec_files[f], live, back);
			free(live);
			free(back);
		}
	}
}

/* The offline reader refuses damaged files with a sentence, and no crash. */
static void test_pcap_damaged(void **state)
{
	(void)state;
	struct vmsg *v;
	size_t n = vec_session("libvfio-user-server.json", &v);
	char *whole = NULL;
	size_t wlen = 0;
	FILE *pf = open_memstream(&whole, &wlen);
	free(run(v, n, false, 1000000000, pf));
	vec_free(v, n);
	struct trace_opts o = { .out = fopen("/dev/null", "w") };
	struct trace_session *t = trace_session_new(&o);
	char err[256];
	/* every truncation of the file */
	for (size_t cut = 0; cut < wlen; cut += cut < 64 ? 1 : 37) {
		FILE *in = fmemopen(whole, cut ? cut : 1, "rb");
		int r = pcap_read(in, t, err, sizeof(err));
		fclose(in);
		assert_true(r == 0 || r == -EINVAL);
	}
	/* a wrong link type, a huge record, a bad pseudo-header */
	static const struct { size_t off; uint8_t val; const char *says; } bad[] = {
		{ 20, 1, "link type" },
		{ 24 + 11, 0x7f, "more than" },
		{ 24 + 16, 9, "pseudo-header" },
		{ 0, 0, "not a pcap" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *c = malloc(wlen);
		memcpy(c, whole, wlen);
		c[bad[i].off] = bad[i].val;
		FILE *in = fmemopen(c, wlen, "rb");
		assert_int_equal(pcap_read(in, t, err, sizeof(err)), -EINVAL);
		fclose(in);
		if (!strstr(err, bad[i].says))
			fail_msg("damage %zu: \"%s\"", i, err);
		free(c);
	}
	trace_session_free(t);
	fclose(o.out);
	free(whole);
}

/* A message with only a header (and len payload bytes of zeros). */
static struct vmsg hdr_msg(uint8_t dir, uint16_t id, uint16_t cmd, uint32_t flags, uint32_t len)
{
	struct vmsg v = { .buf = calloc(1, UVFIO_HDR_SIZE + len), .len = UVFIO_HDR_SIZE + len,
			  .dir = dir };
	struct uvfio_hdr h = { .msg_id = id, .cmd = cmd, .msg_size = UVFIO_HDR_SIZE + len,
			       .flags = flags };
	memcpy(v.buf, &h, sizeof(h));
	return v;
}

/* A request stays matched however many others come and go while it waits
 * (a DMA_READ of the server answered after 3,000 STATUS reads of the
 * client); the table forgets only when TRACE_MAX_PENDING requests are
 * awaiting replies at once, the oldest first. */
static void test_pending_table(void **state)
{
	(void)state;
	size_t n = 0, cap = 3 * TRACE_MAX_PENDING * 2 + 8;
	struct vmsg *v = calloc(cap, sizeof(*v));
	v[n++] = hdr_msg(TRACE_S2C, 0, UVFIO_CMD_DMA_WRITE, 0, 16);
	for (uint16_t id = 1; id <= 3 * TRACE_MAX_PENDING; id++) {
		v[n++] = hdr_msg(TRACE_C2S, id, UVFIO_CMD_DEVICE_RESET, 0, 0);
		v[n++] = hdr_msg(TRACE_S2C, id, UVFIO_CMD_DEVICE_RESET, UVFIO_FLAGS_TYPE_REPLY, 0);
	}
	v[n++] = hdr_msg(TRACE_C2S, 0, UVFIO_CMD_DMA_WRITE, UVFIO_FLAGS_TYPE_REPLY, 16);
	char *text = run(v, n, false, 0, NULL);
	if (strstr(text, "unknown-id") || !strstr(text, " 0 unanswered"))
		fail_msg("the waiting request was forgotten:\n%s", strstr(text, "#0 DMA_WRITE reply"));
	free(text);
	vec_free(v, n);

	/* TRACE_MAX_PENDING + 2 awaiting at once: the two oldest are forgotten
	 * (their replies unknown), the others matched, and amid them replies
	 * that free slots let later requests in without forgetting more */
	n = 0;
	v = calloc(cap, sizeof(*v));
	for (uint16_t id = 0; id < TRACE_MAX_PENDING + 2; id++)
		v[n++] = hdr_msg(TRACE_C2S, id, UVFIO_CMD_DEVICE_RESET, 0, 0);
	for (uint16_t id = 0; id < TRACE_MAX_PENDING + 2; id += 2)
		v[n++] = hdr_msg(TRACE_S2C, id, UVFIO_CMD_DEVICE_RESET, UVFIO_FLAGS_TYPE_REPLY, 0);
	for (uint16_t id = 0; id < TRACE_MAX_PENDING / 2 - 1; id++)
		v[n++] = hdr_msg(TRACE_C2S, 2000 + id, UVFIO_CMD_DEVICE_RESET, 0, 0);
	for (uint16_t id = 1; id < TRACE_MAX_PENDING + 2; id += 2)
		v[n++] = hdr_msg(TRACE_S2C, id, UVFIO_CMD_DEVICE_RESET, UVFIO_FLAGS_TYPE_REPLY, 0);
	text = run(v, n, false, 0, NULL);
	size_t unknown = 0;
	for (const char *p = text; (p = strstr(p, "unknown-id")); p++)
		unknown++;
	assert_int_equal(unknown, 2);
	assert_non_null(strstr(text, "S>C #0 DEVICE_RESET reply ! unknown-id"));
	assert_non_null(strstr(text, "S>C #1 DEVICE_RESET reply ! unknown-id"));
	/* the 511 late requests, and the two forgotten */
	if (!strstr(text, " 513 unanswered"))
		fail_msg("%s", strstr(text, "-- end"));
	free(text);
	vec_free(v, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_vector_fields),
		cmocka_unit_test(test_findings),
		cmocka_unit_test(test_other_commands),
		cmocka_unit_test(test_qemu_layout_by_version),
		cmocka_unit_test(test_pcap_roundtrip),
		cmocka_unit_test(test_pcap_damaged),
		cmocka_unit_test(test_pending_table),
	};
	return cmocka_run_group_tests_name("trace_decode", tests, NULL, NULL);
}
