#!/usr/bin/env bash
# scripts/setup.sh on two emulated NVMe controllers behind the intel IOMMU:
# a controller whose namespace is mounted, used as swap or held by
# device-mapper is refused with the cause named, the other is bound to
# vfio-pci; PCI_ALLOWED / PCI_BLOCKED select; status lists both; reset gives
# them back to nvme with their data. A second guest without IOMMU: refused.
# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh"

W=$SL_TEST_WORKDIR

# help and usage need no guest.
rc=0
scripts/setup.sh help >"$W/help.out" 2>&1 || rc=$?
expect_eq "setup.sh help: exit" "$rc" 0
for w in PCI_ALLOWED PCI_BLOCKED vfio-pci driver_override "no-IOMMU" "Exit status"; do
	grep -qF -- "$w" "$W/help.out" || fail "setup.sh help does not mention $w"
done
ok "help mentions PCI_ALLOWED, PCI_BLOCKED, vfio-pci, driver_override, no-IOMMU, exit status"
rc=0
scripts/setup.sh bogus >/dev/null 2>&1 || rc=$?
expect_eq "setup.sh bogus: exit" "$rc" 1

guest=$(guest_script guest.sh <<'EOF'
S=$PWD/scripts/setup.sh
O=$SL_VM_WORKDIR
# run NAME [VAR=VALUE...] ARGS...: setup.sh with that environment; its
# stdout/stderr go to NAME.out/.err in the work dir, its status to stdout.
run() {
	local name=$1 rc=0
	shift
	env "$@" >"$O/$name.out" 2>"$O/$name.err" || rc=$?
	echo "rc-$name=$rc"
}
drivers() { # TAG: where both controllers are now
	echo "drv0-$1=$(vm_pci_driver "$bdf0")"
	echo "drv1-$1=$(vm_pci_driver "$bdf1")"
}

bdfs=($(vm_nvme_bdfs))
[ ${#bdfs[@]} = 2 ] || vm_fail "want 2 NVMe controllers, found: ${bdfs[*]}"
echo "vfio_preloaded=$([ -d /sys/bus/pci/drivers/vfio-pci ] && echo yes || echo no)"

# (1) The kernel's nvme driver owns both (no udev here: load it ourselves).
vm_modprobe nvme
for bdf in "${bdfs[@]}"; do
	ctrl=$(vm_nvme_ctrl "$bdf")
	case $(tr -d ' ' <"/sys/class/nvme/$ctrl/serial") in
	SLSET0) bdf0=$bdf ;;
	SLSET1) bdf1=$bdf ;;
	esac
done
echo "bdf0=$bdf0"
echo "bdf1=$bdf1"
drivers boot
dev0=$(vm_nvme_blockdev_by_nsid "$bdf0" 1)
dev1=$(vm_nvme_blockdev_by_nsid "$bdf1" 1)

# Bad environment and no root first.
run badaddr PCI_ALLOWED=zz "$S"
run nodev PCI_ALLOWED=0000:00:1e.7 HUGEMEM=0 "$S"
run notnvme PCI_ALLOWED=0000:00:00.0 HUGEMEM=0 "$S"
run nonroot setpriv --reuid=65534 --regid=65534 --clear-groups "$S" config
run nonroot_status setpriv --reuid=65534 --regid=65534 --clear-groups "$S" status
# vfio-pci cannot be loaded: modprobe finds no modules there.
run nomod MODPROBE_OPTIONS="-d /nonexistent" HUGEMEM=0 "$S"
drivers nomod

# (2) ext4 on controller 0's namespace, mounted; setup.sh binds only 1.
mkfs.ext4 -q -F "$dev0"
mkdir -p /tmp/sl-mnt
mount "$dev0" /tmp/sl-mnt
echo "$MARKER" >/tmp/sl-mnt/marker
run cfg HUGEMEM=64 "$S"
drivers cfg
group1=$(vm_vfio_group "$bdf1")
echo "group1=$group1"
echo "vfio_dev1=$([ -c "/dev/vfio/$group1" ] && echo chardev || echo missing)"
echo "still_mounted=$(mountpoint -q /tmp/sl-mnt && echo yes || echo no)"
echo "hugepages_cfg=$(vm_hugepages)"
# Named in PCI_ALLOWED while mounted: refused, and the status says so.
run cfg_named PCI_ALLOWED="$bdf0" HUGEMEM=64 "$S"
drivers cfg_named

# reset: controller 1 back to nvme, its namespace reappears; 0 untouched.
run reset1 "$S" reset
drivers reset1
dev1=$(vm_nvme_blockdev_by_nsid "$bdf1" 1)
echo "dev1_back=$([ -b "$dev1" ] && echo yes || echo no)"
echo "hugepages_reset1=$(vm_hugepages)"

# Swap, then a device-mapper holder, on controller 1.
mkswap -q "$dev1"
swapon "$dev1"
run swap PCI_ALLOWED="$bdf1" HUGEMEM=0 "$S"
drivers swap
swapoff "$dev1"
vm_modprobe dm_mod
dmsetup create --noudevsync sl-hold --table "0 $(blockdev --getsz "$dev1") linear $dev1 0"
run holder PCI_ALLOWED="$bdf1" HUGEMEM=0 "$S"
drivers holder
dmsetup remove --noudevsync sl-hold
# A file system on a partition of the namespace.
# An MBR with one Linux partition (LBA 2048, 8 MiB) written by hand: no
# partitioning tool needed.
printf '\x00\x00\x00\x00\x83\x00\x00\x00\x00\x08\x00\x00\x00\x40\x00\x00' |
	dd of="$dev1" bs=1 seek=446 conv=notrunc,fsync status=none
printf '\x55\xaa' | dd of="$dev1" bs=1 seek=510 conv=notrunc,fsync status=none
blockdev --rereadpt "$dev1"
vm_wait_for "${dev1}p1" test -b "${dev1}p1"
mkfs.ext4 -q -F "${dev1}p1"
mkdir -p /tmp/sl-part
mount "${dev1}p1" /tmp/sl-part
run part PCI_ALLOWED="$bdf1" HUGEMEM=0 "$S"
drivers part
umount /tmp/sl-part
echo "dev1_part=${dev1}p1"

# (3) Unmounted now: PCI_ALLOWED binds controller 0 only.
umount /tmp/sl-mnt
run allowed PCI_ALLOWED="$bdf0" HUGEMEM=64 "$S"
drivers allowed
echo "group0=$(vm_vfio_group "$bdf0")"
# PCI_BLOCKED keeps controller 1 where it is.
run blocked PCI_BLOCKED="${bdf1#0000:}" HUGEMEM=64 "$S"
drivers blocked

# (4) status lists both with their drivers.
echo "dev1_name=${dev1#/dev/}"
run status "$S" status

# (5) reset: both back on nvme, block devices and data back.
run reset2 "$S" reset
drivers reset2
dev0=$(vm_nvme_blockdev_by_nsid "$bdf0" 1)
dev1=$(vm_nvme_blockdev_by_nsid "$bdf1" 1)
echo "blockdevs_reset2=$([ -b "$dev0" ] && [ -b "$dev1" ] && echo both)"
echo "override0=$(cat "/sys/bus/pci/devices/$bdf0/driver_override")"
echo "override1=$(cat "/sys/bus/pci/devices/$bdf1/driver_override")"
mount -o ro "$dev0" /tmp/sl-mnt
echo "marker_back=$(cat /tmp/sl-mnt/marker)"
umount /tmp/sl-mnt
echo "hugepages_reset2=$(vm_hugepages)"
EOF
)

marker="sluice-setup-$(date +%s%N)"
"$VMRUN" --workdir "$W" --nvme SLSET0:32M --nvme SLSET1:16M --env "MARKER=$marker" \
	--script "$guest" >"$W/out"
cat "$W/out"
get() { sed -n "s/^$1=//p" "$W/out"; }
# show NAME: what setup.sh printed in that step (into the log).
show() {
	echo "--- setup.sh $1: exit $(get "rc-$1")"
	cat "$W/$1.out" "$W/$1.err"
}
has() { # STEP FILE-SUFFIX TEXT
	grep -qF -- "$3" "$W/$1.$2" || fail "setup.sh $1: '$3' not in its std${2}"
}
for s in badaddr nodev notnvme nonroot nonroot_status nomod cfg cfg_named reset1 swap holder part \
	allowed blocked status reset2; do
	show "$s"
done
echo "---"
# A bash error inside setup.sh ("setup.sh: line N: ...") is a bug whatever the exit status.
if grep -H 'setup\.sh: line [0-9]' "$W"/*.err; then
	fail "shell errors from setup.sh (above)"
fi

bdf0=$(get bdf0)
bdf1=$(get bdf1)
{ [ -n "$bdf0" ] && [ -n "$bdf1" ]; } || fail "controllers SLSET0/SLSET1 not found"
expect_eq "vfio-pci not loaded at boot" "$(get vfio_preloaded)" no
# (1)
expect_eq "controller 0 on nvme at start" "$(get drv0-boot)" nvme
expect_eq "controller 1 on nvme at start" "$(get drv1-boot)" nvme

# Bad input and failures of a whole step.
expect_eq "PCI_ALLOWED=zz: exit" "$(get rc-badaddr)" 1
has badaddr err "PCI_ALLOWED: 'zz' is not a PCI address"
expect_eq "PCI_ALLOWED with a missing device: exit" "$(get rc-nodev)" 2
has nodev err "PCI_ALLOWED names 0000:00:1e.7: no such PCI device"
expect_eq "PCI_ALLOWED with a host bridge: exit" "$(get rc-notnvme)" 2
has notnvme err "PCI_ALLOWED names 0000:00:00.0: not an NVMe controller"
expect_eq "config as non-root: exit" "$(get rc-nonroot)" 1
has nonroot err "must run as root"
expect_eq "status as non-root: exit" "$(get rc-nonroot_status)" 0
has nonroot_status out "$bdf0"
expect_eq "vfio-pci not loadable: exit" "$(get rc-nomod)" 1
has nomod err "cannot load vfio-pci"
expect_eq "vfio-pci not loadable: controller 0 stays" "$(get drv0-nomod)" nvme
expect_eq "vfio-pci not loadable: controller 1 stays" "$(get drv1-nomod)" nvme

# (2) mounted controller refused, the other bound.
expect_eq "setup.sh with one controller mounted: exit" "$(get rc-cfg)" 0
has cfg err "$bdf0 (1b36:0010): in use, not binding it to vfio-pci"
has cfg err "is mounted on /tmp/sl-mnt (ext4)"
has cfg out "$bdf1 (1b36:0010): nvme -> vfio-pci, IOMMU group $(get group1)"
expect_eq "mounted controller stays on nvme" "$(get drv0-cfg)" nvme
expect_eq "free controller bound" "$(get drv1-cfg)" vfio-pci
expect_eq "/dev/vfio/<group> of the bound controller" "$(get vfio_dev1)" chardev
expect_eq "file system still mounted" "$(get still_mounted)" yes
expect_eq "hugepages reserved (HUGEMEM=64)" "$(get hugepages_cfg)" 32
expect_eq "mounted controller named in PCI_ALLOWED: exit" "$(get rc-cfg_named)" 2
has cfg_named err "is mounted on /tmp/sl-mnt (ext4)"
expect_eq "... and it stays on nvme" "$(get drv0-cfg_named)" nvme
expect_eq "first reset: exit" "$(get rc-reset1)" 0
has reset1 out "$bdf1 (1b36:0010): vfio-pci -> nvme"
expect_eq "first reset: controller 1 back on nvme" "$(get drv1-reset1)" nvme
expect_eq "first reset: controller 0 (mounted) untouched" "$(get drv0-reset1)" nvme
expect_eq "first reset: namespace of controller 1 back" "$(get dev1_back)" yes
expect_eq "first reset: hugepages released" "$(get hugepages_reset1)" 0
expect_eq "swap user named in PCI_ALLOWED: exit" "$(get rc-swap)" 2
has swap err "is in use as swap"
expect_eq "swap: controller 1 stays on nvme" "$(get drv1-swap)" nvme
expect_eq "dm holder named in PCI_ALLOWED: exit" "$(get rc-holder)" 2
has holder err "is held by dm-"
has holder err "(device-mapper 'sl-hold')"
expect_eq "dm holder: controller 1 stays on nvme" "$(get drv1-holder)" nvme
expect_eq "mounted partition named in PCI_ALLOWED: exit" "$(get rc-part)" 2
has part err "$(get dev1_part) is mounted on /tmp/sl-part (ext4)"
expect_eq "mounted partition: controller 1 stays on nvme" "$(get drv1-part)" nvme

# (3) PCI_ALLOWED binds only the named one; PCI_BLOCKED keeps one out.
expect_eq "PCI_ALLOWED=controller 0: exit" "$(get rc-allowed)" 0
expect_eq "PCI_ALLOWED: controller 0 bound" "$(get drv0-allowed)" vfio-pci
expect_eq "PCI_ALLOWED: controller 1 left on nvme" "$(get drv1-allowed)" nvme
expect_eq "PCI_BLOCKED=controller 1: exit" "$(get rc-blocked)" 0
has blocked out "$bdf1 (1b36:0010): in PCI_BLOCKED, left alone"
has blocked out "$bdf0 (1b36:0010): already bound to vfio-pci"
expect_eq "PCI_BLOCKED: controller 1 left on nvme" "$(get drv1-blocked)" nvme

# (4) status: one line per controller with driver, group and block devices.
expect_eq "status: exit" "$(get rc-status)" 0
line0=$(grep -F "  $bdf0 " "$W/status.out") || fail "status does not list $bdf0"
line1=$(grep -F "  $bdf1 " "$W/status.out") || fail "status does not list $bdf1"
read -r b v d g _ <<<"$line0"
expect_eq "status of controller 0" "$b $v $d $g" "$bdf0 1b36:0010 vfio-pci $(get group0)"
read -r b v d g _ blk <<<"$line1"
expect_eq "status of controller 1" "$b $v $d $g $blk" "$bdf1 1b36:0010 nvme $(get group1) $(get dev1_name)"
has status out "2048kB     total     32"

# (5) reset gives both back with their data.
expect_eq "final reset: exit" "$(get rc-reset2)" 0
has reset2 out "$bdf0 (1b36:0010): vfio-pci -> nvme"
expect_eq "final reset: controller 0 on nvme" "$(get drv0-reset2)" nvme
expect_eq "final reset: controller 1 on nvme" "$(get drv1-reset2)" nvme
expect_eq "final reset: block devices" "$(get blockdevs_reset2)" both
expect_eq "final reset: driver_override cleared (0)" "$(get override0)" "(null)"
expect_eq "final reset: driver_override cleared (1)" "$(get override1)" "(null)"
expect_eq "file written before binding, read after reset" "$(get marker_back)" "$marker"
expect_eq "final reset: hugepages released" "$(get hugepages_reset2)" 0

# Without an IOMMU (the kernel told to leave the emulated one off), binding
# is refused: vfio-pci would need its no-IOMMU mode.
noiommu=$(guest_script noiommu.sh <<'EOF'
vm_modprobe nvme
bdf=$(vm_nvme_bdfs)
vm_nvme_ctrl "$bdf" >/dev/null
echo "groups=$(ls /sys/kernel/iommu_groups | wc -l)"
rc=0
HUGEMEM=0 "$PWD/scripts/setup.sh" >"$SL_VM_WORKDIR/noiommu.out" 2>"$SL_VM_WORKDIR/noiommu.err" || rc=$?
echo "rc=$rc"
echo "drv=$(vm_pci_driver "$bdf")"
echo "vfio=$([ -d /sys/bus/pci/drivers/vfio-pci ] && echo loaded || echo absent)"
EOF
)
"$VMRUN" --workdir "$W/noiommu" --nvme SLNOIO:16M --append intel_iommu=off \
	--script "$noiommu" >"$W/noiommu.txt"
cat "$W/noiommu.txt" "$W/noiommu/noiommu.out" "$W/noiommu/noiommu.err"
get2() { sed -n "s/^$1=//p" "$W/noiommu.txt"; }
expect_eq "intel_iommu=off: IOMMU groups" "$(get2 groups)" 0
expect_eq "no IOMMU: exit" "$(get2 rc)" 1
grep -qF "no IOMMU is active" "$W/noiommu/noiommu.err" || fail "no-IOMMU refusal not explained"
grep -qF "no-IOMMU mode" "$W/noiommu/noiommu.err" || fail "no-IOMMU mode not mentioned"
ok "no IOMMU: refusal explained"
expect_eq "no IOMMU: controller stays on nvme" "$(get2 drv)" nvme
expect_eq "no IOMMU: vfio-pci not even loaded" "$(get2 vfio)" absent
