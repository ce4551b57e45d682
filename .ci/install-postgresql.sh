#!/usr/bin/env bash
# Install the PostgreSQL server the store, service, kill and failover tests run against (Debian's
# package, the distribution's supported major version; the tests start a throwaway server with
# initdb + postgres in a temp folder, never the system cluster). The package also creates the
# 'postgres' system user the tests run the server as under root (initdb refuses root).
set -euo pipefail
PG_MAJOR=${PG_MAJOR:-15}     # Debian 12 (bookworm) ships 15; the tests find /usr/lib/postgresql/*/bin
exec bash "$(dirname "$0")/install-debian.sh" "/usr/lib/postgresql/$PG_MAJOR/bin/initdb=postgresql-$PG_MAJOR"
