/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the checks of a server share (checks.h): a reply judged, the
 * server's descriptors compared, requests built and made.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "checks.h"

enum cf_result cs_hang(struct cf_run *r, const char *what)
{
	r->hung = true;
	cf_note(r, "hang: no reply and no close within %d ms after %s", r->timeout_ms, what);
	return CF_FAIL;
}

/* A reply to a request of command cmd: the right command, a reply, an error
 * reply with an errno. false with a note if not. */
bool cs_reply_shape(struct cf_run *r, uint16_t cmd, const struct cf_msg *m)
{
	if ((m->h.flags & UVFIO_FLAGS_TYPE_MASK) != UVFIO_FLAGS_TYPE_REPLY) {
		cf_note(r, "wrong reply: the answer is not flagged as a reply (flags 0x%x)",
			m->h.flags);
		return false;
	}
	if (m->h.cmd != cmd) {
		cf_note(r, "wrong reply: command %u (%s) answers a request of %s", m->h.cmd,
			uvfio_cmd_name(m->h.cmd), uvfio_cmd_name(cmd));
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
bool cs_fds_kept(struct cf_run *r, int before)
{
	if (before < 0 || !r->server_pid)
		return true;
	struct uvfio_device_info di = {.argsz = 16};
	struct cf_msg m;
	if (cf_call(&r->conn, UVFIO_CMD_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0, &m) > 0)
		cf_msg_free(&m);
	int now = cf_count_fds(r->server_pid);
	for (int i = 0; i < 20 && now > before; i++) {
		usleep(10000);
		now = cf_count_fds(r->server_pid);
	}
	if (now > before) {
		cf_note(r,
			"descriptor leak: the server held %d descriptors before the request and "
			"%d after",
			before, now);
		return false;
	}
	return true;
}

int cs_make_fd(enum fdkind k)
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

/* A readable region with a size: configuration space if the device has it. */
int cs_readable_region(const struct cf_dev *d)
{
	if (CFG < d->num_regions && d->region[CFG].size && d->region[CFG].flags & 1)
		return CFG;
	for (uint32_t i = 0; i < d->num_regions && i < 16; i++)
		if (d->region[i].size && d->region[i].flags & VFIO_REGION_INFO_FLAG_READ)
			return (int)i;
	return -1;
}

int cs_irq_index(const struct cf_dev *d)
{
	static const int pref[] = {2, 1, 0};
	for (int i = 0; i < 3; i++)
		if ((uint32_t)pref[i] < d->num_irqs && d->irq_count[pref[i]])
			return pref[i];
	for (uint32_t i = 0; i < d->num_irqs && i < 8; i++)
		if (d->irq_count[i])
			return (int)i;
	return -1;
}

void cs_region_access(struct form *f, uint16_t cmd, uint64_t off, uint32_t reg, uint32_t count,
		      size_t data)
{
	f->cmd = cmd;
	struct uvfio_region_access a = {.offset = off, .region = reg, .count = count};
	memcpy(f->body, &a, sizeof(a));
	f->len = sizeof(a) + data;
}

void cs_irq_set(struct form *f, uint32_t flags, uint32_t index, uint32_t start, uint32_t count)
{
	f->cmd = UVFIO_CMD_DEVICE_SET_IRQS;
	struct vfio_irq_set s = {
		.argsz = sizeof(s), .flags = flags, .index = index, .start = start, .count = count};
	memcpy(f->body, &s, sizeof(s));
	f->len = sizeof(s);
}

void cs_dma_map(struct form *f, uint32_t flags, uint64_t off, uint64_t addr, uint64_t size)
{
	f->cmd = UVFIO_CMD_DMA_MAP;
	struct uvfio_dma_map m = {
		.argsz = sizeof(m), .flags = flags, .offset = off, .addr = addr, .size = size};
	memcpy(f->body, &m, sizeof(m));
	f->len = sizeof(m);
}

const char *cs_errname(uint32_t e)
{
	const char *n = strerrorname_np((int)e);
	return n ? n : "an unknown errno";
}

/* The reply to id is a success; a note and false otherwise. */
bool cs_ok_call_wait(struct cf_run *r, uint16_t id, uint16_t cmd, struct cf_msg *m,
		     const char *what)
{
	int w = cf_wait(&r->conn, id, m);
	if (w < 0) {
		cs_hang(r, what);
		return false;
	}
	if (w == 0) {
		cf_note(r, "the server closed the connection on %s", what);
		return false;
	}
	if (!cs_reply_shape(r, cmd, m)) {
		cf_msg_free(m);
		return false;
	}
	if (m->h.flags & UVFIO_FLAGS_ERROR) {
		cf_note(r, "%s refused with %s", what, cs_errname(m->h.error_no));
		cf_msg_free(m);
		return false;
	}
	return true;
}

/* Call and expect success; a note and false otherwise. */
bool cs_ok_call(struct cf_run *r, uint16_t cmd, const void *body, size_t len, const int *fds,
		int nfds, struct cf_msg *m, const char *what)
{
	int id = cf_send(&r->conn, cmd, 0, body, len, fds, nfds);
	if (id < 0) {
		cf_note(r, "the server closed the connection before %s", what);
		return false;
	}
	return cs_ok_call_wait(r, (uint16_t)id, cmd, m, what);
}

/* Read count bytes of region reg at off; false (noted) if not. */
bool cs_region_read(struct cf_run *r, uint32_t reg, uint64_t off, void *buf, uint32_t count)
{
	struct form f;
	cs_region_access(&f, UVFIO_CMD_REGION_READ, off, reg, count, 0);
	struct cf_msg m;
	if (!cs_ok_call(r, f.cmd, f.body, f.len, NULL, 0, &m, "REGION_READ"))
		return false;
	struct uvfio_region_access a;
	bool ok = m.len == 16 + count;
	if (ok) {
		memcpy(&a, m.body, 16);
		ok = a.offset == off && a.region == reg && a.count == count;
		memcpy(buf, m.body + 16, count);
	}
	if (!ok)
		cf_note(r,
			"wrong reply: a REGION_READ of %u bytes at 0x%llx of region %u answered "
			"with %zu bytes that do not echo the request",
			count, (unsigned long long)off, reg, m.len);
	cf_msg_free(&m);
	return ok;
}

bool cs_region_write(struct cf_run *r, uint32_t reg, uint64_t off, const void *buf, uint32_t count)
{
	struct form f;
	cs_region_access(&f, UVFIO_CMD_REGION_WRITE, off, reg, count, count);
	memcpy(f.body + 16, buf, count);
	struct cf_msg m;
	if (!cs_ok_call(r, f.cmd, f.body, f.len, NULL, 0, &m, "REGION_WRITE"))
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

bool cs_unmap(struct cf_run *r, uint64_t addr, uint64_t size)
{
	struct uvfio_dma_unmap u = {.argsz = sizeof(u), .addr = addr, .size = size};
	struct cf_msg m;
	if (!cs_ok_call(r, UVFIO_CMD_DMA_UNMAP, &u, sizeof(u), NULL, 0, &m, "DMA_UNMAP"))
		return false;
	/* "The server responds with the original DMA entry in the request." */
	bool ok = m.len >= sizeof(u) && !memcmp(m.body + 8, &u.addr, 16);
	if (!ok)
		cf_note(r,
			"wrong reply: the DMA_UNMAP reply (%zu bytes) does not hold the entry "
			"unmapped",
			m.len);
	cf_msg_free(&m);
	return ok;
}

bool cs_map(struct cf_run *r, uint64_t addr, uint64_t size, int fd, const char *what)
{
	struct form f;
	cs_dma_map(&f, 3, 0, addr, size);
	struct cf_msg m;
	if (!cs_ok_call(r, f.cmd, f.body, f.len, fd >= 0 ? &fd : NULL, fd >= 0, &m, what))
		return false;
	cf_msg_free(&m);
	return true;
}
