/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci_decode.c — configuration space decoded in the manner of `lspci -vvv`:
 * identity, command and status, BARs with their sizes, and each capability.
 * Produces text and the same facts as JSON.
 */
#include <stdio.h>
#include <string.h>

#include "tool.h"

static uint16_t r16(const uint8_t *c, unsigned o)
{
	uint16_t v;
	memcpy(&v, c + o, 2);
	return v;
}

static uint32_t r32(const uint8_t *c, unsigned o)
{
	uint32_t v;
	memcpy(&v, c + o, 4);
	return v;
}

static const char *pm(bool b)
{
	return b ? "+" : "-";
}

static void size_str(uint64_t s, char *buf, size_t len)
{
	static const char *unit[] = { "", "K", "M", "G", "T" };
	int u = 0;
	while (s >= 1024 && !(s % 1024) && u < 4) {
		s /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)s, unit[u]);
}

static const char *cap_name(uint8_t id)
{
	switch (id) {
	case 0x01: return "Power Management";
	case 0x05: return "MSI";
	case 0x09: return "Vendor Specific Information";
	case 0x10: return "Express";
	case 0x11: return "MSI-X";
	default: return "Unknown";
	}
}

void tool_decode_config(const uint8_t *c, size_t len, const uint64_t *bar_sizes, FILE *out,
			json_object *js)
{
	uint16_t cmd = r16(c, 4), st = r16(c, 6);
	uint32_t class_code = (uint32_t)c[9] | (uint32_t)c[10] << 8 | (uint32_t)c[11] << 16;
	fprintf(out, "Class %04x: Device %04x:%04x (rev %02x)\n", class_code >> 8, r16(c, 0),
		r16(c, 2), c[8]);
	fprintf(out, "\tSubsystem: %04x:%04x\n", r16(c, 0x2c), r16(c, 0x2e));
	fprintf(out,
		"\tControl: I/O%s Mem%s BusMaster%s ParErr%s SERR%s DisINTx%s\n",
		pm(cmd & 1), pm(cmd & 2), pm(cmd & 4), pm(cmd & 0x40), pm(cmd & 0x100),
		pm(cmd & 0x400));
	fprintf(out, "\tStatus: Cap%s INTx%s >SERR%s <MAbort%s <TAbort%s\n", pm(st & 0x10),
		pm(st & 0x8), pm(st & 0x4000), pm(st & 0x2000), pm(st & 0x1000));
	if (c[0x3d])
		fprintf(out, "\tInterrupt: pin %c routed to IRQ %u\n", 'A' + c[0x3d] - 1, c[0x3c]);
	json_object_object_add(js, "vendor_id", json_object_new_int(r16(c, 0)));
	json_object_object_add(js, "device_id", json_object_new_int(r16(c, 2)));
	json_object_object_add(js, "subsystem_vendor_id", json_object_new_int(r16(c, 0x2c)));
	json_object_object_add(js, "subsystem_id", json_object_new_int(r16(c, 0x2e)));
	json_object_object_add(js, "class_code", json_object_new_int((int32_t)class_code));
	json_object_object_add(js, "revision", json_object_new_int(c[8]));
	json_object_object_add(js, "command", json_object_new_int(cmd));
	json_object_object_add(js, "status", json_object_new_int(st));
	json_object_object_add(js, "interrupt_pin", json_object_new_int(c[0x3d]));

	json_object *bars = json_object_new_array();
	for (unsigned b = 0; b < 6; b++) {
		uint32_t v = r32(c, 0x10 + 4 * b);
		if (!bar_sizes[b])
			continue;
		bool io = v & 1, is64 = !io && (v & 6) == 4, pf = !io && (v & 8);
		uint64_t addr = io ? (v & ~3u) : (v & ~0xfu);
		if (is64 && b < 5)
			addr |= (uint64_t)r32(c, 0x14 + 4 * b) << 32;
		char sz[32];
		size_str(bar_sizes[b], sz, sizeof(sz));
		if (io)
			fprintf(out, "\tRegion %u: I/O ports at %04llx [size=%s]\n", b,
				(unsigned long long)addr, sz);
		else
			fprintf(out, "\tRegion %u: Memory at %08llx (%s, %sprefetchable) [size=%s]\n",
				b, (unsigned long long)addr, is64 ? "64-bit" : "32-bit",
				pf ? "" : "non-", sz);
		json_object *jb = json_object_new_object();
		json_object_object_add(jb, "bar", json_object_new_int((int)b));
		json_object_object_add(jb, "type", json_object_new_string(io ? "io" : "memory"));
		json_object_object_add(jb, "bits", json_object_new_int(is64 ? 64 : 32));
		json_object_object_add(jb, "prefetchable", json_object_new_boolean(pf));
		json_object_object_add(jb, "address", json_object_new_uint64(addr));
		json_object_object_add(jb, "size", json_object_new_uint64(bar_sizes[b]));
		json_object_array_add(bars, jb);
		if (is64)
			b++;
	}
	json_object_object_add(js, "bars", bars);

	json_object *caps = json_object_new_array();
	unsigned seen = 0;
	for (unsigned p = (st & 0x10) ? c[0x34] & ~3u : 0; p && p + 2 <= len && seen < 48;
	     p = c[p + 1] & ~3u, seen++) {
		uint8_t id = c[p];
		json_object *jc = json_object_new_object();
		json_object_object_add(jc, "offset", json_object_new_int((int)p));
		json_object_object_add(jc, "id", json_object_new_int(id));
		json_object_object_add(jc, "name", json_object_new_string(cap_name(id)));
		fprintf(out, "\tCapabilities: [%02x] ", p);
		if (id == 0x01 && p + 8 <= len) {
			uint16_t pmc = r16(c, p + 2), csr = r16(c, p + 4);
			fprintf(out, "Power Management version %u\n", pmc & 7);
			fprintf(out, "\t\tStatus: D%u PME-Enable%s\n", csr & 3, pm(csr & 0x100));
			json_object_object_add(jc, "version", json_object_new_int(pmc & 7));
			json_object_object_add(jc, "power_state", json_object_new_int(csr & 3));
		} else if (id == 0x05 && p + 10 <= len) {
			uint16_t ctl = r16(c, p + 2);
			unsigned count = 1u << ((ctl >> 1) & 7), en = 1u << ((ctl >> 4) & 7);
			fprintf(out, "MSI: Enable%s Count=%u/%u Maskable%s 64bit%s\n", pm(ctl & 1), en,
				count, pm(ctl & 0x100), pm(ctl & 0x80));
			json_object_object_add(jc, "enabled", json_object_new_boolean(ctl & 1));
			json_object_object_add(jc, "vectors", json_object_new_int((int)count));
			json_object_object_add(jc, "maskable", json_object_new_boolean(ctl & 0x100));
			json_object_object_add(jc, "addr64", json_object_new_boolean(ctl & 0x80));
		} else if (id == 0x11 && p + 12 <= len) {
			uint16_t ctl = r16(c, p + 2);
			uint32_t t = r32(c, p + 4), pba = r32(c, p + 8);
			fprintf(out, "MSI-X: Enable%s Count=%u Masked%s\n", pm(ctl & 0x8000),
				(ctl & 0x7ff) + 1, pm(ctl & 0x4000));
			fprintf(out, "\t\tVector table: BAR=%u offset=%08x\n", t & 7, t & ~7u);
			fprintf(out, "\t\tPBA: BAR=%u offset=%08x\n", pba & 7, pba & ~7u);
			json_object_object_add(jc, "enabled", json_object_new_boolean(ctl & 0x8000));
			json_object_object_add(jc, "vectors", json_object_new_int((ctl & 0x7ff) + 1));
			json_object_object_add(jc, "table_bar", json_object_new_int((int)(t & 7)));
			json_object_object_add(jc, "table_offset", json_object_new_int64(t & ~7u));
			json_object_object_add(jc, "pba_bar", json_object_new_int((int)(pba & 7)));
			json_object_object_add(jc, "pba_offset", json_object_new_int64(pba & ~7u));
		} else if (id == 0x10 && p + 20 <= len) {
			uint16_t caps = r16(c, p + 2);
			static const char *types[] = { "Endpoint", "Legacy Endpoint", "?", "?",
						       "Root Port", "Upstream Port",
						       "Downstream Port", "PCI-Express to PCI/PCI-X Bridge",
						       "PCI/PCI-X to PCI-Express Bridge",
						       "Root Complex Integrated Endpoint",
						       "Root Complex Event Collector" };
			unsigned t = (caps >> 4) & 0xf;
			uint16_t lsta = r16(c, p + 18);
			fprintf(out, "Express (v%u) %s\n", caps & 0xf, t < 11 ? types[t] : "?");
			fprintf(out, "\t\tLnkSta: Speed %sGT/s, Width x%u\n",
				(lsta & 0xf) == 1 ? "2.5" : (lsta & 0xf) == 2 ? "5" : "8",
				(lsta >> 4) & 0x3f);
			json_object_object_add(jc, "version", json_object_new_int(caps & 0xf));
			json_object_object_add(jc, "port_type",
					       json_object_new_string(t < 11 ? types[t] : "?"));
		} else if (id == 0x09 && p + 3 <= len) {
			fprintf(out, "Vendor Specific Information: Len=%02x\n", c[p + 2]);
			json_object_object_add(jc, "length", json_object_new_int(c[p + 2]));
		} else {
			fprintf(out, "%s (id %02x)\n", cap_name(id), id);
		}
		json_object_array_add(caps, jc);
	}
	json_object_object_add(js, "capabilities", caps);
}
