/* SPDX-License-Identifier: BSD-3-Clause */
/* Version negotiation: the capabilities JSON and the negotiation rules. */
#include <string.h>

#include "internal.h"
#include "util.h"

static int parse(const char *s, struct uvfio_caps *c)
{
	char err[256];
	return uvfio_caps_parse(s, strlen(s) + 1, c, err, sizeof(err));
}

static void test_defaults(void **state)
{
	(void)state;
	struct uvfio_caps c;
	assert_int_equal(uvfio_caps_parse("", 0, &c, NULL, 0), 0);
	assert_int_equal(c.max_msg_fds, 1);
	assert_int_equal(c.max_data_xfer_size, 1048576);
	assert_int_equal(c.max_dma_maps, 65535);
	assert_int_equal(c.pgsizes, 4096);
	assert_false(c.twin_socket);
	assert_int_equal(c.twin_fd_index, -1);
	assert_false(c.write_multiple);
	assert_false(c.migration);
	/* an object without capabilities, and an empty capabilities object */
	assert_int_equal(parse("{}", &c), 0);
	assert_int_equal(c.max_msg_fds, 1);
	assert_int_equal(parse("{\"capabilities\":{}}", &c), 0);
	assert_int_equal(c.max_data_xfer_size, 1048576);
}

static void test_full(void **state)
{
	(void)state;
	struct uvfio_caps c;
	assert_int_equal(
		parse("{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":65536,"
		      "\"max_dma_maps\":10,\"pgsizes\":4096,\"write_multiple\":true,"
		      "\"twin_socket\":{\"supported\":true,\"fd_index\":0},"
		      "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":268435456},"
		      "\"future_key\":[1,2]}}",
		      &c),
		0);
	assert_int_equal(c.max_msg_fds, 16);
	assert_int_equal(c.max_data_xfer_size, 65536);
	assert_int_equal(c.max_dma_maps, 10);
	assert_true(c.write_multiple);
	assert_true(c.twin_socket);
	assert_int_equal(c.twin_fd_index, 0);
	assert_true(c.migration);
	assert_int_equal(c.mig_pgsize, 4096);
	assert_int_equal(c.mig_max_bitmap_size, 268435456);
}

static void test_errors(void **state)
{
	(void)state;
	struct uvfio_caps c;
	char err[256];
	static const char *bad[] = {
		"{",
		"not json",
		"[1,2]",
		"{\"capabilities\":5}",
		"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
		"{\"capabilities\":{\"max_msg_fds\":-1}}",
		"{\"capabilities\":{\"max_msg_fds\":1.5}}",
		"{\"capabilities\":{\"max_msg_fds\":100000}}",
		"{\"capabilities\":{\"max_data_xfer_size\":0}}",
		"{\"capabilities\":{\"max_data_xfer_size\":4294967296}}",
		"{\"capabilities\":{\"pgsizes\":0}}",
		"{\"capabilities\":{\"write_multiple\":1}}",
		"{\"capabilities\":{\"twin_socket\":true}}",
		"{\"capabilities\":{\"twin_socket\":{\"supported\":\"yes\"}}}",
		"{\"capabilities\":{\"twin_socket\":{\"fd_index\":-3}}}",
		"{\"capabilities\":{\"migration\":{\"pgsize\":3000}}}",
		"{\"capabilities\":{\"migration\":7}}",
		"{} trailing",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		int r = uvfio_caps_parse(bad[i], strlen(bad[i]), &c, err, sizeof(err));
		if (r != -EINVAL)
			fail_msg("\"%s\" gave %d", bad[i], r);
		assert_true(strlen(err) > 10); /* a sentence says what was wrong */
	}
	/* Not NUL-terminated input is bounded by len. */
	assert_int_equal(uvfio_caps_parse("{}XXXX", 2, &c, NULL, 0), 0);
}

static void test_format_roundtrip(void **state)
{
	(void)state;
	struct uvfio_caps a, b;
	uvfio_caps_default(&a);
	a.max_msg_fds = 8;
	a.max_data_xfer_size = 131072;
	a.twin_socket = true;
	a.twin_fd_index = 0;
	a.write_multiple = true;
	a.migration = true;
	a.mig_pgsize = 4096;
	char buf[512];
	int n = uvfio_caps_format(&a, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(strlen(buf), (size_t)n);
	assert_int_equal(uvfio_caps_parse(buf, (size_t)n, &b, NULL, 0), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(uvfio_caps_format(&a, buf, 10), -ENOSPC);
}

static void test_server_rules(void **state)
{
	(void)state;
	struct uvfio_caps proposed, mine, reply;
	uint16_t minor;
	uvfio_caps_default(&proposed);
	uvfio_caps_default(&mine);
	mine.write_multiple = true;
	mine.twin_socket = true;
	mine.max_msg_fds = 8;
	/* the client proposed none of the features: the reply has none */
	assert_int_equal(vu_negotiate_server(0, 5, &proposed, &mine, &minor, &reply), 0);
	assert_int_equal(minor, UVFIO_PROTO_MINOR);
	assert_false(reply.write_multiple);
	assert_false(reply.twin_socket);
	assert_int_equal(reply.max_msg_fds, 8);
	/* minor never above the proposal */
	assert_int_equal(vu_negotiate_server(0, 0, &proposed, &mine, &minor, &reply), 0);
	assert_int_equal(minor, 0);
	proposed.write_multiple = true;
	assert_int_equal(vu_negotiate_server(0, 1, &proposed, &mine, &minor, &reply), 0);
	assert_true(reply.write_multiple);
	/* another major cannot be served */
	assert_int_equal(vu_negotiate_server(1, 0, &proposed, &mine, &minor, &reply), -ENOTSUP);
}

static void test_client_rules(void **state)
{
	(void)state;
	struct uvfio_caps p, r;
	char err[256];
	uvfio_caps_default(&p);
	uvfio_caps_default(&r);
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 0, 1, &r, 0, err, sizeof(err)), 0);
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 0, 0, &r, 0, err, sizeof(err)), 0);
	/* a higher minor than proposed (QEMU refuses it too) */
	assert_int_equal(vu_negotiate_check_reply(0, 0, &p, 0, 1, &r, 0, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "minor"));
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 1, 1, &r, 0, err, sizeof(err)),
			 -EPROTO);
	/* features not proposed */
	r.write_multiple = true;
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 0, 1, &r, 0, err, sizeof(err)),
			 -EPROTO);
	r.write_multiple = false;
	r.twin_socket = true;
	r.twin_fd_index = 0;
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 0, 1, &r, 1, err, sizeof(err)),
			 -EPROTO);
	/* twin socket proposed: index must name a descriptor that came */
	p.twin_socket = true;
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 0, 1, &r, 1, err, sizeof(err)), 0);
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 0, 1, &r, 0, err, sizeof(err)),
			 -EPROTO);
	r.twin_fd_index = -1;
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 0, 1, &r, 1, err, sizeof(err)),
			 -EPROTO);
	/* supported false (or absent) with an index is inconsistent */
	r.twin_socket = false;
	r.twin_fd_index = 0;
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 0, 1, &r, 1, err, sizeof(err)),
			 -EPROTO);
	/* server declined twin socket: fine */
	r.twin_fd_index = -1;
	assert_int_equal(vu_negotiate_check_reply(0, 1, &p, 0, 1, &r, 0, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),     cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),       cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_server_rules), cmocka_unit_test(test_client_rules),
	};
	return cmocka_run_group_tests_name("caps", tests, NULL, NULL);
}
