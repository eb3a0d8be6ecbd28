/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice_tgt: the storage target. Starts reactors, subsystems and the
 * JSON-RPC server, loads the JSON config if one is given, then serves until
 * SIGINT/SIGTERM.
 */
#include "sluice/event.h"
#include "sluice/log.h"

#include <stdio.h>
#include <stdlib.h>

static void tgt_usage(void)
{
	printf("sluice_tgt serves block devices to NVMe-oF/TCP hosts and to VMs (vhost-user).\n"
	       "Configure it with --json FILE or at run time with scripts/rpc.py.\n");
}

int main(int argc, char **argv)
{
	struct sl_app_opts opts;
	int rc;

	sl_app_opts_init(&opts);
	opts.name = "sluice_tgt";
	opts.usage_extra = tgt_usage;
	switch (sl_app_parse_args(argc, argv, &opts, NULL, NULL, NULL)) {
	case SL_APP_PARSE_SUCCESS:
		break;
	case SL_APP_PARSE_EXIT:
		return 0;
	default:
		return 1;
	}
	rc = sl_app_start(&opts, NULL, NULL);
	sl_app_fini();
	if (rc)
		fprintf(stderr, "sluice_tgt: exiting with error %d\n", rc);
	return rc ? 1 : 0;
}
