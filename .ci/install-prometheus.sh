#!/usr/bin/env bash
# Install the Prometheus server the monitoring tests run against (Debian package).
set -euo pipefail
exec bash "$(dirname "$0")/install-debian.sh" /usr/bin/prometheus=prometheus
