/* SPDX-License-Identifier: BSD-3-Clause */
#include "sluice/util.h"

#include <string.h>

size_t sl_iov_length(const struct iovec *iov, int iovcnt)
{
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return len;
}

size_t sl_iov_to_buf(const struct iovec *iov, int iovcnt, void *buf, size_t len)
{
	size_t done = 0;

	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n = SL_MIN(iov[i].iov_len, len - done);

		memcpy((char *)buf + done, iov[i].iov_base, n);
		done += n;
	}
	return done;
}

size_t sl_iov_from_buf(const struct iovec *iov, int iovcnt, const void *buf, size_t len)
{
	size_t done = 0;

	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n = SL_MIN(iov[i].iov_len, len - done);

		memcpy(iov[i].iov_base, (const char *)buf + done, n);
		done += n;
	}
	return done;
}

size_t sl_iov_copy(const struct iovec *dst, int dstcnt, const struct iovec *src, int srccnt)
{
	size_t done = 0, doff = 0, soff = 0;
	int d = 0, s = 0;

	while (d < dstcnt && s < srccnt) {
		size_t n = SL_MIN(dst[d].iov_len - doff, src[s].iov_len - soff);

		memcpy((char *)dst[d].iov_base + doff, (const char *)src[s].iov_base + soff, n);
		done += n;
		doff += n;
		soff += n;
		if (doff == dst[d].iov_len) {
			d++;
			doff = 0;
		}
		if (soff == src[s].iov_len) {
			s++;
			soff = 0;
		}
	}
	return done;
}

void sl_iov_memset(const struct iovec *iov, int iovcnt, int c)
{
	for (int i = 0; i < iovcnt; i++)
		memset(iov[i].iov_base, c, iov[i].iov_len);
}
