/* SPDX-License-Identifier: BSD-3-Clause */
/* CRC32C through ISA-L (hardware crc32 instruction when the CPU has it). */
#include "sluice/util.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t sl_crc32c_update(const void *buf, size_t len, uint32_t crc)
{
	const unsigned char *p = buf;

	/* ISA-L takes an int length. */
	while (len > INT_MAX) {
		crc = crc32_iscsi((unsigned char *)p, INT_MAX, crc);
		p += INT_MAX;
		len -= INT_MAX;
	}
	return crc32_iscsi((unsigned char *)p, (int)len, crc);
}

uint32_t sl_crc32c_iov_update(const struct iovec *iov, int iovcnt, uint32_t crc)
{
	for (int i = 0; i < iovcnt; i++)
		crc = sl_crc32c_update(iov[i].iov_base, iov[i].iov_len, crc);
	return crc;
}

uint32_t sl_crc32c(const void *buf, size_t len)
{
	return sl_crc32c_finish(sl_crc32c_update(buf, len, SL_CRC32C_INITIAL));
}
