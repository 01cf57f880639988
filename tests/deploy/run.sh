#!/usr/bin/env bash
# run.sh - `make test-deploy`: installs the deployment tool chain
# (deploy/tools.sh: helm, ansible, ansible-lint, kubernetes-validate, docker
# SDK), makes sure a Docker engine runs (deploy/docker-engine.sh; without one
# the container and rollout tests are skipped with the reason), then runs the
# deploy tests: chart, playbooks, images, containers, the Ansible rollout.
# The images are built by the `images` fixture (deploy/images.sh; cached).
# Needs the C code to build (the image build compiles it) and the Debian
# packages of `make deps` (PostgreSQL, Redis) for the harness.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
helm_line="$(bash deploy/tools.sh | tail -n 1)"
export HELM="${helm_line#helm: }"
bash deploy/docker-engine.sh || echo "run: no Docker engine; container tests will be skipped"
exec python3 -m pytest -q -c tests/deploy/pytest.ini tests/deploy -p no:cacheprovider "$@"
