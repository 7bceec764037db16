/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The checks of a server: a table (at the end) of named checks, each on a
 * connection of its own. Most send one malformed form of a command, built
 * by form() from what the probe learnt of the device, and the server must
 * refuse it (an error reply or a close) without leaking what came with it;
 * a form the specification lets a server take is a pass with a note. The
 * valid uses, the sequences and DMA by messages are functions of their own.
 * What the runner adds to every check (a crash, a hang, a leak, a server
 * that no longer serves) is in cmd_conform.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conform.h"

#define CAPS_JSON "{\"capabilities\":{\"max_msg_fds\":16}}"
#define CFG 7 /* VFIO_PCI_CONFIG_REGION_INDEX */
#define DMA_IOVA 0x10000000ull

static enum cf_result hang(struct cf_run *r, const char *what)
{
	r->hung = true;
	cf_note(r, "hang: no reply and no close within %d ms after %s", r->timeout_ms, what);
	return CF_FAIL;
}

static const char *cmd_name(uint16_t c)
{
	static const char *n[] = { "0", "VERSION", "DMA_MAP", "DMA_UNMAP", "DEVICE_GET_INFO",
				   "DEVICE_GET_REGION_INFO", "DEVICE_GET_REGION_IO_FDS",
				   "DEVICE_GET_IRQ_INFO", "DEVICE_SET_IRQS", "REGION_READ",
				   "REGION_WRITE", "DMA_READ", "DMA_WRITE", "DEVICE_RESET",
				   "DIRTY_PAGES", "REGION_WRITE_MULTI", "DEVICE_FEATURE",
				   "MIG_DATA_READ", "MIG_DATA_WRITE" };
	return c < sizeof(n) / sizeof(n[0]) ? n[c] : "an unknown command";
}

/* A reply to a request of command cmd: the right command, a reply, an error
 * reply with an errno. false with a note if not. */
static bool reply_shape(struct cf_run *r, uint16_t cmd, const struct cf_msg *m)
{
	if ((m->h.flags & UVFIO_FLAGS_TYPE_MASK) != UVFIO_FLAGS_TYPE_REPLY) {
		cf_note(r, "wrong reply: the answer is not flagged as a reply (flags 0x%x)",
			m->h.flags);
		return false;
	}
	if (m->h.cmd != cmd) {
		cf_note(r, "wrong reply: command %u (%s) answers a request of %s", m->h.cmd,
			cmd_name(m->h.cmd), cmd_name(cmd));
		return false;
	}
	if (m->h.flags & UVFIO_FLAGS_ERROR && m->len) {
		/* the specification: "the reply message must only include the reply header" */
		cf_note(r, "wrong reply: an error reply (%s) with %zu bytes of payload",
			m->h.error_no ? strerrorname_np((int)m->h.error_no) : "errno 0", m->len);
		return false;
	}
	return true;
}

/* The server's descriptors grew from before, after a request on this
 * connection: sync with a GET_INFO (handled after whatever came first),
 * give a late close 200 ms. true if they did not. */
static bool fds_kept(struct cf_run *r, int before)
{
	if (before < 0 || !r->server_pid)
		return true;
	struct uvfio_device_info di = { .argsz = 16 };
	struct cf_msg m;
	if (cf_call(&r->conn, UVFIO_CMD_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0, &m) > 0)
		cf_msg_free(&m);
	int now = cf_count_fds(r->server_pid);
	for (int i = 0; i < 20 && now > before; i++) {
		usleep(10000);
		now = cf_count_fds(r->server_pid);
	}
	if (now > before) {
		cf_note(r, "descriptor leak: the server held %d descriptors before the request and "
			   "%d after",
			before, now);
		return false;
	}
	return true;
}

/* ---- malformed forms ---- */

enum fdkind { FD_EVENT, FD_PIPE, FD_MEM_SHORT, FD_MEM };

struct form {
	uint16_t cmd;
	uint32_t flags;
	uint8_t body[512];
	size_t len;
	int nfds;
	enum fdkind fdkind;
	bool raw_hdr;    /* body is the whole message, header included */
	bool no_session; /* before VERSION */
	const char *may_accept; /* the specification lets a server take it: why */
};

static int make_fd(enum fdkind k)
{
	if (k == FD_EVENT)
		return eventfd(0, EFD_CLOEXEC);
	if (k == FD_PIPE) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		close(p[1]);
		return p[0];
	}
	int fd = memfd_create("conform-dma", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, k == FD_MEM_SHORT ? 0x1000 : 0x10000) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#define PUT(f, off, v) memcpy((f)->body + (off), &(__typeof__(v)){ v }, sizeof(v))

/* A readable region with a size: configuration space if the device has it. */
static int readable_region(const struct cf_dev *d)
{
	if (CFG < d->num_regions && d->region[CFG].size && d->region[CFG].flags & 1)
		return CFG;
	for (uint32_t i = 0; i < d->num_regions && i < 16; i++)
		if (d->region[i].size && d->region[i].flags & VFIO_REGION_INFO_FLAG_READ)
			return (int)i;
	return -1;
}

static int irq_index(const struct cf_dev *d)
{
	static const int pref[] = { 2, 1, 0 };
	for (int i = 0; i < 3; i++)
		if ((uint32_t)pref[i] < d->num_irqs && d->irq_count[pref[i]])
			return pref[i];
	for (uint32_t i = 0; i < d->num_irqs && i < 8; i++)
		if (d->irq_count[i])
			return (int)i;
	return -1;
}

static void region_access(struct form *f, uint16_t cmd, uint64_t off, uint32_t reg,
			  uint32_t count, size_t data)
{
	f->cmd = cmd;
	struct uvfio_region_access a = { .offset = off, .region = reg, .count = count };
	memcpy(f->body, &a, sizeof(a));
	f->len = sizeof(a) + data;
}

static void irq_set(struct form *f, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count)
{
	f->cmd = UVFIO_CMD_DEVICE_SET_IRQS;
	struct vfio_irq_set s = { .argsz = sizeof(s), .flags = flags, .index = index,
				  .start = start, .count = count };
	memcpy(f->body, &s, sizeof(s));
	f->len = sizeof(s);
}

static void dma_map(struct form *f, uint32_t flags, uint64_t off, uint64_t addr, uint64_t size)
{
	f->cmd = UVFIO_CMD_DMA_MAP;
	struct uvfio_dma_map m = { .argsz = sizeof(m), .flags = flags, .offset = off,
				   .addr = addr, .size = size };
	memcpy(f->body, &m, sizeof(m));
	f->len = sizeof(m);
}

static void json_version(struct form *f, const char *json, bool nul)
{
	f->cmd = UVFIO_CMD_VERSION;
	f->no_session = true;
	struct uvfio_version v = { 0, 1 };
	memcpy(f->body, &v, 4);
	size_t n = strlen(json);
	memcpy(f->body + 4, json, n + (nul ? 1 : 0));
	f->len = 4 + n + (nul ? 1 : 0);
}

enum {
	V_SHORT, V_JSON_UNTERM, V_JSON_BROKEN, V_JSON_ARRAY, V_CAPS_NOT_OBJ, V_FDS_STRING,
	V_XFER_ZERO, V_PGSIZE_BAD, V_TWICE, V_WITH_FD,
	H_SIZE_SMALL, H_SIZE_HUGE, H_RESERVED_FLAGS, H_TYPE_RESERVED, H_UNKNOWN_CMD, H_CMD_ZERO,
	H_SERVER_CMD, H_ERROR_FLAG, S_BEFORE_VERSION,
	D_ARGSZ_SHORT, D_PAYLOAD_SHORT, D_PAYLOAD_LONG, D_FDS,
	R_INDEX_RANGE, R_INDEX_MAX, R_ARGSZ_SHORT, R_PAYLOAD_SHORT, R_FDS,
	I_INDEX_RANGE, I_ARGSZ_SHORT, I_PAYLOAD_SHORT,
	Q_INDEX_RANGE, Q_PAST_COUNT, Q_OVERFLOW, Q_FEWER_FDS, Q_MORE_FDS, Q_FDS_DATA_NONE,
	Q_TWO_DATA, Q_TWO_ACTIONS, Q_BOOL_MISSING, Q_UNKNOWN_FLAG, Q_TRUNCATED, Q_NOT_EVENTFD,
	Q_ARGSZ_SHORT,
	A_PAST_END, A_OVERFLOW, A_COUNT_HUGE, A_COUNT_ZERO, A_INDEX_RANGE, A_ABSENT,
	A_WITH_PAYLOAD, A_TRUNCATED, A_FDS,
	W_COUNT_MISMATCH, W_PAST_END, W_READ_ONLY, W_INDEX_RANGE, W_TRUNCATED, W_OVERFLOW,
	M_UNALIGNED_ADDR, M_UNALIGNED_SIZE, M_ZERO_SIZE, M_WRAPS, M_UNKNOWN_FLAG, M_TWO_FDS,
	M_ARGSZ_SHORT, M_SHORT_FILE, M_NOT_MEMORY, M_OFFSET_OVERFLOW, M_PAYLOAD_SHORT,
	U_NEVER_MAPPED, U_UNKNOWN_FLAG, U_ALL_WITH_RANGE, U_PAYLOAD_SHORT, U_FDS,
	X_WITH_PAYLOAD,
	O_INDEX_RANGE, O_COUNT, O_ARGSZ_SHORT,
	E_GET_AND_SET, E_ARGSZ_SHORT, E_UNKNOWN, E_PAYLOAD_SHORT,
	G_DATA_READ_IDLE,
};

/* Build form id for this device; NULL to go on, or why it is skipped. */
static const char *form(struct cf_run *r, long id, struct form *f)
{
	const struct cf_dev *d = &r->dev;
	memset(f, 0, sizeof(*f));
	int rr = readable_region(d), irq = irq_index(d);
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
	case V_JSON_BROKEN: json_version(f, "{\"capabilities\":{\"max_msg_fds\":", true); break;
	case V_JSON_ARRAY: json_version(f, "[1,2,3]", true); break;
	case V_CAPS_NOT_OBJ: json_version(f, "{\"capabilities\":5}", true); break;
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
		struct uvfio_device_info di = { .argsz = 16 };
		struct uvfio_hdr h = { .msg_id = 0x7700, .cmd = UVFIO_CMD_DEVICE_GET_INFO,
				       .msg_size = 32 };
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
	case H_UNKNOWN_CMD: f->cmd = 77; break;
	case H_CMD_ZERO: f->cmd = 0; break;
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
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = 0 };
		if (id == R_INDEX_RANGE)
			ri.index = d->num_regions + 7;
		if (id == R_INDEX_MAX)
			ri.index = UINT32_MAX;
		if (id == R_ARGSZ_SHORT) {
			ri.argsz = 16;
			f->may_accept = "a reply may give the size needed in argsz, the rest left out";
		}
		if (id == R_FDS) {
			f->nfds = 1;
			f->may_accept = "a server may close descriptors it did not expect and go on";
		}
		f->cmd = UVFIO_CMD_DEVICE_GET_REGION_INFO;
		memcpy(f->body, &ri, sizeof(ri));
		f->len = id == R_PAYLOAD_SHORT ? 8 : sizeof(ri);
		break;
	}
	case I_INDEX_RANGE:
	case I_ARGSZ_SHORT:
	case I_PAYLOAD_SHORT: {
		struct vfio_irq_info ii = { .argsz = sizeof(ii) };
		if (id == I_INDEX_RANGE)
			ii.index = d->num_irqs + 3;
		if (id == I_ARGSZ_SHORT) {
			ii.argsz = 4;
			f->may_accept = "a reply may give the size needed in argsz, the rest left out";
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
		case Q_INDEX_RANGE: irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, d->num_irqs + 3, 0, 1); break;
		case Q_PAST_COUNT: irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, n, 1); break;
		case Q_OVERFLOW: irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, UINT32_MAX, 2); break;
		case Q_FEWER_FDS: /* two vectors, one descriptor */
			for (uint32_t i = 0; i < d->num_irqs && i < 8 && n < 2; i++)
				if (d->irq_count[i] >= 2)
					irq = (int)i, n = d->irq_count[i];
			if (n < 2)
				return "no interrupt type with two vectors";
			irq_set(f, VFIO_IRQ_SET_DATA_EVENTFD | trig, (uint32_t)irq, 0, 2);
			f->nfds = 1;
			break;
		case Q_MORE_FDS:
			irq_set(f, VFIO_IRQ_SET_DATA_EVENTFD | trig, (uint32_t)irq, 0, 1);
			f->nfds = 2;
			break;
		case Q_FDS_DATA_NONE:
			irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, 0, 1);
			f->nfds = 1;
			break;
		case Q_TWO_DATA:
			irq_set(f, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | trig, (uint32_t)irq, 0, 1);
			f->body[f->len] = 1;
			f->len++;
			break;
		case Q_TWO_ACTIONS:
			irq_set(f, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK | trig, (uint32_t)irq, 0, 1);
			break;
		case Q_BOOL_MISSING: irq_set(f, VFIO_IRQ_SET_DATA_BOOL | trig, (uint32_t)irq, 0, 1); break;
		case Q_UNKNOWN_FLAG: irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig | (1u << 9), (uint32_t)irq, 0, 1); break;
		case Q_TRUNCATED:
			irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, 0, 1);
			f->len = 12;
			break;
		case Q_NOT_EVENTFD:
			irq_set(f, VFIO_IRQ_SET_DATA_EVENTFD | trig, (uint32_t)irq, 0, 1);
			f->nfds = 1;
			f->fdkind = FD_PIPE;
			f->may_accept = "the specification does not require the server to look at "
					"the descriptor's kind";
			break;
		case Q_ARGSZ_SHORT:
			irq_set(f, VFIO_IRQ_SET_DATA_NONE | trig, (uint32_t)irq, 0, 1);
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
		case A_PAST_END: region_access(f, UVFIO_CMD_REGION_READ, rsize - 2, (uint32_t)rr, 4, 0); break;
		case A_OVERFLOW:
			region_access(f, UVFIO_CMD_REGION_READ, UINT64_MAX - 2, (uint32_t)rr, 8, 0);
			break;
		case A_COUNT_HUGE: region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 0x80000000u, 0); break;
		case A_COUNT_ZERO:
			region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 0, 0);
			f->may_accept = "a read of nothing is harmless";
			break;
		case A_INDEX_RANGE:
			region_access(f, UVFIO_CMD_REGION_READ, 0, d->num_regions + 7, 4, 0);
			break;
		case A_ABSENT: {
			int ab = -1;
			for (uint32_t i = 0; i < d->num_regions && i < 16 && ab < 0; i++)
				if (!d->region[i].size)
					ab = (int)i;
			if (ab < 0)
				return "every region of the device has a size";
			region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)ab, 4, 0);
			break;
		}
		case A_WITH_PAYLOAD:
			region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 4, 4);
			f->may_accept = "a server may ignore bytes past the structure";
			break;
		case A_TRUNCATED:
			region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 4, 0);
			f->len = 8;
			break;
		case A_FDS:
			region_access(f, UVFIO_CMD_REGION_READ, 0, (uint32_t)rr, 4, 0);
			f->nfds = 2;
			f->may_accept = "a server may close descriptors it did not expect and go on";
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
		case W_COUNT_MISMATCH: region_access(f, UVFIO_CMD_REGION_WRITE, 0, (uint32_t)wr, 8, 4); break;
		case W_PAST_END: region_access(f, UVFIO_CMD_REGION_WRITE, wsize - 2, (uint32_t)wr, 4, 4); break;
		case W_READ_ONLY: {
			int ro = -1;
			for (uint32_t i = 0; i < d->num_regions && i < 16 && ro < 0; i++)
				if (d->region[i].size && d->region[i].flags & VFIO_REGION_INFO_FLAG_READ &&
				    !(d->region[i].flags & VFIO_REGION_INFO_FLAG_WRITE))
					ro = (int)i;
			if (ro < 0)
				return "the device has no read-only region";
			region_access(f, UVFIO_CMD_REGION_WRITE, 0, (uint32_t)ro, 4, 4);
			break;
		}
		case W_INDEX_RANGE: region_access(f, UVFIO_CMD_REGION_WRITE, 0, d->num_regions + 7, 4, 4); break;
		case W_TRUNCATED:
			region_access(f, UVFIO_CMD_REGION_WRITE, 0, (uint32_t)wr, 4, 0);
			f->len = 8;
			break;
		case W_OVERFLOW:
			region_access(f, UVFIO_CMD_REGION_WRITE, UINT64_MAX - 2, (uint32_t)wr, 4, 4);
			break;
		}
		break;
	}
	case M_UNALIGNED_ADDR: dma_map(f, 3, 0, DMA_IOVA + 1, 0x1000); break;
	case M_UNALIGNED_SIZE: dma_map(f, 3, 0, DMA_IOVA, 100); break;
	case M_ZERO_SIZE: dma_map(f, 3, 0, DMA_IOVA, 0); break;
	case M_WRAPS: dma_map(f, 3, 0, UINT64_MAX - 0xfff, 0x2000); break;
	case M_UNKNOWN_FLAG: dma_map(f, 3 | (1u << 7), 0, DMA_IOVA, 0x1000); break;
	case M_TWO_FDS:
		dma_map(f, 3, 0, DMA_IOVA, 0x1000);
		f->nfds = 2;
		f->fdkind = FD_MEM;
		break;
	case M_ARGSZ_SHORT:
		dma_map(f, 3, 0, DMA_IOVA, 0x1000);
		PUT(f, 0, (uint32_t)24);
		f->may_accept = "the request's size is msg_size's, not argsz's";
		break;
	case M_PAYLOAD_SHORT:
		dma_map(f, 3, 0, DMA_IOVA, 0x1000);
		f->len = 24;
		break;
	case M_SHORT_FILE:
		dma_map(f, 3, 0, DMA_IOVA, 0x10000);
		f->nfds = 1;
		f->fdkind = FD_MEM_SHORT;
		f->may_accept = "mmap() takes a range past the end of a file; a server that "
				"touches it gets SIGBUS";
		break;
	case M_NOT_MEMORY:
		dma_map(f, 3, 0, DMA_IOVA, 0x1000);
		f->nfds = 1;
		f->fdkind = FD_EVENT;
		break;
	case M_OFFSET_OVERFLOW:
		dma_map(f, 3, UINT64_MAX - 0xfff, DMA_IOVA, 0x2000);
		f->nfds = 1;
		f->fdkind = FD_MEM;
		break;
	case U_NEVER_MAPPED:
	case U_UNKNOWN_FLAG:
	case U_ALL_WITH_RANGE:
	case U_PAYLOAD_SHORT:
	case U_FDS: {
		struct uvfio_dma_unmap u = { .argsz = sizeof(u), .addr = DMA_IOVA + 0x900000,
					     .size = 0x1000 };
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
		struct uvfio_region_io_fds_request q = { .argsz = 64, .index = 0 };
		if (id == O_INDEX_RANGE)
			q.index = d->num_regions + 7;
		if (id == O_COUNT) {
			q.count = 3;
			f->may_accept = "a server may ignore the count of a request";
		}
		if (id == O_ARGSZ_SHORT) {
			q.argsz = 8;
			f->may_accept = "a reply may give the size needed in argsz, the rest left out";
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
		struct uvfio_device_feature ft = {
			.argsz = 16, .flags = VFIO_DEVICE_FEATURE_GET | UVFIO_FEATURE_MIG_DEVICE_STATE
		};
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
		struct uvfio_mig_data md = { .argsz = 24, .size = 16 };
		f->cmd = UVFIO_CMD_MIG_DATA_READ;
		memcpy(f->body, &md, sizeof(md));
		f->len = sizeof(md);
		break;
	}
	}
	return NULL;
}

static const char *errname(uint32_t e)
{
	const char *n = strerrorname_np((int)e);
	return n ? n : "an unknown errno";
}

/* Send form id; the server must refuse it. */
static enum cf_result ck_refuse(struct cf_run *r, const struct cf_check *ck)
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
		fds[i] = make_fd(f.fdkind);
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
	struct cf_msg m = { 0 };
	int w = id < 0 ? 0 : cf_wait(c, (uint16_t)id, &m);
	if (w < 0)
		return hang(r, "the request");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	enum cf_result res = CF_PASS;
	if (!reply_shape(r, f.cmd, &m))
		res = CF_FAIL;
	else if (m.h.flags & UVFIO_FLAGS_ERROR)
		cf_note(r, "refused with %s", errname(m.h.error_no));
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
	if (res == CF_PASS && !keeps && !fds_kept(r, before))
		res = CF_FAIL;
	if (accepted && f.cmd == UVFIO_CMD_DMA_MAP) {
		struct uvfio_dma_unmap u = { .argsz = sizeof(u), .flags = UVFIO_DMA_UNMAP_FLAG_ALL };
		if (cf_call(c, UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0, &m) > 0)
			cf_msg_free(&m);
	}
	return res;
}

/* ---- valid uses ---- */

/* The reply to id is a success; a note and false otherwise. */
static bool ok_call_wait(struct cf_run *r, uint16_t id, uint16_t cmd, struct cf_msg *m,
			 const char *what)
{
	int w = cf_wait(&r->conn, id, m);
	if (w < 0) {
		hang(r, what);
		return false;
	}
	if (w == 0) {
		cf_note(r, "the server closed the connection on %s", what);
		return false;
	}
	if (!reply_shape(r, cmd, m)) {
		cf_msg_free(m);
		return false;
	}
	if (m->h.flags & UVFIO_FLAGS_ERROR) {
		cf_note(r, "%s refused with %s", what, errname(m->h.error_no));
		cf_msg_free(m);
		return false;
	}
	return true;
}

/* Call and expect success; a note and false otherwise. */
static bool ok_call(struct cf_run *r, uint16_t cmd, const void *body, size_t len, const int *fds,
		    int nfds, struct cf_msg *m, const char *what)
{
	int id = cf_send(&r->conn, cmd, 0, body, len, fds, nfds);
	if (id < 0) {
		cf_note(r, "the server closed the connection before %s", what);
		return false;
	}
	return ok_call_wait(r, (uint16_t)id, cmd, m, what);
}

static enum cf_result major_unsupported(struct cf_run *r)
{
	uint8_t b[8] = { 1, 0, 0, 0 };
	struct cf_msg m;
	int w = cf_call(&r->conn, UVFIO_CMD_VERSION, b, 4, NULL, 0, &m);
	if (w < 0)
		return hang(r, "VERSION 1.0");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	enum cf_result res = CF_PASS;
	uint16_t major = 0;
	if (m.len >= 2)
		memcpy(&major, m.body, 2);
	if (!reply_shape(r, UVFIO_CMD_VERSION, &m))
		res = CF_FAIL;
	else if (m.h.flags & UVFIO_FLAGS_ERROR)
		cf_note(r, "refused with %s", errname(m.h.error_no));
	else if (major != 1) {
		cf_note(r, "wrong reply: major version %u to a proposal of 1 (\"must be the same as "
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
		json_object_object_foreach(caps, key, val) {
			(void)val;
			json_object *x;
			if ((!pcaps || !json_object_object_get_ex(pcaps, key, &x)) &&
			    strlen(extra) + strlen(key) + 3 < sizeof(extra))
				snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "%s%s",
					 extra[0] ? ", " : "", key);
		}
	}
	if (extra[0])
		cf_note(r, "the reply names capabilities not proposed (%s): the specification says "
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
			   : ck->arg == 2 ? "{\"capabilities\":{\"max_msg_fds\":16,\"x-conform-unknown\":"
					    "{\"a\":[1]}},\"x-conform\":true}"
					  : CAPS_JSON;
	uint16_t minor = ck->arg == 3 ? 0xffff : 1;
	if (ck->arg == 4) /* a major version nobody speaks */
		return major_unsupported(r);
	int n = cf_negotiate(&r->conn, minor, json, &m);
	if (n < 0)
		return hang(r, "VERSION");
	if (n == 0) {
		if (!m.body && !m.h.msg_size) {
			cf_note(r, "the server closed the connection");
			return CF_FAIL;
		}
		cf_note(r, "refused with %s", errname(m.h.error_no));
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
	struct uvfio_device_info di = { .argsz = 16 };
	struct cf_msg m;
	if (!ok_call(r, UVFIO_CMD_DEVICE_GET_INFO, &di, 16, NULL, 0, &m, "DEVICE_GET_INFO"))
		return CF_FAIL;
	bool ok = argsz_ok(r, &m, 16, 16);
	if (ok) {
		memcpy(&di, m.body, 16);
		if (di.flags & VFIO_DEVICE_FLAGS_PCI && di.num_regions < VFIO_PCI_NUM_REGIONS) {
			cf_note(r, "wrong reply: a PCI device with %u regions (VFIO_PCI_NUM_REGIONS "
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
static bool caps_ok(struct cf_run *r, uint32_t idx, const uint8_t *b, size_t len,
		    uint32_t cap_off)
{
	uint32_t at = cap_off, links = 0;
	while (at) {
		struct vfio_info_cap_header h;
		if (at < sizeof(struct vfio_region_info) || at + sizeof(h) > len || links++ > 64) {
			cf_note(r, "wrong reply: region %u's capability at %u lies outside the %zu "
				   "bytes of the reply",
				idx, at, len);
			return false;
		}
		memcpy(&h, b + at, sizeof(h));
		if (h.id != VFIO_REGION_INFO_CAP_SPARSE_MMAP && h.id != VFIO_REGION_INFO_CAP_TYPE) {
			cf_note(r, "region %u has capability %u, not one of vfio-user's", idx, h.id);
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
		struct vfio_region_info ri = { .argsz = 4096, .index = i };
		struct cf_msg m;
		if (!ok_call(r, UVFIO_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0, &m,
			     "DEVICE_GET_REGION_INFO"))
			return CF_FAIL;
		bool ok = argsz_ok(r, &m, 4096, sizeof(ri));
		if (ok) {
			memcpy(&ri, m.body, sizeof(ri));
			if (ri.index != i) {
				cf_note(r, "wrong reply: index %u to a request of region %u", ri.index, i);
				ok = false;
			} else if (m.nfds > 1) {
				cf_note(r, "wrong reply: region %u comes with %d descriptors", i, m.nfds);
				ok = false;
			} else if (m.nfds && !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
				cf_note(r, "wrong reply: region %u comes with a descriptor but is not "
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
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = i };
		struct cf_msg m;
		if (!ok_call(r, UVFIO_CMD_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), NULL, 0, &m,
			     "DEVICE_GET_IRQ_INFO"))
			return CF_FAIL;
		bool ok = argsz_ok(r, &m, sizeof(ii), sizeof(ii));
		if (ok) {
			memcpy(&ii, m.body, sizeof(ii));
			if (ii.index != i) {
				cf_note(r, "wrong reply: index %u to a request of type %u", ii.index, i);
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
	int irq = irq_index(&r->dev);
	if (irq < 0) {
		cf_note(r, "the device has no interrupt with vectors");
		return CF_SKIP;
	}
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	struct form f;
	irq_set(&f, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, (uint32_t)irq, 0, 1);
	int efd = eventfd(0, EFD_CLOEXEC);
	struct cf_msg m;
	bool ok = ok_call(r, f.cmd, f.body, f.len, &efd, 1, &m, "SET_IRQS with an eventfd");
	close(efd);
	if (!ok)
		return CF_FAIL;
	cf_msg_free(&m);
	/* arg 1: "If no file descriptors are provided, this de-assigns" */
	if (ck->arg == 1) {
		irq_set(&f, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, (uint32_t)irq, 0,
			1);
		if (!ok_call(r, f.cmd, f.body, f.len, NULL, 0, &m, "SET_IRQS with no eventfd"))
			return CF_FAIL;
		cf_msg_free(&m);
	}
	irq_set(&f, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, (uint32_t)irq, 0, 0);
	if (!ok_call(r, f.cmd, f.body, f.len, NULL, 0, &m, "SET_IRQS disabling it"))
		return CF_FAIL;
	cf_msg_free(&m);
	cf_note(r, ck->arg ? "interrupt type %d, vector 0 set, de-assigned without a descriptor, "
			     "disabled"
			   : "interrupt type %d, vector 0 set and disabled",
		irq);
	return CF_PASS;
}

/* Read count bytes of region reg at off; false (noted) if not. */
static bool region_read(struct cf_run *r, uint32_t reg, uint64_t off, void *buf, uint32_t count)
{
	struct form f;
	region_access(&f, UVFIO_CMD_REGION_READ, off, reg, count, 0);
	struct cf_msg m;
	if (!ok_call(r, f.cmd, f.body, f.len, NULL, 0, &m, "REGION_READ"))
		return false;
	struct uvfio_region_access a;
	bool ok = m.len == 16 + count;
	if (ok) {
		memcpy(&a, m.body, 16);
		ok = a.offset == off && a.region == reg && a.count == count;
		memcpy(buf, m.body + 16, count);
	}
	if (!ok)
		cf_note(r, "wrong reply: a REGION_READ of %u bytes at 0x%llx of region %u answered "
			   "with %zu bytes that do not echo the request",
			count, (unsigned long long)off, reg, m.len);
	cf_msg_free(&m);
	return ok;
}

static bool region_write(struct cf_run *r, uint32_t reg, uint64_t off, const void *buf,
			 uint32_t count)
{
	struct form f;
	region_access(&f, UVFIO_CMD_REGION_WRITE, off, reg, count, count);
	memcpy(f.body + 16, buf, count);
	struct cf_msg m;
	if (!ok_call(r, f.cmd, f.body, f.len, NULL, 0, &m, "REGION_WRITE"))
		return false;
	bool ok = m.len >= 16;
	if (ok) {
		struct uvfio_region_access a;
		memcpy(&a, m.body, 16);
		ok = a.offset == off && a.region == reg && a.count == count;
	}
	if (!ok)
		cf_note(r, "wrong reply: a REGION_WRITE reply that does not echo the request");
	cf_msg_free(&m);
	return ok;
}

static enum cf_result ck_region_read(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	int rr = readable_region(&r->dev);
	if (rr < 0) {
		cf_note(r, "the device has no readable region");
		return CF_SKIP;
	}
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t b[4];
	if (!region_read(r, (uint32_t)rr, 0, b, 4))
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
	if (!region_read(r, CFG, 0, &before, 4))
		return CF_FAIL;
	struct form f;
	region_access(&f, UVFIO_CMD_REGION_WRITE, 0, CFG, 4, 4);
	memcpy(f.body + 16, &ones, 4);
	struct cf_msg m;
	int w = cf_call(&r->conn, f.cmd, f.body, f.len, NULL, 0, &m);
	if (w < 0)
		return hang(r, "a write of the ids");
	if (w == 0) {
		cf_note(r, "the server closed the connection on a write of the ids");
		return CF_FAIL;
	}
	bool refused = m.h.flags & UVFIO_FLAGS_ERROR;
	cf_msg_free(&m);
	if (!region_read(r, CFG, 0, &after, 4))
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
		if (!region_read(r, CFG, o, cfg + o, 64))
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
	if (!region_read(r, CFG, 0, hdr, 64))
		return CF_FAIL;
	if ((hdr[0x0e] & 0x7f) != 0) {
		cf_note(r, "not a type 0 header");
		return CF_SKIP;
	}
	unsigned sized = 0;
	for (unsigned b = 0; b < 6; b++) {
		uint32_t orig, mask, ones = 0xffffffffu;
		memcpy(&orig, hdr + 0x10 + 4 * b, 4);
		if (!region_write(r, CFG, 0x10 + 4 * b, &ones, 4) ||
		    !region_read(r, CFG, 0x10 + 4 * b, &mask, 4) ||
		    !region_write(r, CFG, 0x10 + 4 * b, &orig, 4))
			return CF_FAIL;
		uint64_t size = r->dev.region[b].size;
		bool io = orig & 1, is64 = !io && (orig & 6) == 4;
		uint64_t m64 = mask & (io ? ~3u : ~0xfu);
		if (is64) {
			uint32_t hi_orig, hi;
			memcpy(&hi_orig, hdr + 0x14 + 4 * b, 4);
			if (b == 5 || !region_write(r, CFG, 0x14 + 4 * b, &ones, 4) ||
			    !region_read(r, CFG, 0x14 + 4 * b, &hi, 4) ||
			    !region_write(r, CFG, 0x14 + 4 * b, &hi_orig, 4))
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
	if (!region_read(r, CFG, 4, &cmdreg, 2) || !region_write(r, CFG, 4, &cmdreg, 2))
		return CF_FAIL;
	cf_note(r, "the command register written back as read (0x%04x)", cmdreg);
	return CF_PASS;
}

static bool unmap(struct cf_run *r, uint64_t addr, uint64_t size)
{
	struct uvfio_dma_unmap u = { .argsz = sizeof(u), .addr = addr, .size = size };
	struct cf_msg m;
	if (!ok_call(r, UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0, &m, "DMA_UNMAP"))
		return false;
	/* "The server responds with the original DMA entry in the request." */
	bool ok = m.len >= sizeof(u) && !memcmp(m.body + 8, &u.addr, 16);
	if (!ok)
		cf_note(r, "wrong reply: the DMA_UNMAP reply (%zu bytes) does not hold the entry "
			   "unmapped",
			m.len);
	cf_msg_free(&m);
	return ok;
}

static bool map(struct cf_run *r, uint64_t addr, uint64_t size, int fd, const char *what)
{
	struct form f;
	dma_map(&f, 3, 0, addr, size);
	struct cf_msg m;
	if (!ok_call(r, f.cmd, f.body, f.len, fd >= 0 ? &fd : NULL, fd >= 0, &m, what))
		return false;
	cf_msg_free(&m);
	return true;
}

/* arg 0: with a memory file; 1: without (DMA by messages). */
static enum cf_result ck_dma_map(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	int before = r->server_pid ? cf_count_fds(r->server_pid) : -1;
	int fd = ck->arg ? -1 : make_fd(FD_MEM);
	bool ok = map(r, DMA_IOVA, 0x10000, fd, ck->arg ? "DMA_MAP without a descriptor"
							  : "DMA_MAP of a memory file");
	if (fd >= 0)
		close(fd);
	if (!ok) {
		if (ck->arg && !r->hung && !r->conn.closed) {
			cf_note(r, "a server that does DMA only through mapped memory may refuse");
			return CF_PASS;
		}
		return CF_FAIL;
	}
	if (!unmap(r, DMA_IOVA, 0x10000))
		return CF_FAIL;
	if (!fds_kept(r, before))
		return CF_FAIL;
	cf_note(r, "mapped and unmapped 64 KiB");
	return CF_PASS;
}

/* arg: 0 overlap, 1 partial unmap, 2 unmap twice */
static enum cf_result ck_dma_seq(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	int fd = make_fd(FD_MEM);
	bool ok = map(r, DMA_IOVA, 0x10000, fd, "the first DMA_MAP");
	if (!ok) {
		close(fd);
		return CF_FAIL;
	}
	struct cf_msg m;
	int w;
	if (ck->arg == 0) {
		struct form f;
		dma_map(&f, 3, 0, DMA_IOVA + 0x8000, 0x10000);
		w = cf_call(&r->conn, f.cmd, f.body, f.len, &fd, 1, &m);
	} else {
		if (ck->arg == 2 && !unmap(r, DMA_IOVA, 0x10000)) {
			close(fd);
			return CF_FAIL;
		}
		struct uvfio_dma_unmap u = { .argsz = sizeof(u), .addr = DMA_IOVA + 0x4000,
					     .size = 0x4000 };
		if (ck->arg == 2)
			u = (struct uvfio_dma_unmap){ .argsz = sizeof(u), .addr = DMA_IOVA,
						      .size = 0x10000 };
		w = cf_call(&r->conn, UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0, &m);
	}
	close(fd);
	if (w < 0)
		return hang(r, "the request");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	enum cf_result res = reply_shape(r, m.h.cmd == UVFIO_CMD_DMA_MAP || ck->arg == 0
						    ? UVFIO_CMD_DMA_MAP
						    : UVFIO_CMD_DMA_UNMAP,
					 &m)
				     ? CF_PASS
				     : CF_FAIL;
	if (res == CF_PASS && m.h.flags & UVFIO_FLAGS_ERROR) {
		cf_note(r, "refused with %s", errname(m.h.error_no));
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
	struct uvfio_dma_unmap all = { .argsz = sizeof(all), .flags = UVFIO_DMA_UNMAP_FLAG_ALL };
	if (ck->arg != 2 && cf_call(&r->conn, UVFIO_CMD_DMA_UNMAP, &all, sizeof(all), NULL, 0, &m) > 0)
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
		dma_map(&f, 3, 0, DMA_IOVA + i * 0x2000, 0x1000);
		struct cf_msg m;
		int w = cf_call(&r->conn, f.cmd, f.body, f.len, NULL, 0, &m);
		if (w < 0)
			return hang(r, "a DMA_MAP");
		if (w == 0) {
			cf_note(r, "the server closed the connection at map %llu", (unsigned long long)i);
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
	if (!ok_call(r, UVFIO_CMD_DEVICE_RESET, NULL, 0, NULL, 0, &m, "DEVICE_RESET"))
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
		struct uvfio_region_io_fds_request q = { .argsz = 4096, .index = i };
		struct cf_msg m;
		int w = cf_call(&r->conn, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0,
				&m);
		if (w < 0)
			return hang(r, "DEVICE_GET_REGION_IO_FDS");
		if (w == 0) {
			cf_note(r, "the server closed the connection");
			return CF_FAIL;
		}
		if (!reply_shape(r, UVFIO_CMD_DEVICE_GET_REGION_IO_FDS, &m)) {
			cf_msg_free(&m);
			return CF_FAIL;
		}
		if (m.h.flags & UVFIO_FLAGS_ERROR) {
			cf_msg_free(&m);
			continue;
		}
		struct uvfio_region_io_fds_reply rep = { 0 };
		bool ok = m.len >= sizeof(rep);
		if (ok) {
			memcpy(&rep, m.body, sizeof(rep));
			/* entries of (argsz - 16) / count bytes, 40 today; "at least one
			 * file descriptor" with them */
			ok = rep.index == i && (!rep.count || (m.len >= sizeof(rep) + (size_t)rep.count * 24 &&
							       m.nfds >= 1));
		}
		if (!ok) {
			cf_note(r, "wrong reply: region %u's io fds reply (%zu bytes, %d descriptors) "
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
		.argsz = 16, .flags = VFIO_DEVICE_FEATURE_PROBE | UVFIO_FEATURE_MIGRATION
	};
	struct cf_msg m;
	int w = cf_call(&r->conn, UVFIO_CMD_DEVICE_FEATURE, &ft, sizeof(ft), NULL, 0, &m);
	if (w < 0)
		return hang(r, "DEVICE_FEATURE");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_FAIL;
	}
	if (!reply_shape(r, UVFIO_CMD_DEVICE_FEATURE, &m)) {
		cf_msg_free(&m);
		return CF_FAIL;
	}
	cf_note(r, m.h.flags & UVFIO_FLAGS_ERROR ? "no migration (refused with %s)"
						 : "migration offered%s",
		m.h.flags & UVFIO_FLAGS_ERROR ? errname(m.h.error_no) : "");
	cf_msg_free(&m);
	return CF_PASS;
}

/* ---- sequences ---- */

static enum cf_result ck_no_reply(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	struct uvfio_device_info di = { .argsz = 16 };
	int a = cf_send(&r->conn, UVFIO_CMD_DEVICE_GET_INFO, UVFIO_FLAGS_NO_REPLY, &di, 16, NULL, 0);
	int b = cf_send(&r->conn, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16, NULL, 0);
	struct cf_msg m;
	int w = a < 0 || b < 0 ? 0 : cf_recv(&r->conn, &m, r->timeout_ms);
	if (w < 0)
		return hang(r, "two DEVICE_GET_INFO");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_FAIL;
	}
	uint16_t id = m.h.msg_id;
	cf_msg_free(&m);
	if (id == a) {
		cf_note(r, "wrong reply: a reply to a request flagged no-reply");
		return CF_FAIL;
	}
	if (id != b) {
		cf_note(r, "wrong reply: id %u, expected %d", id, b);
		return CF_FAIL;
	}
	return CF_PASS;
}

/* arg: how many requests in one write; they come back in order. */
static enum cf_result ck_pipeline(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	int n = (int)ck->arg;
	uint8_t *buf = malloc((size_t)n * 32);
	uint16_t first = r->conn.next_id;
	struct uvfio_device_info di = { .argsz = 16 };
	for (int i = 0; i < n; i++)
		cf_build(buf + 32 * i, 32, r->conn.next_id++, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16);
	bool sent = cf_write_split(&r->conn, buf, (size_t)n * 32, NULL, 0);
	free(buf);
	for (int i = 0; sent && i < n; i++) {
		struct cf_msg m;
		int w = cf_recv(&r->conn, &m, r->timeout_ms);
		if (w < 0)
			return hang(r, "pipelined requests");
		if (w == 0)
			break;
		uint16_t id = m.h.msg_id;
		cf_msg_free(&m);
		if (id != (uint16_t)(first + i)) {
			cf_note(r, "wrong reply: reply %d has id %u, the order sent gives %u", i, id,
				(uint16_t)(first + i));
			return CF_FAIL;
		}
	}
	if (!sent || r->conn.closed) {
		cf_note(r, "the server closed the connection");
		return CF_FAIL;
	}
	cf_note(r, "%d replies in order", n);
	return CF_PASS;
}

static enum cf_result ck_bytewise(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (cf_connect(r, &r->conn) < 0)
		return CF_SKIP;
	uint8_t msg[128];
	uint8_t body[64];
	struct uvfio_version v = { 0, 1 };
	memcpy(body, &v, 4);
	memcpy(body + 4, CAPS_JSON, sizeof(CAPS_JSON));
	size_t n = cf_build(msg, sizeof(msg), r->conn.next_id++, UVFIO_CMD_VERSION, 0, body,
			    4 + sizeof(CAPS_JSON));
	struct uvfio_device_info di = { .argsz = 16 };
	n += cf_build(msg + n, sizeof(msg) - n, r->conn.next_id++, UVFIO_CMD_DEVICE_GET_INFO, 0, &di,
		      16);
	for (size_t i = 0; i < n; i++) {
		if (send(r->conn.fd, msg + i, 1, MSG_NOSIGNAL) != 1) {
			cf_note(r, "the server closed the connection at byte %zu", i);
			return CF_FAIL;
		}
		if (i % 8 == 0)
			usleep(200);
	}
	for (int k = 0; k < 2; k++) {
		struct cf_msg m;
		int w = cf_recv(&r->conn, &m, r->timeout_ms);
		if (w < 0)
			return hang(r, "messages written a byte at a time");
		if (w == 0 || m.h.flags & UVFIO_FLAGS_ERROR) {
			cf_note(r, "%s", w ? "refused" : "the server closed the connection");
			cf_msg_free(&m);
			return CF_FAIL;
		}
		cf_msg_free(&m);
	}
	cf_note(r, "VERSION and DEVICE_GET_INFO, a byte per write");
	return CF_PASS;
}

/* A message in two writes a little apart, cut at arg bytes. */
static enum cf_result ck_pieces(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t buf[32];
	struct uvfio_device_info di = { .argsz = 16 };
	uint16_t id = r->conn.next_id++;
	cf_build(buf, sizeof(buf), id, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16);
	size_t cut = (size_t)ck->arg;
	if (send(r->conn.fd, buf, cut, MSG_NOSIGNAL) != (ssize_t)cut)
		return CF_FAIL;
	usleep(20000);
	if (send(r->conn.fd, buf + cut, 32 - cut, MSG_NOSIGNAL) != (ssize_t)(32 - cut)) {
		cf_note(r, "the server closed the connection after the first %zu bytes", cut);
		return CF_FAIL;
	}
	struct cf_msg m;
	if (!ok_call_wait(r, id, UVFIO_CMD_DEVICE_GET_INFO, &m, "a DEVICE_GET_INFO in two pieces"))
		return CF_FAIL;
	cf_msg_free(&m);
	cf_note(r, "bytes 0-%zu, 20 ms, then the rest", cut - 1);
	return CF_PASS;
}

static enum cf_result ck_ids_reused(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t buf[64];
	struct uvfio_device_info di = { .argsz = 16 };
	cf_build(buf, 32, 0x4242, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16);
	cf_build(buf + 32, 32, 0x4242, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16);
	if (!cf_write_split(&r->conn, buf, 64, NULL, 0)) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	int got = 0;
	for (int k = 0; k < 2; k++) {
		struct cf_msg m;
		int w = cf_recv(&r->conn, &m, r->timeout_ms);
		if (w < 0)
			return hang(r, "two requests of one id");
		if (w == 0)
			break;
		got++;
		cf_msg_free(&m);
	}
	if (got == 2) {
		cf_note(r, "both answered");
		return CF_PASS;
	}
	cf_note(r, "the server closed the connection; the specification lets a client reuse ids, "
		   "even concurrently");
	return CF_FAIL;
}

/* A reply the server never asked for: ignored, refused or a close. */
static enum cf_result ck_stray_reply(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t buf[48];
	uint8_t data[16] = { 0 };
	cf_build(buf, sizeof(buf), 0x5151, UVFIO_CMD_DMA_READ, UVFIO_FLAGS_TYPE_REPLY, data, 16);
	if (!cf_write_split(&r->conn, buf, 32, NULL, 0)) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	struct uvfio_device_info di = { .argsz = 16 };
	struct cf_msg m;
	int w = cf_call(&r->conn, UVFIO_CMD_DEVICE_GET_INFO, &di, 16, NULL, 0, &m);
	if (w < 0)
		return hang(r, "a reply nobody asked for");
	if (w == 0) {
		cf_note(r, "the server closed the connection");
		return CF_PASS;
	}
	cf_msg_free(&m);
	for (int i = 0; i < r->conn.nstray; i++)
		if (r->conn.stray[i].h.msg_id == 0x5151)
			cf_note(r, "answered with an error");
	if (!r->noted)
		cf_note(r, "ignored");
	return CF_PASS;
}

static enum cf_result ck_close_inside(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	uint8_t buf[64];
	struct uvfio_region_access a = { .offset = 0, .region = CFG, .count = 4 };
	size_t n = cf_build(buf, sizeof(buf), 9, UVFIO_CMD_REGION_READ, 0, &a, 16);
	if (ck->arg == 0) {
		if (send(r->conn.fd, buf, n - 7, MSG_NOSIGNAL) < 0)
			cf_note(r, "the server closed the connection first");
	} else {
		/* many requests, none of the replies read */
		struct uvfio_device_info di = { .argsz = 16 };
		for (int i = 0; i < 256; i++) {
			n = cf_build(buf, sizeof(buf), (uint16_t)(100 + i), UVFIO_CMD_DEVICE_GET_INFO, 0,
				     &di, 16);
			if (send(r->conn.fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				break;
		}
	}
	cf_conn_close(&r->conn);
	cf_note(r, ck->arg ? "256 requests, then a close" : "a close 7 bytes before the end");
	return CF_PASS;
}

static enum cf_result ck_reconnect(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	for (int i = 0; i < 3; i++) {
		if (!cf_session(r, 1, CAPS_JSON))
			return CF_FAIL;
		struct uvfio_device_info di = { .argsz = 16 };
		struct cf_msg m;
		if (!ok_call(r, UVFIO_CMD_DEVICE_GET_INFO, &di, 16, NULL, 0, &m, "DEVICE_GET_INFO"))
			return CF_FAIL;
		cf_msg_free(&m);
		cf_conn_close(&r->conn);
	}
	cf_note(r, "three clients, one after the other");
	return CF_PASS;
}

/* Many requests, good and bad; the server's memory must not grow with them. */
static enum cf_result ck_flood(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	const int batch = 64, rounds = (int)ck->arg / 64;
	long rss0 = -1;
	for (int k = 0; k < rounds; k++) {
		if (k == rounds / 4 && r->server_pid)
			rss0 = cf_rss_kib(r->server_pid); /* after the warm-up */
		uint8_t buf[64 * 32];
		struct uvfio_device_info di = { .argsz = 16 };
		for (int i = 0; i < batch; i++)
			cf_build(buf + 32 * i, 32, r->conn.next_id++,
				 i % 2 ? UVFIO_CMD_DEVICE_GET_INFO : 77, 0, &di, 16);
		if (!cf_write_split(&r->conn, buf, sizeof(buf), NULL, 0)) {
			cf_note(r, "the server closed the connection in the flood");
			return CF_FAIL;
		}
		for (int i = 0; i < batch; i++) {
			struct cf_msg m;
			int w = cf_recv(&r->conn, &m, r->timeout_ms);
			if (w < 0)
				return hang(r, "a flood of requests");
			if (w == 0) {
				cf_note(r, "the server closed the connection in the flood");
				return CF_FAIL;
			}
			cf_msg_free(&m);
		}
	}
	long rss1 = r->server_pid ? cf_rss_kib(r->server_pid) : -1;
	if (rss0 < 0 || rss1 < 0) {
		cf_note(r, "%ld requests answered; the server's memory cannot be seen", ck->arg);
		return CF_PASS;
	}
	if (rss1 - rss0 > 8192) {
		cf_note(r, "memory growth: resident memory %ld KiB -> %ld KiB over %ld requests", rss0,
			rss1, ck->arg * 3 / 4);
		return CF_FAIL;
	}
	cf_note(r, "%ld requests answered, resident memory %ld KiB -> %ld KiB", ck->arg, rss0,
		rss1);
	return CF_PASS;
}

/* ---- DMA by messages: --dma-kick makes the device copy ---- */

/* Memory Space and Bus Master Enable in the Command register, as a driver
 * sets them before it lets a device master the bus (servers may refuse DMA
 * without it). */
static bool bus_master(struct cf_run *r)
{
	uint16_t cmd;
	if (CFG >= r->dev.num_regions || r->dev.region[CFG].size < 64)
		return true;
	if (!region_read(r, CFG, 4, &cmd, 2))
		return false;
	cmd |= 0x6;
	return region_write(r, CFG, 4, &cmd, 2);
}

static bool kick(struct cf_run *r, uint64_t src, uint64_t dst, uint64_t len)
{
	if (!bus_master(r))
		return false;
	for (int i = 0; i < r->kick.n; i++) {
		uint64_t v = 0;
		const char *s = r->kick.value[i];
		if (!strcmp(s, "{src}"))
			v = src;
		else if (!strcmp(s, "{dst}"))
			v = dst;
		else if (!strcmp(s, "{len}"))
			v = len;
		else
			v = strtoull(s, NULL, 0);
		if (!region_write(r, r->kick.region[i], r->kick.offset[i], &v, 8))
			return false;
	}
	return true;
}

/* arg: 0 specification's layout (minor 1), 1 QEMU's (minor 0), 2 error
 * replies, 3 withheld reply and a flood, 4 withheld reply and a close. */
static enum cf_result dma_msg(struct cf_run *r, const struct cf_check *ck, struct cf_conn *c,
			      uint8_t *mem, size_t msize);

/* The device's DMA through a mapped memory file: the copy lands in the
 * tool's own mapping of it; the unmap releases the file. */
static enum cf_result ck_dma_mapped(struct cf_run *r, const struct cf_check *ck)
{
	(void)ck;
	if (!r->kick.n) {
		cf_note(r, "the device does DMA only when told how (--dma-kick)");
		return CF_SKIP;
	}
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	const size_t msize = 0x10000, len = 0x3000;
	int fd = make_fd(FD_MEM);
	uint8_t *mem = fd >= 0 ? mmap(NULL, msize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
			       : MAP_FAILED;
	if (mem == MAP_FAILED) {
		if (fd >= 0)
			close(fd);
		cf_note(r, "cannot make the memory file");
		return CF_FAIL;
	}
	for (size_t i = 0; i < msize / 2; i++)
		mem[i] = (uint8_t)(i * 5 + 1);
	r->conn.dma = (struct cf_dma_window){ DMA_IOVA, msize, mem }; /* if it uses messages */
	int before = r->server_pid ? cf_count_fds(r->server_pid) : -1;
	enum cf_result res = CF_FAIL;
	bool mapped = map(r, DMA_IOVA, msize, fd, "DMA_MAP of a memory file");
	close(fd);
	if (mapped && kick(r, DMA_IOVA, DMA_IOVA + 0x8000, len)) {
		for (int t = 0; t < r->timeout_ms / 10 && memcmp(mem, mem + 0x8000, len); t++) {
			struct cf_msg m;
			if (cf_recv(&r->conn, &m, 10) > 0) {
				if (m.h.cmd == UVFIO_CMD_DMA_READ || m.h.cmd == UVFIO_CMD_DMA_WRITE)
					cf_serve_dma(&r->conn, &m);
				cf_msg_free(&m);
			}
		}
		if (memcmp(mem, mem + 0x8000, len))
			cf_note(r, "the copy did not arrive in the mapped memory");
		else if (unmap(r, DMA_IOVA, msize) && fds_kept(r, before)) {
			cf_note(r, "a copy of %zu bytes through mapped memory (%u DMA messages), the "
				   "file released at the unmap",
				len, r->conn.dma_served);
			res = CF_PASS;
		}
	}
	r->conn.dma.mem = NULL;
	munmap(mem, msize);
	return res;
}

/* Maps and unmaps of a memory file, over and over: no descriptor and no
 * memory may stay behind. */
static enum cf_result ck_map_churn(struct cf_run *r, const struct cf_check *ck)
{
	if (!cf_session(r, 1, CAPS_JSON))
		return r->hung ? CF_FAIL : CF_SKIP;
	int fd = make_fd(FD_MEM);
	int before = r->server_pid ? cf_count_fds(r->server_pid) : -1;
	long rss0 = -1;
	enum cf_result res = CF_PASS;
	for (long i = 0; i < ck->arg && res == CF_PASS; i++) {
		if (i == ck->arg / 4 && r->server_pid)
			rss0 = cf_rss_kib(r->server_pid); /* after the warm-up */
		if (!map(r, DMA_IOVA, 0x10000, fd, "DMA_MAP") || !unmap(r, DMA_IOVA, 0x10000))
			res = CF_FAIL;
	}
	close(fd);
	if (res != CF_PASS)
		return res;
	long rss1 = r->server_pid ? cf_rss_kib(r->server_pid) : -1;
	if (!fds_kept(r, before))
		return CF_FAIL;
	if (rss0 >= 0 && rss1 >= 0 && rss1 - rss0 > 8192) {
		cf_note(r, "memory growth: resident memory %ld KiB -> %ld KiB over %ld maps and unmaps",
			rss0, rss1, ck->arg * 3 / 4);
		return CF_FAIL;
	}
	cf_note(r, "%ld maps and unmaps of a memory file; resident memory %ld KiB -> %ld KiB",
		ck->arg, rss0, rss1);
	return CF_PASS;
}

static enum cf_result ck_dma_msg(struct cf_run *r, const struct cf_check *ck)
{
	if (!r->kick.n) {
		cf_note(r, "the device does DMA only when told how (--dma-kick)");
		return CF_SKIP;
	}
	/* a small max_data_xfer_size: the server must cut its DMA to it */
	if (!cf_session(r, ck->arg == 1 ? 0 : 1,
			"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":4096}}"))
		return r->hung ? CF_FAIL : CF_SKIP;
	struct cf_conn *c = &r->conn;
	c->own_max_xfer = 4096;
	c->qemu_layout = ck->arg == 1;
	/* the window's memory: the source in its first half */
	const size_t msize = 0x10000;
	uint8_t *mem = calloc(1, msize);
	if (!mem) {
		cf_note(r, "out of memory");
		return CF_FAIL;
	}
	for (size_t i = 0; i < msize / 2; i++)
		mem[i] = (uint8_t)(i * 7 + 3);
	c->dma = (struct cf_dma_window){ DMA_IOVA, msize, mem };
	enum cf_result res = dma_msg(r, ck, c, mem, msize);
	c->dma.mem = NULL;
	free(mem);
	return res;
}

static enum cf_result dma_msg(struct cf_run *r, const struct cf_check *ck, struct cf_conn *c,
			      uint8_t *mem, size_t msize)
{
	if (!map(r, DMA_IOVA, msize, -1, "DMA_MAP without a descriptor")) {
		if (r->hung || c->closed)
			return CF_FAIL;
		cf_note(r, "the server takes no map without a descriptor");
		return CF_SKIP;
	}
	const uint64_t len = 0x3000;
	if (ck->arg == 2) {
		c->dma.size = 0; /* every request reaches outside: error replies */
		c->dma_err[0] = 0;
		if (!kick(r, DMA_IOVA, DMA_IOVA + 0x8000, len))
			return CF_FAIL;
		/* the copy may start after the kick's reply */
		for (int t = 0; t < r->timeout_ms / 10 && !c->dma_seen; t++) {
			struct cf_msg m;
			if (cf_recv(c, &m, 10) > 0) {
				if (m.h.cmd == UVFIO_CMD_DMA_READ || m.h.cmd == UVFIO_CMD_DMA_WRITE)
					cf_serve_dma(c, &m);
				cf_msg_free(&m);
			}
		}
		if (!c->dma_seen) {
			cf_note(r, "the kick brought no DMA request");
			return CF_FAIL;
		}
		cf_note(r, "%u DMA requests got error replies and the server went on", c->dma_seen);
		return CF_PASS;
	}
	if (ck->arg >= 3) {
		if (!bus_master(r))
			return CF_FAIL;
		c->withhold = true;
		int id = -1;
		for (int i = 0; i < r->kick.n; i++) {
			uint64_t v = i == r->kick.n - 1 ? strtoull(r->kick.value[i], NULL, 0) : 0;
			const char *s = r->kick.value[i];
			v = !strcmp(s, "{src}")	  ? DMA_IOVA
			    : !strcmp(s, "{dst}") ? DMA_IOVA + 0x8000
			    : !strcmp(s, "{len}") ? len
						  : strtoull(s, NULL, 0);
			struct form f;
			region_access(&f, UVFIO_CMD_REGION_WRITE, r->kick.offset[i], r->kick.region[i], 8, 8);
			memcpy(f.body + 16, &v, 8);
			id = cf_send(c, f.cmd, 0, f.body, f.len, NULL, 0);
		}
		/* wait for the first DMA request, keep it unanswered */
		struct cf_msg m;
		for (int t = 0; t < 100 && !c->nwithheld; t++) {
			int w = cf_recv(c, &m, 50);
			if (w == 0) {
				cf_note(r, "the server closed the connection");
				return CF_FAIL;
			}
			if (w > 0) {
				if ((m.h.cmd == UVFIO_CMD_DMA_READ || m.h.cmd == UVFIO_CMD_DMA_WRITE) &&
				    !(m.h.flags & UVFIO_FLAGS_TYPE_REPLY))
					c->withheld[c->nwithheld++] = m;
				else if (c->nstray < 4)
					c->stray[c->nstray++] = m;
				else
					cf_msg_free(&m);
			}
		}
		if (!c->nwithheld) {
			cf_note(r, "the kick brought no DMA request");
			return CF_FAIL;
		}
		if (ck->arg == 4) {
			cf_conn_close(c);
			cf_note(r, "closed with a DMA request unanswered");
			return CF_PASS;
		}
		uint8_t buf[64 * 32];
		struct uvfio_device_info di = { .argsz = 16 };
		uint16_t first = c->next_id;
		for (int i = 0; i < 64; i++)
			cf_build(buf + 32 * i, 32, c->next_id++, UVFIO_CMD_DEVICE_GET_INFO, 0, &di, 16);
		cf_write_split(c, buf, sizeof(buf), NULL, 0);
		usleep(20000);
		c->withhold = false;
		for (int i = 0; i < c->nwithheld; i++) {
			cf_serve_dma(c, &c->withheld[i]);
			cf_msg_free(&c->withheld[i]);
		}
		c->nwithheld = 0;
		if (id >= 0) {
			int w = cf_wait(c, (uint16_t)id, &m);
			if (w < 0)
				return hang(r, "the withheld DMA reply");
			if (w > 0)
				cf_msg_free(&m);
		}
		for (int i = 0; i < 64; i++) {
			int w = cf_wait(c, (uint16_t)(first + i), &m);
			if (w < 0)
				return hang(r, "requests sent while a DMA reply was withheld");
			if (w == 0) {
				cf_note(r, "the server closed the connection");
				return CF_FAIL;
			}
			cf_msg_free(&m);
		}
		cf_note(r, "64 requests answered after the withheld DMA reply");
	} else {
		if (!kick(r, DMA_IOVA, DMA_IOVA + 0x8000, len))
			return CF_FAIL;
	}
	/* the copy may finish after the kick's reply: give it the timeout */
	for (int t = 0; t < r->timeout_ms / 10 && memcmp(mem, mem + 0x8000, len); t++) {
		struct cf_msg m;
		if (cf_recv(c, &m, 10) > 0) {
			if (m.h.cmd == UVFIO_CMD_DMA_READ || m.h.cmd == UVFIO_CMD_DMA_WRITE)
				cf_serve_dma(c, &m);
			cf_msg_free(&m);
		}
	}
	if (c->dma_err[0]) {
		cf_note(r, "wrong DMA request: %s", c->dma_err);
		return CF_FAIL;
	}
	if (memcmp(mem, mem + 0x8000, len)) {
		if (ck->arg == 1) {
			/* QEMU's layout is QEMU's, not the specification's */
			cf_note(r, "the server does not speak QEMU's DMA layout to a client of version "
				   "0.0 (QEMU's client cannot use its DMA by messages)");
			return CF_PASS;
		}
		cf_note(r, "the copy did not arrive (%u DMA requests served)", c->dma_served);
		return CF_FAIL;
	}
	if (ck->arg < 3)
		cf_note(r, "a copy of %llu bytes in %u DMA requests", (unsigned long long)len,
			c->dma_served);
	unmap(r, DMA_IOVA, msize);
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
	struct uvfio_device_info di = { .argsz = 16 };
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
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };
		if (cf_call(&c, UVFIO_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0, &m) <= 0)
			goto out;
		if (m.len >= sizeof(ri) && !(m.h.flags & UVFIO_FLAGS_ERROR)) {
			memcpy(&ri, m.body, sizeof(ri));
			dev->region[i].size = ri.size;
			dev->region[i].flags = ri.flags;
		}
		cf_msg_free(&m);
	}
	for (uint32_t i = 0; i < dev->num_irqs && i < 8; i++) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = i };
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

#define REFUSE(n, g, s, id) { n, g, SPEC s, ck_refuse, id }
#define NEG "negotiation"
#define VER "VFIO_USER_VERSION"

const struct cf_check cf_server_checks[] = {
	{ "version.valid", NEG, SPEC VER, ck_version, 0 },
	{ "version.no-capabilities", NEG, SPEC VER, ck_version, 1 },
	{ "version.unknown-keys", NEG, SPEC VER, ck_version, 2 },
	{ "version.minor-above", NEG, SPEC VER, ck_version, 3 },
	{ "version.major-unsupported", NEG, SPEC VER, ck_version, 4 },
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
	{ "header.no-reply-flag", "header", SPEC "Header", ck_no_reply, 0 },
	{ "device-info.valid", "device-info", SPEC "VFIO_USER_DEVICE_GET_INFO", ck_device_info, 0 },
	REFUSE("device-info.argsz-short", "device-info", "Message sizes", D_ARGSZ_SHORT),
	REFUSE("device-info.payload-short", "device-info", "VFIO_USER_DEVICE_GET_INFO",
	       D_PAYLOAD_SHORT),
	REFUSE("device-info.payload-long", "device-info", "VFIO_USER_DEVICE_GET_INFO",
	       D_PAYLOAD_LONG),
	REFUSE("device-info.descriptor", "device-info", "VFIO_USER_DEVICE_GET_INFO", D_FDS),
	{ "region-info.valid", "region-info", SPEC "VFIO_USER_DEVICE_GET_REGION_INFO",
	  ck_region_info, 0 },
	REFUSE("region-info.index-out-of-range", "region-info", "VFIO_USER_DEVICE_GET_REGION_INFO",
	       R_INDEX_RANGE),
	REFUSE("region-info.index-max", "region-info", "VFIO_USER_DEVICE_GET_REGION_INFO",
	       R_INDEX_MAX),
	REFUSE("region-info.argsz-short", "region-info", "Message sizes", R_ARGSZ_SHORT),
	REFUSE("region-info.payload-short", "region-info", "VFIO_USER_DEVICE_GET_REGION_INFO",
	       R_PAYLOAD_SHORT),
	REFUSE("region-info.descriptor", "region-info", "VFIO_USER_DEVICE_GET_REGION_INFO", R_FDS),
	{ "irq-info.valid", "irq-info", SPEC "VFIO_USER_DEVICE_GET_IRQ_INFO", ck_irq_info, 0 },
	REFUSE("irq-info.index-out-of-range", "irq-info", "VFIO_USER_DEVICE_GET_IRQ_INFO",
	       I_INDEX_RANGE),
	REFUSE("irq-info.argsz-short", "irq-info", "Message sizes", I_ARGSZ_SHORT),
	REFUSE("irq-info.payload-short", "irq-info", "VFIO_USER_DEVICE_GET_IRQ_INFO",
	       I_PAYLOAD_SHORT),
	{ "set-irqs.valid", "set-irqs", SPEC "VFIO_USER_DEVICE_SET_IRQS", ck_set_irqs, 0 },
	{ "set-irqs.eventfd-none-deassigns", "set-irqs", SPEC "VFIO_USER_DEVICE_SET_IRQS",
	  ck_set_irqs, 1 },
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
	{ "region-read.valid", "region-access", SPEC RR, ck_region_read, 0 },
	REFUSE("region-read.past-end", "region-access", RR, A_PAST_END),
	REFUSE("region-read.offset-overflow", "region-access", RR, A_OVERFLOW),
	REFUSE("region-read.count-huge", "region-access", RR, A_COUNT_HUGE),
	REFUSE("region-read.count-zero", "region-access", RR, A_COUNT_ZERO),
	REFUSE("region-read.index-out-of-range", "region-access", RR, A_INDEX_RANGE),
	REFUSE("region-read.absent-region", "region-access", RR, A_ABSENT),
	REFUSE("region-read.with-payload", "region-access", RR, A_WITH_PAYLOAD),
	REFUSE("region-read.truncated", "region-access", RR, A_TRUNCATED),
	REFUSE("region-read.descriptors", "region-access", RR, A_FDS),
	{ "region-write.valid", "region-access", SPEC RW, ck_region_write, 0 },
	REFUSE("region-write.count-mismatch", "region-access", RW, W_COUNT_MISMATCH),
	REFUSE("region-write.past-end", "region-access", RW, W_PAST_END),
	REFUSE("region-write.read-only-region", "region-access", RW, W_READ_ONLY),
	REFUSE("region-write.index-out-of-range", "region-access", RW, W_INDEX_RANGE),
	REFUSE("region-write.truncated", "region-access", RW, W_TRUNCATED),
	REFUSE("region-write.offset-overflow", "region-access", RW, W_OVERFLOW),
	{ "config.ids-read-only", "config", SPEC RW, ck_cfg_readonly, 0 },
	{ "config.capability-chain", "config", SPEC "Region Capabilities", ck_cfg_caps, 0 },
	{ "config.bar-sizing", "config", SPEC "VFIO_USER_DEVICE_GET_REGION_INFO", ck_cfg_bars, 0 },
#define DM "VFIO_USER_DMA_MAP"
#define DU "VFIO_USER_DMA_UNMAP"
	{ "dma-map.valid-descriptor", "dma-map", SPEC DM, ck_dma_map, 0 },
	{ "dma-map.valid-no-descriptor", "dma-map", SPEC DM, ck_dma_map, 1 },
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
	{ "dma-map.overlap", "dma-map", SPEC DM, ck_dma_seq, 0 },
	{ "dma-map.limit", "dma-map", SPEC DM, ck_dma_limit, 0 },
	{ "dma-unmap.partial", "dma-unmap", SPEC DU, ck_dma_seq, 1 },
	{ "dma-unmap.twice", "dma-unmap", SPEC DU, ck_dma_seq, 2 },
	REFUSE("dma-unmap.never-mapped", "dma-unmap", DU, U_NEVER_MAPPED),
	REFUSE("dma-unmap.unknown-flag", "dma-unmap", DU, U_UNKNOWN_FLAG),
	REFUSE("dma-unmap.all-with-range", "dma-unmap", DU, U_ALL_WITH_RANGE),
	REFUSE("dma-unmap.payload-short", "dma-unmap", DU, U_PAYLOAD_SHORT),
	REFUSE("dma-unmap.descriptor", "dma-unmap", DU, U_FDS),
	{ "reset.valid", "reset", SPEC "VFIO_USER_DEVICE_RESET", ck_reset, 0 },
	REFUSE("reset.with-payload", "reset", "VFIO_USER_DEVICE_RESET", X_WITH_PAYLOAD),
#define IOF "VFIO_USER_DEVICE_GET_REGION_IO_FDS"
	{ "io-fds.valid", "io-fds", SPEC IOF, ck_io_fds, 0 },
	REFUSE("io-fds.index-out-of-range", "io-fds", IOF, O_INDEX_RANGE),
	REFUSE("io-fds.count-nonzero", "io-fds", IOF, O_COUNT),
	REFUSE("io-fds.argsz-short", "io-fds", "Message sizes", O_ARGSZ_SHORT),
#define FT "VFIO_USER_DEVICE_FEATURE"
	{ "feature.probe-migration", "feature", SPEC FT, ck_feature_probe, 0 },
	REFUSE("feature.get-and-set", "feature", FT, E_GET_AND_SET),
	REFUSE("feature.argsz-short", "feature", "Message sizes", E_ARGSZ_SHORT),
	REFUSE("feature.unknown", "feature", FT, E_UNKNOWN),
	REFUSE("feature.payload-short", "feature", FT, E_PAYLOAD_SHORT),
	REFUSE("mig-data.read-when-running", "feature", "VFIO_USER_MIG_DATA_READ",
	       G_DATA_READ_IDLE),
#define SEQ "sequences"
	REFUSE("sequence.before-version", SEQ, "Connection Initiation", S_BEFORE_VERSION),
	{ "sequence.pipelined", SEQ, SPEC "Command Concurrency", ck_pipeline, 64 },
	{ "sequence.header-in-pieces", SEQ, SPEC "Header", ck_pieces, 7 },
	{ "sequence.body-in-pieces", SEQ, SPEC "Header", ck_pieces, 20 },
	{ "sequence.byte-at-a-time", SEQ, SPEC "Header", ck_bytewise, 0 },
	{ "sequence.ids-reused", SEQ, SPEC "Header", ck_ids_reused, 0 },
	{ "sequence.reply-to-server", SEQ, SPEC "Header", ck_stray_reply, 0 },
	{ "sequence.close-inside-message", SEQ, SPEC "Client Disconnection", ck_close_inside, 0 },
	{ "sequence.close-with-replies-unread", SEQ, SPEC "Client Disconnection", ck_close_inside,
	  1 },
	{ "sequence.reconnect", SEQ, SPEC "Client Disconnection", ck_reconnect, 0 },
	{ "sequence.flood", SEQ, SPEC "Security Considerations", ck_flood, 20480 },
	{ "sequence.map-unmap-churn", SEQ, SPEC "VFIO_USER_DMA_UNMAP", ck_map_churn, 2048 },
	{ "corpus.replay", "corpus", SPEC "Security Considerations", cf_ck_corpus, 0 },
#define DR "VFIO_USER_DMA_READ"
	{ "dma.copy-spec-layout", "dma", SPEC DR, ck_dma_msg, 0 },
	{ "dma.copy-qemu-layout", "dma", SPEC DR, ck_dma_msg, 1 },
	{ "dma.copy-mapped-memory", "dma", SPEC "Client memory access", ck_dma_mapped, 0 },
	{ "dma.error-replies", "dma", SPEC DR, ck_dma_msg, 2 },
	{ "dma.flood-while-withheld", "dma", SPEC "Command Concurrency", ck_dma_msg, 3 },
	{ "dma.close-while-withheld", "dma", SPEC "Client Disconnection", ck_dma_msg, 4 },
};
const size_t cf_n_server_checks = sizeof(cf_server_checks) / sizeof(cf_server_checks[0]);
