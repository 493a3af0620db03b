#!/usr/bin/env bash
# A bounded smoke of the benchmark harness (crates/bench), so that it does not rot: release
# binaries, then the fan-out benchmark with 500 subscribers on tryvoga (SSE and WebSocket) and
# nats-server (two rounds each), 3 s of durable commands beside the disk's fsync rate, and 3 s
# of wrk per endpoint on tryvoga and on nginx serving the same bytes; then (issue 14) 300 and 900
# subscribers over six edges, and 2 s of wrk per endpoint on an edge's front door, an edge through
# hyper and nginx. Figures are not judged here, only
# that every run completes (every subscriber connected and got every event, no command
# refused, no HTTP error). The full-size runs and their results are in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "70-bench-smoke: $*" >&2; exit 1; }
for pair in nats-server:nats-server nginx:nginx wrk:wrk; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] ||
    fail "$cmd is missing (Debian: apt-get install $pkg)"
done

cargo build --release --locked -p tryvoga -p tryvoga-bench
bench="${CARGO_TARGET_DIR:-target}/release/tryvoga-bench"

timeout 300 "$bench" fanout --subscribers 500 --targets tryvoga-sse,tryvoga-ws,nats --events 3 --rounds 2 ||
  fail "fanout smoke failed"
# Sustained publishing: every marked event must reach every subscriber at the asked rate.
sustained=$(timeout 300 "$bench" sustained --target tryvoga-sse --subscribers 500 --rate 50 --seconds 6) ||
  fail "sustained smoke failed"
echo "$sustained" | tail -4
echo "$sustained" | grep -q "missing deliveries 0;" || fail "sustained smoke: deliveries missing"
echo "$sustained" | grep -q "rate held: true" || fail "sustained smoke: the rate did not hold"
timeout 120 "$bench" commands --seconds 3 --fsync-seconds 1 || fail "commands smoke failed"
timeout 180 "$bench" http --duration 3 || fail "http smoke failed"
# Issue 14: subscribers over six edges following the stream (every one must get every event,
# its sequences contiguous), and the edges' hot reads from the front door beside nginx.
timeout 180 "$bench" edges --subscribers 300,900 --edges 6 --events 3 --interval-ms 500 \
  --per-process 300 --timeout-secs 150 || fail "edges smoke failed"
timeout 240 "$bench" http --edge --duration 2 || fail "http --edge smoke failed"
echo "70-bench-smoke: ok"
