/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration end to end, with the sample devices as the programs a person
 * runs and the tool's migration code (tools/migrate/migrate.c): memdev migrated
 * while its RAM and registers are written through the migrating connection
 * and through the mmap'd BAR, byte-for-byte equality at the stop point; the
 * DMA engine's copy carried over; every arc of the state machine; streams
 * refused (foreign, corrupted, truncated) with the destination usable
 * afterwards; a source dying mid-stream; snapshots.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migrate.h"
#include "uvfio/client.h"
#include "util.h"

#define RAM_SIZE (1u << 20)
#define MEMDEV "uvfio-memdev"
#define ENGINE "uvfio-dma-engine"

static struct uvfio_client *open_dev(const struct tu_dev *d)
{
	struct uvfio_client_config cfg = { .timeout_ms = 30000 };
	struct uvfio_client *c;
	assert_int_equal(uvfio_client_connect(d->sock, &cfg, &c), 0);
	return c;
}

/* Two devices of a program and a client of each. */
static void two(const char *prog, struct tu_dev *a, struct tu_dev *b, struct uvfio_client **ca,
		struct uvfio_client **cb)
{
	tu_dev_start(a, UVFIO_BUILD_ROOT, prog, NULL);
	tu_dev_start(b, UVFIO_BUILD_ROOT, prog, NULL);
	*ca = open_dev(a);
	*cb = open_dev(b);
}

static uint8_t *map_bar(struct uvfio_client *c, uint32_t index)
{
	struct uvfio_region_info ri;
	assert_int_equal(uvfio_client_region_info(c, index, &ri), 0);
	void *p;
	assert_int_equal(uvfio_region_map_area(&ri, 0, PROT_READ | PROT_WRITE, &p), 0);
	uvfio_region_info_release(&ri);
	return p;
}

static uint32_t reg32(struct uvfio_client *c, uint64_t off)
{
	uint32_t v;
	assert_int_equal(uvfio_client_region_read(c, 0, off, &v, 4), 0);
	return v;
}

static uint64_t reg64(struct uvfio_client *c, uint64_t off)
{
	uint64_t v;
	assert_int_equal(uvfio_client_region_read(c, 0, off, &v, 8), 0);
	return v;
}

static void wreg(struct uvfio_client *c, uint64_t off, uint64_t v, size_t size)
{
	assert_int_equal(uvfio_client_region_write(c, 0, off, &v, size), 0);
}

static uint32_t mig_state(struct uvfio_client *c)
{
	uint32_t s;
	assert_int_equal(uvfio_client_mig_state_get(c, &s), 0);
	return s;
}

static void same_config(struct uvfio_client *a, struct uvfio_client *b)
{
	uint8_t x[256], y[256];
	assert_int_equal(uvfio_client_region_read(a, VFIO_PCI_CONFIG_REGION_INDEX, 0, x, 256), 0);
	assert_int_equal(uvfio_client_region_read(b, VFIO_PCI_CONFIG_REGION_INDEX, 0, y, 256), 0);
	assert_memory_equal(x, y, 256);
}

/* A migration that must succeed. */
static void migrate_ok(struct uvfio_client *src, struct uvfio_client *dst,
		       const struct mig_opts *o, struct mig_stats *st)
{
	char err[512];
	if (mig_live(src, dst, o, st, err, sizeof(err)) < 0)
		fail_msg("migration failed: %s", err);
}

/* memdev c holds ram and scratch. */
static void holds(struct uvfio_client *c, const uint8_t *ram, uint32_t scratch)
{
	uint8_t *m = map_bar(c, 2);
	assert_memory_equal(m, ram, RAM_SIZE);
	munmap(m, RAM_SIZE);
	assert_int_equal(reg32(c, 0x04), scratch);
}

/* ---- memdev written before and during pre-copy --------------------------------------- */

struct writer {
	uint8_t *map;   /* the source's RAM BAR, mapped */
	uint8_t *model; /* what it must hold */
	unsigned seed;
	uint32_t scratch, writes;
	unsigned rounds;
	uint64_t round1;
};

/* Random writes to RAM (through the mapping and through REGION_WRITE on
 * the given connection) and to registers. */
static void scribble(struct writer *w, struct uvfio_client *c)
{
	uint8_t buf[5000];
	for (int k = 0; k < 5; k++) {
		uint32_t len = 1 + (uint32_t)rand_r(&w->seed) % sizeof(buf);
		uint32_t off = (uint32_t)rand_r(&w->seed) % (RAM_SIZE - len);
		for (uint32_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand_r(&w->seed);
		if (k < 3)
			memcpy(w->map + off, buf, len);
		else
			assert_int_equal(uvfio_client_region_write(c, 2, off, buf, len), 0);
		memcpy(w->model + off, buf, len);
	}
	w->scratch = (uint32_t)rand_r(&w->seed);
	wreg(c, 0x04, w->scratch, 4);
	wreg(c, 0x10, 1, 4); /* doorbell: INTSTATUS bit 0 */
	w->writes += 2;
}

static int after_round(void *arg, struct uvfio_client *src, unsigned round, uint64_t bytes)
{
	struct writer *w = arg;
	w->rounds = round;
	if (round == 1)
		w->round1 = bytes;
	scribble(w, src);
	return 0;
}

static void test_memdev_live_precopy(void **state)
{
	(void)state;
	struct tu_dev a, b;
	struct uvfio_client *ca, *cb;
	two(MEMDEV, &a, &b, &ca, &cb);
	struct writer w = { .map = map_bar(ca, 2), .model = calloc(1, RAM_SIZE), .seed = 14 };
	uint8_t *mb = map_bar(cb, 2);
	memset(mb, 0xee, RAM_SIZE); /* every page must come across */
	uint16_t cmd = 0x0006;  /* memory space and bus master on */
	assert_int_equal(uvfio_client_region_write(ca, VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2), 0);
	uint8_t big[65536];
	memset(big, 0x3c, sizeof(big));
	assert_int_equal(uvfio_client_region_write(ca, 2, 0x20000, big, sizeof(big)), 0);
	memcpy(w.model + 0x20000, big, sizeof(big));
	scribble(&w, ca);

	struct mig_opts o = { .precopy_rounds = 4, .precopy_threshold = 0,
			      .after_round = after_round, .arg = &w, .chunk = 100000 };
	struct mig_stats st;
	migrate_ok(ca, cb, &o, &st);
	assert_int_equal(st.rounds, 4);
	assert_int_equal(w.rounds, 4);
	assert_true(w.round1 >= RAM_SIZE);
	for (unsigned i = 1; i < 4; i++)
		assert_true(st.round_bytes[i] > 0 && st.round_bytes[i] < RAM_SIZE / 4);
	/* only what the last round's writes touched moves once stopped */
	assert_true(st.stopcopy_bytes > 0 && st.stopcopy_bytes < 128 * 1024);
	assert_int_equal(st.bytes, st.precopy_bytes + st.stopcopy_bytes);
	assert_true(st.downtime_ns > 0);
	assert_int_equal(mig_state(ca), UVFIO_MIG_STATE_STOP);
	assert_int_equal(mig_state(cb), UVFIO_MIG_STATE_RUNNING);

	/* byte for byte: the model, the source at its stop point, the destination */
	assert_memory_equal(w.map, w.model, RAM_SIZE);
	assert_memory_equal(mb, w.model, RAM_SIZE);
	uint8_t *rb = malloc(RAM_SIZE);
	assert_int_equal(uvfio_client_region_read(cb, 2, 0, rb, RAM_SIZE), 0);
	assert_memory_equal(rb, w.model, RAM_SIZE);
	free(rb);
	assert_int_equal(reg32(cb, 0x04), w.scratch);
	assert_int_equal(reg32(cb, 0x08), w.writes);
	assert_int_equal(reg32(ca, 0x08), w.writes);
	assert_int_equal(reg32(cb, 0x14), 1);
	assert_int_equal(reg32(ca, 0x14), 1);
	same_config(ca, cb);

	munmap(w.map, RAM_SIZE);
	munmap(mb, RAM_SIZE);
	free(w.model);
	uvfio_client_close(ca);
	uvfio_client_close(cb);
	tu_dev_stop(&a);
	tu_dev_stop(&b);
}

/* A doorbell rung while stopped: INTSTATUS and the interrupt still owed
 * move with the device, and the destination raises it once it runs. */
static void test_memdev_interrupt_carried_over(void **state)
{
	(void)state;
	struct tu_dev a, b;
	struct uvfio_client *ca, *cb;
	two(MEMDEV, &a, &b, &ca, &cb);
	int ea = tu_eventfd(), eb = tu_eventfd();
	assert_int_equal(uvfio_client_set_irqs(ca, VFIO_PCI_MSI_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_EVENTFD |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 1, &ea), 0);
	assert_int_equal(uvfio_client_mig_state_set(ca, UVFIO_MIG_STATE_STOP), 0);
	wreg(ca, 0x10, 1, 4); /* held back: the device is stopped */
	assert_int_equal(reg32(ca, 0x14), 1);
	struct mig_stats st;
	migrate_ok(ca, cb, NULL, &st);
	assert_int_equal(reg32(cb, 0x14), 1);
	assert_int_equal(uvfio_client_set_irqs(cb, VFIO_PCI_MSI_IRQ_INDEX,
					       VFIO_IRQ_SET_DATA_EVENTFD |
						       VFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 1, &eb), 0);
	assert_int_equal(uvfio_client_mig_state_set(cb, UVFIO_MIG_STATE_RUNNING), 0);
	uint64_t n = 0;
	struct pollfd pf = { .fd = eb, .events = POLLIN }; /* raised on entering RUNNING */
	assert_int_equal(poll(&pf, 1, 30000), 1);          /* (the bound only ends a hang) */
	assert_int_equal(read(eb, &n, 8), 8);
	assert_int_equal(n, 1);
	assert_int_equal(fcntl(ea, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(ea, &n, 8), -1); /* never at the source */
	wreg(cb, 0x14, 1, 4); /* acknowledged */
	assert_int_equal(reg32(cb, 0x14), 0);
	close(ea);
	close(eb);
	uvfio_client_close(ca);
	uvfio_client_close(cb);
	tu_dev_stop(&a);
	tu_dev_stop(&b);
}

/* ---- the DMA engine: a copy started while stopped moves with the device ------------ */

#define MEM (1u << 20)
#define IOVA (1ull << 32)

static void give_memory(struct uvfio_client *c, uint8_t *mem, int mfd)
{
	struct uvfio_dma_region reg = { .vaddr = mem, .iova = IOVA, .size = MEM,
					.prot = UVFIO_DMA_FLAG_READ | UVFIO_DMA_FLAG_WRITE,
					.fd = mfd };
	assert_int_equal(uvfio_client_dma_map(c, &reg), 0);
	assert_int_equal(uvfio_client_bus_master(c, true), 0); /* as a driver */
}

static void program(struct uvfio_client *c, uint64_t src, uint64_t dst, uint64_t len)
{
	uint64_t regs[3] = { IOVA + src, IOVA + dst, len };
	assert_int_equal(uvfio_client_region_write(c, 0, 0, regs, sizeof(regs)), 0);
	wreg(c, 0x18, 1, 8);
}

static void test_engine_copy_carried_over(void **state)
{
	(void)state;
	struct tu_dev a, b;
	struct uvfio_client *ca, *cb;
	two(ENGINE, &a, &b, &ca, &cb);
	int mfd = memfd_create("test-migrate", MFD_CLOEXEC);
	assert_int_equal(ftruncate(mfd, MEM), 0);
	uint8_t *mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(mem != MAP_FAILED);
	for (unsigned i = 0; i < 0x4000; i++)
		mem[i] = (uint8_t)(i * 13 + 1);
	memset(mem + 0x4000, 0, 0x4000);
	give_memory(ca, mem, mfd);
	program(ca, 0x0000, 0x4000, 0x1000); /* runs at once */
	assert_int_equal(reg64(ca, 0x20), 1);
	assert_int_equal(reg64(ca, 0x30), 1);
	/* the MSI-X table (BAR1) is device state too */
	uint32_t msix[4] = { 0xfee00000, 0, 0x4041, 0 };
	assert_int_equal(uvfio_client_region_write(ca, 1, 0, msix, sizeof(msix)), 0);

	assert_int_equal(uvfio_client_mig_state_set(ca, UVFIO_MIG_STATE_STOP), 0);
	program(ca, 0x2000, 0x6000, 0x2000); /* a stopped engine only queues it */
	assert_int_equal(reg64(ca, 0x20), 3);
	uint8_t zero[0x2000] = { 0 };
	assert_memory_equal(mem + 0x6000, zero, sizeof(zero));

	struct mig_opts o = { .precopy_rounds = 8 };
	struct mig_stats st;
	migrate_ok(ca, cb, &o, &st);
	assert_int_equal(st.rounds, 0); /* the engine offers no PRE_COPY */
	assert_int_equal(mig_state(cb), UVFIO_MIG_STATE_STOP); /* as the source was */
	assert_int_equal(reg64(cb, 0x20), 3);
	assert_int_equal(reg64(cb, 0x30), 1);
	uint32_t got[4];
	assert_int_equal(uvfio_client_region_read(cb, 1, 0, got, sizeof(got)), 0);
	assert_memory_equal(got, msix, sizeof(msix));
	same_config(ca, cb);

	/* the destination runs the queued copy once it runs, with its client's memory */
	assert_int_equal(uvfio_client_dma_unmap(ca, IOVA, MEM), 0);
	give_memory(cb, mem, mfd);
	assert_int_equal(uvfio_client_mig_state_set(cb, UVFIO_MIG_STATE_RUNNING), 0);
	assert_int_equal(reg64(cb, 0x20), 1);
	assert_int_equal(reg64(cb, 0x30), 2);
	assert_int_equal(reg64(cb, 0x38), 0x3000);
	assert_memory_equal(mem + 0x6000, mem + 0x2000, 0x2000);
	/* and the source, stopped for good, never ran it */
	assert_int_equal(mig_state(ca), UVFIO_MIG_STATE_STOP);
	assert_int_equal(reg64(ca, 0x20), 3);
	assert_int_equal(reg64(ca, 0x30), 1);

	munmap(mem, MEM);
	close(mfd);
	uvfio_client_close(ca);
	uvfio_client_close(cb);
	tu_dev_stop(&a);
	tu_dev_stop(&b);
}

/* ---- the state machine ---------------------------------------------------------------- */

/* Put the device in state s from anywhere. */
static void enter(struct uvfio_client *c, uint32_t s)
{
	assert_int_equal(uvfio_client_reset(c), 0);
	assert_int_equal(uvfio_client_mig_state_set(c, s), 0);
	assert_int_equal(mig_state(c), s);
}

/* The specification's machine: the five states vfio-user uses (PRE_COPY
 * when offered) reach each other, except STOP_COPY -> PRE_COPY; ERROR and
 * the P2P states can never be asked for. */
static bool legal(uint32_t from, uint32_t to, bool precopy)
{
	(void)from;
	switch (to) {
	case UVFIO_MIG_STATE_STOP:
	case UVFIO_MIG_STATE_RUNNING:
	case UVFIO_MIG_STATE_STOP_COPY:
	case UVFIO_MIG_STATE_RESUMING:
		return true;
	case UVFIO_MIG_STATE_PRE_COPY:
		return precopy && from != UVFIO_MIG_STATE_STOP_COPY;
	default:
		return false;
	}
}

static void arcs(const char *prog, bool precopy)
{
	struct tu_dev d;
	tu_dev_start(&d, UVFIO_BUILD_ROOT, prog, NULL);
	struct uvfio_client *c = open_dev(&d);
	static const uint32_t froms[] = { UVFIO_MIG_STATE_RUNNING, UVFIO_MIG_STATE_STOP,
					  UVFIO_MIG_STATE_PRE_COPY, UVFIO_MIG_STATE_STOP_COPY,
					  UVFIO_MIG_STATE_RESUMING };
	unsigned refused = 0;
	for (unsigned i = 0; i < 5; i++) {
		uint32_t from = froms[i];
		if (from == UVFIO_MIG_STATE_PRE_COPY && !precopy) {
			enter(c, UVFIO_MIG_STATE_RUNNING);
			assert_int_equal(uvfio_client_mig_state_set(c, from), -EINVAL);
			assert_int_equal(mig_state(c), UVFIO_MIG_STATE_RUNNING);
			continue;
		}
		for (uint32_t to = 0; to <= 9; to++) {
			enter(c, from);
			uint32_t want = to == 9 ? 0xffffffffu : to;
			int r = uvfio_client_mig_state_set(c, want);
			if (legal(from, want, precopy)) {
				if (r)
					fail_msg("%s: %s -> %s refused: %d", prog, mig_state_name(from),
						 mig_state_name(want), r);
				assert_int_equal(mig_state(c), want);
			} else {
				if (r != -EINVAL)
					fail_msg("%s: %s -> %u gave %d, not -EINVAL", prog,
						 mig_state_name(from), want, r);
				assert_int_equal(mig_state(c), from);
				refused++;
			}
		}
	}
	assert_true(refused >= 20);
	/* data only flows in the states that carry it */
	enter(c, UVFIO_MIG_STATE_RUNNING);
	uint8_t buf[64];
	assert_int_equal(uvfio_client_mig_data_read(c, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(uvfio_client_mig_data_write(c, buf, sizeof(buf)), -EINVAL);
	enter(c, UVFIO_MIG_STATE_STOP_COPY);
	assert_int_equal(uvfio_client_mig_data_write(c, buf, sizeof(buf)), -EINVAL);
	enter(c, UVFIO_MIG_STATE_RESUMING);
	assert_int_equal(uvfio_client_mig_data_read(c, buf, sizeof(buf)), -EINVAL);
	uvfio_client_close(c);
	tu_dev_stop(&d);
}

static void test_illegal_arcs(void **state)
{
	(void)state;
	arcs(MEMDEV, true);
	arcs(ENGINE, false);
}

/* ---- refused streams -------------------------------------------------------------------- */

/* The whole STOP_COPY stream of a running device, read in random sizes;
 * the device runs again afterwards. */
static uint8_t *read_stream(struct uvfio_client *c, size_t *len, unsigned *seed)
{
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_STOP_COPY), 0);
	size_t cap = 2 * RAM_SIZE, n = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		size_t want = 1 + (size_t)rand_r(seed) % 70000;
		assert_true(n + want <= cap);
		int r = uvfio_client_mig_data_read(c, buf + n, want);
		assert_true(r >= 0);
		n += (size_t)r;
		if ((size_t)r < want)
			break;
	}
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_RUNNING), 0);
	*len = n;
	return buf;
}

/* Write a stream in random pieces into a device in RESUMING; the first
 * error (every later write must give the same one), or 0. */
static int write_stream(struct uvfio_client *c, const uint8_t *buf, size_t len, unsigned *seed)
{
	int first = 0;
	for (size_t at = 0; at < len;) {
		size_t n = 1 + (size_t)rand_r(seed) % 9000;
		if (n > len - at)
			n = len - at;
		int r = uvfio_client_mig_data_write(c, buf + at, n);
		if (first)
			assert_int_equal(r, first);
		else
			first = r;
		at += n;
	}
	return first;
}

/* The stream is refused with err (by a write, or when leaving RESUMING);
 * the device stays in RESUMING until a reset, and then serves. */
static void refused(struct uvfio_client *c, const uint8_t *buf, size_t len, int err,
		    bool by_write, unsigned *seed)
{
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_RESUMING), 0);
	assert_int_equal(write_stream(c, buf, len, seed), by_write ? err : 0);
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_STOP), err);
	assert_int_equal(uvfio_client_mig_state_set(c, UVFIO_MIG_STATE_RUNNING), err);
	assert_int_equal(mig_state(c), UVFIO_MIG_STATE_RESUMING);
	assert_int_equal(uvfio_client_reset(c), 0);
	assert_int_equal(mig_state(c), UVFIO_MIG_STATE_RUNNING);
	assert_int_equal(reg32(c, 0x00), 0x4d454d31);
}

static void test_refused_streams(void **state)
{
	(void)state;
	unsigned seed = 7;
	struct tu_dev a, b, e;
	struct uvfio_client *ca, *cb;
	two(MEMDEV, &a, &b, &ca, &cb);
	tu_dev_start(&e, UVFIO_BUILD_ROOT, ENGINE, NULL);
	struct uvfio_client *ce = open_dev(&e);
	uint8_t *ram = map_bar(ca, 2);
	for (unsigned i = 0; i < RAM_SIZE; i++)
		ram[i] = (uint8_t)(i % 251);
	wreg(ca, 0x04, 0xabcd1234, 4);
	size_t len, elen;
	uint8_t *s = read_stream(ca, &len, &seed), *es = read_stream(ce, &elen, &seed);
	assert_true(len > RAM_SIZE);

	refused(cb, es, elen, -ENODEV, true, &seed);   /* another kind of device */
	uint8_t *bad = malloc(len);
	memcpy(bad, s, len);
	bad[0] ^= 1;                                    /* not a stream */
	refused(cb, bad, len, -EBADMSG, true, &seed);
	memcpy(bad, s, len);
	bad[len / 2] ^= 0x40;                           /* a page corrupted */
	refused(cb, bad, len, -EBADMSG, true, &seed);
	memcpy(bad, s, len);
	bad[8] = 9;                                     /* format version */
	refused(cb, bad, len, -EPROTONOSUPPORT, true, &seed);
	refused(cb, s, len - 5, -ENODATA, false, &seed); /* truncated */
	refused(cb, s, 100, -ENODATA, false, &seed);    /* inside the header */
	/* a stream with data after its END */
	memcpy(bad, s, len);
	uint8_t *twice = malloc(len + 40);
	memcpy(twice, s, len);
	memset(twice + len, 0, 40);
	refused(cb, twice, len + 40, -EBADMSG, true, &seed);
	free(twice);
	free(bad);

	/* RESUMING -> STOP with nothing written keeps the device as it was */
	wreg(cb, 0x04, 0x55, 4);
	assert_int_equal(uvfio_client_mig_state_set(cb, UVFIO_MIG_STATE_RESUMING), 0);
	assert_int_equal(uvfio_client_mig_state_set(cb, UVFIO_MIG_STATE_RUNNING), 0);
	assert_int_equal(reg32(cb, 0x04), 0x55);

	/* and after all that, the real stream loads, whatever the pieces */
	assert_int_equal(uvfio_client_mig_state_set(cb, UVFIO_MIG_STATE_RESUMING), 0);
	assert_int_equal(write_stream(cb, s, len, &seed), 0);
	assert_int_equal(uvfio_client_mig_state_set(cb, UVFIO_MIG_STATE_RUNNING), 0);
	holds(cb, ram, 0xabcd1234);
	munmap(ram, RAM_SIZE);
	free(s);
	free(es);
	uvfio_client_close(ca);
	uvfio_client_close(cb);
	uvfio_client_close(ce);
	tu_dev_stop(&a);
	tu_dev_stop(&b);
	tu_dev_stop(&e);
}

/* ---- a source that dies mid-stream ------------------------------------------------------ */

/* Kill the device arg (after a pre-copy round). */
static int kill_device(void *arg, struct uvfio_client *src, unsigned round, uint64_t bytes);

/* A migration during which victim dies: it fails saying what and done. */
static void migrate_dying(struct uvfio_client *src, struct uvfio_client *dst, struct tu_dev *victim,
			  const char *what, const char *done)
{
	struct mig_opts o = { .precopy_rounds = 4, .after_round = kill_device, .arg = victim };
	struct mig_stats st;
	char err[512];
	assert_true(mig_live(src, dst, &o, &st, err, sizeof(err)) < 0);
	if (!strstr(err, what) || !strstr(err, done))
		fail_msg("\"%s\" does not say \"%s\" and \"%s\"", err, what, done);
}

/* Kill the device arg (after a pre-copy round). */
static int kill_device(void *arg, struct uvfio_client *src, unsigned round, uint64_t bytes)
{
	(void)src, (void)round, (void)bytes;
	struct tu_dev *d = arg;
	kill(d->pid, SIGKILL);
	assert_int_equal(waitpid(d->pid, NULL, 0), d->pid);
	unlink(d->sock);
	return 0;
}

static void test_source_dies(void **state)
{
	(void)state;
	struct tu_dev a, b, c;
	struct uvfio_client *ca, *cb;
	two(MEMDEV, &a, &b, &ca, &cb);
	uint8_t fill[8192];
	memset(fill, 0x77, sizeof(fill));
	assert_int_equal(uvfio_client_region_write(ca, 2, 0x1000, fill, sizeof(fill)), 0);
	migrate_dying(ca, cb, &a, "source", "the destination was reset");
	assert_int_equal(mig_state(cb), UVFIO_MIG_STATE_RUNNING);
	uvfio_client_close(ca);

	/* the destination takes the next migration */
	tu_dev_start(&c, UVFIO_BUILD_ROOT, MEMDEV, NULL);
	struct uvfio_client *cc = open_dev(&c);
	assert_int_equal(uvfio_client_region_write(cc, 2, 0x3000, fill, sizeof(fill)), 0);
	wreg(cc, 0x04, 99, 4);
	struct mig_opts o2 = { .precopy_rounds = 2 };
	struct mig_stats st;
	migrate_ok(cc, cb, &o2, &st);
	uint8_t got[8192];
	assert_int_equal(uvfio_client_region_read(cb, 2, 0x3000, got, sizeof(got)), 0);
	assert_memory_equal(got, fill, sizeof(got));
	assert_int_equal(uvfio_client_region_read(cb, 2, 0x1000, got, 16), 0);
	assert_int_equal(got[0], 0); /* nothing of the dead source's */
	assert_int_equal(reg32(cb, 0x04), 99);
	uvfio_client_close(cb);
	uvfio_client_close(cc);
	tu_dev_stop(&b);
	tu_dev_stop(&c);
}

/* The destination dies instead: the source runs on and migrates later. */
static void test_destination_dies(void **state)
{
	(void)state;
	struct tu_dev a, b, c;
	struct uvfio_client *ca, *cb;
	two(MEMDEV, &a, &b, &ca, &cb);
	wreg(ca, 0x04, 0x77, 4);
	migrate_dying(ca, cb, &b, "destination", "the source is RUNNING again");
	assert_int_equal(mig_state(ca), UVFIO_MIG_STATE_RUNNING);
	uvfio_client_close(cb);
	wreg(ca, 0x04, 0x78, 4); /* it runs */
	tu_dev_start(&c, UVFIO_BUILD_ROOT, MEMDEV, NULL);
	struct uvfio_client *cc = open_dev(&c);
	struct mig_stats st;
	migrate_ok(ca, cc, NULL, &st);
	assert_int_equal(reg32(cc, 0x04), 0x78);
	uvfio_client_close(ca);
	uvfio_client_close(cc);
	tu_dev_stop(&a);
	tu_dev_stop(&c);
}

/* ---- snapshots ----------------------------------------------------------------------------- */

static int tmpfile_fd(char *path)
{
	strcpy(path, "/tmp/uvfio-test-snap-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

static void test_snapshot(void **state)
{
	(void)state;
	struct tu_dev a, b, e;
	struct uvfio_client *ca, *cb;
	two(MEMDEV, &a, &b, &ca, &cb);
	tu_dev_start(&e, UVFIO_BUILD_ROOT, ENGINE, NULL);
	struct uvfio_client *ce = open_dev(&e);
	uint8_t *ram = map_bar(ca, 2);
	for (unsigned i = 0; i < RAM_SIZE; i += 4096)
		ram[i] = (uint8_t)(i >> 12);
	wreg(ca, 0x04, 0x5a5a, 4);
	char path[64], epath[64];
	int fd = tmpfile_fd(path), efd = tmpfile_fd(epath);
	struct mig_stats st;
	char err[512];
	assert_int_equal(mig_save(ca, fd, NULL, &st, err, sizeof(err)), 0);
	assert_int_equal(mig_state(ca), UVFIO_MIG_STATE_RUNNING); /* runs on */
	assert_int_equal(mig_save(ce, efd, NULL, &st, err, sizeof(err)), 0);
	ram[0] = 0xff; /* after the snapshot: not in it */

	/* another device's snapshot: refused before the destination is touched */
	assert_int_equal(lseek(efd, 0, SEEK_SET), 0);
	assert_int_equal(mig_load(efd, cb, NULL, &st, err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "another kind of device"));
	assert_int_equal(mig_state(cb), UVFIO_MIG_STATE_RUNNING);
	/* a truncated file */
	off_t size = lseek(fd, 0, SEEK_END);
	assert_int_equal(ftruncate(fd, size - 1), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(mig_load(fd, cb, NULL, &st, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated"));
	/* the whole file */
	assert_int_equal(mig_save(ca, fd, NULL, &st, err, sizeof(err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	int r = mig_load(fd, cb, NULL, &st, err, sizeof(err));
	if (r)
		fail_msg("load failed: %s", err);
	assert_int_equal(mig_state(cb), UVFIO_MIG_STATE_RUNNING);
	holds(cb, ram, 0x5a5a);
	munmap(ram, RAM_SIZE);
	close(fd);
	close(efd);
	unlink(path);
	unlink(epath);
	uvfio_client_close(ca);
	uvfio_client_close(cb);
	uvfio_client_close(ce);
	tu_dev_stop(&a);
	tu_dev_stop(&b);
	tu_dev_stop(&e);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_memdev_live_precopy, tu_dev_teardown),
		cmocka_unit_test_teardown(test_memdev_interrupt_carried_over, tu_dev_teardown),
		cmocka_unit_test_teardown(test_engine_copy_carried_over, tu_dev_teardown),
		cmocka_unit_test_teardown(test_illegal_arcs, tu_dev_teardown),
		cmocka_unit_test_teardown(test_refused_streams, tu_dev_teardown),
		cmocka_unit_test_teardown(test_source_dies, tu_dev_teardown),
		cmocka_unit_test_teardown(test_destination_dies, tu_dev_teardown),
		cmocka_unit_test_teardown(test_snapshot, tu_dev_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
