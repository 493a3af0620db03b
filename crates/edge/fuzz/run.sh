#!/usr/bin/env bash
# Runs the edge's fuzz target (the WebSocket frame reader) for a bounded time and fails loudly
# on a crash.
#
#   crates/edge/fuzz/run.sh [SECONDS]   (default 20)
#
# As crates/ingest/fuzz/run.sh: cargo-fuzz needs nightly-only compiler flags, which
# RUSTC_BOOTSTRAP=1 unlocks on the stable toolchain installed here.
set -euo pipefail

secs="${1:-20}"
here="$(cd "$(dirname "$0")" && pwd)"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../../../target/edge-fuzz}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$here"
target=websocket_frames
mkdir -p "corpus/$target"
# Seeds: a masked ping, a close, a data frame with a 16-bit length, split at byte 3.
printf '\003\211\205\001\002\003\004ignbk' > "corpus/$target/seed-ping"
printf '\000\210\202\001\001\001\001\002\351' > "corpus/$target/seed-close"
printf '\004\201\376\000\004\000\000\000\000abcd' > "corpus/$target/seed-long"
echo "== fuzz $target for ${secs}s" >&2
if ! cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$secs" -max_len=4096 -timeout=10 2>"$here/$target.log"; then
    echo "!! fuzz target $target FAILED; see $here/$target.log and $here/artifacts/$target/" >&2
    tail -40 "$here/$target.log" >&2
    exit 1
fi
grep -E '^Done [0-9]+ runs' "$here/$target.log" >&2 || true
