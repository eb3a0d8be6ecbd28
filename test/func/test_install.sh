#!/usr/bin/env bash
# make install into a staging directory, then build and run a program against
# the installed headers and libraries through pkg-config.
source "$(dirname "$0")/common.sh"

stage="$TEST_DIR/stage"
make -s -C "$TOP" BUILD="$BUILD" install DESTDIR="$stage" CONFIG_PREFIX=/opt/sluice >/dev/null ||
	fail "make install failed"
root="$stage/opt/sluice"
for f in bin/sluice_tgt bin/bdevperf bin/sluice-rpc.py include/sluice/bdev.h \
	lib/libsluice_bdev.a lib/pkgconfig/sluice.pc; do
	[ -e "$root/$f" ] || fail "make install did not install $f"
done
"$root/bin/sluice_tgt" --version | grep -q "Sluice v" || fail "installed sluice_tgt --version"
"$PY" "$root/bin/sluice-rpc.py" --help >/dev/null || fail "installed rpc.py --help"

cat >"$TEST_DIR/hello.c" <<'SRC'
#include <stdio.h>
#include "sluice/env.h"
#include "sluice/util.h"
#include "sluice/version.h"

int main(void)
{
	struct sl_env_opts o;
	uint64_t iova;
	void *p;

	sl_env_opts_init(&o);
	o.no_huge = true;
	o.quiet = true;
	if (sl_env_init(&o))
		return 1;
	p = sl_dma_zmalloc(4096, 4096, &iova);
	printf("%s crc=%08x dma=%s\n", SL_VERSION_STRING, sl_crc32c("123456789", 9),
	       p && iova != SL_VTOIOVA_ERROR ? "ok" : "bad");
	sl_dma_free(p);
	sl_env_fini();
	return 0;
}
SRC
export PKG_CONFIG_PATH="$root/lib/pkgconfig"
flags=$(pkg-config --define-variable=prefix="$root" --cflags --libs sluice) ||
	fail "pkg-config sluice failed"
# A sanitizer build (make check-asan) installs instrumented libraries.
san=
nm "$root/lib/libsluice_util.a" >"$TEST_DIR/nm.txt" 2>/dev/null || true
grep -q __asan "$TEST_DIR/nm.txt" && san="-fsanitize=address,undefined"
cc $san -o "$TEST_DIR/hello" "$TEST_DIR/hello.c" $flags 2>"$TEST_DIR/cc.log" ||
	fail "cannot build against the installed library: $(head -c 2000 "$TEST_DIR/cc.log")"
out=$("$TEST_DIR/hello" 2>/dev/null) || fail "program built against the installed library failed"
[ "$out" = "0.1.0 crc=e3069283 dma=ok" ] || fail "unexpected output: $out"
echo "ok"
