/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SLUICE_VERSION_H
#define SLUICE_VERSION_H

#define SL_VERSION_MAJOR 0
#define SL_VERSION_MINOR 1
#define SL_VERSION_PATCH 0
#define SL_VERSION_STRING "0.1.0"
/* Shown by spdk_get_version so SPDK tooling that checks a version string is content. */
#define SL_VERSION_DESCRIPTION "Sluice v" SL_VERSION_STRING

#endif
