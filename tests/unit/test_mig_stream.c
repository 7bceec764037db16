/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sample devices' migration stream (devices/mig_*.c) in one process,
 * without sockets: CRC-32C (the three-lane hardware loop against the
 * portable one), pre-copy rounds and their ends, exact change detection,
 * records split over reads of any size and writes of any size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mig_stream.h"
#include "util.h"

#define AREA (64u * 4096)

static void test_crc(void **state)
{
	(void)state;
	assert_int_equal(ms_crc32c(0, "123456789", 9), 0xe3069283); /* the check value */
	assert_int_equal(ms_crc32c_portable(0, "123456789", 9), 0xe3069283);
	uint8_t *b = malloc(20000);
	unsigned seed = 3;
	for (int i = 0; i < 20000; i++)
		b[i] = (uint8_t)rand_r(&seed);
	for (size_t n = 0; n < 20000; n += 97)
		for (size_t off = 0; off < 9; off += 4)
			assert_int_equal(ms_crc32c(0x1234, b + off, n - (n > off ? off : n)),
					 ms_crc32c_portable(0x1234, b + off, n - (n > off ? off : n)));
	/* continuing is the same as one call */
	assert_int_equal(ms_crc32c(ms_crc32c(0, b, 5000), b + 5000, 9000), ms_crc32c(0, b, 14000));
	free(b);
}

struct fake {
	uint32_t regs[4];
};

static void save(void *dev, void *buf)
{
	memcpy(buf, ((struct fake *)dev)->regs, 16);
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
	memcpy(((struct fake *)dev)->regs, buf, 16);
}

static const struct ms_device fake_dev = { .name = "fake", .state_version = 2, .state_size = 16,
					   .save_state = save, .check_state = check,
					   .load_state = load };

struct side {
	struct uvfio_server *srv;
	struct migstream ms;
	struct fake dev;
	uint8_t *mem;
};

static void side_init(struct side *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(uvfio_server_create(NULL, &s->srv), 0);
	struct uvfio_pci_id id = { .vendor = 0xf1f0, .device = 0x1111 };
	assert_int_equal(uvfio_server_pci_init(s->srv, &id), 0);
	s->mem = calloc(1, AREA);
	assert_int_equal(ms_init(&s->ms, s->srv, &fake_dev, &s->dev), 0);
	assert_int_equal(ms_add_area(&s->ms, 2, s->mem, AREA, true), 0);
}

static void side_free(struct side *s)
{
	ms_free(&s->ms);
	uvfio_server_destroy(s->srv);
	free(s->mem);
}

/* Read until a short read, in pieces of 1..max bytes, appending to buf. */
static size_t read_round(struct migstream *m, uint8_t *buf, size_t at, unsigned max,
			 unsigned *seed)
{
	for (;;) {
		size_t want = 1 + (size_t)rand_r(seed) % max;
		ssize_t n = ms_read(m, buf + at, want);
		assert_true(n >= 0);
		at += (size_t)n;
		if ((size_t)n < want)
			return at;
	}
}

static void run(unsigned max_read, unsigned max_write)
{
	unsigned seed = max_read * 31 + max_write;
	struct side a, b;
	side_init(&a);
	side_init(&b);
	for (unsigned i = 0; i < AREA; i++)
		a.mem[i] = (uint8_t)(i * 7);
	memset(b.mem, 0xee, AREA);
	a.dev.regs[0] = 42;
	uint8_t *stream = malloc(4 * AREA);
	size_t len = 0;
	assert_int_equal(ms_transition(&a.ms, UVFIO_MIG_STATE_RUNNING, UVFIO_MIG_STATE_PRE_COPY), 0);
	len = read_round(&a.ms, stream, len, max_read, &seed);
	assert_true(len > AREA);
	/* nothing changed: the next round is empty */
	size_t r2 = read_round(&a.ms, stream, len, max_read, &seed);
	assert_int_equal(r2, len);
	/* one byte of page 5 changes: one page moves */
	a.mem[5 * 4096 + 100] ^= 1;
	r2 = read_round(&a.ms, stream, len, max_read, &seed);
	assert_int_equal(r2 - len, sizeof(struct ms_rec) + 4096);
	len = r2;
	/* changed and changed back before the next pass: nothing to send */
	a.mem[9 * 4096] ^= 1;
	a.mem[9 * 4096] ^= 1;
	assert_int_equal(read_round(&a.ms, stream, len, max_read, &seed), len);
	/* changes, then the stop: the last pass has them and the state */
	a.mem[0] = 1;
	a.mem[AREA - 1] = 2;
	a.dev.regs[1] = 7;
	assert_int_equal(ms_transition(&a.ms, UVFIO_MIG_STATE_PRE_COPY, UVFIO_MIG_STATE_STOP_COPY),
			 0);
	len = read_round(&a.ms, stream, len, max_read, &seed);
	uint8_t tail[8];
	assert_int_equal(ms_read(&a.ms, tail, sizeof(tail)), 0); /* ended */
	assert_int_equal(ms_transition(&a.ms, UVFIO_MIG_STATE_STOP_COPY, UVFIO_MIG_STATE_STOP), 0);
	assert_int_equal(ms_read(&a.ms, tail, sizeof(tail)), -EINVAL);

	assert_int_equal(ms_transition(&b.ms, UVFIO_MIG_STATE_STOP, UVFIO_MIG_STATE_RESUMING), 0);
	for (size_t at = 0; at < len;) {
		size_t n = 1 + (size_t)rand_r(&seed) % max_write;
		if (n > len - at)
			n = len - at;
		assert_int_equal(ms_write(&b.ms, stream + at, n), 0);
		at += n;
	}
	assert_int_equal(ms_transition(&b.ms, UVFIO_MIG_STATE_RESUMING, UVFIO_MIG_STATE_STOP), 0);
	assert_memory_equal(b.mem, a.mem, AREA);
	assert_memory_equal(b.dev.regs, a.dev.regs, sizeof(a.dev.regs));
	free(stream);
	side_free(&a);
	side_free(&b);
}

/* Read and write sizes: tiny (every record split, the header too), around
 * a page (records built aside), large (records built in place). */
static void test_round_trip(void **state)
{
	(void)state;
	static const unsigned sizes[][2] = {
		{ 7, 5 }, { 30, 300 }, { 5000, 3 }, { 4200, 4200 }, { 300000, 70000 }, { 1 << 20, 1 << 20 },
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		run(sizes[i][0], sizes[i][1]);
}

/* A state value the device rejects: refused at the END record, nothing of
 * the registers applied. */
static void test_bad_state(void **state)
{
	(void)state;
	struct side a, b;
	side_init(&a);
	side_init(&b);
	a.dev.regs[3] = 1;
	b.dev.regs[0] = 5;
	uint8_t *stream = malloc(2 * AREA);
	unsigned seed = 1;
	assert_int_equal(ms_transition(&a.ms, UVFIO_MIG_STATE_STOP, UVFIO_MIG_STATE_STOP_COPY), 0);
	size_t len = read_round(&a.ms, stream, 0, 100000, &seed);
	assert_int_equal(ms_transition(&b.ms, UVFIO_MIG_STATE_STOP, UVFIO_MIG_STATE_RESUMING), 0);
	assert_int_equal(ms_write(&b.ms, stream, len), -EINVAL);
	assert_int_equal(ms_transition(&b.ms, UVFIO_MIG_STATE_RESUMING, UVFIO_MIG_STATE_STOP),
			 -EINVAL);
	assert_int_equal(b.dev.regs[0], 5);
	ms_reset(&b.ms);
	assert_true(ms_running(&b.ms));
	free(stream);
	side_free(&a);
	side_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
