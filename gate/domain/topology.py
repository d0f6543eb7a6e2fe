"""The site topology file (GATE_SITE_FILE): posts, gates, lanes, devices and units, in TOML.

Pure Python (stdlib `tomllib`): no Flask, no database, no device_adapters import. The caller
passes the device profiles it knows (`known_profiles`, `profile_kinds`), so the same parser
serves the bridge, `gate demo` and tests.

Layout (see deploy/site.example.toml for a documented file)::

    [site]                        code, name, address, units = ["1-1-101", ...], [site.buildings]
    [[posts]]                     code, name
    [[posts.gates]]               code, name, kind = "vehicle" | "pedestrian"
    [[posts.gates.lanes]]         code, direction = "in" | "out" | "both"
    [[posts.gates.lanes.devices]] kind, id, name, profile, options = {...}, credentials

Every problem is reported with the file, the key path (e.g.
``posts[0].gates[1].lanes[0].devices[2].profile``) and what is wrong; all problems of a file
are collected, so an operator fixes them in one pass.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.domain.units import normalize_unit_code

DEVICE_KINDS = ("barrier", "camera", "scanner", "idreader")
GATE_KINDS = ("vehicle", "pedestrian")
DIRECTIONS = ("in", "out", "both")
ID_RE = re.compile(r"[a-z0-9_-]+")  # SPEC §3: `{site}` and `{id}` are topic levels
CODE_MAX = 40  # the database's code columns
NAME_MAX = 120
BUILDING_NAME_MAX = 80
_BUILDING_RE = re.compile(r"\d{1,3}")
_ENV_REF = re.compile(r"env:[A-Za-z_][A-Za-z0-9_]*")
_FILE_REF = re.compile(r"file:/\S*[^/\s]")
# Option keys that would put a secret into the file; secrets belong behind `credentials`.
_SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "private_key")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class DeviceSpec:
    """One device: `id` is its MQTT `{id}` (and its broker username); `credentials` is a reference.

    `credentials` is ``env:VARIABLE`` or ``file:/absolute/path`` (see `resolve_credentials`);
    the secret itself is never in the topology file.
    """

    kind: str
    id: str
    name: str
    profile: str = "native"
    options: dict[str, Any] = field(default_factory=dict)
    credentials: str | None = None


@dataclass(frozen=True)
class LaneSpec:
    """One direction of traffic through a gate."""

    code: str
    direction: str
    devices: list[DeviceSpec] = field(default_factory=list)


@dataclass(frozen=True)
class GateSpec:
    """A vehicle or pedestrian gate."""

    code: str
    name: str
    kind: str
    lanes: list[LaneSpec] = field(default_factory=list)


@dataclass(frozen=True)
class PostSpec:
    """A security post (岗亭) and the gates watched from it."""

    code: str
    name: str
    gates: list[GateSpec] = field(default_factory=list)


@dataclass(frozen=True)
class SiteTopology:
    """A whole site file. `units` are normalised codes; `buildings` maps building code to name."""

    code: str
    name: str
    posts: list[PostSpec] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    address: str | None = None  # shown to visitors on pass share pages
    buildings: dict[str, str] = field(default_factory=dict)
    source: str = field(default="<string>", compare=False)
    digest: str = field(default="", compare=False)  # SHA-256 of the file text, for the shift book

    def devices(self) -> Iterator[tuple[PostSpec, GateSpec, LaneSpec, DeviceSpec]]:
        """Every device with where it is, in file order."""
        for post in self.posts:
            for gate in post.gates:
                for lane in gate.lanes:
                    for device in lane.devices:
                        yield post, gate, lane, device

    def building_name(self, code: str) -> str:
        """The building's name from the file, else the usual "N栋"."""
        return self.buildings.get(code, f"{code}栋")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a site file: where (key path, may be empty) and what."""

    path: str
    message: str


class TopologyError(ValueError):
    """A site file that cannot be used; one line per problem, each naming file and key path."""

    def __init__(self, source: str, problems: Iterable[Problem]):
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """`<file>: <key path>: <what is wrong>` for each problem."""
        return [f"{self.source}: {p.path}: {p.message}" if p.path else f"{self.source}: {p.message}"
                for p in self.problems]

    @property
    def path(self) -> str:
        """Key path of the first problem."""
        return self.problems[0].path if self.problems else ""


def load_topology(path: str | os.PathLike[str], *, known_profiles: Iterable[str] | None = None,
                  profile_kinds: Mapping[str, Iterable[str]] | None = None) -> SiteTopology:
    """Read and validate a site file; TopologyError names the file, key path and problem."""
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TopologyError(source, [Problem("", f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8-sig")  # a BOM from a Windows editor is harmless
    except UnicodeDecodeError as exc:
        raise TopologyError(source, [Problem("", f"not UTF-8 text (byte {exc.start})")]) from None
    return parse_topology(text, source, known_profiles=known_profiles, profile_kinds=profile_kinds)


def parse_topology(text: str, source: str = "<string>", *, known_profiles: Iterable[str] | None = None,
                   profile_kinds: Mapping[str, Iterable[str]] | None = None) -> SiteTopology:
    """Validate site-file text.

    `known_profiles` (e.g. device_adapters.profiles.names()) and `profile_kinds` (profile name
    to the device kinds it drives) enable the profile checks; when both are None only the
    profile name's form is checked.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(source, [Problem("", f"not valid TOML: {exc}")]) from None
    kinds = {name: tuple(k) for name, k in profile_kinds.items()} if profile_kinds is not None else None
    known = set(known_profiles) if known_profiles is not None else (set(kinds) if kinds is not None else None)
    reader = _Reader(known, kinds)
    topo = reader.site_file(doc)
    if reader.problems or topo is None:
        raise TopologyError(source, reader.problems)
    return SiteTopology(code=topo.code, name=topo.name, posts=topo.posts, units=topo.units,
                        address=topo.address, buildings=topo.buildings, source=source,
                        digest=hashlib.sha256(text.encode("utf-8")).hexdigest())


def resolve_credentials(reference: str, environ: Mapping[str, str] | None = None) -> str:
    """The secret a `credentials` reference points to; ValueError names the variable or file.

    ``env:NAME`` reads the environment variable; ``file:/path`` reads the file (one trailing
    newline removed). The error message never contains the secret.
    """
    environ = os.environ if environ is None else environ
    if _ENV_REF.fullmatch(reference or ""):
        name = reference[4:]
        if not environ.get(name):
            raise ValueError(f"credentials {reference}: environment variable {name} is not set or empty")
        return environ[name]
    if _FILE_REF.fullmatch(reference or ""):
        path = reference[5:]
        try:
            value = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"credentials {reference}: cannot read {path}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
        value = value.removesuffix("\n").removesuffix("\r")
        if not value:
            raise ValueError(f"credentials {reference}: {path} is empty")
        return value
    raise ValueError(f"credentials {reference!r}: not an 'env:NAME' or 'file:/path' reference")


# --- validation ---------------------------------------------------------------------------

def _key(path: str, key: str) -> str:
    shown = key if _BARE_KEY.fullmatch(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{path}.{shown}" if path else shown


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


class _Reader:
    """Walks the parsed TOML, collecting problems; returns None for a part that is unusable."""

    def __init__(self, known: set[str] | None, kinds: dict[str, tuple[str, ...]] | None):
        self.known = known
        self.kinds = kinds
        self.problems: list[Problem] = []
        self.device_ids: dict[str, tuple[str, str]] = {}  # id -> (key path, kind)
        self.gate_codes: dict[str, str] = {}

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # generic checks

    def keys(self, table: Mapping[str, Any], path: str, required: tuple[str, ...],
             optional: tuple[str, ...]) -> bool:
        """Report unknown and missing keys; True when all required keys are present."""
        allowed = required + optional
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
                self.fail(_key(path, key), f"unknown key ({hint})")
        ok = True
        for key in required:
            if key not in table:
                self.fail(_key(path, key), "missing key")
                ok = False
        return ok

    def table(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, f"must be a table, not {_type_name(value)}")
            return None
        return value

    def items(self, table: Mapping[str, Any], key: str, path: str, *,
              nonempty: bool = False) -> list[tuple[str, dict[str, Any] | None]]:
        """An optional array of tables (`[[key]]`): (key path, table or None when not a table)."""
        where = _key(path, key)
        if key not in table:
            return []
        value = table[key]
        if not isinstance(value, list):
            self.fail(where, f"must be an array of tables (written [[...]]), not {_type_name(value)}")
            return [(where, None)]
        if nonempty and not value:
            self.fail(where, "must not be empty")
        return [(f"{where}[{i}]", self.table(item, f"{where}[{i}]")) for i, item in enumerate(value)]

    def text(self, table: Mapping[str, Any], key: str, path: str, *, max_len: int = NAME_MAX) -> str | None:
        where = _key(path, key)
        if key not in table:
            return None  # reported by keys()
        value = table[key]
        if not isinstance(value, str):
            self.fail(where, f"must be a string, not {_type_name(value)}")
            return None
        value = value.strip()
        if not value:
            self.fail(where, "must not be empty")
            return None
        if len(value) > max_len:
            self.fail(where, f"is {len(value)} characters long; at most {max_len} are allowed")
            return None
        return value

    def ident(self, table: Mapping[str, Any], key: str, path: str) -> str | None:
        where = _key(path, key)
        if key not in table:
            return None  # reported by keys()
        value = table[key]
        if not isinstance(value, str):
            self.fail(where, f"must be a string, not {_type_name(value)}")
            return None
        if not ID_RE.fullmatch(value):
            self.fail(where, f"{value!r} is not a valid id: use only lower-case letters, digits, "
                             "'-' and '_' ([a-z0-9_-]+)")
            return None
        if len(value) > CODE_MAX:
            self.fail(where, f"{value!r} is longer than {CODE_MAX} characters")
            return None
        return value

    def choice(self, table: Mapping[str, Any], key: str, path: str, choices: tuple[str, ...],
               what: str) -> str | None:
        where = _key(path, key)
        if key not in table:
            return None  # reported by keys()
        value = table[key]
        if not isinstance(value, str):
            self.fail(where, f"must be a string, not {_type_name(value)}")
            return None
        if value not in choices:
            self.fail(where, f"unknown {what} {value!r}; use one of: {', '.join(choices)}")
            return None
        return value

    # the file's parts

    def site_file(self, doc: dict[str, Any]) -> SiteTopology | None:
        self.keys(doc, "", ("site", "posts"), ())
        site = self.table(doc["site"], "site") if "site" in doc else None
        code = name = address = None
        units: list[str] = []
        buildings: dict[str, str] = {}
        if site is not None:
            self.keys(site, "site", ("code", "name"), ("address", "units", "buildings"))
            code = self.ident(site, "code", "site")
            name = self.text(site, "name", "site")
            address = self.text(site, "address", "site", max_len=200)
            units = self.units(site["units"], "site.units") if "units" in site else []
            buildings = self.buildings(site["buildings"], "site.buildings") if "buildings" in site else {}
        posts = [self.post(t, p) if t is not None else None
                 for p, t in self.items(doc, "posts", "", nonempty=True)]
        if site is None or "posts" not in doc or code is None or name is None or None in posts:
            return None
        return SiteTopology(code=code, name=name, posts=posts, units=units, buildings=buildings,
                            address=address)

    def units(self, value: Any, path: str) -> list[str]:
        if not isinstance(value, list):
            self.fail(path, f"must be an array of unit codes like \"1-1-101\", not {_type_name(value)}")
            return []
        seen: dict[str, int] = {}
        codes = []
        for i, item in enumerate(value):
            where = f"{path}[{i}]"
            if not isinstance(item, str):
                self.fail(where, f"must be a unit code string like \"1-1-101\", not {_type_name(item)}")
                continue
            try:
                code = normalize_unit_code(item)
            except ValueError as exc:
                self.fail(where, f"{item!r}: {exc}")
                continue
            if code in seen:
                self.fail(where, f"unit {code} is listed twice (also {path}[{seen[code]}])")
                continue
            seen[code] = i
            codes.append(code)
        return codes

    def buildings(self, value: Any, path: str) -> dict[str, str]:
        table = self.table(value, path)
        names: dict[str, str] = {}
        for key in table or {}:
            where = _key(path, key)
            if not _BUILDING_RE.fullmatch(key):
                self.fail(where, f"{key!r} is not a building number (1 to 3 digits, as in unit 1-1-101)")
                continue
            name = self.text(table, key, path, max_len=BUILDING_NAME_MAX)
            if name is not None:
                names[str(int(key))] = name
        return names

    def post(self, table: dict[str, Any], path: str) -> PostSpec | None:
        self.keys(table, path, ("code", "name"), ("gates",))
        code, name = self.ident(table, "code", path), self.text(table, "name", path)
        gates = [self.gate(t, p) if t is not None else None for p, t in self.items(table, "gates", path)]
        if code is None or name is None or None in gates:
            return None
        return PostSpec(code=code, name=name, gates=gates)

    def gate(self, table: dict[str, Any], path: str) -> GateSpec | None:
        self.keys(table, path, ("code", "name", "kind"), ("lanes",))
        code, name = self.ident(table, "code", path), self.text(table, "name", path)
        kind = self.choice(table, "kind", path, GATE_KINDS, "gate kind")
        if code is not None:
            if code in self.gate_codes:
                self.fail(_key(path, "code"), f"gate {code!r} is already defined at {self.gate_codes[code]}; "
                                              "gate codes must be unique in the site")
                code = None
            else:
                self.gate_codes[code] = path
        lanes: list[LaneSpec | None] = []
        seen: dict[str, str] = {}
        for lane_path, lane_table in self.items(table, "lanes", path):
            lane = self.lane(lane_table, lane_path) if lane_table is not None else None
            if lane is not None and lane.code in seen:
                self.fail(f"{lane_path}.code", f"lane {lane.code!r} is already defined at {seen[lane.code]}")
                lane = None
            elif lane is not None:
                seen[lane.code] = lane_path
            lanes.append(lane)
        if code is None or name is None or kind is None or None in lanes:
            return None
        return GateSpec(code=code, name=name, kind=kind, lanes=lanes)

    def lane(self, table: dict[str, Any], path: str) -> LaneSpec | None:
        self.keys(table, path, ("code", "direction"), ("devices",))
        code = self.ident(table, "code", path)
        direction = self.choice(table, "direction", path, DIRECTIONS, "direction")
        devices = [self.device(t, p) if t is not None else None
                   for p, t in self.items(table, "devices", path)]
        if code is None or direction is None or None in devices:
            return None
        return LaneSpec(code=code, direction=direction, devices=devices)

    def device(self, table: dict[str, Any], path: str) -> DeviceSpec | None:
        self.keys(table, path, ("kind", "id", "name"), ("profile", "options", "credentials"))
        kind = self.choice(table, "kind", path, DEVICE_KINDS, "device kind")
        device_id = self.ident(table, "id", path)
        name = self.text(table, "name", path)
        profile = self.profile(table, path, kind)
        options = self.options(table["options"], f"{path}.options") if "options" in table else {}
        credentials = self.credentials(table, path) if "credentials" in table else None
        if device_id is not None:
            # A device's id is also its broker username (deploy/mosquitto/gatehouse.acl, %u), so
            # it must be unique across kinds: a camera sharing a barrier's id could act as it.
            if device_id in self.device_ids:
                where, other_kind = self.device_ids[device_id]
                self.fail(_key(path, "id"), f"device id {device_id!r} is already used by the {other_kind} "
                                            f"at {where}; device ids are MQTT usernames and must be "
                                            "unique across all kinds")
                device_id = None
            else:
                self.device_ids[device_id] = (path, kind or "device")
        if None in (kind, device_id, name, profile, options) or (
                "credentials" in table and credentials is None):
            return None
        return DeviceSpec(kind=kind, id=device_id, name=name, profile=profile, options=options,
                          credentials=credentials)

    def profile(self, table: Mapping[str, Any], path: str, kind: str | None) -> str | None:
        if "profile" not in table:
            profile = "native"
        else:
            profile = table["profile"]
            if not isinstance(profile, str):
                self.fail(_key(path, "profile"), f"must be a string, not {_type_name(profile)}")
                return None
        where = _key(path, "profile")
        if self.known is not None and profile not in self.known:
            close = difflib.get_close_matches(profile, sorted(self.known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(sorted(self.known))
            self.fail(where, f"unknown device profile {profile!r}{hint}; known: {known}")
            return None
        if self.kinds is not None and kind is not None and profile in self.kinds \
                and kind not in self.kinds[profile]:
            self.fail(where, f"profile {profile!r} cannot drive {kind} devices; it drives: "
                             f"{', '.join(self.kinds[profile]) or 'nothing'}")
            return None
        return profile

    def options(self, value: Any, path: str) -> dict[str, Any] | None:
        table = self.table(value, path)
        if table is None:
            return None
        ok = True
        for key in table:
            lowered = key.lower()
            if any(word in lowered for word in _SECRET_WORDS):
                self.fail(_key(path, key), "looks like a secret; keep secrets out of this file and point "
                                           "to them with credentials = \"env:NAME\" or \"file:/path\"")
                ok = False
        return dict(table) if ok else None

    def credentials(self, table: Mapping[str, Any], path: str) -> str | None:
        where = _key(path, "credentials")
        value = table["credentials"]
        if not isinstance(value, str):
            self.fail(where, f"must be a string, not {_type_name(value)}")
            return None
        if not (_ENV_REF.fullmatch(value) or _FILE_REF.fullmatch(value)):
            # Never echo the value: it may be the secret pasted in by mistake.
            self.fail(where, "must be a reference, \"env:VARIABLE\" or \"file:/absolute/path\", "
                             "never the secret itself")
            return None
        return value
