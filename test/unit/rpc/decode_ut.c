/* SPDX-License-Identifier: BSD-3-Clause */
/* Declarative JSON parameter decoding: sl_json_decode_object and friends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../ut_common.h"

#include <errno.h>
#include <limits.h>

#include "sluice/rpc.h"

struct all_types {
	char *name;
	bool flag;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	uint16_t u16;
	uint8_t u8;
	const json_t *any;
	int custom; /* "even" -> 2, "odd" -> 1 */
};

static int decode_parity(const json_t *val, void *out, char *err, size_t errlen)
{
	const char *s = json_string_value(val);

	if (s && !strcmp(s, "even")) {
		*(int *)out = 2;
		return 0;
	}
	if (s && !strcmp(s, "odd")) {
		*(int *)out = 1;
		return 0;
	}
	snprintf(err, errlen, "custom: '%s' is neither even nor odd", s ? s : "(not a string)");
	return -EINVAL;
}

static int decode_silent_fail(const json_t *val, void *out, char *err, size_t errlen)
{
	(void)val;
	(void)out;
	(void)err;
	(void)errlen;
	return -EINVAL;
}

#define F(member, type, opt) SL_JSON_FIELD(struct all_types, member, type, opt)

static const struct sl_json_field g_required[] = {
	F(name, SL_JSON_STRING, false),
	F(flag, SL_JSON_BOOL, false),
	F(i32, SL_JSON_INT32, false),
	F(u32, SL_JSON_UINT32, false),
	F(i64, SL_JSON_INT64, false),
	F(u64, SL_JSON_UINT64, false),
	F(u16, SL_JSON_UINT16, false),
	F(u8, SL_JSON_UINT8, false),
	F(any, SL_JSON_VALUE, false),
	{ .name = "custom",
	  .type = SL_JSON_CUSTOM,
	  .offset = offsetof(struct all_types, custom),
	  .optional = false,
	  .decode = decode_parity },
};

static const struct sl_json_field g_optional[] = {
	F(name, SL_JSON_STRING, true),
	F(flag, SL_JSON_BOOL, true),
	F(i32, SL_JSON_INT32, true),
	F(u32, SL_JSON_UINT32, true),
	F(i64, SL_JSON_INT64, true),
	F(u64, SL_JSON_UINT64, true),
	F(u16, SL_JSON_UINT16, true),
	F(u8, SL_JSON_UINT8, true),
	F(any, SL_JSON_VALUE, true),
	{ .name = "custom",
	  .type = SL_JSON_CUSTOM,
	  .offset = offsetof(struct all_types, custom),
	  .optional = true,
	  .decode = decode_parity },
};

static json_t *full_params(void)
{
	json_error_t jerr;
	json_t *p = json_loads("{\"name\":\"malloc0\",\"flag\":true,\"i32\":-2147483648,"
			       "\"u32\":4294967295,\"i64\":-9223372036854775807,"
			       "\"u64\":9223372036854775807,\"u16\":65535,\"u8\":255,"
			       "\"any\":[1,{\"x\":null}],\"custom\":\"even\"}",
			       0, &jerr);

	assert_non_null(p);
	return p;
}

static void test_all_types_ok(void **state)
{
	struct all_types out = { 0 };
	char err[256];
	json_t *p = full_params();
	const char *orig_name = json_string_value(json_object_get(p, "name"));

	(void)state;
	assert_int_equal(sl_json_decode_object(p, g_required, UT_COUNTOF(g_required), &out, err,
					       sizeof(err)),
			 0);
	assert_string_equal(err, "");
	assert_string_equal(out.name, "malloc0");
	assert_ptr_not_equal(out.name, orig_name); /* a copy, not borrowed */
	assert_true(out.flag);
	assert_int_equal(out.i32, INT32_MIN);
	assert_int_equal(out.u32, UINT32_MAX);
	assert_true(out.i64 == -INT64_MAX);
	assert_true(out.u64 == (uint64_t)INT64_MAX);
	assert_int_equal(out.u16, 65535);
	assert_int_equal(out.u8, 255);
	assert_non_null(out.any);
	assert_true(json_is_array(out.any));
	assert_ptr_equal(out.any, json_object_get(p, "any")); /* borrowed */
	assert_int_equal(out.custom, 2);

	/* The copy outlives the params. */
	json_decref(p);
	assert_string_equal(out.name, "malloc0");
	sl_json_free_decoded(g_required, UT_COUNTOF(g_required), &out);
	assert_null(out.name);
	/* Freeing twice is harmless: the pointer was cleared. */
	sl_json_free_decoded(g_required, UT_COUNTOF(g_required), &out);
}

static void test_extremes(void **state)
{
	struct all_types out = { 0 };
	char err[256];
	json_t *p = json_pack("{s:i, s:I, s:i, s:i, s:b}", "i32", 2147483647, "i64",
			      (json_int_t)INT64_MIN, "u32", 0, "u8", 0, "flag", 0);

	(void)state;
	assert_int_equal(sl_json_decode_object(p, g_optional, UT_COUNTOF(g_optional), &out, err,
					       sizeof(err)),
			 0);
	assert_int_equal(out.i32, INT32_MAX);
	assert_true(out.i64 == INT64_MIN);
	assert_int_equal(out.u32, 0);
	assert_int_equal(out.u8, 0);
	assert_false(out.flag);
	assert_null(out.name);
	json_decref(p);
}

/* Decode params (a JSON text) with fields; expect failure and an error naming each of the strings.
 */
static void expect_error(const struct sl_json_field *fields, size_t count, const char *text,
			 const char *must1, const char *must2)
{
	struct all_types out = { 0 };
	char err[256];
	json_error_t jerr;
	json_t *p = json_loads(text, JSON_DECODE_ANY, &jerr);
	int rc;

	if (!p)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	rc = sl_json_decode_object(p, fields, count, &out, err, sizeof(err));
	sl_json_free_decoded(fields, count, &out);
	json_decref(p);
	if (rc != -EINVAL)
		fail_msg("%s: expected -EINVAL, got %d", text, rc);
	if (must1 && !strstr(err, must1))
		fail_msg("%s: error '%s' does not contain '%s'", text, err, must1);
	if (must2 && !strstr(err, must2))
		fail_msg("%s: error '%s' does not contain '%s'", text, err, must2);
}

static void test_missing_required(void **state)
{
	(void)state;
	expect_error(g_required, UT_COUNTOF(g_required),
		     "{\"name\":\"x\",\"flag\":true,\"i32\":1,\"u32\":1,\"i64\":1,\"u64\":1,"
		     "\"u16\":1,\"any\":1,\"custom\":\"odd\"}",
		     "missing", "'u8'");
	expect_error(g_required, UT_COUNTOF(g_required), "{}", "missing", "'name'");
	/* NULL params is an empty object: the first required field is missing. */
	{
		struct all_types out = { 0 };
		char err[256];

		assert_int_equal(sl_json_decode_object(NULL, g_required, UT_COUNTOF(g_required),
						       &out, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "'name'"));
	}
}

static void test_unknown_key(void **state)
{
	(void)state;
	expect_error(g_optional, UT_COUNTOF(g_optional), "{\"name\":\"a\",\"bogus_key\":1}",
		     "unknown", "'bogus_key'");
	/* No fields at all: every key is unknown. */
	expect_error(NULL, 0, "{\"x\":1}", "unknown", "'x'");
}

static void test_wrong_type(void **state)
{
	const struct sl_json_field *f = g_optional;
	size_t n = UT_COUNTOF(g_optional);

	(void)state;
	expect_error(f, n, "{\"name\":5}", "'name'", "a string");
	expect_error(f, n, "{\"name\":null}", "'name'", "a string");
	expect_error(f, n, "{\"flag\":\"true\"}", "'flag'", "a boolean");
	expect_error(f, n, "{\"flag\":1}", "'flag'", "a boolean");
	expect_error(f, n, "{\"i32\":\"1\"}", "'i32'", "an integer");
	expect_error(f, n, "{\"i32\":1.5}", "'i32'", "an integer");
	expect_error(f, n, "{\"i64\":true}", "'i64'", "an integer");
	expect_error(f, n, "{\"u32\":[1]}", "'u32'", "a non-negative integer");
	expect_error(f, n, "{\"u64\":{}}", "'u64'", "a non-negative integer");
	expect_error(f, n, "{\"u16\":2.0}", "'u16'", "a non-negative integer");
	expect_error(f, n, "{\"u8\":\"x\"}", "'u8'", "a non-negative integer");
	expect_error(f, n, "{\"custom\":\"three\"}", "three", "neither even nor odd");
}

static void test_custom_without_message(void **state)
{
	static const struct sl_json_field fields[] = {
		{ .name = "c",
		  .type = SL_JSON_CUSTOM,
		  .offset = offsetof(struct all_types, custom),
		  .decode = decode_silent_fail },
		{ .name = "nodecoder",
		  .type = SL_JSON_CUSTOM,
		  .offset = offsetof(struct all_types, custom),
		  .optional = true },
	};

	(void)state;
	expect_error(fields, UT_COUNTOF(fields), "{\"c\":1}", "invalid value", "'c'");
	expect_error(&fields[1], 1, "{\"nodecoder\":2}", "invalid value", "'nodecoder'");
}

static void test_out_of_range(void **state)
{
	const struct sl_json_field *f = g_optional;
	size_t n = UT_COUNTOF(g_optional);

	(void)state;
	expect_error(f, n, "{\"u8\":256}", "'u8'", "out of range");
	expect_error(f, n, "{\"u8\":-1}", "'u8'", "out of range");
	expect_error(f, n, "{\"u16\":65536}", "'u16'", "out of range");
	expect_error(f, n, "{\"u32\":-1}", "'u32'", "out of range");
	expect_error(f, n, "{\"u32\":4294967296}", "'u32'", "out of range");
	expect_error(f, n, "{\"i32\":2147483648}", "'i32'", "out of range");
	expect_error(f, n, "{\"i32\":-2147483649}", "'i32'", "out of range");
	expect_error(f, n, "{\"u64\":-1}", "'u64'", "out of range");
}

static void test_null_params_all_optional(void **state)
{
	struct all_types out = { .i32 = 7, .name = NULL };
	char err[256] = "garbage";

	(void)state;
	assert_int_equal(sl_json_decode_object(NULL, g_optional, UT_COUNTOF(g_optional), &out, err,
					       sizeof(err)),
			 0);
	assert_string_equal(err, "");
	assert_int_equal(out.i32, 7); /* defaults are left alone */
	assert_null(out.name);

	/* An empty object too. */
	json_t *p = json_object();

	assert_int_equal(sl_json_decode_object(p, g_optional, UT_COUNTOF(g_optional), &out, err,
					       sizeof(err)),
			 0);
	json_decref(p);
	assert_int_equal(sl_json_decode_object(NULL, NULL, 0, NULL, err, sizeof(err)), 0);
}

static void test_non_object_params(void **state)
{
	(void)state;
	expect_error(g_optional, UT_COUNTOF(g_optional), "[1,2]", "object", NULL);
	expect_error(g_optional, UT_COUNTOF(g_optional), "42", "object", NULL);
	expect_error(g_optional, UT_COUNTOF(g_optional), "\"s\"", "object", NULL);
	expect_error(g_optional, UT_COUNTOF(g_optional), "null", "object", NULL);
}

/* A string decoded before a later field fails is freed by sl_json_free_decoded. */
static void test_partial_failure_frees(void **state)
{
	struct all_types out = { 0 };
	char err[256];
	json_t *p = json_pack("{s:s, s:s}", "name", "leaky", "u8", "x");

	(void)state;
	assert_int_equal(sl_json_decode_object(p, g_optional, UT_COUNTOF(g_optional), &out, err,
					       sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "'u8'"));
	assert_non_null(out.name);
	sl_json_free_decoded(g_optional, UT_COUNTOF(g_optional), &out);
	assert_null(out.name);
	json_decref(p);
}

/* A short error buffer truncates but stays terminated. */
static void test_short_error_buffer(void **state)
{
	struct all_types out = { 0 };
	char err[8];
	json_t *p = json_pack("{s:i}", "a_rather_long_unknown_key", 1);

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(sl_json_decode_object(p, g_optional, UT_COUNTOF(g_optional), &out, err,
					       sizeof(err)),
			 -EINVAL);
	assert_true(memchr(err, '\0', sizeof(err)) != NULL);
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_types_ok),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_custom_without_message),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_null_params_all_optional),
		cmocka_unit_test(test_non_object_params),
		cmocka_unit_test(test_partial_failure_frees),
		cmocka_unit_test(test_short_error_buffer),
	};

	ut_apply_filter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
