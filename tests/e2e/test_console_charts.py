"""Charts in Chromium: a supervisor opens the charts page for the demo shift's day with visits,
cars and violations on it; the server-drawn SVG charts load as images and the PDF downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import SUPERVISOR
from tests.integration.test_report_charts import Clock, _activity

pytestmark = pytest.mark.e2e


def _loaded_width(page: Page, test_id: str) -> int:
    """The image's natural width once it has loaded (0: broken or not an image)."""
    image = page.get_by_test_id(test_id)
    expect(image).to_be_visible()
    page.wait_for_function("el => el.complete", arg=image.element_handle())
    return image.evaluate("el => el.naturalWidth")


def test_supervisor_sees_charts_and_downloads_the_pdf(page: Page, app, live_server: str,
                                                       screens_dir: Path, monkeypatch):
    """Protects the printable charts: the traffic, wait and violation charts are real images in
    the browser (naturalWidth > 0), the totals match the day's data, and the post's PDF link
    downloads a PDF named after the post and day."""
    day, post_id = _activity(app, Clock(monkeypatch))
    page.goto(f"{live_server}/login")
    page.get_by_test_id("login").fill(SUPERVISOR[0])
    page.get_by_test_id("password").fill(SUPERVISOR[1])
    page.get_by_test_id("submit").click()
    page.goto(f"{live_server}/console/charts/?day={day.isoformat()}&post={post_id}")
    expect(page.get_by_test_id("traffic-totals")).to_contain_text("4")
    for chart in ("traffic-chart", "waits-chart", "violations-chart"):
        assert _loaded_width(page, chart) > 0, chart
    expect(page.get_by_test_id("violation-counts")).to_contain_text("2")
    page.screenshot(path=str(screens_dir / "console-charts.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_test_id(f"pdf-{post_id}").click()
    assert download.value.suggested_filename == f"daily-report-east-{day.isoformat()}.pdf"
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
