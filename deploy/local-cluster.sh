#!/usr/bin/env bash
# A whole Tryvoga deployment on this machine, for operators trying the scale-out and for tests:
# a PostgreSQL 15 primary with a synchronous streaming standby, nats-server with JetStream, two
# `tryvoga serve` nodes on the primary (both relaying to the stream) and three `tryvoga edge`
# processes sharing one port (SO_REUSEPORT). Everything lives under one directory and listens
# on loopback only.
#
#   deploy/local-cluster.sh up       start it all; prints the ports and the admin token
#   deploy/local-cluster.sh status   which parts are running
#   deploy/local-cluster.sh down     stop it all and remove the directory
#
# TRYVOGA_CLUSTER_DIR (default ./.local-cluster) is where data, logs and pid files go;
# TRYVOGA_BIN names the tryvoga binary (default: the newer of target/release and target/debug,
# then PATH);
# TRYVOGA_PG_BIN the directory of initdb and pg_ctl (default: Debian's newest under
# /usr/lib/postgresql). Ports are chosen free at `up` and written to $DIR/ports.
set -euo pipefail

DIR=${TRYVOGA_CLUSTER_DIR:-./.local-cluster}
EDGES=3

die() { echo "local-cluster: $*" >&2; exit 1; }

pg_bin() {
  if [ -n "${TRYVOGA_PG_BIN:-}" ]; then echo "$TRYVOGA_PG_BIN"; return; fi
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$bin/initdb" ] || die "PostgreSQL's initdb not found: apt-get install postgresql-15 (or set TRYVOGA_PG_BIN)"
  echo "$bin"
}

tryvoga_bin() {
  if [ -n "${TRYVOGA_BIN:-}" ]; then echo "$TRYVOGA_BIN"; return; fi
  local here
  here=$(cd "$(dirname "$0")/.." && pwd)
  # The newer of the two builds: an old release binary would lack what was built since.
  local newest
  newest=$(ls -t "$here/target/release/tryvoga" "$here/target/debug/tryvoga" 2>/dev/null | head -n 1 || true)
  [ -n "$newest" ] && { echo "$newest"; return; }
  command -v tryvoga || die "no tryvoga binary: cargo build --release (or set TRYVOGA_BIN)"
}

# PostgreSQL refuses to run as root: as root, its commands run as the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {
  local url=$1 i
  for i in $(seq 1 200); do
    curl -fsS "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$url did not answer; see the logs in $DIR"
}

# Starts a detached process, its output to $DIR/$name.log and its pid to $DIR/$name.pid.
spawn() {
  local name=$1; shift
  setsid "$@" >"$DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$DIR/$name.pid"
}

up() {
  [ -e "$DIR/ports" ] && die "already up in $DIR (run down first)"
  command -v nats-server >/dev/null || die "nats-server not found: apt-get install nats-server"
  command -v curl >/dev/null || die "curl not found"
  local pg bin
  pg=$(pg_bin); bin=$(tryvoga_bin)
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
  local primary standby nats serve1 serve2 edge
  primary=$(free_port); standby=$(free_port); nats=$(free_port)
  serve1=$(free_port); serve2=$(free_port); edge=$(free_port)

  echo "local-cluster: PostgreSQL primary on $primary"
  as_pg "$pg/initdb" -D "$DIR/primary" -U postgres --auth=trust -E UTF8 --no-instructions >"$DIR/initdb.log"
  cat >>"$DIR/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $primary
unix_socket_directories = '$DIR'
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
synchronous_standby_names = 'standby'
max_connections = 300
EOF
  echo "host replication postgres 127.0.0.1/32 trust" >>"$DIR/primary/pg_hba.conf"
  # Without its standby the primary would wait on every commit: it starts alone first, and
  # the synchronous setting holds from the moment the standby is there.
  as_pg "$pg/pg_ctl" -D "$DIR/primary" -l "$DIR/primary.log" -w start >/dev/null

  echo "local-cluster: synchronous standby on $standby"
  as_pg "$pg/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$DIR/standby" -R \
    -X stream -c fast
  sed -i "s/^port = $primary/port = $standby/" "$DIR/standby/postgresql.conf"
  # The name the primary's synchronous_standby_names waits for.
  echo "primary_conninfo = 'host=127.0.0.1 port=$primary user=postgres application_name=standby'" \
    >>"$DIR/standby/postgresql.auto.conf"
  as_pg "$pg/pg_ctl" -D "$DIR/standby" -l "$DIR/standby.log" -w start >/dev/null
  local i
  for i in $(seq 1 100); do
    state=$(as_pg "$pg/psql" -h 127.0.0.1 -p "$primary" -U postgres -Atc \
      "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'" 2>/dev/null || true)
    [ "$state" = sync ] && break
    sleep 0.1
  done
  [ "${state:-}" = sync ] || die "the standby did not become synchronous"
  as_pg "$pg/psql" -h 127.0.0.1 -p "$primary" -U postgres -qc "CREATE DATABASE tryvoga" >/dev/null

  echo "local-cluster: nats-server (JetStream) on $nats"
  spawn nats nats-server -js -a 127.0.0.1 -p "$nats" -sd "$DIR/jetstream"
  for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$nats) 2>/dev/null && break; sleep 0.1; done

  local db="postgres://postgres@127.0.0.1:$primary/tryvoga"
  echo "local-cluster: serve nodes on $serve1 and $serve2"
  # Both nodes sign with one key: every event of the record verifies against it.
  spawn serve1 "$bin" serve --db "$db" --listen "127.0.0.1:$serve1" \
    --signing-key "$DIR/tryvoga.ed25519" --nats "nats://127.0.0.1:$nats"
  wait_http "http://127.0.0.1:$serve1/healthz"
  spawn serve2 "$bin" serve --db "$db" --listen "127.0.0.1:$serve2" \
    --signing-key "$DIR/tryvoga.ed25519" --nats "nats://127.0.0.1:$nats"
  wait_http "http://127.0.0.1:$serve2/healthz"

  echo "local-cluster: $EDGES edges sharing $edge"
  for i in $(seq 1 $EDGES); do
    spawn "edge$i" "$bin" edge --nats "nats://127.0.0.1:$nats" --listen "127.0.0.1:$edge" --db "$db"
  done
  wait_http "http://127.0.0.1:$edge/healthz"

  cat >"$DIR/ports" <<EOF
POSTGRES_PRIMARY=$primary
POSTGRES_STANDBY=$standby
NATS=$nats
SERVE1=$serve1
SERVE2=$serve2
EDGE=$edge
DATABASE_URL=$db
EOF
  local token
  token=$(grep -m1 '^admin token: ' "$DIR/serve1.log" "$DIR/serve2.log" 2>/dev/null | sed 's/.*admin token: //' || true)
  [ -n "$token" ] && echo "ADMIN_TOKEN=$token" >>"$DIR/ports"
  echo
  cat "$DIR/ports"
  echo
  echo "commands to  http://127.0.0.1:$serve1 or http://127.0.0.1:$serve2"
  echo "streams from http://127.0.0.1:$edge/api/v1/stream (any edge)"
  echo "stop with    $0 down"
}

status() {
  [ -d "$DIR" ] || { echo "local-cluster: not up ($DIR does not exist)"; return 1; }
  local f name
  for f in "$DIR"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$name: running"; else echo "$name: stopped"; fi
  done
  local pg
  pg=$(pg_bin)
  for name in primary standby; do
    if [ -d "$DIR/$name" ] && as_pg "$pg/pg_ctl" -D "$DIR/$name" status >/dev/null 2>&1; then
      echo "postgres $name: running"
    else
      echo "postgres $name: stopped"
    fi
  done
}

down() {
  [ -d "$DIR" ] || { echo "local-cluster: nothing to stop in $DIR"; return 0; }
  local f pid pg name
  # Edges and nodes first, so that nothing writes while the database goes.
  for f in "$DIR"/edge*.pid "$DIR"/serve*.pid "$DIR"/nats.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  pg=$(pg_bin)
  for name in standby primary; do
    [ -d "$DIR/$name" ] && as_pg "$pg/pg_ctl" -D "$DIR/$name" -m fast -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$DIR"
  echo "local-cluster: down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
