#!/usr/bin/env bash
# The container image, built and run as a user would: `podman build` of the repository's
# Dockerfile (Debian's podman, runtime runc, on a debian:bookworm base made with
# debootstrap, see debian-base.sh), then the image in front of a real PostgreSQL 15:
# psql through it, HEALTHCHECK healthy, non-root, SIGHUP reloads, SIGTERM drains a
# transaction in flight and exits 0, and no password in the logs.
# Exit 77 (ctest: skipped) with PGSLUICE_SKIP_IMAGE_TEST=1 (tests/run.sh --no-image) or
# when podman cannot run containers on this machine.
# Usage: image_test.sh REPO_DIR
set -Eeuo pipefail

repo=$(cd "${1:?usage: image_test.sh REPO_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

if [[ ${PGSLUICE_SKIP_IMAGE_TEST:-0} == 1 ]]; then
  echo "SKIPPED: the image test is off on purpose (PGSLUICE_SKIP_IMAGE_TEST=1, tests/run.sh --no-image)"
  exit 77
fi
export CONTAINERS_CONF=$here/containers.conf
if ! command -v podman >/dev/null || ! podman info >/tmp/pgsluice-podman-info.$$ 2>&1; then
  echo "SKIPPED: podman cannot run here: $(tail -n 3 /tmp/pgsluice-podman-info.$$ 2>/dev/null || echo 'podman is not installed')"
  rm -f /tmp/pgsluice-podman-info.$$
  exit 77
fi
rm -f /tmp/pgsluice-podman-info.$$

# One tag per checkout, so two worktrees testing at once do not race for one name.
image=localhost/pgsluice:test-$(printf '%s' "$repo" | sha256sum | cut -c1-8)
name=pgsluice-image-test-$$
work=$(mktemp -d /tmp/pgsluice-image-test-XXXXXX)
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  stop_postgres
  rm -rf "$work" "$repo/build-context-probe"
}
trap cleanup EXIT
# podman without systemd also logs "unable to get systemd connection" for the HEALTHCHECK
# timer on stderr: harmless, kept in podman.err and shown only when the test fails.
fail() {
  echo "FAIL: $*"
  cat "$work/podman.err" 2>/dev/null || true
  podman logs "$name" 2>&1 | tail -n 30 || true
  exit 1
}
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND"' ERR
started=$SECONDS

"$here/debian-base.sh"
echo "base ready after $((SECONDS - started)) s"

# --format docker keeps HEALTHCHECK and STOPSIGNAL (the OCI format drops HEALTHCHECK);
# --pull=never: nothing comes from a registry; the host network reaches the apt mirror.
build_started=$SECONDS
build() {
  timeout 1200 nice podman build --format docker --pull=never --network host "$@" "$repo" >>"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log"; fail "podman build $*"; }
}
# The package stage under a name of its own, so that pruning the dangling leftovers of
# earlier builds below keeps it (and reruns skip apt).
# .dockerignore keeps git history and build trees out of the context: a throwaway image of
# the context as the Dockerfile's COPY sees it (make sure there is a build tree to leave out).
mkdir -p "$repo/build-context-probe" && touch "$repo/build-context-probe/x"
printf 'FROM debian:bookworm\nCOPY . /context\nRUN test ! -e /context/.git && test ! -e /context/build-context-probe && test -e /context/CMakeLists.txt\n' >"$work/Dockerfile.context"
if ! timeout 300 podman build --pull=never --network none -f "$work/Dockerfile.context" -t localhost/pgsluice-context-probe "$repo" >"$work/context.log" 2>&1; then
  rm -rf "$repo/build-context-probe"
  tail -n 20 "$work/context.log"
  fail ".dockerignore lets .git or a build tree into the context"
fi
rm -rf "$repo/build-context-probe"
podman rmi -f localhost/pgsluice-context-probe >/dev/null 2>&1 || true
build --target deps -t localhost/pgsluice-build-deps:bookworm
build -t "$image"
podman image prune -f >/dev/null
echo "image built in $((SECONDS - build_started)) s ($(podman image inspect --format '{{.Size}}' "$image") bytes)"

# What the image says about itself.
config=$(podman image inspect --format '{{.Config.User}}|{{.Config.StopSignal}}|{{json .Config.ExposedPorts}}' "$image")
[[ $config == pgsluice\|SIGTERM\|*6432/tcp*9632/tcp* ]] || fail "image config: $config"
healthcheck=$(podman image inspect --format '{{json .HealthCheck}}' "$image")
[[ $healthcheck == *pgsluice*health* ]] || fail "no HEALTHCHECK through pgsluice health: $healthcheck"
# shellcheck disable=SC2016 # $tool expands in the container's shell
found=$(podman run --rm --pull=never --network none --entrypoint /bin/sh "$image" \
  -c 'for tool in cc c++ gcc cmake curl wget; do command -v "$tool"; done; true' 2>>"$work/podman.err")
[[ -z $found ]] || fail "the runtime image has build tools or curl: $found"

export PG_APP_PASSWORD
PG_APP_PASSWORD=$(random_password)
start_postgres "$work/pg"
port=$(free_port)
metrics_port=$(free_port)

# The host network: the container reaches the test's PostgreSQL on 127.0.0.1 and the test
# reaches the container's ports without a bridge.
export PGSLUICE_PASSWORD=$PG_APP_PASSWORD
# --health-interval disable: no timer for the HEALTHCHECK (podman's timers are systemd's,
# and there is no systemd here); the test runs it itself with podman healthcheck run.
podman run -d --pull=never --name "$name" --network host --stop-timeout 20 --health-interval disable \
  -e PGSLUICE_DB_HOST=127.0.0.1 -e PGSLUICE_DB_PORT="$PG_PORT" -e PGSLUICE_PASSWORD \
  -e PGSLUICE_LISTEN_PORT="$port" -e PGSLUICE_METRICS_PORT="$metrics_port" -e PGSLUICE_ADMIN_USERS=app \
  "$image" >/dev/null 2>>"$work/podman.err"
export PGPASSWORD=$PG_APP_PASSWORD
through() { psql -X -At -h 127.0.0.1 -p "$port" -U app -d app "$@"; }
wait_for 30 through -c 'select 1' || fail "psql through the container never connected"
echo "container serving after $((SECONDS - started)) s"

[[ $(podman exec "$name" id -u) != 0 ]] || fail "the container runs as root"
sum=$(through -c 'create table t (x int)' -c 'insert into t select generate_series(1, 100)' -c 'select sum(x) from t')
[[ $sum == *5050 ]] || fail "psql through the container: $sum"
pools=$(through -d pgbouncer -c 'SHOW POOLS')
[[ $pools == *app*app* ]] || fail "SHOW POOLS: $pools"

# HEALTHCHECK: podman runs it on demand (no systemd timer here) and records the status.
health_status() {
  podman inspect --format '{{.State.Health.Status}}' "$name" 2>/dev/null ||
    podman inspect --format '{{.State.Healthcheck.Status}}' "$name"
}
podman healthcheck run "$name" >/dev/null 2>>"$work/podman.err" || fail "HEALTHCHECK failed"
[[ $(health_status) == healthy ]] || fail "health status: $(health_status)"
curl_free=$(podman exec "$name" pgsluice health --ready) || fail "pgsluice health --ready"
echo "healthy: $curl_free"

# SIGHUP reloads the config in place.
podman kill --signal HUP "$name" >/dev/null
wait_for 10 bash -c "podman logs $name 2>&1 | grep -q 'config reloaded from'" || fail "SIGHUP did not reload"

# SIGTERM (podman stop sends the image's STOPSIGNAL) with a transaction in flight: the
# transaction commits, the container exits 0, the logs show the drain.
through -c 'begin' -c 'select pg_sleep(2)' -c 'insert into t values (-1)' -c 'commit' >"$work/tx.out" 2>&1 &
tx=$!
in_flight() {
  [[ $(PGPASSWORD=postgres psql -X -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
    -c "select count(*) from pg_stat_activity where query like 'select pg_sleep%'") == 1 ]]
}
wait_for 10 in_flight || fail "the transaction never started"
stop_started=$SECONDS
podman stop "$name" >/dev/null 2>>"$work/podman.err"
wait "$tx" || fail "the transaction in flight failed during the drain: $(cat "$work/tx.out")"
[[ $(podman inspect --format '{{.State.ExitCode}}' "$name") == 0 ]] || fail "exit code $(podman inspect --format '{{.State.ExitCode}}' "$name")"
((SECONDS - stop_started < 15)) || fail "the drain took $((SECONDS - stop_started)) s"
committed=$(PGPASSWORD=postgres psql -X -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d app -c 'select count(*) from t where x = -1')
[[ $committed == 1 ]] || fail "the drained transaction did not commit"
logs=$(podman logs "$name" 2>&1)
for line in 'SIGTERM: shutting down' 'drain complete' 'pgsluice stopped'; do
  [[ $logs == *"$line"* ]] || fail "no '$line' in the logs"
done
[[ $logs != *"$PG_APP_PASSWORD"* ]] || fail "the password is in the logs"

echo "PASS: image test in $((SECONDS - started)) s"
