#!/usr/bin/env bash
# Quickstart: installs what is missing, builds pgsluice (Release), starts a throwaway
# PostgreSQL 15 on port 54320 with database "app" (role "app", password "app"), and runs
# pgsluice in the foreground in front of it on port 6432. Ctrl-C stops both.
#
# To put pgsluice in front of your own PostgreSQL instead, pass your config:
#   PGSLUICE_CONFIG=/path/to/pgsluice.yaml ./deploy/quickstart.sh
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

cd "$(dirname "$0")/.."
repo=$(pwd)
./deploy/install-deps.sh --quickstart

cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPGSLUICE_TESTS=OFF >/dev/null
cmake --build build-release --target pgsluice -j "$(nproc)"
binary="$repo/build-release/cmd/pgsluice"

if [[ -n "${PGSLUICE_CONFIG:-}" ]]; then
  "$binary" check -c "$PGSLUICE_CONFIG"
  echo "pgsluice is starting with $PGSLUICE_CONFIG; Ctrl-C stops it."
  exec "$binary" run -c "$PGSLUICE_CONFIG"
fi

pg_bin=/usr/lib/postgresql/15/bin
pg_port=54320
workdir=$(mktemp -d /tmp/pgsluice-quickstart-XXXXXX)
chown postgres "$workdir" 2>/dev/null || true
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  as_postgres "$pg_bin/pg_ctl" -D "$workdir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT

echo "starting a throwaway PostgreSQL 15 on port $pg_port (data in $workdir)"
printf 'postgres' >"$workdir/pw"
chown postgres "$workdir/pw" 2>/dev/null || true
as_postgres "$pg_bin/initdb" -D "$workdir/data" -U postgres --auth=scram-sha-256 --pwfile="$workdir/pw" \
  -E UTF8 --locale=C.UTF-8 >"$workdir/initdb.log"
as_postgres "$pg_bin/pg_ctl" -D "$workdir/data" -l "$workdir/postgres.log" -w \
  -o "-p $pg_port -k $workdir -c listen_addresses=127.0.0.1" start >/dev/null
PGPASSWORD=postgres psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
  -c "CREATE ROLE app LOGIN PASSWORD 'app'" -c "CREATE DATABASE app OWNER app"

export PGSLUICE_APP_PASSWORD=app
config="$repo/deploy/examples/quickstart.yaml"
"$binary" check -c "$config" >/dev/null

cat <<MSG

pgsluice is starting on 127.0.0.1:6432 in front of that PostgreSQL. Connect with:

    psql "host=127.0.0.1 port=6432 dbname=app user=app password=app"
    PGPASSWORD=app psql -h /tmp -p 6432 -U app app          # through the Unix socket

Ctrl-C stops pgsluice and the throwaway PostgreSQL.

MSG
"$binary" run -c "$config"
