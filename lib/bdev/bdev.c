/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdev registry, descriptors, claims, hot-remove and the "bdev" subsystem.
 * The registry and descriptor lists are control-path state under g_bdev_lock.
 */
#include "bdev_internal.h"

#include "sluice/event.h"
#include "sluice/rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

SL_LOG_REGISTER_COMPONENT(bdev)

pthread_mutex_t g_bdev_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(bdev_list, sl_bdev_internal) g_bdevs = TAILQ_HEAD_INITIALIZER(g_bdevs);
static TAILQ_HEAD(module_list, sl_bdev_module) g_modules = TAILQ_HEAD_INITIALIZER(g_modules);
static uint32_t g_examines_pending;

struct examine_waiter {
	void (*cb)(void *arg);
	void *arg;
	struct sl_thread *thread;
	struct examine_waiter *next;
};
static struct examine_waiter *g_examine_waiters;

static const char *const g_io_type_names[SL_BDEV_NUM_IO_TYPES] = {
	[SL_BDEV_IO_TYPE_INVALID] = "invalid",
	[SL_BDEV_IO_TYPE_READ] = "read",
	[SL_BDEV_IO_TYPE_WRITE] = "write",
	[SL_BDEV_IO_TYPE_UNMAP] = "unmap",
	[SL_BDEV_IO_TYPE_FLUSH] = "flush",
	[SL_BDEV_IO_TYPE_RESET] = "reset",
	[SL_BDEV_IO_TYPE_NVME_ADMIN] = "nvme_admin",
	[SL_BDEV_IO_TYPE_NVME_IO] = "nvme_io",
	[SL_BDEV_IO_TYPE_WRITE_ZEROES] = "write_zeroes",
	[SL_BDEV_IO_TYPE_COMPARE] = "compare",
};

const char *sl_bdev_io_type_name(enum sl_bdev_io_type type)
{
	return type < SL_BDEV_NUM_IO_TYPES ? g_io_type_names[type] : "invalid";
}

enum sl_bdev_io_type sl_bdev_io_type_from_name(const char *name)
{
	for (int t = SL_BDEV_IO_TYPE_READ; t < SL_BDEV_NUM_IO_TYPES; t++)
		if (!strcmp(name, g_io_type_names[t]))
			return (enum sl_bdev_io_type)t;
	return SL_BDEV_IO_TYPE_INVALID;
}

/* ---- modules ---- */

void sl_bdev_module_register(struct sl_bdev_module *module)
{
	TAILQ_INSERT_TAIL(&g_modules, module, link);
}

static void examine_waiters_run(void *arg)
{
	struct examine_waiter *w = arg;

	w->cb(w->arg);
	free(w);
}

static void examine_check_done(void)
{
	struct examine_waiter *w;

	if (g_examines_pending)
		return;
	while ((w = g_examine_waiters)) {
		g_examine_waiters = w->next;
		if (sl_thread_send_msg(w->thread, examine_waiters_run, w))
			free(w);
	}
}

void sl_bdev_module_examine_done(struct sl_bdev_module *module)
{
	(void)module;
	pthread_mutex_lock(&g_bdev_lock);
	if (g_examines_pending)
		g_examines_pending--;
	pthread_mutex_unlock(&g_bdev_lock);
	examine_check_done();
}

int sl_bdev_wait_for_examine(void (*cb)(void *arg), void *arg)
{
	struct examine_waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->arg = arg;
	w->thread = sl_get_thread();
	if (!w->thread) {
		free(w);
		return -EINVAL;
	}
	w->next = g_examine_waiters;
	g_examine_waiters = w;
	examine_check_done();
	return 0;
}

/* ---- registry ---- */

/* Caller holds g_bdev_lock. */
static struct sl_bdev_internal *find_locked(const char *name)
{
	struct sl_bdev_internal *in;

	TAILQ_FOREACH(in, &g_bdevs, link) {
		if (!strcmp(in->bdev->name, name))
			return in;
		for (size_t i = 0; i < in->alias_count; i++)
			if (!strcmp(in->aliases[i], name))
				return in;
	}
	return NULL;
}

struct sl_bdev *sl_bdev_get_by_name(const char *name)
{
	struct sl_bdev_internal *in;

	pthread_mutex_lock(&g_bdev_lock);
	in = find_locked(name);
	pthread_mutex_unlock(&g_bdev_lock);
	return in ? in->bdev : NULL;
}

struct sl_bdev *sl_bdev_first(void)
{
	struct sl_bdev_internal *in;

	pthread_mutex_lock(&g_bdev_lock);
	in = TAILQ_FIRST(&g_bdevs);
	pthread_mutex_unlock(&g_bdev_lock);
	return in ? in->bdev : NULL;
}

struct sl_bdev *sl_bdev_next(struct sl_bdev *prev)
{
	struct sl_bdev_internal *in;

	pthread_mutex_lock(&g_bdev_lock);
	in = TAILQ_NEXT(prev->internal, link);
	pthread_mutex_unlock(&g_bdev_lock);
	return in ? in->bdev : NULL;
}

const char *sl_bdev_get_name(const struct sl_bdev *bdev)
{
	return bdev->name;
}

const char *sl_bdev_get_product_name(const struct sl_bdev *bdev)
{
	return bdev->product_name ? bdev->product_name : bdev->module->name;
}

const char *sl_bdev_get_module_name(const struct sl_bdev *bdev)
{
	return bdev->module->name;
}

uint32_t sl_bdev_get_block_size(const struct sl_bdev *bdev)
{
	return bdev->blocklen;
}

uint64_t sl_bdev_get_num_blocks(const struct sl_bdev *bdev)
{
	return bdev->blockcnt;
}

const struct sl_uuid *sl_bdev_get_uuid(const struct sl_bdev *bdev)
{
	return &bdev->uuid;
}

bool sl_bdev_has_write_cache(const struct sl_bdev *bdev)
{
	return bdev->write_cache;
}

uint32_t sl_bdev_get_optimal_io_boundary(const struct sl_bdev *bdev)
{
	return bdev->optimal_io_boundary;
}

uint32_t sl_bdev_get_max_rw_blocks(const struct sl_bdev *bdev)
{
	return bdev->max_rw_blocks;
}

size_t sl_bdev_get_buf_align(const struct sl_bdev *bdev)
{
	return bdev->internal->buf_align;
}

size_t sl_bdev_get_alias_count(const struct sl_bdev *bdev)
{
	return bdev->internal->alias_count;
}

const char *sl_bdev_get_alias(const struct sl_bdev *bdev, size_t i)
{
	return i < bdev->internal->alias_count ? bdev->internal->aliases[i] : NULL;
}

bool sl_bdev_io_type_supported(struct sl_bdev *bdev, enum sl_bdev_io_type type)
{
	bool native = bdev->fn_table->io_type_supported(bdev->ctxt, type);

	if (native)
		return true;
	/* Emulated by the core on top of read / write. */
	if (type == SL_BDEV_IO_TYPE_COMPARE)
		return bdev->fn_table->io_type_supported(bdev->ctxt, SL_BDEV_IO_TYPE_READ);
	if (type == SL_BDEV_IO_TYPE_WRITE_ZEROES)
		return bdev->fn_table->io_type_supported(bdev->ctxt, SL_BDEV_IO_TYPE_WRITE);
	return false;
}

int sl_bdev_register(struct sl_bdev *bdev)
{
	struct sl_bdev_internal *in;
	char uuid[SL_UUID_STRING_LEN];
	struct sl_bdev_module *m;
	size_t align;

	if (!bdev->name || !*bdev->name || !bdev->fn_table || !bdev->module ||
	    !bdev->fn_table->submit_request || !bdev->fn_table->get_io_channel ||
	    !bdev->fn_table->io_type_supported) {
		SL_ERRLOG("bdev %s: incomplete registration", bdev->name ? bdev->name : "(null)");
		return -EINVAL;
	}
	if (!sl_is_pow2(bdev->blocklen) || bdev->blocklen < 512) {
		SL_ERRLOG("bdev %s: block size %u is not a power of two >= 512", bdev->name,
			  bdev->blocklen);
		return -EINVAL;
	}
	if (bdev->blockcnt == 0) {
		SL_ERRLOG("bdev %s: zero blocks", bdev->name);
		return -EINVAL;
	}
	align = bdev->required_alignment > 1 ? bdev->required_alignment : 1;
	if (!sl_is_pow2(align) || align > 4096) {
		SL_ERRLOG("bdev %s: unsupported buffer alignment %zu", bdev->name, align);
		return -EINVAL;
	}
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->bdev = bdev;
	in->buf_align = align;
	TAILQ_INIT(&in->descs);
	if (sl_uuid_is_null(&bdev->uuid))
		sl_uuid_generate(&bdev->uuid);
	/* Children of a split never exceed the module limit nor a bounce buffer. */
	in->split_blocks = bdev->max_rw_blocks;

	pthread_mutex_lock(&g_bdev_lock);
	if (find_locked(bdev->name)) {
		pthread_mutex_unlock(&g_bdev_lock);
		SL_ERRLOG("bdev name %s is already in use", bdev->name);
		free(in);
		return -EEXIST;
	}
	bdev->internal = in;
	TAILQ_INSERT_TAIL(&g_bdevs, in, link);
	pthread_mutex_unlock(&g_bdev_lock);

	sl_io_device_register(in, bdev_channel_create, bdev_channel_destroy,
			      sizeof(struct bdev_channel), bdev->name);
	sl_uuid_fmt(uuid, sizeof(uuid), &bdev->uuid);
	SL_INFOLOG("bdev %s registered: %" PRIu64 " blocks of %u bytes, module %s, uuid %s",
		   bdev->name, bdev->blockcnt, bdev->blocklen, bdev->module->name, uuid);

	TAILQ_FOREACH(m, &g_modules, link) {
		if (!m->examine || m == bdev->module)
			continue;
		pthread_mutex_lock(&g_bdev_lock);
		g_examines_pending++;
		pthread_mutex_unlock(&g_bdev_lock);
		m->examine(bdev);
	}
	return 0;
}

int sl_bdev_alias_add(struct sl_bdev *bdev, const char *alias)
{
	struct sl_bdev_internal *in = bdev->internal;
	char *copy;
	int rc = 0;

	pthread_mutex_lock(&g_bdev_lock);
	if (find_locked(alias)) {
		rc = -EEXIST;
	} else if (in->alias_count == BDEV_MAX_ALIASES) {
		rc = -ENOSPC;
	} else if (!(copy = strdup(alias))) {
		rc = -ENOMEM;
	} else {
		in->aliases[in->alias_count++] = copy;
	}
	pthread_mutex_unlock(&g_bdev_lock);
	return rc;
}

/* ---- claims ---- */

int sl_bdev_module_claim_bdev(struct sl_bdev *bdev, struct sl_bdev_module *module)
{
	int rc = 0;

	pthread_mutex_lock(&g_bdev_lock);
	if (bdev->internal->claim) {
		SL_ERRLOG("bdev %s is already claimed by module %s", bdev->name,
			  bdev->internal->claim->name);
		rc = -EPERM;
	} else {
		bdev->internal->claim = module;
	}
	pthread_mutex_unlock(&g_bdev_lock);
	return rc;
}

void sl_bdev_module_release_bdev(struct sl_bdev *bdev)
{
	pthread_mutex_lock(&g_bdev_lock);
	bdev->internal->claim = NULL;
	pthread_mutex_unlock(&g_bdev_lock);
}

struct sl_bdev_module *sl_bdev_get_claim(struct sl_bdev *bdev)
{
	return bdev->internal->claim;
}

/* ---- descriptors ---- */

int sl_bdev_open_ext(const char *name, bool write, sl_bdev_event_cb event_cb, void *event_ctx,
		     struct sl_bdev_desc **descp)
{
	struct sl_bdev_internal *in;
	struct sl_bdev_desc *desc;

	if (!event_cb || !sl_get_thread())
		return -EINVAL;
	desc = calloc(1, sizeof(*desc));
	if (!desc)
		return -ENOMEM;
	pthread_mutex_lock(&g_bdev_lock);
	in = find_locked(name);
	if (!in || in->status != BDEV_ACTIVE) {
		pthread_mutex_unlock(&g_bdev_lock);
		free(desc);
		return -ENODEV;
	}
	if (write && in->claim) {
		pthread_mutex_unlock(&g_bdev_lock);
		SL_ERRLOG("bdev %s is claimed by module %s: cannot open it for writing", name,
			  in->claim->name);
		free(desc);
		return -EPERM;
	}
	desc->bdev = in->bdev;
	desc->thread = sl_get_thread();
	desc->write = write;
	desc->event_cb = event_cb;
	desc->event_ctx = event_ctx;
	desc->refs = 1;
	TAILQ_INSERT_TAIL(&in->descs, desc, link);
	pthread_mutex_unlock(&g_bdev_lock);
	*descp = desc;
	return 0;
}

struct sl_bdev *sl_bdev_desc_get_bdev(struct sl_bdev_desc *desc)
{
	return desc->bdev;
}

bool bdev_desc_is_writable(const struct sl_bdev_desc *desc)
{
	return desc->write;
}

static void unregister_finish(void *arg);

/* Drop a reference; the last one frees the desc. Caller holds g_bdev_lock. */
static bool desc_put_locked(struct sl_bdev_desc *desc)
{
	if (--desc->refs)
		return false;
	free(desc);
	return true;
}

void sl_bdev_close(struct sl_bdev_desc *desc)
{
	struct sl_bdev_internal *in = desc->bdev->internal;
	bool finish;

	if (desc->thread != sl_get_thread())
		SL_ERRLOG("bdev %s: descriptor closed on a thread that did not open it",
			  desc->bdev->name);
	pthread_mutex_lock(&g_bdev_lock);
	TAILQ_REMOVE(&in->descs, desc, link);
	desc->closed = true;
	finish = in->status == BDEV_REMOVING && TAILQ_EMPTY(&in->descs);
	desc_put_locked(desc);
	pthread_mutex_unlock(&g_bdev_lock);
	if (finish && sl_thread_send_msg(in->unregister_thread, unregister_finish, in->bdev))
		SL_ERRLOG("bdev %s: unregistering thread is gone", in->bdev->name);
}

static void desc_remove_notify(void *arg)
{
	struct sl_bdev_desc *desc = arg;
	bool closed;

	pthread_mutex_lock(&g_bdev_lock);
	closed = desc->closed;
	pthread_mutex_unlock(&g_bdev_lock);
	if (!closed)
		desc->event_cb(SL_BDEV_EVENT_REMOVE, desc->bdev, desc->event_ctx);
	pthread_mutex_lock(&g_bdev_lock);
	desc_put_locked(desc);
	pthread_mutex_unlock(&g_bdev_lock);
}

static void resize_notify(void *arg)
{
	struct sl_bdev_desc *desc = arg;
	bool closed;

	pthread_mutex_lock(&g_bdev_lock);
	closed = desc->closed;
	pthread_mutex_unlock(&g_bdev_lock);
	if (!closed)
		desc->event_cb(SL_BDEV_EVENT_RESIZE, desc->bdev, desc->event_ctx);
	pthread_mutex_lock(&g_bdev_lock);
	desc_put_locked(desc);
	pthread_mutex_unlock(&g_bdev_lock);
}

void sl_bdev_notify_resize(struct sl_bdev *bdev, uint64_t new_blockcnt)
{
	struct sl_bdev_desc *desc;

	pthread_mutex_lock(&g_bdev_lock);
	bdev->blockcnt = new_blockcnt;
	TAILQ_FOREACH(desc, &bdev->internal->descs, link) {
		desc->refs++;
		if (sl_thread_send_msg(desc->thread, resize_notify, desc))
			desc->refs--;
	}
	pthread_mutex_unlock(&g_bdev_lock);
}

/* ---- unregister / hot-remove ---- */

/* The module's bdev may be freed by now: only the core's own state is used. */
static void unregister_complete(struct sl_bdev_internal *in, int rc)
{
	void (*cb)(void *, int) = in->unregister_cb;
	void *cb_arg = in->unregister_arg;

	for (size_t i = 0; i < in->alias_count; i++)
		free(in->aliases[i]);
	free(in);
	if (cb)
		cb(cb_arg, rc);
}

void sl_bdev_destruct_done(struct sl_bdev *bdev, int rc)
{
	/* The module keeps bdev valid until this call returns. */
	unregister_complete(bdev->internal, rc);
}

static void io_device_unregistered(void *io_device)
{
	struct sl_bdev_internal *in = io_device;
	struct sl_bdev *bdev = in->bdev;
	int rc;

	pthread_mutex_lock(&g_bdev_lock);
	TAILQ_REMOVE(&g_bdevs, in, link);
	pthread_mutex_unlock(&g_bdev_lock);
	SL_INFOLOG("bdev %s removed", bdev->name);
	rc = bdev->fn_table->destruct ? bdev->fn_table->destruct(bdev->ctxt) : 0;
	if (rc == 1)
		return; /* the module calls sl_bdev_destruct_done */
	unregister_complete(in, rc < 0 ? rc : 0);
}

/* Every descriptor is closed: wait for the channels, then destruct. */
static void unregister_finish(void *arg)
{
	struct sl_bdev *bdev = arg;

	sl_io_device_unregister(bdev->internal, io_device_unregistered);
}

void sl_bdev_unregister(struct sl_bdev *bdev, void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	struct sl_bdev_internal *in = bdev->internal;
	struct sl_bdev_desc *desc;
	bool none;

	pthread_mutex_lock(&g_bdev_lock);
	if (in->status == BDEV_REMOVING) {
		pthread_mutex_unlock(&g_bdev_lock);
		if (cb)
			cb(cb_arg, -EBUSY);
		return;
	}
	in->status = BDEV_REMOVING;
	in->unregister_cb = cb;
	in->unregister_arg = cb_arg;
	in->unregister_thread = sl_get_thread();
	none = TAILQ_EMPTY(&in->descs);
	TAILQ_FOREACH(desc, &in->descs, link) {
		desc->refs++;
		if (sl_thread_send_msg(desc->thread, desc_remove_notify, desc)) {
			desc->refs--;
			SL_ERRLOG("bdev %s: cannot notify the owner of a descriptor", bdev->name);
		}
	}
	pthread_mutex_unlock(&g_bdev_lock);
	SL_INFOLOG("bdev %s: removing%s", bdev->name, none ? "" : " (notifying open descriptors)");
	if (none)
		unregister_finish(bdev);
}

int sl_bdev_unregister_by_name(const char *name, struct sl_bdev_module *module,
			       void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	struct sl_bdev_internal *in;

	pthread_mutex_lock(&g_bdev_lock);
	in = find_locked(name);
	pthread_mutex_unlock(&g_bdev_lock);
	if (!in || in->bdev->module != module || strcmp(in->bdev->name, name))
		return -ENODEV;
	sl_bdev_unregister(in->bdev, cb, cb_arg);
	return 0;
}

void sl_bdev_config_common(const struct sl_bdev *bdev, json_t *params)
{
	char uuid[SL_UUID_STRING_LEN];

	sl_uuid_fmt(uuid, sizeof(uuid), &bdev->uuid);
	json_object_set_new(params, "name", json_string(bdev->name));
	json_object_set_new(params, "uuid", json_string(uuid));
}

/* ---- the "bdev" subsystem ---- */

static void bdev_subsystem_init(void)
{
	struct sl_bdev_module *m;
	int rc;

	g_bdev_io_ctx_size = 0;
	TAILQ_FOREACH(m, &g_modules, link)
		if (m->get_ctx_size && m->get_ctx_size() > g_bdev_io_ctx_size)
			g_bdev_io_ctx_size = m->get_ctx_size();
	rc = bdev_io_lib_init();
	if (rc) {
		sl_subsystem_init_next(rc);
		return;
	}
	TAILQ_FOREACH(m, &g_modules, link) {
		if (!m->module_init)
			continue;
		rc = m->module_init();
		if (rc) {
			SL_ERRLOG("bdev module %s failed to initialise: %d", m->name, rc);
			sl_subsystem_init_next(rc);
			return;
		}
	}
	sl_subsystem_init_next(0);
}

static void fini_next_bdev(void *arg, int rc);

/* Unregister bdevs newest first (stacked bdevs before their bases), one at a time. */
static void fini_unregister_one(void)
{
	struct sl_bdev_internal *in;
	struct sl_bdev_module *m;

	pthread_mutex_lock(&g_bdev_lock);
	TAILQ_FOREACH_REVERSE(in, &g_bdevs, bdev_list, link)
		if (in->status == BDEV_ACTIVE)
			break;
	pthread_mutex_unlock(&g_bdev_lock);
	if (in) {
		sl_bdev_unregister(in->bdev, fini_next_bdev, NULL);
		return;
	}
	TAILQ_FOREACH_REVERSE(m, &g_modules, module_list, link)
		if (m->module_fini)
			m->module_fini();
	bdev_io_lib_fini(sl_subsystem_fini_next);
}

static void fini_next_bdev(void *arg, int rc)
{
	(void)arg;
	(void)rc;
	fini_unregister_one();
}

static void bdev_subsystem_fini(void)
{
	fini_unregister_one();
}

static void bdev_write_config(void *config)
{
	struct sl_bdev_module *m;

	/* Base bdevs first, so that a loaded config finds them before what stacks on them. */
	TAILQ_FOREACH(m, &g_modules, link)
		if (m->config_json && !m->stacked)
			m->config_json(config);
	TAILQ_FOREACH(m, &g_modules, link)
		if (m->config_json && m->stacked)
			m->config_json(config);
	/* As SPDK does: a loaded config waits for examine before other subsystems use it. */
	json_array_append_new(config, json_pack("{s:s}", "method", "bdev_wait_for_examine"));
}

static struct sl_subsystem g_bdev_subsystem = {
	.name = "bdev",
	.init = bdev_subsystem_init,
	.fini = bdev_subsystem_fini,
	.write_config_json = bdev_write_config,
};
SL_SUBSYSTEM_REGISTER(g_bdev_subsystem)
