#!/usr/bin/env bash
# Install the Prometheus server binary the monitoring tests run against (Debian package).
# Idempotent: does nothing when /usr/bin/prometheus is already there. Needs root (or sudo).
set -euo pipefail

PROMETHEUS_BIN=/usr/bin/prometheus

if [ -x "$PROMETHEUS_BIN" ]; then
    echo "install-prometheus: $PROMETHEUS_BIN already present ($("$PROMETHEUS_BIN" --version 2>&1 | head -n 1)); nothing to do"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-prometheus: not root and no sudo; cannot install prometheus" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-prometheus: $PROMETHEUS_BIN missing; running apt-get update"
$SUDO apt-get update -q
# --no-install-recommends keeps it to ~20 s; recommends pull in ~377 MB of exporters.
echo "install-prometheus: installing prometheus (--no-install-recommends)"
$SUDO apt-get install -y -q --no-install-recommends prometheus

if [ ! -x "$PROMETHEUS_BIN" ]; then
    echo "install-prometheus: apt-get finished but $PROMETHEUS_BIN is still missing" >&2
    exit 1
fi
echo "install-prometheus: installed $("$PROMETHEUS_BIN" --version 2>&1 | head -n 1)"
