#!/usr/bin/env bash
# run.sh - `make run`: the local demo. Starts PostgreSQL (127.0.0.1:55432)
# and Redis (127.0.0.1:56379) with their data under var/, creates the TLS
# certificate, admin token and SRS secrets if missing, migrates, seeds a demo
# domain, alias and list (idempotently), starts the five services on
# loopback with relay delivering into the Maildir var/outbox, and waits.
# Ctrl-C stops the services (SIGTERM), then Redis and PostgreSQL cleanly.
# Running it again reuses the data in var/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BUILD="${BUILD:-build}"
VAR="$ROOT/var"
PG_PORT=55432
REDIS_PORT=56379
SMTP_LISTEN=127.0.0.1:2525
SMTPS_LISTEN=127.0.0.1:2465
SUBMISSION_LISTEN=127.0.0.1:2587
declare -A HTTP_PORT=([mx]=9101 [rewrite]=9102 [lists]=9103 [archive]=9104 [relay]=9105)
SERVICES=(rewrite lists archive relay mx)

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$PG_BIN/pg_ctl" ] || { echo "run: PostgreSQL not found; run make deps" >&2; exit 1; }
for b in "${SERVICES[@]/#/mailyard-}" mailyardctl; do
    [ -x "$BUILD/$b" ] || { echo "run: $BUILD/$b missing; run make all" >&2; exit 1; }
done

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$VAR/log" "$VAR/redis" "$VAR/tls" "$VAR/outbox"/{tmp,new,cur}

PIDS=()
PG_STARTED=0
REDIS_PID=""
cleanup() {
    trap - INT TERM EXIT
    echo
    echo "run: stopping services"
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$REDIS_PID" ]; then
        echo "run: stopping Redis"
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 \
            || redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 \
            || true
        for _ in $(seq 100); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    fi
    if [ "$PG_STARTED" = 1 ]; then
        echo "run: stopping PostgreSQL"
        as_pg "$PG_BIN/pg_ctl" -D "$VAR/pg" -m fast -w stop >/dev/null || true
    fi
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

# --- PostgreSQL ------------------------------------------------------------
if [ ! -f "$VAR/pg/PG_VERSION" ]; then
    echo "run: initdb $VAR/pg"
    mkdir -p "$VAR/pg"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$VAR/pg"; fi
    chmod 700 "$VAR/pg"
    as_pg "$PG_BIN/initdb" -D "$VAR/pg" -A trust -U postgres -E UTF8 --no-instructions >/dev/null
fi
if [ "$(id -u)" = 0 ]; then
    chown -R postgres:postgres "$VAR/pg"
    touch "$VAR/log/postgres.log"; chown postgres:postgres "$VAR/log/postgres.log"
    if ! runuser -u postgres -- test -w "$VAR/pg"; then
        echo "run: user postgres cannot reach $VAR/pg (check the permissions of its parents)" >&2
        exit 1
    fi
fi
if as_pg "$PG_BIN/pg_ctl" -D "$VAR/pg" status >/dev/null 2>&1; then
    echo "run: PostgreSQL already running on $VAR/pg; reusing it"
else
    as_pg "$PG_BIN/pg_ctl" -D "$VAR/pg" -l "$VAR/log/postgres.log" -w -t 60 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $VAR/pg" start >/dev/null
    PG_STARTED=1
fi
PSQL=("$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres)
if [ -z "$("${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'mailyard'")" ]; then
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE mailyard"
fi

# --- Redis -------------------------------------------------------------------
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$VAR/redis" \
    --appendonly yes --daemonize no --logfile "$VAR/log/redis.log" </dev/null &
REDIS_PID=$!
for _ in $(seq 100); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null || { echo "run: Redis did not start" >&2; exit 1; }

# --- secrets and certificate ---------------------------------------------------
if [ ! -f "$VAR/tls/cert.pem" ] || [ ! -f "$VAR/tls/key.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=mx.example.test" \
        -keyout "$VAR/tls/key.pem" -out "$VAR/tls/cert.pem" >/dev/null 2>&1
    chmod 600 "$VAR/tls/key.pem"
fi
umask 077
[ -s "$VAR/admin-token" ] || openssl rand -hex 32 >"$VAR/admin-token"
[ -s "$VAR/srs-secrets" ] || openssl rand -hex 32 >"$VAR/srs-secrets"
umask 022
TOKEN="$(cat "$VAR/admin-token")"

# --- configuration -------------------------------------------------------------
export MAILYARD_PG_DSN="postgresql://postgres@127.0.0.1:$PG_PORT/mailyard"
export MAILYARD_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export MAILYARD_ADMIN_TOKEN_FILE="$VAR/admin-token"
export MAILYARD_SQL_ROOT="$ROOT"
export MAILYARD_HOSTNAME="mx.example.test"
export MAILYARD_LOG_LEVEL="${MAILYARD_LOG_LEVEL:-info}"
export MAILYARD_REWRITE_URL="http://127.0.0.1:${HTTP_PORT[rewrite]}"
export MAILYARD_LISTS_URL="http://127.0.0.1:${HTTP_PORT[lists]}"
export MAILYARD_ARCHIVE_URL="http://127.0.0.1:${HTTP_PORT[archive]}"
export MAILYARD_RELAY_URL="http://127.0.0.1:${HTTP_PORT[relay]}"
export MAILYARD_SMTP_LISTEN="$SMTP_LISTEN"
export MAILYARD_SMTPS_LISTEN="$SMTPS_LISTEN"
export MAILYARD_SUBMISSION_LISTEN="$SUBMISSION_LISTEN"
export MAILYARD_TLS_CERT_FILE="$VAR/tls/cert.pem"
export MAILYARD_TLS_KEY_FILE="$VAR/tls/key.pem"
export MAILYARD_SRS_SECRETS_FILE="$VAR/srs-secrets"
export MAILYARD_SRS_DOMAIN="example.test"
# postmaster@ and abuse@ of every domain without an alias of their own
export MAILYARD_REWRITE_POSTMASTER="postmaster@remote.test"
export MAILYARD_ARCHIVE_PUBLIC_URL="http://127.0.0.1:${HTTP_PORT[archive]}/"
export MAILYARD_RELAY_TRANSPORT="maildir"
export MAILYARD_RELAY_MAILDIR="$VAR/outbox"

echo "run: migrating"
"$BUILD/mailyardctl" migrate

# --- services --------------------------------------------------------------------
for s in "${SERVICES[@]}"; do
    MAILYARD_HTTP_LISTEN="127.0.0.1:${HTTP_PORT[$s]}" \
        "$BUILD/mailyard-$s" >>"$VAR/log/$s.log" 2>&1 </dev/null &
    PIDS+=($!)
done
for s in "${SERVICES[@]}"; do
    ok=0
    for _ in $(seq 300); do
        if curl -fs -o /dev/null "http://127.0.0.1:${HTTP_PORT[$s]}/readyz"; then ok=1; break; fi
        sleep 0.1
    done
    if [ "$ok" != 1 ]; then
        echo "run: $s is not ready; last lines of var/log/$s.log:" >&2
        tail -n 20 "$VAR/log/$s.log" >&2
        exit 1
    fi
done

# --- seed (idempotent: 409 means it exists) ---------------------------------------
api_post() {  # service path json
    local code
    code="$(curl -s -o "$VAR/log/seed-last.json" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "$3" "http://127.0.0.1:${HTTP_PORT[$1]}$2")"
    case "$code" in
        200|201|409) ;;
        *) echo "run: seeding POST $2 $3 -> $code: $(cat "$VAR/log/seed-last.json")" >&2 ;;
    esac
}
api_post rewrite /v1/domains '{"name":"example.test"}'
api_post rewrite /v1/aliases \
    '{"address":"team@example.test","targets":["alice@remote.test","bob@remote.test"]}'
api_post lists /v1/lists '{"address":"dev@example.test"}'
for m in alice bob carol; do
    api_post lists /v1/lists/dev%40example.test/members "{\"address\":\"$m@remote.test\"}"
done
# A submission user (the password is made once and kept in var/): the
# demo's way to send as someone@example.test through 2587 or 2465.
if [ ! -s "$VAR/submission-password" ]; then
    (umask 077; openssl rand -hex 12 >"$VAR/submission-password")
fi
api_post mx /v1/submission/users \
    "{\"name\":\"demo\",\"password\":\"$(cat "$VAR/submission-password")\"}"
api_post mx /v1/submission/users/demo/grants '{"address":"@example.test"}'
# DKIM keys for example.test (an rsa-sha256 and an ed25519-sha256 key), made
# once: the relay signs and ARC-seals forwarded and list mail with them.
if ! "$BUILD/mailyardctl" dkim keys example.test 2>/dev/null | grep -q _domainkey; then
    "$BUILD/mailyardctl" dkim rotate example.test >/dev/null \
        || echo "run: could not generate the DKIM keys of example.test" >&2
fi

cat <<EOT

Mailyard is running (logs in var/log/*.log, data in var/, Ctrl-C to stop).

  SMTP        $SMTP_LISTEN (MX policy, STARTTLS with a self-signed certificate)
  submission  $SUBMISSION_LISTEN (STARTTLS) and $SMTPS_LISTEN (implicit TLS): AUTH as user
              demo, password in var/submission-password, may send as @example.test
  HTTP APIs   mx :9101  rewrite :9102  lists :9103  archive :9104  relay :9105
  delivered   mail lands in the Maildir var/outbox/new (relay transport maildir)

Send to the alias (forwarded to alice and bob, sender SRS-rewritten):
  swaks --server $SMTP_LISTEN --from someone@remote.test --to team@example.test \\
        --header 'Subject: hello team'

Post to the list as a member (carol is one; delivered to every member, archived):
  swaks --server $SMTP_LISTEN --from carol@remote.test --to dev@example.test \\
        --header 'Subject: hello list'

A post from a non-member is held for moderation:
  swaks --server $SMTP_LISTEN --from someone@remote.test --to dev@example.test
  export MAILYARD_ADMIN_TOKEN_FILE=$VAR/admin-token
  export MAILYARD_LISTS_URL=$MAILYARD_LISTS_URL MAILYARD_REWRITE_URL=$MAILYARD_REWRITE_URL
  export MAILYARD_ARCHIVE_URL=$MAILYARD_ARCHIVE_URL MAILYARD_RELAY_URL=$MAILYARD_RELAY_URL
  $BUILD/mailyardctl held ls dev@example.test
  $BUILD/mailyardctl held approve ID

Submit as demo (STARTTLS, AUTH, relayed to any domain; the From must be @example.test):
  swaks --server $SUBMISSION_LISTEN --tls --auth PLAIN --auth-user demo \\
        --auth-password "\$(cat var/submission-password)" \\
        --from demo@example.test --to someone@remote.test

DKIM: forwarded and list mail in var/outbox carries our DKIM signatures and
an ARC set; the DNS records to publish for example.test:
  build/mailyardctl dkim keys example.test

Look around:
  ls var/outbox/new
  curl -H "Authorization: Bearer \$(cat var/admin-token)" http://127.0.0.1:9104/v1/lists/dev%40example.test/messages
  curl -H "Authorization: Bearer \$(cat var/admin-token)" http://127.0.0.1:9105/v1/queue
  curl http://127.0.0.1:9101/metrics
EOT

# --- wait -----------------------------------------------------------------------------
declare -A REPORTED=()
while true; do
    sleep 2 &
    wait $! || true
    for i in "${!SERVICES[@]}"; do
        s="${SERVICES[$i]}"
        if [ -z "${REPORTED[$s]:-}" ] && ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            REPORTED[$s]=1
            echo "run: $s exited; last lines of var/log/$s.log:" >&2
            tail -n 10 "$VAR/log/$s.log" >&2
        fi
    done
done
