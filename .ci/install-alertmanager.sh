#!/usr/bin/env bash
# Install the Alertmanager the alerting-chain tests run against (Debian package).
# Idempotent: does nothing when /usr/bin/prometheus-alertmanager is already there. Needs root (or sudo).
set -euo pipefail

ALERTMANAGER_BIN=/usr/bin/prometheus-alertmanager

if [ -x "$ALERTMANAGER_BIN" ]; then
    echo "install-alertmanager: $ALERTMANAGER_BIN already present ($("$ALERTMANAGER_BIN" --version 2>&1 | head -n 1)); nothing to do"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-alertmanager: not root and no sudo; cannot install prometheus-alertmanager" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-alertmanager: $ALERTMANAGER_BIN missing; running apt-get update"
$SUDO apt-get update -q
# --no-install-recommends keeps it to ~20 s; recommends pull in extra packages the tests do not need.
echo "install-alertmanager: installing prometheus-alertmanager (--no-install-recommends)"
$SUDO apt-get install -y -q --no-install-recommends prometheus-alertmanager

if [ ! -x "$ALERTMANAGER_BIN" ]; then
    echo "install-alertmanager: apt-get finished but $ALERTMANAGER_BIN is still missing" >&2
    exit 1
fi
echo "install-alertmanager: installed $("$ALERTMANAGER_BIN" --version 2>&1 | head -n 1)"
