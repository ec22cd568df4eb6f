"""The executive deck's page furniture: landscape A4 pages, styles, tables that wrap instead of overflowing.

:mod:`mmm_meridian.report.sections` writes the content; this module turns it into a PDF with reportlab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

PAGE = landscape(A4)
MARGIN = 1.4 * cm
FRAME_WIDTH = PAGE[0] - 2 * MARGIN
FRAME_HEIGHT = PAGE[1] - 2 * MARGIN - 0.6 * cm  # room for the footer
ACCENT = colors.HexColor("#1f4e79")
LIGHT = colors.HexColor("#eef2f7")

_base = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("title", parent=_base["Title"], fontSize=30, leading=36, textColor=ACCENT,
                            alignment=TA_LEFT),
    "subtitle": ParagraphStyle("subtitle", parent=_base["Normal"], fontSize=14, leading=18,
                               textColor=colors.HexColor("#444444")),
    "h1": ParagraphStyle("h1", parent=_base["Heading1"], fontSize=18, leading=22, textColor=ACCENT, spaceAfter=6),
    "h2": ParagraphStyle("h2", parent=_base["Heading2"], fontSize=12.5, leading=16, textColor=ACCENT, spaceBefore=6,
                         spaceAfter=3),
    "body": ParagraphStyle("body", parent=_base["BodyText"], fontSize=10, leading=13.5),
    "small": ParagraphStyle("small", parent=_base["BodyText"], fontSize=8, leading=10),
    "cell": ParagraphStyle("cell", parent=_base["BodyText"], fontSize=8.3, leading=10),
    "head": ParagraphStyle("head", parent=_base["BodyText"], fontSize=8.3, leading=10, textColor=colors.white,
                           fontName="Helvetica-Bold"),
    "note": ParagraphStyle("note", parent=_base["BodyText"], fontSize=9, leading=12,
                           textColor=colors.HexColor("#8a5a00"), backColor=colors.HexColor("#fff6e0"),
                           borderPadding=4, spaceBefore=4, spaceAfter=6),
    "kpi_value": ParagraphStyle("kpi_value", parent=_base["Normal"], fontSize=17, leading=21, textColor=ACCENT,
                                fontName="Helvetica-Bold"),
    "kpi_label": ParagraphStyle("kpi_label", parent=_base["Normal"], fontSize=8.5, leading=11,
                                textColor=colors.HexColor("#555555")),
}


def escape(text: Any) -> str:
    """Text safe for reportlab's mini-markup (user data may hold <, > or &)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Deck:
    """A growing list of flowables with helpers for the deck's building blocks."""

    title: str
    footer: str
    story: list[Any] = field(default_factory=list)

    def page_break(self) -> None:
        if self.story and not isinstance(self.story[-1], PageBreak):
            self.story.append(PageBreak())

    def heading(self, text: str, level: int = 1) -> None:
        self.story.append(Paragraph(escape(text), STYLES["h1" if level == 1 else "h2"]))

    def text(self, markup: str, style: str = "body") -> None:
        """A paragraph; ``markup`` may use reportlab tags (<b>, <i>) and must escape user data itself."""
        self.story.append(Paragraph(markup, STYLES[style]))

    def bullets(self, items: list[str], style: str = "body") -> None:
        for item in items:
            self.story.append(Paragraph(item, STYLES[style], bulletText="\u2022"))

    def note(self, text: str) -> None:
        self.story.append(Paragraph(escape(text), STYLES["note"]))

    def space(self, height_cm: float = 0.3) -> None:
        self.story.append(Spacer(1, height_cm * cm))

    def image(self, path: Path, max_width: float = FRAME_WIDTH, max_height: float = FRAME_HEIGHT * 0.62) -> None:
        """A chart scaled to fit the width and ``max_height`` (points), keeping its aspect ratio."""
        width, height = ImageReader(str(path)).getSize()
        scale = min(max_width / width, max_height / height)
        self.story.append(Image(str(path), width=width * scale, height=height * scale, hAlign="LEFT"))

    def table(self, header: list[str], rows: list[list[Any]], widths: list[float] | None = None,
              align_right_from: int = 1, highlight: list[int] | None = None) -> None:
        """A table whose cells wrap; ``widths`` are fractions of the page width (default: equal)."""
        widths = widths or [1.0 / len(header)] * len(header)
        total = sum(widths)
        col_widths = [FRAME_WIDTH * w / total for w in widths]
        right = ParagraphStyle("cell_r", parent=STYLES["cell"], alignment=2)
        head_right = ParagraphStyle("head_r", parent=STYLES["head"], alignment=2)
        data = [[Paragraph(escape(h), head_right if i >= align_right_from else STYLES["head"])
                 for i, h in enumerate(header)]]
        for row in rows:
            data.append([Paragraph(escape(v), right if i >= align_right_from else STYLES["cell"])
                         for i, v in enumerate(row)])
        style = [("BACKGROUND", (0, 0), (-1, 0), ACCENT), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                 ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, LIGHT]),
                 ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#c8d0da")),
                 ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5)]
        for r in highlight or []:
            style.append(("FONTNAME", (0, r + 1), (-1, r + 1), "Helvetica-Bold"))
        table = Table(data, colWidths=col_widths, repeatRows=1, hAlign="LEFT")
        table.setStyle(TableStyle(style))
        self.story.append(table)

    def kpis(self, items: list[tuple[str, str]]) -> None:
        """A row of headline numbers: (value, label) pairs."""
        cells = [[Paragraph(escape(v), STYLES["kpi_value"]) for v, _ in items],
                 [Paragraph(escape(label), STYLES["kpi_label"]) for _, label in items]]
        table = Table(cells, colWidths=[FRAME_WIDTH / len(items)] * len(items), hAlign="LEFT")
        table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), LIGHT),
                                   ("LINEAFTER", (0, 0), (-2, -1), 2, colors.white),
                                   ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        self.story.append(table)

    def keep(self, flowables: list[Any]) -> None:
        self.story.append(KeepTogether(flowables))

    def build(self, path: Path) -> Path:
        """Write the PDF (page numbers and the footer on every page but the cover)."""
        footer = self.footer

        def on_page(canvas: Any, doc: Any) -> None:
            if doc.page == 1:
                return
            canvas.saveState()
            canvas.setFont("Helvetica", 7.5)
            canvas.setFillColor(colors.HexColor("#777777"))
            canvas.drawString(MARGIN, 0.8 * cm, footer)
            canvas.drawRightString(PAGE[0] - MARGIN, 0.8 * cm, f"page {doc.page}")
            canvas.restoreState()

        path.parent.mkdir(parents=True, exist_ok=True)
        doc = SimpleDocTemplate(str(path), pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                                bottomMargin=MARGIN + 0.6 * cm, title=self.title, author="mmm-meridian",
                                subject="Marketing mix model: executive summary")
        doc.build(self.story, onFirstPage=on_page, onLaterPages=on_page)
        return path
