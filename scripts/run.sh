#!/usr/bin/env bash
# Start sluice_tgt on the built-in default config (what `make run` does after
# building): bdev Disk0, a 1 GiB file ($SLUICE_DISK_MB MiB) served by the uring
# module. Run-time files live under $SLUICE_RUN_DIR (default /var/tmp/sluice);
# the RPC socket is $SLUICE_RPC_SOCKET (default /var/tmp/sluice.sock).
# Extra arguments go to sluice_tgt (e.g. -m 0x3).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
RUN_DIR=${SLUICE_RUN_DIR:-/var/tmp/sluice}
RPC_SOCK=${SLUICE_RPC_SOCKET:-/var/tmp/sluice.sock}

DISK_MB=${SLUICE_DISK_MB:-1024}

mkdir -p "$RUN_DIR"
# Disk0: a 1 GiB file-backed (uring) bdev; kept across runs so its data persists.
if [ ! -f "$RUN_DIR/disk0.img" ]; then
	truncate -s "${DISK_MB}M" "$RUN_DIR/disk0.img"
	echo "Created $RUN_DIR/disk0.img (${DISK_MB} MiB) for bdev Disk0"
fi
sed -e "s|@RUN_DIR@|$RUN_DIR|g" "$top/etc/default.json.in" >"$RUN_DIR/default.json"

if [ "$(id -u)" -eq 0 ]; then
	"$top/scripts/setup.sh" config >/dev/null
else
	echo "run.sh: not root: hugepages not reserved (sluice_tgt falls back to --no-huge)" >&2
fi

echo "Starting sluice_tgt with $RUN_DIR/default.json; RPC socket $RPC_SOCK"
echo "Try: scripts/rpc.py -s $RPC_SOCK framework_get_reactors   (Ctrl-C stops the target)"
exec "$top/$BUILD/bin/sluice_tgt" --json "$RUN_DIR/default.json" -r "$RPC_SOCK" "$@"
