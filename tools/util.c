/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of tool.h that need neither a connection nor the command line
 * (the trace decoder and its tests link them too): names of regions and
 * interrupt types and their parsing, hex dumps.
 */
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "tool.h"

static const char *region_names[] = { "BAR0", "BAR1", "BAR2", "BAR3", "BAR4",
				      "BAR5", "ROM",  "CONFIG", "VGA" };
static const char *irq_names[] = { "INTX", "MSI", "MSIX", "ERR", "REQ" };

bool tool_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return false;
	*v = x;
	return true;
}

bool tool_parse_region(const char *s, uint32_t *idx)
{
	for (uint32_t i = 0; i < 9; i++)
		if (!strcasecmp(s, region_names[i])) {
			*idx = i;
			return true;
		}
	uint64_t v;
	if (tool_parse_u64(s, &v) && v < 1024) {
		*idx = (uint32_t)v;
		return true;
	}
	return false;
}

bool tool_parse_irq(const char *s, uint32_t *idx)
{
	for (uint32_t i = 0; i < 5; i++)
		if (!strcasecmp(s, irq_names[i]) || (!strcasecmp(s, "msi-x") && i == 2)) {
			*idx = i;
			return true;
		}
	uint64_t v;
	if (tool_parse_u64(s, &v) && v < 64) {
		*idx = (uint32_t)v;
		return true;
	}
	return false;
}

const char *tool_region_name(uint32_t i, char *buf, size_t len)
{
	if (i < 9)
		return region_names[i];
	snprintf(buf, len, "REGION%u", i);
	return buf;
}

const char *tool_irq_name(uint32_t i)
{
	return i < 5 ? irq_names[i] : "OTHER";
}

char *tool_hex(char *out, const uint8_t *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[buf[i] >> 4];
		out[2 * i + 1] = digits[buf[i] & 15];
	}
	out[2 * len] = 0;
	return out;
}

void tool_hexdump(FILE *out, uint64_t base, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i += 16) {
		fprintf(out, "%08llx:", (unsigned long long)(base + i));
		for (size_t k = 0; k < 16; k++) {
			if (i + k < len)
				fprintf(out, " %02x", buf[i + k]);
			else
				fputs("   ", out);
		}
		fputs("  ", out);
		for (size_t k = 0; k < 16 && i + k < len; k++) {
			uint8_t ch = buf[i + k];
			fputc(ch >= 32 && ch < 127 ? ch : '.', out);
		}
		fputc('\n', out);
	}
}
