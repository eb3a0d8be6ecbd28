#!/usr/bin/env bash
# Build the iommufd test kernel once and cache it: Debian's kernels lack
# CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV. The source is the current
# bookworm-backports linux package (resolved now, never pinned: the archive
# serves only its current upload), configured as tinyconfig + iommufd.config.
#
#   build-iommufd-kernel.sh [--force] [--clean] [--jobs N]
#
# Output: $SL_VM_CACHE/kernels/iommufd/{vmlinux,kver,config,stamp,build-time}
# (SL_VM_CACHE defaults to ~/.cache/sluice-vm). A cached kernel is reused as
# long as iommufd.config and this recipe are unchanged; `vmrun --kernel
# iommufd` calls this script, so a cold cache builds on first use.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FRAGMENT=$HERE/iommufd.config
CACHE=${SL_VM_CACHE:-~/.cache/sluice-vm}  # ~ still works when HOME is unset
OUT=$CACHE/kernels/iommufd
SRC=$CACHE/iommufd-src
BUILD=$SRC/build
LOG=$SRC/build.log
SUITE=bookworm-backports
# Bump when the steps below change in a way that changes the kernel.
RECIPE=1

force=0
clean=0
jobs=$(nproc)
while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--clean) clean=1 ;;
	--jobs) jobs=$2; shift ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "build-iommufd-kernel.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

say() {
	echo "build-iommufd-kernel: $*" >&2
}

die() {
	say "ERROR: $*"
	exit 1
}

mkdir -p "$CACHE" "$OUT"
stamp="recipe=$RECIPE fragment=$(sha256sum <"$FRAGMENT" | cut -c1-64)"

cached() {
	[ -f "$OUT/vmlinux" ] && [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$stamp" ]
}

if [ $force = 0 ] && cached; then
	say "cached: $(cat "$OUT/kver") ($OUT/vmlinux)"
	exit 0
fi

# One build at a time; whoever waited finds the kernel built.
exec 9>"$CACHE/iommufd.lock"
flock 9
if [ $force = 0 ] && cached; then
	say "cached: $(cat "$OUT/kver") ($OUT/vmlinux)"
	exit 0
fi

t0=$(date +%s)

# The .dsc name carries the version apt would fetch now.
dsc_of_current() {
	apt-get source --print-uris -t "$SUITE" linux 2>/dev/null |
		sed -n "s/^'[^']*' \(linux_[^ ]*\.dsc\) .*/\1/p" | head -1
}
dsc=$(dsc_of_current)
if [ -z "$dsc" ]; then
	say "no linux source known to apt; running apt-get update"
	apt-get update -qq || die "apt-get update failed"
	dsc=$(dsc_of_current)
fi
[ -n "$dsc" ] || die "apt-get source -t $SUITE linux: no source (is there a deb-src entry for $SUITE? see scripts/pkgdep.sh)"
version=${dsc#linux_}
version=${version%.dsc}

# Fetch and unpack (with Debian's patches) unless this version already is.
if [ ! -f "$SRC/unpacked-$version" ]; then
	say "fetching linux $version source (about 150 MB, 1.7 GB unpacked)"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	fetch() {
		(cd "$SRC" && apt-get source -q -o APT::Sandbox::User=root -t "$SUITE" linux) >"$SRC/fetch.log" 2>&1
	}
	if ! fetch; then
		# Stale package lists name an upload the archive no longer serves.
		say "apt-get source failed; retrying after apt-get update"
		apt-get update -qq || die "apt-get update failed"
		rm -rf "$SRC" && mkdir -p "$SRC"
		fetch || { tail -20 "$SRC/fetch.log" >&2; die "apt-get source -t $SUITE linux failed"; }
		dsc=$(dsc_of_current)
		version=${dsc#linux_}
		version=${version%.dsc}
	fi
	rm -f "$SRC"/*.tar.* "$SRC"/*.dsc
	touch "$SRC/unpacked-$version"
fi
tree=$(find "$SRC" -mindepth 1 -maxdepth 1 -type d -name 'linux-*' | head -1)
[ -n "$tree" ] && [ -f "$tree/Makefile" ] || die "no unpacked kernel tree in $SRC"

# ARCH=x86_64 everywhere: tinyconfig would otherwise pick a 32-bit kernel.
kmake() {
	make -C "$tree" O="$BUILD" ARCH=x86_64 "$@"
}

say "configuring (tinyconfig + $(basename "$FRAGMENT"))"
mkdir -p "$BUILD"
: >"$LOG"
{
	kmake tinyconfig
	"$tree/scripts/kconfig/merge_config.sh" -m -O "$BUILD" "$BUILD/.config" "$FRAGMENT"
	kmake olddefconfig
} >>"$LOG" 2>&1 || { tail -30 "$LOG" >&2; die "configuration failed (log: $LOG)"; }

# tinyconfig switches off much that the fragment may depend on: an option
# that Kconfig silently dropped must fail here, not as a mystery in a test.
missing=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$BUILD/.config" && continue
		say "option did not survive olddefconfig: $line (got: $(grep "^${line%%=*}=" "$BUILD/.config" || echo unset))"
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		grep -q "^$opt=" "$BUILD/.config" || continue
		say "option is still on after olddefconfig: $(grep "^$opt=" "$BUILD/.config")"
		;;
	*) continue ;;
	esac
	missing=1
done <"$FRAGMENT"
[ $missing = 0 ] || die "fix $FRAGMENT (dependencies of the options above)"

say "building vmlinux with -j$jobs (about 5-6 minutes on 2 cores; log: $LOG)"
kmake -j"$jobs" vmlinux >>"$LOG" 2>&1 || { tail -40 "$LOG" >&2; die "kernel build failed (log: $LOG)"; }

kver=$(kmake -s kernelrelease 2>/dev/null)
cp "$BUILD/vmlinux" "$OUT/vmlinux.tmp"
mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
cp "$BUILD/.config" "$OUT/config"
echo "$kver" >"$OUT/kver"
echo "$version" >"$OUT/source-version"
secs=$(($(date +%s) - t0))
echo "$secs s on $(nproc) cores, linux $version, $(date -u +%Y-%m-%dT%H:%MZ)" >"$OUT/build-time"
echo "$stamp" >"$OUT/stamp"

if [ $clean = 1 ]; then
	rm -rf "$SRC"
	say "removed the source and build tree"
fi
say "built $kver from linux $version in $((secs / 60)) min $((secs % 60)) s ($OUT/vmlinux)"
