/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * null bdev over the real bdev core: create/delete RPCs and bad input,
 * reads that leave the buffer as it was, every type succeeding, completions
 * batched per channel (none inside the submit call, a whole batch in one
 * poll), delete while open, save_config. One sl_thread polled by hand.
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

static void rpc_ok(const char *method, json_t *params)
{
	bool err;
	json_t *res = rpc(method, params, &err);

	if (err)
		fail_msg("%s failed: %s", method,
			 json_string_value(json_object_get(res, "message")));
	json_decref(res);
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

struct ctx {
	int done, ok;
	bool removed;
};

static void io_done(struct sl_bdev_io *io, bool success, void *arg)
{
	struct ctx *c = arg;

	c->done++;
	c->ok += success;
	sl_bdev_free_io(io);
}

static void event_cb(enum sl_bdev_event_type type, struct sl_bdev *bdev, void *arg)
{
	struct ctx *c = arg;

	(void)bdev;
	if (type == SL_BDEV_EVENT_REMOVE)
		c->removed = true;
}

static void test_create_bad_input(void **state)
{
	bool err;
	json_t *res;

	(void)state;
	rpc_err("bdev_null_create",
		json_pack("{s:s, s:i, s:i}", "name", "N", "num_blocks", 8, "block_size", 1000),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "block_size 1000 is not a power of two >= 512");
	rpc_err("bdev_null_create",
		json_pack("{s:s, s:i, s:i}", "name", "N", "num_blocks", 8, "block_size", 256),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "block_size 256");
	rpc_err("bdev_null_create",
		json_pack("{s:s, s:i, s:i}", "name", "N", "num_blocks", 0, "block_size", 512),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "num_blocks must be greater than 0");
	rpc_err("bdev_null_create", json_pack("{s:i, s:i}", "num_blocks", 8, "block_size", 512),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "missing required parameter 'name'");
	rpc_err("bdev_null_create",
		json_pack("{s:s, s:i, s:i}", "name", "", "num_blocks", 8, "block_size", 512),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "name must not be empty");
	rpc_err("bdev_null_create",
		json_pack("{s:s, s:I, s:i}", "name", "N", "num_blocks", (json_int_t)1 << 62,
			  "block_size", 4096),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "too large");
	rpc_err("bdev_null_create",
		json_pack("{s:s, s:i, s:i, s:s}", "name", "N", "num_blocks", 8, "block_size", 512,
			  "uuid", "zz"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "invalid uuid 'zz'");
	res = rpc("bdev_null_create",
		  json_pack("{s:s, s:i, s:i}", "name", "N", "num_blocks", 8, "block_size", 512),
		  &err);
	assert_false(err);
	assert_string_equal(json_string_value(res), "N");
	json_decref(res);
	rpc_err("bdev_null_create",
		json_pack("{s:s, s:i, s:i}", "name", "N", "num_blocks", 8, "block_size", 512),
		-EEXIST, "bdev 'N' already exists");
	rpc_ok("bdev_null_delete", json_pack("{s:s}", "name", "N"));
	rpc_err("bdev_null_delete", json_pack("{s:s}", "name", "N"), -ENODEV,
		"no null bdev named 'N'");
}

static void test_io(void **state)
{
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	struct ctx c = { 0 };
	char *buf = malloc(64 * 4096), *copy = malloc(64 * 4096);
	struct sl_bdev *bdev;
	int n = 0;

	(void)state;
	rpc_ok("bdev_null_create",
	       json_pack("{s:s, s:I, s:i, s:s}", "name", "Nio", "num_blocks", (json_int_t)1 << 40,
			 "block_size", 4096, "uuid", "99999999-2222-4333-8444-555555555555"));
	bdev = sl_bdev_get_by_name("Nio");
	assert_non_null(bdev);
	assert_int_equal(sl_bdev_get_num_blocks(bdev), (uint64_t)1 << 40); /* 4 PiB, no memory */
	assert_int_equal(sl_bdev_open_ext("Nio", true, event_cb, &c, &desc), 0);
	ch = sl_bdev_get_io_channel(desc);

	for (size_t i = 0; i < 64 * 4096; i++)
		buf[i] = (char)(i * 13);
	memcpy(copy, buf, 64 * 4096);
	/* A batch of every type: none completes inside its submit call... */
	for (int i = 0; i < 64; i++) {
		assert_int_equal(sl_bdev_read_blocks(desc, ch, buf + i * 4096, (uint64_t)i * 1000,
						     1, io_done, &c),
				 0);
		n++;
	}
	assert_int_equal(
		sl_bdev_read_blocks(desc, ch, buf, ((uint64_t)1 << 40) - 64, 64, io_done, &c), 0);
	assert_int_equal(sl_bdev_write_blocks(desc, ch, buf, 5, 64, io_done, &c), 0);
	assert_int_equal(sl_bdev_unmap_blocks(desc, ch, 0, (uint64_t)1 << 40, io_done, &c), 0);
	assert_int_equal(sl_bdev_write_zeroes_blocks(desc, ch, 7, 3, io_done, &c), 0);
	assert_int_equal(sl_bdev_flush_blocks(desc, ch, 0, 8, io_done, &c), 0);
	assert_int_equal(sl_bdev_reset(desc, ch, io_done, &c), 0);
	n += 6;
	assert_int_equal(c.done, 0);
	/* ...and the channel's poller completes the whole batch at once. */
	poll_n(1);
	assert_int_equal(c.done, n);
	assert_int_equal(c.ok, n);
	/* Reads left the buffer exactly as it was. */
	assert_memory_equal(buf, copy, 64 * 4096);
	/* The range is still checked by the core. */
	assert_int_equal(sl_bdev_read_blocks(desc, ch, buf, (uint64_t)1 << 40, 1, io_done, &c),
			 -EINVAL);

	/* Delete while open: the user is told, closes, then the delete is answered. */
	{
		struct rpc_res r = { 0 };
		json_t *p = json_pack("{s:s}", "name", "Nio");

		assert_int_equal(sl_rpc_call_local("bdev_null_delete", p, rpc_cpl, &r), 0);
		json_decref(p);
		poll_n(3);
		assert_true(c.removed);
		assert_false(r.done);
		sl_put_io_channel(ch);
		sl_bdev_close(desc);
		poll_until(&r.done);
		assert_false(r.is_error);
		json_decref(r.resp);
	}
	assert_null(sl_bdev_get_by_name("Nio"));
	free(buf);
	free(copy);
}

static void test_config_json(void **state)
{
	struct sl_subsystem *sub = sl_subsystem_find("bdev");
	json_t *config, *entry, *p = NULL;
	size_t i;

	(void)state;
	rpc_ok("bdev_null_create",
	       json_pack("{s:s, s:i, s:i, s:s}", "name", "Nc", "num_blocks", 77, "block_size", 2048,
			 "uuid", "bbbbbbbb-2222-4333-8444-555555555555"));
	config = json_array();
	sub->write_config_json(config);
	json_array_foreach(config, i, entry)
		if (!strcmp(json_string_value(json_object_get(entry, "method")),
			    "bdev_null_create"))
			p = json_object_get(entry, "params");
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "Nc");
	assert_string_equal(json_string_value(json_object_get(p, "uuid")),
			    "bbbbbbbb-2222-4333-8444-555555555555");
	assert_int_equal(json_integer_value(json_object_get(p, "num_blocks")), 77);
	assert_int_equal(json_integer_value(json_object_get(p, "block_size")), 2048);
	p = json_deep_copy(p);
	json_decref(config);
	rpc_ok("bdev_null_delete", json_pack("{s:s}", "name", "Nc"));
	rpc_ok("bdev_null_create", p);
	assert_int_equal(sl_bdev_get_num_blocks(sl_bdev_get_by_name("Nc")), 77);
	rpc_ok("bdev_null_delete", json_pack("{s:s}", "name", "Nc"));
}

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
	o.name = "bdev_null_ut";
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
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_config_json),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
