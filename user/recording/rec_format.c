// SPDX-License-Identifier: MIT
#include <zlib.h>
#include "recording/rec_format.h"

uint32_t rec_format_frame_crc(const uint8_t *hdr8, const uint8_t *payload, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	crc = crc32(crc, hdr8, 8);
	/* zlib takes uInt lengths: feed big payloads in pieces */
	while (len) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = crc32(crc, payload, n);
		payload += n;
		len -= n;
	}
	return (uint32_t)crc;
}
