#!/usr/bin/env bash
# Staging load test: pgbench through pgsluice at a given client count and duration, then a
# short report: TPS, latency percentiles, failed transactions, and the pool's peak
# saturation, clients waiting and wait time, read from pgsluice's /metrics while it runs.
# Exits 1 if any transaction failed or pgbench did not finish. See the README, "Staging
# load test".
#
# Usage: PGPASSWORD=... deploy/loadtest.sh [options]
#   -h HOST        pgsluice's host (127.0.0.1)            -p PORT      its port (6432)
#   -d DATABASE    database (app)                         -U USER      user (app)
#   -c CLIENTS     concurrent clients (16)                -T SECONDS   duration (60)
#   -m HOST:PORT   pgsluice's metrics listener (127.0.0.1:9632)
#   -b BUILTIN     pgbench script: select-only, simple-update, tpcb-like (select-only)
#   -f FILE        a pgbench script of your own instead of -b
#   -i SCALE       first create pgbench's tables at this scale (pgbench -i), through pgsluice
set -euo pipefail

host=127.0.0.1 port=6432 database=app user=app clients=16 duration=60 metrics=127.0.0.1:9632
builtin=select-only script='' scale=''
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
[[ ${1:-} == --help ]] && usage 0
while getopts 'h:p:d:U:c:T:m:b:f:i:' option; do
  case $option in
    h) host=$OPTARG ;; p) port=$OPTARG ;; d) database=$OPTARG ;; U) user=$OPTARG ;;
    c) clients=$OPTARG ;; T) duration=$OPTARG ;; m) metrics=$OPTARG ;; b) builtin=$OPTARG ;;
    f) script=$OPTARG ;; i) scale=$OPTARG ;; *) usage 64 ;;
  esac
done
[[ $clients =~ ^[0-9]+$ && $duration =~ ^[0-9]+$ && $clients -gt 0 && $duration -gt 0 ]] ||
  { echo "loadtest: -c and -T take positive whole numbers" >&2; exit 64; }

work=$(mktemp -d /tmp/pgsluice-loadtest-XXXXXX)
sampler=
cleanup() {
  [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
connection=(-h "$host" -p "$port" -U "$user")

# GET /metrics with bash's /dev/tcp: no curl needed on the staging host.
scrape() {
  local body
  exec 3<>"/dev/tcp/${metrics%:*}/${metrics##*:}" || return 1
  printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "${metrics%:*}" >&3
  body=$(timeout 5 cat <&3) || true
  exec 3<&-
  printf '%s\n' "$body"
}
# The sum (or max) over all series of one metric in a scrape.
metric() { # metric FILE NAME sum|max
  awk -v name="$2" -v how="$3" '
    $1 == name || index($1, name "{") == 1 { v = $NF + 0; s += v; if (!seen || v > m) m = v; seen = 1 }
    END { printf "%.6g\n", (how == "max" ? m : s) + 0 }' "$1"
}
scrape >"$work/before.prom" || { echo "loadtest: no /metrics at $metrics (-m HOST:PORT)" >&2; exit 1; }

if [[ -n $scale ]]; then
  echo "pgbench -i -s $scale (through pgsluice at $host:$port)"
  pgbench -i -q -s "$scale" "${connection[@]}" "$database" >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
fi

# Peaks over the run, sampled once a second.
(
  while true; do
    scrape >"$work/sample.prom" 2>/dev/null &&
      printf '%s %s %s\n' "$(metric "$work/sample.prom" pgsluice_pool_saturation max)" \
        "$(metric "$work/sample.prom" pgsluice_pool_clients_waiting sum)" \
        "$(metric "$work/sample.prom" pgsluice_pool_max_wait_seconds max)" >>"$work/samples"
    sleep 1
  done
) &
sampler=$!

if [[ -n $script ]]; then workload=(-f "$script"); else workload=(-b "$builtin"); fi
threads=$(( clients < $(nproc) ? clients : $(nproc) ))
echo "pgbench: $clients client(s), $duration s, ${script:-builtin $builtin}, through $host:$port/$database"
status=0
(cd "$work" && pgbench -n "${connection[@]}" -c "$clients" -j "$threads" -T "$duration" "${workload[@]}" \
  --log --log-prefix=tx "$database") >"$work/pgbench.log" 2>&1 || status=$?
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; sampler=
scrape >"$work/after.prom" || true

tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$work/pgbench.log" | tail -n1)
done_tx=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$work/pgbench.log")
failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$work/pgbench.log")
# Per-transaction log lines: client, transaction, latency (us), script, epoch, us.
cat "$work"/tx.* 2>/dev/null | awk '{ print $3 }' | sort -n >"$work/latencies" || true
percentile() { awk -v p="$1" '{ a[NR] = $1 } END { if (NR) { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; printf "%.2f", a[i] / 1000 } else printf "-" }' "$work/latencies"; }
peak() { awk -v c="$1" 'BEGIN { m = 0 } $c + 0 > m { m = $c + 0 } END { printf "%.6g", m }' "$work/samples" 2>/dev/null || echo 0; }
wait_delta=$(awk -v a="$(metric "$work/before.prom" pgsluice_wait_seconds_total sum)" \
  -v b="$(metric "$work/after.prom" pgsluice_wait_seconds_total sum)" \
  -v ta="$(metric "$work/before.prom" pgsluice_transactions_total sum)" \
  -v tb="$(metric "$work/after.prom" pgsluice_transactions_total sum)" \
  'BEGIN { if (tb > ta) printf "%.3f ms per transaction (%.1f s in all)", (b - a) * 1000 / (tb - ta), b - a; else printf "-" }')

cat <<REPORT

pgsluice load test report
  clients, duration          $clients, $duration s
  transactions               ${done_tx:-0} done, ${failed:-0} failed
  TPS                        ${tps:--}
  latency ms p50/p95/p99/max $(percentile 50) / $(percentile 95) / $(percentile 99) / $(percentile 100)
  pool saturation, peak      $(peak 1)
  clients waiting, peak      $(peak 2)
  longest wait, peak         $(peak 3) s
  wait for a server          $wait_delta
REPORT

if ((status != 0)) || [[ -z $done_tx ]] || ((${failed:-0} > 0)); then
  echo
  echo "FAILED: pgbench exit status $status, ${failed:-unknown} failed transaction(s); its output:"
  tail -n 20 "$work/pgbench.log"
  exit 1
fi
