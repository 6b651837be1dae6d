#!/bin/bash
# The image's entrypoint. With a config mounted at $PGSLUICE_CONFIG (/etc/pgsluice/pgsluice.yaml)
# it runs that one; otherwise it renders the container config from the environment (see the
# README, "Container image") into /tmp and runs it. Arguments other than a verb's own go to
# pgsluice unchanged (e.g. `health`, `check`). pgsluice replaces this shell (exec), so it is
# PID 1 and gets the runtime's SIGTERM and SIGHUP itself.
set -euo pipefail

binary=${PGSLUICE_BIN:-/usr/local/bin/pgsluice}
config=${PGSLUICE_CONFIG:-/etc/pgsluice/pgsluice.yaml}
template=${PGSLUICE_TEMPLATE:-/etc/pgsluice/pgsluice.yaml.template}
rendered=${PGSLUICE_RENDERED:-/tmp/pgsluice.yaml}

# Only `run` (the default) needs a config chosen for it.
if [[ $# -gt 0 && $1 != run ]]; then
  exec "$binary" "$@"
fi

if [[ ! -f $config ]]; then
  : "${PGSLUICE_DB_HOST:?set PGSLUICE_DB_HOST (the PostgreSQL host) or mount a config at $config}"
  : "${PGSLUICE_PASSWORD:?set PGSLUICE_PASSWORD (the password of PGSLUICE_USER) or mount a config at $config}"
  declare -A value=(
    [PGSLUICE_DB_HOST]=$PGSLUICE_DB_HOST
    [PGSLUICE_DB_PORT]=${PGSLUICE_DB_PORT:-5432}
    [PGSLUICE_DB_NAME]=${PGSLUICE_DB_NAME:-app}
    [PGSLUICE_USER]=${PGSLUICE_USER:-app}
    [PGSLUICE_POOL_MODE]=${PGSLUICE_POOL_MODE:-transaction}
    [PGSLUICE_POOL_SIZE]=${PGSLUICE_POOL_SIZE:-20}
    [PGSLUICE_MAX_CLIENT_CONN]=${PGSLUICE_MAX_CLIENT_CONN:-1000}
    [PGSLUICE_LISTEN_PORT]=${PGSLUICE_LISTEN_PORT:-6432}
    [PGSLUICE_METRICS_PORT]=${PGSLUICE_METRICS_PORT:-9632}
    [PGSLUICE_SHUTDOWN_TIMEOUT]=${PGSLUICE_SHUTDOWN_TIMEOUT:-8s}
    [PGSLUICE_LOG_FORMAT]=${PGSLUICE_LOG_FORMAT:-text}
    [PGSLUICE_ADMIN_USERS]=${PGSLUICE_ADMIN_USERS:-}
  )
  text=$(<"$template")
  for name in "${!value[@]}"; do
    # A value lands in YAML unquoted: allow only what names, hosts, ports and durations use,
    # so an environment variable cannot add keys of its own.
    if [[ ! ${value[$name]} =~ ^[A-Za-z0-9._/:-]*$ ]]; then
      echo "pgsluice entrypoint: $name may hold only letters, digits and . _ / : -" >&2
      exit 64
    fi
    text=${text//"\${$name}"/${value[$name]}}
  done
  printf '%s\n' "$text" >"$rendered"
  config=$rendered
fi
[[ $# -gt 0 ]] && shift
exec "$binary" run -c "$config" "$@"
