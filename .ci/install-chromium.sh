#!/usr/bin/env bash
# Install Debian's chromium, the headless browser of the demo's browser test (no browser download).
set -euo pipefail
exec bash "$(dirname "$0")/install-debian.sh" chromium=chromium,fonts-liberation
