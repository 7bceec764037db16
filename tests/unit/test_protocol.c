/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire layouts against bytes recorded from libvfio-user's sample devices
 * and QEMU's client (../shared/vectors): every reply decodes into the values
 * a person would read, and every request our layouts encode matches the
 * recorded bytes.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util.h"

static uint8_t *vec(struct json_object *arr, size_t i, const char *field, size_t *len)
{
	struct json_object *e = json_object_array_get_idx(arr, i), *h;
	assert_true(json_object_object_get_ex(e, field, &h));
	uint8_t *b;
	*len = tu_unhex(json_object_get_string(h), &b);
	return b;
}

static struct uvfio_hdr hdr_of(const uint8_t *b, size_t len)
{
	struct uvfio_hdr h;
	assert_true(len >= sizeof(h));
	memcpy(&h, b, sizeof(h));
	assert_int_equal(h.msg_size, len); /* msg_size counts the whole message */
	assert_int_equal(vu_hdr_check(&h, 1u << 20), 0);
	return h;
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(uvfio_cmd_name(UVFIO_CMD_REGION_READ), "REGION_READ");
	assert_string_equal(uvfio_cmd_name(UVFIO_CMD_MIG_DATA_WRITE), "MIG_DATA_WRITE");
	assert_string_equal(uvfio_cmd_name(14), "UNKNOWN");
	assert_string_equal(uvfio_cmd_name(999), "UNKNOWN");
}

/* Both sample devices answer the same opening exchanges. */
static void check_common(struct json_object *a)
{
	size_t len;
	uint8_t *b = vec(a, 0, "reply_hex", &len);
	struct uvfio_hdr h = hdr_of(b, len);
	assert_int_equal(h.cmd, UVFIO_CMD_VERSION);
	assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY);
	struct uvfio_version v;
	memcpy(&v, b + 16, sizeof(v));
	assert_int_equal(v.major, 0);
	assert_int_equal(v.minor, 1);
	struct uvfio_caps caps;
	char err[128];
	assert_int_equal(uvfio_caps_parse((char *)b + 20, len - 20, &caps, err, sizeof(err)), 0);
	assert_int_equal(caps.max_msg_fds, 8);
	assert_int_equal(caps.max_data_xfer_size, 1048576);
	assert_true(caps.migration);
	assert_int_equal(caps.mig_pgsize, 4096);
	assert_false(caps.twin_socket);
	free(b);

	/* our own encoding of the DEVICE_GET_INFO request is the recorded one */
	b = vec(a, 1, "request_hex", &len);
	uint8_t mine[32];
	struct uvfio_hdr rh = { .msg_id = 2, .cmd = UVFIO_CMD_DEVICE_GET_INFO, .msg_size = 32 };
	struct uvfio_device_info di = { .argsz = sizeof(di) };
	memcpy(mine, &rh, 16);
	memcpy(mine + 16, &di, 16);
	assert_int_equal(len, 32);
	assert_memory_equal(b, mine, 32);
	free(b);

	b = vec(a, 1, "reply_hex", &len);
	hdr_of(b, len);
	memcpy(&di, b + 16, sizeof(di));
	assert_int_equal(di.argsz, 16);
	assert_int_equal(di.flags, VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI);
	assert_int_equal(di.num_regions, VFIO_PCI_NUM_REGIONS);
	assert_int_equal(di.num_irqs, VFIO_PCI_NUM_IRQS);
	free(b);
}

static struct json_object *find(struct json_object *a, const char *note, size_t *idx)
{
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *e = json_object_array_get_idx(a, i), *n;
		json_object_object_get_ex(e, "note", &n);
		if (!strcmp(json_object_get_string(n), note)) {
			*idx = i;
			return e;
		}
	}
	fail_msg("no vector \"%s\"", note);
	return NULL;
}

static void region_reply(struct json_object *a, const char *note, struct vfio_region_info *ri,
			 uint8_t **raw, size_t *rawlen)
{
	size_t i, len;
	find(a, note, &i);
	uint8_t *b = vec(a, i, "reply_hex", &len);
	struct uvfio_hdr h = hdr_of(b, len);
	assert_int_equal(h.cmd, UVFIO_CMD_DEVICE_GET_REGION_INFO);
	memcpy(ri, b + 16, sizeof(*ri));
	if (raw) {
		*rawlen = len - 16;
		*raw = malloc(*rawlen);
		memcpy(*raw, b + 16, *rawlen);
	}
	free(b);
}

static void test_gpio(void **state)
{
	(void)state;
	struct json_object *a = tu_load_vectors("libvfio-user-gpio-pci-idio-16.json");
	check_common(a);
	struct vfio_region_info ri;
	region_reply(a, "DEVICE_GET_REGION_INFO index 2, argsz 32", &ri, NULL, NULL);
	assert_int_equal(ri.index, 2);
	assert_int_equal(ri.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	assert_int_equal(ri.size, 256);
	region_reply(a, "DEVICE_GET_REGION_INFO index 7, argsz 32", &ri, NULL, NULL);
	assert_int_equal(ri.size, 256); /* standard configuration space */
	region_reply(a, "DEVICE_GET_REGION_INFO index 0, argsz 32", &ri, NULL, NULL);
	assert_int_equal(ri.size, 0); /* absent BAR */

	/* the config read: vendor 0x494f, device 0x0dc8 */
	size_t i, len;
	find(a, "REGION_READ config space 0..64", &i);
	uint8_t *b = vec(a, i, "reply_hex", &len);
	hdr_of(b, len);
	struct uvfio_region_access ra;
	memcpy(&ra, b + 16, sizeof(ra));
	assert_int_equal(ra.region, VFIO_PCI_CONFIG_REGION_INDEX);
	assert_int_equal(ra.count, 64);
	assert_int_equal(len, 16 + 16 + 64);
	uint16_t vendor, device;
	memcpy(&vendor, b + 32, 2);
	memcpy(&device, b + 34, 2);
	assert_int_equal(vendor, 0x494f);
	assert_int_equal(device, 0x0dc8);
	free(b);

	/* the error reply of the region-99 read: header only, EINVAL */
	find(a, "REGION_READ region 99 (error reply)", &i);
	b = vec(a, i, "reply_hex", &len);
	struct uvfio_hdr h = hdr_of(b, len);
	assert_int_equal(len, 16);
	assert_int_equal(h.flags, UVFIO_FLAGS_TYPE_REPLY | UVFIO_FLAGS_ERROR);
	assert_int_equal(h.error_no, EINVAL);
	free(b);

	/* IRQ info: INTx has one vector and eventfd support */
	find(a, "DEVICE_GET_IRQ_INFO index 0", &i);
	b = vec(a, i, "reply_hex", &len);
	struct vfio_irq_info ii;
	memcpy(&ii, b + 16, sizeof(ii));
	assert_int_equal(ii.flags, VFIO_IRQ_INFO_EVENTFD);
	assert_int_equal(ii.count, 1);
	free(b);
	json_object_put(a);
}

static void test_server_sparse_mmap(void **state)
{
	(void)state;
	struct json_object *a = tu_load_vectors("libvfio-user-server.json");
	check_common(a);
	struct vfio_region_info ri;
	region_reply(a, "DEVICE_GET_REGION_INFO index 1, argsz 32", &ri, NULL, NULL);
	/* the server needs 80 bytes for its capability chain */
	assert_int_equal(ri.argsz, 80);
	assert_int_equal(ri.size, 0x4000);
	uint8_t *raw;
	size_t rawlen;
	region_reply(a, "DEVICE_GET_REGION_INFO index 1, argsz 80 (capability chain)", &ri, &raw,
		     &rawlen);
	assert_int_equal(rawlen, 80);
	assert_int_equal(ri.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
					   VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS);
	assert_int_equal(ri.cap_offset, 32);
	struct vfio_region_info_cap_sparse_mmap sm;
	memcpy(&sm, raw + ri.cap_offset, sizeof(sm));
	assert_int_equal(sm.header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	assert_int_equal(sm.header.version, 1);
	assert_int_equal(sm.header.next, 0);
	assert_int_equal(sm.nr_areas, 2);
	struct vfio_region_sparse_mmap_area ar[2];
	memcpy(ar, raw + ri.cap_offset + sizeof(sm), sizeof(ar));
	assert_int_equal(ar[0].offset, 0);
	assert_int_equal(ar[0].size, 0x1000);
	assert_int_equal(ar[1].offset, 0x2000);
	assert_int_equal(ar[1].size, 0x1000);
	free(raw);
	size_t i;
	struct json_object *e = find(a, "DEVICE_GET_REGION_INFO index 1, argsz 80 (capability chain)",
				     &i),
			   *n;
	json_object_object_get_ex(e, "reply_fds", &n);
	assert_int_equal(json_object_get_int(n), 1);
	json_object_put(a);
}

/* QEMU's session: every message is framed right, and the layouts decode the
 * DMA maps, SET_IRQS and the DMA_UNMAP echo. */
static void test_qemu_session(void **state)
{
	(void)state;
	struct json_object *o = tu_load_vectors("qemu-client-with-libvfio-user-server.json"), *msgs;
	assert_true(json_object_object_get_ex(o, "messages", &msgs));
	size_t n = json_object_array_length(msgs);
	assert_true(n > 40);
	unsigned maps = 0, irqs = 0, unmaps = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		uint8_t *b = vec(msgs, i, "hex", &len);
		struct uvfio_hdr h = hdr_of(b, len);
		if (h.cmd == UVFIO_CMD_VERSION && !(h.flags & UVFIO_FLAGS_TYPE_REPLY)) {
			struct uvfio_version v;
			memcpy(&v, b + 16, 4);
			assert_int_equal(v.minor, 0); /* QEMU proposes 0.0 */
			struct uvfio_caps c;
			assert_int_equal(uvfio_caps_parse((char *)b + 20, len - 20, &c, NULL, 0), 0);
			assert_int_equal(c.max_msg_fds, 16);
			assert_true(c.write_multiple);
			assert_int_equal(c.mig_max_bitmap_size, 268435456);
		}
		if (h.cmd == UVFIO_CMD_DMA_MAP && !(h.flags & UVFIO_FLAGS_TYPE_REPLY)) {
			struct uvfio_dma_map m;
			assert_int_equal(len, 16 + sizeof(m));
			memcpy(&m, b + 16, sizeof(m));
			assert_int_equal(m.argsz, 32);
			assert_true(m.size > 0);
			assert_int_equal(m.flags & ~3u, 0);
			maps++;
		}
		if (h.cmd == UVFIO_CMD_DEVICE_SET_IRQS && !(h.flags & UVFIO_FLAGS_TYPE_REPLY)) {
			struct vfio_irq_set s;
			memcpy(&s, b + 16, sizeof(s));
			assert_int_equal(s.argsz, 20);
			assert_int_equal(__builtin_popcount(s.flags & VFIO_IRQ_SET_DATA_TYPE_MASK), 1);
			irqs++;
		}
		if (h.cmd == UVFIO_CMD_DMA_UNMAP && (h.flags & UVFIO_FLAGS_TYPE_REPLY)) {
			struct uvfio_dma_unmap u;
			assert_int_equal(len, 16 + sizeof(u));
			memcpy(&u, b + 16, sizeof(u));
			assert_int_equal(u.argsz, 24);
			assert_int_equal(u.size, 0x10000000);
			unmaps++;
		}
		free(b);
	}
	assert_true(maps >= 6);
	assert_true(irqs >= 3);
	assert_int_equal(unmaps, 1);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_gpio),
		cmocka_unit_test(test_server_sparse_mmap),
		cmocka_unit_test(test_qemu_session),
	};
	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
