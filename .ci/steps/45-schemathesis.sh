#!/usr/bin/env bash
# The OpenAPI document against the server it describes: schemathesis (PyPI), installed into a
# fresh venv, reads GET /api/v1/openapi.json from the real tryvoga binary on loopback (a fresh
# database, the first-run admin token as the bearer) and sends what the document allows and
# what it does not, bounded in examples and time. It fails on any 5xx, any status the
# document does not list for the operation, any body that contradicts the operation's schema,
# and any content type the document does not give. /api/v1/stream is left out: an SSE answer
# never ends, and a request would wait for its timeout.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "45-schemathesis: $*" >&2; exit 1; }
command -v python3 >/dev/null || fail "python3 is missing (Debian: python3, python3-venv)"
command -v curl >/dev/null || fail "curl is missing"

work=$(mktemp -d)
: >"$work/pids"
cleanup() {
  local pids; pids=$(cat "$work/pids" 2>/dev/null || true)
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check schemathesis \
  || fail "pip could not install schemathesis"
"$work/venv/bin/pip" show schemathesis | grep -E '^(Name|Version):'

cargo build --locked --quiet -p tryvoga
bin="${CARGO_TARGET_DIR:-target}/debug/tryvoga"
[ -x "$bin" ] || fail "no tryvoga binary at $bin"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
db="$work/tryvoga.db"
RUST_LOG=warn "$bin" serve --db "$db" --listen "127.0.0.1:$port" >"$work/serve.out" 2>"$work/serve.err" &
echo "$!" >>"$work/pids"
up=""
for _ in $(seq 1 100); do
  if curl -fsS "$base/healthz" >/dev/null 2>&1; then up=1; break; fi
  sleep 0.1
done
[ -n "$up" ] || { cat "$work/serve.out" "$work/serve.err" >&2; fail "the server on port $port did not come up"; }
# The first run prints the admin token on a line of its own, once.
token=$(sed -n 's/^admin token: //p' "$work/serve.out" | tr -d '\r\n ')
case "$token" in tv_*) ;; *) cat "$work/serve.out" >&2; fail "no first-run admin token on the server's stdout" ;; esac

curl -fsS "$base/api/v1/openapi.json" -o "$work/openapi.json" || fail "GET /api/v1/openapi.json failed"
python3 - "$work/openapi.json" <<'EOF' || fail "the document is not OpenAPI 3.1"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["openapi"].startswith("3.1."), doc["openapi"]
print(f"45-schemathesis: OpenAPI {doc['openapi']}, {len(doc['paths'])} paths")
EOF

# Bounded: a few dozen cases per operation in each phase, one worker (with two, hypothesis
# sometimes trips over itself describing a strategy: "AST constructor recursion depth
# mismatch", an error of the tool, not of the server), and a hard stop well
# inside the step's budget (each run takes well under a minute here). schemathesis feeds
# values from answers into later requests, so it found the admin token's name in
# GET /api/v1/tokens and revoked it with DELETE /api/v1/tokens/{name} (it did: everything
# after was a 401, tested no deeper). That operation runs last, on its own.
st_run() {
  local what=$1; shift
  set +e
  (cd "$work" && timeout 300 "$work/venv/bin/st" run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path /api/v1/stream \
    --max-examples 40 \
    --workers 1 \
    --request-timeout 10 \
    --generation-database none \
    --no-color "$@")
  local rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "--- server stderr" >&2; tail -n 50 "$work/serve.err" >&2
    [ "$rc" -eq 124 ] && fail "schemathesis ($what) did not finish within 300 s"
    fail "schemathesis ($what) found responses that contradict the document (exit $rc)"
  fi
}
st_run "every operation but revoke" --exclude-operation-id revoke_token
curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/whoami" >/dev/null \
  || fail "the admin token no longer works after the run"
st_run "revoke" --include-operation-id revoke_token
kill -0 "$(head -n1 "$work/pids")" 2>/dev/null || fail "the server died during the run"
echo "45-schemathesis: the server answers as its OpenAPI document says"
