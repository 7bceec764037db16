/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: a migration stream into the sample devices' loader
 * (devices/mig_load.c), for a device with two pages of memory and a
 * 16-byte state. The first byte seeds how the rest is split into writes;
 * with its top bit set the harness first rewrites every checksum it can
 * find, so that mutated lengths, offsets, types and sequence numbers reach
 * the checks behind the CRC. Whatever the bytes: every write and the end
 * of RESUMING give 0 or a documented refusal, a refusal sticks, nothing is
 * touched outside the device's memory (ASan), nothing leaks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "mig_stream.h"

#define AREA (2 * MS_PAGE)

static void save(void *dev, void *buf)
{
	memcpy(buf, dev, 16);
}

static int check(void *dev, const void *buf)
{
	(void)dev;
	uint32_t r[4];
	memcpy(r, buf, 16);
	return r[3] ? -EINVAL : 0;
}

static void load(void *dev, const void *buf)
{
	memcpy(dev, buf, 16);
}

static const struct ms_device fake = { .name = "fuzz", .state_version = 1, .state_size = 16,
				       .save_state = save, .check_state = check,
				       .load_state = load };

static bool refusal(int r)
{
	return r == -EBADMSG || r == -ENODEV || r == -EPROTONOSUPPORT || r == -ENODATA ||
	       r == -EINVAL;
}

/* Recompute the header's and each record's CRC where they fit. */
static void fix_checksums(uint8_t *p, size_t n)
{
	if (n < sizeof(struct ms_header))
		return;
	struct ms_header h;
	memcpy(&h, p, sizeof(h));
	h.crc = ms_crc32c(0, &h, offsetof(struct ms_header, crc));
	memcpy(p, &h, sizeof(h));
	for (size_t at = sizeof(h); at + sizeof(struct ms_rec) <= n;) {
		struct ms_rec r;
		memcpy(&r, p + at, sizeof(r));
		if (r.len > n - at - sizeof(r))
			break;
		r.crc = 0;
		r.crc = ms_crc32c(ms_crc32c(0, &r, sizeof(r)), p + at + sizeof(r), r.len);
		memcpy(p + at, &r, sizeof(r));
		at += sizeof(r) + r.len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct uvfio_server *srv;
	static uint8_t mem[AREA];
	static uint32_t regs[4];
	if (!srv) {
		struct uvfio_pci_id id = { .vendor = 0x1de5, .device = 0xf022 };
		if (uvfio_server_create(NULL, &srv) < 0 || uvfio_server_pci_init(srv, &id) < 0)
			abort();
		dev_log("fuzz_mig", UVFIO_LOG_ERR); /* refusals are expected by the million */
	}
	if (!size)
		return 0;
	unsigned seed = data[0];
	uint8_t *in = malloc(size);
	memcpy(in, data + 1, size - 1);
	size_t n = size - 1;
	if (seed & 0x80)
		fix_checksums(in, n);
	struct migstream m;
	if (ms_init(&m, srv, &fake, regs) < 0 || ms_add_area(&m, 2, mem, AREA, false) < 0)
		abort();
	if (ms_transition(&m, UVFIO_MIG_STATE_STOP, UVFIO_MIG_STATE_RESUMING) < 0)
		abort();
	int first = 0;
	for (size_t at = 0; at < n;) {
		size_t piece = 1 + (size_t)rand_r(&seed) % 3000;
		if (piece > n - at)
			piece = n - at;
		int r = ms_write(&m, in + at, piece);
		if (r && !refusal(r))
			abort();
		if (first && r != first)
			abort(); /* a refusal sticks */
		if (!first)
			first = r;
		at += piece;
	}
	int r = ms_transition(&m, UVFIO_MIG_STATE_RESUMING, UVFIO_MIG_STATE_STOP);
	if ((r && !refusal(r)) || (first && r != first) || (!first && n && r && r != -ENODATA))
		abort();
	ms_free(&m);
	free(in);
	return 0;
}
