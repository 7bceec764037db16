/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `uvfio lspci` against a guest's own lspci (tests/data/guest-lspci/). The
 * tool shows a device no guest has touched; a guest's lspci shows the same
 * device after its firmware and kernel assigned it. Only these differences
 * are allowed, each by a named rule; every other byte of every line must
 * match:
 *   slot       the "BB:DD.F " that starts the first line: the guest's bus address
 *   phys-slot  "Physical Slot: N" lines: only a guest has them (its root port's slot)
 *   driver     "Kernel driver in use:" and "Kernel modules:" lines: a guest's drivers
 *   command    a "Control:" bit clear on the device may be set by the guest (its
 *              firmware enables I/O, Mem and SERR), never the other way round
 *   irq        "routed to IRQ N" and -v's ", IRQ N": the guest's interrupt routing
 *   address    "Memory at A" and "I/O ports at A": the addresses the guest wrote
 *              into the BARs; " [disabled]": the decoding its firmware enabled
 *   config     in -xxx rows: the command register (as "command"), the BARs (0x10 to
 *              0x27) and the interrupt line (0x3c)
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lspci_guest.h"

#define MAX_LINES 1024

/* A message (malloc'ed). */
static char *say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *say(const char *fmt, ...)
{
	char *msg;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	return msg;
}

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* "01:00.0 ": lspci's slot */
static bool has_slot(const char *l)
{
	return strlen(l) >= 8 && isxdigit((unsigned char)l[0]) && isxdigit((unsigned char)l[1]) &&
	       l[2] == ':' && isxdigit((unsigned char)l[3]) && isxdigit((unsigned char)l[4]) &&
	       l[5] == '.' && l[6] >= '0' && l[6] <= '7' && l[7] == ' ';
}

/* rules phys-slot and driver: lines only a guest prints */
static bool guest_only(const char *l)
{
	return starts(l, "\tPhysical Slot: ") || starts(l, "\tKernel driver in use: ") ||
	       starts(l, "\tKernel modules: ");
}

/* rules slot, irq and address: the line with the guest's numbers taken out */
static void mask(const char *l, char *out, size_t outlen)
{
	static const char *const addrs[] = { "Memory at ", "I/O ports at " };
	bool flags = starts(l, "\tFlags: ");
	size_t n = 0;
	if (has_slot(l))
		l += 8;
	while (*l && n + 2 < outlen) {
		if (starts(l, "routed to IRQ ")) {
			n += (size_t)snprintf(out + n, outlen - n, "routed to IRQ #");
			for (l += 14; isdigit((unsigned char)*l); l++)
				;
			continue;
		}
		if (flags && starts(l, ", IRQ ")) { /* lspci omits it for IRQ 0 */
			for (l += 6; isdigit((unsigned char)*l); l++)
				;
			continue;
		}
		if (starts(l, " [disabled]")) {
			l += 11;
			continue;
		}
		bool addr = false;
		for (size_t i = 0; i < 2 && !addr; i++) {
			if (starts(l, addrs[i])) {
				n += (size_t)snprintf(out + n, outlen - n, "%s#", addrs[i]);
				const char *end = strchr(l + strlen(addrs[i]), ' ');
				l = end ? end : l + strlen(l);
				addr = true;
			}
		}
		if (!addr)
			out[n++] = *l++;
	}
	out[n < outlen ? n : outlen - 1] = 0;
}

/* rule command: "\tControl: I/O- Mem- ..." */
static char *check_control(const char *h, const char *g)
{
	char hc[512], gc[512], *hs, *gs, *msg = NULL;
	snprintf(hc, sizeof(hc), "%s", h);
	snprintf(gc, sizeof(gc), "%s", g);
	char *ht = strtok_r(hc, " ", &hs), *gt = strtok_r(gc, " ", &gs);
	for (; ht && gt && !msg; ht = strtok_r(NULL, " ", &hs), gt = strtok_r(NULL, " ", &gs)) {
		size_t len = strlen(ht);
		bool same_bit = strlen(gt) == len && !strncmp(ht, gt, len - 1);
		char hv = ht[len - 1], gv = same_bit ? gt[len - 1] : 0;
		if (!same_bit || (hv != gv && !(hv == '-' && gv == '+')))
			msg = say("command bit %s: the device shows %s, the guest %s", ht, ht, gt);
	}
	if (!msg && (ht || gt))
		msg = say("the Control lines have different bits");
	return msg;
}

/* "30: 00 00 ...": a row of -xxx's hex dump */
static bool hex_row(const char *l)
{
	return strlen(l) == 4 + 16 * 3 - 1 && isxdigit((unsigned char)l[0]) &&
	       isxdigit((unsigned char)l[1]) && l[2] == ':' && l[3] == ' ';
}

/* rule config */
static char *check_hex_row(const char *h, const char *g)
{
	char *msg = NULL;
	if (strncmp(h, g, 3))
		return say("the hex rows are at different offsets");
	unsigned row = (unsigned)strtoul(h, NULL, 16);
	for (unsigned i = 0; i < 16 && !msg; i++) {
		unsigned off = row + i;
		unsigned hb = (unsigned)strtoul(h + 4 + 3 * i, NULL, 16);
		unsigned gb = (unsigned)strtoul(g + 4 + 3 * i, NULL, 16);
		if ((off >= 0x10 && off < 0x28) || off == 0x3c)
			continue;
		bool command = off == 0x04 || off == 0x05;
		if (command ? (gb & hb) != hb : gb != hb)
			msg = say("configuration byte %#x: the device has %02x, the guest %02x%s",
				  off, hb, gb,
				  command ? " (a command bit the device sets is clear)" : "");
	}
	return msg;
}

/* Lines in place, empty ones too; those only a guest prints are left out. */
static size_t split(char *text, char **v)
{
	size_t n = 0;
	for (char *l = text; *l;) {
		if (n == MAX_LINES) {
			fprintf(stderr, "lspci_guest.c: more than %d lines\n", MAX_LINES);
			abort();
		}
		char *end = strchr(l, '\n');
		if (end)
			*end = 0;
		if (!guest_only(l))
			v[n++] = l;
		l = end ? end + 1 : l + strlen(l);
	}
	return n;
}

char *lg_compare(const char *host, const char *guest)
{
	char *hcopy = strdup(host), *gcopy = strdup(guest), *msg = NULL;
	if (!hcopy || !gcopy)
		abort();
	char *hl[MAX_LINES], *gl[MAX_LINES];
	size_t nh = split(hcopy, hl), ng = split(gcopy, gl), i;
	for (i = 0; i < nh && i < ng && !msg; i++) {
		char hm[512], gm[512];
		if (starts(hl[i], "\tControl: ") && starts(gl[i], "\tControl: ")) {
			msg = check_control(hl[i], gl[i]);
		} else if (hex_row(hl[i]) && hex_row(gl[i])) {
			msg = check_hex_row(hl[i], gl[i]);
		} else {
			mask(hl[i], hm, sizeof(hm));
			mask(gl[i], gm, sizeof(gm));
			if (strcmp(hm, gm))
				msg = say("the lines differ");
		}
	}
	if (msg) {
		char *full = say("line %zu: %s\n  uvfio lspci: %s\n  guest:       %s", i, msg,
				 hl[i - 1], gl[i - 1]);
		free(msg);
		msg = full;
	} else if (nh != ng) {
		msg = say("uvfio lspci prints %zu lines, the guest %zu (first extra: %s)", nh, ng,
			  nh > ng ? hl[ng] : gl[nh]);
	}
	free(hcopy);
	free(gcopy);
	return msg;
}
