"""The exact message a recipient gets: the merge of a template for one patient, with its warnings.

The preview, the ``rendertemplate`` command and the sending pipeline all call these, so what staff
preview is what leaves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

from .html import clean_html, html_to_text
from .merge import CustomFields, MergeContext, MissingField, render
from .sms import SmsSegments, segments


class ComposedSms(NamedTuple):  # a tuple: built once per message, cheaper than a frozen dataclass
    text: str
    warnings: list[str]
    segments: SmsSegments
    # The parts this message would take with its names in GSM-7 ("Anais" for "Anaïs"): fewer than
    # ``segments.parts`` when a name's accent alone makes it UCS-2 (messaging.cost warns).
    plain_name_parts: int = 0
    # Required data missing for this recipient (messaging.merge.MergeContext.required).
    missing: list[MissingField] = []


@dataclass(frozen=True)
class ComposedEmail:
    subject: str
    html: str
    text: str
    warnings: list[str]
    missing: list[MissingField] = field(default_factory=list)  # as ComposedSms.missing


def compose_sms(
    *,
    body: str,
    patient=None,
    appointment=None,
    recipient=None,
    correspondent=None,
    today: dt.date | None = None,
    custom: CustomFields | None = None,
    practice=None,
    next_appointment=None,
    gsm_names: bool | None = None,
    appointments=None,
) -> ComposedSms:
    """The SMS text for one recipient, its warnings (missing data) and its length in SMS.

    ``gsm_names`` (by default the practice's "remplacer les lettres accentuées hors GSM-7 dans
    les noms") merges names with their letters outside GSM-7 replaced; the template's own text is
    never changed. The preview, the outbox and the counts all come from here, so they agree.
    ``appointments``: every appointment of a message listing several (@RDVLISTE)."""
    ctx = MergeContext(patient=patient, appointment=appointment, recipient=recipient, correspondent=correspondent,
                       today=today, custom=custom, practice=practice, next_appointment=next_appointment,
                       appointments=appointments)
    ctx.gsm_names = bool(ctx.practice.sms_gsm_names if gsm_names is None else gsm_names)
    rendered = render(body, ctx)
    text = rendered.text.strip()
    seg = segments(text)
    plain_parts = seg.parts
    if not seg.is_gsm and not ctx.gsm_names:
        # Only for the (rare) UCS-2 messages: would the names in GSM-7 make it shorter?
        ctx.gsm_names = True
        plain_parts = segments(render(body, ctx).text.strip()).parts
    return ComposedSms(text=text, warnings=rendered.warnings, segments=seg, plain_name_parts=plain_parts,
                       missing=rendered.missing)


def compose_email(
    *,
    subject: str,
    body_html: str,
    signature=None,
    patient=None,
    appointment=None,
    recipient=None,
    correspondent=None,
    today: dt.date | None = None,
    custom: CustomFields | None = None,
    practice=None,
    next_appointment=None,
) -> ComposedEmail:
    """Subject, HTML body (signature placed as header or footer) and plain-text alternative for
    one recipient, with the warnings of subject, body and signature together."""
    ctx = MergeContext(patient=patient, appointment=appointment, recipient=recipient, correspondent=correspondent,
                       today=today, custom=custom, practice=practice, next_appointment=next_appointment)
    subject_r = render(subject or "", ctx)
    body_r = render(body_html or "", ctx, html=True)
    warnings = list(subject_r.warnings)
    warnings += [w for w in body_r.warnings if w not in warnings]
    missing = [*subject_r.missing, *body_r.missing]
    # Cleaned again once merged: a value is escaped as text, but placed in an attribute
    # (<a href="@PADR1">) it could still make a javascript: link.
    html = clean_html(body_r.text)
    if signature is not None and signature.body_html:
        sig_r = render(signature.body_html, ctx, html=True)
        warnings += [w for w in sig_r.warnings if w not in warnings]
        missing += sig_r.missing
        block = f'<div class="signature">{clean_html(sig_r.text)}</div>'
        html = f"{block}{html}" if signature.placement == "header" else f"{html}{block}"
    # A subject is one line: a pasted newline would break the header.
    one_line_subject = " ".join(subject_r.text.split())
    seen: set[str] = set()
    missing = [m for m in missing if not (m.code in seen or seen.add(m.code))]
    return ComposedEmail(subject=one_line_subject, html=html, text=html_to_text(html), warnings=warnings,
                         missing=missing)


def compose_for(recipient, *, channel: str, sms_body: str = "", subject: str = "", body_html: str = "",
                signature=None, appointment=None, **common) -> ComposedSms | ComposedEmail:
    """The message ``recipient`` (a ``messaging.policy.Recipient``) gets on ``channel``, merged
    as ``messaging.outbox.mailing_create`` merges it: their own appointment first, a
    correspondent reading @COR* and @LIBRE. ``common``: today, custom, practice..."""
    from .models import Channel, RecipientRole

    correspondent = recipient.person if recipient.role == RecipientRole.CORRESPONDENT else None
    context = dict(patient=recipient.patient, appointment=recipient.appointment or appointment,
                   recipient=recipient.person, correspondent=correspondent, **common)
    if channel == Channel.SMS:
        return compose_sms(body=sms_body, **context)
    return compose_email(subject=subject, body_html=body_html, signature=signature, **context)
