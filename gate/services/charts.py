"""Bar charts drawn on the server with reportlab.graphics, so they print the same everywhere.

One Drawing serves both outputs: `to_svg` for the console (an <img>), and the PDF places the
Drawing itself. Titles and labels arrive already translated. Chinese text uses reportlab's
built-in CID font STSong-Light (no font file needed); in SVG that name means nothing to a
browser, so the text's font-family is rewritten to common CJK system fonts.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from reportlab.graphics import renderSVG
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, Group, String
from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

FONT = "STSong-Light"
SVG_FONTS = ("'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', "
             "'WenQuanYi Micro Hei', 'Noto Serif CJK SC', SimSun, sans-serif")
PALETTE = (colors.HexColor("#2f6fb0"), colors.HexColor("#e08a2e"), colors.HexColor("#4c9a5b"),
           colors.HexColor("#8d5fb3"))
WIDTH, HEIGHT = 720, 300


def register_fonts() -> None:
    """Register the CJK font once (reportlab keeps a process-wide registry)."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def bar_chart(title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *,
              x_label: str, y_label: str, note: str = "", value_labels: bool = False,
              width: int = WIDTH, height: int = HEIGHT) -> Drawing:
    """A titled vertical bar chart: one group of bars per category, one colour per series."""
    register_fonts()
    drawing = Drawing(width, height)
    left, bottom, top = 56, 58 if note else 44, 44 if len(series) > 1 else 30
    chart = VerticalBarChart()
    chart.x, chart.y = left, bottom
    chart.width, chart.height = width - left - 16, height - bottom - top
    chart.data = [[v or 0 for v in values] for _name, values in series] or [[0] * len(categories)]
    chart.categoryAxis.categoryNames = [str(c) for c in categories]
    chart.categoryAxis.labels.fontName = chart.valueAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 8 if len(categories) > 12 else 9
    chart.categoryAxis.labels.boxAnchor = "n"
    chart.valueAxis.labels.fontSize = 8
    chart.valueAxis.valueMin = 0
    peak = max((max(values, default=0) for values in chart.data), default=0)
    chart.valueAxis.valueMax = max(peak * 1.15, 4)
    if peak <= 8:  # whole-number counts: no ticks at 0.5
        chart.valueAxis.valueStep = 1
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = colors.HexColor("#dddddd")
    chart.groupSpacing, chart.barSpacing = 4, 0
    for index in range(len(chart.data)):
        chart.bars[index].fillColor = PALETTE[index % len(PALETTE)]
        chart.bars[index].strokeColor = None
    if value_labels:
        chart.barLabelFormat = lambda v: f"{v:g}" if v else ""
        chart.barLabels.fontName, chart.barLabels.fontSize = FONT, 8
        chart.barLabels.nudge = 6
    drawing.add(chart)
    drawing.add(String(width / 2, height - 18, title, fontName=FONT, fontSize=13, textAnchor="middle"))
    drawing.add(String(left + chart.width / 2, bottom - 30, x_label, fontName=FONT, fontSize=9,
                       textAnchor="middle"))
    # The value axis title reads bottom to top: a String is rotated through its Group.
    drawing.add(Group(String(0, 0, y_label, fontName=FONT, fontSize=9, textAnchor="middle"),
                      transform=(0, 1, -1, 0, 14, bottom + chart.height / 2)))
    if note:
        drawing.add(String(left, 6, note, fontName=FONT, fontSize=8, fillColor=colors.HexColor("#555555")))
    if len(series) > 1:
        legend = Legend()
        legend.x, legend.y = left, height - 30
        legend.fontName, legend.fontSize = FONT, 9
        legend.alignment, legend.columnMaximum, legend.deltax = "right", 1, 110
        legend.colorNamePairs = [(PALETTE[i % len(PALETTE)], name) for i, (name, _v) in enumerate(series)]
        drawing.add(legend)
    return drawing


def hour_labels() -> list[str]:
    """0 … 23, the local hours."""
    return [str(h) for h in range(24)]


def to_svg(drawing: Drawing, title: str = "") -> str:
    """The drawing as an SVG document with a real <title> and CJK fonts a browser can find."""
    text = renderSVG.drawToString(drawing)
    text = text.replace("<title>...</title>", f"<title>{escape(title)}</title>", 1)
    text = text.replace("<desc>...</desc>", "", 1)
    return text.replace(f"font-family: {FONT};", f"font-family: {SVG_FONTS};")
