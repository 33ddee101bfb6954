"""Mass-mailing drafts kept on the server (``MailingDraft``), and their preview merged once.

The wizard's state (``mass_mailing.MassDraft``) belongs to a user, not to a session: the wizard's
pages open again after logging out and in, on any computer of the practice. Each change of the
draft raises its ``revision``.

The preview step ("destinataires") shows every recipient with the exact message they will
receive. Merging 10,000 messages takes about a second: ``preview_stored`` merges the draft once
per revision (``mass_mailing.mass_preview``), stores each line (``MailingDraftLine``) and the
summary, and the preview's pages read the stored lines, a page at a time. A change of the draft
(the message, a recipient added or removed) merges again on the next view; "Recalculer"
(``preview_forget``) does too, for data changed elsewhere since (a patient's file, a message sent).
Sending re-merges anyway: the outbox composes every message it writes.

Drafts unused for ``LIFETIME`` are purged when the next one is created.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.functional import Promise

from practice.bulk import gc_paused, insert_rows

from . import stored_lines
from .cost import Estimate
from .mass_mailing import MassDraft, Preview, PreviewLine, Summary, mass_preview
from .models import MailingDraft, MailingDraftLine
from .reasons import Why

# A wizard left for a week is not coming back; its stored preview goes with it.
LIFETIME = dt.timedelta(days=7)


# ---------------------------------------------------------------------------------------------
# The draft
# ---------------------------------------------------------------------------------------------


def draft_create(*, user, draft: MassDraft) -> MailingDraft:
    """Keep ``draft`` for ``user`` (under ``draft.key``); purges the drafts unused for LIFETIME."""
    draft_purge()
    return MailingDraft.objects.create(key=draft.key, user=user, data=draft.to_json())


def draft_load(*, key: str, user) -> MassDraft | None:
    """``user``'s draft ``key``, or None (unknown, purged, or someone else's). One query."""
    data = MailingDraft.objects.filter(key=key, user=user).values_list("data", flat=True).first()
    return None if data is None else MassDraft.from_json(data)


def draft_save(*, user, draft: MassDraft) -> None:
    """Store ``draft`` as ``user``'s; its revision goes up when it changed (its stored preview
    is then merged again on the next view). One query, two when it changed."""
    data = draft.to_json()
    qs = MailingDraft.objects.filter(key=draft.key, user=user)
    if qs.values_list("data", flat=True).first() == data:
        return
    qs.update(data=data, revision=F("revision") + 1, updated_at=timezone.now())


def draft_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the drafts unused for LIFETIME (with their stored previews); returns how many."""
    now = now or timezone.now()
    _, per_model = MailingDraft.objects.filter(updated_at__lt=now - LIFETIME).delete()
    return per_model.get(MailingDraft._meta.label, 0)


# ---------------------------------------------------------------------------------------------
# The stored preview
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class StoredPreview:
    """The preview of a draft as stored: its summary, when it was merged, and its lines (a
    sequence the paginator slices: each slice is one query)."""

    summary: Summary
    merged_at: dt.datetime
    lines: StoredLines


class StoredLines(stored_lines.StoredLines):
    """The stored lines of a draft's preview, in order; ``lines[a:b]`` reads those only."""

    def __init__(self, draft_pk: int, count: int):
        super().__init__(MailingDraftLine.objects.filter(draft_id=draft_pk), count, line_from_json)
        self.draft_pk = draft_pk

    def with_missing(self, *, limit: int) -> tuple[list, int]:
        """The first ``limit`` stored lines whose required merge data is missing (listed apart
        on the page), and how many there are: two queries."""
        return super().with_missing(limit=limit), self.rows.filter(data__missing__0__isnull=False).count()


def preview_stored(*, key: str, user, today: dt.date | None = None) -> StoredPreview | None:
    """The preview of ``user``'s draft ``key``: merged now if the draft changed since the stored
    one (or none is stored), else read back. None when the draft does not exist. The draft is
    locked while it is merged, so two views of a changed draft merge it once. Queries of a view
    that reads the stored preview: one, plus one per page of lines read."""
    record = MailingDraft.objects.filter(key=key, user=user).first()
    if record is None:
        return None
    if record.preview_revision != record.revision:
        with transaction.atomic():
            record = MailingDraft.objects.select_for_update().get(pk=record.pk)
            if record.preview_revision != record.revision:
                _merge_and_store(record, today=today)
    return StoredPreview(
        summary=summary_from_json(record.preview_summary),
        merged_at=record.preview_at,
        lines=StoredLines(record.pk, record.preview_lines),
    )


def preview_forget(*, key: str, user) -> None:
    """Drop the stored preview of ``user``'s draft ``key``: the next view merges again (after
    "Recalculer", and once the mailing is written: nobody pages through it any more)."""
    drafts = MailingDraft.objects.filter(key=key, user=user)
    MailingDraftLine.objects.filter(draft__in=drafts.values("pk")).delete()
    drafts.update(preview_revision=None, preview_summary=None, preview_lines=0, preview_at=None)


def _merge_and_store(record: MailingDraft, *, today: dt.date | None) -> None:
    draft = MassDraft.from_json(record.data)
    with gc_paused():
        preview: Preview = mass_preview(draft, today=today)
        ticked = set(draft.appointment_ids)
        record.lines.all().delete()
        insert_rows(
            MailingDraftLine, ["draft_id", "position", "data"],
            ((record.pk, n, line_to_json(line, ticked)) for n, line in enumerate(preview.lines)),
            count=len(preview.lines),
        )
    record.preview_revision = record.revision
    record.preview_summary = summary_to_json(preview.summary)
    record.preview_lines = len(preview.lines)
    record.preview_at = timezone.now()
    record.save(update_fields=["preview_revision", "preview_summary", "preview_lines", "preview_at"])


# ---------------------------------------------------------------------------------------------
# Lines and summary as JSON
# ---------------------------------------------------------------------------------------------

# Of a PreviewLine, what the page does not show (the email's HTML: the page shows its text).
_LEFT_OUT = {"row", "recipient", "html"}


def _plain(value: Any) -> Any:
    """``value`` as JSON data: a lazy translation as its text (a reason, ``messaging.reasons.Why``,
    in the active language, like a label), lists and dicts item by item."""
    if isinstance(value, Why):
        return value.shown()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Decimal | dt.date | dt.datetime | dt.time):
        return DjangoJSONEncoder().default(value)
    return str(value)


def line_to_json(line: PreviewLine, ticked_appointments: set[int]) -> dict[str, Any]:
    """What the preview page reads of ``line``: the patient and the appointment of its row, the
    recipient, the merged message, its SMS count, warnings and skip reason. ``remove_appointment``
    is the appointment to take out of the draft to remove this line, when its row is one of the
    draft's appointments (else the patient is)."""
    row, r = line.row, line.recipient
    appointment = row.appointment
    data = {
        "patient": {"pk": row.patient.pk, "display_name": str(row.patient.display_name)},
        "appointment": None if appointment is None else {"pk": appointment.pk, "start": appointment.start.isoformat()},
        "remove_appointment": appointment.pk if appointment is not None and appointment.pk in ticked_appointments else None,
        "recipient": {
            "name": str(r.name), "role": str(r.role), "role_label": str(r.role_label), "channel": str(r.channel),
            "address": str(r.address), "skip_reason": _plain(r.skip_reason),
            "reason": None if r.reason is None else str(getattr(r.reason, "value", r.reason)),
        },
        "sendable": line.sendable,
    }
    for f in dataclasses.fields(line):
        if f.name not in _LEFT_OUT:
            data[f.name] = _plain(getattr(line, f.name))
    return data


def line_from_json(data: dict[str, Any]) -> SimpleNamespace:
    """A stored line, with the attributes of a PreviewLine the page reads."""
    data = dict(data)
    appointment = data.pop("appointment")
    row = SimpleNamespace(
        patient=SimpleNamespace(**data.pop("patient")),
        appointment=None if appointment is None else SimpleNamespace(
            pk=appointment["pk"], start=dt.datetime.fromisoformat(appointment["start"])),
    )
    return SimpleNamespace(row=row, recipient=SimpleNamespace(**data.pop("recipient")), **data)


def summary_to_json(summary: Summary) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(summary):
        value = getattr(summary, f.name)
        if isinstance(value, Counter):
            out[f.name] = {"counter": [[str(k), n] for k, n in value.items()]}
        elif isinstance(value, Estimate):
            out[f.name] = {"estimate": {
                "price": None if value.price is None else str(value.price), "messages": value.messages,
                "parts": value.parts, "accented": [[str(label), merged, plain] for label, merged, plain in value.accented],
            }}
        else:
            out[f.name] = _plain(value)
    return out


def summary_from_json(data: dict[str, Any]) -> Summary:
    names = {f.name for f in dataclasses.fields(Summary)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in names:
            continue  # a field removed since the preview was stored
        if isinstance(value, dict) and "counter" in value:
            value = Counter(dict((k, n) for k, n in value["counter"]))
        elif isinstance(value, dict) and "estimate" in value:
            e = value["estimate"]
            value = Estimate(price=None if e["price"] is None else Decimal(e["price"]), messages=e["messages"],
                             parts=e["parts"], accented=[tuple(a) for a in e["accented"]])
        values[name] = value
    return Summary(**values)
