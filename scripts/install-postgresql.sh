#!/usr/bin/env bash
# Installs PostgreSQL's server binaries (Debian packages) for the tests' throw-away server
# (tests/pgserver.py: its own cluster in a temp folder on 127.0.0.1; nothing system-wide is
# started). Idempotent: does nothing when initdb is already there. Needs root.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "postgresql already installed: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-postgresql.sh needs root (apt-get); run it with sudo" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql
# the package's own cluster is not needed: the tests start their own
if command -v pg_ctlcluster >/dev/null 2>&1; then
    for v in /usr/lib/postgresql/*; do
        pg_ctlcluster "$(basename "$v")" main stop 2>/dev/null || true
    done
fi
ls -d /usr/lib/postgresql/*/bin
