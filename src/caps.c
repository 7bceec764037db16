/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * caps.c — the capabilities JSON of VFIO_USER_VERSION and the negotiation
 * rules of the specification (major equal, minor not above the proposal,
 * reply capabilities a subset of the proposed ones).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void uvfio_caps_default(struct uvfio_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	caps->max_msg_fds = UVFIO_DEFAULT_MAX_MSG_FDS;
	caps->max_data_xfer_size = UVFIO_DEFAULT_MAX_DATA_XFER_SIZE;
	caps->max_dma_maps = UVFIO_DEFAULT_MAX_DMA_MAPS;
	caps->pgsizes = UVFIO_DEFAULT_PGSIZES;
	caps->twin_fd_index = -1;
}

void vu_caps_mine(struct uvfio_caps *caps, uint32_t max_msg_fds, uint32_t max_xfer)
{
	uvfio_caps_default(caps);
	caps->max_msg_fds = max_msg_fds ? VU_MIN(max_msg_fds, UVFIO_MAX_FDS_LIMIT) : VU_DEFAULT_FDS;
	caps->max_data_xfer_size = max_xfer ? VU_MIN(max_xfer, UVFIO_MAX_XFER_LIMIT)
					    : UVFIO_DEFAULT_MAX_DATA_XFER_SIZE;
}

#define FAIL(...)                                           \
	do {                                                \
		if (err && errlen)                          \
			snprintf(err, errlen, __VA_ARGS__); \
		r = -EINVAL;                                \
		goto out;                                   \
	} while (0)

/* A JSON integer within [min, max]; json-c keeps integers as int64 or
 * uint64, and doubles are refused rather than truncated. */
static int get_uint(json_object *o, const char *key, uint64_t min, uint64_t max, uint64_t *v,
		    char *err, size_t errlen)
{
	if (!json_object_is_type(o, json_type_int)) {
		snprintf(err, errlen, "capability \"%s\" must be an integer, not %s", key,
			 json_type_to_name(json_object_get_type(o)));
		return -EINVAL;
	}
	errno = 0;
	int64_t s = json_object_get_int64(o);
	uint64_t u;
	if (s < 0) {
		snprintf(err, errlen, "capability \"%s\" is negative (%lld)", key, (long long)s);
		return -EINVAL;
	}
	u = (s == INT64_MAX) ? json_object_get_uint64(o) : (uint64_t)s;
	if (u < min || u > max) {
		snprintf(err, errlen, "capability \"%s\" = %llu is outside [%llu, %llu]", key,
			 (unsigned long long)u, (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*v = u;
	return 0;
}

static int get_bool(json_object *o, const char *key, bool *v, char *err, size_t errlen)
{
	if (!json_object_is_type(o, json_type_boolean)) {
		snprintf(err, errlen, "capability \"%s\" must be a boolean, not %s", key,
			 json_type_to_name(json_object_get_type(o)));
		return -EINVAL;
	}
	*v = json_object_get_boolean(o);
	return 0;
}

int uvfio_caps_parse(const char *json, size_t len, struct uvfio_caps *caps, char *err,
		     size_t errlen)
{
	char dummy[1];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = 0;
	uvfio_caps_default(caps);
	/* The data is NUL-terminated on the wire; tolerate its absence and
	 * stop at the first NUL. */
	len = strnlen(json, len);
	if (len == 0)
		return 0;

	int r = 0;
	json_object *root = NULL;
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, json, (int)VU_MIN(len, (size_t)INT32_MAX));
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (jerr != json_tokener_success || !root)
		FAIL("version data is not valid JSON: %s", json_tokener_error_desc(jerr));
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (!strchr(" \t\r\n", json[i]))
			FAIL("version data has %zu bytes after its JSON object", len - i);
	if (!json_object_is_type(root, json_type_object))
		FAIL("version data must be a JSON object, not %s",
		     json_type_to_name(json_object_get_type(root)));

	json_object *c;
	if (!json_object_object_get_ex(root, "capabilities", &c))
		goto out;
	if (!json_object_is_type(c, json_type_object))
		FAIL("\"capabilities\" must be an object, not %s",
		     json_type_to_name(json_object_get_type(c)));

	uint64_t v;
	json_object *o;
	if (json_object_object_get_ex(c, "max_msg_fds", &o)) {
		if ((r = get_uint(o, "max_msg_fds", 0, 253, &v, err, errlen)) < 0)
			goto out;
		caps->max_msg_fds = (uint32_t)v;
	}
	if (json_object_object_get_ex(c, "max_data_xfer_size", &o)) {
		if ((r = get_uint(o, "max_data_xfer_size", 1, UINT32_MAX, &v, err, errlen)) < 0)
			goto out;
		caps->max_data_xfer_size = (uint32_t)v;
	}
	if (json_object_object_get_ex(c, "max_dma_maps", &o)) {
		if ((r = get_uint(o, "max_dma_maps", 0, UINT32_MAX, &v, err, errlen)) < 0)
			goto out;
		caps->max_dma_maps = (uint32_t)v;
	}
	if (json_object_object_get_ex(c, "pgsizes", &o)) {
		if ((r = get_uint(o, "pgsizes", 1, UINT64_MAX, &v, err, errlen)) < 0)
			goto out;
		caps->pgsizes = v;
	}
	if (json_object_object_get_ex(c, "write_multiple", &o)) {
		if ((r = get_bool(o, "write_multiple", &caps->write_multiple, err, errlen)) < 0)
			goto out;
	}
	if (json_object_object_get_ex(c, "twin_socket", &o)) {
		json_object *t;
		if (!json_object_is_type(o, json_type_object))
			FAIL("\"twin_socket\" must be an object, not %s",
			     json_type_to_name(json_object_get_type(o)));
		if (json_object_object_get_ex(o, "supported", &t) &&
		    (r = get_bool(t, "twin_socket.supported", &caps->twin_socket, err, errlen)) < 0)
			goto out;
		if (json_object_object_get_ex(o, "fd_index", &t)) {
			if ((r = get_uint(t, "twin_socket.fd_index", 0, 252, &v, err, errlen)) < 0)
				goto out;
			caps->twin_fd_index = (int32_t)v;
		}
	}
	if (json_object_object_get_ex(c, "migration", &o)) {
		json_object *t;
		if (!json_object_is_type(o, json_type_object))
			FAIL("\"migration\" must be an object, not %s",
			     json_type_to_name(json_object_get_type(o)));
		caps->migration = true;
		if (json_object_object_get_ex(o, "pgsize", &t)) {
			if ((r = get_uint(t, "migration.pgsize", 1, UINT64_MAX, &v, err, errlen)) < 0)
				goto out;
			if (!vu_is_pow2(v))
				FAIL("capability \"migration.pgsize\" = %llu is not a power of two",
				     (unsigned long long)v);
			caps->mig_pgsize = v;
		}
		if (json_object_object_get_ex(o, "max_bitmap_size", &t)) {
			if ((r = get_uint(t, "migration.max_bitmap_size", 1, UINT64_MAX, &v, err,
					  errlen)) < 0)
				goto out;
			caps->mig_max_bitmap_size = v;
		}
	}
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

int uvfio_caps_format(const struct uvfio_caps *caps, char *buf, size_t len)
{
	json_object *root = json_object_new_object();
	json_object *c = json_object_new_object();
	if (!root || !c) {
		json_object_put(root);
		json_object_put(c);
		return -ENOMEM;
	}
	json_object_object_add(root, "capabilities", c);
	json_object_object_add(c, "max_msg_fds", json_object_new_int64(caps->max_msg_fds));
	json_object_object_add(c, "max_data_xfer_size",
			       json_object_new_int64(caps->max_data_xfer_size));
	json_object_object_add(c, "max_dma_maps", json_object_new_int64(caps->max_dma_maps));
	json_object_object_add(c, "pgsizes", json_object_new_uint64(caps->pgsizes));
	if (caps->write_multiple)
		json_object_object_add(c, "write_multiple", json_object_new_boolean(1));
	if (caps->twin_socket) {
		json_object *t = json_object_new_object();
		json_object_object_add(t, "supported", json_object_new_boolean(1));
		if (caps->twin_fd_index >= 0)
			json_object_object_add(t, "fd_index",
					       json_object_new_int64(caps->twin_fd_index));
		json_object_object_add(c, "twin_socket", t);
	}
	if (caps->migration) {
		json_object *m = json_object_new_object();
		if (caps->mig_pgsize)
			json_object_object_add(m, "pgsize", json_object_new_uint64(caps->mig_pgsize));
		if (caps->mig_max_bitmap_size)
			json_object_object_add(m, "max_bitmap_size",
					       json_object_new_uint64(caps->mig_max_bitmap_size));
		json_object_object_add(c, "migration", m);
	}
	const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	int r;
	size_t n = s ? strlen(s) : 0;
	if (!s)
		r = -ENOMEM;
	else if (n + 1 > len)
		r = -ENOSPC;
	else {
		memcpy(buf, s, n + 1);
		r = (int)n;
	}
	json_object_put(root);
	return r;
}

int vu_negotiate_server(uint16_t major, uint16_t minor, const struct uvfio_caps *proposed,
			const struct uvfio_caps *mine, uint16_t *rminor, struct uvfio_caps *reply)
{
	if (major != UVFIO_PROTO_MAJOR)
		return -ENOTSUP;
	*rminor = VU_MIN(minor, (uint16_t)UVFIO_PROTO_MINOR);
	/* Limits describe what the server itself accepts; the features it
	 * answers are only those the client proposed. */
	*reply = *mine;
	reply->write_multiple = mine->write_multiple && proposed->write_multiple;
	reply->twin_socket = mine->twin_socket && proposed->twin_socket;
	reply->twin_fd_index = -1;
	reply->migration = mine->migration && proposed->migration;
	if (!reply->migration) {
		reply->mig_pgsize = 0;
		reply->mig_max_bitmap_size = 0;
	}
	return 0;
}

int vu_negotiate_check_reply(uint16_t pmajor, uint16_t pminor, const struct uvfio_caps *proposed,
			     uint16_t rmajor, uint16_t rminor, const struct uvfio_caps *reply,
			     unsigned nfds, char *err, size_t errlen)
{
	if (rmajor != pmajor) {
		snprintf(err, errlen, "server answered major version %u to a proposal of %u",
			 rmajor, pmajor);
		return -EPROTO;
	}
	if (rminor > pminor) {
		snprintf(err, errlen, "server answered minor version %u, above the proposed %u",
			 rminor, pminor);
		return -EPROTO;
	}
	if (reply->write_multiple && !proposed->write_multiple) {
		snprintf(err, errlen, "server enabled write_multiple, which was not proposed");
		return -EPROTO;
	}
	if (reply->migration && !proposed->migration) {
		snprintf(err, errlen, "server enabled migration, which was not proposed");
		return -EPROTO;
	}
	if (reply->twin_socket) {
		if (!proposed->twin_socket) {
			snprintf(err, errlen, "server enabled twin_socket, which was not proposed");
			return -EPROTO;
		}
		if (reply->twin_fd_index < 0 || (unsigned)reply->twin_fd_index >= nfds) {
			snprintf(err, errlen,
				 "server enabled twin_socket with fd_index %d but sent %u "
				 "descriptors",
				 reply->twin_fd_index, nfds);
			return -EPROTO;
		}
	} else if (reply->twin_fd_index >= 0) {
		snprintf(err, errlen, "server gave twin_socket.fd_index without supported=true");
		return -EPROTO;
	}
	if (reply->max_data_xfer_size == 0 || reply->pgsizes == 0) {
		snprintf(err, errlen, "server gave a zero max_data_xfer_size or pgsizes");
		return -EPROTO;
	}
	return 0;
}
