/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The trace session: what the live relay and the pcap reader share, so both
 * print the same lines. It matches replies to the requests awaiting them
 * (by direction and id, the oldest first), hands both to the decoder, and
 * prints one line (or one JSON object) per message; it also writes the pcap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "trace.h"

struct pending {
	struct trace_req req;
	bool live;
};

struct trace_session {
	struct trace_opts o;
	struct pending *ring; /* TRACE_MAX_PENDING requests, oldest at head; some answered */
	uint64_t head, tail;
	uint64_t forgotten;   /* requests dropped from a full table */
	uint64_t messages;
	uint64_t t0;          /* time of the connection's first message */
	bool first;           /* the next message starts a connection */
	bool qemu_dma;        /* its client proposed 0.0: QEMU's DMA layout */
	bool pcap_failed;
};

struct trace_session *trace_session_new(const struct trace_opts *o)
{
	struct trace_session *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ring = calloc(TRACE_MAX_PENDING, sizeof(*t->ring));
	if (!t->ring) {
		free(t);
		return NULL;
	}
	t->o = *o;
	t->first = true;
	return t;
}

void trace_session_free(struct trace_session *t)
{
	if (!t)
		return;
	free(t->ring);
	free(t);
}

void trace_session_begin(struct trace_session *t)
{
	t->head = t->tail = 0;
	t->forgotten = t->messages = 0;
	t->first = true;
}

static struct pending *slot(struct trace_session *t, uint64_t i)
{
	return &t->ring[i % TRACE_MAX_PENDING];
}

/* Past the answered requests at the head. */
static void skip_answered(struct trace_session *t)
{
	while (t->head < t->tail && !slot(t, t->head)->live)
		t->head++;
}

/*
 * Keep a request until its reply. The table holds TRACE_MAX_PENDING
 * requests awaiting replies, oldest first; the answered ones between them
 * are squeezed out when the ring is full, so a request that waits long (a
 * server's DMA_READ while the client polls thousands of times) stays however
 * many others come and go. Only with TRACE_MAX_PENDING awaiting at once is
 * the oldest forgotten (and counted).
 */
static void track(struct trace_session *t, const struct trace_msg *m)
{
	if (t->tail - t->head == TRACE_MAX_PENDING) {
		uint64_t w = t->head;
		for (uint64_t i = t->head; i < t->tail; i++)
			if (slot(t, i)->live)
				*slot(t, w++) = *slot(t, i);
		t->tail = w;
	}
	if (t->tail - t->head == TRACE_MAX_PENDING) {
		t->forgotten++;
		t->head++;
		skip_answered(t);
	}
	struct pending *p = slot(t, t->tail++);
	trace_req_keep(m, &p->req);
	p->live = true;
}

/* The oldest request from the other side with this id, taken off the table. */
static bool match(struct trace_session *t, const struct trace_msg *m, uint16_t id,
		  struct trace_req *out)
{
	for (uint64_t i = t->head; i < t->tail; i++) {
		struct pending *p = slot(t, i);
		if (p->live && p->req.dir != m->dir && p->req.id == id) {
			*out = p->req;
			p->live = false;
			skip_answered(t);
			return true;
		}
	}
	return false;
}

/* ---- Text lines ---- */

static bool hex_key(const char *k)
{
	static const char *const keys[] = { "addr",	  "offset",	"size",	     "iova",
					    "length",	  "page_size",	"flags",     "cap_offset",
					    "datamatch", "user_data" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(k, keys[i]))
			return true;
	return false;
}

static void print_value(FILE *f, const char *key, json_object *v);

/* key=value pairs; a KEY_name string right after KEY is shown as KEY=NAME. */
static void print_fields(FILE *f, json_object *o, const char *sep)
{
	const char *keys[64];
	json_object *vals[64];
	size_t n = 0;
	json_object_object_foreach(o, k, v)
	{
		if (n < 64) {
			keys[n] = k;
			vals[n++] = v;
		}
	}
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(keys[i]);
		fputs(any ? sep : "", f);
		any = true;
		if (i + 1 < n && !strncmp(keys[i + 1], keys[i], kl) &&
		    !strcmp(keys[i + 1] + kl, "_name")) {
			fprintf(f, "%s=%s", keys[i], json_object_get_string(vals[i + 1]));
			i++;
			continue;
		}
		fprintf(f, "%s=", keys[i]);
		print_value(f, keys[i], vals[i]);
	}
}

static void print_value(FILE *f, const char *key, json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_int:
		if (hex_key(key))
			fprintf(f, "0x%llx", (unsigned long long)json_object_get_uint64(v));
		else
			fputs(json_object_to_json_string(v), f);
		break;
	case json_type_string: {
		const char *s = json_object_get_string(v);
		if (!strcmp(key, "data") && strlen(s) > 32)
			fprintf(f, "%.32s...", s);
		else
			fputs(s, f);
		break;
	}
	case json_type_array:
		fputc('[', f);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (i)
				fputc(',', f);
			print_value(f, key, json_object_array_get_idx(v, i));
		}
		fputc(']', f);
		break;
	case json_type_object:
		if (!strcmp(key, "caps")) { /* the peer's own JSON */
			fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
								     JSON_C_TO_STRING_NOSLASHESCAPE),
			      f);
			break;
		}
		fputc('{', f);
		print_fields(f, v, " ");
		fputc('}', f);
		break;
	default:
		fputs(json_object_to_json_string(v), f);
	}
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;
	json_object_object_get_ex(o, k, &v);
	return v;
}

static void print_line(struct trace_session *t, json_object *o)
{
	FILE *f = t->o.out;
	json_object *v;
	if ((v = get(o, "time")))
		fprintf(f, "%s ", json_object_get_string(v));
	fprintf(f, "%s%s", strcmp(json_object_get_string(get(o, "dir")), "c2s") ? "S>C" : "C>S",
		strcmp(json_object_get_string(get(o, "channel")), "twin") ? "" : "/twin");
	if (!(v = get(o, "id"))) {
		fputs(" -", f); /* not even a header */
	} else {
		fprintf(f, " #%s %s", json_object_get_string(v),
			json_object_get_string(get(o, "name")));
		const char *type = json_object_get_string(get(o, "type"));
		if (strcmp(type, "command"))
			fprintf(f, " %s", type);
		if (get(o, "no_reply"))
			fputs(" no-reply", f);
		if ((v = get(o, "errno")))
			fprintf(f, " %s(%s)", json_object_get_string(v),
				json_object_get_string(get(o, "error")));
	}
	json_object *args = get(o, "args");
	if (args && json_object_object_length(args)) {
		fputc(' ', f);
		print_fields(f, args, " ");
	}
	if ((v = get(o, "fds")) && json_object_get_int(v))
		fprintf(f, " fds=%d", json_object_get_int(v));
	if ((v = get(o, "captured")))
		fprintf(f, " captured=%s", json_object_get_string(v));
	if ((v = get(o, "latency_ns")))
		fprintf(f, " (%.1f us)", (double)json_object_get_int64(v) / 1e3);
	json_object *fs = get(o, "findings");
	for (size_t i = 0; fs && i < json_object_array_length(fs); i++) {
		json_object *x = json_object_array_get_idx(fs, i);
		fprintf(f, " ! %s: %s", json_object_get_string(get(x, "name")),
			json_object_get_string(get(x, "text")));
	}
	fputc('\n', f);
}

static void add_hex(json_object *o, const struct trace_msg *m)
{
	char *hex = malloc(2 * m->len + 1);
	if (!hex)
		return;
	json_object_object_add(o, "hex", json_object_new_string(tool_hex(hex, m->buf, m->len)));
	free(hex);
}

/* The layout of DMA messages follows the client's VERSION, as uvfio's
 * server decides it (docs/INTEROP.md). */
static void note_version(struct trace_session *t, const struct trace_msg *m)
{
	struct uvfio_hdr h;
	if (m->dir != TRACE_C2S || m->len < UVFIO_HDR_SIZE + 4)
		return;
	memcpy(&h, m->buf, sizeof(h));
	if (h.cmd == UVFIO_CMD_VERSION && !(h.flags & UVFIO_FLAGS_TYPE_MASK))
		t->qemu_dma = !memcmp(m->buf + UVFIO_HDR_SIZE, "\0\0\0\0", 4);
}

void trace_feed(struct trace_session *t, const struct trace_msg *msg)
{
	bool first = t->first;
	t->first = false;
	if (first) {
		t->t0 = msg->ts_ns;
		t->qemu_dma = false;
	}
	note_version(t, msg);
	struct trace_msg copy = *msg;
	copy.qemu_dma = t->qemu_dma;
	const struct trace_msg *m = &copy;
	t->messages++;
	if (t->o.pcap && !t->pcap_failed && pcap_write(t->o.pcap, m, first) < 0) {
		fprintf(stderr, "uvfio: writing the pcap failed (%s); going on without it\n",
			strerror(errno));
		t->pcap_failed = true;
	}
	if (t->o.quiet)
		return;
	struct uvfio_hdr h = { 0 };
	if (m->len >= UVFIO_HDR_SIZE)
		memcpy(&h, m->buf, sizeof(h));
	uint32_t type = h.flags & UVFIO_FLAGS_TYPE_MASK;
	struct trace_req req;
	bool matched = false;
	if (m->len >= UVFIO_HDR_SIZE && type == UVFIO_FLAGS_TYPE_REPLY)
		matched = match(t, m, h.msg_id, &req);
	json_object *o = trace_decode(m, matched ? &req : NULL);
	if (m->len >= UVFIO_HDR_SIZE && type == UVFIO_FLAGS_TYPE_COMMAND &&
	    !(h.flags & UVFIO_FLAGS_NO_REPLY) && h.msg_size >= UVFIO_HDR_SIZE)
		track(t, m);
	if (!o)
		return;
	if (m->ts_ns) {
		char ts[32];
		uint64_t rel = m->ts_ns >= t->t0 ? m->ts_ns - t->t0 : 0;
		snprintf(ts, sizeof(ts), "%llu.%06llu", (unsigned long long)(rel / 1000000000u),
			 (unsigned long long)(rel % 1000000000u / 1000u));
		json_object_object_add(o, "time", json_object_new_double_s((double)rel / 1e9, ts));
		if (matched && req.ts_ns && m->ts_ns >= req.ts_ns)
			json_object_object_add(o, "latency_ns",
					       json_object_new_int64((int64_t)(m->ts_ns - req.ts_ns)));
	}
	if (t->o.json) {
		if (t->o.hexdump)
			add_hex(o, m);
		fprintf(t->o.out, "%s\n",
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		print_line(t, o);
		if (t->o.hexdump)
			tool_hexdump(t->o.out, 0, m->buf, m->len);
	}
	json_object_put(o);
}

void trace_session_end(struct trace_session *t)
{
	if (t->o.quiet || t->first)
		return;
	uint64_t unanswered = t->forgotten;
	for (uint64_t i = t->head; i < t->tail; i++)
		unanswered += slot(t, i)->live;
	if (t->o.json) {
		json_object *o = json_object_new_object(), *list = json_object_new_array();
		json_object_object_add(o, "event", json_object_new_string("end"));
		json_object_object_add(o, "messages", json_object_new_uint64(t->messages));
		json_object_object_add(o, "unanswered", json_object_new_uint64(unanswered));
		for (uint64_t i = t->head; i < t->tail; i++) {
			struct pending *p = slot(t, i);
			if (!p->live)
				continue;
			json_object *r = json_object_new_object();
			json_object_object_add(r, "dir", json_object_new_string(
								 p->req.dir == TRACE_C2S ? "c2s" : "s2c"));
			json_object_object_add(r, "id", json_object_new_int(p->req.id));
			json_object_object_add(r, "name",
					       json_object_new_string(uvfio_cmd_name(p->req.cmd)));
			json_object_array_add(list, r);
		}
		json_object_object_add(o, "requests", list);
		fprintf(t->o.out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		fprintf(t->o.out, "-- end: %llu messages, %llu unanswered",
			(unsigned long long)t->messages, (unsigned long long)unanswered);
		unsigned shown = 0;
		for (uint64_t i = t->head; i < t->tail && shown < 8; i++) {
			struct pending *p = slot(t, i);
			if (p->live)
				fprintf(t->o.out, "%s%s #%u %s", shown++ ? ", " : ": ",
					p->req.dir == TRACE_C2S ? "C>S" : "S>C", p->req.id,
					uvfio_cmd_name(p->req.cmd));
		}
		fputs(unanswered > shown ? (shown ? ", ...\n" : "\n") : "\n", t->o.out);
	}
	t->first = true;
	t->head = t->tail = 0;
}
