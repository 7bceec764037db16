/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The checks of a server: the valid use of every command (VERSION, device,
 * region and interrupt info, SET_IRQS, region access, configuration space,
 * DMA map and unmap, reset, io fds, features), the probe that learns the
 * device, and the table (at the end) of every named check with its group
 * and section. The malformed forms are in checks_forms.c, the sequences
 * and DMA in checks_sequences.c; what the runner adds to every check (a
 * crash, a hang, a leak, a server that no longer serves) is in
 * cmd_conform.c.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "checks.h"

/* ---- valid uses ---- */

static enum cf_result major_unsupported(struct cf_run *r)
{
	uint8_t b[8] = {1, 0, 0, 0};
	struct cf_msg m;
	int w = cf_call(&r->conn, UVFIO_CMD_VERSION, b, 4, NULL, 0, &m);
	if (w < 0)
		return cs_hang(r, "VERSION 1.0");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	enum cf_result res = CF_PASS;
	uint16_t major = 0;
	if (m.len >= 2)
		memcpy(&major, m.body, 2);
	if (!cs_reply_shape(r, UVFIO_CMD_VERSION, &m))
		res = CF_FAIL;
	else if (m.h.flags & UVFIO_FLAGS_ERROR)
		cf_note(r, "refused with %s", cs_errname(m.h.error_no));
	else if (major != 1) {
		cf_note(r,
			"wrong reply: major version %u to a proposal of 1 (\"must be the same as "
			"proposed\"; else the connection is closed)",
			major);
		res = CF_FAIL;
	} else {
		cf_note(r, "the server speaks major version 1");
	}
	cf_msg_free(&m);
	return res;
}

/* Capabilities in the reply that were not proposed ("must be a subset"). */
static void caps_subset(struct cf_run *r, json_object *reply, const char *proposed)
{
	json_object *caps, *pj = proposed ? json_tokener_parse(proposed) : NULL, *pcaps = NULL;
	if (pj)
		json_object_object_get_ex(pj, "capabilities", &pcaps);
	char extra[160] = "";
	if (json_object_object_get_ex(reply, "capabilities", &caps) &&
	    json_object_is_type(caps, json_type_object)) {
		json_object_object_foreach(caps, key, val)
		{
			(void)val;
			json_object *x;
			if ((!pcaps || !json_object_object_get_ex(pcaps, key, &x)) &&
			    strlen(extra) + strlen(key) + 3 < sizeof(extra))
				snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
					 "%s%s", extra[0] ? ", " : "", key);
		}
	}
	if (extra[0])
		cf_note(r,
			"the reply names capabilities not proposed (%s): the specification says "
			"\"a subset of those proposed\"; every known server sends its own limits",
			extra);
	json_object_put(pj);
}

static enum cf_result ck_version(struct cf_run *r, const struct cf_check *ck)
{
	if (cf_connect(r, &r->conn) < 0)
		return CF_SKIP;
	struct cf_msg m;
	const char *json = ck->arg == 1 ? NULL
			   : ck->arg == 2
				   ? "{\"capabilities\":{\"max_msg_fds\":16,\"x-conform-unknown\":"
				     "{\"a\":[1]}},\"x-conform\":true}"
				   : CAPS_JSON;
	uint16_t minor = ck->arg == 3 ? 0xffff : 1;
	if (ck->arg == 4) /* a major version nobody speaks */
		return major_unsupported(r);
	int n = cf_negotiate(&r->conn, minor, json, &m);
	if (n < 0)
		return cs_hang(r, "VERSION");
	if (n == 0) {
		if (!m.body && !m.h.msg_size) {
			cf_note(r, "the server closed the connection");
			return CF_FAIL;
		}
		cf_note(r, "refused with %s", cs_errname(m.h.error_no));
		cf_msg_free(&m);
		return CF_FAIL;
	}
	enum cf_result res = CF_PASS;
	struct uvfio_version v;
	memcpy(&v, m.body, 4);
	if (v.major != 0) {
		cf_note(r, "wrong reply: major version %u", v.major);
		res = CF_FAIL;
	} else if (v.minor > minor) {
		cf_note(r, "wrong reply: minor %u above the %u proposed", v.minor, minor);
		res = CF_FAIL;
	} else if (m.len > 4 && m.body[m.len - 1] != 0) {
		cf_note(r, "wrong reply: the JSON is not NUL-terminated");
		res = CF_FAIL;
	} else if (m.len > 4) {
		json_object *o = json_tokener_parse((char *)m.body + 4);
		json_object *caps;
		if (!o || !json_object_is_type(o, json_type_object)) {
			cf_note(r, "wrong reply: the JSON is not an object");
			res = CF_FAIL;
		} else if (json_object_object_get_ex(o, "capabilities", &caps) &&
			   !json_object_is_type(caps, json_type_object)) {
			cf_note(r, "wrong reply: \"capabilities\" is not an object");
			res = CF_FAIL;
		} else {
			cf_note(r, "version 0.%u, %s", v.minor, (char *)m.body + 4);
			caps_subset(r, o, json);
		}
		json_object_put(o);
	} else {
		cf_note(r, "version 0.%u, no capabilities", v.minor);
	}
	cf_msg_free(&m);
	return res;
}

/* A reply's argsz and size against the request's argsz. */
static bool argsz_ok(struct cf_run *r, const struct cf_msg *m, uint32_t asked, size_t fixed)
{
	uint32_t argsz;
	if (m->len < fixed) {
		cf_note(r, "wrong reply: %zu bytes, the structure is %zu", m->len, fixed);
		return false;
	}
	memcpy(&argsz, m->body, 4);
	if (argsz < fixed) {
		cf_note(r, "wrong reply: argsz %u below the structure's %zu", argsz, fixed);
		return false;
	}
	if (m->len > asked && m->len > fixed) {
		cf_note(r, "wrong reply: %zu bytes though the client takes %u", m->len, asked);
		return false;
	}
	return true;
}

static enum cf_result ck_device_info(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	struct uvfio_device_info di = {.argsz = 16};
	struct cf_msg m;
	if (!cs_ok_call(r, UVFIO_CMD_DEVICE_GET_INFO, &di, 16, NULL, 0, &m, "DEVICE_GET_INFO"))
		return CF_FAIL;
	bool ok = argsz_ok(r, &m, 16, 16);
	if (ok) {
		memcpy(&di, m.body, 16);
		if (di.flags & VFIO_DEVICE_FLAGS_PCI && di.num_regions < VFIO_PCI_NUM_REGIONS) {
			cf_note(r,
				"wrong reply: a PCI device with %u regions (VFIO_PCI_NUM_REGIONS "
				"is %u)",
				di.num_regions, VFIO_PCI_NUM_REGIONS);
			ok = false;
		} else {
			cf_note(r, "flags 0x%x, %u regions, %u interrupt types", di.flags,
				di.num_regions, di.num_irqs);
		}
	}
	cf_msg_free(&m);
	return ok ? CF_PASS : CF_FAIL;
}

/* The capability chain of a region info reply: inside the reply, forward,
 * a known id, a bounded number of links. */
static bool caps_ok(struct cf_run *r, uint32_t idx, const uint8_t *b, size_t len, uint32_t cap_off)
{
	uint32_t at = cap_off, links = 0;
	while (at) {
		struct vfio_info_cap_header h;
		if (at < sizeof(struct vfio_region_info) || at + sizeof(h) > len || links++ > 64) {
			cf_note(r,
				"wrong reply: region %u's capability at %u lies outside the %zu "
				"bytes of the reply",
				idx, at, len);
			return false;
		}
		memcpy(&h, b + at, sizeof(h));
		if (h.id != VFIO_REGION_INFO_CAP_SPARSE_MMAP && h.id != VFIO_REGION_INFO_CAP_TYPE) {
			cf_note(r, "region %u has capability %u, not one of vfio-user's", idx,
				h.id);
		}
		if (h.next && h.next <= at) {
			cf_note(r, "wrong reply: region %u's capability chain goes back (%u -> %u)",
				idx, at, h.next);
			return false;
		}
		at = h.next;
	}
	return true;
}

static enum cf_result ck_region_info(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint32_t n = r->dev.num_regions < 64 ? r->dev.num_regions : 64;
	unsigned with_fd = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct vfio_region_info ri = {.argsz = 4096, .index = i};
		struct cf_msg m;
		if (!cs_ok_call(r, UVFIO_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0, &m,
				"DEVICE_GET_REGION_INFO"))
			return CF_FAIL;
		bool ok = argsz_ok(r, &m, 4096, sizeof(ri));
		if (ok) {
			memcpy(&ri, m.body, sizeof(ri));
			if (ri.index != i) {
				cf_note(r, "wrong reply: index %u to a request of region %u",
					ri.index, i);
				ok = false;
			} else if (m.nfds > 1) {
				cf_note(r, "wrong reply: region %u comes with %d descriptors", i,
					m.nfds);
				ok = false;
			} else if (m.nfds && !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
				cf_note(r,
					"wrong reply: region %u comes with a descriptor but is not "
					"mappable",
					i);
				ok = false;
			} else if (ri.flags & VFIO_REGION_INFO_FLAG_CAPS) {
				ok = caps_ok(r, i, m.body, m.len, ri.cap_offset);
			}
			with_fd += m.nfds;
		}
		cf_msg_free(&m);
		if (!ok)
			return CF_FAIL;
	}
	cf_note(r, "%u regions, %u with a descriptor", n, with_fd);
	return CF_PASS;
}

static enum cf_result ck_irq_info(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint32_t n = r->dev.num_irqs < 64 ? r->dev.num_irqs : 64;
	for (uint32_t i = 0; i < n; i++) {
		struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = i};
		struct cf_msg m;
		if (!cs_ok_call(r, UVFIO_CMD_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), NULL, 0, &m,
				"DEVICE_GET_IRQ_INFO"))
			return CF_FAIL;
		bool ok = argsz_ok(r, &m, sizeof(ii), sizeof(ii));
		if (ok) {
			memcpy(&ii, m.body, sizeof(ii));
			if (ii.index != i) {
				cf_note(r, "wrong reply: index %u to a request of type %u",
					ii.index, i);
				ok = false;
			}
		}
		cf_msg_free(&m);
		if (!ok)
			return CF_FAIL;
	}
	cf_note(r, "%u interrupt types", n);
	return CF_PASS;
}

static enum cf_result ck_set_irqs(struct cf_run *r, const struct cf_check *ck)
{
	int irq = cs_irq_index(&r->dev);
	if (irq < 0) {
		cf_note(r, "the device has no interrupt with vectors");
		return CF_SKIP;
	}
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	struct form f;
	cs_irq_set(&f, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, (uint32_t)irq, 0,
		   1);
	int efd = eventfd(0, EFD_CLOEXEC);
	struct cf_msg m;
	bool ok = cs_ok_call(r, f.cmd, f.body, f.len, &efd, 1, &m, "SET_IRQS with an eventfd");
	close(efd);
	if (!ok)
		return CF_FAIL;
	cf_msg_free(&m);
	/* arg 1: "If no file descriptors are provided, this de-assigns" */
	if (ck->arg == 1) {
		cs_irq_set(&f, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			   (uint32_t)irq, 0, 1);
		if (!cs_ok_call(r, f.cmd, f.body, f.len, NULL, 0, &m, "SET_IRQS with no eventfd"))
			return CF_FAIL;
		cf_msg_free(&m);
	}
	cs_irq_set(&f, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, (uint32_t)irq, 0, 0);
	if (!cs_ok_call(r, f.cmd, f.body, f.len, NULL, 0, &m, "SET_IRQS disabling it"))
		return CF_FAIL;
	cf_msg_free(&m);
	cf_note(r,
		ck->arg ? "interrupt type %d, vector 0 set, de-assigned without a descriptor, "
			  "disabled"
			: "interrupt type %d, vector 0 set and disabled",
		irq);
	return CF_PASS;
}

static enum cf_result ck_region_read(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	int rr = cs_readable_region(&r->dev);
	if (rr < 0) {
		cf_note(r, "the device has no readable region");
		return CF_SKIP;
	}
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t b[4];
	if (!cs_region_read(r, (uint32_t)rr, 0, b, 4))
		return CF_FAIL;
	cf_note(r, "4 bytes of region %d", rr);
	return CF_PASS;
}

static bool have_cfg(struct cf_run *r)
{
	if (CFG < r->dev.num_regions && r->dev.region[CFG].size >= 64)
		return true;
	cf_note(r, "the device has no PCI configuration space");
	return false;
}

/* Writes to the vendor and device ids (read-only in PCI) change nothing. */
static enum cf_result ck_cfg_readonly(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!have_cfg(r))
		return CF_SKIP;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint32_t before, after, ones = 0xffffffffu;
	if (!cs_region_read(r, CFG, 0, &before, 4))
		return CF_FAIL;
	struct form f;
	cs_region_access(&f, UVFIO_CMD_REGION_WRITE, 0, CFG, 4, 4);
	memcpy(f.body + 16, &ones, 4);
	struct cf_msg m;
	int w = cf_call(&r->conn, f.cmd, f.body, f.len, NULL, 0, &m);
	if (w < 0)
		return cs_hang(r, "a write of the ids");
	if (w == 0) {
		cf_note(r, "the server closed the connection on a write of the ids");
		return CF_FAIL;
	}
	bool refused = m.h.flags & UVFIO_FLAGS_ERROR;
	cf_msg_free(&m);
	if (!cs_region_read(r, CFG, 0, &after, 4))
		return CF_FAIL;
	if (after != before) {
		cf_note(r, "the read-only vendor and device ids changed from 0x%08x to 0x%08x",
			before, after);
		return CF_FAIL;
	}
	cf_note(r, refused ? "the write was refused; the ids stay" : "the ids stay 0x%08x", before);
	return CF_PASS;
}

static enum cf_result ck_cfg_caps(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!have_cfg(r))
		return CF_SKIP;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t cfg[256];
	for (unsigned o = 0; o < 256; o += 64)
		if (!cs_region_read(r, CFG, o, cfg + o, 64))
			return CF_FAIL;
	uint16_t status = (uint16_t)(cfg[6] | cfg[7] << 8);
	if (!(status & 0x10)) {
		cf_note(r, "no capability list");
		return CF_PASS;
	}
	unsigned at = cfg[0x34] & 0xfc, n = 0;
	while (at) {
		if (at < 0x40 || at > 0xfc) {
			cf_note(r, "a capability pointer 0x%02x outside 0x40-0xfc", at);
			return CF_FAIL;
		}
		if (++n > 48) {
			cf_note(r, "the capability list loops");
			return CF_FAIL;
		}
		at = cfg[at + 1] & 0xfc;
	}
	cf_note(r, "%u capabilities", n);
	return CF_PASS;
}

/* BAR sizing: all ones written, the mask read back says the region's size. */
static enum cf_result ck_cfg_bars(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!have_cfg(r))
		return CF_SKIP;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t hdr[64];
	if (!cs_region_read(r, CFG, 0, hdr, 64))
		return CF_FAIL;
	if ((hdr[0x0e] & 0x7f) != 0) {
		cf_note(r, "not a type 0 header");
		return CF_SKIP;
	}
	unsigned sized = 0;
	for (unsigned b = 0; b < 6; b++) {
		uint32_t orig, mask, ones = 0xffffffffu;
		memcpy(&orig, hdr + 0x10 + 4 * b, 4);
		if (!cs_region_write(r, CFG, 0x10 + 4 * b, &ones, 4) ||
		    !cs_region_read(r, CFG, 0x10 + 4 * b, &mask, 4) ||
		    !cs_region_write(r, CFG, 0x10 + 4 * b, &orig, 4))
			return CF_FAIL;
		uint64_t size = r->dev.region[b].size;
		bool io = orig & 1, is64 = !io && (orig & 6) == 4;
		uint64_t m64 = mask & (io ? ~3u : ~0xfu);
		if (is64) {
			uint32_t hi_orig, hi;
			memcpy(&hi_orig, hdr + 0x14 + 4 * b, 4);
			if (b == 5 || !cs_region_write(r, CFG, 0x14 + 4 * b, &ones, 4) ||
			    !cs_region_read(r, CFG, 0x14 + 4 * b, &hi, 4) ||
			    !cs_region_write(r, CFG, 0x14 + 4 * b, &hi_orig, 4))
				return CF_FAIL;
			m64 |= (uint64_t)hi << 32;
		} else if (m64) {
			m64 |= 0xffffffff00000000ull;
		}
		uint64_t got = m64 ? ~m64 + 1 : 0;
		if (size && got != size && !(io && got >= size)) {
			cf_note(r, "BAR%u sizes as 0x%llx but region %u is 0x%llx bytes", b,
				(unsigned long long)got, b, (unsigned long long)size);
			return CF_FAIL;
		}
		if (!size && got) {
			cf_note(r, "BAR%u sizes as 0x%llx but region %u has no size", b,
				(unsigned long long)got, b);
			return CF_FAIL;
		}
		sized += size != 0;
		if (is64)
			b++;
	}
	cf_note(r, "%u BARs size as their regions", sized);
	return CF_PASS;
}

static enum cf_result ck_region_write(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!have_cfg(r))
		return CF_SKIP;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint16_t cmdreg;
	if (!cs_region_read(r, CFG, 4, &cmdreg, 2) || !cs_region_write(r, CFG, 4, &cmdreg, 2))
		return CF_FAIL;
	cf_note(r, "the command register written back as read (0x%04x)", cmdreg);
	return CF_PASS;
}

/* arg 0: with a memory file; 1: without (DMA by messages). */
static enum cf_result ck_dma_map(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	int before = r->server_pid ? cf_count_fds(r->server_pid) : -1;
	int fd = ck->arg ? -1 : cs_make_fd(FD_MEM);
	bool ok = cs_map(r, DMA_IOVA, 0x10000, fd,
			 ck->arg ? "DMA_MAP without a descriptor" : "DMA_MAP of a memory file");
	if (fd >= 0)
		close(fd);
	if (!ok) {
		if (ck->arg && !r->hung && !r->conn.closed) {
			cf_note(r, "a server that does DMA only through mapped memory may refuse");
			return CF_PASS;
		}
		return CF_FAIL;
	}
	if (!cs_unmap(r, DMA_IOVA, 0x10000))
		return CF_FAIL;
	if (!cs_fds_kept(r, before))
		return CF_FAIL;
	cf_note(r, "mapped and unmapped 64 KiB");
	return CF_PASS;
}

/* arg: 0 overlap, 1 partial unmap, 2 unmap twice */
static enum cf_result ck_dma_seq(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	int fd = cs_make_fd(FD_MEM);
	bool ok = cs_map(r, DMA_IOVA, 0x10000, fd, "the first DMA_MAP");
	if (!ok) {
		close(fd);
		return CF_FAIL;
	}
	struct cf_msg m;
	int w;
	if (ck->arg == 0) {
		struct form f;
		cs_dma_map(&f, 3, 0, DMA_IOVA + 0x8000, 0x10000);
		w = cf_call(&r->conn, f.cmd, f.body, f.len, &fd, 1, &m);
	} else {
		if (ck->arg == 2 && !cs_unmap(r, DMA_IOVA, 0x10000)) {
			close(fd);
			return CF_FAIL;
		}
		struct uvfio_dma_unmap u = {
			.argsz = sizeof(u), .addr = DMA_IOVA + 0x4000, .size = 0x4000};
		if (ck->arg == 2)
			u = (struct uvfio_dma_unmap){
				.argsz = sizeof(u), .addr = DMA_IOVA, .size = 0x10000};
		w = cf_call(&r->conn, UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0, &m);
	}
	close(fd);
	if (w < 0)
		return cs_hang(r, "the request");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	enum cf_result res =
		cs_reply_shape(r,
			       m.h.cmd == UVFIO_CMD_DMA_MAP || ck->arg == 0 ? UVFIO_CMD_DMA_MAP
									    : UVFIO_CMD_DMA_UNMAP,
			       &m)
			? CF_PASS
			: CF_FAIL;
	if (res == CF_PASS && m.h.flags & UVFIO_FLAGS_ERROR) {
		cf_note(r, "refused with %s", cs_errname(m.h.error_no));
		if (ck->arg == 0 && m.h.error_no != EEXIST) {
			cf_note(r, "wrong reply: the specification asks for EEXIST");
			res = CF_FAIL;
		}
	} else if (res == CF_PASS) {
		cf_note(r, "accepted bad input: %s",
			ck->arg == 0 ? "a map over an existing one"
				     : "an unmap that matches no mapping exactly");
		res = CF_FAIL;
	}
	cf_msg_free(&m);
	struct uvfio_dma_unmap all = {.argsz = sizeof(all), .flags = UVFIO_DMA_UNMAP_FLAG_ALL};
	if (ck->arg != 2 &&
	    cf_call(&r->conn, UVFIO_CMD_DMA_UNMAP, &all, sizeof(all), NULL, 0, &m) > 0)
		cf_msg_free(&m);
	return res;
}

/* Maps up to the server's max_dma_maps: one more is refused. */
static enum cf_result ck_dma_limit(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint64_t n = r->conn.max_dma_maps;
	if (n > 1024) {
		cf_note(r, "max_dma_maps is %llu: too many to fill in a check",
			(unsigned long long)n);
		return CF_SKIP;
	}
	for (uint64_t i = 0; i <= n; i++) {
		struct form f;
		cs_dma_map(&f, 3, 0, DMA_IOVA + i * 0x2000, 0x1000);
		struct cf_msg m;
		int w = cf_call(&r->conn, f.cmd, f.body, f.len, NULL, 0, &m);
		if (w < 0)
			return cs_hang(r, "a DMA_MAP");
		if (w == 0) {
			cf_note(r, "the server closed the connection at map %llu",
				(unsigned long long)i);
			return i == n ? CF_PASS : CF_FAIL;
		}
		bool err = m.h.flags & UVFIO_FLAGS_ERROR;
		cf_msg_free(&m);
		if (err && i < n) {
			cf_note(r, "map %llu of the %llu max_dma_maps allows was refused",
				(unsigned long long)i + 1, (unsigned long long)n);
			return CF_FAIL;
		}
		if (!err && i == n) {
			cf_note(r, "accepted bad input: map %llu past max_dma_maps %llu",
				(unsigned long long)i + 1, (unsigned long long)n);
			return CF_FAIL;
		}
	}
	cf_note(r, "%llu maps, the next refused", (unsigned long long)n);
	return CF_PASS;
}

static enum cf_result ck_reset(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!(r->dev.flags & VFIO_DEVICE_FLAGS_RESET)) {
		cf_note(r, "the device does not offer reset");
		return CF_SKIP;
	}
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	struct cf_msg m;
	if (!cs_ok_call(r, UVFIO_CMD_DEVICE_RESET, NULL, 0, NULL, 0, &m, "DEVICE_RESET"))
		return CF_FAIL;
	cf_msg_free(&m);
	return CF_PASS;
}

static enum cf_result ck_io_fds(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	unsigned total = 0;
	for (uint32_t i = 0; i < r->dev.num_regions && i < 9; i++) {
		if (!r->dev.region[i].size)
			continue;
		struct uvfio_region_io_fds_request q = {.argsz = 4096, .index = i};
		struct cf_msg m;
		int w = cf_call(&r->conn, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL,
				0, &m);
		if (w < 0)
			return cs_hang(r, "DEVICE_GET_REGION_IO_FDS");
		if (w == 0) {
			cf_note(r, "the server closed the connection");
			return CF_FAIL;
		}
		if (!cs_reply_shape(r, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, &m)) {
			cf_msg_free(&m);
			return CF_FAIL;
		}
		if (m.h.flags & UVFIO_FLAGS_ERROR) {
			cf_msg_free(&m);
			continue;
		}
		struct uvfio_region_io_fds_reply rep = {0};
		bool ok = m.len >= sizeof(rep);
		if (ok) {
			memcpy(&rep, m.body, sizeof(rep));
			/* entries of (argsz - 16) / count bytes, 40 today; "at least one
			 * file descriptor" with them */
			ok = rep.index == i &&
			     (!rep.count ||
			      (m.len >= sizeof(rep) + (size_t)rep.count * 24 && m.nfds >= 1));
		}
		if (!ok) {
			cf_note(r,
				"wrong reply: region %u's io fds reply (%zu bytes, %d descriptors) "
				"does not hold its entries",
				i, m.len, m.nfds);
			cf_msg_free(&m);
			return CF_FAIL;
		}
		total += rep.count;
		cf_msg_free(&m);
	}
	cf_note(r, "%u sub-regions", total);
	return CF_PASS;
}

static enum cf_result ck_feature_probe(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	struct uvfio_device_feature ft = {
		.argsz = 16, .flags = VFIO_DEVICE_FEATURE_PROBE | UVFIO_FEATURE_MIGRATION};
	struct cf_msg m;
	int w = cf_call(&r->conn, UVFIO_CMD_DEVICE_FEATURE, &ft, sizeof(ft), NULL, 0, &m);
	if (w < 0)
		return cs_hang(r, "DEVICE_FEATURE");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_FAIL;
	}
	if (!cs_reply_shape(r, UVFIO_CMD_DEVICE_FEATURE, &m)) {
		cf_msg_free(&m);
		return CF_FAIL;
	}
	cf_note(r,
		m.h.flags & UVFIO_FLAGS_ERROR ? "no migration (refused with %s)"
					      : "migration offered%s",
		m.h.flags & UVFIO_FLAGS_ERROR ? cs_errname(m.h.error_no) : "");
	cf_msg_free(&m);
	return CF_PASS;
}

/* ---- the probe ---- */

int cf_probe(struct cf_run *r, struct cf_dev *dev)
{
	struct cf_conn c;
	memset(dev, 0, sizeof(*dev));
	int e, n = 0;
	/* a server that exits when its client leaves may be on its way out */
	for (int attempt = 0; attempt < 3 && n <= 0; attempt++) {
		if ((e = cf_connect(r, &c)) < 0)
			return e;
		if ((n = cf_negotiate(&c, 1, CAPS_JSON, NULL)) <= 0) {
			cf_conn_close(&c);
			cf_proc_wait_end(&r->proc, 300);
		}
	}
	struct cf_msg m;
	e = -EPROTO;
	if (n <= 0)
		return e;
	r->server_pid = cf_peer_pid(c.fd);
	struct uvfio_device_info di = {.argsz = 16};
	if (cf_call(&c, UVFIO_CMD_DEVICE_GET_INFO, &di, 16, NULL, 0, &m) <= 0)
		goto out;
	if (m.len >= 16 && !(m.h.flags & UVFIO_FLAGS_ERROR)) {
		memcpy(&di, m.body, 16);
		dev->flags = di.flags;
		dev->num_regions = di.num_regions;
		dev->num_irqs = di.num_irqs;
	}
	cf_msg_free(&m);
	for (uint32_t i = 0; i < dev->num_regions && i < 16; i++) {
		struct vfio_region_info ri = {.argsz = sizeof(ri), .index = i};
		if (cf_call(&c, UVFIO_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0, &m) <=
		    0)
			goto out;
		if (m.len >= sizeof(ri) && !(m.h.flags & UVFIO_FLAGS_ERROR)) {
			memcpy(&ri, m.body, sizeof(ri));
			dev->region[i].size = ri.size;
			dev->region[i].flags = ri.flags;
		}
		cf_msg_free(&m);
	}
	for (uint32_t i = 0; i < dev->num_irqs && i < 8; i++) {
		struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = i};
		if (cf_call(&c, UVFIO_CMD_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), NULL, 0, &m) <= 0)
			goto out;
		if (m.len >= sizeof(ii) && !(m.h.flags & UVFIO_FLAGS_ERROR)) {
			memcpy(&ii, m.body, sizeof(ii));
			dev->irq_count[i] = ii.count;
			dev->irq_flags[i] = ii.flags;
		}
		cf_msg_free(&m);
	}
	dev->known = true;
	e = 0;
out:
	cf_conn_close(&c);
	return e;
}

/* ---- the table ---- */

#define REFUSE(n, g, s, id)                                                                        \
	{                                                                                          \
		n, g, SPEC s, ck_refuse, id                                                        \
	}
#define NEG "negotiation"
#define VER "VFIO_USER_VERSION"

const struct cf_check cf_server_checks[] = {
	{"version.valid", NEG, SPEC VER, ck_version, 0},
	{"version.no-capabilities", NEG, SPEC VER, ck_version, 1},
	{"version.unknown-keys", NEG, SPEC VER, ck_version, 2},
	{"version.minor-above", NEG, SPEC VER, ck_version, 3},
	{"version.major-unsupported", NEG, SPEC VER, ck_version, 4},
	REFUSE("version.payload-short", NEG, VER, V_SHORT),
	REFUSE("version.json-unterminated", NEG, VER, V_JSON_UNTERM),
	REFUSE("version.json-broken", NEG, VER, V_JSON_BROKEN),
	REFUSE("version.json-not-object", NEG, VER, V_JSON_ARRAY),
	REFUSE("version.capabilities-not-object", NEG, VER, V_CAPS_NOT_OBJ),
	REFUSE("version.max-msg-fds-string", NEG, VER, V_FDS_STRING),
	REFUSE("version.max-data-xfer-size-zero", NEG, VER, V_XFER_ZERO),
	REFUSE("version.migration-pgsize-bad", NEG, VER, V_PGSIZE_BAD),
	REFUSE("version.twice", NEG, VER, V_TWICE),
	REFUSE("version.with-descriptor", NEG, VER, V_WITH_FD),
	REFUSE("header.size-below-header", "header", "Header", H_SIZE_SMALL),
	REFUSE("header.size-huge", "header", "Header", H_SIZE_HUGE),
	REFUSE("header.reserved-flags", "header", "Header", H_RESERVED_FLAGS),
	REFUSE("header.type-reserved", "header", "Header", H_TYPE_RESERVED),
	REFUSE("header.error-flag-on-command", "header", "Header", H_ERROR_FLAG),
	REFUSE("header.unknown-command", "header", "Header", H_UNKNOWN_CMD),
	REFUSE("header.command-zero", "header", "Header", H_CMD_ZERO),
	REFUSE("header.server-to-client-command", "header", "VFIO_USER_DMA_READ", H_SERVER_CMD),
	{"header.no-reply-flag", "header", SPEC "Header", ck_no_reply, 0},
	{"device-info.valid", "device-info", SPEC "VFIO_USER_DEVICE_GET_INFO", ck_device_info, 0},
	REFUSE("device-info.argsz-short", "device-info", "Message sizes", D_ARGSZ_SHORT),
	REFUSE("device-info.payload-short", "device-info", "VFIO_USER_DEVICE_GET_INFO",
	       D_PAYLOAD_SHORT),
	REFUSE("device-info.payload-long", "device-info", "VFIO_USER_DEVICE_GET_INFO",
	       D_PAYLOAD_LONG),
	REFUSE("device-info.descriptor", "device-info", "VFIO_USER_DEVICE_GET_INFO", D_FDS),
	{"region-info.valid", "region-info", SPEC "VFIO_USER_DEVICE_GET_REGION_INFO",
	 ck_region_info, 0},
	REFUSE("region-info.index-out-of-range", "region-info", "VFIO_USER_DEVICE_GET_REGION_INFO",
	       R_INDEX_RANGE),
	REFUSE("region-info.index-max", "region-info", "VFIO_USER_DEVICE_GET_REGION_INFO",
	       R_INDEX_MAX),
	REFUSE("region-info.argsz-short", "region-info", "Message sizes", R_ARGSZ_SHORT),
	REFUSE("region-info.payload-short", "region-info", "VFIO_USER_DEVICE_GET_REGION_INFO",
	       R_PAYLOAD_SHORT),
	REFUSE("region-info.descriptor", "region-info", "VFIO_USER_DEVICE_GET_REGION_INFO", R_FDS),
	{"irq-info.valid", "irq-info", SPEC "VFIO_USER_DEVICE_GET_IRQ_INFO", ck_irq_info, 0},
	REFUSE("irq-info.index-out-of-range", "irq-info", "VFIO_USER_DEVICE_GET_IRQ_INFO",
	       I_INDEX_RANGE),
	REFUSE("irq-info.argsz-short", "irq-info", "Message sizes", I_ARGSZ_SHORT),
	REFUSE("irq-info.payload-short", "irq-info", "VFIO_USER_DEVICE_GET_IRQ_INFO",
	       I_PAYLOAD_SHORT),
	{"set-irqs.valid", "set-irqs", SPEC "VFIO_USER_DEVICE_SET_IRQS", ck_set_irqs, 0},
	{"set-irqs.eventfd-none-deassigns", "set-irqs", SPEC "VFIO_USER_DEVICE_SET_IRQS",
	 ck_set_irqs, 1},
#define SI "VFIO_USER_DEVICE_SET_IRQS"
	REFUSE("set-irqs.index-out-of-range", "set-irqs", SI, Q_INDEX_RANGE),
	REFUSE("set-irqs.range-past-count", "set-irqs", SI, Q_PAST_COUNT),
	REFUSE("set-irqs.range-overflow", "set-irqs", SI, Q_OVERFLOW),
	REFUSE("set-irqs.eventfds-fewer-than-vectors", "set-irqs", SI, Q_FEWER_FDS),
	REFUSE("set-irqs.eventfds-more", "set-irqs", SI, Q_MORE_FDS),
	REFUSE("set-irqs.descriptor-with-data-none", "set-irqs", SI, Q_FDS_DATA_NONE),
	REFUSE("set-irqs.two-data-types", "set-irqs", SI, Q_TWO_DATA),
	REFUSE("set-irqs.two-actions", "set-irqs", SI, Q_TWO_ACTIONS),
	REFUSE("set-irqs.bool-data-missing", "set-irqs", SI, Q_BOOL_MISSING),
	REFUSE("set-irqs.unknown-flag", "set-irqs", SI, Q_UNKNOWN_FLAG),
	REFUSE("set-irqs.truncated", "set-irqs", SI, Q_TRUNCATED),
	REFUSE("set-irqs.not-an-eventfd", "set-irqs", SI, Q_NOT_EVENTFD),
	REFUSE("set-irqs.argsz-short", "set-irqs", "Message sizes", Q_ARGSZ_SHORT),
#define RR "VFIO_USER_REGION_READ"
#define RW "VFIO_USER_REGION_WRITE"
	{"region-read.valid", "region-access", SPEC RR, ck_region_read, 0},
	REFUSE("region-read.past-end", "region-access", RR, A_PAST_END),
	REFUSE("region-read.offset-overflow", "region-access", RR, A_OVERFLOW),
	REFUSE("region-read.count-huge", "region-access", RR, A_COUNT_HUGE),
	REFUSE("region-read.count-zero", "region-access", RR, A_COUNT_ZERO),
	REFUSE("region-read.index-out-of-range", "region-access", RR, A_INDEX_RANGE),
	REFUSE("region-read.absent-region", "region-access", RR, A_ABSENT),
	REFUSE("region-read.with-payload", "region-access", RR, A_WITH_PAYLOAD),
	REFUSE("region-read.truncated", "region-access", RR, A_TRUNCATED),
	REFUSE("region-read.descriptors", "region-access", RR, A_FDS),
	{"region-write.valid", "region-access", SPEC RW, ck_region_write, 0},
	REFUSE("region-write.count-mismatch", "region-access", RW, W_COUNT_MISMATCH),
	REFUSE("region-write.past-end", "region-access", RW, W_PAST_END),
	REFUSE("region-write.read-only-region", "region-access", RW, W_READ_ONLY),
	REFUSE("region-write.index-out-of-range", "region-access", RW, W_INDEX_RANGE),
	REFUSE("region-write.truncated", "region-access", RW, W_TRUNCATED),
	REFUSE("region-write.offset-overflow", "region-access", RW, W_OVERFLOW),
	{"config.ids-read-only", "config", SPEC RW, ck_cfg_readonly, 0},
	{"config.capability-chain", "config", SPEC "Region Capabilities", ck_cfg_caps, 0},
	{"config.bar-sizing", "config", SPEC "VFIO_USER_DEVICE_GET_REGION_INFO", ck_cfg_bars, 0},
#define DM "VFIO_USER_DMA_MAP"
#define DU "VFIO_USER_DMA_UNMAP"
	{"dma-map.valid-descriptor", "dma-map", SPEC DM, ck_dma_map, 0},
	{"dma-map.valid-no-descriptor", "dma-map", SPEC DM, ck_dma_map, 1},
	REFUSE("dma-map.unaligned-address", "dma-map", DM, M_UNALIGNED_ADDR),
	REFUSE("dma-map.unaligned-size", "dma-map", DM, M_UNALIGNED_SIZE),
	REFUSE("dma-map.zero-size", "dma-map", DM, M_ZERO_SIZE),
	REFUSE("dma-map.range-wraps", "dma-map", DM, M_WRAPS),
	REFUSE("dma-map.unknown-flag", "dma-map", DM, M_UNKNOWN_FLAG),
	REFUSE("dma-map.two-descriptors", "dma-map", DM, M_TWO_FDS),
	REFUSE("dma-map.argsz-short", "dma-map", "Message sizes", M_ARGSZ_SHORT),
	REFUSE("dma-map.payload-short", "dma-map", DM, M_PAYLOAD_SHORT),
	REFUSE("dma-map.file-shorter-than-range", "dma-map", DM, M_SHORT_FILE),
	REFUSE("dma-map.descriptor-not-memory", "dma-map", DM, M_NOT_MEMORY),
	REFUSE("dma-map.offset-overflow", "dma-map", DM, M_OFFSET_OVERFLOW),
	{"dma-map.overlap", "dma-map", SPEC DM, ck_dma_seq, 0},
	{"dma-map.limit", "dma-map", SPEC DM, ck_dma_limit, 0},
	{"dma-unmap.partial", "dma-unmap", SPEC DU, ck_dma_seq, 1},
	{"dma-unmap.twice", "dma-unmap", SPEC DU, ck_dma_seq, 2},
	REFUSE("dma-unmap.never-mapped", "dma-unmap", DU, U_NEVER_MAPPED),
	REFUSE("dma-unmap.unknown-flag", "dma-unmap", DU, U_UNKNOWN_FLAG),
	REFUSE("dma-unmap.all-with-range", "dma-unmap", DU, U_ALL_WITH_RANGE),
	REFUSE("dma-unmap.payload-short", "dma-unmap", DU, U_PAYLOAD_SHORT),
	REFUSE("dma-unmap.descriptor", "dma-unmap", DU, U_FDS),
	{"reset.valid", "reset", SPEC "VFIO_USER_DEVICE_RESET", ck_reset, 0},
	REFUSE("reset.with-payload", "reset", "VFIO_USER_DEVICE_RESET", X_WITH_PAYLOAD),
#define IOF "VFIO_USER_DEVICE_GET_REGION_IO_FDS"
	{"io-fds.valid", "io-fds", SPEC IOF, ck_io_fds, 0},
	REFUSE("io-fds.index-out-of-range", "io-fds", IOF, O_INDEX_RANGE),
	REFUSE("io-fds.count-nonzero", "io-fds", IOF, O_COUNT),
	REFUSE("io-fds.argsz-short", "io-fds", "Message sizes", O_ARGSZ_SHORT),
#define FT "VFIO_USER_DEVICE_FEATURE"
	{"feature.probe-migration", "feature", SPEC FT, ck_feature_probe, 0},
	REFUSE("feature.get-and-set", "feature", FT, E_GET_AND_SET),
	REFUSE("feature.argsz-short", "feature", "Message sizes", E_ARGSZ_SHORT),
	REFUSE("feature.unknown", "feature", FT, E_UNKNOWN),
	REFUSE("feature.payload-short", "feature", FT, E_PAYLOAD_SHORT),
	REFUSE("mig-data.read-when-running", "feature", "VFIO_USER_MIG_DATA_READ",
	       G_DATA_READ_IDLE),
#define SEQ "sequences"
	REFUSE("sequence.before-version", SEQ, "Connection Initiation", S_BEFORE_VERSION),
	{"sequence.pipelined", SEQ, SPEC "Command Concurrency", ck_pipeline, 64},
	{"sequence.header-in-pieces", SEQ, SPEC "Header", ck_pieces, 7},
	{"sequence.body-in-pieces", SEQ, SPEC "Header", ck_pieces, 20},
	{"sequence.byte-at-a-time", SEQ, SPEC "Header", ck_bytewise, 0},
	{"sequence.ids-reused", SEQ, SPEC "Header", ck_ids_reused, 0},
	{"sequence.reply-to-server", SEQ, SPEC "Header", ck_stray_reply, 0},
	{"sequence.close-inside-message", SEQ, SPEC "Client Disconnection", ck_close_inside, 0},
	{"sequence.close-with-replies-unread", SEQ, SPEC "Client Disconnection", ck_close_inside,
	 1},
	{"sequence.reconnect", SEQ, SPEC "Client Disconnection", ck_reconnect, 0},
	{"sequence.flood", SEQ, SPEC "Security Considerations", ck_flood, 20480},
	{"sequence.map-unmap-churn", SEQ, SPEC "VFIO_USER_DMA_UNMAP", ck_map_churn, 2048},
	{"corpus.replay", "corpus", SPEC "Security Considerations", cf_ck_corpus, 0},
#define DR "VFIO_USER_DMA_READ"
	{"dma.copy-spec-layout", "dma", SPEC DR, ck_dma_msg, 0},
	{"dma.copy-qemu-layout", "dma", SPEC DR, ck_dma_msg, 1},
	{"dma.copy-mapped-memory", "dma", SPEC "Client memory access", ck_dma_mapped, 0},
	{"dma.error-replies", "dma", SPEC DR, ck_dma_msg, 2},
	{"dma.flood-while-withheld", "dma", SPEC "Command Concurrency", ck_dma_msg, 3},
	{"dma.close-while-withheld", "dma", SPEC "Client Disconnection", ck_dma_msg, 4},
};
const size_t cf_n_server_checks = sizeof(cf_server_checks) / sizeof(cf_server_checks[0]);
