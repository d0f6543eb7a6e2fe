"""CSV for Excel: UTF-8 with a BOM, and cells Excel would run as formulas neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response, request
from flask_babel import gettext as _

CSV_UNSAFE = ("=", "+", "-", "@", "\t", "\r")  # Excel would run these as formulas
MAX_UPLOAD_BYTES = 1024 * 1024


class UploadRefused(Exception):
    """The uploaded file cannot be read; `message` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


def uploaded_csv(field: str = "file") -> str:
    """The text of the CSV uploaded in `field`; UploadRefused when missing, over 1 MB or not text."""
    data = b""
    if upload_file := request.files.get(field):
        with upload_file.stream:  # a large upload is spooled to a temporary file: close it now
            data = upload_file.read(MAX_UPLOAD_BYTES + 1)
    if not data:
        raise UploadRefused(_("Choose a CSV file to import."))
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused(_("The file is larger than 1 MB."))
    text = decode_upload(data)
    if text is None:
        raise UploadRefused(_("Save the file as CSV (UTF-8) and try again."))
    return text


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
