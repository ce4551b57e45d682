#!/usr/bin/env bash
# Set up releasebot on a fresh machine: uv, then the locked environment in .venv.
#   bash scripts/setup.sh          runtime + dev tools (what the demo and the tests need)
#   bash scripts/setup.sh --test   also the Prometheus server the monitoring tests run against
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1 && [ ! -x "$HOME/.local/bin/uv" ]; then
    echo "setup: installing uv from PyPI"
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi
UV=$(command -v uv || echo "$HOME/.local/bin/uv")

echo "setup: syncing .venv from uv.lock (frozen)"
"$UV" sync --frozen --quiet

if [ "${1:-}" = "--test" ]; then
    bash .ci/install-prometheus.sh
fi
echo "setup: done (.venv/bin/releasebot is ready)"
