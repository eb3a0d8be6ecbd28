/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target. Configured through its JSON-RPC methods (SPDK's names:
 * nvmf_create_transport, nvmf_create_subsystem, nvmf_subsystem_add_ns, ...);
 * this header holds what those share with other libraries and tools.
 */
#ifndef SLUICE_NVMF_H
#define SLUICE_NVMF_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/nvmf_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A transport address as the RPCs and the discovery log name it. */
struct sl_nvmf_listen_addr {
	enum sl_nvmf_trtype trtype;
	enum sl_nvmf_adrfam adrfam;
	char traddr[SL_NVMF_TRADDR_MAX_LEN + 1];
	char trsvcid[SL_NVMF_TRSVCID_MAX_LEN + 1];
};

/* "TCP" -> SL_NVMF_TRTYPE_TCP (case-insensitive); -EINVAL if unknown. */
int sl_nvmf_trtype_parse(const char *name, enum sl_nvmf_trtype *trtype);
const char *sl_nvmf_trtype_name(enum sl_nvmf_trtype trtype);
/* "IPv4"/"IPv6" (case-insensitive) -> adrfam; -EINVAL if unknown. */
int sl_nvmf_adrfam_parse(const char *name, enum sl_nvmf_adrfam *adrfam);
const char *sl_nvmf_adrfam_name(enum sl_nvmf_adrfam adrfam);

/*
 * Check an NQN against the NVMe rules: at most 223 bytes, UTF-8, either
 * "nqn.yyyy-mm.reverse.domain[:anything]" with a valid date and domain
 * label, or "nqn.2014-08.org.nvmexpress:uuid:" followed by a UUID, or the
 * discovery NQN. Writes the reason to err on failure.
 */
bool sl_nvmf_nqn_is_valid(const char *nqn, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
