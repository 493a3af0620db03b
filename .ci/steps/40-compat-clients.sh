#!/usr/bin/env bash
# Compatibility proof: the unmodified PyPI packages alerts_in_ua (sync and async clients) and
# uasiren, installed into a fresh venv, run against the real tryvoga binary on loopback with
# only their base URL changed (tests/compat/). Two servers: a main one (alerts.in.ua needs a
# token; ukrainealarm is public, as uasiren sends no key) and a strict one (both need tokens,
# five requests a minute) for the 401/403/429 answers.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "40-compat-clients: $*" >&2; exit 1; }
command -v python3 >/dev/null || fail "python3 is missing (Debian: python3, python3-venv)"
command -v curl >/dev/null || fail "curl is missing"

work=$(mktemp -d)
# `start` runs inside $(…), a subshell, so the servers' pids go to a file, not to a variable
# the subshell would forget.
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
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
  alerts_in_ua uasiren pytest cryptography requests aiohttp \
  || fail "pip could not install the client packages"
"$work/venv/bin/pip" show alerts_in_ua uasiren | grep -E '^(Name|Version):'

cargo build --locked --quiet -p tryvoga
bin="${CARGO_TARGET_DIR:-target}/debug/tryvoga"
[ -x "$bin" ] || fail "no tryvoga binary at $bin"
export TRYVOGA_BIN
TRYVOGA_BIN=$(cd "$(dirname "$bin")" && pwd)/tryvoga

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts `tryvoga serve` on a free port with the database $1 and the extra options after it;
# prints the base URL once /healthz answers.
start() {
  local db=$1; shift
  local port; port=$(free_port)
  "$bin" serve --db "$db" --listen "127.0.0.1:$port" "$@" >"$db.log" 2>&1 &
  echo "$!" >>"$work/pids"
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      echo "http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  cat "$db.log" >&2
  fail "the server on port $port did not come up"
}

main_db="$work/main.db"
export TRYVOGA_ADMIN_TOKEN TRYVOGA_READER_TOKEN TRYVOGA_URL
TRYVOGA_ADMIN_TOKEN=$("$bin" token create --name ci-admin --role admin --db "$main_db")
TRYVOGA_READER_TOKEN=$("$bin" token create --name ci-reader --role reader --db "$main_db")
# The webhook receivers of tests/compat listen on loopback, refused unless allowed.
TRYVOGA_URL=$(start "$main_db" --compat-public ukrainealarm --webhook-allow 127.0.0.0/8)

strict_db="$work/strict.db"
export TRYVOGA_STRICT_URL TRYVOGA_STRICT_READER TRYVOGA_STRICT_LIMITED TRYVOGA_STRICT_REVOKED TRYVOGA_STRICT_LIMIT=5
TRYVOGA_STRICT_READER=$("$bin" token create --name reader --role reader --db "$strict_db")
TRYVOGA_STRICT_LIMITED=$("$bin" token create --name limited --role reader --db "$strict_db")
TRYVOGA_STRICT_REVOKED=$("$bin" token create --name revoked --role reader --db "$strict_db")
"$bin" token revoke revoked --db "$strict_db" >/dev/null
TRYVOGA_STRICT_URL=$(start "$strict_db" --compat-rate-limit "$TRYVOGA_STRICT_LIMIT")

set +e
(cd tests/compat && "$work/venv/bin/python" -m pytest -q -p no:cacheprovider .)
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  fail "pytest collected no tests"
elif [ "$rc" -ne 0 ]; then
  echo "--- main server log" >&2; tail -n 50 "$main_db.log" >&2
  echo "--- strict server log" >&2; tail -n 50 "$strict_db.log" >&2
  fail "the compatibility tests failed (pytest exit $rc)"
fi
echo "40-compat-clients: the alerts_in_ua and uasiren clients agree with the server"
