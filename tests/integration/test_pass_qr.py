"""Pass QR images round trip: what the share page serves is what the gate's decoders read back,
and the text read resolves to the same pass."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
import zxingcpp
from sqlalchemy import select

from gate.extensions import db
from gate.models import Site, VisitorPass
from gate.services import pass_gate, passes
from kiosk_ui.qr_images import BORDER, qr_png, qr_svg, qr_svg_document

RESIDENT = ("13800000001", "resident-demo")


@pytest.fixture
def pass_token(app, client) -> tuple[int, str]:
    """A pass the demo resident created on the portal, and its token."""
    client.post("/login", data={"login": RESIDENT[0], "password": RESIDENT[1]})
    response = client.post("/portal/passes/new", data={"name": "王小明", "plate": "粤B12345"})
    assert response.status_code == 302
    pass_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        return pass_id, passes.token_for(db.session.get(VisitorPass, pass_id))


def _decode_both(png: bytes) -> tuple[str, list[str]]:
    """The text OpenCV reads from the PNG, and what zxing-cpp reads."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "not a PNG OpenCV can load"
    # The ArUco-based detector: the classic one misses about 2 % of clean version-4 codes.
    text, _points, _straight = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    return text, [result.text for result in zxingcpp.read_barcodes(image)]


def _resolves_to(app, text: str, pass_id: int) -> None:
    with app.app_context():
        site = db.session.scalars(select(Site).where(Site.code == "demo")).one()
        assert pass_gate.resolve(site, text).id == pass_id


def test_png_route_round_trip(app, pass_token):
    """Protects scanning at the gate: the share page's PNG decodes (OpenCV and zxing-cpp) to the bare
    token, which resolves to the same pass; the image may be cached privately for 5 minutes."""
    pass_id, token = pass_token
    assert len(token) <= 120
    response = app.test_client().get(f"/p/{token}.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "private, max-age=300"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    opencv, zxing = _decode_both(response.data)
    assert opencv == token and zxing == [token]
    _resolves_to(app, opencv, pass_id)
    _resolves_to(app, zxing[0], pass_id)


def test_qr_png_helper_round_trip(app, pass_token):
    """Protects the image helper itself: qr_png's output decodes to exactly its input, with the
    4-module quiet zone white all round."""
    pass_id, token = pass_token
    png = qr_png(token)
    opencv, zxing = _decode_both(png)
    assert opencv == token and zxing == [token]
    _resolves_to(app, opencv, pass_id)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image.shape[0] == image.shape[1] and image.shape[0] % 10 == 0
    margin = BORDER * 10  # 10 px per module by default
    assert image[:margin].min() == image[-margin:].min() == image[:, :margin].min() == 255
    assert image.min() == 0


def test_svg_route_is_valid_svg(app, pass_token):
    """Protects the vector image: the SVG route serves well-formed SVG with the right content type."""
    _pass_id, token = pass_token
    response = app.test_client().get(f"/p/{token}.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "private, max-age=300"
    root = ET.fromstring(response.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
    assert root.findall(".//{http://www.w3.org/2000/svg}path")
    assert response.data == qr_svg_document(token)


def test_inline_svg_has_no_xml_declaration(pass_token):
    """Protects the pages: the inline SVG is a fragment that can sit inside HTML."""
    _pass_id, token = pass_token
    markup = str(qr_svg(token, "QR"))
    assert markup.startswith("<svg") and "<?xml" not in markup and 'aria-label="QR"' in markup
    ET.fromstring(markup)


def test_share_link_scanned_as_url_also_resolves(app, pass_token):
    """Protects visitors who show the share page's URL instead of the QR: the gate reads the token
    inside the link too."""
    pass_id, token = pass_token
    _resolves_to(app, f"http://localhost/p/{token}", pass_id)
