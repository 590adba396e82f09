// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <string.h>
#include "output/escape.h"
#include "output/fmt.h"

#define JSON_STR_MAX 4096	/* escaped; inputs are bounded well below */

const char *fmt_tid(uint32_t tid, uint32_t ns_tid, char *buf, size_t len)
{
	if (ns_tid && ns_tid != tid)
		snprintf(buf, len, "%u (ns %u)", tid, ns_tid);
	else
		snprintf(buf, len, "%u", tid);
	return buf;
}

void fmt_json_tid(FILE *out, uint32_t tid, uint32_t ns_tid)
{
	fprintf(out, "\"tid\":%u", tid);
	if (ns_tid && ns_tid != tid)
		fprintf(out, ",\"ns_tid\":%u", ns_tid);
}

const char *fmt_dur(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2fms", (double)ns / 1e6);
	else if (ns < 600000000000ull)
		snprintf(buf, len, "%.2fs", (double)ns / 1e9);
	else
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", (uint64_t)(ns / 60000000000ull),
			 (uint64_t)((ns / 1000000000ull) % 60));
	return buf;
}

void fmt_json_str(FILE *out, const char *s)
{
	char buf[JSON_STR_MAX];

	json_escape(s ? s : "", buf, sizeof(buf));
	fputc('"', out);
	fputs(buf, out);
	fputc('"', out);
}

void fmt_csv_field(FILE *out, const char *s, bool last)
{
	bool quote = strpbrk(s, ",\"\n\r") != NULL;

	if (quote) {
		fputc('"', out);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', out);
			fputc(*s, out);
		}
		fputc('"', out);
	} else {
		fputs(s, out);
	}
	fputc(last ? '\n' : ',', out);
}
