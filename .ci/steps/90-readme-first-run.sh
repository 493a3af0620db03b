#!/usr/bin/env bash
# The README's first command, exactly as a new user runs it: a fresh clone of HEAD (so a file
# that was never committed, or a command that only works from a developer's tree, fails here),
# the first ```sh block of the README run verbatim in it, and success means the server answers
# /healthz and printed a first-run admin token. The clone builds into a target directory of its
# own under the main one, so the developer's binaries are left as they were.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

fail() { echo "90-readme-first-run: $*" >&2; exit 1; }
command -v curl >/dev/null || fail "curl is missing (Debian: apt-get install curl)"
command -v git >/dev/null || fail "git is missing (Debian: apt-get install git)"

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    # The block runs under its own process group: cargo and the server it started go together.
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

git clone --quiet --no-hardlinks "$root" "$work/tryvoga"
# The first fenced sh block of the README, as printed.
block=$(awk '/^```sh$/ {inside=1; next} inside && /^```$/ {exit} inside {print}' "$work/tryvoga/README.md")
[ -n "$block" ] || fail "README.md has no \`\`\`sh block"
echo "90-readme-first-run: running the README's first block in a fresh clone:"
echo "$block" | sed 's/^/    /'

# What the block serves on, as the README says; someone else on that port would answer for it.
port=8080
if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then
  fail "something already answers on 127.0.0.1:$port; stop it first"
fi

export CARGO_TARGET_DIR="$root/${CARGO_TARGET_DIR:-target}/readme-clone"
(cd "$work/tryvoga" && exec setsid bash -c "$block") >"$work/out.log" 2>&1 &
server_pid=$!

# A release build from scratch takes minutes on two cores.
deadline=$((SECONDS + 1500))
until grep -q '^admin token: tv_' "$work/out.log" 2>/dev/null &&
      curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    tail -30 "$work/out.log" >&2
    fail "the README's first block stopped before serving"
  fi
  if [ $SECONDS -ge $deadline ]; then
    tail -30 "$work/out.log" >&2
    fail "no admin token and /healthz within the time allowed"
  fi
  sleep 2
done
page=$(curl -sf "http://127.0.0.1:$port/") || fail "the map page is not served at /"
case "$page" in *"<html"*) ;; *) fail "/ does not answer with the map page" ;; esac
grep '^serving on ' "$work/out.log" || true
echo "90-readme-first-run: ok (admin token printed, /healthz and the map answered)"
