#!/usr/bin/env python3
"""Build Tryvoga's embedded region registry from the shared source data.

Usage (from the repository root):

    python3 data/build_registry.py [--shared ../shared/data]

Writes data/regions.json and data/oblasts.geojson next to this script, then runs
self-checks and exits non-zero if any of them fails. Standard library only; the
output is deterministic (same input -> byte-identical files).

See data/SOURCES.md for provenance, licences and the gap-filling decisions that
are encoded in the tables below.
"""

import argparse
import collections
import csv
import json
import os
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
GENERATED_BY = "data/build_registry.py"

# Synthetic ids for units that have no official air-alert id. The official id
# space is < 10000 (hromadas reach ~1,800; ukrainealarm uses 9999 for Crimea),
# so 90001..90999 is reserved for us. Assigned in KATOTTG code order.
SYNTHETIC_ID_BASE = 90001
SYNTHETIC_ID_MAX = 90999

# Order of the 27 top-level units in alerts.in.ua's IoT status string
# (/v1/iot/active_air_raid_alerts_by_oblast.json): the LOCATIONS list of
# AirRaidAlertOblastStatuses in the official client, github.com/alerts-ua/alerts-in-ua-py
# (MIT), file alerts_in_ua/air_raid_alert_oblast_statuses.py (seen at commit
# adbd390c8615ffb6bdf76ece1d65b5b28355105e, build/lib copy). This list is not in
# /work/shared/data; see data/SOURCES.md.
IOT_OBLAST_ORDER_UK = [
    "Автономна Республіка Крим",
    "Волинська область",
    "Вінницька область",
    "Дніпропетровська область",
    "Донецька область",
    "Житомирська область",
    "Закарпатська область",
    "Запорізька область",
    "Івано-Франківська область",
    "м. Київ",
    "Київська область",
    "Кіровоградська область",
    "Луганська область",
    "Львівська область",
    "Миколаївська область",
    "Одеська область",
    "Полтавська область",
    "Рівненська область",
    "м. Севастополь",
    "Сумська область",
    "Тернопільська область",
    "Харківська область",
    "Херсонська область",
    "Хмельницька область",
    "Черкаська область",
    "Чернівецька область",
    "Чернігівська область",
]

# Hand review of the 25 crosswalk rows with katottg_match == "fuzzy_unverified".
# Key: hromada id -> (KATOTTG code expected in the crosswalk, keep?, reason).
# Method: the KATOTTG hromada sits in the same raion as the states.json parent,
# its first-listed settlement (the administrative centre) carries the stem of the
# states.json name, and no other states.json hromada claims the code.
# If the crosswalk ever proposes a different code the build fails, so the
# decision has to be reviewed again.
FUZZY_KATOTTG = {
    255: ("UA07020010000096841", True, "Volodymyr-Volynskyi -> Volodymyr (city renamed 2021); centre Володимир"),
    292: ("UA12120130000021632", True, "apostrophe spelling Юр’ївська / Юріївська; centre Юріївка"),
    305: ("UA12140010000024967", True, "Брагинівка renamed Богинівка; centre Богинівка"),
    399: ("UA14140030000092230", True, "spelling Мангушська / Мангуська; centre Мангуш"),
    407: ("UA14080090000014360", True, "Харцизьк міська = Харцизька; centre Харцизьк"),
    417: ("UA14060070000066382", True, "Єнакієвська / Єнакіївська spelling; centre Єнакієве"),
    428: ("UA18020110000026941", True, "Райгородська / Райгородоцька; centre Райгородок"),
    693: ("UA32140070000012102", True, "Глевахівська / Глеваська; centre Глеваха"),
    704: ("UA32080110000056605", True, "typo Гостомелська / Гостомельська; centre Гостомель"),
    803: ("UA44140070000058445", True, "Міловська / Мілівська; centre Мілове"),
    895: ("UA46140050000054478", True, "Новояворівськ / Новояворівська; centre Новояворівськ"),
    906: ("UA48080150000083195", True, "Синюхин Брід / Синюшин Брід spelling; centre Синюшин Брід"),
    933: ("UA48060290000080246", True, "Радсад renamed Радісний Сад; centre Радісний Сад"),
    965: ("UA51100290000027993", True, "Таїровська / Таїрівська; centre Таїрове"),
    991: ("UA51020130000060117", True, "Курісовська / Курісівська; centre Курісове"),
    993: ("UA51020170000041393", True, "Новокальчевська / Новокальчівська; centre Новокальчеве"),
    1006: ("UA51060110000077844", True, "Криниченська / Криничненська; centre Криничне"),
    1044: ("UA53080050000011754", True, "Диканьська / Диканська; centre Диканька"),
    1328: ("UA65060010000033335", True, "Асканія-Нова / Асканіє-Нова; centre Асканія-Нова"),
    1433: ("UA68020230000069135", True, "truncated suffix; centre Слобідка-Кульчієвецька"),
    1445: ("UA71060170000092613", True, "typo Монастрищенська; centre Монастирище"),
    1466: ("UA71080350000033809", True, "Русько-Полянська / Руськополянська; centre Руська Поляна"),
    1482: ("UA71020150000082849", True, "Катеринопіль renamed Калинопіль; centre Калинопіль"),
    1515: ("UA73060070000082869", True, "typo Веренчацька / Веренчанська; centre Веренчанка"),
    1525: ("UA73060270000016588", True, "typo Карапачівська / Карапчівська; centre Карапчів"),
}

# Former names of the Crimean raions renamed in KATOTTG (not in the shared data;
# kept so that messages using the old names can still be matched).
CRIMEA_RAION_OLD_NAMES = {
    "UA01120000000061837": ["Красногвардійський район"],   # now Курманський
    "UA01140000000010124": ["Красноперекопський район"],   # now Перекопський
}

VADIMKIN_TREE_FILES = ["official_data_en.csv", "official_data_uk.csv", "full_data.csv"]
VADIMKIN_FLAT_FILES = ["volunteer_data_en.csv", "volunteer_data_uk.csv", "oblasts_only.csv"]

REGION_KEYS = [
    "aliases", "alerts_in_ua_uid", "id", "iso", "katottg", "level", "name_en",
    "name_uk", "oblast", "parent", "synthetic_id", "ukrainealarm_id",
]


# --------------------------------------------------------------------------- helpers

def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


APOSTROPHES = {"'": "’", "ʼ": "’", "`": "’", "‘": "’"}


def norm(s):
    """Loose key used only while building: NFC, one apostrophe, casefold, single spaces."""
    s = unicodedata.normalize("NFC", s)
    s = "".join(APOSTROPHES.get(c, c) for c in s)
    return " ".join(s.split()).casefold()


# KMU-2010 (Cabinet resolution No. 55 of 27.01.2010) Ukrainian -> Latin.
_TR = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie",
    "ж": "zh", "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "",
    "ю": "iu", "я": "ia",
}
_TR_INITIAL = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}


def translit(s):
    out = []
    prev_is_letter = False
    prev = ""
    for ch in s:
        low = ch.lower()
        if low in _TR:
            if low == "г" and prev == "з":
                lat = "gh"
            elif not prev_is_letter and low in _TR_INITIAL:
                lat = _TR_INITIAL[low]
            else:
                lat = _TR[low]
            if ch != low and lat:
                lat = lat[0].upper() + lat[1:]
            out.append(lat)
            prev_is_letter = True
            prev = low
        elif ch in APOSTROPHES or ch == "’":
            # apostrophe is dropped and does not start a new word
            continue
        else:
            out.append(ch)
            prev_is_letter = ch.isalpha()
            prev = ""
    return "".join(out)


def translit_raion(name_uk):
    base = name_uk[: -len(" район")] if name_uk.endswith(" район") else name_uk
    return translit(base) + " raion"


# Port of `normalise` in crates/core/src/names.rs (the registry's consumer). Used to
# keep aliases from shadowing other regions and to check that every name resolves
# the way the Rust side will resolve it. Keep in sync with names.rs.
_ADMIN_WORDS = {}
for _w in ("область", "обл", "oblast", "oblasti", "region", "province", "арк", "ар"):
    _ADMIN_WORDS[_w] = "oblast"
for _w in ("район", "р-н", "raion", "rayon", "district"):
    _ADMIN_WORDS[_w] = "raion"
for _w in ("громада", "територіальна", "тг", "hromada", "terytorialna", "community",
           "territorial", "otg", "отг"):
    _ADMIN_WORDS[_w] = "hromada"
for _w in ("м", "місто", "city", "misto", "m"):
    _ADMIN_WORDS[_w] = "city"
_CONSUMER_APOSTROPHES = set("'’ʼ`‘ʹ′´")


def consumer_normalise(name):
    """-> (full, bare, level_hint) exactly as names.rs computes them."""
    chars = []
    for c in name.strip().lstrip("#"):
        if c in _CONSUMER_APOSTROPHES:
            continue
        chars.append(c.lower() if c.isalnum() else " ")
    words = "".join(chars).split()
    hint, bare = None, []
    for w in words:
        h = _ADMIN_WORDS.get(w)
        if h:
            if hint is None or h == "hromada":
                hint = h
        else:
            bare.append(w)
    return " ".join(words), " ".join(bare), hint


class ConsumerIndex:
    """Mirror of Registry::resolve_within in crates/core/src/region.rs."""

    def __init__(self, regions):
        self.by_id = {r["id"]: r for r in regions}
        self.full = collections.defaultdict(list)
        self.bare = collections.defaultdict(list)
        for r in regions:
            for n in [r["name_uk"], r["name_en"]] + r["aliases"]:
                f, b, _ = consumer_normalise(n)
                if r["id"] not in self.full[f]:
                    self.full[f].append(r["id"])
                if b and r["id"] not in self.bare[b]:
                    self.bare[b].append(r["id"])

    def within(self, rid, anc):
        while rid is not None:
            if rid == anc:
                return True
            rid = self.by_id[rid]["parent"]
        return False

    def find(self, parent, name):
        f, b, hint = consumer_normalise(name)
        inside = [i for i in self.full.get(f, []) if parent is None or self.within(i, parent)]
        if len(inside) == 1:
            return inside[0]
        if not inside:
            inside = [i for i in self.bare.get(b, [])
                      if (parent is None or self.within(i, parent))
                      and (hint is None or hint == self.by_id[i]["level"]
                           or (hint == "city" and self.by_id[i]["level"] in ("oblast", "hromada")))]
        if len(inside) == 1:
            return inside[0]
        return None if not inside else -len(inside)


# --------------------------------------------------------------------------- build

class Registry:
    def __init__(self):
        self.regions = {}          # id -> dict
        self.base_aliases = {}     # id -> list (ordered, deduped later)
        self.vadimkin_aliases = collections.defaultdict(set)
        self.katottg_short = {}    # id -> KATOTTG name (no suffix)
        self.katottg_aliases = {}  # id -> alias derived from the KATOTTG name, if it adds anything

    def add(self, r, aliases):
        if r["id"] in self.regions:
            raise SystemExit("duplicate id %r" % r["id"])
        self.regions[r["id"]] = r
        self.base_aliases[r["id"]] = [a for a in aliases if a]


def build(shared):
    p = lambda *a: os.path.join(shared, *a)  # noqa: E731
    ref = read_csv(p("region-ids", "oblasts_reference.csv"))
    aiu = read_csv(p("region-ids", "alerts_in_ua_location_uids.csv"))
    cw = read_csv(p("region-ids", "region_ids_crosswalk.csv"))
    adm = read_csv(p("katottg", "katottg_admin_units.csv"))
    with open(p("vadimkin-air-raid-sirens", "states.json"), encoding="utf-8") as f:
        states = json.load(f)["states"]

    kat = {r["code"]: r for r in adm}
    aiu_by_uid = {int(r["uid"]): r for r in aiu}
    notes = []
    reg = Registry()

    # ---- top level (27)
    for r in ref:
        uid = int(r["alerts_in_ua_uid"])
        k = kat[r["katottg"]]
        assert k["category"] in ("O", "K"), r
        aliases = [r["name_en_translit"], aiu_by_uid[uid]["name_uk"], r["geoboundaries_shapeName"]]
        reg.katottg_short[uid] = k["name"]
        reg.add({
            "id": uid, "level": "oblast", "parent": None, "oblast": uid,
            "name_uk": r["name_uk"], "name_en": r["name_en_osm"],
            "katottg": r["katottg"], "iso": r["iso3166_2"],
            "alerts_in_ua_uid": uid, "ukrainealarm_id": int(r["ukrainealarm_region_id"]),
            "synthetic_id": False,
        }, aliases)
    top_by_katottg = {r["katottg"]: r["id"] for r in reg.regions.values()}

    # ---- raions with official ids (126)
    raion_by_katottg = {}
    for r in cw:
        if r["level"] != "raion":
            continue
        rid = int(r["id"])
        k = kat[r["katottg"]]
        assert k["category"] == "P", r
        name_uk = k["name"] + " район"          # current (2024) KATOTTG name
        old = [r["name_uk_states_json"], r["name_uk_alerts_in_ua"], r["name_en_translit"]]
        reg.katottg_short[rid] = k["name"]
        if r["name_uk_states_json"] and norm(r["name_uk_states_json"]) != norm(name_uk):
            notes.append("raion %d renamed: %s -> %s" % (rid, r["name_uk_states_json"], name_uk))
        if norm(r["name_uk_alerts_in_ua"]) != norm(name_uk):
            raise SystemExit("raion %d: KATOTTG name %s disagrees with alerts.in.ua %s"
                             % (rid, name_uk, r["name_uk_alerts_in_ua"]))
        oblast = int(r["oblast_id"])
        assert int(r["parent_id"]) == oblast and kat[k["oblast_code"]]["code"] == reg.regions[oblast]["katottg"], r
        reg.add({
            "id": rid, "level": "raion", "parent": oblast, "oblast": oblast,
            "name_uk": name_uk, "name_en": translit_raion(name_uk),
            "katottg": r["katottg"], "iso": None,
            "alerts_in_ua_uid": rid if r["in_alerts_in_ua_client"] == "1" else None,
            "ukrainealarm_id": rid if r["in_states_json"] == "1" else None,
            "synthetic_id": False,
        }, old)
        raion_by_katottg[r["katottg"]] = rid

    # ---- raions without official ids (Crimea): synthetic ids in KATOTTG order
    next_id = SYNTHETIC_ID_BASE
    missing_raions = sorted(code for code, k in kat.items()
                            if k["category"] == "P" and code not in raion_by_katottg)
    for code in missing_raions:
        k = kat[code]
        parent = top_by_katottg[k["oblast_code"]]
        if parent != 29:
            raise SystemExit("unexpected raion without official id outside Crimea: %s %s" % (code, k["name"]))
        name_uk = k["name"] + " район"
        reg.add({
            "id": next_id, "level": "raion", "parent": parent, "oblast": parent,
            "name_uk": name_uk, "name_en": translit_raion(name_uk),
            "katottg": code, "iso": None, "alerts_in_ua_uid": None, "ukrainealarm_id": None,
            "synthetic_id": True,
        }, CRIMEA_RAION_OLD_NAMES.get(code, []))
        reg.katottg_short[next_id] = k["name"]
        raion_by_katottg[code] = next_id
        next_id += 1
    assert next_id - 1 <= SYNTHETIC_ID_MAX

    # ---- hromadas (states.json, via the crosswalk)
    fuzzy_seen = set()
    used_codes = {}
    for r in cw:
        if r["level"] != "hromada":
            continue
        hid = int(r["id"])
        code = r["katottg"] or None
        match = r["katottg_match"]
        if match == "exact":
            pass
        elif match == "fuzzy_unverified":
            if hid not in FUZZY_KATOTTG:
                raise SystemExit("fuzzy KATOTTG match for %d (%s) has not been reviewed"
                                 % (hid, r["name_uk_states_json"]))
            exp, keep, _why = FUZZY_KATOTTG[hid]
            if exp != code:
                raise SystemExit("fuzzy KATOTTG match for %d changed: %s (reviewed %s)" % (hid, code, exp))
            fuzzy_seen.add(hid)
            if not keep:
                code = None
        elif match == "none":
            code = None
        else:
            raise SystemExit("unknown katottg_match %r" % match)
        parent = int(r["parent_id"])
        aliases = []
        if code:
            k = kat[code]
            assert k["category"] == "H"
            if raion_by_katottg.get(k["raion_code"]) != parent:
                raise SystemExit("hromada %d: KATOTTG %s is not under raion %d" % (hid, code, parent))
            if code in used_codes:
                raise SystemExit("KATOTTG %s used by %d and %d" % (code, used_codes[code], hid))
            used_codes[code] = hid
            reg.katottg_short[hid] = k["name"]
        reg.add({
            "id": hid, "level": "hromada", "parent": parent, "oblast": int(r["oblast_id"]),
            "name_uk": r["name_uk_states_json"], "name_en": r["name_en_translit"],
            "katottg": code, "iso": None,
            "alerts_in_ua_uid": hid if r["in_alerts_in_ua_client"] == "1" else None,
            "ukrainealarm_id": hid,
            "synthetic_id": False,
        }, aliases)
    unreviewed = set(FUZZY_KATOTTG) - fuzzy_seen
    if unreviewed:
        raise SystemExit("FUZZY_KATOTTG lists ids that are no longer fuzzy: %s" % sorted(unreviewed))

    # ---- KATOTTG hromadas that have no region here
    no_hromadas = {rid for rid in reg.regions if reg.regions[rid]["level"] == "raion"
                   and not reg.regions[rid]["synthetic_id"] and reg.regions[rid]["ukrainealarm_id"] is None}
    groups = collections.Counter()
    for code, k in sorted(kat.items()):
        if k["category"] == "H" and code not in used_codes:
            raion = raion_by_katottg.get(k["raion_code"])
            if reg.regions[raion]["synthetic_id"]:
                groups["in Crimea (no official ids; left out)"] += 1
            elif raion in no_hromadas:
                groups["in raions %s (not in states.json; left out)"
                       % ",".join(str(x) for x in sorted(no_hromadas))] += 1
            else:
                groups["elsewhere (states.json hromadas whose KATOTTG code stays null: renamed/merged)"] += 1
    for g, n in sorted(groups.items()):
        notes.append("KATOTTG hromadas without a region here: %d %s" % (n, g))
    n_null = sum(1 for r in reg.regions.values() if r["level"] == "hromada" and not r["katottg"])
    notes.append("states.json hromadas with KATOTTG null: %d" % n_null)

    return reg, states, aiu, notes, used_codes


# --------------------------------------------------------------------------- name resolution

class Resolver:
    """Find a region by name inside a parent. `exact` uses the strings as stored
    (what an importer would do with the output); otherwise a loose key (apostrophe,
    case, spacing) is used to discover the region for a new spelling."""

    def __init__(self, regions, exact, use_base_aliases=None):
        self.idx = collections.defaultdict(lambda: collections.defaultdict(set))
        key = (lambda s: s) if exact else norm
        for r in regions.values():
            names = [r["name_uk"], r["name_en"]]
            if use_base_aliases is not None:
                names += use_base_aliases.get(r["id"], [])
            else:
                names += r["aliases"]
            for n in names:
                self.idx[r["parent"]][key(n)].add(r["id"])
        self.key = key

    def find(self, parent, name):
        ids = self.idx[parent].get(self.key(name), set())
        return next(iter(ids)) if len(ids) == 1 else (None if not ids else -len(ids))

    def resolve_tuple(self, oblast, raion, hromada):
        return resolve_tuple(self, oblast, raion, hromada)


def resolve_tuple(index, oblast, raion, hromada):
    """Resolve a Vadimkin (oblast, raion, hromada) row top-down, each name inside its
    parent. If that fails and both oblast and raion are given, retry with the two
    swapped (a known upstream bug). Returns (ids, swapped) or (None, "unresolved")."""
    for swapped, names in ((False, [oblast, raion, hromada]), (True, [raion, oblast, hromada])):
        if swapped and not (oblast and raion):
            break
        if names[2] and not names[1]:
            continue  # a hromada without its raion is not a valid row
        ids, parent, ok = [], None, True
        for n in names:
            if not n:
                break
            rid = index.find(parent, n)
            if rid is None or rid < 0:
                ok = False
                break
            ids.append(rid)
            parent = rid
        if ok:
            return ids, swapped
    return None, "unresolved"


def load_vadimkin(shared):
    d = os.path.join(shared, "vadimkin-air-raid-sirens")
    tuples = collections.OrderedDict()   # (file, oblast, raion, hromada) -> rows
    for fn in VADIMKIN_TREE_FILES:
        with open(os.path.join(d, fn), encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                t = (fn, row["oblast"], row["raion"], row["hromada"])
                tuples[t] = tuples.get(t, 0) + 1
    flat = collections.OrderedDict()
    for fn in VADIMKIN_FLAT_FILES:
        with open(os.path.join(d, fn), encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                t = (fn, row["region"])
                flat[t] = flat.get(t, 0) + 1
    return tuples, flat


class _Fallback:
    """Try the loose build-time key first, then the consumer's rules (which also
    match a name without its administrative words, e.g. "Київ" for "м. Київ")."""

    def __init__(self, *indexes):
        self.indexes = indexes

    def find(self, parent, name):
        got = None
        for ix in self.indexes:
            got = ix.find(parent, name)
            if got is not None and got >= 0:
                return got
        return got


def attach_vadimkin_aliases(reg, tuples, flat):
    provisional = [dict(r, aliases=reg.base_aliases[rid]) for rid, r in reg.regions.items()]
    res = _Fallback(Resolver(reg.regions, exact=False, use_base_aliases=reg.base_aliases),
                    ConsumerIndex(provisional))
    swapped_rows, unresolved = [], []
    for (fn, o, r, h), n in tuples.items():
        ids, info = resolve_tuple(res, o, r, h)
        if ids is None:
            unresolved.append((fn, o, r, h, n))
            continue
        names = [o, r, h] if not info else [r, o, h]
        if info:
            swapped_rows.append((fn, o, r, h, n))
        for rid, name in zip(ids, names):
            reg.vadimkin_aliases[rid].add(name)
    for (fn, name), n in flat.items():
        rid = res.find(None, name)
        if rid is None or rid < 0:
            unresolved.append((fn, name, "", "", n))
        else:
            reg.vadimkin_aliases[rid].add(name)
    return swapped_rows, unresolved


def add_katottg_aliases(reg):
    """Turn KATOTTG names into aliases where they add something. Oblast and raion
    names are the KATOTTG name plus "область"/"район", which the consumer strips
    anyway, so nothing is added for them. A hromada gets "<KATOTTG name>
    територіальна громада" (e.g. the current spelling of a renamed hromada, or
    "Луцька територіальна громада" for "м. Луцьк та Луцька ...") unless that only
    repeats its own name, would shadow an oblast or raion ("Вінницька" is the
    oblast), or clashes with a sibling."""
    def names(rid):
        r = reg.regions[rid]
        return [r["name_uk"], r["name_en"]] + reg.base_aliases[rid] + sorted(reg.vadimkin_aliases.get(rid, ()))
    upper_bare = set()
    sib = collections.defaultdict(set)
    # Official names (full form): an alias equal to another region's name would make that
    # region's own name ambiguous ("Первомайська територіальна громада" is 932's name).
    official = collections.defaultdict(set)
    for rid, r in reg.regions.items():
        for n in (r["name_uk"], r["name_en"]):
            official[consumer_normalise(n)[0]].add(rid)
    for rid, r in reg.regions.items():
        for n in names(rid):
            f, b, _ = consumer_normalise(n)
            if r["level"] != "hromada":
                upper_bare.add(b)
            sib[(r["parent"], f)].add(rid)
            sib[(r["parent"], b)].add(rid)
    stats = collections.Counter()
    for rid, short in sorted(reg.katottg_short.items()):
        r = reg.regions[rid]
        cand = short + " територіальна громада" if r["level"] == "hromada" else short
        f, b, _ = consumer_normalise(cand)
        if b in {consumer_normalise(n)[1] for n in names(rid)}:
            stats["same as an existing name"] += 1
        elif r["level"] == "hromada" and b in upper_bare:
            stats["would shadow an oblast/raion"] += 1
        elif official.get(f, set()) - {rid}:
            stats["would shadow another region's name"] += 1
        elif (sib[(r["parent"], f)] | sib[(r["parent"], b)]) - {rid}:
            stats["clashes with a sibling"] += 1
        else:
            reg.katottg_aliases[rid] = cand
            stats["added"] += 1
    return stats


def finalize(reg):
    out = []
    for rid, r in reg.regions.items():
        seen = {r["name_uk"], r["name_en"]}
        aliases = []
        extra = [reg.katottg_aliases[rid]] if rid in reg.katottg_aliases else []
        for a in reg.base_aliases[rid] + extra + sorted(reg.vadimkin_aliases.get(rid, ())):
            if a and a not in seen:
                seen.add(a)
                aliases.append(a)
        r["aliases"] = sorted(aliases)
        assert sorted(r) == sorted(REGION_KEYS), sorted(r)
        out.append(r)
    rank = {"oblast": 0, "raion": 1, "hromada": 2}
    out.sort(key=lambda r: (rank[r["level"]], r["id"]))
    return out


# --------------------------------------------------------------------------- geojson

def round_ring(ring):
    pts = []
    for x, y in ring:
        pt = [round(x, 3), round(y, 3)]
        if not pts or pts[-1] != pt:
            pts.append(pt)
    if pts[0] != pts[-1]:
        pts.append(list(pts[0]))
    if len(pts) < 4:
        raise SystemExit("ring collapsed after rounding")
    return pts


def build_geojson(shared, regions_by_id):
    path = os.path.join(shared, "boundaries", "ralertsinua-osm-adm1", "ukraine_oblasts_osm.geojson")
    with open(path, encoding="utf-8") as f:
        src = json.load(f)
    ref = read_csv(os.path.join(shared, "region-ids", "oblasts_reference.csv"))
    by_iso = {r["iso3166_2"]: int(r["alerts_in_ua_uid"]) for r in ref}
    feats, uid_fixes = [], []
    for ft in src["features"]:
        pr = ft["properties"]
        rid = by_iso[pr["ISO3166-2"]]
        if pr.get("@location_uid") != rid:
            uid_fixes.append((pr["ISO3166-2"], pr.get("@location_uid"), rid))
        reg = regions_by_id[rid]
        g = ft["geometry"]
        if g["type"] == "Polygon":
            coords = [round_ring(rg) for rg in g["coordinates"]]
        elif g["type"] == "MultiPolygon":
            coords = [[round_ring(rg) for rg in poly] for poly in g["coordinates"]]
        else:
            raise SystemExit("unexpected geometry %s" % g["type"])
        feats.append((rid, {
            "type": "Feature",
            "properties": {"id": rid, "iso": reg["iso"], "name_uk": reg["name_uk"], "name_en": reg["name_en"]},
            "geometry": {"type": g["type"], "coordinates": coords},
        }))
    feats.sort(key=lambda t: t[0])
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":"), sort_keys=True) for _, f in feats]
    head = ('{"attribution":"Boundaries © OpenStreetMap contributors, ODbL 1.0 (simplified, via voiceapiai/ralertsinua)",'
            '"type":"FeatureCollection","features":[\n')
    return head + ",\n".join(lines) + "\n]}\n", feats, uid_fixes


# --------------------------------------------------------------------------- output + checks

def dumps_regions(regions, oblast_order):
    head = '{"generated_by":%s,"oblast_order":%s,"regions":[\n' % (
        json.dumps(GENERATED_BY), json.dumps(oblast_order, separators=(",", ":")))
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":"), sort_keys=True) for r in regions]
    return head + ",\n".join(lines) + "\n]}\n"


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=os.path.join(REPO_ROOT, "..", "shared", "data"),
                    help="path to the shared data directory (default: ../shared/data from the repo root)")
    ap.add_argument("--out", default=HERE, help="output directory (default: the script's directory)")
    args = ap.parse_args()
    shared = os.path.normpath(args.shared if os.path.isabs(args.shared)
                              else os.path.join(os.getcwd(), args.shared))

    reg, states, aiu, notes, used_codes = build(shared)
    tuples, flat = load_vadimkin(shared)
    _swapped, unresolved_build = attach_vadimkin_aliases(reg, tuples, flat)
    katottg_alias_stats = add_katottg_aliases(reg)
    regions = finalize(reg)
    by_id = {r["id"]: r for r in regions}

    name_to_id = {r["name_uk"]: r["id"] for r in regions if r["level"] == "oblast"}
    oblast_order = [name_to_id[n] for n in IOT_OBLAST_ORDER_UK]

    geo_text, feats, uid_fixes = build_geojson(shared, by_id)
    reg_text = dumps_regions(regions, oblast_order)

    # ------------------------------------------------------------------ checks
    failures = []

    def check(cond, msg):
        if not cond:
            failures.append(msg)
        return cond

    levels = collections.Counter(r["level"] for r in regions)
    check(levels["oblast"] == 27, "expected 27 top-level units, got %d" % levels["oblast"])
    check(levels["raion"] == 136, "expected 136 raions, got %d" % levels["raion"])
    check(len(by_id) == len(regions), "ids not unique")
    for r in regions:
        if r["level"] == "oblast":
            check(r["parent"] is None and r["oblast"] == r["id"], "bad top-level %d" % r["id"])
            continue
        par = by_id.get(r["parent"])
        if not check(par is not None, "%d: parent %s missing" % (r["id"], r["parent"])):
            continue
        want = "oblast" if r["level"] == "raion" else "raion"
        check(par["level"] == want, "%d (%s): parent %d is %s" % (r["id"], r["level"], par["id"], par["level"]))
        check(r["oblast"] == par["oblast"], "%d: oblast %d != parent's %d" % (r["id"], r["oblast"], par["oblast"]))
        check(r["synthetic_id"] == (r["id"] >= SYNTHETIC_ID_BASE), "%d: synthetic flag" % r["id"])
    official = {r["id"] for r in regions if not r["synthetic_id"]}
    check(not any(SYNTHETIC_ID_BASE <= i <= SYNTHETIC_ID_MAX for i in official) and 9999 < SYNTHETIC_ID_BASE,
          "synthetic range clashes with an official id")
    # every alerts.in.ua uid is present, with the right level/parent
    for a in aiu:
        uid = int(a["uid"])
        r = by_id.get(uid)
        if check(r is not None, "alerts.in.ua uid %d missing" % uid):
            check(r["alerts_in_ua_uid"] == uid, "alerts_in_ua_uid of %d" % uid)
            check(r["oblast"] == int(a["oblast_uid"]), "oblast of alerts.in.ua uid %d" % uid)
    n_aiu = sum(1 for r in regions if r["alerts_in_ua_uid"] is not None)
    check(n_aiu == len(aiu), "alerts_in_ua_uid set on %d regions, client lists %d" % (n_aiu, len(aiu)))
    # states.json (ukrainealarm ids) fully covered with the same tree
    n_states = 0
    for s in states:
        n_states += 1
        check(by_id.get(s["stateId"], {}).get("ukrainealarm_id") == s["stateId"], "state %d" % s["stateId"])
        for d in s["districts"]:
            n_states += 1
            rd = by_id.get(d["districtId"])
            check(rd is not None and rd["parent"] == s["stateId"] and rd["ukrainealarm_id"] == d["districtId"],
                  "district %d" % d["districtId"])
            for c in d["communities"]:
                n_states += 1
                rc = by_id.get(c["communityId"])
                check(rc is not None and rc["parent"] == d["districtId"] and rc["name_uk"] == c["communityName"],
                      "community %d" % c["communityId"])
    n_ua = sum(1 for r in regions if r["ukrainealarm_id"] is not None)
    check(n_ua == n_states + 2, "ukrainealarm ids: %d set, states.json has %d (+Crimea, Sevastopol)" % (n_ua, n_states))
    check(by_id[29]["ukrainealarm_id"] == 9999 and by_id[29]["alerts_in_ua_uid"] == 29, "Crimea ids")
    check(sorted(oblast_order) == sorted(r["id"] for r in regions if r["level"] == "oblast"),
          "oblast_order is not a permutation of the 27 top-level ids")
    # English raion names: our KMU-2010 transliteration must reproduce the crosswalk
    cw = read_csv(os.path.join(shared, "region-ids", "region_ids_crosswalk.csv"))
    tr_bad = [(r["name_uk_states_json"], r["name_en_translit"], translit(r["name_uk_states_json"]))
              for r in cw if r["level"] == "hromada" and translit(r["name_uk_states_json"]) != r["name_en_translit"]]
    tr_bad += [(r["name_uk_alerts_in_ua"], r["name_en_translit"], translit_raion(r["name_uk_states_json"]))
               for r in cw if r["level"] == "raion" and r["name_uk_states_json"]
               and translit_raion(r["name_uk_states_json"]) != r["name_en_translit"]]
    check(not tr_bad, "transliteration differs from the crosswalk for %d names: %s" % (len(tr_bad), tr_bad[:5]))
    # aliases must not make two siblings share a name
    sib = collections.defaultdict(set)
    for r in regions:
        for n in [r["name_uk"], r["name_en"]] + r["aliases"]:
            sib[(r["parent"], n)].add(r["id"])
    clashes = sorted((k, sorted(v)) for k, v in sib.items() if len(v) > 1)
    check(not clashes, "sibling name clashes: %s" % clashes[:10])
    # no alias is another region's official name
    named = collections.defaultdict(set)
    for r in regions:
        for n in (r["name_uk"], r["name_en"]):
            named[consumer_normalise(n)[0]].add(r["id"])
    shadowing = sorted((r["id"], a, sorted(named[consumer_normalise(a)[0]] - {r["id"]}))
                       for r in regions for a in r["aliases"]
                       if named.get(consumer_normalise(a)[0], set()) - {r["id"]})
    check(not shadowing, "%d aliases shadow another region's official name: %s"
          % (len(shadowing), shadowing[:10]))

    # Vadimkin names resolve exactly against the finished registry
    exact = Resolver(by_id, exact=True)
    unresolved, swapped_final, resolved_tuples = [], [], 0
    for (fn, o, r, h), n in tuples.items():
        ids, info = exact.resolve_tuple(o, r, h)
        if ids is None:
            unresolved.append("%s: %r / %r / %r (%d rows)" % (fn, o, r, h, n))
        else:
            resolved_tuples += 1
            if info:
                swapped_final.append("%s: %r / %r / %r (%d rows) -> oblast %d, raion %d%s"
                                     % (fn, o, r, h, n, ids[0], ids[1], ", hromada %d" % ids[2] if len(ids) > 2 else ""))
    resolved_flat = 0
    for (fn, name), n in flat.items():
        rid = exact.find(None, name)
        if rid is None or rid < 0:
            unresolved.append("%s: %r (%d rows)" % (fn, name, n))
        else:
            resolved_flat += 1
    check(not unresolved, "%d Vadimkin names unresolved" % len(unresolved))
    # the same through the Rust resolver's rules (normalised names, level hints)
    cons = ConsumerIndex(regions)
    cons_unresolved = []
    for (fn, o, r, h), n in tuples.items():
        if resolve_tuple(cons, o, r, h)[0] is None:
            cons_unresolved.append("%s: %r / %r / %r" % (fn, o, r, h))
    for (fn, name), n in flat.items():
        rid = cons.find(None, name)
        if rid is None or rid < 0:
            cons_unresolved.append("%s: %r" % (fn, name))
    check(not cons_unresolved, "Vadimkin names the Rust resolver would not resolve: %s" % cons_unresolved[:10])
    # every name and alias leads back to its region (searching within the parent)
    self_bad = []
    for r in regions:
        for nm in [r["name_uk"], r["name_en"]] + r["aliases"]:
            got = cons.find(r["parent"], nm)
            if got != r["id"]:
                self_bad.append((r["id"], nm, got))
    check(not self_bad, "%d names do not resolve back to their region: %s" % (len(self_bad), self_bad[:10]))
    check(len(unresolved_build) == 0, "build-time resolution left %d names" % len(unresolved_build))

    # geojson
    check(len(feats) == 27 and sorted(i for i, _ in feats) == sorted(oblast_order), "geojson must have the 27 units")

    # determinism: serialise twice
    check(dumps_regions(finalize_copy(regions), oblast_order) == reg_text, "regions.json not deterministic")

    if not failures:
        write(os.path.join(args.out, "regions.json"), reg_text)
        write(os.path.join(args.out, "oblasts.geojson"), geo_text)

    # ------------------------------------------------------------------ summary
    hromada_katottg = sum(1 for r in regions if r["level"] == "hromada" and r["katottg"])
    print("regions: %d top-level, %d raions (%d with synthetic ids %d..%d), %d hromadas (%d with KATOTTG)"
          % (levels["oblast"], levels["raion"], sum(r["synthetic_id"] for r in regions),
             SYNTHETIC_ID_BASE, SYNTHETIC_ID_BASE + sum(r["synthetic_id"] for r in regions) - 1,
             levels["hromada"], hromada_katottg))
    print("ids: alerts_in_ua_uid on %d, ukrainealarm_id on %d, aliases total %d"
          % (n_aiu, n_ua, sum(len(r["aliases"]) for r in regions)))
    print("fuzzy KATOTTG: %d reviewed, %d kept" % (len(FUZZY_KATOTTG), sum(v[1] for v in FUZZY_KATOTTG.values())))
    print("KATOTTG-name aliases: %s" % ", ".join("%s %d" % kv for kv in sorted(katottg_alias_stats.items())))
    for n in notes:
        print("note:", n)
    for iso, had, fixed in uid_fixes:
        print("note: geojson %s had @location_uid %s, joined as %d via ISO 3166-2" % (iso, had, fixed))
    print("vadimkin: %d distinct (oblast, raion, hromada) tuples resolved, %d region names resolved"
          % (resolved_tuples, resolved_flat))
    for s in swapped_final:
        print("vadimkin: oblast/raion swapped, resolved by swapping:", s)
    print("vadimkin: unresolved names: %d" % len(unresolved))
    for u in unresolved:
        print("  unresolved:", u)
    if failures:
        print("SELF-CHECK FAILED (%d):" % len(failures), file=sys.stderr)
        for f in failures[:50]:
            print("  -", f, file=sys.stderr)
        print("outputs were not written", file=sys.stderr)
        return 1
    for fn in ("regions.json", "oblasts.geojson"):
        print("wrote %s (%d bytes)" % (os.path.join(os.path.relpath(args.out, os.getcwd()), fn),
                                        os.path.getsize(os.path.join(args.out, fn))))
    print("self-checks: all passed")
    return 0


def finalize_copy(regions):
    return [json.loads(json.dumps(r)) for r in regions]


if __name__ == "__main__":
    sys.exit(main())
