#!/usr/bin/env bash
# Audit the locked dependencies (not whatever happens to be installed) for known vulnerabilities.
# pip-audit first; if its vulnerability service cannot be reached from this network, the same
# pins are checked against the advisories PyPI publishes in each project's JSON document.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv || echo "$HOME/.local/bin/uv")
req=$(mktemp); log=$(mktemp)
trap 'rm -f "$req" "$log"' EXIT
"$UV" export --frozen --no-hashes --no-emit-project --format requirements-txt > "$req"
if .venv/bin/pip-audit --strict --progress-spinner off --no-deps --disable-pip -r "$req" >"$log" 2>&1; then
    cat "$log"
    exit 0
fi
if grep -q "could not be audited\|Connection\|ServiceError" "$log"; then
    echo "pip-audit could not reach its vulnerability service here:"
    grep -m 3 "ERROR\|could not" "$log" || true
    echo "falling back to PyPI project JSON advisories"
    exec .venv/bin/python scripts/audit_pypi_json.py "$req"
fi
cat "$log"
exit 1
