/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mig_save.c — producing the migration stream (PRE_COPY rounds, the
 * STOP_COPY pass): records are built straight into the MIG_DATA_READ reply
 * when they fit, otherwise into a pending buffer drained by later reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mig_stream.h"

enum { PH_PAGES, PH_STATE, PH_CONFIG, PH_END, PH_DONE };

/* Room a reply must have left to take any record whole: a page, the
 * device state or the configuration space (each at most 4096 bytes). */
#define DIRECT_MIN (sizeof(struct ms_rec) + MS_PAGE)
_Static_assert(MS_MAX_STATE <= MS_PAGE, "the state record fits DIRECT_MIN");

void ms_save_end(struct migstream *m)
{
	for (unsigned i = 0; i < m->nareas; i++) {
		if (m->areas[i].shadow)
			munmap(m->areas[i].shadow, m->areas[i].size);
		free(m->areas[i].unsent);
		m->areas[i].shadow = NULL;
		m->areas[i].unsent = NULL;
	}
	free(m->pend);
	m->pend = NULL;
	m->pend_off = m->pend_len = 0;
	m->saving = false;
}

static bool unsent(const struct ms_area *a, uint64_t p)
{
	return a->unsent[p / 64] >> (p % 64) & 1;
}

/*
 * Must page p go out? Never sent yet, or (pre-copy areas) different from
 * what was sent. A write racing with the comparison is either seen now or
 * left different from the shadow for the next pass: nothing is lost.
 */
static bool page_dirty(const struct migstream *m, const struct ms_area *a, uint64_t p)
{
	if (unsent(a, p))
		return a->precopy || m->final;
	if (!a->shadow)
		return false;
	return memcmp(a->mem + p * MS_PAGE, a->shadow + p * MS_PAGE, MS_PAGE) != 0;
}

/* Move the cursor to the next page to send; false at the end of the pass. */
static bool find_dirty(struct migstream *m)
{
	while (m->cur_area < m->nareas) {
		const struct ms_area *a = &m->areas[m->cur_area];
		uint64_t pages = a->size / MS_PAGE;
		if (a->precopy || m->final)
			for (; m->cur_page < pages; m->cur_page++)
				if (page_dirty(m, a, m->cur_page))
					return true;
		m->cur_area++;
		m->cur_page = 0;
	}
	return false;
}

static size_t seal(struct migstream *m, uint8_t *out, struct ms_rec *r, const void *payload)
{
	r->seq = m->seq++;
	r->crc = 0;
	uint32_t c = ms_crc32c(0, r, sizeof(*r));
	r->crc = ms_crc32c(c, payload, r->len);
	memcpy(out, r, sizeof(*r));
	return sizeof(*r) + r->len;
}

/* A MEM record of the dirty pages from the cursor on (at most cap bytes). */
static size_t emit_mem(struct migstream *m, uint8_t *out, size_t cap)
{
	struct ms_area *a = &m->areas[m->cur_area];
	uint64_t pages = a->size / MS_PAGE, p = m->cur_page, n = 0;
	uint64_t max = (cap - sizeof(struct ms_rec)) / MS_PAGE;
	if (max > MS_MAX_PAYLOAD / MS_PAGE)
		max = MS_MAX_PAYLOAD / MS_PAGE;
	uint8_t *pay = out + sizeof(struct ms_rec);
	for (; p < pages && n < max; p++, n++) {
		if (n && !page_dirty(m, a, p))
			break;
		/* one snapshot of the page is both what is sent and the shadow */
		memcpy(pay + n * MS_PAGE, a->mem + p * MS_PAGE, MS_PAGE);
		if (a->shadow)
			memcpy(a->shadow + p * MS_PAGE, pay + n * MS_PAGE, MS_PAGE);
		a->unsent[p / 64] &= ~(1ull << (p % 64));
	}
	struct ms_rec r = { .type = MS_REC_MEM, .area = (uint16_t)m->cur_area,
			    .len = (uint32_t)(n * MS_PAGE), .offset = m->cur_page * MS_PAGE };
	m->cur_page = p;
	return seal(m, out, &r, pay);
}

/* The next record into out (cap bytes, at least DIRECT_MIN); 0 when the
 * round (pre-copy) or the stream (final pass) has nothing more. */
static size_t produce(struct migstream *m, uint8_t *out, size_t cap)
{
	struct ms_rec r = { 0 };
	uint8_t *pay = out + sizeof(r);
	size_t cfg_len;
	switch (m->phase) {
	case PH_PAGES:
		if (find_dirty(m))
			return emit_mem(m, out, cap);
		if (!m->final)
			return 0;
		m->phase = PH_STATE;
		/* fall through */
	case PH_STATE:
		m->phase = PH_CONFIG;
		r.type = MS_REC_STATE;
		r.len = m->dev->state_size;
		m->dev->save_state(m->opaque, pay);
		return seal(m, out, &r, pay);
	case PH_CONFIG:
		m->phase = PH_END;
		r.type = MS_REC_CONFIG;
		memcpy(pay, uvfio_server_config_space(m->srv, &cfg_len), m->hdr.config_size);
		r.len = m->hdr.config_size;
		return seal(m, out, &r, pay);
	case PH_END:
		m->phase = PH_DONE;
		r.type = MS_REC_END;
		r.offset = m->seq;
		return seal(m, out, &r, pay);
	default:
		return 0;
	}
}

static size_t drain(struct migstream *m, uint8_t *out, size_t room)
{
	size_t n = m->pend_len - m->pend_off;
	if (n > room)
		n = room;
	memcpy(out, m->pend + m->pend_off, n);
	m->pend_off += n;
	if (m->pend_off == m->pend_len)
		m->pend_off = m->pend_len = 0;
	return n;
}

ssize_t ms_read(struct migstream *m, void *buf, size_t len)
{
	if (!m->saving)
		return -EINVAL;
	uint8_t *out = buf;
	size_t done = drain(m, out, len);
	if (!m->hdr_sent && done < len) {
		memcpy(m->pend, &m->hdr, sizeof(m->hdr));
		m->pend_len = sizeof(m->hdr);
		m->hdr_sent = true;
		done += drain(m, out + done, len - done);
	}
	/* A read after the short read that ended a pre-copy round starts the
	 * next round. */
	if (!m->final && m->round_reported && m->cur_area >= m->nareas) {
		m->cur_area = 0;
		m->cur_page = 0;
		m->round_reported = false;
	}
	while (done < len && !m->pend_len) {
		size_t room = len - done;
		if (room >= DIRECT_MIN) {
			size_t n = produce(m, out + done, room);
			if (!n)
				break;
			done += n;
		} else {
			size_t n = produce(m, m->pend, sizeof(struct ms_rec) + MS_MAX_PAYLOAD);
			if (!n)
				break;
			m->pend_len = n;
			done += drain(m, out + done, room);
		}
	}
	if (done < len && !m->final)
		m->round_reported = true;
	return (ssize_t)done;
}
