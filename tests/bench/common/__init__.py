"""Shared pieces of the benchmarks under tests/bench/ (see tests/bench/README.md).

settings.py  sizes from BENCH_FULL / BENCH_SCALE and the other BENCH_* knobs
deps.py      installs Debian's postfix (smtp-source, smtp-sink) if it is missing
postfix.py   a private Postfix instance under a temp dir on a loopback port
sink.py      Postfix's smtp-sink with its running message counter
load.py      smtp-source runs, a latency sampler, idle connections
procmem.py   RSS and PSS of processes from /proc
mailyard.py  the Mailyard stack through tests/integration/harness (read-only use)
report.py    printing results as aligned lines
"""
