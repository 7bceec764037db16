/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The trace decoder, command by command: each function turns one command's
 * request or reply payload into named fields, checks its size and, for a
 * reply, that it fits the request it answers. Layouts: uvfio/protocol.h.
 */
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "tool.h"
#include "trace.h"

#define MAX_LISTED 64u /* entries of a list shown (sparse areas, writes, ranges) */

/* A field of the request a reply answers (false when there is none). */
static bool req_get(const struct dec *d, size_t off, size_t n, uint64_t *v)
{
	if (!d->req || off + n > d->req->len)
		return false;
	uint64_t x = 0;
	memcpy(&x, d->req->body + off, n); /* little-endian hosts, like the wire */
	*v = x;
	return true;
}

/* Get a field or stop decoding: the finding about the size says why. */
#define GET(off, n, var)                              \
	uint64_t var = 0;                             \
	if (!dec_get(d, (off), (n), &var))            \
		return

static void region_field(json_object *o, uint64_t idx)
{
	char nb[24];
	dec_named(o, "region", idx, tool_region_name((uint32_t)idx, nb, sizeof(nb)));
}

static void irq_field(json_object *o, uint64_t idx)
{
	dec_named(o, "index", idx, tool_irq_name((uint32_t)idx));
}

static void mismatch(struct dec *d, const char *field, uint64_t got, uint64_t asked)
{
	dec_finding(d, "reply-mismatch", "reply %s %#llx differs from the request's %#llx", field,
		    (unsigned long long)got, (unsigned long long)asked);
}

/* A reply field that must echo the request's. */
static void echo(struct dec *d, const char *field, uint64_t got, size_t req_off, size_t n)
{
	uint64_t asked;
	if (req_get(d, req_off, n, &asked) && asked != got)
		mismatch(d, field, got, asked);
}

/* ---- VERSION ---- */

static void version(struct dec *d)
{
	dec_expect_min(d, 4);
	GET(0, 2, major);
	GET(2, 2, minor);
	dec_u64(d->args, "major", major);
	dec_u64(d->args, "minor", minor);
	size_t n = d->plen > 4 ? strnlen((const char *)d->p + 4, d->plen - 4) : 0;
	if (n) {
		/* parse a NUL-terminated copy: the peer's may not be */
		char *s = strndup((const char *)d->p + 4, n);
		json_object *caps = s ? json_tokener_parse(s) : NULL;
		free(s);
		if (caps) {
			json_object_object_add(d->args, "caps", caps);
		} else {
			char text[129];
			snprintf(text, sizeof(text), "%.*s", (int)(n < 128 ? n : 128), d->p + 4);
			json_object_object_add(d->args, "caps_text", json_object_new_string(text));
		}
	}
	struct uvfio_caps c;
	char err[160] = "";
	int parsed = n ? uvfio_caps_parse((const char *)d->p + 4, n, &c, err, sizeof(err)) : -1;
	if (n && parsed < 0)
		dec_finding(d, "bad-caps", "capabilities: %s", err);
	bool twin = parsed == 0 && d->reply && c.twin_socket;
	if (d->reply && d->m->nfds && !twin)
		dec_finding(d, "unexpected-fds",
			    "%u descriptor%s on a VERSION reply that enables no twin socket",
			    d->m->nfds, d->m->nfds == 1 ? "" : "s");
	if (twin) {
		if (c.twin_fd_index >= 0)
			dec_u64(d->args, "twin_fd_index", (uint64_t)c.twin_fd_index);
		if (c.twin_fd_index < 0 || (unsigned)c.twin_fd_index >= d->m->nfds)
			dec_finding(d, "bad-twin-socket",
				    "twin socket enabled with fd_index %d but %u descriptor%s "
				    "attached",
				    c.twin_fd_index, d->m->nfds, d->m->nfds == 1 ? "" : "s");
	}
	uint64_t rmaj, rmin;
	if (req_get(d, 0, 2, &rmaj) && rmaj != major)
		dec_finding(d, "reply-mismatch", "major version %llu differs from the %llu proposed",
			    (unsigned long long)major, (unsigned long long)rmaj);
	if (req_get(d, 2, 2, &rmin) && minor > rmin)
		dec_finding(d, "reply-mismatch", "minor version %llu is above the %llu proposed",
			    (unsigned long long)minor, (unsigned long long)rmin);
}

/* ---- DMA_MAP, DMA_UNMAP ---- */

static const char *const dma_flag_names[] = { "read", "write" };

static void dma_map(struct dec *d)
{
	if (d->reply) {
		dec_expect_size(d, 0);
		return;
	}
	dec_expect_size(d, sizeof(struct uvfio_dma_map));
	GET(0, 4, argsz);
	GET(4, 4, flags);
	GET(8, 8, offset);
	GET(16, 8, addr);
	GET(24, 8, size);
	dec_u64(d->args, "argsz", argsz);
	dec_flags(d->args, "flags", flags, dma_flag_names, 2);
	dec_u64(d->args, "addr", addr);
	dec_u64(d->args, "size", size);
	dec_u64(d->args, "offset", offset);
	json_object_object_add(d->args, "memory",
			       json_object_new_string(d->m->nfds ? "descriptor" : "messages"));
}

static void dma_unmap(struct dec *d)
{
	if (d->reply && d->psize == 0)
		return; /* the entry is echoed, or (as some servers do) nothing */
	dec_expect_size(d, sizeof(struct uvfio_dma_unmap));
	GET(0, 4, argsz);
	GET(4, 4, flags);
	GET(8, 8, addr);
	GET(16, 8, size);
	static const char *const names[] = { "GET_DIRTY_BITMAP", "ALL" };
	dec_u64(d->args, "argsz", argsz);
	dec_flags(d->args, "flags", flags, names, 2);
	dec_u64(d->args, "addr", addr);
	dec_u64(d->args, "size", size);
	if (d->reply) {
		echo(d, "addr", addr, 8, 8);
		echo(d, "size", size, 16, 8);
	}
}

/* ---- DEVICE_GET_INFO, GET_REGION_INFO, GET_REGION_IO_FDS, GET_IRQ_INFO ---- */

static void device_info(struct dec *d)
{
	static const char *const names[] = { "reset", "pci" };
	dec_expect_size(d, sizeof(struct uvfio_device_info));
	GET(0, 4, argsz);
	dec_u64(d->args, "argsz", argsz);
	if (!d->reply)
		return;
	GET(4, 4, flags);
	GET(8, 4, nreg);
	GET(12, 4, nirq);
	dec_flags(d->args, "flags", flags, names, 2);
	dec_u64(d->args, "num_regions", nreg);
	dec_u64(d->args, "num_irqs", nirq);
}

/* The capability chain of a region info reply: forward only, bounded. */
static void region_caps(struct dec *d, uint64_t off)
{
	json_object *sparse = NULL;
	for (unsigned hops = 0; off && hops < 64; hops++) {
		uint64_t id, ver, next;
		bool inside = off >= sizeof(struct vfio_region_info) && off + 8 <= d->psize;
		if (!inside) {
			dec_finding(d, "bad-caps-chain", "capability at %#llx is outside the reply",
				    (unsigned long long)off);
			break;
		}
		if (!dec_get(d, off, 2, &id) || !dec_get(d, off + 2, 2, &ver) ||
		    !dec_get(d, off + 4, 4, &next))
			break; /* beyond the capture */
		if (id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			uint64_t n, o, s;
			if (!dec_get(d, off + 8, 4, &n))
				return;
			if (!sparse)
				sparse = json_object_new_array();
			for (uint64_t i = 0; i < n && i < MAX_LISTED; i++) {
				if (!dec_get(d, off + 16 + 16 * i, 8, &o) ||
				    !dec_get(d, off + 24 + 16 * i, 8, &s))
					break;
				json_object *a = json_object_new_object();
				dec_u64(a, "offset", o);
				dec_u64(a, "size", s);
				json_object_array_add(sparse, a);
			}
		} else if (id == VFIO_REGION_INFO_CAP_TYPE) {
			uint64_t t, st;
			if (dec_get(d, off + 8, 4, &t) && dec_get(d, off + 12, 4, &st)) {
				dec_u64(d->args, "type", t);
				dec_u64(d->args, "subtype", st);
			}
		} else {
			dec_u64(d->args, "cap_id", id);
		}
		if (next && next <= off) {
			dec_finding(d, "bad-caps-chain", "capability at %#llx points back to %#llx",
				    (unsigned long long)off, (unsigned long long)next);
			break;
		}
		off = next;
	}
	if (sparse)
		json_object_object_add(d->args, "sparse_mmap", sparse);
}

static void region_info(struct dec *d)
{
	static const char *const names[] = { "read", "write", "mmap", "caps" };
	dec_expect_min(d, sizeof(struct vfio_region_info));
	GET(0, 4, argsz);
	GET(8, 4, index);
	dec_u64(d->args, "argsz", argsz);
	region_field(d->args, index);
	if (!d->reply)
		return;
	GET(4, 4, flags);
	GET(12, 4, cap_off);
	GET(16, 8, size);
	GET(24, 8, offset);
	dec_flags(d->args, "flags", flags, names, 4);
	dec_u64(d->args, "size", size);
	dec_u64(d->args, "offset", offset);
	if (cap_off)
		dec_u64(d->args, "cap_offset", cap_off);
	echo(d, "region", index, 8, 4);
	uint64_t asked;
	if (req_get(d, 0, 4, &asked) && d->psize > asked && d->psize > 32)
		dec_finding(d, "reply-mismatch",
			    "reply payload of %llu bytes exceeds the argsz %llu of the request",
			    (unsigned long long)d->psize, (unsigned long long)asked);
	if ((flags & VFIO_REGION_INFO_FLAG_CAPS) && cap_off && argsz <= d->psize)
		region_caps(d, cap_off);
}

static void io_fds(struct dec *d)
{
	dec_expect_min(d, sizeof(struct uvfio_region_io_fds_request));
	if (!d->reply)
		dec_expect_size(d, sizeof(struct uvfio_region_io_fds_request));
	GET(0, 4, argsz);
	GET(4, 4, flags);
	GET(8, 4, index);
	GET(12, 4, count);
	dec_u64(d->args, "argsz", argsz);
	dec_u64(d->args, "flags", flags);
	region_field(d->args, index);
	dec_u64(d->args, "count", count);
	if (!d->reply || !count)
		return;
	echo(d, "region", index, 8, 4);
	uint64_t esz = argsz > 16 ? (argsz - 16) / count : 0;
	if (esz < sizeof(struct uvfio_sub_region_ioeventfd))
		esz = sizeof(struct uvfio_sub_region_ioeventfd);
	json_object *subs = json_object_new_array();
	for (uint64_t i = 0; i < count && i < MAX_LISTED; i++) {
		uint64_t b = 16 + i * esz, off, size, fdi, type, fl, data;
		if (!dec_get(d, b, 8, &off) || !dec_get(d, b + 8, 8, &size) ||
		    !dec_get(d, b + 16, 4, &fdi) || !dec_get(d, b + 20, 4, &type) ||
		    !dec_get(d, b + 24, 4, &fl) || !dec_get(d, b + 32, 8, &data))
			break;
		json_object *s = json_object_new_object();
		dec_u64(s, "offset", off);
		dec_u64(s, "size", size);
		dec_u64(s, "fd_index", fdi);
		dec_named(s, "type", type,
			  type == UVFIO_IO_FD_TYPE_IOEVENTFD	    ? "ioeventfd"
			  : type == UVFIO_IO_FD_TYPE_IOREGIONFD	    ? "ioregionfd"
			  : type == UVFIO_IO_FD_TYPE_IOEVENTFD_SHADOW ? "ioeventfd_shadow"
								      : "unknown");
		dec_u64(s, "flags", fl);
		dec_u64(s, type == UVFIO_IO_FD_TYPE_IOREGIONFD ? "user_data" : "datamatch", data);
		json_object_array_add(subs, s);
		if (fdi >= d->m->nfds)
			dec_finding(d, "bad-fd-index", "sub-region %llu names descriptor %llu of %u",
				    (unsigned long long)i, (unsigned long long)fdi, d->m->nfds);
	}
	json_object_object_add(d->args, "subregions", subs);
}

static void irq_info(struct dec *d)
{
	static const char *const names[] = { "eventfd", "maskable", "automasked", "noresize" };
	dec_expect_size(d, sizeof(struct vfio_irq_info));
	GET(0, 4, argsz);
	GET(8, 4, index);
	dec_u64(d->args, "argsz", argsz);
	irq_field(d->args, index);
	if (!d->reply)
		return;
	GET(4, 4, flags);
	GET(12, 4, count);
	dec_flags(d->args, "flags", flags, names, 4);
	dec_u64(d->args, "count", count);
	echo(d, "index", index, 8, 4);
}

/* ---- DEVICE_SET_IRQS ---- */

static void set_irqs(struct dec *d)
{
	static const char *const names[] = { "NONE", "BOOL", "EVENTFD", "MASK", "UNMASK",
					     "TRIGGER" };
	if (d->reply) {
		dec_expect_size(d, 0);
		return;
	}
	GET(0, 4, argsz);
	GET(4, 4, flags);
	GET(8, 4, index);
	GET(12, 4, start);
	GET(16, 4, count);
	bool bools = flags & VFIO_IRQ_SET_DATA_BOOL;
	dec_expect_size(d, sizeof(struct vfio_irq_set) + (bools ? count : 0));
	dec_u64(d->args, "argsz", argsz);
	dec_flags(d->args, "flags", flags, names, 6);
	irq_field(d->args, index);
	dec_u64(d->args, "start", start);
	dec_u64(d->args, "count", count);
	if (bools) {
		char b[MAX_LISTED + 1];
		size_t n = 0;
		uint64_t v;
		for (; n < count && n < MAX_LISTED && dec_get(d, 20 + n, 1, &v); n++)
			b[n] = v ? '1' : '0';
		b[n] = 0;
		json_object_object_add(d->args, "bools", json_object_new_string(b));
	}
	if ((flags & VFIO_IRQ_SET_DATA_EVENTFD) && d->m->nfds && d->m->nfds != count)
		dec_finding(d, "fds-mismatch", "%u eventfds for a range of %llu interrupts",
			    d->m->nfds, (unsigned long long)count);
}

/* ---- REGION_READ, REGION_WRITE ---- */

static void region_access(struct dec *d)
{
	bool rd = d->h.cmd == UVFIO_CMD_REGION_READ;
	GET(0, 8, offset);
	GET(8, 4, region);
	GET(12, 4, count);
	dec_expect_size(d, 16 + (rd == d->reply ? count : 0));
	region_field(d->args, region);
	dec_u64(d->args, "offset", offset);
	dec_u64(d->args, "count", count);
	if (rd == d->reply)
		dec_data(d, d->args, 16, UINT64_MAX);
	if (!d->reply)
		return;
	echo(d, "region", region, 8, 4);
	echo(d, "offset", offset, 0, 8);
	uint64_t asked;
	if (req_get(d, 12, 4, &asked) && count > asked)
		dec_finding(d, "reply-mismatch", "reply count %llu is above the %llu asked",
			    (unsigned long long)count, (unsigned long long)asked);
}

/* ---- DMA_READ, DMA_WRITE (server to client) ---- */

/*
 * QEMU's layout of DMA data (docs/INTEROP.md): a 4-byte count, the data from
 * payload byte 12, 4 bytes of padding after it. Taken when the client
 * proposed 0.0, as the server decides, or when the bytes show it: a low
 * half that is the data's length under a high half that is not zero.
 */
static bool qemu_layout(struct dec *d, uint64_t count)
{
	uint64_t data = d->psize >= 16 ? d->psize - 16 : 0;
	bool shown = count != data && (uint32_t)count == data && count >> 32;
	if (shown || d->m->qemu_dma)
		dec_finding(d, "qemu-dma-layout",
			    "%s in QEMU's layout: 4-byte count, data from message byte 28 (the "
			    "specification has an 8-byte count, data from byte 32)",
			    d->h.cmd == UVFIO_CMD_DMA_READ ? "DMA_READ reply" : "DMA_WRITE");
	return shown || d->m->qemu_dma;
}

/* The count and data of a DMA_READ reply or DMA_WRITE request; returns the
 * count as the layout places it. */
static uint64_t dma_data(struct dec *d, uint64_t count)
{
	bool qemu = qemu_layout(d, count);
	if (qemu)
		count = (uint32_t)count;
	dec_u64(d->args, "count", count);
	dec_expect_size(d, 16 + count);
	dec_data(d, d->args, qemu ? 12 : 16, count);
	return count;
}

static void dma_read(struct dec *d)
{
	GET(0, 8, addr);
	GET(8, 8, count);
	dec_u64(d->args, "addr", addr);
	if (!d->reply) { /* the same in both layouts: QEMU reads the low half */
		dec_u64(d->args, "count", count);
		dec_expect_size(d, 16);
		return;
	}
	count = dma_data(d, count);
	echo(d, "addr", addr, 0, 8);
	echo(d, "count", count, 8, 8);
}

static void dma_write(struct dec *d)
{
	if (d->reply && d->psize == 0)
		return; /* QEMU answers with the header alone */
	GET(0, 8, addr);
	dec_u64(d->args, "addr", addr);
	if (d->reply) {
		/* the specification draws a 4-byte count; common clients send 8 */
		if (d->psize != 12 && d->psize != 16)
			dec_expect_size(d, 12);
		GET(8, d->psize == 16 ? 8 : 4, count);
		dec_u64(d->args, "count", count);
		echo(d, "addr", addr, 0, 8);
		uint64_t asked;
		if (req_get(d, 8, 8, &asked) && count != asked && count != (uint32_t)asked)
			mismatch(d, "count", count, asked); /* (a QEMU request's low half) */
		return;
	}
	GET(8, 8, count);
	dma_data(d, count);
}

/* ---- REGION_WRITE_MULTI ---- */

static void write_multi(struct dec *d)
{
	GET(0, 8, n);
	dec_u64(d->args, "wr_cnt", n);
	if (d->reply) {
		dec_expect_size(d, sizeof(struct uvfio_write_multi_reply));
		uint64_t asked;
		if (req_get(d, 0, 8, &asked) && n > asked)
			dec_finding(d, "reply-mismatch", "%llu writes completed of %llu sent",
				    (unsigned long long)n, (unsigned long long)asked);
		return;
	}
	/* no maximum in the specification (QEMU sends up to 200): the size says */
	if (n > d->psize / sizeof(struct uvfio_write_multi_entry))
		dec_finding(d, "size-mismatch", "%llu writes do not fit a %llu-byte payload",
			    (unsigned long long)n, (unsigned long long)d->psize);
	else
		dec_expect_size(d, 8 + n * sizeof(struct uvfio_write_multi_entry));
	json_object *wrs = json_object_new_array();
	for (uint64_t i = 0; i < n && i < MAX_LISTED; i++) {
		uint64_t b = 8 + i * 24, off, reg, cnt;
		if (!dec_get(d, b, 8, &off) || !dec_get(d, b + 8, 4, &reg) ||
		    !dec_get(d, b + 12, 4, &cnt))
			break;
		json_object *w = json_object_new_object();
		region_field(w, reg);
		dec_u64(w, "offset", off);
		dec_u64(w, "count", cnt);
		/* the data bytes captured, at most 8 and at most count */
		char hex[2 * UVFIO_WRITE_MULTI_DATA_MAX + 1] = "";
		uint64_t at = b + 16, k = cnt < 8 ? cnt : 8;
		if (at < d->plen)
			tool_hex(hex, d->p + at, d->plen - at < k ? d->plen - at : k);
		json_object_object_add(w, "data", json_object_new_string(hex));
		json_object_array_add(wrs, w);
		if (cnt == 0 || cnt > UVFIO_WRITE_MULTI_DATA_MAX)
			dec_finding(d, "bad-write", "write %llu has count %llu (1 to 8)",
				    (unsigned long long)i, (unsigned long long)cnt);
	}
	json_object_object_add(d->args, "writes", wrs);
}

/* ---- DEVICE_FEATURE ---- */

static const char *feature_name(uint64_t f)
{
	switch (f) {
	case UVFIO_FEATURE_MIGRATION: return "MIGRATION";
	case UVFIO_FEATURE_MIG_DEVICE_STATE: return "MIG_DEVICE_STATE";
	case UVFIO_FEATURE_DMA_LOGGING_START: return "DMA_LOGGING_START";
	case UVFIO_FEATURE_DMA_LOGGING_STOP: return "DMA_LOGGING_STOP";
	case UVFIO_FEATURE_DMA_LOGGING_REPORT: return "DMA_LOGGING_REPORT";
	}
	return "UNKNOWN";
}

static void feature_data(struct dec *d, uint64_t feature, bool get, bool set)
{
	size_t data = d->plen > 8 ? d->plen - 8 : 0;
	uint64_t v;
	switch (feature) {
	case UVFIO_FEATURE_MIGRATION:
		if (d->reply && get && dec_get(d, 8, 8, &v)) {
			static const char *const names[] = { "STOP_COPY", "P2P", "PRE_COPY" };
			dec_flags(d->args, "mig_flags", v, names, 3);
		}
		break;
	case UVFIO_FEATURE_MIG_DEVICE_STATE:
		if ((d->reply || set) && dec_get(d, 8, 4, &v)) {
			dec_named(d->args, "device_state", v, mig_state_name(v));
			if (dec_get(d, 12, 4, &v) && v != 0 && v != UINT32_MAX)
				dec_u64(d->args, "data_fd", v);
		}
		break;
	case UVFIO_FEATURE_DMA_LOGGING_START:
		if (dec_get(d, 8, 8, &v)) {
			uint64_t n = 0;
			dec_u64(d->args, "page_size", v);
			if (dec_get(d, 16, 4, &n))
				dec_u64(d->args, "num_ranges", n);
			json_object *ranges = json_object_new_array();
			for (uint64_t i = 0; i < n && i < MAX_LISTED; i++) {
				uint64_t iova, len;
				if (!dec_get(d, 24 + 16 * i, 8, &iova) ||
				    !dec_get(d, 32 + 16 * i, 8, &len))
					break;
				json_object *r = json_object_new_object();
				dec_u64(r, "iova", iova);
				dec_u64(r, "length", len);
				json_object_array_add(ranges, r);
			}
			json_object_object_add(d->args, "ranges", ranges);
		}
		break;
	case UVFIO_FEATURE_DMA_LOGGING_REPORT:
		if (dec_get(d, 8, 8, &v)) {
			uint64_t len = 0, ps = 0;
			dec_u64(d->args, "iova", v);
			if (dec_get(d, 16, 8, &len))
				dec_u64(d->args, "length", len);
			if (dec_get(d, 24, 8, &ps))
				dec_u64(d->args, "page_size", ps);
			if (d->reply && d->psize > 32) {
				uint64_t dirty = 0;
				for (size_t i = 32; i < d->plen; i++)
					dirty += (uint64_t)__builtin_popcount(d->p[i]);
				dec_u64(d->args, "bitmap_bytes", d->psize - 32);
				dec_u64(d->args, "dirty_pages", dirty);
			}
		}
		break;
	default:
		if (data)
			dec_data(d, d->args, 8, UINT64_MAX);
	}
}

static void device_feature(struct dec *d)
{
	dec_expect_min(d, 8);
	GET(0, 4, argsz);
	GET(4, 4, flags);
	uint64_t feature = flags & VFIO_DEVICE_FEATURE_MASK;
	bool get = flags & VFIO_DEVICE_FEATURE_GET, set = flags & VFIO_DEVICE_FEATURE_SET;
	bool probe = flags & VFIO_DEVICE_FEATURE_PROBE;
	dec_u64(d->args, "argsz", argsz);
	dec_named(d->args, "feature", feature, feature_name(feature));
	char op[32] = "";
	if (get)
		strcat(op, "|get");
	if (set)
		strcat(op, "|set");
	if (probe)
		strcat(op, "|probe");
	json_object_object_add(d->args, "op", json_object_new_string(*op ? op + 1 : "none"));
	feature_data(d, feature, get, set);
	uint64_t rflags;
	if (d->reply && req_get(d, 4, 4, &rflags) &&
	    (rflags & VFIO_DEVICE_FEATURE_MASK) != feature)
		mismatch(d, "feature", feature, rflags & VFIO_DEVICE_FEATURE_MASK);
}

/* ---- MIG_DATA_READ, MIG_DATA_WRITE ---- */

static void mig_data(struct dec *d)
{
	bool rd = d->h.cmd == UVFIO_CMD_MIG_DATA_READ;
	if (!rd && d->reply) {
		dec_expect_size(d, 0);
		return;
	}
	GET(0, 4, argsz);
	GET(4, 4, size);
	dec_u64(d->args, "argsz", argsz);
	dec_u64(d->args, "size", size);
	if (rd && !d->reply) {
		dec_expect_size(d, 8);
		return;
	}
	dec_data(d, d->args, 8, UINT64_MAX);
	uint64_t asked = 0;
	bool have = rd && req_get(d, 4, 4, &asked);
	if (rd && d->psize > 8 + size && argsz == 8 + size &&
	    (!have || d->psize == 8 + asked)) {
		/* libvfio-user pads a short last reply to the size asked for;
		 * argsz and size give the real length */
		dec_finding(d, "padded-mig-reply",
			    "MIG_DATA_READ reply padded: %llu data bytes sent, size says %llu "
			    "(libvfio-user pads its last reply to the size asked for)",
			    (unsigned long long)(d->psize - 8), (unsigned long long)size);
	} else {
		dec_expect_size(d, 8 + size);
	}
	if (have && size > asked)
		dec_finding(d, "reply-mismatch", "%llu bytes of migration data, %llu asked",
			    (unsigned long long)size, (unsigned long long)asked);
}

/* ---- The table ---- */

static void no_payload(struct dec *d)
{
	dec_expect_size(d, 0);
}

static void (*const decoders[UVFIO_CMD_MAX])(struct dec *) = {
	[UVFIO_CMD_VERSION] = version,
	[UVFIO_CMD_DMA_MAP] = dma_map,
	[UVFIO_CMD_DMA_UNMAP] = dma_unmap,
	[UVFIO_CMD_DEVICE_GET_INFO] = device_info,
	[UVFIO_CMD_DEVICE_GET_REGION_INFO] = region_info,
	[UVFIO_CMD_DEVICE_GET_REGION_IO_FDS] = io_fds,
	[UVFIO_CMD_DEVICE_GET_IRQ_INFO] = irq_info,
	[UVFIO_CMD_DEVICE_SET_IRQS] = set_irqs,
	[UVFIO_CMD_REGION_READ] = region_access,
	[UVFIO_CMD_REGION_WRITE] = region_access,
	[UVFIO_CMD_DMA_READ] = dma_read,
	[UVFIO_CMD_DMA_WRITE] = dma_write,
	[UVFIO_CMD_DEVICE_RESET] = no_payload,
	[UVFIO_CMD_REGION_WRITE_MULTI] = write_multi,
	[UVFIO_CMD_DEVICE_FEATURE] = device_feature,
	[UVFIO_CMD_MIG_DATA_READ] = mig_data,
	[UVFIO_CMD_MIG_DATA_WRITE] = mig_data,
};

void dec_payload(struct dec *d)
{
	if (d->h.cmd < UVFIO_CMD_MAX && decoders[d->h.cmd])
		decoders[d->h.cmd](d);
	else if (d->plen)
		dec_data(d, d->args, 0, UINT64_MAX);
}

unsigned dec_fds_allowed(const struct dec *d)
{
	switch (d->h.cmd) {
	case UVFIO_CMD_VERSION: /* the twin socket, among others some day */
		return d->reply ? UVFIO_MAX_FDS_LIMIT : 0;
	case UVFIO_CMD_DMA_MAP: return d->reply ? 0 : 1;
	case UVFIO_CMD_DEVICE_GET_REGION_INFO: return d->reply ? 1 : 0;
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS: return d->reply ? UVFIO_MAX_FDS_LIMIT : 0;
	case UVFIO_CMD_DEVICE_SET_IRQS: return d->reply ? 0 : UVFIO_MAX_FDS_LIMIT;
	}
	return 0;
}
