"""Event messages: a confirmation when an appointment is booked, a notice when it is moved or
cancelled, per appointment nature and channel (``EventMessageSetting``), written through the one
outbox and sent by the same dispatch, quiet hours included. What they store (the mailing's label,
why a recipient gets nothing) is in the practice's language: a save on a page triggers them, but
nobody reads them there."""

from __future__ import annotations

from django.db.models import Q

from messaging.models import Mailing, MailingOrigin, Purpose
from messaging.policy import ChannelPlan, audience
from patients.models import Appointment
from practice.i18n import practice_speaking
from practice.models import Practice

from .models import EventMessageSetting, TrackedPurpose

PURPOSES = {"booked": TrackedPurpose.BOOKED, "moved": TrackedPurpose.MOVED, "cancelled": TrackedPurpose.CANCELLED}
# The purpose rule's (messaging.purpose): one confirmation, one notice per appointment time.
MESSAGE_PURPOSES = {"booked": Purpose.CONFIRMATION, "moved": Purpose.MOVED, "cancelled": Purpose.CANCELLED}


def settings_for(*, event: str, nature_id: int | None) -> list[EventMessageSetting]:
    """The active settings of ``event`` for this nature, one per channel: a setting for the
    nature itself wins over the "all natures" one."""
    rows = (
        EventMessageSetting.objects.filter(event=event, active=True)
        .filter(Q(nature_id=nature_id) | Q(nature__isnull=True))
        .select_related("sms_template", "email_template", "email_template__account")
    )
    chosen: dict[str, EventMessageSetting] = {}
    for row in rows:
        if row.channel not in chosen or (row.nature_id is not None and chosen[row.channel].nature_id is None):
            chosen[row.channel] = row
    return list(chosen.values())


@practice_speaking
def event_messages_queue(*, appointment: Appointment, event: str) -> list[Mailing]:
    """Queue the messages of ``event`` about ``appointment``; returns the mailings (existing ones
    when the same event for the same appointment time was already queued)."""
    from messaging.outbox import mailing_create

    from .runner import track_mailing

    settings_rows = settings_for(event=event, nature_id=appointment.nature_id)
    if not settings_rows or appointment.patient_id is None:
        return []
    appointment = Appointment.objects.select_related(
        "patient", "patient__practitioner", "patient__civil_guardian", "patient__financial_guardian",
        "practitioner", "chair", "nature",
    ).get(pk=appointment.pk)
    practice = Practice.get()
    stamp = appointment.start.strftime("%Y%m%dT%H%M%z")
    mailings = []
    for setting in settings_rows:
        plan = ChannelPlan.only(setting.channel, practice=practice,
                                email_role=getattr(setting.email_template, "recipient_role", None))
        recipients = audience(appointment.patient, plan=plan, appointment=appointment).on(setting.channel)
        mailing = mailing_create(
            channel=setting.channel,
            origin=MailingOrigin.EVENT,
            requested_by=None,
            recipients=recipients,
            template=setting.template,
            idempotency_key=f"event:{event}:{appointment.pk}:{setting.channel}:{stamp}",
            label=f"{setting.get_event_display()} – {appointment.who}",
            purpose=MESSAGE_PURPOSES[event],
        )
        track_mailing(mailing=mailing, purpose=PURPOSES[event])
        mailings.append(mailing)
    return mailings
