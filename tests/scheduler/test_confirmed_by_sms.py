"""A patient confirmed the appointment by SMS: the treatment's Tester, its run and its trace say
that the reminder is not sent, and why (messaging.replies.mark_confirmed)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.dispatch import dispatch_pending
from messaging.models import Message, MessageStatus, Purpose
from patients.models import Appointment
from scheduler.runner import treatment_preview, treatment_run
from tests.factories import AppointmentFactory, PatientFactory

from .conftest import paris
from .test_purpose import NOON, RUN_DATE


@pytest.mark.django_db
def test_a_confirmed_appointment_is_shown_and_recorded_as_not_reminded(
    category, reminder, practitioner, assistant_client, sms_outbox, django_capture_on_commit_callbacks
):
    category.purpose = Purpose.REMINDER
    category.save()
    confirmed = AppointmentFactory(patient=PatientFactory(first_name="Emma"), practitioner=practitioner,
                                   start=paris(2025, 11, 22, 10))
    other = AppointmentFactory(patient=PatientFactory(first_name="Léo", mobile="+33684285561"),
                               practitioner=practitioner, start=paris(2025, 11, 22, 11))
    answered = paris(2025, 11, 21, 9, 14)
    Appointment.objects.filter(pk=confirmed.pk).update(confirmed_at=answered)
    reason = "RDV confirmé par SMS le 21/11 à 09h14."

    preview = treatment_preview(treatment=reminder, run_date=RUN_DATE)
    assert sorted(r.skip_reason for r in preview.rows) == ["", reason]
    page = assistant_client.get(reverse("scheduler:test", args=[reminder.pk]), {"date": RUN_DATE.isoformat()})
    assert reason in page.content.decode()

    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=reminder, run_date=RUN_DATE)
    skipped = Message.objects.get(mailing__in=run.mailings.all(), appointment=confirmed)
    assert (skipped.status, skipped.reason) == (MessageStatus.SKIPPED, reason)
    dispatch_pending(now=NOON)
    assert [s.to for s in sms_outbox] == [other.patient.mobile]
    assert reason in assistant_client.get(reverse("scheduler:run", args=[run.pk])).content.decode()
    assert timezone.localtime(answered).hour == 9
