#!/usr/bin/env bash
# run.sh - `make bench`: runs every benchmark under tests/bench/ one after the
# other and prints their numbers and ratios (see README.md). Not part of
# `make test`; never fails on a number, only when a benchmark cannot run.
#
#   bash tests/bench/run.sh                  quick run (2,000 messages), a few minutes
#   BENCH_FULL=1 bash tests/bench/run.sh     the sizes of issues 3 and 4
#   bash tests/bench/run.sh mx_vs_postfix    only the named benchmark(s)
#
# Binaries come from MAILYARD_BUILD_DIR or build/ (run `make all` first).
# Installs Debian's postfix (smtp-source, smtp-sink) if missing; must run as
# root for the private Postfix instances.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
all=(mx_vs_postfix relay_vs_postfix dkim_sign)
if [ "$#" -gt 0 ]; then
    benches=("$@")
else
    benches=("${all[@]}")
fi

failed=()
for b in "${benches[@]}"; do
    if [ ! -f "$here/$b/bench.py" ]; then
        echo "bench: unknown benchmark '$b' (have: ${all[*]})" >&2
        failed+=("$b")
        continue
    fi
    echo "=================== $b"
    if ! python3 "$here/$b/bench.py"; then
        failed+=("$b")
    fi
    echo
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "bench: could not complete: ${failed[*]}" >&2
    exit 1
fi
