"""The PDF documents of a run: the list of patients concerned ("Liste"), letters ("Courrier", one
patient per page) and the day's planning for the staff. Plain reportlab, A4, French labels."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

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
    def __init__(self, title: str):
        self.buffer = io.BytesIO()
        self.canvas = Canvas(self.buffer, pagesize=A4)
        self.canvas.setTitle(title)
        self.width, self.height = A4
        self.y = self.height - 2 * cm

    def line(self, text: str, *, size: int = 10, bold: bool = False, x: float = 2 * cm) -> None:
        if self.y < 2 * cm:
            self.new_page()
        self.canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        self.canvas.drawString(x, self.y, text)
        self.y -= size * 1.5

    def new_page(self) -> None:
        self.canvas.showPage()
        self.y = self.height - 2 * cm

    def bytes(self) -> bytes:
        self.canvas.save()
        return self.buffer.getvalue()


def table_pdf(*, title: str, subtitle: str, header: Sequence[str], rows: Sequence[ListRow]) -> bytes:
    """A one-table document (the list of a run, the day's planning)."""
    doc = _Doc(title)
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
        doc.line("Aucun rendez-vous ni patient.", size=10)
    return doc.bytes()


def letters_pdf(*, title: str, sender_lines: Sequence[str], letters: Sequence[Letter]) -> bytes:
    """One page per letter: the practice top left, the recipient's address on the right, the
    subject and the text."""
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
        doc.line("Aucun courrier.", size=10)
    return doc.bytes()
