"""One message per appointment, purpose and channel within the practice's period, whatever the
route (messaging.purpose): at creation (previews, Tester, outbox, trace) and at send time."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from messaging.dispatch import dispatch_pending
from messaging.mass_mailing import SEARCH_APPOINTMENTS, draft_start, mass_mailing_send, mass_preview
from messaging.models import (
    Channel,
    InboundMessage,
    Mailing,
    MailingOrigin,
    Message,
    MessageStatus,
    Purpose,
    TemplateCategory,
)
from messaging.outbox import mailing_create
from messaging.policy import Reason, consent_reason, recipients_for
from messaging.purpose import earlier_messages
from practice.models import Practice
from scheduler.models import TreatmentRun
from scheduler.runner import treatment_preview, treatment_run
from tests.factories import AppointmentFactory, PatientFactory

from .conftest import paris

RUN_DATE = dt.date(2025, 11, 21)  # J+1 = Saturday 22/11
NOON = paris(2025, 11, 21, 12, 0)
NIGHT = paris(2025, 11, 21, 22, 0)  # quiet hours (20h00-08h00)
MORNING = paris(2025, 11, 22, 8, 5)


def _hhmm(moment: dt.datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%d/%m} à {local:%H}h{local:%M}"


@pytest.fixture
def reminders_category(category):
    category.purpose = Purpose.REMINDER
    category.save()
    return category


@pytest.fixture
def appt(reminders_category, practitioner):
    return AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant"),
                              practitioner=practitioner, start=paris(2025, 11, 22, 10))


def _mass_mailing(appt, template, *, assistant, send_again=False, capture) -> Mailing:
    draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.SMS, ids=[appt.pk])
    draft.sms_template_id, draft.body = template.pk, template.body
    draft.send_again = send_again
    with capture(execute=False):
        return mass_mailing_send(draft=draft, requested_by=assistant)


@pytest.mark.django_db
def test_a_mass_mailing_then_the_treatment_the_treatment_skips_it_naming_the_mailing(
    appt, reminder, assistant, assistant_client, sms_outbox, django_capture_on_commit_callbacks
):
    mailing = _mass_mailing(appt, reminder.sms_template, assistant=assistant,
                            capture=django_capture_on_commit_callbacks)
    first = Message.objects.get(mailing=mailing)
    assert first.purpose == Purpose.REMINDER
    dispatch_pending(now=NOON)
    first.refresh_from_db()
    assert first.status == MessageStatus.SENT
    reason = f"Rappel déjà envoyé le {_hhmm(first.sent_at)} par le publipostage n°{mailing.pk}."

    # Tester: the same words, nothing written.
    preview = treatment_preview(treatment=reminder, run_date=RUN_DATE)
    assert [r.skip_reason for r in preview.rows] == [reason]
    page = assistant_client.get(reverse("scheduler:test", args=[reminder.pk]), {"date": RUN_DATE.isoformat()})
    assert reason in page.content.decode()

    # The run: recorded as not sent, with the reason, in its trace; nothing leaves twice.
    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=reminder, run_date=RUN_DATE)
    second = Message.objects.get(mailing__in=run.mailings.all())
    assert (second.status, second.reason, second.purpose) == (MessageStatus.SKIPPED, reason, Purpose.REMINDER)
    dispatch_pending(now=NOON)
    assert [s.to for s in sms_outbox] == [first.to]
    trace = assistant_client.get(reverse("scheduler:run", args=[run.pk])).content.decode()
    assert reason in trace
    assert TreatmentRun.objects.get(pk=run.pk).skipped == 1


@pytest.mark.django_db
def test_held_by_quiet_hours_counts_as_planned_and_leaves_once(
    appt, reminder, assistant, sms_outbox, django_capture_on_commit_callbacks
):
    mailing = _mass_mailing(appt, reminder.sms_template, assistant=assistant,
                            capture=django_capture_on_commit_callbacks)
    dispatch_pending(now=NIGHT)  # held until 08h00
    first = Message.objects.get(mailing=mailing)
    assert first.status == MessageStatus.PENDING and first.not_before is not None
    reason = f"Rappel déjà prévu le {_hhmm(first.created_at)} par le publipostage n°{mailing.pk}."
    assert [r.skip_reason for r in treatment_preview(treatment=reminder, run_date=RUN_DATE).rows] == [reason]
    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=reminder, run_date=RUN_DATE)
    assert Message.objects.get(mailing__in=run.mailings.all()).reason == reason
    dispatch_pending(now=MORNING)
    assert len(sms_outbox) == 1


@pytest.mark.postgresql_only("two writers at once need PostgreSQL's concurrency (SQLite locks the whole file)")
@pytest.mark.django_db(transaction=True)
def test_a_copy_written_concurrently_is_cancelled_at_send_time_naming_the_first(appt, reminder, sms_outbox):
    """Two routes write the same reminder at the same moment, neither seeing the other's
    uncommitted message: both wait for the end of the quiet hours; the second written is
    cancelled when it would leave, with the reason naming the first."""
    written, go_on, errors = threading.Event(), threading.Event(), []
    common = dict(channel=Channel.SMS, requested_by=None, template=reminder.sms_template, purpose=Purpose.REMINDER,
                  schedule_dispatch=False, recipients=recipients_for(patient=appt.patient, channel=Channel.SMS)[:1],
                  appointment=appt)

    def mass_mailing():
        try:
            with transaction.atomic():
                mailing_create(origin=MailingOrigin.MASS_MAILING, label="Publipostage", **common)
                written.set()
                go_on.wait(10)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=mass_mailing)
    thread.start()
    assert written.wait(10)
    treatment = mailing_create(origin=MailingOrigin.TREATMENT, label="Rappel J+1 – 21/11/2025", **common)
    go_on.set()
    thread.join()
    assert errors == []
    first, second = Message.objects.order_by("pk")
    assert second.mailing_id == treatment.pk and second.status == MessageStatus.PENDING  # did not see the first
    dispatch_pending(now=MORNING)
    first.refresh_from_db()
    second.refresh_from_db()
    assert [s.to for s in sms_outbox] == [first.to]
    assert first.status == MessageStatus.SENT
    assert second.status == MessageStatus.CANCELLED
    # Checked one by one just before each leaves: the first written left, the other names it.
    assert second.reason == f"Rappel déjà envoyé le {_hhmm(first.sent_at)} par le publipostage n°{first.mailing_id}."


@pytest.mark.django_db
def test_send_again_explicitly_sends_a_second_one(
    appt, reminder, assistant, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=reminder, run_date=RUN_DATE)
    dispatch_pending(now=NOON)
    # The preview counts it as what it is.
    draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.SMS, ids=[appt.pk])
    draft.sms_template_id, draft.body = reminder.sms_template.pk, reminder.sms_template.body
    summary = mass_preview(draft).summary
    assert (summary.already, summary.messages, summary.with_warnings) == (1, 0, 0)
    assert dict(summary.reasons) == {Reason.ALREADY_SENT.label: 1}
    # "Envoyer aussi aux rendez-vous déjà servis".
    mailing = _mass_mailing(appt, reminder.sms_template, assistant=assistant, send_again=True,
                            capture=django_capture_on_commit_callbacks)
    assert mailing.send_again
    dispatch_pending(now=NOON)
    assert len(sms_outbox) == 2
    assert Message.objects.get(mailing=mailing).status == MessageStatus.SENT


@pytest.mark.django_db
def test_mass_mailing_step_shows_already_sent_and_the_checkbox_sends_again(
    appt, reminder, assistant_client, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=reminder, run_date=RUN_DATE)
    dispatch_pending(now=NOON)
    response = assistant_client.post(reverse("mass:start"), {"search": SEARCH_APPOINTMENTS, "channel": "sms",
                                                              "ids": [appt.pk]})
    key = response.url.rstrip("/").split("/")[-2]
    assistant_client.post(reverse("mass:message", args=[key]), {"template": reminder.sms_template.pk})
    step = assistant_client.get(reverse("mass:recipients", args=[key])).content.decode()
    assert "déjà envoyé" in step and 'name="send_again"' in step
    assert "Rappel déjà envoyé le" in step
    with django_capture_on_commit_callbacks(execute=False):
        response = assistant_client.post(reverse("mass:send", args=[key]), {"send_again": "1"})
    mailing = Mailing.objects.get(origin=MailingOrigin.MASS_MAILING)
    assert mailing.send_again and Message.objects.get(mailing=mailing).status == MessageStatus.PENDING


@pytest.mark.django_db
def test_the_send_window_says_it_was_sent_and_sends_again_when_asked(
    reminders_category, reminder, practitioner, assistant, assistant_client, django_capture_on_commit_callbacks
):
    # The window offers the appointments of the last 30 days and the future ones.
    soon = AppointmentFactory(patient=PatientFactory(), practitioner=practitioner,
                              start=timezone.now() + dt.timedelta(days=2))
    first = _mass_mailing(soon, reminder.sms_template, assistant=assistant, capture=django_capture_on_commit_callbacks)
    url = reverse("sending:sms", args=[soon.patient.pk])
    data = {"recipients": [f"patient:{soon.patient.mobile}"], "appointment": soon.pk, "token": "t1",
            "template": reminder.sms_template.pk, "body": "Rappel : RDV le @RDV1."}
    page = assistant_client.post(url, data).content.decode()
    assert "Rappel déjà prévu le" in page and f"par le publipostage n°{first.pk}." in page
    assert "Envoyer à nouveau" in page
    assert not Mailing.objects.filter(origin=MailingOrigin.PATIENT_FILE).exists()
    with django_capture_on_commit_callbacks(execute=False):
        response = assistant_client.post(url, {**data, "send_again": "on"})
    assert response.status_code == 302
    message = Message.objects.get(mailing__origin=MailingOrigin.PATIENT_FILE)
    assert (message.status, message.purpose, message.mailing.send_again) == (
        MessageStatus.PENDING, Purpose.REMINDER, True)


@pytest.mark.django_db
def test_other_purposes_channels_and_times_are_not_copies(appt, reminder, sms_template):
    mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                   recipients=recipients_for(patient=appt.patient, channel=Channel.SMS)[:1], appointment=appt,
                   sms_body="Bonjour", purpose=Purpose.REMINDER, schedule_dispatch=False)
    assert set(earlier_messages(appointment_ids=[appt.pk], channel=Channel.SMS, purpose=Purpose.REMINDER)) == {appt.pk}
    assert earlier_messages(appointment_ids=[appt.pk], channel=Channel.EMAIL, purpose=Purpose.REMINDER) == {}
    assert earlier_messages(appointment_ids=[appt.pk], channel=Channel.SMS, purpose=Purpose.CONFIRMATION) == {}
    assert earlier_messages(appointment_ids=[appt.pk], channel=Channel.SMS, purpose=Purpose.OTHER) == {}
    # Outside the practice's period: no longer a copy.
    Message.objects.update(created_at=timezone.now() - dt.timedelta(days=4))
    assert Practice.get().purpose_period_days == 3
    assert earlier_messages(appointment_ids=[appt.pk], channel=Channel.SMS, purpose=Purpose.REMINDER) == {}


@pytest.mark.django_db
def test_the_period_is_set_on_the_sms_settings_page(admin_client):
    url = reverse("messaging:sms_settings")
    page = admin_client.get(url).content.decode()
    assert 'name="purpose_period_days"' in page and 'value="3"' in page
    data = {"sms_sender_name": "Dr Molaire", "sms_default_patient": "on", "quiet_start": "20:00",
            "quiet_end": "08:00"}
    assert "au moins 1 jour" in admin_client.post(url, {**data, "purpose_period_days": "0"}).content.decode()
    assert admin_client.post(url, {**data, "purpose_period_days": "7"}).status_code == 302
    assert Practice.objects.get(pk=1).purpose_period_days == 7


@pytest.mark.django_db
def test_a_category_carries_the_purpose_of_its_templates(admin_client):
    response = admin_client.post(reverse("messaging:categories"), {"name": "Rappels", "position": 1,
                                                                  "purpose": Purpose.REMINDER})
    assert response.status_code == 302
    assert TemplateCategory.objects.get(name="Rappels").purpose == Purpose.REMINDER
    assert "Rappel" in admin_client.get(reverse("messaging:categories")).content.decode()


@pytest.mark.django_db
def test_stop_received_after_writing_cancels_at_send_time(appt, reminder, sms_outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=reminder, run_date=RUN_DATE)
    patient = appt.patient
    InboundMessage.objects.create(from_number=str(patient.mobile), body="STOP", provider_id="SM-stop",
                                  patient=patient, is_stop=True)
    type(patient).objects.filter(pk=patient.pk).update(sms_consent=False)
    patient.refresh_from_db()
    assert consent_reason(patient, Channel.SMS, Purpose.REMINDER) == Reason.STOP
    dispatch_pending(now=NOON)
    assert sms_outbox == []
    message = Message.objects.get(appointment=appt)
    assert message.status == MessageStatus.CANCELLED and message.reason.startswith(str(Reason.STOP.label))
    # Consent withdrawn without STOP: its own reason.
    type(patient).objects.filter(pk=patient.pk).update(email_consent=False)
    patient.refresh_from_db()
    assert consent_reason(patient, Channel.EMAIL) == Reason.NO_EMAIL_CONSENT
    assert consent_reason(PatientFactory.build(sms_consent=False, mobile=""), Channel.SMS) == Reason.NO_SMS_CONSENT
