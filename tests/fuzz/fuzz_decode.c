/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer: the trace decoder and session (tools/trace/decode*.c, trace_out.c,
 * pcap.c). The input is a run of messages, each a control byte (bit 0:
 * server to client, bit 1: twin socket, bits 2-4: descriptors, bit 5: cut
 * off, bit 6: a new connection) then the message, framed by its own size
 * (or cut by the input's end). Whatever the bytes: no crash, no leak, and
 * the pcap written while tracing reads back into the very same lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static void feed(struct trace_session *t, const uint8_t *data, size_t size)
{
	trace_session_begin(t);
	size_t i = 0;
	while (i < size) {
		uint8_t ctl = data[i++];
		size_t len = size - i;
		if (len >= UVFIO_HDR_SIZE) {
			uint32_t ms;
			memcpy(&ms, data + i + 4, 4);
			if (ms >= UVFIO_HDR_SIZE && ms < len)
				len = ms;
			else if (ms < UVFIO_HDR_SIZE)
				len = UVFIO_HDR_SIZE;
		}
		if (ctl & 0x40) {
			trace_session_end(t);
			trace_session_begin(t);
		}
		struct trace_msg m = { .buf = data + i, .len = len, .wire_len = len,
				       .nfds = (ctl >> 2) & 7, .dir = ctl & 1,
				       .channel = (ctl >> 1) & 1, .incomplete = ctl & 0x20,
				       .ts_ns = 1000000000ull + i };
		trace_feed(t, &m);
		i += len;
	}
	trace_session_end(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	bool json = data[0] & 1, hex = data[0] & 2;
	char *live = NULL, *pc = NULL, *back = NULL;
	size_t ll = 0, pl = 0, bl = 0;
	FILE *out = open_memstream(&live, &ll), *pf = open_memstream(&pc, &pl);
	struct pcap_writer *w = pcap_open_write(pf, TRACE_SNAPLEN_DEFAULT);
	struct trace_opts o = { .out = out, .json = json, .hexdump = hex, .pcap = w };
	struct trace_session *t = trace_session_new(&o);
	if (!t || !w)
		abort();
	feed(t, data + 1, size - 1);
	trace_session_free(t);
	pcap_close_write(w);
	fclose(out);
	FILE *bo = open_memstream(&back, &bl), *in = fmemopen(pc, pl, "rb");
	o = (struct trace_opts){ .out = bo, .json = json, .hexdump = hex };
	t = trace_session_new(&o);
	char err[256];
	if (pcap_read(in, t, err, sizeof(err)) != 0)
		abort(); /* our own file */
	trace_session_free(t);
	fclose(in);
	fclose(bo);
	if (strcmp(live, back)) { /* the pcap lost something */
		fprintf(stderr, "traced:\n%s\nread back:\n%s\n", live, back);
		abort();
	}
	free(live);
	free(back);
	free(pc);
	return 0;
}
