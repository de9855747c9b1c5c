#!/usr/bin/env bash
# Make sure Debian's PostgreSQL server binaries are present (the ledger's store tests
# start a real server from them). Called by CI and by tests/ledger/conftest.py.
# Installs the `postgresql` package when /usr/lib/postgresql/*/bin/initdb is missing.
set -euo pipefail

found() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

if found; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL is not installed and this is not root: run 'sudo apt-get install -y postgresql'" \
       "(or set CHARTER_SKIP_POSTGRES=1 to skip the PostgreSQL store tests)." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "PostgreSQL is not installed and apt-get is missing: install PostgreSQL's server" \
       "binaries under /usr/lib/postgresql/<version>/bin." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
if ! found; then
  echo "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb appeared." >&2
  exit 1
fi
