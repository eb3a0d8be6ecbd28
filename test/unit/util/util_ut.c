/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/util.h"

static void test_crc32c(void **state)
{
	const char *check = "123456789";
	uint32_t crc;
	struct iovec iov[3] = { { (void *)check, 2 },
				{ (void *)(check + 2), 0 },
				{ (void *)(check + 2), 7 } };
	uint8_t zeros[32] = { 0 };

	(void)state;
	/* The CRC-32C check value from the Castagnoli/iSCSI catalogue. */
	assert_int_equal(sl_crc32c(check, 9), 0xe3069283u);
	crc = sl_crc32c_update(check, 4, SL_CRC32C_INITIAL);
	crc = sl_crc32c_update(check + 4, 5, crc);
	assert_int_equal(sl_crc32c_finish(crc), 0xe3069283u);
	assert_int_equal(sl_crc32c_finish(sl_crc32c_iov_update(iov, 3, SL_CRC32C_INITIAL)),
			 0xe3069283u);
	/* RFC 3720 B.4: 32 bytes of zeros. */
	assert_int_equal(sl_crc32c(zeros, sizeof(zeros)), 0x8a9136aau);
}

static void test_iov(void **state)
{
	char a[5], b[3], c[8], out[16] = { 0 };
	struct iovec dst[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct iovec src[1] = { { c, sizeof(c) } };

	(void)state;
	memcpy(c, "abcdefgh", 8);
	assert_int_equal(sl_iov_length(dst, 2), 8);
	assert_int_equal(sl_iov_copy(dst, 2, src, 1), 8);
	assert_memory_equal(a, "abcde", 5);
	assert_memory_equal(b, "fgh", 3);
	assert_int_equal(sl_iov_to_buf(dst, 2, out, 6), 6);
	assert_string_equal(out, "abcdef");
	assert_int_equal(sl_iov_from_buf(dst, 2, "12345678", 8), 8);
	assert_memory_equal(b, "678", 3);
	sl_iov_memset(dst, 2, 'z');
	assert_memory_equal(a, "zzzzz", 5);
}

static void test_uuid(void **state)
{
	struct sl_uuid u, v;
	char s[SL_UUID_STRING_LEN];

	(void)state;
	sl_uuid_generate(&u);
	assert_false(sl_uuid_is_null(&u));
	assert_int_equal(u.u[6] >> 4, 4);
	sl_uuid_fmt(s, sizeof(s), &u);
	assert_int_equal(strlen(s), 36);
	assert_int_equal(sl_uuid_parse(&v, s), 0);
	assert_int_equal(sl_uuid_compare(&u, &v), 0);
	assert_int_equal(sl_uuid_parse(&v, "6ba7b810-9dad-11d1-80b4-00c04fd430c8"), 0);
	assert_int_equal(v.u[0], 0x6b);
	assert_int_equal(v.u[15], 0xc8);
	assert_int_not_equal(sl_uuid_parse(&v, "6ba7b810-9dad-11d1-80b4-00c04fd430c"), 0);
	assert_int_not_equal(sl_uuid_parse(&v, "6ba7b810x9dad-11d1-80b4-00c04fd430c8"), 0);
	assert_int_not_equal(sl_uuid_parse(&v, "6ba7b810-9dad-11d1-80b4-00c04fd430cg"), 0);
}

static void test_strings(void **state)
{
	char f[8];

	(void)state;
	sl_strcpy_pad(f, "abc", sizeof(f), ' ');
	assert_memory_equal(f, "abc     ", 8);
	assert_int_equal(sl_strlen_pad(f, sizeof(f), ' '), 3);
	sl_strcpy_pad(f, "abcdefghij", sizeof(f), ' ');
	assert_memory_equal(f, "abcdefgh", 8);
}

static void test_histogram(void **state)
{
	struct sl_histogram *h = malloc(sizeof(*h)), *h2 = malloc(sizeof(*h2));

	(void)state;
	sl_histogram_init(h);
	assert_int_equal(sl_histogram_percentile(h, 50), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		sl_histogram_add(h, v);
	assert_int_equal(h->count, 100000);
	assert_int_equal(h->min, 1);
	assert_int_equal(h->max, 100000);
	/* Within the bucket resolution of 1/64. */
	assert_in_range(sl_histogram_percentile(h, 50), 50000, 50000 + 50000 / 64 + 1);
	assert_in_range(sl_histogram_percentile(h, 99), 99000, 99000 + 99000 / 64 + 1);
	assert_int_equal(sl_histogram_percentile(h, 100), 100000);
	/* Small values are exact. */
	sl_histogram_init(h2);
	for (uint64_t v = 0; v < 10; v++)
		sl_histogram_add(h2, v);
	assert_int_equal(sl_histogram_percentile(h2, 50), 4);
	sl_histogram_merge(h2, h);
	assert_int_equal(h2->count, 100010);
	assert_int_equal(h2->min, 0);
	sl_histogram_add(h2, UINT64_MAX);
	assert_int_equal(sl_histogram_percentile(h2, 100), UINT64_MAX);
	free(h);
	free(h2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),	  cmocka_unit_test(test_iov),
		cmocka_unit_test(test_uuid),	  cmocka_unit_test(test_strings),
		cmocka_unit_test(test_histogram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
