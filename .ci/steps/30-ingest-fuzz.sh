#!/usr/bin/env bash
# The ingest readers under cargo-fuzz: each target (channel, summary, news) runs for a bounded
# time and the step fails on the first crash, naming the target and where its input was saved.
#
# Budget: installing cargo-fuzz takes ~3 min on a clean machine, building the three targets with
# the sanitizer ~3 min, then 3 x TRYVOGA_FUZZ_SECONDS (default 30). The readers' never-panic
# property tests run in `cargo test` as well; this step adds coverage-guided inputs.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs="${TRYVOGA_FUZZ_SECONDS:-30}"
case "$secs" in
  ''|*[!0-9]*) echo "30-ingest-fuzz: TRYVOGA_FUZZ_SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac

if ! bash crates/ingest/fuzz/run.sh "$secs"; then
  echo "30-ingest-fuzz: FAILED: a reader crashed; the input is in crates/ingest/fuzz/artifacts/<target>/ and the log in crates/ingest/fuzz/<target>.log" >&2
  exit 1
fi
echo "30-ingest-fuzz: channel, summary and news ran ${secs}s each without a crash"
