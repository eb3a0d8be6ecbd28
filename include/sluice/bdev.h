/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Block device layer, user side: find and open bdevs, get a per-thread I/O
 * channel, submit I/O. I/O may be submitted from any sl_thread through that
 * thread's channel; its completion callback runs on the same thread.
 *
 * Submission functions return 0 (the callback will run, always after the
 * call returned), -EINVAL (range beyond the bdev, bad arguments), -EBADF
 * (write through a read-only descriptor), -ENOTSUP (type not supported) or
 * -ENOMEM (no sl_bdev_io available now: retry after sl_bdev_queue_io_wait).
 */
#ifndef SLUICE_BDEV_H
#define SLUICE_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sluice/nvme_spec.h"
#include "sluice/thread.h"
#include "sluice/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_bdev;
struct sl_bdev_desc;
struct sl_bdev_io;

enum sl_bdev_io_type {
	SL_BDEV_IO_TYPE_INVALID = 0,
	SL_BDEV_IO_TYPE_READ,
	SL_BDEV_IO_TYPE_WRITE,
	SL_BDEV_IO_TYPE_UNMAP,
	SL_BDEV_IO_TYPE_FLUSH,
	SL_BDEV_IO_TYPE_RESET,
	SL_BDEV_IO_TYPE_NVME_ADMIN,
	SL_BDEV_IO_TYPE_NVME_IO,
	SL_BDEV_IO_TYPE_WRITE_ZEROES,
	SL_BDEV_IO_TYPE_COMPARE,
	SL_BDEV_NUM_IO_TYPES,
};

/* Name used by RPCs and logs ("read", "write", "unmap", ...). */
const char *sl_bdev_io_type_name(enum sl_bdev_io_type type);
/* Parse such a name, or "all"; returns SL_BDEV_IO_TYPE_INVALID if unknown. */
enum sl_bdev_io_type sl_bdev_io_type_from_name(const char *name);

enum sl_bdev_event_type {
	SL_BDEV_EVENT_REMOVE, /* the bdev is going away: close the descriptor */
	SL_BDEV_EVENT_RESIZE,
};

/* Runs on the thread that opened the descriptor. */
typedef void (*sl_bdev_event_cb)(enum sl_bdev_event_type type, struct sl_bdev *bdev,
				 void *event_ctx);
typedef void (*sl_bdev_io_completion_cb)(struct sl_bdev_io *bdev_io, bool success, void *cb_arg);

/* Registry (app-thread or any thread; the registry is lock-protected). */
struct sl_bdev *sl_bdev_get_by_name(const char *name);
struct sl_bdev *sl_bdev_first(void);
struct sl_bdev *sl_bdev_next(struct sl_bdev *prev);

const char *sl_bdev_get_name(const struct sl_bdev *bdev);
const char *sl_bdev_get_product_name(const struct sl_bdev *bdev);
const char *sl_bdev_get_module_name(const struct sl_bdev *bdev);
uint32_t sl_bdev_get_block_size(const struct sl_bdev *bdev);
uint64_t sl_bdev_get_num_blocks(const struct sl_bdev *bdev);
const struct sl_uuid *sl_bdev_get_uuid(const struct sl_bdev *bdev);
bool sl_bdev_has_write_cache(const struct sl_bdev *bdev);
/* Blocks; 0 = none. */
uint32_t sl_bdev_get_optimal_io_boundary(const struct sl_bdev *bdev);
/* Largest read/write the module takes in one request, in blocks; 0 = unlimited. */
uint32_t sl_bdev_get_max_rw_blocks(const struct sl_bdev *bdev);
/* Buffer alignment the module needs, in bytes (1 = none). */
size_t sl_bdev_get_buf_align(const struct sl_bdev *bdev);
bool sl_bdev_io_type_supported(struct sl_bdev *bdev, enum sl_bdev_io_type type);
/* Number of aliases and the alias at index i. */
size_t sl_bdev_get_alias_count(const struct sl_bdev *bdev);
const char *sl_bdev_get_alias(const struct sl_bdev *bdev, size_t i);

/*
 * Open by name (or alias). A writer open fails with -EPERM when the bdev is
 * claimed by a module. event_cb is required: on SL_BDEV_EVENT_REMOVE the
 * owner must stop submitting, wait for its I/O and close. Returns 0,
 * -ENODEV (no such bdev, or being removed), -EPERM, -EINVAL.
 */
int sl_bdev_open_ext(const char *name, bool write, sl_bdev_event_cb event_cb, void *event_ctx,
		     struct sl_bdev_desc **desc);
/* Close on the thread that opened it. */
void sl_bdev_close(struct sl_bdev_desc *desc);
struct sl_bdev *sl_bdev_desc_get_bdev(struct sl_bdev_desc *desc);

/* The calling thread's channel for this bdev; release with sl_put_io_channel
 * once every I/O submitted through it has completed. */
struct sl_io_channel *sl_bdev_get_io_channel(struct sl_bdev_desc *desc);

int sl_bdev_read_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, void *buf,
			uint64_t offset_blocks, uint64_t num_blocks, sl_bdev_io_completion_cb cb,
			void *cb_arg);
int sl_bdev_readv_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, struct iovec *iov,
			 int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			 sl_bdev_io_completion_cb cb, void *cb_arg);
int sl_bdev_write_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, void *buf,
			 uint64_t offset_blocks, uint64_t num_blocks, sl_bdev_io_completion_cb cb,
			 void *cb_arg);
int sl_bdev_writev_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, struct iovec *iov,
			  int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			  sl_bdev_io_completion_cb cb, void *cb_arg);
/* Compare the media with the buffer; fails with NVMe status COMPARE_FAILURE on a mismatch. */
int sl_bdev_comparev_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, struct iovec *iov,
			    int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			    sl_bdev_io_completion_cb cb, void *cb_arg);
int sl_bdev_write_zeroes_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
				uint64_t offset_blocks, uint64_t num_blocks,
				sl_bdev_io_completion_cb cb, void *cb_arg);
int sl_bdev_unmap_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
			 uint64_t offset_blocks, uint64_t num_blocks, sl_bdev_io_completion_cb cb,
			 void *cb_arg);
int sl_bdev_flush_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
			 uint64_t offset_blocks, uint64_t num_blocks, sl_bdev_io_completion_cb cb,
			 void *cb_arg);
int sl_bdev_reset(struct sl_bdev_desc *desc, struct sl_io_channel *ch, sl_bdev_io_completion_cb cb,
		  void *cb_arg);
/* Raw NVMe commands for modules that support them (SL_BDEV_IO_TYPE_NVME_*). */
int sl_bdev_nvme_admin_passthru(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
				const struct sl_nvme_cmd *cmd, void *buf, size_t nbytes,
				sl_bdev_io_completion_cb cb, void *cb_arg);
int sl_bdev_nvme_io_passthru(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
			     const struct sl_nvme_cmd *cmd, void *buf, size_t nbytes,
			     sl_bdev_io_completion_cb cb, void *cb_arg);

/* Release a completed I/O (call from the completion callback or later, same thread). */
void sl_bdev_free_io(struct sl_bdev_io *bdev_io);
/* NVMe view of an I/O's result (generic status for non-NVMe modules). */
void sl_bdev_io_get_nvme_status(const struct sl_bdev_io *bdev_io, uint32_t *cdw0, int *sct,
				int *sc);
enum sl_bdev_io_type sl_bdev_io_get_type(const struct sl_bdev_io *bdev_io);
/*
 * Ticks (sl_get_ticks) when the I/O was submitted and when it completed, so
 * callers can measure latency without reading the clock again; the
 * completion tick is valid in the completion callback.
 */
uint64_t sl_bdev_io_get_submit_tsc(const struct sl_bdev_io *bdev_io);
uint64_t sl_bdev_io_get_complete_tsc(const struct sl_bdev_io *bdev_io);

/* Wait for a free sl_bdev_io after -ENOMEM: cb_fn runs on this thread when one frees up. */
struct sl_bdev_io_wait_entry {
	struct sl_bdev *bdev;
	void (*cb_fn)(void *cb_arg);
	void *cb_arg;
	struct sl_bdev_io_wait_entry *next;
};
int sl_bdev_queue_io_wait(struct sl_bdev *bdev, struct sl_io_channel *ch,
			  struct sl_bdev_io_wait_entry *entry);

/* I/O statistics. */
struct sl_bdev_io_stat {
	uint64_t bytes_read;
	uint64_t num_read_ops;
	uint64_t bytes_written;
	uint64_t num_write_ops;
	uint64_t bytes_unmapped;
	uint64_t num_unmap_ops;
	uint64_t num_write_zeroes_ops;
	uint64_t num_flush_ops;
	uint64_t num_other_ops; /* reset, compare, NVMe passthrough */
	uint64_t read_latency_ticks;
	uint64_t write_latency_ticks;
	uint64_t unmap_latency_ticks;
	uint64_t max_read_latency_ticks;
	uint64_t max_write_latency_ticks;
	uint64_t num_errors;
	uint64_t num_nomem_retries;
	uint64_t ticks_rate;
};

/* Statistics of one channel (calling thread). */
void sl_bdev_get_io_stat(struct sl_bdev *bdev, struct sl_io_channel *ch,
			 struct sl_bdev_io_stat *stat);
/*
 * Aggregate over every channel (and channels already gone) of bdev; cb runs
 * on the calling thread.
 */
typedef void (*sl_bdev_get_device_stat_cb)(struct sl_bdev *bdev, struct sl_bdev_io_stat *stat,
					   void *cb_arg, int rc);
void sl_bdev_get_device_stat(struct sl_bdev *bdev, struct sl_bdev_io_stat *stat,
			     sl_bdev_get_device_stat_cb cb, void *cb_arg);

/* Called when every bdev module has finished examining existing bdevs. */
int sl_bdev_wait_for_examine(void (*cb)(void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif
