/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interoperability with the recorded sessions of ../shared/vectors:
 *  - our client against libvfio-user's replies: every request it sends is
 *    byte for byte the recorded one (message id aside), and every recorded
 *    reply decodes into the values a person would read;
 *  - QEMU's client requests replayed against our server: every one is
 *    accepted and answered in the shape QEMU expects.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "internal.h"
#include "peer.h"
#include "testdev.h"
#include "util.h"

struct replay {
	struct json_object *arr;
	int mismatches;
	int served;
};

static void script_replay(struct peer *p)
{
	struct replay *rp = p->arg;
	size_t n = json_object_array_length(rp->arr);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(rp->arr, i), *o;
		uint8_t *req, *rep;
		json_object_object_get_ex(e, "request_hex", &o);
		size_t req_len = tu_unhex(json_object_get_string(o), &req);
		json_object_object_get_ex(e, "reply_hex", &o);
		size_t rep_len = tu_unhex(json_object_get_string(o), &rep);
		json_object_object_get_ex(e, "reply_fds", &o);
		int nfds = json_object_get_int(o);

		struct uvfio_hdr h;
		uint8_t body[8192];
		if (!peer_recv(p->fd, &h, body, sizeof(body), NULL, NULL)) {
			free(req);
			free(rep);
			break;
		}
		uint8_t mine[8192];
		memcpy(mine, &h, 16);
		memcpy(mine + 16, body, h.msg_size - 16);
		if (h.cmd == UVFIO_CMD_VERSION) {
			/* our capabilities differ; the version numbers must not */
			if (memcmp(mine + 2, req + 2, 2) || memcmp(mine + 16, req + 16, 4))
				rp->mismatches++;
		} else if (h.cmd == UVFIO_CMD_DEVICE_GET_REGION_INFO && req_len > h.msg_size) {
			/* The recording's client padded the request to argsz; QEMU
			 * (and we) send the bare structure. The rest must be the
			 * same and the padding zero. */
			bool zero = true;
			for (size_t k = h.msg_size; k < req_len; k++)
				zero = zero && !req[k];
			if (!zero || mine[3] != req[3] ||
			    memcmp(mine + 8, req + 8, h.msg_size - 8) || mine[2] != req[2])
				rp->mismatches++;
		} else if (h.msg_size != req_len || memcmp(mine + 2, req + 2, req_len - 2)) {
			print_error("request %zu differs from the recorded one\n", i);
			rp->mismatches++;
		}
		memcpy(rep, &h.msg_id, 2); /* answer under our id */
		int fd = -1;
		if (nfds) {
			fd = memfd_create("bar", MFD_CLOEXEC);
			if (ftruncate(fd, 0x4000) < 0)
				abort();
		}
		peer_write(p->fd, rep, rep_len, &fd, nfds);
		if (fd >= 0)
			close(fd);
		rp->served++;
		free(req);
		free(rep);
	}
	p->result = 0;
}

static struct uvfio_client *replay_client(struct peer *p)
{
	struct uvfio_client_config cfg = { .log = { .level = -1 },
					   .max_msg_fds = 8,
					   .twin_socket = UVFIO_TWIN_OFF,
					   .no_write_multiple = true };
	struct uvfio_client *c = NULL;
	int fd = p->other;
	p->other = -1;
	assert_int_equal(uvfio_client_adopt(fd, &cfg, &c), 0);
	return c;
}

/* The opening shared by both sample devices, then each file's checks. */
static void common_session(struct uvfio_client *c, struct uvfio_region_info *ri)
{
	struct uvfio_caps caps;
	uint16_t major, minor;
	assert_int_equal(uvfio_client_server_caps(c, &caps, &major, &minor), 0);
	assert_int_equal(minor, 1);
	assert_int_equal(caps.max_msg_fds, 8);
	assert_true(caps.migration);
	struct uvfio_device_info di;
	assert_int_equal(uvfio_client_device_info(c, &di), 0);
	assert_int_equal(di.num_regions, 9);
	assert_int_equal(di.num_irqs, 5);
	for (uint32_t i = 0; i < 9; i++)
		assert_int_equal(uvfio_client_region_info(c, i, &ri[i]), 0);
}

static void irq_and_tail(struct uvfio_client *c, uint8_t *cfg)
{
	struct vfio_irq_info ii[5];
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(uvfio_client_irq_info(c, i, &ii[i]), 0);
	assert_int_equal(ii[0].count, 1);
	assert_int_equal(ii[1].count, 0);
	assert_int_equal(ii[3].count, 1);
	assert_int_equal(uvfio_client_region_read(c, 7, 0, cfg, 64), 0);
	uint32_t v;
	assert_int_equal(uvfio_client_region_read(c, 99, 0, &v, 4), -EINVAL);
	assert_int_equal(uvfio_client_reset(c), 0);
}

static void test_client_vs_gpio(void **state)
{
	(void)state;
	struct replay rp = { .arr = tu_load_vectors("libvfio-user-gpio-pci-idio-16.json") };
	struct peer *p = peer_start(script_replay, &rp);
	struct uvfio_client *c = replay_client(p);
	struct uvfio_region_info ri[9];
	common_session(c, ri);
	assert_int_equal(ri[2].size, 256);
	assert_int_equal(ri[2].flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	assert_int_equal(ri[7].size, 256);
	assert_int_equal(ri[0].size, 0);
	uint8_t cfg[64];
	irq_and_tail(c, cfg);
	uint16_t vendor, device;
	memcpy(&vendor, cfg, 2);
	memcpy(&device, cfg + 2, 2);
	assert_int_equal(vendor, 0x494f);
	assert_int_equal(device, 0x0dc8);
	for (int i = 0; i < 9; i++)
		uvfio_region_info_release(&ri[i]);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_int_equal(rp.mismatches, 0);
	assert_int_equal(rp.served, 19);
	json_object_put(rp.arr);
}

static void test_client_vs_server_sample(void **state)
{
	(void)state;
	struct replay rp = { .arr = tu_load_vectors("libvfio-user-server.json") };
	struct peer *p = peer_start(script_replay, &rp);
	struct uvfio_client *c = replay_client(p);
	struct uvfio_region_info ri[9];
	/* region 1 needs 80 bytes: the client retries with argsz 80, exactly
	 * as recorded, and gets the sparse areas and the descriptor */
	common_session(c, ri);
	assert_int_equal(ri[0].size, 8);
	assert_int_equal(ri[1].size, 0x4000);
	assert_true(ri[1].flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_true(ri[1].fd >= 0);
	assert_int_equal(ri[1].nr_areas, 2);
	assert_int_equal(ri[1].areas[0].offset, 0);
	assert_int_equal(ri[1].areas[0].size, 0x1000);
	assert_int_equal(ri[1].areas[1].offset, 0x2000);
	assert_int_equal(ri[1].areas[1].size, 0x1000);
	uint8_t cfg[64];
	irq_and_tail(c, cfg);
	uint32_t id, bar0;
	memcpy(&id, cfg, 4);
	memcpy(&bar0, cfg + 0x10, 4);
	assert_int_equal(id, 0xbeefdead);
	for (int i = 0; i < 9; i++)
		uvfio_region_info_release(&ri[i]);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_int_equal(rp.mismatches, 0);
	assert_int_equal(rp.served, 20);
	json_object_put(rp.arr);
}

/* QEMU's side of the recorded session, sent to our server. */
static void test_qemu_requests_vs_our_server(void **state)
{
	(void)state;
	struct testdev *d = testdev_start(NULL);
	struct json_object *o = tu_load_vectors("qemu-client-with-libvfio-user-server.json"), *msgs;
	assert_true(json_object_object_get_ex(o, "messages", &msgs));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* hand one end to the server as if QEMU had connected */
	testdev_stop(d);
	d = NULL;
	struct uvfio_server_config scfg = { .log = { .level = -1 } };
	struct uvfio_server *srv;
	assert_int_equal(uvfio_server_create(&scfg, &srv), 0);
	struct uvfio_pci_id id = { .vendor = 0x4e58, .device = 1 };
	uvfio_server_pci_init(srv, &id);
	struct uvfio_region_desc bar = { .size = 0x4000,
					 .flags = VFIO_REGION_INFO_FLAG_READ |
						  VFIO_REGION_INFO_FLAG_WRITE,
					 .mappable = true };
	assert_int_equal(uvfio_server_setup_region(srv, 1, &bar, NULL), 0);
	assert_int_equal(uvfio_server_setup_irq(srv, VFIO_PCI_INTX_IRQ_INDEX, 1), 0);
	assert_int_equal(uvfio_server_setup_irq(srv, VFIO_PCI_ERR_IRQ_INDEX, 1), 0);
	assert_int_equal(uvfio_server_adopt(srv, sv[1]), 0);

	int mfd = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_int_equal(ftruncate(mfd, 0x10000000), 0);
	size_t n = json_object_array_length(msgs);
	unsigned replies = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(msgs, i), *x;
		json_object_object_get_ex(e, "dir", &x);
		if (strcmp(json_object_get_string(x), "client->server"))
			continue;
		uint8_t *b;
		json_object_object_get_ex(e, "hex", &x);
		size_t len = tu_unhex(json_object_get_string(x), &b);
		struct uvfio_hdr h;
		memcpy(&h, b, 16);
		int fd = -1, nfds = 0;
		if (h.cmd == UVFIO_CMD_DMA_MAP) {
			struct uvfio_dma_map dm;
			memcpy(&dm, b + 16, sizeof(dm));
			if (dm.flags & UVFIO_DMA_FLAG_WRITE) { /* guest RAM came with its memfd */
				fd = mfd;
				nfds = 1;
			}
		} else if (h.cmd == UVFIO_CMD_DEVICE_SET_IRQS) {
			struct vfio_irq_set s;
			memcpy(&s, b + 16, sizeof(s));
			if ((s.flags & VFIO_IRQ_SET_DATA_EVENTFD) && s.count) {
				fd = eventfd(0, EFD_CLOEXEC);
				nfds = 1;
			}
		}
		peer_write(sv[0], b, len, &fd, nfds);
		if (fd >= 0 && fd != mfd)
			close(fd);
		while (uvfio_server_dispatch(srv) == 0)
			;
		struct uvfio_hdr rh;
		uint8_t body[8192];
		int rfds[4], nr;
		assert_true(peer_recv(sv[0], &rh, body, sizeof(body), rfds, &nr) > 0);
		for (int k = 0; k < nr; k++)
			close(rfds[k]);
		if (rh.flags & UVFIO_FLAGS_ERROR)
			fail_msg("QEMU's request %u (%s) got error %u", h.msg_id,
				 uvfio_cmd_name(h.cmd), rh.error_no);
		assert_int_equal(rh.msg_id, h.msg_id);
		assert_int_equal(rh.cmd, h.cmd);
		switch (h.cmd) {
		case UVFIO_CMD_VERSION: {
			struct uvfio_version v;
			memcpy(&v, body, 4);
			assert_int_equal(v.minor, 0); /* QEMU refuses a higher minor */
			struct uvfio_caps caps;
			assert_int_equal(uvfio_caps_parse((char *)body + 4, rh.msg_size - 20, &caps,
							  NULL, 0),
					 0);
			assert_true(caps.write_multiple); /* QEMU proposed it */
			assert_false(caps.twin_socket);   /* QEMU did not */
			break;
		}
		case UVFIO_CMD_REGION_READ: {
			struct uvfio_region_access a;
			memcpy(&a, b + 16, sizeof(a));
			assert_int_equal(rh.msg_size, 32 + a.count);
			break;
		}
		case UVFIO_CMD_REGION_WRITE:
			assert_int_equal(rh.msg_size, 32);
			break;
		case UVFIO_CMD_DMA_UNMAP:
			assert_int_equal(rh.msg_size, 40);
			break;
		case UVFIO_CMD_DMA_MAP:
		case UVFIO_CMD_DEVICE_SET_IRQS:
		case UVFIO_CMD_DEVICE_RESET:
			assert_int_equal(rh.msg_size, 16);
			break;
		}
		replies++;
		free(b);
	}
	assert_int_equal(replies, 42);
	close(mfd);
	close(sv[0]);
	uvfio_server_destroy(srv);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_vs_gpio),
		cmocka_unit_test(test_client_vs_server_sample),
		cmocka_unit_test(test_qemu_requests_vs_our_server),
	};
	return cmocka_run_group_tests_name("vectors", tests, NULL, NULL);
}
