/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci_decode.c — configuration space decoded line for line as `lspci -vvv`
 * prints it for a real device (the kernel's view through sysfs, with region
 * sizes): identity and names, command and status, BARs and ROM with their
 * sizes, and each capability. It prints a subset of lspci's lines, each one
 * exactly as lspci would (tests/tool/test_decode.c holds it to that); `uvfio
 * lspci` runs lspci itself for the rest. The same facts go into JSON.
 */
#include <stdio.h>
#include <string.h>

#include "tool.h"

#define FLAG(v, bit) ((v) & (bit) ? '+' : '-')

struct cfg {
	const uint8_t *c;
	size_t len;
};

/* lspci's config_fetch(): false past the end of what the device gave. */
static bool have(const struct cfg *c, size_t off, size_t n)
{
	return off + n <= c->len;
}

static uint8_t r8(const struct cfg *c, size_t o)
{
	return have(c, o, 1) ? c->c[o] : 0xff;
}

static uint16_t r16(const struct cfg *c, size_t o)
{
	return (uint16_t)(r8(c, o) | r8(c, o + 1) << 8);
}

static uint32_t r32(const struct cfg *c, size_t o)
{
	return (uint32_t)r16(c, o) | (uint32_t)r16(c, o + 2) << 16;
}

static unsigned header_type(const struct cfg *c)
{
	return r8(c, 0x0e) & 0x7f;
}

/* The first capability with this id, or 0. */
static unsigned find_cap(const struct cfg *c, uint8_t id)
{
	if (!(r16(c, 0x06) & 0x10))
		return 0;
	uint8_t seen[256] = { 0 };
	for (unsigned p = r8(c, header_type(c) == 2 ? 0x14 : 0x34) & ~3u; p && have(c, p, 2);
	     p = r8(c, p + 1) & ~3u) {
		if (seen[p]++)
			break;
		if (r8(c, p) == id)
			return p;
	}
	return 0;
}

void tool_pci_ids_from_config(const uint8_t *cfg, size_t len, struct tool_pci_ids *d)
{
	struct cfg c = { cfg, len };
	memset(d, 0, sizeof(*d));
	d->vendor = r16(&c, 0);
	d->device = r16(&c, 2);
	d->prog_if = r8(&c, 9);
	d->sub_class = r8(&c, 10);
	d->base_class = r8(&c, 11);
	d->revision = r8(&c, 8);
	d->subsys_vendor = d->subsys_device = -1;
	/* where the kernel finds the subsystem ids, by header type */
	unsigned t = header_type(&c), ss = t == 0 ? 0x2c : t == 2 ? 0x40 : 0;
	if (t == 1 && (ss = find_cap(&c, 0x0d)))
		ss += 4;
	if (ss && have(&c, ss, 4)) {
		d->subsys_vendor = r16(&c, ss);
		d->subsys_device = r16(&c, ss + 2);
	}
}

static void show_size(FILE *out, uint64_t x)
{
	static const char *suffix[] = { "", "K", "M", "G", "T" };
	unsigned i;
	if (!x)
		return;
	for (i = 0; i < 4 && !(x % 1024); i++)
		x /= 1024;
	fprintf(out, " [size=%u%s]", (unsigned)x, suffix[i]);
}

static void decode_ident(const struct cfg *c, FILE *out, json_object *js)
{
	struct tool_pci_ids d;
	tool_pci_ids_from_config(c->c, c->len, &d);
	tool_pci_ids_lookup(&d);
	char cls[128], dev[128], pif[128], sub[256];
	tool_pci_class_str(&d, cls, sizeof(cls));
	tool_pci_device_str(&d, dev, sizeof(dev));
	fprintf(out, "%s: %s", cls, dev);
	if (d.revision)
		fprintf(out, " (rev %02x)", d.revision);
	const char *pi = tool_pci_progif_str(&d, pif, sizeof(pif));
	if (d.prog_if || pi) {
		fprintf(out, " (prog-if %02x", d.prog_if);
		if (pi)
			fprintf(out, " [%s]", pi);
		fputc(')', out);
	}
	fputc('\n', out);
	if (d.subsys_vendor > 0 && d.subsys_vendor != 0xffff)
		fprintf(out, "\tSubsystem: %s\n", tool_pci_subsys_str(&d, sub, sizeof(sub)));

	json_object_object_add(js, "vendor_id", json_object_new_int(d.vendor));
	json_object_object_add(js, "device_id", json_object_new_int(d.device));
	json_object_object_add(js, "subsystem_vendor_id", json_object_new_int(d.subsys_vendor));
	json_object_object_add(js, "subsystem_id", json_object_new_int(d.subsys_device));
	json_object_object_add(js, "class_code",
			       json_object_new_int(d.base_class << 16 | d.sub_class << 8 | d.prog_if));
	json_object_object_add(js, "revision", json_object_new_int(d.revision));
	const char *names[][2] = { { "vendor_name", d.vendor_name },
				   { "device_name", d.device_name },
				   { "class_name", d.subclass_name ? d.subclass_name : d.class_name },
				   { "prog_if_name", d.progif_name } };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		json_object_object_add(js, names[i][0],
				       names[i][1] ? json_object_new_string(names[i][1]) : NULL);
	tool_pci_ids_free(&d);
}

static const char *devsel(uint16_t st)
{
	static const char *s[] = { "fast", "medium", "slow", "??" };
	return s[(st >> 9) & 3];
}

static void decode_header(const struct cfg *c, FILE *out, json_object *js)
{
	uint16_t cmd = r16(c, 4), st = r16(c, 6);
	fprintf(out,
		"\tControl: I/O%c Mem%c BusMaster%c SpecCycle%c MemWINV%c VGASnoop%c ParErr%c "
		"Stepping%c SERR%c FastB2B%c DisINTx%c\n",
		FLAG(cmd, 0x1), FLAG(cmd, 0x2), FLAG(cmd, 0x4), FLAG(cmd, 0x8), FLAG(cmd, 0x10),
		FLAG(cmd, 0x20), FLAG(cmd, 0x40), FLAG(cmd, 0x80), FLAG(cmd, 0x100),
		FLAG(cmd, 0x200), FLAG(cmd, 0x400));
	fprintf(out,
		"\tStatus: Cap%c 66MHz%c UDF%c FastB2B%c ParErr%c DEVSEL=%s >TAbort%c <TAbort%c "
		"<MAbort%c >SERR%c <PERR%c INTx%c\n",
		FLAG(st, 0x10), FLAG(st, 0x20), FLAG(st, 0x40), FLAG(st, 0x80), FLAG(st, 0x100),
		devsel(st), FLAG(st, 0x800), FLAG(st, 0x1000), FLAG(st, 0x2000), FLAG(st, 0x4000),
		FLAG(st, 0x8000), FLAG(st, 0x8));
	if (cmd & 0x4) {
		/* min_gnt and max_lat exist in a type 0 header only */
		unsigned lat = r8(c, 0x0d), cl = r8(c, 0x0c);
		unsigned gnt = header_type(c) == 0 ? r8(c, 0x3e) : 0;
		unsigned max = header_type(c) == 0 ? r8(c, 0x3f) : 0;
		fprintf(out, "\tLatency: %u", lat);
		if (gnt || max) {
			fputs(" (", out);
			if (gnt)
				fprintf(out, "%uns min", gnt * 250);
			if (gnt && max)
				fputs(", ", out);
			if (max)
				fprintf(out, "%uns max", max * 250);
			fputc(')', out);
		}
		if (cl)
			fprintf(out, ", Cache Line Size: %u bytes", cl * 4);
		fputc('\n', out);
	}
	/* the IRQ a guest kernel reports is its own; ours is the line register */
	uint8_t pin = r8(c, 0x3d), line = r8(c, 0x3c);
	if (pin || line)
		fprintf(out, "\tInterrupt: pin %c routed to IRQ %u\n",
			pin ? (unsigned char)('A' + pin - 1) : '?', line);
	uint8_t bist = r8(c, 0x0f);
	if (bist & 0x80) {
		if (bist & 0x40)
			fputs("\tBIST is running\n", out);
		else
			fprintf(out, "\tBIST result: %02x\n", bist & 0x0f);
	}
	json_object_object_add(js, "command", json_object_new_int(cmd));
	json_object_object_add(js, "status", json_object_new_int(st));
	json_object_object_add(js, "interrupt_pin", json_object_new_int(pin));
}

/* Where the header keeps its expansion ROM register, or 0. */
static unsigned rom_reg(const struct cfg *c)
{
	return header_type(c) == 0 ? 0x30 : header_type(c) == 1 ? 0x38 : 0;
}

void tool_bar_resource(const uint8_t *cfg, size_t len, unsigned i, uint64_t size,
		       struct tool_resource *res)
{
	struct cfg cc = { cfg, len }, *c = &cc;
	memset(res, 0, sizeof(*res));
	if (i == 6) { /* the expansion ROM */
		if (!rom_reg(c))
			return;
		uint32_t v = r32(c, rom_reg(c));
		res->start = v & ~0x7ffu;
		res->flags = 0x46200 | (v & 1); /* MEM PREFETCH READONLY SIZEALIGN, ROM_ENABLE */
	} else {
		uint32_t v = r32(c, 0x10 + 4 * i);
		if (v & 1) {
			res->start = v & ~3u;
			res->flags = 0x40100 | (v & 3); /* IO SIZEALIGN, the BAR's low bits */
		} else {
			res->start = v & ~0xfu;
			res->flags = 0x40200 | (v & 0xf); /* MEM SIZEALIGN, the BAR's low bits */
			if (v & 8)
				res->flags |= 0x2000; /* PREFETCH */
			if ((v & 6) == 4) {
				res->flags |= 0x100000; /* MEM_64 */
				if (i < 5)
					res->start |= (uint64_t)r32(c, 0x14 + 4 * i) << 32;
			}
		}
	}
	/* the kernel reports no 1-byte BAR, and none that wraps around */
	if (size < 2 || res->start + (size - 1) < res->start)
		memset(res, 0, sizeof(*res));
	else
		res->size = size;
}

/*
 * lspci's show_bases() and show_rom() for a device read through sysfs: the
 * kernel reports each BAR's address, type and size; the raw register tells
 * unassigned from ignored. A BAR whose region has no size is not reported.
 */
static void decode_bars(const struct cfg *c, const uint64_t *sizes, FILE *out, json_object *js)
{
	unsigned t = header_type(c), cnt = t == 0 ? 6 : t == 1 ? 2 : t == 2 ? 1 : 0;
	uint16_t cmd = r16(c, 4);
	json_object *bars = json_object_new_array();
	for (unsigned i = 0; i < cnt; i++) {
		struct tool_resource res;
		tool_bar_resource(c->c, c->len, i, sizes[i], &res);
		if (!res.size)
			continue;
		uint32_t hw = r32(c, 0x10 + 4 * i);
		uint64_t pos = res.start | (res.flags & 0xf);
		bool io = res.flags & 0x100, is64 = res.flags & 0x100000,
		     pf = res.flags & 0x2000;
		fprintf(out, "\tRegion %u: ", i);
		if (io) {
			uint64_t a = pos & ~3ull;
			fputs("I/O ports at ", out);
			if (a || (cmd & 1))
				fprintf(out, "%04llx", (unsigned long long)a);
			else
				fputs(hw ? "<ignored>" : "<unassigned>", out);
			if (!(cmd & 1))
				fputs(" [disabled]", out);
		} else {
			uint64_t a = pos & ~0xfull;
			fputs("Memory at ", out);
			if (is64 && i >= cnt - 1)
				fputs("<broken-64-bit-slot>", out);
			else if (a)
				fprintf(out, "%08llx", (unsigned long long)a);
			else
				fputs(hw ? "<ignored>" : "<unassigned>", out);
			fprintf(out, " (%s, %sprefetchable)", is64 ? "64-bit" : "32-bit",
				pf ? "" : "non-");
			if (!(cmd & 2))
				fputs(" [disabled]", out);
		}
		show_size(out, res.size);
		fputc('\n', out);
		json_object *jb = json_object_new_object();
		json_object_object_add(jb, "bar", json_object_new_int((int)i));
		json_object_object_add(jb, "type", json_object_new_string(io ? "io" : "memory"));
		json_object_object_add(jb, "bits", json_object_new_int(is64 ? 64 : 32));
		json_object_object_add(jb, "prefetchable", json_object_new_boolean(pf));
		json_object_object_add(jb, "address", json_object_new_uint64(res.start));
		json_object_object_add(jb, "size", json_object_new_uint64(res.size));
		json_object_array_add(bars, jb);
	}
	json_object_object_add(js, "bars", bars);
	if (!rom_reg(c))
		return;
	struct tool_resource rom;
	tool_bar_resource(c->c, c->len, 6, sizes[6], &rom);
	uint32_t flg = r32(c, rom_reg(c));
	uint64_t pos = rom.size ? rom.start | (rom.flags & 0xf) : 0;
	if (!pos && !flg && !rom.size)
		return;
	fputs("\tExpansion ROM at ", out);
	if (pos & ~0x7ffull)
		fprintf(out, "%08llx", (unsigned long long)(pos & ~0x7ffull));
	else
		fputs(flg & ~0x7ffu ? "<ignored>" : "<unassigned>", out);
	if (!(flg & 1))
		fputs(" [disabled]", out);
	else if (!(cmd & 2))
		fputs(" [disabled by cmd]", out);
	show_size(out, rom.size);
	fputc('\n', out);
	if (rom.size)
		json_object_object_add(js, "rom_size", json_object_new_uint64(rom.size));
}

static void cap_pm(const struct cfg *c, unsigned p, uint16_t cap, FILE *out, json_object *jc)
{
	static const unsigned aux[8] = { 0, 55, 100, 160, 220, 270, 320, 375 };
	fprintf(out, "Power Management version %u\n", cap & 7);
	fprintf(out,
		"\t\tFlags: PMEClk%c DSI%c D1%c D2%c AuxCurrent=%umA "
		"PME(D0%c,D1%c,D2%c,D3hot%c,D3cold%c)\n",
		FLAG(cap, 0x8), FLAG(cap, 0x20), FLAG(cap, 0x200), FLAG(cap, 0x400),
		aux[(cap >> 6) & 7], FLAG(cap, 0x800), FLAG(cap, 0x1000), FLAG(cap, 0x2000),
		FLAG(cap, 0x4000), FLAG(cap, 0x8000));
	json_object_object_add(jc, "version", json_object_new_int(cap & 7));
	if (!have(c, p + 4, 4))
		return;
	uint16_t csr = r16(c, p + 4);
	fprintf(out, "\t\tStatus: D%u NoSoftRst%c PME-Enable%c DSel=%u DScale=%u PME%c\n", csr & 3,
		FLAG(csr, 0x8), FLAG(csr, 0x100), (csr >> 9) & 0xf, (csr >> 13) & 3,
		FLAG(csr, 0x8000));
	uint8_t b = r8(c, p + 6);
	if (b)
		fprintf(out, "\t\tBridge: PM%c B3%c\n", FLAG(b, 0x80), FLAG(~b, 0x40));
	json_object_object_add(jc, "power_state", json_object_new_int(csr & 3));
}

static void cap_msi(const struct cfg *c, unsigned p, uint16_t cap, FILE *out, json_object *jc)
{
	unsigned count = 1u << ((cap >> 1) & 7), en = 1u << ((cap >> 4) & 7);
	bool is64 = cap & 0x80, mask = cap & 0x100;
	fprintf(out, "MSI: Enable%c Count=%u/%u Maskable%c 64bit%c\n", FLAG(cap, 1), en, count,
		FLAG(cap, 0x100), FLAG(cap, 0x80));
	json_object_object_add(jc, "enabled", json_object_new_boolean(cap & 1));
	json_object_object_add(jc, "vectors", json_object_new_int((int)count));
	json_object_object_add(jc, "maskable", json_object_new_boolean(mask));
	json_object_object_add(jc, "addr64", json_object_new_boolean(is64));
	if (!have(c, p + 4, is64 ? 10 : 6))
		return;
	fputs("\t\tAddress: ", out);
	if (is64)
		fprintf(out, "%08x", r32(c, p + 8));
	fprintf(out, "%08x  Data: %04x\n", r32(c, p + 4), r16(c, p + (is64 ? 12 : 8)));
	unsigned m = p + (is64 ? 16 : 12);
	if (mask && have(c, m, 8))
		fprintf(out, "\t\tMasking: %08x  Pending: %08x\n", r32(c, m), r32(c, m + 4));
}

static void cap_msix(const struct cfg *c, unsigned p, uint16_t cap, FILE *out, json_object *jc)
{
	fprintf(out, "MSI-X: Enable%c Count=%u Masked%c\n", FLAG(cap, 0x8000), (cap & 0x7ff) + 1,
		FLAG(cap, 0x4000));
	json_object_object_add(jc, "enabled", json_object_new_boolean(cap & 0x8000));
	json_object_object_add(jc, "vectors", json_object_new_int((cap & 0x7ff) + 1));
	if (!have(c, p + 4, 8))
		return;
	uint32_t t = r32(c, p + 4), pba = r32(c, p + 8);
	fprintf(out, "\t\tVector table: BAR=%u offset=%08x\n", t & 7, t & ~7u);
	fprintf(out, "\t\tPBA: BAR=%u offset=%08x\n", pba & 7, pba & ~7u);
	json_object_object_add(jc, "table_bar", json_object_new_int((int)(t & 7)));
	json_object_object_add(jc, "table_offset", json_object_new_int64(t & ~7u));
	json_object_object_add(jc, "pba_bar", json_object_new_int((int)(pba & 7)));
	json_object_object_add(jc, "pba_offset", json_object_new_int64(pba & ~7u));
}

static const char *link_speed(unsigned s)
{
	static const char *n[] = { "unknown", "2.5GT/s", "5GT/s", "8GT/s",
				   "16GT/s",  "32GT/s",	 "64GT/s" };
	return s < 7 ? n[s] : "unknown";
}

static void cap_express(const struct cfg *c, unsigned p, uint16_t cap, FILE *out,
			json_object *jc)
{
	static const char *types[] = { "Endpoint",
				       "Legacy Endpoint",
				       NULL,
				       NULL,
				       "Root Port",
				       "Upstream Port",
				       "Downstream Port",
				       "PCI-Express to PCI/PCI-X Bridge",
				       "PCI/PCI-X to PCI-Express Bridge",
				       "Root Complex Integrated Endpoint",
				       "Root Complex Event Collector" };
	unsigned type = (cap >> 4) & 0xf;
	bool has_slot = type == 4 || type == 6 || type == 8, slot = has_slot && (cap & 0x100);
	fprintf(out, "Express (v%u) ", cap & 0xf);
	if (type < 11 && types[type])
		fputs(types[type], out);
	else
		fprintf(out, "Unknown type %u", type);
	if (has_slot)
		fprintf(out, " (Slot%c)", FLAG(cap, 0x100));
	fprintf(out, ", MSI %02x\n", (cap >> 9) & 0x1f);
	json_object_object_add(jc, "version", json_object_new_int(cap & 0xf));
	json_object_object_add(jc, "port_type", json_object_new_string(type < 11 && types[type]
									  ? types[type]
									  : "Unknown"));
	/* lspci shows the link only when the device, link and slot registers
	 * are there, and not for root complex devices */
	unsigned need = type == 4 || type == 10 ? 32 : slot ? 24 : 16;
	if (type == 9 || type == 10 || !have(c, p + 4, need))
		return;
	uint32_t lcap = r32(c, p + 0x0c);
	uint16_t lsta = r16(c, p + 0x12);
	unsigned cs = lcap & 0xf, cw = (lcap >> 4) & 0x3f, ss = lsta & 0xf, sw = (lsta >> 4) & 0x3f;
	const char *sc = ss > cs ? " (overdriven)" : ss == cs || has_slot ? "" : " (downgraded)";
	const char *wc = sw > cw ? " (overdriven)" : sw == cw || has_slot ? "" : " (downgraded)";
	fprintf(out, "\t\tLnkSta:\tSpeed %s%s, Width x%u%s\n", link_speed(ss), sc, sw, wc);
}

/* lspci knows the vendor capabilities of virtio devices. */
static bool cap_virtio(const struct cfg *c, unsigned p, uint16_t cap, FILE *out)
{
	static const char *types[] = { "<unknown>", "CommonCfg", "Notify", "ISR", "DeviceCfg" };
	unsigned len = cap & 0xff, type = cap >> 8;
	if (r16(c, 0) != 0x1af4 || r16(c, 2) < 0x1000 || r16(c, 2) > 0x107f || len < 16 ||
	    !have(c, p, len))
		return false;
	fprintf(out, "VirtIO: %s\n", types[type < 5 ? type : 0]);
	fprintf(out, "\t\tBAR=%u offset=%08x size=%08x", r8(c, p + 4), r32(c, p + 8),
		r32(c, p + 12));
	if (type == 2 && len >= 20)
		fprintf(out, " multiplier=%08x", r32(c, p + 16));
	fputc('\n', out);
	return true;
}

/*
 * Capabilities whose first line lspci composes from more than this decoder
 * reads print only its fixed start, and are marked "decoded": false.
 */
static bool cap_line(const struct cfg *c, unsigned p, uint8_t id, uint16_t cap, FILE *out,
		     json_object *jc)
{
	char sub[256];
	switch (id) {
	case 0x00: fputs("Null\n", out); return true;
	case 0x01: cap_pm(c, p, cap, out, jc); return true;
	case 0x02: fprintf(out, "AGP version %x.%x\n", (cap >> 4) & 0xf, cap & 0xf); return true;
	case 0x03: fputs("Vital Product Data\n", out); return true;
	case 0x04:
		fprintf(out, "Slot ID: %u slots, First%c, chassis %02x\n", cap & 0x1f,
			FLAG(cap, 0x20), cap >> 8);
		return true;
	case 0x05: cap_msi(c, p, cap, out, jc); return true;
	case 0x06: fputs("CompactPCI hot-swap <?>\n", out); return true;
	case 0x07:
		if (header_type(c) > 1) { /* lspci prints nothing for a CardBus bridge */
			fputs("PCI-X\n", out);
			return false;
		}
		fprintf(out, "PCI-X %sbridge device\n", header_type(c) ? "" : "non-");
		return true;
	case 0x08: fputs("HyperTransport\n", out); return false;
	case 0x09:
		fputs("Vendor Specific Information: ", out);
		if (!cap_virtio(c, p, cap, out))
			fprintf(out, "Len=%02x <?>\n", cap & 0xff);
		json_object_object_add(jc, "length", json_object_new_int(cap & 0xff));
		return true;
	case 0x0a: fprintf(out, "Debug port: BAR=%u offset=%04x\n", cap >> 13, cap & 0x1fff); return true;
	case 0x0b: fputs("CompactPCI central resource control <?>\n", out); return true;
	case 0x0c: fputs("Hot-plug capable\n", out); return true;
	case 0x0d: {
		if (!have(c, p, 8))
			return true;
		struct tool_pci_ids d;
		tool_pci_ids_from_config(c->c, c->len, &d);
		d.subsys_vendor = r16(c, p + 4);
		d.subsys_device = r16(c, p + 6);
		tool_pci_ids_lookup(&d);
		fprintf(out, "Subsystem: %s\n", tool_pci_subsys_str(&d, sub, sizeof(sub)));
		tool_pci_ids_free(&d);
		return true;
	}
	case 0x0e: fputs("AGP3 <?>\n", out); return true;
	case 0x0f: fputs("Secure device <?>\n", out); return true;
	case 0x10: cap_express(c, p, cap, out, jc); return true;
	case 0x11: cap_msix(c, p, cap, out, jc); return true;
	case 0x12: fprintf(out, "SATA HBA v%u.%u\n", (cap >> 4) & 0xf, cap & 0xf); return false;
	case 0x13: fputs("PCI Advanced Features\n", out); return true;
	case 0x14: fprintf(out, "Enhanced Allocation (EA): NumEntries=%u\n", cap & 0x3f); return false;
	default: fprintf(out, "Capability ID %#02x [%04x]\n", id, cap); return true;
	}
}

static const char *cap_name(uint8_t id)
{
	static const char *n[] = {
		"Null", "Power Management", "AGP", "Vital Product Data", "Slot ID", "MSI",
		"CompactPCI hot-swap", "PCI-X", "HyperTransport", "Vendor Specific Information",
		"Debug port", "CompactPCI central resource control", "Hot-plug", "Subsystem",
		"AGP3", "Secure device", "Express", "MSI-X", "SATA HBA", "PCI Advanced Features",
		"Enhanced Allocation",
	};
	return id < sizeof(n) / sizeof(n[0]) ? n[id] : "Unknown";
}

/* lspci's show_caps(): the chain, with its loop and breakage checks. */
static void decode_caps(const struct cfg *c, FILE *out, json_object *js)
{
	json_object *caps = json_object_new_array();
	json_object_object_add(js, "capabilities", caps);
	if (!(r16(c, 6) & 0x10) || header_type(c) > 2)
		return;
	uint8_t seen[256] = { 0 };
	for (unsigned p = r8(c, header_type(c) == 2 ? 0x14 : 0x34) & ~3u; p;) {
		fputs("\tCapabilities: ", out);
		if (!have(c, p, 4)) {
			fputs("<access denied>\n", out);
			break;
		}
		uint8_t id = r8(c, p), next = r8(c, p + 1) & ~3u;
		uint16_t cap = r16(c, p + 2);
		fprintf(out, "[%02x] ", p);
		if (seen[p]++) {
			fputs("<chain looped>\n", out);
			break;
		}
		if (id == 0xff) {
			fputs("<chain broken>\n", out);
			break;
		}
		json_object *jc = json_object_new_object();
		json_object_object_add(jc, "offset", json_object_new_int((int)p));
		json_object_object_add(jc, "id", json_object_new_int(id));
		json_object_object_add(jc, "name", json_object_new_string(cap_name(id)));
		bool whole = cap_line(c, p, id, cap, out, jc);
		json_object_object_add(jc, "decoded", json_object_new_boolean(whole));
		json_object_array_add(caps, jc);
		p = next;
	}
}

void tool_decode_config(const uint8_t *cfg, size_t len, const uint64_t *sizes, FILE *out,
			json_object *js)
{
	struct cfg c = { cfg, len };
	if (len < 64) {
		fprintf(out, "(the configuration space has only %zu bytes)\n", len);
		return;
	}
	decode_ident(&c, out, js);
	if (header_type(&c) > 2) /* lspci shows nothing it cannot interpret */
		return;
	decode_header(&c, out, js);
	decode_bars(&c, sizes, out, js);
	decode_caps(&c, out, js);
}
