"""The PDF documents of a run: the list of patients concerned ("Liste"), letters ("Courrier", one
patient per page) and the day's planning for the staff. Plain reportlab, A4.

The labels are the caller's, in the active language (a run activates the practice's:
``scheduler.runner.treatment_run``); this module only adds the page numbers, in that language."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.translation import gettext
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.pdfgen.canvas import Canvas


@dataclass(frozen=True)
class ListRow:
    cells: tuple[str, ...]


@dataclass(frozen=True)
class Letter:
    address_lines: tuple[str, ...]
    subject: str
    text: str


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        words = paragraph.split()
        line = ""
        for word in words:
            if len(line) + len(word) + 1 > width and line:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
    return lines


class _Doc:
    def __init__(self, title: str, footer: str = ""):
        self.buffer = io.BytesIO()
        self.canvas = Canvas(self.buffer, pagesize=A4)
        self.canvas.setTitle(title)
        self.width, self.height = A4
        self.y = self.height - 2 * cm
        self.footer = footer
        self.page = 1

    def line(self, text: str, *, size: int = 10, bold: bool = False, x: float = 2 * cm) -> None:
        if self.y < 2 * cm:
            self.new_page()
        self.canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        self.canvas.drawString(x, self.y, text)
        self.y -= size * 1.5

    def new_page(self) -> None:
        self._footer()
        self.canvas.showPage()
        self.page += 1
        self.y = self.height - 2 * cm

    def _footer(self) -> None:
        if not self.footer:
            return
        self.canvas.setFont("Helvetica", 8)
        page = gettext("page %(page)d") % {"page": self.page}
        self.canvas.drawString(2 * cm, 1.2 * cm, f"{self.footer} – {page}")

    def bytes(self) -> bytes:
        self._footer()
        self.canvas.save()
        return self.buffer.getvalue()


def table_pdf(*, title: str, subtitle: str, header: Sequence[str], rows: Sequence[ListRow], empty: str,
              footer: str = "") -> bytes:
    """A one-table document (the list of a run, the day's planning); ``empty`` is written when
    there are no rows, ``footer`` at the foot of each page with its number."""
    doc = _Doc(title, footer)
    doc.line(title, size=14, bold=True)
    doc.line(subtitle, size=10)
    doc.y -= 6
    columns = len(header)
    step = (doc.width - 4 * cm) / max(columns, 1)

    def row(cells: Sequence[str], bold: bool = False) -> None:
        if doc.y < 2 * cm:
            doc.new_page()
        doc.canvas.setFont("Helvetica-Bold" if bold else "Helvetica", 9)
        max_chars = int(step / 4.6)
        for i, cell in enumerate(cells):
            text = cell if len(cell) <= max_chars else cell[: max_chars - 1] + "…"
            doc.canvas.drawString(2 * cm + i * step, doc.y, text)
        doc.y -= 13

    row(header, bold=True)
    for r in rows:
        row(r.cells)
    if not rows:
        doc.line(empty, size=10)
    return doc.bytes()


def letters_pdf(*, title: str, sender_lines: Sequence[str], letters: Sequence[Letter], empty: str = "") -> bytes:
    """One page per letter: the practice top left, the recipient's address on the right, the
    subject and the text (no page footer: it goes to a patient). ``empty`` is written when there
    is no letter."""
    doc = _Doc(title)
    for index, letter in enumerate(letters):
        if index:
            doc.new_page()
        for line in sender_lines:
            doc.line(line, size=10)
        doc.y = doc.height - 6 * cm
        for line in letter.address_lines:
            doc.line(line, size=11, x=11 * cm)
        doc.y = doc.height - 10 * cm
        doc.line(letter.subject, size=11, bold=True)
        doc.y -= 6
        for line in _wrap(letter.text, 95):
            doc.line(line, size=10)
    if not letters:
        doc.line(empty, size=10)
    return doc.bytes()
