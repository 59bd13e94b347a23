#!/usr/bin/env bash
# Install the pinned helm into <repo>/.cache/bin; a no-op when it is already there.
# Built from source through the Go module proxy (the one registry this needs), once per machine:
# the build is kept beside the Kafka jars (ORDERSTREAM_CACHE, default ~/.cache/orderstream) and
# linked into each checkout, so a fresh clone does not build it again.
set -euo pipefail

HELM_VERSION="v3.21.4"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
link="$repo/.cache/bin/helm"
bin="${ORDERSTREAM_CACHE:-$HOME/.cache/orderstream}/helm-$HELM_VERSION"
helm="$bin/helm"

installed() {
    [[ -x "$helm" ]] && [[ "$("$helm" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]
}

linked() { mkdir -p "$(dirname "$link")" && ln -sf "$helm" "$link"; }

installed && { linked; exit 0; }
command -v go >/dev/null || { echo "install-helm: go is required to build helm $HELM_VERSION" >&2; exit 1; }
mkdir -p "$bin"
log="$bin/install-helm.log"
echo "install-helm: building helm $HELM_VERSION (first run only, about 1-3 minutes)" >&2
# Stamp what helm's own Makefile stamps: its version, and the Kubernetes version of its client-go
# (k8s.io/client-go v0.36 = Kubernetes 1.36), the default for `helm template` and `helm lint`.
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in pkg/chartutil pkg/lint/rules; do
    ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=36"
done
if ! GOBIN="$bin" GOFLAGS="" go install -ldflags "$ldflags" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-helm: go install of helm $HELM_VERSION failed (log: $log)" >&2
    exit 1
fi
installed || { echo "install-helm: $helm does not report $HELM_VERSION" >&2; exit 1; }
linked
