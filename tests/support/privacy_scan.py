"""Looking for personal values where they must not be (SPEC §5): a clear ID number anywhere in the
database, log text, exported files, PDFs and backups.

A clear number is matched however it is written: any grouping with spaces or dashes between the
characters, and a lower-case check character x. Each finding names where it was found (table
and column, log, file, archive member) so a failing test says which path leaks.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
import tarfile
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SAWarning

from gate.domain.idcard import check_char

SEPARATOR = r"[\s\-]*"


def valid_id(serial: int, birth: date = date(1980, 1, 1), region: str = "110105") -> str:
    """A valid 18-character resident ID number (check character computed); serial 0-999."""
    first17 = f"{region}{birth:%Y%m%d}{serial:03d}"
    return first17 + check_char(first17)


def id_pattern(numbers: Iterable[str]) -> re.Pattern[str]:
    """A pattern for these numbers written any way: spaces or dashes between characters, any case."""
    forms = [SEPARATOR.join(re.escape(ch) for ch in number.upper()) for number in numbers]
    return re.compile("|".join(f"(?<![0-9])(?:{f})(?![0-9])" for f in forms), re.IGNORECASE)


def value_pattern(values: Iterable[str]) -> re.Pattern[str]:
    """A pattern for plain values (names, phones, plates, hashes), matched as written."""
    return re.compile("|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True) if v))


@dataclass(frozen=True)
class Finding:
    """One place a value was found, with a little context (the value itself masked)."""

    where: str
    context: str

    def __str__(self) -> str:
        return f"{self.where}: …{self.context}…"


def scan_text(where: str, text: str, pattern: re.Pattern[str]) -> list[Finding]:
    """Every match of the pattern in a text."""
    found = []
    for match in pattern.finditer(text):
        start, end = max(match.start() - 30, 0), match.end() + 30
        found.append(Finding(where, text[start:match.start()] + "<HERE>" + text[match.end():end]))
    return found


def scan_bytes(where: str, data: bytes, pattern: re.Pattern[str]) -> list[Finding]:
    """Like scan_text, on bytes read as UTF-8 (undecodable bytes dropped)."""
    return scan_text(where, data.decode("utf-8", "ignore"), pattern)


def _as_text(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "ignore")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return None


def scan_database(engine: Engine, pattern: re.Pattern[str]) -> list[Finding]:
    """Every text, JSON or binary value of every table in the database (reflected: all of them,
    not only the models')."""
    meta = MetaData()
    found: list[Finding] = []
    # A snapshot read: on SQLite no write lock (gate.db_events), so open sessions do not block it.
    with engine.connect().execution_options(gate_read_only=True) as conn:
        with warnings.catch_warnings():  # expression indexes are not reflected; only columns matter
            warnings.simplefilter("ignore", SAWarning)
            meta.reflect(bind=conn)
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    text = _as_text(value)
                    if text:
                        found += scan_text(f"database {table.name}.{column}", text, pattern)
    return found


@contextmanager
def captured_logs(level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """Every log record of the process (web, bridge threads, libraries) at `level`, formatted as
    production formats it (gate.logs.FORMAT), into the yielded buffer."""
    from gate.logs import FORMAT, RequestIdFilter

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.setLevel(level)
    root = logging.getLogger()
    # Config files (alembic.ini via the migrations) quiet some loggers: let every one through.
    named = logging.Logger.manager.loggerDict.values()
    loggers = [root, *(lg for lg in named if isinstance(lg, logging.Logger))]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers[1:]:
        lg.setLevel(logging.NOTSET)
        lg.disabled = False
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for lg, old_level, disabled in saved:
            lg.setLevel(old_level)
            lg.disabled = disabled


def pdf_text(data: bytes) -> str:
    """The text of a PDF (pypdf), page after page."""
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def scan_tree(root: Path, pattern: re.Pattern[str]) -> list[Finding]:
    """Every file under a folder (e.g. the bridge's offline spool)."""
    found: list[Finding] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        found += scan_bytes(f"file {path}", path.read_bytes(), pattern)
    return found


def pg_dump_text(dump: bytes) -> str:
    """A pg_dump custom-format archive as SQL text (pg_restore), so compressed data is read."""
    tool = shutil.which("pg_restore")
    if tool is None:
        raise FileNotFoundError("pg_restore")
    with tempfile.NamedTemporaryFile(suffix=".pgdump") as staged:
        staged.write(dump)
        staged.flush()
        done = subprocess.run([tool, "--file=-", staged.name], capture_output=True)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return done.stdout.decode("utf-8", "ignore")


def scan_backup(archive: Path, pattern: re.Pattern[str]) -> list[Finding]:
    """Every member of a `gate backup` archive; a PostgreSQL dump is read through pg_restore."""
    found: list[Finding] = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()
            where = f"backup {archive.name}:{member.name}"
            if member.name.endswith(".pgdump"):
                found += scan_text(where, pg_dump_text(data), pattern)
            else:
                found += scan_bytes(where, data, pattern)
    return found


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases)."""
    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def report(findings: list[Finding]) -> str:
    """The findings as lines, for an assertion message."""
    more = f"\n… {len(findings) - 40} more" if len(findings) > 40 else ""
    return "\n".join(str(f) for f in findings[:40]) + more


CSV_EXPORTS = ("/console/book/export.csv", "/console/violations/export.csv", "/desk/slips/export.csv",
               "/desk/vehicles/export.csv", "/console/vehicles/export.csv?list=blocklist",
               "/console/vehicles/export.csv?list=vip")


def exports(client, post_ids: Iterable[int], day: date) -> dict[str, str]:
    """Every CSV export and each post's PDF daily report for `day`, as text, fetched by a signed-in
    supervisor's client (url -> text); any answer but 200 fails."""
    texts: dict[str, str] = {}
    for url in CSV_EXPORTS:
        answer = client.get(url)
        assert answer.status_code == 200, f"{url}: {answer.status_code}"
        texts[url] = answer.get_data().decode("utf-8-sig")
    for post_id in post_ids:
        url = f"/console/charts/daily.pdf?post={post_id}&day={day.isoformat()}"
        answer = client.get(url)
        assert answer.status_code == 200 and answer.mimetype == "application/pdf", url
        texts[url] = pdf_text(answer.get_data())
    return texts


def scan_exports(texts: dict[str, str], pattern: re.Pattern[str]) -> list[Finding]:
    """Findings in the texts `exports` returned."""
    return [f for url, text in texts.items() for f in scan_text(f"export {url}", text, pattern)]
