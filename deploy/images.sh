#!/usr/bin/env bash
# images.sh - `make images`: builds the six Mailyard images
#     mailyard/{mx,rewrite,lists,archive,relay,mailyardctl}:<tag>
# from deploy/images/*.Dockerfile.
#
# It first makes sure a Docker engine runs (docker-engine.sh) and that the
# base image exists (base-image.sh builds debian:bookworm-slim with
# debootstrap when it is missing: no registry is reachable here).
# The build context is a tar of the sources only (Makefile, libcommon/,
# services/), so editing docs or tests never invalidates the cache; the build
# and runtime stages are identical in every Dockerfile, so the C code is
# compiled once and the runtime layers are shared.
#
# Environment:
#   MAILYARD_IMAGE_PREFIX  repository prefix            (default: mailyard)
#   MAILYARD_IMAGE_TAG     tag                          (default: the chart appVersion)
#   MAILYARD_IMAGES        components to build          (default: all six)
#   BASE_IMAGE             base image                   (default: debian:bookworm-slim)
#   MAILYARD_LICENSES      SPDX expression for the OCI licenses label (default: NOASSERTION)
# Labels are reproducible (created = the commit time), so rebuilding
# unchanged sources yields the same image IDs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PREFIX="${MAILYARD_IMAGE_PREFIX:-mailyard}"
VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' helm/mailyard/Chart.yaml)"
VERSION="${VERSION:-0.0.0-dev}"
TAG="${MAILYARD_IMAGE_TAG:-$VERSION}"
BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
COMPONENTS="${MAILYARD_IMAGES:-mailyardctl mx rewrite lists archive relay}"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
CREATED="$(git log -1 --format=%cI 2>/dev/null || true)"
CREATED="${CREATED:-1970-01-01T00:00:00Z}"
SOURCE="${MAILYARD_SOURCE_URL:-https://example.invalid/mailyard}"
LICENSES="${MAILYARD_LICENSES:-NOASSERTION}"

bash deploy/docker-engine.sh || { echo "images: no Docker engine can run here" >&2; exit 2; }
BASE_IMAGE="$BASE_IMAGE" bash deploy/base-image.sh
bash deploy/images/generate.sh --check

export DOCKER_BUILDKIT=0   # the classic builder: no buildx plugin, no frontend image to pull
ctx="$(mktemp /tmp/mailyard-context.XXXXXX.tar)"
trap 'rm -f "$ctx"' EXIT
# Sorted names, fixed owner and mtime: the same sources give the same context.
find Makefile libcommon services deploy/images -type f \
        ! -name '*.o' ! -name '*.d' ! -name '*.a' ! -path '*/.pytest_cache/*' -print \
    | LC_ALL=C sort \
    | tar --owner=0 --group=0 --numeric-owner --mtime='1970-01-01' -cf "$ctx" -T -

for c in $COMPONENTS; do
    img="$PREFIX/$c:$TAG"
    echo "images: building $img"
    log="$(mktemp /tmp/mailyard-build-$c.XXXXXX.log)"
    if ! docker build --network host -f "deploy/images/$c.Dockerfile" -t "$img" \
            --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg VERSION="$VERSION" \
            --build-arg REVISION="$REVISION" --build-arg CREATED="$CREATED" \
            --build-arg SOURCE="$SOURCE" --build-arg LICENSES="$LICENSES" \
            - <"$ctx" >"$log" 2>&1; then
        echo "images: building $img failed; last lines of $log:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    rm -f "$log"
done
# Old build stages (untagged, labelled) pile up as the sources change; keep a day of cache.
docker image prune -f --filter label=io.mailyard.stage=build --filter until=24h >/dev/null || true
echo "images: built $(for c in $COMPONENTS; do printf '%s ' "$PREFIX/$c:$TAG"; done)"
