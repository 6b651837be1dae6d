#!/usr/bin/env bash
# deploy/prometheus: promtool check rules and promtool test rules (alerts_test.yml), every
# alert has a test case where it fires, and every runbook_url points at a runbook in
# deploy/runbooks/.
# Usage: prometheus_test.sh REPO_DIR
set -euo pipefail

dir=$1/deploy/prometheus
fail() { echo "FAIL: $*"; exit 1; }
promtool check rules "$dir/alerts.yml" || fail "promtool check rules"
promtool test rules "$dir/alerts_test.yml" || fail "promtool test rules"

mapfile -t alerts < <(sed -nE 's/^ *- alert: *([A-Za-z0-9_]+).*/\1/p' "$dir/alerts.yml")
((${#alerts[@]} > 0)) || fail "no alerts found"
for alert in "${alerts[@]}"; do
  # A test case that expects it to fire: "alertname: X" on its own line, followed by exp_alerts with entries.
  grep -qE "^ *- alertname: $alert\$" "$dir/alerts_test.yml" || fail "$alert has no test case where it fires"
done
echo "ok:   each of the ${#alerts[@]} alerts has a test case where it fires"

mapfile -t runbooks < <(sed -nE 's|^ *runbook_url: .*/deploy/runbooks/([a-z-]+\.md)$|\1|p' "$dir/alerts.yml")
((${#runbooks[@]} == ${#alerts[@]})) || fail "${#alerts[@]} alerts but ${#runbooks[@]} runbook_url pointing into deploy/runbooks"
for runbook in "${runbooks[@]}"; do
  [[ -f $1/deploy/runbooks/$runbook ]] || fail "runbook_url names deploy/runbooks/$runbook, which does not exist"
done
echo "ok:   every runbook_url names a runbook that exists"
