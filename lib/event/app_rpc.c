/* SPDX-License-Identifier: BSD-3-Clause */
/* Framework RPC methods: versions, methods, reactors, threads, logging, save_config. */
#include "event_internal.h"

#include "sluice/rpc.h"
#include "sluice/version.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct get_methods_params {
	bool current;
	bool include_aliases;
};

static const struct sl_json_field g_get_methods_fields[] = {
	SL_JSON_FIELD(struct get_methods_params, current, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct get_methods_params, include_aliases, SL_JSON_BOOL, true),
};

static void rpc_get_methods(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct get_methods_params p = { 0 };

	if (sl_rpc_decode_params(req, params, g_get_methods_fields,
				 SL_COUNTOF(g_get_methods_fields), &p))
		return;
	sl_jsonrpc_send_result(req, sl_rpc_get_methods(p.current, p.include_aliases));
}
SL_RPC_REGISTER("rpc_get_methods", rpc_get_methods, SL_RPC_STARTUP | SL_RPC_RUNTIME)

static int no_params(struct sl_jsonrpc_request *req, const json_t *params)
{
	return sl_rpc_decode_params(req, params, NULL, 0, NULL);
}

static void rpc_get_version(struct sl_jsonrpc_request *req, const json_t *params)
{
	if (no_params(req, params))
		return;
	sl_jsonrpc_send_result(req, json_pack("{s:s, s:{s:i, s:i, s:i, s:s}}", "version",
					      SL_VERSION_DESCRIPTION, "fields", "major",
					      SL_VERSION_MAJOR, "minor", SL_VERSION_MINOR, "patch",
					      SL_VERSION_PATCH, "suffix", ""));
}
SL_RPC_REGISTER("sluice_get_version", rpc_get_version, SL_RPC_STARTUP | SL_RPC_RUNTIME)

static void rpc_spdk_get_version(struct sl_jsonrpc_request *req, const json_t *params)
{
	rpc_get_version(req, params);
}
SL_RPC_REGISTER("spdk_get_version", rpc_spdk_get_version, SL_RPC_STARTUP | SL_RPC_RUNTIME)

/* ---- framework_wait_init: answered when start-up has finished ---- */

static struct sl_jsonrpc_request *g_waiters[64];
static size_t g_waiter_count;
static struct sl_poller *g_wait_poller;

static int wait_init_poll(void *ctx)
{
	(void)ctx;
	if (!sl_app_is_init_done())
		return SL_POLLER_IDLE;
	for (size_t i = 0; i < g_waiter_count; i++)
		sl_jsonrpc_send_bool(g_waiters[i], true);
	g_waiter_count = 0;
	sl_poller_unregister(&g_wait_poller);
	return SL_POLLER_BUSY;
}

static void rpc_framework_wait_init(struct sl_jsonrpc_request *req, const json_t *params)
{
	if (no_params(req, params))
		return;
	if (sl_app_is_init_done()) {
		sl_jsonrpc_send_bool(req, true);
		return;
	}
	if (g_waiter_count == SL_COUNTOF(g_waiters)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INTERNAL_ERROR,
				      "too many clients waiting for init");
		return;
	}
	g_waiters[g_waiter_count++] = req;
	if (!g_wait_poller)
		g_wait_poller = sl_poller_register_named(wait_init_poll, NULL, 1000, "wait_init");
}
SL_RPC_REGISTER("framework_wait_init", rpc_framework_wait_init, SL_RPC_STARTUP | SL_RPC_RUNTIME)

/* ---- reactors and threads ---- */

struct threads_ctx {
	json_t *arr;
	uint32_t core; /* UINT32_MAX: all threads */
	bool stats;
};

static void add_thread(struct sl_thread *t, void *arg)
{
	struct threads_ctx *c = arg;
	struct sl_thread_stats st;
	size_t busy, timed;
	json_t *o;

	if (c->core != UINT32_MAX && sl_reactor_core_of_thread(t) != c->core)
		return;
	o = json_pack("{s:s, s:I}", "name", sl_thread_get_name(t), "id",
		      (json_int_t)sl_thread_get_id(t));
	if (c->stats) {
		sl_thread_get_stats(t, &st);
		sl_thread_get_poller_counts(t, &busy, &timed);
		json_object_set_new(o, "lcore", json_integer(sl_reactor_core_of_thread(t)));
		json_object_set_new(o, "busy", json_integer((json_int_t)st.busy_tsc));
		json_object_set_new(o, "idle", json_integer((json_int_t)st.idle_tsc));
		json_object_set_new(o, "messages", json_integer((json_int_t)st.msgs));
		json_object_set_new(o, "active_pollers_count", json_integer((json_int_t)busy));
		json_object_set_new(o, "timed_pollers_count", json_integer((json_int_t)timed));
		json_object_set_new(o, "paused_pollers_count", json_integer(0));
	}
	json_array_append_new(c->arr, o);
}

static void rpc_framework_get_reactors(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct sl_reactor_info info[SL_ENV_MAX_CORES];
	size_t n;
	json_t *reactors = json_array();

	if (no_params(req, params)) {
		json_decref(reactors);
		return;
	}
	n = sl_reactor_get_info(info, SL_COUNTOF(info));
	for (size_t i = 0; i < n; i++) {
		struct threads_ctx c = { .arr = json_array(), .core = info[i].core };

		sl_thread_foreach_locked(add_thread, &c);
		json_array_append_new(reactors,
				      json_pack("{s:i, s:I, s:I, s:I, s:b, s:o}", "lcore",
						info[i].core, "busy", (json_int_t)info[i].busy_tsc,
						"idle", (json_int_t)info[i].idle_tsc, "sleeps",
						(json_int_t)info[i].sleeps, "in_interrupt",
						info[i].sleeping, "lw_threads", c.arr));
	}
	sl_jsonrpc_send_result(req, json_pack("{s:I, s:i, s:o}", "tick_rate",
					      (json_int_t)sl_get_ticks_hz(), "pid", (int)getpid(),
					      "reactors", reactors));
}
SL_RPC_REGISTER("framework_get_reactors", rpc_framework_get_reactors, SL_RPC_RUNTIME)

static void rpc_thread_get_stats(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct threads_ctx c = { .core = UINT32_MAX, .stats = true };

	if (no_params(req, params))
		return;
	c.arr = json_array();
	sl_thread_foreach_locked(add_thread, &c);
	sl_jsonrpc_send_result(req, json_pack("{s:I, s:o}", "tick_rate",
					      (json_int_t)sl_get_ticks_hz(), "threads", c.arr));
}
SL_RPC_REGISTER("thread_get_stats", rpc_thread_get_stats, SL_RPC_RUNTIME)

/* ---- logging ---- */

struct flag_params {
	char *flag;
};

static const struct sl_json_field g_flag_fields[] = {
	SL_JSON_FIELD(struct flag_params, flag, SL_JSON_STRING, false),
};

static void set_or_clear_flag(struct sl_jsonrpc_request *req, const json_t *params, bool set)
{
	struct flag_params p = { 0 };
	int rc;

	if (sl_rpc_decode_params(req, params, g_flag_fields, SL_COUNTOF(g_flag_fields), &p))
		return;
	rc = set ? sl_log_set_flag(p.flag) : sl_log_clear_flag(p.flag);
	if (rc)
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: unknown log flag '%s'", p.flag);
	else
		sl_jsonrpc_send_bool(req, true);
	sl_json_free_decoded(g_flag_fields, SL_COUNTOF(g_flag_fields), &p);
}

static void rpc_log_set_flag(struct sl_jsonrpc_request *req, const json_t *params)
{
	set_or_clear_flag(req, params, true);
}
SL_RPC_REGISTER("log_set_flag", rpc_log_set_flag, SL_RPC_STARTUP | SL_RPC_RUNTIME)

static void rpc_log_clear_flag(struct sl_jsonrpc_request *req, const json_t *params)
{
	set_or_clear_flag(req, params, false);
}
SL_RPC_REGISTER("log_clear_flag", rpc_log_clear_flag, SL_RPC_STARTUP | SL_RPC_RUNTIME)

static void rpc_log_get_flags(struct sl_jsonrpc_request *req, const json_t *params)
{
	json_t *o = json_object();

	if (no_params(req, params)) {
		json_decref(o);
		return;
	}
	for (struct sl_log_flag *f = sl_log_next_flag(NULL); f; f = sl_log_next_flag(f))
		json_object_set_new(o, f->name, json_boolean(f->enabled));
	sl_jsonrpc_send_result(req, o);
}
SL_RPC_REGISTER("log_get_flags", rpc_log_get_flags, SL_RPC_STARTUP | SL_RPC_RUNTIME)

struct level_params {
	char *level;
};

static const struct sl_json_field g_level_fields[] = {
	SL_JSON_FIELD(struct level_params, level, SL_JSON_STRING, false),
};

static void rpc_log_set_level(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct level_params p = { 0 };
	enum sl_log_level level;

	if (sl_rpc_decode_params(req, params, g_level_fields, SL_COUNTOF(g_level_fields), &p))
		return;
	if (sl_log_level_from_string(p.level, &level)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: unknown log level '%s' (error, warning, "
				      "notice, info, debug, disabled)",
				      p.level);
	} else {
		sl_log_set_print_level(level);
		sl_jsonrpc_send_bool(req, true);
	}
	sl_json_free_decoded(g_level_fields, SL_COUNTOF(g_level_fields), &p);
}
SL_RPC_REGISTER("log_set_level", rpc_log_set_level, SL_RPC_STARTUP | SL_RPC_RUNTIME)

static void rpc_log_get_level(struct sl_jsonrpc_request *req, const json_t *params)
{
	char name[16];
	size_t i;

	if (no_params(req, params))
		return;
	snprintf(name, sizeof(name), "%s", sl_log_level_to_string(sl_log_get_print_level()));
	for (i = 0; name[i]; i++)
		name[i] = (char)toupper((unsigned char)name[i]);
	sl_jsonrpc_send_result(req, json_string(name));
}
SL_RPC_REGISTER("log_get_level", rpc_log_get_level, SL_RPC_STARTUP | SL_RPC_RUNTIME)

/* One level in Sluice: SPDK's separate print level maps onto the same one. */
static void rpc_log_set_print_level(struct sl_jsonrpc_request *req, const json_t *params)
{
	rpc_log_set_level(req, params);
}
SL_RPC_REGISTER("log_set_print_level", rpc_log_set_print_level, SL_RPC_STARTUP | SL_RPC_RUNTIME)

static void rpc_log_get_print_level(struct sl_jsonrpc_request *req, const json_t *params)
{
	rpc_log_get_level(req, params);
}
SL_RPC_REGISTER("log_get_print_level", rpc_log_get_print_level, SL_RPC_STARTUP | SL_RPC_RUNTIME)

/* ---- save_config, kill ---- */

static void rpc_save_config(struct sl_jsonrpc_request *req, const json_t *params)
{
	json_t *subs = json_array();

	if (no_params(req, params)) {
		json_decref(subs);
		return;
	}
	subsystems_write_config(subs);
	sl_jsonrpc_send_result(req, json_pack("{s:o}", "subsystems", subs));
}
SL_RPC_REGISTER("save_config", rpc_save_config, SL_RPC_RUNTIME)

struct kill_params {
	char *sig_name;
};

static const struct sl_json_field g_kill_fields[] = {
	SL_JSON_FIELD(struct kill_params, sig_name, SL_JSON_STRING, false),
};

static void rpc_spdk_kill_instance(struct sl_jsonrpc_request *req, const json_t *params)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = { { "SIGINT", SIGINT },
		     { "SIGTERM", SIGTERM },
		     { "SIGQUIT", SIGQUIT },
		     { "SIGHUP", SIGHUP },
		     { "SIGKILL", SIGKILL } };
	struct kill_params p = { 0 };
	int sig = 0;

	if (sl_rpc_decode_params(req, params, g_kill_fields, SL_COUNTOF(g_kill_fields), &p))
		return;
	for (size_t i = 0; i < SL_COUNTOF(sigs); i++)
		if (!strcasecmp(p.sig_name, sigs[i].name) ||
		    !strcasecmp(p.sig_name, sigs[i].name + 3))
			sig = sigs[i].sig;
	if (!sig) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: unknown signal '%s'", p.sig_name);
	} else {
		sl_jsonrpc_send_bool(req, true);
		kill(getpid(), sig);
	}
	sl_json_free_decoded(g_kill_fields, SL_COUNTOF(g_kill_fields), &p);
}
SL_RPC_REGISTER("spdk_kill_instance", rpc_spdk_kill_instance, SL_RPC_STARTUP | SL_RPC_RUNTIME)

/* SPDK's rpc.py builds save_config from these two. */
static void rpc_framework_get_subsystems(struct sl_jsonrpc_request *req, const json_t *params)
{
	json_t *arr = json_array();

	if (no_params(req, params)) {
		json_decref(arr);
		return;
	}
	for (struct sl_subsystem *s = sl_subsystem_next(NULL); s; s = sl_subsystem_next(s)) {
		json_t *deps = json_array();

		for (size_t i = 0; i < SL_COUNTOF(s->depends_on) && s->depends_on[i]; i++)
			json_array_append_new(deps, json_string(s->depends_on[i]));
		json_array_append_new(
			arr, json_pack("{s:s, s:o}", "subsystem", s->name, "depends_on", deps));
	}
	sl_jsonrpc_send_result(req, arr);
}
SL_RPC_REGISTER("framework_get_subsystems", rpc_framework_get_subsystems,
		SL_RPC_STARTUP | SL_RPC_RUNTIME)

struct get_config_params {
	char *name;
};

static const struct sl_json_field g_get_config_fields[] = {
	SL_JSON_FIELD(struct get_config_params, name, SL_JSON_STRING, false),
};

static void rpc_framework_get_config(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct get_config_params p = { 0 };
	struct sl_subsystem *s;

	if (sl_rpc_decode_params(req, params, g_get_config_fields, SL_COUNTOF(g_get_config_fields),
				 &p))
		return;
	s = sl_subsystem_find(p.name);
	if (!s) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: unknown subsystem '%s'", p.name);
	} else {
		json_t *cfg = json_array();

		if (s->write_config_json)
			s->write_config_json(cfg);
		sl_jsonrpc_send_result(req, cfg);
	}
	sl_json_free_decoded(g_get_config_fields, SL_COUNTOF(g_get_config_fields), &p);
}
SL_RPC_REGISTER("framework_get_config", rpc_framework_get_config, SL_RPC_RUNTIME)
