#!/usr/bin/env bash
# The pages in a real browser: Debian's chromium, headless, driven by playwright-core (npm,
# pinned in tests/browser/package-lock.json) under node's test runner, against the real
# `tryvoga serve` on loopback with a fresh database. Screenshots of every page and the
# measured sizes and timings go to target/screenshots/ (kept as artifacts of the run).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "50-browser: $*" >&2; exit 1; }

if ! command -v chromium >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "50-browser: installing chromium, nodejs, npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium nodejs npm >/dev/null
fi
chromium_bin=$(command -v chromium) || fail "chromium is missing (Debian: apt-get install chromium)"
command -v node >/dev/null || fail "node is missing (Debian: apt-get install nodejs)"
command -v npm >/dev/null || fail "npm is missing (Debian: apt-get install npm)"
command -v curl >/dev/null || fail "curl is missing"
command -v python3 >/dev/null || fail "python3 is missing"
"$chromium_bin" --version

(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed in tests/browser"

cargo build --locked --quiet -p tryvoga
bin="${CARGO_TARGET_DIR:-target}/debug/tryvoga"
[ -x "$bin" ] || fail "no tryvoga binary at $bin"

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

db="$work/browser.db"
export TRYVOGA_ADMIN TRYVOGA_ISSUER TRYVOGA_URL SCREENSHOTS CHROMIUM="$chromium_bin"
TRYVOGA_ADMIN=$("$bin" token create --name browser-admin --role admin --db "$db")
TRYVOGA_ISSUER=$("$bin" token create --name browser-issuer --role issuer --regions "14,22" --db "$db")
[ -n "$TRYVOGA_ADMIN" ] && [ -n "$TRYVOGA_ISSUER" ] || fail "could not create tokens"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --db "$db" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
TRYVOGA_URL="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS "$TRYVOGA_URL/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$TRYVOGA_URL/healthz" >/dev/null || { cat "$work/serve.log" >&2; fail "the server did not come up"; }

SCREENSHOTS="$(pwd)/target/screenshots"
rm -rf "$SCREENSHOTS"
mkdir -p "$SCREENSHOTS"

status=0
(cd tests/browser && node --test --test-concurrency=1 --test-reporter=spec pages.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log" >&2
  tail -n 50 "$work/serve.log" >&2
  fail "browser tests failed"
fi
ls -l "$SCREENSHOTS"
for shot in map-live console console-confirm console-exercise history region; do
  [ -s "$SCREENSHOTS/$shot.png" ] || fail "screenshot $shot.png is missing"
done
echo "50-browser: all browser tests passed"
