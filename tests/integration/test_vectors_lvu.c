/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Our client against libvfio-user's servers, as recorded on the wire
 * (../shared/vectors): a scripted server answers with the recorded
 * replies; every request our client sends must be byte for byte the
 * recorded one (message id aside), and every reply must decode into the
 * values a person would read. QEMU's sessions are in test_vectors_qemu.c.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "internal.h"
#include "peer.h"
#include "testdev.h"
#include "util.h"
#include "vectors.h"

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
	return peer_client(p, &cfg);
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

/* Close the session; every request was the recorded one, all were served. */
static void sample_end(struct uvfio_client *c, struct peer *p, struct replay *rp,
		       struct uvfio_region_info *ri, int served)
{
	for (int i = 0; i < 9; i++)
		uvfio_region_info_release(&ri[i]);
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	assert_int_equal(rp->mismatches, 0);
	assert_int_equal(rp->served, served);
	json_object_put(rp->arr);
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
	sample_end(c, p, &rp, ri, 19);
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
	sample_end(c, p, &rp, ri, 20);
}

/* ---- Migration: libvfio-user-migration-source/destination.json ----------- */

#define BIG (2u << 20)

/*
 * A scripted libvfio-user server for a session of "messages": each request
 * our client sends is compared with the recorded one (id aside), and the
 * recorded reply goes back under our id, split at random. The VERSION reply
 * carries the twin socket it was recorded with.
 */
struct session_replay {
	struct vx_session ses;
	uint64_t seed;
	int mismatches;
	unsigned served;
	int twin; /* the server's end of the twin socket */
};

static void script_session(struct peer *p)
{
	struct session_replay *sr = p->arg;
	struct vx_writer w;
	vx_writer_init(&w, p->fd, sr->seed);
	uint8_t *buf = malloc(BIG);
	assert_non_null(buf);
	for (size_t i = 0; i < sr->ses.n; i++) {
		const struct vx_msg *rec = &sr->ses.m[i];
		if (!rec->from_client)
			continue;
		struct uvfio_hdr h;
		if (!peer_recv(p->fd, &h, buf + 16, BIG - 16, NULL, NULL))
			break;
		memcpy(buf, &h, 16);
		bool same = h.msg_size == rec->len && !memcmp(buf + 2, rec->bytes + 2, rec->len - 2);
		if (!same) {
			print_error("request %u (%s) differs from the recorded one\n", h.msg_id,
				    uvfio_cmd_name(h.cmd));
			sr->mismatches++;
		}
		const struct vx_msg *rep = vx_find(&sr->ses, false, rec->hdr.msg_id,
						   UVFIO_FLAGS_TYPE_REPLY);
		assert_non_null(rep);
		memcpy(buf, rep->bytes, rep->len);
		memcpy(buf, &h.msg_id, 2); /* answer under our id */
		int fds[2] = { -1, -1 };
		if (rep->nfds) {
			assert_int_equal(rep->hdr.cmd, UVFIO_CMD_VERSION);
			assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
			sr->twin = fds[0];
		}
		vx_put(&w, buf, rep->len, &fds[1], rep->nfds);
		vx_flush(&w);
		if (fds[1] >= 0)
			close(fds[1]);
		sr->served++;
	}
	free(buf);
	vx_writer_free(&w);
	p->result = 0;
}

static struct uvfio_client *session_client(struct peer *p)
{
	/* what the recording's client proposed: twin socket, 16 descriptors */
	struct uvfio_client_config cfg = { .log = { .level = -1 }, .twin_socket = UVFIO_TWIN_ON };
	return peer_client(p, &cfg);
}

static void session_end(struct session_replay *sr, struct peer *p, struct uvfio_client *c)
{
	uvfio_client_close(c);
	assert_int_equal(peer_join(p), 0);
	if (sr->twin >= 0)
		close(sr->twin);
	assert_int_equal(sr->mismatches, 0);
	unsigned requests = 0;
	for (size_t i = 0; i < sr->ses.n; i++)
		requests += sr->ses.m[i].from_client;
	assert_int_equal(sr->served, requests);
	vx_free(&sr->ses);
}

/* The migration data the source's replies carry, in order. */
static size_t recorded_mig_data(const struct vx_session *s, uint8_t *out)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct vx_msg *m = &s->m[i];
		if (m->from_client || m->hdr.cmd != UVFIO_CMD_MIG_DATA_READ ||
		    (m->hdr.flags & UVFIO_FLAGS_ERROR))
			continue;
		struct uvfio_mig_data d;
		memcpy(&d, m->bytes + 16, sizeof(d));
		memcpy(out + n, m->bytes + 24, d.size);
		n += d.size;
	}
	return n;
}

#define MIG_TOTAL 16392 /* BAR1 (16 KiB) and 8 bytes, read 4 KiB at a time */
static const uint8_t bar1_start[16] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
					0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf };

/*
 * libvfio-user's sample server as a migration source: its last MIG_DATA_READ
 * reply has size 8 and argsz 16 but a payload padded to the 4096 bytes
 * asked for (our client refused it with EPROTO).
 */
static void test_client_vs_migration_source(void **state)
{
	(void)state;
	static struct session_replay sr = { .seed = 51, .twin = -1 };
	vx_load("libvfio-user-migration-source.json", &sr.ses);
	const struct vx_msg *last = vx_find(&sr.ses, false, 12, UVFIO_FLAGS_TYPE_REPLY);
	assert_int_equal(last->len, 16 + 8 + 4096); /* the padding is there */
	struct peer *p = peer_start(script_session, &sr);
	struct uvfio_client *c = session_client(p);
	uint64_t flags = 0;
	assert_int_equal(uvfio_client_feature(c, VFIO_DEVICE_FEATURE_GET | UVFIO_FEATURE_MIGRATION,
					      NULL, 0, &flags, sizeof(flags)),
			 8);
	assert_int_equal(flags, UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);
	uint32_t st = 0;
	assert_int_equal(uvfio_client_mig_state_get(c, &st), 0);
	assert_int_equal(st, UVFIO_MIG_STATE_RUNNING);
	assert_int_equal(uvfio_client_region_write(c, 1, 0, bar1_start, 16), 0);
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_STOP), 0);
	static uint8_t data[MIG_TOTAL + 4096], want[MIG_TOTAL + 4096];
	/* not in a saving state: refused */
	assert_int_equal(uvfio_client_mig_data_read(c, data, 16), -EINVAL);
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_STOP_COPY), 0);
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_PRE_COPY), -EINVAL);
	size_t total = 0;
	int n;
	do {
		n = uvfio_client_mig_data_read(c, data + total, 4096);
		assert_true(n >= 0);
		total += (size_t)n;
	} while (n == 4096);
	assert_int_equal(total, MIG_TOTAL);
	assert_int_equal(n, 8);
	assert_int_equal(recorded_mig_data(&sr.ses, want), MIG_TOTAL);
	assert_memory_equal(data, want, MIG_TOTAL);
	assert_memory_equal(data, bar1_start, 16); /* BAR1 comes first */
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_STOP), 0);
	session_end(&sr, p, c);
}

/*
 * libvfio-user's sample server as the destination: it requires a
 * MIG_DATA_WRITE's argsz to be 8 + size (our client sent 8: EINVAL).
 */
static void test_client_vs_migration_destination(void **state)
{
	(void)state;
	static struct session_replay src = { .twin = -1 }, sr = { .seed = 52, .twin = -1 };
	static uint8_t data[MIG_TOTAL];
	vx_load("libvfio-user-migration-source.json", &src.ses);
	assert_int_equal(recorded_mig_data(&src.ses, data), MIG_TOTAL);
	vx_free(&src.ses);
	vx_load("libvfio-user-migration-destination.json", &sr.ses);
	struct peer *p = peer_start(script_session, &sr);
	struct uvfio_client *c = session_client(p);
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_RESUMING), 0);
	uint32_t st = 0;
	assert_int_equal(uvfio_client_mig_state_get(c, &st), 0);
	assert_int_equal(st, UVFIO_MIG_STATE_RESUMING);
	for (size_t off = 0; off < MIG_TOTAL; off += 4096) {
		size_t n = MIG_TOTAL - off < 4096 ? MIG_TOTAL - off : 4096;
		assert_int_equal(uvfio_client_mig_data_write(c, data + off, n), 0);
	}
	/* the sample refuses RESUMING -> RUNNING and a reset, as recorded */
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_RUNNING), -EINVAL);
	uint8_t bar1[16];
	assert_int_equal(uvfio_client_region_read(c, 1, 0, bar1, 16), 0);
	assert_memory_equal(bar1, bar1_start, 16); /* the state carried over */
	assert_int_equal(uvfio_client_reset(c), -EINVAL);
	session_end(&sr, p, c);
}

/* ---- libvfio-user's clients against our server ---------------------------- */

/* A raw connection to the test device that opened with the VERSION of the
 * recorded libvfio-user-style client. */
static int raw_client(struct testdev *d)
{
	struct vx_session ses;
	vx_load("libvfio-user-migration-source.json", &ses);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, d->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	const struct vx_msg *ver = vx_find(&ses, true, 0, UVFIO_FLAGS_TYPE_COMMAND);
	peer_write(fd, ver->bytes, ver->len, NULL, 0);
	struct uvfio_hdr h;
	uint8_t body[4096];
	int fds[4], nfds = 0;
	assert_true(peer_recv(fd, &h, body, sizeof(body), fds, &nfds) > 0);
	for (int i = 0; i < nfds; i++)
		close(fds[i]); /* the twin socket: no DMA here */
	assert_false(h.flags & UVFIO_FLAGS_ERROR);
	vx_free(&ses);
	return fd;
}

/* Send cmd with body; returns the reply's errno (0 for success). */
static int raw_call(int fd, uint16_t cmd, const void *body, size_t len, uint8_t *out,
		    uint32_t *out_len)
{
	static uint16_t id = 100;
	uint8_t m[256];
	struct uvfio_hdr h = { .msg_id = id++, .cmd = cmd, .msg_size = (uint32_t)(16 + len) };
	memcpy(m, &h, 16);
	memcpy(m + 16, body, len);
	peer_write(fd, m, 16 + len, NULL, 0);
	assert_true(peer_recv(fd, &h, out, 4096, NULL, NULL) > 0);
	*out_len = h.msg_size - 16;
	return h.flags & UVFIO_FLAGS_ERROR ? (int)h.error_no : 0;
}

/*
 * DEVICE_GET_INFO as libvfio-user's own tests send it (test/py/
 * test_device_get_info.py): a short payload and a short argsz are refused,
 * a larger argsz is fine; and padded to its argsz, as a client using the
 * kernel's struct vfio_device_info (24 bytes, with cap_offset) sends it,
 * which our server refused.
 */
static void test_get_info_argsz(void **state)
{
	(void)state;
	struct testdev *d = testdev_start(NULL);
	int fd = raw_client(d);
	uint8_t out[4096];
	uint32_t n;
	uint32_t shortp[2] = { 0, 0 };
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_GET_INFO, shortp, 8, out, &n), EINVAL);
	struct uvfio_device_info in = { .argsz = 8 };
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_GET_INFO, &in, 16, out, &n), EINVAL);
	in.argsz = 32;
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_GET_INFO, &in, 16, out, &n), 0);
	struct uvfio_device_info info;
	assert_int_equal(n, 16);
	memcpy(&info, out, 16);
	assert_int_equal(info.argsz, 16);
	assert_int_equal(info.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	assert_int_equal(info.num_irqs, 5);
	uint32_t padded[6] = { 24, 0, 0, 0, 0, 0 }; /* argsz, flags, regions, irqs, cap_offset, pad */
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_GET_INFO, padded, 24, out, &n), 0);
	assert_int_equal(n, 16);
	assert_memory_equal(out, &info, 16);
	padded[0] = 20; /* padded past its own argsz */
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_GET_INFO, padded, 24, out, &n), EINVAL);
	close(fd);
	testdev_stop(d);
}

/*
 * DEVICE_FEATURE replies fit the request's argsz, as in VFIO and
 * libvfio-user: the recorded GET of the migration feature (argsz 16) is
 * answered in 16 bytes; with argsz 8 there is no room for the flags and it
 * is refused; so is a dirty-page report bigger than argsz.
 */
static void test_feature_argsz(void **state)
{
	(void)state;
	struct vx_session ses;
	vx_load("libvfio-user-migration-source.json", &ses);
	const struct vx_msg *get = vx_find(&ses, true, 1, UVFIO_FLAGS_TYPE_COMMAND);
	const struct vx_msg *rec = vx_find(&ses, false, 1, UVFIO_FLAGS_TYPE_REPLY);
	assert_int_equal(get->hdr.cmd, UVFIO_CMD_DEVICE_FEATURE);
	struct testdev *d = testdev_start(NULL);
	int fd = raw_client(d);
	uint8_t out[4096], body[64];
	uint32_t n;
	memcpy(body, get->bytes + 16, get->len - 16);
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_FEATURE, body, get->len - 16, out, &n), 0);
	/* the test device supports what libvfio-user's sample does: the same bytes */
	assert_int_equal(n, rec->len - 16);
	assert_memory_equal(out, rec->bytes + 16, n);
	uint32_t small = 8;
	memcpy(body, &small, 4);
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_FEATURE, body, get->len - 16, out, &n),
			 EINVAL);
	/* dirty pages: start logging, ask for a report with too little room */
	struct uvfio_device_feature f = { 8 + 16, VFIO_DEVICE_FEATURE_SET |
						     UVFIO_FEATURE_DMA_LOGGING_START };
	struct uvfio_dma_logging_control ctl = { .page_size = 4096 };
	memcpy(body, &f, 8);
	memcpy(body + 8, &ctl, 16);
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_FEATURE, body, 24, out, &n), 0);
	f = (struct uvfio_device_feature){ 8 + 24, VFIO_DEVICE_FEATURE_GET |
						       UVFIO_FEATURE_DMA_LOGGING_REPORT };
	struct uvfio_dma_logging_report r = { .iova = 0, .length = 1u << 20, .page_size = 4096 };
	memcpy(body, &f, 8);
	memcpy(body + 8, &r, 24);
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_FEATURE, body, 32, out, &n), EINVAL);
	uint32_t room = 8 + 24 + 32; /* 256 pages: 4 words */
	memcpy(body, &room, 4);
	assert_int_equal(raw_call(fd, UVFIO_CMD_DEVICE_FEATURE, body, 32, out, &n), 0);
	assert_int_equal(n, 8 + 24 + 32);
	close(fd);
	testdev_stop(d);
	vx_free(&ses);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_vs_gpio),
		cmocka_unit_test(test_client_vs_server_sample),
		cmocka_unit_test(test_client_vs_migration_source),
		cmocka_unit_test(test_client_vs_migration_destination),
		cmocka_unit_test(test_get_info_argsz),
		cmocka_unit_test(test_feature_argsz),
	};
	return cmocka_run_group_tests_name("vectors_lvu", tests, NULL, NULL);
}
