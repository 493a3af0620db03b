#!/usr/bin/env bash
# The test of .ci/check-layout.py: builds a minimal synthetic cargo workspace laid out as
# DESIGN.md says (no build: `cargo metadata --no-deps --offline` only parses it), asserts the
# script passes on it, then breaks each rule in a fresh copy and asserts the script fails with the
# rule's tag and the file at fault -- and that what only tests do (#[cfg(test)]) is not reported.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
script="$here/../check-layout.py"

die() { echo "check-layout-test: FAILED: $*" >&2; exit 1; }
[ -f "$script" ] || die "the script $script is missing"
command -v python3 >/dev/null 2>&1 || die "python3 is missing (the script is python3, standard library only)"
command -v cargo >/dev/null 2>&1 || die "cargo is missing (the script reads cargo metadata)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------------------------------------
# The fixture: every room of the layout plus the two harnesses, deps that obey the rules.
base="$tmp/base"
mkdir -p "$base/crates"

cat > "$base/Cargo.toml" <<'EOF'
[workspace]
resolver = "2"
members = ["crates/core", "crates/bus", "crates/store", "crates/ingest", "crates/history",
           "crates/charts", "crates/edge", "crates/outputs", "crates/api", "crates/compat",
           "crates/cli", "crates/bench", "crates/compat-tests"]

[workspace.package]
version = "0.1.0"
edition = "2021"

[workspace.dependencies]
tryvoga-core = { path = "crates/core" }
tryvoga-bus = { path = "crates/bus" }
tryvoga-store = { path = "crates/store" }
tryvoga-ingest = { path = "crates/ingest" }
tryvoga-history = { path = "crates/history" }
tryvoga-charts = { path = "crates/charts" }
tryvoga-edge = { path = "crates/edge" }
tryvoga-outputs = { path = "crates/outputs" }
tryvoga-api = { path = "crates/api" }
tryvoga-compat = { path = "crates/compat" }
tryvoga = { path = "crates/cli" }
serde = "1"
serde_json = "1"
tokio = "1"
rusqlite = "0.37"
EOF

# crate DIR PACKAGE "DEPENDENCY LINES" ["DEV-DEPENDENCY LINES"]
crate() {
  local dir="$1" name="$2" deps="$3" dev="${4:-}"
  mkdir -p "$base/crates/$dir/src"
  {
    printf '[package]\nname = "%s"\nversion.workspace = true\nedition.workspace = true\n\n' "$name"
    printf '[dependencies]\n%b\n' "$deps"
    [ -z "$dev" ] || printf '\n[dev-dependencies]\n%b\n' "$dev"
  } > "$base/crates/$dir/Cargo.toml"
  printf '//! %s\n' "$name" > "$base/crates/$dir/src/lib.rs"
}
ws() { local out="" d; for d in "$@"; do out+="$d.workspace = true\n"; done; printf '%s' "$out"; }

crate core    tryvoga-core    "$(ws serde serde_json)" "$(ws tokio)"
crate bus     tryvoga-bus     "$(ws tryvoga-core tokio)"
crate store   tryvoga-store   "$(ws tryvoga-core tryvoga-bus rusqlite serde_json)" "$(ws rusqlite)"
crate ingest  tryvoga-ingest  "$(ws tryvoga-core serde)"
crate charts  tryvoga-charts  ""
crate history tryvoga-history "$(ws tryvoga-core tryvoga-store tryvoga-charts)"
crate edge    tryvoga-edge    "$(ws tryvoga-core tryvoga-bus tokio)"
crate outputs tryvoga-outputs "$(ws tryvoga-core tryvoga-bus tryvoga-store tokio)"
# A room's tests may start the real server: a dev-dependency may point up.
crate api     tryvoga-api     "$(ws tryvoga-core tryvoga-store tryvoga-edge tryvoga-history tryvoga-charts tryvoga-ingest tokio)" "$(ws tryvoga)"
crate compat  tryvoga-compat  "$(ws tryvoga-core tryvoga-store tryvoga-edge tryvoga-outputs)"
crate cli     tryvoga         "$(ws tryvoga-core tryvoga-bus tryvoga-store tryvoga-ingest tryvoga-history tryvoga-charts tryvoga-edge tryvoga-outputs tryvoga-api tryvoga-compat tokio)"
printf '\n[build-dependencies]\ntryvoga-core.workspace = true\n' >> "$base/crates/cli/Cargo.toml"
# Harnesses may depend on anything and name anything.
crate bench   tryvoga-bench   "$(ws tryvoga tryvoga-store rusqlite tokio)"
crate compat-tests tryvoga-compat-tests "" "$(ws tryvoga tryvoga-api rusqlite)"
echo 'use rusqlite::Connection; const Q: &str = "SELECT seq FROM events";' >> "$base/crates/bench/src/lib.rs"

# Things that look like violations and are not.
cat >> "$base/crates/store/src/lib.rs" <<'EOF'
use rusqlite::{params, Connection};
pub fn last(c: &Connection) -> i64 { c.query_row("SELECT max(seq) FROM events", params![], |r| r.get(0)).unwrap() }
EOF
cat >> "$base/crates/api/src/lib.rs" <<'EOF'
// Reads go through the store's traits; rusqlite and "SELECT ... FROM" stay in crates/store.
/* A block comment naming sqlx::query and tokio_postgres. */
pub const HELP: &str = "select a region from the list: https://example.org//x";
pub const LIFETIME: char = '"'; pub fn f<'a>(s: &'a str) -> &'a str { s }
EOF
cat >> "$base/crates/core/src/lib.rs" <<'EOF'
//! No I/O: not std::fs, not Utc::now(), no async fn (this doc comment does not count).
use std::str::FromStr;
pub struct Region;
impl FromStr for Region { type Err = (); fn from_str(_: &str) -> Result<Self, ()> { Ok(Region) } }
pub fn at(now: i64) -> i64 { now }
pub const NOTE: &str = "Utc::now is for the rooms above; serde_json::Value too";
EOF
cat >> "$base/crates/ingest/src/lib.rs" <<'EOF'
use std::str::FromStr;
pub struct Message;
impl FromStr for Message { type Err = (); fn from_str(_: &str) -> Result<Self, ()> { Ok(Message) } }
pub fn read() { struct Region; let _ = Region; }
EOF

# ---------------------------------------------------------------------------------------------
# Running the script on a copy

n=0
fresh() { n=$((n + 1)); case_dir="$tmp/case-$n"; cp -r "$base" "$case_dir"; }
run() {
  set +e
  out="$(python3 "$script" "$case_dir" 2>&1)"
  rc=$?
  set -e
}
show() { printf '%s\n' "$out" | sed 's/^/    | /' >&2; }

# expect_pass NAME: the script exits 0 with its one line.
expect_pass() {
  local name="$1"
  run
  if [ "$rc" -ne 0 ] || ! printf '%s\n' "$out" | grep -qx 'layout rules hold (11 crates checked)'; then
    echo "FAIL $name: expected the rules to hold (exit 0), got exit $rc:" >&2; show; exit 1
  fi
  echo "ok   $name: passes"
}

# expect_fail NAME "RULE FILE" ...: the script exits 1 and prints a line starting with each
# "RULE FILE" (e.g. "R3 crates/api/src/lib.rs:"), and nothing crashed.
expect_fail() {
  local name="$1"; shift
  run
  if [ "$rc" -ne 1 ] || printf '%s\n' "$out" | grep -q 'Traceback'; then
    echo "FAIL $name: expected exit 1 (a broken rule), got exit $rc:" >&2; show; exit 1
  fi
  local want
  for want in "$@"; do
    if ! printf '%s\n' "$out" | grep -qF -- "$want"; then
      echo "FAIL $name: expected a line '$want...', got:" >&2; show; exit 1
    fi
  done
  echo "ok   $name: fails with $(printf '%s\n' "$out" | grep -cv '^layout rules broken') line(s): $(printf '%s\n' "$out" | head -n1)"
}

# dep DIR SECTION LINE: insert LINE at the top of [SECTION] (appending the section if missing).
dep() {
  local f="$case_dir/crates/$1/Cargo.toml" section="$2" line="$3"
  if grep -qx "\[$section\]" "$f"; then
    python3 - "$f" "$section" "$line" <<'EOF'
import sys
f, section, line = sys.argv[1:]
text = open(f).read().replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
open(f, "w").write(text)
EOF
  else
    printf '\n[%s]\n%s\n' "$section" "$line" >> "$f"
  fi
}
src() { mkdir -p "$(dirname "$case_dir/crates/$1")"; printf '%s\n' "$2" >> "$case_dir/crates/$1"; }

# ---------------------------------------------------------------------------------------------
# The cases

fresh; expect_pass "the fixture (rules kept; comments, lowercase text, associated types, harnesses)"

fresh; dep api dependencies 'rusqlite.workspace = true'
expect_fail "R1 rusqlite in api's dependencies" "R1 crates/api/Cargo.toml:"

fresh; dep edge dev-dependencies 'tokio-postgres = "0.7"'
expect_fail "R1 tokio-postgres as a dev-dependency of edge" "R1 crates/edge/Cargo.toml:"

fresh; src outputs/src/lib.rs 'use rusqlite::Connection;'
expect_fail "R1+R3 use rusqlite::Connection in outputs" \
  "R1 crates/outputs/src/lib.rs:2:" "R3 crates/outputs/src/lib.rs:2:"

fresh; src history/src/figures.rs 'pub fn f(c: &sqlx::PgPool) {}'
expect_fail "R1 sqlx named in history's source" "R1 crates/history/src/figures.rs:1:"

fresh; dep core dependencies 'tokio.workspace = true'
expect_fail "R2 tokio in core's dependencies" "R2 crates/core/Cargo.toml:"

fresh; dep core dependencies 'futures-util = "0.3"'
expect_fail "R2 futures-util (a futures-* crate) in core's dependencies" "R2 crates/core/Cargo.toml:"

fresh; src core/src/lib.rs 'pub fn load() -> Vec<u8> { std::fs::read("x").unwrap() }
pub fn now() -> i64 { chrono::Utc::now().timestamp() }'
expect_fail "R2 std::fs::read and Utc::now() in core" \
  "R2 crates/core/src/lib.rs:8: core uses std::fs" "R2 crates/core/src/lib.rs:9: core uses Utc::now"

fresh; src core/src/state.rs 'use std::{collections::HashMap, thread};
pub async fn step() { other().await }'
expect_fail "R2 std::thread in a use group, async fn and .await in core" \
  "R2 crates/core/src/state.rs:1: core imports std's thread" \
  "R2 crates/core/src/state.rs:2: core uses async code" "R2 crates/core/src/state.rs:2: core uses .await"

fresh; src core/src/lib.rs '#[cfg(test)]
mod tests {
    #[test]
    fn clock() { let _ = chrono::Utc::now(); let _ = std::fs::read("fixture"); }
}'
expect_pass "a #[cfg(test)] mod tests in core using Utc::now() and std::fs is not reported"

fresh; src core/src/lib.rs '#[cfg(test)]
mod tests;
#[cfg(test)]
fn helper() -> std::time::Instant { std::time::Instant::now() }'
src core/src/tests.rs 'use std::fs; #[test] fn t() { let _ = fs::read("x"); let _ = chrono::Utc::now(); }'
expect_pass "a #[cfg(test)] mod tests; file and a #[cfg(test)] fn in core are not reported"

fresh; src core/src/lib.rs '#[cfg(test)]
mod tests {}
pub fn after_the_tests() -> i64 { chrono::Utc::now().timestamp() }'
expect_fail "R2 Utc::now() after a #[cfg(test)] block is still reported" "R2 crates/core/src/lib.rs:10:"

fresh; src compat/src/lib.rs 'pub const Q: &str = "SELECT seq FROM events";'
expect_fail "R3 an SQL statement in compat" \
  'R3 crates/compat/src/lib.rs:2: SQL statement in a room that must not name SQL: "SELECT seq FROM events"'

fresh; src edge/tests/replay.rs 'const Q: &str = r#"
    INSERT INTO events (seq) VALUES (?1)"#;'
expect_fail "R3 an SQL statement in a raw string in edge's tests" "R3 crates/edge/tests/replay.rs:2:"

fresh; src api/src/reads.rs 'pub fn n(c: &Store) -> i64 { c.query_row(Q, params![1], |r| r.get(0)) }'
expect_fail "R3 query_row and params! in api" \
  "R3 crates/api/src/reads.rs:1: \`query_row\`" "R3 crates/api/src/reads.rs:1: \`params!\`"

fresh; src core/src/event.rs 'pub enum EventBody { X { v: serde_json::Value } }'
expect_fail "R4 serde_json::Value in core's EventBody" "R4 crates/core/src/event.rs:1:"

fresh; src core/src/command.rs 'use serde_json::{json, Value};
pub enum Command { Raw(Value) }'
expect_fail "R4 Value imported from serde_json in core" "R4 crates/core/src/command.rs:1:"

fresh; src core/src/lib.rs 'pub type Extra = serde_json::Map<String, String>;'
expect_fail "R4 serde_json::Map in core" "R4 crates/core/src/lib.rs:"

fresh; src core/src/alert.rs 'pub enum AlertType {}'; src ingest/src/model.rs 'pub enum AlertType {}'
expect_fail "R5 AlertType declared in core and in ingest" \
  "R5 crates/ingest/src/model.rs:1: ingest declares \`AlertType\`, which core declares too (crates/core/src/alert.rs:1)"

fresh; src ingest/src/lib.rs 'pub mod places { pub trait Region {} }'
expect_fail "R5 a trait in an inline module of ingest named like a core type" "R5 crates/ingest/src/lib.rs:"

fresh; dep edge dependencies 'tryvoga-store.workspace = true'
expect_fail "R6 edge depends on store (edge: core and bus only)" "R6 crates/edge/Cargo.toml: tryvoga-edge depends on tryvoga-store"

fresh; dep store dependencies 'tryvoga-api.workspace = true'
expect_fail "R6 store depends on api (reaching up)" "R6 crates/store/Cargo.toml: tryvoga-store depends on tryvoga-api"

fresh; dep api dependencies 'tryvoga-compat.workspace = true'
expect_fail "R6 api depends on compat (same level)" "R6 crates/api/Cargo.toml: tryvoga-api depends on tryvoga-compat"

fresh; dep ingest dependencies 'tryvoga-charts.workspace = true'
expect_fail "R6 ingest depends on charts (same level; only history may)" "R6 crates/ingest/Cargo.toml: tryvoga-ingest depends on tryvoga-charts"

fresh; dep core build-dependencies 'tryvoga-bus = { path = "../bus" }'
expect_fail "R6 core build-depends on bus (by path, not workspace)" "R6 crates/core/Cargo.toml: tryvoga-core depends on tryvoga-bus"

fresh; dep outputs dependencies 'store = { package = "tryvoga-api", path = "../api" }'
expect_fail "R6 outputs depends on api under another name" "R6 crates/outputs/Cargo.toml: tryvoga-outputs depends on tryvoga-api (as store)"

fresh; mkdir -p "$case_dir/crates/extra/src"; touch "$case_dir/crates/extra/src/lib.rs"
printf '[package]\nname = "tryvoga-extra"\nversion = "0.1.0"\nedition = "2021"\n' > "$case_dir/crates/extra/Cargo.toml"
printf '[dependencies]\nrusqlite.workspace = true\n' >> "$case_dir/crates/extra/Cargo.toml"
sed -i 's|members = \["crates/core",|members = ["crates/extra", "crates/core",|' "$case_dir/Cargo.toml"
expect_fail "LAYOUT an unknown crate crates/extra (its SQL dependency still reported)" \
  "LAYOUT crates/extra/Cargo.toml: crates/extra is not in the layout" \
  "R1 crates/extra/Cargo.toml: tryvoga-extra depends on rusqlite"

fresh; mkdir -p "$case_dir/crates/extra/src"; echo 'use rusqlite::Connection;' > "$case_dir/crates/extra/src/lib.rs"
printf '[package]\nname = "tryvoga-extra"\nversion = "0.1.0"\nedition = "2021"\n' > "$case_dir/crates/extra/Cargo.toml"
expect_fail "LAYOUT an unknown crate crates/extra outside the workspace's members" \
  "LAYOUT crates/extra/Cargo.toml: crates/extra is not in the layout" "R1 crates/extra/src/lib.rs:1:"

fresh; mkdir -p "$case_dir/tools/gen/src"; touch "$case_dir/tools/gen/src/lib.rs"
printf '[package]\nname = "tryvoga-gen"\nversion = "0.1.0"\nedition = "2021"\n' > "$case_dir/tools/gen/Cargo.toml"
sed -i 's|members = \["crates/core",|members = ["tools/gen", "crates/core",|' "$case_dir/Cargo.toml"
expect_fail "LAYOUT a workspace member outside crates/" "LAYOUT tools/gen/Cargo.toml: workspace member tryvoga-gen is not a crate directly under crates/"

fresh; sed -i 's|^name = "tryvoga-edge"|name = "tryvoga-fanout"|' "$case_dir/crates/edge/Cargo.toml"
sed -i 's|^tryvoga-edge = |tryvoga-fanout = |; s|tryvoga-edge.workspace|tryvoga-fanout.workspace|' \
  "$case_dir/Cargo.toml" "$case_dir"/crates/*/Cargo.toml
expect_fail "LAYOUT crates/edge's package is not tryvoga-edge" "LAYOUT crates/edge/Cargo.toml: the package in crates/edge is \`tryvoga-fanout\`"

echo "check-layout-test: all $n cases passed"
