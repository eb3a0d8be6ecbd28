/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Block device layer, module side: what a bdev module (malloc, aio, nvme...)
 * implements and the core functions it calls.
 *
 * A module fills a struct sl_bdev and registers it. The core calls
 * submit_request on the thread of the module channel it got from
 * get_io_channel; the module completes every I/O exactly once with
 * sl_bdev_io_complete (on that same thread), possibly later. The core has
 * already checked the range, split the I/O to the module's limits and
 * bounced misaligned buffers.
 */
#ifndef SLUICE_BDEV_MODULE_H
#define SLUICE_BDEV_MODULE_H

#include <jansson.h>
#include <sys/queue.h>

#include "sluice/bdev.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sl_bdev_io_status {
	SL_BDEV_IO_STATUS_NVME_ERROR = -3, /* set by sl_bdev_io_complete_nvme_status */
	SL_BDEV_IO_STATUS_NOMEM = -2,	   /* retried by the core; never reaches the user */
	SL_BDEV_IO_STATUS_FAILED = -1,
	SL_BDEV_IO_STATUS_PENDING = 0,
	SL_BDEV_IO_STATUS_SUCCESS = 1,
};

struct sl_bdev_module {
	const char *name;
	/* Its bdevs sit on other bdevs: save_config writes it after the others. */
	bool stacked;
	/* Called once at bdev subsystem init / fini (app thread). NULL: nothing to do. */
	int (*module_init)(void);
	void (*module_fini)(void);
	/* Append the RPCs that recreate this module's bdevs to config (a JSON array). */
	void (*config_json)(json_t *config);
	/* Bytes of per-I/O context the module needs (sl_bdev_io::driver_ctx). */
	size_t (*get_ctx_size)(void);
	/*
	 * Offered every newly registered bdev; must end with
	 * sl_bdev_module_examine_done(module). NULL: not interested.
	 */
	void (*examine)(struct sl_bdev *bdev);
	TAILQ_ENTRY(sl_bdev_module) link;
};

void sl_bdev_module_register(struct sl_bdev_module *module);
#define SL_BDEV_MODULE_REGISTER(var)                                                               \
	__attribute__((constructor)) static void sl_bdev_module_register_##var(void)               \
	{                                                                                          \
		sl_bdev_module_register(&var);                                                     \
	}
void sl_bdev_module_examine_done(struct sl_bdev_module *module);

struct sl_bdev_fn_table {
	/*
	 * Free the module's bdev. Return 0 when done, or 1 to finish later
	 * with sl_bdev_destruct_done. Called after every descriptor closed
	 * and every channel was released.
	 */
	int (*destruct)(void *ctx);
	void (*submit_request)(struct sl_io_channel *ch, struct sl_bdev_io *bdev_io);
	bool (*io_type_supported)(void *ctx, enum sl_bdev_io_type type);
	/* The calling thread's module channel (the core keeps one per thread). */
	struct sl_io_channel *(*get_io_channel)(void *ctx);
	/* Module-specific details for bdev_get_bdevs ("driver_specific"). Optional. */
	void (*dump_info_json)(void *ctx, json_t *driver_specific);
};

struct sl_bdev_internal; /* core-private state */

struct sl_bdev {
	/* Filled by the module before sl_bdev_register. */
	char *name;
	char *product_name;
	uint32_t blocklen;
	uint64_t blockcnt;
	bool write_cache;
	uint32_t optimal_io_boundary; /* blocks; 0 = none */
	bool split_on_optimal_io_boundary;
	uint32_t max_rw_blocks;	   /* 0 = unlimited */
	size_t required_alignment; /* bytes, power of two; 0 or 1 = none */
	struct sl_uuid uuid;	   /* all zero: the core generates one */
	void *ctxt;
	const struct sl_bdev_fn_table *fn_table;
	struct sl_bdev_module *module;

	struct sl_bdev_internal *internal;
};

/*
 * Register a filled bdev. Returns 0, -EEXIST (name or alias in use),
 * -EINVAL (block size not a power of two >= 512, zero blocks, missing ops).
 */
int sl_bdev_register(struct sl_bdev *bdev);
/*
 * Remove a bdev: open descriptors get SL_BDEV_EVENT_REMOVE; when the last
 * closes and its channels are gone, destruct runs and cb(cb_arg, rc) is
 * called on the calling thread.
 */
void sl_bdev_unregister(struct sl_bdev *bdev, void (*cb)(void *cb_arg, int rc), void *cb_arg);
/*
 * Unregister by name for module delete RPCs: -ENODEV if absent or not this
 * module's (cb is not called then); otherwise 0 and cb runs when done.
 */
int sl_bdev_unregister_by_name(const char *name, struct sl_bdev_module *module,
			       void (*cb)(void *cb_arg, int rc), void *cb_arg);
void sl_bdev_destruct_done(struct sl_bdev *bdev, int rc);
int sl_bdev_alias_add(struct sl_bdev *bdev, const char *alias);
void sl_bdev_notify_resize(struct sl_bdev *bdev, uint64_t new_blockcnt);

/* Claims: one module may own a bdev (as its base); writers are refused then. */
int sl_bdev_module_claim_bdev(struct sl_bdev *bdev, struct sl_bdev_module *module);
void sl_bdev_module_release_bdev(struct sl_bdev *bdev);
struct sl_bdev_module *sl_bdev_get_claim(struct sl_bdev *bdev);

struct sl_bdev_io_internal; /* core-private */

struct sl_bdev_io {
	struct sl_bdev *bdev;
	enum sl_bdev_io_type type;
	union {
		struct {
			struct iovec *iovs;
			int iovcnt;
			uint64_t offset_blocks;
			uint64_t num_blocks;
		} bdev;
		struct {
			struct sl_nvme_cmd cmd;
			void *buf;
			size_t nbytes;
		} nvme_passthru;
	} u;
	struct sl_bdev_io_internal *internal;
	/* Module's per-I/O context: get_ctx_size bytes, 16-byte aligned. */
	uint8_t driver_ctx[] __attribute__((aligned(16)));
};

void sl_bdev_io_complete(struct sl_bdev_io *bdev_io, enum sl_bdev_io_status status);
void sl_bdev_io_complete_nvme_status(struct sl_bdev_io *bdev_io, uint32_t cdw0, int sct, int sc);
struct sl_io_channel *sl_bdev_io_get_io_channel(struct sl_bdev_io *bdev_io);
struct sl_thread *sl_bdev_io_get_thread(struct sl_bdev_io *bdev_io);
static inline struct sl_bdev_io *sl_bdev_io_from_ctx(void *ctx)
{
	return (struct sl_bdev_io *)((char *)ctx - offsetof(struct sl_bdev_io, driver_ctx));
}

/* Write the {"name":..,"uuid":..} parts shared by every module's create RPC params. */
void sl_bdev_config_common(const struct sl_bdev *bdev, json_t *params);

#ifdef __cplusplus
}
#endif
#endif
