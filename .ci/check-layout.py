#!/usr/bin/env python3
"""The rules the crate layout keeps (DESIGN.md, "Architecture"), checked so that breaking one fails CI.

The workspace is one room per crate under a flat `crates/`, and the arrows only point down:

    1. cli (package `tryvoga`)      the binary: wires the rooms together
    2. api, compat                  HTTP surfaces (neither depends on the other)
    3. edge, outputs                stream fan-out, log-following sinks (neither on the other)
    4. ingest, history, charts      readers, statistics, drawing (only history -> charts)
    5. store                        the record; all SQL lives here
    6. bus                          the EventSource a room follows
    7. core                         pure: no I/O, no async, no clock

`crates/bench` and `crates/compat-tests` are harnesses outside the layout and are skipped. A crate
directory the layout does not name fails the check, so a new crate cannot slip in unchecked; a room
of the layout that does not exist (yet) is fine.

Rules (tags as printed):
  LAYOUT  every `crates/<dir>` with a Cargo.toml is a room of the layout (or a harness), is a
          workspace member, and its package is `tryvoga-<dir>` (`tryvoga` for cli).
  R1      `rusqlite` and `tokio-postgres`/`sqlx` are named only in crates/store: no other crate
          has an SQL crate among its dependencies of any kind (dev- included), and no `.rs`
          file outside crates/store names `rusqlite`, `tokio_postgres` or `sqlx` in code.
  R2      core depends on no I/O or async crate (see CORE_DENIED) and its non-test source
          touches no file, socket, thread, process, stdin, async or clock.
  R3      api, compat, edge and outputs never name a SQL type or statement: none of the SQL
          crates' identifiers in code, no SQL statement in a string literal (src and tests).
  R4      core's Command and EventBody hold no `serde_json::Value`: core's non-test source
          names neither `serde_json::Value` nor `serde_json::Map`, nor imports them.
  R5      ingest declares no type that core has: the module-level struct/enum/type/trait names
          of ingest/src and core/src (non-test) do not intersect.
  R6      the dependency direction: normal and build dependencies between rooms point strictly
          down the list above (history -> charts is the one sideways arrow), and edge depends,
          among tryvoga crates, on core and bus only. Dev-dependencies may point anywhere (a
          room's tests may start a real server), R1 still applies to them.

Dependencies are read from `cargo metadata --format-version 1 --no-deps --offline` (no network,
no build). Source rules read `.rs` files through a small Rust lexer, so comments never count, a
SQL regex only looks inside string literals, and the other patterns only at code outside
literals. "Non-test" means: items under `#[cfg(test)]` (or `#[cfg(all(test, ...))]`) are cut out,
files declared by `#[cfg(test)] mod x;` are skipped, and so is a file with `#![cfg(test)]`.

Usage: check-layout.py [REPO_ROOT]   (default: the repository this script is in)
Prints one line per failure, then exits 1; or prints "layout rules hold (N crates checked)" and
exits 0. Exits 2 when it cannot check at all (no Cargo.toml, cargo missing or failing).
"""

import json
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# The layout

# Room -> level; a lower number is higher up. A room may depend only on rooms with a larger level.
LEVELS = {
    "cli": 1,
    "api": 2, "compat": 2,
    "edge": 3, "outputs": 3,
    "ingest": 4, "history": 4, "charts": 4,
    "store": 5,
    "bus": 6,
    "core": 7,
}
# Sideways arrows the layout allows within one level.
ALLOWED_SIDEWAYS = {("history", "charts")}
# Rooms whose tryvoga dependencies are limited to a named set, whatever their level allows.
ONLY_DEPENDS_ON = {"edge": {"core", "bus"}}
# Harnesses: outside the layout, they may depend on anything; no rule looks at them.
HARNESSES = {"bench", "compat-tests"}
# The rooms that must not name SQL (R3).
NO_SQL_ROOMS = ["api", "compat", "edge", "outputs"]


def package_name(room):
    return "tryvoga" if room == "cli" else "tryvoga-" + room


# ---------------------------------------------------------------------------------------------
# Rule data

# R1: crates that speak SQL. Only crates/store may depend on them, with any kind of dependency.
# The five DESIGN.md means, plus their siblings that would smuggle the same thing in.
SQL_CRATES = {
    "rusqlite", "libsqlite3-sys",
    "postgres", "tokio-postgres", "postgres-types", "postgres-protocol",
    "sqlx", "deadpool-postgres", "deadpool-sqlite", "r2d2_sqlite", "r2d2_postgres",
}
SQL_CRATE_PREFIXES = ("sqlx-",)
# R1: the crate names as they appear in Rust code (a path or `use`), outside crates/store.
SQL_CODE_WORDS = re.compile(r"\b(rusqlite|tokio_postgres|sqlx|libsqlite3_sys)\b")

# R2: core is pure -- no I/O, no async, no clock. Depending on any of these crates would give it
# a runtime, a socket, a file or a database; time is passed in, effects happen in the rooms
# above. Names are exact; a trailing "-*" means the prefix and everything after it.
CORE_DENIED = [
    # async runtimes and their ecosystems
    "tokio", "tokio-*", "futures", "futures-*", "async-*", "smol", "mio", "actix-*",
    # HTTP servers and clients, sockets
    "hyper", "hyper-*", "axum", "axum-*", "tower", "tower-*", "warp", "reqwest", "ureq",
    "socket2", "tungstenite", "rustls", "native-tls",
    # databases (store's business)
    "rusqlite", "libsqlite3-sys", "postgres", "tokio-postgres", "sqlx", "sqlx-*",
    "deadpool-*",
    # message buses (bus's and outputs' business)
    "async-nats", "nats", "rumqttc", "redis",
    # a subscriber writes logs somewhere: the binary's choice, not the core's
    "tracing-subscriber",
    # the file system
    "tempfile", "notify",
]
# R2: what core's non-test code must not do: each (regex, what it means).
CORE_DENIED_CODE = [
    (r"\bstd\s*::\s*fs\b", "std::fs (file I/O)"),
    (r"\bstd\s*::\s*net\b", "std::net (sockets)"),
    (r"\bstd\s*::\s*thread\b", "std::thread (threads)"),
    (r"\bstd\s*::\s*process\b", "std::process (processes)"),
    (r"\bstd\s*::\s*io\s*::\s*stdin\b|\bio\s*::\s*stdin\b", "stdin (I/O)"),
    (r"\basync\b", "async code"),
    (r"\.\s*await\b", ".await"),
    (r"\bUtc\s*::\s*now\b", "Utc::now (the clock; time is passed in)"),
    (r"\bLocal\s*::\s*now\b", "Local::now (the clock; time is passed in)"),
    (r"\bSystemTime\s*::\s*now\b", "SystemTime::now (the clock; time is passed in)"),
    (r"\bInstant\s*::\s*now\b", "Instant::now (the clock; time is passed in)"),
]
# R2: the same modules imported in a group: `use std::{fs, io::stdin};`
CORE_DENIED_STD_GROUP = re.compile(r"\b(fs|net|thread|process|stdin)\b")

# R3: identifiers of the SQL crates' APIs, in code of the rooms that must not name SQL.
NO_SQL_CODE = [
    (r"\brusqlite\s*::", "rusqlite::"),
    (r"\btokio_postgres\s*::", "tokio_postgres::"),
    (r"\bpostgres\s*::", "postgres::"),
    (r"\bsqlx\s*::", "sqlx::"),
    (r"\b(named_)?params\s*!\s*[\[({]", "params!"),
    (r"\bquery_row\b", "query_row"),
    (r"\bprepare_cached\b", "prepare_cached"),
    (r"\bexecute_batch\b", "execute_batch"),
    (r"\bbatch_execute\b", "batch_execute"),
]
# R3: SQL statements, looked for inside string literals (case-sensitive, as SQL is written here).
SQL_STATEMENTS = [re.compile(p, re.S) for p in (
    r"\bSELECT\b.*\bFROM\b",
    r"\bINSERT\s+(OR\s+[A-Z]+\s+)?INTO\b",
    r"\bREPLACE\s+INTO\b",
    r"\bUPDATE\s+\w+\s+SET\b",
    r"\bDELETE\s+FROM\b",
    r"\b(CREATE|DROP|ALTER)\s+(TEMP\s+|TEMPORARY\s+)?TABLE\b",
    r"\bCREATE\s+(UNIQUE\s+)?INDEX\b",
    r"\bPRAGMA\s+[a-z_]+",
)]

# R4: serde_json's dynamic values, named in core.
JSON_VALUE_PATH = re.compile(r"\bserde_json\s*::\s*(value\s*::\s*)?(Value|Map)\b")
JSON_USE = re.compile(r"\buse\s+(::\s*)?serde_json\s*::[^;]*;")
JSON_USE_NAMES = re.compile(r"\b(Value|Map)\b")

# R5: item declarations at module level.
TYPE_DECL = re.compile(r"\b(struct|enum|type|trait)\s+([A-Za-z_][A-Za-z0-9_]*)")

SKIP_DIRS = {"target", "node_modules"}


# ---------------------------------------------------------------------------------------------
# A small Rust lexer: enough to tell code from comments and string literals.

IDENT = re.compile(r"[A-Za-z0-9_]")


class Source:
    """A .rs file split into `code` (comments and literal contents blanked to spaces, offsets and
    newlines kept) and its string literals [(start offset, text)]."""

    def __init__(self, path, text):
        self.path = path
        self.text = text
        self.code, self.strings = lex(text)
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line(self, offset):
        lo, hi = 0, len(self._newlines)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._newlines[mid] < offset:
                lo = mid + 1
            else:
                hi = mid
        return lo + 1


def _blank(s):
    return "".join("\n" if c == "\n" else " " for c in s)


def lex(text):
    out = []
    strings = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(_blank(text[i:j]))
            i = j
            continue
        if c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(_blank(text[i:j]))
            i = j
            continue
        prev_ident = i > 0 and IDENT.match(text[i - 1])
        # Raw strings: r"..", r#".."#, br#".."#, cr".." (not raw identifiers like r#type).
        if c == "r" and (not prev_ident or (text[i - 1] in "bc" and (i < 2 or not IDENT.match(text[i - 2])))):
            j = i + 1
            while j < n and text[j] == "#":
                j += 1
            if j < n and text[j] == '"':
                hashes = j - i - 1
                end = text.find('"' + "#" * hashes, j + 1)
                end = n if end < 0 else end
                body = text[j + 1:end]
                strings.append((j + 1, body))
                out.append(text[i:j + 1] + _blank(body) + text[end:end + 1 + hashes])
                i = end + 1 + hashes
                continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            body = text[i + 1:j]
            strings.append((i + 1, body))
            out.append('"' + _blank(body) + ('"' if j < n else ""))
            i = j + 1
            continue
        if c == "'":
            # A char literal ('a', '\n', '\'', '\u{..}') or a lifetime/label ('a, 'static).
            if nxt == "\\":
                j = i + 2
                while j < n and text[j] != "'" and text[j] != "\n":
                    j += 2 if text[j] == "\\" else 1
                out.append("'" + _blank(text[i + 1:j]) + ("'" if j < n else ""))
                i = j + 1
                continue
            if i + 2 < n and text[i + 2] == "'" and nxt != "\n":
                out.append("' '")
                i += 3
                continue
        out.append(c)
        i += 1
    code = "".join(out)
    assert len(code) == len(text), "lexer must keep offsets"
    return code, strings


# ---------------------------------------------------------------------------------------------
# Test code: #[cfg(test)] items are cut out of `code` and `strings`.

CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*(test|all\s*\(\s*test\b[^\]]*\))\s*\)\s*\]")
CFG_TEST_INNER = re.compile(r"#\s*!\s*\[\s*cfg\s*\(\s*(test|all\s*\(\s*test\b[^\]]*\))\s*\)\s*\]")
MOD_FILE_DECL = re.compile(r"^(\s*#\s*\[[^\]]*\])*\s*(pub(\s*\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;")

OPEN = "([{"
CLOSE = ")]}"


def _item_end(code, i):
    """End offset of the item that starts at or after `i` (past further attributes): the `;` or
    the `}` that closes its first block at depth 0."""
    n = len(code)
    depth = 0
    saw_block = False
    while i < n:
        c = code[i]
        if c in OPEN:
            depth += 1
            if c == "{" and depth == 1:
                saw_block = True
        elif c in CLOSE:
            depth -= 1
            if depth == 0 and c == "}" and saw_block:
                return i + 1
            if depth < 0:  # the enclosing block ended: the attribute had no item
                return i
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return n


def strip_tests(src):
    """Cut #[cfg(test)] items out of src.code/src.strings. Returns the names of `mod x;` files
    that are test-only (declared under #[cfg(test)])."""
    code = src.code
    cuts = []
    test_mods = []
    pos = 0
    while True:
        m = CFG_TEST.search(code, pos)
        if not m:
            break
        end = _item_end(code, m.end())
        item = code[m.start():end]
        mm = MOD_FILE_DECL.match(code[m.end():end])
        if mm and item.rstrip().endswith(";"):
            test_mods.append(mm.group(4))
        cuts.append((m.start(), end))
        pos = end
    if cuts:
        parts, last = [], 0
        for a, b in cuts:
            parts.append(code[last:a])
            parts.append(_blank(code[a:b]))
            last = b
        parts.append(code[last:])
        src.code = "".join(parts)
        src.strings = [(o, s) for (o, s) in src.strings if not any(a <= o < b for a, b in cuts)]
    return test_mods


# ---------------------------------------------------------------------------------------------
# Files


def rust_files(top, exclude=()):
    """Every .rs file under `top`, sorted, skipping target dirs, hidden dirs and `exclude`."""
    exclude = {Path(e).resolve() for e in exclude}
    found = []
    if not top.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(top):
        d = Path(dirpath)
        dirnames[:] = sorted(
            x for x in dirnames
            if x not in SKIP_DIRS and not x.startswith(".") and (d / x).resolve() not in exclude
        )
        for f in sorted(filenames):
            if f.endswith(".rs"):
                found.append(d / f)
    return found


def load(path):
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = path.read_text(encoding="utf-8", errors="replace")
    return Source(path, text)


def non_test_sources(src_dir):
    """The sources of a crate's src/ with test code cut out; test-only module files skipped."""
    files = rust_files(src_dir)
    loaded = {}
    skip = set()
    for f in files:
        s = load(f)
        if CFG_TEST_INNER.search(s.code):
            skip.add(f)
            continue
        for name in strip_tests(s):
            if f.name in ("lib.rs", "main.rs", "mod.rs"):
                base = f.parent
            else:
                base = f.parent / f.stem
            skip.add(base / (name + ".rs"))
            skip.add(base / name / "mod.rs")
            skip.update(p for p in files if (base / name) in p.parents)
        loaded[f] = s
    return [s for f, s in loaded.items() if f not in skip]


# ---------------------------------------------------------------------------------------------
# The check


class Checker:
    def __init__(self, root):
        self.root = root
        self.failures = []
        self.seen = set()

    def fail(self, rule, where, message):
        line = f"{rule} {where}: {message}"
        if line not in self.seen:  # e.g. one name twice on one line: one report
            self.seen.add(line)
            self.failures.append(line)
            print(line)

    def rel(self, path):
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def at(self, src, offset):
        return f"{self.rel(src.path)}:{src.line(offset)}"

    # -- cargo metadata ------------------------------------------------------------------------

    def metadata(self):
        try:
            p = subprocess.run(
                ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline",
                 "--manifest-path", str(self.root / "Cargo.toml")],
                capture_output=True, text=True, cwd=self.root,
            )
        except FileNotFoundError:
            die("cargo is not on PATH; the dependencies are read from cargo metadata")
        if p.returncode != 0:
            die("`cargo metadata --no-deps --offline` failed:\n" + p.stderr)
        return json.loads(p.stdout)

    def run(self):
        if not (self.root / "Cargo.toml").is_file():
            die(f"{self.root} has no Cargo.toml")
        meta = self.metadata()
        crates_dir = (self.root / "crates").resolve()

        # Map each workspace member to its room (the crates/<dir> it lives in).
        members = set(meta.get("workspace_members", []))
        by_dir = {}       # room dir -> package
        dir_of_path = {}  # resolved crate dir -> room dir
        for pkg in sorted(meta["packages"], key=lambda p: p["manifest_path"]):
            if pkg["id"] not in members:
                continue
            manifest = Path(pkg["manifest_path"]).resolve()
            where = self.rel(manifest)
            under_crates = manifest.parent.parent == crates_dir
            # R1 holds for every member but store and the harnesses, in the layout or not yet.
            if not (under_crates and manifest.parent.name in HARNESSES | {"store"}):
                for dep in pkg["dependencies"]:
                    name = dep["name"]
                    if name in SQL_CRATES or name.startswith(SQL_CRATE_PREFIXES):
                        self.fail("R1", where,
                                  f"{pkg['name']} depends on {shown_dep(dep)} "
                                  f"({dep.get('kind') or 'normal'}); SQL crates belong to "
                                  "crates/store only")
            if not under_crates:
                self.fail("LAYOUT", where,
                          f"workspace member {pkg['name']} is not a crate directly under crates/; "
                          "the layout must name it")
                continue
            room = manifest.parent.name
            by_dir[room] = pkg
            dir_of_path[manifest.parent] = room

        # Every crate directory is a room or a harness, a member, and named after its room.
        dirs = sorted(p.name for p in crates_dir.iterdir()
                      if p.is_dir() and (p / "Cargo.toml").is_file()) if crates_dir.is_dir() else []
        rooms = []
        for d in dirs:
            where = f"crates/{d}/Cargo.toml"
            if d in HARNESSES:
                continue
            if d not in LEVELS:
                self.fail("LAYOUT", where,
                          f"crates/{d} is not in the layout; the layout (.ci/check-layout.py, "
                          "DESIGN.md) must name it before it can join the workspace")
                continue
            if d not in by_dir:
                self.fail("LAYOUT", where,
                          f"crates/{d} is not a workspace member, so its dependencies go unchecked")
                continue
            name = by_dir[d]["name"]
            if name != package_name(d):
                self.fail("LAYOUT", where,
                          f"the package in crates/{d} is `{name}`, the layout names it "
                          f"`{package_name(d)}`")
            rooms.append(d)

        name_to_room = {package_name(r): r for r in LEVELS}
        name_to_room.update({"tryvoga-" + h: h for h in HARNESSES})

        def dep_room(dep):
            if dep.get("path"):
                return dir_of_path.get(Path(dep["path"]).resolve(), name_to_room.get(dep["name"]))
            return name_to_room.get(dep["name"])

        for room in rooms:
            pkg = by_dir[room]
            where = self.rel(pkg["manifest_path"])
            for dep in pkg["dependencies"]:
                kind = dep.get("kind") or "normal"
                name = dep["name"]
                shown = shown_dep(dep)
                # R2: core depends on no I/O or async crate.
                if room == "core" and kind != "dev" and denied_for_core(name):
                    self.fail("R2", where,
                              f"tryvoga-core depends on {shown} ({kind}), an I/O or async crate; "
                              "the core is pure")
                # R6: the direction of the arrows.
                target = dep_room(dep)
                if target is None or kind == "dev":
                    continue
                self.check_arrow(where, pkg["name"], room, target, shown, kind)

        self.check_sources(rooms)
        return rooms

    def check_arrow(self, where, pkg_name, room, target, shown, kind):
        if target in HARNESSES:
            self.fail("R6", where, f"{pkg_name} depends on the harness {shown} ({kind})")
            return
        if target not in LEVELS:
            return  # reported as LAYOUT
        if room in ONLY_DEPENDS_ON and target not in ONLY_DEPENDS_ON[room]:
            allowed = " and ".join(sorted(ONLY_DEPENDS_ON[room]))
            self.fail("R6", where,
                      f"{pkg_name} depends on {shown} ({kind}); among tryvoga crates {room} "
                      f"depends only on {allowed}")
            return
        lr, lt = LEVELS[room], LEVELS[target]
        if lt > lr or (room, target) in ALLOWED_SIDEWAYS:
            return
        how = "same level" if lt == lr else "reaches up"
        self.fail("R6", where,
                  f"{pkg_name} depends on {shown} ({kind}), which is not below it ({how}: "
                  f"{room} is level {lr}, {target} level {lt})")

    # -- sources -------------------------------------------------------------------------------

    def check_sources(self, rooms):
        crates = self.root / "crates"

        # R1: outside store (and the harnesses), no code names the SQL crates.
        excluded = [crates / "store"] + [crates / h for h in HARNESSES]
        for f in rust_files(self.root, exclude=excluded):
            s = load(f)
            for m in SQL_CODE_WORDS.finditer(s.code):
                self.fail("R1", self.at(s, m.start()),
                          f"`{m.group(1)}` named outside crates/store (all SQL lives in the store)")

        # R3: the rooms that must not name SQL, src and tests alike.
        for room in NO_SQL_ROOMS:
            for f in rust_files(crates / room):
                s = load(f)
                for pattern, what in NO_SQL_CODE:
                    for m in re.finditer(pattern, s.code):
                        self.fail("R3", self.at(s, m.start()),
                                  f"`{what}` in a room that must not name SQL")
                for offset, body in s.strings:
                    for rx in SQL_STATEMENTS:
                        m = rx.search(body)
                        if m:
                            shown = " ".join(body.split())
                            shown = shown if len(shown) <= 80 else shown[:77] + "..."
                            self.fail("R3", self.at(s, offset + m.start()),
                                      f'SQL statement in a room that must not name SQL: "{shown}"')
                            break

        core = non_test_sources(crates / "core" / "src")

        # R2: core's code touches no file, socket, thread, process, stdin, async or clock.
        for s in core:
            for pattern, what in CORE_DENIED_CODE:
                for m in re.finditer(pattern, s.code):
                    self.fail("R2", self.at(s, m.start()), f"core uses {what}; the core is pure")
            for m in re.finditer(r"\buse\s+(::\s*)?std\s*::\s*\{[^;]*;", s.code):
                for g in CORE_DENIED_STD_GROUP.finditer(m.group(0)):
                    self.fail("R2", self.at(s, m.start() + g.start()),
                              f"core imports std's {g.group(1)}; the core is pure")

        # R4: no serde_json::Value (or Map) in core.
        for s in core:
            for m in JSON_VALUE_PATH.finditer(s.code):
                self.fail("R4", self.at(s, m.start()),
                          f"core names serde_json::{m.group(2)}; Command and EventBody are typed")
            for m in JSON_USE.finditer(s.code):
                for g in JSON_USE_NAMES.finditer(m.group(0)):
                    self.fail("R4", self.at(s, m.start() + g.start()),
                              f"core imports serde_json's {g.group(1)}; Command and EventBody "
                              "are typed")

        # R5: ingest declares no type core has.
        core_types = {}
        for s in core:
            for name, off in module_level_types(s.code):
                core_types.setdefault(name, self.at(s, off))
        for s in non_test_sources(crates / "ingest" / "src"):
            for name, off in module_level_types(s.code):
                if name in core_types:
                    self.fail("R5", self.at(s, off),
                              f"ingest declares `{name}`, which core declares too "
                              f"({core_types[name]}); ingest puts out core types")


def shown_dep(dep):
    return dep["name"] if not dep.get("rename") else f"{dep['name']} (as {dep['rename']})"


def denied_for_core(name):
    for d in CORE_DENIED:
        if d.endswith("-*"):
            if name.startswith(d[:-1]):
                return True
        elif name == d:
            return True
    return False


MOD_HEADER = re.compile(r"\bmod\s+[A-Za-z_][A-Za-z0-9_]*\s*$")


def module_level_types(code):
    """(name, offset) of struct/enum/type/trait items whose enclosing blocks are all `mod` blocks
    (so not associated types in impls and traits, nor items local to a function or macro)."""
    decls = list(TYPE_DECL.finditer(code))
    out = []
    stack = []  # True for a mod block
    di = 0
    for i, c in enumerate(code):
        while di < len(decls) and decls[di].start() <= i:
            if all(stack):
                out.append((decls[di].group(2), decls[di].start()))
            di += 1
        if c == "{":
            start = max(code.rfind(";", 0, i), code.rfind("{", 0, i), code.rfind("}", 0, i))
            stack.append(bool(MOD_HEADER.search(code[start + 1:i])))
        elif c == "}" and stack:
            stack.pop()
    while di < len(decls):
        if all(stack):
            out.append((decls[di].group(2), decls[di].start()))
        di += 1
    return out


def die(message):
    """Cannot check at all: exit 2, which is not the 1 of a broken rule."""
    print(f"check-layout: {message}", file=sys.stderr)
    sys.exit(2)


def main():
    if len(sys.argv) > 2:
        die("usage: check-layout.py [REPO_ROOT]")
    root = Path(sys.argv[1] if len(sys.argv) == 2 else Path(__file__).resolve().parent.parent)
    root = root.resolve()
    checker = Checker(root)
    try:
        rooms = checker.run()
    except Exception:  # a bug of the script must not read as a broken rule
        traceback.print_exc()
        die("internal error (above); nothing was decided")
    if checker.failures:
        print(f"layout rules broken: {len(checker.failures)} failure(s) "
              f"({len(rooms)} crates checked; rules in DESIGN.md, Architecture)")
        return 1
    print(f"layout rules hold ({len(rooms)} crates checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
