#!/usr/bin/env bash
# with-services.sh CMD... - run CMD with a throwaway PostgreSQL and Redis.
#
# Starts a private PostgreSQL 15 cluster (initdb into a mktemp directory,
# run as user postgres when we are root, trust auth for user "mailyard",
# database mailyard_test) and a redis-server without persistence, both on
# 127.0.0.1 on free ports; exports
#   MAILYARD_TEST_PG_DSN     host=127.0.0.1 port=N dbname=mailyard_test user=mailyard
#   MAILYARD_TEST_REDIS_URL  redis://127.0.0.1:M/0
# runs CMD, stops both servers, removes the directory, and exits with CMD's
# status. Owns: the temporary directory and the two server processes.
set -u

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/initdb" ] || PGBIN=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

tmp=$(mktemp -d /tmp/mailyard-services.XXXXXX) || exit 1
chmod 755 "$tmp"
pgdir="$tmp/pg"
mkdir -p "$pgdir" "$tmp/redis"
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$pgdir"
fi

redis_pid=""
pg_started=0
cleanup() {
    if [ "$pg_started" = 1 ]; then
        as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1
    fi
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "with-services.sh: $*" >&2
    [ -f "$pgdir/log" ] && tail -n 20 "$pgdir/log" >&2
    exit 1
}

pg_port=$(free_port)
as_pg "$PGBIN/initdb" -D "$pgdir/data" -U mailyard --auth=trust -E UTF8 \
    --locale=C --no-sync >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; fail "initdb failed"; }
as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 30 \
    -o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || fail "PostgreSQL did not start"
pg_started=1
as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$pg_port" -U mailyard mailyard_test \
    || fail "createdb failed"

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$tmp/redis" --logfile "$tmp/redis/log" --daemonize no &
redis_pid=$!
for _ in $(seq 1 100); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" PING 2>/dev/null)" = PONG ]; then
        break
    fi
    sleep 0.05
done
[ "$(redis-cli -h 127.0.0.1 -p "$redis_port" PING 2>/dev/null)" = PONG ] || fail "redis-server did not start"

export MAILYARD_TEST_PG_DSN="host=127.0.0.1 port=$pg_port dbname=mailyard_test user=mailyard"
export MAILYARD_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"

"$@"
rc=$?
exit $rc
