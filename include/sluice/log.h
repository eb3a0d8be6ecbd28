/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging: levels, per-component debug flags, a timestamp and the core on
 * every line. Safe to call from any thread; one line is one write(2).
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sl_log_level {
	SL_LOG_DISABLED = -1,
	SL_LOG_ERROR = 0,
	SL_LOG_WARN,
	SL_LOG_NOTICE,
	SL_LOG_INFO,
	SL_LOG_DEBUG,
};

/* A component's debug flag; declared with SL_LOG_REGISTER_COMPONENT. */
struct sl_log_flag {
	const char *name;
	bool enabled;
	struct sl_log_flag *next;
};

void sl_log_register_flag(struct sl_log_flag *flag);

#define SL_LOG_REGISTER_COMPONENT(flagname)                                                        \
	struct sl_log_flag SL_LOG_##flagname = { .name = #flagname };                              \
	__attribute__((constructor)) static void sl_log_flag_register_##flagname(void)             \
	{                                                                                          \
		sl_log_register_flag(&SL_LOG_##flagname);                                          \
	}

/* Level printed to stderr (default NOTICE). */
void sl_log_set_print_level(enum sl_log_level level);
enum sl_log_level sl_log_get_print_level(void);
/* Level parsing/naming: "error", "warning", "notice", "info", "debug", "disabled". */
int sl_log_level_from_string(const char *s, enum sl_log_level *level);
const char *sl_log_level_to_string(enum sl_log_level level);

/* Enable/disable a debug flag by name; "all" affects every flag. -ENOENT if unknown. */
int sl_log_set_flag(const char *name);
int sl_log_clear_flag(const char *name);
bool sl_log_get_flag(const char *name);
/* Iterate registered flags: pass NULL to get the first. */
struct sl_log_flag *sl_log_next_flag(struct sl_log_flag *prev);

/* Redirect output (tests); NULL restores stderr. */
typedef void (*sl_log_sink_fn)(enum sl_log_level level, const char *line);
void sl_log_set_sink(sl_log_sink_fn sink);

void sl_log(enum sl_log_level level, const char *file, int line, const char *func, const char *fmt,
	    ...) __attribute__((format(printf, 5, 6)));
void sl_vlog(enum sl_log_level level, const char *file, int line, const char *func, const char *fmt,
	     va_list ap) __attribute__((format(printf, 5, 0)));

#define SL_ERRLOG(...) sl_log(SL_LOG_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define SL_WARNLOG(...) sl_log(SL_LOG_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define SL_NOTICELOG(...) sl_log(SL_LOG_NOTICE, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define SL_INFOLOG(...) sl_log(SL_LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Debug lines print when the component's flag is set, whatever the level. */
#define SL_DEBUGLOG(flagname, ...)                                                                 \
	do {                                                                                       \
		extern struct sl_log_flag SL_LOG_##flagname;                                       \
		if (__builtin_expect(SL_LOG_##flagname.enabled, 0))                                \
			sl_log(SL_LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__);           \
	} while (0)

#ifdef __cplusplus
}
#endif
#endif
