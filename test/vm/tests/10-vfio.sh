#!/usr/bin/env bash
# Emulated NVMe controllers behind the intel IOMMU: namespaces of the asked
# sizes and serials, file-backed; binding to vfio-pci gives /dev/vfio/<group>;
# hugepages are reserved; --iommu-aw reaches the IOMMU.
# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh"

W=$SL_TEST_WORKDIR
marker="sluice-vfio-$(date +%s%N)"

guest=$(guest_script guest.sh <<'EOF'
bdfs=($(vm_nvme_bdfs))
[ ${#bdfs[@]} = 2 ] || vm_fail "want 2 NVMe controllers, found: ${bdfs[*]}"

# The kernel driver first: it shows what QEMU built.
vm_modprobe nvme
declare -A serial_of
for bdf in "${bdfs[@]}"; do
	ctrl=$(vm_nvme_ctrl "$bdf")
	serial=$(tr -d ' ' <"/sys/class/nvme/$ctrl/serial")
	serial_of[$serial]=$bdf
	echo "model-$serial=$(sed 's/ *$//' "/sys/class/nvme/$ctrl/model")"
done
for spec in SLVFIO0:1:67108864 SLVFIO0:2:33554432 SLVFIO1:1:16777216; do
	IFS=: read -r serial nsid want <<<"$spec"
	[ -n "${serial_of[$serial]:-}" ] || vm_fail "no controller with serial $serial"
	dev=$(vm_nvme_blockdev_by_nsid "${serial_of[$serial]}" "$nsid")
	echo "size-$serial-$nsid=$(blockdev --getsize64 "$dev")"
done
# Data written through the controller must land in the backing file.
dev=$(vm_nvme_blockdev_by_nsid "${serial_of[SLVFIO0]}" 2)
printf '%s' "$MARKER" | dd of="$dev" bs=4096 seek=100 oflag=direct conv=sync status=none

# Now hand both to vfio-pci.
for bdf in "${bdfs[@]}"; do
	vm_bind_vfio "$bdf"
	group=$(vm_vfio_group "$bdf")
	[ -c "/dev/vfio/$group" ] || vm_fail "/dev/vfio/$group is not a character device"
	echo "bound-$bdf=$(vm_pci_driver "$bdf") group=$group"
done
[ -c /dev/vfio/vfio ] && echo container=present
echo "hugepages=$(vm_hugepages)"
echo "hugepages_free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)"
# Capability register: MGAW (bits 21:16) is the address width minus one.
cap=$(cat /sys/class/iommu/dmar0/intel-iommu/cap)
echo "iommu_aw=$(( ((0x$cap >> 16) & 0x3f) + 1 ))"
EOF
)

"$VMRUN" --workdir "$W" --nvme SLVFIO0:64M,32M --nvme SLVFIO1:16M --iommu-aw 48 \
	--hugepages 64 --env "MARKER=$marker" --script "$guest" >"$W/out"
cat "$W/out"
get() { sed -n "s/^$1=//p" "$W/out"; }

expect_eq "model" "$(get model-SLVFIO0)" "QEMU NVMe Ctrl"
expect_eq "SLVFIO0 nsid 1 size" "$(get size-SLVFIO0-1)" 67108864
expect_eq "SLVFIO0 nsid 2 size" "$(get size-SLVFIO0-2)" 33554432
expect_eq "SLVFIO1 nsid 1 size" "$(get size-SLVFIO1-1)" 16777216
grep -q '^bound-.*=vfio-pci group=' "$W/out" || fail "no controller bound to vfio-pci"
expect_eq "controllers bound to vfio-pci" "$(grep -c '^bound-.*=vfio-pci group=[0-9]' "$W/out")" 2
expect_eq "VFIO container device" "$(get container)" present
expect_eq "hugepages reserved" "$(get hugepages)" 64
expect_eq "hugepages free" "$(get hugepages_free)" 64
expect_eq "IOMMU address width" "$(get iommu_aw)" 48

img=$W/nvme-SLVFIO0-n2.img
expect_eq "backing file size" "$(stat -c %s "$img")" 33554432
dd if="$img" bs=4096 skip=100 count=1 status=none | grep -qa "$marker" ||
	fail "data written in the guest is not in $img"
ok "guest write found in the host backing file"
