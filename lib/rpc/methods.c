/* SPDX-License-Identifier: BSD-3-Clause */
/* Method registry, dispatch and responses. */
#include "rpc_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rpc_method {
	char *name;
	const char *alias_of; /* NULL for a real method */
	sl_rpc_method_handler fn;
	uint32_t state_mask;
	struct rpc_method *next;
};

static struct rpc_method *g_methods;
static uint32_t g_state = SL_RPC_STARTUP;

static struct rpc_method *find_method(const char *name)
{
	for (struct rpc_method *m = g_methods; m; m = m->next)
		if (!strcmp(m->name, name))
			return m;
	return NULL;
}

void sl_rpc_register_method(const char *method, sl_rpc_method_handler fn, uint32_t state_mask)
{
	struct rpc_method *m;

	if (find_method(method)) {
		SL_ERRLOG("RPC method %s registered twice", method);
		abort(); /* a programming error caught at start-up, never at run time */
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->name = strdup(method)))
		abort();
	m->fn = fn;
	m->state_mask = state_mask;
	m->next = g_methods;
	g_methods = m;
}

void sl_rpc_register_alias(const char *alias, const char *method)
{
	struct rpc_method *target = find_method(method);

	if (!target) {
		SL_ERRLOG("RPC alias %s names unknown method %s", alias, method);
		return;
	}
	sl_rpc_register_method(alias, target->fn, target->state_mask);
	find_method(alias)->alias_of = target->name;
}

void sl_rpc_set_state(uint32_t state)
{
	g_state = state;
}

uint32_t sl_rpc_get_state(void)
{
	return g_state;
}

bool sl_rpc_method_exists(const char *method)
{
	return find_method(method) != NULL;
}

uint32_t sl_rpc_method_state_mask(const char *method)
{
	struct rpc_method *m = find_method(method);

	return m ? m->state_mask : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *sl_rpc_get_methods(bool current, bool include_aliases)
{
	json_t *arr = json_array();
	const char *names[1024];
	size_t n = 0;

	for (struct rpc_method *m = g_methods; m && n < SL_COUNTOF(names); m = m->next) {
		if (current && !(m->state_mask & g_state))
			continue;
		if (m->alias_of && !include_aliases)
			continue;
		names[n++] = m->name;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(names[i]));
	return arr;
}

static void request_free(struct sl_jsonrpc_request *req)
{
	json_decref(req->id);
	json_decref(req->params);
	free(req);
}

static void respond(struct sl_jsonrpc_request *req, json_t *result, json_t *error)
{
	if (req->local_cpl) {
		req->local_cpl(req->local_ctx, error ? error : result, error != NULL);
	} else if (req->id && req->conn) {
		json_t *resp = json_object();
		char *text;

		json_object_set_new(resp, "jsonrpc", json_string("2.0"));
		json_object_set(resp, "id", req->id);
		if (error)
			json_object_set(resp, "error", error);
		else
			json_object_set(resp, "result", result);
		text = json_dumps(resp, JSON_COMPACT);
		json_decref(resp);
		if (text) {
			rpc_conn_respond(req->conn, text, strlen(text));
			free(text);
		}
	}
	if (req->conn)
		rpc_conn_request_done(req->conn);
	json_decref(result);
	json_decref(error);
	request_free(req);
}

void sl_jsonrpc_send_result(struct sl_jsonrpc_request *req, json_t *result)
{
	respond(req, result ? result : json_null(), NULL);
}

void sl_jsonrpc_send_bool(struct sl_jsonrpc_request *req, bool value)
{
	respond(req, json_boolean(value), NULL);
}

void sl_jsonrpc_send_error(struct sl_jsonrpc_request *req, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *err;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err = json_pack("{s:i, s:s}", "code", code, "message", msg);
	respond(req, NULL, err);
}

void sl_jsonrpc_send_errno(struct sl_jsonrpc_request *req, int rc, const char *what)
{
	if (rc > 0)
		rc = -rc;
	if (what)
		sl_jsonrpc_send_error(req, rc, "%s: %s", what, strerror(-rc));
	else
		sl_jsonrpc_send_error(req, rc, "%s", strerror(-rc));
}

void rpc_dispatch(struct sl_jsonrpc_request *req)
{
	struct rpc_method *m = find_method(req->method);

	if (!m) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_METHOD_NOT_FOUND,
				      "Method not found: %s", req->method);
		return;
	}
	if (!(m->state_mask & g_state)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_STATE,
				      "Method %s is not allowed in the current state (%s)",
				      req->method,
				      g_state == SL_RPC_STARTUP ? "startup" : "runtime");
		return;
	}
	if (req->params && !json_is_object(req->params)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "params of %s must be an object", req->method);
		return;
	}
	m->fn(req, req->params);
}

int sl_rpc_call_local(const char *method, const json_t *params, sl_rpc_local_cpl cpl, void *ctx)
{
	struct sl_jsonrpc_request *req;

	if (!find_method(method))
		return -ENOENT;
	req = calloc(1, sizeof(*req));
	if (!req)
		return -ENOMEM;
	snprintf(req->method, sizeof(req->method), "%s", method);
	req->params = params ? json_incref((json_t *)params) : NULL;
	req->id = json_integer(0);
	req->local_cpl = cpl;
	req->local_ctx = ctx;
	rpc_dispatch(req);
	return 0;
}
