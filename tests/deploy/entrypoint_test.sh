#!/usr/bin/env bash
# deploy/docker/entrypoint.sh outside a container: from the documented environment variables
# it renders a config that `pgsluice check` accepts, listening on 0.0.0.0 with the password
# left in the environment; a missing PGSLUICE_DB_HOST or a value that would inject YAML is
# refused with a clear message; a mounted config is used as it is; the compose example
# sets only variables the entrypoint reads.
# Usage: entrypoint_test.sh REPO_DIR PGSLUICE_BINARY
set -euo pipefail

repo=$(cd "$1" && pwd)
binary=$(realpath "$2")
work=$(mktemp -d /tmp/pgsluice-entrypoint-test-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# A stand-in for the binary that records what it was asked to run.
printf '#!/bin/sh\necho "$@" >%s/args\n' "$work" >"$work/fake-pgsluice"
chmod +x "$work/fake-pgsluice"
entrypoint() {
  env -i PATH="$PATH" PGSLUICE_BIN="$work/fake-pgsluice" PGSLUICE_CONFIG="$work/none.yaml" \
    PGSLUICE_TEMPLATE="$repo/deploy/docker/pgsluice.yaml.template" PGSLUICE_RENDERED="$work/rendered.yaml" \
    "$@" "$repo/deploy/docker/entrypoint.sh"
}

entrypoint PGSLUICE_DB_HOST=db.internal PGSLUICE_PASSWORD=entrypoint-secret PGSLUICE_POOL_SIZE=7 ||
  fail "the entrypoint failed with a valid environment"
[[ $(cat "$work/args") == "run -c $work/rendered.yaml" ]] || fail "it ran: $(cat "$work/args")"
PGSLUICE_PASSWORD=entrypoint-secret "$binary" check -c "$work/rendered.yaml" || fail "the rendered config does not check"
grep -q 'address: 0.0.0.0' "$work/rendered.yaml" || fail "the rendered config does not listen on 0.0.0.0"
grep -q 'host: db.internal' "$work/rendered.yaml" || fail "PGSLUICE_DB_HOST did not land"
grep -q 'pool_size: 7' "$work/rendered.yaml" || fail "PGSLUICE_POOL_SIZE did not land"
if grep -q entrypoint-secret "$work/rendered.yaml"; then fail "the password was written to the file"; fi
if grep -qF "\${PGSLUICE_" "$work/rendered.yaml"; then fail "a placeholder was left unfilled"; fi
echo "ok:   a config from the environment that pgsluice check accepts"

if out=$(entrypoint PGSLUICE_PASSWORD=x 2>&1); then fail "it ran without PGSLUICE_DB_HOST"; fi
[[ $out == *"set PGSLUICE_DB_HOST"* ]] || fail "no clear message without PGSLUICE_DB_HOST: $out"
if out=$(entrypoint PGSLUICE_DB_HOST='db}, evil: {x' PGSLUICE_PASSWORD=x 2>&1); then fail "it accepted YAML in a value"; fi
[[ $out == *"PGSLUICE_DB_HOST may hold only"* ]] || fail "no clear message for a bad value: $out"
echo "ok:   a missing or unsafe variable is refused with a message"

printf 'listen: {port: 1}\n' >"$work/mounted.yaml"
env -i PATH="$PATH" PGSLUICE_BIN="$work/fake-pgsluice" PGSLUICE_CONFIG="$work/mounted.yaml" \
  "$repo/deploy/docker/entrypoint.sh" || fail "with a mounted config"
[[ $(cat "$work/args") == "run -c $work/mounted.yaml" ]] || fail "a mounted config was not used: $(cat "$work/args")"
env -i PATH="$PATH" PGSLUICE_BIN="$work/fake-pgsluice" "$repo/deploy/docker/entrypoint.sh" health --ready
[[ $(cat "$work/args") == "health --ready" ]] || fail "other verbs do not pass through"
echo "ok:   a mounted config runs as it is; other verbs pass through"

# deploy/docker/compose.yaml sets only variables the entrypoint reads, and waits for
# PostgreSQL to be healthy; its stop grace period outlasts the default drain (8 s).
/usr/bin/python3 - "$repo" <<'PY' || fail "deploy/docker/compose.yaml"
import re, sys, yaml
repo = sys.argv[1]
compose = yaml.safe_load(open(f"{repo}/deploy/docker/compose.yaml"))
known = set(re.findall(r"PGSLUICE_[A-Z_]+", open(f"{repo}/deploy/docker/entrypoint.sh").read()))
pgsluice = compose["services"]["pgsluice"]
unknown = set(pgsluice["environment"]) - known
assert not unknown, f"unknown variables {unknown}"
assert pgsluice["depends_on"]["postgres"]["condition"] == "service_healthy"
assert int(pgsluice["stop_grace_period"].rstrip("s")) > 8
PY
echo "ok:   the compose example uses the entrypoint's variables"
