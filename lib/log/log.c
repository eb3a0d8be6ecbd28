/* SPDX-License-Identifier: BSD-3-Clause */
#include "sluice/log.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *const g_level_tags[] = {
	[SL_LOG_ERROR] = "ERROR", [SL_LOG_WARN] = "WARN",   [SL_LOG_NOTICE] = "NOTICE",
	[SL_LOG_INFO] = "INFO",	  [SL_LOG_DEBUG] = "DEBUG",
};

static enum sl_log_level g_print_level = SL_LOG_NOTICE;
static struct sl_log_flag *g_flags;
static sl_log_sink_fn g_sink;

static const char *const g_level_names[] = {
	[SL_LOG_ERROR] = "error", [SL_LOG_WARN] = "warning", [SL_LOG_NOTICE] = "notice",
	[SL_LOG_INFO] = "info",	  [SL_LOG_DEBUG] = "debug",
};

void sl_log_register_flag(struct sl_log_flag *flag)
{
	/* Constructors run single-threaded: keep the list sorted by name. */
	struct sl_log_flag **p = &g_flags;

	while (*p && strcmp((*p)->name, flag->name) < 0)
		p = &(*p)->next;
	flag->next = *p;
	*p = flag;
}

void sl_log_set_print_level(enum sl_log_level level)
{
	g_print_level = level;
}

enum sl_log_level sl_log_get_print_level(void)
{
	return g_print_level;
}

int sl_log_level_from_string(const char *s, enum sl_log_level *level)
{
	if (!strcasecmp(s, "disabled")) {
		*level = SL_LOG_DISABLED;
		return 0;
	}
	if (!strcasecmp(s, "warn")) {
		*level = SL_LOG_WARN;
		return 0;
	}
	for (int i = SL_LOG_ERROR; i <= SL_LOG_DEBUG; i++) {
		if (!strcasecmp(s, g_level_names[i])) {
			*level = (enum sl_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sl_log_level_to_string(enum sl_log_level level)
{
	if (level < SL_LOG_ERROR || level > SL_LOG_DEBUG)
		return "disabled";
	return g_level_names[level];
}

static int set_flag(const char *name, bool value)
{
	bool all = !strcmp(name, "all");
	int found = 0;

	for (struct sl_log_flag *f = g_flags; f; f = f->next) {
		if (all || !strcmp(f->name, name)) {
			f->enabled = value;
			found = 1;
		}
	}
	return found || all ? 0 : -ENOENT;
}

int sl_log_set_flag(const char *name)
{
	return set_flag(name, true);
}

int sl_log_clear_flag(const char *name)
{
	return set_flag(name, false);
}

bool sl_log_get_flag(const char *name)
{
	for (struct sl_log_flag *f = g_flags; f; f = f->next)
		if (!strcmp(f->name, name))
			return f->enabled;
	return false;
}

struct sl_log_flag *sl_log_next_flag(struct sl_log_flag *prev)
{
	return prev ? prev->next : g_flags;
}

void sl_log_set_sink(sl_log_sink_fn sink)
{
	g_sink = sink;
}

void sl_vlog(enum sl_log_level level, const char *file, int line, const char *func, const char *fmt,
	     va_list ap)
{
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int rc;

	if (level != SL_LOG_DEBUG && level > g_print_level)
		return;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "[%Y-%m-%d %H:%M:%S", &tm);
	rc = snprintf(buf + n, sizeof(buf) - n, ".%06ld] core %d %s: ", ts.tv_nsec / 1000,
		      sched_getcpu(), g_level_tags[level]);
	if (rc > 0)
		n += (size_t)rc;
	if (level == SL_LOG_ERROR || level == SL_LOG_DEBUG) {
		const char *base = strrchr(file, '/');

		rc = snprintf(buf + n, sizeof(buf) - n, "%s:%d:%s: ", base ? base + 1 : file, line,
			      func);
		if (rc > 0 && (size_t)rc < sizeof(buf) - n)
			n += (size_t)rc;
	}
	if (n < sizeof(buf) - 1) {
		rc = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
		if (rc > 0)
			n += (size_t)rc < sizeof(buf) - n ? (size_t)rc : sizeof(buf) - n - 1;
	}
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	if (n == 0 || buf[n - 1] != '\n')
		buf[n++] = '\n';
	buf[n] = '\0';

	if (g_sink) {
		g_sink(level, buf);
		return;
	}
	/* One write per line so lines from several reactors never interleave. */
	for (size_t off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, buf + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void sl_log(enum sl_log_level level, const char *file, int line, const char *func, const char *fmt,
	    ...)
{
	va_list ap;

	va_start(ap, fmt);
	sl_vlog(level, file, line, func, fmt, ap);
	va_end(ap);
}
