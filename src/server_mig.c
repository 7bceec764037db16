/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_mig.c — DEVICE_FEATURE (migration, migration state, DMA logging)
 * and the migration data stream (MIG_DATA_READ/WRITE). Complex state
 * transitions are broken into the specification's direct arcs, found by a
 * shortest-path search that never passes through a saving state.
 */
#include <string.h>

#include "internal.h"

#define NSTATES 8

static bool state_supported(struct uvfio_server *s, uint32_t st)
{
	uint64_t f = s->ops.migration_flags ? s->ops.migration_flags(s->opaque) : 0;
	switch (st) {
	case UVFIO_MIG_STATE_STOP:
	case UVFIO_MIG_STATE_RUNNING:
	case UVFIO_MIG_STATE_STOP_COPY:
	case UVFIO_MIG_STATE_RESUMING:
		return true;
	case UVFIO_MIG_STATE_PRE_COPY:
		return f & UVFIO_MIGRATION_PRE_COPY;
	default:
		return false; /* ERROR cannot be asked for; P2P states are not used */
	}
}

static bool direct_arc(uint32_t a, uint32_t b)
{
	static const uint8_t arcs[][2] = {
		{ UVFIO_MIG_STATE_RUNNING, UVFIO_MIG_STATE_STOP },
		{ UVFIO_MIG_STATE_STOP_COPY, UVFIO_MIG_STATE_STOP },
		{ UVFIO_MIG_STATE_RESUMING, UVFIO_MIG_STATE_STOP },
		{ UVFIO_MIG_STATE_PRE_COPY, UVFIO_MIG_STATE_RUNNING },
		{ UVFIO_MIG_STATE_STOP, UVFIO_MIG_STATE_RUNNING },
		{ UVFIO_MIG_STATE_RUNNING, UVFIO_MIG_STATE_PRE_COPY },
		{ UVFIO_MIG_STATE_STOP, UVFIO_MIG_STATE_STOP_COPY },
		{ UVFIO_MIG_STATE_PRE_COPY, UVFIO_MIG_STATE_STOP_COPY },
		{ UVFIO_MIG_STATE_STOP, UVFIO_MIG_STATE_RESUMING },
	};
	for (size_t i = 0; i < VU_ARRAY_SIZE(arcs); i++)
		if (arcs[i][0] == a && arcs[i][1] == b)
			return true;
	return false;
}

static bool saving(uint32_t st)
{
	return st == UVFIO_MIG_STATE_PRE_COPY || st == UVFIO_MIG_STATE_STOP_COPY;
}

/*
 * The arcs from `from` to `to`: writes up to NSTATES states into path
 * (excluding `from`) and returns how many, or -EINVAL when no path exists
 * (STOP_COPY -> PRE_COPY, or an unsupported state).
 */
int vu_mig_path(struct uvfio_server *s, uint32_t from, uint32_t to, uint32_t *path)
{
	if (from >= NSTATES || to >= NSTATES || !state_supported(s, to) ||
	    !state_supported(s, from))
		return -EINVAL;
	if (from == to)
		return 0;
	/* Explicitly not allowed, although a path through STOP exists. */
	if (from == UVFIO_MIG_STATE_STOP_COPY && to == UVFIO_MIG_STATE_PRE_COPY)
		return -EINVAL;
	int prev[NSTATES];
	uint32_t queue[NSTATES];
	unsigned qh = 0, qt = 0;
	for (int i = 0; i < NSTATES; i++)
		prev[i] = -1;
	prev[from] = (int)from;
	queue[qt++] = from;
	while (qh < qt) {
		uint32_t u = queue[qh++];
		/* Saving states may only start or end a path. */
		if (u != from && saving(u))
			continue;
		for (uint32_t v = 0; v < NSTATES; v++) {
			if (prev[v] >= 0 || !state_supported(s, v) || !direct_arc(u, v))
				continue;
			prev[v] = (int)u;
			queue[qt++] = v;
		}
	}
	if (prev[to] < 0)
		return -EINVAL;
	uint32_t rev[NSTATES];
	int n = 0;
	for (uint32_t v = to; v != from; v = (uint32_t)prev[v])
		rev[n++] = v;
	for (int i = 0; i < n; i++)
		path[i] = rev[n - 1 - i];
	return n;
}

static int set_state(struct uvfio_server *s, uint32_t to)
{
	uint32_t path[NSTATES];
	if (s->mig_state == UVFIO_MIG_STATE_ERROR)
		return -EINVAL; /* only a reset leaves ERROR */
	int n = vu_mig_path(s, s->mig_state, to, path);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		int r = s->ops.mig_transition ? s->ops.mig_transition(s->opaque, s->mig_state, path[i])
					      : 0;
		if (r < 0) {
			vu_warn(&s->log, "migration arc %u -> %u failed: %s", s->mig_state, path[i],
				uvfio_strerror(r));
			return r;
		}
		s->mig_state = path[i];
	}
	return 0;
}

int vu_srv_feature(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	struct uvfio_device_feature f;
	if (m->len < sizeof(f))
		return -EINVAL;
	memcpy(&f, m->body, sizeof(f));
	uint32_t feature = f.flags & VFIO_DEVICE_FEATURE_MASK;
	bool get = f.flags & VFIO_DEVICE_FEATURE_GET, set = f.flags & VFIO_DEVICE_FEATURE_SET;
	bool probe = f.flags & VFIO_DEVICE_FEATURE_PROBE;
	const uint8_t *data = m->body + sizeof(f);
	size_t len = m->len - sizeof(f);
	if (f.argsz < sizeof(f) || m->len > f.argsz ||
	    (f.flags & ~(VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE)) ||
	    (get && set && !probe) || (!get && !set && !probe))
		return -EINVAL;
	struct uvfio_device_feature *hdr = vu_reply_buf(rep, sizeof(f));
	if (!hdr)
		return -ENOMEM;
	*hdr = f;
	bool mig = s->ops.migration_flags != NULL;
	int r;
	switch (feature) {
	case UVFIO_FEATURE_MIGRATION: {
		if (!mig || set)
			return -ENOTSUP;
		if (probe)
			return 0;
		struct uvfio_feature_migration *out = vu_reply_buf(rep, sizeof(*out));
		if (!out)
			return -ENOMEM;
		out->flags = s->ops.migration_flags(s->opaque) | UVFIO_MIGRATION_STOP_COPY;
		break;
	}
	case UVFIO_FEATURE_MIG_DEVICE_STATE: {
		if (!mig)
			return -ENOTSUP;
		if (probe)
			return 0;
		struct uvfio_feature_mig_state st;
		/* room for the reply before the state changes */
		struct uvfio_feature_mig_state *out = vu_reply_buf(rep, sizeof(*out));
		if (!out)
			return -ENOMEM;
		if (set) {
			if (len != sizeof(st))
				return -EINVAL;
			memcpy(&st, data, sizeof(st));
			if ((r = set_state(s, st.device_state)) < 0)
				return r;
		} else if (len) {
			return -EINVAL;
		}
		out->device_state = s->mig_state;
		out->data_fd = UINT32_MAX;
		break;
	}
	case UVFIO_FEATURE_DMA_LOGGING_START:
	case UVFIO_FEATURE_DMA_LOGGING_STOP:
	case UVFIO_FEATURE_DMA_LOGGING_REPORT:
		r = vu_srv_dma_logging(s, feature, f.flags, data, len, f.argsz - sizeof(f), rep);
		if (r < 0)
			return r;
		break;
	default:
		return -ENOTSUP;
	}
	uint32_t total = 0;
	for (int i = 0; i < rep->n; i++)
		total += (uint32_t)rep->iov[i].iov_len;
	/* argsz is the room the client has for the reply, as in VFIO and
	 * libvfio-user: a reply that does not fit is refused. */
	if (total > f.argsz)
		return -EINVAL;
	hdr->argsz = total;
	return 0;
}

int vu_srv_mig_data_read(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	struct uvfio_mig_data q;
	if (m->len != sizeof(q))
		return -EINVAL;
	memcpy(&q, m->body, sizeof(q));
	if (!s->ops.mig_read || !saving(s->mig_state))
		return -EINVAL;
	if (q.size > s->mine.max_data_xfer_size || q.argsz < sizeof(q))
		return -EINVAL;
	uint8_t *out = vu_reply_buf(rep, sizeof(q) + q.size);
	if (!out)
		return -ENOMEM;
	ssize_t n = s->ops.mig_read(s->opaque, out + sizeof(q), q.size);
	if (n < 0)
		return (int)n;
	if ((size_t)n > q.size)
		return -EIO;
	q.size = (uint32_t)n;
	q.argsz = (uint32_t)(sizeof(q) + (size_t)n);
	memcpy(out, &q, sizeof(q));
	rep->iov[rep->n - 1].iov_len = q.argsz;
	return 0;
}

int vu_srv_mig_data_write(struct uvfio_server *s, struct vu_msg *m, struct vu_reply *rep)
{
	(void)rep;
	struct uvfio_mig_data q;
	if (m->len < sizeof(q))
		return -EINVAL;
	memcpy(&q, m->body, sizeof(q));
	if (q.size != m->len - sizeof(q) || q.size > s->mine.max_data_xfer_size)
		return -EINVAL;
	if (!s->ops.mig_write || s->mig_state != UVFIO_MIG_STATE_RESUMING)
		return -EINVAL;
	return s->ops.mig_write(s->opaque, m->body + sizeof(q), q.size);
}
