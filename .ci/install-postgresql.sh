#!/usr/bin/env bash
# Install the PostgreSQL server the store, service, kill and failover tests run against
# (Debian's package, the distribution's supported major version; the tests start a throwaway
# server themselves with initdb + postgres in a temp folder, never the system cluster).
# Idempotent: does nothing when initdb of that major version is already there. Needs root (or sudo).
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}     # Debian 12 (bookworm) ships 15; the tests find /usr/lib/postgresql/*/bin
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin

if [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/postgres" ]; then
    echo "install-postgresql: $PG_BIN already present ($("$PG_BIN/postgres" --version)); nothing to do"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-postgresql: not root and no sudo; cannot install postgresql-$PG_MAJOR" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-postgresql: $PG_BIN/initdb missing; running apt-get update"
$SUDO apt-get update -q
# The package creates the 'postgres' system user the tests run the server as under root
# (initdb refuses root). --no-install-recommends: no sysstat, no extra locales.
echo "install-postgresql: installing postgresql-$PG_MAJOR (--no-install-recommends)"
$SUDO apt-get install -y -q --no-install-recommends "postgresql-$PG_MAJOR"

if [ ! -x "$PG_BIN/initdb" ]; then
    echo "install-postgresql: apt-get finished but $PG_BIN/initdb is still missing" >&2
    exit 1
fi
echo "install-postgresql: installed $("$PG_BIN/postgres" --version)"
