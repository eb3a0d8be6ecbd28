/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Backing files of file-based bdev modules (aio, uring): open a regular
 * file or a block device, choose the block size, decide whether O_DIRECT can
 * be used, and the synchronous operations they share (discard, zeroing).
 * Part of the bdev core library (lib/bdev/bdev_file.c).
 */
#ifndef SLUICE_BDEV_FILE_H
#define SLUICE_BDEV_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Block sizes a file bdev accepts: powers of two in [MIN, MAX]. */
#define SL_BDEV_FILE_MIN_BLOCK_SIZE 512u
#define SL_BDEV_FILE_MAX_BLOCK_SIZE 65536u

/* Per-thread queue depth of the aio context / io_uring of a file bdev module. */
#define SL_BDEV_FILE_QUEUE_DEPTH 512u

/*
 * How long (microseconds) a poller keeps reporting busy after its last
 * completion while I/O is still in flight, before it drains its eventfd and
 * lets the reactor sleep. Avoids a read(2) of the eventfd per completion
 * batch when I/O trickles in.
 */
#define SL_BDEV_FILE_ARM_DELAY_US 100u

struct sl_bdev_file {
	char *filename;
	int fd;
	bool is_blockdev;
	bool readonly;
	bool o_direct;
	bool block_size_given; /* false: block_size was detected */
	uint32_t block_size;   /* bytes per block of the bdev */
	uint32_t dio_align;    /* O_DIRECT buffer/length alignment in bytes; 0 when buffered */
	bool can_unmap;	       /* sl_bdev_file_discard works (hole punching or discard) */
	bool can_write_zeroes; /* sl_bdev_file_zero works */
	uint64_t num_blocks;
};

/*
 * Open filename for a bdev. block_size 0 detects it (block device: logical
 * block size; regular file: 512). Opens with O_DIRECT when the file system
 * or device takes it at this block size, buffered otherwise (logged at
 * notice level). On failure writes a message naming the file to err, logs
 * it and returns -EINVAL (bad block size, too small, not a file or block
 * device) or the -errno of open/stat/ioctl.
 */
int sl_bdev_file_open(struct sl_bdev_file *f, const char *filename, uint32_t block_size,
		      bool readonly, char *err, size_t errlen);
void sl_bdev_file_close(struct sl_bdev_file *f);

struct sl_bdev;
struct sl_uuid;
/*
 * Fill the parts of a file bdev that come from its file: name (strdup'ed),
 * product name, geometry, write cache, O_DIRECT alignment and uuid (NULL:
 * generated at registration). Returns 0 or -ENOMEM.
 */
int sl_bdev_file_fill_bdev(const struct sl_bdev_file *f, struct sl_bdev *bdev, const char *name,
			   const char *product_name, const struct sl_uuid *uuid);

/* Synchronous deallocate / zero of a byte range. Return 0 or -errno. */
int sl_bdev_file_discard(const struct sl_bdev_file *f, uint64_t offset, uint64_t len);
int sl_bdev_file_zero(const struct sl_bdev_file *f, uint64_t offset, uint64_t len);

#endif
