#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries are on this machine, installing
# Debian's package when they are missing and we may.
set -euo pipefail

have() {
  if [ -n "${FHIR_PG_BIN:-}" ] && [ -x "$FHIR_PG_BIN/initdb" ]; then return 0; fi
  command -v initdb >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if have; then exit 0; fi
echo "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; installing Debian's postgresql package" >&2
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install them here: run 'sudo apt-get install postgresql' (or set FHIR_PG_BIN to their directory)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
# The package starts a system cluster of its own; the embedded default does
# not need it, but leaving it running is harmless.
have || { echo "postgresql installed but initdb still not found" >&2; exit 1; }
