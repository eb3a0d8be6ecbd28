/* SPDX-License-Identifier: BSD-3-Clause */
/* Declarative decoding of JSON-RPC parameters into C structs. */
#include "rpc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(enum sl_json_type t)
{
	switch (t) {
	case SL_JSON_STRING:
		return "a string";
	case SL_JSON_BOOL:
		return "a boolean";
	case SL_JSON_INT32:
	case SL_JSON_INT64:
		return "an integer";
	case SL_JSON_UINT8:
	case SL_JSON_UINT16:
	case SL_JSON_UINT32:
	case SL_JSON_UINT64:
		return "a non-negative integer";
	default:
		return "a value";
	}
}

static int decode_int(const json_t *v, long long min, unsigned long long max,
		      unsigned long long *out)
{
	long long i;

	if (!json_is_integer(v))
		return -EINVAL;
	i = json_integer_value(v);
	if (i < min || (i >= 0 && (unsigned long long)i > max))
		return -ERANGE;
	*out = (unsigned long long)i;
	return 0;
}

static int decode_field(const struct sl_json_field *f, const json_t *v, void *out, char *err,
			size_t errlen)
{
	char *dst = (char *)out + f->offset;
	unsigned long long u;
	int rc = 0;

	switch (f->type) {
	case SL_JSON_STRING: {
		char *s;

		if (!json_is_string(v))
			goto bad_type;
		s = strdup(json_string_value(v));
		if (!s)
			return -ENOMEM;
		free(*(char **)dst);
		*(char **)dst = s;
		return 0;
	}
	case SL_JSON_BOOL:
		if (!json_is_boolean(v))
			goto bad_type;
		*(bool *)dst = json_is_true(v);
		return 0;
	case SL_JSON_INT32:
		rc = decode_int(v, INT32_MIN, INT32_MAX, &u);
		if (!rc)
			*(int32_t *)dst = (int32_t)(long long)u;
		break;
	case SL_JSON_INT64:
		rc = decode_int(v, INT64_MIN, INT64_MAX, &u);
		if (!rc)
			*(int64_t *)dst = (int64_t)u;
		break;
	case SL_JSON_UINT8:
		rc = decode_int(v, 0, UINT8_MAX, &u);
		if (!rc)
			*(uint8_t *)dst = (uint8_t)u;
		break;
	case SL_JSON_UINT16:
		rc = decode_int(v, 0, UINT16_MAX, &u);
		if (!rc)
			*(uint16_t *)dst = (uint16_t)u;
		break;
	case SL_JSON_UINT32:
		rc = decode_int(v, 0, UINT32_MAX, &u);
		if (!rc)
			*(uint32_t *)dst = (uint32_t)u;
		break;
	case SL_JSON_UINT64:
		/* jansson integers are signed 64-bit: that bounds what JSON can carry. */
		rc = decode_int(v, 0, INT64_MAX, &u);
		if (!rc)
			*(uint64_t *)dst = (uint64_t)u;
		break;
	case SL_JSON_VALUE:
		*(const json_t **)dst = v;
		return 0;
	case SL_JSON_CUSTOM:
		if (!f->decode || f->decode(v, dst, err, errlen)) {
			if (!f->decode || !err[0])
				snprintf(err, errlen, "invalid value for '%s'", f->name);
			return -EINVAL;
		}
		return 0;
	}
	if (rc == -ERANGE) {
		snprintf(err, errlen, "'%s' is out of range", f->name);
		return -EINVAL;
	}
	if (rc)
		goto bad_type;
	return 0;
bad_type:
	snprintf(err, errlen, "'%s' must be %s", f->name, type_name(f->type));
	return -EINVAL;
}

int sl_json_decode_object(const json_t *params, const struct sl_json_field *fields, size_t count,
			  void *out, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	err[0] = '\0';
	if (params && !json_is_object(params)) {
		snprintf(err, errlen, "params must be a JSON object");
		return -EINVAL;
	}
	if (params) {
		json_object_foreach((json_t *)params, key, val) {
			size_t i;

			for (i = 0; i < count; i++)
				if (!strcmp(fields[i].name, key))
					break;
			if (i == count) {
				snprintf(err, errlen, "unknown parameter '%s'", key);
				return -EINVAL;
			}
		}
	}
	for (size_t i = 0; i < count; i++) {
		const json_t *v = params ? json_object_get(params, fields[i].name) : NULL;

		if (!v) {
			if (fields[i].optional)
				continue;
			snprintf(err, errlen, "missing required parameter '%s'", fields[i].name);
			return -EINVAL;
		}
		if (decode_field(&fields[i], v, out, err, errlen))
			return -EINVAL;
	}
	return 0;
}

void sl_json_free_decoded(const struct sl_json_field *fields, size_t count, void *out)
{
	for (size_t i = 0; i < count; i++) {
		if (fields[i].type == SL_JSON_STRING) {
			char **p = (char **)((char *)out + fields[i].offset);

			free(*p);
			*p = NULL;
		}
	}
}

int sl_rpc_decode_params(struct sl_jsonrpc_request *req, const json_t *params,
			 const struct sl_json_field *fields, size_t count, void *out)
{
	char err[256];

	if (sl_json_decode_object(params, fields, count, out, err, sizeof(err))) {
		sl_json_free_decoded(fields, count, out);
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: %s", err);
		return -EINVAL;
	}
	return 0;
}
