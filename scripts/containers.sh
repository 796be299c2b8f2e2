#!/usr/bin/env bash
# Container tooling for `make image` and the container tests, idempotent and fast when done.
#
#   scripts/containers.sh tools    apt-installs podman, buildah, skopeo, runc, debootstrap and
#                                  docker-compose (the compose validator) when missing
#   scripts/containers.sh conf     writes the containers.conf this machine needs; prints its path
#   scripts/containers.sh base     makes the base image when it is missing (see below)
#   scripts/containers.sh setup    all three
#   scripts/containers.sh podman ARGS...   podman with that containers.conf
#
# Why a locally made base image: where no image registry is reachable, `FROM
# python:3.11-slim-bookworm` cannot be pulled. debootstrap builds a minimal Debian bookworm with
# python3 from the Debian mirror apt already uses, and it is imported under the official name, so
# the Dockerfile stays the one a user builds with `docker build`. Its python3 is at /usr/bin (the
# official image's at /usr/local/bin); the Dockerfile only uses `python3 -m venv`, which works on
# both. Where the real image can be pulled, pull it first (`podman pull python:3.11-slim-bookworm`)
# and this script leaves it alone.
set -euo pipefail

BASE_IMAGE="${CNAI_BASE_IMAGE:-docker.io/library/python:3.11-slim-bookworm}"
CONF_DIR="${CNAI_CONTAINERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cnai/containers}"
CONF="$CONF_DIR/containers.conf"
MIRROR="${CNAI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE="${CNAI_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

log() { echo "containers.sh: $*" >&2; }

apt_install() {
    # Other jobs on the machine may hold the dpkg lock: wait for it rather than fail.
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}

cmd_tools() {
    local missing=()
    for tool in podman buildah skopeo runc debootstrap; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]} (apt)"
        apt_install "${missing[@]}"
    fi
    if ! command -v docker-compose >/dev/null; then
        # Without recommends: only the compose CLI (a validator here), not the Docker engine.
        log "installing docker-compose (apt, --no-install-recommends)"
        apt_install --no-install-recommends docker-compose
    fi
}

cmd_conf() {
    mkdir -p "$CONF_DIR"
    # crun fails on hybrid cgroups ("cgroups in hybrid mode not supported"), so runc; podman's
    # default ulimits are refused without CAP_SYS_RESOURCE (nproc 65536 fails, 32768 works).
    local want
    want='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"'
    if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$want" ]; then
        printf '%s\n' "$want" >"$CONF"
    fi
    echo "$CONF"
}

run_podman() {
    CONTAINERS_CONF="$CONF" podman "$@"
}

cmd_base() {
    if run_podman image exists "$BASE_IMAGE"; then
        return 0
    fi
    log "making $BASE_IMAGE with debootstrap (about 90 s, once)"
    local rootfs
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/cnai-rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs"' RETURN
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || {
        tail -n 20 "$rootfs.log" >&2
        rm -f "$rootfs.log"
        log "debootstrap failed (mirror $MIRROR); set CNAI_DEBIAN_MIRROR to one that answers"
        return 1
    }
    rm -f "$rootfs.log"
    # This machine reaches PyPI through a TLS proxy with its own CA: give the base the building
    # machine's bundle, and point pip at it (a venv's pip trusts certifi, not the system store).
    if [ -f "$CA_BUNDLE" ]; then
        cp "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
        printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
    fi
    # What slim images leave out: apt lists and caches, docs and man pages.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    tar -C "$rootfs" -c . | run_podman import \
        --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
    log "made $BASE_IMAGE"
}

case "${1:-setup}" in
tools) cmd_tools ;;
conf) cmd_conf ;;
base) cmd_conf >/dev/null && cmd_base ;;
setup) cmd_tools && cmd_conf >/dev/null && cmd_base ;;
podman)
    shift
    cmd_conf >/dev/null
    run_podman "$@"
    ;;
*)
    echo "usage: $0 tools|conf|base|setup|podman ARGS..." >&2
    exit 2
    ;;
esac
