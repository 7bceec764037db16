/* SPDX-License-Identifier: BSD-3-Clause */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"
#include "trace_vec.h"
#include "util.h"

const char *const vec_files[] = {
	"libvfio-user-gpio-pci-idio-16.json",	  "libvfio-user-server.json",
	"libvfio-user-migration-source.json",	  "libvfio-user-migration-destination.json",
	"qemu-client-with-libvfio-user-server.json", "qemu-client-dma-by-messages.json",
	"qemu-guest-linux-memdev.json",		  "qemu-guest-linux-dma-engine.json",
};
const size_t vec_nfiles = sizeof(vec_files) / sizeof(vec_files[0]);

static const char *str(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static int num(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int(v) : 0;
}

/* One direction's messages, consumed as that direction's chunks arrive. */
struct stream {
	struct vmsg *m;
	size_t n, next;  /* messages, the first not yet complete */
	uint64_t done;   /* bytes of the stream consumed by chunks */
	uint64_t end;    /* stream position where message next ends */
};

size_t vec_session(const char *name, struct vmsg **out)
{
	json_object *root = tu_load_vectors(name);
	size_t cap = 16, n = 0;
	struct vmsg *v = calloc(cap, sizeof(*v));
	if (json_object_is_type(root, json_type_array)) {
		size_t k = json_object_array_length(root);
		v = realloc(v, 2 * k * sizeof(*v));
		for (size_t i = 0; i < k; i++) {
			json_object *e = json_object_array_get_idx(root, i);
			v[n] = (struct vmsg){ .dir = TRACE_C2S };
			v[n].len = tu_unhex(str(e, "request_hex"), &v[n].buf);
			n++;
			v[n] = (struct vmsg){ .dir = TRACE_S2C, .nfds = (unsigned)num(e, "reply_fds") };
			v[n].len = tu_unhex(str(e, "reply_hex"), &v[n].buf);
			n++;
		}
		json_object_put(root);
		*out = v;
		return n;
	}
	json_object *msgs, *chunks;
	assert_true(json_object_object_get_ex(root, "messages", &msgs));
	assert_true(json_object_object_get_ex(root, "chunks", &chunks));
	struct stream st[2] = { 0 };
	size_t total = json_object_array_length(msgs);
	for (int d = 0; d < 2; d++)
		st[d].m = calloc(total, sizeof(struct vmsg));
	for (size_t i = 0; i < total; i++) {
		json_object *e = json_object_array_get_idx(msgs, i);
		int d = strcmp(str(e, "dir"), "client->server") ? TRACE_S2C : TRACE_C2S;
		struct vmsg *m = &st[d].m[st[d].n++];
		m->dir = (uint8_t)d;
		m->len = tu_unhex(str(e, "hex"), &m->buf);
	}
	for (int d = 0; d < 2; d++)
		st[d].end = st[d].n ? st[d].m[0].len : 0;
	v = realloc(v, total * sizeof(*v));
	for (size_t i = 0; i < json_object_array_length(chunks); i++) {
		json_object *c = json_object_array_get_idx(chunks, i);
		int d = strcmp(str(c, "dir"), "client->server") ? TRACE_S2C : TRACE_C2S;
		const char *hex = str(c, "hex");
		uint64_t bytes = hex ? strlen(hex) / 2 : (uint64_t)num(c, "bytes");
		struct stream *s = &st[d];
		s->done += bytes;
		/* descriptors go to the message holding the chunk's last byte */
		unsigned fds = (unsigned)num(c, "fds");
		while (s->next < s->n && s->end <= s->done) {
			if (s->end == s->done)
				s->m[s->next].nfds += fds, fds = 0;
			v[n++] = s->m[s->next++];
			if (s->next < s->n)
				s->end += s->m[s->next].len;
		}
		if (fds && s->next < s->n)
			s->m[s->next].nfds += fds;
	}
	for (int d = 0; d < 2; d++) {
		if (st[d].next != st[d].n)
			fail_msg("%s: %zu messages not covered by its chunks", name,
				 st[d].n - st[d].next);
		free(st[d].m);
	}
	json_object_put(root);
	*out = v;
	return n;
}

void vec_free(struct vmsg *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].buf);
	free(v);
}
