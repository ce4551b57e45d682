#!/usr/bin/env bash
# Install the openssl CLI the SMTP STARTTLS test makes its throw-away certificate with.
set -euo pipefail
exec bash "$(dirname "$0")/install-debian.sh" /usr/bin/openssl=openssl
