"""The message follows the appointment: current at send time, at a decent hour, and the event
messages on booking, moving and cancelling."""

from __future__ import annotations

import datetime as dt

import pytest

from messaging.dispatch import dispatch_pending
from messaging.gateways import locmem
from messaging.gateways.base import BaseSmsBackend
from messaging.models import Channel, Message, MessageStatus, SmsTemplate
from patients.models import Appointment, AppointmentState, CancelledBy
from scheduler.models import AppointmentEvent, EventMessageSetting, TrackedMessage
from scheduler.runner import treatment_run
from tests.factories import AppointmentFactory, PatientFactory

from .conftest import paris

pytestmark = pytest.mark.django_db

RUN_DATE = dt.date(2025, 11, 21)  # Friday; J+1 = Saturday 22/11
NOON = paris(2025, 11, 21, 12, 0)


@pytest.fixture
def queued(reminder, practitioner, django_capture_on_commit_callbacks):
    """A reminder written by the J+1 run and not sent yet (waiting for dispatch)."""
    appt = AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant"),
                              practitioner=practitioner, start=paris(2025, 11, 22, 10))
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=reminder, run_date=RUN_DATE)
    message = Message.objects.get(appointment=appt)
    assert message.status == MessageStatus.PENDING
    return appt, message


def test_moved_within_the_window_cancels_the_reminder_and_queues_one_with_the_new_time(
    queued, sms_outbox, django_capture_on_commit_callbacks
):
    appt, old = queued
    with django_capture_on_commit_callbacks(execute=False):
        appt.start = paris(2025, 11, 22, 16, 30)
        appt.save()
    old.refresh_from_db()
    assert old.status == MessageStatus.CANCELLED
    assert old.reason == "Le rendez-vous a été déplacé au 22/11/2025 à 16h30."
    new = Message.objects.get(appointment=appt, status=MessageStatus.PENDING)
    assert "22/11/2025 à 16h30" in new.body and new.tracking.run == old.tracking.run
    dispatch_pending(now=NOON)
    assert [s.body for s in sms_outbox] == [new.body]


def test_moved_out_of_the_window_only_cancels(queued, django_capture_on_commit_callbacks):
    appt, old = queued
    with django_capture_on_commit_callbacks(execute=False):
        appt.start = paris(2025, 11, 28, 10)
        appt.save()
    old.refresh_from_db()
    assert old.status == MessageStatus.CANCELLED
    assert not Message.objects.filter(status=MessageStatus.PENDING).exists()


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (AppointmentState.CANCELLED, "Le rendez-vous est maintenant « Annulé »."),
        (AppointmentState.PRESENT, "Le patient est déjà venu (rendez-vous marqué présent)."),
    ],
)
def test_cancelled_or_present_cancels_the_reminder(queued, state, reason):
    appt, old = queued
    appt.state = state
    appt.cancelled_by = CancelledBy.PATIENT if state == AppointmentState.CANCELLED else ""
    appt.save()
    old.refresh_from_db()
    assert (old.status, old.reason) == (MessageStatus.CANCELLED, reason)


def test_a_move_without_signals_cancels_the_reminder_and_queues_one_with_the_new_time(
    queued, sms_outbox, django_capture_on_commit_callbacks
):
    appt, old = queued
    # A bulk update (an import, a sync with the agenda) sends no signal: the last-moment check
    # sees the new time, cancels the old text and queues the reminder again, as a save() would.
    Appointment.objects.filter(pk=appt.pk).update(start=paris(2025, 11, 22, 9, 0))
    with django_capture_on_commit_callbacks(execute=False):
        result = dispatch_pending(now=NOON)
    old.refresh_from_db()
    assert (old.status, old.reason) == (MessageStatus.CANCELLED, "Le rendez-vous a été déplacé au 22/11/2025 à 09h00.")
    new = Message.objects.get(appointment=appt, status=MessageStatus.SENT)
    assert new.tracking.run == old.tracking.run and new.pk != old.pk
    assert [s.body for s in sms_outbox] == [new.body] and "22/11/2025 à 09h00" in new.body
    assert (result.sent, result.cancelled) == (1, 1)
    dispatch_pending(now=NOON)  # nothing more: one reminder, with the new time
    assert len(sms_outbox) == 1


def test_a_patient_who_came_never_gets_the_missed_message(missed, practitioner, django_capture_on_commit_callbacks):
    patient = PatientFactory(first_name="Alice", last_name="Seule")
    appt = AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 23, 10),
                              state=AppointmentState.MISSED)
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=missed, run_date=dt.date(2025, 11, 24))
    message = Message.objects.get(appointment=appt)
    # The secretary realises the patient did come, and corrects the state before the email leaves.
    Appointment.objects.filter(pk=appt.pk).update(state=AppointmentState.PRESENT)
    dispatch_pending(now=paris(2025, 11, 24, 12, 1))
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED
    assert message.reason == "Le patient est venu : le rendez-vous n'est plus manqué."


def test_a_treatment_at_one_in_the_morning_waits_for_the_end_of_quiet_hours(
    reminder, practitioner, sms_outbox, django_capture_on_commit_callbacks
):
    """Quiet hours 20:00 -> 08:00 (the default): the 01:00 run writes its messages, which leave
    at 08:00 local time."""
    AppointmentFactory(patient=PatientFactory(), practitioner=practitioner, start=paris(2025, 11, 22, 10))
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=reminder, run_date=RUN_DATE)
    dispatch_pending(now=paris(2025, 11, 21, 1, 0))
    message = Message.objects.get()
    assert message.status == MessageStatus.PENDING and sms_outbox == []
    assert message.not_before == paris(2025, 11, 21, 8, 0)
    assert dispatch_pending(now=paris(2025, 11, 21, 7, 59)).sent == 0
    assert dispatch_pending(now=paris(2025, 11, 21, 8, 0)).sent == 1
    assert len(sms_outbox) == 1


@pytest.fixture
def event_settings(category):
    def template(title, body):
        return SmsTemplate.objects.create(category=category, title=title, body=body)

    for event, body in (
        (AppointmentEvent.BOOKED, "RDV confirmé le @RDV1."),
        (AppointmentEvent.MOVED, "Votre RDV est déplacé au @RDV1."),
        (AppointmentEvent.CANCELLED, "Votre RDV du @RDV1 est annulé."),
    ):
        EventMessageSetting.objects.create(event=event, channel=Channel.SMS, sms_template=template(event, body))


def future(days, hour):
    from django.utils import timezone

    day = timezone.localdate() + dt.timedelta(days=days)
    return paris(day.year, day.month, day.day, hour, 0)


def test_event_messages_on_booking_moving_and_cancelling(event_settings, practitioner, sms_outbox,
                                                         django_capture_on_commit_callbacks):
    patient = PatientFactory(first_name="Emma")
    start = future(10, 10)
    with django_capture_on_commit_callbacks(execute=False):
        appt = AppointmentFactory(patient=patient, practitioner=practitioner, start=start)
    booked = Message.objects.get()
    assert booked.body == f"RDV confirmé le {start:%d/%m/%Y} à 10h00." and booked.mailing.origin == "event"

    moved_to = future(12, 15)
    with django_capture_on_commit_callbacks(execute=False):
        appt.start = moved_to
        appt.save()
    booked.refresh_from_db()
    # The confirmation had not left: it is cancelled, the notice gives the new time.
    assert booked.status == MessageStatus.CANCELLED
    moved = Message.objects.get(status=MessageStatus.PENDING)
    assert moved.body == f"Votre RDV est déplacé au {moved_to:%d/%m/%Y} à 15h00."
    assert TrackedMessage.objects.get(message=moved).purpose == "moved"

    with django_capture_on_commit_callbacks(execute=False):
        appt.state, appt.cancelled_by = AppointmentState.CANCELLED, CancelledBy.PRACTICE
        appt.save()
        appt.save()  # saved twice: one notice
    moved.refresh_from_db()
    assert moved.status == MessageStatus.CANCELLED
    cancelled = Message.objects.get(status=MessageStatus.PENDING)
    assert cancelled.body == f"Votre RDV du {moved_to:%d/%m/%Y} à 15h00 est annulé."


def test_no_event_message_without_settings_or_for_past_appointments(practitioner, event_settings):
    AppointmentFactory(patient=PatientFactory(), practitioner=practitioner, start=future(-2, 10))
    assert not Message.objects.exists()
    EventMessageSetting.objects.update(active=False)
    AppointmentFactory(patient=PatientFactory(), practitioner=practitioner, start=future(3, 10))
    assert not Message.objects.exists()


def test_a_nature_specific_setting_wins_over_all_natures(practitioner, event_settings, category):
    from tests.factories import NatureFactory

    surgery = NatureFactory(code="CHIR", label="Chirurgie")
    EventMessageSetting.objects.create(
        event=AppointmentEvent.BOOKED, nature=surgery, channel=Channel.SMS,
        sms_template=SmsTemplate.objects.create(category=category, title="Chir", body="Chirurgie le @RDVDATE, à jeun."),
    )
    start = future(5, 8)
    AppointmentFactory(patient=PatientFactory(), practitioner=practitioner, start=start, nature=surgery)
    assert [m.body for m in Message.objects.all()] == [f"Chirurgie le {start:%d/%m/%Y}, à jeun."]


class MovingGateway(BaseSmsBackend):
    """locmem; while it holds the first SMS of the batch, the agenda sync moves the appointment
    of the second (a QuerySet.update: no signal)."""

    move = None

    def send_message(self, message):
        if not locmem.outbox and MovingGateway.move is not None:
            MovingGateway.move()
            MovingGateway.move = None
        return locmem.SmsBackend().send_message(message)


def test_a_reminder_moved_between_claim_and_send_is_queued_again_with_the_new_time(
    reminder, practitioner, sms_outbox, settings, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = "tests.scheduler.test_follow.MovingGateway"
    first = AppointmentFactory(patient=PatientFactory(first_name="Emma", mobile="+33612340001"),
                               practitioner=practitioner, start=paris(2025, 11, 22, 9))
    second = AppointmentFactory(patient=PatientFactory(first_name="Léo", mobile="+33612340002"),
                                practitioner=practitioner, start=paris(2025, 11, 22, 10))
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=reminder, run_date=RUN_DATE)
    old = Message.objects.get(appointment=second)
    MovingGateway.move = lambda: Appointment.objects.filter(pk=second.pk).update(start=paris(2025, 11, 22, 17, 15))
    with django_capture_on_commit_callbacks(execute=False):
        result = dispatch_pending(now=NOON)
    old.refresh_from_db()
    assert (old.status, old.reason) == (MessageStatus.CANCELLED, "Le rendez-vous a été déplacé au 22/11/2025 à 17h15.")
    new = Message.objects.get(appointment=second, status=MessageStatus.SENT)
    assert "22/11/2025 à 17h15" in new.body
    assert sorted(s.to for s in sms_outbox) == sorted([first.patient.mobile, second.patient.mobile])
    assert (result.sent, result.cancelled) == (2, 1)
