#!/usr/bin/env bash
# tests/fuzz/run.sh - build and run every libFuzzer target tests/fuzz/fuzz_*.c
# (libcommon's parsers: headers, addresses, SRS, SPF, DKIM tags; mx's SMTP
# and PROXY parsers).
#
#   bash tests/fuzz/run.sh short    each target ~15 s (make test)
#   bash tests/fuzz/run.sh long     each target ~5 min (make fuzz)
#
# Targets are built with clang -fsanitize=fuzzer,address,undefined into
# build/fuzz/ (FUZZ_OUT overrides it) against only the libcommon sources
# they need (from an instrumented copy of libcommon). Seeds come from tests/fuzz/corpus/<target>/; the working corpus
# grows in build/fuzz/corpus-<target>/. Exits non-zero if a target fails to
# build or crashes (crash inputs are left in build/fuzz/).
set -euo pipefail

mode=${1:-short}
case "$mode" in
    short) secs=15 ;;
    long)  secs=300 ;;
    *) echo "usage: $0 short|long" >&2; exit 2 ;;
esac

secs=${FUZZ_SECONDS:-$secs}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-$root/build/fuzz}
mkdir -p "$out"
cd "$root"

command -v clang >/dev/null || { echo "run.sh: clang is required" >&2; exit 1; }

pkgs=$(make -s --no-print-directory print-pkgs)
cflags=(-std=c17 -g -O1 -D_GNU_SOURCE -Ilibcommon $(pkg-config --cflags $pkgs)
        -fsanitize=address,undefined -fno-sanitize-recover=undefined)
libs=($(pkg-config --libs $pkgs) -lm -pthread)

# libcommon once, instrumented for coverage; each target links what it uses
# from the archive. A target may #include a service's pure .c file (as the
# unit tests do) to fuzz a service parser.
echo "== building libcommon for fuzzing"
objdir="$out/obj"
mkdir -p "$objdir"
objs=()
for c in libcommon/*.c; do
    o="$objdir/$(basename "${c%.c}").o"
    if [ ! -f "$o" ] || [ "$c" -nt "$o" ] || [ -n "$(find libcommon -name '*.h' -newer "$o" -print -quit)" ]; then
        clang "${cflags[@]}" -fsanitize=fuzzer-no-link -c "$c" -o "$o"
    fi
    objs+=("$o")
done
rm -f "$out/libfuzzcommon.a"
ar rcs "$out/libfuzzcommon.a" "${objs[@]}"

failed=0
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "${src%.c}")
    echo "== building $t"
    if ! clang "${cflags[@]}" -fsanitize=fuzzer -o "$out/$t" "$src" \
            "$out/libfuzzcommon.a" "${libs[@]}"; then
        echo "== $t: BUILD FAILED" >&2
        failed=1
        continue
    fi
    corpus="$out/corpus-$t"
    mkdir -p "$corpus"
    seeds=()
    [ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
    echo "== running $t for ${secs}s"
    if ! (cd "$out" && "./$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -max_len=65536 -print_final_stats=1 "$corpus" "${seeds[@]/#/$root/}" \
            > "$out/$t.log" 2>&1); then
        echo "== $t: CRASH (see $out/$t.log and $out/crash-*)" >&2
        tail -n 40 "$out/$t.log" >&2
        failed=1
    else
        grep -E '^stat::number_of_executed_units|^Done' "$out/$t.log" || true
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED" >&2
    exit 1
fi
echo "fuzz: all targets passed ($mode)"
