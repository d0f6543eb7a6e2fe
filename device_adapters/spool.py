"""An append-only spool of events on disk, for while the database is away.

One JSON line per record, written and fsynced before append() returns: a record the bridge
acted on survives a crash or a power cut. A new file is fsynced into its directory too. A crash
in the middle of a write leaves a torn last line, which reading ignores (that record was never
acknowledged). Appends go to the newest file until seal(); replay reads the sealed files and
removes each once it is in the database.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SUFFIX = ".jsonl"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one spool file, in order; a torn (unfinished) last line is skipped."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1]:
        log.warning("spool %s ends in a torn record (a crash while writing): ignored", path.name)
    for number, line in enumerate(lines[:-1], 1):
        try:
            record = json.loads(line)
        except ValueError:
            log.error("spool %s line %d is not a record: skipped", path.name, number)
            continue
        if isinstance(record, dict):
            yield record


class Spool:
    """Durable, append-only records under one directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        """Use (and create, private to this user) `directory`."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._file = None
        self._path: Path | None = None  # the file being appended to
        self._seq = 0

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and return only once it is on disk (flush, then fsync)."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        if "\n" in line:  # json.dumps escapes newlines in strings; a raw one would split the record
            raise ValueError("a spool record must be one line")
        if self._file is None:
            self._seq += 1
            # Names sort in creation order: nanoseconds, then a counter within this process.
            path = self.directory / f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}{SUFFIX}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            self._file, self._path = os.fdopen(fd, "ab"), path
            _fsync_dir(self.directory)
        self._file.write(line.encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def seal(self) -> None:
        """Close the file being appended to: the next append starts a new one."""
        if self._file is not None:
            self._file.close()
            self._file = self._path = None

    def files(self) -> list[Path]:
        """The spool files in the order they were written, sealed or not."""
        return sorted(self.directory.glob(f"*{SUFFIX}"))

    def sealed(self) -> list[Path]:
        """The files no longer appended to (replay takes these)."""
        return [path for path in self.files() if path != self._path]

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in every file, in order."""
        for path in self.files():
            yield from read(path)

    def remove(self, path: Path) -> None:
        """Delete a replayed file, durably."""
        path.unlink(missing_ok=True)
        _fsync_dir(self.directory)
