/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SLUICE_EVENT_INTERNAL_H
#define SLUICE_EVENT_INTERNAL_H

#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/log.h"
#include "sluice/thread.h"

int reactors_init(bool idle_sleep, uint64_t idle_threshold_us);
void reactors_fini(void);
/* Run every reactor; returns when all have stopped. Called on the main core. */
void reactors_run(void);
/* Ask every reactor to exit its threads and stop (any thread). */
void reactors_stop(void);
/* Async-signal-safe: wake the main reactor to notice a pending signal. */
void reactors_signal_wake(void);
/* Poll hook the main reactor runs each iteration (signal handling). */
void reactors_set_main_hook(void (*hook)(void));

void subsystems_init(void (*done)(int rc));
void subsystems_fini(void (*done)(void));
void subsystems_write_config(void *subsystems_array);

/* JSON config: open and check the whole file, run one phase at a time, close. */
int app_config_open(const char *path, bool ignore_errors);
void app_config_run(uint32_t phase, void (*done)(int rc));
void app_config_close(void);

#endif
