/* SPDX-License-Identifier: BSD-3-Clause */
/* Opening the backing file of a file-based bdev (aio, uring); see sluice/bdev_file.h. */
#include "sluice/bdev_file.h"
#include "sluice/bdev_module.h"

#include "sluice/log.h"
#include "sluice/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

static int file_error(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Format the message once, log it, hand it to the caller for the RPC error. */
static int file_error(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	SL_ERRLOG("%s", buf);
	if (err && errlen)
		snprintf(err, errlen, "%s", buf);
	return rc;
}

static int open_flags(const struct sl_bdev_file *f, bool direct)
{
	return (f->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
}

/* Drop O_DIRECT on the open file (F_SETFL keeps the same open file description). */
static int use_buffered(struct sl_bdev_file *f, const char *why)
{
	int fl = fcntl(f->fd, F_GETFL);

	if (fl < 0 || fcntl(f->fd, F_SETFL, fl & ~O_DIRECT) < 0)
		return -errno;
	SL_NOTICELOG("%s: %s; using buffered I/O", f->filename, why);
	f->o_direct = false;
	f->dio_align = 0;
	return 0;
}

/*
 * Direct I/O alignment the file system reports (Linux 6.1+ statx); 0 when it
 * does not say. *refused is set when it says direct I/O is not supported.
 */
static uint32_t statx_dio_align(int fd, bool *refused)
{
	struct statx sx;

	*refused = false;
	memset(&sx, 0, sizeof(sx));
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) || !(sx.stx_mask & STATX_DIOALIGN))
		return 0;
	if (sx.stx_dio_offset_align == 0) {
		*refused = true;
		return 0;
	}
	return SL_MAX(sx.stx_dio_offset_align, sx.stx_dio_mem_align);
}

/* One aligned direct read of the first block: EINVAL means this block size cannot be used. */
static int probe_direct_read(struct sl_bdev_file *f)
{
	void *buf;
	ssize_t n;
	int rc = 0;

	if (posix_memalign(&buf, f->block_size, f->block_size))
		return -ENOMEM;
	n = pread(f->fd, buf, f->block_size, 0);
	if (n < 0)
		rc = -errno;
	free(buf);
	return rc;
}

static int choose_direct(struct sl_bdev_file *f, uint32_t lbs, char *err, size_t errlen)
{
	char why[128];
	bool refused = false;
	uint32_t align;
	int rc;

	if (f->is_blockdev) {
		align = lbs;
	} else {
		align = statx_dio_align(f->fd, &refused);
		if (refused)
			return use_buffered(f, "the file system does not support O_DIRECT");
	}
	if (align) {
		if (f->block_size % align) {
			snprintf(why, sizeof(why),
				 "block size %u is not a multiple of the direct I/O alignment %u",
				 f->block_size, align);
			return use_buffered(f, why);
		}
		f->dio_align = align;
		return 0;
	}
	/* Alignment unknown (older kernel, or a file system that does not tell): probe. */
	rc = probe_direct_read(f);
	if (rc == -EINVAL) {
		snprintf(why, sizeof(why), "direct reads of %u bytes fail", f->block_size);
		return use_buffered(f, why);
	}
	if (rc)
		return file_error(err, errlen, rc, "cannot read %s: %s", f->filename,
				  strerror(-rc));
	f->dio_align = f->block_size;
	return 0;
}

/*
 * What deallocation the file supports. A regular file: punch a hole past the
 * end (no data there, the size is kept), which fails with EOPNOTSUPP where
 * fallocate(2) is missing (ramfs). A block device: discard if the queue
 * takes it; zeroing always works (the kernel writes zeroes if it must).
 */
static void probe_dealloc(struct sl_bdev_file *f, const struct stat *st, uint64_t size)
{
	if (f->readonly)
		return;
	if (f->is_blockdev) {
		char path[96];
		unsigned long long max = 0;
		FILE *fp;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/discard_max_bytes",
			 major(st->st_rdev), minor(st->st_rdev));
		fp = fopen(path, "re");
		if (fp) {
			if (fscanf(fp, "%llu", &max) != 1)
				max = 0;
			fclose(fp);
		}
		f->can_unmap = max > 0;
		f->can_write_zeroes = true;
		return;
	}
	f->can_unmap = fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 (off_t)SL_ALIGN_UP(size, 65536u) + 65536, 4096) == 0;
	f->can_write_zeroes = f->can_unmap;
}

int sl_bdev_file_open(struct sl_bdev_file *f, const char *filename, uint32_t block_size,
		      bool readonly, char *err, size_t errlen)
{
	struct stat st;
	uint64_t size;
	uint32_t lbs = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->readonly = readonly;
	if (!filename || !*filename)
		return file_error(err, errlen, -EINVAL, "filename must not be empty");
	if (block_size && (!sl_is_pow2(block_size) || block_size < SL_BDEV_FILE_MIN_BLOCK_SIZE ||
			   block_size > SL_BDEV_FILE_MAX_BLOCK_SIZE))
		return file_error(err, errlen, -EINVAL,
				  "invalid block size %u for %s: must be a power of two from %u "
				  "to %u",
				  block_size, filename, SL_BDEV_FILE_MIN_BLOCK_SIZE,
				  SL_BDEV_FILE_MAX_BLOCK_SIZE);
	f->filename = strdup(filename);
	if (!f->filename)
		return -ENOMEM;

	f->o_direct = true;
	f->fd = open(filename, open_flags(f, true));
	if (f->fd < 0 && errno == EINVAL) {
		/* The file system refuses O_DIRECT (tmpfs before 6.6, ramfs, some FUSE). */
		f->o_direct = false;
		f->fd = open(filename, open_flags(f, false));
		if (f->fd >= 0)
			SL_NOTICELOG("%s: the file system does not support O_DIRECT; using "
				     "buffered I/O",
				     filename);
	}
	if (f->fd < 0) {
		rc = -errno;
		file_error(err, errlen, rc, "cannot open %s: %s", filename, strerror(-rc));
		goto out_free;
	}
	if (fstat(f->fd, &st)) {
		rc = -errno;
		file_error(err, errlen, rc, "cannot stat %s: %s", filename, strerror(-rc));
		goto out_close;
	}
	if (S_ISBLK(st.st_mode)) {
		int ss = 0;

		f->is_blockdev = true;
		if (ioctl(f->fd, BLKSSZGET, &ss) || ss <= 0 || ioctl(f->fd, BLKGETSIZE64, &size)) {
			rc = errno ? -errno : -EIO;
			file_error(err, errlen, rc,
				   "cannot get the geometry of block device %s: %s", filename,
				   strerror(-rc));
			goto out_close;
		}
		lbs = (uint32_t)ss;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		rc = file_error(err, errlen, -EINVAL, "%s is not a regular file or block device",
				filename);
		goto out_close;
	}

	f->block_size_given = block_size != 0;
	if (!block_size)
		block_size = lbs > SL_BDEV_FILE_MIN_BLOCK_SIZE ? lbs : SL_BDEV_FILE_MIN_BLOCK_SIZE;
	if (!sl_is_pow2(block_size) || block_size > SL_BDEV_FILE_MAX_BLOCK_SIZE) {
		rc = file_error(err, errlen, -EINVAL,
				"%s: detected block size %u is not supported; give one", filename,
				block_size);
		goto out_close;
	}
	f->block_size = block_size;
	if (size < block_size) {
		rc = file_error(err, errlen, -EINVAL,
				"%s is smaller than one block (%" PRIu64 " < %u bytes)", filename,
				size, block_size);
		goto out_close;
	}
	f->num_blocks = size / block_size;
	if (size % block_size)
		SL_NOTICELOG("%s: the last %" PRIu64 " bytes do not fill a %u-byte block and are "
			     "not used",
			     filename, size % block_size, block_size);

	probe_dealloc(f, &st, size);
	if (f->o_direct) {
		rc = choose_direct(f, lbs, err, errlen);
		if (rc)
			goto out_close;
	}
	return 0;

out_close:
	close(f->fd);
	f->fd = -1;
out_free:
	free(f->filename);
	f->filename = NULL;
	return rc;
}

void sl_bdev_file_close(struct sl_bdev_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->filename);
	f->filename = NULL;
}

int sl_bdev_file_discard(const struct sl_bdev_file *f, uint64_t offset, uint64_t len)
{
	if (f->is_blockdev) {
		uint64_t range[2] = { offset, len };

		return ioctl(f->fd, BLKDISCARD, range) ? -errno : 0;
	}
	return fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
			 (off_t)len)
		       ? -errno
		       : 0;
}

int sl_bdev_file_zero(const struct sl_bdev_file *f, uint64_t offset, uint64_t len)
{
	int rc;

	if (f->is_blockdev) {
		uint64_t range[2] = { offset, len };

		return ioctl(f->fd, BLKZEROOUT, range) ? -errno : 0;
	}
	rc = fallocate(f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len)
		     ? -errno
		     : 0;
	if (rc == -EOPNOTSUPP) /* tmpfs and others: a punched hole reads back as zeroes */
		rc = fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
			       (off_t)len)
			     ? -errno
			     : 0;
	return rc;
}

int sl_bdev_file_fill_bdev(const struct sl_bdev_file *f, struct sl_bdev *bdev, const char *name,
			   const char *product_name, const struct sl_uuid *uuid)
{
	bdev->name = strdup(name);
	if (!bdev->name)
		return -ENOMEM;
	bdev->product_name = (char *)product_name;
	bdev->blocklen = f->block_size;
	bdev->blockcnt = f->num_blocks;
	bdev->write_cache = true;
	bdev->required_alignment = f->dio_align;
	if (uuid)
		bdev->uuid = *uuid;
	return 0;
}
