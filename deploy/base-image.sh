#!/usr/bin/env bash
# base-image.sh - makes sure the base image ${BASE_IMAGE:-debian:bookworm-slim}
# exists in the local Docker engine.
#
# No image registry can be reached from our machines, so when the image is
# missing we build an equivalent one ourselves: `debootstrap --variant=minbase
# bookworm` from the Debian mirror the host's apt already uses, then
# `tar -C dir -c . | docker import - debian:bookworm-slim`. Skipped (fast)
# when the image exists. Needs root (debootstrap) and a running engine.
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
SUITE="${DEBIAN_SUITE:-bookworm}"

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    exit 0
fi

# The mirror: MAILYARD_DEBIAN_MIRROR, else the first Debian URI in the host's
# apt sources (deb822 "URIs:" or one-line "deb URL suite ..."), else deb.debian.org.
mirror="${MAILYARD_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                  /etc/apt/sources.list.d/*.sources 2>/dev/null \
              | grep -v '^[[:space:]]*#' \
              | grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ' || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
mirror="${mirror%/}"

if ! command -v debootstrap >/dev/null 2>&1; then
    echo "base-image: installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends debootstrap </dev/null >/dev/null 2>&1 \
        || { apt-get update -qq </dev/null; apt-get install -y -qq --no-install-recommends debootstrap </dev/null; }
fi

dir="$(mktemp -d /var/tmp/mailyard-rootfs.XXXXXX)"
trap 'rm -rf "$dir"' EXIT
echo "base-image: debootstrap --variant=minbase $SUITE from $mirror (a few minutes, once)"
debootstrap --variant=minbase "$SUITE" "$dir" "$mirror" >"$dir.log" 2>&1 \
    || { tail -n 30 "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
rm -f "$dir.log"

# Like the official slim image: the same suites, no caches, no docs.
cat >"$dir/etc/apt/sources.list" <<SRC
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb ${mirror%/debian}/debian-security $SUITE-security main
SRC
cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/usr/share/doc/* \
       "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* "$dir"/tmp/*

tar --numeric-owner -C "$dir" -c . \
    | docker import --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$BASE_IMAGE" >/dev/null
echo "base-image: imported $BASE_IMAGE"
