/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log.c — per-object logging through an embedder's hook, and the message
 * trace (one line per header), switchable at run time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void vu_log_init(struct vu_log *log, const struct uvfio_log_config *cfg, const char *who)
{
	memset(log, 0, sizeof(*log));
	log->who = who;
	log->level = UVFIO_LOG_WARNING;
	if (cfg) {
		log->fn = cfg->fn;
		log->opaque = cfg->opaque;
		if (cfg->level)
			log->level = cfg->level;
		log->trace = cfg->trace;
	}
	const char *env = getenv("UVFIO_TRACE");
	if (env && *env && strcmp(env, "0") != 0)
		log->trace = true;
}

static void emit(const struct vu_log *log, int level, const char *line)
{
	if (log->fn)
		log->fn(log->opaque, level, line);
	else
		fprintf(stderr, "uvfio %s: %s\n", log->who ? log->who : "", line);
}

void vu_logf(const struct vu_log *log, int level, const char *fmt, ...)
{
	if (level > log->level &&
	    !(level == UVFIO_LOG_TRACE && __atomic_load_n(&log->trace, __ATOMIC_RELAXED)))
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(log, level, line);
}

void vu_trace_hdr(const struct vu_log *log, const char *dir, const struct uvfio_hdr *hdr,
		  unsigned nfds)
{
	if (!__atomic_load_n(&log->trace, __ATOMIC_RELAXED))
		return;
	unsigned type = hdr->flags & UVFIO_FLAGS_TYPE_MASK;
	vu_logf(log, UVFIO_LOG_TRACE,
		"trace %s id=%u cmd=%s(%u) size=%u type=%s%s%s error=%u fds=%u", dir,
		hdr->msg_id, uvfio_cmd_name(hdr->cmd), hdr->cmd, hdr->msg_size,
		type == UVFIO_FLAGS_TYPE_REPLY ? "reply" : type == 0 ? "command" : "bad",
		hdr->flags & UVFIO_FLAGS_NO_REPLY ? ",no_reply" : "",
		hdr->flags & UVFIO_FLAGS_ERROR ? ",error" : "", hdr->error_no, nfds);
}
