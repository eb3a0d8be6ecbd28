#!/usr/bin/env bash
# The reference vhost-user-blk pair: qemu-storage-daemon on the host exports
# a file; the guest sees a virtio disk of that size, fio write+verify passes,
# and what the guest wrote is in the host file.
# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh"

W=$SL_TEST_WORKDIR
img=$W/disk.img
sock=$W/vhost.sock
size=$((96 << 20))
marker="sluice-vhost-$(date +%s%N)"

rm -f "$img" "$sock"
truncate -s $size "$img"
qemu-storage-daemon \
	--blockdev "driver=file,node-name=file0,filename=$img" \
	--export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$sock,writable=on,num-queues=2" \
	>"$W/qsd.log" 2>&1 &
qsd=$!
trap 'kill $qsd 2>/dev/null; wait $qsd 2>/dev/null' EXIT
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	kill -0 $qsd 2>/dev/null || { cat "$W/qsd.log" >&2; fail "qemu-storage-daemon died"; }
	sleep 0.1
done
[ -S "$sock" ] || fail "qemu-storage-daemon did not create $sock"

guest=$(guest_script guest.sh <<'EOF'
disks=(/sys/block/vd*)
[ ${#disks[@]} = 1 ] && [ -e "${disks[0]}" ] || vm_fail "want one virtio disk, found: ${disks[*]}"
dev=/dev/$(basename "${disks[0]}")
echo "dev=$dev"
echo "size=$(blockdev --getsize64 "$dev")"
echo "queues=$(ls "/sys/block/$(basename "$dev")/mq" | wc -l)"
vm_fio_verify "$dev" 32M && echo "fio=passed"
printf '%s' "$MARKER" | dd of="$dev" bs=4096 seek=20000 oflag=direct conv=sync,fsync status=none
echo "written=yes"
EOF
)

"$VMRUN" --workdir "$W" --vhost-user-blk "$sock" --env "MARKER=$marker" \
	--script "$guest" >"$W/out"
cat "$W/out"
get() { sed -n "s/^$1=//p" "$W/out"; }

kill -0 $qsd 2>/dev/null || { cat "$W/qsd.log" >&2; fail "qemu-storage-daemon exited during the test"; }
case $(get dev) in /dev/vd[a-z]) ok "virtio disk $(get dev)" ;; *) fail "disk '$(get dev)'" ;; esac
expect_eq "disk size" "$(get size)" $size
expect_eq "virtqueues" "$(get queues)" 2
expect_eq "fio write+verify crc32c" "$(get fio)" passed
expect_eq "marker written" "$(get written)" yes
dd if="$img" bs=4096 skip=20000 count=1 status=none | grep -qa "$marker" ||
	fail "data written in the guest is not in $img"
ok "guest write found in the host file"
# fio's verified writes covered the first 32 MiB: no longer all zeros.
cmp -s -n $((32 << 20)) "$img" /dev/zero && fail "fio's writes are not in $img"
ok "fio's data is in the host file"
