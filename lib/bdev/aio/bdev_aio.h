/* SPDX-License-Identifier: BSD-3-Clause */
/* aio bdev module: Linux native AIO (libaio) on a file or block device. */
#ifndef SLUICE_BDEV_AIO_H
#define SLUICE_BDEV_AIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/util.h"

struct bdev_aio_opts {
	const char *name;
	const char *filename;
	uint32_t block_size; /* 0: detect */
	bool readonly;
	bool fallocate;		    /* unmap and write_zeroes through fallocate(2) */
	const struct sl_uuid *uuid; /* NULL: generated */
};

/*
 * Create and register an aio bdev. On failure err holds a message naming
 * the bdev or the file. Returns 0, -EINVAL, -EEXIST (name in use), -ENOMEM
 * or the -errno of opening the file.
 */
int bdev_aio_create(const struct bdev_aio_opts *opts, char *err, size_t errlen);
/* Unregister by name; cb(cb_arg, rc) when it is gone. Returns -ENODEV when unknown. */
int bdev_aio_delete(const char *name, void (*cb)(void *cb_arg, int rc), void *cb_arg);

#endif
