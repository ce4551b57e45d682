#!/usr/bin/env bash
# Install the Alertmanager the alerting-chain tests run against (Debian package).
set -euo pipefail
exec bash "$(dirname "$0")/install-debian.sh" /usr/bin/prometheus-alertmanager=prometheus-alertmanager
