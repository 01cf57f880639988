#!/usr/bin/env bash
# deps.sh - `make deps`: installs what Mailyard needs to build, test and run
# on loopback (Debian 12). Idempotent and quick when everything is present:
# apt-get update/install run only for missing Debian packages, pip only for
# Python modules the current python3 cannot import.
#
# Note: installing the Debian postgresql package may start a cluster on
# port 5432. We never use it; the tests and `make run` start their own.
set -euo pipefail

APT_PKGS=(
    build-essential pkg-config clang
    libmicrohttpd-dev libjansson-dev libpq-dev libhiredis-dev libssl-dev
    libcurl4-openssl-dev libunbound-dev libevent-dev libmilter-dev libcmocka-dev libcrypt-dev
    libsodium-dev
    postgresql redis-server swaks valgrind openssl ca-certificates curl postsrsd
    python3 python3-pip
    dovecot-core dovecot-lmtpd
    postfix rspamd
    nsd ldnsutils
)
# pip package -> python module
PY_PKGS=(pytest:pytest pytest-timeout:pytest_timeout requests:requests
         aiosmtpd:aiosmtpd dnslib:dnslib
         dkimpy:dkim authres:authres pynacl:nacl cryptography:cryptography)

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi

missing=()
installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${APT_PKGS[@]}" 2>/dev/null || true)"
for p in "${APT_PKGS[@]}"; do
    if ! grep -qx "$p install ok installed" <<<"$installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # postfix: only its programs (tests/integration/test_mx_milter.py starts a
    # private instance); "No configuration" keeps a system Postfix off port 25
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

if ! ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "deps: PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi

py_missing=()
for pm in "${PY_PKGS[@]}"; do
    pkg="${pm%%:*}"
    mod="${pm##*:}"
    if ! python3 -c "import $mod" >/dev/null 2>&1; then
        py_missing+=("$pkg")
    fi
done
if [ "${#py_missing[@]}" -gt 0 ]; then
    echo "deps: installing Python packages: ${py_missing[*]}"
    # Debian's python3 is "externally managed" (PEP 668); these are test tools.
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        python3 -m pip install --quiet "${py_missing[@]}" </dev/null
fi
echo "deps: ok"
