"""Replies to our SMS: what an outgoing message is about, for the answer that comes back."""

from __future__ import annotations

from patients.models import Appointment

from .models import Message


def appointments_answered_by(message: Message) -> list[Appointment]:
    """The appointments a reply to ``message`` answers: the one it is about, or every one of
    the day's appointments it listed when it was one SMS to a family's number
    (``CoveredAppointment``), in the order of their start. [] for a message about none. An
    appointment deleted since is left out. One query (two for a message about one appointment
    not loaded with it)."""
    covered = [
        c.appointment
        for c in message.covers.select_related("appointment").order_by("appointment__start", "appointment_id")
        if c.appointment is not None
    ] if message.pk is not None else []
    if covered:
        return covered
    return [message.appointment] if message.appointment_id else []
