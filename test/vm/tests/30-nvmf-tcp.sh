#!/usr/bin/env bash
# The reference NVMe/TCP pair in one guest: the Linux kernel target
# (configfs) exports a RAM disk on 127.0.0.1:4420, the Linux host connects
# with nvme-cli, `nvme list` shows the namespace, fio write+verify passes,
# and the data really is on the target's backing device.
# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh"

W=$SL_TEST_WORKDIR

guest=$(guest_script guest.sh <<'EOF'
nqn=nqn.2024-01.io.sluice:vm-selftest
marker=sluice-tcp-$RANDOM$RANDOM

# 64 MiB RAM disk as the target's backing device.
modprobe brd rd_nr=1 rd_size=65536
vm_nvmet_tcp_export "$nqn" /dev/ram0 4420
ctrl=$(vm_nvme_connect_tcp "$nqn" 127.0.0.1 4420)
echo "ctrl=$ctrl"
echo "transport=$(cat "/sys/class/nvme/$ctrl/transport")"
echo "address=$(cat "/sys/class/nvme/$ctrl/address")"
dev=$(vm_nvme_blockdev_by_nsid "$nqn" 1)
echo "dev=$dev"
echo "size=$(blockdev --getsize64 "$dev")"

nvme list >/tmp/list.txt
cat /tmp/list.txt >&2
grep -q "^$dev " /tmp/list.txt && echo "listed=yes"

vm_fio_verify "$dev" 32M && echo "fio=passed"

# A block written by the host is on the RAM disk behind the target.
printf '%s' "$marker" | dd of="$dev" bs=4096 seek=12000 oflag=direct conv=sync status=none
dd if=/dev/ram0 bs=4096 skip=12000 count=1 iflag=direct status=none | grep -qa "$marker" &&
	echo "backing=has-data"

vm_nvme_disconnect "$nqn"
grep -qsx "$nqn" /sys/class/nvme/nvme*/subsysnqn || echo "disconnected=yes"
vm_nvmet_unexport "$nqn"
[ -d "/sys/kernel/config/nvmet/subsystems/$nqn" ] || echo "unexported=yes"
EOF
)

"$VMRUN" --workdir "$W" --script "$guest" >"$W/out"
cat "$W/out"
get() { sed -n "s/^$1=//p" "$W/out"; }

expect_eq "transport" "$(get transport)" tcp
case $(get address) in
*traddr=127.0.0.1*trsvcid=4420*) ok "connected to 127.0.0.1:4420" ;;
*) fail "controller address '$(get address)'" ;;
esac
expect_eq "namespace size" "$(get size)" 67108864
expect_eq "nvme list shows $(get dev)" "$(get listed)" yes
expect_eq "fio write+verify crc32c" "$(get fio)" passed
expect_eq "data on the target's backing device" "$(get backing)" has-data
expect_eq "disconnect" "$(get disconnected)" yes
expect_eq "target teardown" "$(get unexported)" yes
