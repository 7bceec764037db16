/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The malformed forms of every command (sizes short and long, argsz, flags,
 * indexes, offsets and their overflow, counts, descriptors missing, extra,
 * of the wrong kind or on the wrong message), built by form() for the
 * device the probe found; ck_refuse() sends one, and the server must refuse
 * it (an error reply or a close) without keeping what came with it. A form
 * the specification lets a server take says why (a pass with a note).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checks.h"

static void json_version(struct form *f, const char *json, bool nul)
{
	f->cmd = UVFIO_CMD_VERSION;
	f->no_session = true;
	struct uvfio_version v = {0, 1};
	memcpy(f->body, &v, 4);
	size_t n = strlen(json);
	memcpy(f->body + 4, json, n + (nul ? 1 : 0));
	f->len = 4 + n + (nul ? 1 : 0);
}

/* Build form id for this device; NULL to go on, or why it is skipped. */
static const char *form(struct cf_run *r, long id, struct form *f)
{
	const struct cf_dev *d = &r->dev;
	memset(f, 0, sizeof(*f));
	int rr = cs_readable_region(d), irq = cs_irq_index(d);
	uint64_t rsize = rr >= 0 ? d->region[rr].size : 0;
	switch (id) {
	case V_SHORT:
		f->cmd = UVFIO_CMD_VERSION;
		f->no_session = true;
		f->len = 2;
		break;
	case V_JSON_UNTERM:
		json_version(f, CAPS_JSON, false);
		f->may_accept = "a server may read the JSON up to the end of the message";
		break;
	case V_JSON_BROKEN:
		json_version(f, "{\"capabilities\":{\"max_msg_fds\":", true);
		break;
	case V_JSON_ARRAY:
		json_version(f, "[1,2,3]", true);
		break;
	case V_CAPS_NOT_OBJ:
		json_version(f, "{\"capabilities\":5}", true);
		break;
	case V_FDS_STRING:
		json_version(f, "{\"capabilities\":{\"max_msg_fds\":\"many\"}}", true);
		break;
	case V_XFER_ZERO:
		json_version(f, "{\"capabilities\":{\"max_data_xfer_size\":0}}", true);
		f->may_accept = "the specification sets no minimum for max_data_xfer_size";
		break;
	case V_PGSIZE_BAD:
		json_version(f, "{\"capabilities\":{\"migration\":{\"pgsize\":3}}}", true);
		f->may_accept = "a server without migration may ignore the migration object";
		break;
	case V_TWICE:
		json_version(f, CAPS_JSON, true);
		f->no_session = false;
		f->may_accept = "the specification does not say what a second VERSION does";
		break;
	case V_WITH_FD:
		json_version(f, CAPS_JSON, true);
		f->nfds = 1;
		f->may_accept = "a server may close descriptors it did not expect and go on";
		break;
	case H_SIZE_SMALL:
	case H_SIZE_HUGE:
	case H_RESERVED_FLAGS:
	case H_TYPE_RESERVED:
	case H_ERROR_FLAG: {
		struct uvfio_device_info di = {.argsz = 16};
		struct uvfio_hdr h = {
			.msg_id = 0x7700, .cmd = UVFIO_CMD_DEVICE_GET_INFO, .msg_size = 32};
		if (id == H_SIZE_SMALL)
			h.msg_size = 4;
		if (id == H_SIZE_HUGE)
			h.msg_size = 1u << 30;
		if (id == H_RESERVED_FLAGS)
			h.flags = 1u << 8;
		if (id == H_TYPE_RESERVED)
			h.flags = 2;
		if (id == H_ERROR_FLAG) {
			h.flags = UVFIO_FLAGS_ERROR;
			f->may_accept = "the specification gives the error flag no meaning in a "
					"command";
		}
		if (id == H_RESERVED_FLAGS)
			f->may_accept = "the specification reserves the bits without telling a "
					"server to refuse them";
		f->raw_hdr = true;
		f->cmd = UVFIO_CMD_DEVICE_GET_INFO;
		memcpy(f->body, &h, 16);
		memcpy(f->body + 16, &di, 16);
		f->len = id == H_SIZE_HUGE || id == H_SIZE_SMALL ? 16 : 32;
		break;
	}
	case H_UNKNOWN_CMD:
		f->cmd = 77;
		break;
	case H_CMD_ZERO:
		f->cmd = 0;
		break;
	case H_SERVER_CMD:
		f->cmd = UVFIO_CMD_DMA_READ;
		f->len = 16;
		break;
	case S_BEFORE_VERSION:
		f->cmd = UVFIO_CMD_DEVICE_GET_INFO;
		PUT(f, 0, (uint32_t)16);
		f->len = 16;
		f->no_session = true;
		break;
	case D_ARGSZ_SHORT:
		f->cmd = UVFIO_CMD_DEVICE_GET_INFO;
		PUT(f, 0, (uint32_t)8);
		f->len = 16;
		f->may_accept = "a reply may give the size needed in argsz, the rest left out";
		break;
	case D_PAYLOAD_SHORT:
		f->cmd = UVFIO_CMD_DEVICE_GET_INFO;
		PUT(f, 0, (uint32_t)16);
		f->len = 4;
		f->may_accept = "argsz alone says how much reply the client takes";
		break;
	case D_PAYLOAD_LONG:
		f->cmd = UVFIO_CMD_DEVICE_GET_INFO;
		PUT(f, 0, (uint32_t)16);
		f->len = 32;
		f->may_accept = "a server may ignore bytes past the structure";
		break;
	case D_FDS:
		f->cmd = UVFIO_CMD_DEVICE_GET_INFO;
		PUT(f, 0, (uint32_t)16);
		f->len = 16;
		f->nfds = 1;
		f->may_accept = "a server may close descriptors it did not expect and go on";
		break;
	case R_INDEX_RANGE:
	case R_INDEX_MAX:
	case R_ARGSZ_SHORT:
	case R_PAYLOAD_SHORT:
	case R_FDS: {
		struct vfio_region_info ri = {.argsz = sizeof(ri), .index = 0};
		if (id == R_INDEX_RANGE)
			ri.index = d->num_regions + 7;
		if (id == R_INDEX_MAX)
			ri.index = UINT32_MAX;
		if (id == R_ARGSZ_SHORT) {
			ri.argsz = 16;
			f->may_accept =
				"a reply may give the size needed in argsz, the rest left out";
		}
		if (id == R_FDS) {
			f->nfds = 1;
			f->may_accept =
				"a server may close descriptors it did not expect and go on";
		}
		f->cmd = UVFIO_CMD_DEVICE_GET_REGION_INFO;
		memcpy(f->body, &ri, sizeof(ri));
		f->len = id == R_PAYLOAD_SHORT ? 8 : sizeof(ri);
		break;
	}
	case I_INDEX_RANGE:
	case I_ARGSZ_SHORT:
	case I_PAYLOAD_SHORT: {
		struct vfio_irq_info ii = {.argsz = sizeof(ii)};
		if (id == I_INDEX_RANGE)
			ii.index = d->num_irqs + 3;
		if (id == I_ARGSZ_SHORT) {
			ii.argsz = 4;
			f->may_accept =
				"a reply may give the size needed in argsz, the rest left out";
		}
		f->cmd = UVFIO_CMD_DEVICE_GET_IRQ_INFO;
		memcpy(f->body, &ii, sizeof(ii));
		f->len = id == I_PAYLOAD_SHORT ? 8 : sizeof(ii);
		break;
	}
	case Q_INDEX_RANGE ... Q_ARGSZ_SHORT: {
		if (irq < 0 && id != Q_INDEX_RANGE)
			return "the device has no interrupt with vectors";
		uint32_t n = irq >= 0 ? d->irq_count[irq] : 0;
		const uint32_t trig = VFIO_IRQ_SET_ACTION_TRIGGER;
		switch (id) {
		case Q_INDEX_RANGE:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, d->num_irqs + 3, 0, 1);
			break;
		case Q_PAST_COUNT:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, n, 1);
			break;
		case Q_OVERFLOW:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, UINT32_MAX, 2);
			break;
		case Q_FEWER_FDS: /* two vectors, one descriptor */
			for (uint32_t i = 0; i < d->num_irqs && i < 8 && n < 2; i++)
				if (d->irq_count[i] >= 2)
					irq = (int)i, n = d->irq_count[i];
			if (n < 2)
				return "no interrupt type with two vectors";
			cs_irq_set(f, VFIO_IRQ_SET_DATA_EVENTFD | trig, (uint32_t)irq, 0, 2);
			f->nfds = 1;
			break;
		case Q_MORE_FDS:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_EVENTFD | trig, (uint32_t)irq, 0, 1);
			f->nfds = 2;
			break;
		case Q_FDS_DATA_NONE:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, 0, 1);
			f->nfds = 1;
			break;
		case Q_TWO_DATA:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | trig,
				   (uint32_t)irq, 0, 1);
			f->body[f->len] = 1;
			f->len++;
			break;
		case Q_TWO_ACTIONS:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK | trig,
				   (uint32_t)irq, 0, 1);
			break;
		case Q_BOOL_MISSING:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_BOOL | trig, (uint32_t)irq, 0, 1);
			break;
		case Q_UNKNOWN_FLAG:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig | (1u << 9), (uint32_t)irq, 0,
				   1);
			break;
		case Q_TRUNCATED:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, 0, 1);
			f->len = 12;
			break;
		case Q_NOT_EVENTFD:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_EVENTFD | trig, (uint32_t)irq, 0, 1);
			f->nfds = 1;
			f->fdkind = FD_PIPE;
			f->may_accept = "the specification does not require the server to look at "
					"the descriptor's kind";
			break;
		case Q_ARGSZ_SHORT:
			cs_irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, 0, 1);
			PUT(f, 0, (uint32_t)8);
			f->may_accept = "the request's size is msg_size's, not argsz's";
			break;
		}
		break;
	}
	case A_PAST_END ... A_FDS:
		if (rr < 0 && id != A_INDEX_RANGE)
			return "the device has no readable region";
		switch (id) {
		case A_PAST_END:
			cs_region_access(f, UVFIO_CMD_REGION_READ, rsize - 2, (uint32_t)rr, 4, 0);
			break;
		case A_OVERFLOW:
			cs_region_access(f, UVFIO_CMD_REGION_READ, UINT64_MAX - 2, (uint32_t)rr, 8,
					 0);
			break;
		case A_COUNT_HUGE:
			cs_region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 0x80000000u, 0);
			break;
		case A_COUNT_ZERO:
			cs_region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 0, 0);
			f->may_accept = "a read of nothing is harmless";
			break;
		case A_INDEX_RANGE:
			cs_region_access(f, UVFIO_CMD_REGION_READ, 0, d->num_regions + 7, 4, 0);
			break;
		case A_ABSENT: {
			int ab = -1;
			for (uint32_t i = 0; i < d->num_regions && i < 16 && ab < 0; i++)
				if (!d->region[i].size)
					ab = (int)i;
			if (ab < 0)
				return "every region of the device has a size";
			cs_region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)ab, 4, 0);
			break;
		}
		case A_WITH_PAYLOAD:
			cs_region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 4, 4);
			f->may_accept = "a server may ignore bytes past the structure";
			break;
		case A_TRUNCATED:
			cs_region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 4, 0);
			f->len = 8;
			break;
		case A_FDS:
			cs_region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 4, 0);
			f->nfds = 2;
			f->may_accept =
				"a server may close descriptors it did not expect and go on";
			break;
		}
		break;
	case W_COUNT_MISMATCH ... W_OVERFLOW: {
		int wr = -1;
		if (CFG < d->num_regions && d->region[CFG].size &&
		    d->region[CFG].flags & VFIO_REGION_INFO_FLAG_WRITE)
			wr = CFG;
		if (wr < 0 && id != W_READ_ONLY && id != W_INDEX_RANGE)
			return "the device has no writable configuration space";
		uint64_t wsize = wr >= 0 ? d->region[wr].size : 0;
		switch (id) {
		case W_COUNT_MISMATCH:
			cs_region_access(f, UVFIO_CMD_REGION_WRITE, 0, (uint32_t)wr, 8, 4);
			break;
		case W_PAST_END:
			cs_region_access(f, UVFIO_CMD_REGION_WRITE, wsize - 2, (uint32_t)wr, 4, 4);
			break;
		case W_READ_ONLY: {
			int ro = -1;
			for (uint32_t i = 0; i < d->num_regions && i < 16 && ro < 0; i++)
				if (d->region[i].size &&
				    d->region[i].flags & VFIO_REGION_INFO_FLAG_READ &&
				    !(d->region[i].flags & VFIO_REGION_INFO_FLAG_WRITE))
					ro = (int)i;
			if (ro < 0)
				return "the device has no read-only region";
			cs_region_access(f, UVFIO_CMD_REGION_WRITE, 0, (uint32_t)ro, 4, 4);
			break;
		}
		case W_INDEX_RANGE:
			cs_region_access(f, UVFIO_CMD_REGION_WRITE, 0, d->num_regions + 7, 4, 4);
			break;
		case W_TRUNCATED:
			cs_region_access(f, UVFIO_CMD_REGION_WRITE, 0, (uint32_t)wr, 4, 0);
			f->len = 8;
			break;
		case W_OVERFLOW:
			cs_region_access(f, UVFIO_CMD_REGION_WRITE, UINT64_MAX - 2, (uint32_t)wr, 4,
					 4);
			break;
		}
		break;
	}
	case M_UNALIGNED_ADDR:
		cs_dma_map(f, 3, 0, DMA_IOVA + 1, 0x1000);
		break;
	case M_UNALIGNED_SIZE:
		cs_dma_map(f, 3, 0, DMA_IOVA, 100);
		break;
	case M_ZERO_SIZE:
		cs_dma_map(f, 3, 0, DMA_IOVA, 0);
		break;
	case M_WRAPS:
		cs_dma_map(f, 3, 0, UINT64_MAX - 0xfff, 0x2000);
		break;
	case M_UNKNOWN_FLAG:
		cs_dma_map(f, 3 | (1u << 7), 0, DMA_IOVA, 0x1000);
		break;
	case M_TWO_FDS:
		cs_dma_map(f, 3, 0, DMA_IOVA, 0x1000);
		f->nfds = 2;
		f->fdkind = FD_MEM;
		break;
	case M_ARGSZ_SHORT:
		cs_dma_map(f, 3, 0, DMA_IOVA, 0x1000);
		PUT(f, 0, (uint32_t)24);
		f->may_accept = "the request's size is msg_size's, not argsz's";
		break;
	case M_PAYLOAD_SHORT:
		cs_dma_map(f, 3, 0, DMA_IOVA, 0x1000);
		f->len = 24;
		break;
	case M_SHORT_FILE:
		cs_dma_map(f, 3, 0, DMA_IOVA, 0x10000);
		f->nfds = 1;
		f->fdkind = FD_MEM_SHORT;
		f->may_accept = "mmap() takes a range past the end of a file; a server that "
				"touches it gets SIGBUS";
		break;
	case M_NOT_MEMORY:
		cs_dma_map(f, 3, 0, DMA_IOVA, 0x1000);
		f->nfds = 1;
		f->fdkind = FD_EVENT;
		break;
	case M_OFFSET_OVERFLOW:
		cs_dma_map(f, 3, UINT64_MAX - 0xfff, DMA_IOVA, 0x2000);
		f->nfds = 1;
		f->fdkind = FD_MEM;
		break;
	case U_NEVER_MAPPED:
	case U_UNKNOWN_FLAG:
	case U_ALL_WITH_RANGE:
	case U_PAYLOAD_SHORT:
	case U_FDS: {
		struct uvfio_dma_unmap u = {
			.argsz = sizeof(u), .addr = DMA_IOVA + 0x900000, .size = 0x1000};
		if (id == U_UNKNOWN_FLAG) {
			u.flags = 1u << 5;
			f->may_accept = "flags is unused in this version of the specification";
		}
		if (id == U_ALL_WITH_RANGE) {
			u.flags = UVFIO_DMA_UNMAP_FLAG_ALL;
			f->may_accept = "the flag is VFIO's, outside the specification";
		}
		if (id == U_FDS)
			f->nfds = 1;
		f->cmd = UVFIO_CMD_DMA_UNMAP;
		memcpy(f->body, &u, sizeof(u));
		f->len = id == U_PAYLOAD_SHORT ? 12 : sizeof(u);
		break;
	}
	case X_WITH_PAYLOAD:
		f->cmd = UVFIO_CMD_DEVICE_RESET;
		f->len = 8;
		f->may_accept = "a server may ignore a payload it does not expect";
		break;
	case O_INDEX_RANGE:
	case O_COUNT:
	case O_ARGSZ_SHORT: {
		struct uvfio_region_io_fds_request q = {.argsz = 64, .index = 0};
		if (id == O_INDEX_RANGE)
			q.index = d->num_regions + 7;
		if (id == O_COUNT) {
			q.count = 3;
			f->may_accept = "a server may ignore the count of a request";
		}
		if (id == O_ARGSZ_SHORT) {
			q.argsz = 8;
			f->may_accept =
				"a reply may give the size needed in argsz, the rest left out";
		}
		f->cmd = UVFIO_CMD_DEVICE_GET_REGION_IO_FDS;
		memcpy(f->body, &q, sizeof(q));
		f->len = sizeof(q);
		break;
	}
	case E_GET_AND_SET:
	case E_ARGSZ_SHORT:
	case E_UNKNOWN:
	case E_PAYLOAD_SHORT: {
		struct uvfio_device_feature ft = {.argsz = 16,
						  .flags = VFIO_DEVICE_FEATURE_GET |
							   UVFIO_FEATURE_MIG_DEVICE_STATE};
		if (id == E_GET_AND_SET)
			ft.flags |= VFIO_DEVICE_FEATURE_SET;
		if (id == E_ARGSZ_SHORT)
			ft.argsz = 4;
		if (id == E_UNKNOWN)
			ft.flags = VFIO_DEVICE_FEATURE_GET | 0x7fff;
		f->cmd = UVFIO_CMD_DEVICE_FEATURE;
		memcpy(f->body, &ft, sizeof(ft));
		f->len = id == E_PAYLOAD_SHORT ? 4 : sizeof(ft) + 8;
		if (id == E_ARGSZ_SHORT)
			f->may_accept = "the request's size is msg_size's, not argsz's";
		break;
	}
	case G_DATA_READ_IDLE: {
		struct uvfio_mig_data md = {.argsz = 24, .size = 16};
		f->cmd = UVFIO_CMD_MIG_DATA_READ;
		memcpy(f->body, &md, sizeof(md));
		f->len = sizeof(md);
		break;
	}
	}
	return NULL;
}

/* Send form id; the server must refuse it. */
enum cf_result ck_refuse(struct cf_run *r, const struct cf_check *ck)
{
	struct form f;
	const char *skip = form(r, ck->arg, &f);
	if (skip) {
		cf_note(r, "%s", skip);
		return CF_SKIP;
	}
	if (!f.no_session && !cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	if (f.no_session && cf_connect(r, &r->conn) < 0) {
		cf_note(r, "cannot connect");
		return CF_SKIP;
	}
	struct cf_conn *c = &r->conn;
	/* before VERSION the count cannot be synchronised with the server's
	 * accept; the runner compares across the whole check then */
	int before = r->server_pid && !f.no_session ? cf_count_fds(r->server_pid) : -1;
	int fds[4];
	for (int i = 0; i < f.nfds; i++)
		fds[i] = cs_make_fd(f.fdkind);
	int id;
	if (f.raw_hdr) {
		id = ((struct uvfio_hdr *)f.body)->msg_id;
		if (!cf_write_split(c, f.body, f.len, fds, f.nfds))
			id = -1;
	} else {
		id = cf_send(c, f.cmd, f.flags, f.body, f.len, fds, f.nfds);
	}
	for (int i = 0; i < f.nfds; i++)
		close(fds[i]);
	struct cf_msg m = {0};
	int w = id < 0 ? 0 : cf_wait(c, (uint16_t)id, &m);
	if (w < 0)
		return cs_hang(r, "the request");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	enum cf_result res = CF_PASS;
	if (!cs_reply_shape(r, f.cmd, &m))
		res = CF_FAIL;
	else if (m.h.flags & UVFIO_FLAGS_ERROR)
		cf_note(r, "refused with %s", cs_errname(m.h.error_no));
	else if (f.may_accept)
		cf_note(r, "accepted, as it may: %s", f.may_accept);
	else {
		cf_note(r, "accepted bad input: a success reply of %zu bytes", m.len);
		res = CF_FAIL;
	}
	bool accepted = !(m.h.flags & UVFIO_FLAGS_ERROR);
	cf_msg_free(&m);
	/* what a granted map or interrupt holds is its own, not a leak */
	bool keeps = accepted && (f.cmd == UVFIO_CMD_DMA_MAP || f.cmd == UVFIO_CMD_DEVICE_SET_IRQS);
	if (res == CF_PASS && !keeps && !cs_fds_kept(r, before))
		res = CF_FAIL;
	if (accepted && f.cmd == UVFIO_CMD_DMA_MAP) {
		struct uvfio_dma_unmap u = {.argsz = sizeof(u), .flags = UVFIO_DMA_UNMAP_FLAG_ALL};
		if (cf_call(c, UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0, &m) > 0)
			cf_msg_free(&m);
	}
	return res;
}
