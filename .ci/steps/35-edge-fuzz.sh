#!/usr/bin/env bash
# The edge's WebSocket frame reader under cargo-fuzz for a bounded time (TRYVOGA_FUZZ_SECONDS,
# default 30); the step fails on the first crash, naming where the input was saved. The frame
# reader's unit tests run in `cargo test` as well; this step adds coverage-guided inputs.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs="${TRYVOGA_FUZZ_SECONDS:-30}"
case "$secs" in
  ''|*[!0-9]*) echo "35-edge-fuzz: TRYVOGA_FUZZ_SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac

if ! bash crates/edge/fuzz/run.sh "$secs"; then
  echo "35-edge-fuzz: FAILED: the frame reader crashed; the input is in crates/edge/fuzz/artifacts/websocket_frames/ and the log in crates/edge/fuzz/websocket_frames.log" >&2
  exit 1
fi
echo "35-edge-fuzz: websocket_frames ran ${secs}s without a crash"
