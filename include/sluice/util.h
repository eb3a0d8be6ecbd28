/* SPDX-License-Identifier: BSD-3-Clause */
/* Small utilities: CRC32C, iovecs, bit operations, UUIDs, strings, latency histograms. */
#ifndef SLUICE_UTIL_H
#define SLUICE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SL_CONTAINEROF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define SL_ALIGN_UP(v, a) (((v) + (a)-1) & ~((__typeof__(v))(a)-1))
#define SL_ALIGN_DOWN(v, a) ((v) & ~((__typeof__(v))(a)-1))

static inline bool sl_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* floor(log2(v)); v must not be 0. */
static inline uint32_t sl_u64log2(uint64_t v)
{
	return 63u - (uint32_t)__builtin_clzll(v);
}

static inline uint64_t sl_divide_round_up(uint64_t n, uint64_t d)
{
	return (n + d - 1) / d;
}

/*
 * CRC32C (Castagnoli) as NVMe/TCP and iSCSI use it: start with
 * SL_CRC32C_INITIAL, update over the data, finish with sl_crc32c_finish.
 */
#define SL_CRC32C_INITIAL 0xffffffffu
uint32_t sl_crc32c_update(const void *buf, size_t len, uint32_t crc);
uint32_t sl_crc32c_iov_update(const struct iovec *iov, int iovcnt, uint32_t crc);
static inline uint32_t sl_crc32c_finish(uint32_t crc)
{
	return crc ^ 0xffffffffu;
}
/* One-shot CRC32C of buf. */
uint32_t sl_crc32c(const void *buf, size_t len);

/* iovecs */
size_t sl_iov_length(const struct iovec *iov, int iovcnt);
/* Copy between a flat buffer and iovecs; returns the bytes copied. */
size_t sl_iov_to_buf(const struct iovec *iov, int iovcnt, void *buf, size_t len);
size_t sl_iov_from_buf(const struct iovec *iov, int iovcnt, const void *buf, size_t len);
/* Copy src iovecs into dst iovecs (as far as both reach). */
size_t sl_iov_copy(const struct iovec *dst, int dstcnt, const struct iovec *src, int srccnt);
void sl_iov_memset(const struct iovec *iov, int iovcnt, int c);

/* UUIDs (RFC 4122), 16 bytes, network byte order. */
struct sl_uuid {
	uint8_t u[16];
};
#define SL_UUID_STRING_LEN 37 /* with NUL */
void sl_uuid_generate(struct sl_uuid *uuid);
int sl_uuid_parse(struct sl_uuid *uuid, const char *s);
void sl_uuid_fmt(char *buf, size_t len, const struct sl_uuid *uuid);
bool sl_uuid_is_null(const struct sl_uuid *uuid);
int sl_uuid_compare(const struct sl_uuid *a, const struct sl_uuid *b);

/* Copy a string into a fixed, space-padded field (NVMe identify strings). */
void sl_strcpy_pad(void *dst, const char *src, size_t size, int pad);
/* Length of a space-padded field without the padding. */
size_t sl_strlen_pad(const void *str, size_t size, int pad);

/*
 * Latency histogram: log-linear buckets (each power of two split in 2^6
 * linear steps), so percentiles are exact within 1.6%. Values in ticks.
 */
#define SL_HISTOGRAM_BUCKET_SHIFT 6
#define SL_HISTOGRAM_NUM_BUCKETS ((64 - SL_HISTOGRAM_BUCKET_SHIFT + 1) << SL_HISTOGRAM_BUCKET_SHIFT)
struct sl_histogram {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t sum;
	uint64_t buckets[SL_HISTOGRAM_NUM_BUCKETS];
};
void sl_histogram_init(struct sl_histogram *h);
void sl_histogram_add(struct sl_histogram *h, uint64_t value);
void sl_histogram_merge(struct sl_histogram *dst, const struct sl_histogram *src);
/* Value below which pct percent (0-100) of the samples fall; 0 when empty. */
uint64_t sl_histogram_percentile(const struct sl_histogram *h, double pct);

#ifdef __cplusplus
}
#endif
#endif
