/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON config files: errors reported with enough context to fix them, and
 * their effect on start-up.
 *
 * Part 1 calls the loader directly (app_config_open/run/close; the methods
 * it calls answer synchronously). Part 2 goes through sl_app_start, which can
 * run once per process (the EAL initialises once): each case runs in a forked
 * child that reports its return code and log through a pipe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../ut_common.h"
#include "../../../lib/event/event_internal.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice/event.h"
#include "sluice/rpc.h"

/* ---- a subsystem and methods of our own ---- */

static struct sl_subsystem g_ut_sub = { .name = "ut_sub" };
SL_SUBSYSTEM_REGISTER(g_ut_sub)
static struct sl_subsystem g_ut_sub2 = { .name = "ut_sub2", .depends_on = { "ut_sub" } };
SL_SUBSYSTEM_REGISTER(g_ut_sub2)

#define MAX_CALLS 32
static char g_calls[MAX_CALLS][64]; /* "method:tag" in call order */
static int g_ncalls;

static long g_total_calls;

static void record_call(const char *method, const json_t *params)
{
	g_total_calls++;
	const char *tag = json_string_value(json_object_get(params, "tag"));

	if (g_ncalls < MAX_CALLS)
		snprintf(g_calls[g_ncalls++], sizeof(g_calls[0]), "%s:%s", method, tag ? tag : "");
}

static void ut_cfg_ok(struct sl_jsonrpc_request *req, const json_t *params)
{
	record_call("ok", params);
	sl_jsonrpc_send_bool(req, true);
}

static void ut_cfg_fail(struct sl_jsonrpc_request *req, const json_t *params)
{
	record_call("fail", params);
	sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS, "ut_cfg_fail says no");
}

static void ut_cfg_startup(struct sl_jsonrpc_request *req, const json_t *params)
{
	record_call("startup", params);
	sl_jsonrpc_send_bool(req, true);
}

static void ut_cfg_startup_fail(struct sl_jsonrpc_request *req, const json_t *params)
{
	record_call("startup_fail", params);
	sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INTERNAL_ERROR, "not at start-up");
}

SL_RPC_REGISTER("ut_cfg_startup_fail", ut_cfg_startup_fail, SL_RPC_STARTUP)
SL_RPC_REGISTER("ut_cfg_ok", ut_cfg_ok, SL_RPC_STARTUP | SL_RPC_RUNTIME)
SL_RPC_REGISTER("ut_cfg_fail", ut_cfg_fail, SL_RPC_RUNTIME)
SL_RPC_REGISTER("ut_cfg_startup", ut_cfg_startup, SL_RPC_STARTUP)

/* ---- temp files ---- */

static char g_file[128];
static unsigned int g_file_seq;

static const char *write_config(const char *text)
{
	FILE *f;

	snprintf(g_file, sizeof(g_file), "/tmp/sl_config_ut.%d.%u.json", (int)getpid(),
		 g_file_seq++);
	f = fopen(g_file, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return g_file;
}

static int g_done_calls;
static int g_done_rc;

static void config_done(int rc)
{
	g_done_calls++;
	g_done_rc = rc;
}

/* Open a config that must be rejected; the log is left captured for the caller. */
static void expect_open_fails(const char *text)
{
	const char *path = write_config(text);

	ut_log_capture_start();
	assert_int_equal(app_config_open(path, false), -EINVAL);
	/* Nothing is left open: running a phase does nothing. */
	g_done_calls = 0;
	g_ncalls = 0;
	app_config_run(SL_RPC_STARTUP, config_done);
	assert_int_equal(g_done_calls, 1);
	assert_int_equal(g_done_rc, 0);
	assert_int_equal(g_ncalls, 0);
}

static void open_done(void)
{
	ut_log_capture_stop();
	unlink(g_file);
}

/* ---- part 1: the loader ---- */

static void test_syntax_error(void **state)
{
	(void)state;
	expect_open_fails("{\n"
			  "  \"subsystems\": [\n"
			  "    {\"subsystem\": \"ut_sub\", \"config\": [}\n"
			  "  ]\n"
			  "}\n");
	/* file:line:column as compilers print them, and the parser's reason */
	{
		char where[200];

		snprintf(where, sizeof(where), "%s:3:40:", g_file);
		UT_ASSERT_LOG(where, "syntax error");
	}
	open_done();

	/* A duplicate key is an error too (the second would silently win). */
	expect_open_fails("{\"subsystems\": [], \"subsystems\": []}");
	UT_ASSERT_LOG(g_file, ":1:", "duplicate");
	open_done();

	/* Empty file. */
	expect_open_fails("");
	UT_ASSERT_LOG(g_file);
	open_done();
}

static void test_missing_file(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sl_config_ut.%d.does-not-exist.json", (int)getpid());
	ut_log_capture_start();
	assert_int_equal(app_config_open(path, false), -EINVAL);
	UT_ASSERT_LOG(path);
	ut_log_capture_stop();
}

static void test_bad_shape(void **state)
{
	(void)state;
	expect_open_fails("[]");
	UT_ASSERT_LOG(g_file, "subsystems");
	open_done();

	expect_open_fails("{\"subsystems\": {}}");
	UT_ASSERT_LOG(g_file, "subsystems");
	open_done();

	expect_open_fails("{\"subsystems\": [{\"config\": []}]}");
	UT_ASSERT_LOG(g_file, "subsystems[0]", "subsystem");
	open_done();

	expect_open_fails("{\"subsystems\": [{\"subsystem\": \"ut_sub\", \"config\": {}}]}");
	UT_ASSERT_LOG(g_file, "'ut_sub'", "config");
	open_done();

	expect_open_fails("{\"subsystems\": [{\"subsystem\": \"ut_sub\", \"config\": ["
			  "{\"method\": \"ut_cfg_ok\"}, {\"params\": {}}]}]}");
	UT_ASSERT_LOG(g_file, "'ut_sub'", "entry 1", "method");
	open_done();

	expect_open_fails("{\"subsystems\": [{\"subsystem\": \"ut_sub\", \"config\": ["
			  "{\"method\": \"ut_cfg_ok\", \"params\": [1]}]}]}");
	UT_ASSERT_LOG(g_file, "'ut_sub'", "entry 0", "ut_cfg_ok", "params");
	open_done();
}

static void test_unknown_subsystem(void **state)
{
	(void)state;
	expect_open_fails("{\"subsystems\": [\n"
			  "  {\"subsystem\": \"ut_sub\", \"config\": []},\n"
			  "  {\"subsystem\": \"no_such_subsystem\", \"config\": []}\n"
			  "]}");
	UT_ASSERT_LOG(g_file, "unknown subsystem", "'no_such_subsystem'", "subsystems[1]");
	open_done();
}

static void test_unknown_method(void **state)
{
	(void)state;
	/* Nothing runs: the whole file is checked first. */
	expect_open_fails("{\"subsystems\": [\n"
			  "  {\"subsystem\": \"ut_sub\", \"config\": [\n"
			  "    {\"method\": \"ut_cfg_ok\", \"params\": {\"tag\": \"a\"}},\n"
			  "    {\"method\": \"ut_cfg_ok\", \"params\": {\"tag\": \"b\"}},\n"
			  "    {\"method\": \"no_such_method\", \"params\": {}}\n"
			  "  ]}\n"
			  "]}");
	UT_ASSERT_LOG(g_file, "unknown method", "'no_such_method'", "'ut_sub'", "entry 2");
	open_done();
}

static void test_entry_fails(void **state)
{
	const char *path =
		write_config("{\"subsystems\": [\n"
			     "  {\"subsystem\": \"ut_sub\", \"config\": [\n"
			     "    {\"method\": \"ut_cfg_ok\", \"params\": {\"tag\": \"a\"}},\n"
			     "    {\"method\": \"ut_cfg_fail\", \"params\": {\"tag\": \"b\"}},\n"
			     "    {\"method\": \"ut_cfg_ok\", \"params\": {\"tag\": \"c\"}}\n"
			     "  ]}\n"
			     "]}");

	(void)state;
	ut_log_capture_start();
	assert_int_equal(app_config_open(path, false), 0);
	g_ncalls = 0;
	g_done_calls = 0;
	sl_rpc_set_state(SL_RPC_RUNTIME);
	app_config_run(SL_RPC_RUNTIME, config_done);
	assert_int_equal(g_done_calls, 1);
	assert_int_equal(g_done_rc, -EINVAL);
	/* Stops at the failing entry. */
	assert_int_equal(g_ncalls, 2);
	assert_string_equal(g_calls[0], "ok:a");
	assert_string_equal(g_calls[1], "fail:b");
	UT_ASSERT_LOG(path, "'ut_sub'", "entry 1", "ut_cfg_fail", "failed", "ut_cfg_fail says no");
	app_config_close();
	ut_log_capture_stop();

	/* Ignoring errors: reported the same way, and the rest runs. */
	ut_log_capture_start();
	assert_int_equal(app_config_open(path, true), 0);
	g_ncalls = 0;
	g_done_calls = 0;
	app_config_run(SL_RPC_RUNTIME, config_done);
	assert_int_equal(g_done_calls, 1);
	assert_int_equal(g_done_rc, 0);
	assert_int_equal(g_ncalls, 3);
	assert_string_equal(g_calls[2], "ok:c");
	UT_ASSERT_LOG(path, "'ut_sub'", "entry 1", "ut_cfg_fail", "failed");
	app_config_close();
	ut_log_capture_stop();
	sl_rpc_set_state(SL_RPC_STARTUP);
	unlink(path);
}

static void test_phases_and_order(void **state)
{
	const char *path =
		write_config("{\"subsystems\": [\n"
			     "  {\"subsystem\": \"ut_sub\", \"config\": [\n"
			     "    {\"method\": \"ut_cfg_ok\", \"params\": {\"tag\": \"1\"}},\n"
			     "    {\"method\": \"ut_cfg_startup\", \"params\": {\"tag\": \"2\"}},\n"
			     "    {\"method\": \"ut_cfg_ok\", \"params\": null}\n"
			     "  ]},\n"
			     "  {\"subsystem\": \"ut_sub2\", \"config\": null},\n"
			     "  {\"subsystem\": \"ut_sub2\"},\n"
			     "  {\"subsystem\": \"ut_sub2\", \"config\": [\n"
			     "    {\"method\": \"ut_cfg_startup\", \"params\": {\"tag\": \"3\"}},\n"
			     "    {\"method\": \"ut_cfg_ok\", \"params\": {\"tag\": \"4\"}}\n"
			     "  ]}\n"
			     "]}");

	(void)state;
	assert_int_equal(app_config_open(path, false), 0);
	g_ncalls = 0;
	g_done_calls = 0;
	sl_rpc_set_state(SL_RPC_STARTUP);
	app_config_run(SL_RPC_STARTUP, config_done);
	assert_int_equal(g_done_calls, 1);
	assert_int_equal(g_done_rc, 0);
	/* STARTUP-only methods, in file order. */
	assert_int_equal(g_ncalls, 2);
	assert_string_equal(g_calls[0], "startup:2");
	assert_string_equal(g_calls[1], "startup:3");

	g_ncalls = 0;
	sl_rpc_set_state(SL_RPC_RUNTIME);
	app_config_run(SL_RPC_RUNTIME, config_done);
	assert_int_equal(g_done_calls, 2);
	assert_int_equal(g_done_rc, 0);
	assert_int_equal(g_ncalls, 3);
	assert_string_equal(g_calls[0], "ok:1");
	assert_string_equal(g_calls[1], "ok:"); /* null params */
	assert_string_equal(g_calls[2], "ok:4");
	app_config_close();
	app_config_close(); /* harmless */
	sl_rpc_set_state(SL_RPC_STARTUP);
	unlink(path);

	/* An empty subsystems array is a valid config. */
	path = write_config("{\"subsystems\": []}");
	assert_int_equal(app_config_open(path, false), 0);
	g_done_calls = 0;
	app_config_run(SL_RPC_STARTUP, config_done);
	assert_int_equal(g_done_calls, 1);
	assert_int_equal(g_done_rc, 0);
	app_config_close();
	unlink(path);
}

/*
 * A config as big as a large deployment writes (thousands of bdevs, namespaces,
 * listeners) where every entry answers synchronously. Run in a child: a stack
 * overflow must fail this test, not kill the whole program.
 */
#define MANY_ENTRIES 100000

static int run_many_entries(void)
{
	const char *entry = "{\"method\": \"ut_cfg_ok\", \"params\": {}},\n";
	size_t elen = strlen(entry), off = 0;
	char *text = malloc((size_t)MANY_ENTRIES * elen + 128);
	const char *path;
	int rc;

	if (!text)
		return 10;
	off += (size_t)sprintf(text,
			       "{\"subsystems\": [{\"subsystem\": \"ut_sub\", \"config\": [\n");
	for (long i = 0; i < MANY_ENTRIES; i++) {
		memcpy(text + off, entry, elen);
		off += elen;
	}
	off -= 2; /* drop the last ",\n" */
	strcpy(text + off, "\n]}]}\n");
	path = write_config(text);
	free(text);
	rc = app_config_open(path, false);
	unlink(path);
	if (rc)
		return 11;
	g_total_calls = 0;
	g_done_calls = 0;
	sl_rpc_set_state(SL_RPC_RUNTIME);
	app_config_run(SL_RPC_RUNTIME, config_done);
	app_config_close();
	if (g_done_calls != 1 || g_done_rc != 0)
		return 12;
	return g_total_calls == MANY_ENTRIES ? 0 : 13;
}

static void test_many_entries(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60);
		_exit(run_many_entries());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("loading %d entries killed the process with signal %d", MANY_ENTRIES,
			 WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- part 2: through sl_app_start, one forked child per case ---- */

struct child_result {
	int rc;
	int start_called;
};

static int g_child_start_called;

static void child_start(void *ctx)
{
	(void)ctx;
	g_child_start_called = 1;
	sl_app_stop(0);
}

static void child_log_sink(enum sl_log_level level, const char *line)
{
	(void)level;
	/* The pipe is the child's stdout. */
	fputs(line, stdout);
}

/* Run sl_app_start with the config in a child; its log ends up in the capture buffer. */
static struct child_result run_app(const char *path, bool ignore_errors)
{
	struct child_result res = { .rc = -9999 };
	int fds[2];
	pid_t pid;
	FILE *f;
	char line[4096];
	int status;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sl_app_opts opts;
		int rc;

		alarm(60); /* never hang the suite */
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		setvbuf(stdout, NULL, _IOLBF, 0);
		sl_log_set_sink(child_log_sink);
		sl_app_opts_init(&opts);
		opts.name = "config_ut";
		opts.reactor_mask = "0x1";
		opts.rpc_addr = NULL;
		opts.no_huge = true;
		opts.mem_size_mb = 64;
		opts.json_config_file = path;
		opts.json_ignore_init_errors = ignore_errors;
		rc = sl_app_start(&opts, child_start, NULL);
		printf("RESULT rc=%d start=%d\n", rc, g_child_start_called);
		fflush(stdout);
		sl_app_fini();
		_exit(0);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	assert_non_null(f);
	ut_log_capture_start();
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "RESULT rc=%d start=%d", &res.rc, &res.start_called) == 2)
			continue;
		ut_log_sink(SL_LOG_ERROR, line);
	}
	fclose(f);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		ut_log_dump();
		fail_msg("child failed: status %#x", status);
	}
	return res;
}

static const char *g_failing_config =
	"{\"subsystems\": [\n"
	"  {\"subsystem\": \"ut_sub\", \"config\": [\n"
	"    {\"method\": \"ut_cfg_ok\", \"params\": {\"tag\": \"a\"}},\n"
	"    {\"method\": \"ut_cfg_fail\", \"params\": {\"tag\": \"b\"}}\n"
	"  ]}\n"
	"]}";

static void test_app_start_fails_on_entry_error(void **state)
{
	const char *path = write_config(g_failing_config);
	struct child_result r;

	(void)state;
	r = run_app(path, false);
	if (r.rc == 0 || r.start_called)
		ut_log_dump();
	assert_true(r.rc != 0 && r.rc != -9999);
	assert_int_equal(r.start_called, 0);
	UT_ASSERT_LOG(path, "'ut_sub'", "entry 1", "ut_cfg_fail", "failed");
	ut_log_capture_stop();
	unlink(path);
}

static void test_app_start_ignores_entry_error(void **state)
{
	const char *path = write_config(g_failing_config);
	struct child_result r;

	(void)state;
	r = run_app(path, true);
	if (r.rc != 0 || !r.start_called)
		ut_log_dump();
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.start_called, 1);
	UT_ASSERT_LOG(path, "'ut_sub'", "entry 1", "ut_cfg_fail", "failed");
	ut_log_capture_stop();
	unlink(path);
}

static void test_app_start_fails_on_syntax_error(void **state)
{
	const char *path = write_config("{\"subsystems\": [\n  {\"subsystem\": \"ut_sub\",,}\n]}");
	struct child_result r;

	(void)state;
	/* Even with errors ignored: a file that cannot be read is not a config. */
	r = run_app(path, true);
	assert_true(r.rc != 0 && r.rc != -9999);
	assert_int_equal(r.start_called, 0);
	UT_ASSERT_LOG(path, ":2:", "syntax error");
	ut_log_capture_stop();
	unlink(path);
}

static void test_app_start_fails_on_startup_entry(void **state)
{
	/* A STARTUP-phase failure stops start-up before subsystems initialise. */
	const char *path =
		write_config("{\"subsystems\": [\n"
			     "  {\"subsystem\": \"ut_sub2\", \"config\": [\n"
			     "    {\"method\": \"ut_cfg_ok\", \"params\": {}},\n"
			     "    {\"method\": \"ut_cfg_startup_fail\", \"params\": {}}\n"
			     "  ]}\n"
			     "]}");
	struct child_result r;

	(void)state;
	r = run_app(path, false);
	assert_true(r.rc != 0 && r.rc != -9999);
	assert_int_equal(r.start_called, 0);
	UT_ASSERT_LOG(path, "'ut_sub2'", "entry 1", "ut_cfg_startup_fail", "failed",
		      "not at start-up");
	ut_log_capture_stop();
	unlink(path);
}

static void test_app_start_unknown_method(void **state)
{
	const char *path = write_config("{\"subsystems\": [\n"
					"  {\"subsystem\": \"ut_sub\", \"config\": [\n"
					"    {\"method\": \"bdev_nonexistent_create\"}\n"
					"  ]}\n"
					"]}");
	struct child_result r;

	(void)state;
	r = run_app(path, true);
	assert_true(r.rc != 0 && r.rc != -9999);
	assert_int_equal(r.start_called, 0);
	UT_ASSERT_LOG(path, "unknown method", "'bdev_nonexistent_create'", "'ut_sub'", "entry 0");
	ut_log_capture_stop();
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_bad_shape),
		cmocka_unit_test(test_unknown_subsystem),
		cmocka_unit_test(test_unknown_method),
		cmocka_unit_test(test_entry_fails),
		cmocka_unit_test(test_phases_and_order),
		cmocka_unit_test(test_many_entries),
		cmocka_unit_test(test_app_start_fails_on_entry_error),
		cmocka_unit_test(test_app_start_ignores_entry_error),
		cmocka_unit_test(test_app_start_fails_on_syntax_error),
		cmocka_unit_test(test_app_start_fails_on_startup_entry),
		cmocka_unit_test(test_app_start_unknown_method),
	};

	ut_apply_filter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
