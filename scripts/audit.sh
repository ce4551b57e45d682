#!/usr/bin/env bash
# Audit the locked dependencies (the pins in uv.lock, not whatever is installed) for known
# vulnerabilities with pip-audit, and judge its result by the project's policy
# (scripts/audit_verdict.py):
#   - a known advisory against a pinned version fails, naming package, advisory and fix;
#   - a pin that could not be audited (vulnerability data out of reach) is reported, one line
#     each, and does not fail the run;
#   bash scripts/audit.sh --strict   also fails on "could not audit" (for networks that reach
#                                    the vulnerability service).
set -uo pipefail
cd "$(dirname "$0")/.."
strict=()
case "${1:-}" in
    "") ;;
    --strict) strict=(--strict) ;;
    *) echo "usage: bash scripts/audit.sh [--strict]" >&2; exit 2 ;;
esac
UV=${UV:-.tools/bin/uv}
[ -x "$UV" ] || UV=$(command -v uv) || { echo "audit: uv not found; run bash scripts/setup.sh" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$UV" export --frozen --no-hashes --no-emit-project --format requirements-txt \
    > "$work/requirements.txt" || { echo "audit: uv export failed" >&2; exit 2; }
echo "audit: $(grep -c '==' "$work/requirements.txt") pins from uv.lock, pip-audit $(.venv/bin/pip-audit --version | cut -d' ' -f2)"
# Trust the machine's certificate store, as pip does, when no bundle is named in the environment.
if [ -z "${REQUESTS_CA_BUNDLE:-}${SSL_CERT_FILE:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    export REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
fi
# pip-audit exits 1 on a vulnerability and on a failure to run: the verdict reads its JSON.
.venv/bin/pip-audit --progress-spinner off --no-deps --disable-pip --timeout 20 \
    -r "$work/requirements.txt" --format json --output "$work/result.json" \
    > "$work/pip-audit.log" 2>&1
.venv/bin/python scripts/audit_verdict.py "$work/result.json" --log "$work/pip-audit.log" "${strict[@]}"
