/* SPDX-License-Identifier: BSD-3-Clause */
/* bdev RPCs: bdev_get_bdevs, bdev_get_iostat, bdev_wait_for_examine. */
#include "bdev_internal.h"

#include "sluice/rpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static json_t *bdev_info(struct sl_bdev *bdev)
{
	char uuid[SL_UUID_STRING_LEN];
	json_t *aliases = json_array(), *types = json_object(), *drv = json_object();

	sl_uuid_fmt(uuid, sizeof(uuid), &bdev->uuid);
	for (size_t i = 0; i < sl_bdev_get_alias_count(bdev); i++)
		json_array_append_new(aliases, json_string(sl_bdev_get_alias(bdev, i)));
	for (int t = SL_BDEV_IO_TYPE_READ; t < SL_BDEV_NUM_IO_TYPES; t++)
		json_object_set_new(
			types, sl_bdev_io_type_name((enum sl_bdev_io_type)t),
			json_boolean(sl_bdev_io_type_supported(bdev, (enum sl_bdev_io_type)t)));
	if (bdev->fn_table->dump_info_json)
		bdev->fn_table->dump_info_json(bdev->ctxt, drv);
	return json_pack("{s:s, s:o, s:s, s:i, s:I, s:s, s:b, s:i, s:b, s:i, s:I, s:b, s:o, s:o}",
			 "name", bdev->name, "aliases", aliases, "product_name",
			 sl_bdev_get_product_name(bdev), "block_size", (int)bdev->blocklen,
			 "num_blocks", (json_int_t)bdev->blockcnt, "uuid", uuid, "claimed",
			 sl_bdev_get_claim(bdev) != NULL, "optimal_io_boundary",
			 (int)bdev->optimal_io_boundary, "write_cache", bdev->write_cache,
			 "max_rw_blocks", (int)bdev->max_rw_blocks, "required_alignment",
			 (json_int_t)sl_bdev_get_buf_align(bdev), "zoned", false,
			 "supported_io_types", types, "driver_specific", drv);
}

struct get_bdevs_params {
	char *name;
	uint32_t timeout;
};

static const struct sl_json_field g_get_bdevs_fields[] = {
	SL_JSON_FIELD(struct get_bdevs_params, name, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct get_bdevs_params, timeout, SL_JSON_UINT32, true),
};

struct get_bdevs_wait {
	struct sl_jsonrpc_request *req;
	char *name;
	uint64_t deadline;
	struct sl_poller *poller;
};

static int get_bdevs_wait_poll(void *arg)
{
	struct get_bdevs_wait *w = arg;
	struct sl_bdev *bdev = sl_bdev_get_by_name(w->name);

	if (!bdev && sl_get_ticks() < w->deadline)
		return SL_POLLER_IDLE;
	if (bdev)
		sl_jsonrpc_send_result(w->req, json_pack("[o]", bdev_info(bdev)));
	else
		sl_jsonrpc_send_error(w->req, -ENODEV, "bdev %s not found", w->name);
	sl_poller_unregister(&w->poller);
	free(w->name);
	free(w);
	return SL_POLLER_BUSY;
}

static void rpc_bdev_get_bdevs(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct get_bdevs_params p = { 0 };
	json_t *arr;

	if (sl_rpc_decode_params(req, params, g_get_bdevs_fields, SL_COUNTOF(g_get_bdevs_fields),
				 &p))
		return;
	if (p.name) {
		struct sl_bdev *bdev = sl_bdev_get_by_name(p.name);

		if (!bdev && p.timeout) {
			struct get_bdevs_wait *w = calloc(1, sizeof(*w));

			if (w) {
				w->req = req;
				w->name = p.name;
				w->deadline = sl_get_ticks() +
					      (uint64_t)p.timeout * sl_get_ticks_hz() / 1000;
				w->poller = sl_poller_register_named(get_bdevs_wait_poll, w, 10000,
								     "get_bdevs_wait");
				if (w->poller)
					return;
				free(w);
			}
		}
		if (!bdev)
			sl_jsonrpc_send_error(req, -ENODEV, "bdev %s not found", p.name);
		else
			sl_jsonrpc_send_result(req, json_pack("[o]", bdev_info(bdev)));
		free(p.name);
		return;
	}
	arr = json_array();
	for (struct sl_bdev *b = sl_bdev_first(); b; b = sl_bdev_next(b))
		json_array_append_new(arr, bdev_info(b));
	sl_jsonrpc_send_result(req, arr);
}
SL_RPC_REGISTER("bdev_get_bdevs", rpc_bdev_get_bdevs, SL_RPC_RUNTIME)

/* ---- bdev_get_iostat: aggregate each bdev's channels in turn ---- */

struct iostat_ctx {
	struct sl_jsonrpc_request *req;
	json_t *arr;
	char **names;
	size_t count;
	size_t next;
	struct sl_bdev_io_stat stat;
};

static void iostat_next(struct iostat_ctx *c);

static json_t *stat_json(const char *name, const struct sl_bdev_io_stat *s)
{
	return json_pack(
		"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
		"s:I, s:I, s:I}",
		"name", name, "bytes_read", (json_int_t)s->bytes_read, "num_read_ops",
		(json_int_t)s->num_read_ops, "bytes_written", (json_int_t)s->bytes_written,
		"num_write_ops", (json_int_t)s->num_write_ops, "bytes_unmapped",
		(json_int_t)s->bytes_unmapped, "num_unmap_ops", (json_int_t)s->num_unmap_ops,
		"num_write_zeroes_ops", (json_int_t)s->num_write_zeroes_ops, "num_flush_ops",
		(json_int_t)s->num_flush_ops, "num_other_ops", (json_int_t)s->num_other_ops,
		"read_latency_ticks", (json_int_t)s->read_latency_ticks, "write_latency_ticks",
		(json_int_t)s->write_latency_ticks, "unmap_latency_ticks",
		(json_int_t)s->unmap_latency_ticks, "max_read_latency_ticks",
		(json_int_t)s->max_read_latency_ticks, "max_write_latency_ticks",
		(json_int_t)s->max_write_latency_ticks, "io_error", (json_int_t)s->num_errors,
		"nomem_retries", (json_int_t)s->num_nomem_retries);
}

static void iostat_done(struct sl_bdev *bdev, struct sl_bdev_io_stat *stat, void *arg, int rc)
{
	struct iostat_ctx *c = arg;

	if (rc == 0)
		json_array_append_new(c->arr, stat_json(bdev->name, stat));
	iostat_next(c);
}

static void iostat_next(struct iostat_ctx *c)
{
	while (c->next < c->count) {
		/* Look the bdev up again: it may have gone since the list was taken. */
		struct sl_bdev *bdev = sl_bdev_get_by_name(c->names[c->next++]);

		if (bdev) {
			sl_bdev_get_device_stat(bdev, &c->stat, iostat_done, c);
			return;
		}
	}
	sl_jsonrpc_send_result(c->req, json_pack("{s:I, s:I, s:o}", "tick_rate",
						 (json_int_t)sl_get_ticks_hz(), "ticks",
						 (json_int_t)sl_get_ticks(), "bdevs", c->arr));
	for (size_t i = 0; i < c->count; i++)
		free(c->names[i]);
	free(c->names);
	free(c);
}

static void rpc_bdev_get_iostat(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct get_bdevs_params p = { 0 };
	struct iostat_ctx *c;
	size_t n = 0;

	if (sl_rpc_decode_params(req, params, g_get_bdevs_fields, 1, &p))
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		free(p.name);
		sl_jsonrpc_send_errno(req, -ENOMEM, NULL);
		return;
	}
	c->req = req;
	c->arr = json_array();
	if (p.name) {
		if (!sl_bdev_get_by_name(p.name)) {
			sl_jsonrpc_send_error(req, -ENODEV, "bdev %s not found", p.name);
			free(p.name);
			json_decref(c->arr);
			free(c);
			return;
		}
		c->names = calloc(1, sizeof(char *));
		c->names[0] = p.name;
		c->count = 1;
	} else {
		for (struct sl_bdev *b = sl_bdev_first(); b; b = sl_bdev_next(b))
			n++;
		c->names = calloc(n ? n : 1, sizeof(char *));
		for (struct sl_bdev *b = sl_bdev_first(); b && c->count < n; b = sl_bdev_next(b))
			c->names[c->count++] = strdup(b->name);
	}
	iostat_next(c);
}
SL_RPC_REGISTER("bdev_get_iostat", rpc_bdev_get_iostat, SL_RPC_RUNTIME)

static void examine_done_rpc(void *arg)
{
	sl_jsonrpc_send_bool(arg, true);
}

static void rpc_bdev_wait_for_examine(struct sl_jsonrpc_request *req, const json_t *params)
{
	int rc;

	if (sl_rpc_decode_params(req, params, NULL, 0, NULL))
		return;
	rc = sl_bdev_wait_for_examine(examine_done_rpc, req);
	if (rc)
		sl_jsonrpc_send_errno(req, rc, "bdev_wait_for_examine");
}
SL_RPC_REGISTER("bdev_wait_for_examine", rpc_bdev_wait_for_examine, SL_RPC_RUNTIME)
