#!/usr/bin/env bash
# Runs every fuzz target of the ingest readers for a bounded time and fails loudly on a crash.
#
#   crates/ingest/fuzz/run.sh [SECONDS_PER_TARGET]   (default 20)
#
# Only the stable toolchain is installed here; cargo-fuzz needs nightly-only compiler flags
# (-Zsanitizer=address, -Cpasses=sancov-module), which RUSTC_BOOTSTRAP=1 unlocks on stable.
set -euo pipefail

secs="${1:-20}"
here="$(cd "$(dirname "$0")" && pwd)"
shared="$here/../../../../shared"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../../../target/ingest-fuzz}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$here"
mkdir -p corpus/channel corpus/summary corpus/news

# Seeds written for this project, plus the shared test material when it is there (the corpus
# directories are not committed).
printf '🔴 18:10 Повітряна тривога в Вінницька область\nПройдіть в укриття.\n#Вінницька_область\n' > corpus/channel/seed-alert
printf '🟡 19:02 Відбій тривоги в Прилуцький район\nЗверніть увагу, тривога ще триває у:\n\n- Чернігівська область\n#Прилуцький_район\n' > corpus/channel/seed-partial
printf '🔴 06:52 Загроза артобстрілу!\nЗараз у Сумська область артилерійський обстріл.\n#Сумська_область\n' > corpus/channel/seed-artillery
printf 'ЗБИТО/ПОДАВЛЕНО 12 ЦІЛЕЙ\nУ ніч на 3 травня (з 18:00 2 травня) противник атакував двома балістичними ракетами Іскандер-М та 10 ударними БпЛА типу Shahed із напрямків: Курськ, Орел – рф.\nЗа попередніми даними, станом на 08:30, збито/подавлено 2 балістичні ракети та 9 БпЛА.\nЗафіксовано влучання 1 ударного БпЛА на 1 локації.\n' > corpus/summary/seed-night
printf 'Russia launched 40 drones and three cruise missiles overnight. Air defences shot down 30 drones, while 8 were lost. Kharkiv and the Odesa region were targeted.\nJane Doe12 May 2025 08:16\n' > corpus/news/seed-blog
if [ -d "$shared" ]; then
    cp -f "$shared/data/messages/air_alert_ua_sample_2026-08-08.jsonl" corpus/channel/shared-2026 2>/dev/null || true
    cp -f "$shared/data/messages/kpszsu_summaries_sample_2026.jsonl" corpus/summary/shared-summaries 2>/dev/null || true
    for f in "$shared"/corpus/news/*.txt; do
        [ -e "$f" ] && cp -f "$f" "corpus/news/shared-$(basename "$f")"
    done
fi

status=0
for target in channel summary news; do
    # News inputs are read sentence by sentence with many passes; shorter inputs keep the
    # executions per second useful.
    case "$target" in news) max_len=2048 ;; *) max_len=8192 ;; esac
    echo "== fuzz $target for ${secs}s" >&2
    if ! cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$secs" -max_len="$max_len" -timeout=10 2>"$here/$target.log"; then
        echo "!! fuzz target $target FAILED; see $here/$target.log and $here/artifacts/$target/" >&2
        tail -40 "$here/$target.log" >&2
        status=1
    else
        grep -E '^Done [0-9]+ runs' "$here/$target.log" >&2 || true
    fi
done
exit $status
