/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The nvmf_* JSON-RPC methods with SPDK's names and parameters, and the
 * "nvmf" part of save_config that replays them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/env.h"
#include "sluice/rpc.h"

#include "nvmf_internal.h"

static bool target_ready(struct sl_jsonrpc_request *req)
{
	if (!g_nvmf_tgt.running) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_STATE,
				      "the NVMe-oF target is not running");
		return false;
	}
	return true;
}

static struct nvmf_subsystem *find_subsystem_or_answer(struct sl_jsonrpc_request *req,
						       const char *nqn)
{
	struct nvmf_subsystem *s = nvmf_tgt_find_subsystem(nqn);

	if (!s)
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: subsystem %s does not exist", nqn);
	return s;
}

/* ---- nvmf_create_transport / nvmf_get_transports ---- */

struct create_transport_params {
	char *trtype;
	char *tgt_name;
	uint32_t max_queue_depth;
	uint32_t max_qpairs_per_ctrlr;
	uint32_t max_io_qpairs_per_ctrlr;
	uint32_t in_capsule_data_size;
	uint32_t max_io_size;
	uint32_t io_unit_size;
	uint32_t max_aq_depth;
	uint32_t num_shared_buffers;
	int32_t buf_cache_size;
	bool dif_insert_or_strip;
	bool c2h_success;
	uint32_t sock_priority;
	uint32_t abort_timeout_sec;
	bool zcopy;
	uint32_t ack_timeout;
	uint32_t data_wr_pool_size;
	bool no_wr_batching;
	bool control_msg_num_set;
	uint32_t control_msg_num;
	uint32_t acceptor_poll_rate;
	bool hdgst_allowed;
	bool ddgst_allowed;
	bool has_c2h_success, has_dif;
};

#define CT_FIELD(m, t) SL_JSON_FIELD(struct create_transport_params, m, t, true)
static const struct sl_json_field g_create_transport_fields[] = {
	SL_JSON_FIELD(struct create_transport_params, trtype, SL_JSON_STRING, false),
	CT_FIELD(tgt_name, SL_JSON_STRING),
	CT_FIELD(max_queue_depth, SL_JSON_UINT32),
	CT_FIELD(max_qpairs_per_ctrlr, SL_JSON_UINT32),
	CT_FIELD(max_io_qpairs_per_ctrlr, SL_JSON_UINT32),
	CT_FIELD(in_capsule_data_size, SL_JSON_UINT32),
	CT_FIELD(max_io_size, SL_JSON_UINT32),
	CT_FIELD(io_unit_size, SL_JSON_UINT32),
	CT_FIELD(max_aq_depth, SL_JSON_UINT32),
	CT_FIELD(num_shared_buffers, SL_JSON_UINT32),
	CT_FIELD(buf_cache_size, SL_JSON_INT32),
	CT_FIELD(dif_insert_or_strip, SL_JSON_BOOL),
	CT_FIELD(c2h_success, SL_JSON_BOOL),
	CT_FIELD(sock_priority, SL_JSON_UINT32),
	CT_FIELD(abort_timeout_sec, SL_JSON_UINT32),
	CT_FIELD(zcopy, SL_JSON_BOOL),
	CT_FIELD(ack_timeout, SL_JSON_UINT32),
	CT_FIELD(data_wr_pool_size, SL_JSON_UINT32),
	CT_FIELD(no_wr_batching, SL_JSON_BOOL),
	CT_FIELD(control_msg_num, SL_JSON_UINT32),
	CT_FIELD(acceptor_poll_rate, SL_JSON_UINT32),
	CT_FIELD(hdgst_allowed, SL_JSON_BOOL),
	CT_FIELD(ddgst_allowed, SL_JSON_BOOL),
};

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int transport_opts_from_params(const json_t *params, struct create_transport_params *p,
				      struct nvmf_transport_opts *o, char *err, size_t errlen)
{
	if (json_object_get(params, "max_queue_depth"))
		o->max_queue_depth = (uint16_t)p->max_queue_depth;
	if (json_object_get(params, "max_qpairs_per_ctrlr"))
		o->max_qpairs_per_ctrlr = (uint16_t)p->max_qpairs_per_ctrlr;
	if (json_object_get(params, "max_io_qpairs_per_ctrlr"))
		o->max_qpairs_per_ctrlr = (uint16_t)(p->max_io_qpairs_per_ctrlr + 1);
	if (json_object_get(params, "in_capsule_data_size"))
		o->in_capsule_data_size = p->in_capsule_data_size;
	if (json_object_get(params, "max_io_size"))
		o->max_io_size = p->max_io_size;
	if (json_object_get(params, "io_unit_size"))
		o->io_unit_size = p->io_unit_size;
	if (json_object_get(params, "max_aq_depth"))
		o->max_aq_depth = p->max_aq_depth;
	if (json_object_get(params, "num_shared_buffers"))
		o->num_shared_buffers = p->num_shared_buffers;
	if (json_object_get(params, "buf_cache_size"))
		o->buf_cache_size = p->buf_cache_size < 0 ? 0 : (uint32_t)p->buf_cache_size;
	if (json_object_get(params, "dif_insert_or_strip"))
		o->dif_insert_or_strip = p->dif_insert_or_strip;
	if (json_object_get(params, "c2h_success"))
		o->c2h_success = p->c2h_success;
	if (json_object_get(params, "sock_priority"))
		o->sock_priority = p->sock_priority;
	if (json_object_get(params, "abort_timeout_sec"))
		o->abort_timeout_sec = p->abort_timeout_sec;
	if (json_object_get(params, "acceptor_poll_rate"))
		o->acceptor_poll_rate_us = p->acceptor_poll_rate;
	if (json_object_get(params, "hdgst_allowed"))
		o->hdgst_allowed = p->hdgst_allowed;
	if (json_object_get(params, "ddgst_allowed"))
		o->ddgst_allowed = p->ddgst_allowed;

	if (o->max_queue_depth < 2 || o->max_queue_depth > 4096) {
		snprintf(err, errlen, "max_queue_depth must be 2-4096");
		return -EINVAL;
	}
	if (o->max_aq_depth < 32 || o->max_aq_depth > 4096) {
		snprintf(err, errlen, "max_aq_depth must be 32-4096");
		return -EINVAL;
	}
	if (o->max_qpairs_per_ctrlr < 2) {
		snprintf(err, errlen, "a controller needs at least one I/O queue pair");
		return -EINVAL;
	}
	if (o->in_capsule_data_size > 131072 || (o->in_capsule_data_size & 15)) {
		snprintf(err, errlen,
			 "in_capsule_data_size must be a multiple of 16, at most 131072");
		return -EINVAL;
	}
	if (!is_pow2(o->max_io_size) || o->max_io_size < 4096 || o->max_io_size > 1048576) {
		snprintf(err, errlen, "max_io_size must be a power of two from 4096 to 1048576");
		return -EINVAL;
	}
	if (o->io_unit_size < 512 || o->io_unit_size > o->max_io_size ||
	    (o->max_io_size + o->io_unit_size - 1) / o->io_unit_size > NVMF_MAX_IOV) {
		snprintf(err, errlen,
			 "io_unit_size must be 512..max_io_size and split max_io_size "
			 "into at most %d units",
			 NVMF_MAX_IOV);
		return -EINVAL;
	}
	if (o->num_shared_buffers <
	    2 * ((o->max_io_size + o->io_unit_size - 1) / o->io_unit_size)) {
		snprintf(err, errlen, "num_shared_buffers is too small for max_io_size");
		return -EINVAL;
	}
	if (o->dif_insert_or_strip) {
		snprintf(err, errlen, "dif_insert_or_strip is not supported");
		return -EINVAL;
	}
	return 0;
}

struct create_transport_ctx {
	struct sl_jsonrpc_request *req;
};

static void transport_added(void *arg, int rc)
{
	struct sl_jsonrpc_request *req = arg;

	if (rc)
		sl_jsonrpc_send_errno(req, rc, "transport created but not every poll group has it");
	else
		sl_jsonrpc_send_bool(req, true);
}

static void rpc_nvmf_create_transport(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct create_transport_params p = { 0 };
	const struct nvmf_transport_ops *ops;
	struct nvmf_transport_opts o;
	struct nvmf_transport *t;
	enum sl_nvmf_trtype trtype;
	char err[256];
	int rc;

	if (sl_rpc_decode_params(req, params, g_create_transport_fields,
				 SL_COUNTOF(g_create_transport_fields), &p))
		return;
	if (!target_ready(req))
		goto out;
	ops = nvmf_transport_ops_find(p.trtype);
	if (!ops || sl_nvmf_trtype_parse(p.trtype, &trtype)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: transport type '%s' is not supported "
				      "(TCP is)",
				      p.trtype);
		goto out;
	}
	if (nvmf_tgt_find_transport(trtype)) {
		sl_jsonrpc_send_error(req, -EEXIST, "transport %s already exists", ops->name);
		goto out;
	}
	ops->opts_init(&o);
	if (transport_opts_from_params(params, &p, &o, err, sizeof(err))) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: %s", err);
		goto out;
	}
	t = ops->create(&o);
	if (!t) {
		sl_jsonrpc_send_error(req, -ENOMEM, "cannot create transport %s", ops->name);
		goto out;
	}
	rc = nvmf_tgt_add_transport(t, transport_added, req);
	if (rc) {
		ops->destroy(t);
		sl_jsonrpc_send_errno(req, rc, "cannot start the transport's poll groups");
	}
out:
	sl_json_free_decoded(g_create_transport_fields, SL_COUNTOF(g_create_transport_fields), &p);
}
SL_RPC_REGISTER("nvmf_create_transport", rpc_nvmf_create_transport, SL_RPC_RUNTIME)

struct get_transports_params {
	char *trtype;
	char *tgt_name;
};

static const struct sl_json_field g_get_transports_fields[] = {
	SL_JSON_FIELD(struct get_transports_params, trtype, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct get_transports_params, tgt_name, SL_JSON_STRING, true),
};

static json_t *transport_json(struct nvmf_transport *t)
{
	json_t *o = json_object();

	json_object_set_new(o, "trtype", json_string(t->ops->name));
	t->ops->dump_opts(t, o);
	return o;
}

static void rpc_nvmf_get_transports(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct get_transports_params p = { 0 };
	struct nvmf_transport *t;
	json_t *arr;

	if (sl_rpc_decode_params(req, params, g_get_transports_fields,
				 SL_COUNTOF(g_get_transports_fields), &p))
		return;
	arr = json_array();
	TAILQ_FOREACH(t, &g_nvmf_tgt.transports, link)
		if (!p.trtype || strcasecmp(p.trtype, t->ops->name) == 0)
			json_array_append_new(arr, transport_json(t));
	if (p.trtype && json_array_size(arr) == 0) {
		json_decref(arr);
		sl_jsonrpc_send_error(req, -ENODEV, "transport %s does not exist", p.trtype);
	} else {
		sl_jsonrpc_send_result(req, arr);
	}
	sl_json_free_decoded(g_get_transports_fields, SL_COUNTOF(g_get_transports_fields), &p);
}
SL_RPC_REGISTER("nvmf_get_transports", rpc_nvmf_get_transports, SL_RPC_RUNTIME)

/* ---- Subsystems ---- */

struct create_subsystem_params {
	char *nqn;
	char *serial_number;
	char *model_number;
	char *tgt_name;
	bool allow_any_host;
	uint32_t max_namespaces;
	uint16_t min_cntlid;
	uint16_t max_cntlid;
	bool ana_reporting;
};

static const struct sl_json_field g_create_subsystem_fields[] = {
	SL_JSON_FIELD(struct create_subsystem_params, nqn, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct create_subsystem_params, serial_number, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct create_subsystem_params, model_number, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct create_subsystem_params, tgt_name, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct create_subsystem_params, allow_any_host, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct create_subsystem_params, max_namespaces, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct create_subsystem_params, min_cntlid, SL_JSON_UINT16, true),
	SL_JSON_FIELD(struct create_subsystem_params, max_cntlid, SL_JSON_UINT16, true),
	SL_JSON_FIELD(struct create_subsystem_params, ana_reporting, SL_JSON_BOOL, true),
};

static void rpc_nvmf_create_subsystem(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct create_subsystem_params p = { .min_cntlid = SL_NVMF_CNTLID_MIN,
					     .max_cntlid = SL_NVMF_CNTLID_MAX };
	struct nvmf_subsystem *s;
	char err[256];
	int rc;

	if (sl_rpc_decode_params(req, params, g_create_subsystem_fields,
				 SL_COUNTOF(g_create_subsystem_fields), &p))
		return;
	if (!target_ready(req))
		goto out;
	if (p.min_cntlid < SL_NVMF_CNTLID_MIN || p.max_cntlid > SL_NVMF_CNTLID_MAX ||
	    p.min_cntlid > p.max_cntlid) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: cntlid range must lie within 1-65519");
		goto out;
	}
	if (p.ana_reporting) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: ANA reporting is not supported");
		goto out;
	}
	rc = nvmf_subsystem_create(p.nqn, SL_NVMF_SUBTYPE_NVME, p.max_namespaces, &s, err,
				   sizeof(err));
	if (rc) {
		sl_jsonrpc_send_error(req, rc == -EINVAL ? SL_JSONRPC_ERROR_INVALID_PARAMS : rc,
				      "%s%s", rc == -EINVAL ? "Invalid parameters: " : "", err);
		goto out;
	}
	if ((p.serial_number && nvmf_subsystem_set_sn(s, p.serial_number)) ||
	    (p.model_number && nvmf_subsystem_set_mn(s, p.model_number))) {
		nvmf_subsystem_delete(s, NULL, NULL);
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: serial_number (<= 20) and model_number "
				      "(1-40) must be printable ASCII");
		goto out;
	}
	s->allow_any_host = p.allow_any_host;
	s->min_cntlid = s->next_cntlid = p.min_cntlid;
	s->max_cntlid = p.max_cntlid;
	sl_jsonrpc_send_bool(req, true);
out:
	sl_json_free_decoded(g_create_subsystem_fields, SL_COUNTOF(g_create_subsystem_fields), &p);
}
SL_RPC_REGISTER("nvmf_create_subsystem", rpc_nvmf_create_subsystem, SL_RPC_RUNTIME)

struct nqn_params {
	char *nqn;
	char *tgt_name;
};

static const struct sl_json_field g_nqn_fields[] = {
	SL_JSON_FIELD(struct nqn_params, nqn, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct nqn_params, tgt_name, SL_JSON_STRING, true),
};

static void subsystem_deleted(void *arg, int rc)
{
	struct sl_jsonrpc_request *req = arg;

	if (rc)
		sl_jsonrpc_send_errno(req, rc, "cannot delete subsystem");
	else
		sl_jsonrpc_send_bool(req, true);
}

static void rpc_nvmf_delete_subsystem(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct nqn_params p = { 0 };
	struct nvmf_subsystem *s;
	int rc;

	if (sl_rpc_decode_params(req, params, g_nqn_fields, SL_COUNTOF(g_nqn_fields), &p))
		return;
	s = find_subsystem_or_answer(req, p.nqn);
	if (!s)
		goto out;
	if (s->subtype != SL_NVMF_SUBTYPE_NVME) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: the discovery subsystem stays");
		goto out;
	}
	rc = nvmf_subsystem_delete(s, subsystem_deleted, req);
	if (rc)
		sl_jsonrpc_send_errno(req, rc, "cannot delete subsystem");
out:
	sl_json_free_decoded(g_nqn_fields, SL_COUNTOF(g_nqn_fields), &p);
}
SL_RPC_REGISTER("nvmf_delete_subsystem", rpc_nvmf_delete_subsystem, SL_RPC_RUNTIME)

/* ---- Listeners ---- */

struct listen_address {
	char *trtype;
	char *adrfam;
	char *traddr;
	char *trsvcid;
	char *priority;
};

static const struct sl_json_field g_listen_address_fields[] = {
	SL_JSON_FIELD(struct listen_address, trtype, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct listen_address, adrfam, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct listen_address, traddr, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct listen_address, trsvcid, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct listen_address, priority, SL_JSON_STRING, true),
};

struct listener_params {
	char *nqn;
	char *tgt_name;
	const json_t *listen_address;
	bool secure_channel;
	char *ana_state;
	uint32_t anagrpid;
	char *sock_impl;
};

static const struct sl_json_field g_listener_fields[] = {
	SL_JSON_FIELD(struct listener_params, nqn, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct listener_params, tgt_name, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct listener_params, listen_address, SL_JSON_VALUE, false),
	SL_JSON_FIELD(struct listener_params, secure_channel, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct listener_params, ana_state, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct listener_params, anagrpid, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct listener_params, sock_impl, SL_JSON_STRING, true),
};

static int parse_listen_address(const json_t *obj, struct sl_nvmf_listen_addr *addr, char *err,
				size_t errlen)
{
	struct listen_address a = { 0 };
	int rc = -EINVAL;

	memset(addr, 0, sizeof(*addr));
	if (sl_json_decode_object(obj, g_listen_address_fields, SL_COUNTOF(g_listen_address_fields),
				  &a, err, errlen))
		goto out;
	if (sl_nvmf_trtype_parse(a.trtype, &addr->trtype)) {
		snprintf(err, errlen, "listen_address.trtype '%s' is not supported (TCP is)",
			 a.trtype);
		goto out;
	}
	if (a.adrfam) {
		if (sl_nvmf_adrfam_parse(a.adrfam, &addr->adrfam)) {
			snprintf(err, errlen, "listen_address.adrfam '%s' is not IPv4 or IPv6",
				 a.adrfam);
			goto out;
		}
	} else {
		addr->adrfam = strchr(a.traddr, ':') ? SL_NVMF_ADRFAM_IPV6 : SL_NVMF_ADRFAM_IPV4;
	}
	if (strlen(a.traddr) == 0 || strlen(a.traddr) > SL_NVMF_TRADDR_MAX_LEN) {
		snprintf(err, errlen, "listen_address.traddr is empty or too long");
		goto out;
	}
	if (a.trsvcid) {
		char *end;
		long port = strtol(a.trsvcid, &end, 10);

		if (*end || port <= 0 || port > 65535) {
			snprintf(err, errlen, "listen_address.trsvcid '%s' is not a port number",
				 a.trsvcid);
			goto out;
		}
	}
	snprintf(addr->traddr, sizeof(addr->traddr), "%s", a.traddr);
	snprintf(addr->trsvcid, sizeof(addr->trsvcid), "%s", a.trsvcid ? a.trsvcid : "4420");
	rc = 0;
out:
	sl_json_free_decoded(g_listen_address_fields, SL_COUNTOF(g_listen_address_fields), &a);
	return rc;
}

static void listener_rpc(struct sl_jsonrpc_request *req, const json_t *params, bool add)
{
	struct listener_params p = { 0 };
	struct sl_nvmf_listen_addr addr;
	struct nvmf_subsystem *s;
	char err[256];
	int rc;

	if (sl_rpc_decode_params(req, params, g_listener_fields, SL_COUNTOF(g_listener_fields), &p))
		return;
	s = find_subsystem_or_answer(req, p.nqn);
	if (!s)
		goto out;
	if (parse_listen_address(p.listen_address, &addr, err, sizeof(err))) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: %s", err);
		goto out;
	}
	if (p.secure_channel) {
		sl_jsonrpc_send_error(
			req, SL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: secure channels (TLS) are not supported");
		goto out;
	}
	if (add) {
		rc = nvmf_subsystem_add_listener(s, &addr, err, sizeof(err));
		if (rc)
			sl_jsonrpc_send_error(req,
					      rc == -EINVAL ? SL_JSONRPC_ERROR_INVALID_PARAMS : rc,
					      "%s", err);
		else
			sl_jsonrpc_send_bool(req, true);
	} else {
		rc = nvmf_subsystem_remove_listener(s, &addr);
		if (rc)
			sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
					      "Invalid parameters: no listener %s:%s on %s",
					      addr.traddr, addr.trsvcid, s->nqn);
		else
			sl_jsonrpc_send_bool(req, true);
	}
out:
	sl_json_free_decoded(g_listener_fields, SL_COUNTOF(g_listener_fields), &p);
}

static void rpc_nvmf_subsystem_add_listener(struct sl_jsonrpc_request *req, const json_t *params)
{
	listener_rpc(req, params, true);
}
SL_RPC_REGISTER("nvmf_subsystem_add_listener", rpc_nvmf_subsystem_add_listener, SL_RPC_RUNTIME)

static void rpc_nvmf_subsystem_remove_listener(struct sl_jsonrpc_request *req, const json_t *params)
{
	listener_rpc(req, params, false);
}
SL_RPC_REGISTER("nvmf_subsystem_remove_listener", rpc_nvmf_subsystem_remove_listener,
		SL_RPC_RUNTIME)

/* ---- Namespaces ---- */

struct ns_params {
	char *bdev_name;
	uint32_t nsid;
	char *nguid;
	char *eui64;
	char *uuid;
	char *ptpl_file;
	uint32_t anagrpid;
	bool no_auto_visible;
};

static const struct sl_json_field g_ns_fields[] = {
	SL_JSON_FIELD(struct ns_params, bdev_name, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct ns_params, nsid, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct ns_params, nguid, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct ns_params, eui64, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct ns_params, uuid, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct ns_params, ptpl_file, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct ns_params, anagrpid, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct ns_params, no_auto_visible, SL_JSON_BOOL, true),
};

struct add_ns_params {
	char *nqn;
	char *tgt_name;
	const json_t *namespace;
};

static const struct sl_json_field g_add_ns_fields[] = {
	SL_JSON_FIELD(struct add_ns_params, nqn, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct add_ns_params, tgt_name, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct add_ns_params, namespace, SL_JSON_VALUE, false),
};

static void ns_added_rpc(void *arg, int rc, uint32_t nsid)
{
	struct sl_jsonrpc_request *req = arg;

	if (rc)
		sl_jsonrpc_send_errno(req, rc, "cannot add namespace");
	else
		sl_jsonrpc_send_result(req, json_integer(nsid));
}

static void rpc_nvmf_subsystem_add_ns(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct add_ns_params p = { 0 };
	struct ns_params n = { 0 };
	struct nvmf_ns_opts o = { 0 };
	struct nvmf_subsystem *s;
	char err[256];
	int rc;

	if (sl_rpc_decode_params(req, params, g_add_ns_fields, SL_COUNTOF(g_add_ns_fields), &p))
		return;
	if (sl_json_decode_object(p.namespace, g_ns_fields, SL_COUNTOF(g_ns_fields), &n, err,
				  sizeof(err))) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: namespace: %s", err);
		goto out;
	}
	s = find_subsystem_or_answer(req, p.nqn);
	if (!s)
		goto out;
	if (n.ptpl_file || n.no_auto_visible || n.anagrpid > 1) {
		sl_jsonrpc_send_error(
			req, SL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: ptpl_file, no_auto_visible and ANA groups "
			"are not supported");
		goto out;
	}
	o.nsid = n.nsid;
	o.nguid = n.nguid;
	o.eui64 = n.eui64;
	o.uuid = n.uuid;
	rc = nvmf_subsystem_add_ns(s, n.bdev_name, &o, ns_added_rpc, req, err, sizeof(err));
	if (rc)
		sl_jsonrpc_send_error(req, rc == -EINVAL ? SL_JSONRPC_ERROR_INVALID_PARAMS : rc,
				      "%s%s", rc == -EINVAL ? "Invalid parameters: " : "", err);
out:
	sl_json_free_decoded(g_ns_fields, SL_COUNTOF(g_ns_fields), &n);
	sl_json_free_decoded(g_add_ns_fields, SL_COUNTOF(g_add_ns_fields), &p);
}
SL_RPC_REGISTER("nvmf_subsystem_add_ns", rpc_nvmf_subsystem_add_ns, SL_RPC_RUNTIME)

struct remove_ns_params {
	char *nqn;
	char *tgt_name;
	uint32_t nsid;
};

static const struct sl_json_field g_remove_ns_fields[] = {
	SL_JSON_FIELD(struct remove_ns_params, nqn, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct remove_ns_params, tgt_name, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct remove_ns_params, nsid, SL_JSON_UINT32, false),
};

static void ns_removed_rpc(void *arg, int rc, uint32_t nsid)
{
	struct sl_jsonrpc_request *req = arg;

	(void)nsid;
	if (rc)
		sl_jsonrpc_send_errno(req, rc, "cannot remove namespace");
	else
		sl_jsonrpc_send_bool(req, true);
}

static void rpc_nvmf_subsystem_remove_ns(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct remove_ns_params p = { 0 };
	struct nvmf_subsystem *s;
	int rc;

	if (sl_rpc_decode_params(req, params, g_remove_ns_fields, SL_COUNTOF(g_remove_ns_fields),
				 &p))
		return;
	s = find_subsystem_or_answer(req, p.nqn);
	if (!s)
		goto out;
	rc = nvmf_subsystem_remove_ns(s, p.nsid, ns_removed_rpc, req);
	if (rc == -ENOENT)
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: %s has no namespace %u", s->nqn, p.nsid);
	else if (rc)
		sl_jsonrpc_send_errno(req, rc, "cannot remove namespace");
out:
	sl_json_free_decoded(g_remove_ns_fields, SL_COUNTOF(g_remove_ns_fields), &p);
}
SL_RPC_REGISTER("nvmf_subsystem_remove_ns", rpc_nvmf_subsystem_remove_ns, SL_RPC_RUNTIME)

/* ---- Hosts ---- */

struct host_params {
	char *nqn;
	char *host;
	char *tgt_name;
	char *psk;
	char *dhchap_key;
	char *dhchap_ctrlr_key;
};

static const struct sl_json_field g_host_fields[] = {
	SL_JSON_FIELD(struct host_params, nqn, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct host_params, host, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct host_params, tgt_name, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct host_params, psk, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct host_params, dhchap_key, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct host_params, dhchap_ctrlr_key, SL_JSON_STRING, true),
};

static void host_rpc(struct sl_jsonrpc_request *req, const json_t *params, bool add)
{
	struct host_params p = { 0 };
	struct nvmf_subsystem *s;
	char err[256];
	int rc;

	if (sl_rpc_decode_params(req, params, g_host_fields, SL_COUNTOF(g_host_fields), &p))
		return;
	s = find_subsystem_or_answer(req, p.nqn);
	if (!s)
		goto out;
	if (p.psk || p.dhchap_key || p.dhchap_ctrlr_key) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: TLS and DH-HMAC-CHAP are not supported");
		goto out;
	}
	if (add) {
		rc = nvmf_subsystem_add_host(s, p.host, err, sizeof(err));
		if (rc)
			sl_jsonrpc_send_error(req,
					      rc == -EINVAL ? SL_JSONRPC_ERROR_INVALID_PARAMS : rc,
					      "%s", err);
		else
			sl_jsonrpc_send_bool(req, true);
	} else if (nvmf_subsystem_remove_host(s, p.host)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: host %s is not on the list of %s",
				      p.host, s->nqn);
	} else {
		sl_jsonrpc_send_bool(req, true);
	}
out:
	sl_json_free_decoded(g_host_fields, SL_COUNTOF(g_host_fields), &p);
}

static void rpc_nvmf_subsystem_add_host(struct sl_jsonrpc_request *req, const json_t *params)
{
	host_rpc(req, params, true);
}
SL_RPC_REGISTER("nvmf_subsystem_add_host", rpc_nvmf_subsystem_add_host, SL_RPC_RUNTIME)

static void rpc_nvmf_subsystem_remove_host(struct sl_jsonrpc_request *req, const json_t *params)
{
	host_rpc(req, params, false);
}
SL_RPC_REGISTER("nvmf_subsystem_remove_host", rpc_nvmf_subsystem_remove_host, SL_RPC_RUNTIME)

struct allow_any_params {
	char *nqn;
	char *tgt_name;
	bool allow_any_host;
};

static const struct sl_json_field g_allow_any_fields[] = {
	SL_JSON_FIELD(struct allow_any_params, nqn, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct allow_any_params, tgt_name, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct allow_any_params, allow_any_host, SL_JSON_BOOL, false),
};

static void rpc_nvmf_subsystem_allow_any_host(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct allow_any_params p = { 0 };
	struct nvmf_subsystem *s;

	if (sl_rpc_decode_params(req, params, g_allow_any_fields, SL_COUNTOF(g_allow_any_fields),
				 &p))
		return;
	s = find_subsystem_or_answer(req, p.nqn);
	if (s) {
		s->allow_any_host = p.allow_any_host;
		nvmf_tgt_discovery_changed();
		sl_jsonrpc_send_bool(req, true);
	}
	sl_json_free_decoded(g_allow_any_fields, SL_COUNTOF(g_allow_any_fields), &p);
}
SL_RPC_REGISTER("nvmf_subsystem_allow_any_host", rpc_nvmf_subsystem_allow_any_host, SL_RPC_RUNTIME)

/* ---- Queries ---- */

static json_t *listen_addr_json(const struct sl_nvmf_listen_addr *a)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "trtype", sl_nvmf_trtype_name(a->trtype), "adrfam",
			 sl_nvmf_adrfam_name(a->adrfam), "traddr", a->traddr, "trsvcid",
			 a->trsvcid);
}

static void hex(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", b[i]);
}

static json_t *subsystem_json(struct nvmf_subsystem *s)
{
	json_t *o = json_object(), *la = json_array(), *hosts = json_array();
	struct nvmf_listener *l;
	struct nvmf_host *h;

	json_object_set_new(o, "nqn", json_string(s->nqn));
	json_object_set_new(o, "subtype",
			    json_string(s->subtype == SL_NVMF_SUBTYPE_NVME ? "NVMe" : "Discovery"));
	TAILQ_FOREACH(l, &s->listeners, link)
		json_array_append_new(la, listen_addr_json(&l->addr));
	json_object_set_new(o, "listen_addresses", la);
	json_object_set_new(o, "allow_any_host", json_boolean(s->allow_any_host));
	TAILQ_FOREACH(h, &s->hosts, link)
		json_array_append_new(hosts, json_pack("{s:s}", "nqn", h->nqn));
	json_object_set_new(o, "hosts", hosts);
	if (s->subtype != SL_NVMF_SUBTYPE_NVME)
		return o;
	json_object_set_new(o, "serial_number", json_string(s->sn));
	json_object_set_new(o, "model_number", json_string(s->mn));
	json_object_set_new(o, "max_namespaces", json_integer(s->max_nsid));
	json_object_set_new(o, "min_cntlid", json_integer(s->min_cntlid));
	json_object_set_new(o, "max_cntlid", json_integer(s->max_cntlid));
	json_t *nss = json_array();
	for (uint32_t i = 0; i < s->max_nsid; i++) {
		struct nvmf_ns *ns = s->ns[i];
		char nguid[33], eui[17], uuid[SL_UUID_STRING_LEN];
		json_t *n;

		if (!ns || ns->removing)
			continue;
		hex(nguid, ns->nguid, 16);
		hex(eui, ns->eui64, 8);
		sl_uuid_fmt(uuid, sizeof(uuid), &ns->uuid);
		n = json_pack("{s:i,s:s,s:s,s:s,s:s}", "nsid", (json_int_t)ns->nsid, "bdev_name",
			      sl_bdev_get_name(ns->bdev), "name", sl_bdev_get_name(ns->bdev),
			      "nguid", nguid, "uuid", uuid);
		if (memcmp(ns->eui64, "\0\0\0\0\0\0\0\0", 8) != 0)
			json_object_set_new(n, "eui64", json_string(eui));
		json_array_append_new(nss, n);
	}
	json_object_set_new(o, "namespaces", nss);
	return o;
}

static void rpc_nvmf_get_subsystems(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct nqn_params p = { 0 };
	static const struct sl_json_field fields[] = {
		SL_JSON_FIELD(struct nqn_params, nqn, SL_JSON_STRING, true),
		SL_JSON_FIELD(struct nqn_params, tgt_name, SL_JSON_STRING, true),
	};
	json_t *arr;

	if (sl_rpc_decode_params(req, params, fields, SL_COUNTOF(fields), &p))
		return;
	arr = json_array();
	for (uint32_t i = 0; i < g_nvmf_tgt.max_subsystems; i++) {
		struct nvmf_subsystem *s = g_nvmf_tgt.subsystems[i];

		if (!s || s->state == NVMF_SUBSYS_DELETING || (p.nqn && strcmp(p.nqn, s->nqn)))
			continue;
		json_array_append_new(arr, subsystem_json(s));
	}
	if (p.nqn && json_array_size(arr) == 0) {
		json_decref(arr);
		find_subsystem_or_answer(req, p.nqn);
	} else {
		sl_jsonrpc_send_result(req, arr);
	}
	sl_json_free_decoded(fields, SL_COUNTOF(fields), &p);
}
SL_RPC_REGISTER("nvmf_get_subsystems", rpc_nvmf_get_subsystems, SL_RPC_RUNTIME)

static void rpc_nvmf_subsystem_get_controllers(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct nqn_params p = { 0 };
	struct nvmf_subsystem *s;
	struct nvmf_ctrlr *c;

	if (sl_rpc_decode_params(req, params, g_nqn_fields, SL_COUNTOF(g_nqn_fields), &p))
		return;
	s = find_subsystem_or_answer(req, p.nqn);
	if (s) {
		json_t *arr = json_array();

		TAILQ_FOREACH(c, &s->ctrlrs, link) {
			char hostid[SL_UUID_STRING_LEN];
			uint32_t nio = 0;

			for (uint32_t q = 1; q <= c->num_io_queues_max; q++)
				nio += c->io_qid_used[q];
			sl_uuid_fmt(hostid, sizeof(hostid), (const struct sl_uuid *)c->hostid);
			json_array_append_new(arr, json_pack("{s:i,s:s,s:s,s:i,s:i}", "cntlid",
							     (json_int_t)c->cntlid, "hostnqn",
							     c->hostnqn, "hostid", hostid,
							     "num_io_qpairs", (json_int_t)nio,
							     "kato_ms", (json_int_t)c->kato_ms));
		}
		sl_jsonrpc_send_result(req, arr);
	}
	sl_json_free_decoded(g_nqn_fields, SL_COUNTOF(g_nqn_fields), &p);
}
SL_RPC_REGISTER("nvmf_subsystem_get_controllers", rpc_nvmf_subsystem_get_controllers,
		SL_RPC_RUNTIME)

/* Walks the poll groups: each appends what it owns to one JSON array. */
struct qpairs_ctx {
	struct sl_jsonrpc_request *req;
	struct nvmf_subsystem *subsys;
	json_t *arr;
	bool stats;
};

static const char *qpair_state_name(enum nvmf_qpair_state s)
{
	switch (s) {
	case NVMF_QPAIR_UNINITIALIZED:
		return "uninitialized";
	case NVMF_QPAIR_CONNECTING:
		return "connecting";
	case NVMF_QPAIR_ACTIVE:
		return "active";
	default:
		return "deleting";
	}
}

static void pg_collect(struct sl_io_channel_iter *i)
{
	struct qpairs_ctx *ctx = sl_io_channel_iter_get_ctx(i);
	struct nvmf_poll_group *g = sl_io_channel_get_ctx(sl_io_channel_iter_get_channel(i));
	struct nvmf_qpair *q;

	if (ctx->stats) {
		json_t *o = json_object(), *ts = json_array();

		json_object_set_new(o, "name", json_string(sl_thread_get_name(g->thread)));
		json_object_set_new(o, "admin_qpairs", json_integer((json_int_t)g->admin_qpairs));
		json_object_set_new(o, "io_qpairs", json_integer((json_int_t)g->io_qpairs));
		json_object_set_new(o, "current_admin_qpairs",
				    json_integer((json_int_t)g->current_admin_qpairs));
		json_object_set_new(o, "current_io_qpairs",
				    json_integer((json_int_t)g->current_io_qpairs));
		json_object_set_new(o, "pending_bdev_io",
				    json_integer((json_int_t)g->pending_bdev_io));
		json_object_set_new(o, "completed_nvme_io",
				    json_integer((json_int_t)g->completed_nvme_io));
		for (uint32_t t = 0; t < g->num_transports; t++) {
			json_t *to = json_object();

			g->transports[t].transport->ops->pg_dump_stats(g->transports[t].tgroup, to);
			json_array_append_new(ts, to);
		}
		json_object_set_new(o, "transports", ts);
		json_array_append_new(ctx->arr, o);
		sl_for_each_channel_continue(i, 0);
		return;
	}
	TAILQ_FOREACH(q, &g->qpairs, link) {
		struct sl_nvmf_listen_addr a;

		if (!q->ctrlr || q->ctrlr->subsys != ctx->subsys)
			continue;
		q->ops->qpair_local_addr(q, &a);
		json_array_append_new(
			ctx->arr, json_pack("{s:i,s:i,s:s,s:s,s:o,s:s}", "cntlid",
					    (json_int_t)q->ctrlr->cntlid, "qid", (json_int_t)q->qid,
					    "state", qpair_state_name(q->state), "thread",
					    sl_thread_get_name(g->thread), "listen_address",
					    listen_addr_json(&a), "peer_address", q->trid_peer));
	}
	sl_for_each_channel_continue(i, 0);
}

static void collect_done(struct sl_io_channel_iter *i, int status)
{
	struct qpairs_ctx *ctx = sl_io_channel_iter_get_ctx(i);

	(void)status;
	if (ctx->stats)
		sl_jsonrpc_send_result(ctx->req, json_pack("{s:I,s:o}", "tick_rate",
							   (json_int_t)sl_get_ticks_hz(),
							   "poll_groups", ctx->arr));
	else
		sl_jsonrpc_send_result(ctx->req, ctx->arr);
	free(ctx);
}

static void rpc_nvmf_subsystem_get_qpairs(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct nqn_params p = { 0 };
	struct qpairs_ctx *ctx;
	struct nvmf_subsystem *s;

	if (sl_rpc_decode_params(req, params, g_nqn_fields, SL_COUNTOF(g_nqn_fields), &p))
		return;
	s = find_subsystem_or_answer(req, p.nqn);
	if (s) {
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx) {
			sl_jsonrpc_send_errno(req, -ENOMEM, "nvmf_subsystem_get_qpairs");
		} else {
			ctx->req = req;
			ctx->subsys = s;
			ctx->arr = json_array();
			sl_for_each_channel(&g_nvmf_tgt, pg_collect, ctx, collect_done);
		}
	}
	sl_json_free_decoded(g_nqn_fields, SL_COUNTOF(g_nqn_fields), &p);
}
SL_RPC_REGISTER("nvmf_subsystem_get_qpairs", rpc_nvmf_subsystem_get_qpairs, SL_RPC_RUNTIME)

static void rpc_nvmf_get_stats(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct qpairs_ctx *ctx;
	struct nqn_params p = { 0 };
	static const struct sl_json_field fields[] = {
		SL_JSON_FIELD(struct nqn_params, tgt_name, SL_JSON_STRING, true),
	};

	if (sl_rpc_decode_params(req, params, fields, SL_COUNTOF(fields), &p))
		return;
	sl_json_free_decoded(fields, SL_COUNTOF(fields), &p);
	if (!target_ready(req))
		return;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		sl_jsonrpc_send_errno(req, -ENOMEM, "nvmf_get_stats");
		return;
	}
	ctx->req = req;
	ctx->stats = true;
	ctx->arr = json_array();
	sl_for_each_channel(&g_nvmf_tgt, pg_collect, ctx, collect_done);
}
SL_RPC_REGISTER("nvmf_get_stats", rpc_nvmf_get_stats, SL_RPC_RUNTIME)

/* ---- save_config ---- */

static json_t *method(const char *name, json_t *params)
{
	return json_pack("{s:s,s:o}", "method", name, "params", params);
}

void nvmf_write_config_json(void *config)
{
	json_t *arr = config;
	struct nvmf_transport *t;

	TAILQ_FOREACH(t, &g_nvmf_tgt.transports, link)
		json_array_append_new(arr, method("nvmf_create_transport", transport_json(t)));
	for (uint32_t i = 0; i < g_nvmf_tgt.max_subsystems; i++) {
		struct nvmf_subsystem *s = g_nvmf_tgt.subsystems[i];
		struct nvmf_listener *l;
		struct nvmf_host *h;

		if (!s || s->state == NVMF_SUBSYS_DELETING)
			continue;
		if (s->subtype == SL_NVMF_SUBTYPE_NVME) {
			json_array_append_new(
				arr,
				method("nvmf_create_subsystem",
				       json_pack("{s:s,s:s,s:s,s:b,s:i,s:i,s:i}", "nqn", s->nqn,
						 "serial_number", s->sn, "model_number", s->mn,
						 "allow_any_host", s->allow_any_host,
						 "max_namespaces", (json_int_t)s->max_nsid,
						 "min_cntlid", (json_int_t)s->min_cntlid,
						 "max_cntlid", (json_int_t)s->max_cntlid)));
			for (uint32_t n = 0; n < s->max_nsid; n++) {
				struct nvmf_ns *ns = s->ns[n];
				char nguid[33], uuid[SL_UUID_STRING_LEN];

				if (!ns || ns->removing)
					continue;
				hex(nguid, ns->nguid, 16);
				sl_uuid_fmt(uuid, sizeof(uuid), &ns->uuid);
				json_array_append_new(
					arr,
					method("nvmf_subsystem_add_ns",
					       json_pack("{s:s,s:{s:i,s:s,s:s,s:s}}", "nqn", s->nqn,
							 "namespace", "nsid", (json_int_t)ns->nsid,
							 "bdev_name", sl_bdev_get_name(ns->bdev),
							 "nguid", nguid, "uuid", uuid)));
			}
			TAILQ_FOREACH(h, &s->hosts, link)
				json_array_append_new(arr,
						      method("nvmf_subsystem_add_host",
							     json_pack("{s:s,s:s}", "nqn", s->nqn,
								       "host", h->nqn)));
		}
		TAILQ_FOREACH(l, &s->listeners, link)
			json_array_append_new(
				arr, method("nvmf_subsystem_add_listener",
					    json_pack("{s:s,s:o}", "nqn", s->nqn, "listen_address",
						      listen_addr_json(&l->addr))));
	}
}
