#!/usr/bin/env bash
# tools.sh - installs the deployment tool chain the deploy tests use, pinned
# and idempotent (quick when everything is present):
#   helm            go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION -> $(go env GOPATH)/bin
#   Python packages ansible (bundles community.docker, kubernetes.core,
#                   community.hashi_vault), ansible-lint, docker (the SDK
#                   community.docker uses), kubernetes-validate (ships the
#                   Kubernetes JSON schemas: validation works offline)
#   docker.io, debootstrap (Debian) via docker-engine.sh / base-image.sh when needed
# Prints the helm path on its last line ("helm: /path").
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.17.3}"
HELM_K8S_MINOR="${HELM_K8S_MINOR:-30}"
PY_PKGS=("ansible==11.13.0:ansible_collections.community.docker"
         "ansible-lint==25.12.2:ansiblelint"
         "docker==7.1.0:docker"
         "kubernetes-validate==1.37.0:kubernetes_validate"
         "requests:requests" "pytest:pytest" "pytest-timeout:pytest_timeout"
         "aiosmtpd:aiosmtpd" "dnslib:dnslib" "PyYAML:yaml")

# --- helm -------------------------------------------------------------------
gobin="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
helm_bin=""
for cand in "$gobin/helm" "$(command -v helm 2>/dev/null || true)"; do
    if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" version --short 2>/dev/null | grep -q "^${HELM_VERSION}"; then
        helm_bin="$cand"; break
    fi
done
if [ -z "$helm_bin" ]; then
    command -v go >/dev/null 2>&1 || { echo "tools: go is needed to install helm" >&2; exit 1; }
    echo "tools: go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION (a few minutes, once)"
    # The same link-time settings as helm's release builds: its version and
    # the Kubernetes version it assumes without a cluster (else v1.20).
    ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$HELM_K8S_MINOR"
    done
    go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    helm_bin="$gobin/helm"
fi

# --- Python ------------------------------------------------------------------
missing=()
for pm in "${PY_PKGS[@]}"; do
    pkg="${pm%%:*}"; mod="${pm##*:}"
    python3 -c "import $mod" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "tools: pip install ${missing[*]}"
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        python3 -m pip install --quiet "${missing[@]}" </dev/null
fi
# The console scripts land next to the interpreter that pip used.
bindir="$(python3 -c 'import sys, os; print(os.path.dirname(sys.executable))')"
for t in ansible-playbook ansible-lint kubernetes-validate; do
    command -v "$t" >/dev/null 2>&1 || [ -x "$bindir/$t" ] \
        || { echo "tools: $t not found after installing" >&2; exit 1; }
done
echo "helm: $helm_bin"
