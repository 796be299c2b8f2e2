#!/bin/sh
# Debian's Chromium and its WebDriver for the browser tests (tests/browser). Idempotent: a no-op
# when both are on PATH. Needs root (or sudo) and the Debian package registry; nothing is
# downloaded from anywhere else (Selenium drives the system browser, no browser download).
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
echo "installing Debian's chromium and chromium-driver for the browser tests" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
