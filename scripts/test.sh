#!/usr/bin/env bash
# Set up and run every check: lint, types, layer contracts, tests with coverage, audit.
# This is the README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff";          ruff check bot tests bench migrations scripts && ruff format --check bot tests bench migrations scripts
echo "== mypy";          mypy
echo "== import-linter"; lint-imports
echo "== pytest";        coverage run -m pytest -q -p no:cacheprovider
echo "== coverage";      coverage report --fail-under=85 | grep -E "^TOTAL"
echo "== pip-audit";     scripts/audit.sh
