/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 server on a UNIX socket, method registry, declarative
 * parameter decoding. JSON values are jansson's json_t.
 */
#ifndef SLUICE_RPC_H
#define SLUICE_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_JSONRPC_ERROR_PARSE_ERROR -32700
#define SL_JSONRPC_ERROR_INVALID_REQUEST -32600
#define SL_JSONRPC_ERROR_METHOD_NOT_FOUND -32601
#define SL_JSONRPC_ERROR_INVALID_PARAMS -32602
#define SL_JSONRPC_ERROR_INTERNAL_ERROR -32603
/* Method exists but not in the current state (e.g. runtime-only before init). */
#define SL_JSONRPC_ERROR_INVALID_STATE -1

/* Largest request accepted; a bigger one gets -32600 and the connection is closed. */
#define SL_RPC_MAX_REQUEST_SIZE (1024 * 1024)

/* States in which a method may be called. */
#define SL_RPC_STARTUP 0x1
#define SL_RPC_RUNTIME 0x2

struct sl_jsonrpc_request;

/*
 * A handler gets the request and its params (NULL when absent; borrowed,
 * valid until the response is sent). It must answer exactly once, now or
 * later, with sl_jsonrpc_send_*; the request is freed then.
 */
typedef void (*sl_rpc_method_handler)(struct sl_jsonrpc_request *req, const json_t *params);

void sl_rpc_register_method(const char *method, sl_rpc_method_handler fn, uint32_t state_mask);
/* Register alias as another name of method (SPDK's deprecated names). */
void sl_rpc_register_alias(const char *alias, const char *method);
#define SL_RPC_REGISTER(method, fn, mask)                                                          \
	__attribute__((constructor)) static void sl_rpc_register_##fn(void)                        \
	{                                                                                          \
		sl_rpc_register_method(method, fn, mask);                                          \
	}

void sl_rpc_set_state(uint32_t state);
uint32_t sl_rpc_get_state(void);
bool sl_rpc_method_exists(const char *method);
/* States in which method may be called; 0 when it does not exist. */
uint32_t sl_rpc_method_state_mask(const char *method);
/* JSON array of method names callable now (current) or at all. New reference. */
json_t *sl_rpc_get_methods(bool current, bool include_aliases);

/* Result steals the reference to result. */
void sl_jsonrpc_send_result(struct sl_jsonrpc_request *req, json_t *result);
void sl_jsonrpc_send_bool(struct sl_jsonrpc_request *req, bool value);
void sl_jsonrpc_send_error(struct sl_jsonrpc_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Error whose message is strerror(-rc), code -rc (SPDK's convention for errno failures). */
void sl_jsonrpc_send_errno(struct sl_jsonrpc_request *req, int rc, const char *what);

/*
 * Server. Listens on path (mode 0600), polled by a timed poller on the
 * calling sl_thread, whose reactor it also wakes. A stale socket file is
 * replaced; a live one is an error (-EADDRINUSE).
 */
int sl_rpc_listen(const char *path);
void sl_rpc_close(void);
const char *sl_rpc_get_listen_path(void);

/*
 * Call a method in-process (config loading). cpl receives the result, or the
 * error object when is_error; both borrowed. Returns -ENOENT for an unknown
 * method (cpl is not called then).
 */
typedef void (*sl_rpc_local_cpl)(void *ctx, const json_t *response, bool is_error);
int sl_rpc_call_local(const char *method, const json_t *params, sl_rpc_local_cpl cpl, void *ctx);

/* ---- declarative decoding ---- */

enum sl_json_type {
	SL_JSON_STRING, /* char *, strdup'ed: free with sl_json_free_decoded; a previous
			   value in the field is freed, so defaults must be NULL or heap */
	SL_JSON_BOOL,	/* bool */
	SL_JSON_INT32,
	SL_JSON_UINT32,
	SL_JSON_INT64,
	SL_JSON_UINT64,
	SL_JSON_UINT16,
	SL_JSON_UINT8,
	SL_JSON_VALUE, /* const json_t *, borrowed */
	SL_JSON_CUSTOM,
};

struct sl_json_field {
	const char *name;
	enum sl_json_type type;
	size_t offset;
	bool optional;
	/* SL_JSON_CUSTOM: decode val into out; return 0 or write a reason to err. */
	int (*decode)(const json_t *val, void *out, char *err, size_t errlen);
};

#define SL_JSON_FIELD(st, member, jtype, opt)                                                      \
	{                                                                                          \
		.name = #member, .type = (jtype), .offset = offsetof(st, member),                  \
		.optional = (opt)                                                                  \
	}

/*
 * Decode object params into out. Unknown keys, missing required keys and
 * wrong types fail with a message naming the key in err. NULL params decodes
 * as an empty object. Returns 0 or -EINVAL.
 */
int sl_json_decode_object(const json_t *params, const struct sl_json_field *fields, size_t count,
			  void *out, char *err, size_t errlen);
void sl_json_free_decoded(const struct sl_json_field *fields, size_t count, void *out);

/* Decode or answer -32602 naming the problem; returns 0 or -EINVAL (already answered). */
int sl_rpc_decode_params(struct sl_jsonrpc_request *req, const json_t *params,
			 const struct sl_json_field *fields, size_t count, void *out);

#ifdef __cplusplus
}
#endif
#endif
