/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Socket RPCs (sock_set_default_impl, sock_impl_get_options,
 * sock_impl_set_options) and the "sock" subsystem, whose config section
 * replays them: save_config output restores the options before any
 * transport creates sockets. Parameter names are SPDK's, so that SPDK
 * configs load; SPDK fields without a meaning here (TLS, kTLS, placement
 * ids) are accepted at their "off" values and rejected otherwise.
 */
#include "sock_internal.h"

#include "sluice/event.h"
#include "sluice/log.h"
#include "sluice/rpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct impl_name_params {
	char *impl_name;
};

static const struct sl_json_field g_impl_name_fields[] = {
	SL_JSON_FIELD(struct impl_name_params, impl_name, SL_JSON_STRING, false),
};

static void rpc_sock_set_default_impl(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct impl_name_params p = { 0 };
	int rc;

	if (sl_rpc_decode_params(req, params, g_impl_name_fields, SL_COUNTOF(g_impl_name_fields),
				 &p))
		return;
	rc = sl_sock_set_default_impl(p.impl_name);
	if (rc)
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: unknown socket implementation %s",
				      p.impl_name);
	else
		sl_jsonrpc_send_bool(req, true);
	sl_json_free_decoded(g_impl_name_fields, SL_COUNTOF(g_impl_name_fields), &p);
}
SL_RPC_REGISTER("sock_set_default_impl", rpc_sock_set_default_impl, SL_RPC_STARTUP)

static json_t *impl_opts_json(const char *name, const struct sl_sock_impl_opts *o)
{
	return json_pack("{s:s, s:I, s:I, s:b, s:I, s:b, s:i, s:b, s:b, s:I, s:i, s:b}",
			 "impl_name", name, "recv_buf_size", (json_int_t)o->recv_buf_size,
			 "send_buf_size", (json_int_t)o->send_buf_size, "enable_recv_pipe",
			 o->enable_recv_pipe, "recv_pipe_size", (json_int_t)o->recv_pipe_size,
			 "enable_quickack", o->enable_quickack, "enable_placement_id",
			 o->enable_placement_id ? 1 : 0, "enable_zerocopy_send_server",
			 o->enable_zerocopy_send_server, "enable_zerocopy_send_client",
			 o->enable_zerocopy_send_client, "zerocopy_threshold",
			 (json_int_t)o->zerocopy_threshold, "tls_version", 0, "enable_ktls", false);
}

static void rpc_sock_impl_get_options(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct impl_name_params p = { 0 };
	struct sl_sock_impl_opts opts;
	json_t *res;

	if (sl_rpc_decode_params(req, params, g_impl_name_fields, SL_COUNTOF(g_impl_name_fields),
				 &p))
		return;
	if (sl_sock_impl_get_opts(p.impl_name, &opts)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: unknown socket implementation %s",
				      p.impl_name);
		goto out_free_params;
	}
	res = impl_opts_json(p.impl_name, &opts);
	/* SPDK's answer carries no impl_name. */
	json_object_del(res, "impl_name");
	sl_jsonrpc_send_result(req, res);
out_free_params:
	sl_json_free_decoded(g_impl_name_fields, SL_COUNTOF(g_impl_name_fields), &p);
}
SL_RPC_REGISTER("sock_impl_get_options", rpc_sock_impl_get_options, SL_RPC_STARTUP | SL_RPC_RUNTIME)

struct impl_set_params {
	char *impl_name;
	uint32_t recv_buf_size;
	uint32_t send_buf_size;
	bool enable_recv_pipe;
	uint32_t recv_pipe_size;
	bool enable_quickack;
	int32_t enable_placement_id; /* SPDK: 0 off, 1 NAPI id, 2 CPU */
	bool enable_zerocopy_send_server;
	bool enable_zerocopy_send_client;
	uint32_t zerocopy_threshold;
	uint32_t tls_version;
	bool enable_ktls;
};

static const struct sl_json_field g_impl_set_fields[] = {
	SL_JSON_FIELD(struct impl_set_params, impl_name, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct impl_set_params, recv_buf_size, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct impl_set_params, send_buf_size, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct impl_set_params, enable_recv_pipe, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct impl_set_params, recv_pipe_size, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct impl_set_params, enable_quickack, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct impl_set_params, enable_placement_id, SL_JSON_INT32, true),
	SL_JSON_FIELD(struct impl_set_params, enable_zerocopy_send_server, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct impl_set_params, enable_zerocopy_send_client, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct impl_set_params, zerocopy_threshold, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct impl_set_params, tls_version, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct impl_set_params, enable_ktls, SL_JSON_BOOL, true),
};

static void rpc_sock_impl_set_options(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct impl_set_params p = { 0 };
	struct sl_sock_impl_opts opts;
	const char *name = NULL;
	json_t *jname;
	int rc;

	/* Absent fields keep their current value: start from the implementation's options. */
	jname = json_is_object(params) ? json_object_get(params, "impl_name") : NULL;
	if (json_is_string(jname))
		name = json_string_value(jname);
	if (name && !sl_sock_impl_get_opts(name, &opts)) {
		p.recv_buf_size = opts.recv_buf_size;
		p.send_buf_size = opts.send_buf_size;
		p.enable_recv_pipe = opts.enable_recv_pipe;
		p.recv_pipe_size = opts.recv_pipe_size;
		p.enable_quickack = opts.enable_quickack;
		p.enable_placement_id = opts.enable_placement_id;
		p.enable_zerocopy_send_server = opts.enable_zerocopy_send_server;
		p.enable_zerocopy_send_client = opts.enable_zerocopy_send_client;
		p.zerocopy_threshold = opts.zerocopy_threshold;
	}
	if (sl_rpc_decode_params(req, params, g_impl_set_fields, SL_COUNTOF(g_impl_set_fields), &p))
		return;
	if (sl_sock_impl_get_opts(p.impl_name, &opts)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: unknown socket implementation %s",
				      p.impl_name);
		goto out_free_params;
	}
	if (p.enable_placement_id || p.tls_version || p.enable_ktls) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: placement ids, TLS and kTLS are not "
				      "supported");
		goto out_free_params;
	}
	opts.recv_buf_size = p.recv_buf_size;
	opts.send_buf_size = p.send_buf_size;
	opts.enable_recv_pipe = p.enable_recv_pipe;
	opts.recv_pipe_size = p.recv_pipe_size;
	opts.enable_quickack = p.enable_quickack;
	opts.enable_placement_id = false;
	opts.enable_zerocopy_send_server = p.enable_zerocopy_send_server;
	opts.enable_zerocopy_send_client = p.enable_zerocopy_send_client;
	opts.zerocopy_threshold = p.zerocopy_threshold;
	rc = sl_sock_impl_set_opts(p.impl_name, &opts);
	if (rc)
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: options rejected by %s (see the log)",
				      p.impl_name);
	else
		sl_jsonrpc_send_bool(req, true);
out_free_params:
	sl_json_free_decoded(g_impl_set_fields, SL_COUNTOF(g_impl_set_fields), &p);
}
SL_RPC_REGISTER("sock_impl_set_options", rpc_sock_impl_set_options, SL_RPC_STARTUP)

static void sock_write_config(void *config)
{
	struct sock_impl *impl;
	const char *def = sl_sock_get_default_impl();

	if (def)
		json_array_append_new(config,
				      json_pack("{s:s, s:{s:s}}", "method", "sock_set_default_impl",
						"params", "impl_name", def));
	for (impl = sock_impl_next(NULL); impl; impl = sock_impl_next(impl))
		json_array_append_new(config,
				      json_pack("{s:s, s:o}", "method", "sock_impl_set_options",
						"params", impl_opts_json(impl->name, impl->opts)));
}

static struct sl_subsystem g_sock_subsystem = {
	.name = "sock",
	.write_config_json = sock_write_config,
};
SL_SUBSYSTEM_REGISTER(g_sock_subsystem)
