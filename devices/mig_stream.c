/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mig_stream.c — the sample devices' migration stream: set-up, the arcs
 * that begin and end saving and loading sessions, CRC-32C. Saving is in
 * mig_save.c, loading in mig_load.c; the format is in mig_stream.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "mig_stream.h"

/* ---- CRC-32C ------------------------------------------------------------------------ */

#define LANE 1024u /* bytes per lane of the three-lane hardware loop */

static uint32_t crc_table[256];
/* Advance a raw CRC state over LANE zero bytes, a byte of the state at a
 * time (the operation is linear, so it splits by bytes). */
static uint32_t lane_shift[4][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_hw;

static uint32_t raw_bytes(uint32_t c, const uint8_t *p, size_t n)
{
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
	static const uint8_t zeros[LANE];
	uint32_t img[32];
	for (int b = 0; b < 32; b++)
		img[b] = raw_bytes(1u << b, zeros, LANE);
	for (int k = 0; k < 4; k++)
		for (uint32_t v = 0; v < 256; v++) {
			uint32_t x = 0;
			for (int b = 0; b < 8; b++)
				if (v >> b & 1)
					x ^= img[8 * k + b];
			lane_shift[k][v] = x;
		}
#if defined(__x86_64__)
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t shift_lane(uint32_t x)
{
	return lane_shift[0][x & 0xff] ^ lane_shift[1][(x >> 8) & 0xff] ^
	       lane_shift[2][(x >> 16) & 0xff] ^ lane_shift[3][x >> 24];
}

#if defined(__x86_64__)
/*
 * The SSE4.2 instruction computes the same polynomial, 8 bytes at a time,
 * one result every cycle but three cycles late: three lanes run at once and
 * are joined by shifting the first over the lanes after it. Checksumming a
 * page then costs about as much as copying it.
 */
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p,
							     size_t n)
{
	for (; n >= 3 * LANE; n -= 3 * LANE, p += 3 * LANE) {
		uint64_t a = c, b = 0, d = 0, v;
		for (size_t i = 0; i < LANE; i += 8) {
			memcpy(&v, p + i, 8);
			a = __builtin_ia32_crc32di(a, v);
			memcpy(&v, p + LANE + i, 8);
			b = __builtin_ia32_crc32di(b, v);
			memcpy(&v, p + 2 * LANE + i, 8);
			d = __builtin_ia32_crc32di(d, v);
		}
		c = shift_lane(shift_lane((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)d;
	}
	uint64_t c64 = c;
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
	}
	c = (uint32_t)c64;
	for (; n; n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t ms_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (crc_hw)
		return ~crc_sse42(~crc, buf, len);
#endif
	return ~raw_bytes(~crc, buf, len);
}

/* The portable loop, whatever the CPU (for tests). */
uint32_t ms_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~raw_bytes(~crc, buf, len);
}

/* ---- Set-up ------------------------------------------------------------------------- */

static void hdr_seal(struct ms_header *h)
{
	h->crc = ms_crc32c(0, h, offsetof(struct ms_header, crc));
}

int ms_init(struct migstream *m, struct uvfio_server *srv, const struct ms_device *dev,
	    void *opaque)
{
	if (dev->state_size > MS_MAX_STATE || strlen(dev->name) >= sizeof(m->hdr.name))
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->srv = srv;
	m->dev = dev;
	m->opaque = opaque;
	m->state = UVFIO_MIG_STATE_RUNNING;
	m->running = 1;
	size_t cfg_len;
	const uint8_t *cfg = uvfio_server_config_space(srv, &cfg_len);
	if (!cfg)
		return -EINVAL;
	struct ms_header *h = &m->hdr;
	memcpy(h->magic, MS_MAGIC, sizeof(h->magic));
	h->version = MS_VERSION;
	h->size = sizeof(*h);
	strncpy(h->name, dev->name, sizeof(h->name) - 1);
	memcpy(&h->vendor, cfg + 0x00, 2);
	memcpy(&h->device, cfg + 0x02, 2);
	memcpy(&h->subsys_vendor, cfg + 0x2c, 2);
	memcpy(&h->subsys_device, cfg + 0x2e, 2);
	h->state_version = dev->state_version;
	h->state_size = dev->state_size;
	h->config_size = (uint32_t)cfg_len;
	hdr_seal(h);
	return 0;
}

int ms_add_area(struct migstream *m, uint32_t region, void *mem, uint64_t size, bool precopy)
{
	if (m->nareas == MS_MAX_AREAS || !mem || !size || size % MS_PAGE)
		return -EINVAL;
	struct ms_area *a = &m->areas[m->nareas];
	*a = (struct ms_area){ .region = region, .mem = mem, .size = size, .precopy = precopy };
	m->hdr.areas[m->nareas].region = region;
	m->hdr.areas[m->nareas].precopy = precopy;
	m->hdr.areas[m->nareas].size = size;
	m->hdr.nareas = ++m->nareas;
	hdr_seal(&m->hdr);
	return 0;
}

void ms_free(struct migstream *m)
{
	ms_save_end(m);
	ms_load_end(m);
}

/* ---- The arcs ------------------------------------------------------------------------ */

static int save_begin(struct migstream *m, bool final)
{
	for (unsigned i = 0; i < m->nareas; i++) {
		struct ms_area *a = &m->areas[i];
		uint64_t pages = a->size / MS_PAGE;
		a->unsent = malloc((pages + 63) / 64 * 8);
		/* populated at once: faulting it in page by page while the first
		 * round fills it costs more than the round */
		void *sh = a->precopy && !final ? mmap(NULL, a->size, PROT_READ | PROT_WRITE,
							MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
							-1, 0)
						  : NULL;
		a->shadow = sh == MAP_FAILED ? NULL : sh;
		if (!a->unsent || (a->precopy && !final && !a->shadow)) {
			ms_save_end(m);
			return -ENOMEM;
		}
		memset(a->unsent, 0xff, (pages + 63) / 64 * 8);
	}
	if (!m->pend && !(m->pend = malloc(sizeof(struct ms_rec) + MS_MAX_PAYLOAD))) {
		ms_save_end(m);
		return -ENOMEM;
	}
	m->saving = true;
	m->final = final;
	m->hdr_sent = m->round_reported = false;
	m->phase = 0;
	m->cur_area = 0;
	m->cur_page = 0;
	m->seq = 0;
	m->pend_off = m->pend_len = 0;
	return 0;
}

static int load_begin(struct migstream *m)
{
	ms_load_end(m);
	m->stage = malloc(MS_MAX_PAYLOAD);
	m->in_state = malloc(m->dev->state_size ? m->dev->state_size : 1);
	m->in_config = malloc(m->hdr.config_size);
	if (!m->stage || !m->in_state || !m->in_config) {
		ms_load_end(m);
		return -ENOMEM;
	}
	m->loading = true;
	return 0;
}

int ms_transition(struct migstream *m, uint32_t from, uint32_t to)
{
	int r = 0;
	if (from == UVFIO_MIG_STATE_RUNNING && to == UVFIO_MIG_STATE_PRE_COPY) {
		r = save_begin(m, false);
	} else if (from == UVFIO_MIG_STATE_STOP && to == UVFIO_MIG_STATE_STOP_COPY) {
		r = save_begin(m, true);
	} else if (from == UVFIO_MIG_STATE_PRE_COPY && to == UVFIO_MIG_STATE_STOP_COPY) {
		/* the last pass: whatever changed since it was sent, then the rest */
		m->final = true;
		m->phase = 0;
		m->cur_area = 0;
		m->cur_page = 0;
	} else if (from == UVFIO_MIG_STATE_PRE_COPY || from == UVFIO_MIG_STATE_STOP_COPY) {
		ms_save_end(m); /* to RUNNING, to STOP: the session is over */
	} else if (to == UVFIO_MIG_STATE_RESUMING) {
		r = load_begin(m);
	} else if (from == UVFIO_MIG_STATE_RESUMING) {
		r = ms_load_finish(m);
		if (r == 0)
			ms_load_end(m);
	}
	if (r < 0)
		return r;
	dev_log_line(UVFIO_LOG_DEBUG, "migration state %u -> %u", from, to);
	m->state = to;
	__atomic_store_n(&m->running,
			 to == UVFIO_MIG_STATE_RUNNING || to == UVFIO_MIG_STATE_PRE_COPY,
			 __ATOMIC_RELAXED);
	if (from == UVFIO_MIG_STATE_STOP && to == UVFIO_MIG_STATE_RUNNING && m->dev->resumed)
		m->dev->resumed(m->opaque);
	return 0;
}

void ms_reset(struct migstream *m)
{
	ms_save_end(m);
	ms_load_end(m);
	m->state = UVFIO_MIG_STATE_RUNNING;
	__atomic_store_n(&m->running, 1, __ATOMIC_RELAXED);
}

bool ms_running(const struct migstream *m)
{
	return __atomic_load_n(&m->running, __ATOMIC_RELAXED);
}

uint64_t ms_op_flags(void *opaque)
{
	struct migstream *m = opaque;
	for (unsigned i = 0; i < m->nareas; i++)
		if (m->areas[i].precopy)
			return UVFIO_MIGRATION_PRE_COPY;
	return 0;
}

int ms_op_transition(void *opaque, uint32_t from, uint32_t to)
{
	return ms_transition(opaque, from, to);
}

ssize_t ms_op_read(void *opaque, void *buf, size_t len)
{
	return ms_read(opaque, buf, len);
}

int ms_op_write(void *opaque, const void *buf, size_t len)
{
	return ms_write(opaque, buf, len);
}
