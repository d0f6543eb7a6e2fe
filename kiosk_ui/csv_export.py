"""CSV for Excel: UTF-8 with a BOM, and cells Excel would run as formulas neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response

CSV_UNSAFE = ("=", "+", "-", "@", "\t", "\r")  # Excel would run these as formulas


def cell(value: object) -> str:
    """A value as a CSV cell; one Excel would read as a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_UNSAFE) else text


def uncell(text: str) -> str:
    """Undo `cell` on a value read back from a file this module wrote."""
    return text[1:] if text.startswith("'") and text[1:].startswith(CSV_UNSAFE) else text


def decode_upload(data: bytes) -> str | None:
    """An uploaded file's text: UTF-8 (with or without BOM), or GB18030 as Excel saves it in China."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def csv_response(header: Iterable[object], rows: Iterable[Iterable[object]], filename: str) -> Response:
    """A CSV download (UTF-8 with BOM so Excel reads Chinese), every cell neutralised, not cached."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([cell(v) for v in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return Response(buffer.getvalue().encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
