/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * error bdev over a real malloc bdev and the real bdev core: exactly N
 * injected failures counted across two threads, "all", the default num,
 * "pending" released by reset / clear / delete, "nomem" retried by the core,
 * hot-remove of the base with I/O held, create deferred until the base
 * appears (start-up config), bad RPC input. Two sl_threads polled by hand,
 * RPCs called in-process.
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

#define NTHREADS 2
#define BLK 512

static struct sl_thread *g_threads[NTHREADS];

static void poll_all(int rounds)
{
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < NTHREADS; i++)
			sl_thread_poll(g_threads[i], 0, 0);
	sl_set_thread(g_threads[0]);
}

/* Poll every thread until expr holds (or fail after the deadline). */
#define WAIT_UNTIL(expr)                                                                           \
	do {                                                                                       \
		uint64_t _dl = ut_deadline(UT_WAIT_SEC);                                           \
		while (!(expr)) {                                                                  \
			if (ut_expired(_dl))                                                       \
				fail_msg("not reached within %d s: %s", UT_WAIT_SEC, #expr);       \
			poll_all(1);                                                               \
		}                                                                                  \
	} while (0)

static void poll_until(const bool *flag)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	while (!*flag) {
		if (ut_expired(deadline))
			fail_msg("condition not reached within %d s", UT_WAIT_SEC);
		poll_all(1);
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

/* Call method on the app thread (params stolen); returns the result or error object. */
static json_t *rpc(const char *method, json_t *params, bool *is_error)
{
	struct rpc_res r = { 0 };

	sl_set_thread(g_threads[0]);
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

/* Expect an error whose message contains want. */
static void rpc_err(const char *method, json_t *params, const char *want)
{
	bool err;
	json_t *res = rpc(method, params, &err);
	const char *msg = json_string_value(json_object_get(res, "message"));

	if (!err || !msg || !strstr(msg, want))
		fail_msg("%s: expected an error with '%s', got %s", method, want,
			 msg ? msg : "success");
	json_decref(res);
}

static void inject(const char *name, const char *io_type, const char *error_type, int num)
{
	json_t *p = json_pack("{s:s, s:s, s:s}", "name", name, "io_type", io_type, "error_type",
			      error_type);

	if (num >= 0)
		json_object_set_new(p, "num", json_integer(num));
	rpc_ok("bdev_error_inject_error", p);
}

/* ---- user side ---- */

struct ctx {
	int done, ok, failed;
	bool removed;
	bool in_submit; /* a callback must never run while this is set */
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

struct user {
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch[NTHREADS];
	struct ctx c;
	char *buf;
};

static void user_open(struct user *u, const char *name)
{
	memset(u, 0, sizeof(*u));
	sl_set_thread(g_threads[0]);
	assert_int_equal(sl_bdev_open_ext(name, true, event_cb, &u->c, &u->desc), 0);
	for (int i = 0; i < NTHREADS; i++) {
		sl_set_thread(g_threads[i]);
		u->ch[i] = sl_bdev_get_io_channel(u->desc);
		assert_non_null(u->ch[i]);
	}
	sl_set_thread(g_threads[0]);
	u->buf = malloc(8 * BLK);
	memset(u->buf, 0x5a, 8 * BLK);
}

static void user_close(struct user *u)
{
	for (int i = 0; i < NTHREADS; i++) {
		sl_set_thread(g_threads[i]);
		sl_put_io_channel(u->ch[i]);
	}
	sl_set_thread(g_threads[0]);
	sl_bdev_close(u->desc);
	poll_all(3);
	free(u->buf);
}

static void submit(struct user *u, int t, enum sl_bdev_io_type type, uint64_t off)
{
	int rc = -1;

	sl_set_thread(g_threads[t]);
	u->c.in_submit = true;
	switch (type) {
	case SL_BDEV_IO_TYPE_READ:
		rc = sl_bdev_read_blocks(u->desc, u->ch[t], u->buf, off, 1, io_done, &u->c);
		break;
	case SL_BDEV_IO_TYPE_WRITE:
		rc = sl_bdev_write_blocks(u->desc, u->ch[t], u->buf, off, 1, io_done, &u->c);
		break;
	case SL_BDEV_IO_TYPE_UNMAP:
		rc = sl_bdev_unmap_blocks(u->desc, u->ch[t], off, 1, io_done, &u->c);
		break;
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = sl_bdev_write_zeroes_blocks(u->desc, u->ch[t], off, 1, io_done, &u->c);
		break;
	case SL_BDEV_IO_TYPE_FLUSH:
		rc = sl_bdev_flush_blocks(u->desc, u->ch[t], off, 1, io_done, &u->c);
		break;
	case SL_BDEV_IO_TYPE_RESET:
		rc = sl_bdev_reset(u->desc, u->ch[t], io_done, &u->c);
		break;
	default:
		break;
	}
	u->c.in_submit = false;
	assert_int_equal(rc, 0);
	sl_set_thread(g_threads[0]);
}

struct stat_wait {
	bool done;
	struct sl_bdev_io_stat stat;
};

static void stat_cb(struct sl_bdev *bdev, struct sl_bdev_io_stat *stat, void *arg, int rc)
{
	struct stat_wait *w = arg;

	(void)bdev;
	(void)stat;
	assert_int_equal(rc, 0);
	w->done = true;
}

static struct sl_bdev_io_stat device_stat(const char *name)
{
	struct stat_wait w = { 0 };
	struct sl_bdev *bdev = sl_bdev_get_by_name(name);

	assert_non_null(bdev);
	sl_set_thread(g_threads[0]);
	sl_bdev_get_device_stat(bdev, &w.stat, stat_cb, &w);
	poll_until(&w.done);
	return w.stat;
}

static void create_stack(const char *base)
{
	rpc_ok("bdev_malloc_create",
	       json_pack("{s:s, s:i, s:i}", "name", base, "num_blocks", 256, "block_size", BLK));
	rpc_ok("bdev_error_create", json_pack("{s:s}", "base_name", base));
	poll_all(3);
	assert_non_null(sl_bdev_get_by_name(base));
}

static void delete_stack(const char *base)
{
	char ee[64];

	snprintf(ee, sizeof(ee), "EE_%s", base);
	rpc_ok("bdev_error_delete", json_pack("{s:s}", "name", ee));
	assert_null(sl_bdev_get_by_name(ee));
	rpc_ok("bdev_malloc_delete", json_pack("{s:s}", "name", base));
	assert_null(sl_bdev_get_by_name(base));
}

/* ---- tests ---- */

static void test_exactly_n_across_threads(void **state)
{
	struct sl_bdev_io_stat st;
	struct user u;

	(void)state;
	create_stack("M0");
	user_open(&u, "EE_M0");
	inject("EE_M0", "read", "failure", 5);
	/* 40 reads, interleaved over two threads, all in flight at once. */
	for (int i = 0; i < 20; i++)
		for (int t = 0; t < NTHREADS; t++)
			submit(&u, t, SL_BDEV_IO_TYPE_READ, (uint64_t)i);
	while (u.c.done < 40)
		poll_all(1);
	assert_int_equal(u.c.failed, 5);
	assert_int_equal(u.c.ok, 35);
	assert_int_equal(u.c.cb_in_submit, 0);
	/* The failed ones never reached the base. */
	st = device_stat("M0");
	assert_int_equal(st.num_read_ops, 35);
	/* Writes were not affected, and the budget is spent. */
	u.c = (struct ctx){ 0 };
	submit(&u, 0, SL_BDEV_IO_TYPE_WRITE, 0);
	submit(&u, 1, SL_BDEV_IO_TYPE_READ, 0);
	while (u.c.done < 2)
		poll_all(1);
	assert_int_equal(u.c.ok, 2);

	/* num absent: one. */
	inject("EE_M0", "write", "failure", -1);
	u.c = (struct ctx){ 0 };
	for (int i = 0; i < 4; i++)
		submit(&u, i % NTHREADS, SL_BDEV_IO_TYPE_WRITE, (uint64_t)i);
	while (u.c.done < 4)
		poll_all(1);
	assert_int_equal(u.c.failed, 1);

	/* "all": each type gets its own budget of N. */
	inject("EE_M0", "all", "failure", 2);
	u.c = (struct ctx){ 0 };
	for (int i = 0; i < 3; i++) {
		submit(&u, 0, SL_BDEV_IO_TYPE_READ, 0);
		submit(&u, 1, SL_BDEV_IO_TYPE_WRITE, 1);
		submit(&u, 0, SL_BDEV_IO_TYPE_UNMAP, 2);
		submit(&u, 1, SL_BDEV_IO_TYPE_FLUSH, 0);
		submit(&u, 0, SL_BDEV_IO_TYPE_WRITE_ZEROES, 3);
	}
	while (u.c.done < 15)
		poll_all(1);
	assert_int_equal(u.c.failed, 10);
	assert_int_equal(u.c.ok, 5);
	assert_int_equal(u.c.cb_in_submit, 0);

	/* "clear" drops what is left. */
	inject("EE_M0", "unmap", "failure", 100);
	inject("EE_M0", "clear", "failure", -1);
	u.c = (struct ctx){ 0 };
	submit(&u, 0, SL_BDEV_IO_TYPE_UNMAP, 0);
	while (u.c.done < 1)
		poll_all(1);
	assert_int_equal(u.c.ok, 1);

	user_close(&u);
	delete_stack("M0");
}

static void test_pending_reset_clear(void **state)
{
	struct user u;

	(void)state;
	create_stack("M1");
	user_open(&u, "EE_M1");

	/* Three writes held, two go through. */
	inject("EE_M1", "write", "pending", 3);
	for (int i = 0; i < 5; i++)
		submit(&u, i % NTHREADS, SL_BDEV_IO_TYPE_WRITE, (uint64_t)i);
	poll_all(20);
	assert_int_equal(u.c.done, 2);
	assert_int_equal(u.c.ok, 2);
	/* A reset fails the held ones (on both threads), then succeeds itself. */
	submit(&u, 1, SL_BDEV_IO_TYPE_RESET, 0);
	while (u.c.done < 6)
		poll_all(1);
	assert_int_equal(u.c.failed, 3);
	assert_int_equal(u.c.ok, 3);

	/* "clear" releases held I/O too. */
	u.c = (struct ctx){ 0 };
	inject("EE_M1", "read", "pending", 2);
	submit(&u, 0, SL_BDEV_IO_TYPE_READ, 0);
	submit(&u, 1, SL_BDEV_IO_TYPE_READ, 0);
	poll_all(20);
	assert_int_equal(u.c.done, 0);
	inject("EE_M1", "clear", "pending", -1);
	poll_all(5);
	assert_int_equal(u.c.done, 2);
	assert_int_equal(u.c.failed, 2);

	/* An injected reset failure. */
	u.c = (struct ctx){ 0 };
	inject("EE_M1", "reset", "failure", 1);
	submit(&u, 0, SL_BDEV_IO_TYPE_RESET, 0);
	submit(&u, 0, SL_BDEV_IO_TYPE_RESET, 0);
	while (u.c.done < 2)
		poll_all(1);
	assert_int_equal(u.c.failed, 1);

	user_close(&u);
	delete_stack("M1");
}

static void test_nomem_retried(void **state)
{
	struct sl_bdev_io_stat st;
	struct user u;

	(void)state;
	create_stack("M2");
	user_open(&u, "EE_M2");
	inject("EE_M2", "read", "nomem", 3);
	submit(&u, 0, SL_BDEV_IO_TYPE_READ, 0);
	while (u.c.done < 1)
		poll_all(1);
	assert_int_equal(u.c.ok, 1);
	st = device_stat("EE_M2");
	assert_int_equal(st.num_nomem_retries, 3);
	assert_int_equal(st.num_errors, 0);
	user_close(&u);
	delete_stack("M2");
}

static void test_delete_with_held_io(void **state)
{
	struct sl_bdev_desc *desc;
	struct user u;
	bool err;
	json_t *res;

	(void)state;
	/* bdev_error_delete while a user has I/O held: the I/O fails, the user closes. */
	create_stack("M3");
	user_open(&u, "EE_M3");
	inject("EE_M3", "write", "pending", 1);
	submit(&u, 1, SL_BDEV_IO_TYPE_WRITE, 0);
	poll_all(5);
	assert_int_equal(u.c.done, 0);
	{
		struct rpc_res r = { 0 };
		json_t *p = json_pack("{s:s}", "name", "EE_M3");

		assert_int_equal(sl_rpc_call_local("bdev_error_delete", p, rpc_cpl, &r), 0);
		json_decref(p);
		/* The user is told; its held write fails (the user waits for it). */
		WAIT_UNTIL(u.c.removed && u.c.failed == 1);
		assert_false(r.done); /* answered only once the user closed */
		user_close(&u);
		poll_until(&r.done);
		assert_false(r.is_error);
		json_decref(r.resp);
	}
	assert_null(sl_bdev_get_by_name("EE_M3"));
	/* The claim is released: the base opens for writing again. */
	sl_set_thread(g_threads[0]);
	assert_int_equal(sl_bdev_open_ext("M3", true, event_cb, &u.c, &desc), 0);
	sl_bdev_close(desc);
	rpc_ok("bdev_malloc_delete", json_pack("{s:s}", "name", "M3"));

	/* Hot-remove of the base: EE_ goes away by itself, held I/O fails. */
	create_stack("M4");
	user_open(&u, "EE_M4");
	inject("EE_M4", "read", "pending", 1);
	submit(&u, 0, SL_BDEV_IO_TYPE_READ, 0);
	submit(&u, 1, SL_BDEV_IO_TYPE_WRITE, 0);
	poll_all(5);
	assert_int_equal(u.c.done, 1);
	{
		struct rpc_res r = { 0 };
		json_t *p = json_pack("{s:s}", "name", "M4");

		assert_int_equal(sl_rpc_call_local("bdev_malloc_delete", p, rpc_cpl, &r), 0);
		json_decref(p);
		WAIT_UNTIL(u.c.removed && u.c.done == 2);
		assert_int_equal(u.c.failed, 1);
		/* I/O after the remove notice is refused, nothing crashes. */
		sl_set_thread(g_threads[1]);
		assert_int_equal(sl_bdev_read_blocks(u.desc, u.ch[1], u.buf, 0, 1, io_done, &u.c),
				 -ENODEV);
		user_close(&u);
		poll_until(&r.done);
		assert_false(r.is_error);
		json_decref(r.resp);
	}
	assert_null(sl_bdev_get_by_name("EE_M4"));
	assert_null(sl_bdev_get_by_name("M4"));
	res = rpc("bdev_error_delete", json_pack("{s:s}", "name", "EE_M4"), &err);
	assert_true(err);
	json_decref(res);
}

static int g_unreg_rc = 1;
static void unreg_done(void *arg, int rc)
{
	(void)arg;
	g_unreg_rc = rc;
}

/* Unregistered by someone else (the core at shutdown does that): held I/O still fails. */
static void test_unregister_by_core_with_held_io(void **state)
{
	struct user u;

	(void)state;
	create_stack("M7");
	user_open(&u, "EE_M7");
	inject("EE_M7", "read", "pending", 3);
	for (int i = 0; i < 3; i++)
		submit(&u, i % NTHREADS, SL_BDEV_IO_TYPE_READ, (uint64_t)i);
	poll_all(5);
	assert_int_equal(u.c.done, 0);
	g_unreg_rc = 1;
	sl_bdev_unregister(sl_bdev_get_by_name("EE_M7"), unreg_done, NULL);
	WAIT_UNTIL(u.c.removed && u.c.failed == 3);
	assert_int_equal(g_unreg_rc, 1);
	user_close(&u);
	WAIT_UNTIL(g_unreg_rc == 0);
	assert_null(sl_bdev_get_by_name("EE_M7"));
	rpc_ok("bdev_malloc_delete", json_pack("{s:s}", "name", "M7"));
}

static void test_deferred_create_and_config(void **state)
{
	struct sl_subsystem *sub = sl_subsystem_find("bdev");
	json_t *config, *entry;
	size_t i;
	bool found = false;

	(void)state;
	/* No sl_app_start here: this is "start-up", so a missing base is waited for. */
	assert_false(sl_app_is_init_done());
	rpc_ok("bdev_error_create", json_pack("{s:s, s:s}", "base_name", "Later", "uuid",
					      "0b0c0d0e-0000-4000-8000-000000000001"));
	assert_null(sl_bdev_get_by_name("EE_Later"));
	rpc_err("bdev_error_create", json_pack("{s:s}", "base_name", "Later"),
		"already configured");
	/* save_config keeps the waiting entry. */
	config = json_array();
	sub->write_config_json(config);
	json_array_foreach(config, i, entry) {
		json_t *p = json_object_get(entry, "params");

		if (!strcmp(json_string_value(json_object_get(entry, "method")),
			    "bdev_error_create") &&
		    !strcmp(json_string_value(json_object_get(p, "base_name")), "Later"))
			found = true;
	}
	json_decref(config);
	assert_true(found);

	rpc_ok("bdev_malloc_create",
	       json_pack("{s:s, s:i, s:i}", "name", "Later", "num_blocks", 64, "block_size", BLK));
	poll_all(3);
	assert_non_null(sl_bdev_get_by_name("EE_Later"));
	{
		char s[SL_UUID_STRING_LEN];

		sl_uuid_fmt(s, sizeof(s), sl_bdev_get_uuid(sl_bdev_get_by_name("EE_Later")));
		assert_string_equal(s, "0b0c0d0e-0000-4000-8000-000000000001");
	}
	assert_non_null(sl_bdev_get_claim(sl_bdev_get_by_name("Later")));
	delete_stack("Later");

	/* A waiting entry can be deleted too. */
	rpc_ok("bdev_error_create", json_pack("{s:s}", "base_name", "Never"));
	rpc_ok("bdev_error_delete", json_pack("{s:s}", "name", "EE_Never"));
	rpc_err("bdev_error_delete", json_pack("{s:s}", "name", "EE_Never"), "no error bdev");
}

static struct sl_bdev_module g_other_module = { .name = "other" };

static void test_bad_input(void **state)
{
	(void)state;
	create_stack("M5");
	rpc_err("bdev_error_create", json_pack("{s:s}", "base_name", "M5"), "already exists");
	rpc_err("bdev_error_create", json_pack("{s:s}", "base_name", ""), "must not be empty");
	rpc_err("bdev_error_create", json_pack("{s:s, s:s}", "base_name", "M5", "uuid", "xyz"),
		"invalid uuid");
	rpc_err("bdev_error_create", json_pack("{}"), "missing required parameter 'base_name'");
	/* A base claimed by another module is refused. */
	rpc_ok("bdev_malloc_create",
	       json_pack("{s:s, s:i, s:i}", "name", "M6", "num_blocks", 8, "block_size", BLK));
	assert_int_equal(sl_bdev_module_claim_bdev(sl_bdev_get_by_name("M6"), &g_other_module), 0);
	rpc_err("bdev_error_create", json_pack("{s:s}", "base_name", "M6"), "already claimed");
	sl_bdev_module_release_bdev(sl_bdev_get_by_name("M6"));
	rpc_ok("bdev_malloc_delete", json_pack("{s:s}", "name", "M6"));
	rpc_err("bdev_error_inject_error",
		json_pack("{s:s, s:s, s:s}", "name", "M5", "io_type", "read", "error_type",
			  "failure"),
		"no error bdev named 'M5'");
	rpc_err("bdev_error_inject_error",
		json_pack("{s:s, s:s, s:s}", "name", "EE_M5", "io_type", "bogus", "error_type",
			  "failure"),
		"unexpected io_type 'bogus'");
	rpc_err("bdev_error_inject_error",
		json_pack("{s:s, s:s, s:s}", "name", "EE_M5", "io_type", "compare", "error_type",
			  "failure"),
		"unexpected io_type 'compare'");
	rpc_err("bdev_error_inject_error",
		json_pack("{s:s, s:s, s:s}", "name", "EE_M5", "io_type", "read", "error_type",
			  "bogus"),
		"unexpected error_type 'bogus'");
	rpc_err("bdev_error_inject_error",
		json_pack("{s:s, s:s, s:s, s:i}", "name", "EE_M5", "io_type", "read", "error_type",
			  "failure", "num", -1),
		"'num' must be a non-negative integer");
	rpc_err("bdev_error_delete", json_pack("{s:s}", "name", "M5"), "no error bdev named 'M5'");
	delete_stack("M5");
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
	o.name = "bdev_error_ut";
	o.no_huge = true;
	o.quiet = true;
	o.mem_size_mb = 128;
	if (sl_env_init(&o))
		return -1;
	sl_thread_lib_init(NULL, 0);
	for (int i = 0; i < NTHREADS; i++)
		g_threads[i] = sl_thread_create(i ? "ut1" : "app", -1);
	sl_set_thread(g_threads[0]);
	sl_subsystems_start(NULL, false, started, NULL);
	while (g_started == 1 && !ut_expired(deadline))
		poll_all(1);
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
	sl_set_thread(g_threads[0]);
	sl_subsystems_stop(stopped, NULL);
	poll_until(&g_stopped);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exactly_n_across_threads),
		cmocka_unit_test(test_pending_reset_clear),
		cmocka_unit_test(test_nomem_retried),
		cmocka_unit_test(test_delete_with_held_io),
		cmocka_unit_test(test_unregister_by_core_with_held_io),
		cmocka_unit_test(test_deferred_create_and_config),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
