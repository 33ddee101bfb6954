"""The reminder follows the appointment (as in TwilioDevEd's appointment-reminders): on every
save of an appointment, the messages queued about it that are no longer true are cancelled, a
moved appointment gets a new reminder when it stays in the run's window, and the practice's event
messages (confirmation when booked, notice when moved or cancelled) are queued.

``QuerySet.update`` and ``bulk_create`` send no signal: the last-moment check at send time
(``scheduler.checks.send_check``, through ``messaging.send_checks``) covers them, re-queue included.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from messaging import lifecycle
from messaging.models import Message, MessageStatus
from patients.models import Appointment, AppointmentState

from .models import AppointmentEvent, TrackedPurpose

logger = logging.getLogger(__name__)


@receiver(pre_save, sender=Appointment, dispatch_uid="scheduler-appointment-before")
def remember_previous(sender, instance: Appointment, raw=False, **kwargs) -> None:
    if raw or instance.pk is None:
        instance._scheduler_previous = None
        return
    instance._scheduler_previous = (
        Appointment.objects.filter(pk=instance.pk).values_list("start", "state").first()
    )


@receiver(post_save, sender=Appointment, dispatch_uid="scheduler-appointment-after")
def follow_appointment(sender, instance: Appointment, created: bool, raw=False, **kwargs) -> None:
    if raw:
        return
    previous = getattr(instance, "_scheduler_previous", None)
    try:
        # A savepoint: a problem with a message must never undo the appointment's save.
        with transaction.atomic():
            appointment_changed(appointment=instance, created=created, previous=previous)
    except Exception:  # noqa: BLE001
        logger.exception("Could not update the messages of appointment %s", instance.pk)


def appointment_changed(*, appointment: Appointment, created: bool, previous) -> None:
    """Cancel what is stale, re-queue moved reminders, queue event messages."""
    from .checks import stale_reasons
    from .events import event_messages_queue
    from .runner import reminder_requeue

    pending = list(
        Message.objects.filter(appointment=appointment, status=MessageStatus.PENDING, tracking__isnull=False)
        .select_related("tracking__run__treatment")
    )
    stale = stale_reasons(pending)
    requeue_runs = {}
    for message in pending:
        reason = stale.get(message.pk)
        if not reason:
            continue
        # From PENDING only: a row a worker has just claimed is judged by its last-moment check.
        done = lifecycle.cancel(message, code="stale", reason=reason, now=timezone.now())
        if done and message.tracking.purpose == TrackedPurpose.REMINDER and message.tracking.run_id:
            requeue_runs[message.tracking.run_id] = message.tracking.run
    if previous is None and not created:
        return
    old_start, old_state = previous if previous else (None, None)
    moved = not created and old_start != appointment.start
    if requeue_runs and moved:
        reminder_requeue(appointment=appointment, runs=list(requeue_runs.values()))
    if appointment.patient_id is None or appointment.start <= timezone.now():
        return
    if created and appointment.state == AppointmentState.FUTURE:
        event_messages_queue(appointment=appointment, event=AppointmentEvent.BOOKED)
    elif moved and appointment.state == AppointmentState.FUTURE:
        event_messages_queue(appointment=appointment, event=AppointmentEvent.MOVED)
    elif (
        not created
        and appointment.state in (AppointmentState.CANCELLED, AppointmentState.POSTPONED, AppointmentState.EXCUSED)
        and old_state not in (AppointmentState.CANCELLED, AppointmentState.POSTPONED, AppointmentState.EXCUSED)
    ):
        event_messages_queue(appointment=appointment, event=AppointmentEvent.CANCELLED)
