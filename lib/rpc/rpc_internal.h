/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SLUICE_RPC_INTERNAL_H
#define SLUICE_RPC_INTERNAL_H

#include "sluice/log.h"
#include "sluice/rpc.h"

struct rpc_conn;

struct sl_jsonrpc_request {
	struct rpc_conn *conn; /* NULL for a local call */
	json_t *id;	       /* NULL: notification, no response */
	json_t *params;
	char method[128];
	sl_rpc_local_cpl local_cpl;
	void *local_ctx;
};

/* Dispatch a parsed request (the request takes ownership of nothing it is given). */
void rpc_dispatch(struct sl_jsonrpc_request *req);
/* Server side: deliver a serialized response to its connection and drop the request. */
void rpc_conn_respond(struct rpc_conn *conn, const char *text, size_t len);
void rpc_conn_request_done(struct rpc_conn *conn);

#endif
