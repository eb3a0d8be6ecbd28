#!/usr/bin/env bash
# Start sluice_tgt on the built-in default config (what `make run` does after
# building): bdev Disk0, a 1 GiB file ($SLUICE_DISK_MB MiB) served by the uring
# module, exported over NVMe/TCP as nqn.2016-06.io.sluice:disk0 on
# $SLUICE_NVMF_ADDR:$SLUICE_NVMF_PORT (default 127.0.0.1:4420) with the
# discovery service on port $SLUICE_NVMF_DISCOVERY_PORT (default 8009).
# Run-time files live under $SLUICE_RUN_DIR (default /var/tmp/sluice);
# the RPC socket is $SLUICE_RPC_SOCKET (default /var/tmp/sluice.sock).
# Extra arguments go to sluice_tgt (e.g. -m 0x3).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
RUN_DIR=${SLUICE_RUN_DIR:-/var/tmp/sluice}
RPC_SOCK=${SLUICE_RPC_SOCKET:-/var/tmp/sluice.sock}

DISK_MB=${SLUICE_DISK_MB:-1024}
NVMF_ADDR=${SLUICE_NVMF_ADDR:-127.0.0.1}
NVMF_PORT=${SLUICE_NVMF_PORT:-4420}
NVMF_DISCOVERY_PORT=${SLUICE_NVMF_DISCOVERY_PORT:-8009}

mkdir -p "$RUN_DIR"
# Disk0: a 1 GiB file-backed (uring) bdev; kept across runs so its data persists.
if [ ! -f "$RUN_DIR/disk0.img" ]; then
	truncate -s "${DISK_MB}M" "$RUN_DIR/disk0.img"
	echo "Created $RUN_DIR/disk0.img (${DISK_MB} MiB) for bdev Disk0"
fi
sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@NVMF_ADDR@|$NVMF_ADDR|g" -e "s|@NVMF_PORT@|$NVMF_PORT|g" \
	-e "s|@NVMF_DISCOVERY_PORT@|$NVMF_DISCOVERY_PORT|g" "$top/etc/default.json.in" >"$RUN_DIR/default.json"

if [ "$(id -u)" -eq 0 ]; then
	"$top/scripts/setup.sh" config >/dev/null
else
	echo "run.sh: not root: hugepages not reserved (sluice_tgt falls back to --no-huge)" >&2
fi

echo "Starting sluice_tgt with $RUN_DIR/default.json; RPC socket $RPC_SOCK"
echo "Try: scripts/rpc.py -s $RPC_SOCK nvmf_get_subsystems   (Ctrl-C stops the target)"
echo "A Linux host connects with: nvme connect -t tcp -a $NVMF_ADDR -s $NVMF_PORT -n nqn.2016-06.io.sluice:disk0"
exec "$top/$BUILD/bin/sluice_tgt" --json "$RUN_DIR/default.json" -r "$RPC_SOCK" "$@"
