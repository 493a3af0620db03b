#!/usr/bin/env bash
# The operators' one-command cluster (deploy/local-cluster.sh): up, an alert raised on one node
# seen on an edge and committed on the synchronous standby too, status, down. Stops the cluster
# on failure as on success.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "80-local-cluster: $*" >&2; exit 1; }
cargo build --locked --quiet -p tryvoga
export TRYVOGA_BIN="${CARGO_TARGET_DIR:-target}/debug/tryvoga"
work=$(mktemp -d)
# PostgreSQL runs as its own user, which must reach the cluster's directory.
chmod 755 "$work"
export TRYVOGA_CLUSTER_DIR="$work/cluster"
trap 'bash deploy/local-cluster.sh down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

bash deploy/local-cluster.sh up
# shellcheck disable=SC1091
. "$TRYVOGA_CLUSTER_DIR/ports"
[ -n "${ADMIN_TOKEN:-}" ] || fail "no admin token printed"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'content-type: application/json' -d '{"region":14,"type":"air_raid"}' \
  "http://127.0.0.1:$SERVE2/api/v1/alerts")
[ "$code" = 201 ] || fail "raising an alert on node 2 answered $code"
seen=
for _ in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:$EDGE/api/v1/alerts/active" | grep -q '"id":14'; then seen=1; break; fi
  sleep 0.1
done
[ -n "$seen" ] || fail "the alert did not reach the edges within 5 s"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
on_standby=$(as_pg "$pg_bin/psql" -h 127.0.0.1 -p "$POSTGRES_STANDBY" -U postgres -d tryvoga -Atc "SELECT count(*) FROM events")
[ "$on_standby" = 1 ] || fail "the standby holds $on_standby events, not 1"
status=$(bash deploy/local-cluster.sh status)
grep -q "edge3: running" <<<"$status" || fail "an edge is not running: $status"
bash deploy/local-cluster.sh down
[ ! -e "$TRYVOGA_CLUSTER_DIR" ] || fail "down left $TRYVOGA_CLUSTER_DIR behind"
echo "80-local-cluster: up, an alert from node 2 on the edges and the standby, down"
