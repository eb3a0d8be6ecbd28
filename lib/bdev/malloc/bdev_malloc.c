/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * malloc bdev: a RAM disk in DMA memory (so that NVMe-oF can later serve it
 * without a copy). I/O is a memcpy done at submission; the completion is
 * queued on the thread's malloc channel and delivered by its poller, so the
 * user's callback never runs inside the submit call and the I/O path neither
 * allocates nor locks.
 */
#include "sluice/bdev_module.h"
#include "sluice/env.h"
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

#define MALLOC_BUF_ALIGN 4096

struct malloc_disk {
	struct sl_bdev bdev;
	void *buf;
	uint64_t size;
	TAILQ_ENTRY(malloc_disk) link;
};

/* Per-I/O context (sl_bdev_io::driver_ctx). */
struct malloc_task {
	struct malloc_task *next;
	enum sl_bdev_io_status status;
};

/* Per-thread channel shared by every malloc disk: the completions to deliver. */
struct malloc_channel {
	struct malloc_task *head;
	struct malloc_task **tail;
	struct sl_poller *poller;
};

static TAILQ_HEAD(, malloc_disk) g_malloc_disks = TAILQ_HEAD_INITIALIZER(g_malloc_disks);
static int g_malloc_io_device; /* address used as the module's io_device */
static bool g_malloc_io_device_registered;
static uint32_t g_malloc_next_index;

static struct sl_bdev_module g_malloc_module;

/* ---- I/O path ---- */

static int malloc_channel_poll(void *arg)
{
	struct malloc_channel *mch = arg;
	struct malloc_task *task = mch->head, *next;

	if (!task)
		return SL_POLLER_IDLE;
	/* Detach the batch first: callbacks may submit more, which go to the next batch. */
	mch->head = NULL;
	mch->tail = &mch->head;
	for (; task; task = next) {
		next = task->next;
		sl_bdev_io_complete(sl_bdev_io_from_ctx(task), task->status);
	}
	return SL_POLLER_BUSY;
}

static void malloc_complete_later(struct sl_io_channel *ch, struct malloc_task *task,
				  enum sl_bdev_io_status status)
{
	struct malloc_channel *mch = sl_io_channel_get_ctx(ch);

	task->status = status;
	task->next = NULL;
	*mch->tail = task;
	mch->tail = &task->next;
}

static enum sl_bdev_io_status malloc_do_rw(struct malloc_disk *disk, struct sl_bdev_io *bdev_io)
{
	uint64_t off = bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t len = bdev_io->u.bdev.num_blocks * disk->bdev.blocklen;
	size_t done;

	if (bdev_io->u.bdev.offset_blocks + bdev_io->u.bdev.num_blocks > disk->bdev.blockcnt ||
	    bdev_io->u.bdev.offset_blocks + bdev_io->u.bdev.num_blocks <
		    bdev_io->u.bdev.offset_blocks)
		return SL_BDEV_IO_STATUS_FAILED;
	if (bdev_io->type == SL_BDEV_IO_TYPE_READ)
		done = sl_iov_from_buf(bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
				       (char *)disk->buf + off, len);
	else
		done = sl_iov_to_buf(bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
				     (char *)disk->buf + off, len);
	return done == len ? SL_BDEV_IO_STATUS_SUCCESS : SL_BDEV_IO_STATUS_FAILED;
}

static enum sl_bdev_io_status malloc_do_zero(struct malloc_disk *disk, struct sl_bdev_io *bdev_io)
{
	uint64_t first = bdev_io->u.bdev.offset_blocks, n = bdev_io->u.bdev.num_blocks;

	if (first + n > disk->bdev.blockcnt || first + n < first)
		return SL_BDEV_IO_STATUS_FAILED;
	memset((char *)disk->buf + first * disk->bdev.blocklen, 0, n * disk->bdev.blocklen);
	return SL_BDEV_IO_STATUS_SUCCESS;
}

static void malloc_submit_request(struct sl_io_channel *ch, struct sl_bdev_io *bdev_io)
{
	struct malloc_disk *disk = bdev_io->bdev->ctxt;
	struct malloc_task *task = (struct malloc_task *)bdev_io->driver_ctx;
	enum sl_bdev_io_status status;

	switch (bdev_io->type) {
	case SL_BDEV_IO_TYPE_READ:
	case SL_BDEV_IO_TYPE_WRITE:
		status = malloc_do_rw(disk, bdev_io);
		break;
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
	case SL_BDEV_IO_TYPE_UNMAP:
		/* Unmapped blocks read back as zeroes, as write_zeroes leaves them. */
		status = malloc_do_zero(disk, bdev_io);
		break;
	case SL_BDEV_IO_TYPE_FLUSH: /* RAM has no volatile cache to flush */
	case SL_BDEV_IO_TYPE_RESET: /* nothing in flight: every I/O finished at submission */
		status = SL_BDEV_IO_STATUS_SUCCESS;
		break;
	default:
		status = SL_BDEV_IO_STATUS_FAILED;
		break;
	}
	malloc_complete_later(ch, task, status);
}

static bool malloc_io_type_supported(void *ctx, enum sl_bdev_io_type type)
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

static struct sl_io_channel *malloc_get_io_channel(void *ctx)
{
	(void)ctx;
	return sl_get_io_channel(&g_malloc_io_device);
}

static int malloc_channel_create(void *io_device, void *ctx_buf)
{
	struct malloc_channel *mch = ctx_buf;

	(void)io_device;
	mch->head = NULL;
	mch->tail = &mch->head;
	mch->poller = sl_poller_register_named(malloc_channel_poll, mch, 0, "malloc_cpl");
	return mch->poller ? 0 : -ENOMEM;
}

static void malloc_channel_destroy(void *io_device, void *ctx_buf)
{
	struct malloc_channel *mch = ctx_buf;

	(void)io_device;
	/* The core releases a channel only once its I/O completed: nothing is queued. */
	malloc_channel_poll(mch);
	sl_poller_unregister(&mch->poller);
}

/* ---- bdev lifetime ---- */

static void malloc_disk_free(struct malloc_disk *disk)
{
	sl_dma_free(disk->buf);
	free(disk->bdev.name);
	free(disk);
}

static int malloc_destruct(void *ctx)
{
	struct malloc_disk *disk = ctx;

	TAILQ_REMOVE(&g_malloc_disks, disk, link);
	/*
	 * The core still reads the bdev after a destruct that returns 0, so
	 * report done first and free after (returning 1 = done via destruct_done).
	 */
	sl_bdev_destruct_done(&disk->bdev, 0);
	malloc_disk_free(disk);
	return 1;
}

static void malloc_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct malloc_disk *disk = ctx;

	json_object_set_new(driver_specific, "malloc",
			    json_pack("{s:I}", "size_bytes", (json_int_t)disk->size));
}

static const struct sl_bdev_fn_table g_malloc_fn_table = {
	.destruct = malloc_destruct,
	.submit_request = malloc_submit_request,
	.io_type_supported = malloc_io_type_supported,
	.get_io_channel = malloc_get_io_channel,
	.dump_info_json = malloc_dump_info_json,
};

struct malloc_create_opts {
	char *name;
	char *uuid;
	uint64_t num_blocks;
	uint32_t block_size;
	uint32_t optimal_io_boundary;
	/* Accepted so that SPDK configs load; only the values meaning "none" are supported. */
	uint32_t physical_block_size;
	uint32_t md_size;
	bool md_interleave;
	int32_t dif_type;
	bool dif_is_head_of_md;
	uint32_t dif_pi_format;
	int32_t numa_id;
};

/* "MallocN" with the next N whose name is free; *index is N. */
static char *malloc_default_name(uint32_t *index)
{
	char name[32];
	uint32_t n = g_malloc_next_index;

	do {
		snprintf(name, sizeof(name), "Malloc%" PRIu32, n++);
	} while (sl_bdev_get_by_name(name));
	*index = n - 1;
	return strdup(name);
}

/*
 * Create and register a malloc bdev. On failure returns a negative errno and
 * writes the reason for the RPC client to err.
 */
static int malloc_disk_create(const struct malloc_create_opts *opts, struct malloc_disk **diskp,
			      char *err, size_t errlen)
{
	struct malloc_disk *disk;
	struct sl_uuid uuid = { 0 };
	uint32_t index = UINT32_MAX;
	int rc;

	if (!sl_is_pow2(opts->block_size) || opts->block_size < 512) {
		snprintf(err, errlen, "block_size %" PRIu32 " is not a power of two >= 512",
			 opts->block_size);
		return -EINVAL;
	}
	if (opts->num_blocks == 0) {
		snprintf(err, errlen, "num_blocks must be greater than 0");
		return -EINVAL;
	}
	if (opts->num_blocks > SIZE_MAX / opts->block_size) {
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
	if (opts->name && !*opts->name) {
		snprintf(err, errlen, "name must not be empty");
		return -EINVAL;
	}
	if (opts->name && sl_bdev_get_by_name(opts->name)) {
		snprintf(err, errlen, "bdev '%s' already exists", opts->name);
		return -EEXIST;
	}

	disk = calloc(1, sizeof(*disk));
	if (!disk)
		goto out_nomem;
	disk->bdev.name = opts->name ? strdup(opts->name) : malloc_default_name(&index);
	if (!disk->bdev.name)
		goto out_free_disk;
	disk->size = opts->num_blocks * opts->block_size;
	disk->buf = sl_dma_zmalloc(disk->size, MALLOC_BUF_ALIGN, NULL);
	if (!disk->buf) {
		SL_ERRLOG("malloc bdev %s: cannot allocate %" PRIu64 " bytes of DMA memory",
			  disk->bdev.name, disk->size);
		snprintf(err, errlen,
			 "cannot allocate %" PRIu64 " MiB of DMA memory for malloc bdev %s: start "
			 "sluice_tgt with more memory (-s) or reserve more hugepages "
			 "(scripts/setup.sh)",
			 sl_divide_round_up(disk->size, 1024 * 1024), disk->bdev.name);
		free(disk->bdev.name);
		free(disk);
		return -ENOMEM;
	}
	disk->bdev.product_name = "Malloc disk";
	disk->bdev.blocklen = opts->block_size;
	disk->bdev.blockcnt = opts->num_blocks;
	disk->bdev.write_cache = false;
	disk->bdev.optimal_io_boundary = opts->optimal_io_boundary;
	disk->bdev.split_on_optimal_io_boundary = opts->optimal_io_boundary != 0;
	disk->bdev.uuid = uuid;
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_malloc_fn_table;
	disk->bdev.module = &g_malloc_module;

	rc = sl_bdev_register(&disk->bdev);
	if (rc) {
		if (rc == -EEXIST)
			snprintf(err, errlen, "bdev '%s' already exists", disk->bdev.name);
		else
			snprintf(err, errlen, "cannot register bdev '%s': %s", disk->bdev.name,
				 strerror(-rc));
		malloc_disk_free(disk);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_malloc_disks, disk, link);
	if (index != UINT32_MAX)
		g_malloc_next_index = index + 1; /* a failed create does not use up a name */
	*diskp = disk;
	return 0;

out_free_disk:
	free(disk);
out_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* ---- module ---- */

static int malloc_module_init(void)
{
	sl_io_device_register(&g_malloc_io_device, malloc_channel_create, malloc_channel_destroy,
			      sizeof(struct malloc_channel), "bdev_malloc");
	g_malloc_io_device_registered = true;
	return 0;
}

static void malloc_module_fini(void)
{
	if (g_malloc_io_device_registered) {
		sl_io_device_unregister(&g_malloc_io_device, NULL);
		g_malloc_io_device_registered = false;
	}
}

static size_t malloc_get_ctx_size(void)
{
	return sizeof(struct malloc_task);
}

static void malloc_config_json(json_t *config)
{
	struct malloc_disk *disk;

	TAILQ_FOREACH(disk, &g_malloc_disks, link) {
		json_t *params = json_object();

		sl_bdev_config_common(&disk->bdev, params);
		json_object_set_new(params, "num_blocks",
				    json_integer((json_int_t)disk->bdev.blockcnt));
		json_object_set_new(params, "block_size", json_integer(disk->bdev.blocklen));
		json_object_set_new(params, "optimal_io_boundary",
				    json_integer(disk->bdev.optimal_io_boundary));
		json_array_append_new(config, json_pack("{s:s, s:o}", "method",
							"bdev_malloc_create", "params", params));
	}
}

static struct sl_bdev_module g_malloc_module = {
	.name = "malloc",
	.module_init = malloc_module_init,
	.module_fini = malloc_module_fini,
	.config_json = malloc_config_json,
	.get_ctx_size = malloc_get_ctx_size,
};
SL_BDEV_MODULE_REGISTER(g_malloc_module)

/* ---- RPCs ---- */

static const struct sl_json_field g_malloc_create_fields[] = {
	SL_JSON_FIELD(struct malloc_create_opts, name, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct malloc_create_opts, uuid, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct malloc_create_opts, num_blocks, SL_JSON_UINT64, false),
	SL_JSON_FIELD(struct malloc_create_opts, block_size, SL_JSON_UINT32, false),
	SL_JSON_FIELD(struct malloc_create_opts, optimal_io_boundary, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct malloc_create_opts, physical_block_size, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct malloc_create_opts, md_size, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct malloc_create_opts, md_interleave, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct malloc_create_opts, dif_type, SL_JSON_INT32, true),
	SL_JSON_FIELD(struct malloc_create_opts, dif_is_head_of_md, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct malloc_create_opts, dif_pi_format, SL_JSON_UINT32, true),
	SL_JSON_FIELD(struct malloc_create_opts, numa_id, SL_JSON_INT32, true),
};

static void rpc_bdev_malloc_create(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct malloc_create_opts opts = { 0 };
	struct malloc_disk *disk;
	char err[256];
	int rc;

	if (sl_rpc_decode_params(req, params, g_malloc_create_fields,
				 SL_COUNTOF(g_malloc_create_fields), &opts))
		return;
	rc = malloc_disk_create(&opts, &disk, err, sizeof(err));
	if (rc == -EINVAL)
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: %s", err);
	else if (rc)
		sl_jsonrpc_send_error(req, rc, "%s", err);
	else
		sl_jsonrpc_send_result(req, json_string(disk->bdev.name));
	sl_json_free_decoded(g_malloc_create_fields, SL_COUNTOF(g_malloc_create_fields), &opts);
}
SL_RPC_REGISTER("bdev_malloc_create", rpc_bdev_malloc_create, SL_RPC_RUNTIME)

struct malloc_delete_params {
	char *name;
};

static const struct sl_json_field g_malloc_delete_fields[] = {
	SL_JSON_FIELD(struct malloc_delete_params, name, SL_JSON_STRING, false),
};

static void malloc_delete_done(void *arg, int rc)
{
	struct sl_jsonrpc_request *req = arg;

	if (rc)
		sl_jsonrpc_send_errno(req, rc, "cannot delete malloc bdev");
	else
		sl_jsonrpc_send_bool(req, true);
}

static void rpc_bdev_malloc_delete(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct malloc_delete_params p = { 0 };
	int rc;

	if (sl_rpc_decode_params(req, params, g_malloc_delete_fields,
				 SL_COUNTOF(g_malloc_delete_fields), &p))
		return;
	/* Answered by malloc_delete_done once every user closed and destruct ran. */
	rc = sl_bdev_unregister_by_name(p.name, &g_malloc_module, malloc_delete_done, req);
	if (rc)
		sl_jsonrpc_send_error(req, rc, "no malloc bdev named '%s'", p.name);
	sl_json_free_decoded(g_malloc_delete_fields, SL_COUNTOF(g_malloc_delete_fields), &p);
}
SL_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, SL_RPC_RUNTIME)
