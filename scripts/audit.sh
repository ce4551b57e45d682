#!/usr/bin/env bash
# Audit the locked dependencies (not whatever happens to be installed) for known vulnerabilities.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv || echo "$HOME/.local/bin/uv")
req=$(mktemp)
trap 'rm -f "$req"' EXIT
"$UV" export --frozen --no-hashes --no-emit-project --format requirements-txt > "$req"
.venv/bin/pip-audit --strict --progress-spinner off --no-deps --disable-pip -r "$req"
