#!/usr/bin/env bash
# Soak: 1,000 clients against one pgsluice for MINUTES, sampling its RSS, open descriptors
# and threads every SAMPLE_SECONDS into a CSV; fails if RSS grows more than 5% after the
# warm-up or the descriptors at rest grew at all.
#
# Usage: tests/soak/run.sh MINUTES
#   PGSLUICE_BINARY   the binary to soak (default: build/cmd/pgsluice, then build-test/...);
#                     nothing is built here
#   SOAK_DIR          where the CSV, logs and configs go (default: a fresh /tmp directory, kept)
#   SAMPLE_SECONDS    sampling period (10)
#   LOAD_CLIENTS      pgbench clients running short queries, rate-limited (100)
#   IDLE_CLIENTS      pgbench clients that connect, sit idle IDLE_SECONDS, query once and
#                     disconnect: connections churning (900)
#   IDLE_SECONDS      (10)
# A reload (SIGHUP with a changed stats_period) every minute, or every MINUTES*60/4 s when
# shorter. The warm-up is the first quarter of the run, at least 40 s (an ASan build
# fills its quarantine and the allocator its arenas over the first half minute or so).
set -euo pipefail

minutes=${1:-}
[[ $minutes =~ ^[0-9]+$ && $minutes -gt 0 ]] || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 64; }
cd "$(dirname "$0")/../.."
binary=${PGSLUICE_BINARY:-}
if [[ -z $binary ]]; then
  for candidate in build/cmd/pgsluice build-test/cmd/pgsluice; do
    [[ -x $candidate ]] && { binary=$candidate; break; }
  done
fi
[[ -n $binary && -x $binary ]] || { echo "soak: no pgsluice binary (set PGSLUICE_BINARY)" >&2; exit 1; }
binary=$(realpath "$binary")
sample_seconds=${SAMPLE_SECONDS:-10}
load_clients=${LOAD_CLIENTS:-100}
idle_clients=${IDLE_CLIENTS:-900}
idle_seconds=${IDLE_SECONDS:-10}
duration=$((minutes * 60))
reload_every=$((duration / 4 < 60 ? duration / 4 : 60))
warmup=$((duration / 4 > 40 ? duration / 4 : 40))
pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n1)
[[ -x $pg_bin/postgres ]] || { echo "soak: no PostgreSQL under /usr/lib/postgresql" >&2; exit 1; }

work=${SOAK_DIR:-$(mktemp -d /tmp/pgsluice-soak-XXXXXX)}
mkdir -p "$work"
csv=$work/samples.csv
pids=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # The postmaster itself (pg_pid is the runuser or subshell above it): immediate shutdown.
  if [[ -f $work/pg/data/postmaster.pid ]]; then
    kill -QUIT "$(head -n1 "$work/pg/data/postmaster.pid")" 2>/dev/null || true
  fi
  if [[ -n ${pg_pid:-} ]]; then wait "$pg_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# PostgreSQL runs as `postgres` when we are root (it refuses root), else as ourselves.
as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }

# PostgreSQL on a Unix socket only, trusting local connections: pgsluice does the passwords.
rm -rf "$work/pg"  # SOAK_DIR may hold an earlier run's
mkdir -p "$work/pg"
((EUID == 0)) && chown postgres: "$work/pg"
as_pg "$pg_bin/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
  >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log"; exit 1; }
pg_port=$(free_port)
as_pg "$pg_bin/postgres" -D "$work/pg/data" -p "$pg_port" -k "$work/pg" -c listen_addresses= -c fsync=off \
  -c max_connections=80 -c shared_buffers=32MB >"$work/postgres.log" 2>&1 &
pg_pid=$!
for _ in $(seq 100); do
  "$pg_bin/pg_isready" -q -h "$work/pg" -p "$pg_port" && break
  sleep 0.2
done
"$pg_bin/psql" -q -h "$work/pg" -p "$pg_port" -U postgres -c "create role app login" -c "create database app owner app" \
  >/dev/null

port=$(free_port)
metrics_port=$(free_port)
write_config() { # write_config STATS_PERIOD
  cat >"$work/pgsluice.yaml.new" <<YAML
listen: {address: 127.0.0.1, port: $port}
workers: 2
metrics: {enabled: true, address: 127.0.0.1, port: $metrics_port}
log_level: info
stats_period: $1
limits: {max_client_conn: 2000}
defaults:
  pool_mode: transaction
  pool_size: 20
  min_pool_size: 20
  query_wait_timeout: 30s
databases:
  app: {host: $work/pg, port: $pg_port}
users:
  app: {password: {env: APP_PASSWORD}}
YAML
  mv "$work/pgsluice.yaml.new" "$work/pgsluice.yaml"
}
write_config 60s
export APP_PASSWORD=soak-password PGPASSWORD=soak-password
# An ASan build: a small quarantine, so freed memory held by the sanitizer does not look
# like growth.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:quarantine_size_mb=16
"$binary" run -c "$work/pgsluice.yaml" >"$work/pgsluice.log" 2>&1 &
pgsluice_pid=$!
pids+=("$pgsluice_pid")
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done
kill -0 "$pgsluice_pid" || { echo "soak: pgsluice did not start"; cat "$work/pgsluice.log"; exit 1; }

connection=(-h 127.0.0.1 -p "$port" -U app)
printf '\\set id random(1, 100000)\nselect :id;\n' >"$work/load.sql"
printf '\\sleep %s s\nselect 1;\n' "$idle_seconds" >"$work/idle.sql"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pgsluice_pid/status"; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$pgsluice_pid/status"; }
fds() { find "/proc/$pgsluice_pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# Descriptors at rest: the listeners, the pool's servers (min_pool_size keeps all 20 open),
# the metrics threads. Taken once all clients are gone.
fds_at_rest() {
  local seen=-1 now
  for _ in $(seq 30); do
    now=$(fds)
    [[ $now == "$seen" ]] && { echo "$now"; return; }
    seen=$now
    sleep 1
  done
  echo "$now"
}

# A first round so that the pool is full and the allocator has seen the shapes it will see.
pgbench -n "${connection[@]}" -c 20 -j 2 -T 5 -f "$work/load.sql" app >"$work/pgbench-first.log" 2>&1
baseline_fds=$(fds_at_rest)
echo "soak: ${minutes} min, $load_clients load + $idle_clients idle clients churning, reload every ${reload_every} s;" \
  "warm-up ${warmup} s; descriptors at rest before: $baseline_fds; samples in $csv"

ulimit -n "$(ulimit -Hn)"
pgbench -n "${connection[@]}" -c "$load_clients" -j 2 -T "$duration" -R 500 -P 10 -f "$work/load.sql" app \
  >"$work/pgbench-load.log" 2>&1 &
load_pid=$!
pids+=("$load_pid")
pgbench -n "${connection[@]}" -c "$idle_clients" -j 4 -T "$duration" -C -f "$work/idle.sql" app \
  >"$work/pgbench-idle.log" 2>&1 &
idle_pid=$!
pids+=("$idle_pid")

echo "seconds,rss_kb,open_fds,threads" >"$csv"
started=$SECONDS
next_reload=$reload_every
stats_period=60s
while kill -0 "$load_pid" 2>/dev/null; do
  elapsed=$((SECONDS - started))
  echo "$elapsed,$(rss_kb),$(fds),$(threads)" | tee -a "$csv"
  if ((elapsed >= next_reload)); then
    [[ $stats_period == 60s ]] && stats_period=61s || stats_period=60s
    write_config "$stats_period"
    kill -HUP "$pgsluice_pid"
    next_reload=$((next_reload + reload_every))
  fi
  sleep "$sample_seconds"
done
load_status=0
wait "$load_pid" || load_status=$?
idle_status=0
wait "$idle_pid" || idle_status=$?
kill -0 "$pgsluice_pid" || { echo "soak: FAILED: pgsluice died"; tail -n 30 "$work/pgsluice.log"; exit 1; }
end_fds=$(fds_at_rest)

failed=0
# RSS: the first sample after the warm-up against the highest one after it.
read -r reference peak < <(awk -F, -v warmup="$warmup" \
  'NR > 1 && $1 >= warmup { if (!ref) ref = $2; if ($2 > peak) peak = $2 } END { print ref + 0, peak + 0 }' "$csv")
growth=$(awk -v a="$reference" -v b="$peak" 'BEGIN { printf "%.1f", a ? (b - a) * 100 / a : 0 }')
echo "soak: RSS after warm-up ${reference} kB, peak after it ${peak} kB (${growth}%);" \
  "descriptors at rest ${baseline_fds} before, ${end_fds} after; reloads: $(grep -c 'config reloaded' "$work/pgsluice.log" || true)"
echo "soak: load pgbench: $(grep -E '^(number of transactions actually processed|number of failed|latency average|tps)' "$work/pgbench-load.log" | tr '\n' ';')"
echo "soak: idle pgbench: $(grep -E '^(number of transactions actually processed|number of failed)' "$work/pgbench-idle.log" | tr '\n' ';')"
if [[ -z $reference || $reference -eq 0 ]]; then echo "soak: FAILED: no sample after the warm-up"; failed=1; fi
if awk -v g="$growth" 'BEGIN { exit !(g > 5) }'; then echo "soak: FAILED: RSS grew ${growth}% after the warm-up"; failed=1; fi
if ((end_fds > baseline_fds)); then echo "soak: FAILED: descriptors at rest grew from $baseline_fds to $end_fds"; failed=1; fi
if ((load_status != 0 || idle_status != 0)); then
  echo "soak: FAILED: pgbench exit statuses $load_status (load), $idle_status (idle)"
  tail -n 5 "$work/pgbench-load.log" "$work/pgbench-idle.log"
  failed=1
fi
grep -q 'ERROR: AddressSanitizer\|runtime error:' "$work/pgsluice.log" && { echo "soak: FAILED: sanitizer report in pgsluice.log"; failed=1; }
((failed == 0)) && echo "soak: OK"
exit "$failed"
