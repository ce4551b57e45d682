#!/usr/bin/env bash
# Install Debian's chromium, the headless browser the demo's browser test drives (tests/demo).
# Idempotent: does nothing when chromium is already on PATH. Needs root (or sudo). No browser
# download: only the distribution's package, through apt-get.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "install-chromium: $(command -v chromium) already present ($(chromium --version 2>/dev/null | head -n 1)); nothing to do"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-chromium: not root and no sudo; cannot install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-chromium: chromium missing; running apt-get update"
$SUDO apt-get update -q
echo "install-chromium: installing chromium (--no-install-recommends)"
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation

if ! command -v chromium >/dev/null 2>&1; then
    echo "install-chromium: apt-get finished but chromium is still missing" >&2
    exit 1
fi
echo "install-chromium: installed $(chromium --version 2>/dev/null | head -n 1)"
