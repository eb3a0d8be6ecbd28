/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * error bdev: EE_<base> stacks on a base bdev (opened for writing and claimed)
 * and forwards every I/O to it through its own per-thread channel, except
 * the I/Os that bdev_error_inject_error chose to fail:
 *
 *   failure  the next N I/Os of the type complete FAILED without reaching
 *            the base;
 *   pending  the next N I/Os of the type are held and never reach the base;
 *            they complete FAILED at the next reset of EE_<base>, at
 *            io_type "clear", or when EE_<base> goes away (timeout tests);
 *   nomem    the next N I/Os of the type complete NOMEM, which the bdev core
 *            retries (the user sees a success; num_nomem_retries counts them).
 *
 * "Exactly N" holds across threads: the budget of each I/O type is an atomic
 * counter on the error disk, taken with a compare-and-swap. io_type "all"
 * gives every type its own budget of N; "clear" zeroes every budget.
 *
 * bdev_error_create fails when the base does not exist, except while the
 * start-up config loads: then, as SPDK does, the request is remembered and
 * EE_<base> appears when the base registers (examine), so a saved config
 * loads whatever order its modules were written in. When the base is
 * hot-removed, EE_<base> unregisters itself.
 */
#include "sluice/bdev_module.h"
#include "sluice/event.h"
#include "sluice/log.h"
#include "sluice/rpc.h"
#include "sluice/thread.h"
#include "sluice/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define ERROR_BDEV_PREFIX "EE_"

enum error_inject_type {
	ERROR_TYPE_NONE = 0,
	ERROR_TYPE_FAILURE,
	ERROR_TYPE_PENDING,
	ERROR_TYPE_NOMEM,
};

static const char *const g_error_type_names[] = {
	[ERROR_TYPE_FAILURE] = "failure",
	[ERROR_TYPE_PENDING] = "pending",
	[ERROR_TYPE_NOMEM] = "nomem",
};

struct error_inject {
	_Atomic uint32_t type;	    /* enum error_inject_type */
	_Atomic uint64_t remaining; /* I/Os still to hit */
};

struct error_disk {
	struct sl_bdev bdev;
	struct sl_bdev *base;
	struct sl_bdev_desc *base_desc;
	struct sl_thread *base_thread; /* opened base_desc and self_desc: closes them too */
	/* Our own bdev, opened read-only only to hear that it is being unregistered. */
	struct sl_bdev_desc *self_desc;
	struct error_inject inject[SL_BDEV_NUM_IO_TYPES];
	/* Set once the disk is being unregistered: "pending" then fails at once. */
	atomic_bool removing;
	bool claimed;
	TAILQ_ENTRY(error_disk) link;
};

/* bdev_error_create requests waiting for their base (start-up config only). */
struct error_config {
	char *base_name;
	struct sl_uuid uuid;
	TAILQ_ENTRY(error_config) link;
};

/* Per-I/O context. */
struct error_io {
	struct error_io *next; /* in the channel's pending list */
};

struct error_channel {
	struct sl_io_channel *base_ch;
	struct error_io *pending_head;
	struct error_io **pending_tail;
};

static TAILQ_HEAD(, error_disk) g_error_disks = TAILQ_HEAD_INITIALIZER(g_error_disks);
static TAILQ_HEAD(, error_config) g_error_configs = TAILQ_HEAD_INITIALIZER(g_error_configs);

static struct sl_bdev_module g_error_module;

/* ---- injection ---- */

/* Take one I/O from the type's budget; returns what to do with the I/O. */
static enum error_inject_type error_take(struct error_disk *disk, enum sl_bdev_io_type type)
{
	struct error_inject *inj = &disk->inject[type];
	uint64_t n = atomic_load_explicit(&inj->remaining, memory_order_acquire);

	while (n) {
		if (atomic_compare_exchange_weak_explicit(
			    &inj->remaining, &n, n - 1, memory_order_acq_rel, memory_order_acquire))
			return (enum error_inject_type)atomic_load_explicit(&inj->type,
									    memory_order_relaxed);
	}
	return ERROR_TYPE_NONE;
}

static void error_set(struct error_disk *disk, enum sl_bdev_io_type type,
		      enum error_inject_type etype, uint64_t num)
{
	struct error_inject *inj = &disk->inject[type];

	/* Budget to zero first, so no I/O pairs the new type with an old count. */
	atomic_store_explicit(&inj->remaining, 0, memory_order_release);
	atomic_store_explicit(&inj->type, etype, memory_order_relaxed);
	atomic_store_explicit(&inj->remaining, num, memory_order_release);
}

/* ---- I/O path ---- */

static void error_pending_add(struct error_channel *ech, struct sl_bdev_io *bdev_io)
{
	struct error_io *eio = (struct error_io *)bdev_io->driver_ctx;

	eio->next = NULL;
	*ech->pending_tail = eio;
	ech->pending_tail = &eio->next;
}

static void error_pending_fail_all(struct error_channel *ech)
{
	struct error_io *eio = ech->pending_head, *next;

	ech->pending_head = NULL;
	ech->pending_tail = &ech->pending_head;
	for (; eio; eio = next) {
		next = eio->next;
		sl_bdev_io_complete(sl_bdev_io_from_ctx(eio), SL_BDEV_IO_STATUS_FAILED);
	}
}

static void error_base_done(struct sl_bdev_io *base_io, bool success, void *cb_arg)
{
	struct sl_bdev_io *bdev_io = cb_arg;
	uint32_t cdw0;
	int sct, sc;

	if (success) {
		sl_bdev_free_io(base_io);
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	/* Pass the base's NVMe status up (compare failures, media errors...). */
	sl_bdev_io_get_nvme_status(base_io, &cdw0, &sct, &sc);
	sl_bdev_free_io(base_io);
	if (sct == 0 && sc == 0)
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_FAILED);
	else
		sl_bdev_io_complete_nvme_status(bdev_io, cdw0, sct, sc);
}

static int error_forward(struct error_disk *disk, struct error_channel *ech,
			 struct sl_bdev_io *bdev_io)
{
	struct sl_bdev_desc *d = disk->base_desc;
	struct sl_io_channel *bch = ech->base_ch;
	uint64_t off = bdev_io->u.bdev.offset_blocks, num = bdev_io->u.bdev.num_blocks;

	switch (bdev_io->type) {
	case SL_BDEV_IO_TYPE_READ:
		return sl_bdev_readv_blocks(d, bch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
					    off, num, error_base_done, bdev_io);
	case SL_BDEV_IO_TYPE_WRITE:
		return sl_bdev_writev_blocks(d, bch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
					     off, num, error_base_done, bdev_io);
	case SL_BDEV_IO_TYPE_COMPARE:
		return sl_bdev_comparev_blocks(d, bch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
					       off, num, error_base_done, bdev_io);
	case SL_BDEV_IO_TYPE_UNMAP:
		return sl_bdev_unmap_blocks(d, bch, off, num, error_base_done, bdev_io);
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
		return sl_bdev_write_zeroes_blocks(d, bch, off, num, error_base_done, bdev_io);
	case SL_BDEV_IO_TYPE_FLUSH:
		return sl_bdev_flush_blocks(d, bch, off, num, error_base_done, bdev_io);
	case SL_BDEV_IO_TYPE_RESET:
		return sl_bdev_reset(d, bch, error_base_done, bdev_io);
	case SL_BDEV_IO_TYPE_NVME_ADMIN:
		return sl_bdev_nvme_admin_passthru(
			d, bch, &bdev_io->u.nvme_passthru.cmd, bdev_io->u.nvme_passthru.buf,
			bdev_io->u.nvme_passthru.nbytes, error_base_done, bdev_io);
	case SL_BDEV_IO_TYPE_NVME_IO:
		return sl_bdev_nvme_io_passthru(
			d, bch, &bdev_io->u.nvme_passthru.cmd, bdev_io->u.nvme_passthru.buf,
			bdev_io->u.nvme_passthru.nbytes, error_base_done, bdev_io);
	default:
		return -ENOTSUP;
	}
}

static void error_forward_or_fail(struct error_disk *disk, struct error_channel *ech,
				  struct sl_bdev_io *bdev_io)
{
	int rc = error_forward(disk, ech, bdev_io);

	if (rc == 0)
		return;
	if (rc == -ENOMEM) {
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_NOMEM); /* the core retries */
		return;
	}
	if (bdev_io->type == SL_BDEV_IO_TYPE_RESET && rc == -ENOTSUP) {
		/* A base without reset: failing the held I/Os was all there was to do. */
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_FAILED);
}

/* Reset: fail the held I/Os of every channel, then reset the base. */
static void error_reset_channel(struct sl_io_channel_iter *i)
{
	error_pending_fail_all(sl_io_channel_get_ctx(sl_io_channel_iter_get_channel(i)));
	sl_for_each_channel_continue(i, 0);
}

static void error_reset_channels_done(struct sl_io_channel_iter *i, int status)
{
	struct sl_bdev_io *bdev_io = sl_io_channel_iter_get_ctx(i);
	struct error_disk *disk = bdev_io->bdev->ctxt;

	(void)status;
	error_forward_or_fail(disk, sl_io_channel_get_ctx(sl_bdev_io_get_io_channel(bdev_io)),
			      bdev_io);
}

static void error_submit_request(struct sl_io_channel *ch, struct sl_bdev_io *bdev_io)
{
	struct error_disk *disk = bdev_io->bdev->ctxt;
	struct error_channel *ech = sl_io_channel_get_ctx(ch);

	/* The core defers a completion made inside submit_request: completing here is fine. */
	switch (error_take(disk, bdev_io->type)) {
	case ERROR_TYPE_NONE:
		break;
	case ERROR_TYPE_FAILURE:
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_FAILED);
		return;
	case ERROR_TYPE_NOMEM:
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_NOMEM);
		return;
	case ERROR_TYPE_PENDING:
		/* A reset is never held (it is what releases held I/O). */
		if (bdev_io->type == SL_BDEV_IO_TYPE_RESET ||
		    atomic_load_explicit(&disk->removing, memory_order_relaxed)) {
			sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_FAILED);
			return;
		}
		error_pending_add(ech, bdev_io);
		return;
	}
	if (bdev_io->type == SL_BDEV_IO_TYPE_RESET) {
		sl_for_each_channel(disk, error_reset_channel, bdev_io, error_reset_channels_done);
		return;
	}
	error_forward_or_fail(disk, ech, bdev_io);
}

static bool error_io_type_supported(void *ctx, enum sl_bdev_io_type type)
{
	struct error_disk *disk = ctx;
	struct sl_bdev *base = disk->base;

	switch (type) {
	case SL_BDEV_IO_TYPE_FLUSH: /* forwarded; the base's core emulates it if need be */
	case SL_BDEV_IO_TYPE_RESET: /* releases held I/O even when the base has no reset */
		return true;
	case SL_BDEV_IO_TYPE_COMPARE:
		/* Only a native compare: otherwise the core emulates it over our reads. */
		return base->fn_table->io_type_supported(base->ctxt, type);
	default:
		return sl_bdev_io_type_supported(base, type);
	}
}

static struct sl_io_channel *error_get_io_channel(void *ctx)
{
	return sl_get_io_channel(ctx);
}

static int error_channel_create(void *io_device, void *ctx_buf)
{
	struct error_disk *disk = io_device;
	struct error_channel *ech = ctx_buf;

	ech->pending_head = NULL;
	ech->pending_tail = &ech->pending_head;
	ech->base_ch = sl_bdev_get_io_channel(disk->base_desc);
	if (!ech->base_ch) {
		SL_ERRLOG("bdev %s: cannot get a channel of base bdev %s", disk->bdev.name,
			  disk->base->name);
		return -ENOMEM;
	}
	return 0;
}

static void error_channel_destroy(void *io_device, void *ctx_buf)
{
	struct error_channel *ech = ctx_buf;

	(void)io_device;
	error_pending_fail_all(ech); /* empty: the core releases channels with no I/O in flight */
	sl_put_io_channel(ech->base_ch);
}

/* ---- bdev lifetime ---- */

static void error_close_base_msg(void *arg)
{
	struct error_disk *disk = arg;

	if (disk->base_desc)
		sl_bdev_close(disk->base_desc);
	free(disk->bdev.name);
	free(disk);
}

/* Every channel is gone (so every base channel was put): release the base. */
static void error_io_device_unregistered(void *io_device)
{
	struct error_disk *disk = io_device;
	struct sl_bdev *bdev = &disk->bdev;
	bool registered = bdev->internal != NULL;

	if (disk->claimed)
		sl_bdev_module_release_bdev(disk->base);
	if (disk->base_thread == sl_get_thread()) {
		/* Close before reporting done: the base may be unregistered right after. */
		sl_bdev_close(disk->base_desc);
		disk->base_desc = NULL;
	}
	if (registered)
		sl_bdev_destruct_done(bdev, 0);
	if (!disk->base_desc || sl_thread_send_msg(disk->base_thread, error_close_base_msg, disk))
		error_close_base_msg(disk);
}

static int error_destruct(void *ctx)
{
	struct error_disk *disk = ctx;

	TAILQ_REMOVE(&g_error_disks, disk, link);
	sl_io_device_unregister(disk, error_io_device_unregistered);
	return 1; /* finished by error_io_device_unregistered */
}

static void error_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct error_disk *disk = ctx;
	json_t *inj = json_object();

	for (int t = SL_BDEV_IO_TYPE_READ; t < SL_BDEV_NUM_IO_TYPES; t++) {
		uint64_t n = atomic_load(&disk->inject[t].remaining);
		uint32_t et = atomic_load(&disk->inject[t].type);

		if (n && et < SL_COUNTOF(g_error_type_names) && g_error_type_names[et])
			json_object_set_new(inj, sl_bdev_io_type_name(t),
					    json_pack("{s:s, s:I}", "error_type",
						      g_error_type_names[et], "remaining",
						      (json_int_t)n));
	}
	json_object_set_new(
		driver_specific, "error",
		json_pack("{s:s, s:o}", "base_bdev", disk->base->name, "injections", inj));
}

static const struct sl_bdev_fn_table g_error_fn_table = {
	.destruct = error_destruct,
	.submit_request = error_submit_request,
	.io_type_supported = error_io_type_supported,
	.get_io_channel = error_get_io_channel,
	.dump_info_json = error_dump_info_json,
};

static void error_fail_pending_channel(struct sl_io_channel_iter *i)
{
	error_pending_fail_all(sl_io_channel_get_ctx(sl_io_channel_iter_get_channel(i)));
	sl_for_each_channel_continue(i, 0);
}

static void error_self_close(struct sl_io_channel_iter *i, int status)
{
	struct error_disk *disk = sl_io_channel_iter_get_io_device(i);

	(void)status;
	sl_bdev_close(disk->self_desc);
	disk->self_desc = NULL;
}

/*
 * EE_ is being unregistered, whoever asked (bdev_error_delete, the base going
 * away, shutdown): its users now wait for their I/O before they close, so
 * held I/O must fail now or the unregister would never finish.
 */
static void error_self_event(enum sl_bdev_event_type type, struct sl_bdev *bdev, void *ctx)
{
	struct error_disk *disk = ctx;

	(void)bdev;
	if (type != SL_BDEV_EVENT_REMOVE)
		return;
	atomic_store(&disk->removing, true);
	sl_for_each_channel(disk, error_fail_pending_channel, NULL, error_self_close);
}

static void error_base_event(enum sl_bdev_event_type type, struct sl_bdev *base, void *ctx)
{
	struct error_disk *disk = ctx;

	if (type != SL_BDEV_EVENT_REMOVE)
		return; /* a resize of the base does not resize EE_: its users keep their view */
	if (atomic_load(&disk->removing))
		return; /* EE_ is already going away */
	SL_NOTICELOG("base bdev %s is going away: removing %s", base->name, disk->bdev.name);
	sl_bdev_unregister(&disk->bdev, NULL, NULL); /* -EBUSY when already going: fine */
}

static struct error_disk *error_disk_find(const char *name)
{
	struct error_disk *disk;

	TAILQ_FOREACH(disk, &g_error_disks, link)
		if (!strcmp(disk->bdev.name, name))
			return disk;
	return NULL;
}

static struct error_config *error_config_find(const char *base_name)
{
	struct error_config *cfg;

	TAILQ_FOREACH(cfg, &g_error_configs, link)
		if (!strcmp(cfg->base_name, base_name))
			return cfg;
	return NULL;
}

static void error_config_free(struct error_config *cfg)
{
	TAILQ_REMOVE(&g_error_configs, cfg, link);
	free(cfg->base_name);
	free(cfg);
}

/* Open, claim and stack on base_name. On failure writes the reason to err. */
static int error_disk_create(const char *base_name, const struct sl_uuid *uuid, char *err,
			     size_t errlen)
{
	struct error_disk *disk;
	struct sl_bdev *base;
	int rc;

	disk = calloc(1, sizeof(*disk));
	if (!disk || asprintf(&disk->bdev.name, ERROR_BDEV_PREFIX "%s", base_name) < 0) {
		free(disk);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (sl_bdev_get_by_name(disk->bdev.name)) {
		snprintf(err, errlen, "bdev '%s' already exists", disk->bdev.name);
		rc = -EEXIST;
		goto out_free_disk;
	}
	rc = sl_bdev_open_ext(base_name, true, error_base_event, disk, &disk->base_desc);
	if (rc) {
		if (rc == -ENODEV)
			snprintf(err, errlen, "base bdev '%s' does not exist", base_name);
		else if (rc == -EPERM)
			snprintf(err, errlen, "base bdev '%s' is already claimed by another module",
				 base_name);
		else
			snprintf(err, errlen, "cannot open base bdev '%s': %s", base_name,
				 strerror(-rc));
		goto out_free_disk;
	}
	disk->base_thread = sl_get_thread();
	base = disk->base = sl_bdev_desc_get_bdev(disk->base_desc);
	rc = sl_bdev_module_claim_bdev(base, &g_error_module);
	if (rc) {
		snprintf(err, errlen, "base bdev '%s' is already claimed by module %s", base_name,
			 sl_bdev_get_claim(base) ? sl_bdev_get_claim(base)->name : "?");
		goto out_close;
	}
	disk->claimed = true;

	disk->bdev.product_name = "Error Injection Disk";
	disk->bdev.blocklen = base->blocklen;
	disk->bdev.blockcnt = base->blockcnt;
	disk->bdev.write_cache = base->write_cache;
	disk->bdev.optimal_io_boundary = base->optimal_io_boundary;
	disk->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	disk->bdev.max_rw_blocks = base->max_rw_blocks;
	disk->bdev.required_alignment = sl_bdev_get_buf_align(base);
	if (uuid)
		disk->bdev.uuid = *uuid;
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_error_fn_table;
	disk->bdev.module = &g_error_module;

	sl_io_device_register(disk, error_channel_create, error_channel_destroy,
			      sizeof(struct error_channel), disk->bdev.name);
	TAILQ_INSERT_TAIL(&g_error_disks, disk, link);
	rc = sl_bdev_register(&disk->bdev);
	if (rc) {
		snprintf(err, errlen, "cannot register bdev '%s': %s", disk->bdev.name,
			 strerror(-rc));
		TAILQ_REMOVE(&g_error_disks, disk, link);
		disk->bdev.internal = NULL;
		/* No channel exists yet: this releases the claim and closes the base at once. */
		sl_io_device_unregister(disk, error_io_device_unregistered);
		return rc;
	}
	rc = sl_bdev_open_ext(disk->bdev.name, false, error_self_event, disk, &disk->self_desc);
	if (rc) {
		/* Only held I/O needs it: go on, with "pending" failing at once instead. */
		SL_ERRLOG("bdev %s: cannot open itself (%s): 'pending' injections fail at once",
			  disk->bdev.name, strerror(-rc));
		atomic_store(&disk->removing, true);
	}
	SL_INFOLOG("error bdev %s created on %s", disk->bdev.name, base_name);
	return 0;

out_close:
	sl_bdev_close(disk->base_desc);
out_free_disk:
	free(disk->bdev.name);
	free(disk);
	return rc;
}

/* ---- module ---- */

static void error_examine(struct sl_bdev *bdev)
{
	struct error_config *cfg = error_config_find(bdev->name);
	char err[256];

	if (cfg) {
		struct sl_uuid uuid = cfg->uuid;

		error_config_free(cfg);
		if (error_disk_create(bdev->name, sl_uuid_is_null(&uuid) ? NULL : &uuid, err,
				      sizeof(err)))
			SL_ERRLOG("bdev_error_create %s: %s", bdev->name, err);
	}
	sl_bdev_module_examine_done(&g_error_module);
}

static void error_module_fini(void)
{
	struct error_config *cfg;

	while ((cfg = TAILQ_FIRST(&g_error_configs)))
		error_config_free(cfg);
}

static size_t error_get_ctx_size(void)
{
	return sizeof(struct error_io);
}

static void error_config_entry(json_t *config, const char *base_name, const struct sl_uuid *uuid)
{
	json_t *params = json_pack("{s:s}", "base_name", base_name);

	if (!sl_uuid_is_null(uuid)) {
		char s[SL_UUID_STRING_LEN];

		sl_uuid_fmt(s, sizeof(s), uuid);
		json_object_set_new(params, "uuid", json_string(s));
	}
	json_array_append_new(
		config, json_pack("{s:s, s:o}", "method", "bdev_error_create", "params", params));
}

static void error_config_json(json_t *config)
{
	struct error_disk *disk;
	struct error_config *cfg;

	TAILQ_FOREACH(disk, &g_error_disks, link)
		error_config_entry(config, disk->base->name, &disk->bdev.uuid);
	TAILQ_FOREACH(cfg, &g_error_configs, link)
		error_config_entry(config, cfg->base_name, &cfg->uuid);
}

static struct sl_bdev_module g_error_module = {
	.name = "error",
	.stacked = true,
	.module_fini = error_module_fini,
	.config_json = error_config_json,
	.get_ctx_size = error_get_ctx_size,
	.examine = error_examine,
};
SL_BDEV_MODULE_REGISTER(g_error_module)

/* ---- RPCs ---- */

struct error_create_params {
	char *base_name;
	char *uuid;
};

static const struct sl_json_field g_error_create_fields[] = {
	SL_JSON_FIELD(struct error_create_params, base_name, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct error_create_params, uuid, SL_JSON_STRING, true),
};

static void rpc_bdev_error_create(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct error_create_params p = { 0 };
	struct sl_uuid uuid = { 0 };
	struct error_config *cfg;
	char err[256];
	int rc;

	if (sl_rpc_decode_params(req, params, g_error_create_fields,
				 SL_COUNTOF(g_error_create_fields), &p))
		return;
	if (!*p.base_name) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: base_name must not be empty");
		goto out;
	}
	if (p.uuid && sl_uuid_parse(&uuid, p.uuid)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: invalid uuid '%s'", p.uuid);
		goto out;
	}
	if (!sl_app_is_init_done() && !sl_bdev_get_by_name(p.base_name)) {
		/* Start-up config: wait for the base to register (see the top of the file). */
		if (error_config_find(p.base_name)) {
			sl_jsonrpc_send_error(req, -EEXIST,
					      "bdev '" ERROR_BDEV_PREFIX
					      "%s' is already configured",
					      p.base_name);
			goto out;
		}
		cfg = calloc(1, sizeof(*cfg));
		if (!cfg || !(cfg->base_name = strdup(p.base_name))) {
			free(cfg);
			sl_jsonrpc_send_errno(req, -ENOMEM, NULL);
			goto out;
		}
		cfg->uuid = uuid;
		TAILQ_INSERT_TAIL(&g_error_configs, cfg, link);
		SL_NOTICELOG("bdev_error_create: base bdev %s does not exist yet; "
			     "%s%s will be created when it appears",
			     p.base_name, ERROR_BDEV_PREFIX, p.base_name);
		sl_jsonrpc_send_bool(req, true);
		goto out;
	}
	rc = error_disk_create(p.base_name, p.uuid ? &uuid : NULL, err, sizeof(err));
	if (rc)
		sl_jsonrpc_send_error(req, rc, "%s", err);
	else
		sl_jsonrpc_send_bool(req, true);
out:
	sl_json_free_decoded(g_error_create_fields, SL_COUNTOF(g_error_create_fields), &p);
}
SL_RPC_REGISTER("bdev_error_create", rpc_bdev_error_create, SL_RPC_RUNTIME)

struct error_delete_params {
	char *name;
};

static const struct sl_json_field g_error_delete_fields[] = {
	SL_JSON_FIELD(struct error_delete_params, name, SL_JSON_STRING, false),
};

static void error_delete_done(void *arg, int rc)
{
	struct sl_jsonrpc_request *req = arg;

	if (rc)
		sl_jsonrpc_send_errno(req, rc, "cannot delete error bdev");
	else
		sl_jsonrpc_send_bool(req, true);
}

static void rpc_bdev_error_delete(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct error_delete_params p = { 0 };
	struct error_disk *disk;
	struct error_config *cfg;
	size_t plen = strlen(ERROR_BDEV_PREFIX);

	if (sl_rpc_decode_params(req, params, g_error_delete_fields,
				 SL_COUNTOF(g_error_delete_fields), &p))
		return;
	disk = error_disk_find(p.name);
	if (!disk) {
		cfg = strncmp(p.name, ERROR_BDEV_PREFIX, plen) ? NULL
							       : error_config_find(p.name + plen);
		if (cfg) {
			error_config_free(cfg); /* still waiting for its base */
			sl_jsonrpc_send_bool(req, true);
		} else {
			sl_jsonrpc_send_error(req, -ENODEV, "no error bdev named '%s'", p.name);
		}
	} else {
		/* Answered once it is gone (held I/O fails: see error_self_event). */
		sl_bdev_unregister(&disk->bdev, error_delete_done, req);
	}
	sl_json_free_decoded(g_error_delete_fields, SL_COUNTOF(g_error_delete_fields), &p);
}
SL_RPC_REGISTER("bdev_error_delete", rpc_bdev_error_delete, SL_RPC_RUNTIME)

struct error_inject_params {
	char *name;
	char *io_type;
	char *error_type;
	uint64_t num;
	bool has_num;
};

static int decode_num(const json_t *val, void *out, char *err, size_t errlen)
{
	struct error_inject_params *p =
		SL_CONTAINEROF((uint64_t *)out, struct error_inject_params, num);

	if (!json_is_integer(val) || json_integer_value(val) < 0) {
		snprintf(err, errlen, "'num' must be a non-negative integer");
		return -EINVAL;
	}
	p->num = (uint64_t)json_integer_value(val);
	p->has_num = true;
	return 0;
}

static const struct sl_json_field g_error_inject_fields[] = {
	SL_JSON_FIELD(struct error_inject_params, name, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct error_inject_params, io_type, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct error_inject_params, error_type, SL_JSON_STRING, false),
	{ .name = "num",
	  .type = SL_JSON_CUSTOM,
	  .offset = offsetof(struct error_inject_params, num),
	  .optional = true,
	  .decode = decode_num },
};

static void error_clear_done(struct sl_io_channel_iter *i, int status)
{
	(void)status;
	sl_jsonrpc_send_bool(sl_io_channel_iter_get_ctx(i), true);
}

static void rpc_bdev_error_inject_error(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct error_inject_params p = { 0 };
	struct error_disk *disk;
	enum error_inject_type etype = ERROR_TYPE_NONE;
	enum sl_bdev_io_type type = SL_BDEV_IO_TYPE_INVALID;
	bool all = false, clear = false;

	if (sl_rpc_decode_params(req, params, g_error_inject_fields,
				 SL_COUNTOF(g_error_inject_fields), &p))
		return;
	if (!p.has_num)
		p.num = 1;
	for (size_t i = 0; i < SL_COUNTOF(g_error_type_names); i++)
		if (g_error_type_names[i] && !strcmp(p.error_type, g_error_type_names[i]))
			etype = (enum error_inject_type)i;
	if (!strcmp(p.io_type, "all"))
		all = true;
	else if (!strcmp(p.io_type, "clear"))
		clear = true;
	else
		type = sl_bdev_io_type_from_name(p.io_type);

	disk = error_disk_find(p.name);
	if (!disk) {
		sl_jsonrpc_send_error(req, -ENODEV, "no error bdev named '%s'", p.name);
	} else if (!all && !clear &&
		   (type == SL_BDEV_IO_TYPE_INVALID || type == SL_BDEV_IO_TYPE_COMPARE)) {
		sl_jsonrpc_send_error(
			req, SL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: unexpected io_type '%s' (read, write, unmap, flush, "
			"write_zeroes, reset, nvme_admin, nvme_io, all, clear)",
			p.io_type);
	} else if (etype == ERROR_TYPE_NONE) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: unexpected error_type '%s' (failure, "
				      "pending, nomem)",
				      p.error_type);
	} else if (clear) {
		for (int t = 0; t < SL_BDEV_NUM_IO_TYPES; t++)
			error_set(disk, (enum sl_bdev_io_type)t, ERROR_TYPE_NONE, 0);
		SL_INFOLOG("%s: error injection cleared", disk->bdev.name);
		/* Release the held I/Os too; answered once every thread did. */
		sl_for_each_channel(disk, error_fail_pending_channel, req, error_clear_done);
	} else {
		for (int t = SL_BDEV_IO_TYPE_READ; t < SL_BDEV_NUM_IO_TYPES; t++)
			if (all ? t != SL_BDEV_IO_TYPE_COMPARE : t == (int)type)
				error_set(disk, (enum sl_bdev_io_type)t, etype, p.num);
		SL_INFOLOG("%s: next %" PRIu64 " %s I/O%s will get '%s'", disk->bdev.name, p.num,
			   p.io_type, all ? " (each type)" : "", p.error_type);
		sl_jsonrpc_send_bool(req, true);
	}
	sl_json_free_decoded(g_error_inject_fields, SL_COUNTOF(g_error_inject_fields), &p);
}
SL_RPC_REGISTER("bdev_error_inject_error", rpc_bdev_error_inject_error, SL_RPC_RUNTIME)
