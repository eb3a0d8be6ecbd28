/* SPDX-License-Identifier: BSD-3-Clause */
/* uring bdev module: io_uring (liburing) on a file or block device. */
#ifndef SLUICE_BDEV_URING_H
#define SLUICE_BDEV_URING_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/util.h"

struct bdev_uring_opts {
	const char *name;
	const char *filename;
	uint32_t block_size;	    /* 0: detect */
	const struct sl_uuid *uuid; /* NULL: generated */
};

/*
 * Create and register a uring bdev. On failure err holds a message naming
 * the bdev or the file. Returns 0, -EINVAL, -EEXIST (name in use), -ENOMEM
 * or the -errno of opening the file.
 */
int bdev_uring_create(const struct bdev_uring_opts *opts, char *err, size_t errlen);
/* Unregister by name; cb(cb_arg, rc) when it is gone. Returns -ENODEV when unknown. */
int bdev_uring_delete(const char *name, void (*cb)(void *cb_arg, int rc), void *cb_arg);

#endif
