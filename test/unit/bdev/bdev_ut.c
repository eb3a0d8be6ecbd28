/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdev core against a scripted module: splitting across boundaries and
 * limits, bounce buffers, retry on NOMEM, channel lifetime, hot-remove with
 * I/O in flight, statistics. One sl_thread polled by hand, no reactors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/bdev_module.h"
#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/thread.h"

#define BLK 512
#define NBLOCKS 1024
#define MAX_SUBMITTED 256

/* ---- a scripted module ---- */

struct sub {
	struct sl_bdev_io *io;
	enum sl_bdev_io_type type;
	uint64_t offset;
	uint64_t num;
	int iovcnt;
	uintptr_t iov0;
};

static struct sub g_sub[MAX_SUBMITTED];
static size_t g_nsub;
static int g_nomem_left; /* next submissions answered NOMEM */
static bool g_destructed;
static uint8_t g_disk[NBLOCKS * BLK];
static int g_module_ch_dev;
static bool g_no_unmap;
static bool g_complete_inline; /* complete inside submit_request */

static int mod_ch_create(void *dev, void *ctx)
{
	return 0;
}

static void mod_ch_destroy(void *dev, void *ctx)
{
}

static void mod_submit(struct sl_io_channel *ch, struct sl_bdev_io *io)
{
	struct sub *s;

	if (g_complete_inline) {
		sl_bdev_io_complete(io, SL_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	if (g_nomem_left > 0) {
		g_nomem_left--;
		sl_bdev_io_complete(io, SL_BDEV_IO_STATUS_NOMEM);
		return;
	}
	assert_true(g_nsub < MAX_SUBMITTED);
	s = &g_sub[g_nsub++];
	s->io = io;
	s->type = io->type;
	s->offset = io->u.bdev.offset_blocks;
	s->num = io->u.bdev.num_blocks;
	s->iovcnt = io->u.bdev.iovcnt;
	s->iov0 = io->u.bdev.iovcnt ? (uintptr_t)io->u.bdev.iovs[0].iov_base : 0;
	/* Data moves at submission; the test decides when to complete. */
	if (io->type == SL_BDEV_IO_TYPE_WRITE) {
		size_t off = s->offset * BLK;

		for (int i = 0; i < io->u.bdev.iovcnt; i++) {
			memcpy(g_disk + off, io->u.bdev.iovs[i].iov_base,
			       io->u.bdev.iovs[i].iov_len);
			off += io->u.bdev.iovs[i].iov_len;
		}
	} else if (io->type == SL_BDEV_IO_TYPE_READ) {
		size_t off = s->offset * BLK;

		for (int i = 0; i < io->u.bdev.iovcnt; i++) {
			memcpy(io->u.bdev.iovs[i].iov_base, g_disk + off,
			       io->u.bdev.iovs[i].iov_len);
			off += io->u.bdev.iovs[i].iov_len;
		}
	}
}

static bool mod_supported(void *ctx, enum sl_bdev_io_type t)
{
	if (t == SL_BDEV_IO_TYPE_UNMAP)
		return !g_no_unmap;
	return t == SL_BDEV_IO_TYPE_READ || t == SL_BDEV_IO_TYPE_WRITE ||
	       t == SL_BDEV_IO_TYPE_FLUSH || t == SL_BDEV_IO_TYPE_RESET;
}

static struct sl_io_channel *mod_get_ch(void *ctx)
{
	return sl_get_io_channel(&g_module_ch_dev);
}

static int mod_destruct(void *ctx)
{
	g_destructed = true;
	return 0;
}

static const struct sl_bdev_fn_table g_fn = {
	.destruct = mod_destruct,
	.submit_request = mod_submit,
	.io_type_supported = mod_supported,
	.get_io_channel = mod_get_ch,
};

static struct sl_bdev_module g_mod = { .name = "ut" };
SL_BDEV_MODULE_REGISTER(g_mod)

static struct sl_thread *g_thread;
static struct sl_bdev g_bdev;

static void poll_n(int n)
{
	for (int i = 0; i < n; i++)
		sl_thread_poll(g_thread, 0, 0);
}

static void complete_all(enum sl_bdev_io_status st)
{
	size_t n = g_nsub;

	g_nsub = 0;
	for (size_t i = 0; i < n; i++)
		sl_bdev_io_complete(g_sub[i].io, st);
	poll_n(3);
}

/* ---- user side ---- */

static int g_done, g_ok, g_failed;
static int g_removed;

static void io_done(struct sl_bdev_io *io, bool success, void *arg)
{
	g_done++;
	if (success)
		g_ok++;
	else
		g_failed++;
	sl_bdev_free_io(io);
}

static void event_cb(enum sl_bdev_event_type type, struct sl_bdev *bdev, void *ctx)
{
	if (type == SL_BDEV_EVENT_REMOVE)
		g_removed++;
}

static void reset_counts(void)
{
	g_done = g_ok = g_failed = 0;
	g_nsub = 0;
}

static int g_unreg_rc = 1;
static void unreg_done(void *arg, int rc)
{
	g_unreg_rc = rc;
}

static void register_bdev(uint32_t max_rw, uint32_t boundary, size_t align)
{
	memset(&g_bdev, 0, sizeof(g_bdev));
	g_bdev.name = "ut0";
	g_bdev.blocklen = BLK;
	g_bdev.blockcnt = NBLOCKS;
	g_bdev.max_rw_blocks = max_rw;
	g_bdev.optimal_io_boundary = boundary;
	g_bdev.split_on_optimal_io_boundary = boundary != 0;
	g_bdev.required_alignment = align;
	g_bdev.fn_table = &g_fn;
	g_bdev.module = &g_mod;
	g_destructed = false;
	assert_int_equal(sl_bdev_register(&g_bdev), 0);
}

static void unregister_bdev(void)
{
	g_unreg_rc = 1;
	sl_bdev_unregister(&g_bdev, unreg_done, NULL);
	poll_n(10);
	assert_int_equal(g_unreg_rc, 0);
	assert_true(g_destructed);
}

static void test_register_errors(void **state)
{
	struct sl_bdev b = {
		.name = "bad", .blocklen = 1000, .blockcnt = 8, .fn_table = &g_fn, .module = &g_mod
	};

	assert_int_equal(sl_bdev_register(&b), -EINVAL);
	b.blocklen = 256;
	assert_int_equal(sl_bdev_register(&b), -EINVAL);
	b.blocklen = 512;
	b.blockcnt = 0;
	assert_int_equal(sl_bdev_register(&b), -EINVAL);
	register_bdev(0, 0, 0);
	b.name = "ut0";
	b.blockcnt = 8;
	assert_int_equal(sl_bdev_register(&b), -EEXIST);
	unregister_bdev();
}

static void test_rw_and_range(void **state)
{
	struct sl_bdev_desc *desc, *ro;
	struct sl_io_channel *ch;
	char *buf = malloc(8 * BLK), *rbuf = malloc(8 * BLK);

	register_bdev(0, 0, 0);
	assert_int_equal(sl_bdev_open_ext("ut0", true, event_cb, NULL, &desc), 0);
	assert_int_equal(sl_bdev_open_ext("nope", true, event_cb, NULL, &ro), -ENODEV);
	assert_int_equal(sl_bdev_open_ext("ut0", false, event_cb, NULL, &ro), 0);
	ch = sl_bdev_get_io_channel(desc);
	assert_non_null(ch);
	reset_counts();

	/* Beyond the end, zero length, read-only writes. */
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, NBLOCKS - 1, 2, io_done, NULL),
			 -EINVAL);
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 0, 0, io_done, NULL), -EINVAL);
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, UINT64_MAX, 2, io_done, NULL), -EINVAL);
	assert_int_equal(sl_bdev_write_blocks(ro, ch, buf, 0, 1, io_done, NULL), -EBADF);

	memset(buf, 0xab, 8 * BLK);
	assert_int_equal(sl_bdev_write_blocks(desc, ch, buf, 8, 8, io_done, NULL), 0);
	assert_int_equal(g_done, 0);
	assert_int_equal(g_nsub, 1);
	complete_all(SL_BDEV_IO_STATUS_SUCCESS);
	assert_int_equal(g_ok, 1);
	assert_int_equal(sl_bdev_read_blocks(desc, ch, rbuf, 8, 8, io_done, NULL), 0);
	complete_all(SL_BDEV_IO_STATUS_SUCCESS);
	assert_int_equal(g_ok, 2);
	assert_memory_equal(buf, rbuf, 8 * BLK);

	/* Unmap not supported -> -ENOTSUP; flush without write cache is emulated. */
	g_no_unmap = true;
	assert_int_equal(sl_bdev_unmap_blocks(desc, ch, 0, 1, io_done, NULL), -ENOTSUP);
	g_no_unmap = false;
	/* Module completing inside submit: the callback still runs later, not inline. */
	g_complete_inline = true;
	assert_int_equal(sl_bdev_flush_blocks(desc, ch, 0, NBLOCKS, io_done, NULL), 0);
	g_complete_inline = false;
	assert_int_equal(g_done, 2);
	poll_n(2);
	assert_int_equal(g_done, 3);

	sl_put_io_channel(ch);
	sl_bdev_close(ro);
	sl_bdev_close(desc);
	poll_n(3);
	unregister_bdev();
	free(buf);
	free(rbuf);
}

static void test_split_max_rw_and_boundary(void **state)
{
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	char *buf = malloc(64 * BLK);

	/* max 8 blocks per request, boundary every 16 blocks */
	register_bdev(8, 16, 0);
	assert_int_equal(sl_bdev_open_ext("ut0", true, event_cb, NULL, &desc), 0);
	ch = sl_bdev_get_io_channel(desc);
	reset_counts();

	/* blocks 12..35 (24 blocks): 12-15 | 16-23 | 24-31 | 32-35 */
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 12, 24, io_done, NULL), 0);
	assert_int_equal(g_nsub, 4);
	assert_int_equal(g_sub[0].offset, 12);
	assert_int_equal(g_sub[0].num, 4);
	assert_int_equal(g_sub[1].offset, 16);
	assert_int_equal(g_sub[1].num, 8);
	assert_int_equal(g_sub[2].offset, 24);
	assert_int_equal(g_sub[2].num, 8);
	assert_int_equal(g_sub[3].offset, 32);
	assert_int_equal(g_sub[3].num, 4);
	/* Children point into the parent's buffer at the right places. */
	assert_int_equal(g_sub[1].iov0, (uintptr_t)buf + 4 * BLK);
	assert_int_equal(g_sub[3].iov0, (uintptr_t)buf + 20 * BLK);
	/* One parent completion only, after every child. */
	sl_bdev_io_complete(g_sub[0].io, SL_BDEV_IO_STATUS_SUCCESS);
	poll_n(2);
	assert_int_equal(g_done, 0);
	memmove(g_sub, g_sub + 1, 3 * sizeof(g_sub[0]));
	g_nsub = 3;
	complete_all(SL_BDEV_IO_STATUS_SUCCESS);
	assert_int_equal(g_done, 1);
	assert_int_equal(g_ok, 1);

	/* A failing child fails the parent once. */
	reset_counts();
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 0, 32, io_done, NULL), 0);
	assert_int_equal(g_nsub, 4);
	sl_bdev_io_complete(g_sub[2].io, SL_BDEV_IO_STATUS_FAILED);
	sl_bdev_io_complete(g_sub[0].io, SL_BDEV_IO_STATUS_SUCCESS);
	sl_bdev_io_complete(g_sub[1].io, SL_BDEV_IO_STATUS_SUCCESS);
	sl_bdev_io_complete(g_sub[3].io, SL_BDEV_IO_STATUS_SUCCESS);
	g_nsub = 0;
	poll_n(3);
	assert_int_equal(g_done, 1);
	assert_int_equal(g_failed, 1);

	/* A vector of many small pieces: children carry at most 16 iovs each. */
	reset_counts();
	{
		struct iovec iov[40];

		for (int i = 0; i < 40; i++) {
			iov[i].iov_base = buf + i * 256;
			iov[i].iov_len = 256; /* half a block each */
		}
		/* 20 blocks from offset 0: limits cut at 8 blocks = 16 iovs */
		assert_int_equal(sl_bdev_readv_blocks(desc, ch, iov, 40, 0, 20, io_done, NULL), 0);
		assert_int_equal(g_nsub, 3);
		assert_int_equal(g_sub[0].num, 8);
		assert_int_equal(g_sub[0].iovcnt, 16);
		assert_int_equal(g_sub[1].num, 8);
		assert_int_equal(g_sub[2].num, 4);
		assert_int_equal(g_sub[2].iovcnt, 8);
		complete_all(SL_BDEV_IO_STATUS_SUCCESS);
		assert_int_equal(g_ok, 1);
	}

	sl_put_io_channel(ch);
	sl_bdev_close(desc);
	poll_n(3);
	unregister_bdev();
	free(buf);
}

static void test_bounce(void **state)
{
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	char *raw = aligned_alloc(4096, 16 * BLK + 4096);
	char *buf = raw + 8; /* misaligned for a 512-byte requirement */

	register_bdev(0, 0, 512);
	assert_int_equal(sl_bdev_open_ext("ut0", true, event_cb, NULL, &desc), 0);
	ch = sl_bdev_get_io_channel(desc);
	reset_counts();
	memset(buf, 0x5a, 4 * BLK);
	assert_int_equal(sl_bdev_write_blocks(desc, ch, buf, 100, 4, io_done, NULL), 0);
	assert_int_equal(g_nsub, 1);
	assert_int_equal(g_sub[0].iov0 % 512, 0); /* the module saw an aligned buffer */
	assert_int_not_equal(g_sub[0].iov0, (uintptr_t)buf);
	complete_all(SL_BDEV_IO_STATUS_SUCCESS);
	assert_memory_equal(g_disk + 100 * BLK, buf, 4 * BLK);
	memset(buf, 0, 4 * BLK);
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 100, 4, io_done, NULL), 0);
	complete_all(SL_BDEV_IO_STATUS_SUCCESS);
	assert_int_equal(g_ok, 2);
	assert_memory_equal(g_disk + 100 * BLK, buf, 4 * BLK);
	/* An aligned buffer goes straight through. */
	assert_int_equal(sl_bdev_read_blocks(desc, ch, raw, 100, 4, io_done, NULL), 0);
	assert_int_equal(g_sub[0].iov0, (uintptr_t)raw);
	complete_all(SL_BDEV_IO_STATUS_SUCCESS);
	sl_put_io_channel(ch);
	sl_bdev_close(desc);
	poll_n(3);
	unregister_bdev();
	free(raw);
}

static void test_nomem_retry(void **state)
{
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	struct sl_bdev_io_stat st;
	char *buf = malloc(4 * BLK);

	register_bdev(0, 0, 0);
	assert_int_equal(sl_bdev_open_ext("ut0", true, event_cb, NULL, &desc), 0);
	ch = sl_bdev_get_io_channel(desc);
	reset_counts();
	/* The module refuses the next 3 submissions: the I/O is retried, never failed. */
	g_nomem_left = 3;
	assert_int_equal(sl_bdev_write_blocks(desc, ch, buf, 0, 4, io_done, NULL), 0);
	assert_int_equal(g_nsub, 0);
	for (int i = 0; i < 2000 && g_nsub == 0; i++) {
		sl_delay_us(100);
		poll_n(1);
	}
	assert_int_equal(g_nomem_left, 0);
	assert_int_equal(g_nsub, 1);
	assert_int_equal(g_done, 0);
	complete_all(SL_BDEV_IO_STATUS_SUCCESS);
	assert_int_equal(g_ok, 1);
	assert_int_equal(g_failed, 0);
	sl_bdev_get_io_stat(&g_bdev, ch, &st);
	assert_int_equal(st.num_nomem_retries, 3);
	assert_int_equal(st.num_write_ops, 1);
	assert_int_equal(st.bytes_written, 4 * BLK);
	sl_put_io_channel(ch);
	sl_bdev_close(desc);
	poll_n(3);
	unregister_bdev();
	free(buf);
}

static struct sl_bdev_io_stat g_dev_stat;
static int g_stat_rc = 1;
static void stat_done(struct sl_bdev *bdev, struct sl_bdev_io_stat *st, void *arg, int rc)
{
	g_stat_rc = rc;
}

static void test_stats_and_channel_lifetime(void **state)
{
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch, *ch2;
	char *buf = malloc(4 * BLK);

	register_bdev(0, 0, 0);
	assert_int_equal(sl_bdev_open_ext("ut0", true, event_cb, NULL, &desc), 0);
	ch = sl_bdev_get_io_channel(desc);
	ch2 = sl_bdev_get_io_channel(desc);
	assert_ptr_equal(ch, ch2); /* one channel per thread, reference counted */
	reset_counts();
	for (int i = 0; i < 5; i++)
		assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, i, 1, io_done, NULL), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(sl_bdev_write_blocks(desc, ch, buf, i, 2, io_done, NULL), 0);
	complete_all(SL_BDEV_IO_STATUS_SUCCESS);
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 0, 1, io_done, NULL), 0);
	complete_all(SL_BDEV_IO_STATUS_FAILED);
	sl_put_io_channel(ch2);
	poll_n(2);
	/* Still usable: one reference left. */
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 0, 1, io_done, NULL), 0);
	complete_all(SL_BDEV_IO_STATUS_SUCCESS);
	sl_put_io_channel(ch);
	poll_n(2);
	/* The channel is gone; its statistics are kept in the device total. */
	g_stat_rc = 1;
	sl_bdev_get_device_stat(&g_bdev, &g_dev_stat, stat_done, NULL);
	poll_n(5);
	assert_int_equal(g_stat_rc, 0);
	assert_int_equal(g_dev_stat.num_read_ops, 6);
	assert_int_equal(g_dev_stat.bytes_read, 6 * BLK);
	assert_int_equal(g_dev_stat.num_write_ops, 2);
	assert_int_equal(g_dev_stat.bytes_written, 4 * BLK);
	assert_int_equal(g_dev_stat.num_errors, 1);
	sl_bdev_close(desc);
	poll_n(3);
	unregister_bdev();
	free(buf);
}

static void test_hot_remove_in_flight(void **state)
{
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	char *buf = malloc(4 * BLK);

	register_bdev(0, 0, 0);
	assert_int_equal(sl_bdev_open_ext("ut0", true, event_cb, NULL, &desc), 0);
	ch = sl_bdev_get_io_channel(desc);
	reset_counts();
	g_removed = 0;
	assert_int_equal(sl_bdev_write_blocks(desc, ch, buf, 0, 4, io_done, NULL), 0);
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 0, 4, io_done, NULL), 0);
	g_unreg_rc = 1;
	sl_bdev_unregister(&g_bdev, unreg_done, NULL);
	poll_n(3);
	assert_int_equal(g_removed, 1);
	/* New I/O is refused; open refused. */
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 0, 1, io_done, NULL), -ENODEV);
	struct sl_bdev_desc *d2;
	assert_int_equal(sl_bdev_open_ext("ut0", false, event_cb, NULL, &d2), -ENODEV);
	/* Not destructed while a descriptor is open. */
	assert_false(g_destructed);
	/* The I/O in flight completes (one fails), then the owner closes. */
	sl_bdev_io_complete(g_sub[0].io, SL_BDEV_IO_STATUS_SUCCESS);
	sl_bdev_io_complete(g_sub[1].io, SL_BDEV_IO_STATUS_FAILED);
	g_nsub = 0;
	poll_n(3);
	assert_int_equal(g_done, 2);
	assert_int_equal(g_failed, 1);
	sl_put_io_channel(ch);
	sl_bdev_close(desc);
	poll_n(10);
	assert_true(g_destructed);
	assert_int_equal(g_unreg_rc, 0);
	assert_null(sl_bdev_get_by_name("ut0"));
	free(buf);
}

static int g_started = 1;
static void started(int rc, void *arg)
{
	g_started = rc;
}

static int setup(void **state)
{
	struct sl_env_opts o;

	sl_env_opts_init(&o);
	o.no_huge = true;
	o.quiet = true;
	if (sl_env_init(&o))
		return -1;
	sl_thread_lib_init(NULL, 0);
	g_thread = sl_thread_create("ut", -1);
	sl_set_thread(g_thread);
	sl_io_device_register(&g_module_ch_dev, mod_ch_create, mod_ch_destroy, 8, "ut_mod");
	sl_subsystems_start(NULL, false, started, NULL);
	poll_n(5);
	return g_started;
}

static bool g_stopped;
static void stopped(void *arg)
{
	g_stopped = true;
}

static int teardown(void **state)
{
	sl_subsystems_stop(stopped, NULL);
	for (int i = 0; i < 100 && !g_stopped; i++)
		poll_n(1);
	sl_io_device_unregister(&g_module_ch_dev, NULL);
	poll_n(3);
	return g_stopped ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_errors),
		cmocka_unit_test(test_rw_and_range),
		cmocka_unit_test(test_split_max_rw_and_boundary),
		cmocka_unit_test(test_bounce),
		cmocka_unit_test(test_nomem_retry),
		cmocka_unit_test(test_stats_and_channel_lifetime),
		cmocka_unit_test(test_hot_remove_in_flight),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
