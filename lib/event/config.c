/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON config files in the shape save_config writes:
 * {"subsystems":[{"subsystem":NAME,"config":[{"method":M,"params":{..}},..]},..]}
 * The whole file is checked before anything runs. Methods that may only run
 * at start-up (STARTUP state) run before subsystems initialise, the rest after.
 */
#include "event_internal.h"

#include "sluice/rpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct config_load {
	char *path;
	json_t *root;
	bool ignore_errors;
	uint32_t phase; /* SL_RPC_STARTUP or SL_RPC_RUNTIME */
	bool in_call;	/* inside sl_rpc_call_local: the walk loop continues */
	bool answered;	/* the entry answered synchronously */
	size_t sub_idx;
	size_t entry_idx;
	void (*done)(int rc);
};

static struct config_load *g_load;

static bool entry_in_phase(const char *method, uint32_t phase)
{
	uint32_t mask = sl_rpc_method_state_mask(method);

	if (phase == SL_RPC_STARTUP)
		return mask == SL_RPC_STARTUP;
	return mask != SL_RPC_STARTUP;
}

static int validate(struct config_load *l)
{
	json_t *subs = json_object_get(l->root, "subsystems");
	json_t *sub;
	size_t i;

	if (!json_is_object(l->root) || !json_is_array(subs)) {
		SL_ERRLOG("config %s: expected an object with a \"subsystems\" array", l->path);
		return -EINVAL;
	}
	json_array_foreach(subs, i, sub) {
		json_t *name = json_object_get(sub, "subsystem");
		json_t *cfg = json_object_get(sub, "config");
		json_t *entry;
		size_t j;

		if (!json_is_object(sub) || !json_is_string(name)) {
			SL_ERRLOG("config %s: subsystems[%zu] needs a \"subsystem\" name", l->path,
				  i);
			return -EINVAL;
		}
		if (!sl_subsystem_find(json_string_value(name))) {
			SL_ERRLOG("config %s: subsystems[%zu]: unknown subsystem '%s'", l->path, i,
				  json_string_value(name));
			return -EINVAL;
		}
		if (cfg && !json_is_array(cfg) && !json_is_null(cfg)) {
			SL_ERRLOG("config %s: subsystem '%s': \"config\" must be an array", l->path,
				  json_string_value(name));
			return -EINVAL;
		}
		json_array_foreach(cfg, j, entry) {
			json_t *method = json_object_get(entry, "method");
			json_t *params = json_object_get(entry, "params");

			if (!json_is_object(entry) || !json_is_string(method)) {
				SL_ERRLOG(
					"config %s: subsystem '%s', entry %zu: needs a \"method\"",
					l->path, json_string_value(name), j);
				return -EINVAL;
			}
			if (!sl_rpc_method_exists(json_string_value(method))) {
				SL_ERRLOG(
					"config %s: subsystem '%s', entry %zu: unknown method '%s'",
					l->path, json_string_value(name), j,
					json_string_value(method));
				return -EINVAL;
			}
			if (params && !json_is_object(params) && !json_is_null(params)) {
				SL_ERRLOG("config %s: subsystem '%s', entry %zu (%s): \"params\" "
					  "must be an object",
					  l->path, json_string_value(name), j,
					  json_string_value(method));
				return -EINVAL;
			}
		}
	}
	return 0;
}

static void load_next(void);

static void entry_done(void *ctx, const json_t *response, bool is_error)
{
	struct config_load *l = ctx;
	json_t *sub = json_array_get(json_object_get(l->root, "subsystems"), l->sub_idx);
	json_t *entry = json_array_get(json_object_get(sub, "config"), l->entry_idx);

	if (is_error) {
		json_t *msg = json_object_get(response, "message");

		SL_ERRLOG("config %s: subsystem '%s', entry %zu (%s) failed: %s", l->path,
			  json_string_value(json_object_get(sub, "subsystem")), l->entry_idx,
			  json_string_value(json_object_get(entry, "method")),
			  json_is_string(msg) ? json_string_value(msg) : "error");
		if (!l->ignore_errors) {
			l->done(-EINVAL);
			return;
		}
	}
	l->entry_idx++;
	if (l->in_call) {
		/* Answered inside the call: let load_next's loop go on (no recursion). */
		l->answered = true;
		return;
	}
	load_next();
}

static void load_next(void)
{
	struct config_load *l = g_load;
	json_t *subs = json_object_get(l->root, "subsystems");

	for (; l->sub_idx < json_array_size(subs); l->sub_idx++, l->entry_idx = 0) {
		json_t *cfg = json_object_get(json_array_get(subs, l->sub_idx), "config");

		for (; l->entry_idx < json_array_size(cfg); l->entry_idx++) {
			json_t *entry = json_array_get(cfg, l->entry_idx);
			const char *method = json_string_value(json_object_get(entry, "method"));
			json_t *params = json_object_get(entry, "params");

			if (!entry_in_phase(method, l->phase))
				continue;
			if (json_is_null(params))
				params = NULL;
			l->in_call = true;
			l->answered = false;
			sl_rpc_call_local(method, params, entry_done, l);
			if (g_load != l)
				return; /* failed: done() closed the load */
			l->in_call = false;
			if (!l->answered)
				return; /* asynchronous, or failed: entry_done goes on from there */
			l->entry_idx--; /* entry_done advanced it; so does the for loop */
		}
	}
	l->done(0);
}

int app_config_open(const char *path, bool ignore_errors)
{
	json_error_t err;
	struct config_load *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->path = strdup(path);
	l->ignore_errors = ignore_errors;
	l->root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	if (!l->root) {
		if (json_error_code(&err) == json_error_cannot_open_file)
			SL_ERRLOG("config %s: %s", path, err.text);
		else
			SL_ERRLOG("config %s:%d:%d: JSON syntax error: %s", path, err.line,
				  err.column, err.text);
		g_load = l;
		app_config_close();
		return -EINVAL;
	}
	g_load = l;
	if (validate(l)) {
		app_config_close();
		return -EINVAL;
	}
	return 0;
}

void app_config_run(uint32_t phase, void (*done)(int rc))
{
	if (!g_load) {
		done(0);
		return;
	}
	g_load->phase = phase;
	g_load->sub_idx = 0;
	g_load->entry_idx = 0;
	g_load->done = done;
	load_next();
}

void app_config_close(void)
{
	if (!g_load)
		return;
	json_decref(g_load->root);
	free(g_load->path);
	free(g_load);
	g_load = NULL;
}
