/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * report.c — uvfio-bench's table: rows as text while they are measured, as
 * JSON or Markdown at the end, each goal's verdict computed from the
 * measured ratio, and an SVG chart of every ratio against its limit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_ROWS 512

struct row {
	char name[80], place[8], ref[40];
	struct stat_ s;
	double ratio;
	struct goal goal;
};

static struct row rows[MAX_ROWS];
static int nrows;
static enum report_format format;

static bool goal_met(struct goal g, double ratio)
{
	return g.op == '<' ? ratio <= g.limit : ratio >= g.limit;
}

/* "goal <= 1.25x: met"; a goal that even the physical limit misses:
 * "goal >= 5x: MISSED (the bound: 4.06x)" */
static const char *verdict(const struct row *r, char *buf, size_t len)
{
	if (!r->goal.op)
		return "";
	bool met = goal_met(r->goal, r->ratio);
	int n = snprintf(buf, len, "goal %s %gx: %s", r->goal.op == '<' ? "<=" : ">=",
			 r->goal.limit, met ? "met" : "MISSED");
	if (!met && r->goal.bound > 0 && !goal_met(r->goal, r->goal.bound) && n > 0 &&
	    (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " (the bound: %.2fx)", r->goal.bound);
	return buf;
}

static void cells(const struct row *r, char *a, char *b, char *c, char *rb)
{
	if (r->s.gbps > 0)
		snprintf(a, 32, "%.2f GB/s", r->s.gbps);
	else
		snprintf(a, 32, "%.0f", r->s.ops);
	b[0] = c[0] = 0;
	if (r->s.median > 0) {
		snprintf(b, 32, "%.1f", r->s.median);
		snprintf(c, 32, "%.1f", r->s.p99);
	}
	if (r->ratio > 0)
		snprintf(rb, 16, "%.2fx", r->ratio);
	else
		snprintf(rb, 16, "-");
}

bool report_is_text(void)
{
	return format == REPORT_TEXT;
}

void report_start(enum report_format fmt)
{
	format = fmt;
	if (fmt == REPORT_TEXT)
		printf("%-40s %-5s %14s %8s %8s  %7s %-24s %s\n", "row", "place", "ops/s or GB/s",
		       "med us", "p99 us", "ratio", "reference", "goal");
}

void report_row(const char *name, const char *place, struct stat_ s, const char *ref,
		double ratio, struct goal goal)
{
	if (nrows == MAX_ROWS) {
		fprintf(stderr, "uvfio-bench: more than %d rows\n", MAX_ROWS);
		exit(1);
	}
	struct row *r = &rows[nrows++];
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->place, sizeof(r->place), "%s", place);
	snprintf(r->ref, sizeof(r->ref), "%s", ref);
	r->s = s;
	r->ratio = ratio;
	r->goal = goal;
	if (format != REPORT_TEXT)
		return;
	char a[32], b[32], c[32], rb[16], v[48];
	cells(r, a, b, c, rb);
	printf("%-40s %-5s %14s %8s %8s  %7s %-24s %s\n", name, place, a, b, c, rb, ref,
	       verdict(r, v, sizeof(v)));
	fflush(stdout);
}

static void print_json(void)
{
	printf("[");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		printf("%s\n{\"row\":\"%s\",\"placement\":\"%s\",\"ops_per_s\":%.0f,"
		       "\"median_us\":%.2f,\"p99_us\":%.2f,\"gb_per_s\":%.3f,\"reference\":\"%s\","
		       "\"ratio\":%.3f",
		       i ? "," : "", r->name, r->place, r->s.ops, r->s.median, r->s.p99, r->s.gbps,
		       r->ref, r->ratio);
		if (r->goal.op)
			printf(",\"goal\":\"%s %g\",\"goal_met\":%s", r->goal.op == '<' ? "<=" : ">=",
			       r->goal.limit, goal_met(r->goal, r->ratio) ? "true" : "false");
		if (r->goal.bound > 0)
			printf(",\"goal_bound\":%.4f", r->goal.bound);
		printf("}");
	}
	printf("%s]\n", nrows ? "\n" : "");
}

static void print_markdown(void)
{
	puts("| row | place | ops/s or GB/s | median us | p99 us | ratio | reference | goal |");
	puts("| --- | --- | ---: | ---: | ---: | ---: | --- | --- |");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		char a[32], b[32], c[32], rb[16], v[48];
		cells(r, a, b, c, rb);
		const char *vs = verdict(r, v, sizeof(v));
		printf("| %s | %s | %s | %s | %s | %s | %s | %s%s%s |\n", r->name, r->place, a,
		       b[0] ? b : "", c[0] ? c : "", rb, r->ref, strstr(vs, "MISSED") ? "**" : "",
		       vs, strstr(vs, "MISSED") ? "**" : "");
	}
}

/*
 * The chart: one line per row that has a goal or a reference, two bars
 * (same CPU, cross) of ratio / limit on a logarithmic axis where 1.0 is the
 * physical limit (the reference, or the goal when it is the bound).
 */
static double bar_value(const struct row *r)
{
	/* A ratio that must stay low (a cost) is drawn inverted, so that
	 * longer always means closer to (or past) the limit. */
	if (r->goal.op == '<')
		return r->ratio > 0 ? 1.0 / r->ratio : 0;
	return r->ratio;
}

static int find_row(const char *name, const char *place)
{
	for (int i = 0; i < nrows; i++)
		if (!strcmp(rows[i].name, name) && !strcmp(rows[i].place, place))
			return i;
	return -1;
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
}

static int write_svg(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return -1;
	}
	/* rows with a ratio, each name once, in table order */
	const char *names[MAX_ROWS];
	int n = 0;
	for (int i = 0; i < nrows; i++) {
		/* only rows measured against a physical reference */
		if (rows[i].ratio <= 0 ||
		    (!rows[i].goal.op && !strstr(rows[i].ref, "raw") && !strstr(rows[i].ref, "memcpy")))
			continue;
		bool seen = false;
		for (int k = 0; k < n; k++)
			seen |= !strcmp(names[k], rows[i].name);
		if (!seen)
			names[n++] = rows[i].name;
	}
	const int left = 300, width = 520, rowh = 34, top = 50;
	int h = top + n * rowh + 60;
	/* log axis from 1/64x to 4096x: x = left + width * (log2(v) + 6) / 18 */
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		"<text x=\"10\" y=\"20\" font-size=\"14\">uvfio-bench: each row's ratio to its "
		"physical limit (1.0 = the limit; log scale; costs inverted so longer is "
		"better)</text>\n",
		left + width + 40, h);
	for (int e = -6; e <= 12; e += 2) {
		double x = left + width * (e + 6) / 18.0;
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n"
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s%dx</text>\n",
			x, top - 5, x, top + n * rowh, e == 0 ? "black" : "#ddd", x,
			top + n * rowh + 15, e < 0 ? "1/" : "", 1 << (e < 0 ? -e : e));
	}
	for (int k = 0; k < n; k++) {
		int y = top + k * rowh;
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 8, y + 20);
		xml_text(f, names[k]);
		fputs("</text>\n", f);
		static const char *places[] = { "same", "cross" };
		static const char *colors[] = { "#4878d0", "#ee854a" };
		for (int p = 0; p < 2; p++) {
			int i = find_row(names[k], places[p]);
			if (i < 0)
				continue;
			double v = bar_value(&rows[i]);
			double lv = v > 0 ? log2(v) : -6;
			lv = lv < -6 ? -6 : lv > 12 ? 12 : lv;
			double x0 = left + width * 6 / 18.0, x1 = left + width * (lv + 6) / 18.0;
			double xa = x0 < x1 ? x0 : x1, w = x0 < x1 ? x1 - x0 : x0 - x1;
			fprintf(f,
				"<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"12\" fill=\"%s\"/>\n"
				"<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%.2fx</text>\n",
				xa, y + 4 + 13 * p, w < 1 ? 1 : w, colors[p], xa + w + 4, y + 14 + 13 * p,
				rows[i].ratio);
			if (rows[i].goal.op) {
				double g = rows[i].goal.op == '<' ? 1.0 / rows[i].goal.limit
								  : rows[i].goal.limit;
				double gx = left + width * (log2(g) + 6) / 18.0;
				fprintf(f,
					"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
					"stroke=\"red\" stroke-width=\"2\"/>\n",
					gx, y + 2 + 13 * p, gx, y + 18 + 13 * p);
			}
		}
	}
	int ly = top + n * rowh + 35;
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"#4878d0\"/>"
		"<text x=\"%d\" y=\"%d\">same CPU</text>\n"
		"<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"#ee854a\"/>"
		"<text x=\"%d\" y=\"%d\">cross CPU</text>\n"
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"red\" stroke-width=\"2\"/>"
		"<text x=\"%d\" y=\"%d\">goal</text>\n</svg>\n",
		left, ly, left + 16, ly + 11, left + 110, ly, left + 126, ly + 11, left + 220, ly,
		left + 220, ly + 12, left + 226, ly + 11);
	return fclose(f) ? -1 : 0;
}

int report_finish(const char *svg_path)
{
	if (format == REPORT_JSON)
		print_json();
	else if (format == REPORT_MARKDOWN)
		print_markdown();
	int missed = 0;
	for (int i = 0; i < nrows; i++)
		missed += rows[i].goal.op && !goal_met(rows[i].goal, rows[i].ratio);
	if (svg_path && write_svg(svg_path) < 0)
		return -1;
	return missed;
}
