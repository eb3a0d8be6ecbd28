/* SPDX-License-Identifier: BSD-3-Clause */
/* bdev_uring_create / bdev_uring_delete (SPDK's parameters). */
#include "bdev_uring.h"

#include "sluice/rpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rpc_uring_create {
	char *filename;
	char *name;
	uint32_t block_size;
	char *uuid;
};

static const struct sl_json_field g_uring_create_fields[] = {
	SL_JSON_FIELD(struct rpc_uring_create, filename, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct rpc_uring_create, name, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct rpc_uring_create, block_size, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct rpc_uring_create, uuid, SL_JSON_STRING, true),
};

static void rpc_bdev_uring_create(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct rpc_uring_create p = { 0 };
	struct bdev_uring_opts opts = { 0 };
	struct sl_uuid uuid;
	char err[512] = "";
	int rc;

	if (sl_rpc_decode_params(req, params, g_uring_create_fields,
				 SL_COUNTOF(g_uring_create_fields), &p))
		return;
	if (p.uuid && sl_uuid_parse(&uuid, p.uuid)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS, "invalid uuid '%s'",
				      p.uuid);
		goto out;
	}
	opts.name = p.name;
	opts.filename = p.filename;
	opts.block_size = p.block_size;
	opts.uuid = p.uuid ? &uuid : NULL;
	rc = bdev_uring_create(&opts, err, sizeof(err));
	if (rc) {
		if (err[0])
			sl_jsonrpc_send_error(req, rc, "%s", err);
		else
			sl_jsonrpc_send_errno(req, rc, p.name);
		goto out;
	}
	sl_jsonrpc_send_result(req, json_string(p.name));
out:
	sl_json_free_decoded(g_uring_create_fields, SL_COUNTOF(g_uring_create_fields), &p);
}
SL_RPC_REGISTER("bdev_uring_create", rpc_bdev_uring_create, SL_RPC_RUNTIME)

struct rpc_uring_delete {
	char *name;
};

static const struct sl_json_field g_uring_delete_fields[] = {
	SL_JSON_FIELD(struct rpc_uring_delete, name, SL_JSON_STRING, false),
};

static void uring_delete_done(void *cb_arg, int rc)
{
	struct sl_jsonrpc_request *req = cb_arg;

	if (rc)
		sl_jsonrpc_send_errno(req, rc, "bdev_uring_delete");
	else
		sl_jsonrpc_send_bool(req, true);
}

static void rpc_bdev_uring_delete(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct rpc_uring_delete p = { 0 };
	int rc;

	if (sl_rpc_decode_params(req, params, g_uring_delete_fields,
				 SL_COUNTOF(g_uring_delete_fields), &p))
		return;
	rc = bdev_uring_delete(p.name, uring_delete_done, req);
	if (rc)
		sl_jsonrpc_send_error(req, rc, "uring bdev '%s' does not exist: %s", p.name,
				      strerror(-rc));
	sl_json_free_decoded(g_uring_delete_fields, SL_COUNTOF(g_uring_delete_fields), &p);
}
SL_RPC_REGISTER("bdev_uring_delete", rpc_bdev_uring_delete, SL_RPC_RUNTIME)
