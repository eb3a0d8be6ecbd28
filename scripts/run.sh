#!/usr/bin/env bash
# Start sluice_tgt on the built-in default config (what `make run` does after
# building). Run-time files live under $SLUICE_RUN_DIR (default /var/tmp/sluice);
# the RPC socket is $SLUICE_RPC_SOCKET (default /var/tmp/sluice.sock).
# Extra arguments go to sluice_tgt (e.g. -m 0x3).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
RUN_DIR=${SLUICE_RUN_DIR:-/var/tmp/sluice}
RPC_SOCK=${SLUICE_RPC_SOCKET:-/var/tmp/sluice.sock}

mkdir -p "$RUN_DIR"
sed -e "s|@RUN_DIR@|$RUN_DIR|g" "$top/etc/default.json.in" >"$RUN_DIR/default.json"

if [ "$(id -u)" -eq 0 ]; then
	"$top/scripts/setup.sh" config >/dev/null
else
	echo "run.sh: not root: hugepages not reserved (sluice_tgt falls back to --no-huge)" >&2
fi

echo "Starting sluice_tgt with $RUN_DIR/default.json; RPC socket $RPC_SOCK"
echo "Try: scripts/rpc.py -s $RPC_SOCK framework_get_reactors   (Ctrl-C stops the target)"
exec "$top/$BUILD/bin/sluice_tgt" --json "$RUN_DIR/default.json" -r "$RPC_SOCK" "$@"
