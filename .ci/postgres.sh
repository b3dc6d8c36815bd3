#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the tests (Debian's postgresql package).
# Prints the SQLAlchemy URL on stdout. Usage: .ci/postgres.sh [DIR] [PORT]
set -euo pipefail
dir=${1:-/tmp/openpersonalize-pg}
port=${2:-55432}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
bin=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then useradd -r -m postgres; fi
if [ -f "$dir/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$dir" stop -m fast >&2 || true; fi
rm -rf "$dir"
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >&2
as_pg "$bin/pg_ctl" -D "$dir" -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" -l "$dir/server.log" -w start >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
