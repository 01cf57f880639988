#!/usr/bin/env bash
# docker-engine.sh - makes sure a Docker engine answers on this machine.
#
# Idempotent: when `docker info` works it does nothing. Otherwise it installs
# Debian's docker.io (when dockerd is missing) and starts
#     dockerd --bridge=none --iptables=false
# in the background with its log in ${MAILYARD_DOCKERD_LOG:-/var/log/mailyard-dockerd.log}
# (containers use --network host only: no bridge, no iptables rules).
# Exit status: 0 when an engine answers, 2 when none can be started (the
# callers turn that into a clear "skipped" message).
set -euo pipefail

LOG="${MAILYARD_DOCKERD_LOG:-/var/log/mailyard-dockerd.log}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

engine_up() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_up; then
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    echo "docker-engine: installing docker.io from Debian"
    export DEBIAN_FRONTEND=noninteractive
    if ! $SUDO apt-get install -y -qq --no-install-recommends docker.io </dev/null >/dev/null 2>&1; then
        $SUDO apt-get update -qq </dev/null || true
        $SUDO apt-get install -y -qq --no-install-recommends docker.io </dev/null \
            || { echo "docker-engine: cannot install docker.io" >&2; exit 2; }
    fi
fi

echo "docker-engine: starting dockerd --bridge=none --iptables=false (log: $LOG)"
$SUDO mkdir -p "$(dirname "$LOG")"
# setsid: the daemon outlives this script and is not killed with its job.
$SUDO setsid nohup dockerd --bridge=none --iptables=false </dev/null >>"$LOG" 2>&1 &
for _ in $(seq 120); do
    engine_up && { echo "docker-engine: ready"; exit 0; }
    sleep 0.5
done
echo "docker-engine: dockerd did not answer within 60 s; last log lines:" >&2
tail -n 20 "$LOG" >&2 || true
exit 2
