#!/usr/bin/env bash
# Set up releasebot on a fresh machine: a pinned uv in a private venv (.tools), then the locked
# environment in .venv. Works with a distribution's externally managed python3 (PEP 668): the
# system Python is only used to create .tools; nothing is installed into it or into $HOME.
#   bash scripts/setup.sh          runtime + dev tools (what the demo and the tests need)
#   bash scripts/setup.sh --test   also the servers the tests run against (Debian packages)
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9            # the uv that wrote uv.lock; bump both together
PYTHON=${PYTHON:-python3}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup: $PYTHON not found; install Python 3.11 or newer (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
fi
if [ ! -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    echo "setup: installing uv $UV_VERSION into .tools (a private venv; $("$PYTHON" --version))"
    rm -rf .tools
    if ! "$PYTHON" -m venv .tools; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "setup: $PYTHON cannot create a venv; installing Debian's python3-venv"
            rm -rf .tools
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv \
                || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv; }
            "$PYTHON" -m venv .tools
        else
            echo "setup: '$PYTHON -m venv' failed; install the venv module (Debian/Ubuntu: sudo apt-get install python3-venv)" >&2
            exit 1
        fi
    fi
    .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
UV=.tools/bin/uv

echo "setup: syncing .venv from uv.lock (frozen)"
# Never download an interpreter: use the one on this machine that fits requires-python.
# Trust the machine's own certificate store (as pip does), so a network whose TLS goes through
# a proxy with a local CA works without exporting SSL_CERT_FILE.
interpreter=$("$PYTHON" -c 'import sys; print(sys.executable)')
UV_PYTHON_DOWNLOADS=never "$UV" sync --frozen --quiet --system-certs --python "$interpreter"

if [ "${1:-}" = "--test" ]; then
    # The dev group already holds SimCord's preview (the browser test of `demo --serve`);
    # the tests' servers are Debian packages.
    bash .ci/install-prometheus.sh
    bash .ci/install-alertmanager.sh
    bash .ci/install-chromium.sh
    bash .ci/install-postgresql.sh
    bash .ci/install-openssl.sh   # the SMTP STARTTLS test's throw-away certificate
fi
echo "setup: done (.venv/bin/releasebot is ready)"
