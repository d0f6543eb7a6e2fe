"""QR images of pass tokens: inline SVG for pages, a standalone SVG and a PNG for sharing.

Every image uses error correction M and the standard quiet zone of 4 modules, so a phone
screen in sunlight and a cheap scanner read it alike. The PNG is written with the standard
library (1-bit greyscale, zlib): neither Pillow nor PyPNG is needed.
"""

from __future__ import annotations

import io
import struct
import zlib

import qrcode
import qrcode.image.svg
from markupsafe import Markup

BORDER = 4
BOX_PX = 10  # pixels per module in the PNG: a 67-character token gives 410 × 410 px
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _code(text: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=BORDER)
    code.add_data(text)
    code.make(fit=True)
    return code


def _svg_image(text: str) -> qrcode.image.svg.SvgPathImage:
    # SvgPathFillImage is SvgPathImage on a white square: readable in dark mode too.
    return _code(text).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)


def qr_svg(text: str, label: str = "") -> Markup:
    """An inline SVG QR code (no XML declaration), sized by CSS."""
    image = _svg_image(text)
    root = image.get_image()
    root.set("role", "img")
    if label:
        root.set("aria-label", label)
    return Markup(image.to_string(encoding="unicode"))


def qr_svg_document(text: str) -> bytes:
    """A standalone SVG file of the QR code (UTF-8, with its XML declaration)."""
    buffer = io.BytesIO()
    _svg_image(text).save(buffer)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def qr_png(text: str, box_px: int = BOX_PX) -> bytes:
    """A PNG of the QR code: black modules on white, `box_px` pixels per module."""
    matrix = _code(text).get_matrix()  # includes the quiet zone; True = dark
    size = len(matrix) * box_px
    rows = bytearray()
    for modules in matrix:
        bits = "".join(("0" if dark else "1") * box_px for dark in modules)  # 1-bit grey: 1 = white
        bits += "1" * (-len(bits) % 8)
        line = b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")  # filter type 0 (none)
        rows += line * box_px
    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)  # depth 1, greyscale
    return (_PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
            + _chunk(b"IEND", b""))
