#!/usr/bin/env bash
# Install the openssl CLI the SMTP STARTTLS test makes its throw-away certificate with (Debian package).
# Idempotent: does nothing when /usr/bin/openssl is already there. Needs root (or sudo).
set -euo pipefail

OPENSSL_BIN=/usr/bin/openssl

if [ -x "$OPENSSL_BIN" ]; then
    echo "install-openssl: $OPENSSL_BIN already present ($("$OPENSSL_BIN" version 2>&1 | head -n 1)); nothing to do"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-openssl: not root and no sudo; cannot install openssl" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-openssl: $OPENSSL_BIN missing; running apt-get update"
$SUDO apt-get update -q
echo "install-openssl: installing openssl (--no-install-recommends)"
$SUDO apt-get install -y -q --no-install-recommends openssl

if [ ! -x "$OPENSSL_BIN" ]; then
    echo "install-openssl: apt-get finished but $OPENSSL_BIN is still missing" >&2
    exit 1
fi
echo "install-openssl: installed $("$OPENSSL_BIN" version 2>&1 | head -n 1)"
