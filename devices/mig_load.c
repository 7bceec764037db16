/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mig_load.c — consuming the migration stream in RESUMING: the header is
 * checked against this device, each record's sequence, bounds and checksum
 * before its payload is used. Memory pages are applied as they arrive (a
 * record wholly inside one write is checked and copied in place); the
 * device state and configuration space are held back and applied together
 * at the END record, after the device accepted the state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "mig_stream.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

void ms_load_end(struct migstream *m)
{
	free(m->stage);
	free(m->in_state);
	free(m->in_config);
	m->stage = m->in_state = m->in_config = NULL;
	m->loading = m->loaded_any = m->done = false;
	m->have_state = m->have_config = false;
	m->err = 0;
	m->hdr_got = m->rec_got = m->pay_got = 0;
	m->seq = 0;
}

static int refuse(struct migstream *m, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(struct migstream *m, int err, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dev_log_line(UVFIO_LOG_WARNING, "migration stream refused: %s", why);
	m->err = err;
	return err;
}

static int check_header(struct migstream *m)
{
	const struct ms_header *h = &m->in_hdr, *mine = &m->hdr;
	if (memcmp(h->magic, MS_MAGIC, sizeof(h->magic)))
		return refuse(m, -EBADMSG, "it does not start with a uvfio device stream header");
	if (h->version != MS_VERSION)
		return refuse(m, -EPROTONOSUPPORT, "format version %u, this device reads %u",
			      h->version, MS_VERSION);
	if (h->size != sizeof(*h) || h->crc != ms_crc32c(0, h, offsetof(struct ms_header, crc)))
		return refuse(m, -EBADMSG, "its header is corrupted (checksum)");
	char name[sizeof(h->name) + 1] = { 0 };
	memcpy(name, h->name, sizeof(h->name));
	if (strcmp(name, mine->name) || h->vendor != mine->vendor || h->device != mine->device ||
	    h->subsys_vendor != mine->subsys_vendor || h->subsys_device != mine->subsys_device)
		return refuse(m, -ENODEV, "it comes from %s (%04x:%04x), this is %s (%04x:%04x)",
			      name, h->vendor, h->device, mine->name, mine->vendor, mine->device);
	if (h->state_version != mine->state_version)
		return refuse(m, -EPROTONOSUPPORT, "device state version %u, this device has %u",
			      h->state_version, mine->state_version);
	if (h->state_size != mine->state_size || h->config_size != mine->config_size ||
	    h->nareas != mine->nareas || memcmp(h->areas, mine->areas, sizeof(h->areas)))
		return refuse(m, -ENODEV, "its device has another layout (state, config space "
				  "or memory sizes)");
	return 0;
}

static int check_rec(struct migstream *m)
{
	const struct ms_rec *r = &m->rec;
	if (r->seq != m->seq)
		return refuse(m, -EBADMSG, "record %u arrived where %u was due", r->seq, m->seq);
	if (r->len > MS_MAX_PAYLOAD)
		return refuse(m, -EBADMSG, "record %u claims %u bytes", r->seq, r->len);
	bool ok;
	switch (r->type) {
	case MS_REC_MEM:
		ok = r->area < m->nareas && r->len && r->len % MS_PAGE == 0 &&
		     r->offset % MS_PAGE == 0 && r->offset <= m->areas[r->area].size &&
		     r->len <= m->areas[r->area].size - r->offset;
		break;
	case MS_REC_STATE: ok = r->len == m->dev->state_size; break;
	case MS_REC_CONFIG: ok = r->len == m->hdr.config_size; break;
	case MS_REC_END: ok = r->len == 0; break;
	default: ok = false;
	}
	if (!ok)
		return refuse(m, -EBADMSG, "record %u (type %u, %u bytes at %#llx) does not fit "
				  "this device", r->seq, r->type, r->len,
			      (unsigned long long)r->offset);
	return 0;
}

/* A whole record's payload is here: check it, then use it. */
static int apply(struct migstream *m, const uint8_t *pay)
{
	struct ms_rec r = m->rec;
	r.crc = 0;
	uint32_t c = ms_crc32c(ms_crc32c(0, &r, sizeof(r)), pay, r.len);
	if (c != m->rec.crc)
		return refuse(m, -EBADMSG, "record %u is corrupted (checksum)", r.seq);
	switch (r.type) {
	case MS_REC_MEM:
		memcpy(m->areas[r.area].mem + r.offset, pay, r.len);
		break;
	case MS_REC_STATE:
		memcpy(m->in_state, pay, r.len);
		m->have_state = true;
		break;
	case MS_REC_CONFIG:
		memcpy(m->in_config, pay, r.len);
		m->have_config = true;
		break;
	case MS_REC_END:
		if (r.offset != r.seq || !m->have_state || !m->have_config)
			return refuse(m, -EBADMSG, "it ends without the device state");
		if (m->dev->check_state(m->opaque, m->in_state) < 0)
			return refuse(m, -EINVAL, "the device state it carries is out of range");
		m->dev->load_state(m->opaque, m->in_state);
		size_t len;
		memcpy(uvfio_server_config_space(m->srv, &len), m->in_config, m->hdr.config_size);
		m->done = true;
		break;
	}
	m->seq++;
	m->rec_got = m->pay_got = 0;
	return 0;
}

int ms_write(struct migstream *m, const void *buf, size_t len)
{
	if (!m->loading)
		return -EINVAL;
	if (m->err)
		return m->err;
	const uint8_t *p = buf;
	if (len)
		m->loaded_any = true;
	while (len) {
		size_t n;
		int r = 0;
		if (m->hdr_got < sizeof(m->in_hdr)) {
			n = MIN(len, sizeof(m->in_hdr) - m->hdr_got);
			memcpy((uint8_t *)&m->in_hdr + m->hdr_got, p, n);
			m->hdr_got += n;
			if (m->hdr_got == sizeof(m->in_hdr))
				r = check_header(m);
		} else if (m->done) {
			return refuse(m, -EBADMSG, "data follows its END record");
		} else if (m->rec_got < sizeof(m->rec)) {
			n = MIN(len, sizeof(m->rec) - m->rec_got);
			memcpy((uint8_t *)&m->rec + m->rec_got, p, n);
			m->rec_got += n;
			if (m->rec_got == sizeof(m->rec) && (r = check_rec(m)) == 0 && !m->rec.len)
				r = apply(m, NULL);
		} else if (!m->pay_got && len >= m->rec.len) {
			n = m->rec.len; /* whole in this write: no staging copy */
			r = apply(m, p);
		} else {
			n = MIN(len, m->rec.len - m->pay_got);
			memcpy(m->stage + m->pay_got, p, n);
			m->pay_got += n;
			if (m->pay_got == m->rec.len)
				r = apply(m, m->stage);
		}
		if (r < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

int ms_load_finish(struct migstream *m)
{
	if (m->err)
		return m->err;
	if (m->loaded_any && !m->done)
		return refuse(m, -ENODATA, "it is incomplete (no END record after %u records)",
			      m->seq);
	return 0;
}
