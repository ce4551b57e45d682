#!/usr/bin/env bash
# Install the Debian packages the tests run against, only those whose binary is missing.
#   bash .ci/install-debian.sh BINARY=PACKAGE[,PACKAGE...] [...]
# e.g. /usr/bin/prometheus=prometheus chromium=chromium,fonts-liberation (a bare name is looked up
# on PATH). Idempotent; one `apt-get update` and one `apt-get install` for all that are missing.
# --no-install-recommends keeps each to what the tests use (prometheus' recommends alone are
# ~377 MB of exporters). Needs root (or sudo) only when something is missing. A binary still
# missing afterwards is an error, never a skip.
set -euo pipefail

found() { case "$1" in /*) [ -x "$1" ] ;; *) command -v "$1" >/dev/null 2>&1 ;; esac; }

missing=()
packages=()
for spec in "$@"; do
    binary=${spec%%=*}
    wanted=${spec#*=}
    if [ "$binary" = "$spec" ] || [ -z "$wanted" ]; then
        echo "install-debian: '$spec' is not BINARY=PACKAGE[,PACKAGE...]" >&2
        exit 2
    fi
    first=${wanted%%,*}
    if found "$binary"; then
        echo "install-debian: $binary present ($first $(dpkg-query -W -f '${Version}' "$first" 2>/dev/null || echo '?')); nothing to do"
    else
        missing+=("$binary")
        IFS=, read -r -a more <<<"$wanted"
        packages+=("${more[@]}")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-debian: not root and no sudo; cannot install ${packages[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-debian: missing ${missing[*]}; running apt-get update"
$SUDO apt-get update -q
echo "install-debian: installing ${packages[*]} (--no-install-recommends)"
$SUDO apt-get install -y -q --no-install-recommends "${packages[@]}"

for binary in "${missing[@]}"; do
    if ! found "$binary"; then
        echo "install-debian: apt-get finished but $binary is still missing" >&2
        exit 1
    fi
done
echo "install-debian: installed ${packages[*]}"
