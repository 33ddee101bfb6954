"""Reads of the sending pages: a patient's communication history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext_lazy

from messaging.models import CoveredAppointment, InboundMessage, Message, PrintedLetter
from patients.models import Patient


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the history: an outgoing ``message``, an ``inbound`` SMS or a printed
    ``letter``."""

    at: dt.datetime
    message: Message | None = None
    inbound: InboundMessage | None = None
    letter: PrintedLetter | None = None

    @property
    def outgoing(self) -> bool:
        return self.message is not None


def patient_history_entries(*, patient: Patient, limit: int = 200) -> list[HistoryEntry]:
    """Every message to (not deleted from the history) or about (a family's SMS naming them)
    and from ``patient``, and every letter
    printed for them, newest first."""
    # A family's SMS is written on its first appointment's patient and names the others
    # (CoveredAppointment): it belongs to each of their histories too.
    named = CoveredAppointment.objects.filter(appointment__patient=patient).values("message_id")
    outgoing = (
        Message.objects.filter(Q(patient=patient) | Q(pk__in=named), hidden=False)
        .select_related("mailing__requested_by", "account", "send_now_by")
        .order_by("-created_at", "-id")[:limit]
    )
    incoming = InboundMessage.objects.filter(patients=patient).order_by("-received_at")[:limit]
    entries = [HistoryEntry(at=m.sent_at or m.created_at, message=m) for m in outgoing]
    entries += [HistoryEntry(at=i.received_at, inbound=i) for i in incoming]
    letters = PrintedLetter.objects.filter(patient=patient).select_related("printed_by")[:limit]
    entries += [HistoryEntry(at=p.printed_at, letter=p) for p in letters]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


# ---------------------------------------------------------------------------------------------
# The journal of every message ("Messages" in the navbar)
# ---------------------------------------------------------------------------------------------

STATUS_GROUPS: dict[str, tuple[str, list[str]]] = {
    "": (gettext_lazy("Tous"), []),
    "a-verifier": (gettext_lazy("À vérifier (échecs et incertains)"), ["failed", "unknown"]),
    "en-attente": (gettext_lazy("En attente"), ["pending", "sending"]),
    "envoyes": (gettext_lazy("Envoyés ou remis"), ["sent", "delivered"]),
    "non-envoyes": (gettext_lazy("Non envoyés ou annulés"), ["skipped", "cancelled"]),
}


def message_journal(
    *,
    status_group: str = "",
    channel: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    query: str = "",
):
    """Outgoing messages (not deleted from the history), newest first, filtered by status group,
    channel, local creation dates (inclusive) and recipient name, number or address."""
    from django.db.models import Q

    from patients.selectors import local_day_bounds

    qs = Message.objects.filter(hidden=False).select_related("patient", "mailing__requested_by", "send_now_by")
    statuses = STATUS_GROUPS.get(status_group, ("", []))[1]
    if statuses:
        qs = qs.filter(status__in=statuses)
    if channel:
        qs = qs.filter(channel=channel)
    if date_from:
        qs = qs.filter(created_at__gte=local_day_bounds(date_from)[0])
    if date_to:
        qs = qs.filter(created_at__lt=local_day_bounds(date_to)[1])
    query = (query or "").strip()
    if query:
        from patients.phones import normalize as normalize_phone

        condition = Q(recipient_name__icontains=query) | Q(to__icontains=query) | Q(patient__file_number=query)
        # A number typed the French way ("06.76.39.60.23") matches the E.164 stored in "to".
        phone = normalize_phone(query) if sum(c.isdigit() for c in query) >= 6 else None
        if phone:
            condition |= Q(to=phone)
        qs = qs.filter(condition)
    return qs.order_by("-created_at", "-id")


# The journal's "Sens" filter: both directions, what the practice sent, what it received.
DIRECTIONS = {"": gettext_lazy("Envoyés et reçus"), "envoyes": gettext_lazy("Envoyés"), "recus": gettext_lazy("Reçus")}


@dataclass(frozen=True)
class JournalEntry:
    """One line of the journal: an outgoing ``message`` or an ``inbound`` SMS (with its
    ``sender``, a ``messaging.inbox.Sender``)."""

    at: dt.datetime
    message: Message | None = None
    inbound: InboundMessage | None = None
    sender: object = None


class JournalEntries:
    """The journal's lines, sent and received, newest first, for a Paginator: ``count()`` is two
    COUNT queries, a page is one UNION query of (date, kind, id) and one query per kind to load
    its rows, whatever the page."""

    def __init__(self, outgoing, incoming):
        self.outgoing, self.incoming = outgoing, incoming

    def count(self) -> int:
        return (self.outgoing.count() if self.outgoing is not None else 0) + (
            self.incoming.count() if self.incoming is not None else 0)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window: slice) -> list[JournalEntry]:
        from django.db.models import F, IntegerField, Value

        from messaging.inbox import describe, with_context

        parts = []
        if self.outgoing is not None:
            parts.append(self.outgoing.order_by().annotate(at=F("created_at"), line_kind=Value(0, IntegerField()))
                         .values_list("at", "line_kind", "pk"))
        if self.incoming is not None:
            parts.append(self.incoming.order_by().annotate(at=F("received_at"), line_kind=Value(1, IntegerField()))
                         .values_list("at", "line_kind", "pk"))
        if not parts:
            return []
        keys = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        keys = list(keys.order_by("-at", "-line_kind", "-pk")[window])
        sent_ids = [pk for _, kind, pk in keys if kind == 0]
        received_ids = [pk for _, kind, pk in keys if kind == 1]
        sent = self.outgoing.in_bulk(sent_ids) if sent_ids else {}
        received = {}
        if received_ids:
            rows = describe(with_context(InboundMessage.objects.filter(pk__in=received_ids)))
            received = {row.inbound.pk: row for row in rows}
        out = []
        for at, kind, pk in keys:
            if kind == 0 and pk in sent:
                out.append(JournalEntry(at=at, message=sent[pk]))
            elif kind == 1 and pk in received:
                row = received[pk]
                out.append(JournalEntry(at=at, inbound=row.inbound, sender=row.sender))
        return out


def journal_entries(
    *,
    direction: str = "",
    status_group: str = "",
    channel: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    query: str = "",
    received: bool = True,
) -> JournalEntries:
    """The "Messages" journal: outgoing messages (``message_journal``'s filters) and, unless a
    status group or a channel other than SMS is chosen or ``direction`` is "envoyes", the SMS
    received (STOP included) over the same dates, from whom ``query`` names (name, file number,
    number). ``direction`` "recus" keeps the received ones only. ``received`` False (a user who
    may not read patients' replies) leaves every received SMS out."""
    from patients.selectors import local_day_bounds

    outgoing = incoming = None
    if direction != "recus":
        outgoing = message_journal(status_group=status_group, channel=channel, date_from=date_from,
                                   date_to=date_to, query=query)
    if received and direction != "envoyes" and not STATUS_GROUPS.get(status_group, ("", []))[1] and channel in ("", "sms"):
        from messaging.inbox import from_whom

        incoming = InboundMessage.objects.all()
        if date_from:
            incoming = incoming.filter(received_at__gte=local_day_bounds(date_from)[0])
        if date_to:
            incoming = incoming.filter(received_at__lt=local_day_bounds(date_to)[1])
        if (query or "").strip():
            incoming = incoming.filter(pk__in=from_whom(query))
    return JournalEntries(outgoing, incoming)


def message_status_counts(*, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict[str, int]:
    """Number of messages per status over the period (one query)."""
    from django.db.models import Count

    qs = message_journal(date_from=date_from, date_to=date_to).order_by()
    return {row["status"]: row["n"] for row in qs.values("status").annotate(n=Count("id"))}


def recent_mailings(*, limit: int = 15):
    """The latest mailings with their figures (one query)."""
    from django.db.models import Count, Q

    from messaging.models import Mailing

    return (
        Mailing.objects.select_related("requested_by")
        .annotate(
            total=Count("messages"),
            done=Count("messages", filter=Q(messages__status__in=["sent", "delivered"])),
            failed=Count("messages", filter=Q(messages__status__in=["failed", "unknown"])),
            waiting=Count("messages", filter=Q(messages__status__in=["pending", "sending"])),
        )
        .order_by("-created_at", "-id")[:limit]
    )
