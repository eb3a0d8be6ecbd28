/* SPDX-License-Identifier: BSD-3-Clause */
/* RFC 4122 version 4 UUIDs from getrandom(2). */
#include "sluice/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void sl_uuid_generate(struct sl_uuid *uuid)
{
	size_t got = 0;

	while (got < sizeof(uuid->u)) {
		ssize_t n = getrandom(uuid->u + got, sizeof(uuid->u) - got, 0);

		if (n > 0)
			got += (size_t)n;
	}
	uuid->u[6] = (uint8_t)((uuid->u[6] & 0x0f) | 0x40); /* version 4 */
	uuid->u[8] = (uint8_t)((uuid->u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

static int hexval(int c)
{
	if (isdigit(c))
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int sl_uuid_parse(struct sl_uuid *uuid, const char *s)
{
	size_t n = 0;

	if (strlen(s) != SL_UUID_STRING_LEN - 1)
		return -EINVAL;
	for (size_t i = 0; i < SL_UUID_STRING_LEN - 1; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		hi = hexval((unsigned char)s[i]);
		lo = hexval((unsigned char)s[++i]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		uuid->u[n++] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void sl_uuid_fmt(char *buf, size_t len, const struct sl_uuid *u)
{
	const uint8_t *b = u->u;

	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

bool sl_uuid_is_null(const struct sl_uuid *uuid)
{
	static const struct sl_uuid zero;

	return memcmp(uuid, &zero, sizeof(zero)) == 0;
}

int sl_uuid_compare(const struct sl_uuid *a, const struct sl_uuid *b)
{
	return memcmp(a->u, b->u, sizeof(a->u));
}
