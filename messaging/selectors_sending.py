"""Reads of the sending pages: a patient's communication history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from messaging.models import InboundMessage, Message, PrintedLetter
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
    """Every message to (not deleted from the history) and from ``patient``, and every letter
    printed for them, newest first."""
    outgoing = (
        Message.objects.filter(patient=patient, hidden=False)
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
    "": ("Tous", []),
    "a-verifier": ("À vérifier (échecs et incertains)", ["failed", "unknown"]),
    "en-attente": ("En attente", ["pending", "sending"]),
    "envoyes": ("Envoyés ou remis", ["sent", "delivered"]),
    "non-envoyes": ("Non envoyés ou annulés", ["skipped", "cancelled"]),
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
