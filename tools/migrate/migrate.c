/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * migrate.c — live migration, snapshot save and load (see migrate.h). The
 * stream is read in chunks on the calling thread and handed to a writer
 * thread through a small ring, so reading from one device and writing to
 * the other overlap.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "migrate.h"

#define NBUF 2
#define DEFAULT_CHUNK (1u << 20)
#define FILE_MAGIC "UVFIOSNP"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void mig_tune_process(void)
{
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

/* ---- The writer thread ------------------------------------------------------------- */

struct mover {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started, quit;
	int err; /* the first sink error; later chunks are dropped */
	int (*sink)(void *arg, const void *buf, size_t len);
	void *arg;
	uint8_t *buf[NBUF];
	size_t len[NBUF];
	unsigned head, count; /* filled slots, oldest at head */
	size_t chunk;
};

static void *mover_main(void *p)
{
	struct mover *mv = p;
	pthread_mutex_lock(&mv->mu);
	for (;;) {
		while (!mv->count && !mv->quit)
			pthread_cond_wait(&mv->cv, &mv->mu);
		if (!mv->count)
			break;
		unsigned i = mv->head;
		int err = mv->err;
		pthread_mutex_unlock(&mv->mu);
		int r = err ? 0 : mv->sink(mv->arg, mv->buf[i], mv->len[i]);
		pthread_mutex_lock(&mv->mu);
		if (r < 0 && !mv->err)
			mv->err = r;
		mv->head = (mv->head + 1) % NBUF;
		mv->count--;
		pthread_cond_broadcast(&mv->cv);
	}
	pthread_mutex_unlock(&mv->mu);
	return NULL;
}

/* The ring's buffers are mapped populated: faulting a MiB in page by page
 * costs more here than moving it. */
static void mover_unmap(struct mover *mv)
{
	for (int i = 0; i < NBUF; i++)
		if (mv->buf[i])
			munmap(mv->buf[i], mv->chunk);
}

static int mover_start(struct mover *mv, size_t chunk, int (*sink)(void *, const void *, size_t),
		       void *arg)
{
	memset(mv, 0, sizeof(*mv));
	mv->sink = sink;
	mv->arg = arg;
	mv->chunk = chunk;
	for (int i = 0; i < NBUF; i++) {
		void *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED) {
			mover_unmap(mv);
			return -ENOMEM;
		}
		mv->buf[i] = p;
	}
	pthread_mutex_init(&mv->mu, NULL);
	pthread_cond_init(&mv->cv, NULL);
	if (pthread_create(&mv->thread, NULL, mover_main, mv)) {
		pthread_mutex_destroy(&mv->mu);
		pthread_cond_destroy(&mv->cv);
		mover_unmap(mv);
		return -ENOMEM;
	}
	mv->started = true;
	return 0;
}

/* A free slot to read into, or NULL once the sink failed. */
static uint8_t *mover_slot(struct mover *mv)
{
	pthread_mutex_lock(&mv->mu);
	while (mv->count == NBUF && !mv->err)
		pthread_cond_wait(&mv->cv, &mv->mu);
	uint8_t *b = mv->err ? NULL : mv->buf[(mv->head + mv->count) % NBUF];
	pthread_mutex_unlock(&mv->mu);
	return b;
}

static void mover_commit(struct mover *mv, size_t len)
{
	pthread_mutex_lock(&mv->mu);
	mv->len[(mv->head + mv->count) % NBUF] = len;
	mv->count++;
	pthread_cond_broadcast(&mv->cv);
	pthread_mutex_unlock(&mv->mu);
}

/* Wait until everything handed over was written; the sink's error. */
static int mover_drain(struct mover *mv)
{
	pthread_mutex_lock(&mv->mu);
	while (mv->count)
		pthread_cond_wait(&mv->cv, &mv->mu);
	int r = mv->err;
	pthread_mutex_unlock(&mv->mu);
	return r;
}

static void mover_stop(struct mover *mv)
{
	if (!mv->started)
		return;
	pthread_mutex_lock(&mv->mu);
	mv->quit = true;
	pthread_cond_broadcast(&mv->cv);
	pthread_mutex_unlock(&mv->mu);
	pthread_join(mv->thread, NULL);
	pthread_mutex_destroy(&mv->mu);
	pthread_cond_destroy(&mv->cv);
	mover_unmap(mv);
	mv->started = false;
}

/* ---- One run ------------------------------------------------------------------------ */

struct run {
	struct uvfio_client *src, *dst;
	int fd;
	const struct mig_opts *o;
	struct mig_stats *st;
	char *err;
	size_t errlen;
	struct mover mv;
	uint32_t chunk;
	uint64_t t0;
	bool file_eof;
};

static int fail(struct run *x, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct run *x, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(x->err, x->errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < x->errlen && r)
		snprintf(x->err + n, x->errlen - (size_t)n, ": %s", uvfio_strerror(r));
	return r ? r : -EIO;
}

/* Append a clause to the error sentence. */
static void also(struct run *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void also(struct run *x, const char *fmt, ...)
{
	size_t n = strlen(x->err);
	va_list ap;
	va_start(ap, fmt);
	if (n < x->errlen)
		vsnprintf(x->err + n, x->errlen - n, fmt, ap);
	va_end(ap);
}

/* What uvfio's sample devices mean by a refusal (devices/mig_stream.h). */
static const char *refusal(int r)
{
	switch (r) {
	case -EBADMSG: return " (uvfio devices: the stream is corrupted or not a device stream)";
	case -ENODEV: return " (uvfio devices: the stream comes from another kind of device)";
	case -EPROTONOSUPPORT: return " (uvfio devices: a stream format this device lacks)";
	case -ENODATA: return " (uvfio devices: the stream is incomplete)";
	default: return "";
	}
}

/* The writer failed with r: say so, with what a sample device means. */
static int write_failed(struct run *x, int r, const char *to)
{
	fail(x, r, "writing migration data to the %s failed", to);
	also(x, "%s", refusal(r));
	return r;
}

static void progress(struct run *x)
{
	x->st->total_ns = now_ns() - x->t0;
	if (x->o->progress)
		x->o->progress(x->o->arg, x->st);
}

static int sink_client(void *arg, const void *buf, size_t len)
{
	return uvfio_client_mig_data_write(arg, buf, len);
}

static int sink_file(void *arg, const void *buf, size_t len)
{
	int fd = *(int *)arg;
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			done += (size_t)n;
	}
	return 0;
}

/* Up to len bytes of stream from the source (a device or a file). */
static int source_read(struct run *x, uint8_t *buf, size_t len)
{
	if (x->src)
		return uvfio_client_mig_data_read(x->src, buf, len);
	size_t got = 0;
	while (got < len && !x->file_eof) {
		ssize_t n = read(x->fd, buf + got, len - got);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0)
			x->file_eof = true;
		if (n > 0)
			got += (size_t)n;
	}
	return (int)got;
}

/* Move stream until the source gives a short read (the end of a pre-copy
 * round, or of the stream); *moved gets the bytes. */
static int move_until_short(struct run *x, uint64_t *moved)
{
	*moved = 0;
	for (;;) {
		uint8_t *b = mover_slot(&x->mv);
		if (!b)
			return 1; /* the writer failed: mover_drain() says why */
		int n = source_read(x, b, x->chunk);
		if (n < 0)
			return n;
		if (n > 0)
			mover_commit(&x->mv, (size_t)n);
		*moved += (uint64_t)n;
		x->st->bytes += (uint64_t)n;
		progress(x);
		if ((uint32_t)n < x->chunk)
			return 0;
	}
}

static int mig_flags(struct uvfio_client *c, uint64_t *flags)
{
	struct uvfio_feature_migration f;
	int r = uvfio_client_feature(c, VFIO_DEVICE_FEATURE_GET | UVFIO_FEATURE_MIGRATION, NULL, 0,
				     &f, sizeof(f));
	if (r >= 0 && r != sizeof(f))
		r = -EPROTO;
	if (r >= 0)
		*flags = f.flags;
	return r < 0 ? r : 0;
}

/* The device supports migration and is RUNNING or STOP. */
static int prepare(struct run *x, struct uvfio_client *c, const char *who, uint64_t *flags,
		   uint32_t *state)
{
	int r = mig_flags(c, flags);
	if (r < 0)
		return fail(x, r, "the %s does not support migration (DEVICE_FEATURE MIGRATION)", who);
	if (!(*flags & UVFIO_MIGRATION_STOP_COPY))
		return fail(x, -ENOTSUP, "the %s does not offer STOP_COPY", who);
	if ((r = uvfio_client_mig_state_get(c, state)) < 0)
		return fail(x, r, "reading the %s's migration state failed", who);
	if (*state != UVFIO_MIG_STATE_RUNNING && *state != UVFIO_MIG_STATE_STOP)
		return fail(x, -EBUSY, "the %s is in state %s, not RUNNING or STOP (a reset brings "
			    "it back to RUNNING)", who, mig_state_name(*state));
	return 0;
}

static uint32_t pick_chunk(struct run *x, struct uvfio_client *a, struct uvfio_client *b)
{
	uint32_t chunk = x->o->chunk ? x->o->chunk : DEFAULT_CHUNK;
	struct uvfio_client *cs[2] = { a, b };
	for (int i = 0; i < 2; i++) {
		struct uvfio_caps caps;
		if (cs[i] && uvfio_client_server_caps(cs[i], &caps, NULL, NULL) == 0 &&
		    caps.max_data_xfer_size < chunk)
			chunk = caps.max_data_xfer_size;
	}
	if (chunk > UVFIO_DEFAULT_MAX_DATA_XFER_SIZE) /* what our side accepts */
		chunk = UVFIO_DEFAULT_MAX_DATA_XFER_SIZE;
	return chunk;
}

/* The chunk size both sides accept, and the writer thread. */
static int start_writer(struct run *x, struct uvfio_client *a, struct uvfio_client *b,
			int (*sink)(void *, const void *, size_t), void *arg)
{
	x->st->chunk = x->chunk = pick_chunk(x, a, b);
	int r = mover_start(&x->mv, x->chunk, sink, arg);
	return r < 0 ? fail(x, r, "starting the writer failed") : 0;
}

static void begin(struct run *x, const struct mig_opts *o, struct mig_stats *st, char *err,
		  size_t errlen)
{
	static const struct mig_opts none;
	memset(x, 0, sizeof(*x));
	x->o = o ? o : &none;
	x->st = st;
	x->err = err;
	x->errlen = errlen;
	x->fd = -1;
	memset(st, 0, sizeof(*st));
	err[0] = 0;
	x->t0 = now_ns();
}

/* Stream until the source's short read, then wait for the writer. */
static int stream_rest(struct run *x, uint64_t *moved, const char *from, const char *to)
{
	uint64_t t = now_ns();
	int r = move_until_short(x, moved);
	int w = mover_drain(&x->mv);
	x->st->data_ns += now_ns() - t;
	if (w < 0)
		return write_failed(x, w, to);
	if (r < 0)
		return fail(x, r, "reading migration data from the %s failed", from);
	return 0;
}

/* The destination checks the whole stream (RESUMING -> STOP), then goes to
 * state `to`. *resuming turns false once it left RESUMING. */
static int dst_finish(struct run *x, struct uvfio_client *dst, uint32_t to, const char *what,
		      bool *resuming)
{
	int r = uvfio_client_mig_state_set(dst, UVFIO_MIG_STATE_STOP);
	if (r < 0) {
		fail(x, r, "the destination refused %s (RESUMING -> STOP)", what);
		also(x, "%s", refusal(r));
		return r;
	}
	*resuming = false;
	if ((r = uvfio_client_mig_state_set(dst, to)) < 0)
		return fail(x, r, "the destination, loaded, refused %s", mig_state_name(to));
	return 0;
}

/* After a failure: the destination, if left in RESUMING, is reset. */
static void dst_recover(struct run *x, struct uvfio_client *dst, bool resuming)
{
	if (!resuming)
		return;
	int q = uvfio_client_reset(dst);
	also(x, q < 0 ? "; resetting the destination failed too" : "; the destination was reset");
}

/* ---- Live migration -------------------------------------------------------------------- */

static int precopy(struct run *x)
{
	int r = uvfio_client_mig_state_set(x->src, UVFIO_MIG_STATE_PRE_COPY);
	if (r < 0)
		return fail(x, r, "the source refused PRE_COPY");
	x->st->phase = MIG_PHASE_PRECOPY;
	for (unsigned round = 1; round <= x->o->precopy_rounds && round <= MIG_MAX_ROUNDS;
	     round++) {
		uint64_t moved, t = now_ns();
		r = move_until_short(x, &moved);
		x->st->data_ns += now_ns() - t;
		if (r > 0) /* the writer failed */
			return write_failed(x, mover_drain(&x->mv), "destination");
		if (r < 0)
			return fail(x, r, "reading pre-copy data from the source failed");
		x->st->round_bytes[round - 1] = moved;
		x->st->precopy_bytes += moved;
		x->st->rounds = round;
		progress(x);
		if (x->o->after_round &&
		    (r = x->o->after_round(x->o->arg, x->src, round, moved)) < 0)
			return fail(x, r, "driving the source after pre-copy round %u failed", round);
		if (moved <= x->o->precopy_threshold)
			break;
	}
	/* The destination has all of it before the source stops: the downtime
	 * is only for what is left. */
	uint64_t t = now_ns();
	r = mover_drain(&x->mv);
	x->st->data_ns += now_ns() - t;
	return r < 0 ? write_failed(x, r, "destination") : 0;
}

int mig_live(struct uvfio_client *src, struct uvfio_client *dst, const struct mig_opts *o,
	     struct mig_stats *st, char *err, size_t errlen)
{
	struct run x;
	begin(&x, o, st, err, errlen);
	x.src = src;
	x.dst = dst;
	uint64_t sflags, dflags;
	uint32_t s0, d0;
	struct mig_ident a, b;
	char why[192];
	int r;
	if ((r = prepare(&x, src, "source", &sflags, &s0)) < 0 ||
	    (r = prepare(&x, dst, "destination", &dflags, &d0)) < 0)
		return r;
	if ((r = mig_ident_get(src, &a)) < 0)
		return fail(&x, r, "reading the source's identity failed");
	if ((r = mig_ident_get(dst, &b)) < 0)
		return fail(&x, r, "reading the destination's identity failed");
	if ((r = mig_ident_compare(&a, &b, why, sizeof(why))) < 0)
		return fail(&x, 0, "the devices are not the same kind: %s", why), -ENODEV;
	if ((r = start_writer(&x, src, dst, sink_client, dst)) < 0)
		return r;
	bool src_moved = false, dst_resuming = false;
	if ((r = uvfio_client_mig_state_set(dst, UVFIO_MIG_STATE_RESUMING)) < 0) {
		fail(&x, r, "the destination refused RESUMING");
		goto out;
	}
	dst_resuming = true;
	src_moved = true;
	if (s0 == UVFIO_MIG_STATE_RUNNING && (sflags & UVFIO_MIGRATION_PRE_COPY) &&
	    x.o->precopy_rounds && (r = precopy(&x)) < 0)
		goto out;
	uint64_t t_stop = now_ns();
	if ((r = uvfio_client_mig_state_set(src, UVFIO_MIG_STATE_STOP_COPY)) < 0) {
		fail(&x, r, "the source refused STOP_COPY");
		goto out;
	}
	st->phase = MIG_PHASE_STOPCOPY;
	progress(&x);
	if ((r = stream_rest(&x, &st->stopcopy_bytes, "source", "destination")) < 0)
		goto out;
	if ((r = dst_finish(&x, dst, s0, "the stream", &dst_resuming)) < 0)
		goto out;
	st->downtime_ns = s0 == UVFIO_MIG_STATE_RUNNING ? now_ns() - t_stop : 0;
	src_moved = false;
	/* The device lives at the destination now; the source stays stopped. */
	if ((r = uvfio_client_mig_state_set(src, UVFIO_MIG_STATE_STOP)) < 0) {
		fail(&x, r, "migrated, but the source refused STOP after STOP_COPY");
		goto out;
	}
	st->phase = MIG_PHASE_DONE;
	progress(&x);
out:
	mover_stop(&x.mv);
	if (r < 0 && src_moved) {
		int q = uvfio_client_mig_state_set(src, s0);
		if (q < 0)
			also(&x, "; the source could not be put back to %s: %s", mig_state_name(s0),
			     uvfio_strerror(q));
		else
			also(&x, "; the source is %s again", mig_state_name(s0));
	}
	if (r < 0)
		dst_recover(&x, dst, dst_resuming);
	st->total_ns = now_ns() - x.t0;
	return r;
}

/* ---- Snapshots --------------------------------------------------------------------------- */

struct file_hdr {
	char magic[8]; /* FILE_MAGIC */
	uint32_t version;
	uint32_t size; /* sizeof(struct file_hdr) */
	struct mig_ident ident;
	uint64_t stream_len;
};

int mig_save(struct uvfio_client *src, int fd, const struct mig_opts *o, struct mig_stats *st,
	     char *err, size_t errlen)
{
	struct run x;
	begin(&x, o, st, err, errlen);
	x.src = src;
	uint64_t flags;
	uint32_t s0;
	struct file_hdr h = { .magic = FILE_MAGIC, .version = 1, .size = sizeof(h) };
	int r = prepare(&x, src, "source", &flags, &s0);
	if (r < 0)
		return r;
	if ((r = mig_ident_get(src, &h.ident)) < 0)
		return fail(&x, r, "reading the source's identity failed");
	/* the length is filled in at the end */
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    lseek(fd, sizeof(h), SEEK_SET) < 0)
		return fail(&x, -errno, "writing the snapshot file failed (it must be a regular "
			    "file)");
	if ((r = start_writer(&x, src, NULL, sink_file, &fd)) < 0)
		return r;
	uint64_t t_stop = now_ns();
	bool moved = false;
	if ((r = uvfio_client_mig_state_set(src, UVFIO_MIG_STATE_STOP_COPY)) < 0) {
		fail(&x, r, "the source refused STOP_COPY");
		goto out;
	}
	moved = true;
	st->phase = MIG_PHASE_STOPCOPY;
	if ((r = stream_rest(&x, &st->stopcopy_bytes, "source", "file")) < 0)
		goto out;
	h.stream_len = st->bytes;
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || fsync(fd) < 0) {
		r = fail(&x, -errno, "writing the snapshot file failed");
		goto out;
	}
	if ((r = uvfio_client_mig_state_set(src, s0)) < 0) {
		fail(&x, r, "saved, but the source refused to go back to %s", mig_state_name(s0));
		moved = false;
		goto out;
	}
	moved = false;
	st->downtime_ns = s0 == UVFIO_MIG_STATE_RUNNING ? now_ns() - t_stop : 0;
	st->phase = MIG_PHASE_DONE;
out:
	mover_stop(&x.mv);
	if (r < 0 && moved) {
		int q = uvfio_client_mig_state_set(src, s0);
		also(&x, q < 0 ? "; the source could not be put back" : "; the source is %s again",
		     mig_state_name(s0));
	}
	st->total_ns = now_ns() - x.t0;
	return r;
}

int mig_load(int fd, struct uvfio_client *dst, const struct mig_opts *o, struct mig_stats *st,
	     char *err, size_t errlen)
{
	struct run x;
	begin(&x, o, st, err, errlen);
	x.fd = fd;
	struct file_hdr h;
	struct stat sb;
	uint64_t flags;
	uint32_t d0;
	char why[192];
	int r;
	ssize_t n = read(fd, &h, sizeof(h));
	if (n < 0 || fstat(fd, &sb) < 0)
		return fail(&x, -errno, "reading the snapshot file failed");
	if (n != (ssize_t)sizeof(h) || memcmp(h.magic, FILE_MAGIC, 8) || h.version != 1 ||
	    h.size != sizeof(h))
		return fail(&x, 0, "the file is not a uvfio snapshot"), -EBADMSG;
	if ((uint64_t)sb.st_size != sizeof(h) + h.stream_len)
		return fail(&x, 0, "the snapshot file is %s: %llu stream bytes of %llu",
			    (uint64_t)sb.st_size < sizeof(h) + h.stream_len ? "truncated" : "too long",
			    (unsigned long long)(sb.st_size - (off_t)sizeof(h)),
			    (unsigned long long)h.stream_len), -EBADMSG;
	if ((r = prepare(&x, dst, "destination", &flags, &d0)) < 0)
		return r;
	struct mig_ident id;
	if ((r = mig_ident_get(dst, &id)) < 0)
		return fail(&x, r, "reading the destination's identity failed");
	if ((r = mig_ident_compare(&h.ident, &id, why, sizeof(why))) < 0)
		return fail(&x, 0, "the snapshot is of another kind of device: %s", why), -ENODEV;
	if ((r = start_writer(&x, dst, NULL, sink_client, dst)) < 0)
		return r;
	bool resuming = false;
	if ((r = uvfio_client_mig_state_set(dst, UVFIO_MIG_STATE_RESUMING)) < 0) {
		fail(&x, r, "the destination refused RESUMING");
		goto out;
	}
	resuming = true;
	st->phase = MIG_PHASE_STOPCOPY;
	if ((r = stream_rest(&x, &st->stopcopy_bytes, "file", "destination")) < 0)
		goto out;
	if ((r = dst_finish(&x, dst, UVFIO_MIG_STATE_RUNNING, "the snapshot", &resuming)) < 0)
		goto out;
	st->phase = MIG_PHASE_DONE;
out:
	mover_stop(&x.mv);
	if (r < 0)
		dst_recover(&x, dst, resuming);
	st->total_ns = now_ns() - x.t0;
	return r;
}
