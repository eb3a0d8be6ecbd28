/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * malloc bdev over the real bdev core: create/delete RPCs and their bad
 * input, default names, data written and read back through scattered
 * buffers, unmap and write_zeroes reading back as zeroes, flush and reset,
 * the optimal I/O boundary, callbacks never inside the submit call, delete
 * while open, save_config. One sl_thread polled by hand, RPCs in-process.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../ut_common.h"

#include "sluice/bdev_module.h"
#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/rpc.h"
#include "sluice/thread.h"

static struct sl_thread *g_thread;

static void poll_n(int n)
{
	for (int i = 0; i < n; i++)
		sl_thread_poll(g_thread, 0, 0);
}

static void poll_until(const bool *flag)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	while (!*flag) {
		if (ut_expired(deadline))
			fail_msg("condition not reached within %d s", UT_WAIT_SEC);
		poll_n(1);
	}
}

/* ---- in-process RPC ---- */

struct rpc_res {
	bool done;
	bool is_error;
	json_t *resp;
};

static void rpc_cpl(void *ctx, const json_t *response, bool is_error)
{
	struct rpc_res *r = ctx;

	r->is_error = is_error;
	r->resp = response ? json_deep_copy(response) : NULL;
	r->done = true;
}

static json_t *rpc(const char *method, json_t *params, bool *is_error)
{
	struct rpc_res r = { 0 };

	assert_int_equal(sl_rpc_call_local(method, params, rpc_cpl, &r), 0);
	json_decref(params);
	poll_until(&r.done);
	*is_error = r.is_error;
	return r.resp;
}

/* Create; returns the bdev name the RPC answered (static buffer). */
static const char *create_ok(json_t *params)
{
	static char name[64];
	bool err;
	json_t *res = rpc("bdev_malloc_create", params, &err);

	if (err)
		fail_msg("bdev_malloc_create failed: %s",
			 json_string_value(json_object_get(res, "message")));
	assert_true(json_is_string(res));
	snprintf(name, sizeof(name), "%s", json_string_value(res));
	json_decref(res);
	return name;
}

static void rpc_err(const char *method, json_t *params, int code, const char *want)
{
	bool err;
	json_t *res = rpc(method, params, &err);
	const char *msg = json_string_value(json_object_get(res, "message"));

	if (!err || !msg || !strstr(msg, want))
		fail_msg("%s: expected an error with '%s', got %s", method, want,
			 msg ? msg : "success");
	assert_int_equal(json_integer_value(json_object_get(res, "code")), code);
	json_decref(res);
}

static void delete_ok(const char *name)
{
	bool err;
	json_t *res = rpc("bdev_malloc_delete", json_pack("{s:s}", "name", name), &err);

	assert_false(err);
	json_decref(res);
	assert_null(sl_bdev_get_by_name(name));
}

/* ---- user side ---- */

struct ctx {
	int done, ok, failed;
	bool removed;
	bool in_submit;
	int cb_in_submit;
};

static void io_done(struct sl_bdev_io *io, bool success, void *arg)
{
	struct ctx *c = arg;

	if (c->in_submit)
		c->cb_in_submit++;
	c->done++;
	if (success)
		c->ok++;
	else
		c->failed++;
	sl_bdev_free_io(io);
}

static void event_cb(enum sl_bdev_event_type type, struct sl_bdev *bdev, void *arg)
{
	struct ctx *c = arg;

	(void)bdev;
	if (type == SL_BDEV_EVENT_REMOVE)
		c->removed = true;
}

/* Run one submission and wait for its completion; returns success. */
#define RUN_IO(c, call)                                                                            \
	({                                                                                         \
		int _want = (c)->done + 1, _rc;                                                    \
		(c)->in_submit = true;                                                             \
		_rc = (call);                                                                      \
		(c)->in_submit = false;                                                            \
		assert_int_equal(_rc, 0);                                                          \
		assert_int_equal((c)->done, _want - 1); /* not completed inside the call */        \
		while ((c)->done < _want)                                                          \
			poll_n(1);                                                                 \
		(c)->failed == 0;                                                                  \
	})

/* ---- tests ---- */

static void test_create_bad_input(void **state)
{
	const char *name;

	(void)state;
	rpc_err("bdev_malloc_create", json_pack("{s:i, s:i}", "num_blocks", 8, "block_size", 1000),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "block_size 1000 is not a power of two >= 512");
	rpc_err("bdev_malloc_create", json_pack("{s:i, s:i}", "num_blocks", 8, "block_size", 256),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "block_size 256");
	rpc_err("bdev_malloc_create", json_pack("{s:i, s:i}", "num_blocks", 8, "block_size", 0),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "block_size 0");
	rpc_err("bdev_malloc_create", json_pack("{s:i, s:i}", "num_blocks", 0, "block_size", 512),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "num_blocks must be greater than 0");
	rpc_err("bdev_malloc_create", json_pack("{s:i, s:i}", "num_blocks", -1, "block_size", 512),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "'num_blocks'");
	rpc_err("bdev_malloc_create", json_pack("{s:i}", "num_blocks", 8),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "missing required parameter 'block_size'");
	rpc_err("bdev_malloc_create",
		json_pack("{s:I, s:i}", "num_blocks", (json_int_t)1 << 53, "block_size", 4096),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "too large");
	rpc_err("bdev_malloc_create",
		json_pack("{s:i, s:i, s:s}", "num_blocks", 8, "block_size", 512, "uuid", "nope"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "invalid uuid 'nope'");
	rpc_err("bdev_malloc_create",
		json_pack("{s:i, s:i, s:s}", "num_blocks", 8, "block_size", 512, "name", ""),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "name must not be empty");
	/* More DMA memory than the environment has: a clear -ENOMEM. */
	rpc_err("bdev_malloc_create",
		json_pack("{s:I, s:i}", "num_blocks", (json_int_t)1 << 30, "block_size", 4096),
		-ENOMEM, "4194304 MiB of DMA memory");

	/* SPDK's metadata / DIF fields: accepted when they mean "none". */
	rpc_err("bdev_malloc_create",
		json_pack("{s:i, s:i, s:i}", "num_blocks", 8, "block_size", 512, "md_size", 8),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "metadata and DIF are not supported");
	rpc_err("bdev_malloc_create",
		json_pack("{s:i, s:i, s:i}", "num_blocks", 8, "block_size", 512, "dif_type", 1),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "metadata and DIF are not supported");
	rpc_err("bdev_malloc_create",
		json_pack("{s:i, s:i, s:i}", "num_blocks", 8, "block_size", 4096,
			  "physical_block_size", 512),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "physical_block_size 512 is not a power of two");
	name = create_ok(json_pack(
		"{s:s, s:i, s:i, s:i, s:i, s:b, s:i, s:b, s:i, s:i}", "name", "Spdk", "num_blocks",
		8, "block_size", 512, "physical_block_size", 4096, "md_size", 0, "md_interleave", 0,
		"dif_type", 0, "dif_is_head_of_md", 0, "dif_pi_format", 0, "numa_id", -1));
	assert_string_equal(name, "Spdk");
	delete_ok("Spdk");

	/* Default names count up; failed creates above used none. */
	name = create_ok(json_pack("{s:i, s:i}", "num_blocks", 8, "block_size", 512));
	assert_string_equal(name, "Malloc0");
	name = create_ok(json_pack("{s:i, s:i}", "num_blocks", 8, "block_size", 512));
	assert_string_equal(name, "Malloc1");
	rpc_err("bdev_malloc_create",
		json_pack("{s:i, s:i, s:s}", "num_blocks", 8, "block_size", 512, "name", "Malloc0"),
		-EEXIST, "bdev 'Malloc0' already exists");
	/* A taken name is skipped. */
	create_ok(json_pack("{s:i, s:i, s:s}", "num_blocks", 8, "block_size", 512, "name",
			    "Malloc2"));
	name = create_ok(json_pack("{s:i, s:i}", "num_blocks", 8, "block_size", 512));
	assert_string_equal(name, "Malloc3");
	for (int i = 0; i < 4; i++) {
		char n[16];

		snprintf(n, sizeof(n), "Malloc%d", i);
		delete_ok(n);
	}
	rpc_err("bdev_malloc_delete", json_pack("{s:s}", "name", "Malloc0"), -ENODEV,
		"no malloc bdev named 'Malloc0'");
	rpc_err("bdev_malloc_delete", json_pack("{}"), SL_JSONRPC_ERROR_INVALID_PARAMS,
		"missing required parameter 'name'");
}

static void test_data_path(void **state)
{
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	struct ctx c = { 0 };
	const uint32_t bs = 4096;
	char *wbuf = malloc(16 * bs), *rbuf = malloc(16 * bs), *zero = calloc(1, 16 * bs);
	struct iovec wiov[3], riov[4];
	struct sl_bdev *bdev;

	(void)state;
	create_ok(json_pack("{s:s, s:i, s:i, s:s, s:i}", "name", "Md", "num_blocks", 64,
			    "block_size", bs, "uuid", "11111111-2222-4333-8444-555555555555",
			    "optimal_io_boundary", 4));
	bdev = sl_bdev_get_by_name("Md");
	assert_non_null(bdev);
	assert_int_equal(sl_bdev_get_block_size(bdev), bs);
	assert_int_equal(sl_bdev_get_num_blocks(bdev), 64);
	assert_int_equal(sl_bdev_get_optimal_io_boundary(bdev), 4);
	{
		char u[SL_UUID_STRING_LEN];

		sl_uuid_fmt(u, sizeof(u), sl_bdev_get_uuid(bdev));
		assert_string_equal(u, "11111111-2222-4333-8444-555555555555");
	}
	assert_false(sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_NVME_IO));
	assert_true(sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_UNMAP));

	assert_int_equal(sl_bdev_open_ext("Md", true, event_cb, &c, &desc), 0);
	ch = sl_bdev_get_io_channel(desc);
	assert_non_null(ch);

	/* A fresh disk reads zeroes. */
	memset(rbuf, 0xee, 16 * bs);
	assert_true(RUN_IO(&c, sl_bdev_read_blocks(desc, ch, rbuf, 0, 16, io_done, &c)));
	assert_memory_equal(rbuf, zero, 16 * bs);

	/* 10 blocks from block 3 (crossing two boundaries) written from 3 uneven iovecs. */
	for (size_t i = 0; i < 16 * bs; i++)
		wbuf[i] = (char)(i * 7 + i / bs);
	wiov[0] = (struct iovec){ wbuf, 1000 };
	wiov[1] = (struct iovec){ wbuf + 1000, 5 * bs - 1000 };
	wiov[2] = (struct iovec){ wbuf + 5 * bs, 5 * bs };
	assert_true(RUN_IO(&c, sl_bdev_writev_blocks(desc, ch, wiov, 3, 3, 10, io_done, &c)));
	riov[0] = (struct iovec){ rbuf, bs };
	riov[1] = (struct iovec){ rbuf + bs, 3 };
	riov[2] = (struct iovec){ rbuf + bs + 3, 8 * bs - 3 };
	riov[3] = (struct iovec){ rbuf + 9 * bs, bs };
	memset(rbuf, 0, 16 * bs);
	assert_true(RUN_IO(&c, sl_bdev_readv_blocks(desc, ch, riov, 4, 3, 10, io_done, &c)));
	assert_memory_equal(rbuf, wbuf, 10 * bs);
	/* Neighbours untouched. */
	assert_true(RUN_IO(&c, sl_bdev_read_blocks(desc, ch, rbuf, 2, 1, io_done, &c)));
	assert_memory_equal(rbuf, zero, bs);
	assert_true(RUN_IO(&c, sl_bdev_read_blocks(desc, ch, rbuf, 13, 1, io_done, &c)));
	assert_memory_equal(rbuf, zero, bs);

	/* unmap and write_zeroes read back as zeroes, only in their range. */
	assert_true(RUN_IO(&c, sl_bdev_unmap_blocks(desc, ch, 4, 2, io_done, &c)));
	assert_true(RUN_IO(&c, sl_bdev_write_zeroes_blocks(desc, ch, 10, 3, io_done, &c)));
	assert_true(RUN_IO(&c, sl_bdev_read_blocks(desc, ch, rbuf, 3, 10, io_done, &c)));
	assert_memory_equal(rbuf, wbuf, bs);
	assert_memory_equal(rbuf + bs, zero, 2 * bs);
	assert_memory_equal(rbuf + 3 * bs, wbuf + 3 * bs, 4 * bs);
	assert_memory_equal(rbuf + 7 * bs, zero, 3 * bs);

	/* Compare is emulated by the core over our reads. */
	riov[0] = (struct iovec){ wbuf, bs };
	assert_true(RUN_IO(&c, sl_bdev_comparev_blocks(desc, ch, riov, 1, 3, 1, io_done, &c)));
	riov[0] = (struct iovec){ wbuf + bs, bs };
	assert_false(RUN_IO(&c, sl_bdev_comparev_blocks(desc, ch, riov, 1, 3, 1, io_done, &c)));
	c.failed = 0;

	assert_true(RUN_IO(&c, sl_bdev_flush_blocks(desc, ch, 0, 64, io_done, &c)));
	assert_true(RUN_IO(&c, sl_bdev_reset(desc, ch, io_done, &c)));
	assert_int_equal(c.cb_in_submit, 0);

	/* Many in flight at once complete in one batch, all successfully. */
	c = (struct ctx){ 0 };
	for (int i = 0; i < 64; i++)
		assert_int_equal(sl_bdev_read_blocks(desc, ch, rbuf + (i % 16) * bs, (uint64_t)i, 1,
						     io_done, &c),
				 0);
	assert_int_equal(c.done, 0);
	poll_n(3);
	assert_int_equal(c.ok, 64);

	sl_put_io_channel(ch);
	sl_bdev_close(desc);
	poll_n(3);
	delete_ok("Md");
	free(wbuf);
	free(rbuf);
	free(zero);
}

static void test_delete_while_open(void **state)
{
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	struct ctx c = { 0 };
	struct rpc_res r = { 0 };
	char buf[512];
	json_t *p;

	(void)state;
	create_ok(json_pack("{s:s, s:i, s:i}", "name", "Mo", "num_blocks", 8, "block_size", 512));
	assert_int_equal(sl_bdev_open_ext("Mo", true, event_cb, &c, &desc), 0);
	ch = sl_bdev_get_io_channel(desc);
	/* An I/O in flight when the delete arrives still completes. */
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 0, 1, io_done, &c), 0);
	p = json_pack("{s:s}", "name", "Mo");
	assert_int_equal(sl_rpc_call_local("bdev_malloc_delete", p, rpc_cpl, &r), 0);
	json_decref(p);
	poll_n(3);
	assert_true(c.removed);
	assert_int_equal(c.done, 1);
	assert_false(r.done); /* answered once the user closed */
	/* New I/O is refused; a second delete is told it is already going. */
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, 0, 1, io_done, &c), -ENODEV);
	rpc_err("bdev_malloc_delete", json_pack("{s:s}", "name", "Mo"), -EBUSY, "busy");
	sl_put_io_channel(ch);
	sl_bdev_close(desc);
	poll_until(&r.done);
	assert_false(r.is_error);
	json_decref(r.resp);
	assert_null(sl_bdev_get_by_name("Mo"));
}

static void test_config_json(void **state)
{
	struct sl_subsystem *sub = sl_subsystem_find("bdev");
	json_t *config, *entry, *want = NULL;
	size_t i;

	(void)state;
	create_ok(json_pack("{s:s, s:i, s:i, s:s, s:i}", "name", "Mc", "num_blocks", 100,
			    "block_size", 1024, "uuid", "aaaaaaaa-2222-4333-8444-555555555555",
			    "optimal_io_boundary", 8));
	config = json_array();
	sub->write_config_json(config);
	json_array_foreach(config, i, entry) {
		if (!strcmp(json_string_value(json_object_get(entry, "method")),
			    "bdev_malloc_create"))
			want = json_object_get(entry, "params");
	}
	assert_non_null(want);
	assert_string_equal(json_string_value(json_object_get(want, "name")), "Mc");
	assert_string_equal(json_string_value(json_object_get(want, "uuid")),
			    "aaaaaaaa-2222-4333-8444-555555555555");
	assert_int_equal(json_integer_value(json_object_get(want, "num_blocks")), 100);
	assert_int_equal(json_integer_value(json_object_get(want, "block_size")), 1024);
	assert_int_equal(json_integer_value(json_object_get(want, "optimal_io_boundary")), 8);
	/* Its params recreate it exactly. */
	want = json_deep_copy(want);
	json_decref(config);
	delete_ok("Mc");
	assert_string_equal(create_ok(want), "Mc");
	assert_int_equal(sl_bdev_get_optimal_io_boundary(sl_bdev_get_by_name("Mc")), 8);
	delete_ok("Mc");
}

/* ---- setup ---- */

static int g_started = 1;
static void started(int rc, void *arg)
{
	(void)arg;
	g_started = rc;
}

static int setup(void **state)
{
	struct sl_env_opts o;
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	(void)state;
	sl_env_opts_init(&o);
	o.name = "bdev_malloc_ut";
	o.no_huge = true;
	o.quiet = true;
	o.mem_size_mb = 128;
	if (sl_env_init(&o))
		return -1;
	sl_thread_lib_init(NULL, 0);
	g_thread = sl_thread_create("app", -1);
	sl_set_thread(g_thread);
	sl_subsystems_start(NULL, false, started, NULL);
	while (g_started == 1 && !ut_expired(deadline))
		poll_n(1);
	return g_started;
}

static bool g_stopped;
static void stopped(void *arg)
{
	(void)arg;
	g_stopped = true;
}

static int teardown(void **state)
{
	(void)state;
	sl_subsystems_stop(stopped, NULL);
	poll_until(&g_stopped);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_bad_input),
		cmocka_unit_test(test_data_path),
		cmocka_unit_test(test_delete_while_open),
		cmocka_unit_test(test_config_json),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
