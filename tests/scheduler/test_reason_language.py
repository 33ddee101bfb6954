"""Reasons computed for a page (a mass mailing's recipients step: "Rappel déjà envoyé le … par …")
read in the language of whoever looks at it, like the reasons stored with messages
(messaging.reasons)."""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.urls import reverse

from messaging.dispatch import dispatch_pending
from messaging.mass_mailing import SEARCH_APPOINTMENTS
from practice.models import StaffPreference
from scheduler.runner import treatment_run
from tests.factories import UserFactory

from .test_purpose import NOON, RUN_DATE, appt, reminders_category  # noqa: F401 - fixtures


@pytest.mark.django_db
def test_the_recipients_step_says_already_sent_in_each_viewers_language(
    appt, reminder, assistant_client, sms_outbox, django_capture_on_commit_callbacks  # noqa: F811
):
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=reminder, run_date=RUN_DATE)
    dispatch_pending(now=NOON)
    anna = UserFactory(username="anna", role="Assistant(e)")
    StaffPreference.objects.create(user=anna, language="en")
    english = Client()
    english.force_login(anna)

    def step(client) -> str:
        response = client.post(reverse("mass:start"), {"search": SEARCH_APPOINTMENTS, "channel": "sms",
                                                        "ids": [appt.pk]})
        key = response.url.rstrip("/").split("/")[-2]
        client.post(reverse("mass:message", args=[key]), {"template": reminder.sms_template.pk})
        return html.unescape(client.get(reverse("mass:recipients", args=[key])).content.decode())

    source = f"{reminder.title} – 21/11/2025"  # the run's mailing
    page = step(english)
    assert f"Reminder already sent on 21/11 at 12:00 by the treatment “{source}”." in page
    assert f"Rappel déjà envoyé le 21/11 à 12h00 par le traitement « {source} »." in step(assistant_client)


@pytest.mark.django_db
def test_a_confirmed_appointment_reads_in_each_viewers_language_in_tester_and_the_run(
    category, reminder, practitioner, assistant_client, sms_outbox, django_capture_on_commit_callbacks
):
    from messaging.models import Message, MessageStatus, Purpose
    from patients.models import Appointment
    from tests.factories import AppointmentFactory, PatientFactory

    from .conftest import paris

    category.purpose = Purpose.REMINDER
    category.save()
    confirmed = AppointmentFactory(patient=PatientFactory(first_name="Emma"), practitioner=practitioner,
                                   start=paris(2025, 11, 22, 10))
    Appointment.objects.filter(pk=confirmed.pk).update(confirmed_at=paris(2025, 11, 21, 9, 14))
    anna = UserFactory(username="anna", role="Assistant(e)")
    StaffPreference.objects.create(user=anna, language="en")
    english = Client()
    english.force_login(anna)
    french_text, english_text = "RDV confirmé par SMS le 21/11 à 09h14.", "Appointment confirmed by SMS on 21/11 at 09:14."

    def page(client, url, **params) -> str:
        return html.unescape(client.get(url, params).content.decode())

    tester = reverse("scheduler:test", args=[reminder.pk])
    assert english_text in page(english, tester, date=RUN_DATE.isoformat())
    assert french_text in page(assistant_client, tester, date=RUN_DATE.isoformat())
    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=reminder, run_date=RUN_DATE)
    skipped = Message.objects.get(mailing__in=run.mailings.all(), appointment=confirmed)
    assert (skipped.status, skipped.reason) == (MessageStatus.SKIPPED, french_text)
    assert english_text in page(english, reverse("scheduler:run", args=[run.pk]))
    assert french_text in page(assistant_client, reverse("scheduler:run", args=[run.pk]))
