#!/usr/bin/env bash
# tests/fuzz/run.sh - build and run the libFuzzer targets for libcommon's
# parsers (hdr, addr, srs).
#
#   bash tests/fuzz/run.sh short    each target ~20 s (make test)
#   bash tests/fuzz/run.sh long     each target ~5 min (make fuzz)
#
# Targets are built with clang -fsanitize=fuzzer,address,undefined into
# build/fuzz/ (FUZZ_OUT overrides it) against only the libcommon sources
# they need. Seeds come from tests/fuzz/corpus/<target>/; the working corpus
# grows in build/fuzz/corpus-<target>/. Exits non-zero if a target fails to
# build or crashes (crash inputs are left in build/fuzz/).
set -euo pipefail

mode=${1:-short}
case "$mode" in
    short) secs=20 ;;
    long)  secs=300 ;;
    *) echo "usage: $0 short|long" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-$root/build/fuzz}
mkdir -p "$out"
cd "$root"

command -v clang >/dev/null || { echo "run.sh: clang is required" >&2; exit 1; }

cflags=(-std=c17 -g -O1 -D_GNU_SOURCE -Ilibcommon
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
common=(libcommon/xalloc.c libcommon/buf.c libcommon/log.c)

declare -A srcs=(
    [fuzz_hdr]="libcommon/hdr.c"
    [fuzz_addr]="libcommon/addr.c"
    [fuzz_srs]="libcommon/srs.c"
)
declare -A libs=(
    [fuzz_hdr]=""
    [fuzz_addr]=""
    [fuzz_srs]="-lcrypto"
)

failed=0
for t in fuzz_hdr fuzz_addr fuzz_srs; do
    echo "== building $t"
    # shellcheck disable=SC2086
    if ! clang "${cflags[@]}" -o "$out/$t" "tests/fuzz/$t.c" ${srcs[$t]} "${common[@]}" ${libs[$t]}; then
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
