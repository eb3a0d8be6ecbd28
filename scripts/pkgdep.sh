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
exit 0
