/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pcap files of vfio-user messages: one packet per message, nanosecond
 * timestamps, link type DLT_USER0 with our pseudo-header in front of each
 * message (trace.h; docs/uvfio.1; tools/trace/wireshark/vfio-user.lua reads it).
 * The reader trusts nothing in the file: every length is checked before use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

#define MAGIC_NS 0xa1b23c4du
#define MAGIC_US 0xa1b2c3d4u

struct pcap_writer {
	FILE *f;
	uint32_t snaplen; /* message bytes kept per packet */
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p, bool swap)
{
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	return swap ? __builtin_bswap32(v) : v;
}

struct pcap_writer *pcap_open_write(FILE *f, uint32_t snaplen)
{
	struct pcap_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->f = f;
	w->snaplen = snaplen;
	uint8_t h[24];
	put32(h, MAGIC_NS);
	put16(h + 4, 2);
	put16(h + 6, 4);
	put32(h + 8, 0);  /* thiszone */
	put32(h + 12, 0); /* sigfigs */
	put32(h + 16, snaplen + TRACE_PCAP_PSEUDO);
	put32(h + 20, TRACE_PCAP_LINKTYPE);
	if (fwrite(h, sizeof(h), 1, f) != 1) {
		free(w);
		return NULL;
	}
	return w;
}

int pcap_write(struct pcap_writer *w, const struct trace_msg *m, bool first)
{
	size_t cap = m->len < w->snaplen ? m->len : w->snaplen;
	uint64_t orig = m->wire_len > cap ? m->wire_len : cap;
	if (orig > UINT32_MAX - TRACE_PCAP_PSEUDO)
		orig = UINT32_MAX - TRACE_PCAP_PSEUDO;
	uint8_t rec[16 + TRACE_PCAP_PSEUDO];
	put32(rec, (uint32_t)(m->ts_ns / 1000000000u));
	put32(rec + 4, (uint32_t)(m->ts_ns % 1000000000u));
	put32(rec + 8, (uint32_t)(cap + TRACE_PCAP_PSEUDO));
	put32(rec + 12, (uint32_t)(orig + TRACE_PCAP_PSEUDO));
	uint8_t *ph = rec + 16;
	ph[0] = 1;
	ph[1] = m->dir;
	ph[2] = m->channel;
	ph[3] = (uint8_t)((first ? TRACE_PCAP_FIRST : 0) | (m->incomplete ? TRACE_PCAP_INCOMPLETE : 0));
	put16(ph + 4, (uint16_t)(m->nfds > 0xffff ? 0xffff : m->nfds));
	put16(ph + 6, TRACE_PCAP_PSEUDO);
	if (fwrite(rec, sizeof(rec), 1, w->f) != 1 || (cap && fwrite(m->buf, cap, 1, w->f) != 1))
		return errno ? -errno : -EIO;
	return 0;
}

int pcap_flush(struct pcap_writer *w)
{
	return fflush(w->f) ? -errno : 0;
}

void pcap_close_write(struct pcap_writer *w)
{
	if (!w)
		return;
	fclose(w->f);
	free(w);
}

#define FAIL(...)                                         \
	do {                                              \
		snprintf(err, errlen, __VA_ARGS__);       \
		free(buf);                                \
		return -EINVAL;                           \
	} while (0)

int pcap_read(FILE *f, struct trace_session *t, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	uint8_t h[24];
	if (fread(h, sizeof(h), 1, f) != 1)
		FAIL("not a pcap file: shorter than its 24-byte header");
	uint32_t magic = get32(h, false);
	bool swap = magic == __builtin_bswap32(MAGIC_NS) || magic == __builtin_bswap32(MAGIC_US);
	bool ns = magic == MAGIC_NS || magic == __builtin_bswap32(MAGIC_NS);
	if (!swap && magic != MAGIC_NS && magic != MAGIC_US)
		FAIL("not a pcap file (magic %#x)", magic);
	uint32_t link = get32(h + 20, swap) & 0x0fffffffu; /* high bits: FCS info */
	if (link != TRACE_PCAP_LINKTYPE)
		FAIL("link type %u is not vfio-user's (%u, DLT_USER0)", link, TRACE_PCAP_LINKTYPE);
	buf = malloc(TRACE_SNAPLEN_MAX + TRACE_PCAP_PSEUDO);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	bool started = false;
	for (uint64_t n = 1;; n++) {
		uint8_t rec[16];
		size_t got = fread(rec, 1, sizeof(rec), f);
		if (got == 0)
			break;
		if (got != sizeof(rec))
			FAIL("packet %llu: its record header is cut off", (unsigned long long)n);
		uint32_t incl = get32(rec + 8, swap), orig = get32(rec + 12, swap);
		if (incl > TRACE_SNAPLEN_MAX + TRACE_PCAP_PSEUDO)
			FAIL("packet %llu: %u bytes, more than the %u a message may keep",
			     (unsigned long long)n, incl, TRACE_SNAPLEN_MAX + TRACE_PCAP_PSEUDO);
		if (incl < TRACE_PCAP_PSEUDO || orig < incl)
			FAIL("packet %llu: lengths %u/%u do not hold a pseudo-header",
			     (unsigned long long)n, incl, orig);
		if (fread(buf, 1, incl, f) != incl)
			FAIL("packet %llu: cut off (the file ends within it)", (unsigned long long)n);
		uint16_t phlen = (uint16_t)(buf[6] | buf[7] << 8);
		if (buf[0] != 1 || phlen < TRACE_PCAP_PSEUDO || phlen > incl || buf[1] > 1 ||
		    buf[2] > 1)
			FAIL("packet %llu: unknown pseudo-header (version %u, length %u)",
			     (unsigned long long)n, buf[0], phlen);
		uint64_t sec = get32(rec, swap), frac = get32(rec + 4, swap);
		struct trace_msg m = {
			.buf = buf + phlen,
			.len = incl - phlen,
			.wire_len = orig - phlen,
			.nfds = (unsigned)(buf[4] | buf[5] << 8),
			.dir = buf[1],
			.channel = buf[2],
			.incomplete = buf[3] & TRACE_PCAP_INCOMPLETE,
			.ts_ns = sec * 1000000000u + (ns ? frac : frac * 1000u),
		};
		if (buf[3] & TRACE_PCAP_FIRST) {
			if (started)
				trace_session_end(t);
			trace_session_begin(t);
		}
		started = true;
		trace_feed(t, &m);
	}
	if (ferror(f))
		FAIL("reading the file failed: %s", strerror(errno));
	trace_session_end(t);
	free(buf);
	return 0;
}
