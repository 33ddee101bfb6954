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
from django.db.models import Q
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_noop

from messaging import lifecycle
from messaging.models import CoveredAppointment, Message, MessageStatus
from messaging.reasons import SEMICOLON, Why, joined
from patients.models import Appointment, AppointmentState

from . import late
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


def regroup_now(message: Message) -> None:
    """A family's SMS still waiting: merged again without the appointments that no longer
    hold, cancelled when none is left (scheduler.family)."""
    from .family import _requeue, regroup

    now = timezone.now()
    found = regroup(message, now=None)
    if found is None or not found.changed:
        return
    if not found.kept:
        reason = Why(gettext_noop("Aucun des rendez-vous de ce SMS ne tient plus : %(dropped)s"),
                     dropped=joined(found.dropped, SEMICOLON))
        if not lifecycle.cancel(message, code="stale", reason=reason, now=now):
            return
    _requeue(message, found.moved)


def appointment_changed(*, appointment: Appointment, created: bool, previous) -> None:
    """Cancel what is stale, re-queue moved reminders, queue event messages."""
    from .checks import stale_reasons
    from .events import event_messages_queue
    from .runner import reminder_requeue

    # One SMS listing this appointment among a family's (scheduler.family): merged again
    # without it when it no longer holds, rather than cancelled for the others.
    grouped_ids = set(CoveredAppointment.objects.filter(appointment=appointment).values_list("message_id", flat=True))
    pending = list(
        Message.objects.filter(Q(appointment=appointment) | Q(pk__in=grouped_ids), status=MessageStatus.PENDING,
                               tracking__isnull=False)
        .select_related("mailing", "tracking__run__treatment", "patient__civil_guardian",
                        "patient__financial_guardian")
    )
    grouped_ids |= set(CoveredAppointment.objects.filter(message__in=pending).values_list("message_id", flat=True))
    for message in [m for m in pending if m.pk in grouped_ids]:
        regroup_now(message)
    pending = [m for m in pending if m.pk not in grouped_ids]
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
    if appointment.state == AppointmentState.FUTURE:
        # Booked or moved into the window of a run already done (scheduler.late): its reminder
        # is caught up, once (after the re-queue above, which the purpose rule then sees).
        reopened = not created and old_state is not None and old_state != AppointmentState.FUTURE
        why = late.BOOKED if created else late.MOVED if moved else late.REOPENED if reopened else None
        if why:
            late.catch_up(appointment=appointment, why=why)
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
