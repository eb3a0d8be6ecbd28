/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log-linear histogram: values below 2^SHIFT get one bucket each; above,
 * each power-of-two range [2^k, 2^(k+1)) is split into 2^SHIFT equal steps.
 */
#include "sluice/util.h"

#include <string.h>

#define SHIFT SL_HISTOGRAM_BUCKET_SHIFT
#define STEPS (1u << SHIFT)

static size_t bucket_of(uint64_t v)
{
	uint32_t k;

	if (v < STEPS)
		return (size_t)v;
	k = sl_u64log2(v); /* >= SHIFT */
	return (size_t)(k - SHIFT + 1) * STEPS + (size_t)((v >> (k - SHIFT)) & (STEPS - 1));
}

/* Upper bound of the values a bucket holds. */
static uint64_t bucket_max(size_t b)
{
	uint32_t range = (uint32_t)(b / STEPS);
	uint64_t step = b % STEPS, k;

	if (range == 0)
		return step;
	k = range - 1 + SHIFT;
	return ((1ULL << k) | (step << (k - SHIFT))) + (1ULL << (k - SHIFT)) - 1;
}

void sl_histogram_init(struct sl_histogram *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void sl_histogram_add(struct sl_histogram *h, uint64_t value)
{
	h->buckets[bucket_of(value)]++;
	h->count++;
	h->sum += value;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

void sl_histogram_merge(struct sl_histogram *dst, const struct sl_histogram *src)
{
	for (size_t i = 0; i < SL_HISTOGRAM_NUM_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t sl_histogram_percentile(const struct sl_histogram *h, double pct)
{
	uint64_t target, seen = 0;

	if (!h->count)
		return 0;
	target = (uint64_t)((double)h->count * pct / 100.0 + 0.5);
	if (target == 0)
		target = 1;
	for (size_t i = 0; i < SL_HISTOGRAM_NUM_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= target)
			return SL_MIN(bucket_max(i), h->max);
	}
	return h->max;
}
