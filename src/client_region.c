/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * client_region.c — REGION_READ and REGION_WRITE. An access larger than the
 * server's max_data_xfer_size goes in pieces, several in flight on the one
 * connection (a window), a read's data received straight into the caller's
 * buffer (the receive sink, client.c); posted writes.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Pieces of one access in flight at once, and how many are sent together
 * (one system call, one wake-up of the server) once that many are answered:
 * the server has the next replies to send while the client receives one.
 * Measured in uvfio-bench (BENCHMARKS.md).
 */
#define XFER_WINDOW 8u
#define XFER_REFILL 4u

/* A piece's reply: its access header, then (read) its data, in the record
 * or already in the caller's buffer. */
static int piece_done(struct vu_msg *m, uint32_t region, uint64_t offset, uint8_t *dst,
		      uint32_t n)
{
	struct uvfio_region_access ra;
	bool sunk = m->ext == dst && m->ext_len == n && n;
	size_t len = dst ? sizeof(ra) + (sunk ? 0 : n) : sizeof(ra);
	if (m->len != len || (m->ext_len && !sunk) || m->nfds)
		return -EPROTO;
	memcpy(&ra, m->body, sizeof(ra));
	/* A write's reply is checked for its count only, as it always was
	 * (what other servers put in the rest is not relied on). */
	if (ra.count != n || (dst && (ra.offset != offset || ra.region != region)))
		return -EPROTO;
	if (dst && !sunk)
		memcpy(dst, m->body + sizeof(ra), n);
	return 0;
}

/*
 * Read (dst) or write (src) len bytes at offset in pieces of the largest
 * transfer both sides take, up to XFER_WINDOW of them in flight. Every piece
 * sent is waited for; the result is the error of the first piece that
 * failed (in order), or 0 when every one succeeded.
 */
static int xfer(struct uvfio_client *c, uint32_t region, uint64_t offset, uint8_t *dst,
		const uint8_t *src, size_t len)
{
	uint32_t piece = VU_XFER_MAX(c);
	size_t npieces = len ? (len - 1) / piece + 1 : 1;
	unsigned window = VU_MIN(XFER_WINDOW, c->max_in_flight);
	unsigned refill = VU_MIN(XFER_REFILL, window);
	uint16_t cmd = dst ? UVFIO_CMD_REGION_READ : UVFIO_CMD_REGION_WRITE;
	struct vu_req rq[XFER_WINDOW]; /* a ring of window entries */
	size_t sent = 0, done = 0, err_at = SIZE_MAX;
	int err = 0;
	for (;;) {
		/* Top the window up once refill pieces are answered (at the
		 * start, and for the last ones, at once). */
		size_t room = window - (sent - done);
		if (!err && sent < npieces && (room >= refill || sent + room >= npieces)) {
			struct vu_piece pc[VU_BATCH_MAX];
			struct uvfio_region_access a[VU_BATCH_MAX];
			size_t n = VU_MIN(VU_MIN(room, npieces - sent), (size_t)VU_BATCH_MAX);
			n = VU_MIN(n, window - sent % window); /* a batch does not wrap */
			for (size_t k = 0; k < n; k++) {
				uint64_t at = (uint64_t)(sent + k) * piece;
				uint32_t cnt = (uint32_t)VU_MIN((size_t)piece, len - at);
				a[k] = (struct uvfio_region_access){ .offset = offset + at,
								     .region = region, .count = cnt };
				pc[k] = (struct vu_piece){ .req = &a[k], .req_len = sizeof(a[k]),
							   .data = src ? src + at : NULL,
							   .data_len = src ? cnt : 0,
							   .sink = dst ? dst + at : NULL,
							   .sink_len = dst ? cnt : 0 };
			}
			/* With pieces of its own in flight it does not wait for
			 * room: it collects them first (two calls each holding
			 * pieces and waiting for the other's room would wait for
			 * ever). */
			int r = vu_client_send_reqs(c, cmd, pc, (unsigned)n, &rq[sent % window],
						    sent == done);
			if (r > 0) {
				sent += (size_t)r;
				continue;
			}
			if (r < 0) {
				err = r;
				err_at = sent;
			}
		}
		if (done == sent)
			return err;
		uint64_t at = (uint64_t)done * piece;
		uint32_t n = (uint32_t)VU_MIN((size_t)piece, len - at);
		struct vu_msg *m;
		int r = vu_client_collect(c, &rq[done % window], &m);
		if (r == 0) {
			r = piece_done(m, region, offset + at, dst ? dst + at : NULL, n);
			vu_msg_free(m);
		}
		if (r < 0 && done < err_at) {
			err = r;
			err_at = done;
		}
		done++;
	}
}

int uvfio_client_region_read(struct uvfio_client *c, uint32_t region, uint64_t offset, void *buf,
			     size_t len)
{
	if (!c || (!buf && len) || offset + len < offset)
		return -EINVAL;
	/* Large: in pieces, the data received into buf (a reply larger than the
	 * receive buffer); small: one request on the synchronous fast path. */
	if (len > VU_XFER_MAX(c) ||
	    len + UVFIO_HDR_SIZE + sizeof(struct uvfio_region_access) > VU_RX_BUF)
		return xfer(c, region, offset, buf, NULL, len);
	struct uvfio_region_access a = { .offset = offset, .region = region,
					  .count = (uint32_t)len };
	struct iovec iov = { &a, sizeof(a) };
	struct vu_msg *m;
	int r = vu_client_request(c, UVFIO_CMD_REGION_READ, &iov, 1, NULL, 0, VU_WAIT, NULL, NULL, &m);
	if (r < 0)
		return r;
	r = piece_done(m, region, offset, buf, (uint32_t)len);
	vu_msg_free(m);
	return r;
}

int uvfio_client_region_write(struct uvfio_client *c, uint32_t region, uint64_t offset,
			      const void *buf, size_t len)
{
	if (!c || (!buf && len) || offset + len < offset)
		return -EINVAL;
	if (len > VU_XFER_MAX(c))
		return xfer(c, region, offset, NULL, buf, len);
	struct uvfio_region_access a = { .offset = offset, .region = region,
					  .count = (uint32_t)len };
	struct iovec iov[2] = { { &a, sizeof(a) }, { (void *)buf, len } };
	struct vu_msg *m;
	int r = vu_client_request(c, UVFIO_CMD_REGION_WRITE, iov, 2, NULL, 0, VU_WAIT, NULL, NULL, &m);
	if (r < 0)
		return r;
	r = piece_done(m, region, offset, NULL, (uint32_t)len);
	vu_msg_free(m);
	return r;
}

/* Posted: each piece a posted REGION_WRITE. */
static int write_posted(struct uvfio_client *c, uint32_t region, uint64_t offset,
			const uint8_t *p, size_t len)
{
	do {
		uint32_t n = (uint32_t)VU_MIN(len, (size_t)VU_XFER_MAX(c));
		struct uvfio_region_access a = { .offset = offset, .region = region, .count = n };
		struct iovec iov[2] = { { &a, sizeof(a) }, { (void *)p, n } };
		int r = vu_client_request(c, UVFIO_CMD_REGION_WRITE, iov, 2, NULL, 0, VU_NOWAIT,
					  NULL, NULL, NULL);
		if (r < 0)
			return r;
		p += n;
		offset += n;
		len -= n;
	} while (len);
	return 0;
}

int uvfio_client_region_write_posted(struct uvfio_client *c, uint32_t region, uint64_t offset,
				     const void *buf, size_t len)
{
	if (!c || (!buf && len) || offset + len < offset)
		return -EINVAL;
	struct vu_bell *b = c->nbells ? vu_bell_match(c, region, offset, buf, len) : NULL;
	if (b)
		return vu_post_ring(c, b);
	if (c->cfg.coalesce_posted && c->server.write_multiple && len && len <= 8) {
		/* Into the open REGION_WRITE_MULTI, or one opened for it. */
		int r = vu_post_gather(c, region, offset, buf, (uint32_t)len);
		if (r)
			return r < 0 ? r : 0;
		struct uvfio_write_multi wm = { .wr_cnt = 1 };
		struct uvfio_write_multi_entry e = { .offset = offset, .region = region,
						     .count = (uint32_t)len };
		memcpy(e.data, buf, len);
		struct iovec iov[2] = { { &wm, sizeof(wm) }, { &e, sizeof(e) } };
		return vu_client_request(c, UVFIO_CMD_REGION_WRITE_MULTI, iov, 2, NULL, 0, VU_NOWAIT,
					 NULL, NULL, NULL);
	}
	return write_posted(c, region, offset, buf, len);
}

/* The Command register of a PCI function and its Bus Master Enable bit. */
#define PCI_COMMAND_OFF 0x04
#define PCI_COMMAND_BME 0x0004

int uvfio_client_bus_master(struct uvfio_client *c, bool on)
{
	if (!c)
		return -EINVAL;
	uint8_t cmd[2];
	int r = uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND_OFF, cmd, 2);
	if (r < 0)
		return r;
	uint16_t v = (uint16_t)(cmd[0] | cmd[1] << 8);
	v = on ? (uint16_t)(v | PCI_COMMAND_BME) : (uint16_t)(v & ~PCI_COMMAND_BME);
	cmd[0] = (uint8_t)v;
	cmd[1] = (uint8_t)(v >> 8);
	return uvfio_client_region_write(c, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND_OFF, cmd, 2);
}
