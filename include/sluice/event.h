/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reactors (one polled loop per core) and the application framework:
 * command line, subsystem init/fini order, JSON config, RPC server, signals.
 */
#ifndef SLUICE_EVENT_H
#define SLUICE_EVENT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "sluice/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_DEFAULT_RPC_ADDR "/var/tmp/sluice.sock"
#define SL_DEFAULT_IDLE_THRESHOLD_US 1000

struct sl_app_opts {
	const char *name;
	const char *json_config_file;
	bool json_ignore_init_errors;
	const char *rpc_addr; /* NULL: no RPC server */
	const char *reactor_mask;
	size_t mem_size_mb;
	const char *huge_dir;
	bool no_huge;
	bool idle_sleep;	    /* sleep when idle (default true) */
	uint64_t idle_threshold_us; /* idle time before sleeping */
	/* Called on the app thread on SIGINT/SIGTERM; default: sl_app_stop(0). */
	void (*shutdown_cb)(void);
	void (*usage_extra)(void); /* app's own options, printed by --help */
};

void sl_app_opts_init(struct sl_app_opts *opts);

enum sl_app_parse_rc {
	SL_APP_PARSE_SUCCESS = 0,
	SL_APP_PARSE_EXIT,  /* --help or --version printed: exit 0 */
	SL_APP_PARSE_ERROR, /* message printed: exit 1 */
};

/*
 * Parse the framework's standard options plus the app's own (app_getopt_str
 * and app_long_opts, handled by app_parse which returns 0 or -EINVAL).
 */
enum sl_app_parse_rc sl_app_parse_args(int argc, char **argv, struct sl_app_opts *opts,
				       const char *app_getopt_str,
				       const struct option *app_long_opts,
				       int (*app_parse)(int ch, char *arg));

/*
 * Start the environment, reactors, app thread, RPC server and subsystems, load
 * the JSON config, then call start_fn(ctx) on the app thread. Blocks until
 * the app stops; returns the rc given to sl_app_stop, or a negative errno if
 * start-up failed.
 */
int sl_app_start(struct sl_app_opts *opts, sl_msg_fn start_fn, void *ctx);
/* Begin an orderly shutdown from any sl_thread; sl_app_start returns rc. */
void sl_app_stop(int rc);
/* Release the environment after sl_app_start returned. */
void sl_app_fini(void);
/* True once subsystems are up and the JSON config is loaded. */
bool sl_app_is_init_done(void);
const char *sl_app_get_name(void);

/*
 * Without sl_app_start (e.g. the fio plugin, which polls its own threads):
 * load the JSON config's start-up entries, initialise every subsystem, then
 * run the remaining entries, all on the calling sl_thread; cb(rc) when done.
 * sl_subsystems_stop tears them down in reverse.
 */
void sl_subsystems_start(const char *json_config_file, bool ignore_errors,
			 void (*cb)(int rc, void *arg), void *arg);
void sl_subsystems_stop(void (*cb)(void *arg), void *arg);

/* Subsystems: init in dependency order, fini in reverse. */
struct sl_json_config_writer;
struct sl_subsystem {
	const char *name;
	/* Must end with sl_subsystem_init_next(rc); NULL: nothing to do. */
	void (*init)(void);
	/* Must end with sl_subsystem_fini_next(); NULL: nothing to do. */
	void (*fini)(void);
	/* Append {"method","params"} objects (json_t *) to config, a JSON array. */
	void (*write_config_json)(void *config);
	const char *depends_on[8];
	TAILQ_ENTRY(sl_subsystem) link;
};

void sl_subsystem_register(struct sl_subsystem *subsystem);
#define SL_SUBSYSTEM_REGISTER(var)                                                                 \
	__attribute__((constructor)) static void sl_subsystem_register_##var(void)                 \
	{                                                                                          \
		sl_subsystem_register(&var);                                                       \
	}
void sl_subsystem_init_next(int rc);
void sl_subsystem_fini_next(void);
struct sl_subsystem *sl_subsystem_find(const char *name);
/* Iterate in init order; NULL starts. */
struct sl_subsystem *sl_subsystem_next(struct sl_subsystem *prev);

/* Reactor statistics (framework_get_reactors). */
struct sl_reactor_info {
	uint32_t core;
	uint64_t busy_tsc;
	uint64_t idle_tsc;
	uint64_t sleeps;
	bool sleeping;
};
size_t sl_reactor_get_info(struct sl_reactor_info *info, size_t max);
/* Core of the reactor running thread, UINT32_MAX if none. */
uint32_t sl_reactor_core_of_thread(struct sl_thread *thread);

#ifdef __cplusplus
}
#endif
#endif
