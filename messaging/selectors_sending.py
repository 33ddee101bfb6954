"""Reads of the sending pages: a patient's communication history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from messaging.models import InboundMessage, Message
from patients.models import Patient


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the history: an outgoing ``message`` or an ``inbound`` SMS."""

    at: dt.datetime
    message: Message | None = None
    inbound: InboundMessage | None = None

    @property
    def outgoing(self) -> bool:
        return self.message is not None


def patient_history_entries(*, patient: Patient, limit: int = 200) -> list[HistoryEntry]:
    """Every message to (not deleted from the history) and from ``patient``, newest first."""
    outgoing = (
        Message.objects.filter(patient=patient, hidden=False)
        .select_related("mailing__requested_by", "account")
        .order_by("-created_at", "-id")[:limit]
    )
    incoming = InboundMessage.objects.filter(patients=patient).order_by("-received_at")[:limit]
    entries = [HistoryEntry(at=m.sent_at or m.created_at, message=m) for m in outgoing]
    entries += [HistoryEntry(at=i.received_at, inbound=i) for i in incoming]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
