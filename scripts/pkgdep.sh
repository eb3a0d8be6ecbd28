#!/usr/bin/env bash
# Install every Debian package that Sluice's build, run and tests need.
# Idempotent and quiet: packages already present are not reinstalled, and apt
# is only consulted when something is missing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "pkgdep.sh: must run as root (apt-get install)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Build and run time.
pkgs=(build-essential pkg-config clang libdpdk-dev libjansson-dev libisal-dev
	liburing-dev libaio-dev libcmocka-dev libnuma-dev)
# Tests, benchmarks and tools.
pkgs+=(python3 fio nvme-cli util-linux procps psmisc valgrind)
# The VM test of scripts/setup.sh: mkfs.ext4, swapon, dmsetup (its modprobe
# comes from kmod, below).
pkgs+=(e2fsprogs mount dmsetup)
# VM harness: QEMU under TCG, kernels and initramfs, the iommufd kernel build.
pkgs+=(qemu-system-x86 qemu-utils busybox-static cpio kmod flex bison libelf-dev
	libssl-dev bc xz-utils zstd dpkg-dev)

sources=/etc/apt/sources.list.d/sluice-backports.sources
need_update=0
if [ ! -f "$sources" ]; then
	# bookworm-backports (binary and source): the 6.12 kernel source for the
	# iommufd test kernel and linux-libc-dev with linux/iommufd.h.
	cat >"$sources" <<'SRC'
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	need_update=1
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "$need_update" = 1 ] || [ "${#missing[@]}" -gt 0 ]; then
	apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
	echo "pkgdep.sh: installing ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- uAPI headers for lib/vfio ----
# lib/vfio needs linux/iommufd.h and the VFIO device cdev ioctls
# (VFIO_DEVICE_BIND_IOMMUFD, ...). bookworm's linux-libc-dev (6.1) has neither;
# bookworm-backports' (6.12) has both. Sluice never redefines kernel structures.
if [ ! -f /usr/include/linux/iommufd.h ] ||
	! grep -q VFIO_DEVICE_BIND_IOMMUFD /usr/include/linux/vfio.h 2>/dev/null; then
	echo "pkgdep.sh: installing linux-libc-dev from bookworm-backports (linux/iommufd.h)"
	[ "$need_update" = 1 ] || [ "${#missing[@]}" -gt 0 ] || apt-get update -qq
	apt-get install -y -qq --no-install-recommends -t bookworm-backports linux-libc-dev >/dev/null
	if [ ! -f /usr/include/linux/iommufd.h ]; then
		echo "pkgdep.sh: linux-libc-dev from bookworm-backports has no linux/iommufd.h" >&2
		exit 1
	fi
fi
# ---- end uAPI headers ----

# ---- fio source for the fio plugin ----
# build/fio/sluice_bdev is compiled against the headers of the fio that is
# installed (fio rejects an engine built for another FIO_IOOPS_VERSION). Fetch
# that exact version's Debian source once into /var/tmp/sluice-fio-src/<version>/src
# (outside the repository: survives make clean and is never committed) and run
# its ./configure for config-host.h; fio itself is not built. The Makefile finds
# it through the symlink /var/tmp/sluice-fio-src/current, unless
# ./configure --with-fio=DIR names another configured tree. Failure here only
# warns: everything except the plugin builds without it.
fio_src_root=/var/tmp/sluice-fio-src
fio_prepare() {
	local ver dir tmp
	ver=$(dpkg-query -W -f='${Version}' fio 2>/dev/null) || return 0
	[ -n "$ver" ] || return 0
	dir=$fio_src_root/${ver//:/_}
	if [ ! -f "$dir/src/config-host.h" ]; then
		echo "pkgdep.sh: fetching the source of fio $ver for the fio plugin"
		mkdir -p "$fio_src_root"
		tmp=$(mktemp -d "$fio_src_root/.prepare.XXXXXX")
		chmod 755 "$tmp"
		if ! (cd "$tmp" && apt-get source -qq --download-only "fio=$ver" >/dev/null 2>&1 &&
			dpkg-source -q -x ./*.dsc src >/dev/null 2>&1 &&
			cd src && ./configure --disable-native --prefix=/usr >configure.out 2>&1 &&
			[ -f config-host.h ]); then
			rm -rf "$tmp"
			echo "pkgdep.sh: warning: could not fetch or configure the fio $ver source" \
				"(deb-src for bookworm in $sources?); build/fio/sluice_bdev will not be built" >&2
			return 0
		fi
		rm -rf "$dir"
		mv "$tmp" "$dir"
	fi
	ln -sfn "$(basename "$dir")" "$fio_src_root/current"
}
fio_prepare
# ---- end fio source ----
exit 0
