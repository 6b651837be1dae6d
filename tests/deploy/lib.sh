# shellcheck shell=bash
# Shared by the shell tests in tests/deploy: bounded waits, free ports, and a throwaway
# PostgreSQL 15 (initdb into a temp dir as user postgres, as the C++ harness does).
# Source it; it defines functions only.

pg_bin=/usr/lib/postgresql/15/bin

# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds; 1 after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# A TCP port nobody listens on now (the kernel picks it).
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_postgres DIR: initdb into DIR/data, start on a free port on 127.0.0.1 with SCRAM,
# create role and database "app" with password $PG_APP_PASSWORD. Sets PG_PORT, PG_DIR.
# stop_postgres stops it; call it from the caller's EXIT trap.
start_postgres() {
  PG_DIR=$1
  # The postgres user must reach it: mktemp -d makes directories only root can enter.
  chmod 755 "$(dirname "$PG_DIR")"
  PG_PORT=$(free_port)
  mkdir -p "$PG_DIR"
  chown postgres "$PG_DIR"
  printf '%s' postgres >"$PG_DIR/pw"
  chown postgres "$PG_DIR/pw"
  runuser -u postgres -- "$pg_bin/initdb" -D "$PG_DIR/data" -U postgres --auth=scram-sha-256 \
    --pwfile="$PG_DIR/pw" -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
  PGPASSWORD=postgres psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
    -c "CREATE ROLE app LOGIN PASSWORD '$PG_APP_PASSWORD'" -c "CREATE DATABASE app OWNER app" >/dev/null
}

stop_postgres() {
  if [[ -n ${PG_DIR:-} && -d $PG_DIR/data ]]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
}

# A random password for a test, never printed.
random_password() {
  head -c 18 /dev/urandom | base64 | tr -d '/+='
}
