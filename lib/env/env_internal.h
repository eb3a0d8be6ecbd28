/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SLUICE_ENV_INTERNAL_H
#define SLUICE_ENV_INTERNAL_H

#include "sluice/env.h"
#include "sluice/log.h"

int env_memory_init(void);
void env_memory_fini(void);

#endif
