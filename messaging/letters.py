"""Letters ("Courrier") of a mass mailing: one PDF, each letter starting on its own page, laid out
for a French window envelope (address block on the right, 45 mm from the top).

The text is merged by the wizard with the same merge fields as SMS and emails; this module only
lays out plain text. The frame it adds (the practice's telephone, the place and date above the
text, the document's title) goes to a patient with the practice's text: it is written in the
practice's language (``practice.i18n.practice_speaking``), whoever prints it. A letter goes to the patient's civil guardian (the patient when they are
their own guardian), at the guardian's postal address, else the patient's.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from django.utils import dateformat
from django.utils.translation import get_language, gettext
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Frame, PageTemplate, Paragraph, Spacer
from reportlab.platypus.doctemplate import BaseDocTemplate, FrameBreak, NextPageTemplate
from reportlab.platypus.flowables import KeepTogether, PageBreak

from patients.phones import format_fr
from practice.i18n import practice_speaking

from .merge import format_long_date


@dataclass(frozen=True)
class Letter:
    name: str  # "Mme ABLIRANT Stéphanie"
    address_lines: list[str]
    text: str  # merged plain text; blank lines separate paragraphs


_BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=11, leading=15, spaceAfter=8)
_SMALL = ParagraphStyle("small", fontName="Helvetica", fontSize=9, leading=12)
_HEAD = ParagraphStyle("head", fontName="Helvetica-Bold", fontSize=12, leading=15)
_ADDRESS = ParagraphStyle("address", fontName="Helvetica", fontSize=11, leading=14)


def _paragraphs(text: str) -> list[Paragraph]:
    blocks = [b.strip() for b in (text or "").replace("\r\n", "\n").split("\n\n")]
    return [Paragraph(escape(b).replace("\n", "<br/>"), _BODY) for b in blocks if b]


class _LetterDoc(BaseDocTemplate):
    def __init__(self, buffer, practice, **kwargs):
        super().__init__(buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=15 * mm,
                         bottomMargin=20 * mm, title=gettext("Courriers – %(practice)s") % {"practice": practice.name},
                         author=practice.name, **kwargs)
        width, height = A4
        # Practice header top left, address window right (110 mm from the left, 45 mm from the
        # top, as French DL window envelopes have it), then the body below.
        header = Frame(20 * mm, height - 60 * mm, 80 * mm, 45 * mm, id="header", showBoundary=0)
        window = Frame(110 * mm, height - 80 * mm, 85 * mm, 35 * mm, id="window", showBoundary=0)
        body = Frame(20 * mm, 20 * mm, width - 40 * mm, height - 105 * mm, id="body", showBoundary=0)
        # A letter longer than its first page goes on over the whole next page.
        rest = Frame(20 * mm, 20 * mm, width - 40 * mm, height - 35 * mm, id="rest", showBoundary=0)
        self.addPageTemplates([
            PageTemplate(id="letter", frames=[header, window, body]),
            PageTemplate(id="continuation", frames=[rest]),
        ])


def letter_date(day: dt.date) -> str:
    """The date above a letter's text in the active language: "mardi 10 mars 2026" (as the merge
    field writes it) / "10 March 2026"."""
    if (get_language() or "fr").startswith("fr"):
        return format_long_date(day)
    return dateformat.format(day, "j F Y")


def letters_pdf(*, letters: list[Letter], practice, today: dt.date) -> bytes:
    """One PDF, letter after letter, each starting on a new page; returns the PDF bytes. A letter
    longer than a page continues on the next one (still in the body frame). The frame is in the
    practice's language; ValueError (in the caller's language) when there is no letter."""
    if not letters:
        raise ValueError(gettext("Aucun courrier à imprimer."))
    return _letters_pdf(letters=letters, practice=practice, today=today)


@practice_speaking
def _letters_pdf(*, letters: list[Letter], practice, today: dt.date) -> bytes:
    buffer = io.BytesIO()
    doc = _LetterDoc(buffer, practice)
    header = [Paragraph(escape(practice.name), _HEAD)]
    for line in (practice.address1, practice.address2, f"{practice.postcode} {practice.city}".strip()):
        if line:
            header.append(Paragraph(escape(line), _SMALL))
    if practice.phone:
        header.append(Paragraph(escape(gettext("Tél. %(phone)s") % {"phone": format_fr(practice.phone)}), _SMALL))
    if practice.email:
        header.append(Paragraph(escape(practice.email), _SMALL))
    day = letter_date(today)
    if practice.city:
        place = gettext("%(city)s, le %(date)s") % {"city": practice.city, "date": day}
    else:
        place = gettext("Le %(date)s") % {"date": day}
    story = []
    for index, letter in enumerate(letters):
        story.append(NextPageTemplate("letter"))
        if index:
            story.append(PageBreak())
        story.extend(header)
        story.append(FrameBreak())
        story.append(KeepTogether([Paragraph(escape(letter.name), _ADDRESS)]
                                  + [Paragraph(escape(line), _ADDRESS) for line in letter.address_lines]))
        story.append(FrameBreak())
        story.append(NextPageTemplate("continuation"))
        story.append(Paragraph(escape(place), _BODY))
        story.append(Spacer(1, 6 * mm))
        story.extend(_paragraphs(letter.text))
    doc.build(story)
    return buffer.getvalue()



def record_printed(letters) -> None:
    """Keep ``letters`` (unsaved ``PrintedLetter`` rows) in the patients' history in one query;
    a letter already recorded (same ``dedupe_key``) is left as it is."""
    from .models import PrintedLetter

    if letters:
        PrintedLetter.objects.bulk_create(letters, ignore_conflicts=True, batch_size=1000)


def reprint_pdf(letter) -> bytes:
    """The PDF of one recorded ``PrintedLetter``, laid out as when it was first printed (the mass
    mailing's layout, or the treatment's), from its stored text and date; the practice's header
    is the practice's as it is today."""
    from practice.models import Practice

    from .models import LetterOrigin

    practice = Practice.get()
    if letter.origin == LetterOrigin.TREATMENT:
        from scheduler import pdf

        sender = tuple(x for x in (practice.name, practice.address_line) if x)
        return pdf.letters_pdf(
            title=letter.origin_label or gettext("Courrier"),
            sender_lines=sender,
            letters=[pdf.Letter(address_lines=(letter.recipient_name, *letter.address_lines),
                                subject=letter.subject, text=letter.text)],
        )
    return letters_pdf(
        letters=[Letter(name=letter.recipient_name, address_lines=list(letter.address_lines), text=letter.text)],
        practice=practice,
        today=letter.letter_date,
    )
