#!/usr/bin/env bash
# deploy/loadtest.sh against the real pgsluice in front of a real PostgreSQL 15: 8 clients
# on a pool of 2 for a few seconds, so the pool saturates and clients wait; the report
# shows TPS, latency percentiles, peak saturation 1 and waits, and the script exits 0; a
# script whose transactions fail makes it exit 1.
# Usage: loadtest_test.sh REPO_DIR PGSLUICE_BINARY
set -Eeuo pipefail

repo=$(cd "$1" && pwd)
binary=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
work=$(mktemp -d /tmp/pgsluice-loadtest-test-XXXXXX)
proxy=
cleanup() {
  [[ -n $proxy ]] && kill "$proxy" 2>/dev/null && wait "$proxy" 2>/dev/null
  stop_postgres
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

export PG_APP_PASSWORD
PG_APP_PASSWORD=$(random_password)
start_postgres "$work/pg"
port=$(free_port)
metrics_port=$(free_port)
cat >"$work/pgsluice.yaml" <<YAML
listen: {address: 127.0.0.1, port: $port}
metrics: {enabled: true, address: 127.0.0.1, port: $metrics_port}
workers: 2
defaults: {pool_mode: transaction, pool_size: 2}
databases:
  app: {host: 127.0.0.1, port: $PG_PORT}
users:
  app: {password: {env: APP_PASSWORD}}
YAML
APP_PASSWORD=$PG_APP_PASSWORD "$binary" run -c "$work/pgsluice.yaml" >"$work/pgsluice.log" 2>&1 &
proxy=$!
wait_for 20 "$binary" health --port "$metrics_port" --ready || fail "pgsluice never became ready"

export PGPASSWORD=$PG_APP_PASSWORD
# A transaction that holds its server a little, so 8 clients queue for 2 servers.
printf 'BEGIN;\nSELECT pg_sleep(0.01);\nSELECT abalance FROM pgbench_accounts WHERE aid = 1;\nEND;\n' >"$work/hold.sql"
if ! "$repo/deploy/loadtest.sh" -p "$port" -m "127.0.0.1:$metrics_port" -c 8 -T 4 -i 1 -f "$work/hold.sql" >"$work/report" 2>&1; then
  cat "$work/report"
  fail "loadtest.sh failed on a healthy run"
fi
cat "$work/report"
grep -qE '^  TPS +[0-9]+\.[0-9]+' "$work/report" || fail "no TPS in the report"
grep -qE '^  transactions +[1-9][0-9]* done, 0 failed' "$work/report" || fail "no transactions counted"
grep -qE '^  latency ms p50/p95/p99/max +[0-9.]+ / [0-9.]+ / [0-9.]+ / [0-9.]+' "$work/report" || fail "no latency percentiles"
grep -qE '^  pool saturation, peak +1$' "$work/report" || fail "peak saturation is not 1 with 8 clients on 2 servers"
grep -qE '^  clients waiting, peak +[1-9]' "$work/report" || fail "no waiting clients seen"
grep -qE '^  wait for a server +[0-9.]+ ms per transaction' "$work/report" || fail "no wait time per transaction"

printf 'SELECT 1/0;\n' >"$work/fails.sql"
if "$repo/deploy/loadtest.sh" -p "$port" -m "127.0.0.1:$metrics_port" -c 2 -T 2 -f "$work/fails.sql" >"$work/report2" 2>&1; then
  cat "$work/report2"
  fail "loadtest.sh exited 0 although every transaction failed"
fi
grep -q '^FAILED' "$work/report2" || fail "the failing run does not say FAILED"
if grep -q "$PG_APP_PASSWORD" "$work/report" "$work/report2" "$work/pgsluice.log"; then fail "the password was printed"; fi
echo "PASS: loadtest.sh"
