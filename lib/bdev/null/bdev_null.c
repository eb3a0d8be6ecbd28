/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * null bdev: a device of any size that moves no data, for benchmarks of the
 * layers above it. Every supported I/O type succeeds. Writes are discarded;
 * reads complete WITHOUT touching the buffer, which keeps whatever it held
 * before (SPDK's null bdev behaves the same): nothing is zeroed, so a read
 * costs no memory bandwidth.
 *
 * Completions are batched per thread: submit_request only links the I/O into
 * its channel's list, and the channel's one busy poller completes the whole
 * list at once. No syscall, lock or allocation per I/O, and the user's
 * callback never runs inside the submit call.
 */
#include "sluice/bdev_module.h"
#include "sluice/log.h"
#include "sluice/rpc.h"
#include "sluice/thread.h"
#include "sluice/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

struct null_disk {
	struct sl_bdev bdev;
	TAILQ_ENTRY(null_disk) link;
};

/* Per-I/O context: the link in the channel's completion list. */
struct null_task {
	struct null_task *next;
};

struct null_channel {
	struct null_task *head;
	struct null_task **tail;
	struct sl_poller *poller;
};

static TAILQ_HEAD(, null_disk) g_null_disks = TAILQ_HEAD_INITIALIZER(g_null_disks);
static int g_null_io_device;
static bool g_null_io_device_registered;

static struct sl_bdev_module g_null_module;

/* ---- I/O path ---- */

static int null_channel_poll(void *arg)
{
	struct null_channel *nch = arg;
	struct null_task *task = nch->head, *next;

	if (!task)
		return SL_POLLER_IDLE;
	/* Detach the batch: I/O submitted from the callbacks goes to the next one. */
	nch->head = NULL;
	nch->tail = &nch->head;
	do {
		next = task->next;
		sl_bdev_io_complete(sl_bdev_io_from_ctx(task), SL_BDEV_IO_STATUS_SUCCESS);
		task = next;
	} while (task);
	return SL_POLLER_BUSY;
}

static void null_submit_request(struct sl_io_channel *ch, struct sl_bdev_io *bdev_io)
{
	struct null_channel *nch = sl_io_channel_get_ctx(ch);
	struct null_task *task = (struct null_task *)bdev_io->driver_ctx;

	/* Reads leave the buffer as it is; everything else has nothing to do. */
	task->next = NULL;
	*nch->tail = task;
	nch->tail = &task->next;
}

static bool null_io_type_supported(void *ctx, enum sl_bdev_io_type type)
{
	(void)ctx;
	switch (type) {
	case SL_BDEV_IO_TYPE_READ:
	case SL_BDEV_IO_TYPE_WRITE:
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
	case SL_BDEV_IO_TYPE_UNMAP:
	case SL_BDEV_IO_TYPE_FLUSH:
	case SL_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static struct sl_io_channel *null_get_io_channel(void *ctx)
{
	(void)ctx;
	return sl_get_io_channel(&g_null_io_device);
}

static int null_channel_create(void *io_device, void *ctx_buf)
{
	struct null_channel *nch = ctx_buf;

	(void)io_device;
	nch->head = NULL;
	nch->tail = &nch->head;
	nch->poller = sl_poller_register_named(null_channel_poll, nch, 0, "null_cpl");
	return nch->poller ? 0 : -ENOMEM;
}

static void null_channel_destroy(void *io_device, void *ctx_buf)
{
	struct null_channel *nch = ctx_buf;

	(void)io_device;
	null_channel_poll(nch); /* empty: the core releases channels with no I/O in flight */
	sl_poller_unregister(&nch->poller);
}

/* ---- bdev lifetime ---- */

static int null_destruct(void *ctx)
{
	struct null_disk *disk = ctx;

	TAILQ_REMOVE(&g_null_disks, disk, link);
	/* The core still reads the bdev after a destruct that returns 0: done first. */
	sl_bdev_destruct_done(&disk->bdev, 0);
	free(disk->bdev.name);
	free(disk);
	return 1;
}

static const struct sl_bdev_fn_table g_null_fn_table = {
	.destruct = null_destruct,
	.submit_request = null_submit_request,
	.io_type_supported = null_io_type_supported,
	.get_io_channel = null_get_io_channel,
};

struct null_create_opts {
	char *name;
	char *uuid;
	uint64_t num_blocks;
	uint32_t block_size;
	/* Accepted so that SPDK configs load; only the values meaning "none" are supported. */
	uint32_t physical_block_size;
	uint32_t md_size;
	bool md_interleave;
	int32_t dif_type;
	bool dif_is_head_of_md;
	uint32_t dif_pi_format;
	int32_t numa_id;
};

static int null_disk_create(const struct null_create_opts *opts, struct null_disk **diskp,
			    char *err, size_t errlen)
{
	struct null_disk *disk;
	struct sl_uuid uuid = { 0 };
	int rc;

	if (!*opts->name) {
		snprintf(err, errlen, "name must not be empty");
		return -EINVAL;
	}
	if (!sl_is_pow2(opts->block_size) || opts->block_size < 512) {
		snprintf(err, errlen, "block_size %" PRIu32 " is not a power of two >= 512",
			 opts->block_size);
		return -EINVAL;
	}
	if (opts->num_blocks == 0) {
		snprintf(err, errlen, "num_blocks must be greater than 0");
		return -EINVAL;
	}
	if (opts->num_blocks > UINT64_MAX / opts->block_size) {
		snprintf(err, errlen,
			 "num_blocks %" PRIu64 " x block_size %" PRIu32 " is too large",
			 opts->num_blocks, opts->block_size);
		return -EINVAL;
	}
	if (opts->physical_block_size && (!sl_is_pow2(opts->physical_block_size) ||
					  opts->physical_block_size < opts->block_size)) {
		snprintf(err, errlen,
			 "physical_block_size %" PRIu32 " is not a power of two >= block_size",
			 opts->physical_block_size);
		return -EINVAL;
	}
	if (opts->md_size || opts->dif_type || opts->dif_pi_format) {
		snprintf(err, errlen,
			 "metadata and DIF are not supported (md_size, dif_type and "
			 "dif_pi_format must be 0)");
		return -EINVAL;
	}
	if (opts->uuid && sl_uuid_parse(&uuid, opts->uuid)) {
		snprintf(err, errlen, "invalid uuid '%s'", opts->uuid);
		return -EINVAL;
	}
	if (sl_bdev_get_by_name(opts->name)) {
		snprintf(err, errlen, "bdev '%s' already exists", opts->name);
		return -EEXIST;
	}

	disk = calloc(1, sizeof(*disk));
	if (!disk || !(disk->bdev.name = strdup(opts->name))) {
		free(disk);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	disk->bdev.product_name = "Null disk";
	disk->bdev.blocklen = opts->block_size;
	disk->bdev.blockcnt = opts->num_blocks;
	disk->bdev.uuid = uuid;
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_null_fn_table;
	disk->bdev.module = &g_null_module;

	rc = sl_bdev_register(&disk->bdev);
	if (rc) {
		if (rc == -EEXIST)
			snprintf(err, errlen, "bdev '%s' already exists", disk->bdev.name);
		else
			snprintf(err, errlen, "cannot register bdev '%s': %s", disk->bdev.name,
				 strerror(-rc));
		free(disk->bdev.name);
		free(disk);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_null_disks, disk, link);
	*diskp = disk;
	return 0;
}

/* ---- module ---- */

static int null_module_init(void)
{
	sl_io_device_register(&g_null_io_device, null_channel_create, null_channel_destroy,
			      sizeof(struct null_channel), "bdev_null");
	g_null_io_device_registered = true;
	return 0;
}

static void null_module_fini(void)
{
	if (g_null_io_device_registered) {
		sl_io_device_unregister(&g_null_io_device, NULL);
		g_null_io_device_registered = false;
	}
}

static size_t null_get_ctx_size(void)
{
	return sizeof(struct null_task);
}

static void null_config_json(json_t *config)
{
	struct null_disk *disk;

	TAILQ_FOREACH(disk, &g_null_disks, link) {
		json_t *params = json_object();

		sl_bdev_config_common(&disk->bdev, params);
		json_object_set_new(params, "num_blocks",
				    json_integer((json_int_t)disk->bdev.blockcnt));
		json_object_set_new(params, "block_size", json_integer(disk->bdev.blocklen));
		json_array_append_new(config, json_pack("{s:s, s:o}", "method", "bdev_null_create",
							"params", params));
	}
}

static struct sl_bdev_module g_null_module = {
	.name = "null",
	.module_init = null_module_init,
	.module_fini = null_module_fini,
	.config_json = null_config_json,
	.get_ctx_size = null_get_ctx_size,
};
SL_BDEV_MODULE_REGISTER(g_null_module)

/* ---- RPCs ---- */

static const struct sl_json_field g_null_create_fields[] = {
	SL_JSON_FIELD(struct null_create_opts, name, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct null_create_opts, uuid, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct null_create_opts, num_blocks, SL_JSON_UINT64, false),
	SL_JSON_FIELD(struct null_create_opts, block_size, SL_JSON_UINT32, false),
	SL_JSON_FIELD(struct null_create_opts, physical_block_size, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct null_create_opts, md_size, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct null_create_opts, md_interleave, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct null_create_opts, dif_type, SL_JSON_INT32, true),
	SL_JSON_FIELD(struct null_create_opts, dif_is_head_of_md, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct null_create_opts, dif_pi_format, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct null_create_opts, numa_id, SL_JSON_INT32, true),
};

static void rpc_bdev_null_create(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct null_create_opts opts = { 0 };
	struct null_disk *disk;
	char err[256];
	int rc;

	if (sl_rpc_decode_params(req, params, g_null_create_fields,
				 SL_COUNTOF(g_null_create_fields), &opts))
		return;
	rc = null_disk_create(&opts, &disk, err, sizeof(err));
	if (rc == -EINVAL)
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: %s", err);
	else if (rc)
		sl_jsonrpc_send_error(req, rc, "%s", err);
	else
		sl_jsonrpc_send_result(req, json_string(disk->bdev.name));
	sl_json_free_decoded(g_null_create_fields, SL_COUNTOF(g_null_create_fields), &opts);
}
SL_RPC_REGISTER("bdev_null_create", rpc_bdev_null_create, SL_RPC_RUNTIME)

struct null_delete_params {
	char *name;
};

static const struct sl_json_field g_null_delete_fields[] = {
	SL_JSON_FIELD(struct null_delete_params, name, SL_JSON_STRING, false),
};

static void null_delete_done(void *arg, int rc)
{
	struct sl_jsonrpc_request *req = arg;

	if (rc)
		sl_jsonrpc_send_errno(req, rc, "cannot delete null bdev");
	else
		sl_jsonrpc_send_bool(req, true);
}

static void rpc_bdev_null_delete(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct null_delete_params p = { 0 };
	int rc;

	if (sl_rpc_decode_params(req, params, g_null_delete_fields,
				 SL_COUNTOF(g_null_delete_fields), &p))
		return;
	rc = sl_bdev_unregister_by_name(p.name, &g_null_module, null_delete_done, req);
	if (rc)
		sl_jsonrpc_send_error(req, rc, "no null bdev named '%s'", p.name);
	sl_json_free_decoded(g_null_delete_fields, SL_COUNTOF(g_null_delete_fields), &p);
}
SL_RPC_REGISTER("bdev_null_delete", rpc_bdev_null_delete, SL_RPC_RUNTIME)
