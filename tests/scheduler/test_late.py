"""Late bookings and moves into a treatment's window (scheduler.late): an appointment booked at
19h00 for tomorrow, after the 18h00 J+1 run, still gets its reminder: at once within decent
hours, at the end of the quiet hours at night, never after the appointment has started; once,
whatever else reminds it. Europe/Paris, daylight-saving days included."""

from __future__ import annotations

import datetime as dt
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.dispatch import dispatch_pending
from messaging.models import Message, MessageStatus
from patients.models import Appointment
from scheduler import late
from scheduler.checks import STARTED_REASON
from scheduler.models import TrackedMessage, TreatmentRun
from scheduler.runner import treatment_run
from scheduler.tasks import heartbeat
from tests.factories import AppointmentFactory, PatientFactory

from .conftest import make_treatment, paris

pytestmark = pytest.mark.django_db


@pytest.fixture
def evening_reminder(sms_template):
    """The seeds' J+1 SMS reminder, at 18h00."""
    return make_treatment(title="Rappel RDV J+1 (SMS)", send_sms=True, sms_template=sms_template,
                          hour=dt.time(18, 0), active=True)


def _done_run(treatment, run_date: dt.date, at: dt.datetime, capture) -> TreatmentRun:
    """The run of ``run_date``, started at ``at`` (the test's clock, not the machine's)."""
    with capture(execute=False):
        run = treatment_run(treatment=treatment, run_date=run_date)
    TreatmentRun.objects.filter(pk=run.pk).update(started_at=at)
    run.refresh_from_db()
    return run


def _late_booking(practitioner, start, **patient) -> Appointment:
    """An appointment written now; the signal sees it in the past of the machine's clock (the
    test's dates are in 2025-2026), so only ``late.catch_up`` with the test's clock decides."""
    return AppointmentFactory(patient=PatientFactory(**patient), practitioner=practitioner, start=start)


def _reminders(appointment) -> list[Message]:
    return list(Message.objects.filter(appointment=appointment).order_by("pk"))


def test_booked_at_19h_for_tomorrow_after_the_18h_run_is_reminded_at_once(
    evening_reminder, practitioner, sms_outbox, assistant_client, django_capture_on_commit_callbacks
):
    run = _done_run(evening_reminder, dt.date(2025, 12, 9), paris(2025, 12, 9, 18, 0),
                    django_capture_on_commit_callbacks)
    appt = _late_booking(practitioner, paris(2025, 12, 10, 10, 0), first_name="Emma", last_name="Ablirant")
    assert _reminders(appt) == []
    with django_capture_on_commit_callbacks(execute=False):
        mailings = late.catch_up(appointment=appt, why=late.BOOKED, now=paris(2025, 12, 9, 19, 2))
    assert len(mailings) == 1
    [message] = _reminders(appt)
    reason = "Rendez-vous pris le 09/12 à 19h02, après l'exécution du 09/12 à 18h00."
    assert TrackedMessage.objects.get(message=message).catch_up == reason
    assert TrackedMessage.objects.get(message=message).run_id == run.pk
    dispatch_pending(now=paris(2025, 12, 9, 19, 3))
    assert [s.body for s in sms_outbox] == [
        "Bonjour, nous vous rappelons votre RDV du 10/12/2025 à 10h00 avec le Dr MOLAIRE Marc. Cabinet"
        + message.body.split("Cabinet", 1)[1]
    ]
    # The run's trace and Tester show it, with why.
    trace = unescape(assistant_client.get(reverse("scheduler:run", args=[run.pk])).content.decode())
    assert "Rattrapage" in trace and reason in trace
    tester = unescape(assistant_client.get(reverse("scheduler:test", args=[evening_reminder.pk]),
                                           {"date": "2025-12-09"}).content.decode())
    assert "Rappels de rattrapage" in tester and reason in tester and "ABLIRANT Emma – 10/12/2025 à 10h00" in tester

    # Once: a second catch-up (another save, the sweep) writes nothing.
    with django_capture_on_commit_callbacks(execute=False):
        assert late.catch_up(appointment=appt, why=late.MOVED, now=paris(2025, 12, 9, 19, 30)) == []
    assert len(_reminders(appt)) == 1


def test_booked_at_22h_leaves_at_the_end_of_the_quiet_hours(
    evening_reminder, practitioner, sms_outbox, django_capture_on_commit_callbacks
):
    _done_run(evening_reminder, dt.date(2025, 12, 9), paris(2025, 12, 9, 18, 0), django_capture_on_commit_callbacks)
    appt = _late_booking(practitioner, paris(2025, 12, 10, 10, 0))
    with django_capture_on_commit_callbacks(execute=False):
        late.catch_up(appointment=appt, why=late.BOOKED, now=paris(2025, 12, 9, 22, 0))
    dispatch_pending(now=paris(2025, 12, 9, 22, 1))
    [message] = _reminders(appt)
    assert message.status == MessageStatus.PENDING and sms_outbox == []
    assert message.not_before == paris(2025, 12, 10, 8, 0)
    dispatch_pending(now=paris(2025, 12, 10, 8, 0, 30))
    assert len(sms_outbox) == 1


def test_an_appointment_starting_before_the_quiet_hours_end_gets_no_reminder(
    evening_reminder, practitioner, sms_outbox, django_capture_on_commit_callbacks
):
    run = _done_run(evening_reminder, dt.date(2025, 12, 9), paris(2025, 12, 9, 18, 0),
                    django_capture_on_commit_callbacks)
    appt = _late_booking(practitioner, paris(2025, 12, 10, 7, 30), first_name="Léo", last_name="Matin")
    with django_capture_on_commit_callbacks(execute=False):
        assert late.catch_up(appointment=appt, why=late.BOOKED, now=paris(2025, 12, 9, 23, 0)) == []
    assert _reminders(appt) == []
    run.refresh_from_db()
    assert run.left_out[-1] == {
        "name": "MATIN Léo – 10/12/2025 à 07h30",
        "reason": "Rendez-vous pris le 09/12 à 23h00, après l'exécution du 09/12 à 18h00. Il commence avant la fin "
                  "des heures de silence (08h00) : pas de rappel.",
    }


def test_a_reminder_still_held_when_the_appointment_starts_is_not_sent(
    evening_reminder, practitioner, sms_outbox, django_capture_on_commit_callbacks
):
    _done_run(evening_reminder, dt.date(2025, 12, 9), paris(2025, 12, 9, 18, 0), django_capture_on_commit_callbacks)
    appt = _late_booking(practitioner, paris(2025, 12, 10, 8, 30))
    with django_capture_on_commit_callbacks(execute=False):
        late.catch_up(appointment=appt, why=late.BOOKED, now=paris(2025, 12, 9, 21, 0))
    dispatch_pending(now=paris(2025, 12, 9, 21, 1))  # held until 08h00
    # The programmeur was down until 08h45: the appointment has started.
    dispatch_pending(now=paris(2025, 12, 10, 8, 45))
    [message] = _reminders(appt)
    assert (message.status, message.reason) == (MessageStatus.CANCELLED, STARTED_REASON)
    assert sms_outbox == []


def test_on_the_autumn_change_the_quiet_hours_end_at_8h_local(
    evening_reminder, practitioner, sms_outbox, django_capture_on_commit_callbacks
):
    """Saturday 25/10/2025, 18h00 CEST run; Sunday 26/10 lasts 25 h (03h00 CEST -> 02h00 CET)."""
    _done_run(evening_reminder, dt.date(2025, 10, 25), paris(2025, 10, 25, 18, 0), django_capture_on_commit_callbacks)
    night = _late_booking(practitioner, paris(2025, 10, 26, 23, 30), first_name="Nuit")  # the 25th hour's day
    morning = _late_booking(practitioner, paris(2025, 10, 26, 9, 0), first_name="Matin")
    with django_capture_on_commit_callbacks(execute=False):
        assert late.catch_up(appointment=night, why=late.BOOKED, now=paris(2025, 10, 25, 23, 30))
        assert late.catch_up(appointment=morning, why=late.BOOKED, now=paris(2025, 10, 25, 23, 30))
    dispatch_pending(now=paris(2025, 10, 25, 23, 31))
    for appt in (night, morning):
        [message] = _reminders(appt)
        # 08h00 CET is 07h00 UTC (it would be 06h00 UTC the day before).
        assert message.not_before == dt.datetime(2025, 10, 26, 7, 0, tzinfo=dt.UTC)
    dispatch_pending(now=dt.datetime(2025, 10, 26, 6, 30, tzinfo=dt.UTC))  # 07h30 CET: still quiet
    assert sms_outbox == []
    dispatch_pending(now=dt.datetime(2025, 10, 26, 7, 0, 30, tzinfo=dt.UTC))
    assert len(sms_outbox) == 2


def test_on_the_spring_change_an_appointment_at_7h30_gets_none_one_at_9h_at_8h(
    evening_reminder, practitioner, sms_outbox, django_capture_on_commit_callbacks
):
    """Sunday 29/03/2026 lasts 23 h (02h00 CET -> 03h00 CEST)."""
    _done_run(evening_reminder, dt.date(2026, 3, 28), paris(2026, 3, 28, 18, 0), django_capture_on_commit_callbacks)
    early = _late_booking(practitioner, paris(2026, 3, 29, 7, 30))
    later = _late_booking(practitioner, paris(2026, 3, 29, 9, 0))
    with django_capture_on_commit_callbacks(execute=False):
        assert late.catch_up(appointment=early, why=late.BOOKED, now=paris(2026, 3, 28, 23, 0)) == []
        assert late.catch_up(appointment=later, why=late.BOOKED, now=paris(2026, 3, 28, 23, 0))
    dispatch_pending(now=paris(2026, 3, 28, 23, 1))
    [message] = _reminders(later)
    assert message.not_before == dt.datetime(2026, 3, 29, 6, 0, tzinfo=dt.UTC)  # 08h00 CEST
    assert _reminders(early) == []


def test_a_booking_before_the_run_is_the_runs_own_and_a_day_outside_every_window_none(
    evening_reminder, practitioner, django_capture_on_commit_callbacks
):
    _done_run(evening_reminder, dt.date(2025, 12, 9), paris(2025, 12, 9, 18, 0), django_capture_on_commit_callbacks)
    # Thursday: no run done holds it yet (tomorrow's 18h00 run will).
    thursday = _late_booking(practitioner, paris(2025, 12, 11, 10, 0))
    with django_capture_on_commit_callbacks(execute=False):
        assert late.catch_up(appointment=thursday, why=late.BOOKED, now=paris(2025, 12, 9, 19, 0)) == []
    # An inactive treatment catches nothing up.
    evening_reminder.active = False
    evening_reminder.save()
    wednesday = _late_booking(practitioner, paris(2025, 12, 10, 10, 0))
    with django_capture_on_commit_callbacks(execute=False):
        assert late.catch_up(appointment=wednesday, why=late.BOOKED, now=paris(2025, 12, 9, 19, 0)) == []


def test_the_next_regular_run_does_not_send_a_caught_up_reminder_again(
    sms_template, practitioner, sms_outbox, django_capture_on_commit_callbacks
):
    """J+1 to J+2: the 18h00 run of Tuesday holds Thursday; booked at 19h00 for Thursday, the
    reminder leaves at once, and Wednesday's run names it instead of sending a second one."""
    treatment = make_treatment(title="Rappel J+1 à J+2", send_sms=True, sms_template=sms_template,
                               hour=dt.time(18, 0), offset_to=2, active=True)
    _done_run(treatment, dt.date(2025, 12, 9), paris(2025, 12, 9, 18, 0), django_capture_on_commit_callbacks)
    appt = _late_booking(practitioner, paris(2025, 12, 11, 10, 0))
    with django_capture_on_commit_callbacks(execute=False):
        late.catch_up(appointment=appt, why=late.BOOKED, now=paris(2025, 12, 9, 19, 0))
    dispatch_pending(now=paris(2025, 12, 9, 19, 1))
    assert len(sms_outbox) == 1
    with django_capture_on_commit_callbacks(execute=False):
        wednesday = treatment_run(treatment=treatment, run_date=dt.date(2025, 12, 10))
    [again] = Message.objects.filter(mailing__in=wednesday.mailings.all())
    assert again.status == MessageStatus.SKIPPED
    assert again.reason.startswith("Rappel déjà envoyé le 09/12 à 19h01 par le traitement « Rappel J+1 à J+2 – rattrapage »")
    dispatch_pending(now=paris(2025, 12, 10, 18, 5))
    assert len(sms_outbox) == 1


# ---------------------------------------------------------------------------------------------
# On the machine's clock: the signal of a save, and the every-minute sweep
# ---------------------------------------------------------------------------------------------


def _today_run(treatment, capture) -> TreatmentRun:
    with capture(execute=False):
        return treatment_run(treatment=treatment, run_date=timezone.localdate())


def _tomorrow(hour: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time(hour)))


def test_saving_a_booking_after_the_run_reminds_it(
    evening_reminder, practitioner, no_quiet, sms_outbox, django_capture_on_commit_callbacks
):
    run = _today_run(evening_reminder, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        appt = AppointmentFactory(patient=PatientFactory(), practitioner=practitioner, start=_tomorrow(10))
    [message] = _reminders(appt)
    assert message.status == MessageStatus.SENT and len(sms_outbox) == 1
    assert TrackedMessage.objects.get(message=message).run_id == run.pk
    assert TrackedMessage.objects.get(message=message).catch_up.startswith("Rendez-vous pris le ")


def test_moving_an_appointment_into_the_window_reminds_it(
    evening_reminder, practitioner, no_quiet, sms_outbox, django_capture_on_commit_callbacks
):
    appt = AppointmentFactory(patient=PatientFactory(), practitioner=practitioner,
                              start=_tomorrow(10) + dt.timedelta(days=7))
    _today_run(evening_reminder, django_capture_on_commit_callbacks)
    assert _reminders(appt) == []
    appt.start = _tomorrow(11)
    with django_capture_on_commit_callbacks(execute=True):
        appt.save()
    [message] = _reminders(appt)
    assert message.status == MessageStatus.SENT
    assert TrackedMessage.objects.get(message=message).catch_up.startswith("Rendez-vous déplacé au ")


def test_the_every_minute_sweep_reminds_bookings_written_without_save(
    evening_reminder, practitioner, no_quiet, sms_outbox, django_capture_on_commit_callbacks
):
    run = _today_run(evening_reminder, django_capture_on_commit_callbacks)
    patient = PatientFactory()
    [appt] = Appointment.objects.bulk_create([
        Appointment(patient=patient, practitioner=practitioner, start=_tomorrow(10), duration=20)
    ])
    assert _reminders(appt) == []
    with django_capture_on_commit_callbacks(execute=True):
        assert heartbeat() == "1 rappel de rattrapage"
    [message] = _reminders(appt)
    assert message.status == MessageStatus.SENT
    assert TrackedMessage.objects.get(message=message).run_id == run.pk
    with django_capture_on_commit_callbacks(execute=True):
        assert heartbeat() == "0 rappel de rattrapage"
    assert len(sms_outbox) == 1


def test_an_appointment_moved_in_while_the_run_was_running_is_caught_by_the_sweep(
    evening_reminder, practitioner, no_quiet, sms_outbox, django_capture_on_commit_callbacks
):
    """Moved into tomorrow (with save()) while the run was still running: the run's search had
    already read it at its old day, and the save's signal found no finished run. The next sweep
    reminds it, as a move."""
    appt = AppointmentFactory(patient=PatientFactory(), practitioner=practitioner,
                              start=_tomorrow(10) + dt.timedelta(days=7))
    run = _today_run(evening_reminder, django_capture_on_commit_callbacks)
    assert _reminders(appt) == []
    # What the save during the run left: the new time, and updated_at after the run started.
    Appointment.objects.filter(pk=appt.pk).update(start=_tomorrow(11),
                                                  updated_at=run.started_at + dt.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert heartbeat() == "1 rappel de rattrapage"
    [message] = _reminders(appt)
    assert message.status == MessageStatus.SENT
    assert TrackedMessage.objects.get(message=message).catch_up.startswith("Rendez-vous déplacé au ")
    with django_capture_on_commit_callbacks(execute=True):
        assert heartbeat() == "0 rappel de rattrapage"
    assert len(sms_outbox) == 1
