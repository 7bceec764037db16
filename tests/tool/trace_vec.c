/* SPDX-License-Identifier: BSD-3-Clause */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"
#include "trace_vec.h"
#include "util.h"
#include "vectors.h"

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

/* One direction's messages, taken as that direction's chunks arrive. */
struct stream {
	const struct vx_msg **m;
	size_t n, next; /* messages; the first not yet complete */
	uint64_t done;  /* bytes of the stream the chunks brought */
	uint64_t end;   /* stream position where message next ends */
};

size_t vec_session(const char *name, struct vmsg **out)
{
	json_object *root = tu_load_vectors(name);
	size_t n = 0;
	struct vmsg *v;
	if (json_object_is_type(root, json_type_array)) {
		size_t k = json_object_array_length(root);
		v = calloc(2 * k, sizeof(*v));
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
	/* messages and their descriptors as vx_load() reads them (tests/vectors.c);
	 * the order across directions from the chunks */
	struct vx_session ses;
	vx_load(name, &ses);
	json_object *chunks;
	assert_true(json_object_object_get_ex(root, "chunks", &chunks));
	struct stream st[2] = { 0 };
	for (int d = 0; d < 2; d++) {
		st[d].m = calloc(ses.n, sizeof(*st[d].m));
		for (size_t i = 0; i < ses.n; i++)
			if (ses.m[i].from_client == (d == TRACE_C2S))
				st[d].m[st[d].n++] = &ses.m[i];
		st[d].end = st[d].n ? st[d].m[0]->len : 0;
	}
	v = calloc(ses.n, sizeof(*v));
	for (size_t i = 0; i < json_object_array_length(chunks); i++) {
		json_object *c = json_object_array_get_idx(chunks, i);
		struct stream *s = &st[strcmp(str(c, "dir"), "client->server") ? TRACE_S2C : TRACE_C2S];
		const char *hex = str(c, "hex");
		s->done += hex ? strlen(hex) / 2 : (uint64_t)num(c, "bytes");
		while (s->next < s->n && s->end <= s->done) {
			const struct vx_msg *m = s->m[s->next++];
			v[n] = (struct vmsg){ .buf = malloc(m->len), .len = m->len,
					      .nfds = (unsigned)m->nfds,
					      .dir = m->from_client ? TRACE_C2S : TRACE_S2C };
			memcpy(v[n++].buf, m->bytes, m->len);
			if (s->next < s->n)
				s->end += s->m[s->next]->len;
		}
	}
	for (int d = 0; d < 2; d++) {
		if (st[d].next != st[d].n)
			fail_msg("%s: %zu messages not covered by its chunks", name,
				 st[d].n - st[d].next);
		free(st[d].m);
	}
	vx_free(&ses);
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
