"""Running treatments: who receives what, exactly once, and the trace."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.dispatch import dispatch_pending
from messaging.models import Mailing, Message, MessageStatus, SmsTemplate
from patients.models import AppointmentState
from scheduler.models import RunStatus, TreatmentKind, TreatmentRun
from scheduler.runner import treatment_preview, treatment_run
from tests.factories import (
    AppointmentFactory,
    MinorPatientFactory,
    PatientFactory,
    PatientRefusingSmsFactory,
    PatientWithoutPhoneFactory,
    UserFactory,
)

from .conftest import make_treatment, paris

pytestmark = pytest.mark.django_db

# Friday 21/11/2025: J+1 is Saturday 22/11. The dispatch clock is that Friday at 10:00.
RUN_DATE = dt.date(2025, 11, 21)
NOW = paris(2025, 11, 21, 10, 0)


def tomorrow(hour, minute=0):
    return paris(2025, 11, 22, hour, minute)


def run(treatment, run_date=RUN_DATE):
    return treatment_run(treatment=treatment, run_date=run_date)


def test_j_plus_1_sms_reminder_writes_the_exact_texts_and_sends_each_once(
    reminder, practitioner, sms_outbox, django_capture_on_commit_callbacks
):
    emma = PatientFactory(first_name="Emma", last_name="Ablirant", mobile="+33684285560")
    AppointmentFactory(patient=emma, practitioner=practitioner, start=tomorrow(10))
    minor = MinorPatientFactory(first_name="Lucas", last_name="Point")
    AppointmentFactory(patient=minor, practitioner=practitioner, start=tomorrow(11, 30))
    nophone = PatientWithoutPhoneFactory(first_name="Jean", last_name="Sansfil")
    AppointmentFactory(patient=nophone, practitioner=practitioner, start=tomorrow(14))
    # Not in the window: today, and the day after tomorrow.
    AppointmentFactory(patient=PatientFactory(), practitioner=practitioner, start=paris(2025, 11, 21, 18))
    AppointmentFactory(patient=PatientFactory(), practitioner=practitioner, start=paris(2025, 11, 23, 9))

    with django_capture_on_commit_callbacks(execute=False):
        the_run = run(reminder)
    assert the_run.status == RunStatus.DONE
    assert (the_run.window_start, the_run.window_end) == (dt.date(2025, 11, 22), dt.date(2025, 11, 22))
    assert the_run.targeted == 3
    assert sms_outbox == []  # nothing leaves before dispatch

    assert dispatch_pending(now=NOW).sent == 2
    sent = sorted((s.to, s.body) for s in sms_outbox)
    assert sent == [
        ("+33613682982", "Bonjour, nous vous rappelons votre RDV du 22/11/2025 à 11h30 avec le Dr MOLAIRE Marc. "
                         "Cabinet Cabinet dentaire"),
        ("+33684285560", "Bonjour, nous vous rappelons votre RDV du 22/11/2025 à 10h00 avec le Dr MOLAIRE Marc. "
                         "Cabinet Cabinet dentaire"),
    ]
    skipped = Message.objects.get(patient=nophone)
    assert skipped.status == MessageStatus.SKIPPED and skipped.reason == "Aucun numéro de portable."

    from scheduler.runner import run_refresh_counts

    run_refresh_counts(the_run)
    assert (the_run.sent, the_run.failed, the_run.skipped, the_run.waiting) == (2, 0, 1, 0)

    # Twice in a row: the same run, nothing written, nothing sent.
    with django_capture_on_commit_callbacks(execute=True):
        again = run(reminder)
    assert again.pk == the_run.pk and TreatmentRun.objects.count() == 1
    assert Mailing.objects.count() == 1 and Message.objects.count() == 3
    dispatch_pending(now=NOW)
    assert len(sms_outbox) == 2


def test_preview_shows_the_exact_messages_and_who_is_left_out_without_writing(reminder, practitioner):
    emma = PatientFactory(first_name="Emma", last_name="Ablirant")
    AppointmentFactory(patient=emma, practitioner=practitioner, start=tomorrow(10))
    refuses = PatientRefusingSmsFactory(first_name="Paul", last_name="Refus")
    AppointmentFactory(patient=refuses, practitioner=practitioner, start=tomorrow(9))

    preview = treatment_preview(treatment=reminder, run_date=RUN_DATE)
    assert [(r.recipient, r.address, r.text) for r in preview.to_send] == [
        ("ABLIRANT Emma", "06.84.28.55.60",
         "Bonjour, nous vous rappelons votre RDV du 22/11/2025 à 10h00 avec le Dr MOLAIRE Marc. Cabinet Cabinet dentaire"),
    ]
    assert [(r.recipient, r.skip_reason) for r in preview.not_sent] == [
        ("REFUS Paul", "Ne souhaite pas recevoir de SMS.")
    ]
    assert TreatmentRun.objects.count() == 0 and Message.objects.count() == 0 and Mailing.objects.count() == 0


def test_email_when_the_patient_has_no_mobile(sms_template, email_template, practitioner, sms_outbox,
                                              django_capture_on_commit_callbacks):
    treatment = make_treatment(
        title="Rappel avec repli", send_sms=True, sms_template=sms_template, email_when_no_mobile=True,
        email_template=email_template,
    )
    nomobile = PatientFactory(first_name="Anne", last_name="Fixe", mobile="", email="anne@patients.test")
    AppointmentFactory(patient=nomobile, practitioner=practitioner, start=tomorrow(10))
    AppointmentFactory(patient=PatientFactory(first_name="Emma"), practitioner=practitioner, start=tomorrow(11))
    with django_capture_on_commit_callbacks(execute=False):
        the_run = run(treatment)
    by_channel = {(m.channel, m.to, m.status) for m in Message.objects.filter(tracking__run=the_run)}
    assert by_channel == {
        ("sms", "+33684285560", MessageStatus.PENDING),
        ("email", "anne@patients.test", MessageStatus.PENDING),
    }
    email = Message.objects.get(channel="email")
    assert email.subject == "Rendez-vous manqué du 22/11/2025"


def test_missed_appointments_j_minus_1_with_the_two_exclusions(missed, practitioner):
    # Monday 24/11/2025, J-1 = Sunday 23/11 (calendar days).
    monday = dt.date(2025, 11, 24)
    alone = PatientFactory(first_name="Alice", last_name="Seule")
    AppointmentFactory(patient=alone, practitioner=practitioner, start=paris(2025, 11, 23, 10),
                       state=AppointmentState.MISSED)
    booked = PatientFactory(first_name="Bruno", last_name="Reserve")
    AppointmentFactory(patient=booked, practitioner=practitioner, start=paris(2025, 11, 23, 11),
                       state=AppointmentState.MISSED)
    AppointmentFactory(patient=booked, practitioner=practitioner, start=paris(2025, 12, 1, 9))
    came = PatientFactory(first_name="Chloe", last_name="Venue")
    AppointmentFactory(patient=came, practitioner=practitioner, start=paris(2025, 11, 23, 12),
                       state=AppointmentState.MISSED)
    AppointmentFactory(patient=came, practitioner=practitioner, start=paris(2025, 11, 23, 17),
                       state=AppointmentState.PRESENT)
    present = PatientFactory(first_name="Denis", last_name="Present")
    AppointmentFactory(patient=present, practitioner=practitioner, start=paris(2025, 11, 23, 15),
                       state=AppointmentState.PRESENT)

    preview = treatment_preview(treatment=missed, run_date=monday)
    assert [r.recipient for r in preview.to_send] == ["SEULE Alice"]
    assert preview.to_send[0].subject == "Rendez-vous manqué du 23/11/2025"
    assert {(x.name.split(" – ")[0], x.reason) for x in preview.plan.left_out} == {
        ("RESERVE Bruno", "A déjà un prochain rendez-vous."),
        ("VENUE Chloe", "Venu(e) au cabinet depuis le rendez-vous manqué."),
    }


def test_birthdays_on_29_february_in_a_common_year(category):
    # A birthday is about no appointment: its template has no appointment code (refused on save).
    birthday = SmsTemplate.objects.create(category=category, title="Anniversaire", body="Joyeux anniversaire @PPREN !")
    treatment = make_treatment(kind=TreatmentKind.BIRTHDAYS, title="Anniversaires", offset_from=0, offset_to=0,
                               send_sms=True, sms_template=birthday)
    PatientFactory(first_name="Leap", last_name="Bissextile", birth_date=dt.date(2000, 2, 29))
    PatientFactory(first_name="Feb", last_name="Vingthuit", birth_date=dt.date(1990, 2, 28))
    PatientFactory(first_name="Mars", last_name="Premier", birth_date=dt.date(1990, 3, 1))
    common = treatment_preview(treatment=treatment, run_date=dt.date(2025, 2, 28))
    assert sorted(t.patient.first_name for t in common.plan.targets) == ["Feb", "Leap"]
    leap_year = treatment_preview(treatment=treatment, run_date=dt.date(2024, 2, 28))
    assert [t.patient.first_name for t in leap_year.plan.targets] == ["Feb"]
    assert [t.patient.first_name for t in treatment_preview(treatment=treatment, run_date=dt.date(2024, 2, 29))
            .plan.targets] == ["Leap"]


def test_a_failed_run_is_recorded_and_the_next_attempt_runs_it(reminder, practitioner, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    AppointmentFactory(patient=PatientFactory(), practitioner=practitioner, start=tomorrow(10))
    import scheduler.runner as runner

    def broken(*args, **kwargs):
        raise RuntimeError("passerelle indisponible")

    monkeypatch.setattr(runner, "_documents", broken)
    with django_capture_on_commit_callbacks(execute=False):
        failed = run(reminder)
    assert failed.status == RunStatus.FAILED and "passerelle indisponible" in failed.error
    # Everything the failed attempt wrote was rolled back with it.
    assert Message.objects.count() == 0 and Mailing.objects.count() == 0
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=False):
        again = run(reminder)
    assert again.pk == failed.pk and again.status == RunStatus.DONE and again.attempts == 2
    assert Message.objects.filter(status=MessageStatus.PENDING).count() == 1


def test_queries_do_not_grow_with_the_number_of_appointments(reminder, practitioner,
                                                             django_capture_on_commit_callbacks):
    def measure(count, day):
        for i in range(count):
            AppointmentFactory(
                patient=MinorPatientFactory() if i % 3 == 0 else PatientFactory(),
                practitioner=practitioner,
                start=paris(2025, 11, day, 8) + dt.timedelta(minutes=20 * i),
            )
        with django_capture_on_commit_callbacks(execute=False), CaptureQueriesContext(connection) as ctx:
            treatment_run(treatment=reminder, run_date=dt.date(2025, 11, day - 1))
        with CaptureQueriesContext(connection) as sent:
            # The day of the run, before the appointments: a reminder never leaves once its
            # appointment has started (scheduler.checks.STARTED_REASON).
            dispatch_pending(now=paris(2025, 11, day - 1, 10))
        return len(ctx), len(sent)

    measure(2, 5)  # warms the per-process caches (practice, content types)
    small = measure(3, 12)
    large = measure(15, 19)
    assert small[0] == large[0]
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 20


def test_verifiers_get_the_trace_when_messages_fail(reminder, practitioner, sms_outbox,
                                                    django_capture_on_commit_callbacks):
    from messaging.gateways import locmem

    verifier = UserFactory(username="verif", email="verif@cabinet.test")
    reminder.verifiers.set([verifier])
    AppointmentFactory(patient=PatientFactory(first_name="Emma"), practitioner=practitioner, start=tomorrow(10))
    with django_capture_on_commit_callbacks(execute=False):
        the_run = run(reminder)
    from scheduler.reports import run_report_when_settled

    # Messages still waiting: the report waits.
    assert run_report_when_settled(run_id=the_run.pk, now=NOW) == "waiting"
    from messaging.backends import SendError

    locmem.fail_for["+33684285560"] = SendError("Numéro invalide.", permanent=True)
    assert dispatch_pending(now=NOW).failed == 1
    assert run_report_when_settled(run_id=the_run.pk, now=NOW) == "sent"
    assert [m.to for m in mail.outbox] == [["verif@cabinet.test"]]
    assert "échecs à vérifier" in mail.outbox[0].subject and "Numéro invalide." in mail.outbox[0].body
    assert run_report_when_settled(run_id=the_run.pk, now=NOW) == "already sent"
    assert len(mail.outbox) == 1
