/* SPDX-License-Identifier: BSD-3-Clause */
/* Application framework: options, start-up sequence, signals, orderly shutdown. */
#include "event_internal.h"

#include "sluice/rpc.h"
#include "sluice/version.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct sl_app_opts g_opts;
static struct sl_thread *g_app_thread;
static sl_msg_fn g_start_fn;
static void *g_start_ctx;
static int g_rc;
static bool g_init_done;
static bool g_stopping;
static volatile sig_atomic_t g_signal;
static _Atomic bool g_signal_handled;

void sl_app_opts_init(struct sl_app_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->name = "sluice";
	opts->rpc_addr = SL_DEFAULT_RPC_ADDR;
	opts->reactor_mask = "0x1";
	opts->idle_sleep = true;
	opts->idle_threshold_us = SL_DEFAULT_IDLE_THRESHOLD_US;
}

const char *sl_app_get_name(void)
{
	return g_opts.name;
}

bool sl_app_is_init_done(void)
{
	return g_init_done;
}

/* ---- command line ---- */

enum {
	OPT_JSON = 256,
	OPT_JSON_IGNORE_ERRORS,
	OPT_HUGE_DIR,
	OPT_NO_HUGE,
	OPT_NO_IDLE_SLEEP,
	OPT_IDLE_THRESHOLD,
	OPT_LOG_LEVEL,
	OPT_VERSION,
};

static const struct option g_app_long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "json-ignore-init-errors", no_argument, NULL, OPT_JSON_IGNORE_ERRORS },
	{ "cpumask", required_argument, NULL, 'm' },
	{ "rpc-socket", required_argument, NULL, 'r' },
	{ "mem-size", required_argument, NULL, 's' },
	{ "huge-dir", required_argument, NULL, OPT_HUGE_DIR },
	{ "no-huge", no_argument, NULL, OPT_NO_HUGE },
	{ "no-idle-sleep", no_argument, NULL, OPT_NO_IDLE_SLEEP },
	{ "idle-threshold-us", required_argument, NULL, OPT_IDLE_THRESHOLD },
	{ "logflag", required_argument, NULL, 'L' },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
};
#define APP_GETOPT_STR "c:m:r:s:L:h"

static void usage(const char *prog, void (*extra)(void))
{
	struct sl_log_flag *f;

	printf("Usage: %s [options]\n\n", prog);
	printf("Options:\n");
	printf(" -c, --config FILE         JSON config file (same as --json)\n");
	printf("     --json FILE           JSON config file, as save_config writes it\n");
	printf("     --json-ignore-init-errors\n"
	       "                           go on when a config entry fails\n");
	printf(" -m, --cpumask MASK        reactor cores: hex mask (0x3) or list ([0,2-3]);\n"
	       "                           default 0x1\n");
	printf(" -r, --rpc-socket PATH     JSON-RPC UNIX socket (default %s)\n",
	       SL_DEFAULT_RPC_ADDR);
	printf(" -s, --mem-size SIZE       memory to reserve, MiB or with a unit (512, 2G);\n"
	       "                           default: grow on demand\n");
	printf("     --huge-dir DIR        hugetlbfs mount to use (default: any)\n");
	printf("     --no-huge             run on ordinary memory (no device DMA)\n");
	printf("     --no-idle-sleep       always busy-poll, even when idle\n");
	printf("     --idle-threshold-us N idle time before a reactor sleeps (default %d)\n",
	       SL_DEFAULT_IDLE_THRESHOLD_US);
	printf(" -L, --logflag FLAG        enable a debug log flag (repeatable; 'all'); flags:\n"
	       "                          ");
	for (f = sl_log_next_flag(NULL); f; f = sl_log_next_flag(f))
		printf(" %s", f->name);
	printf("\n");
	printf("     --log-level LEVEL     error, warning, notice (default), info, debug\n");
	printf(" -h, --help                this text\n");
	printf("     --version             print the version\n");
	if (extra) {
		printf("\n");
		extra();
	}
}

static int parse_mem_size(const char *s, size_t *mb)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
	case 'M':
	case 'm':
		break;
	case 'G':
	case 'g':
		v *= 1024;
		break;
	case 'K':
	case 'k':
		v /= 1024;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] != '\0' && strcasecmp(end + 1, "B") && strcasecmp(end + 1, "iB"))
		return -EINVAL;
	if (v == 0 || v > (1ULL << 30))
		return -EINVAL;
	*mb = (size_t)v;
	return 0;
}

enum sl_app_parse_rc sl_app_parse_args(int argc, char **argv, struct sl_app_opts *opts,
				       const char *app_getopt_str,
				       const struct option *app_long_opts,
				       int (*app_parse)(int ch, char *arg))
{
	struct option longopts[64];
	char optstr[128];
	size_t n = 0;
	int ch;

	snprintf(optstr, sizeof(optstr), "%s%s", APP_GETOPT_STR,
		 app_getopt_str ? app_getopt_str : "");
	for (size_t i = 0; i < SL_COUNTOF(g_app_long_opts); i++)
		longopts[n++] = g_app_long_opts[i];
	for (const struct option *o = app_long_opts; o && o->name && n < 63; o++)
		longopts[n++] = *o;
	memset(&longopts[n], 0, sizeof(longopts[n]));

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, optstr, longopts, NULL)) != -1) {
		enum sl_log_level level;

		switch (ch) {
		case 'c':
		case OPT_JSON:
			opts->json_config_file = optarg;
			break;
		case OPT_JSON_IGNORE_ERRORS:
			opts->json_ignore_init_errors = true;
			break;
		case 'm': {
			uint64_t cores[2];

			if (sl_env_parse_core_mask(optarg, cores)) {
				fprintf(stderr, "%s: invalid core mask '%s' (e.g. 0x3 or [0,1])\n",
					argv[0], optarg);
				return SL_APP_PARSE_ERROR;
			}
			opts->reactor_mask = optarg;
			break;
		}
		case 'r':
			opts->rpc_addr = optarg;
			break;
		case 's':
			if (parse_mem_size(optarg, &opts->mem_size_mb)) {
				fprintf(stderr, "%s: invalid memory size '%s' (e.g. 512 or 2G)\n",
					argv[0], optarg);
				return SL_APP_PARSE_ERROR;
			}
			break;
		case OPT_HUGE_DIR:
			opts->huge_dir = optarg;
			break;
		case OPT_NO_HUGE:
			opts->no_huge = true;
			break;
		case OPT_NO_IDLE_SLEEP:
			opts->idle_sleep = false;
			break;
		case OPT_IDLE_THRESHOLD: {
			char *end;

			errno = 0;
			opts->idle_threshold_us = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg) {
				fprintf(stderr, "%s: invalid --idle-threshold-us '%s'\n", argv[0],
					optarg);
				return SL_APP_PARSE_ERROR;
			}
			break;
		}
		case 'L':
			if (sl_log_set_flag(optarg)) {
				fprintf(stderr, "%s: unknown log flag '%s' (see --help)\n", argv[0],
					optarg);
				return SL_APP_PARSE_ERROR;
			}
			break;
		case OPT_LOG_LEVEL:
			if (sl_log_level_from_string(optarg, &level)) {
				fprintf(stderr, "%s: unknown log level '%s'\n", argv[0], optarg);
				return SL_APP_PARSE_ERROR;
			}
			sl_log_set_print_level(level);
			break;
		case 'h':
			usage(argv[0], opts->usage_extra);
			return SL_APP_PARSE_EXIT;
		case OPT_VERSION:
			printf("%s\n", SL_VERSION_DESCRIPTION);
			return SL_APP_PARSE_EXIT;
		case '?':
			if (optopt)
				fprintf(stderr, "%s: unknown option or missing argument: -%c\n",
					argv[0], optopt);
			else
				fprintf(stderr, "%s: unknown option: %s\n", argv[0],
					argv[optind - 1]);
			fprintf(stderr, "Try '%s --help'.\n", argv[0]);
			return SL_APP_PARSE_ERROR;
		case ':':
			fprintf(stderr, "%s: option needs an argument: %s\n", argv[0],
				argv[optind - 1]);
			return SL_APP_PARSE_ERROR;
		default:
			if (!app_parse || app_parse(ch, optarg)) {
				fprintf(stderr, "Try '%s --help'.\n", argv[0]);
				return SL_APP_PARSE_ERROR;
			}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n", argv[0],
			argv[optind], argv[0]);
		return SL_APP_PARSE_ERROR;
	}
	return SL_APP_PARSE_SUCCESS;
}

/* ---- start-up ---- */

static void app_stop_msg(void *ctx);

/* Subsystem + config bring-up, shared by sl_app_start and sl_subsystems_start. */
static void (*g_bringup_cb)(int rc, void *arg);
static void *g_bringup_arg;

static void bringup_done(int rc)
{
	app_config_close();
	g_bringup_cb(rc, g_bringup_arg);
}

static void subsystems_init_done(int rc)
{
	if (rc) {
		bringup_done(rc);
		return;
	}
	sl_rpc_set_state(SL_RPC_RUNTIME);
	app_config_run(SL_RPC_RUNTIME, bringup_done);
}

static void config_startup_done(int rc)
{
	if (rc) {
		bringup_done(rc);
		return;
	}
	subsystems_init(subsystems_init_done);
}

void sl_subsystems_start(const char *json_config_file, bool ignore_errors,
			 void (*cb)(int rc, void *arg), void *arg)
{
	int rc;

	g_bringup_cb = cb;
	g_bringup_arg = arg;
	sl_rpc_set_state(SL_RPC_STARTUP);
	if (json_config_file) {
		rc = app_config_open(json_config_file, ignore_errors);
		if (rc) {
			cb(rc, arg);
			return;
		}
	}
	app_config_run(SL_RPC_STARTUP, config_startup_done);
}

static void (*g_stop_cb)(void *arg);
static void *g_stop_arg;

static void subsystems_stopped(void)
{
	g_stop_cb(g_stop_arg);
}

void sl_subsystems_stop(void (*cb)(void *arg), void *arg)
{
	g_stop_cb = cb;
	g_stop_arg = arg;
	subsystems_fini(subsystems_stopped);
}

static void startup_failed(int rc)
{
	g_rc = rc ? rc : -EINVAL;
	app_stop_msg(NULL);
}

static void app_bringup_done(int rc, void *arg)
{
	(void)arg;
	if (rc) {
		startup_failed(rc);
		return;
	}
	g_init_done = true;
	SL_NOTICELOG("%s ready: %u reactor(s)%s%s", g_opts.name, sl_env_get_core_count(),
		     sl_rpc_get_listen_path() ? ", RPC on " : "",
		     sl_rpc_get_listen_path() ? sl_rpc_get_listen_path() : "");
	if (g_start_fn)
		g_start_fn(g_start_ctx);
}

static void bootstrap(void *ctx)
{
	int rc;

	(void)ctx;
	sl_rpc_set_state(SL_RPC_STARTUP);
	if (g_opts.rpc_addr) {
		rc = sl_rpc_listen(g_opts.rpc_addr);
		if (rc) {
			startup_failed(rc);
			return;
		}
	}
	sl_subsystems_start(g_opts.json_config_file, g_opts.json_ignore_init_errors,
			    app_bringup_done, NULL);
}

/* ---- shutdown ---- */

static void subsystems_fini_done(void *arg)
{
	(void)arg;
	reactors_stop();
}

static void app_stop_msg(void *ctx)
{
	(void)ctx;
	if (g_stopping)
		return;
	g_stopping = true;
	sl_rpc_close();
	sl_subsystems_stop(subsystems_fini_done, NULL);
}

void sl_app_stop(int rc)
{
	if (rc)
		g_rc = rc;
	if (sl_thread_send_msg(g_app_thread, app_stop_msg, NULL))
		SL_ERRLOG("cannot reach the app thread to stop");
}

static void signal_msg(void *ctx)
{
	(void)ctx;
	SL_NOTICELOG("signal %d received: shutting down", (int)g_signal);
	if (g_opts.shutdown_cb && !g_stopping)
		g_opts.shutdown_cb();
	else
		sl_app_stop(0);
}

/* Runs on the main reactor every iteration: turn a signal into a message. */
static void main_hook(void)
{
	if (__builtin_expect(g_signal != 0, 0) && !atomic_exchange(&g_signal_handled, true))
		sl_thread_send_msg(g_app_thread, signal_msg, NULL);
}

static void signal_handler(int sig)
{
	/* Only async-signal-safe work here: note it and wake the main reactor. */
	g_signal = sig;
	reactors_signal_wake();
}

static int setup_signals(void)
{
	struct sigaction sa = { .sa_handler = signal_handler };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int sl_app_start(struct sl_app_opts *opts, sl_msg_fn start_fn, void *ctx)
{
	struct sl_env_opts env;
	int rc;

	g_opts = *opts;
	g_start_fn = start_fn;
	g_start_ctx = ctx;
	g_rc = 0;

	sl_env_opts_init(&env);
	env.name = opts->name;
	env.core_mask = opts->reactor_mask;
	env.mem_size_mb = opts->mem_size_mb;
	env.huge_dir = opts->huge_dir;
	env.no_huge = opts->no_huge;
	env.quiet = true;
	rc = sl_env_init(&env);
	if (rc)
		return rc;

	rc = reactors_init(opts->idle_sleep, opts->idle_threshold_us);
	if (rc)
		return rc;
	rc = setup_signals();
	if (rc)
		return rc;
	reactors_set_main_hook(main_hook);

	g_app_thread = sl_thread_create("app_thread", (int32_t)sl_env_get_main_core());
	if (!g_app_thread)
		return -ENOMEM;
	sl_thread_send_msg(g_app_thread, bootstrap, NULL);

	reactors_run();

	reactors_fini();
	return g_rc;
}

void sl_app_fini(void)
{
	sl_env_fini();
}
