/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/nvmf pure helpers, no environment needed: the NQN rules of
 * sl_nvmf_nqn_is_valid (a table of valid and invalid names), the iovec
 * helpers the admin commands and the TCP transport copy data with (across
 * several iovecs and offsets, never past the end), and the trtype/adrfam
 * parsers the RPCs use.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>

#include "../ut_common.h"

#include "sluice/nvmf.h"
#include "sluice/util.h"

/* Internal helpers of lib/nvmf (nvmf_internal.h); the test links the whole archive. */
void nvmf_iov_copy_in(struct iovec *iov, int iovcnt, uint64_t offset, const void *src, size_t len);
void nvmf_iov_zero(struct iovec *iov, int iovcnt);
size_t nvmf_iov_copy_out(void *dst, size_t len, const struct iovec *iov, int iovcnt);
size_t nvmf_iov_copy_out_at(void *dst, size_t len, const struct iovec *iov, int iovcnt,
			    uint64_t offset);

/* ---- NQN ---- */

struct nqn_case {
	const char *nqn;
	bool valid;
	const char *why;
};

static const struct nqn_case g_nqn_cases[] = {
	{ "nqn.2016-06.io.spdk:cnode1", true, "SPDK's usual name" },
	{ "nqn.2024-01.io.sluice", true, "no user part" },
	{ "nqn.2024-12.a-b.c9:x", true, "hyphen inside a label, December" },
	{ "nqn.2024-01.io.sluice:a:b:c", true, "colons in the user part" },
	{ "nqn.2024-01.io.sluice:d\xc3\xa9j\xc3\xa0-vu", true, "two-byte UTF-8" },
	{ "nqn.2024-01.io.sluice:\xe2\x82\xac\xf0\x9f\x98\x80", true, "three and four bytes" },
	{ SL_NVMF_DISCOVERY_NQN, true, "the discovery NQN" },
	{ "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-555555555555", true,
	  "uuid form" },
	{ "", false, "empty" },
	{ "nqn.", false, "prefix only" },
	{ "iqn.2016-06.io.spdk:x", false, "iSCSI prefix" },
	{ "NQN.2016-06.io.spdk:x", false, "prefix is lower case" },
	{ "2016-06.io.spdk:x", false, "missing 'nqn.'" },
	{ "nqn.2016-00.io.spdk:x", false, "month 00" },
	{ "nqn.2016-13.io.spdk:x", false, "month 13" },
	{ "nqn.2016-6.io.spdk:x", false, "one-digit month" },
	{ "nqn.16-06.io.spdk:x", false, "two-digit year" },
	{ "nqn.2016/06.io.spdk:x", false, "date separator" },
	{ "nqn.2016-06io.spdk:x", false, "no dot after the date" },
	{ "nqn.2016-06.", false, "no domain" },
	{ "nqn.2016-06.:x", false, "empty domain before the colon" },
	{ "nqn.2016-06.-io.spdk:x", false, "label starts with a hyphen" },
	{ "nqn.2016-06.io-.spdk:x", false, "label ends with a hyphen" },
	{ "nqn.2016-06.io.spdk-:x", false, "last label ends with a hyphen" },
	{ "nqn.2016-06.io..spdk:x", false, "empty label" },
	{ "nqn.2016-06.io.spdk.:x", false, "trailing dot" },
	{ "nqn.2016-06.io_x.spdk:x", false, "underscore in a label" },
	{ "nqn.2016-06.io.spdk:\xff", false, "0xff is never UTF-8" },
	{ "nqn.2016-06.io.spdk:\xc3", false, "truncated two-byte sequence" },
	{ "nqn.2016-06.io.spdk:\xc0\x80", false, "overlong two-byte NUL" },
	{ "nqn.2016-06.io.spdk:\x80", false, "lone continuation byte" },
	{ "nqn.2016-06.io.spdk:\xf5\x80\x80\x80", false, "lead byte past U+10FFFF" },
	{ "nqn.2014-08.org.nvmexpress:uuid:", false, "uuid form without a UUID" },
	{ "nqn.2014-08.org.nvmexpress:uuid:not-a-uuid", false, "uuid form, not a UUID" },
	{ "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-55555555555", false,
	  "uuid form, 35 characters" },
	{ "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-5555555555555", false,
	  "uuid form, 37 characters" },
	{ "nqn.2014-08.org.nvmexpress:uuid:1111111g-2222-4333-8444-555555555555", false,
	  "uuid form, not hex" },
	{ "nqn.2014-08.org.nvmexpress:uuid:11111111x2222-4333-8444-555555555555", false,
	  "uuid form, bad separator" },
};

static void test_nqn_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < UT_COUNTOF(g_nqn_cases); i++) {
		const struct nqn_case *c = &g_nqn_cases[i];
		char err[256] = "";
		bool got = sl_nvmf_nqn_is_valid(c->nqn, err, sizeof(err));

		if (got != c->valid)
			fail_msg("'%s' (%s): expected %s, got %s (%s)", c->nqn, c->why,
				 c->valid ? "valid" : "invalid", got ? "valid" : "invalid", err);
		if (!got && err[0] == 0)
			fail_msg("'%s' (%s): invalid without a reason", c->nqn, c->why);
	}
}

/* "nqn.2024-01.io.sluice:" padded with 'a' to len bytes. */
static char *nqn_of_len(size_t len)
{
	const char *prefix = "nqn.2024-01.io.sluice:";
	char *s = malloc(len + 1);

	assert_non_null(s);
	memset(s, 'a', len);
	memcpy(s, prefix, strlen(prefix));
	s[len] = 0;
	return s;
}

static void test_nqn_length(void **state)
{
	char err[256], *s;

	(void)state;
	s = nqn_of_len(SL_NVMF_NQN_MAX_LEN);
	assert_true(sl_nvmf_nqn_is_valid(s, err, sizeof(err)));
	free(s);
	s = nqn_of_len(SL_NVMF_NQN_MAX_LEN + 1);
	err[0] = 0;
	assert_false(sl_nvmf_nqn_is_valid(s, err, sizeof(err)));
	assert_non_null(strstr(err, "224"));
	free(s);
	/* 223 bytes counted in bytes, not characters: 2-byte characters fill it faster. */
	s = nqn_of_len(SL_NVMF_NQN_MAX_LEN + 1);
	s[SL_NVMF_NQN_MAX_LEN - 1] = (char)0xc3;
	s[SL_NVMF_NQN_MAX_LEN] = (char)0xa9;
	assert_false(sl_nvmf_nqn_is_valid(s, err, sizeof(err)));
	s[SL_NVMF_NQN_MAX_LEN - 2] = (char)0xc3;
	s[SL_NVMF_NQN_MAX_LEN - 1] = (char)0xa9;
	s[SL_NVMF_NQN_MAX_LEN] = 0;
	assert_true(sl_nvmf_nqn_is_valid(s, err, sizeof(err)));
	free(s);
	/* A small error buffer is not overrun. */
	s = nqn_of_len(300);
	memset(err, 'x', sizeof(err));
	assert_false(sl_nvmf_nqn_is_valid(s, err, 8));
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'x');
	free(s);
}

/*
 * UTF-8 forms that are not Unicode scalar values: overlong three- and
 * four-byte encodings, UTF-16 surrogates, code points past U+10FFFF.
 */
static void test_nqn_utf8_strict(void **state)
{
	static const char *const bad[] = {
		"nqn.2016-06.io.spdk:\xe0\x80\x80",	/* overlong U+0000, 3 bytes */
		"nqn.2016-06.io.spdk:\xed\xa0\x80",	/* surrogate U+D800 */
		"nqn.2016-06.io.spdk:\xf0\x80\x80\x80", /* overlong U+0000, 4 bytes */
		"nqn.2016-06.io.spdk:\xf4\x90\x80\x80", /* U+110000 */
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < UT_COUNTOF(bad); i++)
		if (sl_nvmf_nqn_is_valid(bad[i], err, sizeof(err)))
			fail_msg("case %zu: ill-formed UTF-8 accepted", i);
}

/* ---- iovec helpers ---- */

/* Three iovecs of 3, 5 and 8 bytes over one 16-byte backing buffer. */
struct iov3 {
	uint8_t mem[16 + 4]; /* 4 guard bytes */
	struct iovec iov[3];
};

static void iov3_init(struct iov3 *v, uint8_t fill)
{
	memset(v->mem, fill, sizeof(v->mem));
	v->iov[0] = (struct iovec){ v->mem, 3 };
	v->iov[1] = (struct iovec){ v->mem + 3, 5 };
	v->iov[2] = (struct iovec){ v->mem + 8, 8 };
}

static void test_iov_copy_in(void **state)
{
	uint8_t src[32];
	struct iov3 v;

	(void)state;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(0x40 + i);
	for (uint64_t off = 0; off <= 17; off++) {
		for (size_t len = 0; len <= 20; len++) {
			size_t fits = off >= 16 ? 0 : SL_MIN(len, 16 - off);

			iov3_init(&v, 0xee);
			nvmf_iov_copy_in(v.iov, 3, off, src, len);
			for (size_t b = 0; b < sizeof(v.mem); b++) {
				uint8_t want = (b >= off && b < off + fits) ? src[b - off] : 0xee;

				if (v.mem[b] != want)
					fail_msg("copy_in off %" PRIu64
						 " len %zu: byte %zu is 0x%02x, "
						 "want 0x%02x",
						 off, len, b, v.mem[b], want);
			}
		}
	}
	/* No iovecs: nothing happens. */
	nvmf_iov_copy_in(NULL, 0, 0, src, sizeof(src));
}

static void test_iov_copy_out_at(void **state)
{
	uint8_t dst[24];
	struct iov3 v;

	(void)state;
	iov3_init(&v, 0);
	for (size_t b = 0; b < 16; b++)
		v.mem[b] = (uint8_t)(0x10 + b);
	for (uint64_t off = 0; off <= 17; off++) {
		for (size_t len = 0; len <= 20; len++) {
			size_t want_n = off >= 16 ? 0 : SL_MIN(len, 16 - off);
			size_t n;

			memset(dst, 0xee, sizeof(dst));
			n = nvmf_iov_copy_out_at(dst, len, v.iov, 3, off);
			assert_int_equal(n, want_n);
			for (size_t b = 0; b < sizeof(dst); b++) {
				uint8_t want = b < want_n ? (uint8_t)(0x10 + off + b) : 0xee;

				if (dst[b] != want)
					fail_msg("copy_out_at off %" PRIu64 " len %zu: byte %zu is "
						 "0x%02x, want 0x%02x",
						 off, len, b, dst[b], want);
			}
		}
	}
	/* copy_out is copy_out_at 0. */
	memset(dst, 0, sizeof(dst));
	assert_int_equal(nvmf_iov_copy_out(dst, sizeof(dst), v.iov, 3), 16);
	assert_memory_equal(dst, v.mem, 16);
	assert_int_equal(nvmf_iov_copy_out(dst, 4, v.iov, 3), 4);
	/* Zero-length iovecs in the middle are skipped. */
	struct iovec holes[4] = {
		{ v.mem, 2 }, { v.mem + 2, 0 }, { v.mem + 2, 0 }, { v.mem + 2, 3 }
	};

	memset(dst, 0, sizeof(dst));
	assert_int_equal(nvmf_iov_copy_out_at(dst, 10, holes, 4, 1), 4);
	assert_memory_equal(dst, v.mem + 1, 4);
}

static void test_iov_zero(void **state)
{
	struct iov3 v;

	(void)state;
	iov3_init(&v, 0xab);
	nvmf_iov_zero(v.iov, 2); /* first two only: 8 bytes */
	for (size_t b = 0; b < sizeof(v.mem); b++)
		assert_int_equal(v.mem[b], b < 8 ? 0 : 0xab);
	nvmf_iov_zero(v.iov, 3);
	for (size_t b = 0; b < sizeof(v.mem); b++)
		assert_int_equal(v.mem[b], b < 16 ? 0 : 0xab);
}

/* ---- trtype / adrfam ---- */

static void test_trtype_adrfam(void **state)
{
	enum sl_nvmf_trtype t = (enum sl_nvmf_trtype)0x55;
	enum sl_nvmf_adrfam a = (enum sl_nvmf_adrfam)0x55;

	(void)state;
	assert_int_equal(sl_nvmf_trtype_parse("TCP", &t), 0);
	assert_int_equal(t, SL_NVMF_TRTYPE_TCP);
	t = (enum sl_nvmf_trtype)0x55;
	assert_int_equal(sl_nvmf_trtype_parse("tcp", &t), 0);
	assert_int_equal(t, SL_NVMF_TRTYPE_TCP);
	assert_int_equal(sl_nvmf_trtype_parse("tCp", &t), 0);
	t = (enum sl_nvmf_trtype)0x55;
	assert_int_equal(sl_nvmf_trtype_parse("RDMA", &t), -EINVAL);
	assert_int_equal(sl_nvmf_trtype_parse("TCP ", &t), -EINVAL);
	assert_int_equal(sl_nvmf_trtype_parse("", &t), -EINVAL);
	assert_int_equal(t, 0x55); /* untouched on error */
	assert_string_equal(sl_nvmf_trtype_name(SL_NVMF_TRTYPE_TCP), "TCP");
	assert_string_equal(sl_nvmf_trtype_name(SL_NVMF_TRTYPE_RDMA), "RDMA");
	assert_string_equal(sl_nvmf_trtype_name((enum sl_nvmf_trtype)0x77), "unknown");

	assert_int_equal(sl_nvmf_adrfam_parse("IPv4", &a), 0);
	assert_int_equal(a, SL_NVMF_ADRFAM_IPV4);
	assert_int_equal(sl_nvmf_adrfam_parse("ipv6", &a), 0);
	assert_int_equal(a, SL_NVMF_ADRFAM_IPV6);
	assert_int_equal(sl_nvmf_adrfam_parse("IPV4", &a), 0);
	assert_int_equal(a, SL_NVMF_ADRFAM_IPV4);
	a = (enum sl_nvmf_adrfam)0x55;
	assert_int_equal(sl_nvmf_adrfam_parse("IB", &a), -EINVAL);
	assert_int_equal(sl_nvmf_adrfam_parse("IPv", &a), -EINVAL);
	assert_int_equal(sl_nvmf_adrfam_parse("", &a), -EINVAL);
	assert_int_equal(a, 0x55);
	assert_string_equal(sl_nvmf_adrfam_name(SL_NVMF_ADRFAM_IPV4), "IPv4");
	assert_string_equal(sl_nvmf_adrfam_name(SL_NVMF_ADRFAM_IPV6), "IPv6");
	assert_string_equal(sl_nvmf_adrfam_name((enum sl_nvmf_adrfam)0x77), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nqn_table),	cmocka_unit_test(test_nqn_length),
		cmocka_unit_test(test_nqn_utf8_strict), cmocka_unit_test(test_iov_copy_in),
		cmocka_unit_test(test_iov_copy_out_at), cmocka_unit_test(test_iov_zero),
		cmocka_unit_test(test_trtype_adrfam),
	};

	ut_apply_filter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
