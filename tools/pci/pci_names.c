/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci_names.c — vendor, device, subsystem and class names from the system's
 * pci.ids, formatted the way lspci formats them (pciutils' rules for
 * unknown ids: "Device 1de5:3e30", "Eideticom, Inc Device 3e30",
 * "Class 0580", "Memory controller [0580]" for a class without its
 * subclass). The file is read directly: libpci would bring GPL code into
 * this BSD-licensed tool, and the grammar is small.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

/* Where distributions put pci.ids (Debian's pci.ids package first). */
static const char *const std_paths[] = {
	"/usr/share/misc/pci.ids",
	"/usr/share/hwdata/pci.ids",
	"/usr/share/pci.ids",
};

#define MAX_LINE 1024 /* pciutils rejects longer lines */

const char *tool_pci_ids_path(void)
{
	const char *env = getenv("UVFIO_PCI_IDS");
	if (env)
		return *env ? env : NULL;
	for (size_t i = 0; i < sizeof(std_paths) / sizeof(std_paths[0]); i++)
		if (!access(std_paths[i], R_OK))
			return std_paths[i];
	return NULL;
}

static int hex_id(const char *p, int digits)
{
	int v = 0;
	for (int i = 0; i < digits; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9'	 ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static bool white(char c)
{
	return c == ' ' || c == '\t';
}

/* Keep the first name found for a key, as pciutils refuses duplicates. */
static void keep(char **slot, const char *name)
{
	if (!*slot)
		*slot = strdup(name);
}

enum cat { C_NONE, C_VENDOR, C_DEVICE, C_SUBSYS, C_GEN_SUBSYS, C_CLASS, C_SUBCLASS, C_PROGIF,
	   C_SKIP };

/*
 * One pass over the file, collecting the names of this device's ids. The
 * grammar is pciutils': nesting by leading tabs; "C xx" opens a class, "S
 * vvvv" generic subsystems of a vendor, other "X " blocks are skipped.
 * Malformed lines are ignored.
 */
void tool_pci_ids_lookup(struct tool_pci_ids *d)
{
	const char *path = tool_pci_ids_path();
	FILE *f = path ? fopen(path, "re") : NULL;
	if (!f)
		return;
	char line[MAX_LINE + 2];
	enum cat cat = C_NONE;
	int id1 = -1, id2 = 0;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\r\n");
		if (!line[n] && !feof(f)) { /* too long: skip the rest of it */
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		line[n] = 0;
		if (n && white(line[n - 1]))
			line[--n] = 0;
		char *p = line;
		while (white(*p))
			p++;
		if (!*p || *p == '#')
			continue;
		int nest = 0;
		for (p = line; *p == '\t'; p++)
			nest++;
		char *name = NULL;
		if (nest == 0) {
			id2 = 0;
			if (p[0] == 'C' && p[1] == ' ') {
				if ((id1 = hex_id(p + 2, 2)) < 0 || !white(p[4]))
					goto bad;
				cat = C_CLASS;
				name = p + 5;
			} else if (p[0] == 'S' && p[1] == ' ') {
				if ((id1 = hex_id(p + 2, 4)) < 0 || p[6])
					goto bad;
				cat = C_GEN_SUBSYS;
				continue;
			} else if (p[0] >= 'A' && p[0] <= 'Z' && p[1] == ' ') {
				cat = C_SKIP;
				continue;
			} else {
				if ((id1 = hex_id(p, 4)) < 0 || !white(p[4]))
					goto bad;
				cat = C_VENDOR;
				name = p + 5;
			}
		} else if (cat == C_SKIP || cat == C_NONE) {
			continue;
		} else if (nest == 1) {
			bool cls = cat == C_CLASS || cat == C_SUBCLASS || cat == C_PROGIF;
			int digits = cls ? 2 : 4;
			if ((id2 = hex_id(p, digits)) < 0 || !white(p[digits]))
				goto bad;
			name = p + digits + 1;
			if (cat != C_GEN_SUBSYS)
				cat = cls ? C_SUBCLASS : C_DEVICE;
		} else if (nest == 2 && (cat == C_DEVICE || cat == C_SUBSYS)) {
			int sv = hex_id(p, 4), sd = hex_id(p + 5, 4);
			if (sv < 0 || !white(p[4]) || sd < 0 || !white(p[9]))
				goto bad;
			cat = C_SUBSYS;
			name = p + 10;
			while (white(*name))
				name++;
			if (*name && id1 == d->vendor && id2 == d->device && sv == d->subsys_vendor &&
			    sd == d->subsys_device)
				keep(&d->subsys_name, name);
			continue;
		} else if (nest == 2 && (cat == C_CLASS || cat == C_SUBCLASS || cat == C_PROGIF)) {
			int pi = hex_id(p, 2);
			if (pi < 0 || !white(p[2]))
				goto bad;
			cat = C_PROGIF;
			name = p + 3;
			while (white(*name))
				name++;
			if (*name && id1 == d->base_class && id2 == d->sub_class && pi == d->prog_if)
				keep(&d->progif_name, name);
			continue;
		} else {
			goto bad;
		}
		while (white(*name))
			name++;
		if (!*name)
			continue;
		switch (cat) {
		case C_VENDOR:
			if (id1 == d->vendor)
				keep(&d->vendor_name, name);
			if (id1 == d->subsys_vendor)
				keep(&d->subsys_vendor_name, name);
			break;
		case C_DEVICE:
			if (id1 == d->vendor && id2 == d->device)
				keep(&d->device_name, name);
			break;
		case C_GEN_SUBSYS:
			if (id1 == d->subsys_vendor && id2 == d->subsys_device)
				keep(&d->gen_subsys_name, name);
			break;
		case C_CLASS:
			if (id1 == d->base_class)
				keep(&d->class_name, name);
			break;
		case C_SUBCLASS:
			if (id1 == d->base_class && id2 == d->sub_class)
				keep(&d->subclass_name, name);
			break;
		default:
			break;
		}
		continue;
bad:
		/* pciutils stops at a malformed line; we only skip it and its block */
		cat = C_SKIP;
	}
	fclose(f);
}

void tool_pci_ids_free(struct tool_pci_ids *d)
{
	char **names[] = { &d->vendor_name,	&d->device_name, &d->subsys_vendor_name,
			   &d->subsys_name,	&d->gen_subsys_name, &d->class_name,
			   &d->subclass_name, &d->progif_name };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		free(*names[i]);
		*names[i] = NULL;
	}
}

/* lspci's buffers are this small, and a longer name ends in "...". */
#define LSPCI_NAME_BUF 128
#define LSPCI_SUBSYS_BUF 256

static const char *fit(char *buf, size_t len, size_t lspci_size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static const char *fit(char *buf, size_t len, size_t lspci_size, const char *fmt, ...)
{
	char tmp[LSPCI_SUBSYS_BUF];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, lspci_size, fmt, ap);
	va_end(ap);
	if (n >= (int)lspci_size)
		memcpy(tmp + lspci_size - 4, "...", 4);
	snprintf(buf, len, "%s", tmp);
	return buf;
}

const char *tool_pci_class_str(const struct tool_pci_ids *d, char *buf, size_t len)
{
	unsigned cls = (unsigned)d->base_class << 8 | d->sub_class;
	if (d->subclass_name)
		return fit(buf, len, LSPCI_NAME_BUF, "%s", d->subclass_name);
	if (d->class_name)
		return fit(buf, len, LSPCI_NAME_BUF, "%s [%04x]", d->class_name, cls);
	return fit(buf, len, LSPCI_NAME_BUF, "Class %04x", cls);
}

/* pciutils' vendor-and-device pair: both names, or what is known of them. */
static const char *pair(char *buf, size_t len, size_t lspci_size, const char *v, const char *dn,
			unsigned vid, unsigned did)
{
	if (v && dn)
		return fit(buf, len, lspci_size, "%s %s", v, dn);
	if (!v)
		return fit(buf, len, lspci_size, "Device %04x:%04x", vid, did);
	return fit(buf, len, lspci_size, "%s Device %04x", v, did);
}

const char *tool_pci_device_str(const struct tool_pci_ids *d, char *buf, size_t len)
{
	return pair(buf, len, LSPCI_NAME_BUF, d->vendor_name, d->device_name, d->vendor, d->device);
}

const char *tool_pci_subsys_str(const struct tool_pci_ids *d, char *buf, size_t len)
{
	const char *name = d->subsys_name ? d->subsys_name : d->gen_subsys_name;
	if (!name && d->vendor == d->subsys_vendor && d->device == d->subsys_device)
		name = d->device_name; /* the subsystem is the device itself */
	return pair(buf, len, LSPCI_SUBSYS_BUF, d->subsys_vendor_name, name, d->subsys_vendor,
		    d->subsys_device);
}

const char *tool_pci_progif_str(const struct tool_pci_ids *d, char *buf, size_t len)
{
	if (d->progif_name)
		return fit(buf, len, LSPCI_NAME_BUF, "%s", d->progif_name);
	unsigned pi = d->prog_if;
	if (d->base_class == 0x01 && d->sub_class == 0x01 && !(pi & 0x70)) {
		/* IDE: lspci spells out the bits (and an empty name for none) */
		snprintf(buf, len, "%s%s%s%s%s", pi & 0x80 ? " Master" : "",
			 pi & 0x08 ? " SecP" : "", pi & 0x04 ? " SecO" : "",
			 pi & 0x02 ? " PriP" : "", pi & 0x01 ? " PriO" : "");
		if (*buf)
			memmove(buf, buf + 1, strlen(buf));
		return buf;
	}
	return NULL;
}
