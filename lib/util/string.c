/* SPDX-License-Identifier: BSD-3-Clause */
#include "sluice/util.h"

#include <string.h>

void sl_strcpy_pad(void *dst, const char *src, size_t size, int pad)
{
	size_t len = strlen(src);

	if (len >= size) {
		memcpy(dst, src, size);
	} else {
		memcpy(dst, src, len);
		memset((char *)dst + len, pad, size - len);
	}
}

size_t sl_strlen_pad(const void *str, size_t size, int pad)
{
	const char *s = str;

	while (size > 0 && (s[size - 1] == pad || s[size - 1] == '\0'))
		size--;
	return size;
}
