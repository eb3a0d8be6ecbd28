#!/usr/bin/env bash
# fio with the sluice_bdev external ioengine (build/fio/sluice_bdev): verify=crc32c
# writes and reads on malloc, error, aio and uring bdevs (null: a plain run, it
# stores nothing), the spdk_json_conf alias, several jobs and job groups, by
# name through LD_PRELOAD, --enghelp, and the failures a user meets first:
# thread=0, a bad JSON config, an unknown bdev, an injected I/O error.
source "$(dirname "$0")/common.sh"

PLUGIN="$TOP/$BUILD/fio/sluice_bdev"
if [ ! -f "$PLUGIN" ]; then
	# CI installs everything with scripts/pkgdep.sh: a missing plugin there is a failure.
	[ "${CI:-}" = true ] && fail "$PLUGIN was not built in CI (did pkgdep.sh fetch the fio source?)"
	echo "SKIP: $PLUGIN is not built: it needs the installed fio's source" \
		"(scripts/pkgdep.sh as root, or ./configure --with-fio=DIR), then make"
	exit 77
fi
if ! command -v fio >/dev/null; then
	echo "SKIP: fio is not installed (scripts/pkgdep.sh)"
	exit 77
fi

# A sanitizer build of the plugin needs its runtime loaded first into fio.
san_preload=
for lib in libasan libubsan; do
	so=$(ldd "$PLUGIN" | awk -v l="$lib" '$1 ~ "^"l"\\." {print $3}')
	[ -n "$so" ] && san_preload="$san_preload${san_preload:+:}$so"
done
if [ -n "$san_preload" ]; then
	export ASAN_OPTIONS=detect_leaks=0 # fio itself does not free everything at exit
fi

FIO_OUT="$TEST_DIR/fio.out"

# run_fio ARGS...: fio with the plugin, output in $FIO_OUT, exit status in $FIO_RC.
run_fio() {
	FIO_RC=0
	LD_PRELOAD=$san_preload timeout --kill-after=10 120 fio --ioengine="external:$PLUGIN" "$@" >"$FIO_OUT" 2>&1 ||
		FIO_RC=$?
	[ "$FIO_RC" -ne 124 ] || fail "fio $* did not finish within 120 s: $(tail -n 20 "$FIO_OUT")"
}

# Lines that mean trouble in an otherwise successful run.
bad_lines() {
	grep -E 'err= *[1-9]|error=|ERROR|sluice_bdev:|verify: bad|bad magic|crc32c.*(wanted|mismatch)|AddressSanitizer|runtime error:|fio: pid=' \
		"$FIO_OUT" || true
}

# fio_ok WHAT ARGS...: the run exits 0 with every job error-free.
fio_ok() {
	local what=$1
	shift
	run_fio "$@"
	[ "$FIO_RC" -eq 0 ] || fail "$what: fio exited with $FIO_RC: $(tail -n 30 "$FIO_OUT")"
	[ -z "$(bad_lines)" ] || fail "$what: errors in the fio output: $(bad_lines)"
	grep -q 'err= 0' "$FIO_OUT" || fail "$what: no job result in the fio output: $(cat "$FIO_OUT")"
}

# fio_fails WHAT "expected message" ARGS...: the run fails and says why.
fio_fails() {
	local what=$1 want=$2
	shift 2
	run_fio "$@"
	[ "$FIO_RC" -ne 0 ] || fail "$what: fio exited 0: $(tail -n 20 "$FIO_OUT")"
	grep -qF -- "$want" "$FIO_OUT" || fail "$what: fio output lacks '$want': $(cat "$FIO_OUT")"
}

# config FILE ENTRY...: a bdev-subsystem JSON config with those {"method","params"} entries.
config() {
	local out=$1 IFS=,
	shift
	printf '{"subsystems":[{"subsystem":"bdev","config":[%s]}]}\n' "$*" >"$out"
}

MB=$((1024 * 1024))
dd if=/dev/zero of="$TEST_DIR/aio.img" bs=1M count=32 status=none
dd if=/dev/zero of="$TEST_DIR/uring.img" bs=1M count=32 status=none

config "$TEST_DIR/malloc.json" \
	'{"method":"bdev_malloc_create","params":{"name":"Malloc0","num_blocks":65536,"block_size":512}}' \
	'{"method":"bdev_malloc_create","params":{"name":"Malloc1","num_blocks":8192,"block_size":4096}}'
config "$TEST_DIR/null.json" \
	'{"method":"bdev_null_create","params":{"name":"Null0","num_blocks":262144,"block_size":512}}'
config "$TEST_DIR/error.json" \
	'{"method":"bdev_malloc_create","params":{"name":"Malloc2","num_blocks":65536,"block_size":512}}' \
	'{"method":"bdev_error_create","params":{"base_name":"Malloc2"}}'
config "$TEST_DIR/aio.json" \
	"{\"method\":\"bdev_aio_create\",\"params\":{\"name\":\"aio0\",\"filename\":\"$TEST_DIR/aio.img\"}}"
config "$TEST_DIR/uring.json" \
	"{\"method\":\"bdev_uring_create\",\"params\":{\"name\":\"uring0\",\"filename\":\"$TEST_DIR/uring.img\",\"block_size\":4096}}"

# Random writes verified with crc32c, two jobs on their own halves of the bdev.
VERIFY=(--thread=1 --rw=randwrite --bs=4k --iodepth=32 --size=8M --offset_increment=8M --numjobs=2
	--verify=crc32c --do_verify=1 --verify_fatal=1)

# ---- the engine's options ----
# fio 3.33 does not resolve "external:" in --enghelp; the path itself works.
out=$(LD_PRELOAD=$san_preload fio --enghelp="$PLUGIN" 2>&1) || fail "fio --enghelp=$PLUGIN: $out"
assert_contains "$out" sluice_json_conf "--enghelp"
assert_contains "$out" spdk_json_conf "--enghelp"

# ---- verify on every module ----
fio_ok "malloc verify" --name=malloc --sluice_json_conf="$TEST_DIR/malloc.json" \
	--filename=Malloc0 "${VERIFY[@]}"
fio_ok "malloc verify (4 KiB blocks, spdk_json_conf)" --name=malloc4k \
	--spdk_json_conf="$TEST_DIR/malloc.json" --filename=Malloc1 "${VERIFY[@]}"
fio_ok "malloc verify, trims, mixed sizes" --name=mixed --thread=1 \
	--sluice_json_conf="$TEST_DIR/malloc.json" --filename=Malloc0 --rw=randtrimwrite \
	--bsrange=512-256k --iodepth=16 --size=16M --verify=crc32c --do_verify=1 --verify_fatal=1
grep -Eq 'trim: IOPS=[1-9]' "$FIO_OUT" || fail "no trims issued: $(cat "$FIO_OUT")"
fio_ok "error bdev verify" --name=error --sluice_json_conf="$TEST_DIR/error.json" \
	--filename=EE_Malloc2 "${VERIFY[@]}"
fio_ok "aio verify" --name=aio --sluice_json_conf="$TEST_DIR/aio.json" --filename=aio0 "${VERIFY[@]}"
fio_ok "uring verify" --name=uring --spdk_json_conf="$TEST_DIR/uring.json" --filename=uring0 \
	"${VERIFY[@]}"
fio_ok "null run" --name=null --thread=1 --sluice_json_conf="$TEST_DIR/null.json" \
	--filename=Null0 --rw=randrw --bs=4k --iodepth=64 --numjobs=2 --time_based --runtime=2

# ---- jobs, files and groups ----
# Two files per job, two job groups one after the other (the environment
# outlives the first group), a job per file in the second.
cat >"$TEST_DIR/groups.fio" <<EOF
[global]
thread=1
sluice_json_conf=$TEST_DIR/malloc.json
bs=4k
iodepth=8
size=4M
verify=crc32c
verify_fatal=1
[two_files]
filename=Malloc0:Malloc1
rw=randwrite
[again_0]
stonewall
filename=Malloc0
rw=write
fsync=4
[again_1]
filename=Malloc1
rw=randwrite
EOF
fio_ok "two files, two groups" "$TEST_DIR/groups.fio"
[ "$(grep -c 'err= 0' "$FIO_OUT")" -eq 3 ] || fail "expected 3 job results: $(cat "$FIO_OUT")"
grep -q 'sync (' "$FIO_OUT" || fail "no fsyncs issued: $(cat "$FIO_OUT")"

# create_serialize=0: setup runs on the job threads, after init.
fio_ok "create_serialize=0" --name=ser --thread=1 --sluice_json_conf="$TEST_DIR/malloc.json" \
	--filename=Malloc0 --rw=randread --bs=4k --iodepth=4 --size=4M --numjobs=3 --create_serialize=0

# By name, with the plugin preloaded (how fio lets engines register themselves).
out=$(LD_PRELOAD="$san_preload${san_preload:+:}$PLUGIN" timeout --kill-after=10 120 fio --name=preload \
	--ioengine=sluice_bdev --thread=1 --sluice_json_conf="$TEST_DIR/malloc.json" \
	--filename=Malloc0 --rw=randread --bs=4k --size=4M 2>&1) || fail "ioengine=sluice_bdev via LD_PRELOAD: $out"
assert_contains "$out" "err= 0" "ioengine=sluice_bdev via LD_PRELOAD"

# ---- what a user gets wrong ----
fio_fails "thread=0" "requires thread=1" --name=proc --sluice_json_conf="$TEST_DIR/malloc.json" \
	--filename=Malloc0 --rw=randread --size=1M
fio_fails "no JSON config" "sluice_json_conf=FILE" --name=noconf --thread=1 --filename=Malloc0 \
	--rw=randread --size=1M
fio_fails "missing JSON config" "cannot read the JSON config" --name=noconf --thread=1 \
	--sluice_json_conf="$TEST_DIR/nope.json" --filename=Malloc0 --rw=randread --size=1M
echo '{"subsystems":[{"subsystem":"bdev","config":[' >"$TEST_DIR/syntax.json"
fio_fails "JSON syntax error" "loading $TEST_DIR/syntax.json failed" --name=syntax --thread=1 \
	--sluice_json_conf="$TEST_DIR/syntax.json" --filename=Malloc0 --rw=randread --size=1M
grep -q "JSON syntax error" "$FIO_OUT" || fail "the syntax error is not explained: $(cat "$FIO_OUT")"
config "$TEST_DIR/badparam.json" \
	'{"method":"bdev_malloc_create","params":{"name":"Malloc0","num_blocks":"many","block_size":512}}'
fio_fails "bad JSON parameter" "loading $TEST_DIR/badparam.json failed" --name=badparam \
	--thread=1 --sluice_json_conf="$TEST_DIR/badparam.json" --filename=Malloc0 --rw=randread \
	--size=1M
grep -q "num_blocks" "$FIO_OUT" || fail "the bad parameter is not named: $(cat "$FIO_OUT")"
fio_fails "unknown bdev" "no bdev named 'Malloc9'" --name=nobdev --thread=1 \
	--sluice_json_conf="$TEST_DIR/malloc.json" --filename=Malloc9 --rw=randread --size=1M
fio_fails "misaligned offset" "not a multiple of its 4096-byte blocks" --name=misaligned \
	--thread=1 --sluice_json_conf="$TEST_DIR/malloc.json" --filename=Malloc1 --rw=read \
	--bs=4k --offset=512 --size=1M
cat >"$TEST_DIR/two_configs.fio" <<EOF
[global]
thread=1
filename=Malloc0
rw=read
size=1M
[a]
sluice_json_conf=$TEST_DIR/malloc.json
[b]
sluice_json_conf=$TEST_DIR/error.json
EOF
fio_fails "two configs in one run" "must use the same JSON config" "$TEST_DIR/two_configs.fio"

# An I/O error from the bdev reaches fio as EIO.
config "$TEST_DIR/inject.json" \
	'{"method":"bdev_malloc_create","params":{"name":"Malloc3","num_blocks":8192,"block_size":512}}' \
	'{"method":"bdev_error_create","params":{"base_name":"Malloc3"}}' \
	'{"method":"bdev_error_inject_error","params":{"name":"EE_Malloc3","io_type":"read","error_type":"failure","num":3}}'
fio_fails "injected read error" "Input/output error" --name=inject --thread=1 \
	--sluice_json_conf="$TEST_DIR/inject.json" --filename=EE_Malloc3 --rw=randread --bs=4k \
	--iodepth=8 --size=1M

echo "fio plugin: all checks passed"
