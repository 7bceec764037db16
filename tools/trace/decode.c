/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The trace decoder: one message into decoded fields. This file: the header,
 * the findings every message can have, and the helpers decode_cmds.c uses
 * for each command's payload. Nothing here trusts a byte: every read is
 * bounded by what was captured.
 */
#include <stdarg.h>
#include <string.h>

#include "tool.h"
#include "trace.h"

void dec_finding(struct dec *d, const char *name, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!d->findings)
		d->findings = json_object_new_array();
	json_object *f = json_object_new_object();
	json_object_object_add(f, "name", json_object_new_string(name));
	json_object_object_add(f, "text", json_object_new_string(text));
	json_object_array_add(d->findings, f);
}

bool dec_get(const struct dec *d, size_t off, size_t n, uint64_t *v)
{
	if (off > d->plen || n > d->plen - off)
		return false;
	uint8_t b[8] = { 0 };
	memcpy(b, d->p + off, n);
	/* host byte order, like the protocol */
	switch (n) {
	case 1: *v = b[0]; break;
	case 2: { uint16_t x; memcpy(&x, b, 2); *v = x; break; }
	case 4: { uint32_t x; memcpy(&x, b, 4); *v = x; break; }
	default: memcpy(v, b, 8);
	}
	return true;
}

void dec_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

void dec_named(json_object *o, const char *key, uint64_t v, const char *name)
{
	char k[64];
	dec_u64(o, key, v);
	snprintf(k, sizeof(k), "%s_name", key);
	json_object_object_add(o, k, json_object_new_string(name));
}

void dec_flags(json_object *o, const char *key, uint64_t v, const char *const *names,
	       unsigned nbits)
{
	char buf[256] = "";
	size_t n = 0;
	uint64_t rest = v;
	for (unsigned i = 0; i < nbits && i < 64; i++) {
		if (!(v & (1ull << i)) || !names[i])
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "|" : "", names[i]);
		rest &= ~(1ull << i);
		if (n >= sizeof(buf))
			break;
	}
	if (rest && n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - n, "%s%#llx", n ? "|" : "", (unsigned long long)rest);
	if (!v)
		snprintf(buf, sizeof(buf), "0");
	dec_named(o, key, v, buf);
}

/* At most this much data is shown as hex in the decoded fields (--hexdump
 * shows every byte). */
#define DATA_SHOWN 64u

void dec_data(struct dec *d, json_object *o, size_t off, uint64_t len)
{
	if (off >= d->plen)
		return;
	size_t n = d->plen - off < DATA_SHOWN ? d->plen - off : DATA_SHOWN;
	if (len < n)
		n = (size_t)len;
	if (!n)
		return;
	char hex[2 * DATA_SHOWN + 1];
	json_object_object_add(o, "data", json_object_new_string(tool_hex(hex, d->p + off, n)));
}

void dec_expect_size(struct dec *d, uint64_t want)
{
	if (d->psize != want)
		dec_finding(d, "size-mismatch", "%s %s has a %llu-byte payload, %llu expected",
			    uvfio_cmd_name(d->h.cmd), d->reply ? "reply" : "request",
			    (unsigned long long)d->psize, (unsigned long long)want);
}

void dec_expect_min(struct dec *d, uint64_t min)
{
	if (d->psize < min)
		dec_finding(d, "size-mismatch",
			    "%s %s has a %llu-byte payload, at least %llu expected",
			    uvfio_cmd_name(d->h.cmd), d->reply ? "reply" : "request",
			    (unsigned long long)d->psize, (unsigned long long)min);
}

static const char *dir_name(uint8_t dir)
{
	return dir == TRACE_C2S ? "c2s" : "s2c";
}

/* Commands go from the client, except DMA_READ/DMA_WRITE from the server. */
static bool server_command(unsigned cmd)
{
	return cmd == UVFIO_CMD_DMA_READ || cmd == UVFIO_CMD_DMA_WRITE;
}

static void header_findings(struct dec *d)
{
	const struct trace_msg *m = d->m;
	uint32_t type = d->h.flags & UVFIO_FLAGS_TYPE_MASK;
	if (d->h.flags & ~UVFIO_FLAGS_KNOWN)
		dec_finding(d, "reserved-flags", "reserved flag bits %#x are set",
			    d->h.flags & ~UVFIO_FLAGS_KNOWN);
	if (type != UVFIO_FLAGS_TYPE_COMMAND && type != UVFIO_FLAGS_TYPE_REPLY)
		dec_finding(d, "bad-type", "type %u is neither command (0) nor reply (1)", type);
	if (d->h.cmd >= UVFIO_CMD_MAX || !strcmp(uvfio_cmd_name(d->h.cmd), "UNKNOWN"))
		dec_finding(d, "unknown-command", "command %u is not in the specification",
			    d->h.cmd);
	else if (type == UVFIO_FLAGS_TYPE_COMMAND &&
		 server_command(d->h.cmd) != (m->dir == TRACE_S2C))
		dec_finding(d, "wrong-side", "%s is sent by the %s, not the %s",
			    uvfio_cmd_name(d->h.cmd), server_command(d->h.cmd) ? "server" : "client",
			    m->dir == TRACE_C2S ? "client" : "server");
	if (m->channel == TRACE_TWIN && (type == UVFIO_FLAGS_TYPE_COMMAND) == (m->dir == TRACE_C2S))
		dec_finding(d, "wrong-socket",
			    "the twin socket carries only server requests and their replies");
	if (!d->reply && (d->h.flags & UVFIO_FLAGS_ERROR))
		dec_finding(d, "error-on-command", "the error flag is set on a command");
	if (d->reply && (d->h.flags & UVFIO_FLAGS_NO_REPLY))
		dec_finding(d, "no-reply-on-reply", "the no-reply flag is set on a reply");
	if (d->error && d->psize)
		dec_finding(d, "error-payload",
			    "error reply carries %llu payload bytes; the specification sends only "
			    "the header",
			    (unsigned long long)d->psize);
	if (m->nfds > dec_fds_allowed(d))
		dec_finding(d, "unexpected-fds", "%u descriptor%s on a %s %s, which takes %u",
			    m->nfds, m->nfds == 1 ? "" : "s", uvfio_cmd_name(d->h.cmd),
			    d->reply ? "reply" : "request", dec_fds_allowed(d));
	if (d->reply && !d->req)
		dec_finding(d, "unknown-id", "reply to id %u, which no request awaits",
			    d->h.msg_id);
	else if (d->reply && d->req->cmd != d->h.cmd)
		dec_finding(d, "reply-mismatch", "reply to %s #%u carries command %s",
			    uvfio_cmd_name(d->req->cmd), d->h.msg_id, uvfio_cmd_name(d->h.cmd));
}

json_object *trace_decode(const struct trace_msg *m, const struct trace_req *req)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	struct dec d = { .m = m };
	json_object_object_add(o, "dir", json_object_new_string(dir_name(m->dir)));
	json_object_object_add(o, "channel",
			       json_object_new_string(m->channel == TRACE_TWIN ? "twin" : "main"));
	if (m->len < UVFIO_HDR_SIZE) {
		dec_u64(o, "captured", m->len);
		dec_finding(&d, "truncated", "the connection ended after %zu bytes of a header",
			    m->len);
		json_object_object_add(o, "findings", d.findings);
		return o;
	}
	memcpy(&d.h, m->buf, sizeof(d.h));
	uint32_t type = d.h.flags & UVFIO_FLAGS_TYPE_MASK;
	d.reply = type == UVFIO_FLAGS_TYPE_REPLY;
	d.error = d.reply && (d.h.flags & UVFIO_FLAGS_ERROR);
	d.req = d.reply ? req : NULL;
	d.p = m->buf + UVFIO_HDR_SIZE;
	size_t body = d.h.msg_size > UVFIO_HDR_SIZE ? d.h.msg_size - UVFIO_HDR_SIZE : 0;
	d.plen = m->len - UVFIO_HDR_SIZE < body ? m->len - UVFIO_HDR_SIZE : body;
	d.psize = body;
	dec_u64(o, "id", d.h.msg_id);
	dec_u64(o, "cmd", d.h.cmd);
	json_object_object_add(o, "name", json_object_new_string(uvfio_cmd_name(d.h.cmd)));
	if (type == UVFIO_FLAGS_TYPE_COMMAND || d.reply) {
		json_object_object_add(o, "type",
				       json_object_new_string(d.reply ? "reply" : "command"));
	} else {
		char t[16];
		snprintf(t, sizeof(t), "type%u", type);
		json_object_object_add(o, "type", json_object_new_string(t));
	}
	dec_u64(o, "size", d.h.msg_size);
	dec_u64(o, "flags", d.h.flags);
	if (d.h.flags & UVFIO_FLAGS_NO_REPLY)
		json_object_object_add(o, "no_reply", json_object_new_boolean(1));
	if (d.error) {
		dec_u64(o, "error", d.h.error_no);
		const char *en = d.h.error_no < 4096 ? strerrorname_np((int)d.h.error_no) : NULL;
		char eb[24];
		snprintf(eb, sizeof(eb), "errno%u", d.h.error_no);
		json_object_object_add(o, "errno", json_object_new_string(en ? en : eb));
	}
	dec_u64(o, "fds", m->nfds);
	if (m->len < m->wire_len || d.h.msg_size > m->wire_len)
		dec_u64(o, "captured", m->len);

	if (d.h.msg_size < UVFIO_HDR_SIZE) {
		dec_finding(&d, "bad-size",
			    "size %u is below the 16-byte header: the stream cannot be framed "
			    "past it",
			    d.h.msg_size);
	} else if (m->incomplete && m->wire_len < d.h.msg_size) {
		dec_finding(&d, "truncated", "the connection ended after %llu of its %u bytes",
			    (unsigned long long)m->wire_len, d.h.msg_size);
	}
	d.args = json_object_new_object();
	header_findings(&d);
	if (d.h.msg_size >= UVFIO_HDR_SIZE && !d.error &&
	    (type == UVFIO_FLAGS_TYPE_COMMAND || d.reply))
		dec_payload(&d);
	else if (d.h.msg_size >= UVFIO_HDR_SIZE && d.plen)
		dec_data(&d, d.args, 0, UINT64_MAX);
	json_object_object_add(o, "args", d.args);
	if (d.findings)
		json_object_object_add(o, "findings", d.findings);
	return o;
}

void trace_req_keep(const struct trace_msg *m, struct trace_req *req)
{
	struct uvfio_hdr h;
	memset(req, 0, sizeof(*req));
	if (m->len < UVFIO_HDR_SIZE)
		return;
	memcpy(&h, m->buf, sizeof(h));
	req->dir = m->dir;
	req->channel = m->channel;
	req->id = h.msg_id;
	req->cmd = h.cmd;
	req->size = h.msg_size;
	req->nfds = m->nfds;
	req->ts_ns = m->ts_ns;
	size_t body = h.msg_size > UVFIO_HDR_SIZE ? h.msg_size - UVFIO_HDR_SIZE : 0;
	size_t have = m->len - UVFIO_HDR_SIZE;
	size_t n = body < have ? body : have;
	req->len = (uint32_t)(n < TRACE_REQ_KEEP ? n : TRACE_REQ_KEEP);
	memcpy(req->body, m->buf + UVFIO_HDR_SIZE, req->len);
}
