/* SPDX-License-Identifier: BSD-3-Clause */
/* bench.h — what uvfio-bench's files share: a measured row and the report. */
#ifndef UVFIO_BENCH_H
#define UVFIO_BENCH_H

#include <stdbool.h>
#include <stdio.h>

struct stat_ {
	double ops;    /* per second */
	double median; /* us */
	double p99;    /* us */
	double gbps;   /* for bandwidth rows */
};

/* A goal on a row's ratio: at most (GOAL_LE) or at least (GOAL_GE) limit. */
struct goal {
	char op; /* 0: none, '<': ratio <= limit, '>': ratio >= limit */
	double limit;
};
#define NO_GOAL ((struct goal){ 0, 0 })
#define GOAL_LE(x) ((struct goal){ '<', (x) })
#define GOAL_GE(x) ((struct goal){ '>', (x) })

enum report_format { REPORT_TEXT, REPORT_JSON, REPORT_MARKDOWN };

void report_start(enum report_format fmt);
/* One measured row: printed at once as text (JSON and Markdown at the
 * end); ratio <= 0 means the row has none. */
void report_row(const char *name, const char *place, struct stat_ s, const char *ref,
		double ratio, struct goal goal);
/* Print what waits for the end (JSON, Markdown), write the SVG chart when
 * svg_path is set. Returns the number of goals missed. */
int report_finish(const char *svg_path);

#endif
