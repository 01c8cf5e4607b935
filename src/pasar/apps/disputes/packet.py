"""The chargeback packet as a PDF (fpdf2): the letter, the evidence index, one page per exhibit.

Text is set in DejaVu Sans (shipped with matplotlib, a pasar dependency), which covers Latin,
Vietnamese and most symbols. It has no Thai glyphs, so Thai (a cardholder's messages, a Thai
product name) falls back to Sarabun (OFL, from the ``fontpkg-sarabun`` wheel), shaped by
HarfBuzz (``uharfbuzz``) so that vowels and tone marks sit on their consonants.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib
from fontpkg_sarabun import ROOT as SARABUN_DIR
from fpdf import FPDF

from pasar.apps.disputes.letter import Letter
from pasar.apps.disputes.schemas import ChargebackRequest, Checklist

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
LINE = 5.5  # mm per line of 10 pt text


def _pdf(title: str) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_author("pasar disputes")
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_font("Sarabun", "", str(SARABUN_DIR / "files" / "Sarabun-Regular.ttf"))
    pdf.add_font("Sarabun", "B", str(SARABUN_DIR / "files" / "Sarabun-Bold.ttf"))
    pdf.set_fallback_fonts(["Sarabun"])
    pdf.set_text_shaping(True)
    pdf.set_auto_page_break(auto=True, margin=15)
    return pdf


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font("DejaVu", "B", 13)
    pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 10)


def _paragraphs(pdf: FPDF, lines: list[str]) -> None:
    for line in lines:
        if line:
            pdf.multi_cell(0, LINE, line, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.ln(LINE / 2)


def render_packet(
    letter: Letter, checklist: Checklist, request: ChargebackRequest, out: Path
) -> Path:
    """Write the packet to ``out`` (parent folders created); returns ``out``."""
    pdf = _pdf(f"Chargeback defense, order {request.order_id}")
    pdf.add_page()
    _heading(pdf, "Chargeback defense letter")
    _paragraphs(pdf, letter.text.split("\n"))

    pdf.add_page()
    _heading(
        pdf,
        f"Evidence index: {checklist.network.title()} {checklist.reason_code} ({checklist.title})",
    )
    present = [i for i in checklist.items if i.status == "present"]
    exhibit = {item.key: n for n, item in enumerate(present, 1)}
    with pdf.table(col_widths=(18, 62, 20, 90), text_align="LEFT") as table:
        header = table.row()
        for name in ("Exhibit", "Evidence", "Status", "Source / why missing"):
            header.cell(name)
        for item in checklist.items:
            row = table.row()
            row.cell(str(exhibit.get(item.key, "-")))
            row.cell(item.title)
            row.cell(item.status)
            row.cell(item.source if item.status == "present" else item.why_missing)

    for item in present:
        pdf.add_page()
        _heading(pdf, f"Exhibit {exhibit[item.key]}: {item.title}")
        _paragraphs(pdf, [f"Source: {item.source}", "", *item.lines])

    out.parent.mkdir(parents=True, exist_ok=True)
    fonttools_log = logging.getLogger("fontTools.subset")
    level = fonttools_log.level
    fonttools_log.setLevel(logging.ERROR)  # subsetting chatter, not problems
    try:
        pdf.output(str(out))
    finally:
        fonttools_log.setLevel(level)
    return out
